/*
 * test_sync.c - the shared-memory synchronisation of src/common/sync.c
 * across processes: ray_shlock gives mutual exclusion (two processes, a
 * million increments each, under the lock), a lock whose holder died is
 * seen as such, broken, and then taken (also by a process already sleeping
 * on it); ray_evc loses no wake-up over 100k ping-pong rounds between two
 * processes; the futex wrappers time out; and ray_gettid, which every lock
 * records as its owner, names the calling thread also in a forked child.
 */
#include "unit.h"

typedef struct shared {
    ray_shlock lock;
    uint64_t counter;        /* only ever touched under the lock */
    _Atomic uint32_t inside; /* holders in the critical section */
    _Atomic long violations;
    _Atomic uint32_t flag;
    _Atomic uint32_t turn;
    ray_evc evc[2];
    _Atomic long timeouts;
    uint32_t child_cached_tid, child_real_tid;
} shared;

static shared *sh;

static void reset_shared(void)
{
    memset(sh, 0, sizeof(*sh));
}

/* ---- ray_gettid */

static void test_gettid_after_fork(void)
{
    reset_shared();
    is_int(ray_gettid(), unit_tid(), "ray_gettid names the calling thread");
    pid_t pid = unit_fork();
    if (pid == 0) {
        sh->child_cached_tid = (uint32_t)ray_gettid();
        sh->child_real_tid = unit_tid();
        _exit(0);
    }
    unit_wait(pid);
    is_int(sh->child_real_tid, pid, "a forked child's thread id is its pid");
    is_int(sh->child_cached_tid, sh->child_real_tid,
           "ray_gettid in a child forked after the parent called it names the child");
}

/* ---- mutual exclusion */

#define INCREMENTS 1000000

static void increment_many(uint32_t tid)
{
    for (int i = 0; i < INCREMENTS; i++) {
        ray_shlock_lock(&sh->lock, tid);
        if (atomic_fetch_add(&sh->inside, 1) != 0)
            atomic_fetch_add(&sh->violations, 1);
        sh->counter++;
        atomic_fetch_sub(&sh->inside, 1);
        ray_shlock_unlock(&sh->lock);
    }
}

static void test_mutual_exclusion(void)
{
    reset_shared();
    pid_t pid = unit_fork();
    if (pid == 0) {
        increment_many(unit_tid());
        _exit(0);
    }
    increment_many(unit_tid());
    is_int(unit_wait(pid), 0, "the other process finished");
    is_int(sh->counter, 2 * INCREMENTS, "2 processes x %d increments under the lock sum exactly",
           INCREMENTS);
    is_int(atomic_load(&sh->violations), 0, "never two holders inside at once");
    is_int(atomic_load(&sh->lock.owner), 0, "the lock is free at the end");
    is_int(atomic_load(&sh->lock.waiters), 0, "and nobody is counted as waiting");
}

/* ---- dead owners */

/* A child that takes the lock and exits without releasing it; reaped. */
static pid_t die_holding_lock(void)
{
    pid_t pid = unit_fork();
    if (pid == 0) {
        ray_shlock_lock(&sh->lock, unit_tid());
        _exit(0);
    }
    unit_wait(pid);
    return pid;
}

static void test_dead_owner(void)
{
    reset_shared();
    is_int(ray_shlock_dead_owner(&sh->lock), 0, "a free lock has no dead owner");
    ray_shlock_lock(&sh->lock, unit_tid());
    is_int(ray_shlock_dead_owner(&sh->lock), 0, "a lock held by a live thread has no dead owner");
    ray_shlock_unlock(&sh->lock);
    pid_t pid = die_holding_lock();
    is_int(atomic_load(&sh->lock.owner), pid, "the child left the lock held in its name");
    is_int(ray_shlock_dead_owner(&sh->lock), pid, "dead_owner names the dead child");
    is_int(ray_shlock_break(&sh->lock, (uint32_t)pid + 1), 0,
           "break with another tid does nothing");
    is_int(ray_shlock_break(&sh->lock, 0), 0, "break with tid 0 does nothing");
    is_int(atomic_load(&sh->lock.owner), pid, "the lock is still held");
    is_int(ray_shlock_break(&sh->lock, (uint32_t)pid), 1, "break with the dead owner frees it");
    is_int(ray_shlock_dead_owner(&sh->lock), 0, "no dead owner after the break");
    ray_shlock_lock(&sh->lock, unit_tid());
    is_int(atomic_load(&sh->lock.owner), unit_tid(), "the parent can take it");
    ray_shlock_unlock(&sh->lock);
}

/* A process asleep on a lock whose owner died gets it once it is broken. */
static void test_break_wakes_sleeper(void)
{
    reset_shared();
    pid_t dead = die_holding_lock();
    pid_t sleeper = unit_fork();
    if (sleeper == 0) {
        ray_shlock_lock(&sh->lock, unit_tid());
        atomic_store(&sh->flag, 1);
        ray_shlock_unlock(&sh->lock);
        _exit(0);
    }
    uint64_t deadline = ray_now_ns() + 5000000000ull;
    while (!atomic_load(&sh->lock.waiters) && ray_now_ns() < deadline)
        usleep(100);
    ok(atomic_load(&sh->lock.waiters) == 1 && !atomic_load(&sh->flag),
       "a second process sleeps on the lock of the dead one");
    is_int(ray_shlock_break(&sh->lock, (uint32_t)dead), 1, "the lock is broken");
    is_int(unit_wait(sleeper), 0, "the sleeper exits");
    is_int(atomic_load(&sh->flag), 1, "after taking the lock");
    is_int(atomic_load(&sh->lock.owner), 0, "and releasing it");
}

/* ---- event count */

static int wait_turn(int side)
{
    ray_evc *e = &sh->evc[side];
    while (atomic_load(&sh->turn) != (uint32_t)side) {
        uint32_t seq = ray_evc_prepare(e);
        if (atomic_load(&sh->turn) == (uint32_t)side) {
            ray_evc_cancel(e);
            break;
        }
        if (ray_evc_wait(e, seq, ray_now_ns() + 2000000000ull) == RAY_ETIMEDOUT &&
            atomic_fetch_add(&sh->timeouts, 1) >= 2)
            return -1; /* lost wake-ups: stop rather than hang */
    }
    return 0;
}

static void give_turn(int side)
{
    atomic_store(&sh->turn, (uint32_t)side);
    ray_evc_signal(&sh->evc[side], 1);
}

#define ROUNDS 100000

static void test_evc_ping_pong(void)
{
    reset_shared();
    pid_t pid = unit_fork();
    if (pid == 0) {
        for (int i = 0; i < ROUNDS; i++) {
            if (wait_turn(1))
                _exit(1);
            give_turn(0);
        }
        _exit(0);
    }
    int rounds = 0;
    for (; rounds < ROUNDS; rounds++) {
        give_turn(1);
        if (wait_turn(0))
            break;
    }
    if (rounds < ROUNDS)
        kill(pid, SIGKILL);
    is_int(unit_wait(pid), 0, "the other process finished its rounds");
    is_int(rounds, ROUNDS, "%d ping-pong rounds between two processes", ROUNDS);
    is_int(atomic_load(&sh->timeouts), 0, "no wake-up was lost (no wait ran into its deadline)");
    is_int(atomic_load(&sh->evc[0].sleepers) + atomic_load(&sh->evc[1].sleepers), 0,
           "no sleeper left counted");
}

static void test_evc_single(void)
{
    ray_evc e = {0};
    ray_evc_signal(&e, 1);
    is_int(atomic_load(&e.seq), 0, "signal with nobody sleeping changes nothing");
    uint32_t seq = ray_evc_prepare(&e);
    ray_evc_signal(&e, 1);
    is_rc(ray_evc_wait(&e, seq, UINT64_MAX), 0, "signalled between prepare and wait: no sleep");
    seq = ray_evc_prepare(&e);
    is_rc(ray_evc_wait(&e, seq, ray_now_ns() + 2000000), RAY_ETIMEDOUT,
          "no signal: wait times out at its deadline");
    is_int(atomic_load(&e.sleepers), 0, "wait always undoes prepare");
    seq = ray_evc_prepare(&e);
    ray_evc_cancel(&e);
    is_int(atomic_load(&e.sleepers), 0, "cancel undoes prepare");
}

static void test_futex(void)
{
    _Atomic uint32_t w = 5;
    is_rc(ray_futex_wait(&w, 4, UINT64_MAX), 0, "futex wait on a changed value returns at once");
    is_rc(ray_futex_wait(&w, 5, ray_now_ns() + 1000000), RAY_ETIMEDOUT, "futex wait times out");
    is_rc(ray_futex_wait(&w, 5, ray_now_ns() - 1), RAY_ETIMEDOUT,
          "futex wait with a deadline already past times out");
}

/* Timeouts for poll and epoll_wait from a deadline: never a wrapped
 * difference (a negative int is an infinite wait). */
static void test_ms_until(void)
{
    uint64_t now = ray_now_ns();
    is_int(ray_ms_until(UINT64_MAX), -1, "ray_ms_until(no deadline) = -1 (wait for ever)");
    is_int(ray_ms_until(0), 0, "ray_ms_until(a deadline long past) = 0");
    is_int(ray_ms_until(now - 1), 0, "ray_ms_until(a deadline just past) = 0");
    int ms = ray_ms_until(ray_now_ns() + 1500000);
    ok(ms == 2 || ms == 1, "ray_ms_until(now + 1.5 ms) rounds up (%d ms)", ms);
    is_int(ray_ms_until(ray_deadline_ns(1e9)), INT_MAX, "ray_ms_until(now + 1e9 s) = INT_MAX");
}

int main(void)
{
    sh = unit_shared(sizeof(*sh));
    test_gettid_after_fork();
    test_mutual_exclusion();
    test_dead_owner();
    test_break_wakes_sleeper();
    test_evc_single();
    test_evc_ping_pong();
    test_futex();
    test_ms_until();
    unit_unshare(sh, sizeof(*sh));
    return tap_done();
}
