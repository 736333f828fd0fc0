/* facerec faces: face-api's detection, landmark and descriptor pipeline.
 *
 * fr_facenet bundles the nets (SSD or tiny detector, landmark net,
 * recognition net) and reproduces face-api's exact pre- and post-processing:
 * pad to square, TensorFlow's legacy bilinear resize, per-net normalisation,
 * anchor decoding, NMS, landmark un-padding and the dlib-style aligned crop
 * for the recognition net. All coordinates are in the pixels of the upright
 * original image (an image decoded with max_image_size is processed at its
 * decoded size and the results are scaled back by orig_width / width).
 *
 * Batching: fr_facenet_process() runs detection over all images as batches
 * (then over the tiles that params.tiles asks for, see fr_tiles), then every face of every image through the landmark net as batches, then
 * through the recognition net as batches.
 *
 * Ownership: fr_facenet borrows the backend. Results (struct fr_faces) are
 * owned by the caller and released with fr_faces_clear(). One thread at a
 * time may use a facenet.
 *
 * Example:
 *     struct fr_facenet_params fp = fr_facenet_default_params();
 *     fp.models_dir = "models";
 *     struct fr_facenet *fn;
 *     if (fr_facenet_new(be, &fp, &fn, err, sizeof err) != FR_OK) ...
 *     struct fr_faces res[1];
 *     fr_facenet_process(fn, &img, 1, res, err, sizeof err);
 *     for (int32_t i = 0; i < res[0].count; i++) use(res[0].faces[i].descriptor);
 *     fr_faces_clear(&res[0]);
 */
#pragma once

#include <stdbool.h>

#include "facerec/image.h"
#include "facerec/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_LANDMARKS 68
#define FR_DESCRIPTOR_DIM 128

enum fr_detector {
    FR_DETECTOR_SSD = 0,  /* SSD MobileNetV1: accurate, the default */
    FR_DETECTOR_TINY = 1, /* TinyFaceDetector: fast, weaker on small faces */
};

struct fr_face {
    float box[4];                     /* x, y, width, height (pixels) */
    float score;                      /* detector confidence in (0, 1) */
    float landmarks[FR_LANDMARKS][2]; /* x, y (pixels); valid when has_landmarks */
    float aligned_box[4];             /* face-api alignedRect: landmarks' box padded by 20% */
    float descriptor[FR_DESCRIPTOR_DIM]; /* valid when has_descriptor; not normalised */
    bool has_landmarks;
    bool has_descriptor;
};

struct fr_faces {
    int32_t count;
    struct fr_face *faces; /* owned; release with fr_faces_clear */
    int32_t width, height; /* original image size the coordinates refer to */
};

/* Multi-scale detection (src/face/tiles.c). Besides the whole image, the
 * detector may look at overlapping tiles of it, each resized to the net's
 * input, so that faces too small for the whole-image pass are found; the
 * passes' faces are merged so that each face comes out once. */
enum fr_tiles_mode {
    FR_TILES_DEFAULT = 0, /* a request: the scheduler's setting; elsewhere: off */
    FR_TILES_OFF = 1,     /* the whole image only: face-api's output, bit for bit */
    FR_TILES_AUTO = 2,    /* tiles only where faces of min_face_size are too small for the whole pass */
    FR_TILES_GRID = 3,    /* always cols x rows tiles */
};

#define FR_TILES_MAX 16 /* tiles of one image (a grid is at most 4x4) */

struct fr_tiles {
    enum fr_tiles_mode mode;
    int32_t cols, rows; /* FR_TILES_GRID: 1..4 each, not both 1 */
};

/* "auto", "off" or "NxM" (N columns, M rows, e.g. "2x2"). */
FR_API enum fr_status fr_tiles_parse(const char *s, struct fr_tiles *out, char *err, size_t errlen);
/* The setting as text ("auto", "off", "3x2"). */
FR_API void fr_tiles_format(const struct fr_tiles *t, char *buf, size_t len);

struct fr_facenet_params {
    const char *models_dir;
    enum fr_detector detector;
    float min_confidence;    /* SSD: keep detections scoring above this (face-api default 0.5) */
    int32_t max_results;     /* at most this many faces per image, best first (face-api default 100) */
    int32_t min_face_size;   /* drop faces whose box is narrower or shorter than this (original pixels); 0 = keep all */
    int32_t tiny_input_size; /* tiny: input side, multiple of 32 in [128, 608] (default 416) */
    float tiny_score_threshold; /* tiny: default 0.5 */
    bool landmarks;          /* run the landmark net */
    bool descriptors;        /* run the recognition net (needs landmarks) */
    int32_t max_batch_images; /* detector batch */
    int32_t max_batch_faces;  /* landmark and recognition batch */
    bool staging;             /* allocate the buffers fr_facenet_process needs (false: a scheduler brings its own) */
    struct fr_tiles tiles;    /* multi-scale detection (default off: face-api's output) */
};

struct fr_facenet;

FR_API struct fr_facenet_params fr_facenet_default_params(void);
FR_API enum fr_status fr_facenet_new(struct fr_backend *be, const struct fr_facenet_params *params,
                                     struct fr_facenet **out, char *err, size_t errlen);
FR_API void fr_facenet_free(struct fr_facenet *fn);

/* Detect (and, per params, landmark and describe) the faces of n images.
 * out[i] receives image i's faces in face-api's order (by detector score).
 * On error every out[i] is left empty. */
FR_API enum fr_status fr_facenet_process(struct fr_facenet *fn, const struct fr_image *const *imgs, int32_t n,
                                         struct fr_faces *out, char *err, size_t errlen);

/* Descriptor of an already aligned face crop (any size; padded to square
 * and resized to 150x150 as face-api does). */
FR_API enum fr_status fr_facenet_describe_crop(struct fr_facenet *fn, const struct fr_image *crop,
                                               float descriptor[FR_DESCRIPTOR_DIM]);

FR_API void fr_faces_clear(struct fr_faces *f);
/* Index of the largest face (by box area) that has a descriptor, or -1. */
FR_API int32_t fr_faces_largest(const struct fr_faces *f);

/* Euclidean distance between descriptors (face-api / dlib convention:
 * same person below 0.6). */
FR_API float fr_descriptor_distance(const float *a, const float *b);

/* Detector input items fr_facenet_process has run since creation: one per
 * image plus one per tile (a measure of detector cost). */
FR_API int64_t fr_facenet_detector_items(const struct fr_facenet *fn);

/* Net access for tools and benchmarks (NULL when not loaded). */
FR_API struct fr_net *fr_facenet_net(struct fr_facenet *fn, enum fr_net_kind kind);

#ifdef __cplusplus
}
#endif
