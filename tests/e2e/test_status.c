/*
 * test_status.c - `ray-mpi status` on a live job (this embedded driver):
 * on a 2-CPU node, after some tasks and actor calls ran, with a named
 * actor alive, one task RUNNING (held at a gate file), one waiting in the
 * node service for its argument (the running task's output; its spec is
 * big enough to live in the store's arena) and one for
 * resources (2 CPUs while one is taken), `ray-mpi status` and `--json`
 * name exactly these: the node, 2 CPUs, the actor, the running task, the
 * oldest waiting task with the object it waits for and its producer, the
 * one waiting for CPUs, the tasks done; `--job` of the job's directory
 * shows it alone, `--job /nonexistent` is exit status 1 with a message,
 * and once the job is gone (ray_shutdown) status says there is none (1).
 * Everything the job shows goes on to finish normally: status disturbs
 * nothing.
 *
 * The ray-mpi binary is RAY_MPI_BIN (the one built in this tree).
 */
#include "e2e.h"
#include "lib/tap.h"

#ifndef RAY_MPI_BIN
#define RAY_MPI_BIN "ray-mpi"
#endif

#define OUT_MAX 65536

static int echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(echo)

/* Its last argument. */
static int last(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[nargs - 1].data, args[nargs - 1].size);
}
RAY_REMOTE(last)

/* (dir, name): runs until the test opens its gate; returns 7. */
static int hold(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = nargs == 2 && gate_pass(&args[0], &args[1], 2 * E2E_TIMEOUT) ? 7 : -1;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(hold)

static void *counter_init(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return calloc(1, 8);
}
static void counter_fini(void *s)
{
    free(s);
}
static int ping(ray_ctx *ctx, void *state, const ray_buf *args, int nargs)
{
    int64_t *n = state;
    ++*n;
    return ray_return(ctx, 0, n, sizeof(*n));
}
RAY_ACTOR(Counter, counter_init, counter_fini)
RAY_METHOD(Counter, ping)

/* Runs `ray-mpi status ARGS` with stderr into out; its exit status. */
static int status(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' status %s 2>&1", RAY_MPI_BIN, args);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    while (p && n < cap - 1) {
        size_t k = fread(out + n, 1, cap - 1 - n, p);
        if (!k)
            break;
        n += k;
    }
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs status ARGS until its output holds every needle (NULL-ended; "!x":
 * does not hold x), at most E2E_TIMEOUT: what the node service takes in
 * shows up shortly. */
static int status_until(const char *args, char *out, size_t cap, const char *const *needles)
{
    double end = now_s() + E2E_TIMEOUT;
    int rc;
    for (;;) {
        rc = status(args, out, cap);
        int all = 1;
        for (int i = 0; needles[i] && all; i++)
            all = needles[i][0] == '!' ? !str_has(out, needles[i] + 1) : str_has(out, needles[i]);
        if (all || now_s() > end)
            return rc;
        sleep_s(0.05);
    }
}

/* The number after "key": in s (first occurrence), or -1e300. */
static double json_num(const char *s, const char *key)
{
    char k[128];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : -1e300;
}

/* The JSON object (without nested ones) that starts at "key":{ in s. */
static void json_obj(const char *s, const char *key, char *out, size_t cap)
{
    char k[128];
    snprintf(k, sizeof(k), "\"%s\":{", key);
    const char *p = strstr(s, k), *e = p ? strchr(p, '}') : NULL;
    size_t n = e ? (size_t)(e - p) : 0;
    n = n < cap - 1 ? n : cap - 1;
    memcpy(out, p ? p : "", n);
    out[n] = 0;
}

/* The string value of "key" in s, into out. */
static const char *json_str(const char *s, const char *key, char *out, size_t cap)
{
    char k[128];
    snprintf(k, sizeof(k), "\"%s\":\"", key);
    const char *p = strstr(s, k), *e = p ? strchr(p + strlen(k), '"') : NULL;
    size_t n = e ? (size_t)(e - p - strlen(k)) : 0;
    n = n < cap - 1 ? n : cap - 1;
    memcpy(out, p ? p + strlen(k) : "", n);
    out[n] = 0;
    return out;
}

static int jq_ok(const char *json)
{
    FILE *p = popen("jq -e -s 'length == 1 and .[0].node == 0' >/dev/null 2>&1", "w");
    if (!p)
        return 0;
    fputs(json, p);
    int st = pclose(p);
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int jq_present(void)
{
    return system("command -v jq >/dev/null 2>&1") == 0;
}

static void check_text(const char *out, const char *hold_obj)
{
    char want[256];
    ok(str_has(out, "job 1: ") && str_has(out, "test_status, 1 node"),
       "text: one job of 1 node, this executable");
    ok(str_has(out, "node 0/1  host "), "text: node 0/1 and its host");
    snprintf(want, sizeof(want), "  driver      pid %d\n", (int)getpid());
    ok(str_has(out, want), "text: the driver's pid");
    ok(str_has(out, " of 2 used (cpu_avail "), "text: 2 CPUs in all");
    ok(str_has(out, "running     hold_gate (pid "), "text: the running task, with its worker");
    ok(str_has(out, " queued, 1 running, 2 waiting in the node service, "),
       "text: 1 task running, 2 waiting in the node service");
    ok(str_has(out, "status_counter (alive, pid "), "text: the named actor, alive, its pid");
    snprintf(want, sizeof(want),
             ", for arguments: argument 1 %s is pending (output of hold_gate)\n", hold_obj);
    const char *w = strstr(out, "oldest wait after_gate, waiting ");
    const char *e = w ? strchr(w, '\n') : NULL;
    ok(w && e && str_has(w, want) && strstr(w, want) < e,
       "text: the oldest wait is after_gate, for %s of hold_gate", hold_obj);
    ok(str_has(out, "then        big_cpus, waiting ") &&
           str_has(out, "for resources: asks 2 CPUs; free now: "),
       "text: big_cpus waits for resources: 2 CPUs");
    ok(str_has(out, "store       ") && str_has(out, " objects live"), "text: the store");
    ok(str_has(out, "network     0 messages in, 0 out"), "text: network counters (one node)");
}

static void check_json(const char *json, const char *hold_obj)
{
    char o[2048], s[128];
    ok(json_num(json, "node") == 0 && json_num(json, "num_nodes") == 1 &&
           json_num(json, "nodes_on_host") == 1,
       "json: node 0 of 1");
    ok(json_num(json, "pid") > 1 && json_num(json, "driver_pid") == getpid(),
       "json: the node service's and the driver's pids");
    is_int(json_num(json, "cpus_total"), 2, "json: cpus_total 2");
    is_int(json_num(json, "tasks_running"), 1, "json: tasks_running 1");
    is_int(json_num(json, "tasks_waiting"), 2,
           "json: tasks_waiting 2 (the actor's kept spec is not one)");
    ok(json_num(json, "tasks_done") >= 7, "json: tasks_done >= 7 (5 tasks, 2 calls)");
    if (json_num(json, "tasks_done") < 7)
        diag("tasks_done %g", json_num(json, "tasks_done"));
    ok(str_has(json, "{\"name\":\"status_counter\",\"state\":\"alive\",\"pid\":"),
       "json: the actor");
    json_obj(json, "oldest_waiting", o, sizeof(o));
    ok(str_has(o, "\"name\":\"after_gate\"") && str_has(o, "\"waits_for\":\"arguments\"") &&
           json_num(o, "arg_index") == 1 &&
           !strcmp(json_str(o, "arg_object", s, sizeof(s)), hold_obj) &&
           str_has(o, "\"arg_producer\":\"hold_gate\"") && json_num(o, "waited_s") >= 0,
       "json: oldest_waiting: after_gate, for %s of hold_gate", hold_obj);
    const char *big = strstr(json, "{\"name\":\"big_cpus\"");
    snprintf(o, sizeof(o), "%.*s", big ? (int)(strchr(big, '}') - big) : 0, big ? big : "");
    ok(str_has(o, "\"waits_for\":\"resources\"") && json_num(o, "cpus") == 2 &&
           json_num(o, "cpus_free") < 2,
       "json: big_cpus waits for resources: 2 CPUs, fewer free");
    ok(json_num(json, "store_capacity_bytes") > 0 && json_num(json, "objects_live") >= 1,
       "json: the store");
    ok(str_has(json, "\"fatal\":null"), "json: no fatal error");
    if (jq_present())
        ok(jq_ok(json), "json: jq parses one object, node 0");
    else
        ok(1, "json: jq parses it # SKIP no jq");
}

int main(int argc, char **argv)
{
    setenv("RAY_MPI_NUM_CPUS", "2", 1);
    if (ray_init(&argc, &argv)) {
        printf("not ok 1 - ray_init: %s\n", ray_last_error());
        return 1;
    }
    char dir[512];
    scratch_make("status", dir, sizeof(dir));
    static char out[OUT_MAX], json[OUT_MAX];

    ray_ref r;
    int good = 1;
    for (int64_t i = 0; i < 5; i++) {
        ray_arg a = i64_arg(&i);
        good &= ray_submit("echo", &a, 1, NULL, &r) == 0 && ref_i64(r, -1) == i;
        ray_release(r);
    }
    ray_actor_opts ao;
    ray_actor_opts_init(&ao);
    ao.name = "status_counter";
    ray_actor counter;
    good &= ray_actor_create("Counter", NULL, 0, &ao, &counter) == 0;
    for (int i = 1; i <= 2; i++) {
        good &= ray_actor_call(counter, "ping", NULL, 0, NULL, &r) == 0 && ref_i64(r, -1) == i;
        ray_release(r);
    }
    ok(good, "5 tasks and 2 actor calls ran");

    ray_task_opts o;
    ray_task_opts_init(&o);
    o.name = "hold_gate";
    ray_arg ga[2] = {str_arg(dir), str_arg("h")};
    ray_ref held, after, big;
    char path[700], hold_obj[64];
    snprintf(path, sizeof(path), "%s/started.h", dir);
    ok(ray_submit("hold", ga, 2, &o, &held) == 0 && wait_file(path, E2E_TIMEOUT),
       "hold_gate runs (held at its gate)");
    ray_ref_str(held, hold_obj, sizeof(hold_obj));
    o.name = "after_gate";
    char pad[200]; /* a spec too big for its slot: kept in the store's arena */
    memset(pad, 'p', sizeof(pad));
    ray_arg aa[2] = {ray_arg_val(pad, sizeof(pad)), ray_arg_ref(held)};
    ok(ray_submit("last", aa, 2, &o, &after) == 0,
       "after_gate submitted (needs hold_gate's output)");
    sleep_s(0.05); /* after_gate is the older of the two */
    o.name = "big_cpus";
    o.num_cpus = 2;
    int64_t v = 5;
    ray_arg ba = i64_arg(&v);
    ok(ray_submit("echo", &ba, 1, &o, &big) == 0, "big_cpus submitted (2 CPUs, one is taken)");

    static const char *const text_needles[] = {"running     hold_gate",
                                               "oldest wait after_gate",
                                               "then        big_cpus",
                                               "for resources",
                                               "!waiting ?",
                                               NULL};
    is_int(status_until("", out, sizeof(out), text_needles), 0, "ray-mpi status exits 0");
    for (char *l = out, *e; *l; l = e ? e + 1 : l + strlen(l)) { /* the output, as comments */
        e = strchr(l, '\n');
        diag("%.*s", e ? (int)(e - l) : (int)strlen(l), l);
    }
    check_text(out, hold_obj);

    static const char *const json_needles[] = {"\"big_cpus\"", "\"resources\",\"cpus\":2",
                                               "!\"waited_s\":null", NULL};
    is_int(status_until("--json", json, sizeof(json), json_needles), 0,
           "ray-mpi status --json exits 0");
    diag("%s", json);
    check_json(json, hold_obj);

    char jobdir[600], args[700], one[OUT_MAX];
    json_str(json, "job_dir", jobdir, sizeof(jobdir));
    snprintf(args, sizeof(args), "--json --job '%s'", jobdir);
    int rc = status(args, one, sizeof(one));
    ok(rc == 0 && json_num(one, "pid") == json_num(json, "pid") && strchr(one, '\n') &&
           !strchr(strchr(one, '\n') + 1, '{'),
       "--job DIR: that job alone");
    rc = status("--job /nonexistent", one, sizeof(one));
    ok(rc == 1 && str_has(one, "ray-mpi status: --job /nonexistent: "),
       "--job /nonexistent: exit status 1 with a message");
    if (rc != 1)
        diag("status %d: %s", rc, one);
    rc = status("--job /", one, sizeof(one));
    ok(rc == 1 && str_has(one, "ray-mpi status: --job /: "), "--job /: not a job, exit status 1");

    snprintf(path, sizeof(path), "%s/open.h", dir);
    touch(path);
    ok(ref_i64(held, -1) == 7 && ref_i64(after, -1) == 7 && ref_i64(big, -1) == 5,
       "every task shown finishes (status disturbed nothing)");
    ray_release(held);
    ray_release(after);
    ray_release(big);
    good = ray_actor_call(counter, "ping", NULL, 0, NULL, &r) == 0 && ref_i64(r, -1) == 3;
    ray_release(r);
    ok(good, "the actor answers after status read it");

    ok(ray_shutdown() == 0, "ray_shutdown");
    static const char *const none[] = {"no running ray-mpi job of user ", NULL};
    rc = status_until("", out, sizeof(out), none);
    ok(rc == 1 && str_has(out, " (looked in ") && str_has(out, getenv("TMPDIR")),
       "with the job gone: no running job, exit status 1");
    if (rc != 1)
        diag("status %d: %s", rc, out);
    rm_tree(dir);
    return tap_done();
}
