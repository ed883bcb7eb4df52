#!/bin/sh
# summary.sh TEST-SUITE-LOG - the one line `make check` ends with: the test
# points that passed and failed in this run (automake counts every TAP
# result).  Skips are not passes: they are listed on a line of their own.
# Exits 1 if anything failed or nothing ran.
log=${1:-test-suite.log}
if [ ! -f "$log" ]; then
    echo "0 passed, 1 failed"
    echo "(no $log: the test harness did not run)" >&2
    exit 1
fi
awk '
    /^# PASS:/ { pass = $3 } /^# XFAIL:/ { pass += $3 }
    /^# FAIL:/ { fail = $3 } /^# XPASS:/ { fail += $3 } /^# ERROR:/ { fail += $3 }
    /^# SKIP:/ { skip = $3 }
    /^# ERROR:/ { exit }
    END {
        if (skip) printf "(%d skipped: see %s)\n", skip, FILENAME
        printf "%d passed, %d failed\n", pass, fail
        exit (fail || !pass) ? 1 : 0
    }' "$log"
