/*
 * copies.c - refs to other nodes' objects, as this process uses them.
 * The node service keeps a local copy of another node's object (its bytes
 * fetched when someone here waits for them); this process asks for it once
 * (MSG_COPY), holds it like any local object, and remembers which copy
 * stands for which remote ref, so that ray_get, task arguments and
 * ray_release of the remote ref all work on the copy.
 */
#include "client.h"

#include <stdlib.h>

typedef struct copy_ent {
    uint32_t node, slot, gen; /* the remote ref */
    uint32_t lslot, lgen;     /* its local copy */
} copy_ent;

static copy_ent *copies;     /* open addressing; node == UINT32_MAX: empty */
static size_t ncopies, ccap; /* entries, capacity (a power of two) */

static size_t hash(ray_id id)
{
    uint64_t k = ((uint64_t)id.node << 32 | id.slot) * 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 17);
}

static copy_ent *find(ray_id id)
{
    for (size_t i = hash(id) & (ccap - 1), n = 0; ccap && n < ccap; i = (i + 1) & (ccap - 1), n++) {
        if (copies[i].node == UINT32_MAX)
            return NULL;
        if (copies[i].node == id.node && copies[i].slot == id.slot && copies[i].gen == id.gen)
            return &copies[i];
    }
    return NULL;
}

/* Caller holds ray_cl.lock. */
static void put(ray_id id, uint32_t lslot, uint32_t lgen)
{
    copy_ent *e = find(id);
    if (!e && (ncopies + 1) * 2 > ccap) { /* grow, dropping stale entries */
        size_t cap = ccap ? ccap * 2 : 256;
        copy_ent *old = copies, *nw = malloc(cap * sizeof(*nw));
        if (!nw)
            return;
        for (size_t i = 0; i < cap; i++)
            nw[i].node = UINT32_MAX;
        size_t oldcap = ccap;
        copies = nw;
        ccap = cap;
        ncopies = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].node != UINT32_MAX && client_hold_held(old[i].lslot, old[i].lgen))
                put((ray_id){old[i].node, old[i].slot, old[i].gen, 0, 0, 0}, old[i].lslot,
                    old[i].lgen);
        free(old);
    }
    if (!e) {
        size_t i = hash(id) & (ccap - 1);
        while (copies[i].node != UINT32_MAX)
            i = (i + 1) & (ccap - 1);
        e = &copies[i];
        ncopies++;
    }
    *e = (copy_ent){id.node, id.slot, id.gen, lslot, lgen};
}

/* The copy this process holds for remote ref id, or 0. */
static int held_copy(ray_id id, uint32_t *lslot, uint32_t *lgen)
{
    pthread_mutex_lock(&ray_cl.lock);
    copy_ent *e = find(id);
    int held = e && client_hold_held(e->lslot, e->lgen);
    if (held) {
        *lslot = e->lslot;
        *lgen = e->lgen;
    }
    pthread_mutex_unlock(&ray_cl.lock);
    return held;
}

/* Asks the service for the copy of id and holds it. */
static int take_copy(ray_id id, int pull, uint32_t *lslot, uint32_t *lgen)
{
    for (int tries = 0; tries < 3; tries++) {
        msg_proxy m = {0, pull ? MSG_COPY_PULL : 0, id.node, id.slot, id.gen, 0};
        sched_out got;
        uint32_t len = 0;
        int rc = client_request(MSG_COPY, &m, sizeof(m), &got, sizeof(got), &len);
        if (rc)
            return rc;
        if (len != sizeof(got))
            return ray_err(RAY_EPROTO, "short answer from the node service");
        pthread_mutex_lock(&ray_cl.lock);
        rc = client_hold_acquire(got.slot, got.gen);
        if (rc >= 0)
            put(id, got.slot, got.gen);
        pthread_mutex_unlock(&ray_cl.lock);
        if (rc >= 0) {
            *lslot = got.slot;
            *lgen = got.gen;
            return 0;
        } /* it went between the answer and our hold: ask again */
    }
    return ray_err(RAY_ESYS, "the node service keeps dropping the copy of obj:%u:%u:%u", id.node,
                   id.slot, id.gen);
}

int client_resolve(ray_ref ref, int how, ray_id *id, store_obj **o)
{
    int rc = client_check();
    if (rc)
        return rc;
    *id = ray_ref_id(ref);
    if (RAY_LIKELY(id->node == ray_cl.node))
        return client_lookup(ref, id, o);
    char buf[64];
    ray_id_format(*id, buf, sizeof(buf));
    if (id->node >= ray_cl.num_nodes || id->kind != RAY_ID_OBJECT ||
        id->tag != store_tag(cl_store()))
        return ray_err(RAY_EINVAL, "ref %s is not an object ref of this job (it has %u nodes)", buf,
                       ray_cl.num_nodes);
    uint32_t ls, lg;
    if (held_copy(*id, &ls, &lg)) {
        store_obj *e = store_obj_at(cl_store(), ls);
        if (how == CLIENT_RESOLVE_PULL && !STORE_IS_READY(atomic_load(&e->state)) &&
            (rc = take_copy(*id, 1, &ls, &lg)))
            return rc;
    } else if (how == CLIENT_RESOLVE_HELD) {
        return ray_err(RAY_EINVAL, "ref %s is not held by this process (released twice?)", buf);
    } else if ((rc = take_copy(*id, how == CLIENT_RESOLVE_PULL, &ls, &lg))) {
        return ray_err(rc, "ref %s of node %u: %s", buf, id->node, ray_last_error());
    }
    *id = store_obj_id(cl_store(), ls, ray_cl.node);
    *o = store_obj_at(cl_store(), ls);
    return 0;
}

/* ---- room in a full store */

/* In a job of several nodes a full store is often full of what others
 * no longer use: copies a node keeps a while after its last holder let go
 * (and, on the owner, the originals those copies keep alive), and
 * releases still on their way.  The service lets its idle copies go at
 * once and asks the other nodes to do the same with copies of ours
 * (MSG_RECLAIM); the allocation is retried, with growing naps, for
 * RAY_MPI_STORE_FULL_WAIT_S.  In a job of one node nothing frees itself:
 * RAY_ENOMEM at once. */
int client_store_alloc(uint32_t slot, uint64_t size, void **data)
{
    store *st = cl_store();
    int rc = store_obj_alloc(st, slot, size, data);
    if (rc != RAY_ENOMEM || ray_cl.num_nodes < 2 || size > st->arena_size ||
        !(ray_cl.cfg.store_full_wait_s > 0))
        return rc;
    double wait_s = RAY_MIN(ray_cl.cfg.store_full_wait_s, 86400.0);
    uint64_t start = ray_now_ns(), end = start + (uint64_t)(wait_s * 1e9);
    uint64_t nap_ns = 100000, asked_ns = 0;
    for (;;) {
        uint64_t now = ray_now_ns();
        if (!asked_ns || now - asked_ns >= 20000000ULL) { /* again if no room came */
            msg_reclaim m = {0, 0, size};
            if ((rc = client_request(MSG_RECLAIM, &m, sizeof(m), NULL, 0, NULL)))
                return rc; /* the service is gone: that is the error */
            asked_ns = now;
        }
        if ((rc = store_obj_alloc(st, slot, size, data)) != RAY_ENOMEM || ray_now_ns() >= end)
            break;
        struct timespec ts = {0, (long)nap_ns};
        nanosleep(&ts, NULL);
        nap_ns = RAY_MIN(nap_ns * 2, 10000000ULL);
    }
    if (rc == RAY_ENOMEM) {
        char why[256];
        snprintf(why, sizeof(why), "%s", ray_last_error());
        rc = ray_err(RAY_ENOMEM, "%s (after %.1f s of waiting for room, RAY_MPI_STORE_FULL_WAIT_S)",
                     why, (ray_now_ns() - start) / 1e9);
    }
    return rc;
}
