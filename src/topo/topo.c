/*
 * topo.c - resources of this node.  Slurm first (SLURM_CPUS_ON_NODE,
 * SLURM_GPUS_ON_NODE, SLURM_MEM_PER_NODE): under Slurm the allocation is
 * the truth, not the hardware.  Otherwise hwloc: the PUs this process is
 * allowed to run on (its binding and cgroup), GPUs among the OS devices,
 * memory capped by the cgroup limit.
 */
#include "topo.h"

#include <hwloc.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

static int env_number(const char *name, double *out)
{
    const char *v = ray_env(name);
    if (!v || !*v)
        return 0;
    char *end;
    double d = strtod(v, &end);
    /* SLURM_GPUS_ON_NODE can be "2" or "gpu:2"; take the last number. */
    if (*end) {
        const char *colon = strrchr(v, ':');
        if (!colon)
            return 0;
        d = strtod(colon + 1, &end);
        if (*end)
            return 0;
    }
    if (!(d >= 0) || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

static uint64_t cgroup_limit(void)
{
    static const char *files[] = {"/sys/fs/cgroup/memory.max",
                                  "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(files); i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        char buf[64] = "";
        char *ok = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (!ok || !strncmp(buf, "max", 3))
            continue;
        unsigned long long v = strtoull(buf, NULL, 10);
        if (v > 0 && v < (1ull << 60))
            return v;
    }
    return 0;
}

/* Whether an OS device is a GPU a task can use: a compute co-processor
 * (CUDA, OpenCL, LevelZero) or a GPU its management library names (NVML,
 * RSMI).  Display-only GPUs (a "card0" DRM device) are not counted. */
static int is_compute_gpu(hwloc_obj_t o)
{
    if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC)
        return 1;
    return o->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU && o->subtype &&
           (!strcmp(o->subtype, "NVML") || !strcmp(o->subtype, "RSMI"));
}

/* GPUs, once each: one device shows as several OS devices (cuda0 and
 * nvml0 under the same PCI device), so count distinct parents. */
static int count_gpus(hwloc_topology_t topo)
{
    hwloc_obj_t seen[256];
    int n = 0;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(topo, o));) {
        if (!is_compute_gpu(o))
            continue;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = o->parent && seen[i] == o->parent;
        if (!dup && n < (int)RAY_ARRAY_SIZE(seen))
            seen[n++] = o->parent;
    }
    return n;
}

int topo_detect(topo_node *t)
{
    memset(t, 0, sizeof(*t));
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) < 0)
        return ray_err_sys("hwloc_topology_init");
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) < 0) {
        hwloc_topology_destroy(topo);
        return ray_err_sys("hwloc could not load the topology");
    }
    int thissystem = hwloc_topology_is_thissystem(topo);
    hwloc_bitmap_t set = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
    if (thissystem) {
        hwloc_bitmap_t bound = hwloc_bitmap_alloc();
        if (bound && hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_PROCESS) == 0)
            hwloc_bitmap_and(set, set, bound);
        hwloc_bitmap_free(bound);
    }
    int pus = hwloc_bitmap_weight(set);
    hwloc_bitmap_free(set);
    double d;
    if (env_number("SLURM_CPUS_ON_NODE", &d) && d >= 1) {
        t->cpus = d;
        snprintf(t->cpus_from, sizeof(t->cpus_from), "SLURM_CPUS_ON_NODE");
    } else {
        t->cpus = pus > 0 ? pus : (double)sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(t->cpus_from, sizeof(t->cpus_from), "hwloc (PUs this process may use)");
    }
    if (env_number("SLURM_GPUS_ON_NODE", &d)) {
        t->gpus = d;
        snprintf(t->gpus_from, sizeof(t->gpus_from), "SLURM_GPUS_ON_NODE");
    } else {
        t->gpus = count_gpus(topo);
        snprintf(t->gpus_from, sizeof(t->gpus_from), "hwloc (GPU devices)");
    }
    uint64_t mem = hwloc_get_root_obj(topo)->total_memory;
    snprintf(t->memory_from, sizeof(t->memory_from), "hwloc (physical memory)");
    /* NUMA nodes' sysfs can miss hot-added memory (seen on VMs): the
     * kernel's page count is the floor. */
    uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (thissystem && phys > mem) {
        mem = phys;
        snprintf(t->memory_from, sizeof(t->memory_from), "physical memory");
    }
    uint64_t cg = thissystem ? cgroup_limit() : 0;
    if (cg && cg < mem) {
        mem = cg;
        snprintf(t->memory_from, sizeof(t->memory_from), "cgroup memory limit");
    }
    if (env_number("SLURM_MEM_PER_NODE", &d) && d > 0) {
        mem = (uint64_t)(d * 1024 * 1024); /* Slurm gives MB */
        snprintf(t->memory_from, sizeof(t->memory_from), "SLURM_MEM_PER_NODE");
    }
    t->memory_bytes = mem;
    hwloc_topology_destroy(topo);
    return 0;
}

int topo_resolve(const ray_config *cfg, const topo_node *t, double *cpus, double *gpus,
                 uint64_t *store_bytes, uint32_t *max_workers)
{
    *cpus = cfg->num_cpus_auto ? t->cpus : cfg->num_cpus;
    *gpus = cfg->num_gpus_auto ? t->gpus : cfg->num_gpus;
    if (*cpus <= 0)
        return ray_err(RAY_EINVAL, "this node offers %g CPUs (from %s); set RAY_MPI_NUM_CPUS",
                       *cpus, cfg->num_cpus_auto ? t->cpus_from : "RAY_MPI_NUM_CPUS");
    if (*cpus > 100000 || *gpus > 1024)
        return ray_err(RAY_EINVAL, "%g CPUs / %g GPUs is more than one node can have", *cpus,
                       *gpus);
    *store_bytes = cfg->object_store_memory_auto ? t->memory_bytes / 10 * 3
                                                 : cfg->object_store_memory;
    *store_bytes &= ~(uint64_t)4095;
    if (*store_bytes < (1u << 20))
        return ray_err(RAY_EINVAL, "object store of %llu bytes is too small (at least 1M)",
                       (unsigned long long)*store_bytes);
    uint32_t n = (uint32_t)ceil(*cpus);
    *max_workers = cfg->max_workers_auto ? RAY_MIN(RAY_MAX(64u, 8 * n), 60000u)
                                         : (uint32_t)RAY_MIN(cfg->max_workers, 60001u);
    if (*max_workers < n)
        *max_workers = n;
    return 0;
}
