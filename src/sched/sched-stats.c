/* Scheduler statistics: batch histograms, latency percentiles and
 * per-second rates for /status. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/core.h"
#include "sched-stats.h"

const char *const fr__stage_names[FR_STAGES] = { "detect", "landmark", "recognize" };
const char *const fr__lat_names[FR_LAT_KINDS] = { "queued", "decode", "detect", "landmark", "recognize", "total" };

void fr__stats_init(struct fr_sched_stats *st) {
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    st->t0 = fr_time_now();
    st->sec0 = (int64_t)floor(st->t0);
}

void fr__stats_destroy(struct fr_sched_stats *st) { pthread_mutex_destroy(&st->mu); }

/* Moves the rings forward to the second of t, zeroing the seconds that
 * passed without events. Called with the lock held. */
static void advance(struct fr_sched_stats *st, double t) {
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

static int bucket(int32_t n) {
    int b = 0;
    while (n > 1 && b < FR_HIST_BUCKETS - 1) n >>= 1, b++;
    return b;
}

void fr__stats_batch(struct fr_sched_stats *st, int stage, int32_t n, double t0, double t1) {
    pthread_mutex_lock(&st->mu);
    advance(st, t1);
    st->batches[stage]++;
    st->items[stage] += n;
    st->hist[stage][bucket(n)]++;
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

void fr__stats_image(struct fr_sched_stats *st, const double lat[FR_LAT_KINDS], int32_t faces, bool failed) {
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    advance(st, now);
    int64_t i = st->sec0 % FR_RATE_SECONDS;
    st->ring_images[i] += 1;
    st->ring_faces[i] += faces;
    st->images_total++;
    st->faces_total += faces;
    if (failed) st->images_failed++;
    for (int k = 0; k < FR_LAT_KINDS; k++) {
        if (lat[k] < 0) continue; /* a stage the image did not reach */
        st->lat[k][st->lat_n[k] % FR_LAT_SAMPLES] = (float)lat[k];
        st->lat_n[k]++;
    }
    pthread_mutex_unlock(&st->mu);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

void fr__stats_view(struct fr_sched_stats *st, struct fr_stats_view *v) {
    float tmp[FR_LAT_SAMPLES]; /* 8 KiB: sorted copies of one ring at a time */
    memset(v, 0, sizeof(*v));
    double now = fr_time_now();
    pthread_mutex_lock(&st->mu);
    advance(st, now);
    v->uptime = now - st->t0;
    memcpy(v->batches, st->batches, sizeof(v->batches));
    memcpy(v->items, st->items, sizeof(v->items));
    memcpy(v->hist, st->hist, sizeof(v->hist));
    for (int k = 0; k < FR_LAT_KINDS; k++) {
        int64_t n = st->lat_n[k] < FR_LAT_SAMPLES ? st->lat_n[k] : FR_LAT_SAMPLES;
        if (!n) continue;
        memcpy(tmp, st->lat[k], sizeof(float) * (size_t)n);
        qsort(tmp, (size_t)n, sizeof(float), cmp_float);
        v->p50[k] = tmp[(n - 1) * 50 / 100];
        v->p95[k] = tmp[(n - 1) * 95 / 100];
        v->p99[k] = tmp[(n - 1) * 99 / 100];
    }
    /* The current second is partial: the 1 s figures use the last full
     * second, the 60 s ones the 59 full seconds before this one (or the
     * uptime when shorter). */
    int64_t prev = (st->sec0 - 1 + FR_RATE_SECONDS) % FR_RATE_SECONDS;
    double full = fmin(FR_RATE_SECONDS - 1, floor(now) - floor(st->t0));
    if (full >= 1) {
        v->images_1s = st->ring_images[prev];
        v->faces_1s = st->ring_faces[prev];
        v->busy_1s = fmin(1.0, st->ring_busy[prev]);
        double im = 0, fa = 0, bu = 0;
        for (int64_t k = 1; k <= (int64_t)full; k++) {
            int64_t i = (st->sec0 - k + FR_RATE_SECONDS) % FR_RATE_SECONDS;
            im += st->ring_images[i], fa += st->ring_faces[i], bu += st->ring_busy[i];
        }
        v->images_60s = im / full, v->faces_60s = fa / full, v->busy_60s = fmin(1.0, bu / full);
    }
    v->busy_total = v->uptime > 0 ? fmin(1.0, st->busy_total / v->uptime) : 0;
    v->images_total = st->images_total;
    v->faces_total = st->faces_total;
    v->images_failed = st->images_failed;
    pthread_mutex_unlock(&st->mu);
}
