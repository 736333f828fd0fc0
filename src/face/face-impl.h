/* face-api pre/post-processing steps, exposed to tests (src/face/face.c). */
#pragma once

#include "facerec/face.h"

/* face-api NetInput.toBatchTensor(size, center) for the crop [x, y, w, h]:
 * pad to square with zeros (centred or bottom/right), legacy bilinear resize
 * to size x size, float RGB 0..255 into dst. */
void fr__face_to_input(const struct fr_image *img, int32_t x, int32_t y, int32_t w, int32_t h, bool center,
                       int32_t size, float *dst);

/* Normalisations, in face-api's float32 operation order. */
void fr__norm_ssd(float *x, size_t n);                        /* x / 127.5 - 1 */
void fr__norm_mean(float *x, size_t pixels, const float mean[3]); /* (x - mean) / 255 */

extern const float fr__mean_rgb_face[3]; /* landmark and recognition nets */
extern const float fr__mean_rgb_tiny[3];

/* SSD output layer: decode the 6 predictor maps of one batch item into
 * boxes [anchors][4] (ymin, xmin, ymax, xmax) and sigmoid scores [anchors]. */
void fr__ssd_decode(struct fr_net *ssd, float *const *maps, int32_t item, float *boxes, float *scores);

/* Landmark post-processing (FaceLandmark68NetBase.postProcess) for a crop
 * of w x h pixels: 136 net outputs -> 68 relative (x, y) pairs. */
void fr__landmark_postprocess(const float *out, int32_t w, int32_t h, float *rel);

/* ---- one image's faces through the nets, for schedulers ----
 *
 * fr_facenet_process is built from these; the server's scheduler calls
 * them to run batches that mix faces of many images:
 *   fr__facenet_det_prepare(img -> one detector input item), forward the
 *   detector, fr__facenet_det_collect(item -> job); then for the landmark
 *   stage and then the recognition stage, for each face:
 *   fr__face_job_prepare (false: the face has no crop, skip it), forward,
 *   fr__face_job_collect; finally fr__face_job_result.
 * The image must stay alive until its last prepare; the job keeps its
 * sizes for the result. Detection uses scratch buffers in the facenet, so
 * det_collect calls must not run concurrently on one facenet. */
struct fr_face_job;
struct fr_face_job *fr__face_job_new(void);
void fr__face_job_free(struct fr_face_job *j);
int32_t fr__face_job_count(const struct fr_face_job *j);
size_t fr__facenet_det_item_floats(const struct fr_facenet *fn);
void fr__facenet_det_prepare(const struct fr_facenet *fn, const struct fr_image *img, float *dst);
/* The same detector input as det_prepare, as parameters for a backend
 * that prepares it on the device (src/nn/prep.h); det_on_device says
 * whether the detector's backend does. */
struct fr_prep_image;
void fr__facenet_det_prep_params(const struct fr_facenet *fn, const struct fr_image *img, struct fr_prep_image *out);
bool fr__facenet_det_on_device(const struct fr_facenet *fn);
enum fr_status fr__facenet_det_collect(struct fr_facenet *fn, const struct fr_image *img, float *const *outs,
                                       int32_t item, struct fr_face_job *j);
bool fr__face_job_prepare(struct fr_face_job *j, int32_t face, bool landmarks, const struct fr_image *img,
                          float *dst);
void fr__face_job_collect(struct fr_face_job *j, int32_t face, bool landmarks, const float *out);
enum fr_status fr__face_job_result(const struct fr_face_job *j, struct fr_faces *out);

/* ---- multi-scale detection (src/face/tiles.c) ----
 *
 * After det_collect (the whole-image pass), fr__facenet_tiles_plan decides
 * the image's tiles from its settings (fr__face_job_set_detect, else the
 * facenet's): none for off, the grid for NxM, and for auto only where
 * faces of min_face_size can be too small for the whole pass (see
 * tiles.c). Each tile is one more detector item: tile_prepare (or
 * tile_prep_params) makes its input, tile_collect reads its faces. Once
 * every tile is collected, fr__face_job_merge keeps each face once. With no
 * tiles the job is left exactly as the whole pass made it. */
/* Whether a tiles setting is one fr_tiles_parse could have made. */
bool fr__tiles_valid(const struct fr_tiles *t);
void fr__face_job_set_detect(struct fr_face_job *j, const struct fr_tiles *tiles, int32_t min_face_size);
int32_t fr__facenet_tiles_plan(const struct fr_facenet *fn, struct fr_face_job *j);
void fr__facenet_tile_prepare(const struct fr_facenet *fn, const struct fr_image *img, const struct fr_face_job *j,
                              int32_t tile, float *dst);
void fr__facenet_tile_prep_params(const struct fr_facenet *fn, const struct fr_image *img,
                                  const struct fr_face_job *j, int32_t tile, struct fr_prep_image *out);
enum fr_status fr__facenet_tile_collect(struct fr_facenet *fn, float *const *outs, int32_t item,
                                        struct fr_face_job *j, int32_t tile);
void fr__face_job_merge(const struct fr_facenet *fn, struct fr_face_job *j);
/* fr_facenet_process's tile passes over n images whose whole pass is done. */
enum fr_status fr__facenet_run_tiles(struct fr_facenet *fn, const struct fr_image *const *imgs,
                                     struct fr_face_job **jobs, int32_t n);
