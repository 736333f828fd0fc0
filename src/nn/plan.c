/* Static activation-memory planner.
 *
 * Storages are placed greedily, largest first, at the lowest offset that
 * does not overlap any already placed storage whose live range intersects.
 * This is the classic offline "greedy by size" heuristic: for the chain-like
 * nets here it lands within a few percent of the peak live bytes. */
#include <stdlib.h>

#include "graph.h"

static int cmp_size_desc(const void *a, const void *b) {
    const struct fr_plan_item *const *x = a, *const *y = b;
    if ((*x)->size != (*y)->size) return (*x)->size < (*y)->size ? 1 : -1;
    return (*x)->first - (*y)->first;
}

size_t fr__plan_offsets(struct fr_plan_item *items, int32_t n, size_t align) {
    if (n <= 0) return 0;
    struct fr_plan_item **order = fr_malloc(sizeof(*order) * (size_t)n);
    struct fr_plan_item **placed = fr_malloc(sizeof(*placed) * (size_t)n);
    FR_ASSERT(order && placed); /* tiny and made once per compile */
    for (int32_t i = 0; i < n; i++) order[i] = &items[i];
    qsort(order, (size_t)n, sizeof(*order), cmp_size_desc);
    size_t total = 0;
    int32_t np = 0;
    for (int32_t i = 0; i < n; i++) {
        struct fr_plan_item *it = order[i];
        size_t size = (it->size + align - 1) / align * align;
        size_t off = 0;
        /* Repeatedly bump the candidate offset past any conflicting block
         * until a full scan finds no conflict. */
        for (bool moved = true; moved;) {
            moved = false;
            for (int32_t j = 0; j < np; j++) {
                struct fr_plan_item *p = placed[j];
                if (p->last < it->first || it->last < p->first) continue;
                size_t psize = (p->size + align - 1) / align * align;
                if (off < p->offset + psize && p->offset < off + size) {
                    off = p->offset + psize;
                    moved = true;
                }
            }
        }
        it->offset = off;
        placed[np++] = it;
        if (off + size > total) total = off + size;
    }
    fr_free(order);
    fr_free(placed);
    return total;
}
