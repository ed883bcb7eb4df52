/*
 * options.c - the command line of ray-mpi-dagbench and its --help, and the
 * one place it reads the environment (dag_env).  Parsing is pure: it runs
 * before ray_init, in the driver and in every worker (they re-run the
 * program with the same argv), and only the driver acts on its answer.
 * Every bad value is an error that names the option (exit status 2).
 * dag_store_default sizes an embedded runtime's store for the run.
 */
#include "dagbench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *dag_env(const char *name);
const char *dag_env(const char *name)
{
    return getenv(name);
}

typedef struct parse_state {
    int argc, i;
    char **argv;
    char *err;
    size_t size;
    const char *inline_value; /* the part after '=' in --opt=value */
    int kind, period_set, steps_set;
    long period, steps;
} parse_state;

__attribute__((format(printf, 2, 3))) static int fail(parse_state *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->size, fmt, ap);
    va_end(ap);
    return 2;
}

/* The value of the option at argv[i]: after '=' or the next word. */
static const char *value(parse_state *ps, const char *opt)
{
    if (ps->inline_value)
        return ps->inline_value;
    if (ps->i + 1 >= ps->argc)
        return NULL;
    return ps->argv[++ps->i];
}

/* The option's value as a number in lo..hi (whole when integer: the
 * options' integers stay below 2^53, exact in a double). */
static int number(parse_state *ps, const char *opt, double lo, double hi, int integer, double *out)
{
    const char *v = value(ps, opt);
    if (!v)
        return fail(ps, "%s needs a value", opt);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= lo && x <= hi) || (integer && x != floor(x)))
        return fail(ps, "%s '%s': want %s in %.15g .. %.15g", opt, v,
                    integer ? "an integer" : "a number", lo, hi);
    *out = x;
    return 0;
}

static int to_long(parse_state *ps, const char *opt, long lo, long hi, long *out)
{
    double x;
    int rc = number(ps, opt, (double)lo, (double)hi, 1, &x);
    if (!rc)
        *out = (long)x;
    return rc;
}

static int to_int(parse_state *ps, const char *opt, long lo, long hi, int *out)
{
    long x;
    int rc = to_long(ps, opt, lo, hi, &x);
    if (!rc)
        *out = (int)x;
    return rc;
}

static int to_double(parse_state *ps, const char *opt, double lo, double hi, double *out)
{
    return number(ps, opt, lo, hi, 0, out);
}

static int parse_placement(parse_state *ps, dag_config *cfg)
{
    static const char *names[] = {"any", "spread", "node"};
    const char *v = value(ps, "--placement");
    for (int k = 0; v && k < 3; k++)
        if (!strcmp(v, names[k]))
            return cfg->placement = k, 0;
    return fail(ps, "--placement '%s': want any, spread or node", v ? v : "");
}

static int parse_shape(parse_state *ps)
{
    const char *v = value(ps, "--shape");
    ps->kind = v ? dag_kind_parse(v) : -1;
    if (ps->kind < 0)
        return fail(ps, "--shape '%s': unknown; see --help for the shapes", v ? v : "");
    return 0;
}

/* --sweep task-us=1000,100,10 or iterations=...: values from large to small. */
static int parse_sweep(parse_state *ps, dag_config *cfg)
{
    const char *v = value(ps, "--sweep");
    const char *eq = v ? strchr(v, '=') : NULL;
    if (!eq)
        return fail(ps, "--sweep '%s': want task-us=LIST or iterations=LIST", v ? v : "");
    if (!strncmp(v, "task-us=", 8))
        cfg->sweep = DAG_SWEEP_TASK_US;
    else if (!strncmp(v, "iterations=", 11))
        cfg->sweep = DAG_SWEEP_ITERATIONS;
    else
        return fail(ps, "--sweep '%s': want task-us=LIST or iterations=LIST", v);
    cfg->nsweep = 0;
    for (const char *p = eq + 1;;) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || !(x >= 0 && x <= 1e9) || (*end && *end != ',') ||
            (cfg->sweep == DAG_SWEEP_ITERATIONS && x != floor(x)))
            return fail(ps, "--sweep '%s': want a comma list of numbers >= 0%s", v,
                        cfg->sweep == DAG_SWEEP_ITERATIONS ? " (whole iterations)" : "");
        if (cfg->nsweep == DAG_MAX_SWEEP)
            return fail(ps, "--sweep: at most %d values", DAG_MAX_SWEEP);
        cfg->sweep_values[cfg->nsweep++] = x;
        if (!*end)
            break;
        p = end + 1;
    }
    return cfg->nsweep >= 2 ? 0 : fail(ps, "--sweep '%s': give at least two values", v);
}

static int parse_inject(parse_state *ps, dag_config *cfg)
{
    const char *v = value(ps, "--inject-error");
    char *end;
    long t = v ? strtol(v, &end, 10) : -1;
    if (!v || end == v || *end != ',' || t < 0)
        return fail(ps, "--inject-error '%s': want T,P", v ? v : "");
    const char *q = end + 1;
    long p = strtol(q, &end, 10);
    if (end == q || *end || p < 0)
        return fail(ps, "--inject-error '%s': want T,P", v);
    cfg->inject_t = t;
    cfg->inject_p = p;
    return 0;
}

/* Options of the graph; 0 handled, 2 error, -1 not one of them. */
static int graph_option(parse_state *ps, const char *o, dag_config *cfg)
{
    dag_shape *s = &cfg->shape;
    const long big = 1L << 30;
    if (!strcmp(o, "--shape"))
        return parse_shape(ps);
    if (!strcmp(o, "--width"))
        return to_long(ps, o, 1, big, &s->width);
    if (!strcmp(o, "--steps"))
        return ps->steps_set = 1, to_long(ps, o, 1, big, &ps->steps);
    if (!strcmp(o, "--radix"))
        return to_long(ps, o, 0, big, &s->radix);
    if (!strcmp(o, "--period"))
        return ps->period_set = 1, to_long(ps, o, 0, big, &ps->period);
    if (!strcmp(o, "--fraction"))
        return to_double(ps, o, 0, 1, &s->fraction);
    if (!strcmp(o, "--parents"))
        return to_long(ps, o, 0, big, &s->parents);
    if (!strcmp(o, "--reduces"))
        return to_long(ps, o, 1, big, &s->reduces);
    if (!strcmp(o, "--seed")) {
        long seed = 0;
        int rc = to_long(ps, o, 0, 1L << 52, &seed);
        s->seed = (uint64_t)seed;
        return rc;
    }
    return -1;
}

/* Options of the tasks and the run; 0 handled, 2 error, -1 unknown. */
static int run_option(parse_state *ps, const char *o, dag_config *cfg)
{
    if (!strcmp(o, "--task-us"))
        return cfg->kernel = DAG_KERNEL_SPIN, to_double(ps, o, 0, 1e9, &cfg->task_us);
    if (!strcmp(o, "--iterations"))
        return cfg->kernel = DAG_KERNEL_FMA, to_long(ps, o, 0, 1L << 40, &cfg->iterations);
    if (!strcmp(o, "--bytes"))
        return to_long(ps, o, 8, 1L << 30, &cfg->bytes);
    if (!strcmp(o, "--placement"))
        return parse_placement(ps, cfg);
    if (!strcmp(o, "--reps"))
        return to_int(ps, o, 1, DAG_MAX_REPS, &cfg->reps);
    if (!strcmp(o, "--warmup"))
        return to_int(ps, o, 0, 100, &cfg->warmup);
    if (!strcmp(o, "--window"))
        return to_long(ps, o, 1, 1L << 30, &cfg->window);
    if (!strcmp(o, "--timeout"))
        return to_double(ps, o, 0.001, 1e7, &cfg->timeout_s);
    if (!strcmp(o, "--cores"))
        return to_double(ps, o, 0.001, 1e9, &cfg->cores);
    if (!strcmp(o, "--sweep"))
        return parse_sweep(ps, cfg);
    if (!strcmp(o, "--inject-error"))
        return parse_inject(ps, cfg);
    return -1;
}

/* Flags without a value; 0 handled, 1 help, -1 not one of them. */
static int flag_option(const char *o, dag_config *cfg)
{
    if (!strcmp(o, "--help") || !strcmp(o, "-h"))
        return 1;
    if (!strcmp(o, "--json"))
        return cfg->json = 1, 0;
    if (!strcmp(o, "--taskbench-log"))
        return cfg->taskbench_log = 1, 0;
    if (!strcmp(o, "--progress"))
        return cfg->progress = 1, 0;
    if (!strcmp(o, "--no-progress"))
        return cfg->progress = 0, 0;
    if (!strcmp(o, "--no-floor"))
        return cfg->floor = 0, 0;
    return -1;
}

static void config_init(dag_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    dag_shape_init(&cfg->shape, DAG_STENCIL_1D);
    cfg->shape.steps = 100;
    cfg->kernel = DAG_KERNEL_SPIN;
    cfg->bytes = 16; /* Task Bench's default output: one (t, p) pair */
    const char *reps = dag_env("BENCH_REPS");
    cfg->reps = reps && atoi(reps) >= 1 && atoi(reps) <= DAG_MAX_REPS ? atoi(reps) : 5;
    cfg->warmup = 1;
    cfg->window = 100000;
    cfg->timeout_s = 600;
    cfg->progress = -1;
    cfg->floor = 1;
    cfg->inject_t = cfg->inject_p = -1;
}

/* The shape's own defaults under the options given. */
static int finish_shape(parse_state *ps, dag_config *cfg)
{
    dag_shape given = cfg->shape;
    dag_shape_init(&cfg->shape, ps->kind);
    dag_shape *s = &cfg->shape;
    s->width = given.width;
    s->steps = ps->steps_set ? ps->steps : s->kind == DAG_MAPREDUCE ? 2 : given.steps;
    s->radix = given.radix;
    s->period = ps->period_set ? ps->period : s->period;
    s->fraction = given.fraction;
    s->parents = given.parents;
    s->seed = given.seed;
    s->reduces = given.reduces;
    return dag_shape_check(s, ps->err, ps->size) ? 2 : 0;
}

/* kernels: bit 0 for --task-us, bit 1 for --iterations. */
static int check_combination(parse_state *ps, dag_config *cfg, int kernels)
{
    if (cfg->json && cfg->taskbench_log)
        return fail(ps, "--json and --taskbench-log both write stdout: pick one");
    if (kernels == 3)
        return fail(ps, "--task-us and --iterations: pick one kernel");
    if (cfg->sweep && kernels)
        return fail(ps, "--sweep sets the kernel: drop --task-us / --iterations");
    if (cfg->sweep)
        cfg->kernel = cfg->sweep == DAG_SWEEP_TASK_US ? DAG_KERNEL_SPIN : DAG_KERNEL_FMA;
    long rw = dag_row_width(&cfg->shape);
    if (cfg->inject_t >= cfg->shape.steps || cfg->inject_p >= rw)
        return fail(ps, "--inject-error %ld,%ld: no such task in a %ld x %ld graph", cfg->inject_t,
                    cfg->inject_p, cfg->shape.steps, rw);
    return 0;
}

int dag_options_parse(int argc, char **argv, dag_config *cfg, char *err, size_t size)
{
    parse_state ps = {argc, 0, argv, err, size, NULL, DAG_STENCIL_1D, 0, 0, 0, 0};
    config_init(cfg);
    int kernels = 0; /* bit 0: --task-us given, bit 1: --iterations */
    for (ps.i = 1; ps.i < argc; ps.i++) {
        char opt[64];
        const char *a = argv[ps.i], *eq = strchr(a, '=');
        size_t len = eq && !strncmp(a, "--", 2) ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof(opt))
            return fail(&ps, "unknown option '%s' (see --help)", a);
        memcpy(opt, a, len);
        opt[len] = 0;
        ps.inline_value = eq && !strncmp(a, "--", 2) ? eq + 1 : NULL;
        int rc = ps.inline_value ? -1 : flag_option(opt, cfg);
        if (rc < 0)
            rc = graph_option(&ps, opt, cfg);
        if (rc < 0 && (rc = run_option(&ps, opt, cfg)) == 0)
            kernels |= (!strcmp(opt, "--task-us") ? 1 : 0) | (!strcmp(opt, "--iterations") ? 2 : 0);
        if (rc < 0)
            return fail(&ps, "unknown option '%s' (see --help)", a);
        if (rc)
            return rc;
    }
    int rc = finish_shape(&ps, cfg);
    return rc ? rc : check_combination(&ps, cfg, kernels);
}

/* Unless the user chose, an embedded runtime gets a store sized for the
 * window (twice the outputs in flight, 256 MiB at least) instead of 30%
 * of the memory: the runtime faults its whole store in, in the
 * background, and 7 GB of page faults beside a measurement disturb it.
 * Under `ray-mpi` the node services are configured already and this
 * changes nothing. */
void dag_store_default(const dag_config *cfg)
{
    if (dag_env("RAY_MPI_OBJECT_STORE_MEMORY"))
        return;
    const dag_shape *s = &cfg->shape;
    double outs = dag_outputs_at(s, 0) > 1 ? dag_outputs_at(s, 0) : 1;
    double mib = 2.0 * (double)cfg->window * outs * (double)cfg->bytes / 1048576.0 + 256;
    if (mib > 4096)
        return; /* big runs: the runtime's own default */
    char v[32];
    snprintf(v, sizeof(v), "%.0fM", ceil(mib));
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", v, 0);
}
