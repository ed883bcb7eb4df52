/*
 * refs.c - the references this process holds.  The store counts holders
 * (processes, pending tasks, producers) in each entry; this process says
 * which objects it is a holder of in two places:
 *
 *   holds[slot]  private, indexed by object slot: the generation held (or
 *                released here), the task frame that took it and its place
 *                in the list below;
 *   the list     in this process's shared slot (sched_client_held): every
 *                (slot, gen) held, so that when this process dies the node
 *                service releases them (a dead worker leaks nothing).
 *
 * So a release of a ref not held is an error instead of a double free, and
 * a task's leftover refs are dropped when it returns (its frame).  A
 * worker's main thread changes the count and its list entry as a marked
 * change (store.h), so the node service finishes or undoes it if the
 * worker dies in between; a crash while the list closes up can leave an
 * entry in twice, which the service drops (a process holds an object
 * once).  Other threads' changes can leak a reference if their process
 * dies in the middle, never free one twice.
 */
#include "client.h"

#define HOLD(gen, frame, pos) ((uint64_t)(gen) << 32 | (uint64_t)(frame) << 24 | (pos))
#define HOLD_GEN(h) ((uint32_t)((h) >> 32))
#define HOLD_FRAME(h) ((uint32_t)((h) >> 24) & 0x7fu)
#define HOLD_POS(h) ((uint32_t)(h)&0xffffffu) /* list index + 1; 0: not listed */
/* Released by this process: its ref is dead here, though the object may
 * live on (a task still holds it); kept until the slot is reused.  The
 * position field then holds the task epoch it was released in: a worker's
 * later task may borrow the same ref again. */
#define HOLD_RELEASED (1ull << 31)
#define HOLD_IS_HELD(h, gen) (HOLD_GEN(h) == (gen) && !((h)&HOLD_RELEASED))

/* holds[] changes under ray_cl.lock; ray_get reads it without (a ref this
 * thread holds stays held until this thread lets go of it). */
static inline uint64_t hold_get(uint32_t slot)
{
    return __atomic_load_n(&ray_cl.holds[slot], __ATOMIC_RELAXED);
}

static inline void hold_set(uint32_t slot, uint64_t h)
{
    __atomic_store_n(&ray_cl.holds[slot], h, __ATOMIC_RELAXED);
}

static uint32_t frame_now(void)
{
    if (!ray_cl.task || !ray_cl.auto_release)
        return 0; /* held until released (drivers, actors' state) */
    return RAY_MIN(atomic_load(&ray_cl.me->depth), 127u);
}

/* A new entry at the end of the list, holding (slot, gen) (slot 0: to be
 * filled in); its position + 1, or 0 when the list is full (not tracked:
 * leaked only if this process dies). */
static uint32_t list_add(uint32_t slot, uint32_t gen)
{
    sched_client *me = ray_cl.me;
    sched_out *list = sched_client_held(cl_sched(), ray_cl.slot);
    uint32_t n = atomic_load_explicit(&me->held_n, memory_order_relaxed);
    if (n >= SCHED_HELD_MAX)
        return 0;
    list[n] = (sched_out){slot, gen};
    atomic_store_explicit(&me->held_n, n + 1, memory_order_release);
    return n + 1;
}

/* Removes entry pos-1 (already cleared): the last one is copied into the
 * hole, then the list shrinks.  A crash in between leaves that entry in
 * twice, at the end and in the hole; a process holds an object once, so
 * the node service drops such a last entry (release_holds). */
static void list_remove(uint32_t pos)
{
    sched_client *me = ray_cl.me;
    sched_out *list = sched_client_held(cl_sched(), ray_cl.slot);
    uint32_t n = atomic_load_explicit(&me->held_n, memory_order_relaxed), i = pos - 1;
    if (!pos || i >= n)
        return;
    sched_out last = list[n - 1];
    if (i != n - 1 && last.slot) {
        list[i].gen = last.gen;
        atomic_signal_fence(memory_order_seq_cst);
        list[i].slot = last.slot;
        uint64_t h = hold_get(last.slot);
        hold_set(last.slot, HOLD(HOLD_GEN(h), HOLD_FRAME(h), i + 1));
    }
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&me->held_n, n - 1, memory_order_release);
}

/* Caller holds ray_cl.lock. */
void client_hold_new(uint32_t slot, uint32_t gen)
{
    uint32_t pos = list_add(slot, gen);
    hold_set(slot, HOLD(gen, frame_now(), pos));
}

store_rec *client_hold_reserve(uint32_t *pos)
{
    static store_rec untracked;
    *pos = list_add(0, 0);
    return *pos ? &sched_client_held(cl_sched(), ray_cl.slot)[*pos - 1] : &untracked;
}

void client_hold_made(uint32_t pos, uint32_t slot, uint32_t gen)
{
    if (slot)
        hold_set(slot, HOLD(gen, frame_now(), pos));
    else
        list_remove(pos);
}

int client_hold_held(uint32_t slot, uint32_t gen)
{
    return HOLD_IS_HELD(hold_get(slot), gen);
}

int client_hold_acquire(uint32_t slot, uint32_t gen)
{
    uint64_t h = hold_get(slot);
    if (HOLD_GEN(h) == gen && !(h & HOLD_RELEASED))
        return 0;
    if (HOLD_GEN(h) == gen && HOLD_POS(h) == (ray_cl.epoch & 0xffffffu))
        return ray_err(RAY_EINVAL, "released by this process");
    store *st = cl_store();
    if (!store_mark) {
        if (!store_obj_ref_live(st, slot, gen))
            return ray_err(RAY_EINVAL, "released (its object is freed)");
        client_hold_new(slot, gen);
        return 1;
    }
    /* Marked (store.h): the entry it will take is in the journal. */
    uint32_t next = atomic_load_explicit(&ray_cl.me->held_n, memory_order_relaxed) + 1;
    sched_journal_note(slot, gen, SCHED_JNL_REC(SCHED_JNL_LIST_ADD, next, 0));
    if (!store_obj_mark_add(st, slot, gen, 1))
        return ray_err(RAY_EINVAL, "released (its object is freed)");
    client_hold_new(slot, gen);
    store_obj_unmark(st, slot);
    return 1;
}

int client_lookup(ray_ref ref, ray_id *id, store_obj **o)
{
    int rc = client_check();
    if (rc)
        return rc;
    *id = ray_ref_id(ref);
    if (RAY_UNLIKELY(id->node != ray_cl.node)) {
        char buf[64];
        ray_id_format(*id, buf, sizeof(buf));
        if (id->node >= ray_cl.num_nodes)
            return ray_err(RAY_EINVAL, "ref %s names node %u; this job has %u node(s)", buf,
                           id->node, ray_cl.num_nodes);
        return ray_err(RAY_EINVAL, "ref %s lives on node %u; objects of other nodes are "
                                   "not reachable yet", buf, id->node);
    }
    *o = store_obj_lookup(cl_store(), *id);
    return *o ? 0 : RAY_EINVAL;
}

/* Caller holds ray_cl.lock: forgets the hold and drops its count right
 * after (a death between the two leaks one reference, never drops it
 * twice); 1 if that was the object's last reference (the caller frees it,
 * after the lock). */
static int forget(uint32_t slot)
{
    RAY_FAULT(RELEASE);
    store *st = cl_store();
    uint64_t h = hold_get(slot);
    uint32_t pos = HOLD_POS(h);
    hold_set(slot, HOLD(HOLD_GEN(h), 0, ray_cl.epoch & 0xffffffu) | HOLD_RELEASED);
    sched_out *list = sched_client_held(cl_sched(), ray_cl.slot);
    if (!store_mark || !pos) {
        if (pos) /* out of the list in one store, then the count */
            list[pos - 1].slot = 0;
        atomic_signal_fence(memory_order_seq_cst);
        int last = store_obj_unref_last(st, slot);
        list_remove(pos);
        return last;
    }
    /* Marked (store.h): the count drops with the mark, the entry goes,
     * the mark goes (or stays until the free, after the last). */
    sched_journal_note(slot, HOLD_GEN(h), SCHED_JNL_REC(SCHED_JNL_LIST_DROP, pos, 0));
    int last = store_obj_mark_add(st, slot, 0, -1);
    list[pos - 1].slot = 0;
    atomic_signal_fence(memory_order_seq_cst);
    list_remove(pos);
    if (!last)
        store_obj_unmark(st, slot);
    return last;
}

static int not_held(ray_id id)
{
    char buf[64];
    ray_id_format(id, buf, sizeof(buf));
    return ray_err(RAY_EINVAL, "ref %s is not held by this process (released twice?)", buf);
}

int client_hold_release(ray_id id)
{
    store *st = cl_store();
    store_obj *o = store_obj_at(st, id.slot);
    if (client_hold_held(id.slot, id.gen) && STORE_STATE(atomic_load(&o->state)) == STORE_CREATED &&
        o->creator == ray_cl.slot) {
        /* Released before ray_seal: it will never be sealed, so whoever
         * waits for it (a task it was passed to) gets an error, not a hang. */
        static const char msg[] = "its creator released it before ray_seal";
        client_notify(&id.slot, store_obj_fail(st, id.slot, RAY_EINVAL, msg, sizeof(msg) - 1));
    }
    return client_hold_drop(id);
}

int client_hold_drop(ray_id id)
{
    pthread_mutex_lock(&ray_cl.lock);
    if (!HOLD_IS_HELD(hold_get(id.slot), id.gen)) {
        pthread_mutex_unlock(&ray_cl.lock);
        return not_held(id);
    }
    int last = forget(id.slot);
    pthread_mutex_unlock(&ray_cl.lock);
    if (last)
        store_obj_free(cl_store(), id.slot);
    return 0;
}

void client_hold_release_frame(uint32_t frame)
{
    /* Only this thread adds holds of its frame, so an empty list read
     * without the lock means there is nothing of ours to drop. */
    if (!frame || !atomic_load_explicit(&ray_cl.me->held_n, memory_order_relaxed))
        return;
    sched_out *list = sched_client_held(cl_sched(), ray_cl.slot);
    pthread_mutex_lock(&ray_cl.lock);
    for (uint32_t i = 0; i < atomic_load(&ray_cl.me->held_n);) {
        sched_out h = list[i];
        uint64_t hold = hold_get(h.slot);
        if (HOLD_FRAME(hold) != frame || !HOLD_IS_HELD(hold, h.gen)) {
            i++;
            continue;
        }
        if (forget(h.slot)) { /* it moved the last entry into i: look at i again */
            pthread_mutex_unlock(&ray_cl.lock);
            store_obj_free(cl_store(), h.slot);
            pthread_mutex_lock(&ray_cl.lock);
        }
    }
    pthread_mutex_unlock(&ray_cl.lock);
}
