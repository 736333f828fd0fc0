/* The HTTP server: a libmicrohttpd daemon with a thread per connection.
 *
 * A connection thread runs the access handler for its requests: it checks
 * route, method, key and size as soon as the headers are in, buffers the
 * body, parses it (body.c), submits the images to the scheduler and blocks
 * on a condition variable until the scheduler's callback has copied the
 * result, polling the socket meanwhile so that a client that hung up
 * cancels its request. All memory of a request belongs to that thread:
 * the callback runs on the scheduler thread and only copies faces into
 * the waiter, which then builds the JSON (json.c). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "facerec/nvml.h"
#include "facerec/pipeline.h"
#include "http/http-impl.h"
#include "http/metrics.h"

/* The status codes /status counts one by one; anything else is "other". */
static const unsigned counted_status[] = { 200, 400, 401, 404, 405, 413, 415, 422, 429, 500, 503, 504 };
#define N_COUNTED (sizeof(counted_status) / sizeof(counted_status[0]))

struct fr_http {
    struct fr_http_params p;
    char *listen; /* owned copy of p.listen */
    struct fr_sched *s;
    struct fr__http_keys *keys;
    struct MHD_Daemon *d;
    int listen_fd;
    uint16_t port;
    double t0;
    atomic_bool quiesced, stopping;
    atomic_int connections_active, requests_active, waiting;
    atomic_llong connections_total, requests_total;
    atomic_llong by_status[N_COUNTED + 1];
    struct fr__http_route_counts *routes; /* /metrics: requests by route and status */
    struct fr_nvml *nvml;                 /* NULL without the NVIDIA driver */
};

enum route { ROUTE_DETECT, ROUTE_EMBED, ROUTE_VERIFY };

/* Per request, from the first handler call to MHD's completion notice. */
struct request {
    enum route route;
    const char *route_name; /* the route template for /metrics ("/v1/detect"); "other" when unknown */
    const char *user;
    bool api;       /* a POST /v1/ route that reads a body */
    bool responded; /* a response is queued; later body bytes are dropped */
    bool too_large, nomem, timings;
    char *body;
    size_t len, cap;
};

/* One image's result, copied out of the scheduler's callback. */
struct image_copy {
    enum fr_status status;
    char *error;
    struct fr_faces faces;
    struct fr_sched_timings timings;
};

/* The meeting point of a connection thread and the scheduler callback. */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    enum fr_status status;
    int32_t n;
    struct image_copy *img;
};

struct fr_http_params fr_http_default_params(void) {
    return (struct fr_http_params){
        .listen = "127.0.0.1:5001",
        .max_body_bytes = (size_t)64 << 20,
        .threads = 64,
        .api_keys_file = NULL,
        .tolerance = FR_DEFAULT_TOLERANCE,
        .connection_timeout_s = 60,
    };
}

/* ---- responses ---------------------------------------------------------- */

static void count_status(struct fr_http *h, unsigned status) {
    size_t i = 0;
    while (i < N_COUNTED && counted_status[i] != status) i++;
    atomic_fetch_add(&h->by_status[i], 1);
}

static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

/* Queues json (a cJSON-allocated string, which the response takes over;
 * NULL means building it ran out of memory) with status. */
static enum MHD_Result respond(struct fr_http *h, struct MHD_Connection *c, struct request *rq, unsigned status,
                               char *json, const char *allow, int retry_after_s) {
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
    /* Draining: the client should not come back on this connection. */
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

static enum MHD_Result respond_error(struct fr_http *h, struct MHD_Connection *c, struct request *rq, unsigned status,
                                     const char *code, const char *message) {
    return respond(h, c, rq, status, fr__http_json_error(code, message), NULL, 0);
}

static enum MHD_Result respond_doc(struct fr_http *h, struct MHD_Connection *c, struct request *rq, unsigned status,
                                   cJSON *doc) {
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    return respond(h, c, rq, status, s, NULL, 0);
}

/* ---- scheduler round trip ------------------------------------------------ */

static void waiter_clear(struct waiter *w) {
    for (int32_t i = 0; i < w->n; i++) {
        fr_free(w->img[i].error);
        fr_free(w->img[i].faces.faces);
    }
    fr_free(w->img);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* Runs on the scheduler thread: copy and signal, nothing that blocks. The
 * waiter reads the copy only after seeing done under the mutex. */
static void on_done(const struct fr_sched_result *r, void *ctx) {
    struct waiter *w = ctx;
    enum fr_status status = r->status;
    struct image_copy *img = NULL;
    int32_t n = r->n_images;
    if (status == FR_OK && n > 0) {
        img = fr_calloc((size_t)n, sizeof(*img));
        if (!img) status = FR_ERR_NOMEM;
        for (int32_t i = 0; img && i < n; i++) {
            const struct fr_sched_image_result *s = &r->images[i];
            struct image_copy *d = &img[i];
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
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->img = img;
    w->n = img ? n : 0;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* True when the peer closed its side: a request nobody will read. */
static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits for the callback. Returns true when the client went away. */
static bool wait_result(struct fr_http *h, struct MHD_Connection *c, struct waiter *w, uint64_t id) {
    bool cancelled = false, gone = false;
    atomic_fetch_add(&h->waiting, 1);
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->done || cancelled) continue;
        gone = client_gone(c);
        if (gone || atomic_load(&h->stopping)) {
            /* The callback still runs exactly once (with FR_ERR_CANCELLED
             * unless it was already on its way); keep waiting for it, since
             * it writes into w. Cancel may call back on this thread. */
            cancelled = true;
            pthread_mutex_unlock(&w->mu);
            fr_sched_cancel(h->s, id);
            pthread_mutex_lock(&w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    atomic_fetch_sub(&h->waiting, 1);
    return gone;
}

static unsigned status_http(enum fr_status st, const char **code) {
    switch (st) {
    case FR_ERR_TIMEOUT: *code = "timeout"; return 504;
    case FR_ERR_SHUTDOWN:
    case FR_ERR_CANCELLED: *code = "shutting_down"; return 503;
    case FR_ERR_BUSY: *code = "too_many_requests"; return 429;
    case FR_ERR_INVALID: *code = "invalid_request"; return 400;
    default: *code = "internal"; return 500;
    }
}

/* Decoding and size failures are the client's; the rest are ours. */
static bool image_error_is_client(enum fr_status st) {
    return st == FR_ERR_IMAGE || st == FR_ERR_FORMAT || st == FR_ERR_UNSUPPORTED || st == FR_ERR_TOO_LARGE ||
           st == FR_ERR_INVALID;
}

static cJSON *image_error(const struct image_copy *im) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (!o || !e || !cJSON_AddItemToObject(o, "error", e)) {
        cJSON_Delete(o);
        cJSON_Delete(e);
        return NULL;
    }
    cJSON_AddStringToObject(e, "code", image_error_is_client(im->status) ? "invalid_image" : "internal");
    cJSON_AddStringToObject(e, "message", im->error ? im->error : fr_status_str(im->status));
    return o;
}

/* detect and embed: one slot per image, faces or an error. */
static enum MHD_Result answer_faces(struct fr_http *h, struct MHD_Connection *c, struct request *rq,
                                    const struct waiter *w) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!root || !arr || !cJSON_AddItemToObject(root, "images", arr)) {
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return respond(h, c, rq, 500, NULL, NULL, 0);
    }
    int32_t failed = 0, client_failed = 0;
    const struct image_copy *first_failed = NULL;
    for (int32_t i = 0; i < w->n; i++) {
        const struct image_copy *im = &w->img[i];
        cJSON *slot;
        if (im->status == FR_OK) {
            slot = fr__http_json_faces(&im->faces, rq->route == ROUTE_EMBED);
        } else {
            slot = image_error(im);
            failed++;
            client_failed += image_error_is_client(im->status);
            if (!first_failed) first_failed = im;
        }
        if (slot && rq->timings) cJSON_AddItemToObject(slot, "timings", fr__http_json_timings(&im->timings));
        if (!slot || !cJSON_AddItemToArray(arr, slot)) {
            cJSON_Delete(slot);
            cJSON_Delete(root);
            return respond(h, c, rq, 500, NULL, NULL, 0);
        }
    }
    unsigned status = 200;
    if (w->n > 0 && failed == w->n) {
        /* Every image failed: the request as a whole is an error, with the
         * per-image details kept. */
        status = client_failed ? 400 : 500;
        cJSON *e = cJSON_CreateObject();
        if (e) {
            cJSON_AddStringToObject(e, "code", client_failed ? "invalid_image" : "internal");
            char msg[512];
            snprintf(msg, sizeof(msg), "%s%s", w->n > 1 ? "no image could be processed: " : "",
                     first_failed->error ? first_failed->error : fr_status_str(first_failed->status));
            cJSON_AddStringToObject(e, "message", msg);
            cJSON_AddItemToObject(root, "error", e);
        }
    }
    return respond_doc(h, c, rq, status, root);
}

/* verify: the largest face of each image (or of the one image against the
 * given embedding). */
static enum MHD_Result answer_verify(struct fr_http *h, struct MHD_Connection *c, struct request *rq,
                                     const struct waiter *w, const struct fr__http_body *b) {
    const float *desc[2] = { NULL, b->has_embedding ? b->embedding : NULL };
    const struct fr_face *face[2] = { NULL, NULL };
    char msg[512];
    for (int32_t i = 0; i < w->n; i++) {
        const struct image_copy *im = &w->img[i];
        if (im->status != FR_OK) {
            snprintf(msg, sizeof(msg), "image %d: %s", (int)i + 1, im->error ? im->error : fr_status_str(im->status));
            return image_error_is_client(im->status) ? respond_error(h, c, rq, 400, "invalid_image", msg)
                                                     : respond_error(h, c, rq, 500, "internal", msg);
        }
        int32_t k = fr_faces_largest(&im->faces);
        if (k < 0) {
            snprintf(msg, sizeof(msg), "image %d: no face found", (int)i + 1);
            return respond_error(h, c, rq, 422, "no_face", msg);
        }
        face[i] = &im->faces.faces[k];
        desc[i] = face[i]->descriptor;
    }
    float d = fr_descriptor_distance(desc[0], desc[1]);
    cJSON *root = cJSON_CreateObject(), *faces = cJSON_CreateArray();
    if (!root || !faces || !cJSON_AddItemToObject(root, "faces", faces)) {
        cJSON_Delete(root);
        cJSON_Delete(faces);
        return respond(h, c, rq, 500, NULL, NULL, 0);
    }
    cJSON_AddItemToObject(root, "distance", fr__http_json_number(d));
    cJSON_AddItemToObject(root, "similarity", fr__http_json_number(fr_similarity(d)));
    cJSON_AddBoolToObject(root, "same_person", d <= h->p.tolerance);
    cJSON_AddItemToObject(root, "tolerance", fr__http_json_number(round(h->p.tolerance * 1e6) / 1e6));
    for (int32_t i = 0; i < w->n; i++) {
        cJSON *f = fr__http_json_face(face[i], false);
        if (f) {
            cJSON_AddNumberToObject(f, "width", w->img[i].faces.width);
            cJSON_AddNumberToObject(f, "height", w->img[i].faces.height);
            if (rq->timings) cJSON_AddItemToObject(f, "timings", fr__http_json_timings(&w->img[i].timings));
        }
        if (!f || !cJSON_AddItemToArray(faces, f)) {
            cJSON_Delete(f);
            cJSON_Delete(root);
            return respond(h, c, rq, 500, NULL, NULL, 0);
        }
    }
    return respond_doc(h, c, rq, 200, root);
}

/* The whole body is in: parse, submit, wait, answer. */
static enum MHD_Result finish(struct fr_http *h, struct MHD_Connection *c, struct request *rq) {
    if (rq->too_large) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", h->p.max_body_bytes);
        return respond_error(h, c, rq, 413, "payload_too_large", msg);
    }
    if (rq->nomem) return respond(h, c, rq, 500, NULL, NULL, 0);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct fr__http_body b;
    struct fr__http_body_error be;
    if (fr__http_body_parse(ct, rq->body ? rq->body : "", rq->len, &b, &be) != FR_OK)
        return respond_error(h, c, rq, (unsigned)be.http_status, be.code, be.message);
    if (rq->route == ROUTE_VERIFY && !((b.n == 2 && !b.has_embedding) || (b.n == 1 && b.has_embedding))) {
        fr__http_body_clear(&b);
        return respond_error(h, c, rq, 400, "invalid_request",
                             "verify takes two images, or one image and an \"embedding\"");
    }
    if (rq->route != ROUTE_VERIFY && b.has_embedding) {
        fr__http_body_clear(&b);
        return respond_error(h, c, rq, 400, "invalid_request", "\"embedding\" is only for /v1/verify");
    }
    struct waiter w = { 0 };
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w.mu, NULL);
    struct fr_sched_request sr = {
        .user = rq->user,
        .images = b.images,
        .n_images = b.n,
        .landmarks = true,
        .embeddings = rq->route != ROUTE_DETECT,
        .done = on_done,
        .ctx = &w,
    };
    uint64_t id = 0;
    int32_t retry_ms = 0;
    enum fr_status st = fr_sched_submit(h->s, &sr, &id, &retry_ms);
    enum MHD_Result ok;
    if (st != FR_OK) {
        fr__http_body_clear(&b);
        waiter_clear(&w);
        const char *code;
        unsigned hs = status_http(st, &code);
        if (st == FR_ERR_BUSY) {
            int ra = (int)((retry_ms + 999) / 1000);
            return respond(h, c, rq, 429, fr__http_json_error(code, "too many requests queued; retry later"), NULL,
                           ra < 1 ? 1 : ra);
        }
        return respond_error(h, c, rq, hs, code, fr_status_str(st));
    }
    /* The scheduler copied the bytes. Multipart and raw images point
     * into the body, but only verify's embedding is read after this. */
    fr_free(rq->body);
    rq->body = NULL;
    rq->len = rq->cap = 0;
    bool gone = wait_result(h, c, &w, id);
    if (gone) {
        /* Nobody to answer: close the connection. */
        ok = MHD_NO;
    } else if (w.status != FR_OK) {
        const char *code;
        unsigned hs = status_http(w.status, &code);
        ok = respond_error(h, c, rq, hs, code, fr_status_str(w.status));
    } else if (rq->route == ROUTE_VERIFY) {
        ok = answer_verify(h, c, rq, &w, &b);
    } else {
        ok = answer_faces(h, c, rq, &w);
    }
    fr__http_body_clear(&b);
    waiter_clear(&w);
    return ok;
}

/* ---- routing ------------------------------------------------------------- */

static enum MHD_Result answer_status(struct fr_http *h, struct MHD_Connection *c, struct request *rq) {
    char *s = fr_sched_status_json(h->s);
    cJSON *root = s ? cJSON_Parse(s) : NULL;
    fr_free(s);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = cJSON_CreateObject();
    }
    cJSON *srv = cJSON_CreateObject();
    if (!root || !srv || !cJSON_AddItemToObject(root, "server", srv)) {
        cJSON_Delete(root);
        cJSON_Delete(srv);
        return respond(h, c, rq, 500, NULL, NULL, 0);
    }
    struct fr_gpu_sample g;
    cJSON *ut = cJSON_GetObjectItem(root, "device_utilization");
    if (ut && h->nvml && fr_nvml_sample(h->nvml, 0, &g) == FR_OK) {
        cJSON *gj = cJSON_CreateObject();
        if (gj) {
            cJSON_AddNumberToObject(gj, "index", 0);
            cJSON_AddStringToObject(gj, "name", g.name);
            cJSON_AddNumberToObject(gj, "utilization", g.utilization);
            cJSON_AddNumberToObject(gj, "memory_used", (double)g.memory_used);
            cJSON_AddNumberToObject(gj, "memory_total", (double)g.memory_total);
            if (g.has_temperature) cJSON_AddNumberToObject(gj, "temperature_c", g.temperature_c);
            else cJSON_AddNullToObject(gj, "temperature_c");
            if (g.has_power) cJSON_AddNumberToObject(gj, "power_w", g.power_w);
            else cJSON_AddNullToObject(gj, "power_w");
            if (cJSON_GetObjectItem(ut, "gpu")) cJSON_ReplaceItemInObject(ut, "gpu", gj);
            else cJSON_AddItemToObject(ut, "gpu", gj);
        }
    }
    cJSON_AddNumberToObject(srv, "uptime_s", round((fr_time_now() - h->t0) * 1000.0) / 1000.0);
    cJSON_AddStringToObject(srv, "listen", h->listen);
    cJSON_AddNumberToObject(srv, "port", h->port);
    cJSON_AddBoolToObject(srv, "draining", atomic_load(&h->quiesced));
    cJSON *conn = cJSON_AddObjectToObject(srv, "connections");
    if (conn) {
        cJSON_AddNumberToObject(conn, "active", atomic_load(&h->connections_active));
        cJSON_AddNumberToObject(conn, "total", (double)atomic_load(&h->connections_total));
        cJSON_AddNumberToObject(conn, "limit", h->p.threads);
    }
    cJSON *req = cJSON_AddObjectToObject(srv, "requests");
    if (req) {
        cJSON_AddNumberToObject(req, "total", (double)atomic_load(&h->requests_total));
        /* This request is one of the active ones. */
        cJSON_AddNumberToObject(req, "active", atomic_load(&h->requests_active));
        cJSON_AddNumberToObject(req, "waiting_on_scheduler", atomic_load(&h->waiting));
        cJSON *by = cJSON_AddObjectToObject(req, "by_status");
        for (size_t i = 0; by && i <= N_COUNTED; i++) {
            long long n = atomic_load(&h->by_status[i]);
            if (!n) continue;
            char k[16];
            if (i < N_COUNTED) snprintf(k, sizeof(k), "%u", counted_status[i]);
            else snprintf(k, sizeof(k), "other");
            cJSON_AddNumberToObject(by, k, (double)n);
        }
    }
    return respond_doc(h, c, rq, 200, root);
}

/* GET /metrics: gathered per scrape; nothing here runs on the scheduler
 * loop, which only publishes its snapshot. */
static enum MHD_Result answer_metrics(struct fr_http *h, struct MHD_Connection *c, struct request *rq) {
    struct fr_sched_metrics *sm = fr_malloc(sizeof(*sm));
    struct fr__http_route_count *routes = fr_malloc(sizeof(*routes) * FR__HTTP_ROUTE_SLOTS);
    char *text = NULL;
    size_t len = 0;
    enum fr_status st = FR_ERR_NOMEM;
    if (sm && routes) {
        fr_sched_get_metrics(h->s, sm);
        struct fr__process_stats ps;
        fr__process_stats_read(&ps);
        struct fr_gpu_sample gpus[8];
        int32_t ng = h->nvml ? fr_nvml_device_count(h->nvml) : 0, n_ok = 0;
        for (int32_t i = 0; i < ng && i < 8; i++, n_ok++)
            if (fr_nvml_sample(h->nvml, i, &gpus[i]) != FR_OK) break;
        struct fr__metrics_doc d = {
            .version = FR_VERSION,
            .backend = sm->backend,
            .sched = sm,
            .routes = routes,
            .n_routes = fr__http_route_counts_copy(h->routes, routes),
            .connections_active = atomic_load(&h->connections_active),
            .connections_total = atomic_load(&h->connections_total),
            .requests_active = atomic_load(&h->requests_active),
            .waiting = atomic_load(&h->waiting),
            .process = &ps,
            .gpus = gpus,
            .n_gpus = n_ok,
        };
        st = fr__metrics_render(&d, &text, &len);
    }
    fr_free(sm);
    fr_free(routes);
    if (st != FR_OK) return respond(h, c, rq, 500, NULL, NULL, 0);
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, fr_free);
    if (!r) {
        fr_free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    if (atomic_load(&h->quiesced)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES) {
        count_status(h, 200);
        fr__http_route_counts_add(h->routes, rq->route_name, 200);
        rq->responded = true;
    }
    return ok;
}

static enum MHD_Result answer_simple(struct fr_http *h, struct MHD_Connection *c, struct request *rq,
                                     const char *status) {
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "status", status);
    return respond_doc(h, c, rq, 200, o);
}

/* First call for a request: only the headers are in. Everything that can
 * be refused without the body is refused here, before it is read. */
static enum MHD_Result begin(struct fr_http *h, struct MHD_Connection *c, struct request *rq, const char *url,
                             const char *method) {
    bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
    enum { R_NONE, R_HEALTHZ, R_READYZ, R_STATUS, R_METRICS, R_API } kind = R_NONE;
    /* route_name is a template, never the raw path, so that /metrics
     * labels stay bounded: routes with parameters set "/v1/x/{id}". */
    rq->route_name = "other";
    if (!strcmp(url, "/healthz")) kind = R_HEALTHZ, rq->route_name = "/healthz";
    else if (!strcmp(url, "/readyz")) kind = R_READYZ, rq->route_name = "/readyz";
    else if (!strcmp(url, "/status")) kind = R_STATUS, rq->route_name = "/status";
    else if (!strcmp(url, "/metrics")) kind = R_METRICS, rq->route_name = "/metrics";
    else if (!strcmp(url, "/v1/detect")) kind = R_API, rq->route = ROUTE_DETECT, rq->route_name = "/v1/detect";
    else if (!strcmp(url, "/v1/embed")) kind = R_API, rq->route = ROUTE_EMBED, rq->route_name = "/v1/embed";
    else if (!strcmp(url, "/v1/verify")) kind = R_API, rq->route = ROUTE_VERIFY, rq->route_name = "/v1/verify";
    if (kind == R_NONE) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no route %.100s", url);
        return respond_error(h, c, rq, 404, "not_found", msg);
    }
    if (kind != R_API && !get)
        return respond(h, c, rq, 405, fr__http_json_error("method_not_allowed", "use GET"), "GET, HEAD", 0);
    if (kind == R_API && !post)
        return respond(h, c, rq, 405, fr__http_json_error("method_not_allowed", "use POST"), "POST", 0);
    switch (kind) {
    case R_HEALTHZ: return answer_simple(h, c, rq, "ok");
    case R_READYZ:
        if (atomic_load(&h->quiesced)) return respond_error(h, c, rq, 503, "shutting_down", "the server is draining");
        if (!fr_sched_ready(h->s)) return respond_error(h, c, rq, 503, "not_ready", "models are still loading");
        return answer_simple(h, c, rq, "ready");
    case R_STATUS: return answer_status(h, c, rq);
    case R_METRICS: return answer_metrics(h, c, rq);
    default: break;
    }
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    rq->user = fr__http_keys_lookup(h->keys, key);
    if (!rq->user)
        return respond_error(h, c, rq, 401, "unauthorized",
                             key ? "unknown API key" : "missing X-API-Key header");
    if (atomic_load(&h->stopping)) return respond_error(h, c, rq, 503, "shutting_down", "the server is stopping");
    if (!fr_sched_ready(h->s)) return respond_error(h, c, rq, 503, "not_ready", "models are still loading");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (fr__http_body_kind(ct) == FR__HTTP_BODY_UNSUPPORTED)
        return respond_error(h, c, rq, 415, "unsupported_media_type",
                             "Content-Type must be image/*, application/octet-stream, multipart/form-data or "
                             "application/json");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > h->p.max_body_bytes) {
            char msg[96];
            snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", h->p.max_body_bytes);
            return respond_error(h, c, rq, 413, "payload_too_large", msg);
        }
        if (n > 0) {
            rq->body = fr_malloc((size_t)n);
            if (!rq->body) rq->nomem = true;
            else rq->cap = (size_t)n;
        }
    }
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timings");
    rq->timings = t && (!strcmp(t, "1") || !strcasecmp(t, "true"));
    rq->api = true;
    return MHD_YES;
}

/* A piece of the body. */
static void accumulate(struct fr_http *h, struct request *rq, const char *data, size_t n) {
    if (rq->too_large || rq->nomem) return;
    if (n > h->p.max_body_bytes - rq->len) {
        rq->too_large = true;
        fr_free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return;
    }
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap * 2 : 64 * 1024;
        if (cap < rq->len + n) cap = rq->len + n;
        if (cap > h->p.max_body_bytes) cap = h->p.max_body_bytes;
        char *b = fr_realloc(rq->body, cap);
        if (!b) {
            rq->nomem = true;
            fr_free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return;
        }
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    struct fr_http *h = cls;
    struct request *rq = *con_cls;
    if (!rq) {
        rq = fr_calloc(1, sizeof(*rq));
        if (!rq) return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&h->requests_active, 1);
        atomic_fetch_add(&h->requests_total, 1);
        return begin(h, c, rq, url, method);
    }
    if (*upload_data_size) {
        if (rq->api && !rq->responded) {
            accumulate(h, rq, upload_data, *upload_data_size);
            if (rq->too_large) {
                /* Answer now where the library allows it; otherwise the
                 * rest is discarded unread-into-memory and 413 follows. */
                char msg[96];
                snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", h->p.max_body_bytes);
                respond_error(h, c, rq, 413, "payload_too_large", msg);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->responded || !rq->api) return MHD_YES;
    return finish(h, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    struct fr_http *h = cls;
    struct request *rq = *con_cls;
    if (!rq) return;
    fr_free(rq->body);
    fr_free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&h->requests_active, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    struct fr_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&h->connections_active, 1);
        atomic_fetch_add(&h->connections_total, 1);
    } else {
        atomic_fetch_sub(&h->connections_active, 1);
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    FR_LOGD("fr_http: microhttpd: %s", msg);
}

/* ---- lifecycle ----------------------------------------------------------- */

/* Binds and listens on "host:port", "[v6]:port", ":port" (all interfaces)
 * or "port" (loopback). We open the socket ourselves so that a failure
 * names the errno, and so that quiesce can close it. */
static int open_listen(const char *spec, uint16_t *port, bool *v6, char *err, size_t errlen) {
    char host[256], serv[16];
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host)) goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(rb - spec - 1), spec + 1);
        colon = rb + 1;
    } else if (!colon) {
        snprintf(host, sizeof(host), "127.0.0.1");
        colon = spec - 1;
    } else {
        if ((size_t)(colon - spec) >= sizeof(host)) goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
        if (!host[0]) snprintf(host, sizeof(host), "0.0.0.0");
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) goto bad;
    snprintf(serv, sizeof(serv), "%ld", p);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
    int gai = getaddrinfo(host, serv, &hints, &ai);
    if (gai) {
        fr_errf(err, errlen, "listen %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 256) == 0) {
            *v6 = a->ai_family == AF_INET6;
            break;
        }
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        fr_errf(err, errlen, "listen %s: %s", spec, strerror(e));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
bad:
    fr_errf(err, errlen, "listen \"%s\": expected HOST:PORT, [IPV6]:PORT or PORT", spec);
    return -2;
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
    if (h->p.connection_timeout_s < 1) h->p.connection_timeout_s = 60;
    h->listen = fr_strdup(params->listen ? params->listen : "127.0.0.1:5001");
    h->p.listen = h->listen;
    h->routes = fr_malloc(sizeof(*h->routes));
    if (!h->listen || !h->routes) goto fail;
    fr__http_route_counts_init(h->routes);
    char nerr[256] = "";
    if (fr_nvml_new(NULL, &h->nvml, nerr, sizeof(nerr)) != FR_OK) FR_LOGI("%s: no GPU figures: %s", __func__, nerr);
    if (params->api_keys_file && *params->api_keys_file) {
        if ((st = fr__http_keys_load(params->api_keys_file, &h->keys, err, errlen)) != FR_OK) goto fail;
        if (fr__http_keys_count(h->keys) == 0)
            FR_LOGW("%s: %s lists no keys: every API request will get 401", __func__, params->api_keys_file);
    } else {
        FR_LOGW("%s: no API key file: every API request will get 401", __func__);
    }
    h->p.api_keys_file = NULL; /* not kept: the caller's string */
    bool v6 = false;
    h->listen_fd = open_listen(h->listen, &h->port, &v6, err, errlen);
    if (h->listen_fd < 0) {
        st = h->listen_fd == -2 ? FR_ERR_INVALID : FR_ERR_IO;
        h->listen_fd = -1;
        goto fail;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                            MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)h->p.threads, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)h->p.connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (!h->d) {
        fr_errf(err, errlen, "listen %s: cannot start the HTTP daemon", h->listen);
        st = FR_ERR_INTERNAL;
        goto fail;
    }
    *out = h;
    return FR_OK;
fail:
    if (h->listen_fd >= 0) close(h->listen_fd);
    if (h->routes) fr__http_route_counts_destroy(h->routes);
    fr_free(h->routes);
    fr_nvml_free(h->nvml);
    fr__http_keys_free(h->keys);
    fr_free(h->listen);
    fr_free(h);
    return st;
}

uint16_t fr_http_port(const struct fr_http *h) { return h->port; }

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
    /* Waiting handlers cancel their requests and answer 503. */
    atomic_store(&h->stopping, true);
    /* MHD_stop_daemon shuts every connection down: give responses that are
     * queued or being written a moment to reach their clients first. */
    for (int i = 0; i < 300 && atomic_load(&h->requests_active) > 0; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    fr__http_route_counts_destroy(h->routes);
    fr_free(h->routes);
    fr_nvml_free(h->nvml);
    fr__http_keys_free(h->keys);
    fr_free(h->listen);
    fr_free(h);
}
