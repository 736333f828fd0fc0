/* GET /metrics: the Prometheus text exposition format 0.0.4
 * (src/http/metrics.c), shared by status.c and tests/test-metrics.c.
 *
 * The renderer is a pure function of a document (the scheduler's
 * fr_sched_get_metrics snapshot of its one stats sink, HTTP counters,
 * process and GPU figures), so that it can be tested without a server;
 * status.c gathers the document per scrape. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/sched.h"
#include "facerec/nvml.h"

/* Requests by (route, status). The route is a template ("/v1/detect",
 * "/v1/people/{id}") or "other" for unknown paths, so the label set is
 * bounded by the routes the code knows; route strings must outlive the
 * counters (string literals). */
#define FR__HTTP_ROUTE_SLOTS 512
struct fr__http_route_count {
    const char *route;
    unsigned status;
    int64_t count;
};
struct fr__http_route_counts {
    pthread_mutex_t mu;
    int32_t n;
    struct fr__http_route_count e[FR__HTTP_ROUTE_SLOTS]; /* the last slot collects overflow as route "other" */
};
void fr__http_route_counts_init(struct fr__http_route_counts *c);
void fr__http_route_counts_destroy(struct fr__http_route_counts *c);
void fr__http_route_counts_add(struct fr__http_route_counts *c, const char *route, unsigned status);
/* A copy sorted by route and status; returns the number of entries. */
int32_t fr__http_route_counts_copy(struct fr__http_route_counts *c, struct fr__http_route_count *out);

/* The calling process, from /proc (has = false where it cannot be read). */
struct fr__process_stats {
    bool has_memory, has_start, has_fds;
    double resident_bytes, virtual_bytes;
    double cpu_seconds;     /* user + system */
    double start_time;      /* Unix time, seconds */
    double open_fds, max_fds;
};
void fr__process_stats_read(struct fr__process_stats *p);

struct fr__http_conn_stats;
struct fr__metrics_doc {
    const char *version, *backend;
    const struct fr_sched_metrics *sched; /* NULL: no scheduler series */
    const struct fr__http_route_count *routes;
    int32_t n_routes;
    int32_t connections_active, requests_active, waiting;
    int64_t connections_total;
    const struct fr__http_conn_stats *conn;  /* NULL: none (server-impl.h) */
    const struct fr__process_stats *process; /* NULL: none */
    const struct fr_gpu_sample *gpus; /* NULL or n_gpus samples, GPU i at index i */
    int32_t n_gpus;
};

/* The exposition as a fr_malloc'd string (*len bytes, NUL-terminated), or
 * FR_ERR_NOMEM. */
enum fr_status fr__metrics_render(const struct fr__metrics_doc *d, char **out, size_t *len);

/* Appends v as a label value escaped per the format (backslash, double
 * quote and newline), for the tests. */
enum fr_status fr__metrics_escape(const char *v, char *out, size_t outlen);
