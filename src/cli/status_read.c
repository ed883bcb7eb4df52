/*
 * status_read.c - `ray-mpi status` reading one node's control region (a
 * read-only mapping of a live job's shared memory) into an st_node.
 * Nothing here writes the region or takes its locks: counts are read as
 * they are, every index is checked against the layout before it is
 * followed, every count is clamped, and tables are scanned only below
 * their high-water marks (reading untouched pages of a shared memfd would
 * allocate them).  A job that is ending goes on being readable: the
 * mapping keeps the memfd alive, and its size is sealed (no SIGBUS).
 */
#define _GNU_SOURCE
#include "status.h"

#include <stdio.h>
#include <string.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* One region being read. */
typedef struct rd {
    st_node *n;
    uint8_t *base; /* the region, read through PROT_READ only */
    sched_layout l;
    sched_region *r;
    sched s;          /* what sched_task_decode reads: objects, arena (read-only) */
    uint32_t task_hw; /* slots below these were ever used */
    uint32_t obj_hw;  /* 0: the object table is not read */
    uint32_t actor_hw;
} rd;

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (len == 4 && s[0] == 0xf0 && s[1] < 0x90) || (len == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return len;
}

void status_str(char *dst, size_t cap, const char *src, size_t max)
{
    unsigned char s[PATH_MAX]; /* read once: the source may be shared memory */
    size_t i = 0, o = 0, n = 0, m = RAY_MIN(max, sizeof(s));
    memcpy(s, src, m);
    while (n < m && s[n])
        n++;
    while (i < n && o + 1 < cap) {
        size_t len = s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
        if (len > 1 && o + len < cap) {
            memcpy(dst + o, s + i, len);
            o += len;
            i += len;
            continue;
        }
        dst[o++] = len == 1 && s[i] >= 0x20 && s[i] != 0x7f ? (char)s[i] : '?';
        i += len > 1 ? len : 1;
    }
    if (cap)
        dst[o] = 0;
}

static int fail(st_node *n, const char *what)
{
    snprintf(n->err, sizeof(n->err), "%s", what);
    return -1;
}

static int attach(rd *d, const st_maps *m)
{
    st_node *n = d->n;
    if (m->ctl_size < sizeof(sched_layout))
        return fail(n, "control region too small");
    memcpy(&d->l, m->ctl, sizeof(d->l));
    if (sched_layout_check(&d->l) || d->l.total != m->ctl_size)
        return fail(n, "control region layout not understood (another ray-mpi version?)");
    uint8_t *base = d->base = (uint8_t *)(uintptr_t)m->ctl;
    d->r = (sched_region *)(base + d->l.sched_off);
    sched_region *r = d->r;
    if (r->max_tasks != d->l.max_tasks || r->max_clients != d->l.max_clients ||
        r->max_actors != d->l.max_actors || r->node != n->info.node ||
        r->num_nodes != n->info.num_nodes)
        return fail(n, "scheduler header does not match the layout and node.info");
    d->s.tasks = (sched_task *)(base + d->l.tasks_off);
    d->s.clients = (char *)base + d->l.clients_off;
    d->s.client_size = d->l.client_size;
    d->s.max_clients = d->l.max_clients;
    d->s.actors = (sched_actor *)(base + d->l.actors_off);
    d->s.r = r;
    d->task_hw = RAY_MIN(ray_freelist_high_water(&r->task_slots), d->l.max_tasks);
    d->actor_hw = RAY_MIN(ray_freelist_high_water(&r->actor_slots), d->l.max_actors);
    store *st = &d->s.st;
    st->max_objects = d->l.max_objects;
    st->objs = (store_obj *)(base + d->l.store_off + store_objs_offset());
    st->objs_ro = st->objs;
    if (m->arena && m->arena_size == d->l.arena_size) {
        st->arena_ro = m->arena;
        st->arena_size = m->arena_size;
    }
    return 0;
}

static void read_store(rd *d)
{
    st_node *n = d->n;
    store_stats ss;
    if (store_peek_stats(d->base + d->l.store_off, d->l.arena_size, d->l.max_objects, d->r->tag,
                         d->s.st.objs, &ss))
        return;
    n->store_ok = 1;
    d->obj_hw = ss.table_high_water;
    n->store_capacity_bytes = ss.capacity_bytes;
    n->store_used_bytes = ss.used_bytes;
    n->objects_live = ss.objects_live;
}

static sched_client *client(const rd *d, uint32_t i)
{
    return sched_client_at(&d->s, i);
}

/* The pid of client slot i if it is in use, else 0. */
static int client_pid(const rd *d, uint32_t i)
{
    if (i >= d->l.max_clients || LOAD(client(d, i)->state) == CLIENT_FREE)
        return 0;
    int pid = client(d, i)->pid;
    return pid > 0 ? pid : 0;
}

static void read_clients(rd *d)
{
    st_node *n = d->n;
    n->tasks_done = LOAD(d->r->tasks_done_gone);
    for (uint32_t i = 0; i < d->l.max_clients; i++) {
        sched_client *c = client(d, i);
        uint32_t state = LOAD(c->state), kind = c->kind;
        if (state == CLIENT_FREE)
            continue;
        n->tasks_done += LOAD(c->tasks_done);
        if (kind >= ST_KINDS || state >= ST_STATES)
            continue;
        n->clients[kind][state]++;
        if (kind == CLIENT_DRIVER && state != CLIENT_DEAD && c->pid > 0)
            n->driver_pid = c->pid;
    }
}

static void read_actors(rd *d)
{
    st_node *n = d->n;
    for (uint32_t a = 1; a < d->actor_hw; a++) {
        sched_actor *s = &d->s.actors[a];
        uint32_t state = LOAD(s->state);
        if (state == ACTOR_FREE)
            continue;
        if (state == ACTOR_ALIVE)
            n->gpu_held_milli += s->gpu_milli;
        if (n->nactors++ >= ST_ACTORS_SHOWN)
            continue;
        st_actor *o = &n->actors[n->nactors - 1];
        status_str(o->name, sizeof(o->name), s->name, sizeof(s->name));
        o->state = state;
        o->calls_queued = LOAD(s->calls.len);
        uint32_t w = s->worker;
        if (w < d->l.max_clients && client(d, w)->kind == CLIENT_ACTOR && client(d, w)->actor == a)
            o->pid = client_pid(d, w);
    }
}

/* Keeps the ST_WAIT_SHOWN oldest waiting tasks' slots, oldest first
 * (unknown times last). */
static void wait_keep(uint32_t *slots, uint64_t *since, uint32_t *nkept, uint32_t t, uint64_t q)
{
    uint64_t key = q ? q : UINT64_MAX;
    uint32_t i = *nkept < ST_WAIT_SHOWN ? (*nkept)++ : ST_WAIT_SHOWN;
    for (; i > 0 && since[i - 1] > key; i--)
        if (i < ST_WAIT_SHOWN) {
            slots[i] = slots[i - 1];
            since[i] = since[i - 1];
        }
    if (i < ST_WAIT_SHOWN) {
        slots[i] = t;
        since[i] = key;
    }
}

static void running_add(rd *d, const sched_task *k, uint32_t state)
{
    st_node *n = d->n;
    if (k->kind == TASK_NORMAL)
        n->gpu_held_milli += k->gpu_milli;
    if (n->nrunning >= ST_RUNNING_SHOWN)
        return;
    st_running *o = &n->running[n->nrunning++];
    status_str(o->name, sizeof(o->name), k->name, sizeof(k->name));
    o->pid = client_pid(d, TASK_WORKER(state));
}

static void wait_fill(rd *d, uint32_t t, st_wait *w);

/* Whether WAITING task t is the creation spec a live actor keeps for its
 * restarts (it stays WAITING while the actor lives) rather than a wait. */
static int kept_spec(const rd *d, uint32_t t, const sched_task *k)
{
    if (k->kind != TASK_ACTOR_CREATE || !k->actor || k->actor >= d->actor_hw)
        return 0;
    sched_actor *a = &d->s.actors[k->actor];
    uint32_t state = LOAD(a->state);
    return a->create_task == t && (state == ACTOR_ALIVE || state == ACTOR_DEAD);
}

static void read_tasks(rd *d)
{
    st_node *n = d->n;
    uint32_t slots[ST_WAIT_SHOWN];
    uint64_t since[ST_WAIT_SHOWN];
    uint32_t nkept = 0;
    uint64_t live = 0;
    for (uint32_t t = 1; t < d->task_hw; t++) {
        sched_task *k = &d->s.tasks[t];
        uint32_t state = LOAD(k->state);
        live += TASK_STATE(state) != TASK_FREE;
        switch (TASK_STATE(state)) {
        case TASK_QUEUED:
            n->tasks_queued++;
            break;
        case TASK_RUNNING:
            n->tasks_running++;
            running_add(d, k, state);
            break;
        case TASK_WAITING:
            if (kept_spec(d, t, k))
                break;
            n->tasks_waiting++;
            wait_keep(slots, since, &nkept, t, k->queued_ns);
            break;
        }
    }
    for (uint32_t i = 0; i < nkept; i++)
        wait_fill(d, slots[i], &n->wait[n->nwait++]);
    if (LOAD(d->r->tasks_doubt)) /* the counter may be off: the table is exact */
        n->tasks_live = live;
}

/* The task making object o (slot, gen), if o is still pending and its
 * producer's outputs name it: its name into out. */
static void producer_name(rd *d, uint32_t o, uint32_t gen, char *out, size_t cap)
{
    uint32_t t = d->s.st.objs[o].task;
    if (!t || t >= d->task_hw)
        return;
    sched_task k;
    memcpy(&k, &d->s.tasks[t], sizeof(k));
    if (k.body_obj && k.body_obj >= d->obj_hw)
        return;
    const sched_out *outs;
    uint32_t nret = sched_task_outputs(&d->s, &k, &outs);
    for (uint32_t i = 0; i < nret; i++)
        if (outs[i].slot == o && outs[i].gen == gen) {
            status_str(out, cap, k.name, sizeof(k.name));
            return;
        }
}

/* Argument i (a ref) of a waiting task: 1 if it is not ready. */
static int arg_unready(rd *d, st_wait *w, int i, ray_id id)
{
    const char *state = NULL;
    if (id.kind != RAY_ID_OBJECT)
        return 0;
    if (id.node != d->r->node || id.tag != d->r->tag)
        state = "remote";
    else if (!id.slot || id.slot >= d->obj_hw || d->s.st.objs[id.slot].gen != id.gen)
        state = "freed";
    else {
        uint32_t s = STORE_STATE(LOAD(d->s.st.objs[id.slot].state));
        if (s >= STORE_SEALED)
            return 0;
        state = s == STORE_PENDING ? "pending" : s == STORE_CREATED ? "created" : "freed";
        if (s == STORE_PENDING)
            producer_name(d, id.slot, id.gen, w->arg_producer, sizeof(w->arg_producer));
    }
    w->arg_index = i;
    ray_id_format(id, w->arg_obj, sizeof(w->arg_obj));
    snprintf(w->arg_state, sizeof(w->arg_state), "%s", state);
    return 1;
}

/* What waiting task t (its slot copied once) waits for: its first unready
 * argument, else the resources it asks for beyond what is free. */
static void wait_fill(rd *d, uint32_t t, st_wait *w)
{
    sched_task k;
    memcpy(&k, &d->s.tasks[t], sizeof(k));
    status_str(w->name, sizeof(w->name), k.name, sizeof(k.name));
    w->kind = k.kind;
    w->queued_ns = k.queued_ns;
    w->cpu_milli = k.cpu_milli;
    w->gpu_milli = k.gpu_milli;
    w->arg_index = -1;
    const sched_out *outs;
    sched_args a;
    if (!d->obj_hw || (k.body_obj && k.body_obj >= d->obj_hw) ||
        sched_args_decode(&d->s, &k, &outs, &a))
        return;
    w->spec_ok = 1;
    for (uint32_t i = 0; i < a.n && w->why != ST_WHY_ARGS; i++)
        if (a.v[i].kind == SCHED_ARG_REF && arg_unready(d, w, (int)i, a.v[i].ref))
            w->why = ST_WHY_ARGS;
    sched_args_free(&a);
    int len;
    const char *res = sched_task_res(&d->s, &k, &len);
    if (res)
        status_str(w->res, sizeof(w->res), res, (size_t)len);
    double gpu_free = d->n->total_gpus * 1000.0 - d->n->gpu_held_milli;
    if (w->why == ST_WHY_ARGS)
        return;
    if (k.node != SCHED_NODE_ANY && k.node != d->r->node && k.node < d->r->num_nodes) {
        w->why = ST_WHY_NODE; /* handed to that node, which runs it */
        w->node = k.node;
    } else if ((int64_t)w->cpu_milli > d->n->cpu_avail || w->gpu_milli > gpu_free + 1e-6 ||
               w->res[0]) {
        w->why = ST_WHY_RES;
    }
}

int status_read(st_node *n, const st_maps *m)
{
    rd d = {.n = n};
    if (attach(&d, m))
        return -1;
    sched_region *r = d.r;
    n->tag = r->tag;
    n->total_cpus = r->total_cpus;
    n->total_gpus = r->total_gpus;
    if (!(n->total_cpus >= 0 && n->total_cpus < 1e7) ||
        !(n->total_gpus >= 0 && n->total_gpus < 1e6))
        return fail(n, "scheduler header holds nonsense resources");
    n->cpu_avail = LOAD(r->cpu_avail);
    n->tasks_live = LOAD(r->tasks_live);
    n->ready_len = LOAD(r->ready.len);
    n->workers_alive = LOAD(r->workers_alive);
    n->actors_alive = LOAD(r->actors_alive);
    n->net_msgs_in = LOAD(r->net_msgs_in);
    n->net_msgs_out = LOAD(r->net_msgs_out);
    n->net_bytes_in = LOAD(r->net_bytes_in);
    if (LOAD(r->fatal))
        status_str(n->fatal, sizeof(n->fatal), r->fatal_msg, sizeof(r->fatal_msg));
    if (!n->fatal[0] && LOAD(r->fatal))
        snprintf(n->fatal, sizeof(n->fatal), "(no message)");
    read_store(&d);
    read_clients(&d);
    read_actors(&d);
    read_tasks(&d);
    return 0;
}
