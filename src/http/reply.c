/* Replies: every response of the server is queued here. The helpers build
 * the JSON, bytes or error answer, and queue() is the tail they share: it
 * stashes the answer of a request whose handler runs on a worker (MHD
 * takes responses only in the access handler), asks the client to close
 * while draining, and counts the status for /status and /metrics. The
 * mapping of an fr_status to an HTTP status and error code lives here too,
 * so that every route answers a failure the same way. */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "http/metrics.h"
#include "http/server-impl.h"

const unsigned fr__http_counted_status[FR__HTTP_N_COUNTED] = { 200, 201, 400, 401, 404, 405, 413,
                                                              415, 422, 429, 500, 503, 504 };

static void count_status(struct fr_http *h, unsigned status) {
    size_t i = 0;
    while (i < FR__HTTP_N_COUNTED && fr__http_counted_status[i] != status) i++;
    atomic_fetch_add(&h->by_status[i], 1);
}

static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

enum MHD_Result fr__http_queue(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                               unsigned status, struct MHD_Response *r) {
    /* An answer that refuses to read the body (a declared body far over
     * the limit, the body-memory 503) goes out at once (from the loop),
     * and MHD then closes the connection. */
    if (rq && (rq->defer || (rq->hold && !rq->refuse_now))) {
        /* On a worker: MHD takes responses only in the access handler, so
         * the loop thread queues this one when the connection resumes. */
        if (rq->stash) MHD_destroy_response(rq->stash);
        rq->stash = r;
        rq->stash_status = status;
        rq->responded = true;
        return MHD_YES;
    }
    if (atomic_load(&h->quiesced)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES) {
        count_status(h, status);
        fr__http_route_counts_add(h->routes, rq ? rq->route_name : NULL, status);
        if (rq) rq->responded = true;
    }
    return ok;
}

enum MHD_Result fr__http_respond(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                 unsigned status, char *json, const char *allow, int retry_after_s) {
    struct MHD_Response *r;
    if (json) {
        r = MHD_create_response_from_buffer_with_free_callback(strlen(json), json, cJSON_free);
    } else {
        status = 500;
        r = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body, MHD_RESPMEM_PERSISTENT);
    }
    if (!r) {
        cJSON_free(json);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    return fr__http_queue(h, c, rq, status, r);
}

enum MHD_Result fr__http_respond_error(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                       unsigned status, const char *code, const char *message) {
    return fr__http_respond(h, c, rq, status, fr__http_json_error(code, message), NULL, 0);
}

enum MHD_Result fr__http_respond_invalid(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                         const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fr__http_respond_error(h, c, rq, 400, "invalid_request", msg);
}

enum MHD_Result fr__http_respond_doc(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     unsigned status, cJSON *doc) {
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    return fr__http_respond(h, c, rq, status, s, NULL, 0);
}

enum MHD_Result fr__http_respond_bytes(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                       unsigned status, const char *content_type, const void *data, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return fr__http_queue(h, c, rq, status, r);
}

/* ---- failures ------------------------------------------------------------ */

unsigned fr__http_sched_error(enum fr_status st, const char **code) {
    switch (st) {
    case FR_ERR_TIMEOUT: *code = "timeout"; return 504;
    case FR_ERR_SHUTDOWN:
    case FR_ERR_CANCELLED: *code = "shutting_down"; return 503;
    case FR_ERR_BUSY: *code = "too_many_requests"; return 429;
    case FR_ERR_INVALID: *code = "invalid_request"; return 400;
    default: *code = "internal"; return 500;
    }
}

bool fr__http_image_error_is_client(enum fr_status st) {
    return st == FR_ERR_IMAGE || st == FR_ERR_FORMAT || st == FR_ERR_UNSUPPORTED || st == FR_ERR_TOO_LARGE ||
           st == FR_ERR_INVALID;
}

enum MHD_Result fr__http_respond_image_error(struct fr_http *h, struct MHD_Connection *c,
                                             struct fr__http_request *rq, const struct fr__http_image *im) {
    const char *msg = im->error ? im->error : fr_status_str(im->status);
    return fr__http_image_error_is_client(im->status) ? fr__http_respond_error(h, c, rq, 400, "invalid_image", msg)
                                                      : fr__http_respond_error(h, c, rq, 500, "internal", msg);
}

enum MHD_Result fr__http_respond_store_error(struct fr_http *h, struct MHD_Connection *c,
                                             struct fr__http_request *rq, enum fr_status st) {
    if (st == FR_ERR_NOMEM) return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    if (st == FR_ERR_IO || st == FR_ERR_BUSY)
        return fr__http_respond_error(h, c, rq, 503, "unavailable", "the gallery database is busy or failing");
    return fr__http_respond_error(h, c, rq, 500, "internal", fr_status_str(st));
}
