/* ICC profiles for the image tests, made with lcms2: an sRGB-like RGB
 * profile with other primaries, a CMYK printer, their reference transforms
 * to sRGB, and a JPEG with a profile spliced in. See image-fixtures.h. */
#include "image-fixtures.h"

#include <lcms2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ICC ------------------------------------------------------------------------- */

/* The CMYK test printer: RGB = (1 - C) * (1 - K)^1.5 on the sRGB curve,
 * so black ink darkens faster than the usual inverted-CMYK formula and a
 * decoder that ignores the profile is visibly off. */
struct cmyk_ctx {
    cmsHTRANSFORM to_lab;
};

static int cmyk_sampler(const cmsUInt16Number in[], cmsUInt16Number out[], void *user) {
    struct cmyk_ctx *c = user;
    double k = 1.0 - in[3] / 65535.0, rgb[3];
    for (int i = 0; i < 3; i++) rgb[i] = (1.0 - in[i] / 65535.0) * pow(k, 1.5);
    cmsCIELab lab;
    cmsDoTransform(c->to_lab, rgb, &lab, 1);
    cmsFloat2LabEncoded(out, &lab);
    return 1;
}

static cmsHPROFILE cmyk_profile(void) {
    cmsHPROFILE srgb = cmsCreate_sRGBProfile(), lab = cmsCreateLab4Profile(NULL);
    struct cmyk_ctx c = {srgb && lab ? cmsCreateTransform(srgb, TYPE_RGB_DBL, lab, TYPE_Lab_DBL, INTENT_PERCEPTUAL, 0)
                                     : NULL};
    cmsHPROFILE p = c.to_lab ? cmsCreateProfilePlaceholder(NULL) : NULL;
    cmsPipeline *lut = p ? cmsPipelineAlloc(NULL, 4, 3) : NULL;
    cmsStage *clut = lut ? cmsStageAllocCLut16bit(NULL, 9, 4, 3, NULL) : NULL;
    bool ok = clut && cmsStageSampleCLut16bit(clut, cmyk_sampler, &c, 0) &&
              cmsPipelineInsertStage(lut, cmsAT_BEGIN, clut);
    if (ok) {
        cmsSetProfileVersion(p, 2.1);
        cmsSetDeviceClass(p, cmsSigOutputClass);
        cmsSetColorSpace(p, cmsSigCmykData);
        cmsSetPCS(p, cmsSigLabData);
        ok = cmsWriteTag(p, cmsSigAToB0Tag, lut) && cmsWriteTag(p, cmsSigMediaWhitePointTag, cmsD50_XYZ());
        cmsMLU *mlu = cmsMLUalloc(NULL, 1);
        cmsMLUsetASCII(mlu, "en", "US", "facerec test CMYK");
        ok = ok && cmsWriteTag(p, cmsSigProfileDescriptionTag, mlu);
        cmsMLUfree(mlu);
    } else if (clut) {
        cmsStageFree(clut);
    }
    if (lut) cmsPipelineFree(lut);
    if (c.to_lab) cmsDeleteTransform(c.to_lab);
    if (srgb) cmsCloseProfile(srgb);
    if (lab) cmsCloseProfile(lab);
    if (!ok && p) {
        cmsCloseProfile(p);
        p = NULL;
    }
    return p;
}

bool fr_fx_icc(enum fr_fx_icc_kind kind, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    cmsHPROFILE p = NULL;
    if (kind == FR_FX_ICC_SRGB) {
        p = cmsCreate_sRGBProfile();
    } else if (kind == FR_FX_ICC_CMYK) {
        p = cmyk_profile();
    } else {
        /* Display P3: P3 primaries, D65, the sRGB curve. */
        cmsCIExyY d65 = {0.3127, 0.3290, 1.0};
        cmsCIExyYTRIPLE p3 = {{0.680, 0.320, 1.0}, {0.265, 0.690, 1.0}, {0.150, 0.060, 1.0}};
        cmsFloat64Number par[5] = {2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045};
        cmsToneCurve *c = cmsBuildParametricToneCurve(NULL, 4, par);
        cmsToneCurve *curves[3] = {c, c, c};
        p = c ? cmsCreateRGBProfile(&d65, &p3, curves) : NULL;
        if (c) cmsFreeToneCurve(c);
        if (p) {
            cmsMLU *mlu = cmsMLUalloc(NULL, 1);
            cmsMLUsetASCII(mlu, "en", "US", "facerec Display P3");
            cmsWriteTag(p, cmsSigProfileDescriptionTag, mlu);
            cmsMLUfree(mlu);
        }
    }
    if (!p) return false;
    cmsUInt32Number n = 0;
    bool ok = cmsSaveProfileToMem(p, NULL, &n) && n > 0 && (out->data = malloc(n)) != NULL &&
              cmsSaveProfileToMem(p, out->data, &n);
    cmsCloseProfile(p);
    if (ok)
        out->len = n;
    else
        fr_fx_blob_free(out);
    return ok;
}

bool fr_fx_icc_reference(const struct fr_fx_blob *icc, const uint8_t *in, size_t npx, uint8_t *srgb) {
    cmsHPROFILE src = cmsOpenProfileFromMem(icc->data, (cmsUInt32Number)icc->len), dst = cmsCreate_sRGBProfile();
    cmsHTRANSFORM t = src && dst ? cmsCreateTransform(src, TYPE_RGB_8, dst, TYPE_RGB_8, INTENT_PERCEPTUAL,
                                                      cmsFLAGS_BLACKPOINTCOMPENSATION)
                                 : NULL;
    if (t) cmsDoTransform(t, in, srgb, (cmsUInt32Number)npx);
    if (t) cmsDeleteTransform(t);
    if (src) cmsCloseProfile(src);
    if (dst) cmsCloseProfile(dst);
    return t != NULL;
}

bool fr_fx_icc_cmyk_reference(const struct fr_fx_blob *icc, const uint8_t *cmyk, size_t npx, uint8_t *srgb) {
    cmsHPROFILE src = cmsOpenProfileFromMem(icc->data, (cmsUInt32Number)icc->len), dst = cmsCreate_sRGBProfile();
    cmsHTRANSFORM t = src && dst ? cmsCreateTransform(src, TYPE_CMYK_8_REV, dst, TYPE_RGB_8, INTENT_PERCEPTUAL,
                                                      cmsFLAGS_BLACKPOINTCOMPENSATION)
                                 : NULL;
    if (t) cmsDoTransform(t, cmyk, srgb, (cmsUInt32Number)npx);
    if (t) cmsDeleteTransform(t);
    if (src) cmsCloseProfile(src);
    if (dst) cmsCloseProfile(dst);
    return t != NULL;
}

bool fr_fx_jpeg_add_icc(const struct fr_fx_blob *jpeg, const struct fr_fx_blob *icc, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    if (jpeg->len < 4 || icc->len > 60000) return false;
    size_t seg = 2 + 14 + icc->len;
    uint8_t hdr[18] = {0xFF, 0xE2, (uint8_t)(seg >> 8), (uint8_t)seg, 'I', 'C', 'C', '_', 'P',
                       'R',  'O',  'F',  'I',  'L', 'E', 0, 1, 1};
    bool ok = fr_fx_blob_append(out, jpeg->data, 2) && fr_fx_blob_append(out, hdr, sizeof hdr) && fr_fx_blob_append(out, icc->data, icc->len) &&
              fr_fx_blob_append(out, jpeg->data + 2, jpeg->len - 2);
    if (!ok) fr_fx_blob_free(out);
    return ok;
}
