/* fr_pipeline: decode workers feeding batched inference.
 *
 * Workers claim input indices in order and decode into per-input slots; the
 * caller's thread waits for the next slots in order, takes as many
 * consecutive decoded images as are ready (up to a batch), runs the nets,
 * reports, and frees them. Workers stay at most `window` inputs ahead of
 * the consumer, which bounds the memory held in decoded images. */
#include "facerec/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct fr_pipeline {
    struct fr_pipeline_params p;
    struct fr_backend *be;
    struct fr_facenet *fn;
    struct fr_decode_params dp;
};

struct slot {
    struct fr_image *img;
    enum fr_status st;
    char err[512];
    bool done;
};

struct run {
    const char *const *paths;
    int32_t n;
    struct slot *slots;
    const struct fr_decode_params *dp;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t next;     /* next index to claim */
    int32_t consumed; /* indices below this are released */
    int32_t window;
    bool stop;
};

struct fr_pipeline_params fr_pipeline_default_params(void) {
    return (struct fr_pipeline_params){
        .models_dir = "models",
        .device = FR_DEVICE_AUTO,
        .threads = 0,
        .workers = 0,
        .detector = FR_DETECTOR_SSD,
        .min_confidence = 0.5f,
        .max_faces = 100,
        .min_face_size = 0,
        .max_image_size = 2048,
        .tiny_input_size = 416,
        .landmarks = true,
        .embeddings = true,
        .batch_images = 8,
        .batch_faces = 32,
    };
}

enum fr_status fr_pipeline_new(const struct fr_pipeline_params *params, struct fr_pipeline **out, char *err,
                               size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_pipeline_params p = params ? *params : fr_pipeline_default_params();
    if (p.max_image_size < 0 || p.workers < 0 || p.threads < 0 || p.max_faces < 1) {
        fr_errf(err, errlen, "invalid pipeline parameters");
        return FR_ERR_INVALID;
    }
    struct fr_pipeline *pl = fr_calloc(1, sizeof(*pl));
    if (!pl) return FR_ERR_NOMEM;
    pl->p = p;
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = p.device;
    bp.memory_limit = p.memory_limit;
    bp.threads = p.threads;
    bp.precision = p.precision;
    enum fr_status st = fr_backend_new(&bp, &pl->be, err, errlen);
    if (st != FR_OK) goto fail;
    struct fr_facenet_params fp = fr_facenet_default_params();
    fp.models_dir = p.models_dir;
    fp.detector = p.detector;
    fp.min_confidence = p.min_confidence;
    fp.max_results = p.max_faces;
    fp.min_face_size = p.min_face_size;
    fp.tiny_input_size = p.tiny_input_size;
    fp.landmarks = p.landmarks || p.embeddings;
    fp.descriptors = p.embeddings;
    fp.max_batch_images = p.batch_images;
    fp.max_batch_faces = p.batch_faces;
    fp.tiles = p.tiles;
    if ((st = fr_facenet_new(pl->be, &fp, &pl->fn, err, errlen)) != FR_OK) goto fail;
    pl->dp = fr_decode_default_params();
    pl->dp.max_image_size = p.max_image_size;
    *out = pl;
    return FR_OK;
fail:
    fr_pipeline_free(pl);
    return st;
}

void fr_pipeline_free(struct fr_pipeline *pl) {
    if (!pl) return;
    fr_facenet_free(pl->fn);
    fr_backend_free(pl->be);
    fr_free(pl);
}

struct fr_facenet *fr_pipeline_facenet(struct fr_pipeline *pl) { return pl->fn; }

struct fr_decode_params fr_pipeline_decode_params(const struct fr_pipeline *pl) { return pl->dp; }

enum fr_status fr_pipeline_process(struct fr_pipeline *pl, const struct fr_image *const *imgs, int32_t n,
                                   struct fr_faces *out, char *err, size_t errlen) {
    return fr_facenet_process(pl->fn, imgs, n, out, err, errlen);
}

enum fr_status fr_pipeline_embed_aligned(struct fr_pipeline *pl, const struct fr_image *crop,
                                         float descriptor[FR_DESCRIPTOR_DIM]) {
    return fr_facenet_describe_crop(pl->fn, crop, descriptor);
}

static void *worker_main(void *arg) {
    struct run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->next < r->n && r->next >= r->consumed + r->window) pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop || r->next >= r->n) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        int32_t i = r->next++;
        pthread_mutex_unlock(&r->mu);
        struct slot *s = &r->slots[i];
        struct fr_image *img = NULL;
        enum fr_status st = fr_image_load(r->paths[i], r->dp, &img, s->err, sizeof(s->err));
        pthread_mutex_lock(&r->mu);
        s->img = img;
        s->st = st;
        s->done = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

enum fr_status fr_pipeline_run(struct fr_pipeline *pl, const char *const *paths, int32_t n, fr_pipeline_cb cb,
                               void *user) {
    if (n <= 0) return FR_OK;
    int32_t workers = pl->p.workers > 0 ? pl->p.workers : (pl->p.threads > 0 ? pl->p.threads : 2);
    int32_t batch = pl->p.batch_images;
    struct run r = { .paths = paths, .n = n, .dp = &pl->dp, .window = batch * 2 + workers };
    r.slots = fr_calloc((size_t)n, sizeof(*r.slots));
    pthread_t *tids = fr_calloc((size_t)workers, sizeof(*tids));
    const struct fr_image **imgs = fr_calloc((size_t)batch, sizeof(*imgs));
    struct fr_faces *faces = fr_calloc((size_t)batch, sizeof(*faces));
    int32_t *idx = fr_calloc((size_t)batch, sizeof(*idx));
    if (!r.slots || !tids || !imgs || !faces || !idx) {
        fr_free(r.slots), fr_free(tids), fr_free(imgs), fr_free(faces), fr_free(idx);
        return FR_ERR_NOMEM;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    int32_t started = 0;
    for (; started < workers; started++)
        if (pthread_create(&tids[started], NULL, worker_main, &r) != 0) break;
    enum fr_status st = started > 0 ? FR_OK : FR_ERR_INTERNAL;
    int32_t i = 0;
    while (st == FR_OK && i < n) {
        /* Wait for input i, then take the decoded images that follow it
         * without waiting (continuous, not fixed-size, batches). */
        pthread_mutex_lock(&r.mu);
        while (!r.slots[i].done) pthread_cond_wait(&r.cv, &r.mu);
        int32_t end = i;
        while (end < n && r.slots[end].done) end++;
        pthread_mutex_unlock(&r.mu);
        int32_t nb = 0;
        for (int32_t k = i; k < end && nb < batch; k++)
            if (r.slots[k].st == FR_OK) idx[nb] = k, imgs[nb++] = r.slots[k].img;
        int32_t last = nb == batch ? idx[nb - 1] + 1 : end;
        char err[512] = "";
        if (nb > 0) st = fr_facenet_process(pl->fn, imgs, nb, faces, err, sizeof(err));
        for (int32_t k = i, b = 0; k < last; k++) {
            struct slot *s = &r.slots[k];
            struct fr_pipeline_result res = { .index = k, .name = paths[k], .status = s->st };
            if (s->st != FR_OK) {
                res.error = s->err;
            } else if (st != FR_OK) {
                res.status = st;
                res.error = err;
            } else {
                res.faces = &faces[b];
                res.image = s->img;
            }
            if (s->st == FR_OK) b++;
            cb(&res, user);
        }
        for (int32_t b = 0; b < nb; b++) fr_faces_clear(&faces[b]);
        pthread_mutex_lock(&r.mu);
        for (int32_t k = i; k < last; k++) {
            fr_image_free(r.slots[k].img);
            r.slots[k].img = NULL;
        }
        r.consumed = last;
        pthread_cond_broadcast(&r.cv);
        pthread_mutex_unlock(&r.mu);
        i = last;
    }
    pthread_mutex_lock(&r.mu);
    r.stop = true;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (int32_t t = 0; t < started; t++) pthread_join(tids[t], NULL);
    for (int32_t k = 0; k < n; k++) fr_image_free(r.slots[k].img);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    fr_free(r.slots), fr_free(tids), fr_free(imgs), fr_free(faces), fr_free(idx);
    return st;
}
