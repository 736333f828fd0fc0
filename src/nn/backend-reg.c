/* The backend registry: the built-in CPU backend and the backend modules
 * found at run time (src/nn/backend-module.h).
 *
 * A module is looked for, on first use, in
 *   - the directories (or .so files) of FACEREC_MODULE_PATH, colon
 *     separated, when it is set: only there, so that a test or a user can
 *     point at one build or hide every module with an empty directory;
 *   - otherwise the program's own directory (a build tree, an unpacked
 *     bundle), ../lib/facerec relative to it (an install under any prefix),
 *     and the configured FR_MODULE_DIR (e.g. /usr/lib/x86_64-linux-gnu/facerec).
 * The first file that loads wins. A file that exists but does not load (a
 * library it needs is missing: dlerror names it) is reported as such; when
 * none exists the message lists where it looked. The outcome is cached for
 * the life of the process and modules are never unloaded. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend-module.h"

#ifndef FR_MODULE_DIR
#define FR_MODULE_DIR "/usr/local/lib/facerec"
#endif

struct reg_slot {
    const char *name, *file;
    bool tried;
    const struct fr_backend_module *mod;
    char path[PATH_MAX]; /* the module's file, when loaded or when one failed to load */
    char why[1024];      /* why it is not loaded */
};

static struct reg_slot g_slots[] = {
    { .name = "cuda", .file = "libfacerec-cuda.so" },
};
#define N_SLOTS (int32_t)(sizeof g_slots / sizeof g_slots[0])
static pthread_mutex_t g_reg_mutex = PTHREAD_MUTEX_INITIALIZER;

static void host_log(enum fr_log_level level, const char *msg) { fr_log(level, "%s", msg); }

static const struct fr_backend_host g_host = {
    .api_version = FR_BACKEND_MODULE_API_VERSION,
    .abi = FR_BACKEND_ABI_INIT,
    .malloc_fn = fr_malloc,
    .calloc_fn = fr_calloc,
    .realloc_fn = fr_realloc,
    .free_fn = fr_free,
    .log = host_log,
    .budget_take = fr__budget_take,
    .budget_give = fr__budget_give,
    .assert_fail = fr__assert_fail,
};

/* Appends "s" to the comma-separated list in buf. */
static void list_add(char *buf, size_t n, const char *s) {
    size_t len = strlen(buf);
    if (len + 3 < n) snprintf(buf + len, n - len, "%s%s", len ? ", " : "", s);
}

/* Tries one candidate file. Returns true when the search should stop. */
static bool try_file(struct reg_slot *s, const char *path, char *searched, size_t searched_len, bool *failed) {
    if (access(path, F_OK) != 0) {
        list_add(searched, searched_len, path);
        return false;
    }
    /* RTLD_LOCAL: the module's CUDA symbols stay out of the global scope. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        if (!*failed) { /* report the first failure: the file the user is most likely to mean */
            snprintf(s->path, sizeof s->path, "%s", path);
            snprintf(s->why, sizeof s->why, "cannot load %s: %s", path, e ? e : "unknown dlopen error");
            *failed = true;
        }
        return false;
    }
    fr_backend_module_init_fn init = (fr_backend_module_init_fn)(uintptr_t)dlsym(h, FR_BACKEND_MODULE_ENTRY);
    char err[512] = "";
    const struct fr_backend_module *mod = init ? init(&g_host, err, sizeof err) : NULL;
    if (!init) snprintf(err, sizeof err, "no %s symbol: not a facerec backend module", FR_BACKEND_MODULE_ENTRY);
    else if (mod && (mod->api_version != FR_BACKEND_MODULE_API_VERSION || strcmp(mod->name, s->name) != 0)) {
        snprintf(err, sizeof err, "it is backend '%s' version %d, expected '%s' version %d", mod->name,
                 (int)mod->api_version, s->name, FR_BACKEND_MODULE_API_VERSION);
        mod = NULL;
    }
    if (!mod) {
        /* Leave it loaded: its initialisers may have started threads. */
        if (!*failed) {
            snprintf(s->path, sizeof s->path, "%s", path);
            snprintf(s->why, sizeof s->why, "cannot use %s: %s", path, err);
            *failed = true;
        }
        return false;
    }
    s->mod = mod;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->why[0] = '\0';
    FR_LOGD("%s: backend %s from %s", __func__, s->name, path);
    return true;
}

static void load_slot(struct reg_slot *s) {
    s->tried = true;
    char searched[1024] = "", path[PATH_MAX + 64];
    bool failed = false;
    const char *env = getenv("FACEREC_MODULE_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save)) {
            size_t n = strlen(tok);
            if (n > 3 && !strcmp(tok + n - 3, ".so")) snprintf(path, sizeof path, "%s", tok);
            else snprintf(path, sizeof path, "%s/%s", tok, s->file);
            if (try_file(s, path, searched, sizeof searched, &failed)) break;
        }
        free(copy);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        const char *dirs[3] = { NULL, NULL, FR_MODULE_DIR };
        char exe_lib[PATH_MAX + 32];
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) *slash = '\0';
            snprintf(exe_lib, sizeof exe_lib, "%s/../lib/facerec", exe);
            dirs[0] = exe;
            dirs[1] = exe_lib;
        }
        for (int i = 0; i < 3; i++) {
            if (!dirs[i]) continue;
            snprintf(path, sizeof path, "%s/%s", dirs[i], s->file);
            if (try_file(s, path, searched, sizeof searched, &failed)) break;
        }
    }
    if (!s->mod && !failed)
        snprintf(s->why, sizeof s->why, "%s not found (looked for %s); install the facerec-%s package or set "
                 "FACEREC_MODULE_PATH", s->file, searched, s->name);
}

static struct reg_slot *slot_get(int32_t i) {
    struct reg_slot *s = &g_slots[i];
    pthread_mutex_lock(&g_reg_mutex);
    if (!s->tried) load_slot(s);
    pthread_mutex_unlock(&g_reg_mutex);
    return s;
}

static struct reg_slot *slot_for(enum fr_device device) {
    for (int32_t i = 0; i < N_SLOTS; i++)
        if (device == FR_DEVICE_CUDA && !strcmp(g_slots[i].name, "cuda")) return slot_get(i);
    return NULL;
}

const struct fr_backend_module *fr__backend_module_get(enum fr_device device, char *why, size_t whylen) {
    struct reg_slot *s = slot_for(device);
    if (!s) {
        fr_errf(why, whylen, "no backend module for this device");
        return NULL;
    }
    if (!s->mod) fr_errf(why, whylen, "%s", s->why);
    return s->mod;
}

int32_t fr__backend_device_count(enum fr_device device, char *why, size_t whylen) {
    const struct fr_backend_module *m = fr__backend_module_get(device, why, whylen);
    if (!m) return 0;
    char inner[512] = "";
    int32_t n = m->device_count(inner, sizeof inner);
    if (n <= 0) fr_errf(why, whylen, "%s (module %s)", inner, slot_for(device)->path);
    return n > 0 ? n : 0;
}

int32_t fr_backend_reg_count(void) { return 1 + N_SLOTS; }

void fr_backend_reg_get(int32_t i, struct fr_backend_reg_info *out) {
    memset(out, 0, sizeof *out);
    if (i <= 0) {
        snprintf(out->name, sizeof out->name, "cpu");
        snprintf(out->source, sizeof out->source, "built in (oneDNN)");
        out->loaded = true;
        out->n_devices = 1;
        return;
    }
    FR_ASSERT(i < fr_backend_reg_count());
    struct reg_slot *s = slot_get(i - 1);
    snprintf(out->name, sizeof out->name, "%s", s->name);
    snprintf(out->source, sizeof out->source, "%s", s->path);
    if (!s->mod) {
        snprintf(out->status, sizeof out->status, "%s", s->why);
        return;
    }
    out->loaded = true;
    out->n_devices = s->mod->device_count(out->status, sizeof out->status);
    if (out->n_devices < 0) out->n_devices = 0;
}

void fr_backend_reg_device(int32_t i, int32_t dev, char *out, size_t outlen) {
    fr_errf(out, outlen, "cpu");
    if (i <= 0) return;
    FR_ASSERT(i < fr_backend_reg_count());
    struct reg_slot *s = slot_get(i - 1);
    if (s->mod) s->mod->device_describe(dev, out, outlen);
}
