/* Internals of the PostgreSQL store, shared by store-pg.c (connection,
 * statement helpers, change notices, user and key rows), store-pg-schema.c
 * (the schema and its migrations), store-pg-gallery.c (people, images,
 * faces, jobs) and store-pg-queue.c (the indexing queue). */
#pragma once

#include <libpq-fe.h>
#include <stdatomic.h>

#include "store/store-impl.h"

#define FR__PG_MAX_PARAMS 16

struct fr__pg {
    PGconn *conn;    /* the one connection every call uses, behind st->mu */
    char *conninfo;  /* the URL, for reconnecting and the listener */
    pthread_t listener;
    bool listener_started;
    int wake[2];            /* a pipe that stops the listener */
    atomic_int_fast64_t version;  /* bumped for every other connection's change notice */
    atomic_bool listening;        /* the listener is connected and LISTENing */
    atomic_int own_pid;           /* conn's backend pid: its own notices are not news */
    /* The write transaction open now: whose gallery it locked, and the
     * gallery_version read then (fr__pg_begin_user). */
    int64_t tx_user, tx_before;
    bool in_tx; /* between fr__pg_begin and fr__pg_end: a broken connection is not reset then */
};

/* Parameters of one statement: text, or binary for bytea. */
struct fr__pg_params {
    const char *v[FR__PG_MAX_PARAMS];
    int len[FR__PG_MAX_PARAMS], fmt[FR__PG_MAX_PARAMS];
    char buf[FR__PG_MAX_PARAMS][32];
    int n;
};

void fr__pg_i64(struct fr__pg_params *p, int64_t v);
void fr__pg_f64(struct fr__pg_params *p, double v);
void fr__pg_text(struct fr__pg_params *p, const char *s);
/* Text cut to at most max bytes at a UTF-8 boundary (copied). */
void fr__pg_text_cut(struct fr__pg_params *p, const char *s, size_t max);
void fr__pg_bytes(struct fr__pg_params *p, const void *b, size_t n);
void fr__pg_null(struct fr__pg_params *p);
/* Starts p with two integers: the user's id ($1) and a row's id ($2), the
 * shape of most per-user statements. */
void fr__pg_ids(struct fr__pg_params *p, int64_t user, int64_t id);

/* Runs sql with p (may be NULL), results in binary. FR_OK with *res (the
 * caller PQclear's it; may pass res NULL to drop it) when the server
 * answered rows or a command; else a failure recorded with `what`, and
 * the SQLSTATE into *state (may be NULL) so callers can map constraint
 * violations. The lock is held. */
enum fr_status fr__pg_exec(struct fr_store *st, const char *sql, const struct fr__pg_params *p, PGresult **res,
                           const char *what, char state[6]);
/* Opens a transaction. With user > 0 it also locks the user's row (every
 * gallery write of that user, on any node, queues behind it) and reads
 * its gallery_version, so that the commit can report before/after
 * (fr_store_last_write). */
enum fr_status fr__pg_begin(struct fr_store *st);
enum fr_status fr__pg_begin_user(struct fr_store *st, int64_t user);
/* Commits when status is FR_OK, else rolls back; returns the final status. */
enum fr_status fr__pg_end(struct fr_store *st, enum fr_status status);
/* Columns of a binary result. */
int64_t fr__pg_col_i64(const PGresult *r, int row, int col);
double fr__pg_col_f64(const PGresult *r, int row, int col);
/* Row `row` of r, for the readers of store-common.c. */
struct fr__store_row fr__pg_row(const PGresult *r, int row);
/* Runs sql and reads every row into a fr_malloc'd array (NULL when empty). */
enum fr_status fr__pg_collect(struct fr_store *st, const char *sql, const struct fr__pg_params *p, size_t elem,
                              fr__store_read_fn read, const char *what, void **out, int32_t *n);
/* Runs sql and reads its one row; none is FR_ERR_NOT_FOUND with `missing`. */
enum fr_status fr__pg_one(struct fr_store *st, const char *sql, const struct fr__pg_params *p, fr__store_read_fn read,
                          void *out, const char *missing, const char *what);
/* Rows a command touched. */
int64_t fr__pg_changes(const PGresult *r);

/* SQLSTATEs the stores map to statuses. */
#define FR__PG_FOREIGN_KEY "23503"
#define FR__PG_UNIQUE "23505"

/* The schema (store-pg-schema.c): the newest version this build knows,
 * the version the database has (0 when none), and the migration of an
 * open store to the newest, each step in its own transaction. */
#define FR__PG_LATEST 2
enum fr_status fr__pg_read_version(struct fr_store *st, int32_t *v);
enum fr_status fr__pg_migrate(struct fr_store *st);

/* Shared by store-pg-gallery.c and store-pg-queue.c. */
/* Reads the one row of sql ($1 user, $2 row id) with read; none is
 * FR_ERR_NOT_FOUND "no <noun> <id>". Takes the lock. */
enum fr_status fr__pg_get_row(struct fr_store *st, const char *sql, int64_t user, int64_t id, fr__store_read_fn read,
                              const char *noun, void *out);
/* The id of the user's row for img, inserted if it has none yet; *fresh
 * (may be NULL) tells which. The lock and a transaction are held. */
enum fr_status fr__pg_upsert_image(struct fr_store *st, int64_t user, const struct fr_store_image *img, int64_t *id,
                                   bool *fresh);
enum fr_status fr__pg_insert_face(struct fr_store *st, int64_t user, int64_t person, int64_t image,
                                  const struct fr_store_new_face *nf, int64_t now, int64_t *id);
