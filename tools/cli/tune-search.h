/* facerec tune's search, apart from any server so that it can be tested
 * on a fake measurement: coordinate descent over four settings, each
 * stepping through a fixed ladder of values, within a bounded number of
 * trials. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TUNE_AXES 4
#define TUNE_MAX_TRIALS 64

/* The settings tune chooses. preferred_batch_size <= max_batch_size. */
struct tune_candidate {
    int32_t max_batch_size, preferred_batch_size, max_workers, max_concurrent_images;
};

enum tune_goal_kind {
    TUNE_THROUGHPUT,  /* most images/s */
    TUNE_P95,         /* most images/s with p95 latency <= target ms */
    TUNE_UTILIZATION, /* least load and batch with utilization >= target % (or the nearest) */
};
struct tune_goal {
    enum tune_goal_kind kind;
    double target; /* ms for p95, percent for utilization */
};
/* "throughput", "p95=MS", "utilization=PCT"; 0, or -1 with a message. */
int tune_goal_parse(const char *s, struct tune_goal *g, char *err, size_t errlen);
void tune_goal_str(const struct tune_goal *g, char *buf, size_t len);

struct tune_measure {
    bool ok;            /* false: the candidate could not run (e.g. it does not fit device_memory_limit) */
    double throughput;  /* images/s */
    double p95_ms;
    double utilization; /* 0..1 */
    char note[256];     /* why it failed, or what the server changed (batch lowered per net) */
};
struct tune_trial {
    struct tune_candidate c;
    struct tune_measure m;
};

/* Measures one candidate. Returns 0, or -1 to stop the search (interrupted). */
typedef int (*tune_measure_fn)(const struct tune_candidate *c, struct tune_measure *m, void *ctx);

/* Whether trial a meets the goal better than trial b (failed trials never
 * do). margin > 0 asks for that much more throughput (0.03 = 3%), so that
 * noise does not move the search. */
bool tune_better(const struct tune_goal *g, const struct tune_trial *a, const struct tune_trial *b, double margin);

/* Starting from `start`, measures at most max_trials distinct candidates
 * (<= TUNE_MAX_TRIALS) into trials[] (*ntrials of them) and returns the
 * index of the best, or -1 when none ran. */
int32_t tune_search(const struct tune_goal *g, const struct tune_candidate *start, int32_t max_trials,
                    tune_measure_fn fn, void *ctx, struct tune_trial *trials, int32_t *ntrials);
