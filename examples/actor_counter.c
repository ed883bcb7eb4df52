/* actor_counter.c - a stateful counter actor: calls from one caller run in
 * order on the actor's own process; its handle is a plain value that a task
 * can use too. */
#include <ray_mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counter {
    int64_t value;
} counter;

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    counter *c = calloc(1, sizeof(*c));
    if (c && nargs == 1 && args[0].size == sizeof(int64_t))
        memcpy(&c->value, args[0].data, sizeof(int64_t));
    return c;
}

static void counter_fini(void *state) { free(state); }
RAY_ACTOR(Counter, counter_init, counter_fini)

/* add(n): adds n, returns the new value */
static int add(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    counter *c = state;
    int64_t n;
    if (nargs != 1 || args[0].size != sizeof(n))
        return ray_fail(ctx, "add takes one int64");
    memcpy(&n, args[0].data, sizeof(n));
    c->value += n;
    return ray_return(ctx, 0, &c->value, sizeof(c->value));
}
RAY_METHOD(Counter, add)

/* A task that receives the actor's handle as bytes and calls it. */
static int bump_from_task(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_actor a;
    memcpy(&a, args[0].data, sizeof(a));
    int64_t one = 1;
    ray_arg arg = ray_arg_val(&one, sizeof(one));
    ray_ref r;
    ray_buf out;
    if (ray_actor_call(a, "add", &arg, 1, NULL, &r) || ray_get(r, &out, 60))
        return ray_fail(ctx, "calling the counter from a task: %s", ray_last_error());
    return ray_return(ctx, 0, out.data, out.size);
}
RAY_REMOTE(bump_from_task)

int main(int argc, char **argv)
{
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error());
        return 1;
    }
    int64_t start = 100;
    ray_arg init = ray_arg_val(&start, sizeof(start));
    ray_actor_opts opts;
    ray_actor_opts_init(&opts);
    opts.name = "counter";
    /* An actor holds its num_cpus (default 1) for its whole life.  A counter
     * mostly waits, and the task below needs a CPU of its own while it calls
     * it: with 0 the example runs on a 1-CPU allocation too. */
    opts.num_cpus = 0;
    ray_actor c;
    if (ray_actor_create("Counter", &init, 1, &opts, &c))
        goto fail;
    enum { N = 1000 };
    static ray_ref refs[N];
    for (int64_t i = 1; i <= N; i++) {
        ray_arg a = ray_arg_val(&i, sizeof(i));
        if (ray_actor_call(c, "add", &a, 1, NULL, &refs[i - 1]))
            goto fail;
    }
    /* In order: after call i the value is start + 1 + 2 + ... + i. */
    int in_order = 1;
    for (int64_t i = 1; i <= N; i++) {
        ray_buf out;
        if (ray_get(refs[i - 1], &out, 60))
            goto fail;
        int64_t v;
        memcpy(&v, out.data, sizeof(v));
        in_order &= v == start + i * (i + 1) / 2;
        ray_release(refs[i - 1]);
    }
    ray_actor byname;
    ray_ref r;
    ray_buf out;
    ray_arg h = ray_arg_val(&byname, sizeof(byname));
    if (ray_actor_get("counter", &byname) || ray_submit("bump_from_task", &h, 1, NULL, &r) ||
        ray_get(r, &out, 60))
        goto fail;
    int64_t last;
    memcpy(&last, out.data, sizeof(last));
    int64_t want = start + (int64_t)N * (N + 1) / 2 + 1;
    printf("1000 ordered calls: %s; value after a call from a task: %lld (want %lld)\n",
           in_order ? "in order" : "OUT OF ORDER", (long long)last, (long long)want);
    ray_release(r);
    ray_actor_kill(c);
    ray_shutdown();
    return in_order && last == want ? 0 : 1;
fail:
    fprintf(stderr, "actor_counter: %s\n", ray_last_error());
    return 1;
}
