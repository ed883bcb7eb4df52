/*
 * fuzz.h - what the fuzz targets of tests/fuzz share: the entry point each
 * defines, the contract check that stops a run when a decoder breaks its
 * promise (libFuzzer reports it as a crash and keeps the input; the replay
 * in make check reports the input as failed), and a reader that takes
 * typed fields from the front of the fuzzer's bytes.  Header-only: every
 * target includes it once.
 */
#ifndef RAY_FUZZ_H
#define RAY_FUZZ_H

#include "common/common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 4, 5))) static inline void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz: contract broken at %s:%d (%s): ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

/* Stops the run, naming the broken promise, unless cond holds. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

/* Whether [p, p+n) lies inside [base, base+size). */
static inline int fuzz_inside(const void *p, size_t n, const void *base, size_t size)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && a - b <= size && n <= size - (a - b);
}

/* The fuzzer's bytes, consumed from the front; reads past the end give 0. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

static inline size_t fuzz_take(fuzz_in *in, void *out, size_t want)
{
    size_t k = RAY_MIN(want, in->n);
    memset(out, 0, want);
    memcpy(out, in->p, k);
    in->p += k;
    in->n -= k;
    return k;
}

/* fuzz_u8, fuzz_u16, fuzz_u32, fuzz_u64: the next field, in host byte order. */
#define FUZZ_FIELD(T, name)                                                                        \
    static inline T name(fuzz_in *in)                                                              \
    {                                                                                              \
        T v;                                                                                       \
        fuzz_take(in, &v, sizeof(v));                                                              \
        return v;                                                                                  \
    }
FUZZ_FIELD(uint8_t, fuzz_u8)
FUZZ_FIELD(uint16_t, fuzz_u16)
FUZZ_FIELD(uint32_t, fuzz_u32)
FUZZ_FIELD(uint64_t, fuzz_u64)
#undef FUZZ_FIELD

#endif /* RAY_FUZZ_H */
