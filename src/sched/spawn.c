/*
 * spawn.c - starting a worker process: the driver's own executable, with
 * the driver's arguments and environment plus the variables that make its
 * ray_init() join this node service as a worker.  posix_spawn (vfork
 * underneath) keeps start-up cheap however large the service's mappings
 * are, and reports an executable that cannot run at once.
 */
#define _GNU_SOURCE
#include "sched.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

static int is_ours(const char *kv)
{
    static const char *const names[] = {RAY_ENV_ROLE "=", RAY_ENV_FD "=", RAY_ENV_PARENT "=",
                                        "RAY_MPI_SLOT="};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(names); i++)
        if (!strncmp(kv, names[i], strlen(names[i])))
            return 1;
    return 0;
}

/* The child's stdout and stderr go to pipes whose read ends (outs) the
 * node service reads; -1 where it fails (then they are inherited). */
static void output_pipes(posix_spawn_file_actions_t *fa, int *outs, int *child)
{
    for (int i = 0; i < 2; i++) {
        int p[2];
        outs[i] = child[i] = -1;
        if (pipe2(p, O_CLOEXEC) < 0)
            continue;
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        outs[i] = p[0];
        child[i] = p[1];
        posix_spawn_file_actions_adddup2(fa, p[1], i + 1); /* dup2 clears CLOEXEC */
    }
}

static int spawn_as(const char *role_name, int keep_stdin, const char *exe, char *const *argv,
                    uint32_t slot, int *sock, pid_t *pid, int *outs)
{
    int sv[2];
    /* The child's end is inherited (no CLOEXEC); the service spawns from
     * one thread, so no other child can inherit it. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return ray_err_sys("socketpair for a worker");
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 5, sizeof(char *));
    char role[64], fd[64], parent[64], slotv[64];
    snprintf(role, sizeof(role), "%s=%s", RAY_ENV_ROLE, role_name);
    snprintf(fd, sizeof(fd), "%s=%d", RAY_ENV_FD, sv[1]);
    snprintf(parent, sizeof(parent), "%s=%d", RAY_ENV_PARENT, (int)getpid());
    snprintf(slotv, sizeof(slotv), "RAY_MPI_SLOT=%u", slot);
    int rc = 0;
    if (!env) {
        rc = ray_err(RAY_ENOMEM, "out of memory spawning a worker");
        goto close_socks;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_ours(environ[i]))
            env[k++] = environ[i];
    env[k++] = role;
    env[k++] = fd;
    env[k++] = parent;
    env[k++] = slotv;
    env[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (!keep_stdin)
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    int child_out[2] = {-1, -1};
    if (outs)
        output_pipes(&fa, outs, child_out);
    /* The service blocks and ignores signals for its own loop; children
     * start with the defaults. */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int err = posix_spawn(pid, exe, &fa, &at, argv, env);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    for (int i = 0; i < 2; i++) {
        if (child_out[i] >= 0)
            close(child_out[i]);
        if (err && outs && outs[i] >= 0) {
            close(outs[i]);
            outs[i] = -1;
        }
    }
    if (err) {
        errno = err;
        rc = ray_err_sys("cannot start a %s from %s", role_name, exe);
        goto close_socks;
    }
    close(sv[1]);
    *sock = sv[0];
    return 0;
close_socks:
    close(sv[0]);
    close(sv[1]);
    return rc;
}

int sched_spawn_process(const char *exe, char *const *argv, uint32_t slot, int *sock, pid_t *pid,
                        int *outs)
{
    return spawn_as("worker", 0, exe, argv, slot, sock, pid, outs);
}

int sched_spawn_driver(const char *exe, char *const *argv, int *sock, pid_t *pid)
{
    return spawn_as("driver", 1, exe, argv, 0, sock, pid, NULL);
}
