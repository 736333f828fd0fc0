/* Backend conformance, over every backend this machine can run: every net,
 * run on the backend under test, must match the naive reference
 * interpreter over the same graph (same folded weights), per output
 * element within a relative tolerance. Also checks batch invariance: item
 * i of a batch equals the batch-of-1 result.
 *
 * The backends are the registry's (fr_backend_reg_*): the CPU always, and
 * each module backend with a device (CUDA where a card and the module are
 * present). A net with an op a backend does not support (its supports_op)
 * is skipped on that backend and reported as such, as ggml's
 * test-backend-ops does. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/nn.h"
#include "nn/backend-impl.h"
#include "nn/nets.h"
#include "ref-graph.h"
#include "test-util.h"

/* The devices to test: the registry's entries that have one. */
static int32_t backend_devices(enum fr_device *out, int32_t max) {
    int32_t n = 0;
    for (int32_t i = 0; i < fr_backend_reg_count() && n < max; i++) {
        struct fr_backend_reg_info info;
        fr_backend_reg_get(i, &info);
        if (info.n_devices < 1) {
            printf("backend %s: skipped (%s)\n", info.name, info.status);
            continue;
        }
        if (!strcmp(info.name, "cpu")) out[n++] = FR_DEVICE_CPU;
        else if (!strcmp(info.name, "cuda")) out[n++] = FR_DEVICE_CUDA;
    }
    return n;
}

/* Runs net `kind` at `batch` on be against the reference. Returns false,
 * having printed why, when the backend does not support one of its ops. */
static bool check_net_on(struct fr_backend *be, enum fr_net_kind kind, int32_t batch) {
    char err[512];
    struct fr_net_params np = fr_net_default_params(kind);
    np.models_dir = fr_test_models_dir();
    np.max_batch = batch;
    struct fr_net *net = NULL;
    enum fr_status st = fr_net_new(be, &np, &net, err, sizeof(err));
    if (st == FR_ERR_UNSUPPORTED) {
        printf("%s on %s: skipped: %s\n", fr_net_model_name(kind), fr_backend_name(be), err);
        return false;
    }
    if (st != FR_OK) fail_msg("fr_net_new: %s", err);
    int32_t h, w, c;
    fr_net_input_shape(net, &h, &w, &c);
    uint32_t seed = 1234u + (uint32_t)kind;
    float *x = fr_ref_rand_floats((size_t)batch * h * w * c, &seed);
    int32_t no = fr_net_output_count(net);
    float *got[8], *ref[8], *one[8];
    size_t sz[8];
    for (int32_t i = 0; i < no; i++) {
        int32_t oh, ow, oc;
        fr_net_output_shape(net, i, &oh, &ow, &oc);
        sz[i] = (size_t)oh * ow * oc;
        got[i] = calloc(sz[i] * (size_t)batch, sizeof(float));
        ref[i] = calloc(sz[i] * (size_t)batch, sizeof(float));
        one[i] = calloc(sz[i], sizeof(float));
    }
    assert_int_equal(fr_net_forward(net, x, batch, got), FR_OK);
    assert_int_equal(fr_ref_graph_run(fr__net_graph(net), batch, x, ref), FR_OK);
    for (int32_t i = 0; i < no; i++) {
        double maxabs = 0, maxref = 0;
        for (size_t k = 0; k < sz[i] * (size_t)batch; k++) {
            maxabs = fmax(maxabs, fabs((double)got[i][k] - ref[i][k]));
            maxref = fmax(maxref, fabs((double)ref[i][k]));
        }
        printf("%s on %s output %d: max |backend - reference| = %.3g (max |ref| %.3g)\n", fr_net_model_name(kind),
               fr_backend_name(be), i, maxabs, maxref);
        assert_true(maxabs <= 1e-4 * fmax(1.0, maxref));
    }
    /* Batch invariance: every item alone equals it inside the batch. */
    double maxabs = 0;
    for (int32_t b = 0; b < batch; b++) {
        assert_int_equal(fr_net_forward(net, x + (size_t)b * h * w * c, 1, one), FR_OK);
        for (int32_t i = 0; i < no; i++)
            for (size_t k = 0; k < sz[i]; k++)
                maxabs = fmax(maxabs, fabs((double)one[i][k] - got[i][sz[i] * (size_t)b + k]));
    }
    printf("%s on %s: batch-%d items vs batch-1 max diff %.3g\n", fr_net_model_name(kind), fr_backend_name(be),
           batch, maxabs);
    assert_true(maxabs <= 1e-5);
    for (int32_t i = 0; i < no; i++) free(got[i]), free(ref[i]), free(one[i]);
    free(x);
    fr_net_free(net);
    return true;
}

static void check_net(enum fr_net_kind kind, int32_t batch) {
    enum fr_device dev[8];
    int32_t n = backend_devices(dev, 8), ran = 0;
    assert_true(n >= 1 && dev[0] == FR_DEVICE_CPU); /* the CPU backend is always there */
    for (int32_t i = 0; i < n; i++) {
        char err[512];
        struct fr_backend_params bp = fr_backend_default_params();
        bp.device = dev[i];
        struct fr_backend *be;
        if (fr_backend_new(&bp, &be, err, sizeof(err)) != FR_OK) fail_msg("fr_backend_new: %s", err);
        ran += check_net_on(be, kind, batch);
        fr_backend_free(be);
    }
    assert_true(ran >= 1); /* the CPU runs every net */
}

static void test_ssd(void **state) { (void)state; check_net(FR_NET_SSD, 2); }
static void test_tiny(void **state) { (void)state; check_net(FR_NET_TINY, 3); }
static void test_landmark(void **state) { (void)state; check_net(FR_NET_LANDMARK, 5); }
static void test_recognition(void **state) { (void)state; check_net(FR_NET_RECOGNITION, 5); }

/* A CPU backend, whose table the tests below then patch. */
static struct fr_backend *cpu_backend(void) {
    char err[512];
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = FR_DEVICE_CPU;
    struct fr_backend *be;
    if (fr_backend_new(&bp, &be, err, sizeof(err)) != FR_OK) fail_msg("fr_backend_new: %s", err);
    return be;
}

static bool no_pad_add(struct fr_backend *be, const struct fr_node *nd) { return nd->op != FR_OP_PAD_ADD; }

/* The skip path: a backend that does not support an op the recognition
 * net has (PAD_ADD) is refused by fr_net_new with the op's name, and the
 * net is reported as skipped; a net without the op still runs. */
static void test_unsupported_op_skipped(void **state) {
    (void)state;
    char err[512];
    struct fr_backend *be = cpu_backend();
    be->iface.supports_op = no_pad_add;
    struct fr_net_params np = fr_net_default_params(FR_NET_RECOGNITION);
    np.models_dir = fr_test_models_dir();
    np.max_batch = 1;
    struct fr_net *net = NULL;
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_UNSUPPORTED);
    assert_null(net);
    assert_non_null(strstr(err, "does not support op pad_add"));
    assert_false(check_net_on(be, FR_NET_RECOGNITION, 1));
    assert_true(check_net_on(be, FR_NET_LANDMARK, 2));
    assert_int_equal(fr_backend_memory_used(be), 0);
    fr_backend_free(be);
}

/* A smaller batch whose plan would not fit the reserved arena runs
 * zero-padded in the max-batch exec (net.c). The wrapper makes every exec
 * but the first (the max-batch one fr_net_new compiles) report an arena
 * too large, which forces that path; the items must come out as before. */
static struct fr_exec *g_first_exec;
static size_t (*g_arena_bytes)(struct fr_exec *ex);
static size_t huge_but_first(struct fr_exec *ex) {
    if (!g_first_exec) g_first_exec = ex;
    return ex == g_first_exec ? g_arena_bytes(ex) : (size_t)1 << 40;
}

static void test_small_batch_padded(void **state) {
    (void)state;
    char err[512];
    struct fr_backend *be = cpu_backend();
    struct fr_net_params np = fr_net_default_params(FR_NET_LANDMARK);
    np.models_dir = fr_test_models_dir();
    np.max_batch = 4;
    struct fr_net *plain = NULL, *padded = NULL;
    assert_int_equal(fr_net_new(be, &np, &plain, err, sizeof(err)), FR_OK);
    g_arena_bytes = be->iface.exec_arena_bytes;
    be->iface.exec_arena_bytes = huge_but_first;
    g_first_exec = NULL;
    assert_int_equal(fr_net_new(be, &np, &padded, err, sizeof(err)), FR_OK);
    int32_t h, w, c, oh, ow, oc;
    fr_net_input_shape(plain, &h, &w, &c);
    fr_net_output_shape(plain, 0, &oh, &ow, &oc);
    size_t osz = (size_t)oh * ow * oc;
    uint32_t seed = 99;
    float *x = fr_ref_rand_floats((size_t)2 * h * w * c, &seed);
    float *a = calloc(osz * 2, sizeof(float)), *b = calloc(osz * 4, sizeof(float));
    assert_int_equal(fr_net_forward(plain, x, 2, &a), FR_OK);
    /* A full batch first leaves other data in items 2 and 3, which the padded pass zeroes. */
    float *junk = fr_ref_rand_floats((size_t)4 * h * w * c, &seed);
    assert_int_equal(fr_net_forward(padded, junk, 4, &b), FR_OK);
    assert_int_equal(fr_net_forward(padded, x, 2, &b), FR_OK);
    for (size_t k = 0; k < osz * 2; k++) assert_true(fabsf(a[k] - b[k]) <= 1e-5f);
    free(x), free(junk), free(a), free(b);
    fr_net_free(plain);
    fr_net_free(padded);
    be->iface.exec_arena_bytes = g_arena_bytes;
    fr_backend_free(be);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_landmark),
        cmocka_unit_test(test_recognition),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_ssd),
        cmocka_unit_test(test_unsupported_op_skipped),
        cmocka_unit_test(test_small_batch_padded),
    };
    return cmocka_run_group_tests_name("backend-ops", tests, NULL, NULL);
}
