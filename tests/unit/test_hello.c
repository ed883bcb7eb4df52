/*
 * test_hello.c - the checks of the handshake (src/sched/hello.c) and of the
 * control region's layout (region.c): what a real driver, worker and node
 * service send is accepted; each field a receiver goes on to use, when
 * wrong, is refused with RAY_EPROTO, and a welcome carrying the service's
 * error gives that error and its message.  (tests/fuzz/fuzz_hello checks
 * that nothing insane is ever accepted.)
 */
#include "unit.h"

static void test_hello(void)
{
    sock_hello driver = {SCHED_PROTO_VERSION, CLIENT_DRIVER, 4242, 0};
    sock_hello worker = {SCHED_PROTO_VERSION, CLIENT_POOL, 4243, 7};
    sock_hello h;
    is_rc(sched_hello_check(&driver, SOCK_HELLO, sizeof(driver), 1, 0), 0,
          "a driver's hello on the driver's socket");
    is_rc(sched_hello_check(&worker, SOCK_HELLO, sizeof(worker), 0, 7), 0,
          "a worker's hello on the socket of its slot");
    is_rc(sched_hello_check(&driver, SOCK_HELLO, sizeof(driver) - 4, 1, 0), RAY_EPROTO,
          "a short hello");
    is_rc(sched_hello_check(&driver, SOCK_BYE, sizeof(driver), 1, 0), RAY_EPROTO,
          "another frame type");
    h = driver;
    h.version++;
    is_rc(sched_hello_check(&h, SOCK_HELLO, sizeof(h), 1, 0), RAY_EPROTO,
          "another protocol version");
    ok(strstr(ray_last_error(), "protocol version"), "the message says why: %s", ray_last_error());
    h = driver;
    h.pid = 0;
    is_rc(sched_hello_check(&h, SOCK_HELLO, sizeof(h), 1, 0), RAY_EPROTO, "pid 0");
    is_rc(sched_hello_check(&driver, SOCK_HELLO, sizeof(driver), 0, 0), RAY_EPROTO,
          "a worker's socket claiming to be the driver");
    is_rc(sched_hello_check(&worker, SOCK_HELLO, sizeof(worker), 1, 0), RAY_EPROTO,
          "the driver's socket claiming to be a worker");
    is_rc(sched_hello_check(&worker, SOCK_HELLO, sizeof(worker), 0, 8), RAY_EPROTO,
          "a worker naming another slot than its socket's");
    h = worker;
    h.kind = 99;
    is_rc(sched_hello_check(&h, SOCK_HELLO, sizeof(h), 0, 7), RAY_EPROTO, "an unknown kind");
}

static sock_welcome good_welcome(void)
{
    sock_welcome w;
    memset(&w, 0, sizeof(w));
    w.slot = 3;
    w.kind = CLIENT_POOL;
    w.num_nodes = 1;
    snprintf(w.jobdir, sizeof(w.jobdir), "/tmp/ray-mpi.0.Xq3Zr1");
    return w;
}

static void test_welcome(void)
{
    sock_welcome w = good_welcome();
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 3), 0, "a welcome with 3 descriptors");
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 2), RAY_EPROTO, "2 descriptors");
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w) - 1, 3), RAY_EPROTO, "a short welcome");
    w.code = RAY_ESYS;
    snprintf(w.msg, sizeof(w.msg), "node 0: cannot make the job directory");
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 0), RAY_ESYS,
          "a welcome with the service's error gives that error");
    ok(!strcmp(ray_last_error(), w.msg), "and its message");
    w.code = 7;
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 0), RAY_EPROTO, "a positive code");
    w.code = -1000;
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 0), RAY_EPROTO, "an unknown code");
    w = good_welcome();
    memset(w.msg, 'x', sizeof(w.msg));
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 3), RAY_EPROTO,
          "a message without its end");
    w = good_welcome();
    w.node = 1;
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 3), RAY_EPROTO, "node 1 of 1");
    w = good_welcome();
    w.kind = 0;
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 3), RAY_EPROTO, "kind 0");
    const char *bad_dirs[] = {"/", "", "/home/user", "/tmp/ray-mpi.0.x/..", "/tmp/ray-mpi.0.x/"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(bad_dirs); i++) {
        w = good_welcome();
        snprintf(w.jobdir, sizeof(w.jobdir), "%s", bad_dirs[i]);
        is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 3), RAY_EPROTO,
              "job directory '%s' (the driver removes it at shutdown)", bad_dirs[i]);
    }
    w = good_welcome();
    snprintf(w.jobdir, sizeof(w.jobdir), "tmp/ray-mpi.0.abc");
    is_rc(sched_welcome_check(&w, SOCK_WELCOME, sizeof(w), 3), 0,
          "a relative job directory (TMPDIR=tmp)");
}

static void test_layout(void)
{
    sched_layout l, bad;
    sched_layout_compute(&l, 1024, 512, 80, 64, 1 << 26);
    is_rc(sched_layout_check(&l), 0, "a layout sched_layout_compute made");
    bad = l;
    bad.actors_off += 4096;
    is_rc(sched_layout_check(&bad), RAY_EPROTO, "a part moved");
    bad = l;
    bad.total -= 4096;
    is_rc(sched_layout_check(&bad), RAY_EPROTO, "the region shortened");
    bad = l;
    bad.max_clients++;
    is_rc(sched_layout_check(&bad), RAY_EPROTO, "a slot count that does not fit the offsets");
    sched_layout_compute(&bad, 1024, 512, 70000, 64, 1 << 26);
    is_rc(sched_layout_check(&bad), RAY_EPROTO, "more process slots than 16 bits name");
}

/* A node's own region attaches; a process given a region whose layout
 * was tampered with refuses it. */
static void test_attach(void)
{
    unit_node u;
    is_rc(unit_node_create(&u, 64, 8, 4, 2, 1 << 20, 1), 0, "a node's region attaches");
    is_int(u.sh.max_clients, 4, "process slots from the layout");
    sched s2;
    sched_layout l = u.layout;
    l.clients_off += 4096;
    ok(pwrite(u.ctl_fd, &l, sizeof(l), 0) == (ssize_t)sizeof(l), "tamper with the layout");
    is_rc(sched_attach(&s2, u.ctl_fd, u.layout.total, u.arena_fd, 1 << 20, -1, 1), RAY_EPROTO,
          "a region whose layout was changed is refused");
    unit_node_destroy(&u);
}

int main(void)
{
    test_hello();
    test_welcome();
    test_layout();
    test_attach();
    return tap_done();
}
