/* The pipeline, with tests ported from face_recognition's own suite
 * (test_face_recognition.py) plus ours, and the CLI's JSON against the
 * reference harness. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/pipeline.h"
#include "facerec/search.h"
#include "test-util.h"

static struct fr_pipeline *g_pl;

static int setup(void **state) {
    (void)state;
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    char err[512];
    if (fr_pipeline_new(&pp, &g_pl, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fr_pipeline_free(g_pl);
    return 0;
}

struct collected {
    int32_t n;
    enum fr_status st[16];
    int32_t index[16];
    struct fr_faces faces[16];
};

static void collect(const struct fr_pipeline_result *r, void *user) {
    struct collected *c = user;
    c->st[c->n] = r->status;
    c->index[c->n] = r->index;
    if (r->status == FR_OK) {
        /* Results are only valid during the callback: copy. */
        struct fr_faces *f = &c->faces[c->n];
        *f = *r->faces;
        f->faces = malloc(sizeof(struct fr_face) * (size_t)(f->count ? f->count : 1));
        if (f->count) memcpy(f->faces, r->faces->faces, sizeof(struct fr_face) * (size_t)f->count);
    }
    c->n++;
}

static void free_collected(struct collected *c) {
    for (int32_t i = 0; i < c->n; i++) free(c->faces[i].faces);
}

static void run_files(struct fr_pipeline *pl, const char *const *rel, int32_t n, struct collected *c) {
    char paths[16][1024];
    const char *p[16];
    for (int32_t i = 0; i < n; i++) {
        if (rel[i][0] == '/') snprintf(paths[i], sizeof(paths[i]), "%s", rel[i]);
        else snprintf(paths[i], sizeof(paths[i]), "%s/%s", fr_test_data_dir(), rel[i]);
        p[i] = paths[i];
    }
    memset(c, 0, sizeof(*c));
    assert_int_equal(fr_pipeline_run(pl, p, n, collect, c), FR_OK);
    assert_int_equal(c->n, n);
}

static double iou(const float *a, const float *b) {
    double x0 = fmax(a[0], b[0]), y0 = fmax(a[1], b[1]);
    double x1 = fmin(a[0] + a[2], b[0] + b[2]), y1 = fmin(a[1] + a[3], b[1] + b[3]);
    double inter = fmax(0, x1 - x0) * fmax(0, y1 - y0);
    return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

static void test_face_locations(void **state) {
    (void)state;
    const char *files[] = { "tests/test_images/obama.jpg", "tests/test_images/obama_partial_face.jpg",
                            "tests/test_images/obama_partial_face2.jpg", "tests/test_images/32bit.png",
                            "examples/two_people.jpg" };
    const int32_t want[] = { 1, 1, 1, 1, 2 };
    struct collected c;
    run_files(g_pl, files, 5, &c);
    for (int32_t i = 0; i < 5; i++) {
        assert_int_equal(c.st[i], FR_OK);
        assert_int_equal(c.index[i], i);
        if (c.faces[i].count != want[i]) fail_msg("%s: %d faces, expected %d", files[i], c.faces[i].count, want[i]);
    }
    /* face_recognition's box for obama.jpg: top 142, right 617, bottom 409, left 349. */
    const float fr_box[4] = { 349, 142, 617 - 349, 409 - 142 };
    double o = iou(c.faces[0].faces[0].box, fr_box);
    printf("obama.jpg: IoU with face_recognition's box %.3f\n", o);
    assert_true(o >= 0.5);
    assert_int_equal(c.faces[0].width, 910);
    assert_int_equal(c.faces[0].height, 1137);
    assert_int_equal(c.faces[3].width, 626);
    assert_int_equal(c.faces[3].height, 1200);
    free_collected(&c);
}

static void test_distances(void **state) {
    (void)state;
    const char *files[] = { "tests/test_images/obama.jpg", "tests/test_images/obama2.jpg",
                            "tests/test_images/obama3.jpg", "tests/test_images/biden.jpg" };
    struct collected c;
    run_files(g_pl, files, 4, &c);
    for (int32_t i = 0; i < 4; i++) {
        assert_int_equal(c.faces[i].count, 1);
        assert_true(c.faces[i].faces[0].has_descriptor);
    }
    for (int32_t i = 0; i < 3; i++) {
        for (int32_t j = i + 1; j < 3; j++) {
            float d = fr_descriptor_distance(c.faces[i].faces[0].descriptor, c.faces[j].faces[0].descriptor);
            printf("%s vs %s: %.3f\n", files[i], files[j], d);
            assert_true(d < FR_DEFAULT_TOLERANCE);
            assert_true(fr_similarity(d) > 0.5f);
        }
        float db = fr_descriptor_distance(c.faces[i].faces[0].descriptor, c.faces[3].faces[0].descriptor);
        printf("%s vs biden: %.3f\n", files[i], db);
        assert_true(db > FR_DEFAULT_TOLERANCE);
        assert_true(fr_similarity(db) < 0.5f);
    }
    free_collected(&c);
}

static void test_similarity(void **state) {
    (void)state;
    assert_true(fabsf(fr_similarity(FR_DEFAULT_TOLERANCE) - 0.5f) < 1e-6f);
    assert_true(fr_similarity(0.0f) > 0.99f);
    assert_true(fr_similarity(1.5f) < 0.01f);
    for (float d = 0; d < 2; d += 0.05f) assert_true(fr_similarity(d) >= fr_similarity(d + 0.05f));
    assert_true(fr_similarity(NAN) == 0.0f);
}

static void test_errors_in_order(void **state) {
    (void)state;
    char bad[256];
    snprintf(bad, sizeof(bad), "/tmp/fr-test-pipeline-%d.jpg", (int)getpid());
    FILE *f = fopen(bad, "wb");
    fputs("\xff\xd8\xff garbage that is not a jpeg", f);
    fclose(f);
    const char *files[] = { "examples/obama.jpg", "/nonexistent/x.jpg", bad, "examples/biden.jpg" };
    struct collected c;
    run_files(g_pl, files, 4, &c);
    for (int32_t i = 0; i < 4; i++) assert_int_equal(c.index[i], i);
    assert_int_equal(c.st[0], FR_OK);
    assert_int_equal(c.st[1], FR_ERR_IO);
    assert_int_equal(c.st[2], FR_ERR_IMAGE);
    assert_int_equal(c.st[3], FR_OK);
    assert_int_equal(c.faces[3].count, 1);
    free_collected(&c);
    unlink(bad);
}

static void test_options(void **state) {
    (void)state;
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    pp.max_faces = 1;
    pp.embeddings = false;
    pp.landmarks = false;
    struct fr_pipeline *pl;
    assert_int_equal(fr_pipeline_new(&pp, &pl, NULL, 0), FR_OK);
    const char *files[] = { "examples/two_people.jpg" };
    struct collected c;
    run_files(pl, files, 1, &c);
    assert_int_equal(c.faces[0].count, 1);
    assert_false(c.faces[0].faces[0].has_landmarks);
    assert_false(c.faces[0].faces[0].has_descriptor);
    free_collected(&c);
    fr_pipeline_free(pl);
    pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    pp.min_face_size = 300; /* both faces are under 300 px in either detector */
    pp.detector = FR_DETECTOR_TINY;
    assert_int_equal(fr_pipeline_new(&pp, &pl, NULL, 0), FR_OK);
    run_files(pl, files, 1, &c);
    assert_int_equal(c.faces[0].count, 0);
    free_collected(&c);
    fr_pipeline_free(pl);
}

static void test_downscaled_coordinates(void **state) {
    (void)state;
    /* obama3.jpg is 1434x2333: by default it is decoded at 2048 px; the
     * boxes must still come back in original pixels. */
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    pp.max_image_size = 0;
    struct fr_pipeline *full;
    assert_int_equal(fr_pipeline_new(&pp, &full, NULL, 0), FR_OK);
    const char *files[] = { "tests/test_images/obama3.jpg" };
    struct collected a, b;
    run_files(g_pl, files, 1, &a);
    run_files(full, files, 1, &b);
    assert_int_equal(a.faces[0].width, 1434);
    assert_int_equal(a.faces[0].height, 2333);
    assert_int_equal(a.faces[0].count, 1);
    assert_int_equal(b.faces[0].count, 1);
    double o = iou(a.faces[0].faces[0].box, b.faces[0].faces[0].box);
    float d = fr_descriptor_distance(a.faces[0].faces[0].descriptor, b.faces[0].faces[0].descriptor);
    printf("obama3 at 2048 px vs full size: box IoU %.3f, descriptor distance %.3f\n", o, d);
    assert_true(o > 0.9);
    assert_true(d < 0.1f);
    free_collected(&a);
    free_collected(&b);
    fr_pipeline_free(full);
}

/* `facerec embed --json` on the PNG test images equals face-api's output. */
static void test_cli_json_matches_reference(void **state) {
    (void)state;
    char *golden_text;
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/golden/pipeline.json", FR_SOURCE_DIR);
    assert_non_null(golden_text = fr_test_read_file(path));
    cJSON *golden = cJSON_Parse(golden_text);
    free(golden_text);
    const cJSON *images = cJSON_GetObjectItem(golden, "images");
    const char *pngs[] = { "examples/alex-lacamoire.png", "examples/lin-manuel-miranda.png", "tests/test_images/32bit.png" };
    char cmd[4096];
    int k = snprintf(cmd, sizeof(cmd), "%s/facerec embed --json --quiet --max-image-size 0 --models %s", FR_BINARY_DIR,
                     fr_test_models_dir());
    for (int i = 0; i < 3; i++) k += snprintf(cmd + k, sizeof(cmd) - (size_t)k, " %s/%s", fr_test_data_dir(), pngs[i]);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    double mbox = 0, mscore = 0, mlm = 0, memb = 0;
    while (getline(&line, &cap, p) > 0) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const char *file = cJSON_GetObjectItem(j, "file")->valuestring;
        const cJSON *want = NULL, *it;
        cJSON_ArrayForEach(it, images) {
            const char *gf = cJSON_GetObjectItem(it, "file")->valuestring;
            if (strlen(file) >= strlen(gf) && !strcmp(file + strlen(file) - strlen(gf), gf)) want = it;
        }
        assert_non_null(want);
        const cJSON *gf = cJSON_GetObjectItem(want, "ssd"), *faces = cJSON_GetObjectItem(j, "faces");
        assert_int_equal(cJSON_GetArraySize(faces), cJSON_GetArraySize(gf));
        assert_int_equal(cJSON_GetObjectItem(j, "width")->valueint, cJSON_GetObjectItem(want, "width")->valueint);
        for (int f = 0; f < cJSON_GetArraySize(faces); f++) {
            const cJSON *a = cJSON_GetArrayItem(faces, f), *b = cJSON_GetArrayItem(gf, f);
            for (int q = 0; q < 4; q++)
                mbox = fmax(mbox, fabs(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "box"), q)->valuedouble -
                                       cJSON_GetArrayItem(cJSON_GetObjectItem(b, "box"), q)->valuedouble));
            mscore = fmax(mscore, fabs(cJSON_GetObjectItem(a, "score")->valuedouble -
                                       cJSON_GetObjectItem(b, "score")->valuedouble));
            for (int q = 0; q < 68; q++)
                for (int r = 0; r < 2; r++)
                    mlm = fmax(mlm, fabs(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "landmarks"), q), r)
                                             ->valuedouble -
                                         cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "landmarks"), q), r)
                                             ->valuedouble));
            for (int q = 0; q < 128; q++)
                memb = fmax(memb, fabs(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "embedding"), q)->valuedouble -
                                       cJSON_GetArrayItem(cJSON_GetObjectItem(b, "descriptor"), q)->valuedouble));
        }
        cJSON_Delete(j);
        lines++;
    }
    free(line);
    assert_int_equal(pclose(p), 0);
    assert_int_equal(lines, 3);
    printf("CLI JSON vs face-api on the PNGs: box %.3g px, score %.3g, landmarks %.3g px, embedding %.3g\n", mbox,
           mscore, mlm, memb);
    assert_true(mbox < 0.5 && mscore < 1e-4 && mlm < 0.05 && memb < 1e-4);
    cJSON_Delete(golden);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_face_locations),     cmocka_unit_test(test_distances),
        cmocka_unit_test(test_similarity),         cmocka_unit_test(test_errors_in_order),
        cmocka_unit_test(test_options),            cmocka_unit_test(test_downscaled_coordinates),
        cmocka_unit_test(test_cli_json_matches_reference),
    };
    return cmocka_run_group_tests_name("pipeline", tests, setup, teardown);
}
