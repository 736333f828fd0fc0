/* Multi-scale detection (src/face/tiles.c) on scenes composed from the
 * test photos (bench/tile-scenes.c): recall on large photos and crowds
 * against the faces found at full size, no duplicates, coordinates in
 * original pixels, no new faces on photos without faces, auto equal to
 * face-api's output where it does not tile, and tiles through the
 * scheduler as detector items that count toward fairness. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "facerec/pipeline.h"
#include "facerec/sched.h"
#include "image-fixtures.h"
#include "test-util.h"
#include "tile-scenes.h"

static struct scene_sources *g_src;
static struct fr_pipeline *g_off;

static struct fr_pipeline *pipeline(const char *tiles, enum fr_detector det, int32_t min_face, bool full) {
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    pp.detector = det;
    pp.min_face_size = min_face;
    pp.landmarks = pp.embeddings = full;
    char err[512];
    if (fr_tiles_parse(tiles, &pp.tiles, err, sizeof err) != FR_OK) return NULL;
    struct fr_pipeline *pl = NULL;
    if (fr_pipeline_new(&pp, &pl, err, sizeof err) != FR_OK) fprintf(stderr, "%s\n", err);
    return pl;
}

static int setup(void **state) {
    (void)state;
    g_off = pipeline("off", FR_DETECTOR_SSD, 0, false);
    if (!g_off) return -1;
    g_src = scene_sources_load(fr_pipeline_facenet(g_off), fr_test_data_dir(), fr_test_models_dir());
    return scene_sources_count(g_src) >= 12 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    scene_sources_free(g_src);
    fr_pipeline_free(g_off);
    return 0;
}

/* Runs one image; returns its faces (caller clears) and the detector items it took. */
static struct fr_faces run(struct fr_pipeline *pl, const struct fr_image *img, int64_t *items) {
    const struct fr_image *imgs[1] = { img };
    struct fr_faces f;
    char err[512];
    int64_t i0 = fr_facenet_detector_items(fr_pipeline_facenet(pl));
    if (fr_pipeline_process(pl, imgs, 1, &f, err, sizeof err) != FR_OK) fail_msg("process: %s", err);
    if (items) *items = fr_facenet_detector_items(fr_pipeline_facenet(pl)) - i0;
    return f;
}

static void test_parse(void **state) {
    (void)state;
    struct fr_tiles t;
    char buf[16], err[256];
    assert_int_equal(fr_tiles_parse("auto", &t, err, sizeof err), FR_OK);
    assert_int_equal(t.mode, FR_TILES_AUTO);
    assert_int_equal(fr_tiles_parse("off", &t, err, sizeof err), FR_OK);
    assert_int_equal(t.mode, FR_TILES_OFF);
    assert_int_equal(fr_tiles_parse("3x2", &t, err, sizeof err), FR_OK);
    assert_int_equal(t.mode, FR_TILES_GRID);
    assert_int_equal(t.cols, 3);
    assert_int_equal(t.rows, 2);
    fr_tiles_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "3x2");
    const char *bad[] = { "", "1x1", "0x2", "5x2", "2x", "x2", "2x2x", "22", "2*2", "on", "10x1", NULL };
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(fr_tiles_parse(bad[i], &t, err, sizeof err), FR_ERR_INVALID);
        assert_non_null(strstr(err, "NxM"));
    }
}

/* Where auto does not tile, its output is the whole pass's, bit for bit:
 * on the test photos with their large faces it is face-api's output. */
static void test_auto_equals_off_on_portraits(void **state) {
    (void)state;
    struct fr_pipeline *a = pipeline("auto", FR_DETECTOR_SSD, 0, true), *o = pipeline("off", FR_DETECTOR_SSD, 0, true);
    const char *files[] = { "examples/obama.jpg", "examples/two_people.jpg", "examples/obama-480p.jpg",
                            "examples/knn_examples/test/obama_and_biden.jpg", NULL };
    for (int i = 0; files[i]; i++) {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/%s", fr_test_data_dir(), files[i]);
        struct fr_image *img;
        assert_int_equal(fr_image_load(path, NULL, &img, err, sizeof err), FR_OK);
        int64_t ia, io;
        struct fr_faces fa = run(a, img, &ia), fo = run(o, img, &io);
        assert_int_equal(ia, 1);
        assert_int_equal(io, 1);
        assert_int_equal(fa.count, fo.count);
        assert_true(fa.count > 0);
        assert_memory_equal(fa.faces, fo.faces, sizeof(struct fr_face) * (size_t)fa.count);
        fr_faces_clear(&fa);
        fr_faces_clear(&fo);
        fr_image_free(img);
    }
    fr_pipeline_free(a);
    fr_pipeline_free(o);
}

static void print_score(const char *what, const struct scene_score *s, int64_t items) {
    printf("  %-24s truth %2d found %2d matched %2d extra %d duplicates %d, %lld detector items\n", what, s->truth,
           s->found, s->matched, s->extra, s->duplicates, (long long)items);
}

/* A phone-size frame (4032x3024, decoded at 2048) of six photos, faces
 * 80-170 px: auto finds at least 95% of the faces found in the photos at
 * full size, once each, in original pixels, each with landmarks and a
 * descriptor of its own. */
static void test_phone_recall(void **state) {
    (void)state;
    struct scene sc = scene_make(g_src, "phone", 0);
    assert_non_null(sc.img);
    assert_int_equal(sc.img->orig_width, 4032);
    assert_true(sc.n_truth >= 20);
    int64_t items;
    struct fr_faces off = run(g_off, sc.img, &items);
    struct scene_score s0 = scene_score(&sc, &off);
    print_score("phone, off", &s0, items);
    struct fr_pipeline *pl = pipeline("auto", FR_DETECTOR_SSD, 0, true);
    struct fr_faces f = run(pl, sc.img, &items);
    struct scene_score s = scene_score(&sc, &f);
    print_score("phone, auto", &s, items);
    assert_int_equal(f.width, 4032);
    assert_int_equal(f.height, 3024);
    assert_true(s.matched * 100 >= 95 * s.truth);
    assert_true(s.matched > s0.matched);
    assert_int_equal(s.duplicates, 0);
    assert_int_equal(s.extra, 0);
    assert_true(items > 1 && items <= 1 + FR_TILES_MAX);
    for (int32_t i = 0; i < f.count; i++) {
        assert_true(f.faces[i].has_landmarks && f.faces[i].has_descriptor);
        /* The landmarks' centre lies on their own face's box: the same
         * pixels, the same face. */
        const float *b = f.faces[i].box;
        double cx = 0, cy = 0;
        for (int p = 0; p < FR_LANDMARKS; p++) cx += f.faces[i].landmarks[p][0], cy += f.faces[i].landmarks[p][1];
        cx /= FR_LANDMARKS, cy /= FR_LANDMARKS;
        assert_true(cx > b[0] && cx < b[0] + b[2] && cy > b[1] && cy < b[1] + b[3]);
        for (int32_t k = 0; k < i; k++)
            assert_true(fr_descriptor_distance(f.faces[i].descriptor, f.faces[k].descriptor) > 1e-3f);
        if (i > 0) assert_true(f.faces[i - 1].score >= f.faces[i].score);
    }
    fr_faces_clear(&f);
    fr_faces_clear(&off);
    fr_pipeline_free(pl);
    scene_free(&sc);
}

/* 29 faces of 20-35 px in a 1280x926 group: auto finds at least 27 of
 * them, with either detector finding more than it does without tiles. */
static void test_crowd_recall(void **state) {
    (void)state;
    struct fr_pipeline *pl = pipeline("auto", FR_DETECTOR_SSD, 0, false);
    for (int v = 0; v < 3; v++) {
        struct scene sc = scene_make(g_src, "crowd", v);
        assert_non_null(sc.img);
        assert_int_equal(sc.n_truth, 29);
        int64_t items, items0;
        struct fr_faces off = run(g_off, sc.img, &items0), f = run(pl, sc.img, &items);
        struct scene_score s0 = scene_score(&sc, &off), s = scene_score(&sc, &f);
        print_score("crowd, off", &s0, items0);
        print_score("crowd, auto", &s, items);
        assert_true(s.matched >= 27);
        assert_int_equal(s.duplicates, 0);
        assert_int_equal(s.extra, 0);
        fr_faces_clear(&f);
        fr_faces_clear(&off);
        scene_free(&sc);
    }
    fr_pipeline_free(pl);
}

static void test_crowd_tiny(void **state) {
    (void)state;
    struct fr_pipeline *o = pipeline("off", FR_DETECTOR_TINY, 0, false), *a = pipeline("auto", FR_DETECTOR_TINY, 0, false);
    struct scene sc = scene_make(g_src, "crowd", 0);
    int64_t items, items0;
    struct fr_faces off = run(o, sc.img, &items0), f = run(a, sc.img, &items);
    struct scene_score s0 = scene_score(&sc, &off), s = scene_score(&sc, &f);
    print_score("crowd, tiny, off", &s0, items0);
    print_score("crowd, tiny, auto", &s, items);
    assert_true(s.matched > s0.matched);
    assert_int_equal(s.duplicates, 0);
    fr_faces_clear(&f);
    fr_faces_clear(&off);
    scene_free(&sc);
    fr_pipeline_free(o);
    fr_pipeline_free(a);
}

/* A 300 px face across the middle, where tiles meet: it comes out once
 * and whole (the whole pass's box), whatever the grid. */
static void test_face_across_borders(void **state) {
    (void)state;
    struct scene sc = scene_make(g_src, "border", 0);
    assert_non_null(sc.img);
    struct fr_faces off = run(g_off, sc.img, NULL);
    int32_t big = -1;
    for (int32_t i = 0; i < off.count; i++)
        if (off.faces[i].box[2] > 200) big = i;
    assert_true(big >= 0);
    const char *modes[] = { "2x2", "3x3", "2x1", "auto", NULL };
    for (int m = 0; modes[m]; m++) {
        /* auto with min_face_size: the user asks for 40 px faces. */
        struct fr_pipeline *pl = pipeline(modes[m], FR_DETECTOR_SSD, !strcmp(modes[m], "auto") ? 36 : 0, false);
        int64_t items;
        struct fr_faces f = run(pl, sc.img, &items);
        struct scene_score s = scene_score(&sc, &f);
        print_score(modes[m], &s, items);
        assert_true(items > 1);
        assert_int_equal(s.duplicates, 0);
        assert_int_equal(s.extra, 0);
        int32_t n_big = 0;
        for (int32_t i = 0; i < f.count; i++)
            if (f.faces[i].box[2] > 150) {
                n_big++;
                assert_memory_equal(f.faces[i].box, off.faces[big].box, sizeof(float) * 4);
            }
        assert_int_equal(n_big, 1);
        /* 40 px faces in a 2000 px frame need tiles of about 700 px. */
        if (!strcmp(modes[m], "3x3") || !strcmp(modes[m], "auto")) assert_int_equal(s.matched, 5);
        fr_faces_clear(&f);
        fr_pipeline_free(pl);
    }
    fr_faces_clear(&off);
    scene_free(&sc);
}

/* Photos without faces gain none, in any mode, with either detector. */
static void test_no_false_faces(void **state) {
    (void)state;
    const char *modes[] = { "auto", "3x3", NULL };
    for (int d = 0; d < 2; d++) {
        enum fr_detector det = d ? FR_DETECTOR_TINY : FR_DETECTOR_SSD;
        struct fr_pipeline *o = pipeline("off", det, 0, false);
        for (int m = 0; modes[m] && (m == 0 || det == FR_DETECTOR_SSD); m++) {
            struct fr_pipeline *pl = pipeline(modes[m], det, 0, false);
            for (int v = 0; v < 4; v++) {
                struct scene sc = scene_make(g_src, "noface", v);
                assert_non_null(sc.img);
                int64_t items;
                struct fr_faces f0 = run(o, sc.img, NULL), f = run(pl, sc.img, &items);
                printf("  %s %s %s: %d faces off, %d tiled (%lld detector items)\n", d ? "tiny" : "ssd", sc.name,
                       modes[m], f0.count, f.count, (long long)items);
                assert_true(f.count <= f0.count);
                fr_faces_clear(&f0);
                fr_faces_clear(&f);
                scene_free(&sc);
            }
            fr_pipeline_free(pl);
        }
        fr_pipeline_free(o);
    }
}

/* ---- the scheduler ---- */

struct done {
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *order, *n_order, tag;
    bool finished;
    enum fr_status st;
    int32_t faces;
};

static void on_done(const struct fr_sched_result *r, void *ctx) {
    struct done *d = ctx;
    pthread_mutex_lock(d->mu);
    d->st = r->images[0].status;
    d->faces = r->images[0].status == FR_OK ? r->images[0].faces->count : -1;
    d->order[(*d->n_order)++] = d->tag;
    d->finished = true;
    pthread_cond_broadcast(d->cv);
    pthread_mutex_unlock(d->mu);
}

static struct fr_fx_blob encode(const struct fr_image *img) {
    uint8_t *rgb = malloc((size_t)img->width * img->height * 3);
    for (int32_t y = 0; y < img->height; y++)
        memcpy(rgb + (size_t)y * img->width * 3, img->data + (size_t)y * img->stride, (size_t)img->width * 3);
    struct fr_fx_blob b = { 0 };
    assert_true(fr_fx_jpeg(rgb, img->width, img->height, 95, 0, 0, &b));
    free(rgb);
    return b;
}

/* Tiled requests go through the continuous batcher: their tiles are
 * detector items (counted in the batches), the faces equal the offline
 * pipeline's, and a user whose images take tiles waits for them: another
 * user's untiled images are admitted for the tiles' turns. */
static void test_sched_tiles_and_fairness(void **state) {
    (void)state;
    struct scene sc = scene_make(g_src, "crowd", 0);
    struct fr_fx_blob jpg = encode(sc.img);
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/obama_small.jpg", fr_test_data_dir());
    size_t small_len = 0;
    char *small = fr_test_read_file_len(path, &small_len);
    assert_non_null(small);
    /* The offline pipeline's answer for the same JPEG with 2x2 tiles. */
    struct fr_image *dec;
    char err[512];
    assert_int_equal(fr_image_decode(jpg.data, jpg.len, NULL, &dec, err, sizeof err), FR_OK);
    struct fr_pipeline *p22 = pipeline("2x2", FR_DETECTOR_SSD, 0, false);
    struct fr_faces ref = run(p22, dec, NULL);
    fr_pipeline_free(p22);
    fr_image_free(dec);

    struct fr_sched_params p = fr_sched_default_params();
    p.models_dir = fr_test_models_dir();
    p.warmup = false;
    p.max_batch_size = 8;
    p.preferred_batch_size = 8;
    /* One image in flight at a time makes the admission order the order
     * of completion. */
    p.max_concurrent_images = 1;
    p.user_concurrency_limit = 1;
    p.tiles.mode = FR_TILES_OFF;
    struct fr_sched *s;
    if (fr_sched_new(&p, &s, err, sizeof err) != FR_OK) fail_msg("%s", err);
    /* A grid the settings could not have made is refused. */
    {
        struct fr_sched_image im = { small, small_len };
        struct done dd = { 0 };
        struct fr_sched_request rq = { .user = "x", .images = &im, .n_images = 1, .done = on_done, .ctx = &dd,
                                       .tiles = { .mode = FR_TILES_GRID, .cols = 5, .rows = 5 } };
        uint64_t id;
        assert_int_equal(fr_sched_submit(s, &rq, &id, NULL), FR_ERR_INVALID);
    }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    enum { TILED = 3, PLAIN = 12 };
    struct done d[TILED + PLAIN];
    int order[TILED + PLAIN], n_order = 0;
    /* The tiled user first: 3 crowd photos at 2x2 (5 detector items each);
     * then 12 small photos of another user, untiled. */
    for (int i = 0; i < TILED + PLAIN; i++) {
        bool tiled = i < TILED;
        d[i] = (struct done){ .mu = &mu, .cv = &cv, .order = order, .n_order = &n_order, .tag = tiled ? 1 : 0 };
        struct fr_sched_image im = tiled ? (struct fr_sched_image){ jpg.data, jpg.len }
                                         : (struct fr_sched_image){ small, small_len };
        struct fr_sched_request rq = { .user = tiled ? "tiler" : "plain", .images = &im, .n_images = 1,
                                       .done = on_done, .ctx = &d[i] };
        if (tiled) rq.tiles = (struct fr_tiles){ .mode = FR_TILES_GRID, .cols = 2, .rows = 2 };
        uint64_t id;
        assert_int_equal(fr_sched_submit(s, &rq, &id, NULL), FR_OK);
    }
    pthread_mutex_lock(&mu);
    while (n_order < TILED + PLAIN) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    /* The counters are published after the callbacks of a loop turn. */
    struct fr_sched_counters c;
    double until = fr_time_now() + 30;
    do {
        fr_sched_get_counters(s, &c);
        if (c.images_done < TILED + PLAIN) usleep(10 * 1000);
    } while (c.images_done < TILED + PLAIN && fr_time_now() < until);
    printf("  completion order (1 = tiled):");
    for (int i = 0; i < n_order; i++) printf(" %d", order[i]);
    printf("\n  detector batches %lld, items %lld, tiles %lld, turns skipped %lld\n", (long long)c.batches[0],
           (long long)c.batch_items[0], (long long)c.tiles, (long long)c.turns_skipped);
    for (int i = 0; i < TILED + PLAIN; i++) assert_int_equal(d[i].st, FR_OK);
    for (int i = 0; i < TILED; i++) assert_int_equal(d[i].faces, ref.count);
    assert_int_equal(c.tiles, 4 * TILED);
    assert_int_equal(c.batch_items[0], TILED + PLAIN + 4 * TILED);
    assert_true(c.turns_skipped >= 4 * (TILED - 1));
    /* Between two tiled photos, the other user had its turns for the
     * tiles: at least 3 of its photos (4 turns, the first may go to a
     * photo already admitted). */
    int first = -1, second = -1;
    for (int i = 0; i < n_order; i++)
        if (order[i] == 1) {
            if (first < 0) first = i;
            else if (second < 0) second = i;
        }
    assert_true(second - first - 1 >= 3);
    fr_sched_free(s);
    fr_faces_clear(&ref);
    fr_fx_blob_free(&jpg);
    free(small);
    scene_free(&sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_auto_equals_off_on_portraits),
        cmocka_unit_test(test_phone_recall),
        cmocka_unit_test(test_crowd_recall),
        cmocka_unit_test(test_crowd_tiny),
        cmocka_unit_test(test_face_across_borders),
        cmocka_unit_test(test_no_false_faces),
        cmocka_unit_test(test_sched_tiles_and_fairness),
    };
    return cmocka_run_group_tests_name("tiles", tests, setup, teardown);
}
