/*
 * test_tasks.c - remote tasks as users rely on them (DESIGN.md section 4):
 * futures as arguments (chains, diamonds, fan-in, 1000 arguments, a ref
 * released while its task waits), value arguments copied at submit, tasks
 * using the store themselves, several returns, outputs written in place, a
 * task that writes no output, ray_wait's counting and timeouts, ray_get's
 * timeouts (0, short, huge, negative), ray_get_many returning at the first
 * error without waiting for slow siblings, and a failure's message (exact,
 * even when long) reaching every ray_get downstream.
 *
 * Tasks that must stay running until the test says so are "gated": they
 * create <dir>/started.<name>, then wait (at most 20 s) for <dir>/open.<name>.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <math.h>

static char dir[512]; /* scratch directory for gates, under $TMPDIR */

/* ---- remote functions */

/* Sum of its int64 arguments (values or refs alike). */
static int add(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t s = 0;
    for (int i = 0; i < nargs; i++)
        s += buf_i64(&args[i], 1000000);
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(add)

static int mul2(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = buf_i64(&args[0], 1000000) * 2;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(mul2)

static int echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(echo)

/* args: x, n.  Output i is x * 10 + i, for i < n. */
static int spread(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t x = buf_i64(&args[0], 0), n = buf_i64(&args[1], 0);
    for (int64_t i = n - 1; i >= 0; i--) { /* any order */
        int64_t v = x * 10 + i;
        int rc = ray_return(ctx, (int)i, &v, sizeof(v));
        if (rc)
            return ray_fail(ctx, "ray_return(%d): %s", (int)i, ray_last_error());
    }
    return 0;
}
RAY_REMOTE(spread)

/* args: n.  Writes n bytes in place: byte i is i % 251. */
static int alloc_out(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0);
    uint8_t *p = ray_return_alloc(ctx, 0, (size_t)n);
    if (!p && n)
        return ray_fail(ctx, "ray_return_alloc: %s", ray_last_error());
    for (int64_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i % 251);
    return 0;
}
RAY_REMOTE(alloc_out)

/* Returns without writing its output. */
static int no_output(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return 0;
}
RAY_REMOTE(no_output)

/* Two outputs: 0 is written once; 1 says what writing 0 again, writing
 * index 2 (out of range) and index -1 gave. */
static int misuse_returns(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = 1, codes[3];
    ray_return(ctx, 0, &v, sizeof(v));
    codes[0] = ray_return(ctx, 0, &v, sizeof(v));
    codes[1] = ray_return(ctx, 2, &v, sizeof(v));
    codes[2] = ray_return(ctx, -1, &v, sizeof(v));
    return ray_return(ctx, 1, codes, sizeof(codes));
}
RAY_REMOTE(misuse_returns)

/* args: dir, name, value.  Waits for its gate, then returns value. */
static int gated(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    gate_pass(&args[0], &args[1], 20);
    return ray_return(ctx, 0, args[2].data, args[2].size);
}
RAY_REMOTE(gated)

/* args: message [, dir, name]: fails with exactly that message (after
 * its gate, when one is given). */
static int fail_with(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    char msg[4096];
    buf_str(&args[0], msg, sizeof(msg));
    if (nargs == 3) {
        char d[512], name[64], path[700];
        buf_str(&args[1], d, sizeof(d));
        buf_str(&args[2], name, sizeof(name));
        snprintf(path, sizeof(path), "%s/open.%s", d, name);
        wait_file(path, 20);
    }
    return ray_fail(ctx, "%s", msg);
}
RAY_REMOTE(fail_with)

/* Returns its argument as the function's result, without ray_fail. */
static int return_code(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return (int)buf_i64(&args[0], 1);
}
RAY_REMOTE(return_code)

/* Writes output 0, then fails: no output of a failed task is delivered. */
static int half_then_fail(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = 5;
    ray_return(ctx, 0, &v, sizeof(v));
    return ray_fail(ctx, "failed after output 0");
}
RAY_REMOTE(half_then_fail)

/* Puts an object in the store itself, hands it to a subtask, returns the
 * subtask's result (object * 2). */
static int put_in_task(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = buf_i64(&args[0], 0);
    ray_ref obj, sub;
    ray_buf b;
    int rc = ray_put(&v, sizeof(v), &obj);
    ray_arg a = ray_arg_ref(obj);
    rc = rc ? rc : ray_submit("mul2", &a, 1, NULL, &sub);
    rc = rc ? rc : ray_get(sub, &b, 25);
    if (rc)
        return ray_fail(ctx, "put_in_task: %s", ray_last_error());
    return ray_return(ctx, 0, b.data, b.size);
}
RAY_REMOTE(put_in_task)

/* Returns {ray_ctx_node, ray_ctx_gpus} as two int64s. */
static int where(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int ids[16];
    int64_t w[2] = {ray_ctx_node(ctx), ray_ctx_gpus(ctx, ids, 16)};
    return ray_return(ctx, 0, w, sizeof(w));
}
RAY_REMOTE(where)

/* Submits touch_file(its argument) and returns without waiting for it. */
static int spawn_and_return(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_arg a = ray_arg_val(args[0].data, args[0].size);
    ray_ref r;
    return ray_submit("touch_file", &a, 1, NULL, &r);
}
RAY_REMOTE(spawn_and_return)

/* Touches the file named by its argument (a side effect to observe). */
static int touch_file(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    char path[700];
    touch(buf_str(&args[0], path, sizeof(path)));
    return 0;
}
RAY_REMOTE(touch_file)

/* ---- helpers */

static int submit_gated(const char *name, const int64_t *value, ray_ref *out)
{
    ray_arg a[3] = {str_arg(dir), str_arg(name), i64_arg(value)};
    return ray_submit("gated", a, 3, NULL, out);
}

static void open_gate(const char *name)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/open.%s", dir, name);
    touch(path);
}

/* ---- futures as arguments */

static void test_chain(void)
{
    int64_t zero = 0, one = 1;
    ray_arg a[2] = {i64_arg(&zero), i64_arg(&one)};
    ray_ref cur;
    int rc = ray_submit("add", a, 2, NULL, &cur);
    for (int i = 1; i < 50 && !rc; i++) {
        ray_arg b[2] = {ray_arg_ref(cur), i64_arg(&one)};
        ray_ref next;
        rc = ray_submit("add", b, 2, NULL, &next);
        ray_release(cur); /* safe: the pending task holds its argument */
        cur = next;
    }
    is_rc(rc, RAY_OK, "submit a chain of 50 add(prev, 1), releasing each ref at once");
    is_int(ref_i64(cur, -1), 50, "the chain ends at 50");
    ray_release(cur);
}

static void test_diamond_and_fan_in(void)
{
    int64_t three = 3, one = 1;
    ray_arg a = i64_arg(&three);
    ray_ref top, left, right, bottom;
    int rc = ray_submit("echo", &a, 1, NULL, &top);
    ray_arg l = ray_arg_ref(top);
    ray_arg r[2] = {ray_arg_ref(top), i64_arg(&one)};
    rc = rc ? rc : ray_submit("mul2", &l, 1, NULL, &left);
    rc = rc ? rc : ray_submit("add", r, 2, NULL, &right);
    ray_arg b[3] = {ray_arg_ref(left), ray_arg_ref(right), ray_arg_ref(top)};
    rc = rc ? rc : ray_submit("add", b, 3, NULL, &bottom);
    is_rc(rc, RAY_OK, "submit a diamond: top=3, left=2*top, right=top+1, bottom=sum");
    is_int(ref_i64(bottom, -1), 6 + 4 + 3, "the diamond's bottom is 13");
    ray_release(top);
    ray_release(left);
    ray_release(right);
    ray_release(bottom);

    enum { N = 16 };
    ray_ref parts[N];
    ray_arg fan[N + 1];
    int64_t vals[N];
    rc = 0;
    for (int i = 0; i < N && !rc; i++) {
        vals[i] = i + 1;
        ray_arg v = i64_arg(&vals[i]);
        rc = ray_submit("mul2", &v, 1, NULL, &parts[i]);
        fan[i] = ray_arg_ref(parts[i]);
    }
    fan[N] = ray_arg_ref(parts[0]); /* the same ref twice is fine */
    ray_ref sum;
    rc = rc ? rc : ray_submit("add", fan, N + 1, NULL, &sum);
    is_rc(rc, RAY_OK, "submit 16 tasks and one that takes all 16 refs (one twice)");
    for (int i = 0; i < N; i++)
        ray_release(parts[i]);
    is_int(ref_i64(sum, -1), 2 * (N * (N + 1) / 2) + 2, "the fan-in sums them all");
    ray_release(sum);
}

/* Tasks that wait on an object with more waiters than its hint record
 * names (7), and on an object of their own: the node service takes and
 * counts the tasks the driver could not name everywhere.  Their own
 * objects are made first (a task is not ready yet), then the shared one:
 * every task runs, none is left waiting for a notice.  Both start behind
 * gated tasks (the shared one holds a worker until its gate opens). */
static void test_wide_wait(void)
{
    enum { N = 24 };
    ray_ref own[N], out[N], g1, shared;
    int64_t zero = 0, thousand = 1000, vals[N];
    int ready[N], rc = submit_gated("wide-own", &zero, &g1);
    rc = rc ? rc : submit_gated("wide-shared", &thousand, &shared);
    for (int i = 0; i < N && !rc; i++) {
        vals[i] = i;
        ray_arg a[2] = {ray_arg_ref(g1), i64_arg(&vals[i])};
        rc = ray_submit("add", a, 2, NULL, &own[i]);
    }
    for (int i = 0; i < N && !rc; i++) {
        ray_arg a[2] = {ray_arg_ref(own[i]), ray_arg_ref(shared)};
        rc = ray_submit("add", a, 2, NULL, &out[i]);
    }
    is_rc(rc, RAY_OK, "%d tasks wait on one gated task's output and each on its own", N);
    if (rc)
        return;
    /* Nothing can run yet: the service has read the submits by the end. */
    is_int(ray_wait(out, N, 1, 0.2, ready), 0, "none of them runs before its arguments");
    open_gate("wide-own");
    /* Polled (a zero timeout registers no waiter, which would make the
     * service want a notice of their seals anyway). */
    int made = 0;
    for (double t0 = now_s(); made < N && now_s() - t0 < E2E_TIMEOUT; sleep_s(0.02))
        made = ray_wait(own, N, N, 0, ready);
    is_int(made, N, "their own arguments are made first");
    is_int(ray_wait(out, N, 1, 0.1, ready), 0, "... and none of them runs with those alone");
    open_gate("wide-shared");
    int got = 0;
    for (int i = 0; i < N; i++) {
        ray_buf b;
        got += ray_get(out[i], &b, 10.0) == 0 && buf_i64(&b, -1) == 1000 + i;
    }
    is_int(got, N, "then the shared one: every task ran, with both arguments (within 10 s)");
    for (int i = 0; i < N; i++) {
        ray_release(own[i]);
        ray_release(out[i]);
    }
    ray_release(g1);
    ray_release(shared);
}

static void test_value_args(void)
{
    size_t n = 1 << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7);
    ray_arg a = ray_arg_val(big, n);
    ray_ref r;
    int rc = ray_submit("echo", &a, 1, NULL, &r);
    memset(big, 0, n); /* bytes were copied at submit */
    is_rc(rc, RAY_OK, "submit echo with a 1 MB value argument");
    ray_buf b;
    int same = ray_get(r, &b, E2E_TIMEOUT) == RAY_OK && b.size == n;
    for (size_t i = 0; same && i < n; i++)
        same = ((const uint8_t *)b.data)[i] == (uint8_t)(i * 7);
    ok(same, "the task got the bytes as they were at submit");
    ray_release(r);
    free(big);

    ray_arg e = ray_arg_val(NULL, 0);
    rc = ray_submit("echo", &e, 1, NULL, &r);
    ok(rc == RAY_OK && ray_get(r, &b, E2E_TIMEOUT) == RAY_OK && b.size == 0,
       "an empty value argument arrives empty");
    ray_release(r);
}

static void test_many_args(void)
{
    enum { N = 1000 };
    static int64_t vals[N];
    static ray_arg a[N];
    for (int i = 0; i < N; i++) {
        vals[i] = i;
        a[i] = i64_arg(&vals[i]);
    }
    ray_ref r;
    int rc = ray_submit("add", a, N, NULL, &r);
    is_rc(rc, RAY_OK, "submit a task with 1000 value arguments");
    is_int(rc ? -1 : ref_i64(r, -1), N * (N - 1) / 2, "  ... it sees all of them");
    if (!rc)
        ray_release(r);

    /* 200 refs to 200 objects, released right after the submit. */
    enum { M = 200 };
    static ray_ref objs[M];
    static ray_arg ra[M];
    for (int i = 0; i < M; i++) {
        ray_put(&vals[i], sizeof(vals[i]), &objs[i]);
        ra[i] = ray_arg_ref(objs[i]);
    }
    rc = ray_submit("add", ra, M, NULL, &r);
    for (int i = 0; i < M; i++)
        ray_release(objs[i]);
    is_rc(rc, RAY_OK, "submit a task with 200 ref arguments, then release the refs");
    is_int(rc ? -1 : ref_i64(r, -1), M * (M - 1) / 2, "  ... it sees all of them");
    if (!rc)
        ray_release(r);
}

/* The one reference of an argument is dropped while its task waits: the
 * task still gets the bytes, even when new objects are made meanwhile. */
static void test_release_while_pending(void)
{
    size_t n = 8 << 20;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    ray_ref obj, r, noise[8];
    int64_t one = 1;
    ray_put(data, n, &obj);
    /* echo(obj, g) cannot start before the gated task g ends: it holds obj
     * all that time. */
    ray_ref g;
    submit_gated("pending", &one, &g);
    ray_arg a[2] = {ray_arg_ref(obj), ray_arg_ref(g)};
    int rc = ray_submit("echo", a, 2, NULL, &r);
    is_rc(rc, RAY_OK, "submit echo(8 MB object, gated value)");
    is_rc(ray_release(obj), RAY_OK, "  ... release the object's only ref while echo waits");
    ray_release(g);
    memset(data, 0, n);
    for (int i = 0; i < 8; i++) /* would reuse the space if it were freed */
        ray_put(data, n, &noise[i]);
    open_gate("pending");
    ray_buf b;
    rc = ray_get(r, &b, E2E_TIMEOUT);
    int same = rc == RAY_OK && b.size == n;
    for (size_t i = 0; same && i < n; i++)
        same = ((const uint8_t *)b.data)[i] == (uint8_t)(i * 13 + 1);
    ok(same, "  ... the task still got the object's bytes");
    ray_release(r);
    for (int i = 0; i < 8; i++)
        ray_release(noise[i]);
    free(data);
}

static void test_tasks_use_the_store(void)
{
    int64_t v = 21;
    ray_arg a = i64_arg(&v);
    ray_ref r;
    int rc = ray_submit("put_in_task", &a, 1, NULL, &r);
    is_int(rc ? -1 : ref_i64(r, -1), 42, "a task can ray_put and pass the ref to a subtask");
    if (!rc)
        ray_release(r);
    rc = ray_submit("where", NULL, 0, NULL, &r);
    ray_buf b;
    int64_t w[2] = {-1, -1};
    if (!rc && ray_get(r, &b, E2E_TIMEOUT) == RAY_OK && b.size == sizeof(w))
        memcpy(w, b.data, sizeof(w));
    is_int(w[0], ray_node_id(), "ray_ctx_node in a task is the driver's node here (0)");
    is_int(w[1], 0, "ray_ctx_gpus of a task that asked for none is 0");
    if (!rc)
        ray_release(r);
}

/* ---- returns */

static void test_num_returns(void)
{
    for (int n = 2; n <= 64; n *= 4) {
        ray_task_opts o;
        ray_task_opts_init(&o);
        o.num_returns = n;
        int64_t x = 7, nn = n;
        ray_arg a[2] = {i64_arg(&x), i64_arg(&nn)};
        ray_ref r[64];
        is_rc(ray_submit("spread", a, 2, &o, r), RAY_OK, "submit spread with num_returns=%d", n);
        int all = 1;
        for (int i = 0; i < n; i++) {
            int64_t v = ref_i64(r[i], -1);
            if (v != 70 + i) {
                diag("output %d: %lld, want %d", i, (long long)v, 70 + i);
                all = 0;
            }
            ray_release(r[i]);
        }
        ok(all, "each of the %d outputs has its own value", n);
    }
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_returns = 0;
    char path[700];
    snprintf(path, sizeof(path), "%s/ran.noreturn", dir);
    ray_arg a = str_arg(path);
    is_rc(ray_submit("touch_file", &a, 1, &o, NULL), RAY_OK,
          "num_returns=0 with a NULL returns array");
    ok(wait_file(path, E2E_TIMEOUT), "the num_returns=0 task ran");

    /* Fire and forget: outputs nobody holds do not stop a task. */
    ray_ref r;
    snprintf(path, sizeof(path), "%s/ran.released", dir);
    a = str_arg(path);
    is_rc(ray_submit("touch_file", &a, 1, NULL, &r), RAY_OK, "submit a task");
    ray_release(r);
    ok(wait_file(path, E2E_TIMEOUT), "  ... it runs though its output was released at once");
    snprintf(path, sizeof(path), "%s/ran.orphan", dir);
    a = str_arg(path);
    ray_buf b;
    int rc = ray_submit("spawn_and_return", &a, 1, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "a task submits a child and returns without waiting for it");
    ray_release(r);
    ok(wait_file(path, E2E_TIMEOUT), "  ... the child still runs");
}

static void test_return_alloc(void)
{
    int64_t sizes[] = {0, 8, 24, 25, 4096, 3 << 20};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        ray_arg a = i64_arg(&sizes[k]);
        ray_ref r;
        ray_buf b;
        int rc = ray_submit("alloc_out", &a, 1, NULL, &r);
        rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
        int same = rc == RAY_OK && b.size == (size_t)sizes[k];
        for (int64_t i = 0; same && i < sizes[k]; i++)
            same = ((const uint8_t *)b.data)[i] == (uint8_t)(i % 251);
        ok(same, "ray_return_alloc of %lld bytes, written in place, reads back",
           (long long)sizes[k]);
        ray_release(r);
    }
}

static void test_no_output(void)
{
    ray_ref r;
    ray_buf b = {"x", 5};
    is_rc(ray_submit("no_output", NULL, 0, NULL, &r), RAY_OK, "submit a task that writes nothing");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "its output is ready and not an error");
    is_int(b.size, 0, "its output is empty");
    ray_release(r);

    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_returns = 2;
    ray_ref m[2];
    is_rc(ray_submit("misuse_returns", NULL, 0, &o, m), RAY_OK, "submit misuse_returns");
    is_int(ref_i64(m[0], -1), 1, "output 0 keeps its first value");
    int ok_get = ray_get(m[1], &b, E2E_TIMEOUT) == RAY_OK && b.size == 3 * sizeof(int64_t);
    int64_t codes[3] = {0, 0, 0};
    if (ok_get)
        memcpy(codes, b.data, sizeof(codes));
    is_int(codes[0], RAY_EINVAL, "ray_return to the same index twice: RAY_EINVAL");
    is_int(codes[1], RAY_EINVAL, "ray_return to index 2 of 2 outputs: RAY_EINVAL");
    is_int(codes[2], RAY_EINVAL, "ray_return to index -1: RAY_EINVAL");
    ray_release(m[0]);
    ray_release(m[1]);
}

/* ---- waiting */

static void test_wait(void)
{
    int64_t one = 1, two = 2, three = 3;
    ray_ref r[3];
    ray_arg a1 = i64_arg(&one), a3 = i64_arg(&three);
    int rc = ray_submit("echo", &a1, 1, NULL, &r[0]);
    rc = rc ? rc : submit_gated("wait", &two, &r[1]);
    rc = rc ? rc : ray_submit("echo", &a3, 1, NULL, &r[2]);
    is_rc(rc, RAY_OK, "submit fast, gated, fast");
    int ready[3] = {-1, -1, -1};
    int n = ray_wait(r, 3, 2, E2E_TIMEOUT, ready);
    is_int(n, 2, "ray_wait(num_ready=2) returns 2 ready");
    ok(ready[0] == 1 && ready[1] == 0 && ready[2] == 1, "ready[] = {1, 0, 1} (got {%d, %d, %d})",
       ready[0], ready[1], ready[2]);

    double t0 = now_s();
    n = ray_wait(r, 3, 3, 0.3, ready);
    double dt = now_s() - t0;
    is_int(n, 2, "ray_wait(num_ready=3, 0.3 s) times out returning the count, not an error");
    ok(dt >= 0.25 && dt < 5, "  ... after about 0.3 s (%.2f s)", dt);
    ok(ready[1] == 0, "  ... with the gated one not ready");

    t0 = now_s();
    n = ray_wait(r, 3, 0, E2E_TIMEOUT, ready);
    is_int(n, 2, "ray_wait(num_ready=0) returns at once with the count");
    ok(now_s() - t0 < 5, "  ... without waiting (%.2f s)", now_s() - t0);
    is_int(ray_wait(r, 0, 0, 1, ready), 0, "ray_wait on 0 refs returns 0");

    open_gate("wait");
    n = ray_wait(r, 3, 3, E2E_TIMEOUT, ready);
    is_int(n, 3, "after the gate opens, ray_wait(num_ready=3) returns 3");
    ok(ready[0] && ready[1] && ready[2], "  ... all flagged ready");
    ray_release(r[0]);
    ray_release(r[1]);
    ray_release(r[2]);

    /* An error is a ready object. */
    ray_ref f;
    ray_arg m = str_arg("waited failure");
    ray_submit("fail_with", &m, 1, NULL, &f);
    ready[0] = -1;
    n = ray_wait(&f, 1, 1, E2E_TIMEOUT, ready);
    ok(n == 1 && ready[0] == 1, "a failed task's output counts as ready for ray_wait");
    ray_release(f);
}

static void test_get_timeout(void)
{
    int64_t v = 77;
    ray_ref r;
    is_rc(submit_gated("timeout", &v, &r), RAY_OK, "submit a gated task");
    ray_buf b;
    double t0 = now_s();
    is_rc(ray_get(r, &b, 0), RAY_ETIMEDOUT, "ray_get(timeout 0) of a running task: RAY_ETIMEDOUT");
    ok(now_s() - t0 < 2, "  ... at once (%.2f s)", now_s() - t0);
    t0 = now_s();
    is_rc(ray_get(r, &b, 0.5), RAY_ETIMEDOUT, "ray_get(timeout 0.5 s): RAY_ETIMEDOUT");
    double dt = now_s() - t0;
    ok(dt >= 0.45 && dt < 5, "  ... after about 0.5 s (%.2f s)", dt);
    open_gate("timeout");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "the same ref, later, succeeds");
    is_int(buf_i64(&b, -1), 77, "  ... with the task's value");
    ray_release(r);

    /* Huge timeouts mean "wait", not an overflowed deadline in the past. */
    double huge[2] = {1e300, INFINITY};
    for (int i = 0; i < 2; i++) {
        ray_ref q;
        char gate[32];
        snprintf(gate, sizeof(gate), "huge%d", i);
        v = 80 + i;
        submit_gated(gate, &v, &q);
        int ready = 0;
        t0 = now_s();
        int n = ray_wait(&q, 1, 1, 0.2, &ready); /* still gated */
        ok(n == 0 && now_s() - t0 >= 0.15, "ray_wait(0.2 s) on a gated task gives 0");
        open_gate(gate);
        is_rc(ray_get(q, &b, huge[i]), RAY_OK, "ray_get with timeout %g waits for the task",
              huge[i]);
        is_int(buf_i64(&b, -1), 80 + i, "  ... and gets its value");
        ray_release(q);
    }

    v = 78;
    is_rc(submit_gated("forever", &v, &r), RAY_OK, "submit another gated task");
    open_gate("forever");
    is_rc(ray_get(r, &b, -1), RAY_OK, "ray_get with a negative timeout waits until it is done");
    is_int(buf_i64(&b, -1), 78, "  ... with the task's value");
    ray_release(r);
}

static void test_get_many(void)
{
    enum { N = 8 };
    ray_ref r[N];
    int64_t v[N];
    int rc = 0;
    for (int i = 0; i < N && !rc; i++) {
        v[i] = 100 + i;
        ray_arg a = i64_arg(&v[i]);
        rc = ray_submit("echo", &a, 1, NULL, &r[i]);
    }
    ray_buf b[N];
    is_rc(rc ? rc : ray_get_many(r, N, b, E2E_TIMEOUT), RAY_OK, "ray_get_many of 8 outputs");
    int all = 1;
    for (int i = 0; i < N; i++) {
        all &= buf_i64(&b[i], -1) == 100 + i;
        ray_release(r[i]);
    }
    ok(all, "  ... each buffer in its ref's place");
    is_rc(ray_get_many(r, 0, b, 1), RAY_OK, "ray_get_many of 0 refs");

    /* A slow sibling (gated: it would take 20 s) and a failing task. */
    int64_t slow_v = 1;
    ray_ref two[2];
    const char *msg = "early error: disk on fire (code 42)";
    ray_arg m = str_arg(msg);
    rc = submit_gated("many", &slow_v, &two[0]);
    rc = rc ? rc : ray_submit("fail_with", &m, 1, NULL, &two[1]);
    is_rc(rc, RAY_OK, "submit a slow task and a failing one");
    double t0 = now_s();
    rc = ray_get_many(two, 2, b, E2E_TIMEOUT);
    double dt = now_s() - t0;
    is_rc(rc, RAY_ETASK, "ray_get_many returns the failing task's RAY_ETASK");
    ok(!strcmp(ray_last_error(), msg), "  ... with its message (%s)", ray_last_error());
    ok(dt < 5, "  ... without waiting for the slow sibling (%.2f s)", dt);
    ray_buf keep[1];
    is_rc(ray_get_many(&two[0], 1, keep, 0.2), RAY_ETIMEDOUT,
          "ray_get_many(0.2 s) of the still-running task: RAY_ETIMEDOUT");
    open_gate("many");
    ok(ref_i64(two[0], -1) == 1, "the slow sibling still finishes normally");
    ray_release(two[0]);
    ray_release(two[1]);
}

/* ---- failures */

static void expect_failed(ray_ref r, int code, const char *msg, const char *what)
{
    ray_buf b;
    is_rc(ray_get(r, &b, E2E_TIMEOUT), code, "%s: %s", what, ray_errname(code));
    ok(!strcmp(ray_last_error(), msg), "%s: the original message (got '%s')", what,
       ray_last_error());
}

/* l1 = add(f, 1), l2 = mul2(l1), l3 = add(5, l2, 6): every level fails. */
static void downstream(ray_ref f, ray_ref l[3])
{
    int64_t one = 1, five = 5, six = 6;
    ray_arg a1[2] = {ray_arg_ref(f), i64_arg(&one)};
    ray_submit("add", a1, 2, NULL, &l[0]);
    ray_arg a2 = ray_arg_ref(l[0]);
    ray_submit("mul2", &a2, 1, NULL, &l[1]);
    ray_arg a3[3] = {i64_arg(&five), ray_arg_ref(l[1]), i64_arg(&six)};
    ray_submit("add", a3, 3, NULL, &l[2]);
}

static void test_error_propagation(void)
{
    const char *msg = "bad input: x must be positive, got -3";
    ray_arg m = str_arg(msg);
    ray_ref f, l[3];
    is_rc(ray_submit("fail_with", &m, 1, NULL, &f), RAY_OK, "submit a task that calls ray_fail");
    expect_failed(f, RAY_ETASK, msg, "its output");
    /* Submitted after the failure is known. */
    downstream(f, l);
    expect_failed(l[0], RAY_ETASK, msg, "1 level down (submitted after)");
    expect_failed(l[1], RAY_ETASK, msg, "2 levels down (submitted after)");
    expect_failed(l[2], RAY_ETASK, msg, "3 levels down, among value args (submitted after)");
    ray_buf b[3];
    is_rc(ray_get_many(l, 3, b, E2E_TIMEOUT), RAY_ETASK, "ray_get_many of the downstream outputs");
    ok(!strcmp(ray_last_error(), msg), "  ... with the original message");
    for (int i = 0; i < 3; i++)
        ray_release(l[i]);
    ray_release(f);

    /* Submitted while the failing task is still pending. */
    ray_task_opts o;
    const char *msg2 = "late failure #2";
    ray_arg g[3] = {str_arg(msg2), str_arg(dir), str_arg("fail")};
    is_rc(ray_submit("fail_with", g, 3, NULL, &f), RAY_OK, "submit a gated failing task");
    downstream(f, l);
    ray_release(f); /* the dependents keep it alive */
    open_gate("fail");
    expect_failed(l[0], RAY_ETASK, msg2, "1 level down (submitted before)");
    expect_failed(l[1], RAY_ETASK, msg2, "2 levels down (submitted before)");
    expect_failed(l[2], RAY_ETASK, msg2, "3 levels down (submitted before)");
    for (int i = 0; i < 3; i++)
        ray_release(l[i]);

    /* Outputs written before the failure are not delivered either. */
    ray_task_opts_init(&o);
    o.num_returns = 2;
    ray_ref h[2];
    ray_submit("half_then_fail", NULL, 0, &o, h);
    expect_failed(h[0], RAY_ETASK, "failed after output 0", "output 0, written before ray_fail");
    expect_failed(h[1], RAY_ETASK, "failed after output 0", "output 1 of that task");
    ray_release(h[0]);
    ray_release(h[1]);

    /* Every output of a failed multi-return task fails. */
    ray_task_opts_init(&o);
    o.num_returns = 3;
    ray_ref r3[3];
    ray_submit("fail_with", &m, 1, &o, r3);
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof(what), "output %d of 3 of a failed task", i);
        expect_failed(r3[i], RAY_ETASK, msg, what);
        ray_release(r3[i]);
    }
}

static void test_long_message(void)
{
    char msg[3001];
    for (int i = 0; i < 3000; i++)
        msg[i] = (char)('a' + i % 26);
    msg[3000] = 0;
    memcpy(msg + 2990, "<the end>", 9);
    ray_arg m = str_arg(msg);
    ray_ref f;
    ray_buf b;
    ray_submit("fail_with", &m, 1, NULL, &f);
    is_rc(ray_get(f, &b, E2E_TIMEOUT), RAY_ETASK, "a task failing with a 3000-byte message");
    ok(!strcmp(ray_last_error(), msg), "  ... ray_last_error has all of it (%zu bytes, ends '%s')",
       strlen(ray_last_error()),
       strlen(ray_last_error()) > 12 ? ray_last_error() + strlen(ray_last_error()) - 12 : "");
    ray_release(f);
}

static void test_return_code(void)
{
    int64_t codes[] = {7, -1, RAY_EINVAL};
    for (size_t i = 0; i < 3; i++) {
        ray_arg a = i64_arg(&codes[i]);
        ray_ref r;
        ray_buf b;
        ray_submit("return_code", &a, 1, NULL, &r);
        is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_ETASK,
              "a task returning %lld without ray_fail: RAY_ETASK", (long long)codes[i]);
        ok(str_has(ray_last_error(), "return_code"), "  ... the message names the task (%s)",
           ray_last_error());
        ray_release(r);
    }
}

int main(int argc, char **argv)
{
    /* 2 CPUs, whatever the machine (or its affinity mask): the ray_wait
     * and ray_get_many tests run two tasks at once. */
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init");
    if (rc)
        return 1;
    scratch_make("tasks", dir, sizeof(dir));
    test_chain();
    test_diamond_and_fan_in();
    test_wide_wait();
    test_value_args();
    test_many_args();
    test_release_while_pending();
    test_tasks_use_the_store();
    test_num_returns();
    test_return_alloc();
    test_no_output();
    test_wait();
    test_get_timeout();
    test_get_many();
    test_error_propagation();
    test_return_code();
    test_long_message();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    rm_tree(dir);
    return tap_done();
}
