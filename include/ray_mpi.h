/*
 * ray_mpi.h - the public API of ray-mpi: Ray's programming model in C.
 *
 * Remote tasks that return futures (refs), stateful actors, and a per-node
 * shared-memory object store.  This is the only installed header; its names,
 * signatures and meanings follow DESIGN.md section 4.  Every int call returns
 * RAY_OK (0) or a negative RAY_E* code; ray_strerror() names the code and
 * ray_last_error() gives the detailed message of the last failure in the
 * calling thread.
 */
#ifndef RAY_MPI_H
#define RAY_MPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define RAY_API __attribute__((visibility("default")))
#define RAY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RAY_API
#define RAY_PRINTF(f, a)
#endif

#define RAY_MPI_VERSION_MAJOR 0
#define RAY_MPI_VERSION_MINOR 1
#define RAY_MPI_VERSION_PATCH 0

/*
 * Error codes.  Their values cross nodes and never change; add new ones at the
 * end.  X(name, value, description)
 */
#define RAY_ERRNO_MAP(X)                                                      \
    X(OK, 0, "success")                                                       \
    X(EINVAL, -1, "invalid argument")                                         \
    X(ENOMEM, -2, "object store full")                                        \
    X(ETIMEDOUT, -3, "timed out")                                             \
    X(ETASK, -4, "task failed")                                               \
    X(EWORKER, -5, "worker died and retries ran out")                         \
    X(ENOFUNC, -6, "function or actor class not registered")                  \
    X(ELOST, -7, "object lost and cannot be rebuilt")                         \
    X(ECANCELLED, -8, "task cancelled")                                       \
    X(EACTOR, -9, "actor dead or failed")                                     \
    X(EINFEASIBLE, -10, "no node can ever satisfy the resource request")      \
    X(EEXIST, -11, "name already taken")                                      \
    X(ENOTFOUND, -12, "no such named actor")                                  \
    X(ESTATE, -13, "call not allowed in this state")                          \
    X(ESYS, -14, "system call failed")                                        \
    X(EPROTO, -15, "malformed message from another process")                  \
    X(ETOOBIG, -16, "table full")

enum {
#define RAY__ERRNO_ENUM(name, value, desc) RAY_##name = (value),
    RAY_ERRNO_MAP(RAY__ERRNO_ENUM)
#undef RAY__ERRNO_ENUM
};

#define RAY_ID_SIZE 16
typedef struct ray_ref { uint8_t id[RAY_ID_SIZE]; } ray_ref;     /* object ref: a plain value */
typedef struct ray_actor { uint8_t id[RAY_ID_SIZE]; } ray_actor; /* actor handle: a plain value */
typedef struct ray_buf { const void *data; size_t size; } ray_buf;
typedef struct ray_arg {            /* value or ref; build with ray_arg_val/ray_arg_ref */
    uint32_t kind;                  /* private */
    uint32_t reserved;
    ray_ref ref;
    const void *data;
    size_t size;
} ray_arg;
typedef struct ray_ctx ray_ctx;     /* the running task, in a worker */

/* ---- life cycle and errors ---- */
RAY_API int ray_init(int *argc, char ***argv); /* first thing in main(); in a worker it never returns */
RAY_API int ray_shutdown(void);
RAY_API const char *ray_strerror(int code);
RAY_API const char *ray_errname(int code);     /* "RAY_EINVAL" */
RAY_API const char *ray_last_error(void);

/* ---- task arguments ---- */
RAY_API ray_arg ray_arg_val(const void *data, size_t size); /* bytes copied at submit */
RAY_API ray_arg ray_arg_ref(ray_ref ref); /* the object's bytes, resolved before the task runs */

/* ---- remote functions ---- */
typedef int (*ray_task_fn)(ray_ctx *ctx, const ray_buf *args, int nargs);
RAY_API int ray_register_function(const char *name, ray_task_fn fn);
/* At file scope: registers fn under the name #fn in every process of the job. */
#define RAY_REMOTE(fn)                                                        \
    __attribute__((constructor)) static void ray__register_fn_##fn(void)      \
    {                                                                         \
        ray_register_function(#fn, fn);                                       \
    }

RAY_API int ray_return(ray_ctx *ctx, int index, const void *data, size_t size);
RAY_API void *ray_return_alloc(ray_ctx *ctx, int index, size_t size); /* write the output in place */
RAY_API int ray_fail(ray_ctx *ctx, const char *fmt, ...) RAY_PRINTF(2, 3); /* `return ray_fail(...)` */
RAY_API int ray_ctx_node(const ray_ctx *ctx);
RAY_API int ray_ctx_gpus(const ray_ctx *ctx, int *ids, int max); /* GPU ids given to this task */
RAY_API int ray_ctx_cancelled(const ray_ctx *ctx); /* 1 once ray_cancel(force=0) asked this task to stop */

typedef struct ray_task_opts {
    double num_cpus;        /* default 1 */
    double num_gpus;        /* default 0 */
    const char *resources;  /* "name:amount,..." custom resources, or NULL */
    int num_returns;        /* default 1 */
    int max_retries;        /* default 3: rerun when its worker or node dies */
    int node;               /* -1 (default): anywhere; else run on this node */
    const char *name;       /* shown in logs and the timeline */
} ray_task_opts;
RAY_API void ray_task_opts_init(ray_task_opts *opts);
RAY_API int ray_submit(const char *fn, const ray_arg *args, int nargs,
                       const ray_task_opts *opts /* NULL: defaults */, ray_ref *returns);

/* ---- objects ---- */
RAY_API int ray_put(const void *data, size_t size, ray_ref *out); /* one copy into the store */
RAY_API void *ray_create(size_t size, ray_ref *out); /* write in place, then ray_seal; NULL on error */
RAY_API int ray_seal(ray_ref ref);
RAY_API int ray_get(ray_ref ref, ray_buf *out, double timeout_s /* <0: forever */);
/* zero-copy read-only view, valid until ray_release(ref) */
RAY_API int ray_get_many(const ray_ref *refs, int n, ray_buf *outs, double timeout_s);
RAY_API int ray_wait(const ray_ref *refs, int n, int num_ready, double timeout_s, int *ready);
/* ready[i] = 1 for ready refs; returns how many are ready (>= 0) */
RAY_API int ray_release(ray_ref ref);
RAY_API int ray_cancel(ray_ref ref, int force); /* force: kill the worker running it */

/* ---- actors ---- */
typedef void *(*ray_actor_init_fn)(ray_ctx *ctx, const ray_buf *args, int nargs); /* NULL: failed */
typedef void (*ray_actor_fini_fn)(void *state);
typedef int (*ray_method_fn)(ray_ctx *ctx, void *state, const ray_buf *args, int nargs);
RAY_API int ray_register_actor(const char *cls, ray_actor_init_fn init, ray_actor_fini_fn fini);
RAY_API int ray_register_method(const char *cls, const char *method, ray_method_fn fn);
/* At file scope: registers actor class #cls. */
#define RAY_ACTOR(cls, init_fn, fini_fn)                                      \
    __attribute__((constructor)) static void ray__register_actor_##cls(void)  \
    {                                                                         \
        ray_register_actor(#cls, init_fn, fini_fn);                           \
    }
/* At file scope: registers method #method_fn of class cls. */
#define RAY_METHOD(cls, method_fn)                                            \
    __attribute__((constructor)) static void                                  \
    ray__register_method_##cls##_##method_fn(void)                            \
    {                                                                         \
        ray_register_method(#cls, #method_fn, method_fn);                     \
    }

/* ray_actor_opts.num_cpus as ray_actor_opts_init sets it: the actor needs 1
 * CPU free to be placed and holds none while it lives (Ray's default), so
 * actors that mostly wait do not starve tasks.  Any other value (0 too) is
 * held for the actor's whole life. */
#define RAY_ACTOR_CPUS_DEFAULT (-1.0)
typedef struct ray_actor_opts {
    double num_cpus;           /* default RAY_ACTOR_CPUS_DEFAULT: 1 to place, 0 held */
    double num_gpus;           /* default 0; held for the actor's life */
    const char *resources;
    int max_restarts;          /* default 0 */
    const char *name;          /* named actor, found with ray_actor_get */
    int node;                  /* -1 (default): anywhere */
} ray_actor_opts;
RAY_API void ray_actor_opts_init(ray_actor_opts *opts);
RAY_API int ray_actor_create(const char *cls, const ray_arg *args, int nargs,
                             const ray_actor_opts *opts, ray_actor *out);
RAY_API int ray_actor_call(ray_actor actor, const char *method, const ray_arg *args, int nargs,
                           const ray_task_opts *opts, ray_ref *returns);
RAY_API int ray_actor_get(const char *name, ray_actor *out);
RAY_API int ray_actor_kill(ray_actor actor);

/* ---- cluster ---- */
RAY_API int ray_node_id(void);   /* this process's node, 0..ray_num_nodes()-1 */
RAY_API int ray_num_nodes(void);

/* ---- introspection ---- */
typedef struct ray_stats {
    uint64_t store_capacity_bytes;  /* arena size of this node's store */
    uint64_t store_used_bytes;      /* bytes held by live objects in the arena */
    uint64_t objects_live;          /* objects (inline or in the arena) not yet freed */
    uint64_t tasks_live;            /* tasks submitted and not yet finished */
    uint32_t workers;               /* worker processes alive on this node */
    uint32_t actors;                /* actors alive on this node */
    /* Under ray-mpi with several nodes: what this node's service exchanged
     * with the others (messages carry batches of records). */
    uint64_t net_msgs_in, net_msgs_out;
    uint64_t net_bytes_in; /* in messages and in one-sided reads of their stores */
} ray_stats;
RAY_API int ray_get_stats(ray_stats *out);
/* Writes a printable form of ref ("obj:0:12:3") into buf; returns buf. */
RAY_API const char *ray_ref_str(ray_ref ref, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* RAY_MPI_H */
