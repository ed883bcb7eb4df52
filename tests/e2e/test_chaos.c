/*
 * test_chaos.c - work survives workers SIGKILLed at random moments.  Each
 * case is a child driver (its own node) with a killer thread that
 * SIGKILLs a random worker of its node every 20-60 ms, 30 times (the round
 * in progress then ends in peace, however slow the machine):
 *
 *   tree      binary-tree sums over 32,768 leaves (65,535 tasks of 50 us,
 *             children passed as refs), on 2 CPUs and on 1;
 *   nested    fib(14) whose tasks put their argument into the store, pass
 *             it by ref and ray_get their children;
 *   actor     10,000 calls of 200 us on a counter actor (max_restarts 1000) whose
 *             process is what gets killed: per call its next count, or 1
 *             after a restart, or RAY_EACTOR for a call that ran on a
 *             killed process (no more errors than kills).
 *
 * Every result is checked, every ray_get returns, and once everything is
 * released the store is back to where it started.  The killer is seeded:
 * the seed is printed, E2E_SEED=N replays it.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <pthread.h>
#include <stdatomic.h>

#define TREE_LEAVES 32768
#define MIN_KILLS 30
#define ACTOR_CALLS 10000

/* ---- tasks */

static void spin_us(double us)
{
    double end = now_s() + us * 1e-6;
    while (now_s() < end)
        ;
}

static int leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    spin_us(50);
    return ray_return(ctx, 0, args[0].data, sizeof(int64_t));
}
RAY_REMOTE(leaf)

static int add(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t s = buf_i64(&args[0], 0) + buf_i64(&args[1], 0);
    spin_us(50);
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(add)

/* n as an object of this process: put, or made in place and sealed. */
static int object_of(int64_t n, ray_ref *out)
{
    if (n % 2)
        return ray_put(&n, sizeof(n), out);
    int64_t *p = ray_create(sizeof(n), out);
    if (!p)
        return -1;
    *p = n;
    return ray_seal(*out);
}

static int fib(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], -1);
    spin_us(20);
    if (n < 2)
        return ray_return(ctx, 0, &n, sizeof(n));
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = -1;
    ray_ref obj[2], r[2];
    ray_buf b[2];
    for (int k = 0; k < 2; k++) {
        ray_arg a;
        if (object_of(n - 1 - k, &obj[k]) ||
            (a = ray_arg_ref(obj[k]), ray_submit("fib", &a, 1, &o, &r[k])))
            return ray_fail(ctx, "fib(%lld): %s", (long long)n, ray_last_error());
        ray_release(obj[k]);
    }
    if (ray_get_many(r, 2, b, 60))
        return ray_fail(ctx, "fib(%lld): %s", (long long)n, ray_last_error());
    int64_t s = buf_i64(&b[0], 0) + buf_i64(&b[1], 0);
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(fib)

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return calloc(1, sizeof(int64_t));
}
static void counter_fini(void *s) { free(s); }
static int inc(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t v = ++*(int64_t *)state;
    spin_us(200); /* 10,000 calls last long enough for the killer */
    return ray_return(ctx, 0, &v, sizeof(v));
}
static int whoami(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t pid = getpid();
    return ray_return(ctx, 0, &pid, sizeof(pid));
}
RAY_ACTOR(Counter, counter_init, counter_fini)
RAY_METHOD(Counter, inc)
RAY_METHOD(Counter, whoami)

/* ---- the killer */

static atomic_int kills, stop_killing;
static int kill_target = MIN_KILLS; /* E2E_KILLS */
static _Atomic pid_t target; /* the actor case: the only process to kill */
static unsigned seed;

static pid_t node_service(void)
{
    pid_t pids[8];
    return proc_find(getpid(), NULL, pids, 8) >= 1 ? pids[0] : -1;
}

static void *killer(void *arg)
{
    pid_t svc = node_service();
    unsigned s = seed;
    /* E2E_KILLS=N (default MIN_KILLS): then it stops, so that a round on a
     * slow machine (sanitizers, a busy CI) still ends; E2E_KILL_MS=M: one
     * kill every M/2..3M/2 ms instead of 20-60. */
    const char *ms = getenv("E2E_KILL_MS");
    unsigned mean = ms && atoi(ms) > 0 ? (unsigned)atoi(ms) : 40;
    while (!atomic_load(&stop_killing) && atomic_load(&kills) < kill_target) {
        sleep_s((mean / 2 + rand_r(&s) % (mean + 1)) * 1e-3);
        pid_t victim = atomic_load(&target), pids[256];
        if (!victim) {
            int n = proc_find(svc, "RAY_MPI_ROLE=worker", pids, 256);
            victim = n > 0 ? pids[rand_r(&s) % (unsigned)(n < 256 ? n : 256)] : 0;
        }
        /* Only a worker of this node, checked right before. */
        if (victim > 1 && proc_ppid(victim) == svc && kill_pid(victim, SIGKILL) == 0)
            atomic_fetch_add(&kills, 1);
    }
    return NULL;
}

/* ---- the cases (in the child) */

static int tree_once(void)
{
    static ray_ref r[TREE_LEAVES];
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = -1;
    for (int64_t i = 0; i < TREE_LEAVES; i++) {
        ray_arg a = i64_arg(&i);
        if (ray_submit("leaf", &a, 1, &o, &r[i]))
            return printf("# submit: %s\n", ray_last_error()), 0;
    }
    for (int w = TREE_LEAVES; w > 1; w /= 2)
        for (int i = 0; i < w / 2; i++) {
            ray_arg a[2] = {ray_arg_ref(r[2 * i]), ray_arg_ref(r[2 * i + 1])};
            ray_ref s;
            if (ray_submit("add", a, 2, &o, &s))
                return printf("# submit: %s\n", ray_last_error()), 0;
            ray_release(r[2 * i]);
            ray_release(r[2 * i + 1]);
            r[i] = s;
        }
    int64_t sum = ref_i64(r[0], -1);
    if (sum < 0)
        printf("# tree root: %s\n", ray_last_error());
    ray_release(r[0]);
    return sum == (int64_t)TREE_LEAVES * (TREE_LEAVES - 1) / 2;
}

static int nested_once(void)
{
    ray_ref obj, r;
    ray_arg a;
    int64_t n = 14;
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = -1;
    if (object_of(n, &obj) || (a = ray_arg_ref(obj), ray_submit("fib", &a, 1, &o, &r)))
        return printf("# fib: %s\n", ray_last_error()), 0;
    ray_release(obj);
    int64_t v = ref_i64(r, -1);
    if (v < 0)
        printf("# fib root: %s\n", ray_last_error());
    ray_release(r);
    return v == 377;
}

/* The calls' results: counts that go up by one, restart at 1 when the
 * actor restarts, or RAY_EACTOR. */
static int actor_case(ray_actor a, int *errors)
{
    int64_t prev = 0;
    int wrong = 0;
    for (int i = 0; i < ACTOR_CALLS; i++) {
        ray_ref r;
        ray_buf b;
        int rc = ray_actor_call(a, (i % 50) ? "inc" : "whoami", NULL, 0, NULL, &r);
        if (!rc)
            rc = ray_get(r, &b, E2E_TIMEOUT);
        if (rc == RAY_EACTOR) {
            (*errors)++;
        } else if (rc) {
            return printf("# call %d: %s\n", i, ray_last_error()), 0;
        } else if (i % 50 == 0) {
            atomic_store(&target, (pid_t)buf_i64(&b, 0));
        } else {
            int64_t v = buf_i64(&b, -1);
            if (v != prev + 1 && v != 1 && wrong++ < 3)
                printf("# call %d: %lld after %lld\n", i, (long long)v, (long long)prev);
            prev = v;
        }
        ray_release(r);
    }
    atomic_store(&target, 0);
    return !wrong;
}

static int settle(ray_stats *s)
{
    ray_stats prev;
    ray_get_stats(&prev);
    for (double end = now_s() + 10; now_s() < end; prev = *s) {
        sleep_s(0.2);
        ray_get_stats(s);
        if (!memcmp(s, &prev, sizeof(prev)))
            return 1;
    }
    return 0;
}

static int child_main(int argc, char **argv)
{
    if (ray_init(&argc, &argv))
        return printf("# ray_init: %s\n", ray_last_error()), 2;
    const char *what = argv[2];
    seed = (unsigned)strtoul(argv[3], NULL, 10);
    if (getenv("E2E_KILLS") && atoi(getenv("E2E_KILLS")) > MIN_KILLS)
        kill_target = atoi(getenv("E2E_KILLS"));
    ray_stats base, after;
    ray_actor a;
    ray_actor_opts o;
    ray_actor_opts_init(&o);
    o.max_restarts = 1000;
    if (!strcmp(what, "actor") && ray_actor_create("Counter", NULL, 0, &o, &a))
        return printf("# actor: %s\n", ray_last_error()), 2;
    settle(&base); /* the actor (alive until shutdown) is part of the baseline */
    pthread_t th;
    pthread_create(&th, NULL, killer, NULL);
    int good = 1, rounds = 0, errors = 0;
    double t0 = now_s();
    if (!strcmp(what, "actor"))
        good = actor_case(a, &errors), rounds = 1;
    else /* again until the killer has killed enough, each run checked */
        do {
            good &= !strcmp(what, "tree") ? tree_once() : nested_once();
            rounds++;
        } while (good && atomic_load(&kills) < kill_target && now_s() - t0 < 120);
    atomic_store(&stop_killing, 1);
    pthread_join(th, NULL);
    int n = atomic_load(&kills);
    printf("# %s: %d rounds, %d kills, %d call errors, %.1f s\n", what, rounds, n, errors,
           now_s() - t0);
    int settled = settle(&after);
    int baseline = settled && after.objects_live == base.objects_live &&
                   after.tasks_live == base.tasks_live &&
                   after.store_used_bytes == base.store_used_bytes;
    if (!baseline)
        printf("# store: objects %llu (was %llu), tasks %llu (was %llu), bytes %llu (was %llu)\n",
               (unsigned long long)after.objects_live, (unsigned long long)base.objects_live,
               (unsigned long long)after.tasks_live, (unsigned long long)base.tasks_live,
               (unsigned long long)after.store_used_bytes,
               (unsigned long long)base.store_used_bytes);
    if (!baseline && getenv("E2E_HOLD")) { /* for a look with a debugger */
        fflush(stdout);
        sleep_s(600);
    }
    ray_shutdown();
    /* exit status: bit 0 results, bit 1 kills, bit 2 baseline, bit 3 errors */
    return (!good) | (n < MIN_KILLS) << 1 | (!baseline) << 2 | (errors > n) << 3;
}

/* ---- the parent */

static void run_case(const char *what, const char *cpus, unsigned s)
{
    char seedv[32], log[600];
    snprintf(seedv, sizeof(seedv), "%u", s);
    const char *tmp = getenv("TMPDIR");
    snprintf(log, sizeof(log), "%s/chaos.%s.%s.log", tmp && *tmp ? tmp : "/tmp", what, cpus);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("RAY_MPI_NUM_CPUS", cpus, 1);
        setenv("RAY_MPI_OBJECT_STORE_MEMORY", "256M", 1);
        char *args[] = {"test_chaos", "child", (char *)what, seedv, NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0, ended = pid > 0 && wait_child(pid, 240, &status);
    int rc = ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    FILE *f = fopen(log, "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (line[0] == '#' || (rc && !strstr(line, "retrying") && !strstr(line, "was killed")))
            printf("# %s", line);
    if (f)
        fclose(f);
    unlink(log);
    ok(rc >= 0 && !(rc & 1), "%s on %s CPU(s): every result right, every ray_get returned", what,
       cpus);
    ok(rc >= 0 && !(rc & 2), "%s on %s CPU(s): at least %d workers killed meanwhile", what, cpus,
       MIN_KILLS);
    ok(rc >= 0 && !(rc & 4), "%s on %s CPU(s): the store is back to where it started", what,
       cpus);
    if (!strcmp(what, "actor"))
        ok(rc >= 0 && !(rc & 8), "actor: errors only for calls that ran on a killed process");
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "child"))
        return child_main(argc, argv);
    const char *e = getenv("E2E_SEED");
    unsigned s = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)(time(NULL) ^ getpid());
    diag("seed %u (E2E_SEED=%u replays it)", s, s);
    run_case("tree", "2", s);
    run_case("tree", "1", s + 1);
    run_case("nested", "2", s + 2);
    run_case("actor", "2", s + 3);
    return tap_done();
}
