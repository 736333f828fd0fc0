/* fr_net: a graph compiled on a backend, with per-batch-size execs and one
 * reserved arena. */
#include <string.h>

#include "backend-impl.h"
#include "facerec/nn.h"
#include "facerec/weights.h"
#include "nets.h"

struct fr_net {
    struct fr_backend *be;
    enum fr_net_kind kind;
    int32_t max_batch;
    struct fr_graph *g;
    struct fr_exec **execs; /* [max_batch + 1], lazily compiled */
    struct fr_buffer *arena;
    size_t arena_bytes;
};

static const char *const model_names[FR_NET_COUNT] = {
    [FR_NET_SSD] = "ssd_mobilenetv1_model",
    [FR_NET_TINY] = "tiny_face_detector_model",
    [FR_NET_LANDMARK] = "face_landmark_68_model",
    [FR_NET_RECOGNITION] = "face_recognition_model",
};

const char *fr_net_model_name(enum fr_net_kind kind) {
    FR_ASSERT((int)kind >= 0 && kind < FR_NET_COUNT);
    return model_names[kind];
}

struct fr_net_params fr_net_default_params(enum fr_net_kind kind) {
    return (struct fr_net_params){ .kind = kind, .models_dir = "models", .max_batch = 32, .input_size = 416 };
}

static struct fr_exec *get_exec(struct fr_net *net, int32_t batch, enum fr_status *st, char *err, size_t errlen) {
    if (!net->execs[batch]) {
        *st = net->be->iface.exec_new(net->be, net->g, batch, &net->execs[batch], err, errlen);
        if (*st != FR_OK) return NULL;
    }
    *st = FR_OK;
    return net->execs[batch];
}

enum fr_status fr_net_new(struct fr_backend *be, const struct fr_net_params *params, struct fr_net **out, char *err,
                          size_t errlen) {
    FR_ASSERT(be && params && out);
    *out = NULL;
    if ((int)params->kind < 0 || params->kind >= FR_NET_COUNT || params->max_batch < 1 || params->max_batch > 4096) {
        fr_errf(err, errlen, "invalid net parameters (kind %d, max_batch %d)", (int)params->kind, params->max_batch);
        return FR_ERR_INVALID;
    }
    if (params->kind == FR_NET_TINY &&
        (params->input_size < 128 || params->input_size > 608 || params->input_size % 32 != 0)) {
        fr_errf(err, errlen, "tiny detector input size %d must be a multiple of 32 in [128, 608]", params->input_size);
        return FR_ERR_INVALID;
    }
    struct fr_weights *w = NULL;
    enum fr_status st = fr_weights_load(params->models_dir ? params->models_dir : "models",
                                        model_names[params->kind], &w, err, errlen);
    if (st != FR_OK) return st;
    struct fr_net *net = fr_calloc(1, sizeof(*net));
    if (!net) {
        fr_weights_free(w);
        return FR_ERR_NOMEM;
    }
    net->be = be;
    net->kind = params->kind;
    net->max_batch = params->max_batch;
    net->execs = fr_calloc((size_t)params->max_batch + 1, sizeof(*net->execs));
    if (!net->execs) {
        st = FR_ERR_NOMEM;
        goto fail;
    }
    st = fr__net_build(params->kind, w, params->input_size, &net->g, err, errlen);
    fr_weights_free(w);
    w = NULL;
    if (st != FR_OK) goto fail;
    int32_t bad;
    if (!fr__backend_supports_graph(be, net->g, &bad)) {
        const struct fr_node *nd = &net->g->nodes[bad];
        fr_errf(err, errlen, "%s: backend %s does not support op %s (node %d%s%s)", model_names[params->kind],
                be->iface.name, fr__op_name(nd->op), (int)bad, nd->name ? ", " : "", nd->name ? nd->name : "");
        st = FR_ERR_UNSUPPORTED;
        goto fail;
    }
    net->g->precision = be->iface.net_precision ? be->iface.net_precision(be, params->kind) : FR_PRECISION_FP32;
    struct fr_exec *ex = get_exec(net, params->max_batch, &st, err, errlen);
    if (!ex && net->g->precision != FR_PRECISION_FP32 && st != FR_ERR_BUDGET && st != FR_ERR_NOMEM) {
        /* A lower precision this oneDNN cannot compile here (a layout or
         * kernel missing on some CPU) must not stop the net: fp32 always
         * works. */
        FR_LOGW("%s: %s failed (%s); running it in fp32", model_names[params->kind],
                fr_precision_name((enum fr_precision)net->g->precision), err ? err : "");
        net->g->precision = FR_PRECISION_FP32;
        ex = get_exec(net, params->max_batch, &st, err, errlen);
    }
    if (!ex) goto fail;
    net->arena_bytes = be->iface.exec_arena_bytes(ex);
    st = be->iface.buffer_alloc(be, net->arena_bytes, &net->arena);
    if (st != FR_OK) {
        fr_errf(err, errlen, "%s: the activation arena for batch %d needs %zu bytes; the memory budget has %zu left",
                model_names[params->kind], params->max_batch, net->arena_bytes, be->memory_limit - be->memory_used);
        goto fail;
    }
    *out = net;
    return FR_OK;
fail:
    fr_weights_free(w);
    fr_net_free(net);
    return st;
}

void fr_net_free(struct fr_net *net) {
    if (!net) return;
    if (net->execs)
        for (int32_t b = 0; b <= net->max_batch; b++)
            if (net->execs[b]) net->be->iface.exec_free(net->be, net->execs[b]);
    if (net->arena) net->be->iface.buffer_free(net->be, net->arena);
    fr_free(net->execs);
    fr__graph_free(net->g);
    fr_free(net);
}

enum fr_net_kind fr_net_kind(const struct fr_net *net) { return net->kind; }
int32_t fr_net_max_batch(const struct fr_net *net) { return net->max_batch; }
double fr_net_flops(const struct fr_net *net) { return net->g->flops; }
enum fr_precision fr_net_precision(const struct fr_net *net) {
    /* CUDA keeps its own setting and leaves the graph at fp32. */
    if (!net->be->iface.net_precision && net->be->precision == FR_PRECISION_FP16) return FR_PRECISION_FP16;
    return (enum fr_precision)net->g->precision;
}

void fr_net_input_shape(const struct fr_net *net, int32_t *h, int32_t *w, int32_t *c) {
    struct fr_tshape s = net->g->shapes[net->g->input];
    *h = s.h, *w = s.w, *c = s.c;
}

const float *fr_net_anchors(const struct fr_net *net, int64_t *count) {
    *count = net->g->n_aux;
    return net->g->aux;
}

int32_t fr_net_output_count(const struct fr_net *net) { return net->g->n_outputs; }

void fr_net_output_shape(const struct fr_net *net, int32_t i, int32_t *h, int32_t *w, int32_t *c) {
    FR_ASSERT(i >= 0 && i < net->g->n_outputs);
    struct fr_tshape s = net->g->shapes[net->g->outputs[i]];
    *h = s.h, *w = s.w, *c = s.c;
}

size_t fr_net_plan_bytes(struct fr_net *net, int32_t batch) {
    if (batch < 1 || batch > net->max_batch) return 0;
    enum fr_status st;
    struct fr_exec *ex = get_exec(net, batch, &st, NULL, 0);
    return ex ? net->be->iface.exec_arena_bytes(ex) : 0;
}

static size_t item_floats(const struct fr_tshape *s) { return (size_t)s->h * s->w * s->c; }

/* The forward pass behind fr_net_forward and fr__net_forward_prep: the
 * input items come either as host floats (`input`) or as images that the
 * backend prepares on the device (`imgs`). */
static enum fr_status forward(struct fr_net *net, const float *input, const struct fr_prep_image *imgs, int32_t n,
                              float *const *outputs) {
    if (n < 1 || n > net->max_batch) return FR_ERR_INVALID;
    const struct fr_backend_i *b = &net->be->iface;
    enum fr_status st;
    struct fr_exec *ex = get_exec(net, n, &st, NULL, 0);
    if (!ex) return st;
    if (b->exec_arena_bytes(ex) > net->arena_bytes) {
        /* A smaller batch whose plan does not fit the reserved arena (it can
         * happen when the backend picks other layouts) runs zero-padded in
         * the max-batch exec, which by construction fits. */
        ex = net->execs[net->max_batch];
    }
    const struct fr_graph *g = net->g;
    size_t in_item = item_floats(&g->shapes[g->input]) * sizeof(float);
    size_t in_off = b->exec_input_offset(ex);
    if (imgs) {
        const struct fr_tshape *is = &g->shapes[g->input];
        for (int32_t i = 0; i < n; i++) {
            if (imgs[i].p.out_w != is->w || imgs[i].p.out_h != is->h || is->c != 3) return FR_ERR_INVALID;
            if ((st = b->prep_image(net->be, net->arena, in_off + in_item * (size_t)i, &imgs[i])) != FR_OK)
                return st;
        }
    } else if ((st = b->upload(net->be, net->arena, in_off, input, in_item * (size_t)n)) != FR_OK) {
        return st;
    }
    if (ex == net->execs[net->max_batch] && n < net->max_batch) {
        /* The rare path above: zero the unused items from a static block
         * of zeros, so that it allocates nothing either. */
        static const char zeros[1 << 16];
        size_t pad = in_item * (size_t)(net->max_batch - n), at = in_off + in_item * (size_t)n;
        for (size_t done = 0, k; done < pad; done += k) {
            k = pad - done < sizeof zeros ? pad - done : sizeof zeros;
            if ((st = b->upload(net->be, net->arena, at + done, zeros, k)) != FR_OK) return st;
        }
    }
    if ((st = b->exec_run(net->be, ex, net->arena)) != FR_OK) return st;
    for (int32_t i = 0; i < g->n_outputs; i++) {
        size_t bytes = item_floats(&g->shapes[g->outputs[i]]) * sizeof(float) * (size_t)n;
        if ((st = b->download(net->be, outputs[i], net->arena, b->exec_output_offset(ex, i), bytes)) != FR_OK)
            return st;
    }
    return b->synchronize(net->be);
}

enum fr_status fr_net_forward(struct fr_net *net, const float *input, int32_t n, float *const *outputs) {
    return forward(net, input, NULL, n, outputs);
}

bool fr__net_can_prep(const struct fr_net *net) { return net->be->iface.prep_image != NULL; }

enum fr_status fr__net_forward_prep(struct fr_net *net, const struct fr_prep_image *imgs, int32_t n,
                                    float *const *outputs) {
    if (!fr__net_can_prep(net)) return FR_ERR_UNSUPPORTED;
    return forward(net, NULL, imgs, n, outputs);
}

const struct fr_graph *fr__net_graph(const struct fr_net *net) { return net->g; }
