/* Backend modules: the ABI between the facerec binary and a backend built as
 * a shared object (libfacerec-cuda.so), in the manner of ggml's backend
 * registry.
 *
 * The CPU backend is compiled into every program; other backends are
 * modules that src/nn/backend-reg.c finds and dlopen()s at run time, so
 * the binary itself has no CUDA, cuDNN or cuBLAS in its dynamic section and
 * starts on any machine. A module exports one symbol,
 * FR_BACKEND_MODULE_ENTRY, of type fr_backend_module_init_fn. The binary
 * calls it with a table of host services and gets the module's table back.
 *
 * Why host services: the module is self-contained (linked with
 * -Wl,--no-undefined and a version script exporting only the entry point),
 * yet allocation, logging, the budget and assertions must be the
 * program's own - one allocator (tests inject OOM through it), one log sink
 * and level. The module forwards fr_malloc, fr_log, fr__budget_take and
 * friends to this table (src/nn/cuda/module.c).
 *
 * Versioning: both sides compare api_version, and the module compares the
 * sizes of the structures they share (the backend object, the graph, the
 * preparation parameters) so that a module built from other sources is
 * refused with a message instead of corrupting memory. Bump
 * FR_BACKEND_MODULE_API_VERSION whenever the meaning of a shared structure
 * or of this table changes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backend-impl.h"

#define FR_BACKEND_MODULE_API_VERSION 1
#define FR_BACKEND_MODULE_ENTRY "fr_backend_module_init"

/* Sizes of the structures the binary and a module share. */
struct fr_backend_abi {
    uint32_t backend, backend_i, backend_params, backend_info, graph, node, prep_image;
};

#define FR_BACKEND_ABI_INIT                                                                                 \
    ((struct fr_backend_abi){ sizeof(struct fr_backend), sizeof(struct fr_backend_i),                     \
                              sizeof(struct fr_backend_params), sizeof(struct fr_backend_info),            \
                              sizeof(struct fr_graph), sizeof(struct fr_node), sizeof(struct fr_prep_image) })

/* What the program lends a module. Every pointer is set. */
struct fr_backend_host {
    int32_t api_version;
    struct fr_backend_abi abi;
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t count, size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
    /* An already formatted message; the host applies its level and sink. */
    void (*log)(enum fr_log_level level, const char *msg);
    enum fr_status (*budget_take)(struct fr_backend *be, size_t bytes);
    void (*budget_give)(struct fr_backend *be, size_t bytes);
    void (*assert_fail)(const char *cond, const char *file, int line, const char *func);
};

/* What a module offers. Static storage in the module; valid while it is
 * loaded, which is until the process exits (modules are never unloaded:
 * the CUDA runtime does not survive dlclose). */
struct fr_backend_module {
    int32_t api_version;
    const char *name;     /* "cuda" */
    enum fr_device device; /* the --device value it serves */
    /* Devices present; 0 with the reason in `why` (no driver, no device). */
    int32_t (*device_count)(char *why, size_t whylen);
    /* One line about device i (name, memory, compute capability). */
    void (*device_describe)(int32_t i, char *out, size_t outlen);
    enum fr_status (*backend_new)(const struct fr_backend_params *p, struct fr_backend **out, char *err,
                                  size_t errlen);
};

/* The entry point. NULL, with the reason in err, when the module cannot
 * serve this host (version or ABI mismatch). */
typedef const struct fr_backend_module *(*fr_backend_module_init_fn)(const struct fr_backend_host *host,
                                                                     char *err, size_t errlen);
