/* The scheduler's batching policy: when the filling batch of a stage may
 * run, which stage's batch the idle device gets, and how many images
 * static batching lets in. It decides only; moving items into batches is
 * the loop's (sched.c), and moving images between queues is queue.c's.
 *
 * Dynamic batching (the default): the device, once free, takes the filling
 * batch of the most downstream stage that holds preferred_batch_size items
 * (or the stage's limit), or whose oldest item has waited
 * max_queue_delay_ms, or to which nothing upstream can still add.
 * Downstream first finishes requests early and frees their images.
 *
 * Static batching (for comparison): detection batches of a fixed number of
 * images run when full or after static_fill_timeout_ms; the next batch of
 * images is admitted only when every image of the current one is done. */
#include "facerec/sched.h"

#include <stdatomic.h>

#include "sched-impl.h"

struct fr__batch *fr__batch_filling(struct fr_sched *s, enum fr_stage stage) {
    for (int k = 0; k < 2; k++) {
        struct fr__batch *b = &s->slots[stage][k];
        if (b != s->running && b != s->collecting) {
            if (!b->n) b->t_first = 0;
            return b;
        }
    }
    return NULL;
}

bool fr__batch_may_fill(const struct fr_sched *s) {
    /* Traditional batching does not overlap preparation with compute. */
    return !(s->p.batching == FR_BATCHING_STATIC && s->running);
}

/* Whether anything upstream of a stage could still add items to it. */
static bool upstream_busy(const struct fr_sched *s, enum fr_stage stage) {
    if (s->decoding > 0) return true;
    for (int u = 0; u < (int)stage; u++) {
        if (s->ready[u].n) return true;
        if (s->running && (int)s->running->stage == u) return true;
        for (int k = 0; k < 2; k++)
            if (s->slots[u][k].n) return true;
    }
    return false;
}

/* Static batching: the number of images that make a full batch. */
static int32_t static_target(const struct fr_sched *s) {
    int32_t t = s->p.preferred_batch_size;
    if (t > s->limit[FR_STAGE_DETECT]) t = s->limit[FR_STAGE_DETECT];
    if (t > s->p.max_concurrent_images) t = s->p.max_concurrent_images;
    return t;
}

int32_t fr__batch_admit_cap(struct fr_sched *s) {
    if (s->p.batching != FR_BATCHING_STATIC) return s->p.max_concurrent_images;
    /* One batch of images at a time: up to the target, and the next only
     * when the last image of this one is done. */
    if (s->static_closed && s->inflight == 0) s->static_closed = false;
    return s->static_closed ? 0 : static_target(s);
}

/* Static batching: a detection batch runs when full or after the fill
 * timeout; the face stages run when the whole batch's faces are in (or a
 * full net batch is). */
static bool eligible_static(const struct fr_sched *s, enum fr_stage stage, const struct fr__batch *b, double now,
                            double *wake_at) {
    if (stage != FR_STAGE_DETECT) return b->n >= s->limit[stage] || !upstream_busy(s, stage);
    /* Stragglers of a batch already closed: nothing more can join them. */
    if (b->n >= static_target(s) || s->static_closed) return true;
    double due = b->t_first + s->p.static_fill_timeout_ms / 1e3;
    if (now >= due) return true;
    if (due < *wake_at) *wake_at = due;
    return false;
}

static bool eligible(const struct fr_sched *s, enum fr_stage stage, double now, double *wake_at) {
    const struct fr__batch *b = NULL;
    for (int k = 0; k < 2; k++)
        if (&s->slots[stage][k] != s->running && &s->slots[stage][k] != s->collecting && s->slots[stage][k].n)
            b = &s->slots[stage][k];
    if (!b) return false;
    if (s->p.batching == FR_BATCHING_STATIC) return eligible_static(s, stage, b, now, wake_at);
    int32_t pref = s->p.preferred_batch_size < s->limit[stage] ? s->p.preferred_batch_size : s->limit[stage];
    if (b->n >= pref) return true;
    double due = b->t_first + s->p.max_queue_delay_ms / 1e3;
    if (now >= due) return true;
    if (!upstream_busy(s, stage)) return true;
    if (due < *wake_at) *wake_at = due;
    return false;
}

static void dispatch(struct fr_sched *s, struct fr__batch *b) {
    if (s->p.batching == FR_BATCHING_STATIC && b->stage == FR_STAGE_DETECT) s->static_closed = true;
    pthread_mutex_lock(&s->xmu);
    atomic_store(&s->device_idle, false);
    s->running = b;
    b->seq = ++s->batch_seq;
    s->device_todo = b;
    pthread_cond_signal(&s->xcv);
    pthread_mutex_unlock(&s->xmu);
}

void fr__batch_try_dispatch(struct fr_sched *s, double now, double *wake_at) {
    if (s->running) return;
    for (int stage = FR_STAGE_COUNT - 1; stage >= 0; stage--) {
        if (!eligible(s, (enum fr_stage)stage, now, wake_at)) continue;
        for (int k = 0; k < 2; k++)
            if (s->slots[stage][k].n && &s->slots[stage][k] != s->collecting) {
                dispatch(s, &s->slots[stage][k]);
                return;
            }
    }
}
