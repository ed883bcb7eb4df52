/*
 * tap.h - a minimal TAP producer for ray-mpi's tests.  Test programs print
 * "ok N - ..." / "not ok N - ..." lines only; tests/run-test.sh adds the
 * "nothing left behind" check and the plan.  Header-only on purpose: every
 * test includes it once.
 */
#ifndef RAY_TEST_TAP_H
#define RAY_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failures;

__attribute__((format(printf, 4, 5))) static inline int tap_ok(int pass, const char *file, int line,
                                                         const char *fmt, ...)
{
    va_list ap;
    printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        tap_failures++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* Compares integers and shows both on failure. */
#define is_int(got, want, ...)                                                 \
    do {                                                                       \
        long long g_ = (long long)(got), w_ = (long long)(want);               \
        if (!ok(g_ == w_, __VA_ARGS__))                                        \
            printf("#   got %lld, want %lld\n", g_, w_);                      \
    } while (0)
/* For ray_* calls: passes when rc == want, else shows rc and the message. */
#define is_rc(got, want, ...)                                                  \
    do {                                                                       \
        int g_ = (got), w_ = (want);                                           \
        if (!ok(g_ == w_, __VA_ARGS__))                                        \
            printf("#   got %s (%d), want %s (%d): %s\n", ray_errname(g_), g_,   \
                   ray_errname(w_), w_, ray_last_error());                     \
    } while (0)
#define diag(...)                                                              \
    do {                                                                       \
        printf("# ");                                                          \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
        fflush(stdout);                                                        \
    } while (0)
/* Exit status of a test program. */
static inline int tap_done(void) { return tap_failures ? 1 : 0; }

#endif
