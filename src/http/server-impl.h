/* Internals the files of the HTTP server share: the server object, the
 * per-request state, the route table and the response helpers (server.c),
 * and the gallery routes' handlers (gallery.c). */
#pragma once

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "facerec/gallery.h"
#include "http/http-impl.h"

/* The status codes /status counts one by one; anything else is "other". */
#define FR__HTTP_N_COUNTED 13

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
    FR__HTTP_IN_ONE_IMAGE,  /* gallery routes: exactly one image */
};

struct fr__http_route {
    const char *method;    /* "GET" (HEAD too), "POST", "PATCH", "DELETE" */
    const char *path;      /* template; "{id}" matches a positive integer. Also the route's name in metrics */
    bool key;              /* needs an API key (every /v1 route) */
    bool gallery;          /* needs the gallery (a data directory) */
    enum fr__http_input input;
    bool embeddings;       /* image routes: run the recognition net */
    fr__http_handler handler;
};

/* Per request, from the first handler call to MHD's completion notice. */
struct fr__http_request {
    const struct fr__http_route *route;
    const char *route_name; /* route->path, or "other": a label with few values, for metrics */
    int64_t id;             /* the path's {id} */
    char user[FR_STORE_NAME_MAX + 1];
    int64_t user_id;        /* 0 without a gallery */
    bool admin;
    bool body_route;        /* reads a body */
    bool responded;         /* a response is queued; later body bytes are dropped */
    bool too_large, nomem, timings;
    char *body;
    size_t len, cap;
    /* Image routes, while the handler runs: the parsed body and the results. */
    const struct fr__http_body *images;
    int32_t n_results;
    const struct fr__http_image *results;
};

/* Queue json (a cJSON-allocated string the response takes over; NULL:
 * building it ran out of memory, answered 500) with status. */
enum MHD_Result fr__http_respond(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                 unsigned status, char *json, const char *allow, int retry_after_s);
enum MHD_Result fr__http_respond_error(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                       unsigned status, const char *code, const char *message);
/* Prints and deletes doc (NULL: 500). */
enum MHD_Result fr__http_respond_doc(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     unsigned status, struct cJSON *doc);
/* Bytes of another type (copied). */
enum MHD_Result fr__http_respond_bytes(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                       unsigned status, const char *content_type, const void *data, size_t len);
/* An image's failure as an answer: 400 invalid_image or 500. */
enum MHD_Result fr__http_respond_image_error(struct fr_http *h, struct MHD_Connection *c,
                                             struct fr__http_request *rq, const struct fr__http_image *im);

/* ---- gallery.c ---------------------------------------------------------------- */

enum MHD_Result fr__http_people_add(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_people_list(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_get(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_patch(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_delete(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_merge(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_faces(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_person_enroll(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_face_delete(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_face_thumbnail(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_recognize(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_index(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_cluster(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_jobs_list(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
/* Queued jobs (jobs.c). */
enum MHD_Result fr__http_job_add(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_job_get(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
enum MHD_Result fr__http_job_cancel(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq);
const char *fr__http_job_state(enum fr_store_job_state s);
/* Before the scheduler runs: 404 when the route's {id} is not the user's
 * person (enrolling into nobody would waste the compute). Returns true
 * when it answered. */
bool fr__http_gallery_precheck(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                               enum MHD_Result *ret);
/* /status: the per-user part, for one user (user_id > 0) or all (admin). */
void fr__http_gallery_status(struct fr_http *h, struct cJSON *root, const struct fr__http_request *rq);
