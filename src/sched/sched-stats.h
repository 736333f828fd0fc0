/* Scheduler statistics for /status (src/sched/sched-stats.c).
 *
 * The loop thread records; any thread may read a snapshot. One mutex
 * guards everything, held only for a few arithmetic operations. */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define FR_STAGES 3     /* detect, landmark, recognize */
#define FR_LAT_KINDS 6  /* queued, decode, detect, landmark, recognize, total */
#define FR_LAT_SAMPLES 2048
#define FR_RATE_SECONDS 60
#define FR_HIST_BUCKETS 9 /* batch sizes 1, 2-3, 4-7, ..., 128-255, 256+ */

struct fr_sched_stats {
    pthread_mutex_t mu;
    double t0;
    /* batches per stage */
    int64_t batches[FR_STAGES], items[FR_STAGES];
    int64_t hist[FR_STAGES][FR_HIST_BUCKETS];
    /* latency samples (ms), rings */
    float lat[FR_LAT_KINDS][FR_LAT_SAMPLES];
    int64_t lat_n[FR_LAT_KINDS];
    /* per-second rings: images, faces, device busy seconds */
    int64_t sec0; /* the second rings[.][sec % N] refers to for the newest entry */
    double ring_images[FR_RATE_SECONDS], ring_faces[FR_RATE_SECONDS], ring_busy[FR_RATE_SECONDS];
    double busy_total; /* device busy seconds since start */
    int64_t images_total, faces_total, images_failed;
};

void fr__stats_init(struct fr_sched_stats *st);
void fr__stats_destroy(struct fr_sched_stats *st);
/* A batch of n items of a stage that kept the device busy from t0 to t1. */
void fr__stats_batch(struct fr_sched_stats *st, int stage, int32_t n, double t0, double t1);
/* A finished image: its latencies (ms, in FR_LAT_KINDS order) and faces. */
void fr__stats_image(struct fr_sched_stats *st, const double lat[FR_LAT_KINDS], int32_t faces, bool failed);

/* Figures for /status, computed under the lock. */
struct fr_stats_view {
    double uptime;
    int64_t batches[FR_STAGES], items[FR_STAGES], hist[FR_STAGES][FR_HIST_BUCKETS];
    double p50[FR_LAT_KINDS], p95[FR_LAT_KINDS], p99[FR_LAT_KINDS];
    double images_1s, faces_1s, images_60s, faces_60s; /* per second */
    double busy_1s, busy_60s, busy_total;               /* fractions of wall time */
    int64_t images_total, faces_total, images_failed;
};
void fr__stats_view(struct fr_sched_stats *st, struct fr_stats_view *v);

extern const char *const fr__stage_names[FR_STAGES];
extern const char *const fr__lat_names[FR_LAT_KINDS];
