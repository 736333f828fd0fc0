/* facerec core: export macro, swappable allocator, leveled logger, errors.
 *
 * All facerec allocations go through fr_malloc/fr_calloc/fr_realloc/fr_free so
 * that tests can replace the allocator and inject out-of-memory failures.
 * The logger writes to stderr by default; fr_log_set() installs a sink.
 * Thread-safety: the allocator and log hooks must be installed before any
 * other facerec call; after that every function here is thread-safe. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FR_API __attribute__((visibility("default")))
#else
#define FR_API
#endif

#define FR_VERSION "0.1.0"

/* Programmer-error assertion: stays on in release builds. Never use it for
 * conditions that bad input, OOM or a failing library can trigger. */
#define FR_ASSERT(cond)                                                         \
    do {                                                                        \
        if (!(cond)) fr__assert_fail(#cond, __FILE__, __LINE__, __func__);      \
    } while (0)

FR_API void fr__assert_fail(const char *cond, const char *file, int line, const char *func)
    __attribute__((noreturn));

/* Allocator. The defaults wrap the C library; fr_free(NULL) is a no-op. */
struct fr_allocator {
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t count, size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
};

/* Replace the allocator; NULL restores the default. Not thread-safe. */
FR_API void fr_allocator_set(const struct fr_allocator *a);
FR_API void *fr_malloc(size_t size);
FR_API void *fr_calloc(size_t count, size_t size);
FR_API void *fr_realloc(void *ptr, size_t size);
FR_API void fr_free(void *ptr);
FR_API char *fr_strdup(const char *s);
/* Aligned allocation for SIMD buffers (64-byte alignment); free with fr_free_aligned. */
FR_API void *fr_malloc_aligned(size_t size);
FR_API void fr_free_aligned(void *ptr);

enum fr_log_level {
    FR_LOG_DEBUG = 0,
    FR_LOG_INFO = 1,
    FR_LOG_WARN = 2,
    FR_LOG_ERROR = 3,
    FR_LOG_NONE = 4,
};

typedef void (*fr_log_fn)(enum fr_log_level level, const char *msg, void *user);

/* Install a log sink (NULL = stderr) and the minimum level that is emitted. */
FR_API void fr_log_set(fr_log_fn fn, void *user);
FR_API void fr_log_set_level(enum fr_log_level level);
FR_API void fr_log(enum fr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define FR_LOGD(...) fr_log(FR_LOG_DEBUG, __VA_ARGS__)
#define FR_LOGI(...) fr_log(FR_LOG_INFO, __VA_ARGS__)
#define FR_LOGW(...) fr_log(FR_LOG_WARN, __VA_ARGS__)
#define FR_LOGE(...) fr_log(FR_LOG_ERROR, __VA_ARGS__)

/* Write a formatted message into an optional caller error buffer
 * (err may be NULL, errlen may be 0). Used by loaders and parsers. */
FR_API void fr_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic clock in seconds, for benchmarks and timings. */
FR_API double fr_time_now(void);

#ifdef __cplusplus
}
#endif
