/* facerec nets: the four face-api networks on a backend.
 *
 * An fr_net is one network compiled on one backend. Weights are loaded from
 * face-api's tfjs model files, folded (batch norm, dlib scale layers) and
 * packed once. Activation memory is planned per batch size: one arena sized
 * for `max_batch` is reserved at creation, so forward passes allocate
 * nothing. fr_net_plan_bytes() reports that size for any batch, and is the
 * number the scheduler's memory budget uses.
 *
 * Inputs are float32 NHWC batches, already pre-processed (see face.h for
 * face-api's exact pre- and post-processing). Outputs are float32 NHWC.
 *
 * Ownership and threads: the net borrows the backend (free nets first);
 * one thread at a time may call into a net.
 *
 * Example:
 *     struct fr_net_params np = fr_net_default_params(FR_NET_RECOGNITION);
 *     np.models_dir = "models";
 *     struct fr_net *net;
 *     if (fr_net_new(be, &np, &net, err, sizeof err) != FR_OK) ...
 *     float *outs[1] = { descriptors };          // n * 128 floats
 *     fr_net_forward(net, input, n, outs);       // input: n * 150*150*3 floats
 */
#pragma once

#include "facerec/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fr_net_kind {
    FR_NET_SSD = 0,         /* SSD MobileNetV1 face detector, 512x512 input */
    FR_NET_TINY = 1,        /* TinyFaceDetector (tiny YOLOv2), input 128..608 step 32 */
    FR_NET_LANDMARK = 2,    /* 68-point landmark net, 112x112 input */
    FR_NET_RECOGNITION = 3, /* dlib ResNet-34-style recognition net, 150x150 input, 128-d output */
};
#define FR_NET_COUNT 4

struct fr_net_params {
    enum fr_net_kind kind;
    const char *models_dir; /* directory with face-api's *-weights_manifest.json and .bin files */
    int32_t max_batch;      /* largest batch a forward pass may take; its arena is reserved up front */
    int32_t input_size;     /* TinyFaceDetector only: square input side, multiple of 32 in [128, 608] */
};

struct fr_net;

FR_API struct fr_net_params fr_net_default_params(enum fr_net_kind kind);
/* The model file base name for a kind ("face_recognition_model"). */
FR_API const char *fr_net_model_name(enum fr_net_kind kind);

FR_API enum fr_status fr_net_new(struct fr_backend *be, const struct fr_net_params *params, struct fr_net **out,
                                 char *err, size_t errlen);
FR_API void fr_net_free(struct fr_net *net);

FR_API enum fr_net_kind fr_net_kind(const struct fr_net *net);
FR_API int32_t fr_net_max_batch(const struct fr_net *net);
/* Input item shape (NHWC without N). */
FR_API void fr_net_input_shape(const struct fr_net *net, int32_t *h, int32_t *w, int32_t *c);
FR_API int32_t fr_net_output_count(const struct fr_net *net);
FR_API void fr_net_output_shape(const struct fr_net *net, int32_t i, int32_t *h, int32_t *w, int32_t *c);
/* The precision this net runs in on its backend: the backend's setting
 * resolved for this net and this CPU (never FR_PRECISION_AUTO). */
FR_API enum fr_precision fr_net_precision(const struct fr_net *net);
/* Floating-point operations (2 per multiply-add) of one item's forward pass. */
FR_API double fr_net_flops(const struct fr_net *net);

/* SSD only: the anchor boxes, count x (ymin, xmin, ymax, xmax); NULL otherwise. */
FR_API const float *fr_net_anchors(const struct fr_net *net, int64_t *count);

/* Activation arena bytes needed for a batch of `batch` items (compiles that
 * batch size if it was not yet). Returns 0 on failure. */
FR_API size_t fr_net_plan_bytes(struct fr_net *net, int32_t batch);

/* Run n items (1 <= n <= max_batch). input: n items NHWC; outputs[i]: room
 * for n items of output i. Blocks until the results are in `outputs`. */
FR_API enum fr_status fr_net_forward(struct fr_net *net, const float *input, int32_t n, float *const *outputs);

#ifdef __cplusplus
}
#endif
