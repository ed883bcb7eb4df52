/*
 * status.c - `ray-mpi status [--job DIR] [--json]`: the calling user's
 * running jobs on this host, read without disturbing them.  Every node
 * service leaves <job dir>/node.info (node.c write_info); this file finds
 * the job directories (ray-mpi.<uid>.* under RAY_MPI_TMPDIR, else $TMPDIR,
 * else /tmp), trusts nothing in them (owner and mode of the directory and
 * the file, every number's range, the pid's owner and liveness, the
 * memfd's owner, size and seals), maps each control region read-only
 * (/proc/PID/fd/CTL_FD) for status_read.c, groups the nodes of one job by
 * the job's tag, and prints them (status_print.c).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define INFO_MAX     8192
#define CTL_SIZE_MAX (1ull << 50)

/* Why a directory is not shown: not (or no longer) a running job, which a
 * scan passes over, or something wrong with it, which it reports. */
enum { LOAD_OK = 0, LOAD_NOT_RUNNING = 1, LOAD_BROKEN = 2 };

static int why(char *err, int kind, const char *fmt, ...) RAY_FMT(3, 4);
static int why(char *err, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ST_ERR_MAX, fmt, ap);
    va_end(ap);
    return kind;
}

static int num(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

enum { INFO_KEYS = 8, INFO_EXE = 7 };

/* One "key value" line of node.info: its value into vals[key] (the
 * executable into in->exe); returns the key's bit, 0 for a key it does not
 * know (a newer node service), -1 for a bad value. */
static int info_line(const char *key, const char *v, long long *vals, st_info *in)
{
    static const struct {
        const char *key;
        long long lo, hi;
    } keys[INFO_KEYS] = {{"ray-mpi-node", 1, 1},    {"pid", 1, INT_MAX},
                         {"node", 0, 65535},        {"num_nodes", 1, 65536},
                         {"ctl_fd", 0, INT_MAX},    {"ctl_size", 1, (long long)CTL_SIZE_MAX},
                         {"started", 0, INT64_MAX}, {"exe", 0, 0}};
    int k = 0;
    while (k < INFO_KEYS && strcmp(key, keys[k].key))
        k++;
    if (k == INFO_KEYS)
        return 0;
    if (k == INFO_EXE) /* printed, never run */
        status_str(in->exe, sizeof(in->exe), v, strlen(v));
    else if (num(v, keys[k].lo, keys[k].hi, &vals[k]))
        return -1;
    return 1 << k;
}

static int info_parse(char *buf, st_info *in, char *err)
{
    int have = 0;
    long long vals[INFO_KEYS] = {0};
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = 0;
        int bit = info_line(line, sp + 1, vals, in);
        if (bit < 0)
            return why(err, LOAD_BROKEN, "node.info: bad value of %.40s", line);
        have |= bit;
    }
    if (have != (1 << INFO_KEYS) - 1)
        return why(err, LOAD_BROKEN, "node.info is incomplete (a different ray-mpi version?)");
    in->pid = (int)vals[1];
    in->node = (uint32_t)vals[2];
    in->num_nodes = (uint32_t)vals[3];
    in->ctl_fd = (int)vals[4];
    in->ctl_size = (uint64_t)vals[5];
    in->started = vals[6];
    if (in->node >= in->num_nodes)
        return why(err, LOAD_BROKEN, "node.info: node %u of %u", in->node, in->num_nodes);
    return LOAD_OK;
}

/* A file or directory of the job must be the caller's, and no one else's
 * to write (the job directory is 0700). */
static int mine(const struct stat *st, int dir)
{
    return st->st_uid == getuid() && (dir ? (st->st_mode & 077) == 0 : !(st->st_mode & 022));
}

static int info_read(int dirfd, st_info *in, char *err)
{
    int fd = openat(dirfd, "node.info", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? why(err, LOAD_NOT_RUNNING,
                         "no node.info (not a job directory, "
                         "or its node service is starting)")
                   : why(err, LOAD_BROKEN, "cannot open node.info: %s", strerror(errno));
    char buf[INFO_MAX];
    struct stat st;
    ssize_t len = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && mine(&st, 0) && st.st_size < INFO_MAX)
        len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return why(err, LOAD_BROKEN, "node.info is empty, or not a small regular file of yours");
    buf[len] = 0;
    return info_parse(buf, in, err);
}

/* Whether process pid is alive and the caller's (its /proc entry). */
static int proc_check(int pid, char *err)
{
    char path[64], buf[512];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d", pid);
    if (stat(path, &st))
        return why(err, LOAD_NOT_RUNNING, "its node service (pid %d) is gone", pid);
    if (st.st_uid != getuid())
        return why(err, LOAD_BROKEN, "process %d is not yours (a stale node.info)", pid);
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[len > 0 ? len : 0] = 0;
    const char *rp = strrchr(buf, ')'); /* "pid (comm) state ..." */
    if (!rp || rp[1] != ' ' || strchr("ZXx", rp[2]))
        return why(err, LOAD_NOT_RUNNING, "its node service (pid %d) has exited", pid);
    return LOAD_OK;
}

/* Maps /proc/pid/fd/fd read-only if it is one of the job's memfds:
 * named memfd:<name>, the caller's, `size` bytes, its size sealed (a
 * mapping of it cannot fault). */
static const uint8_t *memfd_map(int pid, int fd, const char *name, uint64_t size)
{
    char path[64], link[128], want[80];
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
    snprintf(want, sizeof(want), "/memfd:%s", name);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = 0;
    if (strncmp(link, want, strlen(want)) || (link[strlen(want)] && link[strlen(want)] != ' '))
        return NULL;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return NULL;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() &&
        (uint64_t)st.st_size == size && size && (fcntl(f, F_GET_SEALS) & F_SEAL_SHRINK) > 0)
        p = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_NORESERVE, f, 0);
    close(f);
    return p == MAP_FAILED ? NULL : p;
}

/* The node service's arena (not named in node.info): its descriptor of
 * memfd:ray-mpi-store, of the layout's size. */
static const uint8_t *arena_map(int pid, uint64_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    const uint8_t *p = NULL;
    struct dirent *e;
    while (d && !p && (e = readdir(d))) {
        long long fd;
        if (!num(e->d_name, 0, INT_MAX, &fd))
            p = memfd_map(pid, (int)fd, "ray-mpi-store", size);
    }
    if (d)
        closedir(d);
    return p;
}

static int region_load(st_node *n)
{
    st_info *in = &n->info;
    st_maps m = {memfd_map(in->pid, in->ctl_fd, "ray-mpi-control", in->ctl_size), in->ctl_size,
                 NULL, 0};
    if (!m.ctl)
        return why(n->err, LOAD_BROKEN,
                   "cannot map the control region of pid %d (descriptor %d, %llu bytes)", in->pid,
                   in->ctl_fd, (unsigned long long)in->ctl_size);
    uint64_t arena_size = ((const sched_layout *)m.ctl)->arena_size;
    if (arena_size && arena_size <= CTL_SIZE_MAX << 8 && (m.arena = arena_map(in->pid, arena_size)))
        m.arena_size = arena_size;
    int rc = status_read(n, &m) ? LOAD_BROKEN : LOAD_OK;
    munmap((void *)(uintptr_t)m.ctl, m.ctl_size);
    if (m.arena)
        munmap((void *)(uintptr_t)m.arena, m.arena_size);
    return rc;
}

/* Reads the job directory path into n. */
static int node_load(int basefd, const char *path, st_node *n)
{
    memset(n, 0, sizeof(*n));
    status_str(n->dir, sizeof(n->dir), path, strlen(path)); /* for the output */
    int fd = basefd >= 0 ? openat(basefd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                         : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return why(n->err, LOAD_BROKEN, "%s", strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) || !mine(&st, 1)
                 ? why(n->err, LOAD_BROKEN, "not a job directory of yours (owner and mode 0700)")
                 : info_read(fd, &n->info, n->err);
    close(fd);
    if (rc == LOAD_OK)
        rc = proc_check(n->info.pid, n->err);
    return rc == LOAD_OK ? region_load(n) : rc;
}

static int cmp_started(const void *a, const void *b)
{
    const st_node *x = a, *y = b;
    if (x->info.started != y->info.started)
        return x->info.started < y->info.started ? -1 : 1;
    return strcmp(x->dir, y->dir);
}

static int cmp_group(const void *a, const void *b)
{
    const st_node *x = a, *y = b;
    if (x->group != y->group)
        return x->group - y->group;
    return x->info.node < y->info.node ? -1 : x->info.node > y->info.node;
}

/* Nodes of one job share its tag, size and executable. */
static void group_nodes(st_node *nodes, int n)
{
    qsort(nodes, (size_t)n, sizeof(*nodes), cmp_started);
    int groups = 0;
    for (int i = 0; i < n; i++) {
        nodes[i].group = -1;
        for (int j = 0; j < i && nodes[i].group < 0; j++)
            if (nodes[j].tag == nodes[i].tag &&
                nodes[j].info.num_nodes == nodes[i].info.num_nodes &&
                !strcmp(nodes[j].info.exe, nodes[i].info.exe))
                nodes[i].group = nodes[j].group;
        if (nodes[i].group < 0)
            nodes[i].group = groups++;
    }
    qsort(nodes, (size_t)n, sizeof(*nodes), cmp_group);
}

/* Every running job directory of the caller's under base. */
static int scan(const char *base, st_node **nodes, int *n)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "ray-mpi.%u.", (unsigned)getuid());
    int basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = basefd >= 0 ? fdopendir(dup(basefd)) : NULL;
    struct dirent *e;
    int cap = 0;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        if (*n == cap) {
            st_node *grown = realloc(*nodes, (size_t)(cap = cap ? 2 * cap : 4) * sizeof(**nodes));
            if (!grown)
                break;
            *nodes = grown;
        }
        st_node *nd = &(*nodes)[*n];
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        int rc = node_load(basefd, e->d_name, nd);
        status_str(nd->dir, sizeof(nd->dir), path, strlen(path));
        if (rc == LOAD_OK)
            (*n)++;
        else if (rc == LOAD_BROKEN)
            fprintf(stderr, "ray-mpi status: skipping %s: %s\n", nd->dir, nd->err);
    }
    if (d)
        closedir(d);
    if (basefd >= 0)
        close(basefd);
    return 0;
}

static void user_name(char *out, size_t cap)
{
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        snprintf(out, cap, "%s", pw->pw_name);
    else
        snprintf(out, cap, "%u", (unsigned)getuid());
}

static void host_name(char *out, size_t cap)
{
    char h[256] = "";
    gethostname(h, sizeof(h) - 1);
    status_str(out, cap, h, sizeof(h));
}

static int show(st_node *nodes, int n, int json)
{
    char host[256];
    host_name(host, sizeof(host));
    group_nodes(nodes, n);
    if (json)
        status_print_json(nodes, n, host, stdout);
    else
        status_print_text(nodes, n, host, stdout);
    free(nodes);
    return fflush(stdout) ? 1 : 0;
}

int status_main(int argc, char **argv)
{
    const char *job = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--job") && i + 1 < argc)
            job = argv[++i];
        else if (!strcmp(argv[i], "--job")) {
            fprintf(stderr, "ray-mpi status: --job needs a job directory\n");
            return 2;
        } else if (!strncmp(argv[i], "--job=", 6))
            job = argv[i] + 6;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            status_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ray-mpi status: unknown argument %s\n", argv[i]);
            status_usage(stderr);
            return 2;
        }
    }
    st_node *nodes = calloc(1, sizeof(*nodes));
    if (!nodes)
        return 1;
    if (job) {
        int rc = node_load(-1, job, nodes);
        if (rc == LOAD_OK)
            return show(nodes, 1, json);
        fprintf(stderr, "ray-mpi status: --job %s: %s%s\n", job,
                rc == LOAD_NOT_RUNNING ? "not a running ray-mpi job: " : "", nodes->err);
        free(nodes);
        return 1;
    }
    ray_config cfg;
    if (ray_config_load(&cfg)) {
        fprintf(stderr, "ray-mpi status: %s\n", ray_last_error());
        free(nodes);
        return 2;
    }
    const char *base = cfg.tmpdir && *cfg.tmpdir ? cfg.tmpdir : ray_env("TMPDIR");
    base = base && *base ? base : "/tmp";
    int n = 0;
    scan(base, &nodes, &n);
    if (n)
        return show(nodes, n, json);
    char user[64], host[256];
    user_name(user, sizeof(user));
    host_name(host, sizeof(host));
    fprintf(stderr, "ray-mpi status: no running ray-mpi job of user %s on %s (looked in %s)\n",
            user, host, base);
    free(nodes);
    return 1;
}
