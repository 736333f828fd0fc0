#define _GNU_SOURCE
/* The store: every function, isolation between users, API keys, name
 * rules, cascades, atomicity of writes (with injected faults), migrations,
 * persistence across reopen, integrity and out-of-memory. Connections and
 * threads side by side, and the indexing queue, are in test-store-queue.c.
 *
 * The same tests run against both implementations: SQLite by default,
 * PostgreSQL when FACEREC_TEST_PG holds the URL of a scratch database
 * (tests/pg-tmp.sh run test-store; each test then gets a database of its
 * own, created by store-test.h). The few SQLite-only checks (files,
 * PRAGMAs, the allocator) run on SQLite only, and PostgreSQL's own (URLs,
 * its schema table) on PostgreSQL only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/status.h"
#include "facerec/store.h"
#include "store/store-impl.h"
#include "store-test.h"
#include "test-alloc.h"

/* ---- opening ---- */

static void test_open_defaults(void **state) {
    (void)state;
    struct fr_store_params p = fr_store_default_params();
    assert_null(p.data_dir);
    assert_int_equal(p.busy_timeout_ms, 5000);
    char buf[512], want[512];
    setenv("XDG_DATA_HOME", "/x/data", 1);
    assert_int_equal(fr_store_resolve_dir(&p, buf, sizeof(buf)), FR_OK);
    assert_string_equal(buf, "/x/data/facerec");
    unsetenv("XDG_DATA_HOME");
    snprintf(want, sizeof(want), "%s/.local/share/facerec", getenv("HOME"));
    assert_int_equal(fr_store_resolve_dir(&p, buf, sizeof(buf)), FR_OK);
    assert_string_equal(buf, want);
    p.data_dir = "/some/dir/";
    assert_int_equal(fr_store_resolve_dir(&p, buf, sizeof(buf)), FR_OK);
    assert_string_equal(buf, "/some/dir");
    assert_int_equal(fr_store_resolve_dir(&p, buf, 4), FR_ERR_INVALID);

    /* Created with private modes, nested directories included. */
    struct fr_store *st = open_store("a/b/c");
    struct stat sb;
    assert_int_equal(stat(sub_dir("a/b/c"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(sub_dir("a"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(fr_store_path(st), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(fr_store_schema_version(st), fr__store_latest_version());
    assert_int_equal(fr_store_check(st, g_err, sizeof(g_err)), FR_OK);
    fr_store_free(st);
    fr_store_free(NULL);
}

static void test_open_errors(void **state) {
    (void)state;
    struct fr_store_params p = fr_store_default_params();
    struct fr_store *st = (struct fr_store *)1;
    /* Read-only: a missing file is not created. */
    p.data_dir = sub_dir("missing");
    p.read_only = true;
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_NOT_FOUND);
    assert_null(st);
    assert_non_null(strstr(g_err, "missing/facerec.db"));
    /* A file that is not a database. */
    mkdir(sub_dir("junk"), 0700);
    char path[600];
    snprintf(path, sizeof(path), "%s/facerec.db", sub_dir("junk"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++) fputs("this is not a database, just some text. ", f);
    fclose(f);
    p.data_dir = sub_dir("junk");
    p.read_only = false;
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_FORMAT);
    assert_non_null(strstr(g_err, path));
    /* The data directory is a file. */
    p.data_dir = path;
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_IO);
    assert_non_null(strstr(g_err, path));
}

static void test_migration(void **state) {
    (void)state;
    /* Version 0: an empty file, as an old build (or sqlite3) leaves it. */
    mkdir(sub_dir("old"), 0700);
    char path[600];
    snprintf(path, sizeof(path), "%s/facerec.db", sub_dir("old"));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE unrelated(x); PRAGMA user_version = 0", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct fr_store *st = open_store("old");
    assert_int_equal(fr_store_schema_version(st), fr__store_latest_version());
    add_user(st, "alice", NULL);
    fr_store_free(st);

    /* Read-only refuses a file that still needs migrating. */
    mkdir(sub_dir("old2"), 0700);
    snprintf(path, sizeof(path), "%s/facerec.db", sub_dir("old2"));
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE unrelated(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct fr_store_params p = fr_store_default_params();
    p.data_dir = sub_dir("old2");
    p.read_only = true;
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_UNSUPPORTED);

    /* A newer facerec's file is refused, and left as it was. */
    snprintf(path, sizeof(path), "%s/facerec.db", sub_dir("old"));
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    p.data_dir = sub_dir("old");
    p.read_only = false;
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_UNSUPPORTED);
    assert_null(st);
    assert_non_null(strstr(g_err, "newer facerec"));
    assert_non_null(strstr(g_err, "999"));
    assert_non_null(strstr(g_err, path));
}

static void test_reopen(void **state) {
    (void)state;
    char key[FR_STORE_KEY_LEN + 1];
    struct fr_store *st = open_store("reopen");
    int64_t a = add_user(st, "alice", key), p, ids[2];
    assert_int_equal(fr_store_person_add(st, a, "Bob", &p), FR_OK);
    add_faces(st, a, p, "img1", 2, ids);
    int64_t dv = fr_store_data_version(st);
    fr_store_free(st);

    st = open_store("reopen");
    struct fr_store_user u;
    assert_int_equal(fr_store_auth(st, key, &u), FR_OK);
    assert_int_equal(u.id, a);
    assert_int_equal(u.n_people, 1);
    assert_int_equal(u.n_faces, 2);
    struct fr_store_face f;
    assert_int_equal(fr_store_face_get(st, a, ids[1], &f), FR_OK);
    struct fr_face want = make_face(1);
    assert_memory_equal(f.embedding, want.descriptor, sizeof(f.embedding));
    assert_memory_equal(f.landmarks, want.landmarks, sizeof(f.landmarks));
    assert_true(f.box[0] == want.box[0] && f.box[3] == want.box[3]);
    assert_true(f.score > 0.89f && f.score < 0.91f);
    assert_int_equal(f.person, p);
    assert_true(f.image > 0);

    /* Read-only sees the data; data_version moves when another
     * connection writes. */
    struct fr_store_params rp = fr_store_default_params();
    rp.data_dir = sub_dir("reopen");
    rp.read_only = true;
    struct fr_store *ro;
    assert_int_equal(fr_store_new(&rp, &ro, g_err, sizeof(g_err)), FR_OK);
    int64_t v0 = fr_store_data_version(ro);
    assert_int_equal(fr_store_user_get(ro, "alice", &u), FR_OK);
    assert_int_equal(fr_store_person_add(st, a, "Carol", NULL), FR_OK);
    assert_true(version_moves(ro, v0));
    assert_int_equal(fr_store_person_add(ro, a, "Dave", NULL), FR_ERR_IO);
    (void)dv;
    fr_store_free(ro);
    fr_store_free(st);
}

/* ---- users and keys ---- */

static void test_users(void **state) {
    (void)state;
    struct fr_store *st = open_store("users");
    char key[FR_STORE_KEY_LEN + 1], key2[FR_STORE_KEY_LEN + 1];
    int64_t id = 0;
    assert_int_equal(fr_store_user_add(st, "alice", true, &id, key, g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(strlen(key), FR_STORE_KEY_LEN);
    assert_memory_equal(key, "fr_", 3);
    assert_int_equal(key[3 + FR_STORE_KEY_ID_LEN], '_');
    /* Taken name. */
    assert_int_equal(fr_store_user_add(st, "alice", false, NULL, key2, g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_non_null(strstr(g_err, "alice"));
    add_user(st, "bob", NULL);
    struct fr_store_user u;
    assert_int_equal(fr_store_user_get(st, "alice", &u), FR_OK);
    assert_int_equal(u.id, id);
    assert_true(u.admin);
    assert_int_equal(u.n_keys, 1);
    assert_true(u.created > 0);
    assert_int_equal(fr_store_user_get_by_id(st, id, &u), FR_OK);
    assert_string_equal(u.name, "alice");
    assert_int_equal(fr_store_user_get(st, "nobody", &u), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_user_get_by_id(st, 12345, &u), FR_ERR_NOT_FOUND);

    struct fr_store_user *list;
    int32_t n;
    assert_int_equal(fr_store_user_list(st, &list, &n), FR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "alice");
    assert_string_equal(list[1].name, "bob");
    fr_free(list);

    assert_int_equal(fr_store_key_add(st, "alice", key2, g_err, sizeof(g_err)), FR_OK);
    assert_string_not_equal(key, key2);
    assert_int_equal(fr_store_key_add(st, "nobody", key2, g_err, sizeof(g_err)), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_user_get(st, "alice", &u), FR_OK);
    assert_int_equal(u.n_keys, 2);
    assert_int_equal(fr_store_user_remove(st, "bob"), FR_OK);
    assert_int_equal(fr_store_user_remove(st, "bob"), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_user_list(st, &list, &n), FR_OK);
    assert_int_equal(n, 1);
    fr_free(list);
    fr_store_free(st);
}

static void test_auth(void **state) {
    (void)state;
    struct fr_store *st = open_store("auth");
    char key[FR_STORE_KEY_LEN + 1], key2[FR_STORE_KEY_LEN + 1], bad[FR_STORE_KEY_LEN + 1];
    int64_t a = add_user(st, "alice", key);
    int64_t b = add_user(st, "bob", key2);
    struct fr_store_user u;
    assert_int_equal(fr_store_auth(st, key, &u), FR_OK);
    assert_int_equal(u.id, a);
    assert_int_equal(fr_store_auth(st, key2, &u), FR_OK);
    assert_int_equal(u.id, b);
    /* Same public id, wrong secret of equal length; wrong id. */
    memcpy(bad, key, sizeof(bad));
    bad[FR_STORE_KEY_LEN - 1] = bad[FR_STORE_KEY_LEN - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(fr_store_auth(st, bad, &u), FR_ERR_AUTH);
    memcpy(bad, key, sizeof(bad));
    bad[4] = bad[4] == 'A' ? 'B' : 'A';
    assert_int_equal(fr_store_auth(st, bad, &u), FR_ERR_AUTH);
    memcpy(bad, key, sizeof(bad));
    bad[FR_STORE_KEY_LEN - 1] = 0;
    assert_int_equal(fr_store_auth(st, bad, &u), FR_ERR_AUTH);
    assert_int_equal(fr_store_auth(st, "", &u), FR_ERR_AUTH);
    assert_int_equal(fr_store_auth(st, NULL, &u), FR_ERR_AUTH);
    assert_int_equal(fr_store_auth(st, "fr_", &u), FR_ERR_AUTH);

    /* Legacy keys, of any form; an existing one is left alone. */
    assert_int_equal(fr_store_key_import(st, "alice", "secret-1", g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(fr_store_key_import(st, "alice", "secret-1", g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(fr_store_key_import(st, "alice", "secret-12", g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(fr_store_key_import(st, "carol", "c", g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(fr_store_key_import(st, "bob", "secret-1", g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_int_equal(fr_store_key_import(st, "bob", "has space", g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_int_equal(fr_store_key_import(st, "bob", "", g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_int_equal(fr_store_key_import(st, "", "k", g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_int_equal(fr_store_auth(st, "secret-1", &u), FR_OK);
    assert_int_equal(u.id, a);
    assert_int_equal(u.n_keys, 3);
    assert_int_equal(fr_store_auth(st, "secret-12", &u), FR_OK);
    assert_int_equal(fr_store_auth(st, "secret-2", &u), FR_ERR_AUTH);
    assert_int_equal(fr_store_auth(st, "c", &u), FR_OK);
    assert_string_equal(u.name, "carol");
    /* A legacy key shaped like a generated one works too. */
    char shaped[FR_STORE_KEY_LEN + 1];
    memcpy(shaped, key, sizeof(shaped));
    shaped[10] = shaped[10] == 'x' ? 'y' : 'x';
    assert_int_equal(fr_store_key_import(st, "carol", shaped, g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(fr_store_auth(st, shaped, &u), FR_OK);
    assert_string_equal(u.name, "carol");
    /* No part of a legacy key is stored in the clear. */
    assert_int_equal(count_rows(st, "api_keys WHERE prefix LIKE 'secret%'"), 0);

    /* Revoked keys stop working, the user stays. */
    assert_int_equal(fr_store_key_revoke_all(st, "alice"), FR_OK);
    assert_int_equal(fr_store_auth(st, key, &u), FR_ERR_AUTH);
    assert_int_equal(fr_store_auth(st, "secret-1", &u), FR_ERR_AUTH);
    assert_int_equal(fr_store_auth(st, key2, &u), FR_OK);
    assert_int_equal(fr_store_user_get(st, "alice", &u), FR_OK);
    assert_int_equal(u.n_keys, 0);
    assert_int_equal(fr_store_key_revoke_all(st, "nobody"), FR_ERR_NOT_FOUND);
    /* Removing a user revokes its keys. */
    assert_int_equal(fr_store_user_remove(st, "bob"), FR_OK);
    assert_int_equal(fr_store_auth(st, key2, &u), FR_ERR_AUTH);
    fr_store_free(st);
}

static void test_names(void **state) {
    (void)state;
    struct fr_store *st = open_store("names");
    int64_t a = add_user(st, "alice", NULL), p;
    char key[FR_STORE_KEY_LEN + 1];
    char *big = malloc(10241);
    memset(big, 'x', 10240);
    big[10240] = 0;
    char max[FR_STORE_NAME_MAX + 2];
    memset(max, 'y', sizeof(max));
    max[FR_STORE_NAME_MAX] = 0;
    const char *bad[] = {"", big, "bad\xff", "a\xc0\xaf", "\xed\xa0\x80", "tab\there", "nl\n", "del\x7f",
                         "c1\xc2\x85", "trunc\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fr_store_person_add(st, a, bad[i], &p), FR_ERR_INVALID);
        assert_int_equal(fr_store_user_add(st, bad[i], false, NULL, key, g_err, sizeof(g_err)), FR_ERR_INVALID);
    }
    assert_int_equal(fr_store_person_add(st, a, NULL, &p), FR_ERR_INVALID);
    assert_int_equal(count_rows(st, "people"), 0);
    assert_int_equal(fr_store_person_add(st, a, max, &p), FR_OK);
    max[FR_STORE_NAME_MAX] = 'y';
    max[FR_STORE_NAME_MAX + 1] = 0;
    assert_int_equal(fr_store_person_add(st, a, max, &p), FR_ERR_INVALID);
    assert_int_equal(fr_store_person_add(st, a, "Zoë 李 😀", &p), FR_OK);
    assert_int_equal(fr_store_person_add(st, a, "Zoë 李 😀", &p), FR_OK); /* two people may share a name */
    assert_int_equal(fr_store_person_rename(st, a, p, big), FR_ERR_INVALID);
    assert_int_equal(fr_store_person_rename(st, a, p, ""), FR_ERR_INVALID);
    struct fr_store_person pp;
    assert_int_equal(fr_store_person_get(st, a, p, &pp), FR_OK);
    assert_string_equal(pp.name, "Zoë 李 😀");
    free(big);
    fr_store_free(st);
}

/* ---- people and faces ---- */

static bool collect(int64_t id, int64_t person, const float *emb, void *ctx) {
    int64_t *c = ctx;
    c[0]++;
    c[1] += person;
    return c[0] < c[2];
}

static void test_people_faces(void **state) {
    (void)state;
    struct fr_store *st = open_store("people");
    int64_t a = add_user(st, "alice", NULL), p1, p2, ids[4], un[3];
    struct fr_store_user u0, u1;
    assert_int_equal(fr_store_user_get(st, "alice", &u0), FR_OK);
    assert_int_equal(fr_store_person_add(st, a, "One", &p1), FR_OK);
    assert_int_equal(fr_store_person_add(st, a, "Two", &p2), FR_OK);
    assert_int_equal(fr_store_person_add(st, 9999, "Ghost", NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_user_get(st, "alice", &u1), FR_OK);
    assert_true(u1.gallery_version > u0.gallery_version);
    add_faces(st, a, p1, "img1", 4, ids);
    add_faces(st, a, 0, "img2", 3, un);

    struct fr_store_person pp, *pl;
    int32_t n;
    assert_int_equal(fr_store_person_get(st, a, p1, &pp), FR_OK);
    assert_string_equal(pp.name, "One");
    assert_int_equal(pp.n_faces, 4);
    assert_int_equal(fr_store_person_list(st, a, 0, 10, &pl, &n), FR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(pl[0].id, p1);
    assert_int_equal(pl[1].n_faces, 0);
    fr_free(pl);
    assert_int_equal(fr_store_person_list(st, a, p1, 10, &pl, &n), FR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pl[0].id, p2);
    fr_free(pl);
    assert_int_equal(fr_store_person_list(st, a, 0, 1, &pl, &n), FR_OK);
    assert_int_equal(n, 1);
    fr_free(pl);
    assert_int_equal(fr_store_person_list(st, a, 0, 0, &pl, &n), FR_ERR_INVALID);
    assert_int_equal(fr_store_person_rename(st, a, p2, "Deux"), FR_OK);
    assert_int_equal(fr_store_person_get(st, a, p2, &pp), FR_OK);
    assert_string_equal(pp.name, "Deux");

    struct fr_store_face *fl;
    assert_int_equal(fr_store_face_list(st, a, p1, 0, 100, &fl, &n), FR_OK);
    assert_int_equal(n, 4);
    assert_int_equal(fl[0].id, ids[0]);
    fr_free(fl);
    assert_int_equal(fr_store_face_list(st, a, p1, ids[1], 1, &fl, &n), FR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(fl[0].id, ids[2]);
    fr_free(fl);
    assert_int_equal(fr_store_face_list(st, a, 0, 0, 100, &fl, &n), FR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(fl[0].person, 0);
    fr_free(fl);

    /* Assign, unassign, delete. */
    int64_t two[2] = {un[0], un[1]};
    assert_int_equal(fr_store_face_assign(st, a, two, 2, p2), FR_OK);
    assert_int_equal(fr_store_person_get(st, a, p2, &pp), FR_OK);
    assert_int_equal(pp.n_faces, 2);
    assert_int_equal(fr_store_face_assign(st, a, two, 1, 0), FR_OK);
    assert_int_equal(fr_store_person_get(st, a, p2, &pp), FR_OK);
    assert_int_equal(pp.n_faces, 1);
    int64_t mixed[2] = {un[2], 99999};
    assert_int_equal(fr_store_face_assign(st, a, mixed, 2, p2), FR_ERR_NOT_FOUND);
    struct fr_store_face f;
    assert_int_equal(fr_store_face_get(st, a, un[2], &f), FR_OK);
    assert_int_equal(f.person, 0); /* the whole assignment rolled back */
    assert_int_equal(fr_store_face_assign(st, a, two, 2, 99999), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_delete(st, a, un[2]), FR_OK);
    assert_int_equal(fr_store_face_delete(st, a, un[2]), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_get(st, a, un[2], &f), FR_ERR_NOT_FOUND);

    /* Thumbnails. */
    void *jpeg;
    size_t len;
    assert_int_equal(fr_store_face_thumbnail(st, a, ids[0], &jpeg, &len), FR_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(jpeg, "JPEG", 4);
    fr_free(jpeg);
    struct fr_face nt = make_face(7);
    struct fr_store_new_face nf = {.face = &nt};
    int64_t nid;
    assert_int_equal(fr_store_faces_add(st, a, 0, NULL, &nf, 1, &nid, NULL), FR_OK);
    assert_int_equal(fr_store_face_thumbnail(st, a, nid, &jpeg, &len), FR_ERR_NOT_FOUND);
    assert_null(jpeg);
    assert_int_equal(fr_store_face_get(st, a, nid, &f), FR_OK);
    assert_int_equal(f.image, 0);

    /* Scan: all faces, in id order, stopping when asked. */
    int64_t c[3] = {0, 0, 1000};
    assert_int_equal(fr_store_face_scan(st, a, collect, c), FR_OK);
    assert_int_equal(c[0], 4 + 2 + 1);
    c[0] = c[1] = 0, c[2] = 2;
    assert_int_equal(fr_store_face_scan(st, a, collect, c), FR_OK);
    assert_int_equal(c[0], 2);

    /* Merge moves the faces and removes the other person. */
    assert_int_equal(fr_store_person_merge(st, a, p1, p2), FR_OK);
    assert_int_equal(fr_store_person_get(st, a, p2, &pp), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_person_get(st, a, p1, &pp), FR_OK);
    assert_int_equal(pp.n_faces, 5);
    assert_int_equal(fr_store_person_merge(st, a, p1, p1), FR_ERR_INVALID);
    assert_int_equal(fr_store_person_merge(st, a, p1, p2), FR_ERR_NOT_FOUND);

    /* Delete cascades to the faces. */
    int64_t gone = -1;
    assert_int_equal(fr_store_user_get(st, "alice", &u0), FR_OK);
    assert_int_equal(fr_store_person_delete(st, a, p1, &gone), FR_OK);
    assert_int_equal(gone, 5);
    assert_int_equal(fr_store_face_get(st, a, ids[0], &f), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_user_get(st, "alice", &u1), FR_OK);
    assert_int_equal(u1.n_faces, 2); /* un[0] and the one without a thumbnail */
    assert_int_equal(u1.n_people, 0);
    assert_true(u1.gallery_version > u0.gallery_version);
    assert_int_equal(count_rows(st, "faces"), 2);
    assert_int_equal(fr_store_person_delete(st, a, p1, NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_check(st, g_err, sizeof(g_err)), FR_OK);
    fr_store_free(st);
}

static void test_images(void **state) {
    (void)state;
    struct fr_store *st = open_store("images");
    int64_t a = add_user(st, "alice", NULL), b = add_user(st, "bob", NULL);
    struct fr_store_image im, got;
    memset(&im, 0, sizeof(im));
    fr_store_sha256("abc", 3, im.sha256);
    /* The well-known SHA-256 of "abc". */
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    assert_memory_equal(im.sha256, abc, 32);
    snprintf(im.name, sizeof(im.name), "photo.jpg");
    im.bytes = 1234, im.width = 10, im.height = 20;
    assert_int_equal(fr_store_image_find(st, a, im.sha256, &got), FR_ERR_NOT_FOUND);
    int64_t i1 = 0, i2 = 0, i3 = 0;
    assert_int_equal(fr_store_faces_add(st, a, 0, &im, NULL, 0, NULL, &i1), FR_OK);
    assert_int_equal(fr_store_faces_add(st, a, 0, &im, NULL, 0, NULL, &i2), FR_OK);
    assert_int_equal(i1, i2); /* same content, same row */
    assert_int_equal(fr_store_image_find(st, a, im.sha256, &got), FR_OK);
    assert_int_equal(got.id, i1);
    assert_string_equal(got.name, "photo.jpg");
    assert_int_equal(got.bytes, 1234);
    assert_int_equal(got.width, 10);
    assert_int_equal(got.height, 20);
    /* Per user: bob gets his own row and does not see alice's. */
    assert_int_equal(fr_store_image_find(st, b, im.sha256, &got), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_faces_add(st, b, 0, &im, NULL, 0, NULL, &i3), FR_OK);
    assert_true(i3 != i1);
    assert_int_equal(count_rows(st, "images"), 2);
    fr_store_free(st);
}

static void test_jobs(void **state) {
    (void)state;
    struct fr_store *st = open_store("jobs");
    int64_t a = add_user(st, "alice", NULL), j1, j2;
    assert_int_equal(fr_store_job_start(st, a, "index", "/photos", 10, &j1), FR_OK);
    assert_int_equal(fr_store_job_start(st, a, "cluster", NULL, 0, &j2), FR_OK);
    assert_int_equal(fr_store_job_start(st, a, "", NULL, 0, &j2), FR_ERR_INVALID);
    assert_int_equal(fr_store_job_update(st, a, j1, FR_STORE_JOB_RUNNING, 5, 1, NULL), FR_OK);
    struct fr_store_job *jl;
    int32_t n;
    assert_int_equal(fr_store_job_list(st, a, 10, &jl, &n), FR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(jl[0].id, j2); /* newest first */
    assert_string_equal(jl[1].kind, "index");
    assert_string_equal(jl[1].detail, "/photos");
    assert_int_equal(jl[1].done, 5);
    assert_int_equal(jl[1].failed, 1);
    assert_int_equal(jl[1].total, 10);
    assert_int_equal(jl[1].state, FR_STORE_JOB_RUNNING);
    fr_free(jl);
    char long_detail[1000];
    memset(long_detail, 'e', sizeof(long_detail) - 1);
    long_detail[999] = 0;
    assert_int_equal(fr_store_job_update(st, a, j1, FR_STORE_JOB_FAILED, 6, 4, long_detail), FR_OK);
    assert_int_equal(fr_store_job_list(st, a, 1, &jl, &n), FR_OK);
    assert_int_equal(n, 1);
    fr_free(jl);
    assert_int_equal(fr_store_job_list(st, a, 10, &jl, &n), FR_OK);
    assert_int_equal(jl[1].state, FR_STORE_JOB_FAILED);
    assert_int_equal(strlen(jl[1].detail), 255);
    fr_free(jl);
    assert_int_equal(fr_store_job_update(st, a, 9999, FR_STORE_JOB_DONE, 0, 0, NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_update(st, a, j1, (enum fr_store_job_state)7, 0, 0, NULL), FR_ERR_INVALID);
    fr_store_free(st);
}

/* ---- isolation ---- */

static bool count_scan(int64_t id, int64_t person, const float *emb, void *ctx) {
    (*(int64_t *)ctx)++;
    return true;
}

static void test_isolation(void **state) {
    (void)state;
    struct fr_store *st = open_store("isolation");
    int64_t a = add_user(st, "alice", NULL), b = add_user(st, "bob", NULL), pa, pa2, pb, fa[2], fb[1], ja;
    assert_int_equal(fr_store_person_add(st, a, "A", &pa), FR_OK);
    assert_int_equal(fr_store_person_add(st, a, "A2", &pa2), FR_OK);
    assert_int_equal(fr_store_person_add(st, b, "B", &pb), FR_OK);
    add_faces(st, a, pa, "a.jpg", 2, fa);
    add_faces(st, b, pb, "b.jpg", 1, fb);
    assert_int_equal(fr_store_job_start(st, a, "index", "x", 1, &ja), FR_OK);
    int64_t before = count_rows(st, "faces");

    struct fr_store_person pp;
    struct fr_store_face f;
    struct fr_store_person *pl;
    struct fr_store_face *fl;
    struct fr_store_job *jl;
    int32_t n;
    void *jpeg;
    size_t len;
    assert_int_equal(fr_store_person_get(st, b, pa, &pp), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_person_list(st, b, 0, 100, &pl, &n), FR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pl[0].id, pb);
    fr_free(pl);
    assert_int_equal(fr_store_person_rename(st, b, pa, "mine"), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_person_delete(st, b, pa, NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_person_merge(st, b, pb, pa), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_person_merge(st, b, pa, pb), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_person_merge(st, b, pa, pa2), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_get(st, b, fa[0], &f), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_list(st, b, pa, 0, 100, &fl, &n), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_delete(st, b, fa[0]), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_assign(st, b, fa, 1, pb), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_assign(st, b, fb, 1, pa), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_assign(st, b, fa, 1, 0), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_face_thumbnail(st, b, fa[0], &jpeg, &len), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_update(st, b, ja, FR_STORE_JOB_DONE, 1, 0, "x"), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_list(st, b, 10, &jl, &n), FR_OK);
    assert_int_equal(n, 0);
    fr_free(jl);
    /* Enrolling into another user's person writes nothing, image included. */
    struct fr_face x = make_face(3);
    struct fr_store_new_face nf = {.face = &x};
    struct fr_store_image im;
    memset(&im, 0, sizeof(im));
    fr_store_sha256("new", 3, im.sha256);
    assert_int_equal(fr_store_faces_add(st, b, pa, &im, &nf, 1, NULL, NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(count_rows(st, "faces"), before);
    struct fr_store_image got;
    assert_int_equal(fr_store_image_find(st, b, im.sha256, &got), FR_ERR_NOT_FOUND);
    int64_t cnt = 0;
    assert_int_equal(fr_store_face_scan(st, b, count_scan, &cnt), FR_OK);
    assert_int_equal(cnt, 1);
    /* A's rows are all still there, unchanged. */
    assert_int_equal(fr_store_person_get(st, a, pa, &pp), FR_OK);
    assert_string_equal(pp.name, "A");
    assert_int_equal(pp.n_faces, 2);
    assert_int_equal(fr_store_face_get(st, a, fa[0], &f), FR_OK);
    assert_int_equal(f.person, pa);
    assert_int_equal(fr_store_face_get(st, b, fb[0], &f), FR_OK);
    assert_int_equal(f.person, pb);

    /* Removing a user removes everything it owned, and nothing else. */
    assert_int_equal(fr_store_user_remove(st, "alice"), FR_OK);
    assert_int_equal(count_rows(st, "faces"), 1);
    assert_int_equal(count_rows(st, "people"), 1);
    assert_int_equal(count_rows(st, "images"), 1);
    assert_int_equal(count_rows(st, "jobs"), 0);
    assert_int_equal(count_rows(st, "api_keys"), 1);
    assert_int_equal(fr_store_check(st, g_err, sizeof(g_err)), FR_OK);
    fr_store_free(st);
}

/* ---- atomicity ---- */

static void test_atomic_faults(void **state) {
    (void)state;
    struct fr_store *st = open_store("faults");
    int64_t a = add_user(st, "alice", NULL), p;
    assert_int_equal(fr_store_person_add(st, a, "P", &p), FR_OK);
    struct fr_face f[3] = {make_face(0), make_face(1), make_face(2)};
    struct fr_store_new_face nf[3] = {{.face = &f[0]}, {.face = &f[1]}, {.face = &f[2]}};
    struct fr_store_image im;
    memset(&im, 0, sizeof(im));
    fr_store_sha256("faulty", 6, im.sha256);
    struct fr_store_user u0, u1;
    assert_int_equal(fr_store_user_get(st, "alice", &u0), FR_OK);
    /* Fail each step in turn (begin, person check, image lookup and
     * insert, each face, commit): nothing may be left behind. */
    int32_t k;
    for (k = 1; k < 20; k++) {
        st->fault_countdown = k;
        enum fr_status s = fr_store_faces_add(st, a, p, &im, nf, 3, NULL, NULL);
        st->fault_countdown = 0;
        if (s == FR_OK) break;
        assert_int_equal(s, FR_ERR_IO);
        char msg[256];
        fr_store_last_error(msg, sizeof(msg));
        assert_non_null(strstr(msg, "injected fault"));
        assert_int_equal(count_rows(st, "faces"), 0);
        assert_int_equal(count_rows(st, "images"), 0);
        assert_int_equal(fr_store_user_get(st, "alice", &u1), FR_OK);
        assert_int_equal(u1.n_faces, 0);
        assert_int_equal(u1.gallery_version, u0.gallery_version);
    }
    assert_true(k >= 6);
    assert_int_equal(count_rows(st, "faces"), 3);
    /* A face without a descriptor is refused before anything is written. */
    f[1].has_descriptor = false;
    assert_int_equal(fr_store_faces_add(st, a, p, NULL, nf, 3, NULL, NULL), FR_ERR_INVALID);
    assert_int_equal(count_rows(st, "faces"), 3);
    /* The same for the other writes: a failed merge or user add changes nothing. */
    int64_t q;
    assert_int_equal(fr_store_person_add(st, a, "Q", &q), FR_OK);
    for (k = 1; k < 10; k++) {
        st->fault_countdown = k;
        enum fr_status s = fr_store_person_merge(st, a, q, p);
        st->fault_countdown = 0;
        if (s == FR_OK) break;
        struct fr_store_person pp;
        assert_int_equal(fr_store_person_get(st, a, p, &pp), FR_OK);
        assert_int_equal(pp.n_faces, 3);
    }
    char key[FR_STORE_KEY_LEN + 1];
    for (k = 1; k < 10; k++) {
        st->fault_countdown = k;
        enum fr_status s = fr_store_user_add(st, "zed", false, NULL, key, g_err, sizeof(g_err));
        st->fault_countdown = 0;
        if (s == FR_OK) break;
        struct fr_store_user u;
        assert_int_equal(fr_store_user_get(st, "zed", &u), FR_ERR_NOT_FOUND);
        assert_int_equal(key[0], 0);
    }
    assert_int_equal(fr_store_check(st, g_err, sizeof(g_err)), FR_OK);
    fr_store_free(st);
}

/* ---- out of memory ---- */

/* The store's own allocations (lists, thumbnails, the store object) under
 * the tests' fault-injecting allocator: every one that fails is reported as
 * FR_ERR_NOMEM, clears the out-parameters and leaks nothing. */
static void test_oom(void **state) {
    (void)state;
    fr_test_alloc_install();
    struct fr_store *st = open_store("oom");
    int64_t a = add_user(st, "alice", NULL), p, ids[2];
    assert_int_equal(fr_store_person_add(st, a, "P", &p), FR_OK);
    add_faces(st, a, p, "x", 2, ids);
    size_t live = fr_test_alloc_live();
    fr_test_alloc_fail(0, true);
    struct fr_store_person *pl = (void *)1;
    struct fr_store_face *fl = (void *)1;
    struct fr_store_user *ul = (void *)1;
    struct fr_store_job *jl;
    int32_t n = 5;
    void *jpeg;
    size_t len;
    assert_int_equal(fr_store_person_list(st, a, 0, 10, &pl, &n), FR_ERR_NOMEM);
    assert_null(pl);
    assert_int_equal(n, 0);
    assert_int_equal(fr_store_face_list(st, a, p, 0, 10, &fl, &n), FR_ERR_NOMEM);
    assert_null(fl);
    assert_int_equal(fr_store_user_list(st, &ul, &n), FR_ERR_NOMEM);
    assert_int_equal(fr_store_face_thumbnail(st, a, ids[0], &jpeg, &len), FR_ERR_NOMEM);
    assert_true(fr_test_alloc_failures() >= 4);
    assert_int_equal(fr_test_alloc_live(), live);
    int64_t j;
    fr_test_alloc_fail_off();
    assert_int_equal(fr_store_job_start(st, a, "index", "", 1, &j), FR_OK);
    live = fr_test_alloc_live();
    fr_test_alloc_fail(0, true);
    assert_int_equal(fr_store_job_list(st, a, 10, &jl, &n), FR_ERR_NOMEM);
    assert_int_equal(fr_test_alloc_live(), live);
    struct fr_store_params sp = fr_store_default_params();
    sp.data_dir = sub_dir("oom");
    struct fr_store *st2 = NULL;
    for (int k = 0; k < 2; k++) {
        fr_test_alloc_fail(k, true);
        assert_int_equal(fr_store_new(&sp, &st2, g_err, sizeof(g_err)), FR_ERR_NOMEM);
        assert_null(st2);
        assert_int_equal(fr_test_alloc_live(), live);
    }
    /* The store still works once memory is back. */
    fr_test_alloc_fail_off();
    assert_int_equal(fr_store_face_list(st, a, p, 0, 10, &fl, &n), FR_OK);
    assert_int_equal(n, 2);
    fr_free(fl);
    fr_store_free(st);
    assert_int_equal(fr_test_alloc_live(), 0);
    fr_test_alloc_uninstall();
}

/* ---- PostgreSQL only ---- */

static void test_pg_open(void **state) {
    (void)state;
    struct fr_store_params p = fr_store_default_params();
    struct fr_store *st = (struct fr_store *)1;
    /* No server there: a clear I/O error naming the URL, without its password. */
    p.data_dir = "postgresql://someone:hunter2@/nodb?host=/nonexistent&connect_timeout=2";
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(g_err, "postgresql://someone@/nodb"));
    assert_null(strstr(g_err, "hunter2"));
    /* Read-only on a database without the schema. */
    p.data_dir = pg_url("empty");
    p.read_only = true;
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_NOT_FOUND);
    /* Created and migrated on first use, by any number of openers. */
    p.read_only = false;
    st = open_store("empty");
    assert_int_equal(fr_store_schema_version(st), fr__store_latest_version());
    struct fr_store *st2 = open_store("empty");
    fr_store_free(st2);
    fr_store_free(st);
    /* A newer facerec's schema is refused. */
    pg_sql("empty", "INSERT INTO facerec_schema(version) VALUES(999)");
    assert_int_equal(fr_store_new(&p, &st, g_err, sizeof(g_err)), FR_ERR_UNSUPPORTED);
    assert_non_null(strstr(g_err, "newer facerec"));
}

/* The server drops every connection (a restart, a failover): the call
 * that meets the break fails with FR_ERR_IO, the next one reconnects, and
 * the listener comes back too. */
static void test_pg_reconnect(void **state) {
    (void)state;
    struct fr_store *st = open_store("reconnect");
    add_user(st, "alice", NULL);
    struct fr_store_user u;
    pg_sql("reconnect", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'fr_reconnect' AND "
                        "pid <> pg_backend_pid()");
    enum fr_status s = fr_store_user_get(st, "alice", &u);
    assert_true(s == FR_OK || s == FR_ERR_IO);
    assert_int_equal(fr_store_user_get(st, "alice", &u), FR_OK);
    int64_t p;
    assert_int_equal(fr_store_person_add(st, u.id, "after", &p), FR_OK);
    /* Listening again: another connection's write is noticed. */
    struct fr_store *st2 = open_store("reconnect");
    int64_t v0 = fr_store_data_version(st);
    for (int i = 0; i < 1000 && fr_store_data_version(st) != (v0 = fr_store_data_version(st)); i++) usleep(10000);
    assert_int_equal(fr_store_person_add(st2, u.id, "from two", &p), FR_OK);
    assert_true(version_moves(st, v0));
    fr_store_free(st2);
    fr_store_free(st);
}

int main(void) {
    g_pg = getenv("FACEREC_TEST_PG");
    if (g_pg && !*g_pg) g_pg = NULL;
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_open_defaults), cmocka_unit_test(test_open_errors), cmocka_unit_test(test_migration),
        cmocka_unit_test(test_oom),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_pg_open),
        cmocka_unit_test(test_pg_reconnect),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen),          cmocka_unit_test(test_users),       cmocka_unit_test(test_auth),
        cmocka_unit_test(test_names),           cmocka_unit_test(test_people_faces), cmocka_unit_test(test_images),
        cmocka_unit_test(test_jobs),            cmocka_unit_test(test_isolation),   cmocka_unit_test(test_atomic_faults),
    };
    int rc = g_pg ? cmocka_run_group_tests_name("postgresql", pg_tests, setup, teardown)
                  : cmocka_run_group_tests_name("sqlite", sqlite_tests, setup, teardown);
    return rc | cmocka_run_group_tests_name(g_pg ? "postgresql" : "sqlite", tests, setup, teardown);
}
