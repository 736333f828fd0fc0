/* Face thumbnails: a crop around the box, resized and encoded as JPEG
 * with libjpeg-turbo, stored with the face so that a client can show who
 * a face is without the original photo. */
#include <string.h>
#include <turbojpeg.h>

#include "facerec/gallery.h"

enum fr_status fr_gallery_thumbnail(const struct fr_image *img, int32_t orig_width, int32_t orig_height,
                                    const float box[4], void **jpeg, size_t *len) {
    *jpeg = NULL;
    *len = 0;
    if (!img || img->width < 1 || img->height < 1 || orig_width < 1 || orig_height < 1) return FR_ERR_INVALID;
    double sx = (double)img->width / orig_width, sy = (double)img->height / orig_height;
    double x = box[0] * sx, y = box[1] * sy, w = box[2] * sx, h = box[3] * sy;
    if (!(w > 0 && h > 0)) return FR_ERR_INVALID;
    /* A quarter of the box on every side: hair and chin make a face
     * recognisable to people, the tight detector box does not. */
    double x0 = x - w / 4, y0 = y - h / 4, x1 = x + w * 1.25, y1 = y + h * 1.25;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    int32_t cx = (int32_t)x0, cy = (int32_t)y0, cw = (int32_t)(x1 - cx), ch = (int32_t)(y1 - cy);
    if (cw < 1 || ch < 1) return FR_ERR_INVALID;
    struct fr_image *crop = fr_image_new(cw, ch);
    if (!crop) return FR_ERR_NOMEM;
    for (int32_t r = 0; r < ch; r++)
        memcpy(crop->data + (size_t)r * crop->stride, img->data + (size_t)(cy + r) * img->stride + (size_t)cx * 3,
               (size_t)cw * 3);
    struct fr_image *small = crop;
    int32_t longer = cw > ch ? cw : ch;
    if (longer > FR_GALLERY_THUMB_SIZE) {
        int32_t tw = (int32_t)((double)cw * FR_GALLERY_THUMB_SIZE / longer + 0.5);
        int32_t th = (int32_t)((double)ch * FR_GALLERY_THUMB_SIZE / longer + 0.5);
        small = fr_image_resize_area(crop, tw < 1 ? 1 : tw, th < 1 ? 1 : th);
        fr_image_free(crop);
        if (!small) return FR_ERR_NOMEM;
    }
    enum fr_status st = FR_ERR_INTERNAL;
    tjhandle tj = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long n = 0;
    if (tj && tjCompress2(tj, small->data, small->width, (int)small->stride, small->height, TJPF_RGB, &buf, &n,
                          TJSAMP_420, 85, TJFLAG_FASTDCT) == 0) {
        /* Copied so that the caller releases it with fr_free like
         * everything else the gallery hands out. */
        *jpeg = fr_malloc(n);
        if (*jpeg) {
            memcpy(*jpeg, buf, n);
            *len = n;
            st = FR_OK;
        } else {
            st = FR_ERR_NOMEM;
        }
    }
    tjFree(buf);
    if (tj) tjDestroy(tj);
    fr_image_free(small);
    return st;
}
