/*
 * cluster.c - the node service in a job of several nodes: joining the
 * others (sched_service_join), the records to and from them (batched: one
 * message per node per pass of the loop, records to itself handled in
 * place), the load view (every node reports to rank 0, which tells every
 * node how busy the others are), spilling ready tasks to idle nodes,
 * placing what this node cannot run, and the end of the job: rank 0 says
 * stop, and a node that goes silent or whose connection breaks ends it.
 *
 * Rank 0 is off the per-task path: it hears a load report per node every
 * few milliseconds and sends a view back; tasks and objects go straight
 * between the nodes concerned.
 */
#define _GNU_SOURCE
#include "cluster.h"

#include <math.h>
#include <stdlib.h>

#define LOAD_EVERY_NS 5000000ULL   /* a load report at most this often */
#define HEARTBEAT_NS  200000000ULL /* and at least this often */
#define SPILL_HOLD_NS 1000000ULL   /* a backlog of tasks whose data is here: wait */
#define NET_HOT_NS    50000000ULL  /* a transfer silent this long is not spun for */

/* ---- records out */

void *cluster_out(sched_service *svc, uint32_t to, uint16_t type, uint32_t payload)
{
    svc_cluster *c = svc_cl(svc);
    if (!c || to >= c->num_nodes)
        return NULL;
    void *p = wire_put(&c->out[to], type, payload);
    if (p)
        c->dirty[to] = 1;
    return p;
}

static void dispatch(sched_service *svc, uint32_t from, const uint8_t *msg, size_t len)
{
    const uint8_t *p = msg, *end = msg + len, *payload;
    wire_rec h;
    int rc;
    while ((rc = wire_next(&p, end, &h, &payload)) == 1) {
        switch (h.type) {
        case W_TASK:
            remote_on_task(svc, from, payload, h.len);
            break;
        case W_RESULT:
            remote_on_result(svc, from, payload, h.len);
            break;
        case W_FREE:
            remote_on_free(svc, from, payload, h.len);
            break;
        case W_PULL:
            pull_on_pull(svc, from, payload, h.len);
            break;
        case W_PULLED:
            pull_on_pulled(svc, from, payload, h.len);
            break;
        case W_UNPIN:
            pull_on_unpin(svc, from, payload, h.len);
            break;
        case W_REF:
            pull_on_ref(svc, from, payload, h.len);
            break;
        case W_LOAD:
            cluster_on_load(svc, from, payload, h.len);
            break;
        case W_VIEW:
            cluster_on_view(svc, from, payload, h.len);
            break;
        case W_ACTOR_NEW:
            names_on_actor_new(svc, from, payload, h.len);
            break;
        case W_ACTOR_NEW_REPLY:
            names_on_actor_reply(svc, from, payload, h.len);
            break;
        case W_ACTOR_KILL:
            names_on_actor_kill(svc, from, payload, h.len);
            break;
        case W_NAME:
            names_on_name(svc, from, payload, h.len);
            break;
        case W_NAME_REPLY:
            names_on_reply(svc, from, payload, h.len);
            break;
        case W_STOP:
            cluster_on_stop(svc, from, payload, h.len);
            break;
        case W_RECLAIM:
            pull_on_reclaim(svc, from, payload, h.len);
            break;
        }
        if (svc_cl(svc)->failed)
            return;
    }
    if (rc < 0)
        cluster_fail(svc, from, "node %u sent a malformed message: %s", from, ray_last_error());
}

void sched_service_net_msg(void *arg, uint32_t from, const void *msg, size_t len)
{
    sched_service *svc = arg;
    svc_cluster *c = svc_cl(svc);
    if (!c || from >= c->num_nodes)
        return;
    c->heard_ns[from] = ray_now_ns();
    dispatch(svc, from, msg, len);
}

void sched_service_net_fail(void *arg, uint32_t node, const char *why)
{
    svc_cluster *c = svc_cl(arg);
    if (!c)
        return;
    const net_node_info *p = &c->net->nodes[node];
    if (c->stopping) { /* the job is ending: the others are leaving too */
        ray_debug("sched", "the connection to node %u closed while stopping: %s", node, why);
        return;
    }
    cluster_fail(arg, node, "the connection to node %u (%s, pid %d) failed: %s", node, p->host,
                 p->pid, why);
}

void cluster_flush(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    for (int round = 0; round < 8; round++) { /* records to ourselves can make more */
        int any = 0;
        for (uint32_t i = 0; i < c->num_nodes; i++) {
            if (!c->dirty[i])
                continue;
            wire_buf b = c->out[i];
            c->out[i] = (wire_buf){NULL, 0, 0};
            c->dirty[i] = 0;
            if (i == c->node)
                dispatch(svc, i, b.data, b.len);
            else if (net_send(c->net, i, b.data, b.len))
                cluster_fail(svc, i, "cannot send to node %u: %s", i, ray_last_error());
            if (!c->out[i].data) { /* keep the buffer for next time */
                b.len = 0;
                c->out[i] = b;
            } else {
                wire_buf_free(&b);
            }
            any = 1;
        }
        if (!any)
            break;
    }
}

void cluster_fail(sched_service *svc, uint32_t node, const char *fmt, ...)
{
    svc_cluster *c = svc_cl(svc);
    if (c->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
    va_end(ap);
    c->failed = 1;
    ray_error("sched", "%s; ending the job", c->fail_msg);
}

/* ---- the load view */

void cluster_on_load(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    svc_cluster *c = svc_cl(svc);
    wire_load l;
    if (c->node != 0 || wire_fixed(p, len, &l, sizeof(l), 0, NULL))
        return;
    if (memcmp(&c->view[from], &l, sizeof(l)))
        c->view_changed = 1;
    c->view[from] = l;
}

void cluster_on_view(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    svc_cluster *c = svc_cl(svc);
    wire_view v;
    const void *rest;
    if (from != 0 || wire_fixed(p, len, &v, sizeof(v), 0, &rest) || v.n != c->num_nodes ||
        (uint64_t)v.n * sizeof(wire_load) > len - sizeof(v))
        return;
    if (c->node != 0)
        memcpy(c->view, rest, (size_t)v.n * sizeof(wire_load));
}

static void report_load(sched_service *svc, uint64_t now)
{
    svc_cluster *c = svc_cl(svc);
    sched_region *r = svc->sh.r;
    wire_load l = {atomic_load(&r->cpu_avail), atomic_load(&r->ready.len),
                   atomic_load(&r->workers_alive), 0};
    int changed = memcmp(&l, &c->last_load, sizeof(l)) != 0;
    if (now < c->next_load_ns || (!changed && now - c->last_load_ns < HEARTBEAT_NS))
        return;
    wire_load *w = cluster_out(svc, 0, W_LOAD, sizeof(*w));
    if (w)
        *w = l;
    c->last_load = l;
    c->last_load_ns = now;
    c->next_load_ns = now + LOAD_EVERY_NS;
}

static void send_view(sched_service *svc, uint64_t now)
{
    svc_cluster *c = svc_cl(svc);
    if (now < c->next_view_ns || (!c->view_changed && now - c->next_view_ns < HEARTBEAT_NS))
        return;
    size_t size = sizeof(wire_view) + c->num_nodes * sizeof(wire_load);
    for (uint32_t i = 1; i < c->num_nodes; i++) {
        uint8_t *p = cluster_out(svc, i, W_VIEW, (uint32_t)size);
        if (!p)
            continue;
        wire_view v = {c->num_nodes, 0};
        memcpy(p, &v, sizeof(v));
        memcpy(p + sizeof(v), c->view, c->num_nodes * sizeof(wire_load));
    }
    c->view_changed = 0;
    c->next_view_ns = now + LOAD_EVERY_NS;
}

/* Rank 0 hears from every node at least every heartbeat, every node from
 * rank 0: silence past the timeout is a lost node. */
static void check_alive(sched_service *svc, uint64_t now)
{
    svc_cluster *c = svc_cl(svc);
    uint64_t limit = (uint64_t)(c->node_timeout_s * 1e9);
    for (uint32_t i = 0; limit && i < c->num_nodes && !c->stopping; i++) {
        if (i == c->node || (c->node != 0 && i != 0) || now - c->heard_ns[i] < limit)
            continue;
        cluster_fail(svc, i, "node %u (%s, pid %d) has not been heard of for %.0f s", i,
                     c->net->nodes[i].host, c->net->nodes[i].pid, c->node_timeout_s);
    }
}

/* ---- spilling and placing */

/* The peer with the most idle CPUs by the view, or -1. */
static int idle_peer(svc_cluster *c, int32_t *free_milli)
{
    int best = -1;
    int32_t most = 999;
    for (uint32_t k = 0; k < c->num_nodes; k++) {
        uint32_t i = (c->spill_next + k) % c->num_nodes;
        int32_t f = c->view[i].cpu_free_milli - (int32_t)c->view[i].ready * 1000;
        if (i != c->node && f > most) {
            most = f;
            best = (int)i;
        }
    }
    *free_milli = most;
    return best;
}

/* Ready tasks beyond what this node will start soon go, in batches, to
 * the nodes the view says are idle. */
/* Bytes of task k's arguments that are in this node's store now: a task
 * whose arguments are here mostly runs here (data locality). */
static uint64_t local_arg_bytes(sched_service *svc, const sched_task *k)
{
    sched *sh = &svc->sh;
    const sched_out *outs;
    sched_args a;
    uint64_t bytes = 0;
    if (!k->nargs || sched_args_decode(sh, k, &outs, &a))
        return 0;
    for (uint32_t i = 0; i < k->nargs; i++) {
        wire_ref r;
        ray_id id = a.v[i].ref;
        if (a.v[i].kind != SCHED_ARG_REF || !id.slot || id.slot >= sh->st.max_objects ||
            pull_remote_of(svc, id.slot, &r))
            continue;
        store_obj *o = &sh->st.objs[id.slot];
        if (o->gen == id.gen && STORE_STATE(atomic_load(&o->state)) == STORE_SEALED)
            bytes += o->size;
    }
    sched_args_free(&a);
    return bytes;
}

static void spill(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    sched *sh = &svc->sh;
    uint32_t backlog = atomic_load(&sh->r->ready.len);
    if (backlog <= c->spill_at || c->stopping)
        return;
    uint64_t now = ray_now_ns();
    if (now < c->spill_hold_ns)
        return;
    int32_t free_milli;
    int peer = idle_peer(c, &free_milli);
    if (peer < 0)
        return;
    uint32_t want = RAY_MIN(backlog - c->spill_at, (uint32_t)(free_milli / 1000) * 4);
    want = RAY_MIN(RAY_MAX(want, 1u), (uint32_t)SCHED_BATCH_MAX);
    sched_out batch[SCHED_BATCH_MAX], keep[SCHED_BATCH_MAX];
    uint32_t count, n = sched_queue_pop(sh, &sh->r->ready, batch, &count, want), sent = 0, kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        sched_task *k = &sh->tasks[batch[i].slot];
        uint32_t s = TASK_TAGGED(TASK_QUEUED, batch[i].gen);
        if (k->gen == batch[i].gen &&
            (k->node != SCHED_NODE_ANY || local_arg_bytes(svc, k) > c->inline_max)) {
            keep[kept++] = batch[i]; /* pinned here, or its data is: it waits for a CPU here */
            continue;
        }
        if (k->gen != batch[i].gen || !atomic_compare_exchange_strong(
                                          &k->state, &s, TASK_TAGGED(TASK_WAITING, batch[i].gen))) {
            sched_task_unlinked(sh, batch[i].slot); /* run in place or cancelled meanwhile */
            continue;
        }
        remote_forward(svc, batch[i].slot, (uint32_t)peer);
        sent++;
    }
    if (kept) /* back where they were, in order; not looked at again for a while */
        sched_queue_push_front(sh, &sh->r->ready, keep, kept);
    if (kept && !sent)
        c->spill_hold_ns = now + SPILL_HOLD_NS;
    c->view[peer].ready += sent; /* until the next view: others get the next batches */
    c->spill_next = (uint32_t)peer + 1;
}

/* Whether node i can ever run (cpu, gpu, res). */
static int feasible(svc_cluster *c, uint32_t i, uint32_t cpu, uint32_t gpu, const char *res,
                    int res_len)
{
    const net_node_info *n = &c->net->nodes[i];
    if (cpu / 1000.0 > n->cpus + 1e-9 || gpu / 1000.0 > n->gpus + 1e-9)
        return 0;
    ray_resource want[RAY_RES_MAX], have[RAY_RES_MAX];
    int nw = res_len > 0 ? ray_resources_parse(res, (size_t)res_len, want) : 0;
    int nh = ray_resources_parse(n->resources, strlen(n->resources), have);
    for (int w = 0; w < nw; w++) {
        int ok = 0;
        for (int h = 0; h < nh && !ok; h++)
            ok = !strcmp(want[w].name, have[h].name) && have[h].amount + 1e-9 >= want[w].amount;
        if (!ok)
            return 0;
    }
    return nw >= 0;
}

int cluster_place(sched_service *svc, uint32_t cpu, uint32_t gpu, const char *res, int res_len)
{
    svc_cluster *c = svc_cl(svc);
    int best = -1;
    int32_t most = INT32_MIN;
    for (uint32_t i = 0; c && i < c->num_nodes; i++) {
        if (!feasible(c, i, cpu, gpu, res, res_len))
            continue;
        int32_t f = c->view[i].cpu_free_milli - (int32_t)c->view[i].ready * 1000;
        if (i == c->node)
            f += 500; /* at equal load, here */
        if (f > most) {
            most = f;
            best = (int)i;
        }
    }
    return best;
}

void svc_cancel_remote(sched_service *svc, uint32_t t)
{
    if (svc->cluster)
        svc->cluster->remote_at[t] = 0;
}

sched_out *cluster_kill_record(sched_service *svc, uint32_t node)
{
    return cluster_out(svc, node, W_ACTOR_KILL, sizeof(sched_out));
}

/* ---- the end */

/* From rank 0: the job ends.  At rank 0, from another node: that node is
 * stopping (a signal, scancel of its step), so the job ends. */
void cluster_on_stop(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len)
{
    svc_cluster *c = svc_cl(svc);
    (void)p, (void)len;
    if (from == 0) {
        c->stopping = 1;
    } else if (c->node == 0 && !c->stopping && !c->stop_asked) {
        ray_info("sched", "node %u (%s) is stopping: ending the job", from,
                 c->net->nodes[from].host);
        c->stop_asked = 1;
    }
}

void sched_service_cluster_stop(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    if (!c || c->stopping)
        return;
    c->stopping = 1;
    for (uint32_t i = 0; i < c->num_nodes; i++) { /* rank 0 tells all; the others, rank 0 */
        if (i == c->node || (c->node != 0 && i != 0))
            continue;
        wire_stop *w = cluster_out(svc, i, W_STOP, sizeof(*w));
        if (w)
            *w = (wire_stop){0, 0};
    }
    cluster_flush(svc);
}

int sched_service_cluster_state(sched_service *svc, const char **why)
{
    svc_cluster *c = svc_cl(svc);
    if (!c)
        return 0;
    *why = c->fail_msg;
    return c->failed ? -1 : c->stopping || c->stop_asked;
}

int sched_service_net_hot(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    return c && (c->pulling || c->serving) && ray_now_ns() - c->net_work_ns < NET_HOT_NS;
}

int sched_service_net_fd(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    return c ? c->net->ops->fd(c->net) : -1;
}

int sched_service_net_arm(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    return c ? c->net->ops->arm(c->net) : 0;
}

int sched_service_net_poll(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    if (!c)
        return 0;
    int work = net_progress(c->net);
    uint64_t now = ray_now_ns();
    if (work)
        c->net_work_ns = now;
    report_load(svc, now);
    if (c->node == 0)
        send_view(svc, now);
    check_alive(svc, now);
    spill(svc);
    cluster_flush(svc);
    sched_region *r = svc->sh.r;
    atomic_store(&r->net_msgs_in, c->net->count.msgs_in);
    atomic_store(&r->net_msgs_out, c->net->count.msgs_out);
    atomic_store(&r->net_bytes_in, c->net->count.bytes_in + c->net->count.get_bytes);
    return work;
}

int sched_service_join(sched_service *svc, net *n)
{
    svc_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return ray_err(RAY_ENOMEM, "out of memory");
    c->net = n;
    c->node = n->node;
    c->num_nodes = n->num_nodes;
    c->out = calloc(n->num_nodes, sizeof(*c->out));
    c->dirty = calloc(n->num_nodes, 1);
    c->view = calloc(n->num_nodes, sizeof(*c->view));
    c->heard_ns = calloc(n->num_nodes, sizeof(uint64_t));
    c->copies_at = calloc(n->num_nodes, sizeof(int64_t));
    c->remote_at = ray_reserve((size_t)svc->l.max_tasks * sizeof(uint32_t));
    svc->cluster = c;
    if (!c->out || !c->dirty || !c->view || !c->heard_ns || !c->copies_at || !c->remote_at) {
        sched_service_leave(svc); /* what was made */
        return ray_err(RAY_ENOMEM, "out of memory for the cluster tables");
    }
    ray_vec_init(&c->execs, sizeof(exec_rec));
    ray_vec_init(&c->proxies, sizeof(proxy));
    ray_vec_init(&c->pulls, sizeof(pull_job));
    ray_vec_init(&c->rwaits, sizeof(remote_wait));
    ray_vec_init(&c->areqs, sizeof(actor_req));
    ray_map64_init(&c->proxy_by_remote);
    ray_map64_init(&c->proxy_by_slot);
    c->inline_max = RAY_MAX(svc->cfg.inline_bytes, (uint64_t)STORE_INLINE_MAX);
    c->chunk = RAY_MAX(svc->cfg.pull_chunk, (uint64_t)65536);
    c->depth = (uint32_t)RAY_MAX(svc->cfg.pull_depth, 1);
    c->node_timeout_s = svc->cfg.node_timeout_s;
    c->spill_at = (uint32_t)ceil(svc->cpus) * 2 + 2;
    uint64_t now = ray_now_ns();
    double max_cpus = 0, max_gpus = 0;
    for (uint32_t i = 0; i < n->num_nodes; i++) {
        c->heard_ns[i] = now;
        c->view[i].cpu_free_milli = (int32_t)(n->nodes[i].cpus * 1000);
        max_cpus = RAY_MAX(max_cpus, n->nodes[i].cpus);
        max_gpus = RAY_MAX(max_gpus, n->nodes[i].gpus);
    }
    sched_region *r = svc->sh.r;
    r->num_nodes = n->num_nodes;
    r->max_node_cpus = max_cpus;
    r->max_node_gpus = max_gpus;
    svc->num_nodes = n->num_nodes;
    return 0;
}

void sched_service_leave(sched_service *svc)
{
    svc_cluster *c = svc_cl(svc);
    if (!c)
        return;
    for (uint32_t i = 0; c->out && i < c->num_nodes; i++)
        wire_buf_free(&c->out[i]);
    free(c->out);
    free(c->dirty);
    free(c->view);
    free(c->heard_ns);
    free(c->copies_at);
    if (c->remote_at)
        ray_unreserve(c->remote_at, (size_t)svc->l.max_tasks * sizeof(uint32_t));
    ray_vec_free(&c->execs);
    ray_vec_free(&c->proxies);
    ray_vec_free(&c->pulls);
    ray_vec_free(&c->rwaits);
    ray_vec_free(&c->areqs);
    ray_map64_free(&c->proxy_by_remote);
    ray_map64_free(&c->proxy_by_slot);
    free(c);
    svc->cluster = NULL;
}
