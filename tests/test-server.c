#define _GNU_SOURCE
/* `facerec serve` end to end: the real binary on a loopback port, driven
 * with libcurl and raw sockets. Error statuses and their JSON, results
 * equal to the CLI's for raw, multipart and base64 bodies, verify, many
 * users at once, `facerec monitor`, and clients that hang up (memory must
 * not grow). The limits on servers of their own (busy, timeout, SIGTERM
 * under load) are in test-server-limits.c. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/http.h"
#include "server-test.h"

/* ---- files ---------------------------------------------------------------- */

static char *b64(const struct blob *b) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *d = (const unsigned char *)b->data;
    size_t n = b->len, i = 0;
    char *s = malloc(n / 3 * 4 + 8), *p = s;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *p++ = a[v >> 18], *p++ = a[(v >> 12) & 63], *p++ = a[(v >> 6) & 63], *p++ = a[v & 63];
    }
    if (n - i) {
        unsigned v = (unsigned)d[i] << 16 | (n - i == 2 ? (unsigned)d[i + 1] << 8 : 0);
        *p++ = a[v >> 18], *p++ = a[(v >> 12) & 63], *p++ = n - i == 2 ? a[(v >> 6) & 63] : '=', *p++ = '=';
    }
    *p = 0;
    return s;
}

/* Waits until the only request the server is working on is /status. */
static void wait_idle(const struct ht_server *sv) {
    double t0 = fr_test_now();
    while (status_field(sv, "requests", "active") != 1 || status_field(sv, "requests", "waiting_on_scheduler") != 0) {
        if (fr_test_now() - t0 > 60) fail_msg("server not idle after 60 s");
        fr_test_sleep_ms(20);
    }
}

static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* ---- reference: the CLI ------------------------------------------------------------ */

static const char *const g_images[] = { "tests/test_images/obama.jpg", "tests/test_images/biden.jpg",
                                        "examples/two_people.jpg", "tests/test_images/obama2.jpg" };
#define N_IMAGES 4
static cJSON *g_ref[N_IMAGES]; /* `facerec embed --json` per image */
static struct blob g_blob[N_IMAGES];
static struct ht_server g_main;

static void load_reference(void) {
    char cmd[4096];
    int k = snprintf(cmd, sizeof(cmd), "env -u FACEREC_TESTDATA %s/facerec embed --json --quiet --models %s",
                     FR_BINARY_DIR, fr_test_models_dir());
    for (int i = 0; i < N_IMAGES; i++)
        k += snprintf(cmd + k, sizeof(cmd) - (size_t)k, " %s/%s", fr_test_data_dir(), g_images[i]);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char line[1 << 20];
    int n = 0;
    while (n < N_IMAGES && fgets(line, sizeof(line), p)) g_ref[n++] = cJSON_Parse(line);
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, N_IMAGES);
    for (int i = 0; i < N_IMAGES; i++) {
        assert_non_null(g_ref[i]);
        g_blob[i] = ht_data(g_images[i]);
    }
}

static bool near_array(const cJSON *a, const cJSON *b, double tol, char *why, size_t wl, const char *what) {
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || n != cJSON_GetArraySize(b)) {
        snprintf(why, wl, "%s: arrays differ in shape", what);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
        if (cJSON_IsArray(x)) {
            if (!near_array(x, y, tol, why, wl, what)) return false;
        } else if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y) || fabs(x->valuedouble - y->valuedouble) > tol) {
            snprintf(why, wl, "%s[%d]: %.9g vs %.9g", what, i, x->valuedouble, cJSON_IsNumber(y) ? y->valuedouble : NAN);
            return false;
        }
    }
    return true;
}

/* got is a server image slot, ref the CLI's line for that image. */
static bool same_faces(const cJSON *got, const cJSON *ref, bool embedding, char *why, size_t wl) {
    if (!got || cJSON_GetObjectItem(got, "error")) {
        snprintf(why, wl, "image slot missing or failed");
        return false;
    }
    if (cJSON_GetObjectItem(got, "width")->valueint != cJSON_GetObjectItem(ref, "width")->valueint ||
        cJSON_GetObjectItem(got, "height")->valueint != cJSON_GetObjectItem(ref, "height")->valueint) {
        snprintf(why, wl, "image size differs");
        return false;
    }
    const cJSON *gf = cJSON_GetObjectItem(got, "faces"), *rf = cJSON_GetObjectItem(ref, "faces");
    if (cJSON_GetArraySize(gf) != cJSON_GetArraySize(rf) || cJSON_GetArraySize(rf) == 0) {
        snprintf(why, wl, "%d faces, CLI %d", cJSON_GetArraySize(gf), cJSON_GetArraySize(rf));
        return false;
    }
    for (int i = 0; i < cJSON_GetArraySize(rf); i++) {
        const cJSON *g = cJSON_GetArrayItem(gf, i), *r = cJSON_GetArrayItem(rf, i);
        if (!near_array(cJSON_GetObjectItem(g, "box"), cJSON_GetObjectItem(r, "box"), 0.01, why, wl, "box") ||
            !near_array(cJSON_GetObjectItem(g, "landmarks"), cJSON_GetObjectItem(r, "landmarks"), 0.01, why, wl,
                        "landmarks"))
            return false;
        if (fabs(cJSON_GetObjectItem(g, "score")->valuedouble - cJSON_GetObjectItem(r, "score")->valuedouble) > 1e-4) {
            snprintf(why, wl, "score differs");
            return false;
        }
        const cJSON *ge = cJSON_GetObjectItem(g, "embedding");
        if (embedding && !near_array(ge, cJSON_GetObjectItem(r, "embedding"), 1e-4, why, wl, "embedding"))
            return false;
        if (!embedding && ge) {
            snprintf(why, wl, "detect answered an embedding");
            return false;
        }
    }
    return true;
}

static void expect_faces(const struct ht_resp *r, const int *which, int n, bool embedding) {
    if (r->status != 200) fail_msg("status %ld: %s", r->status, r->body ? r->body : "");
    const cJSON *imgs = cJSON_GetObjectItem(r->json, "images");
    assert_int_equal(cJSON_GetArraySize(imgs), n);
    for (int i = 0; i < n; i++) {
        char why[256];
        if (!same_faces(cJSON_GetArrayItem(imgs, i), g_ref[which[i]], embedding, why, sizeof(why)))
            fail_msg("%s: %s", g_images[which[i]], why);
    }
}

/* ---- setup ------------------------------------------------------------------------ */

static int setup(void **state) {
    (void)state;
    if (server_test_setup("test-server") != 0) return -1;
    load_reference();
    static const char *const extra[] = { "--max-body-bytes", "3MiB", NULL };
    server_start(&g_main, extra);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    int code = server_stop(&g_main);
    for (int i = 0; i < N_IMAGES; i++) {
        cJSON_Delete(g_ref[i]);
        free(g_blob[i].data);
    }
    server_test_teardown();
    return code == 0 ? 0 : -1;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_health(void **state) {
    (void)state;
    struct ht_resp r;
    get(&g_main, &r, "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "status")->valuestring, "ok");
    ht_free(&r);
    get(&g_main, &r, "/readyz");
    assert_int_equal(r.status, 200);
    ht_free(&r);
    get(&g_main, &r, "/status");
    assert_int_equal(r.status, 200);
    const cJSON *srv = cJSON_GetObjectItem(r.json, "server");
    assert_non_null(cJSON_GetObjectItem(srv, "uptime_s"));
    assert_non_null(cJSON_GetObjectItem(srv, "listen"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(srv, "requests"), "by_status"));
    assert_true(cJSON_GetObjectItem(r.json, "ready") != NULL); /* the scheduler's own fields */
    ht_free(&r);
}

/* GET /openapi.json: the compiled-in description, with an operation for
 * every row of the route table (tests/contract/routes.js checks the same
 * both ways on the YAML; this checks what the binary serves). */
static void test_openapi(void **state) {
    (void)state;
    struct ht_resp r;
    get(&g_main, &r, "/openapi.json");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    const cJSON *v = cJSON_GetObjectItem(r.json, "openapi"), *paths = cJSON_GetObjectItem(r.json, "paths");
    assert_true(cJSON_IsString(v) && !strncmp(v->valuestring, "3.1.", 4));
    assert_true(cJSON_IsObject(paths));
    for (int32_t i = 0; i < fr_http_route_count(); i++) {
        const char *method, *path;
        enum fr_http_auth auth;
        fr_http_route_at(i, &method, &path, &auth);
        char m[16];
        size_t k = 0;
        for (; method[k] && k < sizeof(m) - 1; k++) m[k] = (char)(method[k] | 0x20);
        m[k] = 0;
        if (!cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItemCaseSensitive(paths, path), m)))
            fail_msg("/openapi.json has no operation for %s %s", method, path);
    }
    ht_free(&r);
    /* Public: a wrong key does not matter, and HEAD answers too. */
    http(&g_main, &r, "HEAD", "/openapi.json", "no-such-key", NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    ht_free(&r);
    /* The other public route the spec lists with a type of its own. */
    get(&g_main, &r, "/metrics");
    assert_int_equal(r.status, 200);
    assert_true(!strncmp(r.ctype, "text/plain; version=0.0.4", 25));
    ht_free(&r);
}

/* ---- facerec monitor ------------------------------------------------------------------ */

/* Runs `facerec monitor ARGS` (stderr into *err_out when not NULL); returns
 * its exit status and stdout. */
static int run_monitor(const char *env, const char *args, char **out, char **err_out) {
    char cmd[2048], errf[300];
    snprintf(errf, sizeof(errf), "%s/monitor.err", g_dir);
    snprintf(cmd, sizeof(cmd), "env -u FACEREC_NVML_LIBRARY -u FACEREC_API_KEY %s %s/facerec monitor %s 2>%s",
             env ? env : "", FR_BINARY_DIR, args, errf);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) n += k;
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    if (err_out) *err_out = fr_test_read_file(errf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const cJSON *jget(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItem(o, a);
    return b ? cJSON_GetObjectItem(x, b) : x;
}

static void test_monitor(void **state) {
    (void)state;
    char args[512], *out, *err;
    struct ht_resp before;
    get(&g_main, &before, "/status");
    snprintf(args, sizeof(args), "--url http://127.0.0.1:%d --once --json --key key-u0", g_main.port);
    assert_int_equal(run_monitor(NULL, args, &out, NULL), 0);
    struct ht_resp after;
    get(&g_main, &after, "/status");
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_non_null(strchr(out, '\n'));
    assert_true(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
    const cJSON *sv = cJSON_GetObjectItem(j, "server");
    assert_true(cJSON_IsObject(sv));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sv, "ready")));
    assert_string_equal(cJSON_GetObjectItem(sv, "backend")->valuestring,
                        jget(before.json, "device", "backend")->valuestring);
    /* Settings and plan: equal to the server's. */
    assert_true(jget(sv, "device_memory_limit", NULL)->valuedouble ==
                jget(before.json, "memory", "device_limit")->valuedouble);
    assert_true(jget(sv, "host_memory_limit", NULL)->valuedouble ==
                jget(before.json, "memory", "host_limit")->valuedouble);
    assert_true(jget(sv, "queue_capacity", NULL)->valuedouble == jget(before.json, "queue", "capacity")->valuedouble);
    const cJSON *bl = cJSON_GetObjectItem(sv, "batch_limit");
    static const char *const st[3] = { "detect", "landmark", "recognize" };
    for (int k = 0; k < 3; k++)
        assert_true(cJSON_GetObjectItem(bl, st[k])->valuedouble ==
                    jget(cJSON_GetObjectItem(before.json, "batches"), st[k], "limit")->valuedouble);
    /* Counters: between the two /status reads around it. */
    double faces = jget(sv, "faces_total", NULL)->valuedouble;
    assert_true(faces >= jget(before.json, "throughput", "faces_total")->valuedouble);
    assert_true(faces <= jget(after.json, "throughput", "faces_total")->valuedouble);
    assert_true(faces > 0); /* earlier tests ran images */
    assert_true(jget(sv, "device_memory_used", NULL)->valuedouble > 0);
    assert_true(jget(sv, "device_memory_used", NULL)->valuedouble <= jget(sv, "device_memory_limit", NULL)->valuedouble);
    assert_true(cJSON_IsNumber(jget(sv, "queue_depth", NULL)));
    assert_true(cJSON_IsNumber(jget(sv, "in_flight_images", NULL)));
    assert_true(cJSON_IsNumber(jget(sv, "faces_per_s", NULL)));
    assert_true(cJSON_IsObject(jget(sv, "queue_per_stage", NULL)));
    /* This machine: no driver means gpu null with the reason, and the CPU
     * figure instead; with a driver, a list of GPUs. */
    const cJSON *gpu = cJSON_GetObjectItem(j, "gpu");
    if (cJSON_IsNull(gpu)) {
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "gpu_absent")));
        const cJSON *cpu = cJSON_GetObjectItem(j, "cpu_utilization");
        assert_true(cJSON_IsNumber(cpu) && cpu->valuedouble >= 0 && cpu->valuedouble <= 1);
    } else {
        assert_true(cJSON_IsArray(gpu));
    }
    cJSON_Delete(j);
    free(out);
    ht_free(&before);
    ht_free(&after);

    /* The fake NVML: two GPUs with its canned figures. */
    char env[512];
    snprintf(env, sizeof(env), "FACEREC_NVML_LIBRARY=%s", FAKE_NVML_PATH);
    assert_int_equal(run_monitor(env, args, &out, NULL), 0);
    j = cJSON_Parse(out);
    gpu = cJSON_GetObjectItem(j, "gpu");
    assert_int_equal(cJSON_GetArraySize(gpu), 2);
    assert_string_equal(jget(cJSON_GetArrayItem(gpu, 1), "name", NULL)->valuestring, "Fake GPU B");
    assert_true(fabs(jget(cJSON_GetArrayItem(gpu, 0), "utilization", NULL)->valuedouble - 0.42) < 1e-9);
    assert_true(cJSON_IsNull(jget(cJSON_GetArrayItem(gpu, 1), "power_w", NULL)));
    assert_null(cJSON_GetObjectItem(j, "gpu_absent"));
    cJSON_Delete(j);
    free(out);

    /* Not a terminal: plain lines, one per sample. */
    snprintf(args, sizeof(args), "--url http://127.0.0.1:%d --interval 0.2 --count 2", g_main.port);
    assert_int_equal(run_monitor(NULL, args, &out, NULL), 0);
    int lines = 0;
    for (char *l = out, *e; (e = strchr(l, '\n')); l = e + 1, lines++) {
        *e = 0;
        assert_non_null(strstr(l, "faces/s "));
        assert_non_null(strstr(l, "device-mem "));
        assert_null(strchr(l, '\033')); /* no terminal control */
    }
    assert_int_equal(lines, 2);
    free(out);

    /* Unreachable: non-zero, and the message names the URL. The port is
     * bound but not listening for as long as the check runs, so nothing
     * else can take it and a connection to it is refused. */
    int dead_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in da = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t dl = sizeof(da);
    assert_int_equal(bind(dead_fd, (struct sockaddr *)&da, sizeof(da)), 0);
    assert_int_equal(getsockname(dead_fd, (struct sockaddr *)&da, &dl), 0);
    int dead = ntohs(da.sin_port);
    snprintf(args, sizeof(args), "--url http://127.0.0.1:%d --once --json", dead);
    assert_int_not_equal(run_monitor(NULL, args, &out, &err), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", dead);
    assert_non_null(err);
    assert_non_null(strstr(err, url));
    close(dead_fd);
    free(out);
    free(err);

    /* Bad options: usage errors, not crashes. */
    assert_int_equal(run_monitor(NULL, "--interval -1", &out, NULL), 2);
    free(out);
    assert_int_equal(run_monitor(NULL, "--url ftp://x --once", &out, NULL), 2);
    free(out);
    assert_int_equal(run_monitor(NULL, "--count", &out, NULL), 2);
    free(out);
}

static void test_errors(void **state) {
    (void)state;
    const struct blob *img = &g_blob[0];
    struct ht_resp r;
    http(&g_main, &r, "POST", "/v1/detect", NULL, NULL, img->data, img->len, NULL);
    expect_error(&r, 401, "unauthorized");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/detect", "no-such-key", NULL, img->data, img->len, NULL);
    expect_error(&r, 401, "unauthorized");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/nothing", "key-u0", NULL, img->data, img->len, NULL);
    expect_error(&r, 404, "not_found");
    ht_free(&r);
    /* "/" is the web app now (test-gallery-server test_web_files): any other
     * unknown path is still a JSON 404. */
    get(&g_main, &r, "/no-such-page");
    expect_error(&r, 404, "not_found");
    ht_free(&r);
    http(&g_main, &r, "GET", "/v1/embed", "key-u0", NULL, NULL, 0, NULL);
    expect_error(&r, 405, "method_not_allowed");
    assert_string_equal(r.allow, "POST");
    ht_free(&r);
    http(&g_main, &r, "DELETE", "/status", NULL, NULL, NULL, 0, NULL);
    expect_error(&r, 405, "method_not_allowed");
    assert_non_null(strstr(r.allow, "GET"));
    ht_free(&r);
    /* 413: the server runs with --max-body-bytes 3MiB. */
    size_t big = (size_t)4 << 20;
    char *junk = calloc(1, big);
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", NULL, junk, big, NULL);
    expect_error(&r, 413, "payload_too_large");
    ht_free(&r);
    free(junk);
    /* A truncated JPEG and bytes that are no image at all. */
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", NULL, img->data, 2000, NULL);
    expect_error(&r, 400, "invalid_image");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/embed", "key-u0", "application/octet-stream", "hello world", 11, NULL);
    expect_error(&r, 400, "invalid_image");
    ht_free(&r);
    const char *j1 = "{\"image\": \"QUJD\"", *j2 = "{\"picture\":\"QUJD\"}", *j3 = "{\"image\":\"@@@\"}";
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", "application/json", j1, strlen(j1), NULL);
    expect_error(&r, 400, "invalid_json");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", "application/json", j2, strlen(j2), NULL);
    expect_error(&r, 400, "invalid_request");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", "application/json", j3, strlen(j3), NULL);
    expect_error(&r, 400, "invalid_base64");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", "image/jpeg", "", 0, NULL);
    expect_error(&r, 400, "no_image");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/verify", "key-u0", NULL, img->data, img->len, NULL);
    expect_error(&r, 400, "invalid_request");
    ht_free(&r);
    http(&g_main, &r, "POST", "/v1/detect", "key-u0", "text/plain", "x", 1, NULL);
    expect_error(&r, 415, NULL);
    ht_free(&r);
}

static void test_raw(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++) {
        struct ht_resp r;
        http(&g_main, &r, "POST", "/v1/embed", "key-u1", "image/jpeg", g_blob[i].data, g_blob[i].len, NULL);
        expect_faces(&r, &i, 1, true);
        ht_free(&r);
        http(&g_main, &r, "POST", "/v1/detect?timings=1", "key-u1", "application/octet-stream", g_blob[i].data,
             g_blob[i].len, NULL);
        expect_faces(&r, &i, 1, false);
        const cJSON *t = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "images"), 0), "timings");
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(t, "total_ms")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(t, "detect_ms")));
        ht_free(&r);
    }
}

/* Multi-scale detection per request: ?tiles=NxM runs the tiles through
 * the scheduler (counted in /status) and still answers each face once, as
 * the whole pass found it; bad values are 400. */
static double status_tiles(void) {
    struct ht_resp r;
    get(&g_main, &r, "/status");
    assert_int_equal(r.status, 200);
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "tiles"), "items");
    assert_true(cJSON_IsNumber(t));
    double v = t->valuedouble;
    ht_free(&r);
    return v;
}

static void test_tiles(void **state) {
    (void)state;
    int which = 2; /* two_people.jpg: two large faces */
    double t0 = status_tiles();
    struct ht_resp r;
    http(&g_main, &r, "POST", "/v1/embed?tiles=3x3&min_face_size=0", "key-u1", "image/jpeg", g_blob[which].data,
         g_blob[which].len, NULL);
    expect_faces(&r, &which, 1, true);
    ht_free(&r);
    assert_true(status_tiles() >= t0 + 9);
    http(&g_main, &r, "POST", "/v1/detect?tiles=off", "key-u1", "image/jpeg", g_blob[which].data, g_blob[which].len,
         NULL);
    expect_faces(&r, &which, 1, false);
    ht_free(&r);
    const char *bad[] = { "/v1/detect?tiles=9x9", "/v1/detect?tiles=", "/v1/embed?min_face_size=-2",
                          "/v1/detect?min_face_size=12px", NULL };
    for (int i = 0; bad[i]; i++) {
        http(&g_main, &r, "POST", bad[i], "key-u1", "image/jpeg", g_blob[which].data, g_blob[which].len, NULL);
        expect_error(&r, 400, "invalid_request");
        ht_free(&r);
    }
}

static void test_multipart(void **state) {
    (void)state;
    const int which[3] = { 0, 1, 2 };
    for (int n = 1; n <= 3; n += 2) {
        CURL *c = curl_easy_init();
        curl_mime *m = curl_mime_init(c);
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, "note");
        curl_mime_data(p, "not an image", CURL_ZERO_TERMINATED);
        for (int i = 0; i < n; i++) {
            p = curl_mime_addpart(m);
            curl_mime_name(p, "image");
            curl_mime_filename(p, g_images[i]);
            curl_mime_type(p, "image/jpeg");
            curl_mime_data(p, g_blob[i].data, g_blob[i].len);
        }
        struct ht_resp r;
        http(&g_main, &r, "POST", "/v1/embed", "key-u2", NULL, NULL, 0, m);
        expect_faces(&r, which, n, true);
        ht_free(&r);
        curl_mime_free(m);
        curl_easy_cleanup(c);
    }
}

static void test_base64(void **state) {
    (void)state;
    char *s[3];
    size_t total = 64;
    for (int i = 0; i < 3; i++) total += strlen(s[i] = b64(&g_blob[i])) + 40;
    char *body = malloc(total);
    /* One image, as a data: URL. */
    snprintf(body, total, "{\"image\":\"data:image/jpeg;base64,%s\"}", s[0]);
    struct ht_resp r;
    http(&g_main, &r, "POST", "/v1/embed", "key-u3", "application/json", body, strlen(body), NULL);
    expect_faces(&r, (const int[]){ 0 }, 1, true);
    ht_free(&r);
    /* Three, and a fourth that is not an image: its slot has the error. */
    snprintf(body, total, "{\"images\":[\"%s\",\"%s\",\"%s\",\"aGVsbG8=\"]}", s[0], s[1], s[2]);
    http(&g_main, &r, "POST", "/v1/embed", "key-u3", "application/json", body, strlen(body), NULL);
    assert_int_equal(r.status, 200);
    cJSON *imgs = cJSON_GetObjectItem(r.json, "images");
    assert_int_equal(cJSON_GetArraySize(imgs), 4);
    char why[256];
    for (int i = 0; i < 3; i++)
        if (!same_faces(cJSON_GetArrayItem(imgs, i), g_ref[i], true, why, sizeof(why))) fail_msg("%d: %s", i, why);
    const cJSON *e = cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, 3), "error");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "invalid_image");
    ht_free(&r);
    /* Every image failing is a 400. */
    const char *bad = "{\"images\":[\"aGVsbG8=\",\"d29ybGQ=\"]}";
    http(&g_main, &r, "POST", "/v1/embed", "key-u3", "application/json", bad, strlen(bad), NULL);
    expect_error(&r, 400, "invalid_image");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "images")), 2);
    ht_free(&r);
    for (int i = 0; i < 3; i++) free(s[i]);
    free(body);
}

static void verify(const char *body, size_t len, const char *ctype, bool same) {
    struct ht_resp r;
    http(&g_main, &r, "POST", "/v1/verify", "key-u4", ctype, body, len, NULL);
    if (r.status != 200) fail_msg("verify: %ld %s", r.status, r.body);
    const cJSON *d = cJSON_GetObjectItem(r.json, "distance"), *s = cJSON_GetObjectItem(r.json, "similarity");
    assert_true(cJSON_IsNumber(d) && cJSON_IsNumber(s));
    assert_true(s->valuedouble > 0 && s->valuedouble < 1);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "same_person")), same);
    assert_true(same ? d->valuedouble < 0.6 : d->valuedouble > 0.6);
    ht_free(&r);
}

static void test_verify(void **state) {
    (void)state;
    char *o = b64(&g_blob[0]), *o2 = b64(&g_blob[3]), *bi = b64(&g_blob[1]);
    size_t cap = strlen(o) + strlen(o2) + strlen(bi) + 8192;
    char *body = malloc(cap);
    snprintf(body, cap, "{\"images\":[\"%s\",\"%s\"]}", o, o2);
    verify(body, strlen(body), "application/json", true);
    snprintf(body, cap, "{\"images\":[\"%s\",\"%s\"]}", o, bi);
    verify(body, strlen(body), "application/json", false);
    /* One image against obama2's embedding from the CLI. */
    const cJSON *emb = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(g_ref[3], "faces"), 0), "embedding");
    char *es = cJSON_PrintUnformatted(emb);
    snprintf(body, cap, "{\"image\":\"%s\",\"embedding\":%s}", o, es);
    verify(body, strlen(body), "application/json", true);
    snprintf(body, cap, "{\"image\":\"%s\",\"embedding\":%s}", bi, es);
    verify(body, strlen(body), "application/json", false);
    cJSON_free(es);
    /* Multipart works the same. */
    CURL *c = curl_easy_init();
    curl_mime *m = curl_mime_init(c);
    for (int i = 0; i < 2; i++) {
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, i ? "b" : "a");
        curl_mime_filename(p, "x.jpg");
        curl_mime_data(p, g_blob[i ? 3 : 0].data, g_blob[i ? 3 : 0].len);
    }
    struct ht_resp r;
    http(&g_main, &r, "POST", "/v1/verify", "key-u4", NULL, NULL, 0, m);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "same_person")));
    ht_free(&r);
    curl_mime_free(m);
    curl_easy_cleanup(c);
    free(o);
    free(o2);
    free(bi);
    free(body);
}

/* ---- many users ------------------------------------------------------------------------ */

struct user_run {
    int user, n, ok;
    char why[300];
};

static void *user_thread(void *arg) {
    struct user_run *u = arg;
    char key[32];
    snprintf(key, sizeof(key), "key-u%d", u->user);
    for (int i = 0; i < u->n; i++) {
        int which = (u->user + i) % 2; /* obama and biden: one face each */
        bool embed = i % 2 == 0;
        struct ht_resp r;
        http(&g_main, &r, "POST", embed ? "/v1/embed" : "/v1/detect", key, NULL, g_blob[which].data,
             g_blob[which].len, NULL);
        char why[256] = "";
        bool good = r.status == 200 &&
                    same_faces(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "images"), 0), g_ref[which], embed, why,
                               sizeof(why));
        if (good) u->ok++;
        else if (!u->why[0])
            snprintf(u->why, sizeof(u->why), "user %d request %d: %ld %s %.100s", u->user, i, r.status, why,
                     r.body ? r.body : "");
        ht_free(&r);
    }
    return NULL;
}

static void test_many_users(void **state) {
    (void)state;
    pthread_t t[N_USERS];
    struct user_run u[N_USERS];
    double t0 = fr_test_now();
    for (int i = 0; i < N_USERS; i++) {
        u[i] = (struct user_run){ .user = i, .n = 50 };
        pthread_create(&t[i], NULL, user_thread, &u[i]);
    }
    for (int i = 0; i < N_USERS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N_USERS; i++)
        if (u[i].ok != u[i].n) fail_msg("%d of %d correct; first failure: %s", u[i].ok, u[i].n, u[i].why);
    print_message("    %d users x 50 requests in %.1f s\n", N_USERS, fr_test_now() - t0);
}

/* ---- clients that hang up ----------------------------------------------------------------- */

/* Headers and part (or all) of the body, then close without reading. */
static void hang_up(int port, const struct blob *b, bool full_body, int user) {
    int fd = fr_test_dial(NULL, port, 0);
    if (fd < 0) return;
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "POST /v1/embed HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: key-u%d\r\n"
                      "Content-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                      user, b->len);
    size_t n = full_body ? b->len : b->len / 3;
    if (send(fd, hdr, (size_t)hl, MSG_NOSIGNAL) == hl) {
        for (size_t o = 0; o < n;) {
            ssize_t w = send(fd, b->data + o, n - o, MSG_NOSIGNAL);
            if (w <= 0) break;
            o += (size_t)w;
        }
    }
    close(fd);
}

struct hang_run {
    int n, user;
};

static void *hang_thread(void *arg) {
    struct hang_run *h = arg;
    for (int i = 0; i < h->n; i++) {
        hang_up(g_main.port, &g_blob[(i / 2) % 2], i % 2 == 1, h->user);
        /* Pace the full-body ones a little so they reach the scheduler
         * rather than all piling up at once. */
        if (i % 2) fr_test_sleep_ms(1);
    }
    return NULL;
}

static void hang_ups(int total) {
    enum { T = 4 };
    pthread_t t[T];
    struct hang_run h[T];
    for (int i = 0; i < T; i++) {
        h[i] = (struct hang_run){ .n = total / T, .user = i };
        pthread_create(&t[i], NULL, hang_thread, &h[i]);
    }
    for (int i = 0; i < T; i++) pthread_join(t[i], NULL);
}

/* The scheduler's count of cancelled requests (its /status "requests"). */
static double cancelled(const struct ht_server *sv) {
    struct ht_resp r;
    get(sv, &r, "/status");
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "requests"), "cancelled");
    double v = cJSON_IsNumber(c) ? c->valuedouble : NAN;
    ht_free(&r);
    return v;
}

static void test_hang_ups(void **state) {
    (void)state;
    hang_ups(200); /* warm up: arenas, thread stacks, allocator caches */
    wait_idle(&g_main);
    long before = rss_kb(g_main.pid);
    double c0 = cancelled(&g_main), t0 = fr_test_now();
    hang_ups(1000);
    wait_idle(&g_main);
    long after = rss_kb(g_main.pid);
    double c1 = cancelled(&g_main);
    print_message("    1000 hang-ups in %.1f s, %.0f cancelled in the scheduler; RSS %ld -> %ld KiB\n", fr_test_now() - t0,
                  c1 - c0, before, after);
    /* Those that sent the whole body reached the scheduler and were
     * cancelled there. */
    if (!isnan(c0)) assert_true(c1 > c0);
    assert_true(before > 0 && after > 0);
    if (after > before + before / 10) fail_msg("RSS grew from %ld to %ld KiB", before, after);
    /* Still answering, and correctly. */
    struct ht_resp r;
    http(&g_main, &r, "POST", "/v1/embed", "key-u5", NULL, g_blob[0].data, g_blob[0].len, NULL);
    expect_faces(&r, (const int[]){ 0 }, 1, true);
    ht_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),     cmocka_unit_test(test_openapi),    cmocka_unit_test(test_errors),     cmocka_unit_test(test_raw),
        cmocka_unit_test(test_multipart),  cmocka_unit_test(test_base64),     cmocka_unit_test(test_verify),
        cmocka_unit_test(test_tiles),
        cmocka_unit_test(test_many_users), cmocka_unit_test(test_monitor),    cmocka_unit_test(test_hang_ups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
