/*
 * test_placement.c - where workers go (src/topo's plan), checked exactly on
 * fake nodes: the fat node (4 NUMA domains, 64 cores x 2 PUs, 4 GPUs), a
 * single-socket node without GPUs, the fat node as a Slurm job of 16 cores
 * and 2 GPUs sees it, a node of AMD GPUs; the whole `--show-placement`
 * text of each against tests/unit/<node>.placement; RAY_MPI_BIND and
 * RAY_MPI_PER_NUMA; and on this machine, a process bound by topo_bind_self
 * reads its binding back (hwloc and /proc/self/status) and a GPU request
 * it cannot hold is refused at once.
 *
 * TOPO_GOLDEN_WRITE=1 rewrites the .placement files (and fails, so a run
 * that rewrote them never passes): review them with git diff.
 */
#define _GNU_SOURCE
#include "common/common.h"
#include "topo/topo.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#define MPOL_PREFERRED_      1
#define MPOL_BIND_           2
#define MPOL_PREFERRED_MANY_ 5
#define MPOL_F_ADDR_         2

/* The node in RAY_MPI_TOPOLOGY (or this machine) with the environment's
 * settings; NULL, with a failed point, when it does not load. */
static topo *node_load(const char *xml)
{
    if (xml && !unit_topo_use(xml))
        return NULL;
    ray_config cfg;
    topo *t = NULL;
    int rc = ray_config_load(&cfg);
    if (!rc)
        rc = topo_load(&cfg, &t);
    if (rc)
        ok(0, "%s loads: %s", xml ? xml : "this machine", ray_last_error());
    return t;
}

/* rc of topo_load for the environment as it is (the message in last_error). */
static int node_load_rc(void)
{
    ray_config cfg;
    topo *t = NULL;
    int rc = ray_config_load(&cfg);
    if (!rc)
        rc = topo_load(&cfg, &t);
    topo_free(t);
    return rc;
}

static topo_binding place(const topo *t, topo_busy *b, uint64_t key, uint32_t cpu, uint32_t gpu)
{
    topo_request req = {.cpu_milli = cpu, .gpu_milli = gpu};
    topo_binding out;
    int rc = topo_place(t, b, key, &req, &out);
    if (rc)
        diag("topo_place(%u, %u): %s", cpu, gpu, ray_last_error());
    return out;
}

static int bound_as(const topo_binding *b, const char *cpus, int numa)
{
    if (!strcmp(b->cpus, cpus) && b->numa == numa)
        return 1;
    diag("bound to '%s' NUMA %d, want '%s' NUMA %d", b->cpus, b->numa, cpus, numa);
    return 0;
}

static const char *gpu_env(const topo *t, const topo_binding *b, const char *name)
{
    static topo_env env;
    if (topo_gpu_env(t, b, &env))
        return "(error)";
    for (int i = 0; i < env.n; i++)
        if (!strcmp(env.var[i].name, name))
            return env.var[i].value;
    return "(unset)";
}

/* ---- the whole --show-placement text against its golden file */

static char *file_read(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n = 0;
    if (f && getdelim(&buf, &n, 0, f) < 0) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

/* topo_show's text, with TOPO_XML_DIR/ taken out of the topology's path. */
static char *show_text(const topo *t)
{
    char *buf = NULL, *dir = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    int rc = topo_show(t, f);
    fclose(f);
    if (rc || asprintf(&dir, "%s/", getenv("TOPO_XML_DIR")) < 0) {
        free(buf);
        return NULL;
    }
    char *at = strstr(buf, dir);
    if (at)
        memmove(at, at + strlen(dir), strlen(at + strlen(dir)) + 1);
    free(dir);
    return buf;
}

/* The first line where got and want differ, as a diagnostic. */
static void first_difference(const char *got, const char *want)
{
    for (int line = 1;; line++) {
        size_t g = strcspn(got, "\n"), w = strcspn(want, "\n");
        if (g != w || strncmp(got, want, g)) {
            diag("line %d: got  '%.*s'", line, (int)g, got);
            diag("line %d: want '%.*s'", line, (int)w, want);
            return;
        }
        if (!got[g] || !want[w])
            return;
        got += g + 1;
        want += w + 1;
    }
}

static void golden_check(const char *node, const char *what)
{
    char xml[128], path[4096];
    snprintf(xml, sizeof(xml), "%s.xml", node);
    snprintf(path, sizeof(path), "%s/%s.placement", getenv("TOPO_XML_DIR"), node);
    topo *t = node_load(xml);
    char *got = t ? show_text(t) : NULL;
    topo_free(t);
    if (got && getenv("TOPO_GOLDEN_WRITE")) {
        FILE *f = fopen(path, "we");
        ok(0, "%s: rewrote %s (%s)", node, path, f && fputs(got, f) >= 0 ? "done" : "failed");
        if (f)
            fclose(f);
        free(got);
        return;
    }
    char *want = file_read(path);
    int same = got && want && !strcmp(got, want);
    ok(same, "%s, %s: the placement shown is %s.placement, line for line", node, what, node);
    if (!same && got && want)
        first_difference(got, want);
    free(got);
    free(want);
}

static void test_golden(void)
{
    unit_topo_clear();
    golden_check("fat-node", "all of it");
    setenv("SLURM_CPUS_ON_NODE", "8", 1);
    golden_check("single-node", "SLURM_CPUS_ON_NODE=8 of its 8 cores");
    unit_topo_clear();
    setenv("SLURM_CPUS_ON_NODE", "32", 1);
    setenv("SLURM_GPUS_ON_NODE", "2", 1);
    setenv("SLURM_MEM_PER_CPU", "2048", 1);
    setenv("CUDA_VISIBLE_DEVICES", "1,3", 1);
    golden_check("fat-node-slurm", "16 cores and GPUs 1,3 of a Slurm job");
    unit_topo_clear();
    golden_check("amd-node", "all of it");
}

/* ---- the pool's plan */

static void test_pool_fat(void)
{
    unit_topo_clear();
    topo *t = node_load("fat-node.xml");
    if (!t)
        return;
    topo_binding plan[130];
    is_rc(topo_plan_pool(t, 130, plan), RAY_OK, "fat node: a pool plan of 130 slots");
    int spread = 1, apply = 0, seen[128] = {0}, distinct = 0;
    for (int i = 0; i < 128; i++) {
        spread &= plan[i].numa == i % 4;
        apply |= plan[i].apply;
        int pu = atoi(plan[i].cpus);
        distinct += pu >= 0 && pu < 128 && !seen[pu]++ && !strchr(plan[i].cpus, ',');
    }
    ok(spread, "slot i is on NUMA i %% 4: round-robin over the domains");
    is_int(distinct, 128, "each of the 128 slots (128 CPUs are PUs here) has a PU of its own");
    ok(bound_as(&plan[0], "0", 0) && bound_as(&plan[1], "16", 1) && bound_as(&plan[5], "17", 1),
       "slots 0, 1, 5: PUs 0, 16, 17 (first PU of cores 0, 16, 17)");
    ok(bound_as(&plan[64], "64", 0) && bound_as(&plan[127], "127", 3),
       "slots 64 and 127: second PUs (hyperthreads) only once every core has one");
    ok(topo_binding_same(&plan[128], &plan[0]) && topo_binding_same(&plan[129], &plan[1]),
       "slots past the node's CPUs wrap around");
    ok(!apply, "an XML topology: plans only, no binding is applied");
    topo_free(t);

    setenv("RAY_MPI_BIND", "numa", 1);
    t = node_load("fat-node.xml");
    if (t && !topo_plan_pool(t, 2, plan))
        ok(bound_as(&plan[1], "16-31,80-95", 1), "RAY_MPI_BIND=numa: slot 1 gets all of NUMA 1");
    topo_free(t);
    setenv("RAY_MPI_BIND", "none", 1);
    t = node_load("fat-node.xml");
    if (t && !topo_plan_pool(t, 1, plan))
        ok(bound_as(&plan[0], "", -1) && !plan[0].apply, "RAY_MPI_BIND=none: unbound");
    topo_free(t);
    setenv("RAY_MPI_BIND", "cores", 1);
    unit_topo_use("fat-node.xml");
    is_rc(node_load_rc(), RAY_EINVAL, "RAY_MPI_BIND=cores is refused");
    ok(strstr(ray_last_error(), "RAY_MPI_BIND") != NULL, "  ... naming it: %s", ray_last_error());
    unit_topo_clear();
}

static void test_single_node(void)
{
    unit_topo_clear();
    topo *t = node_load("single-node.xml");
    topo_binding plan[16];
    if (t && !topo_plan_pool(t, 16, plan))
        ok(bound_as(&plan[0], "0", 0) && bound_as(&plan[1], "2", 0) && bound_as(&plan[8], "1", 0),
           "single node, 16 CPUs on 8 cores: a PU each, first PUs of the cores first");
    topo_free(t);
    setenv("SLURM_CPUS_ON_NODE", "8", 1);
    t = node_load("single-node.xml");
    if (!t)
        return;
    if (!topo_plan_pool(t, 8, plan))
        ok(bound_as(&plan[0], "0-1", 0) && bound_as(&plan[7], "14-15", 0),
           "8 CPUs on 8 cores: each slot gets a whole core (both PUs)");
    topo_busy *b;
    topo_busy_create(t, &b);
    topo_binding four = place(t, b, 1, 4000, 0);
    ok(bound_as(&four, "8-15", 0), "a 4-CPU task: 4 whole cores, those the pool reaches last");
    topo_request gpu = {.cpu_milli = 1000, .gpu_milli = 1000};
    topo_binding out;
    is_rc(topo_place(t, b, 2, &gpu, &out), RAY_EINFEASIBLE, "a GPU task on a GPU-less node");
    ok(strstr(ray_last_error(), "0 GPUs") != NULL, "  ... naming what the node has: %s",
       ray_last_error());
    topo_env env;
    ok(topo_gpu_env(t, &four, &env) == 0 && env.n == 0,
       "no GPU vendor on the node: no GPU variable is set");
    topo_busy_free(b);
    topo_free(t);
    unit_topo_clear();
}

/* ---- dedicated workers and actors */

static void test_place_gpus(const topo *t, topo_busy *b)
{
    topo_binding two = place(t, b, 3, 2000, 2000);
    ok(two.ngpus == 2 && two.gpu_ids[0] == 2 && two.gpu_ids[1] == 3 && bound_as(&two, "126-127", 3),
       "2 GPUs + 2 CPUs: the pair near NUMA 3 (cuda2, cuda3) and PUs of NUMA 3");
    ok(!strcmp(gpu_env(t, &two, "CUDA_VISIBLE_DEVICES"), "2,3"), "  ... CUDA_VISIBLE_DEVICES=2,3");
    ok(topo_gpus_fit(t, b, 2000) && !topo_gpus_fit(t, b, 3000),
       "with cuda2 and cuda3 held, 2 more GPUs fit, 3 do not");
    topo_binding one = place(t, b, 4, 1000, 1000);
    ok(one.ngpus == 1 && one.gpu_ids[0] == 0 && bound_as(&one, "75", 0),
       "1 GPU: cuda0 (best fit: a domain with one free GPU) and a free PU of NUMA 0");
    topo_binding h1 = place(t, b, 5, 1000, 500), h2 = place(t, b, 6, 1000, 500);
    ok(h1.ngpus == 1 && h2.ngpus == 1 && h1.gpu_ids[0] == 1 && h2.gpu_ids[0] == 1 && h1.numa == 1 &&
           h2.numa == 1 && strcmp(h1.cpus, h2.cpus),
       "two 0.5-GPU tasks share cuda1, each with its own PU of NUMA 1 (%s, %s)", h1.cpus, h2.cpus);
    ok(!topo_gpus_fit(t, b, 1000) && !topo_gpus_fit(t, b, 100) && topo_gpus_fit(t, b, 0),
       "all 4 GPUs held: no GPU and no share of one fits; a CPU-only task does");
    topo_release(b, 3);
    topo_binding again = place(t, b, 7, 0, 2000);
    ok(again.ngpus == 2 && again.gpu_ids[0] == 2 && bound_as(&again, "48-63,112-127", 3),
       "released GPUs are free again; 0 CPUs with GPUs: the GPUs' whole domain");
    int three = 3;
    topo_request ids = {.cpu_milli = 1000, .ngpu_ids = 1, .gpu_ids = &three};
    topo_binding given;
    topo_place(t, b, 8, &ids, &given);
    ok(given.ngpus == 1 && given.gpu_ids[0] == 3 && given.numa == 3,
       "GPU ids chosen by the caller: cores near them (NUMA %d)", given.numa);
    ok(!strcmp(gpu_env(t, &one, "CUDA_VISIBLE_DEVICES"), "0") &&
           !strcmp(gpu_env(t, &given, "CUDA_VISIBLE_DEVICES"), "3"),
       "CUDA_VISIBLE_DEVICES names the worker's GPUs");
}

/* Parses a CPU list into seen[]; returns how many PUs, -1 on a PU also
 * set before (placements overlap). */
static int list_mark(const char *s, unsigned char *seen)
{
    int n = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), z = a;
        if (*end == '-')
            z = strtol(end + 1, &end, 10);
        for (long i = a; i <= z && i < 1024; i++, n++)
            if (seen[i]++)
                return -1;
        s = *end ? end + 1 : end;
    }
    return n;
}

static void test_place_fat(void)
{
    unit_topo_clear();
    topo *t = node_load("fat-node.xml");
    topo_busy *b;
    if (!t || topo_busy_create(t, &b))
        return;
    topo_binding a = place(t, b, 1, 4000, 0), c = place(t, b, 2, 4000, 0);
    ok(bound_as(&a, "76-79", 0), "a 4-CPU task: 4 PUs of one domain, the pool's last");
    ok(bound_as(&c, "92-95", 1), "the next one: the domain with most room, NUMA 1");
    test_place_gpus(t, b);
    topo_binding big = place(t, b, 9, 64000, 0);
    unsigned char seen[1024] = {0};
    int n = list_mark(a.cpus, seen) + list_mark(c.cpus, seen);
    int big_n = list_mark(big.cpus, seen);
    ok(n == 8 && big_n == 64, "a 64-CPU task spans domains, on PUs the others do not hold (%s)",
       big.cpus);
    topo_binding f1 = place(t, b, 20, 500, 0), f2 = place(t, b, 21, 500, 0);
    ok(!strcmp(f1.cpus, f2.cpus), "two 0.5-CPU tasks share one PU (%s)", f1.cpus);
    topo_binding whole = place(t, b, 0, 0, 0);
    ok(bound_as(&whole, "0-127", -1), "no CPU and no GPU: the whole node");
    ok(!strcmp(gpu_env(t, &whole, "CUDA_VISIBLE_DEVICES"), ""),
       "  ... with CUDA_VISIBLE_DEVICES=\"\": no GPU it does not hold (as Ray)");
    topo_request many = {.cpu_milli = 200000};
    topo_binding out;
    is_rc(topo_place(t, b, 10, &many, &out), RAY_EINFEASIBLE, "200 CPUs: infeasible");
    ok(strstr(ray_last_error(), "128 CPUs") != NULL, "  ... naming the node's: %s",
       ray_last_error());
    topo_request gpus = {.gpu_milli = 5000};
    is_rc(topo_place(t, b, 10, &gpus, &out), RAY_EINFEASIBLE, "5 GPUs of 4: infeasible");
    ok(strstr(ray_last_error(), "4 GPUs") != NULL, "  ... naming the node's: %s", ray_last_error());
    topo_busy_free(b);

    topo_busy_create(t, &b);
    a = place(t, b, 1, 4000, 0);
    topo_binding a2 = place(t, b, 1, 4000, 0);
    c = place(t, b, 2, 4000, 0);
    ok(bound_as(&a2, "76-79", 0) && bound_as(&c, "92-95", 1),
       "placing a key again first releases what it held");
    topo_busy_free(b);
    topo_free(t);
}

/* The Slurm job's view: cores 16-23 and 48-55, GPUs 1 and 3. */
static void test_place_slurm(void)
{
    unit_topo_clear();
    setenv("CUDA_VISIBLE_DEVICES", "1,3", 1);
    setenv("SLURM_GPUS_ON_NODE", "2", 1);
    topo *t = node_load("fat-node-slurm.xml");
    topo_busy *b;
    if (!t || topo_busy_create(t, &b))
        return;
    topo_binding plan[2];
    topo_plan_pool(t, 2, plan);
    ok(bound_as(&plan[0], "16", 1) && bound_as(&plan[1], "48", 3),
       "pool slots 0 and 1: the first allowed PU of NUMA 1, of NUMA 3");
    topo_binding g0 = place(t, b, 1, 1000, 1000), g1 = place(t, b, 2, 1000, 1000);
    ok(g0.gpu_ids[0] == 0 && bound_as(&g0, "87", 1) &&
           !strcmp(gpu_env(t, &g0, "CUDA_VISIBLE_DEVICES"), "1"),
       "GPU task 1: the job's GPU 0, which CUDA_VISIBLE_DEVICES names 1, and a PU of NUMA 1");
    ok(g1.gpu_ids[0] == 1 && bound_as(&g1, "119", 3) &&
           !strcmp(gpu_env(t, &g1, "CUDA_VISIBLE_DEVICES"), "3"),
       "GPU task 2: GPU 3 and a PU of NUMA 3");
    topo_busy_free(b);
    topo_free(t);
    unit_topo_clear();
    setenv("ROCR_VISIBLE_DEVICES", "GPU-000000000000002a,0", 1);
    t = node_load("amd-node.xml");
    if (t && !topo_busy_create(t, &b)) {
        topo_binding r = place(t, b, 1, 1000, 1000);
        ok(r.gpu_ids[0] == 0 && r.numa == 1 &&
               !strcmp(gpu_env(t, &r, "ROCR_VISIBLE_DEVICES"), "GPU-000000000000002a"),
           "AMD: ROCR_VISIBLE_DEVICES by UUID: rsmi2, near NUMA 1, named as the job named it");
        topo_busy_free(b);
    }
    topo_free(t);
    unit_topo_clear();
}

/* ---- one node service per NUMA domain */

static void per_numa_check(const char *var, const char *val, int numa, int gpus)
{
    unit_topo_clear();
    setenv("RAY_MPI_PER_NUMA", "yes", 1);
    setenv("SLURM_LOCALID", "0", 1); /* under mpirun: the daemon's, not the rank's */
    setenv(var, val, 1);
    topo *t = node_load("fat-node.xml");
    if (!t)
        return;
    const topo_node *r = topo_resources(t);
    ok(topo_home_numa(t) == numa && r->cpus == 32 && r->gpus == gpus &&
           r->memory_bytes == 64ull << 30,
       "per NUMA, %s=%s: NUMA %d, its 32 PUs, %d GPUs, 64 GiB (%s; %s)", var, val,
       topo_home_numa(t), gpus, r->cpus_from, r->memory_from);
    topo_free(t);
}

static void test_per_numa(void)
{
    per_numa_check("SLURM_LOCALID", "2", 2, 0);
    per_numa_check("OMPI_COMM_WORLD_LOCAL_RANK", "3", 3, 2);
    per_numa_check("PMIX_LOCAL_RANK", "1", 1, 1);
    unit_topo_clear();
    setenv("RAY_MPI_PER_NUMA", "yes", 1);
    setenv("SLURM_LOCALID", "3", 1);
    setenv("SLURM_CPUS_PER_TASK", "8", 1);
    setenv("SLURM_MEM_PER_NODE", "102400", 1);
    topo *t = node_load("fat-node.xml");
    topo_binding plan[1], g;
    topo_busy *b;
    if (t && !topo_plan_pool(t, 1, plan) && !topo_busy_create(t, &b)) {
        ok(topo_resources(t)->cpus == 8 && bound_as(&plan[0], "48,112", 3),
           "SLURM_CPUS_PER_TASK=8: 8 cores of NUMA 3, slot 0 a whole core");
        ok(topo_resources(t)->memory_bytes == 25ull << 30, "SLURM_MEM_PER_NODE / 4 domains (%s)",
           topo_resources(t)->memory_from);
        g = place(t, b, 1, 1000, 1000);
        ok(g.gpu_ids[0] == 0 && !strcmp(gpu_env(t, &g, "CUDA_VISIBLE_DEVICES"), "2"),
           "its GPU 0 is cuda2 (CUDA_VISIBLE_DEVICES=2)");
        topo_busy_free(b);
    }
    topo_free(t);
    unsetenv("SLURM_LOCALID");
    unit_topo_use("fat-node.xml");
    is_rc(node_load_rc(), RAY_EINVAL, "per NUMA without a local rank: refused");
    ok(strstr(ray_last_error(), "SLURM_LOCALID") != NULL, "  ... saying which it reads: %s",
       ray_last_error());
    setenv("SLURM_LOCALID", "4", 1);
    is_rc(node_load_rc(), RAY_EINVAL, "per NUMA, local rank 4 of 4 domains: refused");
    ok(strstr(ray_last_error(), "4 NUMA domains") != NULL, "  ... %s", ray_last_error());
    setenv("SLURM_LOCALID", "1", 1);
    t = node_load("fat-node-slurm.xml");
    ok(t && topo_home_numa(t) == 3, "per NUMA in a cgroup of NUMA 1 and 3: rank 1 takes NUMA 3");
    topo_free(t);
    unit_topo_clear();
}

/* ---- this machine */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The kernel's view of this process's CPUs: Cpus_allowed_list. */
static void proc_cpus(char *buf, size_t size)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[4096];
    buf[0] = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "Cpus_allowed_list:", 18))
            snprintf(buf, size, "%.*s", (int)strcspn(line + 18 + strspn(line + 18, " \t"), "\n"),
                     line + 18 + strspn(line + 18, " \t"));
    if (f)
        fclose(f);
}

/* The calling thread's memory policy (or that of addr), with its nodes. */
static int mempolicy(void *addr, unsigned long *nodes)
{
    int mode = -1;
    unsigned long mask[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 1024ul, addr, addr ? MPOL_F_ADDR_ : 0) < 0)
        return -1;
    *nodes = mask[0];
    return mode;
}

static int bound_to_node(int mode, unsigned long nodes, int numa)
{
    return (mode == MPOL_PREFERRED_ || mode == MPOL_BIND_ || mode == MPOL_PREFERRED_MANY_) &&
           numa >= 0 && numa < 64 && (nodes >> numa & 1);
}

/* In a child: bind as b, read it back; "" or what differed. */
static void bind_check(const topo_binding *b, char *why, size_t size)
{
    char hw[TOPO_CPULIST_MAX] = "", proc[TOPO_CPULIST_MAX];
    unsigned long nodes = 0;
    int rc = topo_bind_self(b);
    if (!rc)
        rc = topo_bound_cpus(hw, sizeof(hw));
    proc_cpus(proc, sizeof(proc));
    int mode = mempolicy(NULL, &nodes);
    if (rc)
        snprintf(why, size, "topo_bind_self: %s", ray_last_error());
    else if (strcmp(hw, b->cpus) || strcmp(proc, b->cpus))
        snprintf(why, size, "bound to %s: hwloc reads %s, Cpus_allowed_list %s", b->cpus, hw, proc);
    else if (!bound_to_node(mode, nodes, b->numa))
        snprintf(why, size, "memory policy %d nodes %#lx, want NUMA %d", mode, nodes, b->numa);
}

/* Rebinds between a and c n times: microseconds per topo_bind_self. */
static double bind_cost(const topo_binding *a, const topo_binding *c, int n)
{
    double t0 = now_us();
    for (int i = 0; i < n; i++)
        topo_bind_self(i & 1 ? c : a);
    return (now_us() - t0) / n;
}

static void bind_child(const topo_binding *plan, int n, const char *xml, char *why, size_t size)
{
    double t0 = now_us();
    if (topo_bind_init(xml)) {
        snprintf(why, size, "topo_bind_init(%.200s): %.200s", xml, ray_last_error());
        return;
    }
    double init_us = now_us() - t0;
    topo_binding whole = plan[0];
    snprintf(whole.cpus, sizeof(whole.cpus), "%s", plan[n].cpus);
    for (int i = 0; i < n && !why[0]; i++)
        bind_check(&plan[i], why, size);
    if (!why[0])
        bind_check(&whole, why, size);
    if (!why[0])
        snprintf(why, size,
                 "ok: topo_bind_init from the XML %.0f us; topo_bind_self %.1f us "
                 "per rebind, %.2f us when unchanged",
                 init_us, bind_cost(&plan[0], &whole, 200), bind_cost(&whole, &whole, 200));
}

static void test_bind_self(topo *t)
{
    int n = (int)topo_resources(t)->cpus;
    topo_binding *plan = calloc((size_t)n + 1, sizeof(*plan));
    char xml[4096];
    snprintf(xml, sizeof(xml), "%s/topology.xml", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!plan || topo_plan_pool(t, (uint32_t)n, plan) || topo_export_xml(t, xml)) {
        ok(0, "a plan and an XML export of this machine: %s", ray_last_error());
        free(plan);
        return;
    }
    topo_request all = {.cpu_milli = 0};
    topo_busy *b;
    topo_busy_create(t, &b);
    topo_place(t, b, 0, &all, &plan[n]); /* the whole node: cpus of the last entry */
    topo_busy_free(b);
    ok(plan[0].apply, "this machine: bindings apply");
    char *why = unit_shared(4096);
    pid_t pid = unit_fork();
    if (pid == 0) {
        bind_child(plan, n, xml, why, 4096);
        _exit(strncmp(why, "ok", 2) ? 1 : 0);
    }
    is_int(unit_wait(pid), 0,
           "each pool slot's binding and the whole node's, applied by "
           "topo_bind_self, read back the same (hwloc, /proc)");
    diag("%d slots: %s", n, why);
    unlink(xml);
    unit_unshare(why, 4096);
    free(plan);
}

static void test_store_bind(void)
{
    setenv("RAY_MPI_PER_NUMA", "yes", 1); /* one domain: no rank needed */
    topo *t = node_load(NULL);
    size_t len = 4u << 20;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned long nodes = 0;
    if (t && p != MAP_FAILED) {
        int numa = topo_home_numa(t);
        is_rc(topo_area_bind(t, p, len), RAY_OK, "per NUMA: the store's arena binds to NUMA %d",
              numa);
        int mode = mempolicy(p, &nodes);
        ok(bound_to_node(mode, nodes, numa), "  ... the kernel says so (policy %d, nodes %#lx)",
           mode, nodes);
        munmap(p, len);
    }
    topo_free(t);
    unsetenv("RAY_MPI_PER_NUMA");
}

static void test_this_machine(void)
{
    unit_topo_clear();
    double t0 = now_us();
    topo *t = node_load(NULL);
    if (!t)
        return;
    diag("topo_load of this machine (I/O devices included): %.0f us", now_us() - t0);
    ok(topo_is_this_machine(t), "this machine's topology");
    test_bind_self(t);
    int want = topo_resources(t)->gpus + 1;
    topo_request req = {.cpu_milli = 1000, .gpu_milli = (uint32_t)want * 1000};
    topo_binding out;
    topo_busy *b;
    char has[32];
    snprintf(has, sizeof(has), "%d GPUs", want - 1);
    if (!topo_busy_create(t, &b)) {
        is_rc(topo_place(t, b, 1, &req, &out), RAY_EINFEASIBLE,
              "a request for %d GPUs on this machine is refused at once", want);
        ok(strstr(ray_last_error(), has) != NULL, "  ... naming what it has: %s", ray_last_error());
        topo_busy_free(b);
    }
    topo_free(t);
    test_store_bind();
}

int main(void)
{
    if (ok(getenv("TOPO_XML_DIR") != NULL, "the fake nodes' directory given (TOPO_XML_DIR)")) {
        test_golden();
        test_pool_fat();
        test_single_node();
        test_place_fat();
        test_place_slurm();
        test_per_numa();
    }
    test_this_machine();
    return tap_done();
}
