/*
 * shapes.c - the dependence patterns of ray-mpi-dagbench (shapes.h).  The
 * Task Bench patterns reproduce core/core.cc of StanfordLegion/task-bench:
 * offset_at_timestep, width_at_timestep, max_dependence_sets,
 * dependence_set_at_timestep, dependencies, reverse_dependencies and the
 * checks of App::check, case by case, so that a graph here is the graph
 * Task Bench runs with the same flags.  Three patterns are ours:
 *
 *   chain      one task per step, at point t % width, reading the task of
 *              the step before: a critical path as long as the graph, that
 *              hops between nodes under --placement spread
 *   layered    width tasks per step, each reading `parents` distinct
 *              points of the step before, drawn from (seed, t, p)
 *   mapreduce  step 0: width maps, each returning one partition per
 *              reduce; step 1: `reduces` reduces, reduce j reading
 *              partition j of every map (the all-to-all shuffle)
 */
#include "shapes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[DAG_KIND_COUNT] = {
    "trivial",    "no_comm", "stencil_1d", "stencil_1d_periodic", "dom",   "tree",    "fft",
    "all_to_all", "nearest", "spread",     "random_nearest",      "chain", "layered", "mapreduce",
};

static long lmin(long a, long b)
{
    return a < b ? a : b;
}
static long lmax(long a, long b)
{
    return a > b ? a : b;
}

const char *dag_kind_name(int kind)
{
    return kind >= 0 && kind < DAG_KIND_COUNT ? kind_names[kind] : "?";
}

int dag_kind_parse(const char *name)
{
    for (int k = 0; k < DAG_KIND_COUNT; k++)
        if (!strcmp(name, kind_names[k]))
            return k;
    return -1;
}

int dag_kind_is_taskbench(int kind)
{
    return kind >= DAG_TRIVIAL && kind <= DAG_RANDOM_NEAREST;
}

int dag_kind_needs_period(int kind)
{
    return kind == DAG_SPREAD || kind == DAG_RANDOM_NEAREST;
}

void dag_shape_init(dag_shape *s, int kind)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->width = 4; /* Task Bench's default_graph */
    s->steps = kind == DAG_MAPREDUCE ? 2 : 4;
    s->radix = 3;
    s->period = dag_kind_needs_period(kind) ? 3 : 0;
    s->fraction = 0.25;
    s->parents = 2;
    s->seed = 1;
    s->reduces = 0; /* 0: as many as maps */
}

/* ------------------------------------------------------ steps and points */

long dag_offset_at(const dag_shape *s, long t)
{
    if (t < 0)
        return 0;
    if (s->kind == DAG_DOM)
        return lmax(0, t + s->width - s->steps);
    if (s->kind == DAG_CHAIN)
        return t % s->width;
    return 0;
}

static long reduces_of(const dag_shape *s)
{
    return s->reduces > 0 ? s->reduces : s->width;
}

long dag_width_at(const dag_shape *s, long t)
{
    if (t < 0 || t >= s->steps)
        return 0;
    switch (s->kind) {
    case DAG_DOM:
        return lmin(s->width, lmin(t + 1, s->steps - t));
    case DAG_TREE:
        return lmin(s->width, 1L << lmin(t, 62));
    case DAG_CHAIN:
        return 1;
    case DAG_MAPREDUCE:
        return t == 0 ? s->width : reduces_of(s);
    default:
        return s->width;
    }
}

/* ceil(log2(w)) in integers: the bits of w - 1. */
static long ceil_log2(long w)
{
    long k = 0;
    while (k < 62 && (1L << k) < w)
        k++;
    return k;
}

long dag_max_dsets(const dag_shape *s)
{
    switch (s->kind) {
    case DAG_FFT:
        return ceil_log2(s->width);
    case DAG_SPREAD:
    case DAG_RANDOM_NEAREST:
        return s->period;
    case DAG_LAYERED:
        return s->steps;
    default:
        return 1;
    }
}

long dag_dset_at(const dag_shape *s, long t)
{
    long n = dag_max_dsets(s);
    switch (s->kind) {
    case DAG_FFT:
        return (t + n - 1) % n;
    case DAG_SPREAD:
    case DAG_RANDOM_NEAREST:
        return t % n;
    case DAG_LAYERED:
        return t;
    default:
        return 0;
    }
}

long dag_row_width(const dag_shape *s)
{
    if (s->kind == DAG_MAPREDUCE)
        return lmax(s->width, reduces_of(s));
    return s->width;
}

int dag_outputs_at(const dag_shape *s, long t)
{
    return s->kind == DAG_MAPREDUCE && t == 0 ? (int)reduces_of(s) : 1;
}

long dag_total_tasks(const dag_shape *s)
{
    long n = 0;
    for (long t = 0; t < s->steps; t++)
        n += dag_width_at(s, t);
    return n;
}

/* --------------------------------------------------- Task Bench's spans */

static dag_span span(long first, long last)
{
    return (dag_span){first, last};
}

static size_t stencil_periodic(const dag_shape *s, long point, dag_span *out)
{
    size_t n = 0;
    out[n++] = span(lmax(0, point - 1), lmin(point + 1, s->width - 1));
    if (point - 1 < 0) /* wrap around, negative side */
        out[n++] = span(s->width - 1, s->width - 1);
    if (point + 1 >= s->width) /* wrap around, positive side */
        out[n++] = span(0, 0);
    return n;
}

static size_t fft(const dag_shape *s, long dset, long point, dag_span *out)
{
    size_t n = 0;
    long d1 = point - (1L << dset), d2 = point + (1L << dset);
    if (d1 >= 0)
        out[n++] = span(d1, d1);
    out[n++] = span(point, point);
    if (d2 < s->width)
        out[n++] = span(d2, d2);
    return n;
}

/* random_nearest: the points of [lo, hi] a hash keeps, as runs.  forward
 * (dependencies) hashes {graph, radix, dset, i, point}, the reverse
 * direction {graph, radix, dset, point, i}: both name the same edge. */
static size_t random_runs(const dag_shape *s, long dset, long point, long lo, long hi, int forward,
                          dag_span *out)
{
    size_t n = 0;
    long run = -1, i;
    for (i = lo; i <= hi; i++) {
        long key[5] = {s->graph_index, s->radix, dset, forward ? i : point, forward ? point : i};
        double v = dag_random_uniform(key, sizeof(key));
        int keep = v < s->fraction || (s->radix > 0 && i == point);
        if (keep && run < 0)
            run = i;
        if (!keep && run >= 0) {
            out[n++] = span(run, i - 1);
            run = -1;
        }
    }
    if (run >= 0)
        out[n++] = span(run, i - 1);
    return n;
}

/* ---------------------------------------------------------- our patterns */

/* MurmurHash3's 64-bit finalizer (fmix64): every input bit flips about
 * half the output bits.  Task Bench's hash ends with it; the layered
 * pattern and the tasks' checksums mix with it. */
uint64_t dag_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
}

/* A word from (seed, t, p, j): MurmurHash3's finalizer over a running mix. */
static uint64_t layered_word(const dag_shape *s, long t, long p, long j)
{
    uint64_t h = dag_fmix64(s->seed + 0x9e3779b97f4a7c15ull);
    h = dag_fmix64(h ^ (uint64_t)t);
    h = dag_fmix64(h ^ (uint64_t)p);
    return dag_fmix64(h ^ (uint64_t)j);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* layered: k distinct parents of (t, p) among 0..width-1 (Floyd's
 * sampling: one draw per parent, no retries), as sorted runs. */
static size_t layered(const dag_shape *s, long t, long point, dag_span *out)
{
    long k = lmin(s->parents, s->width), n = 0;
    long tmp[64], *set = k <= 64 ? tmp : malloc(sizeof(long) * (size_t)k);
    if (!set)
        return 0;
    for (long j = s->width - k; j < s->width; j++) {
        long r = (long)(layered_word(s, t, point, j) % (uint64_t)(j + 1)), seen = 0;
        for (long i = 0; i < n && !seen; i++)
            seen = set[i] == r;
        set[n++] = seen ? j : r;
    }
    qsort(set, (size_t)n, sizeof(long), cmp_long);
    size_t runs = 0;
    for (long i = 0; i < n; i++) {
        if (runs && out[runs - 1].last + 1 == set[i])
            out[runs - 1].last = set[i];
        else
            out[runs++] = span(set[i], set[i]);
    }
    if (set != tmp)
        free(set);
    return runs;
}

/* ----------------------------------------------------------- the API */

size_t dag_num_deps(const dag_shape *s, long dset, long point)
{
    (void)dset;
    (void)point;
    switch (s->kind) {
    case DAG_TRIVIAL:
        return 0;
    case DAG_STENCIL_1D_PERIODIC:
        return s->width > 1 ? 2 : 3; /* as Task Bench: too few for width 2, see check */
    case DAG_FFT:
        return 3;
    case DAG_NEAREST:
        return s->radix > 0 ? 1 : 0;
    case DAG_SPREAD:
    case DAG_RANDOM_NEAREST:
        return (size_t)s->radix;
    case DAG_LAYERED:
        return (size_t)lmin(s->parents, s->width);
    default:
        return 1;
    }
}

size_t dag_deps(const dag_shape *s, long dset, long point, dag_span *out)
{
    long w = s->width, r = s->radix;
    switch (s->kind) {
    case DAG_TRIVIAL:
        return 0;
    case DAG_NO_COMM:
        return out[0] = span(point, point), 1;
    case DAG_STENCIL_1D:
        return out[0] = span(lmax(0, point - 1), lmin(point + 1, w - 1)), 1;
    case DAG_STENCIL_1D_PERIODIC:
        return stencil_periodic(s, point, out);
    case DAG_DOM:
        return out[0] = span(lmax(0, point - 1), point), 1;
    case DAG_TREE:
        return out[0] = span(point / 2, point / 2), 1;
    case DAG_FFT:
        return fft(s, dset, point, out);
    case DAG_ALL_TO_ALL:
        return out[0] = span(0, w - 1), 1;
    case DAG_NEAREST:
        if (r <= 0)
            return 0;
        return out[0] = span(lmax(0, point - r / 2), lmin(point + (r - 1) / 2, w - 1)), 1;
    case DAG_SPREAD:
        for (long i = 0; i < r; i++) {
            long dep = (point + i * w / r + (i > 0 ? dset : 0)) % w;
            out[i] = span(dep, dep);
        }
        return (size_t)r;
    case DAG_RANDOM_NEAREST:
        return random_runs(s, dset, point, lmax(0, point - r / 2), lmin(point + (r - 1) / 2, w - 1),
                           1, out);
    case DAG_CHAIN:
        return out[0] = span((point + w - 1) % w, (point + w - 1) % w), 1;
    case DAG_LAYERED:
        return layered(s, dset, point, out);
    case DAG_MAPREDUCE:
        return out[0] = span(0, w - 1), 1;
    default:
        return 0;
    }
}

size_t dag_num_rdeps(const dag_shape *s, long dset, long point)
{
    return dag_kind_is_taskbench(s->kind) ? dag_num_deps(s, dset, point) : 0;
}

static size_t tree_children(const dag_shape *s, long point, dag_span *out)
{
    long c1 = point * 2, c2 = point * 2 + 1;
    if (c1 < s->width && c2 < s->width)
        return out[0] = span(c1, c2), 1;
    if (c1 < s->width)
        return out[0] = span(c1, c1), 1;
    return 0;
}

size_t dag_rdeps(const dag_shape *s, long dset, long point, dag_span *out)
{
    long w = s->width, r = s->radix;
    switch (s->kind) {
    case DAG_DOM:
        return out[0] = span(point, lmin(w - 1, point + 1)), 1;
    case DAG_TREE:
        return tree_children(s, point, out);
    case DAG_NEAREST:
        if (r <= 0)
            return 0;
        return out[0] = span(lmax(0, point - (r - 1) / 2), lmin(point + r / 2, w - 1)), 1;
    case DAG_SPREAD:
        for (long i = 0; i < r; i++) {
            long dep = (point - i * w / r - (i > 0 ? dset : 0)) % w;
            if (dep < 0)
                dep += w;
            out[i] = span(dep, dep);
        }
        return (size_t)r;
    case DAG_RANDOM_NEAREST:
        return random_runs(s, dset, point, lmax(0, point - (r - 1) / 2), lmin(point + r / 2, w - 1),
                           0, out);
    default: /* the symmetric patterns: their own reverse */
        return dag_kind_is_taskbench(s->kind) ? dag_deps(s, dset, point, out) : 0;
    }
}

long dag_inputs(const dag_shape *s, long t, long p, long *pts, int *outs)
{
    long lo = dag_offset_at(s, t - 1), hi = lo + dag_width_at(s, t - 1) - 1, n = 0;
    if (hi < lo)
        return 0;
    size_t room = dag_num_deps(s, 0, p);
    dag_span small[8], *sp = room <= 8 ? small : malloc(sizeof(dag_span) * room);
    if (!sp)
        return -1;
    size_t k = dag_deps(s, dag_dset_at(s, t), p, sp);
    for (size_t i = 0; i < k; i++)
        for (long q = lmax(sp[i].first, lo); q <= lmin(sp[i].last, hi); q++) {
            pts[n] = q;
            outs[n++] = s->kind == DAG_MAPREDUCE ? (int)p : 0;
        }
    if (sp != small)
        free(sp);
    return n;
}

long dag_total_deps(const dag_shape *s)
{
    long rw = dag_row_width(s), n = 0;
    long *pts = malloc(sizeof(long) * (size_t)rw);
    int *outs = malloc(sizeof(int) * (size_t)rw);
    for (long t = 0; pts && outs && t < s->steps; t++)
        for (long p = dag_offset_at(s, t); p < dag_offset_at(s, t) + dag_width_at(s, t); p++)
            n += dag_inputs(s, t, p, pts, outs);
    if (!pts || !outs)
        n = -1;
    free(pts);
    free(outs);
    return n;
}

/* ------------------------------------------------------------- checks */

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* No point twice among the spans of one (dset, point): Task Bench's
 * App::check asserts it.  Only periodic stencils (width < 3) and spread
 * (radix beyond the width) can break it; the other patterns cannot. */
static int check_duplicates(const dag_shape *s, char *why, size_t size)
{
    if (s->kind != DAG_STENCIL_1D_PERIODIC && s->kind != DAG_SPREAD)
        return 0;
    size_t room = dag_num_deps(s, 0, 0);
    long *mark = calloc((size_t)s->width, sizeof(long));
    dag_span *sp = malloc(sizeof(dag_span) * (room ? room : 1));
    int rc = mark && sp ? 0 : bad(why, size, "out of memory checking %ld points", s->width);
    long stamp = 0;
    for (long d = 0; !rc && d < dag_max_dsets(s); d++)
        for (long p = 0; !rc && p < s->width; p++) {
            size_t k = dag_deps(s, d, p, sp);
            stamp++;
            for (size_t i = 0; !rc && i < k; i++)
                for (long q = sp[i].first; !rc && q <= sp[i].last; q++) {
                    if (mark[q] == stamp)
                        rc = bad(why, size,
                                 "%s: point %ld depends twice on one point (Task "
                                 "Bench's check rejects this graph)",
                                 dag_kind_name(s->kind), p);
                    mark[q] = stamp;
                }
        }
    free(mark);
    free(sp);
    return rc;
}

static int check_period(const dag_shape *s, char *why, size_t size)
{
    const char *name = dag_kind_name(s->kind);
    if (dag_kind_needs_period(s->kind) && s->period <= 0)
        return bad(why, size, "--period %ld: %s needs a period >= 1", s->period, name);
    if (!dag_kind_needs_period(s->kind) && s->period != 0)
        return bad(why, size,
                   "--period %ld: %s has no configurable period (only spread and "
                   "random_nearest)",
                   s->period, name);
    if (s->kind == DAG_SPREAD) {
        if (s->radix < 1)
            return bad(why, size, "--radix %ld: %s needs a radix >= 1", s->radix, name);
        long spread = (s->width + s->radix - 1) / s->radix;
        if (s->period > spread)
            return bad(why, size,
                       "--period %ld: %s with this width and radix allows a period "
                       "of at most %ld",
                       s->period, name, spread);
    }
    return 0;
}

static int check_ours(const dag_shape *s, char *why, size_t size)
{
    if (s->kind == DAG_FFT && s->width < 2)
        return bad(why, size, "--width %ld: fft needs a width >= 2", s->width);
    if (s->kind == DAG_LAYERED && (s->parents < 0 || s->parents > s->width))
        return bad(why, size, "--parents %ld: layered needs 0 <= parents <= width", s->parents);
    if (s->kind == DAG_MAPREDUCE && s->steps != 2)
        return bad(why, size, "--steps %ld: mapreduce has exactly 2 steps (map, reduce)", s->steps);
    if (s->kind == DAG_MAPREDUCE && s->reduces < 0)
        return bad(why, size, "--reduces %ld: must be >= 1", s->reduces);
    return 0;
}

int dag_shape_check(const dag_shape *s, char *why, size_t size)
{
    if (s->kind < 0 || s->kind >= DAG_KIND_COUNT)
        return bad(why, size, "unknown shape %d", s->kind);
    if (s->width < 1 || s->width > (1L << 30))
        return bad(why, size, "--width %ld: must be 1 .. 2^30", s->width);
    if (s->steps < 1 || s->steps > (1L << 30))
        return bad(why, size, "--steps %ld: must be 1 .. 2^30", s->steps);
    if (s->radix < 0 || s->radix > (1L << 30))
        return bad(why, size, "--radix %ld: must be 0 .. 2^30", s->radix);
    if (!(s->fraction >= 0 && s->fraction <= 1))
        return bad(why, size, "--fraction %g: must be 0 .. 1", s->fraction);
    int rc = check_period(s, why, size);
    if (!rc)
        rc = check_ours(s, why, size);
    if (!rc && dag_total_tasks(s) > (1L << 40))
        rc = bad(why, size, "%ld tasks is more than 2^40", dag_total_tasks(s));
    return rc ? rc : check_duplicates(s, why, size);
}

/* -------------------------------------------------------- Task Bench's hash */

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static const uint64_t C1 = 0x87c37b91114253d5ull, C2 = 0x4cf5ad432745937full;

static uint64_t mix_k1(uint64_t k)
{
    return rotl64(k * C1, 31) * C2;
}
static uint64_t mix_k2(uint64_t k)
{
    return rotl64(k * C2, 33) * C1;
}

/* The bytes of a partial block as a little-endian word (MurmurHash3's
 * tail: byte i goes to bits 8i). */
static uint64_t tail_word(const uint8_t *p, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k |= (uint64_t)p[i] << (8 * i);
    return k;
}

/* MurmurHash3_x64_128 (Austin Appleby, public domain), blocks read in the
 * machine's byte order as the original does. */
void dag_murmur3_x64_128(const void *key, size_t len, uint32_t seed, uint64_t out[2])
{
    const uint8_t *data = key;
    uint64_t h1 = seed, h2 = seed;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1, k2;
        memcpy(&k1, data + 16 * i, 8);
        memcpy(&k2, data + 16 * i + 8, 8);
        h1 ^= mix_k1(k1);
        h1 = (rotl64(h1, 27) + h2) * 5 + 0x52dce729;
        h2 ^= mix_k2(k2);
        h2 = (rotl64(h2, 31) + h1) * 5 + 0x38495ab5;
    }
    const uint8_t *tail = data + 16 * nblocks;
    size_t rest = len & 15;
    if (rest > 8)
        h2 ^= mix_k2(tail_word(tail + 8, rest - 8));
    if (rest > 0)
        h1 ^= mix_k1(tail_word(tail, rest < 8 ? rest : 8));
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = dag_fmix64(h1);
    h2 = dag_fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

double dag_random_uniform(const void *input, size_t bytes)
{
    uint64_t bits[2];
    dag_murmur3_x64_128(input, bytes, 1234567, bits);
    return (double)bits[0] * 0x1.p-64;
}
