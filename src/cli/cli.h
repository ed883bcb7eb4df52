/*
 * cli.h - the whole interface of src/cli: the node service (the code
 * `ray-mpi` runs on every rank, and an embedded driver runs in a child) and
 * the launcher's helpers.
 */
#ifndef RAY_CLI_H
#define RAY_CLI_H

#include "common/common.h"

#include <signal.h>

struct sched_service;

typedef struct node_args {
    const ray_config *cfg;
    const char *exe;          /* the driver's executable: what workers run */
    char *const *argv;        /* the driver's arguments (argv[0] included) */
    int driver_sock;          /* embedded: socket to the driver (our parent) */
    pid_t driver_pid;         /* embedded: the parent; ray-mpi: 0, it spawns it */
    uint32_t node, num_nodes;
    int no_driver;            /* a node of a job whose driver runs on node 0 */
    uint32_t local_size;      /* node services on this host: the store's share */
    /* Several nodes (ray-mpi under an MPI launcher): join the others once
     * the service exists (the bootstrap), leave them at the end, or end
     * every node at once when one is lost. */
    int (*join)(void *arg, struct sched_service *svc);
    /* The node's timeline (tl, tl_len) goes to rank 0, which gets every
     * node's in *all (malloc'd). */
    void (*leave)(void *arg, struct sched_service *svc, const void *tl, size_t tl_len, void **all,
                  size_t *all_len);
    void (*abort)(void *arg, int code); /* does not return */
    void *net_arg;
} node_args;

/* Runs the node service until its driver leaves; returns the exit status
 * for the process (the driver's status under ray-mpi). */
int node_service_main(const node_args *a);
/* Blocks the signals the node service takes through its signalfd and
 * returns them in *set (before MPI_Init too: MPI's threads never take them). */
void node_block_signals(sigset_t *set);

/* Workers' output, prefixed (output.c). */
typedef struct out_streams out_streams;
out_streams *outs_create(uint32_t node);
/* A pipe of process pid, written out to descriptor `to`; its index. */
int outs_add(out_streams *s, int fd, pid_t pid, int to);
/* Reads what stream idx has; 1 once it is closed (EOF). */
int outs_read(out_streams *s, int idx);
void outs_destroy(out_streams *s);

/* ray-mpi under an MPI launcher (launch.c): this rank's node service in a
 * job of several nodes; exe_errno says whether the driver can run here. */
int launch_mpi(const ray_config *cfg, const char *exe, int exe_errno, char *const *argv);
/* ray-mpi --show-placement under an MPI launcher: every node's plan, in
 * node order, printed by rank 0; the exit status. */
int launch_show_placement(const ray_config *cfg);

/* `ray-mpi status [--job DIR] [--json]` (status.c): the caller's running
 * jobs on this host, read from their control regions; argv[0] is "status".
 * Returns the exit status. */
int status_main(int argc, char **argv);

#endif /* RAY_CLI_H */
