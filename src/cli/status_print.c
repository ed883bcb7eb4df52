/*
 * status_print.c - what `ray-mpi status` prints of the nodes status.c
 * found: per job a header line, per node a block of lines (text), or one
 * JSON object per node and line (--json; its keys are in status_usage and
 * HACKING.md).  Every string came from the job's files or shared memory
 * and was made printable when it was copied (status_str); JSON escapes it
 * again.
 */
#define _GNU_SOURCE
#include "status.h"

#include <math.h>
#include <time.h>

void status_usage(FILE *out)
{
    fprintf(out, "usage: ray-mpi status [--job DIR] [--json]\n\n"
                 "Shows your running ray-mpi jobs on this host, read from each node service's\n"
                 "shared control region without disturbing it: per node, its pid, uptime and\n"
                 "driver; CPUs and GPUs used; tasks queued, running, waiting in the node\n"
                 "service and done; workers and actors; the object store; network counters;\n"
                 "a fatal error if any; and the oldest waiting tasks with what they wait for.\n"
                 "Nodes of one job on other hosts are counted, not shown (run it there).\n\n"
                 "  --job DIR  only the job directory DIR (ray-mpi.<uid>.* under RAY_MPI_TMPDIR,\n"
                 "             else $TMPDIR, else /tmp, where jobs are looked for)\n"
                 "  --json     one JSON object per node and line, with the keys:\n"
                 "     job (1, 2, ... as listed), job_dir, tag, host, node, num_nodes,\n"
                 "     nodes_on_host, pid, started (unix s), uptime_s, exe, driver_pid (null),\n"
                 "     cpus_total, cpu_avail_milli, cpus_used, gpus_total, gpus_held,\n"
                 "     tasks_live, tasks_queued, tasks_running, tasks_waiting, tasks_done,\n"
                 "     ready_queue, workers_alive, workers {pool|dedicated|actor: {starting,\n"
                 "     idle, running, blocked, exiting}}, actors_alive, actors_total, actors\n"
                 "     [{name, state, pid, calls_queued}], store_used_bytes,\n"
                 "     store_capacity_bytes, objects_live (null: not readable), net_msgs_in,\n"
                 "     net_msgs_out, net_bytes_in, fatal (null or the message), running\n"
                 "     [{name, pid}], oldest_waiting (null or a wait), waiting [waits, oldest\n"
                 "     first]; a wait is {name, kind (task|actor_create|actor_call),\n"
                 "     waited_s (null: unknown), waits_for (arguments|resources|node|service|\n"
                 "     unknown), arg_index, arg_object, arg_state, arg_producer (arguments),\n"
                 "     on_node (node: the node it was handed to), cpus, gpus, resources\n"
                 "     (asked), cpus_free, gpus_free}\n\n"
                 "Exit status: 0 shown, 1 no running job (or DIR is not one), 2 bad usage.\n");
}

static const char *const kind_names[ST_KINDS] = {"?", "driver", "pool", "dedicated", "actor"};
static const char *const state_names[ST_STATES] = {"free",    "starting", "idle", "running",
                                                   "blocked", "exiting",  "dead"};
static const char *const actor_states[] = {"free", "pending", "alive", "restarting", "dead"};

static const char *actor_state(uint32_t s)
{
    return s < RAY_ARRAY_SIZE(actor_states) ? actor_states[s] : "?";
}

static const char *task_kind(uint32_t k)
{
    return k == TASK_ACTOR_CREATE ? "actor_create" : k == TASK_ACTOR_CALL ? "actor_call" : "task";
}

static const char *wait_for(const st_wait *w)
{
    if (!w->spec_ok)
        return "unknown";
    static const char *const names[] = {"service", "arguments", "resources", "node"};
    return names[w->why];
}

/* Seconds task w has waited, or -1. */
static double waited_s(const st_wait *w, uint64_t now_ns)
{
    return w->queued_ns && w->queued_ns <= now_ns ? (double)(now_ns - w->queued_ns) / 1e9 : -1;
}

static double gpus_free(const st_node *n)
{
    return n->total_gpus - n->gpu_held_milli / 1000.0;
}

static int nodes_in_group(const st_node *nodes, int n, int group)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += nodes[i].group == group;
    return k;
}

static int64_t uptime_s(const st_node *n)
{
    int64_t now = (int64_t)time(NULL);
    return now > n->info.started ? now - n->info.started : 0;
}

/* ------------------------------------------------------------------ text */

static void duration(char *buf, size_t cap, double s)
{
    if (s < 0)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, cap, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
}

static void bytes(char *buf, size_t cap, uint64_t b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 5)
        v /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void text_workers(const st_node *n, FILE *out)
{
    fprintf(out, "  workers     %u alive:", n->workers_alive);
    for (int k = CLIENT_POOL; k <= CLIENT_ACTOR; k++) {
        const uint32_t *c = n->clients[k];
        uint32_t all = 0;
        for (int s = CLIENT_STARTING; s < CLIENT_DEAD; s++)
            all += c[s];
        fprintf(out, "%s %s %u", k == CLIENT_POOL ? "" : ";", kind_names[k], all);
        if (!all)
            continue;
        fprintf(out, " (%u idle, %u running, %u blocked", c[CLIENT_IDLE], c[CLIENT_RUNNING],
                c[CLIENT_BLOCKED]);
        if (c[CLIENT_STARTING])
            fprintf(out, ", %u starting", c[CLIENT_STARTING]);
        if (c[CLIENT_EXITING])
            fprintf(out, ", %u exiting", c[CLIENT_EXITING]);
        fputc(')', out);
    }
    fputc('\n', out);
}

static void text_actors(const st_node *n, FILE *out)
{
    fprintf(out, "  actors      %u alive", n->actors_alive);
    for (uint32_t i = 0; i < n->nactors && i < ST_ACTORS_SHOWN; i++) {
        const st_actor *a = &n->actors[i];
        fprintf(out, "%s %s (%s", i ? "," : ":", a->name[0] ? a->name : "(unnamed)",
                actor_state(a->state));
        if (a->pid)
            fprintf(out, ", pid %d", a->pid);
        if (a->calls_queued)
            fprintf(out, ", %u calls queued", a->calls_queued);
        fputc(')', out);
    }
    if (n->nactors > ST_ACTORS_SHOWN)
        fprintf(out, ", ... (%u in all)", n->nactors);
    fputc('\n', out);
}

static void text_wait(const st_node *n, const st_wait *w, uint64_t now_ns, FILE *out)
{
    char d[32];
    duration(d, sizeof(d), waited_s(w, now_ns));
    fprintf(out, "%s%s, waiting %s, for ", w->name[0] ? w->name : "(unnamed)",
            w->kind == TASK_NORMAL         ? ""
            : w->kind == TASK_ACTOR_CREATE ? " (actor creation)"
                                           : " (actor call)",
            d);
    if (!w->spec_ok) {
        fprintf(out, "? (its spec is not readable from here)\n");
    } else if (w->why == ST_WHY_ARGS) {
        fprintf(out, "arguments: argument %d %s is %s", w->arg_index, w->arg_obj, w->arg_state);
        if (w->arg_producer[0])
            fprintf(out, " (output of %s)", w->arg_producer);
        fputc('\n', out);
    } else if (w->why == ST_WHY_NODE) {
        fprintf(out, "node %u, which runs it\n", w->node);
    } else {
        fprintf(out, "%s: asks %g CPU%s",
                w->why == ST_WHY_RES ? "resources" : "the node service (a worker, a place)",
                w->cpu_milli / 1000.0, w->cpu_milli == 1000 ? "" : "s");
        if (w->gpu_milli)
            fprintf(out, ", %g GPU%s", w->gpu_milli / 1000.0, w->gpu_milli == 1000 ? "" : "s");
        if (w->res[0])
            fprintf(out, ", %s", w->res);
        fprintf(out, "; free now: %g of %g CPUs, %g of %g GPUs%s\n", n->cpu_avail / 1000.0,
                n->total_cpus, gpus_free(n), n->total_gpus,
                w->res[0] ? " (custom resources: not visible from here)" : "");
    }
}

static void text_node(const st_node *n, uint64_t now_ns, const char *host, FILE *out)
{
    char up[32], used[32], cap[32];
    snprintf(up, sizeof(up), "%llds", (long long)uptime_s(n));
    if (uptime_s(n) >= 60)
        duration(up, sizeof(up), (double)uptime_s(n));
    fprintf(out, "node %u/%u  host %s  pid %d  up %s  %s\n", n->info.node, n->info.num_nodes, host,
            n->info.pid, up, n->dir);
    if (n->driver_pid)
        fprintf(out, "  driver      pid %d\n", n->driver_pid);
    if (n->fatal[0])
        fprintf(out, "  FATAL       %s\n", n->fatal);
    fprintf(out, "  resources   CPUs %g of %g used (cpu_avail %d milli-CPUs), GPUs %g of %g held\n",
            n->total_cpus - n->cpu_avail / 1000.0, n->total_cpus, n->cpu_avail,
            n->gpu_held_milli / 1000.0, n->total_gpus);
    fprintf(out,
            "  tasks       %llu queued, %llu running, %llu waiting in the node service, %llu done "
            "(%llu live)\n",
            (unsigned long long)n->tasks_queued, (unsigned long long)n->tasks_running,
            (unsigned long long)n->tasks_waiting, (unsigned long long)n->tasks_done,
            (unsigned long long)n->tasks_live);
    for (uint32_t i = 0; i < n->nrunning; i++)
        fprintf(out, "  %-11s %s (pid %d)\n", i ? "" : "running", n->running[i].name,
                n->running[i].pid);
    if (n->tasks_running > n->nrunning)
        fprintf(out, "              ... and %llu more\n",
                (unsigned long long)(n->tasks_running - n->nrunning));
    text_workers(n, out);
    text_actors(n, out);
    bytes(used, sizeof(used), n->store_used_bytes);
    bytes(cap, sizeof(cap), n->store_capacity_bytes);
    if (n->store_ok)
        fprintf(out, "  store       %s of %s used, %llu objects live\n", used, cap,
                (unsigned long long)n->objects_live);
    else
        fprintf(out, "  store       (its header is not readable by this ray-mpi)\n");
    fprintf(out, "  network     %llu messages in, %llu out, %llu bytes in\n",
            (unsigned long long)n->net_msgs_in, (unsigned long long)n->net_msgs_out,
            (unsigned long long)n->net_bytes_in);
    for (uint32_t i = 0; i < n->nwait; i++) {
        fprintf(out, "  %-11s ", i ? "then" : "oldest wait");
        text_wait(n, &n->wait[i], now_ns, out);
    }
}

void status_print_text(const st_node *nodes, int n, const char *host, FILE *out)
{
    uint64_t now_ns = ray_now_ns();
    for (int i = 0; i < n; i++) {
        const st_node *nd = &nodes[i];
        if (!i || nodes[i - 1].group != nd->group) {
            int here = nodes_in_group(nodes, n, nd->group);
            fprintf(out, "%sjob %d: %s, %u node%s", i ? "\n" : "", nd->group + 1, nd->info.exe,
                    nd->info.num_nodes, nd->info.num_nodes == 1 ? "" : "s");
            if ((uint32_t)here < nd->info.num_nodes)
                fprintf(out, ", %d on this host (the others run elsewhere)", here);
            fprintf(out, " (tag %u)\n", nd->tag);
        }
        text_node(nd, now_ns, host, out);
    }
}

/* ------------------------------------------------------------------ JSON */

/* A JSON writer: `more` says whether the object or array being written
 * already has a member (the next one needs a comma). */
typedef struct jw {
    FILE *out;
    int more;
} jw;

static void jsep(jw *j, const char *key)
{
    if (j->more)
        fputc(',', j->out);
    j->more = 1;
    if (key)
        fprintf(j->out, "\"%s\":", key);
}

static void jbegin(jw *j, const char *key, int c)
{
    jsep(j, key);
    fputc(c, j->out);
    j->more = 0;
}

static void jend(jw *j, int c)
{
    fputc(c, j->out);
    j->more = 1;
}

static void jstr(jw *j, const char *key, const char *s)
{
    jsep(j, key);
    fputc('"', j->out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '"' || *p == '\\')
            fprintf(j->out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(j->out, "\\u%04x", *p);
        else
            fputc(*p, j->out);
    fputc('"', j->out);
}

static void jnum(jw *j, const char *key, double v)
{
    jsep(j, key);
    if (isfinite(v))
        fprintf(j->out, "%.15g", v);
    else
        fputs("null", j->out);
}

static void jnull(jw *j, const char *key)
{
    jsep(j, key);
    fputs("null", j->out);
}

static void jnum_or_null(jw *j, const char *key, double v, int known)
{
    if (known)
        jnum(j, key, v);
    else
        jnull(j, key);
}

static void json_wait(jw *j, const char *key, const st_node *n, const st_wait *w, uint64_t now_ns)
{
    jbegin(j, key, '{');
    jstr(j, "name", w->name);
    jstr(j, "kind", task_kind(w->kind));
    double s = waited_s(w, now_ns);
    jnum_or_null(j, "waited_s", s, s >= 0);
    jstr(j, "waits_for", wait_for(w));
    if (w->why == ST_WHY_ARGS) {
        jnum(j, "arg_index", w->arg_index);
        jstr(j, "arg_object", w->arg_obj);
        jstr(j, "arg_state", w->arg_state);
        jstr(j, "arg_producer", w->arg_producer);
    } else if (w->why == ST_WHY_NODE) {
        jnum(j, "on_node", w->node);
    }
    jnum(j, "cpus", w->cpu_milli / 1000.0);
    jnum(j, "gpus", w->gpu_milli / 1000.0);
    jstr(j, "resources", w->res);
    jnum(j, "cpus_free", n->cpu_avail / 1000.0);
    jnum(j, "gpus_free", gpus_free(n));
    jend(j, '}');
}

static void json_workers(jw *j, const st_node *n)
{
    jnum(j, "workers_alive", n->workers_alive);
    jbegin(j, "workers", '{');
    for (int k = CLIENT_POOL; k <= CLIENT_ACTOR; k++) {
        jbegin(j, kind_names[k], '{');
        for (int s = CLIENT_STARTING; s < CLIENT_DEAD; s++)
            jnum(j, state_names[s], n->clients[k][s]);
        jend(j, '}');
    }
    jend(j, '}');
    jnum(j, "actors_alive", n->actors_alive);
    jnum(j, "actors_total", n->nactors);
    jbegin(j, "actors", '[');
    for (uint32_t i = 0; i < n->nactors && i < ST_ACTORS_SHOWN; i++) {
        jbegin(j, NULL, '{');
        jstr(j, "name", n->actors[i].name);
        jstr(j, "state", actor_state(n->actors[i].state));
        jnum_or_null(j, "pid", n->actors[i].pid, n->actors[i].pid);
        jnum(j, "calls_queued", n->actors[i].calls_queued);
        jend(j, '}');
    }
    jend(j, ']');
}

static void json_tasks(jw *j, const st_node *n, uint64_t now_ns)
{
    jnum(j, "tasks_live", (double)n->tasks_live);
    jnum(j, "tasks_queued", (double)n->tasks_queued);
    jnum(j, "tasks_running", (double)n->tasks_running);
    jnum(j, "tasks_waiting", (double)n->tasks_waiting);
    jnum(j, "tasks_done", (double)n->tasks_done);
    jnum(j, "ready_queue", n->ready_len);
    jbegin(j, "running", '[');
    for (uint32_t i = 0; i < n->nrunning; i++) {
        jbegin(j, NULL, '{');
        jstr(j, "name", n->running[i].name);
        jnum_or_null(j, "pid", n->running[i].pid, n->running[i].pid);
        jend(j, '}');
    }
    jend(j, ']');
    if (n->nwait)
        json_wait(j, "oldest_waiting", n, &n->wait[0], now_ns);
    else
        jnull(j, "oldest_waiting");
    jbegin(j, "waiting", '[');
    for (uint32_t i = 0; i < n->nwait; i++)
        json_wait(j, NULL, n, &n->wait[i], now_ns);
    jend(j, ']');
}

static void json_node(jw *j, const st_node *n, int here, const char *host, uint64_t now_ns)
{
    jbegin(j, NULL, '{');
    jnum(j, "job", n->group + 1);
    jstr(j, "job_dir", n->dir);
    jnum(j, "tag", n->tag);
    jstr(j, "host", host);
    jnum(j, "node", n->info.node);
    jnum(j, "num_nodes", n->info.num_nodes);
    jnum(j, "nodes_on_host", here);
    jnum(j, "pid", n->info.pid);
    jnum(j, "started", (double)n->info.started);
    jnum(j, "uptime_s", (double)uptime_s(n));
    jstr(j, "exe", n->info.exe);
    jnum_or_null(j, "driver_pid", n->driver_pid, n->driver_pid);
    jnum(j, "cpus_total", n->total_cpus);
    jnum(j, "cpu_avail_milli", n->cpu_avail);
    jnum(j, "cpus_used", n->total_cpus - n->cpu_avail / 1000.0);
    jnum(j, "gpus_total", n->total_gpus);
    jnum(j, "gpus_held", n->gpu_held_milli / 1000.0);
    json_tasks(j, n, now_ns);
    json_workers(j, n);
    jnum_or_null(j, "store_used_bytes", (double)n->store_used_bytes, n->store_ok);
    jnum_or_null(j, "store_capacity_bytes", (double)n->store_capacity_bytes, n->store_ok);
    jnum_or_null(j, "objects_live", (double)n->objects_live, n->store_ok);
    jnum(j, "net_msgs_in", (double)n->net_msgs_in);
    jnum(j, "net_msgs_out", (double)n->net_msgs_out);
    jnum(j, "net_bytes_in", (double)n->net_bytes_in);
    if (n->fatal[0])
        jstr(j, "fatal", n->fatal);
    else
        jnull(j, "fatal");
    jend(j, '}');
}

void status_print_json(const st_node *nodes, int n, const char *host, FILE *out)
{
    uint64_t now_ns = ray_now_ns();
    for (int i = 0; i < n; i++) {
        jw j = {out, 0};
        json_node(&j, &nodes[i], nodes_in_group(nodes, n, nodes[i].group), host, now_ns);
        fputc('\n', out);
    }
}
