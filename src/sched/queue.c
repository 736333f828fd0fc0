/* The scheduler's queue mechanism: intrusive FIFOs, per-user queues and
 * their caps, submission, cancellation, drain, and admission from users'
 * queues to the decoders by deficit round-robin under the in-flight and
 * host-memory caps. Which batch runs when is batch.c's business; this file
 * only moves images between queues and keeps the counts. */
#include "facerec/sched.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../face/face-impl.h"
#include "sched-impl.h"

/* ---- FIFOs ---- */

void fr__queue_push(struct fr__queue *q, struct fr__img *im) {
    FR_ASSERT(!im->q);
    im->q = q;
    im->next = NULL;
    im->prev = q->tail;
    if (q->tail) q->tail->next = im;
    else q->head = im;
    q->tail = im;
    q->n++;
}

void fr__queue_remove(struct fr__img *im) {
    struct fr__queue *q = im->q;
    if (!q) return;
    if (im->prev) im->prev->next = im->next;
    else q->head = im->next;
    if (im->next) im->next->prev = im->prev;
    else q->tail = im->prev;
    im->prev = im->next = NULL;
    im->q = NULL;
    q->n--;
}

int32_t fr__img_ready_items(const struct fr__img *im, enum fr_stage stage) {
    if (stage == FR_STAGE_DETECT) return im->det_tiles ? im->det_tiles - im->det_next : 1;
    return fr__face_job_count(im->job) - im->next_face;
}

void fr__queue_take_out(struct fr_sched *s, struct fr__img *im) {
    struct fr__queue *q = im->q;
    if (!q) return;
    if (q == &im->rq->user->queue) {
        atomic_fetch_sub(&im->rq->user->queued, 1);
        atomic_fetch_sub(&s->queued, 1);
    } else {
        for (int st = 0; st < FR_STAGE_COUNT; st++)
            if (q == &s->ready[st]) s->faces_ready[st] -= fr__img_ready_items(im, (enum fr_stage)st);
    }
    fr__queue_remove(im);
}

/* ---- admission: deficit round-robin over users, one image a turn; an
 * image's tiles cost its user one turn each (debt) ---- */

/* Bytes a decoded image may take before we know its size: the largest
 * image the decode limits allow, with row padding. */
static size_t host_estimate(const struct fr_sched *s) {
    const struct fr_decode_params *d = &s->p.decode;
    double px = (double)d->max_pixels;
    if (d->max_image_size > 0) px = fmin(px, (double)d->max_image_size * d->max_image_size);
    return (size_t)(px * 3) + (size_t)(d->max_image_size > 0 ? d->max_image_size : 65536) * 64 +
           sizeof(float) * s->in_item[FR_STAGE_DETECT];
}

/* One image leaves its user's queue for a decoder. */
static void admit_one(struct fr_sched *s, struct fr__user *u, size_t est) {
    struct fr__img *im = u->queue.head;
    fr__queue_remove(im);
    atomic_fetch_sub(&u->queued, 1);
    atomic_fetch_sub(&s->queued, 1);
    im->state = FR__IMG_DECODING;
    im->in_flight = true;
    s->inflight++;
    u->inflight++;
    struct fr_sched_in_flight *f = &s->gauges.in_flight;
    if (s->inflight > f->max_images) f->max_images = s->inflight;
    if (u->inflight > f->max_user_images) f->max_user_images = u->inflight;
    im->host_bytes = est;
    s->host_used += est;
    im->refs++;
    im->t_dec0 = fr_time_now();
    im->tm.queued = (im->t_dec0 - im->t_admit) * 1e3;
    fr__stats_admitted(&s->stats, im->t_dec0 - im->t_admit);
    s->decoding++;
    pthread_mutex_lock(&s->dmu);
    fr__queue_push(&s->decode_q, im);
    pthread_cond_signal(&s->dcv);
    pthread_mutex_unlock(&s->dmu);
}

void fr__queue_admit(struct fr_sched *s, int32_t cap) {
    size_t est = host_estimate(s);
    pthread_mutex_lock(&s->mu);
    struct fr__user *start = s->rr ? s->rr : s->users;
    bool progress = true;
    while (progress && s->inflight < cap && start) {
        progress = false;
        struct fr__user *u = start;
        do {
            if (s->inflight >= cap) break;
            if (s->inflight > 0 && s->host_used + est > s->p.host_memory_limit) break;
            if (!u->queue.head) u->debt = 0; /* an idle user owes nothing (DRR) */
            if (u->queue.head && u->debt > 0) {
                /* This turn pays for tiles the user's images took. */
                u->debt--;
                fr__stats_turn_skipped(&s->stats);
                progress = true;
            } else if (u->queue.head && u->inflight < s->p.user_concurrency_limit) {
                admit_one(s, u, est);
                progress = true;
            }
            u = u->next ? u->next : s->users;
        } while (u != start);
        start = u;
    }
    s->rr = start;
    pthread_mutex_unlock(&s->mu);
    if (s->host_used > s->gauges.memory.host_peak) s->gauges.memory.host_peak = s->host_used;
}

/* ---- submission ---- */

void fr__req_discard(struct fr__req *rq) {
    if (rq->imgs)
        for (int32_t i = 0; i < rq->n; i++) fr_free(rq->imgs[i].bytes);
    fr_free(rq->imgs);
    fr_free(rq->results);
    fr_free(rq);
}

/* The user's record, made on first sight (under mu). */
static struct fr__user *user_get(struct fr_sched *s, const char *name) {
    for (struct fr__user *u = s->users; u; u = u->next)
        if (!strcmp(u->name, name)) return u;
    size_t n = strlen(name);
    struct fr__user *u = fr_calloc(1, sizeof(*u) + n + 1);
    if (!u) return NULL;
    memcpy(u->name, name, n + 1);
    /* Appended at the end so that round-robin order is arrival order. */
    struct fr__user **pp = &s->users;
    while (*pp) pp = &(*pp)->next;
    *pp = u;
    s->nusers++;
    u->stats.name = u->name;
    fr__stats_user_add(&s->stats, &u->stats);
    return u;
}

/* A request of n_images, each with a copy of its bytes, not yet admitted. */
static struct fr__req *req_new(struct fr_sched *s, const struct fr_sched_request *rq) {
    struct fr__req *r = fr_calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->imgs = fr_calloc((size_t)rq->n_images, sizeof(*r->imgs));
    r->results = fr_calloc((size_t)rq->n_images, sizeof(*r->results));
    r->n = r->remaining = rq->n_images;
    if (!r->imgs || !r->results) goto oom;
    r->landmarks = rq->landmarks || rq->embeddings;
    r->embeddings = rq->embeddings;
    r->tiles = rq->tiles.mode == FR_TILES_DEFAULT ? s->p.tiles : rq->tiles;
    if (r->tiles.mode == FR_TILES_DEFAULT) r->tiles.mode = FR_TILES_OFF;
    r->min_face_size = rq->min_face_size > 0 ? rq->min_face_size
                       : rq->min_face_size == 0 ? s->p.min_face_size : 0;
    r->done = rq->done;
    r->ctx = rq->ctx;
    double now = fr_time_now();
    r->deadline = now + (rq->timeout_ms > 0 ? rq->timeout_ms : s->p.request_timeout_ms) / 1e3;
    for (int32_t i = 0; i < r->n; i++) {
        struct fr__img *im = &r->imgs[i];
        im->rq = r;
        im->index = i;
        im->t_admit = now;
        im->len = rq->images[i].len;
        im->bytes = fr_malloc(im->len ? im->len : 1);
        if (!im->bytes) goto oom;
        if (im->len) memcpy(im->bytes, rq->images[i].data, im->len);
        for (int st = 0; st < FR_STAGE_COUNT; st++) im->last_batch[st] = -1;
    }
    return r;
oom:
    fr__req_discard(r);
    return NULL;
}

enum fr_status fr_sched_submit(struct fr_sched *s, const struct fr_sched_request *rq, uint64_t *id,
                               int32_t *retry_after_ms) {
    FR_ASSERT(s && rq);
    if (retry_after_ms) *retry_after_ms = 0;
    if (rq->n_images < 1 || !rq->images || !rq->done || !fr__tiles_valid(&rq->tiles)) return FR_ERR_INVALID;
    for (int32_t i = 0; i < rq->n_images; i++)
        if (!rq->images[i].data && rq->images[i].len) return FR_ERR_INVALID;
    struct fr__req *r = req_new(s, rq);
    if (!r) return FR_ERR_NOMEM;
    pthread_mutex_lock(&s->mu);
    enum fr_status st = FR_OK;
    struct fr__user *u = NULL;
    if (s->draining || s->stop) st = FR_ERR_SHUTDOWN;
    else if (!(u = user_get(s, rq->user ? rq->user : ""))) st = FR_ERR_NOMEM;
    else if (atomic_load(&s->queued) + r->n > s->p.queue_capacity ||
             atomic_load(&u->queued) + r->n > s->p.user_queue_capacity)
        st = FR_ERR_BUSY;
    if (u && (st == FR_OK || st == FR_ERR_BUSY)) fr__stats_submitted(&s->stats, &u->stats, r->n, st == FR_ERR_BUSY);
    if (st == FR_OK) {
        r->user = u;
        r->id = ++s->next_id;
        atomic_fetch_add(&u->queued, r->n);
        atomic_fetch_add(&s->queued, r->n);
        s->outstanding++;
        int32_t q = atomic_load(&s->queued);
        if (q > s->max_queued) s->max_queued = q;
        r->next = s->submitted; /* order among one batch of submissions does not matter */
        s->submitted = r;
        fr__sched_wake(s);
        if (id) *id = r->id;
    } else if (st == FR_ERR_BUSY && retry_after_ms) {
        double rate = fr__stats_images_rate(&s->stats);
        if (rate <= 0) rate = 1.0;
        double sec = (atomic_load(&s->queued) + r->n) / rate;
        *retry_after_ms = (int32_t)fmin(600e3, fmax(1000.0, sec * 1e3));
    }
    pthread_mutex_unlock(&s->mu);
    if (st != FR_OK) fr__req_discard(r);
    return st;
}

void fr_sched_cancel(struct fr_sched *s, uint64_t id) {
    pthread_mutex_lock(&s->mu);
    if (s->ncancel == s->capcancel) {
        int32_t cap = s->capcancel ? s->capcancel * 2 : 16;
        uint64_t *c = fr_realloc(s->cancels, sizeof(*c) * (size_t)cap);
        if (!c) { /* the deadline will end the request instead */
            pthread_mutex_unlock(&s->mu);
            return;
        }
        s->cancels = c;
        s->capcancel = cap;
    }
    s->cancels[s->ncancel++] = id;
    fr__sched_wake(s);
    pthread_mutex_unlock(&s->mu);
}

int32_t fr_sched_drain(struct fr_sched *s, int32_t timeout_ms) {
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    double end = fr_time_now() + timeout_ms / 1e3;
    while (s->outstanding > 0) {
        struct timespec ts = fr__abs_time(end);
        if (pthread_cond_timedwait(&s->drain_cv, &s->mu, &ts) == ETIMEDOUT) break;
    }
    int32_t left = s->outstanding;
    pthread_mutex_unlock(&s->mu);
    return left;
}
