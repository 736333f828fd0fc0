/* The contract log of the HTTP tests: with FR_TEST_CONTRACT_LOG=FILE in the
 * environment (tests/CMakeLists.txt sets it for every test that talks to
 * `facerec serve`), each exchange the test's client completes is appended
 * to FILE as one JSON line: the request's method, path (with its query),
 * Content-Type and JSON body, and the response's status, Content-Type and
 * body (text) or first bytes (binary). tests/contract/validate.js then
 * checks every line against docs/openapi.yaml (ctest's test-contract).
 * Without the variable nothing is written. */
#pragma once

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Request JSON bodies above this are summarized by their length: the
 * validator checks their shape only when it has them whole. */
#define FR_CONTRACT_MAX_JSON_BODY ((size_t)4 << 20)

struct fr_contract_exchange {
    const char *method, *path;
    const char *req_ctype; /* NULL: no body sent, or a multipart body (req_multipart) */
    const void *req_body;
    size_t req_len;
    bool req_multipart;
    long status; /* 0: no response (not logged) */
    const char *ctype;
    const char *body;
    size_t len;
    const char *retry_after, *allow; /* NULL or "" when the header was not seen */
};

static inline bool fr_contract_is_text(const char *ctype) {
    return ctype && (!strncasecmp(ctype, "application/json", 16) || !strncasecmp(ctype, "text/", 5));
}

/* A string member from len bytes that need not be NUL-terminated. */
static inline void fr_contract_add_bytes(cJSON *o, const char *key, const void *p, size_t len) {
    char *s = malloc(len + 1);
    if (!s) return;
    memcpy(s, p, len);
    s[len] = 0;
    cJSON_AddStringToObject(o, key, s);
    free(s);
}

static inline void fr_test_contract_log(const struct fr_contract_exchange *x) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int fd = -1;
    static bool tried;
    const char *file = getenv("FR_TEST_CONTRACT_LOG");
    if (!file || !*file || x->status <= 0) return;
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    cJSON_AddStringToObject(o, "method", x->method);
    cJSON_AddStringToObject(o, "path", x->path);
    if (x->req_multipart) cJSON_AddStringToObject(o, "req_ctype", "multipart/form-data");
    else if (x->req_ctype && x->req_body) cJSON_AddStringToObject(o, "req_ctype", x->req_ctype);
    cJSON_AddNumberToObject(o, "req_len", (double)x->req_len);
    if (x->req_body && x->req_ctype && !strncasecmp(x->req_ctype, "application/json", 16) &&
        x->req_len <= FR_CONTRACT_MAX_JSON_BODY)
        fr_contract_add_bytes(o, "req_body", x->req_body, x->req_len);
    cJSON_AddNumberToObject(o, "status", (double)x->status);
    if (x->ctype && *x->ctype) cJSON_AddStringToObject(o, "ctype", x->ctype);
    cJSON_AddNumberToObject(o, "len", (double)x->len);
    if (x->body && fr_contract_is_text(x->ctype)) {
        fr_contract_add_bytes(o, "body", x->body, x->len);
    } else if (x->body) {
        char head[33] = "";
        for (size_t i = 0; i < x->len && i < 16; i++) snprintf(head + 2 * i, 3, "%02x", (unsigned char)x->body[i]);
        cJSON_AddStringToObject(o, "head", head);
    }
    if (x->retry_after || x->allow) {
        cJSON *h = cJSON_AddObjectToObject(o, "headers");
        if (h && x->retry_after && *x->retry_after) cJSON_AddStringToObject(h, "retry-after", x->retry_after);
        if (h && x->allow && *x->allow) cJSON_AddStringToObject(h, "allow", x->allow);
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: written with its length below */
    pthread_mutex_lock(&mu);
    /* The first exchange of the process starts the file afresh. */
    if (!tried) {
        tried = true;
        fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) fprintf(stderr, "contract log %s: cannot open\n", file);
    }
    for (size_t off = 0; fd >= 0 && off < n + 1;) {
        ssize_t w = write(fd, line + off, n + 1 - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&mu);
    cJSON_free(line);
}
