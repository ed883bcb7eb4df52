/*
 * hints.c - the sealer of a task's last missing argument takes the task to
 * the ready queue itself, with no node service on the way.
 *
 * The node service still holds every task whose arguments are not ready
 * (pending.c: it watches them and counts what is missing), and it stays
 * right on its own: every seal of a watched object still reaches it as a
 * notice.  Hints only let the sealer be first.  For a task of the default
 * class the service names the task under each object it waits for (struct
 * sched_hint, one per object slot) before it watches that object; the
 * sealer, once the object is sealed, looks at each task named there and,
 * if all of its arguments are ready now, takes it WAITING -> CLAIMING (by
 * its slot) -> QUEUED into the ready queue.  Whoever is first (the sealer,
 * another sealer, the service itself) wins the compare-and-swap from
 * WAITING; the others see the task gone.
 *
 * Ordering: the service writes a hint before its watch (an atomic
 * read-modify-write of the object's state), and the sealer reads the hints
 * after its seal (another on the same word): a seal that sees the watch
 * sees the hint.  Two sealers of a task's last two arguments each seal,
 * then look at the other argument: one of them sees both sealed.
 *
 * When every waiter of the object is a task named there (SCHED_HINT_ONLY)
 * and each was taken or still waits for another argument, the sealer does
 * not wake the service: its notice waits in the ring until the service
 * next runs, only to keep the service's counts.  A task whose argument is
 * an error, or a waiter that is not a named task (a ray_get, another node,
 * a full hint), and the service is woken as before.
 *
 * A death: the sealer records the task in its slot (readying) before it
 * takes it; CLAIMING carries its slot; the push clears the record in the
 * ready queue's critical section.  The service pushes a task its dead
 * claimer left CLAIMING (recovery.c).
 */
#include "sched.h"

int sched_hint_eligible(const sched *s, const sched_task *k)
{
    return k->kind == TASK_NORMAL && k->cpu_milli == 1000 && k->gpu_milli == 0 &&
           k->res_len == 0 && k->nargs <= SCHED_HINT_MAX_ARGS &&
           (k->node == SCHED_NODE_ANY || k->node == s->r->node);
}

/* Object o's hints for its current generation: count and ONLY, or an
 * empty record that says ONLY (nothing is known to wait yet). */
static uint64_t hint_word(const sched *s, uint32_t o, uint32_t *n)
{
    uint32_t og = s->st.objs[o].gen;
    uint64_t w = atomic_load_explicit(&s->hints[o].word, memory_order_relaxed);
    if ((uint32_t)(w >> 32) != og)
        w = (uint64_t)og << 32 | SCHED_HINT_ONLY;
    *n = RAY_MIN((uint32_t)w & 0xffu, (uint32_t)SCHED_HINTS);
    return w;
}

void sched_hint_add(sched *s, uint32_t o, uint32_t t, uint32_t gen)
{
    sched_hint *h = &s->hints[o];
    uint32_t n;
    uint64_t w = hint_word(s, o, &n), v = sched_pack(t, gen);
    for (uint32_t i = 0; i < n; i++)
        if (atomic_load_explicit(&h->task[i], memory_order_relaxed) == v)
            return; /* the same argument twice */
    if (n == SCHED_HINTS) { /* full: this waiter is not named */
        atomic_store_explicit(&h->word, w & ~(uint64_t)SCHED_HINT_ONLY, memory_order_release);
        return;
    }
    atomic_store_explicit(&h->task[n], v, memory_order_relaxed);
    atomic_store_explicit(&h->word, (w & ~(uint64_t)0xffu) | (n + 1), memory_order_release);
}

void sched_hint_other(sched *s, uint32_t o)
{
    uint32_t n;
    uint64_t w = hint_word(s, o, &n);
    atomic_store_explicit(&s->hints[o].word, w & ~(uint64_t)SCHED_HINT_ONLY, memory_order_release);
}

/* Task b, named under an object just sealed: 1 taken (here or by someone
 * else, or no longer waiting), 0 it still waits for another argument, -1
 * the service must see to it (an argument is an error). */
static int take(sched *s, sched_out b, uint32_t me, _Atomic uint64_t *journal)
{
    if (!b.slot || b.slot >= s->r->max_tasks)
        return -1;
    sched_task *k = &s->tasks[b.slot];
    uint32_t want = TASK_TAGGED(TASK_WAITING, b.gen);
    if (atomic_load(&k->state) != want || k->gen != b.gen)
        return 1; /* taken, cancelled (the service frees it) or gone */
    if (!sched_hint_eligible(s, k))
        return -1;
    const sched_out *outs;
    sched_args a;
    if (sched_args_decode(s, k, &outs, &a))
        return -1;
    int r = 1;
    for (uint32_t i = 0; i < a.n && r > 0; i++) {
        sched_out arg = {a.v[i].ref.slot, a.v[i].ref.gen};
        if (a.v[i].kind != SCHED_ARG_REF || !sched_out_ok(s, arg))
            continue; /* checked when it runs, as the service does */
        uint32_t st = atomic_load(&s->st.objs[arg.slot].state);
        r = !STORE_IS_READY(st) ? 0 : STORE_STATE(st) == STORE_ERROR ? -1 : 1;
    }
    sched_args_free(&a);
    if (r <= 0)
        return r;
    atomic_store(journal, sched_pack(b.slot, b.gen));
    if (!atomic_compare_exchange_strong(&k->state, &want, TASK_MAKE(TASK_CLAIMING, me))) {
        atomic_store(journal, 0);
        return 1; /* someone else was first */
    }
    RAY_FAULT(HINT_CLAIMED);
    sched_ready_push_claimed(s, b.slot, journal);
    return 1;
}

int sched_hints_run(sched *s, uint32_t o, uint32_t me, _Atomic uint64_t *journal)
{
    if (!o || o >= s->st.max_objects)
        return 0;
    uint32_t og = s->st.objs[o].gen;
    uint64_t w = atomic_load_explicit(&s->hints[o].word, memory_order_acquire);
    if ((uint32_t)(w >> 32) != og)
        return 0; /* nothing named: waiters the service knows */
    uint32_t n = RAY_MIN((uint32_t)w & 0xffu, (uint32_t)SCHED_HINTS);
    int quiet = (w & SCHED_HINT_ONLY) &&
                STORE_STATE(atomic_load(&s->st.objs[o].state)) == STORE_SEALED;
    for (uint32_t i = 0; i < n; i++)
        if (take(s, sched_unpack(atomic_load(&s->hints[o].task[i])), me, journal) < 0)
            quiet = 0;
    return quiet;
}
