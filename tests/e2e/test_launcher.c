/*
 * test_launcher.c - the `ray-mpi` launcher (DESIGN.md sections 1 and 5):
 * `ray-mpi [options] DRIVER args...` runs DRIVER with this node's service
 * and ends with the driver's exit status; every option has an environment
 * twin RAY_MPI_<NAME> and options win; `--config` lists the settings; a bad
 * option or value is exit status 2 with a message; a driver that cannot be
 * run is 127; Ctrl-C (SIGINT to the process group) and SIGTERM end the job
 * with 128 + the signal; a SIGKILLed ray-mpi leaves no process and no job
 * directory behind; `--show-placement` prints a node's plan without
 * running anything (golden lines of the fat node), RAY_MPI_SHOW_PLACEMENT=1
 * prints it as the job starts.
 *
 * This program is also the driver: `test_launcher driver ...` (see
 * driver_main).  The test runs ray-mpi from RAY_MPI_BIN, else the one built
 * in this tree, each run with its own TMPDIR, and checks that the run left
 * nothing in it.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <signal.h>
#include <sys/wait.h>

#ifndef RAY_MPI_BIN_DEFAULT
#define RAY_MPI_BIN_DEFAULT "ray-mpi"
#endif

/* ---- the driver */

static int echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(echo)

/* 1 if a task with num_cpus = cpus runs (or fails with `want`). */
static int cpus_give(double cpus, int want)
{
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_cpus = cpus;
    int64_t v = 1;
    ray_arg a = ray_arg_val(&v, sizeof(v));
    ray_ref r;
    ray_buf b;
    int rc = ray_submit("echo", &a, 1, &o, &r);
    if (rc == RAY_OK) {
        rc = ray_get(r, &b, E2E_TIMEOUT);
        ray_release(r);
    }
    if (rc != want)
        fprintf(stderr, "driver: num_cpus=%g gave %s, want %s: %s\n", cpus, ray_errname(rc),
                ray_errname(want), ray_last_error());
    return rc == want;
}

/* driver CODE [shutdown|noshutdown|kill|wait] | driver cpus N | driver store BYTES
 * | driver args A B C */
static int driver_main(int argc, char **argv)
{
    if (ray_init(&argc, &argv)) {
        fprintf(stderr, "driver: ray_init: %s\n", ray_last_error());
        return 90;
    }
    const char *what = argc > 2 ? argv[2] : "0";
    if (!strcmp(what, "cpus")) {
        double n = argc > 3 ? atof(argv[3]) : 1;
        int good = cpus_give(n, RAY_OK) && cpus_give(n + 1, RAY_EINFEASIBLE);
        ray_shutdown();
        return good ? 0 : 10;
    }
    if (!strcmp(what, "store")) {
        ray_stats s;
        uint64_t want = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
        int good = ray_get_stats(&s) == RAY_OK && s.store_capacity_bytes == want;
        if (!good)
            fprintf(stderr, "driver: store capacity %llu, want %llu\n",
                    (unsigned long long)s.store_capacity_bytes, (unsigned long long)want);
        ray_shutdown();
        return good ? 0 : 12;
    }
    if (!strcmp(what, "args")) {
        int good = argc == 6 && !strcmp(argv[3], "alpha") && !strcmp(argv[4], "two words") &&
                   !strcmp(argv[5], "");
        ray_shutdown();
        return good ? 0 : 11;
    }
    int64_t code = atoi(what);
    ray_arg a = ray_arg_val(&code, sizeof(code));
    ray_ref r;
    if (ray_submit("echo", &a, 1, NULL, &r) || ref_i64(r, -1) != code) {
        fprintf(stderr, "driver: task: %s\n", ray_last_error());
        return 99;
    }
    const char *end = argc > 3 ? argv[3] : "shutdown";
    if (!strcmp(end, "kill"))
        raise(SIGKILL);
    if (!strcmp(end, "wait")) { /* until a signal ends it */
        const char *ready = getenv("E2E_READY");
        if (ready)
            touch(ready);
        sleep_s(E2E_TIMEOUT);
        return 97;
    }
    if (!strcmp(end, "shutdown") && ray_shutdown())
        return 98;
    return (int)code;
}

/* ---- running ray-mpi */

static char scratch[512];
static const char *bin;

typedef struct result {
    int status; /* exit status, 128 + signal, or -1 when it hung */
    char out[16384], err[16384];
    int leftovers; /* entries left in the run's TMPDIR */
} result;

/* Reads a captured stream; with flatten, newlines become spaces (stderr
 * is quoted in one-line TAP descriptions). */
static void slurp(const char *path, char *buf, size_t cap, int flatten)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : 0;
    buf[n > 0 ? n : 0] = 0;
    for (ssize_t i = 0; flatten && i < n; i++)
        if (buf[i] == '\n')
            buf[i] = i + 1 < n ? ' ' : 0;
    if (fd >= 0)
        close(fd);
    unlink(path);
}

/* Runs argv (NULL-terminated) with extra "NAME=VALUE" settings. */
static void run(char *const argv[], const char *const env[], result *res)
{
    static int seq;
    char tmp[700], out[700], err[700];
    snprintf(tmp, sizeof(tmp), "%s/run%d", scratch, ++seq);
    snprintf(out, sizeof(out), "%s/out%d", scratch, seq);
    snprintf(err, sizeof(err), "%s/err%d", scratch, seq);
    mkdir(tmp, 0700);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("TMPDIR", tmp, 1);
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        execvp(argv[0], argv);
        _exit(126);
    }
    int st = 0;
    double end = now_s() + E2E_TIMEOUT;
    pid_t p;
    while ((p = waitpid(pid, &st, WNOHANG)) == 0 && now_s() < end)
        sleep_s(0.01);
    if (p != pid) {
        kill_pid(pid, SIGKILL);
        waitpid(pid, &st, 0);
        res->status = -1;
    } else {
        res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    slurp(out, res->out, sizeof(res->out), 0);
    slurp(err, res->err, sizeof(res->err), 1);
    /* The job directory goes with the job; allow the killed node a moment. */
    for (int i = 0; i < 100; i++) {
        res->leftovers = count_files(tmp, "") - 2;
        if (res->leftovers <= 0)
            break;
        sleep_s(0.05);
    }
    if (res->status != 0 && res->status != 2 && res->status != 127 && res->err[0])
        diag("stderr: %.300s", res->err);
    rm_tree(tmp);
}

/* Waits until no process but this one carries this test's E2E_LAUNCH_TAG;
 * returns how many are left after timeout_s (and kills them). */
static int wait_tag_gone(double timeout_s)
{
    char want[128];
    snprintf(want, sizeof(want), "E2E_LAUNCH_TAG=%d", (int)getpid());
    size_t wl = strlen(want);
    double end = now_s() + timeout_s;
    for (;;) {
        int n = 0, pids[64];
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == getpid())
                continue;
            char path[300], buf[65536];
            snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
            if (fd >= 0)
                close(fd);
            for (ssize_t i = 0; i + (ssize_t)wl <= len; i += (ssize_t)strlen(buf + i) + 1)
                if (!memcmp(buf + i, want, wl) && buf[i + (ssize_t)wl] == 0) {
                    if (n < 64)
                        pids[n] = pid;
                    n++;
                    break;
                }
        }
        if (d)
            closedir(d);
        if (!n || now_s() > end) {
            for (int i = 0; i < n && i < 64; i++)
                kill_pid(pids[i], SIGKILL);
            return n;
        }
        sleep_s(0.05);
    }
}

/* Runs argv in a process group of its own, waits for its driver to say
 * it is ready, sends sig (to the whole group, like a terminal's Ctrl-C, or
 * to the launcher alone, like a batch system), then waits for the end. */
static void run_signalled(char *const argv[], int sig, int to_group, result *res, double *secs)
{
    static int seq;
    char tmp[700], ready[700];
    snprintf(tmp, sizeof(tmp), "%s/sig%d", scratch, ++seq);
    snprintf(ready, sizeof(ready), "%s/ready%d", scratch, seq);
    mkdir(tmp, 0700);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        setenv("TMPDIR", tmp, 1);
        setenv("E2E_READY", ready, 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execvp(argv[0], argv);
        _exit(126);
    }
    setpgid(pid, pid);
    res->status = -1;
    *secs = -1;
    if (wait_file(ready, E2E_TIMEOUT)) {
        double t0 = now_s();
        to_group ? kill_group(pid, sig) : kill_pid(pid, sig);
        int st = 0;
        pid_t p;
        while ((p = waitpid(pid, &st, WNOHANG)) == 0 && now_s() < t0 + E2E_TIMEOUT)
            sleep_s(0.01);
        if (p == pid) {
            res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            *secs = now_s() - t0;
        }
    }
    if (res->status == -1) {
        kill_group(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    for (int i = 0; i < 100; i++) {
        res->leftovers = count_files(tmp, "") - 2;
        if (res->leftovers <= 0)
            break;
        sleep_s(0.05);
    }
    unlink(ready);
    rm_tree(tmp);
}

static void test_signals(const char *self)
{
    result *r = malloc(sizeof(*r));
    double t;
    char *a[] = {(char *)bin, (char *)self, "driver", "0", "wait", NULL};
    run_signalled(a, SIGINT, 1, r, &t);
    is_int(r->status, 128 + SIGINT,
           "Ctrl-C (SIGINT to the job's process group): ray-mpi "
           "exits 128 + 2");
    ok(t >= 0 && t < 10, "  ... within seconds (%.2f s)", t);
    is_int(r->leftovers, 0, "  ... and leaves nothing in its TMPDIR");

    run_signalled(a, SIGTERM, 0, r, &t);
    is_int(r->status, 128 + SIGTERM,
           "SIGTERM to ray-mpi alone: it ends the driver and exits "
           "128 + 15");
    ok(t >= 0 && t < 10, "  ... within seconds (%.2f s)", t);
    is_int(r->leftovers, 0, "  ... and leaves nothing in its TMPDIR");

    /* The launcher itself killed outright (the OOM killer, a batch system
     * past its grace time): the driver and workers must not outlive it. */
    run_signalled(a, SIGKILL, 0, r, &t);
    is_int(r->status, 128 + SIGKILL, "SIGKILL to ray-mpi alone: it dies");
    int left = wait_tag_gone(10);
    is_int(left, 0, "  ... its driver and workers are gone within 10 s");
    is_int(r->leftovers, 0, "  ... and nothing is left in its TMPDIR");
    free(r);
}

/* Every non-empty line starts with RAY_MPI_ and has a '='. */
static int config_lines_ok(const char *out, int *lines)
{
    int good = 1;
    *lines = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n && *p != '#') { /* comments say what "auto" comes to here */
            (*lines)++;
            good &= !strncmp(p, "RAY_MPI_", 8) && memchr(p, '=', n) != NULL;
        }
        p += n + (nl != NULL);
    }
    return good;
}

static int has_line_prefix(const char *out, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, prefix, n))
            return 1;
    return 0;
}

static void test_exit_status(const char *self, const char *self_rel)
{
    result *r = malloc(sizeof(*r));
    char *a0[] = {(char *)bin, (char *)self, "driver", "0", NULL};
    run(a0, NULL, r);
    is_int(r->status, 0, "ray-mpi DRIVER: a driver that runs a task and exits 0: status 0");
    is_int(r->leftovers, 0, "  ... and leaves nothing in its TMPDIR");

    char *a7[] = {(char *)bin, (char *)self, "driver", "7", NULL};
    run(a7, NULL, r);
    is_int(r->status, 7, "a driver exiting 7: ray-mpi exits 7");

    char *ar[] = {(char *)bin, (char *)self_rel, "driver", "3", NULL};
    run(ar, NULL, r);
    is_int(r->status, 3, "a driver given by a relative path (%s): exits 3", self_rel);

    char *a9[] = {(char *)bin, (char *)self, "driver", "9", "noshutdown", NULL};
    run(a9, NULL, r);
    is_int(r->status, 9, "a driver returning 9 without ray_shutdown: ray-mpi exits 9");
    is_int(r->leftovers, 0, "  ... and leaves nothing in its TMPDIR");

    char *ak[] = {(char *)bin, (char *)self, "driver", "1", "kill", NULL};
    run(ak, NULL, r);
    is_int(r->status, 128 + SIGKILL, "a driver killed by SIGKILL: ray-mpi exits 128 + 9");
    is_int(r->leftovers, 0, "  ... and leaves nothing in its TMPDIR");

    char *ad[] = {(char *)bin, "--", (char *)self, "driver", "4", NULL};
    run(ad, NULL, r);
    is_int(r->status, 4, "ray-mpi -- DRIVER: '--' ends the options");

    char *aa[] = {(char *)bin, (char *)self, "driver", "args", "alpha", "two words", "", NULL};
    run(aa, NULL, r);
    is_int(r->status, 0, "the driver gets its arguments unchanged (spaces, empty)");

    /* Found in PATH like a shell would. */
    static char dir[4096], path_env[8300], base[4096];
    snprintf(dir, sizeof(dir), "%s", self);
    char *slash = strrchr(dir, '/');
    snprintf(base, sizeof(base), "%s", slash ? slash + 1 : self);
    if (slash)
        *slash = 0;
    snprintf(path_env, sizeof(path_env), "PATH=%s:%s", dir, getenv("PATH") ? getenv("PATH") : "");
    const char *env[] = {path_env, NULL};
    char *ap[] = {(char *)bin, base, "driver", "6", NULL};
    run(ap, env, r);
    is_int(r->status, 6, "a driver found in PATH: exits 6");
    free(r);
}

static void test_settings(const char *self)
{
    result *r = malloc(sizeof(*r));
    char *c1[] = {(char *)bin, "--num-cpus", "1", (char *)self, "driver", "cpus", "1", NULL};
    run(c1, NULL, r);
    is_int(r->status, 0, "--num-cpus 1: the driver sees a 1-CPU node");

    const char *env1[] = {"RAY_MPI_NUM_CPUS=1", NULL};
    char *c2[] = {(char *)bin, (char *)self, "driver", "cpus", "1", NULL};
    run(c2, env1, r);
    is_int(r->status, 0, "RAY_MPI_NUM_CPUS=1: the same from the environment");

    const char *env4[] = {"RAY_MPI_NUM_CPUS=4", NULL};
    char *c3[] = {(char *)bin, "--num-cpus=1", (char *)self, "driver", "cpus", "1", NULL};
    run(c3, env4, r);
    is_int(r->status, 0, "RAY_MPI_NUM_CPUS=4 with --num-cpus=1: the option wins");

    char *s1[] = {
        (char *)bin, "--object-store-memory=96M", (char *)self, "driver", "store", "100663296",
        NULL};
    run(s1, NULL, r);
    is_int(r->status, 0, "--object-store-memory=96M: the driver's node has a 96 MiB store");
    const char *env64[] = {"RAY_MPI_OBJECT_STORE_MEMORY=64M", NULL};
    char *s2[] = {(char *)bin, (char *)self, "driver", "store", "67108864", NULL};
    run(s2, env64, r);
    is_int(r->status, 0, "RAY_MPI_OBJECT_STORE_MEMORY=64M: a 64 MiB store");

    char *cfg[] = {(char *)bin, "--config", NULL};
    run(cfg, NULL, r);
    is_int(r->status, 0, "ray-mpi --config exits 0");
    int lines = 0, lines_ok = config_lines_ok(r->out, &lines);
    ok(lines_ok && lines >= 5,
       "  ... every line is a RAY_MPI_<NAME>=value setting or a # comment (%d settings)", lines);
    ok(has_line_prefix(r->out, "# on this node: RAY_MPI_NUM_CPUS="),
       "  ... and it says what the automatic CPU count is on this node");
    ok(has_line_prefix(r->out, "RAY_MPI_NUM_CPUS=") &&
           has_line_prefix(r->out, "RAY_MPI_OBJECT_STORE_MEMORY=") &&
           has_line_prefix(r->out, "RAY_MPI_LOG="),
       "  ... NUM_CPUS, OBJECT_STORE_MEMORY and LOG among them");

    const char *env3[] = {"RAY_MPI_NUM_CPUS=3", NULL};
    run(cfg, env3, r);
    ok(has_line_prefix(r->out, "RAY_MPI_NUM_CPUS=3"), "  ... shows RAY_MPI_NUM_CPUS=3 from the "
                                                      "environment");
    char *cfg2[] = {(char *)bin, "--num-cpus=5", "--config", NULL};
    run(cfg2, env3, r);
    ok(has_line_prefix(r->out, "RAY_MPI_NUM_CPUS=5"), "  ... and 5 from --num-cpus=5 over "
                                                      "the environment's 3");

    char *help[] = {(char *)bin, "--help", NULL};
    run(help, NULL, r);
    ok(r->status == 0 && str_has(r->out, "usage") && str_has(r->out, "--num-cpus"),
       "ray-mpi --help exits 0 with the usage and the options");
    char *ver[] = {(char *)bin, "--version", NULL};
    run(ver, NULL, r);
    r->out[strcspn(r->out, "\n")] = 0;
    ok(r->status == 0 && str_has(r->out, "ray-mpi"), "ray-mpi --version exits 0 (%.40s)", r->out);
    free(r);
}

/* The fat node's plan, as `ray-mpi --show-placement` prints it. */
static void test_show_placement(const char *self)
{
    const char *xml = getenv("FAT_NODE_XML");
    if (!ok(xml != NULL, "fat-node.xml given (FAT_NODE_XML)"))
        return;
    result *r = malloc(sizeof(*r));
    char topo_env[4200];
    snprintf(topo_env, sizeof(topo_env), "RAY_MPI_TOPOLOGY=%s", xml);
    const char *env[] = {topo_env, NULL};
    char *show[] = {(char *)bin, "--show-placement", NULL};
    run(show, env, r);
    is_int(r->status, 0, "ray-mpi --show-placement on the fat node exits 0");
    static const char *lines[] = {
        "machine: 2 packages, 4 NUMA domains, 64 cores, 128 PUs, 256.0 GiB\n",
        "NUMA 3: 64.0 GiB, cores L#48-63, PUs 48-63,112-127\n",
        "GPU 2: cuda2, NVIDIA A100-SXM4-80GB, PCI 0000:bb:00.0, near NUMA 3, "
        "CUDA_VISIBLE_DEVICES=2\n",
        "NIC ib1 mlx5_1: PCI 0000:98:00.0, near NUMA 2\n",
        "pool slot 1: PU 16 (core L#16), NUMA 1\n",
        "pool slot 64: PU 64 (core L#0), NUMA 0\n",
        "GPU slot 3: PU 126 (core L#62), NUMA 3, GPU 3 (cuda3), CUDA_VISIBLE_DEVICES=3\n"};
    int found = 0;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        int has = str_has(r->out, lines[i]);
        if (!has)
            diag("missing: %s", lines[i]);
        found += has;
    }
    is_int(found, (int)(sizeof(lines) / sizeof(lines[0])),
           "  ... the golden lines: machine, NUMA, GPU, NIC, pool and GPU slots");
    is_int(r->leftovers, 0, "  ... and starts no job (nothing in its TMPDIR)");
    char *numa[] = {(char *)bin, "--show-placement", "--bind=numa", NULL};
    run(numa, env, r);
    ok(str_has(r->out, "pool slot 1: PUs 16-31,80-95 (cores L#16-31), NUMA 1\n"),
       "ray-mpi --show-placement --bind=numa: slot 1 gets all of NUMA 1");
    const char *env_show[] = {"RAY_MPI_SHOW_PLACEMENT=1", NULL};
    char *job[] = {(char *)bin, (char *)self, "driver", "0", NULL};
    run(job, env_show, r);
    ok(r->status == 0 && str_has(r->err, "pool slot 0: PU") && str_has(r->err, "machine: "),
       "RAY_MPI_SHOW_PLACEMENT=1: this machine's plan on stderr, then the job runs (%d)",
       r->status);
    free(r);
}

static void test_bad_usage(const char *self)
{
    result *r = malloc(sizeof(*r));
    char *b1[] = {(char *)bin, "--bogus-option", (char *)self, "driver", "0", NULL};
    run(b1, NULL, r);
    is_int(r->status, 2, "an unknown option: exit status 2");
    ok(str_has(r->err, "--bogus-option"), "  ... the message names it (%.200s)", r->err);

    char *b2[] = {(char *)bin, "--num-cpus=abc", (char *)self, "driver", "0", NULL};
    run(b2, NULL, r);
    is_int(r->status, 2, "a bad option value (--num-cpus=abc): exit status 2");
    ok(str_has(r->err, "num-cpus") && str_has(r->err, "abc"),
       "  ... the message names the option and the value (%.200s)", r->err);

    char *b3[] = {(char *)bin, (char *)self, "driver", "0", NULL};
    const char *env[] = {"RAY_MPI_NUM_CPUS=lots", NULL};
    run(b3, env, r);
    is_int(r->status, 2, "a bad environment value (RAY_MPI_NUM_CPUS=lots): exit status 2");
    ok(str_has(r->err, "RAY_MPI_NUM_CPUS"), "  ... the message names the variable (%.200s)",
       r->err);

    char *b4[] = {(char *)bin, "--num-cpus", NULL};
    run(b4, NULL, r);
    is_int(r->status, 2, "an option missing its value: exit status 2");

    char *b5[] = {(char *)bin, NULL};
    run(b5, NULL, r);
    is_int(r->status, 2, "no driver at all: exit status 2");
    ok(str_has(r->err, "usage"), "  ... with the usage on stderr");

    char missing[700];
    snprintf(missing, sizeof(missing), "%s/no-such-driver", scratch);
    char *m1[] = {(char *)bin, missing, NULL};
    run(m1, NULL, r);
    is_int(r->status, 127, "a driver that does not exist: exit status 127");
    ok(str_has(r->err, "no-such-driver"), "  ... the message names it (%.200s)", r->err);
    is_int(r->leftovers, 0, "  ... and nothing is left in its TMPDIR");

    char *m2[] = {(char *)bin, "no-such-driver-in-path", NULL};
    run(m2, NULL, r);
    is_int(r->status, 127, "a driver name not found in PATH: exit status 127");

    char plain[700];
    snprintf(plain, sizeof(plain), "%s/not-executable", scratch);
    int fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, "#!/bin/sh\nexit 0\n", 17);
        (void)w;
        close(fd);
    }
    char *m3[] = {(char *)bin, plain, NULL};
    run(m3, NULL, r);
    is_int(r->status, 127, "a driver file without execute permission: exit status 127");
    unlink(plain);
    free(r);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "driver"))
        return driver_main(argc, argv);
    char tag[32];
    snprintf(tag, sizeof(tag), "%d", (int)getpid());
    setenv("E2E_LAUNCH_TAG", tag, 1); /* marks every process this test starts */
    bin = getenv("RAY_MPI_BIN");
    if (!bin || !*bin)
        bin = RAY_MPI_BIN_DEFAULT;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    ok(access(bin, X_OK) == 0, "the launcher is there: %s", bin);
    if (scratch_make("launcher", scratch, sizeof(scratch)) || n <= 0)
        return 1;
    test_exit_status(self, strchr(argv[0], '/') ? argv[0] : self);
    test_settings(self);
    test_bad_usage(self);
    test_show_placement(self);
    test_signals(self);
    rm_tree(scratch);
    return tap_done();
}
