/* Scheduler metrics: histograms gathered by the loop thread, per-user
 * counters for a bounded set of users, and the snapshot behind
 * fr_sched_get_metrics (see facerec/metrics.h and sched-metrics.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched-impl.h"

/* Batch sizes are powers of two up to the largest batch the settings allow. */
static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
/* Seconds: from a fraction of a millisecond (a queue that is never waited
 * on, a tiny batch) to the default request deadline. */
static const double time_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,   0.5,   1,      2.5,   5,    10,    30 };
#define NB(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

void fr_histogram_init(struct fr_histogram *h, const double *bounds, int32_t n) {
    FR_ASSERT(n >= 0 && n <= FR_METRICS_MAX_BOUNDS);
    memset(h, 0, sizeof(*h));
    h->nbounds = n;
    memcpy(h->bounds, bounds, sizeof(double) * (size_t)n);
}

void fr_histogram_observe(struct fr_histogram *h, double v) {
    if (isnan(v)) return;
    int32_t i = 0;
    while (i < h->nbounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void fr__metrics_init(struct fr__metrics *m) {
    memset(m, 0, sizeof(*m));
    struct fr__metrics_live *L = &m->live;
    for (int k = 0; k < 3; k++) {
        fr_histogram_init(&L->batch_size[k], batch_bounds, NB(batch_bounds));
        fr_histogram_init(&L->inference_seconds[k], time_bounds, NB(time_bounds));
    }
    for (int k = 0; k < FR_WAITS; k++) fr_histogram_init(&L->queue_seconds[k], time_bounds, NB(time_bounds));
    fr_histogram_init(&L->image_seconds, time_bounds, NB(time_bounds));
    m->snap = m->live;
}

void fr__metrics_batch(struct fr_sched *s, const struct fr__batch *b) {
    struct fr__metrics_live *L = &s->metrics.live;
    double run = b->t1 - b->t0;
    fr_histogram_observe(&L->batch_size[b->stage], b->n);
    fr_histogram_observe(&L->inference_seconds[b->stage], run);
    L->busy_seconds += run;
    /* Each item waited from the moment it was ready for this net until its
     * batch started. Images of finished requests are skipped: their wait
     * says nothing about the batcher. */
    struct fr_histogram *q = &L->queue_seconds[FR_WAIT_DETECT + b->stage];
    for (int32_t k = 0; k < b->n; k++) {
        const struct fr__img *im = b->items[k].im;
        if (im->rq->state == FR__REQ_FINISHED || im->state == FR__IMG_FAILED) continue;
        fr_histogram_observe(q, fmax(0.0, b->t0 - im->t_ready));
    }
    L->gen++;
}

void fr__metrics_admitted(struct fr_sched *s, const struct fr__img *im, double now) {
    fr_histogram_observe(&s->metrics.live.queue_seconds[FR_WAIT_ADMISSION], fmax(0.0, now - im->t_admit));
    s->metrics.live.gen++;
}

void fr__metrics_image(struct fr_sched *s, const struct fr__img *im) {
    struct fr__metrics_live *L = &s->metrics.live;
    fr_histogram_observe(&L->image_seconds, im->tm.total / 1e3);
    if (im->state == FR__IMG_FAILED) L->images_failed++;
    struct fr__user_metrics *u = &im->rq->user->m;
    if (atomic_load_explicit(&u->ranked, memory_order_relaxed)) {
        u->images_done++;
        u->faces_done += im->faces.count;
    } else {
        L->other_images_done++;
        L->other_faces_done += im->faces.count;
    }
    L->gen++;
}

static bool rankable(const struct fr__user *u) {
    return u->m.traffic > 0 && strlen(u->name) < FR_METRICS_USER_LEN && strcmp(u->name, "_other") != 0;
}

void fr__metrics_submitted(struct fr_sched *s, struct fr__user *user, int32_t n, bool rejected) {
    struct fr__user_metrics *u = &user->m;
    u->traffic += n;
    /* A free place goes to the first comers at once; the loop's ranking
     * then keeps the busiest. */
    if (!atomic_load(&u->ranked) && s->metrics.n_ranked < s->p.metrics_top_users && rankable(user)) {
        atomic_store(&u->ranked, true);
        s->metrics.n_ranked++;
    }
    if (atomic_load(&u->ranked)) {
        u->submitted += n;
        if (rejected) u->rejected += n;
    } else {
        s->metrics.other_submitted += n;
        if (rejected) s->metrics.other_rejected += n;
    }
}

/* More traffic first; on a tie the user already ranked keeps its place,
 * so that series do not flap between equals. */
static bool better(const struct fr__user *a, const struct fr__user *b) {
    if (a->m.traffic != b->m.traffic) return a->m.traffic > b->m.traffic;
    return atomic_load(&a->m.ranked) && !atomic_load(&b->m.ranked);
}

/* The top metrics_top_users users by traffic get their own series. */
static void rank(struct fr_sched *s) {
    int32_t n = s->p.metrics_top_users, nt = 0;
    if (n > FR_METRICS_MAX_USERS) n = FR_METRICS_MAX_USERS;
    struct fr__user *top[FR_METRICS_MAX_USERS];
    for (struct fr__user *u = s->users; u && n > 0; u = u->next) {
        if (!rankable(u)) continue;
        int32_t pos;
        if (nt < n) pos = nt++;
        else if (better(u, top[n - 1])) pos = n - 1;
        else continue;
        top[pos] = u;
        for (; pos > 0 && better(top[pos], top[pos - 1]); pos--) {
            struct fr__user *t = top[pos];
            top[pos] = top[pos - 1];
            top[pos - 1] = t;
        }
    }
    /* Every other reader of `ranked` holds mu, and the loop is this
     * thread: nobody sees the moment all are false. */
    for (struct fr__user *u = s->users; u; u = u->next) atomic_store(&u->m.ranked, false);
    for (int32_t i = 0; i < nt; i++) atomic_store(&top[i]->m.ranked, true);
    s->metrics.n_ranked = nt;
}

void fr__metrics_publish(struct fr_sched *s) {
    struct fr__metrics *m = &s->metrics;
    double now = fr_time_now();
    if (now - m->ranked_at >= 1.0) {
        rank(s);
        m->ranked_at = now;
    }
    for (struct fr__user *u = s->users; u; u = u->next) {
        u->m.snap_images = u->m.images_done;
        u->m.snap_faces = u->m.faces_done;
    }
    if (m->snap.gen != m->live.gen) m->snap = m->live;
}

static void user_entry(struct fr_user_metrics *e, const struct fr__user *u) {
    e->images_submitted += u->m.submitted;
    e->images_rejected += u->m.rejected;
    e->images_done += u->m.snap_images;
    e->faces_done += u->m.snap_faces;
    e->queued += u->snap_queued;
    e->in_flight += u->snap_inflight;
}

void fr_sched_get_metrics(struct fr_sched *s, struct fr_sched_metrics *m) {
    FR_ASSERT(s && m);
    memset(m, 0, sizeof(*m));
    struct fr_stats_view v;
    fr__stats_view(&s->stats, &v);
    snprintf(m->backend, sizeof(m->backend), "%s", fr_backend_name(s->be));
    m->uptime_s = v.uptime;
    m->busy_ratio_1s = v.busy_1s;
    m->ready = fr_sched_ready(s);
    m->queue_capacity = s->p.queue_capacity;
    m->max_concurrent_images = s->p.max_concurrent_images;
    m->host_memory_limit = s->p.host_memory_limit;
    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&s->snap_mu);
    const struct fr__snapshot *sn = &s->snap;
    const struct fr_sched_counters *c = &sn->c;
    m->requests_admitted = c->admitted;
    m->requests_rejected = c->rejected_busy;
    m->requests_completed = c->completed;
    m->requests_timed_out = c->timed_out;
    m->requests_cancelled = c->cancelled;
    m->images_done = c->images_done;
    m->faces_done = c->faces_done;
    m->queue_depth[FR_QUEUE_ADMISSION] = c->queued_images;
    m->queue_depth[FR_QUEUE_DECODE] = sn->decoding;
    for (int k = 0; k < FR_STAGES; k++) m->queue_depth[FR_QUEUE_DETECT + k] = sn->ready[k];
    m->in_flight_images = c->inflight_images;
    m->in_flight_requests = sn->live_requests;
    m->device_memory_used = c->device_memory_used;
    m->device_memory_peak = c->device_memory_peak;
    m->device_memory_limit = c->device_memory_limit;
    m->host_memory_used = c->host_memory_used;
    m->host_memory_peak = c->host_memory_peak;
    memcpy(m->batch_limit, c->batch_limit, sizeof(m->batch_limit));
    const struct fr__metrics_live *L = &s->metrics.snap;
    memcpy(m->batch_size, L->batch_size, sizeof(m->batch_size));
    memcpy(m->inference_seconds, L->inference_seconds, sizeof(m->inference_seconds));
    memcpy(m->queue_seconds, L->queue_seconds, sizeof(m->queue_seconds));
    m->image_seconds = L->image_seconds;
    m->busy_seconds = L->busy_seconds;
    m->images_failed = L->images_failed;
    snprintf(m->other.user, sizeof(m->other.user), "_other");
    m->other.images_submitted = s->metrics.other_submitted;
    m->other.images_rejected = s->metrics.other_rejected;
    m->other.images_done = L->other_images_done;
    m->other.faces_done = L->other_faces_done;
    for (const struct fr__user *u = s->users; u; u = u->next) {
        m->users_known++;
        if (atomic_load(&u->m.ranked) && m->n_users < FR_METRICS_MAX_USERS) {
            struct fr_user_metrics *e = &m->users[m->n_users++];
            snprintf(e->user, sizeof(e->user), "%s", u->name);
            user_entry(e, u);
        } else {
            /* Only the gauges: the counters of unranked users were summed
             * into other as they happened. */
            m->other.queued += u->snap_queued;
            m->other.in_flight += u->snap_inflight;
        }
    }
    pthread_mutex_unlock(&s->snap_mu);
    pthread_mutex_unlock(&s->mu);
}
