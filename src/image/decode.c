/* Image decoding: JPEG (libturbojpeg) and PNG (libpng) into RGB8.
 *
 * Limits are checked from the header before any pixel buffer is allocated so
 * that a hostile file claiming a huge size costs nothing. */
#include "facerec/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

struct fr_decode_params fr_decode_default_params(void) {
    return (struct fr_decode_params){
        .max_bytes = (size_t)50 << 20,
        .max_pixels = 100000000,
        .max_dimension = 65535,
    };
}

struct fr_image *fr_image_new(int32_t width, int32_t height) {
    if (width <= 0 || height <= 0) return NULL;
    if ((int64_t)width * height > ((int64_t)1 << 31)) return NULL;
    struct fr_image *img = fr_calloc(1, sizeof(*img));
    if (!img) return NULL;
    img->width = width;
    img->height = height;
    img->stride = (size_t)width * 3;
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

static enum fr_status check_limits(int64_t w, int64_t h, const struct fr_decode_params *p,
                                   char *err, size_t errlen) {
    if (w <= 0 || h <= 0) {
        fr_errf(err, errlen, "image has zero size (%lldx%lld)", (long long)w, (long long)h);
        return FR_ERR_IMAGE;
    }
    if (w > p->max_dimension || h > p->max_dimension || w * h > p->max_pixels) {
        fr_errf(err, errlen, "image is %lldx%lld, over the limit (%d px per side, %lld pixels)",
                (long long)w, (long long)h, p->max_dimension, (long long)p->max_pixels);
        return FR_ERR_TOO_LARGE;
    }
    return FR_OK;
}

static enum fr_status decode_jpeg(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                                  struct fr_image **out, char *err, size_t errlen) {
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        fr_errf(err, errlen, "cannot initialise the JPEG decoder");
        return FR_ERR_NOMEM;
    }
    enum fr_status st = FR_OK;
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
        fr_errf(err, errlen, "corrupt JPEG header: %s", tjGetErrorStr2(tj));
        st = FR_ERR_IMAGE;
        goto done;
    }
    if (w <= 0 || h <= 0) {
        fr_errf(err, errlen, "truncated or corrupt JPEG: no frame header");
        st = FR_ERR_IMAGE;
        goto done;
    }
    if ((st = check_limits(w, h, p, err, errlen)) != FR_OK) goto done;
    struct fr_image *img = fr_image_new(w, h);
    if (!img) {
        fr_errf(err, errlen, "out of memory for a %dx%d image", w, h);
        st = FR_ERR_NOMEM;
        goto done;
    }
    if (tjDecompress2(tj, buf, (unsigned long)len, img->data, w, (int)img->stride, h, TJPF_RGB, 0) != 0 &&
        tjGetErrorCode(tj) == TJERR_FATAL) {
        fr_errf(err, errlen, "corrupt JPEG data: %s", tjGetErrorStr2(tj));
        fr_image_free(img);
        st = FR_ERR_IMAGE;
        goto done;
    }
    *out = img;
done:
    tjDestroy(tj);
    return st;
}

struct png_src {
    const uint8_t *buf;
    size_t len, pos;
    char *err;
    size_t errlen;
};

static void png_read_mem(png_structp png, png_bytep dst, png_size_t n) {
    struct png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated PNG data");
    memcpy(dst, s->buf + s->pos, n);
    s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    struct png_src *s = png_get_error_ptr(png);
    fr_errf(s->err, s->errlen, "corrupt PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static enum fr_status decode_png(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                                 struct fr_image **out, char *err, size_t errlen) {
    struct png_src src = { buf, len, 0, err, errlen };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return FR_ERR_NOMEM;
    png_infop info = png_create_info_struct(png);
    /* volatile: these are modified between setjmp and a possible longjmp. */
    struct fr_image *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    enum fr_status st = FR_ERR_IMAGE;
    if (!info) {
        st = FR_ERR_NOMEM;
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) goto done;
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((st = check_limits(w, h, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    int ct = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    /* Alpha is dropped, not composited: face-api and face_recognition both
     * look at the colour channels only. */
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png), png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        fr_errf(err, errlen, "unexpected PNG row layout");
        goto done;
    }
    img = fr_image_new((int32_t)w, (int32_t)h);
    rows = fr_malloc(sizeof(png_bytep) * h);
    if (!img || !rows) {
        fr_errf(err, errlen, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        st = FR_ERR_NOMEM;
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->data + (size_t)y * img->stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    *out = img;
    img = NULL;
    st = FR_OK;
done:
    fr_free(rows);
    fr_image_free(img);
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    return st;
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
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return decode_jpeg(b, len, &p, out, err, errlen);
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(b, len, &p, out, err, errlen);
    fr_errf(err, errlen, "unsupported image format");
    return FR_ERR_UNSUPPORTED;
}

enum fr_status fr_image_load(const char *path, const struct fr_decode_params *params,
                             struct fr_image **out, char *err, size_t errlen) {
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
        fr_errf(err, errlen, "%s: cannot read", path);
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
    char derr[200] = "";
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
