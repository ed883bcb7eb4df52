/*
 * unit.h - helpers shared by the unit tests in tests/unit: a seeded random
 * generator (tests are deterministic), anonymous shared mappings and
 * children for the multi-process tests, and a node's control region and
 * arena built by hand (as the node service does) for the sched and store
 * tests.  Header-only and all static inline, so each test takes what it
 * uses.
 */
#ifndef RAY_TEST_UNIT_H
#define RAY_TEST_UNIT_H

#include "common/common.h"
#include "sched/sched.h"
#include "store/store.h"
#include "lib/tap.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- deterministic randomness (splitmix64) */

static uint64_t unit_rng_state = 0x9e3779b97f4a7c15ull;

static inline void unit_seed(uint64_t seed)
{
    unit_rng_state = seed;
}

static inline uint64_t unit_rand(void)
{
    uint64_t z = (unit_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t unit_below(uint64_t n)
{
    return n ? unit_rand() % n : 0;
}

/* ---- processes */

/* Zeroed memory shared with children forked after this call. */
static inline void *unit_shared(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline void unit_unshare(void *p, size_t bytes)
{
    munmap(p, bytes);
}

/* The kernel's id of the calling thread, never a cached one. */
static inline uint32_t unit_tid(void)
{
    return (uint32_t)syscall(SYS_gettid);
}

/* Forks after flushing stdout, so no TAP line is printed twice. */
static inline pid_t unit_fork(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { /* never hand -1 to a later kill(): that is every process */
        printf("Bail out! fork: %s\n", strerror(errno));
        exit(1);
    }
    return pid;
}

/* Exit status of a child, or 128 + signal if a signal ended it. */
static inline int unit_wait(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* ---- a node's control region and arena, as the node service makes them */

typedef struct unit_node {
    sched sh;
    sched_layout layout;
    int ctl_fd, arena_fd;
} unit_node;

static inline int unit_node_create(unit_node *u, uint32_t max_objects, uint32_t max_tasks,
                                   uint32_t max_clients, uint32_t max_actors, uint64_t arena_size,
                                   double cpus)
{
    sched_layout *l = &u->layout;
    sched_layout_compute(l, max_objects, max_tasks, max_clients, max_actors, arena_size);
    u->ctl_fd = ray_memfd_create("unit-ctl", l->total);
    u->arena_fd = ray_memfd_create("unit-arena", arena_size);
    if (u->ctl_fd < 0 || u->arena_fd < 0)
        return RAY_ESYS;
    void *ctl = ray_map(u->ctl_fd, l->total, PROT_READ | PROT_WRITE);
    if (!ctl)
        return RAY_ESYS;
    sched_region_init(ctl, l, 0, 1, 0x5a5a, cpus, 0);
    ray_unmap(ctl, l->total);
    return sched_attach(&u->sh, u->ctl_fd, l->total, u->arena_fd, arena_size, -1, 1);
}

static inline void unit_node_destroy(unit_node *u)
{
    sched_detach(&u->sh);
    close(u->ctl_fd);
    close(u->arena_fd);
}

/* ---- fake nodes for src/topo: hwloc XMLs of tests/unit (TOPO_XML_DIR) and
 * the variables a launcher leaves */

/* Unsets every variable src/topo reads, so a test starts from a bare node. */
static inline void unit_topo_clear(void)
{
    static const char *const vars[] = {
        "SLURM_CPUS_ON_NODE",   "SLURM_GPUS_ON_NODE",  "SLURM_MEM_PER_NODE",
        "SLURM_MEM_PER_CPU",    "SLURM_CPUS_PER_TASK", "SLURM_JOB_CPUS_PER_NODE",
        "SLURM_NODEID",         "SLURM_LOCALID",       "CUDA_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK",    "OMPI_COMM_WORLD_LOCAL_RANK",
        "PMIX_LOCAL_RANK",      "HWLOC_XMLFILE",       "RAY_MPI_TOPOLOGY",
        "RAY_MPI_PER_NUMA",     "RAY_MPI_BIND",        "RAY_MPI_NUM_CPUS",
        "RAY_MPI_NUM_GPUS"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* RAY_MPI_TOPOLOGY=$TOPO_XML_DIR/name; 0 when TOPO_XML_DIR is not set. */
static inline int unit_topo_use(const char *name)
{
    const char *dir = getenv("TOPO_XML_DIR");
    char path[4096];
    if (!dir)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    setenv("RAY_MPI_TOPOLOGY", path, 1);
    return 1;
}

#endif /* RAY_TEST_UNIT_H */
