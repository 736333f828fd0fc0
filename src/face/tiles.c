/* Multi-scale detection: the whole image, then overlapping tiles of it.
 *
 * The detectors see an image as one net input (SSD 512x512, tiny 416x416
 * by default), so a face narrower than about 4% of the longer side becomes
 * too small for them. A tile is a rectangle of the decoded image that is
 * padded and resized to the net's input on its own, exactly like a whole
 * image (face-api's padToSquare, bottom/right), so its faces reach the net
 * larger. Boxes found in a tile are moved back to image pixels, and one
 * merge across all passes keeps every face once:
 *
 *  - the whole pass's faces come first, unchanged (they are face-api's);
 *  - then the tiles' faces, best score first, those whole inside their
 *    tile before those that touch an inner tile border (a face cut by the
 *    border is seen whole by the whole pass or by the neighbouring tile,
 *    whose box is kept instead);
 *  - a face is dropped when it matches a kept one: IoU above 0.3, or more
 *    than half of the smaller box inside the other (a cut face's box lies
 *    inside the whole face's).
 *
 * When to tile (auto): see plan_auto below and docs/PERFORMANCE.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/nets.h"
#include "../nn/prep.h"
#include "face-impl.h"
#include "face-job.h"

/* The smallest face, in net input pixels, each detector finds reliably
 * (measured on faces of the test photos scaled onto neutral canvases; see
 * docs/PERFORMANCE.md). Below it recall falls off quickly. */
#define SSD_RELIABLE_PX 30.0
#define TINY_RELIABLE_PX 48.0
/* auto without min_face_size looks for faces of 2% of the photo's longer
 * side, and never smaller than this many original pixels. */
#define AUTO_FACE_FRACTION 0.02
#define AUTO_FACE_FLOOR_PX 20.0
/* auto: a whole pass whose smallest face is at least this many times the
 * reliable size found large faces only; it is not tiled. */
#define AUTO_LARGE_FACTOR 1.2
/* auto: faces this much smaller than the smallest one found are sought. */
#define AUTO_SMALLER_FACTOR 0.8
#define GRID_MAX 4

enum fr_status fr_tiles_parse(const char *s, struct fr_tiles *out, char *err, size_t errlen) {
    if (!s) s = "";
    if (!strcmp(s, "auto")) {
        *out = (struct fr_tiles){ .mode = FR_TILES_AUTO };
        return FR_OK;
    }
    if (!strcmp(s, "off")) {
        *out = (struct fr_tiles){ .mode = FR_TILES_OFF };
        return FR_OK;
    }
    int c = 0, r = 0, used = 0;
    if (sscanf(s, "%1d%*[xX]%1d%n", &c, &r, &used) == 2 && (size_t)used == strlen(s) && c >= 1 && c <= GRID_MAX &&
        r >= 1 && r <= GRID_MAX && c * r > 1) {
        *out = (struct fr_tiles){ .mode = FR_TILES_GRID, .cols = c, .rows = r };
        return FR_OK;
    }
    fr_errf(err, errlen, "tiles: expected auto, off or NxM with N and M in 1..%d (e.g. 2x2), got \"%s\"", GRID_MAX, s);
    return FR_ERR_INVALID;
}

bool fr__tiles_valid(const struct fr_tiles *t) {
    if (t->mode < FR_TILES_DEFAULT || t->mode > FR_TILES_GRID) return false;
    if (t->mode != FR_TILES_GRID) return true;
    return t->cols >= 1 && t->cols <= GRID_MAX && t->rows >= 1 && t->rows <= GRID_MAX && t->cols * t->rows > 1;
}

void fr_tiles_format(const struct fr_tiles *t, char *buf, size_t len) {
    switch (t->mode) {
    case FR_TILES_AUTO: snprintf(buf, len, "auto"); return;
    case FR_TILES_GRID: snprintf(buf, len, "%dx%d", t->cols, t->rows); return;
    default: snprintf(buf, len, "off"); return;
    }
}

static double reliable_px(const struct fr_facenet *fn) {
    /* Relative to the tiny net's input side: its anchors scale with it. */
    return fn->p.detector == FR_DETECTOR_SSD ? SSD_RELIABLE_PX : TINY_RELIABLE_PX * fn->det_size / 416.0;
}

/* cols x rows tiles over W x H, neighbours overlapping by ov pixels. */
static int32_t make_grid(struct fr_face_job *j, int32_t cols, int32_t rows, double ov) {
    double W = j->W, H = j->H;
    double tw = cols > 1 ? (W + (cols - 1) * ov) / cols : W, th = rows > 1 ? (H + (rows - 1) * ov) / rows : H;
    double sx = cols > 1 ? (W - tw) / (cols - 1) : 0, sy = rows > 1 ? (H - th) / (rows - 1) : 0;
    int32_t n = 0;
    for (int32_t r = 0; r < rows; r++)
        for (int32_t c = 0; c < cols && n < FR_TILES_MAX; c++) {
            int32_t x0 = (int32_t)floor(c * sx), y0 = (int32_t)floor(r * sy);
            int32_t x1 = c == cols - 1 ? (int32_t)W : (int32_t)ceil(c * sx + tw);
            int32_t y1 = r == rows - 1 ? (int32_t)H : (int32_t)ceil(r * sy + th);
            if (x1 > (int32_t)W) x1 = (int32_t)W;
            if (y1 > (int32_t)H) y1 = (int32_t)H;
            if (x1 - x0 < 2 || y1 - y0 < 2) continue;
            j->tile[n++] = (struct fr__tile){ x0, y0, x1 - x0, y1 - y0 };
        }
    return n;
}

/* The overlap of neighbouring tiles: wide enough that a face the whole
 * pass may miss (below the reliable size there) lies whole in one tile. */
static double overlap_px(const struct fr_facenet *fn, const struct fr_face_job *j, double tile_side) {
    double s0 = fn->det_size / fmax(j->W, j->H);
    double ov = 1.0 * reliable_px(fn) / s0;
    return fmin(ov, 0.5 * tile_side);
}

/* auto: the smallest face worth looking for, in decoded pixels, or 0 when
 * the whole pass already answers (no tiles). */
static double auto_target(const struct fr_facenet *fn, const struct fr_face_job *j) {
    double s0 = fn->det_size / fmax(j->W, j->H); /* net pixels per decoded pixel, whole pass */
    double dec = j->W / j->ow;                    /* decoded pixels per original pixel */
    double rel = reliable_px(fn);
    double target;
    if (j->min_face_size > 0) {
        /* The user said which faces matter. */
        target = j->min_face_size * dec;
    } else {
        target = fmax(AUTO_FACE_FLOOR_PX, AUTO_FACE_FRACTION * fmax(j->ow, j->oh)) * dec;
        /* What the whole pass found: large faces only means a portrait or
         * a close group, where smaller faces are unlikely and tiles would
         * be spent for nothing; a face near the net's limit means there
         * may be more just below it (a crowd), so look a little smaller. */
        double smallest = INFINITY;
        for (int32_t k = 0; k < j->n; k++) smallest = fmin(smallest, fmin(j->ws[k].box[2], j->ws[k].box[3]));
        if (j->n > 0) {
            if (smallest * s0 >= AUTO_LARGE_FACTOR * rel) return 0;
            target = fmin(target, AUTO_SMALLER_FACTOR * smallest);
        }
    }
    /* Faces of that size are already big enough in the whole pass. */
    if (target * s0 >= rel) return 0;
    return target;
}

int32_t fr__facenet_tiles_plan(const struct fr_facenet *fn, struct fr_face_job *j) {
    j->n_tiles = 0;
    struct fr_tiles t = j->tiles;
    if (t.mode == FR_TILES_GRID) {
        if (!fr__tiles_valid(&t)) return 0; /* refused where the settings come in */
        double side = fmin(j->W / t.cols, j->H / t.rows);
        j->n_tiles = make_grid(j, t.cols, t.rows, overlap_px(fn, j, side));
        return j->n_tiles;
    }
    if (t.mode != FR_TILES_AUTO) return 0;
    double target = auto_target(fn, j);
    if (target <= 0) return 0;
    /* Tiles of side T make a face of `target` pixels reach the reliable
     * size; they never zoom in more than 2x (the detail is not there). */
    double T = fmax(target * fn->det_size / reliable_px(fn), fn->det_size / 2.0);
    double ov = overlap_px(fn, j, T);
    int32_t cols = j->W > T ? (int32_t)ceil((j->W - ov) / (T - ov)) : 1;
    int32_t rows = j->H > T ? (int32_t)ceil((j->H - ov) / (T - ov)) : 1;
    if (cols > GRID_MAX) cols = GRID_MAX;
    if (rows > GRID_MAX) rows = GRID_MAX;
    if (cols * rows < 2) return 0;
    j->n_tiles = make_grid(j, cols, rows, ov);
    return j->n_tiles;
}

static void tile_rect(const struct fr_face_job *j, int32_t tile, int32_t r[4]) {
    FR_ASSERT(tile >= 0 && tile < j->n_tiles);
    const struct fr__tile *t = &j->tile[tile];
    r[0] = t->x, r[1] = t->y, r[2] = t->w, r[3] = t->h;
}

void fr__facenet_tile_prepare(const struct fr_facenet *fn, const struct fr_image *img, const struct fr_face_job *j,
                              int32_t tile, float *dst) {
    int32_t r[4];
    tile_rect(j, tile, r);
    fr__facenet_region_prepare(fn, img, r, dst);
}

void fr__facenet_tile_prep_params(const struct fr_facenet *fn, const struct fr_image *img,
                                  const struct fr_face_job *j, int32_t tile, struct fr_prep_image *out) {
    int32_t r[4];
    tile_rect(j, tile, r);
    fr__facenet_region_prep_params(fn, img, r, out);
}

enum fr_status fr__facenet_tile_collect(struct fr_facenet *fn, float *const *outs, int32_t item,
                                        struct fr_face_job *j, int32_t tile) {
    int32_t r[4];
    tile_rect(j, tile, r);
    int32_t first = j->n;
    enum fr_status st = fr__det_decode(fn, r, outs, item, j, (int16_t)(tile + 1));
    if (st != FR_OK) return st;
    /* A box within a few pixels of a tile edge that is not an image edge
     * may belong to a face the border cut. */
    double m = fmax(2.0, 0.01 * fmax(r[2], r[3]));
    for (int32_t k = first; k < j->n; k++) {
        const double *b = j->ws[k].box;
        bool cut = (r[0] > 0 && b[0] <= r[0] + m) || (r[1] > 0 && b[1] <= r[1] + m) ||
                   (r[0] + r[2] < (int32_t)j->W && b[0] + b[2] >= r[0] + r[2] - m) ||
                   (r[1] + r[3] < (int32_t)j->H && b[1] + b[3] >= r[1] + r[3] - m);
        j->ws[k].cut = cut;
    }
    return FR_OK;
}

/* Whether two boxes are one face seen twice. */
static bool same_face(const double *a, const double *b) {
    double iw = fmin(a[0] + a[2], b[0] + b[2]) - fmax(a[0], b[0]);
    double ih = fmin(a[1] + a[3], b[1] + b[3]) - fmax(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return false;
    double inter = iw * ih, aa = a[2] * a[3], ab = b[2] * b[3];
    if (aa <= 0 || ab <= 0) return false;
    return inter / (aa + ab - inter) > 0.3 || inter / fmin(aa, ab) > 0.5;
}

/* Merge order of the tiles' faces: whole inside their tile first, then by
 * score, best first; ties keep detection order. */
static int cmp_tile_work(const void *x, const void *y) {
    const struct work *a = x, *b = y;
    if (a->cut != b->cut) return a->cut ? 1 : -1;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    if (a->src != b->src) return a->src - b->src;
    return 0;
}

/* Final order of the faces: by score, best first (stable). */
static void sort_by_score(struct work *ws, int32_t n) {
    for (int32_t i = 1; i < n; i++) {
        struct work w = ws[i];
        int32_t k = i;
        while (k > 0 && ws[k - 1].score < w.score) {
            ws[k] = ws[k - 1];
            k--;
        }
        ws[k] = w;
    }
}

void fr__face_job_merge(const struct fr_facenet *fn, struct fr_face_job *j) {
    int32_t whole = 0;
    while (whole < j->n && j->ws[whole].src == 0) whole++;
    if (whole == j->n) return; /* the tiles found nothing: the whole pass stands as it was */
    qsort(j->ws + whole, (size_t)(j->n - whole), sizeof(*j->ws), cmp_tile_work);
    int32_t kept = whole;
    for (int32_t k = whole; k < j->n; k++) {
        bool dup = false;
        for (int32_t i = 0; i < kept && !dup; i++) dup = same_face(j->ws[i].box, j->ws[k].box);
        if (!dup) j->ws[kept++] = j->ws[k];
    }
    j->n = kept;
    if (kept == whole) return;
    sort_by_score(j->ws, j->n);
    if (j->n > fn->p.max_results) j->n = fn->p.max_results;
}

enum fr_status fr__facenet_run_tiles(struct fr_facenet *fn, const struct fr_image *const *imgs,
                                     struct fr_face_job **jobs, int32_t n) {
    const size_t item = fr__facenet_det_item_floats(fn);
    const int32_t cap = fn->p.max_batch_images;
    bool device = fr__facenet_det_on_device(fn);
    struct fr_prep_image *pi = device ? fr_malloc(sizeof(*pi) * (size_t)cap) : NULL;
    int32_t(*who)[2] = fr_malloc(sizeof(*who) * (size_t)cap);
    enum fr_status st = (device && !pi) || !who ? FR_ERR_NOMEM : FR_OK;
    int32_t i = 0, t = 0, any = 0;
    for (int32_t k = 0; k < n && st == FR_OK; k++) any += fr__facenet_tiles_plan(fn, jobs[k]);
    /* Tiles of consecutive images share batches, as images do. */
    while (st == FR_OK && any > 0 && i < n) {
        int32_t b = 0;
        for (; i < n && b < cap; t++) {
            if (t >= jobs[i]->n_tiles) {
                i++, t = -1;
                continue;
            }
            if (device) fr__facenet_tile_prep_params(fn, imgs[i], jobs[i], t, &pi[b]);
            else fr__facenet_tile_prepare(fn, imgs[i], jobs[i], t, fn->det_in + item * (size_t)b);
            who[b][0] = i, who[b][1] = t;
            b++;
        }
        if (b == 0) break;
        st = device ? fr__net_forward_prep(fn->det, pi, b, fn->det_out) : fr_net_forward(fn->det, fn->det_in, b,
                                                                                         fn->det_out);
        if (st == FR_OK) fn->det_items += b;
        for (int32_t k = 0; k < b && st == FR_OK; k++)
            st = fr__facenet_tile_collect(fn, fn->det_out, k, jobs[who[k][0]], who[k][1]);
    }
    for (int32_t k = 0; k < n && st == FR_OK; k++)
        if (jobs[k]->n_tiles) fr__face_job_merge(fn, jobs[k]);
    fr_free(pi);
    fr_free(who);
    return st;
}
