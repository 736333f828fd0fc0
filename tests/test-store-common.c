/* The store's backend-independent helpers (src/store/store-common.c,
 * store-users.c): the argument checks, the name rules, cutting text at a
 * UTF-8 boundary, and the mapping of a result row to the public structs.
 * Both backends run them (test-store covers that end to end); here they
 * run over a third, in-memory column interface, which pins down what the
 * readers make of NULLs, short blobs and over-long text whatever the
 * driver, and the edges the store tests do not reach (multi-byte cuts,
 * every check's status and message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/status.h"
#include "facerec/store.h"
#include "store/store-impl.h"

/* ---- an in-memory row: each column an integer, a double or bytes ---- */

struct mem_col {
    int64_t i;
    double f;
    const void *b; /* NULL: SQL NULL (for bytes) */
    size_t len;
};

static int64_t mem_i64(const struct fr__store_row *r, int col) { return ((const struct mem_col *)r->res)[col].i; }
static double mem_f64(const struct fr__store_row *r, int col) { return ((const struct mem_col *)r->res)[col].f; }
static const void *mem_bytes(const struct fr__store_row *r, int col, size_t *len) {
    const struct mem_col *c = &((const struct mem_col *)r->res)[col];
    *len = c->b ? c->len : 0;
    return c->b;
}
static const struct fr__store_cols_i mem_cols = {.i64 = mem_i64, .f64 = mem_f64, .bytes = mem_bytes};

static struct fr__store_row mem_row(const struct mem_col *cols) { return (struct fr__store_row){&mem_cols, cols, 0}; }

static const char *last_error(void) {
    static char buf[512];
    fr_store_last_error(buf, sizeof(buf));
    return buf;
}

/* ---- tests ---- */

static void test_cut_len(void **state) {
    (void)state;
    assert_int_equal(fr__store_cut_len("abc", 5), 3);
    assert_int_equal(fr__store_cut_len("abcdef", 3), 3);
    /* "é" is two bytes: a cut inside it moves back to its start. */
    assert_int_equal(fr__store_cut_len("a\xc3\xa9", 2), 1);
    assert_int_equal(fr__store_cut_len("a\xc3\xa9", 3), 3);
    /* A four-byte character cut after any of its first three bytes. */
    const char *emoji = "\xf0\x9f\x98\x80";
    for (size_t max = 0; max < 4; max++) assert_int_equal(fr__store_cut_len(emoji, max), 0);
    assert_int_equal(fr__store_cut_len(emoji, 4), 4);
    assert_int_equal(fr__store_cut_len("", 0), 0);
}

static void test_names(void **state) {
    (void)state;
    assert_true(fr__store_valid_name("alice"));
    assert_true(fr__store_valid_name("J\xc3\xa9r\xc3\xb4me"));
    assert_false(fr__store_valid_name(NULL));
    assert_false(fr__store_valid_name(""));
    assert_false(fr__store_valid_name("tab\there"));
    assert_false(fr__store_valid_name("c1\xc2\x85"));    /* U+0085, a C1 control */
    assert_false(fr__store_valid_name("\xc0\xaf"));      /* overlong */
    assert_false(fr__store_valid_name("\xed\xa0\x80"));  /* a surrogate */
    assert_false(fr__store_valid_name("cut\xe2\x82"));   /* truncated */
    char longest[FR_STORE_NAME_MAX + 2];
    memset(longest, 'n', FR_STORE_NAME_MAX);
    longest[FR_STORE_NAME_MAX] = 0;
    assert_true(fr__store_valid_name(longest));
    longest[FR_STORE_NAME_MAX] = 'n', longest[FR_STORE_NAME_MAX + 1] = 0;
    assert_false(fr__store_valid_name(longest));
    assert_int_equal(fr__store_check_name(""), FR_ERR_INVALID);
    assert_non_null(strstr(last_error(), "bad name"));
    assert_int_equal(fr__store_check_name("bob"), FR_OK);

    assert_true(fr__store_valid_node("node-1"));
    assert_false(fr__store_valid_node("node 1"));
    assert_false(fr__store_valid_node(""));
    assert_false(fr__store_valid_node(NULL));

    assert_true(fr__store_valid_legacy_key("s3cr3t!"));
    assert_false(fr__store_valid_legacy_key("has space"));
    assert_false(fr__store_valid_legacy_key("del\x7f"));
    assert_false(fr__store_valid_legacy_key(""));
}

static void test_checks(void **state) {
    (void)state;
    struct fr_face f = {.has_descriptor = true}, bare = {.has_descriptor = false};
    struct fr_store_new_face ok[2] = {{.face = &f}, {.face = &f}}, bad[2] = {{.face = &f}, {.face = &bare}};
    assert_int_equal(fr__store_check_faces(ok, 2, 0), FR_OK);
    assert_int_equal(fr__store_check_faces(NULL, 0, 7), FR_OK);
    assert_int_equal(fr__store_check_faces(NULL, 1, 0), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_faces(ok, 2, -1), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_faces(bad, 2, 0), FR_ERR_INVALID);
    assert_string_equal(last_error(), "face 1 has no descriptor");

    int64_t ids[1] = {1};
    assert_int_equal(fr__store_check_assign(ids, 1, 0), FR_OK);
    assert_int_equal(fr__store_check_assign(NULL, 1, 0), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_merge(3, 3), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_merge(3, 4), FR_OK);

    assert_int_equal(fr__store_check_job("index", 0), FR_OK);
    assert_int_equal(fr__store_check_job("", 0), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_job("index", -1), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_job("a-kind-name-longer-than-31-bytes", 0), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_job_update(FR_STORE_JOB_CANCELLED, 0, 0), FR_OK);
    assert_int_equal(fr__store_check_job_update((enum fr_store_job_state)7, 0, 0), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_job_update(FR_STORE_JOB_DONE, -1, 0), FR_ERR_INVALID);

    const char *paths[2] = {"/a.jpg", ""};
    assert_int_equal(fr__store_check_paths(paths, 1), FR_OK);
    assert_int_equal(fr__store_check_paths(paths, 2), FR_ERR_INVALID);
    assert_string_equal(last_error(), "path 1: 1 to 4095 bytes");
    assert_int_equal(fr__store_check_paths(NULL, 1), FR_ERR_INVALID);

    struct fr_store_item *items = (struct fr_store_item *)1;
    int32_t n = 5;
    assert_int_equal(fr__store_start_claim(&items, &n, "w1", 0, 1000), FR_ERR_INVALID);
    assert_null(items);
    assert_int_equal(n, 0);
    assert_int_equal(fr__store_start_claim(&items, &n, "w1", 8, 1000), FR_OK);
    assert_int_equal(fr__store_check_heartbeat("w 1", 1000), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_heartbeat("w1", 0), FR_ERR_INVALID);

    struct fr_store_item it = {.id = 1};
    struct fr_store_image img = {0};
    assert_int_equal(fr__store_check_finish("w1", &it, &img, ok, 2, NULL), FR_OK);
    assert_int_equal(fr__store_check_finish("w1", &it, NULL, NULL, 0, "unreadable"), FR_OK);
    assert_int_equal(fr__store_check_finish("w1", &it, NULL, NULL, 0, NULL), FR_ERR_INVALID);
    assert_int_equal(fr__store_check_finish("w1", &it, &img, bad, 2, NULL), FR_ERR_INVALID);
    /* An error needs no faces: their descriptors are not looked at. */
    assert_int_equal(fr__store_check_finish("w1", &it, &img, bad, 2, "failed"), FR_OK);

    struct fr_store_person *people = (struct fr_store_person *)1;
    n = 3;
    assert_int_equal(fr__store_start_list(&people, &n, 0), FR_ERR_INVALID);
    assert_null(people);
    assert_int_equal(n, 0);
    assert_string_equal(last_error(), "limit must be positive");
}

static void test_readers(void **state) {
    (void)state;
    /* A user whose name is longer than the struct holds: cut, NUL-ended. */
    char name[FR_STORE_NAME_MAX + 10];
    memset(name, 'u', sizeof(name));
    struct mem_col user[8] = {{.i = 7}, {.b = name, .len = sizeof(name)}, {.i = 1}, {.i = 100}, {.i = 5},
                              {.i = 2}, {.i = 3}, {.i = 4}};
    struct fr__store_row r = mem_row(user);
    struct fr_store_user u;
    fr__store_read_user(&r, &u);
    assert_int_equal(u.id, 7);
    assert_int_equal(strlen(u.name), FR_STORE_NAME_MAX);
    assert_true(u.admin);
    assert_int_equal(u.gallery_version, 5);
    assert_int_equal(u.n_keys, 2);
    assert_int_equal(u.n_faces, 4);

    /* A face with NULL person and image, no landmarks and an embedding of
     * the wrong length reads zeros there, not garbage. */
    uint8_t emb[4 * FR_DESCRIPTOR_DIM];
    float want[FR_DESCRIPTOR_DIM];
    for (int i = 0; i < FR_DESCRIPTOR_DIM; i++) want[i] = (float)i / 8.0f;
    fr__store_floats_to_le(want, FR_DESCRIPTOR_DIM, emb);
    struct mem_col face[11] = {{.i = 9}, {0}, {0}, {.f = 1}, {.f = 2}, {.f = 3}, {.f = 4}, {.f = 0.5},
                               {.b = NULL}, {.b = emb, .len = sizeof(emb)}, {.i = 42}};
    r = mem_row(face);
    struct fr_store_face f;
    fr__store_read_face(&r, &f);
    assert_int_equal(f.id, 9);
    assert_int_equal(f.person, 0);
    assert_int_equal(f.image, 0);
    assert_true(f.box[2] == 3.0f && f.score == 0.5f);
    assert_true(f.landmarks[0][0] == 0 && f.landmarks[FR_LANDMARKS - 1][1] == 0);
    assert_memory_equal(f.embedding, want, sizeof(want));
    assert_int_equal(f.created, 42);
    face[9].len = sizeof(emb) - 4;
    fr__store_read_face(&r, &f);
    assert_true(f.embedding[1] == 0 && f.embedding[FR_DESCRIPTOR_DIM - 1] == 0);

    /* An image whose hash is not 32 bytes reads as all zeros. */
    uint8_t short_hash[8] = {1, 2, 3};
    struct mem_col image[7] = {{.i = 3}, {.b = short_hash, .len = sizeof(short_hash)}, {.b = "a.jpg", .len = 5},
                               {.i = 1000}, {.i = 640}, {.i = 480}, {.i = 9}};
    r = mem_row(image);
    struct fr_store_image im;
    fr__store_read_image(&r, &im);
    uint8_t zero[FR_STORE_HASH_LEN] = {0};
    assert_memory_equal(im.sha256, zero, sizeof(zero));
    assert_string_equal(im.name, "a.jpg");
    assert_int_equal(im.width, 640);

    /* Job states: the stored numbers, and anything else as running. */
    const enum fr_store_job_state states[] = {FR_STORE_JOB_RUNNING, FR_STORE_JOB_DONE, FR_STORE_JOB_FAILED,
                                              FR_STORE_JOB_CANCELLED, FR_STORE_JOB_RUNNING};
    for (int s = 0; s < 5; s++) {
        struct mem_col job[9] = {{.i = 1}, {.b = "index", .len = 5}, {.i = s}, {0}, {0}, {0}, {.b = NULL}, {0}, {0}};
        r = mem_row(job);
        struct fr_store_job j;
        fr__store_read_job(&r, &j);
        assert_int_equal(j.state, states[s]);
        assert_string_equal(j.kind, "index");
        assert_string_equal(j.detail, "");
    }

    struct mem_col node[5] = {{.b = "w1", .len = 2}, {.i = 4}, {.i = 1}, {.i = 10}, {.i = 20}};
    r = mem_row(node);
    struct fr_store_job_node nd;
    fr__store_read_node(&r, &nd);
    assert_string_equal(nd.node, "w1");
    assert_int_equal(nd.done + nd.failed, 5);
}

static void test_key_match(void **state) {
    (void)state;
    struct fr__store_key_search ks = {.found = false};
    fr_store_sha256("secret", 6, ks.hash);
    uint8_t other[FR_STORE_HASH_LEN];
    fr_store_sha256("secreT", 6, other);
    struct mem_col miss[2] = {{.i = 1}, {.b = other, .len = sizeof(other)}};
    struct mem_col hit[2] = {{.i = 2}, {.b = ks.hash, .len = sizeof(ks.hash)}};
    struct mem_col short_row[2] = {{.i = 3}, {.b = ks.hash, .len = 16}};
    struct fr__store_row r = mem_row(miss);
    fr__store_key_match(&r, &ks);
    r = mem_row(short_row);
    fr__store_key_match(&r, &ks);
    assert_false(ks.found);
    r = mem_row(hit);
    fr__store_key_match(&r, &ks);
    assert_true(ks.found);
    assert_int_equal(ks.user, 2);

    /* Generated keys are found by their own id, legacy ones by their hash's. */
    char key[FR_STORE_KEY_LEN + 1], prefix[FR_STORE_KEY_ID_LEN + 2];
    assert_int_equal(fr__store_new_key(key), FR_OK);
    assert_int_equal(strlen(key), FR_STORE_KEY_LEN);
    uint8_t h[FR_STORE_HASH_LEN];
    fr_store_sha256(key, strlen(key), h);
    fr__store_key_prefix(key, strlen(key), h, prefix);
    assert_memory_equal(prefix, key + 3, FR_STORE_KEY_ID_LEN);
    fr__store_key_prefix("legacy", 6, h, prefix);
    assert_int_equal(prefix[0], '~');
    assert_int_equal(strlen(prefix), FR_STORE_KEY_ID_LEN + 1);
}

static void test_thumbnail_copy(void **state) {
    (void)state;
    void *jpeg = NULL;
    size_t len = 0;
    assert_int_equal(fr__store_copy_thumbnail(NULL, 0, 5, &jpeg, &len), FR_ERR_NOT_FOUND);
    assert_string_equal(last_error(), "face 5 has no thumbnail");
    assert_int_equal(fr__store_copy_thumbnail("JPEG", 0, 5, &jpeg, &len), FR_ERR_NOT_FOUND);
    assert_int_equal(fr__store_copy_thumbnail("JPEG", 4, 5, &jpeg, &len), FR_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(jpeg, "JPEG", 4);
    fr_free(jpeg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_len),  cmocka_unit_test(test_names),     cmocka_unit_test(test_checks),
        cmocka_unit_test(test_readers),  cmocka_unit_test(test_key_match), cmocka_unit_test(test_thumbnail_copy),
    };
    return cmocka_run_group_tests_name("store-common", tests, NULL, NULL);
}
