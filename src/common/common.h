/*
 * common.h - the whole interface of src/common: errors and the per-thread
 * message, logging, the settings table, ids, time, futex-based sync
 * primitives that live in shared memory, the single-producer message ring,
 * the Unix-socket frame codec and two small containers.  Every other part
 * includes this header; it includes no other part.
 */
#ifndef RAY_COMMON_H
#define RAY_COMMON_H

#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "ray_mpi.h"

/* ------------------------------------------------------------------ macros */

#define RAY_LIKELY(x) __builtin_expect(!!(x), 1)
#define RAY_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RAY_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RAY_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define RAY_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RAY_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RAY_CACHELINE 64
#define RAY_HIDDEN __attribute__((visibility("hidden")))
#define RAY_UNUSED __attribute__((unused))
#define RAY_FMT(f, a) __attribute__((format(printf, f, a)))

static inline void ray_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* ------------------------------------------------------------------ errors */

/* Records code and message as the calling thread's last error (what
 * ray_last_error() returns), logs it at debug level, and returns code. */
int ray_err(int code, const char *fmt, ...) RAY_FMT(2, 3);
/* Same, appending ": strerror(errno)". */
int ray_err_sys(const char *fmt, ...) RAY_FMT(1, 2);
int ray_err_last_code(void);

/* ----------------------------------------------------------------- logging */

enum { RAY_LOG_ERROR, RAY_LOG_WARN, RAY_LOG_INFO, RAY_LOG_DEBUG, RAY_LOG_TRACE };
extern int ray_log_level;
extern int ray_log_node;
void ray_log_write(int level, const char *part, const char *fmt, ...) RAY_FMT(3, 4);
int ray_log_parse_level(const char *s);
#define RAY_LOG(level, part, ...)                                             \
    do {                                                                      \
        if (RAY_UNLIKELY((level) <= ray_log_level))                           \
            ray_log_write((level), (part), __VA_ARGS__);                      \
    } while (0)
#define ray_error(part, ...) RAY_LOG(RAY_LOG_ERROR, part, __VA_ARGS__)
#define ray_warn(part, ...) RAY_LOG(RAY_LOG_WARN, part, __VA_ARGS__)
#define ray_info(part, ...) RAY_LOG(RAY_LOG_INFO, part, __VA_ARGS__)
#define ray_debug(part, ...) RAY_LOG(RAY_LOG_DEBUG, part, __VA_ARGS__)
#define ray_trace(part, ...) RAY_LOG(RAY_LOG_TRACE, part, __VA_ARGS__)

/* ---------------------------------------------------------------- settings */

/*
 * Every setting is one row: it is read from RAY_MPI_<NAME> and from
 * `ray-mpi --<name>` (options win), printed by `ray-mpi --config`.
 * X(NAME, field, type, default, help).  "auto" defaults are resolved by
 * src/topo from Slurm and hwloc when the node service starts.
 */
#define RAY_CONFIG_TABLE(X)                                                   \
    X(NUM_CPUS, num_cpus, DOUBLE, "auto",                                     \
      "CPUs offered to tasks (auto: the CPUs this process may run on, from "  \
      "hwloc, capped by SLURM_CPUS_ON_NODE)")                                 \
    X(NUM_GPUS, num_gpus, DOUBLE, "auto",                                     \
      "GPUs offered to tasks (auto: those CUDA_VISIBLE_DEVICES lists, else "  \
      "SLURM_GPUS_ON_NODE, else GPUs found by hwloc)")                        \
    X(RESOURCES, resources, STRING, "",                                       \
      "custom resources of this node, \"name:amount,...\"")                   \
    X(OBJECT_STORE_MEMORY, object_store_memory, SIZE, "auto",                 \
      "bytes of the shared-memory object store (auto: 30% of "                \
      "SLURM_MEM_PER_NODE, else of the cgroup limit or physical memory)")     \
    X(STORE_FULL_WAIT_S, store_full_wait_s, DOUBLE, "2",                      \
      "seconds an object waits for room in a full store of a job of several " \
      "nodes (idle copies of other nodes' objects go at once; 0: fail at "    \
      "once)")                                                                \
    X(PREFAULT, prefault, BOOL, "yes",                                        \
      "fault the whole store in at start, in the background (paused while "  \
      "tasks live), so puts run at memcpy speed")                             \
    X(SPIN_US, spin_us, UINT, "50",                                           \
      "microseconds a waiting process spins before it sleeps")                \
    X(MAX_WORKERS, max_workers, UINT, "auto",                                 \
      "worker processes per node, at most (auto: max(64, 8 x CPUs)); "       \
      "blocked workers lend their CPU and more start, up to this")           \
    X(WORKER_IDLE_S, worker_idle_s, DOUBLE, "10",                             \
      "seconds an extra idle worker lives before it exits")                   \
    X(MAX_OBJECTS, max_objects, UINT, "8388608",                              \
      "live objects per node, at most (table in shared memory, sparse)")      \
    X(MAX_TASKS, max_tasks, UINT, "4194304",                                  \
      "pending tasks per node, at most (table in shared memory, sparse)")     \
    X(MAX_ACTORS, max_actors, UINT, "65536", "actors per node, at most")      \
    X(SHUTDOWN_TIMEOUT_S, shutdown_timeout_s, DOUBLE, "5",                    \
      "seconds workers and actors get to finish (fini) at shutdown before "   \
      "they are killed")                                                      \
    X(NET, net, STRING, "auto",                                               \
      "how node services talk under an MPI launcher: ucx (UCP active "        \
      "messages and RDMA gets), mpi (two-sided MPI), auto (ucx if built in)") \
    X(PREFIX, prefix, BOOL, "yes",                                            \
      "under ray-mpi, prefix what workers print with (node N pid P)")         \
    X(INLINE_BYTES, inline_bytes, SIZE, "64K",                                \
      "objects up to this size travel inside messages between nodes; "        \
      "larger ones are read from their node's store by one-sided gets")       \
    X(PULL_CHUNK, pull_chunk, SIZE, "4M",                                     \
      "bytes per get when an object is read from another node")               \
    X(PULL_DEPTH, pull_depth, UINT, "8",                                      \
      "gets in flight per object read from another node")                     \
    X(NODE_TIMEOUT_S, node_timeout_s, DOUBLE, "10",                           \
      "seconds a node may stay silent before the job ends (0: never)")        \
    X(PENDING_WARN_S, pending_warn_s, DOUBLE, "10",                           \
      "seconds a task or actor may wait for resources before a warning "      \
      "names what it needs and what holds them (0: never)")                   \
    X(FAULT, fault, STRING, "",                                               \
      "developer builds: make workers _exit at named points, "                \
      "\"point[:probability[:max_hits]],...\" (see HACKING.md)")              \
    X(BIND, bind, STRING, "core",                                             \
      "how workers are bound: core (each to its own cores and their NUMA "    \
      "memory), numa (to the whole NUMA domain), none")                      \
    X(PER_NUMA, per_numa, BOOL, "no",                                         \
      "one node service per NUMA domain (srun --ntasks-per-node=<domains>): " \
      "each takes only its domain's cores, memory and GPUs")                  \
    X(TOPOLOGY, topology, STRING, "",                                         \
      "an hwloc XML to plan for instead of this machine (nothing is bound)")  \
    X(SHOW_PLACEMENT, show_placement, BOOL, "no",                             \
      "print the node's topology and where each worker goes at start; "       \
      "ray-mpi --show-placement prints it and exits")                         \
    X(TIMELINE, timeline, STRING, "",                                         \
      "write a Chrome trace (Perfetto, chrome://tracing) of every task, "     \
      "actor call and object transfer to this file at the end of the job")   \
    X(TIMELINE_EVENTS, timeline_events, UINT, "1048576",                      \
      "timeline events each process keeps, at most (later ones are "          \
      "counted as dropped)")                                                  \
    X(TMPDIR, tmpdir, STRING, "",                                             \
      "where the per-job directory is made (default: $TMPDIR, else /tmp)")    \
    X(LOG, log, STRING, "warn", "log level: error, warn, info, debug, trace")

enum ray_config_type { RAY_CFG_DOUBLE, RAY_CFG_UINT, RAY_CFG_SIZE, RAY_CFG_BOOL, RAY_CFG_STRING };

typedef struct ray_config {
#define RAY__CFG_FIELD_DOUBLE double
#define RAY__CFG_FIELD_UINT uint64_t
#define RAY__CFG_FIELD_SIZE uint64_t
#define RAY__CFG_FIELD_BOOL int
#define RAY__CFG_FIELD_STRING const char *
#define RAY__CFG_FIELD(NAME, field, type, def, help) RAY__CFG_FIELD_##type field;
    RAY_CONFIG_TABLE(RAY__CFG_FIELD)
#undef RAY__CFG_FIELD
    /* what "auto" meant for the fields that allow it: 1 = still auto */
    uint8_t num_cpus_auto, num_gpus_auto, object_store_memory_auto, max_workers_auto;
    /* where each value came from, for --config: 0 default, 1 env, 2 option */
    uint8_t source[32];
} ray_config;

/* Loads defaults, then RAY_MPI_* variables; returns RAY_EINVAL naming the
 * variable on a bad value. */
int ray_config_load(ray_config *cfg);
/* Applies one `--name=value` or `--name value` option; *consumed is set to
 * the number of argv entries used (0: not a setting). */
int ray_config_option(ray_config *cfg, int argc, char **argv, int *consumed);
void ray_config_print(const ray_config *cfg, FILE *out);
/* Exports the settings given as options to RAY_MPI_* so that the driver
 * and workers started from here see them. */
int ray_config_export(const ray_config *cfg);
void ray_config_usage(FILE *out);
int ray_parse_size(const char *s, uint64_t *out);

/* The one place getenv and setenv are called.  Internal variables of the
 * runtime (role, inherited descriptors) go through these too. */
const char *ray_env(const char *name);
int ray_env_set(const char *name, const char *value);
void ray_env_unset(const char *name);
#define RAY_ENV_ROLE "RAY_MPI_ROLE"          /* driver | worker */
#define RAY_ENV_FD "RAY_MPI_FD"              /* inherited socket to the node service */
#define RAY_ENV_PARENT "RAY_MPI_PARENT_PID"  /* node service pid, for death checks */

/* ------------------------------------------------------- fault injection */

/*
 * Named points inside the runtime where a worker can be made to _exit, so
 * that tests reach each window of the death path at will (RAY_MPI_FAULT,
 * builds configured with --enable-fault-injection; compiled out otherwise).
 * X(ID, "name", where)
 */
#define RAY_FAULT_POINTS(X)                                                   \
    X(SUBMIT_NEW, "submit-new", "a task slot taken, nothing else built")      \
    X(SUBMIT_OUTPUTS, "submit-outputs", "outputs made, arguments not yet held") \
    X(SUBMIT_ARGS, "submit-args", "the first argument held, not the rest")   \
    X(SUBMIT_QUEUED, "submit-queued", "the task marked queued, not yet pushed") \
    X(SUBMIT_HINTED, "submit-hinted", "a waiting task named under its arguments, not handed on") \
    X(PUSH_LOCKED, "push-locked", "inside a queue's lock, the task linked")  \
    X(POP_LOCKED, "pop-locked", "inside a queue's lock, tasks unlinked")     \
    X(PUSH_FRONT_LOCKED, "push-front-locked", "inside a queue's lock, a batch put back") \
    X(BATCH_TAKEN, "batch-taken", "tasks taken from a queue, none claimed")  \
    X(CLAIMED, "claimed", "a task claimed, its arguments not yet resolved") \
    X(RETURNED, "returned", "the function returned, no output sealed")      \
    X(SEALING, "sealing", "the first output sealed, not the others")        \
    X(SEALED, "sealed", "every output sealed, the service not yet told")    \
    X(FAILING, "failing", "the first output failed, not the others")        \
    X(FINISHING, "finishing", "the task letting go of its holds")           \
    X(FREEING, "freeing", "an object's bytes freed, its slot not yet")      \
    X(BLOCKED, "blocked", "asleep in a nested ray_get, its CPU lent")       \
    X(INLINE, "inline", "a queued producer claimed to run in place")        \
    X(PUT_COPY, "put-copy", "ray_put's object made, the bytes not copied")  \
    X(RELEASE, "release", "a ref about to be let go, still listed")     \
    X(STORE_LOCKED, "store-locked", "inside the store's lock, a block taken") \
    X(ACTOR_CALL, "actor-call", "an actor call claimed, not yet run")         \
    X(HINT_CLAIMED, "hint-claimed", "a waiting task taken by its argument's sealer, not yet queued")

enum {
#define RAY__FAULT_ENUM(id, name, where) RAY_FAULT_##id,
    RAY_FAULT_POINTS(RAY__FAULT_ENUM)
#undef RAY__FAULT_ENUM
    RAY_FAULT_COUNT
};
#define RAY_FAULT_EXIT 86 /* the exit status of a process a fault point ended */
const char *ray_fault_name(int point);
#ifdef RAY_FAULT_INJECTION
extern int ray_fault_armed;
void ray_fault_hit(int point);
#define RAY_FAULT(id)                                                         \
    do {                                                                      \
        if (RAY_UNLIKELY(ray_fault_armed))                                    \
            ray_fault_hit(RAY_FAULT_##id);                                    \
    } while (0)
#else
#define RAY_FAULT(id) ((void)0)
#endif
/* Arms the points of spec ("point[:probability[:max_hits]],...") in this
 * process; hits are counted node-wide in hits[] (shared memory), and a
 * process that stops at one writes the point's number + 1 to *where
 * first.  With hits NULL the spec is only checked.  RAY_EINVAL names a bad
 * entry. */
int ray_fault_arm(const char *spec, _Atomic uint32_t *hits, _Atomic uint32_t *where);

/* ---------------------------------------------------------------------- ids */

/*
 * Every id is 16 bytes: the node that owns it, a slot in that node's table,
 * the slot's generation (detects stale refs), a per-job tag (detects refs
 * from other runs) and a kind.  Ids carry the node so any process can tell
 * who owns an object without asking rank 0.
 */
enum { RAY_ID_NONE = 0, RAY_ID_OBJECT = 1, RAY_ID_ACTOR = 2 };
typedef struct ray_id {
    uint32_t node;
    uint32_t slot;
    uint32_t gen;
    uint16_t tag;
    uint8_t kind;
    uint8_t flags;
} ray_id;
_Static_assert(sizeof(ray_id) == RAY_ID_SIZE, "id layout");

static inline ray_id ray_id_from_bytes(const uint8_t *b)
{
    ray_id id;
    memcpy(&id, b, sizeof(id));
    return id;
}
static inline void ray_id_to_bytes(ray_id id, uint8_t *b) { memcpy(b, &id, sizeof(id)); }
static inline ray_ref ray_id_ref(ray_id id)
{
    ray_ref r;
    ray_id_to_bytes(id, r.id);
    return r;
}
static inline ray_id ray_ref_id(ray_ref r) { return ray_id_from_bytes(r.id); }
int ray_id_format(ray_id id, char *buf, size_t size);
/* The generation a reused slot gets: never 0, which no live id carries. */
static inline uint32_t ray_gen_next(uint32_t gen) { return gen + 1 ? gen + 1 : 1; }

/* 64-bit FNV-1a: names of functions, classes and methods on the wire. */
static inline uint64_t ray_hash64(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h ? h : 1;
}

/* A method's name on the wire: its hash combined with its class's. */
static inline uint64_t ray_method_hash(uint64_t cls_hash, uint64_t method_hash)
{
    uint64_t h = method_hash ^ ((cls_hash << 17) | (cls_hash >> 47)) * 0x9E3779B97F4A7C15ULL;
    return h ? h : 1;
}

/* -------------------------------------------------------------------- time */

uint64_t ray_now_ns(void); /* CLOCK_MONOTONIC */
static inline uint64_t ray_deadline_ns(double timeout_s)
{
    if (timeout_s < 0)
        return UINT64_MAX;
    if (timeout_s > 1e9)
        timeout_s = 1e9;
    return ray_now_ns() + (uint64_t)(timeout_s * 1e9);
}

/* Milliseconds from now until deadline_ns, for poll(2) and epoll_wait(2):
 * -1 for no deadline (UINT64_MAX), 0 once it passed, else rounded up and
 * at most INT_MAX.  (deadline - now in unsigned arithmetic wraps when the
 * caller was descheduled past the deadline: a huge wait, or as an int a
 * negative one, which is forever.) */
static inline int ray_ms_until(uint64_t deadline_ns)
{
    if (deadline_ns == UINT64_MAX)
        return -1;
    uint64_t now = ray_now_ns();
    if (now >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---------------------------------------------------- shared-memory sync */

/* futex on a word in a MAP_SHARED mapping (not FUTEX_PRIVATE). */
int ray_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns);
void ray_futex_wake(_Atomic uint32_t *word, int n);
pid_t ray_gettid(void);

/*
 * A lock in shared memory that records its owner's thread id, spins briefly,
 * then sleeps on a futex.  When a process dies holding one, the node service
 * (which reaps every worker) breaks it with ray_shlock_break() after
 * repairing the structure it protects.
 */
typedef struct ray_shlock {
    _Atomic uint32_t owner;   /* tid of the holder, 0 when free */
    _Atomic uint32_t waiters; /* threads sleeping on it */
    _Atomic uint32_t seq;     /* futex word bumped at each contended unlock */
    uint32_t pad;
} ray_shlock;
void ray_shlock_lock_slow(ray_shlock *l, uint32_t tid);
static inline void ray_shlock_lock(ray_shlock *l, uint32_t tid)
{
    uint32_t zero = 0;
    if (RAY_LIKELY(atomic_compare_exchange_strong_explicit(&l->owner, &zero, tid,
                                                           memory_order_acquire,
                                                           memory_order_relaxed)))
        return;
    ray_shlock_lock_slow(l, tid);
}
static inline void ray_shlock_unlock(ray_shlock *l)
{
    atomic_store_explicit(&l->owner, 0, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (RAY_UNLIKELY(atomic_load_explicit(&l->waiters, memory_order_relaxed))) {
        atomic_fetch_add(&l->seq, 1);
        ray_futex_wake(&l->seq, 1);
    }
}
/* Frees a lock whose owner `tid` is dead; returns 1 if it was held by tid. */
int ray_shlock_break(ray_shlock *l, uint32_t tid);
/* Returns the owner's tid if the lock is held by a thread that no longer
 * exists (its process died inside the critical section), else 0. */
uint32_t ray_shlock_dead_owner(ray_shlock *l);
/* For the node service: `dead` says whether a thread is gone (its own
 * children count once they exited, reaped or not), `repair` is called by a
 * lock wait that finds the holder dead and must leave the lock free (the
 * service never waits for a lock nobody will free). */
void ray_shlock_hooks(int (*dead)(uint32_t tid), void (*repair)(ray_shlock *l, uint32_t tid));

/*
 * An event count: sleepers announce themselves, read the sequence, re-check
 * their condition, then sleep; signalers bump the sequence and wake only
 * when someone sleeps.  No lost wake-ups, no syscall when nobody sleeps.
 */
typedef struct ray_evc {
    _Atomic uint32_t seq;
    _Atomic uint32_t sleepers;
} ray_evc;
static inline uint32_t ray_evc_prepare(ray_evc *e)
{
    atomic_fetch_add(&e->sleepers, 1);
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&e->seq, memory_order_acquire);
}
static inline void ray_evc_cancel(ray_evc *e) { atomic_fetch_sub(&e->sleepers, 1); }
/* Sleeps unless signalled since prepare; always undoes prepare. Returns 0 or
 * RAY_ETIMEDOUT. */
int ray_evc_wait(ray_evc *e, uint32_t seq, uint64_t deadline_ns);
static inline void ray_evc_signal(ray_evc *e, int n)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&e->sleepers, memory_order_relaxed)) {
        atomic_fetch_add(&e->seq, 1);
        ray_futex_wake(&e->seq, n);
    }
}

/*
 * A lock-free stack of free slots of a table in shared memory (tagged head
 * against ABA), with a bump pointer behind it so the table is touched only
 * as far as it has been used.  Slot 0 is never handed out.  Each table
 * element keeps its link at next_off.
 */
typedef struct ray_freelist {
    _Atomic uint64_t head; /* (tag << 32) | slot */
    _Atomic uint32_t bump;
    uint32_t cap;
} ray_freelist;
void ray_freelist_init(ray_freelist *f, uint32_t cap);
uint32_t ray_freelist_pop(ray_freelist *f, void *base, size_t stride, size_t next_off);
void ray_freelist_push(ray_freelist *f, void *base, size_t stride, size_t next_off,
                       uint32_t slot);
static inline uint32_t ray_freelist_high_water(ray_freelist *f)
{
    return atomic_load_explicit(&f->bump, memory_order_acquire);
}

/* ------------------------------------------------------ message ring */

/*
 * Single-producer single-consumer ring of length-prefixed records in shared
 * memory.  The consumer validates every record (length, alignment, type
 * range) before trusting it: a buggy or dying peer cannot make it read out
 * of bounds.  Records never wrap: a PAD record fills the end.
 */
typedef struct ray_ring_hdr {
    _Atomic uint64_t head; /* consumer position (bytes, monotonic) */
    char pad0[RAY_CACHELINE - 8];
    _Atomic uint64_t tail; /* producer position */
    char pad1[RAY_CACHELINE - 8];
    ray_evc space;         /* producer sleeps here when the ring is full */
    uint64_t size;         /* bytes of data, a power of two (for debuggers:
                              ray_ring_attach takes it from its caller) */
    char pad2[RAY_CACHELINE - 16];
} ray_ring_hdr;
typedef struct ray_msg_hdr {
    uint32_t len;  /* whole record, header included, multiple of 8 */
    uint16_t type;
    uint16_t pad;  /* bytes after the payload that round len up (0..7) */
} ray_msg_hdr;
#define RAY_MSG_PAD 0xffff
typedef struct ray_ring {
    ray_ring_hdr *hdr;
    uint8_t *data;
    uint64_t mask;   /* size - 1, fixed at attach: the shared header is not trusted */
    uint64_t cached; /* producer: last seen head; consumer: last seen tail */
    uint32_t cur_len; /* consumer: validated length of the peeked record */
} ray_ring;
void ray_ring_init(ray_ring_hdr *hdr, uint64_t size);
/* size: the bytes of data the caller mapped, a power of two. */
void ray_ring_attach(ray_ring *r, ray_ring_hdr *hdr, void *data, uint64_t size);
/* Reserves room for a record of `len` payload bytes; NULL if full. */
void *ray_ring_reserve(ray_ring *r, uint16_t type, uint32_t len);
void ray_ring_commit(ray_ring *r);
/* Next record or NULL; *type and *len give the payload.  RAY_EPROTO via
 * *err on a malformed record (the ring is then unusable). */
const void *ray_ring_peek(ray_ring *r, uint16_t *type, uint32_t *len, int *err);
void ray_ring_pop(ray_ring *r);
/* After a batch of pops: wakes a producer sleeping on a full ring. */
static inline void ray_ring_done(ray_ring *r) { ray_evc_signal(&r->hdr->space, 1); }
static inline int ray_ring_empty(ray_ring *r)
{
    return atomic_load_explicit(&r->hdr->head, memory_order_relaxed) ==
           atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
}

/* ---------------------------------------------------- shared memory */

/* memfd of `size` bytes (sparse), mode 0600, close-on-exec. */
int ray_memfd_create(const char *name, uint64_t size);
/* Maps fd; prot is PROT_READ or PROT_READ|PROT_WRITE. NULL on error. */
void *ray_map(int fd, uint64_t size, int prot);
void ray_unmap(void *p, uint64_t size);
/* Makes the per-job directory (mode 0700) and returns its path. */
int ray_jobdir_create(const char *base, char *path, size_t size);
int ray_jobdir_remove(const char *path);
/* Writes a file of the job directory, readable by its owner alone (mode
 * 0600, whatever the umask), through a temporary name: readers see all of
 * it or nothing. */
int ray_jobdir_write(const char *path, const void *data, size_t len);

/* ----------------------------------------------------- socket codec */

/*
 * Frames on the Unix SOCK_SEQPACKET socket between a process and its node
 * service: a
 * fixed header (magic, type, length), then the payload, with descriptors
 * passed as SCM_RIGHTS.  ray_sock_recv checks magic, length against the
 * caller's buffer, and the descriptor count (ray_sock_check) before
 * returning.
 */
#define RAY_SOCK_MAGIC 0x52794d70u /* "RyMp" */
#define RAY_SOCK_MAX_FDS 4
typedef struct ray_sock_hdr {
    uint32_t magic;
    uint16_t type;
    uint16_t nfds;
    uint32_t len;
    uint32_t pad;
} ray_sock_hdr;
int ray_sock_send(int fd, uint16_t type, const void *buf, uint32_t len,
                  const int *fds, int nfds);
/* Returns 0 with type and len set, 1 on orderly EOF, or a negative code.
 * *nfds: in, how many descriptors the caller takes; out, how many came. */
int ray_sock_recv(int fd, uint16_t *type, void *buf, uint32_t cap, uint32_t *len,
                  int *fds, int *nfds, uint64_t deadline_ns);
/* What ray_sock_recv checks of a frame once it came, as a pure function:
 * n bytes came (header and payload; frame holds the first
 * min(n, sizeof(ray_sock_hdr)) of them), msg_flags are recvmsg's, nfds
 * descriptors came with it, the caller has room for cap payload bytes.
 * Returns 0 with type and len set, or RAY_EPROTO saying what is wrong. */
int ray_sock_check(const void *frame, size_t n, int msg_flags, int nfds, uint32_t cap,
                   uint16_t *type, uint32_t *len);

/* ------------------------------------------------- timeline (timeline.c) */

/*
 * RAY_MPI_TIMELINE=path.json: each process that runs tasks (workers) or
 * moves objects (the node service) records what it did into its own file,
 * <job dir>/timeline/<pid>.tl, a mapped buffer of fixed records grown a
 * chunk at a time (an event costs a few stores; a process killed keeps what
 * it wrote).  At the end the node service reads the files back, checked
 * (ray_tl_collect); rank 0 gathers every node's and writes the Chrome
 * trace (ray_tl_write).  Off, an event costs one test of ray_tl_on.
 */
enum ray_tl_kind {
    RAY_TL_TASK = 1,
    RAY_TL_ACTOR_CALL = 2,
    RAY_TL_ACTOR_CREATE = 3,
    RAY_TL_TRANSFER = 4,   /* an object read from another node (peer) */
    RAY_TL_KIND_MAX
};
#define RAY_TL_NAME_MAX 32
typedef struct ray_tl_event {
    _Atomic uint32_t kind;     /* stored last: 0 = not (fully) written */
    int32_t status;            /* 0, or the RAY_E* code it ended with */
    uint32_t peer;             /* transfers: the node it came from */
    uint32_t attempt;          /* tasks: 0 for the first run */
    uint64_t queued_ns, start_ns, end_ns; /* ray_now_ns; queued 0: unknown */
    uint64_t bytes_in, bytes_out;
    char name[RAY_TL_NAME_MAX];
} ray_tl_event;
extern int ray_tl_on; /* this process records */
/* Starts this process's file under jobdir (the setting decides whether);
 * role names its row ("worker", "actor counter", "node service"). */
int ray_tl_open(const ray_config *cfg, const char *jobdir, uint32_t node, const char *role,
                int service);
void ray_tl_role(const char *role);
/* A record to fill (then ray_tl_commit), or NULL when off or full. */
ray_tl_event *ray_tl_next(void);
static inline void ray_tl_commit(ray_tl_event *e, uint32_t kind)
{
    atomic_store_explicit(&e->kind, kind, memory_order_release);
}
void ray_tl_close(void);
/* The node service at the end: every process's file, checked, as one
 * blob to hand to rank 0 (malloc'd; *len 0 when there is none), of max
 * bytes at most (what does not fit is counted as dropped). */
int ray_tl_collect(const char *jobdir, size_t max, void **blob, size_t *len);
/* Rank 0: the blobs of every node, one after the other, as Chrome trace
 * JSON at path.  The blobs are checked again (they crossed the network). */
int ray_tl_write(const char *path, const void *blobs, size_t len);
/* The same into a stream (the fuzz target): how many events it wrote, or
 * RAY_EPROTO at the first malformed blob (what comes before is written). */
int ray_tl_convert(const void *blobs, size_t len, FILE *out, uint64_t *events);
/* Tests and seeds: the header of a file (or blob) of n records, written
 * into out (RAY_TL_HEADER bytes); records follow it. */
#define RAY_TL_HEADER 256
void ray_tl_header(void *out, uint32_t node, int32_t pid, int service, uint64_t n,
                   const char *role, const char *host);

/* --------------------------------------------------------- containers */

/* Growable array of fixed-size elements (service-private state). */
typedef struct ray_vec {
    void *data;
    size_t len, cap, elem;
} ray_vec;
void ray_vec_init(ray_vec *v, size_t elem);
void *ray_vec_push(ray_vec *v); /* NULL on ENOMEM */
void ray_vec_free(ray_vec *v);
#define RAY_VEC_AT(v, T, i) (((T *)(v)->data)[i])

/* Open-addressing map from non-zero uint64 keys to uint64 values. */
typedef struct ray_map64 {
    uint64_t *keys;
    uint64_t *vals;
    size_t cap, len, tomb;
} ray_map64;
void ray_map64_init(ray_map64 *m);
void ray_map64_free(ray_map64 *m);
int ray_map64_put(ray_map64 *m, uint64_t key, uint64_t val);
int ray_map64_get(const ray_map64 *m, uint64_t key, uint64_t *val);
int ray_map64_del(ray_map64 *m, uint64_t key);

/* Custom resources "name:amount,...": at most RAY_RES_MAX entries, names
 * of 1..63 bytes (not CPU or GPU: they have their own options), amounts
 * finite and >= 0.  Returns how many, or RAY_EINVAL with a message. */
#define RAY_RES_MAX 32
typedef struct ray_resource {
    char name[64];
    double amount;
} ray_resource;
int ray_resources_parse(const char *s, size_t len, ray_resource *out);

/* Large sparse anonymous reservation, zero-filled, touched lazily. */
void *ray_reserve(size_t bytes);
void ray_unreserve(void *p, size_t bytes);

#endif /* RAY_COMMON_H */
