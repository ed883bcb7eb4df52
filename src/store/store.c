/*
 * store.c - the object table and the store's shared header.  Entries are
 * taken from a lock-free stack of free slots (tagged head against ABA) with
 * a bump pointer behind it, so the table is touched only as far as it is
 * used and recently freed slots are reused first.  Whoever drops the last
 * reference frees the object: its arena block goes back to the allocator
 * under the store lock and its slot onto the free stack.
 */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define CHUNK_SHIFT 21 /* 2 MiB */

#define STORE_MAGIC 0x53544f5245303031ull /* "STORE001" */
#define PAGE 4096u
/* Objects at least this big get their pages mapped in one call before the
 * copy, instead of one fault per 4 KiB page (3x faster on first touch);
 * only once per process and chunk, as the call costs even when the pages
 * are mapped already. */
#define POPULATE_MIN (1u << 20)

struct store_region {
    uint64_t magic;
    uint64_t arena_size;
    uint32_t max_objects;
    uint16_t tag;
    uint16_t pad0;
    ray_freelist slots;          /* free object slots */
    _Atomic uint64_t objects_live;
    char pad2[RAY_CACHELINE];
    ray_shlock lock;             /* guards alloc, descs and broken */
    uint32_t broken;             /* a rebuild failed: no more allocations */
    store_alloc alloc;
    /* A process died between an entry's state and objects_live (inside
     * store_obj_new_at or obj_free): from then on the stats count the
     * table instead. */
    _Atomic uint32_t count_doubt;
};

static uint64_t hdr_size(void) { return RAY_ALIGN_UP((uint64_t)sizeof(store_region), PAGE); }
uint64_t store_objs_offset(void) { return hdr_size(); }

static uint64_t descs_offset(uint32_t max_objects)
{
    return hdr_size() + RAY_ALIGN_UP((uint64_t)max_objects * sizeof(store_obj), PAGE);
}

/* Enough for any set of live blocks plus the gaps between them, so a
 * rebuild (store_repair) can always describe what it finds. */
static uint32_t desc_cap(uint32_t max_objects) { return 2 * max_objects + 2; }

uint64_t store_region_size(uint32_t max_objects)
{
    return descs_offset(max_objects) +
           RAY_ALIGN_UP((uint64_t)desc_cap(max_objects) * sizeof(store_block), PAGE);
}

void store_region_init(void *base, uint32_t max_objects, uint64_t arena_size, uint16_t tag)
{
    store_region *r = base;
    memset(r, 0, sizeof(*r));
    r->magic = STORE_MAGIC;
    r->arena_size = arena_size;
    r->max_objects = max_objects;
    r->tag = tag;
    ray_freelist_init(&r->slots, max_objects); /* slot 0: a zeroed ref is invalid */
    store_alloc_init(&r->alloc, (store_block *)((char *)base + descs_offset(max_objects)),
                     desc_cap(max_objects), arena_size);
}

int store_attach(store *s, void *base, const void *objs_ro, int arena_fd, uint64_t arena_size)
{
    memset(s, 0, sizeof(*s));
    store_region *r = base;
    if (r->magic != STORE_MAGIC || r->arena_size != arena_size)
        return ray_err(RAY_EPROTO, "object store header does not match (magic %llx)",
                       (unsigned long long)r->magic);
    s->r = r;
    s->max_objects = r->max_objects;
    s->objs = (store_obj *)((char *)base + store_objs_offset());
    s->objs_ro = objs_ro;
    s->descs = (store_block *)((char *)base + descs_offset(r->max_objects));
    s->arena_size = arena_size;
    s->arena_fd = arena_fd;
    if (arena_size) {
        s->arena = ray_map(arena_fd, arena_size, PROT_READ | PROT_WRITE);
        s->arena_ro = ray_map(arena_fd, arena_size, PROT_READ);
        size_t words = (size_t)((arena_size >> CHUNK_SHIFT) / 64 + 1);
        s->mapped_rw = calloc(words, sizeof(uint64_t));
        s->mapped_ro = calloc(words, sizeof(uint64_t));
        if (!s->arena || !s->arena_ro || !s->mapped_rw || !s->mapped_ro) {
            store_detach(s);
            return RAY_ESYS;
        }
    }
    return 0;
}

void store_detach(store *s)
{
    free(s->mapped_rw);
    free(s->mapped_ro);
    s->mapped_rw = s->mapped_ro = NULL;
    ray_unmap(s->arena, s->arena_size);
    ray_unmap((void *)s->arena_ro, s->arena_size);
    s->arena = NULL;
    s->arena_ro = NULL;
}

uint16_t store_tag(const store *s) { return s->r->tag; }
void store_set_tag(store *s, uint16_t tag) { s->r->tag = tag; }

store_obj *store_obj_lookup(const store *s, ray_id id)
{
    char buf[64];
    if (id.kind != RAY_ID_OBJECT || id.tag != s->r->tag) {
        ray_id_format(id, buf, sizeof(buf));
        ray_err(RAY_EINVAL, "ref %s is not an object ref of this job", buf);
        return NULL;
    }
    if (id.slot == 0 || id.slot >= ray_freelist_high_water(&s->r->slots)) {
        ray_id_format(id, buf, sizeof(buf));
        ray_err(RAY_EINVAL, "unknown ref %s", buf);
        return NULL;
    }
    store_obj *o = &s->objs[id.slot];
    uint32_t st = atomic_load_explicit(&o->state, memory_order_acquire);
    if (o->gen != id.gen || STORE_STATE(st) == STORE_FREE) {
        ray_id_format(id, buf, sizeof(buf));
        ray_err(RAY_EINVAL, "ref %s was released (its object is freed)", buf);
        return NULL;
    }
    return o;
}

static uint32_t slot_pop(store *s)
{
    return ray_freelist_pop(&s->r->slots, s->objs, sizeof(store_obj),
                            offsetof(store_obj, next_free));
}

int store_obj_new_at(store *s, uint32_t state, int32_t refs, uint32_t *slot_out,
                     store_rec *const *rec, int nrec)
{
    _Atomic uint64_t *intent = store_freeing;
    if (intent)
        atomic_store_explicit(intent, STORE_ALLOCATING, memory_order_relaxed);
    uint32_t slot = slot_pop(s);
    if (!slot) {
        if (intent)
            atomic_store_explicit(intent, 0, memory_order_relaxed);
        return ray_err(RAY_ETOOBIG, "object table full: %u live objects (raise "
                                    "RAY_MPI_MAX_OBJECTS)", s->max_objects - 1);
    }
    store_obj *o = &s->objs[slot];
    uint32_t gen = ray_gen_next(o->gen);
    o->gen = gen;
    *slot_out = slot;
    for (int i = 0; i < nrec; i++) { /* the generation first: a record is valid once its slot is */
        rec[i]->gen = gen;
        atomic_signal_fence(memory_order_seq_cst);
        rec[i]->slot = slot;
    }
    atomic_signal_fence(memory_order_seq_cst);
    o->size = 0;
    o->block = 0;
    o->err = 0;
    o->task = 0;
    o->flags = 0;
    o->creator = s->client;
    o->u.offset = 0;
    atomic_store_explicit(&o->hold, (uint32_t)refs, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->r->objects_live, 1, memory_order_relaxed);
    atomic_store_explicit(&o->state, state, memory_order_release);
    if (intent)
        atomic_store_explicit(intent, 0, memory_order_release);
    return 0;
}

/* Allocates size bytes for entry o and records the block in it while the
 * lock is held: if this process dies at any point, the entry either names
 * the block or the allocator never gave it out, so a rebuild is exact. */
static int arena_alloc(store *s, store_obj *o, uint64_t size)
{
    store_region *r = s->r;
    uint64_t off = 0;
    ray_shlock_lock(&r->lock, (uint32_t)ray_gettid());
    if (r->broken) {
        ray_shlock_unlock(&r->lock);
        return ray_err(RAY_ESYS, "the object store is unusable: a process died inside its "
                                 "allocator and it could not be rebuilt");
    }
    uint32_t block = store_alloc_get(&r->alloc, s->descs, size, &off);
    if (block) {
        o->u.offset = off;
        o->size = size;
        o->block = block;
        RAY_FAULT(STORE_LOCKED);
    }
    uint64_t used = r->alloc.used_bytes;
    uint64_t largest = block ? 0 : store_alloc_largest_free(&r->alloc, s->descs);
    ray_shlock_unlock(&r->lock);
    if (!block)
        return ray_err(RAY_ENOMEM,
                       "object store full: asked for %llu bytes, %llu of %llu bytes free "
                       "(largest free block %llu bytes); release objects or raise "
                       "RAY_MPI_OBJECT_STORE_MEMORY",
                       (unsigned long long)size, (unsigned long long)(s->arena_size - used),
                       (unsigned long long)s->arena_size, (unsigned long long)largest);
    return 0;
}

int store_obj_alloc(store *s, uint32_t slot, uint64_t size, void **data)
{
    store_obj *o = &s->objs[slot];
    if (size <= STORE_INLINE_MAX) {
        o->size = size;
        *data = o->u.inl;
        return 0;
    }
    int rc = arena_alloc(s, o, size);
    if (rc)
        return rc;
    *data = s->arena + o->u.offset;
    if (size >= POPULATE_MIN)
        store_populate(s, o->u.offset, size, 1);
    return 0;
}

void store_populate(store *s, uint64_t off, uint64_t size, int write)
{
    uint64_t *bits = write ? s->mapped_rw : s->mapped_ro;
    const uint8_t *base = write ? s->arena : s->arena_ro;
    if (!bits || !size || off >= s->arena_size)
        return;
    uint64_t end = RAY_MIN(off + size, s->arena_size);
    for (uint64_t c = off >> CHUNK_SHIFT; c <= (end - 1) >> CHUNK_SHIFT; c++) {
        if (bits[c / 64] & (1ull << (c % 64)))
            continue;
        uint64_t from = c << CHUNK_SHIFT, len = RAY_MIN(1ull << CHUNK_SHIFT, s->arena_size - from);
        madvise((void *)(base + from), len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
        bits[c / 64] |= 1ull << (c % 64);
    }
}

/* Sequentially consistent: of two arguments of one task sealed at once,
 * each sealer then reads the other's state (sched_hints_run, a seq_cst
 * load), and one of them must see both sealed.  On x86 the locked
 * exchange is a full barrier whatever the order asked: no fence added. */
static int set_ready(store_obj *o, uint32_t state)
{
    uint32_t old = atomic_load_explicit(&o->state, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&o->state, &old,
                                                  state | (old & STORE_WATCHED),
                                                  memory_order_seq_cst,
                                                  memory_order_relaxed))
        ;
    return !!(old & STORE_WATCHED);
}

int store_obj_writing(store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    uint32_t old = atomic_load(&o->state);
    while (STORE_STATE(old) == STORE_PENDING) {
        o->creator = (uint16_t)s->client; /* published by the exchange below */
        if (atomic_compare_exchange_weak(&o->state, &old, STORE_CREATED | (old & STORE_WATCHED)))
            return 1;
    }
    return 0;
}

int store_obj_seal(store *s, uint32_t slot) { return set_ready(&s->objs[slot], STORE_SEALED); }

int store_obj_fail(store *s, uint32_t slot, int code, const char *msg, size_t len)
{
    store_obj *o = &s->objs[slot];
    void *data;
    store_obj_reset(s, slot); /* what it held before (a half-written object) */
    if (store_obj_alloc(s, slot, len, &data) == 0) {
        memcpy(data, msg, len);
    } else {
        /* No room for the message: keep what fits in the entry. */
        static const char lost[] = "(error message lost: object store full)";
        o->size = RAY_MIN(sizeof(lost) - 1, (size_t)STORE_INLINE_MAX);
        memcpy(o->u.inl, lost, o->size);
    }
    o->err = code;
    return set_ready(o, STORE_ERROR);
}

int store_obj_copy_error(store *s, uint32_t dst, uint32_t src)
{
    store_obj *so = &s->objs[src];
    return store_obj_fail(s, dst, so->err, store_obj_view(s, src), so->size);
}

void store_obj_reset(store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    if (o->block) {
        store_region *r = s->r;
        /* The block id is read under the lock: a rebuild (store_repair) may
         * have renumbered the blocks while we waited for it. */
        ray_shlock_lock(&r->lock, (uint32_t)ray_gettid());
        uint32_t block = o->block;
        int rc = block && !r->broken ? store_alloc_put(&r->alloc, s->descs, block) : 0;
        o->block = 0;
        ray_shlock_unlock(&r->lock);
        if (rc)
            ray_error("store", "object %u names arena block %u that is not allocated "
                               "(store corrupted?)", slot, block);
    }
    o->size = 0;
}

/* Every step can be done again: the block goes back under the lock (a
 * second reset finds none), then the slot is marked free, counted and
 * pushed (a death between those loses the slot, never frees it twice). */
static void obj_free_tail(store *s, uint32_t slot)
{
    atomic_store_explicit(&s->objs[slot].hold, 0, memory_order_relaxed); /* its mark, if any */
    ray_freelist_push(&s->r->slots, s->objs, sizeof(store_obj), offsetof(store_obj, next_free),
                      slot);
}

static void obj_free(store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    store_obj_reset(s, slot);
    RAY_FAULT(FREEING);
    atomic_store_explicit(&o->state, STORE_FREE, memory_order_release);
    atomic_fetch_sub_explicit(&s->r->objects_live, 1, memory_order_relaxed);
    obj_free_tail(s, slot);
}

__thread _Atomic uint64_t *store_freeing;

void store_obj_free(store *s, uint32_t slot)
{
    _Atomic uint64_t *intent = store_freeing;
    if (intent)
        atomic_store_explicit(intent, (uint64_t)s->objs[slot].gen << 32 | slot,
                              memory_order_relaxed);
    obj_free(s, slot);
    if (intent)
        atomic_store_explicit(intent, 0, memory_order_release);
}

void store_count_doubt(store *s, uint64_t freeing)
{
    uint32_t slot = (uint32_t)freeing, gen = (uint32_t)(freeing >> 32);
    if (freeing == STORE_ALLOCATING ||
        (slot && slot < s->max_objects && s->objs[slot].gen == gen &&
         STORE_STATE(atomic_load(&s->objs[slot].state)) == STORE_FREE))
        atomic_store(&s->r->count_doubt, 1);
}

void store_obj_free_resume(store *s, uint64_t freeing)
{
    uint32_t slot = (uint32_t)freeing, gen = (uint32_t)(freeing >> 32);
    if (!slot || slot >= s->max_objects)
        return;
    store_obj *o = &s->objs[slot];
    if (o->gen == gen && STORE_STATE(atomic_load(&o->state)) != STORE_FREE &&
        store_obj_refs(o) <= 0) {
        ray_debug("store", "finishing the free of object %u left half done by a dead process",
                  slot);
        obj_free(s, slot);
    }
}

int store_obj_ref_live(store *s, uint32_t slot, uint32_t gen)
{
    store_obj *o = &s->objs[slot];
    uint64_t h = atomic_load_explicit(&o->hold, memory_order_relaxed);
    do
        if (STORE_HOLD_REFS(h) <= 0)
            return 0; /* its last holder let go: it is being freed */
    while (!atomic_compare_exchange_weak_explicit(&o->hold, &h, h + 1, memory_order_acq_rel,
                                                  memory_order_relaxed));
    if (o->gen == gen && STORE_STATE(atomic_load(&o->state)) != STORE_FREE)
        return 1;
    store_obj_unref(s, slot); /* another object took the slot meanwhile */
    return 0;
}

int store_obj_unref_none(const store *s, uint32_t slot)
{
    ray_error("store", "object %u (generation %u) released with no reference left; ignored",
              slot, s->objs[slot].gen);
    return 0;
}

__thread uint32_t store_mark;

#define MARK_WARN_YIELDS 200000 /* some seconds of waiting for another process's mark */

/* Until the object carries no mark of another process (a few instructions,
 * or a dead process's until the node service settles it); its hold word. */
static uint64_t mark_wait(store_obj *o, uint32_t slot, uint64_t h)
{
    for (unsigned spins = 0, yields = 0; STORE_HOLD_MARK(h) && STORE_HOLD_MARK(h) != store_mark;) {
        if (++spins < 256) {
            ray_cpu_relax();
        } else {
            spins = 0;
            sched_yield();
            if (++yields == MARK_WARN_YIELDS)
                ray_warn("store", "object %u: waiting for process slot %u to finish changing its "
                                  "count (is the node service stuck?)",
                         slot, STORE_HOLD_MARK(h) - 1);
        }
        h = atomic_load_explicit(&o->hold, memory_order_relaxed);
    }
    return h;
}

int store_obj_mark_add(store *s, uint32_t slot, uint32_t gen, int delta)
{
    store_obj *o = &s->objs[slot];
    const uint64_t me = (uint64_t)store_mark << 32;
    if (delta > 0 && o->gen != gen)
        return 0; /* reused already */
    uint64_t h = atomic_load_explicit(&o->hold, memory_order_relaxed);
    for (;;) {
        h = mark_wait(o, slot, h);
        int32_t n = STORE_HOLD_REFS(h);
        if (n <= 0)
            return delta > 0 ? 0 : store_obj_unref_none(s, slot);
        if (atomic_compare_exchange_weak_explicit(&o->hold, &h, me | (uint32_t)(n + delta),
                                                  memory_order_acq_rel, memory_order_relaxed))
            break;
    }
    if (delta < 0)
        return STORE_HOLD_REFS(h) == 1;
    if (o->gen == gen && STORE_STATE(atomic_load(&o->state)) != STORE_FREE)
        return 1;
    store_obj_mark_settle(s, slot, store_mark, 1); /* another object took the slot meanwhile */
    return 0;
}

void store_obj_unmark(store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    uint64_t h = atomic_load_explicit(&o->hold, memory_order_relaxed);
    while (STORE_HOLD_MARK(h) == store_mark &&
           !atomic_compare_exchange_weak_explicit(&o->hold, &h, h & 0xffffffffull,
                                                  memory_order_release, memory_order_relaxed))
        ;
}

uint32_t store_obj_mark_of(const store *s, uint32_t slot)
{
    if (!slot || slot >= s->max_objects)
        return 0;
    return STORE_HOLD_MARK(atomic_load(&s->objs[slot].hold));
}

void store_obj_mark_settle(store *s, uint32_t slot, uint32_t mark, int undo)
{
    store_obj *o = &s->objs[slot];
    uint64_t h = atomic_load_explicit(&o->hold, memory_order_acquire), nh;
    int32_t n;
    do {
        if (!mark || STORE_HOLD_MARK(h) != mark)
            return; /* not (or no longer) its change: a free cleared the mark */
        n = STORE_HOLD_REFS(h) - (undo ? 1 : 0);
        nh = n > 0 ? (uint32_t)n : (uint64_t)mark << 32; /* the last: marked until freed */
    } while (!atomic_compare_exchange_weak_explicit(&o->hold, &h, nh, memory_order_acq_rel,
                                                    memory_order_acquire));
    if (n > 0)
        return;
    if (STORE_STATE(atomic_load(&o->state)) == STORE_FREE)
        obj_free_tail(s, slot); /* it died inside obj_free: the slot goes back */
    else
        store_obj_free(s, slot);
}

int store_obj_watch(store *s, uint32_t slot)
{
    uint32_t old = atomic_fetch_or(&s->objs[slot].state, STORE_WATCHED);
    return STORE_IS_READY(old);
}

void store_prefault(store *s, const _Atomic int *stop, int (*busy)(void *), void *arg)
{
    /* Small steps, each a short stay in the kernel: the caller's stop flag
     * is seen within one of them, and a task that wants this core back
     * gets it when the step returns. */
    const uint64_t chunk = 64ull << 10;
    const struct timespec nap = {0, 20000000};
    for (uint64_t off = 0; off < s->arena_size && !atomic_load(stop);) {
        if (busy && busy(arg)) {
            nanosleep(&nap, NULL);
            continue;
        }
        uint64_t len = RAY_MIN(chunk, s->arena_size - off);
        if (fallocate(s->arena_fd, 0, (off_t)off, (off_t)len) < 0) {
            ray_warn("store", "cannot fault in the object store (%s); puts into fresh "
                              "memory will be slower", strerror(errno));
            return;
        }
        off += len;
        sched_yield(); /* a task woken onto this core runs now, not at the next tick */
    }
    ray_debug("store", "object store of %llu bytes faulted in",
              (unsigned long long)s->arena_size);
}

typedef struct live_block {
    uint64_t off, size;
    uint32_t slot;
} live_block;

static int by_offset(const void *a, const void *b)
{
    const live_block *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int store_repair(store *s)
{
    store_region *r = s->r;
    uint32_t tid = ray_shlock_dead_owner(&r->lock);
    if (!tid)
        return 0;
    /* The dead process may have left the allocator half-updated.  Its state
     * is a function of the live blocks, which the object table names. */
    uint32_t n = ray_freelist_high_water(&r->slots), k = 0;
    live_block *v = calloc(n ? n : 1, sizeof(*v));
    uint64_t *offs = calloc(n ? n : 1, sizeof(uint64_t)), *sizes = calloc(n ? n : 1, 8);
    uint32_t *ids = calloc(n ? n : 1, sizeof(uint32_t));
    int rc = RAY_ENOMEM;
    if (v && offs && sizes && ids) {
        for (uint32_t i = 1; i < n; i++) {
            store_obj *o = &s->objs[i];
            if (STORE_STATE(atomic_load(&o->state)) != STORE_FREE && o->block)
                v[k++] = (live_block){o->u.offset, o->size, i};
        }
        qsort(v, k, sizeof(*v), by_offset);
        for (uint32_t i = 0; i < k; i++) {
            offs[i] = v[i].off;
            sizes[i] = v[i].size;
        }
        rc = store_alloc_rebuild(&r->alloc, s->descs, desc_cap(r->max_objects),
                                 r->arena_size, offs, sizes, ids, k);
        for (uint32_t i = 0; rc == 0 && i < k; i++)
            s->objs[v[i].slot].block = ids[i];
    }
    free(v);
    free(offs);
    free(sizes);
    free(ids);
    if (rc) {
        r->broken = 1; /* the lock is freed, but nothing more is allocated */
        ray_error("store", "could not rebuild the allocator after process %u died "
                           "holding its lock (%s); the store takes no new objects",
                  tid, ray_strerror(rc));
    }
    else
        ray_warn("store", "process %u died holding the store lock; allocator rebuilt "
                          "from %u live objects", tid, k);
    ray_shlock_break(&r->lock, tid);
    return 1;
}

int store_is_lock(const store *s, const ray_shlock *l) { return l == &s->r->lock; }

/* Entries in use below hw: the count when a death left objects_live in doubt. */
static uint64_t count_live(const store_obj *objs, uint32_t hw)
{
    uint64_t n = 0;
    for (uint32_t i = 1; i < hw; i++)
        n += STORE_STATE(atomic_load_explicit(&objs[i].state, memory_order_relaxed)) != STORE_FREE;
    return n;
}

int store_peek_stats(const void *base, uint64_t arena_size, uint32_t max_objects, uint16_t tag,
                     const store_obj *objs, store_stats *out)
{
    const store_region *r = base;
    if (r->magic != STORE_MAGIC || r->arena_size != arena_size || r->max_objects != max_objects ||
        r->tag != tag || r->slots.cap != max_objects || r->alloc.arena_size != arena_size)
        return ray_err(RAY_EPROTO, "not an object store of this layout");
    memset(out, 0, sizeof(*out));
    out->capacity_bytes = arena_size;
    /* Written under the store's lock, which a reader cannot take: one read. */
    out->used_bytes = RAY_MIN(*(const volatile uint64_t *)&r->alloc.used_bytes, arena_size);
    out->table_high_water =
        RAY_MIN(atomic_load_explicit(&r->slots.bump, memory_order_relaxed), max_objects);
    out->objects_live = atomic_load_explicit(&r->objects_live, memory_order_relaxed);
    if (atomic_load_explicit(&r->count_doubt, memory_order_relaxed) ||
        out->objects_live > out->table_high_water)
        out->objects_live = count_live(objs, out->table_high_water);
    out->max_objects = max_objects;
    return 0;
}

void store_get_stats(store *s, store_stats *out)
{
    store_region *r = s->r;
    ray_shlock_lock(&r->lock, (uint32_t)ray_gettid());
    out->used_bytes = r->alloc.used_bytes;
    out->largest_free_bytes = store_alloc_largest_free(&r->alloc, s->descs);
    ray_shlock_unlock(&r->lock);
    out->capacity_bytes = s->arena_size;
    out->table_high_water = ray_freelist_high_water(&r->slots);
    out->objects_live = atomic_load(&r->objects_live);
    if (atomic_load(&r->count_doubt)) /* count them: exact when nothing moves */
        out->objects_live = count_live(s->objs, RAY_MIN(out->table_high_water, s->max_objects));
    out->max_objects = r->max_objects;
}

int store_check(store *s)
{
    ray_shlock_lock(&s->r->lock, (uint32_t)ray_gettid());
    int rc = store_alloc_check(&s->r->alloc, s->descs);
    ray_shlock_unlock(&s->r->lock);
    return rc;
}
