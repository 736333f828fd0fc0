/* HEIC/HEIF and AVIF via libheif. libheif applies the container's
 * transforms (irot, imir, clean aperture), so the pixels come out upright
 * and EXIF orientation must not be applied again. */
#include <libheif/heif.h>
#include <string.h>

#include "image-impl.h"

enum fr_status fr__decode_heif(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen) {
    enum fr_status st = FR_ERR_IMAGE;
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *h = NULL;
    struct heif_image *im = NULL;
    struct fr_image *img = NULL;
    if (!ctx) {
        fr_errf(err, errlen, "cannot initialise the HEIF decoder");
        return FR_ERR_NOMEM;
    }
    /* libheif's own guard against huge images, on top of ours below. Coded
     * sizes are padded to whole coding blocks, so it gets some slack; our
     * exact check on the displayed size follows. */
    int64_t lim = (int64_t)p->max_dimension + 256;
    heif_context_set_maximum_image_size_limit(ctx, lim > 0x7fffffff ? 0x7fffffff : (int)lim);
    struct heif_error e = heif_context_read_from_memory_without_copy(ctx, buf, len, NULL);
    if (e.code != heif_error_Ok) {
        if (e.subcode == heif_suberror_Security_limit_exceeded) {
            fr_errf(err, errlen, "HEIF/AVIF image over the size limit (%d px per side): %s", p->max_dimension,
                    e.message);
            st = FR_ERR_TOO_LARGE;
        } else {
            fr_errf(err, errlen, "corrupt HEIF/AVIF container: %s", e.message);
        }
        goto done;
    }
    e = heif_context_get_primary_image_handle(ctx, &h);
    if (e.code != heif_error_Ok) {
        fr_errf(err, errlen, "HEIF/AVIF without a primary image: %s", e.message);
        goto done;
    }
    int w = heif_image_handle_get_width(h), hh = heif_image_handle_get_height(h);
    if ((st = fr__check_limits(w, hh, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    e = heif_decode_image(h, &im, heif_colorspace_RGB, heif_chroma_interleaved_RGB, NULL);
    if (e.code != heif_error_Ok) {
        fr_errf(err, errlen, "cannot decode HEIF/AVIF image: %s", e.message);
        if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype)
            st = FR_ERR_UNSUPPORTED;
        goto done;
    }
    int stride = 0;
    const uint8_t *px = heif_image_get_plane_readonly(im, heif_channel_interleaved, &stride);
    int iw = heif_image_get_width(im, heif_channel_interleaved), ih = heif_image_get_height(im, heif_channel_interleaved);
    if (!px || iw <= 0 || ih <= 0 || (st = fr__check_limits(iw, ih, p, err, errlen)) != FR_OK) {
        if (st == FR_OK || st == FR_ERR_IMAGE) fr_errf(err, errlen, "HEIF/AVIF decoder returned no pixels");
        if (st == FR_OK) st = FR_ERR_IMAGE;
        goto done;
    }
    img = fr_image_new(iw, ih);
    if (!img) {
        fr_errf(err, errlen, "out of memory for a %dx%d image", iw, ih);
        st = FR_ERR_NOMEM;
        goto done;
    }
    for (int y = 0; y < ih; y++) memcpy(img->data + (size_t)y * img->stride, px + (size_t)y * stride, (size_t)iw * 3);
    out->img = img;
    img = NULL;
    out->full_width = iw;
    out->full_height = ih;
    out->orientation = 1;
    st = FR_OK;
done:
    fr_image_free(img);
    if (im) heif_image_release(im);
    if (h) heif_image_handle_release(h);
    heif_context_free(ctx);
    return st;
}
