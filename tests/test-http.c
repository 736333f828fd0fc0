#define _GNU_SOURCE
/* The HTTP front end's parsers without a server: request bodies (raw,
 * multipart, base64 JSON, data: URLs), the API-key file and the JSON the
 * answers are built from. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "http/http-impl.h"

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64(const unsigned char *d, size_t n) {
    char *s = malloc(n / 3 * 4 + 8), *p = s;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *p++ = b64_alpha[v >> 18], *p++ = b64_alpha[(v >> 12) & 63], *p++ = b64_alpha[(v >> 6) & 63],
        *p++ = b64_alpha[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)d[i] << 16;
        *p++ = b64_alpha[v >> 18], *p++ = b64_alpha[(v >> 12) & 63], *p++ = '=', *p++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8;
        *p++ = b64_alpha[v >> 18], *p++ = b64_alpha[(v >> 12) & 63], *p++ = b64_alpha[(v >> 6) & 63], *p++ = '=';
    }
    *p = 0;
    return s;
}

/* Bytes with every value, including NUL and CR LF and boundary look-alikes. */
static void fake_image(unsigned char *d, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)(i * 7 + seed * 13 + (i >> 3));
    if (n > 8) memcpy(d + n / 2, "\r\n--xy", 6);
}

static void expect_image(const struct fr__http_body *b, int i, const unsigned char *d, size_t n) {
    assert_true(i < b->n);
    assert_int_equal(b->images[i].len, n);
    assert_memory_equal(b->images[i].data, d, n);
}

static void test_body_kind(void **state) {
    (void)state;
    assert_int_equal(fr__http_body_kind(NULL), FR__HTTP_BODY_RAW);
    assert_int_equal(fr__http_body_kind("image/jpeg"), FR__HTTP_BODY_RAW);
    assert_int_equal(fr__http_body_kind("Application/Octet-Stream"), FR__HTTP_BODY_RAW);
    assert_int_equal(fr__http_body_kind("multipart/form-data; boundary=x"), FR__HTTP_BODY_MULTIPART);
    assert_int_equal(fr__http_body_kind("application/json; charset=utf-8"), FR__HTTP_BODY_JSON);
    assert_int_equal(fr__http_body_kind("text/plain"), FR__HTTP_BODY_UNSUPPORTED);
}

static void test_raw(void **state) {
    (void)state;
    unsigned char d[100];
    fake_image(d, sizeof(d), 1);
    struct fr__http_body b;
    struct fr__http_body_error e;
    assert_int_equal(fr__http_body_parse("image/png", (const char *)d, sizeof(d), &b, &e), FR_OK);
    assert_int_equal(b.n, 1);
    expect_image(&b, 0, d, sizeof(d));
    assert_ptr_equal(b.images[0].data, d); /* a slice of the body, not a copy */
    fr__http_body_clear(&b);
    assert_int_not_equal(fr__http_body_parse("image/png", "", 0, &b, &e), FR_OK);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "no_image");
    assert_int_not_equal(fr__http_body_parse("text/plain", "x", 1, &b, &e), FR_OK);
    assert_int_equal(e.http_status, 415);
}

/* A multipart body with n file parts of the given sizes. */
static size_t multipart(char *out, const char *boundary, int n, unsigned char d[][300], const size_t *len) {
    size_t o = 0;
    o += (size_t)sprintf(out + o, "preamble to ignore\r\n");
    o += (size_t)sprintf(out + o, "--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n", boundary);
    for (int i = 0; i < n; i++) {
        o += (size_t)sprintf(out + o,
                             "--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"f%d.jpg\"\r\n"
                             "Content-Type: image/jpeg\r\n\r\n",
                             boundary, i);
        memcpy(out + o, d[i], len[i]);
        o += len[i];
        o += (size_t)sprintf(out + o, "\r\n");
    }
    o += (size_t)sprintf(out + o, "--%s--\r\n", boundary);
    return o;
}

static void test_multipart(void **state) {
    (void)state;
    static unsigned char d[3][300];
    size_t len[3] = { 300, 17, 1 };
    for (int i = 0; i < 3; i++) fake_image(d[i], len[i], (unsigned)i);
    static char body[4096];
    struct fr__http_body b;
    struct fr__http_body_error e;

    size_t n = multipart(body, "xyzzy", 1, d, len);
    assert_int_equal(fr__http_body_parse("multipart/form-data; boundary=xyzzy", body, n, &b, &e), FR_OK);
    assert_int_equal(b.n, 1);
    expect_image(&b, 0, d[0], len[0]);
    fr__http_body_clear(&b);

    /* Three files; the boundary quoted, as some clients send it. */
    n = multipart(body, "----abc 123", 3, d, len);
    assert_int_equal(fr__http_body_parse("multipart/form-data; boundary=\"----abc 123\"", body, n, &b, &e), FR_OK);
    assert_int_equal(b.n, 3);
    for (int i = 0; i < 3; i++) expect_image(&b, i, d[i], len[i]);
    fr__http_body_clear(&b);

    /* A part without filename but typed as an image counts; an
     * "embedding" field is read as JSON. */
    char emb[2048];
    int k = sprintf(emb, "[");
    for (int i = 0; i < 128; i++) k += sprintf(emb + k, "%s%d.5", i ? "," : "", i);
    sprintf(emb + k, "]");
    n = (size_t)sprintf(body,
                        "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: application/octet-stream"
                        "\r\n\r\nABC\r\n--b\r\nContent-Disposition: form-data; name=\"embedding\"\r\n\r\n%s\r\n--b--",
                        emb);
    assert_int_equal(fr__http_body_parse("multipart/form-data; boundary=b", body, n, &b, &e), FR_OK);
    assert_int_equal(b.n, 1);
    expect_image(&b, 0, (const unsigned char *)"ABC", 3);
    assert_true(b.has_embedding);
    assert_true(b.embedding[127] == 127.5f);
    fr__http_body_clear(&b);

    /* Broken bodies. */
    const char *bad[] = {
        "--b\r\nContent-Disposition: form-data; name=\"i\"; filename=\"x\"\r\n\r\nABC", /* no closing delimiter */
        "no boundary here at all",
        "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\ntext only\r\n--b--", /* no image */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(fr__http_body_parse("multipart/form-data; boundary=b", bad[i], strlen(bad[i]), &b, &e),
                             FR_OK);
        assert_int_equal(e.http_status, 400);
        assert_int_equal(b.n, 0);
    }
    assert_int_not_equal(fr__http_body_parse("multipart/form-data", "x", 1, &b, &e), FR_OK);
    assert_int_equal(e.http_status, 400);
}

static void test_base64(void **state) {
    (void)state;
    unsigned char d[256];
    fake_image(d, sizeof(d), 5);
    for (size_t n = 0; n <= 10; n++) {
        char *s = b64(d, n);
        unsigned char *out;
        size_t ol;
        assert_int_equal(fr__http_base64_decode(s, strlen(s), &out, &ol), FR_OK);
        assert_int_equal(ol, n);
        if (n) assert_memory_equal(out, d, n);
        fr_free(out);
        /* Without padding and with line breaks it decodes the same. */
        size_t sl = strlen(s);
        while (sl && s[sl - 1] == '=') s[--sl] = 0;
        char wrapped[64];
        size_t w = 0;
        for (size_t i = 0; i < sl; i++) {
            wrapped[w++] = s[i];
            if (i % 4 == 3) wrapped[w++] = '\n';
        }
        assert_int_equal(fr__http_base64_decode(wrapped, w, &out, &ol), FR_OK);
        assert_int_equal(ol, n);
        if (n) assert_memory_equal(out, d, n);
        fr_free(out);
        free(s);
    }
    /* URL-safe alphabet. */
    unsigned char *out;
    size_t ol;
    assert_int_equal(fr__http_base64_decode("-_-_", 4, &out, &ol), FR_OK);
    assert_int_equal(ol, 3);
    assert_int_equal(out[0], 0xfb);
    fr_free(out);
    /* data: URLs. */
    const char *u = "data:image/jpeg;base64,QUJD";
    assert_int_equal(fr__http_base64_decode(u, strlen(u), &out, &ol), FR_OK);
    assert_int_equal(ol, 3);
    assert_memory_equal(out, "ABC", 3);
    fr_free(out);
    const char *bad[] = { "QU!D", "QUJD=QUJD", "Q", "data:image/jpeg,QUJD", "data:QUJD", "QQ===" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fr__http_base64_decode(bad[i], strlen(bad[i]), &out, &ol), FR_ERR_FORMAT);
}

static void test_json(void **state) {
    (void)state;
    unsigned char d[3][300];
    for (int i = 0; i < 3; i++) fake_image(d[i], 100 + (size_t)i, (unsigned)i);
    char *s0 = b64(d[0], 100), *s1 = b64(d[1], 101), *s2 = b64(d[2], 102);
    char body[4096];
    struct fr__http_body b;
    struct fr__http_body_error e;

    snprintf(body, sizeof(body), "{\"image\":\"%s\"}", s0);
    assert_int_equal(fr__http_body_parse("application/json", body, strlen(body), &b, &e), FR_OK);
    assert_int_equal(b.n, 1);
    expect_image(&b, 0, d[0], 100);
    fr__http_body_clear(&b);

    snprintf(body, sizeof(body), "{\"images\":[\"%s\",\"data:image/png;base64,%s\",\"%s\"]}", s0, s1, s2);
    assert_int_equal(fr__http_body_parse("application/json", body, strlen(body), &b, &e), FR_OK);
    assert_int_equal(b.n, 3);
    expect_image(&b, 0, d[0], 100);
    expect_image(&b, 1, d[1], 101);
    expect_image(&b, 2, d[2], 102);
    fr__http_body_clear(&b);

    /* One image and an embedding (verify). */
    int k = snprintf(body, sizeof(body), "{\"image\":\"%s\",\"embedding\":[", s0);
    for (int i = 0; i < 128; i++) k += snprintf(body + k, sizeof(body) - (size_t)k, "%s%g", i ? "," : "", i * 0.01);
    snprintf(body + k, sizeof(body) - (size_t)k, "]}");
    assert_int_equal(fr__http_body_parse("application/json", body, strlen(body), &b, &e), FR_OK);
    assert_int_equal(b.n, 1);
    assert_true(b.has_embedding);
    assert_float_equal(b.embedding[100], 1.0f, 1e-6);
    fr__http_body_clear(&b);

    struct {
        const char *body, *code;
    } bad[] = {
        { "{\"image\":", "invalid_json" },
        { "not json", "invalid_json" },
        { "[1,2]", "invalid_request" },
        { "{\"img\":\"QUJD\"}", "invalid_request" },
        { "{\"image\":\"QUJD\",\"extra\":1}", "invalid_request" },
        { "{\"image\":\"QUJD\",\"images\":[\"QUJD\"]}", "invalid_request" },
        { "{\"image\":42}", "invalid_request" },
        { "{\"images\":\"QUJD\"}", "invalid_request" },
        { "{\"images\":[\"QUJD\",7]}", "invalid_request" },
        { "{\"image\":\"not base64!\"}", "invalid_base64" },
        { "{\"images\":[\"QUJD\",\"Q\"]}", "invalid_base64" },
        { "{\"image\":\"\"}", "no_image" },
        { "{}", "no_image" },
        { "{\"images\":[]}", "no_image" },
        { "{\"image\":\"QUJD\",\"embedding\":[1,2,3]}", "invalid_request" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(fr__http_body_parse("application/json", bad[i].body, strlen(bad[i].body), &b, &e),
                             FR_OK);
        if (strcmp(e.code, bad[i].code)) fail_msg("%s: got %s (%s)", bad[i].body, e.code, e.message);
        assert_int_equal(e.http_status, 400);
        assert_true(e.message[0] != 0);
        assert_int_equal(b.n, 0);
    }
    free(s0);
    free(s1);
    free(s2);
}

static void test_keys(void **state) {
    (void)state;
    const char *text = "# API keys\n"
                       "\n"
                       "k-alice alice\n"
                       "   k-bob\tbob  \r\n"
                       "  # indented comment\n"
                       "k-carol carol"; /* no final newline */
    struct fr__http_keys *k;
    char err[256];
    assert_int_equal(fr__http_keys_parse(text, strlen(text), "keys", &k, err, sizeof(err)), FR_OK);
    assert_int_equal(fr__http_keys_count(k), 3);
    assert_string_equal(fr__http_keys_lookup(k, "k-alice"), "alice");
    assert_string_equal(fr__http_keys_lookup(k, "k-bob"), "bob");
    assert_string_equal(fr__http_keys_lookup(k, "k-carol"), "carol");
    assert_null(fr__http_keys_lookup(k, "k-alic"));
    assert_null(fr__http_keys_lookup(k, "k-alicee"));
    assert_null(fr__http_keys_lookup(k, ""));
    assert_null(fr__http_keys_lookup(k, NULL));
    assert_null(fr__http_keys_lookup(k, "alice"));
    fr__http_keys_free(k);

    struct {
        const char *text, *msg;
    } bad[] = {
        { "k1 alice\nk2\n", "keys:2:" },
        { "k1 alice extra\n", "keys:1:" },
        { "k1 alice\n# c\nk1 bob\n", "keys:3: key listed twice" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(fr__http_keys_parse(bad[i].text, strlen(bad[i].text), "keys", &k, err, sizeof(err)),
                         FR_ERR_FORMAT);
        assert_null(k);
        if (!strstr(err, bad[i].msg)) fail_msg("'%s' lacks '%s'", err, bad[i].msg);
    }
    /* Empty file: valid, no keys. */
    assert_int_equal(fr__http_keys_parse("", 0, "keys", &k, err, sizeof(err)), FR_OK);
    assert_int_equal(fr__http_keys_count(k), 0);
    assert_null(fr__http_keys_lookup(k, "x"));
    fr__http_keys_free(k);

    /* From a file, and a missing file. */
    char path[] = "/tmp/fr-test-keys-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(fr__http_keys_load(path, &k, err, sizeof(err)), FR_OK);
    assert_string_equal(fr__http_keys_lookup(k, "k-bob"), "bob");
    fr__http_keys_free(k);
    unlink(path);
    assert_int_equal(fr__http_keys_load(path, &k, err, sizeof(err)), FR_ERR_IO);
    assert_non_null(strstr(err, path));
}

static void test_json_out(void **state) {
    (void)state;
    char *s = fr__http_json_error("not_found", "no route \"/x\"");
    assert_string_equal(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no route \\\"/x\\\"\"}}");
    cJSON_free(s);

    struct fr_face f = { .box = { 1.5f, 2.25f, 100.125f, 0.1f }, .score = 0.987654321f, .has_landmarks = true,
                         .has_descriptor = true };
    for (int p = 0; p < FR_LANDMARKS; p++) f.landmarks[p][0] = (float)p, f.landmarks[p][1] = (float)p / 3.0f;
    for (int i = 0; i < FR_DESCRIPTOR_DIM; i++) f.descriptor[i] = (float)i / 7.0f - 9.0f;
    struct fr_faces faces = { .count = 1, .faces = &f, .width = 640, .height = 480 };
    cJSON *o = fr__http_json_faces(&faces, true);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* The CLI's format: %.9g round-trips float32. */
    assert_non_null(strstr(s, "\"width\":640,\"height\":480,\"faces\":[{\"box\":[1.5,2.25,100.125,0.100000001],"
                              "\"score\":0.987654328,\"landmarks\":[[0,0],[1,0.333333343],"));
    cJSON *back = cJSON_Parse(s);
    assert_non_null(back);
    cJSON *face = cJSON_GetArrayItem(cJSON_GetObjectItem(back, "faces"), 0);
    cJSON *emb = cJSON_GetObjectItem(face, "embedding");
    assert_int_equal(cJSON_GetArraySize(emb), 128);
    for (int i = 0; i < 128; i++) assert_true((float)cJSON_GetArrayItem(emb, i)->valuedouble == f.descriptor[i]);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(face, "landmarks")), 68);
    cJSON_Delete(back);
    cJSON_free(s);

    /* Without embedding: no key at all. */
    o = fr__http_json_faces(&faces, false);
    s = cJSON_PrintUnformatted(o);
    assert_null(strstr(s, "embedding"));
    cJSON_Delete(o);
    cJSON_free(s);

    struct fr_sched_timings t = { .queued = 1.23456, .total = 10 };
    o = fr__http_json_timings(&t);
    assert_float_equal(cJSON_GetObjectItem(o, "queued_ms")->valuedouble, 1.235, 1e-9);
    assert_non_null(cJSON_GetObjectItem(o, "recognize_ms"));
    cJSON_Delete(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_kind), cmocka_unit_test(test_raw),  cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_base64),    cmocka_unit_test(test_json), cmocka_unit_test(test_keys),
        cmocka_unit_test(test_json_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
