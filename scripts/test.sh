#!/bin/sh
# test.sh - on a fresh Debian 12 machine: install what is missing, build
# ray-mpi and run every test.  Ends with the line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
. scripts/deps.sh
ray_install_deps || exit 1
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || ./autogen.sh || exit 1
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure -q --enable-developer || exit 1
make -j"$(nproc)" >/dev/null || { make; exit 1; }
make -j"$(nproc)" check
status=$?
# On failure make prints its errors after the summary: repeat it last.
[ $status -eq 0 ] || sh ../tests/summary.sh test-suite.log
exit $status
