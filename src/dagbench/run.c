/*
 * run.c - one timed execution of a task graph.  The driver submits the
 * graph step by step, each task with its inputs as refs to the outputs of
 * the step before, and keeps at most --window tasks unchecked: once a step
 * is `lag` steps old it gets every output of it, compares the checksum
 * with the one computed from the pattern, notes where the task ran and
 * releases it.  The clock runs from the first submit to the last task
 * done: the steps checked while the driver submits (a graph larger than
 * the window) are inside the makespan, the rest are checked after it
 * (check_s), as Task Bench's timer stops when the graph has run.
 * Refs, expected checksums and nodes live in a ring of lag + 2 steps: the
 * step being submitted, the steps in flight, and the step before the
 * oldest one, whose nodes the bytes-moved count still reads.
 */
#include "dagbench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ring {
    long rows, width, nret; /* steps held, points per step, outputs per point */
    ray_ref *refs;          /* [rows][width][nret] */
    uint64_t *expected;     /* [rows][width][nret] */
    int32_t *node;          /* [rows][width]: where the task ran, -1 unknown */
} ring;

typedef struct run_state {
    const dag_config *cfg;
    const dag_cluster *cl;
    const dag_point *pt;
    const dag_shape *s;
    dag_result *res;
    ring rg;
    long *pts;
    int *outs;
    ray_arg *args;
    ray_task_opts opts;
    long lag, submitted_steps, submitted;
    double t0, deadline, next_progress;
    int progress, failed, timed_out;
} run_state;

static size_t at(const ring *rg, long t, long p, long j)
{
    return ((size_t)(t % rg->rows) * (size_t)rg->width + (size_t)p) * (size_t)rg->nret + (size_t)j;
}

static int32_t *node_at(const ring *rg, long t, long p)
{
    return &rg->node[(size_t)(t % rg->rows) * (size_t)rg->width + (size_t)p];
}

static long nret_max(const dag_shape *s)
{
    return dag_outputs_at(s, 0) > dag_outputs_at(s, 1) ? dag_outputs_at(s, 0)
                                                       : dag_outputs_at(s, 1);
}

static int ring_alloc(ring *rg, const dag_shape *s, long lag)
{
    rg->rows = lag + 2;
    rg->width = dag_row_width(s);
    rg->nret = nret_max(s);
    size_t n = (size_t)rg->rows * (size_t)rg->width * (size_t)rg->nret;
    rg->refs = calloc(n, sizeof(ray_ref));
    rg->expected = calloc(n, sizeof(uint64_t));
    rg->node = calloc((size_t)rg->rows * (size_t)rg->width, sizeof(int32_t));
    return rg->refs && rg->expected && rg->node ? 0 : -1;
}

static void ring_free(ring *rg)
{
    free(rg->refs);
    free(rg->expected);
    free(rg->node);
}

/* The node a task is pinned to (-1: anywhere). */
static int placed_node(const run_state *st, long p)
{
    switch (st->cfg->placement) {
    case DAG_PLACE_SPREAD:
        return (int)(p % st->cl->nodes);
    case DAG_PLACE_NODE:
        return st->cl->driver_node;
    default:
        return -1;
    }
}

static void set_error(run_state *st, const char *what, int rc)
{
    if (!st->res->error[0])
        snprintf(st->res->error, sizeof(st->res->error), "%s: %s: %s", what, ray_errname(rc),
                 ray_last_error());
    st->failed = 1;
}

/* ------------------------------------------------------------ submit */

/* Tasks finished: those checked, or on one node the runtime's count of
 * live tasks says more (the driver waits for the last step first). */
static long tasks_done(const run_state *st)
{
    ray_stats rs;
    long done = st->res->checked;
    if (st->cl->nodes == 1 && ray_get_stats(&rs) == 0 && st->submitted - (long)rs.tasks_live > done)
        done = st->submitted - (long)rs.tasks_live;
    return done;
}

static void print_progress(run_state *st, double now)
{
    if (!st->progress || now < st->next_progress)
        return;
    st->next_progress = now + 1.0;
    double el = now - st->t0;
    long done = tasks_done(st);
    fprintf(stderr, "ray-mpi-dagbench: %ld/%ld tasks done (%ld submitted), %.0f tasks/s, %.1f s\n",
            done, st->res->tasks, st->submitted, el > 0 ? done / el : 0.0, el);
}

static uint64_t fold_inputs(run_state *st, long t, long p, long n)
{
    uint64_t h = dag_sum_start(t, p);
    for (long i = 0; i < n; i++) {
        size_t k = at(&st->rg, t - 1, st->pts[i], st->outs[i]);
        h = dag_sum_add(h, st->rg.expected[k]);
        st->args[1 + i] = ray_arg_ref(st->rg.refs[k]);
    }
    return h;
}

static int submit_task(run_state *st, long t, long p)
{
    long n = dag_inputs(st->s, t, p, st->pts, st->outs);
    if (n < 0)
        return set_error(st, "dag_inputs", RAY_ENOMEM), -1;
    int nret = dag_outputs_at(st->s, t);
    uint16_t flags = st->cfg->kernel == DAG_KERNEL_FMA ? DAG_F_FMA : 0;
    if (t == st->cfg->inject_t && p == st->cfg->inject_p)
        flags |= DAG_F_INJECT;
    dag_task_hdr h = {(int32_t)t,     (int32_t)p, (uint32_t)st->cfg->bytes,
                      (uint16_t)nret, flags,      st->pt->work};
    uint64_t sum = fold_inputs(st, t, p, n);
    st->args[0] = ray_arg_val(&h, sizeof(h));
    st->opts.node = placed_node(st, p);
    st->opts.num_returns = nret;
    int rc = ray_submit(DAG_TASK_FN, st->args, (int)n + 1, &st->opts,
                        &st->rg.refs[at(&st->rg, t, p, 0)]);
    if (rc)
        return set_error(st, "ray_submit", rc), -1;
    for (int j = 0; j < nret; j++)
        st->rg.expected[at(&st->rg, t, p, j)] = dag_sum_output(sum, j);
    *node_at(&st->rg, t, p) = placed_node(st, p);
    if ((++st->submitted & 1023) == 0)
        print_progress(st, dag_now_s());
    return 0;
}

/* All of step t, or none: a submit that fails releases the step's
 * tasks already submitted (nobody will check them). */
static int submit_step(run_state *st, long t)
{
    long lo = dag_offset_at(st->s, t), hi = lo + dag_width_at(st->s, t);
    int nret = dag_outputs_at(st->s, t);
    for (long p = lo; p < hi; p++) {
        if (!submit_task(st, t, p))
            continue;
        for (long q = lo; q < p; q++)
            for (int j = 0; j < nret; j++)
                ray_release(st->rg.refs[at(&st->rg, t, q, j)]);
        return -1;
    }
    st->submitted_steps = t + 1;
    return 0;
}

/* ------------------------------------------------------------ consume */

/* ray_get, in slices of at most a second while progress is shown. */
static int get_output(run_state *st, ray_ref ref, ray_buf *out)
{
    for (;;) {
        double now = dag_now_s(), left = st->deadline - now;
        if (st->timed_out || left <= 0)
            return st->timed_out = 1, RAY_ETIMEDOUT;
        int rc = ray_get(ref, out, st->progress && left > 1.0 ? 1.0 : left);
        if (rc != RAY_ETIMEDOUT)
            return rc;
        print_progress(st, dag_now_s());
    }
}

static void note_wrong(run_state *st, long t, long p, int j, uint64_t want, uint64_t got)
{
    dag_result *r = st->res;
    if (!r->wrong++) {
        r->bad_t = t;
        r->bad_p = p;
        r->bad_output = j;
        r->expected = want;
        r->got = got;
    }
}

static void check_output(run_state *st, long t, long p, int j, const ray_buf *b)
{
    uint64_t want = st->rg.expected[at(&st->rg, t, p, j)], got = 0;
    if (b->size == (size_t)st->cfg->bytes && b->size >= 8)
        memcpy(&got, b->data, sizeof(got));
    else
        got = ~want; /* the wrong size is as wrong as a wrong checksum */
    if (got != want)
        note_wrong(st, t, p, j, want, got);
    if (j == 0 && b->size >= DAG_NODE_AT + sizeof(int32_t) && b->size == (size_t)st->cfg->bytes)
        memcpy(node_at(&st->rg, t, p), (const uint8_t *)b->data + DAG_NODE_AT, sizeof(int32_t));
}

static void consume_output(run_state *st, long t, long p, int j)
{
    ray_ref ref = st->rg.refs[at(&st->rg, t, p, j)];
    ray_buf b;
    int rc = get_output(st, ref, &b);
    if (rc == 0) {
        check_output(st, t, p, j, &b);
    } else if (rc == RAY_ETIMEDOUT) {
        if (!st->failed)
            snprintf(st->res->error, sizeof(st->res->error),
                     "timed out after %g s (--timeout) with %ld of %ld tasks checked",
                     st->cfg->timeout_s, st->res->checked, st->res->tasks);
        st->failed = 1;
    } else {
        set_error(st, "ray_get", rc);
    }
    ray_release(ref);
    st->res->checked += j == 0 && rc == 0;
    if ((st->res->checked & 63) == 0)
        print_progress(st, dag_now_s());
}

/* Waits for every output of steps lo..hi at once (one ray_wait): the
 * driver sleeps once instead of spinning on each output in turn, which
 * would take a core from the workers. */
static void wait_steps(run_state *st, long lo_t, long hi_t)
{
    long n = 0, cap = 0;
    for (long t = lo_t; t <= hi_t; t++)
        cap += dag_width_at(st->s, t) * dag_outputs_at(st->s, t);
    ray_ref *refs = malloc(sizeof(ray_ref) * (size_t)(cap ? cap : 1));
    int *ready = malloc(sizeof(int) * (size_t)(cap ? cap : 1));
    for (long t = lo_t; refs && ready && t <= hi_t; t++) {
        long lo = dag_offset_at(st->s, t), hi = lo + dag_width_at(st->s, t);
        int nret = dag_outputs_at(st->s, t);
        for (long p = lo; p < hi; p++)
            for (int j = 0; j < nret; j++)
                refs[n++] = st->rg.refs[at(&st->rg, t, p, j)];
    }
    for (int got = 0; refs && ready && got < n;) {
        double now = dag_now_s(), left = st->deadline - now;
        if (left <= 0)
            break; /* the checks that follow report the timeout */
        got = ray_wait(refs, (int)n, (int)n, st->progress && left > 1.0 ? 1.0 : left, ready);
        if (got < 0)
            break; /* and they report this error, with its output */
        print_progress(st, dag_now_s());
    }
    free(refs);
    free(ready);
}

/* Bytes that crossed nodes into step t, per dependence edge (Task Bench's
 * nonlocal transfer); nan once a node is unknown. */
static void count_moved(run_state *st, long t, long p)
{
    if (st->cl->nodes == 1 || isnan(st->res->bytes_moved))
        return;
    int32_t to = *node_at(&st->rg, t, p);
    long n = dag_inputs(st->s, t, p, st->pts, st->outs);
    for (long i = 0; i < n; i++) {
        int32_t from = *node_at(&st->rg, t - 1, st->pts[i]);
        if (to < 0 || from < 0)
            st->res->bytes_moved = NAN;
        else if (to != from)
            st->res->bytes_moved += (double)st->cfg->bytes;
    }
}

static void consume_step(run_state *st, long t)
{
    long lo = dag_offset_at(st->s, t), hi = lo + dag_width_at(st->s, t);
    int nret = dag_outputs_at(st->s, t);
    for (long p = lo; p < hi; p++) {
        for (int j = 0; j < nret; j++)
            consume_output(st, t, p, j);
        count_moved(st, t, p);
    }
}

/* ------------------------------------------------------------ the run */

static long lag_steps(const dag_config *cfg)
{
    long per_step = dag_row_width(&cfg->shape) * nret_max(&cfg->shape);
    long lag = cfg->window / (per_step > 0 ? per_step : 1);
    if (lag < 1)
        lag = 1;
    return lag < cfg->shape.steps ? lag : cfg->shape.steps;
}

static int state_init(run_state *st, const dag_config *cfg, const dag_cluster *cl,
                      const dag_point *pt, dag_result *res)
{
    memset(st, 0, sizeof(*st));
    memset(res, 0, sizeof(*res));
    st->cfg = cfg;
    st->cl = cl;
    st->pt = pt;
    st->s = &cfg->shape;
    st->res = res;
    st->lag = lag_steps(cfg);
    st->progress = cfg->progress < 0 ? isatty(STDERR_FILENO) : cfg->progress;
    res->tasks = dag_total_tasks(st->s);
    res->bad_t = res->bad_p = -1;
    long rw = dag_row_width(st->s);
    st->pts = malloc(sizeof(long) * (size_t)rw);
    st->outs = malloc(sizeof(int) * (size_t)rw);
    st->args = malloc(sizeof(ray_arg) * (size_t)(rw + 1));
    ray_task_opts_init(&st->opts);
    st->opts.name = "dag";
    if (!st->pts || !st->outs || !st->args || ring_alloc(&st->rg, st->s, st->lag)) {
        snprintf(res->error, sizeof(res->error), "out of memory for a ring of %ld steps",
                 st->lag + 2);
        return -1;
    }
    return 0;
}

static void state_free(run_state *st)
{
    ring_free(&st->rg);
    free(st->pts);
    free(st->outs);
    free(st->args);
}

/* Messages rank 0 sent and received so far: the driver runs on node 0,
 * so its node's counters are rank 0's. */
static double rank0_msgs(void)
{
    ray_stats s;
    return ray_get_stats(&s) ? NAN : (double)(s.net_msgs_in + s.net_msgs_out);
}

int dag_run(const dag_config *cfg, const dag_cluster *cl, const dag_point *pt, dag_result *res)
{
    run_state st;
    double msgs0 = rank0_msgs();
    if (state_init(&st, cfg, cl, pt, res)) {
        state_free(&st);
        return -1;
    }
    long steps = cfg->shape.steps, checked = 0;
    st.t0 = dag_now_s();
    st.deadline = st.t0 + cfg->timeout_s;
    st.next_progress = st.t0 + 1.0;
    for (long t = 0; t < steps && !st.failed; t++) {
        submit_step(&st, t);
        if (t - st.lag >= 0)
            consume_step(&st, checked++);
    }
    /* The last step first (the driver sleeps once), then the others in
     * flight, done by then in most shapes. */
    if (checked < st.submitted_steps) {
        wait_steps(&st, st.submitted_steps - 1, st.submitted_steps - 1);
        if (checked < st.submitted_steps - 1)
            wait_steps(&st, checked, st.submitted_steps - 2);
    }
    res->makespan_s = dag_now_s() - st.t0;
    while (checked < st.submitted_steps)
        consume_step(&st, checked++);
    res->check_s = dag_now_s() - st.t0 - res->makespan_s;
    res->rank0_msgs = res->tasks > 0 ? (rank0_msgs() - msgs0) / (double)res->tasks : NAN;
    res->ok = !st.failed && !res->wrong && res->checked == res->tasks;
    if (!res->ok && !res->error[0] && !res->wrong)
        snprintf(res->error, sizeof(res->error), "%ld of %ld tasks checked", res->checked,
                 res->tasks);
    state_free(&st);
    return st.failed ? -1 : 0;
}
