/* Scheduler internals shared by the files of src/sched/, which call each
 * other in one direction only, bottom to top:
 *
 *   sched-stats.c   the one stats sink (knows nothing of the structs below)
 *   queue.c         queue mechanism: FIFOs, per-user queues, submit,
 *                   cancel, drain, admission under the caps
 *   batch.c         batching policy: which batch runs when (dynamic or
 *                   static), and how many images static batching admits
 *   sched.c         the loop: image and request states, batch filling and
 *                   collection, the threads, publishing the gauges
 *   sched-new.c     construction: memory plan, start-up, shutdown
 *   sched-status.c  readers: /status (typed and JSON), /metrics, counters
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "facerec/sched.h"
#include "sched-stats.h"

/* An image's explicit state; the queue it sits in follows from it. */
enum fr__img_state {
    FR__IMG_QUEUED,    /* in its user's queue */
    FR__IMG_DECODING,  /* with a decode worker */
    FR__IMG_DETECT,    /* ready for, or in, a detection batch */
    FR__IMG_LANDMARK,  /* its faces ready for, or in, landmark batches */
    FR__IMG_RECOGNIZE, /* its faces ready for, or in, recognition batches */
    FR__IMG_DONE,
    FR__IMG_FAILED,
};

enum fr__req_state { FR__REQ_ACTIVE, FR__REQ_FINISHED };

struct fr__req;
struct fr__img;

struct fr__queue {
    struct fr__img *head, *tail;
    int32_t n;
};

struct fr__img {
    struct fr__req *rq;
    int32_t index;
    enum fr__img_state state;
    uint8_t *bytes; /* encoded copy, freed after decoding */
    size_t len;
    struct fr_image *image; /* decoded; freed once its faces are cropped */
    float *det_in;          /* the detector's input, made by the decode worker */
    size_t host_bytes;      /* counted against host_memory_limit */
    struct fr_face_job *job;
    int32_t det_tiles;   /* tiles planned after the whole-image pass (0: none) */
    int32_t det_next;    /* next tile to batch */
    int32_t det_pending; /* tiles in batches not yet collected */
    int32_t next_face; /* current face stage: next face to batch */
    int32_t pending;   /* current face stage: faces in batches not yet collected */
    int32_t refs;      /* a worker or batch items referring to this image */
    bool in_flight, image_seen;
    enum fr_status st;
    char err[256];
    struct fr_faces faces; /* the result */
    struct fr_sched_timings tm;
    double t_admit, t_dec0, t_dec1, t_ready;
    int64_t last_batch[FR_STAGE_COUNT]; /* sequence of the last batch timed for this image */
    struct fr__img *prev, *next;
    struct fr__queue *q; /* the queue the image is in, or NULL */
};

struct fr__user {
    struct fr__user *next;
    atomic_int queued;  /* images in the user's queue (raised by submitters) */
    int32_t inflight;   /* loop only */
    int32_t debt;       /* loop only: admission turns owed for tiles (deficit round-robin by cost) */
    struct fr__queue queue; /* loop only */
    struct fr__stats_user stats; /* its figures in the stats sink */
    char name[];
};

struct fr__req {
    uint64_t id;
    struct fr__user *user;
    enum fr__req_state state;
    int32_t n, remaining;
    struct fr__img *imgs;
    struct fr_sched_image_result *results;
    bool landmarks, embeddings;
    struct fr_tiles tiles; /* resolved: never FR_TILES_DEFAULT */
    int32_t min_face_size; /* resolved: >= 0 */
    double deadline;
    fr_sched_done_fn done;
    void *ctx;
    struct fr__req *next; /* in the submitted list, then the live list */
};

struct fr__batch_item {
    struct fr__img *im;
    int32_t face; /* face stages: the face; detection: -1 the whole image, else the tile */
};

struct fr__batch {
    enum fr_stage stage;
    int32_t n;
    struct fr__batch_item *items;
    float *in;
    /* Detector batches when the backend prepares inputs on the device
     * (sched->det_on_device): each item's image and parameters instead of
     * its floats in `in`. NULL otherwise. */
    struct fr_prep_image *prep;
    float *outs[8];
    double *waits;  /* scratch for the stats sink: one per item */
    double t_first; /* when its oldest item became ready */
    double t0, t1;  /* device run */
    enum fr_status status;
    int64_t seq;
};


struct fr_sched {
    struct fr_sched_params p;
    struct fr_backend *be;
    struct fr_facenet *fn;
    struct fr_net *nets[FR_STAGE_COUNT];
    bool det_on_device; /* the detector input is made on the device from uint8 */
    int32_t limit[FR_STAGE_COUNT];  /* largest batch per stage */
    size_t in_item[FR_STAGE_COUNT]; /* floats per input item */
    size_t out_item[FR_STAGE_COUNT]; /* floats per output item (face stages) */
    size_t staging_bytes;
    size_t device_limit;
    struct fr__batch slots[FR_STAGE_COUNT][2];
    int64_t batch_seq;

    /* Mailbox: guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv, drain_cv;
    struct fr__req *submitted;
    struct fr__queue decoded;
    struct fr__batch *device_done;
    uint64_t *cancels;
    int32_t ncancel, capcancel;
    bool stop, draining;
    int32_t outstanding; /* admitted requests whose callback has not run */
    uint64_t next_id;
    struct fr__user *users; /* appended under mu; read by the loop under mu */
    int32_t nusers;
    atomic_int queued;
    int32_t max_queued; /* high-water mark of queued images */

    /* Decode queue: guarded by dmu. */
    pthread_mutex_t dmu;
    pthread_cond_t dcv;
    struct fr__queue decode_q;
    bool stop_workers;
    pthread_t *workers;
    int32_t nworkers;

    /* Device: guarded by xmu. */
    pthread_mutex_t xmu;
    pthread_cond_t xcv;
    struct fr__batch *device_todo;
    bool stop_device;
    atomic_bool device_idle;
    pthread_t device;

    /* Loop thread state. */
    pthread_t loop;
    bool loop_started, device_started;
    atomic_bool ready_flag;
    struct fr__req *live;
    struct fr__user *rr;
    struct fr__queue ready[FR_STAGE_COUNT];
    int32_t faces_ready[FR_STAGE_COUNT];
    struct fr__batch *running;    /* on the device */
    struct fr__batch *collecting; /* finished, results being read */
    int32_t inflight, decoding;
    /* Static batching only: the current batch of images has gone to the
     * detector, so no image is admitted until all of them have finished. */
    bool static_closed;
    size_t host_used;
    /* Peaks, memory and limits, kept by the loop and published with the
     * rest of its gauges (fr__sched_publish). */
    struct fr__stats_gauges gauges;

    /* Every event and the published gauges: the one stats sink. */
    struct fr__stats stats;
};

/* ---- queue.c: queue mechanism ---- */
void fr__queue_push(struct fr__queue *q, struct fr__img *im);
void fr__queue_remove(struct fr__img *im);
/* Items an image still offers a stage's batches: 1 or its tiles left for
 * detection, its faces left for a face stage. */
int32_t fr__img_ready_items(const struct fr__img *im, enum fr_stage stage);
/* Takes an image out of whichever queue holds it, keeping the counts of
 * queued images and ready items right. */
void fr__queue_take_out(struct fr_sched *s, struct fr__img *im);
/* Moves images from users' queues to the decoders, deficit round-robin,
 * while fewer than cap images are in flight (loop thread). */
void fr__queue_admit(struct fr_sched *s, int32_t cap);
/* Frees a request that never reached the loop (bytes, images, results). */
void fr__req_discard(struct fr__req *rq);

/* ---- batch.c: batching policy ---- */
/* The slot of a stage that is neither running nor holding a batch that
 * waits to run; NULL when both are busy. */
struct fr__batch *fr__batch_filling(struct fr_sched *s, enum fr_stage stage);
/* Whether input preparation may go on now (static batching does not
 * overlap it with compute). */
bool fr__batch_may_fill(const struct fr_sched *s);
/* Sends the filling batch of the most downstream eligible stage to the
 * idle device; *wake_at is lowered to when a waiting batch becomes due. */
void fr__batch_try_dispatch(struct fr_sched *s, double now, double *wake_at);
/* How many images may be in flight now: max_concurrent_images, or under
 * static batching the current batch's images until all have finished. */
int32_t fr__batch_admit_cap(struct fr_sched *s);

/* ---- sched.c: the loop ---- */
/* Thread bodies, started by fr_sched_new. */
void *fr__sched_loop_main(void *arg);
void *fr__sched_decode_main(void *arg);
void *fr__sched_device_main(void *arg);
/* Publishes the loop's gauges into the stats sink (loop thread, or
 * fr_sched_new before the loop starts). */
void fr__sched_publish(struct fr_sched *s);

static inline void fr__sched_wake(struct fr_sched *s) { pthread_cond_signal(&s->cv); }

static inline struct timespec fr__abs_time(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    return ts;
}
