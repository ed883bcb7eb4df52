/*
 * dagbench.h - what the files of ray-mpi-dagbench share: the run's
 * configuration (options.c), the task and its checksums (task.c), the
 * job's size (cluster.c), one timed execution of a graph (run.c) and the
 * reports (report.c).  Only the public API (ray_mpi.h) is used.
 */
#ifndef DAGBENCH_H
#define DAGBENCH_H

#include "metg.h"
#include "shapes.h"

#include <ray_mpi.h>
#include <stdint.h>
#include <stdio.h>

#define DAG_MAX_SWEEP 64
#define DAG_MAX_REPS  100

enum dag_kernel { DAG_KERNEL_SPIN, DAG_KERNEL_FMA };
enum dag_placement { DAG_PLACE_ANY, DAG_PLACE_SPREAD, DAG_PLACE_NODE };
enum dag_sweep { DAG_SWEEP_NONE, DAG_SWEEP_TASK_US, DAG_SWEEP_ITERATIONS };

typedef struct dag_config {
    dag_shape shape;
    int kernel;        /* DAG_KERNEL_SPIN: --task-us; DAG_KERNEL_FMA: --iterations */
    double task_us;    /* busy-spin per task */
    long iterations;   /* compute-bound kernel iterations per task */
    long bytes;        /* output bytes per task (>= 8: the checksum) */
    int placement;     /* enum dag_placement */
    int reps, warmup;  /* timed repetitions, untimed ones before them */
    long window;       /* tasks submitted and not yet checked, at most */
    double timeout_s;  /* one execution of the graph, at most */
    int json;          /* one JSON object per run instead of the lines */
    int taskbench_log; /* Task Bench's summary lines per repetition */
    int progress;      /* -1: when stderr is a terminal */
    int floor;         /* measure the machine's floor after each repetition (floor.c) */
    double cores;      /* --cores; 0: detect */
    int sweep;         /* enum dag_sweep */
    int nsweep;
    double sweep_values[DAG_MAX_SWEEP];
    long inject_t, inject_p; /* developer: this task returns a wrong checksum (-1: none) */
} dag_config;

/* Parses argv into cfg (no output, no side effects: workers run it too).
 * Returns 0, 1 for --help, or 2 with the message in err. */
int dag_options_parse(int argc, char **argv, dag_config *cfg, char *err, size_t size);
void dag_options_help(FILE *out, const char *prog);
void dag_store_default(const dag_config *cfg);

/* ---- the task (task.c) */

typedef struct dag_task_hdr {
    int32_t t, p;
    uint32_t bytes; /* of each output */
    uint16_t nret;
    uint16_t flags; /* DAG_F_* */
    uint64_t work;  /* ns to spin, or kernel iterations */
} dag_task_hdr;
#define DAG_F_FMA    1u
#define DAG_F_INJECT 2u
#define DAG_F_GATE   4u /* spin until cancelled (cluster.c's probes wait on it) */
#define DAG_TASK_FN  "dagbench_task"
#define DAG_NODE_AT  8 /* the task's node (int32) sits here when bytes >= 12 */

/* The checksum of task (t, p): started from (t, p), one step per input
 * checksum in input order, then one value per output. */
uint64_t dag_sum_start(long t, long p);
uint64_t dag_sum_add(uint64_t h, uint64_t input);
uint64_t dag_sum_output(uint64_t h, int output);
/* The tasks' work: a busy-spin of ns, or the compute_bound kernel. */
void dag_spin(uint64_t ns);
void dag_fma_kernel(uint64_t iterations);
/* FLOPs of one compute-bound task (Task Bench's count_flops_per_task). */
long long dag_fma_flops(long iterations);
/* ns per kernel iteration on this core (best of a few timed runs). */
double dag_fma_ns_per_iteration(void);
double dag_now_s(void);

/* ---- the job (cluster.c) */

typedef struct dag_cluster {
    int nodes, driver_node;
    double cores_per_node, cores;
    char cores_from[256]; /* how cores was found, for the reports */
} dag_cluster;
int dag_cluster_detect(const dag_config *cfg, dag_cluster *out);
/* The CPU count of this node by the runtime's own rule (README). */
double dag_cpus_by_rule(char *from, size_t size);
/* The CPUs this process may run on: how many; the first max of them in
 * list. */
int dag_affinity_cpus(int *list, int max);

/* ---- one execution (run.c) */

typedef struct dag_point {
    double task_us;  /* the task's own time (spin, or iterations x calibration) */
    long iterations; /* the kernel's, 0 in spin mode */
    uint64_t work;   /* what the header carries: ns to spin, or iterations */
} dag_point;

typedef struct dag_result {
    double makespan_s;        /* first submit to last task done */
    double check_s;           /* the driver's checks of what was left after that */
    long tasks, checked;
    int ok;                   /* every output present with its expected checksum */
    long bad_t, bad_p, wrong; /* the first wrong task, and how many */
    int bad_output;
    uint64_t expected, got;
    double bytes_moved; /* between nodes, per dependence edge; nan: unknown */
    double rank0_msgs;  /* messages in and out of rank 0 (the driver's node) per task */
    char error[512];    /* why it failed, when it did */
} dag_result;

int dag_run(const dag_config *cfg, const dag_cluster *cl, const dag_point *pt, dag_result *res);

/* The same work by plain processes, one per core of this node (floor.c):
 * ideal time / wall time; nan when not measured. */
double dag_floor_efficiency(const dag_config *cfg, const dag_cluster *cl, const dag_point *pt,
                            long tasks);

/* ---- figures and reports (report.c, json.c, tblog.c) */

enum dag_metric_id {
    DAG_M_TASKS,
    DAG_M_MAKESPAN,
    DAG_M_RATE,
    DAG_M_GRANULARITY, /* makespan x cores / tasks, us */
    DAG_M_OVERHEAD,    /* granularity - task_us */
    DAG_M_EFFICIENCY,  /* task_us / granularity */
    DAG_M_MOVED,
    DAG_M_GFLOPS, /* compute_bound only */
    DAG_M_RANK0,  /* ray_stats' net messages of the driver's node (rank 0), per task */
    DAG_M_COUNT
};
typedef struct dag_metric_def {
    const char *name, *unit;
} dag_metric_def;
extern const dag_metric_def dag_metrics[DAG_M_COUNT];

typedef struct dag_stat {
    double median, min, max; /* nan values skipped; all nan: nan */
} dag_stat;

typedef struct dag_series {
    dag_point point;
    int n;
    dag_result runs[DAG_MAX_REPS];
    char load[DAG_MAX_REPS][64];
    double load1[DAG_MAX_REPS];
    double floor_eff[DAG_MAX_REPS]; /* the machine's floor after each (nan: not measured) */
} dag_series;

double dag_metric(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int rep,
                  int m);
int dag_metric_shown(const dag_config *cfg, int m);
void dag_stats(const double *v, int n, dag_stat *out);
void dag_metric_stats(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int m,
                      dag_stat *out);
int dag_series_ok(const dag_series *s);
void dag_load_range(const dag_series *s, double *lo, double *hi);
void dag_suffix(const dag_config *cfg, const dag_point *pt, char *buf, size_t size);
void dag_sweep_order(const dag_series *s, int n, int *order);
int dag_sweep_metg(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n,
                   int rep, dag_metg_result *out);
void dag_sweep_summary(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n,
                       dag_metg_summary *out);

void dag_report_header(const dag_config *cfg, const dag_cluster *cl, double ns_per_it);
void dag_report_series(const dag_config *cfg, const dag_cluster *cl, const dag_series *s);
void dag_report_taskbench(const dag_config *cfg, const dag_cluster *cl, const dag_point *pt,
                          const dag_result *r);
void dag_report_sweep(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n);
void dag_json_series(const dag_config *cfg, const dag_cluster *cl, const dag_series *s);
void dag_json_sweep(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n);
void dag_read_load(char *text, size_t size, double *one);

#endif
