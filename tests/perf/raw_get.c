/*
 * raw_get.c - W6's floor: the same 256 MiB moved by the transport alone.
 * Two MPI ranks (mpirun -n 2, no ray-mpi) open the backend of src/net the
 * node services use (RAY_MPI_NET: ucx or mpi; UCX_TLS picks UCX's
 * transport) over pre-faulted arenas; rank 1 fills its arena with the W4
 * words and progresses until told to stop, rank 0 reads all of it with one
 * get per repetition and checks the words.
 *
 *   mpirun -n 2 raw_get TRANSPORT     prints peer=floor workload=W6
 *                                     metric=raw_get_GBps_TRANSPORT
 */
#define _GNU_SOURCE
#include "net/net.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BYTES (256ull << 20)

static net *g_net;
static int g_stop, g_done, g_get_status;

static void on_msg(void *arg, uint32_t from, const void *msg, size_t len)
{
    (void)arg, (void)from, (void)msg, (void)len;
    g_stop = 1;
}

static void on_fail(void *arg, uint32_t node, const char *why)
{
    (void)arg;
    fprintf(stderr, "raw_get: the connection to rank %u failed: %s\n", node, why);
    g_stop = 1;
    g_done = 1;
    g_get_status = RAY_ELOST;
}

static void got(void *arg, int status)
{
    (void)arg;
    g_get_status = status;
    g_done = 1;
}

static int get_rep(int rep, double *v, int *ok)
{
    uint64_t *dst = (uint64_t *)g_net->arena;
    memset(dst, 0, 4096); /* the check sees this repetition's bytes */
    g_done = 0;
    double t0 = now();
    int rc = net_get(g_net, 1, 0, BYTES, 0, got, NULL);
    if (rc)
        return fail_ray("net_get", rc);
    while (!g_done)
        net_progress(g_net);
    double t1 = now();
    if (g_get_status)
        return fail("the get failed: %s", ray_errname(g_get_status));
    uint64_t s = 0;
    for (size_t i = 0; i < BYTES / 8; i++)
        s += dst[i];
    *ok = s == w4_sum(BYTES / 8);
    v[0] = (double)BYTES / (t1 - t0) / 1e9;
    printf("# W6 floor rep=%d get_s=%.4f\n", rep, t1 - t0);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t node, nodes;
    if (argc != 2 || read_reps()) {
        fprintf(stderr, "usage: mpirun -n 2 raw_get TRANSPORT\n");
        return 2;
    }
    if (net_boot_init(&argc, &argv, &node, &nodes)) {
        fprintf(stderr, "raw_get: %s\n", ray_last_error());
        return 1;
    }
    /* Shared like a node's store (a memfd mapping): UCX treats the two kinds
     * differently. */
    uint8_t *arena = mmap(NULL, BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED)
        arena = NULL;
    else
        memset(arena, 0, BYTES);
    net_node_info self = {.node = node, .pid = getpid(), .cpus = 1, .arena_size = BYTES};
    gethostname(self.host, sizeof(self.host) - 1);
    if (node == 1)
        for (size_t i = 0; arena && i < BYTES / 8; i++)
            ((uint64_t *)arena)[i] = w4_word(i);
    int rc = nodes == 2 ? net_boot_start(getenv("RAY_MPI_NET"), &self, arena, BYTES, on_msg,
                                         on_fail, NULL, &g_net)
                        : ray_err(RAY_EINVAL, "raw_get runs on 2 ranks, not %u", nodes);
    if (rc) {
        if (node == 0)
            printf("peer=floor workload=W6 metric=na value=nan unit=na reason=\"%s\"\n",
                   ray_last_error());
        net_boot_finish(NULL, NULL, 0, NULL, NULL);
        return 1;
    }
    char metric[64];
    snprintf(metric, sizeof(metric), "raw_get_GBps_%s", argv[1]);
    if (node == 0) {
        series s = SERIES1("floor", "W6", metric, "GB/s", get_rep);
        run_series(&s);
        fflush(stdout);
        char bye = 1;
        net_send(g_net, 1, &bye, 1); /* delivered while net_boot_finish waits */
    } else {
        while (!g_stop) /* spinning: the floor is the transport's best */
            net_progress(g_net);
    }
    net_boot_finish(g_net, NULL, 0, NULL, NULL);
    if (arena)
        munmap(arena, BYTES);
    return g_status;
}
