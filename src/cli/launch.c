/*
 * launch.c - ray-mpi as one MPI rank of a job: MPI_Init, then the node
 * service of this node; rank 0 runs the driver, the others serve until
 * rank 0 ends the job.  The bootstrap (one collective exchange of every
 * node's resources, transport address and arena key) happens once the
 * node service has made its store, through node_args.join; a driver that
 * cannot run on some node stops every node with a message naming it.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "net/net.h"
#include "sched/sched.h"
#include "topo/topo.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct launch {
    const ray_config *cfg;
    const char *exe;
    int exe_errno;
    net *net;
    int mpi_up;
    uint32_t node, num_nodes;
} launch;

/* Every node's driver check, once all are known: the first that cannot
 * run it ends the start (every node sees the same table). */
static int check_exe(launch *l)
{
    for (uint32_t i = 0; i < l->net->num_nodes; i++)
        if (l->net->nodes[i].exe_errno)
            return ray_err(RAY_ESYS, "node %u (%s): cannot run %s: %s", i, l->net->nodes[i].host,
                           l->exe, strerror(l->net->nodes[i].exe_errno));
    return 0;
}

static int join(void *arg, struct sched_service *svc)
{
    launch *l = arg;
    net_node_info self;
    memset(&self, 0, sizeof(self));
    const char *res = "";
    uint8_t *arena = NULL;
    uint64_t arena_size = 0;
    if (svc) {
        sched_service_resources(svc, &self.cpus, &self.gpus, &res);
        arena = sched_service_shm(svc)->st.arena;
        arena_size = sched_service_arena_size(svc);
        self.tag = sched_service_tag(svc);
    }
    self.node = l->node;
    self.pid = (int32_t)getpid();
    self.arena_size = arena_size;
    self.exe_errno = l->exe_errno;
    gethostname(self.host, sizeof(self.host) - 1);
    snprintf(self.resources, sizeof(self.resources), "%s", res);
    int rc = net_boot_start(l->cfg->net, &self, arena, arena_size, sched_service_net_msg,
                            sched_service_net_fail, svc, &l->net);
    if (rc)
        return rc;
    if ((rc = check_exe(l)))
        return rc;
    if (!svc)
        return RAY_ESYS;
    sched_service_set_tag(svc, l->net->nodes[0].tag);
    if ((rc = sched_service_join(svc, l->net)))
        return rc;
    ray_info("node", "node %u of %u joined over %s", l->node, l->num_nodes, l->net->ops->name);
    return 0;
}

static void leave(void *arg, struct sched_service *svc, const void *tl, size_t tl_len, void **all,
                  size_t *all_len)
{
    launch *l = arg;
    sched_service_leave(svc);
    net_boot_finish(l->net, tl, tl_len, all, all_len);
    l->net = NULL;
    l->mpi_up = 0;
}

static void abort_job(void *arg, int code)
{
    net_boot_abort(code);
}

/* ray-mpi --show-placement under an MPI launcher: each rank plans its own
 * node (its local rank, its allocation); rank 0 prints every plan in node
 * order, each under a header naming the node and its host. */
int launch_show_placement(const ray_config *cfg)
{
    uint32_t node, num_nodes;
    if (net_boot_init(NULL, NULL, &node, &num_nodes)) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 1;
    }
    char *text = NULL, host[256] = "";
    size_t len = 0;
    gethostname(host, sizeof(host) - 1);
    FILE *f = open_memstream(&text, &len);
    int rc = 1;
    if (f) {
        fprintf(f, "== node %u of %u (%s) ==\n", node, num_nodes, host);
        if ((rc = topo_show_config(cfg, f)))
            fprintf(f, "ray-mpi: node %u: %s\n", node, ray_last_error());
        fclose(f);
    }
    char *all = NULL;
    size_t all_len = 0;
    net_boot_gather(text, text ? len : 0, (void **)&all, &all_len);
    if (node == 0 && all)
        fwrite(all, 1, all_len, stdout);
    fflush(stdout);
    free(all);
    free(text);
    int worst = rc ? 1 : 0;
    net_boot_allmax(&worst);
    net_boot_finish(NULL, NULL, 0, NULL, NULL);
    return worst;
}

int launch_mpi(const ray_config *cfg, const char *exe, int exe_errno, char *const *argv)
{
    /* The node service takes its signals through a signalfd: blocked
     * before MPI_Init, so MPI's own threads never take them instead. */
    sigset_t set;
    node_block_signals(&set);
    uint32_t node, num_nodes;
    if (net_boot_init(NULL, NULL, &node, &num_nodes)) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 1;
    }
    launch l = {cfg, exe, exe_errno, NULL, 1, node, num_nodes};
    node_args a = {cfg,  exe,   argv,      -1, 0, node, num_nodes, node != 0, net_local_size(),
                   join, leave, abort_job, &l};
    ray_log_node = (int)node;
    int rc = node_service_main(&a);
    if (l.mpi_up) /* the start failed before the node service could leave */
        net_boot_finish(l.net, NULL, 0, NULL, NULL);
    return rc;
}
