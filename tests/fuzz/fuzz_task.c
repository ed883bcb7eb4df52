/*
 * fuzz_task.c - task specs in a task slot, as their submitter (any process
 * of the node, perhaps a broken one) left them: the slot's header fields
 * (outputs, arguments, resources, body length, body object) and its body,
 * inline or in a body object of the store, come from the fuzzer; the body
 * object's table entry may be corrupted too.  The control region and
 * arena are real and small (sched_layout_compute, sched_region_init on a
 * memfd, sched_attach, as the node service makes them).  Promises checked
 * for sched_task_decode, sched_args_decode, sched_task_outputs,
 * sched_task_res and sched_out_ok: an error code or views that all lie
 * inside the body, and the body inside the memory that holds it (the
 * slot's inline bytes, the entry's inline bytes or the arena); arguments
 * only of the two kinds; the same answer from both decoders.
 */
#include "fuzz.h"
#include "unit/unit.h"

#define MAX_OBJECTS 64
#define ARENA_SIZE  (1u << 20)

enum {
    F_IN_OBJECT = 1, /* the body is in a store object */
    F_CORRUPT = 2,   /* ...whose entry (size, block, offset) is the fuzzer's */
    F_RAW_OBJ = 4,   /* body_obj is any number */
    F_EXACT_LEN = 8, /* body_len is the length of the body written */
};

typedef struct spec {
    uint8_t flags;
    uint32_t obj;       /* the body object we made, 0 if none */
    store_obj saved;    /* its entry before corruption */
    const uint8_t *mem; /* memory that holds the body */
    size_t mem_size;
} spec;

static unit_node *node(void)
{
    static unit_node u;
    static int ready;
    if (!ready && unit_node_create(&u, MAX_OBJECTS, 8, 2, 2, ARENA_SIZE, 1))
        fuzz_fail(__FILE__, __LINE__, "setup", "no control region: %s", ray_last_error());
    ready = 1;
    return &u;
}

/* Puts the body's bytes where the flags say and sets t->body_obj. */
static void place_body(sched *s, sched_task *t, spec *sp, fuzz_in *in, const uint8_t *body,
                       size_t n)
{
    if (!(sp->flags & F_IN_OBJECT)) {
        memcpy(t->body, body, RAY_MIN(n, SCHED_BODY_INLINE));
        return;
    }
    void *p;
    if (store_obj_new(&s->st, STORE_SEALED, 1, &sp->obj) || store_obj_alloc(&s->st, sp->obj, n, &p))
        fuzz_fail(__FILE__, __LINE__, "setup", "no body object: %s", ray_last_error());
    memcpy(p, body, n);
    t->body_obj = sp->obj;
    store_obj *o = store_obj_at(&s->st, sp->obj);
    sp->saved = *o;
    if (sp->flags & F_CORRUPT) {
        o->size = fuzz_u64(in);
        o->block = fuzz_u32(in);
        o->u.offset = fuzz_u64(in);
    }
}

/* The memory the body is in, by what the slot and the table say now. */
static void body_memory(const sched *s, const sched_task *t, spec *sp)
{
    sp->mem = NULL;
    sp->mem_size = 0;
    if (!t->body_obj) {
        sp->mem = t->body;
        sp->mem_size = SCHED_BODY_INLINE;
    } else if (t->body_obj < s->st.max_objects && s->st.objs[t->body_obj].block) {
        sp->mem = s->st.arena_ro;
        sp->mem_size = s->st.arena_size;
    } else if (t->body_obj < s->st.max_objects) {
        sp->mem = s->st.objs_ro[t->body_obj].u.inl;
        sp->mem_size = STORE_INLINE_MAX;
    }
}

static void check_views(const sched_task *t, const spec *sp, const sched_out *outs,
                        const sched_arg_view *v)
{
    const uint8_t *b = (const uint8_t *)outs;
    uint32_t len = t->body_len, head = (uint32_t)t->nret * sizeof(sched_out);
    FUZZ_CHECK(sp->mem && fuzz_inside(b, len, sp->mem, sp->mem_size),
               "a body of %u bytes at %p outside its memory (%p, %zu bytes)", len, (void *)b,
               (const void *)sp->mem, sp->mem_size);
    FUZZ_CHECK(t->nret <= SCHED_MAX_RETURNS && head <= len, "%u outputs in %u bytes", t->nret, len);
    for (uint32_t i = 0; i < t->nargs; i++) {
        FUZZ_CHECK(v[i].kind == SCHED_ARG_VAL || v[i].kind == SCHED_ARG_REF,
                   "argument %u of kind %u", i, v[i].kind);
        if (v[i].kind == SCHED_ARG_REF)
            FUZZ_CHECK(v[i].len == sizeof(ray_id), "ref argument %u of %u bytes", i, v[i].len);
        else
            FUZZ_CHECK(fuzz_inside(v[i].data, v[i].len, b + head, len - head),
                       "value argument %u (%u bytes) outside the body", i, v[i].len);
    }
}

static void check_same(const sched_task *t, const sched_arg_view *a, const sched_arg_view *b)
{
    for (uint32_t i = 0; i < t->nargs; i++)
        FUZZ_CHECK(
            a[i].kind == b[i].kind && a[i].len == b[i].len &&
                (a[i].kind != SCHED_ARG_VAL || a[i].data == b[i].data) &&
                (a[i].kind != SCHED_ARG_REF || !memcmp(&a[i].ref, &b[i].ref, sizeof(ray_id))),
            "the two decoders disagree on argument %u", i);
}

static int check_decoders(const sched *s, const sched_task *t, const spec *sp)
{
    sched_arg_view *v = malloc(((size_t)t->nargs + 1) * sizeof(*v)); /* exact: ASan */
    const sched_out *outs = NULL, *outs2 = NULL;
    int rc = sched_task_decode(s, t, &outs, v);
    FUZZ_CHECK(rc == 0 || rc == RAY_EPROTO, "sched_task_decode returned %d", rc);
    if (!rc)
        check_views(t, sp, outs, v);
    sched_args a;
    int rc2 = sched_args_decode(s, t, &outs2, &a);
    FUZZ_CHECK(rc2 == rc, "sched_args_decode returned %d, sched_task_decode %d", rc2, rc);
    if (!rc2) {
        FUZZ_CHECK(outs2 == outs, "the two decoders disagree on the outputs");
        check_same(t, v, a.v);
        sched_args_free(&a);
    }
    free(v);
    return rc == 0;
}

static void check_outputs(const sched *s, const sched_task *t, const spec *sp, int decoded)
{
    const sched_out *outs;
    uint32_t n = sched_task_outputs(s, t, &outs);
    FUZZ_CHECK(n <= SCHED_MAX_RETURNS && (!decoded || n == t->nret), "%u outputs of %u", n,
               t->nret);
    if (!n)
        return;
    FUZZ_CHECK(sp->mem && fuzz_inside(outs, n * sizeof(sched_out), sp->mem, sp->mem_size) &&
                   n * sizeof(sched_out) <= t->body_len,
               "%u outputs outside the body", n);
    for (uint32_t i = 0; i < n; i++)
        if (sched_out_ok(s, outs[i]))
            FUZZ_CHECK(outs[i].slot && outs[i].slot < s->st.max_objects, "output slot %u",
                       outs[i].slot);
}

static void check_res(const sched *s, const sched_task *t, const spec *sp)
{
    int len = -1;
    const char *res = sched_task_res(s, t, &len);
    FUZZ_CHECK(res ? len > 0 && (uint32_t)len == t->res_len : len == 0, "resources %p, %d bytes",
               (const void *)res, len);
    if (!res)
        return;
    FUZZ_CHECK(sp->mem && fuzz_inside(res, (size_t)len, sp->mem, sp->mem_size),
               "resources outside the body's memory");
    const uint8_t *body = sched_task_body(s, t);
    FUZZ_CHECK(fuzz_inside(res, (size_t)len, body, t->body_len), "resources outside the body");
    volatile char sink = 0;
    for (int i = 0; i < len; i++)
        sink ^= res[i];
    (void)sink;
}

static void cleanup(sched *s, spec *sp)
{
    if (!sp->obj)
        return;
    *store_obj_at(&s->st, sp->obj) = sp->saved; /* what the allocator gave it */
    store_obj_unref(&s->st, sp->obj);
    store_stats st;
    store_get_stats(&s->st, &st);
    FUZZ_CHECK(st.objects_live == 0 && st.used_bytes == 0 && store_check(&s->st) == 0,
               "the store is not back to empty (%llu objects)",
               (unsigned long long)st.objects_live);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sched *s = &node()->sh;
    sched_task *t = sched_task_at(s, 1);
    fuzz_in in = {data, size};
    spec sp = {.flags = fuzz_u8(&in)};
    memset(t, 0, sizeof(*t));
    t->kind = fuzz_u8(&in) % 3;
    t->nret = fuzz_u16(&in);
    t->nargs = fuzz_u16(&in);
    t->res_len = fuzz_u16(&in);
    t->body_len = fuzz_u32(&in);
    uint32_t raw_obj = fuzz_u32(&in);
    uint8_t corrupt[20] = {0};
    fuzz_in cin = {corrupt, sizeof(corrupt)};
    fuzz_take(&in, corrupt, sp.flags & F_CORRUPT ? sizeof(corrupt) : 0);
    if (sp.flags & F_EXACT_LEN)
        t->body_len = (uint32_t)in.n;
    place_body(s, t, &sp, &cin, in.p, in.n);
    if (sp.flags & F_RAW_OBJ)
        t->body_obj = raw_obj;
    body_memory(s, t, &sp);
    int decoded = check_decoders(s, t, &sp);
    check_outputs(s, t, &sp, decoded);
    check_res(s, t, &sp);
    cleanup(s, &sp);
    return 0;
}
