/*
 * alloc.c - the arena allocator: Two-Level Segregated Fit (Masmano et al.),
 * O(1) allocate and free with immediate coalescing, over an arena it never
 * touches.  Block descriptors live in a separate array (out of band) and are
 * linked by index, so the arena holds nothing but object bytes and the
 * allocator state is plain data in shared memory.  Callers hold the store
 * lock.
 *
 * Sizes are multiples of STORE_ALIGN (64).  First level: the power of two;
 * second level: 32 linear subdivisions of it.  Sizes below 2 KiB map
 * linearly onto first level 0.  Descriptor 0 is the null link.
 */
#include "store.h"

#define FREE_BIT 1ull
#define NIL 0u
#define SMALL_LIMIT ((uint64_t)STORE_ALIGN << STORE_SL_LOG2) /* 2 KiB */

static inline int msb64(uint64_t x) { return 63 - __builtin_clzll(x); }
static inline uint64_t bsize(const store_block *b) { return b->size & ~FREE_BIT; }
static inline int is_free(const store_block *b) { return (int)(b->size & FREE_BIT); }

static void mapping(uint64_t size, int *fl, int *sl)
{
    if (size < SMALL_LIMIT) {
        *fl = 0;
        *sl = (int)(size / STORE_ALIGN);
        return;
    }
    int m = msb64(size);
    *fl = m - (msb64(SMALL_LIMIT) - 1);
    *sl = (int)((size >> (m - STORE_SL_LOG2)) & (STORE_SL_COUNT - 1));
}

/* Rounds size up so that every block of the list it maps to is big enough. */
static uint64_t round_for_search(uint64_t size)
{
    if (size < SMALL_LIMIT)
        return size;
    uint64_t r = (1ull << (msb64(size) - STORE_SL_LOG2)) - 1;
    return size + r < size ? size : size + r;
}

static uint32_t desc_new(store_alloc *a, store_block *d)
{
    uint32_t id = a->desc_free;
    if (id != NIL) {
        a->desc_free = d[id].next_free;
    } else {
        if (a->desc_bump >= a->desc_cap)
            return NIL;
        id = a->desc_bump++;
    }
    memset(&d[id], 0, sizeof(d[id]));
    return id;
}

static void desc_release(store_alloc *a, store_block *d, uint32_t id)
{
    d[id].size = 0;
    d[id].next_free = a->desc_free;
    a->desc_free = id;
}

static void list_insert(store_alloc *a, store_block *d, uint32_t id)
{
    int fl, sl;
    mapping(bsize(&d[id]), &fl, &sl);
    uint32_t head = a->heads[fl][sl];
    d[id].size |= FREE_BIT;
    d[id].prev_free = NIL;
    d[id].next_free = head;
    if (head != NIL)
        d[head].prev_free = id;
    a->heads[fl][sl] = id;
    a->fl_bitmap |= 1ull << fl;
    a->sl_bitmap[fl] |= 1u << sl;
}

static void list_remove(store_alloc *a, store_block *d, uint32_t id)
{
    int fl, sl;
    mapping(bsize(&d[id]), &fl, &sl);
    uint32_t p = d[id].prev_free, n = d[id].next_free;
    if (p != NIL)
        d[p].next_free = n;
    else
        a->heads[fl][sl] = n;
    if (n != NIL)
        d[n].prev_free = p;
    if (a->heads[fl][sl] == NIL) {
        a->sl_bitmap[fl] &= ~(1u << sl);
        if (!a->sl_bitmap[fl])
            a->fl_bitmap &= ~(1ull << fl);
    }
    d[id].size &= ~FREE_BIT;
    d[id].prev_free = d[id].next_free = NIL;
}

static uint32_t find_suitable(store_alloc *a, int fl, int sl)
{
    uint32_t sl_map = sl < 32 ? a->sl_bitmap[fl] & (~0u << sl) : 0;
    if (!sl_map) {
        uint64_t fl_map = fl + 1 < 64 ? a->fl_bitmap & (~0ull << (fl + 1)) : 0;
        if (!fl_map)
            return NIL;
        fl = __builtin_ctzll(fl_map);
        sl_map = a->sl_bitmap[fl];
    }
    sl = __builtin_ctz(sl_map);
    return a->heads[fl][sl];
}

/* The list that size itself maps to holds blocks both smaller and larger
 * than size, so the O(1) search (which rounds up past it) skips it.  When
 * nothing else fits, walk that one list: a store nearly full must still
 * take an object that fits in its largest free block. */
static uint32_t find_in_own_list(store_alloc *a, const store_block *d, uint64_t size)
{
    int fl, sl;
    mapping(size, &fl, &sl);
    if (fl >= STORE_FL_COUNT)
        return NIL;
    for (uint32_t id = a->heads[fl][sl]; id != NIL; id = d[id].next_free)
        if (bsize(&d[id]) >= size)
            return id;
    return NIL;
}

void store_alloc_init(store_alloc *a, store_block *descs, uint32_t desc_cap,
                      uint64_t arena_size)
{
    memset(a, 0, sizeof(*a));
    a->arena_size = arena_size & ~(uint64_t)(STORE_ALIGN - 1);
    a->desc_cap = desc_cap;
    a->desc_bump = 1; /* 0 is NIL */
    if (a->arena_size < STORE_ALIGN)
        return;
    uint32_t id = desc_new(a, descs);
    descs[id].off = 0;
    descs[id].size = a->arena_size;
    list_insert(a, descs, id);
}

uint32_t store_alloc_get(store_alloc *a, store_block *d, uint64_t size, uint64_t *off)
{
    if (size == 0 || size > a->arena_size)
        return NIL;
    size = RAY_ALIGN_UP(size, (uint64_t)STORE_ALIGN);
    int fl, sl;
    mapping(round_for_search(size), &fl, &sl);
    uint32_t id = fl < STORE_FL_COUNT ? find_suitable(a, fl, sl) : NIL;
    if (id == NIL)
        id = find_in_own_list(a, d, size);
    if (id == NIL)
        return NIL;
    list_remove(a, d, id);
    uint64_t have = bsize(&d[id]);
    if (have - size >= STORE_ALIGN) {
        uint32_t r = desc_new(a, d);
        if (r != NIL) { /* out of descriptors: hand out the whole block */
            d[r].off = d[id].off + size;
            d[r].size = have - size;
            d[r].prev_phys = id;
            d[r].next_phys = d[id].next_phys;
            if (d[id].next_phys != NIL)
                d[d[id].next_phys].prev_phys = r;
            d[id].next_phys = r;
            d[id].size = size;
            list_insert(a, d, r);
        }
    }
    a->used_bytes += bsize(&d[id]);
    a->blocks_used++;
    *off = d[id].off;
    return id;
}

int store_alloc_put(store_alloc *a, store_block *d, uint32_t id)
{
    if (id == NIL || id >= a->desc_bump || is_free(&d[id]) || bsize(&d[id]) == 0)
        return RAY_EINVAL;
    a->used_bytes -= bsize(&d[id]);
    a->blocks_used--;
    uint32_t n = d[id].next_phys;
    if (n != NIL && is_free(&d[n])) {
        list_remove(a, d, n);
        d[id].size += bsize(&d[n]);
        d[id].next_phys = d[n].next_phys;
        if (d[n].next_phys != NIL)
            d[d[n].next_phys].prev_phys = id;
        desc_release(a, d, n);
    }
    uint32_t p = d[id].prev_phys;
    if (p != NIL && is_free(&d[p])) {
        list_remove(a, d, p);
        d[p].size += bsize(&d[id]);
        d[p].next_phys = d[id].next_phys;
        if (d[id].next_phys != NIL)
            d[d[id].next_phys].prev_phys = p;
        desc_release(a, d, id);
        id = p;
    }
    list_insert(a, d, id);
    return 0;
}

uint64_t store_alloc_largest_free(const store_alloc *a, const store_block *d)
{
    if (!a->fl_bitmap)
        return 0;
    int fl = msb64(a->fl_bitmap);
    int sl = 31 - __builtin_clz(a->sl_bitmap[fl]);
    uint64_t best = 0;
    for (uint32_t id = a->heads[fl][sl]; id != NIL; id = d[id].next_free)
        best = RAY_MAX(best, bsize(&d[id]));
    return best;
}

static int add_block(store_alloc *a, store_block *d, uint32_t *prev, uint64_t off,
                     uint64_t size, int free_block, uint32_t *out)
{
    uint32_t id = desc_new(a, d);
    if (id == NIL)
        return RAY_ETOOBIG;
    d[id].off = off;
    d[id].size = size;
    d[id].prev_phys = *prev;
    if (*prev != NIL)
        d[*prev].next_phys = id;
    *prev = id;
    if (free_block) {
        list_insert(a, d, id);
    } else {
        a->used_bytes += size;
        a->blocks_used++;
    }
    if (out)
        *out = id;
    return 0;
}

/* Whether offs/sizes (sorted) are disjoint blocks inside the arena, and
 * how many descriptors describing them and their gaps takes. */
static int rebuild_valid(uint64_t arena, const uint64_t *offs, const uint64_t *sizes, size_t n,
                         uint64_t *need)
{
    uint64_t pos = 0;
    *need = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t size = RAY_ALIGN_UP(sizes[i], (uint64_t)STORE_ALIGN);
        if (!sizes[i] || size < sizes[i] || offs[i] < pos || offs[i] % STORE_ALIGN ||
            offs[i] > arena || size > arena - offs[i])
            return 0; /* empty, overlapping or out of range: not a valid set */
        *need += 1 + (offs[i] > pos);
        pos = offs[i] + size;
    }
    *need += pos < arena;
    return 1;
}

int store_alloc_rebuild(store_alloc *a, store_block *d, uint32_t desc_cap,
                        uint64_t arena_size, const uint64_t *offs, const uint64_t *sizes,
                        uint32_t *ids, size_t n)
{
    uint64_t need, arena = arena_size & ~(uint64_t)(STORE_ALIGN - 1);
    if (!rebuild_valid(arena, offs, sizes, n, &need))
        return RAY_EINVAL;
    if (need > desc_cap)
        return RAY_ETOOBIG; /* checked before anything is reset */
    memset(a, 0, sizeof(*a));
    a->arena_size = arena;
    a->desc_cap = desc_cap;
    a->desc_bump = 1;
    uint64_t pos = 0;
    uint32_t prev = NIL;
    for (size_t i = 0; i < n; i++) {
        uint64_t size = RAY_ALIGN_UP(sizes[i], (uint64_t)STORE_ALIGN);
        if (offs[i] > pos && add_block(a, d, &prev, pos, offs[i] - pos, 1, NULL))
            return RAY_ETOOBIG;
        if (add_block(a, d, &prev, offs[i], size, 0, &ids[i]))
            return RAY_ETOOBIG;
        pos = offs[i] + size;
    }
    if (pos < a->arena_size && add_block(a, d, &prev, pos, a->arena_size - pos, 1, NULL))
        return RAY_ETOOBIG;
    return 0;
}

int store_alloc_check(const store_alloc *a, const store_block *d)
{
    /* Find the first block (offset 0) and walk the physical chain. */
    uint32_t first = NIL;
    for (uint32_t i = 1; i < a->desc_bump; i++)
        if (bsize(&d[i]) && d[i].off == 0 && d[i].prev_phys == NIL)
            first = i;
    if (a->arena_size < STORE_ALIGN)
        return 0;
    if (first == NIL)
        return RAY_EINVAL;
    uint64_t pos = 0, used = 0;
    uint32_t nfree = 0, nused = 0, prev = NIL;
    int prev_free = 0;
    for (uint32_t id = first; id != NIL; id = d[id].next_phys) {
        if (d[id].off != pos || d[id].prev_phys != prev || bsize(&d[id]) == 0 ||
            bsize(&d[id]) % STORE_ALIGN)
            return RAY_EINVAL;
        if (is_free(&d[id])) {
            if (prev_free)
                return RAY_EINVAL; /* two free neighbours: coalescing missed */
            nfree++;
        } else {
            used += bsize(&d[id]);
            nused++;
        }
        prev_free = is_free(&d[id]);
        pos += bsize(&d[id]);
        prev = id;
        if (nfree + nused > a->desc_bump)
            return RAY_EINVAL; /* cycle */
    }
    if (pos != a->arena_size || used != a->used_bytes || nused != a->blocks_used)
        return RAY_EINVAL;
    /* Every free list holds free blocks of its class, and bitmaps agree. */
    uint32_t listed = 0;
    for (int fl = 0; fl < STORE_FL_COUNT; fl++)
        for (int sl = 0; sl < (int)STORE_SL_COUNT; sl++) {
            uint32_t h = a->heads[fl][sl];
            int bit = !!(a->sl_bitmap[fl] & (1u << sl));
            if ((h != NIL) != bit)
                return RAY_EINVAL;
            for (uint32_t id = h; id != NIL; id = d[id].next_free) {
                int f, s;
                mapping(bsize(&d[id]), &f, &s);
                if (!is_free(&d[id]) || f != fl || s != sl || ++listed > nfree)
                    return RAY_EINVAL;
            }
            if (a->sl_bitmap[fl] && !(a->fl_bitmap & (1ull << fl)))
                return RAY_EINVAL;
        }
    return listed == nfree ? 0 : RAY_EINVAL;
}
