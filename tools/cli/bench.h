/* facerec bench and facerec tune: a closed-loop load generator for
 * `facerec serve` (bench-load.c), a server it can start and stop itself
 * (bench-server.c), the sweep's output and plot (bench.c, bench-plot.c),
 * and the settings search of tune (tune.c over tune-search.c).
 *
 * Clients: one thread per client, each with its own keep-alive libcurl
 * handle, posting one image a request (the raw bytes) and waiting for the
 * answer before the next (no think time). So for every level Little's law
 * holds: requests/s x mean latency = clients.
 *
 * Safety: only loopback URLs are accepted (the tool is a load generator);
 * every run ends by itself: per level by duration or request count, and
 * always within the hard timeout; SIGINT/SIGTERM stop the clients at once
 * and a server started by --serve is always stopped with SIGTERM (and dies
 * with the parent through PR_SET_PDEATHSIG if the parent is killed).
 *
 * Not thread-safe beyond what is stated: a level runs its own threads and
 * returns when they have all been joined. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_LEVELS 32
#define BENCH_MAX_CODES 8

/* The images the clients post, loaded once. */
struct bench_blob {
    char *data;
    size_t len;
};
struct bench_images {
    struct bench_blob *v;
    int32_t n;
};
/* Files or directories (walked recursively, non-images skipped); with no
 * paths, the bundled test photos. 0, or -1 with a message in err. */
int bench_images_load(char **paths, int n, const char *models_dir, struct bench_images *out, char *err,
                      size_t errlen);
void bench_images_free(struct bench_images *im);

struct bench_params {
    const char *url;   /* base URL, loopback only ("http://127.0.0.1:5001") */
    const char *key;   /* X-API-Key, or NULL */
    const char *route; /* "/v1/embed" */
    double duration_s; /* per level, when requests is 0 */
    int32_t requests;  /* per level; 0 = by duration */
    int32_t warmup;    /* uncounted requests per client before each level */
    double deadline;   /* absolute (bench_now) hard end of the whole run */
};
struct bench_params bench_default_params(void);

struct bench_code_count {
    int32_t code; /* HTTP status; 0 = no answer (connection failed, timeout) */
    int64_t n;
};

/* One level of a sweep. Server figures are -1 when /status could not be
 * read. Memory peaks are the server's high-water marks since it started. */
struct bench_result {
    int32_t concurrency;
    int64_t requests, ok, errors, images, faces;
    struct bench_code_count codes[BENCH_MAX_CODES]; /* errors by status */
    int32_t ncodes;
    double elapsed_s;
    double requests_per_s, images_per_s, faces_per_s;
    double mean_ms, p50_ms, p90_ms, p95_ms, p99_ms;
    double mean_batch[3]; /* detect, landmark, recognize: items / batches during the level */
    int32_t batch_limit[3];
    double utilization; /* 0..1: device busy share during the level */
    double device_memory_peak, device_memory_limit, host_memory_peak; /* bytes */
    /* Server settings as /status reports them. */
    int32_t max_batch_size, preferred_batch_size, max_workers, max_concurrent_images;
    char batching[16];
    bool interrupted; /* cut short by a signal or the hard timeout */
};

double bench_now(void); /* monotonic seconds */

/* Set by SIGINT/SIGTERM (bench_install_signals): everything stops. */
extern volatile sig_atomic_t bench_stop_flag;
void bench_install_signals(void);

/* "http://HOST[:PORT]" with HOST a loopback name or address; else -1 and
 * why in err. */
int bench_check_url(const char *url, char *err, size_t errlen);

/* One request to the server before a run: that it is up and accepts the
 * key and the route. 0, or -1 with a clear message. */
int bench_probe(const struct bench_params *p, const struct bench_images *im, char *err, size_t errlen);

/* Warm-up, then one measured level with `concurrency` clients. 0, or -1
 * with a message (the clients could not start). */
int bench_run_level(const struct bench_params *p, const struct bench_images *im, int32_t concurrency,
                    struct bench_result *out, char *err, size_t errlen);

/* A `facerec serve` child on a free loopback port with its own API key,
 * started with extra settings ("--name", "value" pairs). */
struct bench_server {
    pid_t pid;
    int32_t port;
    char url[64];
    char key[64];
    char dir[64];  /* temporary directory: keys, the log and the data directory */
    char log[128]; /* the server's stderr */
};
/* Starts it and waits for /readyz (until deadline). 0, or -1 with the
 * server's last log lines in err; nothing is left running then. */
int bench_server_start(struct bench_server *sv, const char *models, char *const *settings, int32_t nsettings,
                       double deadline, char *err, size_t errlen);
/* SIGTERM, wait (SIGKILL after 30 s), remove the directory. Safe twice
 * and on a server that never started. */
void bench_server_stop(struct bench_server *sv);

/* Throughput and p95 latency against concurrency, as a PNG (cairo): a
 * second series (static batching) when b is not NULL. 0, or -1 with a
 * message. */
int bench_plot(const char *path, const struct bench_result *a, int32_t na, const char *label_a,
               const struct bench_result *b, int32_t nb, const char *label_b, char *err, size_t errlen);
