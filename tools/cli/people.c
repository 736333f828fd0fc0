/* facerec people / index / search: the gallery verbs of the HTTP API, run
 * directly on the data directory (the same SQLite file a server may have
 * open: SQLite's locking and the gallery's version checks keep both right).
 *
 * Arguments: the command's own flags (--user, --all, --k, --min-faces,
 * --max-distance, --json, --quiet) anywhere; every other --flag is a
 * server setting (--data DIR, --models DIR, --detector, --config FILE...)
 * handed to the settings loader that `facerec serve` uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "facerec/config.h"
#include "facerec/gallery.h"

struct gargs {
    const char *user;
    bool all, json, quiet;
    int32_t k, limit; /* 0: not given (k: the recognize_k setting) */
    struct fr_gallery_cluster_params cp; /* 0: not given, the cluster_* settings */
    int npos;
    char **pos;
    struct fr_config cfg;
};

static bool parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || errno || !*v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "facerec: %s: '%s' is not a number in [%g, %g]\n", flag, v ? v : "", lo, hi);
        return false;
    }
    *out = x;
    return true;
}

/* Splits argv (argv[0] is the command) into our flags, positionals and the
 * settings, which go to cli_load_config. Returns CLI_OK, CLI_USAGE or
 * CLI_HELP_SHOWN. */
static int parse_args(const char *cmd, const char *usage, int argc, char **argv, struct gargs *a) {
    memset(a, 0, sizeof(*a));
    a->pos = calloc((size_t)argc + 1, sizeof(char *));
    char **set = calloc((size_t)argc + 1, sizeof(char *));
    if (!a->pos || !set) {
        free(set);
        return CLI_USAGE;
    }
    int nset = 0;
    set[nset++] = argv[0];
    bool only_pos = false;
    int rc = CLI_OK;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        char *s = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (only_pos || s[0] != '-' || !s[1]) a->pos[a->npos++] = s;
        else if (!strcmp(s, "--")) only_pos = true;
        else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            printf("usage: facerec %s %s\n\nServer settings (--data DIR, --models DIR, --detector ...) are read as by "
                   "`facerec serve`;\nsee facerec config --help.\n",
                   cmd, usage);
            rc = CLI_HELP_SHOWN;
        } else if (!strcmp(s, "--user")) {
            if (!next) rc = CLI_USAGE;
            else a->user = argv[++i];
        } else if (!strcmp(s, "--all")) a->all = true;
        else if (!strcmp(s, "--json")) a->json = true;
        else if (!strcmp(s, "--quiet")) a->quiet = true;
        else if (!strcmp(s, "--k")) {
            if (!parse_num(s, next, 1, FR_GALLERY_MAX_K, &x)) rc = CLI_USAGE;
            else a->k = (int32_t)x, i++;
        } else if (!strcmp(s, "--limit")) {
            if (!parse_num(s, next, 1, 1000, &x)) rc = CLI_USAGE;
            else a->limit = (int32_t)x, i++;
        } else if (!strcmp(s, "--min-faces")) {
            if (!parse_num(s, next, 1, 63, &x)) rc = CLI_USAGE;
            else a->cp.min_faces = (int32_t)x, i++;
        } else if (!strcmp(s, "--max-distance")) {
            if (!parse_num(s, next, 0.01, 2.0, &x)) rc = CLI_USAGE;
            else a->cp.max_distance = (float)x, i++;
        } else {
            /* A setting: it takes the next word as its value unless it is
             * a boolean, a --no-X or has its value after '='. */
            set[nset++] = s;
            bool neg;
            const struct fr_setting *st = fr_setting_find_flag(s, strcspn(s, "="), &neg);
            bool takes = !strchr(s, '=') && !neg && strncmp(s, "--no-", 5) && (!st || st->type != FR_SETTING_BOOL);
            if (takes && next) set[nset++] = argv[++i];
        }
    }
    if (rc == CLI_USAGE) fprintf(stderr, "facerec %s: bad arguments (see facerec %s --help)\n", cmd, cmd);
    if (rc == CLI_OK) {
        rc = cli_load_config(cmd, usage, nset, set, &a->cfg);
        if (rc == CLI_HELP_SHOWN) rc = CLI_USAGE;
        /* The command's own flags win over the settings. */
        if (rc == CLI_OK && !a->k) a->k = a->cfg.recognize_k;
        if (rc == CLI_OK && !a->cp.min_faces) a->cp.min_faces = a->cfg.cluster_min_faces;
        if (rc == CLI_OK && !(a->cp.max_distance > 0.0f)) a->cp.max_distance = a->cfg.cluster_max_distance;
    } else {
        fr_config_init(&a->cfg);
    }
    free(set);
    return rc;
}

static void args_free(struct gargs *a) {
    free(a->pos);
    fr_config_clear(&a->cfg);
}

static struct fr_gallery *open_gallery(const struct gargs *a, int64_t *user) {
    struct fr_gallery_params gp = fr_config_gallery_params(&a->cfg);
    struct fr_gallery *g = NULL;
    char err[512];
    if (fr_gallery_new(&gp, &g, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec: %s\n", err);
        return NULL;
    }
    struct fr_store *st = fr_gallery_store(g);
    struct fr_store_user u;
    if (a->user) {
        if (fr_store_user_get(st, a->user, &u) != FR_OK) {
            fprintf(stderr, "facerec: no user '%s' (facerec user add NAME creates one)\n", a->user);
            fr_gallery_free(g);
            return NULL;
        }
    } else {
        /* Without --user: the only user there is. */
        struct fr_store_user *all = NULL;
        int32_t n = 0;
        fr_store_user_list(st, &all, &n);
        if (n == 1) u = all[0];
        fr_free(all);
        if (n != 1) {
            fprintf(stderr, "facerec: %s; choose one with --user NAME\n",
                    n == 0 ? "no users yet (facerec user add NAME creates one)" : "several users");
            fr_gallery_free(g);
            return NULL;
        }
    }
    *user = u.id;
    return g;
}

static struct fr_pipeline *open_pipeline(const struct fr_config *cfg) {
    struct cli_opts o;
    cli_default_opts(&o);
    struct fr_sched_params sp = fr_config_sched_params(cfg);
    /* The detection settings the server would use. */
    o.pp.models_dir = sp.models_dir;
    o.pp.device = sp.device;
    o.pp.precision = sp.precision;
    o.pp.threads = sp.threads;
    o.pp.detector = sp.detector;
    o.pp.min_confidence = sp.min_confidence;
    o.pp.max_faces = sp.max_faces;
    o.pp.min_face_size = sp.min_face_size;
    o.pp.max_image_size = sp.decode.max_image_size;
    o.pp.tiles = sp.tiles;
    return cli_pipeline(&o, true, true);
}

static bool parse_id(const char *s, int64_t *id) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v <= 0) {
        fprintf(stderr, "facerec: '%s' is not an id\n", s);
        return false;
    }
    *id = v;
    return true;
}

static int report(enum fr_status st, const char *what, int64_t id) {
    if (st == FR_OK) return CLI_OK;
    if (st == FR_ERR_NOT_FOUND) fprintf(stderr, "facerec: no %s %lld\n", what, (long long)id);
    else if (st == FR_ERR_INVALID) fprintf(stderr, "facerec: invalid %s (names: 1 to %d bytes of UTF-8)\n", what,
                                           FR_STORE_NAME_MAX);
    else fprintf(stderr, "facerec: %s\n", fr_status_str(st));
    return CLI_SOME_FAILED;
}

/* ---- reading images into the gallery ------------------------------------------------ */

/* SHA-256 of a file's bytes (the image's content hash). */
static bool file_hash(const char *path, uint8_t out[FR_STORE_HASH_LEN], int64_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, cap);
            if (!b) {
                ok = false;
                break;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (ok) fr_store_sha256(buf, n, out);
    *bytes = (int64_t)n;
    free(buf);
    return ok;
}

struct add_ctx {
    struct fr_gallery *g;
    int64_t user, person; /* person 0: index */
    bool all;
    const uint8_t (*hash)[FR_STORE_HASH_LEN]; /* per input, precomputed (index) or NULL */
    int rc;
    int32_t faces, images, skipped, no_face;
    struct cli_progress prog;
};

static void on_add(const struct fr_pipeline_result *r, void *user) {
    struct add_ctx *c = user;
    if (cli_failed(r, &c->prog, &c->rc)) return;
    const struct fr_faces *fs = r->faces;
    struct fr_store_image img = { .width = fs->width, .height = fs->height };
    const char *base = strrchr(r->name, '/');
    snprintf(img.name, sizeof(img.name), "%s", base ? base + 1 : r->name);
    if (c->hash) memcpy(img.sha256, c->hash[r->index], FR_STORE_HASH_LEN);
    else if (!file_hash(r->name, img.sha256, &img.bytes)) {
        fprintf(stderr, "%sfacerec: %s: cannot read\n", c->prog.on ? "\n" : "", r->name);
        c->rc = CLI_SOME_FAILED;
        cli_progress_step(&c->prog, 0);
        return;
    }
    int32_t largest = fr_faces_largest(fs), n = 0;
    struct fr_store_new_face *nf = calloc((size_t)fs->count + 1, sizeof(*nf));
    int64_t *ids = calloc((size_t)fs->count + 1, sizeof(*ids));
    void **thumbs = calloc((size_t)fs->count + 1, sizeof(*thumbs));
    for (int32_t i = 0; nf && ids && thumbs && i < fs->count; i++) {
        const struct fr_face *f = &fs->faces[i];
        if (c->all || !c->person ? !f->has_descriptor : i != largest) continue;
        nf[n].face = f;
        if (fr_gallery_thumbnail(r->image, fs->width, fs->height, f->box, &thumbs[n], &nf[n].thumbnail_len) == FR_OK)
            nf[n].thumbnail = thumbs[n];
        n++;
    }
    enum fr_status st = nf && ids && thumbs ? FR_OK : FR_ERR_NOMEM;
    bool skipped = false;
    if (st == FR_OK && c->person) {
        if (n == 0) {
            fprintf(stderr, "%sfacerec: %s: no face found\n", c->prog.on ? "\n" : "", r->name);
            c->no_face++;
            c->rc = CLI_SOME_FAILED;
        } else {
            st = fr_gallery_enroll(c->g, c->user, c->person, &img, nf, n, ids);
        }
    } else if (st == FR_OK) {
        int64_t image_id;
        st = fr_gallery_index(c->g, c->user, &img, nf, n, ids, &image_id, &skipped);
    }
    if (st != FR_OK) {
        fprintf(stderr, "%sfacerec: %s: %s\n", c->prog.on ? "\n" : "", r->name, fr_status_str(st));
        c->rc = CLI_SOME_FAILED;
    } else if (skipped) {
        c->skipped++;
    } else if (n > 0 || !c->person) {
        c->images++;
        c->faces += n;
    }
    for (int32_t i = 0; thumbs && i < n; i++) fr_free(thumbs[i]);
    free(thumbs);
    free(ids);
    free(nf);
    cli_progress_step(&c->prog, st == FR_OK && !skipped ? n : 0);
}

/* ---- facerec people ------------------------------------------------------------------ */

static int people_list(struct fr_gallery *g, int64_t user, bool json) {
    struct fr_store *st = fr_gallery_store(g);
    int64_t after = 0;
    if (json) printf("{\"people\":[");
    else printf("%-8s %-7s %s\n", "ID", "FACES", "NAME");
    bool first = true;
    for (;;) {
        struct fr_store_person *p = NULL;
        int32_t n = 0;
        enum fr_status s = fr_store_person_list(st, user, after, 1000, &p, &n);
        if (s != FR_OK) return report(s, "person", 0);
        for (int32_t i = 0; i < n; i++) {
            if (json) {
                printf("%s{\"id\":%lld,\"name\":", first ? "" : ",", (long long)p[i].id);
                cli_print_json_string(p[i].name);
                printf(",\"faces\":%lld}", (long long)p[i].n_faces);
            } else {
                printf("%-8lld %-7lld %s\n", (long long)p[i].id, (long long)p[i].n_faces, p[i].name);
            }
            first = false;
        }
        if (n > 0) after = p[n - 1].id;
        fr_free(p);
        if (n < 1000) break;
    }
    if (json) printf("]}\n");
    return CLI_OK;
}

static int people_faces(struct fr_gallery *g, int64_t user, int64_t person) {
    struct fr_store *st = fr_gallery_store(g);
    struct fr_store_person p;
    enum fr_status s = fr_store_person_get(st, user, person, &p);
    if (s != FR_OK) return report(s, "person", person);
    printf("%-8s %-8s %-32s %s\n", "FACE", "IMAGE", "BOX", "SCORE");
    int64_t after = 0;
    for (;;) {
        struct fr_store_face *f = NULL;
        int32_t n = 0;
        if ((s = fr_store_face_list(st, user, person, after, 1000, &f, &n)) != FR_OK) return report(s, "face", 0);
        for (int32_t i = 0; i < n; i++) {
            char box[64];
            snprintf(box, sizeof(box), "%.0f,%.0f,%.0f,%.0f", f[i].box[0], f[i].box[1], f[i].box[2], f[i].box[3]);
            printf("%-8lld %-8lld %-32s %.4f\n", (long long)f[i].id, (long long)f[i].image, box, f[i].score);
        }
        if (n > 0) after = f[n - 1].id;
        fr_free(f);
        if (n < 1000) break;
    }
    return CLI_OK;
}

static int run_files(struct gargs *a, struct fr_gallery *g, struct add_ctx *c, char **paths, int32_t n) {
    struct fr_pipeline *pl = open_pipeline(&a->cfg);
    if (!pl) return CLI_SOME_FAILED;
    cli_progress_start(&c->prog, n, a->quiet);
    enum fr_status st = fr_pipeline_run(pl, (const char *const *)paths, n, on_add, c);
    cli_progress_end(&c->prog);
    fr_pipeline_free(pl);
    if (st != FR_OK) {
        fprintf(stderr, "facerec: %s\n", fr_status_str(st));
        c->rc = CLI_SOME_FAILED;
    }
    return c->rc;
}

static const char people_usage[] =
    "list | add NAME | rename ID NAME | delete ID | merge INTO FROM | enroll ID IMAGE... [--all] | faces ID |\n"
    "       cluster [--min-faces N] [--max-distance D]   [--user NAME] [--json] [--data DIR]";

int cli_cmd_people(int argc, char **argv) {
    struct gargs a;
    int rc = parse_args("people", people_usage, argc, argv, &a);
    if (rc != CLI_OK) {
        args_free(&a);
        return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    }
    fr_log_set_level(a.cfg.log_level);
    const char *verb = a.npos > 0 ? a.pos[0] : "";
    char **p = a.pos + 1;
    int np = a.npos - 1;
    struct {
        const char *verb;
        int min, max;
    } const shapes[] = { { "list", 0, 0 },  { "add", 1, 1 },   { "rename", 2, 2 },  { "delete", 1, 1 },
                         { "merge", 2, 2 }, { "enroll", 2, -1 }, { "faces", 1, 1 }, { "cluster", 0, 0 } };
    int which = -1;
    for (int i = 0; i < (int)(sizeof(shapes) / sizeof(shapes[0])); i++)
        if (!strcmp(verb, shapes[i].verb)) which = i;
    if (which < 0 || np < shapes[which].min || (shapes[which].max >= 0 && np > shapes[which].max)) {
        fprintf(stderr, "usage: facerec people %s\n", people_usage);
        args_free(&a);
        return CLI_USAGE;
    }
    int64_t user, id = 0, id2 = 0;
    struct fr_gallery *g = open_gallery(&a, &user);
    if (!g) {
        args_free(&a);
        return CLI_SOME_FAILED;
    }
    enum fr_status st = FR_OK;
    if (!strcmp(verb, "list")) rc = people_list(g, user, a.json);
    else if (!strcmp(verb, "add")) {
        st = fr_gallery_person_add(g, user, p[0], &id);
        if ((rc = report(st, "name", 0)) == CLI_OK) printf("%lld\n", (long long)id);
    } else if (!strcmp(verb, "rename")) {
        rc = !parse_id(p[0], &id) ? CLI_USAGE : report(fr_gallery_person_rename(g, user, id, p[1]), "person", id);
    } else if (!strcmp(verb, "delete")) {
        int64_t n = 0;
        rc = !parse_id(p[0], &id) ? CLI_USAGE : report(fr_gallery_person_delete(g, user, id, &n), "person", id);
        if (rc == CLI_OK) printf("deleted person %lld and %lld faces\n", (long long)id, (long long)n);
    } else if (!strcmp(verb, "merge")) {
        if (!parse_id(p[0], &id) || !parse_id(p[1], &id2)) rc = CLI_USAGE;
        else if (id == id2) rc = report(FR_ERR_INVALID, "merge (a person into itself)", 0);
        else rc = report(fr_gallery_person_merge(g, user, id, id2), "person", fr_store_person_get(
                    fr_gallery_store(g), user, id, &(struct fr_store_person){ 0 }) == FR_OK ? id2 : id);
    } else if (!strcmp(verb, "faces")) {
        rc = !parse_id(p[0], &id) ? CLI_USAGE : people_faces(g, user, id);
    } else if (!strcmp(verb, "cluster")) {
        struct fr_gallery_cluster_result r;
        rc = report(fr_gallery_cluster(g, user, &a.cp, &r), "cluster parameters", 0);
        if (rc == CLI_OK) {
            if (a.json)
                printf("{\"people_created\":%d,\"created\":%d,\"joined\":%d,\"left\":%d,\"job\":%lld}\n",
                       r.people_created, r.created, r.joined, r.left, (long long)r.job);
            else
                printf("%d new people with %d faces; %d faces joined existing people; %d left unassigned\n",
                       r.people_created, r.created, r.joined, r.left);
        }
    } else if (!strcmp(verb, "enroll")) {
        struct fr_store_person pe;
        if (!parse_id(p[0], &id)) rc = CLI_USAGE;
        else if ((st = fr_store_person_get(fr_gallery_store(g), user, id, &pe)) != FR_OK) rc = report(st, "person", id);
        else {
            struct cli_files fl = { 0 };
            rc = cli_collect(p + 1, np - 1, &fl);
            struct add_ctx c = { .g = g, .user = user, .person = id, .all = a.all, .rc = CLI_OK };
            int r2 = run_files(&a, g, &c, fl.paths, fl.n);
            printf("%d faces from %d images enrolled into %s (person %lld)\n", c.faces, c.images, pe.name,
                   (long long)id);
            cli_files_free(&fl);
            if (!rc) rc = r2;
        }
    }
    fr_gallery_free(g);
    args_free(&a);
    return rc;
}

/* The common start of index, search and jobs: the arguments (with between
 * min_pos and max_pos positionals; max_pos -1 = no limit), the log level,
 * the gallery and the user. NULL when the command ends here, with the exit
 * status in *rc (CLI_OK after --help) and a released. */
static struct fr_gallery *begin_command(const char *cmd, const char *usage, int min_pos, int max_pos, int argc,
                                        char **argv, struct gargs *a, int64_t *user, int *rc) {
    *rc = parse_args(cmd, usage, argc, argv, a);
    if (*rc == CLI_OK && (a->npos < min_pos || (max_pos >= 0 && a->npos > max_pos))) {
        fprintf(stderr, "usage: facerec %s %s\n", cmd, usage);
        *rc = CLI_USAGE;
    }
    if (*rc != CLI_OK) {
        args_free(a);
        if (*rc == CLI_HELP_SHOWN) *rc = CLI_OK;
        return NULL;
    }
    fr_log_set_level(a->cfg.log_level);
    struct fr_gallery *g = open_gallery(a, user);
    if (!g) {
        args_free(a);
        *rc = CLI_SOME_FAILED;
    }
    return g;
}

/* ---- facerec index ------------------------------------------------------------------- */

/* On a shared database (PostgreSQL), indexing is a queued job for the
 * servers on it: the files (as absolute paths, which every server must be
 * able to read) are enqueued, and the job's progress is `facerec jobs` or
 * GET /v1/jobs/ID. */
static int enqueue_index(struct fr_store *st, int64_t user, const char *first, struct cli_files *fl, int rc) {
    char **abs = calloc((size_t)fl->n + 1, sizeof(char *));
    int32_t n = 0;
    for (int32_t i = 0; abs && i < fl->n; i++) {
        char *r = realpath(fl->paths[i], NULL);
        if (!r) {
            fprintf(stderr, "facerec: %s: cannot resolve: %s\n", fl->paths[i], strerror(errno));
            rc = CLI_SOME_FAILED;
            continue;
        }
        abs[n++] = r;
    }
    int64_t job = 0;
    char detail[256];
    snprintf(detail, sizeof(detail), "%s", first);
    enum fr_status s = abs ? fr_store_queue_add(st, user, detail, (const char *const *)abs, n, &job) : FR_ERR_NOMEM;
    if (s != FR_OK) {
        char msg[512];
        fr_store_last_error(msg, sizeof(msg));
        fprintf(stderr, "facerec: queueing the index job: %s\n", msg[0] ? msg : fr_status_str(s));
        rc = CLI_SOME_FAILED;
    } else {
        printf("job %lld queued: %d images for the servers on this database (facerec jobs, GET /v1/jobs/%lld)\n",
               (long long)job, (int)n, (long long)job);
    }
    for (int32_t i = 0; i < n; i++) free(abs[i]);
    free(abs);
    return rc;
}

static const char index_usage[] = "DIR... [--user NAME] [--quiet] [--data DIR]";

int cli_cmd_index(int argc, char **argv) {
    struct gargs a;
    int64_t user;
    int rc;
    struct fr_gallery *g = begin_command("index", index_usage, 1, -1, argc, argv, &a, &user, &rc);
    if (!g) return rc;
    struct fr_store *st = fr_gallery_store(g);
    struct cli_files fl = { 0 };
    rc = cli_collect(a.pos, a.npos, &fl);
    if (a.cfg.data && (!strncmp(a.cfg.data, "postgresql://", 13) || !strncmp(a.cfg.data, "postgres://", 11))) {
        rc = enqueue_index(st, user, a.pos[0], &fl, rc);
        cli_files_free(&fl);
        fr_gallery_free(g);
        args_free(&a);
        return rc;
    }
    /* Resumable: files whose content is already indexed are skipped before
     * any compute; the rest keep their hashes for the write. */
    uint8_t(*hash)[FR_STORE_HASH_LEN] = calloc((size_t)fl.n + 1, sizeof(*hash));
    char **todo = calloc((size_t)fl.n + 1, sizeof(char *));
    int32_t n = 0, already = 0, unreadable = 0;
    for (int32_t i = 0; hash && todo && i < fl.n; i++) {
        int64_t bytes;
        struct fr_store_image have;
        if (!file_hash(fl.paths[i], hash[n], &bytes)) {
            fprintf(stderr, "facerec: %s: cannot read\n", fl.paths[i]);
            unreadable++;
            continue;
        }
        if (fr_store_image_find(st, user, hash[n], &have) == FR_OK) {
            already++;
            continue;
        }
        todo[n++] = fl.paths[i];
    }
    int64_t job = 0;
    char detail[256];
    snprintf(detail, sizeof(detail), "%s", a.pos[0]);
    fr_store_job_start(st, user, "index", detail, fl.n, &job);
    struct add_ctx c = { .g = g, .user = user, .person = 0, .all = true, .rc = CLI_OK,
                         .hash = (const uint8_t(*)[FR_STORE_HASH_LEN])hash };
    if (n > 0) run_files(&a, g, &c, todo, n);
    if (job)
        fr_store_job_update(st, user, job, c.rc == CLI_OK && !unreadable ? FR_STORE_JOB_DONE : FR_STORE_JOB_FAILED,
                            already + c.images + c.skipped, unreadable + (n - c.images - c.skipped), detail);
    printf("%d images indexed (%d faces), %d already indexed, %d failed\n", c.images, c.faces, already + c.skipped,
           unreadable + (n - c.images - c.skipped));
    if (unreadable) c.rc = CLI_SOME_FAILED;
    free(hash);
    free(todo);
    cli_files_free(&fl);
    fr_gallery_free(g);
    args_free(&a);
    return rc ? rc : c.rc;
}

/* ---- facerec search ------------------------------------------------------------------- */

struct search_ctx {
    struct fr_gallery *g;
    int64_t user;
    int32_t k;
    bool json;
    int rc;
    struct fr_gallery_match *m;
    struct cli_progress prog;
};

static void on_search(const struct fr_pipeline_result *r, void *user) {
    struct search_ctx *c = user;
    if (cli_failed(r, &c->prog, &c->rc)) return;
    float thr = fr_gallery_threshold(c->g);
    if (c->json) {
        printf("{\"file\":");
        cli_print_json_string(r->name);
        printf(",\"faces\":[");
    }
    int32_t shown = 0;
    for (int32_t i = 0; i < r->faces->count; i++) {
        const struct fr_face *f = &r->faces->faces[i];
        if (!f->has_descriptor) continue;
        int32_t n = 0;
        enum fr_status st = fr_gallery_recognize(c->g, c->user, f->descriptor, c->k, c->m, &n);
        if (st != FR_OK) {
            fprintf(stderr, "facerec: %s: %s\n", r->name, fr_status_str(st));
            c->rc = CLI_SOME_FAILED;
            continue;
        }
        bool known = n > 0 && c->m[0].distance <= thr;
        if (c->json) {
            printf("%s{\"box\":[%.9g,%.9g,%.9g,%.9g],\"name\":", shown ? "," : "", f->box[0], f->box[1], f->box[2],
                   f->box[3]);
            cli_print_json_string(known ? c->m[0].name : "unknown");
            printf(",\"person\":");
            if (known) printf("%lld", (long long)c->m[0].person);
            else printf("null");
            printf(",\"candidates\":[");
            for (int32_t j = 0; j < n; j++) {
                printf("%s{\"person\":%lld,\"name\":", j ? "," : "", (long long)c->m[j].person);
                cli_print_json_string(c->m[j].name);
                printf(",\"distance\":%.6f,\"similarity\":%.6f}", c->m[j].distance, c->m[j].similarity);
            }
            printf("]}");
        } else {
            printf("%s,%s", r->name, known ? c->m[0].name : "unknown");
            for (int32_t j = 0; j < n; j++) printf(",%s:%.4f", c->m[j].name, c->m[j].distance);
            putchar('\n');
        }
        shown++;
    }
    if (c->json) printf("]}\n");
    else if (shown == 0) printf("%s,no_persons_found\n", r->name);
    cli_progress_step(&c->prog, shown);
}

static const char search_usage[] = "IMAGE... [--k N] [--json] [--user NAME] [--data DIR]";

int cli_cmd_search(int argc, char **argv) {
    struct gargs a;
    int64_t user;
    int rc;
    struct fr_gallery *g = begin_command("search", search_usage, 1, -1, argc, argv, &a, &user, &rc);
    if (!g) return rc;
    struct cli_files fl = { 0 };
    rc = cli_collect(a.pos, a.npos, &fl);
    struct search_ctx c = { .g = g, .user = user, .k = a.k, .json = a.json, .rc = CLI_OK,
                            .m = calloc((size_t)a.k, sizeof(struct fr_gallery_match)) };
    struct fr_pipeline *pl = c.m ? open_pipeline(&a.cfg) : NULL;
    if (!pl) c.rc = CLI_SOME_FAILED;
    else {
        cli_progress_start(&c.prog, fl.n, a.quiet);
        enum fr_status st = fr_pipeline_run(pl, (const char *const *)fl.paths, fl.n, on_search, &c);
        cli_progress_end(&c.prog);
        if (st != FR_OK) {
            fprintf(stderr, "facerec: %s\n", fr_status_str(st));
            c.rc = CLI_SOME_FAILED;
        }
    }
    fr_pipeline_free(pl);
    free(c.m);
    cli_files_free(&fl);
    fr_gallery_free(g);
    args_free(&a);
    return rc ? rc : c.rc;
}

/* ---- facerec jobs ---------------------------------------------------------------------- */

static const char *job_state(enum fr_store_job_state s) {
    return s == FR_STORE_JOB_DONE        ? "done"
           : s == FR_STORE_JOB_FAILED    ? "failed"
           : s == FR_STORE_JOB_CANCELLED ? "cancelled"
                                         : "running";
}

static const char jobs_usage[] = "[--limit N] [--json] [--user NAME] [--data DIR]";

int cli_cmd_jobs(int argc, char **argv) {
    struct gargs a;
    int64_t user;
    int rc;
    struct fr_gallery *g = begin_command("jobs", jobs_usage, 0, 0, argc, argv, &a, &user, &rc);
    if (!g) return rc;
    struct fr_store_job *j = NULL;
    int32_t n = 0;
    rc = report(fr_store_job_list(fr_gallery_store(g), user, a.limit ? a.limit : 20, &j, &n), "job", 0);
    if (rc == CLI_OK && a.json) {
        printf("{\"jobs\":[");
        for (int32_t i = 0; i < n; i++) {
            printf("%s{\"id\":%lld,\"kind\":", i ? "," : "", (long long)j[i].id);
            cli_print_json_string(j[i].kind);
            printf(",\"state\":\"%s\",\"total\":%lld,\"done\":%lld,\"failed\":%lld,\"detail\":",
                   job_state(j[i].state), (long long)j[i].total, (long long)j[i].done, (long long)j[i].failed);
            cli_print_json_string(j[i].detail);
            printf(",\"created\":%lld,\"updated\":%lld}", (long long)j[i].created, (long long)j[i].updated);
        }
        printf("]}\n");
    } else if (rc == CLI_OK) {
        printf("%-6s %-8s %-8s %-7s %-7s %-7s %s\n", "ID", "KIND", "STATE", "TOTAL", "DONE", "FAILED", "DETAIL");
        for (int32_t i = 0; i < n; i++)
            printf("%-6lld %-8s %-8s %-7lld %-7lld %-7lld %s\n", (long long)j[i].id, j[i].kind, job_state(j[i].state),
                   (long long)j[i].total, (long long)j[i].done, (long long)j[i].failed, j[i].detail);
    }
    fr_free(j);
    fr_gallery_free(g);
    args_free(&a);
    return rc;
}
