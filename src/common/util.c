/*
 * util.c - time, id formatting, sparse reservations and the small
 * containers used by the node service's private state.
 */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

uint64_t ray_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int ray_id_format(ray_id id, char *buf, size_t size)
{
    const char *kind = id.kind == RAY_ID_OBJECT  ? "obj"
                       : id.kind == RAY_ID_ACTOR ? "actor"
                                                 : "none";
    return snprintf(buf, size, "%s:%u:%u:%u", kind, id.node, id.slot, id.gen);
}

RAY_API const char *ray_ref_str(ray_ref ref, char *buf, size_t size)
{
    if (buf && size)
        ray_id_format(ray_ref_id(ref), buf, size);
    return buf;
}

void *ray_reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void ray_unreserve(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

void ray_vec_init(ray_vec *v, size_t elem)
{
    v->data = NULL;
    v->len = v->cap = 0;
    v->elem = elem;
}

void *ray_vec_push(ray_vec *v)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *p = realloc(v->data, cap * v->elem);
        if (!p)
            return NULL;
        v->data = p;
        v->cap = cap;
    }
    void *slot = (char *)v->data + v->len++ * v->elem;
    memset(slot, 0, v->elem);
    return slot;
}

void ray_vec_free(ray_vec *v)
{
    free(v->data);
    ray_vec_init(v, v->elem);
}

/* ---- map64: linear probing; key 0 = empty, key UINT64_MAX = tombstone */

#define MAP_TOMB UINT64_MAX

static inline size_t map_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

void ray_map64_init(ray_map64 *m) { memset(m, 0, sizeof(*m)); }

void ray_map64_free(ray_map64 *m)
{
    free(m->keys);
    free(m->vals);
    ray_map64_init(m);
}

static int map_grow(ray_map64 *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (m->cap && (m->len) * 4 < m->cap)
        cap = m->cap; /* mostly tombstones: rehash in place size */
    uint64_t *keys = calloc(cap, sizeof(*keys));
    uint64_t *vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return RAY_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t k = m->keys[i];
        if (k && k != MAP_TOMB) {
            size_t j = map_hash(k) & (cap - 1);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = k;
            vals[j] = m->vals[i];
        }
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->tomb = 0;
    return 0;
}

int ray_map64_put(ray_map64 *m, uint64_t key, uint64_t val)
{
    if (!key || key == MAP_TOMB)
        return RAY_EINVAL;
    if ((m->len + m->tomb + 1) * 4 >= m->cap * 3 && map_grow(m))
        return RAY_ENOMEM;
    size_t mask = m->cap - 1, j = map_hash(key) & mask, tomb = SIZE_MAX;
    for (;; j = (j + 1) & mask) {
        uint64_t k = m->keys[j];
        if (k == key) {
            m->vals[j] = val;
            return 0;
        }
        if (k == MAP_TOMB && tomb == SIZE_MAX)
            tomb = j;
        if (!k)
            break;
    }
    if (tomb != SIZE_MAX) {
        j = tomb;
        m->tomb--;
    }
    m->keys[j] = key;
    m->vals[j] = val;
    m->len++;
    return 0;
}

static size_t map_find(const ray_map64 *m, uint64_t key)
{
    if (!m->cap || !key || key == MAP_TOMB)
        return SIZE_MAX;
    size_t mask = m->cap - 1;
    for (size_t j = map_hash(key) & mask;; j = (j + 1) & mask) {
        if (m->keys[j] == key)
            return j;
        if (!m->keys[j])
            return SIZE_MAX;
    }
}

int ray_map64_get(const ray_map64 *m, uint64_t key, uint64_t *val)
{
    size_t j = map_find(m, key);
    if (j == SIZE_MAX)
        return 0;
    if (val)
        *val = m->vals[j];
    return 1;
}

int ray_map64_del(ray_map64 *m, uint64_t key)
{
    size_t j = map_find(m, key);
    if (j == SIZE_MAX)
        return 0;
    m->keys[j] = MAP_TOMB;
    m->len--;
    m->tomb++;
    return 1;
}

int ray_resources_parse(const char *s, size_t len, ray_resource *out)
{
    size_t pos = 0;
    int n = 0;
    while (pos < len) {
        const char *item = s + pos, *end = memchr(item, ',', len - pos);
        size_t ilen = end ? (size_t)(end - item) : len - pos;
        const char *colon = memchr(item, ':', ilen);
        size_t nlen = colon ? (size_t)(colon - item) : 0;
        if (!colon || !nlen || nlen > 63)
            return ray_err(RAY_EINVAL, "resources '%.*s': expected name:amount,... with names "
                                       "of 1 to 63 bytes", (int)len, s);
        if (n == RAY_RES_MAX)
            return ray_err(RAY_EINVAL, "resources '%.*s': more than %d", (int)len, s,
                           RAY_RES_MAX);
        if ((nlen == 3 && !memcmp(item, "CPU", 3)) || (nlen == 3 && !memcmp(item, "GPU", 3)))
            return ray_err(RAY_EINVAL, "resources '%.*s': use num_cpus/num_gpus for CPU and GPU",
                           (int)len, s);
        char num[64];
        size_t alen = ilen - nlen - 1;
        if (!alen || alen >= sizeof(num))
            return ray_err(RAY_EINVAL, "resources '%.*s': bad amount of '%.*s'", (int)len, s,
                           (int)nlen, item);
        memcpy(num, colon + 1, alen);
        num[alen] = 0;
        char *stop;
        double v = strtod(num, &stop);
        if (*stop || !(v >= 0) || !isfinite(v))
            return ray_err(RAY_EINVAL, "resources '%.*s': bad amount of '%.*s'", (int)len, s,
                           (int)nlen, item);
        memcpy(out[n].name, item, nlen);
        out[n].name[nlen] = 0;
        out[n].amount = v;
        n++;
        pos += ilen + (end != NULL);
    }
    return n;
}
