/* facerec images: decoding photos into upright 8-bit RGB pixel buffers.
 *
 * An fr_image owns its pixel buffer (row-major, 3 bytes per pixel, `stride`
 * bytes per row). Images are immutable once returned; they may be shared
 * across threads for reading. fr_image_free(NULL) is safe.
 *
 * Example:
 *     struct fr_image *img;
 *     char err[256];
 *     if (fr_image_load("a.jpg", NULL, &img, err, sizeof err) != FR_OK)
 *         fprintf(stderr, "a.jpg: %s\n", err);
 */
#pragma once

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fr_image {
    int32_t width;   /* pixels */
    int32_t height;  /* pixels */
    size_t stride;   /* bytes per row, >= 3 * width */
    uint8_t *data;   /* RGB8, owned by the image */
};

struct fr_decode_params {
    size_t max_bytes;      /* refuse encoded inputs larger than this (bytes) */
    int64_t max_pixels;    /* refuse images with more pixels than this */
    int32_t max_dimension; /* refuse images wider or taller than this (pixels) */
};

FR_API struct fr_decode_params fr_decode_default_params(void);

/* A new zero-filled image of the given size, or NULL on OOM/invalid size. */
FR_API struct fr_image *fr_image_new(int32_t width, int32_t height);
FR_API void fr_image_free(struct fr_image *img);

/* Decode an encoded image (JPEG or PNG, detected by magic bytes) from memory.
 * params may be NULL for defaults. On failure *out is NULL and err says why. */
FR_API enum fr_status fr_image_decode(const void *buf, size_t len,
                                      const struct fr_decode_params *params,
                                      struct fr_image **out, char *err, size_t errlen);

/* Read and decode a file. Error messages name the file. */
FR_API enum fr_status fr_image_load(const char *path, const struct fr_decode_params *params,
                                    struct fr_image **out, char *err, size_t errlen);

/* Write a binary PPM (P6), used by tools and the reference harness. */
FR_API enum fr_status fr_image_save_ppm(const struct fr_image *img, const char *path,
                                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
