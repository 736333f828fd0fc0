#define _GNU_SOURCE
/* `facerec serve` at its limits, each on a server of its own started with
 * that limit: a full queue answers 429 with Retry-After, a request timeout
 * 504, and SIGTERM under load refuses new connections, finishes the
 * requests in flight and exits 0. The rest of the server's end-to-end tests
 * are in test-server.c. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "server-test.h"

static struct blob g_two; /* examples/two_people.jpg: a request that takes a while */

/* ---- limits on their own servers ------------------------------------------------------------ */

struct burst {
    const struct ht_server *sv;
    int user;
    long status;
    char retry_after[32];
    bool json_error;
};

static void *burst_thread(void *arg) {
    struct burst *b = arg;
    char key[32];
    snprintf(key, sizeof(key), "key-u%d", b->user);
    struct ht_resp r;
    http(b->sv, &r, "POST", "/v1/embed", key, NULL, g_two.data, g_two.len, NULL);
    b->status = r.status;
    snprintf(b->retry_after, sizeof(b->retry_after), "%s", r.retry_after);
    const cJSON *e = cJSON_GetObjectItem(r.json, "error");
    b->json_error = cJSON_IsString(cJSON_GetObjectItem(e, "code")) && cJSON_IsString(cJSON_GetObjectItem(e, "message"));
    ht_free(&r);
    return NULL;
}

static void test_busy(void **state) {
    (void)state;
    static const char *const extra[] = { "--queue-capacity", "1", "--user-queue-capacity", "1",
                                         "--max-concurrent-images", "1", "--no-warmup", NULL };
    struct ht_server sv;
    server_start(&sv, extra);
    enum { N = 16 };
    pthread_t t[N];
    struct burst b[N];
    for (int i = 0; i < N; i++) {
        b[i] = (struct burst){ .sv = &sv, .user = i % N_USERS };
        pthread_create(&t[i], NULL, burst_thread, &b[i]);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (b[i].status == 200) ok++;
        else if (b[i].status == 429) {
            busy++;
            assert_true(b[i].json_error);
            assert_true(atoi(b[i].retry_after) >= 1);
        } else {
            fail_msg("status %ld", b[i].status);
        }
    }
    print_message("    %d answered, %d refused with 429\n", ok, busy);
    assert_true(ok >= 1);
    assert_true(busy >= 1);
    assert_int_equal(server_stop(&sv), 0);
}

static void test_timeout(void **state) {
    (void)state;
    static const char *const extra[] = { "--request-timeout-ms", "1", "--no-warmup", NULL };
    struct ht_server sv;
    server_start(&sv, extra);
    struct ht_resp r;
    http(&sv, &r, "POST", "/v1/embed", "key-u0", NULL, g_two.data, g_two.len, NULL);
    expect_error(&r, 504, "timeout");
    ht_free(&r);
    assert_int_equal(server_stop(&sv), 0);
}

static void test_sigterm(void **state) {
    (void)state;
    /* One image at a time, so the requests are still queued when the
     * signal comes. */
    static const char *const extra[] = { "--max-concurrent-images", "1", "--no-warmup", NULL };
    struct ht_server sv;
    server_start(&sv, extra);
    enum { N = 6 };
    pthread_t t[N];
    struct burst b[N];
    for (int i = 0; i < N; i++) {
        b[i] = (struct burst){ .sv = &sv, .user = i % N_USERS };
        pthread_create(&t[i], NULL, burst_thread, &b[i]);
    }
    double t0 = fr_test_now();
    while (status_field(&sv, "requests", "waiting_on_scheduler") < N) {
        if (fr_test_now() - t0 > 30) fail_msg("requests never reached the scheduler");
        fr_test_sleep_ms(5);
    }
    kill(sv.pid, SIGTERM);
    /* New connections are refused from now on (give the signal a moment). */
    bool refused = false;
    for (int i = 0; i < 200 && !refused; i++) {
        int fd = fr_test_dial(NULL, sv.port, 0);
        if (fd < 0) refused = errno == ECONNREFUSED;
        else close(fd);
        if (!refused) fr_test_sleep_ms(5);
    }
    assert_true(refused);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (b[i].status != 200) fail_msg("in-flight request %d: status %ld", i, b[i].status);
    }
    int st = 0;
    t0 = fr_test_now();
    while (waitpid(sv.pid, &st, WNOHANG) == 0) {
        if (fr_test_now() - t0 > 30) {
            kill(sv.pid, SIGKILL);
            fail_msg("no exit after SIGTERM");
        }
        fr_test_sleep_ms(10);
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int setup(void **state) {
    (void)state;
    if (server_test_setup("test-server-limits") != 0) return -1;
    g_two = ht_data("examples/two_people.jpg");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(g_two.data);
    server_test_teardown();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_sigterm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
