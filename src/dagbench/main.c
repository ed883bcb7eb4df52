/*
 * main.c - ray-mpi-dagbench: benchmarks large task graphs on ray-mpi.
 * Parses the options (before ray_init: workers re-run this program with
 * the same argv and must come to the same answer silently), starts the
 * runtime, finds the job's size, then for each task size (one, or each
 * value of --sweep) runs the graph --warmup times untimed and --reps
 * times timed, and reports.  Exit status: 0 when every output of every
 * timed run was checked right, 1 when a check or a run failed, 2 for bad
 * options.
 */
#include "dagbench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void make_point(const dag_config *cfg, int i, double ns_per_it, dag_point *pt)
{
    memset(pt, 0, sizeof(*pt));
    if (cfg->kernel == DAG_KERNEL_SPIN) {
        pt->task_us = cfg->sweep ? cfg->sweep_values[i] : cfg->task_us;
        pt->work = (uint64_t)llround(pt->task_us * 1000.0);
    } else {
        pt->iterations = cfg->sweep ? (long)cfg->sweep_values[i] : cfg->iterations;
        pt->work = (uint64_t)pt->iterations;
        pt->task_us = (double)pt->iterations * ns_per_it / 1000.0;
    }
}

/* Warm-ups, then the timed repetitions; -1 when a run failed outright
 * (the runtime's error, a timeout): what follows would measure its
 * leftovers, so the program stops after reporting. */
static int run_series(const dag_config *cfg, const dag_cluster *cl, dag_series *s)
{
    static dag_result scratch;
    for (int i = 0; i < cfg->warmup; i++)
        if (dag_run(cfg, cl, &s->point, &scratch)) {
            s->runs[0] = scratch;
            s->floor_eff[0] = NAN;
            s->n = 1;
            dag_read_load(s->load[0], sizeof(s->load[0]), &s->load1[0]);
            return -1;
        }
    for (s->n = 0; s->n < cfg->reps;) {
        int i = s->n++, rc = dag_run(cfg, cl, &s->point, &s->runs[i]);
        dag_read_load(s->load[i], sizeof(s->load[i]), &s->load1[i]);
        s->floor_eff[i] = rc ? NAN : dag_floor_efficiency(cfg, cl, &s->point, s->runs[i].tasks);
        if (cfg->taskbench_log)
            dag_report_taskbench(cfg, cl, &s->point, &s->runs[i]);
        if (rc)
            return -1;
    }
    return 0;
}

static int all_ok(const dag_series *s, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= dag_series_ok(&s[i]);
    return ok;
}

static int run_all(const dag_config *cfg, const dag_cluster *cl, double ns_per_it)
{
    int npoints = cfg->sweep ? cfg->nsweep : 1, done = 0, failed = 0;
    dag_series *s = calloc((size_t)npoints, sizeof(*s));
    if (!s) {
        fprintf(stderr, "ray-mpi-dagbench: out of memory for %d series\n", npoints);
        return 1;
    }
    while (done < npoints && !failed) {
        make_point(cfg, done, ns_per_it, &s[done].point);
        failed = run_series(cfg, cl, &s[done]);
        if (cfg->json)
            dag_json_series(cfg, cl, &s[done]);
        else
            dag_report_series(cfg, cl, &s[done]);
        done++;
    }
    if (cfg->sweep && !failed && cfg->json)
        dag_json_sweep(cfg, cl, s, done);
    else if (cfg->sweep && !failed)
        dag_report_sweep(cfg, cl, s, done);
    int ok = !failed && all_ok(s, done);
    free(s);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    static dag_config cfg;
    char err[512];
    int rc = dag_options_parse(argc, argv, &cfg, err, sizeof(err));
    if (rc == 1) {
        dag_options_help(stdout, argv[0]);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "ray-mpi-dagbench: %s\n", err);
        return 2;
    }
    dag_store_default(&cfg);
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "ray-mpi-dagbench: ray_init: %s\n", ray_last_error());
        return 1;
    }
    dag_cluster cl;
    int status = 1;
    if (dag_cluster_detect(&cfg, &cl) == 0) {
        double ns_per_it = cfg.kernel == DAG_KERNEL_FMA ? dag_fma_ns_per_iteration() : 0;
        if (!cfg.json)
            dag_report_header(&cfg, &cl, ns_per_it);
        status = run_all(&cfg, &cl, ns_per_it);
    } else {
        fprintf(stderr, "ray-mpi-dagbench: cannot tell the job's cores; set --cores\n");
    }
    if (ray_shutdown() && !status) {
        fprintf(stderr, "ray-mpi-dagbench: ray_shutdown: %s\n", ray_last_error());
        status = 1;
    }
    return status;
}
