#!/bin/sh
# test_dagbench.sh - ray-mpi-dagbench end to end (embedded runtime): every
# shape runs small and its outputs check out, with the task count the
# shape implies; --json parses (jq) with its documented keys; the Task
# Bench log has the lines Task Bench's scripts parse; an injected wrong
# checksum is found and named; bad options exit 2.  TAP on stdout.
set -u
bench=${DAGBENCH:-./ray-mpi-dagbench}
launcher=${RAY_MPI_BIN:-./ray-mpi}
out=${TMPDIR:-/tmp}/dagbench.$$
n=0
failed=0

ok() { # ok COND-STATUS DESCRIPTION...
    st=$1; shift
    n=$((n + 1))
    if [ "$st" -eq 0 ]; then echo "ok $n - $*"; else echo "not ok $n - $*"; failed=1; fi
    return "$st"
}

# run ARGS...: the program's stdout in $out, stderr in $out.err, status in $rc
run() {
    timeout -k 5 120 "$bench" --no-progress "$@" >"$out" 2>"$out.err"
    rc=$?
}

show() { sed 's/^/#   /' "$out" "$out.err" | tail -n "${1:-15}"; }

summary_value() { # summary_value METRIC: the value of its summary line
    sed -n "s/^peer=ray-mpi workload=[^ ]* metric=$1 value=\([^ ]*\) .*/\1/p" "$out"
}

# ---- every shape, small, checked; the task count is the shape's own
check_shape() { # check_shape SHAPE TASKS ARGS...
    shape=$1 want=$2; shift 2
    run --shape "$shape" --reps 1 --warmup 0 --task-us 2 "$@"
    got=$(summary_value tasks)
    line=$(grep "^peer=ray-mpi workload=dag_$shape metric=efficiency " "$out")
    case $line in *check=ok*) good=0 ;; *) good=1 ;; esac
    [ "$rc" -eq 0 ] && [ "$good" -eq 0 ] && [ "$got" = "$want" ]
    st=$?
    ok $st "$shape $* runs with check=ok and $want tasks (exit $rc, tasks $got)"
    [ $st -eq 0 ] || show
}

check_shape trivial 32 --width 4 --steps 8
check_shape no_comm 32 --width 4 --steps 8
check_shape stencil_1d 32 --width 4 --steps 8
check_shape stencil_1d_periodic 32 --width 4 --steps 8 --placement spread
check_shape dom 20 --width 4 --steps 8       # widths 1 2 3 4 4 3 2 1
check_shape tree 27 --width 4 --steps 8      # widths 1 2 4 4 4 4 4 4
check_shape fft 32 --width 4 --steps 8
check_shape all_to_all 32 --width 4 --steps 8 --placement node
check_shape nearest 32 --width 4 --steps 8 --radix 2
check_shape spread 56 --width 7 --steps 8    # period 3 needs width >= 7
check_shape random_nearest 32 --width 4 --steps 8 --radix 3 --fraction 0.5
check_shape chain 8 --width 4 --steps 8      # one task per step
check_shape layered 32 --width 4 --steps 8 --parents 3 --seed 7
check_shape mapreduce 7 --width 4 --reduces 3 # 4 maps, 3 reduces

# ---- the compute-bound kernel, bigger outputs, a window smaller than a step
run --shape stencil_1d --width 4 --steps 8 --reps 1 --warmup 0 --iterations 50 --bytes 4096 \
    --window 3
gf=$(summary_value gflops_per_s)
grep -q '^peer=ray-mpi workload=dag_stencil_1d metric=tasks .*check=ok' "$out" &&
    [ "$rc" -eq 0 ] && [ -n "$gf" ] && [ "$gf" != nan ]
ok $? "--iterations 50 --bytes 4096 --window 3: check=ok, gflops_per_s $gf" || show

# ---- --json
run --shape layered --width 4 --steps 8 --reps 3 --warmup 0 --task-us 1 --json
keys='.kind == "run" and .shape == "layered" and .workload == "dag_layered" and
      .tasks == 32 and .width == 4 and .steps == 8 and .reps == 3 and .cores > 0 and
      (.cores_from | type) == "string" and .makespan_s.median > 0 and
      .makespan_s.min <= .makespan_s.median and .makespan_s.median <= .makespan_s.max and
      .tasks_per_s.median > 0 and .efficiency.median > 0 and .efficiency.median <= 1.5 and
      (.granularity_us.median | type) == "number" and (.overhead_us.median | type) == "number" and
      .bytes_moved == 0 and .rank0_msgs_per_task == 0 and (.load1 | length) == 2 and
      .first_error == null and (.samples | length) == 3 and .samples[0].check == "ok" and
      .floor_efficiency.median > 0 and (.samples[0].floor_efficiency | type) == "number" and
      .check == "ok"'
[ "$rc" -eq 0 ] && [ "$(wc -l <"$out")" -eq 1 ] && jq -e "$keys" "$out" >/dev/null
ok $? "--json: one object that jq parses, with the documented keys" || show

run --shape stencil_1d --width 2 --steps 50 --reps 2 --warmup 0 --json \
    --sweep task-us=200,20,0
metg='select(.kind == "metg") | (.points | length) == 3 and .points[0].task_us == 200 and
      .threshold == 0.5 and (.metg50_us | has("median")) and (.metg_status | type) == "string" and
      .sweep == "task-us" and .check == "ok"'
[ "$rc" -eq 0 ] && [ "$(jq -s 'map(select(.kind == "run")) | length' "$out")" = 3 ] &&
    jq -e "$metg" "$out" >/dev/null
ok $? "--json --sweep: three run objects, then the metg object" || show

# ---- the machine's floor: plain processes doing the same work, per repetition
run --shape no_comm --width 2 --steps 20 --reps 2 --warmup 0 --task-us 50
[ "$rc" -eq 0 ] && [ "$(grep -c '^# peer=floor workload=dag_no_comm metric=efficiency rep=' "$out")" = 2 ] &&
    grep -q '^peer=floor workload=dag_no_comm metric=efficiency value=[0-9.]* .*check=ok' "$out"
ok $? "peer=floor efficiency lines, one per repetition and a summary" || show
# The children start the clock once all are pinned and ready: a floor
# whose children never said so waited 5 s for them, each repetition.
t0=$(date +%s)
run --shape no_comm --width 2 --steps 10 --reps 3 --warmup 0 --task-us 50
t1=$(date +%s)
[ "$rc" -eq 0 ] && [ $((t1 - t0)) -lt 10 ]
ok $? "three floors start without waiting out their children ($((t1 - t0)) s)" || show
run --shape no_comm --width 2 --steps 20 --reps 1 --warmup 0 --task-us 50 --no-floor --json
[ "$rc" -eq 0 ] && jq -e '.floor_efficiency.median == null' "$out" >/dev/null
ok $? "--no-floor: no floor measured" || show

# ---- cores: the runtime's CPUs, by its rule and confirmed by its answers
RAY_MPI_NUM_CPUS=1 run --shape trivial --width 4 --steps 4 --reps 1 --warmup 0 --json
[ "$rc" -eq 0 ] && jq -e '.cores == 1 and (.cores_from | test("RAY_MPI_NUM_CPUS=1.*confirmed"))
                         and .check == "ok"' "$out" >/dev/null
ok $? "RAY_MPI_NUM_CPUS=1: cores 1, confirmed by the runtime" || show

# ---- under the launcher (one node today): the driver is started by ray-mpi
timeout -k 5 120 "$launcher" "$bench" --no-progress --shape fft --width 8 --steps 6 --reps 1 \
    --warmup 0 --placement spread >"$out" 2>"$out.err"
rc=$?
[ "$rc" -eq 0 ] && grep -q '^peer=ray-mpi workload=dag_fft metric=tasks value=48 .*check=ok' "$out"
ok $? "ray-mpi ray-mpi-dagbench --shape fft --placement spread: check=ok (exit $rc)" || show

# ---- --taskbench-log: the lines chart_metg.py's regular expressions read
run --shape stencil_1d --width 4 --steps 8 --reps 2 --warmup 0 --iterations 10 --taskbench-log
count() { grep -cE "$1" "$out"; }
[ "$rc" -eq 0 ] &&
    [ "$(count '^ *Time Steps: 8$')" = 2 ] && [ "$(count '^ *Max Width: 4$')" = 2 ] &&
    [ "$(count '^ *Iterations: 10$')" = 2 ] && [ "$(count '^ *Output Bytes: 16$')" = 2 ] &&
    [ "$(count '^ *Total Tasks 32$')" = 2 ] &&
    [ "$(count '^ *Total FLOPs 43008$')" = 2 ] && # 32 x (2 x 64 x 10 + 64)
    [ "$(count '^ *Total Bytes 0$')" = 2 ] &&
    [ "$(count '^ *Elapsed Time [0-9]\.[0-9]{6}e[-+][0-9]{2} seconds$')" = 2 ] &&
    [ "$(count '^ *Total Dependencies 70$')" = 2 ] # 7 steps x (2 + 3 + 3 + 2)
ok $? "--taskbench-log: Task Bench's summary lines, once per repetition" || show 40

# ---- a wrong result is found and named
run --shape layered --width 6 --steps 8 --reps 1 --warmup 0 --inject-error 3,2
[ "$rc" -eq 1 ] && grep -q 'check=FAIL: first wrong task (t=3, p=2) output 0' "$out" &&
    grep -q '^peer=ray-mpi workload=dag_layered metric=tasks .*check=FAIL' "$out"
ok $? "--inject-error 3,2: exit 1, check=FAIL naming task (3, 2)" || show
run --shape mapreduce --width 3 --reduces 4 --reps 1 --warmup 0 --inject-error 1,3 --json
[ "$rc" -eq 1 ] &&
    jq -e '.check == "FAIL" and .first_error.t == 1 and .first_error.p == 3 and
           .first_error.wrong == 1' "$out" >/dev/null
ok $? "--inject-error on a reduce: JSON first_error names (1, 3)" || show

# ---- bad options: a message and exit 2
bad() { # bad WHAT ARGS...
    what=$1; shift
    run "$@"
    [ "$rc" -eq 2 ] && grep -q "^ray-mpi-dagbench: .*$what" "$out.err" && [ ! -s "$out" ]
    ok $? "refused with exit 2: $* ($(head -c 120 "$out.err"))"
}
bad "unknown" --shape nope
bad "width" --width 0
bad "bytes" --bytes 4
bad "placement" --placement far
bad "at least two" --sweep task-us=5
bad "period" --shape stencil_1d --period 2
bad "twice" --shape stencil_1d_periodic --width 2
bad "unknown option" --frobnicate
bad "pick one" --json --taskbench-log
bad "pick one" --task-us 1 --iterations 5
bad "no such task" --steps 8 --inject-error 99,0

run --help
missing=""
for o in --shape --width --steps --radix --period --fraction --parents --seed --reduces \
    --task-us --iterations --bytes --placement --reps --warmup --sweep --window --timeout \
    --cores --progress --no-progress --no-floor --json --taskbench-log --inject-error METG; do
    grep -q -- "$o" "$out" || missing="$missing $o"
done
[ "$rc" -eq 0 ] && [ -z "$missing" ]
ok $? "--help exits 0 and documents every option${missing:+ (missing:$missing)}"

rm -f "$out" "$out.err"
exit $failed
