/* JPEG via libturbojpeg: DCT-domain downscaling, CMYK/YCCK, EXIF
 * orientation, ICC profiles (APP2) converted to sRGB with lcms2. */
#include <stdbool.h>
#include <string.h>
#include <turbojpeg.h>

#include "image-impl.h"

/* DCT-domain downscaling. libjpeg-turbo has SIMD inverse DCTs only for the
 * power-of-two factors (1/1, 1/2, 1/4, 1/8); its 3/8, 5/8, 3/4 and 7/8
 * paths are scalar and measured slower than a full decode (4000x3000:
 * 5/8 takes 39 ms, 1/1 22 ms, 1/2 14 ms), so only those four are used.
 * The largest of them that fits the target is taken when it keeps at
 * least 90% of the target size (no resize needed: the image is already
 * within max_image_size); otherwise the smallest one not below the target,
 * followed by the area resize down to the target. */
static tjscalingfactor pick_scale(int w, int h, int32_t target) {
    tjscalingfactor one = { 1, 1 };
    int longer = w > h ? w : h;
    if (target <= 0 || longer <= target) return one;
    static const tjscalingfactor fast[4] = { { 1, 1 }, { 1, 2 }, { 1, 4 }, { 1, 8 } };
    tjscalingfactor hi = one;
    for (int i = 0; i < 4; i++) {
        int s = TJSCALED(longer, fast[i]);
        if (s >= target) hi = fast[i];
        else if (s * 10 >= target * 9) return fast[i];
        else break;
    }
    return hi;
}

/* libjpeg reports damaged data as warnings and fills the rest of the image
 * with grey. A few warnings are common in camera files whose pixels are
 * fine (extraneous bytes before a marker, unknown JFIF revisions or Adobe
 * transforms, a bad ICC chunk) and are accepted; any other message fails
 * the decode. It has to be an allow-list: TurboJPEG reports a fatal error
 * that follows a warning (a cut inside a marker after "Premature end of
 * JPEG file" gives "Bogus marker length") as a mere warning. */
static bool harmless(const char *msg) {
    static const char *const ok[] = { "extraneous bytes before marker", "unknown JFIF revision",
                                      "Unknown Adobe color transform", "bad ICC marker" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strstr(msg, ok[i])) return true;
    return false;
}

/* The ICC profile of a JPEG: the payloads of its APP2 "ICC_PROFILE"
 * segments (before the first scan), joined in sequence order. NULL when
 * there is none or the chunks are inconsistent; fr_malloc'd. */
static uint8_t *jpeg_icc(const uint8_t *b, size_t n, size_t *out_len) {
    const uint8_t *chunk[256] = { 0 };
    size_t clen[256] = { 0 }, total = 0;
    int count = 0;
    *out_len = 0;
    for (size_t i = 2; i + 4 <= n;) {
        if (b[i] != 0xFF) break;
        uint8_t m = b[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }
        if (m == 0xDA || m == 0xD9) break;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            i += 2;
            continue;
        }
        size_t seg = (size_t)(b[i + 2] << 8 | b[i + 3]);
        if (seg < 2 || i + 2 + seg > n) break;
        if (m == 0xE2 && seg >= 16 && !memcmp(b + i + 4, "ICC_PROFILE\0", 12)) {
            int seq = b[i + 16], cnt = b[i + 17];
            if (seq < 1 || seq > cnt || (count && cnt != count) || chunk[seq]) return NULL;
            count = cnt;
            chunk[seq] = b + i + 18;
            clen[seq] = seg - 16;
            total += seg - 16;
        }
        i += 2 + seg;
    }
    if (!count || total == 0) return NULL;
    for (int k = 1; k <= count; k++)
        if (!chunk[k]) return NULL;
    uint8_t *icc = fr_malloc(total);
    if (!icc) return NULL;
    size_t at = 0;
    for (int k = 1; k <= count; k++) {
        memcpy(icc + at, chunk[k], clen[k]);
        at += clen[k];
    }
    *out_len = total;
    return icc;
}

enum fr_status fr__decode_jpeg(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen) {
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        fr_errf(err, errlen, "cannot initialise the JPEG decoder");
        return FR_ERR_NOMEM;
    }
    enum fr_status st = FR_OK;
    uint8_t *cmyk = NULL, *icc = NULL;
    struct fr_image *img = NULL;
    int w = 0, h = 0, subsamp = 0, cs = 0;
    /* A harmless warning while reading the header still fills in the
     * sizes; only real failures stop here. */
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0 &&
        (tjGetErrorCode(tj) == TJERR_FATAL || !harmless(tjGetErrorStr2(tj)))) {
        fr_errf(err, errlen, "corrupt JPEG header: %s", tjGetErrorStr2(tj));
        st = FR_ERR_IMAGE;
        goto done;
    }
    if (w <= 0 || h <= 0) {
        fr_errf(err, errlen, "truncated or corrupt JPEG: no frame header");
        st = FR_ERR_IMAGE;
        goto done;
    }
    if ((st = fr__check_limits(w, h, p, err, errlen)) != FR_OK) goto done;
    tjscalingfactor sf = pick_scale(w, h, p->max_image_size);
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    img = fr_image_new(sw, sh);
    bool is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    if (is_cmyk) cmyk = fr_malloc((size_t)sw * sh * 4);
    if (!img || (is_cmyk && !cmyk)) {
        fr_errf(err, errlen, "out of memory for a %dx%d image", sw, sh);
        st = FR_ERR_NOMEM;
        goto done;
    }
    /* LIMITSCANS refuses progressive files with absurd scan counts, a
     * classic decoder denial of service. */
    int flags = TJFLAG_LIMITSCANS;
    int rc = is_cmyk ? tjDecompress2(tj, buf, (unsigned long)len, cmyk, sw, sw * 4, sh, TJPF_CMYK, flags)
                     : tjDecompress2(tj, buf, (unsigned long)len, img->data, sw, (int)img->stride, sh, TJPF_RGB, flags);
    if (rc != 0) {
        const char *msg = tjGetErrorStr2(tj);
        bool truncated = strstr(msg, "Premature end") || strstr(msg, "premature end");
        if (tjGetErrorCode(tj) == TJERR_FATAL || !harmless(msg)) {
            fr_errf(err, errlen, "%s JPEG data: %s", truncated ? "truncated" : "corrupt", msg);
            st = FR_ERR_IMAGE;
            goto done;
        }
    }
    size_t icc_len = 0;
    icc = jpeg_icc(buf, len, &icc_len);
    /* Photoshop and almost every other CMYK JPEG writer store inverted
     * CMYK (Adobe APP14): with a CMYK profile lcms2 reads it as such. */
    if (is_cmyk && icc && fr__icc_cmyk_to_srgb(cmyk, true, img, icc, icc_len)) {
        is_cmyk = false;
    } else if (!is_cmyk && icc) {
        out->icc = fr__icc_keep_rgb(icc, icc_len, &out->icc_len);
    }
    if (is_cmyk) {
        /* Without a usable profile: libjpeg hands the inverted CMYK back
         * as stored, so R = C * K / 255 and likewise for G and B. */
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++) {
                const uint8_t *s = cmyk + ((size_t)y * sw + x) * 4;
                uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * 3;
                for (int c = 0; c < 3; c++) d[c] = (uint8_t)((s[c] * s[3] + 127) / 255);
            }
    }
    out->img = img;
    img = NULL;
    out->full_width = w;
    out->full_height = h;
    out->orientation = fr__jpeg_orientation(buf, len);
done:
    fr_free(icc);
    fr_free(cmyk);
    fr_image_free(img);
    tjDestroy(tj);
    return st;
}
