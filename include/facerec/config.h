/* facerec settings: one declarative table for the server's configuration.
 *
 * Every setting is a row (name, type, bounds, default, help, the name the
 * system we replace used for it). The table drives, in order of
 * precedence from lowest to highest: the defaults, the INI config file
 * (inih; `--config FILE` or FACEREC_CONFIG), FACEREC_<NAME> environment
 * variables, and command-line flags `--name VALUE` / `--name=VALUE`
 * (`--no-name` for booleans). It also drives `facerec serve --help` and
 * `facerec config`, which prints the effective configuration as an INI
 * file with where each value came from. An invalid value stops start-up
 * with a message naming the setting, the source and the bounds.
 *
 * Sizes accept suffixes (4096, 512K, 64MiB, 2G, 2GiB; K/M/G/T, with or
 * without B or iB, are all powers of 1024) and, for device_memory_limit, a
 * percentage of the device ("80%": of the card on CUDA, of physical RAM on
 * the CPU backend). Booleans accept true/false, yes/no, on/off and 1/0.
 *
 * Names: the INI key is the setting's name under its section
 * ("max_batch_size = 64" under [batching]); the variable is FACEREC_ and
 * the name in capitals; the flag is the name with dashes or underscores
 * (--max-batch-size, --max_batch_size). The old system's names (the
 * `legacy` column, e.g. GPU_BATCH_SIZE) are not accepted anywhere: they
 * appear in --help, and using one is an error that names its replacement.
 * An empty FACEREC_<NAME> counts as unset. Every key may appear once per
 * file; continuation lines are not supported, and a line holds at most
 * 198 characters (inih's limit).
 *
 * Ownership: struct fr_config owns its strings (fr_config_clear frees
 * them). Not thread-safe; configure before starting the server.
 *
 * Layer: the settings belong to the programs (src/app, the facerec_app
 * library that the CLI and `facerec serve` link), above the library
 * modules whose parameters they fill: fr_config_sched_params,
 * fr_config_http_params, fr_config_gallery_params and
 * fr_config_indexer_params turn one configuration into each module's
 * params. The table's defaults equal the modules' fr_*_default_params()
 * (tests/test-config-params.c holds them to it), and bounds a module checks
 * itself come from its header (FR_SCHED_MAX_BATCH, FR_GALLERY_MAX_K,
 * FR_IMAGE_MAX_DIMENSION, ...).
 *
 * Adding a setting: one row in src/app/config-table.c, which also names
 * the module's field it goes to (SCHED(max_batch_size)), plus the field it
 * sets here. The flag, the FACEREC_ variable, the INI key, --help, the
 * dump and the hand-over to the module all come from the row.
 *
 * Example:
 *     struct fr_config cfg;
 *     fr_config_init(&cfg);
 *     if (fr_config_load(&cfg, argc, argv, environ, &first_positional, err, sizeof err) != FR_OK) ...
 *     struct fr_sched_params sp = fr_config_sched_params(&cfg);
 *     fr_log_set_level(cfg.log_level);
 *     fr_config_clear(&cfg);
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "facerec/gallery.h"
#include "facerec/http.h"
#include "facerec/indexer.h"
#include "facerec/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room for this many settings in struct fr_config's source[]; the table
 * has fewer (config-table.c asserts it at compile time). */
#define FR_CONFIG_MAX_SETTINGS 64

struct fr_config {
    /* server */
    char *listen;             /* "127.0.0.1:5001" */
    char *api_keys_file;      /* lines "key user"; empty = no file (every request is 401) */
    size_t max_body_bytes;    /* larger request bodies: 413 (64 MiB) */
    int32_t drain_timeout_ms; /* SIGTERM: finish in-flight work within this (10000) */
    int32_t http_threads;     /* event-loop threads of the HTTP server (4) */
    int32_t http_workers;     /* threads for blocking HTTP work (4) */
    int32_t max_connections;  /* open connections served (4096) */
    int32_t max_connections_per_ip; /* per client address (256; 0 = no limit) */
    int32_t header_timeout_ms; /* headers must arrive within this (10000) */
    int32_t idle_timeout_ms;  /* idle keep-alive connections are closed after this (60000) */
    int32_t min_body_rate;    /* bytes/s a body must keep (1024; 0 = off) */
    int32_t body_rate_window_ms; /* window of min_body_rate (10000) */
    size_t max_body_memory;   /* bodies buffered at once (512 MiB) */
    char *data;               /* gallery data directory; empty = $XDG_DATA_HOME/facerec */
    int32_t metrics_top_users; /* users with their own /metrics series (16) */
    /* device and models */
    char *models;              /* model directory ("models") */
    enum fr_device device;     /* auto, cpu, cuda */
    enum fr_precision precision; /* fp32, fp16 (CUDA tensor cores), bf16, int8, auto (CPU) */
    size_t device_memory_limit; /* bytes; 0 = default (CPU 2 GiB; GPU 80% of the card) */
    int32_t device_memory_percent; /* set instead of the bytes when the value was "N%" */
    size_t host_memory_limit;  /* decoded images held at once (1 GiB) */
    int32_t threads;           /* compute threads (0 = all cores) */
    int32_t max_workers;       /* decode threads (2) */
    bool warmup;               /* run every net once at start (true) */
    /* batching */
    int32_t max_batch_size;       /* 128 */
    int32_t preferred_batch_size; /* 64 */
    int32_t max_queue_delay_ms;   /* 5 */
    enum fr_batching batching;    /* dynamic, or static (for comparison) */
    int32_t static_fill_timeout_ms; /* 100 */
    /* admission */
    int32_t queue_capacity;         /* 1024 */
    int32_t user_queue_capacity;    /* 256 */
    int32_t user_concurrency_limit; /* 16 */
    int32_t max_concurrent_images;  /* 16 */
    int32_t request_timeout_ms;     /* 30000 */
    /* images and faces */
    int32_t max_image_size;  /* 2048 */
    size_t max_image_bytes;  /* 50 MiB */
    int64_t max_pixels;      /* 100000000 */
    enum fr_detector detector; /* ssd or tiny */
    float min_confidence;    /* 0.5 */
    int32_t max_faces;       /* 100 */
    int32_t min_face_size;   /* 0 */
    int32_t detect_tiles;    /* FR_CONFIG_TILES(...) of auto, off or NxM; fr_config_tiles() decodes it */
    float tolerance;         /* 0.6: verify's same-person distance, recognize's "unknown" threshold */
    /* people gallery */
    bool search_int8;           /* int8 scan with an exact re-rank (false) */
    int32_t recognize_k;        /* recognize's default k (3) */
    int32_t cluster_min_faces;  /* 3 */
    float cluster_max_distance; /* 0.5 */
    /* the indexing queue */
    char *node_name;            /* "" = HOSTNAME-PID */
    int32_t index_workers;      /* 2; 0 = take no queued work */
    int32_t index_batch;        /* 8 */
    int32_t index_lease_ms;     /* 30000 */
    enum fr_log_level log_level; /* error, warn, info, debug */
    /* Where each value came from, by table index: NULL = the table's
     * default (string fields then point at the table's text and are not
     * owned), else an owned description ("flag --max-batch-size"). */
    char *source[FR_CONFIG_MAX_SETTINGS];
};

enum fr_setting_type {
    FR_SETTING_INT,    /* int32_t */
    FR_SETTING_INT64,  /* int64_t */
    FR_SETTING_SIZE,   /* size_t, with K/M/G suffixes */
    FR_SETTING_FLOAT,  /* float */
    FR_SETTING_BOOL,   /* bool */
    FR_SETTING_STRING, /* char *, owned */
    FR_SETTING_ENUM,   /* an int-sized enum field: the value of one of choices */
};

/* One name of an FR_SETTING_ENUM and the value stored for it (as redis'
 * configEnum): the text is parsed once, and consumers read the enum. */
struct fr_setting_choice {
    const char *name; /* "cuda"; matched without regard to case */
    int value;        /* FR_DEVICE_CUDA */
};

/* detect_tiles' stored value: mode, columns and rows in one int, so that
 * it is an enum like the others; fr_config_tiles() turns it back into the
 * struct the scheduler takes. */
#define FR_CONFIG_TILES(mode, cols, rows) ((int)(mode) | (int)(cols) << 4 | (int)(rows) << 8)

/* The module a setting is handed to by fr_config_*_params. */
enum fr_setting_module {
    FR_SETTING_APP = 0, /* none: the program's own (log_level, drain_timeout_ms), or converted by hand */
    FR_SETTING_SCHED,   /* struct fr_sched_params */
    FR_SETTING_HTTP,    /* struct fr_http_params */
    FR_SETTING_GALLERY, /* struct fr_gallery_params */
    FR_SETTING_INDEXER, /* struct fr_indexer_params */
};

struct fr_setting {
    const char *name;     /* "max_batch_size": INI key, --max-batch-size, FACEREC_MAX_BATCH_SIZE */
    const char *section;  /* INI section: "server", "device", "batching", "admission", "pipeline" */
    enum fr_setting_type type;
    size_t offset;        /* offsetof(struct fr_config, field) */
    double min, max;      /* bounds for numbers */
    const char *def;      /* default, as text (equal to the module's fr_*_default_params(); see above) */
    const struct fr_setting_choice *choices; /* FR_SETTING_ENUM: ends with a NULL name */
    const char *legacy;   /* the old system's name ("GPU_BATCH_SIZE"), or NULL */
    const char *help;
    const char *metavar;  /* the value in --help ("HOST:PORT"); NULL = by type */
    bool percent;         /* FR_SETTING_SIZE: "N%" (1..100) is also valid; it goes to device_memory_percent */
    /* Extra validation of a string, or NULL: returns NULL when the value
     * is fine, else what it must be ("HOST:PORT with a port in [1, 65535]"). */
    const char *(*check)(const char *value);
    /* Where the value goes: the module's params, the field's offset and
     * size there (a field of the row's type; strings are borrowed). */
    enum fr_setting_module module;
    size_t module_offset, module_size;
};

/* The table, and its length. */
FR_API const struct fr_setting *fr_settings(size_t *count);
FR_API const struct fr_setting *fr_setting_find(const char *name);
/* The row of a command-line flag: arg is "--max-batch-size" or
 * "--max_batch_size" and len its length up to any '='; "--no-NAME" finds a
 * boolean NAME and sets *negated. NULL when no setting has that flag
 * (--config included). The CLI's own parsers ask this to know whether a
 * flag takes the next argument. */
FR_API const struct fr_setting *fr_setting_find_flag(const char *arg, size_t len, bool *negated);

/* Defaults from the table. */
FR_API void fr_config_init(struct fr_config *cfg);
FR_API void fr_config_clear(struct fr_config *cfg);

/* Set one setting from text (source names where it came from, for
 * messages and the dump: "default", "file:/etc/facerec.ini:12",
 * "env FACEREC_X", "flag --x"). */
FR_API enum fr_status fr_config_set(struct fr_config *cfg, const char *name, const char *value, const char *source,
                                    char *err, size_t errlen);
/* INI file; unknown sections or keys are errors naming the line. */
FR_API enum fr_status fr_config_load_file(struct fr_config *cfg, const char *path, char *err, size_t errlen);
/* FACEREC_<NAME> variables of envp (NULL-terminated); unknown FACEREC_*
 * names are errors (FACEREC_CONFIG and FACEREC_MODELS excepted: the
 * latter sets models). */
FR_API enum fr_status fr_config_load_env(struct fr_config *cfg, char *const *envp, char *err, size_t errlen);
/* Flags from argv[1..argc-1]; stops at the first non-flag or "--", whose
 * index goes to *next (for "--", the index after it: *next is always the
 * first positional argument, argc when there is none). --config FILE is
 * read first, wherever it stands among the flags. Booleans take no
 * separate value: --warmup, --no-warmup, --warmup=false. Unknown flags are
 * errors (with a suggestion when a setting's name is close). */
FR_API enum fr_status fr_config_load_args(struct fr_config *cfg, int argc, char *const *argv, int *next, char *err,
                                          size_t errlen);
/* All of it in precedence order: defaults, file (--config or
 * FACEREC_CONFIG), environment, flags; then cross-setting checks
 * (preferred_batch_size <= max_batch_size, user_queue_capacity <=
 * queue_capacity). user_concurrency_limit may exceed max_concurrent_images
 * (the global limit then binds first). cfg must come from fr_config_init
 * (the defaults); on an error it may be partly updated, and still needs
 * fr_config_clear. */
FR_API enum fr_status fr_config_load(struct fr_config *cfg, int argc, char *const *argv, char *const *envp, int *next,
                                     char *err, size_t errlen);

/* One setting's effective value as text, in the form the parsers accept
 * (what the dump writes), into buf; FR_ERR_NOT_FOUND for an unknown name. */
FR_API enum fr_status fr_config_get(const struct fr_config *cfg, const char *name, char *buf, size_t len);
/* Where a setting's value came from: "default", or the source given to
 * fr_config_set; NULL for an unknown name. Valid until the setting changes. */
FR_API const char *fr_config_source(const struct fr_config *cfg, const char *name);
/* Splits "host:port" ("[::1]:5001" for IPv6; the brackets are dropped).
 * FR_ERR_INVALID unless the host is non-empty, fits hostlen and the port
 * is in [1, 65535]. */
FR_API enum fr_status fr_config_split_listen(const char *listen, char *host, size_t hostlen, int32_t *port);
/* A detect_tiles value as the scheduler's and the pipeline's struct. */
FR_API struct fr_tiles fr_config_tiles(int32_t detect_tiles);

/* `--help` text generated from the table. */
FR_API void fr_config_print_help(FILE *f);
/* The effective configuration as an INI file, each value with its source. */
FR_API void fr_config_dump(const struct fr_config *cfg, FILE *f);

/* Scheduler parameters from a configuration. models_dir points into cfg,
 * which must outlive them. A percentage of device memory goes to
 * device_memory_percent with device_memory_limit 0; the scheduler applies
 * it to the card on CUDA and to physical RAM on the CPU backend. */
FR_API struct fr_sched_params fr_config_sched_params(const struct fr_config *cfg);
/* The HTTP server's parameters (the gallery left NULL for the caller);
 * strings point into cfg. */
FR_API struct fr_http_params fr_config_http_params(const struct fr_config *cfg);
/* The gallery's parameters (data directory, tolerance, search_int8,
 * recognize_k, cluster_*): the one place `facerec serve` and the gallery
 * verbs turn settings into a gallery. The data directory points into cfg. */
FR_API struct fr_gallery_params fr_config_gallery_params(const struct fr_config *cfg);
/* The indexer's parameters (node_name, index_*); the node points into cfg. */
FR_API struct fr_indexer_params fr_config_indexer_params(const struct fr_config *cfg);

#ifdef __cplusplus
}
#endif
