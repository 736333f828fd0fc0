/* Option parsing shared by facerec bench and facerec tune (bench-cli.h). */
#define _GNU_SOURCE
#include "bench-cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/config.h"

void bench_cli_defaults(struct bench_cli *c) {
    memset(c, 0, sizeof(*c));
    c->url = "http://127.0.0.1:5001";
    c->route = "/v1/embed";
    c->concurrency = "1,2,4,8,16,32";
    c->duration = 10;
    c->warmup = 2;
    c->timeout = 1800;
    c->trials = 12;
    c->goal = "throughput";
    const char *k = getenv("FACEREC_API_KEY");
    c->key = k && *k ? k : NULL;
}

void bench_cli_clear(struct bench_cli *c) {
    free(c->paths);
    free(c->settings);
    c->paths = c->settings = NULL;
    c->npaths = c->nsettings = 0;
}

void bench_opts_help(const struct bench_opt *opts, FILE *f) {
    fprintf(f, "options:\n");
    for (const struct bench_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "  %-24s %s\n", left, o->help);
    }
}

static int set_opt(struct bench_cli *c, const struct bench_opt *o, const char *v, const char *cmd) {
    char *base = (char *)c + o->offset;
    char *end;
    errno = 0;
    switch (o->type) {
    case BOPT_FLAG:
        *(bool *)base = true;
        return 0;
    case BOPT_STR:
        if (!*v) break;
        *(const char **)base = v;
        return 0;
    case BOPT_INT: {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno || x < 1 || x > 100000000) break;
        *(int32_t *)base = (int32_t)x;
        return 0;
    }
    case BOPT_DOUBLE: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !(x > 0) || x > 1e6) break;
        *(double *)base = x;
        return 0;
    }
    }
    fprintf(stderr, "facerec %s: %s '%s': expected %s\n", cmd, o->name, v,
            o->type == BOPT_INT ? "a positive integer" : o->type == BOPT_DOUBLE ? "a positive number" : "a value");
    return -1;
}

int bench_cli_parse(struct bench_cli *c, const struct bench_opt *opts, const char *cmd, int argc, char **argv,
                    void (*usage)(FILE *f)) {
    c->paths = calloc((size_t)argc + 1, sizeof(char *));
    c->settings = calloc((size_t)argc + 1, sizeof(char *));
    if (!c->paths || !c->settings) {
        fprintf(stderr, "facerec %s: out of memory\n", cmd);
        return CLI_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_HELP_SHOWN;
        }
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            if (!strcmp(a, "--")) continue;
            c->paths[c->npaths++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const struct bench_opt *o = opts;
        while (o->name && (strlen(o->name) != len || strncmp(o->name, a, len) != 0)) o++;
        if (o->name) {
            const char *v = eq ? eq + 1 : NULL;
            if (o->type == BOPT_FLAG && v) {
                fprintf(stderr, "facerec %s: %s takes no value\n", cmd, o->name);
                return CLI_USAGE;
            }
            if (o->type != BOPT_FLAG && !v) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "facerec %s: %s needs a value (%s)\n", cmd, o->name, o->metavar);
                    return CLI_USAGE;
                }
                v = argv[++i];
            }
            if (!strcmp(o->name, "--images")) {
                c->paths[c->npaths++] = (char *)v;
                continue;
            }
            if (set_opt(c, o, v ? v : "", cmd) != 0) return CLI_USAGE;
            continue;
        }
        bool neg;
        const struct fr_setting *s = fr_setting_find_flag(a, len, &neg);
        bool config = len == 8 && !strncmp(a, "--config", 8);
        if (!s && !config) {
            fprintf(stderr, "facerec %s: unknown option %.*s (facerec %s --help; server settings: facerec serve --help)\n",
                    cmd, (int)len, a, cmd);
            return CLI_USAGE;
        }
        if (s && !strcmp(s->name, "listen")) {
            fprintf(stderr, "facerec %s: --listen is chosen by bench (a free loopback port)\n", cmd);
            return CLI_USAGE;
        }
        c->settings[c->nsettings++] = argv[i];
        if (!eq && !(s && s->type == FR_SETTING_BOOL)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "facerec %s: %s needs a value\n", cmd, a);
                return CLI_USAGE;
            }
            c->settings[c->nsettings++] = argv[++i];
        }
    }
    if (c->nsettings && !c->serve) {
        fprintf(stderr, "facerec %s: server settings such as %s apply to a server started with --serve\n", cmd,
                c->settings[0]);
        return CLI_USAGE;
    }
    if (!c->serve) {
        char err[512];
        if (bench_check_url(c->url, err, sizeof err) != 0 ||
            (c->compare_url && bench_check_url(c->compare_url, err, sizeof err) != 0)) {
            fprintf(stderr, "facerec %s: %s\n", cmd, err);
            return CLI_USAGE;
        }
    }
    if (!c->models) {
        const char *m = getenv("FACEREC_MODELS");
        if (m && *m) c->models = m;
    }
    c->deadline = bench_now() + c->timeout;
    return CLI_OK;
}
