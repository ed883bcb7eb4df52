/*
 * test_header_c.c - <ray_mpi.h> is self-contained ISO C11: this file
 * includes it first and alone, and is built with -std=c11 -pedantic -Wall
 * -Wextra -Werror (tests/e2e/Makefile.inc), so building it is the test.
 * The macros users write at file scope (RAY_REMOTE, RAY_ACTOR, RAY_METHOD)
 * are expanded here too.  Running it checks a few things the header
 * promises without starting a runtime.
 */
#include <ray_mpi.h>

#include "lib/tap.h"

static int header_task(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    (void)args;
    (void)nargs;
    return ray_return(ctx, 0, NULL, 0);
}
RAY_REMOTE(header_task)

static void *header_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    static int state;
    (void)ctx;
    (void)args;
    (void)nargs;
    return &state;
}
static void header_fini(void *state)
{
    (void)state;
}
static int header_method(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    (void)ctx;
    (void)state;
    (void)args;
    (void)nargs;
    return 0;
}
RAY_ACTOR(HeaderActor, header_init, header_fini)
RAY_METHOD(HeaderActor, header_method)

_Static_assert(sizeof(ray_ref) == RAY_ID_SIZE, "a ref is RAY_ID_SIZE bytes");
_Static_assert(sizeof(ray_actor) == RAY_ID_SIZE, "an actor handle is RAY_ID_SIZE bytes");
_Static_assert(RAY_OK == 0, "RAY_OK is 0");

int main(void)
{
    ok(1, "ray_mpi.h compiles alone as C11 with -pedantic -Wall -Wextra -Werror");
    ray_task_opts o;
    ray_task_opts_init(&o);
    ok(o.num_cpus == 1 && o.num_gpus == 0 && o.num_returns == 1 && o.max_retries == 3 &&
           o.node == -1 && o.resources == NULL && o.name == NULL,
       "ray_task_opts_init sets the documented defaults");
    ray_actor_opts a;
    ray_actor_opts_init(&a);
    ok(a.num_cpus == RAY_ACTOR_CPUS_DEFAULT && a.num_gpus == 0 && a.max_restarts == 0 && a.node == -1 &&
           a.name == NULL && a.resources == NULL,
       "ray_actor_opts_init sets the documented defaults");
    int neg = 1;
#define NEGATIVE(name, value, desc) neg &= (value) <= 0;
    RAY_ERRNO_MAP(NEGATIVE)
#undef NEGATIVE
    ok(neg, "every RAY_E* code is negative");
    ok(!strcmp(ray_errname(RAY_EINVAL), "RAY_EINVAL"), "ray_errname works without ray_init");
    return tap_done();
}
