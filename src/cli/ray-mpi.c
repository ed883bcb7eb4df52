/*
 * ray-mpi.c - the launcher: `ray-mpi [options] ./driver args...`.  It is the
 * node service of its node and starts the driver as its child, then ends
 * the job with the driver's exit status.  Options are the settings table
 * (`ray-mpi --help`); `ray-mpi --config` prints every setting with its value
 * and where it came from; `ray-mpi --show-placement` prints the node's
 * topology and where each worker would go, and runs nothing; `ray-mpi
 * status` shows the running jobs of this host (status.c).
 */
#define _GNU_SOURCE
#include "cli.h"

#include "topo/topo.h"
#ifdef RAY_HAVE_MPI
#include "net/net.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef RAY_HAVE_MPI
/* The job's size as an MPI launcher says it (for a ray-mpi without MPI). */
static int mpi_env_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(vars); i++)
        if (ray_env(vars[i]))
            return atoi(ray_env(vars[i]));
    return 1;
}
#endif

static void usage(FILE *out)
{
    fprintf(out, "usage: ray-mpi [options] DRIVER [ARGS...]\n"
                 "       ray-mpi [options] --show-placement\n"
                 "       ray-mpi status [--job DIR] [--json]   (see ray-mpi status --help)\n"
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
    if (argc > 1 && !strcmp(argv[1], "status")) /* a command, not a driver named status */
        return status_main(argc - 1, argv + 1);
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
        if (!strcmp(argv[i], "--no-prefix")) { /* the twin of --prefix=no */
            char *no[] = {"--prefix=no", NULL};
            int used;
            ray_config_option(&cfg, 1, no, &used);
            i++;
            continue;
        }
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
#ifdef RAY_HAVE_MPI
        if (net_launched_by_mpi())
            return launch_show_placement(&cfg);
#endif
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
    int bad_exe = find_exe(argv[i], exe, sizeof(exe));
    int exe_errno = bad_exe ? (errno ? errno : ENOENT) : 0;
    if (ray_config_export(&cfg)) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 2;
    }
#ifdef RAY_HAVE_MPI
    if (net_launched_by_mpi()) { /* every node takes part, even one that cannot run it */
        if (bad_exe)
            snprintf(exe, sizeof(exe), "%s", argv[i]);
        int rc = launch_mpi(&cfg, exe, exe_errno, argv + i);
        return rc == 1 && bad_exe ? 127 : rc;
    }
#else
    if (mpi_env_size() > 1) {
        fprintf(stderr, "ray-mpi: started as %d MPI ranks, but this ray-mpi was built without "
                        "MPI (configure --with-mpi): it runs one node only\n",
                mpi_env_size());
        return 2;
    }
#endif
    if (bad_exe) {
        fprintf(stderr, "ray-mpi: %s\n", ray_last_error());
        return 127;
    }
    node_args a = {&cfg, exe, argv + i, -1, 0, 0, 1, 0, 1, NULL, NULL, NULL, NULL};
    return node_service_main(&a);
}
