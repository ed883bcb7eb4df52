/* param_server.c - a parameter server: one actor holds a parameter vector
 * in the object store; tasks compute gradients against the current
 * parameters (passed by ref, read zero-copy in the workers); the actor
 * applies them.  Minimises f(w) = |w - target|^2 by gradient descent. */
#include <math.h>
#include <ray_mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 4096

typedef struct server {
    ray_ref params;  /* the current parameters, an object in the store */
    double lr;
} server;

static void *server_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    server *s = calloc(1, sizeof(*s));
    double *w = s ? ray_create(DIM * sizeof(double), &s->params) : NULL;
    if (!w) {
        ray_fail(ctx, "cannot make the parameters: %s", ray_last_error());
        free(s);
        return NULL;
    }
    memset(w, 0, DIM * sizeof(double));
    ray_seal(s->params);
    s->lr = 0.1;
    return s;
}

static void server_fini(void *state)
{
    server *s = state;
    ray_release(s->params);
    free(s);
}
RAY_ACTOR(ParamServer, server_init, server_fini)

/* get(): the ref of the current parameters, as bytes */
static int get_params(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    server *s = state;
    return ray_return(ctx, 0, &s->params, sizeof(s->params));
}
RAY_METHOD(ParamServer, get_params)

/* apply(grad): w -= lr * grad, as a new object (objects are immutable) */
static int apply(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    server *s = state;
    const double *g = args[0].data;
    ray_buf cur;
    if (args[0].size != DIM * sizeof(double) || ray_get(s->params, &cur, -1))
        return ray_fail(ctx, "apply: bad gradient or parameters");
    ray_ref next;
    double *w = ray_create(DIM * sizeof(double), &next);
    if (!w)
        return ray_fail(ctx, "apply: %s", ray_last_error());
    const double *old = cur.data;
    for (int i = 0; i < DIM; i++)
        w[i] = old[i] - s->lr * g[i];
    ray_seal(next);
    ray_release(s->params);
    s->params = next;
    return ray_return(ctx, 0, NULL, 0);
}
RAY_METHOD(ParamServer, apply)

/* gradient(params, shard): d/dw |w - target|^2 over one shard of the
 * dimensions (the others are 0), target[i] = sin(i). */
static int gradient(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    const double *w = args[0].data;
    int shard, nshards;
    memcpy(&shard, args[1].data, sizeof(int));
    memcpy(&nshards, args[2].data, sizeof(int));
    double *g = ray_return_alloc(ctx, 0, DIM * sizeof(double));
    if (!g || args[0].size != DIM * sizeof(double))
        return ray_fail(ctx, "gradient: %s", ray_last_error());
    for (int i = 0; i < DIM; i++)
        g[i] = i % nshards == shard ? 2.0 * (w[i] - sin(i)) : 0.0;
    return RAY_OK;
}
RAY_REMOTE(gradient)

static double loss(const double *w)
{
    double l = 0;
    for (int i = 0; i < DIM; i++)
        l += (w[i] - sin(i)) * (w[i] - sin(i));
    return l;
}

int main(int argc, char **argv)
{
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "ray_init: %s\n", ray_last_error());
        return 1;
    }
    ray_actor ps;
    ray_ref r, params;
    ray_buf out;
    double first = -1, last = -1;
    enum { STEPS = 40, SHARDS = 4 };
    if (ray_actor_create("ParamServer", NULL, 0, NULL, &ps))
        goto fail;
    for (int step = 0; step <= STEPS; step++) {
        /* The parameters' ref, read from the actor.  ray_get takes our own
         * reference on it, so it stays alive after the actor moves on. */
        if (ray_actor_call(ps, "get_params", NULL, 0, NULL, &r) || ray_get(r, &out, 60))
            goto fail;
        memcpy(&params, out.data, sizeof(params));
        ray_buf w;
        if (ray_get(params, &w, 60))
            goto fail;
        last = loss(w.data);
        if (step == 0)
            first = last;
        if (step == STEPS) {
            ray_release(params);
            ray_release(r);
            break;
        }
        ray_ref grads[SHARDS], done[SHARDS];
        for (int s = 0; s < SHARDS; s++) {
            int nshards = SHARDS;
            ray_arg a[3] = {ray_arg_ref(params), ray_arg_val(&s, sizeof(s)),
                            ray_arg_val(&nshards, sizeof(nshards))};
            ray_arg g;
            if (ray_submit("gradient", a, 3, NULL, &grads[s]))
                goto fail;
            g = ray_arg_ref(grads[s]);
            if (ray_actor_call(ps, "apply", &g, 1, NULL, &done[s]))
                goto fail;
            ray_release(grads[s]);
        }
        ray_release(params); /* the gradient tasks hold it while they need it */
        ray_release(r);
        if (ray_get_many(done, SHARDS, (ray_buf[SHARDS]){0}, 60))
            goto fail;
        for (int s = 0; s < SHARDS; s++)
            ray_release(done[s]);
    }
    printf("loss %.3f -> %.6f after %d steps of %d gradient tasks\n", first, last, STEPS,
           SHARDS);
    ray_actor_kill(ps);
    ray_shutdown();
    return last < first * 1e-3 ? 0 : 1;
fail:
    fprintf(stderr, "param_server: %s\n", ray_last_error());
    return 1;
}
