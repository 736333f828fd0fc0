/* facerec bench: a concurrency sweep against `facerec serve` (one it
 * starts, or a running one on this machine), printed as a table, CSV or
 * JSON and drawn as a PNG; --compare static runs the same load with the
 * old system's batching and prints the before/after table. */
#define _GNU_SOURCE
#include "bench-cli.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/config.h"

#define OPT(f) offsetof(struct bench_cli, f)

static const struct bench_opt bench_opts[] = {
    { "--url", BOPT_STR, OPT(url), "URL", "server to drive, loopback only (default http://127.0.0.1:5001)" },
    { "--serve", BOPT_FLAG, OPT(serve), NULL,
      "start `facerec serve` on a free port for the run (with any --SETTING VALUE given) and stop it after" },
    { "--key", BOPT_STR, OPT(key), "KEY", "API key sent as X-API-Key (default $FACEREC_API_KEY)" },
    { "--route", BOPT_STR, OPT(route), "PATH", "endpoint the images are posted to (default /v1/embed)" },
    { "--concurrency", BOPT_STR, OPT(concurrency), "N,N,...", "client counts of the sweep (default 1,2,4,8,16,32)" },
    { "--duration", BOPT_DOUBLE, OPT(duration), "S", "seconds per level (default 10)" },
    { "--requests", BOPT_INT, OPT(requests), "N", "requests per level instead of a duration" },
    { "--warmup", BOPT_INT, OPT(warmup), "N", "uncounted requests per client before each level (default 2)" },
    { "--timeout", BOPT_DOUBLE, OPT(timeout), "S", "hard limit for the whole run, servers' start-up included (default 1800)" },
    { "--images", BOPT_STR, 0 /* collected into paths */, "PATH",
      "image file or directory (default: the bundled test photos); more paths may follow the options" },
    { "--models", BOPT_STR, OPT(models), "DIR", "model directory for --serve (default models, or $FACEREC_MODELS)" },
    { "--csv", BOPT_FLAG, OPT(csv), NULL, "print the levels as CSV" },
    { "--json", BOPT_FLAG, OPT(json), NULL, "print one JSON document" },
    { "--plot", BOPT_STR, OPT(plot), "FILE.png", "draw throughput and p95 latency against concurrency" },
    { "--compare", BOPT_STR, OPT(compare), "static",
      "run the same load with the old system's static batching and print the before/after table" },
    { "--compare-url", BOPT_STR, OPT(compare_url), "URL",
      "with --url and --compare: a second server, started with --batching static" },
    { NULL, 0, 0, NULL, NULL },
};

static void bench_usage(FILE *f) {
    fprintf(f, "usage: facerec bench [--serve | --url URL] [options] [--SETTING VALUE]... [IMAGE_PATH...]\n\n"
               "Drive facerec serve with closed-loop clients (one image a request, no think time) at each\n"
               "concurrency level and report images/s, faces/s, latency percentiles, the server's mean batch\n"
               "sizes, device utilization, memory and errors. Loopback servers only; always ends by itself.\n\n");
    bench_opts_help(bench_opts, f);
    fprintf(f, "\nWith --serve, server settings (facerec serve --help) are passed on, e.g. --max-batch-size 32.\n"
               "Exit status: 0 when every request succeeded, 1 on errors, 2 on usage errors.\n");
}

/* "1,2,4" into levels; -1 on a bad list. */
static int parse_levels(const char *s, int32_t *lv) {
    int32_t n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || n == BENCH_MAX_LEVELS) return -1;
        lv[n++] = (int32_t)v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n ? n : -1;
}

static double mib(double b) { return b < 0 ? -1 : b / 1048576.0; }

static void errors_text(const struct bench_result *r, char *buf, size_t len) {
    int k = snprintf(buf, len, "%lld", (long long)r->errors);
    for (int32_t i = 0; i < r->ncodes && k > 0 && (size_t)k < len; i++)
        k += snprintf(buf + k, len - (size_t)k, "%s%d:%lld", i ? "," : " (", (int)r->codes[i].code,
                      (long long)r->codes[i].n);
    if (r->ncodes && k > 0 && (size_t)k < len) snprintf(buf + k, len - (size_t)k, ")");
}

static void print_table(FILE *f, const char *title, const struct bench_result *r, int32_t n) {
    fprintf(f, "# %s\n", title);
    fprintf(f, "%7s %8s %8s %8s %8s %8s %8s %8s %8s %17s %5s %8s %8s  %s\n", "clients", "requests", "img/s",
            "faces/s", "mean ms", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "batch det/lm/rec", "util", "dev MiB",
            "host MiB", "errors");
    for (int32_t i = 0; i < n; i++) {
        const struct bench_result *x = &r[i];
        char batch[32], err[96];
        snprintf(batch, sizeof batch, "%.1f/%.1f/%.1f", x->mean_batch[0], x->mean_batch[1], x->mean_batch[2]);
        errors_text(x, err, sizeof err);
        fprintf(f, "%7d %8lld %8.2f %8.2f %8.1f %8.1f %8.1f %8.1f %8.1f %17s %4.0f%% %8.0f %8.0f  %s%s\n",
                (int)x->concurrency, (long long)x->requests, x->images_per_s, x->faces_per_s, x->mean_ms, x->p50_ms,
                x->p90_ms, x->p95_ms, x->p99_ms, batch, x->utilization * 100, mib(x->device_memory_peak),
                mib(x->host_memory_peak), err, x->interrupted ? " (cut short)" : "");
    }
}

static void print_csv(FILE *f, const char *mode, const struct bench_result *r, int32_t n, bool header) {
    if (header)
        fprintf(f, "batching,clients,requests,ok,errors,elapsed_s,requests_per_s,images_per_s,faces_per_s,mean_ms,"
                   "p50_ms,p90_ms,p95_ms,p99_ms,batch_detect,batch_landmark,batch_recognize,utilization,"
                   "device_memory_peak,host_memory_peak\n");
    for (int32_t i = 0; i < n; i++) {
        const struct bench_result *x = &r[i];
        fprintf(f, "%s,%d,%lld,%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.3f,%.0f,%.0f\n",
                mode, (int)x->concurrency, (long long)x->requests, (long long)x->ok, (long long)x->errors,
                x->elapsed_s, x->requests_per_s, x->images_per_s, x->faces_per_s, x->mean_ms, x->p50_ms, x->p90_ms,
                x->p95_ms, x->p99_ms, x->mean_batch[0], x->mean_batch[1], x->mean_batch[2], x->utilization,
                x->device_memory_peak, x->host_memory_peak);
    }
}

cJSON *bench_result_json(const struct bench_result *x) {
    static const char *const st[3] = { "detect", "landmark", "recognize" };
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "concurrency", x->concurrency);
    cJSON_AddNumberToObject(o, "requests", (double)x->requests);
    cJSON_AddNumberToObject(o, "ok", (double)x->ok);
    cJSON_AddNumberToObject(o, "errors", (double)x->errors);
    cJSON *e = cJSON_AddObjectToObject(o, "errors_by_status");
    for (int32_t i = 0; i < x->ncodes; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", (int)x->codes[i].code);
        cJSON_AddNumberToObject(e, k, (double)x->codes[i].n);
    }
    cJSON_AddNumberToObject(o, "elapsed_s", x->elapsed_s);
    cJSON_AddNumberToObject(o, "requests_per_s", x->requests_per_s);
    cJSON_AddNumberToObject(o, "images_per_s", x->images_per_s);
    cJSON_AddNumberToObject(o, "faces_per_s", x->faces_per_s);
    cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
    cJSON_AddNumberToObject(l, "mean", x->mean_ms);
    cJSON_AddNumberToObject(l, "p50", x->p50_ms);
    cJSON_AddNumberToObject(l, "p90", x->p90_ms);
    cJSON_AddNumberToObject(l, "p95", x->p95_ms);
    cJSON_AddNumberToObject(l, "p99", x->p99_ms);
    cJSON *b = cJSON_AddObjectToObject(o, "mean_batch");
    cJSON *bl = cJSON_AddObjectToObject(o, "batch_limit");
    for (int k = 0; k < 3; k++) {
        cJSON_AddNumberToObject(b, st[k], x->mean_batch[k]);
        cJSON_AddNumberToObject(bl, st[k], x->batch_limit[k]);
    }
    cJSON_AddNumberToObject(o, "utilization", x->utilization);
    cJSON_AddNumberToObject(o, "device_memory_peak", x->device_memory_peak);
    cJSON_AddNumberToObject(o, "device_memory_limit", x->device_memory_limit);
    cJSON_AddNumberToObject(o, "host_memory_peak", x->host_memory_peak);
    cJSON_AddBoolToObject(o, "interrupted", x->interrupted);
    return o;
}

static cJSON *sweep_json(const struct bench_cli *c, const char *url, const char *mode, const struct bench_result *r,
                         int32_t n, int32_t nimages) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", url);
    cJSON_AddStringToObject(o, "route", c->route);
    cJSON_AddStringToObject(o, "batching", mode);
    cJSON_AddNumberToObject(o, "images", nimages);
    if (n > 0) {
        cJSON_AddNumberToObject(o, "max_batch_size", r[0].max_batch_size);
        cJSON_AddNumberToObject(o, "preferred_batch_size", r[0].preferred_batch_size);
        cJSON_AddNumberToObject(o, "max_workers", r[0].max_workers);
        cJSON_AddNumberToObject(o, "max_concurrent_images", r[0].max_concurrent_images);
    }
    cJSON *lv = cJSON_AddArrayToObject(o, "levels");
    for (int32_t i = 0; i < n; i++) cJSON_AddItemToArray(lv, bench_result_json(&r[i]));
    return o;
}

/* The level with the most images per second. */
static const struct bench_result *best(const struct bench_result *r, int32_t n) {
    const struct bench_result *b = &r[0];
    for (int32_t i = 1; i < n; i++)
        if (r[i].images_per_s > b->images_per_s) b = &r[i];
    return b;
}

/* The before/after table of the system we replace, with our numbers:
 * each side at its best level, then every level's throughput. */
static void print_compare(FILE *f, const struct bench_result *d, const struct bench_result *s, int32_t n) {
    const struct bench_result *bd = best(d, n), *bs = best(s, n);
    double x = bs->images_per_s > 0 ? bd->images_per_s / bs->images_per_s : 0;
    fprintf(f, "\n# before (static batching, the old system's) and after (facerec's dynamic batching), each at its "
               "best level\n");
    fprintf(f, "| | before: static | after: dynamic | improvement |\n| --- | ---: | ---: | ---: |\n");
    fprintf(f, "| batch size (settings: preferred / max) | %d / %d | %d / %d | |\n", (int)bs->preferred_batch_size,
            (int)bs->max_batch_size, (int)bd->preferred_batch_size, (int)bd->max_batch_size);
    fprintf(f, "| batch size (mean detect / landmark / recognize) | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | |\n",
            bs->mean_batch[0], bs->mean_batch[1], bs->mean_batch[2], bd->mean_batch[0], bd->mean_batch[1],
            bd->mean_batch[2]);
    fprintf(f, "| workers | %d | %d | |\n", (int)bs->max_workers, (int)bd->max_workers);
    fprintf(f, "| clients at the best level | %d | %d | |\n", (int)bs->concurrency, (int)bd->concurrency);
    fprintf(f, "| device memory (peak / limit, MiB) | %.0f / %.0f | %.0f / %.0f | |\n", mib(bs->device_memory_peak),
            mib(bs->device_memory_limit), mib(bd->device_memory_peak), mib(bd->device_memory_limit));
    fprintf(f, "| host memory (peak, MiB) | %.0f | %.0f | |\n", mib(bs->host_memory_peak), mib(bd->host_memory_peak));
    fprintf(f, "| throughput (images/s) | %.2f | %.2f | %.2fx |\n", bs->images_per_s, bd->images_per_s, x);
    fprintf(f, "| throughput (faces/s) | %.2f | %.2f | %.2fx |\n", bs->faces_per_s, bd->faces_per_s,
            bs->faces_per_s > 0 ? bd->faces_per_s / bs->faces_per_s : 0);
    fprintf(f, "| device utilization | %.0f%% | %.0f%% | %.2fx |\n", bs->utilization * 100, bd->utilization * 100,
            bs->utilization > 0 ? bd->utilization / bs->utilization : 0);
    fprintf(f, "| p95 latency (ms) | %.0f | %.0f | %.2fx |\n", bs->p95_ms, bd->p95_ms,
            bd->p95_ms > 0 ? bs->p95_ms / bd->p95_ms : 0);
    fprintf(f, "\n# per level\n| clients | static img/s | dynamic img/s | improvement | static p95 ms | dynamic p95 ms "
               "|\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int32_t i = 0; i < n; i++)
        fprintf(f, "| %d | %.2f | %.2f | %.2fx | %.0f | %.0f |\n", (int)d[i].concurrency, s[i].images_per_s,
                d[i].images_per_s, s[i].images_per_s > 0 ? d[i].images_per_s / s[i].images_per_s : 0, s[i].p95_ms,
                d[i].p95_ms);
}

/* Runs every level against one server (started here with --serve).
 * Returns 0, 1 when requests failed, or -1 with a message. */
int bench_sweep(const struct bench_cli *c, const struct bench_images *im, const char *url, bool static_mode,
                char *const *extra, int32_t nextra, const int32_t *levels, int32_t nlevels, struct bench_result *out,
                char *err, size_t errlen) {
    struct bench_server sv = { .pid = -1 };
    struct bench_params p = bench_default_params();
    p.route = c->route;
    p.duration_s = c->duration;
    p.requests = c->requests;
    p.warmup = c->warmup;
    p.deadline = c->deadline;
    p.url = url;
    p.key = c->key;
    if (c->serve) {
        char **argv = calloc((size_t)c->nsettings + (size_t)nextra + 4, sizeof(char *));
        if (!argv) return snprintf(err, errlen, "out of memory"), -1;
        int32_t a = 0;
        for (int32_t i = 0; i < c->nsettings; i++) argv[a++] = c->settings[i];
        for (int32_t i = 0; i < nextra; i++) argv[a++] = extra[i];
        if (static_mode) {
            argv[a++] = "--batching";
            argv[a++] = "static";
        }
        if (!c->quiet) fprintf(stderr, "facerec bench: starting facerec serve (%s batching)\n", static_mode ? "static" : "dynamic");
        int rc = bench_server_start(&sv, c->models, argv, a, c->deadline, err, errlen);
        free(argv);
        if (rc != 0) return -1;
        p.url = sv.url;
        p.key = sv.key;
    }
    int rc = bench_probe(&p, im, err, errlen);
    for (int32_t i = 0; rc == 0 && i < nlevels; i++) {
        if (bench_stop_flag || bench_now() >= c->deadline) {
            snprintf(err, errlen, "%s before level %d", bench_stop_flag ? "interrupted" : "hard timeout (--timeout) reached",
                     (int)levels[i]);
            rc = -1;
            break;
        }
        if (!c->quiet) fprintf(stderr, "facerec bench: %d clients ...\n", (int)levels[i]);
        if (bench_run_level(&p, im, levels[i], &out[i], err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (!c->quiet)
            fprintf(stderr, "facerec bench: %d clients: %.2f images/s, p95 %.0f ms, %lld errors\n", (int)levels[i],
                    out[i].images_per_s, out[i].p95_ms, (long long)out[i].errors);
        if (static_mode && strcmp(out[i].batching, "static") != 0) {
            snprintf(err, errlen, "the server at %s runs batching = %s: start it with --batching static", p.url,
                     out[i].batching);
            rc = -1;
        }
        if (out[i].interrupted) {
            snprintf(err, errlen, "%s during level %d", bench_stop_flag ? "interrupted" : "hard timeout (--timeout) reached",
                     (int)levels[i]);
            rc = -1;
        }
    }
    bench_server_stop(&sv);
    if (rc == 0)
        for (int32_t i = 0; i < nlevels; i++)
            if (out[i].errors) rc = 1;
    return rc;
}

int cli_cmd_bench(int argc, char **argv) {
    struct bench_cli c;
    bench_cli_defaults(&c);
    int rc = bench_cli_parse(&c, bench_opts, "bench", argc, argv, bench_usage);
    if (rc != CLI_OK) {
        bench_cli_clear(&c);
        return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    }
    int32_t levels[BENCH_MAX_LEVELS];
    int32_t nlevels = parse_levels(c.concurrency, levels);
    char err[1024] = "";
    if (nlevels < 0) {
        fprintf(stderr, "facerec bench: --concurrency '%s': expected a list like 1,2,4,8 (each 1..1024, at most %d)\n",
                c.concurrency, BENCH_MAX_LEVELS);
        bench_cli_clear(&c);
        return CLI_USAGE;
    }
    bool compare = c.compare != NULL;
    if (compare && strcmp(c.compare, "static") != 0) {
        fprintf(stderr, "facerec bench: --compare '%s': only 'static' is supported\n", c.compare);
        bench_cli_clear(&c);
        return CLI_USAGE;
    }
    if (compare && !c.serve && !c.compare_url) {
        fprintf(stderr, "facerec bench: --compare static needs --serve (two servers are started in turn) or a second "
                        "server, started with --batching static, given with --compare-url URL\n");
        bench_cli_clear(&c);
        return CLI_USAGE;
    }
    struct bench_images im;
    if (bench_images_load(c.paths, c.npaths, c.models, &im, err, sizeof err) != 0) {
        fprintf(stderr, "facerec bench: %s\n", err);
        bench_cli_clear(&c);
        return CLI_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bench_install_signals();
    struct bench_result *dyn = calloc((size_t)nlevels * 2, sizeof(*dyn));
    struct bench_result *sta = dyn ? dyn + nlevels : NULL;
    if (!dyn) {
        snprintf(err, sizeof err, "out of memory");
        rc = -1;
    } else {
        rc = bench_sweep(&c, &im, c.url, false, NULL, 0, levels, nlevels, dyn, err, sizeof err);
        if (rc >= 0 && compare) {
            char err2[1024] = "";
            int rc2 = bench_sweep(&c, &im, c.compare_url, true, NULL, 0, levels, nlevels, sta, err2, sizeof err2);
            if (rc2 < 0) snprintf(err, sizeof err, "%s", err2);
            if (rc2 < 0 || rc2 > rc) rc = rc2;
        }
    }
    const char *url = c.serve ? "facerec serve (started by bench)" : c.url;
    if (rc >= 0) {
        if (c.json) {
            cJSON *o = sweep_json(&c, url, "dynamic", dyn, nlevels, im.n);
            if (compare)
                cJSON_AddItemToObject(o, "static", sweep_json(&c, c.serve ? url : c.compare_url, "static", sta, nlevels, im.n));
            char *t = cJSON_Print(o);
            if (t) printf("%s\n", t);
            cJSON_free(t);
            cJSON_Delete(o);
        } else if (c.csv) {
            print_csv(stdout, "dynamic", dyn, nlevels, true);
            if (compare) print_csv(stdout, "static", sta, nlevels, false);
        } else {
            char title[512];
            snprintf(title, sizeof title, "facerec bench: %s%s, %d images, %s per level, batching %s", url, c.route,
                     (int)im.n, c.requests ? "request count" : "duration", "dynamic");
            print_table(stdout, title, dyn, nlevels);
            if (compare) {
                snprintf(title, sizeof title, "the same load with static batching (the old system's)");
                printf("\n");
                print_table(stdout, title, sta, nlevels);
                print_compare(stdout, dyn, sta, nlevels);
            }
        }
        if (c.plot && bench_plot(c.plot, dyn, nlevels, "dynamic batching", compare ? sta : NULL, nlevels,
                                 "static batching", err, sizeof err) != 0) {
            fprintf(stderr, "facerec bench: --plot: %s\n", err);
            rc = 1;
        }
    } else {
        fprintf(stderr, "facerec bench: %s\n", err);
    }
    free(dyn);
    bench_images_free(&im);
    curl_global_cleanup();
    bench_cli_clear(&c);
    return rc < 0 ? CLI_SOME_FAILED : rc;
}
