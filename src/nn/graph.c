/* Graph construction and shape inference. */
#include "graph.h"

#include <stdio.h>
#include <string.h>

struct fr_graph *fr__graph_new(const char *name) {
    struct fr_graph *g = fr_calloc(1, sizeof(*g));
    if (!g) return NULL;
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->input = -1;
    return g;
}

void fr__graph_free(struct fr_graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_owned; i++) fr_free(g->owned[i]);
    fr_free(g->owned);
    fr_free(g->nodes);
    fr_free(g->shapes);
    fr_free(g);
}

static bool grow(void **p, int32_t *cap, int32_t need, size_t elem) {
    if (need <= *cap) return true;
    int32_t nc = *cap ? *cap * 2 : 32;
    while (nc < need) nc *= 2;
    void *np = fr_realloc(*p, (size_t)nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

static void *own(struct fr_graph *g, void *p) {
    if (!p) {
        g->error = FR_ERR_NOMEM;
        return NULL;
    }
    if (!grow((void **)&g->owned, &g->cap_owned, g->n_owned + 1, sizeof(void *))) {
        fr_free(p);
        g->error = FR_ERR_NOMEM;
        return NULL;
    }
    g->owned[g->n_owned++] = p;
    return p;
}

float *fr__graph_copy(struct fr_graph *g, const float *src, size_t n) {
    float *d = own(g, fr_malloc(n * sizeof(float)));
    if (d && src) memcpy(d, src, n * sizeof(float));
    return d;
}

static int32_t new_tensor(struct fr_graph *g, int32_t h, int32_t w, int32_t c) {
    if (g->error) return -1;
    if (h <= 0 || w <= 0 || c <= 0) {
        g->error = FR_ERR_SHAPE;
        return -1;
    }
    if (!grow((void **)&g->shapes, &g->cap_tensors, g->n_tensors + 1, sizeof(*g->shapes))) {
        g->error = FR_ERR_NOMEM;
        return -1;
    }
    g->shapes[g->n_tensors] = (struct fr_tshape){ h, w, c };
    return g->n_tensors++;
}

static struct fr_node *new_node(struct fr_graph *g, enum fr_op op) {
    if (g->error) return NULL;
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(*g->nodes))) {
        g->error = FR_ERR_NOMEM;
        return NULL;
    }
    struct fr_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->in[0] = n->in[1] = -1;
    n->out = -1;
    n->groups = 1;
    return n;
}

void fr__tf_same_pad(int32_t in, int32_t k, int32_t s, int32_t *out, int32_t *pad_lo, int32_t *pad_hi) {
    int32_t o = (in + s - 1) / s;
    int32_t total = (o - 1) * s + k - in;
    if (total < 0) total = 0;
    *out = o;
    *pad_lo = total / 2;
    *pad_hi = total - total / 2;
}

int32_t fr__graph_input(struct fr_graph *g, int32_t h, int32_t w, int32_t c) {
    int32_t t = new_tensor(g, h, w, c);
    struct fr_node *n = new_node(g, FR_OP_INPUT);
    if (t < 0 || !n) return -1;
    n->out = t;
    n->name = "input";
    g->input = t;
    return t;
}

int32_t fr__graph_conv(struct fr_graph *g, int32_t x, const struct fr_conv_desc *d, const float *w_hwio,
                       const float *bias, int32_t sum_with, const char *name) {
    if (g->error || x < 0) return -1;
    struct fr_tshape s = g->shapes[x];
    int32_t cout = d->depthwise ? s.c : d->cout;
    int32_t oh, ow, pt = 0, pb = 0, pl = 0, pr = 0;
    if (d->same) {
        fr__tf_same_pad(s.h, d->kh, d->stride, &oh, &pt, &pb);
        fr__tf_same_pad(s.w, d->kw, d->stride, &ow, &pl, &pr);
    } else {
        pt = pb = pl = pr = d->pad;
        oh = (s.h + 2 * d->pad - d->kh) / d->stride + 1;
        ow = (s.w + 2 * d->pad - d->kw) / d->stride + 1;
    }
    size_t wn = (size_t)d->kh * d->kw * (d->depthwise ? 1 : (size_t)s.c) * cout;
    const float *wc = fr__graph_copy(g, w_hwio, wn);
    const float *bc = bias ? fr__graph_copy(g, bias, (size_t)cout) : NULL;
    int32_t t = new_tensor(g, oh, ow, cout);
    if (sum_with >= 0 && !g->error) {
        struct fr_tshape r = g->shapes[sum_with];
        if (r.h != oh || r.w != ow || r.c != cout) g->error = FR_ERR_SHAPE;
    }
    struct fr_node *n = new_node(g, FR_OP_CONV);
    if (t < 0 || !n) return -1;
    n->in[0] = x;
    n->in[1] = sum_with;
    n->out = t;
    n->kh = d->kh;
    n->kw = d->kw;
    n->sh = n->sw = d->stride;
    n->pad_t = pt, n->pad_b = pb, n->pad_l = pl, n->pad_r = pr;
    n->groups = d->depthwise ? s.c : 1;
    n->w = wc;
    n->b = bc;
    n->act = d->act;
    n->alpha = d->alpha;
    n->sum = sum_with >= 0;
    /* Names usually point into the weights file, which is freed after the
     * build: keep a copy. */
    n->name = name ? own(g, fr_strdup(name)) : "conv";
    g->flops += 2.0 * oh * ow * cout * d->kh * d->kw * (d->depthwise ? 1 : s.c);
    return t;
}

int32_t fr__graph_pool(struct fr_graph *g, int32_t x, bool max, int32_t k, int32_t stride, bool same) {
    if (g->error || x < 0) return -1;
    struct fr_tshape s = g->shapes[x];
    int32_t oh, ow, pt = 0, pb = 0, pl = 0, pr = 0;
    if (same) {
        fr__tf_same_pad(s.h, k, stride, &oh, &pt, &pb);
        fr__tf_same_pad(s.w, k, stride, &ow, &pl, &pr);
    } else {
        oh = (s.h - k) / stride + 1;
        ow = (s.w - k) / stride + 1;
    }
    int32_t t = new_tensor(g, oh, ow, s.c);
    struct fr_node *n = new_node(g, FR_OP_POOL);
    if (t < 0 || !n) return -1;
    n->in[0] = x;
    n->out = t;
    n->kh = n->kw = k;
    n->sh = n->sw = stride;
    n->pad_t = pt, n->pad_b = pb, n->pad_l = pl, n->pad_r = pr;
    n->pool_max = max;
    n->name = max ? "maxpool" : "avgpool";
    return t;
}

int32_t fr__graph_global_avg(struct fr_graph *g, int32_t x) {
    if (g->error || x < 0) return -1;
    int32_t t = new_tensor(g, 1, 1, g->shapes[x].c);
    struct fr_node *n = new_node(g, FR_OP_GLOBAL_AVG);
    if (t < 0 || !n) return -1;
    n->in[0] = x;
    n->out = t;
    n->name = "mean";
    return t;
}

int32_t fr__graph_fc(struct fr_graph *g, int32_t x, int32_t cout, const float *w_io, const float *bias) {
    if (g->error || x < 0) return -1;
    struct fr_tshape s = g->shapes[x];
    size_t cin = (size_t)s.h * s.w * s.c;
    const float *wc = fr__graph_copy(g, w_io, cin * (size_t)cout);
    const float *bc = bias ? fr__graph_copy(g, bias, (size_t)cout) : NULL;
    int32_t t = new_tensor(g, 1, 1, cout);
    struct fr_node *n = new_node(g, FR_OP_FC);
    if (t < 0 || !n) return -1;
    n->in[0] = x;
    n->out = t;
    n->w = wc;
    n->b = bc;
    n->name = "fc";
    g->flops += 2.0 * (double)cin * cout;
    return t;
}

int32_t fr__graph_act(struct fr_graph *g, int32_t x, enum fr_act act) {
    if (g->error || x < 0) return -1;
    struct fr_tshape s = g->shapes[x];
    int32_t t = new_tensor(g, s.h, s.w, s.c);
    struct fr_node *n = new_node(g, FR_OP_ACT);
    if (t < 0 || !n) return -1;
    n->in[0] = x;
    n->out = t;
    n->act = act;
    n->name = "act";
    return t;
}

int32_t fr__graph_pad_add(struct fr_graph *g, int32_t a, int32_t b, enum fr_act act) {
    if (g->error || a < 0 || b < 0) return -1;
    struct fr_tshape sa = g->shapes[a], sb = g->shapes[b];
    int32_t oh = sa.h > sb.h ? sa.h : sb.h, ow = sa.w > sb.w ? sa.w : sb.w;
    int32_t oc = sa.c > sb.c ? sa.c : sb.c;
    int32_t t = new_tensor(g, oh, ow, oc);
    struct fr_node *n = new_node(g, FR_OP_PAD_ADD);
    if (t < 0 || !n) return -1;
    n->in[0] = a;
    n->in[1] = b;
    n->out = t;
    n->act = act;
    n->name = "pad_add";
    return t;
}

void fr__graph_output(struct fr_graph *g, int32_t t) {
    if (g->error || t < 0) return;
    if (g->n_outputs >= (int32_t)(sizeof(g->outputs) / sizeof(g->outputs[0]))) {
        g->error = FR_ERR_INTERNAL;
        return;
    }
    g->outputs[g->n_outputs++] = t;
}
