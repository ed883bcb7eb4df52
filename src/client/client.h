/*
 * client.h - the whole interface of src/client: the ray_* calls of drivers
 * and workers, the worker loop, and the registry of functions and actor
 * classes.  One `client` per process: its slot in the node's control
 * region, its rings to the node service, and the references it holds.
 */
#ifndef RAY_CLIENT_H
#define RAY_CLIENT_H

#include "common/common.h"
#include "sched/sched.h"
#include "store/store.h"

#include <limits.h>
#include <pthread.h>

/* ---- registry (registry.c) */
enum { REG_FUNCTION = 1, REG_ACTOR = 2, REG_METHOD = 3 };
typedef struct reg_entry {
    uint64_t hash;
    int kind;
    char *name;
    ray_task_fn fn;
    ray_actor_init_fn init;
    ray_actor_fini_fn fini;
    ray_method_fn method;
} reg_entry;
const reg_entry *registry_find(uint64_t hash);
uint64_t registry_method_hash(uint64_t cls_hash, const char *method);

/* ---- the process's client state */
enum { ROLE_NONE = 0, ROLE_DRIVER = 1, ROLE_WORKER = 2 };

typedef struct client {
    int initialized;
    int role;
    uint32_t slot;            /* this process's slot */
    uint32_t kind;            /* CLIENT_* */
    uint32_t node, num_nodes;
    sched sh;
    ray_ring c2s, s2c;
    int sock;                 /* to the node service */
    pid_t svc_pid;            /* embedded: the node service is our child */
    char jobdir[PATH_MAX];
    ray_config cfg;
    pthread_mutex_t lock;     /* c2s ring and references */
    uint64_t *holds;          /* per object slot: gen << 32 | count */
    uint64_t holds_size;
    uint32_t next_req;
    uint64_t spin_ns;
    int stamp_submits;        /* the timeline is kept: tasks say when they were submitted */
    sched_client *me;
    /* worker */
    ray_ctx *task;            /* the running task, NULL outside one */
    int auto_release;         /* release refs a task obtained when it returns */
    uint32_t epoch;           /* tasks started here: a ref released in one task may be
                                 borrowed again by a later one */
} client;

extern client ray_cl;

/* The thread whose unfinished work the node service finishes if this
 * process dies: a worker's main thread (a driver's death ends the job;
 * other threads a task starts are not tracked). */
extern __thread int client_tracked;
/* Where this process says which task it is building (sched_task_new), or
 * NULL when the calling thread is not tracked. */
static inline _Atomic uint64_t *client_building(void)
{
    return client_tracked ? &ray_cl.me->building : NULL;
}

/* Where it says which waiting task it is taking to the ready queue
 * (hints.c), or NULL when the calling thread is not tracked.  Any thread
 * of a driver may: a driver's death ends the job. */
static inline _Atomic uint64_t *client_readying(void)
{
    return client_tracked || ray_cl.role == ROLE_DRIVER ? &ray_cl.me->readying : NULL;
}

static inline sched *cl_sched(void) { return &ray_cl.sh; }
static inline store *cl_store(void) { return &ray_cl.sh.st; }

/* ---- init.c */
int client_check(void); /* RAY_ESTATE unless initialized */
/* Messages to the node service (lock held by the caller). */
void *client_msg_begin(uint16_t type, uint32_t len);
void client_msg_end(void);
int client_send(uint16_t type, const void *payload, uint32_t len);
/* The same, waking the service only if wake (else the message waits in
 * the ring until the service next runs). */
int client_send_wake(uint16_t type, const void *payload, uint32_t len, int wake);
/* These watched objects are ready (at most SCHED_MAX_RETURNS): takes the
 * tasks named in their hints, and tells the node service of those whose
 * other waiters need it (one wake-up). */
void client_notify(const uint32_t *slots, int n);
/* store_obj_alloc, waiting for room in a full store of a job of several
 * nodes (copies.c). */
int client_store_alloc(uint32_t slot, uint64_t size, void **data);
/* Sends a request and waits for its MSG_REPLY; copies up to cap bytes of
 * payload.  Returns the reply's code. */
int client_request(uint16_t type, void *payload, uint32_t len, void *reply, uint32_t cap,
                   uint32_t *reply_len);
/* Returns RAY_ESYS if the node service has gone away. */
int client_service_alive(void);

/* ---- refs.c: references this process holds */
void client_hold_new(uint32_t slot, uint32_t gen);    /* a fresh ref (count 1) */
/* For an object about to be made (caller holds ray_cl.lock): an entry of
 * this process's list for store_obj_new_at to fill in, then what was made
 * there (slot 0: nothing, the entry goes); pos links the two. */
store_rec *client_hold_reserve(uint32_t *pos);
void client_hold_made(uint32_t pos, uint32_t slot, uint32_t gen);
int client_hold_acquire(uint32_t slot, uint32_t gen); /* take one if not held */
int client_hold_held(uint32_t slot, uint32_t gen);    /* held here; no lock needed */
int client_hold_release(ray_id id);                   /* ray_release */
int client_hold_drop(ray_id id); /* the same for an object nobody else can wait for */
/* Drops the refs taken in task frame `frame` (the stack depth of a task,
 * when it returns; tasks run in place nest inside their waiter's). */
void client_hold_release_frame(uint32_t frame);
/* Resolves a ref of this node to its live entry: RAY_ESTATE before
 * ray_init, RAY_EINVAL for a ref that is not live here. */
int client_lookup(ray_ref ref, ray_id *id, store_obj **o);

/* ---- copies.c: refs of other nodes' objects */
enum { CLIENT_RESOLVE_PULL = 1, CLIENT_RESOLVE_ARG = 2, CLIENT_RESOLVE_HELD = 3 };
/* Like client_lookup, and a ref of another node's object resolves to this
 * node's copy of it: made if needed, its bytes fetched for PULL (ray_get),
 * not for ARG (a task argument: fetched if the task runs here); HELD only
 * finds a copy this process holds (ray_release). */
int client_resolve(ray_ref ref, int how, ray_id *id, store_obj **o);

/* ---- wait.c */
/* Waits until `need` of the objects are ready, or one is an error when
 * stop_on_error; returns the number ready or RAY_ETIMEDOUT / RAY_ESYS. */
int client_wait(const uint32_t *slots, const uint32_t *gens, int n, int need,
                int stop_on_error, uint64_t deadline_ns);
/* Sets the calling thread's error from an ERROR object. */
int client_object_error(uint32_t slot);

/* ---- worker.c */
_Noreturn void worker_main(void);
/* Runs task slot t, claimed by this process.  Returns 0, or RAY_ESYS if the
 * process must exit. */
int worker_run_task(uint32_t t);
/* While the running task waits for object (slot, gen): if the task that
 * makes it is queued, run it here in place.  Returns 1 if it ran one. */
int worker_run_inline(uint32_t slot, uint32_t gen);
/* A worker about to sleep in a wait lends its CPU (returns how much); it
 * takes it back when the wait is over. */
int32_t worker_block_enter(void);
void worker_block_exit(int32_t lent);
/* The message an actor died with (its err_obj), for calls made after. */
void actor_death_msg(const sched_actor *a, uint32_t gen, char *buf, size_t size);

/* ---- submit.c */
/* Writes a task spec into a fresh slot; fills outs (nret refs). */
typedef struct submit_spec {
    int kind;
    uint64_t fn;
    const char *name;
    const ray_arg *args;
    int nargs;
    int nret;
    int max_retries;
    uint32_t cpu_milli, gpu_milli;
    const char *resources;
    uint32_t actor;
    uint32_t flags;     /* TASK_TF_* */
    uint32_t node;      /* where it must run: SCHED_NODE_ANY, or a node */
    uint32_t actor_gen; /* a call of another node's actor: its generation */
} submit_spec;
int submit_build(const submit_spec *sp, uint32_t *task, ray_ref *returns, int *ready,
                 uint32_t *err_src);
/* Fails the outputs of a built task that will not run, with (code, msg)
 * or argument err_src's error, and frees it. */
void submit_fail(uint32_t t, int code, const char *msg, uint32_t err_src);
/* Lets go of a built task that was never handed on, and frees it. */
void submit_dispose(uint32_t t);
/* Hands a built task to the node service with a message (MSG_SUBMIT,
 * MSG_ACTOR_CREATE): once committed it is no longer ours to let go. */
void submit_hand_over(uint16_t type, const void *msg, uint32_t len, int wake);
int submit_hint(uint32_t t, uint32_t gen, int *ready_now);
/* What every submission checks: name, arguments, room for the returns. */
int submit_check_call(const char *what, const void *name, const ray_arg *args, int nargs,
                      int nret, const void *returns);
/* Resource options of tasks and actors: amounts, node, feasibility. */
typedef struct submit_res {
    uint32_t cpu_milli, gpu_milli;
    char custom[1024]; /* validated "name:amount,..." */
} submit_res;
int submit_check_resources(double cpus, double gpus, const char *resources, int node,
                           submit_res *out);

#endif /* RAY_CLIENT_H */
