/* Internal interface of the search module: the distance kernels (one set per
 * instruction set, chosen at run time) and a test hook to force one. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "facerec/search.h"

/* Rows are padded to a multiple of 16 floats (64 bytes) and of 64 int8
 * bytes, so the kernels never need a tail loop. */
#define FR__SEARCH_ALIGN_FLOATS 16
#define FR__SEARCH_ALIGN_BYTES 64

enum fr__search_isa {
    FR__SEARCH_SCALAR = 0, /* portable C; the only one on non-x86 */
    FR__SEARCH_AVX2 = 1,   /* AVX2 + FMA */
    FR__SEARCH_AVX512 = 2, /* AVX-512 F, BW and VNNI */
};

struct fr__search_kernels {
    enum fr__search_isa isa;
    const char *name;
    /* out[i] = sum_j (x[i*stride + j] - q[j])^2 for i < n; stride (floats)
     * is a multiple of 16, q and x are 64-byte aligned and zero-padded. */
    void (*l2)(const float *q, const float *x, size_t stride, size_t n, float *out);
    /* out[i] = sum_j x[i*stride + j] * q[j] for i < n, x unsigned (the int8
     * value + 128), q signed; stride (bytes) is a multiple of 64. */
    void (*dot8)(const int8_t *q, const uint8_t *x, size_t stride, size_t n, int32_t *out);
};

/* The best instruction set this CPU supports (and this build has). */
enum fr__search_isa fr__search_best_isa(void);
/* The kernels of isa; NULL when this CPU or build cannot run them. */
const struct fr__search_kernels *fr__search_kernels_get(enum fr__search_isa isa);
/* Test and benchmark hook: make s use isa's kernels. FR_ERR_UNSUPPORTED when
 * the CPU cannot run them (s is then unchanged). Not thread-safe with queries. */
enum fr_status fr__search_set_isa(struct fr_search *s, enum fr__search_isa isa);
/* The instruction set s uses. */
enum fr__search_isa fr__search_get_isa(const struct fr_search *s);
