/*
 * test_topo.c - what a node offers, from Slurm's variables when set and
 * from hwloc otherwise: faked with an hwloc XML of a 2-socket, 128-PU node
 * with 4 GPUs (tests/unit/fat-node.xml, HWLOC_XMLFILE) and with SLURM_*
 * variables; then the "auto" settings resolved from it.
 */
#define _GNU_SOURCE
#include "common/common.h"
#include "topo/topo.h"

#include <sched.h>
#include <stdlib.h>

#include "lib/tap.h"

static const char *slurm_vars[] = {"SLURM_CPUS_ON_NODE", "SLURM_GPUS_ON_NODE",
                                   "SLURM_MEM_PER_NODE"};

static void clear_slurm(void)
{
    for (size_t i = 0; i < RAY_ARRAY_SIZE(slurm_vars); i++)
        unsetenv(slurm_vars[i]);
}

static void test_this_machine(void)
{
    clear_slurm();
    unsetenv("HWLOC_XMLFILE");
    topo_node t;
    is_rc(topo_detect(&t), RAY_OK, "this machine's topology loads");
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    is_int((int)t.cpus, CPU_COUNT(&set), "CPUs are those this process may run on (%s)",
           t.cpus_from);
    ok(t.memory_bytes > (64ull << 20), "memory is known (%llu bytes from %s)",
       (unsigned long long)t.memory_bytes, t.memory_from);
}

static void test_fat_node(const char *xml)
{
    clear_slurm();
    setenv("HWLOC_XMLFILE", xml, 1);
    topo_node t;
    is_rc(topo_detect(&t), RAY_OK, "the fat node's XML loads");
    is_int((int)t.cpus, 128, "128 PUs on the fat node");
    is_int((int)t.gpus, 4, "4 GPUs, each counted once though CUDA and NVML both name it");
    ok(t.memory_bytes >= 4 * (64ull << 30), "its memory is the sum of its NUMA nodes (%llu)",
       (unsigned long long)t.memory_bytes);

    setenv("SLURM_CPUS_ON_NODE", "24", 1);
    setenv("SLURM_GPUS_ON_NODE", "2", 1);
    setenv("SLURM_MEM_PER_NODE", "8192", 1);
    topo_detect(&t);
    is_int((int)t.cpus, 24, "Slurm's allocation wins over the hardware: CPUs");
    ok(!strcmp(t.cpus_from, "SLURM_CPUS_ON_NODE"), "and says where it came from (%s)",
       t.cpus_from);
    is_int((int)t.gpus, 2, "GPUs from SLURM_GPUS_ON_NODE");
    is_int((long long)t.memory_bytes, 8192ll << 20, "memory from SLURM_MEM_PER_NODE (MB)");
    setenv("SLURM_GPUS_ON_NODE", "a100:3", 1);
    topo_detect(&t);
    is_int((int)t.gpus, 3, "SLURM_GPUS_ON_NODE=a100:3 counts 3");
    setenv("SLURM_CPUS_ON_NODE", "many", 1);
    setenv("SLURM_GPUS_ON_NODE", "", 1);
    topo_detect(&t);
    is_int((int)t.cpus, 128, "a malformed SLURM_CPUS_ON_NODE is not trusted: hwloc's 128");
    is_int((int)t.gpus, 4, "an empty SLURM_GPUS_ON_NODE: hwloc's 4");
    clear_slurm();
    unsetenv("HWLOC_XMLFILE");
}

static void test_resolve(void)
{
    ray_config cfg;
    topo_node t = {.cpus = 24, .gpus = 2, .memory_bytes = 100ull << 30};
    double cpus, gpus;
    uint64_t store;
    uint32_t maxw;
    unsetenv("RAY_MPI_NUM_CPUS");
    unsetenv("RAY_MPI_OBJECT_STORE_MEMORY");
    ray_config_load(&cfg);
    is_rc(topo_resolve(&cfg, &t, &cpus, &gpus, &store, &maxw), RAY_OK, "auto settings resolve");
    ok(cpus == 24 && gpus == 2, "auto CPUs and GPUs are the node's (%g, %g)", cpus, gpus);
    is_int((long long)store, (long long)((100ull << 30) / 10 * 3 & ~4095ull),
           "the store is 30%% of the node's memory");
    is_int(maxw, 8 * 24, "worker cap: 8 per CPU");
    t.cpus = 2;
    topo_resolve(&cfg, &t, &cpus, &gpus, &store, &maxw);
    is_int(maxw, 64, "worker cap: at least 64");
    setenv("RAY_MPI_NUM_CPUS", "3", 1);
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "2G", 1);
    ray_config_load(&cfg);
    topo_resolve(&cfg, &t, &cpus, &gpus, &store, &maxw);
    ok(cpus == 3, "RAY_MPI_NUM_CPUS overrides the node's CPUs");
    is_int((long long)store, 2ll << 30, "RAY_MPI_OBJECT_STORE_MEMORY overrides the default");
    setenv("RAY_MPI_NUM_CPUS", "0", 1);
    ray_config_load(&cfg);
    is_rc(topo_resolve(&cfg, &t, &cpus, &gpus, &store, &maxw), RAY_EINVAL,
          "a node with 0 CPUs is refused");
    ok(strstr(ray_last_error(), "RAY_MPI_NUM_CPUS") != NULL, "naming the setting: %s",
       ray_last_error());
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "1000", 1);
    ray_config_load(&cfg);
    is_rc(topo_resolve(&cfg, &t, &cpus, &gpus, &store, &maxw), RAY_EINVAL,
          "a store under 1 MiB is refused");
    unsetenv("RAY_MPI_NUM_CPUS");
    unsetenv("RAY_MPI_OBJECT_STORE_MEMORY");
}

int main(int argc, char **argv)
{
    const char *xml = argc > 1 ? argv[1] : getenv("FAT_NODE_XML");
    test_this_machine();
    if (ok(xml != NULL, "fat-node.xml given (FAT_NODE_XML)"))
        test_fat_node(xml);
    test_resolve();
    return tap_done();
}
