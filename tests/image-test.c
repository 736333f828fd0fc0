#define _GNU_SOURCE
/* Shared parts of the image tests (test-image, test-image-damage,
 * test-image-formats): the tests' counting allocator (test-alloc.h)
 * installed for the whole run, which measures what a decode allocates,
 * injects out-of-memory failures and checks that every test returns the
 * facerec heap to where it started; decode assertions; and the runner. */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/image.h"
#include "image-fixtures.h"
#include "test-alloc.h"
#include "test-util.h"

#include "image-test.h"

char g_tmp[256];
bool g_verbose;

/* x265 3.5 leaks its frame-filter buffers for every encoder it opens (only
 * the HEIC fixtures encode; decoding uses libde265), and libdav1d under
 * libheif 1.15 leaks 40 bytes on a damaged AV1 payload (the fuzz
 * regression in test-image-damage.c). Both are inside codec libraries, so
 * LeakSanitizer, which reads this hook in ASan builds, ignores them; the
 * counting allocator still checks facerec's own heap. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\nleak:libdav1d.so\n"; }

/* Checks over many cases report every failing case before failing the
 * test, so one run shows the whole picture. */
int g_soft;

void soft_done(void) {
    int n = g_soft;
    g_soft = 0;
    if (n) fail_msg("%d case(s) failed, listed above", n);
}

int leak_setup(void **state) {
    g_soft = 0;
    return fr_test_alloc_setup(state);
}

int leak_teardown(void **state) { return fr_test_alloc_teardown(state); }

/* ---- helpers -------------------------------------------------------------- */

struct fr_decode_params full_size(void) {
    struct fr_decode_params p = fr_decode_default_params();
    p.max_image_size = 0;
    return p;
}

struct fr_image *decode_ok(const struct fr_fx_blob *b, const struct fr_decode_params *p, const char *what) {
    struct fr_image *img = NULL;
    char err[512] = "";
    enum fr_status st = fr_image_decode(b->data, b->len, p, &img, err, sizeof err);
    if (st != FR_OK) fail_msg("%s: %s (%s)", what, fr_status_name(st), err);
    assert_non_null(img);
    assert_non_null(img->data);
    assert_true(img->width > 0 && img->height > 0);
    assert_true(img->stride >= (size_t)img->width * 3);
    return img;
}

struct fr_image *decode_as(const struct fr_fx_blob *b, const struct fr_decode_params *p, enum fr_image_format f, int w,
                          int h, const char *what) {
    assert_int_equal(fr_image_sniff(b->data, b->len), f);
    struct fr_image *img = decode_ok(b, p, what);
    want_fmt(img, f, what);
    want_size(img, w, h, w, h, what);
    return img;
}

uint8_t *orient(const uint8_t *s, int w, int h, int o, int *ow, int *oh) {
    bool swap = o >= 5;
    int uw = swap ? h : w, uh = swap ? w : h;
    uint8_t *u = malloc((size_t)uw * (size_t)uh * 3);
    assert_non_null(u);
    for (int y = 0; y < uh; y++)
        for (int x = 0; x < uw; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;
            case 4: sx = x, sy = h - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = h - 1 - x; break;
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;
            case 8: sx = w - 1 - y, sy = x; break;
            default: sx = x, sy = y; break;
            }
            memcpy(u + ((size_t)y * (size_t)uw + (size_t)x) * 3, s + ((size_t)sy * (size_t)w + (size_t)sx) * 3, 3);
        }
    *ow = uw, *oh = uh;
    return u;
}

/* Decoding must fail: *out stays NULL and the message is not empty. An
 * unexpected success is a soft failure and returns FR_OK. */
enum fr_status decode_err(const void *buf, size_t len, const struct fr_decode_params *p, char *err,
                                 size_t errlen, const char *what) {
    struct fr_image *img = (struct fr_image *)&img; /* must be reset to NULL */
    err[0] = 0;
    enum fr_status st = fr_image_decode(buf, len, p, &img, err, errlen);
    if (st == FR_OK) {
        SOFT_FAIL("%s: decoded (%dx%d), expected an error", what, img->width, img->height);
        fr_image_free(img);
        return st;
    }
    assert_true(st < 0);
    assert_null(img);
    if (!err[0]) SOFT_FAIL("%s: %s without a message", what, fr_status_name(st));
    return st;
}

/* Decoding must succeed; a soft failure otherwise. */
void soft_ok(const struct fr_fx_blob *b, const struct fr_decode_params *p, const char *what) {
    struct fr_image *img = NULL;
    char err[512] = "";
    enum fr_status st = fr_image_decode(b->data, b->len, p, &img, err, sizeof err);
    if (st != FR_OK) SOFT_FAIL("%s: %s (%s), expected success", what, fr_status_name(st), err);
    fr_image_free(img);
}

void want_status(enum fr_status st, enum fr_status want, const char *err, const char *what) {
    if (st != FR_OK && st != want)
        SOFT_FAIL("%s: %s (%s), expected %s", what, fr_status_name(st), err, fr_status_name(want));
}

void want_fmt(const struct fr_image *img, enum fr_image_format f, const char *what) {
    if (img->format != f)
        fail_msg("%s: format %s, expected %s", what, fr_image_format_name(img->format), fr_image_format_name(f));
}

void want_size(const struct fr_image *img, int w, int h, int ow, int oh, const char *what) {
    if (img->width != w || img->height != h || img->orig_width != ow || img->orig_height != oh)
        fail_msg("%s: %dx%d (orig %dx%d), expected %dx%d (orig %dx%d)", what, img->width, img->height, img->orig_width,
                 img->orig_height, w, h, ow, oh);
}

/* Mean and max absolute difference between img and a packed RGB8 ref of
 * the same size. */
static double diff(const struct fr_image *img, const uint8_t *ref, int *maxd) {
    double sum = 0;
    int m = 0;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *a = img->data + (size_t)y * img->stride, *b = ref + (size_t)y * (size_t)img->width * 3;
        for (int i = 0; i < img->width * 3; i++) {
            int d = abs((int)a[i] - (int)b[i]);
            sum += d;
            if (d > m) m = d;
        }
    }
    if (maxd) *maxd = m;
    return sum / ((double)img->width * img->height * 3);
}

void want_exact(const struct fr_image *img, const uint8_t *ref, int tol, const char *what) {
    int m;
    double e = diff(img, ref, &m);
    if (g_verbose) printf("  %-44s exact  mae %.3f max %d\n", what, e, m);
    if (m > tol) fail_msg("%s: pixels differ by up to %d (mean %.3f), allowed %d", what, m, e, tol);
}

void want_close(const struct fr_image *img, const uint8_t *ref, double bound, const char *what) {
    int m;
    double e = diff(img, ref, &m);
    if (g_verbose) printf("  %-44s lossy  mae %.3f max %d\n", what, e, m);
    if (e > bound) fail_msg("%s: mean absolute error %.3f above %.1f (max %d)", what, e, bound, m);
}

bool heif_or_skip(const uint8_t *rgb, int w, int h, enum fr_fx_heif_codec c, int o, bool alpha,
                         struct fr_fx_blob *out) {
    char why[256] = "";
    if (fr_fx_heif(rgb, w, h, c, 90, o, alpha, out, why, sizeof why)) return true;
    printf("  skipped %s: %s\n", c == FR_FX_HEIC ? "HEIC" : "AVIF", why);
    return false;
}

void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}


/* ---- one small fixture per format and variant ------------------------------ */

/* Small (40x30) files of every container and coding path; HEIF ones only
 * when libheif can encode them. Returns the count. */
int make_fixtures(struct fixture *fx) {
    int w = 40, h = 30, n = 0;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_fx_blob exif, tmp;
    assert_true(fr_fx_exif(6, false, &exif));
#define ADD(fmt, ...) (snprintf(fx[n].name, sizeof fx[n].name, __VA_ARGS__), fx[n].f = (fmt), fx[n].heif = false, n++)
    assert_true(fr_fx_jpeg(rgb, w, h, 90, TJSAMP_420, 0, &tmp));
    assert_true(fr_fx_jpeg_add_exif(&tmp, &exif, &fx[n].b));
    fr_fx_blob_free(&tmp);
    ADD(FR_FORMAT_JPEG, "JPEG 420 + EXIF");
    assert_true(fr_fx_jpeg(rgb, w, h, 90, TJSAMP_444, FR_FX_JPEG_PROGRESSIVE, &fx[n].b));
    ADD(FR_FORMAT_JPEG, "JPEG progressive");
    assert_true(fr_fx_jpeg(rgb, w, h, 90, TJSAMP_420, FR_FX_JPEG_CMYK, &fx[n].b));
    ADD(FR_FORMAT_JPEG, "JPEG YCCK");
    struct fr_fx_png_opts po[3] = {{PNG_COLOR_TYPE_RGB, 8, false, false, NULL, false},
                                   {PNG_COLOR_TYPE_PALETTE, 4, true, true, NULL, false},
                                   {PNG_COLOR_TYPE_RGBA, 16, false, false, &exif, false}};
    const char *pn[3] = {"PNG RGB8", "PNG palette4 tRNS Adam7", "PNG RGBA16 + eXIf"};
    for (int i = 0; i < 3; i++) {
        assert_true(fr_fx_png(rgb, w, h, &po[i], &fx[n].b, NULL));
        ADD(FR_FORMAT_PNG, "%s", pn[i]);
    }
    assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSY, 90, &fx[n].b));
    ADD(FR_FORMAT_WEBP, "WebP lossy");
    assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSLESS, 90, &fx[n].b));
    ADD(FR_FORMAT_WEBP, "WebP lossless");
    assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSY_ALPHA, 90, &fx[n].b));
    ADD(FR_FORMAT_WEBP, "WebP lossy + alpha");
    uint8_t *inv = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        inv[i] = (uint8_t)(255 - rgb[i]);
    const uint8_t *frames[2] = {rgb, inv};
    assert_true(fr_fx_webp_anim(frames, 2, w, h, true, &fx[n].b));
    ADD(FR_FORMAT_WEBP, "WebP animated");
    free(inv);
    assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSLESS, 0, &tmp));
    assert_true(fr_fx_webp_add_exif(&tmp, &exif, &fx[n].b));
    fr_fx_blob_free(&tmp);
    ADD(FR_FORMAT_WEBP, "WebP + EXIF");
    if (heif_or_skip(rgb, w, h, FR_FX_HEIC, 1, false, &fx[n].b)) {
        ADD(FR_FORMAT_HEIF, "HEIC");
        fx[n - 1].heif = true;
    }
    if (heif_or_skip(rgb, w, h, FR_FX_HEIC, 6, true, &fx[n].b)) {
        ADD(FR_FORMAT_HEIF, "HEIC alpha + irot");
        fx[n - 1].heif = true;
    }
    if (heif_or_skip(rgb, w, h, FR_FX_AVIF, 1, false, &fx[n].b)) {
        ADD(FR_FORMAT_AVIF, "AVIF");
        fx[n - 1].heif = true;
    }
    /* Issue 17's formats. */
    assert_true(fr_fx_jxl(rgb, w, h, FR_FX_JXL_LOSSY8, 1, &fx[n].b));
    ADD(FR_FORMAT_JXL, "JPEG XL lossy");
    assert_true(fr_fx_jxl(rgb, w, h, FR_FX_JXL_LOSSLESS16, 6, &fx[n].b));
    ADD(FR_FORMAT_JXL, "JPEG XL lossless 16-bit + orientation");
    struct fr_fx_tiff_opts to[3] = {{.compression = COMPRESSION_LZW, .orientation = 6},
                                    {.photometric = PHOTOMETRIC_PALETTE, .tiled = true, .extra_pages = 1},
                                    {.compression = COMPRESSION_JPEG, .big_endian = true}};
    const char *tn[3] = {"TIFF LZW + orientation", "TIFF palette tiled 2 pages", "TIFF YCbCr JPEG big-endian"};
    for (int i = 0; i < 3; i++) {
        assert_true(fr_fx_tiff(rgb, w, h, &to[i], &fx[n].b, NULL));
        ADD(FR_FORMAT_TIFF, "%s", tn[i]);
    }
    struct fr_fx_gif_opts go[2] = {{.interlace = true, .transparent = true}, {.extra_frames = 1, .left = 3, .top = 2}};
    assert_true(fr_fx_gif(rgb, w, h, &go[0], &fx[n].b, NULL));
    ADD(FR_FORMAT_GIF, "GIF interlaced transparent");
    assert_true(fr_fx_gif(rgb, w, h, &go[1], &fx[n].b, NULL));
    ADD(FR_FORMAT_GIF, "GIF animated, frame offset");
    struct fr_fx_bmp_opts bo[4] = {{.bpp = 24}, {.bpp = 8, .rle = true}, {.bpp = 4, .rle = true, .top_down = false},
                                   {.bpp = 16, .bitfields = true, .v5 = true}};
    const char *bn[4] = {"BMP 24-bit", "BMP RLE8", "BMP RLE4", "BMP 16-bit bit fields V5"};
    for (int i = 0; i < 4; i++) {
        assert_true(fr_fx_bmp(rgb, w, h, &bo[i], &fx[n].b, NULL));
        ADD(FR_FORMAT_BMP, "%s", bn[i]);
    }
    uint8_t *pv = fr_fx_pattern_rgb(20, 15);
    assert_true(fr_fx_dng(rgb, w, h, pv, 20, 15, 6, &fx[n].b));
    free(pv);
    ADD(FR_FORMAT_RAW, "DNG (demosaic) + orientation");
    fx[n - 1].heif = true;
#undef ADD
    assert_true(n <= MAX_FIXTURES);
    fr_fx_blob_free(&exif);
    free(rgb);
    return n;
}

void free_fixtures(struct fixture *fx, int n) {
    for (int i = 0; i < n; i++)
        fr_fx_blob_free(&fx[i].b);
}


int fr_imgtest_run(const char *name, const struct CMUnitTest *tests, size_t n) {
    g_verbose = getenv("FR_TEST_VERBOSE") && *getenv("FR_TEST_VERBOSE");
    if (fr_test_mkdtemp(g_tmp, sizeof g_tmp, "test-image") != 0) return 1;
    fr_test_alloc_install();
    int failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    if (fr_test_rm_rf(g_tmp) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    fr_test_alloc_uninstall();
    return failed;
}
