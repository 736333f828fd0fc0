/* Helpers of the HTTP end-to-end tests (test-server, test-conn, and the
 * gallery tests through gallery-util.h): the real `facerec serve` on a
 * loopback port, a libcurl client that logs every exchange for the API
 * contract (contract-log.h), and test files. Include after cmocka.h; link
 * libcurl and cJSON.
 *
 * Usage:
 *
 *     struct ht_server sv;
 *     ht_start(&sv, keys, data, log, false, NULL);   // until /readyz is 200
 *     struct ht_resp r;
 *     assert_int_equal(ht_http(&sv, &r, "GET", "/status", NULL, NULL, NULL, 0), 200);
 *     ht_free(&r);
 *     assert_int_equal(ht_stop(&sv, SIGTERM), 0);
 */
#pragma once

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contract-log.h"
#include "net-util.h"
#include "test-util.h"

/* ---- files ------------------------------------------------------------------ */

struct blob {
    char *data; /* malloc'd, NUL-terminated */
    size_t len;
};

static inline struct blob ht_read(const char *path) {
    struct blob b = { 0 };
    if (!(b.data = fr_test_read_file_len(path, &b.len))) fail_msg("cannot read %s", path);
    return b;
}

/* A file of the shared test data. */
static inline struct blob ht_data(const char *rel) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", fr_test_data_dir(), rel);
    return ht_read(path);
}

/* ---- the client --------------------------------------------------------------- */

struct ht_server {
    pid_t pid;
    int port;
    char log[512];
};

struct ht_req {
    const char *method, *path;
    const char *key;    /* X-API-Key, or NULL */
    const char *ctype;  /* of body; NULL with a body: image/jpeg */
    const void *body;   /* or NULL */
    size_t len;
    curl_mime *mime;    /* a multipart body instead of body, or NULL */
    const char *header; /* one more request header line ("If-None-Match: x"), or NULL */
    /* The web app's files are not API operations and the contract does not
     * describe them, so their exchanges stay out of the contract log. */
    bool not_api;
};

struct ht_resp {
    long status;   /* 0 when no answer came */
    CURLcode curl; /* the transfer's result */
    char *body;    /* NUL-terminated, or NULL when empty */
    size_t len;
    char ctype[96];
    /* The response headers the tests look at ("" when absent). */
    char retry_after[32], allow[64], etag[96], csp[512], nosniff[32];
    cJSON *json; /* the body parsed, or NULL */
};

static inline size_t ht_on_body(char *p, size_t sz, size_t n, void *u) {
    struct ht_resp *r = u;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

static inline size_t ht_on_header(char *p, size_t sz, size_t n, void *u) {
    struct ht_resp *r = u;
    size_t len = sz * n;
    const struct {
        const char *name;
        char *dst;
        size_t cap;
    } want[] = {
        { "retry-after:", r->retry_after, sizeof(r->retry_after) },
        { "allow:", r->allow, sizeof(r->allow) },
        { "etag:", r->etag, sizeof(r->etag) },
        { "content-security-policy:", r->csp, sizeof(r->csp) },
        { "x-content-type-options:", r->nosniff, sizeof(r->nosniff) },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t k = strlen(want[i].name);
        if (len > k && !strncasecmp(p, want[i].name, k)) {
            const char *v = p + k, *end = p + len;
            while (v < end && *v == ' ') v++;
            size_t vl = 0;
            while (v + vl < end && v[vl] != '\r' && v[vl] != '\n') vl++;
            snprintf(want[i].dst, want[i].cap, "%.*s", (int)vl, v);
        }
    }
    return len;
}

static inline void ht_free(struct ht_resp *r) {
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* One request on a fresh connection; the answer in *r (ht_free it).
 * Returns the status, 0 when the transfer failed. */
static inline long ht_send(const struct ht_server *sv, const struct ht_req *q, struct ht_resp *r) {
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[512], hk[256], hc[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sv->port, q->path);
    const char *ctype = q->body ? (q->ctype ? q->ctype : "image/jpeg") : NULL;
    struct curl_slist *hdr = NULL;
    if (q->key) {
        snprintf(hk, sizeof(hk), "X-API-Key: %s", q->key);
        hdr = curl_slist_append(hdr, hk);
    }
    if (ctype) {
        snprintf(hc, sizeof(hc), "Content-Type: %s", ctype);
        hdr = curl_slist_append(hdr, hc);
    }
    if (q->header) hdr = curl_slist_append(hdr, q->header);
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    /* HEAD: the answer has a Content-Length but no body to wait for. */
    if (!strcmp(q->method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ht_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ht_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (q->mime) {
        curl_easy_setopt(c, CURLOPT_MIMEPOST, q->mime);
    } else if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
    }
    r->curl = curl_easy_perform(c);
    if (r->curl == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
    if (r->body) r->json = cJSON_Parse(r->body);
    if (!q->not_api)
        fr_test_contract_log(&(struct fr_contract_exchange){
            .method = q->method, .path = q->path, .req_ctype = ctype, .req_body = q->body, .req_len = q->len,
            .req_multipart = q->mime != NULL, .status = r->status, .ctype = r->ctype, .body = r->body,
            .len = r->len, .retry_after = r->retry_after, .allow = r->allow });
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return r->status;
}

/* One request; ctype NULL with a body means image/jpeg. */
static inline long ht_http(const struct ht_server *sv, struct ht_resp *r, const char *method, const char *path,
                           const char *key, const char *ctype, const void *body, size_t len) {
    return ht_send(sv, &(struct ht_req){ .method = method, .path = path, .key = key, .ctype = ctype, .body = body,
                                         .len = len },
                   r);
}

/* One request with a JSON body (none when json is NULL). */
static inline long ht_json(const struct ht_server *sv, struct ht_resp *r, const char *method, const char *path,
                           const char *key, const char *json) {
    return ht_http(sv, r, method, path, key, "application/json", json, json ? strlen(json) : 0);
}

/* ---- the server process ---------------------------------------------------------- */

/* The port in the first "listening on ... (port N)" line of the log after
 * byte `from`, or 0 while the server has not written it. */
static inline int ht_logged_port(const char *log, size_t from) {
    char *l = fr_test_read_file(log);
    const char *p = l && strlen(l) > from ? strstr(l + from, "(port ") : NULL;
    int port = p ? atoi(p + 6) : 0;
    free(l);
    return port;
}

/* Environment for children: our FACEREC_* variables (FACEREC_TESTDATA
 * and the like) are not server settings. */
static inline void ht_clean_env(void) {
    extern char **environ;
    for (char **e = environ; *e;) {
        if (!strncmp(*e, "FACEREC_", 8)) {
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
            unsetenv(name);
        } else {
            e++;
        }
    }
}

/* Fails the test with the server's log when it has exited. */
static inline void ht_check_alive(const struct ht_server *sv) {
    int st;
    if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
        char *l = fr_test_read_file(sv->log);
        fail_msg("facerec serve exited at start (status %d):\n%s", st, l ? l : "");
    }
}

/* Starts `facerec serve --listen 127.0.0.1:0` with the key file `keys`, the
 * data directory `data`, the models, log level warn and the flags `extra`
 * (NULL-terminated, may be NULL), its stderr into `log` (appended to when
 * append; else truncated). Returns once it has logged its port and, when
 * ready, once GET /readyz answers 200; fails the test if it exits first or
 * takes over 120 s. */
static inline void ht_start(struct ht_server *sv, const char *keys, const char *data, const char *log, bool append,
                            bool ready, const char *const *extra) {
    memset(sv, 0, sizeof(*sv));
    snprintf(sv->log, sizeof(sv->log), "%s", log);
    /* Port 0: the server binds a free port itself and logs it. Picking one
     * here and passing it on would race with every other process on the
     * machine (another test's server could answer our /readyz). An
     * appended log keeps earlier runs, so only what follows its current
     * end counts. */
    struct stat lst;
    size_t from = append && stat(log, &lst) == 0 ? (size_t)lst.st_size : 0;
    const char *argv[64] = { FR_BINARY_DIR "/facerec", "serve", "--listen", "127.0.0.1:0", "--api-keys-file", keys,
                             "--models", fr_test_models_dir(), "--data", data, "--log-level", "warn" };
    int a = 12;
    for (int j = 0; extra && extra[j] && a < 63; j++) argv[a++] = extra[j];
    argv[a] = NULL;
    sv->pid = fork();
    assert_true(sv->pid >= 0);
    if (sv->pid == 0) {
        ht_clean_env();
        if (!freopen(sv->log, append ? "a" : "w", stderr)) _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    double t0 = fr_test_now();
    while (!sv->port) {
        ht_check_alive(sv);
        sv->port = ht_logged_port(sv->log, from);
        if (!sv->port && fr_test_now() - t0 > 120) fail_msg("facerec serve did not report its port after 120 s");
        if (!sv->port) fr_test_sleep_ms(10);
    }
    while (ready) {
        ht_check_alive(sv);
        struct ht_resp r;
        long s = ht_http(sv, &r, "GET", "/readyz", NULL, NULL, NULL, 0);
        ht_free(&r);
        if (s == 200) break;
        if (fr_test_now() - t0 > 120) fail_msg("facerec serve not ready after 120 s");
        fr_test_sleep_ms(20);
    }
}

/* Sends sig and waits for the exit; returns the exit status (128 + the
 * signal when killed). A server that has not exited 60 s after SIGTERM is
 * killed and fails the test. */
static inline int ht_stop(struct ht_server *sv, int sig) {
    if (sv->pid <= 0) return -1;
    kill(sv->pid, sig);
    int st = 0;
    double t0 = fr_test_now();
    while (waitpid(sv->pid, &st, WNOHANG) == 0) {
        if (fr_test_now() - t0 > 60) {
            kill(sv->pid, SIGKILL);
            waitpid(sv->pid, &st, 0);
            sv->pid = 0;
            fail_msg("facerec serve did not stop within 60 s after signal %d", sig);
        }
        fr_test_sleep_ms(10);
    }
    sv->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
