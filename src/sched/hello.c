/*
 * hello.c - the checks of the handshake on a process's socket (sched.h):
 * the node service's check of a process's hello and the process's check of
 * the service's welcome.  Pure functions of the frame, so the fuzzer runs
 * exactly the code the two sides run; nothing in a frame is trusted until
 * its check passed (lengths, the protocol version, kinds and slots, error
 * codes, terminated strings, and the job directory that the driver will
 * remove at shutdown).
 */
#include "sched.h"

int sched_hello_check(const sock_hello *h, uint16_t type, uint32_t len, int driver, uint32_t slot)
{
    static const char what[] = "bad hello on a process socket";
    if (type != SOCK_HELLO || len != sizeof(*h))
        return ray_err(RAY_EPROTO, "%s: frame type %u of %u bytes", what, type, len);
    if (h->version != SCHED_PROTO_VERSION)
        return ray_err(RAY_EPROTO,
                       "%s: protocol version %u, this node service speaks %u "
                       "(a program built against another ray-mpi?)",
                       what, h->version, SCHED_PROTO_VERSION);
    if (h->pid <= 0)
        return ray_err(RAY_EPROTO, "%s: pid %d", what, h->pid);
    if (driver && h->kind != CLIENT_DRIVER)
        return ray_err(RAY_EPROTO, "%s: the driver's socket says kind %u", what, h->kind);
    if (!driver && (h->kind < CLIENT_POOL || h->kind > CLIENT_ACTOR))
        return ray_err(RAY_EPROTO, "%s: a worker's socket says kind %u", what, h->kind);
    if (!driver && h->slot != slot)
        return ray_err(RAY_EPROTO, "%s: process %d says slot %u on the socket of slot %u", what,
                       h->pid, h->slot, slot);
    return 0;
}

/* A path the driver may remove at shutdown: one whose last component is a
 * job directory's name (ray_jobdir_create), not "/" or a home directory. */
static int jobdir_ok(const char *p)
{
    const char *slash = strrchr(p, '/'), *base = slash ? slash + 1 : p;
    return !strncmp(base, "ray-mpi.", 8);
}

int sched_welcome_check(const sock_welcome *w, uint16_t type, uint32_t len, int nfds)
{
    static const char what[] = "unexpected answer from the node service";
    if (type != SOCK_WELCOME || len != sizeof(*w))
        return ray_err(RAY_EPROTO, "%s: frame type %u of %u bytes", what, type, len);
    if (!memchr(w->msg, 0, sizeof(w->msg)) || !memchr(w->jobdir, 0, sizeof(w->jobdir)))
        return ray_err(RAY_EPROTO, "%s: a string without its end", what);
    if (w->code > 0 || !strcmp(ray_errname(w->code), "RAY_E?"))
        return ray_err(RAY_EPROTO, "%s: unknown code %d", what, w->code);
    if (w->code)
        return ray_err(w->code, "%s", w->msg);
    if (nfds != 3)
        return ray_err(RAY_EPROTO, "%s: %d descriptors, not 3", what, nfds);
    if (w->kind < CLIENT_DRIVER || w->kind > CLIENT_ACTOR)
        return ray_err(RAY_EPROTO, "%s: process kind %u", what, w->kind);
    if (w->node >= w->num_nodes)
        return ray_err(RAY_EPROTO, "%s: node %u of %u", what, w->node, w->num_nodes);
    if (!jobdir_ok(w->jobdir))
        return ray_err(RAY_EPROTO, "%s: job directory '%s' is not one ray-mpi makes", what,
                       w->jobdir);
    return 0;
}
