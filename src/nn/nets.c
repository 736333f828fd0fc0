/* The four face-api networks as graphs.
 *
 * Each builder mirrors face-api's TypeScript forward pass layer by layer
 * (src/ssdMobilenetv1, src/tinyYolov2, src/faceFeatureExtractor,
 * src/faceRecognitionNet in @vladmandic/face-api). Affine layers that follow
 * a convolution (batch norm, dlib's scale layer) are folded into the
 * convolution's weights and bias here, once, so the backend sees plain
 * conv + bias + activation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nets.h"

struct bld {
    const struct fr_weights *w;
    struct fr_graph *g;
    enum fr_status st;
    char *err;
    size_t errlen;
};

/* Fetch a tensor by name, checking rank and (optionally) dims; -1 = any. */
static const float *W(struct bld *b, const char *name, int32_t ndim, int64_t d0, int64_t d1, int64_t d2,
                      int64_t d3, const struct fr_weight_tensor **t_out) {
    if (b->st != FR_OK) return NULL;
    int64_t shape[4] = { d0, d1, d2, d3 };
    const struct fr_weight_tensor *t;
    b->st = fr_weights_get(b->w, name, ndim, shape, &t, b->err, b->errlen);
    if (b->st != FR_OK) return NULL;
    if (t_out) *t_out = t;
    return t->data;
}

static int32_t channels(struct bld *b, int32_t x) { return x >= 0 ? b->g->shapes[x].c : 0; }

/* conv with weights name/bias name; k inferred from the weight tensor. */
static int32_t conv(struct bld *b, int32_t x, const char *wname, const char *bname, int32_t stride, bool same,
                    int32_t pad, enum fr_act act, int32_t sum_with) {
    const struct fr_weight_tensor *t = NULL;
    const float *w = W(b, wname, 4, -1, -1, channels(b, x), -1, &t);
    const float *bias = bname ? W(b, bname, 1, t ? t->shape[3] : -1, -1, -1, -1, NULL) : NULL;
    if (b->st != FR_OK || x < 0) return -1;
    struct fr_conv_desc d = { .kh = (int32_t)t->shape[0], .kw = (int32_t)t->shape[1], .stride = stride,
                              .cout = (int32_t)t->shape[3], .same = same, .pad = pad, .act = act, .alpha = 0.1f };
    return fr__graph_conv(b->g, x, &d, w, bias, sum_with, t->name);
}

static int32_t depthwise(struct bld *b, int32_t x, const char *wname, const float *w_override,
                         const float *bias, int32_t stride, bool same, int32_t pad, enum fr_act act) {
    const struct fr_weight_tensor *t = NULL;
    const float *w = W(b, wname, 4, 3, 3, channels(b, x), 1, &t);
    if (b->st != FR_OK || x < 0) return -1;
    struct fr_conv_desc d = { .kh = 3, .kw = 3, .stride = stride, .same = same, .pad = pad, .depthwise = true,
                              .act = act, .alpha = 0.1f };
    return fr__graph_conv(b->g, x, &d, w_override ? w_override : w, bias, -1, t->name);
}

static enum fr_status finish(struct bld *b, struct fr_graph **out) {
    if (b->st == FR_OK && b->g->error != FR_OK) {
        b->st = b->g->error;
        fr_errf(b->err, b->errlen, "%s: graph construction failed: %s", b->g->name, fr_status_str(b->st));
    }
    if (b->st != FR_OK) {
        fr__graph_free(b->g);
        return b->st;
    }
    *out = b->g;
    return FR_OK;
}

/* ---- SSD MobileNetV1 (src/ssdMobilenetv1) ---- */

static int32_t ssd_pointwise(struct bld *b, const char *prefix, int32_t idx, int32_t x, int32_t stride) {
    char wn[128], bn[128];
    snprintf(wn, sizeof(wn), "%s/Conv2d_%d_pointwise/weights", prefix, idx);
    snprintf(bn, sizeof(bn), "%s/Conv2d_%d_pointwise/convolution_bn_offset", prefix, idx);
    return conv(b, x, wn, bn, stride, true, 0, FR_ACT_RELU6, -1);
}

static int32_t ssd_depthwise(struct bld *b, int32_t idx, int32_t x, int32_t stride) {
    /* tf.batchNorm(x, mean, var, offset, scale, eps) folded into the
     * depthwise filter: y = x * s + (offset - mean * s), s = scale / sqrt(var + eps). */
    const float eps = 0.0010000000474974513f;
    int32_t c = channels(b, x);
    char n[5][128];
    const char *sfx[5] = { "depthwise_weights", "BatchNorm/gamma", "BatchNorm/beta", "BatchNorm/moving_mean",
                           "BatchNorm/moving_variance" };
    for (int i = 0; i < 5; i++) snprintf(n[i], sizeof(n[i]), "MobilenetV1/Conv2d_%d_depthwise/%s", idx, sfx[i]);
    const float *w = W(b, n[0], 4, 3, 3, c, 1, NULL);
    const float *gamma = W(b, n[1], 1, c, -1, -1, -1, NULL), *beta = W(b, n[2], 1, c, -1, -1, -1, NULL);
    const float *mean = W(b, n[3], 1, c, -1, -1, -1, NULL), *var = W(b, n[4], 1, c, -1, -1, -1, NULL);
    if (b->st != FR_OK || x < 0) return -1;
    float *fw = fr__graph_copy(b->g, w, (size_t)9 * c);
    float *fb = fr__graph_copy(b->g, NULL, (size_t)c);
    if (!fw || !fb) return -1;
    for (int32_t ch = 0; ch < c; ch++) {
        float s = gamma[ch] / sqrtf(var[ch] + eps);
        for (int k = 0; k < 9; k++) fw[k * c + ch] *= s;
        fb[ch] = beta[ch] - mean[ch] * s;
    }
    return depthwise(b, x, n[0], fw, fb, stride, true, 0, FR_ACT_RELU6);
}

/* One box predictor: BoxEncodingPredictor (4 per anchor) and ClassPredictor
 * (3 per anchor) merged into a single 1x1 conv with 7*A output channels:
 * channels [0, 4A) are box encodings, [4A, 7A) class logits. */
static int32_t ssd_box_predictor(struct bld *b, int32_t idx, int32_t x) {
    char n[4][128];
    snprintf(n[0], 128, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/weights", idx);
    snprintf(n[1], 128, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/biases", idx);
    snprintf(n[2], 128, "Prediction/BoxPredictor_%d/ClassPredictor/weights", idx);
    snprintf(n[3], 128, "Prediction/BoxPredictor_%d/ClassPredictor/biases", idx);
    int32_t c = channels(b, x);
    const struct fr_weight_tensor *tb = NULL, *tc = NULL;
    const float *wb = W(b, n[0], 4, 1, 1, c, -1, &tb), *wc = W(b, n[2], 4, 1, 1, c, -1, &tc);
    if (b->st != FR_OK || x < 0) return -1;
    int64_t ob = tb->shape[3], oc = tc->shape[3];
    if (ob % 4 != 0 || oc * 4 != ob * 3) {
        fr_errf(b->err, b->errlen, "ssd: box predictor %d has %lld box and %lld class channels", idx, (long long)ob,
                (long long)oc);
        b->st = FR_ERR_SHAPE;
        return -1;
    }
    const float *bb = W(b, n[1], 1, ob, -1, -1, -1, NULL), *bc = W(b, n[3], 1, oc, -1, -1, -1, NULL);
    if (b->st != FR_OK) return -1;
    int64_t o = ob + oc;
    float *w = fr__graph_copy(b->g, NULL, (size_t)(c * o));
    float *bias = fr__graph_copy(b->g, NULL, (size_t)o);
    if (!w || !bias) return -1;
    for (int32_t i = 0; i < c; i++) {
        memcpy(w + i * o, wb + i * ob, sizeof(float) * (size_t)ob);
        memcpy(w + i * o + ob, wc + i * oc, sizeof(float) * (size_t)oc);
    }
    memcpy(bias, bb, sizeof(float) * (size_t)ob);
    memcpy(bias + ob, bc, sizeof(float) * (size_t)oc);
    struct fr_conv_desc d = { .kh = 1, .kw = 1, .stride = 1, .cout = (int32_t)o, .same = true };
    int32_t y = fr__graph_conv(b->g, x, &d, w, bias, -1, tb->name);
    fr__graph_output(b->g, y);
    return y;
}

static void build_ssd(struct bld *b) {
    int32_t x = fr__graph_input(b->g, 512, 512, 3);
    b->g->input_range = 1.0f; /* x / 127.5 - 1 */
    x = ssd_pointwise(b, "MobilenetV1", 0, x, 2);
    int32_t conv11 = -1;
    for (int32_t i = 1; i <= 13; i++) {
        int32_t s = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
        x = ssd_depthwise(b, i, x, s);
        x = ssd_pointwise(b, "MobilenetV1", i, x, 1);
        if (i == 11) conv11 = x;
    }
    int32_t p[8];
    int32_t y = x;
    for (int32_t i = 0; i < 8; i++) {
        y = ssd_pointwise(b, "Prediction", i, y, (i % 2) ? 2 : 1);
        p[i] = y;
    }
    const int32_t srcs[6] = { conv11, x, p[1], p[3], p[5], p[7] };
    int64_t anchors = 0;
    for (int32_t i = 0; i < 6; i++) {
        int32_t o = ssd_box_predictor(b, i, srcs[i]);
        if (o >= 0) anchors += (int64_t)b->g->shapes[o].h * b->g->shapes[o].w * (b->g->shapes[o].c / 7);
    }
    /* Anchor boxes, [anchors][4] as (ymin, xmin, ymax, xmax) in [0, 1]. */
    const float *a = W(b, "Output/extra_dim", 3, 1, anchors, 4, -1, NULL);
    if (b->st != FR_OK) return;
    b->g->aux = fr__graph_copy(b->g, a, (size_t)anchors * 4);
    b->g->n_aux = anchors;
}

/* ---- TinyFaceDetector (src/tinyYolov2, withSeparableConvs, 7 filters) ---- */

static int32_t tiny_separable(struct bld *b, int32_t idx, int32_t x) {
    char dn[64], pn[64], bn[64];
    snprintf(dn, sizeof(dn), "conv%d/depthwise_filter", idx);
    snprintf(pn, sizeof(pn), "conv%d/pointwise_filter", idx);
    snprintf(bn, sizeof(bn), "conv%d/bias", idx);
    /* tf.pad by 1, then 'valid' separable conv, bias, leaky relu. */
    x = depthwise(b, x, dn, NULL, NULL, 1, false, 1, FR_ACT_NONE);
    return conv(b, x, pn, bn, 1, false, 0, FR_ACT_LEAKY, -1);
}

static void build_tiny(struct bld *b, int32_t size) {
    int32_t x = fr__graph_input(b->g, size, size, 3);
    x = conv(b, x, "conv0/filters", "conv0/bias", 1, false, 0, FR_ACT_LEAKY, -1);
    x = fr__graph_pool(b->g, x, true, 2, 2, true);
    for (int32_t i = 1; i <= 5; i++) {
        x = tiny_separable(b, i, x);
        x = fr__graph_pool(b->g, x, true, 2, i < 5 ? 2 : 1, true);
    }
    x = conv(b, x, "conv8/filters", "conv8/bias", 1, false, 0, FR_ACT_NONE, -1);
    fr__graph_output(b->g, x);
}

/* ---- 68-point landmark net (src/faceFeatureExtractor + FaceLandmark68Net) ---- */

/* depthwiseSeparableConv: depthwise (no bias) then pointwise + bias. */
static int32_t separable(struct bld *b, const char *prefix, int32_t x, int32_t stride, enum fr_act act,
                         int32_t sum_with) {
    char dn[128], pn[128], bn[128];
    snprintf(dn, sizeof(dn), "%s/depthwise_filter", prefix);
    snprintf(pn, sizeof(pn), "%s/pointwise_filter", prefix);
    snprintf(bn, sizeof(bn), "%s/bias", prefix);
    x = depthwise(b, x, dn, NULL, NULL, stride, true, 0, FR_ACT_NONE);
    return conv(b, x, pn, bn, 1, true, 0, act, sum_with);
}

/* denseBlock4: out1 = relu(conv0(x)); the block keeps a running sum
 * s_k = out1 + ... + out_k and feeds relu(s_k) to the next separable conv;
 * it returns relu(s_4). The sums are fused into the pointwise convs as
 * residual post-ops accumulating into s in place. */
static int32_t dense_block(struct bld *b, const char *name, int32_t x, bool first) {
    char p[64];
    snprintf(p, sizeof(p), "%s/conv0", name);
    int32_t out1;
    if (first) {
        char wn[96], bn[96];
        snprintf(wn, sizeof(wn), "%s/filters", p);
        snprintf(bn, sizeof(bn), "%s/bias", p);
        out1 = conv(b, x, wn, bn, 2, true, 0, FR_ACT_RELU, -1);
    } else {
        out1 = separable(b, p, x, 2, FR_ACT_RELU, -1);
    }
    int32_t in = out1, s = out1;
    for (int32_t k = 1; k <= 3; k++) {
        snprintf(p, sizeof(p), "%s/conv%d", name, k);
        s = separable(b, p, in, 1, k == 3 ? FR_ACT_RELU : FR_ACT_NONE, s);
        if (k < 3) in = fr__graph_act(b->g, s, FR_ACT_RELU);
    }
    return s;
}

static void build_landmark(struct bld *b) {
    int32_t x = fr__graph_input(b->g, 112, 112, 3);
    x = dense_block(b, "dense0", x, true);
    x = dense_block(b, "dense1", x, false);
    x = dense_block(b, "dense2", x, false);
    x = dense_block(b, "dense3", x, false);
    x = fr__graph_pool(b->g, x, false, 7, 2, false);
    const float *w = W(b, "fc/weights", 2, 256, 136, -1, -1, NULL);
    const float *bias = W(b, "fc/bias", 1, 136, -1, -1, -1, NULL);
    if (b->st != FR_OK) return;
    x = fr__graph_fc(b->g, x, 136, w, bias);
    fr__graph_output(b->g, x);
}

/* ---- Recognition ResNet (src/faceRecognitionNet) ---- */

/* conv + bias followed by dlib's scale layer (x * weights + biases), folded. */
static int32_t recog_conv(struct bld *b, const char *prefix, int32_t x, int32_t stride, bool same, enum fr_act act,
                          int32_t sum_with) {
    char n[4][128];
    snprintf(n[0], 128, "%s/conv/filters", prefix);
    snprintf(n[1], 128, "%s/conv/bias", prefix);
    snprintf(n[2], 128, "%s/scale/weights", prefix);
    snprintf(n[3], 128, "%s/scale/biases", prefix);
    const struct fr_weight_tensor *t = NULL;
    const float *w = W(b, n[0], 4, -1, -1, channels(b, x), -1, &t);
    int64_t co = t ? t->shape[3] : -1;
    const float *bias = W(b, n[1], 1, co, -1, -1, -1, NULL);
    const float *sw = W(b, n[2], 1, co, -1, -1, -1, NULL), *sb = W(b, n[3], 1, co, -1, -1, -1, NULL);
    if (b->st != FR_OK || x < 0) return -1;
    size_t nw = (size_t)t->numel;
    float *fw = fr__graph_copy(b->g, w, nw), *fb = fr__graph_copy(b->g, NULL, (size_t)co);
    if (!fw || !fb) return -1;
    for (size_t i = 0; i < nw; i++) fw[i] *= sw[i % (size_t)co];
    for (int64_t o = 0; o < co; o++) fb[o] = bias[o] * sw[o] + sb[o];
    struct fr_conv_desc d = { .kh = (int32_t)t->shape[0], .kw = (int32_t)t->shape[1], .stride = stride,
                              .cout = (int32_t)co, .same = same, .act = act };
    return fr__graph_conv(b->g, x, &d, fw, fb, sum_with, t->name);
}

static int32_t residual(struct bld *b, const char *name, int32_t x) {
    char p[96];
    snprintf(p, sizeof(p), "%s/conv1", name);
    int32_t y = recog_conv(b, p, x, 1, true, FR_ACT_RELU, -1);
    snprintf(p, sizeof(p), "%s/conv2", name);
    return recog_conv(b, p, y, 1, true, FR_ACT_RELU, x);
}

/* residualDown: the shortcut is a 2x2 average pool of x, zero-padded in
 * channels; when the strided 'valid' conv comes out one pixel smaller than
 * the pool, the conv branch is zero-padded at the bottom and right. */
static int32_t residual_down(struct bld *b, const char *name, int32_t x) {
    char p[96];
    snprintf(p, sizeof(p), "%s/conv1", name);
    int32_t y = recog_conv(b, p, x, 2, false, FR_ACT_RELU, -1);
    snprintf(p, sizeof(p), "%s/conv2", name);
    y = recog_conv(b, p, y, 1, true, FR_ACT_NONE, -1);
    int32_t pooled = fr__graph_pool(b->g, x, false, 2, 2, false);
    return fr__graph_pad_add(b->g, y, pooled, FR_ACT_RELU);
}

static void build_recognition(struct bld *b) {
    int32_t x = fr__graph_input(b->g, 150, 150, 3);
    x = recog_conv(b, "conv32_down", x, 2, false, FR_ACT_RELU, -1);
    x = fr__graph_pool(b->g, x, true, 3, 2, false);
    x = residual(b, "conv32_1", x);
    x = residual(b, "conv32_2", x);
    x = residual(b, "conv32_3", x);
    x = residual_down(b, "conv64_down", x);
    x = residual(b, "conv64_1", x);
    x = residual(b, "conv64_2", x);
    x = residual(b, "conv64_3", x);
    x = residual_down(b, "conv128_down", x);
    x = residual(b, "conv128_1", x);
    x = residual(b, "conv128_2", x);
    x = residual_down(b, "conv256_down", x);
    x = residual(b, "conv256_1", x);
    x = residual(b, "conv256_2", x);
    x = residual_down(b, "conv256_down_out", x);
    x = fr__graph_global_avg(b->g, x);
    const float *w = W(b, "fc", 2, 256, 128, -1, -1, NULL);
    if (b->st != FR_OK) return;
    x = fr__graph_fc(b->g, x, 128, w, NULL);
    fr__graph_output(b->g, x);
}

enum fr_status fr__net_build(enum fr_net_kind kind, const struct fr_weights *w, int32_t input_size,
                             struct fr_graph **out, char *err, size_t errlen) {
    *out = NULL;
    struct bld b = { .w = w, .st = FR_OK, .err = err, .errlen = errlen };
    b.g = fr__graph_new(fr_net_model_name(kind));
    if (!b.g) return FR_ERR_NOMEM;
    switch (kind) {
    case FR_NET_SSD: build_ssd(&b); break;
    case FR_NET_TINY: build_tiny(&b, input_size); break;
    case FR_NET_LANDMARK: build_landmark(&b); break;
    case FR_NET_RECOGNITION: build_recognition(&b); break;
    }
    return finish(&b, out);
}
