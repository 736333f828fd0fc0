/* The search module against a brute-force reference: every size (0, 1,
 * k > n, counts that are not multiples of the kernels' blocks), every filter,
 * distinct-label top-k, a random sequence of edits checked against a simple
 * model, refused input, out-of-memory at every allocation, the int8 path's
 * recall, and every instruction set agreeing with the portable one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/search.h"
#include "search/search-impl.h"
#include "test-alloc.h"
#include "test-rng.h"

/* ---- data ---------------------------------------------------------------- */

#define D FR_SEARCH_DIM

/* Clustered vectors are a centre plus noise (one person's faces); the
 * rest come from test-rng.h. */
static void near_vec(float *v, const float *c, int dim, float noise) {
    for (int j = 0; j < dim; j++) v[j] = c[j] + fr_test_gauss() * noise;
}

/* ---- the model and the brute-force reference ---------------------------- */

struct row {
    int64_t id, label;
    float v[D];
};

struct model {
    struct row *r;
    int64_t n, cap;
};

static void model_add(struct model *m, int64_t id, int64_t label, const float *v) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->r = realloc(m->r, (size_t)m->cap * sizeof *m->r);
    }
    m->r[m->n].id = id, m->r[m->n].label = label;
    memcpy(m->r[m->n].v, v, sizeof m->r[m->n].v);
    m->n++;
}

static int64_t model_find(const struct model *m, int64_t id) {
    for (int64_t i = 0; i < m->n; i++)
        if (m->r[i].id == id) return i;
    return -1;
}

static void model_del(struct model *m, int64_t i) { m->r[i] = m->r[--m->n]; }

static double ref_dist(const float *a, const float *b) {
    double s = 0;
    for (int j = 0; j < D; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return sqrt(s);
}

static bool ref_pass(enum fr_search_filter f, int64_t label) {
    return f == FR_SEARCH_ANY || (f == FR_SEARCH_LABELLED ? label != 0 : label == 0);
}

struct ref_hit {
    double d;
    int64_t id, label;
};

static int ref_cmp(const void *a, const void *b) {
    const struct ref_hit *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* All rows passing filter (or, in label mode, each label's best row), sorted. */
static int64_t ref_rank(const struct model *m, const float *q, enum fr_search_filter f, bool labels,
                        struct ref_hit *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < m->n; i++) {
        if (labels ? m->r[i].label == 0 : !ref_pass(f, m->r[i].label)) continue;
        out[n++] = (struct ref_hit){ref_dist(q, m->r[i].v), m->r[i].id, m->r[i].label};
    }
    qsort(out, (size_t)n, sizeof *out, ref_cmp);
    if (!labels) return n;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        bool seen = false;
        for (int64_t j = 0; j < k && !seen; j++) seen = out[j].label == out[i].label;
        if (!seen) out[k++] = out[i];
    }
    return k;
}

static bool close_to(double a, double b) { return fabs(a - b) <= 1e-4 * (1 + fabs(b)); }

/* hits must equal the reference up to float rounding: same count, the same
 * distance at each rank, and each hit's own distance and label true (so two
 * rows at nearly the same distance may trade places). */
static void check_hits(const struct model *m, const float *q, enum fr_search_filter f, bool labels, int32_t k,
                       const struct fr_search_hit *h, int32_t n, const char *what) {
    struct ref_hit *ref = malloc((size_t)(m->n + 1) * sizeof *ref);
    int64_t nr = ref_rank(m, q, f, labels, ref);
    int64_t want = nr < k ? nr : k;
    if (n != want) fail_msg("%s: %d hits, want %lld", what, n, (long long)want);
    for (int32_t i = 0; i < n; i++) {
        if (!close_to(h[i].distance, ref[i].d))
            fail_msg("%s: hit %d distance %.7f, want %.7f", what, i, h[i].distance, ref[i].d);
        int64_t r = model_find(m, h[i].id);
        if (r < 0) fail_msg("%s: hit %d id %lld is not in the gallery", what, i, (long long)h[i].id);
        if (h[i].label != m->r[r].label) fail_msg("%s: hit %d label", what, i);
        if (!close_to(h[i].distance, ref_dist(q, m->r[r].v))) fail_msg("%s: hit %d has a wrong distance", what, i);
        if (i > 0 && h[i].distance < h[i - 1].distance) fail_msg("%s: hits not ascending", what);
        for (int32_t j = 0; j < i; j++) {
            if (h[j].id == h[i].id) fail_msg("%s: id %lld twice", what, (long long)h[i].id);
            if (labels && h[j].label == h[i].label) fail_msg("%s: label %lld twice", what, (long long)h[i].label);
        }
        if (!labels && !ref_pass(f, h[i].label)) fail_msg("%s: hit %d fails the filter", what, i);
    }
    free(ref);
}

static void check_all_queries(struct fr_search *s, const struct model *m, int nq, const char *what) {
    static const int32_t ks[] = {1, 3, 10, 64};
    struct fr_search_hit h[64];
    float q[D];
    char name[160];
    for (int t = 0; t < nq; t++) {
        if (m->n && t % 2) near_vec(q, m->r[fr_test_rnd() % (uint64_t)m->n].v, D, 0.02f);
        else fr_test_rand_vec(q, D);
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            int32_t k = ks[ki];
            for (int f = 0; f < 3; f++) {
                snprintf(name, sizeof name, "%s: n=%lld k=%d filter=%d", what, (long long)m->n, k, f);
                int32_t n = fr_search_topk(s, q, k, (enum fr_search_filter)f, h);
                check_hits(m, q, (enum fr_search_filter)f, false, k, h, n, name);
            }
            snprintf(name, sizeof name, "%s: labels n=%lld k=%d", what, (long long)m->n, k);
            int32_t n = fr_search_topk_labels(s, q, k, h);
            check_hits(m, q, FR_SEARCH_ANY, true, k, h, n, name);
        }
    }
}

static const enum fr__search_isa k_isas[] = {FR__SEARCH_SCALAR, FR__SEARCH_AVX2, FR__SEARCH_AVX512};

/* ---- tests --------------------------------------------------------------- */

/* Random galleries of many sizes, every filter and k, every instruction set,
 * float and int8 modes, against the reference. */
static void test_sizes(void **state) {
    (void)state;
    static const int64_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 63, 255, 256, 257, 1000, 1003};
    for (int int8 = 0; int8 < 2; int8++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            struct fr_search_params p = fr_search_default_params();
            p.int8 = int8;
            struct fr_search *s;
            assert_int_equal(fr_search_new(&p, &s), FR_OK);
            struct model m = {0};
            float v[D];
            for (int64_t i = 0; i < sizes[si]; i++) {
                fr_test_rand_vec(v, D);
                int64_t id = 1000 + i * 7, label = (int64_t)(fr_test_rnd() % 6);
                assert_int_equal(fr_search_add(s, id, label, v), FR_OK);
                model_add(&m, id, label, v);
            }
            assert_int_equal(fr_search_count(s), sizes[si]);
            for (size_t ii = 0; ii < 3; ii++) {
                if (fr__search_set_isa(s, k_isas[ii]) != FR_OK) continue;
                char what[64];
                snprintf(what, sizeof what, "%s%s", fr__search_kernels_get(k_isas[ii])->name, int8 ? " int8" : "");
                check_all_queries(s, &m, 4, what);
            }
            fr_search_free(s);
            free(m.r);
        }
    }
}

/* Few labels with many faces each: distinct-label top-k must skip a
 * person's further faces, and find labels whose best face ranks far down. */
static void test_labels(void **state) {
    (void)state;
    for (int int8 = 0; int8 < 2; int8++) {
        struct fr_search_params p = fr_search_default_params();
        p.int8 = int8;
        /* With the default rerank (max(4k, 64)) the int8 candidates of a query
         * near a person are all that person's faces, so distinct-label
         * queries must fall back to the exact scan. */
        struct fr_search *s;
        assert_int_equal(fr_search_new(&p, &s), FR_OK);
        struct model m = {0};
        float c[12][D], v[D];
        for (int i = 0; i < 12; i++) fr_test_rand_vec(c[i], D);
        for (int64_t i = 0; i < 3000; i++) {
            int person = (int)(fr_test_rnd() % 12);
            near_vec(v, c[person], D, 0.03f);
            int64_t label = person == 11 ? 0 : person + 1; /* person 11 stays unlabelled */
            assert_int_equal(fr_search_add(s, i + 1, label, v), FR_OK);
            model_add(&m, i + 1, label, v);
        }
        check_all_queries(s, &m, 6, int8 ? "clusters int8" : "clusters");
        struct fr_search_hit h[20];
        assert_int_equal(fr_search_topk_labels(s, c[3], 20, h), 11);
        assert_int_equal(h[0].label, 4);
        fr_search_free(s);
        free(m.r);
    }
}

/* A random sequence of adds, removes, label changes, merges and person
 * deletions, checked after every step against the model. */
static void test_edits(void **state) {
    (void)state;
    for (int int8 = 0; int8 < 2; int8++) {
        struct fr_search_params p = fr_search_default_params();
        p.int8 = int8;
        struct fr_search *s;
        assert_int_equal(fr_search_new(&p, &s), FR_OK);
        struct model m = {0};
        float v[D], got[D];
        int64_t next_id = 1;
        for (int step = 0; step < 6000; step++) {
            int op = (int)(fr_test_rnd() % 100);
            if (op < 50 || m.n == 0) {
                fr_test_rand_vec(v, D);
                int64_t id = (fr_test_rnd() % 4 == 0) ? (int64_t)(fr_test_rnd() % 64) - 32 : next_id++ * 1000003;
                int64_t label = (int64_t)(fr_test_rnd() % 9);
                enum fr_status st = fr_search_add(s, id, label, v);
                if (model_find(&m, id) >= 0) assert_int_equal(st, FR_ERR_INVALID);
                else assert_int_equal(st, FR_OK), model_add(&m, id, label, v);
            } else if (op < 75) {
                int64_t i = (int64_t)(fr_test_rnd() % (uint64_t)m.n);
                assert_int_equal(fr_search_remove(s, m.r[i].id), FR_OK);
                assert_int_equal(fr_search_remove(s, m.r[i].id), FR_ERR_NOT_FOUND);
                model_del(&m, i);
            } else if (op < 90) {
                int64_t i = (int64_t)(fr_test_rnd() % (uint64_t)m.n), label = (int64_t)(fr_test_rnd() % 9);
                assert_int_equal(fr_search_set_label(s, m.r[i].id, label), FR_OK);
                m.r[i].label = label;
            } else if (op < 96) {
                int64_t from = (int64_t)(fr_test_rnd() % 9), to = (int64_t)(fr_test_rnd() % 9), want = 0;
                for (int64_t i = 0; i < m.n && from != to; i++)
                    if (m.r[i].label == from) m.r[i].label = to, want++;
                assert_int_equal(fr_search_relabel(s, from, to), want);
            } else {
                int64_t label = (int64_t)(fr_test_rnd() % 9), want = 0;
                for (int64_t i = m.n - 1; i >= 0; i--)
                    if (m.r[i].label == label) model_del(&m, i), want++;
                assert_int_equal(fr_search_remove_label(s, label), want);
            }
            assert_int_equal(fr_search_count(s), m.n);
            if (step % 500 == 0 || step == 5999) {
                for (int64_t i = 0; i < m.n; i++) {
                    int64_t label = -1;
                    assert_true(fr_search_get(s, m.r[i].id, got, &label));
                    assert_int_equal(label, m.r[i].label);
                    assert_memory_equal(got, m.r[i].v, sizeof got);
                }
                check_all_queries(s, &m, 1, int8 ? "edits int8" : "edits");
            }
        }
        assert_false(fr_search_get(s, -1000, NULL, NULL));
        fr_search_free(s);
        free(m.r);
    }
}

/* Input the module must refuse without changing anything. */
static void test_refused(void **state) {
    (void)state;
    struct fr_search_params p = fr_search_default_params();
    struct fr_search *s = (struct fr_search *)&p;
    p.dim = 0;
    assert_int_equal(fr_search_new(&p, &s), FR_ERR_INVALID);
    assert_null(s);
    p.dim = FR_SEARCH_MAX_DIM + 1;
    assert_int_equal(fr_search_new(&p, &s), FR_ERR_INVALID);
    p = fr_search_default_params();
    p.rerank = -1;
    assert_int_equal(fr_search_new(&p, &s), FR_ERR_INVALID);
    fr_search_free(NULL);
    assert_int_equal(fr_search_new(NULL, &s), FR_OK);
    assert_int_equal(fr_search_dim(s), FR_SEARCH_DIM);
    float v[D], q[D];
    fr_test_rand_vec(v, D);
    assert_int_equal(fr_search_add(s, 7, 1, v), FR_OK);
    assert_int_equal(fr_search_add(s, 7, 2, v), FR_ERR_INVALID);
    v[5] = NAN;
    assert_int_equal(fr_search_add(s, 8, 1, v), FR_ERR_INVALID);
    v[5] = INFINITY;
    assert_int_equal(fr_search_add(s, 8, 1, v), FR_ERR_INVALID);
    assert_int_equal(fr_search_count(s), 1);
    assert_int_equal(fr_search_remove(s, 8), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_search_set_label(s, 8, 3), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_search_reserve(s, -1), FR_ERR_INVALID);
    struct fr_search_hit h[2];
    fr_test_rand_vec(q, D);
    assert_int_equal(fr_search_topk(s, q, 0, FR_SEARCH_ANY, h), 0);
    assert_int_equal(fr_search_topk(s, q, 2, FR_SEARCH_ANY, h), 1);
    assert_int_equal(fr_search_topk(s, q, 2, FR_SEARCH_UNLABELLED, h), 0);
    q[0] = NAN;
    assert_int_equal(fr_search_topk(s, q, 2, FR_SEARCH_ANY, h), 0);
    /* Odd dims pad their rows; the padding must not count. */
    struct fr_search *s2;
    p = fr_search_default_params();
    p.dim = 3;
    p.int8 = true;
    assert_int_equal(fr_search_new(&p, &s2), FR_OK);
    float a[3] = {0, 0, 0}, b[3] = {3, 4, 0}, z[3] = {0, 0, 0};
    assert_int_equal(fr_search_add(s2, 1, 0, a), FR_OK);
    assert_int_equal(fr_search_add(s2, 2, 5, b), FR_OK);
    assert_int_equal(fr_search_topk(s2, z, 5, FR_SEARCH_ANY, h), 2);
    assert_int_equal(h[0].id, 1);
    assert_float_equal(h[0].distance, 0, 1e-6);
    assert_int_equal(h[1].id, 2);
    assert_float_equal(h[1].distance, 5, 1e-5);
    fr_search_free(s2);
    fr_search_free(s);
}

/* Every allocation of a build-up (new, growth, reserve) fails in turn: the
 * call returns FR_ERR_NOMEM, the object keeps its rows, nothing leaks. */
static void test_out_of_memory(void **state) {
    (void)state;
    for (int int8 = 0; int8 < 2; int8++) {
        struct fr_search_params p = fr_search_default_params();
        p.int8 = int8;
        p.initial_capacity = 3;
        for (int64_t k = 0;; k++) {
            size_t live = fr_test_alloc_live();
            fr_test_alloc_fail(k, false);
            struct fr_search *s = NULL;
            enum fr_status st = fr_search_new(&p, &s);
            bool failed = false;
            if (st != FR_OK) {
                assert_int_equal(st, FR_ERR_NOMEM);
                assert_null(s);
                assert_int_equal(fr_test_alloc_live(), live);
                continue;
            }
            float v[D], got[D];
            int64_t added = 0;
            for (int64_t i = 0; i < 100; i++) {
                fr_test_rng = 1234567 + (uint64_t)i;
                fr_test_rand_vec(v, D);
                st = fr_search_add(s, i, i % 3, v);
                if (st == FR_OK) {
                    added++;
                    continue;
                }
                assert_int_equal(st, FR_ERR_NOMEM);
                failed = true;
                /* The failed add changed nothing; a retry succeeds. */
                assert_int_equal(fr_search_count(s), added);
                assert_false(fr_search_get(s, i, NULL, NULL));
                fr_test_alloc_fail_off();
                assert_int_equal(fr_search_add(s, i, i % 3, v), FR_OK);
                added++;
            }
            fr_test_alloc_fail_off();
            for (int64_t i = 0; i < added; i++) {
                fr_test_rng = 1234567 + (uint64_t)i;
                fr_test_rand_vec(v, D);
                assert_true(fr_search_get(s, i, got, NULL));
                assert_memory_equal(got, v, sizeof v);
            }
            fr_search_free(s);
            assert_int_equal(fr_test_alloc_live(), live);
            if (!failed) break;
        }
        /* reserve on its own */
        struct fr_search *s;
        assert_int_equal(fr_search_new(&p, &s), FR_OK);
        size_t live = fr_test_alloc_live();
        fr_test_alloc_fail(2, false);
        assert_int_equal(fr_search_reserve(s, 1000), FR_ERR_NOMEM);
        fr_test_alloc_fail_off();
        assert_int_equal(fr_test_alloc_live(), live);
        assert_int_equal(fr_search_reserve(s, 1000), FR_OK);
        fr_search_free(s);
    }
}

/* The int8 path on descriptor-like data (people as clusters plus lone
 * faces): its top-10 must be the exact top-10. */
static void test_int8_recall(void **state) {
    (void)state;
    struct fr_search_params p = fr_search_default_params();
    struct fr_search *exact, *fast;
    assert_int_equal(fr_search_new(&p, &exact), FR_OK);
    p.int8 = true;
    assert_int_equal(fr_search_new(&p, &fast), FR_OK);
    enum { N = 20000, PEOPLE = 400, Q = 100, K = 10 };
    float(*c)[D] = malloc(sizeof(float[PEOPLE][D]));
    float v[D];
    for (int i = 0; i < PEOPLE; i++) fr_test_rand_vec(c[i], D);
    for (int64_t i = 0; i < N; i++) {
        if (i % 2) fr_test_rand_vec(v, D);
        else near_vec(v, c[fr_test_rnd() % PEOPLE], D, 0.04f);
        assert_int_equal(fr_search_add(exact, i, i % 7, v), FR_OK);
        assert_int_equal(fr_search_add(fast, i, i % 7, v), FR_OK);
    }
    int64_t found = 0, total = 0;
    struct fr_search_hit a[K], b[K];
    for (int t = 0; t < Q; t++) {
        if (t % 2) fr_test_rand_vec(v, D);
        else near_vec(v, c[fr_test_rnd() % PEOPLE], D, 0.04f);
        int32_t na = fr_search_topk(exact, v, K, FR_SEARCH_ANY, a), nb = fr_search_topk(fast, v, K, FR_SEARCH_ANY, b);
        assert_int_equal(na, K);
        assert_int_equal(nb, K);
        for (int i = 0; i < K; i++) {
            total++;
            for (int j = 0; j < K; j++)
                if (a[i].id == b[j].id) {
                    found++;
                    assert_float_equal(a[i].distance, b[j].distance, 1e-5);
                }
        }
    }
    double recall = (double)found / (double)total;
    printf("int8 recall@10 against exact: %.4f (%lld of %lld)\n", recall, (long long)found, (long long)total);
    assert_true(recall >= 0.99);
    free(c);
    fr_search_free(exact);
    fr_search_free(fast);
}

/* The SIMD kernels against the portable ones on odd strides and counts:
 * float distances within rounding, int8 dot products exactly. */
static void test_kernels_agree(void **state) {
    (void)state;
    const struct fr__search_kernels *ref = fr__search_kernels_get(FR__SEARCH_SCALAR);
    assert_non_null(ref);
    enum { STRIDE = 192, N = 37 };
    float *x = aligned_alloc(64, sizeof(float) * STRIDE * N), *q = aligned_alloc(64, sizeof(float) * STRIDE);
    uint8_t *x8 = aligned_alloc(64, STRIDE * N);
    int8_t *q8 = aligned_alloc(64, STRIDE);
    for (int i = 0; i < STRIDE * N; i++) x[i] = fr_test_unif(), x8[i] = (uint8_t)fr_test_rnd();
    for (int i = 0; i < STRIDE; i++) q[i] = fr_test_unif(), q8[i] = (int8_t)((int)(fr_test_rnd() % 255) - 127);
    float d0[N], d1[N];
    int32_t i0[N], i1[N];
    for (size_t ii = 1; ii < 3; ii++) {
        const struct fr__search_kernels *k = fr__search_kernels_get(k_isas[ii]);
        if (!k) {
            printf("%s: not supported on this CPU, skipped\n", ii == 1 ? "avx2" : "avx512");
            continue;
        }
        for (size_t n = 0; n <= N; n++) {
            ref->l2(q, x, STRIDE, n, d0);
            k->l2(q, x, STRIDE, n, d1);
            ref->dot8(q8, x8, STRIDE, n, i0);
            k->dot8(q8, x8, STRIDE, n, i1);
            for (size_t i = 0; i < n; i++) {
                assert_true(close_to(d1[i], d0[i]));
                assert_int_equal(i1[i], i0[i]);
            }
        }
    }
    printf("best instruction set: %s\n", fr__search_kernels_get(fr__search_best_isa())->name);
    free(x), free(q), free(x8), free(q8);
}

int main(void) {
    fr_test_alloc_install();
#define T(f) cmocka_unit_test_setup_teardown(f, fr_test_alloc_setup, fr_test_alloc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_refused),  T(test_sizes),         T(test_labels),        T(test_edits),
        T(test_out_of_memory), T(test_int8_recall), T(test_kernels_agree),
    };
#undef T
    return cmocka_run_group_tests_name("test-search", tests, NULL, NULL);
}
