/*
 * task.c - task slots: taking and freeing them, reading a task's body, and
 * the hand-offs of a slot's lifetime between the processes that touch it.
 *
 * A body is written by its submitter and read by workers and the node
 * service, so every reader checks each record against the body's length
 * before it follows it.  A slot is freed exactly once, by whoever holds it
 * last: the worker that ran it, whoever unlinks it from a queue (when it
 * was cancelled or ran in place), or the canceller (when it was unlinked
 * while being cancelled).  Flags in the state word say who that is.
 */
#include "sched.h"

#include <stdlib.h>

int sched_task_new(sched *s, uint32_t *slot, _Atomic uint64_t *building)
{
    /* Said before the slot is taken: a death before it is recorded (in
     * building, counted just before) leaves the count in doubt, and the
     * node service then has the stats count the table. */
    if (building)
        atomic_store_explicit(building, SCHED_BUILDING_NEW, memory_order_relaxed);
    uint32_t t = ray_freelist_pop(&s->r->task_slots, s->tasks, sizeof(sched_task),
                                  offsetof(sched_task, next_free));
    if (!t) {
        if (building)
            atomic_store_explicit(building, 0, memory_order_relaxed);
        return ray_err(RAY_ETOOBIG, "task table full: %u tasks pending (raise "
                                    "RAY_MPI_MAX_TASKS)", s->r->max_tasks - 1);
    }
    atomic_fetch_add_explicit(&s->r->tasks_live, 1, memory_order_relaxed);
    sched_task *k = &s->tasks[t];
    k->gen = ray_gen_next(k->gen);
    if (building)
        atomic_store_explicit(building, sched_pack(t, k->gen), memory_order_relaxed);
    k->qnext = 0;
    k->nret = k->nargs = 0;
    k->body_len = 0;
    k->body_obj = 0;
    k->res_len = 0;
    k->attempt = 0;
    k->actor = 0;
    k->flags = 0;
    k->node = SCHED_NODE_ANY;
    k->actor_gen = 0;
    k->name[0] = 0;
    k->queued_ns = 0;
    atomic_store_explicit(&k->released, 0, memory_order_relaxed);
    *slot = t;
    return 0;
}

void sched_task_free(sched *s, uint32_t slot)
{
    atomic_store_explicit(&s->tasks[slot].state, TASK_FREE, memory_order_release);
    atomic_fetch_sub_explicit(&s->r->tasks_live, 1, memory_order_relaxed);
    ray_freelist_push(&s->r->task_slots, s->tasks, sizeof(sched_task),
                      offsetof(sched_task, next_free), slot);
}

/* Where t's body is and its length, if it lies where the task says: in the
 * slot, or in its body object's bytes (the entry's inline bytes, or its
 * arena block: aligned as the allocator aligns blocks, inside the arena;
 * the table is shared memory).  NULL with *len 0 otherwise. */
static const uint8_t *body_at(const sched *s, const sched_task *t, uint32_t *len)
{
    uint32_t n = t->body_len, obj = t->body_obj;
    *len = 0;
    if (!obj) {
        if (n > SCHED_BODY_INLINE)
            return NULL;
        *len = n;
        return t->body;
    }
    if (obj >= s->st.max_objects)
        return NULL;
    const store_obj *o = &s->st.objs[obj];
    uint64_t size = o->size, off = o->u.offset;
    uint32_t block = o->block; /* each read once: the entry is shared memory */
    if (size < n || (block ? off % STORE_ALIGN || off > s->st.arena_size ||
                                 n > s->st.arena_size - off
                           : n > STORE_INLINE_MAX))
        return NULL;
    *len = n;
    return block ? s->st.arena_ro + off : s->st.objs_ro[obj].u.inl;
}

const uint8_t *sched_task_body(const sched *s, const sched_task *t)
{
    uint32_t len;
    return body_at(s, t, &len);
}

int sched_out_ok(const sched *s, sched_out o)
{
    return o.slot && o.slot < s->st.max_objects && s->st.objs[o.slot].gen == o.gen;
}

uint32_t sched_task_outputs(const sched *s, const sched_task *t, const sched_out **outs)
{
    uint32_t n = t->nret, len;
    *outs = (const sched_out *)body_at(s, t, &len);
    if (!*outs || n > SCHED_MAX_RETURNS || (uint64_t)n * sizeof(sched_out) > len)
        return 0;
    return n;
}

const char *sched_task_res(const sched *s, const sched_task *t, int *len)
{
    uint32_t blen, rlen = t->res_len;
    const uint8_t *b = body_at(s, t, &blen);
    *len = 0;
    if (!b || !rlen || rlen > blen)
        return NULL;
    *len = (int)rlen;
    return (const char *)b + blen - rlen;
}

/* One argument record at b[*pos], checked against the body's length. */
static int decode_arg(const uint8_t *b, uint32_t len, uint64_t *pos, uint32_t i,
                      sched_arg_view *arg)
{
    if (*pos + sizeof(sched_argrec) > len)
        return ray_err(RAY_EPROTO, "task body ends inside argument %u", i);
    sched_argrec rec;
    memcpy(&rec, b + *pos, sizeof(rec));
    *pos += sizeof(rec);
    uint64_t padded = RAY_ALIGN_UP((uint64_t)rec.len, 8);
    if (*pos + padded > len)
        return ray_err(RAY_EPROTO, "argument %u overruns the task body", i);
    arg->kind = rec.kind;
    arg->len = rec.len;
    if (rec.kind == SCHED_ARG_VAL) {
        arg->data = b + *pos;
    } else if (rec.kind == SCHED_ARG_REF && rec.len == sizeof(ray_id)) {
        memcpy(&arg->ref, b + *pos, sizeof(ray_id));
        arg->data = NULL;
    } else {
        return ray_err(RAY_EPROTO, "argument %u has kind %u", i, rec.kind);
    }
    *pos += padded;
    return 0;
}

/* Decodes nargs arguments (the count read once by the caller, which sized
 * args for it: the slot is shared memory and may change meanwhile). */
static int decode(const sched *s, const sched_task *t, uint32_t nargs, const sched_out **outs,
                  sched_arg_view *args)
{
    uint32_t nret = t->nret, len;
    const uint8_t *b = body_at(s, t, &len);
    if (!b)
        return ray_err(RAY_EPROTO, "task body of %u bytes is not where it says", t->body_len);
    if (nret > SCHED_MAX_RETURNS || nargs > SCHED_MAX_ARGS ||
        (uint64_t)nret * sizeof(sched_out) > len)
        return ray_err(RAY_EPROTO, "task has %u outputs and %u args in %u bytes", nret,
                       nargs, len);
    *outs = (const sched_out *)b;
    uint64_t pos = (uint64_t)nret * sizeof(sched_out);
    for (uint32_t i = 0; i < nargs; i++) {
        int rc = decode_arg(b, len, &pos, i, &args[i]);
        if (rc)
            return rc;
    }
    if (pos + t->res_len > len)
        return ray_err(RAY_EPROTO, "task resources overrun the body");
    return 0;
}

int sched_task_decode(const sched *s, const sched_task *t, const sched_out **outs,
                      sched_arg_view *args)
{
    return decode(s, t, t->nargs, outs, args);
}

int sched_args_decode(const sched *s, const sched_task *t, const sched_out **outs,
                      sched_args *a)
{
    a->v = a->small;
    a->n = t->nargs;
    if (a->n > SCHED_ARGS_SMALL && !(a->v = calloc(a->n, sizeof(*a->v)))) {
        a->v = a->small;
        return ray_err(RAY_ENOMEM, "out of memory for %u arguments", a->n);
    }
    int rc = decode(s, t, a->n, outs, a->v);
    if (rc)
        sched_args_free(a);
    return rc;
}

void sched_args_free(sched_args *a)
{
    if (a->v != a->small)
        free(a->v);
    a->v = a->small;
}

int sched_task_fail(sched *s, const sched_task *t, int code, const char *msg,
                    uint32_t err_src, uint32_t *notify)
{
    const sched_out *outs;
    uint32_t nret = sched_task_outputs(s, t, &outs);
    size_t len = msg ? strlen(msg) : 0;
    int n = 0;
    for (uint32_t i = 0; i < nret; i++) {
        if (!sched_out_ok(s, outs[i]))
            continue;
        store_obj *o = &s->st.objs[outs[i].slot];
        if (STORE_STATE(atomic_load(&o->state)) != STORE_PENDING)
            continue;
        int watched = err_src ? store_obj_copy_error(&s->st, outs[i].slot, err_src)
                              : store_obj_fail(&s->st, outs[i].slot, code, msg, len);
        if (watched)
            notify[n++] = outs[i].slot;
        RAY_FAULT(FAILING);
    }
    return n;
}

__thread sched_client *sched_journal;

/* Lets go of hold i (counted in t->released) once.  A tracked thread
 * marks the object as it drops the count, then moves t->released (the
 * journal says where, for the node service if it dies in between); any
 * other (the service) moves t->released first: it does not die there. */
static void release_hold(sched *s, sched_task *t, uint32_t i, uint32_t obj)
{
    if (atomic_load_explicit(&t->released, memory_order_relaxed) > i)
        return;
    if (obj && sched_journal) {
        sched_journal_note(obj, s->st.objs[obj].gen,
                           SCHED_JNL_REC(SCHED_JNL_HOLD, (uint32_t)(t - s->tasks), i));
        int last = store_obj_mark_add(&s->st, obj, 0, -1);
        atomic_store_explicit(&t->released, i + 1, memory_order_release);
        if (last)
            store_obj_free(&s->st, obj);
        else
            store_obj_unmark(&s->st, obj);
    } else {
        atomic_store_explicit(&t->released, i + 1, memory_order_release);
        if (obj)
            store_obj_unref(&s->st, obj);
    }
    RAY_FAULT(FINISHING);
}

void sched_task_release(sched *s, uint32_t slot)
{
    sched_task *t = &s->tasks[slot];
    const sched_out *outs;
    sched_args a;
    uint32_t nret = sched_task_outputs(s, t, &outs);
    for (uint32_t i = 0; i < nret; i++) /* the producer's hold */
        release_hold(s, t, i, sched_out_ok(s, outs[i]) ? outs[i].slot : 0);
    uint32_t nargs = t->nargs; /* read once: the slot is shared memory */
    if (sched_args_decode(s, t, &outs, &a) == 0) {
        nargs = a.n;
        for (uint32_t i = 0; i < a.n; i++) {
            ray_id id = a.v[i].ref;
            int ref = a.v[i].kind == SCHED_ARG_REF && sched_out_ok(s, (sched_out){id.slot, id.gen});
            release_hold(s, t, nret + i, ref ? id.slot : 0);
        }
        sched_args_free(&a);
    }
    /* The body goes last: outs and the arguments point into it. */
    release_hold(s, t, nret + nargs, t->body_obj);
}

void sched_task_dispose(sched *s, uint32_t slot)
{
    sched_task_release(s, slot);
    sched_task_free(s, slot);
}

uint32_t sched_task_unlinked(sched *s, uint32_t slot)
{
    sched_task *k = &s->tasks[slot];
    uint32_t st = atomic_load(&k->state);
    for (;;) {
        switch (TASK_STATE(st)) {
        case TASK_CANCELLED:
            sched_task_dispose(s, slot);
            return st;
        case TASK_DONE:
            sched_task_free(s, slot);
            return st;
        case TASK_RUNNING:
            if (!(st & TASK_F_INPLACE))
                return st; /* not ours to touch */
            __attribute__((fallthrough)); /* its runner frees it */
        case TASK_CANCELLING:
            if (atomic_compare_exchange_weak(&k->state, &st, st | TASK_F_UNLINKED))
                return st;
            continue; /* it moved on meanwhile: look again */
        default:
            return st;
        }
    }
}

void sched_task_finish(sched *s, uint32_t slot)
{
    sched_task *k = &s->tasks[slot];
    uint32_t st = atomic_fetch_or(&k->state, TASK_F_FINISHING);
    sched_task_release(s, slot);
    if (!(st & TASK_F_INPLACE)) {
        sched_task_free(s, slot);
        return;
    }
    st |= TASK_F_FINISHING;
    while (!(st & TASK_F_UNLINKED))
        if (atomic_compare_exchange_weak(&k->state, &st, TASK_DONE))
            return;
    sched_task_free(s, slot); /* unlinked while it ran: nobody else will */
}

void sched_task_cancelled(sched *s, uint32_t slot)
{
    sched_task *k = &s->tasks[slot];
    uint32_t st = atomic_load(&k->state);
    while (!(st & TASK_F_UNLINKED))
        if (atomic_compare_exchange_weak(&k->state, &st,
                                         (st & ~0xffffu) | TASK_CANCELLED |
                                             (st & TASK_F_WAS_WAITING)))
            return;
    sched_task_dispose(s, slot); /* unlinked while we failed its outputs */
}

int sched_client_runs(const sched_client *c, uint32_t t)
{
    uint32_t d = RAY_MIN(atomic_load(&c->depth), (uint32_t)SCHED_STACK_MAX);
    for (uint32_t i = 0; i < d; i++)
        if (c->stack[i] == t)
            return 1;
    return 0;
}
