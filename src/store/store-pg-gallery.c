/* The PostgreSQL store's per-user rows: people, images, faces and jobs.
 * The same rules as the SQLite store's (people.c): every query names the
 * user, another user's row answers FR_ERR_NOT_FOUND as a missing one
 * does, every write is one transaction. Writes to a gallery lock the
 * user's row first (fr__pg_begin_user), so one user's writes from all
 * nodes are serialised and each can report the gallery_version it
 * started from. The checks and row readers are store-common.c's. */
#include <stdio.h>
#include <string.h>

#include "store/store-pg-impl.h"

/* Runs a command; FR_ERR_NOT_FOUND (with `what`) when it touched no row. */
static enum fr_status exec_one(struct fr_store *st, const char *sql, const struct fr__pg_params *p, const char *what) {
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, NULL);
    if (status != FR_OK) return status;
    if (fr__pg_changes(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s: not found", what);
    PQclear(r);
    return status;
}

/* FR_OK when sql ($1 user, $2 row id; only $1 when n is 1) finds a row,
 * else FR_ERR_NOT_FOUND "no <noun> <id>". */
static enum fr_status row_exists(struct fr_store *st, const char *sql, int n, int64_t user, int64_t id,
                                 const char *noun) {
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    p.n = n;
    PGresult *r;
    char what[FR__STORE_MSG_LEN];
    snprintf(what, sizeof(what), "looking up a %s", noun);
    enum fr_status status = fr__pg_exec(st, sql, &p, &r, what, NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no %s %lld", noun, (long long)id);
    PQclear(r);
    return status;
}

static enum fr_status person_exists(struct fr_store *st, int64_t user, int64_t id) {
    if (id <= 0) return fr__store_fail(FR_ERR_NOT_FOUND, "no person %lld", (long long)id);
    return row_exists(st, "SELECT 1 FROM people WHERE user_id = $1 AND id = $2", 2, user, id, "person");
}

static enum fr_status user_exists(struct fr_store *st, int64_t user) {
    return row_exists(st, "SELECT 1 FROM users WHERE id = $1", 1, user, user, "user");
}

/* Reads the one row of sql ($1 user, $2 row id): FR_ERR_NOT_FOUND "no
 * <noun> <id>" when there is none. */
enum fr_status fr__pg_get_row(struct fr_store *st, const char *sql, int64_t user, int64_t id, fr__store_read_fn read,
                              const char *noun, void *out) {
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    char missing[FR__STORE_MSG_LEN], what[FR__STORE_MSG_LEN];
    fr__store_row_msgs(noun, id, missing, what);
    fr__store_lock(st);
    enum fr_status status = fr__pg_one(st, sql, &p, read, out, missing, what);
    fr__store_unlock(st);
    return status;
}

/* Runs sql, which writes one of the user's rows, in a transaction of its
 * own that locks the user: FR_ERR_NOT_FOUND if it touched none. */
static enum fr_status write_one(struct fr_store *st, int64_t user, const char *sql, const struct fr__pg_params *p,
                                const char *what) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    if (status == FR_OK) status = fr__pg_end(st, exec_one(st, sql, p, what));
    fr__store_unlock(st);
    return status;
}

/* Runs an INSERT ... RETURNING id; *id (may be NULL) gets the new row's
 * id. With user > 0, a row of a missing user (its foreign key) is
 * FR_ERR_NOT_FOUND "no user <user>". */
static enum fr_status insert_row(struct fr_store *st, const char *sql, const struct fr__pg_params *p, int64_t user,
                                 const char *what, int64_t *id) {
    PGresult *r;
    char state[6];
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, state);
    if (status != FR_OK && user > 0 && !strcmp(state, FR__PG_FOREIGN_KEY))
        return fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
    if (status == FR_OK) {
        if (id) *id = fr__pg_col_i64(r, 0, 0);
        PQclear(r);
    }
    return status;
}

/* Marks the person as updated now. */
static enum fr_status touch_person(struct fr_store *st, int64_t user, int64_t id) {
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    fr__pg_i64(&p, fr__store_now());
    return fr__pg_exec(st, "UPDATE people SET updated = $3 WHERE user_id = $1 AND id = $2", &p, NULL,
                       "updating a person", NULL);
}

/* ---- people ---- */

enum fr_status fr__pg_person_add(struct fr_store *st, int64_t user, const char *name, int64_t *id) {
    enum fr_status status = fr__store_check_name(name);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        status = user_exists(st, user);
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_text(&p, name);
        fr__pg_i64(&p, fr__store_now());
        if (status == FR_OK)
            status = insert_row(st, "INSERT INTO people(user_id, name, created, updated) VALUES($1, $2, $3, $3) "
                                    "RETURNING id",
                                &p, user, "adding a person", id);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_person_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_person *out) {
    return fr__pg_get_row(st, FR__STORE_PERSON_SELECT " WHERE p.user_id = $1 AND p.id = $2", user, id,
                          fr__store_read_person, "person", out);
}

enum fr_status fr__pg_person_list(struct fr_store *st, int64_t user, int64_t after_id, int32_t limit,
                                  struct fr_store_person **out, int32_t *n) {
    enum fr_status status = fr__store_start_list(out, n, limit);
    if (status != FR_OK) return status;
    struct fr__pg_params p;
    fr__pg_ids(&p, user, after_id);
    fr__pg_i64(&p, limit);
    fr__store_lock(st);
    status = fr__pg_collect(st, FR__STORE_PERSON_SELECT " WHERE p.user_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3",
                            &p, sizeof(**out), fr__store_read_person, "listing people", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_person_rename(struct fr_store *st, int64_t user, int64_t id, const char *name) {
    enum fr_status status = fr__store_check_name(name);
    if (status != FR_OK) return status;
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    fr__pg_text(&p, name);
    fr__pg_i64(&p, fr__store_now());
    return write_one(st, user, "UPDATE people SET name = $3, updated = $4 WHERE user_id = $1 AND id = $2", &p,
                     "renaming a person");
}

enum fr_status fr__pg_person_delete(struct fr_store *st, int64_t user, int64_t id, int64_t *n_faces_out) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin_user(st, user);
    int64_t nf = 0;
    if (status == FR_OK) {
        status = person_exists(st, user, id);
        struct fr__pg_params p;
        fr__pg_ids(&p, user, id);
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
    enum fr_status status = fr__store_check_merge(into, from);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        status = person_exists(st, user, into);
        if (status == FR_OK) status = person_exists(st, user, from);
        struct fr__pg_params p;
        fr__pg_ids(&p, user, from);
        fr__pg_i64(&p, into);
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE faces SET person_id = $3 WHERE user_id = $1 AND person_id = $2", &p, NULL,
                                 "moving faces", NULL);
        p.n = 2;
        if (status == FR_OK)
            status = exec_one(st, "DELETE FROM people WHERE user_id = $1 AND id = $2", &p, "deleting the merged person");
        if (status == FR_OK) status = touch_person(st, user, into);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* ---- images ---- */

static enum fr_status find_image(struct fr_store *st, int64_t user, const uint8_t *sha256,
                                 struct fr_store_image *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_bytes(&p, sha256, FR_STORE_HASH_LEN);
    return fr__pg_one(st, FR__STORE_IMAGE_SELECT " WHERE user_id = $1 AND sha256 = $2", &p, fr__store_read_image, out,
                      "no image with that hash", "looking up an image");
}

enum fr_status fr__pg_image_find(struct fr_store *st, int64_t user, const uint8_t sha256[FR_STORE_HASH_LEN],
                                 struct fr_store_image *out) {
    fr__store_lock(st);
    enum fr_status status = find_image(st, user, sha256, out);
    fr__store_unlock(st);
    return status;
}

/* Concurrent inserts of one hash by two nodes meet at the unique
 * constraint: the loser reuses the winner's row. */
enum fr_status fr__pg_upsert_image(struct fr_store *st, int64_t user, const struct fr_store_image *img, int64_t *id,
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

enum fr_status fr__pg_insert_face(struct fr_store *st, int64_t user, int64_t person, int64_t image,
                                  const struct fr_store_new_face *nf, int64_t now, int64_t *id) {
    const struct fr_face *f = nf->face;
    struct fr__store_face_blobs b;
    fr__store_face_blobs(f, &b);
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    if (person > 0) fr__pg_i64(&p, person);
    else fr__pg_null(&p);
    if (image > 0) fr__pg_i64(&p, image);
    else fr__pg_null(&p);
    for (int k = 0; k < 4; k++) fr__pg_f64(&p, f->box[k]);
    fr__pg_f64(&p, f->score);
    if (f->has_landmarks) fr__pg_bytes(&p, b.landmarks, sizeof(b.landmarks));
    else fr__pg_null(&p);
    fr__pg_bytes(&p, b.embedding, sizeof(b.embedding));
    if (nf->thumbnail && nf->thumbnail_len > 0) fr__pg_bytes(&p, nf->thumbnail, nf->thumbnail_len);
    else fr__pg_null(&p);
    fr__pg_i64(&p, now);
    /* No user to blame for a foreign key: the caller checked every key in
     * this transaction. */
    return insert_row(st,
                      "INSERT INTO faces(user_id, person_id, image_id, box_x, box_y, box_w, box_h, score, landmarks, "
                      "embedding, thumbnail, created) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                      "RETURNING id",
                      &p, 0, "adding a face", id);
}

enum fr_status fr__pg_faces_add(struct fr_store *st, int64_t user, int64_t person, const struct fr_store_image *img,
                                const struct fr_store_new_face *faces, int32_t n, int64_t *ids_out,
                                int64_t *image_id) {
    enum fr_status status = fr__store_check_faces(faces, n, person);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    int64_t img_id = 0, now = fr__store_now();
    status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        status = person > 0 ? person_exists(st, user, person) : user_exists(st, user);
        if (status == FR_OK && img) status = fr__pg_upsert_image(st, user, img, &img_id, NULL);
        for (int32_t i = 0; status == FR_OK && i < n; i++)
            status = fr__pg_insert_face(st, user, person, img_id, &faces[i], now, ids_out ? &ids_out[i] : NULL);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && image_id) *image_id = img_id;
    return status;
}

enum fr_status fr__pg_face_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_face *out) {
    return fr__pg_get_row(st, FR__STORE_FACE_SELECT " WHERE user_id = $1 AND id = $2", user, id, fr__store_read_face,
                          "face", out);
}

enum fr_status fr__pg_face_list(struct fr_store *st, int64_t user, int64_t person, int64_t after_id, int32_t limit,
                                struct fr_store_face **out, int32_t *n) {
    enum fr_status status = fr__store_start_list(out, n, person < 0 ? 0 : limit);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = person > 0 ? person_exists(st, user, person) : FR_OK;
    if (status == FR_OK) {
        struct fr__pg_params p;
        fr__pg_ids(&p, user, person);
        fr__pg_i64(&p, after_id);
        fr__pg_i64(&p, limit);
        status = fr__pg_collect(st,
                                person > 0 ? FR__STORE_FACE_SELECT " WHERE user_id = $1 AND person_id = $2 AND id > $3 "
                                                                   "ORDER BY id LIMIT $4"
                                           : FR__STORE_FACE_SELECT " WHERE user_id = $1 AND person_id IS NULL AND $2 = 0 "
                                                                   "AND id > $3 ORDER BY id LIMIT $4",
                                &p, sizeof(**out), fr__store_read_face, "listing faces", (void **)out, n);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_delete(struct fr_store *st, int64_t user, int64_t id) {
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    return write_one(st, user, "DELETE FROM faces WHERE user_id = $1 AND id = $2", &p, "deleting a face");
}

enum fr_status fr__pg_face_assign(struct fr_store *st, int64_t user, const int64_t *ids, int32_t n, int64_t person) {
    enum fr_status status = fr__store_check_assign(ids, n, person);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__pg_begin_user(st, user);
    if (status == FR_OK) {
        if (person > 0) status = person_exists(st, user, person);
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            struct fr__pg_params p;
            fr__pg_ids(&p, user, ids[i]);
            if (person > 0) fr__pg_i64(&p, person);
            else fr__pg_null(&p);
            status = exec_one(st, "UPDATE faces SET person_id = $3 WHERE user_id = $1 AND id = $2", &p,
                              "assigning a face");
        }
        if (status == FR_OK && person > 0) status = touch_person(st, user, person);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_face_thumbnail(struct fr_store *st, int64_t user, int64_t id, void **jpeg, size_t *len) {
    *jpeg = NULL;
    *len = 0;
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, "SELECT thumbnail FROM faces WHERE user_id = $1 AND id = $2", &p, &r,
                                        "reading a thumbnail", NULL);
    if (status == FR_OK) {
        if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no face %lld", (long long)id);
        else {
            size_t bn = 0;
            struct fr__store_row row = fr__pg_row(r, 0);
            const void *b = row.i->bytes(&row, 0, &bn);
            status = fr__store_copy_thumbnail(b, bn, id, jpeg, len);
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
            struct fr__store_row row = fr__pg_row(r, i);
            fr__store_row_floats(&row, 2, emb, FR_DESCRIPTOR_DIM);
            if (!fn(fr__pg_col_i64(r, i, 0), fr__pg_col_i64(r, i, 1), emb, ctx)) break;
        }
        PQclear(r);
    }
    fr__store_unlock(st);
    return status;
}

/* ---- jobs ---- */

enum fr_status fr__pg_job_start(struct fr_store *st, int64_t user, const char *kind, const char *detail, int64_t total,
                                int64_t *id) {
    enum fr_status status = fr__store_check_job(kind, total);
    if (status != FR_OK) return status;
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_text(&p, kind);
    fr__pg_i64(&p, total);
    fr__pg_text_cut(&p, detail ? detail : "", FR__STORE_DETAIL_MAX);
    fr__pg_i64(&p, fr__store_now());
    fr__store_lock(st);
    status = insert_row(st,
                        "INSERT INTO jobs(user_id, kind, state, total, done, failed, detail, created, updated) "
                        "VALUES($1, $2, 0, $3, 0, 0, $4, $5, $5) RETURNING id",
                        &p, user, "starting a job", id);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_job_update(struct fr_store *st, int64_t user, int64_t id, enum fr_store_job_state state,
                                 int64_t done, int64_t failed, const char *detail) {
    enum fr_status status = fr__store_check_job_update(state, done, failed);
    if (status != FR_OK) return status;
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    fr__pg_i64(&p, (int)state);
    fr__pg_i64(&p, done);
    fr__pg_i64(&p, failed);
    if (detail) fr__pg_text_cut(&p, detail, FR__STORE_DETAIL_MAX);
    else fr__pg_null(&p);
    fr__pg_i64(&p, fr__store_now());
    fr__store_lock(st);
    status = exec_one(st,
                      "UPDATE jobs SET state = $3, done = $4, failed = $5, detail = coalesce($6, detail), updated = $7 "
                      "WHERE user_id = $1 AND id = $2",
                      &p, "updating a job");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_job_list(struct fr_store *st, int64_t user, int32_t limit, struct fr_store_job **out,
                               int32_t *n) {
    enum fr_status status = fr__store_start_list(out, n, limit);
    if (status != FR_OK) return status;
    struct fr__pg_params p;
    fr__pg_ids(&p, user, limit);
    fr__store_lock(st);
    status = fr__pg_collect(st, FR__STORE_JOB_SELECT " WHERE user_id = $1 ORDER BY id DESC LIMIT $2", &p,
                            sizeof(**out), fr__store_read_job, "listing jobs", (void **)out, n);
    fr__store_unlock(st);
    return status;
}
