/* Settings against the modules they set up: a default configuration hands
 * every module exactly its fr_*_default_params() (so the table's defaults
 * cannot drift from the modules'), the bounds a module checks are the
 * table's, and each fr_config_*_params passes the settings on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>

#include "facerec/config.h"
#include "facerec/pipeline.h"

/* Text defaults; NULL and "" both mean none. */
static void same_text(const char *name, const char *a, const char *b) {
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
    struct fr_config cfg;
    fr_config_init(&cfg);
    struct fr_sched_params s = fr_config_sched_params(&cfg), sd = fr_sched_default_params();
    struct fr_http_params h = fr_config_http_params(&cfg), hd = fr_http_default_params();
    struct fr_gallery_params g = fr_config_gallery_params(&cfg), gd = fr_gallery_default_params();
    struct fr_indexer_params x = fr_config_indexer_params(&cfg), xd = fr_indexer_default_params();
    const char *const ours[] = {
        [FR_SETTING_SCHED] = (const char *)&s, [FR_SETTING_HTTP] = (const char *)&h,
        [FR_SETTING_GALLERY] = (const char *)&g, [FR_SETTING_INDEXER] = (const char *)&x};
    const char *const theirs[] = {
        [FR_SETTING_SCHED] = (const char *)&sd, [FR_SETTING_HTTP] = (const char *)&hd,
        [FR_SETTING_GALLERY] = (const char *)&gd, [FR_SETTING_INDEXER] = (const char *)&xd};
    /* The settings no module takes as they are; each is checked below. */
    static const char *const own[] = {"idle_timeout_ms", "detect_tiles", "log_level", "drain_timeout_ms"};
    size_t n, handed = 0;
    const struct fr_setting *t = fr_settings(&n);
    for (size_t i = 0; i < n; i++) {
        const struct fr_setting *r = &t[i];
        if (r->module == FR_SETTING_APP) {
            bool listed = false;
            for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++)
                listed |= !strcmp(own[k], r->name);
            if (!listed) fail_msg("%s goes to no module: compare its default with the right one here", r->name);
            continue;
        }
        handed++;
        const char *a = ours[r->module] + r->module_offset, *b = theirs[r->module] + r->module_offset;
        if (r->type == FR_SETTING_STRING)
            same_text(r->name, *(const char *const *)a, *(const char *const *)b);
        else if (memcmp(a, b, r->module_size))
            fail_msg("%s: the table's default %s is not its module's fr_*_default_params()", r->name, r->def);
    }
    assert_int_equal(handed + sizeof(own) / sizeof(own[0]), n);

    /* The rest, by hand. */
    assert_int_equal(s.device_memory_percent, sd.device_memory_percent);
    assert_int_equal(h.connection_timeout_s, hd.connection_timeout_s); /* idle_timeout_ms */
    assert_true(h.tolerance == hd.tolerance);
    /* The server tiles (auto); the library's default is face-api's output (off). */
    assert_int_equal(s.tiles.mode, FR_TILES_AUTO);
    assert_int_equal(sd.tiles.mode, FR_TILES_OFF);
    /* The server logs info, the library alone only warnings; the drain is the server's own. */
    assert_int_equal(cfg.log_level, FR_LOG_INFO);
    assert_int_equal(cfg.drain_timeout_ms, 10000);
    /* The scheduler's image limits are the decoder's, and the offline
     * pipeline shares the detection defaults. */
    struct fr_decode_params dd = fr_decode_default_params();
    assert_int_equal(s.decode.max_image_size, dd.max_image_size);
    assert_int_equal(s.decode.max_bytes, dd.max_bytes);
    assert_int_equal(s.decode.max_pixels, dd.max_pixels);
    assert_int_equal(s.decode.max_dimension, dd.max_dimension);
    assert_int_equal(s.decode.apply_orientation, dd.apply_orientation);
    struct fr_pipeline_params pd = fr_pipeline_default_params();
    assert_int_equal(s.detector, pd.detector);
    assert_true(s.min_confidence == pd.min_confidence);
    assert_int_equal(s.max_faces, pd.max_faces);
    assert_int_equal(s.min_face_size, pd.min_face_size);
    assert_int_equal(s.decode.max_image_size, pd.max_image_size);
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
    const int32_t got[] = {x.workers, x.batch, x.lease_ms}, want[] = {4, 16, 9000};
    assert_memory_equal(got, want, sizeof(got));
    assert_string_equal(x.node, "n1");
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
