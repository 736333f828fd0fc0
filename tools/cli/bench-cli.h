/* Command-line plumbing shared by facerec bench and facerec tune: one
 * option table per command drives parsing and --help; options that are
 * server settings (facerec serve --help) are collected and passed on to
 * the servers started with --serve. */
#pragma once

#include <cjson/cJSON.h>
#include <stddef.h>

#include "bench.h"
#include "cli.h"

struct bench_cli {
    const char *url, *key, *route, *concurrency, *models, *plot, *compare, *compare_url, *goal;
    bool serve, csv, json, quiet;
    double duration, timeout; /* seconds */
    int32_t requests, warmup, trials;
    double deadline; /* bench_now() + timeout, set by the parser */
    char **paths;    /* image files or directories (--images and positionals) */
    int32_t npaths;
    char **settings; /* server flags to pass on, as given ("--max-batch-size", "32") */
    int32_t nsettings;
};

enum bench_opt_type { BOPT_FLAG, BOPT_STR, BOPT_INT, BOPT_DOUBLE };
struct bench_opt {
    const char *name;
    enum bench_opt_type type;
    size_t offset; /* into struct bench_cli */
    const char *metavar;
    const char *help;
};

void bench_cli_defaults(struct bench_cli *c);
void bench_cli_clear(struct bench_cli *c);
/* CLI_OK, CLI_HELP_SHOWN (usage printed to stdout) or CLI_USAGE (message
 * printed). argv[0] is the command's name. */
int bench_cli_parse(struct bench_cli *c, const struct bench_opt *opts, const char *cmd, int argc, char **argv,
                    void (*usage)(FILE *f));
void bench_opts_help(const struct bench_opt *opts, FILE *f);

/* One level's figures as a JSON object. */
cJSON *bench_result_json(const struct bench_result *r);
/* All levels against one server, started here when c->serve (with the
 * settings of c and then extra; static_mode adds --batching static).
 * 0, 1 when some requests failed, -1 with a message. */
int bench_sweep(const struct bench_cli *c, const struct bench_images *im, const char *url, bool static_mode,
                char *const *extra, int32_t nextra, const int32_t *levels, int32_t nlevels, struct bench_result *out,
                char *err, size_t errlen);
