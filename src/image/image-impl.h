/* Internal interfaces of the image module. */
#pragma once

#include "facerec/image.h"

/* What a format decoder hands back: pixels as stored (not yet oriented),
 * possibly already reduced (JPEG DCT scaling), with the stored full size and
 * the EXIF orientation it found (1 when none). */
struct fr_raw_image {
    struct fr_image *img;
    int32_t full_width, full_height; /* stored size before any reduction */
    int32_t orientation;
};

/* Each decoder checks the limits from its header before allocating pixels.
 * target = params->max_image_size (0: none) lets a decoder reduce early. */
enum fr_status fr__decode_jpeg(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_png(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_webp(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_heif(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen);

/* Shared limit check: FR_OK, FR_ERR_IMAGE (zero size) or FR_ERR_TOO_LARGE. */
enum fr_status fr__check_limits(int64_t w, int64_t h, const struct fr_decode_params *p, char *err, size_t errlen);

/* EXIF orientation (1-8) from a TIFF-structured EXIF block, optionally
 * preceded by "Exif\0\0"; 1 when absent or malformed. */
int32_t fr__exif_orientation(const uint8_t *exif, size_t len);
/* EXIF orientation from a JPEG's APP1 segment (markers before SOS). */
int32_t fr__jpeg_orientation(const uint8_t *buf, size_t len);

/* Rotate/flip so that an image stored with EXIF orientation o is upright.
 * Returns a new image (or img itself when o is 1); NULL on OOM. */
struct fr_image *fr__image_orient(const struct fr_image *img, int32_t o);
