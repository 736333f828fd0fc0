/* fr-bench-tiles: multi-scale detection, recall and cost.
 *
 *   fr-bench-tiles calibrate          detection rate of faces by their size at the net's input
 *   fr-bench-tiles scenes             recall, extra faces, duplicates and time per mode on the
 *                                     composed scenes (phone, crowd, border, no-face photos)
 *   fr-bench-tiles files IMAGE...     images/s, faces and detector items per image per mode
 *
 * Options: --tiny (TinyFaceDetector), --modes off,auto,2x2,3x3, --threads N,
 * --models DIR, --data DIR (the test photos). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/backend.h"
#include "facerec/pipeline.h"
#include "tile-scenes.h"

struct opts {
    const char *models, *data, *modes;
    enum fr_detector detector;
    int32_t threads;
};

static struct fr_pipeline *make_pipeline(const struct opts *o, const char *mode, bool full) {
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = o->models;
    pp.detector = o->detector;
    pp.threads = o->threads;
    pp.landmarks = pp.embeddings = full;
    char err[512];
    if (fr_tiles_parse(mode, &pp.tiles, err, sizeof err) != FR_OK) {
        fprintf(stderr, "fr-bench-tiles: %s\n", err);
        return NULL;
    }
    struct fr_pipeline *pl = NULL;
    if (fr_pipeline_new(&pp, &pl, err, sizeof err) != FR_OK) fprintf(stderr, "fr-bench-tiles: %s\n", err);
    return pl;
}

/* Crowds of faces of one size: how often the whole pass finds a face of
 * a given size at the net's input (1280 px frames: net px = 0.4 x face px
 * for the SSD's 512 input). */
static int calibrate(const struct opts *o) {
    struct fr_pipeline *pl = make_pipeline(o, "off", false);
    if (!pl) return 1;
    struct scene_sources *ss = scene_sources_load(fr_pipeline_facenet(pl), o->data, o->models);
    int32_t side = o->detector == FR_DETECTOR_SSD ? 512 : 416;
    printf("| face at the net's input (px) | found | of | recall |\n|---|---|---|---|\n");
    int32_t top = o->detector == FR_DETECTOR_SSD ? 40 : 64, step = o->detector == FR_DETECTOR_SSD ? 2 : 4;
    for (int32_t px = 8; px <= top; px += step) {
        int found = 0, total = 0;
        double face = px * 1280.0 / side;
        for (int v = 0; v < 3; v++) {
            struct scene sc = scene_crowd(ss, v, face > 60 ? 12 : 24, face, face);
            if (!sc.img) continue;
            struct fr_faces f;
            const struct fr_image *imgs[1] = { sc.img };
            char err[256];
            if (fr_pipeline_process(pl, imgs, 1, &f, err, sizeof err) == FR_OK) {
                struct scene_score s = scene_score(&sc, &f);
                found += s.matched, total += s.truth;
                fr_faces_clear(&f);
            }
            scene_free(&sc);
        }
        printf("| %d | %d | %d | %.0f%% |\n", px, found, total, total ? 100.0 * found / total : 0.0);
        fflush(stdout);
    }
    scene_sources_free(ss);
    fr_pipeline_free(pl);
    return 0;
}

static int scenes(const struct opts *o) {
    struct fr_pipeline *ref = make_pipeline(o, "off", false);
    if (!ref) return 1;
    struct scene_sources *ss = scene_sources_load(fr_pipeline_facenet(ref), o->data, o->models);
    fr_pipeline_free(ref);
    static const struct {
        const char *kind;
        int variants;
    } kinds[] = { { "phone", 1 }, { "crowd", 3 }, { "border", 1 }, { "noface", 4 } };
    printf("| scene | mode | faces (truth) | found | recall | extra | duplicates | detector items | ms |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    char modes[256];
    snprintf(modes, sizeof modes, "%s", o->modes);
    for (char *save = NULL, *m = strtok_r(modes, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        struct fr_pipeline *pl = make_pipeline(o, m, true);
        if (!pl) return 1;
        struct fr_facenet *fn = fr_pipeline_facenet(pl);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            struct scene_score tot = { 0 };
            int64_t items = 0;
            double ms = 0;
            for (int v = 0; v < kinds[k].variants; v++) {
                struct scene sc = scene_make(ss, kinds[k].kind, v);
                if (!sc.img) continue;
                const struct fr_image *imgs[1] = { sc.img };
                struct fr_faces f;
                char err[256];
                int64_t i0 = fr_facenet_detector_items(fn);
                double t0 = fr_time_now();
                if (fr_pipeline_process(pl, imgs, 1, &f, err, sizeof err) == FR_OK) {
                    ms += (fr_time_now() - t0) * 1e3;
                    items += fr_facenet_detector_items(fn) - i0;
                    struct scene_score s = scene_score(&sc, &f);
                    tot.truth += s.truth, tot.matched += s.matched, tot.found += s.found;
                    tot.extra += s.extra, tot.duplicates += s.duplicates;
                    fr_faces_clear(&f);
                }
                scene_free(&sc);
            }
            int nv = kinds[k].variants;
            printf("| %s (x%d) | %s | %d | %d | %s%.1f%% | %d | %d | %.1f | %.0f |\n", kinds[k].kind, nv, m, tot.truth,
                   tot.found, tot.truth ? "" : "-", tot.truth ? 100.0 * tot.matched / tot.truth : 0.0, tot.extra,
                   tot.duplicates, (double)items / nv, ms / nv);
            fflush(stdout);
        }
        fr_pipeline_free(pl);
    }
    scene_sources_free(ss);
    return 0;
}

struct tally {
    int32_t images, faces, failed;
};

static void on_result(const struct fr_pipeline_result *r, void *user) {
    struct tally *t = user;
    t->images++;
    if (r->status != FR_OK) t->failed++;
    else t->faces += r->faces->count;
}

/* Per image: size, faces and detector items of each mode. */
static int per_image(const struct opts *o, const char *const *paths, int n) {
    struct fr_pipeline *pl = make_pipeline(o, o->modes, false);
    if (!pl) return 1;
    struct fr_facenet *fn = fr_pipeline_facenet(pl);
    struct fr_decode_params dp = fr_pipeline_decode_params(pl);
    for (int i = 0; i < n; i++) {
        struct fr_image *img;
        char err[256];
        if (fr_image_load(paths[i], &dp, &img, err, sizeof err) != FR_OK) continue;
        const struct fr_image *imgs[1] = { img };
        struct fr_faces f;
        int64_t i0 = fr_facenet_detector_items(fn);
        if (fr_pipeline_process(pl, imgs, 1, &f, err, sizeof err) == FR_OK) {
            double mn = 1e9;
            for (int32_t k = 0; k < f.count; k++) mn = fmin(mn, fmin(f.faces[k].box[2], f.faces[k].box[3]));
            printf("%-70s %5dx%-5d faces %2d smallest %4.0f items %lld\n", paths[i], img->orig_width, img->orig_height,
                   f.count, f.count ? mn : 0.0, (long long)(fr_facenet_detector_items(fn) - i0));
            fr_faces_clear(&f);
        }
        fr_image_free(img);
    }
    fr_pipeline_free(pl);
    return 0;
}

static int files(const struct opts *o, const char *const *paths, int n) {
    printf("| mode | images | faces | detector items / image | images/s |\n|---|---|---|---|---|\n");
    char modes[256];
    snprintf(modes, sizeof modes, "%s", o->modes);
    for (char *save = NULL, *m = strtok_r(modes, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        struct fr_pipeline *pl = make_pipeline(o, m, true);
        if (!pl) return 1;
        struct fr_facenet *fn = fr_pipeline_facenet(pl);
        struct tally t = { 0 };
        fr_pipeline_run(pl, paths, n, on_result, &t); /* warm-up */
        t = (struct tally){ 0 };
        int64_t i0 = fr_facenet_detector_items(fn);
        double t0 = fr_time_now();
        fr_pipeline_run(pl, paths, n, on_result, &t);
        double s = fr_time_now() - t0;
        printf("| %s | %d | %d | %.2f | %.2f |\n", m, t.images, t.faces,
               (double)(fr_facenet_detector_items(fn) - i0) / (t.images ? t.images : 1), t.images / s);
        fflush(stdout);
        fr_pipeline_free(pl);
    }
    return 0;
}

int main(int argc, char **argv) {
    struct opts o = { .models = "models", .data = "../shared/testdata/face_recognition", .modes = "off,auto,2x2,3x3" };
    const char *m = getenv("FACEREC_MODELS");
    if (m && *m) o.models = m;
    const char *d = getenv("FACEREC_TESTDATA");
    if (d && *d) o.data = d;
    int i = 1;
    const char *cmd = i < argc ? argv[i++] : "";
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--tiny")) o.detector = FR_DETECTOR_TINY;
        else if (!strcmp(argv[i], "--modes") && i + 1 < argc) o.modes = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) o.models = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) o.data = argv[++i];
        else break;
    }
    if (!strcmp(cmd, "calibrate")) return calibrate(&o);
    if (!strcmp(cmd, "scenes")) return scenes(&o);
    if (!strcmp(cmd, "per-image") && i < argc) return per_image(&o, (const char *const *)(argv + i), argc - i);
    if (!strcmp(cmd, "files") && i < argc) return files(&o, (const char *const *)(argv + i), argc - i);
    fprintf(stderr, "usage: fr-bench-tiles calibrate|scenes|files [--tiny] [--modes off,auto,2x2,3x3] "
                    "[--threads N] [--models DIR] [--data DIR] [IMAGE...]\n");
    return 2;
}
