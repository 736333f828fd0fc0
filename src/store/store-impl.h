/* Internals of the SQLite store, shared by store.c (open, users, keys),
 * gallery.c (people, images, faces, jobs) and schema.c (migrations). */
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

enum fr__store_stmt {
#define FR__STORE_STMT_ENUM(name, sql) FR__STMT_##name,
    FR__STORE_STMTS(FR__STORE_STMT_ENUM)
#undef FR__STORE_STMT_ENUM
        FR__STMT_COUNT
};

struct fr_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *stmt[FR__STMT_COUNT];
    char *path;
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

/* Helpers (store.c); all assume the mutex is held. */
void fr__store_lock(struct fr_store *st);
void fr__store_unlock(struct fr_store *st);
/* Records a failure for fr_store_last_error (printf-style) and returns st. */
enum fr_status fr__store_fail(enum fr_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps a SQLite result code to a status, recording what failed and
 * sqlite3_errmsg. */
enum fr_status fr__store_db_fail(struct fr_store *st, int rc, const char *what);
/* The statement, reset and with its bindings cleared. */
sqlite3_stmt *fr__store_stmt(struct fr_store *st, enum fr__store_stmt id);
/* sqlite3_step with fault injection. */
int fr__store_step(struct fr_store *st, sqlite3_stmt *s);
/* Runs a statement that returns no rows (SQLITE_DONE), else a failure. */
enum fr_status fr__store_exec(struct fr_store *st, sqlite3_stmt *s, const char *what);
/* Reads a row of s into *row (a struct of the list's type). */
typedef void (*fr__store_row_fn)(sqlite3_stmt *s, void *row);
/* Steps the bound statement s to its end, reading every row with read into
 * a growing fr_malloc'd array of elem-byte entries (*out, *n), and resets
 * s. The caller holds the lock. On failure *out is NULL and the status
 * names what (e.g. "listing people"). */
enum fr_status fr__store_collect(struct fr_store *st, sqlite3_stmt *s, size_t elem, fr__store_row_fn read,
                                 const char *what, void **out, int32_t *n);
/* Steps the bound statement s once: a row is read into *row with read; no
 * row is FR_ERR_NOT_FOUND with the message `missing`; a failure names
 * `what`. Resets s. The caller holds the lock. */
enum fr_status fr__store_read_one(struct fr_store *st, sqlite3_stmt *s, fr__store_row_fn read, void *row,
                                  const char *missing, const char *what);
enum fr_status fr__store_begin(struct fr_store *st);
/* Ends the transaction fr__store_begin opened: commits it when status is
 * FR_OK, else (or when the commit fails) rolls it back. Returns the final
 * status, so that every write ends with `status = fr__store_end(st, status)`. */
enum fr_status fr__store_end(struct fr_store *st, enum fr_status status);
/* Names: 1..FR_STORE_NAME_MAX bytes of valid UTF-8 without controls. */
bool fr__store_valid_name(const char *name);
int64_t fr__store_now(void);
