/*
 * fuzz_sock.c - frames on the socket between a process and its node
 * service (src/common/sock.c).  The fuzzer's bytes are a frame as a
 * broken or hostile peer could send it, after two bytes that choose the
 * receiver's buffer and how many descriptors go with the frame and are
 * asked for.  The frame goes twice through the receiver's checks:
 *   - ray_sock_check, the pure function: it accepts exactly the frames
 *     whose magic, payload length (against what came and the buffer) and
 *     descriptor count are right, and then returns the header's type and
 *     length;
 *   - ray_sock_recv on a real SOCK_SEQPACKET socket pair, with the frame
 *     sent as it is and descriptors attached: it returns 0, 1 (end of
 *     file) or RAY_EPROTO, writes nothing past the buffer, hands over only
 *     the descriptors of a frame it accepts and leaks none.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SEND_FDS 7  /* more than RAY_SOCK_MAX_FDS: the control buffer truncates */
#define FD_WINDOW    64 /* descriptors from the lowest free one that are watched for leaks */

static const uint32_t caps[8] = {0, 8, 16, 64, 256, 1024, 4096, 65536};

typedef struct params {
    uint32_t cap;
    int send_fds, want_fds, flags;
} params;

static params read_params(fuzz_in *in)
{
    uint8_t a = fuzz_u8(in), b = fuzz_u8(in);
    params p = {caps[a & 7], b & 7, (b >> 3) & 7, 0};
    if (p.want_fds > RAY_SOCK_MAX_FDS)
        p.want_fds = RAY_SOCK_MAX_FDS;
    p.flags = (a & 0x40 ? MSG_TRUNC : 0) | (a & 0x80 ? MSG_CTRUNC : 0);
    return p;
}

/* What a well-formed frame is, said independently of sock.c. */
static int well_formed(const uint8_t *f, size_t n, int flags, int nfds, uint32_t cap)
{
    ray_sock_hdr h;
    if (n < sizeof(h) || (flags & (MSG_TRUNC | MSG_CTRUNC)))
        return 0;
    memcpy(&h, f, sizeof(h));
    return h.magic == RAY_SOCK_MAGIC && h.len <= cap && h.len == n - sizeof(h) && h.nfds == nfds;
}

static void check_pure(const uint8_t *f, size_t n, const params *p)
{
    uint16_t type = 0;
    uint32_t len = 0;
    ray_sock_hdr h;
    int rc = ray_sock_check(f, n, p->flags, p->send_fds, p->cap, &type, &len);
    int good = well_formed(f, n, p->flags, p->send_fds, p->cap);
    FUZZ_CHECK(rc == 0 || rc == RAY_EPROTO, "ray_sock_check returned %d", rc);
    FUZZ_CHECK((rc == 0) == good, "ray_sock_check %s a frame that is %swell formed (%zu bytes)",
               rc ? "refused" : "accepted", good ? "" : "not ", n);
    if (rc) {
        FUZZ_CHECK(ray_last_error()[0], "a refused frame has a message");
        return;
    }
    memcpy(&h, f, sizeof(h));
    FUZZ_CHECK(type == h.type && len == h.len && len <= p->cap, "type %u len %u", type, len);
}

/* The lowest free descriptor number: received descriptors land there. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* Which of the descriptors low .. low + FD_WINDOW - 1 are closed (bit i). */
static uint64_t closed_from(int low)
{
    uint64_t closed = 0;
    for (int i = 0; i < FD_WINDOW; i++)
        if (fcntl(low + i, F_GETFD) < 0)
            closed |= 1ull << i;
    return closed;
}

static int send_frame(int sock, const uint8_t *f, size_t n, int nfds)
{
    int fds[MAX_SEND_FDS];
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(fds))];
    } ctl;
    struct iovec iov = {(void *)f, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    for (int i = 0; i < nfds; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nfds) {
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t sent = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return sent == (ssize_t)n ? 0 : -1;
}

static void check_socket(int sv[2], const uint8_t *f, size_t n, const params *p)
{
    int low = lowest_free_fd();
    uint64_t closed = closed_from(low);
    if (send_frame(sv[0], f, n, p->send_fds))
        return; /* too big for the socket: nothing to receive */
    uint8_t *buf = malloc(p->cap ? p->cap : 1);
    int fds[RAY_SOCK_MAX_FDS], nfds = p->want_fds;
    uint16_t type = 0;
    uint32_t len = 0;
    int rc = ray_sock_recv(sv[1], &type, buf, p->cap, &len, fds, &nfds, ray_now_ns() + 1000000000);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == RAY_EPROTO, "ray_sock_recv returned %d", rc);
    FUZZ_CHECK(nfds >= 0 && nfds <= p->want_fds, "%d descriptors handed over, %d asked for", nfds,
               p->want_fds);
    FUZZ_CHECK(rc == 0 || nfds == 0, "rc %d, yet %d descriptors handed over", rc, nfds);
    FUZZ_CHECK(rc != 1 || n == 0, "end of file reported for a frame of %zu bytes", n);
    if (rc == 0) {
        ray_sock_hdr h;
        FUZZ_CHECK(n >= sizeof(h), "a %zu-byte frame accepted", n);
        memcpy(&h, f, sizeof(h));
        FUZZ_CHECK(h.magic == RAY_SOCK_MAGIC && type == h.type && len == h.len &&
                       len == n - sizeof(h) && len <= p->cap && nfds == h.nfds,
                   "accepted: type %u len %u nfds %d", type, len, nfds);
        FUZZ_CHECK(!len || !memcmp(buf, f + sizeof(h), len), "payload changed on the way");
    }
    for (int i = 0; i < nfds; i++)
        FUZZ_CHECK(fcntl(fds[i], F_GETFD) >= 0, "descriptor %d handed over is not open", fds[i]);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    uint64_t leaked = closed & ~closed_from(low);
    FUZZ_CHECK(!leaked, "descriptor %d left open (rc %d)",
               low + __builtin_ctzll(leaked | 1ull << 63), rc);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int sv[2] = {-1, -1};
    if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fuzz_in in = {data, size};
    params p = read_params(&in);
    check_pure(in.p, in.n, &p);
    check_socket(sv, in.p, in.n, &p);
    return 0;
}
