/*
 * pull.c - objects across nodes.  A process here that uses another node's
 * object works with a local copy (a proxy): a local object whose bytes the
 * service fetches from the owner when someone here waits for them (W_PULL).
 * The owner answers when the object is ready: small ones inside the
 * answer, large ones by where they are in its arena, pinned until the
 * puller has read them with one-sided gets in pipelined chunks (W_UNPIN).
 * A copy lives while processes here hold it; the owner counts the nodes
 * that hold a copy (W_REF) and keeps its object while any does.  An object
 * its owner has freed is RAY_ELOST, never a hang.
 */
#define _GNU_SOURCE
#include "cluster.h"

#include <stdlib.h>

#define PROXY_IDLE_NS 200000000ULL /* a copy nobody holds goes after this */

static uint64_t remote_key(wire_ref r)
{
    return (uint64_t)r.node << 32 | r.slot;
}

static proxy *proxy_at(sched_service *svc, uint32_t i)
{
    return &RAY_VEC_AT(&svc_cl(svc)->proxies, proxy, i);
}

/* The live proxy whose local object is slot, or NULL. */
static proxy *proxy_of_slot(sched_service *svc, uint32_t slot, uint32_t *idx)
{
    uint64_t v;
    if (!ray_map64_get(&svc_cl(svc)->proxy_by_slot, slot, &v))
        return NULL;
    proxy *p = proxy_at(svc, (uint32_t)v - 1);
    if (!p->used || p->slot != slot)
        return NULL;
    if (idx)
        *idx = (uint32_t)v - 1;
    return p;
}

/* Their idle time is a cache, not a promise. */
int pull_alloc(sched_service *svc, uint32_t obj, uint64_t size, void **dst)
{
    int rc = store_obj_alloc(&svc->sh.st, obj, size, dst);
    if (rc == RAY_ENOMEM && pull_reclaim(svc, UINT32_MAX, obj))
        rc = store_obj_alloc(&svc->sh.st, obj, size, dst);
    return rc;
}

static void send_ref(sched_service *svc, wire_ref r, int32_t delta)
{
    wire_refdelta *d = cluster_out(svc, r.node, W_REF, sizeof(*d));
    if (d)
        *d = (wire_refdelta){r.slot, r.gen, delta, 0};
}

static proxy *proxy_new(sched_service *svc, uint32_t *idx)
{
    svc_cluster *c = svc_cl(svc);
    proxy *p;
    if (c->proxy_free) {
        *idx = c->proxy_free - 1;
        p = proxy_at(svc, *idx);
        c->proxy_free = p->next_free;
    } else {
        if (!(p = ray_vec_push(&c->proxies)))
            return NULL;
        memset(p, 0, sizeof(*p));
        *idx = (uint32_t)c->proxies.len - 1;
    }
    uint32_t gen = ray_gen_next(p->gen);
    memset(p, 0, sizeof(*p));
    p->used = 1;
    p->gen = gen;
    return p;
}

static void start_pull(sched_service *svc, proxy *p)
{
    wire_pull *w = cluster_out(svc, p->remote.node, W_PULL, sizeof(*w));
    if (!w)
        return;
    *w = (wire_pull){p->remote.slot, p->remote.gen, p->slot, p->sgen};
    p->state = PROXY_PULLING;
    p->pull_ns = ray_tl_on ? ray_now_ns() : 0;
}

void pull_tl(uint32_t from, const char *what, uint64_t start, uint64_t bytes, int status)
{
    ray_tl_event *e = ray_tl_next();
    if (!e)
        return;
    e->end_ns = ray_now_ns();
    e->start_ns = start && start <= e->end_ns ? start : e->end_ns;
    e->peer = from;
    e->bytes_in = bytes;
    e->status = status;
    snprintf(e->name, sizeof(e->name), "%s", what);
    ray_tl_commit(e, RAY_TL_TRANSFER);
}

int pull_proxy(sched_service *svc, wire_ref r, int pull, uint32_t *slot, uint32_t *gen)
{
    svc_cluster *c = svc_cl(svc);
    store *st = &svc->sh.st;
    uint64_t v;
    if (r.node >= c->num_nodes || r.node == svc->node)
        return ray_err(RAY_EINVAL, "obj:%u:%u:%u is not another node's", r.node, r.slot, r.gen);
    proxy *p = NULL;
    uint32_t idx;
    if (ray_map64_get(&c->proxy_by_remote, remote_key(r), &v)) {
        p = proxy_at(svc, idx = (uint32_t)v - 1);
        if (!p->used || p->remote.gen != r.gen || st->objs[p->slot].gen != p->sgen)
            p = NULL; /* an earlier object in that slot: a new copy */
    }
    if (!p) {
        uint32_t o;
        int rc = store_obj_new(st, STORE_PENDING, 1, &o);
        if (rc)
            return rc;
        if (!(p = proxy_new(svc, &idx))) {
            store_obj_unref(st, o);
            return ray_err(RAY_ENOMEM, "out of memory for a copy of another node's object");
        }
        p->remote = r;
        p->slot = o;
        p->sgen = st->objs[o].gen;
        ray_map64_put(&c->proxy_by_remote, remote_key(r), idx + 1);
        ray_map64_put(&c->proxy_by_slot, o, idx + 1);
        send_ref(svc, r, +1);
    }
    if (pull && p->state == PROXY_IDLE)
        start_pull(svc, p);
    p->told_ns = ray_now_ns(); /* not reclaimed before the asker holds it */
    p->idle_ns = 0;
    *slot = p->slot;
    *gen = p->sgen;
    return 0;
}

int pull_remote_of(sched_service *svc, uint32_t slot, wire_ref *r)
{
    proxy *p = svc_cl(svc) ? proxy_of_slot(svc, slot, NULL) : NULL;
    if (!p || svc->sh.st.objs[slot].gen != p->sgen)
        return 0;
    *r = p->remote;
    return 1;
}

void pull_wanted(sched_service *svc, uint32_t slot)
{
    proxy *p = svc_cl(svc) ? proxy_of_slot(svc, slot, NULL) : NULL;
    if (p && p->state == PROXY_IDLE && svc->sh.st.objs[slot].gen == p->sgen)
        start_pull(svc, p);
}

/* ---- the owner's side of a pull */

/* Answers a pull of object o, which is ready; the reference the request
 * took goes with the answer, or stays as the pin of one read from afar. */
static void answer(sched_service *svc, uint32_t node, const wire_pull *rq)
{
    store *st = &svc->sh.st;
    store_obj *o = &st->objs[rq->slot];
    int err = STORE_STATE(atomic_load(&o->state)) == STORE_ERROR;
    int at = !err && o->size > svc_cl(svc)->inline_max;
    uint32_t len = at ? 0 : (uint32_t)RAY_MIN(o->size, err ? 4096 : o->size);
    wire_pulled *w = cluster_out(svc, node, W_PULLED, (uint32_t)(sizeof(*w) + len));
    if (w) {
        *w = (wire_pulled){rq->req_slot,
                           rq->req_gen,
                           rq->slot,
                           rq->gen,
                           err ? (o->err ? o->err : RAY_ETASK) : 0,
                           at ? WIRE_OUT_AT : WIRE_OUT_INLINE,
                           o->size,
                           at ? o->u.offset : 0,
                           len,
                           0};
        if (len)
            memcpy(w + 1, store_obj_view(st, rq->slot), len);
    }
    if (!at || !w)
        store_obj_unref(st, rq->slot);
    else
        svc_cl(svc)->serving++;
}

static void answer_lost(sched_service *svc, uint32_t node, const wire_pull *rq)
{
    char msg[200];
    uint32_t len = (uint32_t)snprintf(msg, sizeof(msg),
                                      "object obj:%u:%u:%u was released by its owner (node %u) "
                                      "before it could be read",
                                      svc->node, rq->slot, rq->gen, svc->node);
    wire_pulled *w = cluster_out(svc, node, W_PULLED, (uint32_t)(sizeof(*w) + len));
    if (!w)
        return;
    *w = (wire_pulled){rq->req_slot, rq->req_gen, rq->slot, rq->gen, RAY_ELOST, 0, len, 0, len, 0};
    memcpy(w + 1, msg, len);
}

void pull_on_pull(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_pull rq;
    store *st = &svc->sh.st;
    if (wire_fixed(p, len, &rq, sizeof(rq), 0, NULL)) {
        cluster_fail(svc, from, "node %u sent a malformed pull", from);
        return;
    }
    if (!rq.slot || rq.slot >= st->max_objects || !store_obj_ref_live(st, rq.slot, rq.gen)) {
        answer_lost(svc, from, &rq);
        return;
    }
    if (svc_watch(svc, rq.slot)) {
        answer(svc, from, &rq);
        return;
    }
    remote_wait *w = ray_vec_push(&svc_cl(svc)->rwaits);
    if (!w) {
        store_obj_unref(st, rq.slot);
        answer_lost(svc, from, &rq);
        return;
    }
    *w = (remote_wait){from, rq};
    svc_waiter_add(svc, rq.slot, WAITER_REMOTE, (uint32_t)svc_cl(svc)->rwaits.len - 1, 0);
}

void pull_remote_ready(sched_service *svc, uint32_t id)
{
    svc_cluster *c = svc_cl(svc);
    if (id >= c->rwaits.len)
        return;
    remote_wait w = RAY_VEC_AT(&c->rwaits, remote_wait, id);
    RAY_VEC_AT(&c->rwaits, remote_wait, id).node = UINT32_MAX;
    if (w.node != UINT32_MAX)
        answer(svc, w.node, &w.p);
    while (c->rwaits.len &&
           RAY_VEC_AT(&c->rwaits, remote_wait, c->rwaits.len - 1).node == UINT32_MAX)
        c->rwaits.len--; /* answered ones at the end go; the others keep their index */
}

void pull_on_unpin(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    remote_on_free(svc, from, p, len); /* the same: drop the reference a peer held */
}

void pull_on_ref(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    store *st = &svc->sh.st;
    for (uint32_t i = 0; i + sizeof(wire_refdelta) <= len; i += sizeof(wire_refdelta)) {
        wire_refdelta d;
        memcpy(&d, p + i, sizeof(d));
        svc_cl(svc)->copies_at[from] += d.delta; /* each copy's +1 and -1, whatever the object */
        if (!d.slot || d.slot >= st->max_objects)
            continue;
        if (d.delta > 0)
            store_obj_ref_live(st, d.slot, d.gen); /* gone already: the pull says so */
        else if (st->objs[d.slot].gen == d.gen && store_obj_refs(&st->objs[d.slot]) > 0 &&
                 STORE_STATE(atomic_load(&st->objs[d.slot].state)) != STORE_FREE)
            store_obj_unref(st, d.slot);
    }
}

/* ---- the puller's side */

void pull_on_pulled(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_pulled w;
    const void *bytes;
    store *st = &svc->sh.st;
    if (wire_fixed(p, len, &w, sizeof(w), 0, &bytes) || w.len > len - sizeof(w)) {
        cluster_fail(svc, from, "node %u sent a malformed answer to a pull", from);
        return;
    }
    proxy *px = proxy_of_slot(svc, w.req_slot, NULL);
    int mine = px && px->sgen == w.req_gen && px->state == PROXY_PULLING && px->remote.node == from;
    if (!mine) { /* gone meanwhile: let the owner unpin */
        if (!w.code && w.kind == WIRE_OUT_AT) {
            sched_out *u = cluster_out(svc, from, W_UNPIN, sizeof(*u));
            if (u)
                *u = (sched_out){w.slot, w.gen};
        }
        return;
    }
    px->state = PROXY_DONE;
    void *dst;
    int rc = w.code;
    if (!rc && w.kind == WIRE_OUT_AT) {
        px->state = PROXY_PULLING; /* before: a get that fails at once finishes the job inside */
        rc = pull_start(svc, from, w.offset, w.size, w.req_slot, PULL_FOR_PROXY, w.slot, w.gen, 0,
                        0);
        if (!rc)
            return;
        px->state = PROXY_DONE;
        sched_out *u = cluster_out(svc, from, W_UNPIN, sizeof(*u));
        if (u)
            *u = (sched_out){w.slot, w.gen};
        bytes = ray_last_error();
        w.len = (uint32_t)strlen(bytes);
    } else if (!rc && (w.size != w.len || (rc = pull_alloc(svc, w.req_slot, w.size, &dst)))) {
        bytes = rc ? ray_last_error() : "malformed answer";
        rc = rc ? rc : RAY_EPROTO;
        w.len = (uint32_t)strlen(bytes);
    } else if (!rc) {
        if (w.size)
            memcpy(dst, bytes, w.size);
        if (ray_tl_on)
            pull_tl(from, "pull", px->pull_ns, w.size, 0);
        if (store_obj_seal(st, w.req_slot))
            svc_run_waiters(svc, w.req_slot);
        return;
    }
    if (store_obj_fail(st, w.req_slot, rc, bytes, w.len))
        svc_run_waiters(svc, w.req_slot);
}

/* ---- pulls: bytes of a peer's arena into a local object */

static pull_job *job_at(sched_service *svc, uint32_t i)
{
    return &RAY_VEC_AT(&svc_cl(svc)->pulls, pull_job, i);
}

static void job_finish(sched_service *svc, uint32_t idx)
{
    svc_cluster *c = svc_cl(svc);
    store *st = &svc->sh.st;
    pull_job j = *job_at(svc, idx);
    c->pulling -= c->pulling > 0;
    job_at(svc, idx)->used = 0;
    job_at(svc, idx)->next_free = c->pull_free;
    c->pull_free = idx + 1;
    int watched;
    if (st->objs[j.obj].gen != j.obj_gen) {
        watched = 0;
    } else if (j.failed) {
        char msg[160];
        int n = snprintf(msg, sizeof(msg), "could not read %llu bytes of it from node %u",
                         (unsigned long long)j.size, j.from);
        watched = store_obj_fail(st, j.obj, RAY_ELOST, msg, (size_t)n);
    } else {
        watched = store_obj_seal(st, j.obj);
    }
    if (ray_tl_on) {
        proxy *p = j.kind == PULL_FOR_PROXY ? proxy_of_slot(svc, j.obj, NULL) : NULL;
        pull_tl(j.from, j.kind == PULL_FOR_PROXY ? "pull" : "result",
                p && p->pull_ns ? p->pull_ns : j.start_ns, j.arrived, j.failed ? RAY_ELOST : 0);
    }
    if (watched)
        svc_run_waiters(svc, j.obj);
    sched_out *u =
        cluster_out(svc, j.from, j.kind == PULL_FOR_PROXY ? W_UNPIN : W_FREE, sizeof(*u));
    if (u)
        *u = (sched_out){j.a, j.b};
    if (j.kind == PULL_FOR_RESULT)
        remote_output_done(svc, j.task, j.task_gen);
    proxy *px = j.kind == PULL_FOR_PROXY ? proxy_of_slot(svc, j.obj, NULL) : NULL;
    if (px)
        px->state = PROXY_DONE;
}

static void chunk_done(void *arg, int status);

static void issue(sched_service *svc, uint32_t idx)
{
    svc_cluster *c = svc_cl(svc);
    pull_job *j = job_at(svc, idx);
    while (!j->failed && j->inflight < (int)c->depth && j->issued < j->size) {
        uint64_t n = RAY_MIN(c->chunk, j->size - j->issued);
        void *arg = (void *)(uintptr_t)((uint64_t)j->gen << 32 | idx);
        if (net_get(c->net, j->from, j->roff + j->issued, n, j->loff + j->issued, chunk_done,
                    arg)) {
            j->failed = 1;
            break;
        }
        j->issued += n;
        j->inflight++;
        j = job_at(svc, idx); /* a callback may have grown the vector */
    }
    if (!j->inflight && (j->failed || j->arrived == j->size))
        job_finish(svc, idx);
}

static sched_service *chunk_svc; /* the one service of this process */

static void chunk_done(void *arg, int status)
{
    uint64_t v = (uint64_t)(uintptr_t)arg;
    uint32_t idx = (uint32_t)v, gen = (uint32_t)(v >> 32);
    sched_service *svc = chunk_svc;
    if (!svc || idx >= svc_cl(svc)->pulls.len)
        return;
    pull_job *j = job_at(svc, idx);
    if (!j->used || j->gen != gen)
        return;
    j->inflight--;
    if (status)
        j->failed = 1;
    else
        j->arrived += RAY_MIN(svc_cl(svc)->chunk, j->size - j->arrived);
    issue(svc, idx);
}

int pull_start(sched_service *svc, uint32_t from, uint64_t roff, uint64_t size, uint32_t obj,
               uint32_t kind, uint32_t a, uint32_t b, uint32_t task, uint32_t task_gen)
{
    svc_cluster *c = svc_cl(svc);
    store *st = &svc->sh.st;
    void *dst;
    if (!store_obj_writing(st, obj)) /* failed (cancelled) meanwhile: not wanted */
        return ray_err(RAY_ECANCELLED, "not wanted any more");
    int rc = pull_alloc(svc, obj, size, &dst);
    if (rc)
        return rc;
    if (!st->objs[obj].block) { /* small enough to live in the table: not read by a get */
        store_obj_reset(st, obj);
        return ray_err(RAY_EPROTO, "node %u sent the place of a %llu-byte object", from,
                       (unsigned long long)size);
    }
    uint32_t idx;
    pull_job *j;
    if (c->pull_free) {
        idx = c->pull_free - 1;
        j = job_at(svc, idx);
        c->pull_free = j->next_free;
    } else if ((j = ray_vec_push(&c->pulls))) {
        memset(j, 0, sizeof(*j));
        idx = (uint32_t)c->pulls.len - 1;
    } else {
        store_obj_reset(st, obj);
        return ray_err(RAY_ENOMEM, "out of memory for a pull");
    }
    uint32_t gen = ray_gen_next(j->gen);
    *j = (pull_job){1,
                    gen,
                    from,
                    kind,
                    roff,
                    size,
                    st->objs[obj].u.offset,
                    0,
                    0,
                    0,
                    0,
                    obj,
                    st->objs[obj].gen,
                    a,
                    b,
                    task,
                    task_gen,
                    0,
                    ray_tl_on ? ray_now_ns() : 0};
    c->pulling++;
    chunk_svc = svc;
    issue(svc, idx);
    return 0;
}

/* ---- copies nobody holds */

/* The copy goes if its proxy's reference is the last (a process may
 * take one at any time: then it stays); 1 if it went. */
static int proxy_drop(sched_service *svc, uint32_t idx)
{
    svc_cluster *c = svc_cl(svc);
    proxy *p = proxy_at(svc, idx);
    uint64_t v;
    if (!store_obj_unref_only(&svc->sh.st, p->slot))
        return 0;
    if (ray_map64_get(&c->proxy_by_remote, remote_key(p->remote), &v) && v == idx + 1)
        ray_map64_del(&c->proxy_by_remote, remote_key(p->remote));
    ray_map64_del(&c->proxy_by_slot, p->slot);
    send_ref(svc, p->remote, -1);
    uint32_t slot = p->slot;
    p->used = 0;
    p->next_free = c->proxy_free;
    c->proxy_free = idx + 1;
    store_obj_free(&svc->sh.st, slot);
    return 1;
}

/* A copy only the service itself holds, its bytes here or failed. */
static int proxy_idle(sched_service *svc, const proxy *p)
{
    const store_obj *o = &svc->sh.st.objs[p->slot];
    return p->used && p->state != PROXY_PULLING && o->gen == p->sgen && store_obj_refs(o) <= 1;
}

void pull_sweep(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    uint64_t now = ray_now_ns();
    for (uint32_t i = 0; c && i < c->proxies.len; i++) {
        proxy *p = proxy_at(svc, i);
        if (!p->used || p->state == PROXY_PULLING)
            continue;
        if (!proxy_idle(svc, p)) {
            p->idle_ns = 0;
            continue;
        }
        if (!p->idle_ns)
            p->idle_ns = now;
        else if (now - p->idle_ns > PROXY_IDLE_NS)
            proxy_drop(svc, i);
    }
}

/* A copy a process here was given this recently is not reclaimed: it may
 * not hold it yet (its hold after our drop would fail, and it asks again). */
#define RECLAIM_TOLD_NS 100000000ULL

uint32_t pull_reclaim(sched_service *svc, uint32_t owner, uint32_t keep_slot)
{
    svc_cluster *c = svc_cl(svc);
    uint64_t now = ray_now_ns();
    uint32_t n = 0;
    for (uint32_t i = 0; c && i < c->proxies.len; i++) {
        proxy *p = proxy_at(svc, i);
        if (proxy_idle(svc, p) && p->slot != keep_slot && now - p->told_ns >= RECLAIM_TOLD_NS &&
            (owner == UINT32_MAX || p->remote.node == owner))
            n += proxy_drop(svc, i);
    }
    return n;
}

void pull_on_reclaim(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    wire_reclaim w;
    if (wire_fixed(p, len, &w, sizeof(w), 0, NULL)) {
        cluster_fail(svc, from, "node %u sent a malformed W_RECLAIM", from);
        return;
    }
    uint32_t n = pull_reclaim(svc, from, 0);
    ray_debug("pull", "node %u's store is full (%llu bytes asked): %u idle copies of its "
                      "objects let go", from, (unsigned long long)w.bytes, n);
}

/* A client's request of a fixed size into q; too short: answered
 * RAY_EPROTO, and -1. */
static int read_request(sched_service *svc, uint32_t from, const void *m, uint32_t len, void *q,
                        size_t size)
{
    if (len < size) {
        svc_reply(svc, from, 0, RAY_EPROTO, NULL, 0);
        return -1;
    }
    memcpy(q, m, size);
    return 0;
}

/* At most this often a node asks the others for room: each answer (their
 * W_REF) takes a round trip, and the asker retries meanwhile.  Asked are
 * the nodes that hold copies of our objects (their W_REF sums), not all. */
#define RECLAIM_EVERY_NS 5000000ULL

void svc_on_reclaim(sched_service *svc, uint32_t from, const void *m, uint32_t len)
{
    msg_reclaim q;
    if (read_request(svc, from, m, len, &q, sizeof(q)))
        return;
    svc_cluster *c = svc_cl(svc);
    pull_reclaim(svc, UINT32_MAX, 0);
    uint64_t now = ray_now_ns();
    if (c && now - c->reclaim_ns >= RECLAIM_EVERY_NS) {
        c->reclaim_ns = now;
        for (uint32_t i = 0; i < c->num_nodes; i++) {
            int asked = i != c->node && c->copies_at[i] > 0; /* only nodes with copies of ours */
            wire_reclaim *w = asked ? cluster_out(svc, i, W_RECLAIM, sizeof(*w)) : NULL;
            if (w)
                *w = (wire_reclaim){q.bytes};
        }
    }
    svc_reply(svc, from, q.req, 0, NULL, 0);
}

void svc_on_proxy(sched_service *svc, uint32_t from, const void *m, uint32_t len)
{
    msg_proxy q;
    if (read_request(svc, from, m, len, &q, sizeof(q)))
        return;
    sched_out out = {0, 0};
    int rc = svc->cluster ? pull_proxy(svc, (wire_ref){q.node, q.slot, q.gen, 0},
                                       !!(q.flags & MSG_COPY_PULL), &out.slot, &out.gen)
                          : ray_err(RAY_EINVAL, "this job has one node");
    svc_reply(svc, from, q.req, rc, &out, rc ? 0 : sizeof(out));
}
