/* The SQLite store: opening the database, the statement helpers, and the
 * user and key rows behind store-users.c. People, images, faces and jobs
 * are in people.c, the indexing queue in queue.c, the schema in schema.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store-impl.h"

#define DB_FILE "facerec.db"


static const char *const stmt_sql[FR__STMT_COUNT] = {
#define FR__STORE_STMT_SQL(name, sql) [FR__STMT_##name] = sql,
    FR__STORE_STMTS(FR__STORE_STMT_SQL)
#undef FR__STORE_STMT_SQL
};

/* ---- errors and helpers ---- */

enum fr_status fr__store_db_fail(struct fr_store *st, int rc, const char *what) {
    int primary = rc & 0xff;
    enum fr_status status = primary == SQLITE_NOMEM ? FR_ERR_NOMEM : FR_ERR_IO;
    const char *msg = st->fault_countdown < 0 ? "injected fault" : sqlite3_errmsg(st->db);
    if (st->fault_countdown < 0) st->fault_countdown = 0;
    if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) status = FR_ERR_FORMAT;
    fr__store_fail(status, "%s: %s: %s", st->path, what, msg);
    /* Constraint failures are mapped to NOT_FOUND or INVALID by callers. */
    if (status != FR_ERR_NOMEM && primary != SQLITE_CONSTRAINT) {
        char last[512];
        fr_store_last_error(last, sizeof(last));
        FR_LOGW("%s", last);
    }
    return status;
}

sqlite3_stmt *fr__store_stmt(struct fr_store *st, enum fr__store_stmt id) {
    sqlite3_stmt *s = st->stmt[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

sqlite3_stmt *fr__sq_stmt_ids(struct fr_store *st, enum fr__store_stmt id, int64_t user, int64_t row) {
    sqlite3_stmt *s = fr__store_stmt(st, id);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, row);
    return s;
}

int fr__store_step(struct fr_store *st, sqlite3_stmt *s) {
    if (st->fault_countdown > 0 && --st->fault_countdown == 0) {
        st->fault_countdown = -1; /* tells db_fail the message is ours */
        return SQLITE_IOERR;
    }
    return sqlite3_step(s);
}

enum fr_status fr__store_exec(struct fr_store *st, sqlite3_stmt *s, const char *what) {
    int rc = fr__store_step(st, s);
    enum fr_status status = rc == SQLITE_DONE ? FR_OK : fr__store_db_fail(st, rc, what);
    sqlite3_reset(s);
    return status;
}

enum fr_status fr__store_begin(struct fr_store *st) {
    return fr__store_exec(st, fr__store_stmt(st, FR__STMT_BEGIN), "beginning a transaction");
}

/* Rolls back if a transaction is open; returns status unchanged. */
static enum fr_status rollback(struct fr_store *st, enum fr_status status) {
    if (!sqlite3_get_autocommit(st->db)) {
        /* Statements still stepping would make ROLLBACK fail with BUSY. */
        for (int i = 0; i < FR__STMT_COUNT; i++) sqlite3_reset(st->stmt[i]);
        sqlite3_step(st->stmt[FR__STMT_ROLLBACK]);
        sqlite3_reset(st->stmt[FR__STMT_ROLLBACK]);
    }
    return status;
}

enum fr_status fr__store_end(struct fr_store *st, enum fr_status status) {
    if (status == FR_OK) status = fr__store_exec(st, fr__store_stmt(st, FR__STMT_COMMIT), "committing");
    return rollback(st, status);
}

/* ---- opening ---- */

struct fr_store_params fr_store_default_params(void) {
    return (struct fr_store_params){.data_dir = NULL, .busy_timeout_ms = 5000, .read_only = false};
}

enum fr_status fr_store_resolve_dir(const struct fr_store_params *p, char *buf, size_t len) {
    FR_ASSERT(p && buf);
    int n;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (p->data_dir && *p->data_dir) n = snprintf(buf, len, "%s", p->data_dir);
    else if (xdg && xdg[0] == '/') n = snprintf(buf, len, "%s/facerec", xdg);
    else if (home && *home) n = snprintf(buf, len, "%s/.local/share/facerec", home);
    else return fr__store_fail(FR_ERR_INVALID, "no data directory: neither XDG_DATA_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= len) return fr__store_fail(FR_ERR_INVALID, "data directory path too long");
    /* A trailing slash would double in DATA_DIR/facerec.db. */
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    return FR_OK;
}

/* mkdir -p, each created level private to the user (0700). */
static enum fr_status make_dirs(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return fr__store_fail(FR_ERR_INVALID, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return fr__store_fail(FR_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
        *p = c;
        if (!c) break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fr__store_fail(FR_ERR_IO, "%s: not a directory", dir);
    return FR_OK;
}

/* One pragma (or any statement) at open, its rows ignored. */
static enum fr_status exec_sql(struct fr_store *st, const char *sql) {
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? FR_OK : fr__store_db_fail(st, rc, sql);
}

enum fr_status fr__sq_new(const struct fr_store_params *p, struct fr_store **out, char *err, size_t errlen) {
    FR_ASSERT(p && out);
    *out = NULL;
    fr__store_fail(FR_OK, "%s", "");
    char dir[PATH_MAX];
    enum fr_status status = fr_store_resolve_dir(p, dir, sizeof(dir));
    if (status != FR_OK) {
        fr_store_last_error(err, errlen);
        return status;
    }
    struct fr_store *st = fr_calloc(1, sizeof(*st));
    if (!st) {
        fr_errf(err, errlen, "out of memory opening the store");
        return fr__store_fail(FR_ERR_NOMEM, "out of memory opening the store");
    }
    pthread_mutex_init(&st->mu, NULL);
    st->vt = &fr__store_sqlite_vt;
    st->read_only = p->read_only;
    size_t plen = strlen(dir) + sizeof("/" DB_FILE);
    st->path = fr_malloc(plen);
    if (!st->path) {
        status = fr__store_fail(FR_ERR_NOMEM, "out of memory opening the store");
        goto fail;
    }
    snprintf(st->path, plen, "%s/" DB_FILE, dir);

    int flags = SQLITE_OPEN_NOMUTEX;
    if (p->read_only) {
        if (access(st->path, F_OK) != 0) {
            status = fr__store_fail(FR_ERR_NOT_FOUND, "%s: no database (create it with `facerec user add`)", st->path);
            goto fail;
        }
        flags |= SQLITE_OPEN_READONLY;
    } else {
        if ((status = make_dirs(dir)) != FR_OK) goto fail;
        /* SQLite creates the file with the umask's mode and gives the WAL and
         * shared-memory files the same one; create it private first. */
        int fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
        else if (errno != EEXIST) {
            status = fr__store_fail(FR_ERR_IO, "%s: cannot create: %s", st->path, strerror(errno));
            goto fail;
        }
        flags |= SQLITE_OPEN_READWRITE;
    }
    int rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        status = st->db ? fr__store_db_fail(st, rc, "opening") : fr__store_fail(FR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, p->busy_timeout_ms > 0 ? p->busy_timeout_ms : 0);
    /* The first read of the file: a file that is not a database fails here. */
    if ((status = exec_sql(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; "
                               "SELECT count(*) FROM sqlite_schema")) != FR_OK) {
        if (status == FR_ERR_FORMAT)
            fr__store_fail(FR_ERR_FORMAT, "%s: not a facerec database, or damaged (%s)", st->path,
                           sqlite3_errmsg(st->db));
        goto fail;
    }
    if (!p->read_only) {
        if ((status = exec_sql(st, "PRAGMA journal_mode = WAL")) != FR_OK) goto fail;
        if ((status = fr__store_migrate(st, NULL, 0)) != FR_OK) goto fail;
    } else {
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) st->version = sqlite3_column_int(s, 0), rc = 0;
        sqlite3_finalize(s);
        if (rc != SQLITE_OK) {
            status = fr__store_db_fail(st, rc, "reading the schema version");
            goto fail;
        }
        if (st->version != fr__store_latest_version()) {
            status = fr__store_fail(FR_ERR_UNSUPPORTED,
                                    "%s: schema version %d, this build needs %d (open it read-write once to migrate)",
                                    st->path, (int)st->version, (int)fr__store_latest_version());
            goto fail;
        }
    }
    for (int i = 0; i < FR__STMT_COUNT; i++) {
        rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            status = fr__store_db_fail(st, rc, "preparing statements");
            goto fail;
        }
    }
    *out = st;
    return FR_OK;

fail:
    return fr__store_open_failed(st, status, err, errlen);
}

int64_t fr__sq_count_rows(struct fr_store *st, const char *table) {
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    fr__store_lock(st);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    fr__store_unlock(st);
    return n;
}

void fr__sq_free(struct fr_store *st) {
    if (!st) return;
    for (int i = 0; i < FR__STMT_COUNT; i++) sqlite3_finalize(st->stmt[i]);
    if (st->db && sqlite3_close(st->db) != SQLITE_OK) FR_LOGW("%s: close: %s", st->path, sqlite3_errmsg(st->db));
    pthread_mutex_destroy(&st->mu);
    fr_free(st->path);
    fr_free(st);
}


enum fr_status fr__sq_check(struct fr_store *st, char *err, size_t errlen) {
    fr__store_lock(st);
    enum fr_status status = FR_OK;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(s, 0);
        if (!msg || strcmp(msg, "ok"))
            status = fr__store_fail(FR_ERR_FORMAT, "%s: integrity check: %s", st->path, msg ? msg : "?");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc == SQLITE_OK && status == FR_OK) {
        /* Rows that break a foreign key: a face of a person that is gone. */
        rc = sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            status = fr__store_fail(FR_ERR_FORMAT, "%s: foreign key check: a row of %s points at a missing row",
                                    st->path, (const char *)sqlite3_column_text(s, 0));
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) rc = SQLITE_OK;
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_OK) status = fr__store_db_fail(st, rc, "integrity check");
    fr__store_unlock(st);
    if (status != FR_OK) fr_store_last_error(err, errlen);
    return status;
}

int64_t fr__sq_data_version(struct fr_store *st) {
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_DATA_VERSION);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    fr__store_unlock(st);
    return v;
}


/* ---- rows ---- */

static int64_t sq_i64(const struct fr__store_row *r, int col) {
    return sqlite3_column_int64((sqlite3_stmt *)r->res, col);
}

static double sq_f64(const struct fr__store_row *r, int col) {
    return sqlite3_column_double((sqlite3_stmt *)r->res, col);
}

static const void *sq_bytes(const struct fr__store_row *r, int col, size_t *len) {
    sqlite3_stmt *s = (sqlite3_stmt *)r->res;
    /* A TEXT or BLOB value comes back as it is stored, without conversion. */
    const void *b = sqlite3_column_blob(s, col);
    *len = b ? (size_t)sqlite3_column_bytes(s, col) : 0;
    return b;
}

static const struct fr__store_cols_i sq_cols = {.i64 = sq_i64, .f64 = sq_f64, .bytes = sq_bytes};

struct fr__store_row fr__sq_row(sqlite3_stmt *s) { return (struct fr__store_row){&sq_cols, s, 0}; }

enum fr_status fr__store_read_one(struct fr_store *st, sqlite3_stmt *s, fr__store_read_fn read, void *row,
                                  const char *missing, const char *what) {
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) read(&(struct fr__store_row){&sq_cols, s, 0}, row);
    else if (rc == SQLITE_DONE) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s", missing);
    else status = fr__store_db_fail(st, rc, what);
    sqlite3_reset(s);
    return status;
}

enum fr_status fr__store_collect(struct fr_store *st, sqlite3_stmt *s, size_t elem, fr__store_read_fn read,
                                 const char *what, void **out, int32_t *n) {
    char *a = NULL;
    int32_t count = 0, cap = 0;
    enum fr_status status = FR_OK;
    struct fr__store_row row = {&sq_cols, s, 0};
    int rc;
    while ((rc = fr__store_step(st, s)) == SQLITE_ROW) {
        if (count == cap) {
            int32_t ncap = cap ? cap * 2 : 16;
            char *b = fr_realloc(a, elem * (size_t)ncap);
            if (!b) {
                status = fr__store_fail(FR_ERR_NOMEM, "out of memory %s", what);
                break;
            }
            a = b, cap = ncap;
        }
        read(&row, a + elem * (size_t)count++);
    }
    if (status == FR_OK && rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, what);
    sqlite3_reset(s);
    if (status != FR_OK) {
        fr_free(a);
        a = NULL;
        count = 0;
    }
    *out = a;
    *n = count;
    return status;
}

/* ---- users and keys: the rows behind store-users.c ---- */

static enum fr_status sq_user_id(struct fr_store *st, const char *name, int64_t *id, bool *found) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_ID);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0), *found = true;
    else if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "looking up a user");
    sqlite3_reset(s);
    return status;
}

static enum fr_status sq_user_insert(struct fr_store *st, const char *name, bool admin, int64_t *id, bool *taken) {
    (void)taken; /* the write lock of BEGIN IMMEDIATE keeps the name free */
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_INSERT);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, admin ? 1 : 0);
    sqlite3_bind_int64(s, 3, fr__store_now());
    enum fr_status status = fr__store_exec(st, s, "adding a user");
    if (status == FR_OK) *id = sqlite3_last_insert_rowid(st->db);
    return status;
}

static enum fr_status sq_key_insert(struct fr_store *st, int64_t user, const char *prefix,
                                    const uint8_t hash[FR_STORE_HASH_LEN]) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_KEY_INSERT);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_text(s, 2, prefix, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, hash, FR_STORE_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, fr__store_now());
    return fr__store_exec(st, s, "adding an API key");
}

static enum fr_status sq_key_owner(struct fr_store *st, const uint8_t hash[FR_STORE_HASH_LEN], int64_t *owner,
                                   bool *present) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_KEY_BY_HASH);
    sqlite3_bind_blob(s, 1, hash, FR_STORE_HASH_LEN, SQLITE_STATIC);
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) *present = true, *owner = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "looking up a key");
    sqlite3_reset(s);
    return status;
}

static enum fr_status sq_key_scan(struct fr_store *st, const char *prefix, struct fr__store_key_search *ks) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_KEY_BY_PREFIX);
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    struct fr__store_row row = {&sq_cols, s, 0};
    int rc;
    while ((rc = fr__store_step(st, s)) == SQLITE_ROW) fr__store_key_match(&row, ks);
    enum fr_status status = rc == SQLITE_DONE ? FR_OK : fr__store_db_fail(st, rc, "looking up a key");
    sqlite3_reset(s);
    return status;
}

static enum fr_status sq_user_delete(struct fr_store *st, int64_t user, bool keys_only) {
    sqlite3_stmt *s = fr__store_stmt(st, keys_only ? FR__STMT_KEY_DELETE_USER : FR__STMT_USER_DELETE);
    sqlite3_bind_int64(s, 1, user);
    return fr__store_exec(st, s, keys_only ? "revoking keys" : "removing a user");
}

static enum fr_status sq_user_by_id(struct fr_store *st, int64_t id, struct fr_store_user *out) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_BY_ID);
    sqlite3_bind_int64(s, 1, id);
    return fr__store_read_one(st, s, fr__store_read_user, out, "no such user", "reading a user");
}

static enum fr_status sq_user_by_name(struct fr_store *st, const char *name, struct fr_store_user *out) {
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_BY_NAME);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    return fr__store_read_one(st, s, fr__store_read_user, out, "no such user", "reading a user");
}

static enum fr_status sq_user_list(struct fr_store *st, struct fr_store_user **out, int32_t *n) {
    return fr__store_collect(st, fr__store_stmt(st, FR__STMT_USER_LIST), sizeof(**out), fr__store_read_user,
                             "listing users", (void **)out, n);
}

const struct fr__store_users_i fr__store_sqlite_users = {
    .begin = fr__store_begin,
    .end = fr__store_end,
    .lock_import = NULL,
    .user_id = sq_user_id,
    .user_insert = sq_user_insert,
    .key_insert = sq_key_insert,
    .key_owner = sq_key_owner,
    .key_scan = sq_key_scan,
    .user_delete = sq_user_delete,
    .user_by_id = sq_user_by_id,
    .user_by_name = sq_user_by_name,
    .user_list = sq_user_list,
};

