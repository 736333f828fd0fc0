/* Shared by the store tests (test-store.c, test-store-queue.c): each
 * test's temporary data directory or PostgreSQL database, and rows made
 * for the tests. The same tests run against SQLite by default and against
 * PostgreSQL when FACEREC_TEST_PG holds the URL of a scratch database
 * (tests/pg-tmp.sh run ...; each test then gets a database of its own,
 * created here). Include after cmocka.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facerec/status.h"
#include "facerec/store.h"
#include "store/store-impl.h"
#include "test-util.h"
#ifdef FR_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

static char g_dir[256];
static char g_err[512];
static const char *g_pg; /* FACEREC_TEST_PG: the PostgreSQL URL, or NULL for SQLite */

/* The URL of database fr_<sub> on the test's server, created if missing. */
static inline const char *pg_url(const char *sub) {
    static char url[4][1024];
    static int k;
    k = (k + 1) % 4;
    char db[128];
    snprintf(db, sizeof(db), "fr_%s", sub);
    for (char *c = db; *c; c++)
        if (*c == '/' || *c == '-') *c = '_';
    const char *q = strstr(g_pg, "/facerec");
    if (!q) fail_msg("FACEREC_TEST_PG must name database facerec: %s", g_pg);
    snprintf(url[k], sizeof(url[k]), "%.*s/%s%s", (int)(q - g_pg), g_pg, db, q + strlen("/facerec"));
#ifdef FR_HAVE_LIBPQ
    PGconn *c = PQconnectdb(g_pg);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("%s: %s", g_pg, PQerrorMessage(c));
    const char *v[1] = {db};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, v, NULL, NULL, 0);
    bool have = PQntuples(r) > 0;
    PQclear(r);
    if (!have) {
        char sql[200];
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
#endif
    return url[k];
}

/* Runs one SQL statement on the test's database of sub (PostgreSQL). */
static inline void pg_sql(const char *sub, const char *sql) {
#ifdef FR_HAVE_LIBPQ
    PGconn *c = PQconnectdb(pg_url(sub));
    PGresult *r = PQexec(c, sql);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
#else
    (void)sub, (void)sql;
#endif
}

static inline int setup(void **state) {
    (void)state;
    return fr_test_mkdtemp(g_dir, sizeof(g_dir), "test-store");
}

static inline int teardown(void **state) {
    (void)state;
    return fr_test_rm_rf(g_dir);
}

/* A fresh store in its own sub-directory of the test's temporary one. */
static inline struct fr_store *open_store(const char *sub) {
    static char dir[4][1024];
    static int k;
    k = (k + 1) % 4;
    if (g_pg) snprintf(dir[k], sizeof(dir[k]), "%s", pg_url(sub));
    else snprintf(dir[k], sizeof(dir[k]), "%s/%s", g_dir, sub);
    struct fr_store_params p = fr_store_default_params();
    p.data_dir = dir[k];
    struct fr_store *st = NULL;
    enum fr_status s = fr_store_new(&p, &st, g_err, sizeof(g_err));
    if (s != FR_OK) fail_msg("open %s: %s", dir[k], g_err);
    return st;
}

static inline const char *sub_dir(const char *sub) {
    if (g_pg) return pg_url(sub);
    static char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", g_dir, sub);
    return dir;
}

static inline int64_t add_user(struct fr_store *st, const char *name, char *key) {
    char k[FR_STORE_KEY_LEN + 1];
    int64_t id = 0;
    assert_int_equal(fr_store_user_add(st, name, false, &id, key ? key : k, g_err, sizeof(g_err)), FR_OK);
    assert_true(id > 0);
    return id;
}

static inline struct fr_face make_face(float seed) {
    struct fr_face f;
    memset(&f, 0, sizeof(f));
    f.box[0] = seed, f.box[1] = seed + 1, f.box[2] = 50, f.box[3] = 60;
    f.score = 0.9f;
    for (int i = 0; i < FR_LANDMARKS; i++) f.landmarks[i][0] = seed + (float)i, f.landmarks[i][1] = (float)-i;
    for (int i = 0; i < FR_DESCRIPTOR_DIM; i++) f.descriptor[i] = seed * 0.01f + (float)i * 0.001f;
    f.has_landmarks = f.has_descriptor = true;
    return f;
}

/* Adds n faces to person (0 = unassigned) with image named img (NULL = none). */
static inline void add_faces(struct fr_store *st, int64_t user, int64_t person, const char *img, int32_t n,
                             int64_t *ids) {
    struct fr_face f[8];
    struct fr_store_new_face nf[8];
    assert_true(n <= 8);
    for (int32_t i = 0; i < n; i++) {
        f[i] = make_face((float)i);
        nf[i] = (struct fr_store_new_face){.face = &f[i], .thumbnail = "JPEG", .thumbnail_len = 4};
    }
    struct fr_store_image im;
    memset(&im, 0, sizeof(im));
    if (img) {
        fr_store_sha256(img, strlen(img), im.sha256);
        snprintf(im.name, sizeof(im.name), "%s", img);
        im.bytes = 100, im.width = 640, im.height = 480;
    }
    assert_int_equal(fr_store_faces_add(st, user, person, img ? &im : NULL, nf, n, ids, NULL), FR_OK);
}

static inline int64_t count_rows(struct fr_store *st, const char *table) {
    int64_t n = st->vt->count_rows(st, table);
    assert_true(n >= 0);
    return n;
}

/* Waits (up to 10 s) for the store to notice another connection's write:
 * at once on SQLite, within a change notice's latency on PostgreSQL. */
static inline bool version_moves(struct fr_store *st, int64_t v0) {
    for (int i = 0; i < 1000; i++) {
        if (fr_store_data_version(st) != v0) return true;
        usleep(10000);
    }
    return false;
}
