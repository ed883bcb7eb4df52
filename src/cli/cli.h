/*
 * cli.h - the whole interface of src/cli: the node service (the code
 * `ray-mpi` runs on every rank, and an embedded driver runs in a child) and
 * the launcher's helpers.
 */
#ifndef RAY_CLI_H
#define RAY_CLI_H

#include "common/common.h"

typedef struct node_args {
    const ray_config *cfg;
    const char *exe;          /* the driver's executable: what workers run */
    char *const *argv;        /* the driver's arguments (argv[0] included) */
    int driver_sock;          /* embedded: socket to the driver (our parent) */
    pid_t driver_pid;         /* embedded: the parent; ray-mpi: 0, it spawns it */
    uint32_t node, num_nodes;
} node_args;

/* Runs the node service until its driver leaves; returns the exit status
 * for the process (the driver's status under ray-mpi). */
int node_service_main(const node_args *a);

#endif /* RAY_CLI_H */
