/* A naive, obviously-correct interpreter for fr_graph (NHWC, float64
 * accumulation). Tests run nets through it and through a real backend and
 * compare: it isolates backend bugs from graph-builder bugs. */
#include "ref-graph.h"

#include <math.h>
#include <string.h>

float fr_ref_act(float v, enum fr_act a, float alpha) {
    switch (a) {
    case FR_ACT_NONE: return v;
    case FR_ACT_RELU: return v > 0 ? v : 0;
    case FR_ACT_RELU6: return v < 0 ? 0 : (v > 6 ? 6 : v);
    case FR_ACT_LEAKY: return v > 0 ? v : alpha * v;
    }
    return v;
}

enum fr_status fr_ref_graph_run(const struct fr_graph *g, int32_t n, const float *input, float **outputs) {
    float **t = fr_calloc((size_t)g->n_tensors, sizeof(float *));
    if (!t) return FR_ERR_NOMEM;
    enum fr_status st = FR_OK;
    for (int32_t i = 0; i < g->n_tensors; i++) {
        struct fr_tshape s = g->shapes[i];
        t[i] = fr_calloc((size_t)n * s.h * s.w * s.c, sizeof(float));
        if (!t[i]) {
            st = FR_ERR_NOMEM;
            goto done;
        }
    }
    for (int32_t k = 0; k < g->n_nodes; k++) {
        const struct fr_node *nd = &g->nodes[k];
        struct fr_tshape os = g->shapes[nd->out];
        float *o = t[nd->out];
        if (nd->op == FR_OP_INPUT) {
            memcpy(o, input, sizeof(float) * (size_t)n * os.h * os.w * os.c);
            continue;
        }
        struct fr_tshape is = g->shapes[nd->in[0]];
        const float *x = t[nd->in[0]];
        for (int32_t b = 0; b < n; b++)
            for (int32_t oy = 0; oy < os.h; oy++)
                for (int32_t ox = 0; ox < os.w; ox++)
                    for (int32_t oc = 0; oc < os.c; oc++) {
                        size_t oi = (((size_t)b * os.h + oy) * os.w + ox) * os.c + oc;
                        double acc = 0;
                        switch (nd->op) {
                        case FR_OP_CONV: {
                            int32_t cin_g = is.c / nd->groups, cout_g = os.c / nd->groups, gi = oc / cout_g;
                            for (int32_t ky = 0; ky < nd->kh; ky++)
                                for (int32_t kx = 0; kx < nd->kw; kx++) {
                                    int32_t iy = oy * nd->sh - nd->pad_t + ky, ix = ox * nd->sw - nd->pad_l + kx;
                                    if (iy < 0 || ix < 0 || iy >= is.h || ix >= is.w) continue;
                                    for (int32_t ic = 0; ic < cin_g; ic++) {
                                        int32_t c = gi * cin_g + ic;
                                        double xv = x[(((size_t)b * is.h + iy) * is.w + ix) * is.c + c];
                                        double wv = nd->groups == 1
                                                        ? nd->w[(((size_t)ky * nd->kw + kx) * is.c + ic) * os.c + oc]
                                                        : nd->w[((size_t)ky * nd->kw + kx) * is.c + c];
                                        acc += xv * wv;
                                    }
                                }
                            if (nd->b) acc += nd->b[oc];
                            if (nd->sum) acc += t[nd->in[1]][oi];
                            o[oi] = fr_ref_act((float)acc, nd->act, nd->alpha);
                            break;
                        }
                        case FR_OP_POOL: {
                            double m = -INFINITY;
                            int32_t cnt = 0;
                            for (int32_t ky = 0; ky < nd->kh; ky++)
                                for (int32_t kx = 0; kx < nd->kw; kx++) {
                                    int32_t iy = oy * nd->sh - nd->pad_t + ky, ix = ox * nd->sw - nd->pad_l + kx;
                                    if (iy < 0 || ix < 0 || iy >= is.h || ix >= is.w) continue;
                                    double v = x[(((size_t)b * is.h + iy) * is.w + ix) * is.c + oc];
                                    m = v > m ? v : m;
                                    acc += v;
                                    cnt++;
                                }
                            o[oi] = (float)(nd->pool_max ? m : acc / cnt);
                            break;
                        }
                        case FR_OP_GLOBAL_AVG:
                            for (int32_t p = 0; p < is.h * is.w; p++) acc += x[((size_t)b * is.h * is.w + p) * is.c + oc];
                            o[oi] = (float)(acc / (is.h * is.w));
                            break;
                        case FR_OP_FC: {
                            size_t cin = (size_t)is.h * is.w * is.c;
                            for (size_t i = 0; i < cin; i++) acc += (double)x[b * cin + i] * nd->w[i * os.c + oc];
                            if (nd->b) acc += nd->b[oc];
                            o[oi] = (float)acc;
                            break;
                        }
                        case FR_OP_ACT: o[oi] = fr_ref_act(x[oi], nd->act, nd->alpha); break;
                        case FR_OP_PAD_ADD: {
                            struct fr_tshape sb = g->shapes[nd->in[1]];
                            if (oc < is.c && oy < is.h && ox < is.w)
                                acc += x[(((size_t)b * is.h + oy) * is.w + ox) * is.c + oc];
                            if (oc < sb.c && oy < sb.h && ox < sb.w)
                                acc += t[nd->in[1]][(((size_t)b * sb.h + oy) * sb.w + ox) * sb.c + oc];
                            o[oi] = fr_ref_act((float)acc, nd->act, nd->alpha);
                            break;
                        }
                        case FR_OP_INPUT: break;
                        }
                    }
    }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        struct fr_tshape s = g->shapes[g->outputs[i]];
        memcpy(outputs[i], t[g->outputs[i]], sizeof(float) * (size_t)n * s.h * s.w * s.c);
    }
done:
    for (int32_t i = 0; i < g->n_tensors; i++) fr_free(t[i]);
    fr_free(t);
    return st;
}
