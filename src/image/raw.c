/* Camera RAW via libraw (the thread-safe libraw_r), from memory.
 *
 * Face detection needs far fewer pixels than a sensor has, and every RAW
 * carries the camera's own rendering as an embedded preview, usually a
 * full-size or 1-2 MP JPEG. So the preview is used when its longer side
 * reaches max_image_size or FR_RAW_PREVIEW_MIN pixels; otherwise the
 * sensor data is demosaiced, at half size (each 2x2 Bayer cell becomes
 * one pixel: no interpolation, four times fewer pixels) when that still
 * reaches the same bound, else at full size. Either way the RAW's own
 * orientation (libraw's flip) is reported; libraw is told not to rotate,
 * so orientation is applied like every other format's. */
#include <libraw/libraw.h>
#include <stdlib.h>
#include <string.h>

#include "image-impl.h"

/* libraw's flip (dcraw: bit 2 transpose, bit 1 flip rows, bit 0 flip
 * columns) as an EXIF orientation; the inverse of dcraw's "50132467"
 * table. */
static int32_t flip_to_exif(int flip) {
    static const int32_t map[8] = { 1, 2, 4, 3, 5, 8, 6, 7 };
    return flip >= 0 && flip < 8 ? map[flip] : 1;
}

static int32_t longer(int32_t w, int32_t h) { return w > h ? w : h; }

/* The embedded preview, decoded; false (and nothing allocated) when there
 * is none libraw can hand out or it does not decode. */
static bool decode_preview(libraw_data_t *lr, const struct fr_decode_params *p, struct fr_raw_image *pv) {
    if (libraw_unpack_thumb(lr) != LIBRAW_SUCCESS) return false;
    const libraw_thumbnail_t *t = &lr->thumbnail;
    if (!t->thumb || t->tlength == 0) return false;
    char err[64];
    if (t->tformat == LIBRAW_THUMBNAIL_JPEG) {
        /* A nested decode: the same limits, DCT scaling to the target. */
        if (fr_image_sniff(t->thumb, t->tlength) != FR_FORMAT_JPEG) return false;
        return fr__decode_jpeg((const uint8_t *)t->thumb, t->tlength, p, pv, err, sizeof err) == FR_OK;
    }
    if (t->tformat == LIBRAW_THUMBNAIL_BITMAP && t->tcolors == 3 && t->twidth > 0 && t->theight > 0 &&
        t->tlength >= (unsigned)t->twidth * t->theight * 3 &&
        fr__check_limits(t->twidth, t->theight, p, err, sizeof err) == FR_OK) {
        struct fr_image *img = fr_image_new(t->twidth, t->theight);
        if (!img) return false;
        memcpy(img->data, t->thumb, (size_t)t->twidth * t->theight * 3);
        pv->img = img;
        pv->full_width = t->twidth;
        pv->full_height = t->theight;
        return true;
    }
    return false;
}

static enum fr_status lr_fail(int rc, const char *what, char *err, size_t errlen) {
    enum fr_status st = FR_ERR_IMAGE;
    if (rc == LIBRAW_UNSUFFICIENT_MEMORY) st = FR_ERR_NOMEM;
    else if (rc == LIBRAW_NOT_IMPLEMENTED) st = FR_ERR_UNSUPPORTED;
    else if (rc == LIBRAW_TOO_BIG) st = FR_ERR_TOO_LARGE;
    /* LIBRAW_FILE_UNSUPPORTED covers both damage and cameras libraw does
     * not know; the file did look like a RAW, so it is reported as a bad
     * image, with both causes named. */
    fr_errf(err, errlen, "%s camera RAW (%s): %s", st == FR_ERR_UNSUPPORTED ? "unsupported" : rc == LIBRAW_FILE_UNSUPPORTED ? "damaged or unknown" : "corrupt", what,
            libraw_strerror(rc));
    return st;
}

enum fr_status fr__decode_raw(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen) {
    /* Without the callbacks libraw prints nothing to stderr. */
    libraw_data_t *lr = libraw_init(LIBRAW_OPIONS_NO_MEMERR_CALLBACK | LIBRAW_OPIONS_NO_DATAERR_CALLBACK);
    if (!lr) {
        fr_errf(err, errlen, "cannot initialise the camera RAW decoder");
        return FR_ERR_NOMEM;
    }
    enum fr_status st = FR_ERR_IMAGE;
    libraw_processed_image_t *pi = NULL;
    struct fr_image *img = NULL;
    /* libraw's own cap on the raw buffer, from our pixel limit: 16-bit
     * samples, up to four per pixel. */
    uint64_t mb = ((uint64_t)p->max_pixels * 8 >> 20) + 64;
    lr->params.max_raw_memory_mb = (unsigned)(mb < 2048 ? mb : 2048);
    int rc = libraw_open_buffer(lr, (void *)buf, len);
    if (rc != LIBRAW_SUCCESS) {
        st = lr_fail(rc, "header", err, errlen);
        goto done;
    }
    int32_t w = lr->sizes.width, h = lr->sizes.height;
    if ((st = fr__check_limits(lr->sizes.raw_width, lr->sizes.raw_height, p, err, errlen)) != FR_OK ||
        (st = fr__check_limits(w, h, p, err, errlen)) != FR_OK)
        goto done;
    int32_t orientation = flip_to_exif(lr->sizes.flip);
    int32_t target = p->max_image_size;
    int32_t enough = target > 0 && target < FR_RAW_PREVIEW_MIN ? target : FR_RAW_PREVIEW_MIN;
    int32_t tlong = longer(lr->thumbnail.twidth, lr->thumbnail.theight);
    /* Without a target (max_image_size 0) only a full-size preview will do. */
    bool want_preview = tlong > 0 && (target > 0 ? tlong >= enough : tlong >= longer(w, h));
    struct fr_raw_image pv = { .orientation = 1 };
    if (want_preview && decode_preview(lr, p, &pv)) {
        int32_t plong = longer(pv.full_width, pv.full_height);
        if (target > 0 ? plong >= enough : plong >= longer(w, h)) {
            out->img = pv.img;
            out->icc = pv.icc; /* a preview JPEG's own profile, if any */
            out->icc_len = pv.icc_len;
            /* Coordinates map back to the sensor image when the preview has
             * its aspect ratio; else to the preview itself. */
            double ar = (double)w / h, par = (double)pv.full_width / pv.full_height;
            bool same = ar / par > 0.98 && ar / par < 1.02;
            out->full_width = same && longer(w, h) >= plong ? w : pv.full_width;
            out->full_height = same && longer(w, h) >= plong ? h : pv.full_height;
            out->orientation = orientation;
            st = FR_OK;
            goto done;
        }
        fr_image_free(pv.img);
        fr_free(pv.icc);
    }
    bool half = target > 0 && longer(w, h) / 2 >= enough;
    lr->params.half_size = half;
    lr->params.user_flip = 0;        /* orientation is applied by decode.c */
    lr->params.output_bps = 8;
    lr->params.output_color = 1;     /* sRGB primaries */
    lr->params.gamm[0] = 1 / 2.4;    /* and the sRGB curve, not BT.709's */
    lr->params.gamm[1] = 12.92;
    lr->params.use_camera_wb = 1;    /* the white balance the photographer saw */
    lr->params.use_camera_matrix = 1;
    if ((rc = libraw_unpack(lr)) != LIBRAW_SUCCESS) {
        st = lr_fail(rc, "sensor data", err, errlen);
        goto done;
    }
    if ((rc = libraw_dcraw_process(lr)) != LIBRAW_SUCCESS) {
        st = lr_fail(rc, "processing", err, errlen);
        goto done;
    }
    pi = libraw_dcraw_make_mem_image(lr, &rc);
    if (!pi || rc != LIBRAW_SUCCESS) {
        st = lr_fail(pi ? rc : LIBRAW_UNSUFFICIENT_MEMORY, "output", err, errlen);
        goto done;
    }
    if (pi->type != LIBRAW_IMAGE_BITMAP || pi->colors != 3 || pi->bits != 8 || pi->width == 0 || pi->height == 0 ||
        pi->data_size < (unsigned)pi->width * pi->height * 3) {
        fr_errf(err, errlen, "camera RAW: unexpected output (%u colours of %u bits)", pi->colors, pi->bits);
        st = FR_ERR_UNSUPPORTED;
        goto done;
    }
    if ((st = fr__check_limits(pi->width, pi->height, p, err, errlen)) != FR_OK) goto done;
    img = fr_image_new(pi->width, pi->height);
    if (!img) {
        fr_errf(err, errlen, "out of memory for a %ux%u image", pi->width, pi->height);
        st = FR_ERR_NOMEM;
        goto done;
    }
    memcpy(img->data, pi->data, (size_t)pi->width * pi->height * 3);
    out->img = img;
    out->full_width = pi->width, out->full_height = pi->height;
    if (half) {
        /* Half size rounds odd sides up; the sensor size is what maps back. */
        out->full_width = abs(w - 2 * pi->width) <= 1 ? w : 2 * pi->width;
        out->full_height = abs(h - 2 * pi->height) <= 1 ? h : 2 * pi->height;
    }
    out->orientation = orientation;
    st = FR_OK;
done:
    if (pi) libraw_dcraw_clear_mem(pi);
    libraw_close(lr);
    return st;
}
