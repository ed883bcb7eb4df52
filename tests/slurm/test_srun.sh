#!/bin/sh
# test_srun.sh - ray-mpi under Slurm, against real daemons (a 3-node
# cluster from cluster.sh, as in test_slurm.sh): srun -N3 ray-mpi running
# the multi-node checks (tests/mpi/mn_checks, renumbered here); the
# driver's exit code and a crash through srun; an sbatch of
# slurm/ray-mpi.sbatch; CPUs and the store's size taken from the
# allocation (--cpus-per-task, --mem), a store larger than --mem refused;
# scancel in the middle of a DAG, srun interrupted twice and a job reaching
# its time limit, each leaving nothing of the job on any node; a salloc
# session running two ray-mpi steps.  The time-limit job is submitted first
# and checked last (Slurm's limits are whole minutes).
set -u
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=tests/slurm/lib.sh
. "$here/lib.sh"
bin=${RAY_MPI_BIN:?}
checks=${MN_CHECKS:?}
top=$(cd "$here/../.." && pwd -P)
t_setup rsr

# Every step: the same settings; the job's end within Slurm's KillWait (2 s).
# mn_checks' fib pins every task to a node: up to ~150 wait in ray_get on one
# node at once, each holding a worker.
export RAY_MPI_OBJECT_STORE_MEMORY=128M RAY_MPI_PREFAULT=no RAY_MPI_SHUTDOWN_TIMEOUT_S=1
export RAY_MPI_MAX_WORKERS=256
export MN_NODES=3

# What a ray-mpi job leaves, if anything: processes tagged TAG, processes in
# the nodes' namespaces but slurmd, its job directories, new /dev/shm files.
job_left() { # TAG
    for p in $(tag_pids "$1"); do echo "process $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
    ns_others node1 node2 node3 | sed 's/^/namespace process /'
    ls -d "${TMPDIR:-/tmp}"/ray-mpi.* 2>/dev/null | sed 's/^/job directory /'
    shm_new "$work/shm.before" | sed 's/^/shm /'
}

wait_gone() { # TAG SECONDS: until nothing of the job is left
    i=0
    while [ -n "$(job_left "$1")" ] && [ $i -lt $(($2 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

# TAP lines of mn_checks in FILE as points of ours, labelled.
relay() { # LABEL FILE
    grep -q '^ok\|^not ok' "$2" || return 1
    while IFS= read -r line; do
        case $line in
        "ok "*) t_point 0 "$1: ${line#* - }" ;;
        "not ok "*) t_point 1 "$1: ${line#* - }" ;;
        esac
    done <"$2"
    return 0
}

# ---- the checks ----------------------------------------------------------

submit_timelimit() {
    tl_t0=$(t_now)
    tl_job=$(cl_with RAY_TEST_JOB="$tag.tl" sbatch --parsable --time=1 -N2 -w node2,node3 \
        -o "$work/timelimit.out" --wrap "srun $bin $checks slowdag")
}

check_checks() {
    cl_with RAY_TEST_JOB="$tag.run" srun -N3 "$bin" "$checks" >"$work/run.out" 2>&1
    rc=$?
    relay "srun -N3 ray-mpi" "$work/run.out" || t_point 1 "srun -N3 ray-mpi: the driver ran (status $rc)"
    t_point $rc "srun -N3 ray-mpi exits 0 (status $rc)" || t_show "$work/run.out"
}

check_exit_code() {
    cl srun -N3 "$bin" "$checks" 3 >"$work/exit.out" 2>&1
    rc=$?
    [ $rc -eq 3 ]
    t_point $? "the driver's exit code 3 comes back through srun ($rc)" || t_show "$work/exit.out"
}

check_show_placement() {
    cl srun -N3 "$bin" --show-placement >"$work/show.out" 2>&1
    rc=$?
    order=$(sed -n 's/^== node \([0-9]*\) of 3 (\(node[0-9]\)) ==$/\1:\2/p' "$work/show.out" | tr '\n' ' ')
    [ $rc -eq 0 ] && [ "$order" = "0:node1 1:node2 2:node3 " ]
    t_point $? "srun -N3 ray-mpi --show-placement: every node's plan, in node order ($order)" ||
        t_show "$work/show.out"
}

check_crash() {
    cl srun -N3 "$bin" "$checks" crash >"$work/crash.out" 2>&1
    rc=$?
    [ $rc -ne 0 ] && grep -q 'driver (pid [0-9]*) was killed by signal 11' "$work/crash.out"
    t_point $? "a driver killed by SIGSEGV: srun fails ($rc) and its signal is reported" ||
        t_show "$work/crash.out"
}

check_sbatch() {
    id=$(cl sbatch --parsable -N3 --cpus-per-task=1 -o "$work/sbatch.out" "$top/slurm/ray-mpi.sbatch" \
        "$checks" startup 2>"$work/sbatch.err")
    job_wait_done "$id" 60
    state=$(job_state "$id")
    [ "$state" = COMPLETED ] && grep -q '^ok 1 - 3 nodes: a task on node 2 answers' "$work/sbatch.out"
    t_point $? "sbatch slurm/ray-mpi.sbatch on 3 nodes: $state, a task on the last node answered" ||
        { t_show "$work/sbatch.err"; t_show "$work/sbatch.out"; }
}

# Each node offers the CPUs of its allocation, and says where they came from.
check_cpus() { # CPUS_PER_TASK
    cl srun -N3 --cpus-per-task="$1" "$bin" --config >"$work/config.out" 2>&1
    got=$(grep -c "^# on this node: RAY_MPI_NUM_CPUS=$1 (SLURM_CPUS_ON_NODE)" "$work/config.out")
    [ "$got" -eq 3 ]
    t_point $? "srun -N3 --cpus-per-task=$1 ray-mpi --config: every node says $1 CPUs from SLURM_CPUS_ON_NODE" ||
        t_show "$work/config.out"
    cl srun -N3 --cpus-per-task="$1" "$bin" "$checks" cpus "$1" >"$work/cpus.out" 2>&1
    rc=$?
    relay "--cpus-per-task=$1" "$work/cpus.out" || t_point 1 "--cpus-per-task=$1: the driver ran"
    [ $rc -eq 0 ] || t_show "$work/cpus.out"
}

# srun's own allocation does not tell its tasks the memory (no
# SLURM_MEM_PER_NODE): salloc's and sbatch's do.
check_mem() {
    (unset RAY_MPI_OBJECT_STORE_MEMORY
     cl salloc -N1 --mem=400M srun "$bin" --config) >"$work/mem.out" 2>&1
    grep -q "^# on this node: RAY_MPI_OBJECT_STORE_MEMORY=125829120 (SLURM_MEM_PER_NODE)" "$work/mem.out"
    t_point $? "--mem=400M: the store's default is 30% of it (120 MiB), from SLURM_MEM_PER_NODE" ||
        t_show "$work/mem.out"
    cl_with RAY_MPI_OBJECT_STORE_MEMORY=1G salloc -N1 --mem=400M srun "$bin" "$checks" startup \
        >"$work/mem2.out" 2>&1
    rc=$?
    [ $rc -ne 0 ] && grep -q 'object store of 1024 MiB .*does not fit this node.s memory of 400 MiB (from SLURM_MEM_PER_NODE)' "$work/mem2.out"
    t_point $? "--mem=400M with a 1G store: refused at start, saying why (status $rc)" ||
        t_show "$work/mem2.out"
}

check_scancel() {
    job=$(cl_with RAY_TEST_JOB="$tag.cancel" sbatch --parsable -N3 -o "$work/cancel.out" \
        --wrap "srun $bin $checks slowdag")
    wait_for_file_line "$work/cancel.out" '^# ready' 60
    ready=$?
    running=$(tag_pids "$tag.cancel" | wc -w)
    t_point $ready "a 3-node DAG runs under sbatch ($running processes of the job)" ||
        { t_show "$work/cancel.out"; t_logs; }
    t0=$(t_now)
    cl scancel "$job"
    wait_gone "$tag.cancel" 20
    job_wait_done "$job" 10
    left=$(job_left "$tag.cancel")
    [ "$(job_state "$job")" = CANCELLED ] && [ -z "$left" ]
    t_point $? "scancel in the middle of it: CANCELLED, nothing of the job left on any node ($(t_since "$t0") s)" ||
        { echo "$left" | sed 's/^/#   left: /'; t_show "$work/cancel.out"; }
}

# Ctrl-C twice within a second: srun ends the step.
check_interrupt() {
    cl_with RAY_TEST_JOB="$tag.int" srun -N2 "$bin" "$checks" slowdag >"$work/int.out" 2>&1 &
    bg=$!
    wait_for_file_line "$work/int.out" '^# ready' 60
    srun_pid="" # the srun the user started, not its helper child
    for p in $(tag_pids "$tag.int"); do
        pp=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = srun ] &&
            [ "$(cat "/proc/$pp/comm" 2>/dev/null)" != srun ] && srun_pid=$p
    done
    t0=$(t_now)
    [ -n "$srun_pid" ] && kill -INT "$srun_pid" && sleep 0.3 && kill -INT "$srun_pid"
    i=0
    while kill -0 $bg 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -0 $bg 2>/dev/null && cl scancel --name=wrap --signal=KILL >/dev/null 2>&1
    wait_gone "$tag.int" 20
    left=$(job_left "$tag.int")
    [ -n "$srun_pid" ] && [ -z "$left" ]
    t_point $? "srun interrupted twice (pid ${srun_pid:-none}): nothing of the job left ($(t_since "$t0") s)" ||
        { echo "$left" | sed 's/^/#   left: /'; t_show "$work/int.out"; }
}

check_salloc() {
    cl salloc -N2 sh -c "MN_NODES=2 srun $bin $checks startup && MN_NODES=2 srun $bin $checks startup" \
        >"$work/salloc.out" 2>&1
    rc=$?
    got=$(grep -c '^ok 1 - 2 nodes: a task on node 1 answers' "$work/salloc.out")
    [ $rc -eq 0 ] && [ "$got" -eq 2 ]
    t_point $? "salloc -N2: two srun ray-mpi steps one after the other both answer (status $rc)" ||
        t_show "$work/salloc.out"
}

check_timelimit() {
    job_wait_done "$tl_job" 150
    state=$(job_state "$tl_job")
    took=$(t_since "$tl_t0")
    wait_gone "$tag.tl" 10
    left=$(job_left "$tag.tl")
    [ "$state" = TIMEOUT ] && [ -z "$left" ]
    t_point $? "a ray-mpi job with --time=1 ends at its limit ($state, $took s), nothing of it left" ||
        { echo "$left" | sed 's/^/#   left: /'; t_show "$work/timelimit.out"; }
}

check_start
ls /dev/shm | sort >"$work/shm.before"
submit_timelimit
check_checks
check_exit_code
check_show_placement
check_crash
check_sbatch
check_cpus 1
check_cpus 2
check_mem
check_scancel
check_interrupt
check_salloc
check_timelimit
check_stop
