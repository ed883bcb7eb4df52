/* tree_sum.c - binary-tree sum of 0..65535 through futures: 65,536 leaf
 * tasks and 65,535 add tasks, each taking its children as refs; the driver
 * gets only the root. */
#include <ray_mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, sizeof(int64_t));
}
RAY_REMOTE(leaf)

static int add(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t a, b;
    if (nargs != 2 || args[0].size != 8 || args[1].size != 8)
        return ray_fail(ctx, "add needs two 8-byte integers");
    memcpy(&a, args[0].data, 8);
    memcpy(&b, args[1].data, 8);
    int64_t s = a + b;
    return ray_return(ctx, 0, &s, sizeof(s));
}
RAY_REMOTE(add)

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 65536;
    if (n < 1 || (n & (n - 1))) {
        fprintf(stderr, "usage: tree_sum [leaves, a power of two]\n");
        return 2;
    }
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error());
        return 1;
    }
    ray_ref *level = malloc(sizeof(ray_ref) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        ray_arg a = ray_arg_val(&i, sizeof(i));
        if (ray_submit("leaf", &a, 1, NULL, &level[i]))
            goto fail;
    }
    for (int width = n; width > 1; width /= 2)
        for (int i = 0; i < width / 2; i++) {
            ray_arg a[2] = {ray_arg_ref(level[2 * i]), ray_arg_ref(level[2 * i + 1])};
            ray_ref r;
            if (ray_submit("add", a, 2, NULL, &r))
                goto fail;
            ray_release(level[2 * i]);
            ray_release(level[2 * i + 1]);
            level[i] = r;
        }
    ray_buf out;
    if (ray_get(level[0], &out, 300))
        goto fail;
    int64_t sum;
    memcpy(&sum, out.data, sizeof(sum));
    int64_t want = (int64_t)n * (n - 1) / 2;
    printf("sum of 0..%d = %lld (%s)\n", n - 1, (long long)sum, sum == want ? "ok" : "WRONG");
    ray_release(level[0]);
    free(level);
    ray_shutdown();
    return sum == want ? 0 : 1;
fail:
    fprintf(stderr, "tree_sum: %s\n", ray_last_error());
    return 1;
}
