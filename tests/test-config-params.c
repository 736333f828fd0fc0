/* Settings against the modules they set up: a default configuration hands
 * every module exactly its fr_*_default_params() (so the table's defaults
 * cannot drift from the modules'), the bounds a module checks are the
 * table's, and each fr_config_*_params passes the settings on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/config.h"
#include "facerec/pipeline.h"

/* Which rows a comparison has covered, by table index. */
static bool g_covered[FR_CONFIG_MAX_SETTINGS];

static void cover(const char *name) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) fail_msg("no setting '%s'", name);
    size_t n;
    g_covered[s - fr_settings(&n)] = true;
}

/* A setting's default, as handed to its module, equals the module's own. */
#define SAME(name, a, b)                                                                                               \
    do {                                                                                                               \
        cover(name);                                                                                                   \
        if (!((a) == (b))) fail_msg("%s: the table's default is not %s's (%s)", name, #b, #a);                        \
    } while (0)
/* Text defaults; NULL and "" both mean none. */
static void same_text(const char *name, const char *a, const char *b) {
    cover(name);
    if (strcmp(a ? a : "", b ? b : "")) fail_msg("%s: the table's default '%s' is not the module's '%s'", name, a, b);
}

/* fr_config_load_args on a fresh configuration (flags only), which must succeed. */
static void load_flags(struct fr_config *cfg, char **argv) {
    int argc = 0, next;
    char err[512];
    while (argv[argc])
        argc++;
    fr_config_init(cfg);
    if (fr_config_load_args(cfg, argc, argv, &next, err, sizeof(err)) != FR_OK) fail_msg("%s", err);
}

static void test_defaults_are_the_modules(void **state) {
    (void)state;
    memset(g_covered, 0, sizeof(g_covered));
    struct fr_config cfg;
    fr_config_init(&cfg);

    struct fr_sched_params s = fr_config_sched_params(&cfg), sd = fr_sched_default_params();
    same_text("models", s.models_dir, sd.models_dir);
    SAME("device", s.device, sd.device);
    SAME("precision", s.precision, sd.precision);
    SAME("device_memory_limit", s.device_memory_limit, sd.device_memory_limit);
    assert_int_equal(s.device_memory_percent, sd.device_memory_percent);
    SAME("host_memory_limit", s.host_memory_limit, sd.host_memory_limit);
    SAME("threads", s.threads, sd.threads);
    SAME("max_workers", s.max_workers, sd.max_workers);
    SAME("warmup", s.warmup, sd.warmup);
    SAME("max_batch_size", s.max_batch_size, sd.max_batch_size);
    SAME("preferred_batch_size", s.preferred_batch_size, sd.preferred_batch_size);
    SAME("max_queue_delay_ms", s.max_queue_delay_ms, sd.max_queue_delay_ms);
    SAME("batching", s.batching, sd.batching);
    SAME("static_fill_timeout_ms", s.static_fill_timeout_ms, sd.static_fill_timeout_ms);
    SAME("queue_capacity", s.queue_capacity, sd.queue_capacity);
    SAME("user_queue_capacity", s.user_queue_capacity, sd.user_queue_capacity);
    SAME("user_concurrency_limit", s.user_concurrency_limit, sd.user_concurrency_limit);
    SAME("max_concurrent_images", s.max_concurrent_images, sd.max_concurrent_images);
    SAME("request_timeout_ms", s.request_timeout_ms, sd.request_timeout_ms);
    SAME("detector", s.detector, sd.detector);
    SAME("min_confidence", s.min_confidence, sd.min_confidence);
    SAME("max_faces", s.max_faces, sd.max_faces);
    SAME("min_face_size", s.min_face_size, sd.min_face_size);
    SAME("metrics_top_users", s.metrics_top_users, sd.metrics_top_users);
    /* The image limits: the scheduler's come from the decoder's. */
    struct fr_decode_params dd = fr_decode_default_params();
    SAME("max_image_size", s.decode.max_image_size, dd.max_image_size);
    SAME("max_image_bytes", s.decode.max_bytes, dd.max_bytes);
    SAME("max_pixels", s.decode.max_pixels, dd.max_pixels);
    assert_int_equal(s.decode.max_dimension, dd.max_dimension);
    assert_int_equal(s.decode.apply_orientation, dd.apply_orientation);
    /* The offline pipeline shares the detection defaults. */
    struct fr_pipeline_params pd = fr_pipeline_default_params();
    assert_int_equal(s.detector, pd.detector);
    assert_true(s.min_confidence == pd.min_confidence);
    assert_int_equal(s.max_faces, pd.max_faces);
    assert_int_equal(s.min_face_size, pd.min_face_size);
    assert_int_equal(s.decode.max_image_size, pd.max_image_size);

    struct fr_http_params h = fr_config_http_params(&cfg), hd = fr_http_default_params();
    same_text("listen", h.listen, hd.listen);
    same_text("api_keys_file", h.api_keys_file, hd.api_keys_file);
    SAME("max_body_bytes", h.max_body_bytes, hd.max_body_bytes);
    SAME("http_threads", h.threads, hd.threads);
    SAME("http_workers", h.workers, hd.workers);
    SAME("max_connections", h.max_connections, hd.max_connections);
    SAME("max_connections_per_ip", h.max_connections_per_ip, hd.max_connections_per_ip);
    SAME("header_timeout_ms", h.header_timeout_ms, hd.header_timeout_ms);
    SAME("idle_timeout_ms", h.connection_timeout_s, hd.connection_timeout_s);
    SAME("min_body_rate", h.min_body_rate, hd.min_body_rate);
    SAME("body_rate_window_ms", h.body_rate_window_ms, hd.body_rate_window_ms);
    SAME("max_body_memory", h.max_body_memory, hd.max_body_memory);
    SAME("tolerance", h.tolerance, hd.tolerance);

    struct fr_gallery_params g = fr_config_gallery_params(&cfg), gd = fr_gallery_default_params();
    same_text("data", g.store.data_dir, gd.store.data_dir);
    SAME("tolerance", g.threshold, gd.threshold);
    SAME("search_int8", g.int8, gd.int8);
    SAME("recognize_k", g.k, gd.k);
    SAME("cluster_min_faces", g.cluster.min_faces, gd.cluster.min_faces);
    SAME("cluster_max_distance", g.cluster.max_distance, gd.cluster.max_distance);

    struct fr_indexer_params x = fr_config_indexer_params(&cfg), xd = fr_indexer_default_params();
    same_text("node_name", x.node, xd.node);
    SAME("index_workers", x.workers, xd.workers);
    SAME("index_batch", x.batch, xd.batch);
    SAME("index_lease_ms", x.lease_ms, xd.lease_ms);

    /* The settings whose server default differs from the library's on
     * purpose, and those no module takes; each says why. */
    static const char *const own[] = {
        "detect_tiles",     /* the server tiles (auto); the library's default is face-api's output (off) */
        "log_level",        /* the server logs info; the library alone only warnings */
        "drain_timeout_ms", /* `facerec serve`'s own shutdown */
    };
    for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++)
        cover(own[k]);
    assert_int_equal(s.tiles.mode, FR_TILES_AUTO);
    assert_int_equal(sd.tiles.mode, FR_TILES_OFF);
    assert_int_equal(cfg.log_level, FR_LOG_INFO);

    /* A new row must join one of the lists above. */
    size_t n;
    const struct fr_setting *t = fr_settings(&n);
    for (size_t i = 0; i < n; i++)
        if (!g_covered[i]) fail_msg("%s: compare its default with its module's fr_*_default_params()", t[i].name);
    fr_config_clear(&cfg);
}

/* The bounds a module checks are the table's. */
static void test_bounds_are_the_modules(void **state) {
    (void)state;
    assert_true(fr_setting_find("max_batch_size")->max == FR_SCHED_MAX_BATCH);
    assert_true(fr_setting_find("preferred_batch_size")->max == FR_SCHED_MAX_BATCH);
    assert_true(fr_setting_find("max_workers")->max == FR_SCHED_MAX_WORKERS);
    assert_true(fr_setting_find("host_memory_limit")->min == (double)FR_SCHED_MIN_HOST_MEMORY);
    assert_true(fr_setting_find("recognize_k")->max == FR_GALLERY_MAX_K);
    /* The largest batch the table takes is one the scheduler takes. */
    struct fr_config cfg;
    char *argv[] = {"prog", "--max-batch-size=4096", "--preferred-batch-size=4096", NULL};
    load_flags(&cfg, argv);
    assert_int_equal(cfg.max_batch_size, FR_SCHED_MAX_BATCH);
    assert_int_equal(fr_config_sched_params(&cfg).max_batch_size, FR_SCHED_MAX_BATCH);
    fr_config_clear(&cfg);
    char err[256];
    fr_config_init(&cfg);
    assert_int_equal(fr_config_set(&cfg, "max_batch_size", "4097", "t", err, sizeof(err)), FR_ERR_INVALID);
    fr_config_clear(&cfg);
}

/* Enum settings are stored as their values, and the dump names them. */
static void test_enums(void **state) {
    (void)state;
    struct fr_config cfg;
    char *argv[] = {"prog", "--device=CUDA", "--precision=int8", "--batching=static", "--detect-tiles=3x2",
                    "--log-level=warn", NULL};
    load_flags(&cfg, argv);
    assert_int_equal(cfg.device, FR_DEVICE_CUDA);
    assert_int_equal(cfg.precision, FR_PRECISION_INT8);
    assert_int_equal(cfg.batching, FR_BATCHING_STATIC);
    assert_int_equal(cfg.log_level, FR_LOG_WARN);
    struct fr_tiles tl = fr_config_tiles(cfg.detect_tiles);
    assert_int_equal(tl.mode, FR_TILES_GRID);
    assert_int_equal(tl.cols, 3);
    assert_int_equal(tl.rows, 2);
    char buf[32];
    assert_int_equal(fr_config_get(&cfg, "device", buf, sizeof(buf)), FR_OK);
    assert_string_equal(buf, "cuda");
    assert_int_equal(fr_config_get(&cfg, "detect_tiles", buf, sizeof(buf)), FR_OK);
    assert_string_equal(buf, "3x2");
    struct fr_sched_params sp = fr_config_sched_params(&cfg);
    assert_int_equal(sp.device, FR_DEVICE_CUDA);
    assert_int_equal(sp.precision, FR_PRECISION_INT8);
    assert_int_equal(sp.batching, FR_BATCHING_STATIC);
    assert_int_equal(sp.tiles.mode, FR_TILES_GRID);
    /* Every choice of every enum reads back as itself. */
    size_t n;
    const struct fr_setting *t = fr_settings(&n);
    for (size_t i = 0; i < n; i++)
        for (const struct fr_setting_choice *c = t[i].choices; t[i].type == FR_SETTING_ENUM && c->name; c++) {
            assert_int_equal(fr_config_set(&cfg, t[i].name, c->name, "t", NULL, 0), FR_OK);
            assert_int_equal(fr_config_get(&cfg, t[i].name, buf, sizeof(buf)), FR_OK);
            assert_string_equal(buf, c->name);
        }
    fr_config_clear(&cfg);
}

/* The other modules' params carry the settings. */
static void test_http_gallery_indexer_params(void **state) {
    (void)state;
    struct fr_config cfg;
    char *argv[] = {"prog", "--listen=0.0.0.0:81", "--http-threads=3", "--idle-timeout-ms=2500", "--tolerance=0.4",
                    "--data=/d", "--search-int8", "--recognize-k=7", "--cluster-min-faces=5", "--node-name=n1",
                    "--index-workers=4", "--index-batch=16", "--index-lease-ms=9000", NULL};
    load_flags(&cfg, argv);
    struct fr_http_params h = fr_config_http_params(&cfg);
    assert_string_equal(h.listen, "0.0.0.0:81");
    assert_int_equal(h.threads, 3);
    assert_int_equal(h.connection_timeout_s, 3); /* rounded up */
    assert_true(h.tolerance == 0.4f);
    assert_null(h.gallery);
    struct fr_gallery_params g = fr_config_gallery_params(&cfg);
    assert_string_equal(g.store.data_dir, "/d");
    assert_true(g.threshold == 0.4f);
    assert_true(g.int8);
    assert_int_equal(g.k, 7);
    assert_int_equal(g.cluster.min_faces, 5);
    struct fr_indexer_params x = fr_config_indexer_params(&cfg);
    assert_string_equal(x.node, "n1");
    assert_int_equal(x.workers, 4);
    assert_int_equal(x.batch, 16);
    assert_int_equal(x.lease_ms, 9000);
    fr_config_clear(&cfg);
}

static void test_sched_params(void **state) {
    (void)state;
    struct fr_config cfg;
    char *argv[] = {"prog",
                    "--device=cpu",
                    "--detector=tiny",
                    "--max-image-size=1024",
                    "--max-image-bytes=10M",
                    "--max-pixels=5000000",
                    "--max-batch-size=32",
                    "--preferred-batch-size=16",
                    "--max-queue-delay-ms=3",
                    "--models=/m",
                    "--no-warmup",
                    "--host-memory-limit=512M",
                    "--device-memory-limit=1G",
                    "--threads=4",
                    "--max-workers=3",
                    "--queue-capacity=100",
                    "--user-queue-capacity=50",
                    "--user-concurrency-limit=5",
                    "--max-concurrent-images=6",
                    "--request-timeout-ms=1000",
                    "--min-confidence=0.7",
                    "--max-faces=10",
                    "--min-face-size=20",
                    NULL};
    load_flags(&cfg, argv);
    struct fr_sched_params sp = fr_config_sched_params(&cfg);
    struct fr_decode_params dp = fr_decode_default_params();
    assert_string_equal(sp.models_dir, "/m");
    assert_int_equal(sp.device, FR_DEVICE_CPU);
    assert_int_equal(sp.detector, FR_DETECTOR_TINY);
    assert_int_equal(sp.decode.max_image_size, 1024);
    assert_int_equal(sp.decode.max_bytes, 10u << 20);
    assert_int_equal(sp.decode.max_pixels, 5000000);
    assert_int_equal(sp.decode.max_dimension, dp.max_dimension);
    assert_int_equal(sp.decode.apply_orientation, dp.apply_orientation);
    assert_int_equal(sp.max_batch_size, 32);
    assert_int_equal(sp.preferred_batch_size, 16);
    assert_int_equal(sp.max_queue_delay_ms, 3);
    assert_false(sp.warmup);
    assert_int_equal(sp.host_memory_limit, 512u << 20);
    assert_int_equal(sp.device_memory_limit, 1u << 30);
    assert_int_equal(sp.device_memory_percent, 0);
    assert_int_equal(sp.threads, 4);
    assert_int_equal(sp.max_workers, 3);
    assert_int_equal(sp.queue_capacity, 100);
    assert_int_equal(sp.user_queue_capacity, 50);
    assert_int_equal(sp.user_concurrency_limit, 5);
    assert_int_equal(sp.max_concurrent_images, 6);
    assert_int_equal(sp.request_timeout_ms, 1000);
    assert_float_equal(sp.min_confidence, 0.7, 1e-6);
    assert_int_equal(sp.max_faces, 10);
    assert_int_equal(sp.min_face_size, 20);
    fr_config_clear(&cfg);
    fr_config_init(&cfg);
    sp = fr_config_sched_params(&cfg);
    assert_int_equal(sp.device, FR_DEVICE_AUTO);
    assert_int_equal(sp.detector, FR_DETECTOR_SSD);
    assert_true(sp.warmup);
    fr_config_clear(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_modules),
        cmocka_unit_test(test_bounds_are_the_modules),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_http_gallery_indexer_params),
        cmocka_unit_test(test_sched_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
