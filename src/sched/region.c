/*
 * region.c - layout of the control region (one memfd per node, mapped by
 * every process of the node) and attaching to it.  Offset 0 holds the
 * layout itself so a process learns every offset from the region; then the
 * store's part, the scheduler header, task slots, process slots and actor
 * slots, each page aligned and sparse until used.
 */
#include "sched.h"

#include <sys/mman.h>
#include <unistd.h>

#define LAYOUT_MAGIC 0x5241594d50494331ull /* "RAYMPIC1" */
#define SCHED_MAGIC 0x5343484544303031ull  /* "SCHED001" */
#define PAGE 4096u

static uint64_t page_up(uint64_t x) { return RAY_ALIGN_UP(x, (uint64_t)PAGE); }

void sched_layout_compute(sched_layout *l, uint32_t max_objects, uint32_t max_tasks,
                          uint32_t max_clients, uint32_t max_actors, uint64_t arena_size)
{
    memset(l, 0, sizeof(*l));
    l->magic = LAYOUT_MAGIC;
    l->max_objects = max_objects;
    l->max_tasks = max_tasks;
    l->max_clients = max_clients;
    l->max_actors = max_actors;
    l->arena_size = arena_size;
    l->store_off = PAGE;
    l->store_size = store_region_size(max_objects);
    l->sched_off = page_up(l->store_off + l->store_size);
    l->tasks_off = l->sched_off + page_up(sizeof(sched_region));
    l->clients_off = page_up(l->tasks_off + (uint64_t)max_tasks * sizeof(sched_task));
    l->client_size = page_up(sizeof(sched_client)) + SCHED_C2S_RING + SCHED_S2C_RING +
                     (uint64_t)SCHED_HELD_MAX * sizeof(sched_out);
    l->actors_off = l->clients_off + (uint64_t)max_clients * l->client_size;
    l->hints_off = page_up(l->actors_off + (uint64_t)max_actors * sizeof(sched_actor));
    l->total = page_up(l->hints_off + (uint64_t)max_objects * sizeof(sched_hint));
}

int sched_layout_check(const sched_layout *l)
{
    sched_layout want;
    if (l->magic != LAYOUT_MAGIC)
        return ray_err(RAY_EPROTO, "control region layout: magic %llx",
                       (unsigned long long)l->magic);
    if (!l->max_clients || l->max_clients > 65536)
        return ray_err(RAY_EPROTO, "control region layout: %u process slots", l->max_clients);
    /* Every offset follows from the five sizes: anything else was not
     * written by sched_layout_compute. */
    sched_layout_compute(&want, l->max_objects, l->max_tasks, l->max_clients, l->max_actors,
                         l->arena_size);
    if (memcmp(&want, l, sizeof(want)))
        return ray_err(RAY_EPROTO, "control region layout: offsets do not follow from its "
                                   "sizes (%u objects, %u tasks, %u processes, %u actors)",
                       l->max_objects, l->max_tasks, l->max_clients, l->max_actors);
    return 0;
}

static void client_ring_data(const sched *s, uint32_t i, void **c2s, void **s2c)
{
    char *base = (char *)sched_client_at(s, i) + page_up(sizeof(sched_client));
    *c2s = base;
    *s2c = base + SCHED_C2S_RING;
}

sched_out *sched_client_held(const sched *s, uint32_t i)
{
    return (sched_out *)((char *)sched_client_at(s, i) + page_up(sizeof(sched_client)) +
                         SCHED_C2S_RING + SCHED_S2C_RING);
}

void sched_client_rings(const sched *s, uint32_t i, ray_ring *c2s, ray_ring *s2c)
{
    sched_client *c = sched_client_at(s, i);
    void *d1, *d2;
    client_ring_data(s, i, &d1, &d2);
    if (c2s)
        ray_ring_attach(c2s, &c->c2s, d1, SCHED_C2S_RING);
    if (s2c)
        ray_ring_attach(s2c, &c->s2c, d2, SCHED_S2C_RING);
}

void sched_region_init(void *ctl, const sched_layout *l, uint32_t node, uint32_t num_nodes,
                       uint16_t tag, double cpus, double gpus)
{
    memcpy(ctl, l, sizeof(*l));
    store_region_init((char *)ctl + l->store_off, l->max_objects, l->arena_size, tag);
    sched_region *r = (sched_region *)((char *)ctl + l->sched_off);
    memset(r, 0, sizeof(*r));
    r->magic = SCHED_MAGIC;
    r->max_tasks = l->max_tasks;
    r->max_clients = l->max_clients;
    r->max_actors = l->max_actors;
    r->node = node;
    r->num_nodes = num_nodes;
    r->tag = tag;
    r->total_cpus = r->max_node_cpus = cpus;
    r->total_gpus = r->max_node_gpus = gpus;
    ray_freelist_init(&r->task_slots, l->max_tasks);
    ray_freelist_init(&r->actor_slots, l->max_actors);
    sched_queue_init(&r->ready);
    atomic_store(&r->cpu_avail, (int32_t)(cpus * 1000.0 + 0.5));
    /* Client and actor slots are zero (free) in a fresh memfd; only the
     * rings need their sizes. */
    sched tmp = {0};
    tmp.clients = (char *)ctl + l->clients_off;
    tmp.client_size = l->client_size;
    for (uint32_t i = 0; i < l->max_clients; i++) {
        sched_client *c = sched_client_at(&tmp, i);
        ray_ring_init(&c->c2s, SCHED_C2S_RING);
        ray_ring_init(&c->s2c, SCHED_S2C_RING);
        sched_queue_init(&c->mailbox);
    }
}

int sched_attach(sched *s, int ctl_fd, uint64_t ctl_size, int arena_fd, uint64_t arena_size,
                 int svc_efd, uint16_t client)
{
    memset(s, 0, sizeof(*s));
    s->svc_efd = svc_efd;
    sched_layout l;
    if (pread(ctl_fd, &l, sizeof(l), 0) != (ssize_t)sizeof(l) || l.magic != LAYOUT_MAGIC ||
        l.total != ctl_size || l.arena_size != arena_size)
        return ray_err(RAY_EPROTO, "control region of the node service does not match "
                                   "(a different ray-mpi version?)");
    int rc = sched_layout_check(&l);
    if (rc)
        return rc;
    s->ctl = ray_map(ctl_fd, ctl_size, PROT_READ | PROT_WRITE);
    if (!s->ctl)
        return RAY_ESYS;
    s->ctl_size = ctl_size;
    uint64_t objs_off = l.store_off + store_objs_offset();
    s->objs_ro_size = (uint64_t)l.max_objects * sizeof(store_obj);
    s->objs_ro = mmap(NULL, s->objs_ro_size, PROT_READ, MAP_SHARED | MAP_NORESERVE, ctl_fd,
                      (off_t)objs_off);
    if (s->objs_ro == MAP_FAILED) {
        s->objs_ro = NULL;
        ray_err_sys("mmap of the object table");
        sched_detach(s);
        return RAY_ESYS;
    }
    rc = store_attach(&s->st, (char *)s->ctl + l.store_off, s->objs_ro, arena_fd, arena_size);
    if (rc) {
        sched_detach(s);
        return rc;
    }
    if (s->st.max_objects != l.max_objects) { /* the store's header is shared too */
        sched_detach(s);
        return ray_err(RAY_EPROTO, "object store header says %u objects, the layout %u",
                       s->st.max_objects, l.max_objects);
    }
    s->st.client = client;
    s->r = (sched_region *)((char *)s->ctl + l.sched_off);
    if (s->r->magic != SCHED_MAGIC) {
        sched_detach(s);
        return ray_err(RAY_EPROTO, "scheduler header of the control region is corrupt");
    }
    s->tasks = (sched_task *)((char *)s->ctl + l.tasks_off);
    s->clients = (char *)s->ctl + l.clients_off;
    s->client_size = l.client_size;
    s->max_clients = l.max_clients;
    s->actors = (sched_actor *)((char *)s->ctl + l.actors_off);
    s->hints = (sched_hint *)((char *)s->ctl + l.hints_off);
    return 0;
}

void sched_detach(sched *s)
{
    store_detach(&s->st);
    ray_unmap(s->objs_ro, s->objs_ro_size);
    ray_unmap(s->ctl, s->ctl_size);
    s->objs_ro = NULL;
    s->ctl = NULL;
}
