/* The scheduler's one stats sink (src/sched/sched-stats.c).
 *
 * Every event is recorded here once: a request admitted or refused, an
 * image admitted past its user's queue, a batch run, an image finished,
 * a request finished. The loop also publishes its gauges (queues, in
 * flight, memory) here once per iteration. /status, /metrics and the
 * tests' counters are all copied from this one structure, so they cannot
 * disagree.
 *
 * Layering: this module knows nothing of struct fr_sched, requests or
 * images; callers pass plain figures. It sits below everything else in
 * src/sched/ and calls nothing above it.
 *
 * Thread-safety: one mutex guards everything, held only for a few
 * arithmetic operations (or one copy, for a reader). Submitters record
 * admissions while holding the scheduler's mailbox lock, so the order is
 * always mailbox lock, then this one. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/sched.h"

#define FR_LAT_SAMPLES 2048
#define FR_RATE_SECONDS 60

/* One user's figures. Embedded in the scheduler's user record, which
 * outlives the sink's reference to it (both go at fr_sched_free). */
struct fr__stats_user {
    const char *name;            /* the user record's, borrowed */
    struct fr__stats_user *next; /* the sink's list, in arrival order */
    int64_t traffic;             /* images submitted since start: the ranking key */
    /* Counted only while the user is ranked (unranked: into other). */
    int64_t submitted, rejected, images_done, faces_done;
    bool ranked;                 /* has its own /metrics series */
    /* Gauges: the loop writes the loop_ pair without a lock (it is their
     * only writer and reader); fr__stats_publish copies them into the
     * published pair under the lock. */
    int32_t loop_queued, loop_in_flight;
    int32_t queued, in_flight;
};

/* The loop's gauges, published once per iteration. */
struct fr__stats_gauges {
    int32_t queued, decoding;
    int32_t ready[FR_STAGE_COUNT]; /* items ready per stage (filling batches included) */
    struct fr_sched_in_flight in_flight;
    int32_t max_queued;
    struct fr_sched_memory memory;
    int32_t batch_limit[FR_STAGE_COUNT];
};

struct fr__stats {
    pthread_mutex_t mu;
    double t0;
    int32_t top_users; /* metrics_top_users */
    /* Requests and images. */
    struct fr_sched_request_counts requests;
    int64_t images_done, images_failed, faces_done;
    int64_t tiles, turns_skipped;
    /* Batches: count and items are batch_size's count and sum. The
     * coarse ranges of /status are not a regrouping of the Prometheus
     * buckets (2-3 against le=2, le=4), so both are kept. */
    struct fr_histogram batch_size[FR_STAGE_COUNT], inference_seconds[FR_STAGE_COUNT];
    int64_t size_ranges[FR_STAGE_COUNT][FR_SCHED_SIZE_BUCKETS];
    struct fr_histogram queue_seconds[FR_WAITS], image_seconds;
    double busy_total; /* device busy seconds since start */
    /* Latency samples (ms), rings. */
    float lat[FR_LATENCY_COUNT][FR_LAT_SAMPLES];
    int64_t lat_n[FR_LATENCY_COUNT];
    /* Per-second rings: images, faces, device busy seconds. */
    int64_t sec0; /* the second ring[sec0 % N] refers to */
    double ring_images[FR_RATE_SECONDS], ring_faces[FR_RATE_SECONDS], ring_busy[FR_RATE_SECONDS];
    /* Gauges. */
    struct fr__stats_gauges g;
    /* Users. */
    struct fr__stats_user *users, **users_tail;
    int32_t n_users, n_ranked;
    double ranked_at;
    int64_t other_submitted, other_rejected, other_images_done, other_faces_done;
};

void fr__stats_init(struct fr__stats *st, int32_t top_users);
void fr__stats_destroy(struct fr__stats *st);

/* Submitters. A new user (u zeroed but for name). */
void fr__stats_user_add(struct fr__stats *st, struct fr__stats_user *u);
/* n images of u submitted: admitted, or refused because a queue was full. */
void fr__stats_submitted(struct fr__stats *st, struct fr__stats_user *u, int32_t n, bool rejected);

/* Loop thread. An image left its user's queue after waiting wait_s. */
void fr__stats_admitted(struct fr__stats *st, double wait_s);
/* A user gave up an admission turn for its tiles. */
void fr__stats_turn_skipped(struct fr__stats *st);
/* A tile's detections were collected. */
void fr__stats_tile(struct fr__stats *st);
/* A batch of n items of a stage ran on the device from t0 to t1; waits[i]
 * (seconds, n_waits of them) is how long each live item was ready before. */
void fr__stats_batch(struct fr__stats *st, enum fr_stage stage, int32_t n, double t0, double t1,
                     const double *waits, int32_t n_waits);
/* A finished image of user u: latencies in ms (FR_LATENCY_* order, < 0
 * for a stage it did not reach), its faces, and whether it failed. */
void fr__stats_image(struct fr__stats *st, struct fr__stats_user *u, const double lat[FR_LATENCY_COUNT],
                     int32_t faces, bool failed);
/* A request finished with status s (FR_OK, FR_ERR_TIMEOUT, ...). */
void fr__stats_request_done(struct fr__stats *st, enum fr_status s);
/* The loop's gauges and its users' loop_ gauges; reranks the users once
 * a second. */
void fr__stats_publish(struct fr__stats *st, const struct fr__stats_gauges *g);

/* Readers, any thread. The status view leaves the scheduler's constants
 * (settings, backend, precision, staging) and queue.users to the caller's
 * fill; users are copied by fr__stats_status_users. */
void fr__stats_status(struct fr__stats *st, struct fr_sched_status *out);
enum fr_status fr__stats_status_users(struct fr__stats *st, struct fr_sched_status *out);
void fr__stats_metrics(struct fr__stats *st, struct fr_sched_metrics *m);
void fr__stats_counters(struct fr__stats *st, struct fr_sched_counters *c);
/* Images finished per second over the last minute (for Retry-After). */
double fr__stats_images_rate(struct fr__stats *st);
