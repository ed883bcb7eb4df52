/*
 * service.c - the node service's half of the local scheduler: its life (the
 * control region, the arena, its tables), the message loop over every
 * process's ring, waits that go to sleep, and the tick.  Everything a ready
 * default-class task does not need happens in the node service; what it
 * holds and how it recovers from deaths live in the files service.h lists.
 *
 * It never blocks: every message is handled from the rings in one pass and
 * processes it must wake are rung once per pass.
 */
#define _GNU_SOURCE
#include "service.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

sched *sched_service_shm(sched_service *svc)
{
    return &svc->sh;
}

void sched_service_resources(sched_service *svc, double *cpus, double *gpus, const char **res)
{
    *cpus = svc->cpus;
    *gpus = svc->gpus;
    *res = svc->cfg.resources ? svc->cfg.resources : "";
}

void sched_service_set_tag(sched_service *svc, uint16_t tag)
{
    svc->sh.r->tag = tag;
    store_set_tag(&svc->sh.st, tag);
}

uint16_t sched_service_tag(sched_service *svc) { return svc->sh.r->tag; }
int sched_service_ctl_fd(const sched_service *svc)
{
    return svc->ctl_fd;
}
int sched_service_arena_fd(const sched_service *svc)
{
    return svc->arena_fd;
}
int sched_service_efd(const sched_service *svc)
{
    return svc->efd;
}
uint64_t sched_service_ctl_size(const sched_service *svc)
{
    return svc->l.total;
}
uint64_t sched_service_arena_size(const sched_service *svc)
{
    return svc->l.arena_size;
}

void sched_service_on_spawn(sched_service *svc, sched_spawn_cb cb, void *arg)
{
    svc->on_spawn = cb;
    svc->on_spawn_arg = arg;
}

void sched_service_capture_output(sched_service *svc, int on) { svc->capture = on; }

void sched_service_on_gone(sched_service *svc, sched_gone_cb cb, void *arg)
{
    svc->on_gone = cb;
    svc->on_gone_arg = arg;
}

svc_client *svc_client_at(sched_service *svc, uint32_t slot)
{
    return slot < svc->ncl && svc->cl[slot].used ? &svc->cl[slot] : NULL;
}

void svc_handed(sched_service *svc, uint32_t from, uint32_t t, uint32_t gen)
{
    uint64_t w = sched_pack(t, gen);
    atomic_compare_exchange_strong(&sched_client_at(&svc->sh, from)->building, &w, 0);
    sched_task *k = &svc->sh.tasks[t];
    if (!k->queued_ns) /* a submitter that does not keep the timeline left it */
        k->queued_ns = ray_now_ns();
}

void svc_wake(sched_service *svc, uint32_t slot)
{
    svc_client *c = svc_client_at(svc, slot);
    if (c && !c->wake) {
        c->wake = 1;
        svc->wakes[svc->nwakes++] = slot;
    }
}

void svc_flush_wakes(sched_service *svc)
{
    for (uint32_t i = 0; i < svc->nwakes; i++) {
        uint32_t slot = svc->wakes[i];
        sched_client *sc = sched_client_at(&svc->sh, slot);
        svc->cl[slot].wake = 0;
        atomic_fetch_add(&sc->doorbell, 1);
        ray_futex_wake(&sc->doorbell, 1 << 30);
    }
    svc->nwakes = 0;
}

int svc_task_valid(sched_service *svc, uint32_t t, uint32_t gen)
{
    return t && t < svc->sh.r->max_tasks && svc->sh.tasks[t].gen == gen;
}

int svc_obj_valid(sched_service *svc, uint32_t slot)
{
    return slot && slot < svc->sh.st.max_objects;
}

void svc_reply(sched_service *svc, uint32_t slot, uint32_t req, int code, const void *data,
               uint32_t len)
{
    svc_client *c = svc_client_at(svc, slot);
    if (!c)
        return;
    msg_reply *m = ray_ring_reserve(&c->s2c, MSG_REPLY, (uint32_t)sizeof(*m) + len);
    if (!m) {
        ray_warn("sched", "reply ring of client %u full; reply dropped", slot);
        return;
    }
    m->req = req;
    m->code = code;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    ray_ring_commit(&c->s2c);
    svc_wake(svc, slot);
}

static void on_wait(sched_service *svc, uint32_t from, const msg_wait *m, uint32_t len)
{
    svc_client *c = &svc->cl[from];
    if (len < sizeof(*m) || m->n > (len - sizeof(*m)) / sizeof(sched_out))
        return;
    if ((m->flags & MSG_WAIT_BLOCKED) && !c->blocked) {
        c->blocked = 1;
        svc_pool_check(svc);
        /* It lent its CPU before saying so: what waits for CPU may fit
         * now (cpu_wanted, which would have woken us, is set only while
         * the pool holds enough). */
        if (svc->shaped.len || svc->actors_waiting.len)
            svc_schedule_pending(svc);
    }
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t o = m->objs[i].slot;
        if (!svc_obj_valid(svc, o) || svc->sh.st.objs[o].gen != m->objs[i].gen ||
            svc_watch(svc, o))
            svc_wake(svc, from);
        else
            svc_waiter_add(svc, o, WAITER_CLIENT, from, c->gen);
    }
}

static void on_unblocked(sched_service *svc, uint32_t from)
{
    svc->cl[from].blocked = 0;
}

static void handle(sched_service *svc, uint32_t from, uint16_t type, const void *p, uint32_t len)
{
    switch (type) {
    case MSG_SUBMIT:
    case MSG_SUBMIT_NAMED: {
        /* Only a task handed to the service, once: WAITING and not taken,
         * or cancelled while it was on its way (the service frees it). */
        const msg_task *m = p;
        if (len < sizeof(*m) || !svc_task_valid(svc, m->slot, m->gen) ||
            svc->owned[m->slot] == m->gen)
            return;
        svc_handed(svc, from, m->slot, m->gen);
        uint32_t s = atomic_load(&svc->sh.tasks[m->slot].state);
        if (s == TASK_TAGGED(TASK_CANCELLED, m->gen) + TASK_F_WAS_WAITING)
            sched_task_dispose(&svc->sh, m->slot);
        else if (s == TASK_TAGGED(TASK_WAITING, m->gen) && type == MSG_SUBMIT_NAMED)
            svc_named_add(svc, m->slot, m->gen); /* its sealers take it (hints.c) */
        else if (s == TASK_TAGGED(TASK_WAITING, m->gen) &&
                 svc->sh.tasks[m->slot].kind == TASK_NORMAL)
            svc_take_task(svc, m->slot);
        else if (s == TASK_TAGGED(TASK_WAITING, m->gen) && svc->cluster &&
                 svc->sh.tasks[m->slot].kind == TASK_ACTOR_CALL)
            remote_forward(svc, m->slot, svc->sh.tasks[m->slot].node); /* in call order */
        return;
    }
    case MSG_NOTIFY:
        if (len >= sizeof(msg_notify) && svc_obj_valid(svc, ((const msg_notify *)p)->slot))
            svc_run_waiters(svc, ((const msg_notify *)p)->slot);
        return;
    case MSG_WAIT:
        on_wait(svc, from, p, len);
        return;
    case MSG_UNBLOCKED:
        on_unblocked(svc, from);
        return;
    case MSG_CANCEL:
        if (len >= sizeof(msg_cancel))
            svc_on_cancel(svc, p);
        return;
    case MSG_DONE:
        svc_on_done(svc, from);
        return;
    case MSG_ACTOR_CREATE:
        svc_on_actor_create(svc, from, p, len);
        return;
    case MSG_ACTOR_GET:
        svc_on_actor_get(svc, from, p, len);
        return;
    case MSG_ACTOR_KILL:
        if (len >= sizeof(msg_actor_req))
            svc_on_actor_kill(svc, from, p);
        return;
    case MSG_ACTOR_STARTED:
        svc_on_actor_started(svc, from, p, len);
        return;
    case MSG_ACTOR_EXIT:
        svc_on_actor_exit(svc, from);
        return;
    case MSG_COPY:
        svc_on_proxy(svc, from, p, len);
        return;
    case MSG_RECLAIM:
        svc_on_reclaim(svc, from, p, len);
        return;
    default:
        ray_warn("sched", "client %u sent unknown message type %u", from, type);
    }
}

int svc_drain(sched_service *svc, uint32_t from)
{
    svc_client *c = &svc->cl[from];
    int n = 0;
    for (; n < 4096; n++) {
        uint16_t type;
        uint32_t len;
        int err;
        const void *p = ray_ring_peek(&c->c2s, &type, &len, &err);
        if (err) {
            ray_error("sched", "client %u (pid %d) wrote a malformed message; ending it", from,
                      c->pid);
            if (c->pid > 0 && c->kind != CLIENT_DRIVER)
                kill(c->pid, SIGKILL);
            c->connected = 0;
            break;
        }
        if (!p)
            break;
        /* Copy before use: the sender could still write into its ring. */
        if (len > sizeof(svc->msgbuf))
            len = 0;
        memcpy(svc->msgbuf, p, len);
        ray_ring_pop(&c->c2s);
        handle(svc, from, type, svc->msgbuf, len);
    }
    if (n)
        ray_ring_done(&c->c2s);
    return n;
}

int sched_service_poll(sched_service *svc)
{
    int n = 0;
    /* By index: a message may start a process (appended to live). */
    for (uint32_t k = 0; k < svc->nlive; k++)
        if (svc->cl[svc->live[k]].connected)
            n += svc_drain(svc, svc->live[k]);
    sched_region *r = svc->sh.r;
    if (atomic_load_explicit(&r->spawn_hint, memory_order_relaxed)) {
        atomic_store(&r->spawn_hint, 0);
        svc_pool_check(svc);
    }
    if (atomic_load_explicit(&r->cpu_wanted, memory_order_relaxed))
        svc_schedule_pending(svc);
    svc_flush_wakes(svc);
    return n;
}

int sched_service_shutdown(sched_service *svc, int force)
{
    sched *sh = &svc->sh;
    svc->shutting_down = 1;
    FOR_LIVE(svc, i)
    {
        svc_client *c = &svc->cl[i];
        if (c->kind == CLIENT_DRIVER || c->pid <= 0)
            continue;
        if (force) {
            kill(c->pid, SIGKILL);
            continue;
        }
        svc_tell_exit(svc, i);
        if (c->kind == CLIENT_ACTOR)
            ray_evc_signal(&svc_actor(svc, c->actor)->calls.evc, 1 << 30);
    }
    ray_evc_signal(&sh->r->ready.evc, 1 << 30);
    ray_evc_signal(&sh->r->cpu_evc, 1 << 30);
    return sched_service_children(svc) > 0;
}

int sched_service_tick(sched_service *svc)
{
    uint64_t now = ray_now_ns();
    if (svc->shaped.len || svc->actors_waiting.len)
        svc_schedule_pending(svc); /* a safety net: resources come back by other roads too */
    svc_pending_warn(svc);
    svc_named_prune(svc);
    if (svc->cluster)
        pull_sweep(svc);
    uint64_t idle_ns = (uint64_t)(svc->cfg.worker_idle_s * 1e9);
    uint32_t target = (uint32_t)ceil(svc->cpus - 1e-9);
    pool_counts pc = svc_pool_count(svc);
    uint32_t pool_runnable = pc.alive - pc.blocked;
    FOR_LIVE(svc, i)
    {
        svc_client *c = &svc->cl[i];
        if (svc->shutting_down || !c->connected || c->exit_ns)
            continue;
        sched_client *sc = sched_client_at(&svc->sh, i);
        if (atomic_load(&sc->state) != CLIENT_IDLE ||
            now - atomic_load(&sc->last_active_ns) < idle_ns)
            continue;
        if ((c->kind == CLIENT_POOL && pool_runnable > target) ||
            (c->kind == CLIENT_DEDICATED && !c->task)) {
            if (c->kind == CLIENT_POOL)
                pool_runnable--;
            svc_tell_exit(svc, i);
            ray_evc_signal(&svc->sh.r->ready.evc, 1 << 30);
        }
    }
    /* Processes told to exit get the shutdown timeout, then SIGKILL. */
    uint64_t grace = (uint64_t)(svc->cfg.shutdown_timeout_s * 1e9);
    FOR_LIVE(svc, i)
    {
        svc_client *c = &svc->cl[i];
        if (c->exit_ns && c->pid > 0 && now - c->exit_ns > grace) {
            ray_warn("sched", "pid %d did not exit %.0f s after being asked; killing it", c->pid,
                     svc->cfg.shutdown_timeout_s);
            kill(c->pid, SIGKILL);
            c->exit_ns = now; /* once per grace period */
        }
    }
    return 250;
}

int sched_service_create(const sched_service_opts *o, sched_service **out)
{
    sched_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return ray_err(RAY_ENOMEM, "out of memory");
    if (!o->topo) {
        free(svc);
        return ray_err(RAY_EINVAL, "a node service needs its node's topology");
    }
    svc->cfg = *o->cfg;
    svc->cpus = o->cpus;
    svc->gpus = o->gpus;
    svc->node = o->node;
    svc->num_nodes = o->num_nodes;
    svc->exe = strdup(o->exe);
    size_t argc = 0;
    while (o->argv && o->argv[argc])
        argc++;
    svc->argv = calloc(argc + 2, sizeof(char *));
    for (size_t i = 0; svc->argv && i < argc; i++)
        svc->argv[i] = strdup(o->argv[i]);
    if (svc->argv && !argc)
        svc->argv[0] = strdup(o->exe);
    svc->ctl_fd = svc->arena_fd = svc->efd = -1;
    int rc = RAY_ENOMEM;
    if (!svc->exe || !svc->argv)
        goto fail;
    svc->nres = o->resources ? svc_res_parse(o->resources, (int)strlen(o->resources), svc->res) : 0;
    if (svc->nres < 0) {
        rc = ray_err(RAY_EINVAL, "RAY_MPI_RESOURCES: %s", ray_last_error());
        goto fail;
    }
    const ray_config *cf = o->cfg;
    if (cf->max_workers > 60000 || cf->max_objects < 1024 || cf->max_objects > (1u << 30) ||
        cf->max_tasks < 1024 || cf->max_tasks > (1u << 28) || cf->max_actors < 16 ||
        cf->max_actors > (1u << 24)) {
        rc = ray_err(RAY_EINVAL, "settings out of range: RAY_MPI_MAX_WORKERS <= 60000, "
                                 "RAY_MPI_MAX_OBJECTS 1024..2^30, RAY_MPI_MAX_TASKS 1024..2^28, "
                                 "RAY_MPI_MAX_ACTORS 16..2^24");
        goto fail;
    }
    svc->max_workers = (uint32_t)cf->max_workers;
    svc->ncl = svc->max_workers + 16;
    uint64_t arena = o->cfg->object_store_memory;
    sched_layout_compute(&svc->l, (uint32_t)o->cfg->max_objects, (uint32_t)o->cfg->max_tasks,
                         svc->ncl, (uint32_t)o->cfg->max_actors, arena);
    if ((svc->ctl_fd = ray_memfd_create("ray-mpi-control", svc->l.total)) < 0 ||
        (svc->arena_fd = ray_memfd_create("ray-mpi-store", arena)) < 0) {
        rc = RAY_ESYS;
        goto fail;
    }
    svc->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (svc->efd < 0) {
        rc = ray_err_sys("eventfd");
        goto fail;
    }
    void *ctl = ray_map(svc->ctl_fd, svc->l.total, PROT_READ | PROT_WRITE);
    if (!ctl) {
        rc = RAY_ESYS;
        goto fail;
    }
    sched_region_init(ctl, &svc->l, o->node, o->num_nodes, o->tag, o->cpus, o->gpus);
    ray_unmap(ctl, svc->l.total);
    if ((rc = sched_attach(&svc->sh, svc->ctl_fd, svc->l.total, svc->arena_fd, arena, svc->efd, 0)))
        goto fail;
    /* First touch places pages: the arena's policy before anyone writes. */
    if (topo_area_bind(o->topo, svc->sh.st.arena, arena))
        ray_warn("topo", "object store memory left unbound: %s", ray_last_error());
    svc->topo = o->topo;
    svc->plan = calloc(svc->max_workers ? svc->max_workers : 1, sizeof(*svc->plan));
    if (!svc->plan || (rc = topo_busy_create(o->topo, &svc->busy)) ||
        (rc = topo_plan_pool(o->topo, svc->max_workers, svc->plan)))
        goto fail;
    svc->cl = calloc(svc->ncl, sizeof(*svc->cl));
    svc->live = calloc(svc->ncl, sizeof(*svc->live));
    svc->wakes = calloc(svc->ncl, sizeof(*svc->wakes));
    svc->owned = ray_reserve((size_t)svc->l.max_tasks * sizeof(uint32_t));
    svc->missing = ray_reserve((size_t)svc->l.max_tasks * sizeof(uint32_t));
    svc->g = gcs_create();
    if (!svc->cl || !svc->live || !svc->wakes || !svc->owned || !svc->missing || !svc->g) {
        rc = ray_err(RAY_ENOMEM, "out of memory for the node service's tables");
        goto fail;
    }
    svc_recovery_init(svc);
    ray_map64_init(&svc->wait_heads);
    ray_vec_init(&svc->wpool, sizeof(waiter));
    ray_vec_init(&svc->shaped, sizeof(pend));
    ray_vec_init(&svc->named, sizeof(sched_out));
    ray_vec_init(&svc->actors_waiting, sizeof(pend));
    *out = svc;
    return 0;
fail:
    sched_service_destroy(svc);
    return rc;
}

void sched_service_destroy(sched_service *svc)
{
    if (!svc)
        return;
    if (svc->sh.ctl)
        sched_detach(&svc->sh);
    if (svc->ctl_fd >= 0)
        close(svc->ctl_fd);
    if (svc->arena_fd >= 0)
        close(svc->arena_fd);
    if (svc->efd >= 0)
        close(svc->efd);
    topo_busy_free(svc->busy);
    free(svc->plan);
    free(svc->cl);
    free(svc->live);
    free(svc->wakes);
    if (svc->owned)
        ray_unreserve(svc->owned, (size_t)svc->l.max_tasks * sizeof(uint32_t));
    if (svc->missing)
        ray_unreserve(svc->missing, (size_t)svc->l.max_tasks * sizeof(uint32_t));
    gcs_destroy(svc->g);
    ray_map64_free(&svc->wait_heads);
    ray_vec_free(&svc->wpool);
    ray_vec_free(&svc->shaped);
    ray_vec_free(&svc->named);
    ray_vec_free(&svc->actors_waiting);
    for (size_t i = 0; svc->argv && svc->argv[i]; i++)
        free(svc->argv[i]);
    free(svc->argv);
    free(svc->exe);
    free(svc);
}
