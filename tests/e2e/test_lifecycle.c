/*
 * test_lifecycle.c - ray_init and ray_shutdown: every call before ray_init
 * and after ray_shutdown is RAY_ESTATE (ray_create gives NULL); ray_init
 * twice is RAY_ESTATE; ray_init after ray_shutdown starts a new runtime that
 * works, and refs of the old one are refused there (RAY_EINVAL), never taken
 * for a new object; ray_shutdown with tasks still running returns within
 * its grace period; a bad setting makes ray_init fail cleanly; no
 * descriptor or mapping outlives the cycles; ray_strerror and ray_errname
 * for every code; ray_shutdown is prompt when no CPU is idle.
 *
 * Workers re-run main, so the calls before ray_init also run in them: the
 * results are only recorded there and reported by the driver after its
 * ray_init returned (in a worker, ray_init never returns).
 */
#include "e2e.h"
#include "lib/tap.h"

#include <limits.h>
#include <sys/wait.h>

static int echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(echo)

static int sleepy(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    sleep_s(60); /* ended by ray_shutdown, not by time */
    return 0;
}
RAY_REMOTE(sleepy)

/* ray_init with a bad setting fails with a message naming it, starts
 * nothing, and a later ray_init with good settings works.  (Only done
 * after a first successful ray_init: workers never get this far.) */
static void bad_settings(void)
{
    setenv("RAY_MPI_NUM_CPUS", "many", 1);
    is_rc(ray_init(NULL, NULL), RAY_EINVAL, "ray_init with RAY_MPI_NUM_CPUS=many: RAY_EINVAL");
    ok(str_has(ray_last_error(), "RAY_MPI_NUM_CPUS"), "  ... the message names it (%s)",
       ray_last_error());
    unsetenv("RAY_MPI_NUM_CPUS");
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "1000T", 1);
    int rc = ray_init(NULL, NULL);
    ok(rc != RAY_OK, "ray_init with a 1000 TB store fails (%s)", ray_errname(rc));
    const char *m = ray_last_error();
    ok(str_has(m, "memory") || str_has(m, "mmap") || str_has(m, "store"),
       "  ... and says why (the store cannot be made): %s", m);
    if (rc == RAY_OK)
        ray_shutdown();
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "512M", 1);
    is_int(count_files(getenv("TMPDIR"), "ray-mpi"), 0, "  ... and leaves no job directory");
    is_rc(ray_shutdown(), RAY_ESTATE, "  ... ray_shutdown after the failed ray_init: RAY_ESTATE");
}

/* ray_shutdown with tasks running and queued: it ends them (workers get
 * RAY_MPI_SHUTDOWN_TIMEOUT_S, 5 s by default) and returns, not hangs. */
static void run_with_busy_shutdown(void)
{
    int rc = ray_init(NULL, NULL);
    is_rc(rc, RAY_OK, "run 4: ray_init");
    if (rc)
        return;
    ray_ref r[6];
    for (int i = 0; i < 6 && !rc; i++)
        rc = ray_submit("sleepy", NULL, 0, NULL, &r[i]);
    is_rc(rc, RAY_OK, "run 4: 6 tasks of 60 s submitted (2 run, 4 queue)");
    sleep_s(0.3);
    double t0 = now_s();
    is_rc(ray_shutdown(), RAY_OK, "run 4: ray_shutdown with them running");
    ok(now_s() - t0 < 12, "  ... returns within the shutdown grace, not after 60 s (%.2f s)",
       now_s() - t0);
}

/* One short cycle: ray_init(NULL, NULL), one task, ray_shutdown; returns
 * how long ray_shutdown took. */
static double echo_run(const char *run, int64_t v)
{
    int rc = ray_init(NULL, NULL);
    is_rc(rc, RAY_OK, "%s: ray_init(NULL, NULL)", run);
    ray_ref r;
    ray_arg a = ray_arg_val(&v, sizeof(v));
    rc = rc ? rc : ray_submit("echo", &a, 1, NULL, &r);
    is_int(rc ? -1 : ref_i64(r, -1), v, "%s: tasks run", run);
    double t0 = now_s();
    is_rc(ray_shutdown(), RAY_OK, "%s: ray_shutdown", run);
    return now_s() - t0;
}

/* ray_shutdown on a machine whose CPUs are all busy (here two spinning
 * processes of ours): the node service's idle-priority thread that faults
 * the store in gets no CPU there, and shutdown must not wait for it. */
static void run_on_busy_machine(void)
{
    pid_t spin[2];
    for (int i = 0; i < 2; i++)
        if ((spin[i] = fork()) == 0)
            for (;;)
                ;
    double t = echo_run("run 5 (two processes spin)", 5);
    ok(t < 3, "  ... ray_shutdown returns promptly although no CPU is idle (%.2f s)", t);
    for (int i = 0; i < 2; i++)
        if (spin[i] > 0 && kill_pid(spin[i], SIGKILL) == 0)
            waitpid(spin[i], NULL, 0);
}

/* ---- every call that needs a runtime */

enum { NCALLS = 17 };
static const char *call_names[NCALLS] = {
    "ray_shutdown",       "ray_put",        "ray_seal",          "ray_get",
    "ray_get_many",       "ray_wait",       "ray_release",       "ray_cancel",
    "ray_submit",         "ray_get_stats",  "ray_actor_create",  "ray_actor_call",
    "ray_actor_get",      "ray_actor_kill", "ray_create (NULL)", "ray_node_id is 0",
    "ray_num_nodes is 1",
};

/* Runs each call with otherwise valid arguments; codes[i] is what call i
 * gave (ray_create: RAY_ESTATE when it gave NULL; the last two: RAY_ESTATE
 * when the documented value came back). */
static void call_everything(ray_ref r, int codes[NCALLS])
{
    int64_t v = 1;
    ray_ref out;
    ray_buf b;
    int ready[1];
    ray_arg a = ray_arg_val(&v, sizeof(v));
    ray_actor act;
    ray_stats s;
    memset(&act, 0, sizeof(act));
    int i = 0;
    codes[i++] = ray_shutdown();
    codes[i++] = ray_put(&v, sizeof(v), &out);
    codes[i++] = ray_seal(r);
    codes[i++] = ray_get(r, &b, 0.1);
    codes[i++] = ray_get_many(&r, 1, &b, 0.1);
    codes[i++] = ray_wait(&r, 1, 1, 0.1, ready);
    codes[i++] = ray_release(r);
    codes[i++] = ray_cancel(r, 0);
    codes[i++] = ray_submit("echo", &a, 1, NULL, &out);
    codes[i++] = ray_get_stats(&s);
    codes[i++] = ray_actor_create("Nope", NULL, 0, NULL, &act);
    codes[i++] = ray_actor_call(act, "m", NULL, 0, NULL, &out);
    codes[i++] = ray_actor_get("name", &act);
    codes[i++] = ray_actor_kill(act);
    codes[i++] = ray_create(8, &out) == NULL ? RAY_ESTATE : RAY_OK;
    codes[i++] = ray_node_id() == 0 ? RAY_ESTATE : RAY_OK;
    codes[i++] = ray_num_nodes() == 1 ? RAY_ESTATE : RAY_OK;
}

static void report_all_estate(const int codes[NCALLS], const char *when)
{
    for (int i = 0; i < NCALLS; i++)
        is_rc(codes[i], RAY_ESTATE, "%s: %s", when, call_names[i]);
}

/* Open descriptors and mapped bytes of this process. */
static int count_fds(void)
{
    return count_files("/proc/self/fd", "") - 2 - 1; /* ., .., the DIR's own fd */
}

static unsigned long long mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    unsigned long long total = 0, lo, hi;
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2)
            total += hi - lo;
    if (f)
        fclose(f);
    return total;
}

static int before_init[NCALLS];
static const char *before_msg;
static char before_msg_buf[256];

static void test_error_names(void)
{
    int all_named = 1, all_described = 1;
#define CHECK_CODE(name, value, desc)                                                              \
    if (strcmp(ray_errname(value), "RAY_" #name)) {                                                \
        diag("ray_errname(%d) = %s", value, ray_errname(value));                                   \
        all_named = 0;                                                                             \
    }                                                                                              \
    if (!ray_strerror(value) || strcmp(ray_strerror(value), desc)) {                               \
        diag("ray_strerror(%d) = %s", value, ray_strerror(value));                                 \
        all_described = 0;                                                                         \
    }
    RAY_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    ok(all_named, "ray_errname gives \"RAY_<NAME>\" for every code of RAY_ERRNO_MAP");
    ok(all_described, "ray_strerror gives every code's description");
    int distinct = 1;
    for (int a = RAY_ETOOBIG; a <= 0; a++)
        for (int b = a + 1; b <= 0; b++)
            distinct &= strcmp(ray_strerror(a), ray_strerror(b)) != 0;
    ok(distinct, "the descriptions are all different");
    int unknown[] = {1, -17, -1000, INT_MIN, INT_MAX};
    int sane = 1;
    for (int i = 0; i < 5; i++) {
        const char *s = ray_strerror(unknown[i]), *n = ray_errname(unknown[i]);
        sane &= s && *s && n && *n;
    }
    ok(sane, "unknown codes still get non-empty strings from both");
    ok(ray_last_error() != NULL, "ray_last_error is never NULL");
}

/* A first runtime: works, then shuts down; returns a ref it had. */
static ray_ref first_run(void)
{
    int64_t v = 111;
    ray_ref r, t;
    ray_buf b;
    is_rc(ray_put(&v, sizeof(v), &r), RAY_OK, "run 1: ray_put");
    ray_arg a = ray_arg_ref(r);
    int rc = ray_submit("echo", &a, 1, NULL, &t);
    is_int(rc ? -1 : ref_i64(t, -1), 111, "run 1: a task runs");
    ray_release(t);
    int ac = 0;
    char **av = NULL;
    is_rc(ray_init(&ac, &av), RAY_ESTATE, "run 1: ray_init again is RAY_ESTATE");
    ok(ray_get(r, &b, E2E_TIMEOUT) == RAY_OK && buf_i64(&b, -1) == 111,
       "run 1: the runtime still works after the second ray_init");
    is_rc(ray_shutdown(), RAY_OK, "run 1: ray_shutdown");
    return r; /* not released: shutdown ends every object */
}

static void second_run(ray_ref old)
{
    int ac = 0;
    char **av = NULL;
    int rc = ray_init(&ac, &av);
    is_rc(rc, RAY_OK, "run 2: ray_init after ray_shutdown");
    if (rc)
        return;
    /* The new runtime's objects likely reuse the old one's first slots. */
    int64_t v = 222;
    ray_ref r[4];
    ray_buf b;
    for (int i = 0; i < 4; i++)
        ray_put(&v, sizeof(v), &r[i]);
    is_rc(ray_get(old, &b, 0.1), RAY_EINVAL,
          "run 2: a ref of run 1 is refused (another runtime's tag), not read as a new object");
    is_rc(ray_release(old), RAY_EINVAL, "run 2: releasing a ref of run 1 is refused");
    ray_arg a = ray_arg_ref(r[0]);
    ray_ref t;
    rc = ray_submit("echo", &a, 1, NULL, &t);
    is_int(rc ? -1 : ref_i64(t, -1), 222, "run 2: tasks run");
    ray_release(t);
    for (int i = 0; i < 4; i++)
        ray_release(r[i]);
    is_rc(ray_shutdown(), RAY_OK, "run 2: ray_shutdown");
}

int main(int argc, char **argv)
{
    int fds_before = count_fds();
    unsigned long long maps_before = mapped_bytes();
    ray_ref none;
    memset(&none, 0, sizeof(none));
    call_everything(none, before_init);
    before_msg = ray_last_error();
    snprintf(before_msg_buf, sizeof(before_msg_buf), "%s", before_msg ? before_msg : "(null)");

    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init");
    if (rc)
        return 1;
    report_all_estate(before_init, "before ray_init");
    ok(strlen(before_msg_buf) > 0 && strcmp(before_msg_buf, "no error"),
       "before ray_init: the error has a message (%s)", before_msg_buf);
    test_error_names();

    ray_ref old = first_run();
    int after[NCALLS];
    call_everything(old, after);
    report_all_estate(after, "after ray_shutdown");
    second_run(old);

    /* A third time, to be sure start/stop does not leak per cycle; with
     * NULL for argc and argv, which ray_init does not need. */
    echo_run("run 3", 333);
    is_rc(ray_shutdown(), RAY_ESTATE, "ray_shutdown twice is RAY_ESTATE");
    bad_settings();
    run_with_busy_shutdown();
    run_on_busy_machine();
    int fds_after = count_fds();
    unsigned long long maps_after = mapped_bytes();
    is_int(fds_after, fds_before, "5 init/shutdown cycles leave no descriptor open");
    ok(maps_after < maps_before + (64ull << 20),
       "5 init/shutdown cycles leave no store mapped (%llu MB mapped before, %llu MB after)",
       maps_before >> 20, maps_after >> 20);
    return tap_done();
}
