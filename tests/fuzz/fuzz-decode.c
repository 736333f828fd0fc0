/* libFuzzer harness over fr_image_decode.
 *
 * Each input is decoded twice: at full size, then downscaled to a small
 * target derived from the input length (DCT scaling, area resize and
 * orientation on small images), with orientation applied or not. Beyond
 * the sanitizers, the harness aborts when the result breaks the contract
 * in include/facerec/image.h: a failure must leave *out NULL and say why;
 * a success must be a well-formed image whose sizes agree between the two
 * decodes. Limits are small so that valid huge images cannot exhaust the
 * fuzzer's memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "facerec/image.h"

#define MAX_PIXELS 4000000
#define MAX_SIDE 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libdav1d, under Debian 12's libheif 1.15, leaks 40 bytes on some damaged
 * AV1 payloads (found by this harness; the input is a regression test in
 * tests/test-image-damage.c, which checks that facerec's own heap
 * balances). The leak is inside the codec, so LeakSanitizer ignores it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libdav1d.so\n"; }

static void die(const char *what, const struct fr_image *img) {
    if (img)
        fprintf(stderr, "fuzz-decode: %s (%dx%d, orig %dx%d, stride %zu, format %s, orientation %d)\n", what,
                img->width, img->height, img->orig_width, img->orig_height, img->stride,
                fr_image_format_name(img->format), img->orientation);
    else
        fprintf(stderr, "fuzz-decode: %s\n", what);
    abort();
}

/* Checks a result and reads every pixel, so ASan sees short buffers. */
static void check(enum fr_status st, const struct fr_image *img, const char *err) {
    if (st != FR_OK) {
        if (st >= 0) die("non-negative error status", NULL);
        if (img) die("error with an image", img);
        if (!err[0]) die("error without a message", NULL);
        return;
    }
    if (!img || !img->data) die("success without pixels", img);
    if (img->width <= 0 || img->height <= 0 || img->stride < (size_t)img->width * 3) die("bad geometry", img);
    if (img->orig_width < img->width || img->orig_height < img->height) die("original smaller than output", img);
    if ((int64_t)img->orig_width * img->orig_height > MAX_PIXELS || img->orig_width > MAX_SIDE ||
        img->orig_height > MAX_SIDE)
        die("a limit was not enforced", img);
    if (img->orientation < 1 || img->orientation > 8) die("orientation out of range", img);
    if (!fr_image_format_decodable(img->format)) die("undecodable format decoded", img);
    volatile unsigned sum = 0;
    for (int32_t y = 0; y < img->height; y++)
        for (size_t x = 0; x < (size_t)img->width * 3; x++)
            sum += img->data[(size_t)y * img->stride + x];
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    enum fr_image_format f = fr_image_sniff(data, size);
    if (!fr_image_format_name(f)) die("format without a name", NULL);

    struct fr_decode_params p = fr_decode_default_params();
    p.max_pixels = MAX_PIXELS;
    p.max_dimension = MAX_SIDE;
    p.max_image_size = 0;
    struct fr_image *img = NULL;
    char err[256] = "";
    enum fr_status st = fr_image_decode(data, size, &p, &img, err, sizeof err);
    check(st, img, err);
    if (st != FR_OK) return 0;
    if (img->format != f) die("decoded format differs from the sniffed one", img);
    /* A RAW's full-size embedded preview may differ from the sensor size
     * by a few pixels; orig_* then keeps the sensor's. */
    if ((img->width != img->orig_width || img->height != img->orig_height) && img->format != FR_FORMAT_RAW)
        die("resized without a target", img);
    int32_t full_w = img->width, full_h = img->height;
    fr_image_free(img);

    /* Targets from 1 to 97 pixels: tiny outputs reach every DCT factor and
     * uneven area-resize ratios quickly. */
    p.max_image_size = (int32_t)(1 + size % 97);
    p.apply_orientation = size % 3 != 0;
    img = NULL;
    err[0] = 0;
    st = fr_image_decode(data, size, &p, &img, err, sizeof err);
    check(st, img, err);
    if (st != FR_OK) return 0; /* a scaled decode may meet damage the full one did not */
    int32_t target = p.max_image_size, longer = img->width > img->height ? img->width : img->height;
    bool same = img->orig_width == full_w && img->orig_height == full_h;
    bool swapped = img->orig_width == full_h && img->orig_height == full_w;
    if (p.apply_orientation ? !same : !(same || swapped)) die("original size differs between decodes", img);
    if (longer > target) die("longer side above max_image_size", img);
    if ((full_w > target || full_h > target) && longer * 10 < target * 9)
        die("downscaled below 90% of the target", img);
    fr_image_free(img);
    return 0;
}
