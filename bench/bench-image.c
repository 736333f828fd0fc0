/* fr-bench-image: decode + orient + resize to max_image_size, one core.
 *
 * Test photos are made in memory from a real photo (the face_recognition
 * test data) scaled up to the benchmark sizes and re-encoded, so the JPEG
 * entropy is that of a photograph, not of a synthetic pattern. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "facerec/image.h"
#include "image/resize.h"

static struct fr_image *upscale(const struct fr_image *src, int32_t w, int32_t h) {
    struct fr_image *dst = fr_image_new(w, h);
    float *tmp = malloc(sizeof(float) * (size_t)w * h * 3);
    struct fr_canvas cv = { .img = src, .w = src->width, .h = src->height,
                            .canvas_w = src->width, .canvas_h = src->height };
    fr__resize_bilinear_tf(&cv, w, h, tmp);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) dst->data[i] = (uint8_t)(tmp[i] + 0.5f);
    free(tmp);
    return dst;
}

static unsigned char *encode_jpeg(const struct fr_image *img, unsigned long *len) {
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    *len = 0;
    tjCompress2(tj, img->data, img->width, (int)img->stride, img->height, TJPF_RGB, &out, len, TJSAMP_420, 90, 0);
    tjDestroy(tj);
    return out;
}

struct membuf {
    unsigned char *p;
    size_t n, cap;
};

static void png_write_mem(png_structp png, png_bytep d, png_size_t n) {
    struct membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

static unsigned char *encode_png(const struct fr_image *img, size_t *len) {
    struct membuf m = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int32_t y = 0; y < img->height; y++) png_write_row(png, img->data + (size_t)y * img->stride);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *len = m.n;
    return m.p;
}

static void bench_decode(const char *name, const unsigned char *buf, size_t len, double seconds) {
    struct fr_decode_params p = fr_decode_default_params();
    struct fr_image *img = NULL;
    char err[256];
    if (fr_image_decode(buf, len, &p, &img, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    int32_t ow = img->width, oh = img->height;
    fr_image_free(img);
    int runs = 0;
    double t0 = fr_time_now(), dt;
    do {
        fr_image_decode(buf, len, &p, &img, err, sizeof(err));
        fr_image_free(img);
        runs++;
        dt = fr_time_now() - t0;
    } while (dt < seconds || runs < 3);
    printf("%-34s %8.1f KiB -> %4dx%-4d %8.2f ms\n", name, len / 1024.0, ow, oh, dt / runs * 1e3);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    const char *photo = getenv("FR_BENCH_PHOTO");
    char path[1024];
    if (!photo) {
        snprintf(path, sizeof(path), "%s/../shared/testdata/face_recognition/examples/obama-1080p.jpg", FR_SOURCE_DIR);
        photo = path;
    }
    struct fr_decode_params full = fr_decode_default_params();
    full.max_image_size = 0;
    struct fr_image *src = NULL;
    char err[256];
    if (fr_image_load(photo, &full, &src, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "fr-bench-image: %s\n", err);
        return 1;
    }
    printf("# one thread; decode + orient + resize to max_image_size 2048 (area); source photo %s\n", photo);
    printf("%-34s %10s    %-9s %11s\n", "case", "size", "output", "time");
    struct fr_image *a = upscale(src, 1920, 1280), *b = upscale(src, 4000, 3000);
    unsigned long ja, jb;
    unsigned char *jpa = encode_jpeg(a, &ja), *jpb = encode_jpeg(b, &jb);
    size_t pb;
    unsigned char *pngb = encode_png(b, &pb);
    bench_decode("JPEG 1920x1280 q90 4:2:0", jpa, ja, seconds);
    bench_decode("JPEG 4000x3000 q90 4:2:0", jpb, jb, seconds);
    bench_decode("PNG 4000x3000 RGB8", pngb, pb, seconds);

    /* The kernels alone. */
    int runs = 0;
    double t0 = fr_time_now(), dt;
    do {
        fr_image_free(fr_image_resize_area(b, 2048, 1536));
        runs++;
        dt = fr_time_now() - t0;
    } while (dt < seconds || runs < 3);
    printf("%-34s %10s    %-9s %8.2f ms\n", "area resize 4000x3000 -> 2048x1536", "", "", dt / runs * 1e3);
    float *net = malloc(sizeof(float) * 512 * 512 * 3);
    struct fr_canvas cv = { .img = b, .w = 4000, .h = 3000, .canvas_w = 4000, .canvas_h = 4000 };
    runs = 0;
    t0 = fr_time_now();
    do {
        fr__resize_bilinear_tf(&cv, 512, 512, net);
        runs++;
        dt = fr_time_now() - t0;
    } while (dt < seconds || runs < 3);
    printf("%-34s %10s    %-9s %8.2f ms\n", "TF bilinear 4000x3000 pad -> 512", "", "", dt / runs * 1e3);
    free(net);
    tjFree(jpa);
    tjFree(jpb);
    free(pngb);
    fr_image_free(a);
    fr_image_free(b);
    fr_image_free(src);
    return 0;
}
