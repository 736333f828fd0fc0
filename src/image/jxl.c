/* JPEG XL via libjxl: lossy (XYB) and lossless, 8-bit, 16-bit and float,
 * gray and colour, animations (the first frame, composited), the
 * codestream's orientation; pixels not in sRGB come out as 16-bit samples
 * and are converted to sRGB with lcms2 from the profile libjxl describes
 * them with. */
#include <jxl/decode.h>
#include <string.h>

#include "image-impl.h"

/* True when the decoder's output is already sRGB (or sRGB-curved gray,
 * which comes out as equal R, G and B). */
static bool output_is_srgb(const JxlDecoder *dec) {
    JxlColorEncoding ce;
    if (JxlDecoderGetColorAsEncodedProfile(dec, NULL, JXL_COLOR_PROFILE_TARGET_DATA, &ce) != JXL_DEC_SUCCESS)
        return false;
    if (ce.transfer_function != JXL_TRANSFER_FUNCTION_SRGB || ce.white_point != JXL_WHITE_POINT_D65) return false;
    return ce.color_space == JXL_COLOR_SPACE_GRAY ||
           (ce.color_space == JXL_COLOR_SPACE_RGB && ce.primaries == JXL_PRIMARIES_SRGB);
}

enum fr_status fr__decode_jxl(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen) {
    /* No parallel runner: facerec decodes many images at once on its own
     * workers, one thread per image. */
    JxlDecoder *dec = JxlDecoderCreate(NULL);
    if (!dec) {
        fr_errf(err, errlen, "cannot initialise the JPEG XL decoder");
        return FR_ERR_NOMEM;
    }
    enum fr_status st = FR_ERR_IMAGE;
    struct fr_image *img = NULL;
    uint16_t *wide = NULL;
    uint8_t *icc = NULL;
    size_t icc_len = 0;
    JxlBasicInfo info;
    bool have_info = false, done = false;
    JxlPixelFormat fmt = { 3, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0 };
    if (JxlDecoderSubscribeEvents(dec, JXL_DEC_BASIC_INFO | JXL_DEC_COLOR_ENCODING | JXL_DEC_FULL_IMAGE) !=
            JXL_DEC_SUCCESS ||
        JxlDecoderSetKeepOrientation(dec, JXL_TRUE) != JXL_DEC_SUCCESS ||
        JxlDecoderSetInput(dec, buf, len) != JXL_DEC_SUCCESS) {
        fr_errf(err, errlen, "cannot initialise the JPEG XL decoder");
        st = FR_ERR_NOMEM;
        goto out;
    }
    /* Input is not closed: running out of it then reads as
     * JXL_DEC_NEED_MORE_INPUT, which tells truncation from damage. */
    while (!done) {
        JxlDecoderStatus s = JxlDecoderProcessInput(dec);
        switch (s) {
        case JXL_DEC_BASIC_INFO:
            if (JxlDecoderGetBasicInfo(dec, &info) != JXL_DEC_SUCCESS) {
                fr_errf(err, errlen, "corrupt JPEG XL header");
                goto out;
            }
            /* xsize/ysize are the stored size, before orientation. */
            if ((st = fr__check_limits(info.xsize, info.ysize, p, err, errlen)) != FR_OK) goto out;
            st = FR_ERR_IMAGE;
            have_info = true;
            break;
        case JXL_DEC_COLOR_ENCODING:
            if (!output_is_srgb(dec) &&
                JxlDecoderGetICCProfileSize(dec, NULL, JXL_COLOR_PROFILE_TARGET_DATA, &icc_len) == JXL_DEC_SUCCESS &&
                icc_len >= 132 && icc_len <= ((size_t)16 << 20)) {
                icc = fr_malloc(icc_len);
                if (!icc) {
                    fr_errf(err, errlen, "out of memory");
                    st = FR_ERR_NOMEM;
                    goto out;
                }
                if (JxlDecoderGetColorAsICCProfile(dec, NULL, JXL_COLOR_PROFILE_TARGET_DATA, icc, icc_len) !=
                    JXL_DEC_SUCCESS) {
                    fr_free(icc);
                    icc = NULL;
                }
            }
            /* Not sRGB: 16-bit samples keep the precision the conversion
             * needs (HDR, wide gamut, linear light). */
            if (icc) fmt.data_type = JXL_TYPE_UINT16;
            break;
        case JXL_DEC_NEED_IMAGE_OUT_BUFFER: {
            if (!have_info) {
                fr_errf(err, errlen, "corrupt JPEG XL: image data before the header");
                goto out;
            }
            size_t need = 0;
            size_t px = (size_t)info.xsize * info.ysize * 3;
            if (JxlDecoderImageOutBufferSize(dec, &fmt, &need) != JXL_DEC_SUCCESS ||
                need != px * (icc ? 2 : 1)) {
                fr_errf(err, errlen, "corrupt JPEG XL: unexpected output size");
                goto out;
            }
            img = fr_image_new((int32_t)info.xsize, (int32_t)info.ysize);
            if (icc) wide = fr_malloc(need);
            if (!img || (icc && !wide)) {
                fr_errf(err, errlen, "out of memory for a %ux%u image", info.xsize, info.ysize);
                st = FR_ERR_NOMEM;
                goto out;
            }
            /* RGB8 rows are packed (stride 3 * width), as libjxl writes. */
            if (JxlDecoderSetImageOutBuffer(dec, &fmt, icc ? (void *)wide : img->data, need) != JXL_DEC_SUCCESS) {
                fr_errf(err, errlen, "corrupt JPEG XL: cannot set the output buffer");
                goto out;
            }
            break;
        }
        case JXL_DEC_FULL_IMAGE:
            /* The first frame (of an animation, composited) is the image. */
            done = true;
            break;
        case JXL_DEC_NEED_MORE_INPUT:
            fr_errf(err, errlen, "truncated JPEG XL: the data ends %s", img ? "inside the image" : "in the header");
            goto out;
        case JXL_DEC_SUCCESS:
            fr_errf(err, errlen, "corrupt JPEG XL: no image in the file");
            goto out;
        case JXL_DEC_ERROR:
            fr_errf(err, errlen, "corrupt JPEG XL data");
            goto out;
        default:
            fr_errf(err, errlen, "JPEG XL decoder: unexpected event 0x%x", (unsigned)s);
            goto out;
        }
    }
    if (!img) {
        fr_errf(err, errlen, "corrupt JPEG XL: no pixels");
        goto out;
    }
    if (wide && !fr__icc_rgb16_to_srgb(wide, img, icc, icc_len)) {
        /* lcms2 could not use the profile: keep the samples, rounded. */
        size_t n = (size_t)img->width * (size_t)img->height * 3;
        for (size_t i = 0; i < n; i++) img->data[i] = (uint8_t)((wide[i] * 255u + 32767u) / 65535u);
    }
    out->img = img;
    img = NULL;
    out->full_width = (int32_t)info.xsize;
    out->full_height = (int32_t)info.ysize;
    out->orientation = info.orientation >= 1 && info.orientation <= 8 ? (int32_t)info.orientation : 1;
    st = FR_OK;
out:
    fr_free(wide);
    fr_free(icc);
    fr_image_free(img);
    JxlDecoderDestroy(dec);
    return st;
}
