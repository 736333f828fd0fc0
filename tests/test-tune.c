/* facerec tune's search (tools/cli/tune-search.c) on fake measurements:
 * it finds the optimum of a known landscape for each kind of goal, never
 * measures a candidate twice, keeps within the trial budget, skips
 * candidates that cannot run and stops when asked. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tune-search.h"

struct fake {
    int32_t calls;
    int32_t stop_after;  /* ask to stop at this call (0 = never) */
    int32_t budget_max;  /* candidates with max_batch_size above this "do not fit" */
};

/* Throughput peaks at max_batch_size 32, max_workers 3 and
 * max_concurrent_images 32 and does not depend on preferred_batch_size
 * beyond a small bonus for 8; utilization and p95 grow with the load. */
static int fake_measure(const struct tune_candidate *c, struct tune_measure *m, void *ctx) {
    struct fake *f = ctx;
    f->calls++;
    if (f->stop_after && f->calls >= f->stop_after) return -1;
    if (f->budget_max && c->max_batch_size > f->budget_max) {
        m->ok = false;
        snprintf(m->note, sizeof m->note, "does not fit");
        return 0;
    }
    double lb = log2(c->max_batch_size), lw = c->max_workers, lm = log2(c->max_concurrent_images);
    m->ok = true;
    m->throughput = 100 - 4 * (lb - 5) * (lb - 5) - 8 * (lw - 3) * (lw - 3) - 5 * (lm - 5) * (lm - 5) +
                    (c->preferred_batch_size == 8 ? 1 : 0);
    m->p95_ms = 10 * c->max_concurrent_images + c->max_batch_size;
    m->utilization = fmin(1.0, c->max_concurrent_images / 40.0);
    return 0;
}

static const struct tune_candidate start = { 128, 64, 2, 16 };

static void no_duplicates(const struct tune_trial *t, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        assert_true(t[i].c.preferred_batch_size <= t[i].c.max_batch_size);
        for (int32_t j = 0; j < i; j++) assert_true(memcmp(&t[i].c, &t[j].c, sizeof(t[i].c)) != 0);
    }
}

static void test_goal_parse(void **state) {
    (void)state;
    struct tune_goal g;
    char err[256];
    assert_int_equal(tune_goal_parse("throughput", &g, err, sizeof err), 0);
    assert_int_equal(g.kind, TUNE_THROUGHPUT);
    assert_int_equal(tune_goal_parse("p95=250", &g, err, sizeof err), 0);
    assert_int_equal(g.kind, TUNE_P95);
    assert_true(g.target == 250);
    assert_int_equal(tune_goal_parse("utilization=80%", &g, err, sizeof err), 0);
    assert_int_equal(g.kind, TUNE_UTILIZATION);
    assert_true(g.target == 80);
    assert_int_equal(tune_goal_parse("utilization=180", &g, err, sizeof err), -1);
    assert_int_equal(tune_goal_parse("p95=", &g, err, sizeof err), -1);
    assert_int_equal(tune_goal_parse("fast", &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected throughput"));
}

static void test_throughput(void **state) {
    (void)state;
    struct fake f = { 0 };
    struct tune_trial t[TUNE_MAX_TRIALS];
    int32_t n;
    struct tune_goal g = { TUNE_THROUGHPUT, 0 };
    int32_t best = tune_search(&g, &start, 40, fake_measure, &f, t, &n);
    assert_true(best >= 0 && n <= 40 && f.calls == n);
    no_duplicates(t, n);
    assert_int_equal(t[best].c.max_batch_size, 32);
    assert_int_equal(t[best].c.max_workers, 3);
    assert_int_equal(t[best].c.max_concurrent_images, 32);
    for (int32_t i = 0; i < n; i++) assert_true(t[i].m.throughput <= t[best].m.throughput);
}

static void test_budget_and_skips(void **state) {
    (void)state;
    /* Only three trials: the search stops there and returns the best. */
    struct fake f = { 0 };
    struct tune_trial t[TUNE_MAX_TRIALS];
    int32_t n;
    struct tune_goal g = { TUNE_THROUGHPUT, 0 };
    int32_t best = tune_search(&g, &start, 3, fake_measure, &f, t, &n);
    assert_int_equal(n, 3);
    assert_true(best >= 0);
    /* Candidates above batch 16 do not fit: the start is skipped, the
     * result still fits. */
    struct fake f2 = { .budget_max = 16 };
    best = tune_search(&g, &start, 30, fake_measure, &f2, t, &n);
    assert_true(best >= 0);
    assert_true(t[best].m.ok);
    assert_true(t[best].c.max_batch_size <= 16);
    assert_false(t[0].m.ok);
    /* Nothing fits at all. */
    struct fake f3 = { .budget_max = 1 };
    assert_int_equal(tune_search(&g, &start, 10, fake_measure, &f3, t, &n), -1);
}

static void test_p95_goal(void **state) {
    (void)state;
    struct fake f = { 0 };
    struct tune_trial t[TUNE_MAX_TRIALS];
    int32_t n;
    struct tune_goal g = { TUNE_P95, 200 };
    int32_t best = tune_search(&g, &start, 40, fake_measure, &f, t, &n);
    assert_true(best >= 0);
    assert_true(t[best].m.p95_ms <= 200);
    for (int32_t i = 0; i < n; i++)
        if (t[i].m.ok && t[i].m.p95_ms <= 200) assert_true(t[i].m.throughput <= t[best].m.throughput);
}

static void test_utilization_goal(void **state) {
    (void)state;
    struct fake f = { 0 };
    struct tune_trial t[TUNE_MAX_TRIALS];
    int32_t n;
    struct tune_goal g = { TUNE_UTILIZATION, 80 };
    int32_t best = tune_search(&g, &start, 40, fake_measure, &f, t, &n);
    assert_true(best >= 0);
    /* 32 images in flight is the least that reaches 80%. */
    assert_true(t[best].m.utilization >= 0.8);
    assert_int_equal(t[best].c.max_concurrent_images, 32);
    /* Out of reach: the nearest wins. */
    struct tune_goal g2 = { TUNE_UTILIZATION, 100 };
    struct fake f2 = { 0 };
    best = tune_search(&g2, &start, 6, fake_measure, &f2, t, &n);
    assert_true(best >= 0);
    for (int32_t i = 0; i < n; i++) assert_true(t[i].m.utilization <= t[best].m.utilization);
}

static void test_stop(void **state) {
    (void)state;
    struct fake f = { .stop_after = 3 };
    struct tune_trial t[TUNE_MAX_TRIALS];
    int32_t n;
    struct tune_goal g = { TUNE_THROUGHPUT, 0 };
    int32_t best = tune_search(&g, &start, 40, fake_measure, &f, t, &n);
    assert_int_equal(n, 2);
    assert_true(best >= 0 && best < 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goal_parse),       cmocka_unit_test(test_throughput),
        cmocka_unit_test(test_budget_and_skips), cmocka_unit_test(test_p95_goal),
        cmocka_unit_test(test_utilization_goal), cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
