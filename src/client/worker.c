/*
 * worker.c - what a worker process does after ray_init: take tasks and run
 * them, until the node service says exit.
 *
 * Pool workers take default-class tasks straight from the node's ready
 * queue, a batch at a time when tasks are short, holding one CPU token
 * while they run; one idle worker at a time spins on the queue, the others
 * sleep on its event count.  Dedicated workers run the tasks the service
 * puts in their mailbox (other resource shapes).  An actor's worker runs
 * its init, then its calls in queue order.  A task's outputs are sealed
 * into the store by the worker itself; the service hears only of outputs
 * it watches.
 */
#define _GNU_SOURCE
#include "client.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

struct ray_ctx {
    uint32_t task;
    sched_task *t;
    const sched_out *outs;
    uint32_t nret;
    uint8_t written[SCHED_MAX_RETURNS];
    int failed;
    char *fail_msg;
    void *state; /* actors */
};

static uint32_t batch_pos;   /* next batch entry to run */
static void look_start(void);
static void look_stop(void);
static void *actor_state;    /* what the actor's init returned */
static uint64_t avg_task_ns; /* moving average of task run times */

static inline sched_region *R(void) { return cl_sched()->r; }

/* The stack of tasks this process runs: an entry is pushed before the task
 * is claimed, so the node service finds it if we die right after. */
static void stack_push(uint32_t t)
{
    sched_client *me = ray_cl.me;
    uint32_t d = atomic_load_explicit(&me->depth, memory_order_relaxed);
    me->stack[d] = t;
    atomic_store_explicit(&me->depth, d + 1, memory_order_release);
}

static void stack_pop(void)
{
    sched_client *me = ray_cl.me;
    atomic_store_explicit(&me->depth, atomic_load(&me->depth) - 1, memory_order_release);
}
static inline int exit_asked(void)
{
    return atomic_load_explicit(&ray_cl.me->cmd, memory_order_relaxed) == CLIENT_CMD_EXIT;
}

/* ---- outputs */

static int ctx_check(ray_ctx *ctx, int index)
{
    if (!ctx || ctx != ray_cl.task)
        return ray_err(RAY_EINVAL, "not the running task's context");
    if (index < 0 || (uint32_t)index >= ctx->nret)
        return ray_err(RAY_EINVAL, "return index %d: this task has %u outputs", index, ctx->nret);
    if (ctx->written[index])
        return ray_err(RAY_EINVAL, "output %d was already written", index);
    return 0;
}

RAY_API void *ray_return_alloc(ray_ctx *ctx, int index, size_t size)
{
    if (ctx_check(ctx, index))
        return NULL;
    if (size >= (1ull << 48)) {
        ray_err(RAY_EINVAL, "output size %zu is not valid", size);
        return NULL;
    }
    void *p;
    if (client_store_alloc(ctx->outs[index].slot, size, &p))
        return NULL;
    ctx->written[index] = 1;
    return p;
}

RAY_API int ray_return(ray_ctx *ctx, int index, const void *data, size_t size)
{
    if (!data && size)
        return ray_err(RAY_EINVAL, "ray_return: NULL data with size %zu", size);
    void *p = ray_return_alloc(ctx, index, size);
    if (!p)
        return ray_err_last_code();
    if (size)
        memcpy(p, data, size);
    return 0;
}

RAY_API int ray_fail(ray_ctx *ctx, const char *fmt, ...)
{
    if (!ctx || ctx != ray_cl.task)
        return ray_err(RAY_EINVAL, "ray_fail outside the running task");
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt ? fmt : "(no message)", ap);
    va_end(ap);
    free(ctx->fail_msg);
    ctx->fail_msg = strdup(buf);
    ctx->failed = 1;
    return RAY_ETASK;
}

RAY_API int ray_ctx_node(const ray_ctx *ctx)
{
    (void)ctx;
    return (int)ray_cl.node;
}

RAY_API int ray_ctx_gpus(const ray_ctx *ctx, int *ids, int max)
{
    if (!ctx || (max > 0 && !ids) || max < 0)
        return ray_err(RAY_EINVAL, "ray_ctx_gpus needs a context and room for the ids");
    int n = (int)RAY_MIN(ray_cl.me->ngpus, 16u);
    for (int i = 0; i < n && i < max; i++)
        ids[i] = ray_cl.me->gpu_ids[i];
    return n;
}

RAY_API int ray_ctx_cancelled(const ray_ctx *ctx)
{
    if (!ctx)
        return 0;
    return !!(atomic_load(&ctx->t->state) & TASK_F_CANCEL);
}

/* Seals (or fails) every output, then tells the service of those it
 * watches.  SEALING first: if this process dies half way, the service
 * seals the rest instead of running the task again. */
static void finish(ray_ctx *ctx, int rc, const char *fn_name)
{
    store *st = cl_store();
    uint32_t watched[SCHED_MAX_RETURNS];
    int n = 0;
    RAY_FAULT(RETURNED);
    if (rc != RAY_OK || ctx->failed) {
        char buf[4200];
        const char *msg = ctx->fail_msg;
        if (!msg) {
            snprintf(buf, sizeof(buf), "task %s returned %s without ray_fail (last error: %s)",
                     fn_name, ray_errname(rc), ray_last_error());
            msg = buf;
        }
        n = sched_task_fail(cl_sched(), ctx->t, RAY_ETASK, msg, 0, watched);
    } else {
        atomic_fetch_or(&ctx->t->state, TASK_F_SEALING);
        for (uint32_t i = 0; i < ctx->nret; i++) {
            if (store_obj_seal(st, ctx->outs[i].slot))
                watched[n++] = ctx->outs[i].slot;
            if (i == 0)
                RAY_FAULT(SEALING);
        }
    }
    free(ctx->fail_msg);
    RAY_FAULT(SEALED);
    client_notify(watched, n);
}

/* A task's arguments as the function sees them. */
typedef struct task_args {
    sched_args a;
    ray_buf *bufs;
    ray_buf small[SCHED_ARGS_SMALL];
} task_args;

static void args_free(task_args *ta)
{
    sched_args_free(&ta->a);
    if (ta->bufs != ta->small)
        free(ta->bufs);
    ta->bufs = ta->small;
}

/* Decodes t's arguments into ta (free it with args_free, whatever this
 * returns), waiting for refs that are not ready; *err_src is the first
 * argument that is an error. */
static int resolve_args(sched_task *t, const sched_out **outs, task_args *ta,
                        uint32_t *err_src)
{
    *err_src = 0;
    ta->bufs = ta->small;
    int rc = sched_args_decode(cl_sched(), t, outs, &ta->a);
    if (rc)
        return rc;
    uint32_t n = ta->a.n; /* read once: the slot is shared memory */
    if (n > SCHED_ARGS_SMALL && !(ta->bufs = calloc(n, sizeof(*ta->bufs)))) {
        ta->bufs = ta->small;
        return ray_err(RAY_ENOMEM, "out of memory for %u arguments", n);
    }
    store *st = cl_store();
    const sched_arg_view *views = ta->a.v;
    ray_buf *bufs = ta->bufs;
    for (uint32_t i = 0; i < n; i++) {
        if (views[i].kind == SCHED_ARG_VAL) {
            bufs[i] = (ray_buf){views[i].data, views[i].len};
            continue;
        }
        ray_id id = views[i].ref;
        if (!id.slot || id.slot >= st->max_objects || st->objs[id.slot].gen != id.gen)
            return ray_err(RAY_EPROTO, "argument %u names a freed object", i);
        uint32_t s = atomic_load_explicit(&st->objs[id.slot].state, memory_order_acquire);
        if (!STORE_IS_READY(s)) {
            /* Actor calls wait for their arguments in queue order. */
            uint32_t slot = id.slot, gen = id.gen;
            rc = client_wait(&slot, &gen, 1, 1, 1, UINT64_MAX);
            if (rc < 0)
                return rc;
            s = atomic_load_explicit(&st->objs[id.slot].state, memory_order_acquire);
        }
        if (STORE_STATE(s) == STORE_ERROR && !*err_src)
            *err_src = id.slot;
        store_obj *o = &st->objs[id.slot];
        if (o->block && o->size >= (1u << 20)) /* the task will read it all */
            store_populate(st, o->u.offset, o->size, 0);
        bufs[i] = (ray_buf){store_obj_view(st, id.slot), o->size};
    }
    return 0;
}

/* Fails a task before it runs (bad body, missing function, error argument). */
static void fail_early(uint32_t t, int code, const char *msg, uint32_t err_src)
{
    sched *sh = cl_sched();
    sched_task *k = sched_task_at(sh, t);
    uint32_t watched[SCHED_MAX_RETURNS];
    client_notify(watched, sched_task_fail(sh, k, code, msg, err_src, watched));
}

/* The timeline's record (kind) of task k, run from start to now with
 * arguments ta and outputs ctx->outs (none for an actor's creation). */
static void tl_task(uint32_t kind, const sched_task *k, const ray_ctx *ctx, const task_args *ta,
                    uint64_t start, int status)
{
    ray_tl_event *e = ray_tl_next();
    if (!e)
        return;
    store *st = cl_store();
    e->queued_ns = k->queued_ns;
    e->start_ns = start;
    e->end_ns = ray_now_ns();
    e->status = status;
    e->attempt = k->attempt;
    for (uint32_t i = 0; i < ta->a.n; i++)
        e->bytes_in += ta->bufs[i].size;
    for (uint32_t i = 0; ctx->outs && i < ctx->nret; i++)
        if (ctx->outs[i].slot < st->max_objects)
            e->bytes_out += st->objs[ctx->outs[i].slot].size;
    memcpy(e->name, k->name, RAY_MIN(sizeof(e->name), sizeof(k->name)));
    e->name[sizeof(e->name) - 1] = 0;
    ray_tl_commit(e, kind);
}

int worker_run_task(uint32_t t)
{
    sched *sh = cl_sched();
    sched_task *k = sched_task_at(sh, t);
    task_args ta;
    ray_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.task = t;
    ctx.t = k;
    ctx.nret = k->nret;
    ctx.state = actor_state;
    uint32_t err_src = 0;
    const reg_entry *e = NULL;
    ray_ctx *outer = ray_cl.task;
    ray_cl.task = &ctx; /* a wait for arguments lends the CPU like ray_get */
    ray_cl.epoch++;
    RAY_FAULT(CLAIMED);
    int rc = resolve_args(k, &ctx.outs, &ta, &err_src);
    if (!rc && !err_src) {
        e = registry_find(k->fn);
        int want = k->kind == TASK_ACTOR_CALL ? REG_METHOD : REG_FUNCTION;
        if (!e || e->kind != want)
            rc = ray_err(RAY_ENOFUNC, "%s '%s' is not registered in worker pid %d (built from "
                                      "another executable?)",
                         want == REG_METHOD ? "method" : "function", k->name, (int)getpid());
    }
    if (rc || err_src) {
        fail_early(t, rc, ray_last_error(), err_src);
    } else {
        uint64_t t0 = ray_now_ns();
        if (k->kind == TASK_ACTOR_CALL)
            rc = e->method(&ctx, actor_state, ta.bufs, (int)ta.a.n);
        else
            rc = e->fn(&ctx, ta.bufs, (int)ta.a.n);
        if (ray_cl.kind == CLIENT_POOL && atomic_load(&ray_cl.me->depth) == 1 &&
            batch_pos + 1 >= ray_cl.me->batch_n)
            look_start(); /* last of its batch, before the outputs are seen: see lookers */
        finish(&ctx, rc, k->name);
        if (ray_tl_on)
            tl_task(k->kind == TASK_ACTOR_CALL ? RAY_TL_ACTOR_CALL : RAY_TL_TASK, k, &ctx, &ta, t0,
                    rc ? rc : ctx.failed ? RAY_ETASK : 0);
        uint64_t dt = ray_now_ns() - t0;
        atomic_store_explicit(&ray_cl.me->tasks_done,
                              atomic_load_explicit(&ray_cl.me->tasks_done, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        avg_task_ns = avg_task_ns ? (avg_task_ns * 7 + dt) / 8 : dt;
        if (ray_cl.auto_release)
            client_hold_release_frame(atomic_load(&ray_cl.me->depth));
    }
    ray_cl.task = outer;
    args_free(&ta);
    sched_task_finish(sh, t);
    stack_pop();
    return 0;
}

/* Claims task (slot, gen) taken from a queue: QUEUED -> RUNNING by this
 * process.  Anything else is what unlinking it asks for (a cancelled or
 * in-place-done task is freed here). */
static int claim(sched_out b)
{
    sched *sh = cl_sched();
    uint32_t t = b.slot, s;
    if (!t || t >= sh->r->max_tasks || sched_task_at(sh, t)->gen != b.gen)
        return 0; /* freed and reused since: not ours */
    sched_task *k = sched_task_at(sh, t);
    stack_push(t);
    for (;;) {
        s = TASK_TAGGED(TASK_QUEUED, b.gen);
        if (atomic_compare_exchange_strong(&k->state, &s, TASK_MAKE(TASK_RUNNING, ray_cl.slot)))
            return 1;
        s = sched_task_unlinked(sh, t);
        if (TASK_STATE(s) != TASK_QUEUED)
            break; /* QUEUED again means a rerun raced us: claim again */
    }
    stack_pop();
    uint32_t st = TASK_STATE(s);
    if (st != TASK_CANCELLED && st != TASK_DONE && st != TASK_RUNNING && st != TASK_CANCELLING)
        ray_warn("worker", "task slot %u in a queue is in state %u; skipped", t, s);
    return 0;
}

int worker_run_inline(uint32_t obj, uint32_t gen)
{
    sched *sh = cl_sched();
    store *st = cl_store();
    sched_client *me = ray_cl.me;
    if (ray_cl.kind != CLIENT_POOL || !ray_cl.task || atomic_load(&me->depth) >= SCHED_STACK_MAX)
        return 0;
    store_obj *o = &st->objs[obj];
    uint32_t t = o->task;
    if (o->gen != gen || STORE_STATE(atomic_load(&o->state)) != STORE_PENDING || !t ||
        t >= sh->r->max_tasks)
        return 0;
    sched_task *k = sched_task_at(sh, t);
    uint32_t s = atomic_load(&k->state);
    if (s != TASK_TAGGED(TASK_QUEUED, k->gen) || k->kind != TASK_NORMAL || k->cpu_milli != 1000 ||
        k->gpu_milli || k->res_len)
        return 0;
    /* The task that makes what we wait for sits in a queue: run it here,
     * depth first, instead of sleeping while it waits for a worker.  It
     * stays linked in its queue; its slot is freed by whoever unlinks it. */
    stack_push(t);
    if (!atomic_compare_exchange_strong(&k->state, &s,
                                        TASK_MAKE(TASK_RUNNING, ray_cl.slot) | TASK_F_INPLACE)) {
        stack_pop();
        return 0;
    }
    RAY_FAULT(INLINE);
    worker_run_task(t);
    return 1;
}

/* ---- lending the CPU while blocked */

int32_t worker_block_enter(void)
{
    sched *sh = cl_sched();
    sched_client *me = ray_cl.me;
    /* Tasks taken but not started go back: another worker runs them (one
     * may be what this task waits for). */
    uint32_t n = me->batch_n, from = batch_pos + 1;
    if (ray_cl.kind == CLIENT_POOL && from < n) {
        sched_queue_push_front(sh, &sh->r->ready, &me->batch[from], n - from);
        me->batch_n = from;
        ray_evc_signal(&sh->r->ready.evc, (int)(n - from));
    }
    look_stop();
    atomic_store(&me->state, CLIENT_BLOCKED);
    /* Give first, then forget: a death in between counts the CPU twice
     * (the service gives it again), never loses it. */
    int32_t lent = atomic_load(&me->cpu_held);
    sched_cpu_put(sh, lent);
    atomic_store(&me->cpu_held, 0);
    msg_wait m = {MSG_WAIT_BLOCKED, 0};
    client_send(MSG_WAIT, &m, sizeof(m));
    return lent;
}

void worker_block_exit(int32_t lent)
{
    sched *sh = cl_sched();
    /* Claim first, then take, even if that overcommits the node for a
     * while: the pool gives it back when its current tasks end. */
    atomic_store(&ray_cl.me->cpu_held, lent);
    atomic_fetch_sub(&sh->r->cpu_avail, lent);
    atomic_store(&ray_cl.me->state, CLIENT_RUNNING);
    client_send(MSG_UNBLOCKED, NULL, 0);
}

/* ---- pool workers */

static uint32_t batch_size(uint32_t len)
{
    if (avg_task_ns > 20000)
        return 1; /* long tasks: take one, leave the rest to idle workers */
    double cpus = R()->total_cpus > 1 ? R()->total_cpus : 1;
    uint32_t k = (uint32_t)(len / (2 * cpus));
    return RAY_MAX(1u, RAY_MIN(k, (uint32_t)SCHED_BATCH_MAX));
}

/* A CPU token moves in two steps (this process's cpu_held, the node's
 * cpu_avail), ordered so that a death in between counts it twice (the
 * service returns what cpu_held says; the pool is capped) but never loses
 * it. */
static int token_take(void)
{
    if (atomic_load_explicit(&R()->cpu_wanted, memory_order_relaxed))
        return 0; /* the service gathers CPU for an actor or a bigger task */
    atomic_store(&ray_cl.me->cpu_held, 1000);
    if (sched_cpu_try(cl_sched(), 1000))
        return 1;
    atomic_store(&ray_cl.me->cpu_held, 0);
    return 0;
}

static void token_put(void)
{
    sched_cpu_put(cl_sched(), atomic_load(&ray_cl.me->cpu_held));
    atomic_store(&ray_cl.me->cpu_held, 0);
}

static void token_wait(void)
{
    sched_region *r = R();
    uint32_t seq = ray_evc_prepare(&r->cpu_evc);
    if ((atomic_load(&r->cpu_avail) >= 1000 && !atomic_load(&r->cpu_wanted)) || exit_asked() ||
        !atomic_load(&r->ready.len)) {
        ray_evc_cancel(&r->cpu_evc);
        return;
    }
    ray_evc_wait(&r->cpu_evc, seq, ray_now_ns() + 100000000ULL);
}

/*
 * Lookers: pool workers that will look at the ready queue without being
 * woken (r->lookers).  A worker counts itself from the moment its task
 * returns, before its outputs are sealed, until it takes more work or
 * sleeps: a driver that submits as soon as it sees a result then finds a
 * looker and wakes nobody (a futex wake costs it microseconds).  The count
 * is signed: if a worker dies between the flag and the count, the error
 * only costs extra wake-ups; sleeps are bounded besides.
 */
static void look_start(void)
{
    if (!atomic_load_explicit(&ray_cl.me->looking, memory_order_relaxed)) {
        atomic_store(&ray_cl.me->looking, 1); /* the service undoes it if we die */
        atomic_fetch_add(&R()->lookers, 1);
    }
}

static void look_stop(void)
{
    if (atomic_load_explicit(&ray_cl.me->looking, memory_order_relaxed)) {
        atomic_fetch_sub(&R()->lookers, 1);
        atomic_store(&ray_cl.me->looking, 0);
    }
}

/*
 * Spinners: lookers that spin in pool_wait, at most one at a time (more
 * would take cores from the driver and the others).  A looker still
 * sealing its outputs does not count: when two workers end tasks whose
 * outputs the same next tasks wait for (a stencil's step), the first to
 * finish spins while the second seals and queues them, instead of
 * sleeping and being woken (a futex wake costs more than a short task).
 * It spins the full RAY_MPI_SPIN_US when it is the only looker, and only
 * SPIN_BESIDE_NS beside a sealing one: enough for that one's seal, not
 * long enough to starve a driver that is submitting.  Like lookers,
 * flagged before counted, and undone by the service if the worker dies.
 */
#define SPIN_BESIDE_NS 10000ULL
static int spin_start(void)
{
    atomic_store(&ray_cl.me->spinning, 1);
    if (atomic_fetch_add(&R()->spinners, 1) <= 0)
        return 1;
    atomic_fetch_sub(&R()->spinners, 1);
    atomic_store(&ray_cl.me->spinning, 0);
    return 0;
}

static void spin_stop(void)
{
    atomic_fetch_sub(&R()->spinners, 1);
    atomic_store(&ray_cl.me->spinning, 0);
}

/* Spins for work if no other looker spins (see spinners), then sleeps.
 * Sleeping workers hold no CPU token. */
static void pool_wait(void)
{
    sched_region *r = R();
    look_start();
    int alone = atomic_load(&r->lookers) == 1;
    if (spin_start()) {
        uint64_t spin = alone ? ray_cl.spin_ns : RAY_MIN(ray_cl.spin_ns, SPIN_BESIDE_NS);
        uint64_t end = ray_now_ns() + spin;
        for (unsigned i = 1;; i++) {
            if (atomic_load_explicit(&r->ready.len, memory_order_acquire) || exit_asked()) {
                spin_stop();
                return; /* still a looker: pool_loop takes it */
            }
            if (!(i & 63)) {
                if (ray_now_ns() >= end || atomic_load(&r->cpu_wanted))
                    break;
                sched_yield();
            }
            ray_cpu_relax();
        }
        spin_stop();
    }
    /* Stop looking, then look once more (a push that saw us looking did
     * not wake anyone), then sleep. */
    look_stop();
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&r->ready.len))
        return;
    if (atomic_load(&ray_cl.me->cpu_held))
        token_put();
    atomic_store(&ray_cl.me->state, CLIENT_IDLE);
    uint32_t seq = ray_evc_prepare(&r->ready.evc);
    if (atomic_load(&r->ready.len) || exit_asked()) {
        ray_evc_cancel(&r->ready.evc);
        return;
    }
    fflush(NULL); /* what tasks printed shows up when the worker goes idle */
    ray_evc_wait(&r->ready.evc, seq, ray_now_ns() + 1000000000ULL);
}

static void run_batch(void)
{
    sched_client *me = ray_cl.me;
    atomic_store(&me->state, CLIENT_RUNNING);
    for (batch_pos = 0; batch_pos < me->batch_n; batch_pos++) {
        if (claim(me->batch[batch_pos]))
            worker_run_task(me->batch[batch_pos].slot);
        me->batch[batch_pos] = (sched_out){0, 0};
    }
    me->batch_n = 0;
    batch_pos = 0;
    atomic_store(&me->last_active_ns, ray_now_ns());
}

static void pool_loop(void)
{
    sched *sh = cl_sched();
    sched_region *r = sh->r;
    sched_client *me = ray_cl.me;
    ray_cl.auto_release = 1;
    while (!exit_asked()) {
        uint32_t len = atomic_load_explicit(&r->ready.len, memory_order_acquire);
        if (!len) {
            pool_wait();
            continue;
        }
        if (!atomic_load(&me->cpu_held) && !token_take()) {
            look_stop(); /* asleep, it is not about to look */
            token_wait();
            continue;
        }
        uint32_t n = sched_queue_pop(sh, &r->ready, me->batch, &me->batch_n, batch_size(len));
        look_stop(); /* busy now: whoever pushes more must wake someone */
        if (!n)
            continue;
        RAY_FAULT(BATCH_TAKEN);
        /* More waiting and nobody else looking: wake one more worker. */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&r->ready.len) && atomic_load(&r->lookers) <= 0)
            ray_evc_signal(&r->ready.evc, 1);
        run_batch();
        if (atomic_load(&r->cpu_avail) < 0 || atomic_load(&r->cpu_wanted))
            token_put(); /* pay back CPU lent twice, or let the service gather it */
    }
}

/* ---- dedicated workers: tasks of other shapes, from the mailbox */

static void mailbox_wait(sched_queue *q)
{
    uint64_t end = ray_now_ns() + ray_cl.spin_ns;
    for (unsigned i = 1; !atomic_load(&q->len) && !exit_asked(); i++) {
        if (!(i & 63) && ray_now_ns() >= end) {
            atomic_store(&ray_cl.me->state, CLIENT_IDLE);
            uint32_t seq = ray_evc_prepare(&q->evc);
            if (atomic_load(&q->len) || exit_asked()) {
                ray_evc_cancel(&q->evc);
                return;
            }
            fflush(NULL);
            ray_evc_wait(&q->evc, seq, ray_now_ns() + 1000000000ULL);
            return;
        }
        ray_cpu_relax();
    }
}

/* Runs where the service placed it (sched_client.bind): its CPUs and NUMA
 * domain, and the GPU variables of its GPUs; again only when the service
 * changed them (bind_seq), so a task of the same shape costs a load. */
static void bind_apply(void)
{
    static uint32_t seen;
    static int init;
    sched_client *me = ray_cl.me;
    uint32_t seq = atomic_load_explicit(&me->bind_seq, memory_order_acquire);
    if (seq == seen)
        return;
    seen = seq;
    const topo_binding *b = &me->bind;
    for (int i = 0; i < me->gpu_env.n && i < 3; i++)
        ray_env_set(me->gpu_env.var[i].name, me->gpu_env.var[i].value);
    if (!b->apply || !b->cpus[0])
        return;
    if (!init) { /* the service's export: no discovery of our own */
        char xml[sizeof(ray_cl.jobdir) + 16];
        snprintf(xml, sizeof(xml), "%s/topology.xml", ray_cl.jobdir);
        init = !topo_bind_init(xml);
    }
    if (topo_bind_self(b))
        ray_warn("worker", "runs unbound: %s", ray_last_error());
}

static void dedicated_loop(void)
{
    sched *sh = cl_sched();
    sched_client *me = ray_cl.me;
    ray_cl.auto_release = 1;
    while (!exit_asked()) {
        uint32_t n = sched_queue_pop(sh, &me->mailbox, me->batch, &me->batch_n, 1);
        if (!n) {
            mailbox_wait(&me->mailbox);
            continue;
        }
        sched_out b = me->batch[0];
        msg_task done = {b.slot, b.gen};
        atomic_store(&me->state, CLIENT_RUNNING);
        bind_apply(); /* a task of another shape: the grant the service gave for it */
        batch_pos = 0;
        if (claim(b))
            worker_run_task(b.slot);
        me->batch[0] = (sched_out){0, 0};
        me->batch_n = 0;
        atomic_store(&me->state, CLIENT_IDLE);
        client_send(MSG_DONE, &done, sizeof(done));
    }
}

/* ---- actors */

/* Calls this dead actor took from its queue but did not run. */
static void actor_fail_calls(sched_actor *a, sched_out *ts, uint32_t n)
{
    sched *sh = cl_sched();
    char msg[600];
    actor_death_msg(a, a->gen, msg, sizeof(msg));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = ts[i].slot, s = TASK_TAGGED(TASK_QUEUED, ts[i].gen);
        if (!t || t >= sh->r->max_tasks || sched_task_at(sh, t)->gen != ts[i].gen)
            continue;
        if (atomic_compare_exchange_strong(&sched_task_at(sh, t)->state, &s,
                                           TASK_TAGGED(TASK_CANCELLED, ts[i].gen))) {
            fail_early(t, RAY_EACTOR, msg, 0);
            sched_task_dispose(sh, t);
        } else {
            sched_task_unlinked(sh, t);
        }
        ts[i] = (sched_out){0, 0};
    }
}

static void *actor_init(sched_actor *a, const reg_entry **cls)
{
    sched *sh = cl_sched();
    uint32_t t = a->create_task;
    sched_task *k = sched_task_at(sh, t);
    const sched_out *outs;
    task_args ta;
    uint32_t err_src = 0;
    void *state = NULL;
    ray_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.task = t;
    ctx.t = k;
    int rc = resolve_args(k, &outs, &ta, &err_src);
    *cls = registry_find(a->cls);
    char msg[4200];
    if (!rc && err_src) {
        client_object_error(err_src);
        rc = RAY_ETASK;
    }
    if (!rc && (!*cls || (*cls)->kind != REG_ACTOR))
        rc = ray_err(RAY_ENOFUNC, "actor class '%s' is not registered in pid %d", k->name,
                     (int)getpid());
    if (!rc) {
        uint64_t t0 = ray_now_ns();
        ray_cl.task = &ctx;
        state = (*cls)->init(&ctx, ta.bufs, (int)ta.a.n);
        ray_cl.task = NULL;
        if (ray_tl_on)
            tl_task(RAY_TL_ACTOR_CREATE, k, &ctx, &ta, t0, ctx.failed || !state ? RAY_EACTOR : 0);
        if (ctx.failed || !state) {
            snprintf(msg, sizeof(msg), "actor %s init failed: %s", k->name,
                     ctx.fail_msg ? ctx.fail_msg : "init returned NULL");
            if (state && (*cls)->fini)
                (*cls)->fini(state);
            state = NULL;
            rc = RAY_EACTOR;
        }
    } else {
        snprintf(msg, sizeof(msg), "actor %s cannot start: %s", k->name, ray_last_error());
        rc = RAY_EACTOR;
    }
    free(ctx.fail_msg);
    args_free(&ta);
    size_t mlen = rc ? strlen(msg) : 0;
    pthread_mutex_lock(&ray_cl.lock);
    msg_actor_started *m = client_msg_begin(MSG_ACTOR_STARTED, (uint32_t)(sizeof(*m) + mlen));
    if (m) {
        m->slot = ray_cl.me->actor;
        m->gen = a->gen;
        m->code = rc;
        m->msg_len = (uint32_t)mlen;
        memcpy(m->msg, msg, mlen);
        client_msg_end();
    }
    pthread_mutex_unlock(&ray_cl.lock);
    return state;
}

static void actor_loop(void)
{
    sched *sh = cl_sched();
    sched_client *me = ray_cl.me;
    sched_actor *a = sched_actor_at(sh, me->actor);
    const reg_entry *cls = NULL;
    ray_cl.auto_release = 0; /* an actor's state may keep refs across calls */
    void *state = NULL;
    if (!exit_asked() && atomic_load(&a->state) != ACTOR_DEAD)
        state = actor_init(a, &cls);
    actor_state = state;
    while (state && !exit_asked() && atomic_load(&a->state) != ACTOR_DEAD) {
        uint32_t n = sched_queue_pop(sh, &a->calls, me->batch, &me->batch_n, SCHED_BATCH_MAX);
        if (!n) {
            mailbox_wait(&a->calls);
            continue;
        }
        atomic_store(&me->state, CLIENT_RUNNING);
        for (batch_pos = 0; batch_pos < me->batch_n; batch_pos++) {
            if (atomic_load(&a->state) == ACTOR_DEAD) {
                actor_fail_calls(a, &me->batch[batch_pos], me->batch_n - batch_pos);
                break;
            }
            if (claim(me->batch[batch_pos])) {
                RAY_FAULT(ACTOR_CALL);
                worker_run_task(me->batch[batch_pos].slot);
            }
            me->batch[batch_pos] = (sched_out){0, 0};
        }
        me->batch_n = 0;
    }
    if (state && cls && cls->fini && !atomic_exchange(&a->fini_done, 1))
        cls->fini(state);
    msg_actor m = {me->actor, a->gen};
    client_send(MSG_ACTOR_EXIT, &m, sizeof(m));
    /* Wait for the service's word so no call is left half-handled. */
    while (!exit_asked()) {
        uint32_t seq = atomic_load(&me->doorbell);
        if (exit_asked())
            break;
        ray_futex_wait(&me->doorbell, seq, ray_now_ns() + 200000000ULL);
        if (client_service_alive())
            break;
    }
}

/* This process's row of the timeline (when it is kept). */
static void tl_open(void)
{
    char role[64];
    sched *sh = cl_sched();
    if (ray_cl.kind == CLIENT_ACTOR && ray_cl.me->actor < sh->r->max_actors) {
        const sched_actor *a = sched_actor_at(sh, ray_cl.me->actor);
        const char *cls = a->create_task < sh->r->max_tasks ? sched_task_at(sh, a->create_task)->name : "";
        char name[SCHED_ACTOR_NAME_MAX];
        snprintf(name, sizeof(name), "%s", a->name);
        if (name[0])
            snprintf(role, sizeof(role), "actor %.20s '%.30s'", cls, name);
        else
            snprintf(role, sizeof(role), "actor %.23s", cls);
    } else
        snprintf(role, sizeof(role), "%s", ray_cl.kind == CLIENT_DEDICATED ? "dedicated worker" : "worker");
    if (ray_tl_open(&ray_cl.cfg, ray_cl.jobdir, ray_cl.node, role, 0))
        ray_warn("worker", "no timeline from pid %d: %s", (int)getpid(), ray_last_error());
}

_Noreturn void worker_main(void)
{
    ray_debug("worker", "worker slot %u kind %u started", ray_cl.slot, ray_cl.kind);
    tl_open();
    bind_apply();
    switch (ray_cl.kind) {
    case CLIENT_DEDICATED: dedicated_loop(); break;
    case CLIENT_ACTOR: actor_loop(); break;
    default: pool_loop(); break;
    }
    look_stop();
    if (atomic_load(&ray_cl.me->cpu_held))
        token_put();
    fflush(NULL);
    _exit(0);
}
