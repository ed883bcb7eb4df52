/*
 * test_errors.c - bad input (DESIGN.md section 4: "an unknown ref, a NULL
 * pointer, a size that overflows gets RAY_EINVAL with a message; it never
 * crashes the caller or the node service").  NULL for every pointer
 * parameter, negative counts, num_returns out of range, bad options and
 * resource strings, unknown functions (RAY_ENOFUNC), garbage refs (zeroed,
 * random, forged), sizes of SIZE_MAX, misuse of the task-side calls, and
 * resource requests no node can ever meet (RAY_EINFEASIBLE, at once).
 * At the end the node must still run tasks.
 *
 * The node is pinned to 2 CPUs, 0 GPUs and a custom resource "bar:2" so
 * the infeasible cases do not depend on the machine.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <math.h>
#include <stdint.h>

static int echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return nargs ? ray_return(ctx, 0, args[0].data, args[0].size) : 0;
}
RAY_REMOTE(echo)

/* Misuses the task-side calls and returns what each gave, as int64s. */
static int misuse(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t c[8];
    int ids[4];
    int ac = 0;
    char **av = NULL;
    c[0] = ray_return(ctx, 0, NULL, 5);
    c[1] = ray_return_alloc(ctx, 0, SIZE_MAX) == NULL ? RAY_EINVAL : RAY_OK;
    c[2] = ray_return_alloc(ctx, 1, 8) == NULL ? RAY_EINVAL : RAY_OK; /* only 1 output */
    c[3] = ray_ctx_gpus(ctx, NULL, 4);
    c[4] = ray_ctx_gpus(ctx, ids, -1);
    c[5] = ray_shutdown();
    c[6] = ray_init(&ac, &av);
    c[7] = ray_return(NULL, 0, c, 8);
    return ray_return(ctx, 0, c, sizeof(c));
}
RAY_REMOTE(misuse)

/* ray_fail with a NULL format: the task fails, the worker lives. */
static int fail_null(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_fail(ctx, NULL);
}
RAY_REMOTE(fail_null)

/* An error code with a message (not empty, not the "no error" text). */
#define is_err(expr, want, ...)                                                                    \
    do {                                                                                           \
        int rc_ = (expr), w_ = (want);                                                             \
        const char *m_ = ray_last_error();                                                         \
        int msg_ = m_ && m_[0] && strcmp(m_, "no error");                                          \
        if (!ok(rc_ == w_ && msg_, __VA_ARGS__))                                                   \
            printf("#   got %s (%d), want %s (%d) with a message: '%s'\n", ray_errname(rc_), rc_,  \
                   ray_errname(w_), w_, m_ ? m_ : "");                                             \
    } while (0)

static ray_ref good; /* a live 100-byte object */
static char good_bytes[100];

/* ---- NULL pointers and negative counts */

static void test_null_objects(void)
{
    ray_ref r;
    ray_buf b;
    int ready[1];
    is_err(ray_put(NULL, 10, &r), RAY_EINVAL, "ray_put(NULL data, 10 bytes)");
    is_err(ray_put(good_bytes, 10, NULL), RAY_EINVAL, "ray_put(out = NULL)");
    ok(ray_create(10, NULL) == NULL, "ray_create(out = NULL) gives NULL");
    ok(ray_last_error()[0] != 0, "  ... with a message (%s)", ray_last_error());
    is_err(ray_get(good, NULL, 1), RAY_EINVAL, "ray_get(out = NULL)");
    is_err(ray_get_many(NULL, 1, &b, 1), RAY_EINVAL, "ray_get_many(refs = NULL)");
    is_err(ray_get_many(&good, 1, NULL, 1), RAY_EINVAL, "ray_get_many(outs = NULL)");
    is_err(ray_get_many(&good, -1, &b, 1), RAY_EINVAL, "ray_get_many(n = -1)");
    is_err(ray_wait(NULL, 1, 1, 1, ready), RAY_EINVAL, "ray_wait(refs = NULL)");
    is_err(ray_wait(&good, 1, 1, 1, NULL), RAY_EINVAL, "ray_wait(ready = NULL)");
    is_err(ray_wait(&good, -1, 0, 1, ready), RAY_EINVAL, "ray_wait(n = -1)");
    is_err(ray_wait(&good, 1, -1, 1, ready), RAY_EINVAL, "ray_wait(num_ready = -1)");
    is_err(ray_wait(&good, 1, 2, 1, ready), RAY_EINVAL, "ray_wait(num_ready > n)");
    is_err(ray_get_stats(NULL), RAY_EINVAL, "ray_get_stats(NULL)");
    ray_task_opts_init(NULL);
    ray_actor_opts_init(NULL);
    ok(1, "ray_task_opts_init(NULL) and ray_actor_opts_init(NULL) return");
    char buf[8] = "zzzzzzz";
    ok(ray_ref_str(good, NULL, 0) == NULL, "ray_ref_str(buf = NULL) returns NULL");
    ray_ref_str(good, buf, 4);
    ok(buf[3] == 0, "ray_ref_str truncates to the buffer, terminated ('%s')", buf);
}

static void test_null_tasks(void)
{
    ray_ref r;
    int64_t v = 1;
    ray_arg a = i64_arg(&v);
    is_err(ray_submit(NULL, &a, 1, NULL, &r), RAY_EINVAL, "ray_submit(fn = NULL)");
    is_err(ray_submit("echo", NULL, 1, NULL, &r), RAY_EINVAL, "ray_submit(args = NULL, nargs 1)");
    is_err(ray_submit("echo", &a, -1, NULL, &r), RAY_EINVAL, "ray_submit(nargs = -1)");
    is_err(ray_submit("echo", &a, 1, NULL, NULL), RAY_EINVAL,
           "ray_submit(returns = NULL) with one return");
    ray_arg null_val = ray_arg_val(NULL, 5);
    is_err(ray_submit("echo", &null_val, 1, NULL, &r), RAY_EINVAL,
           "ray_submit with ray_arg_val(NULL, 5)");
    ray_arg junk;
    memset(&junk, 0xa5, sizeof(junk));
    is_err(ray_submit("echo", &junk, 1, NULL, &r), RAY_EINVAL,
           "ray_submit with an argument not made by ray_arg_val/ray_arg_ref");
    ray_arg zero_arg;
    memset(&zero_arg, 0, sizeof(zero_arg));
    int rc = ray_submit("echo", &zero_arg, 1, NULL, &r);
    ok(rc == RAY_EINVAL || rc == RAY_OK, "ray_submit with a zeroed ray_arg: no crash (%s)",
       ray_errname(rc));
    if (rc == RAY_OK)
        ray_release(r);

    ray_actor act;
    memset(&act, 0, sizeof(act));
    is_err(ray_actor_create(NULL, NULL, 0, NULL, &act), RAY_EINVAL, "ray_actor_create(cls = NULL)");
    is_err(ray_actor_create("Nope", NULL, 0, NULL, NULL), RAY_EINVAL,
           "ray_actor_create(out = NULL)");
    is_err(ray_actor_create("Nope", NULL, -1, NULL, &act), RAY_EINVAL,
           "ray_actor_create(nargs = -1)");
    is_err(ray_actor_call(act, NULL, NULL, 0, NULL, &r), RAY_EINVAL,
           "ray_actor_call(method = NULL)");
    is_err(ray_actor_get(NULL, &act), RAY_EINVAL, "ray_actor_get(name = NULL)");
    is_err(ray_actor_get("someone", NULL), RAY_EINVAL, "ray_actor_get(out = NULL)");
    is_err(ray_actor_kill(act), RAY_EINVAL, "ray_actor_kill(zeroed handle)");

    is_err(ray_register_function(NULL, echo), RAY_EINVAL, "ray_register_function(name = NULL)");
    is_err(ray_register_function("x", NULL), RAY_EINVAL, "ray_register_function(fn = NULL)");
    is_err(ray_register_actor(NULL, NULL, NULL), RAY_EINVAL, "ray_register_actor(NULL, NULL)");
    is_err(ray_register_method(NULL, NULL, NULL), RAY_EINVAL, "ray_register_method(NULL...)");

    /* Task-side calls from the driver, with no task context. */
    is_err(ray_return(NULL, 0, &v, sizeof(v)), RAY_EINVAL, "ray_return(ctx = NULL)");
    ok(ray_return_alloc(NULL, 0, 8) == NULL, "ray_return_alloc(ctx = NULL) gives NULL");
    is_err(ray_fail(NULL, "x"), RAY_EINVAL, "ray_fail(ctx = NULL)");
    int ids[2];
    is_err(ray_ctx_gpus(NULL, ids, 2), RAY_EINVAL, "ray_ctx_gpus(ctx = NULL)");
    is_int(ray_ctx_cancelled(NULL), 0, "ray_ctx_cancelled(NULL) is 0");
    ray_ctx_node(NULL);
    ok(1, "ray_ctx_node(NULL) returns");
}

/* ---- options */

/* Submits echo() with o; when accepted, also waits for its outputs (the
 * code is then what ray_get_many gave). */
static int submit_opts(const ray_task_opts *o)
{
    ray_ref r[64];
    ray_buf b[64];
    int rc = ray_submit("echo", NULL, 0, o, r);
    if (rc == RAY_OK) {
        rc = ray_get_many(r, o->num_returns, b, E2E_TIMEOUT);
        for (int i = 0; i < o->num_returns; i++)
            ray_release(r[i]);
    }
    return rc;
}

static void test_bad_opts(void)
{
    ray_task_opts o;
    int bad_returns[] = {-1, 65, 1000000};
    for (int i = 0; i < 3; i++) {
        ray_task_opts_init(&o);
        o.num_returns = bad_returns[i];
        is_err(submit_opts(&o), RAY_EINVAL, "num_returns = %d", bad_returns[i]);
    }
    ray_task_opts_init(&o);
    o.max_retries = -2;
    is_err(submit_opts(&o), RAY_EINVAL, "max_retries = -2");
    ray_task_opts_init(&o);
    o.node = 1;
    is_err(submit_opts(&o), RAY_EINVAL, "node = 1 of a 1-node job");
    o.node = -2;
    is_err(submit_opts(&o), RAY_EINVAL, "node = -2");
    double bad_cpus[] = {-1, NAN, INFINITY};
    const char *names[] = {"-1", "NaN", "inf"};
    for (int i = 0; i < 3; i++) {
        ray_task_opts_init(&o);
        o.num_cpus = bad_cpus[i];
        is_err(submit_opts(&o), RAY_EINVAL, "num_cpus = %s", names[i]);
        ray_task_opts_init(&o);
        o.num_gpus = bad_cpus[i];
        is_err(submit_opts(&o), RAY_EINVAL, "num_gpus = %s", names[i]);
    }
    const char *bad_res[] = {"foo",    ":1",           "foo:",  "foo:abc",
                             "foo:-1", "foo:1,,bar:1", "CPU:1", "GPU:1"};
    for (size_t i = 0; i < sizeof(bad_res) / sizeof(bad_res[0]); i++) {
        ray_task_opts_init(&o);
        o.resources = bad_res[i];
        is_err(submit_opts(&o), RAY_EINVAL, "resources = \"%s\"", bad_res[i]);
    }
    char longres[3000];
    memset(longres, 'r', sizeof(longres) - 3);
    memcpy(longres + sizeof(longres) - 3, ":1", 3);
    ray_task_opts_init(&o);
    o.resources = longres;
    is_err(submit_opts(&o), RAY_EINVAL, "a 3000-byte resources string");

    /* Good but unusual: accepted, and the task runs. */
    static char longname[10000];
    memset(longname, 'n', sizeof(longname) - 1);
    ray_task_opts_init(&o);
    o.name = longname;
    is_rc(submit_opts(&o), RAY_OK, "a 10000-byte task name is accepted (and the task runs)");
    ray_task_opts_init(&o);
    o.name = "";
    is_rc(submit_opts(&o), RAY_OK, "an empty task name is accepted");
    ray_task_opts_init(&o);
    o.resources = "";
    is_rc(submit_opts(&o), RAY_OK, "an empty resources string means none");
    ray_task_opts_init(&o);
    o.num_returns = 64;
    is_rc(submit_opts(&o), RAY_OK, "num_returns = 64 is accepted");
}

static void test_unknown_function(void)
{
    ray_ref r;
    is_err(ray_submit("no_such_function", NULL, 0, NULL, &r), RAY_ENOFUNC,
           "ray_submit of an unregistered function: RAY_ENOFUNC");
    ok(str_has(ray_last_error(), "no_such_function"), "  ... the message names it (%s)",
       ray_last_error());
    ray_actor a;
    is_err(ray_actor_create("NoSuchClass", NULL, 0, NULL, &a), RAY_ENOFUNC,
           "ray_actor_create of an unregistered class: RAY_ENOFUNC");
    is_err(ray_actor_get("no-such-actor", &a), RAY_ENOTFOUND,
           "ray_actor_get of an unknown name: RAY_ENOTFOUND");
}

/* ---- sizes */

static void test_sizes(void)
{
    ray_ref r;
    is_err(ray_put(good_bytes, SIZE_MAX, &r), RAY_EINVAL, "ray_put of SIZE_MAX bytes");
    is_err(ray_put(good_bytes, SIZE_MAX / 2 + 1, &r), RAY_EINVAL, "ray_put of SIZE_MAX/2+1 bytes");
    ok(ray_create(SIZE_MAX, &r) == NULL, "ray_create(SIZE_MAX) gives NULL");
    ok(ray_last_error()[0] != 0, "  ... with a message (%s)", ray_last_error());
    ray_arg a = ray_arg_val(good_bytes, SIZE_MAX);
    is_err(ray_submit("echo", &a, 1, NULL, &r), RAY_EINVAL,
           "ray_submit with a SIZE_MAX value argument");
    ray_arg many[2] = {ray_arg_val(good_bytes, SIZE_MAX / 2 + 1),
                       ray_arg_val(good_bytes, SIZE_MAX / 2 + 1)};
    is_err(ray_submit("echo", many, 2, NULL, &r), RAY_EINVAL,
           "ray_submit with two value arguments whose sizes overflow when added");
}

static void test_task_misuse(void)
{
    ray_ref r;
    ray_buf b;
    int rc = ray_submit("misuse", NULL, 0, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "a task misusing the task-side calls still finishes");
    int64_t c[8];
    for (int i = 0; i < 8; i++)
        c[i] = 12345;
    if (rc == RAY_OK && b.size == sizeof(c))
        memcpy(c, b.data, sizeof(c));
    is_int(c[0], RAY_EINVAL, "in a task: ray_return(NULL data, 5 bytes)");
    is_int(c[1], RAY_EINVAL, "in a task: ray_return_alloc(SIZE_MAX) gives NULL");
    is_int(c[2], RAY_EINVAL, "in a task: ray_return_alloc(index 1 of 1 output) gives NULL");
    is_int(c[3], RAY_EINVAL, "in a task: ray_ctx_gpus(ids = NULL, max 4)");
    is_int(c[4], RAY_EINVAL, "in a task: ray_ctx_gpus(max = -1)");
    is_int(c[5], RAY_ESTATE, "in a task: ray_shutdown is RAY_ESTATE");
    is_int(c[6], RAY_ESTATE, "in a task: ray_init is RAY_ESTATE");
    is_int(c[7], RAY_EINVAL, "in a task: ray_return(ctx = NULL)");
    ray_release(r);

    rc = ray_submit("fail_null", NULL, 0, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_ETASK, "ray_fail(ctx, NULL format) fails the task cleanly");
    ray_release(r);
}

/* ---- garbage refs */

/* Every call taking a ref must answer RAY_EINVAL for r. */
static int all_einval(ray_ref r, const char *what)
{
    ray_buf b;
    int ready[1];
    ray_ref out;
    ray_arg a = ray_arg_ref(r);
    int codes[6] = {
        ray_get(r, &b, 0.05),
        ray_get_many(&r, 1, &b, 0.05),
        ray_wait(&r, 1, 1, 0.05, ready),
        ray_seal(r),
        ray_cancel(r, 1),
        ray_submit("echo", &a, 1, NULL, &out),
    };
    static const char *calls[6] = {"ray_get",  "ray_get_many", "ray_wait",
                                   "ray_seal", "ray_cancel",   "ray_submit(ref arg)"};
    int all = 1;
    for (int i = 0; i < 6; i++)
        if (codes[i] != RAY_EINVAL) {
            if (all)
                diag("%s: %s gave %s", what, calls[i], ray_errname(codes[i]));
            all = 0;
        }
    /* Release last: if it wrongly succeeded, it dropped someone's object. */
    int rc = ray_release(r);
    if (rc != RAY_EINVAL) {
        if (all)
            diag("%s: ray_release gave %s", what, ray_errname(rc));
        all = 0;
    }
    return all;
}

static void test_garbage_refs(void)
{
    ray_ref z;
    memset(&z, 0, sizeof(z));
    ok(all_einval(z, "zeroed ref"), "a zeroed ref: RAY_EINVAL from every call");
    ray_ref ones;
    memset(&ones, 0xff, sizeof(ones));
    ok(all_einval(ones, "all-ones ref"), "an all-ones ref: RAY_EINVAL from every call");

    srand(12345);
    int all = 1;
    for (int i = 0; i < 2000 && all; i++) {
        ray_ref r;
        for (size_t k = 0; k < sizeof(r.id); k++)
            r.id[k] = (uint8_t)rand();
        all = all_einval(r, "random ref");
    }
    ok(all, "2000 random refs: RAY_EINVAL from every call");

    /* Near misses of a live ref: the node/slot/generation words changed
     * (ray_ref_str shows them as obj:node:slot:gen; the test first checks
     * that the 16 bytes still start with those three 32-bit words). */
    char s[64];
    unsigned node, slot, gen;
    uint32_t w[3];
    memcpy(w, good.id, sizeof(w));
    ray_ref_str(good, s, sizeof(s));
    if (sscanf(s, "obj:%u:%u:%u", &node, &slot, &gen) != 3 || w[0] != node || w[1] != slot ||
        w[2] != gen) {
        ok(1, "# SKIP near-miss refs: the ref layout is not node/slot/gen words (%s)", s);
        return;
    }
    all = 1;
    for (int word = 0; word < 3 && all; word++) {
        for (int delta = 1; delta <= 3 && all; delta++) {
            ray_ref r = good;
            uint32_t v = w[word] + (uint32_t)delta * (word == 1 ? 100000u : 1u);
            memcpy(r.id + 4 * word, &v, 4);
            all = all_einval(r, "near-miss ref");
        }
    }
    ok(all, "a live ref with its node, slot or generation changed: RAY_EINVAL from every call");
    /* The two bytes after them tag the job: a ref of another job. */
    ray_ref other = good;
    other.id[12] ^= 0x5a;
    other.id[13] ^= 0xa5;
    ok(all_einval(other, "other job's ref"),
       "a live ref with another job's tag: RAY_EINVAL from every call");
    ray_buf b;
    ok(ray_get(good, &b, E2E_TIMEOUT) == RAY_OK && b.size == sizeof(good_bytes) &&
           !memcmp(b.data, good_bytes, sizeof(good_bytes)),
       "the live object is untouched by all of that");
}

/* ---- infeasible requests fail at once */

static void test_infeasible(void)
{
    ray_task_opts o;
    ray_ref r;
    ray_buf b;
    double t0;

    ray_task_opts_init(&o);
    o.num_cpus = 1000;
    t0 = now_s();
    is_err(ray_submit("echo", NULL, 0, &o, &r), RAY_EINFEASIBLE,
           "num_cpus = 1000 on a 2-CPU node: RAY_EINFEASIBLE");
    ok(now_s() - t0 < 1, "  ... at once (%.3f s)", now_s() - t0);

    ray_task_opts_init(&o);
    o.num_cpus = 3;
    is_err(ray_submit("echo", NULL, 0, &o, &r), RAY_EINFEASIBLE, "num_cpus = 3: RAY_EINFEASIBLE");

    ray_task_opts_init(&o);
    o.num_gpus = 1;
    t0 = now_s();
    is_err(ray_submit("echo", NULL, 0, &o, &r), RAY_EINFEASIBLE,
           "num_gpus = 1 on a node without GPUs: RAY_EINFEASIBLE");
    ok(now_s() - t0 < 1, "  ... at once (%.3f s)", now_s() - t0);

    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    ao.num_cpus = 1000;
    ray_actor act;
    is_err(ray_actor_create("Nope", NULL, 0, &ao, &act), RAY_EINFEASIBLE,
           "an actor asking for 1000 CPUs: RAY_EINFEASIBLE (before looking at its class)");

    /* A custom resource the node does not have: accepted, then failed. */
    ray_task_opts_init(&o);
    o.resources = "foo:1";
    t0 = now_s();
    int rc = ray_submit("echo", NULL, 0, &o, &r);
    is_rc(rc, RAY_OK, "ray_submit with resources \"foo:1\" is accepted");
    if (rc == RAY_OK) {
        is_err(ray_get(r, &b, E2E_TIMEOUT), RAY_EINFEASIBLE,
               "  ... its ray_get: RAY_EINFEASIBLE (no node has foo)");
        ok(now_s() - t0 < 5, "  ... promptly (%.2f s)", now_s() - t0);
        ok(str_has(ray_last_error(), "foo"), "  ... the message names the resource (%s)",
           ray_last_error());
        ray_release(r);
    }
    ray_task_opts_init(&o);
    o.resources = "bar:3";
    t0 = now_s();
    rc = ray_submit("echo", NULL, 0, &o, &r);
    if (rc == RAY_OK) {
        rc = ray_get(r, &b, E2E_TIMEOUT);
        ray_release(r);
    }
    is_rc(rc, RAY_EINFEASIBLE, "resources \"bar:3\" on a node with bar:2: RAY_EINFEASIBLE");
    ok(now_s() - t0 < 5, "  ... promptly (%.2f s)", now_s() - t0);

    int64_t v = 9;
    ray_arg a = i64_arg(&v);
    ray_task_opts_init(&o);
    o.resources = "bar:2";
    rc = ray_submit("echo", &a, 1, &o, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "resources \"bar:2\" on a node with bar:2 runs");
    is_int(rc ? -1 : buf_i64(&b, -1), 9, "  ... and returns its value");
    if (!rc)
        ray_release(r);
}

static void test_still_alive(void)
{
    int64_t v = 1234;
    ray_arg a = i64_arg(&v);
    ray_ref r;
    ray_buf b;
    int rc = ray_submit("echo", &a, 1, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    ok(rc == RAY_OK && buf_i64(&b, -1) == 1234, "after all of it, the node still runs tasks");
    ray_release(r);
}

int main(int argc, char **argv)
{
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    setenv("RAY_MPI_NUM_GPUS", "0", 1);
    setenv("RAY_MPI_RESOURCES", "bar:2", 1);
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init (2 CPUs, 0 GPUs, bar:2)");
    if (rc)
        return 1;
    for (size_t i = 0; i < sizeof(good_bytes); i++)
        good_bytes[i] = (char)i;
    is_rc(ray_put(good_bytes, sizeof(good_bytes), &good), RAY_OK, "put a 100-byte object");
    test_null_objects();
    test_null_tasks();
    test_bad_opts();
    test_unknown_function();
    test_sizes();
    test_task_misuse();
    test_garbage_refs();
    test_infeasible();
    test_still_alive();
    is_rc(ray_release(good), RAY_OK, "release the object");
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    return tap_done();
}
