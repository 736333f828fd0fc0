/* The /metrics renderer (src/http/metrics.c) on hand-made documents:
 * label escaping, cumulative buckets that never decrease and end in +Inf
 * equal to _count, _sum, the bounded route counters, and that every line
 * is a comment or a sample (no raw newline escaped into the text). The
 * real server's output goes through `promtool check metrics` in
 * tests/test-promtool.sh. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/metrics.h"

static void test_escape(void **state) {
    char out[64];
    assert_int_equal(fr__metrics_escape("plain", out, sizeof out), FR_OK);
    assert_string_equal(out, "plain");
    assert_int_equal(fr__metrics_escape("a\"b\\c\nd", out, sizeof out), FR_OK);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    assert_int_equal(fr__metrics_escape("\"\"\"", out, 6), FR_ERR_TOO_LARGE); /* 6 bytes + NUL */
}

static void test_histogram_observe(void **state) {
    static const double b[] = { 1, 2, 4 };
    struct fr_histogram h;
    fr_histogram_init(&h, b, 3);
    fr_histogram_observe(&h, 1);   /* on a bound: that bucket (le is <=) */
    fr_histogram_observe(&h, 1.5);
    fr_histogram_observe(&h, 4);
    fr_histogram_observe(&h, 9);   /* above every bound */
    fr_histogram_observe(&h, NAN); /* ignored */
    assert_int_equal(h.counts[0], 1);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[3], 1);
    assert_int_equal(h.count, 4);
    assert_true(h.sum == 15.5);
}

/* Every histogram series in text: buckets in ascending le, counts never
 * decreasing, the last one +Inf and equal to the series' _count. Returns
 * the number of series checked. */
static int check_histograms(const char *text) {
    int series = 0;
    char key[512] = "", inf_key[512] = "";
    double prev_le = -INFINITY, prev = -1, inf_count = -1;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        assert_non_null(e);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(e - l), l);
        l = e + 1;
        char *b = strstr(line, "_bucket{");
        if (line[0] != '#' && b) {
            char *le = strstr(line, "le=\"");
            assert_non_null(le);
            char k[512];
            snprintf(k, sizeof k, "%.*s", (int)(le - line), line); /* name and the other labels */
            double lev = strncmp(le + 4, "+Inf", 4) ? strtod(le + 4, NULL) : INFINITY;
            double v = strtod(strrchr(line, ' ') + 1, NULL);
            if (strcmp(k, key)) { /* a new series */
                snprintf(key, sizeof key, "%s", k);
                prev_le = -INFINITY, prev = -1;
                series++;
            }
            assert_true(lev > prev_le);
            assert_true(v >= prev);
            prev_le = lev, prev = v;
            if (isinf(lev)) {
                snprintf(inf_key, sizeof inf_key, "%s", k);
                inf_count = v;
            }
            continue;
        }
        char *c = strstr(line, "_count");
        if (line[0] != '#' && c && inf_key[0]) {
            /* "name_count{labels} v" against "name_bucket{labels," */
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(c - line), line);
            if (!strncmp(inf_key, name, strlen(name)) && !strncmp(inf_key + strlen(name), "_bucket", 7)) {
                assert_true(strtod(strrchr(line, ' ') + 1, NULL) == inf_count);
                inf_key[0] = 0;
            }
        }
    }
    assert_int_equal(inf_key[0], 0); /* every +Inf bucket met its _count */
    return series;
}

static bool has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return true;
    return false;
}

static void test_render(void **state) {
    struct fr_sched_metrics *m = calloc(1, sizeof(*m));
    static const double bb[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
    static const double tb[] = { 0.001, 0.01, 0.1, 1 };
    for (int k = 0; k < 3; k++) {
        fr_histogram_init(&m->batch_size[k], bb, 11);
        fr_histogram_init(&m->inference_seconds[k], tb, 4);
    }
    for (int k = 0; k < FR_WAITS; k++) fr_histogram_init(&m->queue_seconds[k], tb, 4);
    fr_histogram_init(&m->image_seconds, tb, 4);
    double sizes[] = { 1, 3, 3, 100, 5000 };
    for (int i = 0; i < 5; i++) fr_histogram_observe(&m->batch_size[0], sizes[i]);
    fr_histogram_observe(&m->inference_seconds[1], 0.005);
    fr_histogram_observe(&m->inference_seconds[1], 0.25);
    m->ready = true;
    m->images_done = 7;
    m->faces_done = 11;
    m->queue_depth[FR_QUEUE_LANDMARK] = 5;
    m->memory.device_limit = (size_t)2 << 30;
    m->n_users = 2;
    snprintf(m->users[0].user, sizeof m->users[0].user, "alice");
    m->users[0].images_done = 4;
    snprintf(m->users[1].user, sizeof m->users[1].user, "a\"b\\c\nd");
    m->users[1].images_done = 2;
    snprintf(m->other.user, sizeof m->other.user, "_other");
    m->other.images_done = 1;
    m->other.queued = 3;
    struct fr__http_route_count routes[] = { { "/v1/detect", 200, 5 }, { "other", 404, 2 }, { "/x\"y", 0, 1 } };
    struct fr_gpu_sample gpu = { .name = "GPU \"0\"", .utilization = 0.5, .memory_used = 1024, .memory_total = 4096,
                                 .has_temperature = true, .temperature_c = 60 };
    struct fr__process_stats ps;
    fr__process_stats_read(&ps);
    assert_true(ps.has_memory && ps.resident_bytes > 0);
    assert_true(ps.has_start && ps.start_time > 1.6e9);
    struct fr__metrics_doc d = { .version = "0.1.0", .backend = "cpu", .sched = m, .routes = routes, .n_routes = 3,
                                 .process = &ps, .gpus = &gpu, .n_gpus = 1 };
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fr__metrics_render(&d, &text, &len), FR_OK);
    assert_int_equal(strlen(text), len);
    assert_true(len > 0 && text[len - 1] == '\n');
    /* Every line is a comment or starts with a metric name. */
    for (const char *l = text; *l; l = strchr(l, '\n') + 1)
        assert_true(*l == '#' || (*l >= 'a' && *l <= 'z'));
    assert_true(has_line(text, "facerec_batch_size_bucket{stage=\"detect\",le=\"1\"} 1"));
    assert_true(has_line(text, "facerec_batch_size_bucket{stage=\"detect\",le=\"2\"} 1"));
    assert_true(has_line(text, "facerec_batch_size_bucket{stage=\"detect\",le=\"4\"} 3"));
    assert_true(has_line(text, "facerec_batch_size_bucket{stage=\"detect\",le=\"128\"} 4"));
    assert_true(has_line(text, "facerec_batch_size_bucket{stage=\"detect\",le=\"1024\"} 4"));
    assert_true(has_line(text, "facerec_batch_size_bucket{stage=\"detect\",le=\"+Inf\"} 5"));
    assert_true(has_line(text, "facerec_batch_size_sum{stage=\"detect\"} 5107"));
    assert_true(has_line(text, "facerec_batch_size_count{stage=\"detect\"} 5"));
    assert_true(has_line(text, "facerec_inference_seconds_bucket{stage=\"landmark\",le=\"0.01\"} 1"));
    assert_true(has_line(text, "facerec_inference_seconds_bucket{stage=\"landmark\",le=\"1\"} 2"));
    assert_true(has_line(text, "facerec_inference_seconds_sum{stage=\"landmark\"} 0.255"));
    assert_true(has_line(text, "facerec_image_duration_seconds_bucket{le=\"+Inf\"} 0"));
    /* 3 batch, 3 inference, 4 waits, 1 image. */
    assert_int_equal(check_histograms(text), 11);
    assert_true(has_line(text, "facerec_queue_depth{queue=\"landmark\"} 5"));
    assert_true(has_line(text, "facerec_images_processed_total 7"));
    assert_true(has_line(text, "facerec_device_memory_limit_bytes 2147483648"));
    assert_true(has_line(text, "facerec_user_images_processed_total{user=\"alice\"} 4"));
    assert_true(has_line(text, "facerec_user_images_processed_total{user=\"a\\\"b\\\\c\\nd\"} 2"));
    assert_true(has_line(text, "facerec_user_images_processed_total{user=\"_other\"} 1"));
    assert_true(has_line(text, "facerec_user_queued_images{user=\"_other\"} 3"));
    assert_true(has_line(text, "facerec_http_requests_total{route=\"/v1/detect\",status=\"200\"} 5"));
    assert_true(has_line(text, "facerec_http_requests_total{route=\"/x\\\"y\",status=\"other\"} 1"));
    assert_true(has_line(text, "facerec_gpu_utilization_ratio{gpu=\"0\",name=\"GPU \\\"0\\\"\"} 0.5"));
    assert_true(has_line(text, "facerec_gpu_temperature_celsius{gpu=\"0\",name=\"GPU \\\"0\\\"\"} 60"));
    assert_null(strstr(text, "facerec_gpu_power_watts{")); /* no sensor: no sample */
    assert_non_null(strstr(text, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    fr_free(text);

    /* Without a scheduler or GPUs: still well-formed. */
    d.sched = NULL;
    d.n_gpus = 0;
    d.gpus = NULL;
    assert_int_equal(fr__metrics_render(&d, &text, &len), FR_OK);
    assert_null(strstr(text, "facerec_batch_size"));
    assert_true(has_line(text, "facerec_gpus 0"));
    assert_null(strstr(text, "facerec_gpu_utilization_ratio"));
    fr_free(text);
    free(m);
}

static void test_route_counts(void **state) {
    struct fr__http_route_counts *c = malloc(sizeof(*c));
    fr__http_route_counts_init(c);
    fr__http_route_counts_add(c, "/v1/embed", 200);
    fr__http_route_counts_add(c, "/v1/detect", 429);
    fr__http_route_counts_add(c, "/v1/detect", 200);
    fr__http_route_counts_add(c, "/v1/detect", 200);
    fr__http_route_counts_add(c, NULL, 404);
    struct fr__http_route_count *out = malloc(sizeof(*out) * FR__HTTP_ROUTE_SLOTS);
    int32_t n = fr__http_route_counts_copy(c, out);
    assert_int_equal(n, 4);
    assert_string_equal(out[0].route, "/v1/detect");
    assert_int_equal(out[0].status, 200);
    assert_int_equal(out[0].count, 2);
    assert_int_equal(out[1].status, 429);
    assert_string_equal(out[2].route, "/v1/embed");
    assert_string_equal(out[3].route, "other");
    /* More pairs than slots: the set stays bounded, the excess is counted. */
    for (unsigned s = 0; s < 2 * FR__HTTP_ROUTE_SLOTS; s++) fr__http_route_counts_add(c, "/many", 1000 + s);
    n = fr__http_route_counts_copy(c, out);
    assert_int_equal(n, FR__HTTP_ROUTE_SLOTS);
    int64_t total = 0, overflow = 0;
    for (int32_t i = 0; i < n; i++) {
        total += out[i].count;
        if (out[i].status == 0) overflow = out[i].count, assert_string_equal(out[i].route, "other");
    }
    assert_int_equal(total, 5 + 2 * FR__HTTP_ROUTE_SLOTS);
    assert_true(overflow > FR__HTTP_ROUTE_SLOTS);
    fr__http_route_counts_destroy(c);
    free(c);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_histogram_observe),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_route_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
