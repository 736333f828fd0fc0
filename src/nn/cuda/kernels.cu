/* The CUDA kernels of the backend (see kernels.h): elementwise epilogue,
 * explicit padding, pooling, the padded shortcut add and the net-input
 * preparation (uint8 crop -> resized, normalised float). Each thread
 * computes one output element; the ops are memory-bound and small next to
 * the convolutions, so plain grid-stride loops are enough. */
#include <cuda_runtime.h>

#include "kernels.h"

#define FR_BLOCK 256

static unsigned grid_for(int64_t n) {
    int64_t g = (n + FR_BLOCK - 1) / FR_BLOCK;
    /* Grid-stride loops cover the rest; 65535 blocks keep every arch busy. */
    return (unsigned)(g < 1 ? 1 : (g > 65535 ? 65535 : g));
}

__device__ static inline float act_of(float v, int32_t act, float alpha) {
    switch (act) {
    case FR__K_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case FR__K_ACT_RELU6: return fminf(fmaxf(v, 0.0f), 6.0f);
    case FR__K_ACT_LEAKY: return v > 0.0f ? v : alpha * v;
    default: return v;
    }
}

__global__ static void k_bias_act(float *y, const float *x, const float *bias, const float *z, int64_t n, int32_t c,
                                  int32_t act, float alpha) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        if (bias) v += bias[i % c];
        if (z) v += z[i];
        y[i] = act_of(v, act, alpha);
    }
}

__global__ static void k_pad(float *dst, const float *src, int32_t n, int32_t h, int32_t w, int32_t c, int32_t ph,
                             int32_t pw, int32_t pt, int32_t pl) {
    int64_t total = (int64_t)n * ph * pw * c;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int32_t ch = (int32_t)(i % c);
        int64_t r = i / c;
        int32_t x = (int32_t)(r % pw) - pl;
        r /= pw;
        int32_t y = (int32_t)(r % ph) - pt;
        int64_t b = r / ph;
        dst[i] = (y >= 0 && y < h && x >= 0 && x < w) ? src[((b * h + y) * w + x) * c + ch] : 0.0f;
    }
}

__global__ static void k_pool(float *dst, const float *src, int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh,
                              int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt, int32_t pl,
                              int32_t is_max) {
    int64_t total = (int64_t)n * oh * ow * c;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int32_t ch = (int32_t)(i % c);
        int64_t r = i / c;
        int32_t ox = (int32_t)(r % ow);
        r /= ow;
        int32_t oy = (int32_t)(r % oh);
        int64_t b = r / oh;
        float m = -INFINITY, s = 0.0f;
        int32_t cnt = 0;
        for (int32_t ky = 0; ky < kh; ky++) {
            int32_t iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) continue;
            for (int32_t kx = 0; kx < kw; kx++) {
                int32_t ix = ox * sw - pl + kx;
                if (ix < 0 || ix >= w) continue;
                float v = src[((b * h + iy) * w + ix) * c + ch];
                m = fmaxf(m, v);
                s += v;
                cnt++;
            }
        }
        dst[i] = is_max ? m : (cnt ? s / (float)cnt : 0.0f);
    }
}

__global__ static void k_pad_add(float *out, const float *a, const float *bb, int32_t n, int32_t oh, int32_t ow,
                                 int32_t oc, int32_t ah, int32_t aw, int32_t ac, int32_t bh, int32_t bw, int32_t bc,
                                 int32_t act, float alpha) {
    int64_t total = (int64_t)n * oh * ow * oc;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int32_t ch = (int32_t)(i % oc);
        int64_t r = i / oc;
        int32_t x = (int32_t)(r % ow);
        r /= ow;
        int32_t y = (int32_t)(r % oh);
        int64_t b = r / oh;
        float v = 0.0f;
        if (ch < ac && y < ah && x < aw) v += a[((b * ah + y) * aw + x) * ac + ch];
        if (ch < bc && y < bh && x < bw) v += bb[((b * bh + y) * bw + x) * bc + ch];
        out[i] = act_of(v, act, alpha);
    }
}

extern "C" int fr__cuk_bias_act(void *stream, float *y, const float *x, const float *bias, const float *z, int64_t n,
                                int32_t c, int32_t act, float alpha) {
    k_bias_act<<<grid_for(n), FR_BLOCK, 0, (cudaStream_t)stream>>>(y, x, bias, z, n, c, act, alpha);
    return (int)cudaGetLastError();
}

extern "C" int fr__cuk_pad(void *stream, float *dst, const float *src, int32_t n, int32_t h, int32_t w, int32_t c,
                           int32_t pt, int32_t pb, int32_t pl, int32_t pr) {
    int32_t ph = h + pt + pb, pw = w + pl + pr;
    k_pad<<<grid_for((int64_t)n * ph * pw * c), FR_BLOCK, 0, (cudaStream_t)stream>>>(dst, src, n, h, w, c, ph, pw,
                                                                                       pt, pl);
    return (int)cudaGetLastError();
}

extern "C" int fr__cuk_pool(void *stream, float *dst, const float *src, int32_t n, int32_t h, int32_t w, int32_t c,
                            int32_t oh, int32_t ow, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt,
                            int32_t pl, int32_t is_max) {
    k_pool<<<grid_for((int64_t)n * oh * ow * c), FR_BLOCK, 0, (cudaStream_t)stream>>>(dst, src, n, h, w, c, oh, ow, kh,
                                                                                       kw, sh, sw, pt, pl, is_max);
    return (int)cudaGetLastError();
}

extern "C" int fr__cuk_pad_add(void *stream, float *out, const float *a, const float *b, int32_t n, int32_t oh,
                               int32_t ow, int32_t oc, int32_t ah, int32_t aw, int32_t ac, int32_t bh, int32_t bw,
                               int32_t bc, int32_t act, float alpha) {
    k_pad_add<<<grid_for((int64_t)n * oh * ow * oc), FR_BLOCK, 0, (cudaStream_t)stream>>>(
        out, a, b, n, oh, ow, oc, ah, aw, ac, bh, bw, bc, act, alpha);
    return (int)cudaGetLastError();
}

/* One thread per output pixel (three channels): a pixel's four taps are
 * neighbours in the crop, so the reads of a warp stay in a few rows. */
__global__ static void k_prep(float *dst, const uint8_t *src, struct fr__k_prep k) {
    int64_t total = (int64_t)k.out_w * k.out_h;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        fr__k_prep_pixel(&k, src, (int32_t)(i % k.out_w), (int32_t)(i / k.out_w), dst + i * 3);
}

extern "C" int fr__cuk_prep(void *stream, float *dst, const uint8_t *src, const struct fr__k_prep *k) {
    k_prep<<<grid_for((int64_t)k->out_w * k->out_h), FR_BLOCK, 0, (cudaStream_t)stream>>>(dst, src, *k);
    return (int)cudaGetLastError();
}
