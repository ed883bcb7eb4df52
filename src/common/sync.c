/*
 * sync.c - futex wrappers and the slow paths of the shared-memory lock and
 * event count declared in common.h.  Futexes are process-shared (no
 * FUTEX_PRIVATE_FLAG): the words live in memfd mappings used by the driver,
 * the node service and the workers at different addresses.
 */
#include "common.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Thread_local pid_t cached_tid;

/* A forked child must not keep its parent's id: locks would carry the
 * parent's tid and look dead when the parent goes. */
static void forget_tid(void) { cached_tid = 0; }

static void register_forget(void) { pthread_atfork(NULL, NULL, forget_tid); }

pid_t ray_gettid(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (RAY_UNLIKELY(!cached_tid)) {
        pthread_once(&once, register_forget);
        cached_tid = (pid_t)syscall(SYS_gettid);
    }
    return cached_tid;
}

int ray_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != UINT64_MAX) {
        uint64_t now = ray_now_ns();
        if (now >= deadline_ns)
            return RAY_ETIMEDOUT;
        uint64_t rel = deadline_ns - now;
        ts.tv_sec = (time_t)(rel / 1000000000ULL);
        ts.tv_nsec = (long)(rel % 1000000000ULL);
        tsp = &ts;
    }
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tsp, NULL, 0);
    if (rc < 0 && errno == ETIMEDOUT)
        return RAY_ETIMEDOUT;
    return 0; /* woken, value changed (EAGAIN) or signal (EINTR): recheck */
}

void ray_futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* The node service's view of dead owners (it reaps the workers, so it also
 * sees a dead process that is not reaped yet), and its repair: set once. */
static int (*owner_dead_hook)(uint32_t tid);
static void (*owner_repair_hook)(ray_shlock *l, uint32_t tid);

void ray_shlock_hooks(int (*dead)(uint32_t tid), void (*repair)(ray_shlock *l, uint32_t tid))
{
    owner_dead_hook = dead;
    owner_repair_hook = repair;
}

static int tid_dead(uint32_t tid)
{
    if (owner_dead_hook)
        return owner_dead_hook(tid);
    /* kill(tid, 0) finds any live thread with that id (it addresses the
     * thread group containing it); ESRCH means it is gone. */
    return kill((pid_t)tid, 0) != 0 && errno == ESRCH;
}

void ray_shlock_lock_slow(ray_shlock *l, uint32_t tid)
{
    for (int spin = 0;; spin++) {
        uint32_t zero = 0;
        if (atomic_load_explicit(&l->owner, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->owner, &zero, tid,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (spin < 200) {
            ray_cpu_relax();
            continue;
        }
        /* Sleep: announce, re-check, wait on the sequence word.  A bounded
         * wait so that a lock broken by the node service (owner died) is
         * noticed even if its wake was lost to a dead process. */
        uint32_t owner = atomic_load(&l->owner);
        if (owner && owner_repair_hook && ray_shlock_dead_owner(l) == owner) {
            /* Only the node service repairs: it must never wait for a lock
             * whose holder died (nobody else would free it). */
            owner_repair_hook(l, owner);
            continue;
        }
        atomic_fetch_add(&l->waiters, 1);
        uint32_t seq = atomic_load(&l->seq);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&l->owner) != 0)
            ray_futex_wait(&l->seq, seq,
                           ray_now_ns() + (owner_repair_hook ? 1000000ULL : 100000000ULL));
        atomic_fetch_sub(&l->waiters, 1);
    }
}

int ray_shlock_break(ray_shlock *l, uint32_t tid)
{
    uint32_t expected = tid;
    if (!tid || !atomic_compare_exchange_strong(&l->owner, &expected, 0))
        return 0;
    atomic_fetch_add(&l->seq, 1);
    ray_futex_wake(&l->seq, 1 << 30);
    return 1;
}

uint32_t ray_shlock_dead_owner(ray_shlock *l)
{
    uint32_t tid = atomic_load(&l->owner);
    if (!tid || !tid_dead(tid))
        return 0;
    return atomic_load(&l->owner) == tid ? tid : 0;
}

int ray_evc_wait(ray_evc *e, uint32_t seq, uint64_t deadline_ns)
{
    int rc = 0;
    if (atomic_load_explicit(&e->seq, memory_order_acquire) == seq)
        rc = ray_futex_wait(&e->seq, seq, deadline_ns);
    atomic_fetch_sub(&e->sleepers, 1);
    return rc;
}

void ray_freelist_init(ray_freelist *f, uint32_t cap)
{
    atomic_store(&f->head, 0);
    atomic_store(&f->bump, 1);
    f->cap = cap;
}

static inline uint32_t *link_at(void *base, size_t stride, size_t next_off, uint32_t slot)
{
    return (uint32_t *)((char *)base + (size_t)slot * stride + next_off);
}

uint32_t ray_freelist_pop(ray_freelist *f, void *base, size_t stride, size_t next_off)
{
    uint64_t h = atomic_load_explicit(&f->head, memory_order_acquire);
    while ((uint32_t)h != 0) {
        uint32_t slot = (uint32_t)h;
        /* May read a link that another popper is changing: the tag makes
         * the exchange fail then. */
        uint32_t next = *(volatile uint32_t *)link_at(base, stride, next_off, slot);
        uint64_t nh = ((h >> 32) + 1) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&f->head, &h, nh, memory_order_acquire,
                                                  memory_order_acquire))
            return slot;
    }
    uint32_t slot = atomic_fetch_add_explicit(&f->bump, 1, memory_order_relaxed);
    if (slot >= f->cap) {
        atomic_fetch_sub_explicit(&f->bump, 1, memory_order_relaxed);
        return 0;
    }
    return slot;
}

void ray_freelist_push(ray_freelist *f, void *base, size_t stride, size_t next_off,
                       uint32_t slot)
{
    uint64_t h = atomic_load_explicit(&f->head, memory_order_relaxed);
    for (;;) {
        *link_at(base, stride, next_off, slot) = (uint32_t)h;
        uint64_t nh = ((h >> 32) + 1) << 32 | slot;
        if (atomic_compare_exchange_weak_explicit(&f->head, &h, nh, memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
}
