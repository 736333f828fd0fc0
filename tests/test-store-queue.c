#define _GNU_SOURCE
/* The store shared: two connections (as a server and the CLI) on one
 * database, threads on one connection, and the indexing queue (claims
 * rotating over users then jobs, leases, dedup by content, cancel,
 * failures, per-node counts, connections racing for items). The rest of
 * the store is test-store.c; like it, this runs on SQLite, and on
 * PostgreSQL through tests/pg-tmp.sh run test-store-queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "store-test.h"

/* Two connections (as a server and the CLI) writing to one file. */
static void test_two_connections(void **state) {
    (void)state;
    struct fr_store *s1 = open_store("two"), *s2 = open_store("two");
    int64_t a = add_user(s1, "alice", NULL), p;
    /* Once s1 listens (its version holds still), s2's write reaches it
     * within a second: on PostgreSQL a change notice, on SQLite at once. */
    int64_t v0 = fr_store_data_version(s1);
    for (int i = 0; i < 1000 && fr_store_data_version(s1) != (v0 = fr_store_data_version(s1)); i++) usleep(10000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fr_store_person_add(s2, a, "From two", &p), FR_OK);
    assert_true(version_moves(s1, v0));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("  another connection's write noticed after %.1f ms\n", secs * 1000);
    assert_true(secs < 1.0);
    struct fr_store_person pp;
    assert_int_equal(fr_store_person_get(s1, a, p, &pp), FR_OK);
    assert_int_equal(fr_store_user_remove(s2, "alice"), FR_OK);
    assert_int_equal(fr_store_person_get(s1, a, p, &pp), FR_ERR_NOT_FOUND);
    fr_store_free(s1);
    fr_store_free(s2);
}

/* Many threads on one store: the mutex serialises them, every write lands. */
struct worker {
    struct fr_store *st;
    int64_t user;
    int fails;
};

static void *work(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 25; i++) {
        int64_t p, ids[1];
        struct fr_face f = make_face((float)i);
        struct fr_store_new_face nf = {.face = &f};
        struct fr_store_user u;
        if (fr_store_person_add(w->st, w->user, "T", &p) != FR_OK) w->fails++;
        else if (fr_store_faces_add(w->st, w->user, p, NULL, &nf, 1, ids, NULL) != FR_OK) w->fails++;
        if (fr_store_user_get_by_id(w->st, w->user, &u) != FR_OK) w->fails++;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    struct fr_store *st = open_store("threads");
    int64_t a = add_user(st, "alice", NULL), b = add_user(st, "bob", NULL);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){st, i % 2 ? a : b, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].fails, 0);
    }
    struct fr_store_user u;
    assert_int_equal(fr_store_user_get(st, "alice", &u), FR_OK);
    assert_int_equal(u.n_people, 50);
    assert_int_equal(u.n_faces, 50);
    assert_int_equal(count_rows(st, "faces"), 100);
    fr_store_free(st);
}

/* ---- the indexing queue ---- */

static struct fr_store_item *claim(struct fr_store *st, const char *node, int32_t max, int64_t lease_ms,
                                   int32_t *n) {
    struct fr_store_item *it = NULL;
    assert_int_equal(fr_store_queue_claim(st, node, max, lease_ms, &it, n), FR_OK);
    return it;
}

static void finish_ok(struct fr_store *st, const char *node, const struct fr_store_item *it, const char *content,
                      int32_t nfaces, bool *skipped) {
    struct fr_face f[2] = {make_face(1), make_face(2)};
    struct fr_store_new_face nf[2] = {{.face = &f[0]}, {.face = &f[1]}};
    struct fr_store_image im;
    memset(&im, 0, sizeof(im));
    fr_store_sha256(content, strlen(content), im.sha256);
    snprintf(im.name, sizeof(im.name), "%s", content);
    assert_int_equal(fr_store_queue_finish(st, node, it, &im, nf, nfaces, NULL, NULL, skipped), FR_OK);
}

static void test_queue(void **state) {
    (void)state;
    struct fr_store *st = open_store("queue");
    int64_t a = add_user(st, "alice", NULL), b = add_user(st, "bob", NULL), ja, jb, je;
    const char *pa[] = {"/p/a1.jpg", "/p/a2.jpg", "/p/a3.jpg", "/p/a4.jpg", "/p/a5.jpg"};
    const char *pb[] = {"/p/b1.jpg", "/p/b2.jpg", "/p/b3.jpg"};
    assert_int_equal(fr_store_queue_add(st, a, "/p", pa, 5, &ja), FR_OK);
    assert_int_equal(fr_store_queue_add(st, b, "/q", pb, 3, &jb), FR_OK);
    /* Bad input writes nothing. */
    const char *bad[] = {"/ok", ""};
    assert_int_equal(fr_store_queue_add(st, a, "x", bad, 2, NULL), FR_ERR_INVALID);
    assert_int_equal(fr_store_queue_add(st, 99999, "x", pa, 1, NULL), FR_ERR_NOT_FOUND);
    int32_t n;
    struct fr_store_item *it;
    assert_int_equal(fr_store_queue_claim(st, "", 2, 1000, &it, &n), FR_ERR_INVALID);
    assert_int_equal(fr_store_queue_claim(st, "n1", 0, 1000, &it, &n), FR_ERR_INVALID);
    /* An empty job is done at once. */
    assert_int_equal(fr_store_queue_add(st, a, "empty", NULL, 0, &je), FR_OK);
    struct fr_store_job j;
    assert_int_equal(fr_store_job_get(st, a, je, &j), FR_OK);
    assert_int_equal(j.state, FR_STORE_JOB_DONE);

    /* Claims rotate over the users' jobs: alice, bob, alice, ... */
    /* (Claim times are in ms: the pauses keep them apart.) */
    struct fr_store_item *c1 = claim(st, "n1", 2, 60000, &n);
    usleep(3000);
    assert_int_equal(n, 2);
    assert_int_equal(c1[0].user, a);
    assert_int_equal(c1[0].job, ja);
    assert_string_equal(c1[0].path, "/p/a1.jpg");
    assert_string_equal(c1[1].path, "/p/a2.jpg");
    struct fr_store_item *c2 = claim(st, "n2", 2, 60000, &n);
    usleep(3000);
    assert_int_equal(n, 2);
    assert_int_equal(c2[0].user, b);
    assert_string_equal(c2[0].path, "/p/b1.jpg");
    /* A claim with a lease that lapses at once, as a node that dies. */
    struct fr_store_item *c3 = claim(st, "dead", 2, 1, &n);
    assert_int_equal(n, 2);
    assert_int_equal(c3[0].user, a);
    assert_string_equal(c3[0].path, "/p/a3.jpg");
    usleep(20000);

    /* Finishing: faces and image written with the item, once. */
    bool skipped = true;
    finish_ok(st, "n1", &c1[0], "content-a1", 2, &skipped);
    assert_false(skipped);
    /* Not n2's item; and twice is not possible. */
    struct fr_face f0 = make_face(0);
    struct fr_store_new_face nf0 = {.face = &f0};
    struct fr_store_image im0;
    memset(&im0, 0, sizeof(im0));
    assert_int_equal(fr_store_queue_finish(st, "n2", &c1[1], &im0, &nf0, 1, NULL, NULL, NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_queue_finish(st, "n1", &c1[0], &im0, &nf0, 1, NULL, NULL, NULL), FR_ERR_NOT_FOUND);
    /* The same content again: recorded done, no new faces. */
    finish_ok(st, "n1", &c1[1], "content-a1", 2, &skipped);
    assert_true(skipped);
    assert_int_equal(count_rows(st, "faces"), 2);
    /* A failure is recorded with its reason. */
    assert_int_equal(fr_store_queue_finish(st, "n2", &c2[0], NULL, NULL, 0, "cannot decode", NULL, NULL), FR_OK);
    finish_ok(st, "n2", &c2[1], "content-b2", 1, NULL);

    /* The dead node's lease lapsed: its items go to the next claimer, and
     * the dead node can no longer finish them. */
    struct fr_store_item *c5 = claim(st, "n2", 10, 60000, &n);
    assert_int_equal(n, 1); /* bob's last one first: alice's job was claimed last */
    assert_string_equal(c5[0].path, "/p/b3.jpg");
    struct fr_store_item *c4 = claim(st, "n2", 10, 60000, &n);
    assert_int_equal(n, 3);
    assert_string_equal(c4[0].path, "/p/a3.jpg");
    assert_int_equal(fr_store_queue_finish(st, "dead", &c3[0], &im0, &nf0, 1, NULL, NULL, NULL), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_queue_heartbeat(st, "n2", 60000), FR_OK);
    for (int i = 0; i < 3; i++) {
        char content[32];
        snprintf(content, sizeof(content), "content-a%d", i + 3);
        finish_ok(st, "n2", &c4[i], content, 1, NULL);
    }
    assert_int_equal(fr_store_job_get(st, a, ja, &j), FR_OK);
    assert_int_equal(j.state, FR_STORE_JOB_DONE);
    assert_int_equal(j.total, 5);
    assert_int_equal(j.done, 5);
    assert_int_equal(j.failed, 0);
    assert_int_equal(count_rows(st, "faces"), 6);
    struct fr_store_job_node *nodes;
    assert_int_equal(fr_store_job_nodes(st, a, ja, &nodes, &n), FR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].node, "n1");
    assert_int_equal(nodes[0].done, 2);
    assert_string_equal(nodes[1].node, "n2");
    assert_int_equal(nodes[1].done, 3);
    assert_true(nodes[1].last_ms >= nodes[1].first_ms && nodes[1].first_ms > 0);
    fr_free(nodes);

    /* Bob's job: one failed, one done, one claimed; cancelling stops the rest. */
    assert_int_equal(fr_store_job_get(st, b, jb, &j), FR_OK);
    assert_int_equal(j.state, FR_STORE_JOB_RUNNING);
    assert_int_equal(j.done, 1);
    assert_int_equal(j.failed, 1);
    struct fr_store_job_failure *fl;
    assert_int_equal(fr_store_job_failures(st, b, jb, 10, &fl, &n), FR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(fl[0].path, "/p/b1.jpg");
    assert_string_equal(fl[0].error, "cannot decode");
    fr_free(fl);
    /* Isolation: alice sees nothing of bob's job, and cannot cancel it. */
    assert_int_equal(fr_store_job_get(st, a, jb, &j), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_cancel(st, a, jb), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_failures(st, a, jb, 10, &fl, &n), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_nodes(st, a, jb, &nodes, &n), FR_ERR_NOT_FOUND);
    assert_int_equal(fr_store_job_cancel(st, b, jb), FR_OK);
    assert_int_equal(fr_store_job_cancel(st, b, jb), FR_OK);
    assert_int_equal(fr_store_job_get(st, b, jb, &j), FR_OK);
    assert_int_equal(j.state, FR_STORE_JOB_CANCELLED);
    it = claim(st, "n1", 10, 60000, &n);
    assert_int_equal(n, 0);
    assert_null(it);
    /* Faces went to the right users. */
    struct fr_store_user u;
    assert_int_equal(fr_store_user_get(st, "alice", &u), FR_OK);
    assert_int_equal(u.n_faces, 5);
    assert_int_equal(fr_store_user_get(st, "bob", &u), FR_OK);
    assert_int_equal(u.n_faces, 1);
    /* Removing a user removes its jobs and items. */
    assert_int_equal(fr_store_user_remove(st, "alice"), FR_OK);
    assert_int_equal(count_rows(st, "job_items"), 3);
    assert_int_equal(fr_store_check(st, g_err, sizeof(g_err)), FR_OK);
    fr_free(c1);
    fr_free(c2);
    fr_free(c3);
    fr_free(c4);
    fr_free(c5);
    fr_store_free(st);
}

/* Claims rotate over users, then over each user's jobs: a user with two
 * big jobs does not get twice the share of one with one. */
static void test_queue_fair(void **state) {
    (void)state;
    struct fr_store *st = open_store("fair");
    int64_t a = add_user(st, "alice", NULL), b = add_user(st, "bob", NULL), ja1, ja2, jb;
    const char *p[] = {"/1", "/2", "/3", "/4"};
    assert_int_equal(fr_store_queue_add(st, a, "a1", p, 4, &ja1), FR_OK);
    assert_int_equal(fr_store_queue_add(st, a, "a2", p, 4, &ja2), FR_OK);
    assert_int_equal(fr_store_queue_add(st, b, "b", p, 4, &jb), FR_OK);
    const int64_t want[] = {ja1, jb, ja2, jb, ja1, jb, ja2, jb};
    for (int i = 0; i < 8; i++) {
        int32_t n;
        struct fr_store_item *it = claim(st, "n1", 1, 60000, &n);
        assert_int_equal(n, 1);
        if (it[0].job != want[i]) fail_msg("claim %d: job %lld, want %lld", i, (long long)it[0].job, (long long)want[i]);
        fr_free(it);
        usleep(3000); /* claim times are in ms */
    }
    fr_store_free(st);
}

/* Two connections claiming at once never get the same item. */
struct claimer {
    const char *node;
    int64_t ids[64];
    int32_t n;
    int fails;
};

static void *claim_all(void *arg) {
    struct claimer *c = arg;
    struct fr_store *st = open_store("race");
    for (;;) {
        struct fr_store_item *it = NULL;
        int32_t n = 0;
        if (fr_store_queue_claim(st, c->node, 3, 60000, &it, &n) != FR_OK) c->fails++;
        if (n == 0) break;
        for (int32_t i = 0; i < n && c->n < 64; i++) {
            char content[32];
            snprintf(content, sizeof(content), "race-%lld", (long long)it[i].id);
            struct fr_face f = make_face(1);
            struct fr_store_new_face nf = {.face = &f};
            struct fr_store_image im;
            memset(&im, 0, sizeof(im));
            fr_store_sha256(content, strlen(content), im.sha256);
            if (fr_store_queue_finish(st, c->node, &it[i], &im, &nf, 1, NULL, NULL, NULL) != FR_OK) c->fails++;
            c->ids[c->n++] = it[i].id;
        }
        fr_free(it);
    }
    fr_store_free(st);
    return NULL;
}

static void test_queue_race(void **state) {
    (void)state;
    struct fr_store *st = open_store("race");
    int64_t a = add_user(st, "alice", NULL), job;
    const char *paths[40];
    char buf[40][16];
    for (int i = 0; i < 40; i++) snprintf(buf[i], sizeof(buf[i]), "/r/%d", i), paths[i] = buf[i];
    assert_int_equal(fr_store_queue_add(st, a, "/r", paths, 40, &job), FR_OK);
    struct claimer c[3] = {{.node = "w1"}, {.node = "w2"}, {.node = "w3"}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    int32_t total = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].fails, 0);
        total += c[i].n;
    }
    assert_int_equal(total, 40);
    assert_int_equal(count_rows(st, "faces"), 40);
    struct fr_store_job j;
    assert_int_equal(fr_store_job_get(st, a, job, &j), FR_OK);
    assert_int_equal(j.state, FR_STORE_JOB_DONE);
    assert_int_equal(j.done, 40);
    fr_store_free(st);
}

int main(void) {
    g_pg = getenv("FACEREC_TEST_PG");
    if (g_pg && !*g_pg) g_pg = NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_connections), cmocka_unit_test(test_threads),    cmocka_unit_test(test_queue),
        cmocka_unit_test(test_queue_fair),      cmocka_unit_test(test_queue_race),
    };
    return cmocka_run_group_tests_name(g_pg ? "postgresql" : "sqlite", tests, setup, teardown);
}
