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

/* Headers of formats facerec names but does not decode. */
static void others(void) {
    static const struct {
        const char *name;
        const char *data;
        size_t len;
    } cases[] = {
        {"gif.gif", "GIF89a\1\0\1\0\0\0\0,\0\0\0\0\1\0\1\0\0\2\2D\1\0;", 26},
        {"bmp.bmp", "BM:\0\0\0\0\0\0\0006\0\0\0(\0\0\0\1\0\0\0\1\0\0\0\1\0\30\0", 30},
        {"tiff.tif", "II*\0\10\0\0\0\0\0\0\0", 12},
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
    others();
    for (int i = 2; i < argc; i++)
        examples(argv[i]);
    free(rgb);
    printf("gen-corpus: %d files in %s\n", g_count, g_out);
    return g_failed ? 1 : 0;
}
