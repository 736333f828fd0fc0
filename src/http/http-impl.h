/* Internals of the HTTP front end, shared by the files of src/http/ and
 * tests/test-http.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "facerec/http.h"

struct cJSON;

/* ---- body.c: request bodies into encoded images ------------------------ */

enum fr__http_body_kind {
    FR__HTTP_BODY_RAW,       /* image/..., application/octet-stream, x-www-form-urlencoded (curl's default), none */
    FR__HTTP_BODY_MULTIPART, /* multipart/form-data */
    FR__HTTP_BODY_JSON,      /* application/json */
    FR__HTTP_BODY_UNSUPPORTED,
};

/* What a Content-Type header announces (NULL = raw). */
enum fr__http_body_kind fr__http_body_kind(const char *content_type);

/* The images of a request. Each image either points into the request body
 * (raw, multipart: owned == false) or owns decoded base64 bytes. */
struct fr__http_body {
    int32_t n, cap;
    struct fr_sched_image *images;
    bool *owned;
    bool has_embedding; /* verify: {"embedding":[128 numbers]} or a multipart field "embedding" */
    float embedding[128];
};

/* Why a body was refused: the HTTP status and the error code of the JSON
 * answer ("invalid_json", "invalid_request", "invalid_base64", "no_image",
 * "unsupported_media_type"). */
struct fr__http_body_error {
    int http_status;
    const char *code;
    char message[256];
};

/* Parses body (len bytes; it must stay alive while out is used) announced
 * as content_type. On success out holds at least one image. */
enum fr_status fr__http_body_parse(const char *content_type, const char *body, size_t len,
                                   struct fr__http_body *out, struct fr__http_body_error *e);
void fr__http_body_clear(struct fr__http_body *b);

/* Base64 (standard or URL-safe alphabet, padding optional, whitespace
 * ignored) with an optional "data:<type>;base64," prefix. *out is
 * fr_malloc'd. */
enum fr_status fr__http_base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);

/* ---- keys.c: the API-key file ------------------------------------------ */

struct fr__http_keys;

/* Lines "KEY USER" separated by blanks; '#' starts a comment line; blank
 * lines are skipped. A line without a user or with extra words, and a key
 * listed twice, are errors naming the line. name labels messages. */
enum fr_status fr__http_keys_parse(const char *text, size_t len, const char *name, struct fr__http_keys **out,
                                   char *err, size_t errlen);
enum fr_status fr__http_keys_load(const char *path, struct fr__http_keys **out, char *err, size_t errlen);
/* The user owning key, or NULL. Compares in time independent of where the
 * keys differ. The string lives as long as the key set. */
const char *fr__http_keys_lookup(const struct fr__http_keys *k, const char *key);
int32_t fr__http_keys_count(const struct fr__http_keys *k);
/* The i-th key and its user (0 <= i < count). */
void fr__http_keys_at(const struct fr__http_keys *k, int32_t i, const char **key, const char **user);
void fr__http_keys_free(struct fr__http_keys *k);

/* ---- json.c: response documents --------------------------------------- */

/* {"error":{"code":code,"message":message}} as a cJSON_Print'ed string
 * (release with cJSON_free), or NULL on OOM. */
char *fr__http_json_error(const char *code, const char *message);
/* One face in the CLI's `--json` form: box, score, landmarks (when
 * present), embedding (when embedding and present). Numbers are printed
 * with %.9g so that a float32 round-trips. */
struct cJSON *fr__http_json_face(const struct fr_face *f, bool embedding);
/* {"width","height","faces":[...]} of one image. */
struct cJSON *fr__http_json_faces(const struct fr_faces *f, bool embedding);
struct cJSON *fr__http_json_timings(const struct fr_sched_timings *t);
/* A number printed with %.9g (null when not finite). */
struct cJSON *fr__http_json_number(double v);
