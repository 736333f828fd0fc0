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
 * Thread-safety: submit, cancel, status and drain may be called from any
 * thread. The callback runs on the scheduler loop thread and must not
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

/* The /status document (see docs/ARCHITECTURE.md): a malloc'd JSON string
 * to release with fr_free. */
FR_API char *fr_sched_status_json(struct fr_sched *s);

/* Internal counters the tests assert on. Maxima are high-water marks since
 * start. */
struct fr_sched_counters {
    int64_t admitted, rejected_busy, completed, timed_out, cancelled;
    int64_t images_done, faces_done;
    int32_t queued_images, inflight_images;
    int32_t max_inflight_images;      /* never above max_concurrent_images */
    int32_t max_user_inflight_images; /* never above user_concurrency_limit */
    int32_t max_queued_images;        /* never above queue_capacity */
    size_t device_memory_used, device_memory_limit, device_memory_peak;
    size_t host_memory_used, host_memory_peak;
    int64_t batches[3];       /* per net: detect, landmark, recognize */
    int64_t batch_items[3];
    int64_t tiles;            /* detector items that were tiles (batch_items[0] counts them too) */
    int64_t turns_skipped;    /* admission turns a user gave up for its tiles (fair share by cost) */
    int32_t batch_limit[3];   /* the largest batch each net may run */
};
FR_API void fr_sched_get_counters(struct fr_sched *s, struct fr_sched_counters *c);

#ifdef __cplusplus
}
#endif
