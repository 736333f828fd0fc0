/* The parts of the store that do not depend on the database: the error
 * record, argument checks, name rules, the encoding of float arrays, and
 * the mapping of a result row to the public structs. Both backends
 * (SQLite: store.c, people.c, queue.c; PostgreSQL: store-pg*.c) call
 * these, so that each keeps only its SQL dialect and its driver calls,
 * and the two cannot drift apart in what they accept or return. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "store/store-impl.h"

/* ---- errors, locking, time ---- */

static _Thread_local char last_error[512];

void fr_store_last_error(char *buf, size_t len) {
    if (buf && len) snprintf(buf, len, "%s", last_error);
}

enum fr_status fr__store_fail(enum fr_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return status;
}

enum fr_status fr__store_open_failed(struct fr_store *st, enum fr_status status, char *err, size_t errlen) {
    fr_store_last_error(err, errlen);
    /* Closing may log and record failures of its own: the open's stays. */
    char keep[sizeof(last_error)];
    fr_store_last_error(keep, sizeof(keep));
    st->vt->free(st);
    fr__store_fail(status, "%s", keep);
    return status;
}

void fr__store_lock(struct fr_store *st) { pthread_mutex_lock(&st->mu); }
void fr__store_unlock(struct fr_store *st) { pthread_mutex_unlock(&st->mu); }

int64_t fr__store_now(void) { return (int64_t)time(NULL); }

int64_t fr__store_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- names ---- */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0
 * if it is malformed (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) return *cp = c, 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

bool fr__store_valid_name(const char *name) {
    if (!name) return false;
    size_t n = strnlen(name, FR_STORE_NAME_MAX + 1);
    if (n == 0 || n > FR_STORE_NAME_MAX) return false;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(s + i, n - i, &cp);
        if (!len || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
        i += len;
    }
    return true;
}

bool fr__store_valid_node(const char *node) {
    if (!node) return false;
    size_t n = strnlen(node, FR_STORE_NODE_MAX + 1);
    if (n == 0 || n > FR_STORE_NODE_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)node[i])) return false;
    return true;
}

/* Legacy keys: any printable word without blanks, as the old "KEY USER"
 * file allowed. */
bool fr__store_valid_legacy_key(const char *key) {
    if (!key) return false;
    size_t n = strnlen(key, FR__STORE_LEGACY_KEY_MAX + 1);
    if (n == 0 || n > FR__STORE_LEGACY_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f) return false;
    return true;
}

size_t fr__store_cut_len(const char *text, size_t max) {
    size_t n = strnlen(text, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80) n--;
    }
    return n;
}

/* ---- argument checks ---- */

enum fr_status fr__store_check_name(const char *name) {
    if (fr__store_valid_name(name)) return FR_OK;
    return fr__store_fail(FR_ERR_INVALID, "bad name: 1 to %d bytes of UTF-8 without control characters",
                          FR_STORE_NAME_MAX);
}

enum fr_status fr__store_start_list(void *out, int32_t *n, int32_t limit) {
    *(void **)out = NULL;
    *n = 0;
    return limit > 0 ? FR_OK : fr__store_fail(FR_ERR_INVALID, "limit must be positive");
}

static enum fr_status check_descriptors(const struct fr_store_new_face *faces, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (!faces[i].face || !faces[i].face->has_descriptor)
            return fr__store_fail(FR_ERR_INVALID, "face %d has no descriptor", (int)i);
    return FR_OK;
}

enum fr_status fr__store_check_faces(const struct fr_store_new_face *faces, int32_t n, int64_t person) {
    if (n < 0 || (n > 0 && !faces) || person < 0) return fr__store_fail(FR_ERR_INVALID, "bad face list");
    return check_descriptors(faces, n);
}

enum fr_status fr__store_check_assign(const int64_t *ids, int32_t n, int64_t person) {
    if (n < 0 || (n > 0 && !ids) || person < 0) return fr__store_fail(FR_ERR_INVALID, "bad face list");
    return FR_OK;
}

enum fr_status fr__store_check_merge(int64_t into, int64_t from) {
    if (into == from) return fr__store_fail(FR_ERR_INVALID, "cannot merge a person into itself");
    return FR_OK;
}

enum fr_status fr__store_check_job(const char *kind, int64_t total) {
    if (!kind || !*kind || strnlen(kind, FR__STORE_KIND_MAX + 1) > FR__STORE_KIND_MAX || total < 0)
        return fr__store_fail(FR_ERR_INVALID, "bad job kind or total");
    return FR_OK;
}

enum fr_status fr__store_check_job_update(enum fr_store_job_state state, int64_t done, int64_t failed) {
    if ((int)state < FR_STORE_JOB_RUNNING || (int)state > FR_STORE_JOB_CANCELLED || done < 0 || failed < 0)
        return fr__store_fail(FR_ERR_INVALID, "bad job state or counts");
    return FR_OK;
}

enum fr_status fr__store_check_paths(const char *const *paths, int32_t n) {
    if (n < 0 || (n > 0 && !paths)) return fr__store_fail(FR_ERR_INVALID, "bad path list");
    for (int32_t i = 0; i < n; i++) {
        size_t len = paths[i] ? strnlen(paths[i], FR_STORE_PATH_MAX + 1) : 0;
        if (len == 0 || len > FR_STORE_PATH_MAX)
            return fr__store_fail(FR_ERR_INVALID, "path %d: 1 to %d bytes", (int)i, FR_STORE_PATH_MAX);
    }
    return FR_OK;
}

enum fr_status fr__store_start_claim(void *out, int32_t *n, const char *node, int32_t max, int64_t lease_ms) {
    *(void **)out = NULL;
    *n = 0;
    if (!fr__store_valid_node(node) || max < 1 || lease_ms < 1)
        return fr__store_fail(FR_ERR_INVALID, "bad node name, batch size or lease");
    return FR_OK;
}

enum fr_status fr__store_check_heartbeat(const char *node, int64_t lease_ms) {
    if (!fr__store_valid_node(node) || lease_ms < 1) return fr__store_fail(FR_ERR_INVALID, "bad node name or lease");
    return FR_OK;
}

enum fr_status fr__store_check_finish(const char *node, const struct fr_store_item *item,
                                      const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                      int32_t n, const char *error) {
    if (!fr__store_valid_node(node) || !item || (!error && !img) || n < 0 || (n > 0 && !faces))
        return fr__store_fail(FR_ERR_INVALID, "bad item to finish");
    return error ? FR_OK : check_descriptors(faces, n);
}

void fr__store_row_msgs(const char *noun, int64_t id, char missing[FR__STORE_MSG_LEN],
                        char what[FR__STORE_MSG_LEN]) {
    snprintf(missing, FR__STORE_MSG_LEN, "no %s %lld", noun, (long long)id);
    snprintf(what, FR__STORE_MSG_LEN, "reading a %s", noun);
}

enum fr_status fr__store_copy_thumbnail(const void *b, size_t n, int64_t id, void **jpeg, size_t *len) {
    if (!b || n == 0) return fr__store_fail(FR_ERR_NOT_FOUND, "face %lld has no thumbnail", (long long)id);
    if (!(*jpeg = fr_malloc(n))) return fr__store_fail(FR_ERR_NOMEM, "out of memory");
    memcpy(*jpeg, b, n);
    *len = n;
    return FR_OK;
}

/* ---- float arrays ---- */

void fr__store_floats_to_le(const float *in, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &in[i], 4);
        out[4 * i] = (uint8_t)v, out[4 * i + 1] = (uint8_t)(v >> 8);
        out[4 * i + 2] = (uint8_t)(v >> 16), out[4 * i + 3] = (uint8_t)(v >> 24);
    }
}

void fr__store_face_blobs(const struct fr_face *f, struct fr__store_face_blobs *b) {
    fr__store_floats_to_le(f->descriptor, FR_DESCRIPTOR_DIM, b->embedding);
    if (f->has_landmarks) fr__store_floats_to_le(&f->landmarks[0][0], 2 * FR_LANDMARKS, b->landmarks);
}

/* ---- rows ---- */

void fr__store_row_text(const struct fr__store_row *r, int col, char *out, size_t size) {
    size_t len = 0;
    const void *b = r->i->bytes(r, col, &len);
    if (!b) len = 0;
    if (len >= size) len = size - 1;
    if (len) memcpy(out, b, len);
    out[len] = 0;
}

void fr__store_row_floats(const struct fr__store_row *r, int col, float *out, size_t n) {
    size_t len = 0;
    const uint8_t *in = r->i->bytes(r, col, &len);
    if (!in || len != 4 * n) {
        memset(out, 0, 4 * n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 | (uint32_t)in[4 * i + 2] << 16 |
                     (uint32_t)in[4 * i + 3] << 24;
        memcpy(&out[i], &v, 4);
    }
}

void fr__store_read_user(const struct fr__store_row *r, void *out) {
    struct fr_store_user *u = out;
    memset(u, 0, sizeof(*u));
    u->id = r->i->i64(r, 0);
    fr__store_row_text(r, 1, u->name, sizeof(u->name));
    u->admin = r->i->i64(r, 2) != 0;
    u->created = r->i->i64(r, 3);
    u->gallery_version = r->i->i64(r, 4);
    u->n_keys = r->i->i64(r, 5);
    u->n_people = r->i->i64(r, 6);
    u->n_faces = r->i->i64(r, 7);
}

void fr__store_read_person(const struct fr__store_row *r, void *out) {
    struct fr_store_person *p = out;
    memset(p, 0, sizeof(*p));
    p->id = r->i->i64(r, 0);
    fr__store_row_text(r, 1, p->name, sizeof(p->name));
    p->created = r->i->i64(r, 2);
    p->updated = r->i->i64(r, 3);
    p->n_faces = r->i->i64(r, 4);
}

void fr__store_read_image(const struct fr__store_row *r, void *out) {
    struct fr_store_image *im = out;
    memset(im, 0, sizeof(*im));
    im->id = r->i->i64(r, 0);
    size_t len = 0;
    const void *h = r->i->bytes(r, 1, &len);
    if (h && len == FR_STORE_HASH_LEN) memcpy(im->sha256, h, FR_STORE_HASH_LEN);
    fr__store_row_text(r, 2, im->name, sizeof(im->name));
    im->bytes = r->i->i64(r, 3);
    im->width = (int32_t)r->i->i64(r, 4);
    im->height = (int32_t)r->i->i64(r, 5);
    im->created = r->i->i64(r, 6);
}

void fr__store_read_face(const struct fr__store_row *r, void *out) {
    struct fr_store_face *f = out;
    memset(f, 0, sizeof(*f));
    f->id = r->i->i64(r, 0);
    f->person = r->i->i64(r, 1); /* NULL reads as 0 */
    f->image = r->i->i64(r, 2);
    for (int k = 0; k < 4; k++) f->box[k] = (float)r->i->f64(r, 3 + k);
    f->score = (float)r->i->f64(r, 7);
    fr__store_row_floats(r, 8, &f->landmarks[0][0], 2 * FR_LANDMARKS);
    fr__store_row_floats(r, 9, f->embedding, FR_DESCRIPTOR_DIM);
    f->created = r->i->i64(r, 10);
}

void fr__store_read_job(const struct fr__store_row *r, void *out) {
    struct fr_store_job *j = out;
    memset(j, 0, sizeof(*j));
    j->id = r->i->i64(r, 0);
    fr__store_row_text(r, 1, j->kind, sizeof(j->kind));
    int64_t state = r->i->i64(r, 2);
    /* The column holds the enum's values; anything else reads as running. */
    j->state = state == 1   ? FR_STORE_JOB_DONE
               : state == 2 ? FR_STORE_JOB_FAILED
               : state == 3 ? FR_STORE_JOB_CANCELLED
                            : FR_STORE_JOB_RUNNING;
    j->total = r->i->i64(r, 3);
    j->done = r->i->i64(r, 4);
    j->failed = r->i->i64(r, 5);
    fr__store_row_text(r, 6, j->detail, sizeof(j->detail));
    j->created = r->i->i64(r, 7);
    j->updated = r->i->i64(r, 8);
}

void fr__store_read_item(const struct fr__store_row *r, void *out) {
    struct fr_store_item *it = out;
    it->id = r->i->i64(r, 0);
    it->job = r->i->i64(r, 1);
    it->user = r->i->i64(r, 2);
    fr__store_row_text(r, 3, it->path, sizeof(it->path));
}

void fr__store_read_failure(const struct fr__store_row *r, void *out) {
    struct fr_store_job_failure *f = out;
    fr__store_row_text(r, 0, f->path, sizeof(f->path));
    fr__store_row_text(r, 1, f->error, sizeof(f->error));
}

void fr__store_read_node(const struct fr__store_row *r, void *out) {
    struct fr_store_job_node *nd = out;
    fr__store_row_text(r, 0, nd->node, sizeof(nd->node));
    nd->done = r->i->i64(r, 1);
    nd->failed = r->i->i64(r, 2);
    nd->first_ms = r->i->i64(r, 3);
    nd->last_ms = r->i->i64(r, 4);
}

void fr__store_key_match(const struct fr__store_row *r, void *ctx) {
    struct fr__store_key_search *k = ctx;
    size_t len = 0;
    const void *h = r->i->bytes(r, 1, &len);
    /* Every row is compared in full, in constant time: the public id
     * picked it, the rest of the key is secret. */
    if (h && len == FR_STORE_HASH_LEN && !CRYPTO_memcmp(h, k->hash, FR_STORE_HASH_LEN)) {
        k->found = true;
        k->user = r->i->i64(r, 0);
    }
}
