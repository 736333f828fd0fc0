/* facerec NVML: the NVIDIA driver's management library, loaded at run time.
 *
 * fr_nvml dlopen()s libnvidia-ml.so.1 (it is never linked, so facerec runs
 * and builds on machines without the driver) and resolves the handful of
 * functions it needs through its own prototypes; no CUDA or NVML header is
 * included. Without the library, or when nvmlInit fails (no driver, no
 * card), fr_nvml_new returns FR_ERR_DEVICE with the reason in err, and
 * callers report the GPU as absent.
 *
 * The library path: params.library if set, else $FACEREC_NVML_LIBRARY if
 * set and non-empty (the tests point it at a fake), else
 * "libnvidia-ml.so.1" through the dynamic loader's search path.
 *
 * Ownership: fr_nvml owns the library handle; fr_nvml_free shuts NVML down
 * and closes it. Thread-safety: NVML itself is thread-safe, so
 * fr_nvml_sample may be called from several threads at once; new and free
 * are called from one thread.
 *
 * Example:
 *     struct fr_nvml *n;
 *     char err[256];
 *     if (fr_nvml_new(NULL, &n, err, sizeof err) != FR_OK) printf("no GPU: %s\n", err);
 *     else {
 *         struct fr_gpu_sample g;
 *         if (fr_nvml_sample(n, 0, &g) == FR_OK) printf("%s %.0f%%\n", g.name, g.utilization * 100);
 *         fr_nvml_free(n);
 *     }
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fr_nvml_params {
    const char *library; /* path or soname; NULL = $FACEREC_NVML_LIBRARY, else "libnvidia-ml.so.1" */
};

/* One reading of one GPU. Figures the driver does not offer (a card
 * without a power sensor) have their has_ flag false and value 0. */
struct fr_gpu_sample {
    char name[96];          /* "NVIDIA A100-SXM4-40GB" */
    double utilization;     /* 0..1: share of the last sample period a kernel ran */
    double memory_activity; /* 0..1: share of it device memory was read or written */
    uint64_t memory_used;   /* bytes */
    uint64_t memory_total;  /* bytes */
    bool has_temperature, has_power;
    double temperature_c; /* degrees Celsius, GPU core */
    double power_w;       /* watts, the whole board */
};

struct fr_nvml;

FR_API struct fr_nvml_params fr_nvml_default_params(void);
/* Loads the library and initialises NVML. FR_ERR_DEVICE when the library
 * is absent, lacks a function, or NVML cannot initialise (message in err);
 * FR_ERR_NOMEM. params NULL = defaults. */
FR_API enum fr_status fr_nvml_new(const struct fr_nvml_params *params, struct fr_nvml **out, char *err,
                                  size_t errlen);
/* Shuts NVML down and unloads the library. NULL is a no-op. */
FR_API void fr_nvml_free(struct fr_nvml *n);

/* GPUs the driver sees (0 when it sees none). */
FR_API int32_t fr_nvml_device_count(struct fr_nvml *n);
/* Reads GPU index (0-based). FR_ERR_INVALID for an index out of range,
 * FR_ERR_DEVICE when the driver refuses (the card fell off the bus). */
FR_API enum fr_status fr_nvml_sample(struct fr_nvml *n, int32_t index, struct fr_gpu_sample *out);

#ifdef __cplusplus
}
#endif
