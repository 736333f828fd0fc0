/* WebP via libwebp: lossy, lossless, alpha, animation (first frame), EXIF. */
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "image-impl.h"

enum fr_status fr__decode_webp(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen) {
    WebPBitstreamFeatures ft;
    VP8StatusCode vs = WebPGetFeatures(buf, len, &ft);
    if (vs != VP8_STATUS_OK) {
        fr_errf(err, errlen, "%s WebP header (libwebp status %d)",
                vs == VP8_STATUS_NOT_ENOUGH_DATA ? "truncated" : "corrupt", (int)vs);
        return FR_ERR_IMAGE;
    }
    WebPData data = { buf, len };
    WebPDemuxer *dmx = WebPDemux(&data);
    int32_t w = ft.width, h = ft.height;
    if (dmx) {
        /* For animations the canvas, not the first frame, is the image. */
        w = (int32_t)WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
        h = (int32_t)WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
    }
    enum fr_status st = fr__check_limits(w, h, p, err, errlen);
    struct fr_image *img = NULL;
    WebPAnimDecoder *anim = NULL;
    if (st != FR_OK) goto done;
    int32_t orientation = 1;
    WebPChunkIterator ci;
    if (dmx && WebPDemuxGetChunk(dmx, "EXIF", 1, &ci)) {
        orientation = fr__exif_orientation(ci.chunk.bytes, ci.chunk.size);
        WebPDemuxReleaseChunkIterator(&ci);
    }
    img = fr_image_new(w, h);
    if (!img) {
        fr_errf(err, errlen, "out of memory for a %dx%d image", w, h);
        st = FR_ERR_NOMEM;
        goto done;
    }
    if (ft.has_animation) {
        WebPAnimDecoderOptions ao;
        WebPAnimDecoderOptionsInit(&ao);
        ao.color_mode = MODE_RGBA;
        ao.use_threads = 0;
        anim = WebPAnimDecoderNew(&data, &ao);
        uint8_t *frame = NULL;
        int ts = 0;
        if (!anim || !WebPAnimDecoderGetNext(anim, &frame, &ts) || !frame) {
            fr_errf(err, errlen, "corrupt or truncated animated WebP");
            st = FR_ERR_IMAGE;
            goto done;
        }
        for (int32_t y = 0; y < h; y++)
            for (int32_t x = 0; x < w; x++) {
                const uint8_t *s = frame + ((size_t)y * w + x) * 4;
                uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * 3;
                d[0] = s[0], d[1] = s[1], d[2] = s[2];
            }
    } else if (!WebPDecodeRGBInto(buf, len, img->data, img->stride * (size_t)h, (int)img->stride)) {
        fr_errf(err, errlen, "corrupt or truncated WebP data");
        st = FR_ERR_IMAGE;
        goto done;
    }
    out->img = img;
    img = NULL;
    out->full_width = w;
    out->full_height = h;
    out->orientation = orientation;
done:
    WebPAnimDecoderDelete(anim);
    WebPDemuxDelete(dmx);
    fr_image_free(img);
    return st;
}
