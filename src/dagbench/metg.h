/*
 * metg.h - Task Bench's minimum effective task granularity over an
 * efficiency curve (metg.c).  Pure, no runtime.
 */
#ifndef DAGBENCH_METG_H
#define DAGBENCH_METG_H

typedef struct dag_curve_point {
    double task_us;        /* the task's own time at this point */
    double granularity_us; /* makespan x cores / tasks */
    double efficiency;     /* task time / (cores x makespan) */
} dag_curve_point;

typedef struct dag_metg_result {
    double granularity_us; /* METG, in Task Bench's unit */
    double task_us;        /* the task time at the same place on the curve */
    int interpolated;
} dag_metg_result;

enum {
    DAG_METG_POINT = 0, /* found (maybe interpolated) */
    DAG_METG_UPPER = 1, /* the smallest task size still reached it: METG <= the value */
    DAG_METG_NONE = 2   /* no point reached the threshold: nan */
};

/* pts ordered from the largest task size to the smallest. */
int dag_metg(const dag_curve_point *pts, int n, double threshold, dag_metg_result *out);

#endif
