/*
 * fault.c - fault injection for recovery tests: RAY_MPI_FAULT names points
 * of the runtime (RAY_FAULT_POINTS in common.h) where a worker _exits, with
 * a probability and a node-wide budget of hits, so a test can end a worker
 * in each window of the death path on purpose and check that nothing is
 * lost.  The points are compiled in only with --enable-fault-injection;
 * otherwise RAY_FAULT() is nothing and arming only warns.
 */
#include "common.h"

#include <stdlib.h>
#include <unistd.h>

static const char *const names[] = {
#define RAY__FAULT_NAME(id, name, where) name,
    RAY_FAULT_POINTS(RAY__FAULT_NAME)
#undef RAY__FAULT_NAME
};

const char *ray_fault_name(int point)
{
    return point >= 0 && point < RAY_FAULT_COUNT ? names[point] : "?";
}

typedef struct fault_point {
    double probability; /* 0: not armed */
    uint32_t max_hits;  /* node-wide; 0: no limit */
} fault_point;

static fault_point points[RAY_FAULT_COUNT];
#ifdef RAY_FAULT_INJECTION
static _Atomic uint32_t *fault_hits, *fault_where;
static uint64_t rng;
int ray_fault_armed;
#endif

static int parse_entry(const char *s, size_t n)
{
    char buf[96];
    if (n >= sizeof(buf))
        return ray_err(RAY_EINVAL, "RAY_MPI_FAULT: entry '%.*s' is too long", (int)n, s);
    memcpy(buf, s, n);
    buf[n] = 0;
    char *p1 = strchr(buf, ':'), *p2 = p1 ? strchr(p1 + 1, ':') : NULL, *end;
    if (p1)
        *p1++ = 0;
    if (p2)
        *p2++ = 0;
    int id = -1;
    for (int i = 0; i < RAY_FAULT_COUNT; i++)
        if (!strcmp(buf, names[i]))
            id = i;
    double prob = p1 ? strtod(p1, &end) : 1.0;
    if (id < 0 || (p1 && (*end || !(prob > 0 && prob <= 1))))
        return ray_err(RAY_EINVAL,
                       "RAY_MPI_FAULT: '%s' is not point[:probability in (0,1]"
                       "[:max_hits]] (points: see HACKING.md)",
                       s);
    unsigned long max = p2 ? strtoul(p2, &end, 10) : 0;
    if (p2 && (*end || !*p2 || max > UINT32_MAX))
        return ray_err(RAY_EINVAL, "RAY_MPI_FAULT: bad max_hits in '%.*s'", (int)n, s);
    points[id] = (fault_point){prob, (uint32_t)max};
    return 0;
}

int ray_fault_arm(const char *spec, _Atomic uint32_t *hits, _Atomic uint32_t *where)
{
    if (!spec || !*spec)
        return 0;
    for (const char *p = spec; *p;) {
        size_t n = strcspn(p, ",");
        int rc = n ? parse_entry(p, n) : 0;
        if (rc)
            return rc;
        p += n + (p[n] == ',');
    }
    if (!hits)
        return 0; /* only checked */
#ifdef RAY_FAULT_INJECTION
    fault_hits = hits;
    fault_where = where;
    rng = ray_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    ray_fault_armed = 1;
#else
    (void)where;
    ray_warn("client", "RAY_MPI_FAULT is set but this build has no fault points "
                       "(configure --enable-fault-injection)");
#endif
    return 0;
}

#ifdef RAY_FAULT_INJECTION
void ray_fault_hit(int point)
{
    fault_point *f = &points[point];
    if (f->probability <= 0)
        return;
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    if (f->probability < 1 && (double)(rng >> 11) / 9007199254740992.0 >= f->probability)
        return;
    if (fault_hits) {
        uint32_t n = atomic_fetch_add(&fault_hits[point], 1);
        if (f->max_hits && n >= f->max_hits)
            return;
    }
    if (fault_where)
        atomic_store(fault_where, (uint32_t)point + 1);
    _exit(RAY_FAULT_EXIT);
}
#endif
