/*
 * test_sock.c - the frame codec on the Unix SOCK_SEQPACKET socket between a
 * process and its node service (src/common/sock.c).  A frame's type,
 * payload and descriptors arrive intact and the descriptors work; a frame
 * larger than the receiver's buffer, a bad magic, a short frame and a
 * descriptor count that does not match are RAY_EPROTO, with every
 * descriptor that came closed; orderly EOF returns 1; a deadline of now
 * times out at once when nothing is there.
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>

static int sv[2];

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/* The n lowest free descriptor numbers: where received descriptors land. */
static void next_free_fds(int *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = open("/dev/null", O_RDONLY);
    for (int i = 0; i < n; i++)
        close(out[i]);
}

static void test_round_trip(void)
{
    int p1[2], p2[2];
    ok(pipe(p1) == 0 && pipe(p2) == 0, "two pipes");
    const char msg[] = "hello, node service";
    int send_fds[3] = {p1[0], p1[1], p2[1]};
    is_rc(ray_sock_send(sv[0], 42, msg, sizeof(msg), send_fds, 3), 0, "send a frame with 3 fds");
    char buf[64];
    uint16_t type = 0;
    uint32_t len = 0;
    int fds[4] = {-1, -1, -1, -1}, nfds = 4;
    is_rc(ray_sock_recv(sv[1], &type, buf, sizeof(buf), &len, fds, &nfds, UINT64_MAX), 0,
          "receive it");
    is_int(type, 42, "type intact");
    ok(len == sizeof(msg) && !memcmp(buf, msg, sizeof(msg)), "payload intact");
    is_int(nfds, 3, "3 descriptors came");
    ok(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, "received descriptors are close-on-exec");
    ok(write(fds[1], "x", 1) == 1 && read(p1[0], buf, 1) == 1 && buf[0] == 'x',
       "the received write end feeds the original pipe");
    ok(write(p1[1], "y", 1) == 1 && read(fds[0], buf, 1) == 1 && buf[0] == 'y',
       "the received read end reads from it");
    ok(write(fds[2], "z", 1) == 1 && read(p2[0], buf, 1) == 1 && buf[0] == 'z',
       "the third descriptor works too");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
}

static void test_empty_payload(void)
{
    uint16_t type = 0;
    uint32_t len = 99;
    char buf[8];
    is_rc(ray_sock_send(sv[0], 7, NULL, 0, NULL, 0), 0, "send a frame without payload");
    is_rc(ray_sock_recv(sv[1], &type, buf, sizeof(buf), &len, NULL, NULL, UINT64_MAX), 0,
          "receive it without asking for descriptors");
    ok(type == 7 && len == 0, "type 7, length 0");
}

/* A frame the receiver must refuse: RAY_EPROTO, and the descriptors that
 * came with it closed, not leaked. */
static void expect_refused(const char *what, uint32_t cap, int want_fds)
{
    char buf[256];
    uint16_t type;
    uint32_t len;
    int fds[4] = {-1, -1, -1, -1}, nfds = want_fds, landing[3];
    next_free_fds(landing, 3);
    int before = open_fds();
    is_rc(ray_sock_recv(sv[1], &type, buf, cap, &len, fds, &nfds, UINT64_MAX), RAY_EPROTO,
          "%s: RAY_EPROTO", what);
    is_int(nfds, 0, "%s: no descriptor handed to the caller", what);
    ok(!fd_is_open(landing[0]) && !fd_is_open(landing[1]) && !fd_is_open(landing[2]) &&
           open_fds() == before,
       "%s: the descriptors that came are closed", what);
}

static void send_with_pipe_fds(const void *payload, uint32_t len, int *p)
{
    int fds[3];
    if (pipe(p) < 0)
        return;
    fds[0] = p[0];
    fds[1] = fds[2] = p[1];
    ray_sock_send(sv[0], 1, payload, len, fds, 3);
}

/* The pipe's write end, if no copy of it was leaked, is closed everywhere
 * once ours is: reading sees end of file. */
static void expect_write_end_gone(int *p, const char *what)
{
    char c;
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK); /* a leaked copy: EAGAIN, not a hang */
    ok(read(p[0], &c, 1) == 0, "%s: no copy of the pipe's write end survives", what);
    close(p[0]);
}

static void test_too_big(void)
{
    char big[200] = {0};
    int p[2];
    send_with_pipe_fds(big, sizeof(big), p);
    expect_refused("frame larger than the receiver's buffer", 64, 4);
    expect_write_end_gone(p, "frame larger than the buffer");
}

static void test_bad_magic(void)
{
    int p[2], fds[3];
    ok(pipe(p) == 0, "a pipe");
    ray_sock_hdr h = {0x12345678u, 1, 3, 0, 0};
    fds[0] = p[0];
    fds[1] = fds[2] = p[1];
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(fds))];
    } ctl = {0};
    struct iovec iov = {&h, sizeof(h)};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    ok(sendmsg(sv[0], &m, 0) == (ssize_t)sizeof(h), "send a frame with a bad magic");
    expect_refused("bad magic", 64, 4);
    expect_write_end_gone(p, "bad magic");
}

static void test_short_frame(void)
{
    uint32_t magic = RAY_SOCK_MAGIC;
    ok(send(sv[0], &magic, sizeof(magic), 0) == sizeof(magic), "send a 4-byte frame");
    expect_refused("frame shorter than its header", 64, 0);
}

static void test_length_mismatch(void)
{
    struct {
        ray_sock_hdr h;
        char body[8];
    } f = {{RAY_SOCK_MAGIC, 1, 0, 100, 0}, {0}};
    ok(send(sv[0], &f, sizeof(f), 0) == sizeof(f), "send a frame whose header claims 100 bytes");
    expect_refused("length in the header not what came", 256, 0);
}

static void test_fd_count_mismatch(void)
{
    int p[2];
    send_with_pipe_fds("abc", 3, p);
    expect_refused("more descriptors than the caller takes", 64, 1);
    expect_write_end_gone(p, "too many descriptors");
}

static void test_timeout_and_eof(void)
{
    char buf[8];
    uint16_t type;
    uint32_t len;
    is_rc(ray_sock_recv(sv[1], &type, buf, sizeof(buf), &len, NULL, NULL, ray_now_ns()),
          RAY_ETIMEDOUT, "nothing to read, deadline now: RAY_ETIMEDOUT");
    is_rc(ray_sock_recv(sv[1], &type, buf, sizeof(buf), &len, NULL, NULL, ray_now_ns() + 5000000),
          RAY_ETIMEDOUT, "nothing to read, deadline in 5 ms: RAY_ETIMEDOUT");
    is_rc(ray_sock_send(sv[0], 3, "x", 1, NULL, 0), 0, "a frame is waiting");
    is_rc(ray_sock_recv(sv[1], &type, buf, sizeof(buf), &len, NULL, NULL, ray_now_ns()), 0,
          "deadline now, frame ready: received");
    close(sv[0]);
    is_rc(ray_sock_recv(sv[1], &type, buf, sizeof(buf), &len, NULL, NULL, UINT64_MAX), 1,
          "peer closed: returns 1 (EOF)");
    close(sv[1]);
}

static void test_send_limits(void)
{
    int fds[RAY_SOCK_MAX_FDS + 1] = {0, 0, 0, 0, 0};
    is_rc(ray_sock_send(sv[0], 1, NULL, 0, fds, RAY_SOCK_MAX_FDS + 1), RAY_EINVAL,
          "more than %d descriptors in one frame: RAY_EINVAL", RAY_SOCK_MAX_FDS);
}

int main(void)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return 99;
    test_round_trip();
    test_empty_payload();
    test_too_big();
    test_bad_magic();
    test_short_frame();
    test_length_mismatch();
    test_fd_count_mismatch();
    test_send_limits();
    test_timeout_and_eof();
    return tap_done();
}
