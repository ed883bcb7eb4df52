/*
 * test_alloc.c - the store's arena allocator (src/store/alloc.c: TLSF with
 * block descriptors out of band).  A seeded random workload runs against a
 * reference model (the sorted list of live intervals); after every
 * operation the allocator's own check must pass, live blocks must be
 * disjoint, inside the arena and 64-byte aligned, the byte and block counts
 * and largest_free must match the model, and an allocation may fail only
 * when no free block of the size's class exists.  Then: coalescing back to
 * one block, exhaustion (of bytes and of descriptors), bad frees that must
 * change nothing, and rebuilding from a set of live blocks (what
 * store_repair does after a process died holding the store lock).
 */
#include "unit.h"

#define ARENA    (128ull << 20) /* never touched: the allocator keeps no state in it */
#define DESC_CAP (1u << 13)
#define OPS      200000

static store_alloc A;
static store_block D[DESC_CAP];

/* ---- the reference model: live intervals sorted by offset */

typedef struct interval {
    uint64_t off, size;
    uint32_t id;
} interval;
static interval live[DESC_CAP];
static size_t nlive;

static uint64_t round64(uint64_t x)
{
    return (x + 63) & ~63ull;
}

/* Where an interval at off goes in the sorted list. */
static size_t model_pos(uint64_t off)
{
    size_t lo = 0, hi = nlive;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (live[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Inserts [off, off + size); returns 0, or 1 if it overlaps a neighbour. */
static int model_insert(uint64_t off, uint64_t size, uint32_t id)
{
    size_t i = model_pos(off);
    int overlap = (i > 0 && live[i - 1].off + live[i - 1].size > off) ||
                  (i < nlive && off + size > live[i].off);
    memmove(&live[i + 1], &live[i], (nlive - i) * sizeof(live[0]));
    live[i] = (interval){off, size, id};
    nlive++;
    return overlap;
}

static void model_remove(size_t i)
{
    memmove(&live[i], &live[i + 1], (nlive - i - 1) * sizeof(live[0]));
    nlive--;
}

static uint64_t model_used(void)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < nlive; i++)
        sum += live[i].size;
    return sum;
}

static uint64_t model_largest_gap(uint64_t arena)
{
    uint64_t pos = 0, best = 0;
    for (size_t i = 0; i < nlive; i++) {
        best = RAY_MAX(best, live[i].off - pos);
        pos = live[i].off + live[i].size;
    }
    return RAY_MAX(best, arena - pos);
}

/* The smallest free block TLSF is sure to find for a request: the size
 * rounded up to the next boundary of its second-level class (exact below
 * 2 KiB, 1/32 of the power of two above). */
static uint64_t class_round_up(uint64_t size)
{
    uint64_t r = round64(size);
    if (r < 2048)
        return r;
    uint64_t g = 1ull << (63 - __builtin_clzll(r) - 5);
    return (r + g - 1) & ~(g - 1);
}

/* ---- the random workload */

typedef struct faults {
    long check, overlap, outside, misaligned, wrong_size, used, largest, false_oom;
    long first_op; /* first operation after which something was wrong */
} faults;

static void note(faults *f, long *counter, long op)
{
    if (!(*counter)++ && f->first_op < 0)
        f->first_op = op;
}

static uint64_t random_size(void)
{
    return 1 + unit_below(1ull << (6 + unit_below(17))); /* 1 B .. 4 MiB */
}

static void do_alloc(faults *f, long op)
{
    uint64_t size = random_size(), off = 0;
    uint32_t id = store_alloc_get(&A, D, size, &off);
    if (!id) {
        if (model_largest_gap(ARENA) >= class_round_up(size))
            note(f, &f->false_oom, op);
        return;
    }
    uint64_t r = round64(size);
    if (off % STORE_ALIGN)
        note(f, &f->misaligned, op);
    if (off + r > ARENA)
        note(f, &f->outside, op);
    if (D[id].off != off || (D[id].size & ~1ull) != r)
        note(f, &f->wrong_size, op);
    if (model_insert(off, r, id))
        note(f, &f->overlap, op);
}

static void do_free(faults *f, long op)
{
    size_t i = unit_below(nlive);
    if (store_alloc_put(&A, D, live[i].id) != 0)
        note(f, &f->check, op);
    model_remove(i);
}

static void after_op(faults *f, long op)
{
    if (store_alloc_check(&A, D) != 0)
        note(f, &f->check, op);
    if (A.used_bytes != model_used() || A.blocks_used != nlive)
        note(f, &f->used, op);
    if (store_alloc_largest_free(&A, D) != model_largest_gap(ARENA))
        note(f, &f->largest, op);
}

static void test_random_workload(void)
{
    faults f = {0};
    f.first_op = -1;
    unit_seed(20240601);
    for (long op = 0; op < OPS; op++) {
        /* Phases that fill and drain, so both exhaustion and coalescing
         * happen many times. */
        int fill = (op / 5000) % 2 == 0;
        if (nlive && (unit_below(100) < (fill ? 35u : 65u) || nlive >= DESC_CAP / 2 - 2))
            do_free(&f, op);
        else
            do_alloc(&f, op);
        after_op(&f, op);
        if (f.check)
            break; /* the allocator is broken: the rest would only repeat it */
    }
    if (f.first_op >= 0)
        diag("first fault after operation %ld", f.first_op);
    is_int(f.check, 0, "%d random operations: store_alloc_check passes after each", OPS);
    is_int(f.overlap, 0, "no two live blocks overlap");
    is_int(f.outside, 0, "every block lies inside the arena");
    is_int(f.misaligned, 0, "every block is 64-byte aligned");
    is_int(f.wrong_size, 0, "each descriptor names its block: offset and rounded size");
    is_int(f.used, 0, "used_bytes and blocks_used match the live blocks");
    is_int(f.largest, 0, "largest_free is the largest gap between live blocks");
    is_int(f.false_oom, 0, "an allocation fails only when no free block of its class exists");
}

static void free_all_randomly(void)
{
    int bad = 0;
    while (nlive) {
        size_t i = unit_below(nlive);
        bad |= store_alloc_put(&A, D, live[i].id) != 0;
        model_remove(i);
        bad |= store_alloc_check(&A, D) != 0;
    }
    ok(!bad, "every live block frees, and the allocator checks after each free");
}

static void test_coalescing(void)
{
    free_all_randomly();
    is_int(A.used_bytes, 0, "nothing used after freeing everything");
    is_int(A.blocks_used, 0, "no block allocated after freeing everything");
    is_int(store_alloc_largest_free(&A, D), ARENA, "one free block covers the arena");
    uint64_t off = 1;
    uint32_t id = store_alloc_get(&A, D, ARENA, &off);
    ok(id && off == 0, "the whole arena can be allocated as one block");
    is_int(store_alloc_put(&A, D, id), 0, "and freed");
    is_int(store_alloc_check(&A, D), 0, "the allocator checks");
}

static void test_init_and_limits(void)
{
    uint64_t off;
    store_alloc_init(&A, D, DESC_CAP, (1ull << 20) + 13);
    is_int(store_alloc_largest_free(&A, D), 1ull << 20, "arena size rounds down to 64 bytes");
    is_int(store_alloc_check(&A, D), 0, "fresh allocator checks");
    is_int(store_alloc_get(&A, D, 0, &off), 0, "zero bytes: no block");
    is_int(store_alloc_get(&A, D, (1ull << 20) + 1, &off), 0, "more than the arena: no block");
    is_int(store_alloc_get(&A, D, UINT64_MAX, &off), 0, "UINT64_MAX bytes: no block");
    is_int(store_alloc_check(&A, D), 0, "refused requests change nothing");
}

static void test_exhaustion(void)
{
    const uint64_t size = (1ull << 20) + 64;
    uint64_t off;
    uint32_t id;
    store_alloc_init(&A, D, DESC_CAP, ARENA);
    nlive = 0;
    while ((id = store_alloc_get(&A, D, size, &off)))
        model_insert(off, size, id);
    is_int(nlive, ARENA / size, "blocks of 1 MiB + 64 fill the arena, then get returns 0");
    is_int(store_alloc_largest_free(&A, D), ARENA - nlive * size, "the remainder is free");
    id = store_alloc_get(&A, D, 64, &off);
    ok(id && off == nlive * size, "a small block still fits in the remainder");
    is_int(store_alloc_put(&A, D, id), 0, "and frees");
    free_all_randomly();
}

/* A freed block between two live ones is the only place a request of
 * (almost) its size fits; the request maps to the block's own size class,
 * which the O(1) search skips.  It must still be found (seen as RAY_ENOMEM
 * with "largest free block" bigger than the request). */
static void test_exact_fit(void)
{
    const uint64_t big = 3000 * 64; /* inside a class, not at its start */
    uint64_t off, off2;
    store_alloc_init(&A, D, DESC_CAP, big + 64 * 10);
    uint32_t a = store_alloc_get(&A, D, big, &off);
    uint32_t b = store_alloc_get(&A, D, 64, &off2);
    ok(a && b && off == 0 && off2 == big, "a block, then a small one right after it");
    is_int(store_alloc_put(&A, D, a), 0, "free the first");
    is_int(store_alloc_largest_free(&A, D), big, "the largest free block is the freed one");
    uint32_t c = store_alloc_get(&A, D, big - 39, &off);
    ok(c && off == 0, "a request of its size less 39 bytes gets it");
    is_int(store_alloc_put(&A, D, c), 0, "and frees");
    c = store_alloc_get(&A, D, big, &off);
    ok(c && off == 0, "a request of exactly its size gets it");
    ok(store_alloc_get(&A, D, big + 1, &off2) == 0, "one byte more does not fit");
    is_int(store_alloc_put(&A, D, c), 0, "free");
    is_int(store_alloc_put(&A, D, b), 0, "free the small one");
    is_int(store_alloc_check(&A, D), 0, "the allocator checks");
}

/* With few descriptors a split is impossible: the whole block is handed
 * out, and the allocator must stay consistent. */
static void test_descriptor_exhaustion(void)
{
    static store_block small[8];
    uint64_t off, total = 0;
    uint32_t id, ids[8];
    int n = 0, bad = 0;
    store_alloc_init(&A, small, 8, 1ull << 20);
    while (n < 8 && (id = store_alloc_get(&A, small, 4096, &off))) {
        ids[n++] = id;
        total += small[id].size & ~1ull;
        bad |= store_alloc_check(&A, small) != 0;
    }
    ok(!bad && n == 7, "7 descriptors: 7 blocks, the allocator checks after each (%d)", n);
    is_int(total, 1ull << 20, "the last block is the whole rest of the arena");
    for (int i = 0; i < n; i++)
        bad |= store_alloc_put(&A, small, ids[i]) != 0 || store_alloc_check(&A, small) != 0;
    ok(!bad, "all free again, checking after each");
    is_int(store_alloc_largest_free(&A, small), 1ull << 20, "and coalesce into one block");
}

/* A bad id is refused with RAY_EINVAL and leaves every byte of state as it was. */
static void expect_bad_put(uint32_t id, const char *what)
{
    static store_alloc before;
    static store_block dbefore[DESC_CAP];
    before = A;
    memcpy(dbefore, D, sizeof(D));
    is_rc(store_alloc_put(&A, D, id), RAY_EINVAL, "put of %s: RAY_EINVAL", what);
    ok(!memcmp(&before, &A, sizeof(A)) && !memcmp(dbefore, D, sizeof(D)),
       "put of %s changes nothing", what);
}

static void test_bad_put(void)
{
    uint64_t off;
    store_alloc_init(&A, D, DESC_CAP, ARENA);
    uint32_t a = store_alloc_get(&A, D, 1000, &off);
    uint32_t b = store_alloc_get(&A, D, 5000, &off);
    uint32_t c = store_alloc_get(&A, D, 7000, &off);
    uint32_t tail = D[c].next_phys; /* the free rest of the arena */
    ok(a && b && c && tail && (D[tail].size & 1), "three blocks and a free tail");
    is_int(store_alloc_put(&A, D, b), 0, "middle block frees");
    expect_bad_put(0, "id 0 (the null descriptor)");
    expect_bad_put(A.desc_bump, "an id never handed out");
    expect_bad_put(UINT32_MAX, "UINT32_MAX");
    expect_bad_put(b, "a block already freed (double free)");
    expect_bad_put(tail, "the descriptor of a free block");
    is_int(store_alloc_put(&A, D, c), 0, "last block frees (merging with both neighbours)");
    expect_bad_put(tail, "a descriptor released by coalescing");
    is_int(store_alloc_put(&A, D, a), 0, "first block frees");
    is_int(store_alloc_check(&A, D), 0, "the allocator checks");
    is_int(store_alloc_largest_free(&A, D), ARENA, "one free block again");
}

/* ---- rebuild */

typedef struct live_set {
    uint64_t offs[2048], sizes[2048];
    uint32_t ids[2048];
    size_t n;
} live_set;

static void random_live_set(live_set *s)
{
    uint64_t pos = 0;
    s->n = 0;
    while (s->n < 2048) {
        uint64_t gap = unit_below(4) ? 64 * unit_below(1000) : 0;
        uint64_t size = random_size() / 4 + 1; /* not rounded: rebuild rounds */
        if (pos + gap + round64(size) > ARENA)
            break;
        s->offs[s->n] = pos + gap;
        s->sizes[s->n++] = size;
        pos += gap + round64(size);
    }
}

static void rebuild_then_allocate(live_set *s)
{
    int bad = 0;
    nlive = 0;
    for (size_t i = 0; i < s->n; i++)
        bad |= model_insert(s->offs[i], round64(s->sizes[i]), s->ids[i]);
    for (;;) {
        uint64_t off, size = random_size();
        uint32_t id = store_alloc_get(&A, D, size, &off);
        if (!id)
            break;
        bad |= model_insert(off, round64(size), id);
    }
    ok(!bad, "allocations after the rebuild never overlap the live blocks");
    is_int(store_alloc_check(&A, D), 0, "the allocator checks after filling it");
    free_all_randomly();
    is_int(store_alloc_largest_free(&A, D), ARENA, "freeing rebuilt and new blocks coalesces all");
}

static void test_rebuild(void)
{
    static live_set s;
    unit_seed(77);
    random_live_set(&s);
    memset(D, 0xa5, sizeof(D)); /* whatever was there before */
    is_rc(store_alloc_rebuild(&A, D, DESC_CAP, ARENA, s.offs, s.sizes, s.ids, s.n), 0,
          "rebuild from %zu live blocks", s.n);
    is_int(store_alloc_check(&A, D), 0, "the rebuilt allocator checks");
    uint64_t used = 0;
    int bad = 0;
    for (size_t i = 0; i < s.n; i++) {
        used += round64(s.sizes[i]);
        bad |= D[s.ids[i]].off != s.offs[i] || D[s.ids[i]].size != round64(s.sizes[i]);
    }
    ok(!bad, "each live block got a descriptor naming it");
    is_int(A.used_bytes, used, "used_bytes is the sum of the live blocks");
    is_int(A.blocks_used, s.n, "blocks_used is their number");
    rebuild_then_allocate(&s);
}

static void expect_bad_rebuild(const uint64_t *offs, const uint64_t *sizes, size_t n,
                               const char *what)
{
    uint32_t ids[4];
    is_rc(store_alloc_rebuild(&A, D, DESC_CAP, ARENA, offs, sizes, ids, n), RAY_EINVAL,
          "rebuild refuses %s", what);
}

static void test_rebuild_invalid(void)
{
    expect_bad_rebuild((uint64_t[]){0, 64}, (uint64_t[]){128, 64}, 2, "overlapping blocks");
    expect_bad_rebuild((uint64_t[]){4096, 0}, (uint64_t[]){64, 64}, 2, "unsorted blocks");
    expect_bad_rebuild((uint64_t[]){32}, (uint64_t[]){64}, 1, "a misaligned offset");
    expect_bad_rebuild((uint64_t[]){ARENA - 64}, (uint64_t[]){65}, 1, "a block past the end");
    expect_bad_rebuild((uint64_t[]){UINT64_MAX - 63}, (uint64_t[]){128}, 1,
                       "a block whose end overflows");
    expect_bad_rebuild((uint64_t[]){0}, (uint64_t[]){UINT64_MAX - 5}, 1,
                       "a size that overflows when rounded");
    uint32_t ids[2];
    int rc = store_alloc_rebuild(&A, D, DESC_CAP, ARENA, (uint64_t[]){0}, (uint64_t[]){0}, ids, 1);
    ok(rc == RAY_EINVAL || store_alloc_check(&A, D) == 0,
       "a zero-size block is refused or yields an allocator that checks (rc %d)", rc);
    rc = store_alloc_rebuild(&A, D, 3, ARENA, (uint64_t[]){64, 4096}, (uint64_t[]){64, 64}, ids, 2);
    is_rc(rc, RAY_ETOOBIG, "too few descriptors for the set: RAY_ETOOBIG");
}

int main(void)
{
    test_init_and_limits();
    store_alloc_init(&A, D, DESC_CAP, ARENA);
    test_random_workload();
    test_coalescing();
    test_exhaustion();
    test_exact_fit();
    test_descriptor_exhaustion();
    test_bad_put();
    test_rebuild();
    test_rebuild_invalid();
    return tap_done();
}
