/* PNG via libpng: every colour type and bit depth (16-bit samples are
 * reduced to their high byte), palette, tRNS, Adam7; alpha dropped; EXIF
 * orientation from eXIf; an RGB iCCP profile converted to sRGB. */
#include <png.h>
#include <setjmp.h>
#include <string.h>

#include "image-impl.h"

struct png_src {
    const uint8_t *buf;
    size_t len, pos;
    char *err;
    size_t errlen;
};

static void read_mem(png_structp png, png_bytep dst, png_size_t n) {
    struct png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated PNG data");
    memcpy(dst, s->buf + s->pos, n);
    s->pos += n;
}

static void on_error(png_structp png, png_const_charp msg) {
    struct png_src *s = png_get_error_ptr(png);
    fr_errf(s->err, s->errlen, "corrupt PNG: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static int32_t exif_of(png_structp png, png_infop info) {
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &n, &exif) && exif && n > 0) return fr__exif_orientation(exif, n);
#else
    (void)png;
    (void)info;
#endif
    return 1;
}

enum fr_status fr__decode_png(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                              struct fr_raw_image *out, char *err, size_t errlen) {
    struct png_src src = { buf, len, 0, err, errlen };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    if (!png) return FR_ERR_NOMEM;
    png_infop info = png_create_info_struct(png);
    /* volatile: modified between setjmp and a possible longjmp. */
    struct fr_image *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    volatile enum fr_status st = FR_ERR_IMAGE;
    if (!info) {
        st = FR_ERR_NOMEM;
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) goto done;
    png_set_read_fn(png, &src, read_mem);
    /* Ancillary chunks (text, ICC) must not be a memory sink. */
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((st = fr__check_limits(w, h, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    /* Alpha (and tRNS transparency) is dropped, not composited: face-api and
     * face_recognition look at the colour channels only. */
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        fr_errf(err, errlen, "corrupt PNG: unexpected row layout");
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
    int32_t o = exif_of(png, info);
    /* eXIf may also follow the image data. */
    png_read_end(png, info);
    if (o == 1) o = exif_of(png, info);
#ifdef PNG_iCCP_SUPPORTED
    png_charp icc_name = NULL;
    png_bytep icc = NULL;
    png_uint_32 icc_len = 0;
    int icc_comp = 0;
    if (png_get_iCCP(png, info, &icc_name, &icc_comp, &icc, &icc_len) && icc && icc_len)
        out->icc = fr__icc_keep_rgb(icc, icc_len, &out->icc_len);
#endif
    out->img = img;
    img = NULL;
    out->full_width = (int32_t)w;
    out->full_height = (int32_t)h;
    out->orientation = o;
    st = FR_OK;
done:
    fr_free(rows);
    fr_image_free(img);
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    return st;
}
