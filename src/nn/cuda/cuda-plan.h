/* Host-side logic of the CUDA backend, in plain C.
 *
 * Everything the CUDA backend decides without talking to the device lives
 * here: which device to use, how large the device block is, how the block is
 * carved, which convolution algorithm fits the workspace budget, how the
 * pinned staging ring turns over, how filters are repacked for cuDNN and
 * how activations are laid out in the arena. None of it includes a CUDA
 * header, so it is compiled into every build and unit-tested on machines
 * without a GPU (tests/test-cuda-host.c); backend-cuda.c only executes the
 * decisions.
 *
 * Thread-safety: none; each object belongs to one backend, which is used by
 * one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/backend.h"
#include "../graph.h"
#include "../prep.h"
#include "kernels.h"

/* ---- device selection ---- */

enum fr__device_pick {
    FR__PICK_CPU,
    FR__PICK_CUDA,
    FR__PICK_FAIL, /* --device cuda without a usable device: FR_ERR_DEVICE */
};

/* What fr_backend_new does for `req`, given whether this build has the CUDA
 * backend and how many devices the runtime reports (0 when there is no
 * driver). auto prefers CUDA and falls back to the CPU; cpu never touches
 * CUDA; cuda fails rather than silently running on the CPU. */
enum fr__device_pick fr__device_pick(enum fr_device req, bool cuda_built, int32_t n_devices);

/* Size of the backend's single device allocation. An explicit limit is
 * taken as is; else `percent` (1..100) of the card's total memory; else 80%
 * of its free memory. The result is rounded down to 2 MiB. A limit larger
 * than the free memory is FR_ERR_BUDGET with a message: the allocation
 * would fail anyway, and this way the user learns the numbers. */
enum fr_status fr__cuda_memory_limit(size_t requested, int32_t percent, size_t free_bytes, size_t total_bytes,
                                     size_t *out, char *err, size_t errlen);

/* ---- sub-allocator over the device block ---- */

/* First-fit allocator over [0, size) with neighbour coalescing. It hands
 * out offsets, not pointers: the backend adds them to the device block's
 * base. Out of space (including by fragmentation) is FR_ERR_BUDGET. */
struct fr__pool_block {
    size_t off, size;
    bool used;
};

struct fr__pool {
    size_t size;  /* bytes carved */
    size_t align; /* power of two; every offset and size is a multiple */
    size_t used;  /* bytes in used blocks (after alignment) */
    int32_t n, cap;
    struct fr__pool_block *blocks; /* sorted by offset, covering [0, size) */
};

enum fr_status fr__pool_init(struct fr__pool *p, size_t size, size_t align);
void fr__pool_fini(struct fr__pool *p);
enum fr_status fr__pool_alloc(struct fr__pool *p, size_t size, size_t *off);
/* Frees the block that starts at off; freeing anything else is a programmer error. */
void fr__pool_free(struct fr__pool *p, size_t off);
size_t fr__pool_largest_free(const struct fr__pool *p);

/* ---- convolution algorithm choice ---- */

struct fr__algo_perf {
    int32_t algo;     /* cudnnConvolutionFwdAlgo_t */
    bool ok;          /* the heuristic's status was success */
    size_t workspace; /* bytes */
};

/* Workspace any single convolution may use: a sixteenth of what is left of
 * the budget, at most 64 MiB, so that workspace never crowds out batch
 * size (each net's arena holds one workspace, shared by its convolutions). */
size_t fr__cuda_workspace_cap(size_t budget_left);

/* perfs are in cuDNN's ranking order (fastest first). Returns the index of
 * the fastest usable algorithm whose workspace fits `cap`, else of the
 * first usable zero-workspace one, else -1 (the caller then uses
 * IMPLICIT_GEMM, which needs no workspace). */
int32_t fr__cuda_pick_algo(const struct fr__algo_perf *perfs, int32_t n, size_t cap);

/* ---- pinned staging ring ---- */

#define FR__RING_SLOTS 2

/* Double buffering: copies go through FR__RING_SLOTS pinned slots in turn.
 * While the DMA of one slot is in flight the host fills the next; a slot is
 * reused only after the copy that last used it has completed (the caller
 * waits on that slot's event when acquire says so). */
struct fr__ring {
    size_t slot_bytes;
    int32_t next;
    bool in_flight[FR__RING_SLOTS];
};

void fr__ring_init(struct fr__ring *r, size_t slot_bytes);
/* Next slot to use. *must_wait is true when the slot's previous copy may
 * still be running; the caller waits for it and then calls fr__ring_done. */
int32_t fr__ring_acquire(struct fr__ring *r, bool *must_wait);
void fr__ring_submitted(struct fr__ring *r, int32_t slot);
void fr__ring_done(struct fr__ring *r, int32_t slot);
/* Number of slot-sized chunks n bytes take (0 for n == 0). */
size_t fr__ring_chunks(const struct fr__ring *r, size_t n);

/* ---- filters and the activation plan ---- */

/* Repacks a convolution's graph weights (HWIO, or [kh][kw][c] for depthwise)
 * into cuDNN's NHWC filter layout KRSC: [cout][kh][kw][cin / groups]. */
void fr__cuda_pack_krsc(const struct fr_node *nd, int32_t cin, int32_t cout, float *dst);

/* The ops the CUDA backend runs (its supports_op): every op of graph.h
 * that run_node has a case for. A node of an op added later is refused
 * by fr_net_new instead of being skipped silently at run time. */
bool fr__cuda_supports_op(const struct fr_node *nd);

/* cuDNN's legacy convolution descriptor pads symmetrically; TF 'same' with
 * stride 2 pads one more at the end. Such a node first copies its input
 * into a zero-padded temporary and then convolves without padding. */
bool fr__cuda_needs_explicit_pad(const struct fr_node *nd);

/* Activation layout of one (graph, batch): plain NHWC float32 everywhere,
 * every tensor in its own storage (a residual is cuDNN's separate z input,
 * never aliased with the output), a padded temporary for the nodes above,
 * and one convolution workspace shared by all nodes. */
struct fr__cuda_plan {
    size_t *offset;     /* [n_tensors] */
    size_t *pad_offset; /* [n_nodes]; meaningful where the node needs a padded input */
    size_t workspace_offset, workspace_bytes;
    size_t arena_bytes;
};

enum fr_status fr__cuda_plan_arena(const struct fr_graph *g, int32_t batch, size_t workspace,
                                   struct fr__cuda_plan *out);
void fr__cuda_plan_free(struct fr__cuda_plan *p);
/* Bytes of weights and biases the backend uploads for g (float32). */
size_t fr__cuda_weight_bytes(const struct fr_graph *g);

/* ---- net-input preparation on the device ---- */

/* The kernel parameters for one image (src/nn/prep.h) and the bytes of its
 * packed crop, the part of the image that is uploaded (uint8: a quarter of
 * the bytes of the float input it becomes, before the resize). FR_ERR_INVALID
 * when the crop is empty or not inside the image, or a size is not positive. */
enum fr_status fr__cuda_prep_plan(const struct fr_prep_image *im, struct fr__k_prep *k, size_t *src_bytes);

/* Copies rows [row0, row0 + rows) of the crop, packed (w * 3 bytes a row),
 * to dst: how the backend fills its pinned staging slots. */
void fr__cuda_prep_pack(const struct fr_prep_image *im, int32_t row0, int32_t rows, uint8_t *dst);

/* Rows of the crop one staging slot of slot_bytes holds (0: a row does not
 * fit, which the backend treats as "prepare on the host"). */
int32_t fr__cuda_prep_rows_per_slot(const struct fr_prep_image *im, size_t slot_bytes);

/* What the kernel computes, on the host with the same per-pixel function:
 * dst [out_h][out_w][3] from the packed crop src. The backend's fallback
 * when the device budget has no room for the crop, and the tests' model of
 * the kernel. */
void fr__cuda_prep_emulate(const struct fr__k_prep *k, const uint8_t *src, float *dst);
