/*
 * waiters.c - who waits for which object: tasks the service holds for
 * their arguments, and processes asleep in ray_get/ray_wait.  A sealer
 * whose object is watched tells the service (MSG_NOTIFY); the waiters of
 * that object then run, each once, for the object's generation.
 */
#define _GNU_SOURCE
#include "service.h"

#include <stdlib.h>

int svc_watch(sched_service *svc, uint32_t obj)
{
    return sched_hint_watch(&svc->sh, obj, 0, 0, NULL, 0); /* its sealer must wake us */
}

void svc_waiter_add(sched_service *svc, uint32_t obj, uint32_t kind, uint32_t id, uint32_t idgen)
{
    uint64_t first = 0;
    uint32_t objgen = svc->sh.st.objs[obj].gen;
    if (svc->cluster && (kind == WAITER_TASK || kind == WAITER_CLIENT))
        pull_wanted(svc, obj); /* a copy of another node's object: its bytes are wanted */
    ray_map64_get(&svc->wait_heads, obj, &first);
    if (kind == WAITER_CLIENT) /* waits that timed out and came again: once each */
        for (uint32_t j = (uint32_t)first; j; j = RAY_VEC_AT(&svc->wpool, waiter, j - 1).next) {
            waiter *w = &RAY_VEC_AT(&svc->wpool, waiter, j - 1);
            if (w->kind == kind && w->id == id && w->idgen == idgen && w->objgen == objgen)
                return;
        }
    uint32_t i = svc->wfree;
    if (i) {
        svc->wfree = RAY_VEC_AT(&svc->wpool, waiter, i - 1).next;
    } else {
        if (!ray_vec_push(&svc->wpool)) {
            ray_error("sched", "out of memory for waiters");
            return;
        }
        i = (uint32_t)svc->wpool.len;
    }
    uint64_t head = 0;
    ray_map64_get(&svc->wait_heads, obj, &head);
    waiter *w = &RAY_VEC_AT(&svc->wpool, waiter, i - 1);
    *w = (waiter){(uint32_t)head, kind, id, idgen, svc->sh.st.objs[obj].gen};
    ray_map64_put(&svc->wait_heads, obj, i);
}

/* Named task b, if the service still holds it unwatched: taken to the
 * ready queue when its arguments are ready, taken in when one failed.
 * Returns 1 while it still waits so. */
static int named_look(sched_service *svc, sched_out b)
{
    sched *sh = &svc->sh;
    if (!svc_task_valid(svc, b.slot, b.gen) || svc->owned[b.slot] != b.gen ||
        svc->missing[b.slot] != SVC_NAMED)
        return 0;
    int r = sched_hint_take(sh, b, 0, NULL);
    if (r == 0)
        return 1;
    if (atomic_load(&sh->tasks[b.slot].state) & TASK_F_WAS_WAITING)
        return 0; /* cancelled: its MSG_CANCEL comes, and frees it */
    svc->owned[b.slot] = 0;
    svc->missing[b.slot] = 0;
    if (r < 0)
        svc_take_task(svc, b.slot); /* watched from now on: it fails on its error */
    return 0;
}

void svc_named_add(sched_service *svc, uint32_t t, uint32_t gen)
{
    sched_out *p = ray_vec_push(&svc->named);
    if (!p) { /* no room to remember it: watch it as any other */
        svc_take_task(svc, t);
        return;
    }
    *p = (sched_out){t, gen};
    svc->owned[t] = gen;
    svc->missing[t] = SVC_NAMED;
    /* An argument's error may have been told before this: look now. */
    if (!named_look(svc, *p))
        svc->named.len--;
}

void svc_named_run(sched_service *svc, uint32_t obj)
{
    sched *sh = &svc->sh;
    if (obj) {
        uint64_t w = atomic_load(&sh->hints[obj].word);
        if ((uint32_t)(w >> 32) != sh->st.objs[obj].gen)
            return;
        for (int i = 0; i < SCHED_HINTS; i++) {
            uint64_t c = atomic_load(&sh->hints[obj].task[i]);
            if (c)
                named_look(svc, sched_unpack(c));
        }
        return;
    }
    for (size_t i = 0; i < svc->named.len; i++)
        named_look(svc, RAY_VEC_AT(&svc->named, sched_out, i));
}

void svc_named_prune(sched_service *svc)
{
    sched *sh = &svc->sh;
    size_t k = 0;
    for (size_t i = 0; i < svc->named.len; i++) {
        sched_out b = RAY_VEC_AT(&svc->named, sched_out, i);
        if (!svc_task_valid(svc, b.slot, b.gen) || svc->owned[b.slot] != b.gen ||
            svc->missing[b.slot] != SVC_NAMED)
            continue; /* taken in, cancelled or gone */
        uint32_t s = atomic_load(&sh->tasks[b.slot].state);
        if (s == TASK_TAGGED(TASK_WAITING, b.gen))
            RAY_VEC_AT(&svc->named, sched_out, k++) = b;
        else if (!(s & TASK_F_WAS_WAITING)) /* else its MSG_CANCEL frees it */
            svc->owned[b.slot] = svc->missing[b.slot] = 0; /* taken by a sealer */
    }
    svc->named.len = k;
}

void svc_run_waiters(sched_service *svc, uint32_t obj)
{
    uint64_t head;
    svc_named_run(svc, obj);
    if (!ray_map64_get(&svc->wait_heads, obj, &head))
        return;
    ray_map64_del(&svc->wait_heads, obj);
    store_obj *o = &svc->sh.st.objs[obj];
    int ready = STORE_IS_READY(atomic_load(&o->state));
    for (uint32_t i = (uint32_t)head; i;) {
        waiter w = RAY_VEC_AT(&svc->wpool, waiter, i - 1);
        RAY_VEC_AT(&svc->wpool, waiter, i - 1).next = svc->wfree;
        svc->wfree = i;
        i = w.next;
        if (w.objgen != o->gen)
            continue; /* a notice about an earlier object in this slot */
        if (!ready) { /* stale notice: keep waiting */
            svc_waiter_add(svc, obj, w.kind, w.id, w.idgen);
            continue;
        }
        if (w.kind == WAITER_CLIENT) {
            if (svc->cl[w.id].used && svc->cl[w.id].gen == w.idgen)
                svc_wake(svc, w.id);
        } else if (w.kind == WAITER_EXEC) {
            remote_exec_ready(svc, w.id, w.idgen);
        } else if (w.kind == WAITER_REMOTE) {
            pull_remote_ready(svc, w.id);
        } else if (svc->owned[w.id] == w.idgen && svc->missing[w.id] && !--svc->missing[w.id]) {
            svc_deps_ready(svc, w.id);
        }
    }
}

void svc_notify(sched_service *svc, const uint32_t *slots, int n)
{
    for (int i = 0; i < n; i++)
        svc_run_waiters(svc, slots[i]);
}

void svc_waiters_sweep(sched_service *svc)
{
    ray_map64 *m = &svc->wait_heads;
    ray_vec ready;
    ray_vec_init(&ready, sizeof(uint32_t));
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t obj = m->keys[i];
        if (!obj || obj == UINT64_MAX || obj >= svc->sh.st.max_objects ||
            !STORE_IS_READY(atomic_load(&svc->sh.st.objs[obj].state)))
            continue;
        uint32_t *p = ray_vec_push(&ready);
        if (p)
            *p = (uint32_t)obj;
    }
    svc_notify(svc, ready.data, (int)ready.len);
    ray_vec_free(&ready);
}
