/* facerec weights: loading tfjs weight manifests (face-api's model format).
 *
 * A model named NAME lives in a directory as NAME-weights_manifest.json plus
 * the binary shards it lists. Tensors are stored as float32 (uint8/uint16
 * affine-quantized values are expanded as q * scale + min, exactly as tfjs
 * computes them; float16 is widened; int32 tensors become floats).
 *
 * Ownership: an fr_weights owns all tensor data; pointers returned by
 * fr_weights_get() stay valid until fr_weights_free(). Read-only after load,
 * so it may be shared across threads. */
#pragma once

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_WEIGHTS_MAX_DIMS 4

struct fr_weights;

struct fr_weight_tensor {
    const char *name;
    int32_t ndim;
    int64_t shape[FR_WEIGHTS_MAX_DIMS];
    int64_t numel;
    const float *data;
};

/* Load dir/NAME-weights_manifest.json and its shards. Errors (missing file,
 * malformed JSON, truncated shard, unknown dtype) return FR_ERR_MODEL with a
 * message naming the file. */
FR_API enum fr_status fr_weights_load(const char *dir, const char *name, struct fr_weights **out,
                                      char *err, size_t errlen);
FR_API void fr_weights_free(struct fr_weights *w);

FR_API int32_t fr_weights_count(const struct fr_weights *w);
FR_API const struct fr_weight_tensor *fr_weights_at(const struct fr_weights *w, int32_t i);

/* Find tensor `name` and check its shape: ndim dims equal to shape[] (a
 * negative entry matches any size). FR_ERR_MODEL if missing, FR_ERR_SHAPE if
 * the shape differs; err names the model, the tensor and both shapes. */
FR_API enum fr_status fr_weights_get(const struct fr_weights *w, const char *name, int32_t ndim,
                                     const int64_t *shape, const struct fr_weight_tensor **out,
                                     char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
