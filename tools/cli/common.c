/* Option parsing, file collection, progress and output helpers. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "facerec/config.h"
#include "facerec/gallery.h"

extern char **environ;

#define OPT(field) offsetof(struct cli_opts, field)

const struct cli_option cli_opt_common[] = {
    { "--models", CLI_STR, OPT(pp.models_dir), 0, 0, "model directory (default $FACEREC_MODELS or ./models)" },
    { "--detector", CLI_DETECTOR, OPT(pp.detector), 0, 0, "face detector: ssd (default, accurate) or tiny (fast)" },
    { "--device", CLI_DEVICE, OPT(pp.device), 0, 0, "compute device: auto (default), cpu or cuda" },
    { "--precision", CLI_PRECISION, OPT(pp.precision), 0, 0,
      "arithmetic: fp32 (default, matches face-api), bf16, int8 or auto (CPU; see docs/PERFORMANCE.md)" },
    { "--cpus", CLI_INT, OPT(pp.threads), 0, 1024, "threads to use (default: all cores)" },
    { "--min-confidence", CLI_FLOAT, OPT(pp.min_confidence), 0.01, 0.99, "detector score threshold (default 0.5)" },
    { "--max-faces", CLI_INT, OPT(pp.max_faces), 1, 1000, "at most this many faces per image (default 100)" },
    { "--min-face-size", CLI_INT, OPT(pp.min_face_size), 0, 100000, "ignore faces smaller than this many pixels (default 0)" },
    { "--detect-tiles", CLI_TILES, OPT(pp.tiles), 0, 0,
      "multi-scale detection for small faces: auto (default), off (face-api's output) or NxM tiles" },
    { "--max-image-size", CLI_INT, OPT(pp.max_image_size), 0, FR_IMAGE_MAX_DIMENSION,
      "downscale images so the longer side is at most this (default 2048, 0 = never)" },
    { "--quiet", CLI_FLAG, OPT(quiet), 0, 0, "no progress bar" },
    { NULL, 0, 0, 0, 0, NULL },
};

void cli_default_opts(struct cli_opts *o) {
    memset(o, 0, sizeof(*o));
    o->pp = fr_pipeline_default_params();
    const char *m = getenv("FACEREC_MODELS");
    o->pp.models_dir = m && *m ? m : "models";
    o->pp.tiles.mode = FR_TILES_AUTO; /* the library's default is off */
    o->tolerance = FR_DEFAULT_TOLERANCE;
    o->cluster_threshold = 0.5f;
    o->min_cluster_size = 1;
}

static const struct cli_option *find_opt(const struct cli_cmd *cmd, const char *name) {
    for (const struct cli_option *c = cli_opt_common; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    for (const struct cli_option *const *t = cmd->opts; t && *t; t++)
        for (const struct cli_option *c = *t; c->name; c++)
            if (!strcmp(c->name, name)) return c;
    return NULL;
}

static int set_opt(const struct cli_option *c, const char *v, struct cli_opts *o) {
    char *p = (char *)o + c->offset, *end = NULL;
    switch (c->type) {
    case CLI_FLAG: *(bool *)p = true; return 0;
    case CLI_STR: *(const char **)p = v; return 0;
    case CLI_INT: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || !*v || *end || x < c->min || x > c->max) break;
        *(int32_t *)p = (int32_t)x;
        return 0;
    }
    case CLI_FLOAT: {
        errno = 0;
        double x = strtod(v, &end);
        if (errno || !*v || *end || !(x >= c->min && x <= c->max)) break;
        *(float *)p = (float)x;
        return 0;
    }
    case CLI_DETECTOR:
        if (!strcmp(v, "ssd")) *(enum fr_detector *)p = FR_DETECTOR_SSD;
        else if (!strcmp(v, "tiny")) *(enum fr_detector *)p = FR_DETECTOR_TINY;
        else break;
        return 0;
    case CLI_TILES:
        if (fr_tiles_parse(v, (struct fr_tiles *)p, NULL, 0) != FR_OK) break;
        return 0;
    case CLI_DEVICE:
        if (!strcmp(v, "auto")) *(enum fr_device *)p = FR_DEVICE_AUTO;
        else if (!strcmp(v, "cpu")) *(enum fr_device *)p = FR_DEVICE_CPU;
        else if (!strcmp(v, "cuda")) *(enum fr_device *)p = FR_DEVICE_CUDA;
        else break;
        return 0;
    case CLI_PRECISION:
        if (!fr_precision_parse(v, (enum fr_precision *)p)) break;
        return 0;
    }
    if (c->type == CLI_INT || c->type == CLI_FLOAT)
        fprintf(stderr, "facerec: %s: '%s' is not a number in [%g, %g]\n", c->name, v, c->min, c->max);
    else
        fprintf(stderr, "facerec: %s: invalid value '%s'\n", c->name, v);
    return -1;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_opts *o, char **pos) {
    int npos = 0;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
            pos[npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        char name[64];
        const char *val = NULL, *eq = strchr(a, '=');
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        const struct cli_option *c = find_opt(cmd, name);
        if (!c) {
            fprintf(stderr, "facerec %s: unknown option '%s' (see facerec %s --help)\n", cmd->name, name, cmd->name);
            return -1;
        }
        if (c->type != CLI_FLAG) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else {
                fprintf(stderr, "facerec %s: %s needs a value\n", cmd->name, name);
                return -1;
            }
        }
        if (set_opt(c, val, o) != 0) return -1;
    }
    return npos;
}

static void help_table(const struct cli_option *c, FILE *f) {
    /* One entry per enum cli_arg, by name, so that a new kind cannot index
     * past the end (CLI_TILES is the last). */
    static const char *const kinds[] = {
        [CLI_FLAG] = "",           [CLI_INT] = " N",
        [CLI_FLOAT] = " X",        [CLI_STR] = " VALUE",
        [CLI_DETECTOR] = " ssd|tiny", [CLI_DEVICE] = " auto|cpu|cuda",
        [CLI_PRECISION] = " fp32|fp16|bf16|int8|auto", [CLI_TILES] = " auto|off|NxM",
    };
    _Static_assert(sizeof(kinds) / sizeof(kinds[0]) == CLI_TILES + 1, "a name for every enum cli_arg");
    for (; c->name; c++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s", c->name, kinds[c->type]);
        fprintf(f, "  %-24s %s\n", left, c->help);
    }
}

void cli_help(const struct cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: facerec %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage, cmd->summary);
    for (const struct cli_option *const *t = cmd->opts; t && *t; t++) help_table(*t, f);
    help_table(cli_opt_common, f);
    fprintf(f, "  %-24s %s\n", "--help", "this help");
}

/* ---- files ---- */

static int push(struct cli_files *fl, const char *p) {
    if (fl->n == fl->cap) {
        int32_t cap = fl->cap ? fl->cap * 2 : 64;
        char **np = realloc(fl->paths, sizeof(char *) * (size_t)cap);
        if (!np) return -1;
        fl->paths = np;
        fl->cap = cap;
    }
    fl->paths[fl->n] = strdup(p);
    return fl->paths[fl->n++] ? 0 : -1;
}

static void walk(const char *dir, struct cli_files *fl, int depth) {
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "facerec: %s: cannot read directory\n", dir);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (nm[0] == '.') goto next; /* ., .. and hidden files */
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, nm);
        struct stat st;
        if (stat(path, &st) != 0) goto next;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 64) walk(path, fl, depth + 1);
        } else if (S_ISREG(st.st_mode) && fr_image_sniff_file(path) != FR_FORMAT_UNKNOWN) {
            push(fl, path);
        }
    next:
        free(ents[i]);
    }
    free(ents);
}

int cli_collect(char **args, int n, struct cli_files *fl) {
    int rc = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            fprintf(stderr, "facerec: %s: no such file or directory\n", args[i]);
            rc = CLI_SOME_FAILED;
        } else if (S_ISDIR(st.st_mode)) {
            size_t l = strlen(args[i]);
            char *d = strdup(args[i]);
            while (l > 1 && d[l - 1] == '/') d[--l] = 0;
            walk(d, fl, 0);
            free(d);
        } else {
            push(fl, args[i]); /* explicit files are always tried, so errors are reported */
        }
    }
    return rc;
}

void cli_files_free(struct cli_files *fl) {
    for (int32_t i = 0; i < fl->n; i++) free(fl->paths[i]);
    free(fl->paths);
    memset(fl, 0, sizeof(*fl));
}

/* ---- progress ---- */

void cli_progress_start(struct cli_progress *p, int32_t total, bool quiet) {
    memset(p, 0, sizeof(*p));
    p->total = total;
    p->on = !quiet && total > 3 && isatty(2);
    p->t0 = p->last = fr_time_now();
}

static void draw(struct cli_progress *p) {
    double dt = fr_time_now() - p->t0, rate = dt > 0 ? p->done / dt : 0;
    double eta = rate > 0 ? (p->total - p->done) / rate : 0;
    int width = 24, filled = p->total ? (int)((double)p->done / p->total * width) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %d/%d images, %d faces, %.1f img/s, ETA %.0fs  ", bar, p->done, p->total, p->faces, rate,
            eta);
    fflush(stderr);
}

void cli_progress_step(struct cli_progress *p, int32_t faces) {
    p->done++;
    p->faces += faces;
    double now = fr_time_now();
    if (p->on && (now - p->last > 0.1 || p->done == p->total)) {
        p->last = now;
        draw(p);
    }
}

void cli_progress_end(struct cli_progress *p) {
    if (p->on) {
        draw(p);
        fputc('\n', stderr);
    }
}

bool cli_failed(const struct fr_pipeline_result *r, struct cli_progress *p, int *rc) {
    if (r->status == FR_OK) return false;
    fprintf(stderr, "%sfacerec: %s\n", p->on ? "\n" : "", r->error);
    *rc = CLI_SOME_FAILED;
    cli_progress_step(p, 0);
    return true;
}

struct fr_pipeline *cli_pipeline(const struct cli_opts *o, bool landmarks, bool embeddings) {
    struct fr_pipeline_params pp = o->pp;
    pp.landmarks = landmarks;
    pp.embeddings = embeddings;
    struct fr_pipeline *pl = NULL;
    char err[1024];
    if (fr_pipeline_new(&pp, &pl, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec: %s\n", err);
        return NULL;
    }
    return pl;
}

void cli_print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

int cli_load_config(const char *cmd, const char *about, int argc, char **argv, struct fr_config *cfg) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: facerec %s [--config FILE] [--SETTING VALUE]...\n\n%s\n\n", cmd, about);
            fr_config_print_help(stdout);
            return CLI_HELP_SHOWN;
        }
    fr_config_init(cfg);
    char err[1024];
    int next = argc;
    if (fr_config_load(cfg, argc, argv, environ, &next, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec %s: %s\n", cmd, err);
        fr_config_clear(cfg);
        return CLI_USAGE;
    }
    if (next < argc) {
        fprintf(stderr, "facerec %s: unexpected argument '%s' (see facerec %s --help)\n", cmd, argv[next], cmd);
        fr_config_clear(cfg);
        return CLI_USAGE;
    }
    return CLI_OK;
}

size_t cli_body_write(char *p, size_t size, size_t n, void *body) {
    struct cli_body *b = body;
    size_t add = size * n;
    if (b->max && b->len + add > b->max) return 0;
    char *d = realloc(b->data, b->len + add + 1);
    if (!d) return 0;
    memcpy(d + b->len, p, add);
    b->data = d;
    b->len += add;
    b->data[b->len] = 0;
    return add;
}
