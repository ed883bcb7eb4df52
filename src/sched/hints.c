/*
 * hints.c - the sealer of a task's last missing argument takes the task to
 * the ready queue itself, with no node service on the way.
 *
 * A task of the default class that waits for arguments is named under
 * each object it waits for (struct sched_hint, one per object slot) before
 * that object is watched: by its submitter, who then hands it to the node
 * service unwatched (MSG_SUBMIT_NAMED), or by the service when it takes a
 * task the submitter could not name everywhere (pending.c), which it also
 * watches and counts the old way.  The sealer, once the object is sealed,
 * looks at each task named there and, if all of its arguments are ready
 * now, takes it WAITING -> CLAIMING (by its slot) -> QUEUED into the ready
 * queue.  Whoever is first (the sealer, another sealer, the submitter, the
 * service itself) wins the compare-and-swap from WAITING; the others see
 * the task gone.
 *
 * Ordering: a hint and its marks are written before the watch (an atomic
 * read-modify-write of the object's state), and the sealer reads them
 * after its seal (another on the same word): a seal that sees the watch
 * sees the hint.  Two sealers of a task's last two arguments each seal,
 * then look at the other argument: one of them sees both sealed.
 *
 * Notices: when every waiter of the object is a task named there
 * (SCHED_HINT_ONLY) and each was taken or still waits for another
 * argument, the sealer sends the service no notice at all, unless the
 * service counts one of those tasks (SCHED_HINT_COUNTED): then the notice
 * goes without waking it, and waits in the ring until it next runs, to
 * keep its counts.  A task whose argument is an error, or a waiter that is
 * not a named task (a ray_get, another node, a full hint), and the service
 * is woken as before.
 *
 * A death: the sealer records the task in its slot (readying) before it
 * takes it; CLAIMING carries its slot; the push clears the record in the
 * ready queue's critical section.  The service pushes a task its dead
 * claimer left CLAIMING (recovery.c).
 */
#include "sched.h"

int sched_hint_eligible(const sched *s, const sched_task *k)
{
    /* One node only: the service of a job of several moves a task it holds
     * to another node in WAITING (spilled or forwarded), where a sealer
     * could not tell it from one that waits for its arguments. */
    return s->r->num_nodes == 1 && k->kind == TASK_NORMAL && k->cpu_milli == 1000 &&
           k->gpu_milli == 0 && k->res_len == 0 && k->nargs <= SCHED_HINT_MAX_ARGS &&
           (k->node == SCHED_NODE_ANY || k->node == s->r->node);
}

/* Whether entry c names a task that still waits (a free entry otherwise). */
static int entry_waits(const sched *s, uint64_t c)
{
    sched_out b = sched_unpack(c);
    return c && b.slot < s->r->max_tasks && s->tasks[b.slot].gen == b.gen &&
           atomic_load(&s->tasks[b.slot].state) == TASK_TAGGED(TASK_WAITING, b.gen);
}

int sched_hint_add(sched *s, uint32_t o, uint32_t t, uint32_t gen)
{
    sched_hint *h = &s->hints[o];
    uint32_t og = s->st.objs[o].gen;
    uint64_t w = atomic_load(&h->word), v = sched_pack(t, gen);
    while ((uint32_t)(w >> 32) != og &&
           !atomic_compare_exchange_weak(&h->word, &w, (uint64_t)og << 32 | SCHED_HINT_ONLY))
        ; /* a new object in this slot: nothing else is known to wait */
    for (int i = 0; i < SCHED_HINTS; i++)
        if (atomic_load(&h->task[i]) == v)
            return 1; /* the same argument twice, or named by its submitter */
    for (int i = 0; i < SCHED_HINTS; i++) {
        uint64_t c = atomic_load(&h->task[i]);
        if (!entry_waits(s, c) && atomic_compare_exchange_strong(&h->task[i], &c, v))
            return 1;
    }
    sched_hint_other(s, o); /* full: this waiter is not named */
    return 0;
}

/* Marks o's record: the service counts a waiter named there. */
static void hint_counted(sched *s, uint32_t o)
{
    uint64_t want = (uint64_t)s->st.objs[o].gen << 32, w = atomic_load(&s->hints[o].word);
    while (w == (want | SCHED_HINT_ONLY) &&
           !atomic_compare_exchange_weak(&s->hints[o].word, &w, w | SCHED_HINT_COUNTED))
        ; /* anything else: marked already, or another waiter wakes the service */
}

int sched_hint_watch(sched *s, uint32_t o, uint32_t t, uint32_t gen, int *named, int counted)
{
    if (!t) {
        sched_hint_other(s, o);
    } else if (!sched_hint_add(s, o, t, gen)) {
        if (named)
            *named = 0;
    } else if (counted) {
        hint_counted(s, o);
    }
    return store_obj_watch(&s->st, o); /* after the name and marks: see the ordering above */
}

void sched_hint_other(sched *s, uint32_t o)
{
    uint64_t want = (uint64_t)s->st.objs[o].gen << 32, w = atomic_load(&s->hints[o].word);
    while (w != want && !atomic_compare_exchange_weak(&s->hints[o].word, &w, want))
        ;
}

int sched_hint_take(sched *s, sched_out b, uint32_t me, _Atomic uint64_t *journal)
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
    if (journal) /* the node service (slot 0) keeps none: it does not die alone */
        atomic_store(journal, sched_pack(b.slot, b.gen));
    if (!atomic_compare_exchange_strong(&k->state, &want, TASK_MAKE(TASK_CLAIMING, me))) {
        if (journal)
            atomic_store(journal, 0);
        return 1; /* someone else was first */
    }
    RAY_FAULT(HINT_CLAIMED);
    sched_ready_push_claimed(s, b.slot, journal);
    return 1;
}

int sched_hints_run(sched *s, uint32_t o, uint32_t me, _Atomic uint64_t *journal)
{
    if (!o || o >= s->st.max_objects || !journal)
        return 0; /* a thread whose death nobody sorts out: the service takes them */
    uint32_t og = s->st.objs[o].gen;
    uint64_t w = atomic_load_explicit(&s->hints[o].word, memory_order_acquire);
    if ((uint32_t)(w >> 32) != og)
        return 0; /* nothing named: waiters the service knows */
    int quiet = (w & SCHED_HINT_ONLY) &&
                STORE_STATE(atomic_load(&s->st.objs[o].state)) == STORE_SEALED;
    for (int i = 0; i < SCHED_HINTS; i++) {
        uint64_t c = atomic_load(&s->hints[o].task[i]);
        if (c && sched_hint_take(s, sched_unpack(c), me, journal) < 0)
            quiet = 0;
    }
    return !quiet ? 0 : (w & SCHED_HINT_COUNTED) ? SCHED_HINTS_LAZY : SCHED_HINTS_QUIET;
}
