/*
 * service.h - private to src/sched: the node service's state, shared by the
 * files that make it up.  Other parts see only sched.h.
 *
 *   service.c    its life, the message loop (rings), waits, the tick
 *   resources.c  CPUs, GPUs and custom resources: taking, granting, giving back
 *   waiters.c    who waits for which object, and waking them
 *   pending.c    tasks the service holds: waiting for arguments or resources
 *   actors.c     actors' lives: creation, placement, death, names
 *   pool.c       worker processes: slots, spawning, the pool's size
 *   recovery.c   a process died: what it ran, took, held and left half done
 */
#ifndef RAY_SCHED_SERVICE_H
#define RAY_SCHED_SERVICE_H

#include "sched.h"

#include "gcs/gcs.h"

#define WAITER_TASK   1
#define WAITER_CLIENT 2
#define WAITER_EXEC 3   /* a task run here for another node (cluster.h) */
#define WAITER_REMOTE 4 /* another node waits for an object of ours */
#define MSG_BUF       (SCHED_C2S_RING / 2)

typedef struct waiter {
    uint32_t next; /* index + 1 in the pool, 0 = end */
    uint32_t kind, id, idgen, objgen;
} waiter;

typedef struct res_entry {
    char name[64];
    double total, avail;
} res_entry;

typedef struct svc_client {
    int used, connected, blocked, wake;
    uint32_t live_pos; /* its index in svc->live */
    pid_t pid;
    uint32_t kind, gen;
    ray_ring c2s, s2c;
    uint32_t actor;          /* CLIENT_ACTOR */
    uint32_t task, task_gen; /* CLIENT_DEDICATED: what it runs */
    uint64_t place_key;      /* its placement in svc->busy (topo_place), 0: none */
    uint32_t plan;           /* CLIENT_POOL: its slot of svc->plan + 1, 0: none */
    char res[1024];          /* custom resources it holds */
    uint64_t exit_ns;        /* when it was told to exit */
} svc_client;

/* A task or actor waiting for resources, since when, and whether the
 * warning that it waits was given. */
typedef struct pend {
    uint32_t slot, gen;
    uint64_t since_ns;
    uint32_t warned;
} pend;

/* Resources taken for a task or actor (see svc_acquire). */
typedef struct grant {
    uint32_t cpu;
    uint64_t key;      /* its placement in svc->busy */
    topo_binding bind; /* where it runs: cores, NUMA domain, GPUs */
    char res[1024];
} grant;

/* Pool workers: joined (alive), not yet joined, and blocked in a wait. */
typedef struct pool_counts {
    uint32_t alive, starting, blocked;
} pool_counts;

struct sched_service {
    sched sh;
    ray_config cfg;
    double cpus, gpus;
    char *exe;
    char **argv;
    uint32_t node, num_nodes, max_workers;
    int ctl_fd, arena_fd, efd;
    sched_layout l;
    svc_client *cl;
    uint32_t ncl;
    uint32_t *live; /* the slots in use, dense: loops visit only these */
    uint32_t nlive;
    ray_map64 wait_heads; /* object slot -> first waiter */
    ray_vec wpool;        /* waiters */
    uint32_t wfree;
    uint32_t *owned;        /* per task slot: its gen while the service holds it */
    uint32_t *missing;      /* per task slot: arguments not yet ready (SVC_NAMED: see named) */
    /* sched_out: tasks their submitters named under every argument they
     * wait for (hints.c), which the service holds (owned) without
     * watching: their sealers take them; the service looks at them when
     * an object they name gets an error, when a process dies, and drops
     * those gone at each tick. */
    ray_vec named;
    ray_vec shaped;         /* pend: tasks waiting for resources, in order */
    ray_vec actors_waiting; /* pend: actors waiting for resources */
    const topo *topo;       /* the node (src/topo), the node's process owns it */
    topo_busy *busy;        /* what dedicated workers and actors hold */
    topo_binding *plan;     /* the pool's slots (topo_plan_pool), max_workers of them */
    uint64_t place_seq;     /* the last placement key given */
    res_entry res[RAY_RES_MAX];
    int nres;
    gcs *g;
    uint32_t *wakes;
    uint32_t nwakes;
    sched_spawn_cb on_spawn;
    void *on_spawn_arg;
    sched_gone_cb on_gone;
    void *on_gone_arg;
    int shutting_down;
    int capture;              /* workers' output through pipes (sched_service_capture_output) */
    int want_cpu;            /* a pending task or actor could use the pool's CPU */
    uint32_t start_failures; /* workers that died before joining, in a row */
    uint64_t starved_ns;     /* since when ready tasks get no CPU (0: they do) */
    struct svc_cluster *cluster; /* with several nodes (cluster.h), else NULL */
    char msgbuf[MSG_BUF];
};

/* Each slot i in use (clients must not come or go inside the loop). */
#define FOR_LIVE(svc, i)                                                                           \
    for (uint32_t i##_k = 0, i; i##_k < (svc)->nlive && ((i) = (svc)->live[i##_k], 1); i##_k++)

/* ---- service.c */
svc_client *svc_client_at(sched_service *svc, uint32_t slot);
void svc_wake(sched_service *svc, uint32_t slot);
/* Process `from` handed task (t, gen) over with a message: it no longer
 * builds it (see sched_task_new). */
void svc_handed(sched_service *svc, uint32_t from, uint32_t t, uint32_t gen);
/* Handles every message in process `from`'s ring; returns how many. */
int svc_drain(sched_service *svc, uint32_t from);
void svc_flush_wakes(sched_service *svc);
int svc_task_valid(sched_service *svc, uint32_t t, uint32_t gen);
int svc_obj_valid(sched_service *svc, uint32_t slot);
void svc_reply(sched_service *svc, uint32_t slot, uint32_t req, int code, const void *data,
               uint32_t len);

/* ---- resources.c */
int svc_res_parse(const char *s, int len, res_entry *out);
int svc_res_check(sched_service *svc, const char *want, int len, char *why, size_t cap);
/* Takes cpu milli-CPUs, gpu milli-GPUs and res for a task or actor, all or
 * nothing, and places it (topo_place) for bind_cpu milli-CPUs: cpu, or 0
 * for an actor that holds none once it runs (then the whole node, or its
 * GPUs' domain). */
int svc_acquire(sched_service *svc, grant *g, uint32_t cpu, uint32_t bind_cpu, uint32_t gpu,
                const char *res, int res_len);
void svc_grant_drop(sched_service *svc, grant *g);
/* Client slot runs as b from its next task: binding, GPUs, GPU variables. */
void svc_bind_set(sched_service *svc, uint32_t slot, const topo_binding *b);
/* Client c holds what g holds and runs where g says (sched_client.bind). */
void svc_grant_to(sched_service *svc, svc_client *c, const grant *g);
void svc_release(sched_service *svc, svc_client *c);
/* Only its CPUs go back (an actor that holds none once started). */
void svc_release_cpu(sched_service *svc, svc_client *c);
/* What a request needs ("2 CPUs, 1 GPU, foo:2") and what holds the node's
 * resources now ("2 of 2 CPUs held by 2 actors (a, b)"), for warnings. */
void svc_describe_need(uint32_t cpu_milli, uint32_t gpu_milli, const char *res, int res_len,
                       char *buf, size_t cap);
void svc_describe_holders(sched_service *svc, char *buf, size_t cap);

/* ---- waiters.c */
void svc_waiter_add(sched_service *svc, uint32_t obj, uint32_t kind, uint32_t id, uint32_t idgen);
void svc_run_waiters(sched_service *svc, uint32_t obj);
#define SVC_NAMED UINT32_MAX /* missing[t]: held, not watched (svc->named) */
/* MSG_SUBMIT of a task named under every argument it waits for. */
void svc_named_add(sched_service *svc, uint32_t t, uint32_t gen);
/* The named tasks under obj, or all of them (obj 0): those whose
 * arguments are all ready are taken to the ready queue, those with an
 * argument in error are taken in (svc_take_task) to fail. */
void svc_named_run(sched_service *svc, uint32_t obj);
/* Drops the named tasks that no longer wait. */
void svc_named_prune(sched_service *svc);
/* Watches obj for a waiter other than a task named in its hints (a
 * process in ray_get, another node): store_obj_watch, after saying so in
 * the hints so that its sealer wakes the service. */
int svc_watch(sched_service *svc, uint32_t obj);
void svc_notify(sched_service *svc, const uint32_t *slots, int n);
/* Runs the waiters of every watched object that is ready: for notices a
 * process died before sending. */
void svc_waiters_sweep(sched_service *svc);

/* ---- pending.c */
void svc_task_fail(sched_service *svc, uint32_t t, int code, const char *msg, uint32_t err_src);
void svc_take_task(sched_service *svc, uint32_t t);
void svc_deps_ready(sched_service *svc, uint32_t t);
void svc_give_to(sched_service *svc, svc_client *c, uint32_t t);
void svc_schedule_pending(sched_service *svc);
/* Appends (slot, gen), waiting from now, to a list of pend. */
void svc_pend_push(ray_vec *v, uint32_t slot, uint32_t gen);
/* Warns once about each task or actor that has waited for resources longer
 * than RAY_MPI_PENDING_WARN_S, and about ready tasks that get no CPU. */
void svc_pending_warn(sched_service *svc);
void svc_on_cancel(sched_service *svc, const msg_cancel *m);
void svc_on_done(sched_service *svc, uint32_t from);

/* ---- actors.c */
static inline sched_actor *svc_actor(sched_service *svc, uint32_t a)
{
    return &svc->sh.actors[a];
}
void svc_actor_die(sched_service *svc, uint32_t a, int code, const char *msg);
void svc_actor_release(sched_service *svc, uint32_t a);
void svc_actor_place(sched_service *svc, uint32_t a);
void svc_try_actors(sched_service *svc);
void svc_on_actor_create(sched_service *svc, uint32_t from, const msg_actor_create *m,
                         uint32_t len);
void svc_on_actor_get(sched_service *svc, uint32_t from, const msg_actor_get *m, uint32_t len);
void svc_on_actor_kill(sched_service *svc, uint32_t from, const msg_actor_req *m);
void svc_on_actor_started(sched_service *svc, uint32_t from, const msg_actor_started *m,
                          uint32_t len);
void svc_on_actor_exit(sched_service *svc, uint32_t from);
int svc_actor_make(sched_service *svc, uint32_t t, const char *name, uint32_t name_len,
                   int register_name, uint32_t *aslot, uint32_t *agen);
void svc_reply_actor(sched_service *svc, uint32_t client, uint32_t req, int code, uint32_t node,
                     uint32_t slot, uint32_t gen);
void svc_actor_kill(sched_service *svc, uint32_t a, uint32_t gen);
/* The message actor (a, gen) died with, or "actor is dead". */
void svc_actor_death_msg(sched_service *svc, uint32_t a, uint32_t gen, char *buf, size_t cap);

/* ---- with several nodes (cluster.c, names.c, pull.c) */
void names_actor_create(sched_service *svc, uint32_t client, uint32_t req, uint32_t t,
                        const char *name, uint32_t name_len);
void names_actor_get(sched_service *svc, uint32_t client, uint32_t req, const char *name,
                     uint32_t len);
/* The job's names: deleted here or at rank 0. */
void svc_name_del(sched_service *svc, const char *name, uint32_t len);
/* The node that can run (cpu, gpu, res) and is least busy, or -1. */
int cluster_place(sched_service *svc, uint32_t cpu, uint32_t gpu, const char *res, int res_len);
sched_out *cluster_kill_record(sched_service *svc, uint32_t node);
/* Task t, handed to another node, was cancelled: its result is not wanted. */
void svc_cancel_remote(sched_service *svc, uint32_t t);
void remote_forward(sched_service *svc, uint32_t t, uint32_t node);
void remote_exec_ready(sched_service *svc, uint32_t id, uint32_t gen);
void pull_remote_ready(sched_service *svc, uint32_t id);
void pull_wanted(sched_service *svc, uint32_t slot);
void pull_sweep(sched_service *svc);
/* MSG_COPY: a process asks for the local copy of another node's object. */
void svc_on_proxy(sched_service *svc, uint32_t from, const void *m, uint32_t len);
/* MSG_RECLAIM: a process here found the store full. */
void svc_on_reclaim(sched_service *svc, uint32_t from, const void *m, uint32_t len);

/* ---- recovery.c */
/* Installs the lock hooks: the service repairs a lock whose holder died
 * when it finds one, instead of waiting for it. */
void svc_recovery_init(sched_service *svc);

/* ---- pool.c */
pool_counts svc_pool_count(sched_service *svc);
void svc_pool_check(sched_service *svc);
void svc_client_free(sched_service *svc, uint32_t i);
void svc_tell_exit(sched_service *svc, uint32_t i);
int svc_spawn(sched_service *svc, uint32_t kind, uint32_t actor, uint32_t *slot_out);

#endif /* RAY_SCHED_SERVICE_H */
