/* The accuracy gate of the CPU backend's low precisions (issue 18).
 *
 * For bf16, int8 and auto, the 38 reference photos (tests/golden/
 * pipeline.json's list) go through the SSD pipeline and are compared with
 * the same pipeline in fp32 on this machine:
 *   - every photo has the same number of faces;
 *   - boxes within BOX_PX pixels of fp32's, counted in pixels of the
 *     detector's input (a pixel there is several in a large photo), or
 *     else listed and still overlapping fp32's box with IoU >= BOX_IOU (the
 *     same face). The few faces that move more move by the same amount in
 *     bf16 and int8 (obama-480p: 10.7 and 10.1 px), a jump rather than
 *     noise: most likely another of the neighbouring anchors, which score
 *     within a hundredth of each other and regress boxes a few pixels
 *     apart, wins after non-maximum suppression;
 *   - landmark drift (in pixels of the landmark net's 112 px crop) and
 *     descriptor L2 drift are reported, and bounded loosely (LM_PX,
 *     DESC_L2) so that a broken kernel fails;
 *   - on every pair of faces over all photos, "same person" at tolerance 0.6
 *     is decided as in fp32, except pairs whose fp32 distance lies within
 *     MARGIN of 0.6, which are listed (a drift of a few thousandths decides
 *     those either way; docs/PERFORMANCE.md explains).
 * The tiny detector in bf16 is held to the same face counts and boxes.
 * A precision the CPU lacks resolves to fp32 and is skipped with a note.
 *
 * `test-lowprec --fallback` runs where ctest sets ONEDNN_MAX_CPU_ISA=AVX2: a
 * CPU without bf16 or VNNI, where every request must fall back to fp32 with
 * a log line and give fp32's results. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <cmocka.h>

#include "facerec/face.h"
#include "facerec/sched.h"
#include "nn/backend-impl.h"
#include "nn/cpu/cpu-lowprec.h"
#include "test-util.h"

#define BOX_PX 3.0
#define BOX_IOU 0.8
#define LM_PX 10.0
#define DESC_L2 0.3
#define MARGIN 0.02
#define TOL 0.6

struct photos {
    int n;
    struct fr_image **imgs;
    char **names;
};

static struct photos photos;

static void image_path(const char *file, char *out, size_t n) {
    if (!strncmp(file, "faceapi_demo/", 13)) snprintf(out, n, "%s/samples/%s", fr_test_models_dir(), file + 13);
    else snprintf(out, n, "%s/%s", fr_test_data_dir(), file);
}

static int load_photos(void **state) {
    (void)state;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tests/golden/pipeline.json", FR_SOURCE_DIR);
    char *s = fr_test_read_file(path);
    if (!s) return -1;
    cJSON *j = cJSON_Parse(s);
    free(s);
    const cJSON *images = cJSON_GetObjectItem(j, "images"), *it;
    photos.n = cJSON_GetArraySize(images);
    photos.imgs = calloc((size_t)photos.n, sizeof(*photos.imgs));
    photos.names = calloc((size_t)photos.n, sizeof(*photos.names));
    int i = 0;
    cJSON_ArrayForEach(it, images) {
        const char *file = cJSON_GetObjectItem(it, "file")->valuestring;
        image_path(file, path, sizeof path);
        struct fr_decode_params dp = fr_decode_default_params();
        dp.max_image_size = 0; /* as the reference test: every pixel */
        if (fr_image_load(path, &dp, &photos.imgs[i], err, sizeof err) != FR_OK) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        photos.names[i++] = strdup(file);
    }
    cJSON_Delete(j);
    return 0;
}

static int free_photos(void **state) {
    (void)state;
    for (int i = 0; i < photos.n; i++) {
        fr_image_free(photos.imgs[i]);
        free(photos.names[i]);
    }
    free(photos.imgs);
    free(photos.names);
    return 0;
}

static struct fr_backend *backend(enum fr_precision p) {
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = FR_DEVICE_CPU;
    bp.precision = p;
    struct fr_backend *be;
    char err[512];
    if (fr_backend_new(&bp, &be, err, sizeof err) != FR_OK) fail_msg("fr_backend_new: %s", err);
    return be;
}

/* All photos through one pipeline; res has photos.n entries. `ran` gets
 * the precision of the detector and of the recognition net. */
static struct fr_faces *run(enum fr_precision p, enum fr_detector det, enum fr_precision ran[2]) {
    struct fr_backend *be = backend(p);
    struct fr_facenet_params fp = fr_facenet_default_params();
    fp.models_dir = fr_test_models_dir();
    fp.detector = det;
    fp.landmarks = fp.descriptors = det == FR_DETECTOR_SSD;
    struct fr_facenet *fn;
    char err[512];
    if (fr_facenet_new(be, &fp, &fn, err, sizeof err) != FR_OK) fail_msg("fr_facenet_new: %s", err);
    ran[0] = fr_net_precision(fr_facenet_net(fn, det == FR_DETECTOR_SSD ? FR_NET_SSD : FR_NET_TINY));
    ran[1] = det == FR_DETECTOR_SSD ? fr_net_precision(fr_facenet_net(fn, FR_NET_RECOGNITION)) : ran[0];
    struct fr_faces *res = calloc((size_t)photos.n, sizeof(*res));
    if (fr_facenet_process(fn, (const struct fr_image *const *)photos.imgs, photos.n, res, err, sizeof err) != FR_OK)
        fail_msg("fr_facenet_process: %s", err);
    fr_facenet_free(fn);
    fr_backend_free(be);
    return res;
}

static void free_run(struct fr_faces *r) {
    for (int i = 0; i < photos.n; i++) fr_faces_clear(&r[i]);
    free(r);
}

static double box_diff(const float *a, const float *b) {
    double m = 0;
    for (int k = 0; k < 4; k++) m = fmax(m, fabs(a[k] - b[k]));
    return m;
}

static double iou(const float *a, const float *b) {
    double x0 = fmax(a[0], b[0]), y0 = fmax(a[1], b[1]);
    double x1 = fmin(a[0] + a[2], b[0] + b[2]), y1 = fmin(a[1] + a[3], b[1] + b[3]);
    double inter = fmax(0, x1 - x0) * fmax(0, y1 - y0);
    return inter / ((double)a[2] * a[3] + (double)b[2] * b[3] - inter);
}

static double dist(const float *a, const float *b) {
    double s = 0;
    for (int k = 0; k < FR_DESCRIPTOR_DIM; k++) s += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    return sqrt(s);
}

/* For each fp32 face of photo i, the index of the low-precision face with
 * the closest box (the order by score may swap between near-equal scores). */
static void match(const struct fr_faces *ref, const struct fr_faces *got, int *m) {
    for (int f = 0; f < ref->count; f++) {
        double best = INFINITY;
        m[f] = -1;
        for (int g = 0; g < got->count; g++) {
            double d = box_diff(ref->faces[f].box, got->faces[g].box);
            if (d < best) best = d, m[f] = g;
        }
    }
}

/* One precision against fp32: whether it passes (true when the CPU lacks
 * it and runs fp32). */
static bool gate(enum fr_precision p, enum fr_detector det, struct fr_faces *ref) {
    enum fr_precision ran[2];
    struct fr_faces *got = run(p, det, ran);
    const char *dname = det == FR_DETECTOR_SSD ? "ssd" : "tiny";
    if (ran[0] == FR_PRECISION_FP32 && ran[1] == FR_PRECISION_FP32) {
        printf("%s %s: this CPU runs it in fp32; skipped\n", fr_precision_name(p), dname);
        free_run(got);
        return true;
    }
    double mbox = 0, mbox_in = 0, mlm = 0, mlm_in = 0, ml2 = 0, sl2 = 0, mscore = 0, miou = 1;
    int faces = 0, moved = 0;
    /* Faces in a flat list for the pair check. */
    const struct fr_face **fa = NULL, **fb = NULL;
    const char **fname = NULL;
    for (int i = 0; i < photos.n; i++) {
        if (got[i].count != ref[i].count)
            fail_msg("%s %s: %s has %d faces, fp32 %d", fr_precision_name(p), dname, photos.names[i], got[i].count,
                     ref[i].count);
        int m[256];
        assert_true(ref[i].count <= 256);
        match(&ref[i], &got[i], m);
        /* Pixels of the detector's input: the photo's longer side maps to
         * 512 (SSD) or 416 (tiny) of them. */
        double side = fmax(photos.imgs[i]->width, photos.imgs[i]->height);
        double to_in = (det == FR_DETECTOR_SSD ? 512.0 : 416.0) / side;
        for (int f = 0; f < ref[i].count; f++) {
            const struct fr_face *a = &ref[i].faces[f], *b = &got[i].faces[m[f]];
            double bd = box_diff(a->box, b->box) * to_in;
            mbox = fmax(mbox, box_diff(a->box, b->box));
            if (bd < BOX_PX) {
                mbox_in = fmax(mbox_in, bd);
            } else {
                moved++;
                miou = fmin(miou, iou(a->box, b->box));
                printf("  %s face %d (score %.3f, %s %.3f): box moved %.2f px of the detector input, IoU %.3f "
                       "with fp32's box (listed)\n",
                       photos.names[i], f, a->score, fr_precision_name(p), b->score, bd, iou(a->box, b->box));
            }
            mscore = fmax(mscore, fabs(a->score - b->score));
            if (det == FR_DETECTOR_SSD) {
                /* Landmarks in pixels of the landmark net's 112 x 112 crop. */
                double crop = fmax(a->box[2], a->box[3]);
                for (int k = 0; k < FR_LANDMARKS; k++) {
                    double d = hypot(a->landmarks[k][0] - b->landmarks[k][0], a->landmarks[k][1] - b->landmarks[k][1]);
                    mlm = fmax(mlm, d);
                    mlm_in = fmax(mlm_in, d * 112.0 / crop);
                }
                double l2 = dist(a->descriptor, b->descriptor);
                ml2 = fmax(ml2, l2);
                sl2 += l2;
                fa = realloc(fa, sizeof(*fa) * (size_t)(faces + 1));
                fb = realloc(fb, sizeof(*fb) * (size_t)(faces + 1));
                fname = realloc(fname, sizeof(*fname) * (size_t)(faces + 1));
                fa[faces] = a, fb[faces] = b, fname[faces] = photos.names[i];
            }
            faces++;
        }
    }
    printf("%s %s (detector %s, recognition %s): %d photos, %d faces (equal counts), max box diff %.3g px of the "
           "photo, %.3g px of the detector input apart from %d listed faces (smallest IoU %.3f), max score diff %.3g",
           fr_precision_name(p), dname, fr_precision_name(ran[0]), fr_precision_name(ran[1]), photos.n, faces, mbox,
           mbox_in, moved, miou, mscore);
    if (det == FR_DETECTOR_SSD)
        printf(", landmark drift max %.3g px of the photo, %.3g px of the 112 px crop, descriptor L2 drift max %.4f "
               "mean %.4f",
               mlm, mlm_in, ml2, faces ? sl2 / faces : 0);
    printf("\n");
    bool ok = miou >= BOX_IOU;
    if (det == FR_DETECTOR_SSD) {
        ok = ok && mlm_in < LM_PX && ml2 < DESC_L2;
        int pairs = 0, flips = 0, excused = 0;
        double worst = 0;
        for (int x = 0; x < faces; x++)
            for (int y = x + 1; y < faces; y++, pairs++) {
                double d32 = dist(fa[x]->descriptor, fa[y]->descriptor), dl = dist(fb[x]->descriptor, fb[y]->descriptor);
                worst = fmax(worst, fabs(dl - d32));
                if ((d32 < TOL) == (dl < TOL)) continue;
                flips++;
                bool near = fabs(d32 - TOL) < MARGIN;
                excused += near;
                printf("  pair %s / %s: fp32 distance %.4f, %s %.4f: %s\n", fname[x], fname[y], d32,
                       fr_precision_name(p), dl, near ? "within the margin, excused" : "DECISION CHANGED");
            }
        printf("  %d pairs: %d decisions differ from fp32 (%d within %.2f of %.1f), largest distance change %.4f\n",
               pairs, flips, excused, MARGIN, TOL, worst);
        ok = ok && flips == excused;
    }
    free(fa);
    free(fb);
    free(fname);
    free_run(got);
    if (!ok) printf("  %s %s FAILS the gate\n", fr_precision_name(p), dname);
    return ok;
}

static void test_gate_ssd(void **state) {
    (void)state;
    enum fr_precision ran[2];
    struct fr_faces *ref = run(FR_PRECISION_FP32, FR_DETECTOR_SSD, ran);
    assert_int_equal(ran[0], FR_PRECISION_FP32);
    const enum fr_precision ps[3] = { FR_PRECISION_INT8, FR_PRECISION_BF16, FR_PRECISION_AUTO };
    bool ok = true;
    for (int k = 0; k < 3; k++) ok = gate(ps[k], FR_DETECTOR_SSD, ref) && ok;
    free_run(ref);
    assert_true(ok);
}

static void test_gate_tiny(void **state) {
    (void)state;
    enum fr_precision ran[2];
    struct fr_faces *ref = run(FR_PRECISION_FP32, FR_DETECTOR_TINY, ran);
    bool ok = gate(FR_PRECISION_BF16, FR_DETECTOR_TINY, ref);
    free_run(ref);
    assert_true(ok);
}

/* The policy table against made-up CPUs; needs no particular machine. */
static void test_resolve(void **state) {
    (void)state;
    struct fr__cpu_caps all = { .bf16 = true, .vnni = true }, vnni = { .vnni = true }, none = { 0 };
    snprintf(all.isa, sizeof all.isa, "test");
    snprintf(vnni.isa, sizeof vnni.isa, "test");
    snprintf(none.isa, sizeof none.isa, "test");
    assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_AUTO, FR_NET_SSD, &all), FR_PRECISION_INT8);
    assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_AUTO, FR_NET_RECOGNITION, &all), FR_PRECISION_BF16);
    assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_AUTO, FR_NET_SSD, &vnni), FR_PRECISION_INT8);
    assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_AUTO, FR_NET_RECOGNITION, &vnni), FR_PRECISION_FP32);
    assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_INT8, FR_NET_RECOGNITION, &all), FR_PRECISION_FP32);
    assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_BF16, FR_NET_LANDMARK, &all), FR_PRECISION_BF16);
    for (int k = 0; k < FR_NET_COUNT; k++) {
        assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_AUTO, k, &none), FR_PRECISION_FP32);
        assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_BF16, k, &none), FR_PRECISION_FP32);
        assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_INT8, k, &none), FR_PRECISION_FP32);
        assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_FP32, k, &all), FR_PRECISION_FP32);
        assert_int_equal(fr__cpu_resolve_precision(FR_PRECISION_FP16, k, &all), FR_PRECISION_FP32);
    }
    enum fr_precision p;
    assert_true(fr_precision_parse("bf16", &p) && p == FR_PRECISION_BF16);
    assert_true(fr_precision_parse("auto", &p) && p == FR_PRECISION_AUTO);
    assert_false(fr_precision_parse("int4", &p));
    /* An unknown value is refused, not taken for fp32. */
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = FR_DEVICE_CPU;
    bp.precision = (enum fr_precision)99;
    struct fr_backend *be;
    char err[256] = "";
    assert_int_equal(fr_backend_new(&bp, &be, err, sizeof err), FR_ERR_INVALID);
    assert_non_null(strstr(err, "precision"));
}

/* Lower precision, smaller activations: the arena the scheduler budgets
 * for (fr_net_plan_bytes) shrinks with it. */
static void test_plan_bytes(void **state) {
    (void)state;
    size_t bytes[3];
    const enum fr_precision ps[3] = { FR_PRECISION_FP32, FR_PRECISION_BF16, FR_PRECISION_INT8 };
    enum fr_precision ran[3];
    for (int k = 0; k < 3; k++) {
        struct fr_backend *be = backend(ps[k]);
        struct fr_net_params np = fr_net_default_params(FR_NET_SSD);
        np.models_dir = fr_test_models_dir();
        np.max_batch = 4;
        struct fr_net *net;
        char err[512];
        if (fr_net_new(be, &np, &net, err, sizeof err) != FR_OK) fail_msg("fr_net_new: %s", err);
        bytes[k] = fr_net_plan_bytes(net, 4);
        ran[k] = fr_net_precision(net);
        fr_net_free(net);
        fr_backend_free(be);
    }
    printf("ssd arena for batch 4: fp32 %.1f MiB, %s %.1f MiB, %s %.1f MiB\n", bytes[0] / 1048576.0,
           fr_precision_name(ran[1]), bytes[1] / 1048576.0, fr_precision_name(ran[2]), bytes[2] / 1048576.0);
    if (ran[1] == FR_PRECISION_BF16) assert_true(bytes[1] * 10 < bytes[0] * 6);
    if (ran[2] == FR_PRECISION_INT8) assert_true(bytes[2] * 10 < bytes[0] * 4);
}

/* The scheduler sizes its batches from the compiled nets' arenas, so under
 * the same device_memory_limit a lower precision gets larger batches. */
static int sched_limit(enum fr_precision p, const char *stage, char *ran, size_t ranlen) {
    struct fr_sched_params sp = fr_sched_default_params();
    sp.models_dir = fr_test_models_dir();
    sp.device = FR_DEVICE_CPU;
    sp.precision = p;
    sp.device_memory_limit = (size_t)400 << 20;
    sp.warmup = false;
    struct fr_sched *s;
    char err[512];
    if (fr_sched_new(&sp, &s, err, sizeof err) != FR_OK) fail_msg("fr_sched_new: %s", err);
    struct fr_sched_status st;
    assert_int_equal(fr_sched_get_status(s, &st), FR_OK);
    int limit = -1;
    for (int k = 0; k < FR_STAGE_COUNT; k++)
        if (!strcmp(fr_stage_name((enum fr_stage)k), stage)) {
            limit = st.batches[k].limit;
            snprintf(ran, ranlen, "%s", fr_precision_name(st.precision[k]));
        }
    assert_true(limit > 0);
    fr_sched_status_clear(&st);
    fr_sched_free(s);
    return limit;
}

static void test_sched_batches(void **state) {
    (void)state;
    char r32[16], rlo[16];
    int b32 = sched_limit(FR_PRECISION_FP32, "detect", r32, sizeof r32);
    int blo = sched_limit(FR_PRECISION_AUTO, "detect", rlo, sizeof rlo);
    printf("device_memory_limit 400 MiB: detector batch limit %d in %s, %d in %s\n", b32, r32, blo, rlo);
    assert_string_equal(r32, "fp32");
    if (strcmp(rlo, "fp32") != 0) assert_true(blo > b32);
}

/* ---- --fallback: a CPU without bf16 and VNNI ---- */

static char logged[4096];

static void capture(enum fr_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof logged - n, "%s\n", msg);
}

static void test_fallback(void **state) {
    (void)state;
    struct fr__cpu_caps caps = fr__cpu_caps();
    printf("oneDNN ISA: %s (ONEDNN_MAX_CPU_ISA=%s)\n", caps.isa, getenv("ONEDNN_MAX_CPU_ISA"));
    assert_false(caps.bf16);
    assert_false(caps.vnni);
    fr_log_set(capture, NULL);
    fr_log_set_level(FR_LOG_INFO);
    /* Every net resolves to fp32, with one log line per lacking feature. */
    const enum fr_precision ps[4] = { FR_PRECISION_FP32, FR_PRECISION_BF16, FR_PRECISION_INT8, FR_PRECISION_AUTO };
    for (int k = 0; k < 4; k++) {
        struct fr_backend *be = backend(ps[k]);
        for (int n = 0; n < FR_NET_COUNT; n++) assert_int_equal(fr__cpu_net_precision(be, n), FR_PRECISION_FP32);
        fr_backend_free(be);
    }
    assert_non_null(strstr(logged, "precision bf16"));
    assert_non_null(strstr(logged, "precision int8"));
    /* And a net built with `auto` there runs, with fp32's results. */
    float *out[2] = { NULL, NULL };
    for (int k = 0; k < 2; k++) {
        struct fr_backend *be = backend(k ? FR_PRECISION_AUTO : FR_PRECISION_FP32);
        struct fr_net_params np = fr_net_default_params(FR_NET_LANDMARK);
        np.models_dir = fr_test_models_dir();
        np.max_batch = 1;
        struct fr_net *net;
        char err[512];
        if (fr_net_new(be, &np, &net, err, sizeof err) != FR_OK) fail_msg("fr_net_new: %s", err);
        assert_int_equal(fr_net_precision(net), FR_PRECISION_FP32);
        int32_t h, w, c;
        fr_net_input_shape(net, &h, &w, &c);
        float *in = malloc(sizeof(float) * (size_t)h * w * c);
        for (size_t i = 0; i < (size_t)h * w * c; i++) in[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        out[k] = malloc(sizeof(float) * 136);
        assert_int_equal(fr_net_forward(net, in, 1, &out[k]), FR_OK);
        free(in);
        fr_net_free(net);
        fr_backend_free(be);
    }
    assert_memory_equal(out[0], out[1], sizeof(float) * 136);
    free(out[0]);
    free(out[1]);
    printf("log:\n%s", logged);
    fr_log_set(NULL, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--fallback")) {
        const struct CMUnitTest tests[] = { cmocka_unit_test(test_fallback) };
        return cmocka_run_group_tests_name("lowprec-fallback", tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_plan_bytes),
        cmocka_unit_test(test_sched_batches),
        cmocka_unit_test(test_gate_ssd),
        cmocka_unit_test(test_gate_tiny),
    };
    return cmocka_run_group_tests_name("lowprec", tests, load_photos, free_photos);
}
