/* Host-side logic of the CUDA backend (see cuda-plan.h). No CUDA headers:
 * this file is part of every build and of the CPU-only unit tests. */
#include "cuda-plan.h"

#include <string.h>

#include "../plan.h"

#define MIB ((size_t)1 << 20)

/* ---- device selection ---- */

enum fr__device_pick fr__device_pick(enum fr_device req, bool cuda_built, int32_t n_devices) {
    bool have = cuda_built && n_devices > 0;
    switch (req) {
    case FR_DEVICE_CPU: return FR__PICK_CPU;
    case FR_DEVICE_CUDA: return have ? FR__PICK_CUDA : FR__PICK_FAIL;
    case FR_DEVICE_AUTO: break;
    }
    return have ? FR__PICK_CUDA : FR__PICK_CPU;
}

enum fr_status fr__cuda_memory_limit(size_t requested, int32_t percent, size_t free_bytes, size_t total_bytes,
                                     size_t *out, char *err, size_t errlen) {
    size_t want;
    const char *what;
    if (requested) {
        want = requested;
        what = "device_memory_limit";
    } else if (percent > 0) {
        if (percent > 100) {
            fr_errf(err, errlen, "device_memory_percent %d is not in [1, 100]", (int)percent);
            return FR_ERR_INVALID;
        }
        /* Divide first: total * percent could overflow on 32-bit size_t. */
        want = total_bytes / 100 * (size_t)percent;
        what = "device_memory_percent";
    } else {
        want = free_bytes / 10 * 8;
        what = "80% of the free device memory";
    }
    want &= ~(2 * MIB - 1);
    if (want == 0) {
        fr_errf(err, errlen, "%s leaves no device memory (%.1f MiB free of %.1f MiB)", what,
                free_bytes / (double)MIB, total_bytes / (double)MIB);
        return FR_ERR_BUDGET;
    }
    if (want > free_bytes) {
        fr_errf(err, errlen, "%s is %.1f MiB but the card has only %.1f MiB free (of %.1f MiB)", what,
                want / (double)MIB, free_bytes / (double)MIB, total_bytes / (double)MIB);
        return FR_ERR_BUDGET;
    }
    *out = want;
    return FR_OK;
}

/* ---- sub-allocator ---- */

static size_t round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

enum fr_status fr__pool_init(struct fr__pool *p, size_t size, size_t align) {
    FR_ASSERT(align && (align & (align - 1)) == 0);
    memset(p, 0, sizeof(*p));
    p->align = align;
    p->size = size & ~(align - 1);
    p->cap = 16;
    p->blocks = fr_malloc(sizeof(*p->blocks) * (size_t)p->cap);
    if (!p->blocks) return FR_ERR_NOMEM;
    p->blocks[0] = (struct fr__pool_block){ .off = 0, .size = p->size, .used = false };
    p->n = 1;
    return FR_OK;
}

void fr__pool_fini(struct fr__pool *p) {
    fr_free(p->blocks);
    memset(p, 0, sizeof(*p));
}

enum fr_status fr__pool_alloc(struct fr__pool *p, size_t size, size_t *off) {
    /* Zero-byte requests still get a distinct block, so that every
     * allocation has an offset of its own to free. */
    size_t need = round_up(size ? size : 1, p->align);
    if (need < size) return FR_ERR_BUDGET; /* size near SIZE_MAX wrapped */
    for (int32_t i = 0; i < p->n; i++) {
        struct fr__pool_block *b = &p->blocks[i];
        if (b->used || b->size < need) continue;
        if (b->size > need) {
            /* Split: the tail stays free. Grow the array first, which may
             * move it, then re-take the pointer. */
            if (p->n == p->cap) {
                struct fr__pool_block *nb = fr_realloc(p->blocks, sizeof(*nb) * (size_t)p->cap * 2);
                if (!nb) return FR_ERR_NOMEM;
                p->blocks = nb;
                p->cap *= 2;
                b = &p->blocks[i];
            }
            memmove(&p->blocks[i + 2], &p->blocks[i + 1], sizeof(*b) * (size_t)(p->n - i - 1));
            p->blocks[i + 1] = (struct fr__pool_block){ .off = b->off + need, .size = b->size - need, .used = false };
            p->n++;
            b->size = need;
        }
        b->used = true;
        p->used += need;
        *off = b->off;
        return FR_OK;
    }
    return FR_ERR_BUDGET;
}

void fr__pool_free(struct fr__pool *p, size_t off) {
    int32_t i = 0;
    while (i < p->n && p->blocks[i].off != off) i++;
    FR_ASSERT(i < p->n && p->blocks[i].used);
    p->blocks[i].used = false;
    p->used -= p->blocks[i].size;
    /* Merge with the free neighbour after, then before. */
    if (i + 1 < p->n && !p->blocks[i + 1].used) {
        p->blocks[i].size += p->blocks[i + 1].size;
        memmove(&p->blocks[i + 1], &p->blocks[i + 2], sizeof(p->blocks[0]) * (size_t)(p->n - i - 2));
        p->n--;
    }
    if (i > 0 && !p->blocks[i - 1].used) {
        p->blocks[i - 1].size += p->blocks[i].size;
        memmove(&p->blocks[i], &p->blocks[i + 1], sizeof(p->blocks[0]) * (size_t)(p->n - i - 1));
        p->n--;
    }
}

size_t fr__pool_largest_free(const struct fr__pool *p) {
    size_t m = 0;
    for (int32_t i = 0; i < p->n; i++)
        if (!p->blocks[i].used && p->blocks[i].size > m) m = p->blocks[i].size;
    return m;
}

/* ---- algorithm choice ---- */

size_t fr__cuda_workspace_cap(size_t budget_left) {
    size_t cap = budget_left / 16;
    return cap < 64 * MIB ? cap : 64 * MIB;
}

int32_t fr__cuda_pick_algo(const struct fr__algo_perf *perfs, int32_t n, size_t cap) {
    for (int32_t i = 0; i < n; i++)
        if (perfs[i].ok && perfs[i].workspace <= cap) return i;
    for (int32_t i = 0; i < n; i++)
        if (perfs[i].ok && perfs[i].workspace == 0) return i;
    return -1;
}

/* ---- staging ring ---- */

void fr__ring_init(struct fr__ring *r, size_t slot_bytes) {
    memset(r, 0, sizeof(*r));
    r->slot_bytes = slot_bytes;
}

int32_t fr__ring_acquire(struct fr__ring *r, bool *must_wait) {
    int32_t s = r->next;
    r->next = (r->next + 1) % FR__RING_SLOTS;
    *must_wait = r->in_flight[s];
    return s;
}

void fr__ring_submitted(struct fr__ring *r, int32_t slot) {
    FR_ASSERT(slot >= 0 && slot < FR__RING_SLOTS && !r->in_flight[slot]);
    r->in_flight[slot] = true;
}

void fr__ring_done(struct fr__ring *r, int32_t slot) {
    FR_ASSERT(slot >= 0 && slot < FR__RING_SLOTS);
    r->in_flight[slot] = false;
}

size_t fr__ring_chunks(const struct fr__ring *r, size_t n) { return n / r->slot_bytes + (n % r->slot_bytes != 0); }

/* ---- filters and the activation plan ---- */

void fr__cuda_pack_krsc(const struct fr_node *nd, int32_t cin, int32_t cout, float *dst) {
    int32_t kh = nd->kh, kw = nd->kw;
    if (nd->groups == 1) {
        for (int32_t o = 0; o < cout; o++)
            for (int32_t y = 0; y < kh; y++)
                for (int32_t x = 0; x < kw; x++)
                    for (int32_t i = 0; i < cin; i++)
                        dst[(((size_t)o * kh + y) * kw + x) * cin + i] = nd->w[(((size_t)y * kw + x) * cin + i) * cout + o];
        return;
    }
    FR_ASSERT(nd->groups == cin && cin == cout); /* depthwise is the only grouped conv the nets have */
    for (int32_t c = 0; c < cout; c++)
        for (int32_t y = 0; y < kh; y++)
            for (int32_t x = 0; x < kw; x++) dst[((size_t)c * kh + y) * kw + x] = nd->w[((size_t)y * kw + x) * cin + c];
}

bool fr__cuda_supports_op(const struct fr_node *nd) {
    switch (nd->op) {
    case FR_OP_INPUT:
    case FR_OP_CONV:
    case FR_OP_POOL:
    case FR_OP_GLOBAL_AVG:
    case FR_OP_FC:
    case FR_OP_ACT:
    case FR_OP_PAD_ADD: return true;
    }
    return false;
}

bool fr__cuda_needs_explicit_pad(const struct fr_node *nd) {
    return nd->op == FR_OP_CONV && (nd->pad_t != nd->pad_b || nd->pad_l != nd->pad_r);
}

static size_t tensor_bytes(const struct fr_tshape *s, int32_t batch) {
    return sizeof(float) * (size_t)batch * (size_t)s->h * (size_t)s->w * (size_t)s->c;
}

/* Sizes are the backend's (plain NHWC float32); lifetimes and offsets are
 * the shared planner's (plan.h). No tensor is aliased: a residual is
 * cuDNN's separate z input. */
enum fr_status fr__cuda_plan_arena(const struct fr_graph *g, int32_t batch, size_t workspace,
                                   struct fr__cuda_plan *out) {
    memset(out, 0, sizeof(*out));
    int32_t nt = g->n_tensors, nn = g->n_nodes;
    struct fr__plan p;
    enum fr_status st = fr__plan_init(&p, nt + nn + 1);
    out->pad_offset = fr_calloc((size_t)nn, sizeof(size_t));
    int32_t *pad_value = fr_malloc(sizeof(int32_t) * (size_t)nn);
    if (st != FR_OK || !out->pad_offset || !pad_value) {
        st = FR_ERR_NOMEM;
        goto fail;
    }
    fr__plan_add_graph(&p, g);
    for (int32_t t = 0; t < nt; t++) p.size[t] = tensor_bytes(&g->shapes[t], batch);
    for (int32_t i = 0; i < nn; i++) {
        const struct fr_node *nd = &g->nodes[i];
        pad_value[i] = -1;
        if (fr__cuda_needs_explicit_pad(nd)) {
            struct fr_tshape s = g->shapes[nd->in[0]];
            s.h += nd->pad_t + nd->pad_b;
            s.w += nd->pad_l + nd->pad_r;
            pad_value[i] = fr__plan_add(&p, tensor_bytes(&s, batch), i, i);
        }
    }
    /* The workspace is shared by every node. */
    int32_t ws = fr__plan_add(&p, workspace, -1, nn);
    /* 256 bytes: cudaMalloc's alignment, which cuDNN's vectorised kernels assume. */
    if ((st = fr__plan_offsets(&p, 256)) != FR_OK) goto fail;
    for (int32_t i = 0; i < nn; i++)
        if (pad_value[i] >= 0) out->pad_offset[i] = p.offset[pad_value[i]];
    out->workspace_offset = p.offset[ws];
    out->workspace_bytes = workspace;
    out->arena_bytes = p.arena_bytes;
    /* The plan's offsets start with the graph's tensors: keep them. */
    out->offset = p.offset;
    p.offset = NULL;
fail:
    if (st != FR_OK) fr__cuda_plan_free(out);
    fr_free(pad_value);
    fr__plan_fini(&p);
    return st;
}

void fr__cuda_plan_free(struct fr__cuda_plan *p) {
    fr_free(p->offset);
    fr_free(p->pad_offset);
    p->offset = p->pad_offset = NULL;
}

size_t fr__cuda_weight_bytes(const struct fr_graph *g) {
    size_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct fr_node *nd = &g->nodes[i];
        struct fr_tshape os = g->shapes[nd->out];
        if (nd->op == FR_OP_CONV) {
            struct fr_tshape is = g->shapes[nd->in[0]];
            n += round_up(sizeof(float) * (size_t)nd->kh * nd->kw * (is.c / nd->groups) * os.c, 256);
        } else if (nd->op == FR_OP_FC) {
            struct fr_tshape is = g->shapes[nd->in[0]];
            n += round_up(sizeof(float) * (size_t)is.h * is.w * is.c * os.c, 256);
        } else {
            continue;
        }
        if (nd->b) n += round_up(sizeof(float) * (size_t)os.c, 256);
    }
    return n;
}

/* ---- net-input preparation on the device ---- */

enum fr_status fr__cuda_prep_plan(const struct fr_prep_image *im, struct fr__k_prep *k, size_t *src_bytes) {
    const struct fr_prep_params *p = &im->p;
    memset(k, 0, sizeof(*k));
    *src_bytes = 0;
    if (!im->data || p->w <= 0 || p->h <= 0 || p->x < 0 || p->y < 0 || p->x > im->width - p->w ||
        p->y > im->height - p->h || im->stride < (size_t)im->width * 3 || p->canvas_w <= 0 || p->canvas_h <= 0 ||
        p->out_w <= 0 || p->out_h <= 0 || !(p->div != 0.0f))
        return FR_ERR_INVALID;
    *k = (struct fr__k_prep){
        .src_w = p->w, .src_h = p->h,
        .off_x = p->off_x, .off_y = p->off_y,
        .canvas_w = p->canvas_w, .canvas_h = p->canvas_h,
        .out_w = p->out_w, .out_h = p->out_h,
        /* The ratios of fr__resize_bilinear_tf, computed the same way. */
        .rx = (double)p->canvas_w / p->out_w, .ry = (double)p->canvas_h / p->out_h,
        .sub = { p->sub[0], p->sub[1], p->sub[2] },
        .div = p->div, .post = p->post,
    };
    *src_bytes = (size_t)p->w * 3 * (size_t)p->h;
    return FR_OK;
}

void fr__cuda_prep_pack(const struct fr_prep_image *im, int32_t row0, int32_t rows, uint8_t *dst) {
    size_t row_bytes = (size_t)im->p.w * 3;
    for (int32_t r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * row_bytes,
               im->data + (size_t)(im->p.y + row0 + r) * im->stride + (size_t)im->p.x * 3, row_bytes);
}

int32_t fr__cuda_prep_rows_per_slot(const struct fr_prep_image *im, size_t slot_bytes) {
    size_t row_bytes = (size_t)im->p.w * 3, n = row_bytes ? slot_bytes / row_bytes : 0;
    return n > (size_t)im->p.h ? im->p.h : (int32_t)n;
}

void fr__cuda_prep_emulate(const struct fr__k_prep *k, const uint8_t *src, float *dst) {
    for (int32_t row = 0; row < k->out_h; row++)
        for (int32_t col = 0; col < k->out_w; col++)
            fr__k_prep_pixel(k, src, col, row, dst + ((size_t)row * k->out_w + col) * 3);
}
