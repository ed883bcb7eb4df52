/*
 * ring.c - the single-producer single-consumer message ring (common.h).
 * Positions are monotonic byte counters; a record is [ray_msg_hdr][payload]
 * rounded up to 8 bytes and never wraps (a PAD record fills the tail end).
 * The producer publishes with a release store of tail; the consumer trusts
 * nothing in a record until it has checked the length against what the
 * producer published.
 */
#include "common.h"

void ray_ring_init(ray_ring_hdr *hdr, uint64_t size)
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->size = size;
}

void ray_ring_attach(ray_ring *r, ray_ring_hdr *hdr, void *data, uint64_t size)
{
    r->hdr = hdr;
    r->data = data;
    /* The caller's size, never hdr->size: any process can write the
     * header, and a larger size there would send the consumer past the
     * data it mapped. */
    r->mask = size && !(size & (size - 1)) ? size - 1 : 0; /* 0: unusable */
    /* Nothing seen yet: a consumer loads the tail before it reads (0 would
     * take whatever lies between head and 0 as published). */
    r->cached = atomic_load_explicit(&hdr->head, memory_order_acquire);
}

void *ray_ring_reserve(ray_ring *r, uint16_t type, uint32_t len)
{
    uint64_t need = RAY_ALIGN_UP((uint64_t)len + sizeof(ray_msg_hdr), 8);
    uint64_t size = r->mask + 1;
    if (need > size / 2)
        return NULL;
    uint64_t tail = atomic_load_explicit(&r->hdr->tail, memory_order_relaxed);
    uint64_t off = tail & r->mask;
    uint64_t pad = (off + need > size) ? size - off : 0;
    if (tail + pad + need - r->cached > size) {
        r->cached = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        if (tail + pad + need - r->cached > size)
            return NULL;
    }
    if (pad) {
        ray_msg_hdr *p = (ray_msg_hdr *)(r->data + off);
        p->len = (uint32_t)pad;
        p->type = RAY_MSG_PAD;
        p->pad = 0;
        tail += pad;
        atomic_store_explicit(&r->hdr->tail, tail, memory_order_release);
        off = 0;
    }
    ray_msg_hdr *h = (ray_msg_hdr *)(r->data + off);
    h->len = (uint32_t)need;
    h->type = type;
    h->pad = (uint16_t)(need - sizeof(ray_msg_hdr) - len);
    return h + 1;
}

void ray_ring_commit(ray_ring *r)
{
    uint64_t tail = atomic_load_explicit(&r->hdr->tail, memory_order_relaxed);
    ray_msg_hdr *h = (ray_msg_hdr *)(r->data + (tail & r->mask));
    atomic_store_explicit(&r->hdr->tail, tail + h->len, memory_order_release);
}

const void *ray_ring_peek(ray_ring *r, uint16_t *type, uint32_t *len, int *err)
{
    *err = 0;
    for (;;) {
        uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
        if (head == r->cached) {
            r->cached = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
            if (head == r->cached)
                return NULL;
        }
        uint64_t size = r->mask + 1, avail = r->cached - head, off = head & r->mask;
        if (!r->mask || avail > size || avail < sizeof(ray_msg_hdr) || (off & 7)) {
            *err = RAY_EPROTO;
            return NULL;
        }
        const ray_msg_hdr *h = (const ray_msg_hdr *)(r->data + off);
        uint32_t l = h->len;
        if (l < sizeof(ray_msg_hdr) || (l & 7) || l > avail || off + l > size) {
            *err = RAY_EPROTO;
            return NULL;
        }
        if (h->type == RAY_MSG_PAD) {
            if (off + l != size) {
                *err = RAY_EPROTO;
                return NULL;
            }
            atomic_store_explicit(&r->hdr->head, head + l, memory_order_release);
            continue;
        }
        uint32_t pad = h->pad;
        if (pad > 7 || pad > l - sizeof(ray_msg_hdr)) {
            *err = RAY_EPROTO;
            return NULL;
        }
        r->cur_len = l;
        *type = h->type;
        *len = l - (uint32_t)sizeof(ray_msg_hdr) - pad;
        return h + 1;
    }
}

void ray_ring_pop(ray_ring *r)
{
    uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->head, head + r->cur_len, memory_order_release);
}
