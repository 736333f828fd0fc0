/* fr_nvml: NVML through dlopen (see facerec/nvml.h).
 *
 * The types below are the few of NVML's ABI we use, declared here so that
 * no CUDA header is needed at build time. They are stable: NVML keeps old
 * entry points and adds _v2/_v3 variants instead of changing them. */
#include "facerec/nvml.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/core.h"

typedef int nvml_return;                  /* nvmlReturn_t; 0 is NVML_SUCCESS */
typedef struct nvml_device *nvml_device;  /* nvmlDevice_t, opaque */
struct nvml_utilization {                 /* nvmlUtilization_t */
    unsigned int gpu, memory;             /* percent */
};
struct nvml_memory {                      /* nvmlMemory_t */
    unsigned long long total, free, used; /* bytes */
};
enum { NVML_TEMPERATURE_GPU = 0 };
#define NVML_NAME_LEN 96 /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */

struct fr_nvml {
    void *lib;
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    nvml_return (*count)(unsigned int *);
    nvml_return (*handle)(unsigned int, nvml_device *);
    nvml_return (*name)(nvml_device, char *, unsigned int);
    nvml_return (*utilization)(nvml_device, struct nvml_utilization *);
    nvml_return (*memory)(nvml_device, struct nvml_memory *);
    nvml_return (*temperature)(nvml_device, int, unsigned int *);
    nvml_return (*power)(nvml_device, unsigned int *);
    const char *(*error_string)(nvml_return); /* optional */
};

struct fr_nvml_params fr_nvml_default_params(void) { return (struct fr_nvml_params){ .library = NULL }; }

static const char *nvml_error(const struct fr_nvml *n, nvml_return r) {
    const char *s = n->error_string ? n->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

enum fr_status fr_nvml_new(const struct fr_nvml_params *params, struct fr_nvml **out, char *err, size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    const char *lib = params ? params->library : NULL;
    if (!lib || !*lib) lib = getenv("FACEREC_NVML_LIBRARY");
    if (!lib || !*lib) lib = "libnvidia-ml.so.1";
    struct fr_nvml *n = fr_calloc(1, sizeof(*n));
    if (!n) return FR_ERR_NOMEM;
    enum fr_status st = FR_ERR_DEVICE;
    n->lib = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!n->lib) {
        const char *e = dlerror();
        fr_errf(err, errlen, "NVML not available (no NVIDIA driver?): %s", e ? e : lib);
        goto fail;
    }
    /* POSIX allows converting dlsym's void * to a function pointer; the
     * memcpy keeps -Wpedantic quiet about it. */
#define RESOLVE(field, sym)                                                          \
    do {                                                                             \
        void *p = dlsym(n->lib, sym);                                                \
        if (!p) {                                                                    \
            fr_errf(err, errlen, "NVML library %s lacks %s", lib, sym);              \
            goto fail;                                                               \
        }                                                                            \
        memcpy(&n->field, &p, sizeof(p));                                            \
    } while (0)
    RESOLVE(init, "nvmlInit_v2");
    RESOLVE(shutdown, "nvmlShutdown");
    RESOLVE(count, "nvmlDeviceGetCount_v2");
    RESOLVE(handle, "nvmlDeviceGetHandleByIndex_v2");
    RESOLVE(name, "nvmlDeviceGetName");
    RESOLVE(utilization, "nvmlDeviceGetUtilizationRates");
    RESOLVE(memory, "nvmlDeviceGetMemoryInfo");
    RESOLVE(temperature, "nvmlDeviceGetTemperature");
    RESOLVE(power, "nvmlDeviceGetPowerUsage");
#undef RESOLVE
    void *es = dlsym(n->lib, "nvmlErrorString");
    if (es) memcpy(&n->error_string, &es, sizeof(es));
    nvml_return r = n->init();
    if (r != 0) {
        fr_errf(err, errlen, "nvmlInit failed: %s", nvml_error(n, r));
        n->shutdown = NULL; /* nothing to shut down */
        goto fail;
    }
    *out = n;
    return FR_OK;
fail:
    if (n->lib) dlclose(n->lib);
    fr_free(n);
    return st;
}

void fr_nvml_free(struct fr_nvml *n) {
    if (!n) return;
    if (n->shutdown) n->shutdown();
    dlclose(n->lib);
    fr_free(n);
}

int32_t fr_nvml_device_count(struct fr_nvml *n) {
    unsigned int c = 0;
    if (!n || n->count(&c) != 0) return 0;
    return c > INT32_MAX ? INT32_MAX : (int32_t)c;
}

enum fr_status fr_nvml_sample(struct fr_nvml *n, int32_t index, struct fr_gpu_sample *out) {
    FR_ASSERT(n && out);
    memset(out, 0, sizeof(*out));
    if (index < 0 || index >= fr_nvml_device_count(n)) return FR_ERR_INVALID;
    nvml_device d;
    if (n->handle((unsigned int)index, &d) != 0) return FR_ERR_DEVICE;
    char name[NVML_NAME_LEN] = "";
    if (n->name(d, name, sizeof(name)) == 0) {
        name[sizeof(name) - 1] = 0;
        snprintf(out->name, sizeof(out->name), "%s", name);
    }
    struct nvml_utilization u;
    if (n->utilization(d, &u) != 0) return FR_ERR_DEVICE;
    out->utilization = (u.gpu > 100 ? 100 : u.gpu) / 100.0;
    out->memory_activity = (u.memory > 100 ? 100 : u.memory) / 100.0;
    struct nvml_memory m;
    if (n->memory(d, &m) != 0) return FR_ERR_DEVICE;
    out->memory_used = m.used;
    out->memory_total = m.total;
    unsigned int t, p;
    if (n->temperature(d, NVML_TEMPERATURE_GPU, &t) == 0) out->has_temperature = true, out->temperature_c = t;
    if (n->power(d, &p) == 0) out->has_power = true, out->power_w = p / 1000.0;
    return FR_OK;
}
