/*
 * sock.c - frame codec for the Unix socket between a process and its node
 * service (setup and rare control).  A frame is a ray_sock_hdr and a payload;
 * descriptors travel as SCM_RIGHTS on the same sendmsg.  The receiver checks
 * the magic, that the length fits its buffer and that no more descriptors
 * came than it asked for (extras are closed), before anything is trusted.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int ray_sock_send(int fd, uint16_t type, const void *buf, uint32_t len,
                  const int *fds, int nfds)
{
    ray_sock_hdr h = {RAY_SOCK_MAGIC, type, (uint16_t)nfds, len, 0};
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)buf, len}};
    union {
        struct cmsghdr c;
        char b[CMSG_SPACE(sizeof(int) * RAY_SOCK_MAX_FDS)];
    } ctl;
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = len ? 2 : 1;
    if (nfds > RAY_SOCK_MAX_FDS)
        return ray_err(RAY_EINVAL, "too many descriptors in one frame");
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    size_t total = sizeof(h) + len;
    for (;;) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ray_err_sys("send on the node service socket");
        if ((size_t)n != total)
            return ray_err(RAY_EPROTO, "short send on the node service socket");
        return 0;
    }
}

/* Polls at least once, so a deadline of "now" means "if ready". */
static int wait_readable(int fd, uint64_t deadline_ns)
{
    for (;;) {
        int ms = ray_ms_until(deadline_ns);
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, ms);
        if (rc > 0)
            return 0;
        if (rc == 0 && ms == 0)
            return ray_err(RAY_ETIMEDOUT, "no frame from the node service in time");
        if (rc < 0 && errno != EINTR)
            return ray_err_sys("poll on the node service socket");
    }
}

/* Keeps up to want descriptors of what came with a frame, closes the rest;
 * returns how many it kept. */
static int take_fds(struct msghdr *m, int *fds, int want)
{
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof(int));
            if (got < want)
                fds[got++] = f;
            else
                close(f);
        }
    }
    return got;
}

int ray_sock_check(const void *frame, size_t n, int msg_flags, int nfds, uint32_t cap,
                   uint16_t *type, uint32_t *len)
{
    static const char what[] = "malformed frame on the node service socket";
    ray_sock_hdr h;
    if (n < sizeof(h))
        return ray_err(RAY_EPROTO, "%s: %zu bytes, shorter than its header", what, n);
    if (msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return ray_err(RAY_EPROTO, "%s: %s truncated (%zu bytes)", what,
                       msg_flags & MSG_TRUNC ? "payload" : "descriptors", n);
    memcpy(&h, frame, sizeof(h));
    if (h.magic != RAY_SOCK_MAGIC)
        return ray_err(RAY_EPROTO, "%s: magic %#x", what, h.magic);
    if (h.len > cap || n - sizeof(h) != h.len)
        return ray_err(RAY_EPROTO, "%s: header says %u bytes of payload, %zu came, room for %u",
                       what, h.len, n - sizeof(h), cap);
    if (h.nfds != nfds)
        return ray_err(RAY_EPROTO, "%s: header says %u descriptors, %d came", what, h.nfds,
                       nfds);
    *type = h.type;
    *len = h.len;
    return 0;
}

int ray_sock_recv(int fd, uint16_t *type, void *buf, uint32_t cap, uint32_t *len,
                  int *fds, int *nfds, uint64_t deadline_ns)
{
    int want_fds = nfds ? *nfds : 0;
    if (nfds)
        *nfds = 0;
    int rc = wait_readable(fd, deadline_ns);
    if (rc)
        return rc;
    ray_sock_hdr h;
    union {
        struct cmsghdr c;
        char b[CMSG_SPACE(sizeof(int) * RAY_SOCK_MAX_FDS)];
    } ctl;
    /* SOCK_SEQPACKET: one recvmsg reads one whole frame, or flags it
     * truncated. */
    struct iovec iov[2] = {{&h, sizeof(h)}, {buf, cap}};
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof(ctl.b);
    ssize_t n;
    do
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return ray_err_sys("receive on the node service socket");
    int got = take_fds(&m, fds, want_fds);
    /* 0 bytes is end of file, or an empty frame (descriptors may come
     * with it): the caller takes it for end of file and keeps none. */
    if (n == 0 || (rc = ray_sock_check(&h, (size_t)n, m.msg_flags, got, cap, type, len))) {
        for (int i = 0; i < got; i++)
            close(fds[i]);
        return n == 0 ? 1 : rc;
    }
    if (nfds)
        *nfds = got;
    return 0;
}
