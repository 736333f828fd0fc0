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

#include <openssl/crypto.h>

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
    size_t n = strnlen(s, max + 1);
    if (n <= max) {
        add(p, s, 0, 0);
        return;
    }
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    /* Sent as bytes of a text parameter in binary format: no NUL needed. */
    add(p, s, (int)n, 1);
}

void fr__pg_bytes(struct fr__pg_params *p, const void *b, size_t n) { add(p, b, (int)n, 1); }

void fr__pg_null(struct fr__pg_params *p) { add(p, NULL, 0, 0); }

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

int64_t fr__pg_col_i64(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    uint64_t x = 0;
    for (int i = 0; i < n && i < 8; i++) x = x << 8 | v[i];
    if (n == 8) return (int64_t)x;
    if (n == 4) return (int32_t)(uint32_t)x;
    if (n == 2) return (int16_t)(uint16_t)x;
    return (int64_t)x; /* bool */
}

double fr__pg_col_f64(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    uint64_t x = 0;
    for (int i = 0; i < n && i < 8; i++) x = x << 8 | v[i];
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

void fr__pg_col_text(const PGresult *r, int row, int col, char *out, size_t size) {
    int n = PQgetisnull(r, row, col) ? 0 : PQgetlength(r, row, col);
    if ((size_t)n >= size) n = (int)size - 1;
    memcpy(out, PQgetvalue(r, row, col), (size_t)n);
    out[n] = 0;
}

bool fr__pg_col_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

int64_t fr__pg_changes(const PGresult *r) { return atoll(PQcmdTuples((PGresult *)r)); }

enum fr_status fr__pg_collect(struct fr_store *st, const char *sql, const struct fr__pg_params *p, size_t elem,
                              fr__pg_row_fn read, const char *what, void **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, NULL);
    if (status != FR_OK) return status;
    int rows = PQntuples(r);
    if (rows > 0) {
        char *a = fr_calloc((size_t)rows, elem);
        if (!a) status = fr__store_fail(FR_ERR_NOMEM, "out of memory %s", what);
        for (int i = 0; a && i < rows; i++) read(r, i, a + elem * (size_t)i);
        if (a) *out = a, *n = rows;
    }
    PQclear(r);
    return status;
}

enum fr_status fr__pg_one(struct fr_store *st, const char *sql, const struct fr__pg_params *p, fr__pg_row_fn read,
                          void *out, const char *missing, const char *what) {
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, sql, p, &r, what, NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) < 1) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s", missing);
    else read(r, 0, out);
    PQclear(r);
    return status;
}

/* ---- schema ---- */

/* Version 1: as SQLite's version 1 (schema.c), in PostgreSQL's types.
 * The triggers keep the counters and gallery_version in step and notify
 * channel "facerec" with the user's id (one notice per user and
 * transaction: PostgreSQL folds duplicates). */
static const char pg_schema_v1[] =
    "CREATE TABLE users ("
    "  id bigserial PRIMARY KEY,"
    "  name text NOT NULL UNIQUE,"
    "  admin boolean NOT NULL DEFAULT false,"
    "  created bigint NOT NULL,"
    "  gallery_version bigint NOT NULL DEFAULT 0,"
    "  n_people bigint NOT NULL DEFAULT 0,"
    "  n_faces bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE api_keys ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  prefix text NOT NULL,"
    "  hash bytea NOT NULL UNIQUE,"
    "  created bigint NOT NULL,"
    "  last_used bigint);"
    "CREATE INDEX api_keys_prefix ON api_keys(prefix);"
    "CREATE INDEX api_keys_user ON api_keys(user_id);"
    "CREATE TABLE people ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  created bigint NOT NULL,"
    "  updated bigint NOT NULL,"
    "  UNIQUE (user_id, id));"
    "CREATE TABLE images ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  sha256 bytea NOT NULL CHECK (length(sha256) = 32),"
    "  name text NOT NULL DEFAULT '',"
    "  bytes bigint NOT NULL DEFAULT 0,"
    "  width integer NOT NULL DEFAULT 0,"
    "  height integer NOT NULL DEFAULT 0,"
    "  created bigint NOT NULL,"
    "  UNIQUE (user_id, sha256),"
    "  UNIQUE (user_id, id));"
    "CREATE TABLE faces ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  person_id bigint,"
    "  image_id bigint,"
    "  box_x real NOT NULL, box_y real NOT NULL, box_w real NOT NULL, box_h real NOT NULL,"
    "  score real NOT NULL,"
    "  landmarks bytea,"
    "  embedding bytea NOT NULL CHECK (length(embedding) = 512),"
    "  thumbnail bytea,"
    "  created bigint NOT NULL,"
    "  FOREIGN KEY (user_id, person_id) REFERENCES people(user_id, id) ON DELETE CASCADE,"
    "  FOREIGN KEY (user_id, image_id) REFERENCES images(user_id, id) ON DELETE CASCADE);"
    "CREATE INDEX faces_user_person ON faces(user_id, person_id, id);"
    "CREATE INDEX faces_user_image ON faces(user_id, image_id);"
    "CREATE TABLE jobs ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  kind text NOT NULL,"
    "  state integer NOT NULL,"
    "  total bigint NOT NULL DEFAULT 0,"
    "  done bigint NOT NULL DEFAULT 0,"
    "  failed bigint NOT NULL DEFAULT 0,"
    "  detail text NOT NULL DEFAULT '',"
    "  created bigint NOT NULL,"
    "  updated bigint NOT NULL);"
    "CREATE INDEX jobs_user ON jobs(user_id, id);"
    "CREATE FUNCTION facerec_count() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE u bigint; d bigint := 0; BEGIN"
    "  IF TG_OP = 'DELETE' THEN u := OLD.user_id; d := -1; ELSE u := NEW.user_id; END IF;"
    "  IF TG_OP = 'INSERT' THEN d := 1; END IF;"
    "  IF TG_TABLE_NAME = 'people' THEN"
    "    UPDATE users SET n_people = n_people + d, gallery_version = gallery_version + 1 WHERE id = u;"
    "  ELSE"
    "    UPDATE users SET n_faces = n_faces + d, gallery_version = gallery_version + 1 WHERE id = u;"
    "  END IF;"
    "  PERFORM pg_notify('facerec', u::text);"
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER people_count AFTER INSERT OR UPDATE OR DELETE ON people"
    "  FOR EACH ROW EXECUTE FUNCTION facerec_count();"
    "CREATE TRIGGER faces_count AFTER INSERT OR UPDATE OR DELETE ON faces"
    "  FOR EACH ROW EXECUTE FUNCTION facerec_count();";

/* Version 2: the indexing queue, as SQLite's version 2. */
static const char pg_schema_v2[] =
    "ALTER TABLE jobs ADD COLUMN last_claim bigint NOT NULL DEFAULT 0;"
    "CREATE TABLE job_items ("
    "  id bigserial PRIMARY KEY,"
    "  job_id bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  path text NOT NULL,"
    "  state integer NOT NULL DEFAULT 0,"
    "  node text,"
    "  lease_until bigint NOT NULL DEFAULT 0,"
    "  claimed bigint NOT NULL DEFAULT 0,"
    "  finished bigint NOT NULL DEFAULT 0,"
    "  faces integer NOT NULL DEFAULT 0,"
    "  error text);"
    "CREATE INDEX job_items_job ON job_items(job_id, state, id);"
    "CREATE INDEX job_items_node ON job_items(node, state);"
    "CREATE INDEX jobs_running ON jobs(state, kind, last_claim);";

static const struct fr__store_migration pg_migrations[] = {
    {1, pg_schema_v1},
    {2, pg_schema_v2},
};
#define PG_LATEST 2
/* Serialises migrations of concurrent openers (any number: "fr" in ASCII). */
#define MIGRATION_LOCK "SELECT pg_advisory_xact_lock(26226)"

static enum fr_status read_version(struct fr_store *st, int32_t *v) {
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT to_regclass('facerec_schema') IS NOT NULL", NULL, &r, "reading the schema version", NULL);
    if (status != FR_OK) return status;
    bool have = fr__pg_col_i64(r, 0, 0) != 0;
    PQclear(r);
    *v = 0;
    if (!have) return FR_OK;
    status = fr__pg_exec(st, "SELECT coalesce(max(version), 0) FROM facerec_schema", NULL, &r,
                         "reading the schema version", NULL);
    if (status != FR_OK) return status;
    *v = (int32_t)fr__pg_col_i64(r, 0, 0);
    PQclear(r);
    return FR_OK;
}

static enum fr_status migrate(struct fr_store *st) {
    for (size_t i = 0; i < sizeof(pg_migrations) / sizeof(pg_migrations[0]); i++) {
        const struct fr__store_migration *m = &pg_migrations[i];
        enum fr_status status = fr__pg_begin(st);
        if (status != FR_OK) return status;
        status = fr__pg_exec(st, MIGRATION_LOCK, NULL, NULL, "locking for a migration", NULL);
        if (status == FR_OK)
            status = fr__pg_exec(st, "CREATE TABLE IF NOT EXISTS facerec_schema (version integer NOT NULL)", NULL,
                                 NULL, "migrating the schema", NULL);
        int32_t v = 0;
        if (status == FR_OK) status = read_version(st, &v);
        if (status == FR_OK && v > PG_LATEST)
            status = fr__store_fail(FR_ERR_UNSUPPORTED,
                                    "%s: written by a newer facerec (schema version %d; this build knows up to %d)",
                                    st->path, (int)v, PG_LATEST);
        if (status == FR_OK && v < m->version) {
            /* Several statements in one string: the simple protocol. */
            PGresult *r = PQexec(st->pg->conn, m->sql);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                status = fr__store_fail(FR_ERR_IO, "%s: migrating the schema to version %d: %s", st->path,
                                        (int)m->version, PQresultErrorMessage(r));
            PQclear(r);
            struct fr__pg_params p = {0};
            fr__pg_i64(&p, m->version);
            if (status == FR_OK)
                status = fr__pg_exec(st, "INSERT INTO facerec_schema(version) VALUES($1)", &p, NULL,
                                     "migrating the schema", NULL);
        }
        status = fr__pg_end(st, status);
        if (status != FR_OK) return status;
    }
    return read_version(st, &st->version);
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
        if ((status = migrate(st)) != FR_OK) goto fail;
    } else {
        if ((status = read_version(st, &st->version)) != FR_OK) goto fail;
        if (st->version == 0) {
            status = fr__store_fail(FR_ERR_NOT_FOUND, "%s: no facerec schema (create it with `facerec user add`)",
                                    st->path);
            goto fail;
        }
        if (st->version != PG_LATEST) {
            status = fr__store_fail(FR_ERR_UNSUPPORTED,
                                    "%s: schema version %d, this build needs %d (open it read-write once to migrate)",
                                    st->path, (int)st->version, PG_LATEST);
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
    fr_store_last_error(err, errlen);
    {
        char keep[512];
        fr_store_last_error(keep, sizeof(keep));
        fr__pg_free(st);
        fr__store_fail(status, "%s", keep);
    }
    return status;
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

/* ---- users and keys ---- */

#define USER_SELECT                                                                                                    \
    "SELECT u.id, u.name, u.admin, u.created, u.gallery_version, "                                                     \
    "(SELECT count(*) FROM api_keys k WHERE k.user_id = u.id), u.n_people, u.n_faces FROM users u"

static void read_user(const PGresult *r, int row, void *out) {
    struct fr_store_user *u = out;
    memset(u, 0, sizeof(*u));
    u->id = fr__pg_col_i64(r, row, 0);
    fr__pg_col_text(r, row, 1, u->name, sizeof(u->name));
    u->admin = fr__pg_col_i64(r, row, 2) != 0;
    u->created = fr__pg_col_i64(r, row, 3);
    u->gallery_version = fr__pg_col_i64(r, row, 4);
    u->n_keys = fr__pg_col_i64(r, row, 5);
    u->n_people = fr__pg_col_i64(r, row, 6);
    u->n_faces = fr__pg_col_i64(r, row, 7);
}

static enum fr_status user_id(struct fr_store *st, const char *name, int64_t *id) {
    if (!fr__store_valid_name(name)) return fr__store_fail(FR_ERR_NOT_FOUND, "no user with that name");
    struct fr__pg_params p = {0};
    fr__pg_text(&p, name);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st, "SELECT id FROM users WHERE name = $1", &p, &r, "looking up a user", NULL);
    if (status != FR_OK) return status;
    if (PQntuples(r) == 1) *id = fr__pg_col_i64(r, 0, 0);
    else status = fr__store_fail(FR_ERR_NOT_FOUND, "no user named '%s'", name);
    PQclear(r);
    return status;
}

static enum fr_status insert_user(struct fr_store *st, const char *name, bool admin, int64_t *id) {
    int64_t existing;
    enum fr_status status = user_id(st, name, &existing);
    if (status == FR_OK) return fr__store_fail(FR_ERR_INVALID, "user '%s' already exists", name);
    if (status != FR_ERR_NOT_FOUND) return status;
    struct fr__pg_params p = {0};
    fr__pg_text(&p, name);
    fr__pg_text(&p, admin ? "true" : "false");
    fr__pg_i64(&p, fr__store_now());
    PGresult *r;
    char state[6];
    status = fr__pg_exec(st, "INSERT INTO users(name, admin, created) VALUES($1, $2, $3) RETURNING id", &p, &r,
                         "adding a user", state);
    /* Another node added the name between our look-up and insert. */
    if (status != FR_OK && !strcmp(state, FR__PG_UNIQUE))
        return fr__store_fail(FR_ERR_INVALID, "user '%s' already exists", name);
    if (status == FR_OK) {
        *id = fr__pg_col_i64(r, 0, 0);
        PQclear(r);
    }
    return status;
}

static enum fr_status insert_key(struct fr_store *st, int64_t user, const char *key) {
    uint8_t hash[FR_STORE_HASH_LEN];
    char prefix[FR_STORE_KEY_ID_LEN + 2];
    size_t len = strlen(key);
    fr_store_sha256(key, len, hash);
    fr__store_key_prefix(key, len, hash, prefix);
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, user);
    fr__pg_text(&p, prefix);
    fr__pg_bytes(&p, hash, sizeof(hash));
    fr__pg_i64(&p, fr__store_now());
    return fr__pg_exec(st, "INSERT INTO api_keys(user_id, prefix, hash, created) VALUES($1, $2, $3, $4)", &p, NULL,
                       "adding an API key", NULL);
}

enum fr_status fr__pg_user_add(struct fr_store *st, const char *name, bool admin, int64_t *id,
                               char key_out[FR_STORE_KEY_LEN + 1], char *err, size_t errlen) {
    FR_ASSERT(key_out);
    key_out[0] = 0;
    if (!fr__store_valid_name(name)) {
        enum fr_status status = fr__store_fail(
            FR_ERR_INVALID, "bad user name: 1 to %d bytes of UTF-8 without control characters", FR_STORE_NAME_MAX);
        fr_store_last_error(err, errlen);
        return status;
    }
    char key[FR_STORE_KEY_LEN + 1];
    enum fr_status status = fr__store_new_key(key);
    int64_t uid = 0;
    fr__store_lock(st);
    if (status == FR_OK) status = fr__pg_begin(st);
    if (status == FR_OK) {
        status = insert_user(st, name, admin, &uid);
        if (status == FR_OK) status = insert_key(st, uid, key);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK) {
        memcpy(key_out, key, sizeof(key));
        if (id) *id = uid;
    } else fr_store_last_error(err, errlen);
    OPENSSL_cleanse(key, sizeof(key));
    return status;
}

enum fr_status fr__pg_key_add(struct fr_store *st, const char *user_name, char key_out[FR_STORE_KEY_LEN + 1],
                              char *err, size_t errlen) {
    FR_ASSERT(key_out);
    key_out[0] = 0;
    char key[FR_STORE_KEY_LEN + 1];
    enum fr_status status = fr__store_new_key(key);
    fr__store_lock(st);
    if (status == FR_OK) status = fr__pg_begin(st);
    if (status == FR_OK) {
        int64_t uid = 0;
        status = user_id(st, user_name, &uid);
        if (status == FR_OK) status = insert_key(st, uid, key);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK) memcpy(key_out, key, sizeof(key));
    else fr_store_last_error(err, errlen);
    OPENSSL_cleanse(key, sizeof(key));
    return status;
}

enum fr_status fr__pg_key_import(struct fr_store *st, const char *user_name, const char *key, char *err,
                                 size_t errlen) {
    enum fr_status status = FR_OK;
    if (!fr__store_valid_name(user_name))
        status = fr__store_fail(FR_ERR_INVALID, "bad user name for an imported key");
    else if (!fr__store_valid_legacy_key(key))
        status = fr__store_fail(FR_ERR_INVALID, "bad key for user '%s': 1 to %d printable characters without blanks",
                                user_name, LEGACY_KEY_MAX);
    if (status != FR_OK) {
        fr_store_last_error(err, errlen);
        return status;
    }
    uint8_t hash[FR_STORE_HASH_LEN];
    fr_store_sha256(key, strlen(key), hash);
    fr__store_lock(st);
    status = fr__pg_begin(st);
    if (status == FR_OK) {
        int64_t uid = 0, owner = 0;
        /* Servers starting together import the same key file: one at a time. */
        status = fr__pg_exec(st, "SELECT pg_advisory_xact_lock(26227)", NULL, NULL, "locking", NULL);
        if (status == FR_OK) status = user_id(st, user_name, &uid);
        if (status == FR_ERR_NOT_FOUND) status = insert_user(st, user_name, false, &uid);
        bool present = false;
        if (status == FR_OK) {
            struct fr__pg_params p = {0};
            fr__pg_bytes(&p, hash, sizeof(hash));
            PGresult *r;
            status = fr__pg_exec(st, "SELECT user_id FROM api_keys WHERE hash = $1", &p, &r, "looking up a key", NULL);
            if (status == FR_OK) {
                if (PQntuples(r) > 0) present = true, owner = fr__pg_col_i64(r, 0, 0);
                PQclear(r);
            }
        }
        if (status == FR_OK && present && owner != uid)
            status = fr__store_fail(FR_ERR_INVALID, "the key given for user '%s' already belongs to another user",
                                    user_name);
        if (status == FR_OK && !present) status = insert_key(st, uid, key);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK) fr_store_last_error(err, errlen);
    return status;
}

/* Runs sql bound to the id of the user called name, in a transaction. */
static enum fr_status exec_on_user(struct fr_store *st, const char *name, const char *sql, const char *what) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin(st);
    if (status == FR_OK) {
        int64_t uid = 0;
        status = user_id(st, name, &uid);
        if (status == FR_OK) {
            struct fr__pg_params p = {0};
            fr__pg_i64(&p, uid);
            status = fr__pg_exec(st, sql, &p, NULL, what, NULL);
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_key_revoke_all(struct fr_store *st, const char *user_name) {
    return exec_on_user(st, user_name, "DELETE FROM api_keys WHERE user_id = $1", "revoking keys");
}

enum fr_status fr__pg_user_remove(struct fr_store *st, const char *name) {
    return exec_on_user(st, name, "DELETE FROM users WHERE id = $1", "removing a user");
}

enum fr_status fr__pg_user_get(struct fr_store *st, const char *name, struct fr_store_user *out) {
    if (!fr__store_valid_name(name)) return fr__store_fail(FR_ERR_NOT_FOUND, "no such user");
    struct fr__pg_params p = {0};
    fr__pg_text(&p, name);
    fr__store_lock(st);
    enum fr_status status = fr__pg_one(st, USER_SELECT " WHERE u.name = $1", &p, read_user, out, "no such user",
                                       "reading a user");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_user_get_by_id(struct fr_store *st, int64_t id, struct fr_store_user *out) {
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, id);
    fr__store_lock(st);
    enum fr_status status =
        fr__pg_one(st, USER_SELECT " WHERE u.id = $1", &p, read_user, out, "no such user", "reading a user");
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_user_list(struct fr_store *st, struct fr_store_user **out, int32_t *n) {
    fr__store_lock(st);
    /* Byte order, as SQLite's BINARY collation sorts. */
    enum fr_status status = fr__pg_collect(st, USER_SELECT " ORDER BY u.name COLLATE \"C\"", NULL, sizeof(**out),
                                           read_user, "listing users", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_auth(struct fr_store *st, const char *key, struct fr_store_user *out) {
    size_t len = key ? strnlen(key, LEGACY_KEY_MAX + 1) : 0;
    if (len == 0 || len > LEGACY_KEY_MAX) return fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    uint8_t hash[FR_STORE_HASH_LEN];
    char prefix[FR_STORE_KEY_ID_LEN + 2];
    fr_store_sha256(key, len, hash);
    fr__store_key_prefix(key, len, hash, prefix);
    struct fr__pg_params p = {0};
    fr__pg_text(&p, prefix);
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT user_id, hash FROM api_keys WHERE prefix = $1", &p, &r, "looking up a key", NULL);
    int64_t uid = 0;
    bool found = false;
    if (status == FR_OK) {
        /* Every row with the public id is compared in full, in constant time. */
        for (int i = 0; i < PQntuples(r); i++) {
            const void *h = PQgetvalue(r, i, 1);
            if (PQgetlength(r, i, 1) == FR_STORE_HASH_LEN && !CRYPTO_memcmp(h, hash, FR_STORE_HASH_LEN)) {
                found = true;
                uid = fr__pg_col_i64(r, i, 0);
            }
        }
        PQclear(r);
    }
    if (status == FR_OK && !found) status = fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    if (status == FR_OK) {
        struct fr__pg_params q = {0};
        fr__pg_i64(&q, uid);
        status = fr__pg_one(st, USER_SELECT " WHERE u.id = $1", &q, read_user, out, "no such user", "reading a user");
        if (status == FR_ERR_NOT_FOUND) status = fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    }
    fr__store_unlock(st);
    return status;
}
