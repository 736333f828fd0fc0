/* Fake backend modules for test-module-abi.sh: the registry's side of the
 * module ABI (src/nn/backend-module.h) without CUDA. FAKE_KIND selects:
 *   1  a valid "cuda" module with two fake devices whose backend_new fails
 *   2  a module that claims API version 99
 *   3  an entry point that refuses the host (as a real module does on a
 *      version or structure-size mismatch)
 *   4  no entry point at all
 *   5  a valid module whose backend_new makes a backend of another
 *      interface version (struct fr_backend_i's api_version 99), which
 *      fr_backend_new must refuse and free */
#include <stdio.h>

#include "nn/backend-module.h"

#if FAKE_KIND != 4
static const struct fr_backend_host *g_host;

static void fake_free(struct fr_backend *be) { g_host->free_fn(be); }

static int32_t fake_count(char *why, size_t whylen) { return 2; }
static void fake_describe(int32_t i, char *out, size_t outlen) { snprintf(out, outlen, "%d: fake card", (int)i); }
static enum fr_status fake_new(const struct fr_backend_params *p, struct fr_backend **out, char *err,
                               size_t errlen) {
    *out = NULL;
    if (FAKE_KIND == 5) {
        struct fr_backend *be = g_host->calloc_fn(1, sizeof(*be));
        if (!be) return FR_ERR_NOMEM;
        be->iface = (struct fr_backend_i){ .api_version = 99, .name = "cuda", .free = fake_free };
        *out = be;
        return FR_OK;
    }
    snprintf(err, errlen, "the fake backend cannot run anything");
    return FR_ERR_UNSUPPORTED;
}

static const struct fr_backend_module g_fake = {
    .api_version = FAKE_KIND == 2 ? 99 : FR_BACKEND_MODULE_API_VERSION,
    .name = "cuda",
    .device = FR_DEVICE_CUDA,
    .device_count = fake_count,
    .device_describe = fake_describe,
    .backend_new = fake_new,
};

__attribute__((visibility("default"))) const struct fr_backend_module *
fr_backend_module_init(const struct fr_backend_host *host, char *err, size_t errlen);

const struct fr_backend_module *fr_backend_module_init(const struct fr_backend_host *host, char *err,
                                                       size_t errlen) {
    if (FAKE_KIND == 3) {
        snprintf(err, errlen, "module API version 2, the program's is %d", (int)host->api_version);
        return NULL;
    }
    g_host = host;
    return &g_fake;
}
#else
__attribute__((visibility("default"))) int fr_fake_not_a_module(void);
int fr_fake_not_a_module(void) { return 0; }
#endif
