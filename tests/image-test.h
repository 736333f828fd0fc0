/* Shared helpers of the image tests; see image-test.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "facerec/image.h"
#include "image-fixtures.h"
#include "test-alloc.h"

/* Mean absolute error bounds (0-255 scale, averaged over every channel of
 * every pixel) for lossy codecs on the smooth fixture pattern. A wrong
 * orientation or channel order costs over 50, so these are loose enough
 * for codec noise and tight enough to catch real mistakes. JPEG and WebP
 * are encoded at quality 95/90; HEIC/AVIF at 90 with 4:2:0 chroma. */
#define LOSSY_MAE_JPEG 3.0
#define LOSSY_MAE_WEBP 4.0
#define LOSSY_MAE_HEIF 5.0
/* Downscaled output against an exact area average of the source. */
#define RESIZE_MAE 2.0

extern char g_tmp[256]; /* a scratch directory for the run */
extern bool g_verbose;  /* FR_TEST_VERBOSE: print every case */

/* Checks over many cases report every failing case before failing the
 * test, so one run shows the whole picture. */
extern int g_soft;
#define SOFT_FAIL(...) (printf("  FAIL: " __VA_ARGS__), printf("\n"), fflush(stdout), g_soft++)
void soft_done(void);

/* Setup/teardown of every test: the facerec heap must come back to where
 * it was (fr_test_alloc_setup/teardown, and the soft failures reset). */
int leak_setup(void **state);
int leak_teardown(void **state);

struct fr_decode_params full_size(void);
/* Decoding must succeed (a hard failure otherwise). */
struct fr_image *decode_ok(const struct fr_fx_blob *b, const struct fr_decode_params *p, const char *what);
/* Decoding must succeed as format f at the full size w x h, sniffed as f
 * first (hard failures otherwise); the caller checks pixels and frees it. */
struct fr_image *decode_as(const struct fr_fx_blob *b, const struct fr_decode_params *p, enum fr_image_format f, int w,
                          int h, const char *what);
/* The image stored with EXIF orientation o (1-8), as it must be displayed:
 * 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose,
 * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
 * Written as "upright pixel (x, y) comes from stored pixel ...", the
 * opposite direction from the decoder's loop. malloc'd; its size in *ow,
 * *oh. */
uint8_t *orient(const uint8_t *s, int w, int h, int o, int *ow, int *oh);
/* Decoding must fail: *out stays NULL and the message is not empty. An
 * unexpected success is a soft failure and returns FR_OK. */
enum fr_status decode_err(const void *buf, size_t len, const struct fr_decode_params *p, char *err, size_t errlen,
                          const char *what);
/* Decoding must succeed; a soft failure otherwise. */
void soft_ok(const struct fr_fx_blob *b, const struct fr_decode_params *p, const char *what);
void want_status(enum fr_status st, enum fr_status want, const char *err, const char *what);
void want_fmt(const struct fr_image *img, enum fr_image_format f, const char *what);
void want_size(const struct fr_image *img, int w, int h, int ow, int oh, const char *what);
/* Pixels equal to a packed RGB8 reference within tol / within a mean
 * absolute error bound. */
void want_exact(const struct fr_image *img, const uint8_t *ref, int tol, const char *what);
void want_close(const struct fr_image *img, const uint8_t *ref, double bound, const char *what);
/* A HEIF fixture, or false (and a "skipped" line) when libheif cannot
 * encode that codec here. */
bool heif_or_skip(const uint8_t *rgb, int w, int h, enum fr_fx_heif_codec c, int o, bool alpha,
                  struct fr_fx_blob *out);
void write_file(const char *path, const void *data, size_t n);

/* One small (40x30) file per container and coding path, for the damage
 * tests: HEIF ones only where libheif can encode them. */
struct fixture {
    char name[64];
    struct fr_fx_blob b;
    enum fr_image_format f;
    bool heif; /* slow to decode (libheif, libraw): fewer random rounds, truncations sampled */
};
#define MAX_FIXTURES 32
/* Fills fx (MAX_FIXTURES entries) and returns the count. */
int make_fixtures(struct fixture *fx);
void free_fixtures(struct fixture *fx, int n);

/* Installs the allocator, makes g_tmp, runs the tests, cleans up. */
struct CMUnitTest;
int fr_imgtest_run(const char *name, const struct CMUnitTest *tests, size_t n);
