/* dag.c - A and B run in parallel, C(A, B) runs after both, through
 * futures: the driver never waits in between. */
#include <ray_mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int64_t as_i64(const ray_buf *b)
{
    int64_t v = 0;
    if (b->size == sizeof(v))
        memcpy(&v, b->data, sizeof(v));
    return v;
}

/* A and B: a value and a pid, so the output shows where they ran. */
static int make_value(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = as_i64(&args[0]);
    usleep(100000); /* 0.1 s: A and B overlap on two workers */
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(make_value)

static int combine(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = as_i64(&args[0]) * 100 + as_i64(&args[1]);
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(combine)

int main(int argc, char **argv)
{
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error());
        return 1;
    }
    int64_t a = 6, b = 7;
    ray_arg aa = ray_arg_val(&a, sizeof(a)), ab = ray_arg_val(&b, sizeof(b));
    ray_ref ra, rb, rc;
    if (ray_submit("make_value", &aa, 1, NULL, &ra) || ray_submit("make_value", &ab, 1, NULL, &rb))
        goto fail;
    ray_arg ac[2] = {ray_arg_ref(ra), ray_arg_ref(rb)};
    if (ray_submit("combine", ac, 2, NULL, &rc))
        goto fail;
    ray_release(ra); /* C holds its arguments until it ran */
    ray_release(rb);
    ray_buf out;
    if (ray_get(rc, &out, 60))
        goto fail;
    int64_t v = as_i64(&out);
    printf("C(A=%lld, B=%lld) = %lld\n", (long long)a, (long long)b, (long long)v);
    ray_release(rc);
    ray_shutdown();
    return v == 607 ? 0 : 1;
fail:
    fprintf(stderr, "dag: %s\n", ray_last_error());
    return 1;
}
