/* facerec cluster: group faces into people with Chinese whispers.
 *
 * Why Chinese whispers and not DBSCAN: it needs only the distance
 * threshold (no min-samples/eps pair to tune), it does not chain distinct
 * people together through one ambiguous face the way DBSCAN's single-link
 * expansion with small min-samples does, and it is what dlib - whose
 * ResNet these descriptors come from - uses for face clustering. It is run
 * deterministically: nodes visited in a fixed shuffled order, ties broken
 * by the smallest label, until no label changes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "cli.h"

struct cface {
    int32_t file;
    float box[4];
    float desc[FR_DESCRIPTOR_DIM];
    struct fr_image *crop; /* for --out */
    int32_t label;
};

struct cl_ctx {
    const struct cli_opts *o;
    struct cface *f;
    int32_t n, cap;
    int rc;
    struct cli_progress prog;
};

/* The face's box grown by 25% per side, clipped, from the decoded image. */
static struct fr_image *crop_face(const struct fr_image *img, const struct fr_faces *fs, const struct fr_face *f) {
    double sx = (double)img->width / fs->width, sy = (double)img->height / fs->height;
    double x = f->box[0] * sx, y = f->box[1] * sy, w = f->box[2] * sx, h = f->box[3] * sy;
    int32_t x0 = (int32_t)(x - w / 4), y0 = (int32_t)(y - h / 4), x1 = (int32_t)(x + w * 1.25), y1 = (int32_t)(y + h * 1.25);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    if (x1 <= x0 || y1 <= y0) return NULL;
    struct fr_image *c = fr_image_new(x1 - x0, y1 - y0);
    if (!c) return NULL;
    for (int32_t r = 0; r < c->height; r++)
        memcpy(c->data + (size_t)r * c->stride, img->data + (size_t)(y0 + r) * img->stride + (size_t)x0 * 3,
               (size_t)c->width * 3);
    return c;
}

static void on_result(const struct fr_pipeline_result *r, void *user) {
    struct cl_ctx *c = user;
    if (cli_failed(r, &c->prog, &c->rc)) return;
    for (int32_t i = 0; i < r->faces->count; i++) {
        const struct fr_face *f = &r->faces->faces[i];
        if (!f->has_descriptor) continue;
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->f = realloc(c->f, sizeof(*c->f) * (size_t)c->cap);
            if (!c->f) abort(); /* CLI: out of memory is fatal */
        }
        struct cface *cf = &c->f[c->n++];
        cf->file = r->index;
        memcpy(cf->box, f->box, sizeof(cf->box));
        memcpy(cf->desc, f->descriptor, sizeof(cf->desc));
        cf->crop = c->o->out_dir ? crop_face(r->image, r->faces, f) : NULL;
    }
    cli_progress_step(&c->prog, r->faces->count);
}

static uint32_t lcg(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

/* Labels faces in place; returns the number of iterations run. */
static int chinese_whispers(struct cface *f, int32_t n, float thr) {
    int32_t *deg = calloc((size_t)n + 1, sizeof(int32_t)), *adj = NULL, *order = malloc(sizeof(int32_t) * (size_t)n);
    /* Adjacency in CSR form: two passes over the pairs. */
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = i + 1; j < n; j++)
            if (fr_descriptor_distance(f[i].desc, f[j].desc) < thr) deg[i + 1]++, deg[j + 1]++;
    for (int32_t i = 0; i < n; i++) deg[i + 1] += deg[i];
    adj = malloc(sizeof(int32_t) * (size_t)(deg[n] + 1));
    int32_t *fill = calloc((size_t)n, sizeof(int32_t));
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = i + 1; j < n; j++)
            if (fr_descriptor_distance(f[i].desc, f[j].desc) < thr) {
                adj[deg[i] + fill[i]++] = j;
                adj[deg[j] + fill[j]++] = i;
            }
    for (int32_t i = 0; i < n; i++) f[i].label = i, order[i] = i;
    int32_t *count = calloc((size_t)n, sizeof(int32_t));
    uint32_t seed = 12345;
    int it = 0;
    for (bool changed = true; changed && it < 100; it++) {
        changed = false;
        for (int32_t i = n - 1; i > 0; i--) { /* Fisher-Yates with a fixed seed */
            int32_t j = (int32_t)(lcg(&seed) % (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (int32_t k = 0; k < n; k++) {
            int32_t v = order[k], best = f[v].label, bc = 0;
            for (int32_t e = deg[v]; e < deg[v + 1]; e++) count[f[adj[e]].label]++;
            for (int32_t e = deg[v]; e < deg[v + 1]; e++) {
                int32_t l = f[adj[e]].label;
                if (count[l] > bc || (count[l] == bc && l < best)) best = l, bc = count[l];
            }
            for (int32_t e = deg[v]; e < deg[v + 1]; e++) count[f[adj[e]].label] = 0;
            if (bc > 0 && best != f[v].label) f[v].label = best, changed = true;
        }
    }
    free(deg), free(adj), free(fill), free(order), free(count);
    return it;
}

static int write_jpeg(const struct fr_image *img, const char *path) {
    tjhandle tj = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int ok = tj && tjCompress2(tj, img->data, img->width, (int)img->stride, img->height, TJPF_RGB, &buf, &len,
                               TJSAMP_420, 90, 0) == 0;
    FILE *f = ok ? fopen(path, "wb") : NULL;
    ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    tjFree(buf);
    if (tj) tjDestroy(tj);
    return ok ? 0 : -1;
}

struct group {
    int32_t label, size;
};

static int cmp_group(const void *a, const void *b) {
    const struct group *x = a, *y = b;
    if (x->size != y->size) return y->size - x->size;
    return x->label - y->label;
}

int cli_cmd_cluster(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos) {
    if (npos < 1) {
        cli_help(cmd, stderr);
        return CLI_USAGE;
    }
    struct cli_files fl = { 0 };
    int rc = cli_collect(pos, npos, &fl);
    struct fr_pipeline *pl = cli_pipeline(o, true, true);
    if (!pl) {
        cli_files_free(&fl);
        return CLI_SOME_FAILED;
    }
    struct cl_ctx c = { .o = o, .rc = CLI_OK };
    cli_progress_start(&c.prog, fl.n, o->quiet);
    enum fr_status st = fr_pipeline_run(pl, (const char *const *)fl.paths, fl.n, on_result, &c);
    cli_progress_end(&c.prog);
    fr_pipeline_free(pl);
    if (st != FR_OK) {
        fprintf(stderr, "facerec: %s\n", fr_status_str(st));
        c.rc = CLI_SOME_FAILED;
    }
    chinese_whispers(c.f, c.n, o->cluster_threshold);
    /* Groups by size, largest first; person numbers follow that order. */
    struct group *g = calloc((size_t)c.n + 1, sizeof(*g));
    int32_t ng = 0;
    for (int32_t i = 0; i < c.n; i++) {
        int32_t k = 0;
        while (k < ng && g[k].label != c.f[i].label) k++;
        if (k == ng) g[ng++] = (struct group){ c.f[i].label, 0 };
        g[k].size++;
    }
    qsort(g, (size_t)ng, sizeof(*g), cmp_group);
    if (o->out_dir && mkdir(o->out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "facerec: %s: cannot create directory\n", o->out_dir);
        c.rc = CLI_SOME_FAILED;
    }
    int32_t person = 0, unclustered = 0;
    if (o->json) printf("{\"groups\":[");
    for (int32_t k = 0; k < ng; k++) {
        bool small = g[k].size < o->min_cluster_size;
        char name[64];
        if (small) snprintf(name, sizeof(name), "unclustered");
        else snprintf(name, sizeof(name), "person_%d", ++person);
        if (small) unclustered += g[k].size;
        if (o->json) {
            printf("%s{\"name\":\"%s\",\"faces\":[", k ? "," : "", name);
        } else {
            printf("%s: %d face%s\n", name, g[k].size, g[k].size == 1 ? "" : "s");
        }
        int32_t shown = 0;
        for (int32_t i = 0; i < c.n; i++) {
            const struct cface *f = &c.f[i];
            if (f->label != g[k].label) continue;
            if (o->json) {
                printf("%s{\"file\":", shown ? "," : "");
                cli_print_json_string(fl.paths[f->file]);
                printf(",\"box\":[%.1f,%.1f,%.1f,%.1f]}", f->box[0], f->box[1], f->box[2], f->box[3]);
            } else {
                printf("  %s %.0f,%.0f %.0fx%.0f\n", fl.paths[f->file], f->box[0], f->box[1], f->box[2], f->box[3]);
            }
            if (o->out_dir && f->crop) {
                char dir[4096], path[4200];
                snprintf(dir, sizeof(dir), "%s/%s", o->out_dir, name);
                mkdir(dir, 0755);
                snprintf(path, sizeof(path), "%s/face_%04d.jpg", dir, i);
                if (write_jpeg(f->crop, path) != 0) {
                    fprintf(stderr, "facerec: %s: cannot write\n", path);
                    c.rc = CLI_SOME_FAILED;
                }
            }
            shown++;
        }
        if (o->json) printf("]}");
    }
    if (o->json) printf("]}\n");
    fflush(stdout);
    if (!o->json) fprintf(stderr, "%d faces in %d people%s\n", c.n, person, unclustered ? " (and some unclustered)" : "");
    for (int32_t i = 0; i < c.n; i++) fr_image_free(c.f[i].crop);
    free(c.f);
    free(g);
    cli_files_free(&fl);
    return rc ? rc : c.rc;
}
