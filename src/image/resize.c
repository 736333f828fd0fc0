/* Resize kernels. */
#include "resize.h"

#include <math.h>

/* Canvas pixel (cx, cy), channel c: the crop pixel under it or 0. */
static inline float canvas_px(const struct fr_canvas *cv, int32_t cx, int32_t cy, int32_t c) {
    int32_t x = cx - cv->off_x, y = cy - cv->off_y;
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h) return 0.0f;
    return cv->img->data[(size_t)(cv->y + y) * cv->img->stride + (size_t)(cv->x + x) * 3 + (size_t)c];
}

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

void fr__resize_bilinear_tf(const struct fr_canvas *cv, int32_t out_w, int32_t out_h, float *dst) {
    /* Same arithmetic as tfjs' CPU kernel (doubles, result stored as
     * float32): src = dst * (in / out), then lerp along x and along y. */
    double ry = (double)cv->canvas_h / out_h, rx = (double)cv->canvas_w / out_w;
    for (int32_t r = 0; r < out_h; r++) {
        int32_t y0, y1;
        double yf;
        src_pos(ry, r, cv->canvas_h, &y0, &y1, &yf);
        float *row = dst + (size_t)r * out_w * 3;
        for (int32_t col = 0; col < out_w; col++) {
            int32_t x0, x1;
            double xf;
            src_pos(rx, col, cv->canvas_w, &x0, &x1, &xf);
            for (int32_t c = 0; c < 3; c++) {
                double tl = canvas_px(cv, x0, y0, c), tr = canvas_px(cv, x1, y0, c);
                double bl = canvas_px(cv, x0, y1, c), br = canvas_px(cv, x1, y1, c);
                double top = tl + (tr - tl) * xf, bot = bl + (br - bl) * xf;
                row[col * 3 + c] = (float)(top + (bot - top) * yf);
            }
        }
    }
}
