/*
 * test_freelist.c - ray_freelist (src/common/sync.c), the lock-free stack
 * of free slots behind the object, task and actor tables in shared memory.
 * A fresh list hands out slots 1, 2, 3... from its bump pointer and never
 * slot 0 or a slot past its capacity; then 0 when full; freed slots come
 * back last-in first-out; and two processes popping and pushing a million
 * times each never hold the same slot at once and lose none.
 */
#include "unit.h"

#include <stdlib.h>

typedef struct elem {
    uint32_t next;          /* the free-stack link */
    _Atomic uint32_t owner; /* who holds the slot: set on pop, cleared before push */
    uint64_t payload;
} elem;

#define POP(f, t)     ray_freelist_pop((f), (t), sizeof(elem), offsetof(elem, next))
#define PUSH(f, t, s) ray_freelist_push((f), (t), sizeof(elem), offsetof(elem, next), (s))

static void test_fill_until_full(void)
{
    enum { CAP = 100 };
    static elem table[CAP];
    static ray_freelist f;
    ray_freelist_init(&f, CAP);
    int in_order = 1;
    for (uint32_t want = 1; want < CAP; want++) {
        in_order &= POP(&f, table) == want;
        in_order &= ray_freelist_high_water(&f) == want + 1;
    }
    ok(in_order, "a fresh list hands out 1..%d in order, the high water just past each", CAP - 1);
    is_int(POP(&f, table), 0, "full: pop returns 0");
    is_int(POP(&f, table), 0, "and again 0");
    is_int(ray_freelist_high_water(&f), CAP, "failed pops leave the high water at the capacity");
}

static void test_lifo_reuse(void)
{
    enum { CAP = 16 };
    static elem table[CAP];
    static ray_freelist f;
    ray_freelist_init(&f, CAP);
    uint32_t a = POP(&f, table), b = POP(&f, table), c = POP(&f, table);
    PUSH(&f, table, a);
    PUSH(&f, table, c);
    is_int(POP(&f, table), c, "the slot freed last comes back first");
    is_int(POP(&f, table), a, "then the one freed before it");
    is_int(POP(&f, table), 4, "then fresh slots from the bump pointer");
    is_int(ray_freelist_high_water(&f), 5, "reuse does not move the high water");
    uint32_t held[CAP], n = 0, s;
    PUSH(&f, table, b);
    while ((s = POP(&f, table)))
        held[n++] = s;
    int distinct = 1, nonzero = 1;
    for (uint32_t i = 0; i < n; i++) {
        nonzero &= held[i] != 0 && held[i] < CAP;
        for (uint32_t j = 0; j < i; j++)
            distinct &= held[i] != held[j];
    }
    is_int(n, CAP - 1 - 3, "popping until 0 takes every other slot");
    ok(distinct && nonzero, "slot 0 is never handed out and no slot twice");
}

/* ---- two processes */

#define ROUNDS     1000000
#define SHARED_CAP 64
#define HOLD_MAX   8

typedef struct shared {
    ray_freelist f;
    _Atomic long double_held, bad_owner, empty;
    elem table[SHARED_CAP];
} shared;

static void take(shared *sh, uint32_t me, uint32_t *held, int *n)
{
    uint32_t s = POP(&sh->f, sh->table);
    if (!s) {
        atomic_fetch_add(&sh->empty, 1); /* 16 held at most: never empty */
        return;
    }
    uint32_t free_mark = 0;
    if (!atomic_compare_exchange_strong(&sh->table[s].owner, &free_mark, me))
        atomic_fetch_add(&sh->double_held, 1);
    held[(*n)++] = s;
}

static void give(shared *sh, uint32_t me, uint32_t *held, int *n, int i)
{
    uint32_t s = held[i];
    held[i] = held[--(*n)];
    if (atomic_exchange(&sh->table[s].owner, 0) != me)
        atomic_fetch_add(&sh->bad_owner, 1);
    PUSH(&sh->f, sh->table, s);
}

static void worker(shared *sh, uint32_t me, uint64_t seed)
{
    uint32_t held[HOLD_MAX];
    int n = 0;
    unit_seed(seed);
    for (long i = 0; i < ROUNDS; i++) {
        if (n == 0 || (n < HOLD_MAX && unit_below(2)))
            take(sh, me, held, &n);
        else
            give(sh, me, held, &n, (int)unit_below((uint64_t)n));
    }
    while (n)
        give(sh, me, held, &n, 0);
}

static void test_two_processes(void)
{
    shared *sh = unit_shared(sizeof(shared));
    ray_freelist_init(&sh->f, SHARED_CAP);
    pid_t pid = unit_fork();
    if (pid == 0) {
        worker(sh, 2, 2);
        _exit(0);
    }
    worker(sh, 1, 1);
    is_int(unit_wait(pid), 0, "the other process finished");
    is_int(atomic_load(&sh->double_held), 0,
           "2 processes x %d pops and pushes: no slot held by both at once", ROUNDS);
    is_int(atomic_load(&sh->bad_owner), 0, "every slot pushed was held by its pusher");
    is_int(atomic_load(&sh->empty), 0, "the list never ran dry");
    uint32_t n = 0, s, seen[SHARED_CAP] = {0};
    int dup = 0;
    while ((s = POP(&sh->f, sh->table)) && n < SHARED_CAP) {
        dup |= s >= SHARED_CAP || seen[s]++;
        n++;
    }
    is_int(n, SHARED_CAP - 1, "afterwards every slot is free again, none lost");
    ok(!dup, "and none is on the list twice");
    unit_unshare(sh, sizeof(shared));
}

int main(void)
{
    test_fill_until_full();
    test_lifo_reuse();
    test_two_processes();
    return tap_done();
}
