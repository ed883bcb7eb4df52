/*
 * remote.c - tasks across nodes.  The owner of a task (the node it was
 * submitted on) hands it to another node in a W_TASK record: arguments
 * that are ready and small travel inside it, the others as refs that the
 * executor reads from their owners.  The owner keeps the task, its
 * arguments held, until the W_RESULT is back: small outputs inside it,
 * large ones read from the executor's arena into the owner's own output
 * objects, which the executor then lets go (W_FREE).
 *
 * The executor runs the task as one of its own, submitted by the service,
 * with temporary outputs it watches (an exec record); when all are ready
 * the result goes back.  A task's function unknown on the executor fails
 * there with RAY_ENOFUNC like any other error.
 */
#define _GNU_SOURCE
#include "cluster.h"

#include <stdlib.h>

/* ---- the owner: encoding a task */

/* A ref argument as it travels: a copy here names its owner's object; a
 * small ready object of ours goes as its bytes. */
static int arg_inline(sched_service *svc, ray_id id, wire_ref *r, const void **bytes, uint32_t *len)
{
    sched *sh = &svc->sh;
    if (pull_remote_of(svc, id.slot, r))
        return 0;
    *r = (wire_ref){svc->node, id.slot, id.gen, 0};
    store_obj *o = &sh->st.objs[id.slot];
    if (STORE_STATE(atomic_load(&o->state)) != STORE_SEALED || o->size > svc_cl(svc)->inline_max)
        return 0;
    *bytes = store_obj_view(&sh->st, id.slot);
    *len = (uint32_t)o->size;
    return 1;
}

/* Bytes of the argument records of task k (and, with dst, writes them). */
static uint64_t write_args(sched_service *svc, const sched_task *k, const sched_args *a,
                           uint8_t *dst)
{
    uint64_t pos = 0;
    for (uint32_t i = 0; i < k->nargs; i++) {
        const sched_arg_view *v = &a->v[i];
        sched_argrec rec = {SCHED_ARG_VAL, v->len};
        const void *bytes = v->data;
        wire_ref r;
        if (v->kind == SCHED_ARG_REF && !arg_inline(svc, v->ref, &r, &bytes, &rec.len)) {
            rec = (sched_argrec){SCHED_ARG_REF, sizeof(r)};
            bytes = &r;
        }
        if (dst) {
            memcpy(dst + pos, &rec, sizeof(rec));
            memcpy(dst + pos + sizeof(rec), bytes, rec.len);
        }
        pos += sizeof(rec) + wire_pad8(rec.len);
    }
    return pos;
}

int remote_encode_task(sched_service *svc, uint32_t t, uint32_t node, uint16_t type, uint32_t extra,
                       void **tail)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    const sched_out *outs;
    sched_args a;
    int res_len;
    const char *res = sched_task_res(sh, k, &res_len);
    if (sched_args_decode(sh, k, &outs, &a))
        return RAY_EPROTO;
    uint32_t name_len = (uint32_t)strnlen(k->name, SCHED_NAME_MAX);
    uint64_t args_len = write_args(svc, k, &a, NULL);
    uint64_t head = extra + sizeof(wire_task) + (uint64_t)k->nret * sizeof(sched_out);
    uint64_t total = head + wire_pad8(name_len + (uint32_t)res_len) + args_len;
    uint8_t *p = total < (1ull << 31) ? cluster_out(svc, node, type, (uint32_t)total) : NULL;
    if (!p) {
        sched_args_free(&a);
        return ray_err(RAY_ENOMEM, "task %s: %llu bytes to send", k->name,
                       (unsigned long long)total);
    }
    wire_task w = {t,
                   k->gen,
                   k->fn,
                   k->actor,
                   k->actor_gen,
                   k->cpu_milli,
                   k->gpu_milli,
                   k->nret,
                   k->nargs,
                   k->retries_left,
                   k->kind,
                   k->flags,
                   (uint16_t)res_len,
                   (uint16_t)name_len,
                   (uint32_t)args_len};
    memcpy(p + extra, &w, sizeof(w));
    memcpy(p + extra + sizeof(w), outs, (size_t)k->nret * sizeof(sched_out));
    memcpy(p + head, k->name, name_len);
    if (res_len)
        memcpy(p + head + name_len, res, (size_t)res_len);
    write_args(svc, k, &a, p + head + wire_pad8(name_len + (uint32_t)res_len));
    sched_args_free(&a);
    if (tail)
        *tail = p;
    return 0;
}

void remote_forward(sched_service *svc, uint32_t t, uint32_t node)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    svc->owned[t] = k->gen;
    if (remote_encode_task(svc, t, node, W_TASK, 0, NULL)) {
        svc_task_fail(svc, t, RAY_ENOMEM, ray_last_error(), 0);
        return;
    }
    svc_cl(svc)->remote_at[t] = node + 1;
    svc->missing[t] = 0;
    ray_trace("sched", "task %s (slot %u) goes to node %u", k->name, t, node);
}

/* ---- the executor: building the task here */

/* The argument records' bytes in the local body, and their check. */
static int body_size(const wire_task_view *v, uint64_t *size)
{
    const uint8_t *p = v->args, *end = v->args + v->t.args_len;
    uint64_t n = (uint64_t)v->t.nret * sizeof(sched_out) + v->t.res_len;
    for (uint32_t i = 0; i < v->t.nargs; i++) {
        uint32_t kind, len;
        const void *val;
        wire_ref r;
        int rc = wire_arg_next(&p, end, &kind, &val, &len, &r);
        if (rc)
            return rc;
        n += sizeof(sched_argrec) + (kind == SCHED_ARG_REF ? sizeof(ray_id) : wire_pad8(len));
    }
    *size = n;
    return n > UINT32_MAX ? ray_err(RAY_EINVAL, "task of %llu bytes", (unsigned long long)n) : 0;
}

/* A ref argument here: an object of ours, or the copy of another node's. */
static int arg_here(sched_service *svc, wire_ref r, ray_id *id)
{
    sched *sh = &svc->sh;
    uint32_t slot = r.slot, gen = r.gen;
    if (r.node >= svc_cl(svc)->num_nodes)
        return ray_err(RAY_EPROTO, "argument names node %u", r.node);
    if (r.node != svc->node && pull_proxy(svc, r, 0, &slot, &gen))
        return ray_err_last_code();
    if (!slot || slot >= sh->st.max_objects || !store_obj_ref_live(&sh->st, slot, gen))
        return ray_err(RAY_ELOST, "argument obj:%u:%u:%u was released by its owner", r.node, r.slot,
                       r.gen);
    *id = store_obj_id(&sh->st, slot, svc->node);
    return 0;
}

static int write_local_args(sched_service *svc, sched_task *k, const wire_task_view *v, uint8_t *b)
{
    const uint8_t *p = v->args, *end = v->args + v->t.args_len;
    uint64_t pos = (uint64_t)v->t.nret * sizeof(sched_out);
    for (uint32_t i = 0; i < v->t.nargs; i++) {
        uint32_t kind, len;
        const void *val;
        wire_ref r;
        ray_id id;
        wire_arg_next(&p, end, &kind, &val, &len, &r); /* checked by body_size */
        sched_argrec rec = {kind, kind == SCHED_ARG_REF ? (uint32_t)sizeof(id) : len};
        if (kind == SCHED_ARG_REF) {
            int rc = arg_here(svc, r, &id);
            if (rc)
                return rc;
            val = &id;
        }
        memcpy(b + pos, &rec, sizeof(rec));
        memcpy(b + pos + sizeof(rec), val, rec.len);
        pos += sizeof(rec) + wire_pad8(rec.len);
        k->nargs = (uint16_t)(i + 1); /* held so far */
    }
    if (v->t.res_len)
        memcpy(b + pos, v->res, v->t.res_len);
    return 0;
}

static int build_body(sched_service *svc, sched_task *k, uint64_t size, uint8_t **b)
{
    store *st = &svc->sh.st;
    k->body_len = (uint32_t)size;
    *b = k->body;
    if (size <= SCHED_BODY_INLINE)
        return 0;
    void *p;
    int rc = store_obj_new(st, STORE_SEALED, 1, &k->body_obj);
    if (!rc && !(rc = pull_alloc(svc, k->body_obj, size, &p)))
        *b = p;
    return rc;
}

static int build_outputs(sched_service *svc, sched_task *k, uint32_t t, uint32_t nret,
                         sched_out *outs)
{
    store *st = &svc->sh.st;
    for (uint32_t i = 0; i < nret; i++) {
        uint32_t o;
        int rc = store_obj_new(st, STORE_PENDING, 2, &o); /* the task's and the exec record's */
        if (rc)
            return rc;
        st->objs[o].task = t;
        outs[i] = (sched_out){o, st->objs[o].gen};
        k->nret = (uint16_t)(i + 1);
    }
    return 0;
}

int remote_build_task(sched_service *svc, uint32_t from, const wire_task_view *v, uint32_t *tp,
                      sched_out *outs)
{
    sched *sh = &svc->sh;
    uint64_t size;
    uint32_t t;
    int rc = body_size(v, &size);
    if (rc || (rc = sched_task_new(sh, &t, NULL)))
        return rc;
    sched_task *k = &sh->tasks[t];
    k->queued_ns = ray_now_ns(); /* its arrival here */
    uint8_t *b;
    uint32_t nret = v->t.kind == TASK_ACTOR_CREATE ? 0 : v->t.nret;
    if (!(rc = build_body(svc, k, size, &b)) &&
        !(rc = build_outputs(svc, k, t, nret, (sched_out *)b)))
        rc = write_local_args(svc, k, v, b);
    k->fn = v->t.fn;
    k->kind = v->t.kind;
    k->flags = v->t.flags;
    k->retries_left = v->t.retries;
    k->submitter = 0;
    k->res_len = rc ? 0 : v->t.res_len;
    k->cpu_milli = v->t.cpu_milli;
    k->gpu_milli = v->t.gpu_milli;
    k->actor = v->t.actor;
    k->actor_gen = v->t.actor_gen;
    k->node = (uint16_t)svc->node;
    snprintf(k->name, sizeof(k->name), "%.*s", (int)v->t.name_len, v->name);
    if (rc) { /* what it holds so far, and the exec record's share of its outputs */
        const sched_out *made;
        uint32_t n = sched_task_outputs(sh, k, &made);
        for (uint32_t i = 0; i < n; i++)
            if (sched_out_ok(sh, made[i]))
                store_obj_unref(&sh->st, made[i].slot);
        sched_task_dispose(sh, t);
        return rc;
    }
    memcpy(outs, b, nret * sizeof(sched_out));
    *tp = t;
    return 0;
}

/* ---- the executor: the exec record and the result */

static exec_rec *exec_new(sched_service *svc, uint32_t *idx)
{
    svc_cluster *c = svc_cl(svc);
    exec_rec *e;
    if (c->exec_free) {
        *idx = c->exec_free - 1;
        e = &RAY_VEC_AT(&c->execs, exec_rec, *idx);
        c->exec_free = e->next_free;
    } else {
        if (!(e = ray_vec_push(&c->execs)))
            return NULL;
        memset(e, 0, sizeof(*e));
        *idx = (uint32_t)c->execs.len - 1;
    }
    uint32_t gen = ray_gen_next(e->gen);
    memset(e, 0, sizeof(*e));
    e->used = 1;
    e->gen = gen;
    return e;
}

static void exec_free(sched_service *svc, uint32_t idx)
{
    svc_cluster *c = svc_cl(svc);
    exec_rec *e = &RAY_VEC_AT(&c->execs, exec_rec, idx);
    e->used = 0;
    e->next_free = c->exec_free;
    c->exec_free = idx + 1;
}

/* One output as it goes back, appended at p; its size with pad. */
static size_t put_output(sched_service *svc, sched_out o, uint8_t *p, int *keep)
{
    store *st = &svc->sh.st;
    store_obj *e = &st->objs[o.slot];
    wire_out w = {WIRE_OUT_INLINE, 0, e->size, 0, 0, 0, 0, 0};
    *keep = 0;
    if (STORE_STATE(atomic_load(&e->state)) == STORE_ERROR) {
        w.kind = WIRE_OUT_ERROR;
        w.code = e->err ? e->err : RAY_ETASK;
        w.len = (uint32_t)RAY_MIN(e->size, 4096);
    } else if (e->size > svc_cl(svc)->inline_max) {
        w = (wire_out){WIRE_OUT_AT, 0, e->size, e->u.offset, o.slot, o.gen, 0, 0};
        *keep = 1; /* until the owner has read it (W_FREE) */
    } else {
        w.len = (uint32_t)e->size;
    }
    if (p) {
        memcpy(p, &w, sizeof(w));
        if (w.len)
            memcpy(p + sizeof(w), store_obj_view(st, o.slot), w.len);
    }
    return sizeof(w) + wire_pad8(w.len);
}

static void send_result(sched_service *svc, uint32_t idx)
{
    exec_rec *e = &RAY_VEC_AT(&svc_cl(svc)->execs, exec_rec, idx);
    size_t size = sizeof(wire_result);
    int keep;
    for (uint32_t i = 0; i < e->nret; i++)
        size += put_output(svc, e->outs[i], NULL, &keep);
    uint8_t *p = cluster_out(svc, e->owner, W_RESULT, (uint32_t)size);
    if (!p) {
        cluster_fail(svc, e->owner, "out of memory for a result of %zu bytes", size);
        return;
    }
    wire_result r = {e->owner_task, e->owner_gen, e->nret, 0};
    memcpy(p, &r, sizeof(r));
    size_t pos = sizeof(r);
    for (uint32_t i = 0; i < e->nret; i++) {
        pos += put_output(svc, e->outs[i], p + pos, &keep);
        if (!keep)
            store_obj_unref(&svc->sh.st, e->outs[i].slot);
        else
            svc_cl(svc)->serving++;
    }
    exec_free(svc, idx);
}

void remote_exec_ready(sched_service *svc, uint32_t id, uint32_t gen)
{
    svc_cluster *c = svc_cl(svc);
    if (id >= c->execs.len)
        return;
    exec_rec *e = &RAY_VEC_AT(&c->execs, exec_rec, id);
    if (e->used && e->gen == gen && e->pending && !--e->pending)
        send_result(svc, id);
}

/* A result of errors only, for a task that could not even be built. */
static void result_failed(sched_service *svc, uint32_t from, const wire_task_view *v, int code,
                          const char *msg)
{
    uint32_t len = (uint32_t)strlen(msg), nret = v->t.nret;
    size_t one = sizeof(wire_out) + wire_pad8(len);
    uint8_t *p = cluster_out(svc, from, W_RESULT, (uint32_t)(sizeof(wire_result) + nret * one));
    if (!p)
        return;
    wire_result r = {v->t.owner_task, v->t.owner_gen, nret, 0};
    memcpy(p, &r, sizeof(r));
    for (uint32_t i = 0; i < nret; i++) {
        wire_out w = {WIRE_OUT_ERROR, code, len, 0, 0, 0, len, 0};
        memcpy(p + sizeof(r) + i * one, &w, sizeof(w));
        memcpy(p + sizeof(r) + i * one + sizeof(w), msg, len);
    }
}

/* Runs a built task here: a call goes to its actor's queue, any other
 * task the way a submitted one goes (the service watches its arguments). */
static int start_local(sched_service *svc, uint32_t t, char *msg, size_t cap)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    if (k->kind != TASK_ACTOR_CALL) {
        atomic_store(&k->state, TASK_TAGGED(TASK_WAITING, k->gen));
        svc_take_task(svc, t);
        return 0;
    }
    sched_actor *a = k->actor && k->actor < sh->r->max_actors ? svc_actor(svc, k->actor) : NULL;
    if (a && (k->flags & TASK_TF_METHOD_NAME))
        k->fn = ray_method_hash(a->cls, k->fn);
    atomic_store(&k->state, TASK_TAGGED(TASK_QUEUED, k->gen));
    if (a && sched_actor_push(sh, a, k->actor_gen, t, NULL) == 0) {
        ray_evc_signal(&a->calls.evc, 1);
        return 0;
    }
    svc_actor_death_msg(svc, k->actor, k->actor_gen, msg, cap);
    return RAY_EACTOR;
}

void remote_on_task(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_task_view v;
    uint32_t t, idx;
    sched_out outs[SCHED_MAX_RETURNS];
    if (wire_task_parse(p, len, &v)) {
        cluster_fail(svc, from, "node %u sent a malformed task: %s", from, ray_last_error());
        return;
    }
    int rc = remote_build_task(svc, from, &v, &t, outs);
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof(msg), "task %.*s could not start on node %u: %s", (int)v.t.name_len,
                 v.name, svc->node, ray_last_error());
        result_failed(svc, from, &v, rc, msg);
        return;
    }
    exec_rec *e = exec_new(svc, &idx);
    if (!e) {
        result_failed(svc, from, &v, RAY_ENOMEM, "out of memory on the executing node");
        sched_task_dispose(&svc->sh, t);
        return;
    }
    e->owner = from;
    e->owner_task = v.t.owner_task;
    e->owner_gen = v.t.owner_gen;
    e->nret = v.t.nret;
    memcpy(e->outs, outs, e->nret * sizeof(sched_out));
    for (uint32_t i = 0; i < e->nret; i++)
        if (!svc_watch(svc, outs[i].slot)) {
            svc_waiter_add(svc, outs[i].slot, WAITER_EXEC, idx, e->gen);
            e->pending++;
        }
    char msg[600];
    uint32_t notify[SCHED_MAX_RETURNS];
    if (start_local(svc, t, msg, sizeof(msg))) {
        int n = sched_task_fail(&svc->sh, &svc->sh.tasks[t], RAY_EACTOR, msg, 0, notify);
        sched_task_dispose(&svc->sh, t);
        svc_notify(svc, notify, n);
    }
}

/* ---- the owner: the result */

static void task_done(sched_service *svc, uint32_t t)
{
    svc_cl(svc)->remote_at[t] = 0;
    svc->owned[t] = 0;
    sched_task_dispose(&svc->sh, t);
}

void remote_output_done(sched_service *svc, uint32_t t, uint32_t gen)
{
    if (svc_task_valid(svc, t, gen) && svc->owned[t] == gen && svc->missing[t] &&
        !--svc->missing[t])
        task_done(svc, t);
}

/* The executor's temporary object goes: we have its bytes, or never will. */
static void free_temp(sched_service *svc, uint32_t from, const wire_out *o)
{
    sched_out *f = cluster_out(svc, from, W_FREE, sizeof(sched_out));
    if (f)
        *f = (sched_out){o->temp_slot, o->temp_gen};
}

/* One output of a result into our object obj (PENDING); 1 if bytes are
 * still coming (a pull). */
static int apply_output(sched_service *svc, uint32_t from, uint32_t t, uint32_t obj,
                        const wire_out *o, const void *bytes)
{
    store *st = &svc->sh.st;
    void *dst;
    int rc = 0;
    if (o->kind == WIRE_OUT_ERROR) {
        rc = o->code ? o->code : RAY_ETASK;
    } else if (o->kind == WIRE_OUT_AT) {
        if (!(rc = pull_start(svc, from, o->offset, o->size, obj, PULL_FOR_RESULT, o->temp_slot,
                              o->temp_gen, t, svc->sh.tasks[t].gen)))
            return 1;
        free_temp(svc, from, o);
        bytes = ray_last_error();
    } else if (!store_obj_writing(st, obj)) {
        return 0; /* cancelled meanwhile */
    } else if (!(rc = pull_alloc(svc, obj, o->size, &dst))) {
        if (o->size)
            memcpy(dst, bytes, o->size);
        if (ray_tl_on) /* came inside the result message */
            pull_tl(from, "result", 0, o->size, 0);
        if (store_obj_seal(st, obj))
            svc_run_waiters(svc, obj);
        return 0;
    } else {
        bytes = ray_last_error();
    }
    size_t len = o->kind == WIRE_OUT_ERROR ? o->len : strlen(bytes);
    if (store_obj_fail(st, obj, rc, bytes, len))
        svc_run_waiters(svc, obj);
    return 0;
}

void remote_on_result(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_result r;
    const void *rest;
    if (wire_fixed(p, len, &r, sizeof(r), 0, &rest)) {
        cluster_fail(svc, from, "node %u sent a malformed result", from);
        return;
    }
    const uint8_t *q = rest, *end = p + len;
    uint32_t t = r.owner_task;
    int mine = svc_task_valid(svc, t, r.owner_gen) && svc->owned[t] == r.owner_gen &&
               svc_cl(svc)->remote_at[t] == from + 1;
    const sched_out *outs;
    uint32_t nret = mine ? sched_task_outputs(&svc->sh, &svc->sh.tasks[t], &outs) : 0;
    for (uint32_t i = 0; i < r.nret; i++) {
        wire_out o;
        const void *bytes;
        if (wire_out_next(&q, end, &o, &bytes)) {
            cluster_fail(svc, from, "node %u sent a malformed output", from);
            return;
        }
        store_obj *e =
            i < nret && sched_out_ok(&svc->sh, outs[i]) ? &svc->sh.st.objs[outs[i].slot] : NULL;
        if (e && STORE_STATE(atomic_load(&e->state)) == STORE_PENDING)
            svc->missing[t] += apply_output(svc, from, t, outs[i].slot, &o, bytes);
        else if (o.kind == WIRE_OUT_AT) /* cancelled meanwhile: not wanted */
            free_temp(svc, from, &o);
    }
    if (mine && !svc->missing[t])
        task_done(svc, t);
}

void remote_on_free(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    store *st = &svc->sh.st;
    svc_cluster *c = svc_cl(svc);
    for (uint32_t i = 0; i + sizeof(sched_out) <= len; i += sizeof(sched_out)) {
        sched_out o;
        memcpy(&o, p + i, sizeof(o));
        c->serving -= c->serving > 0;
        if (o.slot && o.slot < st->max_objects && st->objs[o.slot].gen == o.gen &&
            STORE_STATE(atomic_load(&st->objs[o.slot].state)) != STORE_FREE)
            store_obj_unref(st, o.slot);
    }
}
