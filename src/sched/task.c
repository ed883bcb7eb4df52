/*
 * task.c - task slots: taking and freeing them, and reading a task's body.
 * A body is written by its submitter and read by a worker or the node
 * service, so every reader checks each record against the body's length
 * before it follows it.
 */
#include "sched.h"

#include <stdlib.h>

int sched_task_new(sched *s, uint32_t *slot)
{
    uint32_t t = ray_freelist_pop(&s->r->task_slots, s->tasks, sizeof(sched_task),
                                  offsetof(sched_task, next_free));
    if (!t)
        return ray_err(RAY_ETOOBIG, "task table full: %u tasks pending (raise "
                                    "RAY_MPI_MAX_TASKS)", s->r->max_tasks - 1);
    sched_task *k = &s->tasks[t];
    uint32_t gen = k->gen + 1;
    k->gen = gen ? gen : 1;
    k->qnext = 0;
    k->body_obj = 0;
    k->res_len = 0;
    k->attempt = 0;
    k->actor = 0;
    k->name[0] = 0;
    atomic_fetch_add_explicit(&s->r->tasks_live, 1, memory_order_relaxed);
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

const uint8_t *sched_task_body(const sched *s, const sched_task *t)
{
    if (!t->body_obj)
        return t->body;
    return store_obj_view(&s->st, t->body_obj);
}

int sched_task_decode(const sched *s, const sched_task *t, const sched_out **outs,
                      sched_arg_view *args, const char **res)
{
    uint32_t len = t->body_len, nret = t->nret, nargs = t->nargs;
    if (t->body_obj) {
        if (t->body_obj >= s->st.max_objects || s->st.objs[t->body_obj].size < len)
            return ray_err(RAY_EPROTO, "task body object is invalid");
    } else if (len > SCHED_BODY_INLINE) {
        return ray_err(RAY_EPROTO, "task body length %u is invalid", len);
    }
    if (nret > SCHED_MAX_RETURNS || nargs > SCHED_MAX_ARGS ||
        (uint64_t)nret * sizeof(sched_out) > len)
        return ray_err(RAY_EPROTO, "task has %u outputs and %u args in %u bytes", nret,
                       nargs, len);
    const uint8_t *b = sched_task_body(s, t);
    *outs = (const sched_out *)b;
    uint64_t pos = (uint64_t)nret * sizeof(sched_out);
    for (uint32_t i = 0; i < nargs; i++) {
        if (pos + sizeof(sched_argrec) > len)
            return ray_err(RAY_EPROTO, "task body ends inside argument %u", i);
        sched_argrec rec;
        memcpy(&rec, b + pos, sizeof(rec));
        pos += sizeof(rec);
        uint64_t padded = RAY_ALIGN_UP((uint64_t)rec.len, 8);
        if (pos + padded > len)
            return ray_err(RAY_EPROTO, "argument %u overruns the task body", i);
        args[i].kind = rec.kind;
        args[i].len = rec.len;
        if (rec.kind == SCHED_ARG_VAL) {
            args[i].data = b + pos;
        } else if (rec.kind == SCHED_ARG_REF && rec.len == sizeof(ray_id)) {
            memcpy(&args[i].ref, b + pos, sizeof(ray_id));
            args[i].data = NULL;
        } else {
            return ray_err(RAY_EPROTO, "argument %u has kind %u", i, rec.kind);
        }
        pos += padded;
    }
    if (pos + t->res_len > len)
        return ray_err(RAY_EPROTO, "task resources overrun the body");
    if (res)
        *res = t->res_len ? (const char *)b + pos : NULL;
    return 0;
}

/* Outputs named by a task must be live entries it produces. */
static int output_ok(const sched *s, sched_out o)
{
    return o.slot && o.slot < s->st.max_objects && s->st.objs[o.slot].gen == o.gen;
}

int sched_task_fail_outputs(sched *s, const sched_task *t, int code, const char *msg,
                            uint32_t *notify)
{
    const sched_out *outs = (const sched_out *)sched_task_body(s, t);
    size_t len = strlen(msg);
    int n = 0;
    for (uint32_t i = 0; i < t->nret && i < SCHED_MAX_RETURNS; i++) {
        if (!output_ok(s, outs[i]))
            continue;
        store_obj *o = &s->st.objs[outs[i].slot];
        uint32_t st = STORE_STATE(atomic_load(&o->state));
        if (st != STORE_PENDING)
            continue;
        store_obj_reset(&s->st, outs[i].slot); /* drop what a failed attempt wrote */
        if (store_obj_fail(&s->st, outs[i].slot, code, msg, len))
            notify[n++] = outs[i].slot;
    }
    return n;
}

void sched_task_drop_args(sched *s, const sched_task *t)
{
    const sched_out *outs;
    sched_arg_view args[64];
    if (t->nargs <= RAY_ARRAY_SIZE(args)) {
        if (sched_task_decode(s, t, &outs, args, NULL) == 0)
            for (uint32_t i = 0; i < t->nargs; i++)
                if (args[i].kind == SCHED_ARG_REF)
                    store_obj_unref(&s->st, args[i].ref.slot);
    } else {
        sched_arg_view *big = calloc(t->nargs, sizeof(*big));
        if (big && sched_task_decode(s, t, &outs, big, NULL) == 0)
            for (uint32_t i = 0; i < t->nargs; i++)
                if (big[i].kind == SCHED_ARG_REF)
                    store_obj_unref(&s->st, big[i].ref.slot);
        free(big);
    }
    if (t->body_obj)
        store_obj_unref(&s->st, t->body_obj);
}

void sched_task_release(sched *s, uint32_t slot)
{
    sched_task *t = &s->tasks[slot];
    const sched_out *outs = (const sched_out *)sched_task_body(s, t);
    for (uint32_t i = 0; i < t->nret && i < SCHED_MAX_RETURNS; i++)
        if (output_ok(s, outs[i]))
            store_obj_unref(&s->st, outs[i].slot); /* the producer's hold */
    sched_task_drop_args(s, t); /* the body goes last: outs points into it */
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
            if (atomic_compare_exchange_weak(&k->state, &st, st | TASK_F_UNLINKED))
                return st;
            continue; /* it finished meanwhile: look again */
        default:
            return st;
        }
    }
}

void sched_task_inplace_done(sched *s, uint32_t slot)
{
    sched_task *k = &s->tasks[slot];
    uint32_t st = atomic_load(&k->state);
    while (!(st & TASK_F_UNLINKED))
        if (atomic_compare_exchange_weak(&k->state, &st, TASK_DONE))
            return;
    sched_task_free(s, slot); /* unlinked while it ran: nobody else will */
}

int sched_client_runs(const sched_client *c, uint32_t t)
{
    uint32_t d = RAY_MIN(atomic_load(&c->depth), (uint32_t)SCHED_STACK_MAX);
    for (uint32_t i = 0; i < d; i++)
        if (c->stack[i] == t)
            return 1;
    return 0;
}
