/* GET /status and GET /metrics: the server's own view of itself. Both are
 * gathered per request from snapshots (the scheduler publishes its own; the
 * connection layer keeps atomics), so neither runs on the scheduler loop. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "facerec/nvml.h"
#include "http/metrics.h"
#include "http/server-impl.h"
#include "sched/sched-status.h"

enum MHD_Result fr__http_answer_status(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    /* The scheduler's part, typed; who may see whom: without a key, no
     * user is named; a user key sees its own entry; an admin key
     * everyone's. */
    struct fr_sched_status st;
    cJSON *root = NULL;
    if (fr_sched_get_status(h->s, &st) == FR_OK) {
        if (!rq->admin) fr_sched_status_keep_user(&st, rq->user);
        root = fr__sched_status_to_json(&st);
        fr_sched_status_clear(&st);
    }
    if (!root) root = cJSON_CreateObject(); /* out of memory: the server's part may still fit */
    if (h->gallery && (rq->user_id > 0 || rq->admin)) fr__http_gallery_status(h, root, rq);
    cJSON *srv = cJSON_CreateObject();
    if (!root || !srv || !cJSON_AddItemToObject(root, "server", srv)) {
        cJSON_Delete(root);
        cJSON_Delete(srv);
        return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    }
    /* The GPU's own figures through NVML, when the driver is there. */
    struct fr_gpu_sample g;
    cJSON *ut = cJSON_GetObjectItem(root, "device_utilization");
    if (ut && h->nvml && fr_nvml_sample(h->nvml, 0, &g) == FR_OK) {
        cJSON *gj = cJSON_CreateObject();
        if (gj) {
            cJSON_AddNumberToObject(gj, "index", 0);
            cJSON_AddStringToObject(gj, "name", g.name);
            cJSON_AddNumberToObject(gj, "utilization", g.utilization);
            cJSON_AddNumberToObject(gj, "memory_used", (double)g.memory_used);
            cJSON_AddNumberToObject(gj, "memory_total", (double)g.memory_total);
            if (g.has_temperature) cJSON_AddNumberToObject(gj, "temperature_c", g.temperature_c);
            else cJSON_AddNullToObject(gj, "temperature_c");
            if (g.has_power) cJSON_AddNumberToObject(gj, "power_w", g.power_w);
            else cJSON_AddNullToObject(gj, "power_w");
            if (cJSON_GetObjectItem(ut, "gpu")) cJSON_ReplaceItemInObject(ut, "gpu", gj);
            else cJSON_AddItemToObject(ut, "gpu", gj);
        }
    }
    cJSON_AddNumberToObject(srv, "uptime_s", round((fr_time_now() - h->t0) * 1000.0) / 1000.0);
    cJSON_AddStringToObject(srv, "listen", h->listen);
    cJSON_AddNumberToObject(srv, "port", h->port);
    cJSON_AddBoolToObject(srv, "draining", atomic_load(&h->quiesced));
    cJSON *conn = cJSON_AddObjectToObject(srv, "connections");
    if (conn) {
        cJSON_AddNumberToObject(conn, "active", atomic_load(&h->connections_active));
        cJSON_AddNumberToObject(conn, "total", (double)atomic_load(&h->connections_total));
        struct fr__http_conn_stats cs;
        fr__http_conn_stats(h, &cs);
        cJSON_AddNumberToObject(conn, "limit", cs.max_connections);
        cJSON_AddNumberToObject(conn, "per_ip_limit", cs.per_ip_limit);
        cJSON_AddNumberToObject(conn, "suspended", cs.suspended);
        cJSON_AddNumberToObject(conn, "loop_threads", h->p.threads);
        cJSON_AddNumberToObject(conn, "workers", h->p.workers);
        cJSON_AddNumberToObject(conn, "open_files_soft", (double)cs.nofile_soft);
        cJSON_AddNumberToObject(conn, "open_files_hard", (double)cs.nofile_hard);
        cJSON *by = cJSON_AddObjectToObject(conn, "refused");
        for (int i = 0; by && i < FR__N_REFUSALS; i++)
            cJSON_AddNumberToObject(by, fr__http_refusal_names[i], (double)cs.by_reason[i]);
        cJSON *bm = cJSON_AddObjectToObject(conn, "body_memory");
        if (bm) {
            cJSON_AddNumberToObject(bm, "in_flight", (double)cs.body_bytes);
            cJSON_AddNumberToObject(bm, "limit", (double)cs.max_body_memory);
        }
    }
    cJSON *req = cJSON_AddObjectToObject(srv, "requests");
    if (req) {
        cJSON_AddNumberToObject(req, "total", (double)atomic_load(&h->requests_total));
        /* This request is one of the active ones. */
        cJSON_AddNumberToObject(req, "active", atomic_load(&h->requests_active));
        cJSON_AddNumberToObject(req, "waiting_on_scheduler", atomic_load(&h->waiting));
        cJSON *by = cJSON_AddObjectToObject(req, "by_status");
        for (size_t i = 0; by && i <= FR__HTTP_N_COUNTED; i++) {
            long long n = atomic_load(&h->by_status[i]);
            if (!n) continue;
            char k[16];
            if (i < FR__HTTP_N_COUNTED) snprintf(k, sizeof(k), "%u", fr__http_counted_status[i]);
            else snprintf(k, sizeof(k), "other");
            cJSON_AddNumberToObject(by, k, (double)n);
        }
    }
    return fr__http_respond_doc(h, c, rq, 200, root);
}

/* GET /metrics: gathered per scrape; nothing here runs on the scheduler
 * loop, which only publishes its snapshot. */
enum MHD_Result fr__http_answer_metrics(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    struct fr_sched_metrics *sm = fr_malloc(sizeof(*sm));
    struct fr__http_route_count *routes = fr_malloc(sizeof(*routes) * FR__HTTP_ROUTE_SLOTS);
    char *text = NULL;
    size_t len = 0;
    enum fr_status st = FR_ERR_NOMEM;
    if (sm && routes) {
        fr_sched_get_metrics(h->s, sm);
        struct fr__http_conn_stats cs;
        fr__http_conn_stats(h, &cs);
        struct fr__process_stats ps;
        fr__process_stats_read(&ps);
        struct fr_gpu_sample gpus[8];
        int32_t ng = h->nvml ? fr_nvml_device_count(h->nvml) : 0, n_ok = 0;
        for (int32_t i = 0; i < ng && i < 8; i++, n_ok++)
            if (fr_nvml_sample(h->nvml, i, &gpus[i]) != FR_OK) break;
        struct fr__metrics_doc d = {
            .version = FR_VERSION,
            .backend = sm->backend,
            .sched = sm,
            .routes = routes,
            .n_routes = fr__http_route_counts_copy(h->routes, routes),
            .connections_active = atomic_load(&h->connections_active),
            .connections_total = atomic_load(&h->connections_total),
            .requests_active = atomic_load(&h->requests_active),
            .waiting = atomic_load(&h->waiting),
            .conn = &cs,
            .process = &ps,
            .gpus = gpus,
            .n_gpus = n_ok,
        };
        st = fr__metrics_render(&d, &text, &len);
    }
    fr_free(sm);
    fr_free(routes);
    if (st != FR_OK) return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    enum MHD_Result ok =
        fr__http_respond_bytes(h, c, rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    fr_free(text);
    return ok;
}
