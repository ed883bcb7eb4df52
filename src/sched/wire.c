/*
 * wire.c - reading and writing the records of wire.h.  A peer is another
 * process, maybe of another version, maybe broken: every length, count
 * and offset is checked against the bytes that arrived before anything is
 * read through it; a bad record is an error, never a wild read.
 */
#include "wire.h"

#include <stdlib.h>

int wire_next(const uint8_t **p, const uint8_t *end, wire_rec *h, const uint8_t **payload)
{
    if (*p == end)
        return 0;
    if ((size_t)(end - *p) < sizeof(*h))
        return ray_err(RAY_EPROTO, "a message ends inside a record header");
    memcpy(h, *p, sizeof(*h));
    if (h->len % 8 || h->len > (size_t)(end - *p) - sizeof(*h) || !h->type || h->type >= W_TYPE_MAX)
        return ray_err(RAY_EPROTO, "record of type %u and %u bytes in %zu", h->type, h->len,
                       (size_t)(end - *p));
    *payload = *p + sizeof(*h);
    *p += sizeof(*h) + h->len;
    return 1;
}

int wire_fixed(const uint8_t *p, uint32_t len, void *out, size_t size, uint32_t tail,
               const void **rest)
{
    if (len < size || tail > len - size)
        return ray_err(RAY_EPROTO, "record of %u bytes, %zu + %u expected", len, size, tail);
    memcpy(out, p, size);
    if (rest)
        *rest = p + size;
    return 0;
}

int wire_task_parse(const uint8_t *p, uint32_t len, wire_task_view *v)
{
    if (len < sizeof(v->t))
        return ray_err(RAY_EPROTO, "task record of %u bytes", len);
    memcpy(&v->t, p, sizeof(v->t));
    const wire_task *t = &v->t;
    uint64_t head = sizeof(*t) + (uint64_t)t->nret * sizeof(sched_out);
    uint64_t strs = wire_pad8((uint64_t)t->name_len + t->res_len);
    if (t->nret > SCHED_MAX_RETURNS || t->nargs > SCHED_MAX_ARGS || t->name_len > SCHED_NAME_MAX ||
        head + strs + t->args_len > len || t->args_len % 8)
        return ray_err(RAY_EPROTO, "task record: %u outputs, %u args, %u + %u + %u bytes in %u",
                       t->nret, t->nargs, t->name_len, t->res_len, t->args_len, len);
    v->outs = (const sched_out *)(p + sizeof(*t));
    v->name = (const char *)(p + head);
    v->res = v->name + t->name_len;
    v->args = p + head + strs;
    return 0;
}

int wire_arg_next(const uint8_t **p, const uint8_t *end, uint32_t *kind, const void **val,
                  uint32_t *vlen, wire_ref *ref)
{
    sched_argrec rec;
    if ((size_t)(end - *p) < sizeof(rec))
        return ray_err(RAY_EPROTO, "task record ends inside an argument");
    memcpy(&rec, *p, sizeof(rec));
    uint64_t padded = wire_pad8(rec.len);
    if (padded > (size_t)(end - *p) - sizeof(rec))
        return ray_err(RAY_EPROTO, "argument of %u bytes overruns its record", rec.len);
    const uint8_t *data = *p + sizeof(rec);
    if (rec.kind == SCHED_ARG_REF) {
        if (rec.len != sizeof(*ref))
            return ray_err(RAY_EPROTO, "ref argument of %u bytes", rec.len);
        memcpy(ref, data, sizeof(*ref));
    } else if (rec.kind != SCHED_ARG_VAL) {
        return ray_err(RAY_EPROTO, "argument of kind %u", rec.kind);
    }
    *kind = rec.kind;
    *val = data;
    *vlen = rec.len;
    *p = data + padded;
    return 0;
}

int wire_out_next(const uint8_t **p, const uint8_t *end, wire_out *o, const void **bytes)
{
    if ((size_t)(end - *p) < sizeof(*o))
        return ray_err(RAY_EPROTO, "result ends inside an output");
    memcpy(o, *p, sizeof(*o));
    uint64_t padded = wire_pad8(o->len);
    if (padded > (size_t)(end - *p) - sizeof(*o) || o->kind < WIRE_OUT_INLINE ||
        o->kind > WIRE_OUT_ERROR || (o->kind == WIRE_OUT_INLINE && o->len != o->size))
        return ray_err(RAY_EPROTO, "output of kind %u, %u bytes", o->kind, o->len);
    *bytes = *p + sizeof(*o);
    *p += sizeof(*o) + padded;
    return 0;
}

void *wire_put(wire_buf *b, uint16_t type, uint32_t payload)
{
    size_t need = sizeof(wire_rec) + wire_pad8(payload);
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + need)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return NULL;
        b->data = d;
        b->cap = cap;
    }
    wire_rec h = {type, 0, (uint32_t)wire_pad8(payload)};
    memcpy(b->data + b->len, &h, sizeof(h));
    uint8_t *p = b->data + b->len + sizeof(h);
    memset(p, 0, h.len);
    b->len += need;
    return p;
}

void wire_buf_free(wire_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}
