/*
 * registry.c - remote functions and actor classes by name.  RAY_REMOTE,
 * RAY_ACTOR and RAY_METHOD register at program start (constructors), so
 * the driver and every worker, running the same executable, hold the same
 * registry (SPMD).  Names travel as 64-bit hashes; two names with one hash
 * are refused at registration.
 */
#include "client.h"

#include <stdlib.h>

#define NAME_MAX_LEN 255

static ray_map64 by_hash;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static int valid_name(const char *name)
{
    if (!name || !*name)
        return 0;
    size_t n = strnlen(name, NAME_MAX_LEN + 1);
    return n <= NAME_MAX_LEN;
}

static int reg_add(int kind, const char *name, uint64_t h, reg_entry *proto)
{
    uint64_t at;
    pthread_mutex_lock(&reg_lock);
    if (ray_map64_get(&by_hash, h, &at)) {
        reg_entry *e = (reg_entry *)(uintptr_t)at;
        int same = e->kind == kind && !strcmp(e->name, name);
        pthread_mutex_unlock(&reg_lock);
        if (same)
            return 0; /* registering twice is harmless */
        return ray_err(RAY_EINVAL, "cannot register '%s': '%s' is already registered "
                                   "under the same hash", name, e->name);
    }
    /* Entries are never freed or moved: lookups return stable pointers. */
    reg_entry *e = malloc(sizeof(*e));
    char *copy = strdup(name);
    if (!e || !copy || ray_map64_put(&by_hash, h, (uint64_t)(uintptr_t)e)) {
        free(e);
        free(copy);
        pthread_mutex_unlock(&reg_lock);
        return ray_err(RAY_ENOMEM, "out of memory registering '%s'", name);
    }
    *e = *proto;
    e->hash = h;
    e->kind = kind;
    e->name = copy;
    pthread_mutex_unlock(&reg_lock);
    return 0;
}

RAY_API int ray_register_function(const char *name, ray_task_fn fn)
{
    if (!valid_name(name) || !fn)
        return ray_err(RAY_EINVAL, "ray_register_function needs a name (1-%d chars) and "
                                   "a function", NAME_MAX_LEN);
    reg_entry p = {0};
    p.fn = fn;
    return reg_add(REG_FUNCTION, name, ray_hash64(name), &p);
}

RAY_API int ray_register_actor(const char *cls, ray_actor_init_fn init, ray_actor_fini_fn fini)
{
    if (!valid_name(cls) || !init || strchr(cls, '.'))
        return ray_err(RAY_EINVAL, "ray_register_actor needs a class name (1-%d chars, "
                                   "no '.') and an init function", NAME_MAX_LEN);
    reg_entry p = {0};
    p.init = init;
    p.fini = fini;
    return reg_add(REG_ACTOR, cls, ray_hash64(cls), &p);
}

uint64_t registry_method_hash(uint64_t cls, const char *method)
{
    return ray_method_hash(cls, ray_hash64(method));
}

RAY_API int ray_register_method(const char *cls, const char *method, ray_method_fn fn)
{
    if (!valid_name(cls) || !valid_name(method) || !fn)
        return ray_err(RAY_EINVAL, "ray_register_method needs a class, a method name and "
                                   "a function");
    char buf[2 * NAME_MAX_LEN + 2];
    snprintf(buf, sizeof(buf), "%s.%s", cls, method);
    reg_entry p = {0};
    p.method = fn;
    return reg_add(REG_METHOD, buf, registry_method_hash(ray_hash64(cls), method), &p);
}

const reg_entry *registry_find(uint64_t hash)
{
    /* A hash names one entry for good (entries never move or go), so each
     * thread keeps its last answer: a stream of one function's tasks is
     * looked up without the lock. */
    static __thread const reg_entry *last;
    if (last && last->hash == hash)
        return last;
    uint64_t at;
    const reg_entry *e = NULL;
    pthread_mutex_lock(&reg_lock);
    if (ray_map64_get(&by_hash, hash, &at))
        e = (const reg_entry *)(uintptr_t)at;
    pthread_mutex_unlock(&reg_lock);
    if (e)
        last = e;
    return e;
}
