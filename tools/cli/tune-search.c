/* facerec tune's search (tune-search.h). */
#include "tune-search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values each axis steps through. */
static const int32_t ladder_batch[] = { 4, 8, 16, 32, 64, 128, 256 };
static const int32_t ladder_pref[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
static const int32_t ladder_workers[] = { 1, 2, 3, 4, 6, 8 };
static const int32_t ladder_mci[] = { 2, 4, 8, 16, 32, 64, 128 };

static const struct {
    const int32_t *v;
    int32_t n;
} ladders[TUNE_AXES] = {
    { ladder_batch, sizeof ladder_batch / sizeof(int32_t) },
    { ladder_pref, sizeof ladder_pref / sizeof(int32_t) },
    { ladder_workers, sizeof ladder_workers / sizeof(int32_t) },
    { ladder_mci, sizeof ladder_mci / sizeof(int32_t) },
};

static int32_t *axis(struct tune_candidate *c, int k) {
    return k == 0 ? &c->max_batch_size : k == 1 ? &c->preferred_batch_size : k == 2 ? &c->max_workers
                                                                             : &c->max_concurrent_images;
}

int tune_goal_parse(const char *s, struct tune_goal *g, char *err, size_t errlen) {
    char *end;
    if (!strcmp(s, "throughput")) {
        *g = (struct tune_goal){ TUNE_THROUGHPUT, 0 };
        return 0;
    }
    if (!strncmp(s, "p95=", 4)) {
        double v = strtod(s + 4, &end);
        if (end != s + 4 && !*end && v > 0 && v < 1e7) {
            *g = (struct tune_goal){ TUNE_P95, v };
            return 0;
        }
    } else if (!strncmp(s, "utilization=", 12)) {
        double v = strtod(s + 12, &end);
        if (*end == '%') end++;
        if (end != s + 12 && !*end && v > 0 && v <= 100) {
            *g = (struct tune_goal){ TUNE_UTILIZATION, v };
            return 0;
        }
    }
    snprintf(err, errlen, "--goal '%s': expected throughput, p95=MS (e.g. p95=500) or utilization=PCT (e.g. "
                          "utilization=80)", s);
    return -1;
}

void tune_goal_str(const struct tune_goal *g, char *buf, size_t len) {
    if (g->kind == TUNE_THROUGHPUT) snprintf(buf, len, "maximum throughput");
    else if (g->kind == TUNE_P95) snprintf(buf, len, "maximum throughput with p95 <= %g ms", g->target);
    else snprintf(buf, len, "least load and batch size with device utilization >= %g%%", g->target);
}

/* Resources a candidate asks for, compared in this order. */
static int cmp_cost(const struct tune_candidate *a, const struct tune_candidate *b) {
    const int32_t x[4] = { a->max_concurrent_images, a->max_batch_size, a->preferred_batch_size, a->max_workers };
    const int32_t y[4] = { b->max_concurrent_images, b->max_batch_size, b->preferred_batch_size, b->max_workers };
    for (int k = 0; k < 4; k++)
        if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
    return 0;
}

bool tune_better(const struct tune_goal *g, const struct tune_trial *a, const struct tune_trial *b, double margin) {
    if (!a->m.ok) return false;
    if (!b->m.ok) return true;
    double ta = a->m.throughput, tb = b->m.throughput * (1 + margin);
    switch (g->kind) {
    case TUNE_THROUGHPUT:
        return ta > tb;
    case TUNE_P95: {
        bool fa = a->m.p95_ms <= g->target, fb = b->m.p95_ms <= g->target;
        if (fa != fb) return fa;
        if (fa) return ta > tb;
        return a->m.p95_ms < b->m.p95_ms * (1 - margin);
    }
    case TUNE_UTILIZATION: {
        double u = g->target / 100.0;
        bool fa = a->m.utilization >= u, fb = b->m.utilization >= u;
        if (fa != fb) return fa;
        if (fa) {
            int c = cmp_cost(&a->c, &b->c);
            return c != 0 ? c < 0 : ta > tb;
        }
        return a->m.utilization > b->m.utilization + margin;
    }
    }
    return false;
}

static bool same(const struct tune_candidate *a, const struct tune_candidate *b) {
    return !memcmp(a, b, sizeof(*a));
}

static int32_t find(const struct tune_trial *t, int32_t n, const struct tune_candidate *c) {
    for (int32_t i = 0; i < n; i++)
        if (same(&t[i].c, c)) return i;
    return -1;
}

/* Index of v on ladder k, or of the nearest value. */
static int32_t rung(int k, int32_t v) {
    int32_t best = 0;
    for (int32_t i = 1; i < ladders[k].n; i++)
        if (abs(ladders[k].v[i] - v) < abs(ladders[k].v[best] - v)) best = i;
    return best;
}

/* The candidate one rung up (dir 1) or down (-1) on axis k; false when it
 * falls off the ladder or breaks preferred <= max. */
static bool step(const struct tune_candidate *from, int k, int dir, struct tune_candidate *out) {
    *out = *from;
    int32_t *v = axis(out, k);
    int32_t i = rung(k, *v);
    if (ladders[k].v[i] == *v || (dir > 0) == (ladders[k].v[i] < *v)) i += dir;
    if (i < 0 || i >= ladders[k].n) return false;
    *v = ladders[k].v[i];
    if (k == 0 && out->preferred_batch_size > out->max_batch_size) out->preferred_batch_size = out->max_batch_size;
    return out->preferred_batch_size <= out->max_batch_size;
}

/* Measures c unless it has been; returns its index, -1 when the budget is
 * spent, -2 when the measurement asked to stop. */
static int32_t trial(const struct tune_candidate *c, int32_t max_trials, tune_measure_fn fn, void *ctx,
                     struct tune_trial *t, int32_t *n) {
    int32_t i = find(t, *n, c);
    if (i >= 0) return i;
    if (*n >= max_trials) return -1;
    struct tune_trial *x = &t[*n];
    memset(x, 0, sizeof(*x));
    x->c = *c;
    if (fn(c, &x->m, ctx) != 0) return -2;
    return (*n)++;
}

int32_t tune_search(const struct tune_goal *g, const struct tune_candidate *start, int32_t max_trials,
                    tune_measure_fn fn, void *ctx, struct tune_trial *trials, int32_t *ntrials) {
    const double margin = 0.03;
    *ntrials = 0;
    if (max_trials > TUNE_MAX_TRIALS) max_trials = TUNE_MAX_TRIALS;
    struct tune_candidate s = *start;
    if (s.preferred_batch_size > s.max_batch_size) s.preferred_batch_size = s.max_batch_size;
    int32_t best = trial(&s, max_trials, fn, ctx, trials, ntrials);
    if (best < 0) return -1;
    /* Coordinate descent: along each axis, step while it gets better;
     * until a pass over all axes changes nothing or the budget is spent. */
    bool moved = true, stop = false;
    while (moved && !stop) {
        moved = false;
        for (int k = 0; k < TUNE_AXES && !stop; k++)
            for (int dir = 1; dir >= -1 && !stop; dir -= 2) {
                struct tune_candidate c;
                while (step(&trials[best].c, k, dir, &c)) {
                    int32_t i = trial(&c, max_trials, fn, ctx, trials, ntrials);
                    if (i < 0) {
                        stop = true;
                        break;
                    }
                    /* From a candidate that did not run (too big for the
                     * memory budget), keep stepping down until one does. */
                    bool down_from_failed = !trials[best].m.ok && !trials[i].m.ok && dir < 0;
                    if (!down_from_failed && !tune_better(g, &trials[i], &trials[best], margin)) break;
                    best = i;
                    moved = true;
                }
            }
    }
    /* The best of everything measured, without the margin. */
    for (int32_t i = 0; i < *ntrials; i++)
        if (tune_better(g, &trials[i], &trials[best], 0)) best = i;
    return trials[best].m.ok ? best : -1;
}
