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

#define DAG_METG_MAX_REPS 100

typedef struct dag_metg_summary {
    int status;                     /* DAG_METG_NONE when the median repetition never reached it;
                                       UPPER when most repetitions gave only an upper bound */
    double granularity_us, task_us; /* medians (nan: NONE) */
    double min_granularity_us, max_granularity_us; /* max inf: a repetition never reached it */
    double min_task_us, max_task_us;
    int reps, reached, upper, interpolated; /* repetitions: all, that reached it, ... */
} dag_metg_summary;

/* METG over repetitions: r[i] and status[i] (dag_metg's answers) of
 * repetition i's curve, n <= DAG_METG_MAX_REPS. */
void dag_metg_summarize(const dag_metg_result *r, const int *status, int n, dag_metg_summary *out);

#endif
