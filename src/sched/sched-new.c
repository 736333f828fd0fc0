/* fr_sched start-up (memory planning, threads) and shutdown. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../face/face-impl.h"
#include "../nn/prep.h"
#include "sched-impl.h"

#define FR_CPU_DEFAULT_LIMIT ((size_t)2 << 30)

static enum fr_status check_params(const struct fr_sched_params *p, char *err, size_t errlen) {
#define CHECK(cond, ...)                  \
    if (!(cond)) {                        \
        fr_errf(err, errlen, __VA_ARGS__); \
        return FR_ERR_INVALID;            \
    }
    CHECK(p->max_batch_size >= 1 && p->max_batch_size <= FR_SCHED_MAX_BATCH, "max_batch_size %d is not in [1, %d]",
          p->max_batch_size, FR_SCHED_MAX_BATCH);
    CHECK(p->preferred_batch_size >= 1 && p->preferred_batch_size <= p->max_batch_size,
          "preferred_batch_size %d is not in [1, max_batch_size %d]", p->preferred_batch_size, p->max_batch_size);
    CHECK(p->max_queue_delay_ms >= 0, "max_queue_delay_ms %d is negative", p->max_queue_delay_ms);
    CHECK(p->batching == FR_BATCHING_DYNAMIC || p->batching == FR_BATCHING_STATIC, "batching %d is unknown",
          (int)p->batching);
    CHECK(p->static_fill_timeout_ms >= 0, "static_fill_timeout_ms %d is negative", p->static_fill_timeout_ms);
    CHECK(p->queue_capacity >= 1, "queue_capacity %d must be at least 1", p->queue_capacity);
    CHECK(p->user_queue_capacity >= 1, "user_queue_capacity %d must be at least 1", p->user_queue_capacity);
    CHECK(p->user_concurrency_limit >= 1, "user_concurrency_limit %d must be at least 1", p->user_concurrency_limit);
    CHECK(p->max_concurrent_images >= 1, "max_concurrent_images %d must be at least 1", p->max_concurrent_images);
    CHECK(p->request_timeout_ms >= 1, "request_timeout_ms %d must be at least 1", p->request_timeout_ms);
    CHECK(p->device_memory_percent >= 0 && p->device_memory_percent <= 100,
          "device_memory_percent %d is not in [0, 100]", p->device_memory_percent);
    CHECK(p->max_workers >= 1 && p->max_workers <= FR_SCHED_MAX_WORKERS, "max_workers %d is not in [1, %d]",
          p->max_workers, FR_SCHED_MAX_WORKERS);
    CHECK(p->metrics_top_users >= 0 && p->metrics_top_users <= FR_METRICS_MAX_USERS,
          "metrics_top_users %d is not in [0, %d]", p->metrics_top_users, FR_METRICS_MAX_USERS);
    CHECK(p->host_memory_limit >= FR_SCHED_MIN_HOST_MEMORY, "host_memory_limit %zu is below 16 MiB", p->host_memory_limit);
#undef CHECK
    return FR_OK;
}

static enum fr_status make_facenet(struct fr_sched *s, size_t limit, int32_t bdet, int32_t bface, char *err,
                                   size_t errlen) {
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = s->p.device;
    bp.memory_limit = limit;
    bp.threads = s->p.threads;
    bp.precision = s->p.precision;
    enum fr_status st = fr_backend_new(&bp, &s->be, err, errlen);
    if (st != FR_OK) return st;
    struct fr_facenet_params fp = fr_facenet_default_params();
    fp.models_dir = s->p.models_dir;
    fp.detector = s->p.detector;
    fp.min_confidence = s->p.min_confidence;
    fp.max_results = s->p.max_faces;
    fp.min_face_size = s->p.min_face_size;
    fp.landmarks = fp.descriptors = true;
    fp.max_batch_images = bdet;
    fp.max_batch_faces = bface;
    fp.staging = false;
    return fr_facenet_new(s->be, &fp, &s->fn, err, errlen);
}

static void drop_facenet(struct fr_sched *s) {
    fr_facenet_free(s->fn);
    fr_backend_free(s->be);
    s->fn = NULL;
    s->be = NULL;
}

static size_t out_floats(struct fr_net *net) {
    size_t n = 0;
    for (int32_t i = 0; i < fr_net_output_count(net); i++) {
        int32_t h, w, c;
        fr_net_output_shape(net, i, &h, &w, &c);
        n += (size_t)h * w * c;
    }
    return n;
}

static size_t stage_item_bytes(const struct fr_sched *s, int st) {
    return 2 * sizeof(float) * (s->in_item[st] + s->out_item[st]);
}

/* Chooses each net's largest batch so that weights, activation arenas and
 * the two staging slots per stage fit device_memory_limit, then loads the
 * nets for those batches. Arenas grow about linearly with the batch; the
 * estimate from batch 1 is checked by the real allocation, which the
 * backend refuses beyond its budget, and shrunk until it fits. */
static enum fr_status plan(struct fr_sched *s, char *err, size_t errlen) {
    size_t L = s->p.device_memory_limit ? s->p.device_memory_limit : FR_CPU_DEFAULT_LIMIT;
    if (!s->p.device_memory_limit && s->p.device_memory_percent > 0) {
        /* On the CPU the "device" is main memory: a share of physical RAM,
         * as the system we replace took a share of the GPU's. */
        double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
        L = (size_t)(ram * s->p.device_memory_percent / 100.0);
    }
    if (!s->p.device_memory_limit && s->p.device != FR_DEVICE_CPU) {
        /* On a GPU the default (80% of the card's free memory, or the
         * percent of the card) is the CUDA backend's to work out: ask a
         * probe. It frees its block again before the real backends. */
        struct fr_backend_params bp = fr_backend_default_params();
        bp.device = s->p.device;
        bp.memory_percent = s->p.device_memory_percent;
        struct fr_backend *probe = NULL;
        if (fr_backend_new(&bp, &probe, NULL, 0) == FR_OK && strcmp(fr_backend_name(probe), "cpu") != 0)
            L = fr_backend_memory_limit(probe);
        fr_backend_free(probe);
    }
    s->device_limit = L;
    char e1[512] = "";
    enum fr_status st = make_facenet(s, L, 1, 1, e1, sizeof e1);
    if (st != FR_OK) {
        drop_facenet(s);
        if (st == FR_ERR_BUDGET)
            fr_errf(err, errlen, "device_memory_limit %.1f MiB is too small for the models: %s", L / 1048576.0, e1);
        else fr_errf(err, errlen, "%s", e1);
        return st;
    }
    struct fr_net *nets[FR_STAGE_COUNT] = { fr_facenet_net(s->fn, s->p.detector == FR_DETECTOR_SSD ? FR_NET_SSD : FR_NET_TINY),
                                       fr_facenet_net(s->fn, FR_NET_LANDMARK), fr_facenet_net(s->fn, FR_NET_RECOGNITION) };
    size_t arena1[FR_STAGE_COUNT], arenas = 0;
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        int32_t h, w, c;
        fr_net_input_shape(nets[k], &h, &w, &c);
        s->in_item[k] = (size_t)h * w * c;
        s->out_item[k] = out_floats(nets[k]);
        arena1[k] = fr_net_plan_bytes(nets[k], 1);
        arenas += arena1[k];
    }
    size_t used = fr_backend_memory_used(s->be), weights = used > arenas ? used - arenas : 0;
    drop_facenet(s);
    size_t margin = (size_t)1 << 20;
    size_t per_det = arena1[0] + stage_item_bytes(s, 0);
    size_t per_face = arena1[1] + arena1[2] + stage_item_bytes(s, 1) + stage_item_bytes(s, 2);
    if (L < weights + margin + per_det + per_face) {
        fr_errf(err, errlen,
                "device_memory_limit %.1f MiB is too small: the models and batches of one need %.1f MiB",
                L / 1048576.0, (weights + margin + per_det + per_face) / 1048576.0);
        return FR_ERR_BUDGET;
    }
    size_t avail = L - weights - margin;
    int32_t maxb = s->p.max_batch_size;
    int32_t bdet = (int32_t)fmin(maxb, floor((double)avail / (double)(per_det + per_face)));
    size_t rest = avail - (size_t)bdet * (per_det + per_face);
    int32_t bface = (int32_t)fmin(maxb, bdet + floor((double)rest / (double)per_face));
    for (int attempt = 0; attempt < 32; attempt++) {
        s->limit[0] = bdet;
        s->limit[1] = s->limit[2] = bface;
        s->staging_bytes = 0;
        for (int k = 0; k < FR_STAGE_COUNT; k++) s->staging_bytes += stage_item_bytes(s, k) * (size_t)s->limit[k];
        if (s->staging_bytes < L) {
            char e2[512] = "";
            st = make_facenet(s, L - s->staging_bytes, bdet, bface, e2, sizeof e2);
            if (st == FR_OK) break;
            drop_facenet(s);
            if (st != FR_ERR_BUDGET) {
                fr_errf(err, errlen, "%s", e2);
                return st;
            }
        }
        if (bdet <= 1 && bface <= 1) {
            fr_errf(err, errlen, "device_memory_limit %.1f MiB is too small for batches of one", L / 1048576.0);
            return FR_ERR_BUDGET;
        }
        /* Shrink whichever costs more. */
        if ((size_t)bdet * per_det >= (size_t)bface * per_face && bdet > 1) bdet -= (bdet + 7) / 8;
        else bface -= (bface + 7) / 8;
    }
    if (!s->fn) {
        fr_errf(err, errlen, "could not fit the nets into device_memory_limit %.1f MiB", L / 1048576.0);
        return FR_ERR_BUDGET;
    }
    s->nets[0] = fr_facenet_net(s->fn, s->p.detector == FR_DETECTOR_SSD ? FR_NET_SSD : FR_NET_TINY);
    s->nets[1] = fr_facenet_net(s->fn, FR_NET_LANDMARK);
    s->nets[2] = fr_facenet_net(s->fn, FR_NET_RECOGNITION);
    s->det_on_device = fr__facenet_det_on_device(s->fn);
    return FR_OK;
}

static enum fr_status alloc_slots(struct fr_sched *s) {
    for (int st = 0; st < FR_STAGE_COUNT; st++)
        for (int k = 0; k < 2; k++) {
            struct fr__batch *b = &s->slots[st][k];
            b->stage = (enum fr_stage)st;
            b->items = fr_calloc((size_t)s->limit[st], sizeof(*b->items));
            b->waits = fr_calloc((size_t)s->limit[st], sizeof(*b->waits));
            b->in = fr_malloc(sizeof(float) * s->in_item[st] * (size_t)s->limit[st]);
            if (!b->items || !b->waits || !b->in) return FR_ERR_NOMEM;
            if (st == FR_STAGE_DETECT && s->det_on_device &&
                !(b->prep = fr_calloc((size_t)s->limit[st], sizeof(*b->prep))))
                return FR_ERR_NOMEM;
            if (st == FR_STAGE_DETECT) {
                for (int32_t i = 0; i < fr_net_output_count(s->nets[st]); i++) {
                    int32_t h, w, c;
                    fr_net_output_shape(s->nets[st], i, &h, &w, &c);
                    b->outs[i] = fr_malloc(sizeof(float) * (size_t)h * w * c * (size_t)s->limit[st]);
                    if (!b->outs[i]) return FR_ERR_NOMEM;
                }
            } else {
                b->outs[0] = fr_malloc(sizeof(float) * s->out_item[st] * (size_t)s->limit[st]);
                if (!b->outs[0]) return FR_ERR_NOMEM;
            }
        }
    return FR_OK;
}

static void init_cond_mono(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

enum fr_status fr_sched_new(const struct fr_sched_params *params, struct fr_sched **out, char *err, size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_sched_params p = params ? *params : fr_sched_default_params();
    enum fr_status st = check_params(&p, err, errlen);
    if (st != FR_OK) return st;
    struct fr_sched *s = fr_calloc(1, sizeof(*s));
    if (!s) return FR_ERR_NOMEM;
    s->p = p;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->dmu, NULL);
    pthread_mutex_init(&s->xmu, NULL);
    init_cond_mono(&s->cv);
    init_cond_mono(&s->drain_cv);
    pthread_cond_init(&s->dcv, NULL);
    pthread_cond_init(&s->xcv, NULL);
    atomic_init(&s->queued, 0);
    atomic_init(&s->device_idle, true);
    atomic_init(&s->ready_flag, false);
    fr__stats_init(&s->stats, p.metrics_top_users);
    if ((st = plan(s, err, errlen)) != FR_OK) goto fail;
    if ((st = alloc_slots(s)) != FR_OK) {
        fr_errf(err, errlen, "out of memory for the staging buffers");
        goto fail;
    }
    struct fr_sched_memory *mem = &s->gauges.memory;
    mem->device_limit = s->device_limit;
    mem->device_used = fr_backend_memory_used(s->be) + s->staging_bytes;
    mem->device_peak = mem->device_used;
    mem->staging = s->staging_bytes;
    mem->host_limit = p.host_memory_limit;
    FR_ASSERT(mem->device_used <= s->device_limit);
    for (int k = 0; k < FR_STAGE_COUNT; k++) s->gauges.batch_limit[k] = s->limit[k];
    fr__sched_publish(s);
    s->workers = fr_calloc((size_t)p.max_workers, sizeof(pthread_t));
    if (!s->workers) {
        st = FR_ERR_NOMEM;
        goto fail;
    }
    for (; s->nworkers < p.max_workers; s->nworkers++)
        if (pthread_create(&s->workers[s->nworkers], NULL, fr__sched_decode_main, s) != 0) break;
    if (s->nworkers == 0 || pthread_create(&s->device, NULL, fr__sched_device_main, s) != 0) {
        fr_errf(err, errlen, "cannot start the scheduler's threads");
        st = FR_ERR_INTERNAL;
        goto fail;
    }
    s->device_started = true;
    if (pthread_create(&s->loop, NULL, fr__sched_loop_main, s) != 0) {
        fr_errf(err, errlen, "cannot start the scheduler's threads");
        st = FR_ERR_INTERNAL;
        goto fail;
    }
    s->loop_started = true;
    FR_LOGI("sched: backend %s; batches detect %d, landmark %d, recognize %d; device memory %.1f of %.1f MiB",
            fr_backend_name(s->be), s->limit[0], s->limit[1], s->limit[2], mem->device_used / 1048576.0,
            s->device_limit / 1048576.0);
    FR_LOGI("sched: precision %s: detector %s, landmarks %s, recognition %s", fr_precision_name(s->p.precision),
            fr_precision_name(fr_net_precision(s->nets[0])), fr_precision_name(fr_net_precision(s->nets[1])),
            fr_precision_name(fr_net_precision(s->nets[2])));
    *out = s;
    return FR_OK;
fail:
    fr_sched_free(s);
    return st;
}

void fr_sched_free(struct fr_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->loop_started) pthread_join(s->loop, NULL);
    pthread_mutex_lock(&s->dmu);
    s->stop_workers = true;
    pthread_cond_broadcast(&s->dcv);
    pthread_mutex_unlock(&s->dmu);
    for (int32_t i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
    pthread_mutex_lock(&s->xmu);
    s->stop_device = true;
    pthread_cond_signal(&s->xcv);
    pthread_mutex_unlock(&s->xmu);
    if (s->device_started) pthread_join(s->device, NULL);
    /* Every request was finished by the loop; what remains are requests
     * a worker or a batch still referred to when the threads stopped. */
    while (s->live) {
        struct fr__req *rq = s->live;
        s->live = rq->next;
        for (int32_t i = 0; i < rq->n; i++) rq->imgs[i].refs = 0;
        for (int32_t i = 0; i < rq->n; i++) {
            struct fr__img *im = &rq->imgs[i];
            fr_free(im->bytes);
            fr_free(im->det_in);
            fr_image_free(im->image);
            fr__face_job_free(im->job);
            fr_faces_clear(&im->faces);
        }
        fr_free(rq->imgs);
        fr_free(rq->results);
        fr_free(rq);
    }
    while (s->submitted) { /* submitted after the loop stopped */
        struct fr__req *rq = s->submitted;
        s->submitted = rq->next;
        fr__req_discard(rq);
    }
    for (int st = 0; st < FR_STAGE_COUNT; st++)
        for (int k = 0; k < 2; k++) {
            struct fr__batch *b = &s->slots[st][k];
            fr_free(b->items);
            fr_free(b->waits);
            fr_free(b->in);
            fr_free(b->prep);
            for (int i = 0; i < 8; i++) fr_free(b->outs[i]);
        }
    while (s->users) {
        struct fr__user *u = s->users;
        s->users = u->next;
        fr_free(u);
    }
    fr_free(s->cancels);
    fr_free(s->workers);
    drop_facenet(s);
    fr__stats_destroy(&s->stats);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->dmu);
    pthread_mutex_destroy(&s->xmu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->drain_cv);
    pthread_cond_destroy(&s->dcv);
    pthread_cond_destroy(&s->xcv);
    fr_free(s);
}
