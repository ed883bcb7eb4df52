/*
 * recovery.c - a process of the node died: what it ran is retried or
 * failed, what it had taken from a queue goes back, the locks it held are
 * broken after what they protect is repaired, the refs it listed are
 * released, objects it left unsealed fail, its CPU and GPUs come back, and
 * an actor it hosted restarts or dies.
 */
#define _GNU_SOURCE
#include "service.h"

#include <errno.h>
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

/* The task ran and its runner died while writing the verdict into its
 * outputs: the rest are sealed (err 0: it returned) or get the error of
 * output err (it failed), then the task lets go of what it holds. */
static void complete_outputs(sched_service *svc, uint32_t t, uint32_t err)
{
    sched *sh = &svc->sh;
    const sched_out *outs;
    uint32_t notify[SCHED_MAX_RETURNS], nret = sched_task_outputs(sh, &sh->tasks[t], &outs);
    int n = 0;
    for (uint32_t i = 0; i < nret; i++) {
        uint32_t o = outs[i].slot;
        if (!sched_out_ok(sh, outs[i]) ||
            STORE_STATE(atomic_load(&sh->st.objs[o].state)) != STORE_PENDING)
            continue;
        if (err ? store_obj_copy_error(&sh->st, o, err) : store_obj_seal(&sh->st, o))
            notify[n++] = o;
    }
    sched_task_finish(sh, t);
    svc_notify(svc, notify, n);
}

/* An output of task k already failed (its runner was failing them). */
static uint32_t failed_output(sched *sh, const sched_task *k)
{
    const sched_out *outs;
    uint32_t nret = sched_task_outputs(sh, k, &outs);
    for (uint32_t i = 0; i < nret; i++)
        if (sched_out_ok(sh, outs[i]) &&
            STORE_STATE(atomic_load(&sh->st.objs[outs[i].slot].state)) == STORE_ERROR)
            return outs[i].slot;
    return 0;
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
        sched_ready_push(sh, t, NULL);
        return;
    }
    atomic_store(&k->state, TASK_TAGGED(TASK_WAITING, k->gen));
    svc->owned[t] = k->gen;
    svc_pend_push(&svc->shaped, t, k->gen);
}

/* One task a dead process was running.  Where it got to decides: letting
 * go of its holds (the rest are let go), sealing or failing its outputs
 * (the rest are), else it is run again while retries remain, or fails. */
static void recover_task(sched_service *svc, uint32_t slot, svc_client *c, uint32_t t,
                         const char *how)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    uint32_t s = atomic_load(&k->state), err;
    if (TASK_STATE(s) != TASK_RUNNING || TASK_WORKER(s) != slot)
        return;
    char msg[600];
    if (s & TASK_F_FINISHING) {
        sched_task_finish(sh, t);
    } else if (s & TASK_F_SEALING) {
        complete_outputs(svc, t, 0);
    } else if ((err = failed_output(sh, k))) {
        complete_outputs(svc, t, err);
    } else if (s & TASK_F_FORCE) {
        fail_run(svc, t, RAY_ECANCELLED, "task cancelled: ray_cancel(force) killed its worker");
    } else if (k->kind == TASK_ACTOR_CALL) {
        snprintf(msg, sizeof(msg), "actor process pid %d %s while running method %s", c->pid, how,
                 k->name);
        fail_run(svc, t, RAY_EACTOR, msg);
    } else if (k->retries_left != 0 && !svc->shutting_down) {
        const sched_out *outs;
        uint32_t nret = sched_task_outputs(sh, k, &outs);
        if (k->retries_left > 0)
            k->retries_left--;
        k->attempt++;
        for (uint32_t i = 0; i < nret; i++)
            if (sched_out_ok(sh, outs[i]))
                store_obj_reset(&sh->st, outs[i].slot);
        ray_warn("sched", "worker pid %d %s while running task %s; retrying (attempt %u)", c->pid,
                 how, k->name, k->attempt + 1);
        rerun(svc, t, c);
    } else {
        snprintf(msg, sizeof(msg), "worker pid %d %s while running task %s; no retries left",
                 c->pid, how, k->name);
        fail_run(svc, t, RAY_EWORKER, msg);
    }
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

/* The tasks a dead process took from queue q and had not claimed: those
 * still QUEUED go back to q's front in their order; the others are what
 * unlinking them asks for.  If it died inside q's lock (locked: the
 * service holds it now), those still linked stay where they are. */
static void recover_batch(sched_service *svc, uint32_t slot, sched_queue *q, int locked)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    uint32_t n = RAY_MIN(sc->batch_n, (uint32_t)SCHED_BATCH_MAX), k = 0;
    sched_out back[SCHED_BATCH_MAX];
    for (uint32_t i = 0; i < n; i++) {
        sched_out b = sc->batch[i];
        if (!b.slot || b.slot >= sh->r->max_tasks || sh->tasks[b.slot].gen != b.gen ||
            (locked && sched_queue_links(sh, q, b.slot)))
            continue;
        if (atomic_load(&sh->tasks[b.slot].state) == TASK_TAGGED(TASK_QUEUED, b.gen))
            back[k++] = b;
        else
            sched_task_unlinked(sh, b.slot);
    }
    if (locked)
        sched_queue_push_front_locked(sh, q, back, k);
    else
        sched_queue_push_front(sh, q, back, k);
    sc->batch_n = 0;
    ray_evc_signal(&q->evc, 1 << 30);
}

/* The task a dead process was building and had not handed on (see
 * sched_task_new): nobody else knows of it, so it goes. */
static void recover_building(sched_service *svc, sched_client *sc)
{
    sched *sh = &svc->sh;
    uint64_t v = atomic_exchange(&sc->building, 0);
    if (v == SCHED_BUILDING_NEW) { /* between taking a slot and recording it */
        atomic_store(&sh->r->tasks_doubt, 1);
        return;
    }
    sched_out b = sched_unpack(v);
    if (!b.slot || b.slot >= sh->r->max_tasks || sh->tasks[b.slot].gen != b.gen)
        return;
    /* Named in hints already, it may have been taken meanwhile: then it is
     * not the builder's any more. */
    uint32_t s = TASK_TAGGED(TASK_WAITING, b.gen);
    if ((sh->tasks[b.slot].flags & TASK_TF_HINTED) &&
        TASK_STATE(atomic_load(&sh->tasks[b.slot].state)) != TASK_FREE &&
        !atomic_compare_exchange_strong(&sh->tasks[b.slot].state, &s,
                                        TASK_TAGGED(TASK_CANCELLED, b.gen)))
        return;
    ray_debug("sched", "letting go of task slot %u that dead pid %d was building", b.slot, sc->pid);
    sched_task_dispose(sh, b.slot);
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
    svc_pend_push(&svc->shaped, t, gen);
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
        svc_pend_push(&svc->shaped, t, c->task_gen);
    }
    c->task = 0;
}

static void describe_status(const sched_client *sc, int wstatus, char *buf, size_t n)
{
    uint32_t at = atomic_load(&sc->fault_at);
    if (WIFSIGNALED(wstatus))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == RAY_FAULT_EXIT && at)
        snprintf(buf, n, "exited at fault point '%s' (RAY_MPI_FAULT)", ray_fault_name((int)at - 1));
    else if (WIFEXITED(wstatus))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(wstatus));
    else
        snprintf(buf, n, "died");
}

/* The count change a dead process was in the middle of (store.h, marked
 * changes): if its mark is still on the object the count moved, and what
 * its record says (the journal names it) decides: kept (recorded, or a
 * release whose record goes now) or undone (a hold taken, not recorded).
 * A process marks one object at a time, so its mark on an object of
 * another generation than the journal's is a +1 on a slot reused under
 * it: undone. */
static void recover_journal(sched_service *svc, uint32_t slot)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    uint64_t ob = atomic_exchange(&sc->jnl_obj, 0), rec = atomic_exchange(&sc->jnl_rec, 0);
    uint32_t o = (uint32_t)ob, gen = (uint32_t)(ob >> 32), mark = slot + 1;
    if (store_obj_mark_of(&sh->st, o) != mark)
        return; /* not begun, or done */
    uint32_t a = SCHED_JNL_A(rec), b = SCHED_JNL_B(rec);
    sched_out *list = sched_client_held(sh, slot);
    uint32_t n = RAY_MIN(atomic_load(&sc->held_n), SCHED_HELD_MAX);
    int listed = a >= 1 && a <= n && list[a - 1].slot == o && list[a - 1].gen == gen;
    sched_task *k = a && a < sh->r->max_tasks ? &sh->tasks[a] : NULL;
    int undo = 0;
    if (sh->st.objs[o].gen != gen) {
        undo = 1;
    } else {
        switch (SCHED_JNL_KIND(rec)) {
        case SCHED_JNL_LIST_ADD: /* counted: in its list or not */
            undo = !listed;
            break;
        case SCHED_JNL_LIST_DROP: /* dropped: its entry goes too */
            if (listed)
                list[a - 1].slot = 0;
            break;
        case SCHED_JNL_ARG: /* counted: in the task's arguments or not */
            undo = !k || k->nargs <= b;
            break;
        case SCHED_JNL_HOLD: /* dropped: the task's count of holds let go moves too */
            if (k && atomic_load(&k->released) <= b)
                atomic_store(&k->released, b + 1);
            break;
        default:
            break;
        }
    }
    ray_debug("sched", "object %u: %s the reference change dead pid %d was making", o,
              undo ? "undoing" : "finishing", sc->pid);
    store_obj_mark_settle(&sh->st, o, mark, undo);
}

/* What a dead process held: unsealed objects it was writing fail (their
 * waiters must not hang), then every hold is released. */
static void release_holds(sched_service *svc, uint32_t slot, const char *how)
{
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    sched_out *list = sched_client_held(sh, slot);
    uint32_t n = RAY_MIN(atomic_load(&sc->held_n), SCHED_HELD_MAX), freed = 0;
    /* Killed while moving its last entry into a hole (list_remove): that
     * entry is in twice, and a process holds an object once. */
    for (uint32_t i = 0; n >= 2 && list[n - 1].slot && i < n - 1; i++)
        if (list[i].slot == list[n - 1].slot && list[i].gen == list[n - 1].gen) {
            n--;
            break;
        }
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

/* The queue process `slot` takes tasks from (its batch is of that queue). */
static sched_queue *own_queue(sched_service *svc, uint32_t slot)
{
    svc_client *c = &svc->cl[slot];
    return c->kind == CLIENT_POOL    ? &svc->sh.r->ready
           : c->kind == CLIENT_ACTOR ? &svc_actor(svc, c->actor)->calls
                                     : NULL;
}

/* The live-list slot of the process whose main thread is tid, or 0. */
static uint32_t slot_of_tid(sched_service *svc, uint32_t tid)
{
    FOR_LIVE(svc, i)
    if (svc->cl[i].pid > 0 && (uint32_t)svc->cl[i].pid == tid)
        return i;
    return 0;
}

/* The waiting task dead process `slot` was taking to the ready queue
 * (hints.c), the ready queue's lock held by the service: still CLAIMING by
 * it, or QUEUED by it in the push's critical section and not linked yet,
 * it is linked now.  Anything else was not its to push. */
static sched_task *readying_take(sched *sh, sched_client *sc, sched_out *b)
{
    *b = sched_unpack(atomic_exchange(&sc->readying, 0));
    if (!b->slot || b->slot >= sh->r->max_tasks || sh->tasks[b->slot].gen != b->gen)
        return NULL;
    return &sh->tasks[b->slot];
}

static void readying_locked(sched_service *svc, uint32_t slot, sched_client *sc)
{
    sched *sh = &svc->sh;
    sched_out b;
    sched_task *k = readying_take(sh, sc, &b);
    if (!k)
        return;
    /* Its record is cleared inside the push's critical section, which it
     * died in: if not linked yet, the task is linked now, whatever a
     * canceller or an in-place runner did to it meanwhile (whoever
     * unlinks it then frees it). */
    if (atomic_load(&k->state) == TASK_MAKE(TASK_CLAIMING, slot))
        atomic_store(&k->state, TASK_TAGGED(TASK_QUEUED, b.gen));
    if (!sched_queue_links(sh, &sh->r->ready, b.slot))
        sched_queue_link_locked(sh, &sh->r->ready, b.slot);
}

/* The same, the ready queue's lock not held by the dead process: only a
 * task still CLAIMING by it is pushed (QUEUED is set under the lock). */
static void recover_readying(sched_service *svc, uint32_t slot, sched_client *sc)
{
    sched *sh = &svc->sh;
    sched_out b;
    sched_task *k = readying_take(sh, sc, &b);
    if (k && atomic_load(&k->state) == TASK_MAKE(TASK_CLAIMING, slot)) {
        ray_debug("sched", "queueing task slot %u that dead pid %d was taking there", b.slot,
                  sc->pid);
        sched_ready_push_claimed(sh, b.slot, NULL);
    }
}

/* Queue q's lock is held by a dead thread, of process `slot` (0: none we
 * know): the queue is re-linked and its lock taken over, what that
 * process was putting in (the task it built) or taking out (its batch) is
 * sorted out while nobody else can touch q, and the lock goes. */
static void sort_out_queue(sched_service *svc, sched_queue *q, uint32_t slot)
{
    sched *sh = &svc->sh;
    if (!sched_queue_take_over(sh, q))
        return;
    if (slot) {
        sched_client *sc = sched_client_at(sh, slot);
        sched_out b = sched_unpack(atomic_load(&sc->building));
        if (b.slot && b.slot < sh->r->max_tasks && sched_queue_links(sh, q, b.slot))
            atomic_store(&sc->building, 0); /* linked: handed on */
        if (q == &sh->r->ready)
            readying_locked(svc, slot, sc);
        if (own_queue(svc, slot) == q)
            recover_batch(svc, slot, q, 1);
    }
    ray_shlock_unlock(&q->lock);
}

/* Each queue whose lock a dead thread holds: those of process `slot` (or of
 * no listed process) are sorted out now; another dead process's wait for
 * its own recovery. */
static void sort_out_dead_locks(sched_service *svc, uint32_t slot)
{
    sched *sh = &svc->sh;
    sched_queue *qs[3] = {&sh->r->ready, NULL, NULL};
    uint32_t hw = ray_freelist_high_water(&sh->r->actor_slots);
    for (uint32_t i = 0; i < svc->nlive + hw; i++) {
        sched_queue *q = i == 0            ? qs[0]
                         : i <= svc->nlive ? &sched_client_at(sh, svc->live[i - 1])->mailbox
                                           : &sh->actors[i - svc->nlive].calls;
        uint32_t tid = ray_shlock_dead_owner(&q->lock);
        uint32_t owner = tid ? slot_of_tid(svc, tid) : 0;
        if (tid && (owner == slot || !owner))
            sort_out_queue(svc, q, owner);
    }
}

static sched_service *hook_svc; /* the one node service of this process */

/* A thread is gone: no such thread, or a process of ours that exited and
 * is not reaped yet (a zombie answers kill(0), and only we can reap it). */
static int tid_dead(uint32_t tid)
{
    if (kill((pid_t)tid, 0) != 0 && errno == ESRCH)
        return 1;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)tid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == (pid_t)tid;
}

/* The service found a lock whose holder died while it waited for it: it
 * repairs it there and then (the death itself is handled when reaped). */
static void lock_repair(ray_shlock *l, uint32_t tid)
{
    sched_service *svc = hook_svc;
    sched *sh = &svc->sh;
    if (store_is_lock(&sh->st, l)) {
        store_repair(&sh->st);
        return;
    }
    sched_queue *q = NULL;
    if (l == &sh->r->ready.lock)
        q = &sh->r->ready;
    FOR_LIVE(svc, i)
    if (!q && l == &sched_client_at(sh, i)->mailbox.lock)
        q = &sched_client_at(sh, i)->mailbox;
    uint32_t hw = ray_freelist_high_water(&sh->r->actor_slots);
    for (uint32_t a = 1; !q && a < hw; a++)
        if (l == &sh->actors[a].calls.lock)
            q = &sh->actors[a].calls;
    if (q)
        sort_out_queue(svc, q, slot_of_tid(svc, tid));
    else
        ray_shlock_break(l, tid);
}

void svc_recovery_init(sched_service *svc)
{
    hook_svc = svc;
    ray_shlock_hooks(tid_dead, lock_repair);
}

/* An actor whose process died: restarted while restarts remain, else dead. */
static void recover_actor(sched_service *svc, svc_client *c, const char *how)
{
    sched *sh = &svc->sh;
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

/* Workers that cannot start (the program exits or crashes before
 * ray_init, or ray_init fails): after three in a row, stop trying and say
 * why.  A SIGKILL (from outside: the OOM killer, a test) says nothing
 * about the program. */
static void count_start_failure(sched_service *svc, svc_client *c, int wstatus, const char *how)
{
    sched *sh = &svc->sh;
    if (c->kind == CLIENT_DRIVER || c->connected || svc->shutting_down ||
        (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL))
        return;
    if (++svc->start_failures < 3 || atomic_load(&sh->r->fatal))
        return;
    snprintf(sh->r->fatal_msg, sizeof(sh->r->fatal_msg),
             "node %u: %u workers in a row died before joining (last: pid %d %s); is "
             "ray_init() the first thing in main()?",
             svc->node, svc->start_failures, c->pid, how);
    atomic_store(&sh->r->fatal, 1);
    ray_error("sched", "%s", sh->r->fatal_msg);
}

void sched_service_client_gone(sched_service *svc, uint32_t slot, int wstatus)
{
    svc_client *c = svc_client_at(svc, slot);
    if (!c)
        return;
    sched *sh = &svc->sh;
    sched_client *sc = sched_client_at(sh, slot);
    char how[96];
    describe_status(sc, wstatus, how, sizeof(how));
    if (c->kind != CLIENT_DRIVER && !svc->shutting_down && !c->exit_ns)
        ray_warn("sched", "worker pid %d %s%s", c->pid, how,
                 c->connected ? "" : " before joining its node service");
    count_start_failure(svc, c, wstatus, how);
    /* What it said before it died still counts (a task it handed on, an
     * object it sealed), then the locks it held, then what it was doing. */
    store_repair(&sh->st);
    sort_out_dead_locks(svc, slot);
    svc_drain(svc, slot);
    uint64_t freeing = atomic_exchange(&sc->freeing, 0);
    store_count_doubt(&sh->st, freeing);
    recover_journal(svc, slot);
    store_obj_free_resume(&sh->st, freeing);
    /* Its batch first, while what it was running is still RUNNING (and so
     * left alone there), then its stack (which may queue those again). */
    sched_queue *own = own_queue(svc, slot);
    if (own)
        recover_batch(svc, slot, own, 0);
    recover_stack(svc, slot, c, how);
    recover_building(svc, sc);
    recover_readying(svc, slot, sc);
    if (c->kind != CLIENT_DRIVER || svc->shutting_down)
        release_holds(svc, slot, how);
    svc_release(svc, c); /* its CPU, GPUs and resources: free for what follows */
    if (c->kind == CLIENT_POOL) {
        if (atomic_exchange(&sc->looking, 0))
            atomic_fetch_sub(&sh->r->lookers, 1);
        if (atomic_exchange(&sc->spinning, 0))
            atomic_fetch_sub(&sh->r->spinners, 1);
    } else if (c->kind == CLIENT_DEDICATED) {
        recover_dedicated(svc, slot, c);
    } else if (c->kind == CLIENT_ACTOR) {
        recover_actor(svc, c, how);
    }
    if (c->kind != CLIENT_DRIVER)
        atomic_fetch_sub(&sh->r->workers_alive, 1);
    svc_client_free(svc, slot);
    if (svc->on_gone)
        svc->on_gone(svc->on_gone_arg, slot);
    /* A notice it died before sending (an output sealed, not yet told)
     * would leave its waiters asleep: look at every watched object. */
    svc_waiters_sweep(svc);
    svc_named_run(svc, 0);
    ray_evc_signal(&sh->r->ready.evc, 1 << 30);
    ray_evc_signal(&sh->r->cpu_evc, 1 << 30);
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
