/*
 * e2e.h - small helpers shared by the end-to-end tests (tests/e2e): clocks,
 * 64-bit values in buffers, and "gate" files in a scratch directory under
 * $TMPDIR that let the test decide when a running task may finish.
 *
 * Only the public API (ray_mpi.h) and POSIX are used.  Remember that code
 * before ray_init() in main also runs in every worker: nothing here prints.
 */
#ifndef RAY_E2E_H
#define RAY_E2E_H

#define _GNU_SOURCE
#include <ray_mpi.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* kill(2) of one process, or of one process group, that refuses anything
 * else: a pid that is not > 1 (0 is this test's own process group, which
 * make and the CI shell share; -1 is every process on the machine, as
 * root), or this process or its group.  A failed lookup (-1) or a failed
 * fork() must never become such a kill. */
static inline int kill_pid(pid_t pid, int sig)
{
    if (pid <= 1 || pid == getpid()) {
        errno = EINVAL;
        return -1;
    }
    return kill(pid, sig);
}

static inline int kill_group(pid_t pgid, int sig)
{
    if (pgid <= 1 || pgid == getpgrp()) {
        errno = EINVAL;
        return -1;
    }
    return kill(-pgid, sig);
}

/* Generous bound for every wait in the tests: a bug shows as a failure. */
#define E2E_TIMEOUT 30.0

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds since the epoch (to compare times across processes). */
static inline double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* An int64 argument or object: its value, or `bad` when the size is wrong. */
static inline int64_t buf_i64(const ray_buf *b, int64_t bad)
{
    int64_t v;
    if (!b || !b->data || b->size != sizeof(v))
        return bad;
    memcpy(&v, b->data, sizeof(v));
    return v;
}

static inline int64_t ref_i64(ray_ref r, int64_t bad)
{
    ray_buf b;
    if (ray_get(r, &b, E2E_TIMEOUT))
        return bad;
    return buf_i64(&b, bad);
}

/* Copies a string argument (not NUL-terminated in the buffer) into out. */
static inline const char *buf_str(const ray_buf *b, char *out, size_t cap)
{
    size_t n = b->size < cap - 1 ? b->size : cap - 1;
    memcpy(out, b->data, n);
    out[n] = 0;
    return out;
}

static inline ray_arg i64_arg(const int64_t *v) { return ray_arg_val(v, sizeof(*v)); }
static inline ray_arg str_arg(const char *s) { return ray_arg_val(s, strlen(s)); }

static inline int str_has(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/* ---- files as signals between the test and its tasks */

static inline int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Creates path; returns 1 if this call created it, 0 if it existed. */
static inline int touch_new(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static inline void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
}

/* Waits until path exists; 1 if it did within timeout_s. */
static inline int wait_file(const char *path, double timeout_s)
{
    double end = now_s() + timeout_s;
    while (!file_exists(path)) {
        if (now_s() > end)
            return 0;
        sleep_s(0.01);
    }
    return 1;
}

/* In a task given (dir, name) arguments: says "started" (<dir>/started.<name>)
 * and waits until the test opens its gate (<dir>/open.<name>). */
static inline int gate_pass(const ray_buf *dir, const ray_buf *name, double timeout_s)
{
    char d[512], n[64], path[700];
    buf_str(dir, d, sizeof(d));
    buf_str(name, n, sizeof(n));
    snprintf(path, sizeof(path), "%s/started.%s", d, n);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    snprintf(path, sizeof(path), "%s/open.%s", d, n);
    return wait_file(path, timeout_s);
}

/* Makes a fresh scratch directory under $TMPDIR; the path goes to out. */
static inline int scratch_make(const char *name, char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/%s.%d", base && *base ? base : "/tmp", name, (int)getpid());
    return mkdir(out, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Removes a directory tree (the scratch directories are shallow). */
static inline void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char sub[4096];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= (int)sizeof(sub))
                continue;
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                rm_tree(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Counts the entries of a directory whose name starts with prefix. */
static inline int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

/* ---- processes, from /proc */

/* The parent of pid, or -1. */
static inline pid_t proc_ppid(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
    if (fd >= 0)
        close(fd);
    buf[k > 0 ? k : 0] = 0;
    char *rp = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
    int ppid = -1;
    char state;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

/* Whether pid's initial environment holds the entry kv ("NAME=value"). */
static inline int proc_has_env(pid_t pid, const char *kv)
{
    static char buf[65536];
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = 0;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1)
        if (!strcmp(buf + i, kv))
            return 1;
    return 0;
}

/* The processes whose parent is ppid (any when ppid <= 0) and whose
 * environment has kv (any when NULL): up to max pids, returns how many. */
static inline int proc_find(pid_t ppid, const char *kv, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if ((ppid > 0 && proc_ppid(pid) != ppid) || (kv && !proc_has_env(pid, kv)))
            continue;
        if (n < max)
            pids[n] = pid;
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Waits for child pid for timeout_s; SIGKILLs it past that.  1 if it ended
 * by itself. */
static inline int wait_child(pid_t pid, double timeout_s, int *status)
{
    double end = now_s() + timeout_s;
    for (;;) {
        pid_t p = waitpid(pid, status, WNOHANG);
        if (p == pid)
            return 1;
        if (p < 0 || now_s() > end) {
            kill_pid(pid, SIGKILL);
            waitpid(pid, status, 0);
            return 0;
        }
        sleep_s(0.01);
    }
}

#endif
