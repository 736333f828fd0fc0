/* GET /metrics in the Prometheus text exposition format 0.0.4.
 *
 * Every family is written whole (HELP, TYPE, then all its samples) as the
 * format requires. Label values are escaped; histograms are written with
 * cumulative `le` buckets ending in +Inf, whose count equals _count. */
#include "http/metrics.h"
#include "http/server-impl.h"

#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "facerec/core.h"

/* ---- HTTP counters -------------------------------------------------------- */

void fr__http_route_counts_init(struct fr__http_route_counts *c) {
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
}

void fr__http_route_counts_destroy(struct fr__http_route_counts *c) { pthread_mutex_destroy(&c->mu); }

void fr__http_route_counts_add(struct fr__http_route_counts *c, const char *route, unsigned status) {
    if (!route) route = "other";
    pthread_mutex_lock(&c->mu);
    int32_t i = 0;
    while (i < c->n && (c->e[i].status != status || strcmp(c->e[i].route, route))) i++;
    if (i == c->n) {
        if (c->n < FR__HTTP_ROUTE_SLOTS - 1) {
            c->e[c->n++] = (struct fr__http_route_count){ .route = route, .status = status };
        } else {
            /* Never reached with the routes we have (a dozen routes times a
             * dozen statuses); it keeps the set bounded if that changes. */
            i = FR__HTTP_ROUTE_SLOTS - 1;
            c->e[i].route = "other";
            c->e[i].status = 0;
        }
    }
    c->e[i].count++;
    pthread_mutex_unlock(&c->mu);
}

static int cmp_route(const void *a, const void *b) {
    const struct fr__http_route_count *x = a, *y = b;
    int r = strcmp(x->route, y->route);
    return r ? r : (x->status > y->status) - (x->status < y->status);
}

int32_t fr__http_route_counts_copy(struct fr__http_route_counts *c, struct fr__http_route_count *out) {
    pthread_mutex_lock(&c->mu);
    int32_t n = c->n;
    memcpy(out, c->e, sizeof(*out) * (size_t)n);
    if (c->e[FR__HTTP_ROUTE_SLOTS - 1].count) out[n++] = c->e[FR__HTTP_ROUTE_SLOTS - 1];
    pthread_mutex_unlock(&c->mu);
    qsort(out, (size_t)n, sizeof(*out), cmp_route);
    return n;
}

/* ---- the process ------------------------------------------------------------- */

void fr__process_stats_read(struct fr__process_stats *p) {
    memset(p, 0, sizeof(*p));
    double page = (double)sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long vm, rss;
    if (f) {
        if (fscanf(f, "%llu %llu", &vm, &rss) == 2) {
            p->has_memory = true;
            p->virtual_bytes = (double)vm * page;
            p->resident_bytes = (double)rss * page;
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        p->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                         ru.ru_stime.tv_usec / 1e6;
    /* Start time: field 22 of /proc/self/stat (clock ticks after boot)
     * plus the boot time from /proc/stat. The command name (field 2) may
     * hold spaces and parentheses, so fields are counted from its last ')'. */
    char buf[1024];
    unsigned long long start_ticks = 0, btime = 0;
    bool have_ticks = false;
    if ((f = fopen("/proc/self/stat", "r"))) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        fclose(f);
        char *q = strrchr(buf, ')');
        for (int field = 2; q && field < 22; field++) q = strchr(q + 1, ' ');
        if (q && sscanf(q + 1, "%llu", &start_ticks) == 1) have_ticks = true;
    }
    if (have_ticks && (f = fopen("/proc/stat", "r"))) {
        while (fgets(buf, sizeof(buf), f))
            if (sscanf(buf, "btime %llu", &btime) == 1) break;
        fclose(f);
        long hz = sysconf(_SC_CLK_TCK);
        if (btime && hz > 0) {
            p->has_start = true;
            p->start_time = (double)btime + (double)start_ticks / (double)hz;
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        double n = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') n++;
        closedir(d);
        p->open_fds = n - 1; /* the directory stream's own descriptor */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            p->has_fds = true;
            p->max_fds = rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
        }
    }
}

/* ---- text buffer --------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = fr_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void putf(struct buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_escaped(struct buf *b, const char *v) {
    for (const char *s = v; *s; s++) {
        if (*s == '\\') puts_(b, "\\\\");
        else if (*s == '"') puts_(b, "\\\"");
        else if (*s == '\n') puts_(b, "\\n");
        else put(b, s, 1);
    }
}

enum fr_status fr__metrics_escape(const char *v, char *out, size_t outlen) {
    struct buf b = { 0 };
    put_escaped(&b, v);
    if (b.oom || b.len >= outlen) {
        fr_free(b.p);
        return b.oom ? FR_ERR_NOMEM : FR_ERR_TOO_LARGE;
    }
    memcpy(out, b.p ? b.p : "", b.len + 1);
    fr_free(b.p);
    return FR_OK;
}

/* A sample value: integers exactly, others round-trip, and the format's
 * spellings of infinity and NaN. */
static void put_value(struct buf *b, double v) {
    if (isnan(v)) puts_(b, "NaN");
    else if (isinf(v)) puts_(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9e15) putf(b, "%.0f", v);
    else {
        /* The shortest of %.15g and %.17g that reads back as v. */
        char t[32];
        snprintf(t, sizeof(t), "%.15g", v);
        if (strtod(t, NULL) != v) snprintf(t, sizeof(t), "%.17g", v);
        puts_(b, t);
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help) {
    putf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v"} value, with zero or one label. */
static void sample(struct buf *b, const char *name, const char *k, const char *v, double value) {
    puts_(b, name);
    if (k) {
        putf(b, "{%s=\"", k);
        put_escaped(b, v);
        puts_(b, "\"}");
    }
    put(b, " ", 1);
    put_value(b, value);
    put(b, "\n", 1);
}

static void single(struct buf *b, const char *name, const char *type, const char *help, double value) {
    family(b, name, type, help);
    sample(b, name, NULL, NULL, value);
}

/* One histogram series; k/v is its label, or NULL. */
static void histogram(struct buf *b, const char *name, const char *k, const char *v, const struct fr_histogram *h) {
    uint64_t cum = 0;
    for (int32_t i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        putf(b, "%s_bucket{", name);
        if (k) {
            putf(b, "%s=\"", k);
            put_escaped(b, v);
            puts_(b, "\",");
        }
        if (i < h->nbounds) putf(b, "le=\"%.6g\"} ", h->bounds[i]);
        else puts_(b, "le=\"+Inf\"} ");
        put_value(b, (double)cum);
        put(b, "\n", 1);
    }
    char n[128];
    snprintf(n, sizeof(n), "%s_sum", name);
    sample(b, n, k, v, h->sum);
    snprintf(n, sizeof(n), "%s_count", name);
    sample(b, n, k, v, (double)h->count);
}

static const char *const queue_names[FR_QUEUES] = { "admission", "decode", "detect", "landmark", "recognize" };
static const char *const wait_names[FR_WAITS] = { "admission", "detect", "landmark", "recognize" };

static void render_sched(struct buf *b, const struct fr_sched_metrics *m) {
    single(b, "facerec_ready", "gauge", "1 once the models are loaded and warmed up.", m->ready);
    single(b, "facerec_sched_uptime_seconds", "gauge", "Seconds since the scheduler started.", m->uptime_s);
    single(b, "facerec_requests_admitted_total", "counter", "Requests the scheduler admitted.",
           (double)m->requests.admitted);
    single(b, "facerec_requests_rejected_total", "counter", "Requests refused because a queue was full (429).",
           (double)m->requests.rejected_busy);
    single(b, "facerec_requests_completed_total", "counter", "Admitted requests that finished, in any way.",
           (double)m->requests.completed);
    single(b, "facerec_requests_timed_out_total", "counter", "Requests past their deadline (504).",
           (double)m->requests.timed_out);
    single(b, "facerec_requests_cancelled_total", "counter", "Requests whose client went away.",
           (double)m->requests.cancelled);
    single(b, "facerec_images_processed_total", "counter", "Images finished, with or without faces.",
           (double)m->images_done);
    single(b, "facerec_images_failed_total", "counter", "Images that failed (undecodable, too large, ...).",
           (double)m->images_failed);
    single(b, "facerec_faces_processed_total", "counter", "Faces found in finished images.", (double)m->faces_done);

    family(b, "facerec_queue_depth", "gauge",
           "Items waiting: images in users' queues (admission) and decoding, faces ready for each net.");
    for (int k = 0; k < FR_QUEUES; k++) sample(b, "facerec_queue_depth", "queue", queue_names[k], m->queue_depth[k]);
    single(b, "facerec_queue_capacity_images", "gauge", "Images that may be queued from all users (queue_capacity).",
           m->queue_capacity);
    single(b, "facerec_in_flight_images", "gauge", "Images admitted past the queues (decoding or on the device).",
           m->in_flight_images);
    single(b, "facerec_in_flight_images_limit", "gauge", "max_concurrent_images.", m->max_concurrent_images);
    single(b, "facerec_in_flight_requests", "gauge", "Admitted requests not finished yet.", m->in_flight_requests);

    family(b, "facerec_batch_size", "histogram", "Items per batch, per net.");
    for (int k = 0; k < FR_STAGE_COUNT; k++)
        histogram(b, "facerec_batch_size", "stage", fr_stage_name((enum fr_stage)k), &m->batch_size[k]);
    family(b, "facerec_batch_size_limit", "gauge", "Largest batch each net may run (memory plan).");
    for (int k = 0; k < FR_STAGE_COUNT; k++)
        sample(b, "facerec_batch_size_limit", "stage", fr_stage_name((enum fr_stage)k), m->batch_limit[k]);
    family(b, "facerec_inference_seconds", "histogram", "Wall time of one batch on the device, per net.");
    for (int k = 0; k < FR_STAGE_COUNT; k++)
        histogram(b, "facerec_inference_seconds", "stage", fr_stage_name((enum fr_stage)k), &m->inference_seconds[k]);
    family(b, "facerec_queue_wait_seconds", "histogram",
           "Time an image waited in its user's queue (admission), or an item waited for its net's batch to start.");
    for (int k = 0; k < FR_WAITS; k++)
        histogram(b, "facerec_queue_wait_seconds", "queue", wait_names[k], &m->queue_seconds[k]);
    family(b, "facerec_image_duration_seconds", "histogram", "Time from admission to result, per image.");
    histogram(b, "facerec_image_duration_seconds", NULL, NULL, &m->image_seconds);

    single(b, "facerec_device_busy_seconds_total", "counter", "Seconds the device spent running batches.",
           m->busy_seconds);
    single(b, "facerec_device_utilization_ratio", "gauge", "Share of the last full second the device ran batches.",
           m->busy_ratio_1s);
    single(b, "facerec_device_memory_used_bytes", "gauge", "Device memory reserved: weights, arenas, staging.",
           (double)m->memory.device_used);
    single(b, "facerec_device_memory_peak_bytes", "gauge", "Highest device_memory_used since start.",
           (double)m->memory.device_peak);
    single(b, "facerec_device_memory_limit_bytes", "gauge", "device_memory_limit in effect.",
           (double)m->memory.device_limit);
    single(b, "facerec_host_memory_used_bytes", "gauge", "Decoded images held now (counted against the limit).",
           (double)m->memory.host_used);
    single(b, "facerec_host_memory_peak_bytes", "gauge", "Highest host_memory_used since start.",
           (double)m->memory.host_peak);
    single(b, "facerec_host_memory_limit_bytes", "gauge", "host_memory_limit.", (double)m->memory.host_limit);

    single(b, "facerec_users_known", "gauge", "Distinct users seen since start.", m->users_known);
    static const struct {
        const char *name, *type, *help;
        size_t off;
        bool i32;
    } per_user[] = {
        { "facerec_user_images_submitted_total", "counter", "Images a user submitted, admitted or refused.",
          offsetof(struct fr_user_metrics, images_submitted), false },
        { "facerec_user_images_rejected_total", "counter", "Images of a user refused because a queue was full.",
          offsetof(struct fr_user_metrics, images_rejected), false },
        { "facerec_user_images_processed_total", "counter", "Images of a user finished.",
          offsetof(struct fr_user_metrics, images_done), false },
        { "facerec_user_faces_processed_total", "counter", "Faces found in a user's images.",
          offsetof(struct fr_user_metrics, faces_done), false },
        { "facerec_user_queued_images", "gauge", "Images of a user waiting in its queue.",
          offsetof(struct fr_user_metrics, queued), true },
        { "facerec_user_in_flight_images", "gauge", "Images of a user decoding or on the device.",
          offsetof(struct fr_user_metrics, in_flight), true },
    };
    for (size_t f = 0; f < sizeof(per_user) / sizeof(per_user[0]); f++) {
        char help[256];
        snprintf(help, sizeof(help), "%s The busiest users have their own series, the rest are user=\"_other\".",
                 per_user[f].help);
        family(b, per_user[f].name, per_user[f].type, help);
        for (int32_t i = 0; i <= m->n_users; i++) {
            const struct fr_user_metrics *u = i < m->n_users ? &m->users[i] : &m->other;
            const char *p = (const char *)u + per_user[f].off;
            double v = per_user[f].i32 ? *(const int32_t *)(const void *)p : (double)*(const int64_t *)(const void *)p;
            sample(b, per_user[f].name, "user", u->user, v);
        }
    }
}

static void gpu_family(struct buf *b, const struct fr__metrics_doc *d, const char *name, const char *help,
                       int what) {
    bool any = false;
    for (int32_t i = 0; i < d->n_gpus; i++) any |= what < 3 || (what == 3 ? d->gpus[i].has_temperature : d->gpus[i].has_power);
    if (!any) return;
    family(b, name, "gauge", help);
    for (int32_t i = 0; i < d->n_gpus; i++) {
        const struct fr_gpu_sample *g = &d->gpus[i];
        double v = what == 0 ? g->utilization : what == 1 ? (double)g->memory_used : what == 2 ? (double)g->memory_total
                 : what == 3 ? g->temperature_c : g->power_w;
        if ((what == 3 && !g->has_temperature) || (what == 4 && !g->has_power)) continue;
        putf(b, "%s{gpu=\"%d\",name=\"", name, (int)i);
        put_escaped(b, g->name);
        puts_(b, "\"} ");
        put_value(b, v);
        put(b, "\n", 1);
    }
}

enum fr_status fr__metrics_render(const struct fr__metrics_doc *d, char **out, size_t *len) {
    struct buf b = { 0 };
    family(&b, "facerec_build_info", "gauge", "Always 1; the labels name the version and compute backend.");
    puts_(&b, "facerec_build_info{version=\"");
    put_escaped(&b, d->version ? d->version : "");
    puts_(&b, "\",backend=\"");
    put_escaped(&b, d->backend ? d->backend : "");
    puts_(&b, "\"} 1\n");

    family(&b, "facerec_http_requests_total", "counter",
           "HTTP requests answered, by route template (unknown paths: other) and status code.");
    for (int32_t i = 0; i < d->n_routes; i++) {
        puts_(&b, "facerec_http_requests_total{route=\"");
        put_escaped(&b, d->routes[i].route);
        if (d->routes[i].status) putf(&b, "\",status=\"%u\"} ", d->routes[i].status);
        else puts_(&b, "\",status=\"other\"} ");
        put_value(&b, (double)d->routes[i].count);
        put(&b, "\n", 1);
    }
    single(&b, "facerec_http_connections_active", "gauge", "Open HTTP connections.", d->connections_active);
    single(&b, "facerec_http_connections_total", "counter", "HTTP connections accepted.",
           (double)d->connections_total);
    single(&b, "facerec_http_requests_active", "gauge", "HTTP requests being handled (this one included).",
           d->requests_active);
    single(&b, "facerec_http_requests_waiting", "gauge", "HTTP requests waiting on the scheduler.", d->waiting);
    if (d->conn) {
        const struct fr__http_conn_stats *cs = d->conn;
        single(&b, "facerec_http_connections_open", "gauge", "Connections the server tracks (refused ones included).",
               cs->open);
        single(&b, "facerec_http_connections_suspended", "gauge",
               "Connections suspended while their request waits on the scheduler or a worker.", cs->suspended);
        single(&b, "facerec_http_connections_limit", "gauge", "max_connections after the open-file limit.",
               cs->max_connections);
        family(&b, "facerec_http_connections_refused_total", "counter",
               "Connections refused at accept or closed by the server, by reason.");
        for (int i = 0; i < FR__N_REFUSALS; i++)
            putf(&b, "facerec_http_connections_refused_total{reason=\"%s\"} %lld\n", fr__http_refusal_names[i],
                 (long long)cs->by_reason[i]);
        single(&b, "facerec_http_body_bytes_in_flight", "gauge", "Request body bytes buffered, all connections.",
               (double)cs->body_bytes);
        single(&b, "facerec_http_body_memory_limit_bytes", "gauge", "max_body_memory.", (double)cs->max_body_memory);
    }

    if (d->sched) render_sched(&b, d->sched);

    single(&b, "facerec_gpus", "gauge", "GPUs NVML reports (0 without the NVIDIA driver).", d->n_gpus);
    gpu_family(&b, d, "facerec_gpu_utilization_ratio", "Share of NVML's last sample period a kernel ran.", 0);
    gpu_family(&b, d, "facerec_gpu_memory_used_bytes", "GPU memory in use, all processes.", 1);
    gpu_family(&b, d, "facerec_gpu_memory_total_bytes", "GPU memory installed.", 2);
    gpu_family(&b, d, "facerec_gpu_temperature_celsius", "GPU core temperature.", 3);
    gpu_family(&b, d, "facerec_gpu_power_watts", "Board power draw.", 4);

    if (d->process) {
        const struct fr__process_stats *p = d->process;
        single(&b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
               p->cpu_seconds);
        if (p->has_memory) {
            single(&b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                   p->resident_bytes);
            single(&b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p->virtual_bytes);
        }
        if (p->has_start)
            single(&b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                   p->start_time);
        if (p->has_fds) {
            single(&b, "process_open_fds", "gauge", "Number of open file descriptors.", p->open_fds);
            single(&b, "process_max_fds", "gauge", "Maximum number of open file descriptors.", p->max_fds);
        }
    }
    if (b.oom) {
        fr_free(b.p);
        return FR_ERR_NOMEM;
    }
    *out = b.p;
    *len = b.len;
    return FR_OK;
}
