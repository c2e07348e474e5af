#!/usr/bin/env bash
# Whole-run benchmark: the release binary against rg and grep on the same
# generated log (default 1024 MiB; most lines noise, ~6% status lines, full
# SIP dumps among them). Prints MB/s (10^6 bytes, the unit of the target)
# and MiB/s, the time ratio to rg and peak memory. sipannotate's output goes
# to /dev/null while timed, as with hyperfine: the figures are the tool's,
# not the disk's (the JSON is ~0.6 bytes per input byte); the events are
# counted in a separate run. rg and grep print one count to a file (GNU grep
# stops at the first match when its output is /dev/null).
#   scripts/bench.sh [SIZE_MIB]
# Needs ripgrep and GNU time (Debian: apt-get install ripgrep time).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
command -v rg >/dev/null || { echo "bench.sh: install ripgrep (apt-get install ripgrep)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench.sh: install GNU time (apt-get install time)" >&2; exit 2; }
cargo build --release --quiet
cargo build --release --quiet --example gen_log
mkdir -p bench-data
log="bench-data/gen-${size}MiB.log"
[ -s "$log" ] || ./target/release/examples/gen_log "$size" > "$log"
bytes=$(stat -c %s "$log")
cat "$log" > /dev/null   # warm the page cache

best() { # best of 3 of "command... > $out": prints "seconds peak_kib"
    local b="" m=""
    for _ in 1 2 3; do
        read -r t k < <( { /usr/bin/time -f "%e %M" "$@" > "$out"; } 2>&1 | tail -1 )
        if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; m=$k; fi
    done
    echo "$b $m"
}

out=/dev/null
read -r ts tm < <(best taskset -c 0 ./target/release/sipannotate --no-patterns-dir -o json --only-matches "$log")
read -r tt ttm < <(best taskset -c 0 ./target/release/sipannotate --no-patterns-dir --color never "$log")
out=bench-data/out.tmp
read -r rs rm < <(best taskset -c 0 rg -j1 -c 'SIP/2\.0 [1-6][0-9][0-9]' "$log")
read -r gs gm < <(best taskset -c 0 grep -c 'SIP/2\.0 [1-6][0-9][0-9]' "$log")
events=$(./target/release/sipannotate --no-patterns-dir -o json --only-matches "$log" | wc -l)

mbs() { awk "BEGIN{t=($1>0?$1:0.001); printf \"%5.0f MB/s %5.0f MiB/s\", $bytes/1e6/t, $bytes/1048576/t}"; }
printf 'input: %s (%d MiB, %d bytes), %s events\n' "$log" $((bytes/1048576)) "$bytes" "$events"
printf '%-40s %6s s %s %8s KiB peak\n' "sipannotate -o json --only-matches" "$ts" "$(mbs "$ts")" "$tm"
printf '%-40s %6s s %s %8s KiB peak\n' "sipannotate (text, every line through)" "$tt" "$(mbs "$tt")" "$ttm"
printf '%-40s %6s s %s %8s KiB peak\n' "rg -j1 -c 'SIP/2\\.0 [1-6][0-9][0-9]'" "$rs" "$(mbs "$rs")" "$rm"
printf '%-40s %6s s %s %8s KiB peak\n' "grep -c 'SIP/2\\.0 [1-6][0-9][0-9]'" "$gs" "$(mbs "$gs")" "$gm"
awk "BEGIN{printf \"time ratio sipannotate json / rg: %.1fx, / grep: %.1fx\n\", $ts/($rs>0?$rs:0.001), $ts/($gs>0?$gs:0.001)}"
