/*
 * test_store.c - the object store's table (src/store/store.c) on a control
 * region and arena built here as the node service builds them: entries
 * taken and their ids looked up; bytes inline (up to 24) or in the arena,
 * visible through the read-only views; seal and watch; a pending entry
 * the service writes (a result from another node) no longer taken for
 * its creator's own; references, with the last release freeing the entry
 * so its old id is refused and its slot reused under a new generation; RAY_ENOMEM naming the size asked and the
 * bytes free; errors (fail, copy_error) keeping code and message; and
 * store_repair after a process died holding the store lock: the allocator
 * rebuilt from the table must agree with the live objects.
 *
 * store.h gives no access to the store lock or to its allocator, so a
 * process is made to die holding the lock by having it walk a free list
 * turned into a cycle (in store_get_stats, under the lock) and killing it
 * there; the lock is found by looking for its pid in the store's header.
 */
#include "unit.h"

#include <sched.h>
#include <stdlib.h>

#define ARENA (1u << 20)

static unit_node node_a, node_b;
static store *S;

/* ---- helpers */

static uint32_t obj_new(uint32_t state, int32_t refs)
{
    uint32_t slot = 0;
    store_obj_new(S, state, refs, &slot);
    return slot;
}

static uint32_t obj_with_bytes(uint64_t size, uint8_t fill_byte)
{
    uint32_t slot = obj_new(STORE_CREATED, 1);
    void *data;
    if (!slot || store_obj_alloc(S, slot, size, &data))
        return 0;
    memset(data, fill_byte, size);
    store_obj_seal(S, slot);
    return slot;
}

static int bytes_are(const void *p, uint8_t b, uint64_t n)
{
    const uint8_t *q = p;
    for (uint64_t i = 0; i < n; i++)
        if (q[i] != b)
            return 0;
    return 1;
}

static store_stats stats(void)
{
    store_stats st;
    store_get_stats(S, &st);
    return st;
}

static uint64_t round64(uint64_t x)
{
    return (x + 63) & ~63ull;
}

/* ---- entries and bytes */

static void test_new_and_lookup(void)
{
    uint32_t slot = obj_new(STORE_PENDING, 1);
    store_obj *o = store_obj_at(S, slot);
    ok(slot > 0 && slot < S->max_objects, "store_obj_new gives a slot (%u)", slot);
    ok(STORE_STATE(atomic_load(&o->state)) == STORE_PENDING && store_obj_refs(o) == 1 &&
           o->size == 0 && o->creator == S->client && o->gen >= 1,
       "state, refs, size, creator and a generation set");
    ray_id id = store_obj_id(S, slot, 0);
    ok(store_obj_lookup(S, id) == o, "its id finds it");
    ray_id bad = id;
    bad.kind = RAY_ID_ACTOR;
    ok(!store_obj_lookup(S, bad) && ray_err_last_code() == RAY_EINVAL, "an actor id: RAY_EINVAL");
    bad = id;
    bad.tag++;
    ok(!store_obj_lookup(S, bad) && ray_err_last_code() == RAY_EINVAL,
       "another job's tag: RAY_EINVAL");
    bad = id;
    bad.slot = 0;
    ok(!store_obj_lookup(S, bad) && ray_err_last_code() == RAY_EINVAL, "slot 0: RAY_EINVAL");
    bad = id;
    bad.slot = S->max_objects + 5;
    ok(!store_obj_lookup(S, bad) && ray_err_last_code() == RAY_EINVAL,
       "a slot past the table: RAY_EINVAL");
    bad = id;
    bad.gen++;
    ok(!store_obj_lookup(S, bad) && ray_err_last_code() == RAY_EINVAL,
       "another generation: RAY_EINVAL");
    store_obj_unref(S, slot);
}

static void test_inline(void)
{
    static const uint64_t sizes[] = {0, 1, STORE_INLINE_MAX};
    int bad = 0;
    for (size_t i = 0; i < RAY_ARRAY_SIZE(sizes); i++) {
        uint32_t slot = obj_new(STORE_CREATED, 1);
        store_obj *o = store_obj_at(S, slot);
        void *data = NULL;
        bad |= store_obj_alloc(S, slot, sizes[i], &data) != 0;
        bad |= data != o->u.inl || o->block != 0 || o->size != sizes[i];
        memset(data, 0x5a, sizes[i]);
        const void *view = store_obj_view(S, slot);
        bad |= view == data || !bytes_are(view, 0x5a, sizes[i]);
        store_obj_unref(S, slot);
    }
    ok(!bad, "0, 1 and %d bytes live in the entry, seen through the read-only table",
       STORE_INLINE_MAX);
}

static void test_arena(void)
{
    uint64_t used0 = stats().used_bytes;
    uint32_t slot = obj_new(STORE_CREATED, 1);
    store_obj *o = store_obj_at(S, slot);
    void *data = NULL;
    is_rc(store_obj_alloc(S, slot, STORE_INLINE_MAX + 1, &data), 0, "%d bytes: allocated",
          STORE_INLINE_MAX + 1);
    ok(o->block != 0 && o->u.offset % STORE_ALIGN == 0 && data == S->arena + o->u.offset,
       "in the arena, 64-byte aligned");
    memset(data, 0xc3, STORE_INLINE_MAX + 1);
    const uint8_t *view = store_obj_view(S, slot);
    ok(view == S->arena_ro + o->u.offset && bytes_are(view, 0xc3, STORE_INLINE_MAX + 1),
       "the bytes are seen through the read-only arena mapping");
    is_int(stats().used_bytes, used0 + 64, "the arena counts 64 bytes used");
    store_obj_reset(S, slot);
    ok(o->block == 0 && o->size == 0 && stats().used_bytes == used0, "reset gives the bytes back");
    store_obj_unref(S, slot);
}

static void test_enomem(void)
{
    store_stats st = stats();
    uint64_t free_bytes = st.capacity_bytes - st.used_bytes, want = free_bytes + 4096;
    uint32_t slot = obj_new(STORE_CREATED, 1);
    void *data = NULL;
    is_rc(store_obj_alloc(S, slot, want, &data), RAY_ENOMEM,
          "%llu bytes with %llu free: RAY_ENOMEM", (unsigned long long)want,
          (unsigned long long)free_bytes);
    char asked[32], avail[32];
    snprintf(asked, sizeof(asked), "%llu", (unsigned long long)want);
    snprintf(avail, sizeof(avail), "%llu", (unsigned long long)free_bytes);
    ok(strstr(ray_last_error(), asked) && strstr(ray_last_error(), avail),
       "the message names the size asked and the bytes free: %s", ray_last_error());
    ok(store_obj_at(S, slot)->block == 0 && stats().used_bytes == st.used_bytes,
       "the failed allocation took nothing");
    store_obj_unref(S, slot);
}

/* ---- state */

static void test_seal_and_watch(void)
{
    uint32_t a = obj_new(STORE_PENDING, 1), b = obj_new(STORE_CREATED, 1);
    is_int(store_obj_watch(S, a), 0, "watch of a pending object: not ready yet");
    is_int(store_obj_seal(S, a), 1, "sealing a watched object says so");
    uint32_t st = atomic_load(&store_obj_at(S, a)->state);
    ok(STORE_STATE(st) == STORE_SEALED && (st & STORE_WATCHED), "sealed, still marked watched");
    is_int(store_obj_watch(S, a), 1, "watch of a sealed object: ready (no notice will come)");
    is_int(store_obj_seal(S, b), 0, "sealing an unwatched object says so");
    is_int(store_obj_watch(S, b), 1, "and a watch after the seal sees it ready");
    store_obj_unref(S, a);
    store_obj_unref(S, b);
}

/* A result that comes from another node: the service (client 0) writes
 * into the PENDING entry the submitting driver made. */
static void test_writing(void)
{
    uint32_t a = obj_new(STORE_PENDING, 1), self = S->client;
    store_obj *o = store_obj_at(S, a);
    ok(o->creator == self && self != 0, "a pending entry names the driver that made it (%u)", self);
    S->client = 0;
    is_int(store_obj_writing(S, a), 1, "the service starts writing a pending entry");
    S->client = self;
    ok(STORE_STATE(atomic_load(&o->state)) == STORE_CREATED && o->creator == 0,
       "CREATED by the service: the driver does not take it for its own unsealed object "
       "(creator %u)", o->creator);
    is_int(store_obj_writing(S, a), 0, "writing it again: no longer pending");
    ok(o->creator == 0, "and the creator is left alone");
    store_obj_seal(S, a);
    store_obj_unref(S, a);
}

static void test_refs_and_reuse(void)
{
    uint64_t used0 = stats().used_bytes, live0 = stats().objects_live;
    uint32_t slot = obj_with_bytes(1000, 1);
    store_obj *o = store_obj_at(S, slot);
    ray_id old = store_obj_id(S, slot, 0);
    store_obj_ref(S, slot);
    store_obj_unref(S, slot);
    ok(store_obj_refs(o) == 1 && store_obj_lookup(S, old), "ref then unref: still live");
    store_obj_unref(S, slot);
    ok(STORE_STATE(atomic_load(&o->state)) == STORE_FREE, "the last unref frees the entry");
    ok(stats().used_bytes == used0 && stats().objects_live == live0,
       "and its arena bytes; objects_live back down");
    ok(!store_obj_lookup(S, old) && ray_err_last_code() == RAY_EINVAL,
       "the freed object's id: RAY_EINVAL (%s)", ray_last_error());
    uint32_t again = obj_with_bytes(100, 2);
    ok(again == slot && store_obj_at(S, again)->gen == old.gen + 1,
       "the slot is reused first, one generation on");
    ok(!store_obj_lookup(S, old) && ray_err_last_code() == RAY_EINVAL,
       "the old id is still refused: RAY_EINVAL");
    ok(store_obj_lookup(S, store_obj_id(S, again, 0)) == o, "the new id finds the entry");
    store_obj_unref(S, again);
}

/* Marked changes (a process that may die in the middle): the count and
 * the mark move in one step, the service finishes or undoes them. */
static void test_marked_changes(void)
{
    uint64_t live0 = stats().objects_live;
    uint32_t slot = obj_with_bytes(100, 3);
    store_obj *o = store_obj_at(S, slot);
    uint32_t gen = o->gen;
    store_mark = 7;
    is_int(store_obj_mark_add(S, slot, gen, 1), 1, "mark +1 on a live object: taken");
    ok(store_obj_refs(o) == 2 && store_obj_mark_of(S, slot) == 7, "count 2, marked by 7");
    store_obj_ref(S, slot); /* an unmarked change beside the mark */
    store_obj_unref(S, slot);
    ok(store_obj_refs(o) == 2 && store_obj_mark_of(S, slot) == 7,
       "an unmarked +1 -1 meanwhile keeps both");
    store_obj_unmark(S, slot);
    ok(store_obj_refs(o) == 2 && store_obj_mark_of(S, slot) == 0, "unmark: the count stays");
    is_int(store_obj_mark_add(S, slot, gen, -1), 0, "mark -1 of 2: not the last");
    store_obj_mark_settle(S, slot, 8, 0); /* the service, for another dead process */
    ok(store_obj_refs(o) == 1 && store_obj_mark_of(S, slot) == 7,
       "a settle for another process's mark changes nothing");
    store_obj_unref(S, slot); /* the last holder, unmarked, while the mark is on */
    ok(STORE_STATE(atomic_load(&o->state)) == STORE_FREE && stats().objects_live == live0 &&
           store_obj_mark_of(S, slot) == 0,
       "the last unmarked release frees it and its mark goes");
    store_obj_mark_settle(S, slot, 7, 0); /* the marker died: too late, nothing to do */
    store_obj_unmark(S, slot);
    ok(stats().objects_live == live0 && atomic_load(&o->hold) == 0,
       "a settle or an unmark after that free does nothing (no double free)");
    is_int(store_obj_mark_add(S, slot, gen, 1), 0, "mark +1 on a freed object: refused");
    ok(store_obj_refs(o) == 0 && store_obj_mark_of(S, slot) == 0,
       "and it leaves neither count nor mark");
    uint32_t again = obj_with_bytes(100, 5); /* the slot again, a generation on */
    ok(again == slot && o->gen != gen, "the slot is reused");
    is_int(store_obj_mark_add(S, slot, gen, 1), 0, "mark +1 with the old generation: refused");
    ok(store_obj_refs(o) == 1 && store_obj_mark_of(S, slot) == 0, "the new object untouched");
    store_mark = 9; /* another process marks the new object ... */
    is_int(store_obj_mark_add(S, slot, o->gen, 1), 1, "another process's +1");
    store_mark = 7; /* ... and a late unmark of ours leaves its mark */
    store_obj_unmark(S, slot);
    ok(store_obj_mark_of(S, slot) == 9, "an unmark clears only the caller's own mark");
    store_obj_mark_settle(S, slot, 9, 1); /* that process died: its +1 undone */
    ok(store_obj_refs(o) == 1 && store_obj_mark_of(S, slot) == 0, "settle undo: count 1, no mark");
    store_obj_unref(S, slot);
    ok(stats().objects_live == live0, "freed");
    slot = obj_with_bytes(100, 4);
    o = store_obj_at(S, slot);
    gen = o->gen;
    is_int(store_obj_mark_add(S, slot, gen, -1), 1, "mark -1 of the only holder: the last");
    ok(store_obj_mark_of(S, slot) == 7, "marked while it waits for its free");
    store_obj_mark_settle(S, slot, 7, 0); /* what the service does after a death there */
    ok(STORE_STATE(atomic_load(&o->state)) == STORE_FREE && stats().objects_live == live0 &&
           atomic_load(&o->hold) == 0,
       "settle frees it and clears the mark");
    ok(store_obj_unref_last(S, slot) == 0 && atomic_load(&o->hold) == 0,
       "a release with no reference left is refused, the word untouched");
    store_mark = 0;
}

/* A death inside obj_free, between the entry marked free and the count of
 * live objects: from then on the stats count the table (run last: the
 * slot of this half-freed entry is not reused). */
static void test_count_doubt(void)
{
    uint64_t live0 = stats().objects_live;
    uint32_t a = obj_with_bytes(10, 6), b = obj_with_bytes(10, 7);
    store_obj *o = store_obj_at(S, a);
    store_obj_reset(S, a);
    atomic_store(&o->state, STORE_FREE); /* where the process died */
    store_count_doubt(S, (uint64_t)o->gen << 32 | a);
    ok(stats().objects_live == live0 + 1,
       "after a death inside a free the stats count what the table holds (%llu, was %llu)",
       (unsigned long long)stats().objects_live, (unsigned long long)live0);
    store_obj_unref(S, b);
    ok(stats().objects_live == live0, "and go on counting it");
}

static void expect_error(uint32_t slot, int code, const char *msg, size_t len, const char *what)
{
    store_obj *o = store_obj_at(S, slot);
    ok(STORE_STATE(atomic_load(&o->state)) == STORE_ERROR && o->err == code && o->size == len &&
           !memcmp(store_obj_view(S, slot), msg, len),
       "%s: ERROR with its code and message", what);
}

static void test_errors(void)
{
    char long_msg[300];
    for (size_t i = 0; i < sizeof(long_msg); i++)
        long_msg[i] = (char)('a' + i % 26);
    uint32_t a = obj_new(STORE_PENDING, 1), b = obj_new(STORE_PENDING, 1);
    uint32_t c = obj_new(STORE_PENDING, 1), d = obj_new(STORE_PENDING, 1);
    is_int(store_obj_fail(S, a, RAY_ETASK, "boom", 4), 0, "fail of an unwatched object returns 0");
    expect_error(a, RAY_ETASK, "boom", 4, "short message (inline)");
    store_obj_watch(S, b);
    is_int(store_obj_fail(S, b, RAY_EWORKER, long_msg, sizeof(long_msg)), 1,
           "fail of a watched object returns 1");
    expect_error(b, RAY_EWORKER, long_msg, sizeof(long_msg), "300-byte message (arena)");
    store_obj_watch(S, c);
    is_int(store_obj_copy_error(S, c, b), 1, "copy_error into a watched object returns 1");
    expect_error(c, RAY_EWORKER, long_msg, sizeof(long_msg), "copy of the arena message");
    is_int(store_obj_copy_error(S, d, a), 0, "copy_error into an unwatched object returns 0");
    expect_error(d, RAY_ETASK, "boom", 4, "copy of the inline message");
    store_obj_unref(S, b);
    expect_error(c, RAY_EWORKER, long_msg, sizeof(long_msg), "the copy outlives its source");
    store_obj_unref(S, a);
    store_obj_unref(S, c);
    store_obj_unref(S, d);
}

static void test_table_full(void)
{
    static uint32_t slots[4096];
    uint32_t n = 0, slot;
    uint64_t live0 = stats().objects_live;
    while (n < 4096 && store_obj_new(S, STORE_CREATED, 1, &slot) == 0)
        slots[n++] = slot;
    is_int(n + live0, S->max_objects - 1, "the table holds max_objects - 1 entries");
    is_rc(store_obj_new(S, STORE_CREATED, 1, &slot), RAY_ETOOBIG, "then RAY_ETOOBIG");
    is_int(stats().table_high_water, S->max_objects, "the high water reaches the table's end");
    for (uint32_t i = 0; i < n; i++)
        store_obj_unref(S, slots[i]);
    is_int(stats().objects_live, live0, "all released");
}

/* ---- repair */

/* A process forked before the parent ever took a store lock (so that
 * ray_gettid is its own): on its go word it reads the store's stats,
 * which walks the largest free list under the lock. */
typedef struct helper {
    _Atomic uint32_t go;
    pid_t pid;
} helper;

static pid_t helper_start(helper *h, store *st)
{
    pid_t pid = unit_fork();
    if (pid == 0) {
        while (!atomic_load(&h->go))
            ray_futex_wait(&h->go, 0, UINT64_MAX);
        if ((uint32_t)ray_gettid() != unit_tid())
            _exit(3);
        store_stats s;
        store_get_stats(st, &s);
        _exit(0);
    }
    return pid;
}

/* Words of the store's header equal to x. */
static int find_word(const store *st, uint32_t x, int skip)
{
    const uint32_t *w = (const uint32_t *)(const void *)st->r;
    for (int i = 0; i < (int)(store_objs_offset() / 4); i++)
        if (w[i] == x && i != skip)
            return i;
    return -1;
}

/* Makes the helper die inside the store lock; returns 0 when it did. */
static int kill_helper_in_lock(helper *h, store *st)
{
    int skip = find_word(st, (uint32_t)h->pid, -1); /* a coincidence, not the lock */
    atomic_store(&h->go, 1);
    ray_futex_wake(&h->go, 1);
    uint64_t deadline = ray_now_ns() + 10000000000ull;
    while (find_word(st, (uint32_t)h->pid, skip) < 0 && ray_now_ns() < deadline)
        sched_yield();
    int found = find_word(st, (uint32_t)h->pid, skip) >= 0;
    kill(h->pid, SIGKILL);
    int status = unit_wait(h->pid);
    h->pid = 0;
    return found && status == 128 + SIGKILL ? 0 : -1;
}

/* Points the free block at the arena's end to itself: a walk of its list
 * never ends. */
static int make_free_list_cycle(store *st)
{
    uint64_t end = 0;
    uint32_t last = 0;
    for (uint32_t i = 1; i < st->max_objects; i++) {
        store_obj *o = &st->objs[i];
        if (STORE_STATE(atomic_load(&o->state)) != STORE_FREE && o->block && o->u.offset >= end) {
            end = o->u.offset;
            last = o->block;
        }
    }
    uint32_t tail = last ? st->descs[last].next_phys : 0;
    if (!tail || !(st->descs[tail].size & 1))
        return -1;
    st->descs[tail].next_free = tail;
    return 0;
}

typedef struct span {
    uint64_t off, size;
} span;

static int by_off(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The arena blocks the table names, sorted by offset; returns how many. */
static uint32_t live_spans(span *v)
{
    uint32_t n = 0;
    for (uint32_t i = 1; i < S->max_objects; i++) {
        store_obj *o = store_obj_at(S, i);
        if (STORE_STATE(atomic_load(&o->state)) != STORE_FREE && o->block)
            v[n++] = (span){o->u.offset, round64(o->size)};
    }
    qsort(v, n, sizeof(*v), by_off);
    return n;
}

static uint64_t largest_gap(const span *v, uint32_t n)
{
    uint64_t pos = 0, best = 0;
    for (uint32_t i = 0; i < n; i++) {
        best = RAY_MAX(best, v[i].off - pos);
        pos = v[i].off + v[i].size;
    }
    return RAY_MAX(best, ARENA - pos);
}

static int overlaps(const span *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        if (v[i - 1].off + v[i - 1].size > v[i].off)
            return 1;
    return n && v[n - 1].off + v[n - 1].size > ARENA;
}

/* Every live object still holds the byte it was filled with (its slot). */
static int contents_intact(void)
{
    for (uint32_t i = 1; i < S->max_objects; i++) {
        store_obj *o = store_obj_at(S, i);
        if (STORE_STATE(atomic_load(&o->state)) == STORE_SEALED &&
            !bytes_are(store_obj_view(S, i), (uint8_t)i, o->size))
            return 0;
    }
    return 1;
}

static void release_all(void)
{
    for (uint32_t i = 1; i < S->max_objects; i++)
        if (STORE_STATE(atomic_load(&store_obj_at(S, i)->state)) != STORE_FREE)
            store_obj_unref(S, i);
}

/* The allocator after a repair must agree with the object table: same
 * bytes used, same largest gap, new objects only where nothing lives, and
 * everything back in one block once all is released. */
static void expect_consistent(const char *what)
{
    static span v[4096];
    uint32_t n = live_spans(v), slot;
    uint64_t used = 0;
    for (uint32_t i = 0; i < n; i++)
        used += v[i].size;
    store_stats st = stats();
    is_int(st.used_bytes, used, "%s: bytes used are the %u live objects'", what, n);
    is_int(st.largest_free_bytes, largest_gap(v, n), "%s: largest free block is the largest gap",
           what);
    ok(contents_intact(), "%s: every live object's bytes intact", what);
    while (store_obj_new(S, STORE_CREATED, 1, &slot) == 0) {
        void *data;
        if (store_obj_alloc(S, slot, 25 + unit_below(20000), &data))
            break;
        memset(data, (uint8_t)slot, store_obj_at(S, slot)->size);
        store_obj_seal(S, slot);
    }
    n = live_spans(v);
    ok(!overlaps(v, n) && contents_intact(),
       "%s: objects made after the repair overlap nothing (%u live)", what, n);
    release_all();
    st = stats();
    if (!ok(st.used_bytes == 0 && st.largest_free_bytes == ARENA && st.objects_live == 0,
            "%s: all released, the arena is one free block again", what))
        diag("used %llu, largest free %llu, objects %llu", (unsigned long long)st.used_bytes,
             (unsigned long long)st.largest_free_bytes, (unsigned long long)st.objects_live);
}

static void repair_after_death(helper *h, const char *what)
{
    is_int(store_repair(S), 0, "%s: no repair while the lock is free", what);
    ok(make_free_list_cycle(S) == 0 && kill_helper_in_lock(h, S) == 0,
       "%s: a process died holding the store lock", what);
    is_int(store_repair(S), 1, "%s: store_repair repairs", what);
    is_int(store_check(S), 0, "%s: the rebuilt allocator passes store_check", what);
    is_int(store_repair(S), 0, "%s: and then has nothing left to do", what);
}

/* A few objects of many sizes with holes between them. */
static void test_repair(helper *h)
{
    uint32_t slots[24];
    unit_seed(9);
    for (int i = 0; i < 24; i++)
        slots[i] = obj_with_bytes(25 + unit_below(40000), 0);
    for (int i = 0; i < 24; i++) { /* each object filled with its slot number */
        memset(store_obj_data(S, slots[i]), (uint8_t)slots[i], store_obj_at(S, slots[i])->size);
        if (i % 3 == 1)
            store_obj_unref(S, slots[i]);
    }
    repair_after_death(h, "24 objects, 8 freed");
    expect_consistent("after repair");
}

/* A small table (15 entries) whose allocator ran out of block descriptors
 * and handed out whole holes: small objects sitting in 4 KiB holes.  The
 * rebuild must still describe every live block and every gap. */
static void test_repair_fragmented(helper *h)
{
    uint32_t slots[16];
    int n = 0;
    while (n < 16 && (slots[n] = obj_with_bytes(4096, 0)))
        n++;
    for (int i = 1; i < n; i += 2)
        store_obj_unref(S, slots[i]);
    for (int i = 1; i < n; i += 2)
        slots[i] = obj_with_bytes(64, 0);
    for (int i = 0; i < n; i++)
        memset(store_obj_data(S, slots[i]), (uint8_t)slots[i], store_obj_at(S, slots[i])->size);
    ok(n == 15 && stats().objects_live == 15, "15 objects: 8 of 4 KiB, 7 of 64 bytes in the holes");
    repair_after_death(h, "full small table");
    expect_consistent("after repair of the small table");
}

int main(void)
{
    helper *h = unit_shared(2 * sizeof(helper));
    int rc = unit_node_create(&node_a, 4096, 64, 2, 2, ARENA, 1);
    rc = rc ? rc : unit_node_create(&node_b, 16, 64, 2, 2, ARENA, 1);
    is_rc(rc, 0, "two control regions and arenas built and attached");
    if (rc)
        return tap_done();
    h[0].pid = helper_start(&h[0], &node_a.sh.st); /* before any store lock is taken */
    h[1].pid = helper_start(&h[1], &node_b.sh.st);
    S = &node_a.sh.st;
    test_new_and_lookup();
    test_inline();
    test_arena();
    test_enomem();
    test_seal_and_watch();
    test_writing();
    test_refs_and_reuse();
    test_marked_changes();
    test_errors();
    test_table_full();
    test_repair(&h[0]);
    S = &node_b.sh.st;
    test_repair_fragmented(&h[1]);
    test_count_doubt();
    for (int i = 0; i < 2; i++)
        if (h[i].pid) {
            kill(h[i].pid, SIGKILL);
            unit_wait(h[i].pid);
        }
    unit_node_destroy(&node_a);
    unit_node_destroy(&node_b);
    return tap_done();
}
