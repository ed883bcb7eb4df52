/*
 * net_ucx.c - the ucx backend (default when built with UCX): one UCP
 * worker per node service, an endpoint to every other node, active
 * messages for control and ucp_get_nbx from a peer's arena for objects.
 * The arena is registered once (ucp_mem_map) and its key exchanged at
 * bootstrap, so a get reads a peer's store directly: on InfiniBand/RoCE
 * an RDMA read by the NIC (rc/dc verbs), here over shared memory or TCP.
 *
 * Messages carry their sender and a sequence number: an active message
 * sent by rendezvous can complete after a later eager one, so messages
 * are delivered in order per sender from net_progress.  The worker's
 * event descriptor goes into the node service's epoll (ucp_worker_arm).
 */
#include "net.h"

#include <stdlib.h>
#include <ucp/api/ucp.h>

#define AM_ID 7

typedef struct wire_hdr {
    uint32_t from, pad;
    uint64_t seq;
} wire_hdr;

typedef struct inmsg {
    uint32_t from;
    uint64_t seq;
    uint8_t *buf; /* wire_hdr + payload */
    size_t len;
    int ready; /* rendezvous data arrived */
} inmsg;

typedef struct done_get {
    net_get_cb cb;
    void *arg;
    int status;
} done_get;

typedef struct ucx_impl {
    net *n;
    ucp_context_h ctx;
    ucp_worker_h worker;
    ucp_mem_h memh;
    ucp_ep_h *eps;
    ucp_rkey_h *rkeys;
    uint64_t *bases; /* each node's arena address */
    uint64_t *send_seq, *recv_seq;
    ray_vec inbox; /* inmsg* in arrival order */
    ray_vec done;  /* done_get: gets to report */
    int efd;
    int busy; /* operations under way */
} ucx_impl;

typedef struct get_req {
    ucx_impl *u;
    net_get_cb cb;
    void *arg;
} get_req;

static int ucs_err(ucs_status_t st, const char *what)
{
    return ray_err(RAY_ESYS, "UCX %s: %s", what, ucs_status_string(st));
}

static void send_done(void *request, ucs_status_t status, void *user_data)
{
    free(user_data);
    ucp_request_free(request);
}

static int ucx_send(net *n, uint32_t to, const void *msg, size_t len)
{
    ucx_impl *u = n->impl;
    if (to >= n->num_nodes || to == n->node || !u->eps[to])
        return ray_err(RAY_EINVAL, "message to node %u", to);
    uint8_t *buf = malloc(sizeof(wire_hdr) + len);
    if (!buf)
        return ray_err(RAY_ENOMEM, "out of memory for a message");
    wire_hdr h = {n->node, 0, u->send_seq[to]++};
    memcpy(buf, &h, sizeof(h));
    if (len)
        memcpy(buf + sizeof(h), msg, len);
    ucp_request_param_t p = {.op_attr_mask =
                                 UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                             .cb.send = send_done,
                             .user_data = buf};
    void *r = ucp_am_send_nbx(u->eps[to], AM_ID, NULL, 0, buf, sizeof(h) + len, &p);
    if (UCS_PTR_IS_ERR(r)) {
        free(buf);
        return ucs_err(UCS_PTR_STATUS(r), "am send");
    }
    if (!r)
        free(buf);
    n->count.msgs_out++;
    n->count.bytes_out += len;
    return 0;
}

static void rndv_done(void *request, ucs_status_t status, size_t length, void *user_data)
{
    inmsg *m = user_data;
    m->ready = status == UCS_OK ? 1 : -1;
    ucp_request_free(request);
}

/* An active message: copied (eager) or fetched (rendezvous) into the inbox;
 * delivered after ucp_worker_progress returns. */
static ucs_status_t am_recv(void *arg, const void *header, size_t hlen, void *data, size_t len,
                            const ucp_am_recv_param_t *param)
{
    ucx_impl *u = arg;
    inmsg *m = calloc(1, sizeof(*m));
    inmsg **slot = m ? ray_vec_push(&u->inbox) : NULL;
    if (!slot || !(m->buf = malloc(len ? len : 1))) {
        ray_error("net", "out of memory for a message of %zu bytes", len);
        net_boot_abort(1);
    }
    *slot = m;
    m->len = len;
    if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
        ucp_request_param_t p = {.op_attr_mask =
                                     UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                                 .cb.recv_am = rndv_done,
                                 .user_data = m};
        void *r = ucp_am_recv_data_nbx(u->worker, data, m->buf, len, &p);
        if (UCS_PTR_IS_ERR(r))
            m->ready = -1;
        else if (!r)
            m->ready = 1;
        return UCS_OK;
    }
    memcpy(m->buf, data, len);
    m->ready = 1;
    return UCS_OK;
}

static void get_done(void *request, ucs_status_t status, void *user_data)
{
    get_req *g = user_data;
    done_get *d = ray_vec_push(&g->u->done);
    if (d)
        *d = (done_get){g->cb, g->arg, status == UCS_OK ? 0 : RAY_ESYS};
    g->u->busy--;
    free(g);
    ucp_request_free(request);
}

static int ucx_get(net *n, uint32_t from, uint64_t roff, uint64_t len, uint64_t loff, net_get_cb cb,
                   void *arg)
{
    ucx_impl *u = n->impl;
    if (from >= n->num_nodes || from == n->node || !u->rkeys[from] ||
        roff > n->nodes[from].arena_size || len > n->nodes[from].arena_size - roff ||
        loff > n->arena_size || len > n->arena_size - loff)
        return ray_err(RAY_EINVAL, "get of %llu bytes from node %u", (unsigned long long)len, from);
    get_req *g = malloc(sizeof(*g));
    if (!g)
        return ray_err(RAY_ENOMEM, "out of memory for a get");
    *g = (get_req){u, cb, arg};
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                                             UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMH,
                             .cb.send = get_done,
                             .user_data = g,
                             .memh = u->memh};
    void *r =
        ucp_get_nbx(u->eps[from], n->arena + loff, len, u->bases[from] + roff, u->rkeys[from], &p);
    n->count.gets++;
    n->count.get_bytes += len;
    if (UCS_PTR_IS_PTR(r)) {
        u->busy++;
        return 0;
    }
    free(g);
    if (UCS_PTR_IS_ERR(r))
        return ucs_err(UCS_PTR_STATUS(r), "get");
    done_get *d = ray_vec_push(&u->done); /* done at once: reported from progress */
    if (d)
        *d = (done_get){cb, arg, 0};
    return 0;
}

/* Delivers the inbox in order per sender: a message waits for those its
 * sender sent before it. */
static int deliver(net *n)
{
    ucx_impl *u = n->impl;
    int work = 0, moved = 1;
    while (moved) {
        moved = 0;
        for (size_t i = 0; i < u->inbox.len; i++) {
            inmsg *m = RAY_VEC_AT(&u->inbox, inmsg *, i);
            wire_hdr h;
            if (!m->ready || m->len < sizeof(h))
                continue;
            memcpy(&h, m->buf, sizeof(h));
            if (m->ready < 0 || h.from >= n->num_nodes || h.seq != u->recv_seq[h.from]) {
                if (m->ready < 0 || h.from >= n->num_nodes || h.seq < u->recv_seq[h.from])
                    ray_error("net", "dropped a bad message (from %u, seq %llu)", h.from,
                              (unsigned long long)h.seq);
                else
                    continue; /* early: later */
            } else {
                u->recv_seq[h.from]++;
                n->count.msgs_in++;
                n->count.bytes_in += m->len - sizeof(h);
                n->on_msg(n->arg, h.from, m->buf + sizeof(h), m->len - sizeof(h));
                work++;
            }
            free(m->buf);
            free(m);
            memmove(&RAY_VEC_AT(&u->inbox, inmsg *, i), &RAY_VEC_AT(&u->inbox, inmsg *, i + 1),
                    (u->inbox.len - i - 1) * sizeof(inmsg *));
            u->inbox.len--;
            moved = 1;
            break;
        }
    }
    return work;
}

static int ucx_progress(net *n)
{
    ucx_impl *u = n->impl;
    int work = 0;
    while (ucp_worker_progress(u->worker))
        work++;
    while (u->done.len) { /* callbacks may start more gets: take the list */
        ray_vec d = u->done;
        ray_vec_init(&u->done, sizeof(done_get));
        for (size_t i = 0; i < d.len; i++) {
            done_get g = RAY_VEC_AT(&d, done_get, i);
            g.cb(g.arg, g.status);
        }
        work += (int)d.len;
        ray_vec_free(&d);
    }
    return work + deliver(n);
}

static void ep_failed(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    ucx_impl *u = arg;
    for (uint32_t i = 0; i < u->n->num_nodes; i++)
        if (u->eps[i] == ep && u->n->on_fail)
            u->n->on_fail(u->n->arg, i, ucs_status_string(status));
}

static int open_worker(ucx_impl *u)
{
    /* Our defaults where the user set nothing (UCX reads its transports'
     * settings from the environment): objects are large, and TCP's 8 KiB
     * segments move them at a third of the speed 1 MiB ones do. */
    setenv("UCX_TCP_TX_SEG_SIZE", "1m", 0);
    setenv("UCX_TCP_RX_SEG_SIZE", "1m", 0);
    ucp_config_t *cfg;
    ucs_status_t st = ucp_config_read(NULL, NULL, &cfg);
    if (st != UCS_OK)
        return ucs_err(st, "config");
    ucp_params_t p = {.field_mask = UCP_PARAM_FIELD_FEATURES,
                      .features = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP};
    st = ucp_init(&p, cfg, &u->ctx);
    ucp_config_release(cfg);
    if (st != UCS_OK)
        return ucs_err(st, "init");
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE |
                                            UCP_WORKER_PARAM_FIELD_EVENTS,
                              .thread_mode = UCS_THREAD_MODE_SINGLE,
                              .events = UCP_WAKEUP_RMA | UCP_WAKEUP_TX | UCP_WAKEUP_RX};
    if ((st = ucp_worker_create(u->ctx, &wp, &u->worker)) != UCS_OK)
        return ucs_err(st, "worker");
    if ((st = ucp_worker_get_efd(u->worker, &u->efd)) != UCS_OK)
        return ucs_err(st, "event descriptor");
    ucp_am_handler_param_t ap = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                      UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS,
        .id = AM_ID,
        .cb = am_recv,
        .arg = u,
        .flags = UCP_AM_FLAG_WHOLE_MSG};
    if ((st = ucp_worker_set_am_recv_handler(u->worker, &ap)) != UCS_OK)
        return ucs_err(st, "am handler");
    return 0;
}

/* The blob: the arena's address, the worker's address, the arena's key. */
static int ucx_open(net *n, net_blob *mine)
{
    ucx_impl *u = calloc(1, sizeof(*u));
    if (!u)
        return ray_err(RAY_ENOMEM, "out of memory");
    n->impl = u;
    u->n = n;
    u->efd = -1;
    ray_vec_init(&u->inbox, sizeof(inmsg *));
    ray_vec_init(&u->done, sizeof(done_get));
    u->eps = calloc(n->num_nodes, sizeof(*u->eps));
    u->rkeys = calloc(n->num_nodes, sizeof(*u->rkeys));
    u->bases = calloc(n->num_nodes, sizeof(*u->bases));
    u->send_seq = calloc(n->num_nodes, sizeof(uint64_t));
    u->recv_seq = calloc(n->num_nodes, sizeof(uint64_t));
    if (!u->eps || !u->rkeys || !u->bases || !u->send_seq || !u->recv_seq)
        return ray_err(RAY_ENOMEM, "out of memory");
    int rc = open_worker(u);
    if (rc)
        return rc;
    ucp_mem_map_params_t mp = {.field_mask =
                                   UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
                               .address = n->arena,
                               .length = n->arena_size};
    ucs_status_t st = ucp_mem_map(u->ctx, &mp, &u->memh);
    if (st != UCS_OK)
        return ucs_err(st, "registration of the object store");
    void *rkey, *addr;
    size_t rkey_len, addr_len;
    if ((st = ucp_rkey_pack(u->ctx, u->memh, &rkey, &rkey_len)) != UCS_OK)
        return ucs_err(st, "rkey pack");
    if ((st = ucp_worker_get_address(u->worker, (ucp_address_t **)&addr, &addr_len)) != UCS_OK) {
        ucp_rkey_buffer_release(rkey);
        return ucs_err(st, "worker address");
    }
    uint64_t hdr[3] = {(uint64_t)(uintptr_t)n->arena, addr_len, rkey_len};
    mine->len = sizeof(hdr) + addr_len + rkey_len;
    mine->data = malloc(mine->len);
    if (mine->data) {
        memcpy(mine->data, hdr, sizeof(hdr));
        memcpy((char *)mine->data + sizeof(hdr), addr, addr_len);
        memcpy((char *)mine->data + sizeof(hdr) + addr_len, rkey, rkey_len);
    }
    ucp_worker_release_address(u->worker, addr);
    ucp_rkey_buffer_release(rkey);
    return mine->data ? 0 : ray_err(RAY_ENOMEM, "out of memory");
}

static int connect_peer(net *n, uint32_t i, const net_blob *b)
{
    ucx_impl *u = n->impl;
    uint64_t hdr[3];
    if (b->len < sizeof(hdr))
        return ray_err(RAY_EPROTO, "node %u sent a UCX address of %zu bytes", i, b->len);
    memcpy(hdr, b->data, sizeof(hdr));
    if (hdr[1] > b->len - sizeof(hdr) || hdr[2] != b->len - sizeof(hdr) - hdr[1])
        return ray_err(RAY_EPROTO, "node %u sent a malformed UCX address", i);
    u->bases[i] = hdr[0];
    const char *addr = (const char *)b->data + sizeof(hdr);
    /* No peer-failure mode: shared-memory transports do not offer it, and
     * a lost node is noticed by the heartbeats (cluster.c) and by the
     * launcher anyway. */
    ucp_ep_params_t ep = {.field_mask =
                              UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLER,
                          .address = (const ucp_address_t *)addr,
                          .err_handler = {ep_failed, u}};
    ucs_status_t st = ucp_ep_create(u->worker, &ep, &u->eps[i]);
    if (st != UCS_OK)
        return ucs_err(st, "endpoint");
    if ((st = ucp_ep_rkey_unpack(u->eps[i], addr + hdr[1], &u->rkeys[i])) != UCS_OK)
        return ucs_err(st, "rkey unpack");
    return 0;
}

static int ucx_connect(net *n, const net_blob *all)
{
    for (uint32_t i = 0; i < n->num_nodes; i++) {
        int rc = i == n->node ? 0 : connect_peer(n, i, &all[i]);
        if (rc)
            return ray_err(rc, "to node %u (%s): %s", i, n->nodes[i].host, ray_last_error());
    }
    return 0;
}

static int ucx_fd(net *n)
{
    return ((ucx_impl *)n->impl)->efd;
}

static int ucx_arm(net *n)
{
    ucx_impl *u = n->impl;
    if (u->done.len || u->inbox.len)
        return 1;
    return ucp_worker_arm(u->worker) == UCS_ERR_BUSY;
}

/* Endpoints close with a flush (what we sent still arrives) for up to two
 * seconds, then by force. */
static void close_eps(ucx_impl *u)
{
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = 0};
    void **reqs = calloc(u->n->num_nodes, sizeof(void *));
    for (uint32_t i = 0; reqs && i < u->n->num_nodes; i++)
        if (u->eps[i])
            reqs[i] = ucp_ep_close_nbx(u->eps[i], &p);
    uint64_t end = ray_now_ns() + 2000000000ULL;
    for (uint32_t i = 0; reqs && i < u->n->num_nodes; i++) {
        while (UCS_PTR_IS_PTR(reqs[i]) && ucp_request_check_status(reqs[i]) == UCS_INPROGRESS &&
               ray_now_ns() < end)
            ucp_worker_progress(u->worker);
        if (UCS_PTR_IS_PTR(reqs[i]))
            ucp_request_free(reqs[i]);
    }
    free(reqs);
}

static void ucx_fini(net *n)
{
    ucx_impl *u = n->impl;
    if (!u)
        return;
    for (uint32_t i = 0; u->rkeys && i < n->num_nodes; i++)
        if (u->rkeys[i])
            ucp_rkey_destroy(u->rkeys[i]);
    if (u->eps && u->worker)
        close_eps(u);
    for (size_t i = 0; i < u->inbox.len; i++) {
        free(RAY_VEC_AT(&u->inbox, inmsg *, i)->buf);
        free(RAY_VEC_AT(&u->inbox, inmsg *, i));
    }
    if (u->memh)
        ucp_mem_unmap(u->ctx, u->memh);
    if (u->worker)
        ucp_worker_destroy(u->worker);
    if (u->ctx)
        ucp_cleanup(u->ctx);
    ray_vec_free(&u->inbox);
    ray_vec_free(&u->done);
    free(u->eps);
    free(u->rkeys);
    free(u->bases);
    free(u->send_seq);
    free(u->recv_seq);
    free(u);
    n->impl = NULL;
}

const net_ops net_ucx_ops = {"ucx",        ucx_open, ucx_connect, ucx_send, ucx_get,
                             ucx_progress, ucx_fd,   ucx_arm,     ucx_fini};
