/*
 * slurm.c - the numbers a launcher leaves in the environment: Slurm's
 * allocation (SLURM_CPUS_ON_NODE, SLURM_JOB_CPUS_PER_NODE's "4(x2),2"
 * syntax, SLURM_GPUS_ON_NODE's "gpu:2") and the local rank of a process
 * started by mpirun, PRRTE or srun.  A malformed value is not trusted: the
 * caller falls back to what hwloc sees.
 */
#include "topo_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

/* A whole number >= 0 taking all of s, else -1. */
static long parse_count(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || errno || v > INT_MAX ? -1 : v;
}

long topo_env_count(const char *name)
{
    const char *v = ray_env(name);
    if (!v || !*v)
        return -1;
    long n = parse_count(v);
    const char *colon = strrchr(v, ':'); /* "gpu:2", "a100:3": the last number */
    return n >= 0 || !colon ? n : parse_count(colon + 1);
}

/* One group of "4(x2),2": its count, how many nodes it covers, and where the
 * next group starts; -1 when malformed. */
static long group_parse(const char *s, long *times, const char **next)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    long n = strtol(s, &end, 10);
    *times = 1;
    if (!strncmp(end, "(x", 2)) {
        if (!isdigit((unsigned char)end[2]))
            return -1;
        *times = strtol(end + 2, &end, 10);
        if (*end++ != ')' || *times < 1)
            return -1;
    }
    if (*end && *end != ',')
        return -1;
    *next = *end ? end + 1 : end;
    return n > INT_MAX ? -1 : n;
}

int topo_slurm_count_at(const char *spec, int index)
{
    if (!spec || !*spec || index < 0)
        return -1;
    long at = index, found = -1;
    for (const char *s = spec; *s;) { /* all of it is checked, not only up to index */
        long times, n = group_parse(s, &times, &s);
        if (n < 0 || (*s == 0 && s[-1] == ','))
            return -1;
        if (found < 0 && at < times)
            found = n;
        at -= times;
    }
    return (int)found;
}

long topo_slurm_node_cpus(const char **from)
{
    long n = topo_env_count("SLURM_CPUS_ON_NODE");
    if (n >= 1) {
        *from = "SLURM_CPUS_ON_NODE";
        return n;
    }
    long node = parse_count(ray_env("SLURM_NODEID"));
    n = topo_slurm_count_at(ray_env("SLURM_JOB_CPUS_PER_NODE"), node < 0 ? 0 : (int)node);
    *from = "SLURM_JOB_CPUS_PER_NODE";
    return n >= 1 ? n : -1;
}

int topo_local_rank(const char **from)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_LOCAL_RANK", "SLURM_LOCALID"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(vars); i++) {
        long r = parse_count(ray_env(vars[i]));
        if (r >= 0) {
            *from = vars[i];
            return (int)r;
        }
    }
    *from = NULL;
    return -1;
}
