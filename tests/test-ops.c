/* Per-op conformance: small graphs of one op each (every op and variant the
 * nets use), run on the backend and on the reference interpreter. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nn/backend-impl.h"
#include "nn/plan.h"
#include "ref-graph.h"

static uint32_t g_seed = 42;
static float *rnd(size_t n) { return fr_ref_rand_floats(n, &g_seed); }

/* Runs g (already built) with batch n on the CPU backend and the reference. */
static void run_compare(struct fr_graph *g, int32_t n, const char *what) {
    assert_int_equal(g->error, FR_OK);
    char err[512];
    struct fr_backend *be;
    assert_int_equal(fr_backend_new(NULL, &be, err, sizeof(err)), FR_OK);
    struct fr_exec *ex = NULL;
    enum fr_status st = be->iface.exec_new(be, g, n, &ex, err, sizeof(err));
    if (st != FR_OK) fail_msg("%s: exec_new: %s", what, err);
    struct fr_buffer *arena;
    assert_int_equal(be->iface.buffer_alloc(be, be->iface.exec_arena_bytes(ex), &arena), FR_OK);
    struct fr_tshape is = g->shapes[g->input];
    size_t in_n = (size_t)n * is.h * is.w * is.c;
    float *x = rnd(in_n);
    assert_int_equal(be->iface.upload(be, arena, be->iface.exec_input_offset(ex), x, in_n * 4), FR_OK);
    assert_int_equal(be->iface.exec_run(be, ex, arena), FR_OK);
    assert_int_equal(be->iface.synchronize(be), FR_OK);
    for (int32_t o = 0; o < g->n_outputs; o++) {
        struct fr_tshape os = g->shapes[g->outputs[o]];
        size_t on = (size_t)n * os.h * os.w * os.c;
        float *got = malloc(on * 4), *ref = malloc(on * 4);
        float *refs[8] = { 0 };
        for (int32_t k = 0; k < g->n_outputs; k++) {
            struct fr_tshape ks = g->shapes[g->outputs[k]];
            refs[k] = malloc((size_t)n * ks.h * ks.w * ks.c * 4);
        }
        assert_int_equal(be->iface.download(be, got, arena, be->iface.exec_output_offset(ex, o), on * 4), FR_OK);
        assert_int_equal(fr_ref_graph_run(g, n, x, refs), FR_OK);
        memcpy(ref, refs[o], on * 4);
        double md = 0, mr = 0;
        size_t worst = 0;
        for (size_t i = 0; i < on; i++) {
            double d = fabs((double)got[i] - ref[i]);
            if (d > md) md = d, worst = i;
            mr = fmax(mr, fabs(ref[i]));
        }
        printf("%-28s out %d: max diff %.3g at %zu (got %g ref %g), max |ref| %.3g\n", what, o, md, worst,
               got[worst], ref[worst], mr);
        assert_true(md <= 1e-5 * fmax(1.0, mr));
        for (int32_t k = 0; k < g->n_outputs; k++) free(refs[k]);
        free(got);
        free(ref);
    }
    free(x);
    be->iface.buffer_free(be, arena);
    be->iface.exec_free(be, ex);
    fr_backend_free(be);
    fr__graph_free(g);
}

static void conv_case(int32_t h, int32_t w, int32_t cin, int32_t cout, int32_t k, int32_t s, bool same, int32_t pad,
                      bool dw, enum fr_act act, bool sum, int32_t n, const char *what) {
    struct fr_graph *g = fr__graph_new(what);
    int32_t x = fr__graph_input(g, h, w, cin);
    struct fr_conv_desc d = { .kh = k, .kw = k, .stride = s, .cout = dw ? cin : cout, .same = same, .pad = pad,
                              .depthwise = dw, .act = act, .alpha = 0.1f };
    float *wt = rnd((size_t)k * k * cin * (dw ? 1 : cout)), *b = rnd((size_t)(dw ? cin : cout));
    int32_t res = -1;
    if (sum) {
        /* residual operand of the output's shape, produced by a 1x1 conv */
        int32_t oh = same ? (h + s - 1) / s : (h + 2 * pad - k) / s + 1, ow = same ? (w + s - 1) / s : (w + 2 * pad - k) / s + 1;
        (void)ow;
        struct fr_conv_desc d1 = { .kh = 1, .kw = 1, .stride = s, .cout = d.cout, .same = true };
        float *w1 = rnd((size_t)cin * d.cout);
        res = fr__graph_conv(g, x, &d1, w1, NULL, -1, "res");
        free(w1);
        assert_int_equal(g->shapes[res].h, oh);
    }
    int32_t y = fr__graph_conv(g, x, &d, wt, b, res, what);
    fr__graph_output(g, y);
    free(wt);
    free(b);
    run_compare(g, n, what);
}

static void test_conv(void **state) {
    (void)state;
    conv_case(9, 9, 3, 16, 3, 1, false, 0, false, FR_ACT_NONE, false, 1, "conv3x3 valid 3->16");
    conv_case(20, 20, 3, 32, 3, 2, true, 0, false, FR_ACT_RELU6, false, 2, "conv3x3 same s2 3->32");
    conv_case(16, 16, 32, 64, 1, 1, true, 0, false, FR_ACT_RELU6, false, 2, "conv1x1 32->64");
    conv_case(16, 16, 32, 48, 3, 2, true, 0, false, FR_ACT_RELU, false, 2, "conv3x3 same s2 even");
    conv_case(17, 17, 32, 64, 3, 2, false, 0, false, FR_ACT_RELU, false, 2, "conv3x3 valid s2 odd");
    conv_case(30, 30, 3, 32, 7, 2, false, 0, false, FR_ACT_RELU, false, 3, "conv7x7 valid s2");
    conv_case(13, 13, 64, 25, 1, 1, false, 0, false, FR_ACT_NONE, false, 2, "conv1x1 ->25");
    conv_case(12, 12, 32, 32, 3, 1, true, 0, false, FR_ACT_RELU, true, 2, "conv3x3 + residual sum");
    conv_case(12, 12, 3, 16, 3, 1, false, 0, false, FR_ACT_LEAKY, false, 2, "conv leaky");
}

static void test_depthwise(void **state) {
    (void)state;
    conv_case(16, 16, 32, 0, 3, 1, true, 0, true, FR_ACT_RELU6, false, 2, "dw3x3 same s1");
    conv_case(16, 16, 32, 0, 3, 2, true, 0, true, FR_ACT_RELU6, false, 2, "dw3x3 same s2");
    conv_case(13, 13, 16, 0, 3, 1, false, 1, true, FR_ACT_NONE, false, 2, "dw3x3 pad1 valid");
}

static void test_pool(void **state) {
    (void)state;
    struct fr_graph *g = fr__graph_new("pools");
    int32_t x = fr__graph_input(g, 15, 15, 16);
    fr_ref_add_pool_cases(g, x);
    run_compare(g, 2, "pools");
}

static void test_fc_act_padadd(void **state) {
    (void)state;
    struct fr_graph *g = fr__graph_new("misc");
    int32_t x = fr__graph_input(g, 7, 7, 32);
    int32_t p = fr__graph_pool(g, x, false, 7, 2, false);
    float *w = rnd(32 * 10), *b = rnd(10);
    fr__graph_output(g, fr__graph_fc(g, p, 10, w, b));
    fr__graph_output(g, fr__graph_act(g, x, FR_ACT_RELU));
    /* residualDown shortcut: conv branch 3x3 (from a valid s2 conv on 8x8)
     * plus a 4x4 pooled shortcut with half the channels. */
    struct fr_conv_desc d = { .kh = 3, .kw = 3, .stride = 2, .cout = 64, .same = false };
    float *wc = rnd(9 * 32 * 64);
    int32_t y8 = fr__graph_pool(g, x, true, 1, 1, false);
    (void)y8;
    int32_t c3 = fr__graph_conv(g, x, &d, wc, NULL, -1, "c3");          /* 7x7 -> 3x3x64 */
    int32_t pooled = fr__graph_pool(g, x, false, 2, 2, false);         /* 7x7 -> 3x3x32 */
    fr__graph_output(g, fr__graph_pad_add(g, c3, pooled, FR_ACT_RELU));
    free(w);
    free(b);
    free(wc);
    run_compare(g, 3, "fc/act/pad_add");
}

/* The shared planner (src/nn/plan.h) on a hand-made chain: lifetimes come
 * from the nodes, an aliased value shares its storage's offset and keeps
 * it alive, and no two values live at once share bytes. */
static void test_plan(void **state) {
    (void)state;
    struct fr_graph *g = fr__graph_new("plan");
    int32_t x = fr__graph_input(g, 4, 4, 2);
    int32_t a = fr__graph_act(g, x, FR_ACT_RELU);
    int32_t b = fr__graph_act(g, a, FR_ACT_RELU);
    int32_t c = fr__graph_act(g, b, FR_ACT_RELU);
    int32_t d = fr__graph_act(g, c, FR_ACT_RELU);
    fr__graph_output(g, d);
    assert_int_equal(g->error, FR_OK);
    struct fr__plan p;
    assert_int_equal(fr__plan_init(&p, g->n_tensors + 2), FR_OK);
    fr__plan_add_graph(&p, g);
    assert_int_equal(p.n, g->n_tensors);
    assert_int_equal(p.first[x], -1);              /* uploaded before the run */
    assert_int_equal(p.last[x], 1);                /* read by node 1 (a) */
    assert_int_equal(p.first[b], 2);
    assert_int_equal(p.last[b], 3);
    assert_int_equal(p.last[d], g->n_nodes);       /* read back after the run */
    for (int32_t t = 0; t < p.n; t++) p.size[t] = 100;
    /* d written in place into b's storage: b then lives until d is read. */
    fr__plan_alias(&p, d, b);
    int32_t ws = fr__plan_add(&p, 10, -1, g->n_nodes);
    assert_int_equal(fr__plan_offsets(&p, 64), FR_OK);
    assert_true(p.offset[d] == p.offset[b]);
    size_t live[] = { p.offset[x], p.offset[a], p.offset[ws] }; /* all live at node 1 */
    assert_true(live[0] != live[1] && live[0] != live[2] && live[1] != live[2]);
    assert_true(p.offset[c] != p.offset[b] && p.offset[c] != p.offset[ws]); /* c overlaps b's storage */
    for (int32_t v = 0; v < p.n; v++) assert_true(p.offset[v] % 64 == 0 && p.offset[v] + 64 <= p.arena_bytes);
    /* x and a die early: c reuses one of them, so four 128-byte blocks
     * (x or a, b/d, c, ws) would be the worst case. */
    assert_true(p.arena_bytes <= 4 * 128);
    fr__plan_fini(&p);
    fr__plan_fini(&p); /* safe on a finished plan */
    fr__graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_depthwise),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_fc_act_padadd),
        cmocka_unit_test(test_plan),
    };
    return cmocka_run_group_tests_name("ops", tests, NULL, NULL);
}
