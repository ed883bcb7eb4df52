/*
 * floor.c - the machine's floor for a run (peer=floor in BENCHMARKS.md's
 * terms): the same work with no runtime.  The driver forks one plain
 * process per core of its node; together they do the run's tasks, each
 * child its share, one task's work after another (the same spin or
 * kernel, nothing between).  The floor's efficiency is that ideal time
 * over the wall time it took: near 1 on a quiet machine, lower when other
 * programs take the cores.  Measured right after each timed repetition,
 * so that a busy machine shows beside the figure it spoiled.  Each child
 * is pinned to its own CPU of the driver's mask (a new process would
 * share its parent's CPU until the balancer moves it, a millisecond
 * later); the clock starts when every child is forked and pinned (they
 * wait on a shared flag) and stops at the last child's end.  The children
 * call only the clock and the kernel, then _exit: safe after fork.
 */
#define _GNU_SOURCE
#include "dagbench.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 256

typedef struct floor_shared {
    _Atomic int ready;          /* children pinned and waiting */
    _Atomic int go;             /* set once every child is ready */
    double end_s[MAX_CHILDREN]; /* when each child finished */
} floor_shared;

static void child_work(const dag_config *cfg, const dag_point *pt, long tasks, floor_shared *sh,
                       int me, int cpu)
{
    if (cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        sched_setaffinity(0, sizeof(one), &one); /* unpinned if refused: still correct */
    }
    atomic_fetch_add(&sh->ready, 1);
    while (!atomic_load(&sh->go))
        ;
    for (long i = 0; i < tasks; i++) {
        if (cfg->kernel == DAG_KERNEL_FMA)
            dag_fma_kernel(pt->work);
        else
            dag_spin(pt->work);
    }
    sh->end_s[me] = dag_now_s();
    _exit(0);
}

/* Starts n children, each doing its share of `tasks`; returns how many
 * started (the others' share is simply not done: the ideal shrinks). */
static int start_children(const dag_config *cfg, const dag_point *pt, long tasks, int n,
                          floor_shared *sh, pid_t *pids, long *done)
{
    int started = 0, cpus[MAX_CHILDREN], ncpu = dag_affinity_cpus(cpus, MAX_CHILDREN);
    ncpu = ncpu < MAX_CHILDREN ? ncpu : MAX_CHILDREN;
    *done = 0;
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        long share = tasks / n + (i < tasks % n);
        pid_t pid = fork();
        if (pid == 0)
            child_work(cfg, pt, share, sh, started, ncpu ? cpus[i % ncpu] : -1);
        if (pid < 0)
            continue;
        pids[started++] = pid;
        *done += share;
    }
    return started;
}

/* Reaps the children; 1 when each exited 0. */
static int reap(const pid_t *pids, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        int st = -1;
        pid_t got;
        while ((got = waitpid(pids[i], &st, 0)) < 0 && errno == EINTR)
            ;
        ok &= got == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    return ok;
}

double dag_floor_efficiency(const dag_config *cfg, const dag_cluster *cl, const dag_point *pt,
                            long tasks)
{
    int n = (int)floor(cl->cores_per_node);
    if (pt->task_us <= 0 || n < 1 || !cfg->floor)
        return NAN;
    n = n < MAX_CHILDREN ? n : MAX_CHILDREN;
    floor_shared *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return NAN;
    pid_t pids[MAX_CHILDREN];
    long done;
    int started = start_children(cfg, pt, tasks, n, sh, pids, &done);
    double wait_end = dag_now_s() + 5.0;
    while (atomic_load(&sh->ready) < started && dag_now_s() < wait_end)
        sched_yield();
    double t0 = dag_now_s(), last = t0;
    atomic_store(&sh->go, 1);
    int ok = started > 0 && reap(pids, started);
    for (int i = 0; i < started; i++)
        last = sh->end_s[i] > last ? sh->end_s[i] : last;
    munmap(sh, sizeof(*sh));
    double wall = last - t0, ideal = (double)done * pt->task_us * 1e-6 / started;
    return ok && wall > 0 ? ideal / wall : NAN;
}
