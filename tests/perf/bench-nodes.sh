#!/bin/sh
# bench-nodes.sh [W6] [W7] [W8] - the several-node benchmarks of
# BENCHMARKS.md under a real mpirun, in BENCHMARKS.md's line format
# (run by `make bench`; BENCH_BUILD is the build directory):
#
#   W6  256 MiB made on node 1, got by the driver on node 0, over UCX's
#       shared memory (ucx_sm), UCX's TCP on loopback (ucx_tcp) and the mpi
#       backend (mpi); each beside its floor, the same bytes moved by the
#       backend alone (raw_get: one get, no runtime), in the same run
#   W7  W1 and W3 with tasks pinned round-robin over 3 nodes (ucx)
#   W8  from mpirun's start to the first result of a task on the last node,
#       at 1, 2, 4, 8 and 16 ranks; and at 16, from the driver's
#       ray_shutdown to mpirun's exit.  The same under srun at 1, 2, 4 and 8
#       nodes of the test Slurm cluster (tests/slurm/cluster.sh, 8 nodes of
#       1 CPU in network namespaces; needs root and slurm-wlm), named
#       startup_s_srun_N<n> and shutdown_s_srun_N8
#
# Several ranks on one machine share its cores: these figures show the
# transport's efficiency and rank 0's load, not a cluster's throughput.
# As root each mpirun runs in a network namespace of its own with only
# loopback (mpirun listens on every interface); otherwise mpirun is told
# to stay on loopback.
set -u
build=$(cd "${BENCH_BUILD:-.}" && pwd -P)
reps=${BENCH_REPS:-5}
bin=$build/ray-mpi
mn=$build/tests/perf/bench_mn
raw=$build/tests/perf/raw_get
status=0
sel=" ${*:-W6 W7 W8} "
case $sel in *" W6 "* | *" w6 "*) w6=1 ;; *) w6=0 ;; esac
case $sel in *" W7 "* | *" w7 "*) w7=1 ;; *) w7=0 ;; esac
case $sel in *" W8 "* | *" w8 "*) w8=1 ;; *) w8=0 ;; esac

na() { # WORKLOAD REASON
    echo "peer=ray-mpi workload=$1 metric=na value=nan unit=na reason=\"$2\""
    status=1
}

if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$raw" ]; then
    why="ray-mpi was built without MPI (Debian: libopenmpi-dev; configure --with-mpi)"
    [ $w6 = 0 ] || na W6 "$why"
    [ $w7 = 0 ] || na W7 "$why"
    [ $w8 = 0 ] || na W8 "$why"
    exit $status
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp
export RAY_MPI_NUM_CPUS=${RAY_MPI_NUM_CPUS:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ray-mpi-bench.XXXXXX") || exit 1
cluster=$(cd "$(dirname "$0")/../slurm" && pwd -P)/cluster.sh
cdir=$tmp/cluster
trap '[ ! -d "$cdir" ] || sh "$cluster" stop "$cdir" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
export OMPI_MCA_orte_tmpdir_base=$tmp

# mpi NRANKS PROGRAM ARGS...: mpirun on loopback only.
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
    mpi() {
        n=$1
        shift
        timeout -k 5 600 unshare -n sh -c 'ip link set lo up &&
            exec mpirun -n "$0" --oversubscribe --bind-to none "$@"' "$n" "$@"
    }
else
    mpi() {
        n=$1
        shift
        timeout -k 5 600 mpirun -n "$n" --oversubscribe --bind-to none \
            --mca oob_tcp_if_include lo --mca btl_tcp_if_include lo "$@"
    }
fi

load() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' /; }

# ---- W6: the runtime's figure, then the backend's alone
w6_one() { # LABEL VAR=VALUE...
    label=$1
    shift
    echo "# W6 over $label: $*"
    (export "$@" RAY_MPI_OBJECT_STORE_MEMORY=768M
     mpi 2 "$bin" "$mn" W6 "$label") >"$tmp/out" 2>&1 || status=1
    grep '^peer=\|^# peer=\|^# W6' "$tmp/out"
    grep -q '^peer=ray-mpi workload=W6 metric=GBps' "$tmp/out" ||
        { na W6 "$label: $(grep -v '^#' "$tmp/out" | head -3 | tr '\n"' "  ")"; }
    (export "$@"
     mpi 2 "$raw" "$label") >"$tmp/out" 2>&1 || status=1
    grep '^peer=\|^# peer=\|^# W6' "$tmp/out"
    grep -q '^peer=floor workload=W6 metric=raw_get' "$tmp/out" ||
        echo "peer=floor workload=W6 metric=na value=nan unit=na reason=\"$label: $(head -3 "$tmp/out" | tr '\n"' "  ")\""
}
if [ $w6 = 1 ]; then
    w6_one ucx_sm RAY_MPI_NET=ucx UCX_TLS=sm,self
    w6_one ucx_tcp RAY_MPI_NET=ucx UCX_TLS=tcp,self UCX_NET_DEVICES=lo
    w6_one mpi RAY_MPI_NET=mpi
fi

# ---- W7: 3 nodes
if [ $w7 = 1 ]; then
    echo "# W7 over ucx (UCX's choice of transports), 3 ranks, tasks pinned round-robin"
    RAY_MPI_OBJECT_STORE_MEMORY=512M mpi 3 "$bin" "$mn" W7 >"$tmp/out" 2>&1 || status=1
    grep '^peer=\|^# peer=\|^# W7\|^# stats' "$tmp/out"
    grep -q '^peer=ray-mpi workload=W7 metric=tree' "$tmp/out" ||
        na W7 "$(grep -v '^#' "$tmp/out" | head -3 | tr '\n"' "  ")"
fi

# ---- W8: start-up at 1..16 ranks, shutdown at 16; then under srun
# w8_series LAUNCHER NODES... : LAUNCHER N PROGRAM... starts N nodes.
w8_series() {
    launcher=$1 label=$2 last=$3
    shift 3
    for n in "$@"; do
        ups="" downs=""
        for rep in $(seq 0 "$reps"); do # rep 0: the warm-up
            t0=$(date +%s.%N)
            RAY_MPI_OBJECT_STORE_MEMORY=32M $launcher "$n" "$bin" "$mn" W8 >"$tmp/out" 2>&1
            rc=$?
            t1=$(date +%s.%N)
            first=$(sed -n 's/^# first_result_wall=\([0-9.]*\).*/\1/p' "$tmp/out")
            down=$(sed -n 's/^# shutdown_wall=//p' "$tmp/out")
            ok=$([ $rc -eq 0 ] && [ -n "$first" ] && [ -n "$down" ] && echo 1 || echo 0)
            up=$(awk -v a="$t0" -v b="${first:-$t1}" 'BEGIN { printf "%.4f", b - a }')
            dn=$(awk -v a="${down:-$t1}" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
            echo "# W8 $label N=$n rep=$rep startup_s=$up shutdown_s=$dn status=$rc"
            [ $ok = 1 ] || sed 's/^/#   /' "$tmp/out" | head -10
            [ "$rep" -eq 0 ] && continue
            ups="$ups $up:$(load):$ok"
            downs="$downs $dn:$(load):$ok"
        done
        # shellcheck disable=SC2086
        "$mn" lines ray-mpi W8 "startup_s${label}_N$n" s $ups || status=1
        if [ "$n" = "$last" ]; then
            # shellcheck disable=SC2086
            "$mn" lines ray-mpi W8 "shutdown_s${label}_N$n" s $downs || status=1
        fi
    done
}

on_cluster() { # N PROGRAM...: one srun step of N nodes, one node service each
    n=$1
    shift
    timeout -k 5 600 sh "$cluster" run "$cdir" srun -N "$n" --ntasks-per-node=1 "$@"
}

if [ $w8 = 1 ]; then
    w8_series mpi "" 16 1 2 4 8 16
    if [ "$(id -u)" -ne 0 ] || ! command -v slurmctld >/dev/null 2>&1; then
        na W8 "srun: the test Slurm cluster needs root and slurm-wlm"
    elif ! sh "$cluster" start "$cdir" 8 1 >"$tmp/cluster.out" 2>&1; then
        na W8 "srun: cluster.sh start failed: $(tail -3 "$tmp/cluster.out" | tr '\n"' "  ")"
    else
        echo "# W8 under srun: cluster.sh, 8 nodes x 1 CPU, one node service per node"
        w8_series on_cluster _srun 8 1 2 4 8
        sh "$cluster" stop "$cdir" >/dev/null 2>&1 || status=1
        rm -rf "$cdir"
    fi
fi
exit $status
