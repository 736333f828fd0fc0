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
    /* An RGB ICC profile the pixels are in (fr_malloc'd, owned; NULL for
     * sRGB or none). decode.c converts to sRGB after any downscale, so the
     * colour transform runs on the fewest pixels. */
    uint8_t *icc;
    size_t icc_len;
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

enum fr_status fr__decode_jxl(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_tiff(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_gif(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_bmp(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen);
enum fr_status fr__decode_raw(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen);

/* True when a TIFF-structured buffer is a camera RAW (DNG, CR2, NEF, ARW...)
 * rather than a plain TIFF image. */
bool fr__tiff_is_raw(const uint8_t *buf, size_t len);

/* ---- colour management (icc.c, lcms2) ----
 *
 * A profile is used only when lcms2 can parse it and its colour space
 * matches the pixels; a broken or mismatched profile is ignored (the
 * pixels are kept as they are), as photo viewers do. */

/* Converts RGB8 pixels in an RGB ICC profile to sRGB in place. */
void fr__icc_rgb_to_srgb(struct fr_image *img, const uint8_t *icc, size_t len);
/* Converts w*h CMYK8 pixels (inverted, Adobe style, when inverted is true)
 * in a CMYK ICC profile to sRGB into img; false when the profile is not a
 * usable CMYK one (the caller falls back to a naive conversion). */
bool fr__icc_cmyk_to_srgb(const uint8_t *cmyk, bool inverted, struct fr_image *img, const uint8_t *icc, size_t len);
/* Converts 16-bit RGB samples (w*h*3, native endianness) in an ICC profile
 * to sRGB RGB8 into img; false when the profile is not usable. */
bool fr__icc_rgb16_to_srgb(const uint16_t *rgb, struct fr_image *img, const uint8_t *icc, size_t len);
/* True when an ICC profile is (by its description) sRGB, so no transform
 * is needed. */
bool fr__icc_is_srgb(const uint8_t *icc, size_t len);
/* A copy of an ICC profile for fr_raw_image.icc, or NULL when it is sRGB,
 * not an RGB profile, or cannot be parsed. */
uint8_t *fr__icc_keep_rgb(const uint8_t *icc, size_t len, size_t *out_len);

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
