/*
 * bench_mn.c - the several-node benchmarks of BENCHMARKS.md, as a driver
 * run by ray-mpi under mpirun (tests/perf/bench-nodes.sh starts it):
 *
 *   bench_mn W6 TRANSPORT   256 MiB made on node 1 by an actor there, which
 *                           owns it and hands its ref to the driver on node 0:
 *                           the driver's ray_get, which pulls it, is timed
 *                           (GBps_TRANSPORT), then the words are checked
 *   bench_mn W7             W1 (100,000 no-op tasks) and W3 (the 65,536-leaf tree)
 *                           with task i pinned to node i mod N, so most of the
 *                           work and the tree's edges cross nodes:
 *                           tasks_per_s_NN, rank0_msgs_per_task_NN (messages
 *                           node 0 sent and received per W1 task), tree_total_s_NN
 *   bench_mn W8             one task on the last node, its result, then exit;
 *                           prints `# first_result_wall=` and `# shutdown_wall=`
 *                           (seconds since the epoch) for the script's clock
 *   bench_mn lines PEER WL METRIC UNIT V:LOAD:OK...
 *                           prints the lines of measurements taken outside
 *                           (W8's, by the script), without ray_init
 *
 * Output as bench.c's (report.c).  Exit status 1 when a check failed or a
 * workload could not run.
 */
#define _GNU_SOURCE
#include "report.h"
#include "lib/maker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define W6_BYTES  (256ull << 20)
#define W7_TASKS  100000
#define W7_LEAVES 65536
#define W7_TREE   (2 * W7_LEAVES - 1)
#define W7_SUM    2147450880LL

/* ------------------------------------------------------------ remote side */

/* W6's maker: an actor on node 1 (tests/lib/maker.h). */


/* ------------------------------------------------------------------ W6 */

static int g_nodes;
static ray_ref *g_refs;
static ray_buf *g_bufs;

static ray_actor g_maker;

static int w6_rep(int rep, double *v, int *ok)
{
    ray_ref big;
    ray_buf b;
    int rc = maker_make(g_maker, W6_BYTES, TIMEOUT_S, &big);
    if (rc)
        return fail_ray("the object on node 1", rc);
    double t0 = now();
    rc = ray_get(big, &b, TIMEOUT_S);
    double t1 = now();
    uint64_t s = 0;
    const uint64_t *p = rc ? NULL : b.data;
    for (size_t i = 0; p && i < b.size / 8; i++)
        s += p[i];
    ray_release(big); /* this node's copy */
    if (rc)
        return fail_ray("ray_get of node 1's object", rc);
    *ok = b.size == W6_BYTES && s == w4_sum(W6_BYTES / 8);
    v[0] = (double)W6_BYTES / (t1 - t0) / 1e9;
    printf("# W6 rep=%d get_s=%.4f\n", rep, t1 - t0);
    return 0;
}

static int w6(const char *transport)
{
    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    ao.node = 1;
    int rc = ray_actor_create("Maker", NULL, 0, &ao, &g_maker);
    if (rc) {
        printf("# W6: ray_actor_create: %s\n", ray_last_error());
        return 1;
    }
    char m[64];
    snprintf(m, sizeof(m), "GBps_%s", transport);
    series s = SERIES1("ray-mpi", "W6", m, "GB/s", w6_rep);
    run_series(&s);
    ray_actor_kill(g_maker);
    return 0;
}

/* ------------------------------------------------------------------ W7 */

static uint64_t rank0_msgs(void)
{
    ray_stats st;
    return ray_get_stats(&st) ? 0 : st.net_msgs_in + st.net_msgs_out;
}

static int w7_tasks_rep(int rep, double *v, int *ok)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    uint64_t m0 = rank0_msgs();
    double t0 = now();
    for (int i = 0; i < W7_TASKS; i++) {
        o.node = i % g_nodes;
        int rc = ray_submit("noop", NULL, 0, &o, &g_refs[i]);
        if (rc) {
            release_all(g_refs, i);
            return fail_ray("ray_submit", rc);
        }
    }
    int rc = ray_get_many(g_refs, W7_TASKS, g_bufs, TIMEOUT_S);
    double t1 = now();
    int64_t sum = 0;
    for (int i = 0; !rc && i < W7_TASKS; i++)
        sum += as_i64(&g_bufs[i]);
    release_all(g_refs, W7_TASKS);
    uint64_t m1 = rank0_msgs();
    if (rc)
        return fail_ray("ray_get_many", rc);
    *ok = sum == W7_TASKS;
    v[0] = W7_TASKS / (t1 - t0);
    v[1] = (double)(m1 - m0) / W7_TASKS;
    printf("# W7 rep=%d tasks_s=%.4f rank0_msgs=%llu\n", rep, t1 - t0,
           (unsigned long long)(m1 - m0));
    return 0;
}

static int w7_tree_rep(int rep, double *v, int *ok)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    uint64_t m0 = rank0_msgs();
    double t0 = now();
    if (tree_submit(g_refs, W7_LEAVES, "leaf", "add", &o, g_nodes))
        return -1;
    ray_buf out;
    int rc = ray_get(g_refs[0], &out, TIMEOUT_S);
    double t1 = now();
    int64_t sum = rc ? 0 : as_i64(&out);
    ray_release(g_refs[0]);
    if (rc)
        return fail_ray("ray_get root", rc);
    *ok = sum == W7_SUM;
    v[0] = t1 - t0;
    printf("# W7 rep=%d tree_s=%.4f tree_tasks_per_s=%.0f rank0_msgs_per_tree_task=%.3f\n", rep,
           t1 - t0, W7_TREE / (t1 - t0), (double)(rank0_msgs() - m0) / W7_TREE);
    return 0;
}

/* ------------------------------------------------------------------ W8 */

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int w8(void)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.node = g_nodes - 1;
    ray_ref r;
    ray_buf b;
    int rc = ray_submit("noop", NULL, 0, &o, &r);
    if (!rc)
        rc = ray_get(r, &b, TIMEOUT_S);
    if (rc) {
        printf("# W8: %s: %s\n", ray_errname(rc), ray_last_error());
        return 1;
    }
    printf("# first_result_wall=%.6f nodes=%d\n", wall(), g_nodes);
    ray_release(r);
    printf("# shutdown_wall=%.6f\n", wall());
    fflush(stdout);
    return 0;
}

/* -------------------------------------------------------------- lines */

/* lines PEER WL METRIC UNIT V:LOAD:OK...: a series measured outside (LOAD is
 * /proc/loadavg's three figures joined by slashes, OK 1 or 0). */
static int lines(int argc, char **argv)
{
    if (argc < 7)
        return fprintf(stderr, "usage: bench_mn lines PEER WL METRIC UNIT V:LOAD:OK...\n"), 2;
    static results r;
    series s = SERIES1(argv[2], argv[3], argv[4], argv[5], NULL);
    for (int i = 6; i < argc && r.n < MAX_REPS; i++) {
        double v;
        int ok;
        rep_load *l = &r.load[r.n];
        if (sscanf(argv[i], "%lf:%63[^:]:%d", &v, l->text, &ok) != 3)
            return fprintf(stderr, "bench_mn lines: bad value '%s'\n", argv[i]), 2;
        l->one = strtod(l->text, NULL);
        r.v[0][r.n] = v;
        r.ok[r.n] = ok;
        r.n++;
    }
    print_metric(&s, &r, 0);
    return g_status;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "lines"))
        return lines(argc, argv);
    if (argc < 2 || read_reps() || (!strcmp(argv[1], "W6") && argc < 3)) {
        fprintf(stderr, "usage: ray-mpi bench_mn W6 TRANSPORT | W7 | W8\n");
        return 2;
    }
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "bench_mn: ray_init: %s\n", ray_last_error());
        return 1;
    }
    g_nodes = ray_num_nodes();
    int rc = 0;
    char m[3][64];
    if (!strcmp(argv[1], "W8")) {
        rc = w8();
    } else if (g_nodes < 2) {
        printf("# bench_mn %s needs 2 nodes or more, has %d\n", argv[1], g_nodes);
        rc = 1;
    } else if (!strcmp(argv[1], "W6")) {
        rc = w6(argv[2]);
    } else if (!strcmp(argv[1], "W7")) {
        g_refs = calloc(W7_TASKS, sizeof(ray_ref));
        g_bufs = calloc(W7_TASKS, sizeof(ray_buf));
        snprintf(m[0], sizeof(m[0]), "tasks_per_s_N%d", g_nodes);
        snprintf(m[1], sizeof(m[1]), "rank0_msgs_per_task_N%d", g_nodes);
        snprintf(m[2], sizeof(m[2]), "tree_total_s_N%d", g_nodes);
        series t = SERIES2("ray-mpi", "W7", m[0], m[1], "tasks/s", "msgs/task", w7_tasks_rep);
        series tree = SERIES1("ray-mpi", "W7", m[2], "s", w7_tree_rep);
        if (g_refs && g_bufs) {
            run_series(&t);
            run_series(&tree);
        } else {
            rc = 1;
        }
        free(g_refs);
        free(g_bufs);
    } else {
        fprintf(stderr, "bench_mn: unknown workload '%s'\n", argv[1]);
        rc = 2;
    }
    fflush(stdout);
    int src = ray_shutdown();
    return rc || g_status || src ? (rc ? rc : 1) : 0;
}
