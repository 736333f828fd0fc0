/* The tests' one allocator: counting and fault injection over the
 * fr_allocator_set() hook, after SQLite's test_malloc.c.
 *
 * fr_test_alloc_install() puts it behind fr_malloc/fr_calloc/fr_realloc/
 * fr_free. From then on it counts every allocation call, keeps the bytes
 * outstanding (live) and their high-water mark (peak), and can fail calls on
 * request: fr_test_alloc_fail(delay, persist) lets `delay` more calls succeed
 * and fails the next one, once or (persist) every one after it until
 * fr_test_alloc_fail_off(). A failed call returns NULL and allocates nothing,
 * so a caller that unwinds correctly brings live back to where it was.
 *
 * Each block carries its size in a 16-byte header in front of it, so a block
 * must be freed by the allocator that made it: install before the first
 * facerec allocation of what is measured and uninstall after its last free
 * (a test program usually installs once in main); a block still live at
 * uninstall must not be freed after it.
 *
 * Thread-safety: the bookkeeping takes a mutex, so the library's threads may
 * allocate while it is installed; install, uninstall and fault arming are
 * for the test's own thread.
 *
 * Usage, every allocation of a call failing in turn:
 *
 *     fr_test_alloc_install();
 *     for (int64_t k = 0;; k++) {
 *         size_t live = fr_test_alloc_live();
 *         fr_test_alloc_fail(k, false);
 *         enum fr_status st = fr_thing_new(&p, &t);
 *         bool hit = fr_test_alloc_failures() > 0;
 *         fr_test_alloc_fail_off();
 *         if (st == FR_OK) { fr_thing_free(t); if (!hit) break; continue; }
 *         assert_int_equal(st, FR_ERR_NOMEM);
 *         assert_int_equal(fr_test_alloc_live(), live);
 *     }
 *     fr_test_alloc_uninstall();
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Install the counting allocator (counters at zero, no fault armed), or
 * restore the default one. */
void fr_test_alloc_install(void);
void fr_test_alloc_uninstall(void);

/* Fail an allocation after `delay` more succeed (0: the next call fails);
 * persist: every call after that fails too, until fr_test_alloc_fail_off().
 * Resets the count of injected failures. */
void fr_test_alloc_fail(int64_t delay, bool persist);
void fr_test_alloc_fail_off(void);

/* Allocation calls so far (malloc, calloc and realloc; failed ones too). */
int64_t fr_test_alloc_calls(void);
/* Failures injected since the last fr_test_alloc_fail(). */
int64_t fr_test_alloc_failures(void);
/* Bytes outstanding now, and the most outstanding since install or the last
 * fr_test_alloc_peak_reset() (which sets the mark to the live bytes). */
size_t fr_test_alloc_live(void);
size_t fr_test_alloc_peak(void);
void fr_test_alloc_peak_reset(void);

/* A cmocka setup/teardown pair for tests run with the allocator installed:
 * the teardown disarms faults and fails the test when the bytes outstanding
 * differ from those at setup (a leak, or a free of what the test did not
 * allocate). */
int fr_test_alloc_setup(void **state);
int fr_test_alloc_teardown(void **state);
