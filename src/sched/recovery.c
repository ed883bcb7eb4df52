/*
 * recovery.c - a process of the node died: what it ran is retried or
 * failed, what it had taken from a queue goes back, the locks it held are
 * broken after what they protect is repaired, the refs it listed are
 * released, objects it left unsealed fail, its CPU and GPUs come back, and
 * an actor it hosted restarts or dies.
 */
#define _GNU_SOURCE
#include "service.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

static void fail_run(sched_service *svc, uint32_t t, int code, const char *msg)
{
    uint32_t notify[SCHED_MAX_RETURNS];
    int n = sched_task_fail(&svc->sh, &svc->sh.tasks[t], code, msg, 0, notify);
    sched_task_finish(&svc->sh, t);
    svc_notify(svc, notify, n);
}

/* Runs task t again: where it is still linked if it ran in place (it is
 * popped again), else back in the ready queue or the shaped list. */
static void rerun(sched_service *svc, uint32_t t, svc_client *c)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    uint32_t s = atomic_load(&k->state);
    while ((s & TASK_F_INPLACE) && !(s & TASK_F_UNLINKED))
        if (atomic_compare_exchange_weak(&k->state, &s, TASK_TAGGED(TASK_QUEUED, k->gen))) {
            ray_evc_signal(&sh->r->ready.evc, 1);
            return;
        }
    if (c->kind == CLIENT_POOL || (s & TASK_F_INPLACE)) { /* in place: default class */
        atomic_store(&k->state, TASK_TAGGED(TASK_QUEUED, k->gen));
        sched_ready_push(sh, t);
        return;
    }
    atomic_store(&k->state, TASK_TAGGED(TASK_WAITING, k->gen));
    svc->owned[t] = k->gen;
    pend *p = ray_vec_push(&svc->shaped);
    if (p)
        *p = (pend){t, k->gen};
}

/* One task a dead process was running: retry it or fail it.  One that it
 * was letting go of (FINISHING) is left alone: a leak, not a double free. */
static void recover_task(sched_service *svc, uint32_t slot, svc_client *c, uint32_t t,
                         const char *how)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    uint32_t s = atomic_load(&k->state);
    if (TASK_STATE(s) != TASK_RUNNING || TASK_WORKER(s) != slot || (s & TASK_F_FINISHING))
        return;
    char msg[600];
    if (s & TASK_F_FORCE) {
        fail_run(svc, t, RAY_ECANCELLED, "task cancelled: ray_cancel(force) killed its worker");
        return;
    }
    if (k->kind == TASK_ACTOR_CALL) {
        snprintf(msg, sizeof(msg), "actor process pid %d %s while running method %s", c->pid, how,
                 k->name);
        fail_run(svc, t, RAY_EACTOR, msg);
        return;
    }
    /* Outputs half sealed: the task ran; fail what is left, do not rerun. */
    const sched_out *outs;
    uint32_t nret = sched_task_outputs(sh, k, &outs);
    int sealed = 0;
    for (uint32_t i = 0; i < nret; i++)
        sealed |= sched_out_ok(sh, outs[i]) &&
                  STORE_IS_READY(atomic_load(&sh->st.objs[outs[i].slot].state));
    if (!sealed && k->retries_left != 0 && !svc->shutting_down) {
        if (k->retries_left > 0)
            k->retries_left--;
        k->attempt++;
        for (uint32_t i = 0; i < nret; i++)
            if (sched_out_ok(sh, outs[i]))
                store_obj_reset(&sh->st, outs[i].slot);
        ray_warn("sched", "worker pid %d %s while running task %s; retrying (attempt %u)", c->pid,
                 how, k->name, k->attempt + 1);
        rerun(svc, t, c);
        return;
    }
    snprintf(msg, sizeof(msg), "worker pid %d %s while running task %s; %s", c->pid, how, k->name,
             sealed ? "its outputs were half written" : "no retries left");
    fail_run(svc, t, RAY_EWORKER, msg);
}

/* Everything a dead process was running, innermost first. */
static void recover_stack(sched_service *svc, uint32_t slot, svc_client *c, const char *how)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    uint32_t d = RAY_MIN(atomic_load(&sc->depth), (uint32_t)SCHED_STACK_MAX);
    for (uint32_t i = d; i-- > 0;) {
        uint32_t t = sc->stack[i];
        if (t && t < sh->r->max_tasks)
            recover_task(svc, slot, c, t, how);
    }
    atomic_store(&sc->depth, 0);
}

/* The tasks a dead process had taken from queue q but not run: still
 * QUEUED ones go back to the front of q in their order; the others are
 * what unlinking them asks for.  If it died inside q's lock the repaired
 * queue still links whatever it was taking: its batch is ignored. */
static void recover_batch(sched_service *svc, uint32_t slot, sched_queue *q, int died_in_lock)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    uint32_t n = RAY_MIN(sc->batch_n, (uint32_t)SCHED_BATCH_MAX), k = 0;
    sched_out back[SCHED_BATCH_MAX];
    for (uint32_t i = 0; i < n && !died_in_lock; i++) {
        sched_out b = sc->batch[i];
        if (!b.slot || b.slot >= sh->r->max_tasks || sh->tasks[b.slot].gen != b.gen)
            continue;
        if (atomic_load(&sh->tasks[b.slot].state) == TASK_TAGGED(TASK_QUEUED, b.gen))
            back[k++] = b;
        else
            sched_task_unlinked(sh, b.slot);
    }
    sched_queue_push_front(sh, q, back, k);
    sc->batch_n = 0;
    ray_evc_signal(&q->evc, 1 << 30);
}

/* A task of a dead dedicated worker waits for resources again; one that is
 * no longer queued is what unlinking it asks for. */
static void back_to_shaped(sched_service *svc, uint32_t t, uint32_t gen)
{
    sched *sh = &svc->sh;
    if (!t || t >= sh->r->max_tasks || sh->tasks[t].gen != gen)
        return;
    uint32_t s = TASK_TAGGED(TASK_QUEUED, gen);
    if (!atomic_compare_exchange_strong(&sh->tasks[t].state, &s, TASK_TAGGED(TASK_WAITING, gen))) {
        sched_task_unlinked(sh, t);
        return;
    }
    svc->owned[t] = gen;
    pend *p = ray_vec_push(&svc->shaped);
    if (p)
        *p = (pend){t, gen};
}

/* A dead dedicated worker's tasks: those in its mailbox, those it took,
 * and the one it was given before it said hello. */
static void recover_dedicated(sched_service *svc, uint32_t slot, svc_client *c)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    uint32_t *ts = NULL, n = sched_queue_close(sh, &sc->mailbox, &ts);
    for (uint32_t i = 0; i < n; i++)
        back_to_shaped(svc, ts[i], sh->tasks[ts[i]].gen);
    free(ts);
    for (uint32_t i = 0; i < RAY_MIN(sc->batch_n, (uint32_t)SCHED_BATCH_MAX); i++)
        back_to_shaped(svc, sc->batch[i].slot, sc->batch[i].gen);
    sc->batch_n = 0;
    uint32_t t = c->task;
    if (t && svc_task_valid(svc, t, c->task_gen) && svc->owned[t] == c->task_gen &&
        atomic_load(&sh->tasks[t].state) == TASK_TAGGED(TASK_WAITING, c->task_gen)) {
        pend *p = ray_vec_push(&svc->shaped);
        if (p)
            *p = (pend){t, c->task_gen};
    }
    c->task = 0;
}

static void describe_status(int wstatus, char *buf, size_t n)
{
    if (WIFSIGNALED(wstatus))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else if (WIFEXITED(wstatus))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(wstatus));
    else
        snprintf(buf, n, "died");
}

/* What a dead process held: unsealed objects it was writing fail (their
 * waiters must not hang), then every hold is released. */
static void release_holds(sched_service *svc, uint32_t slot, const char *how)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    sched_out *list = sched_client_held(sh, slot);
    uint32_t n = RAY_MIN(atomic_load(&sc->held_n), SCHED_HELD_MAX), freed = 0;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "the process that was writing this object (pid %d) %s before "
             "ray_seal",
             sc->pid, how);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t o = list[i].slot;
        if (!svc_obj_valid(svc, o) || sh->st.objs[o].gen != list[i].gen)
            continue;
        store_obj *e = &sh->st.objs[o];
        uint32_t st = STORE_STATE(atomic_load(&e->state));
        if (st == STORE_FREE)
            continue;
        if (st == STORE_CREATED && e->creator == slot &&
            store_obj_fail(&sh->st, o, RAY_EWORKER, msg, strlen(msg)))
            svc_run_waiters(svc, o);
        store_obj_unref(&sh->st, o);
        freed++;
    }
    atomic_store(&sc->held_n, 0);
    if (freed)
        ray_debug("sched", "released %u refs held by dead pid %d", freed, sc->pid);
}

static void repair_shared(sched_service *svc)
{
    sched *sh = &svc->sh;
    store_repair(&sh->st);
    sched_queue_repair(sh, &sh->r->ready);
    FOR_LIVE(svc, i)
    sched_queue_repair(sh, &sched_client_at(sh, i)->mailbox);
    uint32_t hw = ray_freelist_high_water(&sh->r->actor_slots);
    for (uint32_t a = 1; a < hw; a++)
        if (atomic_load(&sh->actors[a].state) != ACTOR_FREE)
            sched_queue_repair(sh, &sh->actors[a].calls);
}

void sched_service_client_gone(sched_service *svc, uint32_t slot, int wstatus)
{
    svc_client *c = svc_client_at(svc, slot);
    if (!c)
        return;
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    char how[96];
    describe_status(wstatus, how, sizeof(how));
    if (c->kind != CLIENT_DRIVER && !svc->shutting_down && !c->exit_ns)
        ray_warn("sched", "worker pid %d %s%s", c->pid, how,
                 c->connected ? "" : " before joining its node service");
    if (c->kind != CLIENT_DRIVER && !c->connected && !svc->shutting_down &&
        ++svc->start_failures >= 3 && !atomic_load(&sh->r->fatal)) {
        /* Workers cannot start (the program exits or crashes before
         * ray_init, or ray_init fails): stop trying, and say why. */
        snprintf(sh->r->fatal_msg, sizeof(sh->r->fatal_msg),
                 "node %u: %u workers in a row died before joining (last: pid %d %s); is "
                 "ray_init() the first thing in main()?",
                 svc->node, svc->start_failures, c->pid, how);
        atomic_store(&sh->r->fatal, 1);
        ray_error("sched", "%s", sh->r->fatal_msg);
    }
    /* Workers take from their queue on their main thread: its tid is the
     * pid.  Dying in that queue's lock leaves what it took still linked. */
    sched_queue *own = c->kind == CLIENT_POOL    ? &sh->r->ready
                       : c->kind == CLIENT_ACTOR ? &svc_actor(svc, c->actor)->calls
                                                 : &sc->mailbox;
    int died_in_lock = c->pid > 0 && ray_shlock_dead_owner(&own->lock) == (uint32_t)c->pid;
    repair_shared(svc);
    /* Its batch first, while what it was running is still RUNNING (and so
     * left alone there), then its stack (which may queue those again). */
    if (c->kind == CLIENT_POOL)
        recover_batch(svc, slot, &sh->r->ready, died_in_lock);
    else if (c->kind == CLIENT_ACTOR)
        recover_batch(svc, slot, &svc_actor(svc, c->actor)->calls, died_in_lock);
    recover_stack(svc, slot, c, how);
    if (c->kind != CLIENT_DRIVER || svc->shutting_down)
        release_holds(svc, slot, how);
    svc_release(svc, c); /* its CPU, GPUs and resources: free for what follows */
    if (c->kind == CLIENT_POOL) {
        if (atomic_exchange(&sc->looking, 0))
            atomic_fetch_sub(&sh->r->lookers, 1);
    } else if (c->kind == CLIENT_DEDICATED) {
        (void)died_in_lock; /* one task at a time: its batch is exact */
        recover_dedicated(svc, slot, c);
    } else if (c->kind == CLIENT_ACTOR) {
        uint32_t a = c->actor;
        sched_actor *ac = svc_actor(svc, a);
        uint32_t st = atomic_load(&ac->state);
        if (st == ACTOR_DEAD || svc->shutting_down) {
            svc_actor_die(svc, a, RAY_EACTOR, "actor stopped at shutdown");
            svc_actor_release(svc, a);
        } else if (ac->restarts_left != 0) {
            if (ac->restarts_left > 0)
                ac->restarts_left--;
            if (st == ACTOR_ALIVE)
                atomic_fetch_sub(&sh->r->actors_alive, 1);
            atomic_store(&ac->state, ACTOR_RESTARTING);
            ray_warn("sched", "actor %s process pid %d %s; restarting",
                     ac->name[0] ? ac->name : "(unnamed)", c->pid, how);
            c->actor = 0;
            svc_actor_place(svc, a);
        } else {
            char msg[300];
            snprintf(msg, sizeof(msg), "actor process pid %d %s; no restarts left", c->pid, how);
            svc_actor_die(svc, a, RAY_EACTOR, msg);
            svc_actor_release(svc, a);
        }
    }
    if (c->kind != CLIENT_DRIVER)
        atomic_fetch_sub(&sh->r->workers_alive, 1);
    svc_client_free(svc, slot);
    if (svc->on_gone)
        svc->on_gone(svc->on_gone_arg, slot);
    svc_schedule_pending(svc);
    svc_pool_check(svc);
    svc_flush_wakes(svc);
}

void sched_service_child_exit(sched_service *svc, pid_t pid, int wstatus)
{
    FOR_LIVE(svc, i)
    if (svc->cl[i].pid == pid) {
        sched_service_client_gone(svc, i, wstatus);
        return;
    }
}
