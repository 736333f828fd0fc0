/* The readers of the scheduler's stats sink: the typed /status and its one
 * JSON rendering, the /metrics snapshot and the tests' counters. They add
 * the scheduler's constants (settings, backend, limits) to what the sink
 * holds, and never touch loop state. */
#include "sched-status.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "facerec/face.h"
#include "sched-impl.h"

enum fr_status fr_sched_get_status(struct fr_sched *s, struct fr_sched_status *st) {
    FR_ASSERT(s && st);
    memset(st, 0, sizeof(*st));
    fr__stats_status(&s->stats, st);
    st->ready = fr_sched_ready(s);
    st->backend = fr_backend_name(s->be);
    for (int k = 0; k < FR_STAGE_COUNT; k++) st->precision[k] = fr_net_precision(s->nets[k]);
    st->settings = s->p;
    st->queue.capacity = s->p.queue_capacity;
    enum fr_status ret = fr__stats_status_users(&s->stats, st);
    if (ret != FR_OK) memset(st, 0, sizeof(*st));
    return ret;
}

void fr_sched_status_clear(struct fr_sched_status *st) {
    if (!st) return;
    fr_free(st->queue.users); /* one block with the names */
    memset(st, 0, sizeof(*st));
}

void fr_sched_status_keep_user(struct fr_sched_status *st, const char *user) {
    int32_t n = 0;
    for (int32_t i = 0; i < st->queue.n_users; i++)
        if (user && user[0] && !strcmp(st->queue.users[i].user, user)) st->queue.users[n++] = st->queue.users[i];
    st->queue.n_users = n;
}

void fr_sched_get_metrics(struct fr_sched *s, struct fr_sched_metrics *m) {
    FR_ASSERT(s && m);
    memset(m, 0, sizeof(*m));
    snprintf(m->backend, sizeof(m->backend), "%s", fr_backend_name(s->be));
    m->ready = fr_sched_ready(s);
    m->queue_capacity = s->p.queue_capacity;
    m->max_concurrent_images = s->p.max_concurrent_images;
    fr__stats_metrics(&s->stats, m);
}

void fr_sched_get_counters(struct fr_sched *s, struct fr_sched_counters *c) {
    FR_ASSERT(s && c);
    fr__stats_counters(&s->stats, c);
}

/* ---- JSON ---- */

/* Members of one object, in order: plain numbers read at an offset. */
enum field_type { F_I32, F_I64, F_SIZE, F_DBL };
struct field {
    const char *name;
    size_t off;
    enum field_type type;
};
#define FIELD(type_, st, member, name) { name, offsetof(struct st, member), type_ }

static void add_fields(cJSON *parent, const char *name, const void *base, const struct field *f, size_t n) {
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    for (size_t i = 0; i < n; i++) {
        const void *p = (const char *)base + f[i].off;
        double v = f[i].type == F_I32 ? *(const int32_t *)p
                 : f[i].type == F_I64 ? (double)*(const int64_t *)p
                 : f[i].type == F_SIZE ? (double)*(const size_t *)p : *(const double *)p;
        cJSON_AddNumberToObject(o, f[i].name, v);
    }
}

static const struct field in_flight_fields[] = {
    FIELD(F_I32, fr_sched_in_flight, images, "images"),
    FIELD(F_I32, fr_sched_in_flight, faces, "faces"),
    FIELD(F_I32, fr_sched_in_flight, requests, "requests"),
    FIELD(F_I32, fr_sched_in_flight, max_images, "max_images"),
    FIELD(F_I32, fr_sched_in_flight, max_user_images, "max_user_images"),
};
static const struct field throughput_fields[] = {
    FIELD(F_DBL, fr_sched_status, throughput.images_1s, "images_per_s_1s"),
    FIELD(F_DBL, fr_sched_status, throughput.faces_1s, "faces_per_s_1s"),
    FIELD(F_DBL, fr_sched_status, throughput.images_60s, "images_per_s_60s"),
    FIELD(F_DBL, fr_sched_status, throughput.faces_60s, "faces_per_s_60s"),
    FIELD(F_I64, fr_sched_status, throughput.images_total, "images_total"),
    FIELD(F_I64, fr_sched_status, throughput.faces_total, "faces_total"),
    FIELD(F_I64, fr_sched_status, throughput.images_failed, "images_failed"),
};
static const struct field memory_fields[] = {
    FIELD(F_SIZE, fr_sched_memory, device_used, "device_used"),
    FIELD(F_SIZE, fr_sched_memory, device_peak, "device_peak"),
    FIELD(F_SIZE, fr_sched_memory, device_limit, "device_limit"),
    FIELD(F_SIZE, fr_sched_memory, staging, "staging"),
    FIELD(F_SIZE, fr_sched_memory, host_used, "host_used"),
    FIELD(F_SIZE, fr_sched_memory, host_peak, "host_peak"),
    FIELD(F_SIZE, fr_sched_memory, host_limit, "host_limit"),
};
static const struct field request_fields[] = {
    FIELD(F_I64, fr_sched_request_counts, admitted, "admitted"),
    FIELD(F_I64, fr_sched_request_counts, rejected_busy, "rejected_busy"),
    FIELD(F_I64, fr_sched_request_counts, completed, "completed"),
    FIELD(F_I64, fr_sched_request_counts, timed_out, "timed_out"),
    FIELD(F_I64, fr_sched_request_counts, cancelled, "cancelled"),
};
#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

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

static void add_queue(cJSON *o, const struct fr_sched_status *st) {
    cJSON *q = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddNumberToObject(q, "total", st->queue.total);
    cJSON_AddNumberToObject(q, "capacity", st->queue.capacity);
    cJSON *ps = cJSON_AddObjectToObject(q, "per_stage");
    cJSON_AddNumberToObject(ps, "admission", st->queue.total);
    cJSON_AddNumberToObject(ps, "decode", st->queue.decode);
    for (int k = 0; k < FR_STAGE_COUNT; k++)
        cJSON_AddNumberToObject(ps, fr_stage_name((enum fr_stage)k), st->queue.ready[k]);
    cJSON *pu = cJSON_AddObjectToObject(q, "per_user");
    for (int32_t i = 0; i < st->queue.n_users; i++) {
        cJSON *e = cJSON_AddObjectToObject(pu, st->queue.users[i].user);
        cJSON_AddNumberToObject(e, "queued", st->queue.users[i].queued);
        cJSON_AddNumberToObject(e, "in_flight", st->queue.users[i].in_flight);
    }
}

static void add_batches(cJSON *o, const struct fr_sched_status *st) {
    cJSON *bt = cJSON_AddObjectToObject(o, "batches");
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        cJSON *b = cJSON_AddObjectToObject(bt, fr_stage_name((enum fr_stage)k));
        double count = (double)st->batches[k].count, items = (double)st->batches[k].items;
        cJSON_AddNumberToObject(b, "count", count);
        cJSON_AddNumberToObject(b, "items", items);
        cJSON_AddNumberToObject(b, "mean_size", count ? items / count : 0);
        cJSON_AddNumberToObject(b, "limit", st->batches[k].limit);
        cJSON *h = cJSON_AddObjectToObject(b, "histogram");
        for (int32_t r = 0; r < FR_SCHED_SIZE_BUCKETS; r++)
            if (st->batches[k].sizes[r])
                cJSON_AddNumberToObject(h, fr_sched_size_bucket_name(r), (double)st->batches[k].sizes[r]);
    }
}

cJSON *fr__sched_status_to_json(const struct fr_sched_status *st) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "uptime_s", st->uptime_s);
    cJSON_AddBoolToObject(o, "ready", st->ready);
    cJSON *dev = cJSON_AddObjectToObject(o, "device");
    cJSON_AddStringToObject(dev, "backend", st->backend ? st->backend : "");
    /* What each net runs in after `precision` met this device. */
    cJSON *prec = cJSON_AddObjectToObject(dev, "precision");
    for (int k = 0; k < FR_STAGE_COUNT; k++)
        cJSON_AddStringToObject(prec, fr_stage_name((enum fr_stage)k), fr_precision_name(st->precision[k]));
    add_settings(cJSON_AddObjectToObject(o, "settings"), &st->settings);
    add_queue(o, st);
    add_fields(o, "in_flight", &st->in_flight, in_flight_fields, N_FIELDS(in_flight_fields));
    add_batches(o, st);
    /* Multi-scale detection: tiles run as detector items, and the admission
     * turns users gave up for them. */
    cJSON *tl = cJSON_AddObjectToObject(o, "tiles");
    cJSON_AddNumberToObject(tl, "items", (double)st->tile_items);
    cJSON_AddNumberToObject(tl, "turns_skipped", (double)st->turns_skipped);
    add_fields(o, "throughput", st, throughput_fields, N_FIELDS(throughput_fields));
    cJSON *ut = cJSON_AddObjectToObject(o, "device_utilization");
    cJSON_AddNumberToObject(ut, "busy_1s", st->busy_1s);
    cJSON_AddNumberToObject(ut, "busy_60s", st->busy_60s);
    cJSON_AddNumberToObject(ut, "busy_since_start", st->busy_since_start);
    cJSON_AddNullToObject(ut, "gpu"); /* the device's own figure: the HTTP layer's, through NVML */
    add_fields(o, "memory", &st->memory, memory_fields, N_FIELDS(memory_fields));
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    for (int k = 0; k < FR_LATENCY_COUNT; k++) {
        cJSON *e = cJSON_AddObjectToObject(lat, fr_sched_latency_name((enum fr_sched_latency)k));
        cJSON_AddNumberToObject(e, "p50", st->latency_ms[k].p50);
        cJSON_AddNumberToObject(e, "p95", st->latency_ms[k].p95);
        cJSON_AddNumberToObject(e, "p99", st->latency_ms[k].p99);
    }
    add_fields(o, "requests", &st->requests, request_fields, N_FIELDS(request_fields));
    return o;
}

char *fr_sched_status_json(struct fr_sched *s) {
    struct fr_sched_status st;
    if (fr_sched_get_status(s, &st) != FR_OK) return NULL;
    cJSON *o = fr__sched_status_to_json(&st);
    fr_sched_status_clear(&st);
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt) return NULL;
    char *copy = fr_strdup(txt);
    cJSON_free(txt);
    return copy;
}
