/* facerec identify: face_recognition's CLI (known people by folder or file
 * name), answering with the nearest known person per face. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

struct known {
    int32_t n, cap;
    char **names;   /* per known image, the person */
    char **paths;
    float (*desc)[FR_DESCRIPTOR_DIM];
    bool *ok;
};

static void add_known(struct known *k, const char *name, const char *path) {
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 32;
        k->names = realloc(k->names, sizeof(char *) * (size_t)k->cap);
        k->paths = realloc(k->paths, sizeof(char *) * (size_t)k->cap);
        k->desc = realloc(k->desc, sizeof(*k->desc) * (size_t)k->cap);
        k->ok = realloc(k->ok, sizeof(bool) * (size_t)k->cap);
        if (!k->names || !k->paths || !k->desc || !k->ok) abort(); /* CLI: out of memory is fatal */
    }
    k->names[k->n] = strdup(name);
    k->paths[k->n] = strdup(path);
    k->ok[k->n] = false;
    k->n++;
}

/* KNOWN_DIR/name.ext -> name; KNOWN_DIR/name/ any image inside -> name. */
static int collect_known(const char *dir, struct known *k) {
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "facerec: %s: cannot read the known-people directory\n", dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, nm);
        struct stat st;
        if (nm[0] != '.' && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                struct cli_files fl = { 0 };
                char *arg = path;
                cli_collect(&arg, 1, &fl);
                for (int32_t j = 0; j < fl.n; j++) add_known(k, nm, fl.paths[j]);
                cli_files_free(&fl);
            } else if (S_ISREG(st.st_mode)) {
                char name[256];
                snprintf(name, sizeof(name), "%s", nm);
                char *dot = strrchr(name, '.');
                if (dot && dot != name) *dot = 0;
                /* Only files that are images by content. */
                if (fr_image_sniff_file(path) != FR_FORMAT_UNKNOWN) add_known(k, name, path);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return 0;
}

struct id_ctx {
    const struct cli_opts *o;
    struct known *k;
    int rc;
    struct cli_progress prog;
};

static void on_known(const struct fr_pipeline_result *r, void *user) {
    struct id_ctx *c = user;
    if (r->status != FR_OK) {
        fprintf(stderr, "facerec: %s\n", r->error);
        c->rc = CLI_SOME_FAILED;
        return;
    }
    int32_t f = fr_faces_largest(r->faces);
    if (f < 0) {
        fprintf(stderr, "facerec: warning: no face found in %s; ignoring it\n", r->name);
        return;
    }
    memcpy(c->k->desc[r->index], r->faces->faces[f].descriptor, sizeof(c->k->desc[0]));
    c->k->ok[r->index] = true;
}

static void on_unknown(const struct fr_pipeline_result *r, void *user) {
    struct id_ctx *c = user;
    if (cli_failed(r, &c->prog, &c->rc)) return;
    const struct fr_faces *fs = r->faces;
    if (fs->count == 0) printf("%s,no_persons_found%s\n", r->name, c->o->show_distance ? ",None" : "");
    for (int32_t i = 0; i < fs->count; i++) {
        if (!fs->faces[i].has_descriptor) continue;
        int32_t best = -1;
        float bd = 0;
        for (int32_t j = 0; j < c->k->n; j++) {
            if (!c->k->ok[j]) continue;
            float d = fr_descriptor_distance(fs->faces[i].descriptor, c->k->desc[j]);
            if (best < 0 || d < bd) best = j, bd = d;
        }
        if (best >= 0 && bd <= c->o->tolerance) {
            printf("%s,%s", r->name, c->k->names[best]);
            if (c->o->show_distance) printf(",%.4f", bd);
        } else {
            printf("%s,unknown_person", r->name);
            if (c->o->show_distance) printf(",None");
        }
        putchar('\n');
    }
    cli_progress_step(&c->prog, fs->count);
}

int cli_cmd_identify(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos) {
    if (npos < 2) {
        cli_help(cmd, stderr);
        return CLI_USAGE;
    }
    struct known k = { 0 };
    if (collect_known(pos[0], &k) != 0) return CLI_SOME_FAILED;
    if (k.n == 0) {
        fprintf(stderr, "facerec: %s: no known people (expected name.jpg files or name/ folders of photos)\n", pos[0]);
        return CLI_SOME_FAILED;
    }
    struct cli_files fl = { 0 };
    int rc = cli_collect(pos + 1, npos - 1, &fl);
    struct fr_pipeline *pl = cli_pipeline(o, true, true);
    struct id_ctx c = { .o = o, .k = &k, .rc = CLI_OK };
    if (!pl) {
        c.rc = CLI_SOME_FAILED;
        goto done;
    }
    enum fr_status st = fr_pipeline_run(pl, (const char *const *)k.paths, k.n, on_known, &c);
    if (st == FR_OK) {
        cli_progress_start(&c.prog, fl.n, o->quiet);
        st = fr_pipeline_run(pl, (const char *const *)fl.paths, fl.n, on_unknown, &c);
        cli_progress_end(&c.prog);
    }
    if (st != FR_OK) {
        fprintf(stderr, "facerec: %s\n", fr_status_str(st));
        c.rc = CLI_SOME_FAILED;
    }
done:
    fr_pipeline_free(pl);
    cli_files_free(&fl);
    for (int32_t i = 0; i < k.n; i++) free(k.names[i]), free(k.paths[i]);
    free(k.names), free(k.paths), free(k.desc), free(k.ok);
    return rc ? rc : c.rc;
}
