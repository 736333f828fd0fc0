/* fr_sched's loop: image and request states, batch filling and collection,
 * and the threads (see sched.h; queue.c holds the queues and admission,
 * batch.c the batching policy, sched-impl.h the layering).
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
 * input preparation. When the device is free, batch.c's policy picks the
 * batch it runs. */
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

/* ---- host memory ---- */

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
    fr__queue_take_out(s, im);
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
    fr__stats_request_done(&s->stats, st);
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
    double lat[FR_LATENCY_COUNT] = { im->tm.queued,   im->tm.decode,    im->tm.detect,
                                     im->tm.landmark, im->tm.recognize, im->tm.total };
    if (im->state == FR__IMG_FAILED || !im->rq->landmarks) lat[FR_LATENCY_LANDMARK] = -1;
    if (im->state == FR__IMG_FAILED || !im->rq->embeddings) lat[FR_LATENCY_RECOGNIZE] = -1;
    if (im->state == FR__IMG_FAILED && !im->image_seen) lat[FR_LATENCY_DECODE] = lat[FR_LATENCY_DETECT] = -1;
    fr__stats_image(&s->stats, &im->rq->user->stats, lat, im->faces.count, im->state == FR__IMG_FAILED);
    leave_flight(s, im);
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
static void enter_face_stage(struct fr_sched *s, struct fr__img *im, enum fr_stage stage) {
    bool want = stage == FR_STAGE_LANDMARK ? im->rq->landmarks : im->rq->embeddings;
    int32_t nf = fr__face_job_count(im->job);
    if (!want || nf == 0) {
        if (stage == FR_STAGE_LANDMARK) enter_face_stage(s, im, FR_STAGE_RECOGNIZE);
        else img_done(s, im);
        return;
    }
    im->state = stage == FR_STAGE_LANDMARK ? FR__IMG_LANDMARK : FR__IMG_RECOGNIZE;
    im->next_face = 0;
    im->pending = 0;
    im->t_ready = fr_time_now();
    fr__queue_push(&s->ready[stage], im);
    s->faces_ready[stage] += nf;
}

/* All faces of the image's current face stage have been through the net
 * (or had no crop): move on. */
static void face_stage_check(struct fr_sched *s, struct fr__img *im) {
    if (im->pending || im->next_face < fr__face_job_count(im->job)) return;
    if (im->state == FR__IMG_LANDMARK) enter_face_stage(s, im, FR_STAGE_RECOGNIZE);
    else img_done(s, im);
}

/* ---- batches ---- */

/* The image is no longer needed for its pixels once its last stage that
 * crops from it has taken every face. */
static void maybe_free_pixels(struct fr_sched *s, struct fr__img *im, enum fr_stage stage) {
    bool last = stage == FR_STAGE_RECOGNIZE || (stage == FR_STAGE_LANDMARK && !im->rq->embeddings) ||
                (stage == FR_STAGE_DETECT && !im->rq->landmarks);
    if (!last) return;
    fr_image_free(im->image);
    im->image = NULL;
    host_release(s, im);
}

/* Moves ready items of a stage into its filling batch, preparing their
 * inputs. Stops early when the device has become idle, so that dispatch
 * is not delayed by preparation. */
static void fill_stage(struct fr_sched *s, enum fr_stage stage) {
    struct fr__batch *b = fr__batch_filling(s, stage);
    if (!b || !fr__batch_may_fill(s)) return;
    struct fr__queue *q = &s->ready[stage];
    while (q->head && b->n < s->limit[stage]) {
        if (s->running && atomic_load(&s->device_idle)) break;
        struct fr__img *im = q->head;
        if (!b->n) b->t_first = im->t_ready;
        if (stage == FR_STAGE_DETECT && im->det_tiles) {
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
            if (im->det_next >= im->det_tiles) fr__queue_remove(im);
            continue;
        }
        if (stage == FR_STAGE_DETECT) {
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
            fr__queue_remove(im);
            s->faces_ready[stage]--;
            continue;
        }
        int32_t nf = fr__face_job_count(im->job);
        bool lm = stage == FR_STAGE_LANDMARK;
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
            fr__queue_remove(im);
            maybe_free_pixels(s, im, stage);
            face_stage_check(s, im);
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
        fr__stats_tile(&s->stats);
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
    fr__queue_push(&s->ready[FR_STAGE_DETECT], im);
    s->faces_ready[FR_STAGE_DETECT] += n;
    return false;
}

/* A finished batch into the stats sink, with how long each of its live
 * items was ready before the batch started. Items of finished requests and
 * failed images are left out: their wait says nothing about the batcher. */
static void record_batch(struct fr_sched *s, struct fr__batch *b) {
    int32_t n = 0;
    for (int32_t k = 0; k < b->n; k++) {
        const struct fr__img *im = b->items[k].im;
        if (im->rq->state == FR__REQ_FINISHED || im->state == FR__IMG_FAILED) continue;
        b->waits[n++] = b->t0 - im->t_ready;
    }
    fr__stats_batch(&s->stats, b->stage, b->n, b->t0, b->t1, b->waits, n);
}

/* Results of a finished batch back into its images. */
static void collect(struct fr_sched *s, struct fr__batch *b) {
    double ms = (b->t1 - b->t0) * 1e3;
    record_batch(s, b);
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
            snprintf(msg, sizeof msg, "%s net failed: %s", fr_stage_name(b->stage), fr_status_str(b->status));
            img_fail(s, im, b->status, msg);
            continue;
        }
        if (b->stage == FR_STAGE_DETECT) {
            if (im->last_batch[FR_STAGE_DETECT] != b->seq) {
                im->last_batch[FR_STAGE_DETECT] = b->seq;
                im->tm.detect += ms;
            }
            if (detect_collected(s, im, b, k)) {
                if (!im->rq->landmarks) maybe_free_pixels(s, im, FR_STAGE_DETECT);
                enter_face_stage(s, im, FR_STAGE_LANDMARK);
            }
            continue;
        }
        bool lm = b->stage == FR_STAGE_LANDMARK;
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

/* ---- threads ---- */

void *fr__sched_decode_main(void *arg) {
    struct fr_sched *s = arg;
    pthread_mutex_lock(&s->dmu);
    for (;;) {
        while (!s->decode_q.head && !s->stop_workers) pthread_cond_wait(&s->dcv, &s->dmu);
        if (s->stop_workers) break;
        struct fr__img *im = s->decode_q.head;
        fr__queue_remove(im);
        pthread_mutex_unlock(&s->dmu);
        /* The loop does not touch a decoding image's bytes, image or
         * error until the worker posts it back. */
        im->st = fr_image_decode(im->bytes, im->len, &s->p.decode, &im->image, im->err, sizeof im->err);
        /* The detector's input (pad, resize, normalise) is made here, in
         * parallel and off the loop thread, so that a lone request does
         * not wait for it and the loop only copies it into a batch. */
        if (im->st == FR_OK && !s->det_on_device) {
            im->det_in = fr_malloc(sizeof(float) * s->in_item[FR_STAGE_DETECT]);
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
        fr__queue_push(&s->decoded, im);
        fr__sched_wake(s);
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
        fr__sched_wake(s);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->xmu);
    }
    pthread_mutex_unlock(&s->xmu);
    return NULL;
}

/* Runs every net once at its largest batch and at 1, so that the first
 * requests do not pay for primitive creation. */
static void warmup(struct fr_sched *s) {
    for (int st = 0; st < FR_STAGE_COUNT; st++) {
        struct fr__batch *b = &s->slots[st][0];
        memset(b->in, 0, sizeof(float) * s->in_item[st] * (size_t)s->limit[st]);
        int32_t sizes[2] = { 1, s->limit[st] };
        for (int k = 0; k < 2; k++)
            if (fr_net_forward(s->nets[st], b->in, sizes[k], b->outs) != FR_OK)
                FR_LOGW("sched: warm-up of the %s net failed", fr_stage_name((enum fr_stage)st));
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
                    (s->det_on_device ? 0 : sizeof(float) * s->in_item[FR_STAGE_DETECT]);
    s->host_used += actual;
    s->host_used -= im->host_bytes;
    im->host_bytes = actual;
    if (s->host_used > s->gauges.memory.host_peak) s->gauges.memory.host_peak = s->host_used;
    if (!(im->job = fr__face_job_new())) {
        img_fail(s, im, FR_ERR_NOMEM, "out of memory");
        return;
    }
    fr__face_job_set_detect(im->job, &rq->tiles, rq->min_face_size);
    im->state = FR__IMG_DETECT;
    im->t_ready = fr_time_now();
    fr__queue_push(&s->ready[FR_STAGE_DETECT], im);
    s->faces_ready[FR_STAGE_DETECT]++;
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
            fr__batch_try_dispatch(s, now, &wake_at);
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
            for (int32_t i = 0; i < rq->n; i++) fr__queue_push(&rq->user->queue, &rq->imgs[i]);
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
        fr__queue_admit(s, fr__batch_admit_cap(s));
        fr__batch_try_dispatch(s, now, &wake_at);
        for (int st = FR_STAGE_COUNT - 1; st >= 0; st--) fill_stage(s, (enum fr_stage)st);
        now = fr_time_now();
        fr__batch_try_dispatch(s, now, &wake_at);
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

/* ---- gauges ---- */

void fr__sched_publish(struct fr_sched *s) {
    struct fr__stats_gauges g = s->gauges;
    g.queued = atomic_load(&s->queued);
    g.in_flight.images = s->inflight;
    g.in_flight.faces = g.in_flight.requests = 0;
    g.memory.host_used = s->host_used;
    g.decoding = s->decoding;
    for (int st = 0; st < FR_STAGE_COUNT; st++) {
        int32_t n = s->faces_ready[st];
        for (int k = 0; k < 2; k++)
            if (&s->slots[st][k] != s->running) n += s->slots[st][k].n;
        g.ready[st] = n;
    }
    for (struct fr__req *rq = s->live; rq; rq = rq->next) {
        if (rq->state != FR__REQ_ACTIVE) continue;
        g.in_flight.requests++;
        for (int32_t i = 0; i < rq->n; i++)
            if (rq->imgs[i].job && rq->imgs[i].state != FR__IMG_DONE)
                g.in_flight.faces += fr__face_job_count(rq->imgs[i].job);
    }
    /* Per-user gauges: the user list is appended under mu. */
    pthread_mutex_lock(&s->mu);
    g.max_queued = s->max_queued;
    for (struct fr__user *u = s->users; u; u = u->next) {
        u->stats.loop_queued = atomic_load(&u->queued);
        u->stats.loop_in_flight = u->inflight;
    }
    fr__stats_publish(&s->stats, &g);
    pthread_mutex_unlock(&s->mu);
}

bool fr_sched_ready(const struct fr_sched *s) { return atomic_load(&((struct fr_sched *)s)->ready_flag); }
