/*
 * report.h - what the benchmark programs of tests/perf share: repetitions
 * of a workload (an untimed warm-up, then BENCH_REPS timed), their lines in
 * the format of BENCHMARKS.md, the W4 data, small helpers, and the remote
 * functions and task tree of tasks.c.
 *
 * A workload is a series: its peer, its name, up to REPORT_METRICS metrics
 * and a function that runs one repetition.  run_series() prints one
 * `# peer=... rep=N` line per repetition and metric, then the summary line
 * (median, min, max, the 1-minute load's range, check=ok|FAIL).
 */
#ifndef RAY_BENCH_REPORT_H
#define RAY_BENCH_REPORT_H

#include <ray_mpi.h>

#include <stddef.h>
#include <stdint.h>

#define TIMEOUT_S      300.0
#define MAX_REPS       101
#define REPORT_METRICS 3
#define GOLDEN         0x9E3779B97F4A7C15ull

extern int g_reps;          /* timed repetitions (BENCH_REPS, default 5) */
extern int g_status;        /* exit status: 1 after a FAIL or an na */
extern char g_reason[512];  /* why the current workload cannot run */

double now(void); /* CLOCK_MONOTONIC, seconds */
/* Sets g_reason (quotes and newlines made harmless); returns -1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail_ray(const char *what, int rc);
/* The 8-byte integer in b, or INT64_MIN when b is not one. */
int64_t as_i64(const ray_buf *b);
void release_all(const ray_ref *refs, int n);
/* Sorts v; the median (the mean of the middle two when n is even). */
double median(double *v, int n);
/* Nearest-rank percentile of sorted v. */
double percentile(const double *v, int n, double p);
/* BENCH_REPS, checked; -1 when out of range. */
int read_reps(void);

/* Word i of the W4 (and W6) data, and the sum of the first n (mod 2^64). */
static inline uint64_t w4_word(uint64_t i)
{
    return i * GOLDEN;
}
uint64_t w4_sum(uint64_t n);
/* Pre-faulted private memory of size bytes (mmap), or NULL. */
uint64_t *map_bytes(size_t size);

typedef struct rep_load {
    double one;
    char text[64]; /* "<1min>/<5min>/<15min>" */
} rep_load;
void read_load(rep_load *l);

/* One repetition: fills values[] and *ok; returns 0, or -1 with g_reason.
 * rep 0 is the warm-up. */
typedef int (*rep_fn)(int rep, double *values, int *ok);

typedef struct series {
    const char *peer, *wl;
    int nm;
    const char *metric[REPORT_METRICS], *unit[REPORT_METRICS];
    rep_fn run;
} series;

typedef struct results {
    int n;
    double v[REPORT_METRICS][MAX_REPS];
    int ok[MAX_REPS];
    rep_load load[MAX_REPS];
} results;

/* clang-format off */
#define SERIES1(peer, wl, m, u, fn) {peer, wl, 1, {m}, {u}, fn}
#define SERIES2(peer, wl, m1, m2, u1, u2, fn) {peer, wl, 2, {m1, m2}, {u1, u2}, fn}
#define SERIES3(peer, wl, m1, m2, m3, u1, u2, u3, fn) {peer, wl, 3, {m1, m2, m3}, {u1, u2, u3}, fn}
/* clang-format on */

/* `metric=na value=nan ... reason="g_reason"`; sets g_status. */
void print_na(const series *s);
/* The repetitions' lines of metric m, then its summary line. */
void print_metric(const series *s, const results *r, int m);
/* A warm-up, then g_reps timed repetitions; prints the lines. */
void run_series(const series *s);

/* ---- tasks.c: the remote functions the workloads share: noop (returns
 * the 8-byte 1), leaf (returns its 8-byte argument), add (of two) */
int leaf(ray_ctx *ctx, const ray_buf *args, int nargs);
int add(ray_ctx *ctx, const ray_buf *args, int nargs);

/* The W3 tree: `leaves` leaf tasks of 0..leaves-1 folded pairwise by add
 * tasks into level[0], the root (the driver keeps only it).  With nodes > 1
 * the i-th task of each level runs on node i mod nodes (the tree's edges
 * cross nodes); else where o says.  0, or -1 with g_reason (nothing held). */
int tree_submit(ray_ref *level, int leaves, const char *leaf_fn, const char *add_fn,
                const ray_task_opts *o, int nodes);

#endif /* RAY_BENCH_REPORT_H */
