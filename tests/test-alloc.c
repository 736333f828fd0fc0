/* The tests' counting, fault-injecting allocator; see test-alloc.h. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/core.h"
#include "test-alloc.h"

/* The size of each block sits in a header in front of it; 16 bytes keep the
 * block aligned for any type, as malloc's own blocks are. */
#define HDR 16

static struct {
    pthread_mutex_t mu;
    size_t live, peak;
    int64_t calls;
    int64_t countdown; /* calls that succeed before the next failure; -1: none armed */
    bool persist;      /* keep failing once the countdown has run out */
    int64_t failures;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .countdown = -1};

static size_t g_live_at_setup;

/* Counts one call and says whether it is to fail. */
static bool step(void) {
    bool fail = false;
    pthread_mutex_lock(&g.mu);
    g.calls++;
    if (g.countdown > 0) {
        g.countdown--;
    } else if (g.countdown == 0) {
        fail = true;
        g.failures++;
        if (!g.persist) g.countdown = -1;
    }
    pthread_mutex_unlock(&g.mu);
    return fail;
}

static void account(size_t add, size_t sub) {
    pthread_mutex_lock(&g.mu);
    g.live = g.live + add - sub;
    if (g.live > g.peak) g.peak = g.live;
    pthread_mutex_unlock(&g.mu);
}

static void *counted(void *old, size_t n, bool zero) {
    if (step() || n > SIZE_MAX - HDR) return NULL;
    size_t oldn = old ? *(size_t *)((char *)old - HDR) : 0;
    char *p = old ? realloc((char *)old - HDR, n + HDR) : zero ? calloc(1, n + HDR) : malloc(n + HDR);
    if (!p) return NULL;
    *(size_t *)p = n;
    account(n, oldn);
    return p + HDR;
}

static void *t_malloc(size_t n) { return counted(NULL, n, false); }
static void *t_realloc(void *p, size_t n) { return counted(p, n, false); }
static void *t_calloc(size_t c, size_t n) {
    if (n && c > SIZE_MAX / n) return step(), NULL;
    return counted(NULL, c * n, true);
}
static void t_free(void *p) {
    if (!p) return;
    account(0, *(size_t *)((char *)p - HDR));
    free((char *)p - HDR);
}

void fr_test_alloc_install(void) {
    static const struct fr_allocator a = {t_malloc, t_calloc, t_realloc, t_free};
    pthread_mutex_lock(&g.mu);
    g.live = g.peak = 0;
    g.calls = g.failures = 0;
    g.countdown = -1;
    g.persist = false;
    pthread_mutex_unlock(&g.mu);
    fr_allocator_set(&a);
}

void fr_test_alloc_uninstall(void) { fr_allocator_set(NULL); }

void fr_test_alloc_fail(int64_t delay, bool persist) {
    pthread_mutex_lock(&g.mu);
    g.countdown = delay < 0 ? 0 : delay;
    g.persist = persist;
    g.failures = 0;
    pthread_mutex_unlock(&g.mu);
}

void fr_test_alloc_fail_off(void) {
    pthread_mutex_lock(&g.mu);
    g.countdown = -1;
    g.persist = false;
    pthread_mutex_unlock(&g.mu);
}

#define GETTER(type, name, field)                                                                                     \
    type name(void) {                                                                                                  \
        pthread_mutex_lock(&g.mu);                                                                                     \
        type v = g.field;                                                                                              \
        pthread_mutex_unlock(&g.mu);                                                                                   \
        return v;                                                                                                      \
    }
GETTER(int64_t, fr_test_alloc_calls, calls)
GETTER(int64_t, fr_test_alloc_failures, failures)
GETTER(size_t, fr_test_alloc_live, live)
GETTER(size_t, fr_test_alloc_peak, peak)
#undef GETTER

void fr_test_alloc_peak_reset(void) {
    pthread_mutex_lock(&g.mu);
    g.peak = g.live;
    pthread_mutex_unlock(&g.mu);
}

int fr_test_alloc_setup(void **state) {
    (void)state;
    fr_test_alloc_fail_off();
    g_live_at_setup = fr_test_alloc_live();
    return 0;
}

int fr_test_alloc_teardown(void **state) {
    (void)state;
    fr_test_alloc_fail_off();
    size_t live = fr_test_alloc_live();
    if (live != g_live_at_setup) {
        fprintf(stderr, "facerec heap leak: %zu bytes live after the test, %zu before\n", live, g_live_at_setup);
        return -1;
    }
    return 0;
}
