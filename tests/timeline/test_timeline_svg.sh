#!/bin/sh
# test_timeline_svg.sh - ray-mpi-timeline end to end: the hand-made trace
# sample.json (3 nodes, a service row and 2 workers each, 30 task events
# of 4 names, 3 transfers) draws as SVG that xmllint (or python3) parses
# and rsvg-convert renders at the asked width, with one class="task" rect
# per task event, one class="transfer" arrow per transfer and every row's
# label; a bare array of events draws too; broken files (cut short, wrong
# types, nesting 100000 deep, empty, binary, ...) exit 1 with one message
# naming the file, never a crash; 300000 generated events draw quickly in
# a bounded SVG; bad options exit 2.  rsvg-convert is required (deps.sh
# installs librsvg2-bin): without it the test fails.  TAP on stdout.
set -u
prog=${TIMELINE:-./ray-mpi-timeline}
here=$(cd "$(dirname "$0")" && pwd -P)
sample=$here/sample.json
dir=$(mktemp -d "${TMPDIR:-/tmp}/timeline.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
n=0
failed=0

ok() { # ok STATUS DESCRIPTION...
    st=$1; shift
    n=$((n + 1))
    if [ "$st" -eq 0 ]; then echo "ok $n - $*"; else echo "not ok $n - $*"; failed=1; fi
    return "$st"
}

# run ARGS...: stdout in $dir/out, stderr in $dir/err, status in $rc
run() {
    timeout -k 5 60 "$prog" "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
}

show() { sed 's/^/#   /' "$dir/err" | head -n 5; }

count() { grep -o "$1" "$2" | wc -l | tr -d ' '; }

xml_ok() { # xml_ok FILE: well-formed XML
    if command -v xmllint >/dev/null 2>&1; then
        xmllint --noout "$1" 2>"$dir/xml.err"
    else
        python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$1" \
            2>"$dir/xml.err"
    fi
}

png_width() { # png_width FILE: the width in its IHDR chunk
    od -An -tu1 -j16 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'
}

# ---- the sample, drawn
run "$sample" -o "$dir/s.svg" --width 1200
[ "$rc" -eq 0 ] && [ -s "$dir/s.svg" ] && [ ! -s "$dir/out" ]
ok $? "sample.json: exit 0 and the SVG written to -o (exit $rc)" || show

xml_ok "$dir/s.svg"
ok $? "the SVG is well-formed XML" || sed 's/^/#   /' "$dir/xml.err" | head -5

command -v rsvg-convert >/dev/null 2>&1
ok $? "rsvg-convert is installed (scripts/deps.sh: librsvg2-bin)"
rsvg-convert "$dir/s.svg" -o "$dir/s.png" 2>"$dir/rsvg.err" &&
    [ "$(png_width "$dir/s.png")" = 1200 ]
ok $? "rsvg-convert renders it to a PNG 1200 px wide (--width 1200)" ||
    sed 's/^/#   /' "$dir/rsvg.err" | head -5

want=$(grep '"ph":"X"' "$sample" | grep -vc '"cat":"transfer"')
got=$(count 'class="task"' "$dir/s.svg")
[ "$want" = 30 ] && [ "$got" = "$want" ]
ok $? "one class=\"task\" rect per task event ($got of $want)"

want=$(grep -c '"cat":"transfer"' "$sample")
got=$(count 'class="transfer"' "$dir/s.svg")
[ "$want" = 3 ] && [ "$got" = "$want" ]
ok $? "one class=\"transfer\" arrow per transfer ($got of $want)"

missing=""
for label in "node 0 (host-a)" "node 1 (host-b)" "node 2 (host-c)" \
    "node service pid 800" "node service pid 1200" "node service pid 2300" \
    "worker pid 812" "worker pid 813" "worker pid 1201" "worker pid 1202" \
    "worker pid 2301" "worker pid 2302"; do
    grep -qF ">node ${label#node }<" "$dir/s.svg" || grep -qF "$label</text>" "$dir/s.svg" ||
        missing="$missing '$label'"
done
[ -z "$missing" ]
ok $? "every row and node label is drawn${missing:+ (missing:$missing)}"

grep -qF 'reduce&#60;&#38;&#62;&#34;&#39;' "$dir/s.svg" &&
    [ "$(count '<title>' "$dir/s.svg")" = 36 ] && # 30 tasks, 3 transfers' bars and arrows
    grep -q 'span 4.0[0-9]* ms .* 30 tasks .* 3 transfers .* 3 nodes .* 6 workers' "$dir/s.svg"
ok $? "names escaped for XML, a tooltip per rect and arrow, the title line's counts"

run "$sample" --title 'my <run> & more' --row-height 20
[ "$rc" -eq 0 ] && grep -qF 'my &#60;run&#62; &#38; more' "$dir/out" && xml_ok "$dir/out"
ok $? "to standard output, with --title (escaped) and --row-height 20" || show

# ---- a bare array of events, as Chrome also reads
cat >"$dir/bare.json" <<'EOF'
[{"ph":"M","name":"thread_name","pid":1,"tid":7,"args":{"name":"worker pid 7"}},
 {"ph":"X","cat":"task","name":"a","pid":1,"tid":7,"ts":0,"dur":10},
 {"ph":"X","cat":"task","name":"b","pid":1,"tid":7,"ts":12.5,"dur":3},
 {"ph":"B","name":"c","pid":1,"tid":8,"ts":1},{"ph":"E","pid":1,"tid":8,"ts":9},
 {"ph":"i","name":"now","pid":1,"tid":7,"ts":5}]
EOF
run "$dir/bare.json" -o "$dir/bare.svg"
[ "$rc" -eq 0 ] && [ "$(count 'class="task"' "$dir/bare.svg")" = 3 ] && xml_ok "$dir/bare.svg" &&
    grep -qF 'worker pid 7</text>' "$dir/bare.svg"
ok $? "a bare array of events: drawn (2 complete events and a B/E pair)" || show

# ---- broken files: exit 1, one message naming the file and where
broken() { # broken NAME WHAT: $dir/NAME is refused, the message matching WHAT
    run "$dir/$1" -o "$dir/broken.svg"
    lines=$(wc -l <"$dir/err")
    [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -e "$dir/broken.svg" ] &&
        grep -q "^ray-mpi-timeline: $dir/$1: .*$2" "$dir/err"
    ok $? "$1: exit 1 (status $rc), one message: $(cut -c1-150 "$dir/err" | sed "s|$dir/||")"
}
head -c 2000 "$sample" >"$dir/truncated.json"
broken truncated.json 'line [0-9]* col [0-9]*: .*end of input'
: >"$dir/empty.json"
broken empty.json 'line 1 col 1: empty'
cp "$prog" "$dir/binary.json"
broken binary.json 'line 1 col 1: not a trace'
head -c 100000 /dev/zero | tr '\0' '[' >"$dir/deep.json"
broken deep.json 'event 1 is not an object'
{ printf '{"traceEvents":[{"ph":"X","args":'; head -c 100000 /dev/zero | tr '\0' '['; } \
    >"$dir/deep-args.json"
broken deep-args.json 'nested more than 512 deep'
{ printf '{"otherData":'; head -c 100000 /dev/zero | tr '\0' '\1' | sed 's/\x01/{"a":/g'; } \
    >"$dir/deep-skipped.json"
broken deep-skipped.json 'nested more than 512 deep'
echo '{"traceEvents":[{"ph":"X","name":"a","pid":0,"tid":1,"ts":"12","dur":3}]}' >"$dir/ts-string.json"
broken ts-string.json 'line 1 col 59: event 1: "ts" must be a number, not a string'
echo '{"traceEvents":[{"ph":"X","name":7,"ts":1}]}' >"$dir/name-number.json"
broken name-number.json 'event 1: "name" must be a string'
echo '{"traceEvents":[{"ph":"X","ts":1,"dur":-5}]}' >"$dir/dur-negative.json"
broken dur-negative.json '"dur" is -5'
echo '{"traceEvents":{"ph":"X"}}' >"$dir/events-object.json"
broken events-object.json 'expected an array'
echo '{"traceEvents":[1,2]}' >"$dir/event-number.json"
broken event-number.json 'event 1 is not an object'
echo '{"traceEvents":[{"ph":"X","ts":1e999}]}' >"$dir/huge-number.json"
broken huge-number.json 'out of range'
printf '{"traceEvents":[{"ph":"X","name":"\001","ts":1}]}' >"$dir/control.json"
broken control.json 'control byte 0x01'
printf '{"traceEvents":[{"ph":"X","name":"\377","ts":1}]}' >"$dir/bad-utf8.json"
broken bad-utf8.json 'invalid UTF-8'
echo '{"traceEvents":[]} x' >"$dir/trailing.json"
broken trailing.json 'nothing after the end'
echo '{"otherData":{}}' >"$dir/no-events.json"
broken no-events.json 'no "traceEvents"'
run "$dir/does-not-exist.json"
[ "$rc" -eq 1 ] && grep -q "does-not-exist.json: No such file" "$dir/err"
ok $? "a missing file: exit 1 naming it"

# ---- escapes and odd names still give valid XML
printf '%s\n' '{"traceEvents":[{"ph":"X","name":"\u0000\u0007 \ud83d\ude00 \ud800 x\u00e9","ts":1,"dur":2},' \
    '{"ph":"M","name":"thread_name","pid":0,"tid":0,"args":{"name":"]]> <!-- &amp;"}}]}' \
    >"$dir/escapes.json"
run "$dir/escapes.json" -o "$dir/escapes.svg"
[ "$rc" -eq 0 ] && xml_ok "$dir/escapes.svg" && rsvg-convert "$dir/escapes.svg" -o "$dir/e.png"
ok $? "NUL, control characters, surrogates, markup in names: valid XML" || show

# ---- 300000 events: quick (30 s, an ASan build on a busy machine too), merged, bounded
python3 - "$dir/big.json" <<'EOF'
import sys
names = ["leaf", "square", "reduce", "map", "shuffle", "sort"]
with open(sys.argv[1], "w") as f:
    f.write('{"traceEvents":[\n')
    f.write('{"ph":"M","name":"process_name","pid":0,"args":{"name":"node 0 (big)"}}')
    n = 0
    for i in range(300000):
        node, w = i % 4, (i // 4) % 8
        if i % 1000 == 999:
            f.write(',\n{"ph":"X","cat":"transfer","name":"pull","pid":%d,"tid":0,"ts":%.3f,'
                    '"dur":40.0,"args":{"from_node":%d,"to_node":%d,"bytes":65536}}'
                    % (node, i * 0.9, (node + 1) % 4, node))
            continue
        f.write(',\n{"ph":"X","cat":"task","name":"%s","pid":%d,"tid":%d,"ts":%.3f,"dur":%.3f,'
                '"args":{"bytes_in":16,"bytes_out":8,"attempt":0,"status":"ok"}}'
                % (names[i % 6], node, 1000 + w, (i // 32) * 30.0, 25.0))
    f.write('\n]}\n')
EOF
start=$(date +%s)
run "$dir/big.json" -o "$dir/big.svg"
secs=$(($(date +%s) - start))
size=$(wc -c <"$dir/big.svg")
[ "$rc" -eq 0 ] && [ "$secs" -le 30 ] && [ "$size" -lt 20000000 ] &&
    [ "$(count 'class="task"' "$dir/big.svg")" = 0 ] && xml_ok "$dir/big.svg" &&
    rsvg-convert "$dir/big.svg" -o "$dir/big.png"
ok $? "300000 events: exit $rc in ${secs}s, merged, $size bytes of SVG that renders" || show

# ---- options
bad() { # bad WHAT ARGS...: exit 2 with usage
    what=$1; shift
    run "$@"
    [ "$rc" -eq 2 ] && grep -q "^ray-mpi-timeline: .*$what" "$dir/err" && grep -q '^usage:' "$dir/err"
    ok $? "refused with exit 2 and usage: $* ($(head -n 1 "$dir/err"))"
}
bad "unknown option" "$sample" --frobnicate
bad "width" "$sample" --width 10
bad "row-height" "$sample" --row-height x
bad "needs a value" "$sample" -o
bad "which trace" -o "$dir/x.svg"
bad "one trace" "$sample" "$sample"
run --help
[ "$rc" -eq 0 ] && grep -q -- '--row-height' "$dir/out" && grep -q -- '--title' "$dir/out"
ok $? "--help exits 0 and lists the options"
run --version
[ "$rc" -eq 0 ] && grep -q '^ray-mpi-timeline (ray-mpi) [0-9]' "$dir/out"
ok $? "--version: $(cat "$dir/out")"

exit $failed
