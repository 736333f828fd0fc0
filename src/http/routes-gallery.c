/* The gallery routes: people, faces, recognize, index and cluster, for
 * the user who owns the request's API key (the job routes are in
 * routes-jobs.c).
 *
 * Every id in a path or a body is looked up with the user's id, so another
 * user's person or face is "not found" exactly like a missing one: the
 * store never returns rows of a different user. Image routes arrive here
 * after the scheduler ran, and only when their one image was read (server.c
 * answers a failed one): the faces with their descriptors are in
 * rq->results and the encoded image in rq->images. A 200/201 is queued
 * only after the store committed the write. Every handler runs on a
 * worker (the store may block) and answers through reply.c. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server-impl.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define THUMB_DECODE_SIZE 1024 /* the second decode, for thumbnails, need not be full size */

/* ---- helpers ----------------------------------------------------------------- */

/* What the store says of a name it refuses. */
static const char bad_name[] = "\"name\" must be valid UTF-8 without control characters";

static enum MHD_Result not_found(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                 const char *what, int64_t id) {
    char msg[96];
    snprintf(msg, sizeof(msg), "no %s %" PRId64, what, id);
    return fr__http_respond_error(h, c, rq, 404, "not_found", msg);
}

static cJSON *number(double v) { return fr__http_json_number(v); }

/* The JSON body: an object whose keys are all in allowed (NULL-terminated).
 * An empty body is an empty object. Returns NULL after answering 400. */
static cJSON *json_body(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                        const char *const *allowed, enum MHD_Result *ret) {
    size_t n = rq->len;
    while (n && (rq->body[n - 1] == ' ' || rq->body[n - 1] == '\n' || rq->body[n - 1] == '\r' || rq->body[n - 1] == '\t'))
        n--;
    if (n == 0) {
        cJSON *o = cJSON_CreateObject();
        if (!o) *ret = fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
        return o;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(rq->body, rq->len, &end, false);
    /* Anything but blanks after the document is malformed too. */
    if (o && end && end >= rq->body && (size_t)(end - rq->body) < n) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (!o) {
        size_t at = end && end >= rq->body ? (size_t)(end - rq->body) : 0;
        char msg[96];
        snprintf(msg, sizeof(msg), "malformed JSON near byte %zu", at);
        *ret = fr__http_respond_error(h, c, rq, 400, "invalid_json", msg);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        *ret = fr__http_respond_invalid(h, c, rq, "the body must be a JSON object");
        return NULL;
    }
    for (cJSON *k = o->child; k; k = k->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = k->string && !strcmp(k->string, *a);
        if (!ok) {
            *ret = fr__http_respond_invalid(h, c, rq, "unknown key \"%.64s\"", k->string ? k->string : "");
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* A "name" string member: present (when required), a string, 1 to
 * FR_STORE_NAME_MAX bytes. Returns NULL after answering 400. */
static const char *json_name(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, cJSON *o,
                             enum MHD_Result *ret) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!v) *ret = fr__http_respond_invalid(h, c, rq, "missing key \"name\"");
    else if (!cJSON_IsString(v) || !v->valuestring)
        *ret = fr__http_respond_invalid(h, c, rq, "\"name\" must be a string");
    else if (!v->valuestring[0]) *ret = fr__http_respond_invalid(h, c, rq, "\"name\" must not be empty");
    else if (strlen(v->valuestring) > FR_STORE_NAME_MAX)
        *ret = fr__http_respond_invalid(h, c, rq, "\"name\" is longer than %d bytes", FR_STORE_NAME_MAX);
    else return v->valuestring;
    return NULL;
}

/* An integer member in [lo, hi]; *present false when absent. */
static bool json_int(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, cJSON *o,
                     const char *key, int64_t lo, int64_t hi, int64_t *out, bool *present, enum MHD_Result *ret) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *present = v != NULL;
    if (!v) return true;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) {
        *ret = fr__http_respond_invalid(h, c, rq, "\"%s\" must be an integer in [%" PRId64 ", %" PRId64 "]", key,
                                        lo, hi);
        return false;
    }
    *out = (int64_t)d;
    return true;
}

/* A required id member: an integer in [1, INT64_MAX / 2], or null where
 * null_ok (then *out is 0). Returns false after answering 400. */
static bool json_id(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, cJSON *o,
                    const char *key, bool null_ok, int64_t *out, enum MHD_Result *ret) {
    bool present;
    *out = 0;
    if (null_ok && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key))) return true;
    if (!json_int(h, c, rq, o, key, 1, INT64_MAX / 2, out, &present, ret)) return false;
    if (present) return true;
    *ret = fr__http_respond_invalid(h, c, rq, "missing key \"%s\"%s", key,
                                    null_ok ? " (an id, or null to unassign)" : "");
    return false;
}

/* A list's page: ?after=ID (the last id of the previous page) and ?limit=N. */
static bool page_args(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq, int64_t *after,
                      int64_t *limit, enum MHD_Result *ret) {
    return fr__http_query_int(h, c, rq, "after", 0, 0, INT64_MAX, after, ret) &&
           fr__http_query_int(h, c, rq, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX, limit, ret);
}

static cJSON *person_json(const void *row) {
    const struct fr_store_person *p = row;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "id", (double)p->id);
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddNumberToObject(o, "faces", (double)p->n_faces);
    cJSON_AddNumberToObject(o, "created", (double)p->created);
    cJSON_AddNumberToObject(o, "updated", (double)p->updated);
    return o;
}

static cJSON *face_json(const void *row) {
    const struct fr_store_face *f = row;
    cJSON *o = cJSON_CreateObject(), *box = cJSON_CreateArray();
    if (!o || !box || !cJSON_AddItemToObject(o, "box", box)) {
        cJSON_Delete(o);
        cJSON_Delete(box);
        return NULL;
    }
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(box, number(f->box[i]));
    cJSON_AddNumberToObject(o, "id", (double)f->id);
    if (f->person) cJSON_AddNumberToObject(o, "person", (double)f->person);
    else cJSON_AddNullToObject(o, "person");
    if (f->image) cJSON_AddNumberToObject(o, "image", (double)f->image);
    else cJSON_AddNullToObject(o, "image");
    cJSON_AddItemToObject(o, "score", number(f->score));
    cJSON_AddNumberToObject(o, "created", (double)f->created);
    char url[64];
    snprintf(url, sizeof(url), "/v1/faces/%" PRId64 "/thumbnail", f->id);
    cJSON_AddStringToObject(o, "thumbnail", url);
    return o;
}

static enum MHD_Result answer_person(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     unsigned status, int64_t id) {
    struct fr_store_person p;
    enum fr_status st = fr_store_person_get(fr_gallery_store(h->gallery), rq->user_id, id, &p);
    if (st == FR_ERR_NOT_FOUND) return not_found(h, c, rq, "person", id);
    if (st != FR_OK) return fr__http_respond_store_error(h, c, rq, st);
    return fr__http_respond_doc(h, c, rq, status, person_json(&p));
}

/* {"id", "deleted": true} of the path's row, with "faces_deleted" for a
 * person (faces_deleted >= 0). */
static enum MHD_Result answer_deleted(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                      int64_t faces_deleted) {
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "id", (double)rq->id);
        cJSON_AddBoolToObject(o, "deleted", true);
        if (faces_deleted >= 0) cJSON_AddNumberToObject(o, "faces_deleted", (double)faces_deleted);
    }
    return fr__http_respond_doc(h, c, rq, 200, o);
}

/* ---- people --------------------------------------------------------------------- */

enum MHD_Result fr__http_people_add(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    cJSON *o = json_body(h, c, rq, (const char *const[]){ "name", NULL }, &ret);
    if (!o) return ret;
    const char *name = json_name(h, c, rq, o, &ret);
    if (name) {
        int64_t id;
        enum fr_status st = fr_gallery_person_add(h->gallery, rq->user_id, name, &id);
        if (st == FR_ERR_INVALID) ret = fr__http_respond_invalid(h, c, rq, "%s", bad_name);
        else if (st != FR_OK) ret = fr__http_respond_store_error(h, c, rq, st);
        else ret = answer_person(h, c, rq, 201, id);
    }
    cJSON_Delete(o);
    return ret;
}

/* Adds one page of a list to root: "<key>": the n rows (elem bytes each)
 * through to_json, and "next_after": last_id when the page is full (there
 * may be more), else null. On OOM root is freed and NULL returned, which
 * the responder turns into a 500. */
static cJSON *add_page(cJSON *root, const char *key, const void *rows, int32_t n, size_t elem,
                       cJSON *(*to_json)(const void *row), int64_t limit, int64_t last_id) {
    cJSON *arr = root ? cJSON_AddArrayToObject(root, key) : NULL;
    for (int32_t i = 0; arr && i < n; i++) {
        cJSON *x = to_json((const char *)rows + elem * (size_t)i);
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            arr = NULL;
        }
    }
    if (!arr) {
        cJSON_Delete(root);
        return NULL;
    }
    if (n == limit) cJSON_AddNumberToObject(root, "next_after", (double)last_id);
    else cJSON_AddNullToObject(root, "next_after");
    return root;
}

enum MHD_Result fr__http_people_list(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    int64_t after, limit;
    if (!page_args(h, c, rq, &after, &limit, &ret)) return ret;
    struct fr_store_person *p = NULL;
    int32_t n = 0;
    enum fr_status st = fr_store_person_list(fr_gallery_store(h->gallery), rq->user_id, after, (int32_t)limit, &p, &n);
    if (st != FR_OK) return fr__http_respond_store_error(h, c, rq, st);
    int64_t last = n ? p[n - 1].id : 0;
    cJSON *root = add_page(cJSON_CreateObject(), "people", p, n, sizeof(*p), person_json, limit, last);
    fr_free(p);
    return fr__http_respond_doc(h, c, rq, 200, root);
}

enum MHD_Result fr__http_person_get(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    return answer_person(h, c, rq, 200, rq->id);
}

enum MHD_Result fr__http_person_patch(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    cJSON *o = json_body(h, c, rq, (const char *const[]){ "name", NULL }, &ret);
    if (!o) return ret;
    const char *name = json_name(h, c, rq, o, &ret);
    if (name) {
        enum fr_status st = fr_gallery_person_rename(h->gallery, rq->user_id, rq->id, name);
        if (st == FR_ERR_NOT_FOUND) ret = not_found(h, c, rq, "person", rq->id);
        else if (st == FR_ERR_INVALID) ret = fr__http_respond_invalid(h, c, rq, "%s", bad_name);
        else if (st != FR_OK) ret = fr__http_respond_store_error(h, c, rq, st);
        else ret = answer_person(h, c, rq, 200, rq->id);
    }
    cJSON_Delete(o);
    return ret;
}

enum MHD_Result fr__http_person_delete(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    int64_t n = 0;
    enum fr_status st = fr_gallery_person_delete(h->gallery, rq->user_id, rq->id, &n);
    if (st == FR_ERR_NOT_FOUND) return not_found(h, c, rq, "person", rq->id);
    if (st != FR_OK) return fr__http_respond_store_error(h, c, rq, st);
    return answer_deleted(h, c, rq, n);
}

enum MHD_Result fr__http_person_merge(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    cJSON *o = json_body(h, c, rq, (const char *const[]){ "from", NULL }, &ret);
    if (!o) return ret;
    int64_t from = 0;
    if (json_id(h, c, rq, o, "from", false, &from, &ret)) {
        if (from == rq->id) ret = fr__http_respond_invalid(h, c, rq, "\"from\" must be another person");
        else {
            struct fr_store_person p;
            enum fr_status st = fr_store_person_get(fr_gallery_store(h->gallery), rq->user_id, from, &p);
            if (st == FR_OK) st = fr_gallery_person_merge(h->gallery, rq->user_id, rq->id, from);
            if (st == FR_ERR_NOT_FOUND) {
                /* Which one is missing: the path's person first. */
                int64_t which = fr_store_person_get(fr_gallery_store(h->gallery), rq->user_id, rq->id, &p) == FR_OK
                                    ? from
                                    : rq->id;
                ret = not_found(h, c, rq, "person", which);
            } else if (st != FR_OK) {
                ret = fr__http_respond_store_error(h, c, rq, st);
            } else {
                ret = answer_person(h, c, rq, 200, rq->id);
            }
        }
    }
    cJSON_Delete(o);
    return ret;
}

enum MHD_Result fr__http_person_faces(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    int64_t after, limit;
    if (!page_args(h, c, rq, &after, &limit, &ret)) return ret;
    struct fr_store *st = fr_gallery_store(h->gallery);
    struct fr_store_person p;
    enum fr_status s = fr_store_person_get(st, rq->user_id, rq->id, &p);
    if (s == FR_ERR_NOT_FOUND) return not_found(h, c, rq, "person", rq->id);
    if (s != FR_OK) return fr__http_respond_store_error(h, c, rq, s);
    struct fr_store_face *f = NULL;
    int32_t n = 0;
    if ((s = fr_store_face_list(st, rq->user_id, rq->id, after, (int32_t)limit, &f, &n)) != FR_OK)
        return fr__http_respond_store_error(h, c, rq, s);
    cJSON *root = cJSON_CreateObject();
    if (root) cJSON_AddNumberToObject(root, "person", (double)rq->id);
    root = add_page(root, "faces", f, n, sizeof(*f), face_json, limit, n ? f[n - 1].id : 0);
    fr_free(f);
    return fr__http_respond_doc(h, c, rq, 200, root);
}

/* GET /v1/faces/unassigned: the faces indexed but not yet in a person. */
enum MHD_Result fr__http_faces_unassigned(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    int64_t after, limit;
    if (!page_args(h, c, rq, &after, &limit, &ret)) return ret;
    struct fr_store_face *f = NULL;
    int32_t n = 0;
    enum fr_status s = fr_store_face_list(fr_gallery_store(h->gallery), rq->user_id, 0, after, (int32_t)limit, &f, &n);
    if (s != FR_OK) return fr__http_respond_store_error(h, c, rq, s);
    cJSON *root = add_page(cJSON_CreateObject(), "faces", f, n, sizeof(*f), face_json, limit, n ? f[n - 1].id : 0);
    fr_free(f);
    return fr__http_respond_doc(h, c, rq, 200, root);
}

/* PATCH /v1/faces/{id} {"person": ID or null}: move one face to another
 * person of the user, or back among the unassigned. */
enum MHD_Result fr__http_face_patch(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    cJSON *o = json_body(h, c, rq, (const char *const[]){ "person", NULL }, &ret);
    if (!o) return ret;
    int64_t person = 0;
    if (!json_id(h, c, rq, o, "person", true, &person, &ret)) goto out;
    struct fr_store *st = fr_gallery_store(h->gallery);
    struct fr_store_person p;
    enum fr_status s = person > 0 ? fr_store_person_get(st, rq->user_id, person, &p) : FR_OK;
    if (s == FR_ERR_NOT_FOUND) {
        ret = not_found(h, c, rq, "person", person);
        goto out;
    }
    if (s == FR_OK) s = fr_gallery_face_assign(h->gallery, rq->user_id, rq->id, person);
    struct fr_store_face f;
    if (s == FR_OK) s = fr_store_face_get(st, rq->user_id, rq->id, &f);
    if (s == FR_ERR_NOT_FOUND) ret = not_found(h, c, rq, "face", rq->id);
    else if (s != FR_OK) ret = fr__http_respond_store_error(h, c, rq, s);
    else ret = fr__http_respond_doc(h, c, rq, 200, face_json(&f));
out:
    cJSON_Delete(o);
    return ret;
}

enum MHD_Result fr__http_face_delete(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum fr_status st = fr_gallery_face_delete(h->gallery, rq->user_id, rq->id);
    if (st == FR_ERR_NOT_FOUND) return not_found(h, c, rq, "face", rq->id);
    if (st != FR_OK) return fr__http_respond_store_error(h, c, rq, st);
    return answer_deleted(h, c, rq, -1);
}

enum MHD_Result fr__http_face_thumbnail(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    void *jpeg = NULL;
    size_t len = 0;
    enum fr_status st = fr_store_face_thumbnail(fr_gallery_store(h->gallery), rq->user_id, rq->id, &jpeg, &len);
    if (st == FR_ERR_NOT_FOUND) return not_found(h, c, rq, "face (or thumbnail)", rq->id);
    if (st != FR_OK) return fr__http_respond_store_error(h, c, rq, st);
    enum MHD_Result ret = fr__http_respond_bytes(h, c, rq, 200, "image/jpeg", jpeg, len);
    fr_free(jpeg);
    return ret;
}

/* ---- image routes ----------------------------------------------------------------- */

bool fr__http_person_enroll_precheck(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                     enum MHD_Result *ret) {
    struct fr_store_person p;
    enum fr_status st = fr_store_person_get(fr_gallery_store(h->gallery), rq->user_id, rq->id, &p);
    if (st == FR_OK) return false;
    *ret = st == FR_ERR_NOT_FOUND ? not_found(h, c, rq, "person", rq->id) : fr__http_respond_store_error(h, c, rq, st);
    return true;
}

/* The one image's faces that will be written: all with a descriptor, or
 * the largest. Thumbnails come from a second, smaller decode of the same
 * bytes on this thread (the scheduler's decode is gone by now); a face
 * whose thumbnail fails is stored without one. */
struct picked {
    int32_t n;
    struct fr_store_new_face *nf;
    void **thumbs;
    struct fr_store_image img;
};

static void picked_clear(struct picked *p) {
    for (int32_t i = 0; i < p->n; i++) fr_free(p->thumbs ? p->thumbs[i] : NULL);
    fr_free(p->thumbs);
    fr_free(p->nf);
    memset(p, 0, sizeof(*p));
}

static enum fr_status pick_faces(struct MHD_Connection *c, const struct fr__http_request *rq, bool all,
                                 struct picked *p) {
    memset(p, 0, sizeof(*p));
    const struct fr_faces *fs = &rq->results[0].faces;
    const struct fr_sched_image *enc = &rq->images->images[0];
    int32_t largest = fr_faces_largest(fs);
    int32_t want = 0;
    for (int32_t i = 0; i < fs->count; i++) want += all ? fs->faces[i].has_descriptor : i == largest;
    fr_store_sha256(enc->data, enc->len, p->img.sha256);
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    snprintf(p->img.name, sizeof(p->img.name), "%s", name ? name : "");
    p->img.bytes = (int64_t)enc->len;
    p->img.width = fs->width;
    p->img.height = fs->height;
    if (want == 0) return FR_OK;
    p->nf = fr_calloc((size_t)want, sizeof(*p->nf));
    p->thumbs = fr_calloc((size_t)want, sizeof(*p->thumbs));
    if (!p->nf || !p->thumbs) return FR_ERR_NOMEM;
    struct fr_decode_params dp = fr_decode_default_params();
    dp.max_image_size = THUMB_DECODE_SIZE;
    struct fr_image *img = NULL;
    char err[256];
    if (fr_image_decode(enc->data, enc->len, &dp, &img, err, sizeof(err)) != FR_OK) img = NULL;
    for (int32_t i = 0; i < fs->count; i++) {
        const struct fr_face *f = &fs->faces[i];
        if (all ? !f->has_descriptor : i != largest) continue;
        struct fr_store_new_face *nf = &p->nf[p->n];
        nf->face = f;
        if (img && fr_gallery_thumbnail(img, fs->width, fs->height, f->box, &p->thumbs[p->n], &nf->thumbnail_len) ==
                       FR_OK)
            nf->thumbnail = p->thumbs[p->n];
        p->n++;
    }
    fr_image_free(img);
    return FR_OK;
}

static cJSON *added_faces_json(const struct picked *p, const int64_t *ids, int64_t person, int64_t image) {
    cJSON *arr = cJSON_CreateArray();
    for (int32_t i = 0; arr && i < p->n; i++) {
        struct fr_store_face f = { .id = ids[i], .person = person, .image = image, .score = p->nf[i].face->score };
        memcpy(f.box, p->nf[i].face->box, sizeof(f.box));
        cJSON *x = face_json(&f);
        if (x) cJSON_DeleteItemFromObjectCaseSensitive(x, "created");
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Answers root (its first members in) with "faces": the faces written. */
static enum MHD_Result answer_added(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                    unsigned status, cJSON *root, const struct picked *p, const int64_t *ids,
                                    int64_t person, int64_t image) {
    cJSON *arr = added_faces_json(p, ids, person, image);
    if (!arr || !cJSON_AddItemToObject(root, "faces", arr)) {
        cJSON_Delete(arr);
        cJSON_Delete(root);
        root = NULL;
    }
    return fr__http_respond_doc(h, c, rq, status, root);
}

enum MHD_Result fr__http_person_enroll(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    struct picked p;
    enum fr_status st = pick_faces(c, rq, fr__http_query_flag(c, "all"), &p);
    if (st != FR_OK) {
        picked_clear(&p);
        return fr__http_respond_store_error(h, c, rq, st);
    }
    if (p.n == 0) {
        picked_clear(&p);
        return fr__http_respond_error(h, c, rq, 422, "no_face", "no face found in the image");
    }
    int64_t *ids = fr_calloc((size_t)p.n, sizeof(*ids));
    st = ids ? fr_gallery_enroll(h->gallery, rq->user_id, rq->id, &p.img, p.nf, p.n, ids) : FR_ERR_NOMEM;
    enum MHD_Result ret;
    if (st == FR_ERR_NOT_FOUND) ret = not_found(h, c, rq, "person", rq->id);
    else if (st != FR_OK) ret = fr__http_respond_store_error(h, c, rq, st);
    else {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "person", (double)rq->id);
        ret = answer_added(h, c, rq, 201, root, &p, ids, rq->id, 0);
    }
    fr_free(ids);
    picked_clear(&p);
    return ret;
}

enum MHD_Result fr__http_index(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    struct picked p;
    enum fr_status st = pick_faces(c, rq, true, &p);
    int64_t *ids = st == FR_OK ? fr_calloc((size_t)p.n + 1, sizeof(*ids)) : NULL;
    int64_t image = 0;
    bool skipped = false;
    if (st == FR_OK && !ids) st = FR_ERR_NOMEM;
    if (st == FR_OK) st = fr_gallery_index(h->gallery, rq->user_id, &p.img, p.nf, p.n, ids, &image, &skipped);
    enum MHD_Result ret;
    if (st != FR_OK) ret = fr__http_respond_store_error(h, c, rq, st);
    else {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "image", (double)image);
        cJSON_AddBoolToObject(root, "skipped", skipped);
        struct picked none = { 0 };
        ret = answer_added(h, c, rq, skipped ? 200 : 201, root, skipped ? &none : &p, ids, 0, image);
    }
    fr_free(ids);
    picked_clear(&p);
    return ret;
}

enum MHD_Result fr__http_recognize(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    const struct fr__http_image *im = &rq->results[0];
    enum MHD_Result ret;
    int64_t k;
    if (!fr__http_query_int(h, c, rq, "k", fr_gallery_get_params(h->gallery).k, 1, FR_GALLERY_MAX_K, &k, &ret))
        return ret;
    /* The 68 landmarks are a kilobyte per face that a caller naming
     * people rarely needs: only on request. */
    bool landmarks = fr__http_query_flag(c, "landmarks");
    float threshold = fr_gallery_threshold(h->gallery);
    struct fr_gallery_match *m = fr_malloc(sizeof(*m) * (size_t)k);
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!m || !root || !arr || !cJSON_AddItemToObject(root, "faces", arr)) {
        fr_free(m);
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    }
    cJSON_AddNumberToObject(root, "width", im->faces.width);
    cJSON_AddNumberToObject(root, "height", im->faces.height);
    cJSON_AddItemToObject(root, "threshold", number(round(threshold * 1e6) / 1e6));
    for (int32_t i = 0; i < im->faces.count; i++) {
        const struct fr_face *f = &im->faces.faces[i];
        if (!f->has_descriptor) continue;
        int32_t n = 0;
        enum fr_status st = fr_gallery_recognize(h->gallery, rq->user_id, f->descriptor, (int32_t)k, m, &n);
        if (st != FR_OK) {
            fr_free(m);
            cJSON_Delete(root);
            return fr__http_respond_store_error(h, c, rq, st);
        }
        cJSON *x = fr__http_json_face(f, false);
        if (x && !landmarks) cJSON_DeleteItemFromObjectCaseSensitive(x, "landmarks");
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            continue;
        }
        bool known = n > 0 && m[0].distance <= threshold;
        if (known) {
            cJSON_AddNumberToObject(x, "person", (double)m[0].person);
            cJSON_AddStringToObject(x, "name", m[0].name);
        } else {
            cJSON_AddNullToObject(x, "person");
            cJSON_AddStringToObject(x, "name", "unknown");
        }
        cJSON_AddBoolToObject(x, "unknown", !known);
        if (n > 0) {
            cJSON_AddItemToObject(x, "distance", number(m[0].distance));
            cJSON_AddItemToObject(x, "similarity", number(m[0].similarity));
        }
        cJSON *cand = cJSON_AddArrayToObject(x, "candidates");
        for (int32_t j = 0; cand && j < n; j++) {
            cJSON *e = cJSON_CreateObject();
            if (!e || !cJSON_AddItemToArray(cand, e)) {
                cJSON_Delete(e);
                break;
            }
            cJSON_AddNumberToObject(e, "person", (double)m[j].person);
            cJSON_AddStringToObject(e, "name", m[j].name);
            cJSON_AddNumberToObject(e, "face", (double)m[j].face);
            cJSON_AddItemToObject(e, "distance", number(m[j].distance));
            cJSON_AddItemToObject(e, "similarity", number(m[j].similarity));
        }
    }
    fr_free(m);
    return fr__http_respond_doc(h, c, rq, 200, root);
}

enum MHD_Result fr__http_cluster(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    enum MHD_Result ret;
    cJSON *o = json_body(h, c, rq, (const char *const[]){ "min_faces", "max_distance", NULL }, &ret);
    if (!o) return ret;
    struct fr_gallery_cluster_params cp = fr_gallery_get_params(h->gallery).cluster;
    int64_t mf;
    bool present;
    if (!json_int(h, c, rq, o, "min_faces", 1, 63, &mf, &present, &ret)) goto out;
    if (present) cp.min_faces = (int32_t)mf;
    cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "max_distance");
    if (md) {
        if (!cJSON_IsNumber(md) || !(md->valuedouble > 0.0 && md->valuedouble <= 2.0)) {
            ret = fr__http_respond_invalid(h, c, rq, "\"max_distance\" must be a number in (0, 2]");
            goto out;
        }
        cp.max_distance = (float)md->valuedouble;
    }
    struct fr_gallery_cluster_result res;
    enum fr_status st = fr_gallery_cluster(h->gallery, rq->user_id, &cp, &res);
    if (st != FR_OK) {
        ret = fr__http_respond_store_error(h, c, rq, st);
        goto out;
    }
    cJSON *r = cJSON_CreateObject();
    if (r) {
        cJSON_AddNumberToObject(r, "people_created", res.people_created);
        cJSON_AddNumberToObject(r, "created", res.created);
        cJSON_AddNumberToObject(r, "joined", res.joined);
        cJSON_AddNumberToObject(r, "left", res.left);
        cJSON_AddNumberToObject(r, "min_faces", cp.min_faces);
        cJSON_AddItemToObject(r, "max_distance", number(round(cp.max_distance * 1e6) / 1e6));
        if (res.job) cJSON_AddNumberToObject(r, "job", (double)res.job);
        else cJSON_AddNullToObject(r, "job");
    }
    ret = fr__http_respond_doc(h, c, rq, 200, r);
out:
    cJSON_Delete(o);
    return ret;
}

/* ---- /status ------------------------------------------------------------------------- */

static void add_user(cJSON *users, const struct fr_store_user *u) {
    cJSON *e = cJSON_AddObjectToObject(users, u->name);
    if (!e) return;
    cJSON_AddNumberToObject(e, "people", (double)u->n_people);
    cJSON_AddNumberToObject(e, "faces", (double)u->n_faces);
    cJSON_AddBoolToObject(e, "admin", u->admin);
}

void fr__http_gallery_status(struct fr_http *h, cJSON *root, const struct fr__http_request *rq) {
    struct fr_store *st = fr_gallery_store(h->gallery);
    cJSON *gal = cJSON_AddObjectToObject(root, "gallery");
    if (gal) cJSON_AddBoolToObject(gal, "search_int8", fr_gallery_get_params(h->gallery).int8);
    cJSON *users = gal ? cJSON_AddObjectToObject(gal, "users") : NULL;
    if (!users) return;
    if (rq->admin) {
        struct fr_store_user *u = NULL;
        int32_t n = 0;
        if (fr_store_user_list(st, &u, &n) == FR_OK)
            for (int32_t i = 0; i < n; i++) add_user(users, &u[i]);
        fr_free(u);
    } else {
        struct fr_store_user u;
        if (fr_store_user_get_by_id(st, rq->user_id, &u) == FR_OK) add_user(users, &u);
    }
}
