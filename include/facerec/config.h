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
 * Sizes accept suffixes (4096, 512K, 64MiB, 2G, 2GiB; K/M/G are powers of
 * 1024) and, for device_memory_limit, a percentage of the device ("80%").
 *
 * Ownership: struct fr_config owns its strings (fr_config_clear frees
 * them). Not thread-safe; configure before starting the server.
 *
 * Example:
 *     struct fr_config cfg;
 *     fr_config_init(&cfg);
 *     if (fr_config_load(&cfg, argc, argv, environ, &first_positional, err, sizeof err) != FR_OK) ...
 *     struct fr_sched_params sp = fr_config_sched_params(&cfg);
 *     fr_config_clear(&cfg);
 */
#pragma once

#include <stdio.h>

#include "facerec/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fr_config {
    /* server */
    char *listen;             /* "127.0.0.1:5001" */
    char *api_keys_file;      /* lines "key user"; empty = no file (every request is 401) */
    size_t max_body_bytes;    /* larger request bodies: 413 (64 MiB) */
    int32_t drain_timeout_ms; /* SIGTERM: finish in-flight work within this (10000) */
    int32_t http_threads;     /* connection threads of the HTTP server (64) */
    /* device and models */
    char *models;              /* model directory ("models") */
    char *device;              /* "auto", "cpu", "cuda" */
    size_t device_memory_limit; /* bytes; 0 = default (CPU 2 GiB; GPU 80% of the card) */
    int32_t device_memory_percent; /* set instead of the bytes when the value was "N%" */
    size_t host_memory_limit;  /* decoded images held at once (1 GiB) */
    int32_t threads;           /* compute threads (0 = all cores) */
    int32_t max_workers;       /* decode threads (2) */
    /* batching */
    int32_t max_batch_size;       /* 128 */
    int32_t preferred_batch_size; /* 64 */
    int32_t max_queue_delay_ms;   /* 5 */
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
    char *detector;          /* "ssd" or "tiny" */
    float min_confidence;    /* 0.5 */
    int32_t max_faces;       /* 100 */
    int32_t min_face_size;   /* 0 */
    float tolerance;         /* 0.6: verify's same-person distance */
    char *log_level;         /* "error", "warn", "info", "debug" */
};

enum fr_setting_type {
    FR_SETTING_INT,    /* int32_t */
    FR_SETTING_INT64,  /* int64_t */
    FR_SETTING_SIZE,   /* size_t, with K/M/G suffixes */
    FR_SETTING_FLOAT,  /* float */
    FR_SETTING_BOOL,   /* bool */
    FR_SETTING_STRING, /* char *, owned */
    FR_SETTING_ENUM,   /* char *, one of choices */
};

struct fr_setting {
    const char *name;     /* "max_batch_size": INI key, --max-batch-size, FACEREC_MAX_BATCH_SIZE */
    const char *section;  /* INI section: "server", "device", "batching", "admission", "pipeline" */
    enum fr_setting_type type;
    size_t offset;        /* offsetof(struct fr_config, field) */
    double min, max;      /* bounds for numbers */
    const char *def;      /* default, as text */
    const char *const *choices; /* FR_SETTING_ENUM: NULL-terminated */
    const char *legacy;   /* the old system's name ("GPU_BATCH_SIZE"), or NULL */
    const char *help;
};

/* The table, and its length. */
FR_API const struct fr_setting *fr_settings(size_t *count);
FR_API const struct fr_setting *fr_setting_find(const char *name);

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
 * index goes to *next. --config FILE is read first, wherever it stands.
 * Unknown flags are errors. */
FR_API enum fr_status fr_config_load_args(struct fr_config *cfg, int argc, char *const *argv, int *next, char *err,
                                          size_t errlen);
/* All of it in precedence order: defaults, file (--config or
 * FACEREC_CONFIG), environment, flags; then cross-setting checks
 * (preferred_batch_size <= max_batch_size, ...). */
FR_API enum fr_status fr_config_load(struct fr_config *cfg, int argc, char *const *argv, char *const *envp, int *next,
                                     char *err, size_t errlen);

/* `--help` text generated from the table. */
FR_API void fr_config_print_help(FILE *f);
/* The effective configuration as an INI file, each value with its source. */
FR_API void fr_config_dump(const struct fr_config *cfg, FILE *f);

/* Scheduler parameters from a configuration. */
FR_API struct fr_sched_params fr_config_sched_params(const struct fr_config *cfg);

#ifdef __cplusplus
}
#endif
