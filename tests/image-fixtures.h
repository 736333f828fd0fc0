/* Test images generated in memory by the encoder libraries themselves.
 *
 * No binary image is committed: every fixture is produced on the fly by
 * libturbojpeg, libpng, libwebp (+mux) and libheif from a deterministic
 * pattern, so the expected pixels are known exactly. The pattern has a red
 * ramp left to right, a green ramp top to bottom and a blue marker block
 * near the top-left corner, so all eight orientations are distinguishable
 * and a downscaled marker can be mapped back to original coordinates.
 *
 * Everything here uses the C library allocator (never fr_malloc), so the
 * fixtures do not disturb allocation counts taken around facerec calls.
 * Functions returning bool leave *out empty on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An encoded image (or any byte string), malloc'd. */
struct fr_fx_blob {
    uint8_t *data;
    size_t len;
};

void fr_fx_blob_free(struct fr_fx_blob *b);
/* Appends n bytes to a growing blob (one spare byte after them); false
 * when out of memory, the blob unchanged. */
bool fr_fx_blob_append(struct fr_fx_blob *b, const void *data, size_t n);
/* A copy of b->data[0..len), or an empty blob when len is 0. */
bool fr_fx_blob_copy(const uint8_t *data, size_t len, struct fr_fx_blob *out);

/* The pattern, tightly packed RGB8 (stride 3 * w), malloc'd. */
uint8_t *fr_fx_pattern_rgb(int w, int h);
/* The alpha channel used wherever a fixture has one: never 0, so encoders
 * that rewrite fully transparent pixels leave the colours alone. */
uint8_t fr_fx_alpha(int x, int y);
/* RGB plus fr_fx_alpha(), tightly packed RGBA8, malloc'd. */
uint8_t *fr_fx_rgba_from_rgb(const uint8_t *rgb, int w, int h);
/* The marker block [x0, x1) x [y0, y1) of a w x h pattern; its blue is 255
 * and every other pixel's blue is below 200. */
void fr_fx_marker_rect(int w, int h, int *x0, int *y0, int *x1, int *y1);
/* BT.601 luma of an RGB8 pixel, as libjpeg and libpng compute it. */
uint8_t fr_fx_luma(const uint8_t *px);

/* JPEG via tjCompress2. subsamp is a TJSAMP_* value (TJSAMP_GRAY gives a
 * grayscale JPEG from the RGB input). FR_FX_JPEG_CMYK converts the pattern
 * to Adobe-style inverted CMYK (libjpeg-turbo's own rgb_to_cmyk) and
 * compresses it as a YCCK JPEG. */
enum {
    FR_FX_JPEG_PROGRESSIVE = 1 << 0,
    FR_FX_JPEG_CMYK = 1 << 1,
};
bool fr_fx_jpeg(const uint8_t *rgb, int w, int h, int quality, int subsamp, unsigned flags, struct fr_fx_blob *out);

/* A TIFF/EXIF blob (no "Exif\0\0" prefix) whose IFD0 holds a Make string
 * (stored out of line, so the parser must follow an offset) and the given
 * Orientation, little- or big-endian. */
bool fr_fx_exif(int orientation, bool big_endian, struct fr_fx_blob *out);
/* jpeg with an APP1 "Exif\0\0" + tiff segment inserted after SOI/APP0. */
bool fr_fx_jpeg_add_exif(const struct fr_fx_blob *jpeg, const struct fr_fx_blob *tiff, struct fr_fx_blob *out);
/* Patches the first SOFn segment's size fields in place; false if none. */
bool fr_fx_jpeg_set_size(struct fr_fx_blob *jpeg, int w, int h);

/* PNG via the libpng write API. The pattern is reduced to the colour type
 * and depth (gray from luma, low depths by shifting, palettes by
 * quantising), and *expected (malloc'd, RGB8, may be NULL) receives what a
 * correct decoder returns with alpha dropped. 16-bit samples carry a
 * varying low byte, so decoders may legitimately differ from *expected by
 * one level there (strip vs. scale). trns adds a tRNS chunk (palette: per
 * entry alphas, some 0; gray/RGB: a colour present in the image). rgb may
 * be NULL for the pattern itself, else it is the source picture. */
struct fr_fx_png_opts {
    int color_type; /* PNG_COLOR_TYPE_* */
    int bit_depth;
    bool trns;
    bool interlace;                /* Adam7 */
    const struct fr_fx_blob *exif; /* eXIf chunk (raw TIFF), or NULL */
    bool exif_late;                /* write eXIf after IDAT instead of before */
};
bool fr_fx_png(const uint8_t *rgb, int w, int h, const struct fr_fx_png_opts *o, struct fr_fx_blob *out,
               uint8_t **expected);
/* A PNG made of a signature, an IHDR claiming w x h RGB8, a tiny IDAT and
 * IEND, all with valid CRCs: a header-only bomb. */
bool fr_fx_png_claim(uint32_t w, uint32_t h, struct fr_fx_blob *out);

/* WebP. Alpha kinds use fr_fx_alpha(). quality is ignored for lossless. */
enum fr_fx_webp_kind {
    FR_FX_WEBP_LOSSY,
    FR_FX_WEBP_LOSSLESS,
    FR_FX_WEBP_LOSSY_ALPHA,
    FR_FX_WEBP_LOSSLESS_ALPHA,
};
bool fr_fx_webp(const uint8_t *rgb, int w, int h, enum fr_fx_webp_kind kind, float quality, struct fr_fx_blob *out);
/* An animation of nframes w x h RGB frames (100 ms each) via
 * WebPAnimEncoder. */
bool fr_fx_webp_anim(const uint8_t *const *frames, int nframes, int w, int h, bool lossless, struct fr_fx_blob *out);
/* webp with an EXIF chunk (raw TIFF) added by WebPMux. */
bool fr_fx_webp_add_exif(const struct fr_fx_blob *webp, const struct fr_fx_blob *tiff, struct fr_fx_blob *out);
/* A VP8X header claiming a w x h canvas (each at most 2^24) followed by a
 * tiny VP8L image: a header-only bomb. */
bool fr_fx_webp_claim(uint32_t w, uint32_t h, struct fr_fx_blob *out);
/* Patches the size fields of every top-level VP8X, VP8L and VP8 chunk of
 * webp in place (VP8L: 14 bits, VP8: 14 bits, VP8X: 24 bits per side);
 * false if none was found. */
bool fr_fx_webp_set_size(struct fr_fx_blob *webp, uint32_t w, uint32_t h);

/* HEIC (x265) or AVIF (aom) via the libheif encoder API. orientation 1-8
 * makes libheif write the matching irot/imir boxes; alpha adds an alpha
 * image from fr_fx_alpha(). When the encoder is missing or fails, returns
 * false with the reason in why. */
enum fr_fx_heif_codec {
    FR_FX_HEIC,
    FR_FX_AVIF,
};
bool fr_fx_heif(const uint8_t *rgb, int w, int h, enum fr_fx_heif_codec codec, int quality, int orientation, bool alpha,
                struct fr_fx_blob *out, char *why, size_t whylen);
/* Rewrites every 'ispe' box of an encoded HEIF to claim w x h; false if
 * none was found. */
bool fr_fx_heif_set_ispe(struct fr_fx_blob *heif, uint32_t w, uint32_t h);

/* ---- formats of issue 17 (image-fixtures-formats.c) ---------------------- */

/* sRGB-encoded 8-bit value to linear light in [0, 1]. */
double fr_fx_srgb_to_linear(uint8_t v);

/* JPEG XL via libjxl's encoder (effort 3). LOSSY8 uses XYB at distance
 * 0.5; the others are lossless: 8-bit, 16-bit (v * 257), float (v / 255),
 * 16-bit linear-light sRGB (the decoder must convert it to the sRGB curve)
 * and 8-bit gray (the luma). orientation 1-8 is the codestream's. */
enum fr_fx_jxl_kind {
    FR_FX_JXL_LOSSY8,
    FR_FX_JXL_LOSSLESS8,
    FR_FX_JXL_LOSSLESS16,
    FR_FX_JXL_FLOAT,
    FR_FX_JXL_LINEAR16,
    FR_FX_JXL_GRAY8,
};
bool fr_fx_jxl(const uint8_t *rgb, int w, int h, enum fr_fx_jxl_kind kind, int orientation, struct fr_fx_blob *out);
/* A bare JPEG XL codestream header claiming w x h (no image data). */
bool fr_fx_jxl_claim(uint32_t w, uint32_t h, struct fr_fx_blob *out);

/* TIFF via libtiff's writer, in memory. photometric: PHOTOMETRIC_RGB (0
 * too), MINISBLACK (luma), PALETTE (the 6x6x6 cube), SEPARATED (CMYK with
 * K = 0); compression a COMPRESSION_* (JPEG stores YCbCr); bits 8 or 16
 * (v * 257). *expected (malloc'd, may be NULL) gets what a reader returns
 * (lossless compressions: exactly). */
struct fr_fx_tiff_opts {
    int photometric;
    int bits;
    int compression;
    bool tiled;                    /* 16x16 tiles instead of strips */
    int orientation;               /* Orientation tag, 1-8 (0: 1) */
    int extra_pages;               /* pages after the first, holding the inverted picture */
    bool big_endian;               /* "MM" */
    bool alpha;                    /* an associated alpha sample, opaque */
    const struct fr_fx_blob *icc;  /* ICCProfile tag, or NULL */
};
bool fr_fx_tiff(const uint8_t *rgb, int w, int h, const struct fr_fx_tiff_opts *o, struct fr_fx_blob *out,
                uint8_t **expected);
/* Rewrites ImageWidth/ImageLength in every IFD (and SubIFD) of a TIFF. */
bool fr_fx_tiff_set_size(struct fr_fx_blob *tiff, uint32_t w, uint32_t h);

/* A DNG made with libtiff: IFD0 holds a pw x ph RGB8 preview (as DNG
 * writers store it) and the DNG tags (ColorMatrix1 = XYZ to linear sRGB,
 * so the "camera" sees linear sRGB, neutral white balance); its SubIFD a
 * w x h 16-bit RGGB Bayer mosaic of rgb in linear light. orientation is
 * the IFD0 Orientation tag. Both of libraw's paths can read it: the
 * preview and the demosaic. */
bool fr_fx_dng(const uint8_t *rgb, int w, int h, const uint8_t *preview, int pw, int ph, int orientation,
               struct fr_fx_blob *out);
/* The same with the preview stored as a baseline JPEG (compression 7),
 * as cameras write it: libraw's JPEG preview path. */
bool fr_fx_dng_jpeg(const uint8_t *rgb, int w, int h, const uint8_t *preview, int pw, int ph, int orientation,
                    struct fr_fx_blob *out);

/* GIF via giflib's encoder: the picture quantised to the 6x6x6 cube. The
 * frame may start at (left, top) on the screen; transparent makes every
 * pixel with (x + y) % 7 == 0 of the frame transparent; extra_frames add
 * frames of another picture. *expected: what a reader shows (uncovered
 * and transparent pixels white). */
struct fr_fx_gif_opts {
    bool interlace;
    bool transparent;
    int extra_frames;
    int left, top;
};
bool fr_fx_gif(const uint8_t *rgb, int w, int h, const struct fr_fx_gif_opts *o, struct fr_fx_blob *out,
               uint8_t **expected);
/* Rewrites the logical screen and first frame sizes of a GIF. */
bool fr_fx_gif_set_size(struct fr_fx_blob *gif, uint32_t w, uint32_t h);

/* BMP, written here: bpp 1 (black/white), 4 (16 grays), 8 (the cube), 16
 * (5-5-5, or 5-6-5 bit fields), 24, 32 (BGRX, or bit fields). */
struct fr_fx_bmp_opts {
    int bpp;
    bool top_down;  /* negative height */
    bool rle;       /* RLE8 / RLE4 (bpp 8 / 4) */
    bool bitfields; /* BI_BITFIELDS (bpp 16 / 32) */
    bool core;      /* OS/2 1.x 12-byte header (bpp 1, 4, 8, 24) */
    bool v5;        /* BITMAPV5HEADER */
};
bool fr_fx_bmp(const uint8_t *rgb, int w, int h, const struct fr_fx_bmp_opts *o, struct fr_fx_blob *out,
               uint8_t **expected);

/* ICC profiles made with lcms2: sRGB, and Display P3 (a wide gamut one a
 * reader must convert). */
enum fr_fx_icc_kind {
    FR_FX_ICC_SRGB,
    FR_FX_ICC_P3,
    FR_FX_ICC_CMYK, /* a made-up printer: RGB = (1 - C) * (1 - K)^1.5 */
};
bool fr_fx_icc(enum fr_fx_icc_kind kind, struct fr_fx_blob *out);
/* lcms2's own conversion of npx RGB8 pixels in the profile to sRGB. */
bool fr_fx_icc_reference(const struct fr_fx_blob *icc, const uint8_t *in, size_t npx, uint8_t *srgb);
/* lcms2's conversion of npx inverted (Adobe) CMYK8 pixels to sRGB. */
bool fr_fx_icc_cmyk_reference(const struct fr_fx_blob *icc, const uint8_t *cmyk, size_t npx, uint8_t *srgb);
/* jpeg with one APP2 ICC_PROFILE segment inserted after SOI. */
bool fr_fx_jpeg_add_icc(const struct fr_fx_blob *jpeg, const struct fr_fx_blob *icc, struct fr_fx_blob *out);
