/*
 * gpu.c - the node's GPUs and NICs from hwloc's OS devices, and the GPU
 * environment of a worker.  One GPU shows as several OS devices (cuda0 and
 * nvml0 under one PCI device): it is counted once, by its PCI device.  The
 * job may use the GPUs its *_VISIBLE_DEVICES variable lists (Slurm sets it;
 * "NoDevFiles" means Slurm counted GPUs without naming them), else
 * SLURM_GPUS_ON_NODE of them, else all.  A listed GPU hwloc does not see
 * (no CUDA plugin, as in Debian's hwloc) is kept, without locality.
 */
#include "topo_int.h"

#include <ctype.h>
#include <stdlib.h>

static const char *vendor_var[TOPO_VENDOR_N] = {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                                                "ZE_AFFINITY_MASK"};

/* A compute GPU: a co-processor (CUDA, OpenCL, LevelZero) or a GPU its
 * management library names (NVML, RSMI); not a display's DRM card. */
static int osdev_is_gpu(hwloc_obj_t o)
{
    if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC)
        return 1;
    return o->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU && o->subtype &&
           (!strcmp(o->subtype, "NVML") || !strcmp(o->subtype, "RSMI"));
}

static int subtype_is(hwloc_obj_t o, const char *s)
{
    return o->subtype && !strcmp(o->subtype, s);
}

static int vendor_of(hwloc_obj_t pci, hwloc_obj_t o)
{
    unsigned id = pci && pci->type == HWLOC_OBJ_PCI_DEVICE ? pci->attr->pcidev.vendor_id : 0;
    if (id == 0x1002 || subtype_is(o, "RSMI"))
        return TOPO_VENDOR_AMD;
    if (id == 0x8086 || subtype_is(o, "LevelZero"))
        return TOPO_VENDOR_INTEL;
    return TOPO_VENDOR_NVIDIA;
}

/* The device number at the end of an OS device's name: cuda3 -> 3,
 * opencl0d1 -> 1. */
static int name_index(const char *name)
{
    size_t n = strlen(name);
    while (n > 0 && isdigit((unsigned char)name[n - 1]))
        n--;
    return name[n] ? atoi(name + n) : -1;
}

int topo_io_dom(const topo *t, hwloc_obj_t io)
{
    hwloc_obj_t a = hwloc_get_non_io_ancestor_obj(t->hw, io);
    int found = -1, n = 0;
    for (int d = 0; a && a->nodeset && d < t->ndom; d++)
        if (hwloc_bitmap_isset(a->nodeset, t->dom[d].os_index) && n++ == 0)
            found = d;
    return n == 1 ? found : -1;
}

static topo_gpu *gpu_new(topo *t, hwloc_obj_t pci, int vendor)
{
    if (t->ngpu >= TOPO_GPU_MAX)
        return NULL;
    topo_gpu *g = &t->gpu[t->ngpu++];
    memset(g, 0, sizeof(*g));
    g->pci = pci;
    g->vendor = vendor;
    g->phys = g->rel = g->dom = -1;
    if (pci && pci->type == HWLOC_OBJ_PCI_DEVICE) {
        struct hwloc_pcidev_attr_s *p = &pci->attr->pcidev;
        snprintf(g->busid, sizeof(g->busid), "%04x:%02x:%02x.%x", p->domain, p->bus, p->dev,
                 p->func);
        const char *model = hwloc_obj_get_info_by_name(pci, "PCIDevice");
        snprintf(g->model, sizeof(g->model), "%s", model ? model : "");
    }
    return g;
}

/* What one OS device tells of its GPU: indexes, name, UUID, model. */
static void gpu_learn(topo_gpu *g, hwloc_obj_t o)
{
    int idx = name_index(o->name);
    int physical = subtype_is(o, "NVML") || subtype_is(o, "RSMI");
    int preferred = subtype_is(o, "CUDA") || subtype_is(o, "RSMI") || subtype_is(o, "LevelZero");
    if (physical && g->phys < 0)
        g->phys = idx;
    else if (!physical && (g->rel < 0 || preferred))
        g->rel = idx;
    if (!g->name[0] || preferred)
        snprintf(g->name, sizeof(g->name), "%s", o->name);
    static const char *uuids[] = {"NVIDIAUUID", "AMDUUID", "LevelZeroUUID"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(uuids); i++) {
        const char *u = hwloc_obj_get_info_by_name(o, uuids[i]);
        if (u)
            snprintf(g->uuid, sizeof(g->uuid), "%s", u);
    }
    const char *model = hwloc_obj_get_info_by_name(o, "GPUModel");
    if (model && (preferred || !g->model_from_osdev))
        g->model_from_osdev = 1, snprintf(g->model, sizeof(g->model), "%s", model);
}

static topo_gpu *gpu_of_pci(topo *t, hwloc_obj_t pci)
{
    for (int i = 0; pci && pci->type == HWLOC_OBJ_PCI_DEVICE && i < t->ngpu; i++)
        if (t->gpu[i].pci == pci)
            return &t->gpu[i];
    return NULL;
}

static void gpus_find(topo *t)
{
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(t->hw, o));) {
        if (!osdev_is_gpu(o))
            continue;
        topo_gpu *g = gpu_of_pci(t, o->parent);
        if (!g && (g = gpu_new(t, o->parent, vendor_of(o->parent, o))))
            g->dom = topo_io_dom(t, o);
        if (g)
            gpu_learn(g, o);
    }
}

static topo_nic *nic_of_pci(topo *t, hwloc_obj_t pci)
{
    for (int i = 0; i < t->nnic; i++)
        if (t->nic[i].pci == pci)
            return &t->nic[i];
    if (t->nnic >= TOPO_NIC_MAX)
        return NULL;
    topo_nic *n = &t->nic[t->nnic++];
    memset(n, 0, sizeof(*n));
    n->pci = pci;
    n->dom = topo_io_dom(t, pci);
    if (pci->type == HWLOC_OBJ_PCI_DEVICE) {
        struct hwloc_pcidev_attr_s *p = &pci->attr->pcidev;
        snprintf(n->busid, sizeof(n->busid), "%04x:%02x:%02x.%x", p->domain, p->bus, p->dev,
                 p->func);
    }
    return n;
}

/* NICs, once each: ib0 and mlx5_0 are one PCI device. */
static void nics_find(topo *t)
{
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(t->hw, o));) {
        int type = o->attr->osdev.type;
        if (type != HWLOC_OBJ_OSDEV_NETWORK && type != HWLOC_OBJ_OSDEV_OPENFABRICS)
            continue;
        topo_nic *n = nic_of_pci(t, o->parent);
        size_t k = n ? strlen(n->name) : 0;
        if (n)
            snprintf(n->name + k, sizeof(n->name) - k, "%s%s", k ? " " : "", o->name);
    }
}

/* ---------------------------------------------------- visible devices */

/* The GPU of vendor v that entry `e`, at position pos of its list, names:
 * by physical index (NVML, RSMI), by UUID (prefix, as CUDA accepts), or
 * by runtime index: on this machine the runtime already renumbered its
 * devices (cuda0 is the list's first), in an XML it did not. */
static topo_gpu *gpu_named(topo_gpu *found, int n, int v, const char *e, int pos, int here)
{
    char *end;
    long idx = strtol(e, &end, 10);
    int numeric = end != e && (!*end || *end == '.');
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            topo_gpu *g = &found[i];
            if (g->vendor != v || g->taken)
                continue;
            if (!numeric && strlen(e) >= 4 && !strncmp(g->uuid, e, strlen(e)))
                return g;
            if (numeric && pass == 0 && g->phys >= 0 && g->phys == idx)
                return g;
            if (numeric && pass == 1 && g->phys < 0 && g->rel == (here ? pos : idx))
                return g;
        }
    return NULL;
}

static void gpu_keep(topo *t, const topo_gpu *g, const char *visible)
{
    if (t->ngpu >= TOPO_GPU_MAX)
        return;
    topo_gpu *k = &t->gpu[t->ngpu++];
    *k = *g;
    if (visible)
        snprintf(k->visible, sizeof(k->visible), "%s", visible);
    else if (!k->visible[0])
        snprintf(k->visible, sizeof(k->visible), "%d", k->phys >= 0 ? k->phys : k->rel);
}

/* The GPUs of vendor v the list names, in its order. */
static void gpus_listed(topo *t, topo_gpu *found, int n, int v, const char *list)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    int pos = 0;
    for (char *save, *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save), pos++) {
        while (isspace((unsigned char)*e))
            e++;
        topo_gpu *g = gpu_named(found, n, v, e, pos, t->thissystem);
        topo_gpu none = {.vendor = v, .phys = -1, .rel = -1, .dom = -1};
        if (!g)
            snprintf(none.name, sizeof(none.name), "gpu%d", t->ngpu);
        gpu_keep(t, g ? g : &none, e);
        if (g)
            g->taken = 1;
    }
}

/* Filters the GPUs hwloc found by each vendor's variable; returns 1 when a
 * variable named the GPUs (their count is then the list's). */
static int gpus_visible(topo *t)
{
    topo_gpu found[TOPO_GPU_MAX];
    int n = t->ngpu, named = 0;
    memcpy(found, t->gpu, sizeof(found[0]) * (size_t)n);
    t->ngpu = 0;
    char *from = t->res.gpus_from;
    for (int v = 0; v < TOPO_VENDOR_N; v++) {
        const char *list = ray_env(vendor_var[v]);
        if (list && strcmp(list, "NoDevFiles")) {
            gpus_listed(t, found, n, v, list);
            size_t k = strlen(from);
            snprintf(from + k, sizeof(t->res.gpus_from) - k, "%s%s", named++ ? ", " : "",
                     vendor_var[v]);
            continue;
        }
        for (int i = 0; i < n; i++)
            if (found[i].vendor == v)
                gpu_keep(t, &found[i], NULL);
    }
    return named > 0;
}

void topo_gpus_trim(topo *t, int n)
{
    n = RAY_MIN(RAY_MAX(n, 0), TOPO_GPU_MAX);
    while (t->ngpu < n) {
        topo_gpu none = {.vendor = TOPO_VENDOR_NVIDIA, .phys = -1, .rel = -1, .dom = -1};
        snprintf(none.name, sizeof(none.name), "gpu%d", t->ngpu);
        snprintf(none.visible, sizeof(none.visible), "%d", t->ngpu);
        gpu_keep(t, &none, NULL);
    }
    t->ngpu = n;
}

void topo_gpus_home(topo *t)
{
    int kept = 0, unplaced = 0;
    for (int i = 0; i < t->ngpu; i++) {
        int dom = t->gpu[i].dom;
        if (dom == t->home || (dom < 0 && unplaced++ % t->ncand == t->home_pos))
            t->gpu[kept++] = t->gpu[i];
    }
    t->ngpu = kept;
    t->res.gpus = kept;
    size_t k = strlen(t->res.gpus_from);
    snprintf(t->res.gpus_from + k, sizeof(t->res.gpus_from) - k, " near NUMA %u",
             t->dom[t->home].os_index);
}

void topo_devices_find(topo *t)
{
    gpus_find(t);
    nics_find(t);
    t->res.gpus_from[0] = 0;
    int named = gpus_visible(t);
    long slurm = topo_env_count("SLURM_GPUS_ON_NODE");
    const char *cvd = ray_env("CUDA_VISIBLE_DEVICES");
    if (!named && slurm >= 0) {
        topo_gpus_trim(t, (int)slurm);
        snprintf(t->res.gpus_from, sizeof(t->res.gpus_from), "SLURM_GPUS_ON_NODE%s",
                 cvd && !strcmp(cvd, "NoDevFiles") ? " (CUDA_VISIBLE_DEVICES=NoDevFiles)" : "");
    } else if (!named) {
        snprintf(t->res.gpus_from, sizeof(t->res.gpus_from), "hwloc (GPU devices)");
    }
    t->res.gpus = t->ngpu;
}

/* ---------------------------------------------------------- environment */

int topo_gpu_env(const topo *t, const topo_binding *b, topo_env *env)
{
    memset(env, 0, sizeof(*env));
    for (int v = 0; v < TOPO_VENDOR_N; v++) {
        int present = 0;
        for (int i = 0; i < t->ngpu; i++)
            present |= t->gpu[i].vendor == v;
        if (!present)
            continue;
        char *val = env->var[env->n].value;
        size_t cap = sizeof(env->var[0].value), len = 0;
        snprintf(env->var[env->n].name, sizeof(env->var[0].name), "%s", vendor_var[v]);
        for (int k = 0; k < b->ngpus; k++) {
            const topo_gpu *g = b->gpu_ids[k] < t->ngpu ? &t->gpu[b->gpu_ids[k]] : NULL;
            if (!g || g->vendor != v)
                continue;
            int w = snprintf(val + len, cap - len, "%s%s", len ? "," : "", g->visible);
            if (w < 0 || (size_t)w >= cap - len)
                return ray_err(RAY_EINVAL, "%s for %d GPUs does not fit", vendor_var[v], b->ngpus);
            len += (size_t)w;
        }
        env->n++;
    }
    return 0;
}
