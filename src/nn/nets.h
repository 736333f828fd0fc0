/* Builders that turn face-api weights into graphs (src/nn/nets.c). */
#pragma once

#include "facerec/nn.h"
#include "facerec/weights.h"
#include "graph.h"
#include "prep.h"

/* SSD anchors ("Output/extra_dim") are copied into graph storage so the
 * post-processing can read them: the builder returns them through here. */
enum fr_status fr__net_build(enum fr_net_kind kind, const struct fr_weights *w, int32_t input_size,
                             struct fr_graph **out, char *err, size_t errlen);

/* The graph behind a net (tests compare backends against a reference
 * interpreter over it). */
const struct fr_graph *fr__net_graph(const struct fr_net *net);

/* Device-side input preparation (src/nn/prep.h): whether the net's backend
 * has it, and a forward pass whose n input items are images the backend
 * resizes and normalises itself (FR_ERR_UNSUPPORTED when it cannot). Each
 * image's out_w x out_h must be the net's input size. */
bool fr__net_can_prep(const struct fr_net *net);
enum fr_status fr__net_forward_prep(struct fr_net *net, const struct fr_prep_image *imgs, int32_t n,
                                    float *const *outputs);
