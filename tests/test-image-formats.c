#define _GNU_SOURCE
/* The formats of issue 17 against the contract in include/facerec/image.h:
 * JPEG XL, TIFF, GIF, BMP and camera RAW (DNG) in their variants, their
 * orientation, 16-bit/float/HDR samples to 8-bit sRGB, ICC profiles to
 * sRGB; files made by the encoders' own command-line tools (cjxl, convert,
 * tiffcp, exiftool) at test time; and the faces found in each format equal
 * to those found in the same picture as PNG.
 *
 * In-memory fixtures come from tests/image-fixtures-formats.c (libjxl,
 * libtiff, giflib, lcms2, and a BMP writer of our own). */
#include <avif/avif.h>
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
#include "facerec/pipeline.h"
#include "image-fixtures.h"
#include "test-util.h"

#include "image-test.h"

static uint8_t *packed(const struct fr_image *img) {
    uint8_t *p = malloc((size_t)img->width * (size_t)img->height * 3);
    assert_non_null(p);
    for (int y = 0; y < img->height; y++)
        memcpy(p + (size_t)y * (size_t)img->width * 3, img->data + (size_t)y * img->stride, (size_t)img->width * 3);
    return p;
}

/* ---- JPEG XL ---------------------------------------------------------------- */

static void test_jxl_variants(void **state) {
    (void)state;
    static const struct {
        enum fr_fx_jxl_kind kind;
        const char *name;
        int tol;      /* max difference per sample for lossless kinds */
        double mae;   /* lossy bound */
    } kinds[] = {{FR_FX_JXL_LOSSLESS8, "lossless 8-bit", 0, 0},  {FR_FX_JXL_LOSSLESS16, "lossless 16-bit", 0, 0},
                 {FR_FX_JXL_FLOAT, "lossless float", 1, 0},      {FR_FX_JXL_LINEAR16, "16-bit linear sRGB", 2, 0},
                 {FR_FX_JXL_GRAY8, "lossless gray", 0, 0},       {FR_FX_JXL_LOSSY8, "lossy (XYB)", -1, 3.0}};
    static const int sizes[][2] = {{64, 48}, {61, 47}};
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 2; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        uint8_t *rgb = fr_fx_pattern_rgb(w, h), *gray = malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h; i++) gray[i * 3] = gray[i * 3 + 1] = gray[i * 3 + 2] = fr_fx_luma(rgb + i * 3);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            char what[96];
            snprintf(what, sizeof what, "JPEG XL %dx%d %s", w, h, kinds[k].name);
            struct fr_fx_blob b;
            assert_true(fr_fx_jxl(rgb, w, h, kinds[k].kind, 1, &b));
            struct fr_image *img = decode_as(&b, &p, FR_FORMAT_JXL, w, h, what);
            const uint8_t *ref = kinds[k].kind == FR_FX_JXL_GRAY8 ? gray : rgb;
            if (kinds[k].tol >= 0)
                want_exact(img, ref, kinds[k].tol, what);
            else
                want_close(img, ref, kinds[k].mae, what);
            fr_image_free(img);
            fr_fx_blob_free(&b);
        }
        free(gray);
        free(rgb);
    }
}

static void test_jxl_orientation(void **state) {
    (void)state;
    int w = 48, h = 32;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    for (int o = 1; o <= 8; o++) {
        char what[64];
        snprintf(what, sizeof what, "JPEG XL orientation %d", o);
        struct fr_fx_blob b;
        assert_true(fr_fx_jxl(rgb, w, h, FR_FX_JXL_LOSSLESS8, o, &b));
        int uw, uh;
        uint8_t *up = orient(rgb, w, h, o, &uw, &uh);
        struct fr_decode_params p = full_size();
        struct fr_image *img = decode_ok(&b, &p, what);
        want_size(img, uw, uh, uw, uh, what);
        if (img->orientation != o) fail_msg("%s: orientation %d reported", what, img->orientation);
        want_exact(img, up, 0, what);
        fr_image_free(img);
        p.apply_orientation = false;
        img = decode_ok(&b, &p, what);
        want_size(img, w, h, w, h, what);
        want_exact(img, rgb, 0, what);
        fr_image_free(img);
        free(up);
        fr_fx_blob_free(&b);
    }
    free(rgb);
}

/* ---- TIFF ------------------------------------------------------------------- */

static void test_tiff_variants(void **state) {
    (void)state;
    static const struct {
        struct fr_fx_tiff_opts o;
        const char *name;
    } cases[] = {
        {{.compression = COMPRESSION_NONE}, "RGB8"},
        {{.compression = COMPRESSION_LZW}, "RGB8 LZW"},
        {{.compression = COMPRESSION_ADOBE_DEFLATE}, "RGB8 deflate"},
        {{.compression = COMPRESSION_PACKBITS}, "RGB8 PackBits"},
        {{.bits = 16, .compression = COMPRESSION_LZW}, "RGB16 LZW"},
        {{.photometric = PHOTOMETRIC_MINISBLACK}, "gray8"},
        {{.photometric = PHOTOMETRIC_MINISBLACK, .bits = 16}, "gray16"},
        {{.photometric = PHOTOMETRIC_PALETTE, .compression = COMPRESSION_LZW}, "palette8"},
        {{.photometric = PHOTOMETRIC_SEPARATED}, "CMYK8"},
        {{.tiled = true, .compression = COMPRESSION_ADOBE_DEFLATE}, "RGB8 tiled"},
        {{.big_endian = true, .bits = 16}, "RGB16 big-endian"},
        {{.extra_pages = 2}, "3 pages (the first is read)"},
        {{.alpha = true}, "RGBA8"},
        {{.compression = COMPRESSION_JPEG}, "YCbCr JPEG"},
    };
    static const int sizes[][2] = {{64, 48}, {61, 47}};
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 2; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        uint8_t *rgb = fr_fx_pattern_rgb(w, h);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            char what[96];
            snprintf(what, sizeof what, "TIFF %dx%d %s", w, h, cases[k].name);
            struct fr_fx_blob b;
            uint8_t *expect = NULL;
            if (!fr_fx_tiff(rgb, w, h, &cases[k].o, &b, &expect)) fail_msg("%s: libtiff could not write it", what);
            struct fr_image *img = decode_as(&b, &p, FR_FORMAT_TIFF, w, h, what);
            if (cases[k].o.compression == COMPRESSION_JPEG)
                want_close(img, expect, LOSSY_MAE_JPEG, what);
            else
                want_exact(img, expect, 0, what);
            fr_image_free(img);
            free(expect);
            fr_fx_blob_free(&b);
        }
        free(rgb);
    }
}

static void test_tiff_orientation(void **state) {
    (void)state;
    int w = 48, h = 32;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    for (int o = 1; o <= 8; o++) {
        for (int tiled = 0; tiled < 2; tiled++) {
            char what[64];
            snprintf(what, sizeof what, "TIFF Orientation %d%s", o, tiled ? " tiled" : "");
            struct fr_fx_tiff_opts opt = {.orientation = o, .tiled = tiled};
            struct fr_fx_blob b;
            assert_true(fr_fx_tiff(rgb, w, h, &opt, &b, NULL));
            int uw, uh;
            uint8_t *up = orient(rgb, w, h, o, &uw, &uh);
            struct fr_decode_params p = full_size();
            struct fr_image *img = decode_ok(&b, &p, what);
            want_size(img, uw, uh, uw, uh, what);
            if (img->orientation != o) fail_msg("%s: orientation %d reported", what, img->orientation);
            want_exact(img, up, 0, what);
            fr_image_free(img);
            p.apply_orientation = false;
            img = decode_ok(&b, &p, what);
            want_exact(img, rgb, 0, what);
            fr_image_free(img);
            free(up);
            fr_fx_blob_free(&b);
        }
    }
    free(rgb);
}

/* ---- GIF ---------------------------------------------------------------------- */

static void test_gif_variants(void **state) {
    (void)state;
    static const struct {
        struct fr_fx_gif_opts o;
        const char *name;
    } cases[] = {
        {{0}, "plain"},
        {{.interlace = true}, "interlaced"},
        {{.transparent = true}, "transparent pixels (white)"},
        {{.extra_frames = 2}, "animated (first frame)"},
        {{.left = 5, .top = 3}, "frame offset on the screen (rest white)"},
        {{.interlace = true, .transparent = true, .extra_frames = 1, .left = 2, .top = 7}, "all of it"},
    };
    static const int sizes[][2] = {{64, 48}, {61, 47}};
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 2; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        uint8_t *rgb = fr_fx_pattern_rgb(w, h);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            char what[96];
            snprintf(what, sizeof what, "GIF %dx%d %s", w, h, cases[k].name);
            struct fr_fx_blob b;
            uint8_t *expect = NULL;
            assert_true(fr_fx_gif(rgb, w, h, &cases[k].o, &b, &expect));
            struct fr_image *img = decode_as(&b, &p, FR_FORMAT_GIF, w, h, what);
            want_exact(img, expect, 0, what);
            fr_image_free(img);
            free(expect);
            fr_fx_blob_free(&b);
        }
        free(rgb);
    }
}

/* ---- BMP -------------------------------------------------------------------------- */

static void test_bmp_variants(void **state) {
    (void)state;
    static const struct {
        struct fr_fx_bmp_opts o;
        const char *name;
    } cases[] = {
        {{.bpp = 24}, "24-bit"},
        {{.bpp = 24, .top_down = true}, "24-bit top-down"},
        {{.bpp = 32}, "32-bit BGRX"},
        {{.bpp = 32, .bitfields = true, .v5 = true}, "32-bit bit fields V5"},
        {{.bpp = 16}, "16-bit 5-5-5"},
        {{.bpp = 16, .bitfields = true}, "16-bit 5-6-5 bit fields"},
        {{.bpp = 8}, "8-bit palette"},
        {{.bpp = 8, .rle = true}, "RLE8"},
        {{.bpp = 4}, "4-bit palette"},
        {{.bpp = 4, .rle = true}, "RLE4"},
        {{.bpp = 1}, "1-bit"},
        {{.bpp = 24, .core = true}, "OS/2 core header 24-bit"},
        {{.bpp = 8, .core = true}, "OS/2 core header 8-bit"},
    };
    static const int sizes[][2] = {{64, 48}, {61, 47}, {1, 1}};
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 3; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        uint8_t *rgb = fr_fx_pattern_rgb(w, h);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            char what[96];
            snprintf(what, sizeof what, "BMP %dx%d %s", w, h, cases[k].name);
            struct fr_fx_blob b;
            uint8_t *expect = NULL;
            assert_true(fr_fx_bmp(rgb, w, h, &cases[k].o, &b, &expect));
            struct fr_image *img = decode_as(&b, &p, FR_FORMAT_BMP, w, h, what);
            want_exact(img, expect, 0, what);
            fr_image_free(img);
            free(expect);
            fr_fx_blob_free(&b);
        }
        free(rgb);
    }
}

/* ---- camera RAW (DNG) ---------------------------------------------------------- */

/* A DNG of the pattern whose preview is the inverted pattern, so the
 * output shows which of libraw's paths was taken. */
static void dng_case(int w, int h, int pw, int ph, int o, int target, bool want_preview, bool jpeg, const char *what) {
    uint8_t *rgb = fr_fx_pattern_rgb(w, h), *pv = fr_fx_pattern_rgb(pw, ph);
    for (size_t i = 0; i < (size_t)pw * ph * 3; i++) pv[i] = (uint8_t)(255 - pv[i]);
    struct fr_fx_blob b;
    if (jpeg)
        assert_true(fr_fx_dng_jpeg(rgb, w, h, pv, pw, ph, o, &b));
    else
        assert_true(fr_fx_dng(rgb, w, h, pv, pw, ph, o, &b));
    if (fr_image_sniff(b.data, b.len) != FR_FORMAT_RAW) fail_msg("%s: not sniffed as camera RAW", what);
    struct fr_decode_params p = fr_decode_default_params();
    p.max_image_size = target;
    double t0 = fr_time_now();
    struct fr_image *img = decode_ok(&b, &p, what);
    double ms = (fr_time_now() - t0) * 1e3;
    want_fmt(img, FR_FORMAT_RAW, what);
    if (img->orientation != o) fail_msg("%s: orientation %d reported, %d stored", what, img->orientation, o);
    int uw, uh;
    bool swap = o >= 5;
    /* orig_* maps back to the sensor image (same aspect ratio here). */
    want_size(img, img->width, img->height, swap ? h : w, swap ? w : h, what);
    /* The output at its size against the source picture (or the preview)
     * upright and area-averaged, through the decoder's own resize. */
    uint8_t *src = want_preview ? pv : rgb;
    int sw = want_preview ? pw : w, sh = want_preview ? ph : h;
    uint8_t *up = orient(src, sw, sh, o, &uw, &uh);
    struct fr_image *ref_full = fr_image_new(uw, uh);
    memcpy(ref_full->data, up, (size_t)uw * uh * 3);
    struct fr_image *ref = fr_image_resize_area(ref_full, img->width, img->height);
    uint8_t *rp = packed(ref);
    /* The demosaic goes through linear light, a colour matrix and libraw's
     * auto-brightness, so a few levels of difference are expected; the
     * other path's picture (inverted) is over 100 away. */
    want_close(img, rp, want_preview ? (jpeg ? LOSSY_MAE_JPEG : 1.0) : 8.0, what);
    if (g_verbose) printf("  %-60s -> %dx%d in %.1f ms\n", what, img->width, img->height, ms);
    free(rp);
    fr_image_free(ref);
    fr_image_free(ref_full);
    fr_image_free(img);
    free(up);
    fr_fx_blob_free(&b);
    free(pv);
    free(rgb);
}

static void test_dng(void **state) {
    (void)state;
    /* Preview at least FR_RAW_PREVIEW_MIN: used. */
    dng_case(1280, 960, 1280, 960, 1, 2048, true, false, "DNG, full-size preview, max_image_size 2048");
    dng_case(1280, 960, 1280, 960, 1, 0, true, false, "DNG, full-size preview, max_image_size 0");
    dng_case(1280, 960, 1280, 960, 6, 640, true, false, "DNG, full-size preview, orientation 6, max_image_size 640");
    /* The JPEG preview cameras write: decoded with DCT scaling. */
    dng_case(1280, 960, 1280, 960, 1, 2048, true, true, "DNG, full-size JPEG preview");
    dng_case(1280, 960, 1280, 960, 8, 600, true, true, "DNG, JPEG preview, orientation 8, max_image_size 600");
    dng_case(1280, 960, 640, 480, 1, 600, true, true, "DNG, 640 px JPEG preview, max_image_size 600");
    /* Preview reaching max_image_size: used. */
    dng_case(640, 480, 320, 240, 1, 300, true, false, "DNG 640x480, 320 px preview, max_image_size 300");
    /* Preview too small: half-size demosaic (640/2 >= 300), full when not. */
    dng_case(640, 480, 160, 120, 1, 300, false, false, "DNG 640x480, 160 px preview, max_image_size 300 (half)");
    dng_case(640, 480, 160, 120, 8, 300, false, true, "DNG, small JPEG preview, orientation 8 (half)");
    dng_case(640, 480, 160, 120, 3, 2048, false, false, "DNG, small preview, max_image_size 2048 (full demosaic)");
    dng_case(640, 480, 160, 120, 1, 0, false, false, "DNG, small preview, max_image_size 0 (full demosaic)");
}

/* ---- 16-bit, HDR and ICC ------------------------------------------------------- */

/* A 10-bit AVIF (4:2:0, 16-bit RGB samples in) through libavif's encoder:
 * libheif 1.15's own high bit depth AV1 path trips an assertion in aom. */
/* The sRGB picture as HDR code values: SDR white at 203 nits (PQ) or at
 * 75% signal (HLG), BT.2020 primaries; 16-bit samples for libavif. */
static uint16_t hdr_code(double rel, bool pq) {
    double e;
    if (pq) {
        const double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128, c1 = 3424.0 / 4096, c2 = 2413.0 / 4096 * 32,
                     c3 = 2392.0 / 4096 * 32;
        double y = pow(rel * 203.0 / 10000.0, m1);
        e = pow((c1 + c2 * y) / (1 + c3 * y), m2);
    } else {
        const double a = 0.17883277, b = 0.28466892, c = 0.55991073;
        double lin = rel * 0.26496256;
        e = lin <= 1.0 / 12 ? sqrt(3 * lin) : a * log(12 * lin - b) + c;
    }
    return (uint16_t)lrint(fmin(fmax(e, 0), 1) * 65535.0);
}

static bool avif_10bit(const uint8_t *rgb, int w, int h, int hdr, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    avifImage *img = avifImageCreate((uint32_t)w, (uint32_t)h, 10, AVIF_PIXEL_FORMAT_YUV420);
    avifEncoder *enc = avifEncoderCreate();
    avifRWData data = AVIF_DATA_EMPTY;
    bool ok = img && enc;
    avifRGBImage ri;
    if (ok) {
        avifRGBImageSetDefaults(&ri, img);
        ri.format = AVIF_RGB_FORMAT_RGB;
        ri.depth = 16;
        ri.rowBytes = (uint32_t)w * 6;
        ri.pixels = malloc((size_t)w * (size_t)h * 6);
        ok = ri.pixels != NULL;
        /* BT.709 to BT.2020 (linear light). */
        static const double m[3][3] = {{0.6274, 0.3293, 0.0433}, {0.0691, 0.9195, 0.0114}, {0.0164, 0.0880, 0.8956}};
        for (size_t i = 0; ok && i < (size_t)w * (size_t)h; i++) {
            for (int c = 0; c < 3; c++) {
                uint16_t v = (uint16_t)(rgb[i * 3 + (size_t)c] * 257);
                if (hdr) {
                    double l = 0;
                    for (int k = 0; k < 3; k++) l += m[c][k] * fr_fx_srgb_to_linear(rgb[i * 3 + (size_t)k]);
                    v = hdr_code(l, hdr == 1);
                }
                memcpy(ri.pixels + (i * 3 + (size_t)c) * 2, &v, 2);
            }
        }
        ok = ok && avifImageRGBToYUV(img, &ri) == AVIF_RESULT_OK;
        free(ri.pixels);
    }
    if (ok && hdr) {
        img->colorPrimaries = AVIF_COLOR_PRIMARIES_BT2020;
        img->transferCharacteristics = hdr == 1 ? AVIF_TRANSFER_CHARACTERISTICS_SMPTE2084 : AVIF_TRANSFER_CHARACTERISTICS_HLG;
    }
    if (ok) {
        enc->speed = 8;
        enc->minQuantizer = 0;
        enc->maxQuantizer = 10;
        ok = avifEncoderWrite(enc, img, &data) == AVIF_RESULT_OK;
    }
    ok = ok && fr_fx_blob_copy(data.data, data.size, out);
    avifRWDataFree(&data);
    if (enc) avifEncoderDestroy(enc);
    if (img) avifImageDestroy(img);
    return ok;
}

static void test_high_bit_depth(void **state) {
    (void)state;
    int w = 64, h = 48;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_decode_params p = full_size();
    /* SDR 10-bit, then HDR: PQ and HLG with BT.2020 primaries, which must
     * come back as the SDR picture (tone-mapped: the top 20% of white is
     * rolled off, so a little more error is allowed). */
    static const char *const names[3] = {"AVIF 10-bit", "AVIF 10-bit HDR PQ BT.2020", "AVIF 10-bit HDR HLG BT.2020"};
    for (int hdr = 0; hdr < 3; hdr++) {
        struct fr_fx_blob b;
        if (!avif_10bit(rgb, w, h, hdr, &b)) {
            printf("  skipped: libavif %s cannot encode a 10-bit AVIF here\n", avifVersion());
            free(rgb);
            skip();
        }
        struct fr_image *img = decode_as(&b, &p, FR_FORMAT_AVIF, w, h, names[hdr]);
        want_close(img, rgb, hdr ? 2 * LOSSY_MAE_HEIF : LOSSY_MAE_HEIF, names[hdr]);
        fr_image_free(img);
        fr_fx_blob_free(&b);
    }
    free(rgb);
}

/* A P3-tagged file decodes to lcms2's own sRGB conversion of its pixels;
 * an sRGB-tagged one to the pixels as stored. */
static void icc_case(const struct fr_fx_blob *tagged, const struct fr_fx_blob *plain, const struct fr_fx_blob *icc,
                     bool convert, int target, const char *what) {
    struct fr_decode_params p = fr_decode_default_params();
    p.max_image_size = target;
    struct fr_image *a = decode_ok(plain, &p, what), *b = decode_ok(tagged, &p, what);
    want_size(b, a->width, a->height, a->orig_width, a->orig_height, what);
    uint8_t *pa = packed(a), *ref = malloc((size_t)a->width * a->height * 3);
    if (convert)
        assert_true(fr_fx_icc_reference(icc, pa, (size_t)a->width * a->height, ref));
    else
        memcpy(ref, pa, (size_t)a->width * a->height * 3);
    want_exact(b, ref, 1, what);
    /* And the conversion is not a no-op: P3 red is far from sRGB red. */
    if (convert) {
        double d = 0;
        for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) d += abs((int)pa[i] - (int)ref[i]);
        if (d / ((double)a->width * a->height * 3) < 2) fail_msg("%s: the profile changes nothing", what);
    }
    free(ref);
    free(pa);
    fr_image_free(a);
    fr_image_free(b);
}

static void test_icc(void **state) {
    (void)state;
    int w = 64, h = 48;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    for (int k = 0; k < 2; k++) {
        struct fr_fx_blob icc, plain, tagged;
        assert_true(fr_fx_icc(k ? FR_FX_ICC_P3 : FR_FX_ICC_SRGB, &icc));
        const char *pn = k ? "Display P3" : "sRGB";
        char what[96];
        /* JPEG: APP2 ICC_PROFILE; also downscaled (converted after the resize). */
        assert_true(fr_fx_jpeg(rgb, w, h, 95, TJSAMP_444, 0, &plain));
        assert_true(fr_fx_jpeg_add_icc(&plain, &icc, &tagged));
        snprintf(what, sizeof what, "JPEG with a %s profile", pn);
        icc_case(&tagged, &plain, &icc, k, 0, what);
        snprintf(what, sizeof what, "JPEG with a %s profile, max_image_size 20", pn);
        icc_case(&tagged, &plain, &icc, k, 20, what);
        fr_fx_blob_free(&plain);
        fr_fx_blob_free(&tagged);
        /* TIFF: the ICCProfile tag. */
        struct fr_fx_tiff_opts to = {.compression = COMPRESSION_LZW}, tt = to;
        tt.icc = &icc;
        assert_true(fr_fx_tiff(rgb, w, h, &to, &plain, NULL));
        assert_true(fr_fx_tiff(rgb, w, h, &tt, &tagged, NULL));
        snprintf(what, sizeof what, "TIFF with a %s profile", pn);
        icc_case(&tagged, &plain, &icc, k, 0, what);
        fr_fx_blob_free(&plain);
        fr_fx_blob_free(&tagged);
        fr_fx_blob_free(&icc);
    }
    free(rgb);
}

/* A CMYK JPEG (Adobe, inverted) with a CMYK profile: lcms2's conversion
 * of the stored CMYK, not the profile-less inverted-CMYK formula. */
static void test_icc_cmyk(void **state) {
    (void)state;
    int w = 64, h = 48;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_fx_blob icc, plain, tagged;
    assert_true(fr_fx_icc(FR_FX_ICC_CMYK, &icc));
    assert_true(fr_fx_jpeg(rgb, w, h, 95, TJSAMP_444, FR_FX_JPEG_CMYK, &plain));
    assert_true(fr_fx_jpeg_add_icc(&plain, &icc, &tagged));
    /* The stored CMYK, as libjpeg-turbo hands it out. */
    uint8_t *cmyk = malloc((size_t)w * h * 4), *ref = malloc((size_t)w * h * 3);
    tjhandle tj = tjInitDecompress();
    assert_int_equal(tjDecompress2(tj, plain.data, (unsigned long)plain.len, cmyk, w, w * 4, h, TJPF_CMYK, 0), 0);
    tjDestroy(tj);
    assert_true(fr_fx_icc_cmyk_reference(&icc, cmyk, (size_t)w * h, ref));
    struct fr_decode_params p = full_size();
    struct fr_image *a = decode_ok(&tagged, &p, "CMYK JPEG with a CMYK profile");
    want_exact(a, ref, 1, "CMYK JPEG with a CMYK profile");
    /* Without the profile: the formula, far from the profile's darker K. */
    struct fr_image *b = decode_ok(&plain, &p, "CMYK JPEG without a profile");
    uint8_t *pb = packed(b);
    double d = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) d += abs((int)pb[i] - (int)ref[i]);
    if (d / ((double)w * h * 3) < 2) fail_msg("the CMYK profile changes nothing (%.2f)", d / ((double)w * h * 3));
    free(pb);
    fr_image_free(a);
    fr_image_free(b);
    free(cmyk);
    free(ref);
    fr_fx_blob_free(&tagged);
    fr_fx_blob_free(&plain);
    fr_fx_blob_free(&icc);
    free(rgb);
}

/* ---- files made by the encoders' command-line tools ----------------------------- */

static bool have_tool(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static int run(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) printf("  command failed (%d): %s\n", rc, cmd);
    return rc;
}

static struct fr_image *load_ok(const char *path, int target) {
    struct fr_decode_params p = fr_decode_default_params();
    p.max_image_size = target;
    struct fr_image *img = NULL;
    char err[512];
    if (fr_image_load(path, &p, &img, err, sizeof err) != FR_OK) fail_msg("%s", err);
    return img;
}

/* The tool-made files of one picture: path suffix, command (%1$s the PNG,
 * %2$s the output), tool, format, lossless. */
static const struct tool_case {
    const char *file;
    const char *cmd;
    const char *tool;
    enum fr_image_format f;
    double mae; /* against the PNG; 0: exact */
    int orientation;
} g_tool_cases[] = {
    {"cjxl-lossless.jxl", "cjxl -q 100 %1$s %2$s", "cjxl", FR_FORMAT_JXL, 0, 1},
    {"cjxl.jxl", "cjxl -d 1 %1$s %2$s", "cjxl", FR_FORMAT_JXL, 3.0, 1},
    {"convert.tif", "convert %1$s -compress lzw %2$s", "convert", FR_FORMAT_TIFF, 0, 1},
    {"tiffcp.tif", "convert %1$s %2$s.in.tif && tiffcp -c zip -t -w 64 -l 64 %2$s.in.tif %2$s", "tiffcp",
     FR_FORMAT_TIFF, 0, 1},
    /* Rotated by the tool, then tagged so that it displays upright again. */
    {"rot-exiftool.tif", "convert %1$s -rotate 90 -compress lzw %2$s && exiftool -q -overwrite_original "
                         "-IFD0:Orientation#=8 %2$s", "exiftool", FR_FORMAT_TIFF, 0, 8},
    {"convert.gif", "convert %1$s %2$s", "convert", FR_FORMAT_GIF, 12.0, 1},
    {"convert.bmp", "convert %1$s %2$s", "convert", FR_FORMAT_BMP, 0, 1},
    {"convert-bmp2.bmp", "convert %1$s bmp2:%2$s", "convert", FR_FORMAT_BMP, 0, 1},
    {"convert-rle8.bmp", "convert %1$s -colors 256 -compress RLE bmp3:%2$s", "convert", FR_FORMAT_BMP, 12.0, 1},
    {"convert-565.bmp", "convert %1$s -define bmp:subtype=RGB565 %2$s", "convert", FR_FORMAT_BMP, 4.0, 1},
    {"convert-argb.bmp", "convert %1$s -alpha set -define bmp:subtype=ARGB8888 %2$s", "convert", FR_FORMAT_BMP, 0, 1},
};
#define N_TOOL_CASES (sizeof g_tool_cases / sizeof g_tool_cases[0])

static bool make_tool_file(const char *png, const struct tool_case *c, char *out, size_t outlen) {
    snprintf(out, outlen, "%s/%s", g_tmp, c->file);
    if (!have_tool(c->tool) || !have_tool("convert")) {
        printf("  skipped %s: %s is not installed (scripts/install-deps.sh installs it)\n", c->file, c->tool);
        return false;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, c->cmd, png, out);
    char full[2200];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    if (run("%s", full) != 0) fail_msg("%s: the tool failed", c->file);
    return true;
}

static void test_tool_files(void **state) {
    (void)state;
    int w = 96, h = 64;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_fx_blob png;
    struct fr_fx_png_opts po = {PNG_COLOR_TYPE_RGB, 8, false, false, NULL, false};
    assert_true(fr_fx_png(rgb, w, h, &po, &png, NULL));
    char pngpath[512];
    snprintf(pngpath, sizeof pngpath, "%s/pattern.png", g_tmp);
    write_file(pngpath, png.data, png.len);
    for (size_t i = 0; i < N_TOOL_CASES; i++) {
        const struct tool_case *c = &g_tool_cases[i];
        char path[512];
        if (!make_tool_file(pngpath, c, path, sizeof path)) continue;
        struct fr_image *img = load_ok(path, 0);
        want_fmt(img, c->f, c->file);
        want_size(img, w, h, w, h, c->file);
        if (img->orientation != c->orientation) fail_msg("%s: orientation %d", c->file, img->orientation);
        if (c->mae == 0)
            want_exact(img, rgb, 0, c->file);
        else
            want_close(img, rgb, c->mae, c->file);
        fr_image_free(img);
    }
    /* A DNG whose orientation exiftool rewrote. */
    if (have_tool("exiftool")) {
        struct fr_fx_blob dng;
        assert_true(fr_fx_dng(rgb, w, h, rgb, w, h, 1, &dng));
        char path[512];
        snprintf(path, sizeof path, "%s/exiftool.dng", g_tmp);
        write_file(path, dng.data, dng.len);
        fr_fx_blob_free(&dng);
        assert_int_equal(run("exiftool -q -overwrite_original -IFD0:Orientation#=6 %s", path), 0);
        struct fr_image *img = load_ok(path, 0);
        want_fmt(img, FR_FORMAT_RAW, "DNG + exiftool");
        if (img->orientation != 6) fail_msg("DNG + exiftool: orientation %d, expected 6", img->orientation);
        want_size(img, h, w, h, w, "DNG + exiftool");
        fr_image_free(img);
    }
    fr_fx_blob_free(&png);
    free(rgb);
}

/* ---- faces: each format finds what the PNG finds --------------------------------- */

static void faces_of(struct fr_pipeline *pl, const char *path, struct fr_faces *out) {
    struct fr_image *img = load_ok(path, fr_pipeline_decode_params(pl).max_image_size);
    const struct fr_image *imgs[1] = {img};
    char err[512];
    if (fr_pipeline_process(pl, imgs, 1, out, err, sizeof err) != FR_OK) fail_msg("%s: %s", path, err);
    fr_image_free(img);
}

/* Same count, and each of the PNG's boxes matched by one of the other
 * file's within 3 px plus tol_rel of its width (detectors order faces of
 * near-equal scores either way, so boxes are matched, not indices). */
static void same_faces(const struct fr_faces *a, const struct fr_faces *b, double tol_rel, const char *what) {
    if (a->count != b->count) fail_msg("%s: %d faces, the PNG has %d", what, b->count, a->count);
    for (int i = 0; i < a->count; i++) {
        const float *x = a->faces[i].box;
        double tol = 3.0 + tol_rel * x[2], best = 1e30;
        int bj = -1;
        for (int j = 0; j < b->count; j++) {
            const float *y = b->faces[j].box;
            double d = 0;
            for (int k = 0; k < 4; k++) d = fmax(d, fabs(x[k] - y[k]));
            if (d < best) best = d, bj = j;
        }
        if (best > tol) {
            const float *y = b->faces[bj].box;
            fail_msg("%s: face %d box (%.1f %.1f %.1f %.1f), the PNG's (%.1f %.1f %.1f %.1f)", what, bj, y[0], y[1],
                     y[2], y[3], x[0], x[1], x[2], x[3]);
        }
        if (g_verbose) printf("  %-60s face %d within %.1f px\n", what, i, best);
    }
}

static void test_faces(void **state) {
    (void)state;
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    pp.landmarks = false;
    pp.embeddings = false;
    pp.threads = 2;
    struct fr_pipeline *pl = NULL;
    char err[512];
    if (fr_pipeline_new(&pp, &pl, err, sizeof err) != FR_OK) fail_msg("%s", err);
    static const char *const photos[] = {"examples/obama.jpg", "examples/two_people.jpg"};
    for (size_t ph = 0; ph < 2; ph++) {
        /* The reference: the photo's own decode, written as PNG. */
        char src[1024], png[512];
        snprintf(src, sizeof src, "%s/%s", fr_test_data_dir(), photos[ph]);
        struct fr_image *img = load_ok(src, 0);
        uint8_t *rgb = packed(img);
        int w = img->width, h = img->height;
        fr_image_free(img);
        struct fr_fx_blob b;
        struct fr_fx_png_opts po = {PNG_COLOR_TYPE_RGB, 8, false, false, NULL, false};
        assert_true(fr_fx_png(rgb, w, h, &po, &b, NULL));
        snprintf(png, sizeof png, "%s/face-%zu.png", g_tmp, ph);
        write_file(png, b.data, b.len);
        fr_fx_blob_free(&b);
        struct fr_faces ref = {0};
        faces_of(pl, png, &ref);
        assert_true(ref.count >= 1);
        if (g_verbose) printf("  %s: %d face(s) in the PNG\n", photos[ph], ref.count);
        /* Tool-made files. */
        for (size_t i = 0; i < N_TOOL_CASES; i++) {
            char path[512], what[256];
            struct tool_case c = g_tool_cases[i];
            char file[128];
            snprintf(file, sizeof file, "face-%zu-%s", ph, c.file);
            c.file = file;
            if (!make_tool_file(png, &c, path, sizeof path)) continue;
            struct fr_faces got = {0};
            faces_of(pl, path, &got);
            snprintf(what, sizeof what, "%s as %s", photos[ph], g_tool_cases[i].file);
            /* 256-colour files (GIF, RLE8) are another picture: more slack. */
            same_faces(&ref, &got, c.mae == 0 ? 0.0 : c.mae >= 10 ? 0.08 : 0.04, what);
            fr_faces_clear(&got);
        }
        /* In-memory encodings: a DNG through both of libraw's paths, and a
         * JPEG XL with orientation. */
        struct {
            const char *name;
            int kind;
        } mem[] = {{"DNG (preview)", 0}, {"DNG (demosaic)", 1}, {"JPEG XL 16-bit", 2}};
        for (int m = 0; m < 3; m++) {
            char path[512];
            snprintf(path, sizeof path, "%s/face-%zu-mem-%d", g_tmp, ph, m);
            if (m < 2) {
                int pw = m == 0 ? w : w / 8, phh = m == 0 ? h : h / 8;
                struct fr_image *full = fr_image_new(w, h);
                memcpy(full->data, rgb, (size_t)w * h * 3);
                struct fr_image *small = fr_image_resize_area(full, pw, phh);
                uint8_t *pv = packed(small);
                assert_true(fr_fx_dng(rgb, w, h, pv, pw, phh, 1, &b));
                free(pv);
                fr_image_free(small);
                fr_image_free(full);
            } else {
                assert_true(fr_fx_jxl(rgb, w, h, FR_FX_JXL_LOSSLESS16, 1, &b));
            }
            write_file(path, b.data, b.len);
            fr_fx_blob_free(&b);
            struct fr_faces got = {0};
            faces_of(pl, path, &got);
            char what[256];
            snprintf(what, sizeof what, "%s as %s", photos[ph], mem[m].name);
            same_faces(&ref, &got, m == 1 ? 0.04 : 0.0, what);
            fr_faces_clear(&got);
        }
        fr_faces_clear(&ref);
        free(rgb);
    }
    fr_pipeline_free(pl);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, leak_setup, leak_teardown)
    const struct CMUnitTest tests[] = {
        T(test_jxl_variants), T(test_jxl_orientation), T(test_tiff_variants), T(test_tiff_orientation),
        T(test_gif_variants), T(test_bmp_variants),    T(test_dng),           T(test_high_bit_depth),
        T(test_icc),          T(test_icc_cmyk),        T(test_tool_files),
        /* The pipeline allocates for its lifetime; no leak check around it. */
        cmocka_unit_test(test_faces),
    };
#undef T
    return fr_imgtest_run("test-image-formats", tests, sizeof tests / sizeof tests[0]);
}
