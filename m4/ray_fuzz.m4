# RAY_CHECK_FUZZING: --enable-fuzzing builds every fuzz target of
# tests/fuzz as a libFuzzer binary (make fuzz runs them).  It needs a
# compiler with libFuzzer (-fsanitize=fuzzer: clang and its runtime) and
# stops configure if there is none.  The whole tree is then compiled with
# coverage for the fuzzer, ASan and UBSan (-fno-sanitize-recover: undefined
# behaviour is a crash the fuzzer keeps).
AC_DEFUN([RAY_CHECK_FUZZING], [
  AC_ARG_ENABLE([fuzzing],
    [AS_HELP_STRING([--enable-fuzzing], [build the fuzz targets with libFuzzer, ASan and UBSan (needs clang: CC=clang)])],
    [], [enable_fuzzing=no])
  FUZZ_LDFLAGS=
  AS_IF([test "x$enable_fuzzing" = xyes], [
    AC_MSG_CHECKING([whether $CC links libFuzzer targets (-fsanitize=fuzzer)])
    save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -fsanitize=fuzzer,address,undefined"
    AC_LINK_IFELSE([AC_LANG_SOURCE([[#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return data && size > 1000; }]])],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([--enable-fuzzing needs a compiler with libFuzzer (-fsanitize=fuzzer): configure CC=clang --enable-fuzzing (Debian: apt-get install clang libclang-rt-dev)])])
    CFLAGS=$save_CFLAGS
    RAY_CFLAGS="$RAY_CFLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
    RAY_LDFLAGS="$RAY_LDFLAGS -fsanitize=address,undefined"
    FUZZ_LDFLAGS="-fsanitize=fuzzer"])
  AC_SUBST([FUZZ_LDFLAGS])
  AM_CONDITIONAL([RAY_FUZZING], [test "x$enable_fuzzing" = xyes])
])
