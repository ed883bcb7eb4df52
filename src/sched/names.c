/*
 * names.c - actors in a job of several nodes.  Rank 0 keeps the job's
 * actor names (its gcs table): a name is reserved there before its actor
 * is made, set once the actor exists, and deleted when it dies, so names
 * are unique job-wide and ray_actor_get finds an actor on any node.  An
 * actor is made where opts.node says, else here if this node can hold it,
 * else on a node that can (cluster_place); one made elsewhere is asked for
 * with W_ACTOR_NEW and its handle names that node.  Each creation is a
 * request of the process that asked (actor_req), answered when done.
 */
#define _GNU_SOURCE
#include "cluster.h"

#include <stdlib.h>

static actor_req *areq_at(sched_service *svc, uint32_t i)
{
    return &RAY_VEC_AT(&svc_cl(svc)->areqs, actor_req, i);
}

static int areq_new(sched_service *svc, uint32_t client, uint32_t req, uint32_t *idx)
{
    svc_cluster *c = svc_cl(svc);
    for (uint32_t i = 0; i < c->areqs.len; i++)
        if (!areq_at(svc, i)->used) {
            *idx = i;
            goto found;
        }
    if (!ray_vec_push(&c->areqs))
        return ray_err(RAY_ENOMEM, "out of memory");
    *idx = (uint32_t)c->areqs.len - 1;
found:;
    actor_req *r = areq_at(svc, *idx);
    memset(r, 0, sizeof(*r));
    r->used = 1;
    r->client = client;
    r->client_gen = svc->cl[client].gen;
    r->client_req = req;
    return 0;
}

/* Answers the process that asked (if it is still there) and ends the request. */
static void areq_reply(sched_service *svc, uint32_t idx, int code, uint32_t node, uint32_t slot,
                       uint32_t gen)
{
    actor_req *r = areq_at(svc, idx);
    if (svc->cl[r->client].used && svc->cl[r->client].gen == r->client_gen)
        svc_reply_actor(svc, r->client, r->client_req, code, node, slot, gen);
    r->used = 0;
}

/* ---- the names, at rank 0 */

static int name_apply(sched_service *svc, uint32_t from, wire_name *w, const char *name)
{
    uint32_t node, slot, gen;
    switch (w->op) {
    case NAME_PUT:
        return gcs_name_put(svc->g, name, w->name_len, from, 0, 0);
    case NAME_SET:
        gcs_name_del(svc->g, name, w->name_len);
        return gcs_name_put(svc->g, name, w->name_len, w->node, w->slot, w->gen);
    case NAME_DEL:
        gcs_name_del(svc->g, name, w->name_len);
        return 0;
    case NAME_GET: {
        int rc = gcs_name_get(svc->g, name, w->name_len, &node, &slot, &gen);
        if (!rc && !slot)
            rc = RAY_ENOTFOUND; /* reserved, not made yet */
        w->node = node;
        w->slot = slot;
        w->gen = gen;
        return rc;
    }
    }
    return RAY_EPROTO;
}

static void name_got(sched_service *svc, const wire_name *w);

/* A name operation: at rank 0 done at once, else asked of rank 0. */
static void name_request(sched_service *svc, uint32_t op, uint32_t req, const char *name,
                         uint32_t len, uint32_t node, uint32_t slot, uint32_t gen)
{
    wire_name w = {op, req, 0, node, slot, gen, len, 0};
    if (svc->node == 0) {
        w.code = name_apply(svc, 0, &w, name);
        if (op == NAME_PUT || op == NAME_GET)
            name_got(svc, &w);
        return;
    }
    uint8_t *p = cluster_out(svc, 0, W_NAME, (uint32_t)(sizeof(w) + len));
    if (p) {
        memcpy(p, &w, sizeof(w));
        memcpy(p + sizeof(w), name, len);
    }
}

void names_on_name(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_name w;
    const void *name;
    if (svc->node != 0 || wire_fixed(p, len, &w, sizeof(w), 0, &name) ||
        w.name_len > len - sizeof(w) || w.name_len >= SCHED_ACTOR_NAME_MAX)
        return;
    w.code = name_apply(svc, from, &w, name);
    if (w.op != NAME_PUT && w.op != NAME_GET)
        return;
    wire_name *r = cluster_out(svc, from, W_NAME_REPLY, sizeof(*r));
    if (r) {
        *r = w;
        r->name_len = 0;
    }
}

void names_on_reply(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_name w;
    if (from == 0 && !wire_fixed(p, len, &w, sizeof(w), 0, NULL))
        name_got(svc, &w);
}

void svc_name_del(sched_service *svc, const char *name, uint32_t len)
{
    if (!svc->cluster)
        gcs_name_del(svc->g, name, len);
    else
        name_request(svc, NAME_DEL, 0, name, len, 0, 0, 0);
}

/* ---- creating an actor */

static void actor_step(sched_service *svc, uint32_t idx);

static void fail_request(sched_service *svc, uint32_t idx, int code, int named)
{
    actor_req *r = areq_at(svc, idx);
    if (named)
        name_request(svc, NAME_DEL, 0, r->name, r->name_len, 0, 0, 0);
    if (svc_task_valid(svc, r->task, r->task_gen))
        sched_task_dispose(&svc->sh, r->task);
    areq_reply(svc, idx, code, 0, 0, 0);
}

static void name_got(sched_service *svc, const wire_name *w)
{
    if (w->req >= svc_cl(svc)->areqs.len || !areq_at(svc, w->req)->used)
        return;
    if (w->op == NAME_GET) {
        areq_reply(svc, w->req, w->code, w->node, w->slot, w->gen);
    } else if (w->code) { /* the name is taken */
        fail_request(svc, w->req, w->code, 0);
    } else {
        actor_step(svc, w->req);
    }
}

/* Where the actor of creation task t goes: opts.node, else here if it
 * fits this node, else the least busy node it fits. */
static int actor_target(sched_service *svc, uint32_t t)
{
    sched *sh = &svc->sh;
    sched_task *k = &sh->tasks[t];
    if (k->node != SCHED_NODE_ANY)
        return k->node;
    int res_len;
    const char *res = sched_task_res(sh, k, &res_len);
    char why[300];
    if (k->cpu_milli / 1000.0 <= svc->cpus + 1e-9 && k->gpu_milli / 1000.0 <= svc->gpus + 1e-9 &&
        svc_res_check(svc, res, res_len, why, sizeof(why)) >= 0)
        return (int)svc->node;
    return cluster_place(svc, k->cpu_milli, k->gpu_milli, res, res_len);
}

void names_actor_create(sched_service *svc, uint32_t client, uint32_t req, uint32_t t,
                        const char *name, uint32_t name_len)
{
    uint32_t idx;
    if (areq_new(svc, client, req, &idx)) {
        sched_task_dispose(&svc->sh, t);
        svc_reply(svc, client, req, RAY_ENOMEM, NULL, 0);
        return;
    }
    actor_req *r = areq_at(svc, idx);
    r->task = t;
    r->task_gen = svc->sh.tasks[t].gen;
    int target = actor_target(svc, t);
    if (target < 0) {
        fail_request(svc, idx, RAY_EINFEASIBLE, 0);
        return;
    }
    r->node = (uint32_t)target;
    memcpy(r->name, name, name_len);
    r->name_len = name_len;
    if (name_len)
        name_request(svc, NAME_PUT, idx, name, name_len, 0, 0, 0);
    else
        actor_step(svc, idx);
}

/* The name (if any) is ours: make the actor here, or ask its node. */
static void actor_step(sched_service *svc, uint32_t idx)
{
    actor_req *r = areq_at(svc, idx);
    uint32_t a, gen;
    if (r->node == svc->node) {
        int rc = svc_actor_make(svc, r->task, r->name, r->name_len, 0, &a, &gen);
        if (rc) {
            fail_request(svc, idx, rc, r->name_len != 0);
            return;
        }
        if (r->name_len)
            name_request(svc, NAME_SET, 0, r->name, r->name_len, svc->node, a, gen);
        areq_reply(svc, idx, 0, svc->node, a, gen);
        return;
    }
    uint32_t head = (uint32_t)(sizeof(wire_actor_new) + wire_pad8(r->name_len));
    void *p;
    if (remote_encode_task(svc, r->task, r->node, W_ACTOR_NEW, head, &p)) {
        fail_request(svc, idx, RAY_ENOMEM, r->name_len != 0);
        return;
    }
    wire_actor_new w = {idx, r->name_len};
    memcpy(p, &w, sizeof(w));
    memcpy((uint8_t *)p + sizeof(w), r->name, r->name_len);
}

/* On the actor's node: make it from the creator's task record. */
void names_on_actor_new(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_actor_new w;
    const void *name;
    wire_task_view v;
    uint32_t t, a = 0, gen = 0;
    sched_out none[1];
    if (wire_fixed(p, len, &w, sizeof(w), 0, &name) || w.name_len >= SCHED_ACTOR_NAME_MAX ||
        wire_pad8(w.name_len) > len - sizeof(w) ||
        wire_task_parse((const uint8_t *)name + wire_pad8(w.name_len),
                        len - (uint32_t)(sizeof(w) + wire_pad8(w.name_len)), &v) ||
        v.t.kind != TASK_ACTOR_CREATE || v.t.nret != 0) {
        cluster_fail(svc, from, "node %u sent a malformed actor creation", from);
        return;
    }
    int rc = remote_build_task(svc, from, &v, &t, none);
    if (!rc) {
        atomic_store(&svc->sh.tasks[t].state, TASK_TAGGED(TASK_WAITING, svc->sh.tasks[t].gen));
        if ((rc = svc_actor_make(svc, t, name, w.name_len, 0, &a, &gen)))
            sched_task_dispose(&svc->sh, t);
    }
    const char *msg = rc ? ray_last_error() : "";
    uint32_t mlen = (uint32_t)strlen(msg);
    wire_actor_reply *r = cluster_out(svc, from, W_ACTOR_NEW_REPLY, (uint32_t)(sizeof(*r) + mlen));
    if (r) {
        *r = (wire_actor_reply){w.req, rc, a, gen, mlen, 0};
        memcpy(r + 1, msg, mlen);
    }
}

void names_on_actor_reply(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_actor_reply w;
    if (wire_fixed(p, len, &w, sizeof(w), 0, NULL) || w.req >= svc_cl(svc)->areqs.len)
        return;
    actor_req *r = areq_at(svc, w.req);
    if (!r->used || r->node != from)
        return;
    if (w.code) {
        fail_request(svc, w.req, w.code, r->name_len != 0);
        return;
    }
    if (r->name_len)
        name_request(svc, NAME_SET, 0, r->name, r->name_len, from, w.slot, w.gen);
    if (svc_task_valid(svc, r->task, r->task_gen)) /* it only carried the spec there */
        sched_task_dispose(&svc->sh, r->task);
    areq_reply(svc, w.req, 0, from, w.slot, w.gen);
}

void names_actor_get(sched_service *svc, uint32_t client, uint32_t req, const char *name,
                     uint32_t len)
{
    uint32_t idx;
    if (areq_new(svc, client, req, &idx)) {
        svc_reply(svc, client, req, RAY_ENOMEM, NULL, 0);
        return;
    }
    name_request(svc, NAME_GET, idx, name, len, 0, 0, 0);
}

void names_on_actor_kill(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    sched_out o;
    if (!wire_fixed(p, len, &o, sizeof(o), 0, NULL))
        svc_actor_kill(svc, o.slot, o.gen);
}
