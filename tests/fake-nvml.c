/* A stand-in for libnvidia-ml.so.1 with canned values, so that the tests
 * exercise fr_nvml's present-GPU path on machines without a driver. Two
 * GPUs; the second has no power sensor. FAKE_NVML_INIT_FAIL=1 makes
 * nvmlInit fail as it does when the driver is not loaded. */
#include <stdlib.h>
#include <string.h>

typedef struct fake_device *nvmlDevice_t;
struct fake_device {
    const char *name;
    unsigned int gpu, mem, temp, power_mw;
    unsigned long long total, used;
};
typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;
typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

static struct fake_device devices[2] = {
    { "Fake GPU \"A\\100\"", 42, 17, 61, 123456, 40ull << 30, 3ull << 30 },
    { "Fake GPU B", 7, 1, 35, 0, 16ull << 30, 1ull << 20 },
};
static int initialised;

int nvmlInit_v2(void) {
    const char *f = getenv("FAKE_NVML_INIT_FAIL");
    if (f && *f == '1') return 9; /* NVML_ERROR_DRIVER_NOT_LOADED */
    initialised++;
    return 0;
}
int nvmlShutdown(void) { return initialised-- > 0 ? 0 : 1; }
const char *nvmlErrorString(int r) { return r == 9 ? "Driver Not Loaded" : "Unknown Error"; }
int nvmlDeviceGetCount_v2(unsigned int *n) {
    if (!initialised) return 1;
    *n = 2;
    return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
    if (!initialised || i >= 2) return 2;
    *d = &devices[i];
    return 0;
}
int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len) {
    if (strlen(d->name) + 1 > len) return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
    strcpy(name, d->name);
    return 0;
}
int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    u->gpu = d->gpu;
    u->memory = d->mem;
    return 0;
}
int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
    m->total = d->total;
    m->used = d->used;
    m->free = d->total - d->used;
    return 0;
}
int nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *t) {
    if (sensor != 0) return 2;
    *t = d->temp;
    return 0;
}
int nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
    if (!d->power_mw) return 3; /* NVML_ERROR_NOT_SUPPORTED */
    *mw = d->power_mw;
    return 0;
}
