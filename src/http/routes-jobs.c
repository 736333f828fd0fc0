/* The job routes: GET /v1/jobs (the user's latest jobs), POST /v1/jobs (a
 * queued index job over files or directories every server can read), GET
 * /v1/jobs/{id} (progress, the failures with their reasons, per-node
 * counts and rates) and DELETE /v1/jobs/{id} (cancel). The work itself is done by the indexers of
 * every server on the same database (facerec/indexer.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "facerec/indexer.h"
#include <cjson/cJSON.h>

#include "http/server-impl.h"

#define PATHS_MAX 100000   /* paths one request may name */
#define FAILURES_SHOWN 100 /* failed items listed in a job's document */
#define LIST_LIMIT_MAX 1000 /* jobs one GET /v1/jobs lists at most */

static enum MHD_Result no_job(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    char msg[64];
    snprintf(msg, sizeof(msg), "no job %lld", (long long)rq->id);
    return fr__http_respond_error(h, c, rq, 404, "not_found", msg);
}

static const char *job_state(enum fr_store_job_state s) {
    return s == FR_STORE_JOB_DONE        ? "done"
           : s == FR_STORE_JOB_FAILED    ? "failed"
           : s == FR_STORE_JOB_CANCELLED ? "cancelled"
                                         : "running";
}

/* The job's row, as GET /v1/jobs lists it. */
static cJSON *job_json(const struct fr_store_job *j) {
    cJSON *x = cJSON_CreateObject();
    if (!x) return NULL;
    cJSON_AddNumberToObject(x, "id", (double)j->id);
    cJSON_AddStringToObject(x, "kind", j->kind);
    cJSON_AddStringToObject(x, "state", job_state(j->state));
    cJSON_AddNumberToObject(x, "total", (double)j->total);
    cJSON_AddNumberToObject(x, "done", (double)j->done);
    cJSON_AddNumberToObject(x, "failed", (double)j->failed);
    cJSON_AddStringToObject(x, "detail", j->detail);
    cJSON_AddNumberToObject(x, "created", (double)j->created);
    cJSON_AddNumberToObject(x, "updated", (double)j->updated);
    return x;
}

/* The job's document: the row, its failures and its nodes. */
static cJSON *job_doc(struct fr_store *st, int64_t user, const struct fr_store_job *j, enum fr_status *status) {
    cJSON *x = job_json(j);
    if (!x) return NULL;
    struct fr_store_job_failure *f = NULL;
    struct fr_store_job_node *nd = NULL;
    int32_t nf = 0, nn = 0;
    *status = fr_store_job_failures(st, user, j->id, FAILURES_SHOWN, &f, &nf);
    if (*status == FR_OK) *status = fr_store_job_nodes(st, user, j->id, &nd, &nn);
    cJSON *fa = cJSON_AddArrayToObject(x, "failures"), *na = cJSON_AddArrayToObject(x, "nodes");
    for (int32_t i = 0; fa && i < nf; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(fa, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddStringToObject(o, "path", f[i].path);
        cJSON_AddStringToObject(o, "error", f[i].error);
    }
    for (int32_t i = 0; na && i < nn; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(na, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddStringToObject(o, "node", nd[i].node);
        cJSON_AddNumberToObject(o, "done", (double)nd[i].done);
        cJSON_AddNumberToObject(o, "failed", (double)nd[i].failed);
        /* Images a second from its first claim to its last finish. */
        double secs = (double)(nd[i].last_ms - nd[i].first_ms) / 1000.0;
        double rate = secs > 0 ? (double)(nd[i].done + nd[i].failed) / secs : 0;
        cJSON_AddItemToObject(o, "images_per_second", fr__http_json_number(round(rate * 1000) / 1000));
    }
    fr_free(f);
    fr_free(nd);
    return x;
}

static enum MHD_Result answer_job(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                  int64_t id, unsigned code) {
    struct fr_store *st = fr_gallery_store(h->gallery);
    struct fr_store_job j;
    enum fr_status s = fr_store_job_get(st, rq->user_id, id, &j);
    if (s == FR_ERR_NOT_FOUND) return no_job(h, c, rq);
    if (s != FR_OK) return fr__http_respond_store_error(h, c, rq, s);
    cJSON *doc = job_doc(st, rq->user_id, &j, &s);
    if (s != FR_OK) {
        cJSON_Delete(doc);
        return fr__http_respond_store_error(h, c, rq, s);
    }
    return fr__http_respond_doc(h, c, rq, code, doc);
}

enum MHD_Result fr__http_job_add(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    const char *end = NULL;
    cJSON *o = rq->len ? cJSON_ParseWithLengthOpts(rq->body, rq->len, &end, false) : NULL;
    enum MHD_Result ret;
    const char *why = NULL;
    cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind"), *paths = cJSON_GetObjectItemCaseSensitive(o, "paths");
    if (!o || !cJSON_IsObject(o)) why = "the body must be a JSON object {\"kind\":\"index\",\"paths\":[...]}";
    else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "index"))
        why = "\"kind\" must be \"index\" (the one kind of queued job)";
    else if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) < 1 || cJSON_GetArraySize(paths) > PATHS_MAX)
        why = "\"paths\" must be an array of 1 to 100000 absolute paths";
    for (cJSON *k = o && !why ? o->child : NULL; k; k = k->next)
        if (!k->string || (strcmp(k->string, "kind") && strcmp(k->string, "paths"))) why = "unknown key in the body";
    for (cJSON *p = !why ? paths->child : NULL; p; p = p->next)
        if (!cJSON_IsString(p) || !p->valuestring[0]) why = "\"paths\" must hold non-empty strings";
    if (why) {
        cJSON_Delete(o);
        return fr__http_respond_error(h, c, rq, 400, "invalid_request", why);
    }
    int32_t np = cJSON_GetArraySize(paths), i = 0;
    const char **pv = fr_calloc((size_t)np, sizeof(*pv));
    if (!pv) {
        cJSON_Delete(o);
        return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    }
    for (cJSON *p = paths->child; p; p = p->next) pv[i++] = p->valuestring;
    char **files = NULL, err[512] = "";
    int32_t nfiles = 0;
    enum fr_status s = fr_indexer_collect(pv, np, &files, &nfiles, err, sizeof(err));
    int64_t job = 0;
    if (s == FR_OK) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s%s", pv[0], np > 1 ? " ..." : "");
        s = fr_store_queue_add(fr_gallery_store(h->gallery), rq->user_id, detail, (const char *const *)files, nfiles,
                               &job);
        if (s != FR_OK) fr_store_last_error(err, sizeof(err));
    }
    for (int32_t k = 0; k < nfiles; k++) fr_free(files[k]);
    fr_free(files);
    fr_free(pv);
    cJSON_Delete(o);
    if (s == FR_ERR_INVALID || s == FR_ERR_NOT_FOUND)
        ret = fr__http_respond_error(h, c, rq, 400, "invalid_request", err);
    else if (s != FR_OK) ret = fr__http_respond_store_error(h, c, rq, s);
    else ret = answer_job(h, c, rq, job, 201);
    return ret;
}

enum MHD_Result fr__http_job_get(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    return answer_job(h, c, rq, rq->id, 200);
}

enum MHD_Result fr__http_job_cancel(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum fr_status s = fr_store_job_cancel(fr_gallery_store(h->gallery), rq->user_id, rq->id);
    if (s == FR_ERR_NOT_FOUND) return no_job(h, c, rq);
    if (s != FR_OK) return fr__http_respond_store_error(h, c, rq, s);
    return answer_job(h, c, rq, rq->id, 200);
}

enum MHD_Result fr__http_jobs_list(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    int64_t limit;
    if (!fr__http_query_int(h, c, rq, "limit", 20, 1, LIST_LIMIT_MAX, &limit, &ret)) return ret;
    struct fr_store_job *j = NULL;
    int32_t n = 0;
    enum fr_status st = fr_store_job_list(fr_gallery_store(h->gallery), rq->user_id, (int32_t)limit, &j, &n);
    if (st != FR_OK) return fr__http_respond_store_error(h, c, rq, st);
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "jobs");
    for (int32_t i = 0; arr && i < n; i++) {
        cJSON *x = job_json(&j[i]);
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            arr = NULL;
        }
    }
    fr_free(j);
    if (!arr) {
        cJSON_Delete(root);
        root = NULL;
    }
    return fr__http_respond_doc(h, c, rq, 200, root);
}
