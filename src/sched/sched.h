/*
 * sched.h - the whole interface of src/sched: the local scheduler.
 *
 * Shared half (task.c, queue.c), used by every process of the node through
 * the control region:
 *   - task slots: a task's spec (function, arguments inline or by ref,
 *     outputs, resources) written once by its submitter;
 *   - the ready queue of default-class tasks (1 CPU, no GPU, no custom
 *     resource, arguments ready), an intrusive FIFO through task slots
 *     under a shared lock, from which pool workers take tasks directly;
 *   - CPU tokens (milli-CPUs) that pool workers, dedicated workers and
 *     actors hold while they run and lend while they block;
 *   - one slot per process (driver or worker): state, the task it runs,
 *     the batch it took, and its two message rings with the node service;
 *   - actor slots, each with the FIFO of its method calls.
 * A ready task thus goes from its submitter to a worker with no node
 * service on the way; the service (service.c) takes the rest: tasks whose
 * arguments are not ready, tasks of other shapes, sleeping waiters, the
 * worker pool, deaths and retries, actors' lives.
 */
#ifndef RAY_SCHED_H
#define RAY_SCHED_H

#include "common/common.h"
#include "store/store.h"
#include "topo/topo.h"

#define SCHED_BATCH_MAX 32
#define SCHED_STACK_MAX 48   /* tasks a worker runs nested in place, at most */
#define SCHED_HELD_MAX (1u << 18) /* refs a process lists in its slot (more: untracked) */
#define SCHED_MAX_RETURNS 64
#define SCHED_MAX_ARGS 4096
#define SCHED_TASK_SIZE 256
#define SCHED_C2S_RING (256u << 10)
#define SCHED_S2C_RING (64u << 10)
#define SCHED_NAME_MAX 24
#define SCHED_NODE_ANY 0xffffu /* sched_task.node: anywhere */
#define SCHED_ACTOR_NAME_MAX 128

/* ------------------------------------------------------------- task slots */

typedef store_rec sched_out; /* a slot and its generation */
/* A slot and its generation in one word, written in one store (intents). */
static inline uint64_t sched_pack(uint32_t slot, uint32_t gen) { return (uint64_t)gen << 32 | slot; }
static inline sched_out sched_unpack(uint64_t w) { return (sched_out){(uint32_t)w, (uint32_t)(w >> 32)}; }

enum sched_task_state {
    TASK_FREE = 0,
    TASK_WAITING = 1,   /* held by the node service (arguments, resources) */
    TASK_QUEUED = 2,    /* in the ready queue, a mailbox or an actor's queue */
    TASK_RUNNING = 3,   /* claimed by the worker in bits 16-31 */
    TASK_CANCELLED = 4, /* outputs failed with RAY_ECANCELLED; slot freed by whoever dequeues it */
    TASK_DONE = 5,      /* ran in place (see TASK_F_INPLACE); slot freed by whoever dequeues it */
    TASK_CANCELLING = 6, /* ray_cancel is failing its outputs; then CANCELLED */
    /* Taken from the node service by the process in bits 16-31, which
     * sealed its last missing argument (hints.c), on its way to the ready
     * queue: QUEUED in the push's critical section. */
    TASK_CLAIMING = 7,
};
#define TASK_STATE(s) ((s)&0xffu)
#define TASK_F_CANCEL 0x100u   /* ray_cancel(force=0) of a running task */
#define TASK_F_FORCE 0x200u    /* ray_cancel(force=1): its worker is being killed */
/* A worker waiting for a task's output ran it in place, on its own stack,
 * while the task stayed linked in its queue (or a worker's batch): its
 * slot belongs to whoever unlinks it.  That one frees a DONE slot, or sets
 * UNLINKED on a running one so the runner frees it when it ends. */
#define TASK_F_INPLACE 0x400u
#define TASK_F_UNLINKED 0x800u
/* Its runner is letting go of it (outputs sealed): a death from here on
 * leaks what it holds instead of releasing it twice. */
#define TASK_F_FINISHING 0x1000u
/* Cancelled while the node service held it: the service frees it. */
#define TASK_F_WAS_WAITING 0x2000u
/* It returned and its runner is sealing its outputs: if the runner dies
 * now the service seals the rest (the task ran; it is not run again). */
#define TASK_F_SEALING 0x4000u
#define TASK_WORKER(s) ((s) >> 16) /* RUNNING and CLAIMING */
#define TASK_MAKE(st, worker) ((uint32_t)(st) | ((uint32_t)(worker) << 16))
/* States other than RUNNING carry the low 16 bits of the task's generation
 * where RUNNING carries its worker: a compare-and-swap from them fails on a
 * slot that was freed and reused meanwhile. */
#define TASK_TAGGED(st, gen) TASK_MAKE(st, (gen)&0xffffu)

enum sched_task_kind { TASK_NORMAL = 0, TASK_ACTOR_CREATE = 1, TASK_ACTOR_CALL = 2 };
/* An actor's creation: its CPUs are needed to place it, not held after its
 * init (Ray's default for actors). */
#define TASK_TF_CPU_PLACE_ONLY 0x1u
/* A call of an actor of another node: fn is ray_hash64(method), which the
 * actor's node combines with its class (ray_method_hash). */
#define TASK_TF_METHOD_NAME 0x2u
/* Its submitter named it in hints (hints.c) while building it: a sealer
 * may take it before it is handed on. */
#define TASK_TF_HINTED 0x4u
enum { SCHED_ARG_VAL = 1, SCHED_ARG_REF = 2 };

typedef struct sched_task {
    _Atomic uint32_t state;
    uint32_t gen;
    uint32_t next_free;
    uint32_t qnext;         /* queue link (task slot), 0 = end */
    uint64_t fn;            /* ray_hash64 of the function, "cls" or "cls.method" */
    uint32_t actor;         /* actor slot for calls and creation */
    uint8_t kind;
    uint8_t flags;          /* TASK_TF_* */
    uint16_t nargs;         /* while it is built: the arguments held so far */
    uint16_t nret;          /* while it is built: the outputs made so far */
    int16_t retries_left;
    uint16_t submitter;     /* client slot */
    uint16_t res_len;       /* bytes of the custom-resource string at the body's end */
    uint32_t body_len;
    uint32_t body_obj;      /* object holding the body when it does not fit here */
    uint32_t cpu_milli;
    uint32_t gpu_milli;
    uint32_t attempt;       /* 0 for the first run */
    _Atomic uint32_t released; /* holds let go so far (sched_task_release) */
    uint32_t actor_gen;     /* calls of an actor of another node: its generation */
    uint16_t node;          /* where it must run (opts.node), SCHED_NODE_ANY; calls: the actor's */
    uint16_t pad;
    char name[SCHED_NAME_MAX]; /* opts.name or the function name, for logs */
    /* When it was submitted (ray_now_ns): written by the submitter when the
     * timeline is on, else by the node service when it takes the task in
     * (ray-mpi status: the oldest waiting task); 0 unknown. */
    uint64_t queued_ns;
    uint8_t body[SCHED_TASK_SIZE - 104];
} sched_task;
_Static_assert(sizeof(sched_task) == SCHED_TASK_SIZE, "task slot size");
#define SCHED_BODY_INLINE (sizeof(((sched_task *)0)->body))

/* Body layout: nret outputs {u32 slot, u32 gen}, then nargs records
 * {u32 kind, u32 len} followed by len bytes (values, padded to 8) or a
 * ray_id (refs), then res_len bytes of "name:amount,...". */
typedef struct sched_argrec { uint32_t kind, len; } sched_argrec;

/* ------------------------------------------------------------- queues */

typedef struct sched_queue {
    ray_shlock lock;
    uint32_t head, tail;     /* task slots */
    _Atomic uint32_t len;
    _Atomic uint32_t closed; /* actor queues: no more pushes (actor dead) */
    ray_evc evc;             /* consumers sleep here */
    uint32_t pad[2];
} sched_queue;

/* ------------------------------------------------------------- processes */

enum sched_client_kind { CLIENT_DRIVER = 1, CLIENT_POOL = 2, CLIENT_DEDICATED = 3, CLIENT_ACTOR = 4 };
enum sched_client_state {
    CLIENT_FREE = 0,
    CLIENT_STARTING = 1, /* spawned, not yet connected */
    CLIENT_IDLE = 2,
    CLIENT_RUNNING = 3,
    CLIENT_BLOCKED = 4,  /* in ray_get/ray_wait, its CPU lent */
    CLIENT_EXITING = 5,
    CLIENT_DEAD = 6,
};
enum { CLIENT_CMD_NONE = 0, CLIENT_CMD_EXIT = 1 };

typedef struct sched_client {
    _Atomic uint32_t doorbell;   /* futex: the node service wakes this process */
    _Atomic uint32_t state;
    _Atomic uint32_t cmd;        /* CLIENT_CMD_* from the node service */
    uint32_t kind;
    int32_t pid;
    uint32_t gen;                /* bumped each time the slot is reused */
    /* Tasks it runs: stack[depth-1] is the innermost (one it ran in place
     * while waiting inside the one below). */
    _Atomic uint32_t depth;
    uint32_t stack[SCHED_STACK_MAX];
    _Atomic int32_t cpu_held;    /* milli-CPUs it holds */
    uint32_t batch_n;            /* tasks taken from a queue, not yet run (0 when done) */
    sched_out batch[SCHED_BATCH_MAX];
    uint32_t actor;              /* actor slot (CLIENT_ACTOR) */
    _Atomic uint32_t held_n;     /* entries of its list of held refs (sched_client_held) */
    _Atomic uint32_t looking;    /* counted in sched_region.lookers */
    _Atomic uint32_t spinning;   /* counted in sched_region.spinners */
    uint32_t ngpus;              /* GPUs the service gave its current task */
    uint16_t gpu_ids[16];
    /* Where it runs (src/topo): written by the service before it gives the
     * process work of a new shape, then bind_seq++ (release); the process
     * rebinds itself when bind_seq moved.  gpu_env: the GPU variables of
     * that binding, for each vendor the node has. */
    _Atomic uint32_t bind_seq;
    topo_binding bind;
    topo_env gpu_env;
    _Atomic uint64_t last_active_ns;
    _Atomic uint64_t tasks_done; /* tasks and calls it ran (written by it alone) */
    /* What it is in the middle of, for the node service to finish if it
     * dies there (recovery.c), each (gen << 32 | slot) or 0: a task it is
     * building and has not handed on yet, an object it is freeing. */
    _Atomic uint64_t building;
    _Atomic uint64_t freeing;
    /* A waiting task it is taking to the ready queue (hints.c): set before
     * the task is CLAIMING, cleared in the push's critical section. */
    _Atomic uint64_t readying;
    /* Its last marked change of a count (store.h): the object (gen << 32 |
     * slot) and where it records that hold (sched_journal_note). */
    _Atomic uint64_t jnl_obj;
    _Atomic uint64_t jnl_rec;
    _Atomic uint32_t fault_at;   /* RAY_MPI_FAULT point + 1 it stopped at */
    sched_queue mailbox;         /* tasks the node service gives this process */
    char pad[RAY_CACHELINE];
    ray_ring_hdr c2s;            /* to the node service */
    ray_ring_hdr s2c;            /* from the node service */
} sched_client;

/* ------------------------------------------------------------- actors */

enum sched_actor_state {
    ACTOR_FREE = 0,
    ACTOR_PENDING = 1,    /* created, waiting for arguments, resources or its process */
    ACTOR_ALIVE = 2,
    ACTOR_RESTARTING = 3,
    ACTOR_DEAD = 4,
};

typedef struct sched_actor {
    _Atomic uint32_t state;
    uint32_t gen;
    uint64_t cls;            /* ray_hash64 of the class name */
    sched_queue calls;       /* method calls in submission order; closed when dead */
    uint32_t worker;         /* client slot of its process */
    uint32_t create_task;    /* creation spec, kept for restarts */
    int32_t restarts_left;
    uint32_t err_obj;        /* message object (held) */
    uint32_t cpu_milli, gpu_milli; /* to place it (and to hold, unless cpu_place_only) */
    uint32_t cpu_place_only;       /* its CPUs go back once its init ran (Ray's default) */
    _Atomic uint32_t fini_done;
    uint32_t next_free;
    char name[SCHED_ACTOR_NAME_MAX];
} sched_actor;

/* ------------------------------------------------------------- hints */

/* Which waiting tasks an object's sealer may take to the ready queue
 * itself (hints.c).  The node service holds a task whose arguments are not
 * ready; for a task of the default class it (and the task's submitter,
 * first) also writes the task here, under each argument it waits for,
 * before it watches that argument.  The
 * process that seals the argument then looks at each task named: if all
 * its arguments are ready now, it takes the task (WAITING -> CLAIMING ->
 * QUEUED) to the ready queue, with no node service on the way.  "Only
 * tasks" says every waiter of the object is a task named here, so the
 * sealer need not wake the service: its notice waits in the ring until the
 * service next runs; so does the submitter's MSG_SUBMIT of a task named
 * under every argument it waits for. */
#define SCHED_HINTS 7 /* a record is one cache line */
#define SCHED_HINT_ONLY 0x100u /* word: every waiter of the object is named here */
#define SCHED_HINT_COUNTED 0x200u /* and the service counts some of them (it wants notices) */
typedef struct sched_hint {
    _Atomic uint64_t word;                  /* object gen << 32 | ONLY */
    _Atomic uint64_t task[SCHED_HINTS];     /* sched_pack(task slot, gen) */
} sched_hint;
_Static_assert(sizeof(sched_hint) == 64, "a hint record is one cache line");

/* ------------------------------------------------------------- the region */

typedef struct sched_region {
    uint64_t magic;
    uint32_t max_tasks, max_clients, max_actors, node;
    uint32_t num_nodes;
    uint16_t tag;
    uint16_t pad0;
    double total_cpus, total_gpus;   /* this node's, for feasibility checks */
    double max_node_cpus, max_node_gpus; /* the largest node's */
    ray_freelist task_slots;
    ray_freelist actor_slots;
    _Atomic uint32_t svc_sleeping;   /* the node service sleeps: write its eventfd */
    _Atomic uint32_t svc_poked;      /* awake, it was asked for: it spins a while more */
    _Atomic uint64_t tasks_live;
    /* Tasks run by processes since gone (their slots' tasks_done, added by
     * the node service when it frees a slot): with the live slots' sum, the
     * node's tasks done (ray-mpi status). */
    _Atomic uint64_t tasks_done_gone;
    /* A process died between taking a task slot and recording it
     * (sched_task_new): from then on the stats count the task table. */
    _Atomic uint32_t tasks_doubt;
    char pad1[RAY_CACHELINE];
    sched_queue ready;
    char pad2[RAY_CACHELINE];
    _Atomic int32_t cpu_avail;       /* milli-CPUs not held (negative: lent twice) */
    _Atomic uint32_t cpu_wanted;     /* the service waits for CPU: pool yields */
    ray_evc cpu_evc;                 /* workers waiting for a token */
    _Atomic int32_t lookers;         /* pool workers about to look at the ready queue */
    _Atomic int32_t spinners;        /* lookers spinning in wait for work (at most one) */
    _Atomic uint32_t spawn_hint;     /* a ready task found no idle worker */
    _Atomic uint32_t workers_alive;
    _Atomic uint32_t actors_alive;
    _Atomic uint32_t fault_hits[RAY_FAULT_COUNT]; /* RAY_MPI_FAULT, node-wide */
    _Atomic uint64_t net_msgs_in, net_msgs_out, net_bytes_in; /* this node's, for stats */
    _Atomic uint32_t fatal;          /* the node cannot run tasks: fatal_msg says why */
    char fatal_msg[400];
    char pad3[RAY_CACHELINE];
} sched_region;

/* The control region: one memfd mapped by every process of the node. */
typedef struct sched_layout {
    uint64_t magic, total;
    uint64_t store_off, store_size;
    uint64_t sched_off, tasks_off, clients_off, client_size, actors_off, hints_off;
    uint32_t max_objects, max_tasks, max_clients, max_actors;
    uint64_t arena_size;
} sched_layout;

typedef struct sched {
    store st;
    sched_region *r;
    sched_task *tasks;
    char *clients;          /* max_clients slots of client_size bytes */
    sched_actor *actors;
    sched_hint *hints;      /* max_objects of them, one per object slot */
    uint64_t client_size;
    void *ctl;              /* mapping of the control region */
    uint64_t ctl_size;
    void *objs_ro;          /* read-only mapping of the object table */
    uint64_t objs_ro_size;
    uint32_t max_clients;   /* from the checked layout (the region's copy is shared) */
    int svc_efd;            /* eventfd that wakes the node service */
} sched;

void sched_layout_compute(sched_layout *l, uint32_t max_objects, uint32_t max_tasks,
                          uint32_t max_clients, uint32_t max_actors, uint64_t arena_size);
/* Whether a layout read from a control region is one sched_layout_compute
 * makes (every part inside the region, in order, at most 65536 process
 * slots): 0, or RAY_EPROTO. */
int sched_layout_check(const sched_layout *l);
/* Node service: formats a fresh control region. */
void sched_region_init(void *ctl, const sched_layout *l, uint32_t node, uint32_t num_nodes,
                       uint16_t tag, double cpus, double gpus);
/* Maps the control region and arena (from their descriptors) and attaches. */
int sched_attach(sched *s, int ctl_fd, uint64_t ctl_size, int arena_fd, uint64_t arena_size,
                 int svc_efd, uint16_t client);
void sched_detach(sched *s);

static inline sched_client *sched_client_at(const sched *s, uint32_t i)
{
    return (sched_client *)(s->clients + (uint64_t)i * s->client_size);
}
/* The two rings of client i, as seen by the client (to = c2s producer) or
 * by the service (consumer of c2s, producer of s2c). */
void sched_client_rings(const sched *s, uint32_t i, ray_ring *c2s, ray_ring *s2c);
/* The refs process i holds, held_n of them: the node service releases
 * them when it dies. */
sched_out *sched_client_held(const sched *s, uint32_t i);

/* The journal of a tracked thread's marked count changes (store.h): where
 * the hold it is taking or letting go of is recorded, so the node service
 * can finish or undo the change if the process dies in the middle. */
enum sched_jnl_kind {
    SCHED_JNL_LIST_ADD = 1,  /* a: its position + 1 in the process's list */
    SCHED_JNL_LIST_DROP = 2, /* a: the same, of an entry it removes */
    SCHED_JNL_ARG = 3,       /* a: task slot being built, b: argument index */
    SCHED_JNL_HOLD = 4,      /* a: task slot, b: hold index (t->released) */
};
#define SCHED_JNL_REC(kind, a, b) ((uint64_t)(kind) << 56 | (uint64_t)(a) << 24 | ((b)&0xffffffu))
#define SCHED_JNL_KIND(r) ((uint32_t)((r) >> 56))
#define SCHED_JNL_A(r) ((uint32_t)((r) >> 24))
#define SCHED_JNL_B(r) ((uint32_t)(r)&0xffffffu)
/* The calling thread's slot when it is tracked (marked changes), or NULL. */
extern __thread sched_client *sched_journal;
static inline void sched_journal_note(uint32_t obj, uint32_t gen, uint64_t rec)
{
    sched_client *c = sched_journal;
    atomic_store_explicit(&c->jnl_obj, (uint64_t)gen << 32 | obj, memory_order_relaxed);
    atomic_store_explicit(&c->jnl_rec, rec, memory_order_relaxed);
    /* before the count's change (a release RMW): seen by the service once the process is gone */
}
static inline sched_task *sched_task_at(const sched *s, uint32_t slot) { return &s->tasks[slot]; }
static inline sched_actor *sched_actor_at(const sched *s, uint32_t slot) { return &s->actors[slot]; }

/* ---- task slots (task.c) */
/* Takes a free slot, its spec empty (no outputs, arguments or body yet).
 * A process that builds tasks says so in *building (its shared slot, or
 * NULL) before the slot counts as live: if it dies while building, the
 * node service lets the half-built task go. */
/* In *building while a slot is being taken (not yet recorded). */
#define SCHED_BUILDING_NEW UINT64_MAX
int sched_task_new(sched *s, uint32_t *slot, _Atomic uint64_t *building);
void sched_task_free(sched *s, uint32_t slot);
/* Where the body of task t is (inline or its body object), or NULL if it
 * does not lie where the task says. */
const uint8_t *sched_task_body(const sched *s, const sched_task *t);
/* Walks a body, checking every record against body_len: args[i] get a view
 * of each value and the id of each ref.  RAY_EPROTO on a malformed body. */
typedef struct sched_arg_view {
    uint32_t kind;
    uint32_t len;
    const void *data; /* value bytes */
    ray_id ref;
} sched_arg_view;
int sched_task_decode(const sched *s, const sched_task *t, const sched_out **outs,
                      sched_arg_view *args);
/* The decoded arguments of a task: on the stack up to SCHED_ARGS_SMALL, so
 * the per-task paths (take, run, drop) do not allocate. */
#define SCHED_ARGS_SMALL 16
typedef struct sched_args {
    sched_arg_view *v; /* n views */
    uint32_t n;        /* t->nargs, read once: the slot is shared memory */
    sched_arg_view small[SCHED_ARGS_SMALL];
} sched_args;
int sched_args_decode(const sched *s, const sched_task *t, const sched_out **outs,
                      sched_args *a);
void sched_args_free(sched_args *a);
/* Fails every still-pending output of t with (code, msg), or, when err_src
 * is set, with a copy of object err_src's error.  Each watched output is
 * reported through *notify, an array of SCHED_MAX_RETURNS slots; returns
 * how many. */
int sched_task_fail(sched *s, const sched_task *t, int code, const char *msg,
                    uint32_t err_src, uint32_t *notify);
/* The outputs of t, validated: how many there are (0..SCHED_MAX_RETURNS);
 * use only those sched_out_ok accepts. */
uint32_t sched_task_outputs(const sched *s, const sched_task *t, const sched_out **outs);
int sched_out_ok(const sched *s, sched_out o);
/* The custom-resource string at the end of t's body (not NUL-terminated),
 * or NULL with *len 0. */
const char *sched_task_res(const sched *s, const sched_task *t, int *len);
/* Drops everything a finished, failed or cancelled task holds: the
 * producer's hold on its outputs, its ref arguments, its body, in that
 * order, counting in t->released, so that the node service can go on from
 * where a process that died half way stopped (never releasing one twice);
 * dispose also frees its slot. */
void sched_task_release(sched *s, uint32_t slot);
void sched_task_dispose(sched *s, uint32_t slot);
/* For a task just unlinked from a queue or batch that is not QUEUED: frees
 * a cancelled or in-place-done slot, or hands a running in-place task's
 * (or a cancelling one's) slot to whoever runs (cancels) it.  Returns the
 * state it saw. */
uint32_t sched_task_unlinked(sched *s, uint32_t slot);
/* The runner of a task, after its outputs are sealed or failed: lets go of
 * what it holds and of the slot (or hands the slot of an in-place task to
 * whoever unlinks it).  Marked FINISHING first: a death meanwhile leaks. */
void sched_task_finish(sched *s, uint32_t slot);
/* ray_cancel's end: CANCELLING -> CANCELLED, or frees the slot if it was
 * unlinked meanwhile. */
void sched_task_cancelled(sched *s, uint32_t slot);
/* Whether client c runs task t (anywhere on its stack). */
int sched_client_runs(const sched_client *c, uint32_t t);

/* ---- queues and tokens (queue.c) */
void sched_queue_init(sched_queue *q);
/* Pushes task slot t at the back (or the front); returns 0, or RAY_EACTOR if
 * the queue is closed. */
int sched_queue_push(sched *s, sched_queue *q, uint32_t t);
/* Puts ts[0..n) back at the front, in order, and zeroes them, all under
 * the queue's lock (ts is the consumer's shared batch: a death half way
 * leaves each task in exactly one of the two). */
void sched_queue_push_front(sched *s, sched_queue *q, sched_out *ts, uint32_t n);
void sched_queue_push_front_locked(sched *s, sched_queue *q, sched_out *ts, uint32_t n);
/* Pushes a call of actor generation gen; RAY_EACTOR if the actor is dead
 * or its slot was reused (checked under the queue's lock).  *building
 * (or NULL) is cleared in the same critical section (see sched_task_new). */
int sched_actor_push(sched *s, sched_actor *a, uint32_t gen, uint32_t t,
                     _Atomic uint64_t *building);
/* Re-arms an actor slot's call queue for a new generation. */
void sched_actor_reset(sched *s, sched_actor *a, uint32_t gen);
/* Takes up to max tasks into out[] and sets *count (both in the consumer's
 * shared slot) before unlinking them, so the tasks of a consumer that dies
 * mid-way are found again. */
uint32_t sched_queue_pop(sched *s, sched_queue *q, sched_out *out, uint32_t *count,
                         uint32_t max);
/* Closes q and takes every task in it (actor death). */
uint32_t sched_queue_close(sched *s, sched_queue *q, uint32_t **out);
/* Node service: if a dead thread holds q's lock, re-links q and takes the
 * lock over (the caller unlocks it once it has sorted out what the dead
 * process was putting in or taking out); returns 1 then. */
int sched_queue_take_over(sched *s, sched_queue *q);
/* Whether t is linked in q; the caller holds q's lock. */
int sched_queue_links(sched *s, sched_queue *q, uint32_t t);
int sched_queue_contains(sched *s, sched_queue *q, uint32_t t);

int sched_cpu_try(sched *s, int32_t milli);
void sched_cpu_put(sched *s, int32_t milli);
/* Wakes the node service if it sleeps, or pokes it if awake (it then
 * spins a while for what follows, as after a wake-up). */
void sched_wake_service(sched *s);
/* Pushes a ready default-class task and wakes a worker if none spins;
 * *building (or NULL) is cleared in the push's critical section. */
void sched_ready_push(sched *s, uint32_t t, _Atomic uint64_t *building);

/* Pushes task t, which the caller took (CLAIMING, by it), as QUEUED:
 * the state and the link in one critical section, which also clears
 * *journal (the caller's readying). */
void sched_ready_push_claimed(sched *s, uint32_t t, _Atomic uint64_t *journal);
/* Links t at the back of q, whose lock the caller holds (recovery). */
void sched_queue_link_locked(sched *s, sched_queue *q, uint32_t t);

/* ---- hints (hints.c): sealers take waiting tasks to the ready queue */
#define SCHED_HINT_MAX_ARGS 64 /* tasks with more arguments are not named */
/* Whether task k may be named in hints: of the default class, of few
 * arguments, in a job of one node. */
int sched_hint_eligible(const sched *s, const sched_task *k);
/* Before watching object o for waiting task t (gen), by its submitter or
 * the node service: names t under o (1), or, no entry being free, says o
 * has a waiter that is not named (0).  Entries are taken by compare-and-
 * swap; one whose task no longer waits is free. */
int sched_hint_add(sched *s, uint32_t o, uint32_t t, uint32_t gen);
/* Before watching object o for any other waiter: o has a waiter that is
 * not named (its sealer must wake the service). */
void sched_hint_other(sched *s, uint32_t o);
/* Names task t (gen) under object o (t 0: o has another waiter), then
 * watches o: store_obj_watch's answer.  *named (or NULL) is cleared if t
 * could not be named.  counted: the node service also counts t's missing
 * arguments, so o's sealer must send it a notice (SCHED_HINT_COUNTED). */
int sched_hint_watch(sched *s, uint32_t o, uint32_t t, uint32_t gen, int *named, int counted);
/* Takes waiting task b to the ready queue if all its arguments are ready:
 * 1 taken (here or by someone else, or it no longer waits), 0 it waits
 * for another argument, -1 the service must see to it (an argument is an
 * error, or it is not of the default class). */
int sched_hint_take(sched *s, sched_out b, uint32_t me, _Atomic uint64_t *journal);
/* A process that sealed object o, which is watched: takes each task named
 * under o whose arguments are all ready (none an error) to the ready
 * queue.  Returns SCHED_HINTS_QUIET if the node service needs no notice
 * of o (every waiter is a named task, each taken or still waiting for
 * another argument, and the service counts none), SCHED_HINTS_LAZY if it
 * needs one but need not be woken for it (it counts some of them), 0 if
 * it must be woken.  me: the caller's client slot; journal: its readying. */
enum { SCHED_HINTS_LAZY = 1, SCHED_HINTS_QUIET = 2 };
int sched_hints_run(sched *s, uint32_t o, uint32_t me, _Atomic uint64_t *journal);

/* ---- messages: client -> node service (c2s) and back (s2c) */
enum sched_msg {
    MSG_SUBMIT = 1,       /* {slot, gen}: the service takes this task */
    MSG_NOTIFY,           /* {slot}: a watched object became ready */
    MSG_WAIT,             /* {flags, n, {slot, gen}[n]}: wake me when one is ready */
    MSG_UNBLOCKED,        /* {}: back from a wait that lent the CPU */
    MSG_CANCEL,           /* {task slot, gen, force} */
    MSG_DONE,             /* {task slot}: a dedicated worker finished a task */
    MSG_ACTOR_CREATE,     /* {req, task slot, gen, name}: reply {req, code, actor id | msg} */
    MSG_ACTOR_GET,        /* {req, name} */
    MSG_ACTOR_KILL,       /* {req, actor slot, gen}: reply {req, code} */
    MSG_ACTOR_STARTED,    /* {actor slot, code, msg}: init finished in its process */
    MSG_ACTOR_EXIT,       /* {actor slot}: fini ran, the process exits */
    MSG_REPLY,            /* s2c: {req, code, payload} */
    MSG_COPY,            /* {req, flags, node, slot, gen}: reply {slot, gen} of the local copy */
    MSG_SUBMIT_NAMED,     /* {slot, gen}: as MSG_SUBMIT, the task named under every argument it waits for */
    MSG_RECLAIM,          /* {req, bytes}: the store is full: let idle copies go, here and elsewhere */
    MSG_TYPE_MAX
};
#define MSG_WAIT_BLOCKED 1u /* the waiter lent its CPU */

typedef struct msg_task { uint32_t slot, gen; } msg_task;
typedef struct msg_notify { uint32_t slot; uint32_t pad; } msg_notify;
typedef struct msg_wait { uint32_t flags, n; sched_out objs[]; } msg_wait;
typedef struct msg_cancel { uint32_t slot, gen, force, pad; } msg_cancel;
typedef struct msg_actor_create { uint32_t req, slot, gen, name_len; char name[]; } msg_actor_create;
typedef struct msg_reply_actor { uint32_t slot, gen, node, pad; } msg_reply_actor;
typedef struct msg_actor_get { uint32_t req, name_len; char name[]; } msg_actor_get;
typedef struct msg_actor { uint32_t slot, gen; } msg_actor;
typedef struct msg_actor_req { uint32_t req, slot, gen, node; } msg_actor_req;
typedef struct msg_actor_started { uint32_t slot, gen; int32_t code; uint32_t msg_len; char msg[]; } msg_actor_started;
typedef struct msg_reply { uint32_t req; int32_t code; uint32_t len; uint32_t pad; uint8_t data[]; } msg_reply;
#define MSG_COPY_PULL 1u /* fetch its bytes now (ray_get) */
typedef struct msg_proxy { uint32_t req, flags, node, slot, gen, pad; } msg_proxy;
typedef struct msg_reclaim { uint32_t req, pad; uint64_t bytes; } msg_reclaim;

/* Frames on the Unix socket: a process says hello, the node service answers
 * with its slot and the descriptors of the control region, the arena and
 * the service's eventfd. */
#define SCHED_PROTO_VERSION 1
enum { SOCK_HELLO = 1, SOCK_WELCOME = 2, SOCK_BYE = 3 };
typedef struct sock_hello {
    uint32_t version, kind;
    int32_t pid;
    uint32_t slot; /* workers: the slot the service gave at spawn */
} sock_hello;
typedef struct sock_welcome {
    int32_t code;
    uint32_t slot, kind, node, num_nodes, actor;
    uint64_t ctl_size, arena_size;
    char jobdir[256];
    char msg[512];
} sock_welcome;
/* The node service's check of a hello on a process's socket: the driver's
 * (driver = 1) or that of the worker it spawned for client slot `slot`.
 * Returns 0 or RAY_EPROTO saying what is wrong (hello.c). */
int sched_hello_check(const sock_hello *h, uint16_t type, uint32_t len, int driver,
                      uint32_t slot);
/* A process's check of the service's welcome, nfds descriptors having come
 * with it: 0, the service's own error code with its message, or
 * RAY_EPROTO.  The slot is checked against the layout, once attached. */
int sched_welcome_check(const sock_welcome *w, uint16_t type, uint32_t len, int nfds);

/* ------------------------------------------------ the node service half */

typedef struct sched_service sched_service;

typedef struct sched_service_opts {
    const ray_config *cfg;
    double cpus, gpus;         /* resolved from Slurm, hwloc and settings */
    const char *resources;     /* custom "name:amount,..." */
    uint32_t node, num_nodes;
    const char *exe;           /* what workers exec */
    char *const *argv;         /* and with which arguments */
    uint16_t tag;
    const topo *topo;          /* the node: placement and binding (kept by the caller) */
} sched_service_opts;

/* Creates the control region and arena and the private state. */
int sched_service_create(const sched_service_opts *o, sched_service **out);
void sched_service_destroy(sched_service *svc);
sched *sched_service_shm(sched_service *svc);
int sched_service_ctl_fd(const sched_service *svc);
int sched_service_arena_fd(const sched_service *svc);
int sched_service_efd(const sched_service *svc);
uint64_t sched_service_ctl_size(const sched_service *svc);
uint64_t sched_service_arena_size(const sched_service *svc);

/* A process connected (its hello): returns its client slot, or a code. */
int sched_service_client_add(sched_service *svc, uint32_t kind, int32_t pid, uint32_t slot_hint,
                             uint32_t *slot);
void sched_service_client_info(sched_service *svc, uint32_t slot, uint32_t *kind,
                               uint32_t *actor);
/* Its socket closed or it was reaped. */
void sched_service_client_gone(sched_service *svc, uint32_t slot, int wstatus);
/* Spawns the initial pool; RAY_ESYS naming the executable if it cannot run. */
int sched_service_start_pool(sched_service *svc);
/* Drains every ring; returns how many messages were handled. */
int sched_service_poll(sched_service *svc);
/* Time-driven work (idle workers, kill escalation); returns ms until next. */
int sched_service_tick(sched_service *svc);
/* Reaped a child: pid and status. */
void sched_service_child_exit(sched_service *svc, pid_t pid, int wstatus);
/* Asks every worker and actor to finish (fini) and exit; returns 1 while
 * some are still alive. */
int sched_service_shutdown(sched_service *svc, int force);
/* Spawned processes still alive (for shutdown). */
int sched_service_children(sched_service *svc);
/* Starts exe as a worker of client slot `slot` (or as the driver), with a
 * socket pair to this service: *sock is the service's end. */
int sched_spawn_process(const char *exe, char *const *argv, uint32_t slot, int *sock, pid_t *pid,
                        int *outs /* stdout, stderr read ends, or NULL: inherited */);
int sched_spawn_driver(const char *exe, char *const *argv, int *sock, pid_t *pid);
/* Called for every process the service starts, to watch its socket. */
typedef void (*sched_spawn_cb)(void *arg, uint32_t slot, int sock_fd, pid_t pid,
                               const int *outs);
void sched_service_on_spawn(sched_service *svc, sched_spawn_cb cb, void *arg);
/* Workers' stdout and stderr come to the service through pipes (outs of
 * the spawn callback), for it to prefix their lines. */
void sched_service_capture_output(sched_service *svc, int on);
/* ---- a job of several nodes (cluster.c); net is src/net's */
typedef struct net net;
/* Joins the job's other nodes over n (bootstrapped): the service hands
 * tasks to them, runs theirs, reads their objects. */
int sched_service_join(sched_service *svc, net *n);
void sched_service_leave(sched_service *svc);
/* net's callbacks (arg: the service). */
void sched_service_net_msg(void *arg, uint32_t from, const void *msg, size_t len);
void sched_service_net_fail(void *arg, uint32_t node, const char *why);
/* Once per pass of the loop: network progress, the load view, spilling,
 * the records out; returns how much was done. */
int sched_service_net_poll(sched_service *svc);
/* The network's descriptor to sleep on (-1: poll it), and before sleeping
 * whether anything is pending (1: do not sleep). */
int sched_service_net_fd(sched_service *svc);
/* 1 while objects move between this node and another (and the network
 * moved something in the last 50 ms): the loop should not sleep. */
int sched_service_net_hot(sched_service *svc);
int sched_service_net_arm(sched_service *svc);
/* The node stops: at rank 0 the job ends (every node is told); elsewhere
 * rank 0 is told, and ends the job. */
void sched_service_cluster_stop(sched_service *svc);
/* 0 running, 1 stopping (told by rank 0; at rank 0, another node stops),
 * -1 failed (*why says why). */
int sched_service_cluster_state(sched_service *svc, const char **why);
/* This node's resources, for the bootstrap. */
void sched_service_resources(sched_service *svc, double *cpus, double *gpus, const char **res);
/* The job's tag, the same on every node (rank 0's). */
void sched_service_set_tag(sched_service *svc, uint16_t tag);
uint16_t sched_service_tag(sched_service *svc);

/* Called when a process of the node is gone, after the service let go of
 * everything it held. */
typedef void (*sched_gone_cb)(void *arg, uint32_t slot);
void sched_service_on_gone(sched_service *svc, sched_gone_cb cb, void *arg);

#endif /* RAY_SCHED_H */
