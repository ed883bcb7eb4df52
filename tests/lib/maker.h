/*
 * maker.h - an actor that makes large objects on its node and owns the
 * one it made last (test code, included by one file of each program).
 * make_words(size as uint64) lets the last one go, makes a new object of
 * size bytes, word i = i x 0x9E3779B97F4A7C15, and returns its ref as
 * bytes: the caller gets it by that ref, so the object is freed on the
 * maker's node only when the caller's node has let go of its copy.
 */
#ifndef RAY_TESTS_MAKER_H
#define RAY_TESTS_MAKER_H

#include <ray_mpi.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t maker_word(uint64_t i) { return i * 0x9E3779B97F4A7C15ull; }

typedef struct maker {
    ray_ref last;
    int have;
} maker;

static void *maker_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    (void)ctx, (void)args, (void)nargs;
    return calloc(1, sizeof(maker));
}

static void maker_fini(void *state)
{
    maker *m = state;
    if (m->have)
        ray_release(m->last);
    free(m);
}
RAY_ACTOR(Maker, maker_init, maker_fini)

static int make_words(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    maker *m = state;
    uint64_t size;
    if (nargs != 1 || args[0].size != sizeof(size))
        return ray_fail(ctx, "make_words: one argument, the size as a uint64_t");
    memcpy(&size, args[0].data, sizeof(size));
    if (m->have)
        ray_release(m->last);
    m->have = 0;
    uint64_t *p = ray_create(size, &m->last);
    if (!p)
        return ray_fail(ctx, "make_words: %s", ray_last_error());
    for (uint64_t i = 0; i < size / 8; i++)
        p[i] = maker_word(i);
    if (ray_seal(m->last))
        return ray_fail(ctx, "make_words: seal: %s", ray_last_error());
    m->have = 1;
    return ray_return(ctx, 0, &m->last, sizeof(m->last));
}
RAY_METHOD(Maker, make_words)

/* Calls make_words(size) on actor a; the ref of the object it made. */
static inline int maker_make(ray_actor a, uint64_t size, double timeout_s, ray_ref *out)
{
    ray_ref made;
    ray_buf b;
    ray_arg arg = ray_arg_val(&size, sizeof(size));
    int rc = ray_actor_call(a, "make_words", &arg, 1, NULL, &made);
    if (rc)
        return rc;
    if (!(rc = ray_get(made, &b, timeout_s)) && b.size != sizeof(*out))
        rc = RAY_EPROTO;
    if (!rc)
        memcpy(out, b.data, sizeof(*out));
    ray_release(made);
    return rc;
}

#endif
