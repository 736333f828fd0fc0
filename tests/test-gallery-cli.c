#define _GNU_SOURCE
/* The server and the CLI on one data directory: while `facerec serve`
 * runs, `facerec user`, `facerec people`, `facerec index` and `facerec
 * jobs` write to the same SQLite file, and every change must show in the
 * server's very next answer (the gallery notices other processes' commits
 * through the store's data version and the user's gallery_version). Also:
 * the search_int8 setting gives the same recognitions as the exact search,
 * and recognize's landmarks only on request. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gallery-util.h"

static char g_dir[256], g_data[300], g_keys[300], g_log[300], g_clilog[300];
static char g_key[128]; /* erin's key, printed by `facerec user add erin` */
static struct ht_server g_sv;
static int64_t g_obama, g_biden; /* people of the enroll test */

/* Runs `facerec ARGS --data D --models M`; stdout (first line, trimmed)
 * into out when it is not NULL. Returns the exit status. */
static int cli(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char *out, size_t outlen, const char *fmt, ...) {
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s/facerec %s --data %s --models %s 2>>%s", FR_BINARY_DIR, args, g_data,
             fr_test_models_dir(), g_clilog);
    int rc = gt_run(cmd, out, outlen);
    if (rc != 0) {
        char *l = fr_test_read_file(g_clilog);
        print_message("  facerec %s: exit %d; stderr so far:\n%s\n", args, rc, l ? l : "");
        free(l);
    }
    return rc;
}

static int setup(void **state) {
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(g_dir, sizeof(g_dir), "/tmp/fr-gallery-cli-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_data, sizeof(g_data), "%s/data", g_dir);
    snprintf(g_keys, sizeof(g_keys), "%s/keys", g_dir);
    snprintf(g_log, sizeof(g_log), "%s/server.log", g_dir);
    snprintf(g_clilog, sizeof(g_clilog), "%s/cli.log", g_dir);
    FILE *f = fopen(g_keys, "w"); /* no keys in the file: every key comes from `facerec user` */
    if (!f) return -1;
    fclose(f);
    if (cli(g_key, sizeof(g_key), "user add erin") != 0 || !g_key[0]) return -1;
    gt_start(&g_sv, g_data, g_keys, g_log, true);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return gt_finish(&g_sv, g_dir);
}

static long get(const char *path, const char *key, struct ht_resp *r) {
    return ht_http(&g_sv, r, "GET", path, key, NULL, NULL, 0);
}

/* Recognizes a shared test photo as erin; the caller deletes the answer. */
static cJSON *recognize(const char *rel, const char *query) {
    struct blob b = ht_data(rel);
    struct ht_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/v1/recognize%s", query ? query : "");
    long st = ht_http(&g_sv, &r, "POST", path, g_key, NULL, b.data, b.len);
    if (st != 200) fail_msg("recognize %s: %ld %s", rel, st, r.body ? r.body : "");
    cJSON *j = r.json;
    r.json = NULL;
    ht_free(&r);
    free(b.data);
    return j;
}

static const cJSON *face_named(const cJSON *ans, const char *name) {
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(ans, "faces")) {
        const cJSON *n = cJSON_GetObjectItem(f, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return f;
    }
    return NULL;
}

/* Whether any face has a candidate (or answer) with this person id. */
static bool mentions(const cJSON *ans, int64_t person) {
    const cJSON *f, *c;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(ans, "faces")) {
        if ((int64_t)gt_num(f, "person") == person) return true;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(f, "candidates")) if ((int64_t)gt_num(c, "person") == person) return true;
    }
    return false;
}

/* The person's face count in GET /v1/people, or -1 when it is not listed. */
static int listed_faces(int64_t person) {
    struct ht_resp r;
    assert_int_equal(get("/v1/people?limit=1000", g_key, &r), 200);
    int n = -1;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(r.json, "people")) if ((int64_t)gt_num(p, "id") == person) n =
        (int)gt_num(p, "faces");
    ht_free(&r);
    return n;
}

static int64_t parse_id(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0) fail_msg("not an id: '%s'", s);
    return v;
}

/* ---- keys: `facerec user add` / `key` / `revoke` while the server runs ---------------- */

static void test_keys(void **state) {
    struct ht_resp r;
    assert_int_equal(get("/v1/people", g_key, &r), 200);
    ht_free(&r);
    char k1[128], k2[128];
    assert_int_equal(cli(k1, sizeof(k1), "user add frank"), 0);
    assert_int_equal(get("/v1/people", k1, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "people")), 0);
    ht_free(&r);
    assert_int_equal(cli(k2, sizeof(k2), "user key frank"), 0);
    assert_string_not_equal(k1, k2);
    assert_int_equal(get("/v1/people", k2, &r), 200);
    ht_free(&r);
    assert_int_equal(cli(NULL, 0, "user revoke frank"), 0);
    assert_int_equal(get("/v1/people", k1, &r), 401);
    assert_string_equal(gt_code(&r), "unauthorized");
    ht_free(&r);
    assert_int_equal(get("/v1/people", k2, &r), 401);
    ht_free(&r);
    assert_int_equal(get("/v1/people", g_key, &r), 200); /* erin is untouched */
    ht_free(&r);
}

/* ---- people: add, enroll, merge, delete by the CLI; recognize by the server ------------- */

static void test_people(void **state) {
    /* The server's matrix of erin is loaded (and empty) before the CLI writes. */
    cJSON *a = recognize("examples/knn_examples/test/obama1.jpg", NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "faces"), 0), "unknown")));
    cJSON_Delete(a);

    char out[256];
    assert_int_equal(cli(out, sizeof(out), "people add obama --user erin"), 0);
    g_obama = parse_id(out);
    assert_int_equal(listed_faces(g_obama), 0);
    assert_int_equal(cli(NULL, 0, "people enroll %lld %s/examples/knn_examples/train/obama --user erin --quiet",
                         (long long)g_obama, fr_test_data_dir()),
                     0);
    assert_int_equal(listed_faces(g_obama), 2);
    a = recognize("examples/knn_examples/test/obama1.jpg", NULL);
    const cJSON *f = face_named(a, "obama");
    if (!f) fail_msg("obama enrolled by the CLI is not recognized: %s", cJSON_PrintUnformatted(a));
    assert_int_equal((int64_t)gt_num(f, "person"), g_obama);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(f, "unknown")));
    cJSON_Delete(a);

    /* A server write after the CLI's, then the CLI again. */
    struct ht_resp r;
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/people", g_key, "{\"name\":\"biden\"}"), 201);
    g_biden = (int64_t)gt_num(r.json, "id");
    ht_free(&r);
    struct blob b = ht_data("examples/knn_examples/train/biden/biden.jpg");
    char path[128];
    snprintf(path, sizeof(path), "/v1/people/%lld/faces", (long long)g_biden);
    assert_int_equal(ht_http(&g_sv, &r, "POST", path, g_key, NULL, b.data, b.len), 201);
    ht_free(&r);
    free(b.data);
    assert_int_equal(cli(out, sizeof(out), "people add joe --user erin"), 0);
    int64_t joe = parse_id(out);
    assert_int_equal(cli(NULL, 0, "people enroll %lld %s/examples/knn_examples/train/biden/biden2.jpg --user erin --quiet",
                         (long long)joe, fr_test_data_dir()),
                     0);
    a = recognize("examples/knn_examples/test/obama_and_biden.jpg", "?k=5");
    assert_non_null(face_named(a, "obama"));
    assert_true(face_named(a, "biden") || face_named(a, "joe"));
    assert_true(mentions(a, joe));
    cJSON_Delete(a);

    /* Merge by the CLI: joe's face is biden's, joe is gone. */
    assert_int_equal(cli(NULL, 0, "people merge %lld %lld --user erin", (long long)g_biden, (long long)joe), 0);
    assert_int_equal(listed_faces(joe), -1);
    assert_int_equal(listed_faces(g_biden), 2);
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)joe);
    assert_int_equal(get(path, g_key, &r), 404);
    ht_free(&r);
    a = recognize("examples/knn_examples/test/obama_and_biden.jpg", "?k=5");
    f = face_named(a, "biden");
    if (!f) fail_msg("biden after the CLI's merge: %s", cJSON_PrintUnformatted(a));
    assert_int_equal((int64_t)gt_num(f, "person"), g_biden);
    assert_false(mentions(a, joe));
    cJSON_Delete(a);

    /* Delete by the CLI: obama is gone from the list and from recognition. */
    assert_int_equal(cli(NULL, 0, "people delete %lld --user erin", (long long)g_obama), 0);
    assert_int_equal(listed_faces(g_obama), -1);
    a = recognize("examples/knn_examples/test/obama1.jpg", "?k=5");
    const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "faces"), 0);
    if (mentions(a, g_obama) || face_named(a, "obama"))
        fail_msg("obama deleted by the CLI is still recognized: %s", cJSON_PrintUnformatted(a));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f0, "unknown")));
    cJSON_Delete(a);
}

/* ---- index by the CLI, cluster by the server (and the other way round), jobs ----------- */

static void test_index_cluster(void **state) {
    static const char *const photos[] = {
        "knn_examples/train/kit_harington/john1.jpeg", "knn_examples/train/kit_harington/john2.jpeg",
        "knn_examples/test/johnsnow_test1.jpg",        "knn_examples/train/rose_leslie/img1.jpg",
        "knn_examples/train/rose_leslie/img2.jpg",     "knn_examples/test/obama1.jpg",
    };
    char dir[400], cmd[1400];
    snprintf(dir, sizeof(dir), "%s/photos", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (size_t i = 0; i < sizeof(photos) / sizeof(photos[0]); i++) {
        snprintf(cmd, sizeof(cmd), "%s/examples/%s", fr_test_data_dir(), photos[i]);
        char link[600];
        snprintf(link, sizeof(link), "%s/%zu-%s", dir, i, strrchr(photos[i], '/') + 1);
        assert_int_equal(symlink(cmd, link), 0);
    }
    char out[256];
    assert_int_equal(cli(out, sizeof(out), "index %s --user erin --quiet", dir), 0);
    int images = 0, faces = 0;
    assert_int_equal(sscanf(out, "%d images indexed (%d faces)", &images, &faces), 2);
    assert_int_equal(images, 6);
    assert_true(faces >= 6);

    /* The server sees the CLI's images (same bytes: skipped) and faces (unassigned: clustered). */
    struct blob b = ht_data("examples/knn_examples/train/kit_harington/john1.jpeg");
    struct ht_resp r;
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", g_key, NULL, b.data, b.len), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "skipped")));
    ht_free(&r);
    free(b.data);
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/cluster", g_key, "{\"min_faces\":2}"), 200);
    int created = (int)gt_num(r.json, "created"), joined = (int)gt_num(r.json, "joined");
    print_message("  cluster of the CLI's %d faces: %s\n", faces, r.body);
    assert_int_equal(created + joined + (int)gt_num(r.json, "left"), faces);
    assert_true(gt_num(r.json, "people_created") >= 2); /* kit and rose */
    int64_t job = (int64_t)gt_num(r.json, "job");
    assert_true(job > 0);
    ht_free(&r);

    /* Jobs, newest first: the server's cluster, then the CLI's index. */
    assert_int_equal(get("/v1/jobs", g_key, &r), 200);
    const cJSON *jobs = cJSON_GetObjectItem(r.json, "jobs");
    assert_true(cJSON_GetArraySize(jobs) >= 2);
    const cJSON *j0 = cJSON_GetArrayItem(jobs, 0), *j1 = cJSON_GetArrayItem(jobs, 1);
    assert_int_equal((int64_t)gt_num(j0, "id"), job);
    assert_string_equal(cJSON_GetObjectItem(j0, "kind")->valuestring, "cluster");
    assert_string_equal(cJSON_GetObjectItem(j0, "state")->valuestring, "done");
    assert_int_equal((int)gt_num(j0, "total"), faces);
    assert_int_equal((int)gt_num(j0, "done"), created + joined);
    assert_string_equal(cJSON_GetObjectItem(j1, "kind")->valuestring, "index");
    assert_string_equal(cJSON_GetObjectItem(j1, "state")->valuestring, "done");
    assert_int_equal((int)gt_num(j1, "total"), 6);
    assert_true(gt_num(j1, "id") < gt_num(j0, "id"));
    ht_free(&r);
    assert_int_equal(get("/v1/jobs?limit=1", g_key, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "jobs")), 1);
    ht_free(&r);
    assert_int_equal(get("/v1/jobs?limit=0", g_key, &r), 400);
    ht_free(&r);

    /* The other way round: the server indexes, the CLI clusters, the server recognizes. */
    b = ht_data("examples/knn_examples/test/kit_with_rose.jpg");
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", g_key, NULL, b.data, b.len), 201);
    int added = cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "faces"));
    assert_int_equal(added, 2);
    ht_free(&r);
    free(b.data);
    assert_int_equal(cli(out, sizeof(out), "people cluster --json --user erin"), 0);
    cJSON *cl = cJSON_Parse(out);
    assert_non_null(cl);
    assert_int_equal((int)gt_num(cl, "joined"), 2);
    int64_t cjob = (int64_t)gt_num(cl, "job");
    assert_true(cjob > job);
    cJSON_Delete(cl);
    cJSON *a = recognize("examples/knn_examples/test/kit_with_rose.jpg", NULL);
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(a, "faces")) {
        /* Each face is now in a person, at distance 0 from itself. */
        if (cJSON_IsTrue(cJSON_GetObjectItem(f, "unknown")) || gt_num(f, "distance") > 1e-4)
            fail_msg("after the CLI's cluster: %s", cJSON_PrintUnformatted(a));
    }
    cJSON_Delete(a);
    assert_int_equal(get("/v1/jobs", g_key, &r), 200);
    assert_int_equal((int64_t)gt_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "jobs"), 0), "id"), cjob);
    ht_free(&r);
    char jout[4096];
    assert_int_equal(cli(jout, sizeof(jout), "jobs --json --user erin --limit 3"), 0);
    cJSON *js = cJSON_Parse(jout);
    assert_non_null(js);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(js, "jobs")), 3);
    assert_int_equal((int64_t)gt_num(cJSON_GetArrayItem(cJSON_GetObjectItem(js, "jobs"), 0), "id"), cjob);
    cJSON_Delete(js);
}

/* ---- recognize: compact by default, landmarks on request; search_int8 equals exact ------- */

static const char *const probes[] = {
    "examples/knn_examples/test/obama_and_biden.jpg", "examples/knn_examples/test/kit_with_rose.jpg",
    "examples/knn_examples/test/johnsnow_test1.jpg",  "examples/knn_examples/test/alex_lacamoire1.jpg",
    "examples/lin-manuel-miranda.png",
};
#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

static void test_landmarks(void **state) {
    cJSON *a = recognize(probes[0], NULL);
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(a, "faces")) {
        assert_null(cJSON_GetObjectItem(f, "landmarks"));
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f, "box")), 4);
        assert_non_null(cJSON_GetObjectItem(f, "score"));
        assert_non_null(cJSON_GetObjectItem(f, "candidates"));
        assert_non_null(cJSON_GetObjectItem(f, "unknown"));
    }
    cJSON_Delete(a);
    a = recognize(probes[0], "?landmarks=1");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(a, "faces")) >= 2);
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(a, "faces"))
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f, "landmarks")), 68);
    cJSON_Delete(a);
}

static bool status_int8(void) {
    struct ht_resp r;
    assert_int_equal(get("/status", g_key, &r), 200);
    bool on = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "gallery"), "search_int8"));
    ht_free(&r);
    return on;
}

static void test_int8(void **state) {
    cJSON *exact[N_PROBES];
    assert_false(status_int8());
    for (size_t i = 0; i < N_PROBES; i++) exact[i] = recognize(probes[i], "?k=5");
    assert_int_equal(ht_stop(&g_sv, SIGTERM), 0);
    const char *const extra[] = { "--search-int8=true", NULL };
    gt_start_with(&g_sv, g_data, g_keys, g_log, true, extra);
    assert_true(status_int8());
    int compared = 0;
    for (size_t i = 0; i < N_PROBES; i++) {
        cJSON *q = recognize(probes[i], "?k=5");
        const cJSON *fe = cJSON_GetObjectItem(exact[i], "faces"), *fq = cJSON_GetObjectItem(q, "faces");
        assert_int_equal(cJSON_GetArraySize(fe), cJSON_GetArraySize(fq));
        for (int j = 0; j < cJSON_GetArraySize(fe); j++) {
            const cJSON *a = cJSON_GetArrayItem(fe, j), *b = cJSON_GetArrayItem(fq, j);
            assert_string_equal(cJSON_GetObjectItem(a, "name")->valuestring, cJSON_GetObjectItem(b, "name")->valuestring);
            assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(a, "unknown")), cJSON_IsTrue(cJSON_GetObjectItem(b, "unknown")));
            const cJSON *ca = cJSON_GetObjectItem(a, "candidates"), *cb = cJSON_GetObjectItem(b, "candidates");
            assert_int_equal(cJSON_GetArraySize(ca), cJSON_GetArraySize(cb));
            for (int c = 0; c < cJSON_GetArraySize(ca); c++) {
                const cJSON *x = cJSON_GetArrayItem(ca, c), *y = cJSON_GetArrayItem(cb, c);
                assert_int_equal((int64_t)gt_num(x, "person"), (int64_t)gt_num(y, "person"));
                assert_int_equal((int64_t)gt_num(x, "face"), (int64_t)gt_num(y, "face"));
                assert_float_equal(gt_num(x, "distance"), gt_num(y, "distance"), 1e-5);
                compared++;
            }
        }
        cJSON_Delete(q);
        cJSON_Delete(exact[i]);
    }
    print_message("  search_int8: %d candidates equal to the exact search's\n", compared);
    assert_true(compared >= 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),     cmocka_unit_test(test_people),    cmocka_unit_test(test_index_cluster),
        cmocka_unit_test(test_landmarks), cmocka_unit_test(test_int8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
