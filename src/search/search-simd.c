/* The search module's distance kernels: portable C, AVX2 and AVX-512.
 *
 * The SIMD kernels are compiled with per-function target attributes rather
 * than global -m flags, so one binary runs on any x86-64 and picks the best
 * set at run time with __builtin_cpu_supports. A full scan is memory-bound
 * (512 bytes per 128-float row), so the kernels aim at keeping several
 * independent rows in flight rather than at clever arithmetic. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/search-impl.h"

#if defined(__x86_64__) || defined(__i386__)
#define FR_SEARCH_X86 1
#include <immintrin.h>
#endif

/* ---- portable C ---------------------------------------------------------- */

static void l2_scalar(const float *q, const float *x, size_t stride, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * stride;
        /* Four partial sums break the dependency chain of one accumulator. */
        float a[4] = {0, 0, 0, 0};
        for (size_t j = 0; j < stride; j += 4)
            for (size_t t = 0; t < 4; t++) {
                float d = r[j + t] - q[j + t];
                a[t] += d * d;
            }
        out[i] = (a[0] + a[1]) + (a[2] + a[3]);
    }
}

static void dot8_scalar(const int8_t *q, const uint8_t *x, size_t stride, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = x + i * stride;
        int32_t a = 0;
        for (size_t j = 0; j < stride; j++) a += (int32_t)r[j] * q[j];
        out[i] = a;
    }
}

#ifdef FR_SEARCH_X86

/* ---- AVX2 + FMA ---------------------------------------------------------- */

#define FR_AVX2 __attribute__((target("avx2,fma")))

FR_AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

FR_AVX2 static inline int32_t hsum256i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

FR_AVX2 static void l2_avx2(const float *q, const float *x, size_t stride, size_t n, float *out) {
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const float *r0 = x + i * stride, *r1 = r0 + stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        for (size_t j = 0; j < stride; j += 16) {
            __m256 q0 = _mm256_load_ps(q + j), q1 = _mm256_load_ps(q + j + 8);
            __m256 d;
            d = _mm256_sub_ps(_mm256_load_ps(r0 + j), q0), a0 = _mm256_fmadd_ps(d, d, a0);
            d = _mm256_sub_ps(_mm256_load_ps(r0 + j + 8), q1), b0 = _mm256_fmadd_ps(d, d, b0);
            d = _mm256_sub_ps(_mm256_load_ps(r1 + j), q0), a1 = _mm256_fmadd_ps(d, d, a1);
            d = _mm256_sub_ps(_mm256_load_ps(r1 + j + 8), q1), b1 = _mm256_fmadd_ps(d, d, b1);
        }
        out[i] = hsum256(_mm256_add_ps(a0, b0));
        out[i + 1] = hsum256(_mm256_add_ps(a1, b1));
    }
    for (; i < n; i++) {
        const float *r = x + i * stride;
        __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
        for (size_t j = 0; j < stride; j += 16) {
            __m256 d = _mm256_sub_ps(_mm256_load_ps(r + j), _mm256_load_ps(q + j));
            a = _mm256_fmadd_ps(d, d, a);
            d = _mm256_sub_ps(_mm256_load_ps(r + j + 8), _mm256_load_ps(q + j + 8));
            b = _mm256_fmadd_ps(d, d, b);
        }
        out[i] = hsum256(_mm256_add_ps(a, b));
    }
}

/* AVX2 has no unsigned x signed byte product without saturation (vpmaddubsw
 * saturates at 255 * 127 * 2), so bytes are widened to 16 bits and
 * multiplied with vpmaddwd, which is exact. */
FR_AVX2 static void dot8_avx2(const int8_t *q, const uint8_t *x, size_t stride, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = x + i * stride;
        __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
        for (size_t j = 0; j < stride; j += 32) {
            __m256i x0 = _mm256_cvtepu8_epi16(_mm_load_si128((const __m128i *)(r + j)));
            __m256i x1 = _mm256_cvtepu8_epi16(_mm_load_si128((const __m128i *)(r + j + 16)));
            __m256i q0 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(q + j)));
            __m256i q1 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(q + j + 16)));
            a = _mm256_add_epi32(a, _mm256_madd_epi16(x0, q0));
            b = _mm256_add_epi32(b, _mm256_madd_epi16(x1, q1));
        }
        out[i] = hsum256i(_mm256_add_epi32(a, b));
    }
}

/* ---- AVX-512 ------------------------------------------------------------- */

#define FR_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Four rows at a time: four independent FMA chains hide the FMA latency
 * and give the prefetcher four streams' worth of outstanding loads. */
FR_AVX512 static void l2_avx512(const float *q, const float *x, size_t stride, size_t n, float *out) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *r0 = x + i * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (size_t j = 0; j < stride; j += 16) {
            __m512 qv = _mm512_load_ps(q + j);
            __m512 d0 = _mm512_sub_ps(_mm512_load_ps(r0 + j), qv);
            __m512 d1 = _mm512_sub_ps(_mm512_load_ps(r1 + j), qv);
            __m512 d2 = _mm512_sub_ps(_mm512_load_ps(r2 + j), qv);
            __m512 d3 = _mm512_sub_ps(_mm512_load_ps(r3 + j), qv);
            a0 = _mm512_fmadd_ps(d0, d0, a0);
            a1 = _mm512_fmadd_ps(d1, d1, a1);
            a2 = _mm512_fmadd_ps(d2, d2, a2);
            a3 = _mm512_fmadd_ps(d3, d3, a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        const float *r = x + i * stride;
        __m512 a = _mm512_setzero_ps();
        for (size_t j = 0; j < stride; j += 16) {
            __m512 d = _mm512_sub_ps(_mm512_load_ps(r + j), _mm512_load_ps(q + j));
            a = _mm512_fmadd_ps(d, d, a);
        }
        out[i] = _mm512_reduce_add_ps(a);
    }
}

/* vpdpbusd multiplies unsigned by signed bytes, which is why the rows are
 * stored as value + 128: the query stays signed and the offset is removed
 * once per query (128 * sum(q)) instead of once per row. */
FR_AVX512 static void dot8_avx512(const int8_t *q, const uint8_t *x, size_t stride, size_t n, int32_t *out) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *r0 = x + i * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        __m512i a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
        for (size_t j = 0; j < stride; j += 64) {
            __m512i qv = _mm512_load_si512((const void *)(q + j));
            a0 = _mm512_dpbusd_epi32(a0, _mm512_load_si512((const void *)(r0 + j)), qv);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_load_si512((const void *)(r1 + j)), qv);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_load_si512((const void *)(r2 + j)), qv);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_load_si512((const void *)(r3 + j)), qv);
        }
        out[i] = _mm512_reduce_add_epi32(a0);
        out[i + 1] = _mm512_reduce_add_epi32(a1);
        out[i + 2] = _mm512_reduce_add_epi32(a2);
        out[i + 3] = _mm512_reduce_add_epi32(a3);
    }
    for (; i < n; i++) {
        const uint8_t *r = x + i * stride;
        __m512i a = _mm512_setzero_si512();
        for (size_t j = 0; j < stride; j += 64)
            a = _mm512_dpbusd_epi32(a, _mm512_load_si512((const void *)(r + j)),
                                    _mm512_load_si512((const void *)(q + j)));
        out[i] = _mm512_reduce_add_epi32(a);
    }
}

#endif /* FR_SEARCH_X86 */

static const struct fr__search_kernels k_scalar = {FR__SEARCH_SCALAR, "scalar", l2_scalar, dot8_scalar};
#ifdef FR_SEARCH_X86
static const struct fr__search_kernels k_avx2 = {FR__SEARCH_AVX2, "avx2", l2_avx2, dot8_avx2};
static const struct fr__search_kernels k_avx512 = {FR__SEARCH_AVX512, "avx512", l2_avx512, dot8_avx512};
#endif

static bool isa_supported(enum fr__search_isa isa) {
    switch (isa) {
    case FR__SEARCH_SCALAR: return true;
#ifdef FR_SEARCH_X86
    case FR__SEARCH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FR__SEARCH_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    default: return false;
    }
}

enum fr__search_isa fr__search_best_isa(void) {
    if (isa_supported(FR__SEARCH_AVX512)) return FR__SEARCH_AVX512;
    if (isa_supported(FR__SEARCH_AVX2)) return FR__SEARCH_AVX2;
    return FR__SEARCH_SCALAR;
}

const struct fr__search_kernels *fr__search_kernels_get(enum fr__search_isa isa) {
    if (!isa_supported(isa)) return NULL;
    switch (isa) {
#ifdef FR_SEARCH_X86
    case FR__SEARCH_AVX2: return &k_avx2;
    case FR__SEARCH_AVX512: return &k_avx512;
#endif
    default: return &k_scalar;
    }
}
