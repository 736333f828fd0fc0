/* facerec compute backends.
 *
 * A backend is a compute device with its own memory (the CPU through oneDNN,
 * or a CUDA GPU). Everything a backend allocates - packed weights, activation
 * arenas, staging - comes out of a fixed budget (`memory_limit`) that it
 * never exceeds: an allocation past it fails with FR_ERR_BUDGET.
 *
 * Ownership: the caller owns the backend; nets created on it must be freed
 * before it. Thread-safety: a backend and the nets on it are used by one
 * thread at a time (the scheduler's device thread).
 *
 * Example:
 *     struct fr_backend_params bp = fr_backend_default_params();
 *     bp.threads = 2;
 *     struct fr_backend *be;
 *     if (fr_backend_new(&bp, &be, err, sizeof err) != FR_OK) ...
 *     ...
 *     fr_backend_free(be);
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fr_device {
    FR_DEVICE_AUTO = 0, /* CUDA when a device is present, else CPU */
    FR_DEVICE_CPU = 1,
    FR_DEVICE_CUDA = 2,
};

/* Arithmetic of the nets. fp32 is the default and the one whose results
 * match face-api (tests/test-reference.c). The lower precisions are per net
 * where a backend supports them and the net passed the accuracy gate
 * (tests/test-lowprec.c); a net that cannot run one runs in fp32 instead,
 * with a log line when the CPU is the reason (docs/PERFORMANCE.md). */
enum fr_precision {
    FR_PRECISION_FP32 = 0,
    FR_PRECISION_FP16 = 1, /* CUDA: tensor-core math with fp16 inputs; the CPU runs fp32 */
    FR_PRECISION_BF16 = 2, /* CPU: bf16 weights and activations (AVX512_BF16 or AMX); fp32 on CUDA */
    FR_PRECISION_INT8 = 3, /* CPU: int8 for the SSD detector (VNNI or AMX), fp32 elsewhere; fp32 on CUDA */
    FR_PRECISION_AUTO = 4, /* CPU: per net the fastest of the above that the CPU has; fp32 on CUDA */
};

struct fr_backend_params {
    enum fr_device device;
    size_t memory_limit;  /* bytes the backend may allocate; 0 = default (2 GiB on CPU, on CUDA
                             80% of the card's free memory or memory_percent of it) */
    int32_t memory_percent; /* CUDA, when memory_limit is 0: share (1..100) of the card's total memory */
    int32_t threads;      /* CPU worker threads; 0 = all cores */
    enum fr_precision precision; /* fp32 by default: the precision that matches face-api */
};

/* What the device is, for /status and logs. Fields the backend cannot
 * tell are zero (the CPU reports no memory figures). */
struct fr_backend_info {
    char device[128];    /* "cpu", or the card's name */
    size_t memory_total; /* bytes on the card */
    size_t memory_free;  /* bytes free on the card now, all processes counted */
};

struct fr_backend;

FR_API struct fr_backend_params fr_backend_default_params(void);
/* "fp32", "fp16", "bf16", "int8" or "auto". */
FR_API const char *fr_precision_name(enum fr_precision p);
/* Parses those names; false for anything else. */
FR_API bool fr_precision_parse(const char *s, enum fr_precision *out);
FR_API enum fr_status fr_backend_new(const struct fr_backend_params *params, struct fr_backend **out,
                                     char *err, size_t errlen);
FR_API void fr_backend_free(struct fr_backend *be);

FR_API const char *fr_backend_name(const struct fr_backend *be);
FR_API size_t fr_backend_memory_used(const struct fr_backend *be);
FR_API size_t fr_backend_memory_limit(const struct fr_backend *be);
/* Thread-safe: the monitor may call it while the device thread runs. */
FR_API void fr_backend_info(struct fr_backend *be, struct fr_backend_info *out);
/* Change the CPU thread count for subsequent runs (benchmarks use this). */
FR_API void fr_backend_set_threads(struct fr_backend *be, int32_t threads);

/* The backend registry (`facerec devices`). Entry 0 is the built-in CPU
 * backend; the others are modules (libfacerec-cuda.so) looked up on first
 * use, in FACEREC_MODULE_PATH when set, else next to the program, in
 * ../lib/facerec relative to it and in the install's library directory.
 * Thread-safe; the lookup happens once per process. */
struct fr_backend_reg_info {
    char name[16];    /* "cpu", "cuda" */
    char source[512]; /* "built in (oneDNN)", or the module's path ("" when none was found) */
    bool loaded;      /* built in, or the module loaded */
    int32_t n_devices;
    char status[1024]; /* why there is no device: module missing or not loadable (dlerror), no driver */
};
FR_API int32_t fr_backend_reg_count(void);
FR_API void fr_backend_reg_get(int32_t i, struct fr_backend_reg_info *out);
/* One line about device `dev` of backend `i` (name, memory). */
FR_API void fr_backend_reg_device(int32_t i, int32_t dev, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
