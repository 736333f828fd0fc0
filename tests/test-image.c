#define _GNU_SOURCE
/* Image decoding against the contract in include/facerec/image.h: every
 * format, colour type and bit depth, EXIF orientation, detection by magic
 * bytes, downscaling, and the face_recognition test photos.
 *
 * Every input is generated in memory by the encoder libraries themselves
 * (tests/image-fixtures.c), so expected pixels are known: lossless formats
 * must match exactly, lossy ones within a mean absolute error bound. */
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
#include <turbojpeg.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/image.h"
#include "image-fixtures.h"
#include "test-util.h"

#include "image-test.h"

/* Exact area average of a packed RGB8 image to dw x dh, in doubles. */
static uint8_t *area_ref(const uint8_t *s, int w, int h, int dw, int dh) {
    double *rows = calloc((size_t)dh * (size_t)w * 3, sizeof(double));
    uint8_t *d = malloc((size_t)dw * (size_t)dh * 3);
    assert_non_null(rows);
    assert_non_null(d);
    double sy = (double)h / dh, sx = (double)w / dw;
    for (int oy = 0; oy < dh; oy++) {
        double a = oy * sy, b = (oy + 1) * sy;
        for (int y = (int)a; y < h && y < b; y++) {
            double wgt = (y + 1 < b ? y + 1 : b) - (y > a ? y : a);
            for (int i = 0; i < w * 3; i++)
                rows[(size_t)oy * w * 3 + i] += wgt * s[(size_t)y * w * 3 + i];
        }
    }
    for (int oy = 0; oy < dh; oy++) {
        for (int ox = 0; ox < dw; ox++) {
            double a = ox * sx, b = (ox + 1) * sx, acc[3] = {0, 0, 0};
            for (int x = (int)a; x < w && x < b; x++) {
                double wgt = (x + 1 < b ? x + 1 : b) - (x > a ? x : a);
                for (int c = 0; c < 3; c++)
                    acc[c] += wgt * rows[(size_t)oy * w * 3 + (size_t)x * 3 + c];
            }
            for (int c = 0; c < 3; c++)
                d[((size_t)oy * dw + ox) * 3 + c] = (uint8_t)(acc[c] / (sx * sy) + 0.5);
        }
    }
    free(rows);
    return d;
}


static const char *orient_name(int o) {
    static const char *n[] = {"?",           "1 normal",  "2 mirror",     "3 rot180",  "4 flip",
                              "5 transpose", "6 rot90cw", "7 transverse", "8 rot90ccw"};
    return o >= 1 && o <= 8 ? n[o] : n[0];
}


/* ---- formats and colour types ------------------------------------------- */

static void test_jpeg_variants(void **state) {
    (void)state;
    static const struct {
        int samp;
        const char *name;
    } samps[] = {{TJSAMP_444, "444"}, {TJSAMP_422, "422"}, {TJSAMP_420, "420"},
                 {TJSAMP_440, "440"}, {TJSAMP_411, "411"}, {TJSAMP_GRAY, "gray"}};
    static const int sizes[][2] = {{64, 48}, {61, 47}}; /* odd sizes: partial MCUs */
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 2; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        uint8_t *rgb = fr_fx_pattern_rgb(w, h), *gray = malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h; i++)
            gray[i * 3] = gray[i * 3 + 1] = gray[i * 3 + 2] = fr_fx_luma(rgb + i * 3);
        for (size_t k = 0; k < sizeof samps / sizeof samps[0]; k++) {
            for (unsigned flags = 0; flags < 4; flags++) {
                bool cmyk = flags & FR_FX_JPEG_CMYK;
                if (cmyk && samps[k].samp == TJSAMP_GRAY) continue;
                char what[96];
                snprintf(what, sizeof what, "JPEG %dx%d %s%s%s", w, h, samps[k].name,
                         flags & FR_FX_JPEG_PROGRESSIVE ? " progressive" : " baseline", cmyk ? " YCCK" : "");
                struct fr_fx_blob b;
                assert_true(fr_fx_jpeg(rgb, w, h, 95, samps[k].samp, flags, &b));
                assert_int_equal(fr_image_sniff(b.data, b.len), FR_FORMAT_JPEG);
                struct fr_image *img = decode_ok(&b, &p, what);
                want_fmt(img, FR_FORMAT_JPEG, what);
                want_size(img, w, h, w, h, what);
                assert_int_equal(img->orientation, 1);
                if (samps[k].samp == TJSAMP_GRAY) {
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++) {
                            const uint8_t *px = img->data + (size_t)y * img->stride + (size_t)x * 3;
                            if (px[0] != px[1] || px[1] != px[2]) fail_msg("%s: gray pixel not gray", what);
                        }
                }
                want_close(img, samps[k].samp == TJSAMP_GRAY ? gray : rgb, LOSSY_MAE_JPEG, what);
                fr_image_free(img);
                fr_fx_blob_free(&b);
            }
        }
        free(rgb);
        free(gray);
    }
}

static const struct png_case {
    int ct, depth;
} png_cases[] = {
    {PNG_COLOR_TYPE_GRAY, 1},        {PNG_COLOR_TYPE_GRAY, 2},    {PNG_COLOR_TYPE_GRAY, 4},
    {PNG_COLOR_TYPE_GRAY, 8},        {PNG_COLOR_TYPE_GRAY, 16},   {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
    {PNG_COLOR_TYPE_GRAY_ALPHA, 16}, {PNG_COLOR_TYPE_RGB, 8},     {PNG_COLOR_TYPE_RGB, 16},
    {PNG_COLOR_TYPE_RGBA, 8},        {PNG_COLOR_TYPE_RGBA, 16},   {PNG_COLOR_TYPE_PALETTE, 1},
    {PNG_COLOR_TYPE_PALETTE, 2},     {PNG_COLOR_TYPE_PALETTE, 4}, {PNG_COLOR_TYPE_PALETTE, 8},
};

static const char *png_ct_name(int ct) {
    switch (ct) {
    case PNG_COLOR_TYPE_GRAY:
        return "gray";
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return "gray+alpha";
    case PNG_COLOR_TYPE_RGB:
        return "RGB";
    case PNG_COLOR_TYPE_RGBA:
        return "RGBA";
    default:
        return "palette";
    }
}

static void test_png_variants(void **state) {
    (void)state;
    /* 37x29: odd, so sub-byte rows end mid-byte and Adam7 passes are uneven. */
    static const int sizes[][2] = {{37, 29}, {64, 48}, {1, 1}};
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 3; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        for (size_t k = 0; k < sizeof png_cases / sizeof png_cases[0]; k++) {
            for (int v = 0; v < 4; v++) {
                struct fr_fx_png_opts o = {png_cases[k].ct, png_cases[k].depth, v & 1, v & 2, NULL, false};
                if (o.trns && (o.color_type & PNG_COLOR_MASK_ALPHA)) continue;
                char what[96];
                snprintf(what, sizeof what, "PNG %dx%d %s %d-bit%s%s", w, h, png_ct_name(o.color_type), o.bit_depth,
                         o.trns ? " tRNS" : "", o.interlace ? " Adam7" : "");
                struct fr_fx_blob b;
                uint8_t *expect;
                assert_true(fr_fx_png(NULL, w, h, &o, &b, &expect));
                assert_int_equal(fr_image_sniff(b.data, b.len), FR_FORMAT_PNG);
                struct fr_image *img = decode_ok(&b, &p, what);
                want_fmt(img, FR_FORMAT_PNG, what);
                want_size(img, w, h, w, h, what);
                /* 16-bit samples may be stripped or rounded: one level. */
                want_exact(img, expect, o.bit_depth == 16 ? 1 : 0, what);
                fr_image_free(img);
                free(expect);
                fr_fx_blob_free(&b);
            }
        }
    }
}

static void test_webp_variants(void **state) {
    (void)state;
    static const struct {
        enum fr_fx_webp_kind kind;
        const char *name;
        bool lossless;
    } kinds[] = {{FR_FX_WEBP_LOSSY, "lossy", false},
                 {FR_FX_WEBP_LOSSLESS, "lossless", true},
                 {FR_FX_WEBP_LOSSY_ALPHA, "lossy+alpha", false},
                 {FR_FX_WEBP_LOSSLESS_ALPHA, "lossless+alpha", true}};
    static const int sizes[][2] = {{64, 48}, {61, 47}};
    struct fr_decode_params p = full_size();
    for (size_t si = 0; si < 2; si++) {
        int w = sizes[si][0], h = sizes[si][1];
        uint8_t *rgb = fr_fx_pattern_rgb(w, h);
        for (size_t k = 0; k < 4; k++) {
            char what[96];
            snprintf(what, sizeof what, "WebP %dx%d %s", w, h, kinds[k].name);
            struct fr_fx_blob b;
            assert_true(fr_fx_webp(rgb, w, h, kinds[k].kind, 90, &b));
            assert_int_equal(fr_image_sniff(b.data, b.len), FR_FORMAT_WEBP);
            struct fr_image *img = decode_ok(&b, &p, what);
            want_fmt(img, FR_FORMAT_WEBP, what);
            want_size(img, w, h, w, h, what);
            if (kinds[k].lossless)
                want_exact(img, rgb, 0, what);
            else
                want_close(img, rgb, LOSSY_MAE_WEBP, what);
            fr_image_free(img);
            fr_fx_blob_free(&b);
        }
        /* Animation: the first frame, whatever follows it. */
        uint8_t *second = malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h * 3; i++)
            second[i] = (uint8_t)(255 - rgb[i]);
        const uint8_t *frames[3] = {rgb, second, rgb};
        for (int lossless = 1; lossless >= 0; lossless--) {
            char what[96];
            snprintf(what, sizeof what, "WebP %dx%d animated %s", w, h, lossless ? "lossless" : "lossy");
            struct fr_fx_blob b;
            assert_true(fr_fx_webp_anim(frames, 3, w, h, lossless, &b));
            struct fr_image *img = decode_ok(&b, &p, what);
            want_fmt(img, FR_FORMAT_WEBP, what);
            want_size(img, w, h, w, h, what);
            if (lossless)
                want_exact(img, rgb, 0, what);
            else
                want_close(img, rgb, LOSSY_MAE_WEBP, what);
            fr_image_free(img);
            fr_fx_blob_free(&b);
        }
        free(second);
        free(rgb);
    }
}

static void heif_variants(enum fr_fx_heif_codec c) {
    const char *name = c == FR_FX_HEIC ? "HEIC" : "AVIF";
    enum fr_image_format f = c == FR_FX_HEIC ? FR_FORMAT_HEIF : FR_FORMAT_AVIF;
    struct fr_decode_params p = full_size();
    int w = 64, h = 48;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    for (int alpha = 0; alpha < 2; alpha++) {
        char what[96];
        snprintf(what, sizeof what, "%s %dx%d%s", name, w, h, alpha ? " +alpha" : "");
        struct fr_fx_blob b;
        if (!heif_or_skip(rgb, w, h, c, 1, alpha, &b)) {
            free(rgb);
            skip();
        }
        assert_int_equal(fr_image_sniff(b.data, b.len), f);
        struct fr_image *img = decode_ok(&b, &p, what);
        want_fmt(img, f, what);
        want_size(img, w, h, w, h, what);
        want_close(img, rgb, LOSSY_MAE_HEIF, what);
        fr_image_free(img);
        fr_fx_blob_free(&b);
    }
    free(rgb);
}

static void test_heic_variants(void **state) {
    (void)state;
    heif_variants(FR_FX_HEIC);
}

static void test_avif_variants(void **state) {
    (void)state;
    heif_variants(FR_FX_AVIF);
}

/* ---- orientation ---------------------------------------------------------- */

enum container { C_JPEG, C_PNG, C_PNG_LATE, C_WEBP, C_WEBP_PREFIXED };

/* The pattern stored as is, tagged with orientation o in the container's
 * EXIF carrier. */
static void tagged(const uint8_t *rgb, int w, int h, enum container c, int o, bool be, struct fr_fx_blob *out) {
    struct fr_fx_blob exif, plain;
    assert_true(fr_fx_exif(o, be, &exif));
    switch (c) {
    case C_JPEG:
        assert_true(fr_fx_jpeg(rgb, w, h, 95, TJSAMP_444, 0, &plain));
        assert_true(fr_fx_jpeg_add_exif(&plain, &exif, out));
        fr_fx_blob_free(&plain);
        break;
    case C_PNG: {
        struct fr_fx_png_opts po = {PNG_COLOR_TYPE_RGB, 8, false, false, &exif, false};
        assert_true(fr_fx_png(rgb, w, h, &po, out, NULL));
        break;
    }
    case C_PNG_LATE: {
        /* eXIf after IDAT: found only by reading to the end. */
        struct fr_fx_png_opts po = {PNG_COLOR_TYPE_RGB, 8, false, false, &exif, true};
        assert_true(fr_fx_png(rgb, w, h, &po, out, NULL));
        uint8_t *idat = memmem(out->data, out->len, "IDAT", 4), *ex = memmem(out->data, out->len, "eXIf", 4);
        assert_true(idat && ex && ex > idat);
        break;
    }
    case C_WEBP:
    case C_WEBP_PREFIXED:
        assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSLESS, 0, &plain));
        if (c == C_WEBP_PREFIXED) {
            /* Some writers keep JPEG's "Exif\0\0" in front of the TIFF data. */
            struct fr_fx_blob pre = {malloc(exif.len + 6), exif.len + 6};
            memcpy(pre.data, "Exif\0\0", 6);
            memcpy(pre.data + 6, exif.data, exif.len);
            fr_fx_blob_free(&exif);
            exif = pre;
        }
        assert_true(fr_fx_webp_add_exif(&plain, &exif, out));
        fr_fx_blob_free(&plain);
        break;
    }
    fr_fx_blob_free(&exif);
}

static void orientation_case(enum container c, const char *name, bool lossy) {
    int w = 48, h = 32; /* not square: 5-8 swap the sides */
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    for (int o = 1; o <= 8; o++) {
        for (int be = 0; be < 2; be++) {
            char what[96];
            snprintf(what, sizeof what, "%s EXIF %s %s", name, be ? "MM" : "II", orient_name(o));
            struct fr_fx_blob b;
            tagged(rgb, w, h, c, o, be, &b);
            int uw, uh;
            uint8_t *up = orient(rgb, w, h, o, &uw, &uh);
            struct fr_decode_params p = full_size();
            struct fr_image *img = decode_ok(&b, &p, what);
            want_size(img, uw, uh, uw, uh, what);
            if (img->orientation != o) fail_msg("%s: orientation %d reported", what, img->orientation);
            if (lossy)
                want_close(img, up, LOSSY_MAE_JPEG, what);
            else
                want_exact(img, up, 0, what);
            fr_image_free(img);
            /* apply_orientation = false: the pixels as stored. */
            p.apply_orientation = false;
            strncat(what, ", not applied", sizeof what - strlen(what) - 1);
            img = decode_ok(&b, &p, what);
            want_size(img, w, h, w, h, what);
            if (lossy)
                want_close(img, rgb, LOSSY_MAE_JPEG, what);
            else
                want_exact(img, rgb, 0, what);
            fr_image_free(img);
            free(up);
            fr_fx_blob_free(&b);
        }
    }
    free(rgb);
}

static void test_orientation_jpeg(void **state) {
    (void)state;
    orientation_case(C_JPEG, "JPEG", true);
}

static void test_orientation_png(void **state) {
    (void)state;
    orientation_case(C_PNG, "PNG eXIf", false);
    orientation_case(C_PNG_LATE, "PNG eXIf after IDAT", false);
}

static void test_orientation_webp(void **state) {
    (void)state;
    orientation_case(C_WEBP, "WebP EXIF", false);
    orientation_case(C_WEBP_PREFIXED, "WebP EXIF with Exif\\0\\0", false);
}

static void heif_orientation(enum fr_fx_heif_codec c) {
    const char *name = c == FR_FX_HEIC ? "HEIC" : "AVIF";
    int w = 48, h = 32;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_decode_params p = full_size();
    for (int o = 1; o <= 8; o++) {
        char what[96];
        snprintf(what, sizeof what, "%s irot/imir %s", name, orient_name(o));
        struct fr_fx_blob b;
        if (!heif_or_skip(rgb, w, h, c, o, false, &b)) {
            free(rgb);
            skip();
        }
        int uw, uh;
        uint8_t *up = orient(rgb, w, h, o, &uw, &uh);
        struct fr_image *img = decode_ok(&b, &p, what);
        want_size(img, uw, uh, uw, uh, what);
        want_close(img, up, LOSSY_MAE_HEIF, what);
        fr_image_free(img);
        free(up);
        fr_fx_blob_free(&b);
    }
    free(rgb);
}

static void test_orientation_heic(void **state) {
    (void)state;
    heif_orientation(FR_FX_HEIC);
}

static void test_orientation_avif(void **state) {
    (void)state;
    heif_orientation(FR_FX_AVIF);
}

/* ---- detection by magic bytes -------------------------------------------- */


static void test_load_by_magic(void **state) {
    (void)state;
    int w = 40, h = 30;
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_fx_blob webp, png, jpeg, heic = {NULL, 0};
    assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSLESS, 0, &webp));
    struct fr_fx_png_opts po = {PNG_COLOR_TYPE_RGB, 8, false, false, NULL, false};
    assert_true(fr_fx_png(rgb, w, h, &po, &png, NULL));
    assert_true(fr_fx_jpeg(rgb, w, h, 95, TJSAMP_420, 0, &jpeg));
    bool have_heic = heif_or_skip(rgb, w, h, FR_FX_HEIC, 1, false, &heic);
    const struct {
        const struct fr_fx_blob *b;
        const char *file;
        enum fr_image_format f;
    } cases[] = {{&webp, "webp-named.jpg", FR_FORMAT_WEBP},
                 {&png, "png-named.jpg", FR_FORMAT_PNG},
                 {&jpeg, "jpeg-named.png", FR_FORMAT_JPEG},
                 {&webp, "no-extension", FR_FORMAT_WEBP},
                 {&heic, "heic-named.webp", FR_FORMAT_HEIF}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].f == FR_FORMAT_HEIF && !have_heic) continue;
        char path[512], err[512] = "";
        snprintf(path, sizeof path, "%s/%s", g_tmp, cases[i].file);
        write_file(path, cases[i].b->data, cases[i].b->len);
        struct fr_image *img = NULL;
        enum fr_status st = fr_image_load(path, NULL, &img, err, sizeof err);
        if (st != FR_OK) fail_msg("%s: %s", path, err);
        want_fmt(img, cases[i].f, cases[i].file);
        want_size(img, w, h, w, h, cases[i].file);
        fr_image_free(img);
    }
    /* Failures name the file first. */
    char path[512], err[512] = "";
    struct fr_image *img = NULL;
    snprintf(path, sizeof path, "%s/missing.jpg", g_tmp);
    assert_int_equal(fr_image_load(path, NULL, &img, err, sizeof err), FR_ERR_IO);
    assert_null(img);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    snprintf(path, sizeof path, "%s/empty.png", g_tmp);
    write_file(path, "", 0);
    assert_int_equal(fr_image_load(path, NULL, &img, err, sizeof err), FR_ERR_IMAGE);
    assert_null(img);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    snprintf(path, sizeof path, "%s/cut.webp", g_tmp);
    write_file(path, webp.data, webp.len / 2);
    assert_int_equal(fr_image_load(path, NULL, &img, err, sizeof err), FR_ERR_IMAGE);
    assert_true(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 4);
    /* A directory is not an image. */
    assert_true(fr_image_load(g_tmp, NULL, &img, err, sizeof err) < 0);
    assert_null(img);
    free(rgb);
    fr_fx_blob_free(&webp);
    fr_fx_blob_free(&png);
    fr_fx_blob_free(&jpeg);
    fr_fx_blob_free(&heic);
}

static void test_unsupported(void **state) {
    (void)state;
    /* The signatures of the formats facerec recognises but does not read. */
    static const uint8_t ico[] = {0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0x68, 4, 0, 0, 0x16, 0, 0, 0};
    static const uint8_t psd[] = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 8, 0, 3};
    static const char pdf[] = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"/>";
    static const char svg_xml[] = "\n<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    const struct {
        const void *data;
        size_t len;
        enum fr_image_format f;
    } cases[] = {
        {pdf, sizeof pdf - 1, FR_FORMAT_PDF}, {psd, sizeof psd, FR_FORMAT_PSD},
        {ico, sizeof ico, FR_FORMAT_ICO},     {svg, sizeof svg - 1, FR_FORMAT_SVG},
        {svg_xml, sizeof svg_xml - 1, FR_FORMAT_SVG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = fr_image_format_name(cases[i].f);
        assert_non_null(name);
        assert_false(fr_image_format_decodable(cases[i].f));
        char err[512];
        enum fr_image_format f = fr_image_sniff(cases[i].data, cases[i].len);
        if (f != cases[i].f) fail_msg("case %zu: sniffed %s, expected %s", i, fr_image_format_name(f), name);
        enum fr_status st = decode_err(cases[i].data, cases[i].len, NULL, err, sizeof err, name);
        if (st != FR_ERR_UNSUPPORTED) fail_msg("%s: %s, expected ERR_UNSUPPORTED", name, fr_status_name(st));
        if (!strcasestr(err, name)) fail_msg("%s: the message does not name the format: \"%s\"", name, err);
    }
    /* GIF, BMP, TIFF and JPEG XL were in that list until issue 17: tiny
     * files of them now decode, and bare headers fail as damaged files. */
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a',  1, 0, 1, 0,   0x80, 0, 0,   0, 0,
                                  0,   255, 255, 255, '!', 0xf9, 4, 1, 0, 0,   0,    0, ',', 0, 0,
                                  0,   0,   1,   0,   1,   0,    0, 2, 2, 'D', 1,    0, ';'};
    static const uint8_t bmp[58] = {'B', 'M', 58,   0,    0, 0, 0, 0, 0,  0, 54, 0, 0, 0, 40, 0, 0,   0, 1,    0,
                                    0,   0,   1,    0,    0, 0, 1, 0, 24, 0, 0,  0, 0, 0, 4,  0, 0,   0, 0x13, 0x0b,
                                    0,   0,   0x13, 0x0b, 0, 0, 0, 0, 0,  0, 0,  0, 0, 0, 0,  0, 255, 0};
    static const uint8_t tiff_le[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t tiff_be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0};
    static const uint8_t jxl_code[] = {0xff, 0x0a, 0xfa, 0x7f, 0x01, 0x90, 0x08, 0x06, 0x01, 0x00};
    static const uint8_t jxl_box[] = {0, 0, 0, 0x0c, 'J', 'X', 'L', ' ', '\r', '\n', 0x87, '\n', 0, 0, 0, 0x14};
    const struct {
        const void *data;
        size_t len;
        enum fr_image_format f;
        bool decodes;
    } read[] = {
        {gif, sizeof gif, FR_FORMAT_GIF, true},           {"GIF87a\1\0\1\0\0\0\0;", 13, FR_FORMAT_GIF, false},
        {bmp, sizeof bmp, FR_FORMAT_BMP, true},           {tiff_le, sizeof tiff_le, FR_FORMAT_TIFF, false},
        {tiff_be, sizeof tiff_be, FR_FORMAT_TIFF, false}, {jxl_code, sizeof jxl_code, FR_FORMAT_JXL, false},
        {jxl_box, sizeof jxl_box, FR_FORMAT_JXL, false},
    };
    for (size_t i = 0; i < sizeof read / sizeof read[0]; i++) {
        const char *name = fr_image_format_name(read[i].f);
        assert_true(fr_image_format_decodable(read[i].f));
        enum fr_image_format f = fr_image_sniff(read[i].data, read[i].len);
        if (f != read[i].f) fail_msg("case %zu: sniffed %s, expected %s", i, fr_image_format_name(f), name);
        char err[512];
        if (read[i].decodes) {
            struct fr_fx_blob b = {(uint8_t *)read[i].data, read[i].len};
            struct fr_image *img = decode_ok(&b, NULL, name);
            want_fmt(img, read[i].f, name);
            want_size(img, 1, 1, 1, 1, name);
            fr_image_free(img);
        } else {
            enum fr_status st = decode_err(read[i].data, read[i].len, NULL, err, sizeof err, name);
            if (st != FR_ERR_IMAGE) fail_msg("%s header only: %s (%s), expected ERR_IMAGE", name, fr_status_name(st), err);
        }
    }
    /* Every format has a name; unknown bytes are refused too. */
    for (int f = FR_FORMAT_UNKNOWN; f <= FR_FORMAT_RAW; f++)
        assert_true(fr_image_format_name(f)[0] != 0);
    char err[512];
    static const char junk[] = "this is not an image, only text";
    assert_int_equal(fr_image_sniff(junk, sizeof junk), FR_FORMAT_UNKNOWN);
    decode_err(junk, sizeof junk, NULL, err, sizeof err, "text");
    /* An ISO BMFF file that is neither HEIF nor AVIF (an MP4). */
    static const uint8_t mp4[] = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm',
                                  0, 0, 2, 0,    'i', 's', 'o', 'm', 'm', 'p', '4', '1'};
    assert_int_equal(fr_image_sniff(mp4, sizeof mp4), FR_FORMAT_UNKNOWN);
    decode_err(mp4, sizeof mp4, NULL, err, sizeof err, "mp4");
    /* Folder walks sniff files by their first bytes: a photo is one, this
     * source file and a missing path are not. */
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/test_images/obama.jpg", fr_test_data_dir());
    assert_int_equal(fr_image_sniff_file(path), FR_FORMAT_JPEG);
    assert_int_equal(fr_image_sniff_file(FR_SOURCE_DIR "/tests/test-image.c"), FR_FORMAT_UNKNOWN);
    assert_int_equal(fr_image_sniff_file("/nonexistent/facerec.jpg"), FR_FORMAT_UNKNOWN);
    assert_int_equal(fr_image_sniff_file(NULL), FR_FORMAT_UNKNOWN);
}


/* ---- downscaling ------------------------------------------------------------ */

/* Locates the marker (blue above 200) and maps its box back to original
 * coordinates with x_orig = x * orig_width / width. */
static void marker_maps_back(const struct fr_image *img, int mx0, int my0, int mx1, int my1, const char *what) {
    int x0 = img->width, y0 = img->height, x1 = -1, y1 = -1;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            if (img->data[(size_t)y * img->stride + (size_t)x * 3 + 2] > 200) {
                if (x < x0) x0 = x;
                if (y < y0) y0 = y;
                if (x > x1) x1 = x;
                if (y > y1) y1 = y;
            }
    if (img->width < 16 || img->height < 16) return; /* too small to hold a clean marker */
    assert_true(x1 >= 0);
    double sx = (double)img->orig_width / img->width, sy = (double)img->orig_height / img->height;
    double bx0 = x0 * sx, by0 = y0 * sy, bx1 = (x1 + 1) * sx, by1 = (y1 + 1) * sy;
    /* Edge pixels are blends; allow two output pixels. */
    double tx = 2 * sx, ty = 2 * sy;
    if (fabs(bx0 - mx0) > tx || fabs(by0 - my0) > ty || fabs(bx1 - mx1) > tx || fabs(by1 - my1) > ty)
        fail_msg("%s: marker maps back to [%.0f,%.0f)x[%.0f,%.0f), drawn at [%d,%d)x[%d,%d)", what, bx0, bx1, by0, by1,
                 mx0, mx1, my0, my1);
}

/* The JPEG contract: the longer side lands within [90%, 100%] of the
 * target (a power-of-two DCT factor) or on it exactly (DCT + area resize),
 * and the aspect ratio is kept. */
static void want_jpeg_target(const struct fr_image *img, int ow, int oh, int target, const char *what) {
    int longer = img->width > img->height ? img->width : img->height;
    if (longer > target || longer * 10 < target * 9)
        fail_msg("%s: longer side %d for a target of %d", what, longer, target);
    double want_short = (double)(ow > oh ? oh : ow) * longer / (ow > oh ? ow : oh);
    int shorter = img->width > img->height ? img->height : img->width;
    if (fabs(shorter - want_short) > 1.0)
        fail_msg("%s: %dx%d does not keep the aspect of %dx%d", what, img->width, img->height, ow, oh);
    if ((img->width > img->height) != (ow > oh)) fail_msg("%s: sides swapped", what);
}

static void downscale_jpeg(int w, int h, int o, int target, int want_w, int want_h) {
    char what[128];
    snprintf(what, sizeof what, "JPEG %dx%d orientation %d, max_image_size %d", w, h, o, target);
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_fx_blob b, plain, exif;
    assert_true(fr_fx_jpeg(rgb, w, h, 90, TJSAMP_420, 0, &plain));
    assert_true(fr_fx_exif(o, true, &exif));
    assert_true(fr_fx_jpeg_add_exif(&plain, &exif, &b));
    fr_fx_blob_free(&plain);
    fr_fx_blob_free(&exif);
    struct fr_decode_params p = fr_decode_default_params();
    p.max_image_size = target;
    double t0 = fr_time_now();
    struct fr_image *img = decode_ok(&b, &p, what);
    double ms = (fr_time_now() - t0) * 1e3;
    int uw, uh;
    uint8_t *up = orient(rgb, w, h, o, &uw, &uh);
    if (g_verbose) printf("  %-44s -> %dx%d in %.1f ms\n", what, img->width, img->height, ms);
    want_size(img, img->width, img->height, uw, uh, what);
    if (want_w)
        want_size(img, want_w, want_h, uw, uh, what);
    else
        want_jpeg_target(img, uw, uh, target, what);
    uint8_t *ref = area_ref(up, uw, uh, img->width, img->height);
    want_close(img, ref, RESIZE_MAE + LOSSY_MAE_JPEG, what);
    int mx0, my0, mx1, my1;
    fr_fx_marker_rect(w, h, &mx0, &my0, &mx1, &my1);
    if (o == 1) marker_maps_back(img, mx0, my0, mx1, my1, what);
    free(ref);
    free(up);
    fr_image_free(img);
    fr_fx_blob_free(&b);
    free(rgb);
}

static void test_downscale_jpeg(void **state) {
    (void)state;
    downscale_jpeg(4000, 3000, 1, 2048, 0, 0);       /* 1/2 DCT: 2000x1500 */
    downscale_jpeg(4096, 3072, 1, 2048, 2048, 1536); /* 1/2 exactly */
    downscale_jpeg(3000, 2000, 1, 2048, 2048, 1365); /* no fast factor: full decode + area */
    downscale_jpeg(4000, 3000, 6, 2048, 0, 0);       /* rotated: 1500x2000 upright */
    downscale_jpeg(640, 480, 1, 100, 100, 75);       /* 1/4 DCT then area */
    downscale_jpeg(640, 480, 8, 100, 75, 100);
    downscale_jpeg(2048, 1000, 1, 2048, 2048, 1000); /* at the limit: untouched */
    downscale_jpeg(4000, 3000, 1, 0, 4000, 3000);    /* 0: never */
}

static void downscale_lossless(bool webp, int w, int h, int o, int target, int want_w, int want_h) {
    char what[128];
    snprintf(what, sizeof what, "%s %dx%d orientation %d, max_image_size %d", webp ? "WebP" : "PNG", w, h, o, target);
    uint8_t *rgb = fr_fx_pattern_rgb(w, h);
    struct fr_fx_blob b, plain, exif;
    assert_true(fr_fx_exif(o, false, &exif));
    if (webp) {
        assert_true(fr_fx_webp(rgb, w, h, FR_FX_WEBP_LOSSLESS, 0, &plain));
        assert_true(fr_fx_webp_add_exif(&plain, &exif, &b));
        fr_fx_blob_free(&plain);
    } else {
        struct fr_fx_png_opts po = {PNG_COLOR_TYPE_RGB, 8, false, false, &exif, false};
        assert_true(fr_fx_png(rgb, w, h, &po, &b, NULL));
    }
    fr_fx_blob_free(&exif);
    struct fr_decode_params p = fr_decode_default_params();
    p.max_image_size = target;
    struct fr_image *img = decode_ok(&b, &p, what);
    int uw, uh;
    uint8_t *up = orient(rgb, w, h, o, &uw, &uh);
    /* Other formats: an area resize to exactly the target, the shorter
     * side rounded. */
    if (abs(img->width - want_w) > (want_w == target ? 0 : 1) || abs(img->height - want_h) > (want_h == target ? 0 : 1))
        fail_msg("%s: %dx%d, expected %dx%d", what, img->width, img->height, want_w, want_h);
    want_size(img, img->width, img->height, uw, uh, what);
    uint8_t *ref = area_ref(up, uw, uh, img->width, img->height);
    want_close(img, ref, 0.6, what); /* exact area average, rounding aside */
    if (o == 1) {
        int mx0, my0, mx1, my1;
        fr_fx_marker_rect(w, h, &mx0, &my0, &mx1, &my1);
        marker_maps_back(img, mx0, my0, mx1, my1, what);
    }
    free(ref);
    free(up);
    fr_image_free(img);
    fr_fx_blob_free(&b);
    free(rgb);
}

static void test_downscale_png_webp(void **state) {
    (void)state;
    downscale_lossless(false, 3000, 2000, 1, 2048, 2048, 1365);
    downscale_lossless(false, 3000, 2000, 6, 2048, 1365, 2048);
    downscale_lossless(false, 2049, 10, 1, 2048, 2048, 10);
    downscale_lossless(false, 2048, 100, 1, 2048, 2048, 100);
    downscale_lossless(false, 640, 480, 1, 100, 100, 75);
    downscale_lossless(false, 5, 3, 1, 1, 1, 1);
    downscale_lossless(true, 3000, 200, 1, 2048, 2048, 137);
    downscale_lossless(true, 640, 480, 5, 64, 48, 64);
    struct fr_fx_blob b;
    uint8_t *rgb = fr_fx_pattern_rgb(64, 48);
    for (int c = 0; c < 2; c++) {
        if (!heif_or_skip(rgb, 64, 48, c, 1, false, &b)) continue;
        struct fr_decode_params p = fr_decode_default_params();
        p.max_image_size = 32;
        struct fr_image *img = decode_ok(&b, &p, "HEIF 64x48 to 32");
        want_size(img, 32, 24, 64, 48, c ? "AVIF 64x48, max_image_size 32" : "HEIC 64x48, max_image_size 32");
        uint8_t *ref = area_ref(rgb, 64, 48, 32, 24);
        want_close(img, ref, LOSSY_MAE_HEIF, "HEIF 64x48 to 32");
        free(ref);
        fr_image_free(img);
        fr_fx_blob_free(&b);
    }
    free(rgb);
}

/* ---- the face_recognition test images -------------------------------------- */

/* libjpeg-turbo's own full-size decode of a file. */
static uint8_t *tj_reference(const char *path, int *w, int *h) {
    size_t n = 0;
    char *buf = fr_test_read_file_len(path, &n);
    assert_non_null(buf);
    tjhandle tj = tjInitDecompress();
    int ss, cs;
    assert_int_equal(tjDecompressHeader3(tj, (uint8_t *)buf, (unsigned long)n, w, h, &ss, &cs), 0);
    uint8_t *px = malloc((size_t)*w * *h * 3);
    assert_int_equal(tjDecompress2(tj, (uint8_t *)buf, (unsigned long)n, px, *w, 0, *h, TJPF_RGB, 0), 0);
    tjDestroy(tj);
    free(buf);
    return px;
}

/* libpng's own read of a file: expanded, 8-bit, alpha stripped. */
static uint8_t *png_reference(const char *path, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("%s: libpng failed", path);
    png_init_io(png, f);
    png_read_png(png, info,
                 PNG_TRANSFORM_EXPAND | PNG_TRANSFORM_STRIP_16 | PNG_TRANSFORM_STRIP_ALPHA | PNG_TRANSFORM_GRAY_TO_RGB,
                 NULL);
    *w = (int)png_get_image_width(png, info), *h = (int)png_get_image_height(png, info);
    png_bytepp rows = png_get_rows(png, info);
    uint8_t *px = malloc((size_t)*w * *h * 3);
    for (int y = 0; y < *h; y++)
        memcpy(px + (size_t)y * *w * 3, rows[y], (size_t)*w * 3);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return px;
}

static void test_testdata(void **state) {
    (void)state;
    static const struct {
        const char *file;
        int w, h;
        enum fr_image_format f;
    } files[] = {{"tests/test_images/obama.jpg", 910, 1137, FR_FORMAT_JPEG},
                 {"tests/test_images/32bit.png", 626, 1200, FR_FORMAT_PNG}};
    for (size_t i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", fr_test_data_dir(), files[i].file);
        int rw, rh;
        uint8_t *ref = files[i].f == FR_FORMAT_JPEG ? tj_reference(path, &rw, &rh) : png_reference(path, &rw, &rh);
        assert_int_equal(rw, files[i].w);
        assert_int_equal(rh, files[i].h);
        for (int def = 0; def < 2; def++) {
            struct fr_decode_params p = def ? fr_decode_default_params() : full_size();
            struct fr_image *img = NULL;
            char err[512];
            if (fr_image_load(path, &p, &img, err, sizeof err) != FR_OK) fail_msg("%s", err);
            want_fmt(img, files[i].f, path);
            want_size(img, files[i].w, files[i].h, files[i].w, files[i].h, path);
            assert_int_equal(img->orientation, 1);
            /* The same pixels as the codec library's own decode. */
            want_exact(img, ref, 0, path);
            fr_image_free(img);
        }
        free(ref);
    }
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, leak_setup, leak_teardown)
    const struct CMUnitTest tests[] = {
        T(test_jpeg_variants),
        T(test_png_variants),
        T(test_webp_variants),
        T(test_heic_variants),
        T(test_avif_variants),
        T(test_orientation_jpeg),
        T(test_orientation_png),
        T(test_orientation_webp),
        T(test_orientation_heic),
        T(test_orientation_avif),
        T(test_load_by_magic),
        T(test_unsupported),
        T(test_downscale_jpeg),
        T(test_downscale_png_webp),
        T(test_testdata),
    };
#undef T
    return fr_imgtest_run("test-image", tests, sizeof tests / sizeof tests[0]);
}
