/* Seed corpus for fuzz-decode: one small file per format and variant,
 * encoded by the codec libraries through tests/image-fixtures.c, plus a few
 * small photos from the face_recognition examples.
 *
 * Usage: gen-corpus OUT_DIR [EXAMPLES_DIR...] */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <turbojpeg.h>

#include "image-fixtures.h"

/* Files from the examples are copied only when smaller than this: the
 * fuzzer's max_len is 256 KiB and small seeds mutate faster. */
#define MAX_EXAMPLE_BYTES (100 * 1024)
#define W 24
#define H 16

static const char *g_out;
static int g_count, g_failed;

static void save(const char *name, const struct fr_fx_blob *b, bool ok) {
    if (!ok) {
        fprintf(stderr, "gen-corpus: could not encode %s\n", name);
        g_failed++;
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_out, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        fprintf(stderr, "gen-corpus: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    g_count++;
}

static void save_free(const char *name, struct fr_fx_blob *b, bool ok) {
    save(name, b, ok);
    fr_fx_blob_free(b);
}

static void jpegs(const uint8_t *rgb) {
    static const struct {
        int samp;
        const char *name;
    } samps[] = {{TJSAMP_444, "444"}, {TJSAMP_422, "422"}, {TJSAMP_420, "420"},
                 {TJSAMP_440, "440"}, {TJSAMP_411, "411"}, {TJSAMP_GRAY, "gray"}};
    struct fr_fx_blob b, e, x;
    char name[128];
    for (size_t i = 0; i < sizeof samps / sizeof samps[0]; i++) {
        for (unsigned prog = 0; prog < 2; prog++) {
            snprintf(name, sizeof name, "jpeg-%s-%s.jpg", samps[i].name, prog ? "progressive" : "baseline");
            save_free(name, &b, fr_fx_jpeg(rgb, W, H, 80, samps[i].samp, prog ? FR_FX_JPEG_PROGRESSIVE : 0, &b));
        }
    }
    save_free("jpeg-ycck.jpg", &b, fr_fx_jpeg(rgb, W, H, 80, TJSAMP_420, FR_FX_JPEG_CMYK, &b));
    save_free("jpeg-ycck-progressive.jpg", &b,
              fr_fx_jpeg(rgb, W, H, 80, TJSAMP_444, FR_FX_JPEG_CMYK | FR_FX_JPEG_PROGRESSIVE, &b));
    for (int o = 2; o <= 8; o += 3) {
        bool ok =
            fr_fx_jpeg(rgb, W, H, 80, TJSAMP_420, 0, &b) && fr_fx_exif(o, o % 2, &e) && fr_fx_jpeg_add_exif(&b, &e, &x);
        snprintf(name, sizeof name, "jpeg-exif-%d.jpg", o);
        save_free(name, &x, ok);
        fr_fx_blob_free(&b);
        fr_fx_blob_free(&e);
    }
    /* A big image whose header alone costs nothing: exercises the limits. */
    bool ok = fr_fx_jpeg(rgb, W, H, 80, TJSAMP_420, 0, &b) && fr_fx_jpeg_set_size(&b, 65000, 65000);
    save_free("jpeg-claim-65000.jpg", &b, ok);
    /* 16x the target on each side: DCT scaling. */
    uint8_t *big = fr_fx_pattern_rgb(320, 200);
    save_free("jpeg-320x200.jpg", &b, big && fr_fx_jpeg(big, 320, 200, 50, TJSAMP_420, 0, &b));
    free(big);
}

static void pngs(const uint8_t *rgb) {
    static const int cases[][2] = {
        {PNG_COLOR_TYPE_GRAY, 1},        {PNG_COLOR_TYPE_GRAY, 2},    {PNG_COLOR_TYPE_GRAY, 4},
        {PNG_COLOR_TYPE_GRAY, 8},        {PNG_COLOR_TYPE_GRAY, 16},   {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 16}, {PNG_COLOR_TYPE_RGB, 8},     {PNG_COLOR_TYPE_RGB, 16},
        {PNG_COLOR_TYPE_RGBA, 8},        {PNG_COLOR_TYPE_RGBA, 16},   {PNG_COLOR_TYPE_PALETTE, 1},
        {PNG_COLOR_TYPE_PALETTE, 2},     {PNG_COLOR_TYPE_PALETTE, 4}, {PNG_COLOR_TYPE_PALETTE, 8}};
    struct fr_fx_blob b, e;
    char name[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int v = 0; v < 3; v++) {
            struct fr_fx_png_opts o = {cases[i][0], cases[i][1], v == 1, v == 2, NULL, false};
            if (o.trns && (o.color_type & PNG_COLOR_MASK_ALPHA)) continue;
            snprintf(name, sizeof name, "png-ct%d-%dbit%s.png", o.color_type, o.bit_depth,
                     v == 1   ? "-trns"
                     : v == 2 ? "-adam7"
                              : "");
            save_free(name, &b, fr_fx_png(rgb, W, H, &o, &b, NULL));
        }
    }
    for (int late = 0; late < 2; late++) {
        bool ok = fr_fx_exif(6, late, &e);
        struct fr_fx_png_opts o = {PNG_COLOR_TYPE_RGB, 8, false, false, &e, late};
        save_free(late ? "png-exif-late.png" : "png-exif.png", &b, ok && fr_fx_png(rgb, W, H, &o, &b, NULL));
        fr_fx_blob_free(&e);
    }
    save_free("png-claim-100000.png", &b, fr_fx_png_claim(100000, 100000, &b));
}

static void webps(const uint8_t *rgb) {
    static const char *const names[] = {"webp-lossy.webp", "webp-lossless.webp", "webp-lossy-alpha.webp",
                                        "webp-lossless-alpha.webp"};
    struct fr_fx_blob b, e, x;
    for (int k = 0; k < 4; k++)
        save_free(names[k], &b, fr_fx_webp(rgb, W, H, (enum fr_fx_webp_kind)k, 70, &b));
    uint8_t *inv = malloc(W * H * 3);
    for (int i = 0; inv && i < W * H * 3; i++)
        inv[i] = (uint8_t)(255 - rgb[i]);
    const uint8_t *frames[2] = {rgb, inv};
    save_free("webp-anim-lossless.webp", &b, inv && fr_fx_webp_anim(frames, 2, W, H, true, &b));
    save_free("webp-anim-lossy.webp", &b, inv && fr_fx_webp_anim(frames, 2, W, H, false, &b));
    free(inv);
    bool ok = fr_fx_webp(rgb, W, H, FR_FX_WEBP_LOSSLESS, 0, &b) && fr_fx_exif(8, false, &e) &&
              fr_fx_webp_add_exif(&b, &e, &x);
    save_free("webp-exif.webp", &x, ok);
    fr_fx_blob_free(&b);
    fr_fx_blob_free(&e);
    save_free("webp-claim-canvas.webp", &b, fr_fx_webp_claim(60000, 60000, &b));
}

static void heifs(const uint8_t *rgb) {
    static const struct {
        enum fr_fx_heif_codec c;
        int orientation;
        bool alpha;
        const char *name;
    } cases[] = {{FR_FX_HEIC, 1, false, "heic.heic"},
                 {FR_FX_HEIC, 6, true, "heic-alpha-irot.heic"},
                 {FR_FX_AVIF, 1, false, "avif.avif"},
                 {FR_FX_AVIF, 5, true, "avif-alpha-imir.avif"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fr_fx_blob b;
        char why[256];
        if (fr_fx_heif(rgb, W, H, cases[i].c, 50, cases[i].orientation, cases[i].alpha, &b, why, sizeof why))
            save_free(cases[i].name, &b, true);
        else
            fprintf(stderr, "gen-corpus: skipping %s: %s\n", cases[i].name, why);
    }
}

/* Issue 17's formats: JPEG XL, TIFF, GIF, BMP and camera RAW (DNG), in
 * their variants, plus header bombs. */
static void more_formats(const uint8_t *rgb) {
    struct fr_fx_blob b;
    char name[128];
    static const char *const jxl[] = {"lossy", "lossless8", "lossless16", "float", "linear16", "gray"};
    for (int k = 0; k < 6; k++) {
        snprintf(name, sizeof name, "jxl-%s.jxl", jxl[k]);
        save_free(name, &b, fr_fx_jxl(rgb, W, H, (enum fr_fx_jxl_kind)k, k == 2 ? 6 : 1, &b));
    }
    save_free("jxl-claim-100000.jxl", &b, fr_fx_jxl_claim(100000, 100000, &b));
    static const struct {
        struct fr_fx_tiff_opts o;
        const char *name;
    } tiffs[] = {
        {{.compression = COMPRESSION_NONE}, "tiff-rgb8.tif"},
        {{.compression = COMPRESSION_LZW, .orientation = 6}, "tiff-lzw-orient6.tif"},
        {{.compression = COMPRESSION_ADOBE_DEFLATE, .tiled = true}, "tiff-deflate-tiled.tif"},
        {{.compression = COMPRESSION_PACKBITS, .bits = 16, .big_endian = true}, "tiff-packbits-16-mm.tif"},
        {{.photometric = PHOTOMETRIC_MINISBLACK}, "tiff-gray.tif"},
        {{.photometric = PHOTOMETRIC_PALETTE, .extra_pages = 1}, "tiff-palette-2pages.tif"},
        {{.photometric = PHOTOMETRIC_SEPARATED}, "tiff-cmyk.tif"},
        {{.compression = COMPRESSION_JPEG}, "tiff-jpeg.tif"},
        {{.alpha = true}, "tiff-rgba.tif"},
    };
    for (size_t i = 0; i < sizeof tiffs / sizeof tiffs[0]; i++)
        save_free(tiffs[i].name, &b, fr_fx_tiff(rgb, W, H, &tiffs[i].o, &b, NULL));
    bool ok = fr_fx_tiff(rgb, W, H, &tiffs[0].o, &b, NULL) && fr_fx_tiff_set_size(&b, 100000, 100000);
    save_free("tiff-claim-100000.tif", &b, ok);
    struct fr_fx_blob icc, t;
    struct fr_fx_tiff_opts ti = {.icc = &icc};
    ok = fr_fx_icc(FR_FX_ICC_P3, &icc);
    save_free("tiff-icc-p3.tif", &b, ok && fr_fx_tiff(rgb, W, H, &ti, &b, NULL));
    ok = ok && fr_fx_jpeg(rgb, W, H, 80, TJSAMP_420, 0, &t);
    save_free("jpeg-icc-p3.jpg", &b, ok && fr_fx_jpeg_add_icc(&t, &icc, &b));
    fr_fx_blob_free(&t);
    fr_fx_blob_free(&icc);
    static const struct {
        struct fr_fx_gif_opts o;
        const char *name;
    } gifs[] = {
        {{0}, "gif.gif"},
        {{.interlace = true, .transparent = true}, "gif-interlaced-transparent.gif"},
        {{.extra_frames = 2, .left = 3, .top = 2}, "gif-animated-offset.gif"},
    };
    for (size_t i = 0; i < sizeof gifs / sizeof gifs[0]; i++)
        save_free(gifs[i].name, &b, fr_fx_gif(rgb, W, H, &gifs[i].o, &b, NULL));
    ok = fr_fx_gif(rgb, W, H, &gifs[0].o, &b, NULL) && fr_fx_gif_set_size(&b, 65535, 65535);
    save_free("gif-claim-65535.gif", &b, ok);
    static const struct {
        struct fr_fx_bmp_opts o;
        const char *name;
    } bmps[] = {
        {{.bpp = 24}, "bmp-24.bmp"},           {{.bpp = 32, .bitfields = true, .v5 = true}, "bmp-32-v5.bmp"},
        {{.bpp = 16}, "bmp-16.bmp"},           {{.bpp = 16, .bitfields = true}, "bmp-565.bmp"},
        {{.bpp = 8, .rle = true}, "bmp-rle8.bmp"}, {{.bpp = 4, .rle = true, .top_down = false}, "bmp-rle4.bmp"},
        {{.bpp = 1}, "bmp-1.bmp"},             {{.bpp = 8, .core = true}, "bmp-core-8.bmp"},
        {{.bpp = 24, .top_down = true}, "bmp-24-topdown.bmp"},
    };
    for (size_t i = 0; i < sizeof bmps / sizeof bmps[0]; i++)
        save_free(bmps[i].name, &b, fr_fx_bmp(rgb, W, H, &bmps[i].o, &b, NULL));
    /* DNGs: one whose preview is used (max_image_size below its size in
     * most fuzz runs), one demosaiced. Small: libraw is slow per call. */
    save_free("dng-preview.dng", &b, fr_fx_dng(rgb, W, H, rgb, W, H, 6, &b));
    uint8_t *tiny = fr_fx_pattern_rgb(4, 3);
    save_free("dng-demosaic.dng", &b, tiny && fr_fx_dng(rgb, W, H, tiny, 4, 3, 1, &b));
    free(tiny);
}

/* Headers of formats facerec names but does not decode, and bare
 * signatures of ones it does. */
static void others(void) {
    static const struct {
        const char *name;
        const char *data;
        size_t len;
    } cases[] = {
        {"gif-1x1.gif", "GIF89a\1\0\1\0\0\0\0,\0\0\0\0\1\0\1\0\0\2\2D\1\0;", 26},
        {"bmp-header.bmp", "BM:\0\0\0\0\0\0\0006\0\0\0(\0\0\0\1\0\0\0\1\0\0\0\1\0\30\0", 30},
        {"tiff-header.tif", "II*\0\10\0\0\0\0\0\0\0", 12},
        {"raf-signature.raf", "FUJIFILMCCD-RAW 0201", 20},
        {"svg.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 41},
        {"heic-ftyp-only.heic", "\0\0\0\20ftypheic\0\0\0\0", 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fr_fx_blob b = {(uint8_t *)cases[i].data, cases[i].len};
        save(cases[i].name, &b, true);
    }
}

static void examples(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "gen-corpus: no examples at %s, continuing without\n", dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png"))) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_EXAMPLE_BYTES) continue;
        FILE *f = fopen(path, "rb");
        struct fr_fx_blob b = {malloc((size_t)st.st_size), (size_t)st.st_size};
        bool ok = f && b.data && fread(b.data, 1, b.len, f) == b.len;
        if (f) fclose(f);
        char name[300];
        snprintf(name, sizeof name, "example-%s", e->d_name);
        save_free(name, &b, ok);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT_DIR [EXAMPLES_DIR...]\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    if (mkdir(g_out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen-corpus: cannot create %s: %s\n", g_out, strerror(errno));
        return 1;
    }
    uint8_t *rgb = fr_fx_pattern_rgb(W, H);
    if (!rgb) return 1;
    jpegs(rgb);
    pngs(rgb);
    webps(rgb);
    heifs(rgb);
    more_formats(rgb);
    others();
    for (int i = 2; i < argc; i++)
        examples(argv[i]);
    free(rgb);
    printf("gen-corpus: %d files in %s\n", g_count, g_out);
    return g_failed ? 1 : 0;
}
