/* The activation planner (plan.h): lifetimes from the graph, offsets by
 * the classic offline "greedy by size" heuristic. For the chain-like nets
 * here it lands within a few percent of the peak live bytes. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "graph.h"

enum fr_status fr__plan_init(struct fr__plan *p, int32_t cap) {
    memset(p, 0, sizeof(*p));
    size_t n = cap > 0 ? (size_t)cap : 1;
    p->size = fr_calloc(n, sizeof(*p->size));
    p->first = fr_calloc(n, sizeof(*p->first));
    p->last = fr_calloc(n, sizeof(*p->last));
    p->storage = fr_calloc(n, sizeof(*p->storage));
    p->offset = fr_calloc(n, sizeof(*p->offset));
    if (!p->size || !p->first || !p->last || !p->storage || !p->offset) {
        fr__plan_fini(p);
        return FR_ERR_NOMEM;
    }
    p->cap = cap;
    return FR_OK;
}

void fr__plan_fini(struct fr__plan *p) {
    fr_free(p->size);
    fr_free(p->first);
    fr_free(p->last);
    fr_free(p->storage);
    fr_free(p->offset);
    memset(p, 0, sizeof(*p));
}

int32_t fr__plan_add(struct fr__plan *p, size_t size, int32_t first, int32_t last) {
    FR_ASSERT(p->n < p->cap);
    int32_t v = p->n++;
    p->size[v] = size;
    p->first[v] = first;
    p->last[v] = last;
    p->storage[v] = v;
    p->offset[v] = 0;
    return v;
}

void fr__plan_use(struct fr__plan *p, int32_t v, int32_t step) {
    FR_ASSERT(v >= 0 && v < p->n);
    if (p->last[v] < step) p->last[v] = step;
}

void fr__plan_alias(struct fr__plan *p, int32_t v, int32_t of) {
    FR_ASSERT(v >= 0 && v < p->n && of >= 0 && of < p->n);
    p->storage[v] = p->storage[of];
}

void fr__plan_add_graph(struct fr__plan *p, const struct fr_graph *g) {
    FR_ASSERT(p->n == 0 && g->n_tensors <= p->cap);
    for (int32_t t = 0; t < g->n_tensors; t++) fr__plan_add(p, 0, -1, -1);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct fr_node *nd = &g->nodes[i];
        p->first[nd->out] = i;
        for (int k = 0; k < 2; k++)
            if (nd->in[k] >= 0) fr__plan_use(p, nd->in[k], i);
    }
    p->first[g->input] = -1; /* written by an upload before the run */
    for (int32_t o = 0; o < g->n_outputs; o++) fr__plan_use(p, g->outputs[o], g->n_nodes); /* read back after it */
}

/* One block of the arena: a storage and the values that share it. */
struct block {
    size_t size;
    int32_t first, last;
    size_t offset;
};

static int cmp_size_desc(const void *a, const void *b) {
    const struct block *const *x = a, *const *y = b;
    if ((*x)->size != (*y)->size) return (*x)->size < (*y)->size ? 1 : -1;
    return (*x)->first - (*y)->first;
}

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

/* Places the blocks; returns the arena size. */
static size_t place(struct block *blocks, struct block **order, struct block **placed, int32_t n, size_t align) {
    for (int32_t i = 0; i < n; i++) order[i] = &blocks[i];
    qsort(order, (size_t)n, sizeof(*order), cmp_size_desc);
    size_t total = 0;
    int32_t np = 0;
    for (int32_t i = 0; i < n; i++) {
        struct block *it = order[i];
        size_t size = round_up(it->size, align);
        size_t off = 0;
        /* Repeatedly bump the candidate offset past any conflicting block
         * until a full scan finds no conflict. */
        for (bool moved = true; moved;) {
            moved = false;
            for (int32_t j = 0; j < np; j++) {
                struct block *q = placed[j];
                if (q->last < it->first || it->last < q->first) continue;
                size_t qsize = round_up(q->size, align);
                if (off < q->offset + qsize && q->offset < off + size) {
                    off = q->offset + qsize;
                    moved = true;
                }
            }
        }
        it->offset = off;
        placed[np++] = it;
        if (off + size > total) total = off + size;
    }
    return total;
}

enum fr_status fr__plan_offsets(struct fr__plan *p, size_t align) {
    FR_ASSERT(align && (align & (align - 1)) == 0);
    p->arena_bytes = 0;
    if (p->n == 0) return FR_OK;
    size_t n = (size_t)p->n;
    struct block *blocks = fr_malloc(sizeof(*blocks) * n);
    struct block **order = fr_malloc(sizeof(*order) * n);
    struct block **placed = fr_malloc(sizeof(*placed) * n);
    int32_t *block_of = fr_malloc(sizeof(*block_of) * n);
    int32_t *last = fr_malloc(sizeof(*last) * n);
    enum fr_status st = FR_ERR_NOMEM;
    if (!blocks || !order || !placed || !block_of || !last) goto done;
    /* A storage lives from its own first step until the last step that
     * writes or reads any value in it, and is as large as the largest. */
    for (int32_t v = 0; v < p->n; v++) last[v] = p->last[v] < p->first[v] ? p->first[v] : p->last[v];
    for (int32_t v = 0; v < p->n; v++) {
        int32_t s = p->storage[v];
        if (s != v && last[s] < last[v]) last[s] = last[v];
    }
    int32_t nb = 0;
    for (int32_t v = 0; v < p->n; v++) {
        if (p->storage[v] != v) continue;
        size_t bytes = p->size[v];
        for (int32_t u = 0; u < p->n; u++)
            if (p->storage[u] == v && p->size[u] > bytes) bytes = p->size[u];
        blocks[nb] = (struct block){ .size = bytes, .first = p->first[v], .last = last[v] };
        block_of[v] = nb++;
    }
    p->arena_bytes = place(blocks, order, placed, nb, align);
    for (int32_t v = 0; v < p->n; v++) p->offset[v] = blocks[block_of[p->storage[v]]].offset;
    st = FR_OK;
done:
    fr_free(blocks);
    fr_free(order);
    fr_free(placed);
    fr_free(block_of);
    fr_free(last);
    return st;
}
