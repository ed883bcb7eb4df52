/*
 * test_topo.c - what a node offers, from Slurm's variables when set and
 * from hwloc otherwise: faked with an hwloc XML of a 2-socket, 128-PU node
 * with 4 GPUs (tests/unit/fat-node.xml, HWLOC_XMLFILE or RAY_MPI_TOPOLOGY),
 * the same node as a Slurm cgroup leaves it (fat-node-slurm.xml: cores
 * 16-23 and 48-55 allowed), a node of 3 AMD GPUs (amd-node.xml), and with
 * SLURM_* and *_VISIBLE_DEVICES variables; then the "auto" settings
 * resolved from it.  Placement is test_placement's.
 */
#define _GNU_SOURCE
#include "common/common.h"
#include "topo/topo.h"

#include <sched.h>
#include <stdlib.h>

#include "unit.h"

/* topo_detect with the settings as the environment has them now. */
static int detect(topo_node *t)
{
    ray_config cfg;
    int rc = ray_config_load(&cfg);
    return rc ? rc : topo_detect(&cfg, t);
}

static void test_this_machine(void)
{
    unit_topo_clear();
    unsetenv("HWLOC_XMLFILE");
    topo_node t;
    is_rc(detect(&t), RAY_OK, "this machine's topology loads");
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    is_int((int)t.cpus, CPU_COUNT(&set), "CPUs are those this process may run on (%s)",
           t.cpus_from);
    ok(t.memory_bytes > (64ull << 20), "memory is known (%llu bytes from %s)",
       (unsigned long long)t.memory_bytes, t.memory_from);
}

static void test_fat_node(const char *xml)
{
    unit_topo_clear();
    setenv("HWLOC_XMLFILE", xml, 1);
    topo_node t;
    is_rc(detect(&t), RAY_OK, "the fat node's XML loads");
    is_int((int)t.cpus, 128, "128 PUs on the fat node");
    is_int((int)t.gpus, 4, "4 GPUs, each counted once though CUDA and NVML both name it");
    ok(t.memory_bytes >= 4 * (64ull << 30), "its memory is the sum of its NUMA nodes (%llu)",
       (unsigned long long)t.memory_bytes);

    setenv("SLURM_CPUS_ON_NODE", "24", 1);
    setenv("SLURM_GPUS_ON_NODE", "2", 1);
    setenv("SLURM_MEM_PER_NODE", "8192", 1);
    detect(&t);
    is_int((int)t.cpus, 24, "Slurm's allocation wins over the hardware: CPUs");
    ok(!strcmp(t.cpus_from, "SLURM_CPUS_ON_NODE"), "and says where it came from (%s)", t.cpus_from);
    is_int((int)t.gpus, 2, "GPUs from SLURM_GPUS_ON_NODE");
    is_int((long long)t.memory_bytes, 8192ll << 20, "memory from SLURM_MEM_PER_NODE (MB)");
    setenv("SLURM_GPUS_ON_NODE", "a100:3", 1);
    detect(&t);
    is_int((int)t.gpus, 3, "SLURM_GPUS_ON_NODE=a100:3 counts 3");
    setenv("SLURM_CPUS_ON_NODE", "many", 1);
    setenv("SLURM_GPUS_ON_NODE", "", 1);
    detect(&t);
    is_int((int)t.cpus, 128, "a malformed SLURM_CPUS_ON_NODE is not trusted: hwloc's 128");
    is_int((int)t.gpus, 4, "an empty SLURM_GPUS_ON_NODE: hwloc's 4");
    unit_topo_clear();
    unsetenv("HWLOC_XMLFILE");
}

static void test_resolve(void)
{
    ray_config cfg;
    topo_node t = {.cpus = 24, .gpus = 2, .memory_bytes = 100ull << 30};
    double cpus, gpus;
    uint64_t store_b;
    uint32_t maxw;
    unsetenv("RAY_MPI_NUM_CPUS");
    unsetenv("RAY_MPI_OBJECT_STORE_MEMORY");
    ray_config_load(&cfg);
    is_rc(topo_resolve(&cfg, &t, &cpus, &gpus, &store_b, &maxw), RAY_OK, "auto settings resolve");
    ok(cpus == 24 && gpus == 2, "auto CPUs and GPUs are the node's (%g, %g)", cpus, gpus);
    is_int((long long)store_b, (long long)((100ull << 30) / 10 * 3 & ~4095ull),
           "the store is 30%% of the node's memory");
    is_int(maxw, 8 * 24, "worker cap: 8 per CPU");
    t.cpus = 2;
    topo_resolve(&cfg, &t, &cpus, &gpus, &store_b, &maxw);
    is_int(maxw, 64, "worker cap: at least 64");
    setenv("RAY_MPI_NUM_CPUS", "3", 1);
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "2G", 1);
    ray_config_load(&cfg);
    topo_resolve(&cfg, &t, &cpus, &gpus, &store_b, &maxw);
    ok(cpus == 3, "RAY_MPI_NUM_CPUS overrides the node's CPUs");
    is_int((long long)store_b, 2ll << 30, "RAY_MPI_OBJECT_STORE_MEMORY overrides the default");
    setenv("RAY_MPI_NUM_CPUS", "0", 1);
    ray_config_load(&cfg);
    is_rc(topo_resolve(&cfg, &t, &cpus, &gpus, &store_b, &maxw), RAY_EINVAL,
          "a node with 0 CPUs is refused");
    ok(strstr(ray_last_error(), "RAY_MPI_NUM_CPUS") != NULL, "naming the setting: %s",
       ray_last_error());
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "1000", 1);
    ray_config_load(&cfg);
    is_rc(topo_resolve(&cfg, &t, &cpus, &gpus, &store_b, &maxw), RAY_EINVAL,
          "a store under 1 MiB is refused");
    unsetenv("RAY_MPI_NUM_CPUS");
    unsetenv("RAY_MPI_OBJECT_STORE_MEMORY");
}

static void test_job_cpus_syntax(void)
{
    is_int(topo_slurm_count_at("4(x2),2", 0), 4, "SLURM_JOB_CPUS_PER_NODE=4(x2),2: node 0 has 4");
    is_int(topo_slurm_count_at("4(x2),2", 1), 4, "  ... node 1 has 4");
    is_int(topo_slurm_count_at("4(x2),2", 2), 2, "  ... node 2 has 2");
    is_int(topo_slurm_count_at("4(x2),2", 3), -1, "  ... there is no node 3");
    is_int(topo_slurm_count_at("72", 0), 72, "72: one node of 72");
    is_int(topo_slurm_count_at("2,36(x3),8", 4), 8, "2,36(x3),8: node 4 has 8");
    is_int(topo_slurm_count_at("2,36(x3),8", 3), 36, "  ... node 3 has 36");
    static const char *bad[] = {"", "x", "4(x2", "4(x0)", "4(2)", "4,(x2)", "4x", "-1", "4,,2"};
    int refused = 0;
    for (size_t i = 0; i < RAY_ARRAY_SIZE(bad); i++)
        refused += topo_slurm_count_at(bad[i], 0) == -1 && topo_slurm_count_at(bad[i], 1) == -1;
    is_int(refused, (int)RAY_ARRAY_SIZE(bad), "malformed lists (\"\", 4(x2, 4(x0), ...) count -1");
}

/* A node Slurm gave 16 of 64 cores (cgroup) and 2 of 4 GPUs. */
static void test_slurm_allocation(void)
{
    unit_topo_clear();
    unit_topo_use("fat-node-slurm.xml");
    topo_node t;
    is_rc(detect(&t), RAY_OK, "the Slurm-restricted fat node loads");
    is_int((int)t.cpus, 32, "its cgroup cpuset: 32 PUs (16 cores)");
    ok(!strcmp(t.cpus_from, "cgroup cpuset"), "  ... from the cgroup cpuset (%s)", t.cpus_from);
    is_int(t.numa, 2, "  ... in 2 NUMA domains");
    is_int((long long)t.memory_bytes, 128ll << 30, "memory: its 2 allowed NUMA nodes, 128 GiB");
    setenv("SLURM_CPUS_ON_NODE", "64", 1);
    detect(&t);
    is_int((int)t.cpus, 32, "SLURM_CPUS_ON_NODE=64 above the cpuset: the cpuset's 32");
    setenv("SLURM_CPUS_ON_NODE", "32", 1);
    setenv("SLURM_MEM_PER_CPU", "2048", 1);
    setenv("CUDA_VISIBLE_DEVICES", "1,3", 1);
    setenv("SLURM_GPUS_ON_NODE", "2", 1);
    detect(&t);
    ok(t.cpus == 32 && !strcmp(t.cpus_from, "SLURM_CPUS_ON_NODE"),
       "32 CPUs from SLURM_CPUS_ON_NODE (%s)", t.cpus_from);
    is_int((long long)t.memory_bytes, 64ll << 30, "SLURM_MEM_PER_CPU=2048 x 32 CPUs: 64 GiB");
    ok(!strcmp(t.memory_from, "SLURM_MEM_PER_CPU x 32 CPUs"), "  ... and says so (%s)",
       t.memory_from);
    ok(t.gpus == 2 && !strcmp(t.gpus_from, "CUDA_VISIBLE_DEVICES"),
       "CUDA_VISIBLE_DEVICES=1,3: 2 GPUs (%s)", t.gpus_from);
    unsetenv("SLURM_CPUS_ON_NODE");
    setenv("SLURM_JOB_CPUS_PER_NODE", "32(x2),8", 1);
    setenv("SLURM_NODEID", "2", 1);
    detect(&t);
    ok(t.cpus == 8 && !strcmp(t.cpus_from, "SLURM_JOB_CPUS_PER_NODE"),
       "SLURM_JOB_CPUS_PER_NODE=32(x2),8 on SLURM_NODEID=2: 8 CPUs (%g, %s)", t.cpus, t.cpus_from);
    is_int((long long)t.memory_bytes, 16ll << 30, "  ... and 2048 MB x 8 CPUs of memory");
    unit_topo_clear();
}

/* Which GPUs the job may use: *_VISIBLE_DEVICES, NoDevFiles, counts. */
static void test_visible_gpus(void)
{
    unit_topo_clear();
    unit_topo_use("fat-node.xml");
    topo_node t;
    setenv("CUDA_VISIBLE_DEVICES", "2", 1);
    detect(&t);
    is_int((int)t.gpus, 1, "CUDA_VISIBLE_DEVICES=2: 1 GPU");
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    detect(&t);
    is_int((int)t.gpus, 0, "CUDA_VISIBLE_DEVICES=\"\": no GPU (CUDA's meaning)");
    setenv("CUDA_VISIBLE_DEVICES", "0,7", 1);
    detect(&t);
    is_int((int)t.gpus, 2, "CUDA_VISIBLE_DEVICES=0,7: 2 GPUs, one of them unseen by hwloc");
    setenv("CUDA_VISIBLE_DEVICES", "NoDevFiles", 1);
    setenv("SLURM_GPUS_ON_NODE", "3", 1);
    detect(&t);
    ok(t.gpus == 3 && strstr(t.gpus_from, "SLURM_GPUS_ON_NODE") &&
           strstr(t.gpus_from, "NoDevFiles"),
       "CUDA_VISIBLE_DEVICES=NoDevFiles: Slurm's count, 3 (%s)", t.gpus_from);
    unsetenv("SLURM_GPUS_ON_NODE");
    detect(&t);
    is_int((int)t.gpus, 4, "NoDevFiles alone: all 4 GPUs of the node");
    unit_topo_clear();
    unit_topo_use("amd-node.xml");
    detect(&t);
    is_int((int)t.gpus, 3, "3 AMD GPUs, each once though RSMI and OpenCL both name it");
    setenv("ROCR_VISIBLE_DEVICES", "GPU-000000000000002a,0", 1);
    detect(&t);
    ok(t.gpus == 2 && !strcmp(t.gpus_from, "ROCR_VISIBLE_DEVICES"),
       "ROCR_VISIBLE_DEVICES by UUID and index: 2 GPUs (%s)", t.gpus_from);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    detect(&t);
    is_int((int)t.gpus, 2, "CUDA_VISIBLE_DEVICES does not hide AMD GPUs");
    unit_topo_clear();
}

int main(int argc, char **argv)
{
    const char *xml = argc > 1 ? argv[1] : getenv("FAT_NODE_XML");
    unit_topo_clear();
    test_this_machine();
    if (ok(xml != NULL, "fat-node.xml given (FAT_NODE_XML)"))
        test_fat_node(xml);
    test_resolve();
    test_job_cpus_syntax();
    if (ok(getenv("TOPO_XML_DIR") != NULL, "the fake nodes' directory given (TOPO_XML_DIR)")) {
        test_slurm_allocation();
        test_visible_gpus();
    }
    return tap_done();
}
