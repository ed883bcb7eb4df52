/*
 * cluster.c - the size of the job ray-mpi-dagbench runs in: its nodes
 * (ray_num_nodes) and its cores, the CPUs the runtime offers to tasks.
 * The public API has no call for the CPU count, so it is found twice: by
 * the runtime's rule in short (RAY_MPI_NUM_CPUS, else the CPUs this
 * process may run on, capped by SLURM_CPUS_ON_NODE), and by asking the
 * runtime which num_cpus it accepts: ray_submit refuses a request beyond the largest
 * node with RAY_EINFEASIBLE at once; a probe it accepts waits for a gate
 * task (an argument not ready) and is cancelled there, so it never runs
 * or makes the node start a worker of its size.  When the two disagree (say `ray-mpi --num-cpus 4`
 * without the variable), the runtime's answer wins.  Every node is taken
 * to offer what the largest does; --cores sets the total instead.
 */
#define _GNU_SOURCE
#include "dagbench.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *dag_env(const char *name);

int dag_affinity_cpus(int *list, int max)
{
    cpu_set_t *set = CPU_ALLOC(4096);
    size_t size = CPU_ALLOC_SIZE(4096);
    int n = 0;
    if (set && sched_getaffinity(0, size, set) == 0)
        for (int c = 0; c < 4096; c++)
            if (CPU_ISSET_S(c, size, set)) {
                if (n < max)
                    list[n] = c;
                n++;
            }
    CPU_FREE(set);
    return n;
}

static int env_cpus(const char *name, double *out)
{
    const char *v = dag_env(name);
    if (!v || !*v || !strcasecmp(v, "auto"))
        return 0;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d > 0) || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

double dag_cpus_by_rule(char *from, size_t size)
{
    double d, mine = dag_affinity_cpus(NULL, 0);
    if (env_cpus("RAY_MPI_NUM_CPUS", &d)) {
        snprintf(from, size, "RAY_MPI_NUM_CPUS");
        return d;
    }
    if (env_cpus("SLURM_CPUS_ON_NODE", &d) && d >= 1 && d <= mine) {
        snprintf(from, size, "SLURM_CPUS_ON_NODE");
        return d;
    }
    snprintf(from, size, "the CPUs this process may run on");
    return mine;
}

static ray_ref gate; /* the probes' argument, not ready while they are asked */

static int gate_open(void)
{
    dag_task_hdr h = {-1, -1, 8, 1, DAG_F_GATE, 10000000000ull}; /* 10 s at most */
    ray_arg a = ray_arg_val(&h, sizeof(h));
    return ray_submit(DAG_TASK_FN, &a, 1, NULL, &gate);
}

static void gate_close(void)
{
    ray_buf b;
    ray_cancel(gate, 0);
    ray_get(gate, &b, 15); /* its value, or the cancellation: either ends it */
    ray_release(gate);
}

/* 1: the runtime accepts a task of `cpus` CPUs (then cancelled), 0: it
 * refuses it as infeasible, -1: it answered something else. */
static int accepts(double cpus)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_cpus = cpus;
    o.max_retries = 0;
    o.name = "dagbench_cpu_probe";
    dag_task_hdr h = {-1, -1, 8, 1, 0, 0};
    ray_arg a[2] = {ray_arg_val(&h, sizeof(h)), ray_arg_ref(gate)};
    ray_ref r;
    int rc = ray_submit(DAG_TASK_FN, a, 2, &o, &r);
    if (rc == RAY_EINFEASIBLE)
        return 0;
    if (rc)
        return -1;
    ray_cancel(r, 0);
    ray_release(r);
    return 1;
}

/* The largest num_cpus the runtime accepts, in thousandths (its unit),
 * by bisection; 0 if it does not answer as expected. */
static double largest_accepted(void)
{
    long lo = 0, hi = 1000000000L; /* accepted, refused (1e6 CPUs) */
    if (accepts(1e6) != 0 || accepts(0.001) != 1)
        return 0;
    while (hi - lo > 1) {
        long mid = lo + (hi - lo) / 2;
        int a = accepts(mid / 1000.0);
        if (a < 0)
            return 0;
        *(a ? &lo : &hi) = mid;
    }
    return lo / 1000.0;
}

static double runtime_cpus(double rule, char *how, size_t size)
{
    if (rule > 0 && accepts(rule) == 1 && accepts(rule + 0.001) == 0) {
        snprintf(how, size, "confirmed by the runtime: it accepts num_cpus=%g, refuses %g", rule,
                 rule + 0.001);
        return rule;
    }
    double got = largest_accepted();
    if (got > 0)
        snprintf(how, size, "the runtime accepts num_cpus up to %g", got);
    else
        snprintf(how, size, "the runtime did not answer a num_cpus probe; the rule stands");
    return got > 0 ? got : rule;
}

int dag_cluster_detect(const dag_config *cfg, dag_cluster *out)
{
    memset(out, 0, sizeof(*out));
    out->nodes = ray_num_nodes();
    out->driver_node = ray_node_id();
    if (out->nodes < 1) {
        fprintf(stderr, "ray-mpi-dagbench: ray_num_nodes: %s\n", ray_last_error());
        return -1;
    }
    if (cfg->cores > 0) {
        out->cores = cfg->cores;
        out->cores_per_node = cfg->cores / out->nodes;
        snprintf(out->cores_from, sizeof(out->cores_from), "--cores");
        return 0;
    }
    char rule_from[64], how[96];
    double rule = dag_cpus_by_rule(rule_from, sizeof(rule_from));
    if (gate_open()) {
        snprintf(how, sizeof(how), "not confirmed: %s", ray_last_error());
        out->cores_per_node = rule;
    } else {
        out->cores_per_node = runtime_cpus(rule, how, sizeof(how));
        gate_close();
    }
    out->cores = out->cores_per_node * out->nodes;
    snprintf(out->cores_from, sizeof(out->cores_from), "%s=%g per node, %s", rule_from, rule, how);
    return out->cores > 0 ? 0 : -1;
}
