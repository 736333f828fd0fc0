/* Resize kernels: area (box-filter) downscaling for decoded photos, and
 * TensorFlow's legacy bilinear for net inputs. */
#include "resize.h"

#include <math.h>
#include <string.h>

/* ---- area resize ----
 *
 * Each output pixel averages the source rectangle it covers, with
 * fractional weights at the edges (OpenCV's INTER_AREA). Separable: a
 * precomputed table of (first source index, weights) per output column and
 * per output row; every source row is filtered horizontally into a float
 * row, and the rows are blended vertically. The inner loops run over
 * contiguous floats so the compiler vectorises them. */

struct taps {
    int32_t *first;  /* first source index per output index */
    int32_t *count;  /* number of taps */
    float *w;        /* weights, `stride` per output index */
    int32_t stride;
};

static bool make_taps(int32_t src, int32_t dst, struct taps *t) {
    double scale = (double)src / dst;
    t->stride = (int32_t)ceil(scale) + 2;
    t->first = fr_malloc(sizeof(int32_t) * (size_t)dst);
    t->count = fr_malloc(sizeof(int32_t) * (size_t)dst);
    t->w = fr_calloc((size_t)dst * (size_t)t->stride, sizeof(float));
    if (!t->first || !t->count || !t->w) return false;
    for (int32_t o = 0; o < dst; o++) {
        double a = o * scale, b = (o + 1) * scale;
        int32_t i0 = (int32_t)floor(a), i1 = (int32_t)ceil(b);
        if (i1 > src) i1 = src;
        t->first[o] = i0;
        t->count[o] = 0;
        for (int32_t i = i0; i < i1; i++) {
            double cover = fmin(b, i + 1.0) - fmax(a, (double)i);
            if (cover <= 0) continue;
            t->w[(size_t)o * t->stride + (i - i0)] = (float)(cover / scale);
            t->count[o] = i - i0 + 1;
        }
    }
    return true;
}

static void free_taps(struct taps *t) {
    fr_free(t->first);
    fr_free(t->count);
    fr_free(t->w);
}

/* One source row, horizontally filtered into dst (dw * 3 floats). */
static void filter_row(const uint8_t *src, const struct taps *tx, int32_t dw, float *dst) {
    for (int32_t o = 0; o < dw; o++) {
        const uint8_t *s = src + (size_t)tx->first[o] * 3;
        const float *w = tx->w + (size_t)o * tx->stride;
        float r = 0, g = 0, b = 0;
        for (int32_t k = 0; k < tx->count[o]; k++) {
            r += w[k] * s[k * 3];
            g += w[k] * s[k * 3 + 1];
            b += w[k] * s[k * 3 + 2];
        }
        dst[o * 3] = r, dst[o * 3 + 1] = g, dst[o * 3 + 2] = b;
    }
}

struct fr_image *fr_image_resize_area(const struct fr_image *src, int32_t dw, int32_t dh) {
    if (dw <= 0 || dh <= 0) return NULL;
    struct fr_image *dst = fr_image_new(dw, dh);
    struct taps tx = { 0 }, ty = { 0 };
    size_t rowf = (size_t)dw * 3;
    float *acc = fr_malloc(sizeof(float) * rowf * 2);
    bool ok = dst && acc && make_taps(src->width, dw, &tx) && make_taps(src->height, dh, &ty);
    if (ok) {
        float *row = acc + rowf;
        /* Output rows share at most one source row with the next; refilter
         * it rather than keep a cache (it costs ~1/scale extra). */
        for (int32_t oy = 0; oy < dh; oy++) {
            memset(acc, 0, sizeof(float) * rowf);
            const float *wy = ty.w + (size_t)oy * ty.stride;
            for (int32_t k = 0; k < ty.count[oy]; k++) {
                filter_row(src->data + (size_t)(ty.first[oy] + k) * src->stride, &tx, dw, row);
                float wk = wy[k];
                for (size_t i = 0; i < rowf; i++) acc[i] += wk * row[i];
            }
            uint8_t *d = dst->data + (size_t)oy * dst->stride;
            for (size_t i = 0; i < rowf; i++) {
                float v = acc[i] + 0.5f;
                d[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
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
