# RAY_CHECK_MPI: an MPI for the node services' bootstrap and the `mpi`
# network backend (drivers and workers never link it).  --with-mpi=DIR
# looks for DIR/bin/mpicc; --with-mpi alone or by default, mpicc in PATH
# (its --showme flags, Open MPI's, or -show, MPICH's); --without-mpi builds
# a ray-mpi that runs one node and says so under an MPI launcher.
AC_DEFUN([RAY_CHECK_MPI], [
  AC_ARG_WITH([mpi],
    [AS_HELP_STRING([--with-mpi[=DIR]], [MPI for multi-node runs (default: mpicc in PATH, if any)])],
    [], [with_mpi=check])
  MPI_CFLAGS=; MPI_LIBS=; have_mpi=no
  AS_IF([test "x$with_mpi" != xno], [
    AS_CASE([$with_mpi], [yes|check], [ray_mpicc=mpicc], [ray_mpicc=$with_mpi/bin/mpicc])
    AC_MSG_CHECKING([for MPI through $ray_mpicc])
    AS_IF([ray_mpi_c=`$ray_mpicc --showme:compile 2>/dev/null` &&
           ray_mpi_l=`$ray_mpicc --showme:link 2>/dev/null`],
          [MPI_CFLAGS=$ray_mpi_c; MPI_LIBS=$ray_mpi_l],
          [AS_IF([ray_mpi_c=`$ray_mpicc -show 2>/dev/null`],
                 [MPI_CFLAGS=`echo "$ray_mpi_c" | tr ' ' '\n' | grep '^-I' | tr '\n' ' '`
                  MPI_LIBS=`echo "$ray_mpi_c" | tr ' ' '\n' | grep '^-[[Ll]]' | tr '\n' ' '`])])
    save_CFLAGS=$CFLAGS; save_LIBS=$LIBS
    CFLAGS="$CFLAGS $MPI_CFLAGS"; LIBS="$LIBS $MPI_LIBS"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <mpi.h>]],
                     [[int n; MPI_Init(0, 0); MPI_Comm_size(MPI_COMM_WORLD, &n); MPI_Finalize();]])],
                   [have_mpi=yes; MPI_VERSION_FOUND=`$ray_mpicc --showme:version 2>&1 | head -1`])
    CFLAGS=$save_CFLAGS; LIBS=$save_LIBS
    AC_MSG_RESULT([$have_mpi])
    AS_IF([test "x$have_mpi" = xno && test "x$with_mpi" != xcheck],
          [AC_MSG_ERROR([MPI asked for (--with-mpi=$with_mpi) but $ray_mpicc cannot build an MPI program (Debian: apt-get install libopenmpi-dev openmpi-bin)])])
  ])
  AS_IF([test "x$have_mpi" = xyes],
        [AC_DEFINE([RAY_HAVE_MPI], [1], [ray-mpi runs node services as MPI ranks])],
        [MPI_CFLAGS=; MPI_LIBS=; MPI_VERSION_FOUND=no])
  AM_CONDITIONAL([HAVE_MPI], [test "x$have_mpi" = xyes])
  AC_PATH_PROG([MPIRUN], [mpirun], [])
  AC_SUBST([MPI_CFLAGS])
  AC_SUBST([MPI_LIBS])
])
