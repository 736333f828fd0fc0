/* Scenes for multi-scale detection (see tile-scenes.h). */
#include "tile-scenes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct src_photo {
    struct fr_image *img;
    int32_t n;
    float box[8][4]; /* faces found at full size, in the photo's pixels */
};

#define N_SOURCES 12

struct scene_sources {
    struct src_photo s[N_SOURCES];
    int32_t n;
};

static const char *const source_files[N_SOURCES] = {
    "samples/sample1.jpg", "samples/sample2.jpg", "samples/sample3.jpg", "samples/sample4.jpg",
    "samples/sample5.jpg", "samples/sample6.jpg", "examples/obama.jpg", "examples/biden.jpg",
    "examples/two_people.jpg", "examples/knn_examples/test/kit_with_rose.jpg",
    "examples/knn_examples/test/obama_and_biden.jpg", "examples/lin-manuel-miranda.png",
};

struct scene_sources *scene_sources_load(struct fr_facenet *fn, const char *data_dir, const char *models_dir) {
    struct scene_sources *ss = calloc(1, sizeof(*ss));
    if (!ss) return NULL;
    for (int i = 0; i < N_SOURCES; i++) {
        char path[1024], err[256];
        if (!strncmp(source_files[i], "samples/", 8)) snprintf(path, sizeof path, "%s/%s", models_dir, source_files[i]);
        else snprintf(path, sizeof path, "%s/%s", data_dir, source_files[i]);
        struct fr_decode_params dp = fr_decode_default_params();
        dp.max_image_size = 0;
        struct src_photo *p = &ss->s[ss->n];
        if (fr_image_load(path, &dp, &p->img, err, sizeof err) != FR_OK) {
            fprintf(stderr, "scene: %s\n", err);
            continue;
        }
        const struct fr_image *imgs[1] = { p->img };
        struct fr_faces f;
        if (fr_facenet_process(fn, imgs, 1, &f, err, sizeof err) != FR_OK || f.count == 0) {
            fr_image_free(p->img);
            p->img = NULL;
            continue;
        }
        for (int32_t k = 0; k < f.count && p->n < 8; k++) memcpy(p->box[p->n++], f.faces[k].box, sizeof p->box[0]);
        fr_faces_clear(&f);
        ss->n++;
    }
    return ss;
}

void scene_sources_free(struct scene_sources *ss) {
    if (!ss) return;
    for (int i = 0; i < ss->n; i++) fr_image_free(ss->s[i].img);
    free(ss);
}

void scene_free(struct scene *sc) {
    fr_image_free(sc->img);
    sc->img = NULL;
}

/* ---- drawing ---- */

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void put(struct fr_image *d, int32_t x, int32_t y, int r, int g, int b) {
    if (x < 0 || y < 0 || x >= d->width || y >= d->height) return;
    uint8_t *p = d->data + (size_t)y * d->stride + (size_t)x * 3;
    p[0] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
    p[1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
    p[2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
}

/* A soft two-colour gradient with a little noise: a wall, a sky. */
static void fill_gradient(struct fr_image *d, uint32_t seed, int noise) {
    uint32_t s = seed;
    int r0 = 60 + (int)(lcg(&s) % 150), g0 = 60 + (int)(lcg(&s) % 150), b0 = 60 + (int)(lcg(&s) % 150);
    int r1 = 60 + (int)(lcg(&s) % 150), g1 = 60 + (int)(lcg(&s) % 150), b1 = 60 + (int)(lcg(&s) % 150);
    for (int32_t y = 0; y < d->height; y++)
        for (int32_t x = 0; x < d->width; x++) {
            double t = (x + y) / (double)(d->width + d->height);
            int n = noise ? (int)(lcg(&s) % (2 * noise + 1)) - noise : 0;
            put(d, x, y, (int)(r0 + (r1 - r0) * t) + n, (int)(g0 + (g1 - g0) * t) + n, (int)(b0 + (b1 - b0) * t) + n);
        }
}

/* The rectangle [sx, sy, sw, sh] of src, scaled by k (box filter when
 * shrinking), pasted with its top-left corner at (dx, dy). */
static void blit(struct fr_image *d, const struct fr_image *src, double sx, double sy, double sw, double sh, double k,
                 int32_t dx, int32_t dy) {
    int32_t w = (int32_t)(sw * k), h = (int32_t)(sh * k);
    double f = 1.0 / k;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            double ax = sx + x * f, ay = sy + y * f;
            int32_t x0 = (int32_t)ax, y0 = (int32_t)ay;
            int32_t x1 = (int32_t)(ax + f), y1 = (int32_t)(ay + f);
            if (x1 <= x0) x1 = x0 + 1;
            if (y1 <= y0) y1 = y0 + 1;
            int acc[3] = { 0, 0, 0 }, n = 0;
            for (int32_t yy = y0; yy < y1; yy++)
                for (int32_t xx = x0; xx < x1; xx++) {
                    if (xx < 0 || yy < 0 || xx >= src->width || yy >= src->height) continue;
                    const uint8_t *p = src->data + (size_t)yy * src->stride + (size_t)xx * 3;
                    acc[0] += p[0], acc[1] += p[1], acc[2] += p[2], n++;
                }
            if (n) put(d, dx + x, dy + y, acc[0] / n, acc[1] / n, acc[2] / n);
        }
}

static void rect(struct fr_image *d, int32_t x, int32_t y, int32_t w, int32_t h, int r, int g, int b) {
    for (int32_t yy = y; yy < y + h; yy++)
        for (int32_t xx = x; xx < x + w; xx++) put(d, xx, yy, r, g, b);
}

/* Pastes face `face` of source photo p with a margin of `margin` box
 * widths around it, the face box scaled to `size` decoded pixels and
 * centred on (cx, cy); records its box in original pixels. */
static void paste_face(struct scene *sc, const struct src_photo *p, int face, double size, double cx, double cy,
                       double margin) {
    const float *b = p->box[face];
    double k = size / b[2];
    double mw = b[2] * margin, mh = b[3] * margin;
    double sx = fmax(0, b[0] - mw), sy = fmax(0, b[1] - mh);
    double ex = fmin(p->img->width, b[0] + b[2] + mw), ey = fmin(p->img->height, b[1] + b[3] + mh);
    int32_t dx = (int32_t)(cx - (b[0] + b[2] / 2 - sx) * k), dy = (int32_t)(cy - (b[1] + b[3] / 2 - sy) * k);
    blit(sc->img, p->img, sx, sy, ex - sx, ey - sy, k, dx, dy);
    if (sc->n_truth >= SCENE_MAX_FACES) return;
    double o = (double)sc->img->orig_width / sc->img->width;
    float *t = sc->truth[sc->n_truth++];
    t[0] = (float)((dx + (b[0] - sx) * k) * o), t[1] = (float)((dy + (b[1] - sy) * k) * o);
    t[2] = (float)(b[2] * k * o), t[3] = (float)(b[3] * k * o);
}

static struct fr_image *canvas(int32_t ow, int32_t oh, int32_t max_side) {
    double k = fmax(ow, oh) > max_side ? (double)max_side / fmax(ow, oh) : 1.0;
    struct fr_image *img = fr_image_new((int32_t)lround(ow * k), (int32_t)lround(oh * k));
    if (img) img->orig_width = ow, img->orig_height = oh;
    return img;
}

/* ---- scenes ---- */

static void make_phone(struct scene *sc, const struct scene_sources *ss) {
    /* Six photos in a 3x2 grid, each as large as its cell allows, as a
     * phone would see a wall of prints. */
    sc->img = canvas(4032, 3024, 2048);
    if (!sc->img) return;
    fill_gradient(sc->img, 7, 3);
    double cw = sc->img->width / 3.0, ch = sc->img->height / 2.0;
    for (int i = 0; i < 6 && i < ss->n; i++) {
        const struct src_photo *p = &ss->s[i];
        double k = fmin(cw * 0.96 / p->img->width, ch * 0.96 / p->img->height);
        double x0 = (i % 3) * cw + (cw - p->img->width * k) / 2, y0 = (i / 3) * ch + (ch - p->img->height * k) / 2;
        blit(sc->img, p->img, 0, 0, p->img->width, p->img->height, k, (int32_t)x0, (int32_t)y0);
        double o = (double)sc->img->orig_width / sc->img->width;
        for (int f = 0; f < p->n && sc->n_truth < SCENE_MAX_FACES; f++) {
            float *t = sc->truth[sc->n_truth++];
            t[0] = (float)(((int32_t)x0 + p->box[f][0] * k) * o), t[1] = (float)(((int32_t)y0 + p->box[f][1] * k) * o);
            t[2] = (float)(p->box[f][2] * k * o), t[3] = (float)(p->box[f][3] * k * o);
        }
    }
}

static void make_crowd(struct scene *sc, const struct scene_sources *ss, int variant, int n, double lo, double hi) {
    /* n faces of lo..hi px on a grid with jitter, like rows of people in a
     * group photo. */
    sc->img = canvas(1280, 926, 2048);
    if (!sc->img) return;
    fill_gradient(sc->img, 11 + (uint32_t)variant, 4);
    uint32_t s = 1234u + (uint32_t)variant * 77u;
    int cols = (int)ceil(sqrt(n * 1.4)), rows = (n + cols - 1) / cols;
    double cw = sc->img->width / (double)cols, ch = sc->img->height / (double)rows;
    int k = variant;
    for (int i = 0; i < n; i++) {
        const struct src_photo *p = &ss->s[(k++) % ss->n];
        int face = (int)(lcg(&s) % (uint32_t)p->n);
        double size = lo + (hi > lo ? lcg(&s) % (uint32_t)(hi - lo + 1) : 0);
        double jx = cw * 0.1, jy = ch * 0.08;
        double cx = (i % cols + 0.5) * cw + ((int)(lcg(&s) % 1000) / 1000.0 - 0.5) * 2 * jx;
        double cy = (i / cols + 0.5) * ch + ((int)(lcg(&s) % 1000) / 1000.0 - 0.5) * 2 * jy;
        paste_face(sc, p, face, size, cx, cy, 0.6);
    }
}

struct scene scene_crowd(const struct scene_sources *ss, int variant, int n, double lo, double hi) {
    struct scene sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.name, sizeof sc.name, "crowd%d-%g-%g", variant, lo, hi);
    if (ss && ss->n >= 6 && n <= SCENE_MAX_FACES) make_crowd(&sc, ss, variant, n, lo, hi);
    return sc;
}

static void make_border(struct scene *sc, const struct scene_sources *ss) {
    /* A 300 px face on the middle of the frame, where 2x2 tiles meet, and
     * four 40 px faces near the corners. */
    sc->img = canvas(2000, 1500, 2048);
    if (!sc->img) return;
    fill_gradient(sc->img, 3, 3);
    paste_face(sc, &ss->s[6 % ss->n], 0, 300, 1000, 750, 0.5);
    const double at[4][2] = { { 250, 250 }, { 1750, 250 }, { 250, 1250 }, { 1750, 1250 } };
    for (int i = 0; i < 4; i++) paste_face(sc, &ss->s[i % ss->n], 0, 40, at[i][0], at[i][1], 0.6);
}

static void make_noface(struct scene *sc, int variant) {
    sc->img = canvas(3000, 2000, 2048);
    if (!sc->img) return;
    struct fr_image *d = sc->img;
    uint32_t s = 99u + (uint32_t)variant;
    switch (variant % 4) {
    case 0: /* a landscape: sky, hills, a lake */
        fill_gradient(d, 21, 2);
        for (int32_t x = 0; x < d->width; x++) {
            int32_t hill = (int32_t)(d->height * (0.55 + 0.08 * sin(x / 180.0) + 0.04 * sin(x / 47.0)));
            for (int32_t y = hill; y < d->height; y++) put(d, x, y, 40 + (y - hill) / 12, 90 + (x + y) % 23, 40);
        }
        rect(d, d->width / 5, d->height * 3 / 4, d->width / 2, d->height / 8, 60, 90, 150);
        break;
    case 1: /* sensor noise on grey */
        for (int32_t y = 0; y < d->height; y++)
            for (int32_t x = 0; x < d->width; x++) {
                int v = 128 + (int)(lcg(&s) % 61) - 30;
                put(d, x, y, v, v + (int)(lcg(&s) % 9) - 4, v);
            }
        break;
    case 2: /* a page of text: lines of glyph-like strokes */
        rect(d, 0, 0, d->width, d->height, 245, 245, 240);
        for (int32_t y = 40; y + 24 < d->height; y += 36)
            for (int32_t x = 40; x + 20 < d->width - 40;) {
                int32_t wl = 3 + (int32_t)(lcg(&s) % 8);
                for (int32_t c = 0; c < wl && x + 14 < d->width - 40; c++, x += 14) {
                    rect(d, x, y + (int32_t)(lcg(&s) % 6), 2, 14 + (int32_t)(lcg(&s) % 8), 20, 20, 20);
                    rect(d, x + 2, y + 6, 7, 2, 20, 20, 20);
                    if (lcg(&s) % 2) rect(d, x + 8, y + 4, 2, 12, 20, 20, 20);
                    if (lcg(&s) % 3 == 0) rect(d, x + 2, y + 16, 7, 2, 20, 20, 20);
                }
                x += 14;
            }
        break;
    default: /* a plot: axes, grid, curves and markers */
        rect(d, 0, 0, d->width, d->height, 255, 255, 255);
        for (int32_t x = 100; x < d->width; x += 150) rect(d, x, 50, 1, d->height - 150, 220, 220, 220);
        for (int32_t y = 50; y < d->height - 100; y += 120) rect(d, 100, y, d->width - 150, 1, 220, 220, 220);
        rect(d, 100, d->height - 100, d->width - 150, 3, 0, 0, 0);
        rect(d, 100, 50, 3, d->height - 150, 0, 0, 0);
        for (int c = 0; c < 3; c++)
            for (int32_t x = 100; x < d->width - 50; x++) {
                int32_t y = (int32_t)(d->height / 2 + (d->height / 4) * sin(x / (120.0 + c * 70)) * (c + 1) / 3.0);
                rect(d, x, y, 2, 3, c == 0 ? 200 : 30, c == 1 ? 150 : 30, c == 2 ? 200 : 30);
                if (x % 90 == 0) rect(d, x - 5, y - 5, 11, 11, 30, 30, 30);
            }
        break;
    }
}

struct scene scene_make(const struct scene_sources *ss, const char *kind, int variant) {
    struct scene sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.name, sizeof sc.name, "%s%d", kind, variant);
    if (!strcmp(kind, "noface")) make_noface(&sc, variant);
    else if (!ss || ss->n < 6) return sc;
    else if (!strcmp(kind, "phone")) make_phone(&sc, ss);
    else if (!strcmp(kind, "crowd")) make_crowd(&sc, ss, variant, 29, 20, 35);
    else if (!strcmp(kind, "border")) make_border(&sc, ss);
    return sc;
}

/* ---- scoring ---- */

static double iou(const float *a, const float *b) {
    double iw = fmin(a[0] + a[2], b[0] + b[2]) - fmax(a[0], b[0]);
    double ih = fmin(a[1] + a[3], b[1] + b[3]) - fmax(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    double inter = iw * ih;
    return inter / ((double)a[2] * a[3] + (double)b[2] * b[3] - inter);
}

static bool one_face(const float *a, const float *b) {
    double iw = fmin(a[0] + a[2], b[0] + b[2]) - fmax(a[0], b[0]);
    double ih = fmin(a[1] + a[3], b[1] + b[3]) - fmax(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return false;
    double inter = iw * ih;
    return iou(a, b) > 0.3 || inter / fmin((double)a[2] * a[3], (double)b[2] * b[3]) > 0.5;
}

struct scene_score scene_score(const struct scene *sc, const struct fr_faces *f) {
    struct scene_score r = { .truth = sc->n_truth, .found = f->count };
    bool used[1024] = { false };
    for (int32_t t = 0; t < sc->n_truth; t++) {
        int32_t best = -1;
        double bi = 0.3;
        for (int32_t k = 0; k < f->count && k < 1024; k++)
            if (!used[k] && iou(sc->truth[t], f->faces[k].box) >= bi) best = k, bi = iou(sc->truth[t], f->faces[k].box);
        if (best >= 0) used[best] = true, r.matched++;
    }
    for (int32_t k = 0; k < f->count && k < 1024; k++) r.extra += !used[k];
    for (int32_t a = 0; a < f->count; a++)
        for (int32_t b = a + 1; b < f->count; b++) r.duplicates += one_face(f->faces[a].box, f->faces[b].box);
    return r;
}

int scene_sources_count(const struct scene_sources *ss) { return ss ? ss->n : 0; }
