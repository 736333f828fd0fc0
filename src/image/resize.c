/* Resize kernels: area (box-filter) downscaling for decoded photos, and
 * TensorFlow's legacy bilinear for net inputs. */
#include "resize.h"

#include <math.h>
#include <string.h>

/* ---- area resize ----
 *
 * Each output pixel averages the source rectangle it covers, with
 * fractional weights at the edges (OpenCV's INTER_AREA). Separable, with
 * precomputed taps (first source index and weights) per output row and
 * column. Vertical first: the few source rows of an output row are blended
 * into one float row over the full source width - a long contiguous loop
 * the compiler vectorises - then that row is filtered horizontally. */

struct taps {
    int32_t *first; /* first source index per output index */
    int32_t *count; /* number of taps */
    float *w;       /* weights, `stride` per output index, zero-padded */
    int32_t stride; /* taps per output index after padding: the maximum count */
};

static bool make_taps(int32_t src, int32_t dst, struct taps *t) {
    double scale = (double)src / dst;
    int32_t cap = (int32_t)ceil(scale) + 2;
    t->first = fr_malloc(sizeof(int32_t) * (size_t)dst);
    t->count = fr_malloc(sizeof(int32_t) * (size_t)dst);
    float *w = fr_calloc((size_t)dst * (size_t)cap, sizeof(float));
    t->w = w;
    if (!t->first || !t->count || !w) return false;
    int32_t maxc = 1;
    for (int32_t o = 0; o < dst; o++) {
        double a = o * scale, b = (o + 1) * scale;
        int32_t i0 = (int32_t)floor(a), i1 = (int32_t)ceil(b);
        if (i1 > src) i1 = src;
        t->first[o] = i0;
        t->count[o] = 0;
        for (int32_t i = i0; i < i1; i++) {
            double cover = fmin(b, i + 1.0) - fmax(a, (double)i);
            if (cover <= 0) continue;
            w[(size_t)o * cap + (i - i0)] = (float)(cover / scale);
            t->count[o] = i - i0 + 1;
        }
        if (t->count[o] > maxc) maxc = t->count[o];
    }
    /* Repack to a fixed tap count so the inner loops have a constant trip
     * count; windows that would run past the end are shifted left with
     * leading zero weights. */
    FR_ASSERT(maxc <= cap && maxc <= src);
    float *tmp = fr_malloc(sizeof(float) * (size_t)maxc);
    if (!tmp) return false;
    for (int32_t o = 0; o < dst; o++) {
        int32_t c = t->count[o], shift = t->first[o] + maxc > src ? t->first[o] + maxc - src : 0;
        memset(tmp, 0, sizeof(float) * (size_t)maxc);
        for (int32_t k = 0; k < c; k++) tmp[k + shift] = w[(size_t)o * cap + k];
        t->first[o] -= shift;
        t->count[o] = maxc;
        /* Rows are repacked in increasing o, so row o's new slot never
         * overlaps the not-yet-read old rows (maxc <= cap). */
        memcpy(w + (size_t)o * maxc, tmp, sizeof(float) * (size_t)maxc);
    }
    fr_free(tmp);
    t->stride = maxc;
    return true;
}

static void free_taps(struct taps *t) {
    fr_free(t->first);
    fr_free(t->count);
    fr_free(t->w);
}

/* Cloned per ISA (ifunc): the row blend is where the pixels are. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void blend_rows(const struct fr_image *src, const struct taps *ty, int32_t oy, float *acc, size_t n) {
    const float *wy = ty->w + (size_t)oy * ty->stride;
    const uint8_t *r0 = src->data + (size_t)ty->first[oy] * src->stride;
    float w0 = wy[0];
    for (size_t i = 0; i < n; i++) acc[i] = w0 * (float)r0[i];
    for (int32_t k = 1; k < ty->count[oy]; k++) {
        const uint8_t *r = r0 + (size_t)k * src->stride;
        float wk = wy[k];
        for (size_t i = 0; i < n; i++) acc[i] += wk * (float)r[i];
    }
}

static inline uint8_t to_u8(float v) {
    v += 0.5f;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over one blended row; T is the (constant) tap count. */
#define FILTER_COLS(T)                                                          \
    for (int32_t ox = 0; ox < dw; ox++) {                                       \
        const float *s = acc + (size_t)tx->first[ox] * 3;                       \
        const float *w = tx->w + (size_t)ox * (T);                              \
        float r = 0, g = 0, b = 0;                                              \
        for (int32_t k = 0; k < (T); k++) {                                     \
            r += w[k] * s[k * 3];                                               \
            g += w[k] * s[k * 3 + 1];                                           \
            b += w[k] * s[k * 3 + 2];                                           \
        }                                                                       \
        d[ox * 3] = to_u8(r), d[ox * 3 + 1] = to_u8(g), d[ox * 3 + 2] = to_u8(b); \
    }

__attribute__((target_clones("avx512f", "avx2", "default"))) static void filter_cols(const float *acc, const struct taps *tx, int32_t dw, uint8_t *d) {
    switch (tx->stride) {
    case 1: FILTER_COLS(1) break;
    case 2: FILTER_COLS(2) break;
    case 3: FILTER_COLS(3) break;
    case 4: FILTER_COLS(4) break;
    default: FILTER_COLS(tx->stride) break;
    }
}

struct fr_image *fr_image_resize_area(const struct fr_image *src, int32_t dw, int32_t dh) {
    if (dw <= 0 || dh <= 0) return NULL;
    struct fr_image *dst = fr_image_new(dw, dh);
    struct taps tx = { 0 }, ty = { 0 };
    size_t n = (size_t)src->width * 3;
    float *acc = fr_malloc(sizeof(float) * n);
    bool ok = dst && acc && make_taps(src->width, dw, &tx) && make_taps(src->height, dh, &ty);
    if (ok) {
        for (int32_t oy = 0; oy < dh; oy++) {
            blend_rows(src, &ty, oy, acc, n);
            uint8_t *d = dst->data + (size_t)oy * dst->stride;
            filter_cols(acc, &tx, dw, d);
        }
        dst->orig_width = src->orig_width;
        dst->orig_height = src->orig_height;
        dst->format = src->format;
        dst->orientation = src->orientation;
    } else {
        fr_image_free(dst);
        dst = NULL;
    }
    free_taps(&tx);
    free_taps(&ty);
    fr_free(acc);
    return dst;
}

/* ---- TensorFlow legacy bilinear over a zero-padded canvas ---- */

/* Source position of output index i: floor/ceil neighbours (clamped to the
 * last pixel) and the fraction between them. */
static inline void src_pos(double ratio, int32_t i, int32_t n, int32_t *lo, int32_t *hi, double *frac) {
    double f = ratio * i;
    *lo = (int32_t)floor(f);
    if (*lo < 0) *lo = 0;
    *frac = f - *lo;
    *hi = (int32_t)ceil(f);
    if (*hi > n - 1) *hi = n - 1;
}

/* Byte offset of canvas column cx inside a crop row, or -1 on padding. */
static inline int64_t col_off(const struct fr_canvas *cv, int32_t cx) {
    int32_t x = cx - cv->off_x;
    return x < 0 || x >= cv->w ? -1 : (int64_t)(cv->x + x) * 3;
}

/* Canvas row cy as a pointer into the image, or NULL on padding. */
static inline const uint8_t *row_ptr(const struct fr_canvas *cv, int32_t cy) {
    int32_t y = cy - cv->off_y;
    return y < 0 || y >= cv->h ? NULL : cv->img->data + (size_t)(cv->y + y) * cv->img->stride;
}

static inline double px(const uint8_t *row, int64_t off, int c) { return row && off >= 0 ? row[off + c] : 0.0; }

void fr__resize_bilinear_tf(const struct fr_canvas *cv, int32_t out_w, int32_t out_h, float *dst) {
    /* Same arithmetic as tfjs' CPU kernel (doubles, result stored as
     * float32): src = dst * (in / out), then lerp along x and along y.
     * Column taps are computed once, not per row. */
    double ry = (double)cv->canvas_h / out_h, rx = (double)cv->canvas_w / out_w;
    int64_t *xo = fr_malloc(sizeof(int64_t) * 2 * (size_t)out_w);
    double *xf = fr_malloc(sizeof(double) * (size_t)out_w);
    if (!xo || !xf) {
        /* Tiny buffers; fall back to computing taps inline. */
        fr_free(xo);
        fr_free(xf);
        xo = NULL;
        xf = NULL;
    }
    for (int32_t col = 0; xo && col < out_w; col++) {
        int32_t x0, x1;
        src_pos(rx, col, cv->canvas_w, &x0, &x1, &xf[col]);
        xo[col * 2] = col_off(cv, x0);
        xo[col * 2 + 1] = col_off(cv, x1);
    }
    for (int32_t r = 0; r < out_h; r++) {
        int32_t y0, y1;
        double yf;
        src_pos(ry, r, cv->canvas_h, &y0, &y1, &yf);
        const uint8_t *r0 = row_ptr(cv, y0), *r1 = row_ptr(cv, y1);
        float *o = dst + (size_t)r * out_w * 3;
        for (int32_t col = 0; col < out_w; col++) {
            int64_t a, b;
            double f;
            if (xo) {
                a = xo[col * 2], b = xo[col * 2 + 1], f = xf[col];
            } else {
                int32_t x0, x1;
                src_pos(rx, col, cv->canvas_w, &x0, &x1, &f);
                a = col_off(cv, x0), b = col_off(cv, x1);
            }
            for (int c = 0; c < 3; c++) {
                double tl = px(r0, a, c), tr = px(r0, b, c), bl = px(r1, a, c), br = px(r1, b, c);
                double top = tl + (tr - tl) * f, bot = bl + (br - bl) * f;
                o[col * 3 + c] = (float)(top + (bot - top) * yf);
            }
        }
    }
    fr_free(xo);
    fr_free(xf);
}
