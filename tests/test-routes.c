/* The route table (src/http/routes.c) on its own: how a method and URL
 * find their row, the Allow list and metrics name that come with it, and
 * what the rows say (key, gallery, body, precheck), without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/server-impl.h"

static const struct fr__http_route *find(const char *method, const char *url, int64_t *id, const char **name,
                                         char *allow) {
    *id = -1;
    return fr__http_route_find(method, url, id, name, allow, 64);
}

static void test_find(void **state) {
    (void)state;
    int64_t id;
    const char *name;
    char allow[64];
    const struct fr__http_route *r = find("GET", "/v1/people/12", &id, &name, allow);
    assert_non_null(r);
    assert_string_equal(r->path, "/v1/people/{id}");
    assert_string_equal(name, "/v1/people/{id}");
    assert_int_equal(id, 12);
    assert_true(r->handler == fr__http_person_get);
    assert_string_equal(allow, "GET, HEAD, PATCH, DELETE");

    /* HEAD is answered by the GET row. */
    r = find("HEAD", "/healthz", &id, &name, allow);
    assert_non_null(r);
    assert_string_equal(r->method, "GET");

    /* A known path with another method: no row, but the name and Allow (405). */
    r = find("POST", "/v1/people/12", &id, &name, allow);
    assert_null(r);
    assert_string_equal(name, "/v1/people/{id}");
    assert_string_equal(allow, "GET, HEAD, PATCH, DELETE");
    assert_int_equal(id, -1);

    /* {id} is a positive integer of at most 18 digits; anything else is 404. */
    const char *bad[] = { "/v1/people/0", "/v1/people/-1", "/v1/people/x", "/v1/people/1234567890123456789",
                          "/v1/people/12/", "/v1/people/", "/nope", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = find("GET", bad[i], &id, &name, allow);
        assert_null(r);
        assert_string_equal(name, "other");
        assert_string_equal(allow, "");
    }
    r = find("GET", "/v1/people/123456789012345678", &id, &name, allow);
    assert_non_null(r);
    assert_int_equal(id, 123456789012345678LL);

    /* The enroll row carries its precheck; other image rows have none. */
    r = find("POST", "/v1/people/5/faces", &id, &name, allow);
    assert_non_null(r);
    assert_true(r->precheck == fr__http_person_enroll_precheck);
    assert_int_equal(r->input, FR__HTTP_IN_ONE_IMAGE);
    assert_true(r->gallery && r->embeddings);
    r = find("POST", "/v1/recognize", &id, &name, allow);
    assert_non_null(r);
    assert_null(r->precheck);
    r = find("POST", "/v1/detect", &id, &name, allow);
    assert_non_null(r);
    assert_false(r->gallery || r->embeddings);
    assert_int_equal(r->input, FR__HTTP_IN_IMAGES);
}

/* Every row: /v1 routes need a key, only /status reads one optionally,
 * gallery routes need a key, and fr_http_route_at agrees with the row. */
static void test_rows(void **state) {
    (void)state;
    int32_t n = fr_http_route_count();
    assert_true(n > 20);
    for (int32_t i = 0; i < n; i++) {
        const char *method, *path, *name;
        enum fr_http_auth auth;
        fr_http_route_at(i, &method, &path, &auth);
        char url[128], allow[64];
        int64_t id;
        /* The template with {id} = 7 finds this very row. */
        const char *at = strstr(path, "{id}");
        if (at) snprintf(url, sizeof(url), "%.*s7%s", (int)(at - path), path, at + 4);
        else snprintf(url, sizeof(url), "%s", path);
        const struct fr__http_route *r = find(method, url, &id, &name, allow);
        assert_non_null(r);
        assert_string_equal(r->path, path);
        assert_string_equal(r->method, method);
        assert_int_equal(r->auth, auth);
        assert_non_null(r->handler);
        if (at) assert_int_equal(id, 7);
        assert_int_equal(auth == FR_HTTP_AUTH_KEY, !strncmp(path, "/v1/", 4));
        assert_int_equal(auth == FR_HTTP_AUTH_OPTIONAL, !strcmp(path, "/status"));
        if (r->gallery) assert_int_equal(auth, FR_HTTP_AUTH_KEY);
        if (r->embeddings || r->precheck)
            assert_true(r->input == FR__HTTP_IN_IMAGES || r->input == FR__HTTP_IN_PAIR ||
                        r->input == FR__HTTP_IN_ONE_IMAGE);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
