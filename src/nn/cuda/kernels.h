/* The few CUDA kernels neither cuDNN nor cuBLAS provides (kernels.cu).
 *
 * All tensors are plain NHWC float32 in device memory. Each launcher
 * enqueues one kernel on `stream` (a cudaStream_t passed as void * so that
 * this header needs no CUDA include) and returns the launch's cudaError_t
 * as an int: 0 is success. Launchers never synchronize. */
#pragma once

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation codes, equal to enum fr_act (checked in backend-cuda.c). */
enum { FR__K_ACT_NONE = 0, FR__K_ACT_RELU = 1, FR__K_ACT_RELU6 = 2, FR__K_ACT_LEAKY = 3 };

/* y[i] = act(x[i] + bias[i % c] + z[i]); bias and z may be NULL; y may be x.
 * The epilogue of convolutions and FC layers cuDNN cannot fuse, and ACT. */
int fr__cuk_bias_act(void *stream, float *y, const float *x, const float *bias, const float *z, int64_t n,
                     int32_t c, int32_t act, float alpha);

/* dst [n][h + pt + pb][w + pl + pr][c] = src zero-padded (explicit
 * asymmetric padding in front of a cuDNN convolution). */
int fr__cuk_pad(void *stream, float *dst, const float *src, int32_t n, int32_t h, int32_t w, int32_t c, int32_t pt,
                int32_t pb, int32_t pl, int32_t pr);

/* Max or average pooling with explicit asymmetric padding; the average is
 * over the window's in-bounds elements (TF 'same'). Global average pooling
 * is the window kh = h, kw = w. */
int fr__cuk_pool(void *stream, float *dst, const float *src, int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh,
                 int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t is_max);

/* out [n][oh][ow][oc] = act(a zero-padded + b zero-padded). */
int fr__cuk_pad_add(void *stream, float *out, const float *a, const float *b, int32_t n, int32_t oh, int32_t ow,
                    int32_t oc, int32_t ah, int32_t aw, int32_t ac, int32_t bh, int32_t bw, int32_t bc, int32_t act,
                    float alpha);

/* ---- net-input preparation (uint8 RGB -> float NHWC) ----
 *
 * The per-pixel arithmetic is here, as static inline functions that nvcc
 * compiles for the device and gcc for the host, so that the kernel and the
 * plain-C emulation of cuda-plan.c (which the tests compare with the host
 * path of src/face/face.c) are one piece of code. It is TensorFlow's legacy
 * bilinear of src/image/resize.c on doubles, stored as float32, then the
 * float32 normalisation of struct fr_prep_params (src/nn/prep.h). */

#ifdef __CUDACC__
#define FR__HD __host__ __device__
#else
#define FR__HD
#endif

/* On the device every operation is spelled as a correctly rounded
 * intrinsic: nvcc would otherwise contract a * b + c into one FMA and the
 * result would differ from the host's in the last bit. The host build is ISO
 * C17, where gcc does not contract. */
#ifdef __CUDA_ARCH__
#define FR__DADD(a, b) __dadd_rn((a), (b))
#define FR__DSUB(a, b) __dsub_rn((a), (b))
#define FR__DMUL(a, b) __dmul_rn((a), (b))
#define FR__FSUB(a, b) __fsub_rn((a), (b))
#define FR__FDIV(a, b) __fdiv_rn((a), (b))
#else
#define FR__DADD(a, b) ((a) + (b))
#define FR__DSUB(a, b) ((a) - (b))
#define FR__DMUL(a, b) ((a) * (b))
#define FR__FSUB(a, b) ((a) - (b))
#define FR__FDIV(a, b) ((a) / (b))
#endif

/* Kernel parameters for one image (fr__cuda_prep_plan in cuda-plan.c). The
 * crop is on the device packed: src_w * 3 bytes per row, src_h rows. */
struct fr__k_prep {
    int32_t src_w, src_h;       /* the crop */
    int32_t off_x, off_y;       /* its place on the canvas */
    int32_t canvas_w, canvas_h; /* the zero canvas */
    int32_t out_w, out_h;
    double rx, ry; /* canvas_w / out_w and canvas_h / out_h, in double */
    float sub[3], div, post;
};

/* Source position of output index i along an axis of n canvas pixels: the
 * floor and ceil neighbours (ceil clamped to the last pixel) and the
 * fraction between them (src_pos of resize.c). */
FR__HD static inline void fr__k_src_pos(double ratio, int32_t i, int32_t n, int32_t *lo, int32_t *hi, double *frac) {
    double f = FR__DMUL(ratio, (double)i);
    *lo = (int32_t)floor(f);
    if (*lo < 0) *lo = 0;
    *frac = FR__DSUB(f, (double)*lo);
    *hi = (int32_t)ceil(f);
    if (*hi > n - 1) *hi = n - 1;
}

/* Channel c of canvas pixel (cx, cy): the crop's byte or 0 on the padding. */
FR__HD static inline double fr__k_canvas_px(const struct fr__k_prep *k, const uint8_t *src, int32_t cx, int32_t cy,
                                            int c) {
    int32_t x = cx - k->off_x, y = cy - k->off_y;
    if (x < 0 || x >= k->src_w || y < 0 || y >= k->src_h) return 0.0;
    return (double)src[((size_t)y * (size_t)k->src_w + (size_t)x) * 3 + (size_t)c];
}

/* The three normalised floats of output pixel (col, row). */
FR__HD static inline void fr__k_prep_pixel(const struct fr__k_prep *k, const uint8_t *src, int32_t col, int32_t row,
                                           float *out) {
    int32_t x0, x1, y0, y1;
    double xf, yf;
    fr__k_src_pos(k->rx, col, k->canvas_w, &x0, &x1, &xf);
    fr__k_src_pos(k->ry, row, k->canvas_h, &y0, &y1, &yf);
    for (int c = 0; c < 3; c++) {
        double tl = fr__k_canvas_px(k, src, x0, y0, c), tr = fr__k_canvas_px(k, src, x1, y0, c);
        double bl = fr__k_canvas_px(k, src, x0, y1, c), br = fr__k_canvas_px(k, src, x1, y1, c);
        double top = FR__DADD(tl, FR__DMUL(FR__DSUB(tr, tl), xf));
        double bot = FR__DADD(bl, FR__DMUL(FR__DSUB(br, bl), xf));
        float v = (float)FR__DADD(top, FR__DMUL(FR__DSUB(bot, top), yf));
        out[c] = FR__FSUB(FR__FDIV(FR__FSUB(v, k->sub[c]), k->div), k->post);
    }
}

/* dst [out_h][out_w][3] = the prepared image; src is the packed crop in
 * device memory. */
int fr__cuk_prep(void *stream, float *dst, const uint8_t *src, const struct fr__k_prep *k);

#ifdef __cplusplus
}
#endif
