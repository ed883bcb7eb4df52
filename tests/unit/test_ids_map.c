/*
 * test_ids_map.c - ids and the small containers of src/common: a ray_id
 * survives the trip through a ray_ref's bytes; ids print as
 * "kind:node:slot:gen" (ray_id_format, ray_ref_str); ray_hash64 is 64-bit
 * FNV-1a, stable across builds since hashes of names cross the wire;
 * ray_map64 agrees with a reference model over a million random puts,
 * gets and deletes (with tombstones reused, not piling up); ray_vec keeps
 * its elements as it grows.
 */
#include "unit.h"

#include <stdlib.h>

static void test_id_round_trip(void)
{
    ray_id id = {7, 123456, 0xfffffffe, 0xbeef, RAY_ID_OBJECT, 3};
    ray_ref ref = ray_id_ref(id);
    ray_id back = ray_ref_id(ref);
    ok(back.node == 7 && back.slot == 123456 && back.gen == 0xfffffffe && back.tag == 0xbeef &&
           back.kind == RAY_ID_OBJECT && back.flags == 3,
       "every field of an id survives ray_id_ref / ray_ref_id");
    uint8_t bytes[RAY_ID_SIZE];
    ray_id_to_bytes(id, bytes);
    ok(!memcmp(bytes, ref.id, RAY_ID_SIZE), "ray_id_to_bytes gives the ref's bytes");
    ray_id zero = ray_ref_id((ray_ref){{0}});
    ok(zero.kind == RAY_ID_NONE && zero.slot == 0, "a zeroed ref is kind none, slot 0");
}

static void test_id_format(void)
{
    char buf[64];
    ray_id obj = {3, 17, 42, 1, RAY_ID_OBJECT, 0};
    ray_id actor = {0, 5, 1, 1, RAY_ID_ACTOR, 0};
    ray_id_format(obj, buf, sizeof(buf));
    ok(!strcmp(buf, "obj:3:17:42"), "object id prints obj:3:17:42 (%s)", buf);
    ray_id_format(actor, buf, sizeof(buf));
    ok(!strcmp(buf, "actor:0:5:1"), "actor id prints actor:0:5:1 (%s)", buf);
    ray_id_format((ray_id){0}, buf, sizeof(buf));
    ok(!strcmp(buf, "none:0:0:0"), "empty id prints none:0:0:0 (%s)", buf);
    ok(ray_ref_str(ray_id_ref(obj), buf, sizeof(buf)) == buf && !strcmp(buf, "obj:3:17:42"),
       "ray_ref_str prints a ref the same way");
    char small[6];
    ray_ref_str(ray_id_ref(obj), small, sizeof(small));
    ok(!strcmp(small, "obj:3"), "ray_ref_str truncates to the buffer, terminated");
    ok(ray_ref_str(ray_id_ref(obj), NULL, 0) == NULL, "ray_ref_str with no buffer returns NULL");
}

/* 64-bit FNV-1a written out here, not taken from common.h. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void test_hash64(void)
{
    is_int(fnv1a("hello"), 0xa430d84680aabd0bull,
           "reference FNV-1a of \"hello\" is 0xa430d84680aabd0b");
    if (!ok(ray_hash64("hello") == 0xa430d84680aabd0bull, "ray_hash64(\"hello\") is the same"))
        diag("ray_hash64(\"hello\") = %#llx", (unsigned long long)ray_hash64("hello"));
    if (!ok(ray_hash64("") == 0xcbf29ce484222325ull, "ray_hash64(\"\") is the FNV offset basis"))
        diag("ray_hash64(\"\") = %#llx", (unsigned long long)ray_hash64(""));
    static const char *const names[] = {"f", "square", "Counter.incr",
                                        "a_much_longer_name_0123456789", "\xff\x80 high bytes"};
    int same = 1;
    for (size_t i = 0; i < RAY_ARRAY_SIZE(names); i++)
        same &= ray_hash64(names[i]) == fnv1a(names[i]);
    ok(same, "ray_hash64 agrees with FNV-1a on other names (high bytes too)");
    ok(ray_hash64("Counter.incr") != ray_hash64("Counter.decr"),
       "different names, different hashes");
}

/* ---- map64 against a model: key i is a fixed random 64-bit value */

#define KEYS 200000
#define OPS  1000000

static uint64_t key_of(uint32_t i)
{
    uint64_t k = (i + 1) * 0x9e3779b97f4a7c15ull;
    k ^= k >> 29;
    return k < 2 ? k + 2 : k == UINT64_MAX ? k - 1 : k;
}

typedef struct model {
    uint8_t present[KEYS];
    uint64_t val[KEYS];
    size_t len;
} model;

static int map_step(ray_map64 *m, model *ref)
{
    uint32_t i = (uint32_t)unit_below(KEYS);
    uint64_t k = key_of(i), v = 0;
    int bad = 0;
    switch (unit_below(3)) {
    case 0: {
        uint64_t nv = unit_rand();
        bad |= ray_map64_put(m, k, nv) != 0;
        ref->len += !ref->present[i];
        ref->present[i] = 1;
        ref->val[i] = nv;
        break;
    }
    case 1:
        bad |= ray_map64_get(m, k, &v) != ref->present[i] || (ref->present[i] && v != ref->val[i]);
        break;
    default:
        bad |= ray_map64_del(m, k) != ref->present[i];
        ref->len -= ref->present[i];
        ref->present[i] = 0;
    }
    return bad;
}

static int map_agrees(const ray_map64 *m, const model *ref)
{
    for (uint32_t i = 0; i < KEYS; i++) {
        uint64_t v = 0;
        if (ray_map64_get(m, key_of(i), &v) != ref->present[i] ||
            (ref->present[i] && v != ref->val[i]))
            return 0;
    }
    return m->len == ref->len;
}

static void test_map_random(void)
{
    static model ref;
    ray_map64 m;
    ray_map64_init(&m);
    unit_seed(5);
    long bad = 0;
    int agree = 1;
    for (long op = 0; op < OPS; op++) {
        bad += map_step(&m, &ref);
        if (op % 100000 == 99999)
            agree &= map_agrees(&m, &ref);
    }
    is_int(bad, 0, "%d random put/get/del: every result matches the model", OPS);
    ok(agree && map_agrees(&m, &ref), "full comparisons with the model agree (%zu keys live)",
       m.len);
    ray_map64_free(&m);
}

static void test_map_edges(void)
{
    ray_map64 m;
    uint64_t v = 7;
    ray_map64_init(&m);
    is_int(ray_map64_get(&m, 1, &v), 0, "get on an empty map: not found");
    is_int(ray_map64_del(&m, 1), 0, "del on an empty map: not found");
    is_rc(ray_map64_put(&m, 0, 1), RAY_EINVAL, "key 0 is refused");
    is_rc(ray_map64_put(&m, UINT64_MAX, 1), RAY_EINVAL, "key UINT64_MAX is refused");
    is_int(ray_map64_get(&m, UINT64_MAX, &v), 0, "and never found");
    ray_map64_put(&m, 5, 50);
    ray_map64_put(&m, 5, 51);
    ok(ray_map64_get(&m, 5, &v) && v == 51 && m.len == 1,
       "put of an existing key replaces its value");
    is_int(ray_map64_get(&m, 5, NULL), 1, "get with no value pointer says found");
    ray_map64_free(&m);
    ok(m.cap == 0 && m.len == 0 && m.keys == NULL, "free leaves an empty map");
}

/* Churn: keys come and go, the live count stays small; tombstones must be
 * reused or swept, so the table does not grow with the number of keys ever
 * inserted. */
static void test_map_tombstones(void)
{
    ray_map64 m;
    ray_map64_init(&m);
    int bad = 0;
    size_t max_cap = 0;
    for (uint32_t i = 0; i < 1000000; i++) {
        bad |= ray_map64_put(&m, key_of(i), i) != 0;
        if (i >= 1000)
            bad |= ray_map64_del(&m, key_of(i - 1000)) != 1;
        max_cap = RAY_MAX(max_cap, m.cap);
    }
    uint64_t v;
    for (uint32_t i = 999000; i < 1000000; i++)
        bad |= !ray_map64_get(&m, key_of(i), &v) || v != i;
    ok(!bad, "1M keys through the map with 1000 live at a time: all results right");
    is_int(m.len, 1000, "1000 keys live at the end");
    ok(max_cap <= 4096, "the table never grew past 4096 slots (largest %zu)", max_cap);
    ray_map64_free(&m);
}

typedef struct item {
    uint64_t a;
    uint32_t b;
    char c[20];
} item;

static void test_vec(void)
{
    ray_vec v;
    ray_vec_init(&v, sizeof(item));
    int zeroed = 1, bad = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        item *p = ray_vec_push(&v);
        if (!p) {
            bad = 1;
            break;
        }
        zeroed &= p->a == 0 && p->b == 0 && p->c[19] == 0;
        p->a = i * 3ull;
        p->b = i;
        snprintf(p->c, sizeof(p->c), "item %u", i);
    }
    ok(!bad && v.len == 100000 && v.cap >= v.len, "100000 pushes, capacity >= length");
    ok(zeroed, "each pushed element starts zeroed");
    for (uint32_t i = 0; i < v.len; i++) {
        char want[20];
        snprintf(want, sizeof(want), "item %u", i);
        item *p = &RAY_VEC_AT(&v, item, i);
        bad |= p->a != i * 3ull || p->b != i || strcmp(p->c, want);
    }
    ok(!bad, "every element kept its contents through the reallocations");
    ray_vec_free(&v);
    ok(v.data == NULL && v.len == 0 && v.cap == 0 && v.elem == sizeof(item),
       "free leaves an empty vector of the same element size");
}

int main(void)
{
    test_id_round_trip();
    test_id_format();
    test_hash64();
    test_map_edges();
    test_map_random();
    test_map_tombstones();
    test_vec();
    return tap_done();
}
