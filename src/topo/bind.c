/*
 * bind.c - applying a placement on this machine: a worker binds itself
 * (CPUs of all its threads, memory of the calling thread), the service
 * binds the store's arena.  A worker does not need the service's topology:
 * it loads one of its own once (the service's XML export: no discovery),
 * and a binding equal to the one it has costs nothing.  Called from one
 * thread of the process (the worker's main loop).
 */
#include "topo_int.h"

static hwloc_topology_t self_hw;
static topo_binding self_last;
static int self_bound;

int topo_bind_init(const char *xml)
{
    if (self_hw)
        return 0;
    hwloc_topology_t hw;
    if (hwloc_topology_init(&hw) < 0)
        return ray_err_sys("hwloc_topology_init");
    int from_xml = xml && *xml && hwloc_topology_set_xml(hw, xml) == 0 &&
                   hwloc_topology_set_flags(hw, HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM) == 0;
    if (hwloc_topology_load(hw) < 0) {
        hwloc_topology_destroy(hw);
        if (!from_xml)
            return ray_err_sys("hwloc could not load this machine's topology");
        ray_debug("topo", "cannot load %s; discovering this machine", xml);
        return topo_bind_init(NULL);
    }
    self_hw = hw;
    return 0;
}

static int cpus_bind(const char *list)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    int rc = 0;
    if (!set || hwloc_bitmap_list_sscanf(set, list) < 0 || hwloc_bitmap_iszero(set))
        rc = ray_err(RAY_EINVAL, "'%s' is not a CPU list", list);
    else if (hwloc_set_cpubind(self_hw, set, HWLOC_CPUBIND_PROCESS) < 0)
        rc = ray_err_sys("binding to PUs %s", list);
    hwloc_bitmap_free(set);
    return rc;
}

static int memory_bind(int numa)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    int rc = 0;
    if (!set)
        return ray_err(RAY_ENOMEM, "out of memory");
    hwloc_bitmap_only(set, (unsigned)numa);
    if (hwloc_set_membind(self_hw, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) < 0)
        rc = ray_err_sys("binding memory to NUMA %d", numa);
    hwloc_bitmap_free(set);
    return rc;
}

int topo_bind_self(const topo_binding *b)
{
    if (!b->apply || !b->cpus[0] || (self_bound && topo_binding_same(b, &self_last)))
        return 0;
    int rc = topo_bind_init(NULL);
    if (!rc)
        rc = cpus_bind(b->cpus);
    if (!rc && b->numa >= 0)
        rc = memory_bind(b->numa);
    self_bound = !rc;
    if (!rc)
        self_last = *b;
    return rc;
}

int topo_bound_cpus(char *buf, size_t size)
{
    int rc = topo_bind_init(NULL);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!rc && hwloc_get_cpubind(self_hw, set, HWLOC_CPUBIND_PROCESS) < 0)
        rc = ray_err_sys("hwloc_get_cpubind");
    if (!rc)
        rc = topo_list_format(buf, size, set);
    hwloc_bitmap_free(set);
    return rc;
}

/* Only what binding needs (PUs, NUMA nodes): a worker loads it in a fraction
 * of the full XML's time (fat node: 0.7 ms instead of 2.9). */
int topo_export_xml(const topo *t, const char *path)
{
    char *buf = NULL, *out = NULL;
    int len, olen = 0, rc = 0;
    hwloc_topology_t min = NULL;
    if (hwloc_topology_export_xmlbuffer(t->hw, &buf, &len, 0) < 0 || hwloc_topology_init(&min) < 0)
        rc = ray_err_sys("exporting the topology");
    else if (hwloc_topology_set_all_types_filter(min, HWLOC_TYPE_FILTER_KEEP_NONE) < 0 ||
             hwloc_topology_set_xmlbuffer(min, buf, len) < 0 || hwloc_topology_load(min) < 0 ||
             hwloc_topology_export_xmlbuffer(min, &out, &olen, 0) < 0)
        rc = ray_err_sys("exporting the topology for %s", path);
    else /* the job directory's files are the user's alone (hwloc's would follow the umask) */
        rc = ray_jobdir_write(path, out, olen > 0 ? (size_t)olen - 1 : 0);
    if (out)
        hwloc_free_xmlbuffer(min, out);
    if (min)
        hwloc_topology_destroy(min);
    if (buf)
        hwloc_free_xmlbuffer(t->hw, buf);
    return rc;
}

int topo_area_bind(const topo *t, void *addr, size_t len)
{
    if (!t->thissystem || !len)
        return 0;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set)
        return ray_err(RAY_ENOMEM, "out of memory");
    for (int d = 0; d < t->ndom; d++)
        if (t->home < 0 ? t->dom[d].nunits > 0 : d == t->home)
            hwloc_bitmap_set(set, t->dom[d].os_index);
    int rc = 0, n = hwloc_bitmap_weight(set);
    hwloc_membind_policy_t policy = n > 1 ? HWLOC_MEMBIND_INTERLEAVE : HWLOC_MEMBIND_BIND;
    if ((t->home >= 0 || n > 1) &&
        hwloc_set_area_membind(t->hw, addr, len, set, policy, HWLOC_MEMBIND_BYNODESET) < 0)
        rc = ray_err_sys("binding %zu bytes of memory to NUMA domains", len);
    hwloc_bitmap_free(set);
    return rc;
}
