/* Internals shared by the CPU backend's files: backend-cpu.c (the
 * interface table, buffers, runs, the PAD_ADD kernel) and cpu-exec.c
 * (compiling a graph into an exec). Nothing outside src/nn/cpu includes
 * it. */
#pragma once

#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "../backend-impl.h"

/* Packed weights are shared by every exec of the same graph: execs for
 * different batch sizes usually want the same blocked layout, so each
 * (source array, layout) pair is reordered and charged to the budget once. */
struct packed {
    const float *src; /* the graph's fp32 array this packing was made from (the cache key) */
    int tag;          /* 1 for int8 biases, which are pre-scaled copies of src */
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    void *buf;
    size_t bytes;
    int32_t refs;
};

struct cpu_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int32_t n_packed, cap_packed;
    struct packed *packed;
};

struct fr_buffer {
    void *ptr;
    size_t size;
};

enum step_kind { STEP_PRIM, STEP_PAD_ADD };

#define MAX_ARGS 8

struct step {
    enum step_kind kind;
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[MAX_ARGS];
    int32_t tensors[MAX_ARGS]; /* arena tensor per arg, -1 for weights; -2 scratchpad */
    int32_t node;
};

struct fr_exec {
    const struct fr_graph *g;
    int32_t batch;
    int32_t n_tensors;         /* graph tensors + one plain copy per output + conversions */
    dnnl_memory_desc_t *md;
    float *qs;                 /* per tensor: the int8 quantization scale (real = q * qs); 1 otherwise */
    int32_t *origin;           /* per tensor: the tensor a conversion copies, -1 for the others */
    size_t *offset;
    dnnl_memory_t *mem;
    int32_t n_steps, cap_steps;
    struct step *steps; /* cap_steps slots, zeroed; a failed compile may leave a primitive past n_steps */
    dnnl_memory_t scratch_mem;
    size_t scratch_offset, scratch_bytes;
    size_t arena_bytes;
    int32_t n_wref;
    struct packed **wref;      /* shared packed weights this exec holds a reference on */
    size_t out_offset[8];
};

#define DNNL_TRY(call, what)                                                    \
    do {                                                                        \
        dnnl_status_t s_ = (call);                                              \
        if (s_ != dnnl_success) {                                               \
            fr_errf(err, errlen, "%s: oneDNN %s failed (status %d)", g->name, what, (int)s_); \
            st = s_ == dnnl_out_of_memory ? FR_ERR_NOMEM : FR_ERR_BACKEND;      \
            goto fail;                                                          \
        }                                                                       \
    } while (0)

/* Layouts the custom PAD_ADD kernel understands: plain NHWC or NCHW-style
 * blocking with one inner channel block (nChw8c / nChw16c). Returns the
 * matching format tag, or dnnl_format_tag_undef. */
dnnl_format_tag_t fr__cpu_pad_add_tag(const dnnl_memory_desc_t *md);

/* The backend's supports_op, exec_new and exec_free (cpu-exec.c). */
bool fr__cpu_supports_op(struct fr_backend *be, const struct fr_node *nd);
enum fr_status fr__cpu_exec_new(struct fr_backend *be, const struct fr_graph *g, int32_t batch, struct fr_exec **out,
                                char *err, size_t errlen);
void fr__cpu_exec_free(struct fr_backend *be, struct fr_exec *ex);
