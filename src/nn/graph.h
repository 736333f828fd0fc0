/* Internal graph IR shared by the net builders, the planner and backends.
 *
 * A graph is a topologically ordered list of nodes over NHWC float32
 * tensors. Shapes are per batch item; the batch size is chosen when a
 * backend compiles the graph. The graph owns folded weight copies (HWIO /
 * tfjs layout), so a backend may read them during compile and the source
 * fr_weights can be freed afterwards. */
#pragma once

#include <stdbool.h>

#include "facerec/status.h"

enum fr_op {
    FR_OP_INPUT,      /* external input, plain NHWC */
    FR_OP_CONV,       /* conv2d / depthwise (groups == C); bias, residual sum, activation */
    FR_OP_POOL,       /* max or average pooling with explicit (asymmetric) padding */
    FR_OP_GLOBAL_AVG, /* mean over H and W -> 1x1xC */
    FR_OP_FC,         /* fully connected over the flattened item; weights [in, out] */
    FR_OP_ACT,        /* out-of-place activation */
    FR_OP_PAD_ADD,    /* act(zero-pad a to out's H,W,C + zero-pad b to out's C) */
};

enum fr_act {
    FR_ACT_NONE,
    FR_ACT_RELU,
    FR_ACT_RELU6,
    FR_ACT_LEAKY, /* x > 0 ? x : alpha * x */
};

struct fr_tshape {
    int32_t h, w, c;
};

struct fr_node {
    enum fr_op op;
    int32_t in[2]; /* tensor ids; -1 when unused */
    int32_t out;   /* tensor id */
    /* FR_OP_CONV / FR_OP_POOL geometry */
    int32_t kh, kw, sh, sw;
    int32_t pad_t, pad_b, pad_l, pad_r;
    int32_t groups;   /* 1, or C for depthwise */
    const float *w;   /* conv: [kh][kw][cin/groups][cout] (HWIO); depthwise: [kh][kw][c]; fc: [in][out] */
    const float *b;   /* [cout] or NULL */
    enum fr_act act;
    float alpha;      /* leaky slope */
    bool sum;         /* conv: out = act(conv + in[1]); out reuses in[1]'s storage */
    bool pool_max;    /* pool: max (true) or average over the valid window */
    const char *name; /* for errors and profiles; points into graph storage */
};

struct fr_graph {
    char name[64];
    int32_t n_nodes, cap_nodes;
    struct fr_node *nodes;
    int32_t n_tensors, cap_tensors;
    struct fr_tshape *shapes;
    int32_t input;            /* tensor id of the single input */
    int32_t n_outputs;
    int32_t outputs[8];       /* tensor ids copied out after a run, plain NHWC */
    /* owned allocations (folded weights, names) */
    int32_t n_owned, cap_owned;
    void **owned;
    double flops;             /* multiply-adds * 2 per batch item */
    const float *aux;         /* net-specific constants (SSD anchors), graph-owned */
    int64_t n_aux;
    enum fr_status error;     /* first build error; builders check it once at the end */
    /* Low precision (src/nn/cpu/cpu-lowprec.c). input_range: the input's
     * values lie in [-input_range, input_range] (0 = unknown), which lets
     * an int8 graph quantize its input without calibration. precision:
     * what the backend compiles this graph in, set by net.c. */
    float input_range;
    int precision; /* enum fr_precision */
};

struct fr_graph *fr__graph_new(const char *name);
void fr__graph_free(struct fr_graph *g);

/* Builder helpers. On failure they record g->error and return -1; later
 * calls with a -1 operand are no-ops, so a builder checks once at the end. */
int32_t fr__graph_input(struct fr_graph *g, int32_t h, int32_t w, int32_t c);
/* TF 'same' or 'valid' conv. w_hwio is copied (the graph owns the copy). */
struct fr_conv_desc {
    int32_t kh, kw, stride, cout;
    bool same;     /* TF 'same' padding (asymmetric when needed); else 'valid' */
    int32_t pad;   /* explicit symmetric padding added on top of 'valid' (tf.pad) */
    bool depthwise;
    enum fr_act act;
    float alpha;
};
int32_t fr__graph_conv(struct fr_graph *g, int32_t x, const struct fr_conv_desc *d, const float *w_hwio,
                       const float *bias, int32_t sum_with, const char *name);
int32_t fr__graph_pool(struct fr_graph *g, int32_t x, bool max, int32_t k, int32_t stride, bool same);
int32_t fr__graph_global_avg(struct fr_graph *g, int32_t x);
int32_t fr__graph_fc(struct fr_graph *g, int32_t x, int32_t cout, const float *w_io, const float *bias);
int32_t fr__graph_act(struct fr_graph *g, int32_t x, enum fr_act act);
int32_t fr__graph_pad_add(struct fr_graph *g, int32_t a, int32_t b, enum fr_act act);
void fr__graph_output(struct fr_graph *g, int32_t t);
/* Copy n floats into graph-owned memory. */
float *fr__graph_copy(struct fr_graph *g, const float *src, size_t n);

/* TF 'same' padding: total = max((out-1)*s + k - in, 0), the extra pixel at the end. */
void fr__tf_same_pad(int32_t in, int32_t k, int32_t s, int32_t *out, int32_t *pad_lo, int32_t *pad_hi);

/* Static memory planning lives in plan.h. */
