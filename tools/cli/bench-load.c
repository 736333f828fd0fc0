/* facerec bench: the load generator (see bench.h). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

volatile sig_atomic_t bench_stop_flag;

static void on_signal(int sig) {
    (void)sig;
    bench_stop_flag = 1;
}

void bench_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct bench_params bench_default_params(void) {
    return (struct bench_params){
        .url = "http://127.0.0.1:5001",
        .key = NULL,
        .route = "/v1/embed",
        .duration_s = 10,
        .requests = 0,
        .warmup = 2,
        .deadline = INFINITY,
    };
}

/* ---- images ---- */

static int load_file(const char *path, struct bench_blob *b) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n <= 0 || fseek(f, 0, SEEK_SET) != 0 || !(b->data = malloc((size_t)n))) {
        fclose(f);
        return -1;
    }
    b->len = fread(b->data, 1, (size_t)n, f);
    fclose(f);
    return b->len == (size_t)n ? 0 : -1;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The bundled photos: face_recognition's examples and face-api's samples,
 * looked up from the environment, the working directory (a checkout) and
 * the executable's place (build/facerec in a checkout). */
static int default_dirs(const char *models_dir, char dirs[2][4096]) {
    int n = 0;
    char exe[4096] = "";
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    const char *env = getenv("FACEREC_TESTDATA");
    char cand[3][4096];
    snprintf(cand[0], sizeof cand[0], "%s/examples", env && *env ? env : "/nonexistent");
    snprintf(cand[1], sizeof cand[1], "../shared/testdata/face_recognition/examples");
    snprintf(cand[2], sizeof cand[2], "%s/../../shared/testdata/face_recognition/examples", exe);
    for (int i = 0; i < 3; i++)
        if (is_dir(cand[i])) {
            memcpy(dirs[n++], cand[i], 4096);
            break;
        }
    char samples[2][4096];
    snprintf(samples[0], sizeof samples[0], "%s/samples", models_dir ? models_dir : "models");
    snprintf(samples[1], sizeof samples[1], "%s/../models/samples", exe);
    for (int i = 0; i < 2; i++)
        if (is_dir(samples[i])) {
            memcpy(dirs[n++], samples[i], 4096);
            break;
        }
    return n;
}

int bench_images_load(char **paths, int n, const char *models_dir, struct bench_images *out, char *err,
                      size_t errlen) {
    memset(out, 0, sizeof(*out));
    struct cli_files fl = { 0 };
    char dirs[2][4096];
    char *dp[2] = { dirs[0], dirs[1] };
    if (n == 0) {
        n = default_dirs(models_dir, dirs);
        paths = dp;
        if (n == 0) {
            snprintf(err, errlen,
                     "no images given and the bundled test photos were not found "
                     "(../shared/testdata/face_recognition/examples, models/samples): name a directory with --images");
            return -1;
        }
    }
    if (cli_collect(paths, n, &fl) != 0) {
        cli_files_free(&fl);
        snprintf(err, errlen, "cannot read the image paths given");
        return -1;
    }
    if (fl.n == 0) {
        cli_files_free(&fl);
        snprintf(err, errlen, "no images found in %s%s", paths[0], n > 1 ? " and the other paths" : "");
        return -1;
    }
    out->v = calloc((size_t)fl.n, sizeof(*out->v));
    if (!out->v) {
        cli_files_free(&fl);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int32_t i = 0; i < fl.n; i++) {
        if (load_file(fl.paths[i], &out->v[out->n]) != 0) {
            snprintf(err, errlen, "cannot read %s", fl.paths[i]);
            free(out->v[out->n].data);
            cli_files_free(&fl);
            bench_images_free(out);
            return -1;
        }
        out->n++;
    }
    cli_files_free(&fl);
    return 0;
}

void bench_images_free(struct bench_images *im) {
    if (!im) return;
    for (int32_t i = 0; i < im->n; i++) free(im->v[i].data);
    free(im->v);
    memset(im, 0, sizeof(*im));
}

/* ---- URL ---- */

int bench_check_url(const char *url, char *err, size_t errlen) {
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(err, errlen, "bad URL '%s': expected http://127.0.0.1:PORT", url);
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    if (!scheme || strcasecmp(scheme, "http") != 0) {
        snprintf(err, errlen, "bad URL '%s': only http:// is supported", url);
        goto out;
    }
    if (path && strcmp(path, "/") != 0 && path[0]) {
        snprintf(err, errlen, "bad URL '%s': give the server's base URL, without a path (see --route)", url);
        goto out;
    }
    /* A load generator must not be pointed at someone else's server. */
    bool loop = host && (!strcasecmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "[::1]") ||
                         !strcmp(host, "::1"));
    if (loop && !strncmp(host, "127.", 4)) {
        int a, b, c, d;
        char tail;
        loop = sscanf(host, "%d.%d.%d.%d%c", &a, &b, &c, &d, &tail) == 4 && b >= 0 && b < 256 && c >= 0 &&
               c < 256 && d >= 0 && d < 256;
    }
    if (!loop) {
        snprintf(err, errlen, "refusing '%s': facerec bench only drives servers on this machine (127.0.0.1, ::1, "
                              "localhost)", url);
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

/* ---- requests ---- */

/* Stops a transfer in flight when the run is interrupted or past the hard
 * deadline. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    const double *deadline = ud;
    return bench_stop_flag || bench_now() > *deadline;
}

struct client_conn {
    CURL *c;
    struct curl_slist *headers;
    char url[512];
    double deadline;
};

/* base URL + path, without doubling the slash. */
static void join_url(char *buf, size_t len, const char *base, const char *path) {
    size_t n = strlen(base);
    while (n && base[n - 1] == '/') n--;
    snprintf(buf, len, "%.*s%s%s", (int)n, base, path[0] == '/' ? "" : "/", path);
}

static int conn_init(struct client_conn *cc, const struct bench_params *p, const char *path) {
    memset(cc, 0, sizeof(*cc));
    cc->deadline = p->deadline;
    if (!(cc->c = curl_easy_init())) return -1;
    join_url(cc->url, sizeof cc->url, p->url, path);
    char key[300];
    if (p->key && *p->key) {
        snprintf(key, sizeof key, "X-API-Key: %s", p->key);
        cc->headers = curl_slist_append(cc->headers, key);
    }
    cc->headers = curl_slist_append(cc->headers, "Content-Type: application/octet-stream");
    cc->headers = curl_slist_append(cc->headers, "Expect:");
    curl_easy_setopt(cc->c, CURLOPT_URL, cc->url);
    curl_easy_setopt(cc->c, CURLOPT_HTTPHEADER, cc->headers);
    curl_easy_setopt(cc->c, CURLOPT_WRITEFUNCTION, cli_body_write);
    curl_easy_setopt(cc->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cc->c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(cc->c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(cc->c, CURLOPT_XFERINFODATA, &cc->deadline);
    curl_easy_setopt(cc->c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(cc->c, CURLOPT_PROXY, ""); /* loopback: never through a proxy */
    return 0;
}

static void conn_free(struct client_conn *cc) {
    curl_slist_free_all(cc->headers);
    if (cc->c) curl_easy_cleanup(cc->c);
}

/* Faces in the first image of an answer, or -1 when it is not one. */
static int count_faces(const char *json) {
    cJSON *j = cJSON_Parse(json);
    cJSON *im = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "images"), 0);
    cJSON *f = cJSON_GetObjectItem(im, "faces");
    int n = cJSON_IsArray(f) ? cJSON_GetArraySize(f) : cJSON_IsArray(cJSON_GetObjectItem(j, "faces")) ? 1 : -1;
    cJSON_Delete(j);
    return n;
}

/* One POST of one image. Returns the HTTP status (0 when there was no
 * answer); *faces and *ms are set; *body (if not NULL) gets the answer. */
static long post(struct client_conn *cc, const struct bench_blob *b, int *faces, double *ms, char **body) {
    struct cli_body r = { 0 };
    curl_easy_setopt(cc->c, CURLOPT_POSTFIELDS, b->data);
    curl_easy_setopt(cc->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
    curl_easy_setopt(cc->c, CURLOPT_WRITEDATA, &r);
    double rem = cc->deadline - bench_now();
    long tmo = isfinite(rem) ? (long)fmax(1.0, rem * 1e3) : 600000L;
    curl_easy_setopt(cc->c, CURLOPT_TIMEOUT_MS, tmo);
    double t0 = bench_now();
    CURLcode rc = curl_easy_perform(cc->c);
    *ms = (bench_now() - t0) * 1e3;
    long code = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(cc->c, CURLINFO_RESPONSE_CODE, &code);
    *faces = 0;
    if (code == 200) {
        *faces = r.data ? count_faces(r.data) : -1;
        if (*faces < 0) code = 0; /* not an answer we understand */
    }
    if (body) *body = r.data ? r.data : strdup(curl_easy_strerror(rc));
    else free(r.data);
    return code;
}

int bench_probe(const struct bench_params *p, const struct bench_images *im, char *err, size_t errlen) {
    struct client_conn cc;
    if (conn_init(&cc, p, p->route) != 0) {
        snprintf(err, errlen, "cannot start libcurl");
        return -1;
    }
    int faces;
    double ms;
    char *body = NULL;
    long code = post(&cc, &im->v[0], &faces, &ms, &body);
    conn_free(&cc);
    int rc = 0;
    if (code == 0)
        snprintf(err, errlen, "no answer from %s%s (%s): is the server running?", p->url, p->route,
                 body ? body : "?");
    else if (code == 401)
        snprintf(err, errlen, "%s%s: 401 unauthorized: give the API key with --key or FACEREC_API_KEY", p->url,
                 p->route);
    else if (code != 200)
        snprintf(err, errlen, "%s%s answered %ld: %.300s", p->url, p->route, code, body ? body : "");
    if (code != 200) rc = -1;
    free(body);
    return rc;
}

/* ---- /status ---- */

static cJSON *get_status(const struct bench_params *p) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    char url[512];
    join_url(url, sizeof url, p->url, "/status");
    struct cli_body r = { 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    cJSON *j = code == 200 && r.data ? cJSON_Parse(r.data) : NULL;
    free(r.data);
    return j;
}

/* A number at a path of object keys, or NAN. */
static double jnum(const cJSON *j, const char *a, const char *b, const char *c) {
    const cJSON *o = cJSON_GetObjectItem(j, a);
    if (b) o = cJSON_GetObjectItem(o, b);
    if (c) o = cJSON_GetObjectItem(o, c);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

static const char *const stage_names[3] = { "detect", "landmark", "recognize" };

/* Server figures of a level from the /status before and after it. */
static void from_status(const cJSON *s0, const cJSON *s1, struct bench_result *r) {
    r->utilization = r->device_memory_peak = r->device_memory_limit = r->host_memory_peak = -1;
    for (int k = 0; k < 3; k++) r->mean_batch[k] = -1;
    if (!s0 || !s1) return;
    double up0 = jnum(s0, "uptime_s", NULL, NULL), up1 = jnum(s1, "uptime_s", NULL, NULL);
    double b0 = jnum(s0, "device_utilization", "busy_since_start", NULL) * up0;
    double b1 = jnum(s1, "device_utilization", "busy_since_start", NULL) * up1;
    if (up1 > up0 && isfinite(b1 - b0)) r->utilization = fmin(1.0, fmax(0.0, (b1 - b0) / (up1 - up0)));
    for (int k = 0; k < 3; k++) {
        double n = jnum(s1, "batches", stage_names[k], "count") - jnum(s0, "batches", stage_names[k], "count");
        double it = jnum(s1, "batches", stage_names[k], "items") - jnum(s0, "batches", stage_names[k], "items");
        r->mean_batch[k] = n > 0 ? it / n : 0;
        double lim = jnum(s1, "batches", stage_names[k], "limit");
        r->batch_limit[k] = isfinite(lim) ? (int32_t)lim : 0;
    }
    r->device_memory_peak = jnum(s1, "memory", "device_peak", NULL);
    r->device_memory_limit = jnum(s1, "memory", "device_limit", NULL);
    r->host_memory_peak = jnum(s1, "memory", "host_peak", NULL);
    r->max_batch_size = (int32_t)jnum(s1, "settings", "max_batch_size", NULL);
    r->preferred_batch_size = (int32_t)jnum(s1, "settings", "preferred_batch_size", NULL);
    r->max_workers = (int32_t)jnum(s1, "settings", "max_workers", NULL);
    r->max_concurrent_images = (int32_t)jnum(s1, "settings", "max_concurrent_images", NULL);
    const char *bt = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(s1, "settings"), "batching"));
    snprintf(r->batching, sizeof r->batching, "%s", bt ? bt : "dynamic");
}

/* ---- a run of N clients ---- */

struct run {
    const struct bench_params *p;
    const struct bench_images *im;
    atomic_int next_image;
    atomic_int left; /* requests still to start (count mode) */
    bool by_count;
    double end; /* duration mode: no request starts after this */
};

struct client {
    pthread_t th;
    struct run *run;
    double *lat; /* ms of every answered request */
    int64_t n, cap, ok, images, faces;
    struct bench_code_count codes[BENCH_MAX_CODES];
    int32_t ncodes;
    bool failed_start;
};

static void count_code(struct client *c, int32_t code) {
    for (int32_t i = 0; i < c->ncodes; i++)
        if (c->codes[i].code == code) {
            c->codes[i].n++;
            return;
        }
    if (c->ncodes < BENCH_MAX_CODES) c->codes[c->ncodes++] = (struct bench_code_count){ code, 1 };
    else c->codes[BENCH_MAX_CODES - 1].n++; /* more kinds than slots: lumped into the last */
}

static void *client_main(void *arg) {
    struct client *c = arg;
    struct run *r = c->run;
    struct client_conn cc;
    if (conn_init(&cc, r->p, r->p->route) != 0) {
        c->failed_start = true;
        return NULL;
    }
    while (!bench_stop_flag && bench_now() < r->p->deadline) {
        if (r->by_count) {
            if (atomic_fetch_sub(&r->left, 1) <= 0) break;
        } else if (bench_now() >= r->end) {
            break;
        }
        int i = atomic_fetch_add(&r->next_image, 1) % r->im->n;
        int faces;
        double ms;
        long code = post(&cc, &r->im->v[i], &faces, &ms, NULL);
        if (bench_stop_flag || (code == 0 && bench_now() >= r->p->deadline)) break; /* cut short, not an error */
        if (c->n == c->cap) {
            int64_t cap = c->cap ? c->cap * 2 : 256;
            double *l = realloc(c->lat, sizeof(double) * (size_t)cap);
            if (!l) break;
            c->lat = l;
            c->cap = cap;
        }
        c->lat[c->n++] = ms;
        if (code == 200) {
            c->ok++;
            c->images++;
            c->faces += faces;
        } else {
            count_code(c, (int32_t)code);
        }
    }
    conn_free(&cc);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, int64_t n, double p) {
    if (n <= 0) return 0;
    int64_t k = (int64_t)ceil(p / 100.0 * (double)n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Runs `nc` clients until the run ends; fills the client figures of out
 * when out is not NULL. */
static int run_clients(const struct bench_params *p, const struct bench_images *im, int32_t nc, int32_t requests,
                       double duration, struct bench_result *out, char *err, size_t errlen) {
    struct run r = { .p = p, .im = im, .by_count = requests > 0 };
    atomic_init(&r.next_image, 0);
    atomic_init(&r.left, requests);
    struct client *cl = calloc((size_t)nc, sizeof(*cl));
    if (!cl) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double t0 = bench_now();
    r.end = t0 + duration;
    int32_t started = 0;
    for (; started < nc; started++) {
        cl[started].run = &r;
        if (pthread_create(&cl[started].th, NULL, client_main, &cl[started]) != 0) break;
    }
    for (int32_t i = 0; i < started; i++) pthread_join(cl[i].th, NULL);
    double t1 = bench_now();
    int rc = 0;
    bool bad = started < nc;
    for (int32_t i = 0; i < started; i++) bad |= cl[i].failed_start;
    if (bad) {
        snprintf(err, errlen, "could not start %d client threads", (int)nc);
        rc = -1;
    }
    if (out && rc == 0) {
        int64_t n = 0;
        for (int32_t i = 0; i < nc; i++) n += cl[i].n;
        double *all = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (!all) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            int64_t k = 0;
            double sum = 0;
            for (int32_t i = 0; i < nc; i++) {
                struct client *c = &cl[i];
                for (int64_t j = 0; j < c->n; j++) sum += (all[k++] = c->lat[j]);
                out->ok += c->ok;
                out->images += c->images;
                out->faces += c->faces;
                for (int32_t j = 0; j < c->ncodes; j++) {
                    int32_t m = 0;
                    while (m < out->ncodes && out->codes[m].code != c->codes[j].code) m++;
                    if (m == out->ncodes && out->ncodes < BENCH_MAX_CODES) out->codes[out->ncodes++].code = c->codes[j].code;
                    if (m < BENCH_MAX_CODES) out->codes[m].n += c->codes[j].n;
                    out->errors += c->codes[j].n;
                }
            }
            qsort(all, (size_t)n, sizeof(double), cmp_d);
            out->requests = n;
            out->elapsed_s = t1 - t0;
            double dt = out->elapsed_s > 0 ? out->elapsed_s : 1e-9;
            out->requests_per_s = n / dt;
            out->images_per_s = out->images / dt;
            out->faces_per_s = out->faces / dt;
            out->mean_ms = n ? sum / n : 0;
            out->p50_ms = pct(all, n, 50);
            out->p90_ms = pct(all, n, 90);
            out->p95_ms = pct(all, n, 95);
            out->p99_ms = pct(all, n, 99);
            free(all);
        }
    }
    for (int32_t i = 0; i < nc; i++) free(cl[i].lat);
    free(cl);
    return rc;
}

int bench_run_level(const struct bench_params *p, const struct bench_images *im, int32_t concurrency,
                    struct bench_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    out->concurrency = concurrency;
    /* Warm-up: every client's connection open and the batch sizes of this
     * load seen once, uncounted. */
    if (p->warmup > 0 && run_clients(p, im, concurrency, p->warmup * concurrency, 0, NULL, err, errlen) != 0)
        return -1;
    cJSON *s0 = get_status(p);
    int rc = run_clients(p, im, concurrency, p->requests, p->duration_s, out, err, errlen);
    cJSON *s1 = get_status(p);
    from_status(s0, s1, out);
    cJSON_Delete(s0);
    cJSON_Delete(s1);
    out->interrupted = bench_stop_flag || bench_now() >= p->deadline;
    return rc;
}
