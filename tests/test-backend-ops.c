/* Backend conformance: every net, run on the backend under test, must match
 * the naive reference interpreter over the same graph (same folded weights),
 * per output element within a relative tolerance. Also checks batch
 * invariance: item i of a batch equals the batch-of-1 result. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/nn.h"
#include "nn/nets.h"
#include "ref-graph.h"
#include "test-util.h"

static float *rand_input(int32_t n, int32_t h, int32_t w, int32_t c, uint32_t seed) {
    float *x = malloc(sizeof(float) * (size_t)n * h * w * c);
    for (size_t i = 0; i < (size_t)n * h * w * c; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f;
    }
    return x;
}

static void check_net(enum fr_net_kind kind, int32_t batch) {
    char err[512];
    struct fr_backend *be;
    assert_int_equal(fr_backend_new(NULL, &be, err, sizeof(err)), FR_OK);
    struct fr_net_params np = fr_net_default_params(kind);
    np.models_dir = fr_test_models_dir();
    np.max_batch = batch;
    struct fr_net *net = NULL;
    enum fr_status st = fr_net_new(be, &np, &net, err, sizeof(err));
    if (st != FR_OK) fail_msg("fr_net_new: %s", err);
    int32_t h, w, c;
    fr_net_input_shape(net, &h, &w, &c);
    float *x = rand_input(batch, h, w, c, 1234u + (uint32_t)kind);
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
        printf("%s output %d: max |backend - reference| = %.3g (max |ref| %.3g)\n", fr_net_model_name(kind), i,
               maxabs, maxref);
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
    printf("%s: batch-%d items vs batch-1 max diff %.3g\n", fr_net_model_name(kind), batch, maxabs);
    assert_true(maxabs <= 1e-5);
    for (int32_t i = 0; i < no; i++) free(got[i]), free(ref[i]), free(one[i]);
    free(x);
    fr_net_free(net);
    fr_backend_free(be);
}

static void test_ssd(void **state) { (void)state; check_net(FR_NET_SSD, 2); }
static void test_tiny(void **state) { (void)state; check_net(FR_NET_TINY, 3); }
static void test_landmark(void **state) { (void)state; check_net(FR_NET_LANDMARK, 5); }
static void test_recognition(void **state) { (void)state; check_net(FR_NET_RECOGNITION, 5); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_landmark),
        cmocka_unit_test(test_recognition),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_ssd),
    };
    return cmocka_run_group_tests_name("backend-ops", tests, NULL, NULL);
}
