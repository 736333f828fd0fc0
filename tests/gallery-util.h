/* Helpers of the gallery end-to-end tests (test-gallery-server.c,
 * test-gallery-cli.c, test-crash.c, test-jobs.c, test-cluster.c): the real
 * `facerec serve` with its own data directory (http-util.h has the client
 * and the process), and the JSON of its answers. Include after cmocka.h. */
#pragma once

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http-util.h"

/* Starts `facerec serve` on data dir `data` with the key file `keys`,
 * without warm-up, and the settings flags `extra` (NULL-terminated, may be
 * NULL), appending to `log`; when wait is true, until /readyz answers 200. */
static inline void gt_start_with(struct ht_server *sv, const char *data, const char *keys, const char *log, bool wait,
                                 const char *const *extra) {
    const char *flags[32] = { "--no-warmup" };
    for (int i = 1, j = 0; extra && extra[j] && i < 31; i++, j++) flags[i] = extra[j];
    ht_start(sv, keys, data, log, true, wait, flags);
}

static inline void gt_start(struct ht_server *sv, const char *data, const char *keys, const char *log, bool wait) {
    gt_start_with(sv, data, keys, log, wait, NULL);
}

/* The end of a gallery test program: stops the server with SIGTERM,
 * removes the temporary directory and libcurl's globals; 0 when the server
 * exited cleanly. */
static inline int gt_finish(struct ht_server *sv, const char *dir) {
    int rc = ht_stop(sv, SIGTERM);
    if (fr_test_rm_rf(dir)) {}
    curl_global_cleanup();
    return rc == 0 ? 0 : -1;
}

/* Runs a shell command (the CLI); the first line of its stdout, without
 * the line end, into out when out is not NULL. Returns its exit status
 * (128 when it did not exit). */
static inline int gt_run(const char *cmd, char *out, size_t outlen) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096];
    if (out) *out = 0;
    while (fgets(line, sizeof(line), p))
        if (out && !*out) snprintf(out, outlen, "%.*s", (int)(outlen - 1), line);
    if (out) out[strcspn(out, "\r\n")] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A number member (NAN when absent). */
static inline double gt_num(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* The error code of an error answer, "" when there is none. */
static inline const char *gt_code(const struct ht_resp *r) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "error"), "code");
    return cJSON_IsString(e) ? e->valuestring : "";
}
