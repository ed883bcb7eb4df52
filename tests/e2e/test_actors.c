/*
 * test_actors.c - actors end to end: state and call order, handles as
 * values, refs both ways, named actors, init and method failures, kill,
 * process death with and without restarts, CPU holding, fini exactly once.
 */
#define _GNU_SOURCE
#include <ray_mpi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "lib/tap.h"

/* ---- the Counter class: value, optional fini marker file */

typedef struct counter {
    int64_t value;
    char marker[256];
} counter;

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    counter *c = calloc(1, sizeof(*c));
    if (nargs >= 1 && args[0].size == 8)
        memcpy(&c->value, args[0].data, 8);
    if (nargs >= 2)
        snprintf(c->marker, sizeof(c->marker), "%.*s", (int)args[1].size,
                 (const char *)args[1].data);
    return c;
}

/* fini appends one line to the marker file: tests count the lines. */
static void counter_fini(void *state)
{
    counter *c = state;
    if (c->marker[0]) {
        FILE *f = fopen(c->marker, "a");
        if (f) {
            fputs("fini\n", f);
            fclose(f);
        }
    }
    free(c);
}
RAY_ACTOR(Counter, counter_init, counter_fini)

static int add(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    counter *c = state;
    int64_t n = nargs ? buf_i64(&args[0], -1) : 1;
    c->value += n;
    return ray_return(ctx, 0, &c->value, sizeof(c->value));
}
RAY_METHOD(Counter, add)

static int value(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    counter *c = state;
    return ray_return(ctx, 0, &c->value, sizeof(c->value));
}
RAY_METHOD(Counter, value)

static int pid(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t p = getpid();
    return ray_return(ctx, 0, &p, sizeof(p));
}
RAY_METHOD(Counter, pid)

static int nap(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    usleep((useconds_t)(buf_i64(&args[0], -1) * 1000));
    return ray_return(ctx, 0, NULL, 0);
}
RAY_METHOD(Counter, nap)

static int crash(ray_ctx *ctx, void *state, const ray_buf *args, int nargs) { _exit(3); }
RAY_METHOD(Counter, crash)

static int boom(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    return ray_fail(ctx, "boom: method failed on purpose");
}
RAY_METHOD(Counter, boom)

/* sum of the values of its (ref) arguments, added to the counter */
static int add_all(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    counter *c = state;
    for (int i = 0; i < nargs; i++)
        c->value += buf_i64(&args[i], -1);
    return ray_return(ctx, 0, &c->value, sizeof(c->value));
}
RAY_METHOD(Counter, add_all)

/* a method that runs a task and waits for it (nested, from an actor) */
static int via_task(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    ray_ref r;
    ray_buf b;
    int64_t v = 41;
    ray_arg a = ray_arg_val(&v, sizeof(v));
    if (ray_submit("plus_one", &a, 1, NULL, &r) || ray_get(r, &b, 30))
        return ray_fail(ctx, "via_task: %s", ray_last_error());
    int64_t got = buf_i64(&b, -1);
    ray_release(r);
    return ray_return(ctx, 0, &got, sizeof(got));
}
RAY_METHOD(Counter, via_task)

/* ---- classes whose init fails */

static void *failing_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_fail(ctx, "cannot open the database: disk on fire");
    return NULL;
}
RAY_ACTOR(Broken, failing_init, NULL)
RAY_METHOD(Broken, value)

static void *null_init(ray_ctx *ctx, const ray_buf *args, int nargs) { return NULL; }
RAY_ACTOR(Null, null_init, NULL)
RAY_METHOD(Null, value)

/* ---- tasks */

static int plus_one(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = buf_i64(&args[0], -1) + 1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(plus_one)

/* calls actor (handle passed as bytes) "add" n times; returns the last value */
static int call_from_task(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_actor a;
    memcpy(&a, args[0].data, sizeof(a));
    int64_t last = -1;
    for (int i = 0; i < 10; i++) {
        ray_ref r;
        ray_buf b;
        if (ray_actor_call(a, "add", NULL, 0, NULL, &r) || ray_get(r, &b, 30))
            return ray_fail(ctx, "call from task: %s", ray_last_error());
        last = buf_i64(&b, -1);
        ray_release(r);
    }
    return ray_return(ctx, 0, &last, sizeof(last));
}
RAY_REMOTE(call_from_task)

static ray_actor make(const char *cls, int64_t start, const char *marker, double cpus,
                      int restarts, const char *name, int *rc)
{
    ray_actor a;
    memset(&a, 0, sizeof(a));
    ray_actor_opts o;
    ray_actor_opts_init(&o);
    o.num_cpus = cpus;
    o.max_restarts = restarts;
    o.name = name;
    ray_arg args[2] = {ray_arg_val(&start, 8), ray_arg_val(marker, marker ? strlen(marker) : 0)};
    *rc = ray_actor_create(cls, args, marker ? 2 : 1, &o, &a);
    return a;
}

static int call(ray_actor a, const char *m, const ray_arg *args, int n, int64_t *out)
{
    ray_ref r;
    ray_buf b;
    int rc = ray_actor_call(a, m, args, n, NULL, &r);
    if (rc)
        return rc;
    rc = ray_get(r, &b, 30);
    if (!rc && out)
        *out = buf_i64(&b, -1);
    ray_release(r);
    return rc;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    if (!f)
        return 0;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void wait_lines(const char *path, int want)
{
    for (int i = 0; i < 100 && count_lines(path) < want; i++)
        usleep(50000);
}

static void test_order_and_state(void)
{
    int rc;
    ray_actor a = make("Counter", 0, NULL, 1, 0, NULL, &rc);
    is_rc(rc, RAY_OK, "create a Counter");
    enum { N = 1000 };
    static ray_ref refs[N];
    int sent = 1;
    for (int64_t i = 1; i <= N && sent; i++) {
        ray_arg arg = ray_arg_val(&i, 8);
        sent = ray_actor_call(a, "add", &arg, 1, NULL, &refs[i - 1]) == RAY_OK;
    }
    ok(sent, "1000 calls submitted without waiting");
    int in_order = 1;
    for (int64_t i = 1; i <= N && sent; i++) {
        ray_buf b;
        in_order &= ray_get(refs[i - 1], &b, 30) == RAY_OK && buf_i64(&b, -1) == i * (i + 1) / 2;
        ray_release(refs[i - 1]);
    }
    ok(in_order, "each of the 1000 calls saw every earlier call (submission order)");
    int64_t v = 0;
    is_rc(call(a, "value", NULL, 0, &v), RAY_OK, "value after the calls");
    is_int(v, (int64_t)N * (N + 1) / 2, "state kept across calls");
    ray_arg h = ray_arg_val(&a, sizeof(a));
    ray_ref r;
    ray_buf b;
    is_rc(ray_submit("call_from_task", &h, 1, NULL, &r), RAY_OK, "task gets the handle as bytes");
    is_rc(ray_get(r, &b, 30), RAY_OK, "task called the actor 10 times");
    is_int(buf_i64(&b, -1), v + 10, "calls from the task changed the same actor's state");
    ray_release(r);
    is_rc(call(a, "via_task", NULL, 0, &v), RAY_OK, "a method runs a task and waits for it");
    is_int(v, 42, "nested task result seen in the method");
    ray_actor_kill(a);
}

static void test_refs_both_ways(void)
{
    int rc;
    ray_actor a = make("Counter", 0, NULL, 1, 0, NULL, &rc);
    int64_t one = 1;
    ray_arg arg = ray_arg_val(&one, 8);
    ray_ref t1, t2, out, after;
    ray_submit("plus_one", &arg, 1, NULL, &t1); /* 2 */
    ray_arg a2 = ray_arg_ref(t1);
    ray_submit("plus_one", &a2, 1, NULL, &t2); /* 3 */
    ray_arg refs[2] = {ray_arg_ref(t1), ray_arg_ref(t2)};
    is_rc(ray_actor_call(a, "add_all", refs, 2, NULL, &out), RAY_OK, "call takes task refs");
    ray_release(t1);
    ray_release(t2);
    ray_arg fa = ray_arg_ref(out);
    is_rc(ray_submit("plus_one", &fa, 1, NULL, &after), RAY_OK, "call output feeds a task");
    ray_buf b;
    is_rc(ray_get(after, &b, 30), RAY_OK, "task on the actor's output ran");
    is_int(buf_i64(&b, -1), 6, "2 + 3 added by the actor, then + 1 by the task");
    ray_release(out);
    ray_release(after);
    ray_actor_kill(a);
}

static void test_names(void)
{
    int rc;
    ray_actor a = make("Counter", 7, NULL, 0, 0, "the-counter", &rc);
    is_rc(rc, RAY_OK, "named actor created");
    ray_actor b;
    is_rc(ray_actor_get("the-counter", &b), RAY_OK, "found by name");
    int64_t v = 0;
    is_rc(call(b, "value", NULL, 0, &v), RAY_OK, "call through the found handle");
    is_int(v, 7, "it is the same actor");
    make("Counter", 8, NULL, 0, 0, "the-counter", &rc);
    is_rc(rc, RAY_EEXIST, "a second actor with a taken name is refused");
    is_rc(ray_actor_get("no-such-actor", &b), RAY_ENOTFOUND, "unknown name: RAY_ENOTFOUND");
    ok(strstr(ray_last_error(), "no-such-actor") != NULL, "message names it: %s",
       ray_last_error());
    is_rc(ray_actor_kill(a), RAY_OK, "kill the named actor");
    is_rc(ray_actor_get("the-counter", &b), RAY_ENOTFOUND, "killed actor's name is freed");
    ray_actor c = make("Counter", 9, NULL, 0, 0, "the-counter", &rc);
    is_rc(rc, RAY_OK, "the name can be taken again");
    ray_actor_kill(c);
}

static void test_init_failures(void)
{
    int rc;
    ray_actor a = make("Broken", 0, NULL, 0, 0, NULL, &rc);
    is_rc(rc, RAY_OK, "create returns at once (init runs in its process)");
    is_rc(call(a, "value", NULL, 0, NULL), RAY_EACTOR, "call on an actor whose init failed");
    ok(strstr(ray_last_error(), "disk on fire") != NULL, "with the init's message: %s",
       ray_last_error());
    is_rc(call(a, "value", NULL, 0, NULL), RAY_EACTOR, "and every later call too");
    ok(strstr(ray_last_error(), "disk on fire") != NULL, "still with the init's message");
    ray_actor n = make("Null", 0, NULL, 0, 0, NULL, &rc);
    is_rc(call(n, "value", NULL, 0, NULL), RAY_EACTOR, "init returning NULL: RAY_EACTOR");
    ok(strstr(ray_last_error(), "NULL") != NULL, "message says init returned NULL: %s",
       ray_last_error());
}

static void test_method_failure(void)
{
    int rc;
    ray_actor a = make("Counter", 5, NULL, 0, 0, NULL, &rc);
    is_rc(call(a, "boom", NULL, 0, NULL), RAY_ETASK, "ray_fail in a method: RAY_ETASK");
    ok(strstr(ray_last_error(), "failed on purpose") != NULL, "with its message");
    int64_t v = 0;
    is_rc(call(a, "add", NULL, 0, &v), RAY_OK, "the actor goes on after a failed call");
    is_int(v, 6, "and its state is intact");
    is_rc(call(a, "no_such_method", NULL, 0, NULL), RAY_ENOFUNC, "unknown method: RAY_ENOFUNC");
    ray_actor_kill(a);
    ray_actor garbage;
    memset(&garbage, 0x5a, sizeof(garbage));
    is_rc(call(garbage, "value", NULL, 0, NULL), RAY_EINVAL, "garbage handle: RAY_EINVAL");
    is_rc(ray_actor_create("NoSuchClass", NULL, 0, NULL, &garbage), RAY_ENOFUNC,
          "unknown class: RAY_ENOFUNC");
    is_rc(ray_actor_create(NULL, NULL, 0, NULL, &garbage), RAY_EINVAL, "NULL class: RAY_EINVAL");
    is_rc(ray_actor_create("Counter", NULL, 0, NULL, NULL), RAY_EINVAL, "NULL out: RAY_EINVAL");
    is_rc(ray_actor_get(NULL, &garbage), RAY_EINVAL, "ray_actor_get(NULL): RAY_EINVAL");
}

static void test_kill(const char *dir)
{
    char marker[600];
    snprintf(marker, sizeof(marker), "%s/fini-kill", dir);
    int rc;
    ray_actor a = make("Counter", 0, marker, 1, 0, "doomed", &rc);
    int64_t ms = 300;
    ray_arg arg = ray_arg_val(&ms, 8);
    ray_ref busy, pending[5];
    ray_actor_call(a, "nap", &arg, 1, NULL, &busy);
    for (int i = 0; i < 5; i++)
        ray_actor_call(a, "add", NULL, 0, NULL, &pending[i]);
    usleep(50000); /* the nap is running, the adds wait behind it */
    is_rc(ray_actor_kill(a), RAY_OK, "ray_actor_kill");
    int all = 1;
    for (int i = 0; i < 5; i++) {
        ray_buf b;
        all &= ray_get(pending[i], &b, 30) == RAY_EACTOR;
        ray_release(pending[i]);
    }
    ok(all, "pending calls of a killed actor get RAY_EACTOR");
    is_rc(call(a, "add", NULL, 0, NULL), RAY_EACTOR, "later calls get RAY_EACTOR");
    ray_buf b;
    ray_get(busy, &b, 30);
    ray_release(busy);
    wait_lines(marker, 1);
    is_int(count_lines(marker), 1, "its fini ran once it could");
    ray_actor again;
    is_rc(ray_actor_get("doomed", &again), RAY_ENOTFOUND, "its name is free");
}

static int64_t actor_pid(ray_actor a)
{
    int64_t p = -1;
    call(a, "pid", NULL, 0, &p);
    return p;
}

static void test_death(void)
{
    int rc;
    /* Without restarts: dead after its process is killed. */
    ray_actor a = make("Counter", 0, NULL, 0, 0, NULL, &rc);
    int64_t p = actor_pid(a);
    ok(p > 0 && p != getpid(), "actor runs in its own process (%lld)", (long long)p);
    int64_t ms = 5000;
    ray_arg arg = ray_arg_val(&ms, 8);
    ray_ref running;
    ray_actor_call(a, "nap", &arg, 1, NULL, &running);
    usleep(100000);
    kill_pid((pid_t)p, SIGKILL);
    ray_buf b;
    int got = ray_get(running, &b, 30);
    ok(got == RAY_EACTOR || got == RAY_EWORKER, "the running call fails when the process dies (%s)",
       ray_errname(got));
    ray_release(running);
    is_rc(call(a, "value", NULL, 0, NULL), RAY_EACTOR, "no restarts: later calls get RAY_EACTOR");

    /* One restart: init runs again (fresh state), then dead for good. */
    ray_actor r = make("Counter", 100, NULL, 0, 1, NULL, &rc);
    int64_t v = 0;
    call(r, "add", NULL, 0, &v);
    is_int(v, 101, "restartable actor has state");
    p = actor_pid(r);
    ray_ref during;
    ray_actor_call(r, "nap", &arg, 1, NULL, &during);
    usleep(100000);
    kill_pid((pid_t)p, SIGKILL);
    got = ray_get(during, &b, 30);
    ok(got == RAY_EACTOR || got == RAY_EWORKER, "the call running at the death fails (%s)",
       ray_errname(got));
    ray_release(during);
    is_rc(call(r, "value", NULL, 0, &v), RAY_OK, "after a restart, calls work again");
    is_int(v, 100, "init ran again: fresh state");
    int64_t p2 = actor_pid(r);
    ok(p2 > 0 && p2 != p, "calls go to the new process (%lld -> %lld)", (long long)p, (long long)p2);
    kill_pid((pid_t)p2, SIGKILL);
    int dead = 0;
    for (int i = 0; i < 50 && !dead; i++) {
        dead = call(r, "value", NULL, 0, NULL) == RAY_EACTOR;
        if (!dead)
            usleep(100000);
    }
    ok(dead, "after its restarts ran out the actor is dead: RAY_EACTOR");
}

/* Calls queued behind the one that kills the process run, after the
 * restart, in the order they were made. */
static void test_restart_order(void)
{
    int rc;
    ray_actor a = make("Counter", 0, NULL, 0, 1, NULL, &rc);
    int64_t ms = 300;
    ray_arg nap_ms = ray_arg_val(&ms, 8);
    ray_ref busy, dies, r[6];
    ray_actor_call(a, "nap", &nap_ms, 1, NULL, &busy);
    usleep(50000); /* in nap: what follows queues up */
    ray_actor_call(a, "crash", NULL, 0, NULL, &dies);
    for (int i = 0; i < 6; i++)
        ray_actor_call(a, "add", NULL, 0, NULL, &r[i]);
    ray_buf b;
    ray_get(busy, &b, 30);
    int got = ray_get(dies, &b, 30);
    ok(got == RAY_EACTOR || got == RAY_EWORKER, "the call that killed its process fails (%s)",
       ray_errname(got));
    int in_order = 1;
    for (int i = 0; i < 6; i++) {
        in_order &= ray_get(r[i], &b, 30) == RAY_OK && buf_i64(&b, -1) == i + 1;
        ray_release(r[i]);
    }
    ok(in_order, "the 6 calls queued behind it ran on the new process, in order (1..6)");
    ray_release(busy);
    ray_release(dies);
    ray_actor_kill(a);
}

/* Killing twice, or a dead actor, is harmless: later actors get slots of
 * their own. */
static void test_kill_twice(void)
{
    int rc;
    ray_actor x = make("Counter", 10, NULL, 0, 0, NULL, &rc);
    call(x, "value", NULL, 0, NULL);
    is_rc(ray_actor_kill(x), RAY_OK, "kill");
    is_rc(ray_actor_kill(x), RAY_OK, "kill again: no error");
    usleep(200000);
    is_rc(ray_actor_kill(x), RAY_OK, "and once more after its process is gone");
    ray_actor y = make("Counter", 20, NULL, 0, 0, NULL, &rc);
    ray_actor z = make("Counter", 30, NULL, 0, 0, NULL, &rc);
    int64_t vy = 0, vz = 0;
    call(y, "value", NULL, 0, &vy);
    call(z, "value", NULL, 0, &vz);
    ok(vy == 20 && vz == 30 && memcmp(&y, &z, sizeof(y)),
       "two new actors are two actors (%lld, %lld)", (long long)vy, (long long)vz);
    ray_actor_kill(y);
    ray_actor_kill(z);
}

static void test_resources(void)
{
    int rc;
    /* num_cpus = 0: dozens of actors live on a 2-core node. */
    enum { N = 24 };
    ray_actor many[N];
    int all = 1;
    for (int i = 0; i < N; i++) {
        many[i] = make("Counter", i, NULL, 0, 0, NULL, &rc);
        all &= rc == RAY_OK;
    }
    ok(all, "24 zero-CPU actors created");
    int answered = 1;
    for (int i = 0; i < N; i++) {
        int64_t v = -1;
        answered &= call(many[i], "value", NULL, 0, &v) == RAY_OK && v == i;
    }
    ok(answered, "each of the 24 answers with its own state");
    int64_t one = 1;
    ray_arg arg = ray_arg_val(&one, 8);
    ray_ref t;
    ray_buf b;
    ray_submit("plus_one", &arg, 1, NULL, &t);
    is_rc(ray_get(t, &b, 30), RAY_OK, "zero-CPU actors do not block tasks");
    ray_release(t);
    for (int i = 0; i < N; i++)
        ray_actor_kill(many[i]);

    /* num_cpus = 1 held for the lifetime: two such actors take both CPUs. */
    ray_stats st;
    ray_get_stats(&st);
    ray_actor c1 = make("Counter", 0, NULL, 1, 0, NULL, &rc);
    ray_actor c2 = make("Counter", 0, NULL, 1, 0, NULL, &rc);
    call(c1, "value", NULL, 0, NULL);
    call(c2, "value", NULL, 0, NULL);
    ray_submit("plus_one", &arg, 1, NULL, &t);
    is_rc(ray_get(t, &b, 1.0), RAY_ETIMEDOUT,
          "with both CPUs held by actors, a 1-CPU task waits");
    ray_actor_kill(c1);
    is_rc(ray_get(t, &b, 30), RAY_OK, "and runs once an actor is gone");
    ray_release(t);

    /* A 2-CPU actor that must wait for c2 does not starve tasks meanwhile. */
    ray_actor_opts big;
    ray_actor_opts_init(&big);
    big.num_cpus = 2;
    ray_actor c3;
    is_rc(ray_actor_create("Counter", NULL, 0, &big, &c3), RAY_OK,
          "a 2-CPU actor is created while a 1-CPU actor lives (it waits)");
    usleep(200000);
    ray_submit("plus_one", &arg, 1, NULL, &t);
    is_rc(ray_get(t, &b, 10), RAY_OK, "a 1-CPU task still runs on the free CPU");
    ray_release(t);
    ray_actor_kill(c2);
    is_rc(call(c3, "value", NULL, 0, NULL), RAY_OK, "the 2-CPU actor starts once c2 is gone");
    ray_actor_kill(c3);
}

int main(int argc, char **argv)
{
    /* 2 CPUs, whatever the machine: test_resources depends on it. */
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    if (ray_init(&argc, &argv)) {
        printf("not ok 1 - ray_init: %s\n", ray_last_error());
        return 1;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/actors.XXXXXX", tmp);
    if (!mkdtemp(dir))
        return 1;
    test_order_and_state();
    test_refs_both_ways();
    test_names();
    test_init_failures();
    test_method_failure();
    test_kill(dir);
    test_death();
    test_restart_order();
    test_kill_twice();
    test_resources();

    /* Shutdown ends every actor and runs no fini twice. */
    char m1[600], m2[600];
    snprintf(m1, sizeof(m1), "%s/fini-shutdown", dir);
    snprintf(m2, sizeof(m2), "%s/fini-killed-then-shutdown", dir);
    int rc;
    ray_actor live = make("Counter", 0, m1, 0, 0, NULL, &rc);
    ray_actor killed = make("Counter", 0, m2, 0, 0, NULL, &rc);
    call(live, "value", NULL, 0, NULL);
    call(killed, "value", NULL, 0, NULL);
    ray_actor_kill(killed);
    wait_lines(m2, 1);
    double t0 = now_s();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown with live actors");
    ok(now_s() - t0 < 10, "shutdown took %.2f s", now_s() - t0);
    is_int(count_lines(m1), 1, "a live actor's fini ran once at shutdown");
    is_int(count_lines(m2), 1, "a killed actor's fini did not run again at shutdown");
    unlink(m1);
    unlink(m2);
    char m3[600];
    snprintf(m3, sizeof(m3), "%s/fini-kill", dir);
    unlink(m3);
    rmdir(dir);
    return tap_done();
}
