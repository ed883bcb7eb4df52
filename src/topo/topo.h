/*
 * topo.h - the whole interface of src/topo: what this node offers (CPUs,
 * GPUs, memory), from Slurm's variables when it runs under Slurm, else from
 * hwloc, and never guessed.  Later: binding workers to cores and NUMA
 * domains.
 */
#ifndef RAY_TOPO_H
#define RAY_TOPO_H

#include "common/common.h"

typedef struct topo_node {
    double cpus;            /* CPUs this process may use */
    double gpus;            /* GPU devices */
    uint64_t memory_bytes;  /* memory the job may use on this node */
    char cpus_from[64], gpus_from[64], memory_from[64]; /* where each came from */
} topo_node;

/* Reads Slurm's variables, the cgroup limit and the hwloc topology (which
 * honours HWLOC_XMLFILE, so tests can fake a machine). */
int topo_detect(topo_node *t);
/* Applies the "auto" settings of cfg: cpus, gpus, store size, worker cap. */
int topo_resolve(const ray_config *cfg, const topo_node *t, double *cpus, double *gpus,
                 uint64_t *store_bytes, uint32_t *max_workers);

#endif /* RAY_TOPO_H */
