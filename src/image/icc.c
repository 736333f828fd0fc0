/* Colour management with lcms2: embedded ICC profiles and CMYK to sRGB.
 *
 * Profiles come from untrusted files, so each is opened in its own lcms2
 * context whose error handler only records that something failed (lcms2's
 * default handler is silent, but a context keeps one decode's errors from
 * touching another's). The transforms are built per image: they depend on
 * the profile, and building one takes well under a millisecond next to the
 * decode itself. */
#include <lcms2.h>
#include <string.h>

#include "image-impl.h"

static void on_lcms_error(cmsContext ctx, cmsUInt32Number code, const char *text) {
    (void)ctx;
    (void)code;
    (void)text;
}

/* The profile, or NULL when lcms2 cannot parse it or its data colour space
 * is not `space`. */
static cmsHPROFILE open_profile(cmsContext ctx, const uint8_t *icc, size_t len, cmsColorSpaceSignature space) {
    if (!icc || len < 132 || len > UINT32_MAX) return NULL;
    cmsHPROFILE h = cmsOpenProfileFromMemTHR(ctx, icc, (cmsUInt32Number)len);
    if (h && cmsGetColorSpace(h) != space) {
        cmsCloseProfile(h);
        h = NULL;
    }
    return h;
}

bool fr__icc_is_srgb(const uint8_t *icc, size_t len) {
    cmsContext ctx = cmsCreateContext(NULL, NULL);
    if (!ctx) return false;
    cmsSetLogErrorHandlerTHR(ctx, on_lcms_error);
    cmsHPROFILE h = open_profile(ctx, icc, len, cmsSigRgbData);
    bool srgb = false;
    if (h) {
        /* Camera and editor JPEGs embed "sRGB IEC61966-2.1" (or a vendor's
         * copy of it) far more often than anything else; a transform from
         * it would be an identity, so it is skipped. */
        char desc[256] = "";
        cmsGetProfileInfoASCII(h, cmsInfoDescription, "en", "US", desc, sizeof desc);
        srgb = strstr(desc, "sRGB") != NULL && strstr(desc, "linear") == NULL && strstr(desc, "Linear") == NULL;
        cmsCloseProfile(h);
    }
    cmsDeleteContext(ctx);
    return srgb;
}

uint8_t *fr__icc_keep_rgb(const uint8_t *icc, size_t len, size_t *out_len) {
    *out_len = 0;
    if (!icc || len < 132 || fr__icc_is_srgb(icc, len)) return NULL;
    cmsContext ctx = cmsCreateContext(NULL, NULL);
    if (!ctx) return NULL;
    cmsSetLogErrorHandlerTHR(ctx, on_lcms_error);
    cmsHPROFILE h = open_profile(ctx, icc, len, cmsSigRgbData);
    uint8_t *copy = NULL;
    if (h) {
        copy = fr_malloc(len);
        if (copy) {
            memcpy(copy, icc, len);
            *out_len = len;
        }
        cmsCloseProfile(h);
    }
    cmsDeleteContext(ctx);
    return copy;
}

/* Runs one transform from `in` (rows of in_stride bytes) to img's RGB8
 * rows. False when the profile is unusable or lcms2 fails. */
static bool transform(const uint8_t *icc, size_t len, cmsColorSpaceSignature space, cmsUInt32Number in_type,
                      const void *in, size_t in_stride, struct fr_image *img) {
    cmsContext ctx = cmsCreateContext(NULL, NULL);
    if (!ctx) return false;
    cmsSetLogErrorHandlerTHR(ctx, on_lcms_error);
    bool ok = false;
    cmsHPROFILE src = open_profile(ctx, icc, len, space);
    cmsHPROFILE srgb = src ? cmsCreate_sRGBProfileTHR(ctx) : NULL;
    cmsHTRANSFORM t = NULL;
    if (srgb)
        t = cmsCreateTransformTHR(ctx, src, in_type, srgb, TYPE_RGB_8, INTENT_PERCEPTUAL,
                                  cmsFLAGS_NOCACHE | cmsFLAGS_BLACKPOINTCOMPENSATION);
    if (t) {
        /* Row by row: the strides of the two sides differ. */
        for (int32_t y = 0; y < img->height; y++)
            cmsDoTransform(t, (const uint8_t *)in + (size_t)y * in_stride, img->data + (size_t)y * img->stride,
                           (cmsUInt32Number)img->width);
        ok = true;
        cmsDeleteTransform(t);
    }
    if (srgb) cmsCloseProfile(srgb);
    if (src) cmsCloseProfile(src);
    cmsDeleteContext(ctx);
    return ok;
}

void fr__icc_rgb_to_srgb(struct fr_image *img, const uint8_t *icc, size_t len) {
    /* lcms2 transforms in place when input and output have the same layout. */
    transform(icc, len, cmsSigRgbData, TYPE_RGB_8, img->data, img->stride, img);
}

bool fr__icc_cmyk_to_srgb(const uint8_t *cmyk, bool inverted, struct fr_image *img, const uint8_t *icc, size_t len) {
    return transform(icc, len, cmsSigCmykData, inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8, cmyk, (size_t)img->width * 4,
                     img);
}

bool fr__icc_rgb16_to_srgb(const uint16_t *rgb, struct fr_image *img, const uint8_t *icc, size_t len) {
    return transform(icc, len, cmsSigRgbData, TYPE_RGB_16, rgb, (size_t)img->width * 6, img);
}
