/* hello.c - a task returning "Hello world !" */
#include <ray_mpi.h>
#include <stdio.h>
#include <string.h>

static int hello(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    const char *msg = "Hello world !";
    return ray_return(ctx, 0, msg, strlen(msg) + 1);
}
RAY_REMOTE(hello)

int main(int argc, char **argv)
{
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error());
        return 1;
    }
    ray_ref r;
    ray_buf out;
    if (ray_submit("hello", NULL, 0, NULL, &r) || ray_get(r, &out, -1)) {
        fprintf(stderr, "hello: %s\n", ray_last_error());
        return 1;
    }
    printf("%s\n", (const char *)out.data);
    int ok = !strcmp(out.data, "Hello world !");
    ray_release(r);
    ray_shutdown();
    return ok ? 0 : 1;
}
