#define _POSIX_C_SOURCE 200809L /* setenv */
/* fr_nvml: absent cleanly on a machine without the driver, and the
 * present-GPU path against tests/fake-nvml.c (libfake-nvml.so). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/nvml.h"

static void test_absent(void **state) {
    struct fr_nvml_params p = fr_nvml_default_params();
    p.library = "/nonexistent/libnvidia-ml.so.1";
    struct fr_nvml *n = (struct fr_nvml *)1;
    char err[256] = "";
    assert_int_equal(fr_nvml_new(&p, &n, err, sizeof err), FR_ERR_DEVICE);
    assert_null(n);
    assert_non_null(strstr(err, "NVML not available"));
    fr_nvml_free(NULL);
}

/* The real soname: on this machine (no driver) absent; where a driver is
 * installed it must work. Either way, no crash and a clear answer. */
static void test_default_library(void **state) {
    unsetenv("FACEREC_NVML_LIBRARY");
    struct fr_nvml *n = NULL;
    char err[256] = "";
    enum fr_status st = fr_nvml_new(NULL, &n, err, sizeof err);
    if (st != FR_OK) {
        assert_int_equal(st, FR_ERR_DEVICE);
        assert_true(strlen(err) > 0);
        assert_null(n);
        return;
    }
    int32_t c = fr_nvml_device_count(n);
    assert_true(c >= 0);
    struct fr_gpu_sample g;
    if (c > 0) assert_int_equal(fr_nvml_sample(n, 0, &g), FR_OK);
    assert_int_equal(fr_nvml_sample(n, c, &g), FR_ERR_INVALID);
    fr_nvml_free(n);
}

/* A library that loads but is not NVML. */
static void test_not_nvml(void **state) {
    struct fr_nvml_params p = { .library = "libm.so.6" };
    struct fr_nvml *n = NULL;
    char err[256] = "";
    assert_int_equal(fr_nvml_new(&p, &n, err, sizeof err), FR_ERR_DEVICE);
    assert_non_null(strstr(err, "lacks nvmlInit_v2"));
}

static void test_fake(void **state) {
    struct fr_nvml_params p = { .library = FAKE_NVML_PATH };
    struct fr_nvml *n = NULL;
    char err[256] = "";
    assert_int_equal(fr_nvml_new(&p, &n, err, sizeof err), FR_OK);
    assert_int_equal(fr_nvml_device_count(n), 2);
    struct fr_gpu_sample g;
    assert_int_equal(fr_nvml_sample(n, 0, &g), FR_OK);
    assert_string_equal(g.name, "Fake GPU \"A\\100\"");
    assert_true(g.utilization > 0.419 && g.utilization < 0.421);
    assert_true(g.memory_activity > 0.169 && g.memory_activity < 0.171);
    assert_true(g.memory_total == 40ull << 30);
    assert_true(g.memory_used == 3ull << 30);
    assert_true(g.has_temperature && g.temperature_c == 61);
    assert_true(g.has_power && g.power_w > 123.455 && g.power_w < 123.457);
    assert_int_equal(fr_nvml_sample(n, 1, &g), FR_OK);
    assert_string_equal(g.name, "Fake GPU B");
    assert_false(g.has_power);
    assert_true(g.power_w == 0);
    assert_int_equal(fr_nvml_sample(n, 2, &g), FR_ERR_INVALID);
    assert_int_equal(fr_nvml_sample(n, -1, &g), FR_ERR_INVALID);
    fr_nvml_free(n);
}

static void test_env_and_init_failure(void **state) {
    setenv("FACEREC_NVML_LIBRARY", FAKE_NVML_PATH, 1);
    struct fr_nvml *n = NULL;
    char err[256] = "";
    assert_int_equal(fr_nvml_new(NULL, &n, err, sizeof err), FR_OK);
    assert_int_equal(fr_nvml_device_count(n), 2);
    fr_nvml_free(n);
    setenv("FAKE_NVML_INIT_FAIL", "1", 1);
    n = NULL;
    assert_int_equal(fr_nvml_new(NULL, &n, err, sizeof err), FR_ERR_DEVICE);
    assert_null(n);
    assert_non_null(strstr(err, "Driver Not Loaded"));
    unsetenv("FAKE_NVML_INIT_FAIL");
    unsetenv("FACEREC_NVML_LIBRARY");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent), cmocka_unit_test(test_default_library), cmocka_unit_test(test_not_nvml),
        cmocka_unit_test(test_fake),   cmocka_unit_test(test_env_and_init_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
