/* fr-ppm: decode an image with facerec's own decoder and write it as PPM.
 * The reference harness feeds these exact pixels to face-api, so both sides
 * of every comparison see identical input. */
#include <stdio.h>

#include "facerec/image.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fr-ppm IN OUT.ppm\n");
        return 2;
    }
    char err[512];
    struct fr_image *img = NULL;
    /* Full resolution, upright: exactly what the pipeline tests feed. */
    struct fr_decode_params dp = fr_decode_default_params();
    dp.max_image_size = 0;
    if (fr_image_load(argv[1], &dp, &img, err, sizeof(err)) != FR_OK ||
        fr_image_save_ppm(img, argv[2], err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "fr-ppm: %s\n", err);
        fr_image_free(img);
        return 1;
    }
    fr_image_free(img);
    return 0;
}
