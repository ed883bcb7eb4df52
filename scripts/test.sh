#!/bin/sh
# test.sh - on a fresh Debian 12 machine: install what is missing, build
# ray-mpi and run every test.  Ends with the line "N passed, N failed".
#
# The console gets what a reader of a CI log needs, early and short: the
# harness's lines except PASS (every result is in _build/test-suite.log and
# each test's own .log), then for each failed test its failing points with
# the comment lines around them, then the summary.  VERBOSE=1 shows all.
set -u
cd "$(dirname "$0")/.."
. scripts/deps.sh
ray_install_deps || exit 1
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || ./autogen.sh || exit 1
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure -q --enable-developer || exit 1
make -j"$(nproc)" >/dev/null || { make; exit 1; }

# Everything goes to check.out too; tee -p keeps feeding the file (and
# make keeps running) if whoever reads the console stops reading.
rc_file=$(mktemp) || exit 1
{ make -j"$(nproc)" check 2>&1; echo $? >"$rc_file"; } | tee -p check.out |
    if [ "${VERBOSE:-0}" = 1 ]; then cat; else grep -v '^PASS: '; fi
status=$(cat "$rc_file")
rm -f "$rc_file"

if [ "$status" -ne 0 ]; then
    # Each failed point with up to 6 lines of the test's output before it
    # and 12 after (the TAP comments that say why), 200 lines at most, then
    # the summary again so that it stays the last line.
    for trs in $(grep -l '^:test-result: \(FAIL\|ERROR\|XPASS\)' \
                     $(find tests examples -name '*.trs' 2>/dev/null) 2>/dev/null); do
        echo "==== ${trs%.trs}: what failed (all of it: _build/${trs%.trs}.log)"
        grep -n -B6 -A12 '^not ok\|^Bail out' "${trs%.trs}.log" | head -60
    done | head -200
    sh ../tests/summary.sh test-suite.log
fi
exit "$status"
