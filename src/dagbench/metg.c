/*
 * metg.c - the minimum effective task granularity, METG(threshold), of an
 * efficiency curve, computed as Task Bench's scripts/chart_metg.py does.
 * A point is a run at one task size: its granularity (makespan x cores /
 * tasks, in us: the wall time a core spends per task) and its efficiency.
 * Among the points at or above the threshold, take the one of smallest
 * granularity; if the next smaller task size has a smaller granularity
 * still (it fell below the threshold), interpolate the granularity
 * linearly in efficiency between the two at the threshold (numpy.interp
 * over the pair).  Pure: tested by tests/dagbench/test_patterns.
 */
#include "metg.h"

#include <math.h>

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
