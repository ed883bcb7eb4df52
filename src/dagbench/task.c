/*
 * task.c - the one remote function of ray-mpi-dagbench and what it
 * computes.  A task reads its header (t, p, work, output size), folds the
 * first 8 bytes of every input into its checksum, works (a busy-spin on
 * the monotonic clock, or Task Bench's compute_bound kernel), and writes
 * each output in place: the checksum first, then its node, then filler up
 * to the output size.  The driver computes the same checksums from the
 * pattern alone, so a lost, stale or misrouted input shows as a wrong
 * checksum in the task that read it.
 */
#include "dagbench.h"

#include <string.h>
#include <time.h>

#define FMA_WIDTH 64 /* doubles, as Task Bench's compute_bound */

double dag_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t dag_sum_start(long t, long p)
{
    return dag_fmix64(dag_fmix64((uint64_t)t * 0x9e3779b97f4a7c15ull + 1) ^ (uint64_t)p);
}

uint64_t dag_sum_add(uint64_t h, uint64_t input)
{
    return dag_fmix64(h ^ input) + 0x632be59bd9b4e019ull;
}

uint64_t dag_sum_output(uint64_t h, int output)
{
    return dag_fmix64(h + (uint64_t)output + 1);
}

long long dag_fma_flops(long iterations)
{
    return 2LL * FMA_WIDTH * iterations + FMA_WIDTH;
}

/* Where the kernel's result goes, so the compiler keeps the loop. */
static volatile double fma_sink;

/* Task Bench's compute_bound kernel without AVX: 64 lanes of a = a*a + a. */
void dag_fma_kernel(uint64_t iterations)
{
    double a[FMA_WIDTH];
    for (int i = 0; i < FMA_WIDTH; i++)
        a[i] = 1.2345;
    for (uint64_t it = 0; it < iterations; it++)
        for (int i = 0; i < FMA_WIDTH; i++)
            a[i] = a[i] * a[i] + a[i];
    double dot = 1.0;
    for (int i = 0; i < FMA_WIDTH; i++)
        dot *= a[i];
    fma_sink = dot;
}

void dag_spin(uint64_t ns)
{
    uint64_t end = now_ns() + ns;
    while (now_ns() < end)
        ;
}

/* A gate: spins until cancelled (ray_cancel without force) or ns pass. */
static void spin_until_cancelled(const ray_ctx *ctx, uint64_t ns)
{
    uint64_t end = now_ns() + ns;
    while (now_ns() < end && !ray_ctx_cancelled(ctx))
        ;
}

double dag_fma_ns_per_iteration(void)
{
    const uint64_t n = 200000;
    double best = 1e30;
    dag_fma_kernel(n / 10); /* warm the core up */
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = now_ns();
        dag_fma_kernel(n);
        double ns = (double)(now_ns() - t0) / (double)n;
        best = ns < best ? ns : best;
    }
    return best;
}

static int write_outputs(ray_ctx *ctx, const dag_task_hdr *h, uint64_t sum)
{
    int32_t node = ray_ctx_node(ctx);
    for (int j = 0; j < h->nret; j++) {
        uint8_t *out = ray_return_alloc(ctx, j, h->bytes);
        if (!out)
            return ray_fail(ctx, "task (%d, %d): ray_return_alloc of %u bytes: %s", h->t, h->p,
                            h->bytes, ray_last_error());
        uint64_t c = dag_sum_output(sum, j) ^ (h->flags & DAG_F_INJECT ? 1 : 0);
        memcpy(out, &c, sizeof(c));
        size_t at = sizeof(c);
        if (h->bytes >= DAG_NODE_AT + sizeof(node)) {
            memcpy(out + DAG_NODE_AT, &node, sizeof(node));
            at = DAG_NODE_AT + sizeof(node);
        }
        memset(out + at, (int)(c & 0xff), h->bytes - at);
    }
    return 0;
}

static int dagbench_task(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    dag_task_hdr h;
    if (nargs < 1 || args[0].size != sizeof(h))
        return ray_fail(ctx, "dagbench_task: argument 0 is not a task header");
    memcpy(&h, args[0].data, sizeof(h));
    if (h.bytes < 8)
        return ray_fail(ctx, "task (%d, %d): outputs of %u bytes have no room for a checksum", h.t,
                        h.p, h.bytes);
    uint64_t sum = dag_sum_start(h.t, h.p);
    for (int i = 1; i < nargs; i++) {
        uint64_t in;
        if (args[i].size != h.bytes)
            return ray_fail(ctx, "task (%d, %d): input %d has %zu bytes, not %u", h.t, h.p, i - 1,
                            args[i].size, h.bytes);
        memcpy(&in, args[i].data, sizeof(in));
        sum = dag_sum_add(sum, in);
    }
    if (h.flags & DAG_F_FMA)
        dag_fma_kernel(h.work);
    else if (h.flags & DAG_F_GATE)
        spin_until_cancelled(ctx, h.work);
    else
        dag_spin(h.work);
    return write_outputs(ctx, &h, sum);
}
RAY_REMOTE(dagbench_task)
