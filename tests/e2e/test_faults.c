/*
 * test_faults.c - workers that die, and cancellation (DESIGN.md sections 1
 * and 4): a task whose worker is SIGKILLed on its first attempt succeeds on
 * a retry; with max_retries = 0 the same gives RAY_EWORKER naming the
 * signal; a task that always crashes (abort, SIGSEGV) runs exactly
 * 1 + max_retries times and then gives RAY_EWORKER, as do the tasks that
 * depend on it; max_retries = -1 retries; what a dead worker held in the
 * store is freed; the node keeps serving.  ray_cancel of a queued task, or
 * of one waiting for its arguments, gives RAY_ECANCELLED (also downstream)
 * and the task never runs; ray_cancel(force) of a running task kills it
 * quickly; ray_cancel(force = 0) is seen by ray_ctx_cancelled; cancelling a
 * finished task changes nothing.
 *
 * Attempts are counted with files: attempt k creates <dir>/<name>.<k>.
 * The node is pinned to 2 CPUs so "both CPUs busy" is known.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>

static char dir[512];

/* Records one more attempt of `name`; returns its number (1, 2, ...). */
static int record_attempt(const char *d, const char *name)
{
    char path[700];
    for (int k = 1; k < 1000; k++) {
        snprintf(path, sizeof(path), "%s/%s.%d", d, name, k);
        if (touch_new(path))
            return k;
    }
    return 1000;
}

static int count_attempts(const char *name)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s.", name);
    return count_files(dir, prefix);
}

/* args: dir, name, how ("kill-once", "kill", "abort", "segv", "hoard-kill").  Returns 42
 * when it survives. */
static int crash(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    char d[512], name[64], how[32];
    buf_str(&args[0], d, sizeof(d));
    buf_str(&args[1], name, sizeof(name));
    buf_str(&args[2], how, sizeof(how));
    int attempt = record_attempt(d, name);
    if (!strcmp(how, "kill") || (!strcmp(how, "kill-once") && attempt == 1))
        raise(SIGKILL);
    if (!strcmp(how, "abort"))
        abort();
    if (!strcmp(how, "hoard-kill")) {
        /* Dies holding a 16 MB object it put and a 32 MB output it is
         * writing: the node must free both. */
        static char data[16 << 20];
        ray_ref r;
        ray_put(data, sizeof(data), &r);
        void *p = ray_return_alloc(ctx, 0, 32 << 20);
        if (p)
            memset(p, 1, 32 << 20);
        raise(SIGKILL);
    }
    if (!strcmp(how, "segv")) {
        /* A real invalid write (not raise): a read-only page. */
        volatile int *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *p = 1;
    }
    int64_t v = 42;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(crash)

/* args: dir, name, how.  Submits crash(dir, name, how) and waits for it
 * (a waiting worker may run it in its own process); returns its value + 1. */
static int parent_of_crash(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_arg a[3];
    for (int i = 0; i < 3; i++)
        a[i] = ray_arg_val(args[i].data, args[i].size);
    ray_ref r;
    ray_buf b;
    int rc = ray_submit("crash", a, 3, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, 25);
    if (rc)
        return ray_fail(ctx, "child: %s", ray_last_error());
    int64_t v = buf_i64(&b, -100) + 1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(parent_of_crash)

/* args: dir, name, seconds.  Creates <dir>/started.<name>, then sleeps
 * until <dir>/open.<name> exists or the time is up; returns 7. */
static int hold(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    gate_pass(&args[0], &args[1], (double)buf_i64(&args[2], 20));
    int64_t v = 7;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(hold)

/* Runs until ray_ctx_cancelled says stop (at most 20 s); returns 1 if it
 * saw the request. */
static int cooperative(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    char d[512], path[700];
    buf_str(&args[0], d, sizeof(d));
    snprintf(path, sizeof(path), "%s/started.coop", d);
    touch(path);
    double end = now_s() + 20;
    int64_t seen = 0;
    while (!(seen = ray_ctx_cancelled(ctx)) && now_s() < end)
        sleep_s(0.01);
    return ray_return(ctx, 0, &seen, sizeof(seen));
}
RAY_REMOTE(cooperative)

static int value(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(value)

/* ---- helpers */

static int submit_crash(const char *name, const char *how, int max_retries, ray_ref *r)
{
    ray_arg a[3] = {str_arg(dir), str_arg(name), str_arg(how)};
    ray_task_opts o;
    ray_task_opts_init(&o);
    if (max_retries >= -1)
        o.max_retries = max_retries;
    return ray_submit("crash", a, 3, &o, r);
}

static int submit_hold(const char *name, int64_t secs, ray_ref *r)
{
    ray_arg a[3] = {str_arg(dir), str_arg(name), ray_arg_val(&secs, sizeof(secs))};
    return ray_submit("hold", a, 3, NULL, r);
}

static void gate(const char *what, const char *name)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, what, name);
    touch(path);
}

static int started(const char *name)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/started.%s", dir, name);
    return wait_file(path, E2E_TIMEOUT);
}

static int names_signal(const char *msg, int sig, const char *sig_name)
{
    char num[32];
    snprintf(num, sizeof(num), "signal %d", sig);
    return str_has(msg, num) || str_has(msg, sig_name) || str_has(msg, strsignal(sig));
}

/* n quick tasks all give their value: the node still serves. */
static int node_serves(int n)
{
    int good = 1;
    for (int i = 0; i < n; i++) {
        int64_t v = 1000 + i;
        ray_arg a = ray_arg_val(&v, sizeof(v));
        ray_ref r;
        if (ray_submit("value", &a, 1, NULL, &r)) {
            good = 0;
            continue;
        }
        good &= ref_i64(r, -1) == 1000 + i;
        ray_release(r);
    }
    return good;
}

/* ---- retries */

static void test_retry_after_kill(void)
{
    ray_ref r;
    ray_buf b;
    is_rc(submit_crash("once", "kill-once", -2, &r), RAY_OK,
          "submit a task that SIGKILLs its worker on attempt 1 (default retries)");
    int rc = ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "  ... it succeeds on a retry");
    is_int(rc ? -1 : buf_i64(&b, -1), 42, "  ... with its value");
    is_int(count_attempts("once"), 2, "  ... after exactly 2 attempts");
    ray_release(r);

    is_rc(submit_crash("once1", "kill-once", 1, &r), RAY_OK, "the same with max_retries = 1");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "  ... succeeds on its one retry");
    ray_release(r);
}

static void test_no_retries(void)
{
    ray_ref r;
    ray_buf b;
    is_rc(submit_crash("noretry", "kill-once", 0, &r), RAY_OK,
          "submit the kill-once task with max_retries = 0");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_EWORKER, "  ... RAY_EWORKER");
    ok(names_signal(ray_last_error(), SIGKILL, "SIGKILL"),
       "  ... the message names the signal (%s)", ray_last_error());
    is_int(count_attempts("noretry"), 1, "  ... after 1 attempt");
    ray_release(r);
}

static void test_always_crashes(const char *how, int sig, const char *sig_name)
{
    char name[32];
    snprintf(name, sizeof(name), "always-%s", how);
    ray_ref r;
    ray_buf b;
    is_rc(submit_crash(name, how, 2, &r), RAY_OK,
          "submit a task that always dies (%s), "
          "max_retries = 2",
          how);
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_EWORKER, "  ... RAY_EWORKER");
    ok(names_signal(ray_last_error(), sig, sig_name), "  ... the message names %s (%s)", sig_name,
       ray_last_error());
    is_int(count_attempts(name), 3, "  ... after exactly 3 attempts");
    ray_release(r);
}

static void test_downstream_of_dead(void)
{
    ray_ref r, d;
    ray_buf b;
    submit_crash("dead-up", "kill", 0, &r);
    ray_arg a = ray_arg_ref(r);
    int rc = ray_submit("value", &a, 1, NULL, &d);
    ray_release(r);
    is_rc(rc, RAY_OK, "submit a task depending on one whose worker dies");
    is_rc(ray_get(d, &b, E2E_TIMEOUT), RAY_EWORKER, "  ... it fails with the same RAY_EWORKER");
    ok(names_signal(ray_last_error(), SIGKILL, "SIGKILL"), "  ... and the message (%s)",
       ray_last_error());
    ray_release(d);
}

/* The child's worker dies while the parent waits for it (possibly the
 * same process, if it ran the child in place): both must recover. */
static void test_nested_retry(void)
{
    ray_stats base, s;
    ray_get_stats(&base);
    ray_ref r;
    ray_buf b;
    ray_arg a[3] = {str_arg(dir), str_arg("nested"), str_arg("kill-once")};
    is_rc(ray_submit("parent_of_crash", a, 3, NULL, &r), RAY_OK,
          "a task waits for a child whose worker dies on attempt 1");
    int rc = ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "  ... the parent still succeeds");
    is_int(rc ? -1 : buf_i64(&b, -1), 43, "  ... with the retried child's value + 1");
    ray_release(r);
    double end = now_s() + 5;
    while (ray_get_stats(&s) == RAY_OK && s.objects_live > base.objects_live && now_s() < end)
        sleep_s(0.02);
    ok(s.objects_live <= base.objects_live,
       "  ... and no object is left live: not the first child's output, whose holder "
       "died (%llu, was %llu)",
       (unsigned long long)s.objects_live, (unsigned long long)base.objects_live);
}

static void test_retry_forever(void)
{
    ray_ref r;
    ray_buf b;
    is_rc(submit_crash("forever", "kill-once", -1, &r), RAY_OK,
          "the kill-once task with max_retries = -1 (forever)");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "  ... succeeds on its retry");
    ray_release(r);
}

/* A dead worker's objects and half-written outputs are freed. */
static void test_dead_worker_frees(void)
{
    ray_stats base, s;
    ray_get_stats(&base);
    ray_ref r;
    ray_buf b;
    is_rc(submit_crash("hoard", "hoard-kill", 0, &r), RAY_OK,
          "a task puts 16 MB, writes 32 MB of output, then its worker dies");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_EWORKER, "  ... RAY_EWORKER");
    ray_release(r);
    double end = now_s() + 5;
    while (ray_get_stats(&s) == RAY_OK && now_s() < end &&
           (s.store_used_bytes > base.store_used_bytes || s.objects_live > base.objects_live))
        sleep_s(0.02);
    ok(s.store_used_bytes <= base.store_used_bytes,
       "  ... the store gets the 48 MB back (used %llu B, was %llu B)",
       (unsigned long long)s.store_used_bytes, (unsigned long long)base.store_used_bytes);
    ok(s.objects_live <= base.objects_live, "  ... and no object of it stays live (%llu, was %llu)",
       (unsigned long long)s.objects_live, (unsigned long long)base.objects_live);
}

/* ---- cancel */

static void test_cancel_queued(void)
{
    ray_ref busy[2], victim;
    ray_buf b;
    int rc = submit_hold("busy0", 20, &busy[0]);
    rc = rc ? rc : submit_hold("busy1", 20, &busy[1]);
    is_rc(rc, RAY_OK, "fill both CPUs with held tasks");
    ok(started("busy0") && started("busy1"), "  ... both are running");
    ray_arg a[3] = {str_arg(dir), str_arg("victim-ran"), str_arg("none")};
    rc = ray_submit("crash", a, 3, NULL, &victim); /* records victim-ran.1 if it runs */
    is_rc(rc, RAY_OK, "submit a third task (it queues)");
    sleep_s(0.2);
    double t0 = now_s();
    is_rc(ray_cancel(victim, 0), RAY_OK, "ray_cancel of the queued task");
    is_rc(ray_get(victim, &b, E2E_TIMEOUT), RAY_ECANCELLED, "  ... its ray_get: RAY_ECANCELLED");
    ok(now_s() - t0 < 5, "  ... at once, while the CPUs are still busy (%.2f s)", now_s() - t0);
    is_rc(ray_cancel(victim, 0), RAY_OK, "  ... cancelling it again is harmless");
    gate("open", "busy0");
    gate("open", "busy1");
    ok(ref_i64(busy[0], -1) == 7 && ref_i64(busy[1], -1) == 7, "the held tasks finish normally");
    ok(node_serves(4), "the node runs new tasks");
    is_int(count_attempts("victim-ran"), 0, "the cancelled task never ran");
    ray_release(busy[0]);
    ray_release(busy[1]);
    ray_release(victim);
}

/* A task waiting for an argument is cancelled; it and its dependents
 * fail with RAY_ECANCELLED, and it never runs once the argument is ready. */
static void test_cancel_waiting(void)
{
    ray_ref dep, victim, down;
    ray_buf b;
    int rc = submit_hold("dep", 20, &dep);
    ray_arg a[4] = {str_arg(dir), str_arg("waiter-ran"), str_arg("none"), ray_arg_ref(dep)};
    rc = rc ? rc : ray_submit("crash", a, 4, NULL, &victim);
    ray_arg d = ray_arg_ref(victim);
    rc = rc ? rc : ray_submit("value", &d, 1, NULL, &down);
    is_rc(rc, RAY_OK, "submit a held task, one waiting for it, and one after that");
    is_rc(ray_cancel(victim, 0), RAY_OK, "ray_cancel of the waiting task");
    is_rc(ray_get(victim, &b, E2E_TIMEOUT), RAY_ECANCELLED, "  ... its ray_get: RAY_ECANCELLED");
    is_rc(ray_get(down, &b, E2E_TIMEOUT), RAY_ECANCELLED,
          "  ... the task depending on it: RAY_ECANCELLED too");
    gate("open", "dep");
    ok(ref_i64(dep, -1) == 7, "the held task finishes");
    ok(node_serves(4), "the node runs new tasks");
    is_int(count_attempts("waiter-ran"), 0, "the cancelled task never ran");
    ray_release(dep);
    ray_release(victim);
    ray_release(down);
}

static void test_cancel_running_force(void)
{
    ray_ref r;
    ray_buf b;
    is_rc(submit_hold("long", 25, &r), RAY_OK, "submit a long task (25 s)");
    ok(started("long"), "  ... it is running");
    double t0 = now_s();
    is_rc(ray_cancel(r, 1), RAY_OK, "ray_cancel(force = 1) of the running task");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_ECANCELLED, "  ... its ray_get: RAY_ECANCELLED");
    ok(now_s() - t0 < 5, "  ... quickly (%.2f s)", now_s() - t0);
    ray_release(r);
    ok(node_serves(8), "the node runs new tasks after the forced cancel");
    /* Both CPUs came back: two held tasks run at once. */
    ray_ref h[2];
    submit_hold("after0", 20, &h[0]);
    submit_hold("after1", 20, &h[1]);
    ok(started("after0") && started("after1"), "both CPUs are free again (two tasks run at once)");
    gate("open", "after0");
    gate("open", "after1");
    ref_i64(h[0], -1);
    ref_i64(h[1], -1);
    ray_release(h[0]);
    ray_release(h[1]);
}

static void test_cancel_cooperative(void)
{
    ray_ref r;
    ray_buf b;
    ray_arg a = str_arg(dir);
    is_rc(ray_submit("cooperative", &a, 1, NULL, &r), RAY_OK,
          "submit a task polling "
          "ray_ctx_cancelled");
    ok(started("coop"), "  ... it is running");
    double t0 = now_s();
    is_rc(ray_cancel(r, 0), RAY_OK, "ray_cancel(force = 0) of the running task");
    int rc = ray_get(r, &b, E2E_TIMEOUT);
    ok(now_s() - t0 < 10, "  ... the task stops soon (%.2f s): it saw ray_ctx_cancelled",
       now_s() - t0);
    ok(rc == RAY_ECANCELLED || (rc == RAY_OK && buf_i64(&b, -1) == 1),
       "  ... its ray_get is RAY_ECANCELLED or its result (%s)", ray_errname(rc));
    ray_release(r);
}

static void test_cancel_finished(void)
{
    int64_t v = 5;
    ray_arg a = ray_arg_val(&v, sizeof(v));
    ray_ref r;
    ray_buf b;
    ray_submit("value", &a, 1, NULL, &r);
    is_int(ref_i64(r, -1), 5, "a finished task");
    is_rc(ray_cancel(r, 0), RAY_OK, "  ... ray_cancel of it is RAY_OK");
    is_rc(ray_cancel(r, 1), RAY_OK, "  ... ray_cancel(force) of it is RAY_OK");
    ok(ray_get(r, &b, E2E_TIMEOUT) == RAY_OK && buf_i64(&b, -1) == 5,
       "  ... and its value is still there");
    ray_release(r);
}

int main(int argc, char **argv)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the crashing tasks leave no core files */
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init (2 CPUs)");
    if (rc)
        return 1;
    scratch_make("faults", dir, sizeof(dir));
    test_retry_after_kill();
    test_no_retries();
    test_always_crashes("abort", SIGABRT, "SIGABRT");
    test_always_crashes("segv", SIGSEGV, "SIGSEGV");
    test_downstream_of_dead();
    test_retry_forever();
    test_nested_retry();
    test_dead_worker_frees();
    ok(node_serves(20), "after all the crashes the node runs new tasks");
    ray_stats s;
    ray_get_stats(&s);
    ok(s.workers >= 1, "  ... with live workers (%u)", s.workers);
    test_cancel_queued();
    test_cancel_waiting();
    test_cancel_running_force();
    test_cancel_cooperative();
    test_cancel_finished();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    rm_tree(dir);
    return tap_done();
}
