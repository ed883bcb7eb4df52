/*
 * pending.c - tasks the node service holds: those whose arguments are not
 * ready (it watches them), and tasks of other shapes (GPUs, custom
 * resources, CPUs other than 1) waiting in order for their resources and
 * then for a dedicated worker.  Cancelled ones are freed here.
 */
#define _GNU_SOURCE
#include "service.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>

/* Fails a task the service holds (or that is cancelled) and lets it go:
 * with (code, msg), or with argument err_src's error. */
void svc_task_fail(sched_service *svc, uint32_t t, int code, const char *msg, uint32_t err_src)
{
    uint32_t notify[SCHED_MAX_RETURNS];
    int n = sched_task_fail(&svc->sh, &svc->sh.tasks[t], code, msg, err_src, notify);
    svc->owned[t] = 0;
    sched_task_dispose(&svc->sh, t);
    svc_notify(svc, notify, n);
}

/* Task t, which the service holds, was seen in state s: if its client
 * cancelled it, the slot is the service's to free. */
static void drop_if_cancelled(sched_service *svc, uint32_t t, uint32_t s)
{
    if (TASK_STATE(s) == TASK_CANCELLED && (s & TASK_F_WAS_WAITING)) {
        svc->owned[t] = 0;
        sched_task_dispose(&svc->sh, t);
    }
}

/* WAITING -> st (this generation's), or the client is cancelling it:
 * then 0, and the slot is freed here when it is cancelled already, or by
 * MSG_CANCEL, which follows its cancellation, when it is not. */
static int take_from_waiting(sched_service *svc, uint32_t t, uint32_t st)
{
    sched_task *k = &svc->sh.tasks[t];
    uint32_t s = TASK_TAGGED(TASK_WAITING, k->gen);
    if (atomic_compare_exchange_strong(&k->state, &s, TASK_TAGGED(st, k->gen)))
        return 1;
    drop_if_cancelled(svc, t, s);
    return 0;
}

/* The service takes task t: watch its unready arguments. */
void svc_take_task(sched_service *svc, uint32_t t)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    const sched_out *outs;
    sched_args a;
    if (sched_args_decode(sh, k, &outs, &a)) {
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            svc_task_fail(svc, t, RAY_EPROTO, "malformed task spec", 0);
        return;
    }
    svc->owned[t] = k->gen;
    uint32_t missing = 0;
    uint32_t named = sched_hint_eligible(sh, k) ? t : 0; /* its sealers may take it (hints.c) */
    for (uint32_t i = 0; i < a.n; i++) {
        uint32_t o = a.v[i].ref.slot;
        if (a.v[i].kind != SCHED_ARG_REF || !sched_out_ok(sh, (sched_out){o, a.v[i].ref.gen}))
            continue; /* checked again when it runs */
        if (STORE_IS_READY(atomic_load(&sh->st.objs[o].state)))
            continue; /* ready: nothing to watch */
        if (!sched_hint_watch(sh, o, named, k->gen, NULL, 1)) { /* it counts them all */
            svc_waiter_add(svc, o, WAITER_TASK, t, k->gen);
            missing++;
        }
    }
    sched_args_free(&a);
    svc->missing[t] = missing;
    if (!missing)
        svc_deps_ready(svc, t);
}

static uint32_t first_error_arg(sched_service *svc, sched_task *k)
{
    const sched_out *outs;
    sched_args a;
    uint32_t err = 0;
    if (sched_args_decode(&svc->sh, k, &outs, &a))
        return 0;
    for (uint32_t i = 0; i < a.n && !err; i++) {
        uint32_t o = a.v[i].ref.slot;
        if (a.v[i].kind == SCHED_ARG_REF &&
            sched_out_ok(&svc->sh, (sched_out){o, a.v[i].ref.gen}) &&
            STORE_STATE(atomic_load(&svc->sh.st.objs[o].state)) == STORE_ERROR)
            err = o;
    }
    sched_args_free(&a);
    return err;
}

/* Whether this node can ever run task k. */
static int fits_here(sched_service *svc, const sched_task *k)
{
    char why[300];
    int res_len;
    const char *res = sched_task_res(&svc->sh, k, &res_len);
    return k->gpu_milli / 1000.0 <= svc->gpus + 1e-9 && k->cpu_milli / 1000.0 <= svc->cpus + 1e-9 &&
           svc_res_check(svc, res, res_len, why, sizeof(why)) >= 0;
}

/* A ready task pinned to another node, or that only another node can run,
 * goes there (1); else it stays (0). */
static int elsewhere(sched_service *svc, uint32_t t)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    int to = k->node != SCHED_NODE_ANY ? (int)k->node : -1;
    if (to < 0 && !fits_here(svc, k)) {
        int res_len;
        const char *res = sched_task_res(sh, k, &res_len);
        to = cluster_place(svc, k->cpu_milli, k->gpu_milli, res, res_len);
    }
    if (to < 0 || (uint32_t)to == svc->node)
        return 0;
    uint32_t s = atomic_load(&k->state);
    if (TASK_STATE(s) == TASK_WAITING)
        remote_forward(svc, t, (uint32_t)to);
    else
        drop_if_cancelled(svc, t, s);
    return 1;
}

void svc_deps_ready(sched_service *svc, uint32_t t)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    uint32_t s = atomic_load(&k->state);
    if (TASK_STATE(s) == TASK_CANCELLED && (s & TASK_F_WAS_WAITING)) {
        svc->owned[t] = 0;
        sched_task_dispose(sh, t);
        return;
    }
    if (TASK_STATE(s) != TASK_WAITING || k->gen != svc->owned[t]) {
        if (!(s & TASK_F_WAS_WAITING)) /* else its MSG_CANCEL comes: it frees it */
            svc->owned[t] = 0; /* the sealer of its last argument took it (hints.c) */
        return;
    }
    uint32_t err = first_error_arg(svc, k);
    if (k->kind == TASK_ACTOR_CREATE) {
        if (err) {
            store_obj *o = &sh->st.objs[err];
            char msg[1200];
            snprintf(msg, sizeof(msg), "actor %s init failed: an argument is an error: %.*s",
                     k->name, (int)RAY_MIN(o->size, 1000),
                     (const char *)store_obj_view(&sh->st, err));
            svc_actor_die(svc, k->actor, RAY_EACTOR, msg);
        } else {
            svc_actor_place(svc, k->actor);
        }
        return;
    }
    if (err) { /* an argument failed: so does this task, with its error */
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            svc_task_fail(svc, t, 0, NULL, err);
        return;
    }
    if (svc->cluster && elsewhere(svc, t))
        return;
    if (k->cpu_milli == 1000 && k->gpu_milli == 0 && k->res_len == 0) {
        if (take_from_waiting(svc, t, TASK_QUEUED)) {
            svc->owned[t] = 0;
            sched_ready_push(sh, t, NULL);
        }
        return;
    }
    char why[300];
    int res_len;
    const char *res = sched_task_res(sh, k, &res_len);
    if ((double)k->gpu_milli / 1000.0 > svc->gpus + 1e-9 ||
        (double)k->cpu_milli / 1000.0 > svc->cpus + 1e-9) {
        snprintf(why, sizeof(why), "task %s needs %g CPUs and %g GPUs; node %u has %g and %g",
                 k->name, k->cpu_milli / 1000.0, k->gpu_milli / 1000.0, svc->node, svc->cpus,
                 svc->gpus);
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            svc_task_fail(svc, t, RAY_EINFEASIBLE, why, 0);
        return;
    }
    if (svc_res_check(svc, res, res_len, why, sizeof(why)) < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "task %s can never run here: %s", k->name, why);
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            svc_task_fail(svc, t, RAY_EINFEASIBLE, msg, 0);
        return;
    }
    svc_pend_push(&svc->shaped, t, k->gen);
    svc_schedule_pending(svc);
}

/* A dedicated worker with nothing to do, started or still starting. */
/* An idle dedicated worker for grant g: one that last ran with the same
 * GPUs first (CUDA reads CUDA_VISIBLE_DEVICES once, when a process first
 * uses it), else any. */
static svc_client *idle_dedicated(sched_service *svc, const grant *g)
{
    svc_client *any = NULL;
    FOR_LIVE(svc, i)
    {
        svc_client *c = &svc->cl[i];
        if (c->kind != CLIENT_DEDICATED || c->task || c->exit_ns)
            continue;
        const topo_binding *b = &sched_client_at(&svc->sh, i)->bind;
        if (b->ngpus == g->bind.ngpus &&
            !memcmp(b->gpu_ids, g->bind.gpu_ids, b->ngpus * sizeof(b->gpu_ids[0])))
            return c;
        if (!any)
            any = c;
    }
    return any;
}

void svc_give_to(sched_service *svc, svc_client *c, uint32_t t)
{
    sched *sh = &svc->sh;
    c->task = t;
    c->task_gen = sh->tasks[t].gen;
    if (!take_from_waiting(svc, t, TASK_QUEUED)) {
        c->task = 0;
        svc_release(svc, c);
        return;
    }
    svc->owned[t] = 0;
    sched_client *sc = sched_client_at(sh, (uint32_t)(c - svc->cl));
    sched_queue_push(sh, &sc->mailbox, t);
    ray_evc_signal(&sc->mailbox.evc, 1);
}

static void shaped_drop(sched_service *svc, size_t i)
{
    pend *v = svc->shaped.data;
    memmove(&v[i], &v[i + 1], (svc->shaped.len - i - 1) * sizeof(pend));
    svc->shaped.len--;
}

/* Tasks of other shapes, in order: the head waits for its resources and
 * the rest behind it (no overtaking). */
static void try_shaped(sched_service *svc)
{
    sched *sh = &svc->sh;
    while (svc->shaped.len) {
        pend p = ((pend *)svc->shaped.data)[0];
        uint32_t s = svc_task_valid(svc, p.slot, p.gen) && svc->owned[p.slot] == p.gen
                         ? atomic_load(&sh->tasks[p.slot].state)
                         : 0;
        if (TASK_STATE(s) != TASK_WAITING) { /* gone, or cancelled while it waited */
            if (s)
                drop_if_cancelled(svc, p.slot, s);
            shaped_drop(svc, 0);
            continue;
        }
        sched_task *k = &sh->tasks[p.slot];
        int res_len;
        const char *res = sched_task_res(sh, k, &res_len);
        grant g;
        if (!svc_acquire(svc, &g, k->cpu_milli, k->cpu_milli, k->gpu_milli, res, res_len))
            return;
        svc_client *c = idle_dedicated(svc, &g);
        uint32_t slot;
        if (!c) {
            if (svc_spawn(svc, CLIENT_DEDICATED, 0, &slot)) {
                svc_grant_drop(svc, &g);
                return;
            }
            c = &svc->cl[slot];
        }
        svc_grant_to(svc, c, &g);
        shaped_drop(svc, 0);
        if (c->connected) {
            svc_give_to(svc, c, p.slot);
        } else { /* still starting: it gets the task when it says hello */
            c->task = p.slot;
            c->task_gen = p.gen;
        }
    }
}

/* Everything that waits for resources, then whether the pool should give
 * CPU back for it. */
void svc_schedule_pending(sched_service *svc)
{
    svc->want_cpu = 0;
    try_shaped(svc);
    svc_try_actors(svc);
    atomic_store(&svc->sh.r->cpu_wanted, (uint32_t)svc->want_cpu);
}

void svc_on_cancel(sched_service *svc, const msg_cancel *m)
{
    sched *sh = &svc->sh;
    if (!svc_task_valid(svc, m->slot, m->gen))
        return;
    uint32_t t = m->slot;
    uint32_t s = atomic_load(&sh->tasks[t].state);
    if (!m->force) {
        /* Cancelled while the service held it: let it go now. */
        if (svc->owned[t] == m->gen &&
            s == TASK_TAGGED(TASK_CANCELLED, m->gen) + TASK_F_WAS_WAITING &&
            sh->tasks[t].kind == TASK_NORMAL) {
            svc_cancel_remote(svc, t);
            svc->owned[t] = 0;
            svc->missing[t] = 0;
            sched_task_dispose(sh, t);
        }
        return;
    }
    if (TASK_STATE(s) != TASK_RUNNING || !(s & TASK_F_FORCE))
        return;
    svc_client *c = svc_client_at(svc, TASK_WORKER(s));
    if (c && c->pid > 0 && sched_client_runs(sched_client_at(sh, TASK_WORKER(s)), t)) {
        ray_info("sched", "ray_cancel(force): killing worker pid %d running task %s", c->pid,
                 sh->tasks[t].name);
        kill(c->pid, SIGKILL);
    }
}

void svc_on_done(sched_service *svc, uint32_t from)
{
    svc_client *c = &svc->cl[from];
    if (c->kind != CLIENT_DEDICATED || !c->task)
        return;
    c->task = 0;
    svc_release(svc, c);
    svc_schedule_pending(svc);
}

void svc_pend_push(ray_vec *v, uint32_t slot, uint32_t gen)
{
    pend *p = ray_vec_push(v);
    if (p)
        *p = (pend){slot, gen, ray_now_ns(), 0};
}

/* Warns about p, which waits for (cpu, gpu, res), if it has waited too long. */
static void warn_if_long(sched_service *svc, pend *p, const char *what, const char *name,
                         uint32_t cpu, uint32_t gpu, const char *res, int res_len)
{
    uint64_t limit = (uint64_t)(svc->cfg.pending_warn_s * 1e9);
    if (p->warned || !limit || ray_now_ns() - p->since_ns < limit)
        return;
    char need[200], held[600];
    svc_describe_need(cpu, gpu, res, res_len, need, sizeof(need));
    svc_describe_holders(svc, held, sizeof(held));
    ray_warn("sched", "%s %s waits for %s; %s", what, name, need, held);
    p->warned = 1;
}

/* Ready tasks that no pool worker can take: every CPU is held by others. */
static void warn_if_starved(sched_service *svc)
{
    sched_region *r = svc->sh.r;
    uint32_t queued = atomic_load(&r->ready.len);
    int32_t pool_cpu = 0;
    FOR_LIVE(svc, i)
    if (svc->cl[i].kind == CLIENT_POOL)
        pool_cpu += atomic_load(&sched_client_at(&svc->sh, i)->cpu_held);
    if (!queued || pool_cpu > 0 || atomic_load(&r->cpu_avail) >= 1000) {
        svc->starved_ns = 0;
        return;
    }
    uint64_t now = ray_now_ns(), limit = (uint64_t)(svc->cfg.pending_warn_s * 1e9);
    if (!svc->starved_ns)
        svc->starved_ns = now;
    else if (limit && now - svc->starved_ns >= limit && svc->starved_ns != UINT64_MAX) {
        char held[600];
        svc_describe_holders(svc, held, sizeof(held));
        ray_warn("sched", "%u tasks wait for 1 CPU; %s", queued, held);
        svc->starved_ns = UINT64_MAX; /* once, until they run again */
    }
}

void svc_pending_warn(sched_service *svc)
{
    sched *sh = &svc->sh;
    for (size_t i = 0; i < svc->shaped.len; i++) {
        pend *p = &RAY_VEC_AT(&svc->shaped, pend, i);
        if (!svc_task_valid(svc, p->slot, p->gen))
            continue;
        sched_task *k = &sh->tasks[p->slot];
        int res_len;
        const char *res = sched_task_res(sh, k, &res_len);
        warn_if_long(svc, p, "task", k->name, k->cpu_milli, k->gpu_milli, res, res_len);
    }
    for (size_t i = 0; i < svc->actors_waiting.len; i++) {
        pend *p = &RAY_VEC_AT(&svc->actors_waiting, pend, i);
        sched_actor *ac = svc_actor(svc, p->slot);
        if (ac->gen != p->gen ||
            !svc_task_valid(svc, ac->create_task, sh->tasks[ac->create_task].gen))
            continue;
        sched_task *k = &sh->tasks[ac->create_task];
        int res_len;
        const char *res = sched_task_res(sh, k, &res_len);
        warn_if_long(svc, p, "actor", ac->name[0] ? ac->name : k->name, ac->cpu_milli,
                     ac->gpu_milli, res, res_len);
    }
    warn_if_starved(svc);
}
