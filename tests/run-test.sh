#!/bin/sh
# run-test.sh - runs one test or example and turns it into TAP, adding the
# check users rely on after every run: nothing of the job is left behind
# (no process, no job directory or temporary file).
#
#   run-test.sh PROGRAM [ARGS...]
#
# TAP programs (tests/) print "ok/not ok" lines; examples/ are plain
# programs judged by their exit status; a test that prints the plan
# "1..0 # SKIP why" is skipped.  Every run gets a private TMPDIR,
# an environment tag to find its processes by, a small object store unless
# the test sets one, and a hard timeout (RAY_TEST_TIMEOUT, seconds).
set -u
prog=$1
base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/ray-test.XXXXXX") || exit 99
tag="rt$$.$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
out=$work.out
export TMPDIR=$work RAY_MPI_TEST_TAG=$tag
export RAY_MPI_OBJECT_STORE_MEMORY=${RAY_MPI_OBJECT_STORE_MEMORY:-512M}
: "${RAY_TEST_TIMEOUT:=300}"

timeout -k 10 "$RAY_TEST_TIMEOUT" "$@" >"$out" 2>&1
status=$?
unset RAY_MPI_TEST_TAG # from here on, only the job's processes carry it

# A test that cannot run here says so with a skip plan ("1..0 # SKIP why",
# and no test point): it is reported as skipped, never as passed.
if [ "$status" -eq 0 ] && grep -q '^1\.\.0 # SKIP' "$out" &&
    ! grep -q '^\(not \)\{0,1\}ok [0-9]' "$out"; then
    sed -e '/^1\.\.0 # SKIP/!s/^/# /' "$out"
    rm -rf "$work" "$out"
    exit 0
fi

case $prog in
*examples/*)
    sed 's/^/# /' "$out"
    n=1
    if [ "$status" -eq 0 ]; then echo "ok 1 - $prog exits 0"
    else echo "not ok 1 - $prog exits 0 (status $status)"; fi
    ;;
*)
    # TAP lines pass through; anything else becomes a comment.
    sed -e '/^\(not \)\{0,1\}ok [0-9]/!s/^/# /' "$out"
    n=$(grep -c '^\(not \)\{0,1\}ok [0-9]' "$out")
    if [ "$status" -ne 0 ] && ! grep -q '^not ok' "$out"; then
        n=$((n + 1))
        if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
            echo "not ok $n - $prog finished (timed out after ${RAY_TEST_TIMEOUT}s)"
        else
            echo "not ok $n - $prog finished (exit status $status)"
        fi
    fi
    ;;
esac

# Nothing left behind: processes carrying the tag (give a killed job's node
# service a moment to clean up), then files in the private TMPDIR.
left=""
i=0
while [ $i -lt 100 ]; do
    left=$(grep -l "RAY_MPI_TEST_TAG=$tag" /proc/[0-9]*/environ 2>/dev/null |
           sed 's|/proc/\([0-9]*\)/environ|\1|' | tr '\n' ' ')
    [ -z "$left" ] && break
    sleep 0.1
    i=$((i + 1))
done
files=$(find "$work" -mindepth 1 2>/dev/null | head -5 | tr '\n' ' ')
n=$((n + 1))
if [ -z "$left" ] && [ -z "$files" ]; then
    echo "ok $n - nothing left behind (processes, job directory)"
else
    echo "not ok $n - nothing left behind"
    [ -n "$left" ] && echo "#   processes still running: $left" &&
        for p in $left; do echo "#   $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"; done
    [ -n "$files" ] && echo "#   files left in TMPDIR: $files"
    for p in $left; do kill -9 "$p" 2>/dev/null; done
fi
echo "1..$n"
rm -rf "$work" "$out"
exit 0
