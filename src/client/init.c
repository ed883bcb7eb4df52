/*
 * init.c - ray_init and ray_shutdown, the handshake with the node service,
 * and the messages a process sends it.
 *
 * ray_init finds its role in the environment: a worker (started by the node
 * service) connects and never returns; a driver started by `ray-mpi`
 * connects through the socket it inherited; any other program is an
 * embedded driver and forks its node service first.  Either way the
 * process then maps the node's control region and arena and talks to the
 * service through shared-memory rings; the socket only carries the
 * handshake and tells each side when the other is gone.
 */
#define _GNU_SOURCE
#include "client.h"

#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

client ray_cl = {.sock = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
__thread int client_tracked;
static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static int atexit_done;

int client_check(void)
{
    if (RAY_UNLIKELY(!ray_cl.initialized))
        return ray_err(RAY_ESTATE, "ray_init has not been called (or ray_shutdown was)");
    return 0;
}

int client_service_alive(void)
{
    sched_region *r = cl_sched()->r;
    if (r && RAY_UNLIKELY(atomic_load(&r->fatal)))
        return ray_err(RAY_ESYS, "%.400s", r->fatal_msg);
    struct pollfd p = {ray_cl.sock, POLLIN | POLLRDHUP, 0};
    if (ray_cl.sock < 0 || poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
        return ray_err(RAY_ESYS, "the node service is gone (it crashed or was killed)");
    return 0;
}

/* ---- messages to the node service */

void *client_msg_begin(uint16_t type, uint32_t len)
{
    for (;;) {
        void *p = ray_ring_reserve(&ray_cl.c2s, type, len);
        if (RAY_LIKELY(p != NULL))
            return p;
        /* Full: the service drains it; sleep until it signals room. */
        ray_evc *e = &ray_cl.c2s.hdr->space;
        uint32_t seq = ray_evc_prepare(e);
        p = ray_ring_reserve(&ray_cl.c2s, type, len);
        if (p) {
            ray_evc_cancel(e);
            return p;
        }
        sched_wake_service(cl_sched());
        ray_evc_wait(e, seq, ray_now_ns() + 100000000ULL);
        if (client_service_alive())
            return NULL;
    }
}

void client_msg_end(void)
{
    ray_ring_commit(&ray_cl.c2s);
    sched_wake_service(cl_sched());
}

int client_send_wake(uint16_t type, const void *payload, uint32_t len, int wake)
{
    pthread_mutex_lock(&ray_cl.lock);
    void *p = client_msg_begin(type, len);
    if (p) {
        if (len)
            memcpy(p, payload, len);
        ray_ring_commit(&ray_cl.c2s);
        if (wake)
            sched_wake_service(cl_sched());
    }
    pthread_mutex_unlock(&ray_cl.lock);
    return p ? 0 : ray_err_last_code();
}

int client_send(uint16_t type, const void *payload, uint32_t len)
{
    return client_send_wake(type, payload, len, 1);
}

/* The tasks named in the hints are taken first; then the notices go, of
 * the objects whose waiters need the service, and it is woken if one of
 * them needs it now (a waiter that is not a named task, or a named task
 * it must see to).  The notice of an object whose named tasks the service
 * also counts (SCHED_HINTS_LAZY) waits in the ring until it next runs.
 * An object whose waiters are all named tasks the service does not count,
 * each taken or still waiting for another argument, needs no notice (a
 * stencil's run no longer leaves it thousands to read when the driver's
 * wait wakes it at the end). */
void client_notify(const uint32_t *slots, int n)
{
    if (n <= 0)
        return;
    sched *sh = cl_sched();
    uint32_t loud[SCHED_MAX_RETURNS];
    int k = 0, wake = 0;
    /* Every caller passes one task's outputs or one object; more would be
     * a caller's bug, cut here rather than overrun loud[]. */
    n = RAY_MIN(n, SCHED_MAX_RETURNS);
    for (int i = 0; i < n; i++) {
        int r = sched_hints_run(sh, slots[i], ray_cl.slot, client_readying());
        if (r != SCHED_HINTS_QUIET)
            loud[k++] = slots[i];
        wake |= !r;
    }
    if (!k)
        return;
    pthread_mutex_lock(&ray_cl.lock);
    for (int i = 0; i < k; i++) {
        msg_notify *m = client_msg_begin(MSG_NOTIFY, sizeof(*m));
        if (!m)
            break; /* the service is gone */
        *m = (msg_notify){loud[i], 0};
        ray_ring_commit(&ray_cl.c2s);
    }
    pthread_mutex_unlock(&ray_cl.lock);
    if (wake)
        sched_wake_service(sh);
}

int client_request(uint16_t type, void *payload, uint32_t len, void *reply, uint32_t cap,
                   uint32_t *reply_len)
{
    pthread_mutex_lock(&req_lock);
    uint32_t req = ++ray_cl.next_req;
    memcpy(payload, &req, sizeof(req)); /* every request starts with its id */
    int rc = client_send(type, payload, len);
    while (rc == 0) {
        uint32_t seq = atomic_load(&ray_cl.me->doorbell);
        uint16_t t;
        uint32_t l;
        int err;
        const msg_reply *m = ray_ring_peek(&ray_cl.s2c, &t, &l, &err);
        if (err) {
            rc = ray_err(RAY_EPROTO, "corrupt reply ring from the node service");
            break;
        }
        if (m) {
            int mine = t == MSG_REPLY && l >= sizeof(*m) && m->req == req &&
                       m->len <= l - sizeof(*m);
            if (mine) {
                rc = m->code;
                uint32_t n = RAY_MIN(m->len, cap);
                if (n)
                    memcpy(reply, m->data, n);
                if (reply_len)
                    *reply_len = n;
            }
            ray_ring_pop(&ray_cl.s2c);
            if (mine)
                break;
            continue; /* a stale reply (its requester timed out): skip */
        }
        ray_futex_wait(&ray_cl.me->doorbell, seq, ray_now_ns() + 200000000ULL);
        if ((rc = client_service_alive()))
            break;
    }
    pthread_mutex_unlock(&req_lock);
    return rc;
}

/* ---- handshake */

static int handshake(int sock, uint32_t kind, uint32_t slot_hint)
{
    sock_hello h = {SCHED_PROTO_VERSION, kind, (int32_t)getpid(), slot_hint};
    int rc = ray_sock_send(sock, SOCK_HELLO, &h, sizeof(h), NULL, 0);
    if (rc)
        return rc;
    sock_welcome w;
    int fds[3], nfds = 3;
    uint16_t type;
    uint32_t len;
    rc = ray_sock_recv(sock, &type, &w, sizeof(w), &len, fds, &nfds,
                       ray_now_ns() + 120000000000ULL);
    if (rc == 1)
        return ray_err(RAY_ESYS, "the node service closed the connection during start-up");
    if (rc)
        return rc;
    if ((rc = sched_welcome_check(&w, type, len, nfds)))
        goto close_fds;
    rc = sched_attach(&ray_cl.sh, fds[0], w.ctl_size, fds[1], w.arena_size, fds[2],
                      (uint16_t)w.slot);
    close(fds[0]);
    close(fds[1]);
    if (!rc && w.slot >= ray_cl.sh.max_clients) {
        rc = ray_err(RAY_EPROTO, "the node service gave slot %u of %u", w.slot,
                     ray_cl.sh.max_clients);
        sched_detach(&ray_cl.sh);
    }
    if (rc) {
        close(fds[2]);
        return rc;
    }
    ray_cl.slot = w.slot;
    ray_cl.kind = w.kind;
    ray_cl.node = w.node;
    ray_cl.num_nodes = w.num_nodes;
    ray_log_node = (int)w.node;
    snprintf(ray_cl.jobdir, sizeof(ray_cl.jobdir), "%s", w.jobdir);
    sched_client_rings(&ray_cl.sh, w.slot, &ray_cl.c2s, &ray_cl.s2c);
    ray_cl.me = sched_client_at(&ray_cl.sh, w.slot);
    ray_cl.holds_size = (uint64_t)ray_cl.sh.st.max_objects * sizeof(uint64_t);
    ray_cl.holds = ray_reserve(ray_cl.holds_size);
    if (!ray_cl.holds) {
        sched_detach(&ray_cl.sh);
        close(fds[2]);
        return ray_err(RAY_ENOMEM, "cannot reserve the reference table");
    }
    atomic_store(&ray_cl.me->held_n, 0);
    return 0;
close_fds:
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return rc;
}

static int inherited_fd(int *fd)
{
    const char *v = ray_env(RAY_ENV_FD);
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || n < 0 || n > 1 << 20 || fcntl((int)n, F_GETFD) < 0)
        return ray_err(RAY_EINVAL, "%s is missing or not an open descriptor", RAY_ENV_FD);
    fcntl((int)n, F_SETFD, FD_CLOEXEC);
    *fd = (int)n;
    return 0;
}

/* Dies with the node service: a worker outliving its node is useless. */
static void die_with_parent(int sig)
{
    const char *v = ray_env(RAY_ENV_PARENT);
    prctl(PR_SET_PDEATHSIG, sig);
    if (v && getppid() != (pid_t)atol(v))
        _exit(1);
}

static int read_cmdline(char ***argv_out)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ray_err_sys("cannot read /proc/self/cmdline");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (ssize_t n; buf; len += (size_t)n) {
        if (len + 1 >= cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
    }
    close(fd);
    if (!buf)
        return ray_err(RAY_ENOMEM, "out of memory reading the command line");
    buf[len] = 0;
    size_t argc = 0;
    for (size_t i = 0; i < len; i++)
        argc += buf[i] == 0;
    char **argv = calloc(argc + 2, sizeof(char *));
    if (!argv) {
        free(buf);
        return ray_err(RAY_ENOMEM, "out of memory reading the command line");
    }
    size_t k = 0;
    for (size_t i = 0; i < len && k <= argc; i += strlen(buf + i) + 1)
        argv[k++] = buf + i;
    *argv_out = argv;
    return 0;
}

static int embedded_start(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return ray_err_sys("cannot find this program's executable (/proc/self/exe)");
    exe[n] = 0;
    char **argv = NULL;
    int rc = read_cmdline(&argv);
    if (rc)
        return rc;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        free(argv[0]);
        free(argv);
        return ray_err_sys("socketpair");
    }
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        free(argv[0]);
        free(argv);
        return ray_err_sys("cannot fork the node service");
    }
    if (pid == 0) {
        close(sv[0]);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        prctl(PR_SET_NAME, "ray-mpi-node");
        node_args a = {&ray_cl.cfg, exe, argv, sv[1], parent, 0, 1, 0, 1, NULL, NULL, NULL, NULL};
        _exit(node_service_main(&a));
    }
    close(sv[1]);
    free(argv[0]);
    free(argv);
    ray_cl.svc_pid = pid;
    ray_cl.sock = sv[0];
    rc = handshake(sv[0], CLIENT_DRIVER, 0);
    if (rc) {
        close(sv[0]);
        ray_cl.sock = -1;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        ray_cl.svc_pid = 0;
    }
    return rc;
}

/* A worker's main thread says what it is in the middle of, so that the
 * node service can finish it if the worker dies there; the fault points
 * of RAY_MPI_FAULT are armed here too (only workers stop at them). */
/* A child a task forks is not this process: nothing it does is ours. */
static void untrack_in_child(void)
{
    client_tracked = 0;
    store_freeing = NULL;
    store_mark = 0;
    sched_journal = NULL;
}

static void track_main_thread(void)
{
    client_tracked = 1;
    store_freeing = &ray_cl.me->freeing;
    store_mark = ray_cl.slot + 1;
    sched_journal = ray_cl.me;
    pthread_atfork(NULL, NULL, untrack_in_child);
    if (ray_fault_arm(ray_cl.cfg.fault, ray_cl.sh.r->fault_hits, &ray_cl.me->fault_at))
        ray_warn("client", "%s", ray_last_error());
}

static void at_exit(void)
{
    if (ray_cl.initialized && ray_cl.role == ROLE_DRIVER)
        ray_shutdown();
}

RAY_API int ray_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (ray_cl.initialized)
        return ray_err(RAY_ESTATE, "ray_init was already called");
    int rc = ray_config_load(&ray_cl.cfg);
    if (rc)
        return rc;
    ray_cl.spin_ns = ray_cl.cfg.spin_us * 1000ULL;
    ray_cl.stamp_submits = ray_cl.cfg.timeline && *ray_cl.cfg.timeline;
    const char *role = ray_env(RAY_ENV_ROLE);
    if (role && !strcmp(role, "worker")) {
        int fd;
        const char *slot = ray_env("RAY_MPI_SLOT");
        die_with_parent(SIGKILL);
        rc = inherited_fd(&fd);
        if (!rc) {
            ray_cl.sock = fd;
            rc = handshake(fd, CLIENT_POOL, slot ? (uint32_t)atol(slot) : 0);
        }
        if (rc) {
            ray_error("client", "worker cannot join its node service: %s", ray_last_error());
            _exit(1);
        }
        ray_env_unset(RAY_ENV_ROLE);
        ray_env_unset(RAY_ENV_FD);
        ray_env_unset(RAY_ENV_PARENT);
        ray_env_unset("RAY_MPI_SLOT");
        ray_cl.role = ROLE_WORKER;
        ray_cl.initialized = 1;
        track_main_thread();
        worker_main();
    }
    if (role && !strcmp(role, "driver")) {
        int fd;
        die_with_parent(SIGTERM);
        rc = inherited_fd(&fd);
        if (!rc) {
            ray_cl.sock = fd;
            rc = handshake(fd, CLIENT_DRIVER, 0);
        }
        ray_env_unset(RAY_ENV_ROLE);
        ray_env_unset(RAY_ENV_FD);
        ray_env_unset(RAY_ENV_PARENT);
    } else {
        rc = embedded_start();
    }
    if (rc)
        return rc;
    ray_cl.role = ROLE_DRIVER;
    ray_cl.initialized = 1;
    if (!atexit_done && atexit(at_exit) == 0)
        atexit_done = 1;
    return 0;
}

static void wait_service_exit(void)
{
    double grace = ray_cl.cfg.shutdown_timeout_s + 5.0;
    uint64_t deadline = ray_deadline_ns(grace);
    for (;;) {
        int st;
        pid_t p = waitpid(ray_cl.svc_pid, &st, WNOHANG);
        if (p == ray_cl.svc_pid || (p < 0 && errno != EINTR))
            break;
        if (ray_now_ns() > deadline) {
            ray_warn("client", "node service did not stop in %.0f s; killing it", grace);
            kill(ray_cl.svc_pid, SIGKILL);
            waitpid(ray_cl.svc_pid, &st, 0);
            break;
        }
        usleep(2000);
    }
    ray_cl.svc_pid = 0;
    /* Normally gone already; not if the service was killed. */
    ray_jobdir_remove(ray_cl.jobdir);
}

RAY_API int ray_shutdown(void)
{
    int rc = client_check();
    if (rc)
        return rc;
    if (ray_cl.role == ROLE_WORKER)
        return ray_err(RAY_ESTATE, "ray_shutdown cannot be called from a task or actor");
    ray_sock_send(ray_cl.sock, SOCK_BYE, NULL, 0, NULL, 0);
    /* The service ends every worker and actor, then closes its end. */
    close(ray_cl.sock);
    ray_cl.sock = -1;
    if (ray_cl.svc_pid > 0)
        wait_service_exit();
    close(ray_cl.sh.svc_efd);
    sched_detach(&ray_cl.sh);
    ray_unreserve(ray_cl.holds, ray_cl.holds_size);
    ray_cl.holds = NULL;
    ray_cl.initialized = 0;
    ray_cl.role = ROLE_NONE;
    ray_cl.me = NULL;
    return 0;
}

RAY_API int ray_node_id(void) { return ray_cl.initialized ? (int)ray_cl.node : 0; }
RAY_API int ray_num_nodes(void) { return ray_cl.initialized ? (int)ray_cl.num_nodes : 1; }
