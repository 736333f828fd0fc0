/* Reproducible random data for the tests and benchmarks (test-search.c,
 * test-image-damage.c, bench/bench-search.c): xorshift64 with one stream
 * per program, so a run draws the same data every time. A program may
 * set fr_test_rng to reseed it (a test that wants the same vector twice
 * does). */
#pragma once

#include <stdint.h>

static uint64_t fr_test_rng = 0x2545f4914f6cdd1dull;

static inline uint64_t fr_test_rnd(void) {
    fr_test_rng ^= fr_test_rng << 13, fr_test_rng ^= fr_test_rng >> 7, fr_test_rng ^= fr_test_rng << 17;
    return fr_test_rng;
}

/* Uniform in [-1, 1). */
static inline float fr_test_unif(void) {
    return (float)((fr_test_rnd() >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

/* Roughly normal, variance about 1 (a sum of four uniforms). */
static inline float fr_test_gauss(void) {
    float s = 0;
    for (int i = 0; i < 4; i++) s += fr_test_unif();
    return s * 0.866f;
}

/* A descriptor-like vector: face-api's have norm about 1, so each value is
 * a small gaussian. */
static inline void fr_test_rand_vec(float *v, int dim) {
    for (int j = 0; j < dim; j++) v[j] = fr_test_gauss() * 0.09f;
}
