#!/bin/sh
# test.sh - on a fresh Debian 12 machine: install what is missing, build
# ray-mpi and run every test twice: in _build (the developer build), then
# in _build-asan with ASan and UBSan, where a sanitizer report in any
# test's log is a failure too.  Ends with one line "N passed, N failed"
# that counts both passes.
#
# The console gets what a reader of a CI log needs, early and short: for
# each pass, the harness's lines except PASS and the compiler's (every
# result is in <dir>/test-suite.log and each test's own .log), then for
# each failed test its failing points with the comment lines around them,
# then the pass's count; after the second pass, each log with a sanitizer
# report and its first lines.  VERBOSE=1 shows all.
set -u
cd "$(dirname "$0")/.."
. scripts/deps.sh
ray_install_deps || exit 1
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || ./autogen.sh || exit 1
top=$(pwd)
passed=0
failed=0

# Each failed point of the run in the current directory, with up to 6
# lines of the test's output before it and 12 after (the TAP comments that
# say why), 200 lines at most.
report_failures() {
    for trs in $(grep -l '^:test-result: \(FAIL\|ERROR\|XPASS\)' \
                     $(find tests examples -name '*.trs' 2>/dev/null) 2>/dev/null); do
        echo "==== ${trs%.trs}: what failed (all of it: $1/${trs%.trs}.log)"
        grep -n -B6 -A12 '^not ok\|^Bail out' "${trs%.trs}.log" | head -60
    done | head -200
}

# run_pass DIR TITLE [CONFIGURE OPTIONS...]: builds in DIR and runs make
# check there; adds its counts to passed and failed.
run_pass() {
    dir=$1 title=$2
    shift 2
    echo "== $title ($dir)"
    # A build configured otherwise (quickstart.sh's plain _build) starts
    # over: its tests would silently lack the developer build's (fault
    # injection), and make would keep objects built with other flags.
    if [ -f "$top/$dir/Makefile" ] &&
       [ "$(cd "$top/$dir" && ./config.status --config 2>/dev/null)" != "$*" ]; then
        echo "$dir was configured otherwise: building it again"
        rm -rf "${top:?}/$dir"
    fi
    mkdir -p "$top/$dir" && cd "$top/$dir" || exit 1
    if ! { [ -f Makefile ] || ../configure -q "$@"; } ||
       ! make -j"$(nproc)" >/dev/null; then
        make 2>&1 | tail -40
        echo "$dir: the build failed"
        failed=$((failed + 1))
        return 1
    fi
    # Everything goes to check.out too; tee -p keeps feeding the file (and
    # make keeps running) if whoever reads the console stops reading.  The
    # pass's own "N passed, N failed" is left for the total below.
    rc_file=$(mktemp) || exit 1
    { make -j"$(nproc)" check 2>&1; echo $? >"$rc_file"; } | tee -p check.out |
        if [ "${VERBOSE:-0}" = 1 ]; then cat
        else grep -v -E '^PASS: |^  (CC|CCLD|CXX|CXXLD) |^make --no-print-directory |^[0-9]+ passed, [0-9]+ failed$'; fi
    status=$(cat "$rc_file")
    rm -f "$rc_file"
    [ "$status" -ne 0 ] && report_failures "$dir"
    line=$(sh ../tests/summary.sh test-suite.log 2>/dev/null | tail -1)
    p=${line%% passed, *} f=${line#* passed, }
    f=${f% failed}
    case "$p$f" in
    '' | *[!0-9]*) echo "$dir: no count from make check ($line)"; p=0 f=1 ;;
    *) echo "$dir: $p passed, $f failed (this pass)" ;;
    esac
    passed=$((passed + p))
    failed=$((failed + f))
}

# Every test log of the current build must be free of sanitizer reports:
# one passed check, or one failed check per log that has one.
check_sanitizer_logs() {
    logs=$(grep -l -E 'runtime error:|ERROR: AddressSanitizer' \
               $(find tests examples -name '*.log' 2>/dev/null) 2>/dev/null)
    if [ -z "$logs" ]; then
        echo "$1: no sanitizer report in any test log"
        passed=$((passed + 1))
        return
    fi
    for log in $logs; do
        echo "==== sanitizer report in $1/$log:"
        grep -m3 -E 'runtime error:|ERROR: AddressSanitizer' "$log" | cut -c1-240
    done | head -120
    failed=$((failed + $(echo "$logs" | wc -l)))
}

run_pass _build "pass 1: developer build" --enable-developer
# Tests that expect a worker to die of SIGSEGV need ASan to leave that
# signal alone; leaks are not checked (workers end by _exit or a kill).
ASAN_OPTIONS=detect_leaks=0:handle_segv=0 UBSAN_OPTIONS=print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS
if run_pass _build-asan "pass 2: ASan and UBSan" --enable-developer \
       --enable-sanitizers=address,undefined; then
    check_sanitizer_logs _build-asan
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
