/*
 * json.c - the --json report: one JSON object per line on stdout, one per
 * run (a configuration with its repetitions, "kind": "run") and, after a
 * sweep, one for the efficiency curve and its METG ("kind": "metg").  The
 * keys are listed in --help (options_help.c) and HACKING.md; a figure that
 * cannot be measured is null, with a *_reason key saying why.
 */
#include "dagbench.h"

#include <math.h>
#include <string.h>

static int need_comma; /* a value was written at this level: the next key needs ',' */

static void key(const char *k)
{
    printf("%s\"%s\":", need_comma ? "," : "", k);
    need_comma = 1;
}

/* An object or array, as the value of k (NULL: an element of an array). */
static void json_open(const char *k, char bracket)
{
    if (k)
        key(k);
    else if (need_comma)
        putchar(',');
    putchar(bracket);
    need_comma = 0;
}

static void json_close(char bracket)
{
    putchar(bracket);
    need_comma = 1;
}

static void str(const char *k, const char *v)
{
    key(k);
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* A number as the value of k (NULL: an element of an array); nan: null. */
static void num(const char *k, double v)
{
    if (k) {
        key(k);
    } else {
        if (need_comma)
            putchar(',');
        need_comma = 1;
    }
    if (isnan(v) || isinf(v))
        printf("null");
    else
        printf("%.10g", v);
}

static void stat(const char *k, const dag_stat *s)
{
    json_open(k, '{');
    num("median", s->median);
    num("min", s->min);
    num("max", s->max);
    json_close('}');
}

static void config(const dag_config *cfg, const dag_cluster *cl)
{
    static const char *places[] = {"any", "spread", "node"};
    const dag_shape *s = &cfg->shape;
    str("program", "ray-mpi-dagbench");
    str("shape", dag_kind_name(s->kind));
    char wl[64];
    snprintf(wl, sizeof(wl), "dag_%s", dag_kind_name(s->kind));
    str("workload", wl);
    num("width", (double)s->width);
    num("steps", (double)s->steps);
    num("radix", (double)s->radix);
    num("period", (double)s->period);
    num("fraction", s->fraction);
    num("parents", (double)s->parents);
    num("seed", (double)s->seed);
    num("reduces", s->kind == DAG_MAPREDUCE ? dag_outputs_at(s, 0) : 0);
    num("tasks", (double)dag_total_tasks(s));
    num("deps", (double)dag_total_deps(s));
    str("kernel", cfg->kernel == DAG_KERNEL_FMA ? "compute_bound" : "spin");
    num("bytes", (double)cfg->bytes);
    str("placement", places[cfg->placement]);
    num("nodes", cl->nodes);
    num("cores", cl->cores);
    str("cores_from", cl->cores_from);
    num("reps", cfg->reps);
    num("warmup", cfg->warmup);
    num("window", (double)cfg->window);
}

static void first_error(const dag_series *s)
{
    for (int i = 0; i < s->n; i++) {
        const dag_result *r = &s->runs[i];
        if (r->ok)
            continue;
        char hex[2][24];
        snprintf(hex[0], sizeof(hex[0]), "0x%016llx", (unsigned long long)r->expected);
        snprintf(hex[1], sizeof(hex[1]), "0x%016llx", (unsigned long long)r->got);
        json_open("first_error", '{');
        num("rep", i + 1);
        num("t", r->wrong ? (double)r->bad_t : NAN);
        num("p", r->wrong ? (double)r->bad_p : NAN);
        num("output", r->wrong ? r->bad_output : NAN);
        str("expected", r->wrong ? hex[0] : "");
        str("got", r->wrong ? hex[1] : "");
        num("wrong", (double)r->wrong);
        str("error", r->error);
        json_close('}');
        return;
    }
    num("first_error", NAN);
}

static void samples(const dag_config *cfg, const dag_cluster *cl, const dag_series *s)
{
    json_open("samples", '[');
    for (int i = 0; i < s->n; i++) {
        json_open(NULL, '{');
        num("rep", i + 1);
        num("makespan_s", s->runs[i].makespan_s);
        num("check_s", s->runs[i].check_s);
        num("tasks_per_s", dag_metric(cfg, cl, s, i, DAG_M_RATE));
        num("efficiency", dag_metric(cfg, cl, s, i, DAG_M_EFFICIENCY));
        num("bytes_moved", s->runs[i].bytes_moved);
        num("floor_efficiency", s->floor_eff[i]);
        str("load", s->load[i]);
        str("check", s->runs[i].ok ? "ok" : "FAIL");
        json_close('}');
    }
    json_close(']');
}

void dag_json_series(const dag_config *cfg, const dag_cluster *cl, const dag_series *s)
{
    need_comma = 0;
    json_open(NULL, '{');
    str("kind", "run");
    config(cfg, cl);
    num("task_us", s->point.task_us);
    num("iterations", cfg->kernel == DAG_KERNEL_FMA ? (double)s->point.iterations : NAN);
    num("flops_per_task",
        cfg->kernel == DAG_KERNEL_FMA ? (double)dag_fma_flops(s->point.iterations) : 0);
    for (int m = DAG_M_MAKESPAN; m < DAG_M_COUNT; m++) {
        dag_stat st;
        dag_metric_stats(cfg, cl, s, m, &st);
        if (m == DAG_M_MOVED || m == DAG_M_RANK0)
            num(dag_metrics[m].name, st.median);
        else if (dag_metric_shown(cfg, m))
            stat(dag_metrics[m].name, &st);
        else
            num(dag_metrics[m].name, NAN);
    }
    dag_stat fl;
    dag_stats(s->floor_eff, s->n, &fl);
    stat("floor_efficiency", &fl);
    double lo, hi;
    dag_load_range(s, &lo, &hi);
    json_open("load1", '[');
    num(NULL, lo);
    num(NULL, hi);
    json_close(']');
    first_error(s);
    samples(cfg, cl, s);
    str("check", dag_series_ok(s) ? "ok" : "FAIL");
    json_close('}');
    putchar('\n');
    fflush(stdout);
}

static void curve(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n)
{
    int order[DAG_MAX_SWEEP];
    dag_sweep_order(s, n, order);
    json_open("points", '[');
    for (int i = 0; i < n; i++) {
        const dag_series *x = &s[order[i]];
        dag_stat g, e, f;
        dag_metric_stats(cfg, cl, x, DAG_M_GRANULARITY, &g);
        dag_metric_stats(cfg, cl, x, DAG_M_EFFICIENCY, &e);
        dag_stats(x->floor_eff, x->n, &f);
        json_open(NULL, '{');
        num("task_us", x->point.task_us);
        num("iterations", cfg->kernel == DAG_KERNEL_FMA ? (double)x->point.iterations : NAN);
        num("granularity_us", g.median);
        num("efficiency", e.median);
        num("floor_efficiency", f.median);
        str("check", dag_series_ok(x) ? "ok" : "FAIL");
        json_close('}');
    }
    json_close(']');
}

static void summary(const char *k, double med, double lo, double hi)
{
    json_open(k, '{');
    num("median", med);
    num("min", lo);
    num("max", isinf(hi) ? NAN : hi); /* null: a repetition never reached 50% */
    json_close('}');
}

void dag_json_sweep(const dag_config *cfg, const dag_cluster *cl, const dag_series *s, int n)
{
    dag_metg_summary m;
    dag_sweep_summary(cfg, cl, s, n, &m);
    need_comma = 0;
    json_open(NULL, '{');
    str("kind", "metg");
    config(cfg, cl);
    str("sweep", cfg->sweep == DAG_SWEEP_TASK_US ? "task-us" : "iterations");
    num("threshold", 0.5);
    summary("metg50_us", m.granularity_us, m.min_granularity_us, m.max_granularity_us);
    summary("metg50_task_us", m.task_us, m.min_task_us, m.max_task_us);
    str("metg_status", m.status == DAG_METG_POINT   ? "found"
                       : m.status == DAG_METG_UPPER ? "upper_bound"
                                                    : "none");
    num("reps_reached", m.reached);
    num("reps_interpolated", m.interpolated);
    curve(cfg, cl, s, n);
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= dag_series_ok(&s[i]);
    str("check", ok ? "ok" : "FAIL");
    json_close('}');
    putchar('\n');
    fflush(stdout);
}
