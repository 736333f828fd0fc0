/* Builders that turn face-api weights into graphs (src/nn/nets.c). */
#pragma once

#include "facerec/nn.h"
#include "facerec/weights.h"
#include "graph.h"

/* SSD anchors ("Output/extra_dim") are copied into graph storage so the
 * post-processing can read them: the builder returns them through here. */
enum fr_status fr__net_build(enum fr_net_kind kind, const struct fr_weights *w, int32_t input_size,
                             struct fr_graph **out, char *err, size_t errlen);

/* The graph behind a net (tests compare backends against a reference
 * interpreter over it). */
const struct fr_graph *fr__net_graph(const struct fr_net *net);
