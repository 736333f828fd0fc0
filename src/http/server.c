/* The HTTP server: a libmicrohttpd daemon on epoll with a small pool of
 * loop threads.
 *
 * The access handler checks route, method, key and size as soon as the
 * headers are in, buffers the body, parses it (body.c) and submits the
 * images to the scheduler; the connection is then suspended, and the
 * scheduler's callback copies the result into the request and resumes it,
 * so that a waiting request holds no thread. Work that may block (the
 * gallery's store, large bodies) runs on conn.c's workers the same way;
 * their responses are stashed and queued by the loop when the connection
 * resumes. All memory of a request belongs to the request (MHD's con_cls),
 * freed by the completion notice; see server-impl.h for why nothing can
 * free it while a step runs elsewhere. Deadlines, connection limits and
 * the listening socket are conn.c's. This file knows no route by name: it
 * finds the request's row in the route table (routes.c), does what the
 * row asks for (key, gallery, body kind, recognition net, precheck) and
 * calls the row's handler; every answer goes through reply.c. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "facerec/nvml.h"
#include "facerec/search.h"
#include "http/metrics.h"
#include "http/server-impl.h"

struct fr_http_params fr_http_default_params(void) {
    return (struct fr_http_params){
        .listen = "127.0.0.1:5001",
        .max_body_bytes = (size_t)64 << 20,
        .threads = 4,
        .workers = 4,
        .max_connections = 4096,
        .max_connections_per_ip = 256,
        .header_timeout_ms = 10000,
        .min_body_rate = 1024,
        .body_rate_window_ms = 10000,
        .max_body_memory = (size_t)512 << 20,
        .api_keys_file = NULL,
        .tolerance = FR_DEFAULT_TOLERANCE,
        .connection_timeout_s = 60,
    };
}

/* ---- asynchronous steps --------------------------------------------------
 *
 * A step that runs elsewhere (a worker job, a scheduler request) holds
 * rq->pending. The access handler suspends the connection once it has
 * started its steps, unless they have all ended already; the step that
 * ends last resumes it. Both happen under rq->mu, so a resume never comes
 * before its suspend (MHD would lose it) and never twice. */

static void images_clear(struct fr__http_request *rq) {
    for (int32_t i = 0; i < rq->n_img; i++) {
        fr_free(rq->img[i].error);
        fr_free(rq->img[i].faces.faces);
    }
    fr_free(rq->img);
    rq->img = NULL;
    rq->n_img = 0;
}

void fr__http_release(struct fr__http_request *rq) {
    pthread_mutex_lock(&rq->mu);
    FR_ASSERT(rq->pending > 0);
    bool resume = --rq->pending == 0 && rq->suspended;
    struct MHD_Connection *mc = rq->mc;
    struct fr_http *h = rq->h;
    if (resume) rq->suspended = false;
    pthread_mutex_unlock(&rq->mu);
    /* Nothing touches rq past this point: once resumed, the loop may finish
     * and free it. */
    if (resume) {
        atomic_fetch_sub(&h->suspended, 1);
        MHD_resume_connection(mc);
    }
}

/* Called by the handler after it started its steps: suspends the
 * connection, or returns false when every step has ended already (the
 * handler then goes on at once). */
static bool suspend(struct fr_http *h, struct fr__http_request *rq) {
    pthread_mutex_lock(&rq->mu);
    bool wait = rq->pending > 0;
    if (wait) {
        MHD_suspend_connection(rq->mc);
        rq->suspended = true;
        rq->suspended_in_call = true;
        atomic_fetch_add(&h->suspended, 1);
    }
    pthread_mutex_unlock(&rq->mu);
    return wait;
}

/* Runs on the scheduler thread: copy, then release; nothing that blocks. */
static void on_done(const struct fr_sched_result *r, void *ctx) {
    struct fr__http_request *rq = ctx;
    enum fr_status status = r->status;
    struct fr__http_image *img = NULL;
    int32_t n = r->n_images;
    if (status == FR_OK && n > 0) {
        img = fr_calloc((size_t)n, sizeof(*img));
        if (!img) status = FR_ERR_NOMEM;
        for (int32_t i = 0; img && i < n; i++) {
            const struct fr_sched_image_result *s = &r->images[i];
            struct fr__http_image *d = &img[i];
            d->status = s->status;
            d->timings = s->timings;
            if (s->status != FR_OK) {
                d->error = fr_strdup(s->error ? s->error : fr_status_str(s->status));
                continue;
            }
            d->faces = *s->faces;
            d->faces.faces = NULL;
            if (s->faces->count > 0) {
                d->faces.faces = fr_malloc(sizeof(struct fr_face) * (size_t)s->faces->count);
                if (d->faces.faces) memcpy(d->faces.faces, s->faces->faces, sizeof(struct fr_face) * (size_t)s->faces->count);
                else {
                    d->status = FR_ERR_NOMEM;
                    d->faces.count = 0;
                }
            }
        }
    }
    rq->sched_status = status;
    rq->img = img;
    rq->n_img = img ? n : 0;
    atomic_fetch_sub(&rq->h->waiting, 1);
    fr__http_release(rq);
}

/* Runs fn on a worker; the connection waits suspended. */
static enum MHD_Result defer(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                             fr__http_handler fn);
static enum MHD_Result resume_step(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);

/* ---- body memory ----------------------------------------------------------- */

/* Counts cap bytes of body buffer against max_body_memory (false: over). */
static bool body_reserve(struct fr_http *h, struct fr__http_request *rq, size_t cap) {
    long long delta = (long long)cap - (long long)rq->body_reserved;
    long long now = atomic_fetch_add(&h->body_bytes, delta) + delta;
    if (delta > 0 && now > (long long)h->p.max_body_memory) {
        atomic_fetch_sub(&h->body_bytes, delta);
        return false;
    }
    rq->body_reserved = cap;
    return true;
}

static void body_free(struct fr_http *h, struct fr__http_request *rq) {
    fr_free(rq->body);
    rq->body = NULL;
    rq->len = rq->cap = 0;
    atomic_fetch_sub(&h->body_bytes, (long long)rq->body_reserved);
    rq->body_reserved = 0;
}

static enum MHD_Result respond_too_large(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    char msg[96];
    snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", h->p.max_body_bytes);
    return fr__http_respond_error(h, c, rq, 413, "payload_too_large", msg);
}

static enum MHD_Result respond_body_busy(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    rq->body_busy = rq->refuse_now = true;
    atomic_fetch_add(&h->by_reason[FR__REFUSED_BODY_MEMORY], 1);
    FR_LOGW("fr_http: request bodies in flight would pass max_body_memory (%zu bytes): answered 503",
            h->p.max_body_memory);
    return fr__http_respond(h, c, rq, 503,
                            fr__http_json_error("server_busy", "too many request bodies in flight; retry later"), NULL,
                            1);
}

/* An image route with its whole body in: parse and submit (on the loop
 * thread for small bodies, else on a worker). The scheduler's callback
 * ends the step; answer_result answers. */
static enum MHD_Result submit_images(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct fr__http_body_error be;
    enum fr__http_input in = rq->route->input;
    struct fr__http_body *b = fr_calloc(1, sizeof(*b));
    if (!b) return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    rq->parsed = b;
    if (fr__http_body_parse(ct, rq->body ? rq->body : "", rq->len, b, &be) != FR_OK)
        return fr__http_respond_error(h, c, rq, (unsigned)be.http_status, be.code, be.message);
    if (in == FR__HTTP_IN_PAIR && !((b->n == 2 && !b->has_embedding) || (b->n == 1 && b->has_embedding)))
        return fr__http_respond_error(h, c, rq, 400, "invalid_request",
                                      "verify takes two images, or one image and an \"embedding\"");
    if (in != FR__HTTP_IN_PAIR && b->has_embedding)
        return fr__http_respond_error(h, c, rq, 400, "invalid_request", "\"embedding\" is only for /v1/verify");
    if (in == FR__HTTP_IN_ONE_IMAGE && b->n != 1)
        return fr__http_respond_error(h, c, rq, 400, "invalid_request", "send exactly one image");
    /* Per-request detection: ?tiles=auto|off|NxM and ?min_face_size=N. */
    struct fr_tiles tiles = { .mode = FR_TILES_DEFAULT };
    int32_t min_face = 0;
    const char *qt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tiles");
    const char *qm = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "min_face_size");
    char qerr[160];
    if (qt && fr_tiles_parse(qt, &tiles, qerr, sizeof qerr) != FR_OK)
        return fr__http_respond_error(h, c, rq, 400, "invalid_request", qerr);
    if (qm) {
        char *end;
        errno = 0;
        long v = strtol(qm, &end, 10);
        if (errno || end == qm || *end || v < 0 || v > 100000)
            return fr__http_respond_error(h, c, rq, 400, "invalid_request",
                                          "min_face_size: expected an integer in [0, 100000]");
        min_face = v > 0 ? (int32_t)v : FR_MIN_FACE_NONE;
    }
    enum MHD_Result ok;
    if (rq->route->precheck && rq->route->precheck(h, c, rq, &ok)) return ok;
    if (atomic_load(&h->stopping))
        return fr__http_respond_error(h, c, rq, 503, "shutting_down", "the server is stopping");
    struct fr_sched_request sr = {
        .user = rq->user,
        .images = b->images,
        .n_images = b->n,
        .landmarks = true,
        .embeddings = rq->route->embeddings,
        .tiles = tiles,
        .min_face_size = min_face,
        .done = on_done,
        .ctx = rq,
    };
    uint64_t id = 0;
    int32_t retry_ms = 0;
    /* The callback may run before submit returns: its step is counted
     * first. */
    pthread_mutex_lock(&rq->mu);
    rq->pending++;
    pthread_mutex_unlock(&rq->mu);
    atomic_fetch_add(&h->waiting, 1);
    rq->stage = FR__STAGE_RESULT;
    enum fr_status st = fr_sched_submit(h->s, &sr, &id, &retry_ms);
    if (st != FR_OK) {
        atomic_fetch_sub(&h->waiting, 1);
        pthread_mutex_lock(&rq->mu);
        rq->pending--;
        pthread_mutex_unlock(&rq->mu);
        rq->stage = FR__STAGE_DONE;
        const char *code;
        unsigned hs = fr__http_sched_error(st, &code);
        if (st == FR_ERR_BUSY) {
            int ra = (int)((retry_ms + 999) / 1000);
            return fr__http_respond(h, c, rq, 429, fr__http_json_error(code, "too many requests queued; retry later"),
                                    NULL, ra < 1 ? 1 : ra);
        }
        return fr__http_respond_error(h, c, rq, hs, code, fr_status_str(st));
    }
    fr__http_conn_set_sched(rq->conn, id);
    /* The scheduler copied the bytes. Multipart and raw images point into
     * the body: only the gallery routes read them again (the content hash,
     * the thumbnails), so the others let the body go now. */
    if (!rq->route->gallery) body_free(h, rq);
    return MHD_YES;
}

/* The route's handler over the scheduler's result. */
static enum MHD_Result run_handler(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    /* A one-image route has nothing to do with an image that failed. */
    if (rq->route->input == FR__HTTP_IN_ONE_IMAGE && rq->n_img > 0 && rq->img[0].status != FR_OK)
        return fr__http_respond_image_error(h, c, rq, &rq->img[0]);
    rq->images = rq->parsed;
    rq->n_results = rq->n_img;
    rq->results = rq->img;
    enum MHD_Result ok = rq->route->handler(h, c, rq);
    rq->images = NULL;
    rq->n_results = 0;
    rq->results = NULL;
    return ok;
}

/* The scheduler's result is in (loop thread). The gallery routes write
 * to the store: that runs on a worker. */
static enum MHD_Result answer_result(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    rq->stage = FR__STAGE_DONE;
    fr__http_conn_set_sched(rq->conn, 0);
    if (rq->sched_status != FR_OK) {
        const char *code;
        unsigned hs = fr__http_sched_error(rq->sched_status, &code);
        return fr__http_respond_error(h, c, rq, hs, code, fr_status_str(rq->sched_status));
    }
    if (rq->route->gallery) return defer(h, c, rq, run_handler);
    return run_handler(h, c, rq);
}

/* Bodies larger than this are parsed on a worker, not on the loop. */
#define INLINE_PARSE_MAX ((size_t)256 << 10)

/* The whole body is in. */
static enum MHD_Result finish(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    rq->stage = FR__STAGE_DONE;
    fr__http_conn_busy(rq->conn);
    if (rq->too_large) return respond_too_large(h, c, rq);
    if (rq->body_busy) return respond_body_busy(h, c, rq);
    if (rq->nomem) return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    bool worker = rq->route->gallery || rq->len > INLINE_PARSE_MAX;
    if (rq->route->input == FR__HTTP_IN_JSON)
        return worker ? defer(h, c, rq, rq->route->handler) : rq->route->handler(h, c, rq);
    if (worker) return defer(h, c, rq, submit_images);
    enum MHD_Result ok = submit_images(h, c, rq);
    if (rq->responded || ok != MHD_YES) return ok;
    if (suspend(h, rq)) return MHD_YES;
    return resume_step(h, c, rq);
}

/* ---- routing ------------------------------------------------------------- */

/* Checks the X-API-Key header; answers 401 itself (true: answered). With
 * a gallery the keys live in the store, else in the key file. */
static bool authenticate(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, bool optional,
                         enum MHD_Result *ret) {
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    if (!key && optional) return false;
    if (key && *key && h->gallery) {
        struct fr_store_user u;
        enum fr_status st = fr_store_auth(fr_gallery_store(h->gallery), key, &u);
        if (st == FR_OK) {
            snprintf(rq->user, sizeof(rq->user), "%s", u.name);
            rq->user_id = u.id;
            rq->admin = u.admin;
            return false;
        }
        if (st != FR_ERR_AUTH && st != FR_ERR_NOT_FOUND && st != FR_ERR_INVALID) {
            *ret = fr__http_respond_error(h, c, rq, 503, "unavailable", "the key store cannot be read");
            return true;
        }
    } else if (key && *key) {
        const char *user = fr__http_keys_lookup(h->keys, key);
        if (user) {
            snprintf(rq->user, sizeof(rq->user), "%s", user);
            return false;
        }
    }
    *ret = fr__http_respond_error(h, c, rq, 401, "unauthorized", key ? "unknown API key" : "missing X-API-Key header");
    return true;
}

/* After the route is known: everything else that can be refused without
 * the body is refused here, before it is read. With a gallery the key is
 * checked in the store, so this runs on a worker. */
static enum MHD_Result admit(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    const struct fr__http_route *r = rq->route;
    enum MHD_Result ret;
    if (r->auth != FR_HTTP_AUTH_KEY) {
        /* /status reads an optional key: it widens what is shown. */
        if (r->auth == FR_HTTP_AUTH_OPTIONAL && authenticate(h, c, rq, true, &ret)) return ret;
        return r->handler(h, c, rq);
    }
    if (authenticate(h, c, rq, false, &ret)) return ret;
    if (r->gallery && !h->gallery)
        return fr__http_respond_error(h, c, rq, 503, "no_gallery", "the server runs without a data directory");
    if (atomic_load(&h->stopping))
        return fr__http_respond_error(h, c, rq, 503, "shutting_down", "the server is stopping");
    if (r->input == FR__HTTP_IN_NONE) return r->handler(h, c, rq);
    bool image = r->input != FR__HTTP_IN_JSON;
    if (image && !fr_sched_ready(h->s))
        return fr__http_respond_error(h, c, rq, 503, "not_ready", "models are still loading");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (image && fr__http_body_kind(ct) == FR__HTTP_BODY_UNSUPPORTED)
        return fr__http_respond_error(h, c, rq, 415, "unsupported_media_type",
                                      "Content-Type must be image/*, application/octet-stream, multipart/form-data "
                                      "or application/json");
    if (!image && ct && *ct && fr__http_body_kind(ct) != FR__HTTP_BODY_JSON &&
        fr__http_body_kind(ct) != FR__HTTP_BODY_RAW)
        return fr__http_respond_error(h, c, rq, 415, "unsupported_media_type", "Content-Type must be application/json");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > h->p.max_body_bytes) return respond_too_large(h, c, rq);
        if (n > 0) {
            if (!body_reserve(h, rq, (size_t)n)) return respond_body_busy(h, c, rq);
            rq->body = fr_malloc((size_t)n);
            if (!rq->body) rq->nomem = true;
            else rq->cap = (size_t)n;
        }
    }
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timings");
    rq->timings = t && (!strcmp(t, "1") || !strcasecmp(t, "true"));
    rq->body_route = true;
    rq->stage = FR__STAGE_ADMITTED;
    return MHD_YES;
}

/* First call for a request: only the headers are in. */
static enum MHD_Result begin(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, const char *url,
                             const char *method) {
    char allow[64];
    const struct fr__http_route *r = fr__http_route_find(method, url, &rq->id, &rq->route_name, allow, sizeof(allow));
    rq->stage = FR__STAGE_DONE;
    /* The web app's files (web.c): their paths come from the build. */
    if (!r && !allow[0] && fr__http_web_has(url)) return fr__http_web_answer(h, c, rq, url, method);
    if (!r && !allow[0]) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no route %.100s", url);
        return fr__http_respond_error(h, c, rq, 404, "not_found", msg);
    }
    if (!r) {
        char msg[96];
        snprintf(msg, sizeof(msg), "use %s", allow);
        return fr__http_respond(h, c, rq, 405, fr__http_json_error("method_not_allowed", msg), allow, 0);
    }
    rq->route = r;
    rq->route_name = r->path;
    /* A declared body over the limit is refused before the key check. Up
     * to 64 MiB past the limit the body is read and dropped first (see
     * hold); a larger one is refused at once and the connection closed. */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && r->input != FR__HTTP_IN_NONE) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > h->p.max_body_bytes) {
            rq->refuse_now = errno || end == cl || n - h->p.max_body_bytes > ((unsigned long long)64 << 20);
            return respond_too_large(h, c, rq);
        }
    }
    /* Reading the key store, or a gallery route's handler: a worker. */
    if (h->gallery && r->auth != FR_HTTP_AUTH_NONE) return defer(h, c, rq, admit);
    enum MHD_Result ok = admit(h, c, rq);
    if (rq->responded || ok != MHD_YES) return ok;
    return resume_step(h, c, rq);
}

/* A piece of the body. */
static void accumulate(struct fr_http *h, struct fr__http_request *rq, const char *data, size_t n) {
    if (rq->too_large || rq->nomem || rq->body_busy) return;
    if (n > h->p.max_body_bytes - rq->len) {
        rq->too_large = true;
        body_free(h, rq);
        return;
    }
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap * 2 : 64 * 1024;
        if (cap < rq->len + n) cap = rq->len + n;
        if (cap > h->p.max_body_bytes) cap = h->p.max_body_bytes;
        if (!body_reserve(h, rq, cap)) {
            rq->body_busy = true;
            body_free(h, rq);
            return;
        }
        char *b = fr_realloc(rq->body, cap);
        if (!b) {
            rq->nomem = true;
            body_free(h, rq);
            return;
        }
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

static enum MHD_Result defer(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                             fr__http_handler fn) {
    rq->work = fn;
    pthread_mutex_lock(&rq->mu);
    rq->pending++;
    pthread_mutex_unlock(&rq->mu);
    fr__http_work_push(h, rq);
    if (suspend(h, rq)) return MHD_YES;
    return resume_step(h, c, rq);
}

/* What follows a step that ran elsewhere (or a synchronous admit), on
 * the loop thread with the connection not suspended. */
static enum MHD_Result resume_step(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    if (fr__http_conn_gone(rq->conn)) return MHD_NO; /* nobody to answer */
    if (rq->stash) {
        if (rq->hold && !rq->refuse_now) {
            /* Read and drop the body first; the final call answers. */
            rq->stage = FR__STAGE_DONE;
            fr__http_conn_headers_done(rq->conn, true);
            return MHD_YES;
        }
        struct MHD_Response *r = rq->stash;
        rq->stash = NULL;
        rq->responded = false;
        return fr__http_queue(h, c, rq, rq->stash_status, r);
    }
    if (rq->responded) return MHD_YES;
    switch (rq->stage) {
    case FR__STAGE_ADMITTED:
        /* The body comes next. */
        rq->stage = FR__STAGE_BODY;
        fr__http_conn_headers_done(rq->conn, true);
        return MHD_YES;
    case FR__STAGE_RESULT: return answer_result(h, c, rq);
    default: return MHD_YES;
    }
}

static void request_free(struct fr_http *h, struct fr__http_request *rq) {
    body_free(h, rq);
    if (rq->parsed) {
        fr__http_body_clear(rq->parsed);
        fr_free(rq->parsed);
    }
    images_clear(rq);
    if (rq->stash) MHD_destroy_response(rq->stash);
    pthread_mutex_destroy(&rq->mu);
    fr_free(rq);
}

static enum MHD_Result handle(struct fr_http *h, struct MHD_Connection *c, const char *url, const char *method,
                              const char *upload_data, size_t *upload_data_size, void **con_cls);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    struct fr_http *h = cls;
    (void)version;
    struct fr__http_request *rq = *con_cls;
    if (rq) {
        rq->hold = rq->body_follows && !rq->past_first;
        rq->suspended_in_call = false;
    }
    enum MHD_Result ret = handle(h, c, url, method, upload_data, upload_data_size, con_cls);
    rq = *con_cls;
    /* A first call that neither suspended nor was answered is over: what
     * follows is the body and the final call. */
    if (rq && !rq->past_first && ret == MHD_YES && !rq->suspended_in_call) {
        rq->past_first = true;
        rq->hold = false;
    }
    return ret;
}

static enum MHD_Result handle(struct fr_http *h, struct MHD_Connection *c, const char *url, const char *method,
                              const char *upload_data, size_t *upload_data_size, void **con_cls) {
    struct fr__http_request *rq = *con_cls;
    if (!rq) {
        struct fr__http_conn *cn = NULL;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci) cn = ci->socket_context;
        /* Answered at accept (429/503): read nothing more; the sweep
         * closes the connection after the client had time to read. */
        if (fr__http_conn_refused(cn)) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        rq = fr_calloc(1, sizeof(*rq));
        if (!rq) return MHD_NO;
        rq->h = h;
        rq->mc = c;
        rq->conn = cn;
        pthread_mutex_init(&rq->mu, NULL);
        *con_cls = rq;
        atomic_fetch_add(&h->requests_active, 1);
        atomic_fetch_add(&h->requests_total, 1);
        fr__http_conn_headers_done(rq->conn, false);
        /* libmicrohttpd closes a connection whose response was queued
         * before its body: right for a refused upload, wasteful for a
         * request without one. Those are answered in the next call, so
         * that the connection stays alive. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if (!te && (!cl || !strcmp(cl, "0"))) return MHD_YES;
        rq->body_follows = rq->hold = true;
        return begin(h, c, rq, url, method);
    }
    if (rq->stage == FR__STAGE_NEW) return begin(h, c, rq, url, method);
    if (*upload_data_size) {
        /* Counted for min_body_rate also while a refused body is dropped. */
        fr__http_conn_body(rq->conn, *upload_data_size);
        if (rq->stage == FR__STAGE_BODY && !rq->responded) {
            accumulate(h, rq, upload_data, *upload_data_size);
            if (rq->too_large) {
                /* Answer now where the library allows it; otherwise the
                 * rest is discarded unread-into-memory and 413 follows. */
                rq->refuse_now = true;
                respond_too_large(h, c, rq);
            } else if (rq->body_busy) {
                respond_body_busy(h, c, rq);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->stage == FR__STAGE_BODY && !rq->responded) return finish(h, c, rq);
    return resume_step(h, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    struct fr_http *h = cls;
    struct fr__http_conn *cn = NULL;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci) cn = ci->socket_context;
    if (!fr__http_conn_refused(cn)) fr__http_conn_request_done(cn);
    struct fr__http_request *rq = *con_cls;
    if (!rq) return;
    request_free(h, rq);
    *con_cls = NULL;
    atomic_fetch_sub(&h->requests_active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    FR_LOGD("fr_http: microhttpd: %s", msg);
}

/* ---- lifecycle ----------------------------------------------------------- */

static enum fr_status import_keys(struct fr_http *h, char *err, size_t errlen) {
    struct fr_store *st = fr_gallery_store(h->gallery);
    for (int32_t i = 0; i < fr__http_keys_count(h->keys); i++) {
        const char *key, *user;
        fr__http_keys_at(h->keys, i, &key, &user);
        char e[256];
        enum fr_status s = fr_store_key_import(st, user, key, e, sizeof(e));
        if (s != FR_OK) {
            fr_errf(err, errlen, "importing the API key file's key for %s: %s", user, e);
            return s;
        }
    }
    fr__http_keys_free(h->keys);
    h->keys = NULL;
    return FR_OK;
}

enum fr_status fr_http_new(const struct fr_http_params *params, struct fr_sched *s, struct fr_http **out, char *err,
                           size_t errlen) {
    FR_ASSERT(params && s && out);
    *out = NULL;
    enum fr_status st = FR_ERR_NOMEM;
    struct fr_http *h = fr_calloc(1, sizeof(*h));
    if (!h) return FR_ERR_NOMEM;
    h->p = *params;
    h->s = s;
    h->listen_fd = -1;
    h->t0 = fr_time_now();
    if (h->p.threads < 1) h->p.threads = 1;
    if (h->p.workers < 1) h->p.workers = 1;
    if (h->p.connection_timeout_s < 1) h->p.connection_timeout_s = 60;
    if (h->p.max_connections < 16) h->p.max_connections = 16;
    if (h->p.header_timeout_ms < 100) h->p.header_timeout_ms = 100;
    if (h->p.body_rate_window_ms < 100) h->p.body_rate_window_ms = 100;
    if (h->p.max_body_memory < 1024) h->p.max_body_memory = 1024;
    if ((st = fr__http_conn_init(h, err, errlen)) != FR_OK) {
        fr_free(h);
        return st;
    }
    st = FR_ERR_NOMEM;
    fr__http_conn_limits(h);
    h->listen = fr_strdup(params->listen ? params->listen : "127.0.0.1:5001");
    h->p.listen = h->listen;
    h->routes = fr_malloc(sizeof(*h->routes));
    if (!h->listen || !h->routes) goto fail;
    fr__http_route_counts_init(h->routes);
    char nerr[256] = "";
    if (fr_nvml_new(NULL, &h->nvml, nerr, sizeof(nerr)) != FR_OK) FR_LOGI("%s: no GPU figures: %s", __func__, nerr);
    h->gallery = params->gallery;
    if (params->api_keys_file && *params->api_keys_file) {
        if ((st = fr__http_keys_load(params->api_keys_file, &h->keys, err, errlen)) != FR_OK) goto fail;
        if (fr__http_keys_count(h->keys) == 0 && !h->gallery)
            FR_LOGW("%s: %s lists no keys: every API request will get 401", __func__, params->api_keys_file);
        /* With a gallery the store holds the keys: the file's keys are
         * imported (once; a key already there is left alone). */
        if (h->gallery && (st = import_keys(h, err, errlen)) != FR_OK) goto fail;
    } else if (!h->gallery) {
        FR_LOGW("%s: no API key file: every API request will get 401", __func__);
    }
    h->p.api_keys_file = NULL; /* not kept: the caller's string */
    bool v6 = false;
    h->listen_fd = fr__http_listen_open(h->listen, &h->port, &v6, err, errlen);
    if (h->listen_fd < 0) {
        st = h->listen_fd == -2 ? FR_ERR_INVALID : FR_ERR_IO;
        h->listen_fd = -1;
        goto fail;
    }
    if ((st = fr__http_conn_start(h, err, errlen)) != FR_OK) goto fail;
    /* epoll with a small pool of loop threads; waiting connections are
     * suspended. The daemon's own limit leaves headroom above
     * max_connections in which conn.c answers 503 instead of the
     * daemon's silent refusal. */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (v6 ? MHD_USE_IPv6 : 0);
    unsigned limit = (unsigned)h->p.max_connections + (unsigned)h->p.max_connections / 16 + 16;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                            MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned)h->p.threads, MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->p.connection_timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                            fr__http_on_connection, h, MHD_OPTION_URI_LOG_CALLBACK, fr__http_on_uri, h,
                            MHD_OPTION_END);
    if (!h->d) {
        fr_errf(err, errlen, "listen %s: cannot start the HTTP daemon", h->listen);
        st = FR_ERR_INTERNAL;
        goto fail;
    }
    *out = h;
    return FR_OK;
fail:
    if (h->listen_fd >= 0) close(h->listen_fd);
    fr__http_conn_stop(h);
    if (h->routes) fr__http_route_counts_destroy(h->routes);
    fr_free(h->routes);
    fr_nvml_free(h->nvml);
    fr__http_keys_free(h->keys);
    fr_free(h->listen);
    fr_free(h);
    return st;
}

uint16_t fr_http_port(const struct fr_http *h) { return h->port; }

struct fr_http_limits fr_http_get_limits(const struct fr_http *h) {
    return (struct fr_http_limits){
        .max_connections = h->p.max_connections, .nofile_soft = h->nofile_soft, .nofile_hard = h->nofile_hard
    };
}

void fr_http_quiesce(struct fr_http *h) {
    if (!h || !h->d || atomic_exchange(&h->quiesced, true)) return;
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    /* After quiesce the socket is ours; closing it makes new connections
     * fail at once instead of sitting in the backlog. */
    if (fd != MHD_INVALID_SOCKET) close(fd);
    h->listen_fd = -1;
}

void fr_http_free(struct fr_http *h) {
    if (!h) return;
    fr_http_quiesce(h);
    /* Requests waiting on the scheduler are cancelled (the sweep does it
     * while stopping) and answer 503. */
    atomic_store(&h->stopping, true);
    fr__http_conn_cancel_all(h);
    /* MHD must not be stopped with a connection suspended: wait for every
     * step to end (cancelled requests call back at once; worker jobs are
     * store operations). */
    struct timespec nap = { 0, 10 * 1000 * 1000 };
    for (int i = 0; i < 6000 && (atomic_load(&h->suspended) > 0 || atomic_load(&h->working) > 0); i++)
        nanosleep(&nap, NULL);
    /* MHD_stop_daemon shuts every connection down: give responses that are
     * queued or being written a moment to reach their clients first. */
    for (int i = 0; i < 300 && atomic_load(&h->requests_active) > 0; i++) nanosleep(&nap, NULL);
    if (atomic_load(&h->suspended) > 0) {
        /* Stopping now would abort the process inside MHD: leave the
         * daemon to the process's exit. */
        FR_LOGE("fr_http: %d connections still suspended after 60 s; the daemon is left running",
                (int)atomic_load(&h->suspended));
        return;
    }
    MHD_stop_daemon(h->d);
    fr__http_conn_stop(h);
    fr__http_route_counts_destroy(h->routes);
    fr_free(h->routes);
    fr_nvml_free(h->nvml);
    fr__http_keys_free(h->keys);
    fr_free(h->listen);
    fr_free(h);
}
