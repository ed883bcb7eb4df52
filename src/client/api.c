/*
 * api.c - the public calls on objects and tasks (ray_mpi.h).  Every call
 * checks its input first (NULL pointers, counts, sizes, refs of other jobs
 * or already released) and answers RAY_EINVAL with a message; nothing a
 * caller passes can crash this process or the node service.
 */
#include "client.h"

#include <sched.h>
#include <stdlib.h>

#define MAX_OBJECT_BYTES (1ull << 48)

RAY_API ray_arg ray_arg_val(const void *data, size_t size)
{
    ray_arg a;
    memset(&a, 0, sizeof(a));
    a.kind = SCHED_ARG_VAL;
    a.data = data;
    a.size = size;
    return a;
}

RAY_API ray_arg ray_arg_ref(ray_ref ref)
{
    ray_arg a;
    memset(&a, 0, sizeof(a));
    a.kind = SCHED_ARG_REF;
    a.ref = ref;
    return a;
}

RAY_API void ray_task_opts_init(ray_task_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->num_cpus = 1;
    o->num_returns = 1;
    o->max_retries = 3;
    o->node = -1;
}

/* ---- objects */

/* A fresh object of this process, CREATED: listed as held before it gets
 * its bytes, so a death while they are written lets it go. */
static int new_object(size_t size, uint32_t *slot, void **data, ray_ref *out)
{
    if (size >= MAX_OBJECT_BYTES)
        return ray_err(RAY_EINVAL, "object size %zu is not valid", size);
    store *st = cl_store();
    uint32_t pos;
    pthread_mutex_lock(&ray_cl.lock);
    store_rec *rec = client_hold_reserve(&pos);
    int rc = store_obj_new_at(st, STORE_CREATED, 1, slot, &rec, 1);
    client_hold_made(pos, rc ? 0 : *slot, rc ? 0 : st->objs[*slot].gen);
    pthread_mutex_unlock(&ray_cl.lock);
    if (rc)
        return rc;
    *out = ray_id_ref(store_obj_id(st, *slot, ray_cl.node));
    if ((rc = client_store_alloc(*slot, size, data)))
        client_hold_drop(ray_ref_id(*out));
    return rc;
}

RAY_API int ray_put(const void *data, size_t size, ray_ref *out)
{
    int rc = client_check();
    if (rc)
        return rc;
    if (!out || (!data && size))
        return ray_err(RAY_EINVAL, "ray_put needs data (or size 0) and an output ref");
    uint32_t slot;
    void *p;
    ray_ref r;
    if ((rc = new_object(size, &slot, &p, &r)))
        return rc;
    RAY_FAULT(PUT_COPY);
    if (size)
        memcpy(p, data, size);
    store_obj_seal(cl_store(), slot); /* nobody can watch it yet */
    *out = r;
    return 0;
}

RAY_API void *ray_create(size_t size, ray_ref *out)
{
    if (client_check())
        return NULL;
    if (!out) {
        ray_err(RAY_EINVAL, "ray_create needs an output ref");
        return NULL;
    }
    uint32_t slot;
    void *p;
    return new_object(size, &slot, &p, out) ? NULL : p;
}

RAY_API int ray_seal(ray_ref ref)
{
    ray_id id;
    store_obj *o;
    int rc = client_lookup(ref, &id, &o);
    if (rc)
        return rc;
    uint32_t st = atomic_load(&o->state);
    if (STORE_STATE(st) != STORE_CREATED || o->creator != ray_cl.slot)
        return ray_err(RAY_EINVAL, "ray_seal: the object was not made by ray_create in "
                                   "this process, or is sealed already");
    client_notify(&id.slot, store_obj_seal(cl_store(), id.slot));
    return 0;
}

/* Validates refs[i] and makes sure this process holds it while it waits. */
static int prepare_get(ray_ref ref, uint32_t *slot, uint32_t *gen)
{
    ray_id id;
    store_obj *o;
    int rc = client_resolve(ref, CLIENT_RESOLVE_PULL, &id, &o);
    if (rc)
        return rc;
    uint32_t st = atomic_load_explicit(&o->state, memory_order_acquire);
    if (STORE_STATE(st) == STORE_CREATED && o->creator == ray_cl.slot)
        return ray_err(RAY_EINVAL, "object is not sealed: call ray_seal before ray_get");
    if (!client_hold_held(id.slot, id.gen)) {
        pthread_mutex_lock(&ray_cl.lock);
        rc = client_hold_acquire(id.slot, id.gen);
        pthread_mutex_unlock(&ray_cl.lock);
    }
    if (rc < 0) {
        char buf[64];
        return ray_err(RAY_EINVAL, "ref %s: %s", ray_ref_str(ref, buf, sizeof(buf)),
                       ray_last_error());
    }
    *slot = id.slot;
    *gen = id.gen;
    return 0;
}

static int view(uint32_t slot, ray_buf *out)
{
    store *st = cl_store();
    store_obj *o = store_obj_at(st, slot);
    if (STORE_STATE(atomic_load_explicit(&o->state, memory_order_acquire)) == STORE_ERROR)
        return client_object_error(slot);
    out->data = store_obj_view(st, slot);
    out->size = o->size;
    return 0;
}

RAY_API int ray_get(ray_ref ref, ray_buf *out, double timeout_s)
{
    int rc = client_check();
    if (rc)
        return rc;
    if (!out)
        return ray_err(RAY_EINVAL, "ray_get needs an output buffer");
    uint32_t slot, gen;
    if ((rc = prepare_get(ref, &slot, &gen)))
        return rc;
    store_obj *o = store_obj_at(cl_store(), slot);
    if (!STORE_IS_READY(atomic_load_explicit(&o->state, memory_order_acquire))) {
        rc = client_wait(&slot, &gen, 1, 1, 1, ray_deadline_ns(timeout_s));
        if (rc == RAY_ETIMEDOUT)
            return ray_err(RAY_ETIMEDOUT, "ray_get: object not ready after %g s", timeout_s);
        if (rc < 0)
            return rc;
    }
    return view(slot, out);
}

static int prepare_many(const ray_ref *refs, int n, uint32_t **slots, uint32_t **gens)
{
    *slots = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    *gens = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    if (!*slots || !*gens)
        return ray_err(RAY_ENOMEM, "out of memory for %d refs", n);
    for (int i = 0; i < n; i++) {
        int rc = prepare_get(refs[i], &(*slots)[i], &(*gens)[i]);
        if (rc)
            return ray_err(rc, "ref %d: %s", i, ray_last_error());
    }
    return 0;
}

RAY_API int ray_get_many(const ray_ref *refs, int n, ray_buf *outs, double timeout_s)
{
    int rc = client_check();
    if (rc)
        return rc;
    if (n < 0 || (n > 0 && (!refs || !outs)))
        return ray_err(RAY_EINVAL, "ray_get_many needs n >= 0, refs and outs");
    uint32_t *slots = NULL, *gens = NULL;
    if (!(rc = prepare_many(refs, n, &slots, &gens))) {
        rc = client_wait(slots, gens, n, n, 1, ray_deadline_ns(timeout_s));
        if (rc == RAY_ETIMEDOUT)
            rc = ray_err(RAY_ETIMEDOUT, "ray_get_many: objects not ready after %g s", timeout_s);
    }
    for (int i = 0; rc >= 0 && i < n; i++) {
        /* The first error in order, or all views. */
        store_obj *o = store_obj_at(cl_store(), slots[i]);
        if (STORE_STATE(atomic_load(&o->state)) == STORE_ERROR) {
            rc = client_object_error(slots[i]);
            break;
        }
    }
    for (int i = 0; rc >= 0 && i < n; i++)
        view(slots[i], &outs[i]);
    free(slots);
    free(gens);
    return rc < 0 ? rc : 0;
}

RAY_API int ray_wait(const ray_ref *refs, int n, int num_ready, double timeout_s, int *ready)
{
    int rc = client_check();
    if (rc)
        return rc;
    if (n < 0 || num_ready < 0 || num_ready > n || (n > 0 && (!refs || !ready)))
        return ray_err(RAY_EINVAL, "ray_wait needs 0 <= num_ready <= n, refs and ready");
    uint32_t *slots = NULL, *gens = NULL;
    if (!(rc = prepare_many(refs, n, &slots, &gens))) {
        rc = client_wait(slots, gens, n, num_ready, 0, ray_deadline_ns(timeout_s));
        if (rc == RAY_ETIMEDOUT)
            rc = 0;
    }
    if (rc >= 0) {
        rc = 0;
        for (int i = 0; i < n; i++) {
            uint32_t st = atomic_load(&store_obj_at(cl_store(), slots[i])->state);
            ready[i] = STORE_IS_READY(st);
            rc += ready[i];
        }
    }
    free(slots);
    free(gens);
    return rc;
}

RAY_API int ray_release(ray_ref ref)
{
    ray_id id;
    store_obj *o;
    int rc = client_resolve(ref, CLIENT_RESOLVE_HELD, &id, &o);
    if (rc)
        return rc;
    return client_hold_release(id);
}

/* ---- tasks */

/* Sends a built task on: failed at once, to the ready queue, or to the
 * node service. */
static void dispatch(uint32_t t, int ready, uint32_t err_src, int default_class)
{
    sched *sh = cl_sched();
    sched_task *k = sched_task_at(sh, t);
    if (err_src) { /* an argument failed: so does this task, with its error */
        submit_fail(t, 0, NULL, err_src);
        return;
    }
    if (ready && default_class) {
        atomic_store_explicit(&k->state, TASK_TAGGED(TASK_QUEUED, k->gen), memory_order_release);
        RAY_FAULT(SUBMIT_QUEUED);
        sched_ready_push(sh, t, client_building());
        return;
    }
    /* Once named in a hint, the task may be taken, run and its slot
     * reused at any moment: read nothing from it after submit_hint. */
    uint32_t gen = k->gen;
    atomic_store_explicit(&k->state, TASK_TAGGED(TASK_WAITING, gen), memory_order_release);
    int ready_now = 0, named = default_class && client_readying() && submit_hint(t, gen, &ready_now);
    msg_task m = {t, gen};
    submit_hand_over(named ? MSG_SUBMIT_NAMED : MSG_SUBMIT, &m, sizeof(m), !named);
    if (ready_now && sched_hint_take(sh, (sched_out){t, gen}, ray_cl.slot, client_readying()) < 0)
        sched_wake_service(sh); /* an argument failed: the service fails it */
}

RAY_API int ray_submit(const char *fn, const ray_arg *args, int nargs, const ray_task_opts *opts,
                       ray_ref *returns)
{
    int rc = client_check();
    if (rc)
        return rc;
    ray_task_opts def;
    if (!opts) {
        ray_task_opts_init(&def);
        opts = &def;
    }
    submit_res res;
    if ((rc = submit_check_call("ray_submit", fn, args, nargs, opts->num_returns, returns)) ||
        (rc = submit_check_resources(opts->num_cpus, opts->num_gpus, opts->resources, opts->node,
                                     &res)))
        return rc;
    if (opts->max_retries < -1 || opts->max_retries > 10000)
        return ray_err(RAY_EINVAL, "max_retries must be -1 (forever) .. 10000");
    uint64_t h = ray_hash64(fn);
    const reg_entry *e = registry_find(h);
    if (!e || e->kind != REG_FUNCTION)
        return ray_err(RAY_ENOFUNC, "function '%s' is not registered (RAY_REMOTE(%s) at file "
                                    "scope)", fn, fn);
    /* Pinned to another node: through the node service, which hands it on;
     * pinned here: the ready queue, but never spilled to another node. */
    uint32_t node = opts->node >= 0 ? (uint32_t)opts->node : SCHED_NODE_ANY;
    submit_spec sp = {TASK_NORMAL,       h,             opts->name ? opts->name : fn,
                      args,              nargs,         opts->num_returns,
                      opts->max_retries, res.cpu_milli, res.gpu_milli,
                      res.custom,        0,             0,
                      node,              0};
    uint32_t t, err_src;
    int ready;
    if ((rc = submit_build(&sp, &t, returns, &ready, &err_src)))
        return rc;
    dispatch(t, ready, err_src,
             res.cpu_milli == 1000 && !res.gpu_milli && !res.custom[0] &&
                 (node == SCHED_NODE_ANY || node == ray_cl.node));
    return 0;
}

RAY_API int ray_cancel(ray_ref ref, int force)
{
    ray_id id;
    store_obj *o;
    int rc = client_lookup(ref, &id, &o);
    if (rc)
        return rc;
    uint32_t st = STORE_STATE(atomic_load(&o->state));
    if (st == STORE_CREATED && o->creator)
        return ray_err(RAY_EINVAL, "ray_cancel: the object was made by ray_create, not a task");
    if (st != STORE_PENDING)
        return 0; /* finished, or its result arriving from another node */
    sched *sh = cl_sched();
    uint32_t t = o->task;
    if (!t || t >= sh->r->max_tasks)
        return 0;
    sched_task *k = sched_task_at(sh, t);
    uint32_t gen = k->gen;
    atomic_thread_fence(memory_order_acquire);
    const sched_out *outs;
    uint32_t nret = sched_task_outputs(sh, k, &outs);
    int produces = 0;
    for (uint32_t i = 0; i < nret; i++)
        produces |= outs[i].slot == id.slot && outs[i].gen == id.gen;
    if (!produces || k->gen != gen)
        return 0; /* the task is gone: its outputs are being sealed */
    uint32_t s = atomic_load(&k->state);
    for (;;) {
        uint32_t was_waiting = s == TASK_TAGGED(TASK_WAITING, gen);
        if (was_waiting || s == TASK_TAGGED(TASK_QUEUED, gen)) {
            /* Tagged with its generation: fails on a reused slot. */
            uint32_t to = TASK_TAGGED(TASK_CANCELLING, gen) | (was_waiting ? TASK_F_WAS_WAITING : 0);
            if (!atomic_compare_exchange_weak(&k->state, &s, to))
                continue;
            /* Ours until sched_task_cancelled: whoever unlinks it meanwhile
             * leaves the slot to us. */
            uint32_t notify[SCHED_MAX_RETURNS];
            int n = sched_task_fail(sh, k, RAY_ECANCELLED, "task cancelled by ray_cancel", 0,
                                    notify);
            sched_task_cancelled(sh, t);
            client_notify(notify, n);
            if (!was_waiting)
                return 0;
            msg_cancel m = {t, gen, 0, 0}; /* the node service held it: it frees it */
            return client_send(MSG_CANCEL, &m, sizeof(m));
        }
        if (TASK_STATE(s) == TASK_CLAIMING) { /* on its way to the ready queue (hints.c) */
            sched_yield();
            s = atomic_load(&k->state);
            continue;
        }
        if (TASK_STATE(s) != TASK_RUNNING || k->gen != gen)
            return 0; /* finished, failed or cancelled already */
        /* Running: ask it (ray_ctx_cancelled), or have its worker killed. */
        uint32_t flag = force ? TASK_F_FORCE | TASK_F_CANCEL : TASK_F_CANCEL;
        if (!atomic_compare_exchange_weak(&k->state, &s, s | flag))
            continue;
        if (!force)
            return 0;
        msg_cancel m = {t, gen, 1, 0};
        return client_send(MSG_CANCEL, &m, sizeof(m));
    }
}

RAY_API int ray_get_stats(ray_stats *out)
{
    int rc = client_check();
    if (rc)
        return rc;
    if (!out)
        return ray_err(RAY_EINVAL, "ray_get_stats needs an output");
    store_stats ss;
    store_get_stats(cl_store(), &ss);
    sched_region *r = cl_sched()->r;
    out->store_capacity_bytes = ss.capacity_bytes;
    out->store_used_bytes = ss.used_bytes;
    out->objects_live = ss.objects_live;
    out->tasks_live = atomic_load(&r->tasks_live);
    if (atomic_load(&r->tasks_doubt)) { /* count them: exact when nothing moves */
        sched *sh = cl_sched();
        uint32_t hw = RAY_MIN(ray_freelist_high_water(&r->task_slots), r->max_tasks);
        out->tasks_live = 0;
        for (uint32_t t = 1; t < hw; t++)
            out->tasks_live += TASK_STATE(atomic_load_explicit(&sh->tasks[t].state,
                                                               memory_order_relaxed)) != TASK_FREE;
    }
    out->workers = atomic_load(&r->workers_alive);
    out->actors = atomic_load(&r->actors_alive);
    out->net_msgs_in = atomic_load(&r->net_msgs_in);
    out->net_msgs_out = atomic_load(&r->net_msgs_out);
    out->net_bytes_in = atomic_load(&r->net_bytes_in);
    return 0;
}
