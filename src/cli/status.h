/*
 * status.h - private to `ray-mpi status` (status.c finds the jobs and
 * opens their control regions, status_read.c reads a region into an
 * st_node, status_print.c prints it as text or JSON).  Everything here is
 * a private copy: the region is shared memory of a live job, read once.
 */
#ifndef RAY_CLI_STATUS_H
#define RAY_CLI_STATUS_H

#include "sched/sched.h"

#include <limits.h>

#define ST_WAIT_SHOWN    8  /* waiting tasks listed, oldest first */
#define ST_RUNNING_SHOWN 8  /* running tasks listed */
#define ST_ACTORS_SHOWN  64 /* actors listed */
#define ST_ERR_MAX       300

/* <job dir>/node.info, parsed (node.c write_info). */
typedef struct st_info {
    int pid;
    uint32_t node, num_nodes;
    int ctl_fd;
    uint64_t ctl_size;
    int64_t started; /* unix seconds */
    char exe[PATH_MAX];
} st_info;

/* What a waiting task waits for: the node service (a worker, a place),
 * an argument, resources, or another node it was given to run on. */
enum st_why { ST_WHY_OTHER = 0, ST_WHY_ARGS = 1, ST_WHY_RES = 2, ST_WHY_NODE = 3 };

/* A task the node service holds (TASK_WAITING), and what it waits for. */
typedef struct st_wait {
    char name[SCHED_NAME_MAX + 1];
    uint32_t kind;                         /* enum sched_task_kind */
    uint64_t queued_ns;                    /* 0: unknown */
    int why;                               /* enum st_why */
    int arg_index;                         /* ST_WHY_ARGS: the first unready argument */
    char arg_obj[48];                      /* its id, "obj:N:S:G" */
    char arg_state[16];                    /* pending, created, remote, freed */
    char arg_producer[SCHED_NAME_MAX + 1]; /* the task making it, if known */
    uint32_t cpu_milli, gpu_milli;
    uint32_t node; /* ST_WHY_NODE: where it runs */
    char res[128]; /* its custom resources, "name:amount,..." */
    int spec_ok;   /* 0: its spec could not be read (arguments unknown) */
} st_wait;

typedef struct st_running {
    char name[SCHED_NAME_MAX + 1];
    int pid; /* its worker's, 0: unknown */
} st_running;

typedef struct st_actor {
    char name[SCHED_ACTOR_NAME_MAX + 1];
    uint32_t state; /* enum sched_actor_state */
    int pid;        /* its worker's, 0: none now */
    uint32_t calls_queued;
} st_actor;

/* Client kinds and states, as counted (CLIENT_DRIVER..CLIENT_ACTOR,
 * CLIENT_FREE..CLIENT_DEAD). */
#define ST_KINDS  5
#define ST_STATES 7

/* One node service found on this host. */
typedef struct st_node {
    char dir[PATH_MAX];
    st_info info;
    char err[ST_ERR_MAX]; /* non-empty: it could not be read (why) */
    uint16_t tag;
    double total_cpus, total_gpus;
    int32_t cpu_avail;       /* milli-CPUs not held (negative: lent twice) */
    uint32_t gpu_held_milli; /* by running tasks and live actors */
    uint64_t tasks_live, tasks_queued, tasks_running, tasks_waiting, tasks_done;
    uint32_t ready_len; /* the shared ready queue */
    uint32_t workers_alive, actors_alive;
    uint32_t clients[ST_KINDS][ST_STATES];
    int driver_pid;   /* 0: no driver on this node */
    uint32_t nactors; /* actor slots in use (listed: up to ST_ACTORS_SHOWN) */
    st_actor actors[ST_ACTORS_SHOWN];
    int store_ok; /* 0: the store's header was not understood */
    uint64_t store_used_bytes, store_capacity_bytes, objects_live;
    uint64_t net_msgs_in, net_msgs_out, net_bytes_in;
    char fatal[400]; /* empty: none */
    uint32_t nwait;  /* listed in wait[], oldest first */
    st_wait wait[ST_WAIT_SHOWN];
    uint32_t nrunning;
    st_running running[ST_RUNNING_SHOWN];
    int group; /* index of its job in the listing */
} st_node;

/* What status_read needs of one node: its control region mapped
 * read-only (the whole of ctl_size) and, if found, its arena. */
typedef struct st_maps {
    const uint8_t *ctl;
    uint64_t ctl_size;
    const uint8_t *arena; /* NULL: not mapped (task specs kept there are not read) */
    uint64_t arena_size;
} st_maps;

/* Fills n from the maps (n->info already read); 0, or -1 with n->err set. */
int status_read(st_node *n, const st_maps *m);

/* Copies at most cap - 1 bytes of an untrusted string of at most max
 * (up to PATH_MAX) bytes, stopping at NUL, with control characters and
 * what is not well-formed UTF-8 as '?'. */
void status_str(char *dst, size_t cap, const char *src, size_t max);

/* nodes[0..n) sorted by job and node; host is this machine's name. */
void status_print_text(const st_node *nodes, int n, const char *host, FILE *out);
void status_print_json(const st_node *nodes, int n, const char *host, FILE *out);
void status_usage(FILE *out);

#endif /* RAY_CLI_STATUS_H */
