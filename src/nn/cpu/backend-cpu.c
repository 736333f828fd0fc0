/* CPU backend on oneDNN (Debian libdnnl 2.6, OpenMP runtime): the
 * interface table, buffers, copies and runs.
 *
 * Compiling a graph (exec_new) lives in cpu-exec.c: one oneDNN primitive
 * per node, weights packed once, every activation (plus a shared
 * scratchpad) planned into one arena. exec_run() only sets data handles
 * and executes: it allocates nothing. The PAD_ADD op, which oneDNN has no
 * primitive for, is a custom kernel here. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu-impl.h"
#include "cpu-lowprec.h"

static void cpu_free(struct fr_backend *be) {
    struct cpu_ctx *c = be->ctx;
    if (c) {
        if (c->stream) dnnl_stream_destroy(c->stream);
        if (c->engine) dnnl_engine_destroy(c->engine);
        for (int32_t i = 0; i < c->n_packed; i++) FR_ASSERT(!c->packed[i].src); /* nets freed first */
        fr_free(c->packed);
        fr_free(c);
    }
    fr_free(be);
}

static enum fr_status cpu_buffer_alloc(struct fr_backend *be, size_t size, struct fr_buffer **out) {
    *out = NULL;
    if (fr__budget_take(be, size) != FR_OK) return FR_ERR_BUDGET;
    struct fr_buffer *b = fr_calloc(1, sizeof(*b));
    void *p = fr_malloc_aligned(size ? size : 64);
    if (!b || !p) {
        fr_free(b);
        fr_free_aligned(p);
        fr__budget_give(be, size);
        return FR_ERR_NOMEM;
    }
    b->ptr = p;
    b->size = size;
    *out = b;
    return FR_OK;
}

static void cpu_buffer_free(struct fr_backend *be, struct fr_buffer *b) {
    if (!b) return;
    fr__budget_give(be, b->size);
    fr_free_aligned(b->ptr);
    fr_free(b);
}

static enum fr_status cpu_upload(struct fr_backend *be, struct fr_buffer *dst, size_t off, const void *src, size_t n) {
    (void)be;
    if (off > dst->size || n > dst->size - off) return FR_ERR_INVALID;
    memcpy((char *)dst->ptr + off, src, n);
    return FR_OK;
}

static enum fr_status cpu_download(struct fr_backend *be, void *dst, struct fr_buffer *src, size_t off, size_t n) {
    (void)be;
    if (off > src->size || n > src->size - off) return FR_ERR_INVALID;
    memcpy(dst, (char *)src->ptr + off, n);
    return FR_OK;
}

/* See cpu-impl.h. */
dnnl_format_tag_t fr__cpu_pad_add_tag(const dnnl_memory_desc_t *md) {
    if (md->format_kind != dnnl_blocked || md->ndims != 4) return dnnl_format_tag_undef;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks == 0) {
        if (b->strides[1] == 1 && b->strides[3] == md->padded_dims[1]) return dnnl_nhwc;
        return dnnl_format_tag_undef;
    }
    if (b->inner_nblks == 1 && b->inner_idxs[0] == 1 && b->strides[3] == b->inner_blks[0]) {
        if (b->inner_blks[0] == 16) return dnnl_nChw16c;
        if (b->inner_blks[0] == 8) return dnnl_nChw8c;
    }
    return dnnl_format_tag_undef;
}

static inline size_t md_off(const dnnl_memory_desc_t *md, int64_t n, int64_t c, int64_t h, int64_t w) {
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks == 0)
        return (size_t)(md->offset0 + n * b->strides[0] + c * b->strides[1] + h * b->strides[2] + w * b->strides[3]);
    int64_t bs = b->inner_blks[0];
    return (size_t)(md->offset0 + n * b->strides[0] + (c / bs) * b->strides[1] + h * b->strides[2] +
                    w * b->strides[3] + c % bs);
}

static inline float bf16_load(const uint16_t *p, size_t i) {
    uint32_t u = (uint32_t)p[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even, as oneDNN's own conversions do (no NaNs here). */
static inline uint16_t bf16_from(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* out = act(zero-pad a + zero-pad b) over float or bf16 tensors: all three
 * share the type (exec_new converts the inputs to the output's type). One
 * body for both types; inlined per type, so the test on bf16 is constant. */
static inline __attribute__((always_inline)) void pad_add_loop(struct fr_exec *ex, const struct fr_node *nd,
                                                               char *arena, bool bf16) {
    const dnnl_memory_desc_t *ma = &ex->md[nd->in[0]], *mb = &ex->md[nd->in[1]], *mo = &ex->md[nd->out];
    const char *a = arena + ex->offset[nd->in[0]], *b = arena + ex->offset[nd->in[1]];
    char *o = arena + ex->offset[nd->out];
    int64_t N = mo->dims[0], C = mo->dims[1], H = mo->dims[2], W = mo->dims[3];
    int64_t ca = ma->dims[1], ha = ma->dims[2], wa = ma->dims[3];
    int64_t cb = mb->dims[1], hb = mb->dims[2], wb = mb->dims[3];
    int64_t Cp = mo->padded_dims[1];
    bool relu = nd->act == FR_ACT_RELU;
#define PA_LOAD(p, i) (bf16 ? bf16_load((const uint16_t *)(p), (i)) : ((const float *)(p))[i])
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < Cp; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    float v = 0.0f;
                    if (c < C) {
                        if (c < ca && h < ha && w < wa) v += PA_LOAD(a, md_off(ma, n, c, h, w));
                        if (c < cb && h < hb && w < wb) v += PA_LOAD(b, md_off(mb, n, c, h, w));
                        if (relu && v < 0.0f) v = 0.0f;
                    }
                    size_t k = md_off(mo, n, c, h, w);
                    if (bf16) ((uint16_t *)o)[k] = bf16_from(v);
                    else ((float *)o)[k] = v;
                }
#undef PA_LOAD
}

static void run_pad_add(struct fr_exec *ex, const struct fr_node *nd, char *arena) {
    if (ex->md[nd->out].data_type == dnnl_bf16) pad_add_loop(ex, nd, arena, true);
    else pad_add_loop(ex, nd, arena, false);
}

static size_t cpu_exec_arena_bytes(struct fr_exec *ex) { return ex->arena_bytes; }
static size_t cpu_exec_input_offset(struct fr_exec *ex) { return ex->offset[ex->g->input]; }
static size_t cpu_exec_output_offset(struct fr_exec *ex, int32_t i) { return ex->out_offset[i]; }

static enum fr_status cpu_exec_run(struct fr_backend *be, struct fr_exec *ex, struct fr_buffer *arena) {
    struct cpu_ctx *c = be->ctx;
    if (arena->size < ex->arena_bytes) return FR_ERR_BUDGET;
    char *base = arena->ptr;
    for (int32_t t = 0; t < ex->n_tensors; t++)
        if (dnnl_memory_set_data_handle(ex->mem[t], base + ex->offset[t]) != dnnl_success) return FR_ERR_BACKEND;
    if (ex->scratch_mem && dnnl_memory_set_data_handle(ex->scratch_mem, base + ex->scratch_offset) != dnnl_success)
        return FR_ERR_BACKEND;
    for (int32_t i = 0; i < ex->n_steps; i++) {
        struct step *sp = &ex->steps[i];
        if (sp->kind == STEP_PAD_ADD) {
            run_pad_add(ex, &ex->g->nodes[sp->node], base);
            continue;
        }
        if (dnnl_primitive_execute(sp->prim, c->stream, sp->nargs, sp->args) != dnnl_success) return FR_ERR_BACKEND;
    }
    return FR_OK;
}

static enum fr_status cpu_synchronize(struct fr_backend *be) {
    struct cpu_ctx *c = be->ctx;
    return dnnl_stream_wait(c->stream) == dnnl_success ? FR_OK : FR_ERR_BACKEND;
}

static void cpu_set_threads(struct fr_backend *be, int32_t threads) {
    (void)be;
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

static const struct fr_backend_i cpu_iface = {
    .api_version = FR_BACKEND_API_VERSION,
    .name = "cpu",
    .free = cpu_free,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .supports_op = fr__cpu_supports_op,
    .exec_new = fr__cpu_exec_new,
    .exec_free = fr__cpu_exec_free,
    .exec_arena_bytes = cpu_exec_arena_bytes,
    .exec_input_offset = cpu_exec_input_offset,
    .exec_output_offset = cpu_exec_output_offset,
    .exec_run = cpu_exec_run,
    .synchronize = cpu_synchronize,
    .set_threads = cpu_set_threads,
    .net_precision = fr__cpu_net_precision,
};

enum fr_status fr__backend_cpu_new(const struct fr_backend_params *p, struct fr_backend **out, char *err,
                                   size_t errlen) {
    struct fr_backend *be;
    enum fr_status st = fr__backend_alloc(&cpu_iface, sizeof(struct cpu_ctx), &be, err, errlen);
    if (st != FR_OK) return st;
    struct cpu_ctx *c = be->ctx;
    c->cap_packed = 4096;
    c->packed = fr_calloc((size_t)c->cap_packed, sizeof(*c->packed));
    if (!c->packed) {
        cpu_free(be);
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    be->memory_limit = p->memory_limit ? p->memory_limit : (size_t)2 << 30;
    if (dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success) {
        fr_errf(err, errlen, "cannot create the oneDNN CPU engine");
        cpu_free(be);
        return FR_ERR_BACKEND;
    }
    if (p->threads > 0) cpu_set_threads(be, p->threads);
    *out = be;
    return FR_OK;
}
