/*
 * queue.c - FIFO queues of task slots in shared memory (the ready queue,
 * workers' mailboxes, actors' call queues), CPU tokens, and the doorbell
 * of the node service.
 *
 * A queue is a singly linked list through sched_task.qnext under a shared
 * lock.  The lock records its holder, so when a process dies inside a
 * critical section the node service re-links the list from its head
 * (sched_queue_repair).  A consumer records the tasks it takes in its own
 * slot before unlinking them, so tasks taken by a process that then dies
 * are found again.
 */
#include "sched.h"

#include <stdlib.h>
#include <unistd.h>

void sched_queue_init(sched_queue *q) { memset(q, 0, sizeof(*q)); }

static inline uint32_t my_tid(void) { return (uint32_t)ray_gettid(); }

/* Links t at the back; the caller holds the lock. */
static void link_back(sched *s, sched_queue *q, uint32_t t)
{
    s->tasks[t].qnext = 0;
    if (q->tail)
        s->tasks[q->tail].qnext = t;
    else
        q->head = t;
    q->tail = t;
    atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* Links t at the back and, in the same critical section, says the task
 * is no longer being built (*building): a death inside the lock is sorted
 * out by the node service with the lock still held (recovery.c). */
static void link_built(sched *s, sched_queue *q, uint32_t t, _Atomic uint64_t *building)
{
    link_back(s, q, t);
    RAY_FAULT(PUSH_LOCKED);
    if (building)
        atomic_store_explicit(building, 0, memory_order_relaxed);
}

int sched_queue_push(sched *s, sched_queue *q, uint32_t t)
{
    ray_shlock_lock(&q->lock, my_tid());
    int closed = atomic_load_explicit(&q->closed, memory_order_relaxed);
    if (!closed)
        link_back(s, q, t);
    ray_shlock_unlock(&q->lock);
    return closed ? RAY_EACTOR : 0;
}

int sched_actor_push(sched *s, sched_actor *a, uint32_t gen, uint32_t t,
                     _Atomic uint64_t *building)
{
    sched_queue *q = &a->calls;
    ray_shlock_lock(&q->lock, my_tid());
    int ok = a->gen == gen && !atomic_load_explicit(&q->closed, memory_order_relaxed);
    if (ok)
        link_built(s, q, t, building);
    ray_shlock_unlock(&q->lock);
    return ok ? 0 : RAY_EACTOR;
}

void sched_actor_reset(sched *s, sched_actor *a, uint32_t gen)
{
    (void)s;
    sched_queue *q = &a->calls;
    ray_shlock_lock(&q->lock, my_tid());
    a->gen = gen; /* a stale handle's push is refused from here on */
    q->head = q->tail = 0;
    atomic_store(&q->len, 0);
    atomic_store(&q->closed, 0);
    ray_shlock_unlock(&q->lock);
}

void sched_queue_push_front(sched *s, sched_queue *q, sched_out *ts, uint32_t n)
{
    ray_shlock_lock(&q->lock, my_tid());
    sched_queue_push_front_locked(s, q, ts, n);
    ray_shlock_unlock(&q->lock);
}

void sched_queue_push_front_locked(sched *s, sched_queue *q, sched_out *ts, uint32_t n)
{
    uint32_t k = 0, first = 0, last = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = ts[i].slot;
        if (!t || s->tasks[t].gen != ts[i].gen)
            continue;
        if (k)
            s->tasks[last].qnext = t;
        else
            first = t;
        last = t;
        k++;
    }
    if (k) {
        s->tasks[last].qnext = q->head;
        if (!q->head)
            q->tail = last;
        q->head = first;
        atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + k,
                              memory_order_release);
    }
    RAY_FAULT(PUSH_FRONT_LOCKED);
    for (uint32_t i = 0; i < n; i++) /* linked: no longer the consumer's */
        ts[i] = (sched_out){0, 0};
}

uint32_t sched_queue_pop(sched *s, sched_queue *q, sched_out *out, uint32_t *count,
                         uint32_t max)
{
    if (!atomic_load_explicit(&q->len, memory_order_acquire)) {
        *count = 0;
        return 0;
    }
    ray_shlock_lock(&q->lock, my_tid());
    uint32_t n = 0, t = q->head;
    while (t && n < max) {
        out[n++] = (sched_out){t, s->tasks[t].gen};
        t = s->tasks[t].qnext;
    }
    *(volatile uint32_t *)count = n; /* recorded before the tasks leave the queue */
    atomic_signal_fence(memory_order_seq_cst);
    q->head = t;
    if (!t)
        q->tail = 0;
    atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) - n,
                          memory_order_release);
    RAY_FAULT(POP_LOCKED);
    ray_shlock_unlock(&q->lock);
    return n;
}

uint32_t sched_queue_close(sched *s, sched_queue *q, uint32_t **out)
{
    ray_shlock_lock(&q->lock, my_tid());
    atomic_store(&q->closed, 1);
    uint32_t n = atomic_load(&q->len), k = 0;
    uint32_t *v = n ? malloc(n * sizeof(*v)) : NULL;
    for (uint32_t t = q->head; t && v && k < n; t = s->tasks[t].qnext)
        v[k++] = t;
    q->head = q->tail = 0;
    atomic_store(&q->len, 0);
    ray_shlock_unlock(&q->lock);
    ray_evc_signal(&q->evc, 1 << 30);
    *out = v;
    return k;
}

int sched_queue_take_over(sched *s, sched_queue *q)
{
    uint32_t tid = ray_shlock_dead_owner(&q->lock);
    if (!tid)
        return 0;
    /* Walk from the head: every push links the new task before moving the
     * tail, every pop records its tasks before moving the head, so the list
     * from head is what the queue holds. */
    uint32_t n = 0, last = 0;
    for (uint32_t t = q->head; t && n < s->r->max_tasks; t = s->tasks[t].qnext) {
        last = t;
        n++;
    }
    q->tail = last;
    atomic_store(&q->len, n);
    ray_warn("sched", "process %u died holding a queue lock; queue re-linked (%u tasks)",
             tid, n);
    /* Ours now: nobody takes from it until the caller has sorted out what
     * the dead process was putting in or taking out. */
    uint32_t dead = tid;
    atomic_compare_exchange_strong(&q->lock.owner, &dead, my_tid());
    return 1;
}

int sched_queue_links(sched *s, sched_queue *q, uint32_t task)
{
    uint32_t n = 0;
    for (uint32_t t = q->head; t && n < s->r->max_tasks; t = s->tasks[t].qnext, n++)
        if (t == task)
            return 1;
    return 0;
}

int sched_queue_contains(sched *s, sched_queue *q, uint32_t task)
{
    int found = 0;
    ray_shlock_lock(&q->lock, my_tid());
    uint32_t n = 0;
    for (uint32_t t = q->head; t && n < s->r->max_tasks && !found; t = s->tasks[t].qnext, n++)
        found = t == task;
    ray_shlock_unlock(&q->lock);
    return found;
}

int sched_cpu_try(sched *s, int32_t milli)
{
    int32_t v = atomic_load_explicit(&s->r->cpu_avail, memory_order_relaxed);
    while (v >= milli)
        if (atomic_compare_exchange_weak_explicit(&s->r->cpu_avail, &v, v - milli,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
            return 1;
    return 0;
}

void sched_cpu_put(sched *s, int32_t milli)
{
    if (!milli)
        return;
    int32_t total = (int32_t)(s->r->total_cpus * 1000.0 + 0.5);
    int32_t v = atomic_fetch_add_explicit(&s->r->cpu_avail, milli, memory_order_acq_rel) + milli;
    /* More free than the node has: a process died between the two steps of
     * moving a token and it was counted twice.  Never more than all. */
    while (v > total && !atomic_compare_exchange_weak(&s->r->cpu_avail, &v, total))
        ;
    ray_evc_signal(&s->r->cpu_evc, 1);
    if (atomic_load_explicit(&s->r->cpu_wanted, memory_order_relaxed))
        sched_wake_service(s);
}

void sched_wake_service(sched *s)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->r->svc_sleeping, memory_order_relaxed)) {
        if (atomic_exchange(&s->r->svc_sleeping, 0)) {
            uint64_t one = 1;
            ssize_t rc = write(s->svc_efd, &one, sizeof(one));
            (void)rc;
        }
    } else if (!atomic_load_explicit(&s->r->svc_poked, memory_order_relaxed)) {
        atomic_store_explicit(&s->r->svc_poked, 1, memory_order_relaxed);
    }
}

void sched_queue_link_locked(sched *s, sched_queue *q, uint32_t t) { link_back(s, q, t); }

/* After a push to the ready queue: a worker to take it. */
static void ready_wake(sched *s)
{
    sched_region *r = s->r;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->lookers, memory_order_relaxed) > 0)
        return; /* a worker about to look takes it, and wakes another if more wait */
    if (atomic_load_explicit(&r->ready.evc.sleepers, memory_order_relaxed)) {
        ray_evc_signal(&r->ready.evc, 1);
        return;
    }
    /* Nobody idle.  If CPU is free (a worker blocked, died or is starting),
     * the service may have to start one. */
    if (atomic_load_explicit(&r->cpu_avail, memory_order_relaxed) >= 1000 &&
        !atomic_load_explicit(&r->spawn_hint, memory_order_relaxed) &&
        !atomic_exchange(&r->spawn_hint, 1))
        sched_wake_service(s);
}

void sched_ready_push(sched *s, uint32_t t, _Atomic uint64_t *building)
{
    sched_region *r = s->r;
    ray_shlock_lock(&r->ready.lock, my_tid());
    link_built(s, &r->ready, t, building);
    ray_shlock_unlock(&r->ready.lock);
    ready_wake(s);
}

void sched_ready_push_claimed(sched *s, uint32_t t, _Atomic uint64_t *journal)
{
    sched_region *r = s->r;
    sched_task *k = &s->tasks[t];
    ray_shlock_lock(&r->ready.lock, my_tid());
    atomic_store_explicit(&k->state, TASK_TAGGED(TASK_QUEUED, k->gen), memory_order_release);
    link_built(s, &r->ready, t, journal);
    ray_shlock_unlock(&r->ready.lock);
    ready_wake(s);
}
