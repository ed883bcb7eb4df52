#!/bin/sh
# test_slurm.sh - what users of srun, sbatch and salloc rely on, checked
# against real Slurm daemons: a 3-node cluster from cluster.sh under this
# run's private TMPDIR, torn down also when a check fails or the test is
# interrupted.  Prints TAP points only (tests/run-test.sh adds the plan and
# the nothing-left-behind point).  The time-limit job is submitted first and
# checked last: Slurm's limits are whole minutes, checked every 30 s, so it
# ends 60-90 s after it starts; the other checks run meanwhile.
set -u
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=tests/slurm/lib.sh
. "$here/lib.sh"
t_setup rs

# ---- the checks ----------------------------------------------------------

# Submitted first, checked last (check_timelimit).
submit_timelimit() {
    tl_t0=$(t_now)
    tl_job=$(cl_with RAY_TEST_JOB="$tag.tl" sbatch --parsable --time=1 -w node3 \
        -o "$work/timelimit.out" --wrap 'echo started; exec sleep 600')
}

check_hostname() {
    cl srun -N3 hostname >"$work/hostname.out" 2>"$work/hostname.err"
    got=$(sort "$work/hostname.out" | tr '\n' ' ')
    [ "$got" = "node1 node2 node3 " ]
    t_point $? "srun -N3 hostname prints node1..node3" ||
        { t_show "$work/hostname.out"; t_show "$work/hostname.err"; }
}

build_mpi_hello() {
    mpicc -o "$work/mpi_hello" "$here/mpi_hello.c" >"$work/mpicc.out" 2>&1
    t_point $? "mpicc builds the MPI hello" || t_show "$work/mpicc.out"
}

# Default --mpi (MpiDefault=pmix): ranks 0..2, size 3, one per node, rank 0 on node1.
check_mpi_hello() {
    cl srun -N3 "$work/mpi_hello" >"$work/mpi.out" 2>&1
    got=$(grep '^rank [0-9]* size' "$work/mpi.out" | sort | tr '\n' ' ')
    want="rank 0 size 3 host node1 rank 1 size 3 host node2 rank 2 size 3 host node3 "
    [ "$got" = "$want" ]
    t_point $? "srun -N3 mpi_hello: ranks 0..2 of 3, one per node, rank 0 on node1" ||
        t_show "$work/mpi.out"
}

# Only self and tcp: the ranks' messages must cross the bridge between nodes.
check_mpi_tcp() {
    cl_with OMPI_MCA_btl=self,tcp srun -N3 "$work/mpi_hello" >"$work/tcp.out" 2>&1
    got=$(grep '^rank 0 got' "$work/tcp.out" | sort | tr '\n' ' ')
    [ "$got" = "rank 0 got node2 from rank 1 rank 0 got node3 from rank 2 " ]
    t_point $? "MPI messages between nodes over btl tcp (rank 0 hears node2, node3)" ||
        t_show "$work/tcp.out"
}

check_exit_code() {
    cl srun -N1 sh -c 'exit 3' 2>"$work/exit.err"
    rc=$?
    [ $rc -eq 3 ]
    t_point $? "srun -N1 sh -c 'exit 3' exits 3 (got $rc)" || t_show "$work/exit.err"
}

check_signal() {
    cl srun -N1 sh -c 'kill -KILL $$' 2>"$work/signal.err"
    rc=$?
    [ $rc -eq 137 ] && grep -q 'task 0: Killed' "$work/signal.err"
    t_point $? "a task killed by SIGKILL: srun exits 137 and says 'task 0: Killed' (got $rc)" ||
        t_show "$work/signal.err"
}

check_sbatch() {
    cat >"$work/job.sh" <<EOF
#!/bin/sh
#SBATCH --nodes=2
#SBATCH --output=$work/job.out
srun hostname | sort
echo "job \$SLURM_JOB_ID done"
EOF
    id=$(cl sbatch --parsable "$work/job.sh" 2>"$work/sbatch.err")
    job_wait_done "$id" 30
    state=$(job_state "$id")
    hosts=$(grep -c '^node[1-3]$' "$work/job.out" 2>/dev/null)
    [ "$state" = COMPLETED ] && [ "$hosts" -eq 2 ] && grep -qx "job $id done" "$work/job.out"
    t_point $? "sbatch of a 2-node script: COMPLETED, its output file has 2 nodes and 'job $id done'" ||
        { t_show "$work/sbatch.err"; t_show "$work/job.out"; }
}

# Two steps, one after the other, in one allocation: "JOB.STEP host" lines.
check_salloc() {
    cl salloc -N2 sh -c 'srun sh -c "echo \$SLURM_JOB_ID.\$SLURM_STEP_ID \$(hostname)"
                         srun sh -c "echo \$SLURM_JOB_ID.\$SLURM_STEP_ID \$(hostname)"' \
        >"$work/salloc.out" 2>"$work/salloc.err"
    steps=$(cut -d' ' -f1 "$work/salloc.out" | sed 's/^[0-9]*\.//' | tr '\n' ' ')
    jobs=$(cut -d' ' -f1 "$work/salloc.out" | cut -d. -f1 | sort -u | wc -l)
    hosts=$(grep -c ' node[1-3]$' "$work/salloc.out")
    [ "$steps" = "0 0 1 1 " ] && [ "$jobs" -eq 1 ] && [ "$hosts" -eq 4 ]
    t_point $? "salloc -N2 runs two srun steps one after the other (steps 0, 0, 1, 1 of one job)" ||
        { t_show "$work/salloc.out"; t_show "$work/salloc.err"; }
}

# The job script templates of slurm/ parse, and sbatch accepts their #SBATCH lines.
check_templates() {
    bad=""
    for t in "$here/../../slurm/ray-mpi.sbatch" "$here/../../slurm/dagbench.sbatch"; do
        sh -n "$t" && cl sbatch --test-only "$t" ./driver >>"$work/templates.out" 2>&1 ||
            bad="$bad ${t##*/}"
    done
    [ -z "$bad" ]
    t_point $? "slurm/*.sbatch parse and pass sbatch --test-only${bad:+ (not:$bad)}" ||
        t_show "$work/templates.out"
}

job_files() { # JOBID -> Slurm's per-job files and dirs on the nodes (spool, TmpFS)
    find "$dir/node" \( -name "spmix_appdir_*_$1.*" -o -name "*_$1.[0-9]*" \
        -o -name "pmix.$1.*" -o -name "stepd.slurm.pmix.$1.*" \
        -o -name "job$(printf %05d "$1")" \) -print 2>/dev/null
}



cancel_job_start() {
    ls /dev/shm | sort >"$work/shm.before"
    cancel_job=$(cl_with RAY_TEST_JOB="$tag.cancel" sbatch --parsable -N2 -w node1,node2 \
        --ntasks-per-node=2 -o "$work/cancel.out" --wrap "srun $work/mpi_hello wait")
    wait_for_file_line "$work/cancel.out" '^ready' 30
}

# While running: the job's processes, its /dev/shm files, its per-job files.
check_cancel_running() {
    cancel_job_start
    ready=$?
    cancel_pids=$(tag_pids "$tag.cancel")
    cancel_shm=$(shm_new "$work/shm.before" | tr '\n' ' ')
    cancel_files=$(job_files "$cancel_job" | wc -l)
    [ $ready -eq 0 ] && [ -n "$cancel_pids" ] && [ -n "$cancel_shm" ] && [ "$cancel_files" -gt 0 ]
    t_point $? "a 2-node MPI job runs (processes: $(echo "$cancel_pids" | wc -w), /dev/shm files: $(echo "$cancel_shm" | wc -w), per-job files: $cancel_files)" ||
        { t_show "$work/cancel.out"; t_logs; }
}

shm_left() { for f in $cancel_shm; do [ ! -e "/dev/shm/$f" ] || echo "$f"; done; }

check_cancel_gone() {
    t0=$(t_now)
    cl scancel "$cancel_job"
    # Open MPI registers its vader segments with the PMIx server for
    # cleanup: slurmstepd removes them once the step's processes are gone,
    # a moment after them.
    i=0
    while [ -n "$(tag_pids "$tag.cancel")$(ns_others node1 node2)$(shm_left)" ] && [ $i -lt 150 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    job_wait_done "$cancel_job" 10
    left=$(tag_pids "$tag.cancel") others=$(ns_others node1 node2 | tr '\n' ' ')
    shm=$(shm_left)
    files=$(job_files "$cancel_job")
    [ "$(job_state "$cancel_job")" = CANCELLED ] && [ -z "$left$others$shm$files" ]
    t_point $? "scancel: job CANCELLED, none of its processes, /dev/shm or per-job files left ($(t_since "$t0") s)" ||
        echo "#   state $(job_state "$cancel_job"); processes: $left $others; shm: $shm; files: $files"
}

check_timelimit() {
    job_wait_done "$tl_job" 150
    took=$(t_since "$tl_t0")
    state=$(job_state "$tl_job")
    left=$(tag_pids "$tag.tl")
    in_time=$(awk -v t="$took" 'BEGIN { print (t >= 60 && t <= 120) ? 1 : 0 }')
    [ "$state" = TIMEOUT ] && [ "$in_time" = 1 ] && [ -z "$left" ] &&
        grep -q 'DUE TO TIME LIMIT' "$work/timelimit.out"
    t_point $? "a job with --time=1 is ended by its time limit after 60-120 s (state $state, $took s after submission)" ||
        { t_show "$work/timelimit.out"; echo "#   processes left: $left"; }
}



check_start
submit_timelimit
check_hostname
build_mpi_hello
check_mpi_hello
check_mpi_tcp
check_exit_code
check_signal
check_sbatch
check_salloc
check_templates
check_cancel_running
check_cancel_gone
check_timelimit
check_stop
