/* The PostgreSQL store's per-user rows: people, images, faces, jobs and
 * the indexing queue. The same rules as the SQLite store's (people.c,
 * queue.c): every query names the user, another user's row answers
 * FR_ERR_NOT_FOUND as a missing one does, every write is one transaction.
 * Writes to a gallery lock the user's row first (fr__pg_begin_user), so
 * one user's writes from all nodes are serialised and each can report the
 * gallery_version it started from. */
#include <stdio.h>
#include <string.h>

#include "store/store-pg-impl.h"

#define DETAIL_MAX 255
#define KIND_MAX 31
#define ERROR_MAX 255

static void floats_to_le(const float *in, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &in[i], 4);
        out[4 * i] = (uint8_t)v, out[4 * i + 1] = (uint8_t)(v >> 8);
        out[4 * i + 2] = (uint8_t)(v >> 16), out[4 * i + 3] = (uint8_t)(v >> 24);
    }
}

static void col_floats(const PGresult *r, int row, int col, float *out, size_t n) {
    const uint8_t *in = (const uint8_t *)PQgetvalue(r, row, col);
    if (PQgetisnull(r, row, col) || (size_t)PQgetlength(r, row, col) != 4 * n) {
        memset(out, 0, 4 * n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 | (uint32_t)in[4 * i + 2] << 16 |
                     (uint32_t)in[4 * i + 3] << 24;
        memcpy(&out[i], &v, 4);
    }
}

static enum fr_status bad_name(void) {
    return fr__store_fail(FR_ERR_INVALID, "bad name: 1 to %d bytes of UTF-8 without control characters",
                          FR_STORE_NAME_MAX);
}

/* Runs a command; FR_ERR_NOT_FOUND (with `what`) when it touched no row. */
static enum fr_status exec_one(struct fr_store *st, const char *sql, const struct fr__pg_params *p, const char *what) {
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, NULL);
    if (status != FR_OK) return status;
    if (fr__pg_changes(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s: not found", what);
    PQclear(r);
    return status;
}

static enum fr_status person_exists(struct fr_store *st, int64_t user, int64_t id) {
    if (id <= 0) return fr__store_fail(FR_ERR_NOT_FOUND, "no person %lld", (long long)id);
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT 1 FROM people WHERE user_id = $1 AND id = $2", &p, &r, "looking up a person", NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no person %lld", (long long)id);
    PQclear(r);
    return status;
}

static enum fr_status user_exists(struct fr_store *st, int64_t user) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, "SELECT 1 FROM users WHERE id = $1", &p, &r, "looking up a user", NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
    PQclear(r);
    return status;
}

/* ---- people ---- */

#define PERSON_SELECT                                                                                                  \
    "SELECT p.id, p.name, p.created, p.updated, "                                                                      \
    "(SELECT count(*) FROM faces f WHERE f.user_id = p.user_id AND f.person_id = p.id) FROM people p"

enum fr_status fr__pg_person_add(struct fr_store *st, int64_t user, const char *name, int64_t *id) {
    if (!fr__store_valid_name(name)) return bad_name();
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        status = user_exists(st, user);
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_text(&p, name);
        fr__pg_i64(&p, fr__store_now());
        PGresult *r;
        if (status == FR_OK)
            status = fr__pg_exec(st, "INSERT INTO people(user_id, name, created, updated) VALUES($1, $2, $3, $3) "
                                     "RETURNING id",
                                 &p, &r, "adding a person", NULL);
        if (status == FR_OK) {
            if (id) *id = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

static void read_person(const PGresult *r, int row, void *out) {
    struct fr_store_person *p = out;
    memset(p, 0, sizeof(*p));
    p->id = fr__pg_col_i64(r, row, 0);
    fr__pg_col_text(r, row, 1, p->name, sizeof(p->name));
    p->created = fr__pg_col_i64(r, row, 2);
    p->updated = fr__pg_col_i64(r, row, 3);
    p->n_faces = fr__pg_col_i64(r, row, 4);
}

enum fr_status fr__pg_person_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_person *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    char missing[48];
    snprintf(missing, sizeof(missing), "no person %lld", (long long)id);
    fr__store_lock(st);
    enum fr_status status = fr__pg_one(st, PERSON_SELECT " WHERE p.user_id = $1 AND p.id = $2", &p, read_person, out,
                                       missing, "reading a person");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_person_list(struct fr_store *st, int64_t user, int64_t after_id, int32_t limit,
                                  struct fr_store_person **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    if (limit <= 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, after_id);
    fr__pg_i64(&p, limit);
    fr__store_lock(st);
    enum fr_status status =
        fr__pg_collect(st, PERSON_SELECT " WHERE p.user_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3", &p,
                       sizeof(**out), read_person, "listing people", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_person_rename(struct fr_store *st, int64_t user, int64_t id, const char *name) {
    if (!fr__store_valid_name(name)) return bad_name();
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, id);
        fr__pg_text(&p, name);
        fr__pg_i64(&p, fr__store_now());
        status = exec_one(st, "UPDATE people SET name = $3, updated = $4 WHERE user_id = $1 AND id = $2", &p,
                          "renaming a person");
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_person_delete(struct fr_store *st, int64_t user, int64_t id, int64_t *n_faces_out) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    int64_t nf = 0;
    if (status == FR_OK) {
        status = person_exists(st, user, id);
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, id);
        PGresult *r;
        if (status == FR_OK)
            status = fr__pg_exec(st, "SELECT count(*) FROM faces WHERE user_id = $1 AND person_id = $2", &p, &r,
                                 "counting faces", NULL);
        if (status == FR_OK) {
            nf = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
            status = exec_one(st, "DELETE FROM people WHERE user_id = $1 AND id = $2", &p, "deleting a person");
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && n_faces_out) *n_faces_out = nf;
    return status;
}

enum fr_status fr__pg_person_merge(struct fr_store *st, int64_t user, int64_t into, int64_t from) {
    if (into == from) return fr__store_fail(FR_ERR_INVALID, "cannot merge a person into itself");
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        status = person_exists(st, user, into);
        if (status == FR_OK) status = person_exists(st, user, from);
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, from);
        fr__pg_i64(&p, into);
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE faces SET person_id = $3 WHERE user_id = $1 AND person_id = $2", &p, NULL,
                                 "moving faces", NULL);
        p.n = 2;
        if (status == FR_OK)
            status = exec_one(st, "DELETE FROM people WHERE user_id = $1 AND id = $2", &p, "deleting the merged person");
        struct fr__pg_params q = {0};
        fr__pg_i64(&q, user);
        fr__pg_i64(&q, into);
        fr__pg_i64(&q, fr__store_now());
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE people SET updated = $3 WHERE user_id = $1 AND id = $2", &q, NULL,
                                 "updating a person", NULL);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* ---- images ---- */

static void read_image(const PGresult *r, int row, void *out) {
    struct fr_store_image *im = out;
    memset(im, 0, sizeof(*im));
    im->id = fr__pg_col_i64(r, row, 0);
    if (PQgetlength(r, row, 1) == FR_STORE_HASH_LEN) memcpy(im->sha256, PQgetvalue(r, row, 1), FR_STORE_HASH_LEN);
    fr__pg_col_text(r, row, 2, im->name, sizeof(im->name));
    im->bytes = fr__pg_col_i64(r, row, 3);
    im->width = (int32_t)fr__pg_col_i64(r, row, 4);
    im->height = (int32_t)fr__pg_col_i64(r, row, 5);
    im->created = fr__pg_col_i64(r, row, 6);
}

static enum fr_status find_image(struct fr_store *st, int64_t user, const uint8_t *sha256,
                                 struct fr_store_image *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_bytes(&p, sha256, FR_STORE_HASH_LEN);
    return fr__pg_one(st,
                      "SELECT id, sha256, name, bytes, width, height, created FROM images WHERE user_id = $1 AND "
                      "sha256 = $2",
                      &p, read_image, out, "no image with that hash", "looking up an image");
}

enum fr_status fr__pg_image_find(struct fr_store *st, int64_t user, const uint8_t sha256[FR_STORE_HASH_LEN],
                                 struct fr_store_image *out) {
    fr__store_lock(st);
    enum fr_status status = find_image(st, user, sha256, out);
    fr__store_unlock(st);
    return status;
}

/* The id of the user's row for img, inserted if it has none yet; *fresh
 * (may be NULL) tells which. Concurrent inserts of one hash by two nodes
 * meet at the unique constraint: the loser reuses the winner's row. */
static enum fr_status upsert_image(struct fr_store *st, int64_t user, const struct fr_store_image *img, int64_t *id,
                                   bool *fresh) {
    size_t nlen = strnlen(img->name, sizeof(img->name));
    char name[sizeof(img->name)];
    memcpy(name, img->name, nlen);
    name[nlen] = 0;
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_bytes(&p, img->sha256, FR_STORE_HASH_LEN);
    fr__pg_text(&p, name);
    fr__pg_i64(&p, img->bytes);
    fr__pg_i64(&p, img->width);
    fr__pg_i64(&p, img->height);
    fr__pg_i64(&p, fr__store_now());
    PGresult *r;
    char state[6];
    enum fr_status status = fr__pg_exec(st,
                                        "INSERT INTO images(user_id, sha256, name, bytes, width, height, created) "
                                        "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, sha256) DO NOTHING "
                                        "RETURNING id",
                                        &p, &r, "adding an image", state);
    if (status != FR_OK && !strcmp(state, FR__PG_FOREIGN_KEY))
        return fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
    if (status != FR_OK) return status;
    bool inserted = PQntuples(r) == 1;
    if (inserted) *id = fr__pg_col_i64(r, 0, 0);
    PQclear(r);
    if (fresh) *fresh = inserted;
    if (inserted) return FR_OK;
    struct fr_store_image found;
    status = find_image(st, user, img->sha256, &found);
    if (status == FR_OK) *id = found.id;
    return status;
}

/* ---- faces ---- */

static enum fr_status insert_face(struct fr_store *st, int64_t user, int64_t person, int64_t image,
                                  const struct fr_store_new_face *nf, int64_t now, int64_t *id) {
    const struct fr_face *f = nf->face;
    uint8_t emb[4 * FR_DESCRIPTOR_DIM], lm[4 * 2 * FR_LANDMARKS];
    floats_to_le(f->descriptor, FR_DESCRIPTOR_DIM, emb);
    if (f->has_landmarks) floats_to_le(&f->landmarks[0][0], 2 * FR_LANDMARKS, lm);
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    if (person > 0) fr__pg_i64(&p, person);
    else fr__pg_null(&p);
    if (image > 0) fr__pg_i64(&p, image);
    else fr__pg_null(&p);
    for (int k = 0; k < 4; k++) fr__pg_f64(&p, f->box[k]);
    fr__pg_f64(&p, f->score);
    if (f->has_landmarks) fr__pg_bytes(&p, lm, sizeof(lm));
    else fr__pg_null(&p);
    fr__pg_bytes(&p, emb, sizeof(emb));
    if (nf->thumbnail && nf->thumbnail_len > 0) fr__pg_bytes(&p, nf->thumbnail, nf->thumbnail_len);
    else fr__pg_null(&p);
    fr__pg_i64(&p, now);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st,
                                        "INSERT INTO faces(user_id, person_id, image_id, box_x, box_y, box_w, box_h, "
                                        "score, landmarks, embedding, thumbnail, created) VALUES($1, $2, $3, $4, $5, "
                                        "$6, $7, $8, $9, $10, $11, $12) RETURNING id",
                                        &p, &r, "adding a face", NULL);
    if (status == FR_OK) {
        if (id) *id = fr__pg_col_i64(r, 0, 0);
        PQclear(r);
    }
    return status;
}

static bool faces_ok(const struct fr_store_new_face *faces, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (!faces[i].face || !faces[i].face->has_descriptor) return false;
    return true;
}

enum fr_status fr__pg_faces_add(struct fr_store *st, int64_t user, int64_t person, const struct fr_store_image *img,
                                const struct fr_store_new_face *faces, int32_t n, int64_t *ids_out,
                                int64_t *image_id) {
    if (n < 0 || (n > 0 && !faces) || person < 0) return fr__store_fail(FR_ERR_INVALID, "bad face list");
    if (!faces_ok(faces, n)) return fr__store_fail(FR_ERR_INVALID, "a face has no descriptor");
    fr__store_lock(st);
    int64_t img_id = 0, now = fr__store_now();
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        status = person > 0 ? person_exists(st, user, person) : user_exists(st, user);
        if (status == FR_OK && img) status = upsert_image(st, user, img, &img_id, NULL);
        for (int32_t i = 0; status == FR_OK && i < n; i++)
            status = insert_face(st, user, person, img_id, &faces[i], now, ids_out ? &ids_out[i] : NULL);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && image_id) *image_id = img_id;
    return status;
}

#define FACE_SELECT                                                                                                    \
    "SELECT id, person_id, image_id, box_x, box_y, box_w, box_h, score, landmarks, embedding, created FROM faces"

static void read_face(const PGresult *r, int row, void *out) {
    struct fr_store_face *f = out;
    memset(f, 0, sizeof(*f));
    f->id = fr__pg_col_i64(r, row, 0);
    f->person = fr__pg_col_i64(r, row, 1);
    f->image = fr__pg_col_i64(r, row, 2);
    for (int k = 0; k < 4; k++) f->box[k] = (float)fr__pg_col_f64(r, row, 3 + k);
    f->score = (float)fr__pg_col_f64(r, row, 7);
    col_floats(r, row, 8, &f->landmarks[0][0], 2 * FR_LANDMARKS);
    col_floats(r, row, 9, f->embedding, FR_DESCRIPTOR_DIM);
    f->created = fr__pg_col_i64(r, row, 10);
}

enum fr_status fr__pg_face_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_face *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    char missing[48];
    snprintf(missing, sizeof(missing), "no face %lld", (long long)id);
    fr__store_lock(st);
    enum fr_status status =
        fr__pg_one(st, FACE_SELECT " WHERE user_id = $1 AND id = $2", &p, read_face, out, missing, "reading a face");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_list(struct fr_store *st, int64_t user, int64_t person, int64_t after_id, int32_t limit,
                                struct fr_store_face **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    if (limit <= 0 || person < 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    fr__store_lock(st);
    enum fr_status status = person > 0 ? person_exists(st, user, person) : FR_OK;
    if (status == FR_OK) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, person);
        fr__pg_i64(&p, after_id);
        fr__pg_i64(&p, limit);
        status = fr__pg_collect(st,
                                person > 0 ? FACE_SELECT " WHERE user_id = $1 AND person_id = $2 AND id > $3 "
                                                         "ORDER BY id LIMIT $4"
                                           : FACE_SELECT " WHERE user_id = $1 AND person_id IS NULL AND $2 = 0 AND "
                                                         "id > $3 ORDER BY id LIMIT $4",
                                &p, sizeof(**out), read_face, "listing faces", (void **)out, n);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_delete(struct fr_store *st, int64_t user, int64_t id) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, id);
        status = exec_one(st, "DELETE FROM faces WHERE user_id = $1 AND id = $2", &p, "deleting a face");
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_assign(struct fr_store *st, int64_t user, const int64_t *ids, int32_t n, int64_t person) {
    if (n < 0 || (n > 0 && !ids) || person < 0) return fr__store_fail(FR_ERR_INVALID, "bad face list");
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        if (person > 0) status = person_exists(st, user, person);
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            struct fr__pg_params p = {0};
            fr__pg_i64(&p, user);
            fr__pg_i64(&p, ids[i]);
            if (person > 0) fr__pg_i64(&p, person);
            else fr__pg_null(&p);
            status = exec_one(st, "UPDATE faces SET person_id = $3 WHERE user_id = $1 AND id = $2", &p,
                              "assigning a face");
        }
        if (status == FR_OK && person > 0) {
            struct fr__pg_params p = {0};
            fr__pg_i64(&p, user);
            fr__pg_i64(&p, person);
            fr__pg_i64(&p, fr__store_now());
            status = fr__pg_exec(st, "UPDATE people SET updated = $3 WHERE user_id = $1 AND id = $2", &p, NULL,
                                 "updating a person", NULL);
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_thumbnail(struct fr_store *st, int64_t user, int64_t id, void **jpeg, size_t *len) {
    *jpeg = NULL;
    *len = 0;
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, "SELECT thumbnail FROM faces WHERE user_id = $1 AND id = $2", &p, &r,
                                        "reading a thumbnail", NULL);
    if (status == FR_OK) {
        int bn = PQntuples(r) ? PQgetlength(r, 0, 0) : 0;
        if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no face %lld", (long long)id);
        else if (PQgetisnull(r, 0, 0) || bn <= 0)
            status = fr__store_fail(FR_ERR_NOT_FOUND, "face %lld has no thumbnail", (long long)id);
        else if (!(*jpeg = fr_malloc((size_t)bn))) status = fr__store_fail(FR_ERR_NOMEM, "out of memory");
        else {
            memcpy(*jpeg, PQgetvalue(r, 0, 0), (size_t)bn);
            *len = (size_t)bn;
        }
        PQclear(r);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_scan(struct fr_store *st, int64_t user, fr_store_face_fn fn, void *ctx) {
    float emb[FR_DESCRIPTOR_DIM];
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, "SELECT id, person_id, embedding FROM faces WHERE user_id = $1 ORDER BY id",
                                        &p, &r, "scanning faces", NULL);
    if (status == FR_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            col_floats(r, i, 2, emb, FR_DESCRIPTOR_DIM);
            if (!fn(fr__pg_col_i64(r, i, 0), fr__pg_col_i64(r, i, 1), emb, ctx)) break;
        }
        PQclear(r);
    }
    fr__store_unlock(st);
    return status;
}

/* ---- jobs ---- */

#define JOB_SELECT "SELECT id, kind, state, total, done, failed, detail, created, updated FROM jobs"

enum fr_status fr__pg_job_start(struct fr_store *st, int64_t user, const char *kind, const char *detail, int64_t total,
                                int64_t *id) {
    if (!kind || !*kind || strnlen(kind, KIND_MAX + 1) > KIND_MAX || total < 0)
        return fr__store_fail(FR_ERR_INVALID, "bad job kind or total");
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_text(&p, kind);
    fr__pg_i64(&p, total);
    fr__pg_text_cut(&p, detail ? detail : "", DETAIL_MAX);
    fr__pg_i64(&p, fr__store_now());
    fr__store_lock(st);
    PGresult *r;
    char state[6];
    enum fr_status status = fr__pg_exec(st,
                                        "INSERT INTO jobs(user_id, kind, state, total, done, failed, detail, created, "
                                        "updated) VALUES($1, $2, 0, $3, 0, 0, $4, $5, $5) RETURNING id",
                                        &p, &r, "starting a job", state);
    if (status != FR_OK && !strcmp(state, FR__PG_FOREIGN_KEY))
        status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
    if (status == FR_OK) {
        if (id) *id = fr__pg_col_i64(r, 0, 0);
        PQclear(r);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_job_update(struct fr_store *st, int64_t user, int64_t id, enum fr_store_job_state state,
                                 int64_t done, int64_t failed, const char *detail) {
    if ((int)state < FR_STORE_JOB_RUNNING || (int)state > FR_STORE_JOB_CANCELLED || done < 0 || failed < 0)
        return fr__store_fail(FR_ERR_INVALID, "bad job state or counts");
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    fr__pg_i64(&p, (int)state);
    fr__pg_i64(&p, done);
    fr__pg_i64(&p, failed);
    if (detail) fr__pg_text_cut(&p, detail, DETAIL_MAX);
    else fr__pg_null(&p);
    fr__pg_i64(&p, fr__store_now());
    fr__store_lock(st);
    enum fr_status status = exec_one(st,
                                     "UPDATE jobs SET state = $3, done = $4, failed = $5, detail = coalesce($6, "
                                     "detail), updated = $7 WHERE user_id = $1 AND id = $2",
                                     &p, "updating a job");
    fr__store_unlock(st);
    return status;
}

static void read_job(const PGresult *r, int row, void *out) {
    struct fr_store_job *j = out;
    memset(j, 0, sizeof(*j));
    j->id = fr__pg_col_i64(r, row, 0);
    fr__pg_col_text(r, row, 1, j->kind, sizeof(j->kind));
    int64_t state = fr__pg_col_i64(r, row, 2);
    j->state = state == 1   ? FR_STORE_JOB_DONE
               : state == 2 ? FR_STORE_JOB_FAILED
               : state == 3 ? FR_STORE_JOB_CANCELLED
                            : FR_STORE_JOB_RUNNING;
    j->total = fr__pg_col_i64(r, row, 3);
    j->done = fr__pg_col_i64(r, row, 4);
    j->failed = fr__pg_col_i64(r, row, 5);
    fr__pg_col_text(r, row, 6, j->detail, sizeof(j->detail));
    j->created = fr__pg_col_i64(r, row, 7);
    j->updated = fr__pg_col_i64(r, row, 8);
}

enum fr_status fr__pg_job_list(struct fr_store *st, int64_t user, int32_t limit, struct fr_store_job **out,
                               int32_t *n) {
    *out = NULL;
    *n = 0;
    if (limit <= 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, limit);
    fr__store_lock(st);
    enum fr_status status = fr__pg_collect(st, JOB_SELECT " WHERE user_id = $1 ORDER BY id DESC LIMIT $2", &p,
                                           sizeof(**out), read_job, "listing jobs", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_job_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    char missing[48];
    snprintf(missing, sizeof(missing), "no job %lld", (long long)id);
    fr__store_lock(st);
    enum fr_status status =
        fr__pg_one(st, JOB_SELECT " WHERE user_id = $1 AND id = $2", &p, read_job, out, missing, "reading a job");
    fr__store_unlock(st);
    return status;
}

/* ---- the indexing queue ---- */

enum fr_status fr__pg_queue_add(struct fr_store *st, int64_t user, const char *detail, const char *const *paths,
                                int32_t n, int64_t *id) {
    if (n < 0 || (n > 0 && !paths)) return fr__store_fail(FR_ERR_INVALID, "bad path list");
    for (int32_t i = 0; i < n; i++) {
        size_t len = paths[i] ? strnlen(paths[i], FR_STORE_PATH_MAX + 1) : 0;
        if (len == 0 || len > FR_STORE_PATH_MAX)
            return fr__store_fail(FR_ERR_INVALID, "path %d: 1 to %d bytes", (int)i, FR_STORE_PATH_MAX);
    }
    fr__store_lock(st);
    int64_t job = 0;
    enum fr_status status = fr__pg_begin(st);
    if (status == FR_OK) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, n == 0 ? 1 : 0);
        fr__pg_i64(&p, n);
        fr__pg_text_cut(&p, detail ? detail : "", DETAIL_MAX);
        fr__pg_i64(&p, fr__store_now());
        PGresult *r;
        char state[6];
        status = fr__pg_exec(st,
                             "INSERT INTO jobs(user_id, kind, state, total, done, failed, detail, created, updated) "
                             "VALUES($1, 'index', $2, $3, 0, 0, $4, $5, $5) RETURNING id",
                             &p, &r, "queueing a job", state);
        if (status != FR_OK && !strcmp(state, FR__PG_FOREIGN_KEY))
            status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
        if (status == FR_OK) {
            job = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
        }
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            struct fr__pg_params q = {0};
            fr__pg_i64(&q, job);
            fr__pg_i64(&q, user);
            fr__pg_text(&q, paths[i]);
            status = fr__pg_exec(st, "INSERT INTO job_items(job_id, user_id, path) VALUES($1, $2, $3)", &q, NULL,
                                 "queueing a file", NULL);
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && id) *id = job;
    return status;
}

enum fr_status fr__pg_queue_claim(struct fr_store *st, const char *node, int32_t max, int64_t lease_ms,
                                  struct fr_store_item **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    if (!fr__store_valid_node(node) || max < 1 || lease_ms < 1)
        return fr__store_fail(FR_ERR_INVALID, "bad node name, batch size or lease");
    int64_t now = fr__store_now_ms();
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin(st);
    int32_t got = 0;
    struct fr_store_item *items = NULL;
    if (status == FR_OK) {
        /* The running job with claimable items whose user, then which itself,
         * was claimed from longest ago
         * (not locked: two nodes may pick the same job and then split its
         * items), then its first items that no live lease holds, skipping
         * rows another node is claiming right now. */
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, now);
        PGresult *r;
        status = fr__pg_exec(st,
                             "SELECT j.id FROM jobs j WHERE j.state = 0 AND j.kind = 'index' AND EXISTS (SELECT 1 "
                             "FROM job_items i WHERE i.job_id = j.id AND (i.state = 0 OR (i.state = 1 AND "
                             "i.lease_until < $1))) ORDER BY (SELECT max(k.last_claim) FROM jobs k WHERE k.user_id = j.user_id AND "
                      "k.kind = 'index'), j.last_claim, j.id LIMIT 1",
                             &p, &r, "choosing a job", NULL);
        int64_t job = 0;
        if (status == FR_OK) {
            if (PQntuples(r) == 1) job = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
        }
        if (status == FR_OK && job) {
            struct fr__pg_params q = {0};
            fr__pg_i64(&q, job);
            fr__pg_i64(&q, now);
            fr__pg_i64(&q, max);
            fr__pg_text(&q, node);
            fr__pg_i64(&q, now + lease_ms);
            status = fr__pg_exec(st,
                                 "UPDATE job_items SET state = 1, node = $4, lease_until = $5, claimed = $2 WHERE id "
                                 "IN (SELECT id FROM job_items WHERE job_id = $1 AND (state = 0 OR (state = 1 AND "
                                 "lease_until < $2)) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                                 "RETURNING id, job_id, user_id, path",
                                 &q, &r, "claiming items", NULL);
            if (status == FR_OK) {
                got = PQntuples(r);
                if (got > 0 && !(items = fr_calloc((size_t)got, sizeof(*items)))) {
                    status = fr__store_fail(FR_ERR_NOMEM, "out of memory claiming items");
                    got = 0;
                }
                for (int32_t i = 0; i < got; i++) {
                    items[i].id = fr__pg_col_i64(r, i, 0);
                    items[i].job = fr__pg_col_i64(r, i, 1);
                    items[i].user = fr__pg_col_i64(r, i, 2);
                    fr__pg_col_text(r, i, 3, items[i].path, sizeof(items[i].path));
                }
                PQclear(r);
            }
            if (status == FR_OK && got > 0) {
                struct fr__pg_params u = {0};
                fr__pg_i64(&u, job);
                fr__pg_i64(&u, now);
                status = fr__pg_exec(st, "UPDATE jobs SET last_claim = $2 WHERE id = $1", &u, NULL, "claiming items",
                                     NULL);
            }
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK || got == 0) {
        fr_free(items);
        return status;
    }
    /* Items come back in the order the server updated them: by id. */
    for (int32_t i = 1; i < got; i++)
        for (int32_t j = i; j > 0 && items[j - 1].id > items[j].id; j--) {
            struct fr_store_item t = items[j];
            items[j] = items[j - 1];
            items[j - 1] = t;
        }
    *out = items;
    *n = got;
    return FR_OK;
}

enum fr_status fr__pg_queue_heartbeat(struct fr_store *st, const char *node, int64_t lease_ms) {
    if (!fr__store_valid_node(node) || lease_ms < 1) return fr__store_fail(FR_ERR_INVALID, "bad node name or lease");
    struct fr__pg_params p = {0};
    fr__pg_text(&p, node);
    fr__pg_i64(&p, fr__store_now_ms() + lease_ms);
    fr__store_lock(st);
    enum fr_status status = fr__pg_exec(st, "UPDATE job_items SET lease_until = $2 WHERE node = $1 AND state = 1", &p,
                                        NULL, "extending leases", NULL);
    fr__store_unlock(st);
    return status;
}

static enum fr_status finish_locked(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                    const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                    int32_t n, const char *error, int64_t *ids_out, bool *skipped) {
    /* The item row's lock decides between this node and one that took the
     * item over after our lease lapsed: whoever commits first wins, the
     * other finds it no longer theirs. */
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, item->id);
    fr__pg_i64(&p, item->user);
    fr__pg_text(&p, node);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st,
                                        "SELECT 1 FROM job_items WHERE id = $1 AND user_id = $2 AND state = 1 AND node "
                                        "= $3 FOR UPDATE",
                                        &p, &r, "finishing an item", NULL);
    if (status != FR_OK) return status;
    bool mine = PQntuples(r) == 1;
    PQclear(r);
    if (!mine)
        return fr__store_fail(FR_ERR_NOT_FOUND, "item %lld is no longer held by %s", (long long)item->id, node);
    int64_t now = fr__store_now_ms();
    if (!error) {
        int64_t image = 0;
        bool fresh = false;
        status = upsert_image(st, item->user, img, &image, &fresh);
        if (status == FR_OK && !fresh) {
            if (skipped) *skipped = true;
            n = 0;
        }
        for (int32_t i = 0; status == FR_OK && i < n; i++)
            status = insert_face(st, item->user, 0, image, &faces[i], now / 1000, ids_out ? &ids_out[i] : NULL);
    }
    struct fr__pg_params q = {0};
    fr__pg_i64(&q, item->id);
    fr__pg_i64(&q, error ? 3 : 2);
    if (error) fr__pg_text_cut(&q, error, ERROR_MAX);
    else fr__pg_null(&q);
    fr__pg_i64(&q, error ? 0 : n);
    fr__pg_i64(&q, now);
    if (status == FR_OK)
        status = fr__pg_exec(st, "UPDATE job_items SET state = $2, error = $3, faces = $4, finished = $5 WHERE id = $1",
                             &q, NULL, "finishing an item", NULL);
    struct fr__pg_params j = {0};
    fr__pg_i64(&j, item->job);
    fr__pg_i64(&j, error ? 0 : 1);
    fr__pg_i64(&j, error ? 1 : 0);
    fr__pg_i64(&j, now / 1000);
    if (status == FR_OK)
        status = fr__pg_exec(st,
                             "UPDATE jobs SET done = done + $2, failed = failed + $3, updated = $4, state = CASE WHEN "
                             "state = 0 AND done + $2 + failed + $3 >= total THEN 1 ELSE state END WHERE id = $1",
                             &j, NULL, "counting an item", NULL);
    return status;
}

enum fr_status fr__pg_queue_finish(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                   const struct fr_store_image *img, const struct fr_store_new_face *faces, int32_t n,
                                   const char *error, int64_t *ids_out, bool *skipped) {
    if (skipped) *skipped = false;
    if (!fr__store_valid_node(node) || !item || (!error && !img) || n < 0 || (n > 0 && !faces))
        return fr__store_fail(FR_ERR_INVALID, "bad item to finish");
    if (!error && !faces_ok(faces, n)) return fr__store_fail(FR_ERR_INVALID, "a face has no descriptor");
    fr__store_lock(st);
    enum fr_status status = error ? fr__pg_begin(st) : fr__pg_begin_user(st, item->user);
    if (status == FR_OK) {
        status = finish_locked(st, node, item, img, faces, n, error, ids_out, skipped);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK && skipped) *skipped = false;
    return status;
}

enum fr_status fr__pg_job_cancel(struct fr_store *st, int64_t user, int64_t id) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin(st);
    if (status == FR_OK) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, id);
        PGresult *r;
        status = fr__pg_exec(st, "SELECT 1 FROM jobs WHERE user_id = $1 AND id = $2 FOR UPDATE", &p, &r,
                             "looking up a job", NULL);
        if (status == FR_OK) {
            if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no job %lld", (long long)id);
            PQclear(r);
        }
        fr__pg_i64(&p, fr__store_now());
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE jobs SET state = 3, updated = $3 WHERE user_id = $1 AND id = $2 AND "
                                     "state = 0",
                                 &p, NULL, "cancelling a job", NULL);
        struct fr__pg_params q = {0};
        fr__pg_i64(&q, id);
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE job_items SET state = 4 WHERE job_id = $1 AND state = 0", &q, NULL,
                                 "cancelling a job", NULL);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

static void read_failure(const PGresult *r, int row, void *out) {
    struct fr_store_job_failure *f = out;
    fr__pg_col_text(r, row, 0, f->path, sizeof(f->path));
    fr__pg_col_text(r, row, 1, f->error, sizeof(f->error));
}

static void read_node(const PGresult *r, int row, void *out) {
    struct fr_store_job_node *nd = out;
    fr__pg_col_text(r, row, 0, nd->node, sizeof(nd->node));
    nd->done = fr__pg_col_i64(r, row, 1);
    nd->failed = fr__pg_col_i64(r, row, 2);
    nd->first_ms = fr__pg_col_i64(r, row, 3);
    nd->last_ms = fr__pg_col_i64(r, row, 4);
}

/* A list about one job of the user: FR_ERR_NOT_FOUND if it is not theirs. */
static enum fr_status job_rows(struct fr_store *st, int64_t user, int64_t id, const char *sql, int32_t limit,
                               size_t elem, fr__pg_row_fn read, void **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_i64(&p, id);
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT 1 FROM jobs WHERE user_id = $1 AND id = $2", &p, &r, "looking up a job", NULL);
    if (status == FR_OK) {
        if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no job %lld", (long long)id);
        PQclear(r);
    }
    struct fr__pg_params q = {0};
    fr__pg_i64(&q, id);
    fr__pg_i64(&q, limit);
    if (status == FR_OK) status = fr__pg_collect(st, sql, &q, elem, read, "reading a job", out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_job_failures(struct fr_store *st, int64_t user, int64_t id, int32_t limit,
                                   struct fr_store_job_failure **out, int32_t *n) {
    if (limit <= 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    return job_rows(st, user, id,
                    "SELECT path, coalesce(error, '') FROM job_items WHERE job_id = $1 AND state = 3 ORDER BY id "
                    "LIMIT $2",
                    limit, sizeof(**out), read_failure, (void **)out, n);
}

enum fr_status fr__pg_job_nodes(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job_node **out,
                                int32_t *n) {
    return job_rows(st, user, id,
                    "SELECT node, count(*) FILTER (WHERE state = 2), count(*) FILTER (WHERE state = 3), "
                    "min(claimed), max(finished) FROM job_items WHERE job_id = $1 AND state IN (2, 3) AND $2 > 0 "
                    "GROUP BY node ORDER BY node COLLATE \"C\"",
                    1, sizeof(**out), read_node, (void **)out, n);
}
