/*
 * node.c - the node service: one per node, run by `ray-mpi` on every rank
 * or by an embedded driver in a forked child.  It makes the job directory,
 * the control region and the arena, starts the worker pool, then runs one
 * event loop: messages from the rings (sched_service_poll), and through
 * epoll the sockets of its processes (hello, gone), signals (a child died,
 * we are asked to stop) and its eventfd doorbell.  When the driver leaves,
 * it asks every worker and actor to finish, kills what does not, and
 * removes everything it made.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "sched/sched.h"
#include "topo/topo.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EV_SIGNAL = 1, EV_DOORBELL = 2, EV_CLIENT = 3, EV_DRIVER = 4, EV_NET = 5, EV_OUTPUT = 6 };
/* An event names its kind, the descriptor and the client slot: a slot is
 * reused, a descriptor too, the pair is not while both are open. */
#define EV(type, fd, slot)                                                    \
    (((uint64_t)(type) << 56) | ((uint64_t)(uint32_t)(fd) << 24) | ((slot)&0xffffffu))
#define EV_TYPE(d) ((int)((d) >> 56))
#define EV_FD(d) ((int)(((d) >> 24) & 0xffffffffu))
#define EV_SLOT(d) ((uint32_t)((d)&0xffffffu))

typedef struct node {
    const node_args *a;
    ray_config cfg;
    sched_service *svc;
    topo *topo;           /* this node (src/topo), for the service's placements */
    int ep, sigfd;
    int *socks;           /* per client slot: its socket, -1 */
    uint32_t nsocks;
    int driver_fd;        /* before its hello */
    pid_t driver_pid;     /* ray-mpi: our child */
    int driver_status;
    int driver_exited;
    int stopping;
    uint64_t stop_ns;
    int start_rc;         /* error to give the driver in its welcome */
    char start_msg[512];
    char jobdir[PATH_MAX];
    int sentinel_fd;      /* write end of the sentinel's pipe */
    pthread_t prefault;
    int joined;           /* with the job's other nodes */
    out_streams *outs;    /* workers' output, prefixed (ray-mpi), or NULL */
    int net_work;         /* the network brought work since the loop last looked */
    int prefault_running;
    _Atomic int prefault_stop;
    char tl_path[PATH_MAX]; /* rank 0: where the timeline goes (absolute), or "" */
} node;

/* Tasks live on the node: the prefault waits.  Idle priority alone is not
 * enough: a worker that yields while it spins for work hands its core to
 * the idle thread, and gets it back only at the next tick (4 ms), since
 * nothing wakes it. */
static int node_busy(void *arg)
{
    node *n = arg;
    return atomic_load_explicit(&sched_service_shm(n->svc)->r->tasks_live,
                                memory_order_relaxed) != 0;
}

/* Faults the store in with CPU time nobody else wants (SCHED_IDLE, set
 * at creation, and only while no task lives): it must not slow the tasks
 * it is meant to speed up. */
static void *prefault_main(void *arg)
{
    node *n = arg;
    store_prefault(&sched_service_shm(n->svc)->st, &n->prefault_stop, node_busy, n);
    return NULL;
}

static void prefault_start(node *n)
{
    pthread_attr_t a;
    struct sched_param sp = {0};
    if (pthread_attr_init(&a))
        return;
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_IDLE);
    pthread_attr_setschedparam(&a, &sp);
    n->prefault_running = pthread_create(&n->prefault, &a, prefault_main, n) == 0;
    pthread_attr_destroy(&a);
    if (!n->prefault_running)
        ray_debug("node", "no idle-priority thread to fault the store in: puts into "
                          "fresh memory will be slower");
}

/* An idle-priority thread gets no CPU while the machine is busy (other
 * jobs, or this job's own workers): give it a normal share so that it
 * sees the stop flag now, not when the machine next idles. */
static void prefault_stop(node *n)
{
    if (!n->prefault_running)
        return;
    atomic_store(&n->prefault_stop, 1);
    struct sched_param sp = {0};
    pthread_setschedparam(n->prefault, SCHED_OTHER, &sp);
    pthread_join(n->prefault, NULL);
    n->prefault_running = 0;
}

static void on_spawn(void *arg, uint32_t slot, int sock, pid_t pid, const int *outs)
{
    node *n = arg;
    for (int i = 0; outs && n->outs && i < 2; i++) {
        int idx = outs[i] >= 0 ? outs_add(n->outs, outs[i], pid, i + 1) : -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_OUTPUT, outs[i], idx)};
        if (idx >= 0)
            epoll_ctl(n->ep, EPOLL_CTL_ADD, outs[i], &ev);
        else if (outs[i] >= 0)
            close(outs[i]);
    }
    if (slot >= n->nsocks) {
        close(sock);
        return;
    }
    n->socks[slot] = sock;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = EV(EV_CLIENT, sock, slot)};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, sock, &ev);
}

static void drop_socket(node *n, int fd)
{
    epoll_ctl(n->ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

/* A process of the node is gone (reaped): its socket goes too, even if a
 * process it started still holds the other end (no EOF would come). */
static void on_gone(void *arg, uint32_t slot)
{
    node *n = arg;
    if (slot < n->nsocks && n->socks[slot] >= 0) {
        drop_socket(n, n->socks[slot]);
        n->socks[slot] = -1;
    }
}

static void begin_stop(node *n, const char *why)
{
    if (n->stopping)
        return;
    ray_debug("node", "stopping: %s", why);
    n->stopping = 1;
    n->stop_ns = ray_now_ns();
    if (n->joined) /* the job ends: every node is told, through rank 0 */
        sched_service_cluster_stop(n->svc);
    sched_service_shutdown(n->svc, 0);
}

static void welcome(node *n, int fd, int code, uint32_t slot)
{
    sock_welcome w;
    memset(&w, 0, sizeof(w));
    w.code = code;
    w.slot = slot;
    w.node = n->a->node;
    w.num_nodes = n->a->num_nodes;
    if (code) {
        snprintf(w.msg, sizeof(w.msg), "%s", n->start_rc ? n->start_msg : ray_last_error());
        ray_sock_send(fd, SOCK_WELCOME, &w, sizeof(w), NULL, 0);
        return;
    }
    sched_service_client_info(n->svc, slot, &w.kind, &w.actor);
    w.ctl_size = sched_service_ctl_size(n->svc);
    w.arena_size = sched_service_arena_size(n->svc);
    snprintf(w.jobdir, sizeof(w.jobdir), "%.255s", n->jobdir);
    int fds[3] = {sched_service_ctl_fd(n->svc), sched_service_arena_fd(n->svc),
                  sched_service_efd(n->svc)};
    ray_sock_send(fd, SOCK_WELCOME, &w, sizeof(w), fds, 3);
}

/* A frame (or EOF) on a process's socket. */
static void on_socket(node *n, int type, int evfd, uint32_t slot)
{
    int fd = type == EV_DRIVER ? n->driver_fd : slot < n->nsocks ? n->socks[slot] : -1;
    if (fd < 0 || (type == EV_CLIENT && fd != evfd))
        return; /* an event of a socket closed since */
    sock_hello h;
    uint16_t t;
    uint32_t len;
    int nfds = 0;
    int rc = ray_sock_recv(fd, &t, &h, sizeof(h), &len, NULL, &nfds, ray_now_ns());
    if (rc == RAY_ETIMEDOUT)
        return;
    if (rc == 1 || rc < 0 || t == SOCK_BYE) {
        drop_socket(n, fd);
        if (type == EV_DRIVER) {
            n->driver_fd = -1;
            begin_stop(n, "driver closed its socket before hello");
            return;
        }
        n->socks[slot] = -1;
        uint32_t kind, actor;
        sched_service_client_info(n->svc, slot, &kind, &actor);
        if (kind == CLIENT_DRIVER) {
            sched_service_client_gone(n->svc, slot, 0);
            begin_stop(n, t == SOCK_BYE ? "ray_shutdown" : "driver left");
        }
        return;
    }
    if (t != SOCK_HELLO) {
        ray_warn("node", "unexpected frame (type %u, %u bytes) on a process socket", t, len);
        return;
    }
    if (sched_hello_check(&h, t, len, type == EV_DRIVER, slot)) {
        ray_warn("node", "%s", ray_last_error());
        welcome(n, fd, RAY_EPROTO, 0); /* tell it why rather than let it wait */
        return;
    }
    /* A socket pair's credentials are its creator's, so they say nothing:
     * a worker is known by the socket we gave it, the driver by its word. */
    int pid = h.pid;
    uint32_t got;
    if (type == EV_DRIVER) {
        if (n->start_rc || n->stopping) {
            welcome(n, fd, n->start_rc ? n->start_rc : RAY_ESTATE, 0);
            return;
        }
        rc = sched_service_client_add(n->svc, CLIENT_DRIVER, pid, 0, &got);
        if (rc) {
            welcome(n, fd, rc, 0);
            return;
        }
        epoll_ctl(n->ep, EPOLL_CTL_DEL, fd, NULL);
        n->socks[got] = fd;
        n->driver_fd = -1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                 .data.u64 = EV(EV_CLIENT, fd, got)};
        epoll_ctl(n->ep, EPOLL_CTL_ADD, fd, &ev);
        welcome(n, fd, 0, got);
        return;
    }
    rc = sched_service_client_add(n->svc, h.kind, pid, slot, &got); /* not a driver: checked */
    if (rc)
        ray_warn("node", "process on slot %u: %s", slot, ray_last_error());
    welcome(n, fd, rc, slot);
}

static void reap(node *n)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == n->driver_pid) {
            n->driver_status = st;
            n->driver_exited = 1;
            if (WIFSIGNALED(st)) { /* the shell would say it; under a launcher no one does */
                fprintf(stderr, "ray-mpi: the driver (pid %d) was killed by signal %d (%s)%s\n",
                        (int)pid, WTERMSIG(st), strsignal(WTERMSIG(st)),
                        WCOREDUMP(st) ? ", core dumped" : "");
                fflush(stderr);
            }
            begin_stop(n, WIFSIGNALED(st) ? "driver killed by a signal" : "driver exited");
            continue;
        }
        sched_service_child_exit(n->svc, pid, st);
    }
}

static void on_signal(node *n)
{
    struct signalfd_siginfo si;
    while (read(n->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            reap(n);
            continue;
        }
        ray_info("node", "signal %u (%s): stopping the job", si.ssi_signo,
                 strsignal((int)si.ssi_signo));
        if (n->driver_pid > 0 && !n->driver_exited)
            kill(n->driver_pid, (int)si.ssi_signo);
        begin_stop(n, "signal");
    }
}

static int spawn_driver(node *n)
{
    int sock;
    pid_t pid;
    int rc = sched_spawn_driver(n->a->exe, n->a->argv, &sock, &pid);
    if (rc)
        return rc;
    n->driver_pid = pid;
    n->driver_fd = sock;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = EV(EV_DRIVER, 0, 0)};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, sock, &ev);
    return 0;
}

/*
 * The sentinel: a process that only waits for this one to end, however it
 * ends (SIGKILL included), then removes the job directory.  It learns of
 * the end when the pipe's write end, held only by us, closes.  It is our
 * grandchild, its parent gone at once, in a session of its own: a launcher
 * that kills the step's process tree (Slurm's proctrack/linuxproc, on
 * srun's second ^C) or its process group would otherwise kill it with us,
 * and the directory stayed.  It lives no longer than we do.
 */
static void start_sentinel(node *n)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        pid_t s = fork();
        if (s != 0)
            _exit(s < 0); /* the go-between */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != p[0])
                close(fd);
        prctl(PR_SET_NAME, "ray-mpi-sentinel");
        setsid();
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL); /* a ^C to the group is not ours to obey */
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        ray_jobdir_remove(n->jobdir);
        _exit(0);
    }
    close(p[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
        ray_warn("node", "no sentinel for the job directory %s: it stays if this process is "
                         "killed", n->jobdir);
        close(p[1]);
        return;
    }
    n->sentinel_fd = p[1];
}

/*
 * <job dir>/node.info: what `ray-mpi status` needs to find this node's
 * control region, which it maps read-only through /proc/PID/fd/CTL_FD (the
 * job directory is the user's alone, mode 0700).  One "key value" per line.
 */
static void write_info(node *n)
{
    char path[PATH_MAX + 16], buf[PATH_MAX + 256];
    snprintf(path, sizeof(path), "%s/node.info", n->jobdir);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int len = snprintf(buf, sizeof(buf),
                       "ray-mpi-node 1\npid %d\nnode %u\nnum_nodes %u\nctl_fd %d\n"
                       "ctl_size %llu\nstarted %lld\nexe %s\n",
                       (int)getpid(), n->a->node, n->a->num_nodes, sched_service_ctl_fd(n->svc),
                       (unsigned long long)sched_service_ctl_size(n->svc), (long long)now.tv_sec,
                       n->a->exe);
    if (len < 0 || len >= (int)sizeof(buf) || ray_jobdir_write(path, buf, (size_t)len))
        ray_warn("node", "ray-mpi status will not find this node: cannot write %s", path);
}

/* RAY_MPI_TIMELINE, made absolute (the node service may not run where the
 * user is) and tried now: a path that cannot be written fails the start,
 * not the end of a long job. */
static int timeline_path(node *n)
{
    const char *p = n->cfg.timeline;
    if (!p || !*p)
        return 0;
    char cwd[PATH_MAX];
    if (p[0] != '/' && !getcwd(cwd, sizeof(cwd)))
        return ray_err_sys("RAY_MPI_TIMELINE=%s: no current directory", p);
    int len = p[0] == '/' ? snprintf(n->tl_path, sizeof(n->tl_path), "%s", p)
                          : snprintf(n->tl_path, sizeof(n->tl_path), "%s/%s", cwd, p);
    if (len < 0 || len >= (int)sizeof(n->tl_path))
        return ray_err(RAY_EINVAL, "RAY_MPI_TIMELINE=%s: path too long", p);
    int fd = open(n->tl_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        n->tl_path[0] = 0;
        return ray_err_sys("RAY_MPI_TIMELINE=%s: cannot write the timeline there", p);
    }
    close(fd);
    return 0;
}

/* The end of the timeline: this node's files, every node's at rank 0, the
 * trace written there.  Before the job directory goes. */
static void timeline_end(node *n, void **tl, size_t *tl_len)
{
    *tl = NULL;
    *tl_len = 0;
    if (!n->cfg.timeline || !*n->cfg.timeline || !n->jobdir[0])
        return;
    ray_tl_close();
    size_t max = (size_t)(INT_MAX - 65536) / RAY_MAX(n->a->num_nodes, 1u);
    if (ray_tl_collect(n->jobdir, max, tl, tl_len))
        ray_warn("node", "timeline: %s", ray_last_error());
}

static int setup(node *n)
{
    double cpus, gpus;
    uint64_t store_bytes;
    uint32_t max_workers;
    int rc = topo_load(&n->cfg, &n->topo);
    const topo_node *t = rc ? NULL : topo_resources(n->topo);
    if (!rc)
        rc = topo_resolve(&n->cfg, t, &cpus, &gpus, &store_bytes, &max_workers);
    if (!rc && n->cfg.show_placement)
        rc = topo_show(n->topo, stderr);
    if (rc)
        return rc;
    if (n->cfg.object_store_memory_auto && n->a->local_size > 1) /* a share per node service */
        store_bytes = (store_bytes / n->a->local_size) & ~(uint64_t)4095;
    n->cfg.object_store_memory = store_bytes;
    n->cfg.max_workers = max_workers;
    /* No longer than a welcome carries: a driver told a truncated path
     * would remove another directory at shutdown. */
    if (n->a->node == 0 && (rc = timeline_path(n)))
        return rc;
    if ((rc = ray_jobdir_create(n->cfg.tmpdir, n->jobdir, sizeof(((sock_welcome *)0)->jobdir))))
        return rc;
    start_sentinel(n);
    if (ray_tl_open(&n->cfg, n->jobdir, n->a->node, "node service", 1))
        ray_warn("node", "no timeline of transfers: %s", ray_last_error());
    uint16_t tag = 0;
    while (!tag)
        if (getrandom(&tag, sizeof(tag), 0) != sizeof(tag))
            tag = (uint16_t)(getpid() ^ ray_now_ns());
    sched_service_opts o = {&n->cfg,         cpus,       gpus, n->cfg.resources, n->a->node,
                            n->a->num_nodes, n->a->exe, n->a->argv, tag, n->topo};
    if ((rc = sched_service_create(&o, &n->svc)))
        return rc;
    write_info(n);
    /* Workers bind themselves from this (no discovery of their own). */
    char xml[PATH_MAX + 16];
    snprintf(xml, sizeof(xml), "%s/topology.xml", n->jobdir);
    if (topo_is_this_machine(n->topo) && topo_export_xml(n->topo, xml))
        ray_warn("node", "workers will discover the machine themselves: %s", ray_last_error());
    ray_info("node", "%g CPUs (%s), %g GPUs (%s), object store %.2f GB (%s), job directory %s",
             cpus, n->cfg.num_cpus_auto ? t->cpus_from : "RAY_MPI_NUM_CPUS", gpus,
             n->cfg.num_gpus_auto ? t->gpus_from : "RAY_MPI_NUM_GPUS", store_bytes / 1e9,
             n->cfg.object_store_memory_auto ? t->memory_from : "setting", n->jobdir);
    sched_service_on_spawn(n->svc, on_spawn, n);
    if (n->a->driver_sock < 0 && n->cfg.prefix && (n->outs = outs_create(n->a->node)))
        sched_service_capture_output(n->svc, 1);
    sched_service_on_gone(n->svc, on_gone, n);
    n->nsocks = (uint32_t)n->cfg.max_workers + 16;
    n->socks = malloc(n->nsocks * sizeof(int));
    if (!n->socks)
        return ray_err(RAY_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n->nsocks; i++)
        n->socks[i] = -1;
    if (n->cfg.prefault)
        prefault_start(n);
    return 0;
}

void node_block_signals(sigset_t *set)
{
    static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    sigemptyset(set);
    for (size_t i = 0; i < RAY_ARRAY_SIZE(sigs); i++)
        sigaddset(set, sigs[i]);
    sigprocmask(SIG_BLOCK, set, NULL);
}

static int setup_events(node *n)
{
    sigset_t set;
    node_block_signals(&set);
    signal(SIGPIPE, SIG_IGN);
    n->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    n->ep = epoll_create1(EPOLL_CLOEXEC);
    if (n->sigfd < 0 || n->ep < 0)
        return ray_err_sys("signalfd/epoll");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_SIGNAL, 0, 0)};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, n->sigfd, &ev);
    return 0;
}

static void handle_events(node *n, int timeout_ms)
{
    struct epoll_event evs[64];
    int k = epoll_wait(n->ep, evs, 64, timeout_ms);
    for (int i = 0; i < k; i++) {
        uint64_t d = evs[i].data.u64;
        int type = EV_TYPE(d);
        if (type == EV_SIGNAL)
            on_signal(n);
        else if (type == EV_NET)
            continue; /* the loop progresses the network */
        else if (type == EV_OUTPUT && outs_read(n->outs, (int)EV_SLOT(d)))
            epoll_ctl(n->ep, EPOLL_CTL_DEL, EV_FD(d), NULL); /* closed by outs_read */
        else if (type == EV_DOORBELL) {
            uint64_t v;
            ssize_t r = read(sched_service_efd(n->svc), &v, sizeof(v));
            (void)r;
        } else
            on_socket(n, type, EV_FD(d), EV_SLOT(d));
    }
}

static int loop_done(node *n)
{
    if (!n->stopping)
        return 0;
    int children = sched_service_children(n->svc);
    if (n->driver_pid > 0 && !n->driver_exited)
        children++;
    if (!children)
        return 1;
    double grace = n->cfg.shutdown_timeout_s;
    if (ray_now_ns() - n->stop_ns > (uint64_t)(grace * 1e9)) {
        sched_service_shutdown(n->svc, 1);
        if (n->driver_pid > 0 && !n->driver_exited)
            kill(n->driver_pid, SIGKILL);
    }
    return 0;
}

static void fatal(node *n, const char *why);
static void teardown(node *n);

/* Everything that came in: the processes' rings, and the other nodes. */
static int poll_all(node *n)
{
    int work = sched_service_poll(n->svc);
    if (!n->joined)
        return work;
    int nw = sched_service_net_poll(n->svc);
    n->net_work |= nw > 0;
    work += nw;
    const char *why;
    int st = sched_service_cluster_state(n->svc, &why);
    if (st < 0)
        fatal(n, why);
    if (st > 0 && !n->stopping) {
        if (n->driver_pid > 0 && !n->driver_exited) /* another node stops: the driver first */
            kill(n->driver_pid, SIGTERM);
        begin_stop(n, "the job ends");
    }
    return work;
}

static void run(node *n)
{
    sched *sh = sched_service_shm(n->svc);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_DOORBELL, 0, 0)};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, sched_service_efd(n->svc), &ev);
    int netfd = n->joined ? sched_service_net_fd(n->svc) : -1;
    if (netfd >= 0) {
        struct epoll_event nev = {.events = EPOLLIN, .data.u64 = EV(EV_NET, 0, 0)};
        epoll_ctl(n->ep, EPOLL_CTL_ADD, netfd, &nev);
    }
    uint64_t next_tick = 0, spin_ns = 20000, spin_end = 0;
    unsigned busy = 0;
    while (!loop_done(n)) {
        int msgs = poll_all(n);
        uint64_t now = ray_now_ns();
        if (now >= next_tick) {
            next_tick = now + (uint64_t)sched_service_tick(n->svc) * 1000000ULL;
            handle_events(n, 0);
        }
        /* Spin only after what asked for the service (a poke, the network,
         * a wake-up): messages sent without waking it (a named task's
         * submit or notice) are read when it passes, but do not keep it
         * awake, or a DAG's stream of them would hold a core all run. */
        if (n->net_work || (atomic_load_explicit(&sh->r->svc_poked, memory_order_relaxed) &&
                            atomic_exchange(&sh->r->svc_poked, 0))) {
            n->net_work = 0;
            spin_end = now + spin_ns;
        }
        if (msgs) {
            if (!(++busy & 63))
                handle_events(n, 0);
            continue;
        }
        if (now < spin_end) { /* a reply is often one message away */
            ray_cpu_relax();
            continue;
        }
        if (n->joined && sched_service_net_hot(n->svc)) {
            sched_yield(); /* an object is moving: both ends must keep progressing */
            continue;
        }
        /* Announce sleep, look once more, and sleep in epoll. */
        atomic_store(&sh->r->svc_sleeping, 1);
        atomic_thread_fence(memory_order_seq_cst);
        if (poll_all(n) || (n->joined && sched_service_net_arm(n->svc))) {
            atomic_store(&sh->r->svc_sleeping, 0);
            continue;
        }
        int ms = n->stopping ? 10 : ray_ms_until(next_tick);
        if (n->joined && (netfd < 0 || ms < 0 || ms > 5)) /* a polled network; timers */
            ms = netfd < 0 ? 1 : 5;
        handle_events(n, ms);
        atomic_store(&sh->r->svc_sleeping, 0);
        spin_end = ray_now_ns() + spin_ns;
    }
}

/* Another node is gone (or this one cannot go on): every process here
 * ends, the job directory goes, and the whole job is ended at once. */
static void fatal(node *n, const char *why)
{
    fprintf(stderr, "ray-mpi: node %u: %s; ending the job\n", n->a->node, why);
    fflush(stderr);
    if (n->driver_pid > 0 && !n->driver_exited)
        kill(n->driver_pid, SIGKILL);
    sched_service_shutdown(n->svc, 1);
    uint64_t end = ray_now_ns() + 2000000000ULL;
    while (sched_service_children(n->svc) && ray_now_ns() < end)
        handle_events(n, 10);
    n->joined = 0; /* no orderly goodbye: the job is broken */
    teardown(n);
    n->a->abort(n->a->net_arg, 1);
}

static void teardown(node *n)
{
    prefault_stop(n);
    for (uint32_t i = 0; n->socks && i < n->nsocks; i++)
        if (n->socks[i] >= 0)
            close(n->socks[i]);
    free(n->socks);
    if (n->driver_fd >= 0)
        close(n->driver_fd);
    /* Its processes are gone: the job directory goes now, before the
     * goodbye to the other nodes and MPI_Finalize, which a launcher ending
     * the step (srun's second ^C, scancel) may cut short with SIGKILL. */
    void *tl, *all = NULL;
    size_t tl_len, all_len = 0;
    timeline_end(n, &tl, &tl_len);
    if (n->jobdir[0])
        ray_jobdir_remove(n->jobdir);
    int gather = n->cfg.timeline && *n->cfg.timeline;
    if (n->joined && n->a->leave) /* the network lets go of the arena first */
        n->a->leave(n->a->net_arg, n->svc, tl, tl_len, gather ? &all : NULL,
                    gather ? &all_len : NULL);
    else if (gather)
        all = tl, all_len = tl_len, tl = NULL;
    n->joined = 0;
    if (n->tl_path[0] && ray_tl_write(n->tl_path, all, all_len))
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
    free(tl);
    free(all);
    sched_service_destroy(n->svc);
    topo_free(n->topo);
    n->topo = NULL;
    outs_destroy(n->outs);
    n->outs = NULL;
    if (n->sentinel_fd >= 0) {
        close(n->sentinel_fd); /* the directory is gone already: the sentinel ends */
        n->sentinel_fd = -1;
    }
    if (n->ep >= 0)
        close(n->ep);
    if (n->sigfd >= 0)
        close(n->sigfd);
}

int node_service_main(const node_args *a)
{
    node n;
    memset(&n, 0, sizeof(n));
    n.a = a;
    n.cfg = *a->cfg;
    n.ep = n.sigfd = n.sentinel_fd = -1;
    n.driver_fd = a->driver_sock;
    ray_log_node = (int)a->node;
    int rc = setup_events(&n);
    if (!rc)
        rc = setup(&n);
    if (a->join) { /* a collective: every node takes part, failed or not */
        int jrc = a->join(a->net_arg, rc ? NULL : n.svc);
        if (!rc && !(rc = jrc))
            n.joined = 1;
    }
    if (!rc)
        rc = sched_service_start_pool(n.svc);
    if (rc) {
        n.start_rc = rc;
        snprintf(n.start_msg, sizeof(n.start_msg), "node %u: %s", a->node, ray_last_error());
        ray_error("node", "%s", n.start_msg);
        if (n.driver_fd >= 0) {
            /* Tell the driver why, then stop.  Its hello is read first: a
             * socket closed with unread data resets, and the driver would
             * see "connection reset" instead of the reason. */
            sock_hello h;
            uint16_t t;
            uint32_t len;
            int nfds = 0;
            ray_sock_recv(n.driver_fd, &t, &h, sizeof(h), &len, NULL, &nfds,
                          ray_now_ns() + 10000000000ULL);
            welcome(&n, n.driver_fd, rc, 0);
        }
        if (n.svc)
            sched_service_shutdown(n.svc, 1);
        n.stopping = 1;
        n.stop_ns = ray_now_ns();
        while (n.svc && sched_service_children(n.svc) && ray_now_ns() - n.stop_ns < 5000000000ULL) {
            handle_events(&n, 10);
        }
        teardown(&n);
        return 1;
    }
    if (a->driver_sock >= 0) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = EV(EV_DRIVER, 0, 0)};
        epoll_ctl(n.ep, EPOLL_CTL_ADD, a->driver_sock, &ev);
    } else if (!a->no_driver && (rc = spawn_driver(&n))) {
        fprintf(stderr, "ray-mpi: node %u: %s\n", a->node, ray_last_error());
        sched_service_shutdown(n.svc, 1);
        n.stopping = 1;
        n.stop_ns = ray_now_ns();
        while (sched_service_children(n.svc) && ray_now_ns() - n.stop_ns < 5000000000ULL)
            handle_events(&n, 10);
        teardown(&n);
        return 127;
    }
    run(&n);
    teardown(&n);
    if (a->driver_sock >= 0 || a->no_driver)
        return 0;
    if (WIFEXITED(n.driver_status))
        return WEXITSTATUS(n.driver_status);
    return 128 + (WIFSIGNALED(n.driver_status) ? WTERMSIG(n.driver_status) : 0);
}
