# RAY_CHECK_UCX: UCX (UCP) for the `ucx` network backend: active messages
# between node services, objects pulled by one-sided gets from a peer's
# registered arena (RDMA reads on InfiniBand/RoCE).  Needs MPI (the
# bootstrap).  --with-ucx=DIR looks in DIR first; pkg-config otherwise;
# --with-ucx asked for and missing stops configure.
AC_DEFUN([RAY_CHECK_UCX], [
  AC_ARG_WITH([ucx],
    [AS_HELP_STRING([--with-ucx[=DIR]], [UCX for the default network backend (default: if found)])],
    [], [with_ucx=check])
  UCX_CFLAGS=; UCX_LIBS=; have_ucx=no
  AS_IF([test "x$with_ucx" != xno && test "x$have_mpi" = xyes], [
    AS_CASE([$with_ucx], [yes|check], [],
            [PKG_CONFIG_PATH="$with_ucx/lib/pkgconfig:$with_ucx/lib64/pkgconfig:$PKG_CONFIG_PATH"
             export PKG_CONFIG_PATH])
    PKG_CHECK_MODULES([UCX], [ucx >= 1.10],
      [have_ucx=yes; UCX_VERSION_FOUND=`$PKG_CONFIG --modversion ucx`],
      [AS_CASE([$with_ucx], [yes|check], [],
               [UCX_CFLAGS="-I$with_ucx/include"; UCX_LIBS="-L$with_ucx/lib -lucp -luct -lucs"])
       save_CFLAGS=$CFLAGS; save_LIBS=$LIBS
       CFLAGS="$CFLAGS $UCX_CFLAGS"; LIBS="$LIBS $UCX_LIBS"
       AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <ucp/api/ucp.h>]],
                        [[ucp_config_t *c; ucp_config_read(0, 0, &c);]])],
                      [have_ucx=yes; UCX_VERSION_FOUND=unknown])
       CFLAGS=$save_CFLAGS; LIBS=$save_LIBS])
  ])
  AS_IF([test "x$have_ucx" = xno && test "x$with_ucx" != xcheck && test "x$with_ucx" != xno],
        [AS_IF([test "x$have_mpi" != xyes],
               [AC_MSG_ERROR([--with-ucx needs MPI for the bootstrap (--with-mpi)])],
               [AC_MSG_ERROR([UCX asked for (--with-ucx=$with_ucx) but not found (Debian: apt-get install libucx-dev)])])])
  AS_IF([test "x$have_ucx" = xyes],
        [AC_DEFINE([RAY_HAVE_UCX], [1], [the ucx network backend is built])],
        [UCX_CFLAGS=; UCX_LIBS=; UCX_VERSION_FOUND=no])
  AM_CONDITIONAL([HAVE_UCX], [test "x$have_ucx" = xyes])
  AC_SUBST([UCX_CFLAGS])
  AC_SUBST([UCX_LIBS])
])
