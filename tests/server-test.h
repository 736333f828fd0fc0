/* Shared by the `facerec serve` end-to-end tests (test-server.c and
 * test-server-limits.c): a temporary directory with a key file for
 * N_USERS users ("key-uN uN"), servers started on it, and the checks of
 * their answers. Include after cmocka.h. */
#pragma once

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-util.h"

#define N_USERS 8

static char g_keys[300];  /* key file: "key-uN uN" for N < N_USERS */
static char g_dir[256];   /* temporary directory */

/* One request on a fresh connection. ctype NULL with a body: raw image. */
static inline void http(const struct ht_server *sv, struct ht_resp *r, const char *method, const char *path, const char *key,
                 const char *ctype, const void *body, size_t len, curl_mime *mime) {
    ht_send(sv, &(struct ht_req){ .method = method, .path = path, .key = key, .ctype = ctype, .body = body,
                                  .len = len, .mime = mime },
            r);
}

static inline void get(const struct ht_server *sv, struct ht_resp *r, const char *path) {
    http(sv, r, "GET", path, NULL, NULL, NULL, 0, NULL);
}

/* A server of its own log file, on the test's data directory (never the
 * user's $XDG_DATA_HOME), until /readyz answers. */
static inline void server_start(struct ht_server *sv, const char *const *extra) {
    static int n;
    char log[300];
    snprintf(log, sizeof(log), "%s/server-%d.log", g_dir, n++);
    static char data[300];
    snprintf(data, sizeof(data), "%s/data", g_dir);
    ht_start(sv, g_keys, data, log, false, true, extra);
}

/* SIGTERM and wait; returns the exit status. */
static inline int server_stop(struct ht_server *sv) { return ht_stop(sv, SIGTERM); }

/* A server field of /status, "requests.active" style. */
static inline double status_field(const struct ht_server *sv, const char *a, const char *b) {
    struct ht_resp r;
    get(sv, &r, "/status");
    double v = NAN;
    cJSON *x = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "server"), a), b);
    if (cJSON_IsNumber(x)) v = x->valuedouble;
    ht_free(&r);
    return v;
}

/* A JSON error answer with this status and (unless NULL) code. */
static inline void expect_error(const struct ht_resp *r, long status, const char *code) {
    if (r->status != status) fail_msg("status %ld, expected %ld: %s", r->status, status, r->body ? r->body : "");
    const cJSON *e = cJSON_GetObjectItem(r->json, "error");
    const cJSON *c = cJSON_GetObjectItem(e, "code"), *m = cJSON_GetObjectItem(e, "message");
    if (!cJSON_IsString(c) || !cJSON_IsString(m) || !m->valuestring[0])
        fail_msg("no JSON error in: %s", r->body ? r->body : "");
    if (code && strcmp(c->valuestring, code)) fail_msg("code %s, expected %s", c->valuestring, code);
}

/* The test directory, its key file, and libcurl; 0 on success. */
static inline int server_test_setup(const char *name) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fr_test_mkdtemp(g_dir, sizeof(g_dir), name) != 0) return -1;
    snprintf(g_keys, sizeof(g_keys), "%s/keys", g_dir);
    FILE *f = fopen(g_keys, "w");
    if (!f) return -1;
    fprintf(f, "# test users\n");
    for (int i = 0; i < N_USERS; i++) fprintf(f, "key-u%d u%d\n", i, i);
    return fclose(f) == 0 ? 0 : -1;
}

/* Removes the test directory and libcurl's globals. */
static inline void server_test_teardown(void) {
    if (fr_test_rm_rf(g_dir)) {}
    curl_global_cleanup();
}
