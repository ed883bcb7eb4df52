/*
 * test_nested.c - tasks that submit tasks and wait for them (DESIGN.md
 * section 4: "a worker blocked in ray_get or ray_wait lends its CPU back, so
 * nested graphs never deadlock a node").  On a 2-CPU node: linear chains 24
 * and 100 levels deep, recursive fib(15) (~2000 tasks, depth 15), a binary
 * tree of depth 10 waited on with ray_wait and ray_get, the same shapes with
 * fractional-CPU tasks (which a waiting worker cannot run in its own
 * process), 1-CPU tasks waiting for 2-CPU children, a task reading a ref
 * it was handed as plain bytes, and a failure deep inside a nested graph
 * reaching the driver with its message.
 *
 * Every wait has a timeout so a deadlock shows as a failure, not a hang.
 */
#include "e2e.h"
#include "lib/tap.h"

/* Nested waits inside tasks: long enough for a busy machine, short enough
 * to report a deadlock as an error before the driver's own timeout. */
#define INNER_TIMEOUT 25.0

static ray_arg args_copy(const ray_buf *b)
{
    return ray_arg_val(b->data, b->size);
}

/* Options for a nested submit: args[k], if there, is the CPU share the
 * children ask for.  A share other than 1 makes a task of another shape,
 * which a waiting worker cannot simply run in its own process: the node
 * must lend the waiting worker's CPU to another worker. */
static const ray_task_opts *child_opts(const ray_buf *args, int nargs, int k, ray_task_opts *o)
{
    ray_task_opts_init(o);
    if (nargs > k && args[k].size == sizeof(double))
        memcpy(&o->num_cpus, args[k].data, sizeof(double));
    return o;
}

/* depth(n [, cpus]): n == 0 ? 0 : depth(n - 1) + 1, each level waiting for
 * the next. */
static int depth(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0), r = 0;
    if (n > 0) {
        int64_t m = n - 1;
        ray_arg a[2] = {i64_arg(&m), nargs > 1 ? args_copy(&args[1]) : i64_arg(&m)};
        ray_ref sub;
        ray_buf b;
        ray_task_opts o;
        int rc = ray_submit("depth", a, nargs, child_opts(args, nargs, 1, &o), &sub);
        if (rc || (rc = ray_get(sub, &b, INNER_TIMEOUT)))
            return ray_fail(ctx, "depth(%lld): %s", (long long)n, ray_last_error());
        r = buf_i64(&b, -1000) + 1;
        ray_release(sub);
    }
    return ray_return(ctx, 0, &r, sizeof(r));
}
RAY_REMOTE(depth)

/* fib(n) = fib(n - 1) + fib(n - 2), both as tasks, read with ray_get_many. */
static int fib(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0), r = n;
    if (n >= 2) {
        int64_t m[2] = {n - 1, n - 2};
        ray_ref sub[2];
        ray_buf b[2];
        ray_arg a0 = i64_arg(&m[0]), a1 = i64_arg(&m[1]);
        int rc = ray_submit("fib", &a0, 1, NULL, &sub[0]);
        rc = rc ? rc : ray_submit("fib", &a1, 1, NULL, &sub[1]);
        rc = rc ? rc : ray_get_many(sub, 2, b, INNER_TIMEOUT);
        if (rc)
            return ray_fail(ctx, "fib(%lld): %s", (long long)n, ray_last_error());
        r = buf_i64(&b[0], -1000000) + buf_i64(&b[1], -1000000);
        /* sub refs not released: the runtime drops them when the task returns */
    }
    return ray_return(ctx, 0, &r, sizeof(r));
}
RAY_REMOTE(fib)

/* tree(d [, cpus]): 1 + tree(d - 1) + tree(d - 1), waited with ray_wait,
 * then read one by one with ray_get. */
static int tree(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t d = buf_i64(&args[0], 0), r = 1;
    if (d > 0) {
        int64_t m = d - 1;
        ray_arg a[2] = {i64_arg(&m), nargs > 1 ? args_copy(&args[1]) : i64_arg(&m)};
        ray_ref sub[2];
        ray_task_opts o;
        child_opts(args, nargs, 1, &o);
        int rc = ray_submit("tree", a, nargs, &o, &sub[0]);
        rc = rc ? rc : ray_submit("tree", a, nargs, &o, &sub[1]);
        int ready[2] = {0, 0};
        if (!rc && ray_wait(sub, 2, 2, INNER_TIMEOUT, ready) != 2)
            return ray_fail(ctx, "tree(%lld): ray_wait: not both ready", (long long)d);
        for (int i = 0; i < 2 && !rc; i++) {
            ray_buf b;
            rc = ray_get(sub[i], &b, INNER_TIMEOUT);
            r += rc ? 0 : buf_i64(&b, -1000000);
            ray_release(sub[i]);
        }
        if (rc)
            return ray_fail(ctx, "tree(%lld): %s", (long long)d, ray_last_error());
    }
    return ray_return(ctx, 0, &r, sizeof(r));
}
RAY_REMOTE(tree)

/* Gets the ref it was given as plain bytes (a borrowed ref) and returns
 * the object's int64 plus one. */
static int read_ref_bytes(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_ref r;
    ray_buf b;
    if (args[0].size != sizeof(r))
        return ray_fail(ctx, "expected a ref's bytes");
    memcpy(&r, args[0].data, sizeof(r));
    if (ray_get(r, &b, INNER_TIMEOUT))
        return ray_fail(ctx, "ray_get of a borrowed ref: %s", ray_last_error());
    int64_t v = buf_i64(&b, -1000) + 1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(read_ref_bytes)

/* Waits for a child that needs the whole node (2 CPUs) while holding 1:
 * only possible if a waiting task lends its CPU. */
static int wants_whole_node(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = 0;
    ray_arg a = i64_arg(&n);
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_cpus = 2;
    ray_ref sub;
    ray_buf b;
    int rc = ray_submit("depth", &a, 1, &o, &sub);
    rc = rc ? rc : ray_get(sub, &b, INNER_TIMEOUT);
    if (rc)
        return ray_fail(ctx, "2-CPU child: %s", ray_last_error());
    int64_t v = buf_i64(&b, -1) + 1;
    ray_release(sub);
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(wants_whole_node)

/* deep_fail(n): at n == 0 fails; above, waits for n - 1 and passes its
 * error's message on with ray_fail. */
static int deep_fail(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0);
    if (n == 0)
        return ray_fail(ctx, "root cause at the bottom");
    int64_t m = n - 1;
    ray_arg a = i64_arg(&m);
    ray_ref sub;
    ray_buf b;
    int rc = ray_submit("deep_fail", &a, 1, NULL, &sub);
    if (!rc)
        rc = ray_get(sub, &b, INNER_TIMEOUT);
    if (rc == RAY_ETASK) /* pass the message on unchanged */
        return ray_fail(ctx, "%s", ray_last_error());
    return ray_fail(ctx, "deep_fail(%lld) expected RAY_ETASK, got %s: %s", (long long)n,
                    ray_errname(rc), ray_last_error());
}
RAY_REMOTE(deep_fail)

/* Runs fn(arg [, cpus]) from the driver (cpus <= 0: default options). */
static int64_t run_cpus(const char *fn, int64_t arg, double cpus, int *rc_out, double *secs)
{
    ray_arg a[2] = {i64_arg(&arg), ray_arg_val(&cpus, sizeof(cpus))};
    ray_task_opts o;
    ray_task_opts_init(&o);
    if (cpus > 0)
        o.num_cpus = cpus;
    ray_ref r;
    ray_buf b;
    double t0 = now_s();
    int rc = ray_submit(fn, a, cpus > 0 ? 2 : 1, &o, &r);
    int submitted = rc == RAY_OK;
    if (submitted)
        rc = ray_get(r, &b, E2E_TIMEOUT);
    *secs = now_s() - t0;
    *rc_out = rc;
    int64_t v = -1;
    if (rc)
        diag("%s(%lld): %s: %s", fn, (long long)arg, ray_errname(rc), ray_last_error());
    else
        v = buf_i64(&b, -1);
    if (submitted)
        ray_release(r);
    return v;
}

static int64_t run(const char *fn, int64_t arg, int *rc_out, double *secs)
{
    return run_cpus(fn, arg, 0, rc_out, secs);
}

int main(int argc, char **argv)
{
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init (2 CPUs)");
    if (rc)
        return 1;
    double t;
    int64_t v = run("depth", 24, &rc, &t);
    is_rc(rc, RAY_OK, "a chain of 24 nested tasks, each in ray_get, completes (%.3f s)", t);
    is_int(v, 24, "  ... and counts 24 levels");

    v = run("fib", 15, &rc, &t);
    is_rc(rc, RAY_OK, "recursive fib(15) as nested tasks completes (%.3f s)", t);
    is_int(v, 610, "  ... fib(15) = 610");

    v = run("tree", 10, &rc, &t);
    is_rc(rc, RAY_OK, "a binary tree of nested tasks, depth 10, completes (%.3f s)", t);
    is_int(v, 2047, "  ... with 2047 nodes");

    v = run("depth", 100, &rc, &t);
    is_rc(rc, RAY_OK, "a chain of 100 nested tasks completes (%.3f s)", t);
    is_int(v, 100, "  ... and counts 100 levels");

    /* Tasks of another shape (0.75 CPU): the waiting tasks must lend their
     * CPU; two of them already fill the node's 2 CPUs. */
    v = run_cpus("depth", 12, 0.75, &rc, &t);
    is_rc(rc, RAY_OK, "a chain of 12 nested 0.75-CPU tasks completes (%.3f s)", t);
    is_int(v, 12, "  ... and counts 12 levels");
    v = run_cpus("tree", 4, 0.5, &rc, &t);
    is_rc(rc, RAY_OK, "a binary tree of nested 0.5-CPU tasks, depth 4, completes (%.3f s)", t);
    is_int(v, 31, "  ... with 31 nodes");

    /* Two 1-CPU tasks, each waiting for a 2-CPU child. */
    ray_ref w[2];
    ray_buf wb[2];
    rc = ray_submit("wants_whole_node", NULL, 0, NULL, &w[0]);
    rc = rc ? rc : ray_submit("wants_whole_node", NULL, 0, NULL, &w[1]);
    rc = rc ? rc : ray_get_many(w, 2, wb, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "two 1-CPU tasks each waiting for a 2-CPU child complete");
    ok(rc == RAY_OK && buf_i64(&wb[0], -1) == 1 && buf_i64(&wb[1], -1) == 1,
       "  ... with their children's results");
    ray_release(w[0]);
    ray_release(w[1]);

    int64_t x = 41;
    ray_ref obj, r;
    ray_buf b;
    ray_put(&x, sizeof(x), &obj);
    ray_arg a = ray_arg_val(&obj, sizeof(obj));
    rc = ray_submit("read_ref_bytes", &a, 1, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "a task can ray_get a ref handed to it as plain bytes");
    is_int(rc ? -1 : buf_i64(&b, -1), 42, "  ... and reads the object");
    ray_release(r);
    ray_release(obj);

    int64_t n = 8;
    a = i64_arg(&n);
    rc = ray_submit("deep_fail", &a, 1, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_ETASK, "a failure 8 levels down reaches the driver as RAY_ETASK");
    ok(!strcmp(ray_last_error(), "root cause at the bottom"), "  ... with its message (%s)",
       ray_last_error());
    ray_release(r);

    /* The node is still usable, and nothing is left running. */
    v = run("depth", 3, &rc, &t);
    is_int(v, 3, "the node still runs nested tasks afterwards");
    ray_stats s;
    double end = now_s() + 10;
    do {
        ray_get_stats(&s);
    } while (s.tasks_live && now_s() < end && (sleep_s(0.05), 1));
    is_int(s.tasks_live, 0, "no task is left live");
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    return tap_done();
}
