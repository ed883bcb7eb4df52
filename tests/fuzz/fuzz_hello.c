/*
 * fuzz_hello.c - the handshake on a process's socket (src/sched/hello.c,
 * region.c): the hello a process sends, checked by the node service
 * (src/cli/node.c), the welcome the service answers, checked by the
 * process (src/client/init.c), and the layout a process reads from the
 * control region it was given (sched_attach).  The first byte picks which;
 * then come the receiver's parameters and the frame.  Promises checked:
 * a frame is accepted only if every field a receiver goes on to use is
 * sane (kinds, slots, pid, protocol version, terminated strings, a job
 * directory's name, node numbers, every part of the region inside it and
 * in order); otherwise RAY_EPROTO, or for a welcome that carries an error,
 * that error's known code and message, never a positive or unknown code.
 */
#include "fuzz.h"
#include "sched/sched.h"

static void check_hello(fuzz_in *in)
{
    int driver = fuzz_u8(in) & 1;
    uint32_t slot = fuzz_u32(in);
    uint16_t type = fuzz_u16(in);
    sock_hello *h = malloc(sizeof(*h));
    memset(h, 0xa5, sizeof(*h)); /* what a short frame leaves behind */
    uint32_t len = (uint32_t)RAY_MIN(in->n, sizeof(*h));
    memcpy(h, in->p, len);
    int rc = sched_hello_check(h, type, len, driver, slot);
    FUZZ_CHECK(rc == 0 || rc == RAY_EPROTO, "sched_hello_check returned %d", rc);
    if (!rc) {
        FUZZ_CHECK(type == SOCK_HELLO && len == sizeof(*h) && h->version == SCHED_PROTO_VERSION &&
                       h->pid > 0,
                   "accepted a hello of type %u, %u bytes, version %u, pid %d", type, len,
                   h->version, h->pid);
        FUZZ_CHECK(driver ? h->kind == CLIENT_DRIVER
                          : h->kind >= CLIENT_POOL && h->kind <= CLIENT_ACTOR && h->slot == slot,
                   "accepted kind %u slot %u on the socket of %s %u", h->kind, h->slot,
                   driver ? "the driver" : "slot", slot);
    }
    free(h);
}

static void check_welcome(fuzz_in *in)
{
    uint16_t type = fuzz_u16(in);
    int nfds = fuzz_u8(in) % 8;
    sock_welcome *w = malloc(sizeof(*w));
    memset(w, 0xa5, sizeof(*w));
    uint32_t len = (uint32_t)RAY_MIN(in->n, sizeof(*w));
    memcpy(w, in->p, len);
    int rc = sched_welcome_check(w, type, len, nfds);
    FUZZ_CHECK(rc <= 0 && strcmp(ray_errname(rc), "RAY_E?"), "sched_welcome_check returned %d", rc);
    if (rc && rc != RAY_EPROTO) {
        FUZZ_CHECK(rc == w->code && (!w->msg[0] || !strcmp(ray_last_error(), w->msg)),
                   "error %d passed on for a welcome with code %d", rc, w->code);
    } else if (!rc) {
        FUZZ_CHECK(type == SOCK_WELCOME && len == sizeof(*w) && w->code == 0 && nfds == 3,
                   "accepted type %u, %u bytes, code %d, %d descriptors", type, len, w->code, nfds);
        FUZZ_CHECK(memchr(w->msg, 0, sizeof(w->msg)) && memchr(w->jobdir, 0, sizeof(w->jobdir)),
                   "accepted a string without its end");
        FUZZ_CHECK(w->kind >= CLIENT_DRIVER && w->kind <= CLIENT_ACTOR && w->node < w->num_nodes,
                   "accepted kind %u, node %u of %u", w->kind, w->node, w->num_nodes);
        const char *base = strrchr(w->jobdir, '/');
        FUZZ_CHECK(!strncmp(base ? base + 1 : w->jobdir, "ray-mpi.", 8),
                   "accepted job directory '%s'", w->jobdir);
    }
    free(w);
}

/* What an accepted layout promises, said independently of region.c. */
static void check_layout_parts(const sched_layout *l)
{
    uint64_t client_min = sizeof(sched_client) + SCHED_C2S_RING + SCHED_S2C_RING +
                          (uint64_t)SCHED_HELD_MAX * sizeof(sched_out);
    FUZZ_CHECK(l->max_clients >= 1 && l->max_clients <= 65536, "%u process slots", l->max_clients);
    FUZZ_CHECK(l->store_off >= sizeof(*l) && l->store_size >= store_region_size(l->max_objects) &&
                   l->store_off + l->store_size <= l->sched_off &&
                   l->sched_off + sizeof(sched_region) <= l->tasks_off &&
                   l->tasks_off + (uint64_t)l->max_tasks * sizeof(sched_task) <= l->clients_off &&
                   l->client_size >= client_min &&
                   l->clients_off + (uint64_t)l->max_clients * l->client_size <= l->actors_off &&
                   l->actors_off + (uint64_t)l->max_actors * sizeof(sched_actor) <= l->total,
               "an accepted layout's parts overlap or leave the region");
}

static void check_layout(fuzz_in *in)
{
    sched_layout l;
    uint8_t how = fuzz_u8(in);
    if (how & 1) { /* a computed layout, one field then changed */
        uint32_t o = fuzz_u32(in), t = fuzz_u32(in), c = fuzz_u32(in), a = fuzz_u32(in);
        sched_layout_compute(&l, o, t, c, a, fuzz_u64(in));
        uint64_t word, delta = fuzz_u64(in);
        size_t at = (how >> 1) % (sizeof(l) / 8) * 8;
        memcpy(&word, (char *)&l + at, 8);
        word ^= delta;
        memcpy((char *)&l + at, &word, 8);
    } else {
        fuzz_take(in, &l, sizeof(l));
    }
    int rc = sched_layout_check(&l);
    FUZZ_CHECK(rc == 0 || rc == RAY_EPROTO, "sched_layout_check returned %d", rc);
    if (!rc)
        check_layout_parts(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    switch (fuzz_u8(&in) % 3) {
    case 0:
        check_hello(&in);
        break;
    case 1:
        check_welcome(&in);
        break;
    default:
        check_layout(&in);
        break;
    }
    return 0;
}
