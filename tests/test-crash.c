#define _GNU_SOURCE
/* Crash safety of the gallery: the real server enrolls faces in a loop
 * and is killed with SIGKILL at random moments, again and again. After
 * each restart every face whose enrollment was acknowledged (201) must be
 * there, and at the end SQLite's integrity check must pass. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "facerec/store.h"
#include "gallery-util.h"

#define KEY "key-crash-0123456789"
#define ROUNDS 24
#define MAX_ACKED 4096

static struct ht_server g_sv;
static struct blob g_img;
static int64_t g_person;
static int64_t g_acked[MAX_ACKED];
static int g_nacked;
static atomic_int g_sent;

/* Enrolls until a request fails (the server died). */
static void *enroller(void *arg) {
    char path[96];
    snprintf(path, sizeof(path), "/v1/people/%lld/faces", (long long)g_person);
    for (;;) {
        struct ht_resp r;
        atomic_fetch_add(&g_sent, 1);
        long st = ht_http(&g_sv, &r, "POST", path, KEY, NULL, g_img.data, g_img.len);
        if (st == 201) {
            int64_t id = (int64_t)gt_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "id");
            if (id > 0 && g_nacked < MAX_ACKED) g_acked[g_nacked++] = id;
        }
        ht_free(&r);
        if (st != 201 || g_nacked >= MAX_ACKED) return NULL;
    }
}

/* Every acknowledged face is in the person's face list. */
static void check_acked(void) {
    char path[128];
    int64_t *have = NULL;
    int nhave = 0;
    int64_t after = 0;
    for (;;) {
        snprintf(path, sizeof(path), "/v1/people/%lld/faces?limit=1000&after=%lld", (long long)g_person,
                 (long long)after);
        struct ht_resp r;
        assert_int_equal(ht_http(&g_sv, &r, "GET", path, KEY, NULL, NULL, 0), 200);
        const cJSON *f;
        int n = 0;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(r.json, "faces")) {
            have = realloc(have, sizeof(*have) * (size_t)(nhave + 1));
            have[nhave++] = after = (int64_t)gt_num(f, "id");
            n++;
        }
        ht_free(&r);
        if (n < 1000) break;
    }
    for (int i = 0; i < g_nacked; i++) {
        bool found = false;
        for (int j = 0; j < nhave && !found; j++) found = have[j] == g_acked[i];
        if (!found) fail_msg("acknowledged face %lld is missing after a crash", (long long)g_acked[i]);
    }
    free(have);
}

static void test_crash_loop(void **state) {
    char dir[] = "/tmp/fr-crash-XXXXXX", data[64], keys[64], log[64];
    assert_non_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    snprintf(log, sizeof(log), "%s/server.log", dir);
    FILE *f = fopen(keys, "w");
    fprintf(f, "%s crash\n", KEY);
    fclose(f);
    g_img = ht_data("examples/obama_small.jpg");
    srand(12345);
    gt_start(&g_sv, data, keys, log, true);
    struct ht_resp r;
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/people", KEY, "{\"name\":\"obama\"}"), 201);
    g_person = (int64_t)gt_num(r.json, "id");
    ht_free(&r);
    int kills = 0;
    double t0 = fr_test_now();
    for (int round = 0; round < ROUNDS; round++) {
        if (round > 0) {
            gt_start(&g_sv, data, keys, log, true);
            check_acked();
        }
        pthread_t th;
        pthread_create(&th, NULL, enroller, NULL);
        /* A random moment: between 20 and 400 ms of enrolling. */
        fr_test_sleep_ms(20 + rand() % 380);
        ht_stop(&g_sv, SIGKILL);
        kills++;
        pthread_join(th, NULL);
    }
    gt_start(&g_sv, data, keys, log, true);
    check_acked();
    assert_int_equal(ht_stop(&g_sv, SIGTERM), 0);
    print_message("  %d SIGKILLs in %.1f s; %d enrollments sent, %d acknowledged, all present after restart\n", kills,
                  fr_test_now() - t0, atomic_load(&g_sent), g_nacked);
    assert_true(kills >= 20);
    assert_true(g_nacked > 0);
    /* PRAGMA integrity_check on the file the killed servers left. */
    struct fr_store_params sp = fr_store_default_params();
    sp.data_dir = data;
    struct fr_store *st = NULL;
    char err[256];
    assert_int_equal(fr_store_new(&sp, &st, err, sizeof(err)), FR_OK);
    if (fr_store_check(st, err, sizeof(err)) != FR_OK) fail_msg("integrity_check: %s", err);
    fr_store_free(st);
    free(g_img.data);
    if (fr_test_rm_rf(dir)) {}
}

int main(void) {
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_crash_loop) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
