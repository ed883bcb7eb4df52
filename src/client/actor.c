/*
 * actor.c - the public calls on actors.  Creating, finding and killing an
 * actor are requests to the node service (rare, and they must be answered:
 * a taken name, a dead actor).  A method call is not: the caller writes the
 * call into a task slot and pushes it onto the actor's queue in shared
 * memory, where the actor's process takes it in order.
 */
#include "client.h"

#include <stdlib.h>

RAY_API void ray_actor_opts_init(ray_actor_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->num_cpus = RAY_ACTOR_CPUS_DEFAULT;
    o->node = -1;
}

/* The live actor slot of a handle of this node; *a NULL for an actor of
 * another node (its node checks it). */
static int actor_lookup(ray_actor h, ray_id *id, sched_actor **a)
{
    *id = ray_id_from_bytes(h.id);
    sched *sh = cl_sched();
    *a = NULL;
    if (id->kind != RAY_ID_ACTOR || id->tag != store_tag(cl_store()) ||
        id->node >= ray_cl.num_nodes || !id->slot || id->slot >= sh->r->max_actors)
        return ray_err(RAY_EINVAL, "not an actor handle of this job");
    if (id->node != ray_cl.node)
        return 0;
    *a = sched_actor_at(sh, id->slot);
    if ((*a)->gen != id->gen)
        return ray_err(RAY_EACTOR, "actor is dead (its handle is stale)");
    if (atomic_load(&(*a)->state) == ACTOR_FREE) { /* dead and gone: say why it died */
        char msg[600];
        actor_death_msg(*a, id->gen, msg, sizeof(msg));
        return ray_err(RAY_EACTOR, "%s", msg);
    }
    return 0;
}

RAY_API int ray_actor_create(const char *cls, const ray_arg *args, int nargs,
                             const ray_actor_opts *opts, ray_actor *out)
{
    int rc = client_check();
    if (rc)
        return rc;
    ray_actor_opts def;
    if (!opts) {
        ray_actor_opts_init(&def);
        opts = &def;
    }
    if (!cls || !out || nargs < 0 || nargs > SCHED_MAX_ARGS || (nargs && !args))
        return ray_err(RAY_EINVAL, "ray_actor_create needs a class, 0..%d args and an output",
                       SCHED_MAX_ARGS);
    size_t name_len = opts->name ? strlen(opts->name) : 0;
    if (name_len >= SCHED_ACTOR_NAME_MAX)
        return ray_err(RAY_EINVAL, "actor name longer than %d bytes", SCHED_ACTOR_NAME_MAX - 1);
    if (opts->name && !name_len)
        return ray_err(RAY_EINVAL, "actor name is empty");
    if (opts->max_restarts < -1 || opts->max_restarts > 10000)
        return ray_err(RAY_EINVAL, "max_restarts must be -1 (forever) .. 10000");
    /* The default: 1 CPU to be placed, none held once it runs. */
    int place_only = opts->num_cpus == RAY_ACTOR_CPUS_DEFAULT;
    submit_res res;
    if ((rc = submit_check_resources(place_only ? 1.0 : opts->num_cpus, opts->num_gpus,
                                     opts->resources, opts->node, &res)))
        return ray_err(rc, "actor %s: %s", cls, ray_last_error());
    uint64_t h = ray_hash64(cls);
    const reg_entry *e = registry_find(h);
    if (!e || e->kind != REG_ACTOR)
        return ray_err(RAY_ENOFUNC, "actor class '%s' is not registered (RAY_ACTOR(%s, ...) "
                                    "at file scope)", cls, cls);
    submit_spec sp = {TASK_ACTOR_CREATE, h,       cls,          args,       nargs, 0,
                      opts->max_restarts, res.cpu_milli, res.gpu_milli, res.custom, 0,
                      place_only ? TASK_TF_CPU_PLACE_ONLY : 0,
                      opts->node >= 0 ? (uint32_t)opts->node : SCHED_NODE_ANY, 0};
    uint32_t task, err_src;
    int ready;
    if ((rc = submit_build(&sp, &task, NULL, &ready, &err_src)))
        return rc;
    sched_task *k = sched_task_at(cl_sched(), task);
    atomic_store(&k->state, TASK_TAGGED(TASK_WAITING, k->gen));
    char buf[sizeof(msg_actor_create) + SCHED_ACTOR_NAME_MAX];
    msg_actor_create *m = (msg_actor_create *)buf;
    m->slot = task;
    m->gen = k->gen;
    m->name_len = (uint32_t)name_len;
    memcpy(m->name, opts->name ? opts->name : "", name_len);
    msg_reply_actor rep;
    uint32_t len = 0;
    rc = client_request(MSG_ACTOR_CREATE, m, (uint32_t)(sizeof(*m) + name_len), &rep, sizeof(rep),
                        &len);
    if (client_building()) /* the service has taken (or disposed of) it */
        atomic_store(client_building(), 0);
    if (rc) {
        /* The service disposed of the creation task; its message came back. */
        if (len && len < sizeof(rep))
            return rc;
        return rc == RAY_EEXIST ? ray_err(rc, "an actor named '%s' exists already", opts->name)
                                : ray_err(rc, "actor %s not created: %s", cls,
                                          ray_strerror(rc));
    }
    ray_id id = {rep.node, rep.slot, rep.gen, store_tag(cl_store()), RAY_ID_ACTOR, 0};
    ray_id_to_bytes(id, out->id);
    return 0;
}

/* A call of another node's actor: the node service sends it there, in the
 * order this process made its calls. */
static int call_remote(ray_id id, const char *method, const ray_arg *args, int nargs,
                       const ray_task_opts *opts, ray_ref *returns)
{
    submit_spec sp = {TASK_ACTOR_CALL, ray_hash64(method), opts->name ? opts->name : method,
                      args, nargs, opts->num_returns, 0, 0, 0, NULL, id.slot,
                      TASK_TF_METHOD_NAME, id.node, id.gen};
    uint32_t t, err_src;
    int ready, rc = submit_build(&sp, &t, returns, &ready, &err_src);
    if (rc)
        return rc;
    sched_task *k = sched_task_at(cl_sched(), t);
    atomic_store_explicit(&k->state, TASK_TAGGED(TASK_WAITING, k->gen), memory_order_release);
    msg_task m = {t, k->gen};
    submit_hand_over(MSG_SUBMIT, &m, sizeof(m), 1);
    return 0;
}

RAY_API int ray_actor_call(ray_actor actor, const char *method, const ray_arg *args, int nargs,
                           const ray_task_opts *opts, ray_ref *returns)
{
    int rc = client_check();
    if (rc)
        return rc;
    ray_task_opts def;
    if (!opts) {
        ray_task_opts_init(&def);
        opts = &def;
    }
    if ((rc = submit_check_call("ray_actor_call", method, args, nargs, opts->num_returns,
                                returns)))
        return rc;
    ray_id id;
    sched_actor *a;
    if ((rc = actor_lookup(actor, &id, &a)))
        return rc;
    if (!a)
        return call_remote(id, method, args, nargs, opts, returns);
    uint64_t h = registry_method_hash(a->cls, method);
    const reg_entry *e = registry_find(h);
    if (!e || e->kind != REG_METHOD)
        return ray_err(RAY_ENOFUNC, "method '%s' is not registered for this actor's class "
                                    "(RAY_METHOD(cls, %s))", method, method);
    submit_spec sp = {TASK_ACTOR_CALL, h, opts->name ? opts->name : method, args, nargs,
                      opts->num_returns, 0, 0, 0, NULL, id.slot, 0, SCHED_NODE_ANY, 0};
    uint32_t t, err_src;
    int ready;
    if ((rc = submit_build(&sp, &t, returns, &ready, &err_src)))
        return rc;
    sched *sh = cl_sched();
    sched_task *k = sched_task_at(sh, t);
    atomic_store_explicit(&k->state, TASK_TAGGED(TASK_QUEUED, k->gen), memory_order_release);
    /* Argument errors are the actor's to report, in order with the other
     * calls: the call still goes through the queue. */
    (void)ready;
    (void)err_src;
    if (sched_actor_push(sh, a, id.gen, t, client_building()) == 0) {
        ray_evc_signal(&a->calls.evc, 1);
        return 0;
    }
    /* The actor is dead (or its slot reused): fail the call now, with the
     * message it died with.  The call was never queued: it is ours. */
    char msg[600];
    actor_death_msg(a, id.gen, msg, sizeof(msg));
    atomic_store(&k->state, TASK_TAGGED(TASK_CANCELLED, k->gen));
    submit_fail(t, RAY_EACTOR, msg, 0);
    return 0;
}

RAY_API int ray_actor_get(const char *name, ray_actor *out)
{
    int rc = client_check();
    if (rc)
        return rc;
    size_t n = name ? strlen(name) : 0;
    if (!n || n >= SCHED_ACTOR_NAME_MAX || !out)
        return ray_err(RAY_EINVAL, "ray_actor_get needs a name of 1..%d bytes and an output",
                       SCHED_ACTOR_NAME_MAX - 1);
    char buf[sizeof(msg_actor_get) + SCHED_ACTOR_NAME_MAX];
    msg_actor_get *m = (msg_actor_get *)buf;
    m->name_len = (uint32_t)n;
    memcpy(m->name, name, n);
    msg_reply_actor rep;
    rc = client_request(MSG_ACTOR_GET, m, (uint32_t)(sizeof(*m) + n), &rep, sizeof(rep), NULL);
    if (rc)
        return ray_err(rc, "no live actor named '%s'", name);
    ray_id id = {rep.node, rep.slot, rep.gen, store_tag(cl_store()), RAY_ID_ACTOR, 0};
    ray_id_to_bytes(id, out->id);
    return 0;
}

RAY_API int ray_actor_kill(ray_actor actor)
{
    int rc = client_check();
    if (rc)
        return rc;
    ray_id id;
    sched_actor *a;
    if ((rc = actor_lookup(actor, &id, &a)))
        return rc == RAY_EACTOR ? 0 : rc; /* already dead and gone */
    msg_actor_req m = {0, id.slot, id.gen, id.node};
    return client_request(MSG_ACTOR_KILL, &m, sizeof(m), NULL, 0, NULL);
}

void actor_death_msg(const sched_actor *a, uint32_t gen, char *buf, size_t size)
{
    snprintf(buf, size, "actor is dead");
    uint32_t eo = a->err_obj;
    if (!eo || a->gen != gen || eo >= cl_store()->max_objects)
        return;
    const store_obj *o = store_obj_at(cl_store(), eo);
    if (STORE_STATE(atomic_load(&o->state)) == STORE_ERROR)
        snprintf(buf, size, "%.*s", (int)RAY_MIN(o->size, size - 1),
                 (const char *)store_obj_view(cl_store(), eo));
}
