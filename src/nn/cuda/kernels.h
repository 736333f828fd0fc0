/* The few CUDA kernels neither cuDNN nor cuBLAS provides (kernels.cu).
 *
 * All tensors are plain NHWC float32 in device memory. Each launcher
 * enqueues one kernel on `stream` (a cudaStream_t passed as void * so that
 * this header needs no CUDA include) and returns the launch's cudaError_t
 * as an int: 0 is success. Launchers never synchronize. */
#pragma once

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

#ifdef __cplusplus
}
#endif
