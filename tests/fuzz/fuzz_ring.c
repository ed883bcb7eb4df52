/*
 * fuzz_ring.c - the consumer of the shared-memory message ring
 * (src/common/ring.c) over a ring that a buggy or dying producer left in
 * any state: the header's positions and size field and every data byte
 * come from the fuzzer.  The ring's real data is a heap buffer of the size
 * its owner mapped (so ASan sees a read past it).  Promises checked: every
 * record ray_ring_peek returns lies inside that buffer, is never a PAD
 * record, and its payload fits its record; a malformed ring is reported
 * (RAY_EPROTO) rather than followed; draining it ends after at most one
 * record per 8 bytes of ring.  A second half replays the fuzzer's bytes as
 * a script of producer and consumer steps on a sound ring that starts at
 * any position, and checks that what comes out is what went in, in order.
 */
#include "fuzz.h"

typedef struct ring_buf {
    ray_ring_hdr hdr;
    uint8_t *data;
    uint64_t size; /* bytes of data its owner mapped */
} ring_buf;

static void ring_buf_init(ring_buf *rb, fuzz_in *in)
{
    rb->size = 64ull << (fuzz_u8(in) & 7); /* 64 B .. 8 KiB */
    rb->data = malloc(rb->size);
    ray_ring_init(&rb->hdr, rb->size);
}

/* Drains a ring whose header and data are the fuzzer's. */
static void drain_corrupt(fuzz_in *in)
{
    ring_buf rb;
    ring_buf_init(&rb, in);
    uint8_t flags = fuzz_u8(in);
    uint64_t head = fuzz_u64(in), tail = fuzz_u64(in), size_field = fuzz_u64(in);
    if (flags & 1)
        rb.hdr.size = size_field; /* the header is shared: anyone may have written it */
    if (flags & 2)
        tail = head + (tail & (2 * rb.size - 1)); /* mostly plausible distances */
    for (uint64_t i = 0; i < rb.size; i++)
        rb.data[i] = in->n ? in->p[i % in->n] : 0;
    ray_ring r;
    atomic_store(&rb.hdr.head, head); /* as the producer left it before we attach */
    atomic_store(&rb.hdr.tail, tail);
    ray_ring_attach(&r, &rb.hdr, rb.data, rb.size);
    uint64_t max_records = rb.size / 8 + 1, k = 0;
    for (;; k++) {
        uint16_t type;
        uint32_t len;
        int err = 0;
        const uint8_t *p = ray_ring_peek(&r, &type, &len, &err);
        FUZZ_CHECK(err == 0 || err == RAY_EPROTO, "peek error %d", err);
        if (!p)
            break;
        FUZZ_CHECK(!err, "a record returned with error %d", err);
        FUZZ_CHECK(k < max_records, "more than %llu records in a %llu-byte ring",
                   (unsigned long long)max_records, (unsigned long long)rb.size);
        FUZZ_CHECK(type != RAY_MSG_PAD, "a PAD record returned as a message");
        FUZZ_CHECK(
            fuzz_inside(p - sizeof(ray_msg_hdr), sizeof(ray_msg_hdr) + len, rb.data, rb.size),
            "record of %u bytes at offset %td of a %llu-byte ring", len, p - rb.data,
            (unsigned long long)rb.size);
        volatile uint8_t sink = 0;
        for (uint32_t i = 0; i < len; i++) /* a consumer reads all of it */
            sink ^= p[i];
        (void)sink;
        ray_ring_pop(&r);
    }
    free(rb.data);
}

/* The fill byte of record seq: what the consumer expects to find. */
static uint8_t fill_of(uint64_t seq)
{
    return (uint8_t)(seq * 131 + 7);
}

/* Producer and consumer steps on a sound ring: FIFO, intact, bounded. */
static void run_script(fuzz_in *in)
{
    ring_buf rb;
    ring_buf_init(&rb, in);
    uint64_t start = (fuzz_u64(in) & ((1ull << 48) - 1)) & ~7ull;
    ray_ring prod, cons;
    atomic_store(&rb.hdr.head, start);
    atomic_store(&rb.hdr.tail, start);
    ray_ring_attach(&prod, &rb.hdr, rb.data, rb.size);
    ray_ring_attach(&cons, &rb.hdr, rb.data, rb.size);
    uint64_t sent = 0, got = 0, lens[256];
    while (in->n) {
        uint8_t op = fuzz_u8(in);
        if (op & 1) { /* produce a record of a length from the script */
            uint32_t len = op & 0x80 ? fuzz_u16(in) : fuzz_u8(in);
            uint64_t need = RAY_ALIGN_UP((uint64_t)len + sizeof(ray_msg_hdr), 8);
            if (sent - got == RAY_ARRAY_SIZE(lens))
                continue; /* our log of lengths is full */
            uint64_t used = atomic_load(&rb.hdr.tail) - atomic_load(&rb.hdr.head);
            uint8_t *p = ray_ring_reserve(&prod, (uint16_t)(sent % 1000), len);
            /* refused only when too big or full (a PAD is shorter than the record) */
            FUZZ_CHECK(p || need > rb.size / 2 || used + 2 * need > rb.size,
                       "reserve of %u bytes refused with %llu of %llu used", len,
                       (unsigned long long)used, (unsigned long long)rb.size);
            if (!p)
                continue;
            FUZZ_CHECK(fuzz_inside(p, len, rb.data, rb.size), "reserved room outside the ring");
            memset(p, fill_of(sent), len);
            ray_ring_commit(&prod);
            lens[sent++ % RAY_ARRAY_SIZE(lens)] = len;
            continue;
        }
        uint16_t type;
        uint32_t len;
        int err;
        const uint8_t *p = ray_ring_peek(&cons, &type, &len, &err);
        FUZZ_CHECK(!err, "a sound ring reported error %d", err);
        FUZZ_CHECK((p == NULL) == (sent == got), "peek %s with %llu records waiting",
                   p ? "found one" : "found none", (unsigned long long)(sent - got));
        if (!p)
            continue;
        FUZZ_CHECK(type == got % 1000 && len == lens[got % RAY_ARRAY_SIZE(lens)],
                   "record %llu: type %u len %u", (unsigned long long)got, type, len);
        for (uint32_t i = 0; i < len; i++)
            FUZZ_CHECK(p[i] == fill_of(got), "record %llu byte %u changed", (unsigned long long)got,
                       i);
        ray_ring_pop(&cons);
        got++;
    }
    free(rb.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    if (fuzz_u8(&in) & 1)
        run_script(&in);
    else
        drain_corrupt(&in);
    return 0;
}
