/*
 * gcs.c - named actors: a hash map from the name to (node, slot, gen).
 * Names are exact byte strings; a name is freed when its actor dies or is
 * killed, and may then be taken again.
 */
#include "gcs.h"

#include <stdlib.h>

typedef struct name_entry {
    struct name_entry *next;
    uint32_t node, slot, gen;
    size_t len;
    char name[];
} name_entry;

struct gcs {
    name_entry **buckets;
    size_t nbuckets, count;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

gcs *gcs_create(void)
{
    gcs *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->nbuckets = 256;
    g->buckets = calloc(g->nbuckets, sizeof(*g->buckets));
    if (!g->buckets) {
        free(g);
        return NULL;
    }
    return g;
}

void gcs_destroy(gcs *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nbuckets; i++)
        for (name_entry *e = g->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(g->buckets);
    free(g);
}

static name_entry **find(gcs *g, const char *name, size_t len)
{
    name_entry **p = &g->buckets[hash_bytes(name, len) & (g->nbuckets - 1)];
    for (; *p; p = &(*p)->next)
        if ((*p)->len == len && !memcmp((*p)->name, name, len))
            return p;
    return p;
}

int gcs_name_put(gcs *g, const char *name, size_t len, uint32_t node, uint32_t slot,
                 uint32_t gen)
{
    name_entry **p = find(g, name, len);
    if (*p)
        return RAY_EEXIST;
    name_entry *e = malloc(sizeof(*e) + len);
    if (!e)
        return RAY_ENOMEM;
    e->next = NULL;
    e->node = node;
    e->slot = slot;
    e->gen = gen;
    e->len = len;
    memcpy(e->name, name, len);
    *p = e;
    g->count++;
    return 0;
}

int gcs_name_get(gcs *g, const char *name, size_t len, uint32_t *node, uint32_t *slot,
                 uint32_t *gen)
{
    name_entry *e = *find(g, name, len);
    if (!e)
        return RAY_ENOTFOUND;
    *node = e->node;
    *slot = e->slot;
    *gen = e->gen;
    return 0;
}

void gcs_name_del(gcs *g, const char *name, size_t len)
{
    name_entry **p = find(g, name, len);
    if (*p) {
        name_entry *e = *p;
        *p = e->next;
        free(e);
        g->count--;
    }
}
