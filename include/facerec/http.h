/* facerec HTTP API: `facerec serve`'s front end over a scheduler.
 *
 * fr_http runs a libmicrohttpd daemon on epoll with a small pool of
 * event-loop threads (`threads`) that serve up to `max_connections`
 * connections. The loop reads the request, checks route and size, buffers
 * the body (at most max_body_bytes: beyond that it answers 413 and keeps
 * nothing; all bodies in flight at most max_body_memory: 503), parses it
 * into encoded images and submits them to the scheduler; the connection is
 * then suspended (no thread waits) until the scheduler's callback resumes
 * it with the result. Work that may block (the gallery's SQLite, large
 * bodies) runs on `workers` threads the same way. A sweep thread closes
 * connections whose headers do not arrive within header_timeout_ms, whose
 * body is slower than min_body_rate, and those idle past
 * connection_timeout_s; it also cancels the scheduler request of a client
 * that hung up. Connections over max_connections_per_ip (429) or over
 * max_connections with no idle keep-alive connection to close (503) are
 * answered with a JSON error at once and closed (see conn.c).
 *
 * Routes (docs in README.md, "HTTP API"):
 *     POST /v1/detect   faces: box, score, landmarks
 *     POST /v1/embed    the same plus each face's 128-d embedding
 *     POST /v1/verify   two images (or one and an embedding): same person?
 *     GET  /status      scheduler and server counters
 *     GET  /healthz     200 while the process runs
 *     GET  /readyz      200 once the models are loaded and warmed up
 *     GET  /metrics     Prometheus text format
 *     GET  /openapi.json  this API's OpenAPI 3.1 description (docs/openapi.yaml)
 *   with a gallery (params.gallery), per user (the key's owner):
 *     POST /v1/people {name}, GET /v1/people, GET|PATCH|DELETE /v1/people/{id},
 *     POST|GET /v1/people/{id}/faces, POST /v1/people/{id}/merge {from},
 *     DELETE /v1/faces/{id}, GET /v1/faces/{id}/thumbnail,
 *     POST /v1/recognize, POST /v1/index, POST /v1/cluster
 * Another user's person or face answers 404, like a missing one.
 * Every error is JSON: {"error":{"code":"...","message":"..."}}.
 *
 * Ownership: fr_http borrows the scheduler, which must outlive it. Request
 * memory (body, parsed images, result copy) belongs to the connection
 * thread; the scheduler's callback copies what it needs and never keeps a
 * pointer into the scheduler's result.
 * Thread-safety: fr_http_new, fr_http_quiesce and fr_http_free are called
 * from one controlling thread.
 *
 * Example (shutdown order matters: stop accepting, let the scheduler
 * finish, then free):
 *     struct fr_http_params hp = fr_http_default_params();
 *     hp.listen = "127.0.0.1:5001";
 *     struct fr_http *h;
 *     if (fr_http_new(&hp, sched, &h, err, sizeof err) != FR_OK) ...
 *     ... wait for SIGTERM ...
 *     fr_http_quiesce(h);
 *     fr_sched_drain(sched, 10000);
 *     fr_http_free(h);
 *     fr_sched_free(sched);
 */
#pragma once

#include "facerec/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fr_http_params {
    const char *listen;        /* "host:port", "[v6]:port" or "port" (127.0.0.1:5001); port 0 picks a free one */
    size_t max_body_bytes;     /* larger request bodies get 413 (64 MiB) */
    int32_t threads;           /* event-loop threads (4) */
    int32_t workers;           /* threads for blocking work: the gallery, large bodies (4) */
    int32_t max_connections;   /* open connections served (4096); lowered to fit RLIMIT_NOFILE */
    int32_t max_connections_per_ip; /* per client address (256); more are answered 429; 0 = no limit */
    int32_t header_timeout_ms; /* a request's headers must arrive within this (10000) */
    int32_t min_body_rate;     /* bytes/s a body must keep over each body_rate_window_ms (1024); 0 = off */
    int32_t body_rate_window_ms; /* (10000) */
    size_t max_body_memory;    /* request bodies buffered at once, all connections (512 MiB): beyond, 503 */
    const char *api_keys_file; /* lines "KEY USER"; NULL or "" = no keys, every API request is 401 */
    float tolerance;           /* verify: same person when distance <= tolerance (0.6) */
    int32_t connection_timeout_s; /* idle keep-alive connections are closed after this (60) */
    /* The people gallery (borrowed; it must outlive the server), or NULL.
     * With a gallery, API keys are checked against its store (the key
     * file's keys are imported into it at start) and the /v1/people,
     * /v1/faces, /v1/recognize, /v1/index and /v1/cluster routes work;
     * without one they answer 503. */
    struct fr_gallery *gallery;
};

struct fr_http;
struct fr_gallery;

FR_API struct fr_http_params fr_http_default_params(void);
/* Loads the key file, binds the listen address and starts the daemon.
 * Fails with FR_ERR_IO (address in use, cannot bind), FR_ERR_FORMAT (bad
 * key file) or FR_ERR_INVALID (bad listen address), with a message in err. */
FR_API enum fr_status fr_http_new(const struct fr_http_params *params, struct fr_sched *s, struct fr_http **out,
                                  char *err, size_t errlen);
/* Stops accepting connections and closes the listening socket (new
 * connections are refused); requests already accepted go on, and their
 * responses ask the client to close the connection. */
FR_API void fr_http_quiesce(struct fr_http *h);
/* Cancels requests still waiting on the scheduler (they get 503), waits
 * briefly for responses in transmission, stops the daemon and frees
 * everything. NULL is a no-op. */
FR_API void fr_http_free(struct fr_http *h);

/* The port actually bound (useful with port 0). */
FR_API uint16_t fr_http_port(const struct fr_http *h);

/* What the server could get: max_connections after the file-descriptor
 * limit, and RLIMIT_NOFILE (soft, after raising it to the hard limit). */
struct fr_http_limits {
    int32_t max_connections;
    int64_t nofile_soft, nofile_hard;
};
FR_API struct fr_http_limits fr_http_get_limits(const struct fr_http *h);

/* The route table, for documentation and tests (tests/contract/routes.js
 * checks it against docs/openapi.yaml and README.md through `facerec serve
 * --print-routes`): route i's method ("GET" also answers HEAD), its path
 * template ("{id}" is a positive integer) and whether it needs a key. */
enum fr_http_auth {
    FR_HTTP_AUTH_NONE,     /* no key read */
    FR_HTTP_AUTH_OPTIONAL, /* a key widens the answer (/status) */
    FR_HTTP_AUTH_KEY,      /* X-API-Key required: 401 without one */
};
FR_API int32_t fr_http_route_count(void);
FR_API void fr_http_route_at(int32_t i, const char **method, const char **path, enum fr_http_auth *auth);

#ifdef __cplusplus
}
#endif
