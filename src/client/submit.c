/*
 * submit.c - building a task: a slot with its spec, its output entries
 * (PENDING, held by the caller and by the producer) and a hold on each ref
 * argument, so the caller may release its refs at once.  Which way the task
 * then goes (ready queue, node service, an actor's queue) is the caller's
 * choice; this file only writes the spec.
 */
#include "client.h"

#include <math.h>
#include <stdlib.h>

#define MAX_VALUE_BYTES (1ull << 31) /* larger values: ray_put and pass the ref */

typedef struct arg_info {
    uint32_t slot, gen;
    uint32_t state;
} arg_info;

static int check_args(const ray_arg *args, int nargs, arg_info *info, uint64_t *body)
{
    for (int i = 0; i < nargs; i++) {
        const ray_arg *a = &args[i];
        if (a->kind == SCHED_ARG_VAL) {
            if (a->size && !a->data)
                return ray_err(RAY_EINVAL, "argument %d: NULL data with size %zu", i, a->size);
            if (a->size >= MAX_VALUE_BYTES)
                return ray_err(RAY_EINVAL, "argument %d: a value of %zu bytes is too big to "
                                           "copy into a task; ray_put it and pass the ref",
                               i, a->size);
            *body += sizeof(sched_argrec) + RAY_ALIGN_UP((uint64_t)a->size, 8);
        } else if (a->kind == SCHED_ARG_REF) {
            ray_id id;
            store_obj *o;
            int rc = client_resolve(a->ref, CLIENT_RESOLVE_ARG, &id, &o);
            if (rc)
                return ray_err(rc, "argument %d: %s", i, ray_last_error());
            uint32_t st = atomic_load_explicit(&o->state, memory_order_acquire);
            if (STORE_STATE(st) == STORE_CREATED && o->creator == ray_cl.slot)
                return ray_err(RAY_EINVAL, "argument %d: object is not sealed yet (ray_seal "
                                           "it before passing it)", i);
            info[i] = (arg_info){id.slot, id.gen, st};
            *body += sizeof(sched_argrec) + sizeof(ray_id);
        } else {
            return ray_err(RAY_EINVAL, "argument %d was not made by ray_arg_val or "
                                       "ray_arg_ref", i);
        }
    }
    return 0;
}

/* Writes the argument records and holds each ref (one more reference):
 * k->nargs counts the arguments held so far, so a task whose builder dies
 * half way is let go of exactly (sched_task_release). */
static void write_args(const submit_spec *sp, const arg_info *info, sched_task *k, uint8_t *b,
                       uint64_t pos, int *ready, uint32_t *err_src)
{
    store *st = cl_store();
    for (int i = 0; i < sp->nargs; i++) {
        const ray_arg *a = &sp->args[i];
        sched_argrec rec = {a->kind, 0};
        if (a->kind == SCHED_ARG_VAL) {
            rec.len = (uint32_t)a->size;
            memcpy(b + pos, &rec, sizeof(rec));
            if (a->size)
                memcpy(b + pos + sizeof(rec), a->data, a->size);
            pos += sizeof(rec) + RAY_ALIGN_UP((uint64_t)a->size, 8);
            k->nargs = (uint16_t)(i + 1);
        } else {
            rec.len = sizeof(ray_id);
            memcpy(b + pos, &rec, sizeof(rec));
            ray_id id = store_obj_id(st, info[i].slot, ray_cl.node);
            memcpy(b + pos + sizeof(rec), &id, sizeof(id));
            pos += sizeof(rec) + sizeof(ray_id);
            /* The task holds it until it ends; marked (store.h) when the
             * count and k->nargs could be told apart by a death. */
            int marked = store_mark != 0;
            if (marked) {
                uint32_t t = (uint32_t)(k - cl_sched()->tasks);
                sched_journal_note(info[i].slot, info[i].gen,
                                   SCHED_JNL_REC(SCHED_JNL_ARG, t, (uint32_t)i));
                /* cannot fail: the caller's own hold keeps it live; if it
                 * did, the record names no object (the task fails on it) */
                if (!store_obj_mark_add(st, info[i].slot, info[i].gen, 1))
                    memset(b + pos - sizeof(ray_id), 0, sizeof(ray_id));
            } else {
                store_obj_ref(st, info[i].slot);
            }
            uint32_t s = atomic_load_explicit(&st->objs[info[i].slot].state, memory_order_acquire);
            if (!STORE_IS_READY(s))
                *ready = 0;
            else if (STORE_STATE(s) == STORE_ERROR && !*err_src)
                *err_src = info[i].slot;
            atomic_signal_fence(memory_order_seq_cst); /* held before counted */
            k->nargs = (uint16_t)(i + 1);
            if (marked)
                store_obj_unmark(st, info[i].slot);
        }
        if (i == 0)
            RAY_FAULT(SUBMIT_ARGS);
    }
    if (sp->resources && *sp->resources)
        memcpy(b + pos, sp->resources, strlen(sp->resources));
}

/* The body: in the slot, or in an object of its own (k->body_obj names it
 * before it has bytes, so a death here lets it go). */
static int build_body(sched_task *k, uint64_t body, uint8_t **b)
{
    store *st = cl_store();
    k->body_len = (uint32_t)body;
    *b = k->body;
    if (body <= SCHED_BODY_INLINE)
        return 0;
    void *p;
    int rc = store_obj_new(st, STORE_SEALED, 1, &k->body_obj); /* recorded at once */
    if (rc)
        return rc;
    if ((rc = client_store_alloc(k->body_obj, body, &p)))
        return rc;
    *b = p;
    return 0;
}

/* The outputs: each PENDING with two holders, the caller (its list) and
 * the producer (the task's outputs, counted in k->nret), both recorded as
 * the object is taken. */
static int build_outputs(sched_task *k, uint32_t t, int nret, sched_out *outs, ray_ref *returns)
{
    store *st = cl_store();
    int rc = 0;
    pthread_mutex_lock(&ray_cl.lock);
    for (int i = 0; i < nret && !rc; i++) {
        uint32_t o, pos;
        outs[i] = (sched_out){0, 0};
        atomic_signal_fence(memory_order_seq_cst);
        k->nret = (uint16_t)(i + 1); /* counted before it exists: a zero record is skipped */
        store_rec *rec[2] = {&outs[i], client_hold_reserve(&pos)};
        rc = store_obj_new_at(st, STORE_PENDING, 2, &o, rec, 2);
        client_hold_made(pos, rc ? 0 : o, rc ? 0 : outs[i].gen);
        if (rc) {
            k->nret = (uint16_t)i;
            break;
        }
        st->objs[o].task = t;
        returns[i] = ray_id_ref(store_obj_id(st, o, ray_cl.node));
    }
    pthread_mutex_unlock(&ray_cl.lock);
    return rc;
}

int submit_build(const submit_spec *sp, uint32_t *task, ray_ref *returns, int *ready,
                 uint32_t *err_src)
{
    arg_info small[16], *info = sp->nargs <= 16 ? small : calloc((size_t)sp->nargs, sizeof(*info));
    if (!info)
        return ray_err(RAY_ENOMEM, "out of memory for %d arguments", sp->nargs);
    uint64_t body = (uint64_t)sp->nret * sizeof(sched_out);
    size_t res_len = sp->resources ? strlen(sp->resources) : 0;
    int rc = check_args(sp->args, sp->nargs, info, &body);
    body += res_len;
    if (!rc && body > UINT32_MAX)
        rc = ray_err(RAY_EINVAL, "task arguments total %llu bytes; pass big data by ref",
                     (unsigned long long)body);
    sched *sh = cl_sched();
    uint32_t t = 0;
    if (!rc)
        rc = sched_task_new(sh, &t, client_building());
    if (rc)
        goto out;
    sched_task *k = sched_task_at(sh, t);
    uint8_t *b;
    if ((rc = build_body(k, body, &b)))
        goto undo;
    RAY_FAULT(SUBMIT_NEW);
    if ((rc = build_outputs(k, t, sp->nret, (sched_out *)b, returns)))
        goto undo;
    RAY_FAULT(SUBMIT_OUTPUTS);
    *ready = 1;
    *err_src = 0;
    write_args(sp, info, k, b, (uint64_t)sp->nret * sizeof(sched_out), ready, err_src);
    k->fn = sp->fn;
    k->kind = (uint8_t)sp->kind;
    k->flags = (uint8_t)sp->flags;
    k->retries_left = (int16_t)sp->max_retries;
    k->submitter = (uint16_t)ray_cl.slot;
    k->res_len = (uint16_t)res_len;
    k->cpu_milli = sp->cpu_milli;
    k->gpu_milli = sp->gpu_milli;
    k->actor = sp->actor;
    k->actor_gen = sp->actor_gen;
    k->node = (uint16_t)sp->node;
    snprintf(k->name, sizeof(k->name), "%s", sp->name ? sp->name : "");
    if (ray_cl.stamp_submits)
        k->queued_ns = ray_now_ns();
    *task = t;
    goto out;
undo: /* the outputs made so far, then what the task holds, then its slot */
    for (uint32_t i = 0; i < k->nret; i++)
        client_hold_release(ray_ref_id(returns[i]));
    submit_dispose(t);
out:
    if (info != small)
        free(info);
    return rc;
}

void submit_dispose(uint32_t t)
{
    sched *sh = cl_sched();
    sched_task_release(sh, t);
    _Atomic uint64_t *b = client_building();
    if (b) /* before the slot is free: a death between leaks it, no more */
        atomic_store(b, 0);
    sched_task_free(sh, t);
}

void submit_fail(uint32_t t, int code, const char *msg, uint32_t err_src)
{
    sched *sh = cl_sched();
    uint32_t notify[SCHED_MAX_RETURNS];
    int n = sched_task_fail(sh, sched_task_at(sh, t), code, msg, err_src, notify);
    client_notify(notify, n);
    submit_dispose(t);
}

/* Names waiting task t (gen) under each argument it waits for and
 * watches them, as the node service does when it takes a task (hints.c):
 * the sealer of its last argument then takes it to the ready queue, and
 * the service need not be woken for it.  Returns 1 if it is named under
 * every one; *ready_now: all of them were sealed by the end (one may have
 * been sealed before it was watched, when no sealer looked for it), so
 * the caller takes it.  From the first name on, the task may be taken and
 * its slot reused: only the decoded copy of its arguments is read. */
int submit_hint(uint32_t t, uint32_t gen, int *ready_now)
{
    sched *sh = cl_sched();
    sched_task *k = sched_task_at(sh, t);
    const sched_out *outs;
    sched_args a;
    *ready_now = 0;
    if (!sched_hint_eligible(sh, k) || sched_args_decode(sh, k, &outs, &a))
        return 0;
    int named = 1;
    k->flags |= TASK_TF_HINTED; /* before any name: see recover_building */
    atomic_signal_fence(memory_order_seq_cst);
    for (uint32_t i = 0; i < a.n; i++) {
        uint32_t o = a.v[i].ref.slot;
        if (a.v[i].kind != SCHED_ARG_REF || !sched_out_ok(sh, (sched_out){o, a.v[i].ref.gen}) ||
            STORE_IS_READY(atomic_load(&sh->st.objs[o].state)))
            continue;
        sched_hint_watch(sh, o, t, gen, &named, 0);
    }
    int ready = 1; /* after every watch: a later seal sees one, and looks */
    for (uint32_t i = 0; i < a.n && ready; i++)
        ready = a.v[i].kind != SCHED_ARG_REF ||
                !sched_out_ok(sh, (sched_out){a.v[i].ref.slot, a.v[i].ref.gen}) ||
                STORE_IS_READY(atomic_load(&sh->st.objs[a.v[i].ref.slot].state));
    *ready_now = ready;
    sched_args_free(&a);
    RAY_FAULT(SUBMIT_HINTED);
    return named;
}

void submit_hand_over(uint16_t type, const void *msg, uint32_t len, int wake)
{
    client_send_wake(type, msg, len, wake);
    _Atomic uint64_t *b = client_building();
    if (b) /* committed: the node service has it (it clears this too) */
        atomic_store(b, 0);
}

int submit_check_call(const char *what, const void *name, const ray_arg *args, int nargs,
                      int nret, const void *returns)
{
    if (!name || nargs < 0 || nargs > SCHED_MAX_ARGS || (nargs && !args) || nret < 0 ||
        nret > SCHED_MAX_RETURNS || (nret > 0 && !returns))
        return ray_err(RAY_EINVAL, "%s needs a name, 0..%d args (non-NULL when nargs > 0) and "
                                   "room for 0..%d returns", what, SCHED_MAX_ARGS,
                       SCHED_MAX_RETURNS);
    return 0;
}

int submit_check_resources(double cpus, double gpus, const char *resources, int node,
                           submit_res *out)
{
    if (!(cpus >= 0) || !isfinite(cpus) || cpus > 1e6 || !(gpus >= 0) || !isfinite(gpus) ||
        gpus > 1e6)
        return ray_err(RAY_EINVAL, "num_cpus and num_gpus must be between 0 and 1e6");
    if (node < -1 || node >= (int)ray_cl.num_nodes)
        return ray_err(RAY_EINVAL, "node %d does not exist (this job has %u)", node,
                       ray_cl.num_nodes);
    const sched_region *r = cl_sched()->r;
    if (cpus > r->max_node_cpus + 1e-9 || gpus > r->max_node_gpus + 1e-9)
        return ray_err(RAY_EINFEASIBLE, "asks for %g CPUs and %g GPUs; the largest node has "
                                        "%g CPUs and %g GPUs", cpus, gpus, r->max_node_cpus,
                       r->max_node_gpus);
    out->cpu_milli = (uint32_t)llround(cpus * 1000.0);
    out->gpu_milli = (uint32_t)llround(gpus * 1000.0);
    out->custom[0] = 0;
    if (!resources || !*resources)
        return 0;
    /* Checked here, kept as written: the node service parses it again. */
    ray_resource parsed[RAY_RES_MAX];
    size_t len = strlen(resources);
    if (len + 1 > sizeof(out->custom))
        return ray_err(RAY_EINVAL, "resources string is too long (%zu bytes)", len);
    int n = ray_resources_parse(resources, len, parsed);
    if (n < 0)
        return n;
    memcpy(out->custom, resources, len + 1);
    return 0;
}
