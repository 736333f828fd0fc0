/* facerec command line (minimal: detect / embed over files, JSON out).
 * The full CLI (directories, identify, cluster, progress) is issue 4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/face.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: facerec [--models DIR] [--detector ssd|tiny] detect|embed FILE...\n"
            "       facerec --version\n"
            "  detect  print faces (box, score, 68 landmarks) as one JSON object per image\n"
            "  embed   as detect, each face also with its 128-d descriptor\n"
            "  --models DIR  model directory (default $FACEREC_MODELS or ./models)\n");
}

static void print_faces(const char *file, const struct fr_faces *r, int embed) {
    printf("{\"file\":\"");
    for (const char *p = file; *p; p++) {
        if (*p == '"' || *p == '\\') putchar('\\');
        putchar(*p);
    }
    printf("\",\"width\":%d,\"height\":%d,\"faces\":[", r->width, r->height);
    for (int32_t i = 0; i < r->count; i++) {
        const struct fr_face *f = &r->faces[i];
        printf("%s{\"box\":[%.2f,%.2f,%.2f,%.2f],\"score\":%.5f", i ? "," : "", f->box[0], f->box[1], f->box[2],
               f->box[3], f->score);
        if (f->has_landmarks) {
            printf(",\"landmarks\":[");
            for (int p = 0; p < FR_LANDMARKS; p++)
                printf("%s[%.2f,%.2f]", p ? "," : "", f->landmarks[p][0], f->landmarks[p][1]);
            printf("]");
        }
        if (embed && f->has_descriptor) {
            printf(",\"embedding\":[");
            for (int k = 0; k < FR_DESCRIPTOR_DIM; k++) printf("%s%.6f", k ? "," : "", f->descriptor[k]);
            printf("]");
        }
        printf("}");
    }
    printf("]}\n");
}

int main(int argc, char **argv) {
    const char *models = getenv("FACEREC_MODELS");
    if (!models || !*models) models = "models";
    enum fr_detector det = FR_DETECTOR_SSD;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("facerec %s\n", FR_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--models") && i + 1 < argc) {
            models = argv[++i];
        } else if (!strcmp(argv[i], "--detector") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "tiny")) det = FR_DETECTOR_TINY;
            else if (strcmp(argv[i], "ssd") != 0) {
                fprintf(stderr, "facerec: unknown detector '%s' (ssd or tiny)\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "facerec: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc || (strcmp(argv[i], "detect") != 0 && strcmp(argv[i], "embed") != 0) || i + 1 >= argc) {
        usage(stderr);
        return 2;
    }
    int embed = !strcmp(argv[i], "embed");
    char err[1024];
    struct fr_backend *be = NULL;
    struct fr_facenet *fn = NULL;
    if (fr_backend_new(NULL, &be, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec: %s\n", err);
        return 1;
    }
    struct fr_facenet_params fp = fr_facenet_default_params();
    fp.models_dir = models;
    fp.detector = det;
    fp.descriptors = embed;
    if (fr_facenet_new(be, &fp, &fn, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec: %s\n", err);
        fr_backend_free(be);
        return 1;
    }
    int rc = 0;
    for (i++; i < argc; i++) {
        struct fr_image *img = NULL;
        if (fr_image_load(argv[i], NULL, &img, err, sizeof(err)) != FR_OK) {
            fprintf(stderr, "facerec: %s\n", err);
            rc = 1;
            continue;
        }
        struct fr_faces res;
        const struct fr_image *imgs[1] = { img };
        if (fr_facenet_process(fn, imgs, 1, &res, err, sizeof(err)) != FR_OK) {
            fprintf(stderr, "facerec: %s: %s\n", argv[i], err);
            rc = 1;
        } else {
            print_faces(argv[i], &res, embed);
            fr_faces_clear(&res);
        }
        fr_image_free(img);
    }
    fr_facenet_free(fn);
    fr_backend_free(be);
    return rc;
}
