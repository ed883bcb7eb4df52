/*
 * ray-mpi.c - the launcher: `ray-mpi [options] ./driver args...`.  It is the
 * node service of its node and starts the driver as its child, then ends
 * the job with the driver's exit status.  Options are the settings table
 * (`ray-mpi --help`); `ray-mpi --config` prints every setting with its value
 * and where it came from; `ray-mpi --show-placement` prints the node's
 * topology and where each worker would go, and runs nothing.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "topo/topo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: ray-mpi [options] DRIVER [ARGS...]\n"
                 "       ray-mpi [options] --show-placement\n"
                 "       ray-mpi --config | --help | --version\n\n"
                 "Runs DRIVER, a program that calls ray_init(), with this node's service.\n"
                 "Every option has an environment twin RAY_MPI_<NAME>; options win.\n\n"
                 "options:\n");
    ray_config_usage(out);
}

/* Every setting, then what the automatic ones come to on this node. */
static int print_config(const ray_config *cfg)
{
    ray_config_print(cfg, stdout);
    topo_node t;
    double cpus, gpus;
    uint64_t store;
    uint32_t max_workers;
    if (topo_detect(cfg, &t) || topo_resolve(cfg, &t, &cpus, &gpus, &store, &max_workers)) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 1;
    }
    printf("# on this node: RAY_MPI_NUM_CPUS=%g (%s)\n", cpus,
           cfg->num_cpus_auto ? t.cpus_from : "setting");
    printf("# on this node: RAY_MPI_NUM_GPUS=%g (%s)\n", gpus,
           cfg->num_gpus_auto ? t.gpus_from : "setting");
    printf("# on this node: RAY_MPI_OBJECT_STORE_MEMORY=%llu (%s)\n", (unsigned long long)store,
           cfg->object_store_memory_auto ? t.memory_from : "setting");
    printf("# on this node: RAY_MPI_MAX_WORKERS=%u\n", max_workers);
    return 0;
}

/* Resolves a command like execvp would, for the error message's sake. */
static int find_exe(const char *cmd, char *out, size_t cap)
{
    if (strchr(cmd, '/')) {
        if (!realpath(cmd, out))
            return ray_err_sys("cannot run %s", cmd);
        return access(out, X_OK) ? ray_err_sys("cannot run %s", cmd) : 0;
    }
    const char *path = ray_env("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(out, cap, "%.*s/%s", (int)n, n ? p : ".", cmd);
        if (access(out, X_OK) == 0)
            return 0;
        p = colon ? colon + 1 : NULL;
    }
    return ray_err(RAY_EINVAL, "cannot run %s: not found in PATH", cmd);
}

int main(int argc, char **argv)
{
    ray_config cfg;
    if (ray_config_load(&cfg)) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 2;
    }
    int i = 1, show = 0;
    while (i < argc && !strncmp(argv[i], "--", 2)) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("ray-mpi %s\n", PACKAGE_VERSION);
            return 0;
        }
        if (!strcmp(argv[i], "--config"))
            return print_config(&cfg);
        if (!strcmp(argv[i], "--show-placement")) { /* bare: the action; =yes: a setting */
            show = 1;
            i++;
            continue;
        }
        int used;
        if (ray_config_option(&cfg, argc - i, argv + i, &used)) {
            fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
            return 2;
        }
        if (!used) {
            fprintf(stderr, "ray-mpi: unknown option %s (see ray-mpi --help)\n", argv[i]);
            return 2;
        }
        i += used;
    }
    if (show) {
        if (!topo_show_config(&cfg, stdout))
            return 0;
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 1;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    char exe[PATH_MAX];
    if (find_exe(argv[i], exe, sizeof(exe)) || ray_config_export(&cfg)) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 127;
    }
    node_args a = {&cfg, exe, argv + i, -1, 0, 0, 1};
    return node_service_main(&a);
}
