/* The scheduler's one stats sink: counters, histograms, latency rings and
 * per-second rates, the loop's gauges and the per-user figures, recorded
 * once per event and read by /status, /metrics and the tests (see
 * sched-stats.h). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/core.h"
#include "sched-stats.h"

/* ---- names ---- */

const char *fr_stage_name(enum fr_stage stage) {
    static const char *const names[FR_STAGE_COUNT] = { "detect", "landmark", "recognize" };
    return (unsigned)stage < FR_STAGE_COUNT ? names[stage] : NULL;
}

const char *fr_sched_latency_name(enum fr_sched_latency k) {
    static const char *const names[FR_LATENCY_COUNT] = { "queued",   "decode",    "detect",
                                                         "landmark", "recognize", "total" };
    return (unsigned)k < FR_LATENCY_COUNT ? names[k] : NULL;
}

const char *fr_sched_size_bucket_name(int32_t k) {
    static const char *const names[FR_SCHED_SIZE_BUCKETS] = { "1",     "2-3",    "4-7",     "8-15", "16-31",
                                                              "32-63", "64-127", "128-255", "256+" };
    return k >= 0 && k < FR_SCHED_SIZE_BUCKETS ? names[k] : NULL;
}

/* ---- histograms ---- */

void fr_histogram_init(struct fr_histogram *h, const double *bounds, int32_t n) {
    FR_ASSERT(n >= 0 && n <= FR_METRICS_MAX_BOUNDS);
    memset(h, 0, sizeof(*h));
    h->nbounds = n;
    memcpy(h->bounds, bounds, sizeof(double) * (size_t)n);
}

void fr_histogram_observe(struct fr_histogram *h, double v) {
    if (isnan(v)) return;
    int32_t i = 0;
    while (i < h->nbounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* Batch sizes are powers of two up to the largest batch the settings allow. */
static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
/* Seconds: from a fraction of a millisecond (a queue that is never waited
 * on, a tiny batch) to the default request deadline. */
static const double time_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,   0.5,   1,      2.5,   5,    10,    30 };
#define NB(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- life ---- */

void fr__stats_init(struct fr__stats *st, int32_t top_users) {
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    st->t0 = fr_time_now();
    st->sec0 = (int64_t)floor(st->t0);
    st->top_users = top_users < FR_METRICS_MAX_USERS ? top_users : FR_METRICS_MAX_USERS;
    st->users_tail = &st->users;
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        fr_histogram_init(&st->batch_size[k], batch_bounds, NB(batch_bounds));
        fr_histogram_init(&st->inference_seconds[k], time_bounds, NB(time_bounds));
    }
    for (int k = 0; k < FR_WAITS; k++) fr_histogram_init(&st->queue_seconds[k], time_bounds, NB(time_bounds));
    fr_histogram_init(&st->image_seconds, time_bounds, NB(time_bounds));
}

void fr__stats_destroy(struct fr__stats *st) { pthread_mutex_destroy(&st->mu); }

/* Moves the rings forward to the second of t, zeroing the seconds that
 * passed without events. Called with the lock held. */
static void advance(struct fr__stats *st, double t) {
    int64_t sec = (int64_t)floor(t);
    if (sec <= st->sec0) return;
    int64_t gap = sec - st->sec0;
    if (gap > FR_RATE_SECONDS) gap = FR_RATE_SECONDS;
    for (int64_t k = 1; k <= gap; k++) {
        int64_t i = (st->sec0 + k) % FR_RATE_SECONDS;
        st->ring_images[i] = st->ring_faces[i] = st->ring_busy[i] = 0;
    }
    st->sec0 = sec;
}

/* Sums of the rings over the full seconds before the current one (at most
 * 59, fewer after a shorter uptime), which it returns; the current second
 * is partial and left out. Called with the lock held, after advance. */
static double window(const struct fr__stats *st, double now, double *images, double *faces, double *busy) {
    double full = fmin(FR_RATE_SECONDS - 1, floor(now) - floor(st->t0));
    *images = *faces = *busy = 0;
    for (int64_t k = 1; k <= (int64_t)full; k++) {
        int64_t i = (st->sec0 - k + FR_RATE_SECONDS) % FR_RATE_SECONDS;
        *images += st->ring_images[i], *faces += st->ring_faces[i], *busy += st->ring_busy[i];
    }
    return full;
}

/* ---- users ---- */

static bool rankable(const struct fr__stats_user *u) {
    return u->traffic > 0 && strlen(u->name) < FR_METRICS_USER_LEN && strcmp(u->name, "_other") != 0;
}

void fr__stats_user_add(struct fr__stats *st, struct fr__stats_user *u) {
    pthread_mutex_lock(&st->mu);
    u->next = NULL;
    *st->users_tail = u;
    st->users_tail = &u->next;
    st->n_users++;
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_submitted(struct fr__stats *st, struct fr__stats_user *u, int32_t n, bool rejected) {
    pthread_mutex_lock(&st->mu);
    if (rejected) st->requests.rejected_busy++;
    else st->requests.admitted++;
    u->traffic += n;
    /* A free place goes to the first comers at once; the ranking then
     * keeps the busiest. */
    if (!u->ranked && st->n_ranked < st->top_users && rankable(u)) {
        u->ranked = true;
        st->n_ranked++;
    }
    if (u->ranked) {
        u->submitted += n;
        if (rejected) u->rejected += n;
    } else {
        st->other_submitted += n;
        if (rejected) st->other_rejected += n;
    }
    pthread_mutex_unlock(&st->mu);
}

/* More traffic first; on a tie the user already ranked keeps its place,
 * so that series do not flap between equals. */
static bool better(const struct fr__stats_user *a, const struct fr__stats_user *b) {
    if (a->traffic != b->traffic) return a->traffic > b->traffic;
    return a->ranked && !b->ranked;
}

/* The top metrics_top_users users by traffic get their own series. Called
 * with the lock held. */
static void rank(struct fr__stats *st) {
    int32_t n = st->top_users, nt = 0;
    struct fr__stats_user *top[FR_METRICS_MAX_USERS];
    for (struct fr__stats_user *u = st->users; u && n > 0; u = u->next) {
        if (!rankable(u)) continue;
        int32_t pos;
        if (nt < n) pos = nt++;
        else if (better(u, top[n - 1])) pos = n - 1;
        else continue;
        top[pos] = u;
        for (; pos > 0 && better(top[pos], top[pos - 1]); pos--) {
            struct fr__stats_user *t = top[pos];
            top[pos] = top[pos - 1];
            top[pos - 1] = t;
        }
    }
    for (struct fr__stats_user *u = st->users; u; u = u->next) u->ranked = false;
    for (int32_t i = 0; i < nt; i++) top[i]->ranked = true;
    st->n_ranked = nt;
}

/* ---- loop events ---- */

void fr__stats_admitted(struct fr__stats *st, double wait_s) {
    pthread_mutex_lock(&st->mu);
    fr_histogram_observe(&st->queue_seconds[FR_WAIT_ADMISSION], fmax(0.0, wait_s));
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_turn_skipped(struct fr__stats *st) {
    pthread_mutex_lock(&st->mu);
    st->turns_skipped++;
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_tile(struct fr__stats *st) {
    pthread_mutex_lock(&st->mu);
    st->tiles++;
    pthread_mutex_unlock(&st->mu);
}

static int size_range(int32_t n) {
    int b = 0;
    while (n > 1 && b < FR_SCHED_SIZE_BUCKETS - 1) n >>= 1, b++;
    return b;
}

void fr__stats_batch(struct fr__stats *st, enum fr_stage stage, int32_t n, double t0, double t1,
                     const double *waits, int32_t n_waits) {
    pthread_mutex_lock(&st->mu);
    advance(st, t1);
    fr_histogram_observe(&st->batch_size[stage], n);
    fr_histogram_observe(&st->inference_seconds[stage], t1 - t0);
    st->size_ranges[stage][size_range(n)]++;
    for (int32_t k = 0; k < n_waits; k++)
        fr_histogram_observe(&st->queue_seconds[FR_WAIT_DETECT + stage], fmax(0.0, waits[k]));
    st->busy_total += t1 - t0;
    /* Split the busy interval over the seconds it covers, so that the 1 s
     * utilisation is right even for long batches. */
    for (double a = t0; a < t1;) {
        double end = fmin(t1, floor(a) + 1.0);
        int64_t sec = (int64_t)floor(a);
        if (st->sec0 - sec < FR_RATE_SECONDS) st->ring_busy[sec % FR_RATE_SECONDS] += end - a;
        a = end;
    }
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_image(struct fr__stats *st, struct fr__stats_user *u, const double lat[FR_LATENCY_COUNT],
                     int32_t faces, bool failed) {
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    advance(st, now);
    int64_t i = st->sec0 % FR_RATE_SECONDS;
    st->ring_images[i] += 1;
    st->ring_faces[i] += faces;
    st->images_done++;
    st->faces_done += faces;
    if (failed) st->images_failed++;
    fr_histogram_observe(&st->image_seconds, lat[FR_LATENCY_TOTAL] / 1e3);
    for (int k = 0; k < FR_LATENCY_COUNT; k++) {
        if (lat[k] < 0) continue; /* a stage the image did not reach */
        st->lat[k][st->lat_n[k] % FR_LAT_SAMPLES] = (float)lat[k];
        st->lat_n[k]++;
    }
    if (u->ranked) {
        u->images_done++;
        u->faces_done += faces;
    } else {
        st->other_images_done++;
        st->other_faces_done += faces;
    }
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_request_done(struct fr__stats *st, enum fr_status s) {
    pthread_mutex_lock(&st->mu);
    if (s == FR_ERR_TIMEOUT) st->requests.timed_out++;
    else if (s == FR_ERR_CANCELLED) st->requests.cancelled++;
    st->requests.completed++;
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_publish(struct fr__stats *st, const struct fr__stats_gauges *g) {
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    st->g = *g;
    for (struct fr__stats_user *u = st->users; u; u = u->next) {
        u->queued = u->loop_queued;
        u->in_flight = u->loop_in_flight;
    }
    if (now - st->ranked_at >= 1.0) {
        rank(st);
        st->ranked_at = now;
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- readers ---- */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

void fr__stats_status(struct fr__stats *st, struct fr_sched_status *o) {
    float tmp[FR_LAT_SAMPLES]; /* 8 KiB: sorted copies of one ring at a time */
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    advance(st, now);
    const struct fr__stats_gauges *g = &st->g;
    o->uptime_s = now - st->t0;
    o->queue.total = g->queued;
    o->queue.decode = g->decoding;
    memcpy(o->queue.ready, g->ready, sizeof(o->queue.ready));
    o->in_flight = g->in_flight;
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        o->batches[k].count = (int64_t)st->batch_size[k].count;
        o->batches[k].items = (int64_t)st->batch_size[k].sum;
        o->batches[k].limit = g->batch_limit[k];
        memcpy(o->batches[k].sizes, st->size_ranges[k], sizeof(o->batches[k].sizes));
    }
    o->tile_items = st->tiles;
    o->turns_skipped = st->turns_skipped;
    for (int k = 0; k < FR_LATENCY_COUNT; k++) {
        int64_t n = st->lat_n[k] < FR_LAT_SAMPLES ? st->lat_n[k] : FR_LAT_SAMPLES;
        if (!n) continue;
        memcpy(tmp, st->lat[k], sizeof(float) * (size_t)n);
        qsort(tmp, (size_t)n, sizeof(float), cmp_float);
        o->latency_ms[k].p50 = tmp[(n - 1) * 50 / 100];
        o->latency_ms[k].p95 = tmp[(n - 1) * 95 / 100];
        o->latency_ms[k].p99 = tmp[(n - 1) * 99 / 100];
    }
    /* The 1 s figures use the last full second, the 60 s ones the full
     * seconds of the window. */
    int64_t prev = (st->sec0 - 1 + FR_RATE_SECONDS) % FR_RATE_SECONDS;
    double im, fa, bu, full = window(st, now, &im, &fa, &bu);
    if (full >= 1) {
        o->throughput.images_1s = st->ring_images[prev];
        o->throughput.faces_1s = st->ring_faces[prev];
        o->busy_1s = fmin(1.0, st->ring_busy[prev]);
        o->throughput.images_60s = im / full;
        o->throughput.faces_60s = fa / full;
        o->busy_60s = fmin(1.0, bu / full);
    }
    o->busy_since_start = o->uptime_s > 0 ? fmin(1.0, st->busy_total / o->uptime_s) : 0;
    o->throughput.images_total = st->images_done;
    o->throughput.faces_total = st->faces_done;
    o->throughput.images_failed = st->images_failed;
    o->memory = g->memory;
    o->requests = st->requests;
    pthread_mutex_unlock(&st->mu);
}

enum fr_status fr__stats_status_users(struct fr__stats *st, struct fr_sched_status *o) {
    enum fr_status ret = FR_OK;
    pthread_mutex_lock(&st->mu);
    /* One block: the entries, then their names. */
    size_t bytes = sizeof(struct fr_sched_user_status) * (size_t)st->n_users;
    for (const struct fr__stats_user *u = st->users; u; u = u->next) bytes += strlen(u->name) + 1;
    struct fr_sched_user_status *e = st->n_users ? fr_malloc(bytes) : NULL;
    if (st->n_users && !e) {
        ret = FR_ERR_NOMEM;
    } else if (e) {
        char *names = (char *)(e + st->n_users);
        int32_t i = 0;
        for (const struct fr__stats_user *u = st->users; u; u = u->next, i++) {
            size_t n = strlen(u->name) + 1;
            memcpy(names, u->name, n);
            e[i] = (struct fr_sched_user_status){ .user = names, .queued = u->queued, .in_flight = u->in_flight };
            names += n;
        }
        o->queue.users = e;
        o->queue.n_users = i;
    }
    pthread_mutex_unlock(&st->mu);
    return ret;
}

static void user_entry(struct fr_user_metrics *e, const struct fr__stats_user *u) {
    e->images_submitted += u->submitted;
    e->images_rejected += u->rejected;
    e->images_done += u->images_done;
    e->faces_done += u->faces_done;
    e->queued += u->queued;
    e->in_flight += u->in_flight;
}

void fr__stats_metrics(struct fr__stats *st, struct fr_sched_metrics *m) {
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    advance(st, now);
    const struct fr__stats_gauges *g = &st->g;
    m->uptime_s = now - st->t0;
    /* The last full second, as /status busy_1s. */
    if (floor(now) - floor(st->t0) >= 1)
        m->busy_ratio_1s = fmin(1.0, st->ring_busy[(st->sec0 - 1 + FR_RATE_SECONDS) % FR_RATE_SECONDS]);
    m->requests = st->requests;
    m->images_done = st->images_done;
    m->images_failed = st->images_failed;
    m->faces_done = st->faces_done;
    m->queue_depth[FR_QUEUE_ADMISSION] = g->queued;
    m->queue_depth[FR_QUEUE_DECODE] = g->decoding;
    for (int k = 0; k < FR_STAGE_COUNT; k++) m->queue_depth[FR_QUEUE_DETECT + k] = g->ready[k];
    m->in_flight_images = g->in_flight.images;
    m->in_flight_requests = g->in_flight.requests;
    m->memory = g->memory;
    memcpy(m->batch_limit, g->batch_limit, sizeof(m->batch_limit));
    memcpy(m->batch_size, st->batch_size, sizeof(m->batch_size));
    memcpy(m->inference_seconds, st->inference_seconds, sizeof(m->inference_seconds));
    memcpy(m->queue_seconds, st->queue_seconds, sizeof(m->queue_seconds));
    m->image_seconds = st->image_seconds;
    m->busy_seconds = st->busy_total;
    memset(&m->other, 0, sizeof(m->other));
    memcpy(m->other.user, "_other", sizeof("_other"));
    m->other.images_submitted = st->other_submitted;
    m->other.images_rejected = st->other_rejected;
    m->other.images_done = st->other_images_done;
    m->other.faces_done = st->other_faces_done;
    m->users_known = 0;
    m->n_users = 0;
    for (const struct fr__stats_user *u = st->users; u; u = u->next) {
        m->users_known++;
        if (u->ranked && m->n_users < FR_METRICS_MAX_USERS) {
            struct fr_user_metrics *e = &m->users[m->n_users++];
            memset(e, 0, sizeof(*e));
            memcpy(e->user, u->name, strlen(u->name) + 1); /* ranked names are shorter than e->user */
            user_entry(e, u);
        } else {
            /* Only the gauges: the counters of unranked users were summed
             * into other as they happened. */
            m->other.queued += u->queued;
            m->other.in_flight += u->in_flight;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

void fr__stats_counters(struct fr__stats *st, struct fr_sched_counters *c) {
    memset(c, 0, sizeof(*c));
    pthread_mutex_lock(&st->mu);
    const struct fr__stats_gauges *g = &st->g;
    c->requests = st->requests;
    c->images_done = st->images_done;
    c->faces_done = st->faces_done;
    c->queued_images = g->queued;
    c->inflight_images = g->in_flight.images;
    c->max_inflight_images = g->in_flight.max_images;
    c->max_user_inflight_images = g->in_flight.max_user_images;
    c->max_queued_images = g->max_queued;
    c->memory = g->memory;
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        c->batches[k] = (int64_t)st->batch_size[k].count;
        c->batch_items[k] = (int64_t)st->batch_size[k].sum;
        c->batch_limit[k] = g->batch_limit[k];
    }
    c->tiles = st->tiles;
    c->turns_skipped = st->turns_skipped;
    pthread_mutex_unlock(&st->mu);
}

double fr__stats_images_rate(struct fr__stats *st) {
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    advance(st, now);
    double im, fa, bu, full = window(st, now, &im, &fa, &bu);
    pthread_mutex_unlock(&st->mu);
    return full >= 1 ? im / full : 0;
}
