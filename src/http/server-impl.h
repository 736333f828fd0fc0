/* Internals the files of the HTTP server share: the server object and the
 * per-request state (server.c), the replies (reply.c), the route table
 * (routes.c) and the handlers it names (routes-*.c, status.c), the
 * connection layer (conn.c) and the web app (web.c).
 *
 * Who calls whom: server.c runs a request through its steps and calls a
 * handler only through rq->route (routes.c); the handlers answer through
 * reply.c and never call into server.c, so no file of routes depends on
 * the request machinery beyond the fields of fr__http_request. */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "facerec/gallery.h"
#include "http/http-impl.h"

/* The status codes /status counts one by one; anything else is "other". */
#define FR__HTTP_N_COUNTED 13

struct fr__http_conn;
struct fr__http_request;
struct fr__http_ip;

/* Why a connection was refused at accept or closed by the server (conn.c). */
enum fr__http_refusal {
    FR__REFUSED_PER_IP,         /* over max_connections_per_ip: 429 */
    FR__REFUSED_CAPACITY,       /* over max_connections with nothing idle to close: 503 */
    FR__REFUSED_BODY_MEMORY,    /* bodies in flight would pass max_body_memory: 503 */
    FR__CLOSED_HEADER_TIMEOUT,  /* headers not in within header_timeout_ms */
    FR__CLOSED_BODY_RATE,       /* body slower than min_body_rate */
    FR__CLOSED_IDLE,            /* keep-alive idle past the idle timeout */
    FR__CLOSED_EVICTED,         /* idle keep-alive closed to make room */
    FR__N_REFUSALS
};

/* Counters of the connection layer, for /status and /metrics. */
struct fr__http_conn_stats {
    int32_t open, suspended, max_connections, per_ip_limit;
    int64_t nofile_soft, nofile_hard;
    int64_t body_bytes, max_body_memory;
    int64_t by_reason[FR__N_REFUSALS];
};
extern const char *const fr__http_refusal_names[FR__N_REFUSALS];

struct fr_http {
    struct fr_http_params p;
    char *listen; /* owned copy of p.listen */
    struct fr_sched *s;
    struct fr_gallery *gallery; /* borrowed; NULL: keys from the file only, no gallery routes */
    struct fr__http_keys *keys;  /* the key file, when there is no gallery */
    struct MHD_Daemon *d;
    int listen_fd;
    uint16_t port;
    double t0;
    atomic_bool quiesced, stopping;
    atomic_int connections_active, requests_active, waiting;
    /* conn.c: every open connection (a list under conn_mu, in accept
     * order), connections per client address, the sweep thread that
     * enforces the deadlines, and the worker pool for blocking work. */
    pthread_mutex_t conn_mu;
    struct fr__http_conn *conn_head, *conn_tail;
    struct fr__http_ip **ip_buckets;
    int32_t conns_open;
    pthread_cond_t sweep_cv;
    pthread_t sweeper;
    bool sweeper_started, sweep_stop; /* under conn_mu */
    pthread_mutex_t work_mu;
    pthread_cond_t work_cv;
    struct fr__http_request *work_head, *work_tail;
    pthread_t *workers;
    int32_t n_workers;
    bool work_stop; /* under work_mu */
    atomic_int suspended, working;
    atomic_llong body_bytes;
    atomic_llong by_reason[FR__N_REFUSALS];
    int64_t nofile_soft, nofile_hard;
    atomic_llong connections_total, requests_total;
    atomic_llong by_status[FR__HTTP_N_COUNTED + 1];
    struct fr__http_route_counts *routes; /* /metrics: requests by route template and status */
    struct fr_nvml *nvml;                 /* NULL without the NVIDIA driver */
};

/* One image's result, copied out of the scheduler's callback. */
struct fr__http_image {
    enum fr_status status;
    char *error;
    struct fr_faces faces;
    struct fr_sched_timings timings;
};

struct fr__http_request;
typedef enum MHD_Result (*fr__http_handler)(struct fr_http *h, struct MHD_Connection *c,
                                            struct fr__http_request *rq);

/* What a route reads. */
enum fr__http_input {
    FR__HTTP_IN_NONE,       /* no body (a body sent anyway is ignored) */
    FR__HTTP_IN_JSON,       /* an optional JSON object, parsed by the handler */
    FR__HTTP_IN_IMAGES,     /* detect, embed: one or more images */
    FR__HTTP_IN_PAIR,       /* verify: two images, or one and an "embedding" */
    FR__HTTP_IN_ONE_IMAGE,  /* gallery routes: exactly one image; its failure is answered before the handler */
};

/* Before the scheduler runs, on a worker: a check that may answer (then
 * it returns true and sets *ret), e.g. 404 for enrolling into a person who
 * is not there, which would waste the compute. */
typedef bool (*fr__http_precheck)(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                  enum MHD_Result *ret);

/* One row of the route table (routes.c), written with designated
 * initializers that name every field. */
struct fr__http_route {
    const char *method;      /* "GET" (HEAD too), "POST", "PATCH", "DELETE" */
    const char *path;        /* template; "{id}" matches a positive integer. Also the route's name in metrics */
    enum fr_http_auth auth;  /* KEY: X-API-Key required (every /v1 route); OPTIONAL: read when sent (/status) */
    bool gallery;            /* needs the gallery (a data directory); runs on a worker */
    enum fr__http_input input;
    bool embeddings;         /* image routes: run the recognition net */
    fr__http_precheck precheck; /* image routes: NULL, or a check before the scheduler */
    fr__http_handler handler;   /* answers; image routes: over the scheduler's result */
};

/* Where a request is, for the access handler's next call. */
enum fr__http_stage {
    FR__STAGE_NEW,
    FR__STAGE_ADMITTED, /* a worker checked the key and let the body come */
    FR__STAGE_BODY,     /* reading the body */
    FR__STAGE_RESULT,   /* images submitted; the scheduler's result comes next */
    FR__STAGE_DONE,
};

struct fr__http_body;
/* Per request, from the first handler call to MHD's completion notice.
 * Owned by the connection (MHD's con_cls) and freed by on_completed. While
 * a step runs elsewhere (a worker, the scheduler) the connection is
 * suspended, so MHD neither calls the handler nor closes the connection
 * (it cannot see the client leave): nothing frees the request until the
 * last of those steps has resumed the connection (see release()). */
struct fr__http_request {
    struct fr_http *h;
    struct MHD_Connection *mc;
    struct fr__http_conn *conn; /* the socket context; lives longer than the request */
    enum fr__http_stage stage;
    pthread_mutex_t mu;  /* guards pending and suspended */
    int32_t pending;     /* steps running elsewhere; the last to finish resumes */
    bool suspended;
    bool defer;          /* the handler runs on a worker: its response is kept in stash */
    struct MHD_Response *stash;
    unsigned stash_status;
    fr__http_handler work;               /* the worker's job */
    struct fr__http_request *work_next;  /* the worker queue */
    /* The scheduler's result, written by its callback before release(). */
    enum fr_status sched_status;
    int32_t n_img;
    struct fr__http_image *img;
    struct fr__http_body *parsed; /* the request's images while the scheduler has them */
    size_t body_reserved;         /* bytes of body counted against max_body_memory */
    const struct fr__http_route *route;
    const char *route_name; /* route->path, or "other": a label with few values, for metrics */
    int64_t id;             /* the path's {id} */
    char user[FR_STORE_NAME_MAX + 1];
    int64_t user_id;        /* 0 without a gallery */
    bool admin;
    bool body_route;        /* reads a body */
    bool responded;         /* a response is queued; later body bytes are dropped */
    bool too_large, nomem, timings, body_busy;
    /* A body follows the headers. Until the handler's first call is over
     * (hold), answers other than refusing the body itself are kept in
     * stash and queued after the body was read and dropped: an answer
     * queued earlier makes MHD close the connection with the body unread,
     * and the reset can reach the client before the answer. */
    bool body_follows, hold, past_first, suspended_in_call;
    bool refuse_now; /* this answer refuses to read the body: queued at once, then MHD closes */
    char *body;
    size_t len, cap;
    /* Image routes, while the handler runs: the parsed body and the results. */
    const struct fr__http_body *images;
    int32_t n_results;
    const struct fr__http_image *results;
};

/* The OpenAPI description as minified JSON (generated at build time from
 * docs/openapi.yaml by tests/contract/spec-to-c.js). */
extern const char fr__http_openapi_json[];
extern const size_t fr__http_openapi_json_len;

/* ---- reply.c: every answer goes through these --------------------------- */

/* Queues r (released here) with status: the tail every response shares.
 * On a worker, or while the body must be read first, the response is
 * stashed for the loop thread instead. While draining it asks the client
 * to close; it counts the status in by_status and by route. */
enum MHD_Result fr__http_queue(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                               unsigned status, struct MHD_Response *r);
/* Queue json (a cJSON-allocated string the response takes over; NULL:
 * building it ran out of memory, answered 500) with status, an optional
 * Allow header and an optional Retry-After (seconds, > 0). */
enum MHD_Result fr__http_respond(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                 unsigned status, char *json, const char *allow, int retry_after_s);
/* {"error":{"code","message"}} with status. */
enum MHD_Result fr__http_respond_error(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                       unsigned status, const char *code, const char *message);
/* 400 invalid_request with a printf-formatted message. */
enum MHD_Result fr__http_respond_invalid(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Prints and deletes doc (NULL: 500). */
enum MHD_Result fr__http_respond_doc(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     unsigned status, struct cJSON *doc);
/* Bytes of another type (copied). */
enum MHD_Result fr__http_respond_bytes(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                       unsigned status, const char *content_type, const void *data, size_t len);
/* An image's failure as an answer: 400 invalid_image or 500. */
enum MHD_Result fr__http_respond_image_error(struct fr_http *h, struct MHD_Connection *c,
                                             struct fr__http_request *rq, const struct fr__http_image *im);
/* A store or gallery failure, which is never the client's: 500 for OOM
 * and other errors, 503 unavailable for a busy or failing database. */
enum MHD_Result fr__http_respond_store_error(struct fr_http *h, struct MHD_Connection *c,
                                             struct fr__http_request *rq, enum fr_status st);
/* The HTTP status and error code of a scheduler failure (submit or
 * result): 504 timeout, 503 shutting_down, 429, 400, else 500 internal. */
unsigned fr__http_sched_error(enum fr_status st, const char **code);
/* Decoding and size failures of an image are the client's; the rest are ours. */
bool fr__http_image_error_is_client(enum fr_status st);
/* The statuses counted one by one in by_status (the last slot is "other"). */
extern const unsigned fr__http_counted_status[FR__HTTP_N_COUNTED];

/* ---- routes.c: the route table ----------------------------------------------- */

/* The route of method and url, or NULL. *name gets the first template
 * matching url whatever the method ("other" when none: a metrics label),
 * *id the path's {id} of the route found, and allow (allowlen bytes) the
 * methods that url has, as an Allow header ("" when the path is unknown:
 * 404, else 405). */
const struct fr__http_route *fr__http_route_find(const char *method, const char *url, int64_t *id, const char **name,
                                                 char *allow, size_t allowlen);
/* Query argument name as an integer in [lo, hi]; def when absent. Returns
 * false (after answering 400) when it is malformed. */
bool fr__http_query_int(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, const char *name,
                        int64_t def, int64_t lo, int64_t hi, int64_t *out, enum MHD_Result *ret);
/* Query argument name is present and "1", "true", "yes" or empty. */
bool fr__http_query_flag(struct MHD_Connection *c, const char *name);

/* ---- the handlers the route table names ------------------------------------ */

/* status.c */
enum MHD_Result fr__http_answer_status(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_answer_metrics(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
/* routes-detect.c: the stateless image routes. */
enum MHD_Result fr__http_detect(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_embed(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_verify(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
/* routes-gallery.c: people, faces, recognize, index and cluster. */
enum MHD_Result fr__http_people_add(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_people_list(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_get(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_patch(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_delete(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_merge(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_faces(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_enroll(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
/* The enroll route's precheck: 404 when {id} is not the user's person. */
bool fr__http_person_enroll_precheck(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     enum MHD_Result *ret);
enum MHD_Result fr__http_face_delete(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_face_patch(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_faces_unassigned(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_face_thumbnail(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_recognize(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_index(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_cluster(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
/* /status: the per-user part, for one user (user_id > 0) or all (admin). */
void fr__http_gallery_status(struct fr_http *h, struct cJSON *root, const struct fr__http_request *rq);
/* routes-jobs.c: queued jobs. */
enum MHD_Result fr__http_jobs_list(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_job_add(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_job_get(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_job_cancel(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);

/* ---- conn.c: connections, deadlines, limits and the worker pool ---------- */

/* Starts the bookkeeping (before the daemon) and the sweep thread and
 * workers (after it). */
enum fr_status fr__http_conn_init(struct fr_http *h, char *err, size_t errlen);
enum fr_status fr__http_conn_start(struct fr_http *h, char *err, size_t errlen);
/* Stops the sweep thread and the workers (the daemon is stopped). */
void fr__http_conn_stop(struct fr_http *h);
/* Raises RLIMIT_NOFILE's soft limit to the hard one and lowers
 * max_connections to what it allows. */
void fr__http_conn_limits(struct fr_http *h);
/* MHD callbacks. */
void fr__http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe);
void *fr__http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
/* Phase changes the access handler reports. */
void fr__http_conn_headers_done(struct fr__http_conn *cn, bool body);
void fr__http_conn_body(struct fr__http_conn *cn, size_t n);
void fr__http_conn_busy(struct fr__http_conn *cn);
void fr__http_conn_request_done(struct fr__http_conn *cn);
void fr__http_conn_set_sched(struct fr__http_conn *cn, uint64_t id);
/* True when the connection was refused at accept (it is answered already)
 * or its client has gone. */
bool fr__http_conn_refused(const struct fr__http_conn *cn);
bool fr__http_conn_gone(const struct fr__http_conn *cn);
/* Cancels every request waiting on the scheduler (shutdown). */
void fr__http_conn_cancel_all(struct fr_http *h);
void fr__http_conn_stats(struct fr_http *h, struct fr__http_conn_stats *st);
/* Binds and listens on "host:port", "[v6]:port", ":port" (all interfaces)
 * or "port" (loopback), and returns the socket (*port: the port bound,
 * *v6: an IPv6 socket); -2 for a malformed spec, -1 when it cannot listen,
 * with the reason in err. */
int fr__http_listen_open(const char *spec, uint16_t *port, bool *v6, char *err, size_t errlen);
/* Queues rq for a worker, which runs rq->work and then release(). */
void fr__http_work_push(struct fr_http *h, struct fr__http_request *rq);
/* server.c: one asynchronous step of rq ended; the last one resumes. */
void fr__http_release(struct fr__http_request *rq);

/* ---- web.c: the web app's files ------------------------------------------------ */

/* True when url is one of the app's files ("/" is its index page). */
bool fr__http_web_has(const char *url);
/* Answers GET/HEAD of an app file (200, or 304 for a matching
 * If-None-Match), 405 for other methods. */
enum MHD_Result fr__http_web_answer(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                    const char *url, const char *method);
