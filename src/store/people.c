/* The store's per-user rows: people, images, faces and jobs. Every query
 * names the user, so another user's row is indistinguishable from a
 * missing one. */
#include <string.h>

#include "store/store-impl.h"

/* Reads the one row of the user's statement id (?1 user, ?2 row id):
 * FR_ERR_NOT_FOUND "no <noun> <row>" when there is none. */
static enum fr_status get_row(struct fr_store *st, enum fr__store_stmt id, int64_t user, int64_t row,
                              fr__store_read_fn read, const char *noun, void *out) {
    char missing[FR__STORE_MSG_LEN], what[FR__STORE_MSG_LEN];
    fr__store_row_msgs(noun, row, missing, what);
    fr__store_lock(st);
    enum fr_status status = fr__store_read_one(st, fr__sq_stmt_ids(st, id, user, row), read, out, missing, what);
    fr__store_unlock(st);
    return status;
}

/* FR_OK if the user has that person, FR_ERR_NOT_FOUND if not. */
static enum fr_status person_exists(struct fr_store *st, int64_t user, int64_t id) {
    if (id <= 0) return fr__store_fail(FR_ERR_NOT_FOUND, "no person %lld", (long long)id);
    sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_PERSON_EXISTS, user, id);
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_DONE) status = fr__store_fail(FR_ERR_NOT_FOUND, "no person %lld", (long long)id);
    else if (rc != SQLITE_ROW) status = fr__store_db_fail(st, rc, "looking up a person");
    sqlite3_reset(s);
    return status;
}

/* Runs an UPDATE or DELETE scoped to one row; FR_ERR_NOT_FOUND if it
 * touched none. */
static enum fr_status exec_one(struct fr_store *st, sqlite3_stmt *s, const char *what) {
    enum fr_status status = fr__store_exec(st, s, what);
    if (status == FR_OK && sqlite3_changes(st->db) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s: not found", what);
    return status;
}

/* Runs the bound statement s, which writes one row, in a transaction of
 * its own (the lock is held): FR_ERR_NOT_FOUND if it touched none. */
static enum fr_status write_one(struct fr_store *st, sqlite3_stmt *s, const char *what) {
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) status = fr__store_end(st, exec_one(st, s, what));
    return status;
}

/* Runs the bound INSERT s of the user's row in a transaction of its own
 * (the lock is held); *id (may be NULL) gets the new row's id. */
static enum fr_status insert_one(struct fr_store *st, sqlite3_stmt *s, int64_t user, const char *what, int64_t *id) {
    enum fr_status status = fr__store_begin(st);
    if (status != FR_OK) return status;
    status = fr__sq_no_user(st, fr__store_exec(st, s, what), user);
    if (status == FR_OK && id) *id = sqlite3_last_insert_rowid(st->db);
    return fr__store_end(st, status);
}

enum fr_status fr__sq_no_user(struct fr_store *st, enum fr_status status, int64_t user) {
    /* A user that does not exist fails the foreign key. */
    if (status == FR_ERR_IO && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
    return status;
}

/* Marks the person as updated now. */
static enum fr_status touch_person(struct fr_store *st, int64_t user, int64_t id) {
    sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_PERSON_TOUCH, user, id);
    sqlite3_bind_int64(s, 3, fr__store_now());
    return fr__store_exec(st, s, "updating a person");
}

/* ---- people ---- */

enum fr_status fr__sq_person_add(struct fr_store *st, int64_t user, const char *name, int64_t *id) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_name(name);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_INSERT);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, fr__store_now());
    status = insert_one(st, s, user, "adding a person", id);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_person_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_person *out) {
    FR_ASSERT(st && out);
    return get_row(st, FR__STMT_PERSON_GET, user, id, fr__store_read_person, "person", out);
}

enum fr_status fr__sq_person_list(struct fr_store *st, int64_t user, int64_t after_id, int32_t limit,
                                  struct fr_store_person **out, int32_t *n) {
    FR_ASSERT(st && out && n);
    enum fr_status status = fr__store_start_list(out, n, limit);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_PERSON_LIST, user, after_id);
    sqlite3_bind_int(s, 3, limit);
    status = fr__store_collect(st, s, sizeof(**out), fr__store_read_person, "listing people", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_person_rename(struct fr_store *st, int64_t user, int64_t id, const char *name) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_name(name);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_PERSON_RENAME, user, id);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, fr__store_now());
    status = write_one(st, s, "renaming a person");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_person_delete(struct fr_store *st, int64_t user, int64_t id, int64_t *n_faces_out) {
    FR_ASSERT(st);
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    int64_t nf = 0;
    if (status == FR_OK) {
        status = person_exists(st, user, id);
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_PERSON_COUNT_FACES, user, id);
            int rc = fr__store_step(st, s);
            if (rc == SQLITE_ROW) nf = sqlite3_column_int64(s, 0);
            else status = fr__store_db_fail(st, rc, "counting faces");
            sqlite3_reset(s);
        }
        /* The faces go with it: ON DELETE CASCADE. */
        if (status == FR_OK)
            status = exec_one(st, fr__sq_stmt_ids(st, FR__STMT_PERSON_DELETE, user, id), "deleting a person");
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && n_faces_out) *n_faces_out = nf;
    return status;
}

enum fr_status fr__sq_person_merge(struct fr_store *st, int64_t user, int64_t into, int64_t from) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_merge(into, from);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__store_begin(st);
    if (status == FR_OK) {
        status = person_exists(st, user, into);
        if (status == FR_OK) status = person_exists(st, user, from);
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_PERSON_MOVE_FACES, user, from);
            sqlite3_bind_int64(s, 3, into);
            status = fr__store_exec(st, s, "moving faces");
        }
        if (status == FR_OK)
            status = exec_one(st, fr__sq_stmt_ids(st, FR__STMT_PERSON_DELETE, user, from), "deleting the merged person");
        if (status == FR_OK) status = touch_person(st, user, into);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* ---- images ---- */

/* The user's image with that hash into *out; FR_ERR_NOT_FOUND if none. */
enum fr_status fr__sq_image_find_locked(struct fr_store *st, int64_t user, const uint8_t *sha256,
                                        struct fr_store_image *out) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_IMAGE_FIND);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_blob(s, 2, sha256, FR_STORE_HASH_LEN, SQLITE_STATIC);
    return fr__store_read_one(st, s, fr__store_read_image, out, "no image with that hash", "looking up an image");
}

enum fr_status fr__sq_image_find(struct fr_store *st, int64_t user, const uint8_t sha256[FR_STORE_HASH_LEN],
                                 struct fr_store_image *out) {
    FR_ASSERT(st && sha256 && out);
    fr__store_lock(st);
    enum fr_status status = fr__sq_image_find_locked(st, user, sha256, out);
    fr__store_unlock(st);
    return status;
}

/* The id of the user's row for img, inserted if it has none yet. */
enum fr_status fr__sq_upsert_image(struct fr_store *st, int64_t user, const struct fr_store_image *img, int64_t *id) {
    struct fr_store_image found;
    enum fr_status status = fr__sq_image_find_locked(st, user, img->sha256, &found);
    if (status == FR_OK) *id = found.id;
    if (status != FR_ERR_NOT_FOUND) return status;
    size_t nlen = strnlen(img->name, sizeof(img->name));
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_IMAGE_INSERT);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_blob(s, 2, img->sha256, FR_STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, img->name, (int)nlen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, img->bytes);
    sqlite3_bind_int(s, 5, img->width);
    sqlite3_bind_int(s, 6, img->height);
    sqlite3_bind_int64(s, 7, fr__store_now());
    status = fr__sq_no_user(st, fr__store_exec(st, s, "adding an image"), user);
    if (status == FR_OK) *id = sqlite3_last_insert_rowid(st->db);
    return status;
}

/* ---- faces ---- */

enum fr_status fr__sq_insert_face(struct fr_store *st, int64_t user, int64_t person, int64_t image,
                                  const struct fr_store_new_face *nf, int64_t now, int64_t *id) {
    const struct fr_face *f = nf->face;
    struct fr__store_face_blobs b;
    fr__store_face_blobs(f, &b);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_INSERT);
    sqlite3_bind_int64(s, 1, user);
    if (person > 0) sqlite3_bind_int64(s, 2, person);
    if (image > 0) sqlite3_bind_int64(s, 3, image);
    for (int k = 0; k < 4; k++) sqlite3_bind_double(s, 4 + k, f->box[k]);
    sqlite3_bind_double(s, 8, f->score);
    if (f->has_landmarks) sqlite3_bind_blob(s, 9, b.landmarks, sizeof(b.landmarks), SQLITE_STATIC);
    sqlite3_bind_blob(s, 10, b.embedding, sizeof(b.embedding), SQLITE_STATIC);
    if (nf->thumbnail && nf->thumbnail_len > 0)
        sqlite3_bind_blob64(s, 11, nf->thumbnail, nf->thumbnail_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 12, now);
    enum fr_status status = fr__store_exec(st, s, "adding a face");
    if (status == FR_OK && id) *id = sqlite3_last_insert_rowid(st->db);
    return status;
}

enum fr_status fr__sq_faces_add(struct fr_store *st, int64_t user, int64_t person, const struct fr_store_image *img,
                                const struct fr_store_new_face *faces, int32_t n, int64_t *ids_out,
                                int64_t *image_id) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_faces(faces, n, person);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    int64_t img_id = 0, now = fr__store_now();
    status = fr__store_begin(st);
    if (status == FR_OK) {
        if (person > 0) status = person_exists(st, user, person);
        if (status == FR_OK && img) status = fr__sq_upsert_image(st, user, img, &img_id);
        for (int32_t i = 0; status == FR_OK && i < n; i++)
            status = fr__sq_insert_face(st, user, person, img_id, &faces[i], now, ids_out ? &ids_out[i] : NULL);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && image_id) *image_id = img_id;
    return status;
}

enum fr_status fr__sq_face_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_face *out) {
    FR_ASSERT(st && out);
    return get_row(st, FR__STMT_FACE_GET, user, id, fr__store_read_face, "face", out);
}

enum fr_status fr__sq_face_list(struct fr_store *st, int64_t user, int64_t person, int64_t after_id, int32_t limit,
                                struct fr_store_face **out, int32_t *n) {
    FR_ASSERT(st && out && n);
    enum fr_status status = fr__store_start_list(out, n, person < 0 ? 0 : limit);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    /* Another user's person lists as not found, not as empty. */
    status = person > 0 ? person_exists(st, user, person) : FR_OK;
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__sq_stmt_ids(st, person > 0 ? FR__STMT_FACE_LIST_PERSON : FR__STMT_FACE_LIST_UNASSIGNED,
                                          user, person);
        sqlite3_bind_int64(s, 3, after_id);
        sqlite3_bind_int(s, 4, limit);
        status = fr__store_collect(st, s, sizeof(**out), fr__store_read_face, "listing faces", (void **)out, n);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_delete(struct fr_store *st, int64_t user, int64_t id) {
    FR_ASSERT(st);
    fr__store_lock(st);
    enum fr_status status = write_one(st, fr__sq_stmt_ids(st, FR__STMT_FACE_DELETE, user, id), "deleting a face");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_assign(struct fr_store *st, int64_t user, const int64_t *ids, int32_t n, int64_t person) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_assign(ids, n, person);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__store_begin(st);
    if (status == FR_OK) {
        if (person > 0) status = person_exists(st, user, person);
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_FACE_ASSIGN, user, ids[i]);
            if (person > 0) sqlite3_bind_int64(s, 3, person);
            status = exec_one(st, s, "assigning a face");
        }
        if (status == FR_OK && person > 0) status = touch_person(st, user, person);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_thumbnail(struct fr_store *st, int64_t user, int64_t id, void **jpeg, size_t *len) {
    FR_ASSERT(st && jpeg && len);
    *jpeg = NULL;
    *len = 0;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_FACE_THUMBNAIL, user, id);
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(s, 0);
        int bn = sqlite3_column_bytes(s, 0);
        status = fr__store_copy_thumbnail(b, b ? (size_t)bn : 0, id, jpeg, len);
    } else if (rc == SQLITE_DONE) status = fr__store_fail(FR_ERR_NOT_FOUND, "no face %lld", (long long)id);
    else status = fr__store_db_fail(st, rc, "reading a thumbnail");
    sqlite3_reset(s);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_scan(struct fr_store *st, int64_t user, fr_store_face_fn fn, void *ctx) {
    FR_ASSERT(st && fn);
    float emb[FR_DESCRIPTOR_DIM];
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_SCAN);
    sqlite3_bind_int64(s, 1, user);
    struct fr__store_row row = fr__sq_row(s);
    int rc;
    while ((rc = fr__store_step(st, s)) == SQLITE_ROW) {
        fr__store_row_floats(&row, 2, emb, FR_DESCRIPTOR_DIM);
        if (!fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), emb, ctx)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    enum fr_status status = rc == SQLITE_DONE ? FR_OK : fr__store_db_fail(st, rc, "scanning faces");
    sqlite3_reset(s);
    fr__store_unlock(st);
    return status;
}

/* ---- jobs ---- */

void fr__sq_bind_cut(sqlite3_stmt *s, int col, const char *text, size_t max) {
    sqlite3_bind_text(s, col, text, (int)fr__store_cut_len(text, max), SQLITE_TRANSIENT);
}

enum fr_status fr__sq_job_start(struct fr_store *st, int64_t user, const char *kind, const char *detail,
                                int64_t total, int64_t *id) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_job(kind, total);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_JOB_INSERT);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, total);
    fr__sq_bind_cut(s, 4, detail ? detail : "", FR__STORE_DETAIL_MAX);
    sqlite3_bind_int64(s, 5, fr__store_now());
    status = insert_one(st, s, user, "starting a job", id);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_job_update(struct fr_store *st, int64_t user, int64_t id, enum fr_store_job_state state,
                                 int64_t done, int64_t failed, const char *detail) {
    FR_ASSERT(st);
    enum fr_status status = fr__store_check_job_update(state, done, failed);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__sq_stmt_ids(st, FR__STMT_JOB_UPDATE, user, id);
    sqlite3_bind_int(s, 3, (int)state);
    sqlite3_bind_int64(s, 4, done);
    sqlite3_bind_int64(s, 5, failed);
    if (detail) fr__sq_bind_cut(s, 6, detail, FR__STORE_DETAIL_MAX);
    sqlite3_bind_int64(s, 7, fr__store_now());
    status = write_one(st, s, "updating a job");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_job_list(struct fr_store *st, int64_t user, int32_t limit, struct fr_store_job **out,
                               int32_t *n) {
    FR_ASSERT(st && out && n);
    enum fr_status status = fr__store_start_list(out, n, limit);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_JOB_LIST);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int(s, 2, limit);
    status = fr__store_collect(st, s, sizeof(**out), fr__store_read_job, "listing jobs", (void **)out, n);
    fr__store_unlock(st);
    return status;
}
