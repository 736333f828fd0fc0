/* facerec store: the durable side of the people gallery, on SQLite or
 * PostgreSQL.
 *
 * params.data_dir names a directory (SQLite, described below) or a
 * PostgreSQL URL, "postgresql://user@host/db" or "postgres://...", any
 * URI libpq takes. Both stores behave the same through this API: the
 * same rows, the same isolation, the same statuses. On PostgreSQL the
 * schema is created and migrated at open (a facerec_schema table holds its
 * version; concurrent openers serialise on an advisory lock); several
 * processes on several machines may share the database, and
 * fr_store_data_version() changes when any of them commits a change to a
 * gallery (LISTEN/NOTIFY on a second connection: no polling).
 *
 * One database file, DATA_DIR/facerec.db, in WAL mode with
 * synchronous=FULL: when a write call returns FR_OK its transaction is
 * committed and survives a crash of the process or of the machine. The
 * schema is versioned (PRAGMA user_version) and migrated forward at open,
 * each migration in its own transaction.
 *
 * Tables: users, api_keys (only a SHA-256 of each key is stored; a key is
 * looked up by its public prefix and its hash compared in constant time),
 * people, faces (embedding, box, landmarks, score, source image, person
 * or none, time, a small JPEG thumbnail), images (content hash, name,
 * size, dimensions) and jobs (index and cluster runs with their progress).
 *
 * Isolation: every call that touches people, faces, images or jobs takes
 * the owning user's id and only ever sees that user's rows. Another
 * user's row answers FR_ERR_NOT_FOUND, exactly as a missing one does.
 *
 * Errors: FR_ERR_INVALID (bad argument: empty or over-long name, bad id),
 * FR_ERR_NOT_FOUND, FR_ERR_AUTH (unknown key), FR_ERR_IO (SQLite failed:
 * disk full, locked past the busy timeout, corrupt file), FR_ERR_NOMEM.
 * Calls that take err/errlen fill it with a message; every failing call
 * also leaves one for fr_store_last_error() (per thread). At open, a file
 * that is not a database (or is corrupt) is FR_ERR_FORMAT naming the file,
 * and one written by a newer facerec (a schema version this build does not
 * know) is FR_ERR_UNSUPPORTED.
 *
 * Thread-safety: a store may be used from any number of threads; calls
 * are serialised inside (one connection behind a mutex; SQLite's busy
 * timeout handles other processes, such as the CLI writing to the data
 * directory while a server runs; on PostgreSQL the server's row locks do,
 * and a gallery write locks its user's row first). Strings and arrays returned through
 * out-parameters belong to the caller: arrays and thumbnails are
 * fr_malloc'd, release them with fr_free.
 *
 * Example:
 *     struct fr_store_params sp = fr_store_default_params();
 *     sp.data_dir = "/var/lib/facerec";
 *     struct fr_store *st;
 *     if (fr_store_new(&sp, &st, err, sizeof err) != FR_OK) ...
 *     char key[FR_STORE_KEY_LEN + 1];
 *     int64_t alice;
 *     fr_store_user_add(st, "alice", false, &alice, key, err, sizeof err);
 *     ...
 *     fr_store_free(st);
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "facerec/face.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_STORE_NAME_MAX 256     /* bytes of a user or person name (UTF-8), without the NUL */
/* CHANGED: FR_STORE_KEY_LEN is the exact length of a generated key (55, was 56 with padding). */
#define FR_STORE_KEY_LEN 55       /* "fr_" + 8-char public id + "_" + 43-char secret (base64url, no padding) */
#define FR_STORE_KEY_ID_LEN 8     /* the public id: base64url of 6 random bytes */
#define FR_STORE_HASH_LEN 32      /* SHA-256 */

struct fr_store_params {
    const char *data_dir; /* NULL: $XDG_DATA_HOME/facerec, else ~/.local/share/facerec; created if missing */
    int32_t busy_timeout_ms; /* wait this long for another process's write lock (5000) */
    bool read_only;          /* open without creating or migrating (facerec user list, status tools) */
};

struct fr_store;

FR_API struct fr_store_params fr_store_default_params(void);
/* The data directory the params resolve to, into buf. */
FR_API enum fr_status fr_store_resolve_dir(const struct fr_store_params *p, char *buf, size_t len);
/* Opens (creating and migrating as needed) the database. With read_only,
 * a missing file is FR_ERR_NOT_FOUND and an unmigrated one FR_ERR_UNSUPPORTED. */
FR_API enum fr_status fr_store_new(const struct fr_store_params *p, struct fr_store **out, char *err,
                                   size_t errlen);
FR_API void fr_store_free(struct fr_store *st);
/* The message of the calling thread's last failed store call ("" if none
 * yet), into buf: for the calls that take no err/errlen. */
FR_API void fr_store_last_error(char *buf, size_t len);
/* The database file's path (DATA_DIR/facerec.db); valid until fr_store_free. */
FR_API const char *fr_store_path(struct fr_store *st);
/* The schema version in the file (the latest after fr_store_new). */
FR_API int32_t fr_store_schema_version(struct fr_store *st);
/* PRAGMA integrity_check; FR_OK when it says "ok", else FR_ERR_FORMAT with its first message. */
FR_API enum fr_status fr_store_check(struct fr_store *st, char *err, size_t errlen);
/* Changes whenever another connection (another process) committed a
 * write since the last call: PRAGMA data_version. Cheap; for caches. */
FR_API int64_t fr_store_data_version(struct fr_store *st);

/* On a store whose change notices arrive asynchronously (PostgreSQL):
 * true when the calling thread's last committed write touched user's
 * gallery, with the user's gallery_version just before it (read under the
 * lock the write held) and just after it; the record is consumed. False
 * on SQLite, where fr_store_data_version is exact. For caches such as the
 * gallery's matrices. */
FR_API bool fr_store_last_write(struct fr_store *st, int64_t user, int64_t *before, int64_t *after);

/* ---- users and API keys ------------------------------------------------- */

struct fr_store_user {
    int64_t id;
    char name[FR_STORE_NAME_MAX + 1];
    bool admin;
    int64_t created;      /* unix seconds */
    int64_t n_keys, n_people, n_faces;
    int64_t gallery_version; /* bumped by every write to the user's people/faces */
};

/* Creates a user and its first API key, written to key_out (NUL-ended;
 * shown once, never stored). FR_ERR_INVALID if the name is taken or bad. */
FR_API enum fr_status fr_store_user_add(struct fr_store *st, const char *name, bool admin, int64_t *id,
                                        char key_out[FR_STORE_KEY_LEN + 1], char *err, size_t errlen);
/* Another key for an existing user (key rotation). */
FR_API enum fr_status fr_store_key_add(struct fr_store *st, const char *user_name,
                                       char key_out[FR_STORE_KEY_LEN + 1], char *err, size_t errlen);
/* Registers a key chosen elsewhere (the legacy API-key file) for user_name,
 * creating the user if needed; a key already present is left alone. */
FR_API enum fr_status fr_store_key_import(struct fr_store *st, const char *user_name, const char *key, char *err,
                                          size_t errlen);
/* Revokes every key of the user with that name. */
FR_API enum fr_status fr_store_key_revoke_all(struct fr_store *st, const char *user_name);
/* Removes a user with all its keys, people, faces, images and jobs. */
FR_API enum fr_status fr_store_user_remove(struct fr_store *st, const char *name);
FR_API enum fr_status fr_store_user_get(struct fr_store *st, const char *name, struct fr_store_user *out);
FR_API enum fr_status fr_store_user_get_by_id(struct fr_store *st, int64_t id, struct fr_store_user *out);
/* All users, by name; *out is fr_malloc'd (fr_free it). */
FR_API enum fr_status fr_store_user_list(struct fr_store *st, struct fr_store_user **out, int32_t *n);
/* The user owning key (FR_ERR_AUTH if none). Time does not depend on
 * where a wrong key differs from a right one. */
FR_API enum fr_status fr_store_auth(struct fr_store *st, const char *key, struct fr_store_user *out);

/* ---- people ------------------------------------------------------------- */

struct fr_store_person {
    int64_t id;
    char name[FR_STORE_NAME_MAX + 1];
    int64_t n_faces;
    int64_t created, updated;
};

/* Names: 1..FR_STORE_NAME_MAX bytes of valid UTF-8 without control
 * characters; two people of one user may share a name. */
FR_API enum fr_status fr_store_person_add(struct fr_store *st, int64_t user, const char *name, int64_t *id);
FR_API enum fr_status fr_store_person_get(struct fr_store *st, int64_t user, int64_t id,
                                          struct fr_store_person *out);
/* People of a user ordered by id, from after_id (0 = start), at most limit. */
FR_API enum fr_status fr_store_person_list(struct fr_store *st, int64_t user, int64_t after_id, int32_t limit,
                                           struct fr_store_person **out, int32_t *n);
FR_API enum fr_status fr_store_person_rename(struct fr_store *st, int64_t user, int64_t id, const char *name);
/* Deletes the person and its faces; *n_faces_out (may be NULL) gets how many. */
FR_API enum fr_status fr_store_person_delete(struct fr_store *st, int64_t user, int64_t id, int64_t *n_faces_out);
/* Moves every face of `from` to `into` and deletes `from`. */
FR_API enum fr_status fr_store_person_merge(struct fr_store *st, int64_t user, int64_t into, int64_t from);

/* ---- images ------------------------------------------------------------- */

struct fr_store_image {
    int64_t id;
    uint8_t sha256[FR_STORE_HASH_LEN];
    char name[FR_STORE_NAME_MAX + 1]; /* file name or client-given name; may be empty */
    int64_t bytes;
    int32_t width, height;
    int64_t created;
};

/* SHA-256 of data, for images' content hashes. */
FR_API void fr_store_sha256(const void *data, size_t len, uint8_t out[FR_STORE_HASH_LEN]);
/* The user's image with this content hash (FR_ERR_NOT_FOUND if none). */
FR_API enum fr_status fr_store_image_find(struct fr_store *st, int64_t user, const uint8_t sha256[FR_STORE_HASH_LEN],
                                          struct fr_store_image *out);

/* ---- faces -------------------------------------------------------------- */

struct fr_store_face {
    int64_t id;
    int64_t person;  /* 0 = unassigned */
    int64_t image;   /* 0 = none */
    float box[4];
    float score;
    float landmarks[FR_LANDMARKS][2];
    float embedding[FR_DESCRIPTOR_DIM];
    int64_t created;
};

/* One face to add, with its JPEG thumbnail (may be NULL/0). */
struct fr_store_new_face {
    const struct fr_face *face; /* must have a descriptor */
    const void *thumbnail;
    size_t thumbnail_len;
};

/* Adds an image row (when img is not NULL: reusing the user's row with the
 * same hash) and its faces, assigned to person (0 = unassigned), in ONE
 * transaction: either all of it is committed or none. ids_out (n entries,
 * may be NULL) gets the new face ids; *image_id (may be NULL) the image's.
 * FR_ERR_NOT_FOUND if person is not the user's. */
FR_API enum fr_status fr_store_faces_add(struct fr_store *st, int64_t user, int64_t person,
                                         const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                         int32_t n, int64_t *ids_out, int64_t *image_id);
FR_API enum fr_status fr_store_face_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_face *out);
/* Faces of one person (person > 0) or the unassigned ones (person == 0),
 * by id after after_id, at most limit. */
FR_API enum fr_status fr_store_face_list(struct fr_store *st, int64_t user, int64_t person, int64_t after_id,
                                         int32_t limit, struct fr_store_face **out, int32_t *n);
FR_API enum fr_status fr_store_face_delete(struct fr_store *st, int64_t user, int64_t id);
/* Assigns faces to person (0 = unassign) in one transaction. */
FR_API enum fr_status fr_store_face_assign(struct fr_store *st, int64_t user, const int64_t *ids, int32_t n,
                                           int64_t person);
/* The face's JPEG thumbnail; *jpeg is fr_malloc'd. FR_ERR_NOT_FOUND if the face has none. */
FR_API enum fr_status fr_store_face_thumbnail(struct fr_store *st, int64_t user, int64_t id, void **jpeg,
                                              size_t *len);
/* Streams every face of a user (id, person, embedding) in id order, for
 * loading the in-memory search matrix; stops early when fn returns false.
 * fn runs with the store's lock held: it must not call into the same store. */
typedef bool (*fr_store_face_fn)(int64_t id, int64_t person, const float *embedding, void *ctx);
FR_API enum fr_status fr_store_face_scan(struct fr_store *st, int64_t user, fr_store_face_fn fn, void *ctx);

/* ---- jobs --------------------------------------------------------------- */

enum fr_store_job_state { FR_STORE_JOB_RUNNING, FR_STORE_JOB_DONE, FR_STORE_JOB_FAILED, FR_STORE_JOB_CANCELLED };

struct fr_store_job {
    int64_t id;
    char kind[32]; /* "index", "cluster" */
    enum fr_store_job_state state;
    int64_t total, done, failed;
    char detail[256]; /* source directory, or the error */
    int64_t created, updated;
};

FR_API enum fr_status fr_store_job_start(struct fr_store *st, int64_t user, const char *kind, const char *detail,
                                         int64_t total, int64_t *id);
FR_API enum fr_status fr_store_job_update(struct fr_store *st, int64_t user, int64_t id, enum fr_store_job_state state,
                                          int64_t done, int64_t failed, const char *detail);
/* The user's jobs, newest first, at most limit. */
FR_API enum fr_status fr_store_job_list(struct fr_store *st, int64_t user, int32_t limit, struct fr_store_job **out,
                                        int32_t *n);

/* ---- the indexing queue -----------------------------------------------------
 *
 * A queued index job is a job row of kind "index" plus one item per file.
 * Any number of workers (facerec serve processes, on one database) claim
 * items in batches; a claim is a lease that the worker extends with
 * fr_store_queue_heartbeat and that lapses lease_ms after the last one, so
 * that a worker that died leaves its items to the others. Claims rotate
 * over the users with running jobs (the user claimed from longest ago
 * first), then over that user's jobs, so that one user's big imports do
 * not starve another's. Finishing an item
 * writes its image and faces and marks it done in ONE transaction, and
 * only while the finishing worker still holds it: every item is indexed
 * exactly once, and an image whose content the user already has is
 * recorded as done without new faces. The job is done when every item is
 * done or failed. */

#define FR_STORE_NODE_MAX 63   /* bytes of a worker's name */
#define FR_STORE_PATH_MAX 4095 /* bytes of an item's path */

struct fr_store_item {
    int64_t id, job, user;
    char path[FR_STORE_PATH_MAX + 1];
};

/* Per worker progress of one job, for rates. */
struct fr_store_job_node {
    char node[FR_STORE_NODE_MAX + 1];
    int64_t done, failed;
    int64_t first_ms, last_ms; /* first claim, last finish (unix ms) */
};

/* An item that failed, with the reason. */
struct fr_store_job_failure {
    char path[FR_STORE_PATH_MAX + 1];
    char error[256];
};

/* A running index job of n items (paths, each 1..FR_STORE_PATH_MAX bytes),
 * detail as in fr_store_job_start; *id gets the job. n may be 0 (the job
 * is done at once). */
FR_API enum fr_status fr_store_queue_add(struct fr_store *st, int64_t user, const char *detail,
                                         const char *const *paths, int32_t n, int64_t *id);
/* Claims up to max items (of running jobs, not held by a live lease) for
 * node, leased for lease_ms; *out is fr_malloc'd (NULL when *n is 0). */
FR_API enum fr_status fr_store_queue_claim(struct fr_store *st, const char *node, int32_t max, int64_t lease_ms,
                                           struct fr_store_item **out, int32_t *n);
/* Extends every lease node holds to now + lease_ms. */
FR_API enum fr_status fr_store_queue_heartbeat(struct fr_store *st, const char *node, int64_t lease_ms);
/* Finishes an item that node holds: with error NULL, adds img (reusing the
 * user's image with that hash: *skipped is set and nothing else written)
 * and its faces unassigned, as fr_store_faces_add does; with an error,
 * records it. One transaction. FR_ERR_NOT_FOUND when the item is no
 * longer node's (its lease lapsed and another worker took it): nothing is
 * written then. ids_out (n entries) and skipped may be NULL. */
FR_API enum fr_status fr_store_queue_finish(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                            const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                            int32_t n, const char *error, int64_t *ids_out, bool *skipped);
/* One job of the user (FR_ERR_NOT_FOUND if none). */
FR_API enum fr_status fr_store_job_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job *out);
/* Cancels a running job: its items not yet claimed are never claimed.
 * A job that already ended is left as it is (FR_OK). */
FR_API enum fr_status fr_store_job_cancel(struct fr_store *st, int64_t user, int64_t id);
/* The job's failed items (at most limit) and its per-worker counts. */
FR_API enum fr_status fr_store_job_failures(struct fr_store *st, int64_t user, int64_t id, int32_t limit,
                                            struct fr_store_job_failure **out, int32_t *n);
FR_API enum fr_status fr_store_job_nodes(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job_node **out,
                                         int32_t *n);

#ifdef __cplusplus
}
#endif
