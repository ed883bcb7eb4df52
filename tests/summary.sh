#!/bin/sh
# summary.sh [DIR] - the one line `make check` ends with: test points passed
# and failed over every .trs file (one line per TAP result).  Skips are not
# passes: they are listed on their own line before it.
dir=${1:-.}
find "$dir" -name '*.trs' -exec cat {} + 2>/dev/null | awk '
    /^:test-result: (PASS|XFAIL)/ { pass++ }
    /^:test-result: (FAIL|XPASS|ERROR)/ { fail++ }
    /^:test-result: SKIP/ { skip++ }
    END {
        if (skip) printf "(%d skipped: see the .log files)\n", skip
        printf "%d passed, %d failed\n", pass, fail
    }'
