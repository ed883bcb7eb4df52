/*
 * cluster.h - private to src/sched: the node service's part in a job of
 * several nodes, shared by the files that make it up.
 *
 *   cluster.c  joining, the records in and out (batched per node and pass),
 *              the load view, spilling ready tasks, stopping, lost nodes
 *   remote.c   tasks across nodes: handing one to another node (owner) and
 *              running one for another node (executor), and their results
 *   pull.c     objects across nodes: local copies of other nodes' objects,
 *              reading bytes from a peer's arena, references held from afar
 *   names.c    the job's actor names (rank 0) and actors on other nodes
 *
 * The owner of a task or object is the node that made it (its ids say
 * which): it keeps a task it hands to another node until the results are
 * back in its own store, so an object's bytes are always at its owner once
 * sealed, and any node reads them from there.
 */
#ifndef RAY_SCHED_CLUSTER_H
#define RAY_SCHED_CLUSTER_H

#include "net/net.h"
#include "service.h"
#include "wire.h"

/* A task run here for another node (its owner), until its outputs go back. */
typedef struct exec_rec {
    uint32_t used, gen;
    uint32_t owner, owner_task, owner_gen;
    uint32_t nret, pending;
    sched_out outs[SCHED_MAX_RETURNS]; /* our temporary outputs (held) */
    uint32_t next_free;
} exec_rec;

enum { PROXY_IDLE = 0, PROXY_PULLING = 1, PROXY_DONE = 2 };

/* A copy here of another node's object: a local object whose bytes are
 * pulled from the owner when someone here waits for them. */
typedef struct proxy {
    uint32_t used, gen;
    wire_ref remote;
    uint32_t slot, sgen; /* the local object (one reference is the proxy's) */
    uint32_t state, next_free;
    uint64_t idle_ns; /* since when only the proxy held it */
    uint64_t told_ns; /* when a process here was last given it (pull_proxy) */
    uint64_t pull_ns; /* when its bytes were asked for (the timeline) */
} proxy;

enum { PULL_FOR_PROXY = 1, PULL_FOR_RESULT = 2 };

/* Bytes of a peer's arena coming into a local object, in chunks. */
typedef struct pull_job {
    uint32_t used, gen;
    uint32_t from, kind;
    uint64_t roff, size, loff, issued, arrived;
    int inflight, failed;
    uint32_t obj, obj_gen;   /* the object being filled */
    uint32_t a, b;           /* proxy: the owner's object; result: the temporary one */
    uint32_t task, task_gen; /* result: the owner's task */
    uint32_t next_free;
    uint64_t start_ns;       /* the timeline: since when its bytes are awaited */
} pull_job;

/* A node waits for an object of ours that is not ready yet. */
typedef struct remote_wait {
    uint32_t node;
    wire_pull p;
} remote_wait;

/* An actor creation under way for a process here: its name is being
 * registered with rank 0, or its node is making it. */
typedef struct actor_req {
    uint32_t used, client, client_gen, client_req;
    uint32_t task, task_gen, node;
    char name[SCHED_ACTOR_NAME_MAX];
    uint32_t name_len;
} actor_req;

typedef struct svc_cluster {
    net *net;
    uint32_t node, num_nodes;
    wire_buf *out;  /* per node: records to send at the end of the pass */
    uint8_t *dirty; /* per node: out has records */
    ray_vec execs, proxies, pulls, rwaits, areqs;
    uint32_t exec_free, proxy_free, pull_free;
    ray_map64 proxy_by_remote; /* (node << 32 | slot) -> index + 1 */
    ray_map64 proxy_by_slot;   /* local slot -> index + 1 */
    uint32_t *remote_at;       /* per task slot: node + 1 it runs on, for its owner */
    wire_load *view;           /* every node's load, as rank 0 last said */
    uint64_t *heard_ns;        /* when each node was last heard of */
    int64_t *copies_at;        /* per node: copies of our objects it holds (its W_REF sums) */
    wire_load last_load;
    uint64_t next_load_ns, next_view_ns, last_load_ns;
    uint32_t view_changed;
    uint64_t inline_max, chunk;
    uint32_t depth, spill_at, spill_next;
    double node_timeout_s;
    int stopping;   /* W_STOP seen (or sent) */
    int stop_asked; /* rank 0: another node is stopping, so must the job */
    int failed;   /* a node is gone: fail_msg says which */
    char fail_msg[400];
    uint32_t next_req;
    uint64_t reclaim_ns; /* when we last asked the others for room (W_RECLAIM) */
    /* Transfers under way: our pulls, and objects of ours a peer is
     * reading (pinned until its W_UNPIN or W_FREE).  While there are any
     * the loop spins instead of sleeping: UCX's gets over shared memory
     * and TCP need both sides to progress. */
    uint32_t pulling, serving;
    uint64_t net_work_ns; /* when the network last did something */
    uint64_t spill_hold_ns; /* no spilling before (the backlog's data is here) */
} svc_cluster;

static inline svc_cluster *svc_cl(sched_service *svc)
{
    return svc->cluster;
}

/* ---- cluster.c */
/* Room for a record to node `to`, sent at the end of this pass. */
void *cluster_out(sched_service *svc, uint32_t to, uint16_t type, uint32_t payload);
/* Sends every node's records (one message each). */
void cluster_flush(sched_service *svc);
/* A node is gone or broken: the job ends. */
void cluster_fail(sched_service *svc, uint32_t node, const char *fmt, ...) RAY_FMT(3, 4);
void cluster_on_load(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void cluster_on_view(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void cluster_on_stop(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);

/* ---- remote.c */
void remote_forward(sched_service *svc, uint32_t t, uint32_t node);
void remote_on_task(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void remote_on_result(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void remote_on_free(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
/* Waiter WAITER_EXEC: an output of exec record id became ready. */
void remote_exec_ready(sched_service *svc, uint32_t id, uint32_t gen);
/* Encodes task t (its args ready or not) as a wire_task record to node. */
int remote_encode_task(sched_service *svc, uint32_t t, uint32_t node, uint16_t type, uint32_t extra,
                       void **tail);
/* Builds a local task from a task record; its outputs are fresh temporary
 * objects (outs) unless kind is a creation.  0 or an error (message). */
int remote_build_task(sched_service *svc, uint32_t from, const wire_task_view *v, uint32_t *t,
                      sched_out *outs);
/* An output of a result arrived in full (result pulls). */
void remote_output_done(sched_service *svc, uint32_t task, uint32_t gen);

/* ---- pull.c */
/* The local copy of another node's object (made if needed); its slot and
 * generation.  Its bytes come when pull is set or someone waits for it. */
int pull_proxy(sched_service *svc, wire_ref r, int pull, uint32_t *slot, uint32_t *gen);
/* If local object slot is a copy of another node's: that node's id. */
int pull_remote_of(sched_service *svc, uint32_t slot, wire_ref *r);
/* The timeline's record of bytes that came from node `from` (what: "pull",
 * "result"), awaited since start; status 0 or the error they ended with. */
void pull_tl(uint32_t from, const char *what, uint64_t start, uint64_t bytes, int status);
/* Someone here waits for local object slot: if it is a copy, fetch it. */
void pull_wanted(sched_service *svc, uint32_t slot);
/* Reads [roff, +size) of node from's arena into object obj (allocated
 * here), then completes as kind says. */
int pull_start(sched_service *svc, uint32_t from, uint64_t roff, uint64_t size, uint32_t obj,
               uint32_t kind, uint32_t a, uint32_t b, uint32_t task, uint32_t task_gen);
void pull_on_pull(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void pull_on_pulled(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void pull_on_unpin(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void pull_on_ref(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
/* Waiter WAITER_REMOTE: an object a node waits for became ready. */
void pull_remote_ready(sched_service *svc, uint32_t id);
/* Copies nobody here holds any more go (their owners are told). */
void pull_sweep(sched_service *svc);
/* Such copies go now, not after their idle time: all of them (owner
 * UINT32_MAX) or those of one node's objects, but the copy in local slot
 * keep_slot (0: none); how many went. */
uint32_t pull_reclaim(sched_service *svc, uint32_t owner, uint32_t keep_slot);
/* store_obj_alloc of local object obj by the service: when the store is
 * full, other idle copies go first, then it tries again. */
int pull_alloc(sched_service *svc, uint32_t obj, uint64_t size, void **dst);
/* W_RECLAIM: node from's store is full. */
void pull_on_reclaim(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);

/* ---- names.c */
void names_on_name(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void names_on_reply(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void names_on_actor_new(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void names_on_actor_reply(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);
void names_on_actor_kill(sched_service *svc, uint32_t from, const uint8_t *p, uint32_t len);

#endif /* RAY_SCHED_CLUSTER_H */
