/* The activation planner (ggml-alloc style), shared by every backend.
 *
 * A plan holds the values one compiled graph keeps in its arena: the
 * graph's tensors and whatever a backend adds (a type conversion, a padded
 * copy, a plain output copy, a scratchpad or workspace). Lifetimes are
 * computed here, once, from the graph's nodes; a backend only reports each
 * value's byte size under its own layouts, the values it adds with their
 * live ranges, which values share storage (an in-place residual sum) and
 * the alignment it needs. fr__plan_offsets then assigns every storage an
 * offset so that storages whose live ranges overlap never share bytes.
 *
 * Steps: node i of the graph is step i; steps after the last node
 * (g->n_nodes + k) are the backend's own, such as the copies that make
 * plain outputs. Step -1 is "before the run" (the input, written by an
 * upload). The graph's outputs live until step g->n_nodes, when they are
 * read back.
 *
 * Ownership: the plan owns its arrays; fr__plan_fini frees them (safe on a
 * zeroed or failed plan). Not thread-safe; one plan per compile.
 *
 * Example (the CUDA backend, plain NHWC float32):
 *     struct fr__plan p;
 *     if (fr__plan_init(&p, g->n_tensors + 1) != FR_OK) ...
 *     fr__plan_add_graph(&p, g);
 *     for (int32_t t = 0; t < g->n_tensors; t++) p.size[t] = bytes_of(t);
 *     int32_t ws = fr__plan_add(&p, workspace, -1, g->n_nodes);
 *     if (fr__plan_offsets(&p, 256) != FR_OK) ...
 *     ... p.offset[t], p.offset[ws], p.arena_bytes ...
 *     fr__plan_fini(&p);
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "facerec/status.h"

struct fr_graph;

struct fr__plan {
    int32_t n, cap;      /* values added; room for cap */
    size_t *size;        /* [cap] bytes of each value, as the backend lays it out */
    int32_t *first;      /* [cap] step that writes the value (-1: before the run) */
    int32_t *last;       /* [cap] last step that reads it (below first: never read) */
    int32_t *storage;    /* [cap] the value whose bytes it uses (itself unless aliased) */
    size_t *offset;      /* [cap] out: byte offset of the value's storage in the arena */
    size_t arena_bytes;  /* out: bytes the arena needs */
};

/* Room for `cap` values, none added yet. FR_ERR_NOMEM on failure (the plan
 * is then safe to fini). */
enum fr_status fr__plan_init(struct fr__plan *p, int32_t cap);
void fr__plan_fini(struct fr__plan *p);

/* Adds the graph's tensors as values 0 .. g->n_tensors - 1 (the plan must be
 * empty) with size 0 and the lifetimes the nodes give them: written by
 * their node, read by the last node that takes them as an input; the input
 * is live from step -1 and every output until step g->n_nodes. */
void fr__plan_add_graph(struct fr__plan *p, const struct fr_graph *g);

/* Adds a value of `size` bytes live over [first, last]; returns its id.
 * Adding past cap is a programmer error. */
int32_t fr__plan_add(struct fr__plan *p, size_t size, int32_t first, int32_t last);

/* Value v is also read at `step`. */
void fr__plan_use(struct fr__plan *p, int32_t v, int32_t step);

/* Value v is written into the storage of value `of` (a residual sum made
 * in place): they share bytes, and the storage lives as long as either. */
void fr__plan_alias(struct fr__plan *p, int32_t v, int32_t of);

/* Assigns offsets: one block per storage, sized for the largest value in
 * it and rounded up to `align` (a power of two), placed greedily largest
 * first at the lowest offset that overlaps no placed block with an
 * intersecting live range. Sets offset[] and arena_bytes; FR_ERR_NOMEM
 * when its working arrays cannot be allocated. */
enum fr_status fr__plan_offsets(struct fr__plan *p, size_t align);
