/* facerec images: decoding photos into upright, right-sized RGB8 buffers.
 *
 * Formats are detected by magic bytes, never by file name: JPEG
 * (libturbojpeg), PNG (libpng), WebP (libwebp; animated: first frame),
 * HEIC/HEIF/AVIF (libheif), JPEG XL (libjxl), TIFF (libtiff; first page),
 * GIF (giflib; first frame, transparent pixels white), BMP (our own
 * decoder) and camera RAW (libraw: CR2, CR3, NEF, ARW, DNG, ORF, RW2, RAF
 * and others; the embedded preview when it is large enough, else a
 * half-size demosaic). Alpha is dropped. EXIF orientation (JPEG APP1, PNG
 * eXIf, WebP EXIF chunk), the TIFF, JPEG XL and RAW orientation and HEIF
 * transforms are applied, so the pixels are upright. 16-bit and float
 * samples come out as 8-bit; an embedded ICC profile (JPEG, PNG, TIFF,
 * JPEG XL, HEIF) and CMYK are converted to sRGB with lcms2.
 *
 * Size: with `max_image_size` > 0 an image whose longer side exceeds it is
 * scaled down to fit: other formats by an area resize to exactly
 * max_image_size; JPEG by libjpeg-turbo's DCT scaling with a power-of-two
 * factor (the fast ones), landing between 90% and 100% of max_image_size,
 * or, when no factor does, the smallest factor not below it followed by the
 * area resize. `orig_width`/`orig_height` keep the upright original size,
 * so coordinates map back as x_orig = x * orig_width / width.
 *
 * Camera RAW: the embedded preview (usually a JPEG) is used when its longer
 * side reaches max_image_size or FR_RAW_PREVIEW_MIN pixels, which is ample
 * for the face detectors; otherwise the sensor data is demosaiced, at half
 * size when that still reaches the same bound, else at full size (also
 * with max_image_size 0, unless the preview is full size). orig_* is the
 * RAW's size when the preview has its aspect ratio, so coordinates still
 * map back to the sensor image.
 *
 * Limits (bytes, pixels, side) are checked from the header before any pixel
 * buffer is allocated. Every failure is a status plus a message; decoding
 * one bad file never affects the next.
 *
 * Ownership: an fr_image owns its pixels; fr_image_free(NULL) is safe.
 * Thread-safety: decoding functions are reentrant; images are read-only once
 * returned and may be shared.
 *
 * Example:
 *     struct fr_image *img;
 *     char err[256];
 *     if (fr_image_load("a.jpg", NULL, &img, err, sizeof err) != FR_OK)
 *         fprintf(stderr, "%s\n", err);   // "a.jpg: corrupt JPEG data: ..."
 */
#pragma once

#include <stdbool.h>

#include "facerec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fr_image_format {
    FR_FORMAT_UNKNOWN = 0,
    FR_FORMAT_JPEG,
    FR_FORMAT_PNG,
    FR_FORMAT_WEBP,
    FR_FORMAT_HEIF, /* HEIC / HEIF */
    FR_FORMAT_AVIF,
    FR_FORMAT_GIF,
    FR_FORMAT_BMP,
    FR_FORMAT_TIFF,
    FR_FORMAT_JXL,
    /* Recognised so the error can name them, but not decoded: */
    FR_FORMAT_PDF,
    FR_FORMAT_SVG,
    FR_FORMAT_ICO,
    FR_FORMAT_PSD,
    /* Decoded; last so that the values above keep their numbers. */
    FR_FORMAT_RAW, /* camera RAW (libraw) */
};

struct fr_image {
    int32_t width;        /* pixels, upright, after any downscale */
    int32_t height;
    size_t stride;        /* bytes per row, >= 3 * width */
    uint8_t *data;        /* RGB8, owned by the image */
    int32_t orig_width;   /* upright size of the original before downscaling */
    int32_t orig_height;
    enum fr_image_format format; /* what the bytes were */
    int32_t orientation;  /* EXIF orientation found (1-8; 1 when absent), already applied */
};

/* The largest width or height facerec handles, and so the largest useful
 * max_image_size: the decoder's max_dimension defaults to it, and the
 * settings table and the CLI's --max-image-size take it as their bound. */
#define FR_IMAGE_MAX_DIMENSION 65535

/* RAW previews at least this long (pixels, longer side) are used. */
#define FR_RAW_PREVIEW_MIN 1024

struct fr_decode_params {
    size_t max_bytes;       /* refuse encoded inputs larger than this (default 50 MiB) */
    int64_t max_pixels;     /* refuse images with more pixels than this (default 100 megapixels) */
    int32_t max_dimension;  /* refuse images wider or taller than this (default FR_IMAGE_MAX_DIMENSION) */
    int32_t max_image_size; /* longer side at most this (pixels); 0 = never downscale (default 2048) */
    bool apply_orientation; /* apply EXIF orientation (default true) */
};

FR_API struct fr_decode_params fr_decode_default_params(void);

/* A new zero-filled image of the given size (orig_* = size, orientation 1),
 * or NULL on OOM/invalid size. */
FR_API struct fr_image *fr_image_new(int32_t width, int32_t height);
FR_API void fr_image_free(struct fr_image *img);

/* The format of an encoded buffer by its magic bytes. */
FR_API enum fr_image_format fr_image_sniff(const void *buf, size_t len);
/* The same for a file, by its first bytes: how folder walks (the CLI's
 * file lists, index jobs) pick images by content, not by extension.
 * FR_FORMAT_UNKNOWN when the file cannot be read. */
FR_API enum fr_image_format fr_image_sniff_file(const char *path);
/* The formats fr_image_decode reads, for messages and help texts. */
#define FR_IMAGE_FORMATS_READ "JPEG, PNG, WebP, HEIF/HEIC, AVIF, JPEG XL, TIFF, GIF, BMP or camera RAW"
/* True for the formats fr_image_decode reads (JPEG ... JXL, RAW). */
FR_API bool fr_image_format_decodable(enum fr_image_format f);
FR_API const char *fr_image_format_name(enum fr_image_format f);

/* Decode an encoded image from memory. params may be NULL for defaults. On
 * failure *out is NULL and err says why: FR_ERR_IMAGE (corrupt, truncated,
 * empty), FR_ERR_UNSUPPORTED (a format facerec does not decode, named in
 * the message), FR_ERR_TOO_LARGE (a limit), FR_ERR_NOMEM. */
FR_API enum fr_status fr_image_decode(const void *buf, size_t len, const struct fr_decode_params *params,
                                      struct fr_image **out, char *err, size_t errlen);

/* Read and decode a file; error messages start with the path. */
FR_API enum fr_status fr_image_load(const char *path, const struct fr_decode_params *params,
                                    struct fr_image **out, char *err, size_t errlen);

/* Area (box-filter) resize of src to dst_w x dst_h, a new image; the
 * original size fields are carried over from src. NULL on OOM. */
FR_API struct fr_image *fr_image_resize_area(const struct fr_image *src, int32_t dst_w, int32_t dst_h);

/* Write a binary PPM (P6), used by tools and the reference harness. */
FR_API enum fr_status fr_image_save_ppm(const struct fr_image *img, const char *path,
                                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
