/* Settings: one declarative table drives the defaults, the INI file, the
 * environment, the flags, --help and the dump (see facerec/config.h). */
#include "facerec/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define TIB ((size_t)1 << 40)

/* Longest setting name plus room; names longer than this are unknown. */
#define NAME_MAX_LEN 64

static const char *const device_choices[] = {"auto", "cpu", "cuda", NULL};
static const char *const precision_choices[] = {"fp32", "fp16", "bf16", "int8", "auto", NULL};
static const char *const detector_choices[] = {"ssd", "tiny", NULL};
static const char *const batching_choices[] = {"dynamic", "static", NULL};
static const char *const log_choices[] = {"error", "warn", "info", "debug", NULL};
/* Every value fr_tiles_parse accepts: auto, off and the NxM grids up to 4x4. */
static const char *const tiles_choices[] = {"auto", "off", "2x1", "1x2", "2x2", "3x1", "1x3", "3x2", "2x3",
                                            "3x3", "4x1", "1x4", "4x2", "2x4", "4x3", "3x4", "4x4", NULL};

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

#define ROW_NUM(sec, f, ty, T, lo, hi, dflt, leg, hlp)                                                                 \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = ty, .offset = FIELD(f, T), .min = lo, .max = hi, .def = dflt,              \
        .legacy = leg, .help = hlp                                                                                     \
    }
#define INT(sec, f, lo, hi, dflt, leg, hlp) ROW_NUM(sec, f, FR_SETTING_INT, int32_t, lo, hi, dflt, leg, hlp)
#define INT64(sec, f, lo, hi, dflt, leg, hlp) ROW_NUM(sec, f, FR_SETTING_INT64, int64_t, lo, hi, dflt, leg, hlp)
#define SIZE(sec, f, lo, hi, dflt, leg, hlp) ROW_NUM(sec, f, FR_SETTING_SIZE, size_t, lo, hi, dflt, leg, hlp)
#define FLOAT(sec, f, lo, hi, dflt, leg, hlp) ROW_NUM(sec, f, FR_SETTING_FLOAT, float, lo, hi, dflt, leg, hlp)
#define BOOL(sec, f, dflt, hlp)                                                                                        \
    { .name = #f, .section = sec, .type = FR_SETTING_BOOL, .offset = FIELD(f, bool), .def = dflt, .help = hlp }
#define STRING(sec, f, dflt, meta, chk, hlp)                                                                           \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = FR_SETTING_STRING, .offset = FIELD(f, char *), .def = dflt,                \
        .metavar = meta, .check = chk, .help = hlp                                                                     \
    }
#define ENUM(sec, f, ch, dflt, hlp)                                                                                    \
    {                                                                                                                  \
        .name = #f, .section = sec, .type = FR_SETTING_ENUM, .offset = FIELD(f, char *), .def = dflt, .choices = ch,   \
        .help = hlp                                                                                                    \
    }

/* Sections appear in this order in --help and the dump. */
static const char *const sections[] = {"server", "device", "batching", "admission", "pipeline", "gallery", NULL};

static const struct fr_setting settings[] = {
    /* server */
    STRING("server", listen, "127.0.0.1:5001", "HOST:PORT", check_listen,
           "address and port of the HTTP server (0.0.0.0 for every interface; [::1]:5001 for IPv6; port 0 picks a "
           "free one, which the start-up line reports)"),
    STRING("server", api_keys_file, "", "FILE", NULL,
           "API keys, one \"key user\" line each; empty means no keys, so every request is refused with 401"),
    SIZE("server", max_body_bytes, 1024, 4.0 * GIB, "64MiB", NULL, "larger request bodies are refused with 413"),
    INT("server", drain_timeout_ms, 0, 600000, "10000", NULL,
        "on SIGTERM, stop accepting and finish in-flight requests within this many milliseconds"),
    INT("server", http_threads, 1, 256, "4", NULL,
        "event-loop threads of the HTTP server (epoll); a connection waiting on the scheduler holds no thread"),
    /* connections: limits that keep slow or idle clients from locking others out */
    INT("server", http_workers, 1, 256, "4", NULL,
        "HTTP threads for work that may block: the gallery's store, parsing bodies over 256 KiB"),
    INT("server", max_connections, 16, 1000000, "4096", NULL,
        "open connections served; idle keep-alive connections are closed first when it runs low, then new ones "
        "get 503; lowered to fit the open-file limit, which the server raises to its hard limit"),
    INT("server", max_connections_per_ip, 0, 1000000, "256", NULL,
        "open connections from one client address; more are answered 429 and closed; 0 means no limit (use it "
        "behind a proxy that connects from one address)"),
    INT("server", header_timeout_ms, 100, 600000, "10000", NULL,
        "a request's headers must arrive within this many milliseconds (from accept, or from its request line on "
        "a kept-alive connection); late connections are closed"),
    INT("server", idle_timeout_ms, 1000, 3600000, "60000", NULL,
        "keep-alive connections idle between requests this long are closed"),
    INT("server", min_body_rate, 0, 1000000000, "1024", NULL,
        "bytes per second a request body must keep over each body_rate_window_ms; slower uploads are closed; 0 "
        "means no minimum"),
    INT("server", body_rate_window_ms, 100, 600000, "10000", NULL,
        "the window (and the grace period at the start of a body) over which min_body_rate is measured"),
    SIZE("server", max_body_memory, 1024, 1.0 * TIB, "512MiB", NULL,
         "request bodies buffered at once over all connections; a request that would pass it is answered 503"),
    STRING("server", data, "", "DIR|URL", NULL,
           "data directory of the people gallery (SQLite: users, API keys, people, faces); empty means "
           "$XDG_DATA_HOME/facerec, else ~/.local/share/facerec; a postgresql://USER@HOST/DB URL shares one "
           "PostgreSQL database between several servers"),
    ENUM("server", log_level, log_choices, "info", "least severe log messages that are written"),
    INT("server", metrics_top_users, 0, 64, "16", NULL,
        "/metrics: this many users with the most traffic get their own series; the rest are user=\"_other\""),
    /* device and models */
    STRING("device", models, "models", "DIR", check_nonempty, "model directory (FACEREC_MODELS in the environment)"),
    ENUM("device", device, device_choices, "auto", "compute device; auto takes CUDA when a card is present"),
    ENUM("device", precision, precision_choices, "fp32",
         "arithmetic of the nets; fp32 matches face-api. CUDA: fp16 runs convolutions on tensor cores "
         "(descriptors within 1e-2 of fp32). CPU: bf16 (AVX512_BF16/AMX), int8 (the SSD detector; VNNI/AMX), "
         "auto (per net the fastest the CPU has); each passed the accuracy gate against fp32, and falls back "
         "to fp32 where the CPU lacks it (docs/PERFORMANCE.md)"),
    {.name = "device_memory_limit",
     .section = "device",
     .type = FR_SETTING_SIZE,
     .offset = FIELD(device_memory_limit, size_t),
     .min = 0,
     .max = (double)TIB,
     .def = "0",
     .legacy = "GPU memory limit",
     .percent = true,
     .help = "device memory for weights, activations and staging buffers; N% is that share of the card "
             "(of physical RAM on the CPU backend); 0 means the backend's default: 2 GiB on the CPU, 80% of "
             "the card on CUDA"},
    SIZE("device", host_memory_limit, 16.0 * MIB, (double)TIB, "1GiB", NULL,
         "decoded images held in memory at once; more images wait in the queue"),
    INT("device", threads, 0, 1024, "0", NULL, "compute threads on the CPU backend; 0 means all cores"),
    INT("device", max_workers, 1, 256, "2", "MAX_WORKERS", "image decoding threads"),
    BOOL("device", warmup, "true", "run every net once at start; the server reports ready after that"),
    /* batching */
    INT("batching", max_batch_size, 1, 1024, "128", "GPU_BATCH_SIZE",
        "largest batch of any net; lowered per net when the device memory limit cannot hold it"),
    INT("batching", preferred_batch_size, 1, 1024, "64", "DYNAMIC_BATCH_SIZE",
        "a net with fewer items ready waits up to max_queue_delay_ms for more; at most max_batch_size"),
    INT("batching", max_queue_delay_ms, 0, 10000, "5", "processingDelay",
        "longest wait, in milliseconds, for a batch to fill up to preferred_batch_size"),
    ENUM("batching", batching, batching_choices, "dynamic",
         "dynamic: each net batches continuously across requests; static: the old system's fixed batches of "
         "preferred_batch_size images, one batch through all nets at a time (for comparison, see facerec bench)"),
    INT("batching", static_fill_timeout_ms, 0, 600000, "100", NULL,
        "static batching: longest wait, in milliseconds, for a batch of images to fill"),
    /* admission */
    INT("admission", queue_capacity, 1, 1000000, "1024", NULL,
        "images queued from all users; beyond it requests are refused with 429"),
    INT("admission", user_queue_capacity, 1, 1000000, "256", NULL,
        "images queued from one user; beyond it that user's requests are refused with 429; at most queue_capacity"),
    INT("admission", user_concurrency_limit, 1, 100000, "16", "userConcurrencyLimit",
        "one user's images in flight at once (may exceed max_concurrent_images, which then binds first)"),
    INT("admission", max_concurrent_images, 1, 100000, "16", "MAX_CONCURRENT_IMAGES",
        "images in flight (decoding or on the device) at once, over all users"),
    INT("admission", request_timeout_ms, 1, 3600000, "30000", NULL,
        "deadline of a request in milliseconds, queueing included; past it the request fails"),
    /* images and faces */
    INT("pipeline", max_image_size, 0, 16384, "2048", "MAX_IMAGE_SIZE",
        "images are downscaled so that the longer side is at most this many pixels; 0 means never"),
    SIZE("pipeline", max_image_bytes, 1024, 4.0 * GIB, "50MiB", NULL, "larger encoded images are refused"),
    INT64("pipeline", max_pixels, 1, 10000000000.0, "100000000", NULL,
          "images with more pixels are refused before they are decoded"),
    ENUM("pipeline", detector, detector_choices, "ssd", "face detector: ssd is accurate, tiny is fast"),
    FLOAT("pipeline", min_confidence, 0.01, 0.99, "0.5", NULL, "detector score threshold"),
    INT("pipeline", max_faces, 1, 1000, "100", NULL, "at most this many faces per image, best first"),
    INT("pipeline", min_face_size, 0, 100000, "0", NULL,
        "faces narrower or shorter than this many pixels (of the original photo) are dropped; detect_tiles=auto "
        "looks for faces down to this size"),
    ENUM("pipeline", detect_tiles, tiles_choices, "auto",
         "multi-scale detection: besides the whole image, the detector looks at overlapping tiles so that small "
         "faces are found; auto tiles only photos where faces of min_face_size (else 2% of the photo) are too "
         "small for the whole pass and the whole pass found no large faces only; off is face-api's output bit "
         "for bit; NxM always tiles N columns by M rows"),
    FLOAT("pipeline", tolerance, 0.0, 2.0, "0.6", NULL, "verify and recognize: faces closer than this distance are the same person; recognize answers "
          "\"unknown\" beyond it"),
    /* people gallery */
    BOOL("gallery", search_int8, "false",
         "keep an int8 copy of each user's embeddings and scan it first: 3-4x faster scans over large galleries "
         "for 25% more memory; the best candidates are re-ranked exactly, so results equal the exact search"),
    INT("gallery", recognize_k, 1, 100, "3", NULL, "recognize: candidates per face when the request does not say (k)"),
    INT("gallery", cluster_min_faces, 1, 63, "3", NULL,
        "cluster: a face with at least this many neighbours (itself included) founds a new person"),
    FLOAT("gallery", cluster_max_distance, 0.01, 2.0, "0.5", NULL,
          "cluster: faces closer than this distance are neighbours; an unassigned face this close to a person "
          "joins it"),
    /* the indexing queue (POST /v1/jobs) */
    STRING("gallery", node_name, "", "NAME", NULL,
           "this server's name in index jobs' per-node progress; empty means HOSTNAME-PID"),
    INT("gallery", index_workers, 0, 64, "2", NULL,
        "index jobs: batches this server works on at once (one decodes and writes while another computes); "
        "0 takes no queued work"),
    INT("gallery", index_batch, 1, 1024, "8", NULL, "index jobs: images claimed at a time"),
    INT("gallery", index_lease_ms, 1, 3600000, "30000", NULL,
        "index jobs: a claim lapses this long after the claiming server's last heartbeat (it beats every third "
        "of it), and other servers take the images over"),
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))
_Static_assert(N_SETTINGS <= FR_CONFIG_MAX_SETTINGS, "raise FR_CONFIG_MAX_SETTINGS");

/* FACEREC_* variables that are not settings: the config file's path, the
 * test data directory the test scripts share with the tests, the NVML
 * library to load (tests point it at a fake), `facerec monitor`'s key,
 * where backend modules are looked for (src/nn/backend-reg.c) and the GPU
 * bundle's own variables (packaging/bundle/env.sh). */
static const char *const env_not_settings[] = {"CONFIG",      "TESTDATA",    "NVML_LIBRARY", "API_KEY",
                                               "MODULE_PATH", "NVIDIA_PATH", "BUNDLE_QUIET", NULL};

const struct fr_setting *fr_settings(size_t *count) {
    if (count) *count = N_SETTINGS;
    return settings;
}

const struct fr_setting *fr_setting_find(const char *name) {
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].name, name)) return &settings[i];
    return NULL;
}

static size_t index_of(const struct fr_setting *s) { return (size_t)(s - settings); }
static void *field(struct fr_config *cfg, const struct fr_setting *s) { return (char *)cfg + s->offset; }
static const void *cfield(const struct fr_config *cfg, const struct fr_setting *s) {
    return (const char *)cfg + s->offset;
}
static bool is_text(const struct fr_setting *s) { return s->type == FR_SETTING_STRING || s->type == FR_SETTING_ENUM; }

/* ---- values ---- */

/* A parsed value, before it is stored. */
struct value {
    int64_t i;
    size_t size;
    int32_t percent;
    double f;
    bool b;
    const char *text; /* strings: the input; enums: the table's choice */
};

static bool parse_int64(const char *t, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (errno || end == t || *end || isspace((unsigned char)*t)) return false;
    *out = x;
    return true;
}

/* "64MiB", "512k", "2 G", "4096": every suffix is a power of 1024. */
static bool parse_size(const char *t, size_t *out) {
    if (!isdigit((unsigned char)*t)) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(t, &end, 10);
    if (errno) return false;
    while (*end == ' ')
        end++;
    static const struct {
        const char *s;
        size_t mul;
    } units[] = {
        {"", 1},      {"b", 1},   {"k", KIB},  {"kb", KIB},  {"kib", KIB}, {"m", MIB},  {"mb", MIB},
        {"mib", MIB}, {"g", GIB}, {"gb", GIB}, {"gib", GIB}, {"t", TIB},   {"tb", TIB}, {"tib", TIB},
    };
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strcasecmp(end, units[k].s)) continue;
        if (x > SIZE_MAX / units[k].mul) return false;
        *out = (size_t)x * units[k].mul;
        return true;
    }
    return false;
}

static bool parse_bool(const char *t, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int k = 0; k < 4; k++) {
        if (!strcasecmp(t, yes[k])) return *out = true, true;
        if (!strcasecmp(t, no[k])) return *out = false, true;
    }
    return false;
}

/* "4GiB", "64MiB", "1536": the largest unit that divides the value. */
static void format_size(size_t v, char *buf, size_t len) {
    if (v && v % TIB == 0)
        snprintf(buf, len, "%zuTiB", v / TIB);
    else if (v && v % GIB == 0)
        snprintf(buf, len, "%zuGiB", v / GIB);
    else if (v && v % MIB == 0)
        snprintf(buf, len, "%zuMiB", v / MIB);
    else if (v && v % KIB == 0)
        snprintf(buf, len, "%zuKiB", v / KIB);
    else
        snprintf(buf, len, "%zu", v);
}

/* The shortest text that reads back as the same float, so that 0.6 is
 * dumped as "0.6" and still survives the round trip exactly. */
static void format_float(float v, char *buf, size_t len) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, len, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

/* What a valid value looks like, for error messages. */
static void describe(const struct fr_setting *s, char *buf, size_t len) {
    char lo[32], hi[32];
    switch (s->type) {
    case FR_SETTING_INT:
    case FR_SETTING_INT64:
        snprintf(buf, len, "an integer in [%.0f, %.0f]", s->min, s->max);
        break;
    case FR_SETTING_SIZE:
        format_size((size_t)s->min, lo, sizeof(lo));
        format_size((size_t)s->max, hi, sizeof(hi));
        snprintf(buf, len, "a size in [%s, %s] (bytes, or with a K, M, G or T suffix)%s", lo, hi,
                 s->percent ? " or a percentage from 1% to 100%" : "");
        break;
    case FR_SETTING_FLOAT:
        snprintf(buf, len, "a number in [%g, %g]", s->min, s->max);
        break;
    case FR_SETTING_BOOL:
        snprintf(buf, len, "true or false (yes/no, on/off, 1/0)");
        break;
    case FR_SETTING_STRING:
        snprintf(buf, len, "text");
        break;
    case FR_SETTING_ENUM: {
        size_t n = (size_t)snprintf(buf, len, "one of");
        for (const char *const *c = s->choices; *c && n < len; c++)
            n += (size_t)snprintf(buf + n, len - n, "%s %s", c == s->choices ? "" : ",", *c);
        break;
    }
    }
}

/* Parses text as s's value; on failure writes why into why. */
static bool parse(const struct fr_setting *s, const char *t, struct value *v, char *why, size_t whylen) {
    memset(v, 0, sizeof(*v));
    bool ok = false;
    switch (s->type) {
    case FR_SETTING_INT:
    case FR_SETTING_INT64:
        ok = parse_int64(t, &v->i) && v->i >= s->min && v->i <= s->max;
        break;
    case FR_SETTING_SIZE: {
        size_t n = strlen(t);
        if (s->percent && n > 1 && t[n - 1] == '%') {
            char num[16];
            int64_t p = 0;
            snprintf(num, sizeof(num), "%.*s", (int)(n - 1), t);
            ok = n - 1 < sizeof(num) && parse_int64(num, &p) && p >= 1 && p <= 100;
            v->percent = (int32_t)p;
        } else {
            ok = parse_size(t, &v->size) && (double)v->size >= s->min && (double)v->size <= s->max;
        }
        break;
    }
    case FR_SETTING_FLOAT: {
        char *end;
        errno = 0;
        v->f = strtod(t, &end);
        ok = !errno && end != t && !*end && v->f >= s->min && v->f <= s->max;
        break;
    }
    case FR_SETTING_BOOL:
        ok = parse_bool(t, &v->b);
        break;
    case FR_SETTING_STRING:
        v->text = t;
        if (s->check && s->check(t)) {
            snprintf(why, whylen, "%s", s->check(t));
            return false;
        }
        return true;
    case FR_SETTING_ENUM:
        for (const char *const *c = s->choices; *c; c++)
            if (!strcasecmp(t, *c)) v->text = *c;
        ok = v->text != NULL;
        break;
    }
    if (!ok) describe(s, why, whylen);
    return ok;
}

/* Stores a parsed value; text settings get the given string (owned or not,
 * as the caller decided). */
static void store(struct fr_config *cfg, const struct fr_setting *s, const struct value *v, char *text) {
    void *p = field(cfg, s);
    switch (s->type) {
    case FR_SETTING_INT:
        *(int32_t *)p = (int32_t)v->i;
        break;
    case FR_SETTING_INT64:
        *(int64_t *)p = v->i;
        break;
    case FR_SETTING_SIZE:
        *(size_t *)p = v->size;
        if (s->percent) cfg->device_memory_percent = v->percent;
        break;
    case FR_SETTING_FLOAT:
        *(float *)p = (float)v->f;
        break;
    case FR_SETTING_BOOL:
        *(bool *)p = v->b;
        break;
    case FR_SETTING_STRING:
    case FR_SETTING_ENUM:
        *(char **)p = text;
        break;
    }
}

void fr_config_init(struct fr_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct fr_setting *s = &settings[i];
        struct value v;
        char why[160];
        bool ok = parse(s, s->def, &v, why, sizeof(why));
        FR_ASSERT(ok); /* the table's defaults are valid */
        /* Defaults point at the table's text, so init allocates nothing
         * and cannot fail; source[i] == NULL marks them as not owned. */
        store(cfg, s, &v, (char *)(s->type == FR_SETTING_ENUM ? v.text : s->def));
    }
}

void fr_config_clear(struct fr_config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (cfg->source[i] && is_text(&settings[i])) fr_free(*(char **)field(cfg, &settings[i]));
        fr_free(cfg->source[i]);
    }
    memset(cfg, 0, sizeof(*cfg));
}

enum fr_status fr_config_set(struct fr_config *cfg, const char *name, const char *value, const char *source, char *err,
                             size_t errlen) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) {
        fr_errf(err, errlen, "unknown setting '%s'", name);
        return FR_ERR_INVALID;
    }
    if (!source) source = "fr_config_set";
    struct value v;
    char why[192];
    if (!parse(s, value, &v, why, sizeof(why))) {
        fr_errf(err, errlen, "%s = %s (%s): must be %s", s->name, value, source, why);
        return FR_ERR_INVALID;
    }
    size_t i = index_of(s);
    char *src = fr_strdup(source), *text = NULL;
    if (src && is_text(s)) text = fr_strdup(v.text);
    if (!src || (is_text(s) && !text)) {
        fr_free(src);
        fr_errf(err, errlen, "%s: out of memory", s->name);
        return FR_ERR_NOMEM;
    }
    if (cfg->source[i] && is_text(s)) fr_free(*(char **)field(cfg, s));
    fr_free(cfg->source[i]);
    cfg->source[i] = src;
    store(cfg, s, &v, text);
    return FR_OK;
}

enum fr_status fr_config_get(const struct fr_config *cfg, const char *name, char *buf, size_t len) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) return FR_ERR_NOT_FOUND;
    const void *p = cfield(cfg, s);
    switch (s->type) {
    case FR_SETTING_INT:
        snprintf(buf, len, "%d", (int)*(const int32_t *)p);
        break;
    case FR_SETTING_INT64:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)p);
        break;
    case FR_SETTING_SIZE:
        if (s->percent && cfg->device_memory_percent > 0)
            snprintf(buf, len, "%d%%", (int)cfg->device_memory_percent);
        else
            format_size(*(const size_t *)p, buf, len);
        break;
    case FR_SETTING_FLOAT:
        format_float(*(const float *)p, buf, len);
        break;
    case FR_SETTING_BOOL:
        snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
        break;
    case FR_SETTING_STRING:
    case FR_SETTING_ENUM:
        snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
        break;
    }
    return FR_OK;
}

const char *fr_config_source(const struct fr_config *cfg, const char *name) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) return NULL;
    return cfg->source[index_of(s)] ? cfg->source[index_of(s)] : "default";
}

enum fr_status fr_config_split_listen(const char *listen, char *host, size_t hostlen, int32_t *port) {
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return FR_ERR_INVALID;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[') {
        /* IPv6: "[::1]:5001". */
        if (hl < 3 || h[hl - 1] != ']') return FR_ERR_INVALID;
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return FR_ERR_INVALID; /* an IPv6 address needs its brackets */
    }
    int64_t p;
    if (hl + 1 > hostlen || !isdigit((unsigned char)colon[1]) || !parse_int64(colon + 1, &p) || p < 0 || p > 65535)
        return FR_ERR_INVALID;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int32_t)p;
    return FR_OK;
}

enum fr_log_level fr_config_log_level(const struct fr_config *cfg) {
    static const enum fr_log_level levels[] = {FR_LOG_ERROR, FR_LOG_WARN, FR_LOG_INFO, FR_LOG_DEBUG};
    for (int k = 0; log_choices[k]; k++)
        if (cfg->log_level && !strcmp(cfg->log_level, log_choices[k])) return levels[k];
    return FR_LOG_INFO;
}

/* ---- names and suggestions ---- */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la >= NAME_MAX_LEN || lb >= NAME_MAX_LEN) return NAME_MAX_LEN;
    size_t row[NAME_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* How a name is spelled where the user wrote it. */
enum spelling { AS_KEY, AS_ENV, AS_FLAG };

static void spell(const char *name, enum spelling how, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "%s", how == AS_ENV ? "FACEREC_" : how == AS_FLAG ? "--" : "");
    for (const char *p = name; *p && n + 1 < len; p++, n++)
        buf[n] = how == AS_ENV ? (char)toupper((unsigned char)*p) : how == AS_FLAG && *p == '_' ? '-' : *p;
    if (n < len) buf[n] = 0;
}

/* A hint for an unknown name (already lower-cased or normalised): the
 * setting it is the old system's name of, else the closest setting within
 * two edits, else nothing. */
static void suggest(const char *name, enum spelling how, char *buf, size_t len) {
    char right[NAME_MAX_LEN + 16];
    buf[0] = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *l = settings[i].legacy;
        if (!l || strlen(l) != strlen(name)) continue;
        bool same = true;
        for (size_t k = 0; l[k] && same; k++)
            same = tolower((unsigned char)l[k]) == tolower((unsigned char)name[k]) || (l[k] == ' ' && name[k] == '_');
        if (!same) continue;
        spell(settings[i].name, how, right, sizeof(right));
        snprintf(buf, len, " (%s is the old system's name; use %s)", l, right);
        return;
    }
    const struct fr_setting *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        size_t d = edit_distance(name, settings[i].name);
        if (d < best_d) best_d = d, best = &settings[i];
    }
    if (!best) return;
    spell(best->name, how, right, sizeof(right));
    snprintf(buf, len, " (did you mean %s?)", right);
}

/* Copies a flag or key name with dashes turned into underscores; false
 * when it is too long to be any setting's name. */
static bool normalise(const char *s, size_t n, char *out) {
    if (n >= NAME_MAX_LEN) return false;
    for (size_t k = 0; k < n; k++)
        out[k] = s[k] == '-' ? '_' : s[k];
    out[n] = 0;
    return true;
}

/* ---- INI file ---- */

struct file_ctx {
    struct fr_config *cfg;
    const char *path;
    FILE *f;
    int line;                         /* of the line inih is working on */
    bool indented;                    /* that line starts with white space */
    int long_line;                    /* first line longer than inih takes, or 0 */
    int max_line;                     /* inih's line buffer, newline and NUL included */
    int seen[FR_CONFIG_MAX_SETTINGS]; /* line of each key, to refuse repeats */
    enum fr_status st;
    int err_line;
    char *err;
    size_t errlen;
};

/* inih reads through this so that the handler knows the line number and
 * so that an overlong line is an error instead of being split in two. */
static char *file_read_line(char *str, int num, void *stream) {
    struct file_ctx *c = stream;
    c->max_line = num;
    if (!fgets(str, num, c->f)) return NULL;
    c->line++;
    c->indented = str[0] == ' ' || str[0] == '\t';
    size_t n = strlen(str);
    if (n + 1 == (size_t)num && str[n - 1] != '\n' && !feof(c->f)) {
        int ch;
        while ((ch = fgetc(c->f)) != EOF && ch != '\n') {
        }
        if (!c->long_line) c->long_line = c->line;
        str[0] = 0;
    }
    return str;
}

static int file_fail(struct file_ctx *c, enum fr_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int file_fail(struct file_ctx *c, enum fr_status st, const char *fmt, ...) {
    if (c->st != FR_OK) return 1; /* keep the first error */
    c->st = st;
    c->err_line = c->line;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fr_errf(c->err, c->errlen, "%s", msg);
    return 1; /* inih goes on; only the first error is reported */
}

static bool known_section(const char *sec) {
    for (int k = 0; sections[k]; k++)
        if (!strcmp(sections[k], sec)) return true;
    return false;
}

static int file_handler(void *user, const char *section, const char *name, const char *value) {
    struct file_ctx *c = user;
    if (c->st != FR_OK) return 1;
    if (c->indented)
        return file_fail(c, FR_ERR_INVALID, "%s:%d: indented line (continuation lines are not supported)", c->path,
                         c->line);
    char key[NAME_MAX_LEN];
    const struct fr_setting *s = normalise(name, strlen(name), key) ? fr_setting_find(key) : NULL;
    if (!s) {
        char hint[192] = "";
        if (normalise(name, strlen(name), key)) suggest(key, AS_KEY, hint, sizeof(hint));
        return file_fail(c, FR_ERR_INVALID, "%s:%d: unknown key '%s'%s", c->path, c->line, name, hint);
    }
    if (!*section)
        return file_fail(c, FR_ERR_INVALID, "%s:%d: %s must be under [%s]", c->path, c->line, s->name, s->section);
    if (!known_section(section))
        return file_fail(c, FR_ERR_INVALID, "%s:%d: unknown section [%s] (%s belongs in [%s])", c->path, c->line,
                         section, s->name, s->section);
    if (strcmp(section, s->section))
        return file_fail(c, FR_ERR_INVALID, "%s:%d: %s belongs in [%s], not [%s]", c->path, c->line, s->name,
                         s->section, section);
    size_t i = index_of(s);
    if (c->seen[i])
        return file_fail(c, FR_ERR_INVALID, "%s:%d: %s is already set on line %d", c->path, c->line, s->name,
                         c->seen[i]);
    c->seen[i] = c->line;
    size_t srclen = strlen(c->path) + 32;
    char *src = fr_malloc(srclen);
    if (!src) return file_fail(c, FR_ERR_NOMEM, "%s:%d: out of memory", c->path, c->line);
    snprintf(src, srclen, "file:%s:%d", c->path, c->line);
    char msg[512];
    enum fr_status st = fr_config_set(c->cfg, s->name, value, src, msg, sizeof(msg));
    fr_free(src);
    if (st != FR_OK) return file_fail(c, st, "%s", msg);
    return 1;
}

enum fr_status fr_config_load_file(struct fr_config *cfg, const char *path, char *err, size_t errlen) {
    struct file_ctx c = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
    c.f = fopen(path, "r");
    if (!c.f) {
        fr_errf(err, errlen, "%s: cannot open the config file: %s", path, strerror(errno));
        return FR_ERR_IO;
    }
    int rc = ini_parse_stream(file_read_line, &c, file_handler, &c);
    bool read_error = ferror(c.f);
    fclose(c.f);
    /* The earliest problem wins: an overlong line, a syntax error inih
     * found, or what the handler refused (its message is already in err). */
    int handler_line = c.st != FR_OK ? c.err_line : INT_MAX, syntax_line = rc > 0 ? rc : INT_MAX;
    int long_line = c.long_line ? c.long_line : INT_MAX;
    if (long_line < INT_MAX && long_line <= syntax_line && long_line <= handler_line) {
        fr_errf(err, errlen, "%s:%d: line longer than %d characters", path, long_line, c.max_line - 2);
        return FR_ERR_INVALID;
    }
    if (syntax_line < handler_line) {
        fr_errf(err, errlen, "%s:%d: expected [section] or key = value", path, syntax_line);
        return FR_ERR_INVALID;
    }
    if (c.st != FR_OK) return c.st;
    if (rc == -2) {
        fr_errf(err, errlen, "%s: out of memory", path);
        return FR_ERR_NOMEM;
    }
    if (read_error) {
        fr_errf(err, errlen, "%s: read error", path);
        return FR_ERR_IO;
    }
    return FR_OK;
}

/* ---- environment ---- */

static const char *env_get(char *const *envp, const char *name) {
    size_t n = strlen(name);
    const char *v = NULL;
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=') v = *e + n + 1;
    return v && *v ? v : NULL;
}

enum fr_status fr_config_load_env(struct fr_config *cfg, char *const *envp, char *err, size_t errlen) {
    static const char prefix[] = "FACEREC_";
    for (char *const *e = envp; e && *e; e++) {
        const char *var = *e, *eq = strchr(var, '=');
        if (strncmp(var, prefix, sizeof(prefix) - 1) || !eq) continue;
        const char *key = var + sizeof(prefix) - 1, *value = eq + 1;
        size_t n = (size_t)(eq - key);
        bool skip = false;
        for (int k = 0; env_not_settings[k]; k++)
            if (strlen(env_not_settings[k]) == n && !strncmp(key, env_not_settings[k], n)) skip = true;
        if (skip || !*value) continue;
        char name[NAME_MAX_LEN] = "";
        bool upper = n < NAME_MAX_LEN;
        for (size_t k = 0; upper && k < n; k++) {
            upper = !islower((unsigned char)key[k]);
            name[k] = (char)tolower((unsigned char)key[k]);
        }
        if (upper) name[n] = 0;
        const struct fr_setting *s = upper ? fr_setting_find(name) : NULL;
        if (!s) {
            char hint[192] = "";
            if (upper) suggest(name, AS_ENV, hint, sizeof(hint));
            fr_errf(err, errlen, "%.*s: unknown setting in the environment%s", (int)(eq - var), var, hint);
            return FR_ERR_INVALID;
        }
        char src[NAME_MAX_LEN + 16];
        snprintf(src, sizeof(src), "env %.*s", (int)(eq - var), var);
        enum fr_status st = fr_config_set(cfg, s->name, value, src, err, errlen);
        if (st != FR_OK) return st;
    }
    return FR_OK;
}

/* ---- flags ---- */

/* One walk over the flags. With apply false it only finds --config (the
 * file must be read before the other flags apply); with apply true it sets
 * everything else and reports every mistake. */
static enum fr_status walk_args(struct fr_config *cfg, int argc, char *const *argv, bool apply, const char **config,
                                int *next, char *err, size_t errlen) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || !a[1]) break; /* the first positional argument ("-" is one too) */
        const char *body = a[0] == '-' && a[1] == '-' ? a + 2 : a + 1, *eq = strchr(body, '=');
        size_t n = eq ? (size_t)(eq - body) : strlen(body);
        char name[NAME_MAX_LEN];
        const struct fr_setting *s = NULL;
        bool negated = false, valid = a[1] == '-' && normalise(body, n, name);
        if (valid && !strcmp(name, "config")) {
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v) {
                if (!apply) continue;
                fr_errf(err, errlen, "--config needs a file");
                return FR_ERR_INVALID;
            }
            if (!apply) *config = v;
            continue;
        }
        if (valid) s = fr_setting_find(name);
        if (valid && !s && !strncmp(name, "no_", 3) && (s = fr_setting_find(name + 3)) != NULL) {
            negated = s->type == FR_SETTING_BOOL;
            if (!negated) s = NULL;
        }
        if (!s) {
            if (!apply) continue;
            char hint[192] = "";
            if (valid) suggest(name, AS_FLAG, hint, sizeof(hint));
            fr_errf(err, errlen, "unknown flag %.*s%s", (int)(body - a + (ptrdiff_t)n), a, hint);
            return FR_ERR_INVALID;
        }
        const char *value;
        if (s->type == FR_SETTING_BOOL) {
            if (negated && eq) {
                if (!apply) continue;
                fr_errf(err, errlen, "%.*s takes no value", (int)(eq - a), a);
                return FR_ERR_INVALID;
            }
            value = negated ? "false" : eq ? eq + 1 : "true";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            if (!apply) continue;
            fr_errf(err, errlen, "%s needs a value (%s)", a, s->help);
            return FR_ERR_INVALID;
        }
        if (!apply) continue;
        char src[NAME_MAX_LEN + 16];
        snprintf(src, sizeof(src), "flag %.*s", (int)(body - a + (ptrdiff_t)n), a);
        enum fr_status st = fr_config_set(cfg, s->name, value, src, err, errlen);
        if (st != FR_OK) return st;
    }
    if (next) *next = i;
    return FR_OK;
}

enum fr_status fr_config_load_args(struct fr_config *cfg, int argc, char *const *argv, int *next, char *err,
                                   size_t errlen) {
    const char *config = NULL;
    walk_args(cfg, argc, argv, false, &config, NULL, NULL, 0);
    if (config) {
        enum fr_status st = fr_config_load_file(cfg, config, err, errlen);
        if (st != FR_OK) return st;
    }
    return walk_args(cfg, argc, argv, true, NULL, next, err, errlen);
}

/* Settings that depend on each other. */
static enum fr_status cross_check(const struct fr_config *cfg, char *err, size_t errlen) {
    static const struct {
        const char *small, *big;
    } pairs[] = {
        {"preferred_batch_size", "max_batch_size"},
        {"user_queue_capacity", "queue_capacity"},
    };
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        const struct fr_setting *a = fr_setting_find(pairs[k].small), *b = fr_setting_find(pairs[k].big);
        int32_t va = *(const int32_t *)cfield(cfg, a), vb = *(const int32_t *)cfield(cfg, b);
        if (va <= vb) continue;
        fr_errf(err, errlen, "%s = %d (%s) must not exceed %s = %d (%s)", a->name, (int)va,
                fr_config_source(cfg, a->name), b->name, (int)vb, fr_config_source(cfg, b->name));
        return FR_ERR_INVALID;
    }
    return FR_OK;
}

enum fr_status fr_config_load(struct fr_config *cfg, int argc, char *const *argv, char *const *envp, int *next,
                              char *err, size_t errlen) {
    const char *config = NULL;
    walk_args(cfg, argc, argv, false, &config, NULL, NULL, 0);
    if (!config) config = env_get(envp, "FACEREC_CONFIG");
    enum fr_status st = FR_OK;
    if (config) st = fr_config_load_file(cfg, config, err, errlen);
    if (st == FR_OK) st = fr_config_load_env(cfg, envp, err, errlen);
    if (st == FR_OK) st = walk_args(cfg, argc, argv, true, NULL, next, err, errlen);
    if (st == FR_OK) st = cross_check(cfg, err, errlen);
    return st;
}

/* ---- help and dump ---- */

/* Writes text from column `indent` (where the cursor is), wrapping at
 * `width` with every line indented the same. */
static void wrap(FILE *f, const char *text, int indent, int width) {
    const char *p = text;
    int col = indent;
    bool line_start = true;
    while (*p) {
        const char *w = p;
        while (*w && *w != ' ')
            w++;
        int wl = (int)(w - p);
        if (!line_start && col + 1 + wl > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (!line_start) {
            fputc(' ', f);
            col++;
        }
        line_start = false;
        fprintf(f, "%.*s", wl, p);
        col += wl;
        p = *w ? w + 1 : w;
    }
    fputc('\n', f);
}

static void help_flag(const struct fr_setting *s, char *buf, size_t len) {
    char flag[NAME_MAX_LEN + 4];
    spell(s->name, AS_FLAG, flag, sizeof(flag));
    if (s->type == FR_SETTING_BOOL) {
        snprintf(buf, len, "--[no-]%s", flag + 2);
        return;
    }
    char meta[64];
    if (s->metavar)
        snprintf(meta, sizeof(meta), "%s", s->metavar);
    else if (s->type == FR_SETTING_ENUM) {
        size_t n = 0;
        for (const char *const *c = s->choices; *c && n < sizeof(meta); c++)
            n += (size_t)snprintf(meta + n, sizeof(meta) - n, "%s%s", c == s->choices ? "" : "|", *c);
    } else if (s->type == FR_SETTING_SIZE)
        snprintf(meta, sizeof(meta), s->percent ? "SIZE|N%%" : "SIZE");
    else if (s->type == FR_SETTING_FLOAT)
        snprintf(meta, sizeof(meta), "X");
    else
        snprintf(meta, sizeof(meta), "N");
    snprintf(buf, len, "%s %s", flag, meta);
}

/* "; 1..1024" for numbers: the bounds in --help. */
static void help_range(const struct fr_setting *s, char *buf, size_t len) {
    char lo[32], hi[32];
    switch (s->type) {
    case FR_SETTING_INT:
    case FR_SETTING_INT64:
        snprintf(buf, len, "; %.0f..%.0f", s->min, s->max);
        break;
    case FR_SETTING_FLOAT:
        snprintf(buf, len, "; %g..%g", s->min, s->max);
        break;
    case FR_SETTING_SIZE:
        format_size((size_t)s->min, lo, sizeof(lo));
        format_size((size_t)s->max, hi, sizeof(hi));
        snprintf(buf, len, "; %s..%s%s", lo, hi, s->percent ? " or 1%..100%" : "");
        break;
    default:
        buf[0] = 0;
        break;
    }
}

void fr_config_print_help(FILE *f) {
    fprintf(f, "Settings. Each is also FACEREC_<NAME> in the environment and `name = value` under its [section]\n"
               "in the --config file; a flag beats the environment, which beats the file, which beats the default.\n"
               "Sizes take K, M, G or T suffixes (powers of 1024). `facerec config` prints the result.\n\n");
    fprintf(f, "  %-32s %s\n", "--config FILE", "INI file read before the other flags (default $FACEREC_CONFIG)");
    for (int k = 0; sections[k]; k++) {
        fprintf(f, "\n[%s]\n", sections[k]);
        for (size_t i = 0; i < N_SETTINGS; i++) {
            const struct fr_setting *s = &settings[i];
            if (strcmp(s->section, sections[k])) continue;
            char left[160], text[768], range[96] = "", legacy[64] = "";
            help_flag(s, left, sizeof(left));
            help_range(s, range, sizeof(range));
            if (s->legacy)
                snprintf(legacy, sizeof(legacy), strchr(s->legacy, ' ') ? "; was \"%s\"" : "; was %s", s->legacy);
            snprintf(text, sizeof(text), "%s (default %s%s%s)", s->help, *s->def ? s->def : "empty", range, legacy);
            /* A flag too long for its column gets the help on the next line. */
            if (fprintf(f, "  %-32s", left) > 34)
                fprintf(f, "\n%*s", 35, "");
            else
                fputc(' ', f);
            wrap(f, text, 35, 118);
        }
    }
}

void fr_config_dump(const struct fr_config *cfg, FILE *f) {
    fprintf(f, "; facerec settings in effect, each with where it came from (facerec config).\n"
               "; Load them again with --config FILE.\n");
    for (int k = 0; sections[k]; k++) {
        fprintf(f, "\n[%s]\n", sections[k]);
        for (size_t i = 0; i < N_SETTINGS; i++) {
            const struct fr_setting *s = &settings[i];
            if (strcmp(s->section, sections[k])) continue;
            char value[1024], line[1200];
            fr_config_get(cfg, s->name, value, sizeof(value));
            const char *src = fr_config_source(cfg, s->name);
            int n = snprintf(line, sizeof(line), "%s = %s", s->name, value);
            /* inih takes lines of up to INI_MAX_LINE - 2 characters: a
             * source that would not fit goes on a line of its own, cut to
             * that length. */
            const int max = INI_MAX_LINE - 2;
            if ((n < 40 ? 40 : n) + 3 + (int)strlen(src) <= max)
                fprintf(f, "%-40s ; %s\n", line, src);
            else
                fprintf(f, "; %s: %.*s\n%s\n", s->name, max - 4 - (int)strlen(s->name), src, line);
        }
    }
}

/* ---- scheduler ---- */

struct fr_sched_params fr_config_sched_params(const struct fr_config *cfg) {
    struct fr_decode_params decode = fr_decode_default_params();
    decode.max_image_size = cfg->max_image_size;
    decode.max_bytes = cfg->max_image_bytes;
    decode.max_pixels = cfg->max_pixels;
    enum fr_device device = FR_DEVICE_AUTO;
    if (cfg->device && !strcmp(cfg->device, "cpu"))
        device = FR_DEVICE_CPU;
    else if (cfg->device && !strcmp(cfg->device, "cuda"))
        device = FR_DEVICE_CUDA;
    /* Start from the scheduler's defaults, so that a field without a row
     * in the table keeps its default rather than zero. */
    struct fr_sched_params p = fr_sched_default_params();
    p.models_dir = cfg->models;
    p.device = device;
    if (!cfg->precision || !fr_precision_parse(cfg->precision, &p.precision)) p.precision = FR_PRECISION_FP32;
    p.device_memory_limit = cfg->device_memory_percent > 0 ? 0 : cfg->device_memory_limit;
    p.device_memory_percent = cfg->device_memory_percent;
    p.host_memory_limit = cfg->host_memory_limit;
    p.threads = cfg->threads;
    p.max_workers = cfg->max_workers;
    p.max_batch_size = cfg->max_batch_size;
    p.preferred_batch_size = cfg->preferred_batch_size;
    p.max_queue_delay_ms = cfg->max_queue_delay_ms;
    p.batching = cfg->batching && !strcmp(cfg->batching, "static") ? FR_BATCHING_STATIC : FR_BATCHING_DYNAMIC;
    p.static_fill_timeout_ms = cfg->static_fill_timeout_ms;
    p.queue_capacity = cfg->queue_capacity;
    p.user_queue_capacity = cfg->user_queue_capacity;
    p.user_concurrency_limit = cfg->user_concurrency_limit;
    p.max_concurrent_images = cfg->max_concurrent_images;
    p.request_timeout_ms = cfg->request_timeout_ms;
    p.decode = decode;
    p.detector = cfg->detector && !strcmp(cfg->detector, "tiny") ? FR_DETECTOR_TINY : FR_DETECTOR_SSD;
    p.min_confidence = cfg->min_confidence;
    p.max_faces = cfg->max_faces;
    p.min_face_size = cfg->min_face_size;
    if (fr_tiles_parse(cfg->detect_tiles, &p.tiles, NULL, 0) != FR_OK) p.tiles.mode = FR_TILES_AUTO;
    p.warmup = cfg->warmup;
    p.metrics_top_users = cfg->metrics_top_users;
    return p;
}
