/* facerec search: exact nearest-neighbour search over one user's gallery.
 *
 * An fr_search holds one user's face embeddings in memory: a contiguous
 * row-major float32 matrix (each row FR_SEARCH_DIM floats, padded to a
 * multiple of 16 and 64-byte aligned), one int64 id per row (the store's face
 * id) and one int64 label per row (the person id; 0 means "no person").
 * Queries return the exact top-k rows by Euclidean distance (face-api's
 * metric: the square root of the squared L2 distance), scanned with AVX-512
 * or AVX2 when the CPU has them (chosen at run time) and portable C otherwise.
 *
 * int8 mode (params.int8) keeps a second, quantised copy of the matrix (one
 * symmetric scale per row, 8 bits per value, a quarter of the bytes). A query
 * then scans the int8 copy for the `rerank` best candidates and re-ranks them
 * with the exact float distance, so the distances returned are always exact;
 * only a true neighbour that the int8 scan ranked below `rerank` candidates
 * can be missed (see docs/PERFORMANCE.md for the measured recall).
 *
 * Row order is not stable: removing a row moves the last row into its place.
 * An internal id -> row hash map makes get, remove and set_label O(1).
 *
 * Ownership: the object owns all its memory; embeddings are copied in by
 * fr_search_add and copied out by fr_search_get. Hits are written into
 * caller-provided arrays of at least k entries.
 *
 * Thread-safety: the object is not internally locked. Callers hold a
 * reader/writer lock: any number of threads may run the const functions
 * (fr_search_topk, fr_search_topk_labels, fr_search_get, fr_search_count)
 * at the same time, as long as no thread runs a mutating function. Queries
 * never write to the object; their scratch memory is on the stack or
 * allocated per call (bounded by k and rerank).
 *
 * Failure behaviour: mutating functions either succeed or leave the object
 * unchanged (in particular on FR_ERR_NOMEM). Queries cannot fail; a query
 * that cannot allocate its int8 scratch falls back to the exact scan.
 *
 * Example:
 *     struct fr_search_params p = fr_search_default_params();
 *     struct fr_search *s;
 *     if (fr_search_new(&p, &s) != FR_OK) ...
 *     fr_search_add(s, face_id, person_id, face.descriptor);
 *     struct fr_search_hit hits[5];
 *     int32_t n = fr_search_topk_labels(s, query, 5, hits);
 *     for (int32_t i = 0; i < n; i++) use(hits[i].label, hits[i].distance);
 *     fr_search_free(s);
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/core.h"
#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* face-api's descriptor length (FR_DESCRIPTOR_DIM in face.h). */
#define FR_SEARCH_DIM 128
/* The largest dim accepted by fr_search_new. */
#define FR_SEARCH_MAX_DIM 4096

/* Two faces are the same person when their descriptors' distance is at most
 * the tolerance: face-api's 0.6, the default of verify (fr_http_params), of
 * recognition (fr_gallery_params.threshold) and of the CLI. */
#define FR_DEFAULT_TOLERANCE 0.6f

struct fr_search;

struct fr_search_params {
    int32_t dim;             /* floats per embedding, 1..FR_SEARCH_MAX_DIM (default FR_SEARCH_DIM) */
    bool int8;               /* keep an int8 copy and scan it first (default false) */
    int32_t rerank;          /* candidates re-ranked exactly in int8 mode; 0 = max(4*k, 64) (default 0) */
    size_t initial_capacity; /* rows reserved up front (default 0; growth doubles) */
};

enum fr_search_filter {
    FR_SEARCH_ANY = 0,        /* every row */
    FR_SEARCH_LABELLED = 1,   /* rows with label != 0 */
    FR_SEARCH_UNLABELLED = 2, /* rows with label == 0 */
};

struct fr_search_hit {
    int64_t id;     /* the row's id */
    int64_t label;  /* the row's label (0 = none) */
    float distance; /* Euclidean distance to the query */
};

FR_API struct fr_search_params fr_search_default_params(void);

/* A new, empty gallery. FR_ERR_INVALID for bad params, FR_ERR_NOMEM. */
FR_API enum fr_status fr_search_new(const struct fr_search_params *p, struct fr_search **out);
/* Free the gallery; NULL is a no-op. */
FR_API void fr_search_free(struct fr_search *s);

/* Reserve room for n rows in total, so that loading a known number of rows
 * does not regrow. FR_ERR_NOMEM leaves the object unchanged. */
FR_API enum fr_status fr_search_reserve(struct fr_search *s, int64_t n);

/* Append a row (emb: dim floats, copied). FR_ERR_INVALID if id already exists
 * or emb has a NaN or infinity; FR_ERR_NOMEM when growing fails. Amortised O(1). */
FR_API enum fr_status fr_search_add(struct fr_search *s, int64_t id, int64_t label, const float *emb);
/* Remove a row in O(1) (the last row moves into its place). FR_ERR_NOT_FOUND. */
FR_API enum fr_status fr_search_remove(struct fr_search *s, int64_t id);
/* Change one row's label. FR_ERR_NOT_FOUND. */
FR_API enum fr_status fr_search_set_label(struct fr_search *s, int64_t id, int64_t label);
/* Give every row labelled from_label the label to_label (merging two people).
 * Returns the number of rows changed (0 when from_label == to_label). O(n). */
FR_API int64_t fr_search_relabel(struct fr_search *s, int64_t from_label, int64_t to_label);
/* Remove every row labelled label (deleting a person's faces). Returns the
 * number of rows removed. O(n). */
FR_API int64_t fr_search_remove_label(struct fr_search *s, int64_t label);

FR_API int64_t fr_search_count(const struct fr_search *s);
FR_API int32_t fr_search_dim(const struct fr_search *s);
/* Bytes held by the gallery (matrices, ids, labels, map). */
FR_API size_t fr_search_memory_bytes(const struct fr_search *s);

/* Copy row id's embedding (dim floats) into emb_out and its label into
 * label_out; either may be NULL. False if id does not exist. */
FR_API bool fr_search_get(const struct fr_search *s, int64_t id, float *emb_out, int64_t *label_out);

/* Exact top-k rows nearest to q (dim floats), ascending distance (ties by
 * ascending id), among the rows whose label passes filter. Writes up to k
 * hits into out (room for k) and returns how many: fewer than k when fewer
 * rows pass. k <= 0, or a q with a NaN, gives 0 hits. */
FR_API int32_t fr_search_topk(const struct fr_search *s, const float *q, int32_t k, enum fr_search_filter filter,
                              struct fr_search_hit *out);

/* Top-k distinct labels, for recognition: for each labelled row's label its
 * best (nearest) row, the k nearest such labels ascending. Unlabelled rows
 * (label 0) are ignored. hit.id is the id of the label's nearest row.
 * Meant for small k (a handful of candidates): each row that beats the
 * current k-th label costs O(k). */
FR_API int32_t fr_search_topk_labels(const struct fr_search *s, const float *q, int32_t k,
                                     struct fr_search_hit *out);

/* Similarity in [0, 1] from a descriptor distance: 1 for identical faces,
 * 0.5 exactly at FR_DEFAULT_TOLERANCE, towards 0 far beyond it; 0 for a
 * negative or NaN distance. */
FR_API float fr_similarity(float distance);

#ifdef __cplusplus
}
#endif
