/*
 * boot.c - the MPI bootstrap of a multi-node job: MPI_Init, this node's
 * rank and the job's size, then one collective exchange (MPI_Allgather of
 * the sizes, MPI_Allgatherv of the records) of every node's info and
 * backend blob (transport address, arena key), and at the end
 * MPI_Finalize.  MPI is used for nothing else unless the mpi backend is
 * chosen: workers and drivers never see it.
 */
#include "net.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <unistd.h>

static uint32_t local_size = 1;

int net_launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(vars); i++)
        if (ray_env(vars[i]))
            return 1;
    return 0;
}

int net_boot_init(int *argc, char ***argv, uint32_t *node, uint32_t *num_nodes)
{
    int rank, size;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return ray_err(RAY_ESYS, "MPI_Init failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > NET_MAX_NODES) {
        MPI_Finalize();
        return ray_err(RAY_EINVAL, "%d ranks: at most %d node services", size, NET_MAX_NODES);
    }
    MPI_Comm shared;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &shared) ==
        MPI_SUCCESS) {
        int ls;
        MPI_Comm_size(shared, &ls);
        local_size = (uint32_t)ls;
        MPI_Comm_free(&shared);
    }
    *node = (uint32_t)rank;
    *num_nodes = (uint32_t)size;
    return 0;
}

uint32_t net_local_size(void)
{
    return local_size;
}

static const net_ops *backend(const char *name)
{
#ifdef RAY_HAVE_UCX
    if (!name || !*name || !strcmp(name, "auto") || !strcmp(name, "ucx"))
        return &net_ucx_ops;
#else
    if (name && !strcmp(name, "ucx")) {
        ray_err(RAY_EINVAL, "RAY_MPI_NET=ucx: this ray-mpi was built without UCX "
                            "(configure --with-ucx); use RAY_MPI_NET=mpi");
        return NULL;
    }
    if (!name || !*name || !strcmp(name, "auto"))
        return &net_mpi_ops;
#endif
    if (!strcmp(name, "mpi"))
        return &net_mpi_ops;
    ray_err(RAY_EINVAL, "RAY_MPI_NET=%s: expected auto, ucx or mpi", name);
    return NULL;
}

/* Every rank's record (all[i] is rank i's, its bytes in *buf). */
static int allgather(const void *mine, int len, int n, char **buf, int **offs, int **lens)
{
    *lens = calloc((size_t)n, sizeof(int));
    *offs = calloc((size_t)n, sizeof(int));
    *buf = NULL;
    if (!*lens || !*offs)
        return ray_err(RAY_ENOMEM, "out of memory for the bootstrap exchange");
    if (MPI_Allgather(&len, 1, MPI_INT, *lens, 1, MPI_INT, MPI_COMM_WORLD) != MPI_SUCCESS)
        return ray_err(RAY_ESYS, "MPI_Allgather of the bootstrap sizes failed");
    long total = 0;
    for (int i = 0; i < n; i++) {
        (*offs)[i] = (int)total;
        total += (*lens)[i];
        if ((*lens)[i] < (int)sizeof(net_node_info) || total > INT_MAX)
            return ray_err(RAY_EPROTO, "rank %d sent a bootstrap record of %d bytes", i,
                           (*lens)[i]);
    }
    if (!(*buf = malloc((size_t)total)))
        return ray_err(RAY_ENOMEM, "out of memory for %ld bytes of bootstrap", total);
    if (MPI_Allgatherv(mine, len, MPI_BYTE, *buf, *lens, *offs, MPI_BYTE, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return ray_err(RAY_ESYS, "MPI_Allgatherv of the bootstrap records failed");
    return 0;
}

/* The exchange: each record is the node's info, then its backend's blob. */
static int exchange(net *n, const net_node_info *self, const net_blob *mine, net_blob *blobs)
{
    size_t len = sizeof(*self) + mine->len;
    char *rec = malloc(len), *buf = NULL;
    int *offs = NULL, *lens = NULL, rc = RAY_ENOMEM;
    n->nodes = calloc(n->num_nodes, sizeof(*n->nodes));
    if (!rec || !n->nodes || len > INT_MAX)
        goto out;
    memcpy(rec, self, sizeof(*self));
    if (mine->len)
        memcpy(rec + sizeof(*self), mine->data, mine->len);
    if ((rc = allgather(rec, (int)len, (int)n->num_nodes, &buf, &offs, &lens)))
        goto out;
    for (uint32_t i = 0; i < n->num_nodes; i++) {
        memcpy(&n->nodes[i], buf + offs[i], sizeof(net_node_info));
        n->nodes[i].host[sizeof(n->nodes[i].host) - 1] = 0;
        n->nodes[i].resources[sizeof(n->nodes[i].resources) - 1] = 0;
        blobs[i].len = (size_t)lens[i] - sizeof(net_node_info);
        blobs[i].data = malloc(blobs[i].len ? blobs[i].len : 1);
        if (!blobs[i].data) {
            rc = RAY_ENOMEM;
            goto out;
        }
        memcpy(blobs[i].data, buf + offs[i] + sizeof(net_node_info), blobs[i].len);
        if (n->nodes[i].node != i) {
            rc = ray_err(RAY_EPROTO, "rank %u says it is node %u", i, n->nodes[i].node);
            goto out;
        }
    }
    rc = 0;
out:
    free(rec);
    free(buf);
    free(offs);
    free(lens);
    return rc;
}

/* Every node opened its endpoint (else none goes on: the job cannot run). */
static int nodes_opened(net *n)
{
    for (uint32_t i = 0; i < n->num_nodes; i++)
        if (n->nodes[i].net_status)
            return ray_err(RAY_ESYS, "node %u (%s) could not open its %s endpoint (%s)", i,
                           n->nodes[i].host, n->ops->name, ray_errname(n->nodes[i].net_status));
    return 0;
}

int net_boot_start(const char *name, net_node_info *self, uint8_t *arena, uint64_t arena_size,
                   net_msg_cb on_msg, net_fail_cb on_fail, void *arg, net **out)
{
    const net_ops *ops = backend(name);
    if (!ops)
        return RAY_EINVAL;
    net *n = calloc(1, sizeof(*n));
    if (!n)
        return ray_err(RAY_ENOMEM, "out of memory");
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    *n = (net){.ops = ops,
               .node = (uint32_t)rank,
               .num_nodes = (uint32_t)size,
               .on_msg = on_msg,
               .on_fail = on_fail,
               .arg = arg,
               .arena = arena,
               .arena_size = arena_size};
    net_blob mine = {NULL, 0};
    net_blob *blobs = calloc((size_t)size, sizeof(*blobs));
    /* No arena: this node failed to start and only takes part. */
    int rc = !blobs ? RAY_ENOMEM : !arena ? RAY_ESYS : ops->open(n, &mine);
    /* Every rank takes part in the exchange, even one that failed to open:
     * a missing rank would hang the others. */
    net_blob empty = {NULL, 0};
    self->net_status = rc;
    int rc2 = blobs ? exchange(n, self, rc ? &empty : &mine, blobs) : RAY_ENOMEM;
    if (!rc && !(rc = rc2))
        rc = nodes_opened(n);
    if (!rc)
        rc = ops->connect(n, blobs);
    for (int i = 0; blobs && i < size; i++)
        free(blobs[i].data);
    free(blobs);
    free(mine.data);
    if (rc) {
        if (n->impl)
            ops->fini(n);
        free(n->nodes);
        free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static void drop_msg(void *arg, uint32_t from, const void *msg, size_t len)
{
    (void)arg, (void)from, (void)msg, (void)len;
}

/* Every node reaches here before any closes its connections: a node whose
 * work ended first would otherwise break the others' endpoints while they
 * still finish.  The network is progressed while waiting (what arrives now
 * is dropped: the node service has left); a node that never comes is
 * given up on after a minute (its rank's death ends the job anyway). */
static int wait_all(net *n, MPI_Request *req, const char *what)
{
    uint64_t end = ray_now_ns() + 60000000000ULL;
    for (int done = 0;;) {
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
        if (done)
            return 0;
        if (ray_now_ns() > end) {
            ray_warn("net", "the other nodes did not all %s within 60 s", what);
            return -1;
        }
        if (!n || !n->ops->progress(n))
            usleep(200);
    }
}

static int barrier(net *n)
{
    MPI_Request req;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &req) != MPI_SUCCESS)
        return -1;
    return wait_all(n, &req, "reach the end");
}

/* Every node's bytes to rank 0 (at the end: once all are there, so no
 * collective is left waiting for a node that will not come), the network
 * progressed meanwhile when there is one. */
static void gather(net *n, const void *mine, size_t len, void **all, size_t *all_len)
{
    int size, rank;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int root = rank == 0;
    int count = (int)RAY_MIN(len, (size_t)(INT_MAX / RAY_MAX(size, 1)));
    int *counts = root ? calloc((size_t)size, sizeof(int)) : NULL;
    int *displs = root ? calloc((size_t)size, sizeof(int)) : NULL;
    MPI_Request req;
    if ((root && (!counts || !displs)) ||
        MPI_Igather(&count, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD, &req) !=
            MPI_SUCCESS ||
        wait_all(n, &req, "hand in their part"))
        goto out;
    size_t total = 0;
    for (int i = 0; root && i < size; i++) {
        displs[i] = (int)total;
        total += (size_t)RAY_MAX(counts[i], 0);
    }
    char *buf = root && total ? malloc(total) : NULL;
    if (root && total && !buf)
        ray_warn("net", "no memory for the %zu bytes the nodes hand in", total);
    /* Every rank takes part even when the root has no room: it then takes
     * nothing, the others' sends are truncated and the gather fails. */
    if (root && !buf)
        memset(counts, 0, (size_t)size * sizeof(int));
    if (MPI_Igatherv(mine, count, MPI_BYTE, buf, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD,
                     &req) != MPI_SUCCESS ||
        wait_all(n, &req, "hand in their part")) {
        free(buf);
        goto out;
    }
    if (root) {
        *all = buf;
        *all_len = buf ? total : 0;
    }
out:
    free(counts);
    free(displs);
}

void net_boot_finish(net *n, const void *mine, size_t len, void **all, size_t *all_len)
{
    if (all)
        *all = NULL, *all_len = 0;
    if (n) {
        n->on_msg = drop_msg;
        n->on_fail = NULL;
        if (!barrier(n) && all)
            gather(n, mine, len, all, all_len);
        n->ops->fini(n);
        free(n->nodes);
        free(n);
    }
    MPI_Finalize();
}

void net_boot_gather(const void *mine, size_t len, void **all, size_t *all_len)
{
    *all = NULL;
    *all_len = 0;
    gather(NULL, mine, len, all, all_len);
}

void net_boot_allmax(int *v)
{
    int in = *v;
    MPI_Allreduce(&in, v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}

_Noreturn void net_boot_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code);
}
