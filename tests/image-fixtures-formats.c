/* Test images of the formats added by issue 17 (JPEG XL, TIFF, GIF, BMP,
 * DNG camera RAW), generated in memory by the encoder libraries (libjxl,
 * libtiff, giflib) or, for BMP, written here byte by byte from Microsoft's
 * format description (no library in Debian writes BMP). ICC-tagged files
 * are image-fixtures-icc.c's. See image-fixtures.h. */
#include "image-fixtures.h"

#include <gif_lib.h>
#include <jxl/encode.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <turbojpeg.h>

/* The end of a writer: on success the expected pixels go to *expected
 * (or are freed when the caller wants none), on failure the half-written
 * blob and the pixels are freed. Returns ok. */
static bool finish(bool ok, struct fr_fx_blob *out, uint8_t *exp, uint8_t **expected) {
    if (!ok) fr_fx_blob_free(out);
    if (ok && expected) *expected = exp;
    else free(exp);
    return ok;
}

static void put_le16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

double fr_fx_srgb_to_linear(uint8_t v) {
    double c = v / 255.0;
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

/* The 6x6x6 colour cube used for every palette here, and the index of the
 * entry nearest to a pixel. */
static void cube_entry(int i, uint8_t *rgb) {
    rgb[0] = (uint8_t)(i / 36 % 6 * 51), rgb[1] = (uint8_t)(i / 6 % 6 * 51), rgb[2] = (uint8_t)(i % 6 * 51);
}

static int cube_index(const uint8_t *px) {
    return (px[0] + 25) / 51 * 36 + (px[1] + 25) / 51 * 6 + (px[2] + 25) / 51;
}

/* ---- JPEG XL ---------------------------------------------------------------- */

bool fr_fx_jxl(const uint8_t *rgb, int w, int h, enum fr_fx_jxl_kind kind, int orientation, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    size_t n = (size_t)w * (size_t)h;
    bool gray = kind == FR_FX_JXL_GRAY8, lossless = kind != FR_FX_JXL_LOSSY8;
    int ch = gray ? 1 : 3;
    JxlPixelFormat pf = {(uint32_t)ch, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
    void *px = NULL;
    size_t bytes = 0;
    if (kind == FR_FX_JXL_LOSSLESS16 || kind == FR_FX_JXL_LINEAR16) {
        uint16_t *p = malloc(n * 3 * 2);
        if (!p) return false;
        for (size_t i = 0; i < n * 3; i++)
            p[i] = kind == FR_FX_JXL_LINEAR16 ? (uint16_t)lrint(fr_fx_srgb_to_linear(rgb[i]) * 65535.0)
                                              : (uint16_t)(rgb[i] * 257);
        pf.data_type = JXL_TYPE_UINT16;
        px = p, bytes = n * 6;
    } else if (kind == FR_FX_JXL_FLOAT) {
        float *p = malloc(n * 3 * sizeof(float));
        if (!p) return false;
        for (size_t i = 0; i < n * 3; i++) p[i] = rgb[i] / 255.0f;
        pf.data_type = JXL_TYPE_FLOAT;
        px = p, bytes = n * 3 * sizeof(float);
    } else if (gray) {
        uint8_t *p = malloc(n);
        if (!p) return false;
        for (size_t i = 0; i < n; i++) p[i] = fr_fx_luma(rgb + i * 3);
        px = p, bytes = n;
    } else {
        uint8_t *p = malloc(n * 3);
        if (!p) return false;
        memcpy(p, rgb, n * 3);
        px = p, bytes = n * 3;
    }
    JxlEncoder *enc = JxlEncoderCreate(NULL);
    bool ok = enc != NULL;
    JxlBasicInfo bi;
    JxlEncoderInitBasicInfo(&bi);
    bi.xsize = (uint32_t)w, bi.ysize = (uint32_t)h;
    bi.num_color_channels = (uint32_t)ch;
    bi.bits_per_sample = pf.data_type == JXL_TYPE_UINT16 ? 16 : pf.data_type == JXL_TYPE_FLOAT ? 32 : 8;
    bi.exponent_bits_per_sample = pf.data_type == JXL_TYPE_FLOAT ? 8 : 0;
    bi.uses_original_profile = lossless;
    bi.orientation = (JxlOrientation)orientation;
    JxlColorEncoding ce;
    if (kind == FR_FX_JXL_LINEAR16)
        JxlColorEncodingSetToLinearSRGB(&ce, JXL_FALSE);
    else
        JxlColorEncodingSetToSRGB(&ce, gray);
    ok = ok && JxlEncoderSetBasicInfo(enc, &bi) == JXL_ENC_SUCCESS && JxlEncoderSetColorEncoding(enc, &ce) == JXL_ENC_SUCCESS;
    JxlEncoderFrameSettings *fs = ok ? JxlEncoderFrameSettingsCreate(enc, NULL) : NULL;
    ok = ok && fs && JxlEncoderFrameSettingsSetOption(fs, JXL_ENC_FRAME_SETTING_EFFORT, 3) == JXL_ENC_SUCCESS;
    if (lossless)
        ok = ok && JxlEncoderSetFrameLossless(fs, JXL_TRUE) == JXL_ENC_SUCCESS;
    else
        ok = ok && JxlEncoderSetFrameDistance(fs, 0.5f) == JXL_ENC_SUCCESS;
    ok = ok && JxlEncoderAddImageFrame(fs, &pf, px, bytes) == JXL_ENC_SUCCESS;
    if (ok) JxlEncoderCloseInput(enc);
    size_t cap = 4096;
    out->data = ok ? malloc(cap) : NULL;
    ok = ok && out->data;
    uint8_t *next = out->data;
    size_t avail = cap;
    JxlEncoderStatus s = JXL_ENC_NEED_MORE_OUTPUT;
    while (ok && s == JXL_ENC_NEED_MORE_OUTPUT) {
        s = JxlEncoderProcessOutput(enc, &next, &avail);
        if (s == JXL_ENC_NEED_MORE_OUTPUT) {
            size_t used = (size_t)(next - out->data);
            uint8_t *p = realloc(out->data, cap * 2);
            if (!p) {
                ok = false;
                break;
            }
            out->data = p, cap *= 2;
            next = p + used, avail = cap - used;
        }
    }
    ok = ok && s == JXL_ENC_SUCCESS;
    if (ok)
        out->len = (size_t)(next - out->data);
    else
        fr_fx_blob_free(out);
    if (enc) JxlEncoderDestroy(enc);
    free(px);
    return ok;
}

/* A bit writer for hand-made JPEG XL headers (least significant bit
 * first, as the codestream is). */
struct bits {
    uint8_t b[32];
    size_t pos;
};

static void put_bits(struct bits *w, uint32_t v, int n) {
    for (int i = 0; i < n; i++, w->pos++)
        if (v >> i & 1) w->b[w->pos / 8] |= (uint8_t)(1u << (w->pos % 8));
}

/* U32(Bits(9)+1, Bits(13)+1, Bits(18)+1, Bits(30)+1): a SizeHeader side. */
static void put_size(struct bits *w, uint32_t v) {
    static const int nb[4] = {9, 13, 18, 30};
    for (uint32_t sel = 0; sel < 4; sel++) {
        if (v - 1 < (1u << nb[sel]) || sel == 3) {
            put_bits(w, sel, 2);
            put_bits(w, v - 1, nb[sel]);
            return;
        }
    }
}

bool fr_fx_jxl_claim(uint32_t w, uint32_t h, struct fr_fx_blob *out) {
    /* Signature, SizeHeader (not small, ratio 0: explicit width) and
     * all-default image metadata; no frame follows. */
    struct bits b = {{0xFF, 0x0A}, 16};
    put_bits(&b, 0, 1);
    put_size(&b, h);
    put_bits(&b, 0, 3);
    put_size(&b, w);
    put_bits(&b, 1, 1); /* ImageMetadata all_default */
    put_bits(&b, 0, 8 - (int)(b.pos % 8));
    return fr_fx_blob_copy(b.b, b.pos / 8 + 8, out); /* and a few zero bytes */
}

/* ---- TIFF -------------------------------------------------------------------- */

struct tiff_sink {
    struct fr_fx_blob b;
    toff_t pos;
};

static tmsize_t sink_read(thandle_t h, void *dst, tmsize_t n) {
    struct tiff_sink *s = (struct tiff_sink *)h;
    if (s->pos >= s->b.len) return 0;
    if ((toff_t)n > s->b.len - s->pos) n = (tmsize_t)(s->b.len - s->pos);
    memcpy(dst, s->b.data + s->pos, (size_t)n);
    s->pos += (toff_t)n;
    return n;
}

static tmsize_t sink_write(thandle_t h, void *src, tmsize_t n) {
    struct tiff_sink *s = (struct tiff_sink *)h;
    size_t end = (size_t)s->pos + (size_t)n;
    if (end > s->b.len) {
        uint8_t *p = realloc(s->b.data, end);
        if (!p) return -1;
        memset(p + s->b.len, 0, end - s->b.len);
        s->b.data = p, s->b.len = end;
    }
    memcpy(s->b.data + s->pos, src, (size_t)n);
    s->pos = end;
    return n;
}

static toff_t sink_seek(thandle_t h, toff_t off, int whence) {
    struct tiff_sink *s = (struct tiff_sink *)h;
    s->pos = (whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->b.len : 0) + off;
    return s->pos;
}

static int sink_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t sink_size(thandle_t h) { return ((struct tiff_sink *)h)->b.len; }

static int sink_map(thandle_t h, void **base, toff_t *size) {
    (void)h;
    (void)base;
    (void)size;
    return 0;
}

static void sink_unmap(thandle_t h, void *base, toff_t size) {
    (void)h;
    (void)base;
    (void)size;
}

static TIFF *tiff_open(struct tiff_sink *s, bool big_endian) {
    memset(s, 0, sizeof *s);
    return TIFFClientOpen("fixture.tif", big_endian ? "wb" : "wl", (thandle_t)s, sink_read, sink_write, sink_seek,
                          sink_close, sink_size, sink_map, sink_unmap);
}

/* One page of the picture per the options; *exp (may be NULL) receives the
 * RGB8 a correct reader returns. */
static bool tiff_page(TIFF *t, const uint8_t *rgb, int w, int h, const struct fr_fx_tiff_opts *o, uint8_t *exp) {
    int spp = o->photometric == PHOTOMETRIC_MINISBLACK || o->photometric == PHOTOMETRIC_PALETTE ? 1
              : o->photometric == PHOTOMETRIC_SEPARATED                                         ? 4
                                                                                                : 3;
    if (o->alpha) spp++;
    int bits = o->bits ? o->bits : 8;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bits);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, o->compression ? o->compression : COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ORIENTATION, o->orientation ? o->orientation : 1);
    int photometric = o->photometric ? o->photometric : PHOTOMETRIC_RGB;
    if (o->compression == COMPRESSION_JPEG && photometric == PHOTOMETRIC_RGB) {
        /* YCbCr inside, RGB given: libtiff's JPEG codec converts. */
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
        TIFFSetField(t, TIFFTAG_JPEGQUALITY, 95);
        TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    } else {
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric);
    }
    if (o->alpha) {
        uint16_t ex = EXTRASAMPLE_ASSOCALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &ex);
    }
    if (o->icc) TIFFSetField(t, TIFFTAG_ICCPROFILE, (uint32_t)o->icc->len, o->icc->data);
    uint16_t cmap[3][256];
    if (photometric == PHOTOMETRIC_PALETTE) {
        for (int i = 0; i < 256; i++) {
            uint8_t e[3] = {0, 0, 0};
            if (i < 216) cube_entry(i, e);
            for (int c = 0; c < 3; c++) cmap[c][i] = (uint16_t)(e[c] * 257);
        }
        TIFFSetField(t, TIFFTAG_COLORMAP, cmap[0], cmap[1], cmap[2]);
    }
    size_t bps = (size_t)bits / 8, rowbytes = (size_t)w * (size_t)spp * bps;
    uint8_t *buf = calloc(rowbytes * (size_t)h + 1, 1);
    if (!buf) return false;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uint8_t *s = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            uint8_t *e = exp ? exp + ((size_t)y * (size_t)w + (size_t)x) * 3 : NULL;
            unsigned v[5] = {s[0], s[1], s[2], 0, 255};
            uint8_t want[3] = {s[0], s[1], s[2]};
            if (photometric == PHOTOMETRIC_MINISBLACK) {
                v[0] = fr_fx_luma(s);
                want[0] = want[1] = want[2] = (uint8_t)v[0];
            } else if (photometric == PHOTOMETRIC_PALETTE) {
                v[0] = (unsigned)cube_index(s);
                cube_entry((int)v[0], want);
            } else if (photometric == PHOTOMETRIC_SEPARATED) {
                /* K = 0: libtiff's CMYK to RGB is then R = 255 - C exactly. */
                v[0] = 255u - s[0], v[1] = 255u - s[1], v[2] = 255u - s[2], v[3] = 0;
            }
            if (o->alpha) v[spp - 1] = 255; /* opaque: premultiplied equals straight */
            if (e) memcpy(e, want, 3);
            uint8_t *d = buf + (size_t)y * rowbytes + (size_t)x * (size_t)spp * bps;
            for (int c = 0; c < spp; c++) {
                unsigned sv = c == spp - 1 && o->alpha ? 255 : v[c];
                if (bits == 16) {
                    uint16_t w16 = (uint16_t)(sv * 257);
                    memcpy(d + c * 2, &w16, 2);
                } else {
                    d[c] = (uint8_t)sv;
                }
            }
        }
    }
    bool ok = true;
    if (o->tiled) {
        uint32_t tw = 16, th = 16;
        TIFFSetField(t, TIFFTAG_TILEWIDTH, tw);
        TIFFSetField(t, TIFFTAG_TILELENGTH, th);
        size_t tbytes = (size_t)tw * th * (size_t)spp * bps;
        uint8_t *tile = malloc(tbytes);
        ok = tile != NULL;
        for (uint32_t ty = 0; ok && ty < (uint32_t)h; ty += th)
            for (uint32_t tx = 0; ok && tx < (uint32_t)w; tx += tw) {
                memset(tile, 0, tbytes);
                for (uint32_t r = 0; r < th && ty + r < (uint32_t)h; r++) {
                    uint32_t cols = tx + tw <= (uint32_t)w ? tw : (uint32_t)w - tx;
                    memcpy(tile + (size_t)r * tw * (size_t)spp * bps,
                           buf + (size_t)(ty + r) * rowbytes + (size_t)tx * (size_t)spp * bps,
                           (size_t)cols * (size_t)spp * bps);
                }
                ok = TIFFWriteTile(t, tile, tx, ty, 0, 0) >= 0;
            }
        free(tile);
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, o->compression == COMPRESSION_JPEG ? 16 : 7);
        for (int y = 0; ok && y < h; y++) ok = TIFFWriteScanline(t, buf + (size_t)y * rowbytes, (uint32_t)y, 0) >= 0;
    }
    free(buf);
    return ok && TIFFWriteDirectory(t);
}

bool fr_fx_tiff(const uint8_t *rgb, int w, int h, const struct fr_fx_tiff_opts *o, struct fr_fx_blob *out,
                uint8_t **expected) {
    out->data = NULL;
    out->len = 0;
    struct tiff_sink s;
    TIFF *t = tiff_open(&s, o->big_endian);
    if (!t) return false;
    uint8_t *exp = malloc((size_t)w * (size_t)h * 3);
    bool ok = exp && tiff_page(t, rgb, w, h, o, exp);
    for (int p = 0; ok && p < o->extra_pages; p++) {
        /* Later pages hold the inverted picture; only the first is read. */
        uint8_t *inv = malloc((size_t)w * (size_t)h * 3);
        ok = inv != NULL;
        for (size_t i = 0; ok && i < (size_t)w * (size_t)h * 3; i++) inv[i] = (uint8_t)(255 - rgb[i]);
        ok = ok && tiff_page(t, inv, w, h, o, NULL);
        free(inv);
    }
    TIFFClose(t);
    if (ok) *out = s.b;
    return finish(ok, &s.b, exp, expected);
}

/* Walks the IFDs of a TIFF (IFD0, its chain and SubIFDs) and rewrites
 * ImageWidth/ImageLength (SHORT or LONG) to w x h. */
bool fr_fx_tiff_set_size(struct fr_fx_blob *b, uint32_t w, uint32_t h) {
    uint8_t *d = b->data;
    if (b->len < 8) return false;
    bool le = d[0] == 'I', found = false;
#define RD16(p) (le ? (uint32_t)((p)[0] | (p)[1] << 8) : (uint32_t)((p)[0] << 8 | (p)[1]))
#define RD32(p) (le ? (uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 | (uint32_t)(p)[2] << 16 | (uint32_t)(p)[3] << 24 \
                    : (uint32_t)(p)[0] << 24 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[2] << 8 | (uint32_t)(p)[3])
    uint32_t queue[16];
    int nq = 0, head = 0;
    queue[nq++] = RD32(d + 4);
    while (head < nq) {
        uint32_t ifd = queue[head++];
        if (ifd < 8 || ifd + 2 > b->len) continue;
        uint32_t n = RD16(d + ifd);
        if ((size_t)ifd + 2 + (size_t)n * 12 + 4 > b->len) continue;
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *e = d + ifd + 2 + i * 12;
            uint32_t tag = RD16(e), type = RD16(e + 2);
            if (tag == 0x100 || tag == 0x101) {
                uint32_t v = tag == 0x100 ? w : h;
                if (type == 3) {
                    if (v > 65535) { /* widen to LONG in place */
                        e[le ? 2 : 3] = 4, e[le ? 3 : 2] = 0;
                        type = 4;
                    } else {
                        e[8] = (uint8_t)(le ? v : v >> 8), e[9] = (uint8_t)(le ? v >> 8 : v);
                    }
                }
                if (type == 4) {
                    for (int k = 0; k < 4; k++) e[8 + k] = (uint8_t)(le ? v >> (8 * k) : v >> (24 - 8 * k));
                }
                found = true;
            }
            if (tag == 0x14A && RD32(e + 4) == 1 && nq < 16) queue[nq++] = RD32(e + 8);
        }
        uint32_t next = RD32(d + ifd + 2 + n * 12);
        if (next && nq < 16) queue[nq++] = next;
    }
#undef RD16
#undef RD32
    return found;
}

/* ---- DNG ---------------------------------------------------------------------- */

static bool dng(const uint8_t *rgb, int w, int h, const uint8_t *preview, int pw, int ph, int orientation,
                bool jpeg_preview, struct fr_fx_blob *out) {
    out->data = NULL;
    out->len = 0;
    struct tiff_sink s;
    TIFF *t = tiff_open(&s, false);
    if (!t) return false;
    static const uint8_t dng_version[4] = {1, 4, 0, 0}, dng_backward[4] = {1, 1, 0, 0};
    /* XYZ (D65) to linear sRGB: the "camera" sees linear sRGB. */
    static const float xyz_to_cam[9] = {3.2404542f, -1.5371385f, -0.4985314f, -0.9692660f, 1.8760108f,
                                        0.0415560f, 0.0556434f,  -0.2040259f, 1.0572252f};
    static const float neutral[3] = {1, 1, 1};
    toff_t sub[1] = {0};
    /* IFD0: the preview, as DNG writers store it, plus the DNG tags. */
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)pw);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)ph);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, jpeg_preview ? PHOTOMETRIC_YCBCR : PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, jpeg_preview ? COMPRESSION_JPEG : COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)ph);
    TIFFSetField(t, TIFFTAG_MAKE, "facerec");
    TIFFSetField(t, TIFFTAG_MODEL, "synthetic DNG");
    TIFFSetField(t, TIFFTAG_ORIENTATION, orientation);
    TIFFSetField(t, TIFFTAG_DNGVERSION, dng_version);
    TIFFSetField(t, TIFFTAG_DNGBACKWARDVERSION, dng_backward);
    TIFFSetField(t, TIFFTAG_UNIQUECAMERAMODEL, "facerec synthetic DNG");
    TIFFSetField(t, TIFFTAG_COLORMATRIX1, 9, xyz_to_cam);
    TIFFSetField(t, TIFFTAG_CALIBRATIONILLUMINANT1, 21); /* D65 */
    TIFFSetField(t, TIFFTAG_ASSHOTNEUTRAL, 3, neutral);
    TIFFSetField(t, TIFFTAG_SUBIFD, 1, sub);
    bool ok = true;
    if (jpeg_preview) {
        /* As cameras store it: one strip holding a whole baseline JPEG
         * (DNG's "new-style" JPEG compression 7), written raw. */
        struct fr_fx_blob j;
        ok = fr_fx_jpeg(preview, pw, ph, 92, TJSAMP_420, 0, &j) && TIFFWriteRawStrip(t, 0, j.data, (tmsize_t)j.len) >= 0;
        fr_fx_blob_free(&j);
    } else {
        for (int y = 0; ok && y < ph; y++)
            ok = TIFFWriteScanline(t, (void *)(preview + (size_t)y * (size_t)pw * 3), (uint32_t)y, 0) >= 0;
    }
    ok = ok && TIFFWriteDirectory(t);
    /* The SubIFD: 16-bit RGGB Bayer data of the linearised picture. */
    static const uint16_t dim[2] = {2, 2};
    static const uint8_t pattern[4] = {0, 1, 1, 2};
    uint32_t white = 65535;
    float black = 0;
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, 0);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, 32803); /* CFA */
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_CFAREPEATPATTERNDIM, dim);
    TIFFSetField(t, TIFFTAG_CFAPATTERN, 4, pattern);
    TIFFSetField(t, TIFFTAG_WHITELEVEL, 1, &white);
    TIFFSetField(t, TIFFTAG_BLACKLEVEL, 1, &black);
    uint16_t *row = malloc((size_t)w * 2);
    ok = ok && row;
    for (int y = 0; ok && y < h; y++) {
        for (int x = 0; x < w; x++) {
            int c = pattern[(y & 1) * 2 + (x & 1)];
            row[x] = (uint16_t)lrint(fr_fx_srgb_to_linear(rgb[((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)c]) *
                                     65535.0);
        }
        ok = TIFFWriteScanline(t, row, (uint32_t)y, 0) >= 0;
    }
    free(row);
    ok = ok && TIFFWriteDirectory(t);
    TIFFClose(t);
    if (!ok) {
        fr_fx_blob_free(&s.b);
        return false;
    }
    *out = s.b;
    return true;
}

bool fr_fx_dng(const uint8_t *rgb, int w, int h, const uint8_t *preview, int pw, int ph, int orientation,
               struct fr_fx_blob *out) {
    return dng(rgb, w, h, preview, pw, ph, orientation, false, out);
}

bool fr_fx_dng_jpeg(const uint8_t *rgb, int w, int h, const uint8_t *preview, int pw, int ph, int orientation,
                    struct fr_fx_blob *out) {
    return dng(rgb, w, h, preview, pw, ph, orientation, true, out);
}

/* ---- GIF ------------------------------------------------------------------------ */

static int gif_write(GifFileType *gif, const GifByteType *data, int n) {
    return fr_fx_blob_append(gif->UserData, data, (size_t)n) ? n : 0;
}

bool fr_fx_gif(const uint8_t *rgb, int w, int h, const struct fr_fx_gif_opts *o, struct fr_fx_blob *out,
               uint8_t **expected) {
    out->data = NULL;
    out->len = 0;
    GifColorType colors[256];
    for (int i = 0; i < 256; i++) {
        uint8_t e[3] = {255, 0, 255}; /* unused entries and the transparent one: magenta */
        if (i < 216) cube_entry(i, e);
        colors[i] = (GifColorType){e[0], e[1], e[2]};
    }
    int fw = w - o->left, fh = h - o->top;
    uint8_t *exp = malloc((size_t)w * (size_t)h * 3);
    GifByteType *idx = malloc((size_t)fw * (size_t)fh);
    ColorMapObject *cmap = GifMakeMapObject(256, colors);
    int err = 0;
    GifFileType *gif = exp && idx && cmap ? EGifOpen(out, gif_write, &err) : NULL;
    bool ok = gif != NULL;
    if (ok) memset(exp, 255, (size_t)w * (size_t)h * 3);
    for (int y = 0; ok && y < fh; y++)
        for (int x = 0; x < fw; x++) {
            int sx = x + o->left, sy = y + o->top;
            const uint8_t *s = rgb + ((size_t)sy * (size_t)w + (size_t)sx) * 3;
            uint8_t *e = exp + ((size_t)sy * (size_t)w + (size_t)sx) * 3;
            int i = cube_index(s);
            if (o->transparent && (x + y) % 7 == 0) i = 255;
            idx[(size_t)y * (size_t)fw + (size_t)x] = (GifByteType)i;
            if (i != 255) cube_entry(i, e);
        }
    if (ok) {
        EGifSetGifVersion(gif, true);
        ok = EGifPutScreenDesc(gif, w, h, 8, 0, cmap) == GIF_OK;
    }
    for (int f = 0; ok && f < 1 + o->extra_frames; f++) {
        if (o->transparent || o->extra_frames) {
            GraphicsControlBlock gcb = {DISPOSAL_UNSPECIFIED, false, 10, o->transparent ? 255 : NO_TRANSPARENT_COLOR};
            GifByteType ext[4];
            EGifGCBToExtension(&gcb, ext);
            ok = EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) == GIF_OK;
        }
        ok = ok && EGifPutImageDesc(gif, o->left, o->top, fw, fh, o->interlace, NULL) == GIF_OK;
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        GifByteType *line = malloc((size_t)fw);
        ok = ok && line;
        for (int pass = 0; ok && pass < (o->interlace ? 4 : 1); pass++)
            for (int y = o->interlace ? start[pass] : 0; ok && y < fh; y += o->interlace ? step[pass] : 1) {
                for (int x = 0; x < fw; x++) {
                    GifByteType v = idx[(size_t)y * (size_t)fw + (size_t)x];
                    /* Later frames: another picture, which must not show. */
                    line[x] = f == 0 || v == 255 ? v : (GifByteType)(215 - v);
                }
                ok = EGifPutLine(gif, line, fw) == GIF_OK;
            }
        free(line);
    }
    if (gif && EGifCloseFile(gif, &err) != GIF_OK) ok = false;
    GifFreeMapObject(cmap);
    free(idx);
    return finish(ok, out, exp, expected);
}

bool fr_fx_gif_set_size(struct fr_fx_blob *b, uint32_t w, uint32_t h) {
    /* Logical screen, then the first image descriptor after the global
     * colour table and any extensions. */
    if (b->len < 13) return false;
    uint8_t *d = b->data;
    put_le16(d + 6, w), put_le16(d + 8, h);
    size_t pos = 13 + (d[10] & 0x80 ? 3u << ((d[10] & 7) + 1) : 0);
    while (pos < b->len && d[pos] == 0x21) {
        pos += 2;
        while (pos < b->len && d[pos]) pos += 1 + (size_t)d[pos];
        pos++;
    }
    if (pos + 10 > b->len || d[pos] != 0x2C) return false;
    put_le16(d + pos + 5, w), put_le16(d + pos + 7, h);
    return true;
}

/* ---- BMP -------------------------------------------------------------------------- */

/* Row-wise run-length coding (RLE8, or RLE4 on nibbles): runs of equal
 * values as encoded runs, other stretches of three or more as absolute
 * runs, as Windows writes them. */
static bool rle_row(struct fr_fx_blob *b, const uint8_t *v, int w, bool rle4) {
    int x = 0;
    while (x < w) {
        int run = 1;
        while (x + run < w && run < 255 && v[x + run] == v[x]) run++;
        if (run >= 2 || w - x < 3) {
            uint8_t c[2] = {(uint8_t)run, rle4 ? (uint8_t)(v[x] << 4 | v[x]) : v[x]};
            if (!fr_fx_blob_append(b, c, 2)) return false;
            x += run;
            continue;
        }
        int lit = 1; /* up to the next pair of equal values */
        while (x + lit < w && lit < 255 && !(x + lit + 1 < w && v[x + lit] == v[x + lit + 1])) lit++;
        if (lit < 3) {
            uint8_t c[2] = {1, rle4 ? (uint8_t)(v[x] << 4 | v[x]) : v[x]};
            if (!fr_fx_blob_append(b, c, 2)) return false;
            x++;
            continue;
        }
        uint8_t hdr[2] = {0, (uint8_t)lit}, buf[256] = {0};
        size_t bytes = rle4 ? (size_t)(lit + 1) / 2 : (size_t)lit;
        for (int k = 0; k < lit; k++) {
            if (rle4)
                buf[k / 2] |= (uint8_t)(k & 1 ? v[x + k] : v[x + k] << 4);
            else
                buf[k] = v[x + k];
        }
        if (!fr_fx_blob_append(b, hdr, 2) || !fr_fx_blob_append(b, buf, bytes + (bytes & 1))) return false;
        x += lit;
    }
    uint8_t eol[2] = {0, 0};
    return fr_fx_blob_append(b, eol, 2);
}

bool fr_fx_bmp(const uint8_t *rgb, int w, int h, const struct fr_fx_bmp_opts *o, struct fr_fx_blob *out,
               uint8_t **expected) {
    out->data = NULL;
    out->len = 0;
    int bpp = o->bpp;
    bool rle = o->rle && (bpp == 8 || bpp == 4);
    bool fields = o->bitfields && (bpp == 16 || bpp == 32);
    uint32_t hsize = o->core ? 12 : o->v5 ? 124 : 40;
    int npal = bpp <= 8 ? 1 << bpp : 0;
    size_t entry = o->core ? 3 : 4;
    size_t extra = fields && hsize == 40 ? 12 : 0;
    size_t offset = 14 + hsize + extra + (size_t)npal * entry;
    uint8_t *exp = malloc((size_t)w * (size_t)h * 3);
    uint8_t *pal = calloc((size_t)npal * 4 + 4, 1);
    uint8_t *idx = malloc((size_t)w * (size_t)h + 1);
    if (!exp || !pal || !idx) goto fail;
    /* Palettes: 1-bit black and white, 4-bit 16 grays, 8-bit the cube. */
    for (int i = 0; i < npal; i++) {
        uint8_t e[3];
        if (bpp == 8) {
            cube_entry(i < 216 ? i : 0, e);
        } else {
            uint8_t g = (uint8_t)(i * 255 / (npal - 1));
            e[0] = e[1] = e[2] = g;
        }
        pal[i * 4] = e[2], pal[i * 4 + 1] = e[1], pal[i * 4 + 2] = e[0];
    }
    uint32_t mask[3] = {bpp == 16 ? 0xF800u : 0x00FF0000u, bpp == 16 ? 0x07E0u : 0x0000FF00u,
                        bpp == 16 ? 0x001Fu : 0x000000FFu};
    if (bpp == 16 && !fields) mask[0] = 0x7C00, mask[1] = 0x03E0, mask[2] = 0x001F;
    size_t stride = ((size_t)w * (size_t)bpp + 31) / 32 * 4;
    uint8_t *pix = calloc(stride * (size_t)h + 1, 1);
    if (!pix) goto fail;
    for (int y = 0; y < h; y++) {
        int row = o->top_down ? y : h - 1 - y;
        for (int x = 0; x < w; x++) {
            const uint8_t *s = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            uint8_t *e = exp + ((size_t)y * (size_t)w + (size_t)x) * 3;
            uint8_t *d = pix + (size_t)row * stride;
            int i = 0;
            if (bpp == 8) i = cube_index(s);
            if (bpp == 4) i = (fr_fx_luma(s) * 15 + 127) / 255;
            if (bpp == 1) i = fr_fx_luma(s) >= 128;
            if (bpp <= 8) {
                idx[(size_t)row * (size_t)w + (size_t)x] = (uint8_t)i;
                e[0] = pal[i * 4 + 2], e[1] = pal[i * 4 + 1], e[2] = pal[i * 4];
                if (bpp == 8) d[x] = (uint8_t)i;
                if (bpp == 4) d[x / 2] |= (uint8_t)(x & 1 ? i : i << 4);
                if (bpp == 1) d[x / 8] |= (uint8_t)(i << (7 - x % 8));
            } else if (bpp == 24) {
                d[x * 3] = s[2], d[x * 3 + 1] = s[1], d[x * 3 + 2] = s[0];
                memcpy(e, s, 3);
            } else {
                uint32_t v = 0;
                for (int c = 0; c < 3; c++) {
                    uint32_t m = mask[c], shift = 0;
                    while (!(m >> shift & 1)) shift++;
                    uint32_t max = m >> shift;
                    uint32_t q = (s[c] * max + 127) / 255;
                    v |= q << shift;
                    e[c] = (uint8_t)((q * 255 + max / 2) / max);
                }
                if (bpp == 16)
                    put_le16(d + x * 2, v);
                else
                    put_le32(d + x * 4, v | (fields ? 0 : 0xFF000000u)); /* BI_RGB 32: the top byte is unused */
            }
        }
    }
    struct fr_fx_blob body = {NULL, 0};
    if (rle) {
        bool ok = true;
        for (int r = 0; ok && r < h; r++) ok = rle_row(&body, idx + (size_t)r * (size_t)w, w, bpp == 4);
        uint8_t eob[2] = {0, 1};
        if (!ok || !fr_fx_blob_append(&body, eob, 2)) {
            fr_fx_blob_free(&body);
            free(pix);
            goto fail;
        }
    } else {
        body.data = pix, body.len = stride * (size_t)h;
        pix = NULL;
    }
    free(pix);
    size_t total = offset + body.len;
    uint8_t *f = calloc(offset, 1);
    if (!f) {
        fr_fx_blob_free(&body);
        goto fail;
    }
    f[0] = 'B', f[1] = 'M';
    put_le32(f + 2, (uint32_t)total);
    put_le32(f + 10, (uint32_t)offset);
    put_le32(f + 14, hsize);
    if (o->core) {
        put_le16(f + 18, (uint32_t)w), put_le16(f + 20, (uint32_t)h);
        put_le16(f + 22, 1), put_le16(f + 24, (uint32_t)bpp);
    } else {
        put_le32(f + 18, (uint32_t)w), put_le32(f + 22, o->top_down ? (uint32_t)-h : (uint32_t)h);
        put_le16(f + 26, 1), put_le16(f + 28, (uint32_t)bpp);
        put_le32(f + 30, rle ? (bpp == 8 ? 1 : 2) : fields ? 3 : 0);
        put_le32(f + 34, (uint32_t)body.len);
        put_le32(f + 38, 2835), put_le32(f + 42, 2835);
        put_le32(f + 46, (uint32_t)npal);
        if (fields)
            for (int c = 0; c < 3; c++) put_le32(f + 54 + c * 4, mask[c]);
        if (o->v5) memcpy(f + 14 + 56, "BGRs", 4); /* LCS_sRGB, little-endian 'sRGB' */
    }
    for (int i = 0; i < npal; i++) memcpy(f + 14 + hsize + extra + (size_t)i * entry, pal + i * 4, entry);
    bool ok = fr_fx_blob_append(out, f, offset) && fr_fx_blob_append(out, body.data, body.len);
    free(f);
    fr_fx_blob_free(&body);
    free(pal);
    free(idx);
    return finish(ok, out, exp, expected);
fail:
    free(exp);
    free(pal);
    free(idx);
    return false;
}
