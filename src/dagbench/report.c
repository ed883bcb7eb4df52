/*
 * report.c - the figures of a series of runs and their lines in the format
 * of shared/BENCHMARKS.md: a `# ...` line per repetition and metric, then
 * one summary line per metric (median, min, max over the repetitions, the
 * range of the 1-minute load, check=ok|FAIL).  The workload is
 * dag_<shape>; in a sweep each metric name ends with the task size
 * (`efficiency_10us`, `tasks_per_s_it1000`), and the sweep ends with the
 * efficiency curve and METG(50%) (metg.c).  JSON (json.c) and Task
 * Bench's log (tblog.c) read the same figures through dag_metric.
 */
#include "dagbench.h"
#include "metg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const dag_metric_def dag_metrics[DAG_M_COUNT] = {
    {"tasks", "tasks"},       {"makespan_s", "s"},         {"tasks_per_s", "tasks/s"},
    {"granularity_us", "us"}, {"overhead_us", "us"},       {"efficiency", "fraction"},
    {"bytes_moved", "B"},     {"gflops_per_s", "GFLOP/s"}, {"rank0_msgs_per_task", "msgs/task"},
};


void dag_read_load(char *text, size_t size, double *one)
{
    char a[16] = "nan", b[16] = "nan", c[16] = "nan";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%15s %15s %15s", a, b, c) != 3)
            strcpy(a, "nan");
        fclose(f);
    }
    *one = strtod(a, NULL);
    snprintf(text, size, "%s/%s/%s", a, b, c);
}

int dag_metric_shown(const dag_config *cfg, int m)
{
    return m != DAG_M_GFLOPS || cfg->kernel == DAG_KERNEL_FMA;
}

double dag_metric(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int rep, int m)
{
    const dag_result *r = &s->runs[rep];
    double n = (double)r->tasks, span = r->makespan_s, gran = span * cl->cores / n * 1e6;
    switch (m) {
    case DAG_M_TASKS:
        return n;
    case DAG_M_MAKESPAN:
        return span;
    case DAG_M_RATE:
        return n / span;
    case DAG_M_GRANULARITY:
        return gran;
    case DAG_M_OVERHEAD:
        return gran - s->point.task_us;
    case DAG_M_EFFICIENCY:
        return s->point.task_us / gran;
    case DAG_M_MOVED:
        return r->bytes_moved;
    case DAG_M_GFLOPS:
        return n * (double)dag_fma_flops(s->point.iterations) / span / 1e9;
    case DAG_M_RANK0:
        return r->rank0_msgs;
    default:
        return NAN;
    }
    (void)cfg;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void dag_stats(const double *v, int n, dag_stat *out)
{
    double sorted[DAG_MAX_REPS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            sorted[k++] = v[i];
    if (!k) {
        out->median = out->min = out->max = NAN;
        return;
    }
    qsort(sorted, (size_t)k, sizeof(double), cmp_double);
    out->median = k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
    out->min = sorted[0];
    out->max = sorted[k - 1];
}

void dag_metric_stats(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int m,
                      dag_stat *out)
{
    double v[DAG_MAX_REPS];
    for (int i = 0; i < s->n; i++)
        v[i] = dag_metric(cfg, cl, s, i, m);
    dag_stats(v, s->n, out);
}

int dag_series_ok(const dag_series *s)
{
    int ok = s->n > 0;
    for (int i = 0; i < s->n; i++)
        ok &= s->runs[i].ok;
    return ok;
}

void dag_load_range(const dag_series *s, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        *lo = fmin(*lo, s->load1[i]);
        *hi = fmax(*hi, s->load1[i]);
    }
}

/* "_10us" / "_it1000" in a sweep, "" otherwise. */
void dag_suffix(const dag_config *cfg, const dag_point *pt, char *buf, size_t size)
{
    if (cfg->sweep == DAG_SWEEP_TASK_US)
        snprintf(buf, size, "_%gus", pt->task_us);
    else if (cfg->sweep == DAG_SWEEP_ITERATIONS)
        snprintf(buf, size, "_it%ld", pt->iterations);
    else
        buf[0] = 0;
}

static void fmt(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if (fabs(v) >= 1e4)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.4g", v);
}

/* ---------------------------------------------------------------- text */

void dag_report_header(const dag_config *cfg, const dag_cluster *cl, double ns_per_it)
{
    const dag_shape *s = &cfg->shape;
    static const char *places[] = {"any", "spread", "node"};
    printf("# ray-mpi-dagbench %d.%d.%d: shape=%s width=%ld steps=%ld tasks=%ld deps=%ld "
           "radix=%ld period=%ld fraction=%g parents=%ld seed=%llu reduces=%d\n",
           RAY_MPI_VERSION_MAJOR, RAY_MPI_VERSION_MINOR, RAY_MPI_VERSION_PATCH,
           dag_kind_name(s->kind), s->width, s->steps, dag_total_tasks(s), dag_total_deps(s),
           s->radix, s->period, s->fraction, s->parents, (unsigned long long)s->seed,
           s->kind == DAG_MAPREDUCE ? dag_outputs_at(s, 0) : 0);
    printf("# kernel=%s bytes=%ld placement=%s reps=%d warmup=%d window=%ld\n",
           cfg->kernel == DAG_KERNEL_FMA ? "compute_bound" : "spin", cfg->bytes,
           places[cfg->placement], cfg->reps, cfg->warmup, cfg->window);
    printf("# job: nodes=%d driver_node=%d cores=%g (%s)\n", cl->nodes, cl->driver_node, cl->cores,
           cl->cores_from);
    if (cfg->kernel == DAG_KERNEL_FMA)
        printf("# compute_bound kernel: %.4g ns per iteration on the driver's core (best of 5 "
               "runs of 200000): task time = iterations x that\n",
               ns_per_it);
    printf("# granularity_us = makespan x cores / tasks; efficiency = task_us / granularity_us; "
           "overhead_us = granularity_us - task_us\n");
    fflush(stdout);
}

static void print_rep_comment(const dag_config *cfg, const dag_cluster *cl, const dag_series *s,
                              int i, const char *wl)
{
    const dag_result *r = &s->runs[i];
    printf("# %s rep=%d task_us=%.4g makespan_s=%.6f check_s=%.6f tasks_per_s=%.0f "
           "efficiency=%.4f overhead_us=%.3f floor_efficiency=%.4f check=%s",
           wl, i + 1, s->point.task_us, r->makespan_s, r->check_s,
           dag_metric(cfg, cl, s, i, DAG_M_RATE),
           dag_metric(cfg, cl, s, i, DAG_M_EFFICIENCY), dag_metric(cfg, cl, s, i, DAG_M_OVERHEAD),
           s->floor_eff[i], r->ok ? "ok" : "FAIL");
    if (r->wrong)
        printf(": first wrong task (t=%ld, p=%ld) output %d: expected 0x%016llx, got 0x%016llx "
               "(%ld wrong outputs)",
               r->bad_t, r->bad_p, r->bad_output, (unsigned long long)r->expected,
               (unsigned long long)r->got, r->wrong);
    if (r->error[0])
        printf("%s %s", r->wrong ? ";" : ":", r->error);
    printf("\n");
}

/* One figure of a series in BENCHMARKS.md's lines: a `#` line per
 * repetition, then the summary (reason: NULL or why the value is nan). */
typedef struct figure {
    const char *peer, *name, *suffix, *unit, *reason;
    double v[DAG_MAX_REPS];
    int ok[DAG_MAX_REPS];
} figure;

static void print_figure(const figure *f, const dag_series *s, const char *wl)
{
    char val[32], lo[32], hi[32];
    int all_ok = s->n > 0;
    for (int i = 0; i < s->n; i++) {
        fmt(val, sizeof(val), f->v[i]);
        printf("# peer=%s workload=%s metric=%s%s rep=%d value=%s unit=%s load=%s check=%s\n",
               f->peer, wl, f->name, f->suffix, i + 1, val, f->unit, s->load[i],
               f->ok[i] ? "ok" : "FAIL");
        all_ok &= f->ok[i];
    }
    dag_stat st;
    double l1lo, l1hi;
    dag_stats(f->v, s->n, &st);
    dag_load_range(s, &l1lo, &l1hi);
    fmt(val, sizeof(val), st.median);
    fmt(lo, sizeof(lo), st.min);
    fmt(hi, sizeof(hi), st.max);
    printf("peer=%s workload=%s metric=%s%s value=%s unit=%s min=%s max=%s n=%d "
           "load1=%.2f..%.2f check=%s",
           f->peer, wl, f->name, f->suffix, val, f->unit, lo, hi, s->n, l1lo, l1hi,
           all_ok ? "ok" : "FAIL");
    if (f->reason)
        printf(" reason=\"%s\"", f->reason);
    printf("\n");
}

static void print_metric(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int m,
                         const char *wl, const char *suffix)
{
    static figure f;
    f = (figure){"ray-mpi",
                 dag_metrics[m].name,
                 suffix,
                 dag_metrics[m].unit,
                 NULL,
                 {0},
                 {0}};
    for (int i = 0; i < s->n; i++) {
        f.v[i] = dag_metric(cfg, cl, s, i, m);
        f.ok[i] = s->runs[i].ok;
    }
    print_figure(&f, s, wl);
}

/* peer=floor: the machine's efficiency for the same work without the
 * runtime (floor.c), when it was measured. */
static void print_floor(const dag_series *s, const char *wl, const char *suffix)
{
    static figure f;
    dag_stat st;
    dag_stats(s->floor_eff, s->n, &st);
    if (isnan(st.median))
        return;
    f = (figure){"floor", "efficiency", suffix, "fraction", NULL, {0}, {0}};
    for (int i = 0; i < s->n; i++) {
        f.v[i] = s->floor_eff[i];
        f.ok[i] = !isnan(s->floor_eff[i]);
    }
    print_figure(&f, s, wl);
}

void dag_report_series(const dag_config *cfg, const dag_cluster *cl, const dag_series *s)
{
    char wl[64], suffix[32];
    snprintf(wl, sizeof(wl), "dag_%s", dag_kind_name(cfg->shape.kind));
    dag_suffix(cfg, &s->point, suffix, sizeof(suffix));
    for (int i = 0; i < s->n; i++)
        print_rep_comment(cfg, cl, s, i, wl);
    for (int m = 0; m < DAG_M_COUNT; m++)
        if (dag_metric_shown(cfg, m))
            print_metric(cfg, cl, s, m, wl, suffix);
    print_floor(s, wl, suffix);
    fflush(stdout);
}

/* --------------------------------------------------------------- sweep */

/* The series from the largest task size to the smallest. */
void dag_sweep_order(const dag_series *s, int n, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[order[j]].point.work > s[order[j - 1]].point.work; j--) {
            int k = order[j];
            order[j] = order[j - 1];
            order[j - 1] = k;
        }
}

/* METG of repetition `rep`'s curve (every point's rep-th run). */
int dag_sweep_metg(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n,
                   int rep, dag_metg_result *out)
{
    dag_curve_point pts[DAG_MAX_SWEEP];
    int order[DAG_MAX_SWEEP];
    dag_sweep_order(s, n, order);
    for (int i = 0; i < n; i++) {
        const dag_series *x = &s[order[i]];
        int r = rep < x->n ? rep : x->n - 1;
        pts[i].task_us = x->point.task_us;
        pts[i].granularity_us = dag_metric(cfg, cl, x, r, DAG_M_GRANULARITY);
        pts[i].efficiency = dag_metric(cfg, cl, x, r, DAG_M_EFFICIENCY);
    }
    return dag_metg(pts, n, 0.5, out);
}

void dag_sweep_summary(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n,
                       dag_metg_summary *out)
{
    dag_metg_result r[DAG_MAX_REPS];
    int status[DAG_MAX_REPS];
    for (int i = 0; i < s[0].n; i++)
        status[i] = dag_sweep_metg(cfg, cl, s, n, i, &r[i]);
    dag_metg_summarize(r, status, s[0].n, out);
}

static void print_curve(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n,
                        const char *wl)
{
    int order[DAG_MAX_SWEEP];
    dag_sweep_order(s, n, order);
    printf("# efficiency curve of %s (medians of %d reps):\n", wl, s[0].n);
    printf("#   %12s %10s %14s %10s %12s %11s %10s\n", "task_us", "iterations", "granularity_us",
           "efficiency", "tasks_per_s", "overhead_us", "floor_eff");
    for (int i = 0; i < n; i++) {
        const dag_series *x = &s[order[i]];
        dag_stat g, e, r, o, f;
        dag_metric_stats(cfg, cl, x, DAG_M_GRANULARITY, &g);
        dag_metric_stats(cfg, cl, x, DAG_M_EFFICIENCY, &e);
        dag_metric_stats(cfg, cl, x, DAG_M_RATE, &r);
        dag_metric_stats(cfg, cl, x, DAG_M_OVERHEAD, &o);
        dag_stats(x->floor_eff, x->n, &f);
        printf("#   %12.4g %10ld %14.4g %10.4f %12.0f %11.3f %10.4f%s\n", x->point.task_us,
               x->point.iterations, g.median, e.median, r.median, o.median, f.median,
               dag_series_ok(x) ? "" : "  check=FAIL");
    }
}

static void print_metg_note(const dag_metg_summary *m)
{
    if (m->status == DAG_METG_NONE)
        printf("# METG(50%%): no task size reached 50%% efficiency in the median repetition (%d of "
               "%d reached it): run larger tasks\n",
               m->reached, m->reps);
    else if (m->status == DAG_METG_UPPER)
        printf("# METG(50%%) <= %.4g us: even the smallest task size ran at >= 50%% efficiency "
               "(no point below to interpolate with: run smaller tasks)\n",
               m->granularity_us);
    else
        printf("# METG(50%%) = %.4g us of granularity, where tasks of %.4g us run at 50%% "
               "efficiency: the median of %d repetitions, each as Task Bench's chart_metg.py "
               "(%d interpolated linearly in efficiency between the last point >= 50%% and the "
               "next one below)\n",
               m->granularity_us, m->task_us, m->reps, m->interpolated);
}

static void print_metg_line(const dag_series *s, int n, const char *wl, const char *metric,
                            const dag_metg_summary *m, double med, double lo, double hi)
{
    double l1lo = INFINITY, l1hi = -INFINITY, a, b;
    char val[32], x[32], y[32];
    int ok = 1;
    for (int i = 0; i < n; i++) {
        dag_load_range(&s[i], &a, &b);
        l1lo = fmin(l1lo, a);
        l1hi = fmax(l1hi, b);
        ok &= dag_series_ok(&s[i]);
    }
    fmt(val, sizeof(val), med);
    fmt(x, sizeof(x), lo);
    fmt(y, sizeof(y), hi);
    printf("peer=ray-mpi workload=%s metric=%s value=%s unit=us min=%s max=%s n=%d "
           "load1=%.2f..%.2f check=%s",
           wl, metric, val, x, y, m->reps, l1lo, l1hi, ok ? "ok" : "FAIL");
    if (m->status == DAG_METG_UPPER)
        printf(" reason=\"upper bound: the smallest task size still ran at >= 50%%\"");
    else if (m->reached < m->reps)
        printf(" reason=\"%d of %d repetitions reached 50%% efficiency\"", m->reached, m->reps);
    printf("\n");
}

void dag_report_sweep(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n)
{
    char wl[64];
    snprintf(wl, sizeof(wl), "dag_%s", dag_kind_name(cfg->shape.kind));
    dag_metg_summary m;
    dag_sweep_summary(cfg, cl, s, n, &m);
    print_curve(cfg, cl, s, n, wl);
    print_metg_note(&m);
    print_metg_line(s, n, wl, "metg50_us", &m, m.granularity_us, m.min_granularity_us,
                    m.max_granularity_us);
    print_metg_line(s, n, wl, "metg50_task_us", &m, m.task_us, m.min_task_us, m.max_task_us);
    fflush(stdout);
}
