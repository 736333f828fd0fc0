/* TIFF via libtiff, from memory (TIFFClientOpenExt): the first page (IFD0),
 * any photometric libtiff's RGBA interface reads (RGB, gray, palette,
 * YCbCr, CMYK, CIELab), 1 to 16 bits, strips or tiles, every compression
 * libtiff was built with; orientation from the Orientation tag; an RGB ICC
 * profile converted to sRGB. Also tells camera RAW files (which are TIFF
 * structured) from plain TIFF. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <tiffio.h>

#include "image-impl.h"

/* ---- RAW or plain TIFF ---------------------------------------------------- */

static uint32_t rd16(const uint8_t *p, bool le) { return le ? (uint32_t)(p[0] | p[1] << 8) : (uint32_t)(p[0] << 8 | p[1]); }

static uint32_t rd32(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Compression codes only camera RAW writers use (Sony ARW, Nikon NEF,
 * Kodak, Pentax, Panasonic). */
static bool raw_compression(uint32_t c) {
    return c == 32767 || c == 32769 || c == 32770 || c == 34713 || c == 65000 || c == 65535;
}

#define MAX_IFDS 16

bool fr__tiff_is_raw(const uint8_t *b, size_t n) {
    if (n < 16) return false;
    bool le = b[0] == 'I';
    /* Canon CR2: "CR" and a major version right after the header. */
    if (b[8] == 'C' && b[9] == 'R' && b[10] == 2) return true;
    /* Breadth-first over IFD0, the IFDs it chains to and their SubIFDs,
     * bounded so a looping or huge directory structure costs nothing. */
    uint32_t queue[MAX_IFDS];
    int nq = 0, head = 0;
    queue[nq++] = rd32(b + 4, le);
    while (head < nq) {
        uint32_t ifd = queue[head++];
        if (ifd < 8 || ifd > n - 2) continue;
        uint32_t count = rd16(b + ifd, le);
        if (count > 1024 || (size_t)ifd + 2 + (size_t)count * 12 + 4 > n) continue;
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *e = b + ifd + 2 + (size_t)i * 12;
            uint32_t tag = rd16(e, le), type = rd16(e + 2, le), cnt = rd32(e + 4, le);
            uint32_t v = type == 3 ? rd16(e + 8, le) : rd32(e + 8, le);
            if (tag == 0xC612) return true; /* DNGVersion */
            if (tag == 0x0106 && (v == 32803 || v == 34892)) return true; /* Photometric CFA / LinearRaw */
            if (tag == 0x0103 && raw_compression(v)) return true;
            if (tag == 0x014A && (type == 4 || type == 13)) { /* SubIFDs */
                if (cnt == 1) {
                    if (nq < MAX_IFDS) queue[nq++] = v;
                } else if (v <= n && cnt <= (n - v) / 4) {
                    for (uint32_t k = 0; k < cnt && nq < MAX_IFDS; k++) queue[nq++] = rd32(b + v + (size_t)k * 4, le);
                }
            }
        }
        uint32_t next = rd32(b + ifd + 2 + (size_t)count * 12, le);
        if (next && nq < MAX_IFDS) queue[nq++] = next;
    }
    return false;
}

/* ---- reading from memory ------------------------------------------------- */

struct tiff_src {
    const uint8_t *buf;
    toff_t len, pos;
    char msg[200]; /* libtiff's first error */
};

static tmsize_t src_read(thandle_t h, void *dst, tmsize_t n) {
    struct tiff_src *s = (struct tiff_src *)h;
    if (n < 0) return -1;
    toff_t left = s->pos < s->len ? s->len - s->pos : 0;
    if ((toff_t)n > left) n = (tmsize_t)left;
    memcpy(dst, s->buf + s->pos, (size_t)n);
    s->pos += (toff_t)n;
    return n;
}

static tmsize_t src_write(thandle_t h, void *src, tmsize_t n) {
    (void)h;
    (void)src;
    (void)n;
    return -1;
}

static toff_t src_seek(thandle_t h, toff_t off, int whence) {
    struct tiff_src *s = (struct tiff_src *)h;
    toff_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->len : 0;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    s->pos = base + off;
    return s->pos;
}

static int src_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t src_size(thandle_t h) { return ((struct tiff_src *)h)->len; }

/* libtiff reads strips straight out of the caller's buffer through this
 * "mapping", instead of copying them. */
static int src_map(thandle_t h, void **base, toff_t *size) {
    struct tiff_src *s = (struct tiff_src *)h;
    *base = (void *)s->buf;
    *size = s->len;
    return 1;
}

static void src_unmap(thandle_t h, void *base, toff_t size) {
    (void)h;
    (void)base;
    (void)size;
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)module;
    struct tiff_src *s = user;
    if (!s->msg[0]) vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1;
}

/* Warnings are harmless oddities, except one: libtiff skips a tag whose
 * data lies past the end of the file ("IO error during reading of ...;
 * tag ignored"), which in a cut-off file can turn a palette image into a
 * gray one. That is truncation, and fails the decode. */
static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)module;
    struct tiff_src *s = user;
    char msg[sizeof s->msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (!s->msg[0] && strstr(msg, "IO error")) memcpy(s->msg, msg, sizeof msg);
    return 1;
}

/* Caps on what one TIFF may make libtiff allocate besides our pixels:
 * strip and tile buffers of a valid image within the pixel limit stay well
 * below this, while a hostile header asking for gigabytes fails early. */
#define TIFF_MAX_ALLOC ((tmsize_t)512 << 20)
#define TIFF_MAX_SAMPLES 16

enum fr_status fr__decode_tiff(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen) {
    struct tiff_src src = { .buf = buf, .len = len };
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, TIFF_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &src);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &src);
    /* "r": read only; libtiff maps the file through src_map, so strips are
     * read straight out of the caller's buffer. */
    TIFF *tif = TIFFClientOpenExt("image.tif", "r", (thandle_t)&src, src_read, src_write, src_seek, src_close,
                                  src_size, src_map, src_unmap, opts);
    TIFFOpenOptionsFree(opts);
    enum fr_status st = FR_ERR_IMAGE;
    uint32_t *raster = NULL;
    struct fr_image *img = NULL;
    TIFFRGBAImage ri;
    bool begun = false;
    if (!tif) {
        fr_errf(err, errlen, "corrupt TIFF: %s", src.msg[0] ? src.msg : "cannot read the header");
        return FR_ERR_IMAGE;
    }
    uint32_t w = 0, h = 0;
    uint16_t spp = 1, bps = 1, orientation = ORIENTATION_TOPLEFT;
    if (src.msg[0]) {
        fr_errf(err, errlen, "corrupt TIFF: %s", src.msg);
        goto done;
    }
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
    if ((st = fr__check_limits(w, h, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    if (spp == 0 || spp > TIFF_MAX_SAMPLES || bps == 0 || bps > 64) {
        fr_errf(err, errlen, "corrupt TIFF: %u samples of %u bits per pixel", (unsigned)spp, (unsigned)bps);
        goto done;
    }
    char emsg[1024] = "";
    if (!TIFFRGBAImageOK(tif, emsg)) {
        fr_errf(err, errlen, "unsupported TIFF variant: %s", emsg);
        st = FR_ERR_UNSUPPORTED;
        goto done;
    }
    if (!TIFFRGBAImageBegin(&ri, tif, 1, emsg)) { /* 1: stop at the first damaged strip */
        fr_errf(err, errlen, "corrupt TIFF: %s", emsg[0] ? emsg : src.msg);
        goto done;
    }
    begun = true;
    /* Asking for the file's own orientation makes libtiff hand back the
     * rows and columns as stored; orientation is applied afterwards like
     * every other format's (libtiff's RGBA reader cannot transpose). */
    ri.req_orientation = ri.orientation;
    raster = fr_malloc((size_t)w * h * sizeof(uint32_t));
    img = fr_image_new((int32_t)w, (int32_t)h);
    if (!raster || !img) {
        fr_errf(err, errlen, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        st = FR_ERR_NOMEM;
        goto done;
    }
    /* Any error libtiff reported, even while reading the directory (it
     * carries on past a tag it could not read, such as a cut-off colour
     * map), fails the decode: libtiff reports what it can live with as
     * warnings. */
    if (!TIFFRGBAImageGet(&ri, raster, w, h) || src.msg[0]) {
        fr_errf(err, errlen, "corrupt or truncated TIFF data: %s", src.msg[0] ? src.msg : "read failed");
        goto done;
    }
    /* ABGR in native order: R in the low byte. Alpha is dropped like every
     * other format's; libtiff has already applied an associated alpha. */
    for (uint32_t y = 0; y < h; y++) {
        const uint32_t *s = raster + (size_t)y * w;
        uint8_t *d = img->data + (size_t)y * img->stride;
        for (uint32_t x = 0; x < w; x++) {
            d[x * 3] = (uint8_t)TIFFGetR(s[x]);
            d[x * 3 + 1] = (uint8_t)TIFFGetG(s[x]);
            d[x * 3 + 2] = (uint8_t)TIFFGetB(s[x]);
        }
    }
    uint32_t icc_len = 0;
    void *icc = NULL;
    uint16_t photometric = PHOTOMETRIC_RGB;
    TIFFGetFieldDefaulted(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    /* An RGB profile describes RGB (or YCbCr-coded RGB) data; CMYK and gray
     * profiles are left aside, as libtiff has already made RGB of those. */
    if ((photometric == PHOTOMETRIC_RGB || photometric == PHOTOMETRIC_YCBCR) &&
        TIFFGetField(tif, TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc && icc_len)
        out->icc = fr__icc_keep_rgb(icc, icc_len, &out->icc_len);
    out->img = img;
    img = NULL;
    out->full_width = (int32_t)w;
    out->full_height = (int32_t)h;
    out->orientation = orientation >= 1 && orientation <= 8 ? orientation : 1;
    st = FR_OK;
done:
    if (begun) TIFFRGBAImageEnd(&ri);
    fr_free(raster);
    fr_image_free(img);
    TIFFClose(tif);
    return st;
}
