/*
 * resources.c - what the node offers tasks and actors: CPU tokens (shared
 * with the pool, see queue.c), whole GPUs and custom resources.  A grant
 * takes all a request needs or nothing, before any process exists to run
 * it; a process holds its grant until it ends or finishes its task.
 */
#define _GNU_SOURCE
#include "service.h"

#include <math.h>
#include <stdlib.h>

int svc_res_parse(const char *s, int len, res_entry *out)
{
    ray_resource r[RAY_RES_MAX];
    int n = s ? ray_resources_parse(s, (size_t)len, r) : 0;
    for (int i = 0; i < n; i++) {
        memcpy(out[i].name, r[i].name, sizeof(out[i].name));
        out[i].total = out[i].avail = r[i].amount;
    }
    return n;
}

static res_entry *res_find(sched_service *svc, const char *name)
{
    for (int i = 0; i < svc->nres; i++)
        if (!strcmp(svc->res[i].name, name))
            return &svc->res[i];
    return NULL;
}

/* Checks a task's custom resources against the node: 1 fits now, 0 not
 * now, -1 never (message in why). */
int svc_res_check(sched_service *svc, const char *want, int len, char *why, size_t cap)
{
    res_entry w[RAY_RES_MAX];
    if (len <= 0)
        return 1;
    int n = svc_res_parse(want, len, w);
    if (n < 0) {
        snprintf(why, cap, "%.250s", ray_last_error());
        return -1;
    }
    int now = 1;
    for (int i = 0; i < n; i++) {
        res_entry *r = res_find(svc, w[i].name);
        if (!r || r->total + 1e-9 < w[i].total) {
            snprintf(why, cap, "needs %.63s:%g; this node has %.63s:%g", w[i].name, w[i].total,
                     w[i].name, r ? r->total : 0.0);
            return -1;
        }
        if (r->avail + 1e-9 < w[i].total)
            now = 0;
    }
    return now;
}

static void res_take(sched_service *svc, const char *want, int sign)
{
    res_entry w[RAY_RES_MAX];
    int n = want ? svc_res_parse(want, (int)strlen(want), w) : 0;
    for (int i = 0; i < n; i++) {
        res_entry *r = res_find(svc, w[i].name);
        if (r)
            r->avail -= sign * w[i].total;
    }
}

/* CPU the pool could give back if asked: all but what dedicated workers
 * and actors hold.  Asking for more than that would only starve tasks. */
static int32_t cpu_reclaimable(sched_service *svc)
{
    int32_t held = 0;
    FOR_LIVE(svc, i)
    if (svc->cl[i].kind != CLIENT_POOL)
        held += atomic_load(&sched_client_at(&svc->sh, i)->cpu_held);
    return (int32_t)(svc->cpus * 1000.0 + 0.5) - held;
}

/* When only CPU is short and the pool holds enough, asks pool workers to
 * give theirs back. */
int svc_acquire(sched_service *svc, grant *g, uint32_t cpu, uint32_t bind_cpu, uint32_t gpu,
                const char *res, int res_len)
{
    char why[256];
    if (!topo_gpus_fit(svc->topo, svc->busy, gpu) ||
        svc_res_check(svc, res, res_len, why, sizeof(why)) != 1)
        return 0;
    if (!sched_cpu_try(&svc->sh, (int32_t)cpu)) {
        if (cpu_reclaimable(svc) >= (int32_t)cpu)
            svc->want_cpu = 1;
        return 0;
    }
    topo_request req = {bind_cpu, gpu, 0, NULL};
    uint64_t key = ++svc->place_seq;
    int rc = topo_place(svc->topo, svc->busy, key, &req, &g->bind);
    if (rc) { /* feasibility was checked on arrival: the plan disagrees with the node */
        sched_cpu_put(&svc->sh, (int32_t)cpu);
        ray_warn("sched", "cannot place %g CPUs, %g GPUs: %s", cpu / 1000.0, gpu / 1000.0,
                 ray_last_error());
        return 0;
    }
    g->cpu = cpu;
    g->key = key;
    snprintf(g->res, sizeof(g->res), "%.*s", res_len > 0 ? res_len : 0, res ? res : "");
    res_take(svc, g->res, 1);
    return 1;
}

/* Gives what g holds back to the node (no process took it). */
void svc_grant_drop(sched_service *svc, grant *g)
{
    sched_cpu_put(&svc->sh, (int32_t)g->cpu);
    topo_release(svc->busy, g->key);
    res_take(svc, g->res, -1);
    memset(g, 0, sizeof(*g));
}

void svc_bind_set(sched_service *svc, uint32_t slot, const topo_binding *b)
{
    sched_client *sc = sched_client_at(&svc->sh, slot);
    sc->bind = *b;
    sc->ngpus = RAY_MIN(b->ngpus, 16u);
    memcpy(sc->gpu_ids, b->gpu_ids, sizeof(sc->gpu_ids));
    if (topo_gpu_env(svc->topo, b, &sc->gpu_env))
        memset(&sc->gpu_env, 0, sizeof(sc->gpu_env));
    atomic_fetch_add_explicit(&sc->bind_seq, 1, memory_order_release);
}

void svc_grant_to(sched_service *svc, svc_client *c, const grant *g)
{
    uint32_t slot = (uint32_t)(c - svc->cl);
    sched_client *sc = sched_client_at(&svc->sh, slot);
    if (c->place_key != g->key)
        topo_release(svc->busy, c->place_key);
    c->place_key = g->key;
    snprintf(c->res, sizeof(c->res), "%s", g->res);
    atomic_store(&sc->cpu_held, (int32_t)g->cpu);
    svc_bind_set(svc, slot, &g->bind);
}

/* What client c holds goes back to the node: all of its cpu_held (a worker
 * that died between two steps of lending counts twice, never zero). */
void svc_release_cpu(sched_service *svc, svc_client *c)
{
    sched_client *sc = sched_client_at(&svc->sh, (uint32_t)(c - svc->cl));
    int32_t cpu = atomic_exchange(&sc->cpu_held, 0);
    if (cpu > 0)
        sched_cpu_put(&svc->sh, cpu);
    if (cpu > 0 && (svc->shaped.len || svc->actors_waiting.len))
        svc_schedule_pending(svc);
}

void svc_release(sched_service *svc, svc_client *c)
{
    sched_client *sc = sched_client_at(&svc->sh, (uint32_t)(c - svc->cl));
    int32_t cpu = atomic_exchange(&sc->cpu_held, 0);
    if (cpu > 0)
        sched_cpu_put(&svc->sh, cpu);
    topo_release(svc->busy, c->place_key);
    c->place_key = 0;
    sc->ngpus = 0;
    res_take(svc, c->res, -1);
    c->res[0] = 0;
}

void svc_describe_need(uint32_t cpu_milli, uint32_t gpu_milli, const char *res, int res_len,
                       char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%g CPU%s", cpu_milli / 1000.0, cpu_milli == 1000 ? "" : "s");
    if (gpu_milli && n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, ", %g GPU%s", gpu_milli / 1000.0,
                      gpu_milli == 1000 ? "" : "s");
    if (res_len > 0 && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, ", %.*s", RAY_MIN(res_len, 100), res);
}

/* Appends "N <kind>s (a, b, ...)" for the holders of one kind. */
static size_t list_holders(sched_service *svc, uint32_t kind, const char *noun, char *buf,
                           size_t cap, size_t at)
{
    sched *sh = &svc->sh;
    char names[300] = "";
    size_t k = 0;
    int n = 0;
    FOR_LIVE(svc, i)
    {
        svc_client *c = &svc->cl[i];
        if (c->kind != kind || atomic_load(&sched_client_at(sh, i)->cpu_held) <= 0)
            continue;
        const char *name = kind == CLIENT_ACTOR ? svc_actor(svc, c->actor)->name
                           : c->task            ? sh->tasks[c->task].name
                                                : "";
        if (k < sizeof(names) - 1)
            k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", n ? ", " : "",
                                  *name ? name : "(unnamed)");
        n++;
    }
    if (!n || at >= cap)
        return at;
    return at + (size_t)snprintf(buf + at, cap - at, "%s%d %s%s%s%s%s", at ? ", " : "", n, noun,
                                 n == 1 ? "" : "s", kind == CLIENT_POOL ? "" : " (",
                                 kind == CLIENT_POOL ? "" : names, kind == CLIENT_POOL ? "" : ")");
}

void svc_describe_holders(sched_service *svc, char *buf, size_t cap)
{
    int32_t total = (int32_t)(svc->cpus * 1000.0 + 0.5);
    int32_t free_milli = atomic_load(&svc->sh.r->cpu_avail);
    char who[500];
    size_t at = 0;
    who[0] = 0;
    at = list_holders(svc, CLIENT_ACTOR, "actor", who, sizeof(who), at);
    at = list_holders(svc, CLIENT_DEDICATED, "task", who, sizeof(who), at);
    at = list_holders(svc, CLIENT_POOL, "pool worker", who, sizeof(who), at);
    snprintf(buf, cap, "%g of %g CPUs held%s%s", RAY_MAX(0, total - free_milli) / 1000.0, svc->cpus,
             at ? " by " : "", who);
    size_t n = strlen(buf);
    int gpus = (int)floor(svc->gpus + 1e-9);
    if (gpus > 0 && n < cap)
        snprintf(buf + n, cap - n, "; %g of %d GPUs held", topo_gpus_held(svc->busy) / 1000.0,
                 gpus);
}
