/* facerec detect / embed / compare. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct detect_ctx {
    const struct cli_opts *o;
    bool embed;
    int rc;
    struct cli_progress prog;
};

static void print_json(const struct fr_pipeline_result *r, bool embed) {
    const struct fr_faces *f = r->faces;
    printf("{\"file\":");
    cli_print_json_string(r->name);
    printf(",\"width\":%d,\"height\":%d,\"faces\":[", f->width, f->height);
    for (int32_t i = 0; i < f->count; i++) {
        const struct fr_face *x = &f->faces[i];
        /* %.9g round-trips a float32, so JSON consumers see our exact numbers. */
        printf("%s{\"box\":[%.9g,%.9g,%.9g,%.9g],\"score\":%.9g", i ? "," : "", x->box[0], x->box[1], x->box[2],
               x->box[3], x->score);
        if (x->has_landmarks) {
            printf(",\"landmarks\":[");
            for (int p = 0; p < FR_LANDMARKS; p++)
                printf("%s[%.9g,%.9g]", p ? "," : "", x->landmarks[p][0], x->landmarks[p][1]);
            printf("]");
        }
        if (embed && x->has_descriptor) {
            printf(",\"embedding\":[");
            for (int k = 0; k < FR_DESCRIPTOR_DIM; k++) printf("%s%.9g", k ? "," : "", x->descriptor[k]);
            printf("]");
        }
        printf("}");
    }
    printf("]}\n");
}

static void print_text(const struct fr_pipeline_result *r, bool embed, bool landmarks) {
    const struct fr_faces *f = r->faces;
    for (int32_t i = 0; i < f->count; i++) {
        const struct fr_face *x = &f->faces[i];
        printf("%s,%.1f,%.1f,%.1f,%.1f,%.4f", r->name, x->box[0], x->box[1], x->box[2], x->box[3], x->score);
        if (landmarks && x->has_landmarks)
            for (int p = 0; p < FR_LANDMARKS; p++) printf(",%.2f,%.2f", x->landmarks[p][0], x->landmarks[p][1]);
        if (embed && x->has_descriptor)
            for (int k = 0; k < FR_DESCRIPTOR_DIM; k++) printf(",%.6f", x->descriptor[k]);
        putchar('\n');
    }
}

static void on_result(const struct fr_pipeline_result *r, void *user) {
    struct detect_ctx *c = user;
    if (cli_failed(r, &c->prog, &c->rc)) return;
    if (c->o->json) print_json(r, c->embed);
    else print_text(r, c->embed, c->o->landmarks);
    cli_progress_step(&c->prog, r->faces->count);
}

/* embed --aligned: each input is an aligned face crop. */
static int embed_aligned(const struct cli_opts *o, struct cli_files *fl) {
    struct fr_pipeline *pl = cli_pipeline(o, false, true);
    if (!pl) return CLI_SOME_FAILED;
    int rc = CLI_OK;
    struct fr_decode_params dp = fr_decode_default_params();
    dp.max_image_size = 0;
    for (int32_t i = 0; i < fl->n; i++) {
        char err[512];
        struct fr_image *img = NULL;
        float d[FR_DESCRIPTOR_DIM];
        if (fr_image_load(fl->paths[i], &dp, &img, err, sizeof(err)) != FR_OK) {
            fprintf(stderr, "facerec: %s\n", err);
            rc = CLI_SOME_FAILED;
            continue;
        }
        enum fr_status st = fr_pipeline_embed_aligned(pl, img, d);
        if (st != FR_OK) {
            fprintf(stderr, "facerec: %s: %s\n", fl->paths[i], fr_status_str(st));
            rc = CLI_SOME_FAILED;
        } else if (o->json) {
            printf("{\"file\":");
            cli_print_json_string(fl->paths[i]);
            printf(",\"width\":%d,\"height\":%d,\"embedding\":[", img->width, img->height);
            for (int k = 0; k < FR_DESCRIPTOR_DIM; k++) printf("%s%.9g", k ? "," : "", d[k]);
            printf("]}\n");
        } else {
            printf("%s", fl->paths[i]);
            for (int k = 0; k < FR_DESCRIPTOR_DIM; k++) printf(",%.6f", d[k]);
            putchar('\n');
        }
        fr_image_free(img);
    }
    fr_pipeline_free(pl);
    return rc;
}

int cli_cmd_detect(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos) {
    if (npos < 1) {
        cli_help(cmd, stderr);
        return CLI_USAGE;
    }
    bool embed = !strcmp(cmd->name, "embed");
    struct cli_files fl = { 0 };
    int rc = cli_collect(pos, npos, &fl);
    if (embed && o->aligned) {
        int r2 = embed_aligned(o, &fl);
        cli_files_free(&fl);
        return rc ? rc : r2;
    }
    struct fr_pipeline *pl = cli_pipeline(o, o->json || o->landmarks || embed, embed);
    if (!pl) {
        cli_files_free(&fl);
        return CLI_SOME_FAILED;
    }
    struct detect_ctx c = { .o = o, .embed = embed, .rc = CLI_OK };
    cli_progress_start(&c.prog, fl.n, o->quiet);
    enum fr_status st = fr_pipeline_run(pl, (const char *const *)fl.paths, fl.n, on_result, &c);
    cli_progress_end(&c.prog);
    if (st != FR_OK) {
        fprintf(stderr, "facerec: %s\n", fr_status_str(st));
        c.rc = CLI_SOME_FAILED;
    }
    fr_pipeline_free(pl);
    cli_files_free(&fl);
    return rc ? rc : c.rc;
}

struct compare_ctx {
    struct fr_face face[2];
    bool found[2];
    int rc;
};

static void on_compare(const struct fr_pipeline_result *r, void *user) {
    struct compare_ctx *c = user;
    if (r->status != FR_OK) {
        fprintf(stderr, "facerec: %s\n", r->error);
        c->rc = CLI_SOME_FAILED;
        return;
    }
    int32_t k = fr_faces_largest(r->faces);
    if (k < 0) {
        fprintf(stderr, "facerec: %s: no face found\n", r->name);
        c->rc = CLI_SOME_FAILED;
        return;
    }
    c->face[r->index] = r->faces->faces[k];
    c->found[r->index] = true;
}

int cli_cmd_compare(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos) {
    if (npos != 2) {
        cli_help(cmd, stderr);
        return CLI_USAGE;
    }
    struct fr_pipeline *pl = cli_pipeline(o, true, true);
    if (!pl) return CLI_SOME_FAILED;
    struct compare_ctx c = { .rc = CLI_OK };
    enum fr_status st = fr_pipeline_run(pl, (const char *const *)pos, 2, on_compare, &c);
    fr_pipeline_free(pl);
    if (st != FR_OK) {
        fprintf(stderr, "facerec: %s\n", fr_status_str(st));
        return CLI_SOME_FAILED;
    }
    if (!c.found[0] || !c.found[1]) return CLI_SOME_FAILED;
    float d = fr_descriptor_distance(c.face[0].descriptor, c.face[1].descriptor);
    printf("%s vs %s: distance %.4f, similarity %.3f -> %s (tolerance %.2f)\n", pos[0], pos[1], d, fr_similarity(d),
           d <= o->tolerance ? "same person" : "different people", o->tolerance);
    return c.rc;
}
