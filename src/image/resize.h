/* Internal resize kernels (src/image/resize.c). */
#pragma once

#include "facerec/image.h"

/* A crop of an image placed on a zero canvas, as face-api builds net inputs:
 * the crop [x, y, w, h] of `img` sits at (off_x, off_y) on a canvas of
 * canvas_w x canvas_h pixels whose other pixels are 0. */
struct fr_canvas {
    const struct fr_image *img;
    int32_t x, y, w, h;
    int32_t off_x, off_y;
    int32_t canvas_w, canvas_h;
};

/* tf.image.resizeBilinear(canvas, [out_h, out_w], alignCorners=false,
 * halfPixelCenters=false) - TensorFlow's legacy bilinear - into float RGB
 * (values 0..255), NHWC with row stride out_w * 3. */
void fr__resize_bilinear_tf(const struct fr_canvas *cv, int32_t out_w, int32_t out_h, float *dst);
