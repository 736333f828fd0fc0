/* Helpers of the gallery end-to-end tests (test-gallery-server.c,
 * test-crash.c): the real `facerec serve` on a loopback port with its own
 * data directory, a libcurl client, files. Include after cmocka.h. */
#pragma once

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "contract-log.h"
#include "test-util.h"

struct blob {
    char *data;
    size_t len;
};

static inline struct blob gt_read(const char *path) {
    struct blob b = { 0 };
    if (!(b.data = fr_test_read_file_len(path, &b.len))) fail_msg("cannot read %s", path);
    return b;
}

/* A file of the shared test data. */
static inline struct blob gt_data(const char *rel) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", fr_test_data_dir(), rel);
    return gt_read(path);
}

static inline double gt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void gt_sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

struct gt_server {
    pid_t pid;
    int port;
    char log[512];
};

struct gt_resp {
    long status;
    char *body;
    size_t len;
    char ctype[64];
    cJSON *json;
};

static size_t gt_on_body(char *p, size_t sz, size_t n, void *u) {
    struct gt_resp *r = u;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

static inline void gt_free(struct gt_resp *r) {
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* One request; ctype NULL with a body means image/jpeg. Returns the status
 * (0 when the connection failed). */
static inline long gt_http(const struct gt_server *sv, struct gt_resp *r, const char *method, const char *path,
                           const char *key, const char *ctype, const void *body, size_t len) {
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[512], hk[256], hc[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sv->port, path);
    struct curl_slist *hdr = NULL;
    if (key) {
        snprintf(hk, sizeof(hk), "X-API-Key: %s", key);
        hdr = curl_slist_append(hdr, hk);
    }
    if (body) {
        snprintf(hc, sizeof(hc), "Content-Type: %s", ctype ? ctype : "image/jpeg");
        hdr = curl_slist_append(hdr, hc);
    }
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gt_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
    if (r->body) r->json = cJSON_Parse(r->body);
    fr_test_contract_log(&(struct fr_contract_exchange){
        .method = method, .path = path, .req_ctype = body ? (ctype ? ctype : "image/jpeg") : NULL, .req_body = body,
        .req_len = len, .status = r->status, .ctype = r->ctype, .body = r->body, .len = r->len });
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return r->status;
}

static inline long gt_json(const struct gt_server *sv, struct gt_resp *r, const char *method, const char *path,
                           const char *key, const char *json) {
    return gt_http(sv, r, method, path, key, "application/json", json, json ? strlen(json) : 0);
}

/* The port in the first "listening on ... (port N)" line of the log after
 * byte `from`, or 0 while the server has not written it. */
static inline int gt_logged_port(const char *log, size_t from) {
    char *l = fr_test_read_file(log);
    const char *p = l && strlen(l) > from ? strstr(l + from, "(port ") : NULL;
    int port = p ? atoi(p + 6) : 0;
    free(l);
    return port;
}

/* Environment for children: our FACEREC_* variables are not server settings. */
static inline void gt_clean_env(void) {
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

/* Starts `facerec serve` on data dir `data` with the key file `keys` and
 * the settings flags `extra` (NULL-terminated, may be NULL); when wait is
 * true, until /readyz answers 200. */
static inline void gt_start_with(struct gt_server *sv, const char *data, const char *keys, const char *log, bool wait,
                                 const char *const *extra) {
    memset(sv, 0, sizeof(*sv));
    snprintf(sv->log, sizeof(sv->log), "%s", log);
    /* Port 0: the server binds a free port and logs it; a port picked here
     * could be taken by another process before the server binds it. The
     * log is appended to across restarts, so only what follows its
     * current end counts. */
    struct stat lst;
    size_t from = stat(log, &lst) == 0 ? (size_t)lst.st_size : 0;
    const char *argv[32] = { FR_BINARY_DIR "/facerec", "serve", "--listen", "127.0.0.1:0", "--api-keys-file", keys,
                             "--models", fr_test_models_dir(), "--data", data, "--log-level", "warn", "--no-warmup",
                             NULL };
    for (int i = 13, j = 0; extra && extra[j] && i < 31; i++, j++) argv[i] = extra[j];
    sv->pid = fork();
    assert_true(sv->pid >= 0);
    if (sv->pid == 0) {
        gt_clean_env();
        if (!freopen(sv->log, "a", stderr)) _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    double t0 = gt_now();
    while (!sv->port) {
        int st;
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
            char *l = fr_test_read_file(sv->log);
            fail_msg("facerec serve exited at start (status %d):\n%s", st, l ? l : "");
        }
        sv->port = gt_logged_port(sv->log, from);
        if (!sv->port && gt_now() - t0 > 120) fail_msg("facerec serve did not report its port after 120 s");
        if (!sv->port) gt_sleep_ms(10);
    }
    while (wait) {
        int st;
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
            char *l = fr_test_read_file(sv->log);
            fail_msg("facerec serve exited at start (status %d):\n%s", st, l ? l : "");
        }
        struct gt_resp r;
        long s = gt_http(sv, &r, "GET", "/readyz", NULL, NULL, NULL, 0);
        gt_free(&r);
        if (s == 200) break;
        if (gt_now() - t0 > 120) fail_msg("facerec serve not ready after 120 s");
        gt_sleep_ms(20);
    }
}

static inline void gt_start(struct gt_server *sv, const char *data, const char *keys, const char *log, bool wait) {
    gt_start_with(sv, data, keys, log, wait, NULL);
}

static inline int gt_stop(struct gt_server *sv, int sig) {
    if (sv->pid <= 0) return -1;
    kill(sv->pid, sig);
    int st = 0;
    waitpid(sv->pid, &st, 0);
    sv->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A number member (NAN when absent). */
static inline double gt_num(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* The error code of an error answer, "" when there is none. */
static inline const char *gt_code(const struct gt_resp *r) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "error"), "code");
    return cJSON_IsString(e) ? e->valuestring : "";
}
