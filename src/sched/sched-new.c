/* fr_sched start-up (memory planning, threads), shutdown and /status. */
#include <cjson/cJSON.h>
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
    CHECK(p->metrics_top_users >= 0 && p->metrics_top_users <= 64, "metrics_top_users %d is not in [0, 64]",
          p->metrics_top_users);
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
    struct fr_net *nets[FR_STAGES] = { fr_facenet_net(s->fn, s->p.detector == FR_DETECTOR_SSD ? FR_NET_SSD : FR_NET_TINY),
                                       fr_facenet_net(s->fn, FR_NET_LANDMARK), fr_facenet_net(s->fn, FR_NET_RECOGNITION) };
    size_t arena1[FR_STAGES], arenas = 0;
    for (int k = 0; k < FR_STAGES; k++) {
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
        for (int k = 0; k < FR_STAGES; k++) s->staging_bytes += stage_item_bytes(s, k) * (size_t)s->limit[k];
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
    for (int st = 0; st < FR_STAGES; st++)
        for (int k = 0; k < 2; k++) {
            struct fr__batch *b = &s->slots[st][k];
            b->stage = st;
            b->items = fr_calloc((size_t)s->limit[st], sizeof(*b->items));
            b->in = fr_malloc(sizeof(float) * s->in_item[st] * (size_t)s->limit[st]);
            if (!b->items || !b->in) return FR_ERR_NOMEM;
            if (st == FR__ST_DETECT && s->det_on_device &&
                !(b->prep = fr_calloc((size_t)s->limit[st], sizeof(*b->prep))))
                return FR_ERR_NOMEM;
            if (st == FR__ST_DETECT) {
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
    s->t_start = fr_time_now();
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->dmu, NULL);
    pthread_mutex_init(&s->xmu, NULL);
    pthread_mutex_init(&s->snap_mu, NULL);
    init_cond_mono(&s->cv);
    init_cond_mono(&s->drain_cv);
    pthread_cond_init(&s->dcv, NULL);
    pthread_cond_init(&s->xcv, NULL);
    atomic_init(&s->queued, 0);
    atomic_init(&s->device_idle, true);
    atomic_init(&s->ready_flag, false);
    fr__stats_init(&s->stats);
    fr__metrics_init(&s->metrics);
    if ((st = plan(s, err, errlen)) != FR_OK) goto fail;
    if ((st = alloc_slots(s)) != FR_OK) {
        fr_errf(err, errlen, "out of memory for the staging buffers");
        goto fail;
    }
    s->c.device_memory_limit = s->device_limit;
    s->c.device_memory_used = fr_backend_memory_used(s->be) + s->staging_bytes;
    s->c.device_memory_peak = s->c.device_memory_used;
    FR_ASSERT(s->c.device_memory_used <= s->device_limit);
    for (int k = 0; k < FR_STAGES; k++) s->c.batch_limit[k] = s->limit[k];
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
            fr_backend_name(s->be), s->limit[0], s->limit[1], s->limit[2], s->c.device_memory_used / 1048576.0,
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
        for (int32_t i = 0; i < rq->n; i++) fr_free(rq->imgs[i].bytes);
        fr_free(rq->imgs);
        fr_free(rq->results);
        fr_free(rq);
    }
    for (int st = 0; st < FR_STAGES; st++)
        for (int k = 0; k < 2; k++) {
            struct fr__batch *b = &s->slots[st][k];
            fr_free(b->items);
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
    pthread_mutex_destroy(&s->snap_mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->drain_cv);
    pthread_cond_destroy(&s->dcv);
    pthread_cond_destroy(&s->xcv);
    fr_free(s);
}

/* ---- status ---- */

void fr__sched_publish(struct fr_sched *s) {
    pthread_mutex_lock(&s->snap_mu);
    s->c.queued_images = atomic_load(&s->queued);
    s->c.inflight_images = s->inflight;
    s->c.host_memory_used = s->host_used;
    s->snap.c = s->c;
    int32_t in_batches = 0;
    for (int st = 0; st < FR_STAGES; st++) {
        int32_t n = s->faces_ready[st];
        for (int k = 0; k < 2; k++)
            if (&s->slots[st][k] != s->running) n += s->slots[st][k].n;
        s->snap.ready[st] = n;
        for (int k = 0; k < 2; k++) in_batches += s->slots[st][k].n;
    }
    s->snap.in_batches = in_batches;
    s->snap.decoding = s->decoding;
    int32_t faces = 0, live = 0;
    for (struct fr__req *rq = s->live; rq; rq = rq->next) {
        if (rq->state != FR__REQ_ACTIVE) continue;
        live++;
        for (int32_t i = 0; i < rq->n; i++)
            if (rq->imgs[i].job && rq->imgs[i].state != FR__IMG_DONE) faces += fr__face_job_count(rq->imgs[i].job);
    }
    s->snap.faces_inflight = faces;
    s->snap.live_requests = live;
    pthread_mutex_unlock(&s->snap_mu);
    /* Per-user figures: the user list is appended under mu. */
    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&s->snap_mu);
    s->snap.c.admitted = s->n_admitted;
    s->snap.c.rejected_busy = s->n_rejected;
    s->snap.c.max_queued_images = s->max_queued;
    for (struct fr__user *u = s->users; u; u = u->next) {
        u->snap_queued = atomic_load(&u->queued);
        u->snap_inflight = u->inflight;
    }
    fr__metrics_publish(s);
    pthread_mutex_unlock(&s->snap_mu);
    pthread_mutex_unlock(&s->mu);
}

static const char *device_name(enum fr_device d) {
    return d == FR_DEVICE_CPU ? "cpu" : d == FR_DEVICE_CUDA ? "cuda" : "auto";
}

static void add_settings(cJSON *o, const struct fr_sched_params *p) {
    cJSON_AddStringToObject(o, "models", p->models_dir ? p->models_dir : "");
    cJSON_AddStringToObject(o, "device", device_name(p->device));
    cJSON_AddStringToObject(o, "precision", fr_precision_name(p->precision));
    cJSON_AddNumberToObject(o, "device_memory_limit", (double)p->device_memory_limit);
    cJSON_AddNumberToObject(o, "host_memory_limit", (double)p->host_memory_limit);
    cJSON_AddNumberToObject(o, "threads", p->threads);
    cJSON_AddNumberToObject(o, "max_workers", p->max_workers);
    cJSON_AddNumberToObject(o, "max_batch_size", p->max_batch_size);
    cJSON_AddNumberToObject(o, "preferred_batch_size", p->preferred_batch_size);
    cJSON_AddNumberToObject(o, "max_queue_delay_ms", p->max_queue_delay_ms);
    cJSON_AddStringToObject(o, "batching", p->batching == FR_BATCHING_STATIC ? "static" : "dynamic");
    cJSON_AddNumberToObject(o, "static_fill_timeout_ms", p->static_fill_timeout_ms);
    cJSON_AddNumberToObject(o, "queue_capacity", p->queue_capacity);
    cJSON_AddNumberToObject(o, "user_queue_capacity", p->user_queue_capacity);
    cJSON_AddNumberToObject(o, "user_concurrency_limit", p->user_concurrency_limit);
    cJSON_AddNumberToObject(o, "max_concurrent_images", p->max_concurrent_images);
    cJSON_AddNumberToObject(o, "request_timeout_ms", p->request_timeout_ms);
    cJSON_AddNumberToObject(o, "max_image_size", p->decode.max_image_size);
    cJSON_AddStringToObject(o, "detector", p->detector == FR_DETECTOR_SSD ? "ssd" : "tiny");
    cJSON_AddNumberToObject(o, "min_confidence", p->min_confidence);
    cJSON_AddNumberToObject(o, "max_faces", p->max_faces);
    cJSON_AddNumberToObject(o, "min_face_size", p->min_face_size);
    char tiles[16];
    fr_tiles_format(&p->tiles, tiles, sizeof tiles);
    cJSON_AddStringToObject(o, "detect_tiles", tiles);
}

char *fr_sched_status_json(struct fr_sched *s) {
    struct fr_stats_view v;
    fr__stats_view(&s->stats, &v);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "uptime_s", v.uptime);
    cJSON_AddBoolToObject(o, "ready", fr_sched_ready(s));
    cJSON *dev = cJSON_AddObjectToObject(o, "device");
    cJSON_AddStringToObject(dev, "backend", fr_backend_name(s->be));
    /* What each net runs in after `precision` met this CPU. */
    cJSON *prec = cJSON_AddObjectToObject(dev, "precision");
    for (int k = 0; k < FR_STAGES; k++)
        cJSON_AddStringToObject(prec, fr__stage_names[k], fr_precision_name(fr_net_precision(s->nets[k])));
    add_settings(cJSON_AddObjectToObject(o, "settings"), &s->p);

    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&s->snap_mu);
    struct fr__snapshot sn = s->snap;
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "total", sn.c.queued_images);
    cJSON_AddNumberToObject(q, "capacity", s->p.queue_capacity);
    cJSON *ps = cJSON_AddObjectToObject(q, "per_stage");
    cJSON_AddNumberToObject(ps, "admission", sn.c.queued_images);
    cJSON_AddNumberToObject(ps, "decode", sn.decoding);
    for (int st = 0; st < FR_STAGES; st++) cJSON_AddNumberToObject(ps, fr__stage_names[st], sn.ready[st]);
    cJSON *pu = cJSON_AddObjectToObject(q, "per_user");
    for (struct fr__user *u = s->users; u; u = u->next) {
        cJSON *e = cJSON_AddObjectToObject(pu, u->name);
        cJSON_AddNumberToObject(e, "queued", u->snap_queued);
        cJSON_AddNumberToObject(e, "in_flight", u->snap_inflight);
    }
    pthread_mutex_unlock(&s->snap_mu);
    pthread_mutex_unlock(&s->mu);

    cJSON *fl = cJSON_AddObjectToObject(o, "in_flight");
    cJSON_AddNumberToObject(fl, "images", sn.c.inflight_images);
    cJSON_AddNumberToObject(fl, "faces", sn.faces_inflight);
    cJSON_AddNumberToObject(fl, "requests", sn.live_requests);
    cJSON_AddNumberToObject(fl, "max_images", sn.c.max_inflight_images);
    cJSON_AddNumberToObject(fl, "max_user_images", sn.c.max_user_inflight_images);

    cJSON *bt = cJSON_AddObjectToObject(o, "batches");
    static const char *const hist_names[FR_HIST_BUCKETS] = { "1",     "2-3",     "4-7",     "8-15",  "16-31",
                                                             "32-63", "64-127", "128-255", "256+" };
    for (int st = 0; st < FR_STAGES; st++) {
        cJSON *b = cJSON_AddObjectToObject(bt, fr__stage_names[st]);
        cJSON_AddNumberToObject(b, "count", (double)v.batches[st]);
        cJSON_AddNumberToObject(b, "items", (double)v.items[st]);
        cJSON_AddNumberToObject(b, "mean_size", v.batches[st] ? (double)v.items[st] / v.batches[st] : 0);
        cJSON_AddNumberToObject(b, "limit", s->limit[st]);
        cJSON *h = cJSON_AddObjectToObject(b, "histogram");
        for (int k = 0; k < FR_HIST_BUCKETS; k++)
            if (v.hist[st][k]) cJSON_AddNumberToObject(h, hist_names[k], (double)v.hist[st][k]);
    }
    /* Multi-scale detection: tiles run as detector items, and the admission
     * turns users gave up for them. */
    cJSON *tl = cJSON_AddObjectToObject(o, "tiles");
    cJSON_AddNumberToObject(tl, "items", (double)sn.c.tiles);
    cJSON_AddNumberToObject(tl, "turns_skipped", (double)sn.c.turns_skipped);
    cJSON *tp = cJSON_AddObjectToObject(o, "throughput");
    cJSON_AddNumberToObject(tp, "images_per_s_1s", v.images_1s);
    cJSON_AddNumberToObject(tp, "faces_per_s_1s", v.faces_1s);
    cJSON_AddNumberToObject(tp, "images_per_s_60s", v.images_60s);
    cJSON_AddNumberToObject(tp, "faces_per_s_60s", v.faces_60s);
    cJSON_AddNumberToObject(tp, "images_total", (double)v.images_total);
    cJSON_AddNumberToObject(tp, "faces_total", (double)v.faces_total);
    cJSON_AddNumberToObject(tp, "images_failed", (double)v.images_failed);
    cJSON *ut = cJSON_AddObjectToObject(o, "device_utilization");
    cJSON_AddNumberToObject(ut, "busy_1s", v.busy_1s);
    cJSON_AddNumberToObject(ut, "busy_60s", v.busy_60s);
    cJSON_AddNumberToObject(ut, "busy_since_start", v.busy_total);
    cJSON_AddNullToObject(ut, "gpu"); /* the device's own figure; none on the CPU */
    cJSON *mem = cJSON_AddObjectToObject(o, "memory");
    cJSON_AddNumberToObject(mem, "device_used", (double)sn.c.device_memory_used);
    cJSON_AddNumberToObject(mem, "device_peak", (double)sn.c.device_memory_peak);
    cJSON_AddNumberToObject(mem, "device_limit", (double)sn.c.device_memory_limit);
    cJSON_AddNumberToObject(mem, "staging", (double)s->staging_bytes);
    cJSON_AddNumberToObject(mem, "host_used", (double)sn.c.host_memory_used);
    cJSON_AddNumberToObject(mem, "host_peak", (double)sn.c.host_memory_peak);
    cJSON_AddNumberToObject(mem, "host_limit", (double)s->p.host_memory_limit);
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    for (int k = 0; k < FR_LAT_KINDS; k++) {
        cJSON *e = cJSON_AddObjectToObject(lat, fr__lat_names[k]);
        cJSON_AddNumberToObject(e, "p50", v.p50[k]);
        cJSON_AddNumberToObject(e, "p95", v.p95[k]);
        cJSON_AddNumberToObject(e, "p99", v.p99[k]);
    }
    cJSON *rq = cJSON_AddObjectToObject(o, "requests");
    cJSON_AddNumberToObject(rq, "admitted", (double)sn.c.admitted);
    cJSON_AddNumberToObject(rq, "rejected_busy", (double)sn.c.rejected_busy);
    cJSON_AddNumberToObject(rq, "completed", (double)sn.c.completed);
    cJSON_AddNumberToObject(rq, "timed_out", (double)sn.c.timed_out);
    cJSON_AddNumberToObject(rq, "cancelled", (double)sn.c.cancelled);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return NULL;
    char *copy = fr_strdup(txt);
    cJSON_free(txt);
    return copy;
}
