/*
 * refs.c - the references this process holds.  The store counts holders
 * (processes, pending tasks, producers) in each entry; this table tells,
 * per object slot, whether this process is one of them, so a release of a
 * ref it does not hold is an error instead of a double free, and a task's
 * leftover references can be dropped when it returns.
 *
 * holds[slot] is the generation held (0: none); the table is a sparse
 * reservation indexed by slot, touched only where used.
 */
#include "client.h"

void client_hold_new(uint32_t slot, uint32_t gen)
{
    ray_cl.holds[slot] = gen;
    if (ray_cl.task && ray_cl.auto_release) {
        sched_out *h = ray_vec_push(&ray_cl.held);
        if (h)
            *h = (sched_out){slot, gen};
    }
}

int client_hold_acquire(uint32_t slot, uint32_t gen)
{
    if (ray_cl.holds[slot] == gen)
        return 0;
    store_obj_ref(cl_store(), slot);
    client_hold_new(slot, gen);
    return 1;
}

int client_lookup(ray_ref ref, ray_id *id, store_obj **o)
{
    *id = ray_ref_id(ref);
    if (RAY_UNLIKELY(id->node != ray_cl.node)) {
        char buf[64];
        ray_id_format(*id, buf, sizeof(buf));
        if (id->node >= ray_cl.num_nodes)
            return ray_err(RAY_EINVAL, "ref %s names node %u; this job has %u node(s)", buf,
                           id->node, ray_cl.num_nodes);
        return ray_err(RAY_EINVAL, "ref %s lives on node %u; objects of other nodes are "
                                   "not reachable yet", buf, id->node);
    }
    *o = store_obj_lookup(cl_store(), *id);
    return *o ? 0 : RAY_EINVAL;
}

int client_hold_release(ray_id id)
{
    pthread_mutex_lock(&ray_cl.lock);
    if (ray_cl.holds[id.slot] != id.gen) {
        pthread_mutex_unlock(&ray_cl.lock);
        char buf[64];
        ray_id_format(id, buf, sizeof(buf));
        return ray_err(RAY_EINVAL, "ref %s is not held by this process (released twice?)",
                       buf);
    }
    ray_cl.holds[id.slot] = 0;
    pthread_mutex_unlock(&ray_cl.lock);
    store_obj_unref(cl_store(), id.slot);
    return 0;
}

void client_hold_release_since(size_t mark)
{
    pthread_mutex_lock(&ray_cl.lock);
    size_t n = ray_cl.held.len;
    for (size_t i = mark; i < n; i++) {
        sched_out h = RAY_VEC_AT(&ray_cl.held, sched_out, i);
        if (ray_cl.holds[h.slot] == h.gen) {
            ray_cl.holds[h.slot] = 0;
            store_obj_unref(cl_store(), h.slot);
        }
    }
    ray_cl.held.len = mark;
    pthread_mutex_unlock(&ray_cl.lock);
}
