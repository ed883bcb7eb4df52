/*
 * wait.c - waiting for objects.  A waiter first spins on the entries'
 * states (a ready object is seen within a cache-line transfer, ~0.3 us),
 * then, after RAY_MPI_SPIN_US, registers with the node service and sleeps
 * on its own doorbell; the service rings it when a watched object becomes
 * ready.  A worker that sleeps lends its CPU first (worker_block_enter) so
 * nested tasks can run; producers it can run in place it runs before, while
 * it still holds its CPU.
 */
#include "client.h"

#include <sched.h>
#include <stdlib.h>

int client_object_error(uint32_t slot)
{
    store_obj *o = store_obj_at(cl_store(), slot);
    const char *msg = store_obj_view(cl_store(), slot);
    int code = o->err ? o->err : RAY_ETASK;
    return ray_err(code, "%.*s", (int)RAY_MIN(o->size, 4096), msg);
}

/* One pass over the objects not yet seen ready. */
static int scan(const uint32_t *slots, int n, uint8_t *seen, int *nready, int *err_at)
{
    store *st = cl_store();
    for (int i = 0; i < n; i++) {
        if (seen[i])
            continue;
        uint32_t s = atomic_load_explicit(&st->objs[slots[i]].state, memory_order_acquire);
        if (STORE_IS_READY(s)) {
            seen[i] = 1;
            (*nready)++;
            if (STORE_STATE(s) == STORE_ERROR && *err_at < 0)
                *err_at = i;
        }
    }
    return *nready;
}

static int done(int nready, int need, int stop_on_error, int err_at)
{
    return nready >= need || (stop_on_error && err_at >= 0);
}

static int register_wait(const uint32_t *slots, const uint32_t *gens, int n,
                         const uint8_t *seen)
{
    const int chunk = 4096;
    int i = 0;
    while (i < n) {
        sched_out buf[4096];
        int k = 0;
        for (; i < n && k < chunk; i++)
            if (!seen[i])
                buf[k++] = (sched_out){slots[i], gens[i]};
        if (!k)
            break;
        pthread_mutex_lock(&ray_cl.lock);
        msg_wait *m = client_msg_begin(MSG_WAIT, (uint32_t)(sizeof(*m) + k * sizeof(sched_out)));
        if (m) {
            m->flags = 0;
            m->n = (uint32_t)k;
            memcpy(m->objs, buf, k * sizeof(sched_out));
            client_msg_end();
        }
        pthread_mutex_unlock(&ray_cl.lock);
        if (!m)
            return RAY_ESYS;
    }
    return 0;
}

/* A worker in a task runs the queued producers of what it waits for, in
 * place, before it spins or sleeps: nested task graphs run depth first and
 * need no more workers than CPUs. */
static int run_producers(const uint32_t *slots, const uint32_t *gens, int n, const uint8_t *seen)
{
    if (ray_cl.role != ROLE_WORKER || !ray_cl.task)
        return 0;
    int ran = 0;
    for (int i = 0; i < n; i++)
        if (!seen[i])
            ran += worker_run_inline(slots[i], gens[i]);
    return ran;
}

int client_wait(const uint32_t *slots, const uint32_t *gens, int n, int need,
                int stop_on_error, uint64_t deadline_ns)
{
    uint8_t small[64] = {0}, *seen = n <= 64 ? small : calloc((size_t)n, 1);
    if (!seen)
        return ray_err(RAY_ENOMEM, "out of memory waiting for %d objects", n);
    int nready = 0, err_at = -1, rc = 0;
    while (!done(scan(slots, n, seen, &nready, &err_at), need, stop_on_error, err_at) &&
           run_producers(slots, gens, n, seen))
        ;
    uint64_t spin_end = ray_now_ns() + ray_cl.spin_ns;
    for (unsigned i = 0;; i++) {
        if (done(scan(slots, n, seen, &nready, &err_at), need, stop_on_error, err_at))
            goto out;
        if ((i & 63) == 63) {
            uint64_t now = ray_now_ns();
            if (now >= spin_end || now >= deadline_ns)
                break;
            sched_yield(); /* let a worker on this core run */
        }
        ray_cpu_relax();
    }
    /* Slow path: sleep until the service rings -- unless the caller only
     * polls (a deadline already passed registers nothing). */
    if (ray_now_ns() >= deadline_ns) {
        rc = RAY_ETIMEDOUT;
        goto out;
    }
    int blocked = ray_cl.role == ROLE_WORKER && ray_cl.task;
    int32_t lent = blocked ? worker_block_enter() : 0;
    int registered = 0;
    for (;;) {
        uint32_t seq = atomic_load(&ray_cl.me->doorbell);
        if (done(scan(slots, n, seen, &nready, &err_at), need, stop_on_error, err_at))
            break;
        if (!registered) {
            if ((rc = register_wait(slots, gens, n, seen)))
                break;
            registered = 1;
            if (blocked)
                RAY_FAULT(BLOCKED);
            continue;
        }
        uint64_t now = ray_now_ns();
        if (now >= deadline_ns) {
            rc = RAY_ETIMEDOUT;
            break;
        }
        /* Bounded sleeps: a dead service is noticed within 200 ms. */
        ray_futex_wait(&ray_cl.me->doorbell, seq, RAY_MIN(deadline_ns, now + 200000000ULL));
        if ((rc = client_service_alive()))
            break;
    }
    if (blocked)
        worker_block_exit(lent);
out:
    if (seen != small)
        free(seen);
    return rc ? rc : nready;
}
