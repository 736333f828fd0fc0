/* GIF via giflib: the first frame, drawn on the logical screen.
 *
 * Only the records up to the first image are read (not DGifSlurp, which
 * would decode every frame of an animation). Pixels the first frame leaves
 * uncovered and its transparent pixels are white: a transparent GIF shows
 * on a white page in practice, and white, unlike the colour stored under
 * the transparent index (often black or magenta), gives the detectors a
 * plain background. */
#include <gif_lib.h>
#include <string.h>

#include "image-impl.h"

struct gif_src {
    const uint8_t *buf;
    size_t len, pos;
};

static int read_mem(GifFileType *gif, GifByteType *dst, int n) {
    struct gif_src *s = gif->UserData;
    if (n < 0) return 0;
    size_t left = s->len - s->pos;
    if ((size_t)n > left) n = (int)left;
    memcpy(dst, s->buf + s->pos, (size_t)n);
    s->pos += (size_t)n;
    return n;
}

static enum fr_status gif_fail(GifFileType *gif, int code, char *err, size_t errlen) {
    const char *msg = GifErrorString(code ? code : gif ? gif->Error : 0);
    bool truncated = code == D_GIF_ERR_READ_FAILED || (gif && gif->Error == D_GIF_ERR_READ_FAILED);
    fr_errf(err, errlen, "%s GIF: %s", truncated ? "truncated" : "corrupt", msg ? msg : "decoding failed");
    return FR_ERR_IMAGE;
}

enum fr_status fr__decode_gif(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen) {
    struct gif_src src = { buf, len, 0 };
    int code = 0;
    GifFileType *gif = DGifOpen(&src, read_mem, &code);
    if (!gif) return gif_fail(NULL, code, err, errlen);
    enum fr_status st = FR_ERR_IMAGE;
    struct fr_image *img = NULL;
    GifByteType *line = NULL;
    int32_t w = gif->SWidth, h = gif->SHeight;
    if ((st = fr__check_limits(w, h, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    int transparent = -1;
    for (;;) {
        GifRecordType rt;
        if (DGifGetRecordType(gif, &rt) == GIF_ERROR) {
            st = gif_fail(gif, 0, err, errlen);
            goto done;
        }
        if (rt == TERMINATE_RECORD_TYPE) {
            fr_errf(err, errlen, "corrupt GIF: no image in the file");
            goto done;
        }
        if (rt == EXTENSION_RECORD_TYPE) {
            int ext = 0;
            GifByteType *block = NULL;
            if (DGifGetExtension(gif, &ext, &block) == GIF_ERROR) {
                st = gif_fail(gif, 0, err, errlen);
                goto done;
            }
            /* The graphic control extension that precedes the first image
             * carries its transparent colour index. */
            if (ext == GRAPHICS_EXT_FUNC_CODE && block && block[0] >= 4) {
                GraphicsControlBlock gcb;
                if (DGifExtensionToGCB(block[0], block + 1, &gcb) == GIF_OK) transparent = gcb.TransparentColor;
            }
            while (block) {
                if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) {
                    st = gif_fail(gif, 0, err, errlen);
                    goto done;
                }
            }
            continue;
        }
        if (rt == IMAGE_DESC_RECORD_TYPE) break;
        /* UNDEFINED_RECORD_TYPE or SCREEN_DESC_RECORD_TYPE: not valid here. */
        fr_errf(err, errlen, "corrupt GIF: unexpected record type %d", (int)rt);
        goto done;
    }
    if (DGifGetImageDesc(gif) == GIF_ERROR) {
        st = gif_fail(gif, 0, err, errlen);
        goto done;
    }
    const GifImageDesc *d = &gif->Image;
    const ColorMapObject *cmap = d->ColorMap ? d->ColorMap : gif->SColorMap;
    if (!cmap || !cmap->Colors || cmap->ColorCount <= 0) {
        fr_errf(err, errlen, "corrupt GIF: no colour table");
        goto done;
    }
    /* The frame's own size bounds the line buffer; it may lie partly off
     * the screen (clipped below) but not be larger than the limits. */
    if (d->Width <= 0 || d->Height <= 0) {
        fr_errf(err, errlen, "corrupt GIF: frame of %dx%d", d->Width, d->Height);
        goto done;
    }
    if ((st = fr__check_limits(d->Width, d->Height, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    img = fr_image_new(w, h);
    line = fr_malloc((size_t)d->Width);
    if (!img || !line) {
        fr_errf(err, errlen, "out of memory for a %dx%d image", w, h);
        st = FR_ERR_NOMEM;
        goto done;
    }
    memset(img->data, 255, img->stride * (size_t)h);
    /* Interlaced frames deliver rows in four passes. */
    static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
    int passes = d->Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; pass++) {
        for (int r = d->Interlace ? start[pass] : 0; r < d->Height; r += d->Interlace ? step[pass] : 1) {
            if (DGifGetLine(gif, line, d->Width) == GIF_ERROR) {
                st = gif_fail(gif, 0, err, errlen);
                goto done;
            }
            int64_t y = (int64_t)d->Top + r;
            if (y < 0 || y >= h) continue;
            uint8_t *row = img->data + (size_t)y * img->stride;
            for (int x = 0; x < d->Width; x++) {
                int64_t sx = (int64_t)d->Left + x;
                if (sx < 0 || sx >= w || line[x] == transparent) continue;
                /* Indices past a short colour table are black, as browsers
                 * draw them. */
                GifColorType c = line[x] < cmap->ColorCount ? cmap->Colors[line[x]] : (GifColorType){ 0, 0, 0 };
                row[sx * 3] = c.Red, row[sx * 3 + 1] = c.Green, row[sx * 3 + 2] = c.Blue;
            }
        }
    }
    out->img = img;
    img = NULL;
    out->full_width = w;
    out->full_height = h;
    out->orientation = 1;
    st = FR_OK;
done:
    fr_free(line);
    fr_image_free(img);
    DGifCloseFile(gif, &code);
    return st;
}
