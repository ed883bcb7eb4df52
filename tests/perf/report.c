/*
 * report.c - see report.h.
 */
#define _GNU_SOURCE
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int g_reps = 5;
int g_status;
char g_reason[512];

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sets g_reason and returns -1: the workload cannot run. */
int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_reason, sizeof(g_reason), fmt, ap);
    va_end(ap);
    for (char *p = g_reason; *p; p++)
        if (*p == '"' || *p == '\n')
            *p = '\'';
    return -1;
}

int fail_ray(const char *what, int rc)
{
    return fail("%s: %s: %s", what, ray_errname(rc), ray_last_error());
}

int64_t as_i64(const ray_buf *b)
{
    int64_t v = INT64_MIN;
    if (b->size == sizeof(v))
        memcpy(&v, b->data, sizeof(v));
    return v;
}

void release_all(const ray_ref *refs, int n)
{
    for (int i = 0; i < n; i++)
        ray_release(refs[i]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile of sorted v. */
double percentile(const double *v, int n, double p)
{
    int k = (int)ceil(p / 100.0 * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

uint64_t w4_sum(uint64_t n)
{
    uint64_t pairs = n % 2 ? n * ((n - 1) / 2) : (n / 2) * (n - 1);
    return GOLDEN * pairs;
}

/* Pre-faulted memory of size bytes (mmap), or NULL. */
uint64_t *map_bytes(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0, size);
    return p;
}

/* ------------------------------------------------------------- reporting */


void read_load(rep_load *l)
{
    char a[16] = "nan", b[16] = "nan", c[16] = "nan";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%15s %15s %15s", a, b, c) != 3)
            strcpy(a, "nan");
        fclose(f);
    }
    l->one = strtod(a, NULL);
    snprintf(l->text, sizeof(l->text), "%s/%s/%s", a, b, c);
}



static void fmt_value(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if (fabs(v) >= 1e4)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.4g", v);
}

void print_na(const series *s)
{
    printf("peer=%s workload=%s metric=na value=nan unit=na reason=\"%s\"\n", s->peer, s->wl,
           g_reason);
    g_status = 1;
}

void print_metric(const series *s, const results *r, int m)
{
    char val[32], lo[32], hi[32];
    double sorted[MAX_REPS], l1lo = INFINITY, l1hi = -INFINITY;
    int all_ok = 1;
    for (int i = 0; i < r->n; i++) {
        fmt_value(val, sizeof(val), r->v[m][i]);
        printf("# peer=%s workload=%s metric=%s rep=%d value=%s unit=%s load=%s check=%s\n",
               s->peer, s->wl, s->metric[m], i + 1, val, s->unit[m], r->load[i].text,
               r->ok[i] ? "ok" : "FAIL");
        sorted[i] = r->v[m][i];
        l1lo = fmin(l1lo, r->load[i].one);
        l1hi = fmax(l1hi, r->load[i].one);
        all_ok &= r->ok[i];
    }
    fmt_value(val, sizeof(val), median(sorted, r->n));
    fmt_value(lo, sizeof(lo), sorted[0]);
    fmt_value(hi, sizeof(hi), sorted[r->n - 1]);
    printf("peer=%s workload=%s metric=%s value=%s unit=%s min=%s max=%s n=%d load1=%.2f..%.2f "
           "check=%s\n",
           s->peer, s->wl, s->metric[m], val, s->unit[m], lo, hi, r->n, l1lo, l1hi,
           all_ok ? "ok" : "FAIL");
    if (!all_ok)
        g_status = 1;
}

/* A warm-up, then g_reps timed repetitions; prints the lines. */
void run_series(const series *s)
{
    static results r;
    double v[REPORT_METRICS];
    int ok = 0;
    r.n = 0;
    fflush(stdout);
    if (s->run(0, v, &ok)) {
        print_na(s);
        return;
    }
    for (int i = 0; i < g_reps; i++) {
        if (s->run(i + 1, v, &ok)) {
            print_na(s);
            return;
        }
        for (int m = 0; m < s->nm; m++)
            r.v[m][i] = v[m];
        r.ok[i] = ok;
        read_load(&r.load[i]);
        r.n++;
        fflush(stdout);
    }
    for (int m = 0; m < s->nm; m++)
        print_metric(s, &r, m);
    fflush(stdout);
}

int read_reps(void)
{
    const char *reps = getenv("BENCH_REPS");
    g_reps = reps && *reps ? atoi(reps) : 5;
    return g_reps < 1 || g_reps > MAX_REPS - 1 ? -1 : 0;
}
