/*
 * test_patterns.c - the dependence patterns of ray-mpi-dagbench
 * (src/dagbench/shapes.c) against Task Bench's definitions in core/core.cc
 * (StanfordLegion/task-bench), and its METG interpolation (metg.c) against
 * chart_metg.py's.  The expected spans below are worked out by hand from
 * core.cc's formulas; each comment shows the arithmetic.  Pure functions:
 * no runtime is started.
 */
#include "dagbench/metg.h"
#include "dagbench/shapes.h"
#include "lib/tap.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static dag_shape shape(int kind, long width, long steps)
{
    dag_shape s;
    dag_shape_init(&s, kind);
    s.width = width;
    s.steps = steps;
    return s;
}

/* The spans of deps(dset, point) as "a-b c-d", for comparison. */
static const char *spans(const dag_shape *s, long dset, long point, int reverse)
{
    static char buf[256];
    dag_span sp[64];
    size_t n = reverse ? dag_rdeps(s, dset, point, sp) : dag_deps(s, dset, point, sp);
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && k < sizeof(buf) - 32; i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%ld-%ld", i ? " " : "", sp[i].first,
                              sp[i].last);
    return buf;
}

/* The inputs of (t, p) after clipping to step t-1, as "a b c". */
static const char *inputs(const dag_shape *s, long t, long p)
{
    static char buf[256];
    long pts[64];
    int outs[64];
    long n = dag_inputs(s, t, p, pts, outs);
    size_t k = 0;
    buf[0] = 0;
    for (long i = 0; i < n && k < sizeof(buf) - 32; i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%ld", i ? " " : "", pts[i]);
    return buf;
}

#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!ok(!strcmp(g_, w_), __VA_ARGS__))                                                     \
            printf("#   got '%s', want '%s'\n", g_, w_);                                           \
    } while (0)

/* SMHasher's VerificationTest: hash keys {}, {0}, {0,1}, ... {0..254} with
 * seeds 256, 255, ... 2, hash the 256 results with seed 0; the first four
 * bytes, little-endian, are MurmurHash3_x64_128's published 0x6384BA69. */
static void test_murmur3(void)
{
    uint8_t key[256], hashes[256 * 16];
    for (int i = 0; i < 256; i++) {
        uint64_t h[2];
        key[i] = (uint8_t)i;
        dag_murmur3_x64_128(key, (size_t)i, (uint32_t)(256 - i), h);
        memcpy(hashes + 16 * i, h, 16);
    }
    uint64_t final[2];
    dag_murmur3_x64_128(hashes, sizeof(hashes), 0, final);
    is_int((uint32_t) final[0], 0x6384BA69u, "murmur3 x64 128 passes SMHasher's verification");
    double v = dag_random_uniform(key, 40);
    ok(v >= 0 && v < 1, "random_uniform is in [0, 1) (%g)", v);
}

static void test_simple(void)
{
    dag_shape s = shape(DAG_TRIVIAL, 4, 4);
    /* trivial: dependencies() returns 0 spans for every point */
    is_str(spans(&s, 0, 2, 0), "", "trivial: (t,2) depends on nothing");
    is_int(dag_total_tasks(&s), 16, "trivial: 4 x 4 tasks");
    s = shape(DAG_NO_COMM, 4, 4);
    /* no_comm: (point, point) */
    is_str(spans(&s, 0, 2, 0), "2-2", "no_comm: 2 <- 2");
    is_str(inputs(&s, 0, 2), "", "no_comm: step 0 has no inputs (width_at(-1) = 0)");
    s = shape(DAG_ALL_TO_ALL, 4, 4);
    /* all_to_all: (0, max_width-1) */
    is_str(spans(&s, 0, 1, 0), "0-3", "all_to_all: 1 <- 0..3");
    is_str(spans(&s, 0, 1, 1), "0-3", "all_to_all: reverse 1 -> 0..3");
}

static void test_stencils(void)
{
    dag_shape s = shape(DAG_STENCIL_1D, 4, 4);
    /* stencil_1d: (max(0, p-1), min(p+1, W-1)) */
    is_str(spans(&s, 0, 0, 0), "0-1", "stencil_1d: 0 <- 0..1 (clipped at 0)");
    is_str(spans(&s, 0, 1, 0), "0-2", "stencil_1d: 1 <- 0..2");
    is_str(spans(&s, 0, 3, 0), "2-3", "stencil_1d: 3 <- 2..3 (clipped at W-1)");
    is_str(inputs(&s, 2, 1), "0 1 2", "stencil_1d: (2,1) reads (1,0) (1,1) (1,2)");
    s = shape(DAG_STENCIL_1D_PERIODIC, 4, 4);
    /* periodic: the clipped span, then (W-1, W-1) when p-1 < 0, (0, 0)
     * when p+1 >= W */
    is_str(spans(&s, 0, 0, 0), "0-1 3-3", "stencil_1d_periodic: 0 <- 0..1 and 3 (wraps)");
    is_str(spans(&s, 0, 3, 0), "2-3 0-0", "stencil_1d_periodic: 3 <- 2..3 and 0 (wraps)");
    is_str(spans(&s, 0, 2, 0), "1-3", "stencil_1d_periodic: 2 <- 1..3");
}

static void test_dom(void)
{
    dag_shape s = shape(DAG_DOM, 4, 8);
    /* offset = max(0, t + W - S) = max(0, t - 4); width = min(W, t+1, S-t) */
    long off[8] = {0, 0, 0, 0, 0, 1, 2, 3}, wid[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    int good = 1;
    for (long t = 0; t < 8; t++)
        good &= dag_offset_at(&s, t) == off[t] && dag_width_at(&s, t) == wid[t];
    ok(good, "dom: offsets 0 0 0 0 0 1 2 3, widths 1 2 3 4 4 3 2 1 over 8 steps");
    is_int(dag_total_tasks(&s), 20, "dom: 20 tasks");
    /* dependencies: (max(0, p-1), p); reverse: (p, min(W-1, p+1)) */
    is_str(spans(&s, 0, 2, 0), "1-2", "dom: 2 <- 1..2");
    is_str(spans(&s, 0, 2, 1), "2-3", "dom: reverse 2 -> 2..3");
    /* (1,1) depends on 0..1 but step 0 holds point 0 only */
    is_str(inputs(&s, 1, 1), "0", "dom: (1,1) reads (0,0) only (clipped to step 0)");
    /* (6,3): 2..3; step 5 holds 1..3 */
    is_str(inputs(&s, 6, 3), "2 3", "dom: (6,3) reads (5,2) (5,3)");
}

static void test_tree(void)
{
    dag_shape s = shape(DAG_TREE, 4, 4);
    /* width = min(W, 2^t): 1 2 4 4 */
    ok(dag_width_at(&s, 0) == 1 && dag_width_at(&s, 1) == 2 && dag_width_at(&s, 2) == 4 &&
           dag_width_at(&s, 3) == 4,
       "tree: widths 1 2 4 4");
    /* dependencies: (p/2, p/2) */
    is_str(spans(&s, 0, 3, 0), "1-1", "tree: 3 <- 1");
    is_str(inputs(&s, 2, 3), "1", "tree: (2,3) reads (1,1)");
    /* reverse: children 2p, 2p+1 while < W */
    is_str(spans(&s, 0, 1, 1), "2-3", "tree: reverse 1 -> 2..3");
    is_str(spans(&s, 0, 2, 1), "", "tree: reverse 2 -> nothing (children 4, 5 >= W)");
}

static void test_fft(void)
{
    dag_shape s = shape(DAG_FFT, 8, 4);
    /* max_dependence_sets = ceil(log2 8) = 3; dset(t) = (t + 3 - 1) % 3 */
    is_int(dag_max_dsets(&s), 3, "fft: 3 dependence sets at width 8");
    ok(dag_dset_at(&s, 0) == 2 && dag_dset_at(&s, 1) == 0 && dag_dset_at(&s, 2) == 1 &&
           dag_dset_at(&s, 3) == 2,
       "fft: dsets 2 0 1 2 for steps 0..3");
    /* p - 2^d if >= 0, p, p + 2^d if < W */
    is_str(spans(&s, 0, 3, 0), "2-2 3-3 4-4", "fft: dset 0: 3 <- 2, 3, 4");
    is_str(spans(&s, 2, 3, 0), "3-3 7-7", "fft: dset 2: 3 <- 3, 7 (3-4 < 0)");
    is_str(inputs(&s, 3, 3), "3 7", "fft: (3,3) uses dset 2");
    dag_shape five = shape(DAG_FFT, 5, 4);
    is_int(dag_max_dsets(&five), 3, "fft: ceil(log2 5) = 3 dependence sets");
}

static void test_nearest(void)
{
    dag_shape s = shape(DAG_NEAREST, 8, 4);
    /* radix 3: (max(0, p - r/2), min(p + (r-1)/2, W-1)) = p-1 .. p+1 */
    is_str(spans(&s, 0, 0, 0), "0-1", "nearest r3: 0 <- 0..1");
    is_str(spans(&s, 0, 5, 0), "4-6", "nearest r3: 5 <- 4..6");
    s.radix = 4; /* p-2 .. p+1; reverse: p - (r-1)/2 .. p + r/2 = p-1 .. p+2 */
    is_str(spans(&s, 0, 5, 0), "3-6", "nearest r4: 5 <- 3..6");
    is_str(spans(&s, 0, 5, 1), "4-7", "nearest r4: reverse 5 -> 4..7");
    s.radix = 0;
    is_str(spans(&s, 0, 5, 0), "", "nearest r0: no dependencies");
}

static void test_spread(void)
{
    dag_shape s = shape(DAG_SPREAD, 8, 4);
    s.period = 2;
    /* i = 0..2: (p + i*W/r + (i > 0 ? dset : 0)) % W, W/r steps 0, 2, 5;
     * dset 1, p 6: 6, (6+2+1)%8 = 1, (6+5+1)%8 = 4 */
    is_str(spans(&s, 1, 6, 0), "6-6 1-1 4-4", "spread: dset 1: 6 <- 6, 1, 4");
    /* reverse: (p - i*W/r - dset) mod W: 1, (1-2-1)+8 = 6, (1-5-1)+8 = 3 */
    is_str(spans(&s, 1, 1, 1), "1-1 6-6 3-3", "spread: dset 1: reverse 1 -> 1, 6, 3");
    is_int(dag_dset_at(&s, 3), 1, "spread: dset(3) = 3 %% period 2 = 1");
}

static void test_random_nearest(void)
{
    dag_shape s = shape(DAG_RANDOM_NEAREST, 8, 4);
    /* fraction 0: only i == p is kept (radix > 0) */
    s.fraction = 0;
    is_str(spans(&s, 1, 4, 0), "4-4", "random_nearest f0: 4 <- 4 only");
    /* fraction 1: every point of nearest's window p-1 .. p+1, one run */
    s.fraction = 1;
    is_str(spans(&s, 1, 4, 0), "3-5", "random_nearest f1: 4 <- 3..5");
    /* radix 0: the window is max(0, p - 0/2) .. min(p + (0-1)/2, W-1) = p .. p
     * ((0-1)/2 is 0: C and C++ divide toward zero); the p-p edge is no
     * longer forced (radix > 0 fails), so the hash alone decides */
    s.radix = 0;
    is_str(spans(&s, 1, 4, 0), "4-4", "random_nearest r0 f1: 4 <- 4, kept by the fraction");
    s.fraction = 0;
    is_str(spans(&s, 1, 4, 0), "", "random_nearest r0 f0: no dependencies");
    s = shape(DAG_RANDOM_NEAREST, 16, 4);
    s.radix = 7;
    int good = 1;
    for (long p = 0; p < 16; p++) {
        dag_span sp[16];
        size_t n = dag_deps(&s, 2, p, sp);
        int has_p = 0;
        for (size_t i = 0; i < n; i++) {
            good &= sp[i].first >= p - 3 && sp[i].last <= p + 3 && sp[i].first <= sp[i].last;
            has_p |= sp[i].first <= p && p <= sp[i].last;
        }
        good &= has_p;
    }
    ok(good, "random_nearest f0.25 r7: runs inside p-3..p+3, always with p itself");
}

static void test_ours(void)
{
    dag_shape s = shape(DAG_CHAIN, 3, 7);
    /* one task per step at t % W, reading the one before */
    ok(dag_offset_at(&s, 4) == 1 && dag_width_at(&s, 4) == 1, "chain: step 4 is point 1");
    is_str(inputs(&s, 4, 1), "0", "chain: (4,1) reads (3,0)");
    is_int(dag_total_tasks(&s), 7, "chain: one task per step");
    s = shape(DAG_LAYERED, 6, 5);
    s.parents = 2;
    char a[64];
    snprintf(a, sizeof(a), "%s", inputs(&s, 3, 2));
    long pts[8];
    int outs[8];
    long n = dag_inputs(&s, 3, 2, pts, outs);
    ok(n == 2 && pts[0] < pts[1] && pts[0] >= 0 && pts[1] < 6,
       "layered: 2 distinct sorted parents in 0..5 (%s)", a);
    is_str(inputs(&s, 3, 2), a, "layered: the same parents every time");
    s.parents = 6;
    is_str(inputs(&s, 3, 2), "0 1 2 3 4 5", "layered: parents = width reads the whole step");
    s = shape(DAG_MAPREDUCE, 3, 2);
    s.reduces = 2;
    ok(dag_width_at(&s, 0) == 3 && dag_width_at(&s, 1) == 2 && dag_outputs_at(&s, 0) == 2 &&
           dag_outputs_at(&s, 1) == 1,
       "mapreduce: 3 maps of 2 partitions, 2 reduces");
    n = dag_inputs(&s, 1, 1, pts, outs);
    ok(n == 3 && pts[0] == 0 && pts[2] == 2 && outs[0] == 1 && outs[1] == 1 && outs[2] == 1,
       "mapreduce: reduce 1 reads partition 1 of maps 0, 1, 2");
}

typedef size_t (*spans_fn)(const dag_shape *, long, long, dag_span *);

/* Every point q that `one` gives for p has p exactly once in `other`(q). */
static int answered(const dag_shape *s, long d, long p, spans_fn one, spans_fn other)
{
    dag_span a[64], b[64];
    size_t n = one(s, d, p, a);
    for (size_t i = 0; i < n; i++)
        for (long q = a[i].first; q <= a[i].last; q++) {
            size_t m = other(s, d, q, b), hit = 0;
            for (size_t j = 0; j < m; j++)
                hit += b[j].first <= p && p <= b[j].last;
            if (hit != 1)
                return 0;
        }
    return 1;
}

/* Task Bench's App::check: each reverse dependency mirrors a dependency;
 * and, the other way, each dependency has its reverse. */
static int mirrored(const dag_shape *s)
{
    for (long d = 0; d < dag_max_dsets(s); d++)
        for (long p = 0; p < s->width; p++)
            if (!answered(s, d, p, dag_rdeps, dag_deps) || !answered(s, d, p, dag_deps, dag_rdeps))
                return 0;
    return 1;
}

static void test_mirror(void)
{
    const long widths[] = {3, 4, 7, 16};
    for (int k = DAG_TRIVIAL; k <= DAG_RANDOM_NEAREST; k++) {
        int good = 1;
        for (int w = 0; w < 4; w++) {
            dag_shape s = shape(k, widths[w], 8);
            if (k == DAG_SPREAD && widths[w] < 7)
                s.period = 1;
            char why[256];
            if (dag_shape_check(&s, why, sizeof(why))) {
                good = 0;
                diag("%s width %ld rejected: %s", dag_kind_name(k), widths[w], why);
            }
            good &= mirrored(&s);
        }
        ok(good, "%s: reverse dependencies mirror dependencies (widths 3, 4, 7, 16)",
           dag_kind_name(k));
    }
}

static int rejected(dag_shape s, const char *what)
{
    char why[256] = "";
    int rc = dag_shape_check(&s, why, sizeof(why));
    if (rc)
        diag("%s: %s", what, why);
    return rc != 0;
}

static void test_checks(void)
{
    /* width 2: (0,1) and the wrap (1,1) name point 1 twice */
    ok(rejected(shape(DAG_STENCIL_1D_PERIODIC, 2, 4), "periodic w2"),
       "stencil_1d_periodic width 2 is rejected (point read twice, as Task Bench's check)");
    dag_shape s = shape(DAG_SPREAD, 4, 4); /* period 3 > (4 + 3 - 1) / 3 = 2 */
    ok(rejected(s, "spread w4"), "spread width 4 radix 3 period 3 is rejected");
    s = shape(DAG_STENCIL_1D, 4, 4);
    s.period = 2;
    ok(rejected(s, "stencil period"), "a period on stencil_1d is rejected");
    ok(rejected(shape(DAG_FFT, 1, 4), "fft w1"), "fft width 1 is rejected (no dependence set)");
    ok(rejected(shape(DAG_MAPREDUCE, 4, 3), "mapreduce s3"), "mapreduce with 3 steps is rejected");
    s = shape(DAG_LAYERED, 4, 4);
    s.parents = 5;
    ok(rejected(s, "layered k5"), "layered with more parents than width is rejected");
    ok(!rejected(shape(DAG_SPREAD, 7, 4), "spread w7"), "spread width 7 radix 3 period 3 is fine");
}

static void test_metg(void)
{
    /* granularity = task_us / efficiency; from large tasks to small */
    dag_curve_point c[4] = {{1000, 1004, 0.996}, {100, 105, 0.95}, {10, 16, 0.625}, {1, 8, 0.125}};
    dag_metg_result m;
    /* best >= 50%: 16 us at 0.625; next (8 us at 0.125) is smaller: w =
     * (0.5 - 0.125) / (0.625 - 0.125) = 0.75, g = 8 + 0.75 * 8 = 14, task
     * = 1 + 0.75 * 9 = 7.75 */
    is_int(dag_metg(c, 4, 0.5, &m), DAG_METG_POINT, "metg: found");
    ok(fabs(m.granularity_us - 14) < 1e-9 && fabs(m.task_us - 7.75) < 1e-9 && m.interpolated,
       "metg: interpolated to 14 us (tasks of 7.75 us), got %g (%g)", m.granularity_us, m.task_us);
    c[3].granularity_us = 20; /* no improvement past the point: no interpolation */
    c[3].efficiency = 0.05;
    is_int(dag_metg(c, 4, 0.5, &m), DAG_METG_POINT, "metg: found without interpolation");
    ok(m.granularity_us == 16 && !m.interpolated, "metg: the point itself, 16 us");
    is_int(dag_metg(c, 2, 0.5, &m), DAG_METG_UPPER, "metg: every point >= 50%%: an upper bound");
    ok(m.granularity_us == 105, "metg: upper bound 105 us");
    c[0].efficiency = c[1].efficiency = c[2].efficiency = 0.4;
    is_int(dag_metg(c, 4, 0.5, &m), DAG_METG_NONE, "metg: no point >= 50%%");
    ok(isnan(m.granularity_us), "metg: nan when nothing reached 50%%");
}

static void test_metg_reps(void)
{
    /* per repetition: 10, 12, never, 11, 9 -> sorted 9 10 11 12 inf: median 11 */
    dag_metg_result r[5] = {{10, 5, 1}, {12, 6, 1}, {NAN, NAN, 0}, {11, 5.5, 0}, {9, 4.5, 1}};
    int st[5] = {DAG_METG_POINT, DAG_METG_POINT, DAG_METG_NONE, DAG_METG_POINT, DAG_METG_POINT};
    dag_metg_summary m;
    dag_metg_summarize(r, st, 5, &m);
    ok(m.status == DAG_METG_POINT && m.granularity_us == 11 && m.task_us == 5.5 &&
           m.min_granularity_us == 9 && isinf(m.max_granularity_us) && m.reached == 4 &&
           m.interpolated == 3,
       "metg over reps: median 11 us, min 9, max inf (one never reached 50%%), 4 reached");
    /* 10, never, never, 12 -> 10 12 inf inf: the median is infinite */
    st[1] = st[2] = DAG_METG_NONE;
    dag_metg_summarize(r, st, 4, &m);
    ok(m.status == DAG_METG_NONE && isnan(m.granularity_us) && m.reached == 2 &&
           m.min_granularity_us == 10 && isinf(m.max_granularity_us),
       "metg over reps: half never reached 50%%: none (nan), min 10, max inf");
    dag_metg_result b[3] = {{10, 5, 0}, {12, 6, 0}, {11, 5.5, 1}};
    int up[3] = {DAG_METG_UPPER, DAG_METG_UPPER, DAG_METG_POINT};
    dag_metg_summarize(b, up, 3, &m);
    ok(m.status == DAG_METG_UPPER && m.granularity_us == 11,
       "metg over reps: mostly upper bounds: an upper bound, median 11 us");
}

int main(void)
{
    test_murmur3();
    test_simple();
    test_stencils();
    test_dom();
    test_tree();
    test_fft();
    test_nearest();
    test_spread();
    test_random_nearest();
    test_ours();
    test_mirror();
    test_checks();
    test_metg();
    test_metg_reps();
    return tap_done();
}
