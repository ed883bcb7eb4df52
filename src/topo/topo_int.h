/*
 * topo_int.h - private to src/topo: the loaded node (struct topo) that
 * topo.c builds and plan.c, gpu.c, bind.c and show.c read, and the helpers
 * they share.  Other parts include topo.h only.
 */
#ifndef RAY_TOPO_INT_H
#define RAY_TOPO_INT_H

#include "topo.h"

#include <hwloc.h>

#define TOPO_DOM_MAX 64 /* NUMA domains of a node */
#define TOPO_GPU_MAX 64
#define TOPO_NIC_MAX 16

enum { TOPO_VENDOR_NVIDIA, TOPO_VENDOR_AMD, TOPO_VENDOR_INTEL, TOPO_VENDOR_N };

/* A unit is what one CPU of num_cpus is: a whole core, or one PU. */
typedef struct topo_unit {
    hwloc_bitmap_t pus;
    int dom;  /* index in topo.dom */
    int core; /* hwloc logical index of its core */
} topo_unit;

typedef struct topo_dom {
    unsigned os_index;
    uint64_t memory_bytes;
    hwloc_bitmap_t cpus; /* PUs of the node's units in this domain */
    int nunits;
    int ncores; /* cores with a PU this service may use */
} topo_dom;

typedef struct topo_gpu {
    int vendor;
    int phys;         /* NVML / RSMI index: not renumbered by *_VISIBLE_DEVICES */
    int rel;          /* CUDA / LevelZero / OpenCL index: renumbered on this machine */
    int dom;          /* index in topo.dom, -1: no locality known */
    char name[32];    /* cuda0, rsmi1, opencl0d0, or gpuN when hwloc does not see it */
    char visible[64]; /* how the job names it in *_VISIBLE_DEVICES */
    char uuid[64];
    char model[64];
    int model_from_osdev; /* model is the GPU's own name, not the PCI device's */
    char busid[16];
    const void *pci; /* its hwloc PCI device (groups its OS devices) */
    int taken;       /* while filtering: a list named it already */
} topo_gpu;

typedef struct topo_nic {
    char name[64]; /* its OS devices: "ib0 mlx5_0" */
    char busid[16];
    int dom;
    const void *pci;
} topo_nic;

struct topo {
    hwloc_topology_t hw;
    int thissystem;
    int mode;                            /* TOPO_BIND_* */
    char from[256];                      /* "this machine" or the XML's path */
    topo_node res;                       /* what the node offers, before the settings */
    double ncpus;                        /* CPUs after the settings: what the plan hands out */
    char ncpus_from[96], ngpus_from[96]; /* res's sources, or the setting's name */
    topo_dom dom[TOPO_DOM_MAX];
    int ndom;
    int home;            /* RAY_MPI_PER_NUMA: index in dom, else -1 */
    int home_pos, ncand; /* its place among the domains holding our CPUs */
    char home_from[64];
    topo_unit *unit; /* in pool order (round-robin over domains) */
    int nunit;
    int unit_is_core;
    int ncores;          /* cores with a PU this service may use */
    hwloc_bitmap_t cpus; /* union of the units */
    topo_gpu gpu[TOPO_GPU_MAX];
    int ngpu;
    topo_nic nic[TOPO_NIC_MAX];
    int nnic;
};

/* gpu.c */
/* GPUs and NICs of the topology, GPUs filtered by the visible-devices
 * variables; fills t->gpu, t->nic and res.gpus/gpus_from (before settings). */
void topo_devices_find(topo *t);
/* Keeps n GPUs: the first n, or adds GPUs hwloc does not see. */
void topo_gpus_trim(topo *t, int n);
/* RAY_MPI_PER_NUMA: keeps the GPUs near the home domain (those without
 * locality: one in ncand, by position). */
void topo_gpus_home(topo *t);
/* The domain index of an I/O object's locality, -1 when it spans several. */
int topo_io_dom(const topo *t, hwloc_obj_t io);

/* slurm.c: environment numbers */
/* A whole number >= 0 from variable name ("gpu:2" counts 2), else -1. */
long topo_env_count(const char *name);
/* The first of OMPI_COMM_WORLD_LOCAL_RANK, PMIX_LOCAL_RANK, SLURM_LOCALID;
 * *from names it.  -1 when none is set. */
int topo_local_rank(const char **from);
/* Slurm's CPU count for this node: SLURM_CPUS_ON_NODE, else
 * SLURM_JOB_CPUS_PER_NODE at SLURM_NODEID; -1.  *from names it. */
long topo_slurm_node_cpus(const char **from);

/* Formats set (hwloc list syntax) into buf; RAY_EINVAL if it does not fit. */
int topo_list_format(char *buf, size_t size, hwloc_const_bitmap_t set);
const char *topo_bind_name(int mode);

#endif /* RAY_TOPO_INT_H */
