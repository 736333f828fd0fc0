/* Compiling a graph for the CPU backend: exec_new in named steps.
 *
 * build_init sizes the exec and enters the graph's tensors and the plain
 * output copies in the activation plan (src/nn/plan.h); create_node makes
 * one oneDNN primitive per node with "any" layouts for weights and outputs
 * so oneDNN picks its blocked formats, fuses bias, activation and residual
 * sum as post-ops, and reorders weights into the chosen layout once
 * (pack_weights, shared between execs); add_output_copies appends the
 * reorders to plain fp32 NHWC outputs; plan_arena reports every value's
 * size under the chosen layouts plus the shared scratchpad and lets the
 * planner place them; bind_memory makes the memory objects whose data
 * handles each run sets.
 *
 * Low precision (the graph's precision, chosen per net by cpu-lowprec.c):
 * every tensor has a data type. bf16 graphs keep weights and activations in
 * bf16 except the layers that make the graph's outputs, which run in fp32;
 * int8 graphs run each convolution whose input range is known (the graph
 * input, ReLU6 outputs) with s8 weights scaled per output channel and u8/s8
 * activations, the rest in fp32. Where a node wants its input in another
 * type, a reorder into a converted copy is inserted before it; the planner
 * sizes every tensor by its type, so lower precision means smaller arenas. */
#include <string.h>

#include "../plan.h"
#include "cpu-impl.h"
#include "cpu-lowprec.h"

static dnnl_status_t add_act(dnnl_post_ops_t po, enum fr_act act, float alpha) {
    switch (act) {
    case FR_ACT_NONE: return dnnl_success;
    case FR_ACT_RELU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    case FR_ACT_RELU6: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, 0.0f, 6.0f);
    case FR_ACT_LEAKY: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, alpha, 0.0f);
    }
    return dnnl_invalid_arguments;
}

void fr__cpu_exec_free(struct fr_backend *be, struct fr_exec *ex) {
    if (!ex) return;
    for (int32_t i = 0; ex->steps && i < ex->cap_steps; i++)
        if (ex->steps[i].prim) dnnl_primitive_destroy(ex->steps[i].prim);
    for (int32_t i = 0; ex->mem && i < ex->n_tensors; i++)
        if (ex->mem[i]) dnnl_memory_destroy(ex->mem[i]);
    for (int32_t i = 0; i < ex->n_wref; i++) {
        struct packed *pk = ex->wref[i];
        if (--pk->refs > 0) continue;
        dnnl_memory_destroy(pk->mem);
        fr_free_aligned(pk->buf);
        fr__budget_give(be, pk->bytes);
        pk->src = NULL; /* slot is free for reuse */
        pk->mem = NULL;
    }
    if (ex->scratch_mem) dnnl_memory_destroy(ex->scratch_mem);
    fr_free(ex->wref);
    fr_free(ex->steps);
    fr_free(ex->mem);
    fr_free(ex->offset);
    fr_free(ex->md);
    fr_free(ex->qs);
    fr_free(ex->origin);
    fr_free(ex);
}

/* Reorder user weights (plain, described by user_md over `data`) into the
 * layout and type the primitive wants, or reuse an identical packing made
 * earlier. `key` is the graph's fp32 array the data comes from (`data`
 * itself, or its int8 quantization) and `tag` tells pre-scaled int8 biases
 * from plain ones. The packed buffer is charged to the budget once. */
static enum fr_status pack_weights(struct fr_backend *be, struct fr_exec *ex, const dnnl_memory_desc_t *user_md,
                                   const void *data, const float *key, int tag, const dnnl_memory_desc_t *want,
                                   dnnl_memory_t *out, const struct fr_graph *g, char *err, size_t errlen) {
    const float *src = key;
    struct cpu_ctx *c = be->ctx;
    enum fr_status st = FR_OK;
    struct packed *pk = NULL;
    for (int32_t i = 0; i < c->n_packed; i++)
        if (c->packed[i].src == src && c->packed[i].tag == tag && dnnl_memory_desc_equal(&c->packed[i].md, want)) {
            pk = &c->packed[i];
            pk->refs++;
            ex->wref[ex->n_wref++] = pk;
            *out = pk->mem;
            return FR_OK;
        }
    /* The cache is a fixed array (sized at backend creation) so that exec
     * references stay valid. */
    for (int32_t i = 0; i < c->n_packed && !pk; i++)
        if (!c->packed[i].src) pk = &c->packed[i];
    if (!pk) {
        if (c->n_packed == c->cap_packed) {
            fr_errf(err, errlen, "%s: too many packed weight tensors", g->name);
            return FR_ERR_NOMEM;
        }
        pk = &c->packed[c->n_packed++];
    }
    memset(pk, 0, sizeof(*pk));
    dnnl_memory_t um = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    size_t bytes = dnnl_memory_desc_get_size(want);
    if (fr__budget_take(be, bytes) != FR_OK) {
        fr_errf(err, errlen, "%s: weights need %zu more bytes than the memory budget has left", g->name, bytes);
        return FR_ERR_BUDGET;
    }
    pk->buf = fr_malloc_aligned(bytes ? bytes : 64);
    if (!pk->buf) {
        fr__budget_give(be, bytes);
        fr_errf(err, errlen, "%s: out of memory for weights", g->name);
        return FR_ERR_NOMEM;
    }
    pk->bytes = bytes;
    pk->md = *want;
    pk->src = src;
    pk->tag = tag;
    pk->refs = 1;
    ex->wref[ex->n_wref++] = pk;
    DNNL_TRY(dnnl_memory_create(&pk->mem, want, c->engine, pk->buf), "memory_create");
    DNNL_TRY(dnnl_memory_create(&um, user_md, c->engine, (void *)data), "memory_create");
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, user_md, c->engine, want, c->engine, NULL), "reorder_pd");
    DNNL_TRY(dnnl_primitive_create(&rp, rpd), "reorder");
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, um }, { DNNL_ARG_TO, pk->mem } };
    DNNL_TRY(dnnl_primitive_execute(rp, c->stream, 2, args), "reorder execute");
    DNNL_TRY(dnnl_stream_wait(c->stream), "stream_wait");
    *out = pk->mem;
fail:
    if (rp) dnnl_primitive_destroy(rp);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (um) dnnl_memory_destroy(um);
    return st;
}

static void step_arg(struct step *s, int arg, dnnl_memory_t m, int32_t tensor) {
    FR_ASSERT(s->nargs < MAX_ARGS);
    s->args[s->nargs] = (dnnl_exec_arg_t){ arg, m };
    s->tensors[s->nargs] = tensor;
    s->nargs++;
}

static bool is_int8(dnnl_data_type_t t) { return t == dnnl_u8 || t == dnnl_s8; }

/* What exec_new tracks while it walks the graph. */
struct build {
    struct fr_backend *be;
    struct fr_exec *ex;
    const struct fr_graph *g;
    int32_t batch;
    /* Values in the arena (plan.h): the graph's tensors, a plain copy per
     * output, then the type conversions from conv_base on; the scratchpad
     * is added last, when its size is known. */
    struct fr__plan plan;
    int32_t conv_base;
    size_t scratch;
    /* Per graph tensor: its values are known to lie in [-range, range]
     * (0: unknown), and in [0, range] when nonneg. */
    float *range;
    bool *nonneg;
};

/* A reorder step from tensor `from` to `to` (both described in ex->md),
 * multiplying by `scale` (1: none). */
static enum fr_status add_reorder(struct build *B, int32_t from, int32_t to, float scale, int32_t node, char *err,
                                  size_t errlen) {
    struct fr_exec *ex = B->ex;
    const struct fr_graph *g = B->g;
    struct cpu_ctx *c = B->be->ctx;
    enum fr_status st = FR_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    FR_ASSERT(ex->n_steps < ex->cap_steps);
    struct step *sp = &ex->steps[ex->n_steps];
    DNNL_TRY(dnnl_primitive_attr_create(&attr), "attr_create");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad_mode");
    if (scale != 1.0f) DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "output_scales");
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, &ex->md[from], c->engine, &ex->md[to], c->engine, attr),
             "reorder_pd");
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes > B->scratch) B->scratch = sbytes;
    DNNL_TRY(dnnl_primitive_create(&sp->prim, pd), "reorder");
    sp->kind = STEP_PRIM;
    sp->node = node;
    step_arg(sp, DNNL_ARG_FROM, NULL, from);
    step_arg(sp, DNNL_ARG_TO, NULL, to);
    step_arg(sp, DNNL_ARG_SCRATCHPAD, NULL, -2);
    ex->n_steps++;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Tensor t as type `want` (quantization scale want_qs for u8/s8, else 1),
 * for node `node`: t itself when it already is, else a converted copy made
 * by a reorder just before the node. Copies are shared between readers
 * unless `own` (a residual sum writes into its copy). */
static enum fr_status convert(struct build *B, int32_t t, dnnl_data_type_t want, float want_qs, int32_t node,
                              bool own, int32_t *out, char *err, size_t errlen) {
    struct fr_exec *ex = B->ex;
    if (ex->md[t].data_type == want && ex->qs[t] == want_qs) {
        *out = t;
        return FR_OK;
    }
    for (int32_t x = B->conv_base; !own && x < B->plan.n; x++)
        if (ex->origin[x] == t && ex->md[x].data_type == want && ex->qs[x] == want_qs) {
            fr__plan_use(&B->plan, x, node);
            *out = x;
            return FR_OK;
        }
    if (B->plan.n >= B->plan.cap - 1) { /* the last value is the scratchpad's */
        fr_errf(err, errlen, "%s: too many type conversions", B->g->name);
        return FR_ERR_UNSUPPORTED;
    }
    int32_t x = fr__plan_add(&B->plan, 0, node, node);
    /* Same dims and blocking; the strides count elements, so only the type
     * changes. */
    ex->md[x] = ex->md[t];
    ex->md[x].data_type = want;
    memset(&ex->md[x].extra, 0, sizeof ex->md[x].extra);
    ex->qs[x] = want_qs;
    ex->origin[x] = own ? -1 : t;
    *out = x;
    return add_reorder(B, t, x, ex->qs[t] / want_qs, node, err, errlen);
}

static bool is_output(const struct fr_graph *g, int32_t t) {
    for (int32_t o = 0; o < g->n_outputs; o++)
        if (g->outputs[o] == t) return true;
    return false;
}

/* The type node nd computes in: dnnl_s8 stands for int8 arithmetic. */
static dnnl_data_type_t node_type(const struct fr_graph *g, const struct build *B, const struct fr_node *nd) {
    const struct fr_exec *ex = B->ex;
    switch (g->precision) {
    case FR_PRECISION_BF16:
        /* The layers that make the outputs (box and class predictors,
         * landmark and descriptor FCs) stay fp32: they are small, and
         * their rounding would land straight in the results. */
        return is_output(g, nd->out) && !nd->sum ? dnnl_f32 : dnnl_bf16;
    case FR_PRECISION_INT8: {
        /* As in bf16, the output layers stay fp32 (on u8 inputs). */
        if (nd->op != FR_OP_CONV || nd->sum || is_output(g, nd->out)) return dnnl_f32;
        int32_t t = nd->in[0];
        bool known = is_int8(ex->md[t].data_type) || B->range[t] > 0.0f;
        return known ? dnnl_s8 : dnnl_f32;
    }
    default: return dnnl_f32;
    }
}

/* One node's primitive while it is made: the types chosen, the operands
 * after conversion, and what is handed to oneDNN. */
struct node_prim {
    const struct fr_node *nd;
    int32_t in0, in1;         /* operands, possibly converted copies */
    dnnl_data_type_t ct, dt;  /* compute and output types; ct == s8 means int8 */
    bool q8;
    float s_in, s_out;        /* int8 scales of the input and the output */
    dnnl_dims_t odims;
    dnnl_memory_desc_t any_dst;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_desc_t pd;
    /* Weights and bias: the plain user data, its cache key and layout. */
    const float *wsrc;
    const void *wdata, *bdata;
    dnnl_memory_desc_t wuser, buser;
    bool has_w, has_b;
    int8_t *qw; /* int8 temporaries, freed once the weights are packed */
    float *wscale, *oscale, *qb;
};

static void node_prim_clear(struct node_prim *P) {
    if (P->pd) dnnl_primitive_desc_destroy(P->pd);
    if (P->po) dnnl_post_ops_destroy(P->po);
    if (P->attr) dnnl_primitive_attr_destroy(P->attr);
    fr_free(P->qw);
    fr_free(P->wscale);
    fr_free(P->oscale);
    fr_free(P->qb);
}

/* int8 convolution weights: dst = oscale[o] * (sum q_src * q_w + q_bias[o])
 * with oscale = s_in * s_w[o] / s_out. oneDNN 2.x adds the bias to the
 * integer accumulator before scaling, so the bias is divided by
 * s_in * s_w[o] here. */
static enum fr_status quantize_conv(struct build *B, struct node_prim *P, int32_t cin, int32_t cout, char *err,
                                    size_t errlen) {
    const struct fr_graph *g = B->g;
    const struct fr_node *nd = P->nd;
    enum fr_status st = FR_OK;
    size_t nw = (size_t)nd->kh * nd->kw * (size_t)(nd->groups == 1 ? cin : 1) * (size_t)cout;
    P->qw = fr_malloc(nw);
    P->wscale = fr_malloc(sizeof(float) * (size_t)cout);
    P->oscale = fr_malloc(sizeof(float) * (size_t)cout);
    P->qb = fr_malloc(sizeof(float) * (size_t)cout);
    if (!P->qw || !P->wscale || !P->oscale || !P->qb) {
        fr_errf(err, errlen, "%s: out of memory", g->name);
        return FR_ERR_NOMEM;
    }
    fr__quantize_weights(nd->w, nw, cout, P->qw, P->wscale);
    for (int32_t o = 0; o < cout; o++) {
        P->oscale[o] = P->s_in * P->wscale[o] / P->s_out;
        P->qb[o] = nd->b ? nd->b[o] / (P->s_in * P->wscale[o]) : 0.0f;
    }
    DNNL_TRY(dnnl_primitive_attr_set_output_scales(P->attr, cout, 1 << 1, P->oscale), "output_scales");
    P->wdata = P->qw;
    P->bdata = P->qb;
fail:
    return st;
}

static enum fr_status conv_desc(struct build *B, struct node_prim *P, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    const struct fr_node *nd = P->nd;
    struct cpu_ctx *c = B->be->ctx;
    struct fr_exec *ex = B->ex;
    enum fr_status st = FR_OK;
    struct fr_tshape is = g->shapes[nd->in[0]], os = g->shapes[nd->out];
    dnnl_data_type_t wt = P->q8 ? dnnl_s8 : P->ct, ut = P->q8 ? dnnl_s8 : dnnl_f32;
    dnnl_memory_desc_t wany, bany;
    if (nd->groups == 1) {
        dnnl_dims_t wd = { os.c, is.c, nd->kh, nd->kw };
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany, 4, wd, wt, dnnl_format_tag_any), "md_init");
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&P->wuser, 4, wd, ut, dnnl_hwio), "md_init");
    } else {
        dnnl_dims_t wd = { nd->groups, 1, 1, nd->kh, nd->kw };
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany, 5, wd, wt, dnnl_format_tag_any), "md_init");
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&P->wuser, 5, wd, ut, dnnl_hwigo), "md_init");
    }
    dnnl_dims_t bd = { os.c };
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&P->buser, 1, bd, dnnl_f32, dnnl_a), "md_init");
    bany = P->buser;
    dnnl_dims_t strides = { nd->sh, nd->sw }, pl = { nd->pad_t, nd->pad_l }, pr = { nd->pad_b, nd->pad_r };
    dnnl_memory_desc_t *dst = nd->sum ? &ex->md[P->in1] : &P->any_dst;
    P->wsrc = nd->w;
    P->wdata = nd->w;
    P->bdata = nd->b;
    if (P->q8 && (st = quantize_conv(B, P, is.c, os.c, err, errlen)) != FR_OK) goto fail;
    if (nd->sum) DNNL_TRY(dnnl_post_ops_append_sum(P->po, 1.0f), "append_sum");
    if (P->q8 && nd->act == FR_ACT_RELU6) {
        /* After the output scale the values are in units of s_out. */
        DNNL_TRY(dnnl_post_ops_append_eltwise(P->po, 1.0f, dnnl_eltwise_clip_v2, 0.0f, 6.0f / P->s_out),
                 "append_eltwise");
    } else {
        DNNL_TRY(add_act(P->po, nd->act, nd->alpha), "append_eltwise");
    }
    DNNL_TRY(dnnl_primitive_attr_set_post_ops(P->attr, P->po), "set_post_ops");
    dnnl_convolution_desc_t cd;
    DNNL_TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                &ex->md[P->in0], &wany, nd->b ? &bany : NULL, dst, strides, pl, pr),
             "conv_desc");
    DNNL_TRY(dnnl_primitive_desc_create(&P->pd, &cd, P->attr, c->engine, NULL), "conv_pd");
    P->has_w = true;
    P->has_b = nd->b != NULL;
fail:
    return st;
}

static enum fr_status pool_desc(struct build *B, struct node_prim *P, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    const struct fr_node *nd = P->nd;
    struct cpu_ctx *c = B->be->ctx;
    enum fr_status st = FR_OK;
    struct fr_tshape is = g->shapes[nd->in[0]];
    bool global = nd->op == FR_OP_GLOBAL_AVG;
    dnnl_dims_t strides = { global ? 1 : nd->sh, global ? 1 : nd->sw };
    dnnl_dims_t kernel = { global ? is.h : nd->kh, global ? is.w : nd->kw };
    dnnl_dims_t dil = { 0, 0 }, pl = { nd->pad_t, nd->pad_l }, pr = { nd->pad_b, nd->pad_r };
    dnnl_pooling_v2_desc_t pdsc;
    DNNL_TRY(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference,
                                               nd->pool_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                                               &B->ex->md[P->in0], &P->any_dst, strides, kernel, dil, pl, pr),
             "pool_desc");
    DNNL_TRY(dnnl_primitive_desc_create(&P->pd, &pdsc, P->attr, c->engine, NULL), "pool_pd");
fail:
    return st;
}

static enum fr_status act_desc(struct build *B, struct node_prim *P, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    const struct fr_node *nd = P->nd;
    struct cpu_ctx *c = B->be->ctx;
    enum fr_status st = FR_OK;
    dnnl_eltwise_desc_t ed;
    dnnl_alg_kind_t alg = nd->act == FR_ACT_RELU6 ? dnnl_eltwise_clip_v2 : dnnl_eltwise_relu;
    float alpha = nd->act == FR_ACT_LEAKY ? nd->alpha : 0.0f, beta = nd->act == FR_ACT_RELU6 ? 6.0f : 0.0f;
    DNNL_TRY(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &B->ex->md[P->in0], alpha, beta),
             "eltwise_desc");
    DNNL_TRY(dnnl_primitive_desc_create(&P->pd, &ed, P->attr, c->engine, NULL), "eltwise_pd");
fail:
    return st;
}

static enum fr_status fc_desc(struct build *B, struct node_prim *P, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    const struct fr_node *nd = P->nd;
    struct cpu_ctx *c = B->be->ctx;
    enum fr_status st = FR_OK;
    struct fr_tshape is = g->shapes[nd->in[0]], os = g->shapes[nd->out];
    dnnl_dims_t wd = { os.c, is.c, is.h, is.w };
    dnnl_memory_desc_t wany, bany, dst2;
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany, 4, wd, P->ct, dnnl_format_tag_any), "md_init");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&P->wuser, 4, wd, dnnl_f32, dnnl_hwio), "md_init");
    dnnl_dims_t bd = { os.c }, dd = { B->batch, os.c };
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&P->buser, 1, bd, dnnl_f32, dnnl_a), "md_init");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst2, 2, dd, P->dt, dnnl_format_tag_any), "md_init");
    bany = P->buser;
    dnnl_inner_product_desc_t ipd;
    DNNL_TRY(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &B->ex->md[P->in0], &wany,
                                                  nd->b ? &bany : NULL, &dst2),
             "ip_desc");
    DNNL_TRY(dnnl_primitive_desc_create(&P->pd, &ipd, P->attr, c->engine, NULL), "ip_pd");
    P->wsrc = nd->w;
    P->wdata = nd->w;
    P->bdata = nd->b;
    P->has_w = true;
    P->has_b = nd->b != NULL;
fail:
    return st;
}

/* Converts node i's inputs to the type it computes in (P->ct). */
static enum fr_status node_inputs(struct build *B, int32_t i, struct node_prim *P, char *err, size_t errlen) {
    struct fr_exec *ex = B->ex;
    const struct fr_node *nd = P->nd;
    enum fr_status st = FR_OK;
    P->s_in = 1.0f;
    if (P->q8) {
        if (!is_int8(ex->md[P->in0].data_type)) {
            /* An fp32 tensor of known range: u8 when it cannot be
             * negative, else s8, the range's end mapped to 255 / 127. */
            bool u = B->nonneg[P->in0];
            float qs = B->range[P->in0] / (u ? 255.0f : 127.0f);
            if ((st = convert(B, P->in0, u ? dnnl_u8 : dnnl_s8, qs, i, false, &P->in0, err, errlen)) != FR_OK)
                return st;
        }
        P->s_in = ex->qs[P->in0];
    } else if ((st = convert(B, P->in0, P->ct, 1.0f, i, false, &P->in0, err, errlen)) != FR_OK) {
        return st;
    }
    if (P->in1 >= 0) st = convert(B, P->in1, P->ct, 1.0f, i, nd->sum, &P->in1, err, errlen);
    return st;
}

/* PAD_ADD runs the custom kernel (run_pad_add), which reads the node's own
 * tensors in plain or singly blocked layouts of one type. */
static enum fr_status pad_add_step(struct build *B, int32_t i, struct node_prim *P, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    struct fr_exec *ex = B->ex;
    const struct fr_node *nd = P->nd;
    enum fr_status st = FR_OK;
    dnnl_format_tag_t ta = fr__cpu_pad_add_tag(&ex->md[P->in0]), tb = fr__cpu_pad_add_tag(&ex->md[P->in1]);
    if (!ta || !tb || (P->ct != dnnl_f32 && P->ct != dnnl_bf16)) {
        fr_errf(err, errlen, "%s: pad_add on an unsupported layout", g->name);
        return FR_ERR_UNSUPPORTED;
    }
    if (P->in0 != nd->in[0] || P->in1 != nd->in[1]) {
        fr_errf(err, errlen, "%s: pad_add inputs of mixed types", g->name);
        return FR_ERR_UNSUPPORTED;
    }
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&ex->md[nd->out], 4, P->odims, P->ct, ta), "md_init");
    struct step *sp = &ex->steps[ex->n_steps++];
    sp->node = i;
    sp->kind = STEP_PAD_ADD;
fail:
    return st;
}

/* Creates the primitive described in P->pd as the next step: records the
 * output's layout and range, the scratchpad it needs, and packs its
 * weights. */
static enum fr_status prim_step(struct build *B, int32_t i, struct node_prim *P, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    struct fr_exec *ex = B->ex;
    const struct fr_node *nd = P->nd;
    enum fr_status st = FR_OK;
    const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(P->pd, dnnl_query_dst_md, 0);
    if (nd->op == FR_OP_FC) {
        /* Keep the FC output 4-D (N,C,1,1) so later ops see NHWC tensors. */
        DNNL_TRY(dnnl_memory_desc_reshape(&ex->md[nd->out], dmd, 4, P->odims), "reshape");
    } else {
        ex->md[nd->out] = *dmd;
    }
    ex->qs[nd->out] = P->s_out;
    if (nd->op == FR_OP_CONV && nd->act == FR_ACT_RELU6 && !nd->sum) {
        B->range[nd->out] = 6.0f;
        B->nonneg[nd->out] = true;
    }
    if (nd->sum) fr__plan_alias(&B->plan, nd->out, P->in1); /* written in place into the sum operand */
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(P->pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes > B->scratch) B->scratch = sbytes;
    struct step *sp = &ex->steps[ex->n_steps];
    sp->node = i;
    DNNL_TRY(dnnl_primitive_create(&sp->prim, P->pd), "primitive_create");
    sp->kind = STEP_PRIM;
    step_arg(sp, DNNL_ARG_SRC, NULL, P->in0);
    step_arg(sp, DNNL_ARG_DST, NULL, nd->out);
    if (P->has_w) {
        dnnl_memory_t wm;
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(P->pd, dnnl_query_weights_md, 0);
        if (nd->op == FR_OP_FC) {
            /* The FC weights' logical dims follow the source tensor's. */
            DNNL_TRY(dnnl_memory_desc_reshape(&P->wuser, &P->wuser, want->ndims, want->dims), "reshape");
        }
        if ((st = pack_weights(B->be, ex, &P->wuser, P->wdata, P->wsrc, 0, want, &wm, g, err, errlen)) != FR_OK)
            goto fail;
        step_arg(sp, DNNL_ARG_WEIGHTS, wm, -1);
    }
    if (P->has_b) {
        dnnl_memory_t bm;
        if ((st = pack_weights(B->be, ex, &P->buser, P->bdata, nd->b, P->q8, &P->buser, &bm, g, err, errlen)) !=
            FR_OK)
            goto fail;
        step_arg(sp, DNNL_ARG_BIAS, bm, -1);
    }
    step_arg(sp, DNNL_ARG_SCRATCHPAD, NULL, -2);
    ex->n_steps++;
fail:
    return st;
}

/* What create_node and the PAD_ADD kernel handle: every op of graph.h,
 * PAD_ADD with no activation or ReLU only. */
bool fr__cpu_supports_op(struct fr_backend *be, const struct fr_node *nd) {
    (void)be;
    switch (nd->op) {
    case FR_OP_PAD_ADD: return nd->act == FR_ACT_NONE || nd->act == FR_ACT_RELU; /* the kernel's activations */
    case FR_OP_INPUT: case FR_OP_CONV: case FR_OP_POOL: case FR_OP_GLOBAL_AVG: case FR_OP_FC: case FR_OP_ACT:
        return true;
    }
    return false;
}

/* Step 1: node i's primitive (or custom step), after the reorders that
 * convert its inputs. */
static enum fr_status create_node(struct build *B, int32_t i, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    struct fr_exec *ex = B->ex;
    const struct fr_node *nd = &g->nodes[i];
    struct fr_tshape os = g->shapes[nd->out];
    enum fr_status st = FR_OK;
    struct node_prim P = { .nd = nd, .in0 = nd->in[0], .in1 = nd->in[1], .s_out = 1.0f,
                           .odims = { B->batch, os.c, os.h, os.w } };
    if (nd->op == FR_OP_INPUT) {
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&ex->md[nd->out], 4, P.odims, dnnl_f32, dnnl_nhwc), "md_init");
        return FR_OK;
    }
    P.ct = node_type(g, B, nd);
    P.q8 = P.ct == dnnl_s8;
    if ((st = node_inputs(B, i, &P, err, errlen)) != FR_OK) goto fail;
    if (nd->op == FR_OP_PAD_ADD) return pad_add_step(B, i, &P, err, errlen);
    /* int8 convolutions write u8 when their output is a ReLU6 (range
     * [0, 6], so 6 maps to 255), else fp32. */
    P.dt = P.ct;
    if (P.q8) {
        P.dt = nd->act == FR_ACT_RELU6 ? dnnl_u8 : dnnl_f32;
        P.s_out = P.dt == dnnl_u8 ? FR_RELU6_SCALE : 1.0f;
    }
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&P.any_dst, 4, P.odims, P.dt, dnnl_format_tag_any), "md_init");
    /* A fresh attr per node: oneDNN 2.6 ignores setting empty post-ops,
     * so a reused attr would leak one node's post-ops into the next. */
    DNNL_TRY(dnnl_primitive_attr_create(&P.attr), "attr_create");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(P.attr, dnnl_scratchpad_mode_user), "scratchpad_mode");
    DNNL_TRY(dnnl_post_ops_create(&P.po), "post_ops");
    switch (nd->op) {
    case FR_OP_CONV: st = conv_desc(B, &P, err, errlen); break;
    case FR_OP_POOL:
    case FR_OP_GLOBAL_AVG: st = pool_desc(B, &P, err, errlen); break;
    case FR_OP_ACT: st = act_desc(B, &P, err, errlen); break;
    case FR_OP_FC: st = fc_desc(B, &P, err, errlen); break;
    default:
        fr_errf(err, errlen, "%s: op %d not supported by the CPU backend", g->name, (int)nd->op);
        st = FR_ERR_UNSUPPORTED;
    }
    if (st == FR_OK) st = prim_step(B, i, &P, err, errlen);
fail:
    node_prim_clear(&P);
    return st;
}

/* Step 2: plain fp32 NHWC copies of the outputs, made by a final reorder
 * each (which also dequantizes an int8 output). */
static enum fr_status add_output_copies(struct build *B, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    struct fr_exec *ex = B->ex;
    enum fr_status st = FR_OK;
    for (int32_t o = 0; o < g->n_outputs; o++) {
        int32_t t = g->outputs[o], pt = g->n_tensors + o;
        struct fr_tshape s = g->shapes[t];
        dnnl_dims_t d = { B->batch, s.c, s.h, s.w };
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&ex->md[pt], 4, d, dnnl_f32, dnnl_nhwc), "md_init");
        if ((st = add_reorder(B, t, pt, ex->qs[t], -1, err, errlen)) != FR_OK) goto fail;
        ex->out_offset[o] = (size_t)pt; /* a value id until plan_arena turns it into an offset */
    }
fail:
    return st;
}

/* Step 3: every value's size under the layouts oneDNN chose, the shared
 * scratchpad, and the offsets (plan.h). The exec keeps the offsets. */
static enum fr_status plan_arena(struct build *B, char *err, size_t errlen) {
    struct fr_exec *ex = B->ex;
    ex->n_tensors = B->plan.n;
    for (int32_t v = 0; v < B->plan.n; v++) B->plan.size[v] = dnnl_memory_desc_get_size(&ex->md[v]);
    int32_t scratch = fr__plan_add(&B->plan, B->scratch, -1, B->g->n_nodes + B->g->n_outputs);
    if (fr__plan_offsets(&B->plan, 64) != FR_OK) {
        fr_errf(err, errlen, "%s: out of memory", B->g->name);
        return FR_ERR_NOMEM;
    }
    ex->arena_bytes = B->plan.arena_bytes;
    ex->scratch_offset = B->plan.offset[scratch];
    ex->scratch_bytes = B->scratch;
    for (int32_t o = 0; o < B->g->n_outputs; o++) ex->out_offset[o] = B->plan.offset[ex->out_offset[o]];
    ex->offset = B->plan.offset;
    B->plan.offset = NULL;
    return FR_OK;
}

/* Step 4: a oneDNN memory object per value, its data handle set per run,
 * bound to the steps' arguments. */
static enum fr_status bind_memory(struct build *B, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    struct fr_exec *ex = B->ex;
    struct cpu_ctx *c = B->be->ctx;
    enum fr_status st = FR_OK;
    for (int32_t t = 0; t < ex->n_tensors; t++)
        DNNL_TRY(dnnl_memory_create(&ex->mem[t], &ex->md[t], c->engine, DNNL_MEMORY_NONE), "memory_create");
    if (ex->scratch_bytes) {
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = { (dnnl_dim_t)ex->scratch_bytes };
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a), "md_init");
        DNNL_TRY(dnnl_memory_create(&ex->scratch_mem, &smd, c->engine, DNNL_MEMORY_NONE), "memory_create");
    }
    for (int32_t i = 0; i < ex->n_steps; i++) {
        struct step *sp = &ex->steps[i];
        for (int k = 0; k < sp->nargs; k++) {
            if (sp->tensors[k] >= 0) sp->args[k].memory = ex->mem[sp->tensors[k]];
            else if (sp->tensors[k] == -2) sp->args[k].memory = ex->scratch_mem;
        }
        /* A primitive without scratchpad needs no scratchpad argument. */
        if (!ex->scratch_mem && sp->nargs > 0 && sp->tensors[sp->nargs - 1] == -2) sp->nargs--;
    }
fail:
    return st;
}

/* The exec's arrays and the plan's values known before the walk: the
 * graph's tensors and the plain output copies, which live from their
 * reorder after the last node until they are read back. */
static enum fr_status build_init(struct build *B, char *err, size_t errlen) {
    const struct fr_graph *g = B->g;
    struct fr_exec *ex = B->ex;
    /* Values: the graph's, a plain copy per output, then conversions (at
     * most two per node), then the scratchpad. */
    int32_t cap_conv = 2 * g->n_nodes + 1;
    int32_t nt = g->n_tensors + g->n_outputs + cap_conv;
    ex->n_tensors = 0;
    ex->md = fr_calloc((size_t)nt, sizeof(*ex->md));
    ex->mem = fr_calloc((size_t)nt, sizeof(*ex->mem));
    ex->qs = fr_calloc((size_t)nt, sizeof(*ex->qs));
    ex->origin = fr_calloc((size_t)nt, sizeof(*ex->origin));
    ex->cap_steps = g->n_nodes + g->n_outputs + cap_conv;
    ex->steps = fr_calloc((size_t)ex->cap_steps, sizeof(*ex->steps));
    ex->wref = fr_calloc((size_t)g->n_nodes * 2 + 1, sizeof(*ex->wref));
    B->range = fr_calloc((size_t)nt, sizeof(*B->range));
    B->nonneg = fr_calloc((size_t)nt, sizeof(*B->nonneg));
    if (!ex->md || !ex->mem || !ex->qs || !ex->origin || !ex->steps || !ex->wref || !B->range || !B->nonneg ||
        fr__plan_init(&B->plan, nt + 1) != FR_OK) {
        fr_errf(err, errlen, "%s: out of memory", g->name);
        return FR_ERR_NOMEM;
    }
    for (int32_t t = 0; t < nt; t++) ex->qs[t] = 1.0f, ex->origin[t] = -1;
    B->range[g->input] = g->input_range;
    fr__plan_add_graph(&B->plan, g);
    int32_t end = g->n_nodes + g->n_outputs;
    for (int32_t o = 0; o < g->n_outputs; o++) {
        fr__plan_use(&B->plan, g->outputs[o], g->n_nodes + o);
        fr__plan_add(&B->plan, 0, g->n_nodes + o, end);
    }
    B->conv_base = B->plan.n;
    return FR_OK;
}

enum fr_status fr__cpu_exec_new(struct fr_backend *be, const struct fr_graph *g, int32_t batch, struct fr_exec **out,
                                char *err, size_t errlen) {
    *out = NULL;
    struct fr_exec *ex = fr_calloc(1, sizeof(*ex));
    if (!ex) return FR_ERR_NOMEM;
    ex->g = g;
    ex->batch = batch;
    struct build B = { .be = be, .ex = ex, .g = g, .batch = batch };
    enum fr_status st = build_init(&B, err, errlen);
    for (int32_t i = 0; st == FR_OK && i < g->n_nodes; i++) st = create_node(&B, i, err, errlen);
    if (st == FR_OK) st = add_output_copies(&B, err, errlen);
    if (st == FR_OK) st = plan_arena(&B, err, errlen);
    if (st == FR_OK) st = bind_memory(&B, err, errlen);
    if (st != FR_OK) {
        fr__cpu_exec_free(be, ex);
        ex = NULL;
    }
    fr__plan_fini(&B.plan);
    fr_free(B.range);
    fr_free(B.nonneg);
    *out = ex;
    return st;
}
