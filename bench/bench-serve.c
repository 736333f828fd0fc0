#define _GNU_SOURCE
/* Load generator for `facerec serve`: N concurrent clients post images
 * (raw bodies) to /v1/embed for S seconds, then one client posts a single
 * image alone, repeatedly. Prints throughput, latency percentiles and the
 * server's own /status figures (device busy, batch sizes, memory).
 *
 * usage: fr-bench-serve --url http://127.0.0.1:5001 --key KEY [--clients 16]
 *                       [--seconds 20] [--lone IMAGE] [--lone-count 30] IMAGE...
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct blob {
    char *data;
    size_t len;
};

static struct blob *g_imgs;
static int g_nimgs;
static const char *g_url, *g_key;
static double g_end;
static atomic_int g_next;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static double *g_lat;
static int g_nlat, g_caplat;
static long g_faces, g_images, g_errors;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct blob load(const char *path) {
    struct blob b = { 0, 0 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fr-bench-serve: cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    b.len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc(b.len);
    if (!b.data || fread(b.data, 1, b.len, f) != b.len) exit(2);
    fclose(f);
    return b;
}

struct resp {
    char *data;
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    struct resp *r = ud;
    char *d = realloc(r->data, r->len + sz * n + 1);
    if (!d) return 0;
    memcpy(d + r->len, p, sz * n);
    r->data = d;
    r->len += sz * n;
    r->data[r->len] = 0;
    return sz * n;
}

/* One POST; returns the number of faces, or -1. */
static int post(CURL *c, const struct blob *b, double *ms) {
    char url[512], key[300];
    snprintf(url, sizeof url, "%s/v1/embed", g_url);
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    struct curl_slist *h = curl_slist_append(NULL, key);
    h = curl_slist_append(h, "Content-Type: image/jpeg");
    struct resp r = { 0, 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, b->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)b->len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    double t0 = now_s();
    CURLcode rc = curl_easy_perform(c);
    *ms = (now_s() - t0) * 1e3;
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    int faces = -1;
    if (rc == CURLE_OK && code == 200 && r.data) {
        cJSON *j = cJSON_Parse(r.data);
        cJSON *im = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "images"), 0);
        cJSON *f = cJSON_GetObjectItem(im, "faces");
        if (cJSON_IsArray(f)) faces = cJSON_GetArraySize(f);
        cJSON_Delete(j);
    }
    free(r.data);
    return faces;
}

static void record(double ms, int faces) {
    pthread_mutex_lock(&g_mu);
    if (faces < 0) g_errors++;
    else {
        g_images++;
        g_faces += faces;
        if (g_nlat == g_caplat) {
            g_caplat = g_caplat ? g_caplat * 2 : 1024;
            g_lat = realloc(g_lat, sizeof(double) * (size_t)g_caplat);
        }
        g_lat[g_nlat++] = ms;
    }
    pthread_mutex_unlock(&g_mu);
}

static void *client(void *arg) {
    (void)arg;
    CURL *c = curl_easy_init();
    while (now_s() < g_end) {
        int i = atomic_fetch_add(&g_next, 1) % g_nimgs;
        double ms;
        int faces = post(c, &g_imgs[i], &ms);
        record(ms, faces);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, int p) {
    if (!n) return 0;
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[(n - 1) * p / 100];
}

static cJSON *get_status(void) {
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s/status", g_url);
    struct resp r = { 0, 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    cJSON *j = r.data ? cJSON_Parse(r.data) : NULL;
    free(r.data);
    return j;
}

static double num(cJSON *j, const char *a, const char *b) {
    cJSON *o = cJSON_GetObjectItem(j, a);
    return b ? cJSON_GetNumberValue(cJSON_GetObjectItem(o, b)) : cJSON_GetNumberValue(o);
}

int main(int argc, char **argv) {
    int clients = 16, lone_count = 30, first = 1;
    double seconds = 20;
    const char *lone = NULL;
    g_url = "http://127.0.0.1:5001";
    g_key = "";
    for (; first < argc && argv[first][0] == '-'; first++) {
        const char *a = argv[first];
        if (first + 1 >= argc) break;
        if (!strcmp(a, "--url")) g_url = argv[++first];
        else if (!strcmp(a, "--key")) g_key = argv[++first];
        else if (!strcmp(a, "--clients")) clients = atoi(argv[++first]);
        else if (!strcmp(a, "--seconds")) seconds = atof(argv[++first]);
        else if (!strcmp(a, "--lone")) lone = argv[++first];
        else if (!strcmp(a, "--lone-count")) lone_count = atoi(argv[++first]);
        else break;
    }
    if (first >= argc || clients < 1) {
        fprintf(stderr, "usage: fr-bench-serve --url URL --key KEY [--clients N] [--seconds S] [--lone IMAGE] "
                        "[--lone-count N] IMAGE...\n");
        return 2;
    }
    g_nimgs = argc - first;
    g_imgs = calloc((size_t)g_nimgs, sizeof(*g_imgs));
    for (int i = 0; i < g_nimgs; i++) g_imgs[i] = load(argv[first + i]);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Warm-up pass: every image once, so that every batch size in use has
     * its primitives and the images their page cache. */
    g_end = now_s() + 3;
    pthread_t *th = calloc((size_t)clients, sizeof(pthread_t));
    for (int i = 0; i < clients; i++) pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
    g_nlat = 0, g_images = g_faces = g_errors = 0;

    cJSON *s0 = get_status();
    double t0 = now_s();
    g_end = t0 + seconds;
    for (int i = 0; i < clients; i++) pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    cJSON *s1 = get_status();
    double busy0 = num(s0, "device_utilization", "busy_since_start") * num(s0, "uptime_s", NULL);
    double busy1 = num(s1, "device_utilization", "busy_since_start") * num(s1, "uptime_s", NULL);
    double up = num(s1, "uptime_s", NULL) - num(s0, "uptime_s", NULL);
    printf("saturation: %d clients, %.1f s: %.2f images/s, %.2f faces/s, %ld errors; latency p50 %.0f ms, "
           "p95 %.0f ms, p99 %.0f ms\n",
           clients, dt, g_images / dt, g_faces / dt, g_errors, pct(g_lat, g_nlat, 50), pct(g_lat, g_nlat, 95),
           pct(g_lat, g_nlat, 99));
    printf("device busy %.1f%% of the run; batches: detect mean %.1f, landmark mean %.1f, recognize mean %.1f; "
           "device memory %.0f of %.0f MiB, host peak %.0f MiB\n",
           up > 0 ? 100.0 * (busy1 - busy0) / up : 0,
           num(cJSON_GetObjectItem(s1, "batches"), "detect", "mean_size"),
           num(cJSON_GetObjectItem(s1, "batches"), "landmark", "mean_size"),
           num(cJSON_GetObjectItem(s1, "batches"), "recognize", "mean_size"), num(s1, "memory", "device_used") / 1048576,
           num(s1, "memory", "device_limit") / 1048576, num(s1, "memory", "host_peak") / 1048576);
    cJSON_Delete(s0);
    cJSON_Delete(s1);

    if (lone) {
        struct blob b = load(lone);
        CURL *c = curl_easy_init();
        double *lat = calloc((size_t)lone_count, sizeof(double));
        for (int i = 0; i < lone_count; i++) {
            if (post(c, &b, &lat[i]) < 0) fprintf(stderr, "fr-bench-serve: lone request failed\n");
        }
        printf("lone: %s, %d requests one at a time: p50 %.1f ms, min %.1f ms\n", lone, lone_count,
               pct(lat, lone_count, 50), pct(lat, lone_count, 0));
        curl_easy_cleanup(c);
        free(lat);
        free(b.data);
    }
    for (int i = 0; i < g_nimgs; i++) free(g_imgs[i].data);
    free(g_imgs);
    free(th);
    free(g_lat);
    curl_global_cleanup();
    return g_errors ? 1 : 0;
}
