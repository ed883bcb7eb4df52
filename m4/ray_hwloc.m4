# RAY_CHECK_HWLOC: hwloc >= 2.0 (required: CPUs, GPUs and placement).
# --with-hwloc=DIR looks in DIR first; pkg-config otherwise.
AC_DEFUN([RAY_CHECK_HWLOC], [
  AC_ARG_WITH([hwloc],
    [AS_HELP_STRING([--with-hwloc=DIR], [hwloc installation (default: pkg-config)])],
    [], [with_hwloc=yes])
  AS_IF([test "x$with_hwloc" = xno],
        [AC_MSG_ERROR([hwloc is required (CPU and GPU discovery, worker placement)])])
  AS_IF([test "x$with_hwloc" != xyes],
        [PKG_CONFIG_PATH="$with_hwloc/lib/pkgconfig:$with_hwloc/lib64/pkgconfig:$PKG_CONFIG_PATH"
         export PKG_CONFIG_PATH])
  PKG_CHECK_MODULES([HWLOC], [hwloc >= 2.0],
    [HWLOC_VERSION_FOUND=`$PKG_CONFIG --modversion hwloc`],
    [AS_IF([test "x$with_hwloc" != xyes],
           [HWLOC_CFLAGS="-I$with_hwloc/include"; HWLOC_LIBS="-L$with_hwloc/lib -lhwloc"],
           [HWLOC_CFLAGS=; HWLOC_LIBS=-lhwloc])
     save_CFLAGS=$CFLAGS; save_LIBS=$LIBS
     CFLAGS="$CFLAGS $HWLOC_CFLAGS"; LIBS="$LIBS $HWLOC_LIBS"
     AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <hwloc.h>
#if HWLOC_API_VERSION < 0x20000
#error too old
#endif]], [[hwloc_topology_t t; hwloc_topology_init(&t);]])],
       [HWLOC_VERSION_FOUND=unknown],
       [AC_MSG_ERROR([hwloc >= 2.0 not found (Debian: apt-get install libhwloc-dev); use --with-hwloc=DIR])])
     CFLAGS=$save_CFLAGS; LIBS=$save_LIBS])
  AC_SUBST([HWLOC_CFLAGS])
  AC_SUBST([HWLOC_LIBS])
])
