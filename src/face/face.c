/* face-api's pipeline on facerec nets.
 *
 * Every step below names the face-api function it reproduces. Coordinates
 * are kept in doubles, as JavaScript numbers are, so that floors and
 * roundings land on the same pixel as the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../image/resize.h"
#include "../nn/nets.h"
#include "face-impl.h"
#include "face-job.h"

#define LM_SIZE 112
#define REC_SIZE 150

const float fr__mean_rgb_face[3] = { 122.782f, 117.001f, 104.298f };
const float fr__mean_rgb_tiny[3] = { 117.001f, 114.697f, 97.404f };

static const double tiny_anchors[5][2] = {
    { 1.603231, 2.094468 }, { 6.041143, 7.080126 }, { 2.882459, 3.518061 },
    { 4.266906, 5.178857 }, { 9.041765, 10.66308 },
};

static double js_round(double x) { return floor(x + 0.5); }

struct fr_facenet_params fr_facenet_default_params(void) {
    return (struct fr_facenet_params){
        .models_dir = "models",
        .detector = FR_DETECTOR_SSD,
        .min_confidence = 0.5f,
        .max_results = 100,
        .min_face_size = 0,
        .tiny_input_size = 416,
        .tiny_score_threshold = 0.5f,
        .landmarks = true,
        .descriptors = true,
        .max_batch_images = 8,
        .max_batch_faces = 32,
        .staging = true,
    };
}

void fr_faces_clear(struct fr_faces *f) {
    if (!f) return;
    fr_free(f->faces);
    memset(f, 0, sizeof(*f));
}

int32_t fr_faces_largest(const struct fr_faces *f) {
    int32_t best = -1;
    for (int32_t i = 0; i < f->count; i++)
        if (f->faces[i].has_descriptor &&
            (best < 0 || f->faces[i].box[2] * f->faces[i].box[3] > f->faces[best].box[2] * f->faces[best].box[3]))
            best = i;
    return best;
}

float fr_descriptor_distance(const float *a, const float *b) {
    double s = 0;
    for (int i = 0; i < FR_DESCRIPTOR_DIM; i++) {
        double d = (double)a[i] - b[i];
        s += d * d;
    }
    return (float)sqrt(s);
}

int64_t fr_facenet_detector_items(const struct fr_facenet *fn) { return fn->det_items; }

struct fr_net *fr_facenet_net(struct fr_facenet *fn, enum fr_net_kind kind) {
    switch (kind) {
    case FR_NET_SSD: return fn->p.detector == FR_DETECTOR_SSD ? fn->det : NULL;
    case FR_NET_TINY: return fn->p.detector == FR_DETECTOR_TINY ? fn->det : NULL;
    case FR_NET_LANDMARK: return fn->lm;
    case FR_NET_RECOGNITION: return fn->rec;
    }
    return NULL;
}

void fr_facenet_free(struct fr_facenet *fn) {
    if (!fn) return;
    fr_net_free(fn->det);
    fr_net_free(fn->lm);
    fr_net_free(fn->rec);
    fr_free(fn->det_in);
    for (int i = 0; i < SSD_MAPS; i++) fr_free(fn->det_out[i]);
    fr_free(fn->face_in);
    fr_free(fn->face_out);
    fr_free(fn->ssd_boxes);
    fr_free(fn->ssd_scores);
    fr_free(fn);
}

static size_t out_floats(struct fr_net *net, int32_t i) {
    int32_t h, w, c;
    fr_net_output_shape(net, i, &h, &w, &c);
    return (size_t)h * w * c;
}

enum fr_status fr_facenet_new(struct fr_backend *be, const struct fr_facenet_params *params, struct fr_facenet **out,
                              char *err, size_t errlen) {
    FR_ASSERT(be && out);
    *out = NULL;
    struct fr_facenet_params p = params ? *params : fr_facenet_default_params();
    if (p.max_batch_images < 1 || p.max_batch_faces < 1 || p.min_confidence <= 0 || p.min_confidence >= 1 ||
        p.max_results < 1 || p.min_face_size < 0 || p.tiny_score_threshold <= 0 || p.tiny_score_threshold >= 1 ||
        !fr__tiles_valid(&p.tiles)) {
        fr_errf(err, errlen, "invalid face pipeline parameters");
        return FR_ERR_INVALID;
    }
    if (p.descriptors) p.landmarks = true; /* the recognition crop comes from landmarks */
    struct fr_facenet *fn = fr_calloc(1, sizeof(*fn));
    if (!fn) return FR_ERR_NOMEM;
    fn->be = be;
    fn->p = p;
    enum fr_status st;
    struct fr_net_params np = fr_net_default_params(p.detector == FR_DETECTOR_SSD ? FR_NET_SSD : FR_NET_TINY);
    np.models_dir = p.models_dir;
    np.max_batch = p.max_batch_images;
    np.input_size = p.tiny_input_size;
    if ((st = fr_net_new(be, &np, &fn->det, err, errlen)) != FR_OK) goto fail;
    fn->det_size = p.detector == FR_DETECTOR_SSD ? SSD_SIZE : p.tiny_input_size;
    if (p.staging) {
        fn->det_in = fr_malloc(sizeof(float) * (size_t)fn->det_size * fn->det_size * 3 * (size_t)p.max_batch_images);
        if (!fn->det_in) goto oom;
    }
    for (int32_t i = 0; p.staging && i < fr_net_output_count(fn->det); i++) {
        fn->det_out[i] = fr_malloc(sizeof(float) * out_floats(fn->det, i) * (size_t)p.max_batch_images);
        if (!fn->det_out[i]) goto oom;
    }
    if (p.detector == FR_DETECTOR_SSD) {
        fr_net_anchors(fn->det, &fn->n_anchors);
        fn->ssd_boxes = fr_malloc(sizeof(float) * 4 * (size_t)fn->n_anchors);
        fn->ssd_scores = fr_malloc(sizeof(float) * (size_t)fn->n_anchors);
        if (!fn->ssd_boxes || !fn->ssd_scores) goto oom;
    }
    np.max_batch = p.max_batch_faces;
    if (p.landmarks) {
        np.kind = FR_NET_LANDMARK;
        if ((st = fr_net_new(be, &np, &fn->lm, err, errlen)) != FR_OK) goto fail;
    }
    /* The recognition net is always loaded: fr_facenet_describe_crop needs it. */
    np.kind = FR_NET_RECOGNITION;
    if ((st = fr_net_new(be, &np, &fn->rec, err, errlen)) != FR_OK) goto fail;
    /* describe_crop uses one item of face_in, so it is always there. */
    fn->face_in = fr_malloc(sizeof(float) * REC_SIZE * REC_SIZE * 3 * (size_t)(p.staging ? p.max_batch_faces : 1));
    fn->face_out = p.staging ? fr_malloc(sizeof(float) * 136 * (size_t)p.max_batch_faces) : NULL;
    if (!fn->face_in || (p.staging && !fn->face_out)) goto oom;
    *out = fn;
    return FR_OK;
oom:
    fr_errf(err, errlen, "out of memory for the face pipeline's staging buffers");
    st = FR_ERR_NOMEM;
fail:
    fr_facenet_free(fn);
    return st;
}

/* ---- pre-processing ---- */

/* The canvas of face-api's padToSquare for the crop [x, y, w, h]: the one
 * geometry both the host path and the device path (prep_params) use. */
static struct fr_canvas square_canvas(const struct fr_image *img, int32_t x, int32_t y, int32_t w, int32_t h,
                                      bool center) {
    /* padToSquare: round(diff * (center ? 0.5 : 1)) zeros are appended after
     * the image along the short axis, the remainder prepended. */
    struct fr_canvas cv = { .img = img, .x = x, .y = y, .w = w, .h = h };
    int32_t diff = abs(w - h);
    int32_t append = (int32_t)js_round(diff * (center ? 0.5 : 1.0));
    int32_t prepend = diff - append;
    cv.canvas_w = cv.canvas_h = w > h ? w : h;
    if (h > w) cv.off_x = prepend;
    else if (w > h) cv.off_y = prepend;
    return cv;
}

void fr__face_to_input(const struct fr_image *img, int32_t x, int32_t y, int32_t w, int32_t h, bool center,
                       int32_t size, float *dst) {
    struct fr_canvas cv = square_canvas(img, x, y, w, h, center);
    fr__resize_bilinear_tf(&cv, size, size, dst);
}

void fr__norm_ssd(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / 127.5f - 1.0f;
}

void fr__norm_mean(float *x, size_t pixels, const float mean[3]) {
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++) x[i * 3 + c] = (x[i * 3 + c] - mean[c]) / 255.0f;
}

/* ---- SSD (SsdMobilenetv1.locateFaces, outputLayer, nonMaxSuppression) ---- */

static float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

void fr__ssd_decode(struct fr_net *ssd, float *const *maps, int32_t item, float *boxes, float *scores) {
    int64_t n_anchors;
    const float *anchors = fr_net_anchors(ssd, &n_anchors);
    int64_t k = 0;
    for (int32_t m = 0; m < fr_net_output_count(ssd); m++) {
        int32_t h, w, c;
        fr_net_output_shape(ssd, m, &h, &w, &c);
        int32_t na = c / 7;
        const float *o = maps[m] + (size_t)item * h * w * c;
        for (int32_t p = 0; p < h * w; p++)
            for (int32_t a = 0; a < na; a++, k++) {
                const float *e = o + (size_t)p * c + a * 4;
                const float *cls = o + (size_t)p * c + na * 4 + a * 3;
                const float *an = anchors + k * 4;
                float s0 = an[2] - an[0], s1 = an[3] - an[1];
                float c0 = an[0] + s0 / 2.0f, c1 = an[1] + s1 / 2.0f;
                float d0 = expf(e[2] / 5.0f) * s0 / 2.0f, a0 = e[0] / 10.0f * s0 + c0;
                float d1 = expf(e[3] / 5.0f) * s1 / 2.0f, a1 = e[1] / 10.0f * s1 + c1;
                boxes[k * 4 + 0] = a0 - d0;
                boxes[k * 4 + 1] = a1 - d1;
                boxes[k * 4 + 2] = a0 + d0;
                boxes[k * 4 + 3] = a1 + d1;
                scores[k] = sigmoidf_(cls[1]);
            }
    }
    FR_ASSERT(k == n_anchors);
}

static double ssd_iou(const float *a, const float *b) {
    double ay0 = fmin(a[0], a[2]), ax0 = fmin(a[1], a[3]), ay1 = fmax(a[0], a[2]), ax1 = fmax(a[1], a[3]);
    double by0 = fmin(b[0], b[2]), bx0 = fmin(b[1], b[3]), by1 = fmax(b[0], b[2]), bx1 = fmax(b[1], b[3]);
    double aa = (ay1 - ay0) * (ax1 - ax0), ab = (by1 - by0) * (bx1 - bx0);
    if (aa <= 0 || ab <= 0) return 0.0;
    double ih = fmax(fmin(ay1, by1) - fmax(ay0, by0), 0.0), iw = fmax(fmin(ax1, bx1) - fmax(ax0, bx0), 0.0);
    double inter = ih * iw;
    return inter / (aa + ab - inter);
}

struct cand {
    double score;
    int32_t idx;
};

static int cmp_cand_desc(const void *x, const void *y) {
    const struct cand *a = x, *b = y;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    return a->idx - b->idx; /* JS sort is stable */
}

static int cmp_cand_asc(const void *x, const void *y) {
    const struct cand *a = x, *b = y;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return a->idx - b->idx;
}

/* A new zeroed work item at the end of the job, or NULL on OOM. */
struct work *fr__push_work(struct fr_face_job *j) {
    if (j->n == j->cap) {
        int32_t cap = j->cap ? j->cap * 2 : 16;
        struct work *nws = fr_realloc(j->ws, sizeof(*j->ws) * (size_t)cap);
        if (!nws) return NULL;
        j->ws = nws;
        j->cap = cap;
    }
    struct work *w = &j->ws[j->n++];
    memset(w, 0, sizeof(*w));
    return w;
}

/* Appends the SSD faces of the region (the whole image, or a tile) to the job. */
static enum fr_status ssd_faces(struct fr_facenet *fn, const int32_t region[4], float *const *outs, int32_t item,
                                struct fr_face_job *j, int16_t src) {
    fr__ssd_decode(fn->det, outs, item, fn->ssd_boxes, fn->ssd_scores);
    struct cand *c = fr_malloc(sizeof(*c) * (size_t)fn->n_anchors);
    int32_t *sel = fr_malloc(sizeof(int32_t) * (size_t)fn->p.max_results);
    if (!c || !sel) {
        fr_free(c);
        fr_free(sel);
        return FR_ERR_NOMEM;
    }
    int32_t nc = 0, ns = 0;
    double thr = fn->p.min_confidence;
    for (int32_t i = 0; i < fn->n_anchors; i++)
        if ((double)fn->ssd_scores[i] > thr) c[nc++] = (struct cand){ fn->ssd_scores[i], i };
    qsort(c, (size_t)nc, sizeof(*c), cmp_cand_desc);
    int32_t limit = fn->p.max_results < fn->n_anchors ? fn->p.max_results : (int32_t)fn->n_anchors;
    for (int32_t i = 0; i < nc && ns < limit; i++) {
        bool keep = true;
        for (int32_t j = ns - 1; j >= 0; j--) {
            double iou = ssd_iou(fn->ssd_boxes + (size_t)c[i].idx * 4, fn->ssd_boxes + (size_t)sel[j] * 4);
            if (iou == 0.0) continue;
            if (iou > 0.5) { /* face-api's fixed IoU threshold */
                keep = false;
                break;
            }
        }
        if (keep) sel[ns++] = c[i].idx;
    }
    double W = region[2], H = region[3], scale = (double)SSD_SIZE / fmax(W, H);
    double pad_x = SSD_SIZE / js_round(W * scale), pad_y = SSD_SIZE / js_round(H * scale);
    enum fr_status st = FR_OK;
    for (int32_t i = 0; i < ns; i++) {
        struct work *w = fr__push_work(j);
        if (!w) {
            st = FR_ERR_NOMEM;
            break;
        }
        const float *b = fn->ssd_boxes + (size_t)sel[i] * 4;
        double top = fmax(0.0, b[0]) * pad_y, bottom = fmin(1.0, b[2]) * pad_y;
        double left = fmax(0.0, b[1]) * pad_x, right = fmin(1.0, b[3]) * pad_x;
        w->score = fn->ssd_scores[sel[i]];
        w->box[0] = left * W;
        w->box[1] = top * H;
        w->box[2] = (right - left) * W;
        w->box[3] = (bottom - top) * H;
        w->src = src;
        /* A tile's boxes move to image pixels; the whole image's stay
         * untouched, as face-api computes them. */
        if (src) w->box[0] += region[0], w->box[1] += region[1];
    }
    fr_free(c);
    fr_free(sel);
    return st;
}

/* ---- TinyFaceDetector (TinyYolov2Base.detect / extractBoxes) ---- */

static enum fr_status tiny_faces(struct fr_facenet *fn, const int32_t region[4], float *const *outs, int32_t item,
                                 struct fr_face_job *j, int16_t src) {
    int32_t cells, cw_, cc;
    fr_net_output_shape(fn->det, 0, &cells, &cw_, &cc);
    const float *o = outs[0] + (size_t)item * cells * cells * cc;
    int32_t size = fn->det_size;
    double W = region[2], H = region[3], scale = size / fmax(W, H);
    double rw = js_round(W * scale), rh = js_round(H * scale), in_size = fmax(rw, rh);
    double cx = in_size / rw, cy = in_size / rh;
    int32_t maxn = cells * cells * 5;
    struct cand *c = fr_malloc(sizeof(*c) * (size_t)maxn);
    double(*bx)[4] = fr_malloc(sizeof(*bx) * (size_t)maxn); /* relative x0, y0, x1, y1 */
    int32_t *pick = fr_malloc(sizeof(int32_t) * (size_t)maxn);
    bool *alive = fr_malloc(sizeof(bool) * (size_t)maxn);
    enum fr_status st = FR_OK;
    if (!c || !bx || !pick || !alive) {
        st = FR_ERR_NOMEM;
        goto done;
    }
    int32_t n = 0;
    for (int32_t row = 0; row < cells; row++)
        for (int32_t col = 0; col < cells; col++)
            for (int32_t a = 0; a < 5; a++) {
                const float *v = o + ((size_t)(row * cells + col) * 5 + a) * 5;
                double score = 1.0 / (1.0 + exp(-(double)v[4]));
                if (!(score > fn->p.tiny_score_threshold)) continue;
                double ctx = ((col + 1.0 / (1.0 + exp(-(double)v[0]))) / cells) * cx;
                double cty = ((row + 1.0 / (1.0 + exp(-(double)v[1]))) / cells) * cy;
                double wl = ((exp(v[2]) * tiny_anchors[a][0]) / cells) * cx;
                double hl = ((exp(v[3]) * tiny_anchors[a][1]) / cells) * cy;
                double x = ctx - wl / 2, y = cty - hl / 2;
                bx[n][0] = x, bx[n][1] = y, bx[n][2] = x + wl, bx[n][3] = y + hl;
                c[n] = (struct cand){ score, n };
                n++;
            }
    /* ops/nonMaxSuppression: ascending sort, pop the best, drop IoU > 0.4. */
    qsort(c, (size_t)n, sizeof(*c), cmp_cand_asc);
    for (int32_t i = 0; i < n; i++) alive[i] = true;
    int32_t np = 0;
    for (int32_t top = n - 1; top >= 0; top--) {
        if (!alive[top]) continue;
        int32_t cur = c[top].idx;
        pick[np++] = cur;
        double ax = bx[cur][0] * in_size, ay = bx[cur][1] * in_size;
        double aw = (bx[cur][2] - bx[cur][0]) * in_size, ah = (bx[cur][3] - bx[cur][1]) * in_size;
        for (int32_t j = 0; j < top; j++) {
            if (!alive[j]) continue;
            int32_t o2 = c[j].idx;
            double bx0 = bx[o2][0] * in_size, by0 = bx[o2][1] * in_size;
            double bw = (bx[o2][2] - bx[o2][0]) * in_size, bh = (bx[o2][3] - bx[o2][1]) * in_size;
            double iw = fmax(0.0, fmin(ax + aw, bx0 + bw) - fmax(ax, bx0));
            double ih = fmax(0.0, fmin(ay + ah, by0 + bh) - fmax(ay, by0));
            double inter = iw * ih;
            if (inter / (aw * ah + bw * bh - inter) > 0.4) alive[j] = false;
        }
        alive[top] = false;
    }
    for (int32_t i = 0; i < np; i++) {
        struct work *wk = fr__push_work(j);
        if (!wk) {
            st = FR_ERR_NOMEM;
            goto done;
        }
        const double *r = bx[pick[i]];
        double sc = 0;
        for (int32_t k = 0; k < n; k++)
            if (c[k].idx == pick[i]) sc = c[k].score;
        /* ObjectDetection(relative box) then FaceDetection(det.relativeBox):
         * relative -> absolute -> relative -> absolute, as face-api does. */
        double x = r[0] * W, y = r[1] * H, w = (r[2] - r[0]) * W, h = (r[3] - r[1]) * H;
        wk->score = sc;
        wk->box[0] = (x * (1.0 / W)) * W;
        wk->box[1] = (y * (1.0 / H)) * H;
        wk->box[2] = (w * (1.0 / W)) * W;
        wk->box[3] = (h * (1.0 / H)) * H;
        wk->src = src;
        if (src) wk->box[0] += region[0], wk->box[1] += region[1];
    }
done:
    fr_free(c);
    fr_free(bx);
    fr_free(pick);
    fr_free(alive);
    return st;
}

/* ---- landmarks (FaceLandmark68NetBase.postProcess, extendWithFaceLandmarks) ---- */

void fr__landmark_postprocess(const float *out, int32_t w, int32_t h, float *rel) {
    double sw = w * (double)LM_SIZE / (w > h ? w : h), sh = h * (double)LM_SIZE / (w > h ? w : h);
    float pad_x = w < h ? (float)(fabs(sw - sh) / 2) : 0.0f;
    float pad_y = h < w ? (float)(fabs(sw - sh) / 2) : 0.0f;
    for (int i = 0; i < FR_LANDMARKS; i++) {
        rel[i * 2 + 0] = (out[i * 2 + 0] * (float)LM_SIZE - pad_x) / (float)sw;
        rel[i * 2 + 1] = (out[i * 2 + 1] * (float)LM_SIZE - pad_y) / (float)sh;
    }
}

/* Box.clipAtImageBorders: clip to the image, then floor every field. */
static void clip_floor(const double b[4], double W, double H, int32_t out[4]) {
    double x = fmax(b[0], 0), y = fmax(b[1], 0);
    double w = fmin(b[0] + b[2] - x, W - x), h = fmin(b[1] + b[3] - y, H - y);
    out[0] = (int32_t)floor(x), out[1] = (int32_t)floor(y);
    out[2] = (int32_t)floor(w), out[3] = (int32_t)floor(h);
}

static void center_point(const double (*pts)[2], int32_t n, double out[2]) {
    double sx = 0, sy = 0;
    for (int32_t i = 0; i < n; i++) sx += pts[i][0], sy += pts[i][1];
    out[0] = sx / n, out[1] = sy / n;
}

/* FaceLandmarks.alignDlib on the shifted landmarks; the crop's own size
 * plays the image size there (face-api keeps the landmark crop's dims). */
static void dlib_rect(const struct work *w, double out[4]) {
    double c[3][2], ctr[2];
    center_point((const double(*)[2])&w->lm[36], 6, c[0]);
    center_point((const double(*)[2])&w->lm[42], 6, c[1]);
    center_point((const double(*)[2])&w->lm[48], 20, c[2]);
    double dl = hypot(c[2][0] - c[0][0], c[2][1] - c[0][1]);
    double dr = hypot(c[2][0] - c[1][0], c[2][1] - c[1][1]);
    double size = floor(((dl + dr) / 2) / 0.45);
    center_point((const double(*)[2])c, 3, ctr);
    double x = floor(fmax(0, ctr[0] - 0.5 * size)), y = floor(fmax(0, ctr[1] - 0.43 * size));
    out[0] = x, out[1] = y;
    out[2] = fmin(size, w->crop[2] + x);
    out[3] = fmin(size, w->crop[3] + y);
}

/* The crop a face needs for a stage's net, or NULL when it has none (no
 * landmarks yet, or a crop that clipping left empty: face-api drops those). */
static const int32_t *stage_crop(bool landmarks, struct work *w, double W, double H) {
    if (landmarks) {
        /* detection.forSize(W, H).box: through relative and back. */
        double fb[4] = { (w->box[0] * (1.0 / W)) * W, (w->box[1] * (1.0 / H)) * H, (w->box[2] * (1.0 / W)) * W,
                         (w->box[3] * (1.0 / H)) * H };
        clip_floor(fb, W, H, w->crop);
        return w->crop[2] > 0 && w->crop[3] > 0 ? w->crop : NULL;
    }
    if (!w->has_lm) return NULL;
    double r[4];
    dlib_rect(w, r);
    clip_floor(r, W, H, w->dcrop);
    return w->dcrop[2] > 0 && w->dcrop[3] > 0 ? w->dcrop : NULL;
}

/* ---- one image's faces through the nets (face-impl.h) ---- */

struct fr_face_job *fr__face_job_new(void) { return fr_calloc(1, sizeof(struct fr_face_job)); }

void fr__face_job_free(struct fr_face_job *j) {
    if (!j) return;
    fr_free(j->ws);
    fr_free(j);
}

int32_t fr__face_job_count(const struct fr_face_job *j) { return j->n; }

size_t fr__facenet_det_item_floats(const struct fr_facenet *fn) { return (size_t)fn->det_size * fn->det_size * 3; }

void fr__facenet_det_prepare(const struct fr_facenet *fn, const struct fr_image *img, float *dst) {
    const int32_t whole[4] = { 0, 0, img->width, img->height };
    fr__facenet_region_prepare(fn, img, whole, dst);
}

void fr__facenet_region_prepare(const struct fr_facenet *fn, const struct fr_image *img, const int32_t r[4],
                                float *dst) {
    size_t item = fr__facenet_det_item_floats(fn);
    fr__face_to_input(img, r[0], r[1], r[2], r[3], false, fn->det_size, dst);
    if (fn->p.detector == FR_DETECTOR_SSD) fr__norm_ssd(dst, item);
    else fr__norm_mean(dst, item / 3, fr__mean_rgb_tiny);
}

void fr__facenet_det_prep_params(const struct fr_facenet *fn, const struct fr_image *img, struct fr_prep_image *out) {
    const int32_t whole[4] = { 0, 0, img->width, img->height };
    fr__facenet_region_prep_params(fn, img, whole, out);
}

void fr__facenet_region_prep_params(const struct fr_facenet *fn, const struct fr_image *img, const int32_t r[4],
                                    struct fr_prep_image *out) {
    struct fr_canvas cv = square_canvas(img, r[0], r[1], r[2], r[3], false);
    *out = (struct fr_prep_image){
        .data = img->data, .width = img->width, .height = img->height, .stride = img->stride,
        .p = { .x = cv.x, .y = cv.y, .w = cv.w, .h = cv.h, .off_x = cv.off_x, .off_y = cv.off_y,
               .canvas_w = cv.canvas_w, .canvas_h = cv.canvas_h, .out_w = fn->det_size, .out_h = fn->det_size },
    };
    /* The two normalisations of det_prepare, as (v - sub) / div - post. */
    if (fn->p.detector == FR_DETECTOR_SSD) {
        out->p.div = 127.5f, out->p.post = 1.0f;
    } else {
        memcpy(out->p.sub, fr__mean_rgb_tiny, sizeof(out->p.sub));
        out->p.div = 255.0f;
    }
}

bool fr__facenet_det_on_device(const struct fr_facenet *fn) { return fr__net_can_prep(fn->det); }

enum fr_status fr__facenet_det_collect(struct fr_facenet *fn, const struct fr_image *img, float *const *outs,
                                       int32_t item, struct fr_face_job *j) {
    j->n = 0;
    j->W = img->width, j->H = img->height;
    j->ow = img->orig_width > 0 ? img->orig_width : img->width;
    j->oh = img->orig_height > 0 ? img->orig_height : img->height;
    j->n_tiles = 0;
    if (!j->detect_set) {
        j->tiles = fn->p.tiles;
        j->min_face_size = fn->p.min_face_size;
    }
    const int32_t whole[4] = { 0, 0, img->width, img->height };
    return fr__det_decode(fn, whole, outs, item, j, 0);
}

void fr__face_job_set_detect(struct fr_face_job *j, const struct fr_tiles *tiles, int32_t min_face_size) {
    j->detect_set = true;
    j->tiles = *tiles;
    j->min_face_size = min_face_size > 0 ? min_face_size : 0;
}

enum fr_status fr__det_decode(struct fr_facenet *fn, const int32_t region[4], float *const *outs, int32_t item,
                              struct fr_face_job *j, int16_t src) {
    int32_t first = j->n;
    enum fr_status st = fn->p.detector == FR_DETECTOR_SSD ? ssd_faces(fn, region, outs, item, j, src)
                                                          : tiny_faces(fn, region, outs, item, j, src);
    if (st != FR_OK) return st;
    /* Size filter (in original pixels) and the per-image cap; the faces
     * are in detector order, best first. */
    if (j->min_face_size > 0 || fn->p.detector == FR_DETECTOR_TINY) {
        double sx = j->ow / j->W, sy = j->oh / j->H;
        int32_t kept = first;
        for (int32_t k = first; k < j->n; k++) {
            if (fmin(j->ws[k].box[2] * sx, j->ws[k].box[3] * sy) < j->min_face_size) continue;
            if (kept - first >= fn->p.max_results) continue;
            j->ws[kept++] = j->ws[k];
        }
        j->n = kept;
    }
    return FR_OK;
}

bool fr__face_job_prepare(struct fr_face_job *j, int32_t face, bool landmarks, const struct fr_image *img,
                          float *dst) {
    FR_ASSERT(face >= 0 && face < j->n && img->width == (int32_t)j->W && img->height == (int32_t)j->H);
    const int32_t *c = stage_crop(landmarks, &j->ws[face], j->W, j->H);
    if (!c) return false;
    const int32_t size = landmarks ? LM_SIZE : REC_SIZE;
    fr__face_to_input(img, c[0], c[1], c[2], c[3], true, size, dst);
    fr__norm_mean(dst, (size_t)size * size, fr__mean_rgb_face);
    return true;
}

void fr__face_job_collect(struct fr_face_job *j, int32_t face, bool landmarks, const float *o) {
    struct work *w = &j->ws[face];
    if (!landmarks) {
        memcpy(w->desc, o, sizeof(w->desc));
        w->has_desc = true;
        return;
    }
    float rel[FR_LANDMARKS * 2];
    fr__landmark_postprocess(o, w->crop[2], w->crop[3], rel);
    double cw = w->crop[2], ch = w->crop[3];
    for (int p = 0; p < FR_LANDMARKS; p++) {
        /* new FaceLandmarks68(rel, crop dims) then shiftBy(box.x, box.y) */
        double px = rel[p * 2] * cw, py = rel[p * 2 + 1] * ch;
        w->lm[p][0] = (px / cw) * cw + w->box[0];
        w->lm[p][1] = (py / ch) * ch + w->box[1];
    }
    w->has_lm = true;
}

enum fr_status fr__face_job_result(const struct fr_face_job *j, struct fr_faces *out) {
    memset(out, 0, sizeof(*out));
    out->width = j->ow;
    out->height = j->oh;
    if (!j->n) return FR_OK;
    out->faces = fr_calloc((size_t)j->n, sizeof(struct fr_face));
    if (!out->faces) return FR_ERR_NOMEM;
    /* Coordinates scaled back to the original (pre-downscale) upright image. */
    double W = j->W, H = j->H, sx = j->ow / W, sy = j->oh / H;
    for (int32_t k = 0; k < j->n; k++) {
        const struct work *w = &j->ws[k];
        struct fr_face *f = &out->faces[out->count++];
        f->box[0] = (float)(w->box[0] * sx), f->box[1] = (float)(w->box[1] * sy);
        f->box[2] = (float)(w->box[2] * sx), f->box[3] = (float)(w->box[3] * sy);
        f->score = (float)w->score;
        if (w->has_desc) {
            memcpy(f->descriptor, w->desc, sizeof(f->descriptor));
            f->has_descriptor = true;
        }
        if (!w->has_lm) continue;
        f->has_landmarks = true;
        double minx = INFINITY, miny = INFINITY, maxx = 0, maxy = 0;
        for (int p = 0; p < FR_LANDMARKS; p++) {
            f->landmarks[p][0] = (float)(w->lm[p][0] * sx);
            f->landmarks[p][1] = (float)(w->lm[p][1] * sy);
            minx = fmin(minx, w->lm[p][0]), miny = fmin(miny, w->lm[p][1]);
            maxx = fmax(maxx, w->lm[p][0]), maxy = fmax(maxy, w->lm[p][1]);
        }
        /* alignMinBbox(0.2), then FaceDetection(rescaled to relative) */
        double bw = maxx - minx, bh = maxy - miny;
        double ab[4] = { minx - bw * 0.2 / 2, miny - bh * 0.2 / 2, bw + bw * 0.2, bh + bh * 0.2 };
        f->aligned_box[0] = (float)((ab[0] * (1.0 / W)) * W * sx);
        f->aligned_box[1] = (float)((ab[1] * (1.0 / H)) * H * sy);
        f->aligned_box[2] = (float)((ab[2] * (1.0 / W)) * W * sx);
        f->aligned_box[3] = (float)((ab[3] * (1.0 / H)) * H * sy);
    }
    return FR_OK;
}

/* Runs every face of every job through the landmark net (landmarks) or the
 * recognition net, in batches of max_batch_faces that span images. */
static enum fr_status run_face_stage(struct fr_facenet *fn, bool landmarks, const struct fr_image *const *imgs,
                                     struct fr_face_job **jobs, int32_t n) {
    const int32_t size = landmarks ? LM_SIZE : REC_SIZE;
    const size_t item = (size_t)size * size * 3, out_item = landmarks ? 136 : FR_DESCRIPTOR_DIM;
    struct fr_net *net = landmarks ? fn->lm : fn->rec;
    int32_t(*idx)[2] = fr_malloc(sizeof(*idx) * (size_t)fn->p.max_batch_faces);
    if (!idx) return FR_ERR_NOMEM;
    enum fr_status st = FR_OK;
    int32_t i = 0, f = 0; /* next job and face */
    while (st == FR_OK && i < n) {
        int32_t b = 0;
        for (; i < n && b < fn->p.max_batch_faces; f++) {
            if (f >= jobs[i]->n) {
                i++, f = -1;
                continue;
            }
            if (!fr__face_job_prepare(jobs[i], f, landmarks, imgs[i], fn->face_in + item * (size_t)b)) continue;
            idx[b][0] = i, idx[b][1] = f;
            b++;
        }
        if (b == 0) break;
        float *outs[1] = { fn->face_out };
        if ((st = fr_net_forward(net, fn->face_in, b, outs)) != FR_OK) break;
        for (int32_t k = 0; k < b; k++)
            fr__face_job_collect(jobs[idx[k][0]], idx[k][1], landmarks, fn->face_out + out_item * (size_t)k);
    }
    fr_free(idx);
    return st;
}

enum fr_status fr_facenet_process(struct fr_facenet *fn, const struct fr_image *const *imgs, int32_t n,
                                  struct fr_faces *out, char *err, size_t errlen) {
    for (int32_t i = 0; i < n; i++) memset(&out[i], 0, sizeof(out[i]));
    if (!fn->p.staging) {
        fr_errf(err, errlen, "this face pipeline was created without staging buffers");
        return FR_ERR_INVALID;
    }
    struct fr_face_job **jobs = fr_calloc((size_t)(n > 0 ? n : 1), sizeof(*jobs));
    enum fr_status st = jobs ? FR_OK : FR_ERR_NOMEM;
    for (int32_t i = 0; i < n && st == FR_OK; i++)
        if (!(jobs[i] = fr__face_job_new())) st = FR_ERR_NOMEM;
    const size_t item = fr__facenet_det_item_floats(fn);
    for (int32_t i = 0; i < n && st == FR_OK; i += fn->p.max_batch_images) {
        int32_t b = n - i < fn->p.max_batch_images ? n - i : fn->p.max_batch_images;
        if (fr__facenet_det_on_device(fn)) {
            /* The backend resizes and normalises on the device from uint8. */
            struct fr_prep_image *pi = fr_malloc(sizeof(*pi) * (size_t)b);
            if (!pi) {
                st = FR_ERR_NOMEM;
                break;
            }
            for (int32_t k = 0; k < b; k++) fr__facenet_det_prep_params(fn, imgs[i + k], &pi[k]);
            st = fr__net_forward_prep(fn->det, pi, b, fn->det_out);
            fr_free(pi);
        } else {
            for (int32_t k = 0; k < b; k++) fr__facenet_det_prepare(fn, imgs[i + k], fn->det_in + item * (size_t)k);
            st = fr_net_forward(fn->det, fn->det_in, b, fn->det_out);
        }
        if (st != FR_OK) {
            fr_errf(err, errlen, "detector failed: %s", fr_status_str(st));
            break;
        }
        fn->det_items += b;
        for (int32_t k = 0; k < b && st == FR_OK; k++)
            st = fr__facenet_det_collect(fn, imgs[i + k], fn->det_out, k, jobs[i + k]);
    }
    if (st == FR_OK) {
        st = fr__facenet_run_tiles(fn, imgs, jobs, n);
        if (st != FR_OK) fr_errf(err, errlen, "detector failed on tiles: %s", fr_status_str(st));
    }
    if (st == FR_OK && fn->p.landmarks) {
        st = run_face_stage(fn, true, imgs, jobs, n);
        if (st != FR_OK) fr_errf(err, errlen, "landmark net failed: %s", fr_status_str(st));
    }
    if (st == FR_OK && fn->p.descriptors) {
        st = run_face_stage(fn, false, imgs, jobs, n);
        if (st != FR_OK) fr_errf(err, errlen, "recognition net failed: %s", fr_status_str(st));
    }
    for (int32_t i = 0; i < n && st == FR_OK; i++) st = fr__face_job_result(jobs[i], &out[i]);
    if (st == FR_ERR_NOMEM && err && !err[0]) fr_errf(err, errlen, "out of memory");
    for (int32_t i = 0; jobs && i < n; i++) fr__face_job_free(jobs[i]);
    fr_free(jobs);
    if (st != FR_OK)
        for (int32_t i = 0; i < n; i++) fr_faces_clear(&out[i]);
    return st;
}

enum fr_status fr_facenet_describe_crop(struct fr_facenet *fn, const struct fr_image *crop,
                                        float descriptor[FR_DESCRIPTOR_DIM]) {
    fr__face_to_input(crop, 0, 0, crop->width, crop->height, true, REC_SIZE, fn->face_in);
    fr__norm_mean(fn->face_in, (size_t)REC_SIZE * REC_SIZE, fr__mean_rgb_face);
    float *outs[1] = { descriptor };
    return fr_net_forward(fn->rec, fn->face_in, 1, outs);
}
