/*
 * test_ring.c - the single-producer single-consumer message ring
 * (src/common/ring.c) that carries every message between a process and its
 * node service.  Records of many sizes go through a small ring with
 * wrap-around (PAD records), reserve refuses exactly when there is no room
 * and records larger than half the ring, every payload comes back intact
 * and in order; a corrupted ring is reported as RAY_EPROTO, never read out
 * of bounds; and a producer process streams a million records to a
 * consumer process through shared memory.
 */
#include "unit.h"

#include <sched.h>
#include <stdlib.h>

#define RING_SIZE 4096u

typedef struct test_ring {
    ray_ring_hdr hdr;
    uint8_t data[];
} test_ring;

static test_ring *ring_new(uint64_t size, ray_ring *prod, ray_ring *cons)
{
    test_ring *t = aligned_alloc(RAY_CACHELINE, sizeof(test_ring) + size);
    memset(t, 0, sizeof(test_ring) + size);
    ray_ring_init(&t->hdr, size);
    ray_ring_attach(prod, &t->hdr, t->data, size);
    ray_ring_attach(cons, &t->hdr, t->data, size);
    return t;
}

static uint8_t pattern(uint64_t seq, uint32_t i)
{
    return (uint8_t)(seq * 131 + i * 7 + 1);
}

static void fill(uint8_t *p, uint64_t seq, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = pattern(seq, i);
}

/* Records are padded to 8 bytes and peek reports the padded payload
 * length: what callers rely on is that it covers what was written. */
static int len_ok(uint32_t got, uint32_t written)
{
    return got >= written && got < written + 8;
}

static int intact(const uint8_t *p, uint64_t seq, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (p[i] != pattern(seq, i))
            return 0;
    return 1;
}

/* ---- one process: sizes, wrap-around, full ring */

typedef struct pending {
    uint64_t seq;
    uint32_t len;
} pending;

typedef struct ring_faults {
    long bad_ptr, bad_full, bad_record, pads, fulls, records;
} ring_faults;

/* Whether a record of payload len fits, computed from the positions. */
static int has_room(const test_ring *t, uint32_t len)
{
    uint64_t need = ((uint64_t)len + sizeof(ray_msg_hdr) + 7) & ~7ull;
    uint64_t tail = atomic_load(&t->hdr.tail), head = atomic_load(&t->hdr.head);
    uint64_t off = tail % RING_SIZE, pad = off + need > RING_SIZE ? RING_SIZE - off : 0;
    return need <= RING_SIZE / 2 && (tail - head) + pad + need <= RING_SIZE;
}

static void produce_one(test_ring *t, ray_ring *prod, pending *q, size_t *qn, uint64_t seq,
                        ring_faults *f)
{
    uint32_t len = (uint32_t)unit_below(RING_SIZE / 2 - 7);
    uint64_t tail = atomic_load(&t->hdr.tail);
    int room = has_room(t, len);
    uint8_t *p = ray_ring_reserve(prod, (uint16_t)(seq % 1000), len);
    if (!p) {
        f->fulls++;
        f->bad_full += room;
        return;
    }
    uint64_t off = (uint64_t)(p - t->data) - sizeof(ray_msg_hdr);
    f->bad_full += !room;
    if (off % 8 || off + sizeof(ray_msg_hdr) + len > RING_SIZE)
        f->bad_ptr++;
    if (off != tail % RING_SIZE) { /* a PAD record filled the end */
        f->pads++;
        f->bad_ptr += off != 0;
    }
    fill(p, seq, len);
    ray_ring_commit(prod);
    q[(*qn)++] = (pending){seq, len};
}

static void consume_one(ray_ring *cons, pending *q, size_t *qh, ring_faults *f)
{
    uint16_t type;
    uint32_t len;
    int err;
    const uint8_t *p = ray_ring_peek(cons, &type, &len, &err);
    pending want = q[(*qh)++];
    if (!p || err || type != want.seq % 1000 || !len_ok(len, want.len) ||
        !intact(p, want.seq, want.len))
        f->bad_record++;
    else
        f->records++;
    ray_ring_pop(cons);
}

static void test_sizes_and_wrap(void)
{
    ray_ring prod, cons;
    test_ring *t = ring_new(RING_SIZE, &prod, &cons);
    enum { N = 200000 };
    pending *q = calloc(N, sizeof(*q));
    size_t qn = 0, qh = 0;
    ring_faults f = {0};
    unit_seed(11);
    for (uint64_t seq = 0; seq < N && !f.bad_record; seq++) {
        if (unit_below(2))
            produce_one(t, &prod, q, &qn, seq, &f);
        while (qh < qn && unit_below(3) == 0)
            consume_one(&cons, q, &qh, &f);
    }
    while (qh < qn)
        consume_one(&cons, q, &qh, &f);
    uint16_t type;
    uint32_t len;
    int err;
    ok(!ray_ring_peek(&cons, &type, &len, &err) && !err, "ring empty at the end");
    is_int(f.bad_record, 0, "%ld records read back intact and in order", f.records);
    is_int(f.bad_ptr, 0, "records are aligned and never run past the end of the ring");
    is_int(f.bad_full, 0, "reserve fails exactly when the ring has no room (%ld times)", f.fulls);
    ok(f.pads > 100, "the end of the ring was padded and records wrapped (%ld times)", f.pads);
    ok(f.fulls > 100, "the ring was full many times");
    free(q);
    free(t);
}

/* Moves both positions of an empty ring on by 8 bytes. */
static void advance8(ray_ring *prod, ray_ring *cons)
{
    uint16_t type;
    uint32_t len;
    int err;
    ray_ring_reserve(prod, 3, 0);
    ray_ring_commit(prod);
    ray_ring_peek(cons, &type, &len, &err);
    ray_ring_pop(cons);
}

/* At offset off of an empty ring: max payload bytes fit, max + 1 do not. */
static int limits_at(uint32_t off, uint32_t max)
{
    ray_ring prod, cons;
    test_ring *t = ring_new(RING_SIZE, &prod, &cons);
    for (uint32_t i = 0; i < off / 8; i++)
        advance8(&prod, &cons);
    uint16_t type;
    uint32_t len;
    int err, bad = ray_ring_reserve(&prod, 1, max + 1) != NULL;
    uint8_t *p = ray_ring_reserve(&prod, 2, max);
    if (p) {
        fill(p, off, max);
        ray_ring_commit(&prod);
        const uint8_t *r = ray_ring_peek(&cons, &type, &len, &err);
        bad |= !r || type != 2 || !len_ok(len, max) || !intact(r, off, max);
    }
    free(t);
    return bad || !p;
}

/* A record of up to half the ring always fits in an empty ring, wherever
 * the positions are; anything larger never does. */
static void test_record_limits(void)
{
    const uint32_t max = RING_SIZE / 2 - sizeof(ray_msg_hdr);
    int bad = 0;
    for (uint32_t off = 0; off < RING_SIZE; off += 8)
        bad |= limits_at(off, max);
    ok(!bad, "at every offset: %u payload bytes fit an empty ring, %u are refused", max, max + 1);
    ray_ring prod, cons;
    test_ring *t = ring_new(RING_SIZE, &prod, &cons);
    ok(!ray_ring_reserve(&prod, 1, UINT32_MAX), "a payload of UINT32_MAX bytes is refused");
    free(t);
}

/* ---- malformed rings: the consumer must refuse, not read out of bounds */

typedef void (*corrupt_fn)(test_ring *t);

static void expect_eproto(corrupt_fn corrupt, const char *what)
{
    ray_ring prod, cons;
    test_ring *t = ring_new(RING_SIZE, &prod, &cons);
    for (int i = 0; i < 3; i++) {
        fill(ray_ring_reserve(&prod, 7, 16), (uint64_t)i, 16);
        ray_ring_commit(&prod);
    }
    corrupt(t);
    uint16_t type = 0;
    uint32_t len = 0;
    int err = 0;
    const uint8_t *p = ray_ring_peek(&cons, &type, &len, &err);
    int in_bounds = !p || (size_t)(p - t->data) + len <= RING_SIZE;
    ok(!p && err == RAY_EPROTO && in_bounds, "%s: peek reports RAY_EPROTO", what);
    if (p || err != RAY_EPROTO)
        diag("peek returned %p (offset %td, len %u), err %d", (const void *)p, p ? p - t->data : 0,
             len, err);
    free(t);
}

static ray_msg_hdr *first(test_ring *t)
{
    return (ray_msg_hdr *)t->data;
}
static void len_zero(test_ring *t)
{
    first(t)->len = 0;
}
static void len_short(test_ring *t)
{
    first(t)->len = 4;
}
static void len_unaligned(test_ring *t)
{
    first(t)->len = 20;
}
static void len_past_tail(test_ring *t)
{
    first(t)->len = 3 * 24 + 8;
}
static void len_huge(test_ring *t)
{
    first(t)->len = 0xfffffff8u;
}
static void pad_early(test_ring *t)
{
    first(t)->type = RAY_MSG_PAD;
}
static void tail_unaligned(test_ring *t)
{
    atomic_store(&t->hdr.tail, 4);
}
static void tail_behind(test_ring *t)
{
    atomic_store(&t->hdr.head, 8);
    atomic_store(&t->hdr.tail, 0);
}
static void tail_too_far(test_ring *t)
{
    atomic_store(&t->hdr.tail, RING_SIZE + 8);
}

/* A peer that also rewrites the size field in the shared header must not
 * make the consumer read past the data it attached. */
static void size_grown(test_ring *t)
{
    t->hdr.size = 1u << 20;
    atomic_store(&t->hdr.tail, 65536);
    first(t)->len = 65536;
}

static void test_malformed(void)
{
    expect_eproto(len_zero, "record length 0");
    expect_eproto(len_short, "record length shorter than its header");
    expect_eproto(len_unaligned, "record length not a multiple of 8");
    expect_eproto(len_past_tail, "record length past what the producer published");
    expect_eproto(len_huge, "record length 0xfffffff8");
    expect_eproto(pad_early, "PAD record that does not end at the end of the ring");
    expect_eproto(tail_unaligned, "producer position not a multiple of 8");
    expect_eproto(tail_behind, "producer position behind the consumer's");
    expect_eproto(tail_too_far, "producer more than a ring ahead");
    expect_eproto(size_grown, "size in the shared header grown after attach");
}

/* The producer (the node service, for the rings it writes) must not be
 * made to write past the ring either, whatever the shared header says. */
static void test_producer_bounds(void)
{
    ray_ring prod, cons;
    test_ring *t = ring_new(RING_SIZE, &prod, &cons);
    for (uint32_t i = 0; i < 4000 / 8; i++)
        advance8(&prod, &cons);
    t->hdr.size = 1u << 20; /* written by the consumer's process */
    uint8_t *p = ray_ring_reserve(&prod, 1, 2000);
    ok(!p || (size_t)(p - t->data) + 2000 <= RING_SIZE,
       "size grown in the shared header: reserve never hands out room past the ring");
    if (p)
        diag("reserve returned offset %td for 2000 bytes in a %u-byte ring", p - t->data,
             RING_SIZE);
    free(t);
}

/* ---- two processes */

#define STRESS_RECORDS 1000000u
#define STRESS_RING    (64u << 10)

typedef struct stress {
    ray_ring_hdr hdr;
    _Atomic uint32_t done;
    uint32_t pad[15];
    uint8_t data[STRESS_RING];
} stress;

static uint32_t stress_len(uint64_t seq)
{
    return (uint32_t)(seq * 2654435761u % 241);
}

/* Producer: blocks on the ring's space event count when the ring is full. */
static int stress_produce(stress *sh)
{
    ray_ring r;
    ray_ring_attach(&r, &sh->hdr, sh->data, STRESS_RING);
    for (uint64_t seq = 0; seq < STRESS_RECORDS; seq++) {
        uint32_t len = stress_len(seq);
        uint8_t *p;
        uint64_t deadline = ray_now_ns() + 10000000000ull;
        while (!(p = ray_ring_reserve(&r, (uint16_t)(seq % 60000), len))) {
            uint32_t s = ray_evc_prepare(&sh->hdr.space);
            if ((p = ray_ring_reserve(&r, (uint16_t)(seq % 60000), len))) {
                ray_evc_cancel(&sh->hdr.space);
                break;
            }
            ray_evc_wait(&sh->hdr.space, s, ray_now_ns() + 100000000ull);
            if (ray_now_ns() > deadline)
                return 2; /* consumer stuck, or a lost wake-up */
        }
        fill(p, seq, len);
        ray_ring_commit(&r);
    }
    atomic_store(&sh->done, 1);
    return 0;
}

static long stress_consume(stress *sh, long *bad)
{
    ray_ring r;
    ray_ring_attach(&r, &sh->hdr, sh->data, STRESS_RING);
    long got = 0;
    uint64_t deadline = ray_now_ns() + 12000000000ull;
    while (got < (long)STRESS_RECORDS && ray_now_ns() < deadline) {
        uint16_t type;
        uint32_t len;
        int err;
        const uint8_t *p = ray_ring_peek(&r, &type, &len, &err);
        if (err) {
            (*bad)++;
            break;
        }
        if (!p) {
            sched_yield();
            continue;
        }
        uint64_t seq = (uint64_t)got++;
        uint32_t want = stress_len(seq);
        if (type != seq % 60000 || !len_ok(len, want) || !intact(p, seq, want))
            (*bad)++;
        ray_ring_pop(&r);
        ray_ring_done(&r);
    }
    return got;
}

static void test_two_processes(void)
{
    stress *sh = unit_shared(sizeof(stress));
    ray_ring_init(&sh->hdr, STRESS_RING);
    pid_t pid = unit_fork();
    if (pid == 0)
        _exit(stress_produce(sh));
    long bad = 0, got = stress_consume(sh, &bad);
    if (got < (long)STRESS_RECORDS)
        kill(pid, SIGKILL);
    int st = unit_wait(pid);
    is_int(got, STRESS_RECORDS, "the consumer process received every record");
    is_int(bad, 0, "each in order with its type, length and payload intact");
    is_int(st, 0, "the producer process finished without timing out");
    ok(atomic_load(&sh->done) && ray_ring_empty(&(ray_ring){.hdr = &sh->hdr}),
       "nothing left in the ring");
    unit_unshare(sh, sizeof(stress));
}

int main(void)
{
    test_sizes_and_wrap();
    test_record_limits();
    test_malformed();
    test_producer_bounds();
    test_two_processes();
    return tap_done();
}
