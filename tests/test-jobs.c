#define _GNU_SOURCE
/* Queued index jobs on SQLite: the same API as on PostgreSQL with one
 * data directory. A server that takes no queued work (index_workers 0)
 * accepts and cancels jobs; a second server on the same directory does
 * the work: every photo once, a file that is not an image failed with its
 * reason, a copy of a photo recorded without new faces, progress per
 * node; another user sees none of it. (Several nodes on PostgreSQL:
 * test-cluster.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gallery-util.h"

static char g_dir[256], g_data[300], g_keys[300], g_photos[300];
static struct ht_server g_front, g_worker;

#define KEY_A "key-alice-0123456789"
#define KEY_B "key-bob-0123456789"

static void copy(const char *rel, const char *name) {
    struct blob b = ht_data(rel);
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", g_photos, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    fclose(f);
    free(b.data);
}

static int setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(g_dir, sizeof(g_dir), "/tmp/fr-jobs-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_data, sizeof(g_data), "%s/data", g_dir);
    snprintf(g_keys, sizeof(g_keys), "%s/keys", g_dir);
    snprintf(g_photos, sizeof(g_photos), "%s/photos", g_dir);
    mkdir(g_photos, 0755);
    FILE *f = fopen(g_keys, "w");
    fprintf(f, "%s alice\n%s bob\n", KEY_A, KEY_B);
    fclose(f);
    char log[400];
    snprintf(log, sizeof(log), "%s/front.log", g_dir);
    const char *extra[] = {"--index-workers", "0", NULL};
    gt_start_with(&g_front, g_data, g_keys, log, true, extra);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    int rc = g_worker.pid > 0 && ht_stop(&g_worker, SIGTERM) != 0 ? -1 : 0;
    return gt_finish(&g_front, g_dir) | rc;
}

static int64_t post_job(const char *key, const char *paths_json, long want) {
    char body[1200];
    snprintf(body, sizeof(body), "{\"kind\":\"index\",\"paths\":%s}", paths_json);
    struct ht_resp r;
    long st = ht_json(&g_front, &r, "POST", "/v1/jobs", key, body);
    if (st != want) fail_msg("POST /v1/jobs %s: %ld %s", body, st, r.body ? r.body : "");
    int64_t id = want == 201 ? (int64_t)gt_num(r.json, "id") : 0;
    ht_free(&r);
    return id;
}

static void test_jobs_on_sqlite(void **state) {
    (void)state;
    copy("examples/obama.jpg", "a.jpg");
    copy("examples/biden.jpg", "b.jpg");
    copy("examples/two_people.jpg", "sub-c.jpg");
    copy("examples/obama.jpg", "a-copy.jpg"); /* the same bytes as a.jpg */
    char notimg[400];
    snprintf(notimg, sizeof(notimg), "%s/notes.txt", g_dir);
    FILE *f = fopen(notimg, "w");
    fputs("not a photo\n", f);
    fclose(f);
    char paths[1000];
    /* The directory (walked: four photos) and a file given by name. */
    snprintf(paths, sizeof(paths), "[\"%s\",\"%s\"]", g_photos, notimg);

    /* Nothing takes work yet: a job can be cancelled before it starts. */
    int64_t j1 = post_job(KEY_A, paths, 201);
    char path[64];
    struct ht_resp r;
    snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)j1);
    assert_int_equal(ht_http(&g_front, &r, "DELETE", path, KEY_B, NULL, NULL, 0), 404);
    ht_free(&r);
    assert_int_equal(ht_http(&g_front, &r, "DELETE", path, KEY_A, NULL, NULL, 0), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "state")->valuestring, "cancelled");
    assert_int_equal((int)gt_num(r.json, "total"), 5);
    ht_free(&r);
    int64_t j2 = post_job(KEY_A, paths, 201);
    post_job(KEY_A, "[\"relative/path\"]", 400);
    post_job(KEY_A, "[\"/no/such/dir\"]", 400);
    post_job(KEY_A, "[]", 400);
    post_job(KEY_A, "[1]", 400);

    /* A second server on the same directory does the work. */
    char log[400];
    snprintf(log, sizeof(log), "%s/worker.log", g_dir);
    const char *extra[] = {"--node-name", "worker", NULL};
    gt_start_with(&g_worker, g_data, g_keys, log, true, extra);
    snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)j2);
    double t0 = fr_test_now();
    for (;;) {
        assert_int_equal(ht_http(&g_front, &r, "GET", path, KEY_A, NULL, NULL, 0), 200);
        if (strcmp(cJSON_GetObjectItem(r.json, "state")->valuestring, "running")) break;
        ht_free(&r);
        if (fr_test_now() - t0 > 300) fail_msg("the job did not finish in 300 s");
        fr_test_sleep_ms(50);
    }
    assert_string_equal(cJSON_GetObjectItem(r.json, "state")->valuestring, "done");
    assert_int_equal((int)gt_num(r.json, "total"), 5);
    assert_int_equal((int)gt_num(r.json, "done"), 4);
    assert_int_equal((int)gt_num(r.json, "failed"), 1);
    const cJSON *fl = cJSON_GetObjectItem(r.json, "failures");
    assert_int_equal(cJSON_GetArraySize(fl), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(fl, 0), "path")->valuestring, notimg);
    assert_true(strlen(cJSON_GetObjectItem(cJSON_GetArrayItem(fl, 0), "error")->valuestring) > 0);
    const cJSON *nd = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "nodes"), 0);
    assert_string_equal(cJSON_GetObjectItem(nd, "node")->valuestring, "worker");
    assert_int_equal((int)gt_num(nd, "done"), 4);
    assert_true(gt_num(nd, "images_per_second") >= 0);
    ht_free(&r);
    /* The cancelled job stayed untouched. */
    snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)j1);
    assert_int_equal(ht_http(&g_front, &r, "GET", path, KEY_A, NULL, NULL, 0), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "state")->valuestring, "cancelled");
    assert_int_equal((int)gt_num(r.json, "done"), 0);
    ht_free(&r);
    /* Three distinct photos (1 + 1 + 2 faces), the copy without new faces:
     * the front server sees them at once, e.g. in its recognize. */
    assert_int_equal(ht_json(&g_front, &r, "POST", "/v1/cluster", KEY_A, "{\"min_faces\":1}"), 200);
    assert_int_equal((int)gt_num(r.json, "created") + (int)gt_num(r.json, "left"), 4);
    ht_free(&r);
    struct blob b = ht_data("examples/obama2.jpg");
    assert_int_equal(ht_http(&g_front, &r, "POST", "/v1/recognize", KEY_A, NULL, b.data, b.len), 200);
    const cJSON *n0 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "name");
    assert_true(cJSON_IsString(n0) && !strncmp(n0->valuestring, "unnamed-", 8));
    ht_free(&r);
    assert_int_equal(ht_http(&g_front, &r, "POST", "/v1/recognize", KEY_B, NULL, b.data, b.len), 200);
    n0 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "name");
    assert_string_equal(n0->valuestring, "unknown");
    ht_free(&r);
    free(b.data);
    /* Bob's view: no jobs at all. */
    assert_int_equal(ht_http(&g_worker, &r, "GET", "/v1/jobs", KEY_B, NULL, NULL, 0), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "jobs")), 0);
    ht_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)j2);
    assert_int_equal(ht_http(&g_worker, &r, "GET", path, KEY_B, NULL, NULL, 0), 404);
    ht_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_jobs_on_sqlite)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
