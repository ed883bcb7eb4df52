/*
 * store.h - the whole interface of src/store: the node's object store.
 *
 * An object is an entry in a table in the control region (shared memory,
 * mapped by every process of the node) plus its bytes: up to
 * STORE_INLINE_MAX bytes live in the entry itself, larger objects in the
 * arena, one memfd per node that will be registered once for RDMA.  The
 * arena holds only user bytes; its allocator (TLSF, O(1)) keeps its block
 * descriptors out of band in the control region, so an object written past
 * its end cannot corrupt the allocator.
 *
 * Any process of the node may create, seal, reference and release objects:
 * the entry state and reference count are atomics, the allocator is under
 * one shared lock whose owner the node service can break (and repair the
 * allocator from the table) when a worker dies holding it.
 */
#ifndef RAY_STORE_H
#define RAY_STORE_H

#include "common/common.h"

#define STORE_INLINE_MAX 24
#define STORE_ALIGN 64

enum store_state {
    STORE_FREE = 0,
    STORE_PENDING = 1, /* output of a task not yet run */
    STORE_CREATED = 2, /* ray_create'd, being written */
    STORE_SEALED = 3,
    STORE_ERROR = 4,   /* bytes are the error message, err the code */
};
#define STORE_STATE_MASK 0xffu
#define STORE_WATCHED 0x100u /* the node service wants to hear when it is ready */
#define STORE_STATE(s) ((s)&STORE_STATE_MASK)
#define STORE_IS_READY(s) (STORE_STATE(s) >= STORE_SEALED)

typedef struct store_obj {
    _Atomic uint32_t state; /* store_state | STORE_WATCHED */
    uint32_t gen;           /* generation, in the object's id */
    /* Holders (processes, pending tasks, producer) in the low half; the
     * high half marks a holder's change in flight (see "Marked changes"):
     * one word, so a count and its mark move in one instruction. */
    _Atomic uint64_t hold;
    uint64_t size;          /* bytes */
    union {
        uint32_t task;      /* producing task slot, while PENDING */
        uint32_t next_free; /* free-stack link, while FREE */
    };
    int32_t err;            /* RAY_E* code, when ERROR */
    uint32_t block;         /* allocator descriptor, 0 for inline bytes */
    uint16_t creator;       /* client slot that made it (CREATED); 0: the service */
    uint16_t flags;
    union {
        uint64_t offset;    /* arena offset of the bytes */
        uint8_t inl[STORE_INLINE_MAX];
    } u;
} store_obj;
_Static_assert(sizeof(store_obj) == 64, "store_obj is one cache line");

/* ---- allocator (alloc.c): out-of-band TLSF over [0, arena_size) */

#define STORE_SL_LOG2 5
#define STORE_SL_COUNT (1u << STORE_SL_LOG2)
#define STORE_FL_COUNT 54

typedef struct store_block {
    uint64_t off;
    uint64_t size;       /* multiple of STORE_ALIGN; bit 0 set when free */
    uint32_t prev_phys, next_phys;
    uint32_t prev_free, next_free;
} store_block;

typedef struct store_alloc {
    uint64_t arena_size;
    uint64_t used_bytes;
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[STORE_FL_COUNT];
    uint32_t heads[STORE_FL_COUNT][STORE_SL_COUNT];
    uint32_t desc_cap, desc_bump, desc_free, blocks_used;
} store_alloc;

void store_alloc_init(store_alloc *a, store_block *descs, uint32_t desc_cap,
                      uint64_t arena_size);
/* Returns a descriptor id (> 0) and the block offset, or 0 when no block fits. */
uint32_t store_alloc_get(store_alloc *a, store_block *descs, uint64_t size, uint64_t *off);
/* Returns 0, or RAY_EINVAL if id is not an allocated block (a bad id is
 * reported, never followed). */
int store_alloc_put(store_alloc *a, store_block *descs, uint32_t id);
uint64_t store_alloc_largest_free(const store_alloc *a, const store_block *descs);
/* Rebuilds all allocator state from the list of live blocks (off, size),
 * sorted by offset; writes each block's new descriptor id into ids[]. */
int store_alloc_rebuild(store_alloc *a, store_block *descs, uint32_t desc_cap,
                        uint64_t arena_size, const uint64_t *offs, const uint64_t *sizes,
                        uint32_t *ids, size_t n);
/* Walks every block and checks links, sizes and bitmaps (tests, debug). */
int store_alloc_check(const store_alloc *a, const store_block *descs);

/* ---- the store (store.c) */

typedef struct store_region store_region; /* shared header, in the control region */

typedef struct store {
    store_region *r;
    store_obj *objs;            /* read-write */
    const store_obj *objs_ro;   /* the same table mapped read-only: inline views */
    store_block *descs;
    uint8_t *arena;             /* read-write mapping */
    const uint8_t *arena_ro;    /* read-only mapping: views */
    uint64_t arena_size;
    uint64_t *mapped_rw, *mapped_ro; /* 2 MiB chunks this process has mapped in */
    uint32_t max_objects;
    uint16_t client;            /* this process's client slot */
    int arena_fd;
} store;

/* Where the calling thread says which object it is freeing (its process's
 * shared slot: the node service finishes the free if the process dies half
 * way), or NULL: set for the thread the node service tracks. */
extern __thread _Atomic uint64_t *store_freeing;

/* Bytes of control region the store needs, and the offset of the object
 * table inside it (page aligned, so it can be mapped read-only alone). */
uint64_t store_region_size(uint32_t max_objects);
uint64_t store_objs_offset(void);
void store_region_init(void *base, uint32_t max_objects, uint64_t arena_size, uint16_t tag);
/* Attaches to a region: base is the store's part of the control region (rw),
 * objs_ro a read-only mapping of its object table. */
int store_attach(store *s, void *base, const void *objs_ro, int arena_fd, uint64_t arena_size);
void store_detach(store *s);
uint16_t store_tag(const store *s);
/* Before any object exists (a job of several nodes takes rank 0's). */
void store_set_tag(store *s, uint16_t tag);

static inline store_obj *store_obj_at(const store *s, uint32_t slot) { return &s->objs[slot]; }

/* The entry for an id of this node, or NULL (with the error set) if the id is
 * malformed, of another job, freed or reused. */
store_obj *store_obj_lookup(const store *s, ray_id id);

/* Where a holder records an object: its slot and generation. */
typedef struct store_rec { uint32_t slot, gen; } store_rec;

/* Takes a free entry: state, refs and creator set, size 0.  RAY_ETOOBIG when
 * the table is full.  Right after the slot is taken, before anything else,
 * it goes to *slot and (slot, gen) to each rec[0..nrec): where its holders
 * record it, so that whenever a process dies the object is either recorded
 * by its holders or was never taken. */
int store_obj_new_at(store *s, uint32_t state, int32_t refs, uint32_t *slot, store_rec *const *rec,
                     int nrec);
static inline int store_obj_new(store *s, uint32_t state, int32_t refs, uint32_t *slot)
{
    return store_obj_new_at(s, state, refs, slot, NULL, 0);
}
/* Gives an entry `size` bytes (inline or arena) and returns where to write
 * them.  RAY_ENOMEM with how much was asked and is free. */
int store_obj_alloc(store *s, uint32_t slot, uint64_t size, void **data);
/* Frees the bytes an unsealed entry was given (a failed or retried task). */
void store_obj_reset(store *s, uint32_t slot);
/* PENDING -> CREATED: its bytes are being written by the node service
 * (from another node), so nobody fails it meanwhile; 0 if it was not
 * PENDING any more.  The creator becomes this store's client (0, the
 * service) before the state says CREATED: the driver that submitted the
 * task made the PENDING entry, and must not take it for one of its own
 * ray_create objects while the result arrives. */
int store_obj_writing(store *s, uint32_t slot);
/* PENDING or CREATED -> SEALED.  Returns 1 if the node service watches it. */
int store_obj_seal(store *s, uint32_t slot);
/* -> ERROR with code and message.  Returns 1 if watched. */
int store_obj_fail(store *s, uint32_t slot, int code, const char *msg, size_t len);
/* Copies src's error (code and message) into dst.  Returns 1 if dst is watched. */
int store_obj_copy_error(store *s, uint32_t dst, uint32_t src);
#define STORE_HOLD_REFS(h) ((int32_t)(uint32_t)(h))
#define STORE_HOLD_MARK(h) ((uint32_t)((h) >> 32))
static inline int32_t store_obj_refs(const store_obj *o)
{
    return STORE_HOLD_REFS(atomic_load_explicit(&((store_obj *)o)->hold, memory_order_acquire));
}
static inline void store_obj_ref(store *s, uint32_t slot)
{
    atomic_fetch_add_explicit(&s->objs[slot].hold, 1, memory_order_relaxed);
}
void store_obj_free(store *s, uint32_t slot);
/* In *store_freeing while the thread is inside store_obj_new_at. */
#define STORE_ALLOCATING UINT64_MAX
/* Node service: a process died with *store_freeing == freeing; if that may
 * have been between an entry's state and the count of live objects, the
 * stats count the table from now on. */
void store_count_doubt(store *s, uint64_t freeing);
/* Node service: a process died while freeing object (gen << 32 | slot):
 * finish that free if the object is still half freed. */
void store_obj_free_resume(store *s, uint64_t freeing);
/* One more reference on object (slot, gen) if it is still live: never
 * brings back an object whose last holder let go.  Returns 1 if taken. */
int store_obj_ref_live(store *s, uint32_t slot, uint32_t gen);
/* A release of an object nobody holds (a double release): logged, ignored. */
int store_obj_unref_none(const store *s, uint32_t slot);
/* The last reference is gone: from here on the object is recorded as
 * being freed (a death now is finished by the service); 1. */
static inline int store_obj_freeing(const store_obj *o, uint32_t slot)
{
    if (store_freeing)
        atomic_store_explicit(store_freeing, (uint64_t)o->gen << 32 | slot, memory_order_relaxed);
    return 1;
}
/* Drops one reference; 1 if it was the last: the caller frees the object,
 * which from this instruction on is recorded as being freed.  Never below
 * zero, so a mistaken release cannot reach into the mark. */
static inline int store_obj_unref_last(store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    uint64_t h = atomic_load_explicit(&o->hold, memory_order_relaxed);
    do
        if (STORE_HOLD_REFS(h) <= 0)
            return store_obj_unref_none(s, slot);
    while (!atomic_compare_exchange_weak_explicit(&o->hold, &h, h - 1, memory_order_acq_rel,
                                                  memory_order_relaxed));
    return STORE_HOLD_REFS(h) == 1 && store_obj_freeing(o, slot);
}
/* Drops the one reference left, only if it is the last and no process is
 * changing the count (the word is exactly 1): 1 if it did (the caller
 * frees the object), 0 if someone took one meanwhile. */
static inline int store_obj_unref_only(store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    uint64_t h = 1;
    return atomic_compare_exchange_strong_explicit(&o->hold, &h, 0, memory_order_acq_rel,
                                                   memory_order_relaxed) &&
           store_obj_freeing(o, slot);
}
static inline void store_obj_unref(store *s, uint32_t slot)
{
    if (store_obj_unref_last(s, slot))
        store_obj_free(s, slot);
}

/* ---- Marked changes: a count and its record, for a process that may die.
 *
 * A holder records each reference it has somewhere of its own (a list
 * entry, a task's argument count); the count and the record are two
 * words, so a process killed between changing one and the other would
 * leave the node service unable to tell whether its count moved.  A
 * tracked thread (store_mark set: its process's client slot + 1) so
 * changes the count and marks the object as its in one instruction,
 * writes or clears its record, then drops the mark.  Before it starts it
 * writes in its own slot which object and which record (sched: the
 * journal), so if it dies the service finds the object, sees whether the
 * mark is still there (the count moved, the record maybe not), looks at
 * the record and finishes or undoes the change.  One mark per object at a
 * time: another marker waits a few instructions; unmarked changes (the
 * service, drivers' threads) go on beside it.  Threads without a mark
 * (store_mark 0) get the plain changes. */
extern __thread uint32_t store_mark;

/* +1 (live objects of generation gen only: 0 if it is freed or reused,
 * and nothing moved) or -1 (1 if that was the last reference: the object
 * stays marked while the caller frees it), with the mark set. */
int store_obj_mark_add(store *s, uint32_t slot, uint32_t gen, int delta);
/* This thread's mark goes (the count stays); a mark of another process
 * (the object was freed and reused meanwhile) is left alone. */
void store_obj_unmark(store *s, uint32_t slot);
/* Node service: the mark on object slot (0: none, or not a slot). */
uint32_t store_obj_mark_of(const store *s, uint32_t slot);
/* Node service, for a dead process whose mark is `mark`, if the object
 * still carries it: its change undone (-1 after a +1 that is not
 * recorded) or kept, the mark removed, and the object freed if nobody
 * holds it (or its free finished, if the process died inside it). */
void store_obj_mark_settle(store *s, uint32_t slot, uint32_t mark, int undo);

/* Sets WATCHED; returns 1 if the object is already ready (no notice will come). */
int store_obj_watch(store *s, uint32_t slot);

static inline const void *store_obj_view(const store *s, uint32_t slot)
{
    const store_obj *o = &s->objs[slot];
    return o->block ? (const void *)(s->arena_ro + o->u.offset) : (const void *)s->objs_ro[slot].u.inl;
}
static inline void *store_obj_data(const store *s, uint32_t slot)
{
    store_obj *o = &s->objs[slot];
    return o->block ? (void *)(s->arena + o->u.offset) : (void *)o->u.inl;
}
static inline ray_id store_obj_id(const store *s, uint32_t slot, uint32_t node)
{
    ray_id id = {node, slot, s->objs[slot].gen, store_tag(s), RAY_ID_OBJECT, 0};
    return id;
}

/* Maps [off, off+size) of the arena into this process's page tables in one
 * call per 2 MiB chunk never mapped here before (write: the rw mapping). */
void store_populate(store *s, uint64_t off, uint64_t size, int write);

/* Faults the arena in (fallocate), from a background thread of the node
 * service; returns early when *stop becomes non-zero, and naps while
 * busy(arg) says the node has better use for the CPU (busy may be NULL). */
void store_prefault(store *s, const _Atomic int *stop, int (*busy)(void *), void *arg);
/* Called by the node service after reaping a process: if a dead thread
 * holds the allocator lock, rebuild the allocator from the object table and
 * free the lock.  Returns 1 if a repair was done. */
int store_repair(store *s);
/* Whether l is the store's lock (for the node service's lock repair). */
int store_is_lock(const store *s, const ray_shlock *l);

/* Checks the allocator under the store lock (tests, debugging). */
int store_check(store *s);

typedef struct store_stats {
    uint64_t capacity_bytes, used_bytes, largest_free_bytes, objects_live;
    uint32_t table_high_water, max_objects;
} store_stats;
void store_get_stats(store *s, store_stats *out);
/* The same read from a store region mapped read-only by another process
 * (ray-mpi status): no lock taken, nothing written; RAY_EPROTO unless the
 * header is this layout's (arena size, table size, the job's tag).  The
 * largest free block is not computed (0). */
int store_peek_stats(const void *base, uint64_t arena_size, uint32_t max_objects, uint16_t tag,
                     const store_obj *objs, store_stats *out);

#endif /* RAY_STORE_H */
