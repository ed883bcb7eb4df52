/*
 * topo.h - the whole interface of src/topo, the one part that knows the
 * node: what it offers (CPUs, memory, NUMA domains, GPUs, NICs) from hwloc,
 * restricted to what Slurm allocated and overridden by the settings; where
 * every worker goes (a placement plan: cores, NUMA domain and GPUs per
 * worker slot); and applying a placement (CPU and memory binding, the GPU
 * environment).  Nothing else in ray-mpi includes <hwloc.h>.
 */
#ifndef RAY_TOPO_H
#define RAY_TOPO_H

#include "common/common.h"

/* ------------------------------------------------------------ resources */

typedef struct topo_node {
    double cpus;           /* CPUs this node service may use */
    double gpus;           /* GPU devices */
    uint64_t memory_bytes; /* memory the job may use on this node (service) */
    int numa;              /* NUMA domains with CPUs of this service */
    /* where each value came from: "SLURM_CPUS_ON_NODE", "cgroup cpuset",
     * "hwloc (...)", ... (what `ray-mpi --config` prints) */
    char cpus_from[96], gpus_from[96], memory_from[96];
} topo_node;

typedef struct topo topo; /* a loaded node: hwloc topology, allocation, plan */

/*
 * Loads the node: this machine (hwloc honours HWLOC_XMLFILE), or the hwloc
 * XML of RAY_MPI_TOPOLOGY, in which case plans are computed but nothing is
 * ever bound.  Applies, in this order:
 *   - the PUs this process may use: hwloc's allowed cpuset (the job's
 *     cgroup cpuset) and, on this machine, the process binding;
 *   - with RAY_MPI_PER_NUMA, only the NUMA domain of this local rank (the
 *     first of OMPI_COMM_WORLD_LOCAL_RANK, PMIX_LOCAL_RANK, SLURM_LOCALID:
 *     Open MPI's and PRRTE's are right under mpirun inside an allocation,
 *     where SLURM_LOCALID is the daemon's, 0 for every rank);
 *   - Slurm's numbers as caps: SLURM_CPUS_PER_TASK (per-NUMA ranks only),
 *     SLURM_CPUS_ON_NODE, SLURM_JOB_CPUS_PER_NODE at SLURM_NODEID;
 *     SLURM_MEM_PER_NODE, SLURM_MEM_PER_CPU x CPUs; the GPUs listed in
 *     CUDA_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES / ZE_AFFINITY_MASK (Slurm's
 *     "NoDevFiles": by count only), else SLURM_GPUS_ON_NODE;
 *   - the settings RAY_MPI_NUM_CPUS, RAY_MPI_NUM_GPUS, RAY_MPI_BIND.
 */
int topo_load(const ray_config *cfg, topo **out);
void topo_free(topo *t);
const topo_node *topo_resources(const topo *t);
/* 1 when the topology is this machine's, so bindings are applied. */
int topo_is_this_machine(const topo *t);
/* The NUMA domain (os index) this service is confined to (RAY_MPI_PER_NUMA),
 * or -1. */
int topo_home_numa(const topo *t);

/* topo_load, the resources, topo_free. */
int topo_detect(const ray_config *cfg, topo_node *t);
/* Applies the "auto" settings of cfg: cpus, gpus, store size, worker cap. */
int topo_resolve(const ray_config *cfg, const topo_node *t, double *cpus, double *gpus,
                 uint64_t *store_bytes, uint32_t *max_workers);

/* "4(x2),2,8": the CPUs of node `index` of the job (SLURM_JOB_CPUS_PER_NODE,
 * SLURM_TASKS_PER_NODE syntax), or -1 when malformed or out of range. */
int topo_slurm_count_at(const char *spec, int index);

/* ------------------------------------------------------------ placement */

enum { TOPO_BIND_NONE = 0, TOPO_BIND_CORE = 1, TOPO_BIND_NUMA = 2 };

#define TOPO_CPULIST_MAX 256
#define TOPO_BIND_GPUS   16

/*
 * Where one worker runs: plain data, small enough for a shared slot, and
 * applied by the worker itself (topo_bind_self) without the topology.
 */
typedef struct topo_binding {
    char cpus[TOPO_CPULIST_MAX]; /* PU os indexes, hwloc list syntax ("0-3,64-67");
                                    "": leave the binding alone (RAY_MPI_BIND=none) */
    int32_t numa;                /* NUMA os index memory is bound to (preferred); -1 */
    uint8_t apply;               /* 0: the topology is not this machine: plan only */
    uint8_t ngpus;
    uint16_t gpu_ids[TOPO_BIND_GPUS]; /* the node's GPUs, topo's numbering (0..gpus-1) */
    uint32_t cpu_milli, gpu_milli;    /* what it was placed for */
} topo_binding;

typedef struct topo_request {
    uint32_t cpu_milli; /* CPUs x 1000; 0: no core of its own (the whole node, or
                           the GPUs' NUMA domain) */
    uint32_t gpu_milli; /* GPUs x 1000: < 1000 a share of one GPU, else whole GPUs */
    int ngpu_ids;       /* > 0: the GPUs are these (the caller chose them) */
    const int *gpu_ids;
} topo_request;

/*
 * The pool's plan: slot i (i < n) of the pool of 1-CPU workers gets one CPU
 * of its own, slots spread round-robin over the NUMA domains (slot 0 on
 * domain 0, slot 1 on domain 1, ...).  A CPU is a whole core when the node
 * has at least as many cores as CPUs, else a PU.  Slots beyond the node's
 * CPUs wrap around.  RAY_MPI_BIND=numa gives each slot its whole domain;
 * none leaves workers unbound.
 */
int topo_plan_pool(const topo *t, uint32_t n, topo_binding *out);

/* What dedicated workers and actors hold: created per service, updated by
 * topo_place and topo_release. */
typedef struct topo_busy topo_busy;
int topo_busy_create(const topo *t, topo_busy **out);
void topo_busy_free(topo_busy *b);

/*
 * Places a task or actor of shape req, preferring what is free in b:
 * GPUs (whole, or a share packed with other shares), in one NUMA domain
 * when they fit, and CPUs in the domain closest to those GPUs; without
 * GPUs, k CPUs in the one domain with most free CPUs, else spread.  Within
 * a domain it takes the CPUs the pool reaches last.  Busy CPUs are shared
 * rather than refused (the service's CPU tokens decide admission; the plan
 * only says where).  Returns RAY_EINFEASIBLE, with a message naming what
 * the node has, when the node can never hold req.  key != 0 records the
 * placement in b under key (a client slot + 1) until topo_release (placing
 * a key again first releases it); key 0 is a preview and leaves b as is.
 */
int topo_place(const topo *t, topo_busy *b, uint64_t key, const topo_request *req,
               topo_binding *out);
void topo_release(topo_busy *b, uint64_t key);
/* 1 when b leaves room for gpu_milli without sharing a GPU beyond its
 * whole (n free GPUs, or a GPU with the share left): the service's
 * admission check before it takes CPU tokens. */
int topo_gpus_fit(const topo *t, const topo_busy *b, uint32_t gpu_milli);
/* GPUs x 1000 that b's placements hold (shares summed). */
uint32_t topo_gpus_held(const topo_busy *b);

/* Whether a worker bound as a must be rebound to run as b. */
int topo_binding_same(const topo_binding *a, const topo_binding *b);

/* ------------------------------------------------------------- applying */

/*
 * Binds the calling process: its threads to b->cpus (hwloc_set_cpubind,
 * HWLOC_CPUBIND_PROCESS) and the calling thread's memory to b->numa
 * (hwloc_set_membind, BIND without STRICT: preferred, so a full domain
 * spills instead of failing).  Nothing when !b->apply, b->cpus is "", or b
 * is what the process already has.  The first call loads a topology for
 * the process: from xml (the service's export, fast) or else discovers this
 * machine without I/O devices; topo_bind_init makes that explicit.
 */
int topo_bind_init(const char *xml);
int topo_bind_self(const topo_binding *b);
/* The calling process's CPU binding as a list ("0-3"), from hwloc_get_cpubind. */
int topo_bound_cpus(char *buf, size_t size);

/* Writes the node's topology as hwloc XML (for workers' topo_bind_init). */
int topo_export_xml(const topo *t, const char *path);

/* Binds the pages of [addr, addr+len) (the store's arena, before it is
 * touched): to the home domain with RAY_MPI_PER_NUMA, else interleaved over
 * the node's domains when it has several.  Nothing for an XML topology. */
int topo_area_bind(const topo *t, void *addr, size_t len);

/* The GPU variables a worker bound as b gets, for each GPU vendor the node
 * has: CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, ZE_AFFINITY_MASK, listing
 * b's GPUs as the job saw them ("" when b has none of that vendor, as Ray
 * does, so a CPU task cannot take a GPU another task holds). */
typedef struct topo_env {
    int n;
    struct {
        char name[32];
        char value[256];
    } var[3];
} topo_env;
int topo_gpu_env(const topo *t, const topo_binding *b, topo_env *env);

/* ------------------------------------------------------------- showing */

/* The topology summary (packages, NUMA domains with memory, cores, PUs,
 * GPUs and NICs with their domains), where the resources came from, and the
 * plan: the pool's slots and one 1-GPU slot per GPU (`ray-mpi
 * --show-placement`, RAY_MPI_SHOW_PLACEMENT). */
int topo_show(const topo *t, FILE *out);
/* topo_load, topo_show, topo_free. */
int topo_show_config(const ray_config *cfg, FILE *out);

/*
 * How the rest uses it:
 *   - src/cli/node.c: topo_load once, topo_resources + topo_resolve for the
 *     service's resources, topo_show for RAY_MPI_SHOW_PLACEMENT, and
 *     topo_export_xml to <job dir>/topology.xml for the workers.
 *   - src/sched/service.c: topo_area_bind on the arena before anyone
 *     touches it; topo_plan_pool(max_workers) into svc->plan; a topo_busy.
 *   - src/sched/pool.c: a pool worker takes the lowest free plan slot.
 *   - src/sched/resources.c: svc_acquire admits GPUs with topo_gpus_fit
 *     and places with topo_place (key: a new number per grant, released by
 *     svc_grant_drop, svc_release, svc_client_free); svc_bind_set writes
 *     the binding, GPU ids and topo_gpu_env's variables into the shared
 *     slot (sched_client.bind, gpu_env), then bind_seq++.
 *   - src/client/worker.c: bind_apply (topo_bind_init with the service's
 *     XML, topo_bind_self) at start and before each dedicated task when
 *     bind_seq moved.  Tasks from the shared ready queue never rebind.
 * Under MPI the launcher knows the local rank for certain
 *   (MPI_Comm_split_type SHARED): it can export it as
 *   OMPI_COMM_WORLD_LOCAL_RANK before topo_load for other MPIs.
 * Measured on this 2-core VM (quiet / loaded by other jobs): discovering
 * this machine with hwloc_topology_load takes 16 / 40-90 ms with I/O
 * devices, 3 / 5-12 ms without: too slow for every worker start.  Loading
 * topo_export_xml's file (PUs and NUMA nodes only) takes 0.5-1 ms here, 0.7
 * ms for the fat node's 128 PUs (its full XML: 2.9 ms), so the service
 * exports once and workers load that.  topo_bind_self: 30 / 50-400 us for
 * the CPU binding of all threads (HWLOC_CPUBIND_PROCESS walks
 * /proc/self/task; one thread alone would be 1 us) + 1 us for memory; an
 * unchanged binding 0.02 us.  Workers are bound once at start and rebound
 * only when the shape changes, so this is off the per-task path.
 */

#endif /* RAY_TOPO_H */
