/*
 * test_big_object.c - a 1 GiB object end to end, in a 3 GiB store: the
 * driver puts it and a task reads and checks every byte; a task writes one
 * in place (ray_return_alloc) and the driver checks it; a third task takes
 * the task-made object as its argument.  Objects this size are the point of
 * a shared-memory store: nothing is copied on the way to a task.
 *
 * The store size is set with setenv before ray_init: that runs in every
 * worker too (they re-run main), which is harmless.
 */
#include "e2e.h"
#include "lib/tap.h"

#define GIB (1ull << 30)

/* Word i of the pattern; 8-byte words keep the checks at memory speed. */
static inline uint64_t word_at(uint64_t i, uint64_t seed)
{
    return (i * 0x9E3779B97F4A7C15ull) ^ seed;
}

static void fill(uint64_t *w, size_t bytes, uint64_t seed)
{
    for (size_t i = 0; i < bytes / 8; i++)
        w[i] = word_at(i, seed);
}

/* Index of the first wrong word, or -1. */
static int64_t first_bad(const uint64_t *w, size_t bytes, uint64_t seed)
{
    for (size_t i = 0; i < bytes / 8; i++)
        if (w[i] != word_at(i, seed))
            return (int64_t)i;
    return -1;
}

/* args: the object, its seed.  Returns -1 if every word is right, the
 * first bad word's index otherwise, -2 for a wrong size. */
static int verify_big(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t r =
        args[0].size == GIB ? first_bad(args[0].data, GIB, (uint64_t)buf_i64(&args[1], 0)) : -2;
    return ray_return(ctx, 0, &r, sizeof(r));
}
RAY_REMOTE(verify_big)

/* Writes a 1 GiB output in place with the given seed. */
static int make_big(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    uint64_t *p = ray_return_alloc(ctx, 0, GIB);
    if (!p)
        return ray_fail(ctx, "ray_return_alloc(1 GiB): %s", ray_last_error());
    fill(p, GIB, (uint64_t)buf_i64(&args[0], 0));
    return 0;
}
RAY_REMOTE(make_big)

static int64_t run_verify(ray_ref obj, int64_t seed)
{
    ray_arg a[2] = {ray_arg_ref(obj), ray_arg_val(&seed, sizeof(seed))};
    ray_ref r;
    if (ray_submit("verify_big", a, 2, NULL, &r))
        return -3;
    int64_t v = ref_i64(r, -4);
    ray_release(r);
    return v;
}

static void test_driver_put(void)
{
    uint64_t *src = malloc(GIB);
    if (!src) {
        ok(0, "malloc(1 GiB) for the put");
        return;
    }
    fill(src, GIB, 11);
    ray_ref r;
    double t0 = now_s();
    int rc = ray_put(src, GIB, &r);
    is_rc(rc, RAY_OK, "ray_put of 1 GiB");
    free(src);
    if (rc)
        return;
    diag("put 1 GiB in %.2f s", now_s() - t0);
    ray_buf b;
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "ray_get of it in the driver");
    ok(b.size == GIB && first_bad(b.data, GIB, 11) < 0, "the driver's view has every byte");
    is_int(run_verify(r, 11), -1, "a task given the ref sees every byte");
    is_rc(ray_release(r), RAY_OK, "release it");
}

static void test_task_made(void)
{
    int64_t seed = 22;
    ray_arg a = ray_arg_val(&seed, sizeof(seed));
    ray_ref r;
    is_rc(ray_submit("make_big", &a, 1, NULL, &r), RAY_OK, "submit make_big (1 GiB output)");
    ray_buf b;
    int rc = ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "ray_get of a task's 1 GiB output");
    ok(rc == RAY_OK && b.size == GIB && first_bad(b.data, GIB, 22) < 0,
       "the output has every byte the task wrote");
    is_int(run_verify(r, 22), -1, "another task given the output sees every byte");
    is_rc(ray_release(r), RAY_OK, "release it");
}

/* Two 1 GiB objects one after the other: the first one's space is reused. */
static void test_space_reused(void)
{
    /* A task lets go of its arguments just after its output is ready:
     * allow the last one a moment. */
    ray_stats s;
    double end = now_s() + 5;
    while (ray_get_stats(&s) == RAY_OK && s.store_used_bytes >= GIB / 2 && now_s() < end)
        sleep_s(0.01);
    ok(s.store_used_bytes < GIB / 2, "after the releases the store is nearly empty (%llu B)",
       (unsigned long long)s.store_used_bytes);
    ray_ref r[2];
    int64_t seed = 33;
    ray_arg a = ray_arg_val(&seed, sizeof(seed));
    int rc = ray_submit("make_big", &a, 1, NULL, &r[0]);
    rc = rc ? rc : ray_submit("make_big", &a, 1, NULL, &r[1]);
    is_rc(rc, RAY_OK, "two more 1 GiB outputs");
    ray_buf b[2];
    is_rc(ray_get_many(r, 2, b, E2E_TIMEOUT), RAY_OK, "both fit in the 3 GiB store at once");
    ray_release(r[0]);
    ray_release(r[1]);
}

int main(int argc, char **argv)
{
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "3G", 1);
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init with a 3 GiB store");
    if (rc)
        return 1;
    ray_stats s;
    ray_get_stats(&s);
    ok(s.store_capacity_bytes >= 3 * GIB - (64u << 20), "the store holds 3 GiB (%llu B)",
       (unsigned long long)s.store_capacity_bytes);
    test_driver_put();
    test_task_made();
    test_space_reused();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    return tap_done();
}
