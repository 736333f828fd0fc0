/* Naive reference interpreter for fr_graph (tests only). */
#pragma once

#include "nn/graph.h"

enum fr_status fr_ref_graph_run(const struct fr_graph *g, int32_t n, const float *input, float **outputs);
