/*
 * error.c - the RAY_E* code table (generated from RAY_ERRNO_MAP in
 * ray_mpi.h) and the per-thread "last error" message.  The code that first
 * sees a failure writes the message here; callers only pass the code up.
 */
#include "common.h"

#include <errno.h>

#define RAY_ERR_MSG_MAX 4352 /* a ray_fail message (4 KiB) with some context */

static _Thread_local char last_msg[RAY_ERR_MSG_MAX];
static _Thread_local int last_code;

RAY_API const char *ray_strerror(int code)
{
    switch (code) {
#define RAY__ERR_CASE(name, value, desc)                                      \
    case value:                                                               \
        return desc;
        RAY_ERRNO_MAP(RAY__ERR_CASE)
#undef RAY__ERR_CASE
    }
    return "unknown error code";
}

RAY_API const char *ray_errname(int code)
{
    switch (code) {
#define RAY__ERR_NAME(name, value, desc)                                      \
    case value:                                                               \
        return "RAY_" #name;
        RAY_ERRNO_MAP(RAY__ERR_NAME)
#undef RAY__ERR_NAME
    }
    return "RAY_E?";
}

RAY_API const char *ray_last_error(void)
{
    if (!last_msg[0])
        return last_code ? ray_strerror(last_code) : "no error";
    return last_msg;
}

int ray_err_last_code(void) { return last_code; }

static int err_vset(int code, const char *fmt, va_list ap, int with_errno)
{
    int saved = errno;
    /* Format aside: the arguments may point into last_msg (a caller adding
     * context to ray_last_error()). */
    char buf[RAY_ERR_MSG_MAX];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", strerror(saved));
    memcpy(last_msg, buf, sizeof(buf));
    last_code = code;
    ray_debug("api", "%s: %s", ray_errname(code), last_msg);
    errno = saved;
    return code;
}

int ray_err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(code, fmt, ap, 0);
    va_end(ap);
    return code;
}

int ray_err_sys(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(RAY_ESYS, fmt, ap, 1);
    va_end(ap);
    return RAY_ESYS;
}

