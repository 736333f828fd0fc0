/* Image decoding front end: format sniffing, limits, downscaling,
 * colour management and orientation around the per-format decoders
 * (jpeg.c, png.c, webp.c, heif.c, jxl.c, tiff.c, gif.c, bmp.c, raw.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-impl.h"

struct fr_decode_params fr_decode_default_params(void) {
    return (struct fr_decode_params){
        .max_bytes = (size_t)50 << 20,
        .max_pixels = 100000000,
        .max_dimension = FR_IMAGE_MAX_DIMENSION,
        .max_image_size = 2048,
        .apply_orientation = true,
    };
}

struct fr_image *fr_image_new(int32_t width, int32_t height) {
    if (width <= 0 || height <= 0) return NULL;
    if ((int64_t)width * height > ((int64_t)1 << 31)) return NULL;
    struct fr_image *img = fr_calloc(1, sizeof(*img));
    if (!img) return NULL;
    img->width = img->orig_width = width;
    img->height = img->orig_height = height;
    img->stride = (size_t)width * 3;
    img->orientation = 1;
    img->data = fr_calloc(img->stride, (size_t)height);
    if (!img->data) {
        fr_free(img);
        return NULL;
    }
    return img;
}

void fr_image_free(struct fr_image *img) {
    if (!img) return;
    fr_free(img->data);
    fr_free(img);
}

static const char *const format_names[] = {
    [FR_FORMAT_UNKNOWN] = "unknown", [FR_FORMAT_JPEG] = "JPEG", [FR_FORMAT_PNG] = "PNG",
    [FR_FORMAT_WEBP] = "WebP",       [FR_FORMAT_HEIF] = "HEIF", [FR_FORMAT_AVIF] = "AVIF",
    [FR_FORMAT_GIF] = "GIF",         [FR_FORMAT_BMP] = "BMP",   [FR_FORMAT_TIFF] = "TIFF",
    [FR_FORMAT_JXL] = "JPEG XL",     [FR_FORMAT_PDF] = "PDF",   [FR_FORMAT_SVG] = "SVG",
    [FR_FORMAT_ICO] = "ICO",         [FR_FORMAT_PSD] = "PSD",   [FR_FORMAT_RAW] = "camera RAW",
};

bool fr_image_format_decodable(enum fr_image_format f) {
    return (f >= FR_FORMAT_JPEG && f <= FR_FORMAT_JXL) || f == FR_FORMAT_RAW;
}

const char *fr_image_format_name(enum fr_image_format f) {
    if ((int)f < 0 || (size_t)f >= sizeof(format_names) / sizeof(format_names[0])) return "unknown";
    return format_names[f];
}

/* ISO BMFF 'ftyp': the major brand and the compatible brands decide
 * between HEIF and AVIF. */
static enum fr_image_format sniff_ftyp(const uint8_t *b, size_t n) {
    if (n < 16 || memcmp(b + 4, "ftyp", 4) != 0) return FR_FORMAT_UNKNOWN;
    size_t box = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
    if (box < 16 || box > n) box = n < 64 ? n : 64;
    bool heif = false, avif = false;
    for (size_t i = 8; i + 4 <= box; i += 4) {
        if (i == 12) continue; /* minor version */
        const uint8_t *br = b + i;
        if (!memcmp(br, "avif", 4) || !memcmp(br, "avis", 4)) avif = true;
        if (!memcmp(br, "heic", 4) || !memcmp(br, "heix", 4) || !memcmp(br, "hevc", 4) || !memcmp(br, "hevx", 4) ||
            !memcmp(br, "heim", 4) || !memcmp(br, "heis", 4) || !memcmp(br, "mif1", 4) || !memcmp(br, "msf1", 4))
            heif = true;
    }
    if (!memcmp(b + 8, "avif", 4) || !memcmp(b + 8, "avis", 4) || (avif && !memcmp(b + 8, "mif1", 4)))
        return FR_FORMAT_AVIF;
    return heif ? FR_FORMAT_HEIF : avif ? FR_FORMAT_AVIF : FR_FORMAT_UNKNOWN;
}

enum fr_image_format fr_image_sniff_file(const char *path) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return FR_FORMAT_UNKNOWN;
    unsigned char head[64]; /* every signature fits; telling RAW from TIFF needs more, but both are images */
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return fr_image_sniff(head, n);
}

enum fr_image_format fr_image_sniff(const void *buf, size_t n) {
    const uint8_t *b = buf;
    if (!b) return FR_FORMAT_UNKNOWN;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return FR_FORMAT_JPEG;
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return FR_FORMAT_PNG;
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return FR_FORMAT_WEBP;
    /* Camera RAW containers with a signature of their own: Canon CR3 (ISO
     * BMFF brand 'crx '), Fujifilm RAF, Olympus ORF, Panasonic RW2, Minolta
     * MRW, Sigma X3F. The TIFF-based ones (DNG, CR2, NEF, ARW, PEF...) are
     * told from plain TIFF by their tags, below. */
    if ((n >= 12 && !memcmp(b + 4, "ftypcrx ", 8)) || (n >= 16 && !memcmp(b, "FUJIFILMCCD-RAW ", 16)) ||
        (n >= 4 && (!memcmp(b, "IIRO", 4) || !memcmp(b, "IIRS", 4) || !memcmp(b, "MMOR", 4) ||
                    !memcmp(b, "IIU\0", 4) || !memcmp(b, "\0MRM", 4) || !memcmp(b, "FOVb", 4))))
        return FR_FORMAT_RAW;
    enum fr_image_format f = sniff_ftyp(b, n);
    if (f != FR_FORMAT_UNKNOWN) return f;
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return FR_FORMAT_GIF;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return FR_FORMAT_BMP;
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4)))
        return fr__tiff_is_raw(b, n) ? FR_FORMAT_RAW : FR_FORMAT_TIFF;
    if ((n >= 2 && b[0] == 0xFF && b[1] == 0x0A) || (n >= 12 && !memcmp(b, "\0\0\0\x0cJXL \r\n\x87\n", 12)))
        return FR_FORMAT_JXL;
    if (n >= 5 && !memcmp(b, "%PDF-", 5)) return FR_FORMAT_PDF;
    if (n >= 4 && !memcmp(b, "8BPS", 4)) return FR_FORMAT_PSD;
    if (n >= 4 && !memcmp(b, "\0\0\1\0", 4)) return FR_FORMAT_ICO;
    size_t i = 0;
    while (i < n && i < 256 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
    if (n - i >= 4 && (!memcmp(b + i, "<svg", 4) || (n - i >= 5 && !memcmp(b + i, "<?xml", 5)))) return FR_FORMAT_SVG;
    return FR_FORMAT_UNKNOWN;
}

enum fr_status fr__check_limits(int64_t w, int64_t h, const struct fr_decode_params *p, char *err, size_t errlen) {
    if (w <= 0 || h <= 0) {
        fr_errf(err, errlen, "image has zero size (%lldx%lld)", (long long)w, (long long)h);
        return FR_ERR_IMAGE;
    }
    if (w > p->max_dimension || h > p->max_dimension || w * h > p->max_pixels) {
        fr_errf(err, errlen, "image is %lldx%lld, over the limit (%d px per side, %lld pixels)", (long long)w,
                (long long)h, p->max_dimension, (long long)p->max_pixels);
        return FR_ERR_TOO_LARGE;
    }
    return FR_OK;
}

/* Output size for a stored image of w x h under max_image_size: the longer
 * side becomes the target, the other keeps the aspect ratio (at least 1). */
static void target_size(int32_t w, int32_t h, int32_t target, int32_t *tw, int32_t *th) {
    *tw = w, *th = h;
    if (target <= 0 || (w <= target && h <= target)) return;
    double s = (double)target / (w > h ? w : h);
    *tw = w >= h ? target : (int32_t)fmax(1.0, floor(w * s + 0.5));
    *th = h >= w ? target : (int32_t)fmax(1.0, floor(h * s + 0.5));
}

enum fr_status fr_image_decode(const void *buf, size_t len, const struct fr_decode_params *params,
                               struct fr_image **out, char *err, size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_decode_params p = params ? *params : fr_decode_default_params();
    const uint8_t *b = buf;
    if (!b || len == 0) {
        fr_errf(err, errlen, "empty input");
        return FR_ERR_IMAGE;
    }
    if (len > p.max_bytes) {
        fr_errf(err, errlen, "input is %zu bytes, over the %zu byte limit", len, p.max_bytes);
        return FR_ERR_TOO_LARGE;
    }
    enum fr_image_format f = fr_image_sniff(b, len);
    struct fr_raw_image raw = { .orientation = 1 };
    enum fr_status st;
    switch (f) {
    case FR_FORMAT_JPEG: st = fr__decode_jpeg(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_PNG: st = fr__decode_png(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_WEBP: st = fr__decode_webp(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_HEIF:
    case FR_FORMAT_AVIF: st = fr__decode_heif(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_JXL: st = fr__decode_jxl(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_TIFF: st = fr__decode_tiff(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_GIF: st = fr__decode_gif(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_BMP: st = fr__decode_bmp(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_RAW: st = fr__decode_raw(b, len, &p, &raw, err, errlen); break;
    case FR_FORMAT_UNKNOWN:
        fr_errf(err, errlen, "unsupported image format (not " FR_IMAGE_FORMATS_READ ")");
        return FR_ERR_UNSUPPORTED;
    default:
        fr_errf(err, errlen, "unsupported image format: %s (facerec reads " FR_IMAGE_FORMATS_READ ")",
                fr_image_format_name(f));
        return FR_ERR_UNSUPPORTED;
    }
    if (st != FR_OK) {
        fr_free(raw.icc);
        return st;
    }
    struct fr_image *img = raw.img;
    int32_t tw, th;
    target_size(raw.full_width, raw.full_height, p.max_image_size, &tw, &th);
    /* Decoders may already have reduced the image to within the target
     * (JPEG DCT scaling); only shrink what is still larger. */
    if (p.max_image_size > 0 && (img->width > p.max_image_size || img->height > p.max_image_size)) {
        struct fr_image *r = fr_image_resize_area(img, tw, th);
        fr_image_free(img);
        if (!r) {
            fr_free(raw.icc);
            fr_errf(err, errlen, "out of memory resizing to %dx%d", tw, th);
            return FR_ERR_NOMEM;
        }
        img = r;
    }
    if (raw.icc) {
        fr__icc_rgb_to_srgb(img, raw.icc, raw.icc_len);
        fr_free(raw.icc);
    }
    int32_t o = p.apply_orientation ? raw.orientation : 1;
    struct fr_image *u = fr__image_orient(img, o);
    if (!u) {
        fr_image_free(img);
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    if (u != img) fr_image_free(img);
    bool swap = o >= 5;
    u->orig_width = swap ? raw.full_height : raw.full_width;
    u->orig_height = swap ? raw.full_width : raw.full_height;
    u->format = f;
    u->orientation = raw.orientation;
    *out = u;
    return FR_OK;
}

enum fr_status fr_image_load(const char *path, const struct fr_decode_params *params, struct fr_image **out,
                             char *err, size_t errlen) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_decode_params p = params ? *params : fr_decode_default_params();
    FILE *f = fopen(path, "rb");
    if (!f) {
        fr_errf(err, errlen, "%s: cannot open", path);
        return FR_ERR_IO;
    }
    enum fr_status st = FR_OK;
    uint8_t *buf = NULL;
    long size = 0;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fr_errf(err, errlen, "%s: cannot read (not a regular file?)", path);
        st = FR_ERR_IO;
        goto done;
    }
    if ((size_t)size > p.max_bytes) {
        fr_errf(err, errlen, "%s: %ld bytes, over the %zu byte limit", path, size, p.max_bytes);
        st = FR_ERR_TOO_LARGE;
        goto done;
    }
    buf = fr_malloc((size_t)size);
    if (!buf) {
        st = FR_ERR_NOMEM;
        fr_errf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fr_errf(err, errlen, "%s: short read", path);
        st = FR_ERR_IO;
        goto done;
    }
    char derr[256] = "";
    st = fr_image_decode(buf, (size_t)size, &p, out, derr, sizeof(derr));
    if (st != FR_OK) fr_errf(err, errlen, "%s: %s", path, derr);
done:
    fr_free(buf);
    fclose(f);
    return st;
}

enum fr_status fr_image_save_ppm(const struct fr_image *img, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fr_errf(err, errlen, "%s: cannot create", path);
        return FR_ERR_IO;
    }
    int ok = fprintf(f, "P6\n%d %d\n255\n", img->width, img->height) > 0;
    for (int32_t y = 0; ok && y < img->height; y++)
        ok = fwrite(img->data + (size_t)y * img->stride, 3, (size_t)img->width, f) == (size_t)img->width;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        fr_errf(err, errlen, "%s: write failed", path);
        return FR_ERR_IO;
    }
    return FR_OK;
}
