/* Internals of the store. One interface table (struct fr__store_vt, the
 * FR__STORE_OPS list) with two implementations: SQLite (store.c: open,
 * helpers, user and key rows; people.c: people, images, faces, jobs;
 * queue.c: the indexing queue; schema.c: migrations) and PostgreSQL
 * (store-pg.c, store-pg-gallery.c, store-pg-queue.c, store-pg-schema.c,
 * the same split). What does not depend on the database is written once:
 * store-common.c (errors, argument checks, names, row-to-struct readers)
 * and store-users.c (the user and key operations, over each backend's
 * struct fr__store_users_i). store-api.c holds the public functions, each
 * a call through the table. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include "facerec/status.h"
#include "facerec/store.h"

/* Every statement the store runs, prepared once at open. */
#define FR__STORE_USER_SELECT                                                                                          \
    "SELECT u.id, u.name, u.admin, u.created, u.gallery_version, "                                                     \
    "(SELECT count(*) FROM api_keys k WHERE k.user_id = u.id), u.n_people, u.n_faces FROM users u"
#define FR__STORE_PERSON_SELECT                                                                                        \
    "SELECT p.id, p.name, p.created, p.updated, "                                                                      \
    "(SELECT count(*) FROM faces f WHERE f.user_id = p.user_id AND f.person_id = p.id) FROM people p"
#define FR__STORE_FACE_SELECT                                                                                          \
    "SELECT id, person_id, image_id, box_x, box_y, box_w, box_h, score, landmarks, embedding, created FROM faces"
#define FR__STORE_IMAGE_SELECT "SELECT id, sha256, name, bytes, width, height, created FROM images"
#define FR__STORE_JOB_SELECT "SELECT id, kind, state, total, done, failed, detail, created, updated FROM jobs"

#define FR__STORE_STMTS(X)                                                                                             \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                                        \
    X(COMMIT, "COMMIT")                                                                                                \
    X(ROLLBACK, "ROLLBACK")                                                                                            \
    X(DATA_VERSION, "PRAGMA data_version")                                                                             \
    X(USER_INSERT, "INSERT INTO users(name, admin, created) VALUES(?1, ?2, ?3)")                                       \
    X(USER_BY_NAME, FR__STORE_USER_SELECT " WHERE u.name = ?1")                                                        \
    X(USER_BY_ID, FR__STORE_USER_SELECT " WHERE u.id = ?1")                                                            \
    X(USER_LIST, FR__STORE_USER_SELECT " ORDER BY u.name")                                                             \
    X(USER_ID, "SELECT id FROM users WHERE name = ?1")                                                                 \
    X(USER_DELETE, "DELETE FROM users WHERE id = ?1")                                                                  \
    X(KEY_INSERT, "INSERT INTO api_keys(user_id, prefix, hash, created) VALUES(?1, ?2, ?3, ?4)")                      \
    X(KEY_BY_PREFIX, "SELECT user_id, hash FROM api_keys WHERE prefix = ?1")                                           \
    X(KEY_BY_HASH, "SELECT user_id FROM api_keys WHERE hash = ?1")                                                     \
    X(KEY_DELETE_USER, "DELETE FROM api_keys WHERE user_id = ?1")                                                      \
    X(PERSON_INSERT, "INSERT INTO people(user_id, name, created, updated) VALUES(?1, ?2, ?3, ?3)")                    \
    X(PERSON_GET, FR__STORE_PERSON_SELECT " WHERE p.user_id = ?1 AND p.id = ?2")                                       \
    X(PERSON_EXISTS, "SELECT 1 FROM people WHERE user_id = ?1 AND id = ?2")                                            \
    X(PERSON_LIST, FR__STORE_PERSON_SELECT " WHERE p.user_id = ?1 AND p.id > ?2 ORDER BY p.id LIMIT ?3")              \
    X(PERSON_RENAME, "UPDATE people SET name = ?3, updated = ?4 WHERE user_id = ?1 AND id = ?2")                      \
    X(PERSON_TOUCH, "UPDATE people SET updated = ?3 WHERE user_id = ?1 AND id = ?2")                                  \
    X(PERSON_DELETE, "DELETE FROM people WHERE user_id = ?1 AND id = ?2")                                              \
    X(PERSON_COUNT_FACES, "SELECT count(*) FROM faces WHERE user_id = ?1 AND person_id = ?2")                          \
    X(PERSON_MOVE_FACES, "UPDATE faces SET person_id = ?3 WHERE user_id = ?1 AND person_id = ?2")                     \
    X(IMAGE_FIND, FR__STORE_IMAGE_SELECT " WHERE user_id = ?1 AND sha256 = ?2")                                        \
    X(IMAGE_INSERT, "INSERT INTO images(user_id, sha256, name, bytes, width, height, created) "                       \
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                                              \
    X(FACE_INSERT, "INSERT INTO faces(user_id, person_id, image_id, box_x, box_y, box_w, box_h, score, landmarks, "   \
                   "embedding, thumbnail, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")         \
    X(FACE_GET, FR__STORE_FACE_SELECT " WHERE user_id = ?1 AND id = ?2")                                               \
    X(FACE_LIST_PERSON, FR__STORE_FACE_SELECT " WHERE user_id = ?1 AND person_id = ?2 AND id > ?3 ORDER BY id "        \
                                              "LIMIT ?4")                                                              \
    X(FACE_LIST_UNASSIGNED, FR__STORE_FACE_SELECT " WHERE user_id = ?1 AND person_id IS NULL AND id > ?3 ORDER BY id " \
                                                  "LIMIT ?4")                                                          \
    X(FACE_DELETE, "DELETE FROM faces WHERE user_id = ?1 AND id = ?2")                                                 \
    X(FACE_ASSIGN, "UPDATE faces SET person_id = ?3 WHERE user_id = ?1 AND id = ?2")                                   \
    X(FACE_THUMBNAIL, "SELECT thumbnail FROM faces WHERE user_id = ?1 AND id = ?2")                                    \
    X(FACE_SCAN, "SELECT id, person_id, embedding FROM faces WHERE user_id = ?1 ORDER BY id")                          \
    X(JOB_INSERT, "INSERT INTO jobs(user_id, kind, state, total, done, failed, detail, created, updated) "            \
                  "VALUES(?1, ?2, 0, ?3, 0, 0, ?4, ?5, ?5)")                                                           \
    X(JOB_UPDATE, "UPDATE jobs SET state = ?3, done = ?4, failed = ?5, detail = coalesce(?6, detail), updated = ?7 "   \
                  "WHERE user_id = ?1 AND id = ?2")                                                                    \
    X(JOB_LIST, FR__STORE_JOB_SELECT " WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2")


/* The interface every store implements: X(return type, name, (parameters),
 * (arguments)). fr_store_<name> in store-api.c calls st->vt-><name>. The
 * user and key operations are not in it: store-users.c writes them once,
 * over the smaller struct fr__store_users_i each backend fills. */
#define FR__STORE_OPS(X)                                                                                               \
    X(enum fr_status, check, (struct fr_store * st, char *err, size_t errlen), (st, err, errlen))                     \
    X(int64_t, data_version, (struct fr_store * st), (st))                                                             \
    X(enum fr_status, person_add, (struct fr_store * st, int64_t user, const char *name, int64_t *id),                 \
      (st, user, name, id))                                                                                            \
    X(enum fr_status, person_get, (struct fr_store * st, int64_t user, int64_t id, struct fr_store_person *out),       \
      (st, user, id, out))                                                                                             \
    X(enum fr_status, person_list,                                                                                     \
      (struct fr_store * st, int64_t user, int64_t after_id, int32_t limit, struct fr_store_person **out, int32_t *n), \
      (st, user, after_id, limit, out, n))                                                                             \
    X(enum fr_status, person_rename, (struct fr_store * st, int64_t user, int64_t id, const char *name),               \
      (st, user, id, name))                                                                                            \
    X(enum fr_status, person_delete, (struct fr_store * st, int64_t user, int64_t id, int64_t *n_faces_out),           \
      (st, user, id, n_faces_out))                                                                                     \
    X(enum fr_status, person_merge, (struct fr_store * st, int64_t user, int64_t into, int64_t from),                  \
      (st, user, into, from))                                                                                          \
    X(enum fr_status, image_find,                                                                                      \
      (struct fr_store * st, int64_t user, const uint8_t sha256[FR_STORE_HASH_LEN], struct fr_store_image *out),       \
      (st, user, sha256, out))                                                                                         \
    X(enum fr_status, faces_add,                                                                                       \
      (struct fr_store * st, int64_t user, int64_t person, const struct fr_store_image *img,                           \
       const struct fr_store_new_face *faces, int32_t n, int64_t *ids_out, int64_t *image_id),                         \
      (st, user, person, img, faces, n, ids_out, image_id))                                                            \
    X(enum fr_status, face_get, (struct fr_store * st, int64_t user, int64_t id, struct fr_store_face *out),           \
      (st, user, id, out))                                                                                             \
    X(enum fr_status, face_list,                                                                                       \
      (struct fr_store * st, int64_t user, int64_t person, int64_t after_id, int32_t limit,                            \
       struct fr_store_face **out, int32_t *n),                                                                        \
      (st, user, person, after_id, limit, out, n))                                                                     \
    X(enum fr_status, face_delete, (struct fr_store * st, int64_t user, int64_t id), (st, user, id))                   \
    X(enum fr_status, face_assign,                                                                                     \
      (struct fr_store * st, int64_t user, const int64_t *ids, int32_t n, int64_t person), (st, user, ids, n, person)) \
    X(enum fr_status, face_thumbnail, (struct fr_store * st, int64_t user, int64_t id, void **jpeg, size_t *len),      \
      (st, user, id, jpeg, len))                                                                                       \
    X(enum fr_status, face_scan, (struct fr_store * st, int64_t user, fr_store_face_fn fn, void *ctx),                 \
      (st, user, fn, ctx))                                                                                             \
    X(enum fr_status, job_start,                                                                                       \
      (struct fr_store * st, int64_t user, const char *kind, const char *detail, int64_t total, int64_t *id),          \
      (st, user, kind, detail, total, id))                                                                             \
    X(enum fr_status, job_update,                                                                                      \
      (struct fr_store * st, int64_t user, int64_t id, enum fr_store_job_state state, int64_t done, int64_t failed,    \
       const char *detail),                                                                                            \
      (st, user, id, state, done, failed, detail))                                                                     \
    X(enum fr_status, job_list, (struct fr_store * st, int64_t user, int32_t limit, struct fr_store_job **out,         \
                                 int32_t *n),                                                                          \
      (st, user, limit, out, n))                                                                                       \
    X(enum fr_status, queue_add,                                                                                       \
      (struct fr_store * st, int64_t user, const char *detail, const char *const *paths, int32_t n, int64_t *id),      \
      (st, user, detail, paths, n, id))                                                                                \
    X(enum fr_status, queue_claim,                                                                                     \
      (struct fr_store * st, const char *node, int32_t max, int64_t lease_ms, struct fr_store_item **out, int32_t *n),  \
      (st, node, max, lease_ms, out, n))                                                                               \
    X(enum fr_status, queue_heartbeat, (struct fr_store * st, const char *node, int64_t lease_ms),                     \
      (st, node, lease_ms))                                                                                            \
    X(enum fr_status, queue_finish,                                                                                    \
      (struct fr_store * st, const char *node, const struct fr_store_item *item, const struct fr_store_image *img,     \
       const struct fr_store_new_face *faces, int32_t n, const char *error, int64_t *ids_out, bool *skipped),          \
      (st, node, item, img, faces, n, error, ids_out, skipped))                                                        \
    X(enum fr_status, job_get, (struct fr_store * st, int64_t user, int64_t id, struct fr_store_job *out),             \
      (st, user, id, out))                                                                                             \
    X(enum fr_status, job_cancel, (struct fr_store * st, int64_t user, int64_t id), (st, user, id))                    \
    X(enum fr_status, job_failures,                                                                                    \
      (struct fr_store * st, int64_t user, int64_t id, int32_t limit, struct fr_store_job_failure **out, int32_t *n),   \
      (st, user, id, limit, out, n))                                                                                   \
    X(enum fr_status, job_nodes,                                                                                       \
      (struct fr_store * st, int64_t user, int64_t id, struct fr_store_job_node **out, int32_t *n),                    \
      (st, user, id, out, n))

struct fr__store_vt {
    const char *name; /* "sqlite", "postgresql" */
    void (*free)(struct fr_store *st);
    /* Rows in a table, for the tests. */
    int64_t (*count_rows)(struct fr_store *st, const char *table);
    /* The row statements of the user and key operations (store-users.c). */
    const struct fr__store_users_i *users;
#define FR__STORE_VT_MEMBER(ret, name, params, args) ret(*name) params;
    FR__STORE_OPS(FR__STORE_VT_MEMBER)
#undef FR__STORE_VT_MEMBER
};

/* The two implementations' functions (fr__sq_<name>, fr__pg_<name>). */
#define FR__STORE_DECLARE(ret, name, params, args) ret fr__sq_##name params; ret fr__pg_##name params;
FR__STORE_OPS(FR__STORE_DECLARE)
#undef FR__STORE_DECLARE
extern const struct fr__store_vt fr__store_sqlite_vt, fr__store_pg_vt;
struct fr__pg;
enum fr_status fr__sq_new(const struct fr_store_params *p, struct fr_store **out, char *err, size_t errlen);
void fr__sq_free(struct fr_store *st);
int64_t fr__sq_count_rows(struct fr_store *st, const char *table);
enum fr_status fr__pg_new(const struct fr_store_params *p, struct fr_store **out, char *err, size_t errlen);
void fr__pg_free(struct fr_store *st);
int64_t fr__pg_count_rows(struct fr_store *st, const char *table);
/* True when data_dir names a PostgreSQL database. */
bool fr__store_is_url(const char *data_dir);

enum fr__store_stmt {
#define FR__STORE_STMT_ENUM(name, sql) FR__STMT_##name,
    FR__STORE_STMTS(FR__STORE_STMT_ENUM)
#undef FR__STORE_STMT_ENUM
        FR__STMT_COUNT
};

struct fr_store {
    const struct fr__store_vt *vt;
    struct fr__pg *pg; /* PostgreSQL: the connection and listener (store-pg.c); NULL on SQLite */
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *stmt[FR__STMT_COUNT];
    char *path; /* the database file, or the URL without its password */
    bool read_only;
    int32_t version;
    /* Fault injection for the tests: when positive, counts down on every
     * statement step and makes the one that reaches zero fail with
     * SQLITE_IOERR, so rollback paths can be exercised. */
    int32_t fault_countdown;
};

/* Migrations (schema.c). */
struct fr__store_migration {
    int32_t version; /* user_version after it */
    const char *sql;
};
extern const struct fr__store_migration fr__store_migrations[];
extern const int32_t fr__store_n_migrations;
/* The newest schema version this build knows. */
int32_t fr__store_latest_version(void);
/* Runs the migrations past the file's user_version, each in its own
 * transaction; FR_ERR_UNSUPPORTED if the file is newer than this build. */
enum fr_status fr__store_migrate(struct fr_store *st, char *err, size_t errlen);

/* ---- backend-independent helpers (store-common.c) ---- */

#define FR__STORE_DETAIL_MAX 255       /* bytes of a job's detail, as struct fr_store_job holds */
#define FR__STORE_KIND_MAX 31          /* bytes of a job's kind */
#define FR__STORE_ERROR_MAX 255        /* bytes of a queue item's error */
#define FR__STORE_LEGACY_KEY_MAX 1024  /* longest legacy key accepted by fr_store_key_import */
#define FR__STORE_MSG_LEN 48           /* a "no person 12" / "reading a person" message */

/* Ends a failed open: err gets the recorded message, the half-open store
 * is freed (st->vt->free), and the message stays for fr_store_last_error. */
enum fr_status fr__store_open_failed(struct fr_store *st, enum fr_status status, char *err, size_t errlen);
void fr__store_lock(struct fr_store *st);
void fr__store_unlock(struct fr_store *st);
/* Records a failure for fr_store_last_error (printf-style) and returns status. */
enum fr_status fr__store_fail(enum fr_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Unix time in seconds (rows) and milliseconds (leases, rates). */
int64_t fr__store_now(void);
int64_t fr__store_now_ms(void);
/* Names: 1..FR_STORE_NAME_MAX bytes of valid UTF-8 without controls. */
bool fr__store_valid_name(const char *name);
/* A queue worker's name: 1..FR_STORE_NODE_MAX printable bytes. */
bool fr__store_valid_node(const char *node);
/* A legacy key: 1..FR__STORE_LEGACY_KEY_MAX printable bytes without blanks. */
bool fr__store_valid_legacy_key(const char *key);
/* How many bytes of text fit in max, cut at a UTF-8 character boundary. */
size_t fr__store_cut_len(const char *text, size_t max);

/* Argument checks, the same for both backends: FR_OK, or FR_ERR_INVALID
 * with the message recorded. */
enum fr_status fr__store_check_name(const char *name);
/* Clears a list's outputs (*(T **)out and *n) and checks its limit. */
enum fr_status fr__store_start_list(void *out, int32_t *n, int32_t limit);
enum fr_status fr__store_check_faces(const struct fr_store_new_face *faces, int32_t n, int64_t person);
enum fr_status fr__store_check_assign(const int64_t *ids, int32_t n, int64_t person);
enum fr_status fr__store_check_merge(int64_t into, int64_t from);
enum fr_status fr__store_check_job(const char *kind, int64_t total);
enum fr_status fr__store_check_job_update(enum fr_store_job_state state, int64_t done, int64_t failed);
enum fr_status fr__store_check_paths(const char *const *paths, int32_t n);
/* Clears a claim's outputs (*(T **)out and *n) and checks its arguments. */
enum fr_status fr__store_start_claim(void *out, int32_t *n, const char *node, int32_t max, int64_t lease_ms);
enum fr_status fr__store_check_heartbeat(const char *node, int64_t lease_ms);
enum fr_status fr__store_check_finish(const char *node, const struct fr_store_item *item,
                                      const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                      int32_t n, const char *error);
/* The messages of reading one row by id: "no <noun> <id>", "reading a <noun>". */
void fr__store_row_msgs(const char *noun, int64_t id, char missing[FR__STORE_MSG_LEN], char what[FR__STORE_MSG_LEN]);

/* A copy of a face's thumbnail (b, n bytes; NULL or empty when it has
 * none: FR_ERR_NOT_FOUND) into a fr_malloc'd *jpeg, *len. */
enum fr_status fr__store_copy_thumbnail(const void *b, size_t n, int64_t id, void **jpeg, size_t *len);
/* Floats travel as little-endian float32 in BLOBs, whatever the host. */
void fr__store_floats_to_le(const float *in, size_t n, uint8_t *out);
/* A face's embedding and landmarks (when it has them) as stored. */
struct fr__store_face_blobs {
    uint8_t embedding[4 * FR_DESCRIPTOR_DIM];
    uint8_t landmarks[4 * 2 * FR_LANDMARKS];
};
void fr__store_face_blobs(const struct fr_face *f, struct fr__store_face_blobs *b);

/* One row of a result, whichever driver produced it: each backend fills
 * the interface (store.c: a stepped sqlite3_stmt; store-pg.c: a PGresult
 * and a row index), and the readers below map it to the public structs,
 * so the column order of a SELECT is written down once per struct. */
struct fr__store_row;
struct fr__store_cols_i {
    /* An integer column; SQL NULL reads as 0. */
    int64_t (*i64)(const struct fr__store_row *r, int col);
    double (*f64)(const struct fr__store_row *r, int col);
    /* The bytes of a text or blob column (*len of them), NULL for SQL NULL. */
    const void *(*bytes)(const struct fr__store_row *r, int col, size_t *len);
};
struct fr__store_row {
    const struct fr__store_cols_i *i;
    const void *res; /* sqlite3_stmt, or PGresult */
    int row;         /* the row of res (PostgreSQL) */
};
/* Reads the row into out (a struct of the reader's type). */
typedef void (*fr__store_read_fn)(const struct fr__store_row *r, void *out);
/* A text column into out, cut to size - 1 bytes and NUL-ended. */
void fr__store_row_text(const struct fr__store_row *r, int col, char *out, size_t size);
/* A float BLOB column of exactly n floats; zeros if it is absent. */
void fr__store_row_floats(const struct fr__store_row *r, int col, float *out, size_t n);
/* id, name, admin, created, gallery_version, n_keys, n_people, n_faces */
void fr__store_read_user(const struct fr__store_row *r, void *out);
/* id, name, created, updated, n_faces */
void fr__store_read_person(const struct fr__store_row *r, void *out);
/* id, sha256, name, bytes, width, height, created */
void fr__store_read_image(const struct fr__store_row *r, void *out);
/* id, person_id, image_id, box_x, box_y, box_w, box_h, score, landmarks, embedding, created */
void fr__store_read_face(const struct fr__store_row *r, void *out);
/* id, kind, state, total, done, failed, detail, created, updated */
void fr__store_read_job(const struct fr__store_row *r, void *out);
/* id, job_id, user_id, path */
void fr__store_read_item(const struct fr__store_row *r, void *out);
/* path, error */
void fr__store_read_failure(const struct fr__store_row *r, void *out);
/* node, done, failed, first claim, last finish */
void fr__store_read_node(const struct fr__store_row *r, void *out);

/* ---- users and API keys (store-users.c) ---- */

struct fr__store_key_search;
/* What a backend does for the user and key operations, which are written
 * once in store-users.c. Each runs with the store's lock held, and those
 * that write inside begin/end. */
struct fr__store_users_i {
    enum fr_status (*begin)(struct fr_store *st);
    /* Commits when status is FR_OK, else rolls back; the final status. */
    enum fr_status (*end)(struct fr_store *st, enum fr_status status);
    /* Serialises key imports of several processes; NULL where begin does. */
    enum fr_status (*lock_import)(struct fr_store *st);
    /* The id of the user called name (*found false when none). */
    enum fr_status (*user_id)(struct fr_store *st, const char *name, int64_t *id, bool *found);
    /* A new user row; *taken when the name's unique constraint failed. */
    enum fr_status (*user_insert)(struct fr_store *st, const char *name, bool admin, int64_t *id, bool *taken);
    enum fr_status (*key_insert)(struct fr_store *st, int64_t user, const char *prefix,
                                 const uint8_t hash[FR_STORE_HASH_LEN]);
    /* The owner of the key with that hash (*present false when none). */
    enum fr_status (*key_owner)(struct fr_store *st, const uint8_t hash[FR_STORE_HASH_LEN], int64_t *owner,
                                bool *present);
    /* Passes every key row (user_id, hash) with that public id to
     * fr__store_key_match. */
    enum fr_status (*key_scan)(struct fr_store *st, const char *prefix, struct fr__store_key_search *ks);
    /* Deletes the user's keys (keys_only) or the user with all its rows. */
    enum fr_status (*user_delete)(struct fr_store *st, int64_t user, bool keys_only);
    /* The user with that id or (valid) name; FR_ERR_NOT_FOUND "no such
     * user" when none. */
    enum fr_status (*user_by_id)(struct fr_store *st, int64_t id, struct fr_store_user *out);
    enum fr_status (*user_by_name)(struct fr_store *st, const char *name, struct fr_store_user *out);
    /* Every user, ordered by name as bytes. */
    enum fr_status (*user_list)(struct fr_store *st, struct fr_store_user **out, int32_t *n);
};
extern const struct fr__store_users_i fr__store_sqlite_users, fr__store_pg_users;

/* A key being looked for among the rows with its public id. */
struct fr__store_key_search {
    uint8_t hash[FR_STORE_HASH_LEN];
    bool found;
    int64_t user;
};
/* Compares a key row (user_id, hash) with ks->hash in constant time and
 * notes the user on a match. */
void fr__store_key_match(const struct fr__store_row *r, void *ks);
/* A fresh random key into out (FR_STORE_KEY_LEN + 1 bytes). */
enum fr_status fr__store_new_key(char *out);
/* The public id a key is looked up by. */
void fr__store_key_prefix(const char *key, size_t len, const uint8_t hash[FR_STORE_HASH_LEN],
                          char prefix[FR_STORE_KEY_ID_LEN + 2]);

/* Records, for the calling thread, the gallery_version of user before and
 * after the write transaction it just committed (PostgreSQL, whose
 * change notifications arrive asynchronously): fr_store_last_write. */
void fr__store_note_write(int64_t user, int64_t before, int64_t after);

/* ---- SQLite helpers (store.c); all assume the mutex is held ---- */

/* Maps a SQLite result code to a status, recording what failed and
 * sqlite3_errmsg. */
enum fr_status fr__store_db_fail(struct fr_store *st, int rc, const char *what);
/* The statement, reset and with its bindings cleared. */
sqlite3_stmt *fr__store_stmt(struct fr_store *st, enum fr__store_stmt id);
/* The statement with the user's id bound to ?1 and a row's id to ?2, the
 * shape of most per-user statements. */
sqlite3_stmt *fr__sq_stmt_ids(struct fr_store *st, enum fr__store_stmt id, int64_t user, int64_t row);
/* sqlite3_step with fault injection. */
int fr__store_step(struct fr_store *st, sqlite3_stmt *s);
/* Runs a statement that returns no rows (SQLITE_DONE), else a failure. */
enum fr_status fr__store_exec(struct fr_store *st, sqlite3_stmt *s, const char *what);
/* Steps the bound statement s to its end, reading every row with read into
 * a growing fr_malloc'd array of elem-byte entries (*out, *n), and resets
 * s. On failure *out is NULL and the status names what (e.g. "listing
 * people"). */
enum fr_status fr__store_collect(struct fr_store *st, sqlite3_stmt *s, size_t elem, fr__store_read_fn read,
                                 const char *what, void **out, int32_t *n);
/* Steps the bound statement s once: a row is read into *row with read; no
 * row is FR_ERR_NOT_FOUND with the message `missing`; a failure names
 * `what`. Resets s. */
enum fr_status fr__store_read_one(struct fr_store *st, sqlite3_stmt *s, fr__store_read_fn read, void *row,
                                  const char *missing, const char *what);
enum fr_status fr__store_begin(struct fr_store *st);
/* Ends the transaction fr__store_begin opened: commits it when status is
 * FR_OK, else (or when the commit fails) rolls it back. Returns the final
 * status, so that every write ends with `status = fr__store_end(st, status)`. */
enum fr_status fr__store_end(struct fr_store *st, enum fr_status status);

/* Shared by people.c and queue.c (SQLite). */
/* The user's image with that hash; the lock is held. */
enum fr_status fr__sq_image_find_locked(struct fr_store *st, int64_t user, const uint8_t *sha256,
                                        struct fr_store_image *out);
enum fr_status fr__sq_upsert_image(struct fr_store *st, int64_t user, const struct fr_store_image *img, int64_t *id);
enum fr_status fr__sq_insert_face(struct fr_store *st, int64_t user, int64_t person, int64_t image,
                                  const struct fr_store_new_face *nf, int64_t now, int64_t *id);
/* The row the statement s is on, for the readers of store-common.c. */
struct fr__store_row fr__sq_row(sqlite3_stmt *s);
/* Maps the foreign-key failure of a row of a missing user to
 * FR_ERR_NOT_FOUND "no user N"; any other status is returned as it is. */
enum fr_status fr__sq_no_user(struct fr_store *st, enum fr_status status, int64_t user);
/* Binds text cut to at most max bytes, at a UTF-8 character boundary. */
void fr__sq_bind_cut(sqlite3_stmt *s, int col, const char *text, size_t max);
