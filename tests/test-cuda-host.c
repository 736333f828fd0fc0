/* Host-side logic of the CUDA backend, on the CPU (no GPU needed): device
 * selection, the memory-limit default, the sub-allocator over the device
 * block, workspace-bounded algorithm choice, the staging ring, filter
 * repacking and the activation plan. The plan is checked by executing the
 * nets' graphs the way backend-cuda.c does (one arena, the plan's offsets,
 * explicit padding into the plan's temporaries) with naive loops and
 * comparing with the reference interpreter: an aliasing bug in the plan
 * shows up here, without a device. The device-side input preparation is
 * checked the same way: the kernel's per-pixel function, run on the host
 * over the packed crop the backend uploads, must give the detector input
 * fr__facenet_det_prepare makes for real photos. */
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
#include "nn/cuda/cuda-plan.h"
#include "nn/nets.h"
#include "ref-graph.h"
#include "test-util.h"

#define MIB ((size_t)1 << 20)

static void test_device_pick(void **state) {
    (void)state;
    /* auto: CUDA only when built and a device is present; else the CPU. */
    assert_int_equal(fr__device_pick(FR_DEVICE_AUTO, true, 1), FR__PICK_CUDA);
    assert_int_equal(fr__device_pick(FR_DEVICE_AUTO, true, 4), FR__PICK_CUDA);
    assert_int_equal(fr__device_pick(FR_DEVICE_AUTO, true, 0), FR__PICK_CPU);
    assert_int_equal(fr__device_pick(FR_DEVICE_AUTO, false, 2), FR__PICK_CPU);
    /* cpu never touches CUDA. */
    assert_int_equal(fr__device_pick(FR_DEVICE_CPU, true, 2), FR__PICK_CPU);
    assert_int_equal(fr__device_pick(FR_DEVICE_CPU, false, 0), FR__PICK_CPU);
    /* cuda fails rather than running on the CPU. */
    assert_int_equal(fr__device_pick(FR_DEVICE_CUDA, true, 1), FR__PICK_CUDA);
    assert_int_equal(fr__device_pick(FR_DEVICE_CUDA, true, 0), FR__PICK_FAIL);
    assert_int_equal(fr__device_pick(FR_DEVICE_CUDA, false, 3), FR__PICK_FAIL);
}

static void test_device_selection_here(void **state) {
    (void)state;
    /* Whatever this machine has, cpu works and auto yields some backend;
     * cuda either works or fails with FR_ERR_DEVICE and a message. */
    char err[256] = "";
    struct fr_backend_params p = fr_backend_default_params();
    struct fr_backend *be = NULL;
    p.device = FR_DEVICE_CPU;
    assert_int_equal(fr_backend_new(&p, &be, err, sizeof err), FR_OK);
    assert_string_equal(fr_backend_name(be), "cpu");
    struct fr_backend_info info;
    fr_backend_info(be, &info);
    assert_string_equal(info.device, "cpu");
    fr_backend_free(be);
    p.device = FR_DEVICE_AUTO;
    assert_int_equal(fr_backend_new(&p, &be, err, sizeof err), FR_OK);
    fr_backend_free(be);
    p.device = FR_DEVICE_CUDA;
    enum fr_status st = fr_backend_new(&p, &be, err, sizeof err);
    if (st == FR_OK) {
        assert_string_equal(fr_backend_name(be), "cuda");
        fr_backend_free(be);
    } else {
        assert_int_equal(st, FR_ERR_DEVICE);
        assert_null(be);
        assert_true(strlen(err) > 0);
        printf("device cuda here: %s\n", err);
    }
}

static void test_memory_limit(void **state) {
    (void)state;
    char err[256];
    size_t out = 0;
    size_t free_b = 5000 * MIB, total = 6141 * MIB; /* an RTX 4050 with a desktop running */
    /* Default: 80% of the free memory, rounded down to 2 MiB. */
    assert_int_equal(fr__cuda_memory_limit(0, 0, free_b, total, &out, err, sizeof err), FR_OK);
    assert_int_equal(out, 4000 * MIB);
    assert_true(out <= free_b / 10 * 8 && out % (2 * MIB) == 0);
    assert_int_equal(fr__cuda_memory_limit(0, 0, 1001 * MIB + 12345, total, &out, err, sizeof err), FR_OK);
    assert_int_equal(out % (2 * MIB), 0);
    assert_true(out > (1001 * MIB) / 10 * 8 - 2 * MIB && out <= (1001 * MIB + 12345) / 10 * 8);
    /* Percent is a share of the whole card. */
    assert_int_equal(fr__cuda_memory_limit(0, 50, free_b, total, &out, err, sizeof err), FR_OK);
    assert_true(out <= total / 2 && out > total / 2 - 2 * MIB);
    assert_int_equal(fr__cuda_memory_limit(0, 90, free_b, total, &out, err, sizeof err), FR_ERR_BUDGET);
    assert_non_null(strstr(err, "device_memory_percent"));
    assert_int_equal(fr__cuda_memory_limit(0, 101, free_b, total, &out, err, sizeof err), FR_ERR_INVALID);
    /* An explicit limit wins over the percent, and must fit the free memory. */
    assert_int_equal(fr__cuda_memory_limit(3 * ((size_t)1 << 30), 10, free_b, total, &out, err, sizeof err), FR_OK);
    assert_int_equal(out, 3 * ((size_t)1 << 30));
    assert_int_equal(fr__cuda_memory_limit(6 * ((size_t)1 << 30), 0, free_b, total, &out, err, sizeof err),
                     FR_ERR_BUDGET);
    assert_non_null(strstr(err, "free"));
    assert_int_equal(fr__cuda_memory_limit(0, 0, MIB, total, &out, err, sizeof err), FR_ERR_BUDGET);
}

static void test_pool(void **state) {
    (void)state;
    struct fr__pool p;
    assert_int_equal(fr__pool_init(&p, 4096 + 100, 256), FR_OK);
    assert_int_equal(p.size, 4096); /* the tail below the alignment is not handed out */
    size_t a, b, c, d, e;
    assert_int_equal(fr__pool_alloc(&p, 1, &a), FR_OK);
    assert_int_equal(fr__pool_alloc(&p, 300, &b), FR_OK);
    assert_int_equal(fr__pool_alloc(&p, 0, &c), FR_OK); /* zero bytes still get their own block */
    assert_int_equal(a, 0);
    assert_int_equal(b, 256);
    assert_int_equal(c, 768);
    assert_int_equal(b % 256 + c % 256, 0);
    assert_int_equal(p.used, 1024);
    /* Exhaustion is a budget error, not a crash. */
    assert_int_equal(fr__pool_alloc(&p, 4096, &d), FR_ERR_BUDGET);
    assert_int_equal(fr__pool_alloc(&p, (size_t)-1, &d), FR_ERR_BUDGET);
    assert_int_equal(fr__pool_alloc(&p, 3072, &d), FR_OK);
    assert_int_equal(d, 1024);
    assert_int_equal(fr__pool_largest_free(&p), 0);
    assert_int_equal(fr__pool_alloc(&p, 1, &e), FR_ERR_BUDGET);
    /* Fragmentation: a and c free are 256 each, not adjacent: 512 fails. */
    fr__pool_free(&p, a);
    fr__pool_free(&p, c);
    assert_int_equal(fr__pool_largest_free(&p), 256);
    assert_int_equal(fr__pool_alloc(&p, 512, &e), FR_ERR_BUDGET);
    /* Freeing b coalesces a, b and c into one 1024-byte hole at 0. */
    fr__pool_free(&p, b);
    assert_int_equal(fr__pool_largest_free(&p), 1024);
    assert_int_equal(p.n, 2);
    assert_int_equal(fr__pool_alloc(&p, 1024, &e), FR_OK);
    assert_int_equal(e, 0);
    fr__pool_free(&p, e);
    fr__pool_free(&p, d);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.used, 0);
    assert_int_equal(fr__pool_largest_free(&p), 4096);
    fr__pool_fini(&p);

    /* Many blocks (the block array grows) in random order of frees. */
    assert_int_equal(fr__pool_init(&p, 1000 * 512, 512), FR_OK);
    size_t offs[1000];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(fr__pool_alloc(&p, 1 + (size_t)i % 512, &offs[i]), FR_OK);
        assert_int_equal(offs[i], (size_t)i * 512);
    }
    assert_int_equal(fr__pool_alloc(&p, 1, &e), FR_ERR_BUDGET);
    uint32_t seed = 7;
    for (int i = 999; i > 0; i--) {
        seed = seed * 1664525u + 1013904223u;
        int j = (int)(seed % (uint32_t)(i + 1));
        size_t t = offs[i];
        offs[i] = offs[j];
        offs[j] = t;
    }
    for (int i = 0; i < 1000; i++) fr__pool_free(&p, offs[i]);
    assert_int_equal(p.n, 1);
    assert_int_equal(fr__pool_largest_free(&p), 1000 * 512);
    fr__pool_fini(&p);
}

static void test_pick_algo(void **state) {
    (void)state;
    struct fr__algo_perf perfs[] = {
        { .algo = 7, .ok = true, .workspace = 64 * MIB },  /* fastest, big workspace */
        { .algo = 6, .ok = false, .workspace = 0 },        /* not supported for the shape */
        { .algo = 1, .ok = true, .workspace = 4 * MIB },
        { .algo = 0, .ok = true, .workspace = 0 },
    };
    assert_int_equal(fr__cuda_pick_algo(perfs, 4, 256 * MIB), 0);
    assert_int_equal(fr__cuda_pick_algo(perfs, 4, 64 * MIB), 0);
    assert_int_equal(fr__cuda_pick_algo(perfs, 4, 64 * MIB - 1), 2);
    assert_int_equal(fr__cuda_pick_algo(perfs, 4, MIB), 3);
    assert_int_equal(fr__cuda_pick_algo(perfs, 4, 0), 3);
    /* Nothing fits and no zero-workspace candidate: the caller's fallback. */
    assert_int_equal(fr__cuda_pick_algo(perfs, 3, MIB), -1);
    assert_int_equal(fr__cuda_pick_algo(perfs, 0, MIB), -1);
    /* The workspace cap is a sixteenth of what is left, at most 64 MiB. */
    assert_int_equal(fr__cuda_workspace_cap(800 * MIB), 50 * MIB);
    assert_int_equal(fr__cuda_workspace_cap(20000 * MIB), 64 * MIB);
    assert_int_equal(fr__cuda_workspace_cap(0), 0);
}

static void test_ring(void **state) {
    (void)state;
    struct fr__ring r;
    fr__ring_init(&r, 1000);
    assert_int_equal(fr__ring_chunks(&r, 0), 0);
    assert_int_equal(fr__ring_chunks(&r, 1), 1);
    assert_int_equal(fr__ring_chunks(&r, 1000), 1);
    assert_int_equal(fr__ring_chunks(&r, 1001), 2);
    assert_int_equal(fr__ring_chunks(&r, 5000), 5);
    bool wait;
    /* Double buffering: slots alternate; the second copy never waits for the first. */
    int32_t s0 = fr__ring_acquire(&r, &wait);
    assert_false(wait);
    fr__ring_submitted(&r, s0);
    int32_t s1 = fr__ring_acquire(&r, &wait);
    assert_false(wait);
    assert_int_not_equal(s0, s1);
    fr__ring_submitted(&r, s1);
    /* Wrap: the third copy reuses slot 0, which is in flight: wait first. */
    int32_t s2 = fr__ring_acquire(&r, &wait);
    assert_int_equal(s2, s0);
    assert_true(wait);
    fr__ring_done(&r, s2);
    fr__ring_submitted(&r, s2);
    /* A slot whose copy was already waited for is reused without waiting. */
    fr__ring_done(&r, s1);
    int32_t s3 = fr__ring_acquire(&r, &wait);
    assert_int_equal(s3, s1);
    assert_false(wait);
    fr__ring_done(&r, s2);

    /* Model check: random interleavings of copies and completions; a slot
     * handed out without a wait is never in flight, and the caller that
     * honours must_wait never writes over a running copy. */
    fr__ring_init(&r, 1000);
    bool running[FR__RING_SLOTS] = { false };
    uint32_t seed = 99;
    for (int it = 0; it < 10000; it++) {
        seed = seed * 1664525u + 1013904223u;
        if (seed >> 31) {
            int32_t s = fr__ring_acquire(&r, &wait);
            assert_int_equal(wait, running[s]);
            if (wait) {
                running[s] = false; /* the caller synchronizes on the slot's event */
                fr__ring_done(&r, s);
            }
            assert_false(running[s]);
            running[s] = true;
            fr__ring_submitted(&r, s);
        } else {
            int32_t s = (int32_t)((seed >> 8) % FR__RING_SLOTS);
            if (running[s]) {
                running[s] = false; /* a completion observed early (download path) */
                fr__ring_done(&r, s);
            }
        }
    }
}

static void test_pack_krsc(void **state) {
    (void)state;
    /* Dense: HWIO -> KRSC. */
    float w[2 * 3 * 4 * 5], dst[2 * 3 * 4 * 5];
    for (int i = 0; i < 120; i++) w[i] = (float)i;
    struct fr_node nd = { .op = FR_OP_CONV, .kh = 2, .kw = 3, .groups = 1, .w = w };
    fr__cuda_pack_krsc(&nd, 4, 5, dst);
    for (int o = 0; o < 5; o++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                for (int i = 0; i < 4; i++)
                    assert_true(dst[((o * 2 + y) * 3 + x) * 4 + i] == w[((y * 3 + x) * 4 + i) * 5 + o]);
    /* Depthwise: [kh][kw][c] -> [c][kh][kw] (C/groups = 1). */
    float dw[3 * 3 * 6], ddst[3 * 3 * 6];
    for (int i = 0; i < 54; i++) dw[i] = (float)i;
    struct fr_node nd2 = { .op = FR_OP_CONV, .kh = 3, .kw = 3, .groups = 6, .w = dw };
    fr__cuda_pack_krsc(&nd2, 6, 6, ddst);
    for (int c = 0; c < 6; c++)
        for (int k = 0; k < 9; k++) assert_true(ddst[c * 9 + k] == dw[k * 6 + c]);
}

/* ---- the plan, executed ---- */

/* Runs g in one arena with the CUDA plan's offsets, step by step as
 * backend-cuda.c does. Storage is poisoned with NaN first, so reading a
 * tensor whose bytes were reused shows up in the outputs. */
static void run_planned(const struct fr_graph *g, int32_t n, const struct fr__cuda_plan *pl, const float *in,
                        float **outs) {
    float *arena = malloc(pl->arena_bytes + 4);
    for (size_t i = 0; i < pl->arena_bytes / 4; i++) arena[i] = NAN;
#define T(t) ((float *)((char *)arena + pl->offset[t]))
    struct fr_tshape ins = g->shapes[g->input];
    memcpy(T(g->input), in, sizeof(float) * (size_t)n * ins.h * ins.w * ins.c);
    for (size_t i = 0; i < pl->workspace_bytes / 4; i++) ((float *)((char *)arena + pl->workspace_offset))[i] = NAN;
    for (int32_t k = 0; k < g->n_nodes; k++) {
        const struct fr_node *nd = &g->nodes[k];
        struct fr_tshape os = g->shapes[nd->out];
        if (nd->op == FR_OP_INPUT) continue;
        struct fr_tshape is = g->shapes[nd->in[0]];
        const float *x = T(nd->in[0]);
        float *y = T(nd->out);
        int32_t pt = nd->pad_t, pl_ = nd->pad_l;
        if (fr__cuda_needs_explicit_pad(nd)) {
            float *p = (float *)((char *)arena + pl->pad_offset[k]);
            int32_t ph = is.h + nd->pad_t + nd->pad_b, pw = is.w + nd->pad_l + nd->pad_r;
            for (int32_t b = 0; b < n; b++)
                for (int32_t yy = 0; yy < ph; yy++)
                    for (int32_t xx = 0; xx < pw; xx++)
                        for (int32_t c = 0; c < is.c; c++) {
                            int32_t sy = yy - nd->pad_t, sx = xx - nd->pad_l;
                            p[(((size_t)b * ph + yy) * pw + xx) * is.c + c] =
                                sy >= 0 && sy < is.h && sx >= 0 && sx < is.w
                                    ? x[(((size_t)b * is.h + sy) * is.w + sx) * is.c + c]
                                    : 0.0f;
                        }
            x = p;
            is.h = ph, is.w = pw, pt = pl_ = 0;
        }
        for (int32_t b = 0; b < n; b++)
            for (int32_t oy = 0; oy < os.h; oy++)
                for (int32_t ox = 0; ox < os.w; ox++)
                    for (int32_t oc = 0; oc < os.c; oc++) {
                        size_t oi = (((size_t)b * os.h + oy) * os.w + ox) * os.c + oc;
                        double acc = 0;
                        if (nd->op == FR_OP_CONV) {
                            int32_t cin_g = is.c / nd->groups, gi = oc / (os.c / nd->groups);
                            for (int32_t ky = 0; ky < nd->kh; ky++)
                                for (int32_t kx = 0; kx < nd->kw; kx++) {
                                    int32_t iy = oy * nd->sh - pt + ky, ix = ox * nd->sw - pl_ + kx;
                                    if (iy < 0 || ix < 0 || iy >= is.h || ix >= is.w) continue;
                                    for (int32_t ic = 0; ic < cin_g; ic++) {
                                        int32_t c = gi * cin_g + ic;
                                        double wv = nd->groups == 1
                                                        ? nd->w[(((size_t)ky * nd->kw + kx) * is.c + ic) * os.c + oc]
                                                        : nd->w[((size_t)ky * nd->kw + kx) * is.c + c];
                                        acc += x[(((size_t)b * is.h + iy) * is.w + ix) * is.c + c] * wv;
                                    }
                                }
                            if (nd->b) acc += nd->b[oc];
                            if (nd->sum) acc += T(nd->in[1])[oi];
                            y[oi] = fr_ref_act((float)acc, nd->act, nd->alpha);
                        } else if (nd->op == FR_OP_POOL || nd->op == FR_OP_GLOBAL_AVG) {
                            bool gl = nd->op == FR_OP_GLOBAL_AVG;
                            int32_t kh = gl ? is.h : nd->kh, kw = gl ? is.w : nd->kw;
                            double m = -INFINITY;
                            int32_t cnt = 0;
                            for (int32_t ky = 0; ky < kh; ky++)
                                for (int32_t kx = 0; kx < kw; kx++) {
                                    int32_t iy = gl ? ky : oy * nd->sh - pt + ky, ix = gl ? kx : ox * nd->sw - pl_ + kx;
                                    if (iy < 0 || ix < 0 || iy >= is.h || ix >= is.w) continue;
                                    double v = x[(((size_t)b * is.h + iy) * is.w + ix) * is.c + oc];
                                    m = v > m ? v : m;
                                    acc += v;
                                    cnt++;
                                }
                            y[oi] = (float)(!gl && nd->pool_max ? m : acc / cnt);
                        } else if (nd->op == FR_OP_FC) {
                            size_t cin = (size_t)is.h * is.w * is.c;
                            for (size_t i = 0; i < cin; i++) acc += (double)x[b * cin + i] * nd->w[i * os.c + oc];
                            if (nd->b) acc += nd->b[oc];
                            y[oi] = fr_ref_act((float)acc, nd->act, nd->alpha);
                        } else if (nd->op == FR_OP_ACT) {
                            y[oi] = fr_ref_act(x[oi], nd->act, nd->alpha);
                        } else if (nd->op == FR_OP_PAD_ADD) {
                            struct fr_tshape sb = g->shapes[nd->in[1]];
                            if (oc < is.c && oy < is.h && ox < is.w)
                                acc += x[(((size_t)b * is.h + oy) * is.w + ox) * is.c + oc];
                            if (oc < sb.c && oy < sb.h && ox < sb.w)
                                acc += T(nd->in[1])[(((size_t)b * sb.h + oy) * sb.w + ox) * sb.c + oc];
                            y[oi] = fr_ref_act((float)acc, nd->act, nd->alpha);
                        }
                    }
    }
    for (int32_t o = 0; o < g->n_outputs; o++) {
        struct fr_tshape s = g->shapes[g->outputs[o]];
        memcpy(outs[o], T(g->outputs[o]), sizeof(float) * (size_t)n * s.h * s.w * s.c);
    }
#undef T
    free(arena);
}

static void check_plan(const struct fr_graph *g, int32_t n, const char *what) {
    struct fr__cuda_plan pl;
    assert_int_equal(fr__cuda_plan_arena(g, n, 4096, &pl), FR_OK);
    /* The arena is no larger than keeping every tensor, and the workspace
     * overlaps no tensor. */
    size_t all = 4096;
    for (int32_t t = 0; t < g->n_tensors; t++) {
        struct fr_tshape s = g->shapes[t];
        size_t bytes = sizeof(float) * (size_t)n * s.h * s.w * s.c;
        all += (bytes + 255) / 256 * 256;
        assert_true(pl.workspace_offset >= pl.offset[t] + bytes || pl.offset[t] >= pl.workspace_offset + 4096);
        assert_int_equal(pl.offset[t] % 256, 0);
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (fr__cuda_needs_explicit_pad(&g->nodes[i])) {
            struct fr_tshape s = g->shapes[g->nodes[i].in[0]];
            all += (sizeof(float) * (size_t)n * (s.h + 1) * (s.w + 1) * s.c + 255) / 256 * 256;
        }
    assert_true(pl.arena_bytes <= all);
    struct fr_tshape is = g->shapes[g->input];
    size_t in_n = (size_t)n * is.h * is.w * is.c;
    float *x = malloc(in_n * sizeof(float));
    uint32_t seed = 5;
    for (size_t i = 0; i < in_n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f;
    }
    float *got[8], *ref[8];
    for (int32_t o = 0; o < g->n_outputs; o++) {
        struct fr_tshape s = g->shapes[g->outputs[o]];
        got[o] = calloc((size_t)n * s.h * s.w * s.c, sizeof(float));
        ref[o] = calloc((size_t)n * s.h * s.w * s.c, sizeof(float));
    }
    run_planned(g, n, &pl, x, got);
    assert_int_equal(fr_ref_graph_run(g, n, x, ref), FR_OK);
    for (int32_t o = 0; o < g->n_outputs; o++) {
        struct fr_tshape s = g->shapes[g->outputs[o]];
        double md = 0, mr = 0;
        for (size_t i = 0; i < (size_t)n * s.h * s.w * s.c; i++) {
            assert_false(isnan(got[o][i]));
            md = fmax(md, fabs((double)got[o][i] - ref[o][i]));
            mr = fmax(mr, fabs((double)ref[o][i]));
        }
        printf("%s out %d: arena %.2f MiB (all tensors %.2f MiB), max diff %.3g (max |ref| %.3g)\n", what, o,
               pl.arena_bytes / 1048576.0, all / 1048576.0, md, mr);
        assert_true(md <= 1e-4 * fmax(1.0, mr));
        free(got[o]);
        free(ref[o]);
    }
    free(x);
    fr__cuda_plan_free(&pl);
}

static float *rnd(size_t n, uint32_t *seed) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = (float)((*seed >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f;
    }
    return x;
}

static void test_plan_ops(void **state) {
    (void)state;
    /* Every op and padding variant the nets use, in one graph. */
    uint32_t seed = 3;
    struct fr_graph *g = fr__graph_new("ops");
    int32_t x = fr__graph_input(g, 16, 16, 8);
    float *w1 = rnd(9 * 8 * 16, &seed), *b1 = rnd(16, &seed), *wd = rnd(9 * 16, &seed), *w2 = rnd(16 * 16, &seed);
    float *wf = rnd(4 * 4 * 16 * 10, &seed), *w3 = rnd(9 * 16 * 16, &seed);
    struct fr_conv_desc same_s2 = { .kh = 3, .kw = 3, .stride = 2, .cout = 16, .same = true, .act = FR_ACT_RELU6 };
    int32_t a = fr__graph_conv(g, x, &same_s2, w1, b1, -1, "same s2 (explicit pad)");          /* 8x8x16 */
    struct fr_conv_desc dw = { .kh = 3, .kw = 3, .stride = 1, .same = true, .depthwise = true, .act = FR_ACT_LEAKY,
                               .alpha = 0.1f };
    int32_t d = fr__graph_conv(g, a, &dw, wd, b1, -1, "dw same s1");                            /* 8x8x16 */
    struct fr_conv_desc pw = { .kh = 1, .kw = 1, .stride = 1, .cout = 16, .same = true, .act = FR_ACT_RELU };
    int32_t r = fr__graph_conv(g, d, &pw, w2, b1, a, "1x1 + residual");                         /* 8x8x16 */
    int32_t p1 = fr__graph_pool(g, r, true, 2, 1, true);                                         /* same: pad 0/1 */
    int32_t p2 = fr__graph_pool(g, p1, false, 2, 2, false);                                      /* 4x4x16 */
    int32_t c3 = fr__graph_conv(g, p1, &(struct fr_conv_desc){ .kh = 3, .kw = 3, .stride = 2, .cout = 16 }, w3, NULL,
                                -1, "valid s2");                                           /* 3x3x16 */
    int32_t pa = fr__graph_pad_add(g, c3, p2, FR_ACT_RELU);                                      /* 4x4x16 */
    fr__graph_output(g, fr__graph_fc(g, pa, 10, wf, b1));
    fr__graph_output(g, fr__graph_global_avg(g, pa));
    fr__graph_output(g, fr__graph_act(g, d, FR_ACT_RELU));
    assert_int_equal(g->error, FR_OK);
    check_plan(g, 3, "ops");
    fr__graph_free(g);
    free(w1), free(b1), free(wd), free(w2), free(wf), free(w3);
}

static void plan_net(enum fr_net_kind kind, int32_t batch) {
    char err[256];
    struct fr_weights *w = NULL;
    if (fr_weights_load(fr_test_models_dir(), fr_net_model_name(kind), &w, err, sizeof err) != FR_OK) {
        fail_msg("%s", err);
    }
    struct fr_graph *g = NULL;
    assert_int_equal(fr__net_build(kind, w, kind == FR_NET_TINY ? 128 : 416, &g, err, sizeof err), FR_OK);
    fr_weights_free(w);
    check_plan(g, batch, fr_net_model_name(kind));
    fr__graph_free(g);
}

static void test_plan_landmark(void **state) { (void)state; plan_net(FR_NET_LANDMARK, 2); }
static void test_plan_recognition(void **state) { (void)state; plan_net(FR_NET_RECOGNITION, 1); }
static void test_plan_tiny(void **state) { (void)state; plan_net(FR_NET_TINY, 2); }

/* ---- device-side input preparation, emulated ---- */

/* The detector input fr__facenet_det_prepare makes and the one the kernel
 * would make from fr__facenet_det_prep_params, for one image; returns the
 * largest absolute difference. The crop is packed in two chunks, as the
 * backend does when it spans several staging slots. */
static double prep_diff(const struct fr_facenet *fn, const struct fr_image *img) {
    size_t n = fr__facenet_det_item_floats(fn);
    float *host = malloc(sizeof(float) * n), *dev = malloc(sizeof(float) * n);
    assert_non_null(host);
    assert_non_null(dev);
    fr__facenet_det_prepare(fn, img, host);
    struct fr_prep_image pi;
    fr__facenet_det_prep_params(fn, img, &pi);
    struct fr__k_prep k;
    size_t src_bytes;
    assert_int_equal(fr__cuda_prep_plan(&pi, &k, &src_bytes), FR_OK);
    assert_int_equal(src_bytes, (size_t)img->width * img->height * 3);
    assert_int_equal((size_t)k.out_w * k.out_h * 3, n);
    uint8_t *crop = malloc(src_bytes);
    assert_non_null(crop);
    int32_t half = pi.p.h / 2;
    fr__cuda_prep_pack(&pi, 0, half, crop);
    fr__cuda_prep_pack(&pi, half, pi.p.h - half, crop + (size_t)half * pi.p.w * 3);
    fr__cuda_prep_emulate(&k, crop, dev);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)host[i] - dev[i]));
    free(crop);
    free(host);
    free(dev);
    return worst;
}

static void prep_detector(enum fr_detector det) {
    char err[256] = "";
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = FR_DEVICE_CPU;
    struct fr_backend *be = NULL;
    assert_int_equal(fr_backend_new(&bp, &be, err, sizeof err), FR_OK);
    struct fr_facenet_params fp = fr_facenet_default_params();
    fp.models_dir = fr_test_models_dir();
    fp.detector = det;
    fp.landmarks = fp.descriptors = false;
    fp.staging = false;
    fp.max_batch_images = 1;
    struct fr_facenet *fn = NULL;
    if (fr_facenet_new(be, &fp, &fn, err, sizeof err) != FR_OK) fail_msg("facenet: %s", err);
    /* Portrait photos (letterboxed on the right), then synthetic images of
     * odd, landscape (letterboxed at the bottom) and square sizes. */
    const char *files[] = { "tests/test_images/obama.jpg", "tests/test_images/obama3.jpg",
                            "tests/test_images/biden.jpg", "tests/test_images/32bit.png" };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", fr_test_data_dir(), files[f]);
        struct fr_image *img = NULL;
        if (fr_image_load(path, NULL, &img, err, sizeof err) != FR_OK) fail_msg("%s: %s", path, err);
        double d = prep_diff(fn, img);
        printf("%s %s (%dx%d): max |host - emulated kernel| = %g\n", det == FR_DETECTOR_SSD ? "ssd" : "tiny",
               files[f], img->width, img->height, d);
        assert_true(d <= 1e-5);
        fr_image_free(img);
    }
    const int32_t sizes[][2] = { { 1, 1 }, { 7, 3 }, { 3, 7 }, { 641, 479 }, { 500, 500 }, { 13, 1000 } };
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        struct fr_image *img = fr_image_new(sizes[t][0], sizes[t][1]);
        assert_non_null(img);
        for (int32_t y = 0; y < img->height; y++)
            for (int32_t x = 0; x < img->width * 3; x++)
                img->data[(size_t)y * img->stride + x] = (uint8_t)((x * 31 + y * 17 + (x * y) % 7) & 255);
        double d = prep_diff(fn, img);
        if (d > 1e-5) fail_msg("%dx%d: max difference %g", img->width, img->height, d);
        fr_image_free(img);
    }
    fr_facenet_free(fn);
    fr_backend_free(be);
}

static void test_prep_ssd(void **state) { (void)state; prep_detector(FR_DETECTOR_SSD); }
static void test_prep_tiny(void **state) { (void)state; prep_detector(FR_DETECTOR_TINY); }

static void test_prep_plan(void **state) {
    (void)state;
    uint8_t px[4 * 3 * 5] = { 0 };
    struct fr_prep_image pi = { .data = px, .width = 4, .height = 3, .stride = 15,
                                .p = { .x = 1, .y = 0, .w = 3, .h = 3, .canvas_w = 3, .canvas_h = 3,
                                       .out_w = 2, .out_h = 2, .div = 1.0f } };
    struct fr__k_prep k;
    size_t bytes;
    assert_int_equal(fr__cuda_prep_plan(&pi, &k, &bytes), FR_OK);
    assert_int_equal(bytes, 27);
    assert_true(k.rx == 1.5 && k.ry == 1.5);
    /* Rows per staging slot: whole rows only, at most the crop's. */
    assert_int_equal(fr__cuda_prep_rows_per_slot(&pi, 20), 2);
    assert_int_equal(fr__cuda_prep_rows_per_slot(&pi, 1000), 3);
    assert_int_equal(fr__cuda_prep_rows_per_slot(&pi, 8), 0);
    /* Crops outside the image, empty sizes, a short stride, div 0. */
    struct fr_prep_image bad = pi;
    bad.p.w = 4;
    assert_int_equal(fr__cuda_prep_plan(&bad, &k, &bytes), FR_ERR_INVALID);
    bad = pi, bad.p.y = -1;
    assert_int_equal(fr__cuda_prep_plan(&bad, &k, &bytes), FR_ERR_INVALID);
    bad = pi, bad.p.out_w = 0;
    assert_int_equal(fr__cuda_prep_plan(&bad, &k, &bytes), FR_ERR_INVALID);
    bad = pi, bad.stride = 11;
    assert_int_equal(fr__cuda_prep_plan(&bad, &k, &bytes), FR_ERR_INVALID);
    bad = pi, bad.p.div = 0.0f;
    assert_int_equal(fr__cuda_prep_plan(&bad, &k, &bytes), FR_ERR_INVALID);
    /* The source positions of TF's legacy bilinear: 3 -> 2 samples 0 and 1.5. */
    int32_t lo, hi;
    double fr;
    fr__k_src_pos(1.5, 1, 3, &lo, &hi, &fr);
    assert_true(lo == 1 && hi == 2 && fr == 0.5);
    fr__k_src_pos(1.5, 2, 3, &lo, &hi, &fr); /* past the end: ceil clamps */
    assert_true(lo == 3 && hi == 2 && fr == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_pick),
        cmocka_unit_test(test_device_selection_here),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_pick_algo),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_pack_krsc),
        cmocka_unit_test(test_plan_ops),
        cmocka_unit_test(test_plan_landmark),
        cmocka_unit_test(test_plan_recognition),
        cmocka_unit_test(test_plan_tiny),
        cmocka_unit_test(test_prep_plan),
        cmocka_unit_test(test_prep_ssd),
        cmocka_unit_test(test_prep_tiny),
    };
    return cmocka_run_group_tests_name("cuda-host", tests, NULL, NULL);
}
