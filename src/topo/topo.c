/*
 * topo.c - loads the node: the hwloc topology (this machine, or an XML),
 * the PUs this service may use (cgroup cpuset, process binding, its NUMA
 * domain with RAY_MPI_PER_NUMA), Slurm's caps on CPUs and memory, the
 * settings, and the units (cores or PUs) the plan hands out, ordered
 * round-robin over the NUMA domains.  Under Slurm the allocation is the
 * truth, not the hardware; every number says where it came from.
 */
#include "topo_int.h"

#include <math.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#define MIB (1024ull * 1024)

const char *topo_bind_name(int mode)
{
    static const char *names[] = {"none", "core", "numa"};
    return names[mode];
}

static int bind_mode_parse(const char *s, int *mode)
{
    for (int m = TOPO_BIND_NONE; m <= TOPO_BIND_NUMA; m++)
        if (s && !strcasecmp(s, topo_bind_name(m)))
            return *mode = m, 0;
    return ray_err(RAY_EINVAL, "RAY_MPI_BIND='%s' is not valid: expected none, core or numa",
                   s ? s : "");
}

int topo_list_format(char *buf, size_t size, hwloc_const_bitmap_t set)
{
    int n = hwloc_bitmap_list_snprintf(buf, size, set);
    if (n < 0 || (size_t)n >= size)
        return ray_err(RAY_EINVAL, "a CPU list of %d characters does not fit in %zu", n, size);
    return 0;
}

static int hw_load(topo *t, const char *xml)
{
    if (hwloc_topology_init(&t->hw) < 0)
        return ray_err_sys("hwloc_topology_init");
    hwloc_topology_set_io_types_filter(t->hw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (xml && *xml && hwloc_topology_set_xml(t->hw, xml) < 0)
        return ray_err_sys("RAY_MPI_TOPOLOGY=%s: hwloc cannot read this XML", xml);
    if (hwloc_topology_load(t->hw) < 0)
        return ray_err_sys("hwloc could not load the topology%s%s", xml && *xml ? " of " : "",
                           xml && *xml ? xml : "");
    t->thissystem = hwloc_topology_is_thissystem(t->hw);
    const char *env_xml = ray_env("HWLOC_XMLFILE");
    snprintf(t->from, sizeof(t->from), "%s",
             xml && *xml                 ? xml
             : !t->thissystem && env_xml ? env_xml
                                         : "this machine");
    return 0;
}

static hwloc_obj_t numa_obj(const topo *t, int d)
{
    return hwloc_get_obj_by_type(t->hw, HWLOC_OBJ_NUMANODE, (unsigned)d);
}

static void domains_find(topo *t)
{
    int n = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_NUMANODE);
    t->ndom = RAY_MIN(n, TOPO_DOM_MAX);
    for (int d = 0; d < t->ndom; d++) {
        hwloc_obj_t o = numa_obj(t, d);
        t->dom[d].os_index = o->os_index;
        t->dom[d].memory_bytes = o->attr->numanode.local_memory;
        t->dom[d].cpus = hwloc_bitmap_alloc();
    }
}

/* The domain whose CPUs hold the object's: the first (a domain of HBM
 * shares its CPUs with the DRAM domain listed before it). */
static int dom_of(const topo *t, hwloc_const_cpuset_t set)
{
    for (int d = 0; d < t->ndom; d++)
        if (hwloc_bitmap_intersects(numa_obj(t, d)->cpuset, set))
            return d;
    return 0;
}

/* The PUs this process may use, and why they are fewer than the machine's. */
static hwloc_bitmap_t base_cpus(topo *t)
{
    hwloc_bitmap_t set = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(t->hw));
    const char *from = "hwloc (all PUs)";
    if (!hwloc_bitmap_isequal(set, hwloc_topology_get_complete_cpuset(t->hw)))
        from = "cgroup cpuset";
    hwloc_bitmap_t bound = hwloc_bitmap_alloc();
    if (t->thissystem && hwloc_get_cpubind(t->hw, bound, HWLOC_CPUBIND_PROCESS) == 0 &&
        hwloc_bitmap_intersects(bound, set) && !hwloc_bitmap_isincluded(set, bound)) {
        hwloc_bitmap_and(set, set, bound);
        from = "process binding";
    }
    hwloc_bitmap_free(bound);
    snprintf(t->res.cpus_from, sizeof(t->res.cpus_from), "%s", from);
    return set;
}

/* RAY_MPI_PER_NUMA: the domain of this local rank among those holding our
 * CPUs; only it is left in base. */
static int home_pick(topo *t, hwloc_bitmap_t base)
{
    int cand[TOPO_DOM_MAX], n = 0;
    for (int d = 0; d < t->ndom; d++)
        if (hwloc_bitmap_intersects(numa_obj(t, d)->cpuset, base))
            cand[n++] = d;
    t->ncand = n;
    const char *from;
    int rank = topo_local_rank(&from);
    t->home_pos = n == 1 ? 0 : rank;
    if (n == 1) {
        t->home = cand[0];
        snprintf(t->home_from, sizeof(t->home_from), "the only domain of its CPUs");
    } else if (rank < 0) {
        return ray_err(RAY_EINVAL, "RAY_MPI_PER_NUMA needs the local rank: none of "
                                   "OMPI_COMM_WORLD_LOCAL_RANK, PMIX_LOCAL_RANK, "
                                   "SLURM_LOCALID is set");
    } else if (rank >= n) {
        return ray_err(RAY_EINVAL,
                       "RAY_MPI_PER_NUMA: local rank %d (%s) but this node has "
                       "%d NUMA domains with CPUs; start one rank per domain "
                       "(srun --ntasks-per-node=%d)",
                       rank, from, n, n);
    } else {
        t->home = cand[rank];
        snprintf(t->home_from, sizeof(t->home_from), "%s=%d", from, rank);
    }
    hwloc_bitmap_and(base, base, numa_obj(t, t->home)->cpuset);
    snprintf(t->res.cpus_from, sizeof(t->res.cpus_from), "NUMA %u (%s)", t->dom[t->home].os_index,
             t->home_from);
    return 0;
}

/* Slurm's number caps the PUs; it wins ties, being what the job asked. */
static void cpus_count(topo *t, hwloc_const_bitmap_t base, int per_numa, int ncand)
{
    t->res.cpus = hwloc_bitmap_weight(base);
    const char *from;
    long s = -1;
    char why[96];
    if (per_numa && (s = topo_env_count("SLURM_CPUS_PER_TASK")) >= 1) {
        snprintf(why, sizeof(why), "SLURM_CPUS_PER_TASK");
    } else if ((s = topo_slurm_node_cpus(&from)) >= 1) {
        snprintf(why, sizeof(why), "%s", from);
        if (per_numa && ncand > 1) {
            s /= ncand;
            snprintf(why, sizeof(why), "%s / %d NUMA domains", from, ncand);
        }
    }
    if (s >= 1 && s <= t->res.cpus) {
        t->res.cpus = (double)s;
        snprintf(t->res.cpus_from, sizeof(t->res.cpus_from), "%s", why);
    }
}

static uint64_t cgroup_limit(void)
{
    static const char *files[] = {"/sys/fs/cgroup/memory.max",
                                  "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(files); i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        char buf[64] = "";
        char *ok = fgets(buf, sizeof(buf), f);
        fclose(f);
        if (!ok || !strncmp(buf, "max", 3))
            continue;
        unsigned long long v = strtoull(buf, NULL, 10);
        if (v > 0 && v < (1ull << 60))
            return v;
    }
    return 0;
}

/* The machine's memory: hwloc's NUMA memory, the kernel's page count (NUMA
 * sysfs can miss hot-added memory, seen on VMs) and the cgroup limit. */
static uint64_t memory_machine(topo *t, const char **from)
{
    uint64_t mem = hwloc_get_root_obj(t->hw)->total_memory;
    *from = "hwloc (NUMA memory)";
    if (!t->thissystem)
        return mem;
    uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (phys > mem) {
        mem = phys;
        *from = "physical memory";
    }
    uint64_t cg = cgroup_limit();
    if (cg && cg < mem) {
        mem = cg;
        *from = "cgroup memory limit";
    }
    return mem;
}

/* Slurm's memory for the job on this node: per node, or per CPU x CPUs. */
static void memory_count(topo *t, int ncand)
{
    const char *from, *cf;
    char *why = t->res.memory_from;
    size_t wsz = sizeof(t->res.memory_from);
    uint64_t mem = memory_machine(t, &from);
    snprintf(why, wsz, "%s", from);
    long per_node = topo_env_count("SLURM_MEM_PER_NODE");
    long per_cpu = topo_env_count("SLURM_MEM_PER_CPU");
    int node_wide = 1;
    if (per_node > 0) {
        mem = (uint64_t)per_node * MIB;
        snprintf(why, wsz, "SLURM_MEM_PER_NODE");
    } else if (per_cpu > 0) {
        long cpus = t->home >= 0 ? -1 : topo_slurm_node_cpus(&cf);
        if (cpus < 1)
            cpus = (long)t->res.cpus;
        mem = (uint64_t)per_cpu * MIB * (uint64_t)cpus;
        snprintf(why, wsz, "SLURM_MEM_PER_CPU x %ld CPUs", cpus);
        node_wide = t->home < 0;
    }
    if (t->home >= 0 && node_wide) {
        uint64_t local = t->dom[t->home].memory_bytes;
        mem /= (uint64_t)RAY_MAX(ncand, 1);
        if (local && local < mem) {
            mem = local;
            snprintf(why, wsz, "NUMA %u local memory", t->dom[t->home].os_index);
        } else if (ncand > 1) {
            size_t k = strlen(why);
            snprintf(why + k, wsz - k, " / %d NUMA domains", ncand);
        }
    }
    t->res.memory_bytes = mem;
}

typedef struct core_ref {
    hwloc_bitmap_t pus;
    int dom, core;
} core_ref;

/* The cores holding PUs of base, in logical order. */
static core_ref *cores_list(topo *t, hwloc_const_bitmap_t base, int *n)
{
    hwloc_obj_type_t type =
        hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int all = hwloc_get_nbobjs_by_type(t->hw, type);
    core_ref *c = calloc((size_t)RAY_MAX(all, 1), sizeof(*c));
    *n = 0;
    for (hwloc_obj_t o = NULL; c && (o = hwloc_get_next_obj_by_type(t->hw, type, o));) {
        if (!hwloc_bitmap_intersects(o->cpuset, base))
            continue;
        core_ref *r = &c[(*n)++];
        r->pus = hwloc_bitmap_alloc();
        hwloc_bitmap_and(r->pus, o->cpuset, base);
        r->dom = dom_of(t, r->pus);
        r->core = (int)o->logical_index;
    }
    return c;
}

/* The n-th PU of set (n from 0). */
static int nth_pu(hwloc_const_bitmap_t set, int n)
{
    int pu = hwloc_bitmap_first(set);
    while (n-- > 0 && pu >= 0)
        pu = hwloc_bitmap_next(set, pu);
    return pu;
}

/* Domain d's candidates in order: its cores, or (PU units) the first PU of
 * each of its cores, then the second, ...; as core index * 64 + thread. */
static int candidates(const core_ref *c, int n, int d, int by_core, int *out)
{
    int k = 0, more = 1;
    for (int thread = 0; more && thread < (by_core ? 1 : 64); thread++) {
        more = 0;
        for (int i = 0; i < n; i++)
            if (c[i].dom == d && hwloc_bitmap_weight(c[i].pus) > thread) {
                out[k++] = i * 64 + thread;
                more = 1;
            }
    }
    return k;
}

static void unit_add(topo *t, const core_ref *c, int cand, int by_core)
{
    const core_ref *r = &c[cand / 64];
    topo_unit *x = &t->unit[t->nunit++];
    x->pus = by_core ? hwloc_bitmap_dup(r->pus) : hwloc_bitmap_alloc();
    if (!by_core)
        hwloc_bitmap_only(x->pus, (unsigned)nth_pu(r->pus, cand % 64));
    x->dom = r->dom;
    x->core = r->core;
    hwloc_bitmap_or(t->dom[r->dom].cpus, t->dom[r->dom].cpus, x->pus);
    hwloc_bitmap_or(t->cpus, t->cpus, x->pus);
    t->dom[r->dom].nunits++;
}

/* Takes want units, one domain after the other in turn. */
static void units_take(topo *t, const core_ref *c, int n, int want, int *cand)
{
    int start[TOPO_DOM_MAX + 1], next[TOPO_DOM_MAX];
    start[0] = 0;
    for (int d = 0; d < t->ndom; d++) {
        start[d + 1] = start[d] + candidates(c, n, d, t->unit_is_core, cand + start[d]);
        next[d] = start[d];
    }
    for (int progress = 1; t->nunit < want && progress;) {
        progress = 0;
        for (int d = 0; d < t->ndom && t->nunit < want; d++)
            if (next[d] < start[d + 1]) {
                unit_add(t, c, cand[next[d]++], t->unit_is_core);
                progress = 1;
            }
    }
}

/* The node's units: want of them (its CPUs), round-robin over domains. */
static int units_build(topo *t, hwloc_const_bitmap_t base, int want)
{
    int n, rc = 0;
    core_ref *c = cores_list(t, base, &n);
    int pus = hwloc_bitmap_weight(base);
    int *cand = malloc((size_t)RAY_MAX(pus, 1) * sizeof(int));
    t->cpus = hwloc_bitmap_alloc();
    t->unit_is_core = want <= n;
    want = RAY_MIN(want, t->unit_is_core ? n : pus);
    t->unit = calloc((size_t)RAY_MAX(want, 1), sizeof(*t->unit));
    if (!c || !cand || !t->unit) {
        rc = ray_err(RAY_ENOMEM, "out of memory");
        goto out_free;
    }
    t->ncores = n;
    for (int i = 0; i < n; i++)
        t->dom[c[i].dom].ncores++;
    units_take(t, c, n, want, cand);
    for (int d = 0; d < t->ndom; d++)
        t->res.numa += t->dom[d].ncores > 0;
out_free:
    for (int i = 0; c && i < n; i++)
        hwloc_bitmap_free(c[i].pus);
    free(c);
    free(cand);
    return rc;
}

/* The settings over what the node offers: what the plan hands out. */
static int settings_apply(topo *t, const ray_config *cfg, hwloc_const_bitmap_t base)
{
    double cpus, gpus;
    uint64_t store;
    uint32_t maxw;
    int rc = topo_resolve(cfg, &t->res, &cpus, &gpus, &store, &maxw);
    if (rc)
        return rc;
    t->ncpus = cpus;
    snprintf(t->ncpus_from, sizeof(t->ncpus_from), "%s",
             cfg->num_cpus_auto ? t->res.cpus_from : "RAY_MPI_NUM_CPUS");
    snprintf(t->ngpus_from, sizeof(t->ngpus_from), "%s",
             cfg->num_gpus_auto ? t->res.gpus_from : "RAY_MPI_NUM_GPUS");
    topo_gpus_trim(t, (int)floor(gpus + 1e-9));
    return units_build(t, base, (int)ceil(cpus - 1e-9));
}

static int load_steps(topo *t, const ray_config *cfg)
{
    int rc = bind_mode_parse(cfg->bind, &t->mode);
    if (!rc)
        rc = hw_load(t, cfg->topology);
    if (rc)
        return rc;
    domains_find(t);
    hwloc_bitmap_t base = base_cpus(t);
    topo_devices_find(t);
    if (cfg->per_numa && (rc = home_pick(t, base)) == 0)
        topo_gpus_home(t);
    if (!rc && hwloc_bitmap_iszero(base))
        rc = ray_err(RAY_EINVAL, "this process may run on no PU of %s", t->from);
    if (!rc) {
        cpus_count(t, base, cfg->per_numa, t->ncand);
        memory_count(t, t->ncand);
        rc = settings_apply(t, cfg, base);
    }
    hwloc_bitmap_free(base);
    return rc;
}

int topo_load(const ray_config *cfg, topo **out)
{
    *out = NULL;
    topo *t = calloc(1, sizeof(*t));
    if (!t)
        return ray_err(RAY_ENOMEM, "out of memory");
    t->home = -1;
    t->ncand = 1;
    int rc = load_steps(t, cfg);
    if (rc) {
        topo_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void topo_free(topo *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nunit; i++)
        hwloc_bitmap_free(t->unit[i].pus);
    free(t->unit);
    for (int d = 0; d < t->ndom; d++)
        hwloc_bitmap_free(t->dom[d].cpus);
    hwloc_bitmap_free(t->cpus);
    if (t->hw)
        hwloc_topology_destroy(t->hw);
    free(t);
}

const topo_node *topo_resources(const topo *t)
{
    return &t->res;
}
int topo_is_this_machine(const topo *t)
{
    return t->thissystem;
}
int topo_home_numa(const topo *t)
{
    return t->home < 0 ? -1 : (int)t->dom[t->home].os_index;
}

int topo_detect(const ray_config *cfg, topo_node *out)
{
    topo *t;
    int rc = topo_load(cfg, &t);
    if (rc)
        return rc;
    *out = t->res;
    topo_free(t);
    return 0;
}

int topo_resolve(const ray_config *cfg, const topo_node *t, double *cpus, double *gpus,
                 uint64_t *store_bytes, uint32_t *max_workers)
{
    *cpus = cfg->num_cpus_auto ? t->cpus : cfg->num_cpus;
    *gpus = cfg->num_gpus_auto ? t->gpus : cfg->num_gpus;
    if (*cpus <= 0)
        return ray_err(RAY_EINVAL, "this node offers %g CPUs (from %s); set RAY_MPI_NUM_CPUS",
                       *cpus, cfg->num_cpus_auto ? t->cpus_from : "RAY_MPI_NUM_CPUS");
    if (*cpus > 100000 || *gpus > 1024)
        return ray_err(RAY_EINVAL, "%g CPUs / %g GPUs is more than one node can have", *cpus,
                       *gpus);
    *store_bytes =
        cfg->object_store_memory_auto ? t->memory_bytes / 10 * 3 : cfg->object_store_memory;
    *store_bytes &= ~(uint64_t)4095;
    uint64_t room = t->memory_bytes / 10 * 9; /* the rest: workers, the driver, the system */
    if (!cfg->object_store_memory_auto && t->memory_bytes && *store_bytes > room)
        return ray_err(RAY_EINVAL,
                       "an object store of %llu MiB (RAY_MPI_OBJECT_STORE_MEMORY) does not fit "
                       "this node's memory of %llu MiB (from %s): at most %llu MiB can be the "
                       "store; lower RAY_MPI_OBJECT_STORE_MEMORY or ask for more memory "
                       "(Slurm: --mem)",
                       (unsigned long long)(*store_bytes >> 20),
                       (unsigned long long)(t->memory_bytes >> 20), t->memory_from,
                       (unsigned long long)(room >> 20));
    if (*store_bytes < (1u << 20))
        return ray_err(RAY_EINVAL, "object store of %llu bytes is too small (at least 1M)",
                       (unsigned long long)*store_bytes);
    uint32_t n = (uint32_t)ceil(*cpus);
    *max_workers = cfg->max_workers_auto ? RAY_MIN(RAY_MAX(64u, 8 * n), 60000u)
                                         : (uint32_t)RAY_MIN(cfg->max_workers, 60001u);
    if (*max_workers < n)
        *max_workers = n;
    return 0;
}
