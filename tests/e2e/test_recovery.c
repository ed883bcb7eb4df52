/*
 * test_recovery.c - a worker that dies in any window of the runtime's own
 * code loses nothing.  Builds configured with --enable-fault-injection
 * have named points (RAY_MPI_FAULT, HACKING.md) where a worker _exits; for
 * each point this test runs a child driver with RAY_MPI_FAULT=<point>:1:2
 * (the first two workers that reach it die there) over a workload that
 * passes every point: a tree of tasks whose arguments are objects, nested
 * tasks that submit, put, get and release (and that submit a task whose
 * arguments are not ready yet), tasks with two outputs, tasks
 * that fail, short tasks taken in batches of which some wait, and an
 * actor.  Each child checks every result, that the store
 * is back to where it started once everything is released, and says so;
 * the parent checks that the point was really hit (the node service names
 * it in its log) and that the child finished.
 */
#include "e2e.h"
#include "lib/tap.h"

#define LEAVES    128
#define FIB_N     10
#define PAIRS     40
#define BAD_PAIRS 20
#define PUTS      30
#define CALLS     60
#define QUICK     256
#define SUBTREES  8

static const char *const points[] = {
    "submit-new",  "submit-outputs", "submit-args",       "submit-queued",
    "push-locked", "pop-locked",     "push-front-locked", "batch-taken",
    "claimed",     "returned",       "sealing",           "sealed",
    "failing",     "finishing",      "freeing",           "blocked",
    "inline",      "put-copy",       "release",           "store-locked",
    "actor-call",  "hint-claimed",   "submit-hinted",
};

typedef struct val32 {
    int64_t v, pad[3];
} val32; /* in the arena, not inline */

static void spin_us(double us)
{
    double end = now_s() + us * 1e-6;
    while (now_s() < end)
        ;
}

static int64_t v32(const ray_buf *b)
{
    return b->size == sizeof(val32) ? ((const val32 *)b->data)->v : -1;
}

static int ret32(ray_ctx *ctx, int i, int64_t v)
{
    val32 *p = ray_return_alloc(ctx, i, sizeof(val32));
    if (!p)
        return ray_fail(ctx, "no room for an output: %s", ray_last_error());
    memset(p, 0, sizeof(*p));
    p->v = v;
    return 0;
}

static int leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    spin_us(20);
    return nargs == 1 ? ret32(ctx, 0, v32(&args[0])) : ray_fail(ctx, "leaf: 1 argument");
}
RAY_REMOTE(leaf)

static int add(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return nargs == 2 ? ret32(ctx, 0, v32(&args[0]) + v32(&args[1])) : ray_fail(ctx, "add: 2");
}
RAY_REMOTE(add)

static int submit_fib(int64_t n, ray_ref *out)
{
    val32 a = {n, {0, 0, 0}};
    ray_ref arg;
    int rc = ray_put(&a, sizeof(a), &arg);
    if (rc)
        return rc;
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = 10;
    ray_arg x = ray_arg_ref(arg);
    rc = ray_submit("fib", &x, 1, &o, out);
    ray_release(arg); /* the task holds it */
    return rc;
}

/* fib(n) from a ref to n: nested tasks that put, submit, get and release. */
static int fib(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = nargs == 1 ? v32(&args[0]) : -1;
    if (n < 2)
        return ret32(ctx, 0, n);
    ray_ref r[2];
    ray_buf b[2];
    if (submit_fib(n - 1, &r[0]) || submit_fib(n - 2, &r[1]) || ray_get_many(r, 2, b, 30))
        return ray_fail(ctx, "fib(%lld): %s", (long long)n, ray_last_error());
    int64_t s = v32(&b[0]) + v32(&b[1]);
    ray_release(r[0]);
    ray_release(r[1]);
    return ret32(ctx, 0, s);
}
RAY_REMOTE(fib)

/* x + x from inside a task: two leaves, then an add of both submitted
 * before they end, which its submitter names under them (submit-hinted). */
static int subtree(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t x = nargs == 1 ? buf_i64(&args[0], -1) : -1;
    val32 v = {x, {0, 0, 0}};
    ray_ref obj, l[2], s;
    ray_buf b;
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = 10;
    if (ray_put(&v, sizeof(v), &obj))
        return ray_fail(ctx, "subtree put: %s", ray_last_error());
    ray_arg a = ray_arg_ref(obj);
    int rc = ray_submit("leaf", &a, 1, &o, &l[0]);
    if (!rc)
        rc = ray_submit("leaf", &a, 1, &o, &l[1]);
    ray_release(obj);
    ray_arg two[2] = {ray_arg_ref(l[0]), ray_arg_ref(l[1])};
    if (!rc)
        rc = ray_submit("add", two, 2, &o, &s);
    if (rc)
        return ray_fail(ctx, "subtree submit: %s", ray_last_error());
    ray_release(l[0]);
    ray_release(l[1]);
    rc = ray_get(s, &b, 30);
    int64_t sum = rc ? -1 : v32(&b);
    ray_release(s);
    return rc ? ray_fail(ctx, "subtree get: %s", ray_last_error()) : ret32(ctx, 0, sum);
}
RAY_REMOTE(subtree)

static int pair(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t x = buf_i64(&args[0], -1);
    return ret32(ctx, 0, x) ? -1 : ret32(ctx, 1, x + 1);
}
RAY_REMOTE(pair)

static int bad_pair(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_fail(ctx, "bad pair %lld", (long long)buf_i64(&args[0], -1));
}
RAY_REMOTE(bad_pair)

static int inner_put(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    uint8_t data[1024];
    int64_t seed = buf_i64(&args[0], 0), sum = 0;
    for (int i = 0; i < 1024; i++)
        data[i] = (uint8_t)(seed + i);
    ray_ref r;
    ray_buf b;
    if (ray_put(data, sizeof(data), &r) || ray_get(r, &b, 30))
        return ray_fail(ctx, "inner_put: %s", ray_last_error());
    for (size_t i = 0; i < b.size; i++)
        sum += ((const uint8_t *)b.data)[i];
    ray_release(r);
    return ret32(ctx, 0, sum);
}
RAY_REMOTE(inner_put)

/* Most return at once (so workers take them in batches); every 16th waits
 * for the object `slow` makes, inside the batch (the rest go back). */
static int quick(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t i = buf_i64(&args[0], -1);
    if (i % 16 == 0) {
        ray_ref r;
        ray_buf b;
        memcpy(&r, args[1].data, sizeof(r));
        if (args[1].size != sizeof(r) || ray_get(r, &b, 30))
            return ray_fail(ctx, "quick: %s", ray_last_error());
    }
    return ray_return(ctx, 0, &i, sizeof(i));
}
RAY_REMOTE(quick)

static int slow(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    spin_us(30000);
    return ret32(ctx, 0, 7);
}
RAY_REMOTE(slow)

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return calloc(1, sizeof(int64_t));
}
static void counter_fini(void *s)
{
    free(s);
}
static int inc(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t v = ++*(int64_t *)state;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_ACTOR(Counter, counter_init, counter_fini)
RAY_METHOD(Counter, inc)

/* ---- the child: one driver, one fault point */

static int bad(const char *what, int rc)
{
    printf("# FAIL %s: %s (%s)\n", what, ray_errname(rc), ray_last_error());
    return 1;
}

static int tree(void)
{
    static ray_ref r[LEAVES];
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = 10;
    for (int64_t i = 0; i < LEAVES; i++) {
        val32 v = {i, {0, 0, 0}};
        ray_ref obj;
        ray_arg a;
        int rc = ray_put(&v, sizeof(v), &obj);
        a = ray_arg_ref(obj);
        if (rc || (rc = ray_submit("leaf", &a, 1, &o, &r[i])))
            return bad("leaf", rc);
        ray_release(obj);
    }
    for (int w = LEAVES; w > 1; w /= 2)
        for (int i = 0; i < w / 2; i++) {
            ray_arg a[2] = {ray_arg_ref(r[2 * i]), ray_arg_ref(r[2 * i + 1])};
            ray_ref s;
            int rc = ray_submit("add", a, 2, &o, &s);
            if (rc)
                return bad("add", rc);
            ray_release(r[2 * i]);
            ray_release(r[2 * i + 1]);
            r[i] = s;
        }
    ray_buf b;
    int rc = ray_get(r[0], &b, E2E_TIMEOUT);
    int64_t sum = rc ? -1 : v32(&b);
    ray_release(r[0]);
    if (sum != (int64_t)LEAVES * (LEAVES - 1) / 2)
        return rc ? bad("tree", rc) : (printf("# FAIL tree sum %lld\n", (long long)sum), 1);
    return 0;
}

static int subtrees(void)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = 10;
    ray_ref r[SUBTREES];
    for (int64_t i = 0; i < SUBTREES; i++) {
        ray_arg a = i64_arg(&i);
        int rc = ray_submit("subtree", &a, 1, &o, &r[i]);
        if (rc)
            return bad("subtree", rc);
    }
    int fails = 0;
    for (int64_t i = 0; i < SUBTREES; i++) {
        ray_buf b;
        int rc = ray_get(r[i], &b, E2E_TIMEOUT);
        int64_t got = rc ? -1 : v32(&b);
        if (got != 2 * i && fails++ < 3)
            printf("# FAIL subtree %lld: %lld (%s)\n", (long long)i, (long long)got,
                   rc ? ray_last_error() : "wrong sum");
        ray_release(r[i]);
    }
    return fails;
}

static int nested(void)
{
    ray_ref r;
    ray_buf b;
    int rc = submit_fib(FIB_N, &r);
    if (!rc)
        rc = ray_get(r, &b, E2E_TIMEOUT);
    int64_t v = rc ? -1 : v32(&b);
    if (!rc)
        ray_release(r);
    if (v != 55)
        return rc ? bad("fib", rc) : (printf("# FAIL fib(10) = %lld\n", (long long)v), 1);
    return 0;
}

static int pairs(const char *fn, int n, int fails)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_returns = 2;
    o.max_retries = 10;
    int errors = 0;
    for (int64_t i = 0; i < n; i++) {
        ray_ref r[2];
        ray_buf b[2];
        ray_arg a = i64_arg(&i);
        int rc = ray_submit(fn, &a, 1, &o, r);
        if (rc)
            return bad(fn, rc);
        for (int k = 0; k < 2; k++) {
            rc = ray_get(r[k], &b[k], E2E_TIMEOUT);
            if (fails ? rc != RAY_ETASK || !str_has(ray_last_error(), "bad pair")
                      : rc || v32(&b[k]) != i + k)
                errors++;
            ray_release(r[k]);
        }
    }
    if (errors)
        printf("# FAIL %s: %d outputs wrong\n", fn, errors);
    return errors != 0;
}

static int puts_in_tasks(void)
{
    int errors = 0;
    for (int64_t i = 0; i < PUTS; i++) {
        ray_ref r;
        ray_buf b;
        ray_arg a = i64_arg(&i);
        int64_t want = 0;
        for (int k = 0; k < 1024; k++)
            want += (uint8_t)(i + k);
        int rc = ray_submit("inner_put", &a, 1, NULL, &r);
        if (rc || (rc = ray_get(r, &b, E2E_TIMEOUT)) || v32(&b) != want)
            errors++;
        if (!rc || rc == RAY_ETASK)
            ray_release(r);
    }
    if (errors)
        printf("# FAIL inner_put: %d wrong\n", errors);
    return errors != 0;
}

static int batches(void)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = 10;
    ray_ref s, r[QUICK];
    int rc = ray_submit("slow", NULL, 0, &o, &s), errors = 0;
    for (int64_t i = 0; i < QUICK && !rc; i++) {
        ray_arg a[2] = {i64_arg(&i), ray_arg_val(&s, sizeof(s))};
        rc = ray_submit("quick", a, 2, &o, &r[i]);
    }
    if (rc)
        return bad("quick", rc);
    for (int64_t i = 0; i < QUICK; i++) {
        int64_t got = ref_i64(r[i], -1);
        if (got != i && errors < 3)
            printf("# quick %lld: %lld (%s)\n", (long long)i, (long long)got, ray_last_error());
        errors += got != i;
        ray_release(r[i]);
    }
    ray_release(s);
    if (errors)
        printf("# FAIL quick: %d wrong\n", errors);
    return errors != 0;
}

/* Each call gives the next count, or 1 after a restart, or RAY_EACTOR for
 * a call that ran on a process that died (at most 2: the budget). */
static int actor_calls(ray_actor a)
{
    int64_t prev = 1;
    int errors = 0, wrong = 0;
    for (int i = 0; i < CALLS; i++) {
        ray_ref r;
        ray_buf b;
        int rc = ray_actor_call(a, "inc", NULL, 0, NULL, &r);
        if (!rc)
            rc = ray_get(r, &b, E2E_TIMEOUT);
        if (rc == RAY_EACTOR) {
            errors++;
        } else if (rc) {
            return bad("inc", rc);
        } else {
            int64_t v = buf_i64(&b, -1);
            wrong += v != prev + 1 && v != 1;
            prev = v;
        }
        ray_release(r);
    }
    if (errors > 2 || wrong)
        printf("# FAIL actor: %d errors, %d out of order\n", errors, wrong);
    return errors > 2 || wrong;
}

/* The node's counts once they stop moving (a task that just returned may
 * still be letting go of what it held). */
static void settled_stats(ray_stats *s)
{
    ray_stats prev;
    ray_get_stats(&prev);
    for (double end = now_s() + 5; now_s() < end; prev = *s) {
        sleep_s(0.2);
        ray_get_stats(s);
        if (s->objects_live == prev.objects_live && s->tasks_live == prev.tasks_live &&
            s->store_used_bytes == prev.store_used_bytes)
            return;
    }
}

static int back_to_baseline(const ray_stats *base)
{
    ray_stats s;
    for (double end = now_s() + 15; now_s() < end; sleep_s(0.02)) {
        ray_get_stats(&s);
        if (s.objects_live == base->objects_live && s.tasks_live == base->tasks_live &&
            s.store_used_bytes == base->store_used_bytes)
            return 0;
    }
    printf("# FAIL store not back to its baseline: objects %llu (was %llu), tasks %llu (was "
           "%llu), bytes %llu (was %llu)\n",
           (unsigned long long)s.objects_live, (unsigned long long)base->objects_live,
           (unsigned long long)s.tasks_live, (unsigned long long)base->tasks_live,
           (unsigned long long)s.store_used_bytes, (unsigned long long)base->store_used_bytes);
    return 1;
}

static int child_main(int argc, char **argv)
{
    int rc = ray_init(&argc, &argv);
    if (rc)
        return bad("ray_init", rc);
    ray_actor a;
    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    ao.max_restarts = 1000;
    ray_ref r;
    ray_buf b;
    if ((rc = ray_actor_create("Counter", NULL, 0, &ao, &a)))
        return bad("actor start", rc);
    for (int tries = 0; tries < 3; tries++) { /* its process may die on a first call */
        if ((rc = ray_actor_call(a, "inc", NULL, 0, NULL, &r)))
            return bad("actor call", rc);
        rc = ray_get(r, &b, E2E_TIMEOUT);
        ray_release(r);
        if (rc != RAY_EACTOR)
            break;
    }
    if (rc)
        return bad("actor start", rc);
    ray_stats base;
    settled_stats(&base);
    /* Batches first: a worker takes short tasks in batches only while the
     * tasks it ran were short. */
    int fails = batches() + tree() + nested() + subtrees() + pairs("pair", PAIRS, 0) +
                pairs("bad_pair", BAD_PAIRS, 1) + puts_in_tasks() + actor_calls(a);
    fails += back_to_baseline(&base);
    if (!fails)
        printf("# all results right, store back to its baseline\n");
    ray_shutdown();
    return fails ? 1 : 0;
}

/* ---- the parent */

static int read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n > 0;
}

static void run_point(const char *dir, const char *point)
{
    char log[700], spec[96];
    snprintf(log, sizeof(log), "%s/%s.log", dir, point);
    snprintf(spec, sizeof(spec), "%s:1:2", point);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("RAY_MPI_FAULT", spec, 1);
        setenv("RAY_MPI_NUM_CPUS", "2", 1);
        setenv("RAY_MPI_OBJECT_STORE_MEMORY", "64M", 1);
        char *args[] = {"test_recovery", "child", NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0, ended = pid > 0 && wait_child(pid, 120, &status);
    static char out[1 << 20];
    char want[128];
    read_file(log, out, sizeof(out));
    snprintf(want, sizeof(want), "exited at fault point '%s'", point);
    ok(ended && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "%s: every result right and the store back to its baseline (%.1f s)", point, now_s() - t0);
    ok(str_has(out, want), "%s: workers really died there", point);
    if (!(ended && WIFEXITED(status) && WEXITSTATUS(status) == 0) || !str_has(out, want)) {
        int lines = 0;
        for (char *l = strtok(out, "\n"); l && lines < 30; l = strtok(NULL, "\n"))
            if (!strstr(l, "retrying")) {
                diag("  %s", l);
                lines++;
            }
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "child"))
        return child_main(argc, argv);
    char dir[512];
    if (scratch_make("recovery", dir, sizeof(dir))) {
        ok(0, "make a scratch directory under $TMPDIR");
        return 1;
    }
    const char *only = getenv("E2E_FAULT_POINT"); /* one point, for debugging */
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
        if (!only || !strcmp(only, points[i]))
            run_point(dir, points[i]);
    rm_tree(dir);
    return tap_done();
}
