/*
 * test_binding.c - workers run where the node's plan puts them (src/topo),
 * read back from /proc/self/status and get_mempolicy inside the tasks:
 *   - RAY_MPI_BIND=core (the default) on this machine: two 1-CPU tasks
 *     running at once are each bound to one CPU, not the same one, with
 *     their memory bound to the CPU's NUMA domain; a 2-CPU task gets both;
 *     a dedicated worker reused for a task of another shape is rebound; an
 *     actor with num_cpus = 1 gets one CPU, one with Ray's default (none
 *     held) the whole node;
 *   - RAY_MPI_BIND=none: tasks keep every CPU the job has;
 *   - RAY_MPI_TOPOLOGY=fat-node.xml (a fake node: plans, no binding): GPU
 *     tasks get GPUs of their own (ray_ctx_gpus and CUDA_VISIBLE_DEVICES
 *     agree), two 0.5-GPU tasks share one, a CPU task sees no GPU.
 * Each mode runs in a child (ray_init once per process); the parent turns
 * the child's "R <pass> <what>" lines into TAP.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char dir[512];

/* "<pid> <Cpus_allowed_list> <mempolicy mode> <CUDA_VISIBLE_DEVICES or -> <gpu ids>" */
static void where(char *out, size_t cap, const ray_ctx *ctx)
{
    char line[256], cpus[128] = "?";
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Cpus_allowed_list: %127s", cpus) == 1)
            break;
    if (f)
        fclose(f);
    int mode = -1;
    unsigned long mask[16] = {0};
    syscall(SYS_get_mempolicy, &mode, mask, 16 * 8 * sizeof(long), NULL, 0);
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    int ids[16], n = ctx ? ray_ctx_gpus(ctx, ids, 16) : 0;
    size_t k = (size_t)snprintf(out, cap, "%d %s %d %s ", (int)getpid(), cpus, mode,
                                cvd ? (*cvd ? cvd : "none") : "-");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%d", i ? "," : "", ids[i]);
    if (n <= 0 && k < cap)
        snprintf(out + k, cap - k, "-");
}

static int place(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    if (nargs == 2)
        gate_pass(&args[0], &args[1], 20);
    char s[512];
    where(s, sizeof(s), ctx);
    return ray_return(ctx, 0, s, strlen(s) + 1);
}
RAY_REMOTE(place)

static void *spot_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    (void)ctx;
    (void)args;
    (void)nargs;
    return malloc(1);
}
static void spot_fini(void *st) { free(st); }
static int spot_where(ray_ctx *ctx, void *st, const ray_buf *args, int nargs)
{
    (void)st;
    (void)args;
    (void)nargs;
    char s[512];
    where(s, sizeof(s), ctx);
    return ray_return(ctx, 0, s, strlen(s) + 1);
}
RAY_ACTOR(spot, spot_init, spot_fini)
RAY_METHOD(spot, spot_where)

typedef struct spot_t {
    int pid, mode;
    char cpus[128], cvd[128], ids[128];
} spot_t;

static int res(int pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int res(int pass, const char *fmt, ...)
{
    va_list ap;
    printf("R %d ", !!pass);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return pass;
}

static int get_spot(ray_ref r, spot_t *s)
{
    ray_buf b;
    memset(s, 0, sizeof(*s));
    int rc = ray_get(r, &b, E2E_TIMEOUT);
    if (!rc) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%.*s", (int)b.size, (const char *)b.data);
        if (sscanf(tmp, "%d %127s %d %127s %127s", &s->pid, s->cpus, &s->mode, s->cvd, s->ids) != 5)
            rc = RAY_EPROTO;
    }
    ray_release(r);
    return rc;
}

static int submit_place(double cpus, double gpus, const char *resources, const char *gate,
                        ray_ref *r)
{
    ray_arg a[2] = {ray_arg_val(dir, strlen(dir)), ray_arg_val(gate, gate ? strlen(gate) : 0)};
    ray_task_opts o;
    ray_task_opts_init(&o);
    o.num_cpus = cpus;
    o.num_gpus = gpus;
    o.resources = resources;
    return ray_submit("place", a, gate ? 2 : 0, &o, r);
}

static void open_gate(const char *name)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/open.%s", dir, name);
    touch(p);
}

/* Two tasks held until both run, so each is in its own worker. */
static int two_at_once(double cpus, double gpus, spot_t *a, spot_t *b)
{
    ray_ref r[2];
    if (submit_place(cpus, gpus, NULL, "one", &r[0]) || submit_place(cpus, gpus, NULL, "two", &r[1]))
        return -1;
    char p[700];
    snprintf(p, sizeof(p), "%s/started.one", dir);
    int both = wait_file(p, 20);
    snprintf(p, sizeof(p), "%s/started.two", dir);
    both &= wait_file(p, 20);
    open_gate("one");
    open_gate("two");
    int rc = get_spot(r[0], a);
    rc = rc ? rc : get_spot(r[1], b);
    for (const char *n = "one"; n; n = strcmp(n, "one") ? NULL : "two") {
        snprintf(p, sizeof(p), "%s/started.%s", dir, n);
        unlink(p);
        snprintf(p, sizeof(p), "%s/open.%s", dir, n);
        unlink(p);
    }
    return rc ? rc : both ? 0 : -2;
}

static int one_cpu(const char *list)
{
    return list[0] && !strchr(list, '-') && !strchr(list, ',');
}

static const char *actor_where(double cpus, spot_t *s)
{
    ray_actor_opts o;
    ray_actor_opts_init(&o);
    if (cpus >= 0)
        o.num_cpus = cpus;
    ray_actor a;
    ray_ref r;
    if (ray_actor_create("spot", NULL, 0, &o, &a) || ray_actor_call(a, "spot_where", NULL, 0, NULL, &r) ||
        get_spot(r, s))
        return ray_last_error();
    ray_actor_kill(a);
    return NULL;
}

static void mode_core(const char *all)
{
    spot_t a, b;
    int rc = two_at_once(1, 0, &a, &b);
    res(!rc && one_cpu(a.cpus) && one_cpu(b.cpus) && strcmp(a.cpus, b.cpus) && a.pid != b.pid,
        "bind=core: two 1-CPU tasks at once run on one CPU each, not the same (%s, %s of %s)",
        a.cpus, b.cpus, all);
    /* hwloc's BIND without STRICT: MPOL_PREFERRED_MANY (5) where the
     * kernel has it, else MPOL_PREFERRED (1) or MPOL_BIND (2). */
    res(!rc && (a.mode == 1 || a.mode == 2 || a.mode == 5) && a.mode == b.mode,
        "and their memory is bound to their NUMA domain (policy %d, %d; default is 0)", a.mode,
        b.mode);
    ray_ref r;
    spot_t w, v;
    rc = submit_place(2, 0, NULL, NULL, &r) || get_spot(r, &w);
    res(!rc && !strcmp(w.cpus, all), "a 2-CPU task gets both CPUs (%s)", w.cpus);
    rc = submit_place(1, 0, "bar:1", NULL, &r) || get_spot(r, &v);
    res(!rc && v.pid == w.pid && one_cpu(v.cpus),
        "the same dedicated worker (pid %d, %d) rebound for a 1-CPU task: %s", w.pid, v.pid,
        v.cpus);
    const char *err = actor_where(1, &w);
    res(!err && one_cpu(w.cpus), "an actor with num_cpus = 1: one CPU (%s) %s", w.cpus,
        err ? err : "");
    err = actor_where(-1, &w);
    res(!err && !strcmp(w.cpus, all), "an actor holding no CPU (Ray's default): the node (%s) %s",
        w.cpus, err ? err : "");
}

static void mode_none(const char *all)
{
    spot_t a, b;
    int rc = two_at_once(1, 0, &a, &b);
    res(!rc && !strcmp(a.cpus, all) && !strcmp(b.cpus, all) && a.mode == 0,
        "bind=none: 1-CPU tasks keep every CPU (%s, %s of %s), memory policy default (%d)",
        a.cpus, b.cpus, all, a.mode);
}

static void mode_xml(const char *all)
{
    spot_t a, b;
    int rc = two_at_once(1, 1, &a, &b);
    res(!rc && strcmp(a.ids, b.ids) && !strcmp(a.cvd, a.ids) && !strcmp(b.cvd, b.ids) &&
            strcmp(a.ids, "-"),
        "fat node: two 1-GPU tasks at once get a GPU each (ray_ctx_gpus %s, %s; "
        "CUDA_VISIBLE_DEVICES %s, %s)", a.ids, b.ids, a.cvd, b.cvd);
    res(!rc && !strcmp(a.cpus, all) && !strcmp(b.cpus, all),
        "a topology from XML is planned, never bound (%s)", a.cpus);
    rc = two_at_once(1, 0.5, &a, &b);
    res(!rc && !strcmp(a.ids, b.ids) && strcmp(a.ids, "-") && !strchr(a.ids, ','),
        "two 0.5-GPU tasks share one GPU (%s, %s)", a.ids, b.ids);
    ray_ref r;
    rc = submit_place(1, 2, NULL, NULL, &r) || get_spot(r, &a);
    res(!rc && strchr(a.ids, ',') && !strcmp(a.cvd, a.ids), "a 2-GPU task gets two (%s, %s)",
        a.ids, a.cvd);
    rc = submit_place(1, 0, NULL, NULL, &r) || get_spot(r, &a);
    res(!rc && !strcmp(a.cvd, "none") && !strcmp(a.ids, "-"),
        "a CPU task on a GPU node sees no GPU (CUDA_VISIBLE_DEVICES '%s')", a.cvd);
}

static int child_main(const char *mode)
{
    char all[128] = "?", line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Cpus_allowed_list: %127s", all) == 1)
            break;
    if (f)
        fclose(f);
    int argc = 1;
    char *args[] = {"test_binding", NULL}, **argv = args;
    int rc = ray_init(&argc, &argv);
    if (!res(rc == 0, "%s: ray_init: %s", mode, rc ? ray_last_error() : "ok"))
        return 1;
    scratch_make("binding", dir, sizeof(dir));
    if (!strcmp(mode, "core"))
        mode_core(all);
    else if (!strcmp(mode, "none"))
        mode_none(all);
    else
        mode_xml(all);
    res(ray_shutdown() == 0, "%s: ray_shutdown", mode);
    rm_tree(dir);
    return 0;
}

static void run_mode(const char *mode, const char *const *env)
{
    char out[64];
    snprintf(out, sizeof(out), "/tmp/test_binding.%d.%s", (int)getpid(), mode);
    const char *tmp = getenv("TMPDIR");
    char path[700];
    snprintf(path, sizeof(path), "%s%s", tmp ? tmp : "", tmp ? strrchr(out, '/') : out);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        for (int i = 0; env[i]; i += 2)
            setenv(env[i], env[i + 1], 1);
        setenv("E2E_BIND_MODE", mode, 1);
        char *args[] = {"test_binding", NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0, ended = pid > 0 && wait_child(pid, 120, &status);
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "R ", 2) && strlen(line) > 4) {
            ok(line[2] == '1', "%s", line + 4);
            n++;
        } else if (line[0]) {
            diag("%s: %s", mode, line);
        }
    }
    if (f)
        fclose(f);
    unlink(path);
    ok(ended && WIFEXITED(status) && WEXITSTATUS(status) == 0 && n > 2,
       "%s: the run ended well (%d results)", mode, n);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *mode = getenv("E2E_BIND_MODE");
    if (mode)
        return child_main(mode);
    unsetenv("RAY_MPI_BIND");
    unsetenv("RAY_MPI_TOPOLOGY");
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("RAY_MPI_NUM_GPUS");
    static const char *const core[] = {"RAY_MPI_NUM_CPUS", "2", "RAY_MPI_RESOURCES", "bar:1", NULL};
    static const char *const none[] = {"RAY_MPI_NUM_CPUS", "2", "RAY_MPI_BIND", "none", NULL};
    char xml[700];
    snprintf(xml, sizeof(xml), "%s/tests/unit/fat-node.xml", TOP_SRCDIR);
    const char *const fat[] = {"RAY_MPI_NUM_CPUS", "2", "RAY_MPI_TOPOLOGY", xml, NULL};
    run_mode("core", core);
    run_mode("none", none);
    run_mode("xml", fat);
    return tap_done();
}
