/* Backend selection and budget accounting. */
#include "backend-impl.h"

struct fr_backend_params fr_backend_default_params(void) {
    return (struct fr_backend_params){ .device = FR_DEVICE_AUTO, .memory_limit = 0, .threads = 0 };
}

enum fr_status fr_backend_new(const struct fr_backend_params *params, struct fr_backend **out, char *err,
                              size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_backend_params p = params ? *params : fr_backend_default_params();
#ifdef FR_HAVE_CUDA
    if (p.device == FR_DEVICE_CUDA || p.device == FR_DEVICE_AUTO) {
        enum fr_status st = fr__backend_cuda_new(&p, out, err, errlen);
        if (st == FR_OK || p.device == FR_DEVICE_CUDA) return st;
    }
#else
    if (p.device == FR_DEVICE_CUDA) {
        fr_errf(err, errlen, "this build has no CUDA backend");
        return FR_ERR_DEVICE;
    }
#endif
    return fr__backend_cpu_new(&p, out, err, errlen);
}

void fr_backend_free(struct fr_backend *be) {
    if (be) be->iface.free(be);
}

const char *fr_backend_name(const struct fr_backend *be) { return be->iface.name; }
size_t fr_backend_memory_used(const struct fr_backend *be) { return be->memory_used; }
size_t fr_backend_memory_limit(const struct fr_backend *be) { return be->memory_limit; }

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
