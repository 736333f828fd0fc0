/* facerec against face-api: the golden files in tests/golden were written by
 * tests/reference/reference.js (face-api 1.7.15 under tfjs-backend-wasm) from
 * pixels decoded by our own decoder. Acceptance tolerances (issue 2):
 * descriptor elements 1e-4 (L2 1e-3), landmarks 0.05 px, boxes 0.5 px,
 * scores 1e-4, the same number of faces. */
#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "face/face-impl.h"
#include "test-util.h"

static cJSON *load_json(const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/golden/%s", FR_SOURCE_DIR, name);
    char *s = fr_test_read_file(path);
    if (!s) fail_msg("%s: missing (make golden)", path);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static double num(const cJSON *a, int i) { return cJSON_GetArrayItem(a, i)->valuedouble; }

/* The generator documented in nets.json. */
static struct fr_image *synthetic(int32_t w, int32_t h, int64_t *sum) {
    struct fr_image *img = fr_image_new(w, h);
    *sum = 0;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++)
            for (int32_t c = 0; c < 3; c++) {
                uint8_t v = (uint8_t)((x * 7 + y * 13 + c * 50 + ((x * y) % 31) * 3) % 256);
                img->data[(size_t)y * img->stride + (size_t)x * 3 + c] = v;
                *sum += v;
            }
    return img;
}

struct ctx {
    struct fr_backend *be;
    struct fr_facenet *ssd, *tiny;
};

static int setup(void **state) {
    static struct ctx c;
    char err[512];
    if (fr_backend_new(NULL, &c.be, err, sizeof(err)) != FR_OK) return -1;
    struct fr_facenet_params p = fr_facenet_default_params();
    p.models_dir = fr_test_models_dir();
    if (fr_facenet_new(c.be, &p, &c.ssd, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    p.detector = FR_DETECTOR_TINY;
    p.landmarks = p.descriptors = false;
    if (fr_facenet_new(c.be, &p, &c.tiny, err, sizeof(err)) != FR_OK) return -1;
    *state = &c;
    return 0;
}

static int teardown(void **state) {
    struct ctx *c = *state;
    fr_facenet_free(c->ssd);
    fr_facenet_free(c->tiny);
    fr_backend_free(c->be);
    return 0;
}

static double maxdiff(const float *got, const cJSON *want, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(got[i] - num(want, i)));
    return m;
}

static void test_nets_alone(void **state) {
    struct ctx *c = *state;
    cJSON *j = load_json("nets.json");
    static const char *keys[4] = { "ssd", "tiny", "landmark", "recognition" };
    for (int k = 0; k < 4; k++) {
        const cJSON *cs;
        cJSON_ArrayForEach(cs, cJSON_GetObjectItem(j, keys[k])) {
            int32_t w = cJSON_GetObjectItem(cs, "width")->valueint, h = cJSON_GetObjectItem(cs, "height")->valueint;
            int64_t sum;
            struct fr_image *img = synthetic(w, h, &sum);
            assert_true((double)sum == cJSON_GetObjectItem(cs, "input_sum")->valuedouble);
            struct fr_net *net = fr_facenet_net(k == 1 ? c->tiny : c->ssd, (enum fr_net_kind)k);
            int32_t ih, iw, ic;
            fr_net_input_shape(net, &ih, &iw, &ic);
            float *in = malloc(sizeof(float) * (size_t)ih * iw * 3);
            fr__face_to_input(img, 0, 0, w, h, k >= 2, ih, in);
            if (k == 0) fr__norm_ssd(in, (size_t)ih * iw * 3);
            else fr__norm_mean(in, (size_t)ih * iw, k == 1 ? fr__mean_rgb_tiny : fr__mean_rgb_face);
            float *outs[8];
            for (int32_t o = 0; o < fr_net_output_count(net); o++) {
                int32_t oh, ow, oc;
                fr_net_output_shape(net, o, &oh, &ow, &oc);
                outs[o] = malloc(sizeof(float) * (size_t)oh * ow * oc);
            }
            assert_int_equal(fr_net_forward(net, in, 1, outs), FR_OK);
            if (k == 0) {
                int64_t na;
                fr_net_anchors(net, &na);
                float *boxes = malloc(sizeof(float) * 4 * (size_t)na), *scores = malloc(sizeof(float) * (size_t)na);
                fr__ssd_decode(net, outs, 0, boxes, scores);
                const cJSON *gb = cJSON_GetObjectItem(cs, "boxes"), *gs = cJSON_GetObjectItem(cs, "scores");
                assert_int_equal(cJSON_GetArraySize(gb), na);
                double mb = 0;
                for (int i = 0; i < na; i++) mb = fmax(mb, maxdiff(boxes + 4 * i, cJSON_GetArrayItem(gb, i), 4));
                double ms = maxdiff(scores, gs, (int)na);
                printf("ssd %dx%d: %lld anchors, max box diff %.3g (relative; 0.5 px = %.3g), max score diff %.3g\n",
                       w, h, (long long)na, mb, 0.5 / 512, ms);
                assert_true(mb * 512 < 0.5);
                assert_true(ms < 1e-4);
                free(boxes);
                free(scores);
            } else if (k == 1) {
                const cJSON *go = cJSON_GetObjectItem(cs, "output");
                int n = cJSON_GetArraySize(go);
                double m = maxdiff(outs[0], go, n);
                printf("tiny %dx%d: %d outputs, max diff %.3g\n", w, h, n, m);
                assert_true(m < 1e-3);
            } else if (k == 2) {
                float rel[136];
                fr__landmark_postprocess(outs[0], w, h, rel);
                double m = maxdiff(rel, cJSON_GetObjectItem(cs, "output"), 136);
                printf("landmark %dx%d: max diff %.3g (relative; in pixels of this crop %.3g)\n", w, h, m,
                       m * (w > h ? w : h));
                assert_true(m * (w > h ? w : h) < 0.05);
            } else {
                const cJSON *go = cJSON_GetObjectItem(cs, "output");
                double m = maxdiff(outs[0], go, 128), l2 = 0;
                for (int i = 0; i < 128; i++) l2 += pow(outs[0][i] - num(go, i), 2);
                printf("recognition %dx%d: max element diff %.3g, L2 %.3g\n", w, h, m, sqrt(l2));
                assert_true(m < 1e-4);
                assert_true(sqrt(l2) < 1e-3);
            }
            for (int32_t o = 0; o < fr_net_output_count(net); o++) free(outs[o]);
            free(in);
            fr_image_free(img);
        }
    }
    cJSON_Delete(j);
}

static void image_path(const char *file, char *out, size_t n) {
    if (!strncmp(file, "faceapi_demo/", 13)) snprintf(out, n, "%s/samples/%s", fr_test_models_dir(), file + 13);
    else snprintf(out, n, "%s/%s", fr_test_data_dir(), file);
}

static double box_diff(const float *got, const cJSON *want) {
    double m = 0;
    for (int i = 0; i < 4; i++) m = fmax(m, fabs(got[i] - num(want, i)));
    return m;
}

static void test_pipeline(void **state) {
    struct ctx *c = *state;
    cJSON *j = load_json("pipeline.json");
    const cJSON *images = cJSON_GetObjectItem(j, "images");
    int n = cJSON_GetArraySize(images);
    assert_int_equal(n, 38);
    struct fr_image **imgs = calloc((size_t)n, sizeof(*imgs));
    const cJSON **want = calloc((size_t)n, sizeof(*want));
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, images) {
        char path[1024], err[512];
        image_path(cJSON_GetObjectItem(it, "file")->valuestring, path, sizeof(path));
        /* Full resolution: face-api saw every pixel of the original. */
        struct fr_decode_params dp = fr_decode_default_params();
        dp.max_image_size = 0;
        if (fr_image_load(path, &dp, &imgs[i], err, sizeof(err)) != FR_OK) fail_msg("%s", err);
        assert_int_equal(imgs[i]->width, cJSON_GetObjectItem(it, "width")->valueint);
        assert_int_equal(imgs[i]->height, cJSON_GetObjectItem(it, "height")->valueint);
        want[i++] = it;
    }
    struct fr_faces *res = calloc((size_t)n, sizeof(*res)), *tres = calloc((size_t)n, sizeof(*tres));
    char err[512];
    assert_int_equal(fr_facenet_process(c->ssd, (const struct fr_image *const *)imgs, n, res, err, sizeof(err)), FR_OK);
    assert_int_equal(fr_facenet_process(c->tiny, (const struct fr_image *const *)imgs, n, tres, err, sizeof(err)), FR_OK);
    double mbox = 0, mscore = 0, mlm = 0, mdesc = 0, ml2 = 0, malign = 0, tbox = 0, tscore = 0;
    int faces = 0, tfaces = 0;
    for (i = 0; i < n; i++) {
        const cJSON *ws = cJSON_GetObjectItem(want[i], "ssd");
        const char *name = cJSON_GetObjectItem(want[i], "file")->valuestring;
        if (res[i].count != cJSON_GetArraySize(ws))
            fail_msg("%s: %d faces, face-api found %d", name, res[i].count, cJSON_GetArraySize(ws));
        for (int f = 0; f < res[i].count; f++, faces++) {
            const struct fr_face *g = &res[i].faces[f];
            const cJSON *w = cJSON_GetArrayItem(ws, f);
            mbox = fmax(mbox, box_diff(g->box, cJSON_GetObjectItem(w, "box")));
            malign = fmax(malign, box_diff(g->aligned_box, cJSON_GetObjectItem(w, "aligned_box")));
            mscore = fmax(mscore, fabs(g->score - cJSON_GetObjectItem(w, "score")->valuedouble));
            const cJSON *lm = cJSON_GetObjectItem(w, "landmarks"), *d = cJSON_GetObjectItem(w, "descriptor");
            assert_true(g->has_landmarks && g->has_descriptor);
            for (int p = 0; p < 68; p++)
                for (int k = 0; k < 2; k++)
                    mlm = fmax(mlm, fabs(g->landmarks[p][k] - num(cJSON_GetArrayItem(lm, p), k)));
            double l2 = 0;
            for (int k = 0; k < 128; k++) {
                double e = fabs(g->descriptor[k] - num(d, k));
                mdesc = fmax(mdesc, e);
                l2 += e * e;
            }
            ml2 = fmax(ml2, sqrt(l2));
        }
        const cJSON *wt = cJSON_GetObjectItem(want[i], "tiny");
        if (tres[i].count != cJSON_GetArraySize(wt))
            fail_msg("%s: tiny found %d faces, face-api %d", name, tres[i].count, cJSON_GetArraySize(wt));
        for (int f = 0; f < tres[i].count; f++, tfaces++) {
            const cJSON *w = cJSON_GetArrayItem(wt, f);
            tbox = fmax(tbox, box_diff(tres[i].faces[f].box, cJSON_GetObjectItem(w, "box")));
            tscore = fmax(tscore, fabs(tres[i].faces[f].score - cJSON_GetObjectItem(w, "score")->valuedouble));
        }
    }
    printf("ssd pipeline, %d images, %d faces: max box diff %.3g px, aligned box %.3g px, score %.3g, "
           "landmarks %.3g px, descriptor element %.3g, descriptor L2 %.3g\n",
           n, faces, mbox, malign, mscore, mlm, mdesc, ml2);
    printf("tiny detector, %d faces: max box diff %.3g px, score %.3g\n", tfaces, tbox, tscore);
    assert_true(mbox < 0.5 && malign < 0.5 && tbox < 0.5);
    assert_true(mscore < 1e-4 && tscore < 1e-4);
    assert_true(mlm < 0.05);
    assert_true(mdesc < 1e-4 && ml2 < 1e-3);
    for (i = 0; i < n; i++) {
        fr_faces_clear(&res[i]);
        fr_faces_clear(&tres[i]);
        fr_image_free(imgs[i]);
    }
    free(res);
    free(tres);
    free(imgs);
    free(want);
    cJSON_Delete(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nets_alone),
        cmocka_unit_test(test_pipeline),
    };
    return cmocka_run_group_tests_name("reference", tests, setup, teardown);
}
