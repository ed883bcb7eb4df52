/* squares.c - the driver of the README, built and run by make check. */
#include <ray_mpi.h>
#include <stdio.h>

static int square(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    long x = *(const long *)args[0].data, y = x * x;
    return ray_return(ctx, 0, &y, sizeof(y));
}
RAY_REMOTE(square)                     /* registered in every process */

int main(int argc, char **argv)
{
    ray_init(&argc, &argv);            /* first thing: workers re-run this program */
    ray_ref r[100];
    for (long i = 0; i < 100; i++) {
        ray_arg a = ray_arg_val(&i, sizeof(i));
        ray_submit("square", &a, 1, NULL, &r[i]);   /* returns a future at once */
    }
    long sum = 0;
    for (int i = 0; i < 100; i++) {
        ray_buf b;
        ray_get(r[i], &b, -1);         /* zero-copy view into the store */
        sum += *(const long *)b.data;
        ray_release(r[i]);
    }
    printf("%ld\n", sum);              /* 328350 */
    return ray_shutdown();
}
