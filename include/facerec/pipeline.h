/* facerec pipeline: files or images in, faces out.
 *
 * fr_pipeline owns a backend and a face pipeline (fr_facenet) and adds
 * decoding on worker threads: while the nets run on one batch of images,
 * the workers decode the next ones. Results come back through a callback,
 * in input order, one per input; a file that cannot be read or decoded
 * yields a result with its status and message and does not stop the run.
 *
 * Coordinates are in the original, upright image's pixels. Descriptors are
 * face-api's raw 128-d vectors: compare them with fr_descriptor_distance
 * (face.h); the tolerance and fr_similarity, which read a distance as "same
 * person", are the search module's (search.h).
 *
 * Ownership: the pipeline owns its backend and nets. Results passed to the
 * callback (faces, image) are valid only during the callback.
 * Thread-safety: one thread at a time may call into a pipeline; callbacks
 * run on that thread.
 *
 * Example:
 *     struct fr_pipeline_params pp = fr_pipeline_default_params();
 *     struct fr_pipeline *pl;
 *     if (fr_pipeline_new(&pp, &pl, err, sizeof err) != FR_OK) ...
 *     fr_pipeline_run(pl, paths, n, on_result, ctx);
 *     fr_pipeline_free(pl);
 */
#pragma once

#include "facerec/face.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fr_pipeline_params {
    const char *models_dir;   /* face-api model directory */
    enum fr_device device;    /* auto, cpu or cuda */
    size_t memory_limit;      /* device memory budget in bytes; 0 = backend default */
    int32_t threads;          /* compute threads; 0 = all cores */
    enum fr_precision precision; /* fp32 (default), or bf16 / int8 / auto on the CPU (backend.h) */
    int32_t workers;          /* decode threads; 0 = as many as compute threads */
    enum fr_detector detector;
    float min_confidence;     /* detector score threshold (0.5) */
    int32_t max_faces;        /* per image (100) */
    int32_t min_face_size;    /* original pixels; smaller faces are dropped (0 = keep all) */
    int32_t max_image_size;   /* decode downscale limit (2048; 0 = full size) */
    int32_t tiny_input_size;  /* TinyFaceDetector input (416) */
    bool landmarks;           /* run the landmark net */
    bool embeddings;          /* run the recognition net (implies landmarks) */
    int32_t batch_images;     /* detector batch (8) */
    int32_t batch_faces;      /* landmark / recognition batch (32) */
    struct fr_tiles tiles;    /* multi-scale detection (off: face-api's output; the CLI's default is auto) */
};

struct fr_pipeline_result {
    int32_t index;                 /* position in the input list */
    const char *name;              /* the path, or NULL for in-memory images */
    enum fr_status status;         /* FR_OK or why this input failed */
    const char *error;             /* message when status != FR_OK */
    const struct fr_faces *faces;  /* when status == FR_OK */
    const struct fr_image *image;  /* the decoded (possibly downscaled) image, when status == FR_OK */
};

typedef void (*fr_pipeline_cb)(const struct fr_pipeline_result *r, void *user);

struct fr_pipeline;

FR_API struct fr_pipeline_params fr_pipeline_default_params(void);
FR_API enum fr_status fr_pipeline_new(const struct fr_pipeline_params *params, struct fr_pipeline **out, char *err,
                                      size_t errlen);
FR_API void fr_pipeline_free(struct fr_pipeline *pl);

/* Decode and process n files; cb is called once per file, in order. Returns
 * FR_OK when the run completed (individual files may still have failed), or
 * the status of a failure that stopped it (OOM, backend). */
FR_API enum fr_status fr_pipeline_run(struct fr_pipeline *pl, const char *const *paths, int32_t n,
                                      fr_pipeline_cb cb, void *user);

/* Process already decoded images; out[i] receives image i's faces. */
FR_API enum fr_status fr_pipeline_process(struct fr_pipeline *pl, const struct fr_image *const *imgs, int32_t n,
                                          struct fr_faces *out, char *err, size_t errlen);

/* Descriptor of an already aligned face crop (e.g. 150x150), no detection. */
FR_API enum fr_status fr_pipeline_embed_aligned(struct fr_pipeline *pl, const struct fr_image *crop,
                                                float descriptor[FR_DESCRIPTOR_DIM]);

/* The decode parameters the pipeline uses (max_image_size applied). */
FR_API struct fr_decode_params fr_pipeline_decode_params(const struct fr_pipeline *pl);

/* The pipeline's face nets (for fr_facenet_detector_items and tools). */
FR_API struct fr_facenet *fr_pipeline_facenet(struct fr_pipeline *pl);

#ifdef __cplusplus
}
#endif
