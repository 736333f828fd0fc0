#define _GNU_SOURCE
/* Several `facerec serve` nodes on one PostgreSQL database (run by
 * tests/pg-tmp.sh, which starts a throwaway server and sets
 * FACEREC_TEST_PG). Three nodes on loopback ports:
 *   - users made with the CLI against the URL; a face enrolled on node 1
 *     is recognized on node 2 at once (a change notice, not polling), and
 *     its person's deletion on node 1 is seen by node 3;
 *   - an index job of N distinct images (300; 60 under the sanitizers),
 *     posted to node 1 and worked on by all three, with one node killed by
 *     SIGKILL while it holds a batch: the job ends done, every image is
 *     indexed exactly once and no face is lost or duplicated (checked in
 *     the database itself), and every node's matrix has every face;
 *   - another user sees none of it on any node. */
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <turbojpeg.h>

#include "gallery-util.h"

#if defined(__SANITIZE_ADDRESS__)
#define N_IMAGES 60
#else
#define N_IMAGES 300
#endif
#define N_NODES 3

static const char *g_url;
static char g_dir[256], g_imgs[300], g_keys[300];
static char g_alice[128], g_bob[128];
static struct ht_server g_sv[N_NODES];

/* Runs the CLI; its first output line into out. */
static void cli(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cli(char *out, size_t size, const char *fmt, ...) {
    char args[1024], cmd[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    /* FACEREC_TEST_PG is not a setting: the CLI would refuse it. */
    snprintf(cmd, sizeof(cmd), "env -u FACEREC_TEST_PG %s/facerec %s --data '%s'", FR_BINARY_DIR, args, g_url);
    int rc = gt_run(cmd, out, size);
    if (rc != 0) fail_msg("%s: exit %d", cmd, rc);
}

/* One number from SQL on the test database. */
static int64_t sql_num(const char *sql) {
    PGconn *c = PQconnectdb(g_url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    int64_t v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* N distinct JPEGs with faces: crops, flips and scales of the test photos. */
static void make_images(void) {
    static const char *base[] = {"examples/obama.jpg", "examples/biden.jpg", "examples/obama2.jpg",
                                 "examples/two_people.jpg", "examples/obama-480p.jpg", "examples/obama_small.jpg"};
    const int nb = (int)(sizeof(base) / sizeof(base[0]));
    tjhandle d = tjInitDecompress(), e = tjInitCompress();
    int made = 0;
    for (int b = 0; b < nb; b++) {
        struct blob f = ht_data(base[b]);
        int w, h, ss, cs;
        assert_int_equal(tjDecompressHeader3(d, (const unsigned char *)f.data, (unsigned long)f.len, &w, &h, &ss, &cs), 0);
        unsigned char *rgb = malloc((size_t)w * h * 3);
        assert_int_equal(tjDecompress2(d, (const unsigned char *)f.data, (unsigned long)f.len, rgb, w, 0, h, TJPF_RGB, 0), 0);
        int per = (N_IMAGES - made) / (nb - b);
        for (int v = 0; v < per; v++, made++) {
            /* Crop a margin of up to 8% from the left and top, flip every
             * other one, scale to at most 360 px wide. */
            int dx = (v / 2) % 5 * w / 60, dy = (v / 10) % 5 * h / 60, cw = w - dx, ch = h - dy;
            int ow = cw > 360 ? 360 : cw, oh = (int)((long)ch * ow / cw);
            unsigned char *out = malloc((size_t)ow * oh * 3);
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    int sx = dx + (int)((long)x * cw / ow), sy = dy + (int)((long)y * ch / oh);
                    if (v & 1) sx = dx + cw - 1 - (sx - dx);
                    memcpy(out + ((size_t)y * ow + x) * 3, rgb + ((size_t)sy * w + sx) * 3, 3);
                }
            unsigned char *jpg = NULL;
            unsigned long jl = 0;
            assert_int_equal(tjCompress2(e, out, ow, 0, oh, TJPF_RGB, &jpg, &jl, TJSAMP_420, 85, 0), 0);
            char path[400];
            snprintf(path, sizeof(path), "%s/img-%03d.jpg", g_imgs, made);
            FILE *o = fopen(path, "wb");
            assert_non_null(o);
            assert_int_equal(fwrite(jpg, 1, jl, o), jl);
            fclose(o);
            tjFree(jpg);
            free(out);
        }
        free(rgb);
        free(f.data);
    }
    tjDestroy(d);
    tjDestroy(e);
    assert_int_equal(made, N_IMAGES);
}

static void start_node(int i) {
    char log[400], name[16];
    snprintf(log, sizeof(log), "%s/node%d.log", g_dir, i + 1);
    snprintf(name, sizeof(name), "n%d", i + 1);
    /* A short lease, so that a killed node's batch is taken over soon. */
    const char *extra[] = {"--node-name", name, "--index-lease-ms", "3000", "--index-batch", "4", NULL};
    gt_start_with(&g_sv[i], g_url, g_keys, log, true, extra);
}

static int setup(void **state) {
    (void)state;
    g_url = getenv("FACEREC_TEST_PG");
    if (!g_url || !*g_url) {
        fprintf(stderr, "test-cluster: FACEREC_TEST_PG is not set (run it through tests/pg-tmp.sh run)\n");
        return -1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(g_dir, sizeof(g_dir), "/tmp/fr-cluster-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_imgs, sizeof(g_imgs), "%s/photos", g_dir);
    snprintf(g_keys, sizeof(g_keys), "%s/keys", g_dir);
    mkdir(g_imgs, 0755);
    FILE *f = fopen(g_keys, "w");
    fclose(f);
    /* Users and keys through the CLI, on the URL. */
    cli(g_alice, sizeof(g_alice), "user add alice");
    cli(g_bob, sizeof(g_bob), "user add bob");
    double t0 = fr_test_now();
    make_images();
    print_message("  %d images made in %.1f s\n", N_IMAGES, fr_test_now() - t0);
    for (int i = 0; i < N_NODES; i++) start_node(i);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < N_NODES; i++)
        if (g_sv[i].pid > 0) ht_stop(&g_sv[i], SIGTERM);
    if (fr_test_rm_rf(g_dir)) {}
    curl_global_cleanup();
    return 0;
}

/* Whether node i recognizes `name` in the image (a data file). */
static bool sees(int i, const char *key, const char *rel, const char *name) {
    struct blob b = ht_data(rel);
    struct ht_resp r;
    long st = ht_http(&g_sv[i], &r, "POST", "/v1/recognize?k=3", key, NULL, b.data, b.len);
    free(b.data);
    if (st != 200) fail_msg("recognize on node %d: %ld %s", i + 1, st, r.body ? r.body : "");
    bool found = false;
    const cJSON *fc;
    cJSON_ArrayForEach(fc, cJSON_GetObjectItem(r.json, "faces")) {
        const cJSON *n = cJSON_GetObjectItem(fc, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) found = true;
    }
    ht_free(&r);
    return found;
}

static void test_enroll_recognize(void **state) {
    (void)state;
    struct ht_resp r;
    /* Warm every node's matrix for alice first: the change must reach a
     * node that already holds her gallery in memory. */
    for (int i = 0; i < N_NODES; i++) assert_false(sees(i, g_alice, "examples/obama2.jpg", "Barack"));
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/people", g_alice, "{\"name\":\"Barack\"}"), 201);
    int64_t person = (int64_t)gt_num(r.json, "id");
    ht_free(&r);
    struct blob b = ht_data("examples/obama.jpg");
    char path[96];
    snprintf(path, sizeof(path), "/v1/people/%lld/faces", (long long)person);
    assert_int_equal(ht_http(&g_sv[0], &r, "POST", path, g_alice, NULL, b.data, b.len), 201);
    double t_ack = fr_test_now();
    ht_free(&r);
    free(b.data);
    /* The recognize sent right after the 201, to another node, finds it. */
    double t_sent = fr_test_now();
    bool seen = sees(1, g_alice, "examples/obama2.jpg", "Barack");
    print_message("  node 2 recognized the face enrolled on node 1: %s (request sent %.0f ms after the 201)\n",
                  seen ? "yes" : "no", (t_sent - t_ack) * 1000);
    assert_true(seen);
    assert_true(t_sent - t_ack < 1.0);
    /* Bob sees nothing of it, on any node. */
    for (int i = 0; i < N_NODES; i++) assert_false(sees(i, g_bob, "examples/obama2.jpg", "Barack"));
    /* A deletion on node 1 reaches node 3. */
    snprintf(path, sizeof(path), "/v1/people/%lld", (long long)person);
    assert_int_equal(ht_http(&g_sv[0], &r, "DELETE", path, g_alice, NULL, NULL, 0), 200);
    ht_free(&r);
    assert_false(sees(2, g_alice, "examples/obama2.jpg", "Barack"));
    /* The CLI on the URL sees what the servers wrote (and isolation holds there too). */
    char line[512];
    cli(line, sizeof(line), "people list --user bob --json");
    assert_string_equal(line, "{\"people\":[]}");
}

/* Node index holding claimed items right now (by name n1..n3), or -1. */
static int node_holding(int64_t job) {
    for (int i = 1; i < N_NODES; i++) {
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM job_items WHERE job_id = %lld AND state = 1 AND node = 'n%d'",
                 (long long)job, i + 1);
        if (sql_num(sql) > 0) return i;
    }
    return -1;
}

static void test_index_job_with_a_node_killed(void **state) {
    (void)state;
    struct ht_resp r;
    char body[512];
    snprintf(body, sizeof(body), "{\"kind\":\"index\",\"paths\":[\"%s\"]}", g_imgs);
    double t0 = fr_test_now();
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/jobs", g_alice, body), 201);
    int64_t job = (int64_t)gt_num(r.json, "id");
    assert_int_equal((int)gt_num(r.json, "total"), N_IMAGES);
    ht_free(&r);
    char path[64];
    snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)job);
    /* Bob cannot see or cancel it on any node. */
    for (int i = 0; i < N_NODES; i++) {
        assert_int_equal(ht_http(&g_sv[i], &r, "GET", path, g_bob, NULL, NULL, 0), 404);
        ht_free(&r);
        assert_int_equal(ht_http(&g_sv[i], &r, "DELETE", path, g_bob, NULL, NULL, 0), 404);
        ht_free(&r);
    }
    /* Once a quarter is done, kill a node (not node 1) while it holds a batch. */
    int killed = -1;
    int64_t held_at_kill = 0;
    while (killed < 0) {
        assert_int_equal(ht_http(&g_sv[0], &r, "GET", path, g_alice, NULL, NULL, 0), 200);
        double done = gt_num(r.json, "done");
        ht_free(&r);
        if (fr_test_now() - t0 > 600) fail_msg("the job did not progress in 600 s");
        int i = done >= N_IMAGES / 4 ? node_holding(job) : -1;
        if (i < 0) {
            fr_test_sleep_ms(20);
            continue;
        }
        ht_stop(&g_sv[i], SIGKILL);
        killed = i;
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM job_items WHERE job_id = %lld AND state = 1 AND node = 'n%d'",
                 (long long)job, i + 1);
        held_at_kill = sql_num(sql);
        print_message("  node %d killed after %.1f s, %g done, holding %lld items\n", i + 1, fr_test_now() - t0, done,
                      (long long)held_at_kill);
    }
    /* The rest finish the job, the dead node's batch included. */
    cJSON *doc = NULL;
    for (;;) {
        assert_int_equal(ht_http(&g_sv[0], &r, "GET", path, g_alice, NULL, NULL, 0), 200);
        const char *state = cJSON_GetObjectItem(r.json, "state")->valuestring;
        if (strcmp(state, "running")) {
            doc = r.json;
            r.json = NULL;
            ht_free(&r);
            break;
        }
        ht_free(&r);
        if (fr_test_now() - t0 > 900) fail_msg("the job did not finish in 900 s");
        fr_test_sleep_ms(100);
    }
    double secs = fr_test_now() - t0;
    char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "nodes"));
    print_message("  job done in %.1f s (%.1f images/s), nodes: %s\n", secs, N_IMAGES / secs, txt);
    free(txt);
    assert_string_equal(cJSON_GetObjectItem(doc, "state")->valuestring, "done");
    assert_int_equal((int)gt_num(doc, "done"), N_IMAGES);
    assert_int_equal((int)gt_num(doc, "failed"), 0);
    cJSON_Delete(doc);

    /* In the database: every image once, every item done once, the faces
     * written equal to the faces the items recorded (none lost, none twice). */
    char sql[400];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM images i JOIN users u ON u.id = i.user_id WHERE u.name = 'alice' AND i.name "
             "LIKE 'img-%%'");
    assert_int_equal(sql_num(sql), N_IMAGES);
    snprintf(sql, sizeof(sql), "SELECT count(DISTINCT sha256) FROM images WHERE name LIKE 'img-%%'");
    assert_int_equal(sql_num(sql), N_IMAGES);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM job_items WHERE job_id = %lld AND state = 2", (long long)job);
    assert_int_equal(sql_num(sql), N_IMAGES);
    snprintf(sql, sizeof(sql), "SELECT sum(faces) FROM job_items WHERE job_id = %lld", (long long)job);
    int64_t recorded = sql_num(sql);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id WHERE i.name LIKE 'img-%%'");
    int64_t stored = sql_num(sql);
    print_message("  %lld faces in %d images\n", (long long)stored, N_IMAGES);
    assert_int_equal(stored, recorded);
    assert_true(stored >= N_IMAGES * 9 / 10); /* nearly every variant keeps its face */
    /* No image has its faces twice: per image, distinct boxes = faces. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT image_id FROM faces GROUP BY image_id, box_x, box_y, box_w, box_h "
             "HAVING count(*) > 1) d");
    assert_int_equal(sql_num(sql), 0);
    /* The dead node's items were finished by the living ones. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM job_items WHERE job_id = %lld AND node = 'n%d' AND state <> 2",
             (long long)job, killed + 1);
    assert_int_equal(sql_num(sql), 0);

    /* Every living node's matrix has every face: the users' face counts
     * agree, and an indexed image is recognized as itself after naming it. */
    for (int i = 0; i < N_NODES; i++) {
        if (i == killed) continue;
        assert_int_equal(ht_http(&g_sv[i], &r, "GET", "/v1/people", g_bob, NULL, NULL, 0), 200);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "people")), 0);
        ht_free(&r);
    }
    /* Clustering on one node puts the indexed faces into people; another
     * node then recognizes them. */
    int other = killed == 1 ? 2 : 1;
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/cluster", g_alice, "{}"), 200);
    assert_true(gt_num(r.json, "created") > 0);
    ht_free(&r);
    struct blob b = ht_data("examples/biden.jpg");
    assert_int_equal(ht_http(&g_sv[other], &r, "POST", "/v1/recognize", g_alice, NULL, b.data, b.len), 200);
    const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
    const cJSON *nm = cJSON_GetObjectItem(f0, "name");
    assert_true(cJSON_IsString(nm) && strncmp(nm->valuestring, "unnamed-", 8) == 0);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv[other], &r, "POST", "/v1/recognize", g_bob, NULL, b.data, b.len), 200);
    f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
    assert_string_equal(cJSON_GetObjectItem(f0, "name")->valuestring, "unknown");
    ht_free(&r);
    free(b.data);
    /* Cancelling a finished job changes nothing. */
    assert_int_equal(ht_http(&g_sv[other], &r, "DELETE", path, g_alice, NULL, NULL, 0), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "state")->valuestring, "done");
    ht_free(&r);
    /* Bad requests. */
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/jobs", g_alice, "{\"kind\":\"index\",\"paths\":[\"rel\"]}"),
                     400);
    ht_free(&r);
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/jobs", g_alice, "{\"kind\":\"index\",\"paths\":[\"/nope\"]}"),
                     400);
    ht_free(&r);
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/jobs", g_alice, "{\"kind\":\"cluster\",\"paths\":[\"/\"]}"),
                     400);
    ht_free(&r);
    assert_int_equal(ht_json(&g_sv[0], &r, "POST", "/v1/jobs", g_alice, "{\"kind\":"), 400);
    ht_free(&r);
    assert_int_equal(ht_http(&g_sv[0], &r, "GET", "/v1/jobs/999999", g_alice, NULL, NULL, 0), 404);
    ht_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enroll_recognize),
        cmocka_unit_test(test_index_job_with_a_node_killed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
