/* fr_sched: admission, fair queues and continuous batching (see sched.h).
 *
 * Threads. The loop thread owns every request, image, queue and batch.
 * Submitters (HTTP threads) only append to a mailbox; decode workers take
 * images from the decode queue and post them back decoded; the device
 * thread runs one batch at a time and posts it back. Nothing but the loop
 * reads or writes request state, so request state needs no locks.
 *
 * Batching. Every stage (detect, landmark, recognize) has two batch slots
 * with their own staging buffers. One of them is being filled: as soon as
 * an item is ready the loop crops, resizes and normalises it into the slot,
 * even while the device runs another batch, so the device never waits for
 * input preparation. When the device is free the loop dispatches the
 * filling batch of the most downstream stage that is eligible: it holds
 * preferred_batch_size items (or the stage's limit), or its oldest item
 * has waited max_queue_delay_ms, or nothing upstream can add to it.
 * Downstream first finishes requests early and frees their images. */
#include "facerec/sched.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../face/face-impl.h"
#include "../nn/nets.h"
#include "sched-impl.h"

/* ---- parameters ---- */

struct fr_sched_params fr_sched_default_params(void) {
    return (struct fr_sched_params){
        .models_dir = "models",
        .device = FR_DEVICE_AUTO,
        .device_memory_limit = 0,
        .host_memory_limit = (size_t)1 << 30,
        .threads = 0,
        .max_workers = 2,
        .max_batch_size = 128,
        .preferred_batch_size = 64,
        .max_queue_delay_ms = 5,
        .batching = FR_BATCHING_DYNAMIC,
        .static_fill_timeout_ms = 100,
        .queue_capacity = 1024,
        .user_queue_capacity = 256,
        .user_concurrency_limit = 16,
        .max_concurrent_images = 16,
        .request_timeout_ms = 30000,
        .decode = fr_decode_default_params(),
        .detector = FR_DETECTOR_SSD,
        .min_confidence = 0.5f,
        .max_faces = 100,
        .min_face_size = 0,
        .tiles = { .mode = FR_TILES_OFF },
        .warmup = true,
        .metrics_top_users = 16,
    };
}

/* ---- queues ---- */

static void q_push(struct fr__queue *q, struct fr__img *im) {
    FR_ASSERT(!im->q);
    im->q = q;
    im->next = NULL;
    im->prev = q->tail;
    if (q->tail) q->tail->next = im;
    else q->head = im;
    q->tail = im;
    q->n++;
}

static void q_remove(struct fr__img *im) {
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

/* ---- mailbox ---- */

static void wake(struct fr_sched *s) { pthread_cond_signal(&s->cv); }

/* ---- host memory ---- */

/* Bytes a decoded image may take before we know its size: the largest
 * image the decode limits allow, with row padding. */
static size_t host_estimate(const struct fr_sched *s) {
    const struct fr_decode_params *d = &s->p.decode;
    double px = (double)d->max_pixels;
    if (d->max_image_size > 0) px = fmin(px, (double)d->max_image_size * d->max_image_size);
    return (size_t)(px * 3) + (size_t)(d->max_image_size > 0 ? d->max_image_size : 65536) * 64 +
           sizeof(float) * s->in_item[FR__ST_DETECT];
}

static void host_release(struct fr_sched *s, struct fr__img *im) {
    s->host_used -= im->host_bytes;
    im->host_bytes = 0;
}

/* Frees what an image holds, except what a worker or a batch still uses. */
static void img_release(struct fr_sched *s, struct fr__img *im) {
    if (im->refs) return;
    fr_free(im->bytes);
    im->bytes = NULL;
    fr_free(im->det_in);
    im->det_in = NULL;
    fr_image_free(im->image);
    im->image = NULL;
    host_release(s, im);
    fr__face_job_free(im->job);
    im->job = NULL;
}

/* ---- request completion ---- */

static void req_free(struct fr_sched *s, struct fr__req *rq) {
    for (int32_t i = 0; i < rq->n; i++) {
        img_release(s, &rq->imgs[i]);
        fr_faces_clear(&rq->imgs[i].faces);
    }
    fr_free(rq->imgs);
    fr_free(rq->results);
    fr_free(rq);
}

static int32_t req_refs(const struct fr__req *rq) {
    int32_t r = 0;
    for (int32_t i = 0; i < rq->n; i++) r += rq->imgs[i].refs;
    return r;
}

static void unlink_live(struct fr_sched *s, struct fr__req *rq) {
    struct fr__req **pp = &s->live;
    while (*pp && *pp != rq) pp = &(*pp)->next;
    if (*pp) *pp = rq->next;
}

/* Frees a finished request once no worker or batch refers to it. */
static void req_maybe_free(struct fr_sched *s, struct fr__req *rq) {
    if (rq->state != FR__REQ_FINISHED || req_refs(rq)) return;
    unlink_live(s, rq);
    req_free(s, rq);
}

static void leave_flight(struct fr_sched *s, struct fr__img *im) {
    if (!im->in_flight) return;
    im->in_flight = false;
    s->inflight--;
    im->rq->user->inflight--;
}

/* Drops an image from every queue and from the in-flight counts. */
static void img_drop(struct fr_sched *s, struct fr__img *im) {
    if (im->q) {
        struct fr__queue *q = im->q;
        if (q == &im->rq->user->queue) {
            atomic_fetch_sub(&im->rq->user->queued, 1);
            atomic_fetch_sub(&s->queued, 1);
        } else {
            for (int st = 0; st < FR_STAGES; st++)
                if (q == &s->ready[st]) s->faces_ready[st] -= fr__img_ready_items(im, st);
        }
        q_remove(im);
    }
    leave_flight(s, im);
}

/* Calls the request's callback with status st and marks it finished. */
static void req_finish(struct fr_sched *s, struct fr__req *rq, enum fr_status st) {
    if (rq->state == FR__REQ_FINISHED) return;
    rq->state = FR__REQ_FINISHED;
    for (int32_t i = 0; i < rq->n; i++) {
        struct fr__img *im = &rq->imgs[i];
        img_drop(s, im);
        struct fr_sched_image_result *r = &rq->results[i];
        if (im->state == FR__IMG_DONE) {
            r->status = FR_OK;
            r->faces = &im->faces;
        } else if (im->state == FR__IMG_FAILED) {
            r->status = im->st;
            r->error = im->err;
        } else {
            r->status = st == FR_OK ? FR_ERR_INTERNAL : st;
            snprintf(im->err, sizeof im->err, "%s", fr_status_str(r->status));
            r->error = im->err;
        }
        r->timings = im->tm;
        img_release(s, im);
    }
    struct fr_sched_result res = { .id = rq->id, .status = st, .n_images = rq->n, .images = rq->results };
    if (st == FR_ERR_TIMEOUT) s->c.timed_out++;
    else if (st == FR_ERR_CANCELLED) s->c.cancelled++;
    s->c.completed++;
    if (rq->done) rq->done(&res, rq->ctx);
    pthread_mutex_lock(&s->mu);
    s->outstanding--;
    pthread_cond_broadcast(&s->drain_cv);
    pthread_mutex_unlock(&s->mu);
    req_maybe_free(s, rq);
}

static void img_end(struct fr_sched *s, struct fr__img *im) {
    double now = fr_time_now();
    im->tm.total = (now - im->t_admit) * 1e3;
    double lat[FR_LAT_KINDS] = { im->tm.queued, im->tm.decode, im->tm.detect, im->tm.landmark, im->tm.recognize,
                                 im->tm.total };
    if (im->state == FR__IMG_FAILED || !im->rq->landmarks) lat[3] = -1;
    if (im->state == FR__IMG_FAILED || !im->rq->embeddings) lat[4] = -1;
    if (im->state == FR__IMG_FAILED && !im->image_seen) lat[1] = lat[2] = -1;
    fr__stats_image(&s->stats, lat, im->faces.count, im->state == FR__IMG_FAILED);
    fr__metrics_image(s, im);
    leave_flight(s, im);
    s->c.images_done++;
    s->c.faces_done += im->faces.count;
    img_release(s, im);
    if (--im->rq->remaining == 0) req_finish(s, im->rq, FR_OK);
}

static void img_fail(struct fr_sched *s, struct fr__img *im, enum fr_status st, const char *msg) {
    img_drop(s, im);
    im->state = FR__IMG_FAILED;
    im->st = st;
    if (msg && msg != im->err) snprintf(im->err, sizeof im->err, "%s", msg);
    if (!im->err[0]) snprintf(im->err, sizeof im->err, "%s", fr_status_str(st));
    img_end(s, im);
}

static void img_done(struct fr_sched *s, struct fr__img *im) {
    enum fr_status st = fr__face_job_result(im->job, &im->faces);
    if (st != FR_OK) {
        img_fail(s, im, st, "out of memory for the results");
        return;
    }
    im->state = FR__IMG_DONE;
    img_end(s, im);
}

/* ---- stage transitions ---- */

/* Puts an image into the ready queue of a face stage, or past it when it
 * has no faces for that stage. */
static void enter_face_stage(struct fr_sched *s, struct fr__img *im, int stage) {
    bool want = stage == FR__ST_LANDMARK ? im->rq->landmarks : im->rq->embeddings;
    int32_t nf = fr__face_job_count(im->job);
    if (!want || nf == 0) {
        if (stage == FR__ST_LANDMARK) enter_face_stage(s, im, FR__ST_RECOGNIZE);
        else img_done(s, im);
        return;
    }
    im->state = stage == FR__ST_LANDMARK ? FR__IMG_LANDMARK : FR__IMG_RECOGNIZE;
    im->next_face = 0;
    im->pending = 0;
    im->t_ready = fr_time_now();
    q_push(&s->ready[stage], im);
    s->faces_ready[stage] += nf;
}

/* All faces of the image's current face stage have been through the net
 * (or had no crop): move on. */
static void face_stage_check(struct fr_sched *s, struct fr__img *im) {
    if (im->pending || im->next_face < fr__face_job_count(im->job)) return;
    if (im->state == FR__IMG_LANDMARK) enter_face_stage(s, im, FR__ST_RECOGNIZE);
    else img_done(s, im);
}

/* ---- batches ---- */

int32_t fr__img_ready_items(const struct fr__img *im, int stage) {
    if (stage == FR__ST_DETECT) return im->det_tiles ? im->det_tiles - im->det_next : 1;
    return fr__face_job_count(im->job) - im->next_face;
}

/* The slot of a stage that is neither running nor holding a batch that
 * waits to run; NULL when both are busy. */
static struct fr__batch *filling(struct fr_sched *s, int stage) {
    for (int k = 0; k < 2; k++) {
        struct fr__batch *b = &s->slots[stage][k];
        if (b != s->running && b != s->collecting) {
            if (!b->n) b->t_first = 0;
            return b;
        }
    }
    return NULL;
}

/* The image is no longer needed for its pixels once its last stage that
 * crops from it has taken every face. */
static void maybe_free_pixels(struct fr_sched *s, struct fr__img *im, int stage) {
    bool last = stage == FR__ST_RECOGNIZE || (stage == FR__ST_LANDMARK && !im->rq->embeddings) ||
                (stage == FR__ST_DETECT && !im->rq->landmarks);
    if (!last) return;
    fr_image_free(im->image);
    im->image = NULL;
    host_release(s, im);
}

/* Moves ready items of a stage into its filling batch, preparing their
 * inputs. Stops early when the device has become idle, so that dispatch
 * is not delayed by preparation. */
static void fill_stage(struct fr_sched *s, int stage) {
    struct fr__batch *b = filling(s, stage);
    if (!b) return;
    /* Traditional batching does not overlap preparation with compute. */
    if (s->p.batching == FR_BATCHING_STATIC && s->running) return;
    struct fr__queue *q = &s->ready[stage];
    while (q->head && b->n < s->limit[stage]) {
        if (s->running && atomic_load(&s->device_idle)) break;
        struct fr__img *im = q->head;
        if (!b->n) b->t_first = im->t_ready;
        if (stage == FR__ST_DETECT && im->det_tiles) {
            /* Tiles, after the whole-image pass: prepared here, from the
             * pixels (or on the device), into the same staging slots. */
            while (im->det_next < im->det_tiles && b->n < s->limit[stage]) {
                int32_t t = im->det_next++;
                if (s->det_on_device) fr__facenet_tile_prep_params(s->fn, im->image, im->job, t, &b->prep[b->n]);
                else fr__facenet_tile_prepare(s->fn, im->image, im->job, t, b->in + s->in_item[stage] * (size_t)b->n);
                b->items[b->n].im = im, b->items[b->n].face = t;
                b->n++;
                im->refs++;
                im->det_pending++;
                s->faces_ready[stage]--;
            }
            if (im->det_next >= im->det_tiles) q_remove(im);
            continue;
        }
        if (stage == FR__ST_DETECT) {
            /* The worker prepared the input when it decoded the image, or
             * the device will, from the image's pixels (alive until the
             * batch is collected). */
            if (s->det_on_device) {
                fr__facenet_det_prep_params(s->fn, im->image, &b->prep[b->n]);
            } else {
                memcpy(b->in + s->in_item[stage] * (size_t)b->n, im->det_in, sizeof(float) * s->in_item[stage]);
                fr_free(im->det_in);
                im->det_in = NULL;
            }
            b->items[b->n].im = im, b->items[b->n].face = -1;
            b->n++;
            im->refs++;
            q_remove(im);
            s->faces_ready[stage]--;
            continue;
        }
        int32_t nf = fr__face_job_count(im->job);
        bool lm = stage == FR__ST_LANDMARK;
        while (im->next_face < nf && b->n < s->limit[stage]) {
            int32_t f = im->next_face++;
            s->faces_ready[stage]--;
            if (!fr__face_job_prepare(im->job, f, lm, im->image, b->in + s->in_item[stage] * (size_t)b->n))
                continue; /* face-api drops faces whose crop is empty */
            b->items[b->n].im = im, b->items[b->n].face = f;
            b->n++;
            im->refs++;
            im->pending++;
        }
        if (im->next_face >= nf) {
            q_remove(im);
            maybe_free_pixels(s, im, stage);
            face_stage_check(s, im);
        }
    }
}

/* Whether anything upstream of a stage could still add items to it. */
static bool upstream_busy(const struct fr_sched *s, int stage) {
    if (s->decoding > 0) return true;
    for (int u = 0; u < stage; u++) {
        if (s->ready[u].n) return true;
        if (s->running && s->running->stage == u) return true;
        for (int k = 0; k < 2; k++)
            if (s->slots[u][k].n) return true;
    }
    return false;
}

/* Static batching: the number of images that make a full batch. */
static int32_t static_target(const struct fr_sched *s) {
    int32_t t = s->p.preferred_batch_size;
    if (t > s->limit[FR__ST_DETECT]) t = s->limit[FR__ST_DETECT];
    if (t > s->p.max_concurrent_images) t = s->p.max_concurrent_images;
    return t;
}

/* Static batching: a detection batch runs when full or after the fill
 * timeout; the face stages run when the whole batch's faces are in (or a
 * full net batch is). */
static bool eligible_static(const struct fr_sched *s, int stage, const struct fr__batch *b, double now,
                            double *wake_at) {
    if (stage != FR__ST_DETECT) return b->n >= s->limit[stage] || !upstream_busy(s, stage);
    /* Stragglers of a batch already closed: nothing more can join them. */
    if (b->n >= static_target(s) || s->static_closed) return true;
    double due = b->t_first + s->p.static_fill_timeout_ms / 1e3;
    if (now >= due) return true;
    if (due < *wake_at) *wake_at = due;
    return false;
}

static bool eligible(const struct fr_sched *s, int stage, double now, double *wake_at) {
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
    if (s->p.batching == FR_BATCHING_STATIC && b->stage == FR__ST_DETECT) s->static_closed = true;
    pthread_mutex_lock(&s->xmu);
    atomic_store(&s->device_idle, false);
    s->running = b;
    b->seq = ++s->batch_seq;
    s->device_todo = b;
    pthread_cond_signal(&s->xcv);
    pthread_mutex_unlock(&s->xmu);
}

static void try_dispatch(struct fr_sched *s, double now, double *wake_at) {
    if (s->running) return;
    for (int stage = FR_STAGES - 1; stage >= 0; stage--) {
        if (!eligible(s, stage, now, wake_at)) continue;
        for (int k = 0; k < 2; k++)
            if (s->slots[stage][k].n && &s->slots[stage][k] != s->collecting) {
                dispatch(s, &s->slots[stage][k]);
                return;
            }
    }
}

/* One detector item's faces into its image: the whole-image pass, after
 * which the image's tiles are planned and queued as detector items of
 * their own, or a tile. True when the image's detection is complete. */
static bool detect_collected(struct fr_sched *s, struct fr__img *im, const struct fr__batch *b, int32_t k) {
    int32_t tile = b->items[k].face;
    enum fr_status st = tile < 0 ? fr__facenet_det_collect(s->fn, im->image, b->outs, k, im->job)
                                 : fr__facenet_tile_collect(s->fn, b->outs, k, im->job, tile);
    if (st != FR_OK) {
        img_fail(s, im, st, "out of memory for detections");
        return false;
    }
    if (tile >= 0) {
        s->c.tiles++;
        if (--im->det_pending > 0 || im->det_next < im->det_tiles) return false;
        fr__face_job_merge(s->fn, im->job);
        return true;
    }
    int32_t n = fr__facenet_tiles_plan(s->fn, im->job);
    if (n == 0) return true;
    /* The tiles cost the user n more turns of admission. */
    im->rq->user->debt += n;
    im->det_tiles = n;
    im->det_next = im->det_pending = 0;
    im->t_ready = fr_time_now();
    q_push(&s->ready[FR__ST_DETECT], im);
    s->faces_ready[FR__ST_DETECT] += n;
    return false;
}

/* Results of a finished batch back into its images. */
static void collect(struct fr_sched *s, struct fr__batch *b) {
    double ms = (b->t1 - b->t0) * 1e3;
    s->c.batches[b->stage]++;
    s->c.batch_items[b->stage] += b->n;
    fr__stats_batch(&s->stats, b->stage, b->n, b->t0, b->t1);
    fr__metrics_batch(s, b);
    for (int32_t k = 0; k < b->n; k++) {
        struct fr__img *im = b->items[k].im;
        im->refs--;
        if (im->rq->state == FR__REQ_FINISHED) {
            req_maybe_free(s, im->rq);
            continue;
        }
        if (im->state == FR__IMG_FAILED) continue;
        if (b->status != FR_OK) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s net failed: %s", fr__stage_names[b->stage], fr_status_str(b->status));
            img_fail(s, im, b->status, msg);
            continue;
        }
        if (b->stage == FR__ST_DETECT) {
            if (im->last_batch[FR__ST_DETECT] != b->seq) {
                im->last_batch[FR__ST_DETECT] = b->seq;
                im->tm.detect += ms;
            }
            if (detect_collected(s, im, b, k)) {
                if (!im->rq->landmarks) maybe_free_pixels(s, im, FR__ST_DETECT);
                enter_face_stage(s, im, FR__ST_LANDMARK);
            }
            continue;
        }
        bool lm = b->stage == FR__ST_LANDMARK;
        if (im->last_batch[b->stage] != b->seq) {
            im->last_batch[b->stage] = b->seq;
            if (lm) im->tm.landmark += ms;
            else im->tm.recognize += ms;
        }
        fr__face_job_collect(im->job, b->items[k].face, lm, b->outs[0] + s->out_item[b->stage] * (size_t)k);
        im->pending--;
        face_stage_check(s, im);
    }
    b->n = 0;
    b->t_first = 0;
}

/* ---- admission: deficit round-robin over users, one image a turn; an
 * image's tiles cost its user one turn each (debt) ---- */

static void admit(struct fr_sched *s) {
    size_t est = host_estimate(s);
    /* Static batching admits one batch of images at a time: up to the
     * target, and the next only when the last image of this one is done. */
    int32_t cap = s->p.max_concurrent_images;
    if (s->p.batching == FR_BATCHING_STATIC) {
        if (s->static_closed && s->inflight == 0) s->static_closed = false;
        cap = s->static_closed ? 0 : static_target(s);
    }
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
                s->c.turns_skipped++;
                progress = true;
            } else if (u->queue.head && u->inflight < s->p.user_concurrency_limit) {
                struct fr__img *im = u->queue.head;
                q_remove(im);
                atomic_fetch_sub(&u->queued, 1);
                atomic_fetch_sub(&s->queued, 1);
                im->state = FR__IMG_DECODING;
                im->in_flight = true;
                s->inflight++;
                u->inflight++;
                if (s->inflight > s->c.max_inflight_images) s->c.max_inflight_images = s->inflight;
                if (u->inflight > s->c.max_user_inflight_images) s->c.max_user_inflight_images = u->inflight;
                im->host_bytes = est;
                s->host_used += est;
                im->refs++;
                im->t_dec0 = fr_time_now();
                im->tm.queued = (im->t_dec0 - im->t_admit) * 1e3;
                fr__metrics_admitted(s, im, im->t_dec0);
                s->decoding++;
                pthread_mutex_lock(&s->dmu);
                q_push(&s->decode_q, im);
                pthread_cond_signal(&s->dcv);
                pthread_mutex_unlock(&s->dmu);
                progress = true;
            }
            u = u->next ? u->next : s->users;
        } while (u != start);
        start = u;
    }
    s->rr = start;
    pthread_mutex_unlock(&s->mu);
    if (s->host_used > s->c.host_memory_peak) s->c.host_memory_peak = s->host_used;
}

/* ---- threads ---- */

void *fr__sched_decode_main(void *arg) {
    struct fr_sched *s = arg;
    pthread_mutex_lock(&s->dmu);
    for (;;) {
        while (!s->decode_q.head && !s->stop_workers) pthread_cond_wait(&s->dcv, &s->dmu);
        if (s->stop_workers) break;
        struct fr__img *im = s->decode_q.head;
        q_remove(im);
        pthread_mutex_unlock(&s->dmu);
        /* The loop does not touch a decoding image's bytes, image or
         * error until the worker posts it back. */
        im->st = fr_image_decode(im->bytes, im->len, &s->p.decode, &im->image, im->err, sizeof im->err);
        /* The detector's input (pad, resize, normalise) is made here, in
         * parallel and off the loop thread, so that a lone request does
         * not wait for it and the loop only copies it into a batch. */
        if (im->st == FR_OK && !s->det_on_device) {
            im->det_in = fr_malloc(sizeof(float) * s->in_item[FR__ST_DETECT]);
            if (im->det_in) fr__facenet_det_prepare(s->fn, im->image, im->det_in);
            else {
                fr_image_free(im->image);
                im->image = NULL;
                im->st = FR_ERR_NOMEM;
                snprintf(im->err, sizeof im->err, "out of memory for the detector input");
            }
        }
        im->t_dec1 = fr_time_now();
        pthread_mutex_lock(&s->mu);
        q_push(&s->decoded, im);
        wake(s);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->dmu);
    }
    pthread_mutex_unlock(&s->dmu);
    return NULL;
}

void *fr__sched_device_main(void *arg) {
    struct fr_sched *s = arg;
    pthread_mutex_lock(&s->xmu);
    for (;;) {
        while (!s->device_todo && !s->stop_device) pthread_cond_wait(&s->xcv, &s->xmu);
        if (s->stop_device) break;
        struct fr__batch *b = s->device_todo;
        s->device_todo = NULL;
        pthread_mutex_unlock(&s->xmu);
        b->t0 = fr_time_now();
        if (b->prep) b->status = fr__net_forward_prep(s->nets[b->stage], b->prep, b->n, b->outs);
        else b->status = fr_net_forward(s->nets[b->stage], b->in, b->n, b->outs);
        b->t1 = fr_time_now();
        pthread_mutex_lock(&s->mu);
        s->device_done = b;
        atomic_store(&s->device_idle, true);
        wake(s);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->xmu);
    }
    pthread_mutex_unlock(&s->xmu);
    return NULL;
}

/* Runs every net once at its largest batch and at 1, so that the first
 * requests do not pay for primitive creation. */
static void warmup(struct fr_sched *s) {
    for (int st = 0; st < FR_STAGES; st++) {
        struct fr__batch *b = &s->slots[st][0];
        memset(b->in, 0, sizeof(float) * s->in_item[st] * (size_t)s->limit[st]);
        int32_t sizes[2] = { 1, s->limit[st] };
        for (int k = 0; k < 2; k++)
            if (fr_net_forward(s->nets[st], b->in, sizes[k], b->outs) != FR_OK)
                FR_LOGW("sched: warm-up of the %s net failed", fr__stage_names[st]);
    }
}

/* Takes new submissions, cancellations and decoded images from the
 * mailbox; returns the finished device batch, if any. */
static struct fr__batch *take_mail(struct fr_sched *s, struct fr__req **subs, struct fr__img **decoded,
                                   uint64_t **cancels, int32_t *ncancel) {
    struct fr__batch *done = s->device_done;
    s->device_done = NULL;
    *subs = s->submitted;
    s->submitted = NULL;
    *decoded = s->decoded.head;
    memset(&s->decoded, 0, sizeof(s->decoded));
    *cancels = s->cancels;
    *ncancel = s->ncancel;
    s->cancels = NULL;
    s->ncancel = s->capcancel = 0;
    return done;
}

static void on_decoded(struct fr_sched *s, struct fr__img *im) {
    im->refs--;
    s->decoding--;
    struct fr__req *rq = im->rq;
    if (rq->state == FR__REQ_FINISHED) {
        req_maybe_free(s, rq);
        return;
    }
    fr_free(im->bytes);
    im->bytes = NULL;
    im->tm.decode = (im->t_dec1 - im->t_dec0) * 1e3;
    if (im->st != FR_OK) {
        img_fail(s, im, im->st, NULL);
        return;
    }
    im->image_seen = true;
    size_t actual = im->image->stride * (size_t)im->image->height + sizeof(*im->image) +
                    (s->det_on_device ? 0 : sizeof(float) * s->in_item[FR__ST_DETECT]);
    s->host_used += actual;
    s->host_used -= im->host_bytes;
    im->host_bytes = actual;
    if (s->host_used > s->c.host_memory_peak) s->c.host_memory_peak = s->host_used;
    if (!(im->job = fr__face_job_new())) {
        img_fail(s, im, FR_ERR_NOMEM, "out of memory");
        return;
    }
    fr__face_job_set_detect(im->job, &rq->tiles, rq->min_face_size);
    im->state = FR__IMG_DETECT;
    im->t_ready = fr_time_now();
    q_push(&s->ready[FR__ST_DETECT], im);
    s->faces_ready[FR__ST_DETECT]++;
}

void *fr__sched_loop_main(void *arg) {
    struct fr_sched *s = arg;
    if (s->p.warmup) warmup(s);
    atomic_store(&s->ready_flag, true);
    for (;;) {
        struct fr__req *subs;
        struct fr__img *decoded;
        uint64_t *cancels;
        int32_t ncancel;
        pthread_mutex_lock(&s->mu);
        struct fr__batch *done = take_mail(s, &subs, &decoded, &cancels, &ncancel);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        double now = fr_time_now();
        if (done) {
            /* Keep the device busy first; the finished batch still holds
             * its items until it is collected, so it must not be picked. */
            s->running = NULL;
            s->collecting = done;
            double wake_at = INFINITY;
            try_dispatch(s, now, &wake_at);
            collect(s, done);
            s->collecting = NULL;
        }
        /* New requests: images into their user's queue (the counters were
         * raised by the submitter). */
        while (subs) {
            struct fr__req *rq = subs;
            subs = rq->next;
            rq->next = s->live;
            s->live = rq;
            for (int32_t i = 0; i < rq->n; i++) q_push(&rq->user->queue, &rq->imgs[i]);
        }
        /* The list is ours now: unlink each image as it is handled. */
        for (struct fr__img *im = decoded, *nx; im; im = nx) {
            nx = im->next;
            im->prev = im->next = NULL;
            im->q = NULL;
            on_decoded(s, im);
        }
        for (int32_t i = 0; i < ncancel; i++)
            for (struct fr__req *rq = s->live; rq; rq = rq->next)
                if (rq->id == cancels[i]) {
                    req_finish(s, rq, FR_ERR_CANCELLED);
                    break;
                }
        fr_free(cancels);
        double wake_at = INFINITY;
        for (struct fr__req *rq = s->live, *nx; rq; rq = nx) {
            nx = rq->next;
            if (rq->state != FR__REQ_ACTIVE) continue;
            if (now >= rq->deadline) req_finish(s, rq, FR_ERR_TIMEOUT);
            else if (rq->deadline < wake_at) wake_at = rq->deadline;
        }
        if (stop) break;
        admit(s);
        try_dispatch(s, now, &wake_at);
        for (int st = FR_STAGES - 1; st >= 0; st--) fill_stage(s, st);
        now = fr_time_now();
        try_dispatch(s, now, &wake_at);
        fr__sched_publish(s);
        pthread_mutex_lock(&s->mu);
        if (!s->submitted && !s->decoded.head && !s->device_done && !s->ncancel && !s->stop) {
            if (wake_at == INFINITY) {
                pthread_cond_wait(&s->cv, &s->mu);
            } else {
                struct timespec ts = fr__abs_time(wake_at);
                pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    /* Shutdown: fail what is left; batches in flight are abandoned. */
    for (struct fr__req *rq = s->live, *nx; rq; rq = nx) {
        nx = rq->next; /* req_finish may free rq */
        req_finish(s, rq, FR_ERR_SHUTDOWN);
    }
    return NULL;
}

/* ---- public API ---- */

bool fr_sched_ready(const struct fr_sched *s) { return atomic_load(&((struct fr_sched *)s)->ready_flag); }

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
    return u;
}

enum fr_status fr_sched_submit(struct fr_sched *s, const struct fr_sched_request *rq, uint64_t *id,
                               int32_t *retry_after_ms) {
    FR_ASSERT(s && rq);
    if (retry_after_ms) *retry_after_ms = 0;
    if (rq->n_images < 1 || !rq->images || !rq->done || !fr__tiles_valid(&rq->tiles)) return FR_ERR_INVALID;
    for (int32_t i = 0; i < rq->n_images; i++)
        if (!rq->images[i].data && rq->images[i].len) return FR_ERR_INVALID;
    struct fr__req *r = fr_calloc(1, sizeof(*r));
    if (!r) return FR_ERR_NOMEM;
    r->imgs = fr_calloc((size_t)rq->n_images, sizeof(*r->imgs));
    r->results = fr_calloc((size_t)rq->n_images, sizeof(*r->results));
    if (!r->imgs || !r->results) goto oom;
    r->n = r->remaining = rq->n_images;
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
        for (int st = 0; st < FR_STAGES; st++) im->last_batch[st] = -1;
    }
    pthread_mutex_lock(&s->mu);
    enum fr_status st = FR_OK;
    struct fr__user *u = NULL;
    if (s->draining || s->stop) st = FR_ERR_SHUTDOWN;
    else if (!(u = user_get(s, rq->user ? rq->user : ""))) st = FR_ERR_NOMEM;
    else if (atomic_load(&s->queued) + r->n > s->p.queue_capacity ||
             atomic_load(&u->queued) + r->n > s->p.user_queue_capacity)
        st = FR_ERR_BUSY;
    if (u && (st == FR_OK || st == FR_ERR_BUSY)) fr__metrics_submitted(s, u, r->n, st == FR_ERR_BUSY);
    if (st == FR_OK) {
        r->user = u;
        r->id = ++s->next_id;
        atomic_fetch_add(&u->queued, r->n);
        atomic_fetch_add(&s->queued, r->n);
        s->outstanding++;
        s->n_admitted++;
        int32_t q = atomic_load(&s->queued);
        if (q > s->max_queued) s->max_queued = q;
        r->next = s->submitted; /* order among one batch of submissions does not matter */
        s->submitted = r;
        wake(s);
        if (id) *id = r->id;
    } else if (st == FR_ERR_BUSY) {
        s->n_rejected++;
        if (retry_after_ms) {
            struct fr_stats_view v;
            fr__stats_view(&s->stats, &v);
            double rate = v.images_60s > 0 ? v.images_60s : 1.0;
            double sec = (atomic_load(&s->queued) + r->n) / rate;
            *retry_after_ms = (int32_t)fmin(600e3, fmax(1000.0, sec * 1e3));
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (st != FR_OK) req_free(s, r);
    return st;
oom:
    req_free(s, r);
    return FR_ERR_NOMEM;
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
    wake(s);
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

void fr_sched_get_counters(struct fr_sched *s, struct fr_sched_counters *c) {
    pthread_mutex_lock(&s->snap_mu);
    *c = s->snap.c;
    pthread_mutex_unlock(&s->snap_mu);
}
