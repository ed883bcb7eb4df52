/*
 * test_threads.c - a driver with several threads (ray_mpi.h: "ray_last_error()
 * gives the detailed message of the last failure in the calling thread"):
 * four threads submit, get and release tasks and objects at the same time
 * and every result is right; errors and their messages stay in the thread
 * that caused them.
 */
#include "e2e.h"
#include "lib/tap.h"

#include <pthread.h>

enum { THREADS = 4, PER_THREAD = 5000 };

static int square(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t v = buf_i64(&args[0], 0);
    v *= v;
    return ray_return(ctx, 0, &v, sizeof(v));
}
RAY_REMOTE(square)

static int fail_named(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_fail(ctx, "failure of thread %lld", (long long)buf_i64(&args[0], -1));
}
RAY_REMOTE(fail_named)

typedef struct job {
    int id;
    int wrong;  /* wrong results */
    int errors; /* calls that failed */
    int msg_ok; /* the thread's own error message came back */
    char last[256];
} job;

/* Submits in batches of 100, reads them with ray_get_many, and puts and
 * reads an object of its own every batch. */
static void *work(void *arg)
{
    job *j = arg;
    ray_ref r[100];
    ray_buf b[100];
    for (int done = 0; done < PER_THREAD; done += 100) {
        for (int i = 0; i < 100; i++) {
            int64_t v = j->id * 1000000 + done + i;
            ray_arg a = ray_arg_val(&v, sizeof(v));
            if (ray_submit("square", &a, 1, NULL, &r[i])) {
                j->errors++;
                return NULL;
            }
        }
        if (ray_get_many(r, 100, b, E2E_TIMEOUT)) {
            j->errors++;
            snprintf(j->last, sizeof(j->last), "%s", ray_last_error());
            return NULL;
        }
        for (int i = 0; i < 100; i++) {
            int64_t v = j->id * 1000000 + done + i;
            j->wrong += buf_i64(&b[i], -1) != v * v;
            j->errors += ray_release(r[i]) != RAY_OK;
        }
        int64_t mine = j->id * 7 + done;
        ray_ref o;
        ray_buf ob;
        if (ray_put(&mine, sizeof(mine), &o) || ray_get(o, &ob, E2E_TIMEOUT) ||
            buf_i64(&ob, -1) != mine || ray_release(o))
            j->errors++;
    }
    /* A failure of this thread's own: its message, not another thread's. */
    int64_t id = j->id;
    ray_arg a = ray_arg_val(&id, sizeof(id));
    ray_ref f;
    ray_buf fb;
    char want[64];
    snprintf(want, sizeof(want), "failure of thread %d", j->id);
    if (ray_submit("fail_named", &a, 1, NULL, &f) == RAY_OK) {
        int rc = ray_get(f, &fb, E2E_TIMEOUT);
        usleep(20000); /* let the other threads fail meanwhile */
        j->msg_ok = rc == RAY_ETASK && !strcmp(ray_last_error(), want);
        snprintf(j->last, sizeof(j->last), "%s", ray_last_error());
        ray_release(f);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init");
    if (rc)
        return 1;
    pthread_t t[THREADS];
    job jobs[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].id = i + 1;
        pthread_create(&t[i], NULL, work, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    diag("4 threads x 5000 tasks in %.2f s", now_s() - t0);
    for (int i = 0; i < THREADS; i++) {
        ok(jobs[i].errors == 0 && jobs[i].wrong == 0,
           "thread %d: 5000 tasks and 50 objects, all right (%d errors, %d wrong%s%s)", i + 1,
           jobs[i].errors, jobs[i].wrong, jobs[i].errors ? ": " : "",
           jobs[i].errors ? jobs[i].last : "");
        ok(jobs[i].msg_ok, "thread %d: ray_last_error is its own failure's message (%s)", i + 1,
           jobs[i].last);
    }
    ray_ref none;
    memset(&none, 0, sizeof(none));
    ray_buf b;
    ray_get(none, &b, 0); /* an error in the main thread ... */
    char mine[256];
    snprintf(mine, sizeof(mine), "%s", ray_last_error());
    memset(&jobs[0], 0, sizeof(jobs[0]));
    jobs[0].id = 9;
    pthread_create(&t[0], NULL, work, &jobs[0]); /* ... then others in a thread */
    pthread_join(t[0], NULL);
    ok(!strcmp(mine, ray_last_error()),
       "the main thread's last error is unchanged by other "
       "threads' (%s)",
       mine);
    ray_stats s;
    ray_get_stats(&s);
    double end = now_s() + 5;
    while (s.tasks_live && now_s() < end && ray_get_stats(&s) == RAY_OK)
        sleep_s(0.02);
    is_int(s.tasks_live, 0, "no task is left live");
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    return tap_done();
}
