/* facerec tune: chooses max_batch_size, preferred_batch_size, max_workers
 * and max_concurrent_images for a goal by running a short benchmark of
 * each candidate on a server started with its settings (tune-search.c
 * decides which), then prints the measurements and the recommended
 * configuration as an INI file (the format of facerec config). */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-cli.h"
#include "facerec/config.h"
#include "tune-search.h"

#define OPT(f) offsetof(struct bench_cli, f)

static const struct bench_opt tune_opts[] = {
    { "--goal", BOPT_STR, OPT(goal), "GOAL",
      "throughput (default), p95=MS (most throughput within a p95 latency) or utilization=PCT" },
    { "--trials", BOPT_INT, OPT(trials), "N", "at most this many candidates are measured (default 12, at most 64)" },
    { "--concurrency", BOPT_STR, OPT(concurrency), "N", "concurrent clients of every trial (default 16)" },
    { "--duration", BOPT_DOUBLE, OPT(duration), "S", "seconds measured per trial (default 5)" },
    { "--requests", BOPT_INT, OPT(requests), "N", "requests per trial instead of a duration" },
    { "--warmup", BOPT_INT, OPT(warmup), "N", "uncounted requests per client before each trial (default 2)" },
    { "--timeout", BOPT_DOUBLE, OPT(timeout), "S", "hard limit for the whole search (default 1800)" },
    { "--route", BOPT_STR, OPT(route), "PATH", "endpoint the images are posted to (default /v1/embed)" },
    { "--images", BOPT_STR, 0 /* collected into paths */, "PATH", "image file or directory (default: the bundled test photos)" },
    { "--models", BOPT_STR, OPT(models), "DIR", "model directory (default models, or $FACEREC_MODELS)" },
    { NULL, 0, 0, NULL, NULL },
};

static void tune_usage(FILE *f) {
    fprintf(f, "usage: facerec tune [--goal GOAL] [options] [--SETTING VALUE]... [IMAGE_PATH...]\n\n"
               "Search max_batch_size, preferred_batch_size, max_workers and max_concurrent_images for a goal:\n"
               "every candidate runs on its own facerec serve (started on a free loopback port) under the same\n"
               "closed-loop load as facerec bench. A candidate that does not fit device_memory_limit is skipped;\n"
               "when the server lowers a net's batch to fit, the table says so. Other server settings given\n"
               "here (e.g. --device-memory-limit 4G) apply to every candidate.\n\n");
    bench_opts_help(tune_opts, f);
    fprintf(f, "\nPrints the measurements and the recommended settings as an INI file (facerec config's format).\n");
}

static const char *const tuned[] = { "max_batch_size", "preferred_batch_size", "max_workers", "max_concurrent_images" };

struct tune_ctx {
    const struct bench_cli *c;
    const struct bench_images *im;
    int32_t concurrency;
    struct bench_result res[TUNE_MAX_TRIALS];
    int32_t n;
};

static void candidate_args(const struct tune_candidate *cand, char buf[4][16], char *argv[8]) {
    const int32_t v[4] = { cand->max_batch_size, cand->preferred_batch_size, cand->max_workers,
                           cand->max_concurrent_images };
    static const char *const flags[4] = { "--max-batch-size", "--preferred-batch-size", "--max-workers",
                                          "--max-concurrent-images" };
    for (int k = 0; k < 4; k++) {
        snprintf(buf[k], 16, "%d", (int)v[k]);
        argv[2 * k] = (char *)flags[k];
        argv[2 * k + 1] = buf[k];
    }
}

static int measure(const struct tune_candidate *cand, struct tune_measure *m, void *arg) {
    struct tune_ctx *t = arg;
    if (bench_stop_flag || bench_now() >= t->c->deadline) return -1;
    char buf[4][16], *argv[8];
    candidate_args(cand, buf, argv);
    struct bench_result *r = &t->res[t->n < TUNE_MAX_TRIALS ? t->n : TUNE_MAX_TRIALS - 1];
    memset(r, 0, sizeof(*r));
    fprintf(stderr, "facerec tune: trial %d: max_batch_size %d, preferred_batch_size %d, max_workers %d, "
                    "max_concurrent_images %d\n",
            (int)t->n + 1, (int)cand->max_batch_size, (int)cand->preferred_batch_size, (int)cand->max_workers,
            (int)cand->max_concurrent_images);
    int rc = bench_sweep(t->c, t->im, NULL, false, argv, 8, &t->concurrency, 1, r, m->note, sizeof m->note);
    t->n++;
    if (bench_stop_flag || bench_now() >= t->c->deadline) return -1;
    m->ok = rc >= 0 && r->ok > 0;
    if (rc < 0) return 0; /* the note says why (e.g. the budget is too small) */
    m->throughput = r->images_per_s;
    m->p95_ms = r->p95_ms;
    m->utilization = r->utilization;
    int k = 0;
    if (r->errors) k += snprintf(m->note + k, sizeof m->note - (size_t)k, "%lld errors; ", (long long)r->errors);
    static const char *const st[3] = { "detect", "landmark", "recognize" };
    for (int s = 0; s < 3 && k < (int)sizeof m->note; s++)
        if (r->batch_limit[s] > 0 && r->batch_limit[s] < cand->max_batch_size)
            k += snprintf(m->note + k, sizeof m->note - (size_t)k, "%s batch lowered to %d; ", st[s],
                          (int)r->batch_limit[s]);
    if (k >= 2 && k < (int)sizeof m->note) m->note[k - 2] = 0;
    return 0;
}

static void print_trials(const struct tune_trial *t, int32_t n, const struct tune_ctx *ctx, int32_t best) {
    printf("| trial | max_batch_size | preferred_batch_size | max_workers | max_concurrent_images | batch limits "
           "det/lm/rec | mean batch det/lm/rec | images/s | p95 ms | utilization | note |\n"
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (int32_t i = 0; i < n; i++) {
        const struct bench_result *r = &ctx->res[i];
        if (!t[i].m.ok) {
            printf("| %d | %d | %d | %d | %d | | | | | | skipped: %s |\n", (int)i + 1, (int)t[i].c.max_batch_size,
                   (int)t[i].c.preferred_batch_size, (int)t[i].c.max_workers, (int)t[i].c.max_concurrent_images,
                   t[i].m.note);
            continue;
        }
        printf("| %d%s | %d | %d | %d | %d | %d/%d/%d | %.1f/%.1f/%.1f | %.2f | %.0f | %.0f%% | %s |\n", (int)i + 1,
               i == best ? " (best)" : "", (int)t[i].c.max_batch_size, (int)t[i].c.preferred_batch_size,
               (int)t[i].c.max_workers, (int)t[i].c.max_concurrent_images, (int)r->batch_limit[0],
               (int)r->batch_limit[1], (int)r->batch_limit[2], r->mean_batch[0], r->mean_batch[1], r->mean_batch[2],
               t[i].m.throughput, t[i].m.p95_ms, t[i].m.utilization * 100, t[i].m.note);
    }
}

/* The recommended configuration: the settings given to tune plus the
 * chosen four, dumped by the settings table itself. */
static int print_config(const struct bench_cli *c, const struct tune_candidate *best) {
    char buf[4][16], *cand[8];
    candidate_args(best, buf, cand);
    char **argv = calloc((size_t)c->nsettings + 10, sizeof(char *));
    if (!argv) return -1;
    int a = 0;
    argv[a++] = "tune";
    for (int32_t i = 0; i < c->nsettings; i++) argv[a++] = c->settings[i];
    for (int i = 0; i < 8; i++) argv[a++] = cand[i];
    struct fr_config cfg;
    fr_config_init(&cfg);
    char err[512];
    int next;
    enum fr_status st = fr_config_load_args(&cfg, a, argv, &next, err, sizeof err);
    free(argv);
    if (st != FR_OK) {
        fprintf(stderr, "facerec tune: %s\n", err);
        fr_config_clear(&cfg);
        return -1;
    }
    fr_config_dump(&cfg, stdout);
    fr_config_clear(&cfg);
    return 0;
}

int cli_cmd_tune(int argc, char **argv) {
    struct bench_cli c;
    bench_cli_defaults(&c);
    c.concurrency = "16";
    c.duration = 5;
    c.serve = true; /* every trial runs on its own server */
    int rc = bench_cli_parse(&c, tune_opts, "tune", argc, argv, tune_usage);
    if (rc != CLI_OK) {
        bench_cli_clear(&c);
        return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    }
    char err[1024];
    struct tune_goal goal;
    char *end;
    long conc = strtol(c.concurrency, &end, 10);
    if (tune_goal_parse(c.goal, &goal, err, sizeof err) != 0 || end == c.concurrency || *end || conc < 1 ||
        conc > 1024) {
        if (end == c.concurrency || *end || conc < 1 || conc > 1024)
            snprintf(err, sizeof err, "--concurrency '%s': expected one number of clients (1..1024)", c.concurrency);
        fprintf(stderr, "facerec tune: %s\n", err);
        bench_cli_clear(&c);
        return CLI_USAGE;
    }
    for (int32_t i = 0; i < c.nsettings; i++)
        for (int k = 0; k < 4; k++) {
            char flag[64];
            snprintf(flag, sizeof flag, "--%s", tuned[k]);
            for (char *p = flag + 2; *p; p++)
                if (*p == '_') *p = '-';
            const char *s = c.settings[i];
            if (!strncmp(s, flag, strlen(flag)) || (!strncmp(s, "--", 2) && !strncmp(s + 2, tuned[k], strlen(tuned[k])))) {
                fprintf(stderr, "facerec tune: %s is what tune chooses; leave it out\n", tuned[k]);
                bench_cli_clear(&c);
                return CLI_USAGE;
            }
        }
    struct bench_images im;
    if (bench_images_load(c.paths, c.npaths, c.models, &im, err, sizeof err) != 0) {
        fprintf(stderr, "facerec tune: %s\n", err);
        bench_cli_clear(&c);
        return CLI_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bench_install_signals();
    /* Start from the defaults of the settings table. */
    struct fr_config cfg;
    fr_config_init(&cfg);
    struct tune_candidate start = { cfg.max_batch_size, cfg.preferred_batch_size, cfg.max_workers,
                                    cfg.max_concurrent_images };
    fr_config_clear(&cfg);
    struct tune_ctx *ctx = calloc(1, sizeof(*ctx));
    struct tune_trial *trials = calloc(TUNE_MAX_TRIALS, sizeof(*trials));
    rc = CLI_SOME_FAILED;
    if (ctx && trials) {
        ctx->c = &c;
        ctx->im = &im;
        ctx->concurrency = (int32_t)conc;
        int32_t n = 0;
        int32_t best = tune_search(&goal, &start, c.trials, measure, ctx, trials, &n);
        char gs[128];
        tune_goal_str(&goal, gs, sizeof gs);
        printf("# facerec tune: goal %s; %d clients, %s per trial, %d images; %d trials%s\n", gs, (int)conc,
               c.requests ? "request count" : "duration", (int)im.n, (int)n,
               bench_stop_flag ? " (interrupted)" : bench_now() >= c.deadline ? " (hard timeout reached)" : "");
        print_trials(trials, n, ctx, best);
        if (best >= 0) {
            const struct tune_trial *b = &trials[best];
            printf("\n# recommended: trial %d, %.2f images/s, p95 %.0f ms, utilization %.0f%%%s\n", (int)best + 1,
                   b->m.throughput, b->m.p95_ms, b->m.utilization * 100,
                   goal.kind == TUNE_P95 && b->m.p95_ms > goal.target           ? " (no trial met the p95 target: the lowest)"
                   : goal.kind == TUNE_UTILIZATION && b->m.utilization * 100 < goal.target ? " (no trial reached the target: the nearest)"
                                                                                  : "");
            if (print_config(&c, &b->c) == 0) rc = CLI_OK;
        } else {
            fprintf(stderr, "facerec tune: no candidate ran%s%s\n", n ? ": " : "", n ? trials[0].m.note : "");
        }
    }
    free(ctx);
    free(trials);
    bench_images_free(&im);
    curl_global_cleanup();
    bench_cli_clear(&c);
    return rc;
}
