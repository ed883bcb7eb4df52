/*
 * actors.c - actors' lives on this node: creation (a slot, the name, the
 * creation task kept for restarts), placement once its resources are
 * taken, start, death (its queue fails, its name goes), and the slot's
 * reuse once its process is gone.
 */
#define _GNU_SOURCE
#include "service.h"

#include <stdlib.h>

static void actor_fail_queue(sched_service *svc, uint32_t a, const char *msg)
{
    sched *sh = &svc->sh;
    uint32_t *ts = NULL;
    uint32_t n = sched_queue_close(sh, &svc_actor(svc, a)->calls, &ts);
    for (uint32_t i = 0; i < n; i++) {
        sched_task *k = &sh->tasks[ts[i]];
        uint32_t s = TASK_TAGGED(TASK_QUEUED, k->gen);
        if (atomic_compare_exchange_strong(&k->state, &s, TASK_TAGGED(TASK_CANCELLED, k->gen)))
            svc_task_fail(svc, ts[i], RAY_EACTOR, msg, 0);
        else
            sched_task_unlinked(sh, ts[i]);
    }
    free(ts);
}

void svc_actor_die(sched_service *svc, uint32_t a, int code, const char *msg)
{
    sched *sh = &svc->sh;
    sched_actor *ac = svc_actor(svc, a);
    uint32_t old = atomic_load(&ac->state);
    if (old == ACTOR_DEAD || old == ACTOR_FREE ||
        !atomic_compare_exchange_strong(&ac->state, &old, ACTOR_DEAD))
        return;
    ray_info("sched", "actor %u (%s) is dead: %s", a, ac->name, msg);
    uint32_t eo;
    if (store_obj_new(&sh->st, STORE_PENDING, 1, &eo) == 0) {
        store_obj_fail(&sh->st, eo, code, msg, strlen(msg));
        ac->err_obj = eo;
    }
    actor_fail_queue(svc, a, msg);
    if (ac->name[0])
        svc_name_del(svc, ac->name, (uint32_t)strlen(ac->name));
    if (old == ACTOR_ALIVE)
        atomic_fetch_sub(&sh->r->actors_alive, 1);
    /* Its process (if any) sees DEAD, finishes its call, runs fini, exits. */
    svc_client *c = svc_client_at(svc, ac->worker);
    if (c && c->kind == CLIENT_ACTOR && c->actor == a) {
        sched_client *sc = sched_client_at(sh, ac->worker);
        ray_evc_signal(&ac->calls.evc, 1 << 30);
        atomic_fetch_add(&sc->doorbell, 1);
        ray_futex_wake(&sc->doorbell, 1 << 30);
    } else {
        ac->worker = 0;
    }
}

/* The actor's slot is reusable once it is dead and its process gone: DEAD
 * -> FREE happens once, so the slot goes to the free list once. */
void svc_actor_release(sched_service *svc, uint32_t a)
{
    sched *sh = &svc->sh;
    sched_actor *ac = svc_actor(svc, a);
    uint32_t dead = ACTOR_DEAD;
    if (!atomic_compare_exchange_strong(&ac->state, &dead, ACTOR_FREE))
        return;
    uint32_t t = ac->create_task;
    if (t && svc_task_valid(svc, t, sh->tasks[t].gen) && svc->owned[t] == sh->tasks[t].gen) {
        svc->owned[t] = 0;
        sched_task_dispose(sh, t);
    }
    ac->create_task = 0;
    ac->worker = 0;
    ray_freelist_push(&sh->r->actor_slots, sh->actors, sizeof(sched_actor),
                      offsetof(sched_actor, next_free), a);
}

/* Starts the actor's process once its resources are taken (never the
 * other way round: a process that could not get its CPU would run init). */
void svc_actor_place(sched_service *svc, uint32_t a)
{
    sched_actor *ac = svc_actor(svc, a);
    uint32_t st = atomic_load(&ac->state);
    if ((st != ACTOR_PENDING && st != ACTOR_RESTARTING) || svc->shutting_down)
        return;
    sched_task *k = &svc->sh.tasks[ac->create_task];
    int res_len;
    const char *res = sched_task_res(&svc->sh, k, &res_len);
    grant g;
    uint32_t slot;
    ac->worker = 0;
    /* An actor that holds no CPU once it runs is not bound to one either. */
    if (!svc_acquire(svc, &g, ac->cpu_milli, ac->cpu_place_only ? 0 : ac->cpu_milli,
                     ac->gpu_milli, res, res_len)) {
        svc_pend_push(&svc->actors_waiting, a, ac->gen);
        return;
    }
    if (svc_spawn(svc, CLIENT_ACTOR, a, &slot)) {
        svc_grant_drop(svc, &g);
        svc_actor_die(svc, a, RAY_EACTOR, "cannot start a process for the actor");
        svc_actor_release(svc, a);
        return;
    }
    svc_grant_to(svc, &svc->cl[slot], &g);
    ac->worker = slot;
}

void svc_try_actors(sched_service *svc)
{
    /* Take the list: placing an actor may append to it again. */
    ray_vec todo = svc->actors_waiting;
    ray_vec_init(&svc->actors_waiting, sizeof(pend));
    for (size_t i = 0; i < todo.len; i++) {
        pend p = RAY_VEC_AT(&todo, pend, i);
        if (svc_actor(svc, p.slot)->gen != p.gen)
            continue;
        size_t before = svc->actors_waiting.len;
        svc_actor_place(svc, p.slot);
        if (svc->actors_waiting.len > before) /* still waiting: since when it first did */
            RAY_VEC_AT(&svc->actors_waiting, pend, before) = p;
    }
    ray_vec_free(&todo);
}

/* A creation task the service may take: valid, WAITING, not taken yet. */
static int creation_task_ok(sched_service *svc, uint32_t t, uint32_t gen)
{
    sched_task *k = svc_task_valid(svc, t, gen) ? &svc->sh.tasks[t] : NULL;
    return k && k->kind == TASK_ACTOR_CREATE && svc->owned[t] != gen &&
           atomic_load(&k->state) == TASK_TAGGED(TASK_WAITING, gen);
}

/* Makes an actor of creation task t (WAITING, not taken yet) here: a slot,
 * its name (in this node's table when register_name; with several nodes
 * rank 0 keeps the names), and its placement once its arguments are
 * ready.  The actor keeps t for restarts. */
int svc_actor_make(sched_service *svc, uint32_t t, const char *name, uint32_t name_len,
                   int register_name, uint32_t *aslot, uint32_t *agen)
{
    sched *sh = &svc->sh;
    uint32_t a = ray_freelist_pop(&sh->r->actor_slots, sh->actors, sizeof(sched_actor),
                                  offsetof(sched_actor, next_free));
    if (!a)
        return ray_err(RAY_ETOOBIG, "no free actor slot (raise RAY_MPI_MAX_ACTORS)");
    sched_actor *ac = svc_actor(svc, a);
    uint32_t gen = ray_gen_next(ac->gen);
    if (register_name && name_len &&
        gcs_name_put(svc->g, name, name_len, svc->node, a, gen) == RAY_EEXIST) {
        ray_freelist_push(&sh->r->actor_slots, sh->actors, sizeof(sched_actor),
                          offsetof(sched_actor, next_free), a);
        return RAY_EEXIST;
    }
    sched_task *k = &sh->tasks[t];
    /* Not a memset: a caller with a stale handle may be at the queue's lock;
     * the reset under it refuses that caller's push (generation).  The old
     * death message goes after: stale handles no longer read it. */
    uint32_t old_err = ac->err_obj;
    sched_actor_reset(sh, ac, gen);
    if (old_err)
        store_obj_unref(&sh->st, old_err);
    ac->cls = k->fn;
    ac->worker = 0;
    ac->create_task = t;
    ac->restarts_left = k->retries_left;
    ac->err_obj = 0;
    ac->cpu_milli = k->cpu_milli;
    ac->gpu_milli = k->gpu_milli;
    ac->cpu_place_only = !!(k->flags & TASK_TF_CPU_PLACE_ONLY);
    atomic_store(&ac->fini_done, 0);
    memset(ac->name, 0, sizeof(ac->name));
    memcpy(ac->name, name, name_len);
    k->actor = a;
    atomic_store(&ac->state, ACTOR_PENDING);
    *aslot = a;
    *agen = gen;
    char why[300];
    int res_len;
    const char *res = sched_task_res(sh, k, &res_len);
    svc->owned[t] = k->gen; /* the actor keeps its creation task */
    if (svc_res_check(svc, res, res_len, why, sizeof(why)) < 0) {
        svc_actor_die(svc, a, RAY_EACTOR, why);
        svc_actor_release(svc, a);
        return 0; /* made, and dead at once: its handle says why */
    }
    svc_take_task(svc, t);
    return 0;
}

void svc_reply_actor(sched_service *svc, uint32_t client, uint32_t req, int code, uint32_t node,
                     uint32_t slot, uint32_t gen)
{
    msg_reply_actor r = {slot, gen, node, 0};
    svc_reply(svc, client, req, code, &r, code ? 0 : sizeof(r));
}

void svc_on_actor_create(sched_service *svc, uint32_t from, const msg_actor_create *m, uint32_t len)
{
    sched *sh = &svc->sh;
    if (len < sizeof(*m)) {
        svc_reply(svc, from, 0, RAY_EPROTO, NULL, 0);
        return;
    }
    svc_handed(svc, from, m->slot, m->gen);
    if (!creation_task_ok(svc, m->slot, m->gen)) {
        svc_reply(svc, from, m->req, RAY_EPROTO, NULL, 0);
        return;
    }
    uint32_t t = m->slot;
    if (m->name_len > len - sizeof(*m) || m->name_len >= SCHED_ACTOR_NAME_MAX) {
        sched_task_dispose(sh, t);
        svc_reply(svc, from, m->req, RAY_EPROTO, NULL, 0);
        return;
    }
    if (svc->cluster) { /* names at rank 0, maybe another node: in steps */
        names_actor_create(svc, from, m->req, t, m->name, m->name_len);
        return;
    }
    uint32_t a, gen;
    int rc = svc_actor_make(svc, t, m->name, m->name_len, 1, &a, &gen);
    if (rc)
        sched_task_dispose(sh, t);
    svc_reply_actor(svc, from, m->req, rc, svc->node, a, gen);
}

void svc_on_actor_get(sched_service *svc, uint32_t from, const msg_actor_get *m, uint32_t len)
{
    if (len < sizeof(*m) || m->name_len > len - sizeof(*m) ||
        m->name_len >= SCHED_ACTOR_NAME_MAX) {
        svc_reply(svc, from, len >= 4 ? m->req : 0, RAY_EPROTO, NULL, 0);
        return;
    }
    if (svc->cluster && svc->node != 0) { /* rank 0 keeps the job's names */
        names_actor_get(svc, from, m->req, m->name, m->name_len);
        return;
    }
    uint32_t node, slot, gen;
    int rc = gcs_name_get(svc->g, m->name, m->name_len, &node, &slot, &gen);
    if (!rc && !slot) /* reserved, its actor not made yet */
        rc = RAY_ENOTFOUND;
    svc_reply_actor(svc, from, m->req, rc, node, slot, gen);
}

static int actor_handle_ok(sched_service *svc, uint32_t a, uint32_t gen)
{
    return a && a < svc->sh.r->max_actors && svc_actor(svc, a)->gen == gen &&
           atomic_load(&svc_actor(svc, a)->state) != ACTOR_FREE;
}

void svc_actor_kill(sched_service *svc, uint32_t a, uint32_t gen)
{
    if (actor_handle_ok(svc, a, gen)) {
        sched_actor *ac = svc_actor(svc, a);
        svc_actor_die(svc, a, RAY_EACTOR, "actor was killed by ray_actor_kill");
        if (!svc_client_at(svc, ac->worker)) /* else when its process is gone */
            svc_actor_release(svc, a);
    }
}

void svc_on_actor_kill(sched_service *svc, uint32_t from, const msg_actor_req *m)
{
    if (svc->cluster && m->node != svc->node) {
        sched_out *w = svc->cluster ? cluster_kill_record(svc, m->node) : NULL;
        if (w)
            *w = (sched_out){m->slot, m->gen};
    } else {
        svc_actor_kill(svc, m->slot, m->gen);
    }
    svc_reply(svc, from, m->req, 0, NULL, 0);
}

void svc_actor_death_msg(sched_service *svc, uint32_t a, uint32_t gen, char *buf, size_t cap)
{
    sched *sh = &svc->sh;
    snprintf(buf, cap, "actor is dead");
    if (!a || a >= sh->r->max_actors)
        return;
    sched_actor *ac = svc_actor(svc, a);
    uint32_t eo = ac->err_obj;
    if (!eo || ac->gen != gen || eo >= sh->st.max_objects)
        return;
    const store_obj *o = &sh->st.objs[eo];
    if (STORE_STATE(atomic_load(&o->state)) == STORE_ERROR)
        snprintf(buf, cap, "%.*s", (int)RAY_MIN(o->size, cap - 1),
                 (const char *)store_obj_view(&sh->st, eo));
}

void svc_on_actor_started(sched_service *svc, uint32_t from, const msg_actor_started *m,
                          uint32_t len)
{
    svc_client *c = svc_client_at(svc, from);
    if (len < sizeof(*m) || m->msg_len > len - sizeof(*m) || !c || c->kind != CLIENT_ACTOR ||
        c->actor != m->slot)
        return;
    sched_actor *ac = svc_actor(svc, m->slot);
    if (m->code == 0) {
        uint32_t s = atomic_load(&ac->state);
        if ((s == ACTOR_PENDING || s == ACTOR_RESTARTING) &&
            atomic_compare_exchange_strong(&ac->state, &s, ACTOR_ALIVE))
            atomic_fetch_add(&svc->sh.r->actors_alive, 1);
        if (ac->cpu_place_only) /* placed and started: it holds no CPU from now on */
            svc_release_cpu(svc, c);
        return;
    }
    char msg[1100];
    snprintf(msg, sizeof(msg), "%.*s", (int)RAY_MIN(m->msg_len, 1000u), m->msg);
    svc_actor_die(svc, m->slot, RAY_EACTOR, msg);
}

void svc_on_actor_exit(sched_service *svc, uint32_t from)
{
    svc_tell_exit(svc, from); /* its fini ran: it may go */
}
