# RAY_COMPILER_FLAGS: C11, warnings, hidden symbols; --enable-developer adds
# -Werror and -O0 -g; --enable-sanitizers=address,undefined builds with
# ASan/UBSan; --enable-fault-injection compiles in the RAY_MPI_FAULT points.
AC_DEFUN([RAY_COMPILER_FLAGS], [
  AC_ARG_ENABLE([developer],
    [AS_HELP_STRING([--enable-developer], [-Werror, debug info, no optimisation])],
    [], [enable_developer=no])
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers=LIST], [build with -fsanitize=LIST (e.g. address,undefined)])],
    [], [enable_sanitizers=])
  RAY_CFLAGS="-std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter -fvisibility=hidden"
  AS_IF([test "x$enable_developer" = xyes],
        [RAY_CFLAGS="$RAY_CFLAGS -Werror -O0 -g3"])
  AS_IF([test "x$enable_sanitizers" != x && test "x$enable_sanitizers" != xno],
        [RAY_CFLAGS="$RAY_CFLAGS -fsanitize=$enable_sanitizers -fno-omit-frame-pointer -g"
         RAY_LDFLAGS="-fsanitize=$enable_sanitizers"])
  dnl Named points inside the runtime where a worker can be made to _exit
  dnl (RAY_MPI_FAULT), to test recovery from every window; on by default in
  dnl developer builds, never in a plain build.
  AC_ARG_ENABLE([fault-injection],
    [AS_HELP_STRING([--enable-fault-injection], [RAY_MPI_FAULT points for recovery tests (default: with --enable-developer)])],
    [], [enable_fault_injection=$enable_developer])
  AS_IF([test "x$enable_fault_injection" = xyes],
        [AC_DEFINE([RAY_FAULT_INJECTION], [1], [RAY_MPI_FAULT points are compiled in])])
  AM_CONDITIONAL([FAULT_INJECTION], [test "x$enable_fault_injection" = xyes])
  AC_SUBST([RAY_CFLAGS])
  AC_SUBST([RAY_LDFLAGS])
])
