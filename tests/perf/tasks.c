/*
 * tasks.c - the remote functions and the task tree the benchmark drivers
 * share (report.h).
 */
#include "report.h"

#include <string.h>

static int noop(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    (void)args;
    (void)nargs;
    int64_t one = 1;
    return ray_return(ctx, 0, &one, sizeof(one));
}
RAY_REMOTE(noop)

int leaf(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    if (nargs != 1 || args[0].size != sizeof(int64_t))
        return ray_fail(ctx, "leaf needs one 8-byte integer");
    return ray_return(ctx, 0, args[0].data, sizeof(int64_t));
}
RAY_REMOTE(leaf)

int add(ray_ctx *ctx, const ray_buf *args, int nargs)
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

int tree_submit(ray_ref *level, int leaves, const char *leaf_fn, const char *add_fn,
                const ray_task_opts *o, int nodes)
{
    ray_task_opts mine;
    if (o)
        mine = *o;
    else
        ray_task_opts_init(&mine);
    for (int64_t i = 0; i < leaves; i++) {
        ray_arg a = ray_arg_val(&i, sizeof(i));
        if (nodes > 1)
            mine.node = (int)(i % nodes);
        int rc = ray_submit(leaf_fn, &a, 1, &mine, &level[i]);
        if (rc) {
            release_all(level, (int)i);
            return fail_ray("ray_submit leaf", rc);
        }
    }
    for (int width = leaves; width > 1; width /= 2)
        for (int i = 0; i < width / 2; i++) {
            ray_arg a[2] = {ray_arg_ref(level[2 * i]), ray_arg_ref(level[2 * i + 1])};
            ray_ref r;
            if (nodes > 1)
                mine.node = i % nodes;
            int rc = ray_submit(add_fn, a, 2, &mine, &r);
            if (rc) {
                release_all(level, i); /* the folded ones */
                release_all(level + 2 * i, width - 2 * i);
                return fail_ray("ray_submit add", rc);
            }
            ray_release(level[2 * i]);
            ray_release(level[2 * i + 1]);
            level[i] = r;
        }
    return 0;
}
