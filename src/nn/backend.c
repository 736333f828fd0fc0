/* Backend selection and budget accounting. */
#include <stdio.h>
#include <string.h>

#include "backend-impl.h"
#include "cuda/cuda-plan.h"

#ifdef FR_HAVE_CUDA
#define CUDA_BUILT true
#else
#define CUDA_BUILT false
#endif

struct fr_backend_params fr_backend_default_params(void) {
    return (struct fr_backend_params){ .device = FR_DEVICE_AUTO, .memory_limit = 0, .threads = 0 };
}

enum fr_status fr_backend_new(const struct fr_backend_params *params, struct fr_backend **out, char *err,
                              size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_backend_params p = params ? *params : fr_backend_default_params();
    char why[256] = "this build has no CUDA backend";
    int32_t n_devices = 0;
#ifdef FR_HAVE_CUDA
    if (p.device != FR_DEVICE_CPU) n_devices = fr__cuda_device_count(why, sizeof why);
#endif
    if ((int)p.precision < FR_PRECISION_FP32 || p.precision > FR_PRECISION_AUTO) {
        fr_errf(err, errlen, "precision %d is unknown", (int)p.precision);
        return FR_ERR_INVALID;
    }
    switch (fr__device_pick(p.device, CUDA_BUILT, n_devices)) {
    case FR__PICK_FAIL: fr_errf(err, errlen, "device cuda: %s", why); return FR_ERR_DEVICE;
#ifdef FR_HAVE_CUDA
    case FR__PICK_CUDA: {
        enum fr_status st = fr__backend_cuda_new(&p, out, err, errlen);
        if (st == FR_OK) (*out)->precision = p.precision;
        return st;
    }
#else
    case FR__PICK_CUDA: break; /* unreachable: the pick needs a CUDA build */
#endif
    case FR__PICK_CPU:
        /* Only a CUDA build has something to fall back from. A debug line:
         * machines without a card are the common case, and every CLI run
         * would repeat it; /status and the scheduler's start-up line name
         * the backend in use. */
        if (CUDA_BUILT && p.device == FR_DEVICE_AUTO) FR_LOGD("%s: %s; using the CPU", __func__, why);
        break;
    }
    enum fr_status st = fr__backend_cpu_new(&p, out, err, errlen);
    if (st == FR_OK) (*out)->precision = p.precision;
    return st;
}

const char *fr_precision_name(enum fr_precision p) {
    switch (p) {
    case FR_PRECISION_FP32: return "fp32";
    case FR_PRECISION_FP16: return "fp16";
    case FR_PRECISION_BF16: return "bf16";
    case FR_PRECISION_INT8: return "int8";
    case FR_PRECISION_AUTO: return "auto";
    }
    return "?";
}

bool fr_precision_parse(const char *s, enum fr_precision *out) {
    for (int p = FR_PRECISION_FP32; p <= FR_PRECISION_AUTO; p++)
        if (s && !strcmp(s, fr_precision_name((enum fr_precision)p))) {
            *out = (enum fr_precision)p;
            return true;
        }
    return false;
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
