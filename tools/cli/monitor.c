/* facerec monitor: a live view of a running server and of the GPU.
 *
 * Each sample is one GET /status (libcurl, parsed with cJSON) plus, on this
 * machine, NVML's figures for every GPU (fr_nvml, loaded at run time) or,
 * without NVML, the CPU's utilisation from /proc/stat. Rates (faces/s,
 * mean batch sizes) come from the difference of two samples' counters, so
 * they describe the last interval rather than the server's lifetime.
 *
 * Output: an ncurses screen with 60-sample sparklines on a terminal; plain
 * lines when stdout is not one; one JSON object per sample with --json.
 * q or Ctrl-C leaves the screen and restores the terminal. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "facerec/nvml.h"
#include "facerec/sched.h"

#define HISTORY 60
#define MAX_GPUS 8

static const char *const queue_names[5] = { "admission", "decode", "detect", "landmark", "recognize" };

struct monitor_opts {
    const char *url, *key;
    double interval; /* seconds */
    int64_t count;   /* samples to take; 0 = until q, Ctrl-C or SIGTERM */
    bool once, json;
};

/* One reading of the server and of this machine. */
struct sample {
    double t;      /* monotonic seconds */
    double wall;   /* Unix time */
    bool ok;       /* the server answered */
    char error[512];
    bool ready;
    char backend[32];
    double uptime, queue_total, queue_capacity, queue[5], in_flight_images, in_flight_requests;
    double images_total, faces_total, images_per_s_1s, faces_per_s_1s;
    double batch_count[FR_STAGE_COUNT], batch_items[FR_STAGE_COUNT], batch_limit[FR_STAGE_COUNT];
    double device_used, device_limit, host_used, host_limit, busy_1s;
    int32_t n_gpus;
    struct fr_gpu_sample gpu[MAX_GPUS];
    double cpu; /* 0..1, NAN when unknown; only measured without NVML */
};

/* Figures derived from two consecutive samples (or from the server's own
 * one-second rates for the first). */
struct rates {
    double faces_per_s, images_per_s, batch_mean[FR_STAGE_COUNT];
};

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- this machine --------------------------------------------------------- */

/* Busy and total jiffies of all CPUs since boot. */
static bool cpu_times(double *busy, double *total) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return false;
    unsigned long long v[8] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(f);
    if (n < 4) return false;
    double t = 0;
    for (int i = 0; i < 8; i++) t += (double)v[i];
    *total = t;
    *busy = t - (double)v[3] - (double)v[4]; /* idle and iowait */
    return true;
}

struct cpu_meter {
    bool have;
    double busy, total;
};

/* Utilisation since the previous call (NAN the first time). */
static double cpu_meter_read(struct cpu_meter *m) {
    double b, t, u = NAN;
    if (!cpu_times(&b, &t)) return NAN;
    if (m->have && t > m->total) u = (b - m->busy) / (t - m->total);
    m->have = true, m->busy = b, m->total = t;
    return u;
}

/* ---- the server ----------------------------------------------------------- */

static double num(const cJSON *o, const char *a, const char *b, const char *c) {
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b) x = cJSON_GetObjectItem(x, b);
    if (c) x = cJSON_GetObjectItem(x, c);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static void parse_status(struct sample *s, const cJSON *o) {
    s->ready = cJSON_IsTrue(cJSON_GetObjectItem(o, "ready"));
    const cJSON *be = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "device"), "backend");
    snprintf(s->backend, sizeof(s->backend), "%s", cJSON_IsString(be) ? be->valuestring : "?");
    s->uptime = num(o, "uptime_s", NULL, NULL);
    s->queue_total = num(o, "queue", "total", NULL);
    s->queue_capacity = num(o, "queue", "capacity", NULL);
    for (int k = 0; k < 5; k++) s->queue[k] = num(o, "queue", "per_stage", queue_names[k]);
    s->in_flight_images = num(o, "in_flight", "images", NULL);
    s->in_flight_requests = num(o, "in_flight", "requests", NULL);
    s->images_total = num(o, "throughput", "images_total", NULL);
    s->faces_total = num(o, "throughput", "faces_total", NULL);
    s->images_per_s_1s = num(o, "throughput", "images_per_s_1s", NULL);
    s->faces_per_s_1s = num(o, "throughput", "faces_per_s_1s", NULL);
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        s->batch_count[k] = num(o, "batches", fr_stage_name((enum fr_stage)k), "count");
        s->batch_items[k] = num(o, "batches", fr_stage_name((enum fr_stage)k), "items");
        s->batch_limit[k] = num(o, "batches", fr_stage_name((enum fr_stage)k), "limit");
    }
    s->device_used = num(o, "memory", "device_used", NULL);
    s->device_limit = num(o, "memory", "device_limit", NULL);
    s->host_used = num(o, "memory", "host_used", NULL);
    s->host_limit = num(o, "memory", "host_limit", NULL);
    s->busy_1s = num(o, "device_utilization", "busy_1s", NULL);
}

static void fetch_status(CURL *c, const struct monitor_opts *o, struct sample *s) {
    char url[2048];
    size_t ul = strlen(o->url);
    snprintf(url, sizeof(url), "%.*s/status", (int)(ul && o->url[ul - 1] == '/' ? ul - 1 : ul), o->url);
    struct cli_body b = { .max = (size_t)16 << 20 }; /* more is not a /status document */
    struct curl_slist *hdr = NULL;
    char kh[1100];
    if (o->key && *o->key) {
        snprintf(kh, sizeof(kh), "X-API-Key: %.1000s", o->key);
        hdr = curl_slist_append(hdr, kh);
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    s->ok = false;
    if (rc != CURLE_OK) {
        snprintf(s->error, sizeof(s->error), "cannot reach %.300s: %.150s", url, curl_easy_strerror(rc));
    } else if (code != 200) {
        snprintf(s->error, sizeof(s->error), "%.300s answered HTTP %ld", url, code);
    } else {
        cJSON *j = cJSON_Parse(b.data ? b.data : "");
        if (!cJSON_IsObject(j)) {
            snprintf(s->error, sizeof(s->error), "%.300s did not answer a JSON object (is it facerec?)", url);
        } else {
            parse_status(s, j);
            s->ok = true;
        }
        cJSON_Delete(j);
    }
    free(b.data);
}

static void take_sample(CURL *c, const struct monitor_opts *o, struct fr_nvml *nv, struct cpu_meter *cm,
                        struct sample *s) {
    memset(s, 0, sizeof(*s));
    s->t = mono_now();
    s->wall = (double)time(NULL);
    fetch_status(c, o, s);
    s->cpu = NAN;
    if (nv) {
        int32_t n = fr_nvml_device_count(nv);
        for (int32_t i = 0; i < n && s->n_gpus < MAX_GPUS; i++)
            if (fr_nvml_sample(nv, i, &s->gpu[s->n_gpus]) == FR_OK) s->n_gpus++;
    } else {
        s->cpu = cpu_meter_read(cm);
    }
}

static void compute_rates(const struct sample *prev, const struct sample *s, struct rates *r) {
    double dt = prev && prev->ok ? s->t - prev->t : 0;
    if (dt > 0 && s->faces_total >= prev->faces_total) {
        r->faces_per_s = (s->faces_total - prev->faces_total) / dt;
        r->images_per_s = (s->images_total - prev->images_total) / dt;
    } else {
        r->faces_per_s = s->faces_per_s_1s;
        r->images_per_s = s->images_per_s_1s;
    }
    for (int k = 0; k < FR_STAGE_COUNT; k++) {
        double nb = s->batch_count[k], ni = s->batch_items[k];
        if (dt > 0 && nb > prev->batch_count[k]) nb -= prev->batch_count[k], ni -= prev->batch_items[k];
        r->batch_mean[k] = nb > 0 ? ni / nb : NAN;
    }
}

/* ---- JSON and plain lines ---------------------------------------------------- */

static cJSON *json_num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void print_json(const struct monitor_opts *o, const struct sample *s, const struct rates *r,
                       const char *gpu_absent) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "url", o->url);
    cJSON_AddNumberToObject(j, "time", s->wall);
    if (s->ok) {
        cJSON *v = cJSON_AddObjectToObject(j, "server");
        cJSON_AddBoolToObject(v, "ready", s->ready);
        cJSON_AddStringToObject(v, "backend", s->backend);
        cJSON_AddItemToObject(v, "uptime_s", json_num(s->uptime));
        cJSON_AddItemToObject(v, "queue_depth", json_num(s->queue_total));
        cJSON_AddItemToObject(v, "queue_capacity", json_num(s->queue_capacity));
        cJSON *q = cJSON_AddObjectToObject(v, "queue_per_stage");
        for (int k = 0; k < 5; k++) cJSON_AddItemToObject(q, queue_names[k], json_num(s->queue[k]));
        cJSON_AddItemToObject(v, "in_flight_images", json_num(s->in_flight_images));
        cJSON_AddItemToObject(v, "in_flight_requests", json_num(s->in_flight_requests));
        cJSON_AddItemToObject(v, "images_per_s", json_num(r->images_per_s));
        cJSON_AddItemToObject(v, "faces_per_s", json_num(r->faces_per_s));
        cJSON_AddItemToObject(v, "images_total", json_num(s->images_total));
        cJSON_AddItemToObject(v, "faces_total", json_num(s->faces_total));
        cJSON *bm = cJSON_AddObjectToObject(v, "batch_mean_size"), *bl = cJSON_AddObjectToObject(v, "batch_limit");
        for (int k = 0; k < FR_STAGE_COUNT; k++) {
            cJSON_AddItemToObject(bm, fr_stage_name((enum fr_stage)k), json_num(r->batch_mean[k]));
            cJSON_AddItemToObject(bl, fr_stage_name((enum fr_stage)k), json_num(s->batch_limit[k]));
        }
        cJSON_AddItemToObject(v, "device_busy", json_num(s->busy_1s));
        cJSON_AddItemToObject(v, "device_memory_used", json_num(s->device_used));
        cJSON_AddItemToObject(v, "device_memory_limit", json_num(s->device_limit));
        cJSON_AddItemToObject(v, "host_memory_used", json_num(s->host_used));
        cJSON_AddItemToObject(v, "host_memory_limit", json_num(s->host_limit));
    } else {
        cJSON_AddNullToObject(j, "server");
        cJSON_AddStringToObject(j, "error", s->error);
    }
    if (gpu_absent) {
        cJSON_AddNullToObject(j, "gpu");
        cJSON_AddStringToObject(j, "gpu_absent", gpu_absent);
    } else {
        cJSON *ga = cJSON_AddArrayToObject(j, "gpu");
        for (int32_t i = 0; i < s->n_gpus; i++) {
            const struct fr_gpu_sample *g = &s->gpu[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "index", i);
            cJSON_AddStringToObject(e, "name", g->name);
            cJSON_AddNumberToObject(e, "utilization", g->utilization);
            cJSON_AddNumberToObject(e, "memory_used", (double)g->memory_used);
            cJSON_AddNumberToObject(e, "memory_total", (double)g->memory_total);
            cJSON_AddItemToObject(e, "temperature_c", g->has_temperature ? json_num(g->temperature_c) : cJSON_CreateNull());
            cJSON_AddItemToObject(e, "power_w", g->has_power ? json_num(g->power_w) : cJSON_CreateNull());
            cJSON_AddItemToArray(ga, e);
        }
    }
    cJSON_AddItemToObject(j, "cpu_utilization", json_num(s->cpu));
    char *t = cJSON_PrintUnformatted(j);
    if (t) printf("%s\n", t);
    cJSON_free(t);
    cJSON_Delete(j);
    fflush(stdout);
}

static void fmt_num(char *b, size_t n, double v, const char *f) {
    if (isfinite(v)) snprintf(b, n, f, v);
    else snprintf(b, n, "-");
}

static void print_line(const struct sample *s, const struct rates *r, const char *gpu_absent) {
    char ts[32];
    time_t w = (time_t)s->wall;
    struct tm tm;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime_r(&w, &tm));
    printf("%s", ts);
    if (s->ok) {
        char bm[FR_STAGE_COUNT][16];
        for (int k = 0; k < FR_STAGE_COUNT; k++) fmt_num(bm[k], sizeof(bm[k]), r->batch_mean[k], "%.1f");
        printf(" faces/s %.1f images/s %.1f queue %.0f in-flight %.0f batch %s/%s/%s device-mem %.1f/%.1f MiB busy %.0f%%",
               r->faces_per_s, r->images_per_s, s->queue_total, s->in_flight_images, bm[0], bm[1], bm[2],
               s->device_used / 1048576.0, s->device_limit / 1048576.0, s->busy_1s * 100);
    } else {
        printf(" server: %s", s->error);
    }
    for (int32_t i = 0; i < s->n_gpus; i++)
        printf(" gpu%d %.0f%% %.0f/%.0f MiB", (int)i, s->gpu[i].utilization * 100, s->gpu[i].memory_used / 1048576.0,
               s->gpu[i].memory_total / 1048576.0);
    if (gpu_absent) {
        char c[16];
        fmt_num(c, sizeof(c), s->cpu * 100, "%.0f%%");
        printf(" gpu absent, cpu %s", c);
    }
    printf("\n");
    fflush(stdout);
}

/* ---- the screen --------------------------------------------------------------- */

struct history {
    double v[HISTORY];
    int32_t n, head; /* entries, next slot */
};

static void hist_push(struct history *h, double v) {
    h->v[h->head] = v;
    h->head = (h->head + 1) % HISTORY;
    if (h->n < HISTORY) h->n++;
}

/* The last width values as a sparkline scaled to [0, max] (max <= 0: to
 * the largest value shown). */
static void sparkline(const struct history *h, double max, bool utf8) {
    static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
                                           "\u2585", "\u2586", "\u2587", "\u2588" };
    static const char ascii[] = " .:-=+*#";
    if (max <= 0)
        for (int32_t i = 0; i < h->n; i++) {
            double v = h->v[(h->head - h->n + i + HISTORY) % HISTORY];
            if (isfinite(v) && v > max) max = v;
        }
    for (int32_t i = 0; i < h->n; i++) {
        double v = h->v[(h->head - h->n + i + HISTORY) % HISTORY];
        if (!isfinite(v)) {
            addstr(" ");
            continue;
        }
        int level = max > 0 ? (int)lround(v / max * 7) : 0;
        level = level < 0 ? 0 : level > 7 ? 7 : level;
        if (utf8) addstr(blocks[level]);
        else addch((chtype)ascii[level]);
    }
}

struct screen {
    SCREEN *term;
    bool utf8;
    struct history faces, queue, busy, local; /* local: GPU 0 or CPU utilisation */
};

static void draw(struct screen *sc, const struct monitor_opts *o, const struct sample *s, const struct rates *r,
                 const char *gpu_absent) {
    erase();
    char ts[16];
    time_t w = (time_t)s->wall;
    struct tm tm;
    strftime(ts, sizeof(ts), "%H:%M:%S", localtime_r(&w, &tm));
    attron(A_BOLD);
    mvprintw(0, 0, "facerec monitor  %s", o->url);
    attroff(A_BOLD);
    mvprintw(0, COLS > 30 ? COLS - 22 : 0, "%s  q quits", ts);
    int y = 2;
    if (!s->ok) {
        mvprintw(y++, 0, "server: %s", s->error);
    } else {
        mvprintw(y++, 0, "server     %s, backend %s, up %.0f s", s->ready ? "ready" : "loading", s->backend, s->uptime);
        mvprintw(y, 0, "faces/s    %8.1f  ", r->faces_per_s);
        sparkline(&sc->faces, 0, sc->utf8);
        mvprintw(++y, 0, "images/s   %8.1f", r->images_per_s);
        mvprintw(++y, 0, "queue      %8.0f  ", s->queue_total);
        sparkline(&sc->queue, 0, sc->utf8);
        mvprintw(++y, 0, "           of %.0f; admission %.0f decode %.0f detect %.0f landmark %.0f recognize %.0f",
                 s->queue_capacity, s->queue[0], s->queue[1], s->queue[2], s->queue[3], s->queue[4]);
        mvprintw(++y, 0, "in flight  %8.0f  images, %.0f requests", s->in_flight_images, s->in_flight_requests);
        char bm[FR_STAGE_COUNT][16];
        for (int k = 0; k < FR_STAGE_COUNT; k++) fmt_num(bm[k], sizeof(bm[k]), r->batch_mean[k], "%.1f");
        mvprintw(++y, 0, "batches    detect %s (limit %.0f)  landmark %s (%.0f)  recognize %s (%.0f)", bm[0],
                 s->batch_limit[0], bm[1], s->batch_limit[1], bm[2], s->batch_limit[2]);
        mvprintw(++y, 0, "busy       %7.0f%%  ", s->busy_1s * 100);
        sparkline(&sc->busy, 1.0, sc->utf8);
        double frac = s->device_limit > 0 ? s->device_used / s->device_limit : 0;
        mvprintw(++y, 0, "device mem %8.1f of %.1f MiB (%.0f%% of the budget)", s->device_used / 1048576.0,
                 s->device_limit / 1048576.0, frac * 100);
        mvprintw(++y, 0, "host mem   %8.1f of %.1f MiB", s->host_used / 1048576.0, s->host_limit / 1048576.0);
        y++;
    }
    y++;
    if (gpu_absent) {
        char line[512];
        snprintf(line, sizeof(line), "GPU: none (%s)", gpu_absent);
        mvaddnstr(y++, 0, line, COLS > 1 ? COLS - 1 : 1); /* one line, however long the reason */
        char c[16];
        fmt_num(c, sizeof(c), s->cpu * 100, "%.0f%%");
        mvprintw(y, 0, "cpu        %8s  ", c);
        sparkline(&sc->local, 1.0, sc->utf8);
        y++;
    }
    for (int32_t i = 0; i < s->n_gpus; i++) {
        const struct fr_gpu_sample *g = &s->gpu[i];
        mvprintw(y++, 0, "GPU %d      %s", (int)i, g->name);
        mvprintw(y, 0, "  util     %7.0f%%  ", g->utilization * 100);
        if (i == 0) sparkline(&sc->local, 1.0, sc->utf8);
        mvprintw(++y, 0, "  memory   %8.1f of %.1f GiB", g->memory_used / 1073741824.0, g->memory_total / 1073741824.0);
        char t[16] = "-", p[16] = "-";
        if (g->has_temperature) snprintf(t, sizeof(t), "%.0f C", g->temperature_c);
        if (g->has_power) snprintf(p, sizeof(p), "%.0f W", g->power_w);
        mvprintw(++y, 0, "  temp     %8s   power %s", t, p);
        y++;
    }
    refresh();
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: facerec monitor [--url URL] [--key KEY] [--interval S] [--count N] [--once] [--json]\n\n"
            "A live view of a running facerec server and of this machine's GPUs (NVML; without it, the CPU):\n"
            "faces/s, queue depth, in-flight images, batch sizes, memory against the budget, device and GPU\n"
            "utilisation, with 60-sample sparklines. Plain lines when stdout is not a terminal. q or Ctrl-C quits.\n\n"
            "  --url URL       the server (default http://127.0.0.1:5001)\n"
            "  --key KEY       sent as X-API-Key (default: $FACEREC_API_KEY)\n"
            "  --interval S    seconds between samples (default 1)\n"
            "  --count N       stop after N samples (default: run until quit)\n"
            "  --once          one sample, then exit (1 when the server cannot be reached)\n"
            "  --json          one JSON object per sample\n");
}

static int parse(int argc, char **argv, struct monitor_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "--url") || !strcmp(a, "--key") || !strcmp(a, "--interval") || !strcmp(a, "--count");
        if (takes && !v) {
            fprintf(stderr, "facerec monitor: %s needs a value\n", a);
            return CLI_USAGE;
        }
        char *end;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_HELP_SHOWN;
        } else if (!strcmp(a, "--url")) {
            o->url = v;
        } else if (!strcmp(a, "--key")) {
            o->key = v;
        } else if (!strcmp(a, "--interval")) {
            errno = 0;
            o->interval = strtod(v, &end);
            if (errno || end == v || *end || !(o->interval >= 0.05 && o->interval <= 3600)) {
                fprintf(stderr, "facerec monitor: --interval %s: expected seconds in [0.05, 3600]\n", v);
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--count")) {
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (errno || end == v || *end || n < 1) {
                fprintf(stderr, "facerec monitor: --count %s: expected a whole number of samples >= 1\n", v);
                return CLI_USAGE;
            }
            o->count = n;
        } else if (!strcmp(a, "--once")) {
            o->once = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else {
            fprintf(stderr, "facerec monitor: unknown option '%s' (facerec monitor --help)\n", a);
            return CLI_USAGE;
        }
        if (takes) i++;
    }
    if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
        fprintf(stderr, "facerec monitor: --url %s: expected http://HOST:PORT\n", o->url);
        return CLI_USAGE;
    }
    if (o->once) o->count = 1;
    return CLI_OK;
}

/* Sleeps until t (monotonic), or until a signal. */
static void sleep_until(double t) {
    double d = t - mono_now();
    if (d <= 0 || g_stop) return;
    struct timespec ts = { (time_t)d, (long)((d - floor(d)) * 1e9) };
    nanosleep(&ts, NULL);
}

int cli_cmd_monitor(int argc, char **argv) {
    const char *env_key = getenv("FACEREC_API_KEY");
    struct monitor_opts o = { .url = "http://127.0.0.1:5001", .key = env_key, .interval = 1.0 };
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK) return rc == CLI_HELP_SHOWN ? CLI_OK : rc;

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char nerr[256] = "";
    struct fr_nvml *nv = NULL;
    const char *gpu_absent = NULL;
    if (fr_nvml_new(NULL, &nv, nerr, sizeof(nerr)) != FR_OK) gpu_absent = nerr;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "facerec monitor: cannot initialise libcurl\n");
        fr_nvml_free(nv);
        return CLI_SOME_FAILED;
    }
    CURL *c = curl_easy_init();
    struct cpu_meter cm = { 0 };
    if (!nv) cpu_meter_read(&cm); /* the baseline: the first sample then has a figure */
    bool tui = !o.json && !o.once && isatty(STDOUT_FILENO);
    struct screen sc = { 0 };
    if (tui) {
        setlocale(LC_ALL, "");
        sc.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
        /* newterm, unlike initscr, returns NULL (no exit) for an unknown
         * TERM: we then fall back to plain lines. */
        sc.term = newterm(NULL, stdout, stdin);
        if (!sc.term) tui = false;
    }
    if (tui) {
        cbreak();
        noecho();
        curs_set(0);
        keypad(stdscr, TRUE);
    } else if (!nv) {
        /* A first CPU figure needs an interval between two readings. */
        sleep_until(mono_now() + fmin(0.25, o.interval));
    }
    rc = CLI_OK;
    struct sample prev = { 0 }, cur;
    bool have_prev = false;
    double next = mono_now();
    for (int64_t k = 0; !g_stop && (o.count == 0 || k < o.count); k++) {
        if (!c) {
            fprintf(stderr, "facerec monitor: out of memory\n");
            rc = CLI_SOME_FAILED;
            break;
        }
        take_sample(c, &o, nv, &cm, &cur);
        struct rates r = { 0 };
        compute_rates(have_prev ? &prev : NULL, &cur, &r);
        if (!cur.ok) rc = CLI_SOME_FAILED;
        if (o.once && !cur.ok) fprintf(stderr, "facerec monitor: %s\n", cur.error);
        if (tui) {
            hist_push(&sc.faces, cur.ok ? r.faces_per_s : NAN);
            hist_push(&sc.queue, cur.ok ? cur.queue_total : NAN);
            hist_push(&sc.busy, cur.ok ? cur.busy_1s : NAN);
            hist_push(&sc.local, nv ? (cur.n_gpus ? cur.gpu[0].utilization : NAN) : cur.cpu);
            draw(&sc, &o, &cur, &r, gpu_absent);
        } else if (o.json) {
            print_json(&o, &cur, &r, gpu_absent);
        } else {
            print_line(&cur, &r, gpu_absent);
        }
        prev = cur;
        have_prev = cur.ok;
        next += o.interval;
        if (o.count && k + 1 >= o.count) break;
        if (tui) {
            /* Wait for the next sample, answering keys meanwhile. */
            for (;;) {
                double left = next - mono_now();
                if (left <= 0 || g_stop) break;
                timeout((int)ceil(left * 1000));
                int ch = getch();
                if (ch == 'q' || ch == 'Q') g_stop = 1;
                else if (ch == KEY_RESIZE) draw(&sc, &o, &cur, &r, gpu_absent);
            }
        } else {
            sleep_until(next);
        }
    }
    if (tui) {
        endwin();
        delscreen(sc.term);
    }
    if (tui && !o.count) rc = CLI_OK; /* quitting a live view is not a failure */
    curl_easy_cleanup(c);
    curl_global_cleanup();
    fr_nvml_free(nv);
    return rc;
}
