/* The scheduler on the real models: results equal to the offline pipeline,
 * fairness between users, limits that are never exceeded, admission
 * (busy), deadlines, cancellation, per-image failures, the memory budget
 * and draining. */
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
#include "test-util.h"

/* ---- inputs ---- */

struct blob {
    char *data;
    size_t len;
};

static struct blob g_obama, g_biden, g_two, g_big;

static struct blob load(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fr_test_data_dir(), rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    struct blob b = { malloc((size_t)n), (size_t)n };
    assert_int_equal(fread(b.data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return b;
}

/* ---- completion tracking ---- */

struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    enum fr_status status;
    int32_t n;
    enum fr_status st[8];
    struct fr_faces faces[8];
    struct fr_sched_timings tm[8];
    int64_t batches_at_end; /* detect+landmark+recognize batches when it completed */
    struct fr_sched *s;
};

static void done_init(struct done *d, struct fr_sched *s) {
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->s = s;
}

static void done_clear(struct done *d) {
    for (int i = 0; i < d->n; i++) free(d->faces[i].faces);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
}

static void on_done(const struct fr_sched_result *r, void *ctx) {
    struct done *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->status = r->status;
    d->n = r->n_images < 8 ? r->n_images : 8;
    for (int i = 0; i < d->n; i++) {
        d->st[i] = r->images[i].status;
        d->tm[i] = r->images[i].timings;
        if (r->images[i].status == FR_OK) {
            d->faces[i] = *r->images[i].faces;
            size_t sz = sizeof(struct fr_face) * (size_t)(d->faces[i].count ? d->faces[i].count : 1);
            d->faces[i].faces = malloc(sz);
            if (d->faces[i].count) memcpy(d->faces[i].faces, r->images[i].faces->faces, sz);
        }
    }
    struct fr_sched_counters c;
    fr_sched_get_counters(d->s, &c);
    d->batches_at_end = c.batches[FR_STAGE_DETECT] + c.batches[FR_STAGE_LANDMARK] + c.batches[FR_STAGE_RECOGNIZE];
    d->finished = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void wait_done(struct done *d) {
    pthread_mutex_lock(&d->mu);
    while (!d->finished) pthread_cond_wait(&d->cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
}

static struct fr_sched_params base_params(void) {
    struct fr_sched_params p = fr_sched_default_params();
    p.models_dir = fr_test_models_dir();
    p.max_batch_size = 16;
    p.preferred_batch_size = 8;
    p.warmup = false;
    return p;
}

static struct fr_sched *start(const struct fr_sched_params *p) {
    struct fr_sched *s;
    char err[512];
    if (fr_sched_new(p, &s, err, sizeof err) != FR_OK) fail_msg("fr_sched_new: %s", err);
    return s;
}

static uint64_t submit(struct fr_sched *s, const char *user, const struct blob *imgs, int n, struct done *d,
                       int32_t timeout_ms) {
    struct fr_sched_image in[8];
    for (int i = 0; i < n; i++) in[i] = (struct fr_sched_image){ imgs[i].data, imgs[i].len };
    struct fr_sched_request rq = { .user = user, .images = in, .n_images = n, .landmarks = true, .embeddings = true,
                                   .timeout_ms = timeout_ms, .done = on_done, .ctx = d };
    uint64_t id = 0;
    enum fr_status st = fr_sched_submit(s, &rq, &id, NULL);
    if (st != FR_OK) fail_msg("submit: %s", fr_status_name(st));
    return id;
}

/* ---- tests ---- */

/* The scheduler's faces equal fr_pipeline's for the same images. */
static void test_equal_to_pipeline(void **state) {
    (void)state;
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    pp.models_dir = fr_test_models_dir();
    struct fr_pipeline *pl;
    char err[512];
    assert_int_equal(fr_pipeline_new(&pp, &pl, err, sizeof err), FR_OK);
    struct fr_sched_params p = base_params();
    p.warmup = true;
    struct fr_sched *s = start(&p);
    struct blob set[3] = { g_obama, g_two, g_biden };
    struct done d[3];
    for (int i = 0; i < 3; i++) {
        done_init(&d[i], s);
        submit(s, i == 1 ? "bob" : "alice", &set[i], 1, &d[i], 0);
    }
    for (int i = 0; i < 3; i++) {
        wait_done(&d[i]);
        assert_int_equal(d[i].status, FR_OK);
        assert_int_equal(d[i].st[0], FR_OK);
        struct fr_image *img;
        assert_int_equal(fr_image_decode(set[i].data, set[i].len, NULL, &img, err, sizeof err), FR_OK);
        const struct fr_image *imgs[1] = { img };
        struct fr_faces ref;
        assert_int_equal(fr_pipeline_process(pl, imgs, 1, &ref, err, sizeof err), FR_OK);
        assert_true(ref.count > 0);
        assert_int_equal(d[i].faces[0].count, ref.count);
        assert_int_equal(d[i].faces[0].width, ref.width);
        for (int f = 0; f < ref.count; f++) {
            const struct fr_face *a = &d[i].faces[0].faces[f], *b = &ref.faces[f];
            assert_true(a->has_landmarks && a->has_descriptor);
            for (int k = 0; k < 4; k++) assert_true(fabsf(a->box[k] - b->box[k]) < 1e-2f);
            for (int k = 0; k < FR_LANDMARKS; k++) assert_true(fabsf(a->landmarks[k][0] - b->landmarks[k][0]) < 1e-2f);
            assert_true(fr_descriptor_distance(a->descriptor, b->descriptor) < 1e-3f);
        }
        printf("  timings: queued %.1f decode %.1f detect %.1f landmark %.1f recognize %.1f total %.1f ms\n",
               d[i].tm[0].queued, d[i].tm[0].decode, d[i].tm[0].detect, d[i].tm[0].landmark, d[i].tm[0].recognize,
               d[i].tm[0].total);
        assert_true(d[i].tm[0].total > 0 && d[i].tm[0].detect > 0 && d[i].tm[0].recognize > 0);
        fr_faces_clear(&ref);
        fr_image_free(img);
        done_clear(&d[i]);
    }
    char *js = fr_sched_status_json(s);
    assert_non_null(js);
    assert_non_null(strstr(js, "\"per_user\":{\"alice\""));
    assert_non_null(strstr(js, "\"latency_ms\""));
    fr_free(js);
    fr_sched_free(s);
    fr_pipeline_free(pl);
}

/* While one user has 500 images queued, another user's single image
 * completes within a bounded number of batches. */
static void test_fairness(void **state) {
    (void)state;
    struct fr_sched_params p = base_params();
    p.user_queue_capacity = 1000;
    p.max_concurrent_images = 8;
    p.user_concurrency_limit = 8;
    struct fr_sched *s = start(&p);
    enum { REQS = 100 };
    struct done *flood = calloc(REQS, sizeof(*flood));
    struct blob five[5] = { g_obama, g_obama, g_obama, g_obama, g_obama };
    for (int i = 0; i < REQS; i++) {
        done_init(&flood[i], s);
        submit(s, "flood", five, 5, &flood[i], 0);
    }
    usleep(200 * 1000); /* the flood is in flight and the device busy */
    struct fr_sched_counters c0;
    fr_sched_get_counters(s, &c0);
    struct done lone;
    done_init(&lone, s);
    submit(s, "lone", &g_biden, 1, &lone, 0);
    wait_done(&lone);
    assert_int_equal(lone.st[0], FR_OK);
    int64_t batches = lone.batches_at_end - (c0.batches[0] + c0.batches[1] + c0.batches[2]);
    struct fr_sched_counters c1;
    fr_sched_get_counters(s, &c1);
    printf("  lone image done after %lld batches, %.0f ms; flood still queued %d\n", (long long)batches,
           lone.tm[0].total, c1.queued_images);
    /* Round-robin admits it with the next free slot. Before it completes,
     * the 8 images in flight ahead of it and the ones admitted while it
     * waits for its detection batch cost at most 3 batches each (detect,
     * landmark, recognize): a bound independent of the 500 queued. */
    assert_true(batches <= 6 * 8);
    assert_true(c1.queued_images > 300);
    fr_sched_free(s); /* the flood ends with FR_ERR_SHUTDOWN */
    for (int i = 0; i < REQS; i++) {
        assert_true(flood[i].finished);
        assert_true(flood[i].status == FR_OK || flood[i].status == FR_ERR_SHUTDOWN);
        done_clear(&flood[i]);
    }
    free(flood);
    done_clear(&lone);
}

/* Many users at once: per-user and global limits hold throughout. */
static void test_limits(void **state) {
    (void)state;
    struct fr_sched_params p = base_params();
    p.max_concurrent_images = 6;
    p.user_concurrency_limit = 2;
    p.queue_capacity = 64;
    p.user_queue_capacity = 16;
    struct fr_sched *s = start(&p);
    enum { USERS = 6, PER = 4 };
    struct done d[USERS][PER];
    for (int u = 0; u < USERS; u++)
        for (int k = 0; k < PER; k++) {
            char name[16];
            snprintf(name, sizeof name, "user%d", u);
            done_init(&d[u][k], s);
            submit(s, name, k % 2 ? &g_two : &g_obama, 1, &d[u][k], 0);
        }
    for (int u = 0; u < USERS; u++)
        for (int k = 0; k < PER; k++) {
            wait_done(&d[u][k]);
            assert_int_equal(d[u][k].st[0], FR_OK);
            assert_int_equal(d[u][k].faces[0].count, k % 2 ? 2 : 1);
            done_clear(&d[u][k]);
        }
    struct fr_sched_counters c;
    for (int t = 0; t < 100; t++) { /* the counters are published after the callbacks */
        fr_sched_get_counters(s, &c);
        if (c.requests.completed == USERS * PER) break;
        usleep(10 * 1000);
    }
    printf("  max in flight %d (limit 6), per user %d (limit 2), queued %d (cap 64); batches %lld/%lld/%lld\n",
           c.max_inflight_images, c.max_user_inflight_images, c.max_queued_images, (long long)c.batches[0],
           (long long)c.batches[1], (long long)c.batches[2]);
    assert_true(c.max_inflight_images <= 6 && c.max_inflight_images >= 2);
    assert_true(c.max_user_inflight_images <= 2);
    assert_true(c.max_queued_images <= 64);
    assert_true(c.memory.device_peak <= c.memory.device_limit);
    assert_true(c.memory.host_peak <= p.host_memory_limit);
    assert_int_equal(c.requests.completed, USERS * PER);
    /* Batches mixed requests: fewer detection batches than images. */
    assert_true(c.batches[0] < USERS * PER);
    fr_sched_free(s);
}

static void test_busy_timeout_cancel_failures(void **state) {
    (void)state;
    struct fr_sched_params p = base_params();
    p.queue_capacity = 4;
    p.user_queue_capacity = 3;
    p.max_concurrent_images = 1;
    p.user_concurrency_limit = 1;
    struct fr_sched *s = start(&p);
    struct done d[4];
    for (int i = 0; i < 4; i++) done_init(&d[i], s);
    struct blob three[3] = { g_big, g_big, g_big };
    submit(s, "a", three, 3, &d[0], 0);
    /* user a is at its capacity (3), the global queue nearly (4) */
    struct fr_sched_image one = { g_obama.data, g_obama.len };
    struct fr_sched_request rq = { .user = "a", .images = &one, .n_images = 1, .embeddings = true, .done = on_done,
                                   .ctx = &d[1] };
    uint64_t id;
    int32_t retry = 0;
    /* At most one of a's images is in flight, so at least two are queued:
     * two more exceed a's capacity of three. */
    struct fr_sched_image two[2] = { one, one };
    rq.images = two;
    rq.n_images = 2;
    enum fr_status st = fr_sched_submit(s, &rq, &id, &retry);
    assert_int_equal(st, FR_ERR_BUSY);
    assert_true(retry >= 1000);
    /* A deadline of 1 ms behind three large images: 504-style timeout. */
    submit(s, "b", &g_obama, 1, &d[2], 1);
    wait_done(&d[2]);
    assert_int_equal(d[2].status, FR_ERR_TIMEOUT);
    /* Cancelled while queued. */
    uint64_t cid = submit(s, "c", &g_obama, 1, &d[3], 0);
    fr_sched_cancel(s, cid);
    wait_done(&d[3]);
    assert_int_equal(d[3].status, FR_ERR_CANCELLED);
    wait_done(&d[0]);
    assert_int_equal(d[0].status, FR_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(d[0].st[i], FR_OK);
    for (int i = 0; i < 4; i++) done_clear(&d[i]);
    /* One corrupt image fails alone. */
    struct done m;
    done_init(&m, s);
    struct blob cut = { g_obama.data, g_obama.len / 3 };
    struct blob mixed[3] = { g_obama, cut, g_biden };
    submit(s, "d", mixed, 3, &m, 0);
    wait_done(&m);
    assert_int_equal(m.status, FR_OK);
    assert_int_equal(m.st[0], FR_OK);
    assert_int_equal(m.st[1], FR_ERR_IMAGE);
    assert_int_equal(m.st[2], FR_OK);
    assert_int_equal(m.faces[2].count, 1);
    done_clear(&m);
    struct fr_sched_counters c;
    fr_sched_get_counters(s, &c);
    assert_true(c.requests.timed_out >= 1 && c.requests.cancelled >= 1);
    fr_sched_free(s);
}

/* The budget decides the batch limits; too small a budget is refused. */
static void test_memory_budget(void **state) {
    (void)state;
    struct fr_sched_params p = base_params();
    p.max_batch_size = 128;
    p.preferred_batch_size = 64;
    p.device_memory_limit = (size_t)400 << 20;
    struct fr_sched *s = start(&p);
    struct fr_sched_counters c;
    fr_sched_get_counters(s, &c);
    printf("  400 MiB: batches %d/%d/%d, device memory %.1f MiB\n", c.batch_limit[0], c.batch_limit[1],
           c.batch_limit[2], c.memory.device_used / 1048576.0);
    assert_true(c.memory.device_used <= c.memory.device_limit);
    assert_true(c.batch_limit[0] >= 1 && c.batch_limit[0] < 128);
    struct done d;
    done_init(&d, s);
    submit(s, "a", &g_two, 1, &d, 0);
    wait_done(&d);
    assert_int_equal(d.faces[0].count, 2);
    done_clear(&d);
    fr_sched_free(s);
    p.device_memory_limit = (size_t)20 << 20;
    char err[512] = "";
    assert_int_equal(fr_sched_new(&p, &s, err, sizeof err), FR_ERR_BUDGET);
    assert_null(s);
    assert_non_null(strstr(err, "device_memory_limit"));
}

/* /status (typed and JSON), /metrics and the counters are views of one
 * stats sink: on a quiet scheduler they agree figure for figure. */
static void check_views_agree(struct fr_sched *s, const char *user) {
    struct fr_sched_counters c;
    struct fr_sched_status st;
    struct fr_sched_metrics *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    fr_sched_get_counters(s, &c);
    assert_int_equal(fr_sched_get_status(s, &st), FR_OK);
    fr_sched_get_metrics(s, m);
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        assert_int_equal(st.batches[k].count, c.batches[k]);
        assert_int_equal(st.batches[k].items, c.batch_items[k]);
        assert_int_equal((int64_t)m->batch_size[k].count, c.batches[k]);
        assert_int_equal((int64_t)m->batch_size[k].sum, c.batch_items[k]);
        assert_int_equal((int64_t)m->inference_seconds[k].count, c.batches[k]);
        assert_int_equal(st.batches[k].limit, c.batch_limit[k]);
        assert_int_equal(m->batch_limit[k], c.batch_limit[k]);
        int64_t ranges = 0;
        for (int r = 0; r < FR_SCHED_SIZE_BUCKETS; r++) ranges += st.batches[k].sizes[r];
        assert_int_equal(ranges, c.batches[k]);
    }
    assert_true(c.batches[FR_STAGE_DETECT] > 0);
    assert_int_equal(st.throughput.images_total, c.images_done);
    assert_int_equal(m->images_done, c.images_done);
    assert_int_equal((int64_t)m->image_seconds.count, c.images_done);
    assert_int_equal(st.throughput.faces_total, c.faces_done);
    assert_int_equal(m->faces_done, c.faces_done);
    assert_int_equal(st.requests.admitted, c.requests.admitted);
    assert_int_equal(m->requests.admitted, c.requests.admitted);
    assert_int_equal(st.requests.completed, c.requests.completed);
    assert_int_equal(m->requests.completed, c.requests.completed);
    assert_int_equal(st.memory.device_used, c.memory.device_used);
    assert_int_equal(m->memory.device_used, c.memory.device_used);
    /* Quiet: every figure of the shared groups agrees, not just one. */
    assert_memory_equal(&st.requests, &c.requests, sizeof c.requests);
    assert_memory_equal(&m->requests, &c.requests, sizeof c.requests);
    assert_memory_equal(&st.memory, &c.memory, sizeof c.memory);
    assert_memory_equal(&m->memory, &c.memory, sizeof c.memory);
    assert_true(c.memory.staging > 0 && c.memory.staging < c.memory.device_used);
    assert_string_equal(st.backend, m->backend);
    /* The user is known to both; the JSON is the typed status rendered. */
    bool seen = false;
    for (int32_t i = 0; i < st.queue.n_users; i++) seen |= !strcmp(st.queue.users[i].user, user);
    assert_true(seen);
    assert_int_equal(m->users_known, st.queue.n_users);
    char *js = fr_sched_status_json(s);
    assert_non_null(js);
    char key[160], count[96];
    snprintf(key, sizeof key, "\"per_user\":{\"%s\"", user);
    assert_non_null(strstr(js, key));
    snprintf(count, sizeof count, "\"detect\":{\"count\":%lld,", (long long)c.batches[FR_STAGE_DETECT]);
    assert_non_null(strstr(js, count));
    fr_free(js);
    /* Without an admin key only one's own entry stays. */
    fr_sched_status_keep_user(&st, "nobody");
    assert_int_equal(st.queue.n_users, 0);
    fr_sched_status_clear(&st);
    assert_null(st.queue.users);
    free(m);
}

static void test_drain(void **state) {
    (void)state;
    struct fr_sched_params p = base_params();
    struct fr_sched *s = start(&p);
    struct done d[4];
    for (int i = 0; i < 4; i++) {
        done_init(&d[i], s);
        submit(s, "a", &g_obama, 1, &d[i], 0);
    }
    assert_int_equal(fr_sched_drain(s, 60000), 0);
    for (int i = 0; i < 4; i++) {
        assert_true(d[i].finished);
        assert_int_equal(d[i].status, FR_OK);
        done_clear(&d[i]);
    }
    check_views_agree(s, "a");
    struct fr_sched_image one = { g_obama.data, g_obama.len };
    struct fr_sched_request rq = { .user = "a", .images = &one, .n_images = 1, .done = on_done, .ctx = &d[0] };
    uint64_t id;
    assert_int_equal(fr_sched_submit(s, &rq, &id, NULL), FR_ERR_SHUTDOWN);
    fr_sched_free(s);
}

/* batching = static: images go in fixed batches of the target size (here
 * preferred_batch_size 4), one batch through all three nets before the
 * next is admitted; a trickle still finishes after the fill timeout. */
static void test_static_batching(void **state) {
    (void)state;
    struct fr_sched_params p = base_params();
    p.batching = FR_BATCHING_STATIC;
    p.preferred_batch_size = 4;
    p.static_fill_timeout_ms = 200;
    struct fr_sched *s = start(&p);
    enum { N = 8 };
    struct done d[N];
    for (int i = 0; i < N; i++) done_init(&d[i], s);
    for (int i = 0; i < N; i++) submit(s, "u", &g_obama, 1, &d[i], 0);
    for (int i = 0; i < N; i++) wait_done(&d[i]);
    struct fr_sched_counters c;
    fr_sched_get_counters(s, &c);
    /* Two full detection batches of four; every image found its face. */
    assert_int_equal(c.batches[0], 2);
    assert_int_equal(c.batch_items[0], N);
    assert_true(c.max_inflight_images <= 4);
    for (int i = 0; i < N; i++) {
        assert_int_equal(d[i].status, FR_OK);
        assert_int_equal(d[i].st[0], FR_OK);
        assert_int_equal(d[i].faces[0].count, 1);
    }
    /* Batches do not overlap: the first four finished before any of the
     * second batch's nets ran, i.e. every request of the first batch saw
     * at most its own three batches. */
    int early = 0;
    for (int i = 0; i < N; i++) early += d[i].batches_at_end <= 3;
    assert_int_equal(early, 4);
    /* A lone image: the batch cannot fill, the fill timeout sends it. */
    struct done one;
    done_init(&one, s);
    submit(s, "u", &g_biden, 1, &one, 0);
    wait_done(&one);
    assert_int_equal(one.status, FR_OK);
    assert_int_equal(one.faces[0].count, 1);
    done_clear(&one);
    for (int i = 0; i < N; i++) done_clear(&d[i]);
    check_views_agree(s, "u");
    fr_sched_free(s);
}

int main(void) {
    g_obama = load("tests/test_images/obama.jpg");
    g_biden = load("tests/test_images/biden.jpg");
    g_two = load("examples/two_people.jpg");
    g_big = load("tests/test_images/obama3.jpg");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_to_pipeline), cmocka_unit_test(test_fairness),
        cmocka_unit_test(test_limits),            cmocka_unit_test(test_busy_timeout_cancel_failures),
        cmocka_unit_test(test_memory_budget),     cmocka_unit_test(test_drain),
        cmocka_unit_test(test_static_batching),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_obama.data);
    free(g_biden.data);
    free(g_two.data);
    free(g_big.data);
    return rc;
}
