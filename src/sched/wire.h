/*
 * wire.h - private to src/sched: the records node services send each other.
 * A network message is a run of records, each a header (type, length)
 * and a payload padded to 8 bytes; every record to one node in one pass of
 * the service's loop goes in one message (batching).  Every decoder checks
 * every length against what arrived before it trusts a byte (wire.c).
 */
#ifndef RAY_SCHED_WIRE_H
#define RAY_SCHED_WIRE_H

#include "sched.h"

enum wire_type {
    W_TASK = 1,        /* owner -> executor: run this task (wire_task) */
    W_RESULT,          /* executor -> owner: its outputs (wire_result) */
    W_FREE,            /* owner -> executor: temporary outputs pulled (sched_out[]) */
    W_PULL,            /* puller -> owner: send me this object (wire_pull) */
    W_PULLED,          /* owner -> puller: here it is, or where (wire_pulled) */
    W_UNPIN,           /* puller -> owner: done reading it (sched_out[]) */
    W_REF,             /* borrower -> owner: references it holds (wire_refdelta[]) */
    W_LOAD,            /* node -> rank 0: how busy it is (wire_load) */
    W_VIEW,            /* rank 0 -> all: how busy every node is (wire_view) */
    W_ACTOR_NEW,       /* creator -> actor's node: make this actor (wire_actor_new) */
    W_ACTOR_NEW_REPLY, /* actor's node -> creator (wire_actor_reply) */
    W_ACTOR_KILL,      /* anyone -> actor's node (sched_out) */
    W_NAME,            /* anyone -> rank 0: the job's actor names (wire_name) */
    W_NAME_REPLY,      /* rank 0 -> asker (wire_name) */
    W_STOP,            /* rank 0 -> all: the job ends (wire_stop) */
    W_RECLAIM,         /* a node whose store is full -> all: let go of idle copies of
                        * its objects now (wire_reclaim) */
    W_TYPE_MAX
};

typedef struct wire_rec {
    uint16_t type;
    uint16_t flags;
    uint32_t len; /* payload bytes after this header, a multiple of 8 */
} wire_rec;

/* An object anywhere in the job: its owner node, slot and generation. */
typedef struct wire_ref {
    uint32_t node, slot, gen, pad;
} wire_ref;

/* A task spec; then nret sched_out (the owner's outputs), name_len bytes of
 * name, res_len bytes of resources, padded to 8, then args_len bytes of
 * argument records: {u32 kind, u32 len} + the value padded to 8
 * (SCHED_ARG_VAL), or a wire_ref (SCHED_ARG_REF). */
typedef struct wire_task {
    uint32_t owner_task, owner_gen;
    uint64_t fn;
    uint32_t actor, actor_gen;
    uint32_t cpu_milli, gpu_milli;
    uint16_t nret, nargs;
    int16_t retries;
    uint8_t kind, flags;
    uint16_t res_len, name_len;
    uint32_t args_len;
} wire_task;

enum { WIRE_OUT_INLINE = 1, WIRE_OUT_AT = 2, WIRE_OUT_ERROR = 3 };

/* One output of a result: its bytes inline, or where they are in the
 * executor's arena (a temporary object to W_FREE once pulled), or an
 * error (code and message); len bytes follow, padded to 8. */
typedef struct wire_out {
    uint32_t kind;
    int32_t code;
    uint64_t size, offset;
    uint32_t temp_slot, temp_gen;
    uint32_t len, pad;
} wire_out;

typedef struct wire_result {
    uint32_t owner_task, owner_gen;
    uint32_t nret, pad; /* then nret wire_out, each with its bytes */
} wire_result;

typedef struct wire_pull {
    uint32_t slot, gen;         /* the owner's object */
    uint32_t req_slot, req_gen; /* the puller's copy */
} wire_pull;

/* code 0: kind says how (WIRE_OUT_INLINE with len bytes, or WIRE_OUT_AT:
 * size bytes at offset of the owner's arena, pinned until W_UNPIN); else
 * an error with len bytes of message. */
typedef struct wire_pulled {
    uint32_t req_slot, req_gen;
    uint32_t slot, gen;
    int32_t code;
    uint32_t kind;
    uint64_t size, offset;
    uint32_t len, pad;
} wire_pulled;

typedef struct wire_refdelta {
    uint32_t slot, gen;
    int32_t delta;
    uint32_t pad;
} wire_refdelta;

typedef struct wire_reclaim {
    uint64_t bytes; /* what the allocation that failed asked for (for the log) */
} wire_reclaim;

typedef struct wire_load {
    int32_t cpu_free_milli;
    uint32_t ready, workers, pad;
} wire_load;

typedef struct wire_view {
    uint32_t n, pad; /* then n wire_load, node by node */
} wire_view;

/* A wire_task of kind TASK_ACTOR_CREATE follows, and then the name. */
typedef struct wire_actor_new {
    uint32_t req, name_len;
} wire_actor_new;

typedef struct wire_actor_reply {
    uint32_t req;
    int32_t code;
    uint32_t slot, gen;
    uint32_t len, pad; /* then len bytes of message */
} wire_actor_reply;

enum { NAME_PUT = 1, NAME_SET, NAME_GET, NAME_DEL };
typedef struct wire_name {
    uint32_t op, req;
    int32_t code;
    uint32_t node, slot, gen;
    uint32_t name_len, pad; /* then the name */
} wire_name;

typedef struct wire_stop {
    int32_t code;
    uint32_t pad;
} wire_stop;

/* ---- decoding (wire.c): every length checked */

/* The next record of a message: 1 with *h and its payload, 0 at the end,
 * RAY_EPROTO if what is left is not a whole record. */
int wire_next(const uint8_t **p, const uint8_t *end, wire_rec *h, const uint8_t **payload);
/* A task record: the header, the owner's outputs, name, resources and the
 * argument records, each inside the payload. */
typedef struct wire_task_view {
    wire_task t;
    const sched_out *outs;
    const char *name, *res;
    const uint8_t *args;
} wire_task_view;
int wire_task_parse(const uint8_t *p, uint32_t len, wire_task_view *v);
/* The next argument of a task's records: kind, and its value or ref. */
int wire_arg_next(const uint8_t **p, const uint8_t *end, uint32_t *kind, const void **val,
                  uint32_t *vlen, wire_ref *ref);
/* A result's next output and its bytes. */
int wire_out_next(const uint8_t **p, const uint8_t *end, wire_out *o, const void **bytes);
/* A fixed record and the bytes that follow it (len of them). */
int wire_fixed(const uint8_t *p, uint32_t len, void *out, size_t size, uint32_t tail,
               const void **rest);

/* ---- encoding: records appended to a growable buffer */
typedef struct wire_buf {
    uint8_t *data;
    size_t len, cap;
} wire_buf;
/* Room for a record of type with payload bytes (zeroed, rounded up to 8). */
void *wire_put(wire_buf *b, uint16_t type, uint32_t payload);
void wire_buf_free(wire_buf *b);
static inline size_t wire_pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

#endif /* RAY_SCHED_WIRE_H */
