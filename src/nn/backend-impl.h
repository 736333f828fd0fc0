/* The backend interface table (ggml-backend style).
 *
 * A backend object is {iface, ctx}. Memory is explicit: buffers live on the
 * device and are filled/read with upload/download; a compiled graph (exec)
 * runs asynchronously on the backend's stream and `synchronize` waits for it.
 * Every allocation is charged against the budget in struct fr_backend;
 * implementations call fr__budget_take/fr__budget_give.
 *
 * Optional methods may be NULL; the documented default applies. */
#pragma once

#include <stdbool.h>

#include "facerec/backend.h"
#include "graph.h"
#include "prep.h"

/* The version of this table's contract. A backend sets api_version to the
 * value it was built with, and fr_backend_new refuses one whose version
 * differs from the program's (a module from another build would otherwise
 * be called through the wrong slots), as SQLite checks a VFS's iVersion.
 * Bump it whenever a method is added, removed or changes meaning. */
#define FR_BACKEND_API_VERSION 1

struct fr_buffer;  /* device memory block, backend-defined */
struct fr_exec;    /* a graph compiled for one batch size, backend-defined */

struct fr_backend_i {
    int api_version;
    const char *name;

    void (*free)(struct fr_backend *be);

    /* Device memory from the budget. */
    enum fr_status (*buffer_alloc)(struct fr_backend *be, size_t size, struct fr_buffer **out);
    void (*buffer_free)(struct fr_backend *be, struct fr_buffer *buf);
    /* Copies may be asynchronous (ordered with runs on the same stream). */
    enum fr_status (*upload)(struct fr_backend *be, struct fr_buffer *dst, size_t off, const void *src, size_t n);
    enum fr_status (*download)(struct fr_backend *be, void *dst, struct fr_buffer *src, size_t off, size_t n);

    /* Whether exec_new can compile the node. fr_net_new asks it for every
     * node before compiling (an unsupported op is FR_ERR_UNSUPPORTED naming
     * the node) and test-backend-ops skips, and reports, the nets a
     * backend cannot run. NULL means every op is supported. */
    bool (*supports_op)(struct fr_backend *be, const struct fr_node *node);

    /* Compile g for `batch` items: create kernels, pack weights (charged to
     * the budget), plan activations. Does not allocate the arena. */
    enum fr_status (*exec_new)(struct fr_backend *be, const struct fr_graph *g, int32_t batch,
                               struct fr_exec **out, char *err, size_t errlen);
    void (*exec_free)(struct fr_backend *be, struct fr_exec *ex);
    /* Activation bytes the exec needs in its arena (input and outputs included). */
    size_t (*exec_arena_bytes)(struct fr_exec *ex);
    /* Byte offsets in the arena of the plain-NHWC input and of output i. */
    size_t (*exec_input_offset)(struct fr_exec *ex);
    size_t (*exec_output_offset)(struct fr_exec *ex, int32_t i);
    /* Enqueue a forward pass using `arena` (>= exec_arena_bytes). */
    enum fr_status (*exec_run)(struct fr_backend *be, struct fr_exec *ex, struct fr_buffer *arena);
    /* Wait for all enqueued work. */
    enum fr_status (*synchronize)(struct fr_backend *be);

    /* Prepares one net-input item on the device (src/nn/prep.h): enqueues the
     * upload of the image's uint8 crop and the resize and normalisation
     * that write out_h * out_w * 3 floats at `off` in `dst`, ordered like
     * upload. The result equals the host path's within float rounding of
     * the same operations (tests/test-backend-cuda.c). NULL: the caller
     * prepares the input on the host and uploads floats, which is what the
     * CPU backend wants (its "upload" is a memcpy). */
    enum fr_status (*prep_image)(struct fr_backend *be, struct fr_buffer *dst, size_t off,
                                 const struct fr_prep_image *im);

    /* NULL: no-op. */
    void (*set_threads)(struct fr_backend *be, int32_t threads);
    /* NULL: the device is named after the backend, no memory figures. */
    void (*device_info)(struct fr_backend *be, struct fr_backend_info *info);

    /* The precision a net of `kind` runs in, given the backend's setting
     * (struct fr_backend's precision) and the machine; never AUTO. The
     * result is stored in the graph (fr_graph.precision) before exec_new.
     * NULL: the graph is marked FP32 and the backend applies its own
     * setting (CUDA's fp16). */
    enum fr_precision (*net_precision)(struct fr_backend *be, int kind);
};

struct fr_backend {
    struct fr_backend_i iface;
    void *ctx;
    size_t memory_limit;
    size_t memory_used;
    enum fr_precision precision; /* as asked for in fr_backend_params */
};

/* A new backend object with `iface` and a zeroed context of ctx_size
 * bytes, from fr_calloc; FR_ERR_NOMEM (with the message in err) leaves
 * nothing allocated. Inline so that a module (which has no backend.c)
 * shares it. */
static inline enum fr_status fr__backend_alloc(const struct fr_backend_i *iface, size_t ctx_size,
                                               struct fr_backend **out, char *err, size_t errlen) {
    struct fr_backend *be = fr_calloc(1, sizeof(*be));
    void *ctx = fr_calloc(1, ctx_size);
    *out = NULL;
    if (!be || !ctx) {
        fr_free(be);
        fr_free(ctx);
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    be->iface = *iface;
    be->ctx = ctx;
    *out = be;
    return FR_OK;
}

/* Whether `be` supports every node of g (supports_op); when not, *bad is
 * the index of the first node it does not support. */
bool fr__backend_supports_graph(struct fr_backend *be, const struct fr_graph *g, int32_t *bad);
/* The name of an op, for messages ("conv", "pad_add"). */
const char *fr__op_name(enum fr_op op);

/* Budget accounting shared by all backends. */
enum fr_status fr__budget_take(struct fr_backend *be, size_t bytes);
void fr__budget_give(struct fr_backend *be, size_t bytes);

enum fr_status fr__backend_cpu_new(const struct fr_backend_params *p, struct fr_backend **out, char *err,
                                   size_t errlen);
/* The registry (backend-reg.c): the module serving `device`, loaded on
 * first use; NULL with the reason (file not found, dlerror) in why. */
struct fr_backend_module;
const struct fr_backend_module *fr__backend_module_get(enum fr_device device, char *why, size_t whylen);
/* Devices of that kind; 0 with the reason in why (no module, no driver). */
int32_t fr__backend_device_count(enum fr_device device, char *why, size_t whylen);

#ifdef FR_HAVE_CUDA
/* Inside libfacerec-cuda.so (FR_HAVE_CUDA is defined for the module only).
 * Devices the CUDA runtime sees; 0 with the reason in `why` when none. */
int32_t fr__cuda_device_count(char *why, size_t whylen);
enum fr_status fr__backend_cuda_new(const struct fr_backend_params *p, struct fr_backend **out, char *err,
                                    size_t errlen);
#endif
