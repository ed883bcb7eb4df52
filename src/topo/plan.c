/*
 * plan.c - where workers go.  The pool's slots take the node's units (one
 * CPU each) in their round-robin order over NUMA domains; a dedicated
 * worker or actor is placed by topo_place against what others hold
 * (topo_busy): GPUs first (best fit in one domain), then its CPUs in the
 * GPUs' domain, else in the domain with most free CPUs, else spread.
 * Within a domain it takes the units the pool reaches last, so a full pool
 * and a dedicated worker collide as little as they can.  Busy units are
 * shared rather than refused: admission is the service's CPU tokens.
 */
#include "topo_int.h"

#include <math.h>
#include <stdlib.h>

typedef struct placed {
    int nunits, ngpus;
    int *units;
    uint32_t *charge; /* milli-CPUs per unit */
    uint16_t gpus[TOPO_BIND_GPUS];
    uint32_t gpu_charge; /* milli-GPUs per GPU */
} placed;

struct topo_busy {
    int nunit, ngpu;
    uint32_t *unit_milli;
    uint32_t gpu_milli[TOPO_GPU_MAX];
    ray_map64 keys; /* key -> placed * */
};

int topo_busy_create(const topo *t, topo_busy **out)
{
    topo_busy *b = calloc(1, sizeof(*b));
    if (b)
        b->unit_milli = calloc((size_t)RAY_MAX(t->nunit, 1), sizeof(uint32_t));
    if (!b || !b->unit_milli) {
        free(b);
        return ray_err(RAY_ENOMEM, "out of memory");
    }
    b->nunit = t->nunit;
    b->ngpu = t->ngpu;
    ray_map64_init(&b->keys);
    *out = b;
    return 0;
}

static void placed_free(placed *p)
{
    free(p->units);
    free(p->charge);
    free(p);
}

void topo_busy_free(topo_busy *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->keys.cap; i++)
        if (b->keys.keys[i] && b->keys.keys[i] != UINT64_MAX)
            placed_free((placed *)(uintptr_t)b->keys.vals[i]);
    ray_map64_free(&b->keys);
    free(b->unit_milli);
    free(b);
}

void topo_release(topo_busy *b, uint64_t key)
{
    uint64_t v;
    if (!key || !ray_map64_get(&b->keys, key, &v))
        return;
    placed *p = (placed *)(uintptr_t)v;
    for (int i = 0; i < p->nunits; i++)
        b->unit_milli[p->units[i]] -= RAY_MIN(b->unit_milli[p->units[i]], p->charge[i]);
    for (int i = 0; i < p->ngpus; i++)
        b->gpu_milli[p->gpus[i]] -= RAY_MIN(b->gpu_milli[p->gpus[i]], p->gpu_charge);
    ray_map64_del(&b->keys, key);
    placed_free(p);
}

/* ------------------------------------------------------------- GPUs */

static int gpu_dom_free(const topo *t, const topo_busy *b, int dom)
{
    int n = 0;
    for (int g = 0; g < t->ngpu; g++)
        n += t->gpu[g].dom == dom && b->gpu_milli[g] == 0;
    return n;
}

int topo_gpus_fit(const topo *t, const topo_busy *b, uint32_t gpu_milli)
{
    int n = 0;
    for (int g = 0; g < t->ngpu; g++)
        n += gpu_milli < 1000 ? b->gpu_milli[g] + gpu_milli <= 1000 : b->gpu_milli[g] == 0;
    return gpu_milli == 0 || n >= (gpu_milli < 1000 ? 1 : (int)((gpu_milli + 999) / 1000));
}

uint32_t topo_gpus_held(const topo_busy *b)
{
    uint32_t milli = 0;
    for (int g = 0; g < b->ngpu; g++)
        milli += b->gpu_milli[g];
    return milli;
}

/* A share of one GPU: packed onto the most used GPU it still fits on. */
static int gpu_share_pick(const topo *t, const topo_busy *b, uint32_t milli)
{
    int best = -1;
    for (int g = 0; g < t->ngpu; g++)
        if (b->gpu_milli[g] + milli <= 1000 && (best < 0 || b->gpu_milli[g] > b->gpu_milli[best]))
            best = g;
    for (int g = 0; best < 0 && g < t->ngpu; g++) /* all full: the least used */
        if (best < 0 || b->gpu_milli[g] < b->gpu_milli[best])
            best = g;
    return best;
}

/* n whole GPUs: the domain with the fewest free GPUs that still holds n
 * (keeping larger groups for larger requests), else any free, else any. */
static void gpu_whole_pick(const topo *t, const topo_busy *b, int n, uint16_t *out)
{
    int dom = -2, dom_free = INT_MAX;
    for (int g = 0; g < t->ngpu; g++) { /* ties: the domain of the lowest free GPU */
        int f = b->gpu_milli[g] ? 0 : gpu_dom_free(t, b, t->gpu[g].dom);
        if (f >= n && f < dom_free)
            dom = t->gpu[g].dom, dom_free = f;
    }
    int k = 0;
    unsigned char used[TOPO_GPU_MAX] = {0};
    for (int pass = 0; pass < 3 && k < n; pass++)
        for (int g = 0; g < t->ngpu && k < n; g++) {
            int ok = !used[g] && (pass == 2 || b->gpu_milli[g] == 0) &&
                     (pass > 0 || t->gpu[g].dom == dom);
            if (ok)
                used[g] = 1, out[k++] = (uint16_t)g;
        }
}

/* The domain most of the GPUs are near, -1 when none is known. */
static int gpus_dom(const topo *t, const uint16_t *gpus, int n)
{
    int count[TOPO_DOM_MAX] = {0}, best = -1;
    for (int i = 0; i < n; i++) {
        int d = t->gpu[gpus[i]].dom;
        if (d >= 0 && (++count[d] > (best < 0 ? 0 : count[best])))
            best = d;
    }
    return best;
}

static int gpus_pick(const topo *t, const topo_busy *b, const topo_request *req, placed *p)
{
    if (req->ngpu_ids > 0) {
        for (int i = 0; i < req->ngpu_ids; i++) {
            if (req->gpu_ids[i] < 0 || req->gpu_ids[i] >= t->ngpu)
                return ray_err(RAY_EINVAL, "GPU %d is not one of this node's %d GPUs",
                               req->gpu_ids[i], t->ngpu);
            p->gpus[i] = (uint16_t)req->gpu_ids[i];
        }
        p->ngpus = req->ngpu_ids;
    } else if (req->gpu_milli > 0 && req->gpu_milli < 1000) {
        p->gpus[0] = (uint16_t)gpu_share_pick(t, b, req->gpu_milli);
        p->ngpus = 1;
    } else if (req->gpu_milli > 0) {
        p->ngpus = (int)((req->gpu_milli + 999) / 1000);
        gpu_whole_pick(t, b, p->ngpus, p->gpus);
    }
    p->gpu_charge = req->gpu_milli > 0 && req->gpu_milli < 1000 ? req->gpu_milli : 1000;
    return 0;
}

/* ------------------------------------------------------------- CPUs */

static int unit_fits(const topo_busy *b, int u, uint32_t milli)
{
    return b->unit_milli[u] + RAY_MIN(milli, 1000u) <= 1000;
}

static int dom_free(const topo *t, const topo_busy *b, int d, uint32_t milli)
{
    int n = 0;
    for (int u = 0; u < t->nunit; u++)
        n += t->unit[u].dom == d && unit_fits(b, u, milli);
    return n;
}

/* The domain for k units: pref if they fit there, else the one with most
 * room if they fit there; -1 to spread. */
static int dom_pick(const topo *t, const topo_busy *b, int k, uint32_t milli, int pref)
{
    if (pref >= 0 && dom_free(t, b, pref, milli) >= k)
        return pref;
    int best = -1, room = 0;
    for (int d = 0; d < t->ndom; d++) {
        int f = dom_free(t, b, d, milli);
        if (f > room)
            best = d, room = f;
    }
    return room >= k ? best : -1;
}

/* Adds to p up to k units of domain d (any when d < 0) that pass the test
 * (0: fits, 1: a share packs onto a partly used unit, 2: anything),
 * the pool's last first. */
static void units_add(const topo *t, const topo_busy *b, placed *p, int k, int d, uint32_t milli,
                      int test, unsigned char *used)
{
    for (int u = t->nunit - 1; u >= 0 && p->nunits < k; u--) {
        if (used[u] || (d >= 0 && t->unit[u].dom != d))
            continue;
        int ok = test == 2 || (unit_fits(b, u, milli) && (test == 0 || b->unit_milli[u] > 0));
        if (ok) {
            used[u] = 1;
            p->units[p->nunits++] = u;
        }
    }
}

/* k units over several domains: near the GPUs first, then the domains
 * with most room, so the task spans as few as it can. */
static void units_spread(const topo *t, const topo_busy *b, placed *p, int k, uint32_t milli,
                         int pref, unsigned char *used)
{
    unsigned char done[TOPO_DOM_MAX] = {0};
    for (int d = pref; p->nunits < k; d = -1) {
        for (int e = 0, room = 0; pref < 0 && e < t->ndom; e++) {
            int f = done[e] ? 0 : dom_free(t, b, e, milli);
            if (f > room)
                d = e, room = f;
        }
        pref = -1;
        if (d < 0)
            return;
        units_add(t, b, p, k, d, milli, 0, used);
        done[d] = 1;
    }
}

static int units_pick(const topo *t, const topo_busy *b, uint32_t milli, int pref, placed *p)
{
    int k = RAY_MIN((int)((milli + 999) / 1000), t->nunit);
    p->units = calloc((size_t)RAY_MAX(k, 1), sizeof(int));
    p->charge = calloc((size_t)RAY_MAX(k, 1), sizeof(uint32_t));
    unsigned char *used = calloc((size_t)RAY_MAX(t->nunit, 1), 1);
    if (!p->units || !p->charge || !used) {
        free(used);
        return ray_err(RAY_ENOMEM, "out of memory");
    }
    if (milli < 1000) { /* a share: pack it where another share runs */
        units_add(t, b, p, k, pref, milli, 1, used);
        units_add(t, b, p, k, -1, milli, 1, used);
    }
    int d = p->nunits < k ? dom_pick(t, b, k, milli, pref) : -1;
    if (d >= 0)
        units_add(t, b, p, k, d, milli, 0, used);
    units_spread(t, b, p, k, milli, pref, used);
    units_add(t, b, p, k, -1, milli, 2, used); /* the node is full: share */
    free(used);
    uint32_t left = milli;
    for (int i = 0; i < p->nunits; i++, left -= RAY_MIN(left, 1000u))
        p->charge[i] = RAY_MIN(left, 1000u);
    return 0;
}

/* --------------------------------------------------------- bindings */

/* The domain most units are in; pref when there are none. */
static int units_dom(const topo *t, const int *units, int n, int pref)
{
    int count[TOPO_DOM_MAX] = {0}, best = pref;
    for (int i = 0; i < n; i++) {
        int d = t->unit[units[i]].dom;
        if (++count[d] > (best < 0 ? 0 : count[best]))
            best = d;
    }
    return best;
}

static int binding_fill(const topo *t, const int *units, int n, int dom, topo_binding *out)
{
    out->numa = -1;
    out->apply = t->thissystem && t->mode != TOPO_BIND_NONE;
    if (t->mode == TOPO_BIND_NONE)
        return 0;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    for (int i = 0; i < n; i++)
        hwloc_bitmap_or(set, set,
                        t->mode == TOPO_BIND_NUMA ? t->dom[t->unit[units[i]].dom].cpus
                                                  : t->unit[units[i]].pus);
    if (n == 0) /* no CPU of its own: its domain, or the whole node */
        hwloc_bitmap_copy(set, dom >= 0 && t->dom[dom].nunits ? t->dom[dom].cpus : t->cpus);
    int rc = topo_list_format(out->cpus, sizeof(out->cpus), set);
    hwloc_bitmap_free(set);
    if (dom >= 0)
        out->numa = (int32_t)t->dom[dom].os_index;
    return rc;
}

int topo_plan_pool(const topo *t, uint32_t n, topo_binding *out)
{
    for (uint32_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        int u = t->nunit ? (int)(i % (uint32_t)t->nunit) : 0;
        int rc = t->nunit ? binding_fill(t, &u, 1, t->unit[u].dom, &out[i])
                          : binding_fill(t, NULL, 0, -1, &out[i]); /* no CPUs: the node */
        if (rc)
            return rc;
        out[i].cpu_milli = 1000;
    }
    return 0;
}

/* RAY_EINFEASIBLE when the node can never hold req, naming what it has. */
static int place_check(const topo *t, const topo_request *req)
{
    int ng = req->ngpu_ids > 0 ? req->ngpu_ids : (int)((req->gpu_milli + 999) / 1000);
    double cpus = req->cpu_milli / 1000.0;
    if (ng > t->ngpu || cpus > t->ncpus + 1e-9)
        return ray_err(RAY_EINFEASIBLE,
                       "the request for %g CPUs and %g GPUs cannot run on this node: it has "
                       "%g CPUs (%s) and %d GPUs (%s)",
                       cpus, req->ngpu_ids > 0 ? ng : req->gpu_milli / 1000.0, t->ncpus,
                       t->ncpus_from, t->ngpu, t->ngpus_from);
    if (ng > TOPO_BIND_GPUS)
        return ray_err(RAY_EINVAL, "%d GPUs for one worker: at most %d", ng, TOPO_BIND_GPUS);
    return 0;
}

static int placed_record(topo_busy *b, uint64_t key, placed *p)
{
    if (!key) { /* a preview */
        placed_free(p);
        return 0;
    }
    if (ray_map64_put(&b->keys, key, (uint64_t)(uintptr_t)p)) {
        placed_free(p);
        return ray_err(RAY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < p->nunits; i++)
        b->unit_milli[p->units[i]] += p->charge[i];
    for (int i = 0; i < p->ngpus; i++)
        b->gpu_milli[p->gpus[i]] += p->gpu_charge;
    return 0;
}

int topo_place(const topo *t, topo_busy *b, uint64_t key, const topo_request *req,
               topo_binding *out)
{
    memset(out, 0, sizeof(*out));
    topo_release(b, key); /* placed again: what it held is free for it */
    int rc = place_check(t, req);
    placed *p = rc ? NULL : calloc(1, sizeof(*p));
    if (rc || !p)
        return rc ? rc : ray_err(RAY_ENOMEM, "out of memory");
    int pref = -1;
    if (!(rc = gpus_pick(t, b, req, p))) {
        pref = gpus_dom(t, p->gpus, p->ngpus);
        rc = units_pick(t, b, req->cpu_milli, pref, p);
    }
    if (!rc)
        rc = binding_fill(t, p->units, p->nunits, units_dom(t, p->units, p->nunits, pref), out);
    if (rc) {
        placed_free(p);
        return rc;
    }
    out->cpu_milli = req->cpu_milli;
    out->gpu_milli = req->gpu_milli;
    out->ngpus = (uint8_t)p->ngpus;
    memcpy(out->gpu_ids, p->gpus, sizeof(out->gpu_ids));
    return placed_record(b, key, p);
}

int topo_binding_same(const topo_binding *a, const topo_binding *b)
{
    return a->apply == b->apply && a->numa == b->numa && !strcmp(a->cpus, b->cpus);
}
