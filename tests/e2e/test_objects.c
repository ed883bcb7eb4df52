/*
 * test_objects.c - the object store as users see it (DESIGN.md section 4):
 * ray_put/ray_get round trips from empty to 100 MB, views are read-only,
 * ray_create + ray_seal (a task waiting for an object still being written
 * gets it once sealed), the errors of a wrong life cycle (get before seal,
 * seal twice, get or release after release, also while a task still holds
 * the object), memory coming back after
 * releases (ray_get_stats) and after tasks (what a task kept or failed to
 * deliver is freed), and RAY_ENOMEM when an object does not fit,
 * with a message that names the size asked for, after which the store works
 * again once objects are released.
 *
 * The store is 512 MB here (tests/run-test.sh sets RAY_MPI_OBJECT_STORE_MEMORY).
 */
#include "e2e.h"
#include "lib/tap.h"

#include <setjmp.h>
#include <signal.h>

/* Returns its argument's bytes unchanged. */
static int echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    return ray_return(ctx, 0, args[0].data, args[0].size);
}
RAY_REMOTE(echo)

/* args: n.  Writes an n-byte output in place, or fails with the reason. */
static int alloc_out(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0);
    void *p = ray_return_alloc(ctx, 0, (size_t)n);
    if (!p)
        return ray_fail(ctx, "ray_return_alloc(%lld): %s", (long long)n, ray_last_error());
    memset(p, 1, (size_t)n);
    return 0;
}
RAY_REMOTE(alloc_out)

/* args: n, count.  Puts count objects of n bytes and keeps the refs. */
static int put_and_forget(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0), count = buf_i64(&args[1], 0);
    void *data = calloc(1, (size_t)n);
    for (int64_t i = 0; i < count; i++) {
        ray_ref r;
        if (ray_put(data, (size_t)n, &r))
            return ray_fail(ctx, "ray_put: %s", ray_last_error());
    }
    free(data);
    return 0;
}
RAY_REMOTE(put_and_forget)

/* args: n.  Writes an n-byte output, then fails. */
static int alloc_then_fail(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t n = buf_i64(&args[0], 0);
    void *p = ray_return_alloc(ctx, 0, (size_t)n);
    if (p)
        memset(p, 2, (size_t)n);
    return ray_fail(ctx, "failed after writing its output");
}
RAY_REMOTE(alloc_then_fail)

/* args: gate path, object.  Waits (20 s at most) for the gate file, then
 * returns the object's bytes. */
static int gated_echo(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    char path[700];
    wait_file(buf_str(&args[0], path, sizeof(path)), 20);
    return ray_return(ctx, 0, args[1].data, args[1].size);
}
RAY_REMOTE(gated_echo)

/* args: a ref's bytes.  Gets it (waiting up to 20 s) and returns its bytes. */
static int get_borrowed(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    ray_ref r;
    ray_buf b;
    memcpy(&r, args[0].data, sizeof(r));
    int rc = ray_get(r, &b, 20);
    if (rc)
        return ray_fail(ctx, "ray_get: %s", ray_last_error());
    return ray_return(ctx, 0, b.data, b.size);
}
RAY_REMOTE(get_borrowed)

/* ---- read-only views
 *
 * How a write through a view is caught: a SIGSEGV handler that jumps back
 * (sigsetjmp/siglongjmp) turns "the write faulted" into a return value, in
 * the driver and in a task alike.  Nothing is forked (a fork after ray_init
 * would duplicate the runtime's state), and the worker survives the probe,
 * so the answer comes back as an ordinary task result.  A second task writes
 * without the handler: its worker must die (SIGSEGV), which the caller sees
 * as RAY_EWORKER, and the object must be unchanged afterwards.
 */
static sigjmp_buf probe_env;

static void probe_segv(int sig)
{
    (void)sig;
    siglongjmp(probe_env, 1);
}

/* 1 if writing one byte at p faults, 0 if the write went through. */
static int write_faults(const void *p)
{
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = probe_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    volatile int faulted = 0;
    if (sigsetjmp(probe_env, 1) == 0) {
        volatile uint8_t *w = (volatile uint8_t *)(uintptr_t)p;
        *w = (uint8_t)(*w ^ 0x5a); /* changes the byte if it is writable */
    } else {
        faulted = 1;
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return faulted;
}

/* Returns 1 if writing into its argument's view faulted. */
static int probe_arg_write(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    int64_t faulted = write_faults(args[0].data);
    return ray_return(ctx, 0, &faulted, sizeof(faulted));
}
RAY_REMOTE(probe_arg_write)

/* Writes into its argument with no safety net: its worker must die. */
static int scribble_arg(ray_ctx *ctx, const ray_buf *args, int nargs)
{
    memset((void *)(uintptr_t)args[0].data, 0xee, args[0].size);
    int64_t wrote = 1;
    return ray_return(ctx, 0, &wrote, sizeof(wrote));
}
RAY_REMOTE(scribble_arg)

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131u + seed + (i >> 12));
}

static int check_pattern(const uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(i * 131u + seed + (i >> 12)))
            return 0;
    return 1;
}

/* ---- round trips */

static void test_round_trip(size_t size, const char *what)
{
    uint8_t *data = malloc(size ? size : 1);
    fill_pattern(data, size, (unsigned)size);
    ray_ref r;
    ray_buf b = {NULL, 12345};
    is_rc(ray_put(data, size, &r), RAY_OK, "put %s", what);
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "get %s", what);
    is_int(b.size, size, "get %s: size", what);
    ok(b.size == size && (size == 0 || check_pattern(b.data, size, (unsigned)size)),
       "get %s: same bytes", what);
    /* The caller's buffer is not the object: changing it changes nothing. */
    if (size)
        memset(data, 0, size);
    ray_buf again;
    ok(ray_get(r, &again, E2E_TIMEOUT) == RAY_OK && again.size == size &&
           (size == 0 || check_pattern(again.data, size, (unsigned)size)),
       "get %s again: ray_put made a copy", what);
    /* Through a task: the worker sees the same bytes and returns them. */
    ray_arg a = ray_arg_ref(r);
    ray_ref e;
    ray_buf eb = {NULL, 0};
    int rc = ray_submit("echo", &a, 1, NULL, &e);
    is_rc(rc, RAY_OK, "submit echo(%s)", what);
    if (rc == RAY_OK) {
        is_rc(ray_get(e, &eb, E2E_TIMEOUT), RAY_OK, "echo(%s) finishes", what);
        ok(eb.size == size && (size == 0 || check_pattern(eb.data, size, (unsigned)size)),
           "echo(%s) returns the same bytes", what);
        ray_release(e);
    }
    is_rc(ray_release(r), RAY_OK, "release %s", what);
    free(data);
}

static void test_put_null_empty(void)
{
    ray_ref r;
    ray_buf b = {"x", 99};
    is_rc(ray_put(NULL, 0, &r), RAY_OK, "put of 0 bytes from NULL is allowed");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "get of the NULL-sourced empty object");
    is_int(b.size, 0, "the empty object has size 0");
    ray_release(r);
}

/* ---- read-only views */

static void test_views_read_only(void)
{
    const size_t n = 4096;
    uint8_t *data = malloc(n);
    fill_pattern(data, n, 7);
    ray_ref r;
    ray_buf b;
    if (ray_put(data, n, &r) || ray_get(r, &b, E2E_TIMEOUT)) {
        ok(0, "read-only views: setup put/get: %s", ray_last_error());
        free(data);
        return;
    }
    ok(write_faults(b.data), "writing through the driver's view of a 4 KB object faults");
    ok(check_pattern(b.data, n, 7), "the object is unchanged after the driver's attempt");

    ray_arg a = ray_arg_ref(r);
    ray_ref p;
    is_rc(ray_submit("probe_arg_write", &a, 1, NULL, &p), RAY_OK, "submit probe_arg_write");
    is_int(ref_i64(p, -1), 1, "writing through a task's argument view faults");
    ray_release(p);

    ray_task_opts o;
    ray_task_opts_init(&o);
    o.max_retries = 0;
    ray_ref s;
    ray_buf sb;
    is_rc(ray_submit("scribble_arg", &a, 1, &o, &s), RAY_OK, "submit scribble_arg");
    int rc = ray_get(s, &sb, E2E_TIMEOUT);
    is_rc(rc, RAY_EWORKER, "a task writing into its argument dies (its worker faults)");
    ok(check_pattern(b.data, n, 7), "the object is unchanged after the task's attempt");
    ray_release(s);
    ray_release(r);
    free(data);
}

/* ---- ray_create + ray_seal */

static void test_create_seal(void)
{
    const size_t n = 1 << 20;
    ray_ref r;
    uint8_t *p = ray_create(n, &r);
    ok(p != NULL, "ray_create of 1 MB gives a writable buffer");
    if (!p) {
        diag("ray_create: %s", ray_last_error());
        return;
    }
    fill_pattern(p, n, 3);
    ray_buf b;
    is_rc(ray_get(r, &b, 1.0), RAY_EINVAL, "ray_get of an unsealed object by its creator");
    ok(strlen(ray_last_error()) > 0, "  ... with a message (%s)", ray_last_error());
    ray_arg a = ray_arg_ref(r);
    ray_ref e;
    is_rc(ray_submit("echo", &a, 1, NULL, &e), RAY_EINVAL, "passing an unsealed object to a task");
    is_rc(ray_seal(r), RAY_OK, "ray_seal");
    is_rc(ray_seal(r), RAY_EINVAL, "ray_seal twice");
    is_rc(ray_get(r, &b, E2E_TIMEOUT), RAY_OK, "ray_get after ray_seal");
    ok(b.size == n && check_pattern(b.data, n, 3), "the sealed object has what was written");
    is_rc(ray_submit("echo", &a, 1, NULL, &e), RAY_OK, "a task takes the sealed object");
    ray_buf eb;
    ok(ray_get(e, &eb, E2E_TIMEOUT) == RAY_OK && eb.size == n && check_pattern(eb.data, n, 3),
       "the task saw the created bytes");
    ray_release(e);
    is_rc(ray_release(r), RAY_OK, "release the created object");

    /* Another process waiting for it sees it once it is sealed. */
    p = ray_create(n, &r);
    ray_arg ra = ray_arg_val(&r, sizeof(r));
    ray_ref w;
    int rc = p ? ray_submit("get_borrowed", &ra, 1, NULL, &w) : RAY_ENOMEM;
    is_rc(rc, RAY_OK, "a task waits for an object the driver is still writing");
    sleep_s(0.3);
    if (p) {
        fill_pattern(p, n, 5);
        ray_seal(r);
    }
    ray_buf wb;
    rc = rc ? rc : ray_get(w, &wb, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "  ... its ray_get returns once the driver seals it");
    ok(rc == RAY_OK && wb.size == n && check_pattern(wb.data, n, 5), "  ... with every byte");
    if (p) {
        ray_release(w);
        ray_release(r);
    }

    ray_ref z;
    void *zp = ray_create(0, &z);
    ok(zp != NULL, "ray_create of 0 bytes works");
    if (zp) {
        is_rc(ray_seal(z), RAY_OK, "seal the empty created object");
        ok(ray_get(z, &b, E2E_TIMEOUT) == RAY_OK && b.size == 0, "it reads back empty");
        ray_release(z);
    }
}

/* ---- after release */

/* Released by this process but kept alive by a pending task: the ref is
 * no longer this process's to use. */
static void test_release_while_task_holds(void)
{
    char dir[512], gate[700];
    scratch_make("objects", dir, sizeof(dir));
    snprintf(gate, sizeof(gate), "%s/open", dir);
    char big[1000];
    memset(big, 'q', sizeof(big));
    ray_ref r, t;
    ray_buf b;
    ray_put(big, sizeof(big), &r);
    ray_arg a[2] = {ray_arg_val(gate, strlen(gate)), ray_arg_ref(r)};
    is_rc(ray_submit("gated_echo", a, 2, NULL, &t), RAY_OK, "a held task takes an object");
    is_rc(ray_release(r), RAY_OK, "release the object while the task holds it");
    is_rc(ray_get(r, &b, 1.0), RAY_EINVAL,
          "ray_get of the released ref, though a task still holds the object");
    is_rc(ray_release(r), RAY_EINVAL, "ray_release of it again");
    touch(gate);
    ok(ray_get(t, &b, E2E_TIMEOUT) == RAY_OK && b.size == sizeof(big) &&
           !memcmp(b.data, big, sizeof(big)),
       "the task still gets the object");
    ray_release(t);
    rm_tree(dir);
}

static void test_release_errors(void)
{
    int64_t v = 42;
    ray_ref r;
    ray_buf b;
    is_rc(ray_put(&v, sizeof(v), &r), RAY_OK, "put a small object");
    is_rc(ray_release(r), RAY_OK, "release it");
    is_rc(ray_get(r, &b, 1.0), RAY_EINVAL, "ray_get after ray_release");
    is_rc(ray_release(r), RAY_EINVAL, "ray_release twice");
    is_rc(ray_seal(r), RAY_EINVAL, "ray_seal of a released ref");
    ray_arg a = ray_arg_ref(r);
    ray_ref e;
    is_rc(ray_submit("echo", &a, 1, NULL, &e), RAY_EINVAL, "passing a released ref to a task");
    int ready = -1;
    is_rc(ray_wait(&r, 1, 1, 0.1, &ready), RAY_EINVAL, "ray_wait on a released ref");

    /* The same for an object in the arena, and for a task's output. */
    char big[1000];
    memset(big, 'b', sizeof(big));
    is_rc(ray_put(big, sizeof(big), &r), RAY_OK, "put a 1000-byte object");
    is_rc(ray_release(r), RAY_OK, "release it");
    is_rc(ray_get(r, &b, 1.0), RAY_EINVAL, "ray_get of the released 1000-byte object");
    ray_arg va = ray_arg_val(&v, sizeof(v));
    is_rc(ray_submit("echo", &va, 1, NULL, &e), RAY_OK, "submit a task");
    ok(ref_i64(e, -1) == 42, "its output reads 42");
    is_rc(ray_release(e), RAY_OK, "release the output");
    is_rc(ray_get(e, &b, 1.0), RAY_EINVAL, "ray_get of the released output");
    is_rc(ray_release(e), RAY_EINVAL, "release the output twice");
}

/* ---- memory comes back */

static int stats(ray_stats *s)
{
    memset(s, 0, sizeof(*s));
    return ray_get_stats(s);
}

/* Waits (a little) for the store to go back to `base`: freeing may be
 * finished by the node service. */
static int stats_back_to(const ray_stats *base, ray_stats *now)
{
    double end = now_s() + 5;
    do {
        if (stats(now))
            return 0;
        if (now->store_used_bytes <= base->store_used_bytes &&
            now->objects_live <= base->objects_live)
            return 1;
        sleep_s(0.02);
    } while (now_s() < end);
    return 0;
}

static void test_stats_and_reuse(void)
{
    ray_stats base, s;
    is_rc(stats(&base), RAY_OK, "ray_get_stats");
    ok(base.store_capacity_bytes >= 400ull << 20 && base.store_capacity_bytes <= 600ull << 20,
       "store capacity is about the 512M asked (%llu bytes)",
       (unsigned long long)base.store_capacity_bytes);
    enum { N = 10, SZ = 1 << 20 };
    ray_ref r[N];
    uint8_t *data = malloc(SZ);
    memset(data, 1, SZ);
    int put_ok = 1;
    for (int i = 0; i < N; i++)
        put_ok &= ray_put(data, SZ, &r[i]) == RAY_OK;
    ok(put_ok, "put 10 objects of 1 MB");
    stats(&s);
    ok(s.store_used_bytes >= base.store_used_bytes + (uint64_t)N * SZ,
       "store_used_bytes grew by at least 10 MB (%llu -> %llu)",
       (unsigned long long)base.store_used_bytes, (unsigned long long)s.store_used_bytes);
    ok(s.objects_live >= base.objects_live + N, "objects_live grew by 10 (%llu -> %llu)",
       (unsigned long long)base.objects_live, (unsigned long long)s.objects_live);
    for (int i = 0; i < N; i++)
        ray_release(r[i]);
    int back = stats_back_to(&base, &s);
    ok(back,
       "after the releases, store_used_bytes and objects_live are back (%llu B, %llu objects)",
       (unsigned long long)s.store_used_bytes, (unsigned long long)s.objects_live);
    free(data);

    /* Memory is reused: 60% of the store, put and released 5 times. */
    size_t big = (size_t)(base.store_capacity_bytes * 6 / 10);
    uint8_t *p = malloc(big);
    memset(p, 9, big);
    int reused = 1;
    for (int i = 0; i < 5 && reused; i++) {
        ray_ref t;
        int rc = ray_put(p, big, &t);
        if (rc) {
            diag("round %d: %s", i, ray_last_error());
            reused = 0;
        } else {
            reused = ray_release(t) == RAY_OK;
        }
    }
    ok(reused, "an object of 60%% of the store can be put and released 5 times in a row");
    free(p);
    back = stats_back_to(&base, &s);
    ok(back, "and the store is back to where it started (%llu B)",
       (unsigned long long)s.store_used_bytes);
}

/* Objects a task made and kept, and the output of a task that failed
 * after writing it, are freed when the task is done. */
static void test_task_leaks(void)
{
    ray_stats base, s;
    stats(&base);
    int64_t n = 4 << 20, count = 5;
    ray_arg a[2] = {ray_arg_val(&n, sizeof(n)), ray_arg_val(&count, sizeof(count))};
    ray_ref r;
    ray_buf b;
    int rc = ray_submit("put_and_forget", a, 2, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_OK, "a task puts 5 objects of 4 MB and does not release them");
    ray_release(r);
    int back = stats_back_to(&base, &s);
    ok(back, "  ... they are freed when it returns (%llu B, %llu objects live)",
       (unsigned long long)s.store_used_bytes, (unsigned long long)s.objects_live);

    int64_t big = 64 << 20;
    ray_arg ba = ray_arg_val(&big, sizeof(big));
    rc = ray_submit("alloc_then_fail", &ba, 1, NULL, &r);
    rc = rc ? rc : ray_get(r, &b, E2E_TIMEOUT);
    is_rc(rc, RAY_ETASK, "a task that writes a 64 MB output and then fails: RAY_ETASK");
    ray_release(r);
    back = stats_back_to(&base, &s);
    ok(back, "  ... the output's 64 MB are freed (%llu B, %llu objects live)",
       (unsigned long long)s.store_used_bytes, (unsigned long long)s.objects_live);
}

/* ---- RAY_ENOMEM and recovery */

static void test_enomem(void)
{
    ray_stats base;
    stats(&base);
    uint64_t cap = base.store_capacity_bytes;
    size_t too_big = (size_t)(cap + (cap >> 2)); /* more than the whole store */
    char want[40];
    snprintf(want, sizeof(want), "%zu", too_big);
    uint8_t *src = malloc(too_big);
    ray_ref r;
    if (!src) {
        ok(0, "malloc of %zu bytes for the RAY_ENOMEM test", too_big);
        return;
    }
    memset(src, 3, too_big);
    is_rc(ray_put(src, too_big, &r), RAY_ENOMEM, "put of 1.25 x the store: RAY_ENOMEM");
    ok(str_has(ray_last_error(), want), "  ... the message names the size asked, %s bytes: %s",
       want, ray_last_error());
    ok(ray_create(too_big, &r) == NULL, "ray_create of 1.25 x the store gives NULL");
    ok(str_has(ray_last_error(), want), "  ... and the message names the size: %s",
       ray_last_error());
    free(src);

    /* Fits alone, not next to another one that is in use (a view of it
     * is held, so it cannot be moved out of the way). */
    size_t part = (size_t)(cap * 55 / 100);
    uint8_t *p = malloc(part);
    memset(p, 4, part);
    ray_ref a, b;
    ray_buf av;
    is_rc(ray_put(p, part, &a), RAY_OK, "put 55%% of the store");
    is_rc(ray_get(a, &av, E2E_TIMEOUT), RAY_OK, "  ... and hold a view of it");
    int rc = ray_put(p, part, &b);
    is_rc(rc, RAY_ENOMEM, "a second 55%% object does not fit: RAY_ENOMEM");
    snprintf(want, sizeof(want), "%zu", part);
    ok(str_has(ray_last_error(), want), "  ... the message names %s bytes: %s", want,
       ray_last_error());
    if (rc == RAY_OK)
        ray_release(b);
    /* A task's output that does not fit fails that task, not the node. */
    int64_t n = (int64_t)part;
    ray_arg na = ray_arg_val(&n, sizeof(n));
    ray_ref t;
    ray_buf tb;
    rc = ray_submit("alloc_out", &na, 1, NULL, &t);
    rc = rc ? rc : ray_get(t, &tb, E2E_TIMEOUT);
    is_rc(rc, RAY_ETASK, "a task whose 55%% output does not fit fails (it ray_fails)");
    ok(str_has(ray_last_error(), want), "  ... its message names %s bytes: %s", want,
       ray_last_error());
    ray_release(t);
    is_rc(ray_release(a), RAY_OK, "release the first one");
    is_rc(ray_put(p, part, &b), RAY_OK, "now the second one fits");
    ray_buf v;
    ok(ray_get(b, &v, E2E_TIMEOUT) == RAY_OK && v.size == part &&
           ((const uint8_t *)v.data)[part - 1] == 4,
       "and reads back");
    ray_release(b);
    free(p);
    int64_t x = 5;
    ray_arg xa = ray_arg_val(&x, sizeof(x));
    ray_ref e;
    ok(ray_submit("echo", &xa, 1, NULL, &e) == RAY_OK && ref_i64(e, -1) == 5,
       "tasks still run after RAY_ENOMEM");
    ray_release(e);
}

int main(int argc, char **argv)
{
    int rc = ray_init(&argc, &argv);
    is_rc(rc, RAY_OK, "ray_init");
    if (rc)
        return 1;
    test_round_trip(0, "0 bytes");
    test_put_null_empty();
    test_round_trip(1, "1 byte");
    test_round_trip(24, "24 bytes (inline)");
    test_round_trip(25, "25 bytes");
    test_round_trip(1024, "1 KB");
    test_round_trip(100u << 20, "100 MB");
    test_views_read_only();
    test_create_seal();
    test_release_errors();
    test_release_while_task_holds();
    test_stats_and_reuse();
    test_task_leaks();
    test_enomem();
    is_rc(ray_shutdown(), RAY_OK, "ray_shutdown");
    return tap_done();
}
