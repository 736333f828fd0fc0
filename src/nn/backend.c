/* Backend selection and budget accounting. */
#include <stdio.h>
#include <string.h>

#include "backend-module.h"
#include "cuda/cuda-plan.h"

struct fr_backend_params fr_backend_default_params(void) {
    return (struct fr_backend_params){ .device = FR_DEVICE_AUTO, .memory_limit = 0, .threads = 0 };
}

/* The CPU backend is built in; CUDA comes from libfacerec-cuda.so when the
 * registry finds and loads it (backend-reg.c). --device cpu never looks for
 * the module. */
enum fr_status fr_backend_new(const struct fr_backend_params *params, struct fr_backend **out, char *err,
                              size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_backend_params p = params ? *params : fr_backend_default_params();
    char why[1024] = "";
    int32_t n_devices = 0;
    const struct fr_backend_module *cuda = NULL;
    if (p.device != FR_DEVICE_CPU) {
        cuda = fr__backend_module_get(FR_DEVICE_CUDA, why, sizeof why);
        if (cuda) n_devices = fr__backend_device_count(FR_DEVICE_CUDA, why, sizeof why);
    }
    switch (fr__device_pick(p.device, cuda != NULL, n_devices)) {
    case FR__PICK_FAIL: fr_errf(err, errlen, "device cuda: %s", why); return FR_ERR_DEVICE;
    case FR__PICK_CUDA: return cuda->backend_new(&p, out, err, errlen);
    case FR__PICK_CPU:
        /* A debug line: machines without a card or without the module are
         * the common case, and every CLI run would repeat it; /status and
         * the scheduler's start-up line name the backend in use. */
        if (p.device == FR_DEVICE_AUTO) FR_LOGD("%s: %s; using the CPU", __func__, why);
        break;
    }
    return fr__backend_cpu_new(&p, out, err, errlen);
}

void fr_backend_free(struct fr_backend *be) {
    if (be) be->iface.free(be);
}

const char *fr_backend_name(const struct fr_backend *be) { return be->iface.name; }
size_t fr_backend_memory_used(const struct fr_backend *be) { return be->memory_used; }
size_t fr_backend_memory_limit(const struct fr_backend *be) { return be->memory_limit; }

void fr_backend_info(struct fr_backend *be, struct fr_backend_info *out) {
    memset(out, 0, sizeof(*out));
    if (be->iface.device_info) be->iface.device_info(be, out);
    else snprintf(out->device, sizeof out->device, "%s", be->iface.name);
}

void fr_backend_set_threads(struct fr_backend *be, int32_t threads) {
    if (be->iface.set_threads) be->iface.set_threads(be, threads);
}

enum fr_status fr__budget_take(struct fr_backend *be, size_t bytes) {
    if (bytes > be->memory_limit - be->memory_used) return FR_ERR_BUDGET;
    be->memory_used += bytes;
    return FR_OK;
}

void fr__budget_give(struct fr_backend *be, size_t bytes) {
    FR_ASSERT(bytes <= be->memory_used);
    be->memory_used -= bytes;
}
