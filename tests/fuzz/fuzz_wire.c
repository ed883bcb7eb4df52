/*
 * fuzz_wire.c - the records node services send each other over the
 * network (src/sched/wire.c), as another node, perhaps of another version
 * or broken, could send them.  The first byte picks what the rest is: a
 * whole message, walked with wire_next, each record decoded as the node
 * service decodes it (dispatch in src/sched/cluster.c; remote.c, pull.c,
 * names.c: a task with wire_task_parse and its argument records with
 * wire_arg_next, a result's outputs with wire_out_next, the other records
 * with wire_fixed and the lengths each handler checks after it); or, for
 * one decoder alone at any length, not only whole records: a task record,
 * a run of argument records, a run of outputs, or a fixed record
 * (wire_fixed of the size and tail the next six bytes give, then the
 * record).  Promises checked: wire_next returns 1, 0 only at the end, or
 * RAY_EPROTO; the others 0 or RAY_EPROTO, an error always with its
 * message; what a decoder accepts is within the limits of wire.h (record
 * types and kinds, lengths multiples of 8, outputs, arguments and name
 * lengths under their maxima, an inline output's length its size) and is
 * what the bytes say; every pointer returned lies inside the bytes given,
 * with its whole length, in the order of wire.h; a cursor moves forward
 * by at least a header and never past the end, and stays where it was on
 * an error, so that every loop of the service ends.
 */
#include "fuzz.h"
#include "sched/wire.h"

enum { M_MESSAGE, M_TASK, M_ARGS, M_OUTS, M_FIXED, M_COUNT };

static volatile uint8_t sink;

/* How far p is past base, whatever they are. */
static size_t off(const void *p, const void *base)
{
    return (size_t)((uintptr_t)p - (uintptr_t)base);
}

/* A view inside [base, base+size), all of whose bytes can be read (ASan). */
static void check_view(const void *p, uint64_t n, const void *base, size_t size, const char *what)
{
    FUZZ_CHECK(n <= SIZE_MAX && fuzz_inside(p, (size_t)n, base, size),
               "%s (%llu bytes at %zu) outside its %zu bytes", what, (unsigned long long)n,
               off(p, base), size);
    const uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++)
        sink ^= b[i];
}

/* Before a decoder: no error, so that an error says it set its own. */
static void clear_error(void)
{
    ray_err(0, "%s", "");
}

/* rc is 0 (or 1 when one_ok), or RAY_EPROTO with a message. */
static void check_rc(int rc, int one_ok, const char *fn)
{
    FUZZ_CHECK(rc == 0 || (one_ok && rc == 1) || rc == RAY_EPROTO, "%s returned %d", fn, rc);
    if (rc == RAY_EPROTO)
        FUZZ_CHECK(ray_err_last_code() == RAY_EPROTO && ray_last_error()[0],
                   "%s returned RAY_EPROTO without saying why", fn);
}

/* wire_fixed, checked: the record copied from the front of p, rest after it. */
static int fixed(const uint8_t *p, uint32_t len, void *out, size_t size, uint32_t tail,
                 const void **rest)
{
    uint8_t *o = malloc(size ? size : 1); /* exact: a write past it is seen */
    const void *r = NULL;
    memset(o, 0xa5, size);
    clear_error();
    int rc = wire_fixed(p, len, o, size, tail, rest ? &r : NULL);
    check_rc(rc, 0, "wire_fixed");
    if (rc) {
        FUZZ_CHECK(!r, "wire_fixed failed but set rest");
    } else {
        FUZZ_CHECK(len >= size && len - size >= tail, "wire_fixed took %zu + %u bytes of %u", size,
                   tail, len);
        check_view(p, size, p, len, "a fixed record");
        FUZZ_CHECK(!memcmp(o, p, size), "wire_fixed's record is not the first %zu bytes", size);
        FUZZ_CHECK(!rest || r == p + size, "wire_fixed's rest at %zu, not %zu", off(r, p), size);
        if (rest)
            check_view(r, len - size, p, len, "what follows a fixed record");
        memcpy(out, o, size);
        if (rest)
            *rest = r;
    }
    free(o);
    return rc;
}

/* The argument records of [p, end): nargs of them (remote.c, body_size and
 * write_local_args), or all up to the end (until_end).  The first error. */
static int walk_args(const uint8_t *p, const uint8_t *end, uint32_t nargs, int until_end)
{
    const uint8_t *start = p;
    for (uint32_t i = 0; until_end ? p != end : i < nargs; i++) {
        const uint8_t *was = p;
        uint32_t kind = 0, vlen = 0;
        const void *val = NULL;
        wire_ref ref;
        clear_error();
        int rc = wire_arg_next(&p, end, &kind, &val, &vlen, &ref);
        check_rc(rc, 0, "wire_arg_next");
        if (rc) {
            FUZZ_CHECK(p == was && !val, "wire_arg_next failed but moved on");
            return rc;
        }
        sched_argrec rec;
        check_view(was, sizeof(rec), start, off(end, start), "an argument's header");
        memcpy(&rec, was, sizeof(rec));
        FUZZ_CHECK(kind == rec.kind && vlen == rec.len,
                   "argument %u: kind %u, %u bytes, not %u, %u", i, kind, vlen, rec.kind, rec.len);
        FUZZ_CHECK(kind == SCHED_ARG_VAL || kind == SCHED_ARG_REF, "argument %u of kind %u", i,
                   kind);
        FUZZ_CHECK(val == was + sizeof(rec), "argument %u's value %zu bytes after its header", i,
                   off(val, was));
        check_view(val, wire_pad8(vlen), start, off(end, start), "an argument's value");
        FUZZ_CHECK(off(p, val) == wire_pad8(vlen), "the cursor %zu bytes after a value of %u",
                   off(p, val), vlen);
        if (kind == SCHED_ARG_REF)
            FUZZ_CHECK(vlen == sizeof(ref) && !memcmp(&ref, val, sizeof(ref)),
                       "ref argument %u of %u bytes, or not its bytes", i, vlen);
        FUZZ_CHECK((uint64_t)(i + 1) * sizeof(rec) <= off(end, start), "%u arguments in %zu bytes",
                   i + 1, off(end, start));
    }
    return 0;
}

/* A task record (remote_on_task, names_on_actor_new), then its arguments. */
static void check_task(const uint8_t *p, uint32_t len)
{
    wire_task_view v;
    memset(&v, 0, sizeof(v));
    clear_error();
    int rc = wire_task_parse(p, len, &v);
    check_rc(rc, 0, "wire_task_parse");
    if (rc)
        return;
    const wire_task *t = &v.t;
    check_view(p, sizeof(*t), p, len, "a task's header");
    FUZZ_CHECK(!memcmp(t, p, sizeof(*t)), "the task's header is not its first bytes");
    FUZZ_CHECK(t->nret <= SCHED_MAX_RETURNS && t->nargs <= SCHED_MAX_ARGS &&
                   t->name_len <= SCHED_NAME_MAX && t->args_len % 8 == 0,
               "accepted %u outputs, %u args, a name of %u, %u bytes of args", t->nret, t->nargs,
               t->name_len, t->args_len);
    uint64_t outs_len = (uint64_t)t->nret * sizeof(sched_out);
    FUZZ_CHECK((const uint8_t *)v.outs == p + sizeof(*t) && off(v.name, v.outs) == outs_len &&
                   off(v.res, v.name) == t->name_len &&
                   off(v.args, v.name) == wire_pad8((size_t)t->name_len + t->res_len),
               "a task's parts not in the order of wire.h");
    check_view(v.outs, outs_len, p, len, "a task's outputs");
    check_view(v.name, t->name_len, p, len, "a task's name");
    check_view(v.res, t->res_len, p, len, "a task's resources");
    check_view(v.args, t->args_len, p, len, "a task's argument records");
    walk_args(v.args, v.args + t->args_len, t->nargs, 0);
}

/* The outputs of [p, end): n of them (remote_on_result), or all up to the
 * end (until_end).  The first error. */
static int walk_outs(const uint8_t *p, const uint8_t *end, uint32_t n, int until_end)
{
    const uint8_t *start = p;
    for (uint32_t i = 0; until_end ? p != end : i < n; i++) {
        const uint8_t *was = p;
        wire_out o;
        const void *bytes = NULL;
        clear_error();
        int rc = wire_out_next(&p, end, &o, &bytes);
        check_rc(rc, 0, "wire_out_next");
        if (rc) {
            FUZZ_CHECK(p == was && !bytes, "wire_out_next failed but moved on");
            return rc;
        }
        check_view(was, sizeof(o), start, off(end, start), "an output's header");
        FUZZ_CHECK(!memcmp(&o, was, sizeof(o)), "output %u is not its bytes", i);
        FUZZ_CHECK(o.kind >= WIRE_OUT_INLINE && o.kind <= WIRE_OUT_ERROR &&
                       (o.kind != WIRE_OUT_INLINE || o.len == o.size),
                   "accepted output %u of kind %u, %u bytes for %llu", i, o.kind, o.len,
                   (unsigned long long)o.size);
        FUZZ_CHECK(bytes == was + sizeof(o), "output %u's bytes %zu bytes after its header", i,
                   off(bytes, was));
        check_view(bytes, wire_pad8(o.len), start, off(end, start), "an output's bytes");
        FUZZ_CHECK(off(p, bytes) == wire_pad8(o.len), "the cursor %zu bytes after %u bytes",
                   off(p, bytes), o.len);
        FUZZ_CHECK((uint64_t)(i + 1) * sizeof(o) <= off(end, start), "%u outputs in %zu bytes",
                   i + 1, off(end, start));
    }
    return 0;
}

/* An array of n-byte items (W_FREE, W_UNPIN, W_REF): what fits is read. */
static void check_array(const uint8_t *p, uint32_t len, size_t item)
{
    for (uint32_t i = 0; i + item <= len; i += (uint32_t)item)
        check_view(p + i, item, p, len, "an item of an array record");
}

/* pull_on_pulled: the answer, then its bytes (or message) if all arrived. */
static void check_pulled(const uint8_t *p, uint32_t len)
{
    wire_pulled w;
    const void *bytes;
    if (!fixed(p, len, &w, sizeof(w), 0, &bytes) && w.len <= len - sizeof(w))
        check_view(bytes, w.len, p, len, "a pulled object's bytes");
}

/* names_on_name: the request, then the name if it is all there. */
static void check_name(const uint8_t *p, uint32_t len)
{
    wire_name w;
    const void *name;
    if (!fixed(p, len, &w, sizeof(w), 0, &name) && w.name_len <= len - sizeof(w) &&
        w.name_len < SCHED_ACTOR_NAME_MAX)
        check_view(name, w.name_len, p, len, "a name");
}

static void check_actor_new(const uint8_t *p, uint32_t len)
{
    wire_actor_new w;
    const void *name;
    if (fixed(p, len, &w, sizeof(w), 0, &name) || w.name_len >= SCHED_ACTOR_NAME_MAX ||
        wire_pad8(w.name_len) > len - sizeof(w))
        return;
    check_view(name, w.name_len, p, len, "an actor's name");
    check_task((const uint8_t *)name + wire_pad8(w.name_len),
               len - (uint32_t)(sizeof(w) + wire_pad8(w.name_len)));
}

static void check_view_rec(const uint8_t *p, uint32_t len)
{
    wire_view v;
    const void *rest;
    if (!fixed(p, len, &v, sizeof(v), 0, &rest) &&
        (uint64_t)v.n * sizeof(wire_load) <= len - sizeof(v))
        check_view(rest, (uint64_t)v.n * sizeof(wire_load), p, len, "a view's loads");
}

/* The records read as one struct (wire_fixed, nothing after it) and the
 * arrays of items, by type; the others have their own function. */
static const size_t fixed_size[W_TYPE_MAX] = {
    [W_PULL] = sizeof(wire_pull),
    [W_LOAD] = sizeof(wire_load),
    [W_ACTOR_NEW_REPLY] = sizeof(wire_actor_reply),
    [W_ACTOR_KILL] = sizeof(sched_out),
    [W_NAME_REPLY] = sizeof(wire_name),
    [W_RECLAIM] = sizeof(wire_reclaim),
};
static const size_t item_size[W_TYPE_MAX] = {
    [W_FREE] = sizeof(sched_out), [W_UNPIN] = sizeof(sched_out), [W_REF] = sizeof(wire_refdelta)};

static void check_result(const uint8_t *p, uint32_t len)
{
    wire_result r;
    const void *rest;
    if (!fixed(p, len, &r, sizeof(r), 0, &rest))
        walk_outs(rest, p + len, r.nret, 0);
}

/* One record's payload, as its handler reads it (W_STOP: nothing read). */
static void check_record(uint16_t type, const uint8_t *p, uint32_t len)
{
    static void (*const special[W_TYPE_MAX])(const uint8_t *, uint32_t) = {
        [W_TASK] = check_task,     [W_RESULT] = check_result,       [W_PULLED] = check_pulled,
        [W_VIEW] = check_view_rec, [W_ACTOR_NEW] = check_actor_new, [W_NAME] = check_name,
    };
    uint8_t rec[64];
    if (special[type])
        special[type](p, len);
    else if (fixed_size[type])
        fixed(p, len, rec, fixed_size[type], 0, NULL);
    else if (item_size[type])
        check_array(p, len, item_size[type]);
}

/* A message, record by record (cluster.c, dispatch). */
static void check_message(const uint8_t *msg, size_t size)
{
    const uint8_t *p = msg, *end = msg + size;
    size_t records = 0;
    for (;;) {
        const uint8_t *was = p, *payload = NULL;
        wire_rec h;
        clear_error();
        int rc = wire_next(&p, end, &h, &payload);
        check_rc(rc, 1, "wire_next");
        if (rc != 1) {
            FUZZ_CHECK(p == was && !payload, "wire_next returned %d but moved on", rc);
            FUZZ_CHECK(rc || p == end, "wire_next ended %zu bytes before the end", off(end, p));
            return;
        }
        check_view(was, sizeof(h), msg, size, "a record's header");
        FUZZ_CHECK(!memcmp(&h, was, sizeof(h)), "the record's header is not its bytes");
        FUZZ_CHECK(h.type && h.type < W_TYPE_MAX && h.len % 8 == 0,
                   "accepted a record of type %u and %u bytes", h.type, h.len);
        FUZZ_CHECK(payload == was + sizeof(h), "a payload %zu bytes after its header",
                   off(payload, was));
        check_view(payload, h.len, msg, size, "a record's payload");
        FUZZ_CHECK(off(p, payload) == h.len, "the cursor %zu bytes after %u bytes of payload",
                   off(p, payload), h.len);
        FUZZ_CHECK(++records <= size / sizeof(h), "%zu records in %zu bytes", records, size);
        check_record(h.type, payload, h.len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    int mode = fuzz_u8(&in) % M_COUNT;
    size_t want = 0;
    uint32_t tail = 0;
    if (mode == M_FIXED) {
        want = fuzz_u16(&in);
        tail = fuzz_u32(&in);
    }
    if (in.n > UINT32_MAX)
        return 0;
    uint8_t *b = malloc(in.n ? in.n : 1); /* exact: ASan sees a read past the end */
    memcpy(b, in.p, in.n);
    uint32_t n = (uint32_t)in.n;
    switch (mode) {
    case M_MESSAGE:
        check_message(b, n);
        break;
    case M_TASK:
        check_task(b, n);
        break;
    case M_ARGS:
        walk_args(b, b + n, 0, 1);
        break;
    case M_OUTS:
        walk_outs(b, b + n, 0, 1);
        break;
    default: {
        uint8_t *out = malloc(want ? want : 1);
        const void *rest;
        fixed(b, n, out, want, tail, &rest);
        free(out);
        break;
    }
    }
    free(b);
    return 0;
}
