/* Naive reference interpreter for fr_graph (tests only), and the inputs
 * the tests that compare backends feed it. */
#pragma once

#include <stdint.h>
#include <stdlib.h>

#include "nn/graph.h"

enum fr_status fr_ref_graph_run(const struct fr_graph *g, int32_t n, const float *input, float **outputs);

/* The activation a node applies, as the reference computes it. */
float fr_ref_act(float v, enum fr_act a, float alpha);

/* Deterministic pseudo-random floats in [-1, 1] from a linear congruential
 * generator over *seed. Header-only, so that tests which do not link
 * ref-graph.c (test-backend-cuda) draw the same numbers. */
static inline float fr_ref_frand(uint32_t *seed) {
    *seed = *seed * 1664525u + 1013904223u;
    return (float)((*seed >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f;
}

/* n such floats in a malloc'ed array (the caller frees it). */
static inline float *fr_ref_rand_floats(size_t n, uint32_t *seed) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; x && i < n; i++) x[i] = fr_ref_frand(seed);
    return x;
}

/* Adds to g the pooling cases every backend's op test covers, each an
 * output: max 'same' 2/2, 2/1, max 'valid' 3/2, average 'valid' 2/2 and
 * the global average, all over x. */
static inline void fr_ref_add_pool_cases(struct fr_graph *g, int32_t x) {
    fr__graph_output(g, fr__graph_pool(g, x, true, 2, 2, true));
    fr__graph_output(g, fr__graph_pool(g, x, true, 2, 1, true));
    fr__graph_output(g, fr__graph_pool(g, x, true, 3, 2, false));
    fr__graph_output(g, fr__graph_pool(g, x, false, 2, 2, false));
    fr__graph_output(g, fr__graph_global_avg(g, x));
}
