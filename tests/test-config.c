#define _GNU_SOURCE
/* Settings: the table's defaults, every way to set each setting and their
 * precedence, messages for bad values, the dump's round trip and --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/config.h"

static char g_dir[256];
static char g_err[1024];

static const char *tmp_path(const char *name) {
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof(path[k]), "%s/%s", g_dir, name);
    return path[k];
}

static const char *write_file(const char *name, const char *text) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/fr-test-config-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd);
}

/* The value of a setting as text. */
static const char *get(const struct fr_config *cfg, const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    assert_int_equal(fr_config_get(cfg, name, buf[k], sizeof(buf[k])), FR_OK);
    return buf[k];
}

static void assert_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) fail_msg("'%s' lacks '%s'", haystack, needle);
}

/* fr_config_load on a fresh configuration; the status, message in g_err. */
static enum fr_status load(struct fr_config *cfg, char **argv, char **envp) {
    int argc = 0;
    while (argv[argc])
        argc++;
    fr_config_init(cfg);
    g_err[0] = 0;
    int next = -1;
    return fr_config_load(cfg, argc, argv, envp, &next, g_err, sizeof(g_err));
}

/* A value different from the default, valid for each setting. */
static const char *other_value(const struct fr_setting *s) {
    if (!strcmp(s->name, "listen")) return "0.0.0.0:8080";
    if (!strcmp(s->name, "preferred_batch_size")) return "32";
    if (!strcmp(s->name, "user_queue_capacity")) return "100";
    if (!strcmp(s->name, "max_batch_size")) return "100"; /* not below preferred_batch_size */
    if (!strcmp(s->name, "queue_capacity")) return "300"; /* not below user_queue_capacity */
    /* Connection settings whose lower bounds are above 9. */
    if (!strcmp(s->name, "max_connections")) return "900";
    if (!strcmp(s->name, "header_timeout_ms")) return "2500";
    if (!strcmp(s->name, "idle_timeout_ms")) return "5000";
    if (!strcmp(s->name, "body_rate_window_ms")) return "3000";
    switch (s->type) {
    case FR_SETTING_INT:
    case FR_SETTING_INT64:
        return s->min == 0 ? "7" : "9";
    case FR_SETTING_SIZE:
        return "20MiB";
    case FR_SETTING_FLOAT:
        return "0.25";
    case FR_SETTING_BOOL:
        return strcmp(s->def, "false") ? "false" : "true";
    case FR_SETTING_STRING:
        return "/srv/x";
    case FR_SETTING_ENUM:
        return s->choices[1].name;
    }
    return NULL;
}

static void test_defaults(void **state) {
    (void)state;
    size_t n;
    const struct fr_setting *t = fr_settings(&n);
    assert_true(n >= 29 && n <= FR_CONFIG_MAX_SETTINGS);
    struct fr_config cfg;
    fr_config_init(&cfg);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(fr_setting_find(t[i].name), &t[i]);
        assert_string_equal(get(&cfg, t[i].name), t[i].def);
        assert_string_equal(fr_config_source(&cfg, t[i].name), "default");
        assert_non_null(t[i].help);
    }
    /* The header's documented defaults, field by field. */
    assert_string_equal(cfg.listen, "127.0.0.1:5001");
    assert_string_equal(cfg.api_keys_file, "");
    assert_int_equal(cfg.max_body_bytes, 64u << 20);
    assert_int_equal(cfg.drain_timeout_ms, 10000);
    assert_int_equal(cfg.http_threads, 4);
    assert_int_equal(cfg.http_workers, 4);
    assert_int_equal(cfg.max_connections, 4096);
    assert_int_equal(cfg.max_connections_per_ip, 256);
    assert_int_equal(cfg.header_timeout_ms, 10000);
    assert_int_equal(cfg.idle_timeout_ms, 60000);
    assert_int_equal(cfg.min_body_rate, 1024);
    assert_int_equal(cfg.body_rate_window_ms, 10000);
    assert_int_equal(cfg.max_body_memory, 512u << 20);
    assert_string_equal(cfg.models, "models");
    assert_int_equal(cfg.device, FR_DEVICE_AUTO);
    assert_int_equal(cfg.precision, FR_PRECISION_FP32);
    assert_int_equal(cfg.batching, FR_BATCHING_DYNAMIC);
    assert_int_equal(cfg.detect_tiles, FR_CONFIG_TILES(FR_TILES_AUTO, 0, 0));
    assert_int_equal(cfg.device_memory_limit, 0);
    assert_int_equal(cfg.device_memory_percent, 0);
    assert_int_equal(cfg.host_memory_limit, 1u << 30);
    assert_int_equal(cfg.threads, 0);
    assert_int_equal(cfg.max_workers, 2);
    assert_true(cfg.warmup);
    assert_int_equal(cfg.max_batch_size, 128);
    assert_int_equal(cfg.preferred_batch_size, 64);
    assert_int_equal(cfg.max_queue_delay_ms, 5);
    assert_int_equal(cfg.queue_capacity, 1024);
    assert_int_equal(cfg.user_queue_capacity, 256);
    assert_int_equal(cfg.user_concurrency_limit, 16);
    assert_int_equal(cfg.max_concurrent_images, 16);
    assert_int_equal(cfg.request_timeout_ms, 30000);
    assert_int_equal(cfg.max_image_size, 2048);
    assert_int_equal(cfg.max_image_bytes, 50u << 20);
    assert_int_equal(cfg.max_pixels, 100000000);
    assert_int_equal(cfg.detector, FR_DETECTOR_SSD);
    assert_float_equal(cfg.min_confidence, 0.5, 1e-7);
    assert_int_equal(cfg.max_faces, 100);
    assert_int_equal(cfg.min_face_size, 0);
    assert_float_equal(cfg.tolerance, 0.6, 1e-7);
    assert_false(cfg.search_int8);
    assert_int_equal(cfg.recognize_k, 3);
    assert_int_equal(cfg.cluster_min_faces, 3);
    assert_float_equal(cfg.cluster_max_distance, 0.5, 1e-7);
    assert_string_equal(fr_setting_find("search_int8")->section, "gallery");
    assert_non_null(strstr(fr_setting_find("search_int8")->help, "re-rank"));
    assert_int_equal(cfg.log_level, FR_LOG_INFO);
    /* The legacy names of the system we replace. */
    static const char *const legacy[][2] = {
        {"max_batch_size", "GPU_BATCH_SIZE"},
        {"preferred_batch_size", "DYNAMIC_BATCH_SIZE"},
        {"max_image_size", "MAX_IMAGE_SIZE"},
        {"max_concurrent_images", "MAX_CONCURRENT_IMAGES"},
        {"max_workers", "MAX_WORKERS"},
        {"device_memory_limit", "GPU memory limit"},
        {"user_concurrency_limit", "userConcurrencyLimit"},
        {"max_queue_delay_ms", "processingDelay"},
    };
    for (size_t k = 0; k < sizeof(legacy) / sizeof(legacy[0]); k++)
        assert_string_equal(fr_setting_find(legacy[k][0])->legacy, legacy[k][1]);
    fr_config_clear(&cfg);
    fr_config_clear(NULL);
}

/* Every setting from the file, the environment and a flag: the highest
 * present source wins, and the dump names it. */
static void test_every_setting_every_source(void **state) {
    (void)state;
    size_t n;
    const struct fr_setting *t = fr_settings(&n);
    for (size_t i = 0; i < n; i++) {
        const struct fr_setting *s = &t[i];
        const char *v = other_value(s);
        char ini[512], env[160], flag[96], flag_alt[200], envname[96];
        snprintf(envname, sizeof(envname), "FACEREC_");
        for (size_t k = 0; s->name[k]; k++)
            envname[8 + k] = (char)(s->name[k] - 32 * (s->name[k] >= 'a'));
        envname[8 + strlen(s->name)] = 0;
        for (int mask = 1; mask < 8; mask++) {
            /* bit 0: file, bit 1: environment, bit 2: flag; each source
             * gives the value a different spelling only where it can. */
            snprintf(ini, sizeof(ini), "[%s]\n%s = %s\n", s->section, s->name, v);
            const char *path = write_file("every.ini", ini);
            char config_flag[600];
            snprintf(config_flag, sizeof(config_flag), "--config=%s", path);
            snprintf(env, sizeof(env), "%s=%s", envname, v);
            snprintf(flag, sizeof(flag), "--%s", s->name);
            for (char *p = flag + 2; *p; p++)
                if (*p == '_' && (i % 2)) *p = '-'; /* dashes and underscores both work */
            snprintf(flag_alt, sizeof(flag_alt), "%s=%s", flag, v);
            char *argv[8] = {"prog"}, *envp[4] = {"PATH=/bin", NULL};
            int a = 1;
            if (mask & 1) argv[a++] = config_flag;
            if (mask & 2) envp[1] = env;
            if (mask & 4) argv[a++] = flag_alt;
            argv[a++] = "positional";
            argv[a] = NULL;
            struct fr_config cfg;
            int argc = a, next = -1;
            fr_config_init(&cfg);
            if (fr_config_load(&cfg, argc, argv, envp, &next, g_err, sizeof(g_err)) != FR_OK)
                fail_msg("%s mask %d: %s", s->name, mask, g_err);
            assert_int_equal(next, argc - 1);
            assert_string_not_equal(v, s->def);
            assert_string_equal(get(&cfg, s->name), v);
            const char *src = fr_config_source(&cfg, s->name);
            char want_src[200];
            snprintf(want_src, sizeof(want_src), "flag %s", flag);
            if (mask & 4)
                assert_string_equal(src, want_src);
            else if (mask & 2)
                assert_true(!strncmp(src, "env FACEREC_", 12));
            else
                assert_true(!strncmp(src, "file:", 5) && strstr(src, "every.ini:2"));
            /* The others stay at their defaults. */
            for (size_t j = 0; j < n; j++)
                if (j != i) assert_string_equal(fr_config_source(&cfg, t[j].name), "default");
            fr_config_clear(&cfg);
        }
    }
}

/* Same setting, three sources, three values: flag > env > file > default. */
static void test_precedence(void **state) {
    (void)state;
    const char *path = write_file("prec.ini", "[batching]\nmax_batch_size = 100\nmax_queue_delay_ms = 7\n"
                                              "[admission]\nqueue_capacity = 500\n");
    char cfgflag[600];
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
    char *argv[] = {"prog", "--max-batch-size", "300", cfgflag, NULL};
    char *envp[] = {"FACEREC_MAX_BATCH_SIZE=200", "FACEREC_MAX_QUEUE_DELAY_MS=8", "FACEREC_PREFERRED_BATCH_SIZE=4",
                    NULL};
    struct fr_config cfg;
    if (load(&cfg, argv, envp) != FR_OK) fail_msg("%s", g_err);
    assert_int_equal(cfg.max_batch_size, 300);      /* flag */
    assert_int_equal(cfg.max_queue_delay_ms, 8);    /* env over file */
    assert_int_equal(cfg.queue_capacity, 500);      /* file */
    assert_int_equal(cfg.preferred_batch_size, 4);  /* env */
    assert_int_equal(cfg.user_queue_capacity, 256); /* default */
    assert_string_equal(fr_config_source(&cfg, "max_batch_size"), "flag --max-batch-size");
    assert_string_equal(fr_config_source(&cfg, "max_queue_delay_ms"), "env FACEREC_MAX_QUEUE_DELAY_MS");
    char want[600];
    snprintf(want, sizeof(want), "file:%s:5", path);
    assert_string_equal(fr_config_source(&cfg, "queue_capacity"), want);
    fr_config_clear(&cfg);

    /* FACEREC_CONFIG names the file when there is no --config; --config wins. */
    const char *other = write_file("other.ini", "[admission]\nqueue_capacity = 600\n");
    char envcfg[600];
    snprintf(envcfg, sizeof(envcfg), "FACEREC_CONFIG=%s", path);
    char *envp2[] = {envcfg, "FACEREC_TESTDATA=/somewhere", NULL};
    char *argv2[] = {"prog", NULL};
    assert_int_equal(load(&cfg, argv2, envp2), FR_OK);
    assert_int_equal(cfg.queue_capacity, 500);
    fr_config_clear(&cfg);
    char otherflag[600];
    snprintf(otherflag, sizeof(otherflag), "--config=%s", other);
    char *argv3[] = {"prog", otherflag, NULL};
    assert_int_equal(load(&cfg, argv3, envp2), FR_OK);
    assert_int_equal(cfg.queue_capacity, 600);
    assert_int_equal(cfg.max_batch_size, 128);
    fr_config_clear(&cfg);
}

/* --config is read before the other flags wherever it stands, so a flag
 * before it still beats the file. */
static void test_config_flag_first(void **state) {
    (void)state;
    const char *path = write_file("first.ini", "[pipeline]\ndetector = tiny\nmax_faces = 5\n");
    char *argv[] = {"prog", "--max-faces", "7", "--config", (char *)path, "--min-face-size=3", "img.jpg", NULL};
    struct fr_config cfg;
    fr_config_init(&cfg);
    int next = -1;
    assert_int_equal(fr_config_load_args(&cfg, 7, argv, &next, g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(next, 6);
    assert_int_equal(cfg.max_faces, 7);
    assert_int_equal(cfg.detector, FR_DETECTOR_TINY);
    assert_int_equal(cfg.min_face_size, 3);
    fr_config_clear(&cfg);

    /* "--" ends the flags; *next is the argument after it. */
    char *argv2[] = {"prog", "--threads=3", "--", "--max-faces", NULL};
    fr_config_init(&cfg);
    assert_int_equal(fr_config_load_args(&cfg, 4, argv2, &next, g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(next, 3);
    assert_int_equal(cfg.threads, 3);
    assert_int_equal(cfg.max_faces, 100);
    fr_config_clear(&cfg);

    /* A missing file is an I/O error naming it. */
    char *argv3[] = {"prog", "--config", "/nonexistent/facerec.ini", NULL};
    assert_int_equal(load(&cfg, argv3, NULL), FR_ERR_IO);
    assert_contains(g_err, "/nonexistent/facerec.ini");
    fr_config_clear(&cfg);
}

static void expect_set_error(const char *name, const char *value, const char *msg) {
    struct fr_config cfg;
    fr_config_init(&cfg);
    g_err[0] = 0;
    assert_int_equal(fr_config_set(&cfg, name, value, "flag --x", g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_contains(g_err, msg);
    assert_string_equal(fr_config_source(&cfg, name), "default"); /* unchanged */
    fr_config_clear(&cfg);
}

static void test_bounds_and_types(void **state) {
    (void)state;
    struct fr_config cfg;
    char *argv[] = {"prog", "--max-batch-size", "5000", NULL};
    assert_int_equal(load(&cfg, argv, NULL), FR_ERR_INVALID);
    assert_string_equal(g_err, "max_batch_size = 5000 (flag --max-batch-size): must be an integer in [1, 4096]");
    fr_config_clear(&cfg);

    expect_set_error("max_batch_size", "0", "in [1, 4096]");
    expect_set_error("preferred_batch_size", "4097", "in [1, 4096]");
    expect_set_error("max_batch_size", "12abc", "max_batch_size = 12abc (flag --x): must be an integer");
    expect_set_error("max_batch_size", "", "must be an integer");
    expect_set_error("max_batch_size", "99999999999999999999", "must be an integer");
    expect_set_error("max_queue_delay_ms", "10001", "in [0, 10000]");
    expect_set_error("max_queue_delay_ms", "-1", "in [0, 10000]");
    expect_set_error("max_image_size", "65536", "in [0, 65535]");
    expect_set_error("max_pixels", "0", "max_pixels = 0");
    expect_set_error("min_confidence", "1.5", "must be a number in [0.01, 0.99]");
    expect_set_error("min_confidence", "nan", "must be a number");
    expect_set_error("tolerance", "abc", "tolerance = abc");
    expect_set_error("warmup", "maybe", "must be true or false");
    expect_set_error("device", "tpu", "must be one of auto, cpu, cuda");
    expect_set_error("detector", "yolo", "one of ssd, tiny");
    expect_set_error("log_level", "verbose", "one of error, warn, info, debug");
    expect_set_error("listen", "localhost", "HOST:PORT");
    expect_set_error("listen", "127.0.0.1:65536", "port in [0, 65535]");
    expect_set_error("listen", "127.0.0.1:70000", "HOST:PORT");
    expect_set_error("listen", ":5001", "HOST:PORT");
    expect_set_error("listen", "::1:5001", "HOST:PORT");
    expect_set_error("models", "", "non-empty");
    expect_set_error("max_body_bytes", "12Q", "a size in [1KiB, 4GiB]");
    expect_set_error("max_body_bytes", "5GiB", "a size in [1KiB, 4GiB]");
    expect_set_error("max_body_bytes", "-1", "a size");
    expect_set_error("host_memory_limit", "1MiB", "[16MiB, 1TiB]");
    expect_set_error("max_image_bytes", "50%", "a size"); /* only device memory takes a percentage */
    expect_set_error("device_memory_limit", "0%", "or a percentage from 1% to 100%");
    expect_set_error("device_memory_limit", "101%", "percentage");
    expect_set_error("device_memory_limit", "x%", "percentage");
    expect_set_error("device_memory_limit", "99999999999999999999", "a size");
    assert_int_equal(fr_config_set(&cfg, "no_such", "1", NULL, g_err, sizeof(g_err)), FR_ERR_INVALID);
    assert_contains(g_err, "no_such");

    /* Values at the bounds are fine. */
    fr_config_init(&cfg);
    assert_int_equal(fr_config_set(&cfg, "max_batch_size", "1024", "t", NULL, 0), FR_OK);
    assert_int_equal(fr_config_set(&cfg, "max_queue_delay_ms", "0", "t", NULL, 0), FR_OK);
    assert_int_equal(fr_config_set(&cfg, "max_image_size", "0", "t", NULL, 0), FR_OK);
    assert_int_equal(fr_config_set(&cfg, "min_confidence", "0.99", "t", NULL, 0), FR_OK);
    assert_int_equal(fr_config_set(&cfg, "max_pixels", "10000000000", "t", NULL, 0), FR_OK);
    assert_int_equal(cfg.max_pixels, 10000000000LL);
    /* Port 0 asks the kernel for a free port; the server logs the one it got. */
    assert_int_equal(fr_config_set(&cfg, "listen", "127.0.0.1:0", "t", NULL, 0), FR_OK);
    assert_int_equal(fr_config_set(&cfg, "listen", "[::1]:65535", "t", NULL, 0), FR_OK);
    char host[64];
    int32_t port;
    assert_int_equal(fr_config_split_listen(cfg.listen, host, sizeof(host), &port), FR_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
    assert_int_equal(fr_config_split_listen("0.0.0.0:5001", host, sizeof(host), &port), FR_OK);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 5001);
    assert_int_equal(fr_config_split_listen("averyveryverylonghostname:1", host, 8, &port), FR_ERR_INVALID);
    /* Enums are case-insensitive and stored in the table's spelling. */
    assert_int_equal(fr_config_set(&cfg, "device", "CPU", "t", NULL, 0), FR_OK);
    assert_int_equal(cfg.device, FR_DEVICE_CPU);
    assert_int_equal(fr_config_set(&cfg, "log_level", "debug", "t", NULL, 0), FR_OK);
    assert_int_equal(cfg.log_level, FR_LOG_DEBUG);
    fr_config_clear(&cfg);
}

static void test_sizes_and_percent(void **state) {
    (void)state;
    static const struct {
        const char *text;
        size_t bytes;
        const char *shown;
    } sizes[] = {
        {"4096", 4096, "4KiB"},
        {"1536", 1536, "1536"},
        {"512K", 512u << 10, "512KiB"},
        {"512k", 512u << 10, "512KiB"},
        {"512KB", 512u << 10, "512KiB"},
        {"512KiB", 512u << 10, "512KiB"},
        {"64M", 64u << 20, "64MiB"},
        {"64MB", 64u << 20, "64MiB"},
        {"64MiB", 64u << 20, "64MiB"},
        {"64 MiB", 64u << 20, "64MiB"},
        {"2G", (size_t)2 << 30, "2GiB"},
        {"2GiB", (size_t)2 << 30, "2GiB"},
        {"3gb", (size_t)3 << 30, "3GiB"},
        {"1T", (size_t)1 << 40, "1TiB"},
        {"1025MiB", (size_t)1025 << 20, "1025MiB"},
        {"0", 0, "0"},
    };
    struct fr_config cfg;
    fr_config_init(&cfg);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        if (fr_config_set(&cfg, "device_memory_limit", sizes[k].text, "t", g_err, sizeof(g_err)) != FR_OK)
            fail_msg("%s: %s", sizes[k].text, g_err);
        assert_int_equal(cfg.device_memory_limit, sizes[k].bytes);
        assert_int_equal(cfg.device_memory_percent, 0);
        assert_string_equal(get(&cfg, "device_memory_limit"), sizes[k].shown);
    }
    assert_int_equal(fr_config_set(&cfg, "device_memory_limit", "80%", "t", NULL, 0), FR_OK);
    assert_int_equal(cfg.device_memory_percent, 80);
    assert_int_equal(cfg.device_memory_limit, 0);
    assert_string_equal(get(&cfg, "device_memory_limit"), "80%");
    struct fr_sched_params sp = fr_config_sched_params(&cfg);
    assert_int_equal(sp.device_memory_percent, 80);
    assert_int_equal(sp.device_memory_limit, 0);
    /* Bytes replace a percentage. */
    assert_int_equal(fr_config_set(&cfg, "device_memory_limit", "3GiB", "t", NULL, 0), FR_OK);
    assert_int_equal(cfg.device_memory_percent, 0);
    sp = fr_config_sched_params(&cfg);
    assert_int_equal(sp.device_memory_limit, (size_t)3 << 30);
    assert_int_equal(sp.device_memory_percent, 0);
    assert_int_equal(fr_config_set(&cfg, "device_memory_limit", "100%", "t", NULL, 0), FR_OK);
    assert_int_equal(fr_config_set(&cfg, "device_memory_limit", "1%", "t", NULL, 0), FR_OK);
    assert_int_equal(cfg.device_memory_percent, 1);
    fr_config_clear(&cfg);
}

static void test_bools(void **state) {
    (void)state;
    static const struct {
        const char *text;
        bool v;
    } forms[] = {
        {"true", true},   {"TRUE", true}, {"yes", true},  {"on", true}, {"1", true},
        {"false", false}, {"No", false},  {"off", false}, {"0", false},
    };
    struct fr_config cfg;
    fr_config_init(&cfg);
    for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
        cfg.warmup = !forms[k].v;
        assert_int_equal(fr_config_set(&cfg, "warmup", forms[k].text, "t", NULL, 0), FR_OK);
        assert_int_equal(cfg.warmup, forms[k].v);
    }
    fr_config_clear(&cfg);
    char *off[] = {"prog", "--no-warmup", NULL};
    assert_int_equal(load(&cfg, off, NULL), FR_OK);
    assert_false(cfg.warmup);
    assert_string_equal(fr_config_source(&cfg, "warmup"), "flag --no-warmup");
    fr_config_clear(&cfg);
    char *off2[] = {"prog", "--no_warmup", NULL};
    assert_int_equal(load(&cfg, off2, NULL), FR_OK);
    assert_false(cfg.warmup);
    fr_config_clear(&cfg);
    /* A bare boolean flag is true and does not eat the next argument. */
    char *envp[] = {"FACEREC_WARMUP=off", NULL};
    char *on[] = {"prog", "--warmup", "file.jpg", NULL};
    int next = 0;
    fr_config_init(&cfg);
    assert_int_equal(fr_config_load(&cfg, 3, on, envp, &next, g_err, sizeof(g_err)), FR_OK);
    assert_true(cfg.warmup);
    assert_int_equal(next, 2);
    fr_config_clear(&cfg);
    char *eq[] = {"prog", "--warmup=no", NULL};
    assert_int_equal(load(&cfg, eq, NULL), FR_OK);
    assert_false(cfg.warmup);
    fr_config_clear(&cfg);
    /* search_int8 from every source: flag, bare flag, environment. */
    char *i8[] = {"prog", "--search-int8=true", NULL};
    assert_int_equal(load(&cfg, i8, NULL), FR_OK);
    assert_true(cfg.search_int8);
    assert_string_equal(fr_config_source(&cfg, "search_int8"), "flag --search-int8");
    fr_config_clear(&cfg);
    char *i8bare[] = {"prog", "--search-int8", NULL};
    assert_int_equal(load(&cfg, i8bare, NULL), FR_OK);
    assert_true(cfg.search_int8);
    fr_config_clear(&cfg);
    char *i8env[] = {"FACEREC_SEARCH_INT8=yes", NULL};
    char *none[] = {"prog", NULL};
    assert_int_equal(load(&cfg, none, i8env), FR_OK);
    assert_true(cfg.search_int8);
    fr_config_clear(&cfg);
    char *i8bad[] = {"prog", "--search-int8=maybe", NULL};
    assert_int_equal(load(&cfg, i8bad, NULL), FR_ERR_INVALID);
    assert_contains(g_err, "search_int8");
    fr_config_clear(&cfg);
    char *bad[] = {"prog", "--no-warmup=yes", NULL};
    assert_int_equal(load(&cfg, bad, NULL), FR_ERR_INVALID);
    assert_contains(g_err, "--no-warmup takes no value");
    fr_config_clear(&cfg);
    /* --no- is only for booleans. */
    char *notbool[] = {"prog", "--no-threads", NULL};
    assert_int_equal(load(&cfg, notbool, NULL), FR_ERR_INVALID);
    assert_contains(g_err, "unknown flag --no-threads");
    fr_config_clear(&cfg);
}

static void test_unknown_names(void **state) {
    (void)state;
    struct fr_config cfg;
    char *flag[] = {"prog", "--max-batch-sise", "4", NULL};
    assert_int_equal(load(&cfg, flag, NULL), FR_ERR_INVALID);
    assert_string_equal(g_err, "unknown flag --max-batch-sise (did you mean --max-batch-size?)");
    fr_config_clear(&cfg);
    char *legacy[] = {"prog", "--GPU_BATCH_SIZE=4", NULL};
    assert_int_equal(load(&cfg, legacy, NULL), FR_ERR_INVALID);
    assert_contains(g_err, "GPU_BATCH_SIZE is the old system's name; use --max-batch-size");
    fr_config_clear(&cfg);
    char *single[] = {"prog", "-x", NULL};
    assert_int_equal(load(&cfg, single, NULL), FR_ERR_INVALID);
    assert_contains(g_err, "unknown flag -x");
    fr_config_clear(&cfg);
    char *novalue[] = {"prog", "--threads", NULL};
    assert_int_equal(load(&cfg, novalue, NULL), FR_ERR_INVALID);
    assert_contains(g_err, "--threads needs a value");
    fr_config_clear(&cfg);

    char *argv[] = {"prog", NULL};
    char *env[] = {"FACEREC_MAX_BATCH_SIZ=4", NULL};
    assert_int_equal(load(&cfg, argv, env), FR_ERR_INVALID);
    assert_string_equal(
        g_err, "FACEREC_MAX_BATCH_SIZ: unknown setting in the environment (did you mean FACEREC_MAX_BATCH_SIZE?)");
    fr_config_clear(&cfg);
    char *env2[] = {"FACEREC_PROCESSINGDELAY=4", NULL};
    assert_int_equal(load(&cfg, argv, env2), FR_ERR_INVALID);
    assert_contains(g_err, "processingDelay is the old system's name; use FACEREC_MAX_QUEUE_DELAY_MS");
    fr_config_clear(&cfg);
    char *env3[] = {"FACEREC_THREADS=", "FACEREC_TESTDATA=/x", "OTHER_MAX_BATCH_SIZE=9", "FACEREC_threads=2", NULL};
    assert_int_equal(load(&cfg, argv, env3), FR_ERR_INVALID); /* lower case is not a setting's variable */
    assert_contains(g_err, "FACEREC_threads");
    fr_config_clear(&cfg);
    env3[3] = NULL;
    assert_int_equal(load(&cfg, argv, env3), FR_OK); /* empty means unset; the others are not settings */
    assert_string_equal(fr_config_source(&cfg, "threads"), "default");
    fr_config_clear(&cfg);
    char *env4[] = {"FACEREC_MODELS=/opt/models", NULL};
    assert_int_equal(load(&cfg, argv, env4), FR_OK);
    assert_string_equal(cfg.models, "/opt/models");
    fr_config_clear(&cfg);
}

/* msg follows the file's path when path_first, else appears anywhere. */
static void expect_file_error(const char *text, enum fr_status st, bool path_first, const char *msg) {
    const char *path = write_file("bad.ini", text);
    struct fr_config cfg;
    fr_config_init(&cfg);
    g_err[0] = 0;
    assert_int_equal(fr_config_load_file(&cfg, path, g_err, sizeof(g_err)), st);
    char want[1024];
    snprintf(want, sizeof(want), "%s%s", path_first ? path : "", msg);
    assert_contains(g_err, want);
    fr_config_clear(&cfg);
}

static void test_file_errors(void **state) {
    (void)state;
    expect_file_error("[batching]\nmax_batch_size = 4\n\nfrobnicate = 1\n", FR_ERR_INVALID, true,
                      ":4: unknown key 'frobnicate'");
    expect_file_error("; comment\n[nosuch]\nmax_batch_size = 4\n", FR_ERR_INVALID, true,
                      ":3: unknown section [nosuch] (max_batch_size belongs in [batching])");
    expect_file_error("[server]\nmax_batch_size = 4\n", FR_ERR_INVALID, true,
                      ":2: max_batch_size belongs in [batching], not [server]");
    expect_file_error("max_batch_size = 4\n", FR_ERR_INVALID, true, ":1: max_batch_size must be under [batching]");
    expect_file_error("[batching]\nGPU_BATCH_SIZE = 4\n", FR_ERR_INVALID, true,
                      ":2: unknown key 'GPU_BATCH_SIZE' (GPU_BATCH_SIZE is the old system's name; use max_batch_size)");
    expect_file_error("[batching]\nmax_batch_size = 4\nmax_batch_size = 5\n", FR_ERR_INVALID, true,
                      ":3: max_batch_size is already set on line 2");
    expect_file_error("[batching]\nmax_batch_size = 4\n  8\n", FR_ERR_INVALID, true, ":3: indented line");
    expect_file_error("[batching]\nthis is not ini\nmax_batch_size = 5000\n", FR_ERR_INVALID, true,
                      ":2: expected [section] or key = value");
    /* The first error wins, whichever kind it is. */
    expect_file_error("[batching]\nmax_batch_size = 5000\nthis is not ini\n", FR_ERR_INVALID, false,
                      "max_batch_size = 5000 (file:");
    expect_file_error("[batching]\nmax_batch_size = 5000\n", FR_ERR_INVALID, false,
                      "bad.ini:2): must be an integer in [1, 4096]");
    char longline[400];
    snprintf(longline, sizeof(longline), "[device]\nmodels = /%0250d\nthreads = 1\n", 0);
    expect_file_error(longline, FR_ERR_INVALID, true, ":2: line longer than 198 characters");

    /* Comments, blank lines, dashes in keys and a last line without a newline are fine. */
    const char *ok = write_file("ok.ini", "# top\n\n[pipeline]\n; note\nmax-faces = 3 ; inline\n[batching]\n"
                                          "max_batch_size=9");
    struct fr_config cfg;
    fr_config_init(&cfg);
    assert_int_equal(fr_config_load_file(&cfg, ok, g_err, sizeof(g_err)), FR_OK);
    assert_int_equal(cfg.max_faces, 3);
    assert_int_equal(cfg.max_batch_size, 9);
    fr_config_clear(&cfg);
}

static void test_cross_checks(void **state) {
    (void)state;
    struct fr_config cfg;
    char *argv[] = {"prog", "--preferred-batch-size=200", NULL};
    assert_int_equal(load(&cfg, argv, NULL), FR_ERR_INVALID);
    assert_string_equal(g_err, "preferred_batch_size = 200 (flag --preferred-batch-size) must not exceed "
                               "max_batch_size = 128 (default)");
    fr_config_clear(&cfg);
    char *argv2[] = {"prog", "--preferred-batch-size=200", "--max-batch-size=200", NULL};
    assert_int_equal(load(&cfg, argv2, NULL), FR_OK);
    fr_config_clear(&cfg);
    char *env[] = {"FACEREC_QUEUE_CAPACITY=100", NULL};
    char *none[] = {"prog", NULL};
    assert_int_equal(load(&cfg, none, env), FR_ERR_INVALID);
    assert_contains(g_err, "user_queue_capacity = 256 (default) must not exceed queue_capacity = 100");
    fr_config_clear(&cfg);
    /* A user may be allowed more in flight than everyone together. */
    char *argv3[] = {"prog", "--user-concurrency-limit=64", "--max-concurrent-images=8", NULL};
    assert_int_equal(load(&cfg, argv3, NULL), FR_OK);
    fr_config_clear(&cfg);
}

/* Dump a configuration with every setting changed, load the dump into a
 * fresh one: every value comes back. */
static void test_dump_round_trip(void **state) {
    (void)state;
    size_t n;
    const struct fr_setting *t = fr_settings(&n);
    for (int variant = 0; variant < 3; variant++) {
        struct fr_config a, b;
        fr_config_init(&a);
        for (size_t i = 0; variant > 0 && i < n; i++) {
            const char *v = other_value(&t[i]);
            if (variant == 2 && !strcmp(t[i].name, "device_memory_limit")) v = "75%";
            if (variant == 2 && !strcmp(t[i].name, "min_confidence")) v = "0.123456789";
            if (variant == 2 && !strcmp(t[i].name, "max_body_bytes")) v = "1000001";
            if (fr_config_set(&a, t[i].name, v, "test", g_err, sizeof(g_err)) != FR_OK) fail_msg("%s", g_err);
        }
        const char *path = tmp_path("dump.ini");
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fr_config_dump(&a, f);
        fclose(f);
        fr_config_init(&b);
        if (fr_config_load_file(&b, path, g_err, sizeof(g_err)) != FR_OK) fail_msg("variant %d: %s", variant, g_err);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(get(&a, t[i].name), get(&b, t[i].name));
        assert_int_equal(a.device_memory_percent, b.device_memory_percent);
        assert_true(a.min_confidence == b.min_confidence);
        assert_true(a.tolerance == b.tolerance);
        assert_int_equal(a.max_body_bytes, b.max_body_bytes);
        /* Sections, and the source of each value. */
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        fr_config_dump(&a, m);
        fclose(m);
        assert_contains(text, "[server]\n");
        assert_contains(text, "[admission]\n");
        assert_contains(text, variant ? "; test\n" : "; default\n");
        free(text);
        fr_config_clear(&a);
        fr_config_clear(&b);
    }

    /* A source too long for the line goes on a line of its own. */
    struct fr_config a, b;
    fr_config_init(&a);
    char longsrc[240];
    memset(longsrc, 's', sizeof(longsrc) - 1);
    longsrc[sizeof(longsrc) - 1] = 0;
    assert_int_equal(fr_config_set(&a, "threads", "5", longsrc, NULL, 0), FR_OK);
    const char *path = tmp_path("dump2.ini");
    FILE *f = fopen(path, "w");
    fr_config_dump(&a, f);
    fclose(f);
    fr_config_init(&b);
    if (fr_config_load_file(&b, path, g_err, sizeof(g_err)) != FR_OK) fail_msg("%s", g_err);
    assert_int_equal(b.threads, 5);
    fr_config_clear(&a);
    fr_config_clear(&b);
}

static void test_help(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    fr_config_print_help(m);
    fclose(m);
    /* Wrapped lines joined: a run of white space becomes one space. */
    char *w = text;
    for (const char *r = text; *r; r++) {
        if ((*r == ' ' || *r == '\n') && w > text && w[-1] == ' ') continue;
        *w++ = *r == '\n' ? ' ' : *r;
    }
    *w = 0;
    size_t n;
    const struct fr_setting *t = fr_settings(&n);
    for (size_t i = 0; i < n; i++) {
        char flag[96];
        snprintf(flag, sizeof(flag), "%s", t[i].type == FR_SETTING_BOOL ? "--[no-]" : "--");
        size_t k = strlen(flag);
        for (const char *p = t[i].name; *p; p++)
            flag[k++] = *p == '_' ? '-' : *p;
        flag[k] = 0;
        assert_contains(text, flag);
        if (t[i].legacy) assert_contains(text, t[i].legacy);
        char sec[32];
        snprintf(sec, sizeof(sec), " [%s] ", t[i].section);
        assert_contains(text, sec);
    }
    assert_contains(text, "(default 128; 1..4096; was GPU_BATCH_SIZE)");
    assert_contains(text, "--config FILE");
    free(text);
}

#include "test-alloc.h"

/* Every allocation failing in turn: fr_config_set and the file loader
 * report FR_ERR_NOMEM and leak nothing. */
static void test_out_of_memory(void **state) {
    (void)state;
    const char *path = write_file("oom.ini", "[server]\nlisten = 0.0.0.0:1\n[device]\nmodels = /x\nthreads = 2\n");
    bool finished = false;
    for (int64_t k = 0; !finished && k < 100; k++) {
        fr_test_alloc_install();
        fr_test_alloc_fail(k, false);
        struct fr_config cfg;
        fr_config_init(&cfg);
        enum fr_status st = fr_config_load_file(&cfg, path, g_err, sizeof(g_err));
        if (st == FR_OK) {
            finished = true;
            assert_string_equal(cfg.models, "/x");
        } else {
            assert_int_equal(st, FR_ERR_NOMEM);
        }
        fr_config_clear(&cfg);
        assert_int_equal(fr_test_alloc_live(), 0);
        fr_test_alloc_uninstall();
    }
    assert_true(finished);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_setting_every_source),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_config_flag_first),
        cmocka_unit_test(test_bounds_and_types),
        cmocka_unit_test(test_sizes_and_percent),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
