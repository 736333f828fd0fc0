/* The search module: the gallery's matrices, the id -> row map, and the
 * exact (and int8-accelerated) top-k scans. The distance kernels live in
 * search-simd.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/search.h"
#include "search/search-impl.h"

struct fr_search {
    int32_t dim;     /* floats per embedding */
    size_t stride;   /* floats per row of x (dim padded to 16) */
    size_t stride8;  /* bytes per row of x8 (dim padded to 64) */
    bool int8;       /* x8, norm2 and scale are kept */
    int32_t rerank;  /* 0 = max(4*k, 64) */
    int64_t n, cap;  /* rows used, rows allocated */
    float *x;        /* cap * stride, 64-byte aligned, padding zero */
    int64_t *ids;    /* cap */
    int64_t *labels; /* cap */
    uint8_t *x8;     /* int8 mode: cap * stride8, quantised value + 128, padding 128 */
    float *norm2;    /* int8 mode: exact squared norm of each float row */
    float *scale;    /* int8 mode: each row's quantisation step */
    int64_t *map;    /* map_cap slots: row + 1, 0 = empty (linear probing) */
    int64_t map_cap; /* power of two, at least twice cap: probes stay short */
    const struct fr__search_kernels *kern;
};

/* Rows scored per kernel call: the scores stay in L1 on the stack. */
#define BLOCK 256
/* Candidate heaps up to this size live on the stack. */
#define STACK_CANDIDATES 512

struct fr_search_params fr_search_default_params(void) {
    return (struct fr_search_params){.dim = FR_SEARCH_DIM, .int8 = false, .rerank = 0, .initial_capacity = 0};
}

/* ---- id -> row map ------------------------------------------------------- */

/* splitmix64's finaliser: store ids are sequential, and a good mix keeps
 * them from piling up in neighbouring slots. */
static inline uint64_t hash_id(int64_t id) {
    uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The slot holding id, or -1. */
static int64_t map_find(const struct fr_search *s, int64_t id) {
    if (!s->map) return -1;
    uint64_t mask = (uint64_t)s->map_cap - 1;
    for (uint64_t h = hash_id(id) & mask;; h = (h + 1) & mask) {
        int64_t v = s->map[h];
        if (v == 0) return -1;
        if (s->ids[v - 1] == id) return (int64_t)h;
    }
}

static void map_insert(int64_t *map, int64_t map_cap, int64_t id, int64_t row) {
    uint64_t mask = (uint64_t)map_cap - 1;
    uint64_t h = hash_id(id) & mask;
    while (map[h] != 0) h = (h + 1) & mask;
    map[h] = row + 1;
}

/* Empty slot i by shifting later members of its probe run back, so that
 * lookups never need tombstones. */
static void map_erase(struct fr_search *s, int64_t slot) {
    uint64_t mask = (uint64_t)s->map_cap - 1;
    uint64_t i = (uint64_t)slot, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (s->map[j] == 0) break;
        uint64_t home = hash_id(s->ids[s->map[j] - 1]) & mask;
        /* The entry at j may stay if its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        s->map[i] = s->map[j];
        i = j;
    }
    s->map[i] = 0;
}

/* ---- object -------------------------------------------------------------- */

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

enum fr_status fr_search_new(const struct fr_search_params *p, struct fr_search **out) {
    FR_ASSERT(out);
    *out = NULL;
    struct fr_search_params d = fr_search_default_params();
    if (!p) p = &d;
    if (p->dim < 1 || p->dim > FR_SEARCH_MAX_DIM || p->rerank < 0) return FR_ERR_INVALID;
    struct fr_search *s = fr_calloc(1, sizeof *s);
    if (!s) return FR_ERR_NOMEM;
    s->dim = p->dim;
    s->stride = round_up((size_t)p->dim, FR__SEARCH_ALIGN_FLOATS);
    s->stride8 = round_up((size_t)p->dim, FR__SEARCH_ALIGN_BYTES);
    s->int8 = p->int8;
    s->rerank = p->rerank;
    s->kern = fr__search_kernels_get(fr__search_best_isa());
    if (p->initial_capacity > 0) {
        if (p->initial_capacity > (size_t)INT64_MAX) goto fail;
        enum fr_status st = fr_search_reserve(s, (int64_t)p->initial_capacity);
        if (st != FR_OK) {
            fr_search_free(s);
            return st;
        }
    }
    *out = s;
    return FR_OK;
fail:
    fr_search_free(s);
    return FR_ERR_INVALID;
}

void fr_search_free(struct fr_search *s) {
    if (!s) return;
    fr_free_aligned(s->x);
    fr_free_aligned(s->x8);
    fr_free(s->ids);
    fr_free(s->labels);
    fr_free(s->norm2);
    fr_free(s->scale);
    fr_free(s->map);
    fr_free(s);
}

/* n * size bytes, or 0 when that overflows (callers treat 0 as too large). */
static size_t bytes_of(int64_t n, size_t size) {
    if (n < 0 || (uint64_t)n > SIZE_MAX / size) return 0;
    return (size_t)n * size;
}

/* Move to a capacity of cap rows. Everything new is allocated before
 * anything old is touched, so a failure leaves s unchanged. */
static enum fr_status regrow(struct fr_search *s, int64_t cap) {
    int64_t map_cap = 16;
    while (map_cap < 2 * cap) {
        if (map_cap > INT64_MAX / 4) return FR_ERR_TOO_LARGE;
        map_cap *= 2;
    }
    size_t xb = bytes_of(cap, s->stride * sizeof(float)), ib = bytes_of(cap, sizeof(int64_t));
    size_t mb = bytes_of(map_cap, sizeof(int64_t));
    size_t x8b = s->int8 ? bytes_of(cap, s->stride8) : 1, fb = bytes_of(cap, sizeof(float));
    if (!xb || !ib || !mb || !x8b || !fb) return FR_ERR_TOO_LARGE;
    float *x = fr_malloc_aligned(xb), *norm2 = NULL, *scale = NULL;
    int64_t *ids = fr_malloc(ib), *labels = fr_malloc(ib), *map = fr_calloc((size_t)map_cap, sizeof(int64_t));
    uint8_t *x8 = NULL;
    bool ok = x && ids && labels && map;
    if (ok && s->int8) {
        x8 = fr_malloc_aligned(x8b);
        norm2 = fr_malloc(fb);
        scale = fr_malloc(fb);
        ok = x8 && norm2 && scale;
    }
    if (!ok) {
        fr_free_aligned(x);
        fr_free_aligned(x8);
        fr_free(ids);
        fr_free(labels);
        fr_free(map);
        fr_free(norm2);
        fr_free(scale);
        return FR_ERR_NOMEM;
    }
    size_t n = (size_t)s->n;
    if (n) {
        memcpy(x, s->x, n * s->stride * sizeof(float));
        memcpy(ids, s->ids, n * sizeof(int64_t));
        memcpy(labels, s->labels, n * sizeof(int64_t));
        if (s->int8) {
            memcpy(x8, s->x8, n * s->stride8);
            memcpy(norm2, s->norm2, n * sizeof(float));
            memcpy(scale, s->scale, n * sizeof(float));
        }
    }
    for (size_t i = 0; i < n; i++) map_insert(map, map_cap, ids[i], (int64_t)i);
    fr_free_aligned(s->x);
    fr_free_aligned(s->x8);
    fr_free(s->ids);
    fr_free(s->labels);
    fr_free(s->map);
    fr_free(s->norm2);
    fr_free(s->scale);
    s->x = x, s->x8 = x8, s->ids = ids, s->labels = labels, s->map = map;
    s->norm2 = norm2, s->scale = scale, s->map_cap = map_cap, s->cap = cap;
    return FR_OK;
}

enum fr_status fr_search_reserve(struct fr_search *s, int64_t n) {
    FR_ASSERT(s);
    if (n < 0) return FR_ERR_INVALID;
    if (n <= s->cap) return FR_OK;
    return regrow(s, n);
}

/* Symmetric per-row quantisation: the step is max|v| / 127, values round to
 * [-127, 127] and are stored + 128 for the unsigned x signed byte product. */
static float quantise(const float *v, int32_t dim, size_t stride8, uint8_t *dst) {
    float m = 0;
    for (int32_t j = 0; j < dim; j++) m = fmaxf(m, fabsf(v[j]));
    float step = m / 127.0f, inv = m > 0 ? 127.0f / m : 0;
    for (int32_t j = 0; j < dim; j++) {
        long q = lrintf(v[j] * inv);
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        dst[j] = (uint8_t)(q + 128);
    }
    memset(dst + dim, 128, stride8 - (size_t)dim);
    return step;
}

enum fr_status fr_search_add(struct fr_search *s, int64_t id, int64_t label, const float *emb) {
    FR_ASSERT(s && emb);
    for (int32_t j = 0; j < s->dim; j++)
        if (!isfinite(emb[j])) return FR_ERR_INVALID;
    if (map_find(s, id) >= 0) return FR_ERR_INVALID;
    if (s->n == s->cap) {
        int64_t cap = s->cap < 16 ? 16 : s->cap > INT64_MAX / 2 ? INT64_MAX : 2 * s->cap;
        enum fr_status st = regrow(s, cap);
        if (st != FR_OK) return st;
    }
    size_t r = (size_t)s->n;
    float *row = s->x + r * s->stride;
    memcpy(row, emb, (size_t)s->dim * sizeof(float));
    memset(row + s->dim, 0, (s->stride - (size_t)s->dim) * sizeof(float));
    s->ids[r] = id;
    s->labels[r] = label;
    if (s->int8) {
        double n2 = 0;
        for (int32_t j = 0; j < s->dim; j++) n2 += (double)emb[j] * emb[j];
        s->norm2[r] = (float)n2;
        s->scale[r] = quantise(emb, s->dim, s->stride8, s->x8 + r * s->stride8);
    }
    map_insert(s->map, s->map_cap, id, (int64_t)r);
    s->n++;
    return FR_OK;
}

/* Remove the row in map slot `slot`: the last row moves into its place. */
static void remove_slot(struct fr_search *s, int64_t slot) {
    size_t row = (size_t)(s->map[slot] - 1), last = (size_t)s->n - 1;
    map_erase(s, slot);
    if (row != last) {
        int64_t lslot = map_find(s, s->ids[last]);
        FR_ASSERT(lslot >= 0);
        s->map[lslot] = (int64_t)row + 1;
        memcpy(s->x + row * s->stride, s->x + last * s->stride, s->stride * sizeof(float));
        s->ids[row] = s->ids[last];
        s->labels[row] = s->labels[last];
        if (s->int8) {
            memcpy(s->x8 + row * s->stride8, s->x8 + last * s->stride8, s->stride8);
            s->norm2[row] = s->norm2[last];
            s->scale[row] = s->scale[last];
        }
    }
    s->n--;
}

enum fr_status fr_search_remove(struct fr_search *s, int64_t id) {
    FR_ASSERT(s);
    int64_t slot = map_find(s, id);
    if (slot < 0) return FR_ERR_NOT_FOUND;
    remove_slot(s, slot);
    return FR_OK;
}

enum fr_status fr_search_set_label(struct fr_search *s, int64_t id, int64_t label) {
    FR_ASSERT(s);
    int64_t slot = map_find(s, id);
    if (slot < 0) return FR_ERR_NOT_FOUND;
    s->labels[s->map[slot] - 1] = label;
    return FR_OK;
}

int64_t fr_search_relabel(struct fr_search *s, int64_t from_label, int64_t to_label) {
    FR_ASSERT(s);
    if (from_label == to_label) return 0;
    int64_t changed = 0;
    for (int64_t i = 0; i < s->n; i++)
        if (s->labels[i] == from_label) s->labels[i] = to_label, changed++;
    return changed;
}

int64_t fr_search_remove_label(struct fr_search *s, int64_t label) {
    FR_ASSERT(s);
    int64_t removed = 0;
    /* Walking down, the row that moves into a removed place has already been
     * looked at, so one pass is enough. */
    for (int64_t i = s->n - 1; i >= 0; i--) {
        if (s->labels[i] != label) continue;
        int64_t slot = map_find(s, s->ids[i]);
        FR_ASSERT(slot >= 0);
        remove_slot(s, slot);
        removed++;
    }
    return removed;
}

int64_t fr_search_count(const struct fr_search *s) { return s ? s->n : 0; }

int32_t fr_search_dim(const struct fr_search *s) {
    FR_ASSERT(s);
    return s->dim;
}

size_t fr_search_memory_bytes(const struct fr_search *s) {
    if (!s) return 0;
    size_t c = (size_t)s->cap;
    size_t b = sizeof *s + c * (s->stride * sizeof(float) + 2 * sizeof(int64_t)) + (size_t)s->map_cap * sizeof(int64_t);
    if (s->int8) b += c * (s->stride8 + 2 * sizeof(float));
    return b;
}

bool fr_search_get(const struct fr_search *s, int64_t id, float *emb_out, int64_t *label_out) {
    FR_ASSERT(s);
    int64_t slot = map_find(s, id);
    if (slot < 0) return false;
    size_t row = (size_t)(s->map[slot] - 1);
    if (emb_out) memcpy(emb_out, s->x + row * s->stride, (size_t)s->dim * sizeof(float));
    if (label_out) *label_out = s->labels[row];
    return true;
}

enum fr_status fr__search_set_isa(struct fr_search *s, enum fr__search_isa isa) {
    FR_ASSERT(s);
    const struct fr__search_kernels *k = fr__search_kernels_get(isa);
    if (!k) return FR_ERR_UNSUPPORTED;
    s->kern = k;
    return FR_OK;
}

enum fr__search_isa fr__search_get_isa(const struct fr_search *s) {
    FR_ASSERT(s);
    return s->kern->isa;
}

/* ---- queries ------------------------------------------------------------- */

static inline bool passes(enum fr_search_filter f, int64_t label) {
    switch (f) {
    case FR_SEARCH_LABELLED: return label != 0;
    case FR_SEARCH_UNLABELLED: return label == 0;
    default: return true;
    }
}

/* Hits order by (distance, id), so equal distances give a stable answer. */
static inline bool hit_less(float da, int64_t ia, float db, int64_t ib) { return da < db || (da == db && ia < ib); }

/* A max-heap of hits keyed by (distance, id): out[0] is the worst kept. */
static void heap_sift_down(struct fr_search_hit *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && hit_less(h[m].distance, h[m].id, h[l].distance, h[l].id)) m = l;
        if (r < n && hit_less(h[m].distance, h[m].id, h[r].distance, h[r].id)) m = r;
        if (m == i) return;
        struct fr_search_hit t = h[i];
        h[i] = h[m], h[m] = t, i = m;
    }
}

static void heap_push(struct fr_search_hit *h, int32_t n, struct fr_search_hit v) {
    int32_t i = n;
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (!hit_less(h[p].distance, h[p].id, v.distance, v.id)) break;
        h[i] = h[p], i = p;
    }
    h[i] = v;
}

/* Offer a hit to a top-k heap of *n entries; returns the new threshold
 * (the worst kept squared distance, or infinity while not full). */
static float heap_offer(struct fr_search_hit *h, int32_t *n, int32_t k, struct fr_search_hit v) {
    if (*n < k) {
        heap_push(h, (*n)++, v);
    } else if (hit_less(v.distance, v.id, h[0].distance, h[0].id)) {
        h[0] = v;
        heap_sift_down(h, *n, 0);
    }
    return *n < k ? INFINITY : h[0].distance;
}

static int hit_cmp(const void *a, const void *b) {
    const struct fr_search_hit *x = a, *y = b;
    return hit_less(x->distance, x->id, y->distance, y->id) ? -1 : hit_less(y->distance, y->id, x->distance, x->id) ? 1 : 0;
}

/* Sort ascending and turn squared distances into distances. */
static void finish(struct fr_search_hit *h, int32_t n) {
    qsort(h, (size_t)n, sizeof *h, hit_cmp);
    for (int32_t i = 0; i < n; i++) h[i].distance = sqrtf(h[i].distance);
}

/* The query copied into an aligned, zero-padded row like the matrix's. */
struct qbuf {
    _Alignas(64) float v[FR_SEARCH_MAX_DIM];
};

static bool load_query(const struct fr_search *s, const float *q, struct qbuf *b) {
    for (int32_t j = 0; j < s->dim; j++)
        if (isnan(q[j])) return false;
    memcpy(b->v, q, (size_t)s->dim * sizeof(float));
    memset(b->v + s->dim, 0, (s->stride - (size_t)s->dim) * sizeof(float));
    return true;
}

/* Distinct-label top-k kept as an unsorted array: an offered row either
 * improves its label's entry or competes for the worst slot. Linear in k,
 * which is small for recognition (a handful of candidates). */
struct label_set {
    struct fr_search_hit *h;
    int32_t n, k, worst; /* worst: index of the worst entry when n == k */
};

static void label_set_worst(struct label_set *ls) {
    int32_t w = 0;
    for (int32_t i = 1; i < ls->n; i++)
        if (hit_less(ls->h[w].distance, ls->h[w].id, ls->h[i].distance, ls->h[i].id)) w = i;
    ls->worst = w;
}

static float label_set_offer(struct label_set *ls, struct fr_search_hit v) {
    int32_t i = 0;
    while (i < ls->n && ls->h[i].label != v.label) i++;
    if (i < ls->n) {
        if (!hit_less(v.distance, v.id, ls->h[i].distance, ls->h[i].id)) goto out;
        ls->h[i] = v;
    } else if (ls->n < ls->k) {
        ls->h[ls->n++] = v;
    } else if (hit_less(v.distance, v.id, ls->h[ls->worst].distance, ls->h[ls->worst].id)) {
        ls->h[ls->worst] = v;
    } else {
        goto out;
    }
    if (ls->n == ls->k) label_set_worst(ls);
out:
    return ls->n < ls->k ? INFINITY : ls->h[ls->worst].distance;
}

/* Exact scan of every row. labels: distinct-label mode (filter is then
 * FR_SEARCH_LABELLED). */
static int32_t scan_exact(const struct fr_search *s, const float *q, int32_t k, enum fr_search_filter filter,
                          bool labels, struct fr_search_hit *out) {
    float d[BLOCK];
    float thresh = INFINITY;
    int32_t n = 0;
    struct label_set ls = {out, 0, k, 0};
    for (int64_t b = 0; b < s->n; b += BLOCK) {
        size_t m = (size_t)(s->n - b < BLOCK ? s->n - b : BLOCK);
        s->kern->l2(q, s->x + (size_t)b * s->stride, s->stride, m, d);
        for (size_t i = 0; i < m; i++) {
            if (!(d[i] <= thresh)) continue;
            size_t row = (size_t)b + i;
            if (!passes(filter, s->labels[row])) continue;
            struct fr_search_hit v = {s->ids[row], s->labels[row], d[i]};
            thresh = labels ? label_set_offer(&ls, v) : heap_offer(out, &n, k, v);
        }
    }
    return labels ? ls.n : n;
}

/* int8 candidate: approximate squared distance and row. */
struct cand {
    float d;
    int64_t row;
};

static void cand_sift_down(struct cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].d > h[m].d) m = l;
        if (r < n && h[r].d > h[m].d) m = r;
        if (m == i) return;
        struct cand t = h[i];
        h[i] = h[m], h[m] = t, i = m;
    }
}

/* The int8 scan: the r rows (passing filter) with the smallest approximate
 * distance, into cand (room for r); returns how many. The approximation is
 * |x|^2 + |q|^2 - 2 sx sq (xq . qq) with exact norms, so only the dot
 * product carries quantisation error. */
static int32_t scan_int8(const struct fr_search *s, const float *q, int32_t r, enum fr_search_filter filter,
                         struct cand *cand) {
    _Alignas(64) int8_t qq[FR_SEARCH_MAX_DIM];
    _Alignas(64) uint8_t qu[FR_SEARCH_MAX_DIM];
    float sq = quantise(q, s->dim, s->stride8, qu);
    int32_t qsum = 0;
    double nq = 0;
    for (size_t j = 0; j < s->stride8; j++) {
        qq[j] = (int8_t)((int32_t)qu[j] - 128);
        qsum += qq[j];
    }
    for (int32_t j = 0; j < s->dim; j++) nq += (double)q[j] * q[j];
    /* The rows hold value + 128: remove 128 * sum(qq) from every dot. */
    int32_t offset = 128 * qsum;
    float nqf = (float)nq, two_sq = 2.0f * sq;
    int32_t dot[BLOCK];
    float thresh = INFINITY;
    int32_t n = 0;
    for (int64_t b = 0; b < s->n; b += BLOCK) {
        size_t m = (size_t)(s->n - b < BLOCK ? s->n - b : BLOCK);
        s->kern->dot8(qq, s->x8 + (size_t)b * s->stride8, s->stride8, m, dot);
        const float *n2 = s->norm2 + b, *sc = s->scale + b;
        for (size_t i = 0; i < m; i++) {
            float d = n2[i] + nqf - two_sq * sc[i] * (float)(dot[i] - offset);
            if (!(d < thresh)) continue;
            size_t row = (size_t)b + i;
            if (!passes(filter, s->labels[row])) continue;
            if (n < r) {
                int32_t j = n++;
                while (j > 0 && cand[(j - 1) / 2].d < d) cand[j] = cand[(j - 1) / 2], j = (j - 1) / 2;
                cand[j] = (struct cand){d, (int64_t)row};
            } else {
                cand[0] = (struct cand){d, (int64_t)row};
                cand_sift_down(cand, n, 0);
            }
            if (n == r) thresh = cand[0].d;
        }
    }
    return n;
}

/* Top-k through the int8 copy; returns -1 when the scratch cannot be
 * allocated or the candidates are not enough to answer exactly (the caller
 * then scans exactly). */
static int32_t query_int8(const struct fr_search *s, const float *q, int32_t k, enum fr_search_filter filter,
                          bool labels, struct fr_search_hit *out) {
    int64_t want = s->rerank > 0 ? s->rerank : (int64_t)k * 4 > 64 ? (int64_t)k * 4 : 64;
    if (want < k) want = k;
    if (want > s->n) want = s->n;
    if (want > INT32_MAX) want = INT32_MAX;
    int32_t r = (int32_t)want;
    struct cand stack[STACK_CANDIDATES], *cand = stack;
    if (r > STACK_CANDIDATES && !(cand = fr_malloc((size_t)r * sizeof *cand))) return -1;
    int32_t nc = scan_int8(s, q, r, filter, cand);
    int32_t n = 0;
    struct label_set ls = {out, 0, k, 0};
    for (int32_t i = 0; i < nc; i++) {
        size_t row = (size_t)cand[i].row;
        float d;
        s->kern->l2(q, s->x + row * s->stride, s->stride, 1, &d);
        struct fr_search_hit v = {s->ids[row], s->labels[row], d};
        if (labels) label_set_offer(&ls, v);
        else heap_offer(out, &n, k, v);
    }
    if (cand != stack) fr_free(cand);
    /* In label mode the candidates may all belong to a few people; when they
     * name fewer than k and more rows were left out, only the exact scan can
     * tell which labels come next. */
    if (labels && ls.n < k && nc == r) return -1;
    return labels ? ls.n : n;
}

static int32_t query(const struct fr_search *s, const float *q, int32_t k, enum fr_search_filter filter, bool labels,
                     struct fr_search_hit *out) {
    FR_ASSERT(s && q && (k <= 0 || out));
    if (k <= 0 || s->n == 0) return 0;
    struct qbuf qb;
    if (!load_query(s, q, &qb)) return 0;
    int32_t n = -1;
    if (s->int8) n = query_int8(s, qb.v, k, filter, labels, out);
    if (n < 0) n = scan_exact(s, qb.v, k, filter, labels, out);
    finish(out, n);
    return n;
}

int32_t fr_search_topk(const struct fr_search *s, const float *q, int32_t k, enum fr_search_filter filter,
                       struct fr_search_hit *out) {
    return query(s, q, k, filter, false, out);
}

int32_t fr_search_topk_labels(const struct fr_search *s, const float *q, int32_t k, struct fr_search_hit *out) {
    return query(s, q, k, FR_SEARCH_LABELLED, true, out);
}

float fr_similarity(float d) {
    /* A logistic curve centred on the tolerance: readable as a probability
     * that two faces are the same person, 0.5 at the decision threshold. */
    if (!(d >= 0)) return 0.0f;
    return (float)(1.0 / (1.0 + exp((d - FR_DEFAULT_TOLERANCE) * 12.0)));
}
