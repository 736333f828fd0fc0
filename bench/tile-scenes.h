/* Scenes for multi-scale detection, composed in memory from the test
 * photos (tests/test-tiles.c and bench/bench-tiles.c): large "phone"
 * frames with faces of 2-4% of the width, a crowd of small faces, a large
 * face across the tile borders, and photos without faces. Each scene knows
 * its faces (ground truth, in original pixels): the boxes the detector
 * finds in the source photos at their own size, moved and scaled to where
 * they were pasted. */
#pragma once

#include "facerec/face.h"

#define SCENE_MAX_FACES 64

struct scene {
    char name[64];
    struct fr_image *img; /* as decoded: orig_width/height say the photo's size */
    int32_t n_truth;
    float truth[SCENE_MAX_FACES][4]; /* x, y, w, h in original pixels */
};

/* Source faces: photos with the boxes fr_facenet finds in them at full
 * size (whole pass). Loaded once from the test data and models/samples. */
struct scene_sources;
struct scene_sources *scene_sources_load(struct fr_facenet *fn, const char *data_dir, const char *models_dir);
void scene_sources_free(struct scene_sources *s);
int scene_sources_count(const struct scene_sources *s);

/* The scenes (img NULL on failure). kind: "phone" (face-api's six samples
 * in a 4032x3024 frame decoded at 2048, faces 80-170 px), "crowd" (29 faces
 * of 20-35 px in 1280x926, variant picks faces and jitter), "border" (one
 * large face across the middle of 2000x1500), "noface" (variant 0..3:
 * gradient, noise, text, plot; 3000x2000 decoded at 2048). */
struct scene scene_make(const struct scene_sources *src, const char *kind, int variant);
void scene_free(struct scene *sc);
/* n faces of lo..hi px (original) in 1280x926, on a grid. */
struct scene scene_crowd(const struct scene_sources *src, int variant, int n, double lo, double hi);

/* How the found faces match the truth: matched truth faces (IoU >= 0.3),
 * found faces matching no truth face (extra), and pairs of found faces that
 * are one face (IoU > 0.3 or half the smaller box inside the other). */
struct scene_score {
    int32_t truth, matched, found, extra, duplicates;
};
struct scene_score scene_score(const struct scene *sc, const struct fr_faces *f);
