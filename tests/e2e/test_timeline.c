/*
 * test_timeline.c - RAY_MPI_TIMELINE: after ray_shutdown the file is a
 * Chrome trace with one complete event per task, actor call and actor
 * creation that ran, each on the row of the worker that ran it, with its
 * name (opts.name when given), times (queued before it started, its length
 * at least what it spun), bytes in and out, and status.  A path that
 * cannot be written fails ray_init, naming the setting.  The trace is read
 * with jq (Debian: jq, installed by scripts/deps.sh).
 */
#include "e2e.h"
#include "lib/tap.h"

#include <sys/wait.h>

#define LEAVES 100
#define ARG_BYTES 1000
#define CALLS 10

static void spin_us(double us)
{
    double end = now_s() + us / 1e6;
    while (now_s() < end)
        ;
}

static int tl_leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    spin_us(200);
    int64_t v = nargs == 1 ? (int64_t)args[0].size : -1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(tl_leaf)

static int tl_slow(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    sleep_s(0.02);
    int64_t v = 1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(tl_slow)

static int tl_bad(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_fail(ctx, "tl_bad fails on purpose");
}
RAY_REMOTE(tl_bad)

static void *tl_init(ray_ctx *ctx, const ray_buf *args, int nargs) { return calloc(1, 8); }
static void tl_fini(void *s) { free(s); }
static int bump(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t v = ++*(int64_t *)state;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_ACTOR(TlCounter, tl_init, tl_fini)
RAY_METHOD(TlCounter, bump)

/* The work whose trace is checked; 0 when all of it ran as it should. */
static int run_job(void)
{
    static char arg[ARG_BYTES];
    ray_arg a = ray_arg_val(arg, sizeof(arg));
    ray_ref r[LEAVES + 3];
    int bad = 0;
    for (int i = 0; i < LEAVES; i++)
        bad |= ray_submit("tl_leaf", &a, 1, NULL, &r[i]) != 0;
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.name = "named_leaf";
    bad |= ray_submit("tl_leaf", &a, 1, &o, &r[LEAVES]) != 0;
    bad |= ray_submit("tl_slow", NULL, 0, NULL, &r[LEAVES + 1]) != 0;
    o.name = NULL;
    o.max_retries = 0;
    bad |= ray_submit("tl_bad", NULL, 0, &o, &r[LEAVES + 2]) != 0;
    for (int i = 0; i < LEAVES + 2 && !bad; i++)
        bad |= ref_i64(r[i], -1) < 0;
    ray_buf b;
    bad |= ray_get(r[LEAVES + 2], &b, E2E_TIMEOUT) != RAY_ETASK;
    for (int i = 0; i < LEAVES + 3; i++)
        ray_release(r[i]);
    ray_actor c;
    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    bad |= ray_actor_create("TlCounter", NULL, 0, &ao, &c) != 0;
    for (int i = 0; i < CALLS && !bad; i++) {
        ray_ref k;
        bad |= ray_actor_call(c, "bump", NULL, 0, NULL, &k) != 0 || ref_i64(k, -1) != i + 1;
        ray_release(k);
    }
    ray_actor_kill(c);
    return bad;
}

/* jq EXPR on the trace: its output's first line into out; jq's status. */
static int jq(const char *path, const char *expr, char *out, size_t cap)
{
    char cmd[4096];
    /* X: the complete events (tasks, calls, creations, transfers). */
    snprintf(cmd, sizeof(cmd), "jq -r 'def X: [.traceEvents[] | select(.ph == \"X\")]; %s' '%s' 2>&1",
             expr, path);
    FILE *p = popen(cmd, "r");
    out[0] = 0;
    if (!p)
        return -1;
    if (fgets(out, (int)cap, p))
        out[strcspn(out, "\n")] = 0;
    char rest[256];
    while (fgets(rest, sizeof(rest), p))
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_jq(const char *path, const char *expr, const char *want, const char *what)
{
    char got[512];
    int rc = jq(path, expr, got, sizeof(got));
    ok(rc == 0 && !strcmp(got, want), "%s", what);
    if (rc || strcmp(got, want))
        diag("jq '%s': status %d, got '%s', want '%s'", expr, rc, got, want);
}

/* ray_init with the timeline going where it cannot: an error naming it
 * (this program again, as "badpath": ray_init comes first in a driver). */
static int bad_path_fails(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_timeline", "badpath", (char *)NULL);
        _exit(3);
    }
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int badpath_main(void)
{
    setenv("RAY_MPI_TIMELINE", "/nonexistent-dir/x/trace.json", 1);
    int rc = ray_init(NULL, NULL);
    int named = str_has(ray_last_error(), "RAY_MPI_TIMELINE");
    if (!rc)
        ray_shutdown();
    return rc != 0 && named ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "badpath"))
        return badpath_main();
    char path[4096];
    snprintf(path, sizeof(path), "%s/trace.json", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    /* Before ray_init: workers run main up to there too (they set the same). */
    setenv("RAY_MPI_TIMELINE", path, 1);
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    if (ray_init(&argc, &argv)) {
        ok(0, "ray_init with RAY_MPI_TIMELINE: %s", ray_last_error());
        return tap_done();
    }
    ok(!run_job(), "the job ran: %d tasks, a failing one, an actor and %d calls", LEAVES + 2, CALLS);
    ray_shutdown();
    ok(file_exists(path), "after ray_shutdown the trace is at %s", path);
    if (system("jq --version >/dev/null 2>&1") != 0) {
        ok(0, "jq is installed (scripts/deps.sh installs it)");
        return tap_done();
    }
    check_jq(path, "type", "object", "it is JSON: an object with traceEvents");
    check_jq(path, "X | map(select(.cat == \"task\" and .name == \"tl_leaf\")) | length", "100",
             "one complete event per task that ran (100 tl_leaf)");
    check_jq(path, "X | map(select(.name == \"named_leaf\")) | length", "1",
             "a task given opts.name shows under that name");
    _Static_assert(ARG_BYTES == 1000, "the filter below says 1000");
    check_jq(path,
             "X | map(select(.name == \"tl_leaf\" and .args.bytes_in == 1000 and "
             ".args.bytes_out == 8 and .args.status == \"ok\" and .dur >= 200)) | length",
             "100", "each tl_leaf: its argument's bytes in, its 8 bytes out, ok, >= 200 us");
    check_jq(path, "X | map(select(.name == \"tl_slow\" and .dur >= 20000)) | length", "1",
             "a task that sleeps 20 ms lasts at least that on the timeline");
    check_jq(path, "X | map(select(.name == \"tl_bad\")) | .[0].args.status", "RAY_ETASK",
             "the failing task's status is RAY_ETASK");
    check_jq(path,
             "X | map(select(.cat == \"actor_call\" and .name == \"bump\")) | "
             "[length, (map(.tid) | unique | length)] | @tsv",
             "10\t1", "each actor call is an event, all on the actor's row");
    check_jq(path,
             "(X | map(select(.cat == \"actor_call\")) | .[0].tid) as $t | [.traceEvents[] | "
             "select(.ph == \"M\" and .name == \"thread_name\" and .tid == $t)] | .[0].args.name | "
             "startswith(\"actor TlCounter pid \")",
             "true", "the actor's row is named after its class");
    check_jq(path, "X | map(select(.cat == \"actor_create\" and .name == \"TlCounter\")) | length",
             "1", "the actor's creation is an event");
    check_jq(path,
             "X | map(select(.pid != 0 or .ts < 0 or .dur < 0 or (.args.queued_us // -1) < 0 or "
             ".args.queued_us > .ts + 0.001)) | length",
             "0", "every event on node 0, queued before it started, no negative time");
    check_jq(path,
             "([.traceEvents[] | select(.ph == \"M\" and .name == \"thread_name\") | .tid]) as $rows | "
             "[.traceEvents[] | select(.ph == \"X\") | .tid] | unique | all(. as $r | $rows | index($r))",
             "true", "every event's row (worker) has a name");
    check_jq(path, ".otherData.dropped", "0", "nothing dropped");
    unlink(path);
    ok(bad_path_fails(), "a timeline path that cannot be written fails ray_init, naming the setting");
    return tap_done();
}
