/* The PostgreSQL store: the connection, the statement helpers, the schema
 * and its migrations, change notices (LISTEN/NOTIFY), users and API keys.
 * People, images, faces, jobs and the queue are in store-pg-gallery.c.
 *
 * One connection serves every call, behind the store's mutex, as SQLite's
 * does; a second one, owned by a listener thread, LISTENs on channel
 * "facerec", which the schema's triggers notify (payload: the user id) on
 * every change to people and faces. Each notice from another connection
 * bumps a counter that fr_store_data_version returns, so a gallery learns
 * of other nodes' writes within the notice's latency and asks the
 * database nothing while nothing changed. While the listener is not
 * connected the counter moves on every read, and the gallery falls back
 * to comparing versions on every use. A connection that broke is reset
 * before the next call; the call that met the break fails FR_ERR_IO. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store-pg-impl.h"

/* ---- statement helpers ---- */

static void add(struct fr__pg_params *p, const char *v, int len, int fmt) {
    FR_ASSERT(p->n < FR__PG_MAX_PARAMS);
    p->v[p->n] = v, p->len[p->n] = len, p->fmt[p->n] = fmt;
    p->n++;
}

void fr__pg_i64(struct fr__pg_params *p, int64_t v) {
    FR_ASSERT(p->n < FR__PG_MAX_PARAMS);
    snprintf(p->buf[p->n], sizeof(p->buf[0]), "%lld", (long long)v);
    add(p, p->buf[p->n], 0, 0);
}

void fr__pg_f64(struct fr__pg_params *p, double v) {
    FR_ASSERT(p->n < FR__PG_MAX_PARAMS);
    snprintf(p->buf[p->n], sizeof(p->buf[0]), "%.9g", v);
    add(p, p->buf[p->n], 0, 0);
}

void fr__pg_text(struct fr__pg_params *p, const char *s) { add(p, s, 0, 0); }

void fr__pg_text_cut(struct fr__pg_params *p, const char *s, size_t max) {
    size_t n = fr__store_cut_len(s, max);
    /* A cut one is sent as the bytes of a text parameter in binary format:
     * no NUL needed. */
    if (s[n]) add(p, s, (int)n, 1);
    else add(p, s, 0, 0);
}

void fr__pg_bytes(struct fr__pg_params *p, const void *b, size_t n) { add(p, b, (int)n, 1); }

void fr__pg_null(struct fr__pg_params *p) { add(p, NULL, 0, 0); }

void fr__pg_ids(struct fr__pg_params *p, int64_t user, int64_t id) {
    p->n = 0;
    fr__pg_i64(p, user);
    fr__pg_i64(p, id);
}

/* Makes sure the connection is up before a call: a broken one is reset. */
static void reconnect(struct fr_store *st) {
    struct fr__pg *pg = st->pg;
    if (PQstatus(pg->conn) == CONNECTION_OK) return;
    PQreset(pg->conn);
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        atomic_store(&pg->own_pid, PQbackendPID(pg->conn));
        FR_LOGW("%s: reconnected", st->path);
    }
}

enum fr_status fr__pg_exec(struct fr_store *st, const char *sql, const struct fr__pg_params *p, PGresult **res,
                           const char *what, char state[6]) {
    if (res) *res = NULL;
    if (state) state[0] = 0;
    if (st->fault_countdown > 0 && --st->fault_countdown == 0)
        return fr__store_fail(FR_ERR_IO, "%s: %s: injected fault", st->path, what);
    /* Never inside a transaction: the statements after a reset would run
     * outside it. The transaction fails; the next one reconnects. */
    if (!st->pg->in_tx) reconnect(st);
    PGresult *r = PQexecParams(st->pg->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                               p ? p->fmt : NULL, 1);
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
        if (res) *res = r;
        else PQclear(r);
        return FR_OK;
    }
    const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && code) snprintf(state, 6, "%s", code);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(st->pg->conn));
    for (char *c = msg; *c; c++)
        if (*c == '\n') *c = ' ';
    enum fr_status status = FR_ERR_IO;
    if (!r) status = FR_ERR_NOMEM;
    if (code && !strncmp(code, "53", 2)) status = FR_ERR_NOMEM; /* insufficient resources */
    fr__store_fail(status, "%s: %s: %s", st->path, what, msg);
    /* Constraint failures are mapped to NOT_FOUND or INVALID by callers. */
    if (!code || strncmp(code, "23", 2)) {
        char last[512];
        fr_store_last_error(last, sizeof(last));
        FR_LOGW("%s", last);
    }
    PQclear(r);
    return status;
}

enum fr_status fr__pg_begin(struct fr_store *st) {
    st->pg->tx_user = 0;
    enum fr_status status = fr__pg_exec(st, "BEGIN", NULL, NULL, "beginning a transaction", NULL);
    st->pg->in_tx = status == FR_OK;
    return status;
}

enum fr_status fr__pg_begin_user(struct fr_store *st, int64_t user) {
    enum fr_status status = fr__pg_begin(st);
    if (status != FR_OK) return status;
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    PGresult *r;
    status = fr__pg_exec(st, "SELECT gallery_version FROM users WHERE id = $1 FOR UPDATE", &p, &r, "locking a user",
                         NULL);
    if (status != FR_OK) return fr__pg_end(st, status);
    /* A missing user is left to the statements that follow (they answer
     * NOT_FOUND). */
    if (PQntuples(r) == 1) st->pg->tx_user = user, st->pg->tx_before = fr__pg_col_i64(r, 0, 0);
    PQclear(r);
    return FR_OK;
}

enum fr_status fr__pg_end(struct fr_store *st, enum fr_status status) {
    struct fr__pg *pg = st->pg;
    int64_t after = -1;
    if (status == FR_OK && pg->tx_user > 0) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, pg->tx_user);
        PGresult *r;
        status = fr__pg_exec(st, "SELECT gallery_version FROM users WHERE id = $1", &p, &r, "reading a version", NULL);
        if (status == FR_OK) {
            if (PQntuples(r) == 1) after = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
        }
    }
    if (status == FR_OK) status = fr__pg_exec(st, "COMMIT", NULL, NULL, "committing", NULL);
    if (status != FR_OK && PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(pg->conn, "ROLLBACK");
        PQclear(r);
    }
    if (status == FR_OK && pg->tx_user > 0 && after >= 0) fr__store_note_write(pg->tx_user, pg->tx_before, after);
    pg->tx_user = 0;
    pg->in_tx = false;
    return status;
}

/* The first (at most 8) bytes of a binary column as a big-endian number,
 * and how many there were. */
static uint64_t col_be(const PGresult *r, int row, int col, int *n) {
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    *n = PQgetlength(r, row, col);
    uint64_t x = 0;
    for (int i = 0; i < *n && i < 8; i++) x = x << 8 | v[i];
    return x;
}

int64_t fr__pg_col_i64(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    int n;
    uint64_t x = col_be(r, row, col, &n);
    if (n == 8) return (int64_t)x;
    if (n == 4) return (int32_t)(uint32_t)x;
    if (n == 2) return (int16_t)(uint16_t)x;
    return (int64_t)x; /* bool */
}

double fr__pg_col_f64(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    int n;
    uint64_t x = col_be(r, row, col, &n);
    if (n == 4) {
        uint32_t u = (uint32_t)x;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    double d;
    memcpy(&d, &x, 8);
    return d;
}

static int64_t row_i64(const struct fr__store_row *r, int col) { return fr__pg_col_i64(r->res, r->row, col); }

static double row_f64(const struct fr__store_row *r, int col) { return fr__pg_col_f64(r->res, r->row, col); }

static const void *row_bytes(const struct fr__store_row *r, int col, size_t *len) {
    if (PQgetisnull(r->res, r->row, col)) return *len = 0, NULL;
    *len = (size_t)PQgetlength(r->res, r->row, col);
    return PQgetvalue(r->res, r->row, col);
}

static const struct fr__store_cols_i pg_cols = {.i64 = row_i64, .f64 = row_f64, .bytes = row_bytes};

struct fr__store_row fr__pg_row(const PGresult *r, int row) { return (struct fr__store_row){&pg_cols, r, row}; }

int64_t fr__pg_changes(const PGresult *r) { return atoll(PQcmdTuples((PGresult *)r)); }

enum fr_status fr__pg_collect(struct fr_store *st, const char *sql, const struct fr__pg_params *p, size_t elem,
                              fr__store_read_fn read, const char *what, void **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, NULL);
    if (status != FR_OK) return status;
    int rows = PQntuples(r);
    if (rows > 0) {
        char *a = fr_calloc((size_t)rows, elem);
        if (!a) status = fr__store_fail(FR_ERR_NOMEM, "out of memory %s", what);
        for (int i = 0; a && i < rows; i++) read(&(struct fr__store_row){&pg_cols, r, i}, a + elem * (size_t)i);
        if (a) *out = a, *n = rows;
    }
    PQclear(r);
    return status;
}

enum fr_status fr__pg_one(struct fr_store *st, const char *sql, const struct fr__pg_params *p, fr__store_read_fn read,
                          void *out, const char *missing, const char *what) {
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) < 1) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s", missing);
    else read(&(struct fr__store_row){&pg_cols, r, 0}, out);
    PQclear(r);
    return status;
}

/* Connects to the URL with a 10 s connect timeout unless it names its own. */
static PGconn *connect_url(const char *url) {
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"10", url, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* ---- change notices ---- */

static void *listen_main(void *arg) {
    struct fr_store *st = arg;
    struct fr__pg *pg = st->pg;
    PGconn *c = NULL;
    int backoff_ms = 100;
    for (;;) {
        if (!c || PQstatus(c) != CONNECTION_OK) {
            atomic_store(&pg->listening, false);
            PQfinish(c);
            c = connect_url(pg->conninfo);
            PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "LISTEN facerec") : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (ok) {
                /* Notices sent while we were away are lost: everything
                 * must be compared once. */
                atomic_fetch_add(&pg->version, 1);
                atomic_store(&pg->listening, true);
                backoff_ms = 100;
            } else {
                PQfinish(c);
                c = NULL;
                struct pollfd w = {pg->wake[0], POLLIN, 0};
                if (poll(&w, 1, backoff_ms) > 0) break;
                if (backoff_ms < 2000) backoff_ms *= 2;
                continue;
            }
        }
        struct pollfd fds[2] = {{PQsocket(c), POLLIN, 0}, {pg->wake[0], POLLIN, 0}};
        int n = poll(fds, 2, 5000);
        if (n < 0 && errno != EINTR) break;
        if (fds[1].revents) break;
        if (!PQconsumeInput(c)) { /* broken: reconnect above */
            PQfinish(c);
            c = NULL;
            continue;
        }
        bool news = false;
        PGnotify *nt;
        int own = atomic_load(&pg->own_pid);
        while ((nt = PQnotifies(c))) {
            if (nt->be_pid != own) news = true;
            PQfreemem(nt);
        }
        if (news) atomic_fetch_add(&pg->version, 1);
    }
    atomic_store(&pg->listening, false);
    PQfinish(c);
    return NULL;
}

int64_t fr__pg_data_version(struct fr_store *st) {
    struct fr__pg *pg = st->pg;
    /* Not listening (yet, or any more): every read is news. */
    if (!atomic_load(&pg->listening)) return atomic_fetch_add(&pg->version, 1) + 1;
    return atomic_load(&pg->version);
}

/* ---- opening ---- */

/* Server notices and warnings go to the log, not to stderr. */
static void notice(void *arg, const char *msg) {
    (void)arg;
    FR_LOGD("postgresql: %s", msg);
}

/* The URL without its password, for messages and fr_store_path. */
static char *redact(const char *url) {
    char *out = fr_malloc(strlen(url) + 1);
    if (!out) return NULL;
    strcpy(out, url);
    char *scheme = strstr(out, "://");
    if (!scheme) return out;
    char *auth = scheme + 3, *at = strchr(auth, '@'), *slash = strchr(auth, '/');
    if (!at || (slash && slash < at)) return out;
    char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) memmove(colon, at, strlen(at) + 1);
    return out;
}

enum fr_status fr__pg_new(const struct fr_store_params *p, struct fr_store **out, char *err, size_t errlen) {
    *out = NULL;
    enum fr_status status = FR_OK;
    struct fr_store *st = fr_calloc(1, sizeof(*st));
    struct fr__pg *pg = st ? fr_calloc(1, sizeof(*pg)) : NULL;
    if (!st || !pg) {
        fr_free(st);
        fr_free(pg);
        fr_errf(err, errlen, "out of memory opening the store");
        return fr__store_fail(FR_ERR_NOMEM, "out of memory opening the store");
    }
    pthread_mutex_init(&st->mu, NULL);
    st->vt = &fr__store_pg_vt;
    st->pg = pg;
    st->read_only = p->read_only;
    pg->wake[0] = pg->wake[1] = -1;
    pg->conninfo = fr_malloc(strlen(p->data_dir) + 1);
    st->path = redact(p->data_dir);
    if (!pg->conninfo || !st->path) {
        status = fr__store_fail(FR_ERR_NOMEM, "out of memory opening the store");
        goto fail;
    }
    strcpy(pg->conninfo, p->data_dir);
    pg->conn = connect_url(pg->conninfo);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        for (char *c = msg; *c; c++)
            if (*c == '\n') *c = ' ';
        status = fr__store_fail(FR_ERR_IO, "%s: cannot connect: %s", st->path, msg);
        goto fail;
    }
    atomic_store(&pg->own_pid, PQbackendPID(pg->conn));
    PQsetNoticeProcessor(pg->conn, notice, NULL);
    /* Quiet the server's NOTICEs (CREATE TABLE IF NOT EXISTS ...). */
    if ((status = fr__pg_exec(st, "SET client_min_messages = warning", NULL, NULL, "configuring", NULL)) != FR_OK)
        goto fail;
    /* Read-only, as SQLite's SQLITE_OPEN_READONLY: every write fails. */
    if (p->read_only && (status = fr__pg_exec(st, "SET default_transaction_read_only = on", NULL, NULL, "configuring",
                                              NULL)) != FR_OK)
        goto fail;
    if (!p->read_only) {
        if ((status = fr__pg_migrate(st)) != FR_OK) goto fail;
    } else {
        if ((status = fr__pg_read_version(st, &st->version)) != FR_OK) goto fail;
        if (st->version == 0) {
            status = fr__store_fail(FR_ERR_NOT_FOUND, "%s: no facerec schema (create it with `facerec user add`)",
                                    st->path);
            goto fail;
        }
        if (st->version != FR__PG_LATEST) {
            status = fr__store_fail(FR_ERR_UNSUPPORTED,
                                    "%s: schema version %d, this build needs %d (open it read-write once to migrate)",
                                    st->path, (int)st->version, FR__PG_LATEST);
            goto fail;
        }
    }
    if (pipe(pg->wake) != 0) {
        status = fr__store_fail(FR_ERR_IO, "%s: pipe: %s", st->path, strerror(errno));
        goto fail;
    }
    if (pthread_create(&pg->listener, NULL, listen_main, st) != 0) {
        status = fr__store_fail(FR_ERR_IO, "%s: cannot start the change listener", st->path);
        goto fail;
    }
    pg->listener_started = true;
    *out = st;
    return FR_OK;
fail:
    return fr__store_open_failed(st, status, err, errlen);
}

void fr__pg_free(struct fr_store *st) {
    if (!st) return;
    struct fr__pg *pg = st->pg;
    if (pg->listener_started) {
        ssize_t w = write(pg->wake[1], "x", 1);
        (void)w;
        pthread_join(pg->listener, NULL);
    }
    if (pg->wake[0] >= 0) close(pg->wake[0]), close(pg->wake[1]);
    PQfinish(pg->conn);
    fr_free(pg->conninfo);
    fr_free(pg);
    pthread_mutex_destroy(&st->mu);
    fr_free(st->path);
    fr_free(st);
}

int64_t fr__pg_count_rows(struct fr_store *st, const char *table) {
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    fr__store_lock(st);
    PGresult *r;
    int64_t n = -1;
    if (fr__pg_exec(st, sql, NULL, &r, "counting rows", NULL) == FR_OK) {
        n = fr__pg_col_i64(r, 0, 0);
        PQclear(r);
    }
    fr__store_unlock(st);
    return n;
}

enum fr_status fr__pg_check(struct fr_store *st, char *err, size_t errlen) {
    /* The schema's foreign keys and checks are enforced by the server;
     * what is left to check is that the counters agree with the rows. */
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status = fr__pg_exec(
        st,
        "SELECT u.name FROM users u WHERE u.n_faces <> (SELECT count(*) FROM faces f WHERE f.user_id = u.id) OR "
        "u.n_people <> (SELECT count(*) FROM people p WHERE p.user_id = u.id) LIMIT 1",
        NULL, &r, "integrity check", NULL);
    if (status == FR_OK) {
        if (PQntuples(r) > 0)
            status = fr__store_fail(FR_ERR_FORMAT, "%s: integrity check: the counters of user '%s' are wrong",
                                    st->path, PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    fr__store_unlock(st);
    if (status != FR_OK) fr_store_last_error(err, errlen);
    return status;
}

/* ---- users and keys: the rows behind store-users.c ---- */

static enum fr_status pg_user_id(struct fr_store *st, const char *name, int64_t *id, bool *found) {
    struct fr__pg_params p = {0};
    fr__pg_text(&p, name);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, "SELECT id FROM users WHERE name = $1", &p, &r, "looking up a user", NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) == 1) *id = fr__pg_col_i64(r, 0, 0), *found = true;
    PQclear(r);
    return status;
}

static enum fr_status pg_user_insert(struct fr_store *st, const char *name, bool admin, int64_t *id, bool *taken) {
    struct fr__pg_params p = {0};
    fr__pg_text(&p, name);
    fr__pg_text(&p, admin ? "true" : "false");
    fr__pg_i64(&p, fr__store_now());
    PGresult *r;
    char state[6];
    enum fr_status status = fr__pg_exec(st, "INSERT INTO users(name, admin, created) VALUES($1, $2, $3) RETURNING id",
                                        &p, &r, "adding a user", state);
    if (status != FR_OK && !strcmp(state, FR__PG_UNIQUE)) *taken = true;
    if (status == FR_OK) {
        *id = fr__pg_col_i64(r, 0, 0);
        PQclear(r);
    }
    return status;
}

static enum fr_status pg_key_insert(struct fr_store *st, int64_t user, const char *prefix,
                                    const uint8_t hash[FR_STORE_HASH_LEN]) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_text(&p, prefix);
    fr__pg_bytes(&p, hash, FR_STORE_HASH_LEN);
    fr__pg_i64(&p, fr__store_now());
    return fr__pg_exec(st, "INSERT INTO api_keys(user_id, prefix, hash, created) VALUES($1, $2, $3, $4)", &p, NULL,
                       "adding an API key", NULL);
}

static enum fr_status pg_key_owner(struct fr_store *st, const uint8_t hash[FR_STORE_HASH_LEN], int64_t *owner,
                                   bool *present) {
    struct fr__pg_params p = {0};
    fr__pg_bytes(&p, hash, FR_STORE_HASH_LEN);
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT user_id FROM api_keys WHERE hash = $1", &p, &r, "looking up a key", NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) > 0) *present = true, *owner = fr__pg_col_i64(r, 0, 0);
    PQclear(r);
    return status;
}

static enum fr_status pg_key_scan(struct fr_store *st, const char *prefix, struct fr__store_key_search *ks) {
    struct fr__pg_params p = {0};
    fr__pg_text(&p, prefix);
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT user_id, hash FROM api_keys WHERE prefix = $1", &p, &r, "looking up a key", NULL);
    if (status != FR_OK) return status;
    for (int i = 0; i < PQntuples(r); i++) fr__store_key_match(&(struct fr__store_row){&pg_cols, r, i}, ks);
    PQclear(r);
    return status;
}

/* Servers starting together import the same key file: one at a time. */
static enum fr_status pg_lock_import(struct fr_store *st) {
    return fr__pg_exec(st, "SELECT pg_advisory_xact_lock(26227)", NULL, NULL, "locking", NULL);
}

static enum fr_status pg_user_delete(struct fr_store *st, int64_t user, bool keys_only) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    return fr__pg_exec(st, keys_only ? "DELETE FROM api_keys WHERE user_id = $1" : "DELETE FROM users WHERE id = $1",
                       &p, NULL, keys_only ? "revoking keys" : "removing a user", NULL);
}

static enum fr_status pg_user_by_id(struct fr_store *st, int64_t id, struct fr_store_user *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, id);
    return fr__pg_one(st, FR__STORE_USER_SELECT " WHERE u.id = $1", &p, fr__store_read_user, out, "no such user",
                      "reading a user");
}

static enum fr_status pg_user_by_name(struct fr_store *st, const char *name, struct fr_store_user *out) {
    struct fr__pg_params p = {0};
    fr__pg_text(&p, name);
    return fr__pg_one(st, FR__STORE_USER_SELECT " WHERE u.name = $1", &p, fr__store_read_user, out, "no such user",
                      "reading a user");
}

static enum fr_status pg_user_list(struct fr_store *st, struct fr_store_user **out, int32_t *n) {
    /* Byte order, as SQLite's BINARY collation sorts. */
    return fr__pg_collect(st, FR__STORE_USER_SELECT " ORDER BY u.name COLLATE \"C\"", NULL, sizeof(**out),
                          fr__store_read_user, "listing users", (void **)out, n);
}

const struct fr__store_users_i fr__store_pg_users = {
    .begin = fr__pg_begin,
    .end = fr__pg_end,
    .lock_import = pg_lock_import,
    .user_id = pg_user_id,
    .user_insert = pg_user_insert,
    .key_insert = pg_key_insert,
    .key_owner = pg_key_owner,
    .key_scan = pg_key_scan,
    .user_delete = pg_user_delete,
    .user_by_id = pg_user_by_id,
    .user_by_name = pg_user_by_name,
    .user_list = pg_user_list,
};

