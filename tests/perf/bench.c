/*
 * bench.c - the single-node benchmark of ray-mpi (BENCHMARKS.md W1-W5) and
 * the machine's floors, measured in the same run with the embedded runtime:
 *
 *   W1   100,000 no-op tasks submitted, then all got         tasks_per_s
 *   W2   10,000 x (submit one no-op task, wait for it)       rtt_median_us, rtt_p99_us
 *   W3   binary-tree sum over 65,536 leaves (131,071 tasks)  total_s, tasks_per_s
 *   W4a  1 GiB put into the store and got back               GBps (the get is the
 *        API's zero-copy view: W4a is bound by the put's copy)
 *   W4b  256 MiB in the store passed to a task that sums it  GBps (put not timed)
 *   W5a  100,000 calls on a counter actor, then all got      calls_per_s
 *   W5b  10,000 calls on the same actor, each waited for     rtt_median_us, rtt_p99_us
 *   W9   W3's tree with 50 us tasks, without faults and with a  total_s, total_s_chaos,
 *        worker SIGKILLed every 100 ms (tasks retry forever)  kills
 *
 * floors (peer=floor): a no-op call through a function pointer (with W1), a
 * round trip between two processes through a shared-memory flag and through
 * a pipe (with W2), memcpy of 1 GiB into pre-faulted memory (with W4a), a
 * uint64 sum over 256 MiB (with W4b).
 *
 *   bench [W1 W2 W3 W4 W4a W4b W5 W5a W5b ...]   (default: all, or $BENCH_WORKLOADS)
 *   BENCH_REPS=5                                 repetitions, each after an untimed warm-up
 *
 * Output: per repetition a `# peer=... rep=N ...` line, then one summary
 * line per workload and metric (median, min, max over the repetitions), in
 * the format of BENCHMARKS.md; other `#` lines explain the figures.  Exit
 * status 1 when a check failed or a workload could not run.
 */
#define _GNU_SOURCE
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sched.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W1_TASKS    100000
#define W2_TRIPS    10000
#define W3_LEAVES   65536
#define W3_TASKS    (2 * W3_LEAVES - 1)
#define W3_SUM      2147450880LL
#define W4A_BYTES   (1ull << 30)
#define W4B_BYTES   (256ull << 20)
#define W5A_CALLS   100000
#define W5B_CALLS   10000
#define FLOOR_CALLS 50000000L

/* Barrier: the compiler must assume p's memory is read and written here. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

/* ------------------------------------------------------------ remote side */

static void spin_us(double us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) * 1e-3 < us);
}

/* W9's tasks: W3's, each busy for 50 us. */
static int spin_leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    spin_us(50);
    return leaf(ctx, args, nargs);
}
RAY_REMOTE(spin_leaf)

static int spin_add(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    spin_us(50);
    return add(ctx, args, nargs);
}
RAY_REMOTE(spin_add)

__attribute__((noinline)) static uint64_t sum_u64(const uint64_t *p, size_t n)
{
    ESCAPE(p);
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static int sum_words(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    if (nargs != 1 || args[0].size % 8 || ((uintptr_t)args[0].data & 7))
        return ray_fail(ctx, "sum_words needs one 8-byte aligned object of whole words");
    uint64_t s = sum_u64(args[0].data, args[0].size / 8);
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(sum_words)

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    (void)ctx;
    (void)args;
    (void)nargs;
    return calloc(1, sizeof(int64_t));
}

static void counter_fini(void *state)
{
    free(state);
}
RAY_ACTOR(BenchCounter, counter_init, counter_fini)

static int incr(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    (void)args;
    (void)nargs;
    int64_t *c = state;
    ++*c;
    return ray_return(ctx, 0, c, sizeof(*c));
}
RAY_METHOD(BenchCounter, incr)

/* ---------------------------------------------------------------- helpers */

static ray_ref *g_refs; /* room for the largest batch of refs */
static ray_buf *g_bufs;
static double *g_samples; /* round-trip times of one repetition */

/* Median and p99 of g_samples[0..n), with a comment line on the spread. */
static void rtt_summary(const char *wl, int rep, int n, double *med, double *p99)
{
    *med = median(g_samples, n);
    *p99 = percentile(g_samples, n, 99);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += g_samples[i];
    printf("# %s rep=%d rtt_us min=%.2f mean=%.2f p90=%.2f p99.9=%.2f max=%.2f\n", wl, rep,
           g_samples[0], sum / n, percentile(g_samples, n, 90), percentile(g_samples, n, 99.9),
           g_samples[n - 1]);
}

/* A comment line with the runtime's counters, to show leaks and workers. */
static void print_stats(const char *when)
{
    ray_stats st;
    if (ray_get_stats(&st)) {
        printf("# stats %s: unavailable: %s\n", when, ray_last_error());
        return;
    }
    printf("# stats %s: store_used=%llu/%llu objects_live=%llu tasks_live=%llu workers=%u "
           "actors=%u\n",
           when, (unsigned long long)st.store_used_bytes,
           (unsigned long long)st.store_capacity_bytes, (unsigned long long)st.objects_live,
           (unsigned long long)st.tasks_live, st.workers, st.actors);
}

/* -------------------------------------------------------------- W1 and W2 */

static int w1_rep(int rep, double *v, int *ok)
{
    double t0 = now();
    for (int i = 0; i < W1_TASKS; i++) {
        int rc = ray_submit("noop", NULL, 0, NULL, &g_refs[i]);
        if (rc) {
            release_all(g_refs, i);
            return fail_ray("ray_submit", rc);
        }
    }
    double t1 = now();
    int rc = ray_get_many(g_refs, W1_TASKS, g_bufs, TIMEOUT_S);
    double t2 = now();
    int64_t sum = 0;
    for (int i = 0; !rc && i < W1_TASKS; i++)
        sum += as_i64(&g_bufs[i]);
    release_all(g_refs, W1_TASKS);
    double t3 = now();
    if (rc)
        return fail_ray("ray_get_many", rc);
    *ok = sum == W1_TASKS;
    v[0] = W1_TASKS / (t2 - t0);
    printf("# W1 rep=%d submit_s=%.4f get_s=%.4f release_s=%.4f\n", rep, t1 - t0, t2 - t1, t3 - t2);
    return 0;
}

static int w2_rep(int rep, double *v, int *ok)
{
    int good = 0;
    for (int i = 0; i < W2_TRIPS; i++) {
        ray_ref r;
        ray_buf out;
        double t0 = now();
        int rc = ray_submit("noop", NULL, 0, NULL, &r);
        if (rc)
            return fail_ray("ray_submit", rc);
        rc = ray_get(r, &out, TIMEOUT_S);
        double t1 = now();
        good += !rc && as_i64(&out) == 1;
        ray_release(r);
        if (rc)
            return fail_ray("ray_get", rc);
        g_samples[i] = (t1 - t0) * 1e6;
    }
    *ok = good == W2_TRIPS;
    rtt_summary("W2", rep, W2_TRIPS, &v[0], &v[1]);
    return 0;
}

/* ------------------------------------------------------------- W1 floor */

typedef int (*call_fn)(void *ctx, const void *args, int nargs);

__attribute__((noinline)) static int noop_call(void *ctx, const void *args, int nargs)
{
    (void)ctx;
    (void)args;
    return nargs;
}

/* volatile: loaded anew for every call, so the call cannot be inlined. */
static call_fn volatile g_call = noop_call;

static int call_floor_rep(int rep, double *v, int *ok)
{
    long sum = 0;
    double t0 = now();
    for (long i = 0; i < FLOOR_CALLS; i++)
        sum += g_call(NULL, NULL, 1);
    double t1 = now();
    *ok = sum == FLOOR_CALLS;
    v[0] = FLOOR_CALLS / (t1 - t0);
    printf("# floor W1 rep=%d ns_per_call=%.3f\n", rep, (t1 - t0) * 1e9 / FLOOR_CALLS);
    return 0;
}

/* ------------------------------------------------------------- W2 floors */

static void spin_until(_Atomic uint64_t *flag, uint64_t want)
{
    unsigned spins = 0;
    while (atomic_load_explicit(flag, memory_order_acquire) != want)
        if (++spins % 4096 == 0)
            sched_yield(); /* two cores shared with others: let the peer run */
}

static void shm_child(_Atomic uint64_t *flag)
{
    for (uint64_t k = 1; k <= W2_TRIPS; k++) {
        spin_until(flag, 2 * k - 1);
        atomic_store_explicit(flag, 2 * k, memory_order_release);
    }
    _exit(0);
}

/* 0 when the child exited 0. */
static int reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int shm_rtt(double *med)
{
    _Atomic uint64_t *flag =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (flag == MAP_FAILED)
        return fail("mmap of the shared flag failed");
    atomic_store(flag, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        munmap((void *)flag, 4096);
        return fail("fork failed");
    }
    if (pid == 0)
        shm_child(flag);
    for (uint64_t k = 1; k <= W2_TRIPS; k++) {
        double t0 = now();
        atomic_store_explicit(flag, 2 * k - 1, memory_order_release);
        spin_until(flag, 2 * k);
        g_samples[k - 1] = (now() - t0) * 1e6;
    }
    int rc = reap(pid);
    munmap((void *)flag, 4096);
    *med = median(g_samples, W2_TRIPS);
    return rc ? fail("shared-memory echo process failed") : 0;
}

static void pipe_child(int in, int out)
{
    uint64_t k;
    while (read(in, &k, sizeof(k)) == sizeof(k))
        if (write(out, &k, sizeof(k)) != sizeof(k))
            _exit(1);
    _exit(0);
}

/* Round trips through two pipes; returns how many echoes came back right. */
static int pipe_trips(int out, int in)
{
    int good = 0;
    for (uint64_t k = 1; k <= W2_TRIPS; k++) {
        uint64_t back = 0;
        double t0 = now();
        if (write(out, &k, sizeof(k)) != sizeof(k) || read(in, &back, sizeof(back)) != sizeof(back))
            break;
        g_samples[k - 1] = (now() - t0) * 1e6;
        good += back == k;
    }
    return good;
}

static int pipe_rtt(double *med, int *ok)
{
    int to[2], from[2];
    if (pipe(to))
        return fail("pipe failed");
    if (pipe(from)) {
        close(to[0]);
        close(to[1]);
        return fail("pipe failed");
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(to[1]);
        close(from[0]);
        pipe_child(to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    int good = pid < 0 ? -1 : pipe_trips(to[1], from[0]);
    close(to[1]);
    close(from[0]);
    if (pid < 0)
        return fail("fork failed");
    int rc = reap(pid);
    if (good < W2_TRIPS)
        return fail("pipe echo process failed after %d round trips", good);
    *ok = rc == 0;
    *med = median(g_samples, W2_TRIPS);
    return 0;
}

static int rtt_floor_rep(int rep, double *v, int *ok)
{
    if (shm_rtt(&v[0]) || pipe_rtt(&v[1], ok))
        return -1;
    printf("# floor W2 rep=%d shm_rtt_median_us=%.3f pipe_rtt_median_us=%.3f\n", rep, v[0], v[1]);
    return 0;
}

/* ------------------------------------------------------------------- W3 */

static int w3_rep(int rep, double *v, int *ok)
{
    double t0 = now();
    if (tree_submit(g_refs, W3_LEAVES, "leaf", "add", NULL, 0))
        return -1;
    double t1 = now();
    ray_buf out;
    int rc = ray_get(g_refs[0], &out, TIMEOUT_S);
    double t2 = now();
    int64_t sum = rc ? 0 : as_i64(&out);
    ray_release(g_refs[0]);
    if (rc)
        return fail_ray("ray_get root", rc);
    *ok = sum == W3_SUM;
    v[0] = t2 - t0;
    v[1] = W3_TASKS / (t2 - t0);
    printf("# W3 rep=%d submit_s=%.4f wait_s=%.4f sum=%lld\n", rep, t1 - t0, t2 - t1,
           (long long)sum);
    return 0;
}

/* ------------------------------------------------------------------- W9 */

static atomic_int g_kill_stop, g_kills;

/* The node service: this driver's child of that name (embedded), else the
 * ray-mpi that started it. */
static pid_t node_service_pid(void)
{
    pid_t found = getppid();
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], buf[512];
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char st;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == getpid() &&
            strstr(buf, "(ray-mpi-node)"))
            found = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return found;
}

/* The service's children that are workers: one chosen at random. */
static pid_t some_worker(pid_t svc, unsigned *seed)
{
    pid_t pids[512];
    int n = 0;
    char path[300], buf[512];
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 512) {
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        size_t k = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[k] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char st;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == svc &&
            !strstr(buf, "(ray-mpi-sentine"))
            pids[n++] = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return n ? pids[rand_r(seed) % (unsigned)n] : 0;
}

static void *w9_killer(void *arg)
{
    pid_t svc = *(pid_t *)arg;
    unsigned seed = (unsigned)getpid();
    while (!atomic_load(&g_kill_stop)) {
        usleep(100000);
        pid_t w = some_worker(svc, &seed);
        if (w > 1 && w != getpid() && kill(w, SIGKILL) == 0)
            atomic_fetch_add(&g_kills, 1);
    }
    return NULL;
}

/* One tree of 50 us tasks; its time, or -1. */
static double w9_tree(int *ok)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = -1;
    double t0 = now();
    if (tree_submit(g_refs, W3_LEAVES, "spin_leaf", "spin_add", &o, 0))
        return -1;
    ray_buf out;
    int rc = ray_get(g_refs[0], &out, TIMEOUT_S);
    double t = now() - t0;
    *ok &= !rc && as_i64(&out) == W3_SUM;
    ray_release(g_refs[0]);
    return rc ? (fail_ray("ray_get W9 root", rc), -1) : t;
}

static int w9_rep(int rep, double *v, int *ok)
{
    *ok = 1;
    if ((v[0] = w9_tree(ok)) < 0)
        return -1;
    pid_t svc = node_service_pid();
    pthread_t th;
    atomic_store(&g_kill_stop, 0);
    atomic_store(&g_kills, 0);
    if (pthread_create(&th, NULL, w9_killer, &svc))
        return fail("cannot start the killer thread");
    v[1] = w9_tree(ok);
    atomic_store(&g_kill_stop, 1);
    pthread_join(th, NULL);
    v[2] = atomic_load(&g_kills);
    if (v[1] < 0)
        return -1;
    printf("# W9 rep=%d total_s=%.3f total_s_chaos=%.3f kills=%d ratio=%.2f\n", rep, v[0], v[1],
           (int)v[2], v[1] / v[0]);
    return 0;
}

/* ------------------------------------------------------------------- W4 */

static uint64_t *g_data; /* word i = i * GOLDEN, the W4 data */
static size_t g_data_bytes;
static uint64_t *g_copy; /* memcpy floor destination, pre-faulted */

static int ensure_data(size_t bytes)
{
    if (g_data_bytes >= bytes)
        return 0;
    if (g_data)
        munmap(g_data, g_data_bytes);
    g_data_bytes = 0;
    if (!(g_data = map_bytes(bytes)))
        return fail("cannot map %zu bytes for the W4 data", bytes);
    for (size_t i = 0; i < bytes / 8; i++)
        g_data[i] = w4_word(i);
    g_data_bytes = bytes;
    return 0;
}

static int w4a_rep(int rep, double *v, int *ok)
{
    ray_ref r;
    ray_buf out;
    double t0 = now();
    int rc = ray_put(g_data, W4A_BYTES, &r);
    if (rc)
        return fail_ray("ray_put of 1 GiB", rc);
    double t1 = now();
    rc = ray_get(r, &out, TIMEOUT_S);
    double t2 = now();
    if (rc) {
        ray_release(r);
        return fail_ray("ray_get of 1 GiB", rc);
    }
    *ok = out.size == W4A_BYTES && !((uintptr_t)out.data & 7) &&
          sum_u64(out.data, W4A_BYTES / 8) == w4_sum(W4A_BYTES / 8);
    double t3 = now();
    ray_release(r);
    v[0] = W4A_BYTES / (t2 - t0) / 1e9;
    printf("# W4a rep=%d put_s=%.4f get_s=%.6f read_back_GBps=%.2f (check pass, untimed)\n", rep,
           t1 - t0, t2 - t1, W4A_BYTES / (t3 - t2) / 1e9);
    return 0;
}

/* W4b times passing an object that is in the store to a task: submit with
 * the ref, the worker's sum over its zero-copy view, the result back.  The
 * object is put fresh for every rep, before the clock starts (puts are
 * W4a's); the put time is printed as a comment. */
static int w4b_rep(int rep, double *v, int *ok)
{
    ray_ref obj, res;
    ray_buf out;
    double tp = now();
    int rc = ray_put(g_data, W4B_BYTES, &obj);
    if (rc)
        return fail_ray("ray_put of 256 MiB", rc);
    double t0 = now(), t1 = t0;
    ray_arg a = ray_arg_ref(obj);
    rc = ray_submit("sum_words", &a, 1, NULL, &res);
    ray_release(obj); /* the pending task keeps it */
    if (rc)
        return fail_ray("ray_submit sum_words", rc);
    rc = ray_get(res, &out, TIMEOUT_S);
    double t2 = now();
    uint64_t sum = 0;
    if (!rc && out.size == sizeof(sum))
        memcpy(&sum, out.data, sizeof(sum));
    ray_release(res);
    if (rc)
        return fail_ray("ray_get sum_words", rc);
    *ok = sum == w4_sum(W4B_BYTES / 8);
    v[0] = W4B_BYTES / (t2 - t0) / 1e9;
    printf("# W4b rep=%d put_s=%.4f (not timed) pass_sum_return_s=%.4f\n", rep, t0 - tp,
           t2 - t1);
    return 0;
}

static int memcpy_floor_rep(int rep, double *v, int *ok)
{
    ESCAPE(g_data);
    double t0 = now();
    memcpy(g_copy, g_data, W4A_BYTES);
    ESCAPE(g_copy);
    double t1 = now();
    *ok = 1;
    for (size_t i = 0; i < W4A_BYTES / 8; i += 4093)
        *ok &= g_copy[i] == w4_word(i);
    *ok &= g_copy[W4A_BYTES / 8 - 1] == w4_word(W4A_BYTES / 8 - 1);
    v[0] = W4A_BYTES / (t1 - t0) / 1e9;
    printf("# floor W4a rep=%d memcpy_s=%.4f\n", rep, t1 - t0);
    return 0;
}

static int sum_floor_rep(int rep, double *v, int *ok)
{
    double t0 = now();
    uint64_t s = sum_u64(g_data, W4B_BYTES / 8);
    double t1 = now();
    *ok = s == w4_sum(W4B_BYTES / 8);
    v[0] = W4B_BYTES / (t1 - t0) / 1e9;
    printf("# floor W4b rep=%d sum_s=%.4f\n", rep, t1 - t0);
    return 0;
}

/* ------------------------------------------------------------------- W5 */

static ray_actor g_counter;
static int g_counter_live;
static int64_t g_count; /* the counter's value, as the driver expects it */

static int w5_setup(void)
{
    if (g_counter_live)
        return 0;
    int rc = ray_actor_create("BenchCounter", NULL, 0, NULL, &g_counter);
    if (rc)
        return fail_ray("ray_actor_create", rc);
    g_counter_live = 1;
    g_count = 0;
    return 0;
}

static int w5a_rep(int rep, double *v, int *ok)
{
    if (w5_setup())
        return -1;
    double t0 = now();
    for (int i = 0; i < W5A_CALLS; i++) {
        int rc = ray_actor_call(g_counter, "incr", NULL, 0, NULL, &g_refs[i]);
        if (rc) {
            release_all(g_refs, i);
            return fail_ray("ray_actor_call", rc);
        }
    }
    double t1 = now();
    int rc = ray_get_many(g_refs, W5A_CALLS, g_bufs, TIMEOUT_S);
    double t2 = now();
    int in_order = !rc;
    for (int i = 0; !rc && i < W5A_CALLS; i++)
        in_order &= as_i64(&g_bufs[i]) == g_count + 1 + i;
    if (!rc)
        g_count = as_i64(&g_bufs[W5A_CALLS - 1]); /* resynchronise after a FAIL */
    release_all(g_refs, W5A_CALLS);
    if (rc)
        return fail_ray("ray_get_many", rc);
    *ok = in_order;
    v[0] = W5A_CALLS / (t2 - t0);
    printf("# W5a rep=%d submit_s=%.4f get_s=%.4f\n", rep, t1 - t0, t2 - t1);
    return 0;
}

static int w5b_rep(int rep, double *v, int *ok)
{
    if (w5_setup())
        return -1;
    int good = 0;
    for (int i = 0; i < W5B_CALLS; i++) {
        ray_ref r;
        ray_buf out;
        double t0 = now();
        int rc = ray_actor_call(g_counter, "incr", NULL, 0, NULL, &r);
        if (rc)
            return fail_ray("ray_actor_call", rc);
        rc = ray_get(r, &out, TIMEOUT_S);
        double t1 = now();
        int64_t got = rc ? 0 : as_i64(&out);
        ray_release(r);
        if (rc)
            return fail_ray("ray_get", rc);
        good += got == ++g_count;
        g_count = got;
        g_samples[i] = (t1 - t0) * 1e6;
    }
    *ok = good == W5B_CALLS;
    rtt_summary("W5b", rep, W5B_CALLS, &v[0], &v[1]);
    return 0;
}

static void w5_teardown(void)
{
    if (!g_counter_live)
        return;
    int rc = ray_actor_kill(g_counter);
    if (rc)
        printf("# W5 ray_actor_kill: %s: %s\n", ray_errname(rc), ray_last_error());
    g_counter_live = 0;
}

/* ---------------------------------------------------------------- driver */

enum {
    SEL_W1 = 1,
    SEL_W2 = 2,
    SEL_W3 = 4,
    SEL_W4A = 8,
    SEL_W4B = 16,
    SEL_W5A = 32,
    SEL_W5B = 64,
    SEL_W9 = 128,
    SEL_ALL = 255
};

static const struct {
    const char *name;
    int bits;
} g_names[] = {
    {"W1", SEL_W1},
    {"W2", SEL_W2},
    {"W3", SEL_W3},
    {"W4", SEL_W4A | SEL_W4B},
    {"W4a", SEL_W4A},
    {"W4b", SEL_W4B},
    {"W5", SEL_W5A | SEL_W5B},
    {"W5a", SEL_W5A},
    {"W5b", SEL_W5B},
    {"W9", SEL_W9},
    {"all", SEL_ALL},
};

/* Bits of one workload name, 0 if unknown. */
static int select_one(const char *name)
{
    for (size_t i = 0; i < sizeof(g_names) / sizeof(g_names[0]); i++)
        if (!strcasecmp(name, g_names[i].name))
            return g_names[i].bits;
    return 0;
}

/* Workloads named on the command line, else in $BENCH_WORKLOADS, else all;
 * -1 on an unknown name. */
static int select_workloads(int argc, char **argv)
{
    int sel = 0;
    for (int i = 1; i < argc; i++) {
        int b = select_one(argv[i]);
        if (!b)
            return fprintf(stderr, "bench: unknown workload '%s'\n", argv[i]), -1;
        sel |= b;
    }
    const char *env = getenv("BENCH_WORKLOADS");
    if (!sel && env && *env) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", env);
        for (char *t = strtok(buf, " ,"); t; t = strtok(NULL, " ,")) {
            int b = select_one(t);
            if (!b)
                return fprintf(stderr, "bench: unknown workload '%s'\n", t), -1;
            sel |= b;
        }
    }
    return sel ? sel : SEL_ALL;
}

static void print_header(int sel)
{
    char model[128] = "unknown", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    rep_load l;
    read_load(&l);
    const char *pf = getenv("RAY_MPI_PREFAULT");
    printf("# bench: ray-mpi %d.%d.%d nproc=%ld model=\"%s\" reps=%d workloads=0x%x load=%s "
           "object_store_memory=%s prefault=%s\n",
           RAY_MPI_VERSION_MAJOR, RAY_MPI_VERSION_MINOR, RAY_MPI_VERSION_PATCH,
           sysconf(_SC_NPROCESSORS_ONLN), model, g_reps, sel, l.text,
           getenv("RAY_MPI_OBJECT_STORE_MEMORY"), pf ? pf : "default");
    printf("# note: the node service faults the store in, in the background, after ray_init; "
           "warm-ups absorb first-touch costs\n");
    print_stats("at start");
}

static const series S_W1 = SERIES1("ray-mpi", "W1", "tasks_per_s", "tasks/s", w1_rep);
static const series F_W1 = SERIES1("floor", "W1", "calls_per_s", "calls/s", call_floor_rep);
static const series S_W2 =
    SERIES2("ray-mpi", "W2", "rtt_median_us", "rtt_p99_us", "us", "us", w2_rep);
static const series F_W2 =
    SERIES2("floor", "W2", "shm_rtt_median_us", "pipe_rtt_median_us", "us", "us", rtt_floor_rep);
static const series S_W3 =
    SERIES2("ray-mpi", "W3", "total_s", "tasks_per_s", "s", "tasks/s", w3_rep);
static const series S_W4A = SERIES1("ray-mpi", "W4a", "GBps", "GB/s", w4a_rep);
static const series F_W4A = SERIES1("floor", "W4a", "memcpy_1GiB_GBps", "GB/s", memcpy_floor_rep);
static const series S_W4B = SERIES1("ray-mpi", "W4b", "GBps", "GB/s", w4b_rep);
static const series F_W4B = SERIES1("floor", "W4b", "sum_256MiB_GBps", "GB/s", sum_floor_rep);
static const series S_W5A = SERIES1("ray-mpi", "W5a", "calls_per_s", "calls/s", w5a_rep);
static const series S_W5B =
    SERIES2("ray-mpi", "W5b", "rtt_median_us", "rtt_p99_us", "us", "us", w5b_rep);
static const series S_W9 = SERIES3("ray-mpi", "W9", "total_s", "total_s_chaos", "kills", "s", "s",
                                   "kills", w9_rep);

/* A workload, then its floor (if any) and the runtime's counters. */
static void run_pair(const series *s, const series *floor)
{
    run_series(s);
    if (floor)
        run_series(floor);
    print_stats(s->wl);
}

/* W4 needs its data (and W4a a memcpy destination) before the series. */
static void run_w4(int sel)
{
    if (sel & SEL_W4A) {
        if (ensure_data(W4A_BYTES) || !(g_copy = map_bytes(W4A_BYTES))) {
            if (!g_reason[0])
                fail("cannot map 1 GiB for the memcpy floor");
            print_na(&S_W4A);
            print_na(&F_W4A);
        } else {
            run_pair(&S_W4A, &F_W4A);
        }
        if (g_copy)
            munmap(g_copy, W4A_BYTES);
        g_copy = NULL;
    }
    if (sel & SEL_W4B) {
        if (ensure_data(W4B_BYTES)) {
            print_na(&S_W4B);
            print_na(&F_W4B);
        } else {
            run_pair(&S_W4B, &F_W4B);
        }
    }
}

static void run_selected(int sel)
{
    g_reason[0] = 0;
    if (sel & SEL_W1)
        run_pair(&S_W1, &F_W1);
    if (sel & SEL_W2)
        run_pair(&S_W2, &F_W2);
    if (sel & SEL_W3)
        run_pair(&S_W3, NULL);
    run_w4(sel);
    if (sel & SEL_W5A)
        run_pair(&S_W5A, NULL);
    if (sel & SEL_W5B)
        run_pair(&S_W5B, NULL);
    w5_teardown();
    if (sel & SEL_W9) /* last: it kills workers */
        run_pair(&S_W9, NULL);
}

static int alloc_buffers(void)
{
    g_refs = calloc(W3_LEAVES > W1_TASKS ? W3_LEAVES : W1_TASKS, sizeof(ray_ref));
    g_bufs = calloc(W1_TASKS > W5A_CALLS ? W1_TASKS : W5A_CALLS, sizeof(ray_buf));
    g_samples = calloc(W2_TRIPS > W5B_CALLS ? W2_TRIPS : W5B_CALLS, sizeof(double));
    return g_refs && g_bufs && g_samples ? 0 : -1;
}

int main(int argc, char **argv)
{
    /* W4a needs one free block of 1 GiB in the store: room to spare. */
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "3G", 0);
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "bench: ray_init: %s\n", ray_last_error());
        return 1;
    }
    int bad_reps = read_reps();
    int sel = select_workloads(argc, argv);
    if (bad_reps || sel < 0 || alloc_buffers()) {
        fprintf(stderr, "usage: [BENCH_REPS=1..%d] bench [W1 W2 W3 W4 W4a W4b W5 W5a W5b W9]\n",
                MAX_REPS - 1);
        ray_shutdown();
        return 2;
    }
    print_header(sel);
    run_selected(sel);
    print_stats("at end");
    fflush(stdout);
    int rc = ray_shutdown();
    if (rc)
        printf("# ray_shutdown: %s: %s\n", ray_errname(rc), ray_last_error());
    return g_status || rc ? 1 : 0;
}
