/* Backend selection and budget accounting. */
#include <stdio.h>
#include <string.h>

#include "backend-module.h"
#include "cuda/cuda-plan.h"

struct fr_backend_params fr_backend_default_params(void) {
    return (struct fr_backend_params){ .device = FR_DEVICE_AUTO, .memory_limit = 0, .threads = 0 };
}

/* Takes a backend just created: refuses one built against another
 * interface table (see FR_BACKEND_API_VERSION), else records the
 * precision asked for. The module ABI check (same structure sizes) has
 * passed by then, so calling the refused backend's free is safe. */
static enum fr_status adopt(struct fr_backend **out, enum fr_precision precision, char *err, size_t errlen) {
    struct fr_backend *be = *out;
    if (be->iface.api_version != FR_BACKEND_API_VERSION) {
        fr_errf(err, errlen, "backend %s implements backend interface version %d, the program's is %d",
                be->iface.name ? be->iface.name : "?", be->iface.api_version, FR_BACKEND_API_VERSION);
        be->iface.free(be);
        *out = NULL;
        return FR_ERR_BACKEND;
    }
    be->precision = precision;
    return FR_OK;
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
    if ((int)p.precision < FR_PRECISION_FP32 || p.precision > FR_PRECISION_AUTO) {
        fr_errf(err, errlen, "precision %d is unknown", (int)p.precision);
        return FR_ERR_INVALID;
    }
    switch (fr__device_pick(p.device, cuda != NULL, n_devices)) {
    case FR__PICK_FAIL: fr_errf(err, errlen, "device cuda: %s", why); return FR_ERR_DEVICE;
    case FR__PICK_CUDA: {
        enum fr_status st = cuda->backend_new(&p, out, err, errlen);
        return st == FR_OK ? adopt(out, p.precision, err, errlen) : st;
    }
    case FR__PICK_CPU:
        /* A debug line: machines without a card or without the module are
         * the common case, and every CLI run would repeat it; /status and
         * the scheduler's start-up line name the backend in use. */
        if (p.device == FR_DEVICE_AUTO) FR_LOGD("%s: %s; using the CPU", __func__, why);
        break;
    }
    enum fr_status st = fr__backend_cpu_new(&p, out, err, errlen);
    return st == FR_OK ? adopt(out, p.precision, err, errlen) : st;
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

bool fr__backend_supports_graph(struct fr_backend *be, const struct fr_graph *g, int32_t *bad) {
    for (int32_t i = 0; be->iface.supports_op && i < g->n_nodes; i++)
        if (!be->iface.supports_op(be, &g->nodes[i])) {
            *bad = i;
            return false;
        }
    return true;
}

const char *fr__op_name(enum fr_op op) {
    switch (op) {
    case FR_OP_INPUT: return "input";
    case FR_OP_CONV: return "conv";
    case FR_OP_POOL: return "pool";
    case FR_OP_GLOBAL_AVG: return "global_avg";
    case FR_OP_FC: return "fc";
    case FR_OP_ACT: return "act";
    case FR_OP_PAD_ADD: return "pad_add";
    }
    return "?";
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
