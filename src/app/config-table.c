/* The settings table: one row per setting (see facerec/config.h), and the
 * functions that hand a configuration to the modules it sets up. A row's
 * default equals its module's fr_*_default_params() and its bounds come
 * from the module's header where the module checks them too;
 * tests/test-config-params.c holds both to it. */
#include <stddef.h>
#include <string.h>

#include "config-impl.h"

/* The names of each enum setting and the value stored for them. */
static const struct fr_setting_choice device_choices[] = {
    {"auto", FR_DEVICE_AUTO}, {"cpu", FR_DEVICE_CPU}, {"cuda", FR_DEVICE_CUDA}, {NULL, 0}};
static const struct fr_setting_choice precision_choices[] = {
    {"fp32", FR_PRECISION_FP32}, {"fp16", FR_PRECISION_FP16}, {"bf16", FR_PRECISION_BF16},
    {"int8", FR_PRECISION_INT8}, {"auto", FR_PRECISION_AUTO}, {NULL, 0}};
static const struct fr_setting_choice detector_choices[] = {
    {"ssd", FR_DETECTOR_SSD}, {"tiny", FR_DETECTOR_TINY}, {NULL, 0}};
static const struct fr_setting_choice batching_choices[] = {
    {"dynamic", FR_BATCHING_DYNAMIC}, {"static", FR_BATCHING_STATIC}, {NULL, 0}};
static const struct fr_setting_choice log_choices[] = {
    {"error", FR_LOG_ERROR}, {"warn", FR_LOG_WARN}, {"info", FR_LOG_INFO}, {"debug", FR_LOG_DEBUG}, {NULL, 0}};
/* Every value fr_tiles_parse accepts: auto, off and the NxM grids up to 4x4. */
#define GRID(c, r) {#c "x" #r, FR_CONFIG_TILES(FR_TILES_GRID, c, r)}
static const struct fr_setting_choice tiles_choices[] = {
    {"auto", FR_CONFIG_TILES(FR_TILES_AUTO, 0, 0)},
    {"off", FR_CONFIG_TILES(FR_TILES_OFF, 0, 0)},
    GRID(2, 1), GRID(1, 2), GRID(2, 2), GRID(3, 1), GRID(1, 3), GRID(3, 2), GRID(2, 3),
    GRID(3, 3), GRID(4, 1), GRID(1, 4), GRID(4, 2), GRID(2, 4), GRID(4, 3), GRID(3, 4), GRID(4, 4),
    {NULL, 0},
};
#undef GRID

static const char *check_listen(const char *v) {
    char host[256];
    int32_t port;
    return fr_config_split_listen(v, host, sizeof(host), &port) == FR_OK
               ? NULL
               : "HOST:PORT with a port in [0, 65535] (0 picks a free one)";
}

static const char *check_nonempty(const char *v) { return *v ? NULL : "a non-empty path"; }

/* The offset of a field, which must have the C type the row claims: a
 * mismatch is a compile error rather than a silent overwrite. */
#define FIELD(f, T) (offsetof(struct fr_config, f) + 0 * sizeof(_Generic(((struct fr_config *)0)->f, T : 1)))

/* Row macros. A row handed to a module ends with where it goes, e.g.
 * SCHED(max_batch_size); the program's own settings end without one. */
#define ROW_NUM(sec, f, ty, T, lo, hi, dflt, leg, hlp, ...)                                                            \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = ty, .offset = FIELD(f, T), .min = lo, .max = hi, .def = dflt,              \
        .legacy = leg, .help = hlp, __VA_ARGS__                                                                        \
    }
#define INT(sec, f, lo, hi, dflt, leg, ...) ROW_NUM(sec, f, FR_SETTING_INT, int32_t, lo, hi, dflt, leg, __VA_ARGS__)
#define INT64(sec, f, lo, hi, dflt, leg, ...) ROW_NUM(sec, f, FR_SETTING_INT64, int64_t, lo, hi, dflt, leg, __VA_ARGS__)
#define SIZE(sec, f, lo, hi, dflt, leg, ...) ROW_NUM(sec, f, FR_SETTING_SIZE, size_t, lo, hi, dflt, leg, __VA_ARGS__)
#define FLOAT(sec, f, lo, hi, dflt, leg, ...) ROW_NUM(sec, f, FR_SETTING_FLOAT, float, lo, hi, dflt, leg, __VA_ARGS__)
#define BOOL(sec, f, dflt, hlp, ...)                                                                                   \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = FR_SETTING_BOOL, .offset = FIELD(f, bool), .def = dflt, .help = hlp,       \
        __VA_ARGS__                                                                                                    \
    }
#define STRING(sec, f, dflt, meta, chk, hlp, ...)                                                                      \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = FR_SETTING_STRING, .offset = FIELD(f, char *), .def = dflt,                \
        .metavar = meta, .check = chk, .help = hlp, __VA_ARGS__                                                        \
    }
/* An enum field is stored through an int: it must have an int's size. */
#define ENUM_FIELD(f)                                                                                                  \
    (offsetof(struct fr_config, f) + 0 * sizeof(char[sizeof(((struct fr_config *)0)->f) == sizeof(int) ? 1 : -1]))
#define ENUM(sec, f, ch, dflt, hlp, ...)                                                                               \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = FR_SETTING_ENUM, .offset = ENUM_FIELD(f), .def = dflt, .choices = ch,      \
        .help = hlp, __VA_ARGS__                                                                                       \
    }
/* Where a module takes the value: its params struct and the field there
 * (fr_config_*_params copy it; the size is checked against the row's type
 * when they do). */
#define TO(mod, P, pf)                                                                                                 \
    .module = mod, .module_offset = offsetof(P, pf), .module_size = sizeof(((P *)0)->pf)
#define SCHED(pf) TO(FR_SETTING_SCHED, struct fr_sched_params, pf)
#define HTTP(pf) TO(FR_SETTING_HTTP, struct fr_http_params, pf)
#define GALLERY(pf) TO(FR_SETTING_GALLERY, struct fr_gallery_params, pf)
#define INDEXER(pf) TO(FR_SETTING_INDEXER, struct fr_indexer_params, pf)

/* Sections appear in this order in --help and the dump. */
const char *const fr__config_sections[] = {"server", "device", "batching", "admission", "pipeline", "gallery", NULL};

const struct fr_setting fr__settings[] = {
    /* server */
    STRING("server", listen, "127.0.0.1:5001", "HOST:PORT", check_listen,
           "address and port of the HTTP server (0.0.0.0 for every interface; [::1]:5001 for IPv6; port 0 picks a "
           "free one, which the start-up line reports)", HTTP(listen)),
    STRING("server", api_keys_file, "", "FILE", NULL,
           "API keys, one \"key user\" line each; empty means no keys, so every request is refused with 401", HTTP(api_keys_file)),
    SIZE("server", max_body_bytes, 1024, 4.0 * FR__GIB, "64MiB", NULL, "larger request bodies are refused with 413", HTTP(max_body_bytes)),
    INT("server", drain_timeout_ms, 0, 600000, "10000", NULL,
        "on SIGTERM, stop accepting and finish in-flight requests within this many milliseconds"),
    INT("server", http_threads, 1, 256, "4", NULL,
        "event-loop threads of the HTTP server (epoll); a connection waiting on the scheduler holds no thread", HTTP(threads)),
    /* connections: limits that keep slow or idle clients from locking others out */
    INT("server", http_workers, 1, 256, "4", NULL,
        "HTTP threads for work that may block: the gallery's store, parsing bodies over 256 KiB", HTTP(workers)),
    INT("server", max_connections, 16, 1000000, "4096", NULL,
        "open connections served; idle keep-alive connections are closed first when it runs low, then new ones "
        "get 503; lowered to fit the open-file limit, which the server raises to its hard limit", HTTP(max_connections)),
    INT("server", max_connections_per_ip, 0, 1000000, "256", NULL,
        "open connections from one client address; more are answered 429 and closed; 0 means no limit (use it "
        "behind a proxy that connects from one address)", HTTP(max_connections_per_ip)),
    INT("server", header_timeout_ms, 100, 600000, "10000", NULL,
        "a request's headers must arrive within this many milliseconds (from accept, or from its request line on "
        "a kept-alive connection); late connections are closed", HTTP(header_timeout_ms)),
    INT("server", idle_timeout_ms, 1000, 3600000, "60000", NULL,
        "keep-alive connections idle between requests this long are closed"),
    INT("server", min_body_rate, 0, 1000000000, "1024", NULL,
        "bytes per second a request body must keep over each body_rate_window_ms; slower uploads are closed; 0 "
        "means no minimum", HTTP(min_body_rate)),
    INT("server", body_rate_window_ms, 100, 600000, "10000", NULL,
        "the window (and the grace period at the start of a body) over which min_body_rate is measured", HTTP(body_rate_window_ms)),
    SIZE("server", max_body_memory, 1024, 1.0 * FR__TIB, "512MiB", NULL,
         "request bodies buffered at once over all connections; a request that would pass it is answered 503", HTTP(max_body_memory)),
    STRING("server", data, "", "DIR|URL", NULL,
           "data directory of the people gallery (SQLite: users, API keys, people, faces); empty means "
           "$XDG_DATA_HOME/facerec, else ~/.local/share/facerec; a postgresql://USER@HOST/DB URL shares one "
           "PostgreSQL database between several servers", GALLERY(store.data_dir)),
    ENUM("server", log_level, log_choices, "info", "least severe log messages that are written"),
    INT("server", metrics_top_users, 0, FR_METRICS_MAX_USERS, "16", NULL,
        "/metrics: this many users with the most traffic get their own series; the rest are user=\"_other\"", SCHED(metrics_top_users)),
    /* device and models */
    STRING("device", models, "models", "DIR", check_nonempty, "model directory (FACEREC_MODELS in the environment)", SCHED(models_dir)),
    ENUM("device", device, device_choices, "auto", "compute device; auto takes CUDA when a card is present", SCHED(device)),
    ENUM("device", precision, precision_choices, "fp32",
         "arithmetic of the nets; fp32 matches face-api. CUDA: fp16 runs convolutions on tensor cores "
         "(descriptors within 1e-2 of fp32). CPU: bf16 (AVX512_BF16/AMX), int8 (the SSD detector; VNNI/AMX), "
         "auto (per net the fastest the CPU has); each passed the accuracy gate against fp32, and falls back "
         "to fp32 where the CPU lacks it (docs/PERFORMANCE.md)", SCHED(precision)),
    {.name = "device_memory_limit",
     .section = "device",
     .type = FR_SETTING_SIZE,
     .offset = FIELD(device_memory_limit, size_t),
     .min = 0,
     .max = (double)FR__TIB,
     .def = "0",
     .legacy = "GPU memory limit",
     .percent = true,
     SCHED(device_memory_limit),
     .help = "device memory for weights, activations and staging buffers; N% is that share of the card "
             "(of physical RAM on the CPU backend); 0 means the backend's default: 2 GiB on the CPU, 80% of "
             "the card on CUDA"},
    SIZE("device", host_memory_limit, (double)FR_SCHED_MIN_HOST_MEMORY, (double)FR__TIB, "1GiB", NULL,
         "decoded images held in memory at once; more images wait in the queue", SCHED(host_memory_limit)),
    INT("device", threads, 0, 1024, "0", NULL, "compute threads on the CPU backend; 0 means all cores", SCHED(threads)),
    INT("device", max_workers, 1, FR_SCHED_MAX_WORKERS, "2", "MAX_WORKERS", "image decoding threads", SCHED(max_workers)),
    BOOL("device", warmup, "true", "run every net once at start; the server reports ready after that", SCHED(warmup)),
    /* batching */
    INT("batching", max_batch_size, 1, FR_SCHED_MAX_BATCH, "128", "GPU_BATCH_SIZE",
        "largest batch of any net; lowered per net when the device memory limit cannot hold it", SCHED(max_batch_size)),
    INT("batching", preferred_batch_size, 1, FR_SCHED_MAX_BATCH, "64", "DYNAMIC_BATCH_SIZE",
        "a net with fewer items ready waits up to max_queue_delay_ms for more; at most max_batch_size", SCHED(preferred_batch_size)),
    INT("batching", max_queue_delay_ms, 0, 10000, "5", "processingDelay",
        "longest wait, in milliseconds, for a batch to fill up to preferred_batch_size", SCHED(max_queue_delay_ms)),
    ENUM("batching", batching, batching_choices, "dynamic",
         "dynamic: each net batches continuously across requests; static: the old system's fixed batches of "
         "preferred_batch_size images, one batch through all nets at a time (for comparison, see facerec bench)", SCHED(batching)),
    INT("batching", static_fill_timeout_ms, 0, 600000, "100", NULL,
        "static batching: longest wait, in milliseconds, for a batch of images to fill", SCHED(static_fill_timeout_ms)),
    /* admission */
    INT("admission", queue_capacity, 1, 1000000, "1024", NULL,
        "images queued from all users; beyond it requests are refused with 429", SCHED(queue_capacity)),
    INT("admission", user_queue_capacity, 1, 1000000, "256", NULL,
        "images queued from one user; beyond it that user's requests are refused with 429; at most queue_capacity", SCHED(user_queue_capacity)),
    INT("admission", user_concurrency_limit, 1, 100000, "16", "userConcurrencyLimit",
        "one user's images in flight at once (may exceed max_concurrent_images, which then binds first)", SCHED(user_concurrency_limit)),
    INT("admission", max_concurrent_images, 1, 100000, "16", "MAX_CONCURRENT_IMAGES",
        "images in flight (decoding or on the device) at once, over all users", SCHED(max_concurrent_images)),
    INT("admission", request_timeout_ms, 1, 3600000, "30000", NULL,
        "deadline of a request in milliseconds, queueing included; past it the request fails", SCHED(request_timeout_ms)),
    /* images and faces */
    INT("pipeline", max_image_size, 0, FR_IMAGE_MAX_DIMENSION, "2048", "MAX_IMAGE_SIZE",
        "images are downscaled so that the longer side is at most this many pixels; 0 means never", SCHED(decode.max_image_size)),
    SIZE("pipeline", max_image_bytes, 1024, 4.0 * FR__GIB, "50MiB", NULL, "larger encoded images are refused", SCHED(decode.max_bytes)),
    INT64("pipeline", max_pixels, 1, 10000000000.0, "100000000", NULL,
          "images with more pixels are refused before they are decoded", SCHED(decode.max_pixels)),
    ENUM("pipeline", detector, detector_choices, "ssd", "face detector: ssd is accurate, tiny is fast", SCHED(detector)),
    FLOAT("pipeline", min_confidence, 0.01, 0.99, "0.5", NULL, "detector score threshold", SCHED(min_confidence)),
    INT("pipeline", max_faces, 1, 1000, "100", NULL, "at most this many faces per image, best first", SCHED(max_faces)),
    INT("pipeline", min_face_size, 0, 100000, "0", NULL,
        "faces narrower or shorter than this many pixels (of the original photo) are dropped; detect_tiles=auto "
        "looks for faces down to this size", SCHED(min_face_size)),
    ENUM("pipeline", detect_tiles, tiles_choices, "auto",
         "multi-scale detection: besides the whole image, the detector looks at overlapping tiles so that small "
         "faces are found; auto tiles only photos where faces of min_face_size (else 2% of the photo) are too "
         "small for the whole pass and the whole pass found no large faces only; off is face-api's output bit "
         "for bit; NxM always tiles N columns by M rows"),
    FLOAT("pipeline", tolerance, 0.0, 2.0, "0.6", NULL, "verify and recognize: faces closer than this distance are the same person; recognize answers "
          "\"unknown\" beyond it", GALLERY(threshold)),
    /* people gallery */
    BOOL("gallery", search_int8, "false",
         "keep an int8 copy of each user's embeddings and scan it first: 3-4x faster scans over large galleries "
         "for 25% more memory; the best candidates are re-ranked exactly, so results equal the exact search", GALLERY(int8)),
    INT("gallery", recognize_k, 1, FR_GALLERY_MAX_K, "3", NULL, "recognize: candidates per face when the request does not say (k)", GALLERY(k)),
    INT("gallery", cluster_min_faces, 1, FR_GALLERY_MAX_CLUSTER_MIN_FACES, "3", NULL,
        "cluster: a face with at least this many neighbours (itself included) founds a new person", GALLERY(cluster.min_faces)),
    FLOAT("gallery", cluster_max_distance, 0.01, 2.0, "0.5", NULL,
          "cluster: faces closer than this distance are neighbours; an unassigned face this close to a person "
          "joins it", GALLERY(cluster.max_distance)),
    /* the indexing queue (POST /v1/jobs) */
    STRING("gallery", node_name, "", "NAME", NULL,
           "this server's name in index jobs' per-node progress; empty means HOSTNAME-PID", INDEXER(node)),
    INT("gallery", index_workers, 0, FR_INDEXER_MAX_WORKERS, "2", NULL,
        "index jobs: batches this server works on at once (one decodes and writes while another computes); "
        "0 takes no queued work", INDEXER(workers)),
    INT("gallery", index_batch, 1, 1024, "8", NULL, "index jobs: images claimed at a time", INDEXER(batch)),
    INT("gallery", index_lease_ms, 1, 3600000, "30000", NULL,
        "index jobs: a claim lapses this long after the claiming server's last heartbeat (it beats every third "
        "of it), and other servers take the images over", INDEXER(lease_ms)),
};
#define N_SETTINGS (sizeof(fr__settings) / sizeof(fr__settings[0]))
_Static_assert(N_SETTINGS <= FR_CONFIG_MAX_SETTINGS, "raise FR_CONFIG_MAX_SETTINGS");
const size_t fr__n_settings = N_SETTINGS;

/* FACEREC_* variables that are not settings: the config file's path, the
 * test data directory the test scripts share with the tests, the NVML
 * library to load (tests point it at a fake), `facerec monitor`'s key,
 * where backend modules are looked for (src/nn/backend-reg.c) and the GPU
 * bundle's own variables (packaging/bundle/env.sh). */
const char *const fr__config_env_not_settings[] = {"CONFIG",      "TESTDATA",    "NVML_LIBRARY", "API_KEY",
                                               "MODULE_PATH", "NVIDIA_PATH", "BUNDLE_QUIET", NULL};

const struct fr_setting *fr_settings(size_t *count) {
    if (count) *count = N_SETTINGS;
    return fr__settings;
}

const struct fr_setting *fr_setting_find(const char *name) {
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(fr__settings[i].name, name)) return &fr__settings[i];
    return NULL;
}

const struct fr_setting *fr_setting_find_flag(const char *arg, size_t len, bool *negated) {
    char name[FR__CONFIG_NAME_MAX];
    *negated = false;
    if (len < 3 || strncmp(arg, "--", 2) || !fr__config_normalise(arg + 2, len - 2, name)) return NULL;
    const struct fr_setting *s = fr_setting_find(name);
    if (!s && !strncmp(name, "no_", 3) && (s = fr_setting_find(name + 3)) != NULL) {
        *negated = s->type == FR_SETTING_BOOL;
        if (!*negated) s = NULL;
    }
    return s;
}

bool fr__config_normalise(const char *s, size_t n, char *out) {
    if (n >= FR__CONFIG_NAME_MAX) return false;
    for (size_t k = 0; k < n; k++)
        out[k] = s[k] == '-' ? '_' : s[k];
    out[n] = 0;
    return true;
}

/* ---- the modules' parameters ---- */

struct fr_tiles fr_config_tiles(int32_t detect_tiles) {
    return (struct fr_tiles){
        .mode = (enum fr_tiles_mode)(detect_tiles & 0xf),
        .cols = (detect_tiles >> 4) & 0xf,
        .rows = (detect_tiles >> 8) & 0xf,
    };
}

/* The size a row's value has in struct fr_config. */
static size_t value_size(const struct fr_setting *s) {
    switch (s->type) {
    case FR_SETTING_INT:
        return sizeof(int32_t);
    case FR_SETTING_INT64:
        return sizeof(int64_t);
    case FR_SETTING_SIZE:
        return sizeof(size_t);
    case FR_SETTING_FLOAT:
        return sizeof(float);
    case FR_SETTING_BOOL:
        return sizeof(bool);
    case FR_SETTING_STRING:
        return sizeof(char *);
    case FR_SETTING_ENUM:
        return sizeof(int);
    }
    return 0;
}

/* Copies every row that goes to module m into its params (strings as
 * pointers into cfg). */
static void hand_over(const struct fr_config *cfg, enum fr_setting_module m, void *params) {
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct fr_setting *s = &fr__settings[i];
        if (s->module != m) continue;
        FR_ASSERT(s->module_size == value_size(s)); /* the row names a field of its own type */
        memcpy((char *)params + s->module_offset, (const char *)cfg + s->offset, s->module_size);
    }
}

struct fr_sched_params fr_config_sched_params(const struct fr_config *cfg) {
    /* Start from the scheduler's defaults, so that a field without a row
     * in the table keeps its default rather than zero. */
    struct fr_sched_params p = fr_sched_default_params();
    hand_over(cfg, FR_SETTING_SCHED, &p);
    if (cfg->device_memory_percent > 0) p.device_memory_limit = 0;
    p.device_memory_percent = cfg->device_memory_percent;
    p.tiles = fr_config_tiles(cfg->detect_tiles);
    return p;
}

struct fr_http_params fr_config_http_params(const struct fr_config *cfg) {
    struct fr_http_params hp = fr_http_default_params();
    hand_over(cfg, FR_SETTING_HTTP, &hp);
    /* A request waiting on the scheduler is suspended and does not age. */
    hp.connection_timeout_s = (cfg->idle_timeout_ms + 999) / 1000;
    hp.tolerance = cfg->tolerance; /* verify's threshold is recognize's */
    return hp;
}

struct fr_gallery_params fr_config_gallery_params(const struct fr_config *cfg) {
    struct fr_gallery_params gp = fr_gallery_default_params();
    hand_over(cfg, FR_SETTING_GALLERY, &gp);
    if (gp.store.data_dir && !*gp.store.data_dir) gp.store.data_dir = NULL; /* the default directory */
    return gp;
}

struct fr_indexer_params fr_config_indexer_params(const struct fr_config *cfg) {
    struct fr_indexer_params ip = fr_indexer_default_params();
    hand_over(cfg, FR_SETTING_INDEXER, &ip);
    return ip;
}
