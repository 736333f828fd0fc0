/* The face pipeline's private state, shared by src/face/face.c (face-api's
 * steps) and src/face/tiles.c (multi-scale detection). */
#pragma once

#include "facerec/face.h"

#define SSD_SIZE 512
#define SSD_MAPS 6

struct fr_facenet {
    struct fr_backend *be;
    struct fr_facenet_params p;
    struct fr_net *det, *lm, *rec;
    int32_t det_size;
    float *det_in, *det_out[SSD_MAPS];
    float *face_in, *face_out;
    float *ssd_boxes, *ssd_scores;
    int64_t n_anchors;
    int64_t det_items; /* detector input items run (images and tiles) */
};

/* A face while it moves through the pipeline, in JS-number precision. */
struct work {
    int32_t image;
    double box[4]; /* detection.box: x, y, w, h */
    double score;
    int32_t crop[4]; /* landmark crop, after clipAtImageBorders */
    double lm[FR_LANDMARKS][2];
    int32_t dcrop[4]; /* recognition crop */
    float desc[FR_DESCRIPTOR_DIM];
    bool has_lm, has_desc;
    int16_t src; /* detection pass: 0 the whole image, t + 1 tile t */
    bool cut;    /* a tile's detection that touches an inner tile border */
};

/* A tile: a rectangle of the decoded image that the detector sees alone. */
struct fr__tile {
    int32_t x, y, w, h;
};

/* One image's faces between the nets (see face-impl.h). The decoded and
 * original sizes are kept so that results can be built after the image
 * itself has been freed. */
struct fr_face_job {
    struct work *ws;
    int32_t n, cap;
    double W, H;   /* decoded size the work coordinates refer to */
    int32_t ow, oh; /* original upright size */
    /* Detection settings of this image (fr__face_job_set_detect); when
     * not set, the facenet's. */
    bool detect_set;
    struct fr_tiles tiles;
    int32_t min_face_size;
    int32_t n_tiles; /* tiles planned after the whole-image pass */
    struct fr__tile tile[FR_TILES_MAX];
};

/* A new zeroed work item at the end of the job, or NULL on OOM (face.c). */
struct work *fr__push_work(struct fr_face_job *j);
/* Decodes one detector output item whose input was the rectangle [rx, ry,
 * rw, rh] of the decoded image; appends its faces, in image pixels, tagged
 * with src (face.c). */
enum fr_status fr__det_decode(struct fr_facenet *fn, const int32_t region[4], float *const *outs, int32_t item,
                              struct fr_face_job *j, int16_t src);
/* The detector's input for the rectangle r = [x, y, w, h] of the image:
 * face-api's pad-to-square (bottom/right), resize and normalisation, on
 * the host or as device parameters (face.c). */
void fr__facenet_region_prepare(const struct fr_facenet *fn, const struct fr_image *img, const int32_t r[4],
                                float *dst);
struct fr_prep_image;
void fr__facenet_region_prep_params(const struct fr_facenet *fn, const struct fr_image *img, const int32_t r[4],
                                    struct fr_prep_image *out);
