/*
 * net.h - the whole interface of src/net: messages between the node
 * services of a job and one-sided reads of a peer's object-store arena,
 * behind one small table of operations per backend (net_ucx.c, net_mpi.c),
 * and the MPI bootstrap that starts them (boot.c).
 *
 * Only the ray-mpi program links src/net (and so MPI and UCX): the node
 * service's code in libraycore, which embedded drivers run too, sees the
 * types of this header and calls the operations through the table.
 *
 * Messages are copied when sent, delivered whole and in order per peer,
 * from net_progress (never from inside a send); a get reads bytes
 * [remote_off, remote_off + len) of a peer's arena into this node's arena
 * at local_off and calls back when they are there.  On InfiniBand/RoCE the
 * ucx backend's gets are RDMA reads by the NIC; here they run over shared
 * memory or TCP, where the peer must progress for them to complete.
 */
#ifndef RAY_NET_H
#define RAY_NET_H

#include "common/common.h"

#define NET_MAX_NODES 65535
#define NET_RES_MAX   256

typedef struct net net;

/* What each node tells every other at start (one MPI_Allgatherv). */
typedef struct net_node_info {
    uint32_t node;
    int32_t pid;
    double cpus, gpus;
    uint64_t arena_size;
    int32_t exe_errno;  /* 0: the driver's executable can run here */
    int32_t net_status; /* 0: its network endpoint opened */
    uint16_t tag;       /* rank 0's: the job's tag in every id */
    uint16_t pad;
    char host[64];
    char resources[NET_RES_MAX]; /* custom "name:amount,..." */
} net_node_info;

/* A message from node `from`; the bytes are valid during the call. */
typedef void (*net_msg_cb)(void *arg, uint32_t from, const void *msg, size_t len);
/* A get finished: 0, or a negative RAY_E* code (the peer is gone). */
typedef void (*net_get_cb)(void *arg, int status);
/* The connection to node `node` failed; why says how. */
typedef void (*net_fail_cb)(void *arg, uint32_t node, const char *why);

/* An opaque blob of bytes, one per node, exchanged at bootstrap. */
typedef struct net_blob {
    void *data;
    size_t len;
} net_blob;

typedef struct net_ops {
    const char *name;
    /* Bootstrap: makes this node's endpoint over n->arena and describes it
     * in *mine (malloc'd; its transport address, its arena's key)... */
    int (*open)(net *n, net_blob *mine);
    /* ...then, with every node's blob, connects to the others. */
    int (*connect)(net *n, const net_blob *all);
    /* Sends a copy of msg to node `to`; RAY_EINVAL, RAY_ESYS. */
    int (*send)(net *n, uint32_t to, const void *msg, size_t len);
    /* Starts reading [remote_off, +len) of `from`'s arena into local_off of
     * ours; cb runs from a later net_progress. */
    int (*get)(net *n, uint32_t from, uint64_t remote_off, uint64_t len, uint64_t local_off,
               net_get_cb cb, void *arg);
    /* Delivers what arrived, completes what finished; returns how much. */
    int (*progress)(net *n);
    /* A descriptor to wait on in epoll, or -1 when the backend must be polled. */
    int (*fd)(net *n);
    /* Before sleeping on fd: 0 if nothing is pending (may sleep), 1 if not. */
    int (*arm)(net *n);
    void (*fini)(net *n);
} net_ops;

typedef struct net_counters {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, gets, get_bytes;
} net_counters;

struct net {
    const net_ops *ops;
    uint32_t node, num_nodes;
    net_node_info *nodes; /* every node's, from the bootstrap */
    net_msg_cb on_msg;
    net_fail_cb on_fail;
    void *arg;
    uint8_t *arena; /* this node's arena (read-write mapping) */
    uint64_t arena_size;
    net_counters count;
    void *impl; /* the backend's own */
};

static inline int net_send(net *n, uint32_t to, const void *msg, size_t len)
{
    return n->ops->send(n, to, msg, len);
}
static inline int net_get(net *n, uint32_t from, uint64_t remote_off, uint64_t len,
                          uint64_t local_off, net_get_cb cb, void *arg)
{
    return n->ops->get(n, from, remote_off, len, local_off, cb, arg);
}
static inline int net_progress(net *n)
{
    return n->ops->progress(n);
}

/* ---- bootstrap (boot.c, ray-mpi only) */

/* Whether this process was started by an MPI launcher (mpirun, srun with
 * PMIx...): the environment says so. */
int net_launched_by_mpi(void);
/* MPI_Init; this node's rank and the job's size. */
int net_boot_init(int *argc, char ***argv, uint32_t *node, uint32_t *num_nodes);
/* Starts the backend named by RAY_MPI_NET (auto: ucx when built with it)
 * over the arena, and exchanges every node's info, transport address and
 * arena key in one collective: n->nodes then holds every node's info. */
int net_boot_start(const char *backend, net_node_info *self, uint8_t *arena, uint64_t arena_size,
                   net_msg_cb on_msg, net_fail_cb on_fail, void *arg, net **out);
/* After the node service's loop: every node waits for the others, rank 0
 * gathers each node's `mine` (len bytes; the timeline) into *all (malloc'd,
 * in node order; NULL elsewhere or when nobody had any), then the backend
 * goes, then MPI_Finalize. */
void net_boot_finish(net *n, const void *mine, size_t len, void **all, size_t *all_len);
/* Before any backend (--show-placement): every rank's bytes to rank 0, in
 * rank order (*all malloc'd at rank 0, NULL elsewhere); and the largest of
 * every rank's *v, at every rank.  Blocking collectives. */
void net_boot_gather(const void *mine, size_t len, void **all, size_t *all_len);
void net_boot_allmax(int *v);
/* Ends every rank of the job now (MPI_Abort): a node is gone. */
_Noreturn void net_boot_abort(int code);
/* The number of node services on this host (MPI's shared-memory split). */
uint32_t net_local_size(void);

extern const net_ops net_mpi_ops;
#ifdef RAY_HAVE_UCX
extern const net_ops net_ucx_ops;
#endif

#endif /* RAY_NET_H */
