/*
 * service.c - the node service's half of the local scheduler: everything a
 * ready default-class task does not need.  It holds tasks whose arguments
 * are not ready (watching the objects, woken by the sealer's notice), tasks
 * of other shapes until their resources are free, and sleeping waiters; it
 * keeps the worker pool the right size, notices deaths (retrying or failing
 * what the dead process ran, repairing what it held) and runs actors' lives.
 *
 * It never blocks: every message is handled from the rings in one pass and
 * processes it must wake are rung once per pass.
 */
#define _GNU_SOURCE
#include "sched.h"

#include "gcs/gcs.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAITER_TASK 1
#define WAITER_CLIENT 2
#define MSG_BUF (SCHED_C2S_RING / 2)

typedef struct waiter {
    uint32_t next; /* index + 1 in the pool, 0 = end */
    uint32_t kind, id, idgen, objgen;
} waiter;

typedef struct res_entry {
    char name[64];
    double total, avail;
} res_entry;

typedef struct svc_client {
    int used, connected, blocked, wake;
    uint32_t live_pos;       /* its index in svc->live */
    pid_t pid;
    uint32_t kind, gen;
    ray_ring c2s, s2c;
    uint32_t actor;          /* CLIENT_ACTOR */
    uint32_t task, task_gen; /* CLIENT_DEDICATED: what it runs */
    uint64_t gpus;           /* GPU ids it holds (bitmask) */
    char res[1024];          /* custom resources it holds */
    uint64_t exit_ns;        /* when it was told to exit */
} svc_client;

typedef struct pend { uint32_t slot, gen; } pend;

/* Resources taken for a task or actor (see acquire). */
typedef struct grant {
    uint32_t cpu;
    uint64_t gpus;
    char res[1024];
} grant;

struct sched_service {
    sched sh;
    ray_config cfg;
    double cpus, gpus;
    char *exe;
    char **argv;
    uint32_t node, num_nodes, max_workers;
    int ctl_fd, arena_fd, efd;
    sched_layout l;
    svc_client *cl;
    uint32_t ncl;
    uint32_t *live;         /* the slots in use, dense: loops visit only these */
    uint32_t nlive;
    ray_map64 wait_heads;   /* object slot -> first waiter */
    ray_vec wpool;          /* waiters */
    uint32_t wfree;
    uint32_t *owned;        /* per task slot: its gen while the service holds it */
    uint32_t *missing;      /* per task slot: arguments not yet ready */
    ray_vec shaped;         /* pend: tasks waiting for resources, in order */
    ray_vec actors_waiting; /* pend: actors waiting for resources */
    uint64_t gpu_busy;
    res_entry res[RAY_RES_MAX];
    int nres;
    gcs *g;
    uint32_t *wakes;
    uint32_t nwakes;
    sched_spawn_cb on_spawn;
    void *on_spawn_arg;
    sched_gone_cb on_gone;
    void *on_gone_arg;
    int shutting_down;
    int want_cpu;             /* a pending task or actor could use the pool's CPU */
    uint32_t start_failures;  /* workers that died before joining, in a row */
    char msgbuf[MSG_BUF];
};

/* Each slot i in use (clients must not come or go inside the loop). */
#define FOR_LIVE(svc, i)                                                                   \
    for (uint32_t i##_k = 0, i; i##_k < (svc)->nlive && ((i) = (svc)->live[i##_k], 1); i##_k++)

static void deps_ready(sched_service *svc, uint32_t t);
static void schedule_pending(sched_service *svc);
static void actor_place(sched_service *svc, uint32_t a);
static void pool_check(sched_service *svc);
static void tell_exit(sched_service *svc, uint32_t i);
static int spawn(sched_service *svc, uint32_t kind, uint32_t actor, uint32_t *slot);

sched *sched_service_shm(sched_service *svc) { return &svc->sh; }
int sched_service_ctl_fd(const sched_service *svc) { return svc->ctl_fd; }
int sched_service_arena_fd(const sched_service *svc) { return svc->arena_fd; }
int sched_service_efd(const sched_service *svc) { return svc->efd; }
uint64_t sched_service_ctl_size(const sched_service *svc) { return svc->l.total; }
uint64_t sched_service_arena_size(const sched_service *svc) { return svc->l.arena_size; }

void sched_service_on_spawn(sched_service *svc, sched_spawn_cb cb, void *arg)
{
    svc->on_spawn = cb;
    svc->on_spawn_arg = arg;
}

void sched_service_on_gone(sched_service *svc, sched_gone_cb cb, void *arg)
{
    svc->on_gone = cb;
    svc->on_gone_arg = arg;
}

/* ------------------------------------------------------------ resources */

static int parse_resources(const char *s, int len, res_entry *out)
{
    ray_resource r[RAY_RES_MAX];
    int n = s ? ray_resources_parse(s, (size_t)len, r) : 0;
    for (int i = 0; i < n; i++) {
        memcpy(out[i].name, r[i].name, sizeof(out[i].name));
        out[i].total = out[i].avail = r[i].amount;
    }
    return n;
}

static res_entry *res_find(sched_service *svc, const char *name)
{
    for (int i = 0; i < svc->nres; i++)
        if (!strcmp(svc->res[i].name, name))
            return &svc->res[i];
    return NULL;
}

/* Checks a task's custom resources against the node: 1 fits now, 0 not
 * now, -1 never (message in why). */
static int res_check(sched_service *svc, const char *want, int len, char *why, size_t cap)
{
    res_entry w[RAY_RES_MAX];
    if (len <= 0)
        return 1;
    int n = parse_resources(want, len, w);
    if (n < 0) {
        snprintf(why, cap, "%.250s", ray_last_error());
        return -1;
    }
    int now = 1;
    for (int i = 0; i < n; i++) {
        res_entry *r = res_find(svc, w[i].name);
        if (!r || r->total + 1e-9 < w[i].total) {
            snprintf(why, cap, "needs %.63s:%g; this node has %.63s:%g", w[i].name, w[i].total,
                     w[i].name, r ? r->total : 0.0);
            return -1;
        }
        if (r->avail + 1e-9 < w[i].total)
            now = 0;
    }
    return now;
}

static void res_take(sched_service *svc, const char *want, int sign)
{
    res_entry w[RAY_RES_MAX];
    int n = want ? parse_resources(want, (int)strlen(want), w) : 0;
    for (int i = 0; i < n; i++) {
        res_entry *r = res_find(svc, w[i].name);
        if (r)
            r->avail -= sign * w[i].total;
    }
}

static int gpus_needed(uint32_t milli) { return (int)((milli + 999) / 1000); }

static int gpus_free(sched_service *svc)
{
    int total = (int)floor(svc->gpus + 1e-9);
    return total - __builtin_popcountll(svc->gpu_busy);
}

static uint64_t gpus_take(sched_service *svc, int n)
{
    uint64_t got = 0;
    int total = RAY_MIN((int)floor(svc->gpus + 1e-9), 64);
    for (int i = 0; i < total && n > 0; i++)
        if (!(svc->gpu_busy & (1ull << i))) {
            got |= 1ull << i;
            n--;
        }
    svc->gpu_busy |= got;
    return got;
}

/* CPU the pool could give back if asked: all but what dedicated workers
 * and actors hold.  Asking for more than that would only starve tasks. */
static int32_t cpu_reclaimable(sched_service *svc)
{
    int32_t held = 0;
    FOR_LIVE(svc, i)
        if (svc->cl[i].kind != CLIENT_POOL)
            held += atomic_load(&sched_client_at(&svc->sh, i)->cpu_held);
    return (int32_t)(svc->cpus * 1000.0 + 0.5) - held;
}

/* Takes cpu, gpus and custom resources into g, all or nothing, before a
 * process to run the task or actor exists.  When only CPU is short and
 * the pool holds enough, asks pool workers to give theirs back. */
static int acquire(sched_service *svc, grant *g, uint32_t cpu, uint32_t gpu, const char *res,
                   int res_len)
{
    char why[256];
    int ng = gpus_needed(gpu);
    if (ng > gpus_free(svc) || res_check(svc, res, res_len, why, sizeof(why)) != 1)
        return 0;
    if (!sched_cpu_try(&svc->sh, (int32_t)cpu)) {
        if (cpu_reclaimable(svc) >= (int32_t)cpu)
            svc->want_cpu = 1;
        return 0;
    }
    g->cpu = cpu;
    g->gpus = gpus_take(svc, ng);
    snprintf(g->res, sizeof(g->res), "%.*s", res_len > 0 ? res_len : 0, res ? res : "");
    res_take(svc, g->res, 1);
    return 1;
}

/* Gives what g holds back to the node (no process took it). */
static void grant_drop(sched_service *svc, grant *g)
{
    sched_cpu_put(&svc->sh, (int32_t)g->cpu);
    svc->gpu_busy &= ~g->gpus;
    res_take(svc, g->res, -1);
    memset(g, 0, sizeof(*g));
}

/* Client c holds what g holds from now on. */
static void grant_to(sched_service *svc, svc_client *c, const grant *g)
{
    sched_client *sc = sched_client_at(&svc->sh, (uint32_t)(c - svc->cl));
    c->gpus = g->gpus;
    snprintf(c->res, sizeof(c->res), "%s", g->res);
    atomic_store(&sc->cpu_held, (int32_t)g->cpu);
    sc->ngpus = 0;
    for (int i = 0; i < 64 && sc->ngpus < 16; i++)
        if (c->gpus & (1ull << i))
            sc->gpu_ids[sc->ngpus++] = (uint16_t)i;
}

/* What client c holds goes back to the node: all of its cpu_held (a worker
 * that died between two steps of lending counts twice, never zero). */
static void release(sched_service *svc, svc_client *c)
{
    sched_client *sc = sched_client_at(&svc->sh, (uint32_t)(c - svc->cl));
    int32_t cpu = atomic_exchange(&sc->cpu_held, 0);
    if (cpu > 0)
        sched_cpu_put(&svc->sh, cpu);
    svc->gpu_busy &= ~c->gpus;
    c->gpus = 0;
    sc->ngpus = 0;
    res_take(svc, c->res, -1);
    c->res[0] = 0;
}

/* ------------------------------------------------------------ helpers */

static svc_client *client_of(sched_service *svc, uint32_t slot)
{
    return slot < svc->ncl && svc->cl[slot].used ? &svc->cl[slot] : NULL;
}

static void wake(sched_service *svc, uint32_t slot)
{
    svc_client *c = client_of(svc, slot);
    if (c && !c->wake) {
        c->wake = 1;
        svc->wakes[svc->nwakes++] = slot;
    }
}

static void flush_wakes(sched_service *svc)
{
    for (uint32_t i = 0; i < svc->nwakes; i++) {
        uint32_t slot = svc->wakes[i];
        sched_client *sc = sched_client_at(&svc->sh, slot);
        svc->cl[slot].wake = 0;
        atomic_fetch_add(&sc->doorbell, 1);
        ray_futex_wake(&sc->doorbell, 1 << 30);
    }
    svc->nwakes = 0;
}

static int task_valid(sched_service *svc, uint32_t t, uint32_t gen)
{
    return t && t < svc->sh.r->max_tasks && svc->sh.tasks[t].gen == gen;
}

static int obj_valid(sched_service *svc, uint32_t slot)
{
    return slot && slot < svc->sh.st.max_objects;
}

static void notify_slots(sched_service *svc, const uint32_t *slots, int n);

/* Fails a task the service holds (or that is cancelled) and lets it go:
 * with (code, msg), or with argument err_src's error. */
static void fail_task(sched_service *svc, uint32_t t, int code, const char *msg,
                      uint32_t err_src)
{
    uint32_t notify[SCHED_MAX_RETURNS];
    int n = sched_task_fail(&svc->sh, &svc->sh.tasks[t], code, msg, err_src, notify);
    svc->owned[t] = 0;
    sched_task_dispose(&svc->sh, t);
    notify_slots(svc, notify, n);
}

/* Task t, which the service holds, was seen in state s: if its client
 * cancelled it, the slot is the service's to free. */
static void drop_if_cancelled(sched_service *svc, uint32_t t, uint32_t s)
{
    if (TASK_STATE(s) == TASK_CANCELLED) {
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

/* ------------------------------------------------------------ waiters */

static void waiter_add(sched_service *svc, uint32_t obj, uint32_t kind, uint32_t id,
                       uint32_t idgen)
{
    uint64_t first = 0;
    uint32_t objgen = svc->sh.st.objs[obj].gen;
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

static void run_waiters(sched_service *svc, uint32_t obj)
{
    uint64_t head;
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
        if (!ready) {  /* stale notice: keep waiting */
            waiter_add(svc, obj, w.kind, w.id, w.idgen);
            continue;
        }
        if (w.kind == WAITER_CLIENT) {
            if (svc->cl[w.id].used && svc->cl[w.id].gen == w.idgen)
                wake(svc, w.id);
        } else if (svc->owned[w.id] == w.idgen && svc->missing[w.id] && !--svc->missing[w.id]) {
            deps_ready(svc, w.id);
        }
    }
}

static void notify_slots(sched_service *svc, const uint32_t *slots, int n)
{
    for (int i = 0; i < n; i++)
        run_waiters(svc, slots[i]);
}

/* ------------------------------------------------------------ tasks */

/* The service takes task t: watch its unready arguments. */
static void take_task(sched_service *svc, uint32_t t)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    const sched_out *outs;
    sched_args a;
    if (sched_args_decode(sh, k, &outs, &a)) {
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            fail_task(svc, t, RAY_EPROTO, "malformed task spec", 0);
        return;
    }
    svc->owned[t] = k->gen;
    uint32_t missing = 0;
    for (uint32_t i = 0; i < k->nargs; i++) {
        uint32_t o = a.v[i].ref.slot;
        if (a.v[i].kind != SCHED_ARG_REF || !sched_out_ok(sh, (sched_out){o, a.v[i].ref.gen}))
            continue; /* checked again when it runs */
        if (!store_obj_watch(&sh->st, o)) {
            waiter_add(svc, o, WAITER_TASK, t, k->gen);
            missing++;
        }
    }
    sched_args_free(&a);
    svc->missing[t] = missing;
    if (!missing)
        deps_ready(svc, t);
}

static uint32_t first_error_arg(sched_service *svc, sched_task *k)
{
    const sched_out *outs;
    sched_args a;
    uint32_t err = 0;
    if (sched_args_decode(&svc->sh, k, &outs, &a))
        return 0;
    for (uint32_t i = 0; i < k->nargs && !err; i++) {
        uint32_t o = a.v[i].ref.slot;
        if (a.v[i].kind == SCHED_ARG_REF &&
            sched_out_ok(&svc->sh, (sched_out){o, a.v[i].ref.gen}) &&
            STORE_STATE(atomic_load(&svc->sh.st.objs[o].state)) == STORE_ERROR)
            err = o;
    }
    sched_args_free(&a);
    return err;
}

static void actor_die(sched_service *svc, uint32_t a, int code, const char *msg);

static void deps_ready(sched_service *svc, uint32_t t)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    if (TASK_STATE(atomic_load(&k->state)) == TASK_CANCELLED) {
        svc->owned[t] = 0;
        sched_task_dispose(sh, t);
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
            actor_die(svc, k->actor, RAY_EACTOR, msg);
        } else {
            actor_place(svc, k->actor);
        }
        return;
    }
    if (err) { /* an argument failed: so does this task, with its error */
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            fail_task(svc, t, 0, NULL, err);
        return;
    }
    if (k->cpu_milli == 1000 && k->gpu_milli == 0 && k->res_len == 0) {
        if (take_from_waiting(svc, t, TASK_QUEUED)) {
            svc->owned[t] = 0;
            sched_ready_push(sh, t);
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
            fail_task(svc, t, RAY_EINFEASIBLE, why, 0);
        return;
    }
    if (res_check(svc, res, res_len, why, sizeof(why)) < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "task %s can never run here: %s", k->name, why);
        if (take_from_waiting(svc, t, TASK_CANCELLED))
            fail_task(svc, t, RAY_EINFEASIBLE, msg, 0);
        return;
    }
    pend *p = ray_vec_push(&svc->shaped);
    if (p)
        *p = (pend){t, k->gen};
    schedule_pending(svc);
}

/* A dedicated worker with nothing to do, started or still starting. */
static svc_client *idle_dedicated(sched_service *svc)
{
    FOR_LIVE(svc, i) {
        svc_client *c = &svc->cl[i];
        if (c->kind == CLIENT_DEDICATED && !c->task && !c->exit_ns)
            return c;
    }
    return NULL;
}

static void give_to(sched_service *svc, svc_client *c, uint32_t t)
{
    sched *sh = &svc->sh;
    c->task = t;
    c->task_gen = sh->tasks[t].gen;
    if (!take_from_waiting(svc, t, TASK_QUEUED)) {
        c->task = 0;
        release(svc, c);
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
        uint32_t s = task_valid(svc, p.slot, p.gen) && svc->owned[p.slot] == p.gen
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
        if (!acquire(svc, &g, k->cpu_milli, k->gpu_milli, res, res_len))
            return;
        svc_client *c = idle_dedicated(svc);
        uint32_t slot;
        if (!c) {
            if (spawn(svc, CLIENT_DEDICATED, 0, &slot)) {
                grant_drop(svc, &g);
                return;
            }
            c = &svc->cl[slot];
        }
        grant_to(svc, c, &g);
        shaped_drop(svc, 0);
        if (c->connected) {
            give_to(svc, c, p.slot);
        } else { /* still starting: it gets the task when it says hello */
            c->task = p.slot;
            c->task_gen = p.gen;
        }
    }
}

/* ------------------------------------------------------------ actors */

static sched_actor *actor_at(sched_service *svc, uint32_t a) { return &svc->sh.actors[a]; }

static void actor_fail_queue(sched_service *svc, uint32_t a, const char *msg)
{
    sched *sh = &svc->sh;
    uint32_t *ts = NULL;
    uint32_t n = sched_queue_close(sh, &actor_at(svc, a)->calls, &ts);
    for (uint32_t i = 0; i < n; i++) {
        sched_task *k = &sh->tasks[ts[i]];
        uint32_t s = TASK_TAGGED(TASK_QUEUED, k->gen);
        if (atomic_compare_exchange_strong(&k->state, &s, TASK_TAGGED(TASK_CANCELLED, k->gen)))
            fail_task(svc, ts[i], RAY_EACTOR, msg, 0);
        else
            sched_task_unlinked(sh, ts[i]);
    }
    free(ts);
}

static void actor_die(sched_service *svc, uint32_t a, int code, const char *msg)
{
    sched *sh = &svc->sh;
    sched_actor *ac = actor_at(svc, a);
    uint32_t old = atomic_load(&ac->state);
    if (old == ACTOR_DEAD || old == ACTOR_FREE ||
        !atomic_compare_exchange_strong(&ac->state, &old, ACTOR_DEAD))
        return;
    ray_info("sched", "actor %u (%s) is dead: %s", a, ac->name, msg);
    uint32_t eo;
    if (store_obj_new(&sh->st, STORE_PENDING, 1, &eo) == 0) {
        store_obj_fail(&sh->st, eo, code, msg, strlen(msg));
        ac->err_obj = eo;
    }
    actor_fail_queue(svc, a, msg);
    if (ac->name[0])
        gcs_name_del(svc->g, ac->name, strlen(ac->name));
    if (old == ACTOR_ALIVE)
        atomic_fetch_sub(&sh->r->actors_alive, 1);
    /* Its process (if any) sees DEAD, finishes its call, runs fini, exits. */
    svc_client *c = client_of(svc, ac->worker);
    if (c && c->kind == CLIENT_ACTOR && c->actor == a) {
        sched_client *sc = sched_client_at(sh, ac->worker);
        ray_evc_signal(&ac->calls.evc, 1 << 30);
        atomic_fetch_add(&sc->doorbell, 1);
        ray_futex_wake(&sc->doorbell, 1 << 30);
    } else {
        ac->worker = 0;
    }
}

/* The actor's slot is reusable once it is dead and its process gone: DEAD
 * -> FREE happens once, so the slot goes to the free list once. */
static void actor_release(sched_service *svc, uint32_t a)
{
    sched *sh = &svc->sh;
    sched_actor *ac = actor_at(svc, a);
    uint32_t dead = ACTOR_DEAD;
    if (!atomic_compare_exchange_strong(&ac->state, &dead, ACTOR_FREE))
        return;
    uint32_t t = ac->create_task;
    if (t && task_valid(svc, t, sh->tasks[t].gen) && svc->owned[t] == sh->tasks[t].gen) {
        svc->owned[t] = 0;
        sched_task_dispose(sh, t);
    }
    ac->create_task = 0;
    ac->worker = 0;
    ray_freelist_push(&sh->r->actor_slots, sh->actors, sizeof(sched_actor),
                      offsetof(sched_actor, next_free), a);
}

/* Starts the actor's process once its resources are taken (never the
 * other way round: a process that could not get its CPU would run init). */
static void actor_place(sched_service *svc, uint32_t a)
{
    sched_actor *ac = actor_at(svc, a);
    uint32_t st = atomic_load(&ac->state);
    if ((st != ACTOR_PENDING && st != ACTOR_RESTARTING) || svc->shutting_down)
        return;
    sched_task *k = &svc->sh.tasks[ac->create_task];
    int res_len;
    const char *res = sched_task_res(&svc->sh, k, &res_len);
    grant g;
    uint32_t slot;
    ac->worker = 0;
    if (!acquire(svc, &g, ac->cpu_milli, ac->gpu_milli, res, res_len)) {
        pend *p = ray_vec_push(&svc->actors_waiting);
        if (p)
            *p = (pend){a, ac->gen};
        return;
    }
    if (spawn(svc, CLIENT_ACTOR, a, &slot)) {
        grant_drop(svc, &g);
        actor_die(svc, a, RAY_EACTOR, "cannot start a process for the actor");
        actor_release(svc, a);
        return;
    }
    grant_to(svc, &svc->cl[slot], &g);
    ac->worker = slot;
}

static void try_actors(sched_service *svc)
{
    /* Take the list: placing an actor may append to it again. */
    ray_vec todo = svc->actors_waiting;
    ray_vec_init(&svc->actors_waiting, sizeof(pend));
    for (size_t i = 0; i < todo.len; i++) {
        pend p = RAY_VEC_AT(&todo, pend, i);
        if (actor_at(svc, p.slot)->gen == p.gen)
            actor_place(svc, p.slot);
    }
    ray_vec_free(&todo);
}

/* Everything that waits for resources, then whether the pool should give
 * CPU back for it. */
static void schedule_pending(sched_service *svc)
{
    svc->want_cpu = 0;
    try_shaped(svc);
    try_actors(svc);
    atomic_store(&svc->sh.r->cpu_wanted, (uint32_t)svc->want_cpu);
}

static void reply(sched_service *svc, uint32_t slot, uint32_t req, int code, const void *data,
                  uint32_t len)
{
    svc_client *c = client_of(svc, slot);
    if (!c)
        return;
    msg_reply *m = ray_ring_reserve(&c->s2c, MSG_REPLY, (uint32_t)sizeof(*m) + len);
    if (!m) {
        ray_warn("sched", "reply ring of client %u full; reply dropped", slot);
        return;
    }
    m->req = req;
    m->code = code;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    ray_ring_commit(&c->s2c);
    wake(svc, slot);
}

/* A creation task the service may take: valid, WAITING, not taken yet. */
static int creation_task_ok(sched_service *svc, uint32_t t, uint32_t gen)
{
    sched_task *k = task_valid(svc, t, gen) ? &svc->sh.tasks[t] : NULL;
    return k && k->kind == TASK_ACTOR_CREATE && svc->owned[t] != gen &&
           atomic_load(&k->state) == TASK_TAGGED(TASK_WAITING, gen);
}

static void on_actor_create(sched_service *svc, uint32_t from, const msg_actor_create *m,
                            uint32_t len)
{
    sched *sh = &svc->sh;
    if (len < sizeof(*m)) {
        reply(svc, from, 0, RAY_EPROTO, NULL, 0);
        return;
    }
    if (!creation_task_ok(svc, m->slot, m->gen)) {
        reply(svc, from, m->req, RAY_EPROTO, NULL, 0);
        return;
    }
    uint32_t t = m->slot;
    if (m->name_len > len - sizeof(*m) || m->name_len >= SCHED_ACTOR_NAME_MAX) {
        sched_task_dispose(sh, t);
        reply(svc, from, m->req, RAY_EPROTO, NULL, 0);
        return;
    }
    uint32_t a = ray_freelist_pop(&sh->r->actor_slots, sh->actors, sizeof(sched_actor),
                                  offsetof(sched_actor, next_free));
    if (!a) {
        sched_task_dispose(sh, t);
        reply(svc, from, m->req, RAY_ETOOBIG, NULL, 0);
        return;
    }
    sched_actor *ac = actor_at(svc, a);
    uint32_t gen = ray_gen_next(ac->gen);
    if (m->name_len && gcs_name_put(svc->g, m->name, m->name_len, svc->node, a, gen) == RAY_EEXIST) {
        ray_freelist_push(&sh->r->actor_slots, sh->actors, sizeof(sched_actor),
                          offsetof(sched_actor, next_free), a);
        sched_task_dispose(sh, t);
        reply(svc, from, m->req, RAY_EEXIST, NULL, 0);
        return;
    }
    sched_task *k = &sh->tasks[t];
    /* Not a memset: a caller with a stale handle may be at the queue's lock;
     * the reset under it refuses that caller's push (generation).  The old
     * death message goes after: stale handles no longer read it. */
    uint32_t old_err = ac->err_obj;
    sched_actor_reset(sh, ac, gen);
    if (old_err)
        store_obj_unref(&sh->st, old_err);
    ac->cls = k->fn;
    ac->worker = 0;
    ac->create_task = t;
    ac->restarts_left = k->retries_left;
    ac->err_obj = 0;
    ac->cpu_milli = k->cpu_milli;
    ac->gpu_milli = k->gpu_milli;
    atomic_store(&ac->fini_done, 0);
    memset(ac->name, 0, sizeof(ac->name));
    memcpy(ac->name, m->name, m->name_len);
    k->actor = a;
    atomic_store(&ac->state, ACTOR_PENDING);
    msg_reply_actor r = {a, gen};
    reply(svc, from, m->req, 0, &r, sizeof(r));
    char why[300];
    int res_len;
    const char *res = sched_task_res(sh, k, &res_len);
    svc->owned[t] = k->gen; /* the actor keeps its creation task */
    if (res_check(svc, res, res_len, why, sizeof(why)) < 0) {
        actor_die(svc, a, RAY_EACTOR, why);
        actor_release(svc, a);
        return;
    }
    take_task(svc, t);
}

static void on_actor_get(sched_service *svc, uint32_t from, const msg_actor_get *m,
                         uint32_t len)
{
    if (len < sizeof(*m) || m->name_len > len - sizeof(*m)) {
        reply(svc, from, len >= 4 ? m->req : 0, RAY_EPROTO, NULL, 0);
        return;
    }
    uint32_t node, slot, gen;
    int rc = gcs_name_get(svc->g, m->name, m->name_len, &node, &slot, &gen);
    msg_reply_actor r = {slot, gen};
    reply(svc, from, m->req, rc, &r, rc ? 0 : sizeof(r));
}

static int actor_handle_ok(sched_service *svc, uint32_t a, uint32_t gen)
{
    return a && a < svc->sh.r->max_actors && actor_at(svc, a)->gen == gen &&
           atomic_load(&actor_at(svc, a)->state) != ACTOR_FREE;
}

static void on_actor_kill(sched_service *svc, uint32_t from, const msg_actor_req *m)
{
    if (actor_handle_ok(svc, m->slot, m->gen)) {
        sched_actor *ac = actor_at(svc, m->slot);
        actor_die(svc, m->slot, RAY_EACTOR, "actor was killed by ray_actor_kill");
        if (!client_of(svc, ac->worker)) /* else when its process is gone */
            actor_release(svc, m->slot);
    }
    reply(svc, from, m->req, 0, NULL, 0);
}

static void on_actor_started(sched_service *svc, uint32_t from, const msg_actor_started *m,
                             uint32_t len)
{
    svc_client *c = client_of(svc, from);
    if (len < sizeof(*m) || m->msg_len > len - sizeof(*m) || !c || c->kind != CLIENT_ACTOR ||
        c->actor != m->slot)
        return;
    sched_actor *ac = actor_at(svc, m->slot);
    if (m->code == 0) {
        uint32_t s = atomic_load(&ac->state);
        if ((s == ACTOR_PENDING || s == ACTOR_RESTARTING) &&
            atomic_compare_exchange_strong(&ac->state, &s, ACTOR_ALIVE))
            atomic_fetch_add(&svc->sh.r->actors_alive, 1);
        return;
    }
    char msg[1100];
    snprintf(msg, sizeof(msg), "%.*s", (int)RAY_MIN(m->msg_len, 1000u), m->msg);
    actor_die(svc, m->slot, RAY_EACTOR, msg);
}

static void on_actor_exit(sched_service *svc, uint32_t from)
{
    tell_exit(svc, from); /* its fini ran: it may go */
}

/* ------------------------------------------------------------ messages */

static void on_wait(sched_service *svc, uint32_t from, const msg_wait *m, uint32_t len)
{
    svc_client *c = &svc->cl[from];
    if (len < sizeof(*m) || m->n > (len - sizeof(*m)) / sizeof(sched_out))
        return;
    if ((m->flags & MSG_WAIT_BLOCKED) && !c->blocked) {
        c->blocked = 1;
        pool_check(svc);
        /* It lent its CPU before saying so: what waits for CPU may fit
         * now (cpu_wanted, which would have woken us, is set only while
         * the pool holds enough). */
        if (svc->shaped.len || svc->actors_waiting.len)
            schedule_pending(svc);
    }
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t o = m->objs[i].slot;
        if (!obj_valid(svc, o) || svc->sh.st.objs[o].gen != m->objs[i].gen ||
            store_obj_watch(&svc->sh.st, o))
            wake(svc, from);
        else
            waiter_add(svc, o, WAITER_CLIENT, from, c->gen);
    }
}

static void on_unblocked(sched_service *svc, uint32_t from)
{
    svc->cl[from].blocked = 0;
}

static void on_cancel(sched_service *svc, const msg_cancel *m)
{
    sched *sh = &svc->sh;
    if (!task_valid(svc, m->slot, m->gen))
        return;
    uint32_t t = m->slot;
    uint32_t s = atomic_load(&sh->tasks[t].state);
    if (!m->force) {
        /* Cancelled while the service held it: let it go now. */
        if (svc->owned[t] == m->gen && s == TASK_TAGGED(TASK_CANCELLED, m->gen) + TASK_F_WAS_WAITING &&
            sh->tasks[t].kind == TASK_NORMAL) {
            svc->owned[t] = 0;
            svc->missing[t] = 0;
            sched_task_dispose(sh, t);
        }
        return;
    }
    if (TASK_STATE(s) != TASK_RUNNING || !(s & TASK_F_FORCE))
        return;
    svc_client *c = client_of(svc, TASK_WORKER(s));
    if (c && c->pid > 0 && sched_client_runs(sched_client_at(sh, TASK_WORKER(s)), t)) {
        ray_info("sched", "ray_cancel(force): killing worker pid %d running task %s", c->pid,
                 sh->tasks[t].name);
        kill(c->pid, SIGKILL);
    }
}

static void on_done(sched_service *svc, uint32_t from)
{
    svc_client *c = &svc->cl[from];
    if (c->kind != CLIENT_DEDICATED || !c->task)
        return;
    c->task = 0;
    release(svc, c);
    schedule_pending(svc);
}

static void handle(sched_service *svc, uint32_t from, uint16_t type, const void *p, uint32_t len)
{
    switch (type) {
    case MSG_SUBMIT: {
        /* Only a task handed to the service, once: WAITING and not taken,
         * or cancelled while it was on its way (the service frees it). */
        const msg_task *m = p;
        if (len < sizeof(*m) || !task_valid(svc, m->slot, m->gen) ||
            svc->owned[m->slot] == m->gen)
            return;
        uint32_t s = atomic_load(&svc->sh.tasks[m->slot].state);
        if (s == TASK_TAGGED(TASK_CANCELLED, m->gen) + TASK_F_WAS_WAITING)
            sched_task_dispose(&svc->sh, m->slot);
        else if (s == TASK_TAGGED(TASK_WAITING, m->gen) &&
                 svc->sh.tasks[m->slot].kind == TASK_NORMAL)
            take_task(svc, m->slot);
        return;
    }
    case MSG_NOTIFY:
        if (len >= sizeof(msg_notify) && obj_valid(svc, ((const msg_notify *)p)->slot))
            run_waiters(svc, ((const msg_notify *)p)->slot);
        return;
    case MSG_WAIT: on_wait(svc, from, p, len); return;
    case MSG_UNBLOCKED: on_unblocked(svc, from); return;
    case MSG_CANCEL:
        if (len >= sizeof(msg_cancel))
            on_cancel(svc, p);
        return;
    case MSG_DONE: on_done(svc, from); return;
    case MSG_ACTOR_CREATE: on_actor_create(svc, from, p, len); return;
    case MSG_ACTOR_GET: on_actor_get(svc, from, p, len); return;
    case MSG_ACTOR_KILL:
        if (len >= sizeof(msg_actor_req))
            on_actor_kill(svc, from, p);
        return;
    case MSG_ACTOR_STARTED: on_actor_started(svc, from, p, len); return;
    case MSG_ACTOR_EXIT: on_actor_exit(svc, from); return;
    default:
        ray_warn("sched", "client %u sent unknown message type %u", from, type);
    }
}

static int drain(sched_service *svc, uint32_t from)
{
    svc_client *c = &svc->cl[from];
    int n = 0;
    for (; n < 4096; n++) {
        uint16_t type;
        uint32_t len;
        int err;
        const void *p = ray_ring_peek(&c->c2s, &type, &len, &err);
        if (err) {
            ray_error("sched", "client %u (pid %d) wrote a malformed message; ending it", from,
                      c->pid);
            if (c->pid > 0 && c->kind != CLIENT_DRIVER)
                kill(c->pid, SIGKILL);
            c->connected = 0;
            break;
        }
        if (!p)
            break;
        /* Copy before use: the sender could still write into its ring. */
        if (len > sizeof(svc->msgbuf))
            len = 0;
        memcpy(svc->msgbuf, p, len);
        ray_ring_pop(&c->c2s);
        handle(svc, from, type, svc->msgbuf, len);
    }
    if (n)
        ray_ring_done(&c->c2s);
    return n;
}

int sched_service_poll(sched_service *svc)
{
    int n = 0;
    /* By index: a message may start a process (appended to live). */
    for (uint32_t k = 0; k < svc->nlive; k++)
        if (svc->cl[svc->live[k]].connected)
            n += drain(svc, svc->live[k]);
    sched_region *r = svc->sh.r;
    if (atomic_load_explicit(&r->spawn_hint, memory_order_relaxed)) {
        atomic_store(&r->spawn_hint, 0);
        pool_check(svc);
    }
    if (atomic_load_explicit(&r->cpu_wanted, memory_order_relaxed))
        schedule_pending(svc);
    flush_wakes(svc);
    return n;
}

/* ------------------------------------------------------------ pool */

static int spawn(sched_service *svc, uint32_t kind, uint32_t actor, uint32_t *slot_out);

static uint32_t workers_total(sched_service *svc)
{
    return atomic_load(&svc->sh.r->workers_alive);
}

/* Pool workers: joined (alive), not yet joined, and blocked in a wait. */
typedef struct pool_counts { uint32_t alive, starting, blocked; } pool_counts;

static pool_counts pool_count(sched_service *svc)
{
    pool_counts n = {0, 0, 0};
    FOR_LIVE(svc, i) {
        const svc_client *c = &svc->cl[i];
        if (c->kind != CLIENT_POOL)
            continue;
        n.alive += c->connected;
        n.starting += !c->connected;
        n.blocked += c->blocked != 0;
    }
    return n;
}

static void pool_check(sched_service *svc)
{
    if (svc->shutting_down || atomic_load(&svc->sh.r->fatal))
        return;
    uint32_t target = (uint32_t)ceil(svc->cpus - 1e-9);
    pool_counts n = pool_count(svc);
    while (n.alive + n.starting - n.blocked < target && workers_total(svc) < svc->max_workers) {
        uint32_t slot;
        if (spawn(svc, CLIENT_POOL, 0, &slot))
            break;
        n.starting++;
    }
    if (workers_total(svc) >= svc->max_workers && n.blocked >= n.alive &&
        atomic_load(&svc->sh.r->ready.len))
        ray_warn("sched", "all %u workers are blocked in ray_get and %u tasks wait; raise "
                          "RAY_MPI_MAX_WORKERS", svc->max_workers,
                 atomic_load(&svc->sh.r->ready.len));
}

int sched_service_start_pool(sched_service *svc)
{
    uint32_t target = (uint32_t)ceil(svc->cpus - 1e-9);
    for (uint32_t i = 0; i < target; i++) {
        uint32_t slot;
        int rc = spawn(svc, CLIENT_POOL, 0, &slot);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ clients */

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
        atomic_store(&sc->held_n, 0);
        atomic_store(&sc->looking, 0);
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
static void client_free(sched_service *svc, uint32_t i)
{
    svc_client *c = &svc->cl[i];
    uint32_t last = svc->live[--svc->nlive];
    svc->live[c->live_pos] = last;
    svc->cl[last].live_pos = c->live_pos;
    atomic_store(&sched_client_at(&svc->sh, i)->state, CLIENT_FREE);
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
        svc_client *c = client_of(svc, hint);
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
        if (task_valid(svc, t, c->task_gen))
            give_to(svc, c, t);
        else {
            c->task = 0;
            release(svc, c);
        }
    }
    return 0;
}

void sched_service_client_info(sched_service *svc, uint32_t slot, uint32_t *kind, uint32_t *actor)
{
    *kind = svc->cl[slot].kind;
    *actor = svc->cl[slot].actor;
}

static void fail_run(sched_service *svc, uint32_t t, int code, const char *msg)
{
    uint32_t notify[SCHED_MAX_RETURNS];
    int n = sched_task_fail(&svc->sh, &svc->sh.tasks[t], code, msg, 0, notify);
    sched_task_finish(&svc->sh, t);
    notify_slots(svc, notify, n);
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
        snprintf(msg, sizeof(msg), "actor process pid %d %s while running method %s", c->pid,
                 how, k->name);
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
        ray_warn("sched", "worker pid %d %s while running task %s; retrying (attempt %u)",
                 c->pid, how, k->name, k->attempt + 1);
        rerun(svc, t, c);
        return;
    }
    snprintf(msg, sizeof(msg), "worker pid %d %s while running task %s; %s", c->pid, how,
             k->name, sealed ? "its outputs were half written" : "no retries left");
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
    if (t && task_valid(svc, t, c->task_gen) && svc->owned[t] == c->task_gen &&
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
    snprintf(msg, sizeof(msg), "the process that was writing this object (pid %d) %s before "
                               "ray_seal", sc->pid, how);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t o = list[i].slot;
        if (!obj_valid(svc, o) || sh->st.objs[o].gen != list[i].gen)
            continue;
        store_obj *e = &sh->st.objs[o];
        uint32_t st = STORE_STATE(atomic_load(&e->state));
        if (st == STORE_FREE)
            continue;
        if (st == STORE_CREATED && e->creator == slot && store_obj_fail(&sh->st, o, RAY_EWORKER, msg, strlen(msg)))
            run_waiters(svc, o);
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
    svc_client *c = client_of(svc, slot);
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
                       : c->kind == CLIENT_ACTOR ? &actor_at(svc, c->actor)->calls
                                                 : &sc->mailbox;
    int died_in_lock = c->pid > 0 && ray_shlock_dead_owner(&own->lock) == (uint32_t)c->pid;
    repair_shared(svc);
    /* Its batch first, while what it was running is still RUNNING (and so
     * left alone there), then its stack (which may queue those again). */
    if (c->kind == CLIENT_POOL)
        recover_batch(svc, slot, &sh->r->ready, died_in_lock);
    else if (c->kind == CLIENT_ACTOR)
        recover_batch(svc, slot, &actor_at(svc, c->actor)->calls, died_in_lock);
    recover_stack(svc, slot, c, how);
    if (c->kind != CLIENT_DRIVER || svc->shutting_down)
        release_holds(svc, slot, how);
    release(svc, c); /* its CPU, GPUs and resources: free for what follows */
    if (c->kind == CLIENT_POOL) {
        if (atomic_exchange(&sc->looking, 0))
            atomic_fetch_sub(&sh->r->lookers, 1);
    } else if (c->kind == CLIENT_DEDICATED) {
        (void)died_in_lock; /* one task at a time: its batch is exact */
        recover_dedicated(svc, slot, c);
    } else if (c->kind == CLIENT_ACTOR) {
        uint32_t a = c->actor;
        sched_actor *ac = actor_at(svc, a);
        uint32_t st = atomic_load(&ac->state);
        if (st == ACTOR_DEAD || svc->shutting_down) {
            actor_die(svc, a, RAY_EACTOR, "actor stopped at shutdown");
            actor_release(svc, a);
        } else if (ac->restarts_left != 0) {
            if (ac->restarts_left > 0)
                ac->restarts_left--;
            if (st == ACTOR_ALIVE)
                atomic_fetch_sub(&sh->r->actors_alive, 1);
            atomic_store(&ac->state, ACTOR_RESTARTING);
            ray_warn("sched", "actor %s process pid %d %s; restarting", ac->name[0] ? ac->name
                                                                                  : "(unnamed)",
                     c->pid, how);
            c->actor = 0;
            actor_place(svc, a);
        } else {
            char msg[300];
            snprintf(msg, sizeof(msg), "actor process pid %d %s; no restarts left", c->pid, how);
            actor_die(svc, a, RAY_EACTOR, msg);
            actor_release(svc, a);
        }
    }
    if (c->kind != CLIENT_DRIVER)
        atomic_fetch_sub(&sh->r->workers_alive, 1);
    client_free(svc, slot);
    if (svc->on_gone)
        svc->on_gone(svc->on_gone_arg, slot);
    schedule_pending(svc);
    pool_check(svc);
    flush_wakes(svc);
}

void sched_service_child_exit(sched_service *svc, pid_t pid, int wstatus)
{
    FOR_LIVE(svc, i)
        if (svc->cl[i].pid == pid) {
            sched_service_client_gone(svc, i, wstatus);
            return;
        }
}

int sched_service_children(sched_service *svc)
{
    int n = 0;
    FOR_LIVE(svc, i)
        n += svc->cl[i].kind != CLIENT_DRIVER && svc->cl[i].pid > 0;
    return n;
}

static void tell_exit(sched_service *svc, uint32_t i)
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

int sched_service_shutdown(sched_service *svc, int force)
{
    sched *sh = &svc->sh;
    svc->shutting_down = 1;
    FOR_LIVE(svc, i) {
        svc_client *c = &svc->cl[i];
        if (c->kind == CLIENT_DRIVER || c->pid <= 0)
            continue;
        if (force) {
            kill(c->pid, SIGKILL);
            continue;
        }
        tell_exit(svc, i);
        if (c->kind == CLIENT_ACTOR)
            ray_evc_signal(&actor_at(svc, c->actor)->calls.evc, 1 << 30);
    }
    ray_evc_signal(&sh->r->ready.evc, 1 << 30);
    ray_evc_signal(&sh->r->cpu_evc, 1 << 30);
    return sched_service_children(svc) > 0;
}

int sched_service_tick(sched_service *svc)
{
    uint64_t now = ray_now_ns();
    if (svc->shaped.len || svc->actors_waiting.len)
        schedule_pending(svc); /* a safety net: resources come back by other roads too */
    uint64_t idle_ns = (uint64_t)(svc->cfg.worker_idle_s * 1e9);
    uint32_t target = (uint32_t)ceil(svc->cpus - 1e-9);
    pool_counts pc = pool_count(svc);
    uint32_t pool_runnable = pc.alive - pc.blocked;
    FOR_LIVE(svc, i) {
        svc_client *c = &svc->cl[i];
        if (svc->shutting_down || !c->connected || c->exit_ns)
            continue;
        sched_client *sc = sched_client_at(&svc->sh, i);
        if (atomic_load(&sc->state) != CLIENT_IDLE ||
            now - atomic_load(&sc->last_active_ns) < idle_ns)
            continue;
        if ((c->kind == CLIENT_POOL && pool_runnable > target) ||
            (c->kind == CLIENT_DEDICATED && !c->task)) {
            if (c->kind == CLIENT_POOL)
                pool_runnable--;
            tell_exit(svc, i);
            ray_evc_signal(&svc->sh.r->ready.evc, 1 << 30);
        }
    }
    /* Processes told to exit get the shutdown timeout, then SIGKILL. */
    uint64_t grace = (uint64_t)(svc->cfg.shutdown_timeout_s * 1e9);
    FOR_LIVE(svc, i) {
        svc_client *c = &svc->cl[i];
        if (c->exit_ns && c->pid > 0 && now - c->exit_ns > grace) {
            ray_warn("sched", "pid %d did not exit %.0f s after being asked; killing it", c->pid,
                     svc->cfg.shutdown_timeout_s);
            kill(c->pid, SIGKILL);
            c->exit_ns = now; /* once per grace period */
        }
    }
    return 250;
}

/* ------------------------------------------------------------ spawning */

static int spawn(sched_service *svc, uint32_t kind, uint32_t actor, uint32_t *slot_out)
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
    int sock;
    pid_t pid;
    rc = sched_spawn_process(svc->exe, svc->argv, slot, &sock, &pid);
    if (rc) {
        client_free(svc, slot);
        return rc;
    }
    c->pid = pid;
    atomic_fetch_add(&svc->sh.r->workers_alive, 1);
    if (svc->on_spawn)
        svc->on_spawn(svc->on_spawn_arg, slot, sock, pid);
    ray_debug("sched", "started worker pid %d (slot %u, kind %u)", pid, slot, kind);
    *slot_out = slot;
    return 0;
}

/* ------------------------------------------------------------ life */

int sched_service_create(const sched_service_opts *o, sched_service **out)
{
    sched_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return ray_err(RAY_ENOMEM, "out of memory");
    svc->cfg = *o->cfg;
    svc->cpus = o->cpus;
    svc->gpus = o->gpus;
    svc->node = o->node;
    svc->num_nodes = o->num_nodes;
    svc->exe = strdup(o->exe);
    size_t argc = 0;
    while (o->argv && o->argv[argc])
        argc++;
    svc->argv = calloc(argc + 2, sizeof(char *));
    for (size_t i = 0; svc->argv && i < argc; i++)
        svc->argv[i] = strdup(o->argv[i]);
    if (svc->argv && !argc)
        svc->argv[0] = strdup(o->exe);
    svc->ctl_fd = svc->arena_fd = svc->efd = -1;
    int rc = RAY_ENOMEM;
    if (!svc->exe || !svc->argv)
        goto fail;
    svc->nres = o->resources ? parse_resources(o->resources, (int)strlen(o->resources), svc->res)
                             : 0;
    if (svc->nres < 0) {
        rc = ray_err(RAY_EINVAL, "RAY_MPI_RESOURCES: %s", ray_last_error());
        goto fail;
    }
    const ray_config *cf = o->cfg;
    if (cf->max_workers > 60000 || cf->max_objects < 1024 || cf->max_objects > (1u << 30) ||
        cf->max_tasks < 1024 || cf->max_tasks > (1u << 28) || cf->max_actors < 16 ||
        cf->max_actors > (1u << 24)) {
        rc = ray_err(RAY_EINVAL, "settings out of range: RAY_MPI_MAX_WORKERS <= 60000, "
                                 "RAY_MPI_MAX_OBJECTS 1024..2^30, RAY_MPI_MAX_TASKS 1024..2^28, "
                                 "RAY_MPI_MAX_ACTORS 16..2^24");
        goto fail;
    }
    svc->max_workers = (uint32_t)cf->max_workers;
    svc->ncl = svc->max_workers + 16;
    uint64_t arena = o->cfg->object_store_memory;
    sched_layout_compute(&svc->l, (uint32_t)o->cfg->max_objects, (uint32_t)o->cfg->max_tasks,
                         svc->ncl, (uint32_t)o->cfg->max_actors, arena);
    if ((svc->ctl_fd = ray_memfd_create("ray-mpi-control", svc->l.total)) < 0 ||
        (svc->arena_fd = ray_memfd_create("ray-mpi-store", arena)) < 0) {
        rc = RAY_ESYS;
        goto fail;
    }
    svc->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (svc->efd < 0) {
        rc = ray_err_sys("eventfd");
        goto fail;
    }
    void *ctl = ray_map(svc->ctl_fd, svc->l.total, PROT_READ | PROT_WRITE);
    if (!ctl) {
        rc = RAY_ESYS;
        goto fail;
    }
    sched_region_init(ctl, &svc->l, o->node, o->num_nodes, o->tag, o->cpus, o->gpus);
    ray_unmap(ctl, svc->l.total);
    if ((rc = sched_attach(&svc->sh, svc->ctl_fd, svc->l.total, svc->arena_fd, arena, svc->efd,
                           0)))
        goto fail;
    svc->cl = calloc(svc->ncl, sizeof(*svc->cl));
    svc->live = calloc(svc->ncl, sizeof(*svc->live));
    svc->wakes = calloc(svc->ncl, sizeof(*svc->wakes));
    svc->owned = ray_reserve((size_t)svc->l.max_tasks * sizeof(uint32_t));
    svc->missing = ray_reserve((size_t)svc->l.max_tasks * sizeof(uint32_t));
    svc->g = gcs_create();
    if (!svc->cl || !svc->live || !svc->wakes || !svc->owned || !svc->missing || !svc->g) {
        rc = ray_err(RAY_ENOMEM, "out of memory for the node service's tables");
        goto fail;
    }
    ray_map64_init(&svc->wait_heads);
    ray_vec_init(&svc->wpool, sizeof(waiter));
    ray_vec_init(&svc->shaped, sizeof(pend));
    ray_vec_init(&svc->actors_waiting, sizeof(pend));
    *out = svc;
    return 0;
fail:
    sched_service_destroy(svc);
    return rc;
}

void sched_service_destroy(sched_service *svc)
{
    if (!svc)
        return;
    if (svc->sh.ctl)
        sched_detach(&svc->sh);
    if (svc->ctl_fd >= 0)
        close(svc->ctl_fd);
    if (svc->arena_fd >= 0)
        close(svc->arena_fd);
    if (svc->efd >= 0)
        close(svc->efd);
    free(svc->cl);
    free(svc->live);
    free(svc->wakes);
    if (svc->owned)
        ray_unreserve(svc->owned, (size_t)svc->l.max_tasks * sizeof(uint32_t));
    if (svc->missing)
        ray_unreserve(svc->missing, (size_t)svc->l.max_tasks * sizeof(uint32_t));
    gcs_destroy(svc->g);
    ray_map64_free(&svc->wait_heads);
    ray_vec_free(&svc->wpool);
    ray_vec_free(&svc->shaped);
    ray_vec_free(&svc->actors_waiting);
    for (size_t i = 0; svc->argv && svc->argv[i]; i++)
        free(svc->argv[i]);
    free(svc->argv);
    free(svc->exe);
    free(svc);
}
