/* EXIF orientation: parsing and applying it. */
#include <string.h>

#include "image-impl.h"

static uint32_t rd16(const uint8_t *p, bool le) { return le ? (uint32_t)(p[0] | p[1] << 8) : (uint32_t)(p[0] << 8 | p[1]); }

static uint32_t rd32(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int32_t fr__exif_orientation(const uint8_t *d, size_t n) {
    if (n >= 6 && memcmp(d, "Exif\0\0", 6) == 0) d += 6, n -= 6;
    if (n < 8) return 1;
    bool le;
    if (d[0] == 'I' && d[1] == 'I') le = true;
    else if (d[0] == 'M' && d[1] == 'M') le = false;
    else return 1;
    if (rd16(d + 2, le) != 42) return 1;
    uint32_t ifd = rd32(d + 4, le);
    if (ifd > n - 2 || ifd < 8) return 1;
    uint32_t count = rd16(d + ifd, le);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 1;
        if (rd16(d + e, le) != 0x0112) continue;
        /* Orientation is a SHORT with count 1, stored in the value field. */
        if (rd16(d + e + 2, le) != 3 || rd32(d + e + 4, le) != 1) return 1;
        uint32_t o = rd16(d + e + 8, le);
        return o >= 1 && o <= 8 ? (int32_t)o : 1;
    }
    return 1;
}

int32_t fr__jpeg_orientation(const uint8_t *b, size_t n) {
    size_t i = 2; /* after SOI */
    while (i + 4 <= n) {
        if (b[i] != 0xFF) return 1;
        uint8_t m = b[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xDA || m == 0xD9) return 1; /* SOS / EOI: no EXIF before the image data */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* markers without a length */
            i += 2;
            continue;
        }
        size_t seg = (size_t)(b[i + 2] << 8 | b[i + 3]);
        if (seg < 2 || i + 2 + seg > n) return 1;
        if (m == 0xE1 && seg >= 8 && memcmp(b + i + 4, "Exif\0\0", 6) == 0)
            return fr__exif_orientation(b + i + 4, seg - 2);
        i += 2 + seg;
    }
    return 1;
}

struct fr_image *fr__image_orient(const struct fr_image *src, int32_t o) {
    if (o <= 1 || o > 8) return (struct fr_image *)src;
    bool swap = o >= 5;
    int32_t w = src->width, h = src->height;
    struct fr_image *dst = fr_image_new(swap ? h : w, swap ? w : h);
    if (!dst) return NULL;
    int32_t dw = dst->width, dh = dst->height;
    /* For each stored pixel (x, y), where it lands in the upright image.
     * EXIF: 2 mirror horizontal, 3 rotate 180, 4 mirror vertical, 5 transpose,
     * 6 rotate 90 CW, 7 transverse, 8 rotate 90 CCW. */
    for (int32_t y = 0; y < h; y++) {
        const uint8_t *s = src->data + (size_t)y * src->stride;
        for (int32_t x = 0; x < w; x++) {
            int32_t ux, uy;
            switch (o) {
            case 2: ux = w - 1 - x, uy = y; break;
            case 3: ux = w - 1 - x, uy = h - 1 - y; break;
            case 4: ux = x, uy = h - 1 - y; break;
            case 5: ux = y, uy = x; break;
            case 6: ux = h - 1 - y, uy = x; break;
            case 7: ux = h - 1 - y, uy = w - 1 - x; break;
            default: ux = y, uy = w - 1 - x; break; /* 8 */
            }
            (void)dw;
            (void)dh;
            uint8_t *d = dst->data + (size_t)uy * dst->stride + (size_t)ux * 3;
            d[0] = s[x * 3], d[1] = s[x * 3 + 1], d[2] = s[x * 3 + 2];
        }
    }
    return dst;
}
