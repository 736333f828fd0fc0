/* facerec command line (minimal: detect / embed over files, JSON out).
 * The full CLI (directories, identify, cluster, progress) is issue 4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/face.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: facerec [--models DIR] [--detector ssd|tiny] [--json] detect|embed FILE...\n"
            "       facerec [--models DIR] compare FILE_A FILE_B\n"
            "       facerec --version\n"
            "  detect   one line per face (box, score); --json: one JSON object per image with 68 landmarks\n"
            "  embed    as detect; with --json each face also has its 128-d embedding\n"
            "  compare  distance between the largest faces of two images, same person below 0.6\n"
            "  --models DIR  model directory (default $FACEREC_MODELS or ./models)\n");
}

static void print_text(const char *file, const struct fr_faces *r) {
    printf("%s: %dx%d, %d face%s\n", file, r->width, r->height, r->count, r->count == 1 ? "" : "s");
    for (int32_t i = 0; i < r->count; i++) {
        const struct fr_face *f = &r->faces[i];
        printf("  face %d: box %.1f,%.1f %.1fx%.1f score %.4f%s\n", i, f->box[0], f->box[1], f->box[2], f->box[3],
               f->score, f->has_descriptor ? " (embedded)" : "");
    }
}

static int32_t largest(const struct fr_faces *r) {
    int32_t best = -1;
    for (int32_t i = 0; i < r->count; i++)
        if (r->faces[i].has_descriptor &&
            (best < 0 || r->faces[i].box[2] * r->faces[i].box[3] > r->faces[best].box[2] * r->faces[best].box[3]))
            best = i;
    return best;
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
    int json = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("facerec %s\n", FR_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
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
    if (i >= argc || (strcmp(argv[i], "detect") != 0 && strcmp(argv[i], "embed") != 0 &&
                      strcmp(argv[i], "compare") != 0) ||
        i + 1 >= argc) {
        usage(stderr);
        return 2;
    }
    int compare = !strcmp(argv[i], "compare");
    if (compare && argc - i != 3) {
        usage(stderr);
        return 2;
    }
    int embed = compare || !strcmp(argv[i], "embed");
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
    struct fr_faces keep[2];
    memset(keep, 0, sizeof(keep));
    int first = i + 1;
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
        } else if (compare) {
            keep[i - first] = res;
        } else {
            if (json) print_faces(argv[i], &res, embed);
            else print_text(argv[i], &res);
            fr_faces_clear(&res);
        }
        fr_image_free(img);
    }
    if (compare && rc == 0) {
        int32_t a = largest(&keep[0]), b = largest(&keep[1]);
        if (a < 0 || b < 0) {
            fprintf(stderr, "facerec: %s: no face found\n", argv[a < 0 ? first : first + 1]);
            rc = 1;
        } else {
            float d = fr_descriptor_distance(keep[0].faces[a].descriptor, keep[1].faces[b].descriptor);
            printf("%s vs %s: distance %.4f -> %s (tolerance 0.6)\n", argv[first], argv[first + 1], d,
                   d < 0.6f ? "same person" : "different people");
        }
    }
    fr_faces_clear(&keep[0]);
    fr_faces_clear(&keep[1]);
    fr_facenet_free(fn);
    fr_backend_free(be);
    return rc;
}
