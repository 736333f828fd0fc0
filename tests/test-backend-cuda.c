/* CUDA backend conformance: every op and every net runs on the CUDA backend
 * and on the CPU backend, which must agree per output element within 1e-4
 * relative in fp32 and 1e-2 in fp16 (relative to the output's largest
 * magnitude, at least 1). Recognition descriptors in fp16 are also held to
 * 1e-2 relative L2 distance from fp32, the bar for accepting fp16.
 *
 * Without a CUDA device (or without the CUDA backend module) the test
 * exits with 77, which CTest reports as skipped (SKIP_RETURN_CODE), never
 * as passed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "face/face-impl.h"
#include "facerec/face.h"
#include "facerec/image.h"
#include "facerec/nn.h"
#include "nn/backend-impl.h"
#include "nn/nets.h"
#include "ref-graph.h"
#include "test-util.h"

#define SKIP 77

static uint32_t g_seed = 42;
static float *rnd(size_t n) { return fr_ref_rand_floats(n, &g_seed); }

static struct fr_backend *make_backend(enum fr_device dev, enum fr_precision prec) {
    char err[512];
    struct fr_backend_params p = fr_backend_default_params();
    p.device = dev;
    p.precision = prec;
    if (dev == FR_DEVICE_CUDA) p.memory_limit = (size_t)1 << 30;
    struct fr_backend *be = NULL;
    enum fr_status st = fr_backend_new(&p, &be, err, sizeof err);
    if (st != FR_OK) fail_msg("fr_backend_new: %s", err);
    return be;
}

/* Runs g for batch n on be; outputs into outs (caller-allocated). */
static void run_graph(struct fr_backend *be, const struct fr_graph *g, int32_t n, const float *x, float **outs) {
    char err[512];
    struct fr_exec *ex = NULL;
    enum fr_status st = be->iface.exec_new(be, g, n, &ex, err, sizeof err);
    if (st != FR_OK) fail_msg("%s: exec_new on %s: %s", g->name, fr_backend_name(be), err);
    struct fr_buffer *arena;
    assert_int_equal(be->iface.buffer_alloc(be, be->iface.exec_arena_bytes(ex), &arena), FR_OK);
    struct fr_tshape is = g->shapes[g->input];
    size_t in_bytes = sizeof(float) * (size_t)n * is.h * is.w * is.c;
    assert_int_equal(be->iface.upload(be, arena, be->iface.exec_input_offset(ex), x, in_bytes), FR_OK);
    assert_int_equal(be->iface.exec_run(be, ex, arena), FR_OK);
    for (int32_t o = 0; o < g->n_outputs; o++) {
        struct fr_tshape s = g->shapes[g->outputs[o]];
        assert_int_equal(be->iface.download(be, outs[o], arena, be->iface.exec_output_offset(ex, o),
                                            sizeof(float) * (size_t)n * s.h * s.w * s.c),
                         FR_OK);
    }
    assert_int_equal(be->iface.synchronize(be), FR_OK);
    be->iface.buffer_free(be, arena);
    be->iface.exec_free(be, ex);
}

/* Max |a - b| over max(1, max |b|). */
static double rel_diff(const float *a, const float *b, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mr = fmax(mr, fabs((double)b[i]));
    }
    return md / fmax(1.0, mr);
}

static void compare_graph(const struct fr_graph *g, int32_t n, const char *what) {
    struct fr_backend *cpu = make_backend(FR_DEVICE_CPU, FR_PRECISION_FP32);
    struct fr_backend *gpu32 = make_backend(FR_DEVICE_CUDA, FR_PRECISION_FP32);
    struct fr_backend *gpu16 = make_backend(FR_DEVICE_CUDA, FR_PRECISION_FP16);
    struct fr_tshape is = g->shapes[g->input];
    float *x = rnd((size_t)n * is.h * is.w * is.c);
    float *ref[8], *o32[8], *o16[8];
    size_t sz[8];
    for (int32_t o = 0; o < g->n_outputs; o++) {
        struct fr_tshape s = g->shapes[g->outputs[o]];
        sz[o] = (size_t)n * s.h * s.w * s.c;
        ref[o] = calloc(sz[o], sizeof(float));
        o32[o] = calloc(sz[o], sizeof(float));
        o16[o] = calloc(sz[o], sizeof(float));
    }
    run_graph(cpu, g, n, x, ref);
    run_graph(gpu32, g, n, x, o32);
    run_graph(gpu16, g, n, x, o16);
    for (int32_t o = 0; o < g->n_outputs; o++) {
        double d32 = rel_diff(o32[o], ref[o], sz[o]), d16 = rel_diff(o16[o], ref[o], sz[o]);
        printf("%-32s out %d: cuda fp32 %.3g, fp16 %.3g (relative to cpu)\n", what, o, d32, d16);
        assert_true(d32 <= 1e-4);
        assert_true(d16 <= 1e-2);
        free(ref[o]), free(o32[o]), free(o16[o]);
    }
    free(x);
    fr_backend_free(gpu16);
    fr_backend_free(gpu32);
    fr_backend_free(cpu);
}

/* ---- ops ---- */

static void conv_case(int32_t h, int32_t cin, int32_t cout, int32_t k, int32_t s, bool same, int32_t pad, bool dw,
                      enum fr_act act, bool sum, bool bias, int32_t n, const char *what) {
    struct fr_graph *g = fr__graph_new(what);
    int32_t x = fr__graph_input(g, h, h, cin);
    struct fr_conv_desc d = { .kh = k, .kw = k, .stride = s, .cout = dw ? cin : cout, .same = same, .pad = pad,
                              .depthwise = dw, .act = act, .alpha = 0.1f };
    float *wt = rnd((size_t)k * k * cin * (dw ? 1 : cout)), *b = rnd((size_t)d.cout);
    int32_t res = -1;
    if (sum) {
        struct fr_conv_desc d1 = { .kh = 1, .kw = 1, .stride = s, .cout = d.cout, .same = true };
        float *w1 = rnd((size_t)cin * d.cout);
        res = fr__graph_conv(g, x, &d1, w1, NULL, -1, "res");
        free(w1);
    }
    fr__graph_output(g, fr__graph_conv(g, x, &d, wt, bias ? b : NULL, res, what));
    free(wt);
    free(b);
    assert_int_equal(g->error, FR_OK);
    compare_graph(g, n, what);
    fr__graph_free(g);
}

static void test_conv(void **state) {
    (void)state;
    conv_case(9, 3, 16, 3, 1, false, 0, false, FR_ACT_NONE, false, true, 1, "conv3x3 valid 3->16");
    conv_case(20, 3, 32, 3, 2, true, 0, false, FR_ACT_RELU6, false, true, 2, "conv3x3 same s2 (pad 0/1)");
    conv_case(16, 32, 64, 1, 1, true, 0, false, FR_ACT_RELU6, false, true, 2, "conv1x1 32->64 relu6");
    conv_case(16, 32, 48, 3, 2, true, 0, false, FR_ACT_RELU, false, true, 2, "conv3x3 same s2 relu fused");
    conv_case(17, 32, 64, 3, 2, false, 0, false, FR_ACT_RELU, false, false, 2, "conv3x3 valid s2 relu no bias");
    conv_case(30, 3, 32, 7, 2, false, 0, false, FR_ACT_RELU, false, true, 3, "conv7x7 valid s2");
    conv_case(13, 64, 25, 1, 1, false, 0, false, FR_ACT_NONE, false, true, 2, "conv1x1 ->25");
    conv_case(12, 32, 32, 3, 1, true, 0, false, FR_ACT_RELU, true, true, 2, "conv3x3 + residual (fused z)");
    conv_case(12, 32, 32, 3, 1, true, 0, false, FR_ACT_NONE, true, true, 2, "conv3x3 + residual (epilogue)");
    conv_case(12, 3, 16, 3, 1, false, 0, false, FR_ACT_LEAKY, false, true, 2, "conv leaky");
    conv_case(13, 32, 32, 3, 1, false, 1, false, FR_ACT_LEAKY, false, true, 2, "conv pad1 leaky");
}

static void test_depthwise(void **state) {
    (void)state;
    conv_case(16, 32, 0, 3, 1, true, 0, true, FR_ACT_RELU6, false, true, 2, "dw3x3 same s1");
    conv_case(16, 32, 0, 3, 2, true, 0, true, FR_ACT_RELU6, false, true, 2, "dw3x3 same s2 (pad 0/1)");
    conv_case(13, 16, 0, 3, 1, false, 1, true, FR_ACT_NONE, false, true, 2, "dw3x3 pad1 valid");
}

static void test_pool_fc_act_padadd(void **state) {
    (void)state;
    struct fr_graph *g = fr__graph_new("misc");
    int32_t x = fr__graph_input(g, 15, 15, 16);
    fr_ref_add_pool_cases(g, x);
    fr__graph_output(g, fr__graph_act(g, x, FR_ACT_RELU));
    float *w = rnd(7 * 7 * 16 * 10), *b = rnd(10), *wc = rnd(9 * 16 * 32);
    int32_t p7 = fr__graph_pool(g, x, false, 2, 2, false); /* 7x7x16 */
    fr__graph_output(g, fr__graph_fc(g, p7, 10, w, b));
    struct fr_conv_desc d = { .kh = 3, .kw = 3, .stride = 2, .cout = 32 };
    int32_t c3 = fr__graph_conv(g, p7, &d, wc, NULL, -1, "c3");        /* 3x3x32 */
    int32_t pooled = fr__graph_pool(g, p7, false, 2, 2, false);        /* 3x3x16 */
    fr__graph_output(g, fr__graph_pad_add(g, c3, pooled, FR_ACT_RELU));
    free(w), free(b), free(wc);
    assert_int_equal(g->error, FR_OK);
    compare_graph(g, 3, "pool/global/act/fc/pad_add");
    fr__graph_free(g);
}

/* ---- nets ---- */

static void check_net(enum fr_net_kind kind, int32_t batch) {
    char err[512];
    struct fr_backend *be[3] = { make_backend(FR_DEVICE_CPU, FR_PRECISION_FP32),
                                 make_backend(FR_DEVICE_CUDA, FR_PRECISION_FP32),
                                 make_backend(FR_DEVICE_CUDA, FR_PRECISION_FP16) };
    struct fr_net *net[3];
    for (int k = 0; k < 3; k++) {
        struct fr_net_params np = fr_net_default_params(kind);
        np.models_dir = fr_test_models_dir();
        np.max_batch = batch;
        if (fr_net_new(be[k], &np, &net[k], err, sizeof err) != FR_OK) fail_msg("fr_net_new: %s", err);
    }
    int32_t h, w, c;
    fr_net_input_shape(net[0], &h, &w, &c);
    g_seed = 1234u + (uint32_t)kind;
    float *x = rnd((size_t)batch * h * w * c);
    int32_t no = fr_net_output_count(net[0]);
    float *out[3][8];
    size_t sz[8];
    for (int32_t i = 0; i < no; i++) {
        int32_t oh, ow, oc;
        fr_net_output_shape(net[0], i, &oh, &ow, &oc);
        sz[i] = (size_t)batch * oh * ow * oc;
        for (int k = 0; k < 3; k++) out[k][i] = calloc(sz[i], sizeof(float));
    }
    for (int k = 0; k < 3; k++) assert_int_equal(fr_net_forward(net[k], x, batch, out[k]), FR_OK);
    for (int32_t i = 0; i < no; i++) {
        double d32 = rel_diff(out[1][i], out[0][i], sz[i]), d16 = rel_diff(out[2][i], out[0][i], sz[i]);
        printf("%s output %d: cuda fp32 %.3g, fp16 %.3g (relative to cpu)\n", fr_net_model_name(kind), i, d32, d16);
        assert_true(d32 <= 1e-4);
        assert_true(d16 <= 1e-2);
    }
    if (kind == FR_NET_RECOGNITION) {
        /* Descriptors: fp16 within 1e-2 relative L2 of fp32, per face. */
        for (int32_t b = 0; b < batch; b++) {
            double dd = 0, nn = 0;
            for (int32_t j = 0; j < 128; j++) {
                double a = out[2][0][b * 128 + j], r = out[1][0][b * 128 + j];
                dd += (a - r) * (a - r);
                nn += r * r;
            }
            printf("descriptor %d: fp16 vs fp32 relative L2 %.3g\n", b, sqrt(dd / nn));
            assert_true(sqrt(dd / nn) <= 1e-2);
        }
    }
    for (int32_t i = 0; i < no; i++)
        for (int k = 0; k < 3; k++) free(out[k][i]);
    free(x);
    for (int k = 0; k < 3; k++) {
        fr_net_free(net[k]);
        fr_backend_free(be[k]);
    }
}

static void test_ssd(void **state) { (void)state; check_net(FR_NET_SSD, 2); }
static void test_tiny(void **state) { (void)state; check_net(FR_NET_TINY, 3); }
static void test_landmark(void **state) { (void)state; check_net(FR_NET_LANDMARK, 5); }
static void test_recognition(void **state) { (void)state; check_net(FR_NET_RECOGNITION, 5); }

/* The budget is enforced on the device too: a net that does not fit is
 * FR_ERR_BUDGET from fr_net_new, and the backend stays usable. */
static void test_budget(void **state) {
    (void)state;
    char err[512];
    struct fr_backend_params p = fr_backend_default_params();
    p.device = FR_DEVICE_CUDA;
    p.memory_limit = (size_t)32 << 20;
    struct fr_backend *be;
    assert_int_equal(fr_backend_new(&p, &be, err, sizeof err), FR_OK);
    struct fr_net_params np = fr_net_default_params(FR_NET_RECOGNITION);
    np.models_dir = fr_test_models_dir();
    np.max_batch = 256;
    struct fr_net *net = NULL;
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof err), FR_ERR_BUDGET);
    printf("budget: %s\n", err);
    assert_int_equal(fr_backend_memory_used(be), 0);
    np.kind = FR_NET_LANDMARK;
    np.max_batch = 1;
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof err), FR_OK);
    fr_net_free(net);
    fr_backend_free(be);
}

/* ---- device-side input preparation ---- */

/* The detector input prepared on the device from uint8 (prep_image) equals
 * the host's fr__facenet_det_prepare within 1e-5, and the SSD run on
 * device-prepared inputs matches the CPU backend run on host-prepared ones. */
static void test_prep_image(void **state) {
    (void)state;
    char err[512];
    struct fr_backend *cpu = make_backend(FR_DEVICE_CPU, FR_PRECISION_FP32);
    struct fr_backend *gpu = make_backend(FR_DEVICE_CUDA, FR_PRECISION_FP32);
    assert_non_null(gpu->iface.prep_image);
    assert_null(cpu->iface.prep_image);
    struct fr_facenet_params fp = fr_facenet_default_params();
    fp.models_dir = fr_test_models_dir();
    fp.landmarks = fp.descriptors = false;
    fp.staging = false;
    fp.max_batch_images = 1;
    struct fr_facenet *fn = NULL;
    if (fr_facenet_new(cpu, &fp, &fn, err, sizeof err) != FR_OK) fail_msg("facenet: %s", err);
    const char *files[] = { "tests/test_images/obama.jpg", "tests/test_images/obama3.jpg",
                            "tests/test_images/32bit.png" };
    enum { N = sizeof files / sizeof *files };
    struct fr_image *img[N + 1];
    for (int i = 0; i < N; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", fr_test_data_dir(), files[i]);
        if (fr_image_load(path, NULL, &img[i], err, sizeof err) != FR_OK) fail_msg("%s: %s", path, err);
    }
    /* A landscape image, letterboxed at the bottom. */
    img[N] = fr_image_new(641, 479);
    for (int32_t y = 0; y < 479; y++)
        for (int32_t x = 0; x < 641 * 3; x++) img[N]->data[(size_t)y * img[N]->stride + x] = (uint8_t)(x * 7 + y * 3);
    size_t item = fr__facenet_det_item_floats(fn), bytes = item * sizeof(float);
    float *host = malloc(bytes * (N + 1)), *dev = malloc(bytes);
    struct fr_prep_image pi[N + 1];
    struct fr_buffer *buf;
    assert_int_equal(gpu->iface.buffer_alloc(gpu, bytes + 4096, &buf), FR_OK);
    for (int i = 0; i <= N; i++) {
        fr__facenet_det_prepare(fn, img[i], host + item * (size_t)i);
        fr__facenet_det_prep_params(fn, img[i], &pi[i]);
        /* At an offset, as an item of a batch is. */
        assert_int_equal(gpu->iface.prep_image(gpu, buf, 4096, &pi[i]), FR_OK);
        assert_int_equal(gpu->iface.download(gpu, dev, buf, 4096, bytes), FR_OK);
        double worst = 0;
        for (size_t j = 0; j < item; j++) worst = fmax(worst, fabs((double)dev[j] - host[item * (size_t)i + j]));
        printf("prep %d (%dx%d): max |device - host| = %g\n", i, img[i]->width, img[i]->height, worst);
        assert_true(worst <= 1e-5);
    }
    gpu->iface.buffer_free(gpu, buf);
    /* The SSD on a batch of device-prepared inputs against the CPU. */
    struct fr_net_params np = fr_net_default_params(FR_NET_SSD);
    np.models_dir = fr_test_models_dir();
    np.max_batch = N + 1;
    struct fr_net *nc, *ng;
    if (fr_net_new(cpu, &np, &nc, err, sizeof err) != FR_OK) fail_msg("fr_net_new: %s", err);
    if (fr_net_new(gpu, &np, &ng, err, sizeof err) != FR_OK) fail_msg("fr_net_new: %s", err);
    assert_true(fr__net_can_prep(ng));
    assert_false(fr__net_can_prep(nc));
    int32_t no = fr_net_output_count(nc);
    float *oc[8], *og[8];
    size_t sz[8];
    for (int32_t o = 0; o < no; o++) {
        int32_t oh, ow, ocn;
        fr_net_output_shape(nc, o, &oh, &ow, &ocn);
        sz[o] = (size_t)(N + 1) * oh * ow * ocn;
        oc[o] = calloc(sz[o], sizeof(float));
        og[o] = calloc(sz[o], sizeof(float));
    }
    assert_int_equal(fr_net_forward(nc, host, N + 1, oc), FR_OK);
    assert_int_equal(fr__net_forward_prep(ng, pi, N + 1, og), FR_OK);
    assert_int_equal(fr__net_forward_prep(nc, pi, N + 1, og), FR_ERR_UNSUPPORTED);
    for (int32_t o = 0; o < no; o++) {
        double d = rel_diff(og[o], oc[o], sz[o]);
        printf("ssd output %d on device-prepared inputs: %.3g relative to cpu\n", o, d);
        assert_true(d <= 1e-4);
        free(oc[o]);
        free(og[o]);
    }
    fr_net_free(nc);
    fr_net_free(ng);
    for (int i = 0; i <= N; i++) fr_image_free(img[i]);
    free(host);
    free(dev);
    fr_facenet_free(fn);
    fr_backend_free(gpu);
    fr_backend_free(cpu);
}

int main(void) {
    /* The backend is the module libfacerec-cuda.so (CTest points
     * FACEREC_MODULE_PATH at the build's); without it, or without a
     * device, the reason is printed. */
    char why[1024] = "";
    int32_t n = fr__backend_device_count(FR_DEVICE_CUDA, why, sizeof why);
    if (n == 0) {
        printf("SKIP: %s\n", why);
        return SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_depthwise),
        cmocka_unit_test(test_pool_fc_act_padadd),
        cmocka_unit_test(test_landmark),
        cmocka_unit_test(test_recognition),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_ssd),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_prep_image),
    };
    return cmocka_run_group_tests_name("backend-cuda", tests, NULL, NULL);
}
