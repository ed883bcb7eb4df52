/*
 * test_many.c - volume: 100,000 tiny tasks, each returning its own index,
 * all submitted before any is read; every output must be right, and after
 * the releases no task or object is left live.  Then 100,000 tasks with no
 * output at all (num_returns 0) must all run.  The node's tables, queues and
 * batching are exercised the way a parameter sweep would.
 */
#include "e2e.h"
#include "lib/tap.h"

enum { N = 100000 };

static int ident(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(ident)

static int noop(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return 0;
}
RAY_REMOTE(noop)

/* Tasks without outputs cannot be waited for: the driver watches
 * tasks_live (ray_get_stats) drop to zero instead. */
static int wait_tasks_done(double timeout_s, ray_stats *s)
{
    double end = now_s() + timeout_s;
    for (;;) {
        if (ray_get_stats(s))
            return 0;
        if (s->tasks_live == 0)
            return 1;
        if (now_s() > end)
            return 0;
        sleep_s(0.02);
    }
}

static void test_ident(void)
{
    ray_stats base, s;
    ray_get_stats(&base);
    ray_ref *r = malloc(sizeof(ray_ref) * N);
    ray_buf *b = malloc(sizeof(ray_buf) * N);
    double t0 = now_s();
    int rc = 0, i;
    for (i = 0; i < N && !rc; i++) {
        int64_t v = i;
        ray_arg a = ray_arg_val(&v, sizeof(v));
        rc = ray_submit("ident", &a, 1, NULL, &r[i]);
    }
    is_rc(rc, RAY_OK, "submit 100,000 tasks (%.2f s)", now_s() - t0);
    int n = rc ? i - 1 : N;
    rc = ray_get_many(r, n, b, 60);
    is_rc(rc, RAY_OK, "ray_get_many of all 100,000 outputs (%.2f s in all)", now_s() - t0);
    int wrong = 0;
    for (i = 0; rc == RAY_OK && i < n; i++)
        if (buf_i64(&b[i], -1) != i && wrong++ < 5)
            diag("output %d: %lld", i, (long long)buf_i64(&b[i], -1));
    ok(rc == RAY_OK && wrong == 0, "every output is its task's index (%d wrong)", wrong);
    int released = 1;
    for (i = 0; i < n; i++)
        released &= ray_release(r[i]) == RAY_OK;
    ok(released, "every ref releases once");
    int done = wait_tasks_done(10, &s);
    ok(done, "no task is left live (%llu)", (unsigned long long)s.tasks_live);
    ok(s.objects_live <= base.objects_live, "no object is left live (%llu, was %llu)",
       (unsigned long long)s.objects_live, (unsigned long long)base.objects_live);
    free(r);
    free(b);
}

static void test_fire_and_forget(void)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_returns = 0;
    double t0 = now_s();
    int rc = 0;
    for (int i = 0; i < N && !rc; i++)
        rc = ray_submit("noop", NULL, 0, &o, NULL);
    is_rc(rc, RAY_OK, "submit 100,000 tasks with no outputs");
    ray_stats s;
    int done = wait_tasks_done(60, &s);
    ok(done, "they all run (%.2f s; %llu left)", now_s() - t0, (unsigned long long)s.tasks_live);
}

int main(int argc, char **argv)
{
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init");
    if (rc)
        return 1;
    test_ident();
    test_fire_and_forget();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    return tap_done();
}
