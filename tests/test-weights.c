#define _GNU_SOURCE
/* Weights loader and bad model files: every failure is a status and a
 * message naming the file, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/nn.h"
#include "facerec/weights.h"
#include "test-util.h"

static char g_tmp[256];

static void copy_file(const char *from, const char *to, long truncate_to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[65536];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof(buf), a)) > 0) {
        if (truncate_to >= 0 && total + (long)n > truncate_to) n = (size_t)(truncate_to - total);
        fwrite(buf, 1, n, b);
        total += (long)n;
        if (truncate_to >= 0 && total >= truncate_to) break;
    }
    fclose(a);
    fclose(b);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path) {
    char *s = fr_test_read_file(path);
    assert_non_null(s);
    return s;
}

static int setup(void **state) {
    (void)state;
    return fr_test_mkdtemp(g_tmp, sizeof(g_tmp), "test-weights");
}

static int teardown(void **state) {
    (void)state;
    return fr_test_rm_rf(g_tmp);
}

static void test_load_all_models(void **state) {
    (void)state;
    for (int k = 0; k < FR_NET_COUNT; k++) {
        struct fr_weights *w = NULL;
        char err[512] = "";
        enum fr_status st = fr_weights_load(fr_test_models_dir(), fr_net_model_name(k), &w, err, sizeof(err));
        if (st != FR_OK) fail_msg("%s", err);
        assert_true(fr_weights_count(w) > 10);
        fr_weights_free(w);
    }
    /* Known values: the recognition net's fc is [256, 128], dequantized. */
    struct fr_weights *w;
    assert_int_equal(fr_weights_load(fr_test_models_dir(), "face_recognition_model", &w, NULL, 0), FR_OK);
    const struct fr_weight_tensor *t;
    int64_t shape[2] = { 256, 128 };
    assert_int_equal(fr_weights_get(w, "fc", 2, shape, &t, NULL, 0), FR_OK);
    assert_int_equal(t->numel, 256 * 128);
    char err[256];
    int64_t bad[2] = { 128, 256 };
    assert_int_equal(fr_weights_get(w, "fc", 2, bad, &t, err, sizeof(err)), FR_ERR_SHAPE);
    assert_non_null(strstr(err, "[256,128]"));
    assert_int_equal(fr_weights_get(w, "nope", 1, NULL, &t, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "nope"));
    fr_weights_free(w);
    fr_weights_free(NULL);
}

static void test_missing_dir(void **state) {
    (void)state;
    struct fr_weights *w = (struct fr_weights *)1;
    char err[512];
    assert_int_equal(fr_weights_load("/nonexistent/models", "face_recognition_model", &w, err, sizeof(err)),
                     FR_ERR_MODEL);
    assert_null(w);
    assert_non_null(strstr(err, "/nonexistent/models/face_recognition_model-weights_manifest.json"));
    assert_non_null(strstr(err, "fetch-models"));
    /* and through the net constructor */
    struct fr_backend *be;
    assert_int_equal(fr_backend_new(NULL, &be, err, sizeof(err)), FR_OK);
    struct fr_net_params np = fr_net_default_params(FR_NET_LANDMARK);
    np.models_dir = "/nonexistent/models";
    struct fr_net *net;
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "face_landmark_68_model"));
    assert_int_equal(fr_backend_memory_used(be), 0);
    fr_backend_free(be);
}

static void test_truncated_bin(void **state) {
    (void)state;
    char from[512], to[512], err[512];
    const char *m = "face_landmark_68_model";
    snprintf(from, sizeof(from), "%s/%s-weights_manifest.json", fr_test_models_dir(), m);
    snprintf(to, sizeof(to), "%s/%s-weights_manifest.json", g_tmp, m);
    copy_file(from, to, -1);
    snprintf(from, sizeof(from), "%s/%s.bin", fr_test_models_dir(), m);
    snprintf(to, sizeof(to), "%s/%s.bin", g_tmp, m);
    copy_file(from, to, 100000);
    struct fr_weights *w;
    assert_int_equal(fr_weights_load(g_tmp, m, &w, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "face_landmark_68_model.bin"));
    assert_non_null(strstr(err, "truncated"));
    /* Empty shard, and a shard that is missing altogether. */
    copy_file(from, to, 0);
    assert_int_equal(fr_weights_load(g_tmp, m, &w, err, sizeof(err)), FR_ERR_MODEL);
    unlink(to);
    assert_int_equal(fr_weights_load(g_tmp, m, &w, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "face_landmark_68_model.bin"));
}

static void replace_once(char *s, const char *what, const char *with) {
    char *p = strstr(s, what);
    assert_non_null(p);
    assert_int_equal(strlen(what), strlen(with));
    memcpy(p, with, strlen(with));
}

static void test_wrong_shape(void **state) {
    (void)state;
    const char *m = "face_recognition_model";
    char from[512], to[512], err[512];
    snprintf(from, sizeof(from), "%s/%s.bin", fr_test_models_dir(), m);
    snprintf(to, sizeof(to), "%s/%s.bin", g_tmp, m);
    copy_file(from, to, -1);
    snprintf(from, sizeof(from), "%s/%s-weights_manifest.json", fr_test_models_dir(), m);
    snprintf(to, sizeof(to), "%s/%s-weights_manifest.json", g_tmp, m);
    char *json = read_text(from);
    /* Same element count, different shape: the loader accepts the bytes,
     * the net builder must refuse the layer. */
    replace_once(json, "[7,7,3,32]", "[7,7,32,3]");
    write_text(to, json);
    struct fr_backend *be;
    assert_int_equal(fr_backend_new(NULL, &be, err, sizeof(err)), FR_OK);
    struct fr_net_params np = fr_net_default_params(FR_NET_RECOGNITION);
    np.models_dir = g_tmp;
    struct fr_net *net;
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_SHAPE);
    assert_non_null(strstr(err, "conv32_down/conv/filters"));
    /* A shape whose byte count disagrees with the shard. */
    free(json);
    json = read_text(from);
    replace_once(json, "[7,7,3,32]", "[7,7,3,33]");
    write_text(to, json);
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "face_recognition_model"));
    free(json);
    /* Malformed JSON, wrong structure, unknown dtype. */
    write_text(to, "[{\"paths\": [\"face_recognition_model.bin\"], \"weights\": [");
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_MODEL);
    write_text(to, "{\"weights\": 3}");
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "manifest"));
    write_text(to, "[{\"paths\": [\"face_recognition_model.bin\"], \"weights\": [{\"name\": \"fc\", \"shape\": [2], "
                   "\"dtype\": \"complex64\"}]}]");
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_MODEL);
    assert_non_null(strstr(err, "complex64"));
    write_text(to, "[{\"paths\": [\"../../etc/passwd\"], \"weights\": []}]");
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_MODEL);
    assert_int_equal(fr_backend_memory_used(be), 0);
    fr_backend_free(be);
}

static void test_budget(void **state) {
    (void)state;
    /* A budget too small for the weights or the arena is a status, and
     * nothing stays charged. */
    char err[512];
    struct fr_backend_params bp = fr_backend_default_params();
    bp.memory_limit = 4 << 20;
    struct fr_backend *be;
    assert_int_equal(fr_backend_new(&bp, &be, err, sizeof(err)), FR_OK);
    struct fr_net_params np = fr_net_default_params(FR_NET_RECOGNITION);
    np.models_dir = fr_test_models_dir();
    np.max_batch = 64;
    struct fr_net *net;
    assert_int_equal(fr_net_new(be, &np, &net, err, sizeof(err)), FR_ERR_BUDGET);
    assert_non_null(strstr(err, "budget"));
    assert_int_equal(fr_backend_memory_used(be), 0);
    fr_backend_free(be);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_all_models), cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_truncated_bin),   cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests_name("weights", tests, setup, teardown);
}
