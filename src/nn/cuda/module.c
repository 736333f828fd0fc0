/* libfacerec-cuda.so's entry point and its side of the host services
 * (src/nn/backend-module.h).
 *
 * The module carries its own copies of the stateless host code it needs
 * (cuda-plan.c, plan.c, fr_errf); everything with state - the allocator, the
 * logger, the budget, assertions - is forwarded to the program that loaded
 * it. The version script (module.map) keeps every symbol but the entry
 * point local, so these definitions never interpose on the program's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "../backend-module.h"
#include "cuda-plan.h"

static struct fr_backend_host g_host;

void *fr_malloc(size_t size) { return g_host.malloc_fn(size); }
void *fr_calloc(size_t count, size_t size) { return g_host.calloc_fn(count, size); }
void *fr_realloc(void *ptr, size_t size) { return g_host.realloc_fn(ptr, size); }
void fr_free(void *ptr) { g_host.free_fn(ptr); }

void fr_log(enum fr_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host.log(level, msg);
}

void fr_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void fr__assert_fail(const char *cond, const char *file, int line, const char *func) {
    g_host.assert_fail(cond, file, line, func);
    abort(); /* the host's does not return either */
}

enum fr_status fr__budget_take(struct fr_backend *be, size_t bytes) { return g_host.budget_take(be, bytes); }
void fr__budget_give(struct fr_backend *be, size_t bytes) { g_host.budget_give(be, bytes); }

static void cuda_device_describe(int32_t i, char *out, size_t outlen) {
    struct cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, i);
    if (e != cudaSuccess) {
        fr_errf(out, outlen, "device %d: %s", (int)i, cudaGetErrorString(e));
        return;
    }
    fr_errf(out, outlen, "%d: %s, %.1f GiB, compute capability %d.%d", (int)i, prop.name,
            (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
}

static const struct fr_backend_module g_module = {
    .api_version = FR_BACKEND_MODULE_API_VERSION,
    .name = "cuda",
    .device = FR_DEVICE_CUDA,
    .device_count = fr__cuda_device_count,
    .device_describe = cuda_device_describe,
    .backend_new = fr__backend_cuda_new,
};

__attribute__((visibility("default"))) const struct fr_backend_module *
fr_backend_module_init(const struct fr_backend_host *host, char *err, size_t errlen);

const struct fr_backend_module *fr_backend_module_init(const struct fr_backend_host *host, char *err,
                                                       size_t errlen) {
    if (!host || host->api_version != FR_BACKEND_MODULE_API_VERSION) {
        fr_errf(err, errlen, "module API version %d, the program's is %d: the module and the program come "
                "from different facerec builds", FR_BACKEND_MODULE_API_VERSION, host ? (int)host->api_version : -1);
        return NULL;
    }
    struct fr_backend_abi mine = FR_BACKEND_ABI_INIT;
    if (memcmp(&mine, &host->abi, sizeof mine) != 0) {
        fr_errf(err, errlen, "structure sizes differ from the program's (backend %u/%u, graph %u/%u, node %u/%u): "
                "the module and the program come from different facerec builds",
                mine.backend_i, host->abi.backend_i, mine.graph, host->abi.graph, mine.node, host->abi.node);
        return NULL;
    }
    g_host = *host;
    return &g_module;
}
