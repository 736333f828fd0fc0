/* Scheduler metrics (src/sched/sched-metrics.c): histograms and per-user
 * counters behind fr_sched_get_metrics (facerec/metrics.h).
 *
 * Who writes what: `live` belongs to the loop thread, which updates it with
 * plain arithmetic; `snap` is its copy under snap_mu, refreshed by
 * fr__sched_publish when `live.gen` moved. The per-user submission counts
 * are raised by submitters under mu. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "facerec/metrics.h"

struct fr__metrics_live {
    int64_t gen; /* bumped by every update, so publish copies only on change */
    struct fr_histogram batch_size[3], inference_seconds[3], queue_seconds[FR_WAITS], image_seconds;
    double busy_seconds;
    int64_t images_failed;
    int64_t other_images_done, other_faces_done; /* by users while unranked */
};

struct fr__metrics {
    struct fr__metrics_live live; /* loop only */
    struct fr__metrics_live snap; /* under snap_mu */
    int64_t other_submitted, other_rejected; /* under mu */
    int32_t n_ranked;                        /* under mu */
    double ranked_at;                        /* loop: time of the last ranking */
};

/* Per user; lives in struct fr__user. */
struct fr__user_metrics {
    int64_t traffic;               /* images submitted since start: the ranking key; under mu */
    /* Counted only while the user is ranked (unranked: into other). */
    int64_t submitted, rejected;   /* under mu */
    int64_t images_done, faces_done; /* loop only */
    int64_t snap_images, snap_faces; /* under snap_mu */
    /* Has its own series. Written under mu (by submitters while there are
     * free places, by the loop when it ranks); the loop also reads it
     * without mu, which only decides where a count goes. */
    atomic_bool ranked;
};

struct fr_sched;
struct fr__batch;
struct fr__img;
struct fr__user;

void fr__metrics_init(struct fr__metrics *m);
/* Loop thread. */
void fr__metrics_batch(struct fr_sched *s, const struct fr__batch *b);
void fr__metrics_admitted(struct fr_sched *s, const struct fr__img *im, double now);
void fr__metrics_image(struct fr_sched *s, const struct fr__img *im);
/* Submitters, under mu: n images accepted or refused. */
void fr__metrics_submitted(struct fr_sched *s, struct fr__user *u, int32_t n, bool rejected);
/* Loop thread, holding mu and snap_mu: ranks the users (once a second)
 * and copies the live figures into the snapshot. */
void fr__metrics_publish(struct fr_sched *s);
