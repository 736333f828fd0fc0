/* Allocator, logger and small utilities shared by every module. */
#define _POSIX_C_SOURCE 200809L
#include "facerec/core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct fr_allocator g_alloc = { malloc, calloc, realloc, free };

void fr_allocator_set(const struct fr_allocator *a) {
    if (a) {
        g_alloc = *a;
    } else {
        g_alloc = (struct fr_allocator){ malloc, calloc, realloc, free };
    }
}

void *fr_malloc(size_t size) { return g_alloc.malloc_fn(size ? size : 1); }
void *fr_calloc(size_t count, size_t size) { return g_alloc.calloc_fn(count ? count : 1, size ? size : 1); }
void *fr_realloc(void *ptr, size_t size) { return g_alloc.realloc_fn(ptr, size ? size : 1); }
void fr_free(void *ptr) {
    if (ptr) g_alloc.free_fn(ptr);
}

char *fr_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = fr_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Aligned blocks are carved from a plain fr_malloc block so that allocator
 * replacement (and OOM injection) covers them too. The original pointer is
 * stored just below the aligned address. */
void *fr_malloc_aligned(size_t size) {
    const size_t align = 64;
    if (size > SIZE_MAX - align - sizeof(void *)) return NULL;
    unsigned char *raw = fr_malloc(size + align + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)p)[-1] = raw;
    return (void *)p;
}

void fr_free_aligned(void *ptr) {
    if (ptr) fr_free(((void **)ptr)[-1]);
}

static fr_log_fn g_log_fn;
static void *g_log_user;
static enum fr_log_level g_log_level = FR_LOG_WARN;
static pthread_mutex_t g_log_mutex = PTHREAD_MUTEX_INITIALIZER;

void fr_log_set(fr_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void fr_log_set_level(enum fr_log_level level) { g_log_level = level; }

void fr_log(enum fr_log_level level, const char *fmt, ...) {
    if (level < g_log_level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (g_log_fn) {
        g_log_fn(level, msg, g_log_user);
        return;
    }
    static const char *names[] = { "debug", "info", "warn", "error", "" };
    pthread_mutex_lock(&g_log_mutex);
    fprintf(stderr, "facerec %s: %s\n", names[level], msg);
    pthread_mutex_unlock(&g_log_mutex);
}

void fr_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void fr__assert_fail(const char *cond, const char *file, int line, const char *func) {
    fprintf(stderr, "facerec: assertion failed: %s (%s:%d in %s)\n", cond, file, line, func);
    abort();
}

double fr_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
