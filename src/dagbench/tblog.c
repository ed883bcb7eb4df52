/*
 * tblog.c - --taskbench-log: per timed repetition, the lines Task Bench
 * prints for one execution (App::display, then App::report_timing in
 * core/core.cc), with its wording, indentation and number formats, so
 * that Task Bench's scripts (chart_metg.py's regular expressions: Time
 * Steps, Max Width, Iterations, Output Bytes, Total Tasks, Total FLOPs,
 * Total Bytes, Elapsed Time) read a ray-mpi run as one of theirs.  With
 * --task-us the kernel is a spin and "Iterations" is its length in ns, so
 * those scripts order and scale runs by task size as they do by
 * iterations.  Local and nonlocal dependencies come from the placement
 * (Task Bench estimates them from a block distribution).
 */
#include "dagbench.h"

#include <math.h>

static void display(const dag_config *cfg, const dag_point *pt)
{
    const dag_shape *s = &cfg->shape;
    int fma = cfg->kernel == DAG_KERNEL_FMA;
    printf("Running Task Benchmark\n");
    printf("  Configuration:\n");
    printf("    Task Graph 1:\n");
    printf("      Time Steps: %ld\n", s->steps);
    printf("      Max Width: %ld\n", s->width);
    printf("      Dependence Type: %s\n", dag_kind_name(s->kind));
    printf("      Radix: %ld\n", s->radix);
    printf("      Period: %ld\n", s->period);
    printf("      Fraction Connected: %f\n", s->fraction);
    printf("      Kernel:\n");
    printf("        Type: %s\n", fma ? "compute_bound" : "spin_ns");
    printf("        Iterations: %llu\n", (unsigned long long)pt->work);
    printf("        Samples: %d\n", 16);
    printf("        Imbalance: %f\n", 0.0);
    printf("      Output Bytes: %ld\n", cfg->bytes);
    printf("      Scratch Bytes: %d\n", 0);
}

static void dependencies(const dag_config *cfg, const dag_cluster *cl, const dag_result *r,
                         long long deps, long long *nonlocal)
{
    printf("Total Dependencies %lld\n", deps);
    *nonlocal = -1;
    if (cl->nodes > 1 && !isnan(r->bytes_moved)) {
        *nonlocal = (long long)llround(r->bytes_moved / (double)cfg->bytes);
        printf("  Local Dependencies %lld (estimated)\n", deps - *nonlocal);
        printf("  Nonlocal Dependencies %lld (estimated)\n", *nonlocal);
        printf("  Number of Nodes (used for estimate) %d\n", cl->nodes);
    } else {
        printf("  Unable to estimate local/nonlocal dependencies\n");
    }
}

static void transfer(const dag_config *cfg, long long deps, long long nonlocal, double elapsed)
{
    printf("Transfer (estimated):\n");
    if (nonlocal < 0) {
        printf("  Unable to estimate local/nonlocal transfer\n");
        return;
    }
    long long local_bytes = (deps - nonlocal) * cfg->bytes, far_bytes = nonlocal * cfg->bytes;
    printf("  Local Bytes %lld\n", local_bytes);
    printf("  Nonlocal Bytes %lld\n", far_bytes);
    printf("  Local Bandwidth %e B/s\n", local_bytes / elapsed);
    printf("  Nonlocal Bandwidth %e B/s\n", far_bytes / elapsed);
}

void dag_report_taskbench(const dag_config *cfg, const dag_cluster *cl, const dag_point *pt,
                          const dag_result *r)
{
    static long long deps = -1; /* the graph is the same for the whole program */
    if (deps < 0)
        deps = dag_total_deps(&cfg->shape);
    long long tasks = r->tasks, nonlocal;
    long long flops = cfg->kernel == DAG_KERNEL_FMA ? tasks * dag_fma_flops(pt->iterations) : 0;
    double elapsed = r->makespan_s;
    display(cfg, pt);
    printf("Total Tasks %lld\n", tasks);
    dependencies(cfg, cl, r, deps, &nonlocal);
    printf("Total FLOPs %lld\n", flops);
    printf("Total Bytes %lld\n", 0LL); /* the kernels touch no memory beyond registers */
    printf("Elapsed Time %e seconds\n", elapsed);
    printf("FLOP/s %e\n", flops / elapsed);
    printf("B/s %e\n", 0.0 / elapsed);
    transfer(cfg, deps, nonlocal, elapsed);
    fflush(stdout);
}
