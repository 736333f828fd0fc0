/* facerec bench and tune end to end, the CI bench smoke: `facerec bench
 * --serve` at two concurrency levels of 20 requests each, with --compare
 * static and --json, checked for completeness, sane fields and Little's
 * law (closed-loop clients without think time: requests/s x mean latency
 * = clients, within 20%); bad input gives a clear error and no hang; a
 * one-trial `facerec tune` prints a configuration. No timing thresholds. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "test-util.h"

/* Runs a shell command; its stdout (malloc'd) and exit status. stderr
 * goes to a file whose text is appended to failures. */
static char *run(const char *args, int *status) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/facerec %s 2>%s/test-bench.err", FR_BINARY_DIR, args, FR_BINARY_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 4096) out = realloc(out, cap *= 2);
    }
    out[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static char *err_text(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/test-bench.err", FR_BINARY_DIR);
    char *e = fr_test_read_file(path);
    return e ? e : strdup("");
}

static double num(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b) x = cJSON_GetObjectItem(x, b);
    if (!cJSON_IsNumber(x)) fail_msg("missing number %s%s%s", a, b ? "." : "", b ? b : "");
    return x->valuedouble;
}

static void check_levels(const cJSON *sweep, const char *batching) {
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sweep, "batching")), batching);
    const cJSON *lv = cJSON_GetObjectItem(sweep, "levels");
    assert_int_equal(cJSON_GetArraySize(lv), 2);
    static const int conc[2] = { 1, 3 };
    for (int i = 0; i < 2; i++) {
        const cJSON *l = cJSON_GetArrayItem(lv, i);
        assert_int_equal((int)num(l, "concurrency", NULL), conc[i]);
        assert_int_equal((int)num(l, "requests", NULL), 20);
        assert_int_equal((int)num(l, "ok", NULL), 20);
        assert_int_equal((int)num(l, "errors", NULL), 0);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(l, "interrupted")));
        double rps = num(l, "requests_per_s", NULL), mean = num(l, "latency_ms", "mean");
        double p50 = num(l, "latency_ms", "p50"), p90 = num(l, "latency_ms", "p90");
        double p95 = num(l, "latency_ms", "p95"), p99 = num(l, "latency_ms", "p99");
        assert_true(rps > 0 && num(l, "images_per_s", NULL) > 0);
        assert_true(num(l, "faces_per_s", NULL) >= num(l, "images_per_s", NULL) * 0.5); /* the photos have faces */
        assert_true(p50 > 0 && p50 <= p90 && p90 <= p95 && p95 <= p99);
        /* Little's law: L = lambda W. */
        double little = rps * mean / 1e3;
        if (little < conc[i] * 0.8 || little > conc[i] * 1.2)
            fail_msg("%s, %d clients: requests/s %.3f x mean latency %.1f ms = %.3f, not within 20%% of %d", batching,
                     conc[i], rps, mean, little, conc[i]);
        double u = num(l, "utilization", NULL);
        assert_true(u > 0 && u <= 1);
        for (int k = 0; k < 3; k++) {
            static const char *const st[3] = { "detect", "landmark", "recognize" };
            double b = num(l, "mean_batch", st[k]);
            assert_true(b >= 1 && b <= num(l, "batch_limit", st[k]));
        }
        double peak = num(l, "device_memory_peak", NULL), limit = num(l, "device_memory_limit", NULL);
        assert_true(peak > 0 && peak <= limit);
        assert_true(num(l, "host_memory_peak", NULL) > 0);
    }
}

static const char *images(void) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "--models %s --images %s/examples", fr_test_models_dir(), fr_test_data_dir());
    return buf;
}

static void test_smoke(void **state) {
    (void)state;
    char args[2048];
    snprintf(args, sizeof args, "bench --serve %s --concurrency 1,3 --requests 20 --compare static --json --plot %s/bench.png",
             images(), FR_BINARY_DIR);
    int st;
    char *out = run(args, &st);
    char *e = err_text();
    if (st != 0) fail_msg("facerec bench exited %d:\n%s\n%s", st, out, e);
    cJSON *j = cJSON_Parse(out);
    if (!j) fail_msg("not JSON:\n%s", out);
    check_levels(j, "dynamic");
    check_levels(cJSON_GetObjectItem(j, "static"), "static");
    assert_true(num(j, "images", NULL) >= 10);
    cJSON_Delete(j);
    free(out);
    free(e);
    /* The plot is a PNG. */
    char path[1024];
    snprintf(path, sizeof path, "%s/bench.png", FR_BINARY_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char sig[8] = { 0 };
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
}

/* Each bad input: the exit status and a message naming the problem. */
static void test_bad_input(void **state) {
    (void)state;
    static const struct {
        const char *args;
        int status;
        const char *msg;
    } cases[] = {
        { "bench --url http://192.0.2.1:5001", 2, "only drives servers on this machine" },
        { "bench --url ftp://127.0.0.1:5001", 2, "only http://" },
        { "bench --url 'http://[::1'", 2, "bad URL" },
        { "bench --url http://127.0.0.1:1 --requests 2 --concurrency 1", 1, "is the server running?" },
        { "bench --serve --concurrency 0", 2, "--concurrency '0'" },
        { "bench --serve --images /nonexistent-dir", 2, "no such file" },
        { "bench --serve --images /dev/null/x", 2, "no such file" },
        { "bench --max-batch-size 8", 2, "apply to a server started with --serve" },
        { "bench --compare static --url http://127.0.0.1:5001", 2, "--compare-url" },
        { "bench --frobnicate", 2, "unknown option --frobnicate" },
        { "bench --serve --requests 2 --concurrency 1 --max-batch-size 0", 1, "max_batch_size" },
        { "tune --goal fast", 2, "expected throughput" },
        { "tune --max-workers 2", 2, "what tune chooses" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args, "%s %s", cases[i].args, images());
        int st;
        char *out = run(args, &st);
        char *e = err_text();
        if (st != cases[i].status || !strstr(e, cases[i].msg))
            fail_msg("facerec %s: exit %d (expected %d), stderr:\n%s\n(expected '%s')", cases[i].args, st,
                     cases[i].status, e, cases[i].msg);
        free(out);
        free(e);
    }
    /* An empty directory has no images. */
    char dir[] = "/tmp/fr-test-bench-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[2048];
    snprintf(args, sizeof args, "bench --serve %s", dir);
    int st;
    char *out = run(args, &st);
    char *e = err_text();
    assert_int_equal(st, 2);
    assert_non_null(strstr(e, "no images found"));
    free(out);
    free(e);
    rmdir(dir);
}

/* One trial of tune: its table and a configuration that loads back. */
static void test_tune_smoke(void **state) {
    (void)state;
    char args[2048];
    snprintf(args, sizeof args, "tune %s --trials 1 --requests 10 --concurrency 2", images());
    int st;
    char *out = run(args, &st);
    char *e = err_text();
    if (st != 0) fail_msg("facerec tune exited %d:\n%s\n%s", st, out, e);
    assert_non_null(strstr(out, "| 1 (best) | 128 | 64 | 2 | 16 |"));
    assert_non_null(strstr(out, "[batching]"));
    assert_non_null(strstr(out, "max_batch_size = 128"));
    free(out);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_smoke),
        cmocka_unit_test(test_tune_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
