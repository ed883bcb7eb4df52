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

static int gpus_needed(uint32_t milli)
{
    return (int)((milli + 999) / 1000);
}

static int gpus_free(sched_service *svc)
{
    int total = (int)floor(svc->gpus + 1e-9);
    return total - __builtin_popcountll(svc->gpu_busy);
}

static uint64_t gpus_take(sched_service *svc, int n)
{
    uint64_t got = 0;
    int total = RAY_MIN((int)floor(svc->gpus + 1e-9), 64);
    for (int i = 0; i < total && n > 0; i++)
        if (!(svc->gpu_busy & (1ull << i))) {
            got |= 1ull << i;
            n--;
        }
    svc->gpu_busy |= got;
    return got;
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

/* Takes cpu, gpus and custom resources into g, all or nothing, before a
 * process to run the task or actor exists.  When only CPU is short and
 * the pool holds enough, asks pool workers to give theirs back. */
int svc_acquire(sched_service *svc, grant *g, uint32_t cpu, uint32_t gpu, const char *res,
                int res_len)
{
    char why[256];
    int ng = gpus_needed(gpu);
    if (ng > gpus_free(svc) || svc_res_check(svc, res, res_len, why, sizeof(why)) != 1)
        return 0;
    if (!sched_cpu_try(&svc->sh, (int32_t)cpu)) {
        if (cpu_reclaimable(svc) >= (int32_t)cpu)
            svc->want_cpu = 1;
        return 0;
    }
    g->cpu = cpu;
    g->gpus = gpus_take(svc, ng);
    snprintf(g->res, sizeof(g->res), "%.*s", res_len > 0 ? res_len : 0, res ? res : "");
    res_take(svc, g->res, 1);
    return 1;
}

/* Gives what g holds back to the node (no process took it). */
void svc_grant_drop(sched_service *svc, grant *g)
{
    sched_cpu_put(&svc->sh, (int32_t)g->cpu);
    svc->gpu_busy &= ~g->gpus;
    res_take(svc, g->res, -1);
    memset(g, 0, sizeof(*g));
}

/* Client c holds what g holds from now on. */
void svc_grant_to(sched_service *svc, svc_client *c, const grant *g)
{
    sched_client *sc = sched_client_at(&svc->sh, (uint32_t)(c - svc->cl));
    c->gpus = g->gpus;
    snprintf(c->res, sizeof(c->res), "%s", g->res);
    atomic_store(&sc->cpu_held, (int32_t)g->cpu);
    sc->ngpus = 0;
    for (int i = 0; i < 64 && sc->ngpus < 16; i++)
        if (c->gpus & (1ull << i))
            sc->gpu_ids[sc->ngpus++] = (uint16_t)i;
}

/* What client c holds goes back to the node: all of its cpu_held (a worker
 * that died between two steps of lending counts twice, never zero). */
void svc_release(sched_service *svc, svc_client *c)
{
    sched_client *sc = sched_client_at(&svc->sh, (uint32_t)(c - svc->cl));
    int32_t cpu = atomic_exchange(&sc->cpu_held, 0);
    if (cpu > 0)
        sched_cpu_put(&svc->sh, cpu);
    svc->gpu_busy &= ~c->gpus;
    c->gpus = 0;
    sc->ngpus = 0;
    res_take(svc, c->res, -1);
    c->res[0] = 0;
}
