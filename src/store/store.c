/* The store: opening the database, the shared helpers, users and API keys.
 * People, images, faces and jobs are in gallery.c; the schema in schema.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/store-impl.h"

#define DB_FILE "facerec.db"


static const char *const stmt_sql[FR__STMT_COUNT] = {
#define FR__STORE_STMT_SQL(name, sql) [FR__STMT_##name] = sql,
    FR__STORE_STMTS(FR__STORE_STMT_SQL)
#undef FR__STORE_STMT_SQL
};

/* ---- errors and helpers ---- */

static _Thread_local char last_error[512];

void fr_store_last_error(char *buf, size_t len) {
    if (buf && len) snprintf(buf, len, "%s", last_error);
}

enum fr_status fr__store_fail(enum fr_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return status;
}

enum fr_status fr__store_db_fail(struct fr_store *st, int rc, const char *what) {
    int primary = rc & 0xff;
    enum fr_status status = primary == SQLITE_NOMEM ? FR_ERR_NOMEM : FR_ERR_IO;
    const char *msg = st->fault_countdown < 0 ? "injected fault" : sqlite3_errmsg(st->db);
    if (st->fault_countdown < 0) st->fault_countdown = 0;
    if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) status = FR_ERR_FORMAT;
    fr__store_fail(status, "%s: %s: %s", st->path, what, msg);
    /* Constraint failures are mapped to NOT_FOUND or INVALID by callers. */
    if (status != FR_ERR_NOMEM && primary != SQLITE_CONSTRAINT) FR_LOGW("%s", last_error);
    return status;
}

void fr__store_lock(struct fr_store *st) { pthread_mutex_lock(&st->mu); }
void fr__store_unlock(struct fr_store *st) { pthread_mutex_unlock(&st->mu); }

sqlite3_stmt *fr__store_stmt(struct fr_store *st, enum fr__store_stmt id) {
    sqlite3_stmt *s = st->stmt[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
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

int64_t fr__store_now(void) { return (int64_t)time(NULL); }

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0
 * if it is malformed (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) return *cp = c, 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

bool fr__store_valid_name(const char *name) {
    if (!name) return false;
    size_t n = strnlen(name, FR_STORE_NAME_MAX + 1);
    if (n == 0 || n > FR_STORE_NAME_MAX) return false;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(s + i, n - i, &cp);
        if (!len || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
        i += len;
    }
    return true;
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
    last_error[0] = 0;
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
    fr_store_last_error(err, errlen);
    {
        char keep[sizeof(last_error)];
        memcpy(keep, last_error, sizeof(keep));
        fr__sq_free(st);
        memcpy(last_error, keep, sizeof(keep));
    }
    return status;
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

/* ---- keys ---- */

void fr_store_sha256(const void *data, size_t len, uint8_t out[FR_STORE_HASH_LEN]) {
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != FR_STORE_HASH_LEN) {
        /* Only an allocation failure inside OpenSSL gets here; a zero hash
         * matches no key and no image. */
        memset(out, 0, FR_STORE_HASH_LEN);
        FR_LOGE("%s: SHA-256 failed", __func__);
    }
}

static void base64url(const uint8_t *in, size_t n, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = abc[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out[o++] = abc[(acc << (6 - bits)) & 63];
    out[o] = 0;
}

static bool is_b64url(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The public id a key is looked up by: the 8 characters after "fr_" for a
 * generated key; for any other (legacy) key, derived from its hash, so that
 * no part of a legacy secret is stored in the clear. */
void fr__store_key_prefix(const char *key, size_t len, const uint8_t hash[FR_STORE_HASH_LEN],
                       char prefix[FR_STORE_KEY_ID_LEN + 2]) {
    bool generated = len == FR_STORE_KEY_LEN && !strncmp(key, "fr_", 3) && key[3 + FR_STORE_KEY_ID_LEN] == '_';
    for (size_t i = 3; generated && i < len; i++)
        if (i != 3 + FR_STORE_KEY_ID_LEN && !is_b64url(key[i])) generated = false;
    if (generated) {
        memcpy(prefix, key + 3, FR_STORE_KEY_ID_LEN);
        prefix[FR_STORE_KEY_ID_LEN] = 0;
    } else {
        /* "~" cannot occur in a generated id, so the two kinds never mix. */
        char b[16];
        base64url(hash, 6, b);
        prefix[0] = '~';
        memcpy(prefix + 1, b, FR_STORE_KEY_ID_LEN);
        prefix[FR_STORE_KEY_ID_LEN + 1] = 0;
    }
}

static enum fr_status insert_key(struct fr_store *st, int64_t user, const char *key) {
    uint8_t hash[FR_STORE_HASH_LEN];
    char prefix[FR_STORE_KEY_ID_LEN + 2];
    size_t len = strlen(key);
    fr_store_sha256(key, len, hash);
    fr__store_key_prefix(key, len, hash, prefix);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_KEY_INSERT);
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_text(s, 2, prefix, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, hash, sizeof(hash), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, fr__store_now());
    return fr__store_exec(st, s, "adding an API key");
}

/* A fresh random key into out (FR_STORE_KEY_LEN + 1 bytes). */
enum fr_status fr__store_new_key(char *out) {
    uint8_t id[6], secret[32];
    if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
        return fr__store_fail(FR_ERR_IO, "no randomness for a new API key (OpenSSL RAND_bytes failed)");
    char a[16], b[48];
    base64url(id, sizeof(id), a);
    base64url(secret, sizeof(secret), b);
    int n = snprintf(out, FR_STORE_KEY_LEN + 1, "fr_%s_%s", a, b);
    FR_ASSERT(n == FR_STORE_KEY_LEN);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(b, sizeof(b));
    return FR_OK;
}

/* The id of the user with that name; FR_ERR_NOT_FOUND if none. */
static enum fr_status user_id(struct fr_store *st, const char *name, int64_t *id) {
    if (!fr__store_valid_name(name)) return fr__store_fail(FR_ERR_NOT_FOUND, "no user with that name");
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_ID);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE) status = fr__store_fail(FR_ERR_NOT_FOUND, "no user named '%s'", name);
    else status = fr__store_db_fail(st, rc, "looking up a user");
    sqlite3_reset(s);
    return status;
}

static enum fr_status insert_user(struct fr_store *st, const char *name, bool admin, int64_t *id) {
    int64_t existing;
    enum fr_status status = user_id(st, name, &existing);
    if (status == FR_OK) return fr__store_fail(FR_ERR_INVALID, "user '%s' already exists", name);
    if (status != FR_ERR_NOT_FOUND) return status;
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_INSERT);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, admin ? 1 : 0);
    sqlite3_bind_int64(s, 3, fr__store_now());
    status = fr__store_exec(st, s, "adding a user");
    if (status == FR_OK) *id = sqlite3_last_insert_rowid(st->db);
    return status;
}

enum fr_status fr__sq_user_add(struct fr_store *st, const char *name, bool admin, int64_t *id,
                                 char key_out[FR_STORE_KEY_LEN + 1], char *err, size_t errlen) {
    FR_ASSERT(st && key_out);
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
    if (status == FR_OK) status = fr__store_begin(st);
    if (status == FR_OK) {
        status = insert_user(st, name, admin, &uid);
        if (status == FR_OK) status = insert_key(st, uid, key);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK) {
        memcpy(key_out, key, sizeof(key));
        if (id) *id = uid;
    } else fr_store_last_error(err, errlen);
    OPENSSL_cleanse(key, sizeof(key));
    return status;
}

enum fr_status fr__sq_key_add(struct fr_store *st, const char *user_name, char key_out[FR_STORE_KEY_LEN + 1],
                                char *err, size_t errlen) {
    FR_ASSERT(st && key_out);
    key_out[0] = 0;
    char key[FR_STORE_KEY_LEN + 1];
    enum fr_status status = fr__store_new_key(key);
    fr__store_lock(st);
    if (status == FR_OK) status = fr__store_begin(st);
    if (status == FR_OK) {
        int64_t uid = 0;
        status = user_id(st, user_name, &uid);
        if (status == FR_OK) status = insert_key(st, uid, key);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK) memcpy(key_out, key, sizeof(key));
    else fr_store_last_error(err, errlen);
    OPENSSL_cleanse(key, sizeof(key));
    return status;
}

/* Legacy keys: any printable word without blanks, as the old "KEY USER"
 * file allowed. */
bool fr__store_valid_legacy_key(const char *key) {
    if (!key) return false;
    size_t n = strnlen(key, LEGACY_KEY_MAX + 1);
    if (n == 0 || n > LEGACY_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f) return false;
    return true;
}

enum fr_status fr__sq_key_import(struct fr_store *st, const char *user_name, const char *key, char *err,
                                   size_t errlen) {
    FR_ASSERT(st);
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
    status = fr__store_begin(st);
    if (status == FR_OK) {
        int64_t uid = 0, owner = 0;
        status = user_id(st, user_name, &uid);
        if (status == FR_ERR_NOT_FOUND) status = insert_user(st, user_name, false, &uid);
        bool present = false;
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_KEY_BY_HASH);
            sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_STATIC);
            int rc = fr__store_step(st, s);
            if (rc == SQLITE_ROW) present = true, owner = sqlite3_column_int64(s, 0);
            else if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "looking up a key");
            sqlite3_reset(s);
        }
        if (status == FR_OK && present && owner != uid)
            status = fr__store_fail(FR_ERR_INVALID, "the key given for user '%s' already belongs to another user",
                                    user_name);
        if (status == FR_OK && !present) status = insert_key(st, uid, key);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK) fr_store_last_error(err, errlen);
    return status;
}

/* Runs one statement bound to the id of the user called name, in a
 * transaction: the body of revoking keys and removing a user. */
static enum fr_status exec_on_user(struct fr_store *st, const char *name, enum fr__store_stmt id, const char *what) {
    FR_ASSERT(st);
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        int64_t uid = 0;
        status = user_id(st, name, &uid);
        if (status == FR_OK) {
            sqlite3_stmt *s = fr__store_stmt(st, id);
            sqlite3_bind_int64(s, 1, uid);
            status = fr__store_exec(st, s, what);
        }
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_key_revoke_all(struct fr_store *st, const char *user_name) {
    return exec_on_user(st, user_name, FR__STMT_KEY_DELETE_USER, "revoking keys");
}

enum fr_status fr__sq_user_remove(struct fr_store *st, const char *name) {
    /* The foreign keys cascade to keys, people, faces, images, jobs. */
    return exec_on_user(st, name, FR__STMT_USER_DELETE, "removing a user");
}

static void read_user(sqlite3_stmt *s, void *row) {
    struct fr_store_user *u = row;
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(s, 0);
    const char *name = (const char *)sqlite3_column_text(s, 1);
    snprintf(u->name, sizeof(u->name), "%s", name ? name : "");
    u->admin = sqlite3_column_int(s, 2) != 0;
    u->created = sqlite3_column_int64(s, 3);
    u->gallery_version = sqlite3_column_int64(s, 4);
    u->n_keys = sqlite3_column_int64(s, 5);
    u->n_people = sqlite3_column_int64(s, 6);
    u->n_faces = sqlite3_column_int64(s, 7);
}

/* One user row from a prepared, bound statement. */
static enum fr_status get_user(struct fr_store *st, sqlite3_stmt *s, struct fr_store_user *out) {
    return fr__store_read_one(st, s, read_user, out, "no such user", "reading a user");
}

enum fr_status fr__store_read_one(struct fr_store *st, sqlite3_stmt *s, fr__store_row_fn read, void *row,
                                  const char *missing, const char *what) {
    int rc = fr__store_step(st, s);
    enum fr_status status = FR_OK;
    if (rc == SQLITE_ROW) read(s, row);
    else if (rc == SQLITE_DONE) status = fr__store_fail(FR_ERR_NOT_FOUND, "%s", missing);
    else status = fr__store_db_fail(st, rc, what);
    sqlite3_reset(s);
    return status;
}

enum fr_status fr__sq_user_get(struct fr_store *st, const char *name, struct fr_store_user *out) {
    FR_ASSERT(st && out);
    if (!fr__store_valid_name(name)) return fr__store_fail(FR_ERR_NOT_FOUND, "no such user");
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_BY_NAME);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    enum fr_status status = get_user(st, s, out);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_user_get_by_id(struct fr_store *st, int64_t id, struct fr_store_user *out) {
    FR_ASSERT(st && out);
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_BY_ID);
    sqlite3_bind_int64(s, 1, id);
    enum fr_status status = get_user(st, s, out);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_user_list(struct fr_store *st, struct fr_store_user **out, int32_t *n) {
    FR_ASSERT(st && out && n);
    *out = NULL;
    *n = 0;
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_USER_LIST);
    enum fr_status status = fr__store_collect(st, s, sizeof(**out), read_user, "listing users", (void **)out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__store_collect(struct fr_store *st, sqlite3_stmt *s, size_t elem, fr__store_row_fn read,
                                 const char *what, void **out, int32_t *n) {
    char *a = NULL;
    int32_t count = 0, cap = 0;
    enum fr_status status = FR_OK;
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
        read(s, a + elem * (size_t)count++);
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

enum fr_status fr__sq_auth(struct fr_store *st, const char *key, struct fr_store_user *out) {
    FR_ASSERT(st && out);
    size_t len = key ? strnlen(key, LEGACY_KEY_MAX + 1) : 0;
    if (len == 0 || len > LEGACY_KEY_MAX) return fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    uint8_t hash[FR_STORE_HASH_LEN];
    char prefix[FR_STORE_KEY_ID_LEN + 2];
    fr_store_sha256(key, len, hash);
    fr__store_key_prefix(key, len, hash, prefix);
    fr__store_lock(st);
    sqlite3_stmt *s = fr__store_stmt(st, FR__STMT_KEY_BY_PREFIX);
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    int64_t uid = 0;
    bool found = false;
    int rc;
    /* Every row with the public id is compared in full, in constant time:
     * the id is public, the rest of the key is not. */
    while ((rc = fr__store_step(st, s)) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 1);
        if (h && sqlite3_column_bytes(s, 1) == FR_STORE_HASH_LEN && !CRYPTO_memcmp(h, hash, FR_STORE_HASH_LEN)) {
            found = true;
            uid = sqlite3_column_int64(s, 0);
        }
    }
    enum fr_status status = FR_OK;
    if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "looking up a key");
    sqlite3_reset(s);
    if (status == FR_OK && !found) status = fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    if (status == FR_OK) {
        s = fr__store_stmt(st, FR__STMT_USER_BY_ID);
        sqlite3_bind_int64(s, 1, uid);
        status = get_user(st, s, out);
        if (status == FR_ERR_NOT_FOUND) status = FR_ERR_AUTH;
    }
    fr__store_unlock(st);
    return status;
}
