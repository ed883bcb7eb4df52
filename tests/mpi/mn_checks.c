/*
 * mn_checks.c - a driver for a job of several nodes (`mpirun -n 3 ray-mpi
 * mn_checks`), printing TAP lines: what users of several nodes rely on.
 * A task pinned to each node runs there; 64 MiB objects made on one node
 * are read on others, word by word; a tree whose edges cross nodes sums
 * right; busy tasks spread over every node, unless their data is on one;
 * an actor on the last node is
 * called in order from the driver and from tasks on other nodes, and found
 * by name from another node; nested tasks submit across nodes; an error
 * travels across nodes with its message; an object its owner released is
 * RAY_ELOST; objects of 3/8 of the store made one after another on node
 * 1 and read on node 0 never find a store full of idle copies, and what
 * cannot fit is RAY_ENOMEM after the wait; and the driver's store goes
 * back to where it started.
 *
 *   mn_checks [EXIT_CODE]   (exits with it when every check passed)
 *   mn_checks startup       one task, for the start-up run at many ranks
 *   mn_checks dag           the tree only
 *   mn_checks killrank      SIGKILLs node 1's node service, then waits
 */
#include "e2e/e2e.h"
#include "lib/maker.h"
#include "lib/tap.h"

#define BIG (64u << 20)
#define LEAVES 1024

static uint64_t word(uint64_t i) { return maker_word(i); }

static int where(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = ray_ctx_node(ctx);
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(where)

static int parent_pid(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = getppid(); /* the worker's node service */
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(parent_pid)

static int make_big(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    uint64_t *p = ray_return_alloc(ctx, 0, BIG);
    if (!p)
        return ray_fail(ctx, "make_big: %s", ray_last_error());
    for (uint64_t i = 0; i < BIG / 8; i++)
        p[i] = word(i);
    return 0;
}
RAY_REMOTE(make_big)

static int64_t first_bad_of(const ray_buf *b, uint64_t size)
{
    if (b->size != size)
        return 0;
    const uint64_t *p = b->data;
    for (uint64_t i = 0; i < size / 8; i++)
        if (p[i] != word(i))
            return (int64_t)i + 1;
    return -1; /* all right */
}

static int64_t first_bad(const ray_buf *b) { return first_bad_of(b, BIG); }


static int check_big(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v[2] = {first_bad(&args[0]), ray_ctx_node(ctx)};
    return ray_return(ctx, 0, v, sizeof(v));
}
RAY_REMOTE(check_big)

static int leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, sizeof(int64_t));
}
RAY_REMOTE(leaf)

static int add(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t s = buf_i64(&args[0], 0) + buf_i64(&args[1], 0);
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(add)

static int busy(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    sleep_s(0.1);
    int64_t v = ray_ctx_node(ctx);
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(busy)

/* fib(n): children pinned to node n % nodes, read back with ray_get. */
static int fib(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], -1), s = n;
    if (n >= 2) {
        ray_ref r[2];
        ray_buf b[2];
        ray_task_opts o;
        ray_task_opts_init(&o);
        for (int k = 0; k < 2; k++) {
            int64_t m = n - 1 - k;
            o.node = (int)(m % ray_num_nodes());
            ray_arg a = i64_arg(&m);
            if (ray_submit("fib", &a, 1, &o, &r[k]))
                return ray_fail(ctx, "fib: %s", ray_last_error());
        }
        if (ray_get_many(r, 2, b, 60))
            return ray_fail(ctx, "fib(%lld): %s", (long long)n, ray_last_error());
        s = buf_i64(&b[0], 0) + buf_i64(&b[1], 0);
    }
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(fib)

static int fail_here(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_fail(ctx, "broke on node %d on purpose", ray_ctx_node(ctx));
}
RAY_REMOTE(fail_here)

static int put_and_leave(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    static char data[1 << 20];
    ray_ref r;
    if (ray_put(data, sizeof(data), &r))
        return ray_fail(ctx, "put: %s", ray_last_error());
    return ray_return(ctx, 0, &r, sizeof(r)); /* released when the task returns */
}
RAY_REMOTE(put_and_leave)

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return calloc(1, sizeof(int64_t));
}
static void counter_fini(void *s) { free(s); }
static int inc(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t v[2] = {++*(int64_t *)state, ray_ctx_node(ctx)};
    return ray_return(ctx, 0, v, sizeof(v));
}
RAY_ACTOR(Counter, counter_init, counter_fini)
RAY_METHOD(Counter, inc)

/* A task calling the counter 5 times (by handle, or by name when the
 * handle argument is absent): 1 if its counts went up one by one. */
static int call_counter(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_actor h;
    if (nargs == 1 && args[0].size == sizeof(h))
        memcpy(&h, args[0].data, sizeof(h));
    else if (ray_actor_get("mn-counter", &h))
        return ray_fail(ctx, "ray_actor_get on node %d: %s", ray_ctx_node(ctx), ray_last_error());
    int64_t prev = -1, ordered = 1;
    for (int i = 0; i < 5; i++) {
        ray_ref r;
        ray_buf b;
        if (ray_actor_call(h, "inc", NULL, 0, NULL, &r) || ray_get(r, &b, 30))
            return ray_fail(ctx, "inc from node %d: %s", ray_ctx_node(ctx), ray_last_error());
        int64_t v = ((const int64_t *)b.data)[0];
        ordered &= v > prev; /* other callers' calls come between */
        prev = v;
        ray_release(r);
    }
    return ray_return(ctx, 0, &ordered, sizeof(ordered));
}
RAY_REMOTE(call_counter)

/* ---- the checks, in the driver */

static int64_t get_i64(ray_ref r)
{
    int64_t v = ref_i64(r, INT64_MIN);
    ray_release(r);
    return v;
}

static void check_pinned(int nodes)
{
    int good = 1;
    for (int k = 0; k < nodes; k++) {
        ray_task_opts o;
        ray_task_opts_init(&o);
        o.node = k;
        ray_ref r;
        good &= ray_submit("where", NULL, 0, &o, &r) == 0 && get_i64(r) == k;
    }
    ok(good, "a task pinned to each of %d nodes runs there", nodes);
}

static void check_big_objects(int nodes)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.node = 1;
    ray_ref r, c;
    ray_buf b;
    int rc = ray_submit("make_big", NULL, 0, &o, &r);
    if (!rc)
        rc = ray_get(r, &b, E2E_TIMEOUT);
    ok(!rc && first_bad(&b) == -1, "64 MiB made on node 1, read by the driver on node 0, word by word");
    o.node = nodes - 1;
    ray_arg a = ray_arg_ref(r);
    rc = ray_submit("check_big", &a, 1, &o, &c);
    const int64_t *v = NULL;
    if (!rc && !(rc = ray_get(c, &b, E2E_TIMEOUT)))
        v = b.data;
    ok(v && v[0] == -1 && v[1] == nodes - 1, "  ... and passed to a task on node %d, word by word",
       nodes - 1);
    ray_release(c);
    ray_release(r);
    static uint64_t mine[BIG / 8];
    for (uint64_t i = 0; i < BIG / 8; i++)
        mine[i] = word(i);
    o.node = 1;
    rc = ray_put(mine, BIG, &r);
    a = ray_arg_ref(r);
    v = NULL;
    if (!rc && !(rc = ray_submit("check_big", &a, 1, &o, &c)) && !(rc = ray_get(c, &b, E2E_TIMEOUT)))
        v = b.data;
    ok(v && v[0] == -1 && v[1] == 1, "64 MiB put by the driver, read by a task on node 1 (%s)",
       rc ? ray_errname(rc) : "ok");
    if (rc)
        diag("%s", ray_last_error());
    ray_release(c);
    ray_release(r);
}

static void check_tree(int nodes)
{
    static ray_ref r[LEAVES];
    ray_task_opts o;
    ray_task_opts_init(&o);
    int rc = 0;
    for (int64_t i = 0; i < LEAVES && !rc; i++) {
        o.node = (int)(i % nodes);
        ray_arg a = i64_arg(&i);
        rc = ray_submit("leaf", &a, 1, &o, &r[i]);
    }
    for (int w = LEAVES; w > 1 && !rc; w /= 2)
        for (int i = 0; i < w / 2 && !rc; i++) {
            ray_arg a[2] = {ray_arg_ref(r[2 * i]), ray_arg_ref(r[2 * i + 1])};
            o.node = (i + 1) % nodes; /* across the leaves' nodes */
            ray_ref s;
            rc = ray_submit("add", a, 2, &o, &s);
            ray_release(r[2 * i]);
            ray_release(r[2 * i + 1]);
            r[i] = s;
        }
    ok(!rc && get_i64(r[0]) == (int64_t)LEAVES * (LEAVES - 1) / 2,
       "a tree of %d tasks whose edges cross nodes sums right", 2 * LEAVES - 1);
}

static void check_spread(int nodes)
{
    int n = 6 * nodes, per[64] = {0}, bad = 0;
    ray_ref r[6 * 64];
    for (int i = 0; i < n; i++)
        bad |= ray_submit("busy", NULL, 0, NULL, &r[i]);
    for (int i = 0; i < n; i++) {
        int64_t k = get_i64(r[i]);
        if (k >= 0 && k < 64)
            per[k]++;
        else
            bad = 1;
    }
    int all = 1;
    for (int k = 0; k < nodes; k++)
        all &= per[k] > 0;
    ok(!bad && all, "%d unpinned busy tasks ran on every node (node 0: %d, node 1: %d, last: %d)",
       n, per[0], per[1], per[nodes - 1]);
}

/* The same busy tasks, each reading a 1 MiB object of the driver's: they
 * stay where their data is, however long the backlog. */
static void check_locality(int nodes)
{
    int n = 6 * nodes, per[64] = {0}, bad = 0;
    ray_ref r[6 * 64], data;
    static char mib[1 << 20];
    bad |= ray_put(mib, sizeof(mib), &data);
    ray_arg a = ray_arg_ref(data);
    for (int i = 0; i < n && !bad; i++)
        bad |= ray_submit("busy", &a, 1, NULL, &r[i]);
    for (int i = 0; i < n && !bad; i++) {
        int64_t k = get_i64(r[i]);
        if (k >= 0 && k < 64)
            per[k]++;
        else
            bad = 1;
    }
    ray_release(data);
    ok(!bad && per[0] == n, "%d unpinned busy tasks reading 1 MiB of node 0 all ran there (%d did)",
       n, per[0]);
}

static void check_actor(int nodes)
{
    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    ao.node = nodes - 1;
    ao.name = "mn-counter";
    ray_actor h;
    int rc = ray_actor_create("Counter", NULL, 0, &ao, &h);
    int64_t prev = 0, ordered = !rc, on = -1;
    for (int i = 0; i < 20 && !rc; i++) {
        ray_ref r;
        ray_buf b;
        if ((rc = ray_actor_call(h, "inc", NULL, 0, NULL, &r)) || (rc = ray_get(r, &b, 30)))
            break;
        const int64_t *v = b.data;
        ordered &= v[0] == prev + 1;
        prev = v[0];
        on = v[1];
        ray_release(r);
    }
    ok(!rc && ordered && on == nodes - 1, "an actor placed on node %d: 20 calls from the driver in "
                                          "order", nodes - 1);
    ray_ref t[2];
    ray_task_opts o;
    ray_task_opts_init(&o);
    ray_arg a = ray_arg_val(&h, sizeof(h));
    int good = 1;
    for (int k = 0; k < 2; k++) {
        o.node = k;
        good &= ray_submit("call_counter", &a, 1, &o, &t[k]) == 0;
    }
    for (int k = 0; k < 2; k++)
        good &= get_i64(t[k]) == 1;
    ok(good, "  ... called from tasks on nodes 0 and 1 by its handle, each caller's calls in order");
    o.node = 1;
    ray_ref n;
    ok(ray_submit("call_counter", NULL, 0, &o, &n) == 0 && get_i64(n) == 1,
       "  ... found by its name from a task on node 1");
    ray_actor dup;
    ray_actor_opts_init(&ao);
    ao.name = "mn-counter";
    is_rc(ray_actor_create("Counter", NULL, 0, &ao, &dup), RAY_EEXIST,
          "  ... and its name is taken job-wide");
    ray_actor_kill(h);
}

static void check_nested(void)
{
    int64_t n = 12;
    ray_arg a = i64_arg(&n);
    ray_ref r;
    ok(ray_submit("fib", &a, 1, NULL, &r) == 0 && get_i64(r) == 144,
       "nested tasks submitted across nodes: fib(12) = 144");
}

static void check_error(int nodes)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.node = 1;
    ray_ref f, d;
    ray_buf b;
    int rc = ray_submit("fail_here", NULL, 0, &o, &f);
    o.node = nodes - 1;
    ray_arg a = ray_arg_ref(f);
    if (!rc)
        rc = ray_submit("leaf", &a, 1, &o, &d);
    rc = rc ? rc : ray_get(d, &b, E2E_TIMEOUT);
    ok(rc == RAY_ETASK && str_has(ray_last_error(), "broke on node 1 on purpose"),
       "an error on node 1 reaches a task on node %d and the driver, with its message", nodes - 1);
    ray_release(d);
    ray_release(f);
}

static void check_lost(void)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.node = 1;
    ray_ref r, inner;
    ray_buf b;
    int rc = ray_submit("put_and_leave", NULL, 0, &o, &r);
    if (!rc && !(rc = ray_get(r, &b, E2E_TIMEOUT)))
        memcpy(&inner, b.data, sizeof(inner));
    sleep_s(1); /* the task let go of it as it returned, just after its result */
    rc = rc ? rc : ray_get(inner, &b, E2E_TIMEOUT);
    ok(rc == RAY_ELOST, "an object its owner (node 1) released is RAY_ELOST, not a hang (%s)",
       ray_errname(rc));
    ray_release(inner); /* the copy of it here, which says why */
    ray_release(r);
}

/* Objects of 3/8 of the store, made on node 1 one after another and each
 * read on node 0 and let go: the copies node 0 keeps a while (and with
 * them node 1's originals) make room when a store is full, instead of
 * failing the next ray_create.  Then 3/4 of the store beside 3/8 held:
 * RAY_ENOMEM after RAY_MPI_STORE_FULL_WAIT_S (2 s), saying so. */
static void check_full_store(void)
{
    ray_stats st;
    ray_get_stats(&st);
    uint64_t cap = st.store_capacity_bytes, size = cap * 3 / 8 / 8 * 8;
    unsigned mib = (unsigned)(size >> 20), cap_mib = (unsigned)(cap >> 20);
    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    ao.node = 1;
    ray_actor h;
    int rc = ray_actor_create("Maker", NULL, 0, &ao, &h), good = 0, have = !rc;
    for (int i = 0; i < 8 && !rc; i++) {
        ray_ref big;
        ray_buf b;
        if ((rc = maker_make(h, size, E2E_TIMEOUT, &big)))
            break;
        if (!(rc = ray_get(big, &b, E2E_TIMEOUT)))
            good += first_bad_of(&b, size) == -1;
        ray_release(big);
    }
    ok(!rc && good == 8, "8 objects of %u MiB in a row (store %u MiB) made on node 1, each read "
                         "on node 0 and let go (%d right, %s)", mib, cap_mib, good,
       rc ? ray_errname(rc) : "ok");
    if (rc)
        diag("%s", ray_last_error());
    if (have)
        ray_actor_kill(h);
    ray_ref held, more;
    double t0 = now_s();
    void *p = ray_create(size, &held), *q = p ? ray_create(2 * size, &more) : NULL;
    double waited = now_s() - t0;
    ok(p && !q && strstr(ray_last_error(), "RAY_MPI_STORE_FULL_WAIT_S") && waited > 1.5,
       "%u MiB beside %u MiB held: no room, said after %.1f s of waiting", 2 * mib, mib, waited);
    diag("%s", ray_last_error());
    if (q)
        ray_release(more);
    if (p)
        ray_release(held);
}

static void check_baseline(const ray_stats *base)
{
    ray_stats s;
    for (double end = now_s() + 10; now_s() < end; sleep_s(0.05)) {
        ray_get_stats(&s);
        if (s.objects_live == base->objects_live && s.tasks_live == base->tasks_live)
            break;
    }
    ok(s.objects_live == base->objects_live && s.tasks_live == base->tasks_live &&
           s.store_used_bytes == base->store_used_bytes,
       "the driver's node is back to its baseline (objects %llu, tasks %llu, bytes %llu)",
       (unsigned long long)s.objects_live, (unsigned long long)s.tasks_live,
       (unsigned long long)s.store_used_bytes);
}

static volatile sig_atomic_t got_term;
static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

/* sigterm: node 1's service gets SIGTERM; the driver is told (SIGTERM) and
 * exits 7 on it. */
/* Sends sig to node 1's node service (a task there says its pid). */
static void signal_node1(int sig)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.node = 1;
    ray_ref r;
    if (ray_submit("parent_pid", NULL, 0, &o, &r) == 0) {
        pid_t svc = (pid_t)get_i64(r);
        printf("# killing node 1's node service with %s, pid %d\n", strsignal(sig), (int)svc);
        fflush(stdout);
        kill_pid(svc, sig);
    }
}

static int mode_sigterm(void)
{
    signal(SIGTERM, on_term);
    signal_node1(SIGTERM);
    for (int i = 0; i < 600 && !got_term; i++)
        sleep_s(0.1);
    printf(got_term ? "# the driver was told: SIGTERM\n" : "# the driver was never told\n");
    fflush(stdout);
    return got_term ? 7 : 1;
}

/* slowdag: a DAG that takes minutes (tasks of 0.2 s on every node); "#
 * ready" once every node runs some; ends only if no one stops it. */
static int mode_slowdag(int nodes)
{
    ray_ref r[64];
    int n = 4 * nodes < 64 ? 4 * nodes : 64;
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < n; i++) {
            ray_task_opts o;
            ray_task_opts_init(&o);
            o.node = i % nodes;
            if (ray_submit("busy", NULL, 0, &o, &r[i]))
                return printf("# slowdag round %d: submit: %s\n", round, ray_last_error()), 1;
        }
        for (int i = 0; i < n; i++)
            if (get_i64(r[i]) < 0)
                return printf("# slowdag round %d: task %d: %s\n", round, i, ray_last_error()), 1;
        if (!round) {
            printf("# ready\n");
            fflush(stdout);
        }
    }
    return 0;
}

/* cpus N: every node offers N CPUs: a task of N CPUs pinned to each runs,
 * one of N + 1 is RAY_EINFEASIBLE. */
static int mode_cpus(int nodes, double cpus)
{
    for (int k = 0; k < nodes; k++) {
        ray_task_opts o;
        ray_task_opts_init(&o);
        o.node = k;
        o.num_cpus = cpus;
        ray_ref r;
        ok(ray_submit("where", NULL, 0, &o, &r) == 0 && get_i64(r) == k,
           "node %d runs a task of %g CPUs", k, cpus);
        o.num_cpus = cpus + 1;
        ray_buf b;
        int rc = ray_submit("where", NULL, 0, &o, &r);
        if (!rc) {
            rc = ray_get(r, &b, E2E_TIMEOUT);
            ray_release(r);
        }
        ok(rc == RAY_EINFEASIBLE, "node %d refuses a task of %g CPUs (%s)", k, cpus + 1,
           ray_errname(rc));
    }
    ray_shutdown();
    return tap_done();
}

int main(int argc, char **argv)
{
    if (ray_init(&argc, &argv)) {
        printf("not ok 1 - ray_init: %s\n", ray_last_error());
        return 1;
    }
    int nodes = ray_num_nodes();
    if (argc > 1 && !strcmp(argv[1], "startup")) { /* one task on the last node */
        ray_task_opts o;
        ray_task_opts_init(&o);
        o.node = nodes - 1;
        ray_ref r;
        int good = ray_submit("where", NULL, 0, &o, &r) == 0 && get_i64(r) == nodes - 1;
        printf("# first result %.6f\n", wall_s());
        ok(good, "%d nodes: a task on node %d answers", nodes, nodes - 1);
        ray_shutdown();
        printf("# shutdown done %.6f\n", wall_s());
        return tap_done();
    }
    if (argc > 1 && !strcmp(argv[1], "dag")) {
        check_tree(nodes);
        ray_shutdown();
        return tap_done();
    }
    if (argc > 1 && !strcmp(argv[1], "crash")) { /* the driver dies by a signal mid-job */
        ray_task_opts o;
        ray_task_opts_init(&o);
        o.node = nodes - 1;
        ray_ref r;
        if (ray_submit("where", NULL, 0, &o, &r) == 0)
            get_i64(r);
        printf("# crashing\n");
        fflush(stdout);
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
    if (argc > 1 && !strcmp(argv[1], "sigterm"))
        return mode_sigterm();
    if (argc > 1 && !strcmp(argv[1], "slowdag"))
        return mode_slowdag(nodes);
    if (argc > 2 && !strcmp(argv[1], "cpus"))
        return mode_cpus(nodes, atof(argv[2]));
    if (argc > 1 && !strcmp(argv[1], "killrank")) {
        signal_node1(SIGKILL);
        sleep_s(60); /* the job ends under us */
        printf("# still alive 60 s later\n");
        return 1;
    }
    ray_stats base;
    ray_get_stats(&base);
    is_int(nodes, atoi(getenv("MN_NODES") ? getenv("MN_NODES") : "3"),
           "ray_num_nodes() is the number of ranks");
    check_pinned(nodes);
    check_big_objects(nodes);
    check_tree(nodes);
    check_spread(nodes);
    check_locality(nodes);
    check_actor(nodes);
    check_nested();
    check_error(nodes);
    check_lost();
    check_full_store();
    check_baseline(&base);
    ray_shutdown();
    return tap_failures ? 1 : argc > 1 ? atoi(argv[1]) : 0;
}
