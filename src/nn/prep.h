/* Net-input preparation on the device: what a backend's optional
 * prep_image method (backend-impl.h) is asked to do.
 *
 * The same arithmetic as the host path of src/face/face.c, stated as data:
 * the crop [x, y, w, h] of a uint8 RGB image sits at (off_x, off_y) on a
 * zero canvas of canvas_w x canvas_h pixels (face-api's padToSquare), the
 * canvas is resized to out_w x out_h with TensorFlow's legacy bilinear
 * (src/image/resize.c) and each channel value v becomes, in float32 and in
 * this order, (v - sub[c]) / div - post. With sub = 0, div = 127.5, post = 1
 * that is the SSD's x / 127.5 - 1 bit for bit (v - 0 and v - 0 are exact);
 * with sub = mean, div = 255, post = 0 it is (x - mean) / 255. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct fr_prep_params {
    int32_t x, y, w, h;
    int32_t off_x, off_y;
    int32_t canvas_w, canvas_h;
    int32_t out_w, out_h;
    float sub[3];
    float div, post;
};

/* One image to prepare: the pixels stay owned by the caller and must stay
 * alive until the forward pass that uses them has returned. */
struct fr_prep_image {
    const uint8_t *data; /* RGB, `stride` bytes per row */
    int32_t width, height;
    size_t stride;
    struct fr_prep_params p;
};
