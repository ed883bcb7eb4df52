/*
 * net_mpi.c - the mpi backend: two-sided MPI for clusters without UCX.
 * Messages are MPI_Isend'd on one tag and received with MPI_Improbe and
 * MPI_Mrecv (any size); a get is a request to the peer, which answers by
 * MPI_Isend'ing the bytes from its arena straight into the MPI_Irecv the
 * requester posted at the destination in its arena, with a tag of that
 * get's own.  MPI keeps messages between two ranks in order.  MPI has no
 * descriptor to sleep on: the node service polls this backend.
 */
#include "net.h"

#include <mpi.h>
#include <stdlib.h>

#define TAG_CTRL   1
#define TAG_DATA0  100
#define TAG_DATA_N 30000
#define MAX_GET    (1u << 30) /* bytes per get (an MPI count is an int) */

enum { KIND_MSG = 1, KIND_GET = 2, KIND_GET_FAIL = 3 };

typedef struct frame {
    uint32_t kind, tag;
    uint64_t off, len; /* KIND_GET */
} frame;

typedef struct op {
    MPI_Request req;
    void *buf;     /* a send's copy, freed when it completes */
    net_get_cb cb; /* a get's */
    void *arg;
    uint32_t peer, tag;
} op;

typedef struct mpi_impl {
    ray_vec ops; /* op: sends, data sends and gets under way */
    uint32_t next_tag;
} mpi_impl;

static int post_send(net *n, uint32_t to, const frame *f, const void *msg, size_t len)
{
    mpi_impl *m = n->impl;
    if (to >= n->num_nodes || len > INT_MAX - sizeof(*f))
        return ray_err(RAY_EINVAL, "message of %zu bytes to node %u", len, to);
    uint8_t *buf = malloc(sizeof(*f) + len);
    op *o = buf ? ray_vec_push(&m->ops) : NULL;
    if (!o) {
        free(buf);
        return ray_err(RAY_ENOMEM, "out of memory for a message");
    }
    memcpy(buf, f, sizeof(*f));
    if (len)
        memcpy(buf + sizeof(*f), msg, len);
    *o = (op){MPI_REQUEST_NULL, buf, NULL, NULL, to, 0};
    if (MPI_Isend(buf, (int)(sizeof(*f) + len), MPI_BYTE, (int)to, TAG_CTRL, MPI_COMM_WORLD,
                  &o->req) != MPI_SUCCESS) {
        m->ops.len--;
        free(buf);
        return ray_err(RAY_ESYS, "MPI_Isend to node %u failed", to);
    }
    return 0;
}

static int mpi_send(net *n, uint32_t to, const void *msg, size_t len)
{
    frame f = {KIND_MSG, 0, 0, 0};
    int rc = post_send(n, to, &f, msg, len);
    if (!rc) {
        n->count.msgs_out++;
        n->count.bytes_out += len;
    }
    return rc;
}

static int mpi_get(net *n, uint32_t from, uint64_t roff, uint64_t len, uint64_t loff, net_get_cb cb,
                   void *arg)
{
    mpi_impl *m = n->impl;
    if (from >= n->num_nodes || len > MAX_GET || loff > n->arena_size || len > n->arena_size - loff)
        return ray_err(RAY_EINVAL, "get of %llu bytes from node %u into offset %llu",
                       (unsigned long long)len, from, (unsigned long long)loff);
    uint32_t tag = TAG_DATA0 + (m->next_tag++ % TAG_DATA_N);
    op *o = ray_vec_push(&m->ops);
    if (!o)
        return ray_err(RAY_ENOMEM, "out of memory for a get");
    *o = (op){MPI_REQUEST_NULL, NULL, cb, arg, from, tag};
    if (MPI_Irecv(n->arena + loff, (int)len, MPI_BYTE, (int)from, (int)tag, MPI_COMM_WORLD,
                  &o->req) != MPI_SUCCESS) {
        m->ops.len--;
        return ray_err(RAY_ESYS, "MPI_Irecv from node %u failed", from);
    }
    frame f = {KIND_GET, tag, roff, len};
    n->count.gets++;
    n->count.get_bytes += len;
    return post_send(n, from, &f, NULL, 0);
}

/* A peer asks for bytes of our arena: they go straight from it. */
static void serve_get(net *n, uint32_t from, const frame *f)
{
    mpi_impl *m = n->impl;
    if (f->len > MAX_GET || f->off > n->arena_size || f->len > n->arena_size - f->off) {
        ray_error("net", "node %u asked for %llu bytes at %llu of a %llu-byte arena", from,
                  (unsigned long long)f->len, (unsigned long long)f->off,
                  (unsigned long long)n->arena_size);
        frame fail = {KIND_GET_FAIL, f->tag, 0, 0};
        post_send(n, from, &fail, NULL, 0);
        return;
    }
    op *o = ray_vec_push(&m->ops);
    if (!o)
        return;
    *o = (op){MPI_REQUEST_NULL, NULL, NULL, NULL, from, 0};
    if (MPI_Isend(n->arena + f->off, (int)f->len, MPI_BYTE, (int)from, (int)f->tag, MPI_COMM_WORLD,
                  &o->req) != MPI_SUCCESS)
        m->ops.len--;
}

/* A get we asked for cannot be served: it fails. */
static void get_failed(net *n, uint32_t from, uint32_t tag)
{
    mpi_impl *m = n->impl;
    for (size_t i = 0; i < m->ops.len; i++) {
        op *o = &RAY_VEC_AT(&m->ops, op, i);
        if (o->cb && o->peer == from && o->tag == tag) {
            MPI_Cancel(&o->req);
            MPI_Request_free(&o->req);
            o->req = MPI_REQUEST_NULL;
            o->cb(o->arg, RAY_EPROTO);
            o->cb = NULL;
        }
    }
}

static int receive_one(net *n)
{
    int flag = 0, count = 0;
    MPI_Message msg;
    MPI_Status st;
    if (MPI_Improbe(MPI_ANY_SOURCE, TAG_CTRL, MPI_COMM_WORLD, &flag, &msg, &st) != MPI_SUCCESS ||
        !flag)
        return 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    uint8_t *buf = malloc(count > 0 ? (size_t)count : 1);
    if (!buf) {
        ray_error("net", "out of memory for a message of %d bytes", count);
        net_boot_abort(1);
    }
    MPI_Mrecv(buf, count, MPI_BYTE, &msg, &st);
    uint32_t from = (uint32_t)st.MPI_SOURCE;
    frame f;
    if ((size_t)count < sizeof(f)) {
        ray_error("net", "node %u sent a frame of %d bytes", from, count);
    } else {
        memcpy(&f, buf, sizeof(f));
        if (f.kind == KIND_MSG) {
            n->count.msgs_in++;
            n->count.bytes_in += (uint64_t)count - sizeof(f);
            n->on_msg(n->arg, from, buf + sizeof(f), (size_t)count - sizeof(f));
        } else if (f.kind == KIND_GET) {
            serve_get(n, from, &f);
        } else if (f.kind == KIND_GET_FAIL) {
            get_failed(n, from, f.tag);
        }
    }
    free(buf);
    return 1;
}

/* Completes what finished; the order of ops does not matter. */
static int complete_ops(net *n)
{
    mpi_impl *m = n->impl;
    int done = 0;
    for (size_t i = 0; i < m->ops.len;) {
        op *o = &RAY_VEC_AT(&m->ops, op, i);
        int flag = 1;
        if (o->req != MPI_REQUEST_NULL)
            MPI_Test(&o->req, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            i++;
            continue;
        }
        op fin = *o;
        *o = RAY_VEC_AT(&m->ops, op, m->ops.len - 1);
        m->ops.len--;
        free(fin.buf);
        if (fin.cb)
            fin.cb(fin.arg, 0);
        done++;
    }
    return done;
}

static int mpi_progress(net *n)
{
    int work = 0;
    while (receive_one(n))
        work++;
    return work + complete_ops(n);
}

static int mpi_open(net *n, net_blob *mine)
{
    mpi_impl *m = calloc(1, sizeof(*m));
    if (!m)
        return ray_err(RAY_ENOMEM, "out of memory");
    ray_vec_init(&m->ops, sizeof(op));
    n->impl = m;
    mine->data = NULL;
    mine->len = 0;
    return 0;
}

static int mpi_connect(net *n, const net_blob *all)
{
    return 0;
}
static int mpi_fd(net *n)
{
    return -1;
}
static int mpi_arm(net *n)
{
    return ((mpi_impl *)n->impl)->ops.len > 0;
}

static void mpi_fini(net *n)
{
    mpi_impl *m = n->impl;
    if (!m)
        return;
    /* Sends under way get two seconds to finish (a peer may still need
     * them); gets are dropped. */
    uint64_t end = ray_now_ns() + 2000000000ULL;
    for (size_t i = 0; i < m->ops.len; i++) {
        op *o = &RAY_VEC_AT(&m->ops, op, i);
        int flag = o->req == MPI_REQUEST_NULL;
        while (!flag && !o->cb && ray_now_ns() < end)
            MPI_Test(&o->req, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            MPI_Cancel(&o->req);
            MPI_Request_free(&o->req);
        }
        free(o->buf);
    }
    ray_vec_free(&m->ops);
    free(m);
    n->impl = NULL;
}

const net_ops net_mpi_ops = {"mpi",        mpi_open, mpi_connect, mpi_send, mpi_get,
                             mpi_progress, mpi_fd,   mpi_arm,     mpi_fini};
