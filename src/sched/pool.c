/*
 * pool.c - worker processes: their slots in the control region, starting
 * them, the pool's size (one runnable pool worker per CPU; a worker
 * blocked in a wait lends its CPU and another starts), and telling them to
 * exit.
 */
#define _GNU_SOURCE
#include "service.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>

static uint32_t workers_total(sched_service *svc)
{
    return atomic_load(&svc->sh.r->workers_alive);
}

pool_counts svc_pool_count(sched_service *svc)
{
    pool_counts n = {0, 0, 0};
    FOR_LIVE(svc, i)
    {
        const svc_client *c = &svc->cl[i];
        if (c->kind != CLIENT_POOL)
            continue;
        n.alive += c->connected;
        n.starting += !c->connected;
        n.blocked += c->blocked != 0;
    }
    return n;
}

void svc_pool_check(sched_service *svc)
{
    if (svc->shutting_down || atomic_load(&svc->sh.r->fatal))
        return;
    uint32_t target = (uint32_t)ceil(svc->cpus - 1e-9);
    pool_counts n = svc_pool_count(svc);
    while (n.alive + n.starting - n.blocked < target && workers_total(svc) < svc->max_workers) {
        uint32_t slot;
        if (svc_spawn(svc, CLIENT_POOL, 0, &slot))
            break;
        n.starting++;
    }
    if (workers_total(svc) >= svc->max_workers && n.blocked >= n.alive &&
        atomic_load(&svc->sh.r->ready.len))
        ray_warn("sched",
                 "all %u workers are blocked in ray_get and %u tasks wait; raise "
                 "RAY_MPI_MAX_WORKERS",
                 svc->max_workers, atomic_load(&svc->sh.r->ready.len));
}

int sched_service_start_pool(sched_service *svc)
{
    uint32_t target = (uint32_t)ceil(svc->cpus - 1e-9);
    for (uint32_t i = 0; i < target; i++) {
        uint32_t slot;
        int rc = svc_spawn(svc, CLIENT_POOL, 0, &slot);
        if (rc)
            return rc;
    }
    return 0;
}

static int client_alloc(sched_service *svc, uint32_t kind, uint32_t *out)
{
    for (uint32_t i = 1; i < svc->ncl; i++) {
        svc_client *c = &svc->cl[i];
        if (c->used)
            continue;
        uint32_t gen = ray_gen_next(c->gen);
        memset(c, 0, sizeof(*c));
        c->used = 1;
        c->kind = kind;
        c->gen = gen;
        c->live_pos = svc->nlive;
        svc->live[svc->nlive++] = i;
        sched_client *sc = sched_client_at(&svc->sh, i);
        atomic_store(&sc->state, CLIENT_STARTING);
        atomic_store(&sc->cmd, CLIENT_CMD_NONE);
        atomic_store(&sc->depth, 0);
        atomic_store(&sc->cpu_held, 0);
        sc->kind = kind;
        sc->gen = gen;
        sc->pid = 0;
        sc->batch_n = 0;
        sc->actor = 0;
        sc->ngpus = 0;
        memset(&sc->bind, 0, sizeof(sc->bind)); /* unbound until the service says */
        memset(&sc->gpu_env, 0, sizeof(sc->gpu_env));
        atomic_store(&sc->held_n, 0);
        atomic_store(&sc->looking, 0);
        atomic_store(&sc->readying, 0);
        ray_ring_init(&sc->c2s, SCHED_C2S_RING);
        ray_ring_init(&sc->s2c, SCHED_S2C_RING);
        sched_queue_init(&sc->mailbox);
        sched_client_rings(&svc->sh, i, &c->c2s, &c->s2c);
        *out = i;
        return 0;
    }
    return ray_err(RAY_ETOOBIG, "no free process slot (%u processes)", svc->ncl);
}

/* Slot i is free again: out of live, its state cleared (its gen kept). */
void svc_client_free(sched_service *svc, uint32_t i)
{
    svc_client *c = &svc->cl[i];
    topo_release(svc->busy, c->place_key); /* a placement nobody gave back (a death) */
    sched_client *sc = sched_client_at(&svc->sh, i);
    atomic_fetch_add(&svc->sh.r->tasks_done_gone, atomic_exchange(&sc->tasks_done, 0));
    uint32_t last = svc->live[--svc->nlive];
    svc->live[c->live_pos] = last;
    svc->cl[last].live_pos = c->live_pos;
    atomic_store(&sc->state, CLIENT_FREE);
    uint32_t gen = c->gen;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
}

int sched_service_client_add(sched_service *svc, uint32_t kind, int32_t pid, uint32_t hint,
                             uint32_t *slot)
{
    if (kind == CLIENT_DRIVER) {
        int rc = client_alloc(svc, CLIENT_DRIVER, slot);
        if (rc)
            return rc;
    } else {
        svc_client *c = svc_client_at(svc, hint);
        if (!c || c->connected || c->kind == CLIENT_DRIVER)
            return ray_err(RAY_EPROTO, "process %d says hello on slot %u twice", pid, hint);
        pid = c->pid; /* the one we started on this socket */
        *slot = hint;
        svc->start_failures = 0;
    }
    svc_client *c = &svc->cl[*slot];
    sched_client *sc = sched_client_at(&svc->sh, *slot);
    c->connected = 1;
    c->pid = pid;
    sc->pid = pid;
    atomic_store(&sc->state, CLIENT_IDLE);
    atomic_store(&sc->last_active_ns, ray_now_ns());
    if (c->kind == CLIENT_DEDICATED && c->task) {
        uint32_t t = c->task;
        if (svc_task_valid(svc, t, c->task_gen))
            svc_give_to(svc, c, t);
        else {
            c->task = 0;
            svc_release(svc, c);
        }
    }
    return 0;
}

void sched_service_client_info(sched_service *svc, uint32_t slot, uint32_t *kind, uint32_t *actor)
{
    *kind = svc->cl[slot].kind;
    *actor = svc->cl[slot].actor;
}

int sched_service_children(sched_service *svc)
{
    int n = 0;
    FOR_LIVE(svc, i)
    n += svc->cl[i].kind != CLIENT_DRIVER && svc->cl[i].pid > 0;
    return n;
}

void svc_tell_exit(sched_service *svc, uint32_t i)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, i);
    atomic_store(&sc->cmd, CLIENT_CMD_EXIT);
    if (!svc->cl[i].exit_ns)
        svc->cl[i].exit_ns = ray_now_ns();
    atomic_fetch_add(&sc->doorbell, 1);
    ray_futex_wake(&sc->doorbell, 1 << 30);
    ray_evc_signal(&sc->mailbox.evc, 1 << 30);
}

/* The lowest slot of the pool's plan no live pool worker has: the pool
 * fills NUMA domains in turn, and a worker that died leaves its place to
 * the next. */
static uint32_t plan_take(sched_service *svc)
{
    uint32_t n = svc->max_workers, k = 0;
    uint8_t *used = calloc(n ? n : 1, 1);
    if (!used)
        return 0;
    FOR_LIVE(svc, i)
    if (svc->cl[i].plan && svc->cl[i].plan <= n)
        used[svc->cl[i].plan - 1] = 1;
    while (k < n && used[k])
        k++;
    free(used);
    return k < n ? k + 1 : 0;
}

int svc_spawn(sched_service *svc, uint32_t kind, uint32_t actor, uint32_t *slot_out)
{
    if (atomic_load(&svc->sh.r->fatal))
        return ray_err(RAY_ESYS, "%s", svc->sh.r->fatal_msg);
    if (workers_total(svc) >= svc->max_workers && kind != CLIENT_ACTOR)
        return ray_err(RAY_ETOOBIG, "worker cap of %u reached", svc->max_workers);
    uint32_t slot;
    int rc = client_alloc(svc, kind, &slot);
    if (rc)
        return rc;
    svc_client *c = &svc->cl[slot];
    c->actor = actor;
    sched_client_at(&svc->sh, slot)->actor = actor;
    if (kind == CLIENT_POOL && (c->plan = plan_take(svc)))
        svc_bind_set(svc, slot, &svc->plan[c->plan - 1]);
    int sock, outs[2];
    pid_t pid;
    rc = sched_spawn_process(svc->exe, svc->argv, slot, &sock, &pid, svc->capture ? outs : NULL);
    if (rc) {
        svc_client_free(svc, slot);
        return rc;
    }
    c->pid = pid;
    atomic_fetch_add(&svc->sh.r->workers_alive, 1);
    if (svc->on_spawn)
        svc->on_spawn(svc->on_spawn_arg, slot, sock, pid, svc->capture ? outs : NULL);
    ray_debug("sched", "started worker pid %d (slot %u, kind %u)", pid, slot, kind);
    *slot_out = slot;
    return 0;
}
