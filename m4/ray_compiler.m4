# RAY_COMPILER_FLAGS: C11, warnings, hidden symbols; --enable-developer adds
# -Werror and -O0 -g; --enable-sanitizers=address,undefined builds with
# ASan/UBSan.
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
  AC_SUBST([RAY_CFLAGS])
  AC_SUBST([RAY_LDFLAGS])
])
