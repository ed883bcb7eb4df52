#!/bin/sh
# quickstart.sh - on a fresh Debian 12 machine: install what is missing,
# build ray-mpi, and run the main job on the embedded runtime (no MPI, no
# Slurm): the DAG example and the 131,071-task tree sum.
set -e
cd "$(dirname "$0")/.."
. scripts/deps.sh
ray_install_deps
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || ./autogen.sh
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure -q
make -s -j"$(nproc)" >/dev/null
make -s -j"$(nproc)" examples/dag examples/tree_sum >/dev/null
./examples/dag
./examples/tree_sum
