/*
 * show.c - the node and its plan in words, for people (`ray-mpi
 * --show-placement`, RAY_MPI_SHOW_PLACEMENT=1): the topology summary, where
 * each resource figure came from, then the pool's slots and one 1-GPU
 * slot per GPU with their PUs, cores, NUMA domain and GPUs.  PUs are
 * hwloc's os indexes (what the OS binds), cores its logical indexes (L#).
 */
#include "topo_int.h"

#include <stdlib.h>

static double gib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024 * 1024);
}

/* The logical indexes of the cores holding PUs of set, as a list. */
static void cores_format(const topo *t, hwloc_const_bitmap_t set, char *buf, size_t size)
{
    hwloc_bitmap_t cores = hwloc_bitmap_alloc();
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(t->hw, HWLOC_OBJ_CORE, o));)
        if (hwloc_bitmap_intersects(o->cpuset, set))
            hwloc_bitmap_set(cores, o->logical_index);
    hwloc_bitmap_list_snprintf(buf, size, cores);
    hwloc_bitmap_free(cores);
}

static void show_machine(const topo *t, FILE *out)
{
    fprintf(out, "topology: %s%s\n", t->from,
            t->thissystem ? "" : " (not this machine: plans only, nothing is bound)");
    int packs = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_PACKAGE);
    fprintf(out, "machine: %d package%s, %d NUMA domain%s, %d cores, %d PUs, %.1f GiB\n", packs,
            packs == 1 ? "" : "s", t->ndom, t->ndom == 1 ? "" : "s",
            hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_CORE),
            hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_PU),
            gib(hwloc_get_root_obj(t->hw)->total_memory));
    for (int d = 0; d < t->ndom; d++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t->hw, HWLOC_OBJ_NUMANODE, (unsigned)d);
        char pus[TOPO_CPULIST_MAX] = "", cores[TOPO_CPULIST_MAX] = "";
        hwloc_bitmap_list_snprintf(pus, sizeof(pus), o->cpuset);
        cores_format(t, o->cpuset, cores, sizeof(cores));
        fprintf(out, "NUMA %u: %.1f GiB, cores L#%s, PUs %s\n", t->dom[d].os_index,
                gib(t->dom[d].memory_bytes), cores[0] ? cores : "none", pus[0] ? pus : "none");
    }
}

static void show_near(const topo *t, int dom, FILE *out)
{
    if (dom >= 0)
        fprintf(out, "near NUMA %u", t->dom[dom].os_index);
    else
        fprintf(out, "no NUMA locality known");
}

static void show_devices(const topo *t, FILE *out)
{
    static const char *vars[] = {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                                 "ZE_AFFINITY_MASK"};
    for (int g = 0; g < t->ngpu; g++) {
        const topo_gpu *x = &t->gpu[g];
        fprintf(out, "GPU %d: %s%s%s%s%s, ", g, x->name, x->model[0] ? ", " : "", x->model,
                x->busid[0] ? ", PCI " : "", x->busid);
        show_near(t, x->dom, out);
        fprintf(out, ", %s=%s\n", vars[x->vendor], x->visible);
    }
    for (int i = 0; i < t->nnic; i++) {
        fprintf(out, "NIC %s: %s%s", t->nic[i].name, t->nic[i].busid[0] ? "PCI " : "",
                t->nic[i].busid);
        fprintf(out, "%s", t->nic[i].busid[0] ? ", " : "");
        show_near(t, t->nic[i].dom, out);
        fputc('\n', out);
    }
}

static void show_resources(const topo *t, FILE *out)
{
    const topo_node *r = &t->res;
    fprintf(out, "offered: %g CPUs (%s), %g GPUs (%s), %.1f GiB (%s)\n", r->cpus, r->cpus_from,
            r->gpus, r->gpus_from, gib(r->memory_bytes), r->memory_from);
    if (t->ncpus != r->cpus || t->ngpu != (int)r->gpus)
        fprintf(out, "planned: %g CPUs (%s), %d GPUs (%s)\n", t->ncpus, t->ncpus_from, t->ngpu,
                t->ngpus_from);
    if (t->home >= 0)
        fprintf(out, "per NUMA: this service takes NUMA %u (%s)\n", t->dom[t->home].os_index,
                t->home_from);
    fprintf(out, "binding: %s; a CPU is a %s (%g CPUs on %d cores, %d PUs)\n",
            topo_bind_name(t->mode), t->unit_is_core ? "core" : "PU", t->ncpus, t->ncores,
            hwloc_bitmap_weight(t->cpus));
}

/* "PUs 0,64 (core L#0), NUMA 0, GPUs 0 (cuda0)" */
static void show_binding(const topo *t, const topo_binding *b, FILE *out)
{
    if (!b->cpus[0]) {
        fprintf(out, "unbound");
    } else {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        hwloc_bitmap_list_sscanf(set, b->cpus);
        char cores[TOPO_CPULIST_MAX];
        cores_format(t, set, cores, sizeof(cores));
        int many = hwloc_bitmap_weight(set) > 1;
        fprintf(out, "PU%s %s (core%s L#%s)", many ? "s" : "", b->cpus,
                strpbrk(cores, ",-") ? "s" : "", cores);
        hwloc_bitmap_free(set);
    }
    if (b->numa >= 0)
        fprintf(out, ", NUMA %d", b->numa);
    for (int i = 0; i < b->ngpus; i++)
        fprintf(out, "%s%d (%s)",
                i              ? ", "
                : b->ngpus > 1 ? ", GPUs "
                               : ", GPU ",
                b->gpu_ids[i], t->gpu[b->gpu_ids[i]].name);
}

static int show_pool(const topo *t, FILE *out)
{
    uint32_t n = (uint32_t)(t->ncpus + 0.999);
    topo_binding *plan = calloc(n, sizeof(*plan));
    if (!plan)
        return ray_err(RAY_ENOMEM, "out of memory");
    int rc = topo_plan_pool(t, n, plan);
    for (uint32_t i = 0; !rc && i < n; i++) {
        fprintf(out, "pool slot %u: ", i);
        show_binding(t, &plan[i], out);
        fputc('\n', out);
    }
    free(plan);
    return rc;
}

/* One 1-CPU 1-GPU slot per GPU, placed one after the other. */
static int show_gpu_slots(const topo *t, FILE *out)
{
    topo_busy *b;
    int rc = topo_busy_create(t, &b);
    if (rc)
        return rc;
    for (int g = 0; !rc && g < t->ngpu; g++) {
        topo_request req = {.cpu_milli = 1000, .gpu_milli = 1000};
        topo_binding bind;
        topo_env env;
        if ((rc = topo_place(t, b, (uint64_t)g + 1, &req, &bind)) ||
            (rc = topo_gpu_env(t, &bind, &env)))
            break;
        fprintf(out, "GPU slot %d: ", g);
        show_binding(t, &bind, out);
        for (int i = 0; i < env.n; i++)
            fprintf(out, ", %s=%s", env.var[i].name, env.var[i].value);
        fputc('\n', out);
    }
    topo_busy_free(b);
    return rc;
}

int topo_show(const topo *t, FILE *out)
{
    show_machine(t, out);
    show_devices(t, out);
    show_resources(t, out);
    int rc = show_pool(t, out);
    if (!rc)
        rc = show_gpu_slots(t, out);
    fflush(out);
    return rc;
}

int topo_show_config(const ray_config *cfg, FILE *out)
{
    topo *t;
    int rc = topo_load(cfg, &t);
    if (rc)
        return rc;
    rc = topo_show(t, out);
    topo_free(t);
    return rc;
}
