/*
 * test_header_cxx.cc - <ray_mpi.h> compiles as C++11 (extern "C", no C-only
 * constructs), built with -std=c++11 -pedantic -Wall -Wextra -Werror
 * (tests/e2e/Makefile.inc): building it is the test.  The file-scope macros
 * are expanded too, and the C functions are callable from C++.
 */
#include <ray_mpi.h>

#include <cstdio>
#include <cstring>

static int header_task(ray_ctx *ctx, const ray_buf *, int)
{
    return ray_return(ctx, 0, nullptr, 0);
}
RAY_REMOTE(header_task)

static void *header_init(ray_ctx *, const ray_buf *, int)
{
    static int state;
    return &state;
}
static void header_fini(void *) {}
static int header_method(ray_ctx *, void *, const ray_buf *, int)
{
    return 0;
}
RAY_ACTOR(HeaderActor, header_init, header_fini)
RAY_METHOD(HeaderActor, header_method)

static_assert(sizeof(ray_ref) == RAY_ID_SIZE, "a ref is RAY_ID_SIZE bytes");

int main()
{
    std::printf("ok 1 - ray_mpi.h compiles as C++11 with -pedantic -Wall -Wextra -Werror\n");
    ray_task_opts o;
    ray_task_opts_init(&o);
    bool defaults = o.num_cpus == 1 && o.num_returns == 1 && o.node == -1;
    std::printf("%sok 2 - ray_task_opts_init is callable from C++\n", defaults ? "" : "not ");
    bool named = std::strcmp(ray_errname(RAY_ETASK), "RAY_ETASK") == 0;
    std::printf("%sok 3 - ray_errname links from C++\n", named ? "" : "not ");
    return defaults && named ? 0 : 1;
}
