/* facerec scheduler: many users' requests through one compute device.
 *
 * A request is one user's list of encoded images (detect, embed or verify
 * on the server). fr_sched admits it or refuses it at once (queue full:
 * FR_ERR_BUSY), then moves every image through explicit states:
 *
 *     QUEUED -> DECODING -> DETECT -> LANDMARK -> RECOGNIZE -> DONE
 *
 * (or FAILED for that image alone). One thread, the scheduler loop, owns
 * every request and queue; decode workers and the device thread only
 * receive jobs and post results back to it. Per-user queues are served by
 * deficit round-robin, one image a turn (an image whose detection took k
 * tiles costs its user k more turns), under `user_concurrency_limit`
 * (one user's images in flight) and `max_concurrent_images` (all images in
 * flight). Each net has a continuous batcher: the moment the device is
 * free the loop takes up to the net's batch of ready items, mixing faces
 * of many requests and users; with fewer than `preferred_batch_size` ready
 * it waits at most `max_queue_delay_ms` for more. The inputs of the next
 * batch are prepared while the device runs the current one.
 *
 * `batching = static` turns this off, to measure what it is worth (`facerec
 * bench --compare static`): the traditional batcher of the system we
 * replace. Images are taken in fixed batches of preferred_batch_size (at
 * most the detector's batch limit and max_concurrent_images); a batch
 * waits until it is full, or static_fill_timeout_ms after its first image
 * was ready, and the next batch is admitted only when every image of the
 * current one has finished all three nets. Inputs are prepared only while
 * the device is idle.
 *
 * Memory: every net's activation arena is reserved at start for the
 * largest batch that fits `device_memory_limit` (with weights and staging
 * buffers); nothing is allocated per batch on the device. Decoded images
 * count against `host_memory_limit` and are freed as soon as their faces
 * are cropped.
 *
 * Ownership: fr_sched borrows nothing from the caller beyond a submit call:
 * fr_sched_submit copies the encoded bytes. The result passed to the done
 * callback is owned by the scheduler and valid only during the callback.
 * Thread-safety: submit, cancel, drain and the readers of the stats sink
 * (status, metrics, counters) may be called from any thread. The callback runs on the scheduler loop thread and must not
 * block.
 *
 * Example:
 *     struct fr_sched_params sp = fr_sched_default_params();
 *     struct fr_sched *s;
 *     if (fr_sched_new(&sp, &s, err, sizeof err) != FR_OK) ...
 *     struct fr_sched_request rq = { .user = "alice", .images = imgs, .n_images = 2,
 *                                    .landmarks = true, .embeddings = true, .done = on_done, .ctx = c };
 *     uint64_t id;
 *     if (fr_sched_submit(s, &rq, &id) == FR_ERR_BUSY) ... // 429
 *     ... on_done(result, c) is called exactly once ...
 *     fr_sched_drain(s, 10000);
 *     fr_sched_free(s);
 */
#pragma once

#include "facerec/face.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the nets' batches are formed (see above). */
enum fr_batching {
    FR_BATCHING_DYNAMIC = 0, /* continuous, per net, across requests (the default) */
    FR_BATCHING_STATIC = 1,  /* fixed batches of images, one at a time, for comparison */
};

/* Bounds fr_sched_new checks, here so that the settings table takes the
 * same ones. The batch limit is the nets' own (fr_net_new takes at most
 * 4096). */
#define FR_SCHED_MAX_BATCH 4096                      /* max_batch_size, preferred_batch_size */
#define FR_SCHED_MAX_WORKERS 256                     /* max_workers */
#define FR_SCHED_MIN_HOST_MEMORY ((size_t)16 << 20) /* host_memory_limit */

struct fr_sched_params {
    /* Models and device. */
    const char *models_dir;
    enum fr_device device;
    size_t device_memory_limit; /* bytes; 0 = the backend's default (CPU 2 GiB, GPU 80% of the card) */
    int32_t device_memory_percent; /* 1..100: share of the card (CUDA) or of RAM (CPU) instead; limit is 0 then */
    enum fr_precision precision;   /* CUDA: fp32 or fp16 (tensor cores); CPU: fp32, bf16, int8 or auto */
    size_t host_memory_limit;   /* bytes of decoded images held at once (default 1 GiB) */
    int32_t threads;            /* compute threads on the CPU; 0 = all cores */
    int32_t max_workers;        /* decode threads (default 2) */
    /* Batching. */
    int32_t max_batch_size;       /* largest batch of any net (128); lowered per net to fit the budget */
    int32_t preferred_batch_size; /* a batcher with fewer ready items may wait for more (64) */
    int32_t max_queue_delay_ms;   /* ... but never longer than this (5) */
    enum fr_batching batching;    /* FR_BATCHING_DYNAMIC */
    int32_t static_fill_timeout_ms; /* static batching: longest wait for a batch to fill (100) */
    /* Admission and fairness, counted in images. */
    int32_t queue_capacity;         /* all queued images (1024); beyond it: FR_ERR_BUSY */
    int32_t user_queue_capacity;    /* one user's queued images (256) */
    int32_t user_concurrency_limit; /* one user's images in flight (16) */
    int32_t max_concurrent_images;  /* all images in flight (16) */
    int32_t request_timeout_ms;     /* default deadline of a request (30000) */
    /* Pipeline. */
    struct fr_decode_params decode; /* max_image_size, byte and pixel limits */
    enum fr_detector detector;
    float min_confidence;
    int32_t max_faces;
    int32_t min_face_size;
    struct fr_tiles tiles; /* multi-scale detection (library default off; the server's setting is auto) */
    bool warmup; /* run every net once at start (readiness waits for it) */
    /* Observability. */
    int32_t metrics_top_users; /* users with their own /metrics series, by traffic (16; 0..64) */
};

/* One encoded image of a request. */
struct fr_sched_image {
    const void *data;
    size_t len;
};

/* Time one image spent in each part of the pipeline, milliseconds. The
 * net figures are the wall time of the batches the image or its faces
 * were in. */
struct fr_sched_timings {
    double queued, decode, detect, landmark, recognize, total;
};

struct fr_sched_image_result {
    enum fr_status status;       /* FR_OK, or why this image failed */
    const char *error;           /* message when status != FR_OK */
    const struct fr_faces *faces; /* when status == FR_OK */
    struct fr_sched_timings timings;
};

struct fr_sched_result {
    uint64_t id;
    /* FR_OK when the request ran (images may still fail one by one);
     * FR_ERR_TIMEOUT past its deadline, FR_ERR_CANCELLED after
     * fr_sched_cancel, FR_ERR_SHUTDOWN when the scheduler stopped first. */
    enum fr_status status;
    int32_t n_images;
    const struct fr_sched_image_result *images; /* n_images entries */
};

typedef void (*fr_sched_done_fn)(const struct fr_sched_result *r, void *ctx);

struct fr_sched_request {
    const char *user; /* fairness and limits are per user */
    const struct fr_sched_image *images;
    int32_t n_images;
    bool landmarks;     /* run the landmark net */
    bool embeddings;    /* run the recognition net (implies landmarks) */
    int32_t timeout_ms; /* 0 = request_timeout_ms */
    /* Detection of this request's images: FR_TILES_DEFAULT (zero) takes
     * the scheduler's tiles; min_face_size > 0 replaces the scheduler's,
     * FR_MIN_FACE_NONE asks for none, 0 keeps the scheduler's. Tiles are
     * detector batch items like images, and count toward the user's fair
     * share: a user whose image took k tiles waits k turns. */
    struct fr_tiles tiles;
    int32_t min_face_size;
    fr_sched_done_fn done; /* called exactly once for every admitted request */
    void *ctx;
};

#define FR_MIN_FACE_NONE (-1)

struct fr_sched;

FR_API struct fr_sched_params fr_sched_default_params(void);
/* Loads the models, plans memory, starts the threads and (params->warmup)
 * runs every net once. */
FR_API enum fr_status fr_sched_new(const struct fr_sched_params *params, struct fr_sched **out, char *err,
                                   size_t errlen);
/* Stops accepting, fails what is still queued with FR_ERR_SHUTDOWN, joins
 * the threads and frees everything. NULL is a no-op. */
FR_API void fr_sched_free(struct fr_sched *s);

/* Admits a request (the bytes are copied) or refuses it: FR_ERR_BUSY when
 * the global or the user's queue is full (*retry_after_ms, if not NULL,
 * estimates when there will be room), FR_ERR_SHUTDOWN when draining,
 * FR_ERR_INVALID for an empty request. *id identifies it for cancel. */
FR_API enum fr_status fr_sched_submit(struct fr_sched *s, const struct fr_sched_request *rq, uint64_t *id,
                                      int32_t *retry_after_ms);
/* The client went away: drop the request from every queue and free its
 * memory; its callback runs with FR_ERR_CANCELLED (unless it already ran). */
FR_API void fr_sched_cancel(struct fr_sched *s, uint64_t id);

/* Stop admitting and wait until every admitted request has completed, at
 * most timeout_ms. Returns the number of requests still unfinished. */
FR_API int32_t fr_sched_drain(struct fr_sched *s, int32_t timeout_ms);

/* True once the models are loaded and warmed up. */
FR_API bool fr_sched_ready(const struct fr_sched *s);

/* ---- observability: one stats sink, three views ----
 *
 * The scheduler records every event (a request admitted or refused, a
 * batch run, an image finished) once, into one stats sink guarded by one
 * mutex; the loop publishes its gauges (queues, in flight, memory) into the
 * same sink at the end of each iteration. Every reader below copies from
 * that sink, so /status, /metrics and the tests' counters always agree.
 * All of them may be called from any thread; none of them runs on or
 * blocks the scheduler loop beyond the sink's short critical sections. */

/* The three nets an image goes through, in order. Per-net arrays in this
 * header are indexed by it, and it names the nets in /status and in the
 * `stage` label of /metrics. */
enum fr_stage {
    FR_STAGE_DETECT = 0,
    FR_STAGE_LANDMARK = 1,
    FR_STAGE_RECOGNIZE = 2,
};
#define FR_STAGE_COUNT 3
/* "detect", "landmark", "recognize"; NULL for anything else. */
FR_API const char *fr_stage_name(enum fr_stage stage);

/* Histograms are not cumulative here: counts[i] is the number of
 * observations in (bounds[i-1], bounds[i]], and counts[nbounds] those above
 * the last bound. Exporters accumulate them (Prometheus `le` buckets). */
#define FR_METRICS_MAX_BOUNDS 16
struct fr_histogram {
    int32_t nbounds;                            /* finite upper bounds, ascending */
    double bounds[FR_METRICS_MAX_BOUNDS];
    uint64_t counts[FR_METRICS_MAX_BOUNDS + 1]; /* per bucket; [nbounds] is above the last bound */
    uint64_t count;                             /* all observations */
    double sum;                                 /* of the observed values */
};
/* Empty histogram with the given bounds (n <= FR_METRICS_MAX_BOUNDS). */
FR_API void fr_histogram_init(struct fr_histogram *h, const double *bounds, int32_t n);
/* Adds one observation (linear search: at most 16 bounds); NaN is ignored. */
FR_API void fr_histogram_observe(struct fr_histogram *h, double v);

/* -- /status: everything the document shows, typed. -- */

/* Batch sizes in /status's coarse ranges 1, 2-3, 4-7, ..., 128-255, 256+. */
#define FR_SCHED_SIZE_BUCKETS 9
/* Latency kinds, in the order of /status latency_ms. */
enum fr_sched_latency {
    FR_LATENCY_QUEUED, FR_LATENCY_DECODE, FR_LATENCY_DETECT, FR_LATENCY_LANDMARK, FR_LATENCY_RECOGNIZE,
    FR_LATENCY_TOTAL, FR_LATENCY_COUNT
};
/* "queued", ..., "total"; NULL for anything else. */
FR_API const char *fr_sched_latency_name(enum fr_sched_latency k);
/* "1", "2-3", ..., "256+"; NULL beyond FR_SCHED_SIZE_BUCKETS. */
FR_API const char *fr_sched_size_bucket_name(int32_t k);

struct fr_sched_user_status {
    char *user;                /* owned by the status (fr_sched_status_clear frees it) */
    int32_t queued, in_flight; /* images, now */
};

/* Images and requests past admission, now. */
struct fr_sched_in_flight {
    int32_t images, faces, requests;
    int32_t max_images, max_user_images; /* high-water marks since start */
};

/* Bytes: weights, arenas and staging on the device; decoded images on the host. */
struct fr_sched_memory {
    size_t device_used, device_peak, device_limit, staging;
    size_t host_used, host_peak, host_limit;
};

/* Requests since start. */
struct fr_sched_request_counts {
    int64_t admitted, rejected_busy, completed, timed_out, cancelled;
};

struct fr_sched_status {
    double uptime_s;
    bool ready;
    const char *backend;                          /* "cpu", "cuda": static, valid for the scheduler's life */
    enum fr_precision precision[FR_STAGE_COUNT];  /* what each net runs in after `precision` met the device */
    struct fr_sched_params settings;              /* as started; pointers borrowed like the scheduler's own */
    struct {
        int32_t total, capacity;                  /* images in users' queues; queue_capacity */
        int32_t decode;                           /* images decoding */
        int32_t ready[FR_STAGE_COUNT];            /* items ready for each net (filling batches included) */
        int32_t n_users;                          /* entries in users[], in arrival order */
        struct fr_sched_user_status *users;       /* every user seen, or NULL */
    } queue;
    struct fr_sched_in_flight in_flight;
    struct {
        int64_t count, items;
        int32_t limit;                               /* largest batch the memory plan allows */
        int64_t sizes[FR_SCHED_SIZE_BUCKETS];        /* batches per size range */
    } batches[FR_STAGE_COUNT];
    int64_t tile_items, turns_skipped; /* multi-scale detection: tiles run, admission turns paid for them */
    struct {
        double images_1s, faces_1s, images_60s, faces_60s; /* per second */
        int64_t images_total, faces_total, images_failed;
    } throughput;
    double busy_1s, busy_60s, busy_since_start; /* fractions of wall time the device ran batches */
    struct fr_sched_memory memory;
    struct {
        double p50, p95, p99;
    } latency_ms[FR_LATENCY_COUNT];
    struct fr_sched_request_counts requests;
};

/* Fills *st; release it with fr_sched_status_clear. FR_ERR_NOMEM leaves
 * *st cleared. */
FR_API enum fr_status fr_sched_get_status(struct fr_sched *s, struct fr_sched_status *st);
/* Frees what fr_sched_get_status allocated and zeroes *st. NULL is a no-op. */
FR_API void fr_sched_status_clear(struct fr_sched_status *st);
/* Drops every queue.users entry but the one named `user` (none when user
 * is NULL or empty): what a caller without an admin key may see. */
FR_API void fr_sched_status_keep_user(struct fr_sched_status *st, const char *user);

/* The /status document (see docs/ARCHITECTURE.md) as a malloc'd JSON
 * string to release with fr_free, or NULL when out of memory. It is the
 * one rendering of struct fr_sched_status that GET /status serves. */
FR_API char *fr_sched_status_json(struct fr_sched *s);

/* -- /metrics -- */

#define FR_METRICS_MAX_USERS 64 /* the largest metrics_top_users */
#define FR_METRICS_USER_LEN 128 /* longer user names are never ranked: they count in other */

/* Per-user figures: the `metrics_top_users` users with the most traffic
 * (images submitted, accepted or not) have their own entry; everyone else
 * is summed into `other`, so the number of series stays bounded whatever
 * the number of users. The ranking is redone once a second. A user's
 * counters are its lifetime totals; `other` accumulates only what users
 * did while they were not ranked, so every counter only grows. */
struct fr_user_metrics {
    char user[FR_METRICS_USER_LEN]; /* "_other" for the rest */
    int64_t images_submitted;       /* accepted or refused (the ranking key) */
    int64_t images_rejected;        /* refused with 429 */
    int64_t images_done, faces_done;
    int32_t queued, in_flight;      /* images, now */
};

/* Queues, in the order of queue_depth[]: admission, decode, then one per
 * stage (FR_QUEUE_DETECT + stage). */
enum { FR_QUEUE_ADMISSION, FR_QUEUE_DECODE, FR_QUEUE_DETECT, FR_QUEUE_LANDMARK, FR_QUEUE_RECOGNIZE, FR_QUEUES };
/* Waits measured by queue_seconds[]: in the user's queue before decoding,
 * then ready for each net until its batch starts (FR_WAIT_DETECT + stage). */
enum { FR_WAIT_ADMISSION, FR_WAIT_DETECT, FR_WAIT_LANDMARK, FR_WAIT_RECOGNIZE, FR_WAITS };

struct fr_sched_metrics {
    char backend[32]; /* "cpu", "cuda" */
    double uptime_s;
    bool ready;
    /* Requests and images since start. */
    struct fr_sched_request_counts requests;
    int64_t images_done, images_failed, faces_done;
    /* Now. */
    int32_t queue_depth[FR_QUEUES]; /* images (admission, decode) or items (a net's ready faces) */
    int32_t queue_capacity;
    int32_t in_flight_images, max_concurrent_images;
    int32_t in_flight_requests;
    /* Device. */
    double busy_seconds;      /* the device ran a batch, since start */
    double busy_ratio_1s;     /* of the last full second */
    struct fr_sched_memory memory;
    int32_t batch_limit[FR_STAGE_COUNT];
    /* Histograms, per net. */
    struct fr_histogram batch_size[FR_STAGE_COUNT];        /* items per batch */
    struct fr_histogram inference_seconds[FR_STAGE_COUNT]; /* wall time of a batch on the device */
    struct fr_histogram queue_seconds[FR_WAITS];
    struct fr_histogram image_seconds; /* admission to result, per image */
    /* Users. */
    int32_t users_known; /* distinct users seen since start */
    int32_t n_users;     /* entries in users[] (at most metrics_top_users) */
    struct fr_user_metrics users[FR_METRICS_MAX_USERS];
    struct fr_user_metrics other;
};

/* Fills *m (about 14 KiB: allocate it, do not put it on a small stack). */
FR_API void fr_sched_get_metrics(struct fr_sched *s, struct fr_sched_metrics *m);

/* -- counters the tests assert on. Maxima are high-water marks since start. -- */
struct fr_sched_counters {
    struct fr_sched_request_counts requests;
    int64_t images_done, faces_done;
    int32_t queued_images, inflight_images;
    int32_t max_inflight_images;      /* never above max_concurrent_images */
    int32_t max_user_inflight_images; /* never above user_concurrency_limit */
    int32_t max_queued_images;        /* never above queue_capacity */
    struct fr_sched_memory memory;
    int64_t batches[FR_STAGE_COUNT]; /* per net */
    int64_t batch_items[FR_STAGE_COUNT];
    int64_t tiles;         /* detector items that were tiles (batch_items[FR_STAGE_DETECT] counts them too) */
    int64_t turns_skipped; /* admission turns a user gave up for its tiles (fair share by cost) */
    int32_t batch_limit[FR_STAGE_COUNT]; /* the largest batch each net may run */
};
FR_API void fr_sched_get_counters(struct fr_sched *s, struct fr_sched_counters *c);

#ifdef __cplusplus
}
#endif
