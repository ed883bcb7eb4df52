/*
 * test_queue.c - the shared half of the local scheduler (src/sched/task.c,
 * queue.c) on a control region built here as the node service builds it:
 * task slots (distinct, generations bumped on reuse, RAY_ETOOBIG when the
 * table is full); the FIFO queues of task slots (order, len, contains,
 * push_front, batch pops that record the batch, close for a dead actor),
 * also against a model over random operations and between two processes;
 * sched_queue_take_over after a process died holding a queue's lock in the
 * middle of a push or a pop; and CPU tokens, which never go below zero
 * however many processes take and return them.
 */
#include "unit.h"

#include <stdlib.h>

#define MAX_TASKS 4096

static unit_node node;
static sched *S;

/* Batches hold (slot, generation); these tests speak in slots. */
static uint32_t pop_slots(sched *s, sched_queue *q, uint32_t *out, uint32_t *count,
                          uint32_t max)
{
    sched_out b[SCHED_BATCH_MAX];
    uint32_t n = sched_queue_pop(s, q, b, count, RAY_MIN(max, (uint32_t)SCHED_BATCH_MAX));
    for (uint32_t i = 0; i < n; i++)
        out[i] = b[i].slot;
    return n;
}

/* push_front takes a consumer's batch and empties it. */
static void push_front_slots(sched *s, sched_queue *q, const uint32_t *ts, uint32_t n)
{
    sched_out b[SCHED_BATCH_MAX];
    for (uint32_t i = 0; i < n; i++)
        b[i] = (sched_out){ts[i], s->tasks[ts[i]].gen};
    sched_queue_push_front(s, q, b, n);
    for (uint32_t i = 0; i < n; i++)
        if (b[i].slot)
            printf("not ok - push_front left batch entry %u set\n", i);
}

static uint32_t new_task(void)
{
    uint32_t t = 0;
    sched_task_new(S, &t, NULL);
    return t;
}

static void test_task_slots(void)
{
    static uint32_t slots[MAX_TASKS];
    static uint8_t seen[MAX_TASKS];
    uint32_t n = 0, t;
    int bad = 0;
    while (sched_task_new(S, &t, NULL) == 0 && n < MAX_TASKS) {
        bad |= t == 0 || t >= MAX_TASKS || seen[t]++;
        slots[n++] = t;
    }
    is_int(n, MAX_TASKS - 1, "the table gives %d distinct slots, never slot 0", MAX_TASKS - 1);
    ok(!bad, "all in range and distinct");
    is_rc(sched_task_new(S, &t, NULL), RAY_ETOOBIG, "then RAY_ETOOBIG");
    is_int(atomic_load(&S->r->tasks_live), MAX_TASKS - 1, "tasks_live counts them");
    uint32_t gen = sched_task_at(S, slots[10])->gen;
    sched_task_free(S, slots[10]);
    is_rc(sched_task_new(S, &t, NULL), 0, "a freed slot can be taken again");
    ok(t == slots[10] && sched_task_at(S, t)->gen == gen + 1, "it is that slot, one generation on");
    for (uint32_t i = 0; i < n; i++)
        sched_task_free(S, slots[i]);
    is_int(atomic_load(&S->r->tasks_live), 0, "all freed: tasks_live 0");
}

/* Pops everything in batches of up to max; returns how many. */
static uint32_t drain(sched_queue *q, uint32_t *out, uint32_t max, int *bad)
{
    uint32_t total = 0, batch[SCHED_BATCH_MAX], count, n;
    while ((n = pop_slots(S, q, batch, &count, max))) {
        *bad |= count != n;
        memcpy(out + total, batch, n * sizeof(*batch));
        total += n;
    }
    return total;
}

static void test_fifo(void)
{
    sched_queue *q = &S->r->ready;
    uint32_t in[100], out[100];
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        in[i] = new_task();
        bad |= sched_queue_push(S, q, in[i]) != 0;
    }
    ok(!bad && atomic_load(&q->len) == 100, "100 pushes: len 100");
    ok(sched_queue_contains(S, q, in[0]) && sched_queue_contains(S, q, in[99]),
       "contains finds the first and the last");
    uint32_t other = new_task();
    is_int(sched_queue_contains(S, q, other), 0, "contains does not find a task never pushed");
    uint32_t count = 999, n = pop_slots(S, q, out, &count, 32);
    ok(n == 32 && count == 32 && atomic_load(&q->len) == 68,
       "pop of up to 32: 32 taken, count 32, len 68");
    uint32_t rest = drain(q, out + 32, 32, &bad);
    ok(rest == 68 && !bad, "the rest comes in batches, each count recorded");
    ok(!memcmp(in, out, sizeof(in)), "in push order");
    ok(atomic_load(&q->len) == 0 && q->head == 0 && q->tail == 0,
       "queue empty: len 0, no head or tail");
    is_int(pop_slots(S, q, out, &count, 32), 0, "pop on an empty queue takes nothing");
    for (int i = 0; i < 100; i++)
        sched_task_free(S, in[i]);
    sched_task_free(S, other);
}

static void test_push_front(void)
{
    sched_queue *q = &S->r->ready;
    uint32_t t[8], out[8];
    int bad = 0;
    for (int i = 0; i < 8; i++)
        t[i] = new_task();
    push_front_slots(S, q, &t[0], 2); /* empty queue: [0 1] */
    sched_queue_push(S, q, t[2]);           /* [0 1 2] */
    sched_queue_push(S, q, t[3]);           /* [0 1 2 3] */
    push_front_slots(S, q, &t[4], 3); /* [4 5 6 0 1 2 3] */
    sched_queue_push(S, q, t[7]);           /* [4 5 6 0 1 2 3 7] */
    is_int(atomic_load(&q->len), 8, "len counts tasks pushed at the front");
    uint32_t want[8] = {t[4], t[5], t[6], t[0], t[1], t[2], t[3], t[7]};
    ok(drain(q, out, 3, &bad) == 8 && !bad && !memcmp(out, want, sizeof(want)),
       "push_front puts a batch, in its order, before what was queued");
    for (int i = 0; i < 8; i++)
        sched_task_free(S, t[i]);
}

/* ---- against a model: a deque of task slots */

typedef struct deque {
    uint32_t v[3 * MAX_TASKS];
    uint32_t head, len; /* starts in the middle so push_front has room */
} deque;

static int model_step(deque *d, sched_queue *q, uint32_t *pool, uint32_t *npool)
{
    uint32_t out[SCHED_BATCH_MAX], count, k = (uint32_t)unit_below(4) + 1;
    int bad = 0;
    switch (unit_below(3)) {
    case 0: /* push */
        if (!*npool)
            break;
        bad |= sched_queue_push(S, q, pool[--*npool]) != 0;
        d->v[d->head + d->len++] = pool[*npool];
        break;
    case 1: /* push_front of up to k */
        k = RAY_MIN(k, *npool);
        *npool -= k;
        push_front_slots(S, q, &pool[*npool], k);
        d->head -= k;
        d->len += k;
        memcpy(&d->v[d->head], &pool[*npool], k * sizeof(uint32_t));
        break;
    default: { /* pop up to k */
        uint32_t n = pop_slots(S, q, out, &count, k);
        bad |= n != RAY_MIN(k, d->len) || (n && (count != n || memcmp(out, &d->v[d->head], n * 4)));
        memcpy(&pool[*npool], out, n * sizeof(uint32_t));
        *npool += n;
        d->head += n;
        d->len -= n;
    }
    }
    return bad || atomic_load(&q->len) != d->len;
}

static void test_against_model(void)
{
    static deque d;
    static uint32_t pool[64];
    uint32_t npool = 64;
    for (uint32_t i = 0; i < 64; i++)
        pool[i] = new_task();
    long bad = 0;
    unit_seed(3);
    for (long op = 0; op < 100000; op++) {
        if (d.head < 64 || d.head > 2 * MAX_TASKS) { /* recentre the model */
            memmove(&d.v[MAX_TASKS], &d.v[d.head], d.len * sizeof(uint32_t));
            d.head = MAX_TASKS;
        }
        bad += model_step(&d, &S->r->ready, pool, &npool);
    }
    is_int(bad, 0, "100000 random push / push_front / pop: order and len match a model deque");
    uint32_t out[64];
    int b = 0;
    ok(drain(&S->r->ready, out, 32, &b) == d.len && !b && !memcmp(out, &d.v[d.head], d.len * 4),
       "what is left comes out in the model's order");
    for (uint32_t i = 0; i < 64; i++)
        sched_task_free(S, i < npool ? pool[i] : out[i - npool]);
}

static void test_close(void)
{
    sched_queue *q = &sched_actor_at(S, 1)->calls;
    sched_queue_init(q);
    uint32_t t[3] = {new_task(), new_task(), new_task()}, *out = NULL, extra = new_task();
    for (int i = 0; i < 3; i++)
        sched_queue_push(S, q, t[i]);
    uint32_t n = sched_queue_close(S, q, &out);
    ok(n == 3 && out && !memcmp(out, t, sizeof(t)), "close hands back the 3 queued tasks in order");
    free(out);
    ok(atomic_load(&q->closed) && atomic_load(&q->len) == 0, "the queue is closed and empty");
    is_rc(sched_queue_push(S, q, extra), RAY_EACTOR, "push onto a closed queue: RAY_EACTOR");
    uint32_t buf[4], count;
    is_int(pop_slots(S, q, buf, &count, 4), 0, "nothing to pop");
    out = NULL;
    is_int(sched_queue_close(S, q, &out), 0, "closing again hands back nothing");
    free(out);
    for (int i = 0; i < 3; i++)
        sched_task_free(S, t[i]);
    sched_task_free(S, extra);
}

/* ---- repair: a process dies holding the queue's lock */

typedef void (*half_op)(sched_queue *q, uint32_t t);

/* A push that linked its task but did not move the tail or count it. */
static void half_push(sched_queue *q, uint32_t t)
{
    S->tasks[t].qnext = 0;
    if (q->tail)
        S->tasks[q->tail].qnext = t;
    else
        q->head = t;
}

/* A pop that moved the head past two tasks but not the length. */
static void half_pop(sched_queue *q, uint32_t t)
{
    (void)t;
    q->head = S->tasks[S->tasks[q->head].qnext].qnext;
}

static pid_t die_in(sched_queue *q, half_op op, uint32_t t)
{
    pid_t pid = unit_fork();
    if (pid == 0) {
        ray_shlock_lock(&q->lock, unit_tid());
        op(q, t);
        _exit(0);
    }
    unit_wait(pid);
    return pid;
}

static void expect_queue(sched_queue *q, const uint32_t *want, uint32_t n, const char *what)
{
    uint32_t out[16];
    int bad = 0;
    ok(atomic_load(&q->len) == n && atomic_load(&q->lock.owner) == 0,
       "%s: repaired, %u tasks counted, the lock free", what, n);
    ok(drain(q, out, 3, &bad) == n && !bad && !memcmp(out, want, n * sizeof(*want)),
       "%s: the queue then yields exactly its tasks, in order", what);
}

/* What the node service does: take the dead holder's lock over (re-linked),
 * then let it go. */
static void repair(sched_queue *q, const char *what)
{
    int took = sched_queue_take_over(S, q);
    ok(took && atomic_load(&q->lock.owner) == unit_tid(),
       "%s: the lock is taken over by the repairer", what);
    if (took)
        ray_shlock_unlock(&q->lock);
}

static void test_repair(void)
{
    sched_queue *q = &S->r->ready;
    uint32_t t[6];
    for (int i = 0; i < 6; i++)
        t[i] = new_task();
    for (int i = 0; i < 3; i++)
        sched_queue_push(S, q, t[i]);
    pid_t pid = die_in(q, half_push, t[3]);
    is_int(atomic_load(&q->lock.owner), pid, "a child died in the middle of a push, lock held");
    repair(q, "push cut short");
    expect_queue(q, t, 4, "push cut short");

    for (int i = 0; i < 5; i++)
        sched_queue_push(S, q, t[i]);
    die_in(q, half_pop, 0);
    repair(q, "pop cut short");
    expect_queue(q, &t[2], 3, "pop cut short");

    die_in(q, half_push, t[5]);
    repair(q, "push onto an empty queue cut short");
    expect_queue(q, &t[5], 1, "push onto an empty queue cut short");
    sched_queue_push(S, q, t[0]);
    expect_queue(q, &t[0], 1, "after the repairs, a push and a pop work");
    for (int i = 0; i < 6; i++)
        sched_task_free(S, t[i]);
}

static void test_repair_live_owner(void)
{
    sched_queue *q = &S->r->ready;
    uint32_t t = new_task();
    sched_queue_push(S, q, t);
    is_int(sched_queue_take_over(S, q), 0, "a queue whose lock is free is not taken over");
    is_int(atomic_load(&q->len), 1, "  ... and nothing changes");
    ray_shlock_lock(&q->lock, unit_tid());
    q->tail = 0; /* mid-operation state of a live holder: not to be touched */
    is_int(sched_queue_take_over(S, q), 0, "nor one whose holder is alive");
    ok(atomic_load(&q->lock.owner) == unit_tid() && q->tail == 0,
       "repair leaves a queue whose lock holder is alive alone");
    q->tail = t;
    ray_shlock_unlock(&q->lock);
    uint32_t out[2], count;
    is_int(pop_slots(S, q, out, &count, 2), 1, "which then works as before");
    sched_task_free(S, t);
}

/* ---- two processes: a producer and a consumer through the ready queue */

#define STREAM 200000

static int produce(void)
{
    for (uint32_t seq = 0; seq < STREAM; seq++) {
        uint32_t t = 0;
        uint64_t deadline = ray_now_ns() + 10000000000ull;
        while (sched_task_new(S, &t, NULL) != 0) /* the consumer frees them */
            if (ray_now_ns() > deadline)
                return 2;
        S->tasks[t].attempt = seq;
        if (sched_queue_push(S, &S->r->ready, t))
            return 3;
    }
    return 0;
}

static void test_two_processes(void)
{
    pid_t pid = unit_fork();
    if (pid == 0)
        _exit(produce());
    uint32_t got = 0, out[SCHED_BATCH_MAX], count, bad = 0;
    uint64_t deadline = ray_now_ns() + 12000000000ull;
    while (got < STREAM && ray_now_ns() < deadline) {
        uint32_t n = pop_slots(S, &S->r->ready, out, &count, SCHED_BATCH_MAX);
        for (uint32_t i = 0; i < n; i++) {
            bad += S->tasks[out[i]].attempt != got++;
            sched_task_free(S, out[i]);
        }
    }
    if (got < STREAM)
        kill(pid, SIGKILL);
    is_int(unit_wait(pid), 0, "the producer process pushed %d tasks", STREAM);
    is_int(got, STREAM, "the consumer process popped them all");
    is_int(bad, 0, "in the order they were pushed");
    is_int(atomic_load(&S->r->tasks_live), 0, "every slot went back to the table");
}

/* ---- CPU tokens */

#define TOTAL_MILLI 4000

static void test_cpu_tokens(void)
{
    is_int(atomic_load(&S->r->cpu_avail), TOTAL_MILLI, "4 CPUs: 4000 milli-CPUs available");
    int n = 0;
    while (sched_cpu_try(S, 1000))
        n++;
    ok(n == 4 && atomic_load(&S->r->cpu_avail) == 0, "4 tokens of 1000, then none; 0 left");
    sched_cpu_put(S, 1000);
    is_int(sched_cpu_try(S, 1500), 0, "1500 asked, 1000 left: refused");
    is_int(atomic_load(&S->r->cpu_avail), 1000, "a refusal takes nothing");
    sched_cpu_put(S, 3000);
    is_int(atomic_load(&S->r->cpu_avail), TOTAL_MILLI, "all returned");
}

typedef struct token_stats {
    _Atomic int32_t held;
    _Atomic long over, negative, taken;
} token_stats;

static void token_worker(token_stats *st, uint64_t seed)
{
    unit_seed(seed);
    for (int i = 0; i < 200000; i++) {
        int32_t m = unit_below(2) ? 1000 : 1500;
        if (!sched_cpu_try(S, m))
            continue;
        atomic_fetch_add(&st->taken, 1);
        if (atomic_fetch_add(&st->held, m) + m > TOTAL_MILLI)
            atomic_fetch_add(&st->over, 1);
        if (atomic_load(&S->r->cpu_avail) < 0)
            atomic_fetch_add(&st->negative, 1);
        atomic_fetch_sub(&st->held, m);
        sched_cpu_put(S, m);
    }
}

static void test_cpu_tokens_concurrent(void)
{
    token_stats *st = unit_shared(sizeof(*st));
    pid_t kids[2];
    for (int k = 0; k < 2; k++)
        if ((kids[k] = unit_fork()) == 0) {
            token_worker(st, 100 + (uint64_t)k);
            _exit(0);
        }
    token_worker(st, 99);
    int st0 = unit_wait(kids[0]), st1 = unit_wait(kids[1]);
    ok(st0 == 0 && st1 == 0, "two other processes took and returned tokens too");
    ok(atomic_load(&st->taken) > 1000, "3 processes x 200000 tries (%ld tokens taken)",
       atomic_load(&st->taken));
    is_int(atomic_load(&st->over), 0, "never more than 4000 milli-CPUs held at once");
    is_int(atomic_load(&st->negative), 0, "cpu_avail never seen below 0");
    is_int(atomic_load(&S->r->cpu_avail), TOTAL_MILLI, "all 4000 available at the end");
    unit_unshare(st, sizeof(*st));
}

int main(void)
{
    int rc = unit_node_create(&node, 4096, MAX_TASKS, 8, 8, 1u << 20, 4);
    is_rc(rc, 0, "control region and arena built and attached");
    if (rc)
        return tap_done();
    S = &node.sh;
    test_task_slots();
    test_fifo();
    test_push_front();
    test_against_model();
    test_close();
    test_repair();
    test_repair_live_owner();
    test_two_processes();
    test_cpu_tokens();
    test_cpu_tokens_concurrent();
    unit_node_destroy(&node);
    return tap_done();
}
