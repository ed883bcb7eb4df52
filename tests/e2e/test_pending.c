/*
 * test_pending.c - actors' CPUs, and work that waits for resources says so.
 *
 * On a 2-CPU node: four actors created with the defaults (1 CPU to be
 * placed, none held once they run: Ray's) all start and answer, and two
 * tasks still run at the same time beside them.  Actors given num_cpus
 * explicitly hold it for life: with two of 1 CPU alive, an actor of 2 CPUs
 * waits, and after RAY_MPI_PENDING_WARN_S one warning (one only) names
 * what it needs and what holds the CPUs; so do tasks that get no CPU.  When
 * the holders go, the waiting work runs.  A request no node can meet fails
 * at once with RAY_EINFEASIBLE.  The warnings go to the node service's
 * stderr: the checks run in a child whose stderr is a file.
 */
#include "e2e.h"
#include "lib/tap.h"

static int slow_stamp(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    double t[2];
    t[0] = now_s();
    sleep_s(0.3);
    t[1] = now_s();
    return ray_return(ctx, 0, t, sizeof(t));
}
RAY_REMOTE(slow_stamp)

static void *idle_init(ray_ctx *ctx, const ray_buf *args, int nargs) { return malloc(1); }
static void idle_fini(void *s) { free(s); }
static int ping(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t v = 1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_ACTOR(Idle, idle_init, idle_fini)
RAY_METHOD(Idle, ping)

static int ping_ok(ray_actor a)
{
    ray_ref r;
    int ok = ray_actor_call(a, "ping", NULL, 0, NULL, &r) == 0 && ref_i64(r, -1) == 1;
    ray_release(r);
    return ok;
}

static int make_actor(const char *name, double cpus, ray_actor *out)
{
    ray_actor_opts o;
    ray_actor_opts_init(&o);
    o.name = name;
    if (cpus >= 0)
        o.num_cpus = cpus;
    return ray_actor_create("Idle", NULL, 0, &o, out);
}

/* Lines of "# KEY ok|bad" on stdout tell the parent what the child saw. */
static void say(const char *key, int good) { printf("# %s %s\n", key, good ? "ok" : "bad"); }

static int child_main(int argc, char **argv)
{
    if (ray_init(&argc, &argv))
        return 2;
    ray_actor d[4], h[2], big;
    char name[16];
    int all = 1;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "default%d", i);
        all &= make_actor(name, -1, &d[i]) == 0 && ping_ok(d[i]);
    }
    say("four-defaults", all);
    ray_ref r[2];
    ray_buf b[2];
    int both = ray_submit("slow_stamp", NULL, 0, NULL, &r[0]) == 0 &&
               ray_submit("slow_stamp", NULL, 0, NULL, &r[1]) == 0 &&
               ray_get_many(r, 2, b, E2E_TIMEOUT) == 0;
    const double *t0 = b[0].data, *t1 = b[1].data;
    say("tasks-overlap", both && t0[0] < t1[1] && t1[0] < t0[1]);
    ray_release(r[0]);
    ray_release(r[1]);

    int held = make_actor("hold1", 1, &h[0]) == 0 && make_actor("hold2", 1, &h[1]) == 0 &&
               ping_ok(h[0]) && ping_ok(h[1]);
    say("explicit-held", held);
    say("infeasible", make_actor("huge", 3, &big) == RAY_EINFEASIBLE);
    ray_task_opts to;
    ray_task_opts_init(&to);
    to.num_cpus = 3;
    say("infeasible-task", ray_submit("slow_stamp", NULL, 0, &to, &r[0]) == RAY_EINFEASIBLE);
    /* Both CPUs held for life: the 2-CPU actor and a default task wait. */
    int made = make_actor("big", 2, &big) == 0;
    ray_ref waiting;
    made &= ray_submit("slow_stamp", NULL, 0, NULL, &waiting) == 0;
    int ready[1];
    sleep_s(2.5); /* past RAY_MPI_PENDING_WARN_S=1, twice over: one warning each */
    say("waits", made && ray_wait(&waiting, 1, 1, 0, ready) == 0);
    fflush(stdout);
    fprintf(stderr, "--- holders go\n");
    ray_actor_kill(h[0]);
    ray_actor_kill(h[1]);
    say("then-runs", ray_get(waiting, &b[0], E2E_TIMEOUT) == 0 && ping_ok(big));
    ray_release(waiting);
    return ray_shutdown();
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "child"))
        return child_main(argc, argv);
    char dir[512], out[700], err[700];
    if (scratch_make("pending", dir, sizeof(dir)))
        return ok(0, "scratch directory"), 1;
    snprintf(out, sizeof(out), "%s/out", dir);
    snprintf(err, sizeof(err), "%s/err", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        setenv("RAY_MPI_NUM_CPUS", "2", 1);
        setenv("RAY_MPI_PENDING_WARN_S", "1", 1);
        char *args[] = {"test_pending", "child", NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0, ended = pid > 0 && wait_child(pid, 120, &status);
    static char o[1 << 16], e[1 << 20];
    FILE *f = fopen(out, "r");
    size_t n = f ? fread(o, 1, sizeof(o) - 1, f) : 0;
    o[n] = 0;
    if (f)
        fclose(f);
    f = fopen(err, "r");
    n = f ? fread(e, 1, sizeof(e) - 1, f) : 0;
    e[n] = 0;
    if (f)
        fclose(f);
    ok(ended && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child driver ran and exited 0");
    ok(str_has(o, "four-defaults ok"), "four default actors start and answer on a 2-CPU node");
    ok(str_has(o, "tasks-overlap ok"), "  ... and two tasks still run at the same time");
    ok(str_has(o, "explicit-held ok"), "two actors of explicit num_cpus = 1 start");
    ok(str_has(o, "infeasible ok"), "an actor of 3 CPUs on a 2-CPU node: RAY_EINFEASIBLE at once");
    ok(str_has(o, "infeasible-task ok"), "  ... and a task of 3 CPUs too");
    ok(str_has(o, "waits ok"), "with both CPUs held, a 2-CPU actor and a default task wait");
    const char *big = "WARN sched: actor big waits for 2 CPUs; 2 of 2 CPUs held by 2 actors "
                      "(hold1, hold2)";
    const char *task = "WARN sched: 1 tasks wait for 1 CPU; 2 of 2 CPUs held by 2 actors "
                       "(hold1, hold2)";
    is_int(count(e, big), 1, "one warning names what the actor needs and what holds it");
    is_int(count(e, task), 1, "one warning for the task that gets no CPU");
    ok(str_has(o, "then-runs ok"), "once the holders are killed, both run");
    if (!str_has(e, big) || !str_has(e, task)) {
        for (char *l = strtok(e, "\n"); l; l = strtok(NULL, "\n"))
            diag("  %s", l);
    }
    unlink(out);
    unlink(err);
    rm_tree(dir);
    return tap_done();
}
