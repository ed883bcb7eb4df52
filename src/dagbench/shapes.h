/*
 * shapes.h - the dependence patterns of ray-mpi-dagbench, as pure
 * functions: which points of step t-1 task (t, p) reads.  The Task Bench
 * patterns (trivial ... random_nearest) follow StanfordLegion/task-bench
 * core/core.cc exactly: offset and width per timestep, dependence sets
 * (dset) per timestep, dependencies(dset, point) and
 * reverse_dependencies(dset, point) as spans [first, last] before they are
 * clipped to the previous step's points.  chain, layered and mapreduce are
 * ray-mpi's own (see shapes.c).  Nothing here touches the runtime.
 */
#ifndef DAGBENCH_SHAPES_H
#define DAGBENCH_SHAPES_H

#include <stddef.h>
#include <stdint.h>

enum dag_kind {
    DAG_TRIVIAL,
    DAG_NO_COMM,
    DAG_STENCIL_1D,
    DAG_STENCIL_1D_PERIODIC,
    DAG_DOM,
    DAG_TREE,
    DAG_FFT,
    DAG_ALL_TO_ALL,
    DAG_NEAREST,
    DAG_SPREAD,
    DAG_RANDOM_NEAREST,
    DAG_CHAIN,
    DAG_LAYERED,
    DAG_MAPREDUCE,
    DAG_KIND_COUNT
};

typedef struct dag_shape {
    int kind;
    long width;       /* Task Bench's max_width; mapreduce: the maps */
    long steps;       /* timesteps; mapreduce: always 2 */
    long radix;       /* nearest, spread, random_nearest (Task Bench default 3) */
    long period;      /* spread, random_nearest (default 3); 0 for the others */
    double fraction;  /* random_nearest: fraction_connected (default 0.25) */
    long graph_index; /* Task Bench's graph index, 0: one graph */
    long parents;     /* layered: random parents per task (default 2) */
    uint64_t seed;    /* layered: the random graph (default 1) */
    long reduces;     /* mapreduce: reduce tasks (default: width) */
} dag_shape;

typedef struct dag_span {
    long first, last; /* points first..last, both included */
} dag_span;

const char *dag_kind_name(int kind);
int dag_kind_parse(const char *name); /* -1 when unknown */
int dag_kind_is_taskbench(int kind);
int dag_kind_needs_period(int kind); /* spread and random_nearest, as Task Bench */

/* Task Bench's defaults for kind; width 4, steps 4. */
void dag_shape_init(dag_shape *s, int kind);
/* 0 if the graph is well formed (Task Bench's App::check and ours), else
 * -1 with the reason in why. */
int dag_shape_check(const dag_shape *s, char *why, size_t size);

long dag_offset_at(const dag_shape *s, long t); /* first point of step t (0 for t < 0) */
long dag_width_at(const dag_shape *s, long t);  /* points in step t (0 for t < 0) */
long dag_max_dsets(const dag_shape *s);
long dag_dset_at(const dag_shape *s, long t);
long dag_row_width(const dag_shape *s);         /* most points any step spans: offset + width */
int dag_outputs_at(const dag_shape *s, long t); /* outputs per task of step t */
long dag_total_tasks(const dag_shape *s);

/* Spans of points of the previous step that point depends on in dset
 * (dependencies), or that depend on point (reverse_dependencies), before
 * clipping; out needs room for dag_num_deps / dag_num_rdeps spans.  The
 * reverse direction exists for the Task Bench patterns only (0 for ours). */
size_t dag_num_deps(const dag_shape *s, long dset, long point);
size_t dag_deps(const dag_shape *s, long dset, long point, dag_span *out);
size_t dag_num_rdeps(const dag_shape *s, long dset, long point);
size_t dag_rdeps(const dag_shape *s, long dset, long point, dag_span *out);

/* The inputs of task (t, p) in order: the points of step t-1 it reads
 * (clipped to that step's points, as Task Bench's execute_point) and which
 * output of each (0 except mapreduce's reduces).  pts and outs need room
 * for dag_row_width(s) entries; returns how many. */
long dag_inputs(const dag_shape *s, long t, long p, long *pts, int *outs);
long dag_total_deps(const dag_shape *s);

/* Task Bench's random_uniform: MurmurHash3 x64 128 of input, seed
 * 1234567, first word scaled to [0, 1). */
double dag_random_uniform(const void *input, size_t bytes);
void dag_murmur3_x64_128(const void *key, size_t len, uint32_t seed, uint64_t out[2]);
uint64_t dag_fmix64(uint64_t k); /* MurmurHash3's finalizer */

#endif
