/*
 * test_resources.c - resource requests are honoured (DESIGN.md section 3:
 * the scheduler dispatches a task to a worker when its resources are free).
 * On a node pinned to 2 CPUs and a custom resource "bar:2": four 0.5-CPU
 * tasks run at once; a 0-CPU task runs while both CPUs are taken; a 2-CPU
 * task waits for both CPUs; at most two "bar:1" tasks run at once; and
 * resources come back when tasks end.
 *
 * Tasks are "held": each creates <dir>/started.<name> and waits for
 * <dir>/open.<name> (20 s at most), so the test sees what runs together.
 */
#include "e2e.h"
#include "lib/tap.h"

static char dir[512];

static int hold(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    gate_pass(&args[0], &args[1], 20);
    int64_t v = 1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(hold)

static int submit_hold(const char *name, double cpus, const char *res, ray_ref *r)
{
    ray_arg a[2] = {ray_arg_val(dir, strlen(dir)), ray_arg_val(name, strlen(name))};
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_cpus = cpus;
    o.resources = res;
    return ray_submit("hold", a, 2, &o, r);
}

static void path_of(const char *what, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.%s", dir, what, name);
}

static int started_within(const char *name, double secs)
{
    char p[700];
    path_of("started", name, p, sizeof(p));
    return wait_file(p, secs);
}

static int is_started(const char *name)
{
    char p[700];
    path_of("started", name, p, sizeof(p));
    return file_exists(p);
}

static void open_gate(const char *name)
{
    char p[700];
    path_of("open", name, p, sizeof(p));
    touch(p);
}

/* Opens the gates and reads the results of n held tasks. */
static int finish(ray_ref *r, const char *const *names, int n)
{
    int good = 1;
    for (int i = 0; i < n; i++)
        open_gate(names[i]);
    for (int i = 0; i < n; i++) {
        good &= ref_i64(r[i], -1) == 1;
        ray_release(r[i]);
    }
    return good;
}

static void test_fractional(void)
{
    const char *names[4] = {"half0", "half1", "half2", "half3"};
    ray_ref r[4];
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++)
        rc = submit_hold(names[i], 0.5, NULL, &r[i]);
    is_rc(rc, RAY_OK, "submit four 0.5-CPU tasks");
    int all = 1;
    for (int i = 0; i < 4; i++)
        all &= started_within(names[i], E2E_TIMEOUT);
    ok(all, "  ... all four run at once on 2 CPUs");
    ok(finish(r, names, 4), "  ... and finish");
}

static void test_zero_and_whole(void)
{
    const char *busy[2] = {"busy0", "busy1"};
    ray_ref b[2], z, w;
    int rc = submit_hold(busy[0], 1, NULL, &b[0]);
    rc = rc ? rc : submit_hold(busy[1], 1, NULL, &b[1]);
    ok(!rc && started_within("busy0", E2E_TIMEOUT) && started_within("busy1", E2E_TIMEOUT),
       "two 1-CPU tasks take both CPUs");
    rc = submit_hold("zero", 0, NULL, &z);
    ok(!rc && started_within("zero", E2E_TIMEOUT), "a 0-CPU task still runs");
    rc = submit_hold("whole", 2, NULL, &w);
    is_rc(rc, RAY_OK, "submit a 2-CPU task");
    sleep_s(0.5);
    ok(!is_started("whole"), "  ... it waits while the CPUs are taken");
    const char *one[1] = {"busy0"};
    ok(finish(&b[0], one, 1), "one 1-CPU task ends");
    sleep_s(0.5);
    ok(!is_started("whole"), "  ... the 2-CPU task still waits (1 CPU free)");
    const char *two[1] = {"busy1"};
    ok(finish(&b[1], two, 1), "the other 1-CPU task ends");
    ok(started_within("whole", E2E_TIMEOUT), "  ... now the 2-CPU task runs");
    const char *rest[2] = {"zero", "whole"};
    ray_ref rr[2] = {z, w};
    ok(finish(rr, rest, 2), "  ... and finishes, as does the 0-CPU task");
}

static void test_custom(void)
{
    const char *names[3] = {"bar0", "bar1", "bar2"};
    ray_ref r[3];
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++)
        rc = submit_hold(names[i], 0, "bar:1", &r[i]);
    is_rc(rc, RAY_OK, "submit three 0-CPU tasks asking for bar:1 (the node has bar:2)");
    ok(started_within("bar0", E2E_TIMEOUT) && started_within("bar1", E2E_TIMEOUT),
       "  ... two of them run");
    sleep_s(0.5);
    ok(!is_started("bar2"), "  ... the third waits for bar");
    const char *first[1] = {"bar0"};
    ok(finish(&r[0], first, 1), "one ends");
    ok(started_within("bar2", E2E_TIMEOUT), "  ... and the third runs");
    const char *rest[2] = {"bar1", "bar2"};
    ok(finish(&r[1], rest, 2), "  ... all finish");
}

static void test_all_back(void)
{
    /* After all that, everything is free again: 2 CPUs and bar:2 at once. */
    ray_ref r[2];
    int rc = submit_hold("last0", 1, "bar:1", &r[0]);
    rc = rc ? rc : submit_hold("last1", 1, "bar:1", &r[1]);
    ok(!rc && started_within("last0", E2E_TIMEOUT) && started_within("last1", E2E_TIMEOUT),
       "all resources came back: two tasks with 1 CPU and bar:1 each run at once");
    const char *names[2] = {"last0", "last1"};
    finish(r, names, 2);
}

int main(int argc, char **argv)
{
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    setenv("RAY_MPI_RESOURCES", "bar:2", 1);
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init (2 CPUs, bar:2)");
    if (rc)
        return 1;
    scratch_make("resources", dir, sizeof(dir));
    test_fractional();
    test_zero_and_whole();
    test_custom();
    test_all_back();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    rm_tree(dir);
    return tap_done();
}
