/* Test images generated in memory by the encoder libraries (see the header). */
#include "image-fixtures.h"

#include <libheif/heif.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <webp/encode.h>
#include <webp/mux.h>

void fr_fx_blob_free(struct fr_fx_blob *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

bool fr_fx_blob_copy(const uint8_t *data, size_t len, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    if (len == 0) return true;
    out->data = malloc(len);
    if (!out->data) return false;
    memcpy(out->data, data, len);
    out->len = len;
    return true;
}

bool fr_fx_blob_append(struct fr_fx_blob *b, const void *data, size_t n) {
    uint8_t *p = realloc(b->data, b->len + n + 1);
    if (!p) return false;
    if (n) memcpy(p + b->len, data, n);
    b->data = p;
    b->len += n;
    return true;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get_le32(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* ---- pattern ----------------------------------------------------------- */

void fr_fx_marker_rect(int w, int h, int *x0, int *y0, int *x1, int *y1) {
    /* Off-centre and not square, so every flip and rotation moves it. */
    *x0 = w / 16;
    *y0 = h / 16;
    *x1 = *x0 + (w / 5 > 1 ? w / 5 : 1);
    *y1 = *y0 + (h / 6 > 1 ? h / 6 : 1);
}

uint8_t *fr_fx_pattern_rgb(int w, int h) {
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    if (!p) return NULL;
    int mx0, my0, mx1, my1;
    fr_fx_marker_rect(w, h, &mx0, &my0, &mx1, &my1);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *px = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
            if (x >= mx0 && x < mx1 && y >= my0 && y < my1) {
                px[0] = 32, px[1] = 32, px[2] = 255;
                continue;
            }
            /* Smooth ramps keep lossy codecs close to the source, so a small
             * error bound still separates right from wrong orientations. */
            px[0] = (uint8_t)(w > 1 ? x * 255 / (w - 1) : 128);
            px[1] = (uint8_t)(h > 1 ? y * 255 / (h - 1) : 128);
            px[2] = (uint8_t)(48 + (w + h > 2 ? (x + y) * 128 / (w + h - 2) : 64));
        }
    }
    return p;
}

uint8_t fr_fx_alpha(int x, int y) { return (uint8_t)(64 + (x * 3 + y * 5) % 192); }

uint8_t *fr_fx_rgba_from_rgb(const uint8_t *rgb, int w, int h) {
    uint8_t *p = malloc((size_t)w * (size_t)h * 4);
    if (!p) return NULL;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            memcpy(p + i * 4, rgb + i * 3, 3);
            p[i * 4 + 3] = fr_fx_alpha(x, y);
        }
    }
    return p;
}

uint8_t fr_fx_luma(const uint8_t *px) {
    /* libjpeg's and libpng's rgb-to-gray weights, rounded. */
    return (uint8_t)((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 32768u) >> 16);
}

/* ---- JPEG ---------------------------------------------------------------- */

/* libjpeg-turbo's rgb_to_cmyk (cmyk.h): inverted (Adobe) CMYK, so that
 * r = c * k / 255 recovers the source. */
static void rgb_to_cmyk(const uint8_t *rgb, uint8_t *cmyk) {
    double c = 1.0 - rgb[0] / 255.0, m = 1.0 - rgb[1] / 255.0, y = 1.0 - rgb[2] / 255.0;
    double k = c < m ? (c < y ? c : y) : (m < y ? m : y);
    if (k == 1.0) {
        c = m = y = 0.0;
    } else {
        c = (c - k) / (1.0 - k);
        m = (m - k) / (1.0 - k);
        y = (y - k) / (1.0 - k);
    }
    cmyk[0] = (uint8_t)(255.0 - c * 255.0 + 0.5);
    cmyk[1] = (uint8_t)(255.0 - m * 255.0 + 0.5);
    cmyk[2] = (uint8_t)(255.0 - y * 255.0 + 0.5);
    cmyk[3] = (uint8_t)(255.0 - k * 255.0 + 0.5);
}

bool fr_fx_jpeg(const uint8_t *rgb, int w, int h, int quality, int subsamp, unsigned flags, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    tjhandle tj = tjInitCompress();
    if (!tj) return false;
    const uint8_t *src = rgb;
    uint8_t *cmyk = NULL;
    int pf = TJPF_RGB, pitch = w * 3;
    if (flags & FR_FX_JPEG_CMYK) {
        cmyk = malloc((size_t)w * (size_t)h * 4);
        if (!cmyk) {
            tjDestroy(tj);
            return false;
        }
        for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
            rgb_to_cmyk(rgb + i * 3, cmyk + i * 4);
        src = cmyk;
        pf = TJPF_CMYK;
        pitch = w * 4;
    }
    unsigned char *jbuf = NULL;
    unsigned long jlen = 0;
    int tjflags = (flags & FR_FX_JPEG_PROGRESSIVE) ? TJFLAG_PROGRESSIVE : 0;
    bool ok = tjCompress2(tj, src, w, pitch, h, pf, &jbuf, &jlen, subsamp, quality, tjflags) == 0 &&
              fr_fx_blob_copy(jbuf, jlen, out);
    if (!ok) fprintf(stderr, "fr_fx_jpeg: %s\n", tjGetErrorStr2(tj));
    tjFree(jbuf);
    free(cmyk);
    tjDestroy(tj);
    return ok;
}

static void put16(uint8_t *p, uint16_t v, bool be) {
    p[be ? 0 : 1] = (uint8_t)(v >> 8);
    p[be ? 1 : 0] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v, bool be) {
    if (be)
        put_be32(p, v);
    else
        put_le32(p, v);
}

bool fr_fx_exif(int orientation, bool big_endian, struct fr_fx_blob *out) {
    /* Header (8) + IFD0: count (2), two entries (24), next-IFD offset (4),
     * then the Make string the first entry points at. */
    static const char make[8] = "facerec";
    uint8_t t[46] = {0};
    bool be = big_endian;
    t[0] = t[1] = be ? 'M' : 'I';
    put16(t + 2, 42, be);
    put32(t + 4, 8, be);
    put16(t + 8, 2, be);
    put16(t + 10, 0x010F, be); /* Make, ASCII, 8 bytes at offset 38 */
    put16(t + 12, 2, be);
    put32(t + 14, sizeof make, be);
    put32(t + 18, 38, be);
    put16(t + 22, 0x0112, be); /* Orientation, SHORT, 1, left-justified */
    put16(t + 24, 3, be);
    put32(t + 26, 1, be);
    put16(t + 30, (uint16_t)orientation, be);
    put32(t + 34, 0, be);
    memcpy(t + 38, make, sizeof make);
    return fr_fx_blob_copy(t, sizeof t, out);
}

bool fr_fx_jpeg_add_exif(const struct fr_fx_blob *jpeg, const struct fr_fx_blob *tiff, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    if (jpeg->len < 4 || tiff->len + 8 > 65535) return false;
    size_t at = 2;
    if (jpeg->data[2] == 0xFF && jpeg->data[3] == 0xE0 && jpeg->len >= 6)
        at = 4 + ((size_t)jpeg->data[4] << 8 | jpeg->data[5]);
    if (at > jpeg->len) return false;
    size_t seg = 2 + 6 + tiff->len;
    uint8_t hdr[10] = {0xFF, 0xE1, (uint8_t)(seg >> 8), (uint8_t)seg, 'E', 'x', 'i', 'f', 0, 0};
    bool ok = fr_fx_blob_append(out, jpeg->data, at) && fr_fx_blob_append(out, hdr, sizeof hdr) &&
              fr_fx_blob_append(out, tiff->data, tiff->len) && fr_fx_blob_append(out, jpeg->data + at, jpeg->len - at);
    if (!ok) fr_fx_blob_free(out);
    return ok;
}

bool fr_fx_jpeg_set_size(struct fr_fx_blob *jpeg, int w, int h) {
    uint8_t *d = jpeg->data;
    size_t pos = 2;
    while (pos + 9 <= jpeg->len) {
        if (d[pos] != 0xFF) return false;
        uint8_t m = d[pos + 1];
        if (m == 0xFF) {
            pos++;
            continue;
        }
        if (m == 0xDA || m == 0xD9) return false;
        bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
            d[pos + 5] = (uint8_t)(h >> 8), d[pos + 6] = (uint8_t)h;
            d[pos + 7] = (uint8_t)(w >> 8), d[pos + 8] = (uint8_t)w;
            return true;
        }
        pos += 2 + ((size_t)d[pos + 2] << 8 | d[pos + 3]);
    }
    return false;
}

/* ---- PNG ----------------------------------------------------------------- */

/* The low byte of a 16-bit sample: arbitrary but fixed, so a decoder that
 * reads the wrong byte of a sample is off by far more than one level. */
static uint8_t low_byte(int x, int y, int c) { return (uint8_t)((x * 31 + y * 17 + c * 101) & 0xff); }

/* Palette entry i of an n-entry palette; n == 256 uses a 6x6x6 cube. */
static void palette_entry(int n, int i, uint8_t *rgb) {
    if (n == 256) {
        rgb[0] = (uint8_t)(i / 36 % 6 * 51), rgb[1] = (uint8_t)(i / 6 % 6 * 51), rgb[2] = (uint8_t)(i % 6 * 51);
        return;
    }
    rgb[0] = (uint8_t)(i * 255 / (n - 1));
    rgb[1] = (uint8_t)(255 - i * 255 / (n - 1));
    rgb[2] = (uint8_t)(i * 97 & 0xff);
}

static int palette_index(int n, const uint8_t *px) {
    if (n == 256) return px[0] / 43 * 36 + px[1] / 43 * 6 + px[2] / 43;
    return fr_fx_luma(px) * n / 256;
}

struct png_sink {
    struct fr_fx_blob blob;
    bool failed;
};

static void png_sink_write(png_structp png, png_bytep data, png_size_t n) {
    struct png_sink *s = png_get_io_ptr(png);
    if (!fr_fx_blob_append(&s->blob, data, n)) {
        s->failed = true;
        png_error(png, "out of memory");
    }
}

static void png_sink_flush(png_structp png) { (void)png; }

static void png_fx_error(png_structp png, png_const_charp msg) {
    fprintf(stderr, "fr_fx_png: %s\n", msg);
    png_longjmp(png, 1);
}

static void png_fx_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* Sample c of pixel (x, y) at the file's depth, and what a decoder should
 * return for it at 8 bits. */
static unsigned png_sample(int ct, int depth, const uint8_t *px, int x, int y, int c, uint8_t *expect8) {
    bool gray = !(ct & PNG_COLOR_MASK_COLOR);
    uint8_t v8 = c == 3 ? fr_fx_alpha(x, y) : gray ? fr_fx_luma(px) : px[c];
    if (depth == 16) {
        *expect8 = v8;
        return (unsigned)v8 << 8 | low_byte(x, y, c);
    }
    unsigned v = v8 >> (8 - depth);
    *expect8 = (uint8_t)(v * 255 / ((1u << depth) - 1));
    return v;
}

bool fr_fx_png(const uint8_t *rgb, int w, int h, const struct fr_fx_png_opts *o, struct fr_fx_blob *out,
               uint8_t **expected) {
    out->data = NULL;
    out->len = 0;
    if (expected) *expected = NULL;
    int ct = o->color_type, depth = o->bit_depth;
    bool palette = ct == PNG_COLOR_TYPE_PALETTE;
    int channels = palette ? 1 : ((ct & PNG_COLOR_MASK_COLOR) ? 3 : 1) + ((ct & PNG_COLOR_MASK_ALPHA) ? 1 : 0);
    if (o->trns && (ct & PNG_COLOR_MASK_ALPHA)) return false;
    uint8_t *pattern = rgb ? NULL : fr_fx_pattern_rgb(w, h);
    const uint8_t *src = rgb ? rgb : pattern;
    size_t rowbytes = ((size_t)w * (size_t)channels * (size_t)depth + 7) / 8;
    uint8_t *pix = calloc(rowbytes * (size_t)h + 1, 1);
    uint8_t *exp = malloc((size_t)w * (size_t)h * 3 + 1);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h + 1);
    int n = 1 << depth;
    png_color pal[256];
    png_byte trns_alpha[256];
    png_color_16 trns_color = {0};
    if (!src || !pix || !exp || !rows) goto fail;
    if (palette) {
        for (int i = 0; i < n; i++) {
            uint8_t e[3];
            palette_entry(n, i, e);
            pal[i] = (png_color){e[0], e[1], e[2]};
            trns_alpha[i] = (png_byte)(i * 53 & 0xff); /* entry 0 fully transparent */
        }
    }
    for (int y = 0; y < h; y++) {
        uint8_t *row = pix + (size_t)y * rowbytes;
        rows[y] = row;
        for (int x = 0; x < w; x++) {
            const uint8_t *px = src + ((size_t)y * (size_t)w + (size_t)x) * 3;
            uint8_t *e = exp + ((size_t)y * (size_t)w + (size_t)x) * 3;
            unsigned samples[4];
            if (palette) {
                int i = palette_index(n, px);
                samples[0] = (unsigned)i;
                e[0] = pal[i].red, e[1] = pal[i].green, e[2] = pal[i].blue;
            } else {
                for (int c = 0; c < channels; c++) {
                    bool color = ct & PNG_COLOR_MASK_COLOR;
                    int sc = (!color && c == 1) ? 3 : c; /* gray+alpha: the second sample is alpha */
                    uint8_t e8;
                    samples[c] = png_sample(ct, depth, px, x, y, sc, &e8);
                    if (sc < 3) {
                        if (color)
                            e[sc] = e8;
                        else
                            e[0] = e[1] = e[2] = e8;
                    }
                }
            }
            for (int c = 0; c < channels; c++) {
                size_t bit = ((size_t)x * (size_t)channels + (size_t)c) * (size_t)depth;
                if (depth == 16) {
                    row[bit / 8] = (uint8_t)(samples[c] >> 8);
                    row[bit / 8 + 1] = (uint8_t)samples[c];
                } else if (depth == 8) {
                    row[bit / 8] = (uint8_t)samples[c];
                } else {
                    /* Sub-byte samples are packed from the most significant bit. */
                    row[bit / 8] |= (uint8_t)(samples[c] << (8 - depth - bit % 8));
                }
            }
            if (o->trns && !palette && x == w / 2 && y == h / 2) {
                /* The transparent colour is one that occurs in the image. */
                trns_color.gray = (png_uint_16)samples[0];
                if (ct & PNG_COLOR_MASK_COLOR) {
                    trns_color.red = (png_uint_16)samples[0];
                    trns_color.green = (png_uint_16)samples[1];
                    trns_color.blue = (png_uint_16)samples[2];
                }
            }
        }
    }

    struct png_sink sink = {{NULL, 0}, false};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fx_error, png_fx_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fr_fx_blob_free(&sink.blob);
        goto fail;
    }
    png_set_write_fn(png, &sink, png_sink_write, png_sink_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ct,
                 o->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, pal, n);
    if (o->trns) {
        if (palette)
            png_set_tRNS(png, info, trns_alpha, n, NULL);
        else
            png_set_tRNS(png, info, NULL, 0, &trns_color);
    }
    if (o->exif && !o->exif_late) png_set_eXIf_1(png, info, (png_uint_32)o->exif->len, o->exif->data);
    png_write_info(png, info);
    /* Set only now, png_write_end() writes it after the image data. */
    if (o->exif && o->exif_late) png_set_eXIf_1(png, info, (png_uint_32)o->exif->len, o->exif->data);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = sink.blob;
    free(pattern);
    free(pix);
    free(rows);
    if (expected)
        *expected = exp;
    else
        free(exp);
    return true;
fail:
    free(pattern);
    free(pix);
    free(exp);
    free(rows);
    return false;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static bool png_chunk(struct fr_fx_blob *b, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t hdr[8], crc[4];
    put_be32(hdr, n);
    memcpy(hdr + 4, type, 4);
    size_t start = b->len + 4;
    if (!fr_fx_blob_append(b, hdr, 8) || !fr_fx_blob_append(b, data, n)) return false;
    put_be32(crc, crc32_png(b->data + start, 4 + (size_t)n));
    return fr_fx_blob_append(b, crc, 4);
}

bool fr_fx_png_claim(uint32_t w, uint32_t h, struct fr_fx_blob *out) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    /* A zlib stream holding one filter byte, far short of the claimed rows. */
    static const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    uint8_t ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    out->data = NULL;
    out->len = 0;
    bool ok = fr_fx_blob_append(out, sig, sizeof sig) && png_chunk(out, "IHDR", ihdr, sizeof ihdr) &&
              png_chunk(out, "IDAT", idat, sizeof idat) && png_chunk(out, "IEND", NULL, 0);
    if (!ok) fr_fx_blob_free(out);
    return ok;
}

/* ---- WebP ---------------------------------------------------------------- */

bool fr_fx_webp(const uint8_t *rgb, int w, int h, enum fr_fx_webp_kind kind, float quality, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    uint8_t *enc = NULL, *rgba = NULL;
    size_t n = 0;
    if (kind == FR_FX_WEBP_LOSSY_ALPHA || kind == FR_FX_WEBP_LOSSLESS_ALPHA) {
        rgba = fr_fx_rgba_from_rgb(rgb, w, h);
        if (!rgba) return false;
    }
    switch (kind) {
    case FR_FX_WEBP_LOSSY:
        n = WebPEncodeRGB(rgb, w, h, w * 3, quality, &enc);
        break;
    case FR_FX_WEBP_LOSSLESS:
        n = WebPEncodeLosslessRGB(rgb, w, h, w * 3, &enc);
        break;
    case FR_FX_WEBP_LOSSY_ALPHA:
        n = WebPEncodeRGBA(rgba, w, h, w * 4, quality, &enc);
        break;
    case FR_FX_WEBP_LOSSLESS_ALPHA:
        n = WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &enc);
        break;
    }
    bool ok = n > 0 && fr_fx_blob_copy(enc, n, out);
    WebPFree(enc);
    free(rgba);
    return ok;
}

bool fr_fx_webp_anim(const uint8_t *const *frames, int nframes, int w, int h, bool lossless, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    WebPAnimEncoderOptions ao;
    WebPConfig cfg;
    if (!WebPAnimEncoderOptionsInit(&ao) || !WebPConfigInit(&cfg)) return false;
    cfg.lossless = lossless;
    cfg.quality = lossless ? 50.0f : 90.0f;
    WebPAnimEncoder *enc = WebPAnimEncoderNew(w, h, &ao);
    if (!enc) return false;
    bool ok = true;
    for (int i = 0; ok && i < nframes; i++) {
        WebPPicture pic;
        ok = WebPPictureInit(&pic);
        if (!ok) break;
        pic.width = w;
        pic.height = h;
        pic.use_argb = 1;
        ok = WebPPictureImportRGB(&pic, frames[i], w * 3) && WebPAnimEncoderAdd(enc, &pic, i * 100, &cfg);
        WebPPictureFree(&pic);
    }
    WebPData data;
    WebPDataInit(&data);
    ok = ok && WebPAnimEncoderAdd(enc, NULL, nframes * 100, NULL) && WebPAnimEncoderAssemble(enc, &data) &&
         fr_fx_blob_copy(data.bytes, data.size, out);
    if (!ok) fprintf(stderr, "fr_fx_webp_anim: %s\n", WebPAnimEncoderGetError(enc));
    WebPDataClear(&data);
    WebPAnimEncoderDelete(enc);
    return ok;
}

bool fr_fx_webp_add_exif(const struct fr_fx_blob *webp, const struct fr_fx_blob *tiff, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    WebPData in = {webp->data, webp->len}, exif = {tiff->data, tiff->len}, data;
    WebPDataInit(&data);
    WebPMux *mux = WebPMuxCreate(&in, 0);
    bool ok = mux && WebPMuxSetChunk(mux, "EXIF", &exif, 1) == WEBP_MUX_OK &&
              WebPMuxAssemble(mux, &data) == WEBP_MUX_OK && fr_fx_blob_copy(data.bytes, data.size, out);
    WebPDataClear(&data);
    WebPMuxDelete(mux);
    return ok;
}

bool fr_fx_webp_claim(uint32_t w, uint32_t h, struct fr_fx_blob *out) {
    /* A real two-frame animation whose VP8X canvas is then enlarged: the
     * frames still fit, so the demuxer accepts it, and only a size check
     * before allocating the canvas stands between it and w * h * 4 bytes. */
    uint8_t *a = fr_fx_pattern_rgb(16, 16), *b = fr_fx_pattern_rgb(16, 16);
    bool ok = a && b;
    if (ok) {
        for (size_t i = 0; i < 16 * 16 * 3; i++)
            b[i] = (uint8_t)(255 - b[i]);
        const uint8_t *frames[2] = {a, b};
        ok = fr_fx_webp_anim(frames, 2, 16, 16, true, out);
    }
    free(a);
    free(b);
    if (!ok) return false;
    if (out->len < 30 || memcmp(out->data + 12, "VP8X", 4) != 0 || w - 1 >= 1u << 24 || h - 1 >= 1u << 24) {
        fr_fx_blob_free(out);
        return false;
    }
    uint8_t *c = out->data + 24;
    c[0] = (uint8_t)(w - 1), c[1] = (uint8_t)((w - 1) >> 8), c[2] = (uint8_t)((w - 1) >> 16);
    c[3] = (uint8_t)(h - 1), c[4] = (uint8_t)((h - 1) >> 8), c[5] = (uint8_t)((h - 1) >> 16);
    return true;
}

/* ---- HEIF / AVIF --------------------------------------------------------- */

static struct heif_error heif_sink_write(struct heif_context *ctx, const void *data, size_t size, void *user) {
    (void)ctx;
    struct fr_fx_blob *b = user;
    if (!fr_fx_blob_append(b, data, size))
        return (struct heif_error){heif_error_Encoding_error, heif_suberror_Unspecified, "out of memory"};
    return (struct heif_error){heif_error_Ok, heif_suberror_Unspecified, "Success"};
}

bool fr_fx_heif(const uint8_t *rgb, int w, int h, enum fr_fx_heif_codec codec, int quality, int orientation, bool alpha,
                struct fr_fx_blob *out, char *why, size_t whylen) {
    out->data = NULL;
    out->len = 0;
    enum heif_compression_format fmt = codec == FR_FX_HEIC ? heif_compression_HEVC : heif_compression_AV1;
    const char *name = codec == FR_FX_HEIC ? "HEVC (HEIC)" : "AV1 (AVIF)";
    if (!heif_have_encoder_for_format(fmt)) {
        snprintf(why, whylen, "libheif %s has no %s encoder", heif_get_version(), name);
        return false;
    }
    struct heif_context *ctx = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    struct heif_image *img = NULL;
    struct heif_encoding_options *opt = NULL;
    struct heif_error e = {heif_error_Ok, heif_suberror_Unspecified, ""};
    if (!ctx) {
        snprintf(why, whylen, "heif_context_alloc failed");
        return false;
    }
    e = heif_context_get_encoder_for_format(ctx, fmt, &enc);
    if (e.code != heif_error_Ok) goto done;
    heif_encoder_set_logging_level(enc, 0);
    heif_encoder_set_lossy_quality(enc, quality);
    /* Speed settings only; a plugin without them keeps its defaults. */
    if (codec == FR_FX_HEIC)
        heif_encoder_set_parameter_string(enc, "preset", "ultrafast");
    else
        heif_encoder_set_parameter_integer(enc, "speed", 8);
    e = heif_image_create(w, h, heif_colorspace_RGB, alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB,
                          &img);
    if (e.code != heif_error_Ok) goto done;
    e = heif_image_add_plane(img, heif_channel_interleaved, w, h, 8);
    if (e.code != heif_error_Ok) goto done;
    int stride = 0;
    uint8_t *plane = heif_image_get_plane(img, heif_channel_interleaved, &stride);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *d = plane + (size_t)y * (size_t)stride + (size_t)x * (alpha ? 4 : 3);
            memcpy(d, rgb + ((size_t)y * (size_t)w + (size_t)x) * 3, 3);
            if (alpha) d[3] = fr_fx_alpha(x, y);
        }
    }
    opt = heif_encoding_options_alloc();
    opt->save_alpha_channel = alpha;
    opt->image_orientation = (enum heif_orientation)orientation;
    e = heif_context_encode_image(ctx, img, enc, opt, NULL);
    if (e.code != heif_error_Ok) goto done;
    struct heif_writer writer = {.writer_api_version = 1, .write = heif_sink_write};
    e = heif_context_write(ctx, &writer, out);
done:
    if (e.code != heif_error_Ok) {
        snprintf(why, whylen, "libheif %s %s encoder: %s", heif_get_version(), name, e.message);
        fr_fx_blob_free(out);
    }
    heif_encoding_options_free(opt);
    heif_image_release(img);
    if (enc) heif_encoder_release(enc);
    heif_context_free(ctx);
    return e.code == heif_error_Ok;
}

bool fr_fx_heif_set_ispe(struct fr_fx_blob *heif, uint32_t w, uint32_t h) {
    bool found = false;
    for (size_t i = 4; i + 16 <= heif->len; i++) {
        if (memcmp(heif->data + i, "ispe", 4) != 0 || get_be32(heif->data + i - 4) != 20) continue;
        put_be32(heif->data + i + 8, w);
        put_be32(heif->data + i + 12, h);
        found = true;
    }
    return found;
}

bool fr_fx_webp_set_size(struct fr_fx_blob *webp, uint32_t w, uint32_t h) {
    uint8_t *d = webp->data;
    if (webp->len < 20 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WEBP", 4) != 0) return false;
    bool found = false;
    for (size_t pos = 12; pos + 8 <= webp->len;) {
        uint32_t n = get_le32(d + pos + 4);
        uint8_t *c = d + pos + 8;
        if (n > webp->len - pos - 8) break;
        if (memcmp(d + pos, "VP8X", 4) == 0 && n >= 10) {
            c[4] = (uint8_t)(w - 1), c[5] = (uint8_t)((w - 1) >> 8), c[6] = (uint8_t)((w - 1) >> 16);
            c[7] = (uint8_t)(h - 1), c[8] = (uint8_t)((h - 1) >> 8), c[9] = (uint8_t)((h - 1) >> 16);
            found = true;
        } else if (memcmp(d + pos, "VP8L", 4) == 0 && n >= 5 && c[0] == 0x2f) {
            /* 14-bit width-1 and height-1, least significant bit first. */
            uint32_t bits = get_le32(c + 1);
            bits = (bits & ~0x0FFFFFFFu) | ((w - 1) & 0x3FFF) | ((h - 1) & 0x3FFF) << 14;
            put_le32(c + 1, bits);
            found = true;
        } else if (memcmp(d + pos, "VP8 ", 4) == 0 && n >= 10 && c[3] == 0x9d && c[4] == 0x01 && c[5] == 0x2a) {
            c[6] = (uint8_t)w, c[7] = (uint8_t)((c[7] & 0xC0) | ((w >> 8) & 0x3F));
            c[8] = (uint8_t)h, c[9] = (uint8_t)((c[9] & 0xC0) | ((h >> 8) & 0x3F));
            found = true;
        }
        pos += 8 + n + (n & 1);
    }
    return found;
}
