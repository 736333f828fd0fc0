/* The route table: one row per method and path, naming what the server
 * checks before the handler runs (key, gallery, body) and the handler.
 * server.c reaches the handlers only through this table, so the files of
 * the routes (routes-detect.c, routes-gallery.c, routes-jobs.c, status.c)
 * depend on the reply helpers (reply.c) and never on server.c. The small
 * routes that need no file of their own (health, readiness, the OpenAPI
 * description) are answered here, and so are the query arguments that
 * several routes read. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server-impl.h"

static enum MHD_Result answer_simple(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     const char *status) {
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "status", status);
    return fr__http_respond_doc(h, c, rq, 200, o);
}

static enum MHD_Result answer_healthz(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    return answer_simple(h, c, rq, "ok");
}

static enum MHD_Result answer_readyz(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    if (atomic_load(&h->quiesced))
        return fr__http_respond_error(h, c, rq, 503, "shutting_down", "the server is draining");
    if (!fr_sched_ready(h->s)) return fr__http_respond_error(h, c, rq, 503, "not_ready", "models are still loading");
    return answer_simple(h, c, rq, "ready");
}

/* GET /openapi.json: the API's OpenAPI description, docs/openapi.yaml
 * converted to JSON at build time and compiled in, so that it is served
 * offline and always describes the binary that serves it. */
static enum MHD_Result answer_openapi(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    return fr__http_respond_bytes(h, c, rq, 200, "application/json", fr__http_openapi_json, fr__http_openapi_json_len);
}

/* The path is also the route's name (metrics label requests by it, never
 * by the raw URL). Every row names every field, so that a row reads on
 * its own. */
static const struct fr__http_route routes[] = {
    { .method = "GET", .path = "/healthz",
      .auth = FR_HTTP_AUTH_NONE, .gallery = false, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = answer_healthz },
    { .method = "GET", .path = "/readyz",
      .auth = FR_HTTP_AUTH_NONE, .gallery = false, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = answer_readyz },
    /* A key is optional on /status: it widens what is shown. */
    { .method = "GET", .path = "/status",
      .auth = FR_HTTP_AUTH_OPTIONAL, .gallery = false, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_answer_status },
    { .method = "GET", .path = "/metrics",
      .auth = FR_HTTP_AUTH_NONE, .gallery = false, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_answer_metrics },
    { .method = "GET", .path = "/openapi.json",
      .auth = FR_HTTP_AUTH_NONE, .gallery = false, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = answer_openapi },
    { .method = "POST", .path = "/v1/detect",
      .auth = FR_HTTP_AUTH_KEY, .gallery = false, .input = FR__HTTP_IN_IMAGES, .embeddings = false,
      .precheck = NULL, .handler = fr__http_detect },
    { .method = "POST", .path = "/v1/embed",
      .auth = FR_HTTP_AUTH_KEY, .gallery = false, .input = FR__HTTP_IN_IMAGES, .embeddings = true,
      .precheck = NULL, .handler = fr__http_embed },
    { .method = "POST", .path = "/v1/verify",
      .auth = FR_HTTP_AUTH_KEY, .gallery = false, .input = FR__HTTP_IN_PAIR, .embeddings = true,
      .precheck = NULL, .handler = fr__http_verify },
    { .method = "POST", .path = "/v1/people",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_JSON, .embeddings = false,
      .precheck = NULL, .handler = fr__http_people_add },
    { .method = "GET", .path = "/v1/people",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_people_list },
    { .method = "GET", .path = "/v1/people/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_person_get },
    { .method = "PATCH", .path = "/v1/people/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_JSON, .embeddings = false,
      .precheck = NULL, .handler = fr__http_person_patch },
    { .method = "DELETE", .path = "/v1/people/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_person_delete },
    { .method = "POST", .path = "/v1/people/{id}/faces",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_ONE_IMAGE, .embeddings = true,
      .precheck = fr__http_person_enroll_precheck, .handler = fr__http_person_enroll },
    { .method = "GET", .path = "/v1/people/{id}/faces",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_person_faces },
    { .method = "POST", .path = "/v1/people/{id}/merge",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_JSON, .embeddings = false,
      .precheck = NULL, .handler = fr__http_person_merge },
    { .method = "DELETE", .path = "/v1/faces/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_face_delete },
    { .method = "GET", .path = "/v1/faces/{id}/thumbnail",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_face_thumbnail },
    { .method = "PATCH", .path = "/v1/faces/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_JSON, .embeddings = false,
      .precheck = NULL, .handler = fr__http_face_patch },
    { .method = "GET", .path = "/v1/faces/unassigned",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_faces_unassigned },
    { .method = "POST", .path = "/v1/recognize",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_ONE_IMAGE, .embeddings = true,
      .precheck = NULL, .handler = fr__http_recognize },
    { .method = "POST", .path = "/v1/index",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_ONE_IMAGE, .embeddings = true,
      .precheck = NULL, .handler = fr__http_index },
    { .method = "POST", .path = "/v1/cluster",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_JSON, .embeddings = false,
      .precheck = NULL, .handler = fr__http_cluster },
    { .method = "GET", .path = "/v1/jobs",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_jobs_list },
    { .method = "POST", .path = "/v1/jobs",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_JSON, .embeddings = false,
      .precheck = NULL, .handler = fr__http_job_add },
    { .method = "GET", .path = "/v1/jobs/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_job_get },
    { .method = "DELETE", .path = "/v1/jobs/{id}",
      .auth = FR_HTTP_AUTH_KEY, .gallery = true, .input = FR__HTTP_IN_NONE, .embeddings = false,
      .precheck = NULL, .handler = fr__http_job_cancel },
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

int32_t fr_http_route_count(void) { return (int32_t)N_ROUTES; }

void fr_http_route_at(int32_t i, const char **method, const char **path, enum fr_http_auth *auth) {
    FR_ASSERT(i >= 0 && (size_t)i < N_ROUTES);
    *method = routes[i].method;
    *path = routes[i].path;
    *auth = routes[i].auth;
}

/* url against a template; *id gets the "{id}" segment, a positive integer
 * of at most 18 digits (so that it fits int64_t without overflow checks). */
static bool path_match(const char *tpl, const char *url, int64_t *id) {
    while (*tpl) {
        if (!strncmp(tpl, "{id}", 4)) {
            int64_t v = 0;
            int digits = 0;
            while (*url >= '0' && *url <= '9' && digits < 18) v = v * 10 + (*url++ - '0'), digits++;
            if (digits == 0 || (*url >= '0' && *url <= '9') || v <= 0) return false;
            *id = v;
            tpl += 4;
            continue;
        }
        if (*tpl++ != *url++) return false;
    }
    return *url == 0;
}

static bool method_is(const char *method, const char *want) {
    if (!strcmp(method, want)) return true;
    return !strcmp(want, "GET") && !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

const struct fr__http_route *fr__http_route_find(const char *method, const char *url, int64_t *id, const char **name,
                                                 char *allow, size_t allowlen) {
    const struct fr__http_route *r = NULL;
    *name = "other";
    allow[0] = 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        int64_t v = 0;
        if (!path_match(routes[i].path, url, &v)) continue;
        if (!strcmp(*name, "other")) *name = routes[i].path;
        size_t l = strlen(allow);
        snprintf(allow + l, allowlen - l, "%s%s%s", l ? ", " : "", routes[i].method,
                 !strcmp(routes[i].method, "GET") ? ", HEAD" : "");
        if (method_is(method, routes[i].method)) {
            r = &routes[i];
            *id = v;
        }
    }
    return r;
}

bool fr__http_query_int(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, const char *name,
                        int64_t def, int64_t lo, int64_t hi, int64_t *out, enum MHD_Result *ret) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *out = def;
    if (!v) return true;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || !*v || *end || x < lo || x > hi) {
        *ret = fr__http_respond_invalid(h, c, rq, "query argument %s: expected an integer in [%" PRId64 ", %" PRId64
                                        "]", name, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool fr__http_query_flag(struct MHD_Connection *c, const char *name) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !*v);
}
