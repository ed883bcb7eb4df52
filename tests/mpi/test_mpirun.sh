#!/bin/sh
# test_mpirun.sh - ray-mpi as MPI ranks under a real mpirun: the checks of
# mn_checks (TAP, renumbered here) on 3 ranks over UCX's shared memory, over
# UCX's TCP and over the mpi backend; the driver's exit code through
# mpirun; 16 ranks starting and running a tree; a rank SIGKILLed ending the
# whole job soon, with a message naming it; a driver that cannot run.
# mpirun listens on every interface for its own traffic: each run is in a
# network namespace of its own with only loopback (needs root; else the
# test says it is skipped).  Everything of the job lives under this run's
# private TMPDIR (tests/run-test.sh checks nothing is left).
set -u
bin=${RAY_MPI_BIN:?}
checks=${MN_CHECKS:?}
if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
    echo "1..0 # SKIP needs root (a network namespace for mpirun)"
    exit 0
fi
if ! command -v mpirun >/dev/null; then
    echo "1..0 # SKIP no mpirun (Debian: openmpi-bin)"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_orte_tmpdir_base=${TMPDIR:-/tmp} OMPI_MCA_btl=self,vader,tcp
# fib(12) pins each task to a node: up to ~150 of them wait in ray_get on one
# node at once, each holding a worker (the default, 64 for 1 CPU, stalls).
export RAY_MPI_NUM_CPUS=1 RAY_MPI_OBJECT_STORE_MEMORY=256M RAY_MPI_PREFAULT=no RAY_MPI_MAX_WORKERS=256
n=0
out=${TMPDIR:-/tmp}/mpirun.out

point() { # STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

# mpi NRANKS ARGS...: mpirun in a fresh network namespace; its status.
mpi() {
    ranks=$1
    shift
    timeout -k 5 ${MPI_TIMEOUT:-240} unshare -n sh -c 'ip link set lo up &&
        exec mpirun -n "$0" --oversubscribe --bind-to none "$@"' "$ranks" "$bin" "$@"
}

show() { sed 's/^/#   /' "$out" | grep -v '^#   ok ' | head -40; }

# run_checks LABEL VAR=VALUE...: the 3-rank checks with these settings.
run_checks() {
    label=$1
    shift
    (
        export "$@" MN_NODES=3
        mpi 3 "$checks"
    ) >"$out" 2>&1
    rc=$?
    grep -q '^ok\|^not ok' "$out" || { point 1 "$label: the driver ran (status $rc)"; show; return; }
    while IFS= read -r line; do
        case $line in
        "ok "*) point 0 "$label: ${line#* - }" ;;
        "not ok "*) point 1 "$label: ${line#* - }" ;;
        esac
    done <"$out"
    point $rc "$label: mpirun exits 0 (status $rc)"
    [ "$rc" -eq 0 ] && ! grep -q '^not ok' "$out" || show
}

run_checks "ucx, shared memory" RAY_MPI_NET=ucx UCX_TLS=sm,self
run_checks "ucx, tcp" RAY_MPI_NET=ucx UCX_TLS=tcp,self UCX_NET_DEVICES=lo
run_checks "mpi backend" RAY_MPI_NET=mpi

# The driver's exit code comes back through ray-mpi and mpirun.
MN_NODES=3 mpi 3 "$checks" 3 >"$out" 2>&1
rc=$?
point $([ $rc -eq 3 ] && echo 0 || echo 1) "the driver's exit code 3 comes back through mpirun ($rc)"

# 16 ranks: start-up to the first result, then a tree.
t0=$(date +%s.%N)
RAY_MPI_OBJECT_STORE_MEMORY=32M mpi 16 "$checks" startup >"$out" 2>&1
rc=$?
first=$(sed -n 's/^# first result //p' "$out")
t=$(awk -v a="$t0" -v b="${first:-0}" 'BEGIN { printf "%.2f", b - a }')
point $rc "16 ranks start, and a task on node 15 answers ($t s from mpirun to its result)"
[ $rc -eq 0 ] || show
RAY_MPI_OBJECT_STORE_MEMORY=32M mpi 16 "$checks" dag >"$out" 2>&1
rc=$?
grep -q '^ok 1 ' "$out"
point $(( $? | rc )) "16 ranks: a tree whose edges cross all of them sums right"
[ $rc -eq 0 ] || show

# The timeline of a 3-node tree: one trace at rank 0, every node's tasks in
# it on that node's row, the objects that crossed nodes as transfers.
tl=${TMPDIR:-/tmp}/timeline.json
RAY_MPI_TIMELINE=$tl MN_NODES=3 mpi 3 "$checks" dag >"$out" 2>&1
rc=$?
jq -e . "$tl" >/dev/null 2>&1
point $(( $? | rc )) "a 3-node job's --timeline is one valid trace JSON at rank 0 (status $rc)"
leaves=$(sed -n 's/^#define LEAVES \([0-9]*\).*/\1/p' "${MN_SRC:?}")
counts=$(jq -r '[.traceEvents[] | select(.ph == "X" and .cat == "task")] as $t |
    [($t | map(select(.name == "leaf")) | length), ($t | map(select(.name == "add")) | length),
     ($t | map(select(.name == "leaf" and .pid == 0)) | length),
     ($t | map(select(.name == "leaf" and .pid == 1)) | length),
     ($t | map(select(.name == "leaf" and .pid == 2)) | length)] | @tsv' "$tl" 2>/dev/null)
want=$(awk -v l="$leaves" 'BEGIN { printf "%d\t%d\t%d\t%d\t%d", l, l - 1, int((l + 2) / 3),
    int((l + 1) / 3), int(l / 3) }')
[ "$counts" = "$want" ]
point $? "  ... with one event per task, each leaf on its node's row (leaf, add, per node: $counts; want $want)"
jq -e '[.traceEvents[] | select(.cat == "transfer" and .ph == "X" and
    .args.from_node != .args.to_node and .pid == .args.to_node and .tid == 0)] | length > 0' \
    "$tl" >/dev/null 2>&1
point $? "  ... and the objects that crossed nodes as transfer events on the receiving node's service row"
jq -e '([.traceEvents[] | select(.ph == "M" and .name == "thread_name") | "\(.pid)/\(.tid)"]) as $rows |
    [.traceEvents[] | select(.ph == "X") | "\(.pid)/\(.tid)"] | unique | all(. as $r | $rows | index($r))' \
    "$tl" >/dev/null 2>&1
point $? "  ... every event on a named row"
[ $rc -eq 0 ] || show
rm -f "$tl"

# --show-placement under mpirun: every node's plan, printed by rank 0 in
# node order; one rank per NUMA domain of the fat node (--per-numa) each
# plans its own domain, with its GPU.
RAY_MPI_PER_NUMA=yes RAY_MPI_TOPOLOGY=${FAT_NODE_XML:?} mpi 4 --show-placement >"$out" 2>&1
rc=$?
order=$(sed -n 's/^== node \([0-9]*\) of 4 .*/\1/p' "$out" | tr '\n' ' ')
domains=$(sed -n 's/^per NUMA: this service takes NUMA \([0-9]\).*/\1/p' "$out" | tr '\n' ' ')
[ "$order" = "0 1 2 3 " ] && [ "$domains" = "0 1 2 3 " ] &&
    [ "$(grep -c '^offered: 32 CPUs' "$out")" -eq 4 ]
point $(( $? | rc )) "mpirun -n 4 ray-mpi --show-placement --per-numa: every node's plan in node order (nodes: $order; NUMA: $domains)"
[ $rc -eq 0 ] || show

# ray-mpi-dagbench on 3 ranks: every shape, its tasks spread over the nodes,
# every output checked; bytes cross nodes and rank 0 counts its messages.
db=${DAGBENCH:?}
for shape in trivial no_comm stencil_1d stencil_1d_periodic dom tree fft all_to_all nearest \
    spread random_nearest chain layered mapreduce; do
    steps="--steps 6"
    [ $shape = mapreduce ] && steps=
    [ $shape = spread ] && steps="--steps 6 --period 2" # at most 2 for width 6, radix 3
    mpi 3 "$db" --shape $shape --width 6 $steps --task-us 10 --bytes 64 --placement spread \
        --reps 1 --warmup 0 --no-floor --json >"$out" 2>&1
    rc=$?
    moved='.bytes_moved > 0' # point p runs on node p % 3: no_comm's edges stay on a node
    [ $shape = trivial ] || [ $shape = no_comm ] && moved='.bytes_moved == 0'
    grep '^{' "$out" | jq -e ".check == \"ok\" and .nodes == 3 and $moved and
        .rank0_msgs_per_task > 0" >/dev/null 2>&1
    point $(( $? | rc )) "mpirun -n 3 ray-mpi ray-mpi-dagbench --shape $shape: check=ok, bytes across nodes, rank 0's messages counted"
    [ $rc -eq 0 ] || show
done

# A rank SIGKILLed: the whole job ends within seconds, saying which.
t0=$(date +%s)
MPI_TIMEOUT=50 mpi 3 "$checks" killrank >"$out" 2>&1
rc=$?
dt=$(($(date +%s) - t0))
grep -q "killing node 1's node service" "$out"
point $(($? | ($rc == 0) | ($rc == 124) | ($dt >= 30))) \
    "a SIGKILLed rank ends the job in $dt s (status $rc)"
grep -qi 'rank 1\|node 1' "$out"
point $? "  ... with a message naming it"
grep -q 'still alive' "$out" && point 1 "  ... and the driver did not outlive it" || true

# SIGTERM to one rank (as a scheduler would send): the whole job ends, the
# driver told first (it exits 7 on SIGTERM).
t0=$(date +%s)
MPI_TIMEOUT=60 mpi 3 "$checks" sigterm >"$out" 2>&1
rc=$?
dt=$(($(date +%s) - t0))
grep -q 'the driver was told: SIGTERM' "$out"
point $(( $? | ($rc != 7) | ($dt >= 30) )) "SIGTERM to node 1 ends the job in $dt s, the driver told first (status $rc)"
[ $rc -eq 7 ] || show

# A driver that crashes: the job ends with its signal reported.
MPI_TIMEOUT=60 mpi 3 "$checks" crash >"$out" 2>&1
rc=$?
grep -q 'driver (pid [0-9]*) was killed by signal 11' "$out"
point $(( $? | ($rc == 0) | ($rc == 124) )) "a driver killed by SIGSEGV ends the job, its signal reported (status $rc)"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || show

# A driver that cannot run: every node stops, naming the node and the path.
mpi 2 /nonexistent/driver >"$out" 2>&1
rc=$?
grep -q 'node 0 .*cannot run /nonexistent/driver' "$out"
point $(( $? | ($rc == 0) )) "a driver that cannot run stops the job, naming the node and the path"
[ $rc -ne 0 ] || show
rm -f "$out"
