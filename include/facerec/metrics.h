/* facerec metrics: a snapshot of the scheduler's counters and histograms,
 * for GET /metrics (Prometheus) and other exporters.
 *
 * The scheduler loop owns the live figures and updates them without locks
 * (it is their only writer); it publishes a copy at the end of each loop
 * iteration in which something changed, under the lock that already
 * guards its other published figures. fr_sched_get_metrics copies that
 * snapshot, so readers never slow the loop down beyond one memcpy.
 *
 * Histograms are not cumulative here: counts[i] is the number of
 * observations in (bounds[i-1], bounds[i]], and counts[nbounds] those above
 * the last bound. Exporters accumulate them (Prometheus `le` buckets).
 *
 * Per-user figures: the `metrics_top_users` users with the most traffic
 * (images submitted, accepted or not) have their own entry; everyone else
 * is summed into `other`, so the number of series stays bounded whatever
 * the number of users. The ranking is redone once a second. A user's
 * counters are its lifetime totals; `other` accumulates only what users
 * did while they were not ranked, so every counter only grows.
 *
 * Thread-safety: fr_sched_get_metrics may be called from any thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "facerec/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_METRICS_MAX_BOUNDS 16
#define FR_METRICS_MAX_USERS 64 /* the largest metrics_top_users */
#define FR_METRICS_USER_LEN 128 /* longer user names are never ranked: they count in other */

struct fr_histogram {
    int32_t nbounds;                               /* finite upper bounds, ascending */
    double bounds[FR_METRICS_MAX_BOUNDS];
    uint64_t counts[FR_METRICS_MAX_BOUNDS + 1];    /* per bucket; [nbounds] is above the last bound */
    uint64_t count;                                /* all observations */
    double sum;                                    /* of the observed values */
};

/* Adds one observation (linear search: at most 16 bounds). */
FR_API void fr_histogram_observe(struct fr_histogram *h, double v);
/* Empty histogram with the given bounds (n <= FR_METRICS_MAX_BOUNDS). */
FR_API void fr_histogram_init(struct fr_histogram *h, const double *bounds, int32_t n);

struct fr_user_metrics {
    char user[FR_METRICS_USER_LEN]; /* "_other" for the rest */
    int64_t images_submitted;       /* accepted or refused (the ranking key) */
    int64_t images_rejected;        /* refused with 429 */
    int64_t images_done, faces_done;
    int32_t queued, in_flight;      /* images, now */
};

/* Queues, in the order of queue_depth[]. */
enum { FR_QUEUE_ADMISSION, FR_QUEUE_DECODE, FR_QUEUE_DETECT, FR_QUEUE_LANDMARK, FR_QUEUE_RECOGNIZE, FR_QUEUES };
/* Waits measured by queue_seconds[]: in the user's queue before decoding,
 * then ready for each net until its batch starts. */
enum { FR_WAIT_ADMISSION, FR_WAIT_DETECT, FR_WAIT_LANDMARK, FR_WAIT_RECOGNIZE, FR_WAITS };

struct fr_sched_metrics {
    char backend[32]; /* "cpu", "cuda" */
    double uptime_s;
    bool ready;
    /* Requests and images since start. */
    int64_t requests_admitted, requests_rejected, requests_completed, requests_timed_out, requests_cancelled;
    int64_t images_done, images_failed, faces_done;
    /* Now. */
    int32_t queue_depth[FR_QUEUES]; /* images (admission, decode) or items (a net's ready faces) */
    int32_t queue_capacity;
    int32_t in_flight_images, max_concurrent_images;
    int32_t in_flight_requests;
    /* Device. */
    double busy_seconds;      /* the device ran a batch, since start */
    double busy_ratio_1s;     /* of the last full second */
    size_t device_memory_used, device_memory_peak, device_memory_limit;
    size_t host_memory_used, host_memory_peak, host_memory_limit;
    int32_t batch_limit[3];   /* detect, landmark, recognize */
    /* Histograms, per net in the order detect, landmark, recognize. */
    struct fr_histogram batch_size[3];      /* items per batch */
    struct fr_histogram inference_seconds[3]; /* wall time of a batch on the device */
    struct fr_histogram queue_seconds[FR_WAITS];
    struct fr_histogram image_seconds;      /* admission to result, per image */
    /* Users. */
    int32_t users_known;  /* distinct users seen since start */
    int32_t n_users;      /* entries in users[] (at most metrics_top_users) */
    struct fr_user_metrics users[FR_METRICS_MAX_USERS];
    struct fr_user_metrics other;
};

/* Fills *m (about 14 KiB: allocate it, do not put it on a small stack). */
FR_API void fr_sched_get_metrics(struct fr_sched *s, struct fr_sched_metrics *m);

#ifdef __cplusplus
}
#endif
