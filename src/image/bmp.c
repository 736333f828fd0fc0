/* BMP (Windows and OS/2 bitmaps), our own decoder.
 *
 * Debian 12 has no small C library that only decodes BMP: gdk-pixbuf and
 * ImageMagick bring an object system or a whole image toolkit, and stb
 * (libstb-dev) is not in the dependency set. BMP is simple enough to read
 * here, bounds-checked against the buffer at every step: core (OS/2 1.x),
 * INFO, V2-V5 headers; 1, 4 and 8-bit palettes, RLE8 and RLE4; 16 and
 * 32-bit with or without bit fields; 24-bit; bottom-up and top-down rows;
 * an embedded V5 ICC profile. JPEG- and PNG-compressed BMPs (printer
 * formats) are refused by name. */
#include <string.h>

#include "image-impl.h"

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4, BI_PNG = 5, BI_ALPHABITFIELDS = 6 };

/* One colour channel of a bit-field pixel: where it sits and how to scale
 * it to 0-255. */
struct field {
    uint32_t mask;
    int shift;
    uint32_t max;
};

static struct field make_field(uint32_t mask) {
    struct field f = { mask, 0, 0 };
    if (!mask) return f;
    while (!(mask & 1)) mask >>= 1, f.shift++;
    f.max = mask; /* the mask's bits, shifted down (gaps count as set) */
    return f;
}

static uint8_t field_value(const struct field *f, uint32_t px) {
    if (!f->mask) return 0;
    uint64_t v = (px & f->mask) >> f->shift;
    return (uint8_t)((v * 255 + f->max / 2) / f->max);
}

/* Run-length decoding into an index buffer (w*h, row 0 = first stored
 * row). Delta jumps leave index 0 behind. Data past the end of the input
 * is truncation; escapes past the image are ignored, as readers do. */
static enum fr_status rle_decode(const uint8_t *s, size_t n, bool rle4, int32_t w, int32_t h, uint8_t *idx, char *err,
                                 size_t errlen) {
    size_t i = 0;
    int64_t x = 0, y = 0;
    for (;;) {
        if (i + 2 > n) {
            fr_errf(err, errlen, "truncated BMP: RLE data ends without an end-of-bitmap code");
            return FR_ERR_IMAGE;
        }
        uint32_t a = s[i], b = s[i + 1];
        i += 2;
        if (a > 0) { /* an encoded run of a pixels */
            for (uint32_t k = 0; k < a; k++, x++)
                if (y < h && x < w) idx[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)(rle4 ? (k & 1 ? b & 15 : b >> 4) : b);
            continue;
        }
        if (b == 0) { /* end of line */
            x = 0, y++;
        } else if (b == 1) { /* end of bitmap */
            return FR_OK;
        } else if (b == 2) { /* delta */
            if (i + 2 > n) {
                fr_errf(err, errlen, "truncated BMP: RLE delta cut off");
                return FR_ERR_IMAGE;
            }
            x += s[i], y += s[i + 1];
            i += 2;
        } else { /* an absolute run of b pixels, padded to 16 bits */
            size_t bytes = rle4 ? (b + 1) / 2 : b;
            if (i + bytes > n) {
                fr_errf(err, errlen, "truncated BMP: RLE run cut off");
                return FR_ERR_IMAGE;
            }
            for (uint32_t k = 0; k < b; k++, x++) {
                uint8_t v = rle4 ? (uint8_t)(k & 1 ? s[i + k / 2] & 15 : s[i + k / 2] >> 4) : s[i + k];
                if (y < h && x < w) idx[(size_t)y * (size_t)w + (size_t)x] = v;
            }
            i += bytes + (bytes & 1);
        }
        if (y > h) return FR_OK; /* past the last row: nothing more can land */
    }
}

enum fr_status fr__decode_bmp(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen) {
    if (len < 26) {
        fr_errf(err, errlen, "truncated BMP: %zu bytes, shorter than its headers", len);
        return FR_ERR_IMAGE;
    }
    uint32_t offset = le32(buf + 10), hsize = le32(buf + 14);
    int64_t w, h;
    uint32_t bpp, comp = BI_RGB, ncolors = 0;
    bool core = hsize == 12;
    if (core) {
        w = le16(buf + 18), h = (int16_t)le16(buf + 20);
        bpp = le16(buf + 24);
    } else if (hsize >= 40 && hsize <= 124) {
        if (len < 14 + 40) {
            fr_errf(err, errlen, "truncated BMP: header cut off");
            return FR_ERR_IMAGE;
        }
        w = (int32_t)le32(buf + 18), h = (int32_t)le32(buf + 22);
        bpp = le16(buf + 28);
        comp = le32(buf + 30);
        ncolors = le32(buf + 46);
    } else {
        fr_errf(err, errlen, "corrupt BMP: unknown header size %u", hsize);
        return FR_ERR_IMAGE;
    }
    bool top_down = h < 0;
    if (top_down) h = -h;
    enum fr_status st = fr__check_limits(w, h, p, err, errlen);
    if (st != FR_OK) return st;
    if (comp == BI_JPEG || comp == BI_PNG) {
        fr_errf(err, errlen, "unsupported BMP variant: %s-compressed", comp == BI_JPEG ? "JPEG" : "PNG");
        return FR_ERR_UNSUPPORTED;
    }
    bool rle = comp == BI_RLE8 || comp == BI_RLE4;
    bool fields = comp == BI_BITFIELDS || comp == BI_ALPHABITFIELDS;
    bool ok_depth = (comp == BI_RGB && (bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32)) ||
                    (comp == BI_RLE8 && bpp == 8) || (comp == BI_RLE4 && bpp == 4) ||
                    (fields && (bpp == 16 || bpp == 32));
    if (!ok_depth) {
        fr_errf(err, errlen, "corrupt BMP: %u bits per pixel with compression %u", bpp, comp);
        return FR_ERR_IMAGE;
    }
    size_t hdr_end = 14 + (size_t)hsize;
    /* Bit fields: in the V2+ header, or three (four) masks after INFO. */
    struct field f[3] = { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } };
    if (fields || bpp == 16 || bpp == 32) {
        uint32_t m[3] = { 0x7C00, 0x03E0, 0x001F };
        if (bpp == 32) m[0] = 0xFF0000, m[1] = 0xFF00, m[2] = 0xFF;
        if (fields) {
            size_t at = 14 + 40;
            if (hsize == 40) hdr_end += comp == BI_ALPHABITFIELDS ? 16 : 12;
            if (at + 12 > len) {
                fr_errf(err, errlen, "truncated BMP: bit fields cut off");
                return FR_ERR_IMAGE;
            }
            for (int c = 0; c < 3; c++) m[c] = le32(buf + at + (size_t)c * 4);
        }
        for (int c = 0; c < 3; c++) f[c] = make_field(m[c]);
    }
    /* The palette follows the headers. */
    const uint8_t *pal = NULL;
    uint32_t npal = 0, entry = core ? 3 : 4;
    if (bpp <= 8) {
        npal = ncolors && ncolors < (1u << bpp) ? ncolors : 1u << bpp;
        if (hdr_end > len || (len - hdr_end) / entry < npal) {
            /* Some writers store a shorter palette than the depth allows;
             * take what fits before the pixels. */
            size_t room = offset > hdr_end && offset <= len ? (offset - hdr_end) / entry : 0;
            if (room == 0) {
                fr_errf(err, errlen, "truncated BMP: colour table cut off");
                return FR_ERR_IMAGE;
            }
            npal = (uint32_t)(room < npal ? room : npal);
        }
        pal = buf + hdr_end;
    }
    if (offset < hdr_end || offset >= len) {
        fr_errf(err, errlen, "%s BMP: pixel data offset %u outside the file", offset >= len ? "truncated" : "corrupt",
                offset);
        return FR_ERR_IMAGE;
    }
    const uint8_t *px = buf + offset;
    size_t avail = len - offset;
    size_t stride = ((size_t)w * bpp + 31) / 32 * 4;
    if (!rle && avail / stride < (size_t)h) {
        fr_errf(err, errlen, "truncated BMP: %zu bytes of pixels for %lld rows of %zu", avail, (long long)h, stride);
        return FR_ERR_IMAGE;
    }
    struct fr_image *img = fr_image_new((int32_t)w, (int32_t)h);
    uint8_t *idx = rle ? fr_calloc((size_t)w, (size_t)h) : NULL;
    if (!img || (rle && !idx)) {
        fr_free(idx);
        fr_image_free(img);
        fr_errf(err, errlen, "out of memory for a %lldx%lld image", (long long)w, (long long)h);
        return FR_ERR_NOMEM;
    }
    if (rle && (st = rle_decode(px, avail, comp == BI_RLE4, (int32_t)w, (int32_t)h, idx, err, errlen)) != FR_OK) {
        fr_free(idx);
        fr_image_free(img);
        return st;
    }
    for (int64_t r = 0; r < h; r++) {
        /* Stored rows run bottom-up unless the height is negative. */
        int64_t y = top_down ? r : h - 1 - r;
        uint8_t *d = img->data + (size_t)y * img->stride;
        const uint8_t *s = rle ? idx + (size_t)r * (size_t)w : px + (size_t)r * stride;
        for (int64_t x = 0; x < w; x++, d += 3) {
            uint32_t i;
            switch (rle ? 8 : bpp) {
            case 1: i = s[x / 8] >> (7 - x % 8) & 1; break;
            case 4: i = x & 1 ? s[x / 2] & 15 : s[x / 2] >> 4; break;
            case 8: i = s[x]; break;
            case 24:
                d[0] = s[x * 3 + 2], d[1] = s[x * 3 + 1], d[2] = s[x * 3];
                continue;
            default: { /* 16 or 32 */
                uint32_t v = bpp == 16 ? le16(s + x * 2) : le32(s + x * 4);
                for (int c = 0; c < 3; c++) d[c] = field_value(&f[c], v);
                continue;
            }
            }
            /* Indices past the palette are black. */
            if (i < npal) d[0] = pal[i * entry + 2], d[1] = pal[i * entry + 1], d[2] = pal[i * entry];
        }
    }
    fr_free(idx);
    /* V5: an embedded profile ('MBED'), its offset counted from the header. */
    if (hsize >= 124 && 14 + 124 <= len && le32(buf + 14 + 56) == 0x4D424544) {
        uint32_t po = le32(buf + 14 + 112), pn = le32(buf + 14 + 116);
        if (pn && po <= len - 14 && pn <= len - 14 - po) out->icc = fr__icc_keep_rgb(buf + 14 + po, pn, &out->icc_len);
    }
    out->img = img;
    out->full_width = (int32_t)w;
    out->full_height = (int32_t)h;
    out->orientation = 1;
    return FR_OK;
}
