/* The store's per-user rows: people, images, faces and jobs. Every query
 * names the user, so another user's row is indistinguishable from a
 * missing one. */
#include <stdio.h>
#include <string.h>

#include "store/store-impl.h"

#define DETAIL_MAX 255 /* bytes of a job's detail, as struct fr_store_job holds */
#define KIND_MAX 31

/* Floats travel as little-endian float32 in BLOBs, whatever the host. */
static void floats_to_le(const float *in, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &in[i], 4);
        out[4 * i] = (uint8_t)v, out[4 * i + 1] = (uint8_t)(v >> 8);
        out[4 * i + 2] = (uint8_t)(v >> 16), out[4 * i + 3] = (uint8_t)(v >> 24);
    }
}

static void floats_from_le(const uint8_t *in, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 | (uint32_t)in[4 * i + 2] << 16 |
                     (uint32_t)in[4 * i + 3] << 24;
        memcpy(&out[i], &v, 4);
    }
}

/* Copies a float BLOB column of exactly n floats; zeros if it is absent. */
static void column_floats(sqlite3_stmt *s, int col, float *out, size_t n) {
    const void *b = sqlite3_column_blob(s, col);
    if (b && (size_t)sqlite3_column_bytes(s, col) == 4 * n) floats_from_le(b, n, out);
    else memset(out, 0, 4 * n);
}

static enum fr_status bad_name(void) {
    return fr__store_fail(FR_ERR_INVALID, "bad name: 1 to %d bytes of UTF-8 without control characters",
                          FR_STORE_NAME_MAX);
}

/* FR_OK if the user has that person, FR_ERR_NOT_FOUND if not. */
static enum fr_status person_exists(struct fr_store *st, int64_t user, int64_t id) {
    if (id <= 0) return fr__store_fail(FR_ERR_NOT_FOUND, "no person %lld", (long long)id);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_EXISTS);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, id);
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

/* ---- people ---- */

enum fr_status fr__sq_person_add(struct fr_store *st, int64_t user, const char *name, int64_t *id) {
    FR_ASSERT(st);
    if (!fr__store_valid_name(name)) return bad_name();
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_INSERT);
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, fr__store_now());
        status = fr__store_exec(st, s, "adding a person");
        /* A user that does not exist fails the foreign key. */
        if (status == FR_ERR_IO && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
            status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
        if (status == FR_OK && id) *id = sqlite3_last_insert_rowid(st->db);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

static void read_person(sqlite3_stmt *s, void *row) {
    struct fr_store_person *p = row;
    memset(p, 0, sizeof(*p));
    p->id = sqlite3_column_int64(s, 0);
    const char *name = (const char *)sqlite3_column_text(s, 1);
    snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
    p->created = sqlite3_column_int64(s, 2);
    p->updated = sqlite3_column_int64(s, 3);
    p->n_faces = sqlite3_column_int64(s, 4);
}

enum fr_status fr__sq_person_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_person *out) {
    FR_ASSERT(st && out);
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_GET);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, id);
    char missing[48];
    snprintf(missing, sizeof(missing), "no person %lld", (long long)id);
    enum fr_status status = fr__store_read_one(st, s, read_person, out, missing, "reading a person");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_person_list(struct fr_store *st, int64_t user, int64_t after_id, int32_t limit,
                                    struct fr_store_person **out, int32_t *n) {
    FR_ASSERT(st && out && n);
    *out = NULL;
    *n = 0;
    if (limit <= 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_LIST);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int(s, 3, limit);
    enum fr_status status = fr__store_collect(st, s, sizeof(**out), read_person, "listing people", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_person_rename(struct fr_store *st, int64_t user, int64_t id, const char *name) {
    FR_ASSERT(st);
    if (!fr__store_valid_name(name)) return bad_name();
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_RENAME);
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_int64(s, 2, id);
        sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, fr__store_now());
        status = exec_one(st, s, "renaming a person");
        status = fr__store_end(st, status);
    }
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
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_COUNT_FACES);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, id);
            int rc = fr__store_step(st, s);
            if (rc == SQLITE_ROW) nf = sqlite3_column_int64(s, 0);
            else status = fr__store_db_fail(st, rc, "counting faces");
            sqlite3_reset(s);
        }
        if (status == FR_OK) {
            /* The faces go with it: ON DELETE CASCADE. */
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_DELETE);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, id);
            status = exec_one(st, s, "deleting a person");
        }
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && n_faces_out) *n_faces_out = nf;
    return status;
}

enum fr_status fr__sq_person_merge(struct fr_store *st, int64_t user, int64_t into, int64_t from) {
    FR_ASSERT(st);
    if (into == from) return fr__store_fail(FR_ERR_INVALID, "cannot merge a person into itself");
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        status = person_exists(st, user, into);
        if (status == FR_OK) status = person_exists(st, user, from);
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_MOVE_FACES);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, from);
            sqlite3_bind_int64(s, 3, into);
            status = fr__store_exec(st, s, "moving faces");
        }
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_DELETE);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, from);
            status = exec_one(st, s, "deleting the merged person");
        }
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_TOUCH);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, into);
            sqlite3_bind_int64(s, 3, fr__store_now());
            status = fr__store_exec(st, s, "updating a person");
        }
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* ---- images ---- */

static void read_image(sqlite3_stmt *s, void *row) {
    struct fr_store_image *im = row;
    memset(im, 0, sizeof(*im));
    im->id = sqlite3_column_int64(s, 0);
    const void *h = sqlite3_column_blob(s, 1);
    if (h && sqlite3_column_bytes(s, 1) == FR_STORE_HASH_LEN) memcpy(im->sha256, h, FR_STORE_HASH_LEN);
    const char *name = (const char *)sqlite3_column_text(s, 2);
    snprintf(im->name, sizeof(im->name), "%s", name ? name : "");
    im->bytes = sqlite3_column_int64(s, 3);
    im->width = sqlite3_column_int(s, 4);
    im->height = sqlite3_column_int(s, 5);
    im->created = sqlite3_column_int64(s, 6);
}

/* The user's image with that hash into *out; FR_ERR_NOT_FOUND if none. */
enum fr_status fr__sq_image_find_locked(struct fr_store *st, int64_t user, const uint8_t *sha256,
                                 struct fr_store_image *out) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_IMAGE_FIND);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_blob(s, 2, sha256, FR_STORE_HASH_LEN, SQLITE_STATIC);
    return fr__store_read_one(st, s, read_image, out, "no image with that hash", "looking up an image");
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
    status = fr__store_exec(st, s, "adding an image");
    if (status == FR_ERR_IO && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
    if (status == FR_OK) *id = sqlite3_last_insert_rowid(st->db);
    return status;
}

/* ---- faces ---- */

enum fr_status fr__sq_insert_face(struct fr_store *st, int64_t user, int64_t person, int64_t image,
                                  const struct fr_store_new_face *nf, int64_t now, int64_t *id) {
    const struct fr_face *f = nf->face;
    uint8_t emb[4 * FR_DESCRIPTOR_DIM], lm[4 * 2 * FR_LANDMARKS];
    floats_to_le(f->descriptor, FR_DESCRIPTOR_DIM, emb);
    if (f->has_landmarks) floats_to_le(&f->landmarks[0][0], 2 * FR_LANDMARKS, lm);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_INSERT);
    sqlite3_bind_int64(s, 1, user);
    if (person > 0) sqlite3_bind_int64(s, 2, person);
    if (image > 0) sqlite3_bind_int64(s, 3, image);
    for (int k = 0; k < 4; k++) sqlite3_bind_double(s, 4 + k, f->box[k]);
    sqlite3_bind_double(s, 8, f->score);
    if (f->has_landmarks) sqlite3_bind_blob(s, 9, lm, sizeof(lm), SQLITE_STATIC);
    sqlite3_bind_blob(s, 10, emb, sizeof(emb), SQLITE_STATIC);
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
    if (n < 0 || (n > 0 && !faces) || person < 0) return fr__store_fail(FR_ERR_INVALID, "bad face list");
    for (int32_t i = 0; i < n; i++)
        if (!faces[i].face || !faces[i].face->has_descriptor)
            return fr__store_fail(FR_ERR_INVALID, "face %d has no descriptor", (int)i);
    fr__store_lock(st);
    int64_t img_id = 0, now = fr__store_now();
    enum fr_status status = fr__store_begin(st);
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

static void read_face(sqlite3_stmt *s, void *row) {
    struct fr_store_face *f = row;
    memset(f, 0, sizeof(*f));
    f->id = sqlite3_column_int64(s, 0);
    f->person = sqlite3_column_int64(s, 1); /* NULL reads as 0 */
    f->image = sqlite3_column_int64(s, 2);
    for (int k = 0; k < 4; k++) f->box[k] = (float)sqlite3_column_double(s, 3 + k);
    f->score = (float)sqlite3_column_double(s, 7);
    column_floats(s, 8, &f->landmarks[0][0], 2 * FR_LANDMARKS);
    column_floats(s, 9, f->embedding, FR_DESCRIPTOR_DIM);
    f->created = sqlite3_column_int64(s, 10);
}

enum fr_status fr__sq_face_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_face *out) {
    FR_ASSERT(st && out);
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_GET);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, id);
    char missing[48];
    snprintf(missing, sizeof(missing), "no face %lld", (long long)id);
    enum fr_status status = fr__store_read_one(st, s, read_face, out, missing, "reading a face");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_list(struct fr_store *st, int64_t user, int64_t person, int64_t after_id, int32_t limit,
                                  struct fr_store_face **out, int32_t *n) {
    FR_ASSERT(st && out && n);
    *out = NULL;
    *n = 0;
    if (limit <= 0 || person < 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    fr__store_lock(st);
    /* Another user's person lists as not found, not as empty. */
    enum fr_status status = person > 0 ? person_exists(st, user, person) : FR_OK;
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__store_stmt(st, person > 0 ? FR__STMT_FACE_LIST_PERSON : FR__STMT_FACE_LIST_UNASSIGNED);
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_int64(s, 2, person);
        sqlite3_bind_int64(s, 3, after_id);
        sqlite3_bind_int(s, 4, limit);
        status = fr__store_collect(st, s, sizeof(**out), read_face, "listing faces", (void **)out, n);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_delete(struct fr_store *st, int64_t user, int64_t id) {
    FR_ASSERT(st);
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_DELETE);
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_int64(s, 2, id);
        status = exec_one(st, s, "deleting a face");
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_face_assign(struct fr_store *st, int64_t user, const int64_t *ids, int32_t n, int64_t person) {
    FR_ASSERT(st);
    if (n < 0 || (n > 0 && !ids) || person < 0) return fr__store_fail(FR_ERR_INVALID, "bad face list");
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        if (person > 0) status = person_exists(st, user, person);
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_ASSIGN);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, ids[i]);
            if (person > 0) sqlite3_bind_int64(s, 3, person);
            status = exec_one(st, s, "assigning a face");
        }
        if (status == FR_OK && person > 0) {
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_PERSON_TOUCH);
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int64(s, 2, person);
            sqlite3_bind_int64(s, 3, fr__store_now());
            status = fr__store_exec(st, s, "updating a person");
        }
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
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_FACE_THUMBNAIL);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, id);
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(s, 0);
        int bn = sqlite3_column_bytes(s, 0);
        if (!b || bn <= 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "face %lld has no thumbnail", (long long)id);
        else if (!(*jpeg = fr_malloc((size_t)bn))) status = fr__store_fail(FR_ERR_NOMEM, "out of memory");
        else {
            memcpy(*jpeg, b, (size_t)bn);
            *len = (size_t)bn;
        }
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
    int rc;
    while ((rc = fr__store_step(st, s)) == SQLITE_ROW) {
        column_floats(s, 2, emb, FR_DESCRIPTOR_DIM);
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

/* Binds text cut to at most max bytes, at a UTF-8 character boundary. */
void fr__sq_bind_cut(sqlite3_stmt *s, int col, const char *text, size_t max) {
    size_t n = strnlen(text, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80) n--;
    }
    sqlite3_bind_text(s, col, text, (int)n, SQLITE_TRANSIENT);
}

enum fr_status fr__sq_job_start(struct fr_store *st, int64_t user, const char *kind, const char *detail,
                                  int64_t total, int64_t *id) {
    FR_ASSERT(st);
    if (!kind || !*kind || strnlen(kind, KIND_MAX + 1) > KIND_MAX || total < 0)
        return fr__store_fail(FR_ERR_INVALID, "bad job kind or total");
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_JOB_INSERT);
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, total);
        fr__sq_bind_cut(s, 4, detail ? detail : "", DETAIL_MAX);
        sqlite3_bind_int64(s, 5, fr__store_now());
        status = fr__store_exec(st, s, "starting a job");
        if (status == FR_ERR_IO && sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
            status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
        if (status == FR_OK && id) *id = sqlite3_last_insert_rowid(st->db);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_job_update(struct fr_store *st, int64_t user, int64_t id, enum fr_store_job_state state,
                                   int64_t done, int64_t failed, const char *detail) {
    FR_ASSERT(st);
    if ((int)state < FR_STORE_JOB_RUNNING || (int)state > FR_STORE_JOB_CANCELLED || done < 0 || failed < 0)
        return fr__store_fail(FR_ERR_INVALID, "bad job state or counts");
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_JOB_UPDATE);
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_int64(s, 2, id);
        sqlite3_bind_int(s, 3, (int)state);
        sqlite3_bind_int64(s, 4, done);
        sqlite3_bind_int64(s, 5, failed);
        if (detail) fr__sq_bind_cut(s, 6, detail, DETAIL_MAX);
        sqlite3_bind_int64(s, 7, fr__store_now());
        status = exec_one(st, s, "updating a job");
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

void fr__sq_read_job(sqlite3_stmt *s, void *row) {
    struct fr_store_job *j = row;
    memset(j, 0, sizeof(*j));
    j->id = sqlite3_column_int64(s, 0);
    const char *kind = (const char *)sqlite3_column_text(s, 1);
    snprintf(j->kind, sizeof(j->kind), "%s", kind ? kind : "");
    int state = sqlite3_column_int(s, 2);
    j->state = state == 1   ? FR_STORE_JOB_DONE
               : state == 2 ? FR_STORE_JOB_FAILED
               : state == 3 ? FR_STORE_JOB_CANCELLED
                            : FR_STORE_JOB_RUNNING;
    j->total = sqlite3_column_int64(s, 3);
    j->done = sqlite3_column_int64(s, 4);
    j->failed = sqlite3_column_int64(s, 5);
    const char *detail = (const char *)sqlite3_column_text(s, 6);
    snprintf(j->detail, sizeof(j->detail), "%s", detail ? detail : "");
    j->created = sqlite3_column_int64(s, 7);
    j->updated = sqlite3_column_int64(s, 8);
}

enum fr_status fr__sq_job_list(struct fr_store *st, int64_t user, int32_t limit, struct fr_store_job **out,
                                 int32_t *n) {
    FR_ASSERT(st && out && n);
    *out = NULL;
    *n = 0;
    if (limit <= 0) return fr__store_fail(FR_ERR_INVALID, "limit must be positive");
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_JOB_LIST);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int(s, 2, limit);
    enum fr_status status = fr__store_collect(st, s, sizeof(**out), fr__sq_read_job, "listing jobs", (void **)out, n);
    fr__store_unlock(st);
    return status;
}
