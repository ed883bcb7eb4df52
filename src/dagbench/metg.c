/*
 * metg.c - the minimum effective task granularity, METG(threshold), of an
 * efficiency curve, computed as Task Bench's scripts/chart_metg.py does.
 * A point is a run at one task size: its granularity (makespan x cores /
 * tasks, in us: the wall time a core spends per task) and its efficiency.
 * Among the points at or above the threshold, take the one of smallest
 * granularity; if the next smaller task size has a smaller granularity
 * still (it fell below the threshold), interpolate the granularity
 * linearly in efficiency between the two at the threshold (numpy.interp
 * over the pair).  Over repetitions (a curve per repetition), the median
 * counts a repetition that never reached the threshold as infinitely
 * coarse.  Pure: tested by tests/dagbench/test_patterns.
 */
#include "metg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The point of smallest granularity at or above the threshold, or -1. */
static int best_point(const dag_curve_point *pts, int n, double threshold)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (pts[i].efficiency >= threshold &&
            (best < 0 || pts[i].granularity_us < pts[best].granularity_us))
            best = i;
    return best;
}

int dag_metg(const dag_curve_point *pts, int n, double threshold, dag_metg_result *out)
{
    out->granularity_us = NAN;
    out->task_us = NAN;
    out->interpolated = 0;
    int i = best_point(pts, n, threshold);
    if (i < 0)
        return DAG_METG_NONE;
    out->granularity_us = pts[i].granularity_us;
    out->task_us = pts[i].task_us;
    if (i + 1 >= n)
        return DAG_METG_UPPER; /* nothing smaller was run: METG is at most this */
    const dag_curve_point *a = &pts[i + 1], *b = &pts[i]; /* a: below, b: above */
    if (!(a->granularity_us < b->granularity_us) || !(a->efficiency < b->efficiency))
        return DAG_METG_POINT;
    double w = (threshold - a->efficiency) / (b->efficiency - a->efficiency);
    out->granularity_us = a->granularity_us + w * (b->granularity_us - a->granularity_us);
    out->task_us = a->task_us + w * (b->task_us - a->task_us);
    out->interpolated = 1;
    return DAG_METG_POINT;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorted in place), inf counting as the largest. */
static double median_inf(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void range(const double *v, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
}

void dag_metg_summarize(const dag_metg_result *r, const int *status, int n, dag_metg_summary *out)
{
    double g[DAG_METG_MAX_REPS], t[DAG_METG_MAX_REPS];
    memset(out, 0, sizeof(*out));
    out->reps = n;
    for (int i = 0; i < n; i++) {
        int none = status[i] == DAG_METG_NONE;
        g[i] = none ? INFINITY : r[i].granularity_us;
        t[i] = none ? INFINITY : r[i].task_us;
        out->reached += !none;
        out->upper += status[i] == DAG_METG_UPPER;
        out->interpolated += r[i].interpolated;
    }
    range(g, n, &out->min_granularity_us, &out->max_granularity_us);
    range(t, n, &out->min_task_us, &out->max_task_us);
    if (isinf(out->min_granularity_us)) /* no repetition reached it */
        out->min_granularity_us = out->min_task_us = NAN;
    out->granularity_us = median_inf(g, n);
    out->task_us = median_inf(t, n);
    out->status = isinf(out->granularity_us) ? DAG_METG_NONE
                  : out->upper * 2 > n       ? DAG_METG_UPPER
                                             : DAG_METG_POINT;
    if (out->status == DAG_METG_NONE)
        out->granularity_us = out->task_us = NAN; /* min: what the others reached */
}
