/*
 * test_cleanup.c - nothing of a job outlives it (DESIGN.md section 6: the
 * per-job directory is mode 0700 under $TMPDIR and is removed when the job
 * ends, also when it fails or is killed).  This program is both the test
 * and the drivers it watches: `test_cleanup child MODE` is a driver that
 * starts the runtime, runs two long tasks, says it is ready, then ends the
 * way MODE says:
 *
 *   kill    waits to be SIGKILLed by the test
 *   sigint  waits for Ctrl-C: SIGINT to its whole process group (driver,
 *           node service and workers alike)
 *   sigterm waits for SIGTERM, sent to the driver alone
 *   return  returns 5 from main without ray_shutdown
 *   exit3   calls exit(3) while its tasks run
 *   _exit4  calls _exit(4) (no atexit handlers at all)
 *   abort   dies of SIGABRT
 *   svckill the test SIGKILLs the job's node service; the driver's next
 *           ray_get must fail promptly (not hang), then it exits 6
 *   treekill waits to be SIGKILLed, with every process descended from it
 *           at once (what Slurm's proctrack/linuxproc does on srun's
 *           second ^C): the sentinel, not of that tree, removes the job
 *           directory
 *
 * Each driver gets its own TMPDIR and a unique environment variable; the
 * test finds the job's processes by that variable in /proc/PID/environ
 * (the node service and the workers inherit it), checks the job directory
 * while the job runs, then checks that within a few seconds of the end no
 * process, job directory or /dev/shm file of the job is left, and that the
 * driver's exit status is what it chose.
 *
 * The test itself never calls ray_init.  A child's workers re-run it with
 * the child's arguments, so they too go straight to ray_init.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define TAG_VAR "E2E_CLEANUP_TAG"

/* ---- the child driver */

static int hold(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    char path[700];
    touch(buf_str(&args[0], path, sizeof(path)));
    sleep_s(60); /* until the job ends around it */
    return 0;
}
RAY_REMOTE(hold)

static int child_main(int argc, char **argv, const char *mode)
{
    int rc = ray_init(&argc, &argv);
    if (rc) {
        fprintf(stderr, "child: ray_init: %s\n", ray_last_error());
        return 90;
    }
    const char *marks = getenv("E2E_MARKS");
    char path[2][700], ready[700];
    ray_ref r[2], obj;
    static char data[1 << 20];
    ray_put(data, sizeof(data), &obj);
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof(path[i]), "%s/started.%d", marks, i);
        ray_arg a = ray_arg_val(path[i], strlen(path[i]));
        if (ray_submit("hold", &a, 1, NULL, &r[i]))
            return 91;
    }
    if (!wait_file(path[0], E2E_TIMEOUT) || !wait_file(path[1], E2E_TIMEOUT))
        return 92;
    snprintf(ready, sizeof(ready), "%s/ready", marks);
    touch(ready);
    if (!strcmp(mode, "kill") || !strcmp(mode, "sigint") || !strcmp(mode, "sigterm") ||
        !strcmp(mode, "treekill")) {
        sleep_s(E2E_TIMEOUT); /* the test signals it long before */
        return 93;
    }
    char go[700];
    snprintf(go, sizeof(go), "%s/go", marks);
    wait_file(go, E2E_TIMEOUT);
    if (!strcmp(mode, "svckill")) {
        /* The test killed the node service: calls fail, they do not hang. */
        ray_buf b;
        double t0 = now_s();
        int get = ray_get(r[0], &b, 10);
        double dt = now_s() - t0;
        fprintf(stderr, "child: ray_get after the node service died: %s (%s) in %.2f s\n",
                ray_errname(get), ray_last_error(), dt);
        ray_shutdown();
        return get != RAY_OK && get != RAY_ETIMEDOUT && dt < 5 ? 6 : 1;
    }
    if (!strcmp(mode, "return"))
        return 5;
    if (!strcmp(mode, "exit3"))
        exit(3);
    if (!strcmp(mode, "_exit4"))
        _exit(4);
    if (!strcmp(mode, "abort"))
        abort();
    return 94;
}

/* ---- finding a job's processes and files */

/* Fills pids with the processes whose environment has TAG_VAR=tag. */
static int job_pids(const char *tag, int *pids, int max)
{
    char want[128];
    snprintf(want, sizeof(want), TAG_VAR "=%s", tag);
    return proc_find(0, want, pids, max);
}

/* Collects the /dev/shm files the processes have open (none is best). */
static int shm_files(const int *pids, int npids, char out[][256], int max)
{
    int n = 0;
    for (int p = 0; p < npids; p++) {
        char dpath[64], link[400], target[256];
        snprintf(dpath, sizeof(dpath), "/proc/%d/fd", pids[p]);
        DIR *d = opendir(dpath);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            snprintf(link, sizeof(link), "%s/%s", dpath, e->d_name);
            ssize_t k = readlink(link, target, sizeof(target) - 1);
            if (k <= 0)
                continue;
            target[k] = 0;
            if (!strncmp(target, "/dev/shm/", 9) && n < max) {
                char *del = strstr(target, " (deleted)");
                if (!del)
                    snprintf(out[n++], 256, "%s", target);
            }
        }
        if (d)
            closedir(d);
    }
    return n;
}

/* The one directory in tmp (the job directory); 0 if there is none. */
static int find_jobdir(const char *tmp, char *out, size_t cap)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        struct stat st;
        if (snprintf(p, sizeof(p), "%s/%s", tmp, e->d_name) >= (int)sizeof(p))
            continue;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && n++ == 0)
            snprintf(out, cap, "%s", p);
    }
    if (d)
        closedir(d);
    return n;
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* Shows what is in dir (what a job left behind). */
static void list_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
            continue;
        diag("left in TMPDIR: %s", e->d_name);
        DIR *sub = opendir(p);
        struct dirent *f;
        while (sub && (f = readdir(sub)))
            if (strcmp(f->d_name, ".") && strcmp(f->d_name, ".."))
                diag("  %s/%s", e->d_name, f->d_name);
        if (sub)
            closedir(sub);
    }
    if (d)
        closedir(d);
}

/* 1 if no entry of dir has group or other permissions. */
static int private_entries(const char *dir, char *bad, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int good = 1;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        struct stat st;
        if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
            continue;
        if (lstat(p, &st) == 0 && !S_ISLNK(st.st_mode) && (st.st_mode & 077)) {
            snprintf(bad, cap, "%s mode %o", e->d_name, (unsigned)(st.st_mode & 0777));
            good = 0;
        }
    }
    if (d)
        closedir(d);
    return good;
}

/* ---- one case */

typedef struct run run;
static pid_t child_of(run *c, pid_t parent);

struct run {
    const char *mode;
    char base[600], tmp[700], marks[700], tag[96];
    pid_t pid;
};

/* SIGKILLs root and every job process descended from it, all found
 * before any is killed; how many. */
static int kill_tree(run *c, pid_t root)
{
    int pids[256], n = job_pids(c->tag, pids, 256), tree[256], k = 0;
    for (int i = 0; i < n && i < 256; i++)
        for (pid_t p = pids[i]; p > 1; p = proc_ppid(p))
            if (p == root) {
                tree[k++] = pids[i];
                break;
            }
    for (int i = 0; i < k; i++)
        kill_pid(tree[i], SIGKILL);
    return k;
}

/* The job's process whose parent is `parent` (the driver's node service). */
static pid_t child_of(run *c, pid_t parent)
{
    int pids[256];
    int n = job_pids(c->tag, pids, 256);
    for (int i = 0; i < n && i < 256; i++)
        if (proc_ppid(pids[i]) == parent)
            return pids[i];
    return -1;
}

static pid_t start_child(run *c, char *self)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setenv("TMPDIR", c->tmp, 1);
    setenv(TAG_VAR, c->tag, 1);
    setenv("E2E_MARKS", c->marks, 1);
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "64M", 1);
    setenv("RAY_MPI_SHUTDOWN_TIMEOUT_S", "2", 1);
    setenv("RAY_MPI_NUM_CPUS", "2", 1); /* its two tasks run at once, whatever the machine */
    setpgid(0, 0); /* its own process group, as a shell job would have */
    dup2(2, 1);    /* the child's stdout is not this test's TAP stream */
    char *args[] = {self, "child", (char *)c->mode, NULL};
    execv("/proc/self/exe", args);
    _exit(127);
}


static void check_running(run *c, char shm[][256], int *nshm)
{
    int pids[256];
    int n = job_pids(c->tag, pids, 256);
    ok(n >= 3, "%s: the job runs as >= 3 processes: driver, node service, workers (%d)", c->mode,
       n);
    *nshm = shm_files(pids, n < 256 ? n : 256, shm, 16);
    char jobdir[1024], bad[300] = "";
    int dirs = find_jobdir(c->tmp, jobdir, sizeof(jobdir));
    is_int(dirs, 1, "%s: one job directory in the driver's $TMPDIR while it runs", c->mode);
    if (dirs != 1)
        return;
    struct stat st;
    memset(&st, 0, sizeof(st));
    int got = stat(jobdir, &st) == 0;
    ok(got && (st.st_mode & 0777) == 0700, "%s: it is mode 0700 (%o)", c->mode,
       (unsigned)(st.st_mode & 0777));
    ok(st.st_uid == getuid(), "%s: it belongs to this user", c->mode);
    ok(private_entries(jobdir, bad, sizeof(bad)),
       "%s: nothing in it is open to group or others%s%s", c->mode, bad[0] ? ": " : "", bad);
}

/* Polls (10 s at most) until the job's processes and files are gone;
 * returns the seconds it took the processes to go, or -1. */
static double wait_gone(run *c, char shm[][256], int nshm, int *left_pids, int *left_files)
{
    double t0 = now_s(), end = t0 + 10, procs_gone = -1;
    int pids[64];
    for (;;) {
        *left_pids = job_pids(c->tag, pids, 64);
        *left_files = count_entries(c->tmp);
        for (int i = 0; i < nshm; i++)
            *left_files += file_exists(shm[i]);
        if (!*left_pids && procs_gone < 0)
            procs_gone = now_s() - t0;
        if (!*left_pids && !*left_files)
            return procs_gone;
        if (now_s() > end)
            break;
        sleep_s(0.05);
    }
    for (int i = 0; i < *left_pids && i < 64; i++) {
        char cmd[256] = "", p[64];
        snprintf(p, sizeof(p), "/proc/%d/cmdline", pids[i]);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : 0;
        if (fd >= 0)
            close(fd);
        for (ssize_t j = 0; j < k; j++)
            cmd[j] = cmd[j] ? cmd[j] : ' ';
        cmd[k > 0 ? k : 0] = 0;
        diag("left: pid %d: %s", pids[i], cmd);
        kill_pid(pids[i], SIGKILL);
    }
    return procs_gone;
}

static void run_case(const char *scratch, char *self, const char *mode, int want_sig, int want_exit)
{
    run c;
    memset(&c, 0, sizeof(c));
    c.mode = mode;
    snprintf(c.base, sizeof(c.base), "%s/%s", scratch, mode);
    snprintf(c.tmp, sizeof(c.tmp), "%s/tmp", c.base);
    snprintf(c.marks, sizeof(c.marks), "%s/marks", c.base);
    snprintf(c.tag, sizeof(c.tag), "%d-%s-%ld", (int)getpid(), mode, (long)random());
    mkdir(c.base, 0700);
    mkdir(c.tmp, 0700);
    mkdir(c.marks, 0700);

    c.pid = start_child(&c, self);
    char ready[800];
    snprintf(ready, sizeof(ready), "%s/ready", c.marks);
    int up = 0;
    double end = now_s() + E2E_TIMEOUT;
    while (!(up = file_exists(ready)) && now_s() < end && waitpid(c.pid, NULL, WNOHANG) == 0)
        sleep_s(0.02);
    ok(up, "%s: the child driver starts its job and two tasks", mode);
    char shm[16][256];
    int nshm = 0;
    if (up)
        check_running(&c, shm, &nshm);

    if (!strcmp(mode, "treekill")) {
        int k = kill_tree(&c, c.pid);
        ok(k >= 3, "%s: SIGKILL the driver and its descendants at once (%d processes)", mode, k);
    } else if (want_sig == SIGKILL || want_sig == SIGTERM) {
        kill_pid(c.pid, want_sig);
    } else if (want_sig == SIGINT) {
        kill_group(c.pid, SIGINT);
    } else {
        if (!strcmp(mode, "svckill")) {
            pid_t svc = child_of(&c, c.pid);
            ok(svc > 0 && kill_pid(svc, SIGKILL) == 0, "%s: SIGKILL the node service (pid %d)", mode,
               (int)svc);
        }
        char go[800];
        snprintf(go, sizeof(go), "%s/go", c.marks);
        touch(go);
    }
    int status = 0;
    int ended = wait_child(c.pid, E2E_TIMEOUT, &status);
    ok(ended, "%s: the driver ends", mode);
    if (want_sig)
        ok(WIFSIGNALED(status) && WTERMSIG(status) == want_sig,
           "%s: it died of signal %d (status 0x%x)", mode, want_sig, (unsigned)status);
    else
        ok(WIFEXITED(status) && WEXITSTATUS(status) == want_exit,
           "%s: its exit status %d is kept (status 0x%x)", mode, want_exit, (unsigned)status);
    int left_pids, left_files;
    double t = wait_gone(&c, shm, nshm, &left_pids, &left_files);
    ok(left_pids == 0, "%s: within seconds no process of the job is left (%d left)", mode,
       left_pids);
    ok(left_files == 0, "%s: its job directory (and any /dev/shm file) is gone (%d left)", mode,
       left_files);
    if (left_files)
        list_entries(c.tmp);
    ok(t >= 0 && t < 10, "%s: the processes were gone within 10 s (%.2f s)", mode, t);
    rm_tree(c.base);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "child"))
        return child_main(argc, argv, argv[2]);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    srandom((unsigned)(getpid() ^ (pid_t)time(NULL)));
    char scratch[512];
    if (scratch_make("cleanup", scratch, sizeof(scratch))) {
        ok(0, "make a scratch directory under $TMPDIR");
        return 1;
    }
    run_case(scratch, argv[0], "kill", SIGKILL, 0);
    run_case(scratch, argv[0], "sigint", SIGINT, 0);
    run_case(scratch, argv[0], "sigterm", SIGTERM, 0);
    run_case(scratch, argv[0], "return", 0, 5);
    run_case(scratch, argv[0], "exit3", 0, 3);
    run_case(scratch, argv[0], "_exit4", 0, 4);
    run_case(scratch, argv[0], "abort", SIGABRT, 0);
    run_case(scratch, argv[0], "svckill", 0, 6);
    run_case(scratch, argv[0], "treekill", SIGKILL, 0);
    rm_tree(scratch);
    return tap_done();
}
