#define _GNU_SOURCE
/* The people gallery end to end: the real `facerec serve` with a data
 * directory, driven over HTTP. Isolation between users on every route,
 * recognition accuracy on face_recognition's knn example (with a stranger
 * who must be "unknown"), clustering the 38-photo set (purity and
 * completeness), bad input, and /status by key. The CLI on the same data
 * directory as a running server is test-gallery-cli.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>
#include <cmocka.h>

#include <turbojpeg.h>

#include "gallery-util.h"

static char g_dir[256], g_data[300], g_keys[300];
static char g_admin[128]; /* the admin key `facerec user add --admin` printed */
static struct ht_server g_sv;

#define KEY_A "key-alice-0123456789"
#define KEY_B "key-bob-0123456789"
#define KEY_C "key-carol-0123456789"
#define KEY_D "key-dave-0123456789"
#define KEY_E "key-erin-0123456789"

static int setup(void **state) {
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(g_dir, sizeof(g_dir), "/tmp/fr-gallery-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_data, sizeof(g_data), "%s/data", g_dir);
    snprintf(g_keys, sizeof(g_keys), "%s/keys", g_dir);
    FILE *f = fopen(g_keys, "w");
    fprintf(f, "%s alice\n%s bob\n%s carol\n%s dave\n%s erin\n", KEY_A, KEY_B, KEY_C, KEY_D, KEY_E);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/facerec user add root --admin --data %s 2>/dev/null", FR_BINARY_DIR, g_data);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(g_admin, sizeof(g_admin), p)) return -1;
    pclose(p);
    g_admin[strcspn(g_admin, "\r\n")] = 0;
    char log[400];
    snprintf(log, sizeof(log), "%s/server.log", g_dir);
    gt_start(&g_sv, g_data, g_keys, log, true);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return gt_finish(&g_sv, g_dir);
}

static int64_t add_person(const char *key, const char *name) {
    struct ht_resp r;
    char body[512];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/people", key, body), 201);
    int64_t id = (int64_t)gt_num(r.json, "id");
    assert_true(id > 0);
    ht_free(&r);
    return id;
}

/* Enrolls the largest face of a data file; returns the new face's id. */
static int64_t enroll(const char *key, int64_t person, const char *rel) {
    struct blob b = ht_data(rel);
    struct ht_resp r;
    char path[96];
    snprintf(path, sizeof(path), "/v1/people/%lld/faces", (long long)person);
    long st = ht_http(&g_sv, &r, "POST", path, key, NULL, b.data, b.len);
    if (st != 201) fail_msg("enroll %s: %ld %s", rel, st, r.body ? r.body : "");
    cJSON *faces = cJSON_GetObjectItem(r.json, "faces");
    assert_int_equal(cJSON_GetArraySize(faces), 1);
    int64_t id = (int64_t)gt_num(cJSON_GetArrayItem(faces, 0), "id");
    ht_free(&r);
    free(b.data);
    return id;
}

/* Recognizes an image; returns the parsed answer (caller deletes). */
static cJSON *recognize(const char *key, const char *file) {
    struct blob b = ht_read(file);
    struct ht_resp r;
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/recognize?k=3", key, NULL, b.data, b.len), 200);
    cJSON *j = r.json;
    r.json = NULL;
    ht_free(&r);
    free(b.data);
    return j;
}

static bool has_name(const cJSON *ans, const char *name) {
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(ans, "faces")) {
        const cJSON *n = cJSON_GetObjectItem(f, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return true;
    }
    return false;
}

/* ---- isolation: user B against every route on user A's ids ------------------ */

static void expect_404(long got, struct ht_resp *r, const char *what) {
    if (got != 404 || strcmp(gt_code(r), "not_found")) fail_msg("%s: got %ld %s, want 404", what, got, r->body);
    ht_free(r);
}

static void test_isolation(void **state) {
    int64_t pa = add_person(KEY_A, "alice's obama");
    int64_t fa = enroll(KEY_A, pa, "examples/obama.jpg");
    int64_t pb = add_person(KEY_B, "bob's friend");
    struct blob img = ht_data("examples/obama2.jpg");
    struct blob two = ht_data("examples/two_people.jpg");
    struct ht_resp r;
    char path[128], body[128];
    /* Index an image for A: B's index of the same bytes must not be skipped. */
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", KEY_A, NULL, two.data, two.len), 201);
    int64_t fa_unassigned = (int64_t)gt_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "id");
    ht_free(&r);

    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)pa);
    expect_404(ht_http(&g_sv, &r, "GET", path, KEY_B, NULL, NULL, 0), &r, "GET person");
    expect_404(ht_json(&g_sv, &r, "PATCH", path, KEY_B, "{\"name\":\"stolen\"}"), &r, "PATCH person");
    expect_404(ht_http(&g_sv, &r, "DELETE", path, KEY_B, NULL, NULL, 0), &r, "DELETE person");
    snprintf(path, sizeof(path), "/v1/people/%lld/faces", (long long)pa);
    expect_404(ht_http(&g_sv, &r, "GET", path, KEY_B, NULL, NULL, 0), &r, "GET person faces");
    expect_404(ht_http(&g_sv, &r, "POST", path, KEY_B, NULL, img.data, img.len), &r, "POST person faces");
    snprintf(path, sizeof(path), "/v1/people/%lld/merge", (long long)pa);
    snprintf(body, sizeof(body), "{\"from\":%lld}", (long long)pb);
    expect_404(ht_json(&g_sv, &r, "POST", path, KEY_B, body), &r, "merge into A's person");
    snprintf(path, sizeof(path), "/v1/people/%lld/merge", (long long)pb);
    snprintf(body, sizeof(body), "{\"from\":%lld}", (long long)pa);
    expect_404(ht_json(&g_sv, &r, "POST", path, KEY_B, body), &r, "merge A's person away");
    snprintf(path, sizeof(path), "/v1/faces/%lld", (long long)fa);
    expect_404(ht_http(&g_sv, &r, "DELETE", path, KEY_B, NULL, NULL, 0), &r, "DELETE face");
    snprintf(path, sizeof(path), "/v1/faces/%lld/thumbnail", (long long)fa);
    expect_404(ht_http(&g_sv, &r, "GET", path, KEY_B, NULL, NULL, 0), &r, "GET thumbnail");
    snprintf(path, sizeof(path), "/v1/faces/%lld", (long long)fa_unassigned);
    expect_404(ht_http(&g_sv, &r, "DELETE", path, KEY_B, NULL, NULL, 0), &r, "DELETE unassigned face");

    /* Lists show only B's rows; recognize does not match A's people. */
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/people", KEY_B, NULL, NULL, 0), 200);
    cJSON *people = cJSON_GetObjectItem(r.json, "people");
    assert_int_equal(cJSON_GetArraySize(people), 1);
    assert_int_equal((int64_t)gt_num(cJSON_GetArrayItem(people, 0), "id"), pb);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/recognize", KEY_B, NULL, img.data, img.len), 200);
    assert_true(has_name(r.json, "unknown"));
    assert_false(has_name(r.json, "alice's obama"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0),
                                                            "candidates")),
                     0);
    ht_free(&r);
    /* B's index of A's photo is B's own first copy; B's cluster sees only B's faces. */
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", KEY_B, NULL, two.data, two.len), 201);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "skipped")));
    ht_free(&r);
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/cluster", KEY_A, "{\"min_faces\":5,\"max_distance\":0.01}"), 200);
    int64_t job_a = (int64_t)gt_num(r.json, "job"); /* changes nothing: no face is that close */
    assert_int_equal((int)gt_num(r.json, "joined") + (int)gt_num(r.json, "created"), 0);
    ht_free(&r);
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/cluster", KEY_B, "{\"min_faces\":1}"), 200);
    assert_int_equal((int)gt_num(r.json, "created") + (int)gt_num(r.json, "joined") + (int)gt_num(r.json, "left"), 2);
    int64_t job_b = (int64_t)gt_num(r.json, "job");
    ht_free(&r);
    /* Jobs: each user sees only its own. */
    assert_true(job_a > 0 && job_b > 0 && job_a != job_b);
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/jobs", KEY_B, NULL, NULL, 0), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "jobs")), 1);
    assert_int_equal((int64_t)gt_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "jobs"), 0), "id"), job_b);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/jobs", KEY_A, NULL, NULL, 0), 200);
    const cJSON *jb;
    cJSON_ArrayForEach(jb, cJSON_GetObjectItem(r.json, "jobs")) assert_true((int64_t)gt_num(jb, "id") != job_b);
    assert_int_equal((int64_t)gt_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "jobs"), 0), "id"), job_a);
    ht_free(&r);

    /* A's data is untouched. */
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)pa);
    assert_int_equal(ht_http(&g_sv, &r, "GET", path, KEY_A, NULL, NULL, 0), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "alice's obama");
    assert_int_equal((int)gt_num(r.json, "faces"), 1);
    ht_free(&r);
    snprintf(path, sizeof(path), "/v1/faces/%lld/thumbnail", (long long)fa);
    assert_int_equal(ht_http(&g_sv, &r, "GET", path, KEY_A, NULL, NULL, 0), 200);
    assert_string_equal(r.ctype, "image/jpeg");
    assert_true(r.len > 500 && (unsigned char)r.body[0] == 0xFF && (unsigned char)r.body[1] == 0xD8);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/recognize", KEY_A, NULL, img.data, img.len), 200);
    assert_true(has_name(r.json, "alice's obama"));
    ht_free(&r);
    /* A's own index of the same photo again: skipped. */
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", KEY_A, NULL, two.data, two.len), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "skipped")));
    ht_free(&r);
    free(img.data);
    free(two.data);
}

/* ---- accuracy: face_recognition's knn example -------------------------------- */

static void test_accuracy(void **state) {
    static const char *const people[] = { "alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie" };
    static const char *const train[][2] = {
        { "alex_lacamoire/img1.jpg", NULL },  { "biden/biden.jpg", "biden/biden2.jpg" },
        { "kit_harington/john1.jpeg", "kit_harington/john2.jpeg" }, { "obama/obama.jpg", "obama/obama2.jpg" },
        { "rose_leslie/img1.jpg", "rose_leslie/img2.jpg" },
    };
    for (int i = 0; i < 5; i++) {
        int64_t p = add_person(KEY_C, people[i]);
        for (int j = 0; j < 2 && train[i][j]; j++) {
            char rel[256];
            snprintf(rel, sizeof(rel), "examples/knn_examples/train/%s", train[i][j]);
            enroll(KEY_C, p, rel);
        }
    }
    /* The expectations of test-cli.sh's identify test. */
    static const struct {
        const char *file, *names[2];
    } tests[] = {
        { "obama1.jpg", { "obama", NULL } },
        { "alex_lacamoire1.jpg", { "alex_lacamoire", NULL } },
        { "kit_with_rose.jpg", { "kit_harington", "rose_leslie" } },
        { "obama_and_biden.jpg", { "obama", "biden" } },
        { "johnsnow_test1.jpg", { "kit_harington", NULL } },
    };
    int right = 0, total = 0;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/examples/knn_examples/test/%s", fr_test_data_dir(), tests[i].file);
        cJSON *ans = recognize(KEY_C, path);
        for (int j = 0; j < 2 && tests[i].names[j]; j++) {
            total++;
            if (has_name(ans, tests[i].names[j])) right++;
            else print_message("  %s: %s not recognized: %s\n", tests[i].file, tests[i].names[j],
                               cJSON_PrintUnformatted(ans));
        }
        cJSON_Delete(ans);
    }
    /* A stranger (not enrolled): unknown, with candidates all beyond the threshold. */
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/lin-manuel-miranda.png", fr_test_data_dir());
    cJSON *ans = recognize(KEY_C, path);
    cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(ans, "faces"), 0);
    bool unknown = cJSON_IsTrue(cJSON_GetObjectItem(f0, "unknown"));
    print_message("  knn accuracy: %d/%d expected names; stranger: %s (nearest %s at %.3f)\n", right, total,
                  unknown ? "unknown" : "MATCHED",
                  cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(f0, "candidates"), 0), "name")->valuestring,
                  gt_num(f0, "distance"));
    assert_int_equal(right, total);
    assert_true(unknown);
    assert_string_equal(cJSON_GetObjectItem(f0, "name")->valuestring, "unknown");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(f0, "person")));
    cJSON_Delete(ans);
}

/* ---- clustering the 38-photo set ------------------------------------------------ */

/* The identity of a single-person photo, by its file name; NULL when the
 * photo has several people or nobody known. */
static const char *truth(const char *path) {
    const char *b = strrchr(path, '/') + 1;
    if (strstr(path, "kit_with_rose") || strstr(path, "obama_and_biden") || strstr(path, "two_people") ||
        strstr(path, "samples/") || strstr(path, "32bit"))
        return NULL;
    if (strstr(b, "obama")) return "obama";
    if (strstr(b, "biden")) return "biden";
    if (strstr(b, "alex")) return "alex";
    if (strstr(b, "lin-manuel")) return "lin";
    if (strstr(path, "kit_harington/") || strstr(b, "johnsnow")) return "kit";
    if (strstr(path, "rose_leslie/")) return "rose";
    return NULL;
}

static void test_cluster(void **state) {
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd %s && (find ../shared/testdata/face_recognition -type f \\( -name '*.jpg' -o -name '*.jpeg' -o -name "
             "'*.png' \\) | sort; ls models/samples/sample[1-6].jpg)",
             FR_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    enum { MAXF = 256 };
    int64_t face_id[MAXF];
    const char *face_truth[MAXF];
    int nf = 0, nimg = 0;
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = 0;
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", FR_SOURCE_DIR, line);
        struct blob b = ht_read(path);
        struct ht_resp r;
        long st = ht_http(&g_sv, &r, "POST", "/v1/index", KEY_D, NULL, b.data, b.len);
        /* Some photos are byte-identical copies (skipped, 200). */
        if (st != 200 && st != 201) fail_msg("index %s: %ld %s", line, st, r.body);
        nimg++;
        const cJSON *faces = cJSON_GetObjectItem(r.json, "faces"), *f;
        /* The truth applies to the largest face of a single-person photo. */
        int64_t best = 0;
        double area = -1;
        cJSON_ArrayForEach(f, faces) {
            const cJSON *box = cJSON_GetObjectItem(f, "box");
            double a = cJSON_GetArrayItem(box, 2)->valuedouble * cJSON_GetArrayItem(box, 3)->valuedouble;
            if (a > area) area = a, best = (int64_t)gt_num(f, "id");
        }
        if (best && truth(line) && nf < MAXF) {
            face_id[nf] = best;
            face_truth[nf] = truth(line);
            nf++;
        }
        ht_free(&r);
        free(b.data);
    }
    pclose(p);
    assert_int_equal(nimg, 38);
    struct ht_resp r;
    assert_int_equal(ht_json(&g_sv, &r, "POST", "/v1/cluster", KEY_D, "{\"min_faces\":2,\"max_distance\":0.5}"), 200);
    print_message("  cluster: %s\n", r.body);
    ht_free(&r);
    /* face -> person from the people's face lists. */
    int64_t person_of[MAXF] = { 0 };
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/people?limit=1000", KEY_D, NULL, NULL, 0), 200);
    const cJSON *pe;
    int n_people = 0;
    cJSON_ArrayForEach(pe, cJSON_GetObjectItem(r.json, "people")) {
        int64_t pid = (int64_t)gt_num(pe, "id");
        n_people++;
        char path[128];
        snprintf(path, sizeof(path), "/v1/people/%lld/faces?limit=1000", (long long)pid);
        struct ht_resp fr;
        assert_int_equal(ht_http(&g_sv, &fr, "GET", path, KEY_D, NULL, NULL, 0), 200);
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(fr.json, "faces")) {
            for (int i = 0; i < nf; i++)
                if (face_id[i] == (int64_t)gt_num(f, "id")) person_of[i] = pid;
        }
        ht_free(&fr);
    }
    ht_free(&r);
    /* Unassigned faces count as clusters of their own. */
    for (int i = 0; i < nf; i++)
        if (!person_of[i]) person_of[i] = -face_id[i];
    /* Purity: each cluster's share of its majority identity; completeness:
     * each identity's share in its largest cluster; both face-weighted. */
    int pure = 0, complete = 0;
    for (int i = 0; i < nf; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen |= person_of[j] == person_of[i];
        if (!seen) {
            int best = 0;
            for (int a = 0; a < nf; a++) {
                if (person_of[a] != person_of[i]) continue;
                int c = 0;
                for (int b = 0; b < nf; b++) c += person_of[b] == person_of[i] && !strcmp(face_truth[b], face_truth[a]);
                if (c > best) best = c;
            }
            pure += best;
        }
        seen = false;
        for (int j = 0; j < i; j++) seen |= !strcmp(face_truth[j], face_truth[i]);
        if (!seen) {
            int best = 0;
            for (int a = 0; a < nf; a++) {
                if (strcmp(face_truth[a], face_truth[i])) continue;
                int c = 0;
                for (int b = 0; b < nf; b++) c += person_of[b] == person_of[a] && !strcmp(face_truth[b], face_truth[i]);
                if (c > best) best = c;
            }
            complete += best;
        }
    }
    double purity = (double)pure / nf, completeness = (double)complete / nf;
    int obama = 0, obama_same = 0;
    int64_t obama_person = 0;
    for (int i = 0; i < nf; i++)
        if (!strcmp(face_truth[i], "obama")) {
            obama++;
            if (!obama_person && person_of[i] > 0) obama_person = person_of[i];
        }
    for (int i = 0; i < nf; i++) obama_same += !strcmp(face_truth[i], "obama") && person_of[i] == obama_person;
    print_message("  38 photos, %d labelled faces, %d people: purity %.3f, completeness %.3f; obama %d/%d in one "
                  "person\n",
                  nf, n_people, purity, completeness, obama_same, obama);
    assert_true(purity >= 0.95);
    assert_true(completeness >= 0.75);
    assert_int_equal(obama_same, obama);

    /* Incremental: a new obama photo joins the obama person. */
    snprintf(cmd, sizeof(cmd), "%s/examples/knn_examples/test/obama1.jpg", fr_test_data_dir());
    struct blob b = ht_read(cmd);
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", KEY_D, NULL, b.data, b.len), 200); /* already in the set */
    ht_free(&r);
    free(b.data);
}

/* ---- bad input ----------------------------------------------------------------- */

static void expect_4xx(long got, struct ht_resp *r, long want, const char *code, const char *what) {
    if (got != want || strcmp(gt_code(r), code))
        fail_msg("%s: got %ld %s, want %ld %s", what, got, r->body ? r->body : "", want, code);
    ht_free(r);
}

static void test_bad_input(void **state) {
    struct ht_resp r;
    int64_t p = add_person(KEY_B, "someone");
    char path[128];
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people", NULL, NULL, NULL, 0), &r, 401, "unauthorized", "no key");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people", "wrong", NULL, NULL, 0), &r, 401, "unauthorized", "bad key");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people/999999", KEY_B, NULL, NULL, 0), &r, 404, "not_found", "id");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people/abc", KEY_B, NULL, NULL, 0), &r, 404, "not_found", "text id");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people/0", KEY_B, NULL, NULL, 0), &r, 404, "not_found", "id 0");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people/99999999999999999999999", KEY_B, NULL, NULL, 0), &r, 404,
               "not_found", "huge id");
    expect_4xx(ht_http(&g_sv, &r, "DELETE", "/v1/faces/424242", KEY_B, NULL, NULL, 0), &r, 404, "not_found", "face");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/faces/424242/thumbnail", KEY_B, NULL, NULL, 0), &r, 404, "not_found",
               "thumbnail");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{\"name\":"), &r, 400, "invalid_json", "truncated");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "[1,2]"), &r, 400, "invalid_request", "array");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{\"name\":\"x\"} trailing"), &r, 400, "invalid_json",
               "trailing");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{\"nom\":\"x\"}"), &r, 400, "invalid_request",
               "unknown key");
    assert_non_null(strstr(r.body ? r.body : "\"nom\"", "nom"));
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{}"), &r, 400, "invalid_request", "no name");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{\"name\":12}"), &r, 400, "invalid_request",
               "number name");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{\"name\":\"\"}"), &r, 400, "invalid_request",
               "empty name");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, "{\"name\":\"a\\u0001b\"}"), &r, 400,
               "invalid_request", "control character");
    char *big = malloc(10 * 1024 + 32);
    strcpy(big, "{\"name\":\"");
    memset(big + 9, 'x', 10 * 1024);
    strcpy(big + 9 + 10 * 1024, "\"}");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/people", KEY_B, big), &r, 400, "invalid_request", "10 KB name");
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)p);
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, KEY_B, big), &r, 400, "invalid_request", "10 KB rename");
    free(big);
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, KEY_B, "{\"name\":null}"), &r, 400, "invalid_request", "null name");
    snprintf(path, sizeof(path), "/v1/people/%lld/merge", (long long)p);
    expect_4xx(ht_json(&g_sv, &r, "POST", path, KEY_B, "{\"from\":\"1\"}"), &r, 400, "invalid_request", "from type");
    expect_4xx(ht_json(&g_sv, &r, "POST", path, KEY_B, "{}"), &r, 400, "invalid_request", "no from");
    expect_4xx(ht_json(&g_sv, &r, "POST", path, KEY_B, "{\"from\":987654}"), &r, 404, "not_found", "from unknown");
    char self[64];
    snprintf(self, sizeof(self), "{\"from\":%lld}", (long long)p);
    expect_4xx(ht_json(&g_sv, &r, "POST", path, KEY_B, self), &r, 400, "invalid_request", "merge self");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/cluster", KEY_B, "{\"min_faces\":0}"), &r, 400, "invalid_request",
               "min_faces 0");
    expect_4xx(ht_json(&g_sv, &r, "POST", "/v1/cluster", KEY_B, "{\"max_distance\":\"far\"}"), &r, 400,
               "invalid_request", "max_distance type");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people?limit=0", KEY_B, NULL, NULL, 0), &r, 400, "invalid_request",
               "limit 0");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/people?after=x", KEY_B, NULL, NULL, 0), &r, 400, "invalid_request",
               "after x");
    expect_4xx(ht_http(&g_sv, &r, "PUT", "/v1/people", KEY_B, NULL, NULL, 0), &r, 405, "method_not_allowed", "PUT");
    /* Images: no face is 422 for enroll and an empty list elsewhere; not an image is 400. */
    /* A flat grey JPEG: an image without a face. */
    struct blob noface = { 0 };
    {
        unsigned char px[64 * 64 * 3], *jpg = NULL;
        unsigned long n = 0;
        memset(px, 128, sizeof(px));
        tjhandle tj = tjInitCompress();
        assert_int_equal(tjCompress2(tj, px, 64, 64 * 3, 64, TJPF_RGB, &jpg, &n, TJSAMP_444, 90, 0), 0);
        noface.data = malloc(n);
        memcpy(noface.data, jpg, n);
        noface.len = n;
        tjFree(jpg);
        tjDestroy(tj);
    }
    snprintf(path, sizeof(path), "/v1/people/%lld/faces", (long long)p);
    expect_4xx(ht_http(&g_sv, &r, "POST", path, KEY_B, "image/jpeg", noface.data, noface.len), &r, 422, "no_face",
               "enroll without a face");
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/recognize", KEY_B, "image/jpeg", noface.data, noface.len), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "faces")), 0);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/index", KEY_B, "image/jpeg", noface.data, noface.len), 201);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "faces")), 0);
    ht_free(&r);
    expect_4xx(ht_http(&g_sv, &r, "POST", path, KEY_B, NULL, "not an image", 12), &r, 400, "invalid_image", "garbage");
    expect_4xx(ht_http(&g_sv, &r, "POST", "/v1/recognize?k=0", KEY_B, "image/jpeg", noface.data, noface.len), &r, 400,
               "invalid_request", "k 0");
    expect_4xx(ht_http(&g_sv, &r, "POST", "/v1/people/987654/faces", KEY_B, "image/jpeg", noface.data, noface.len), &r,
               404, "not_found", "enroll unknown person");
    free(noface.data);
}

/* ---- /status by key -------------------------------------------------------------- */

static void test_status(void **state) {
    struct ht_resp r;
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/status", NULL, NULL, NULL, 0), 200);
    assert_null(cJSON_GetObjectItem(r.json, "gallery"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "queue"), "per_user")), 0);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/status", KEY_B, NULL, NULL, 0), 200);
    cJSON *users = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "gallery"), "users");
    assert_int_equal(cJSON_GetArraySize(users), 1);
    assert_non_null(cJSON_GetObjectItem(users, "bob"));
    cJSON *pu = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "queue"), "per_user"), *e;
    cJSON_ArrayForEach(e, pu) assert_string_equal(e->string, "bob");
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/status", g_admin, NULL, NULL, 0), 200);
    users = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "gallery"), "users");
    assert_true(cJSON_GetArraySize(users) >= 5);
    assert_non_null(cJSON_GetObjectItem(users, "alice"));
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/status", "nope", NULL, NULL, 0), 401);
    ht_free(&r);
}

/* ---- each gallery route's success answer ---------------------------------------- */

/* The successful answers of rename, merge, paging, face and person
 * deletion and recognize with landmarks, each checked here and, through
 * the contract log, against docs/openapi.yaml (test-contract). */
static void test_lifecycle(void **state) {
    struct ht_resp r;
    char path[128], body[128];
    int64_t pa = add_person(KEY_E, "first"), pb = add_person(KEY_E, "second");
    int64_t fa = enroll(KEY_E, pa, "examples/obama.jpg");
    enroll(KEY_E, pb, "examples/obama2.jpg");
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)pa);
    assert_int_equal(ht_json(&g_sv, &r, "PATCH", path, KEY_E, "{\"name\":\"Barack\"}"), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "Barack");
    ht_free(&r);
    snprintf(path, sizeof(path), "/v1/people/%lld/merge", (long long)pa);
    snprintf(body, sizeof(body), "{\"from\":%lld}", (long long)pb);
    assert_int_equal(ht_json(&g_sv, &r, "POST", path, KEY_E, body), 200);
    assert_int_equal((int)gt_num(r.json, "faces"), 2);
    ht_free(&r);
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)pb);
    assert_int_equal(ht_http(&g_sv, &r, "GET", path, KEY_E, NULL, NULL, 0), 404);
    ht_free(&r);
    /* Pages of one face: full pages name the next cursor, the last none. */
    int64_t after = 0;
    for (int page = 0; page < 3; page++) {
        snprintf(path, sizeof(path), "/v1/people/%lld/faces?limit=1&after=%lld", (long long)pa, (long long)after);
        assert_int_equal(ht_http(&g_sv, &r, "GET", path, KEY_E, NULL, NULL, 0), 200);
        const cJSON *next = cJSON_GetObjectItem(r.json, "next_after");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "faces")), page < 2 ? 1 : 0);
        if (page < 2) after = (int64_t)next->valuedouble;
        else assert_true(cJSON_IsNull(next));
        ht_free(&r);
    }
    struct blob b = ht_data("examples/obama2.jpg");
    assert_int_equal(ht_http(&g_sv, &r, "POST", "/v1/recognize?k=2&landmarks=1", KEY_E, NULL, b.data, b.len), 200);
    const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
    assert_string_equal(cJSON_GetObjectItem(f0, "name")->valuestring, "Barack");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f0, "landmarks")), 68);
    ht_free(&r);
    free(b.data);
    snprintf(path, sizeof(path), "/v1/faces/%lld", (long long)fa);
    assert_int_equal(ht_http(&g_sv, &r, "DELETE", path, KEY_E, NULL, NULL, 0), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "deleted")));
    ht_free(&r);
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)pa);
    assert_int_equal(ht_http(&g_sv, &r, "DELETE", path, KEY_E, NULL, NULL, 0), 200);
    assert_int_equal((int)gt_num(r.json, "faces_deleted"), 1);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/people", KEY_E, NULL, NULL, 0), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "people")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "next_after")));
    ht_free(&r);
}

/* ---- moving a face; the unassigned list; the web app's files ------------------- */

/* A new user of the running server's data directory (the server sees the
 * key at once); its key into key. */
static void new_user(const char *name, char *key, size_t len) {
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/facerec user add %s --data %s 2>/dev/null", FR_BINARY_DIR, name, g_data);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(key, (int)len, p));
    pclose(p);
    key[strcspn(key, "\r\n")] = 0;
}

static int64_t face_person(const struct ht_resp *r) {
    const cJSON *p = cJSON_GetObjectItem(r->json, "person");
    return cJSON_IsNumber(p) ? (int64_t)p->valuedouble : 0;
}

static bool unassigned_has(const char *key, int64_t face) {
    struct ht_resp r;
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/faces/unassigned?limit=1000", key, NULL, NULL, 0), 200);
    bool found = false;
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(r.json, "faces")) found |= (int64_t)gt_num(f, "id") == face;
    ht_free(&r);
    return found;
}

static void test_face_move(void **state) {
    /* Users of their own: the key file's erin is test_lifecycle's. */
    char erin[128], frank[128], path[96], body[96];
    new_user("gina", erin, sizeof(erin));
    new_user("frank", frank, sizeof(frank));
    int64_t a = add_person(erin, "Obama"), b = add_person(erin, "Someone else");
    int64_t f = enroll(erin, a, "examples/obama.jpg");
    int64_t theirs = add_person(frank, "Frank's");
    struct ht_resp r;
    snprintf(path, sizeof(path), "/v1/faces/%lld", (long long)f);

    /* To another person: the store and the search follow. */
    snprintf(body, sizeof(body), "{\"person\":%lld}", (long long)b);
    assert_int_equal(ht_json(&g_sv, &r, "PATCH", path, erin, body), 200);
    assert_int_equal(face_person(&r), b);
    assert_int_equal((int64_t)gt_num(r.json, "id"), f);
    ht_free(&r);
    snprintf(body, sizeof(body), "/v1/people/%lld", (long long)b);
    assert_int_equal(ht_http(&g_sv, &r, "GET", body, erin, NULL, NULL, 0), 200);
    assert_int_equal((int)gt_num(r.json, "faces"), 1);
    ht_free(&r);
    char file[1024];
    snprintf(file, sizeof(file), "%s/examples/obama2.jpg", fr_test_data_dir());
    cJSON *ans = recognize(erin, file);
    assert_true(has_name(ans, "Someone else"));
    assert_false(has_name(ans, "Obama"));
    cJSON_Delete(ans);

    /* Back among the unassigned: no longer recognized, listed as unassigned. */
    assert_int_equal(ht_json(&g_sv, &r, "PATCH", path, erin, "{\"person\":null}"), 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "person")));
    ht_free(&r);
    assert_true(unassigned_has(erin, f));
    ans = recognize(erin, file);
    assert_false(has_name(ans, "Someone else"));
    cJSON_Delete(ans);

    /* Isolation: frank can neither move erin's face nor see it; erin
     * cannot move her face into frank's person. */
    snprintf(body, sizeof(body), "{\"person\":%lld}", (long long)theirs);
    expect_404(ht_json(&g_sv, &r, "PATCH", path, frank, body), &r, "frank moves erin's face");
    expect_404(ht_json(&g_sv, &r, "PATCH", path, erin, body), &r, "erin moves into frank's person");
    assert_false(unassigned_has(frank, f));
    assert_true(unassigned_has(erin, f));

    /* Bad input. */
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, erin, "{}"), &r, 400, "invalid_request", "no person");
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, erin, "{\"person\":\"1\"}"), &r, 400, "invalid_request", "string");
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, erin, "{\"person\":0}"), &r, 400, "invalid_request", "zero");
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, erin, "{\"person\":1.5}"), &r, 400, "invalid_request", "fraction");
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, erin, "{\"person\":null,\"x\":1}"), &r, 400, "invalid_request",
               "unknown key");
    expect_4xx(ht_json(&g_sv, &r, "PATCH", path, erin, "{\"person\":"), &r, 400, "invalid_json", "malformed");
    expect_404(ht_json(&g_sv, &r, "PATCH", "/v1/faces/999999999", erin, "{\"person\":null}"), &r, "no such face");
    expect_4xx(ht_http(&g_sv, &r, "GET", "/v1/faces/unassigned?limit=0", erin, NULL, NULL, 0), &r, 400,
               "invalid_request", "limit 0");
    assert_int_equal(ht_http(&g_sv, &r, "GET", "/v1/faces/unassigned", NULL, NULL, NULL, 0), 401);
    ht_free(&r);
    /* Still where it was after all that. */
    assert_true(unassigned_has(erin, f));
}

/* A web app file; if_none_match: that request header's value, or NULL. */
static long web_get(const char *method, const char *path, const char *if_none_match, struct ht_resp *w) {
    char h[160];
    snprintf(h, sizeof(h), "If-None-Match: %s", if_none_match ? if_none_match : "");
    ht_free(w);
    return ht_send(&g_sv, &(struct ht_req){ .method = method, .path = path, .header = if_none_match ? h : NULL, .not_api = true }, w);
}

static void test_web_files(void **state) {
#ifndef FR_HAVE_WEB
    skip();
#else
    struct ht_resp w = { 0 };
    /* The index page, with its security headers and a validator. */
    assert_int_equal(web_get("GET", "/", NULL, &w), 200);
    assert_string_equal(w.ctype, "text/html; charset=utf-8");
    assert_true(w.len > 100);
    assert_non_null(strstr(w.csp, "default-src 'self'"));
    assert_non_null(strstr(w.csp, "script-src 'self';"));
    assert_null(strstr(w.csp, "unsafe"));
    assert_string_equal(w.nosniff, "nosniff");
    assert_true(w.etag[0] == '"' && strlen(w.etag) == 34);
    char etag[96];
    snprintf(etag, sizeof(etag), "%s", w.etag);
    /* The same file by name; a matching If-None-Match (also in a list, or
     * weak) is 304 without a body; another tag is 200. */
    assert_int_equal(web_get("GET", "/index.html", NULL, &w), 200);
    assert_string_equal(w.etag, etag);
    assert_int_equal(web_get("GET", "/", etag, &w), 304);
    assert_int_equal((long)w.len, 0);
    assert_string_equal(w.etag, etag);
    char list[200];
    snprintf(list, sizeof(list), "\"other\", W/%s", etag);
    assert_int_equal(web_get("GET", "/", list, &w), 304);
    assert_int_equal(web_get("GET", "/", "\"other\"", &w), 200);
    assert_int_equal(web_get("HEAD", "/", NULL, &w), 200);
    /* Each kind of file with its type; uPlot compiled in. */
    assert_int_equal(web_get("GET", "/app.js", NULL, &w), 200);
    assert_string_equal(w.ctype, "text/javascript; charset=utf-8");
    assert_int_equal(web_get("GET", "/app.css", NULL, &w), 200);
    assert_string_equal(w.ctype, "text/css; charset=utf-8");
    assert_int_equal(web_get("GET", "/vendor/uPlot.iife.min.js", NULL, &w), 200);
    assert_true(w.len > 10000);
    assert_int_equal(web_get("GET", "/favicon.svg", NULL, &w), 200);
    assert_string_equal(w.ctype, "image/svg+xml");
    /* Other methods, unknown files, no directory tricks. */
    assert_int_equal(web_get("POST", "/", NULL, &w), 405);
    assert_string_equal(w.allow, "GET, HEAD");
    assert_int_equal(web_get("DELETE", "/app.js", NULL, &w), 405);
    assert_int_equal(web_get("GET", "/nope.js", NULL, &w), 404);
    assert_int_equal(web_get("GET", "/vendor/", NULL, &w), 404);
    assert_int_equal(web_get("GET", "/index.html/", NULL, &w), 404);
    ht_free(&w);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isolation), cmocka_unit_test(test_accuracy), cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_status), cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_face_move), cmocka_unit_test(test_web_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
