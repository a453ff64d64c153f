#!/usr/bin/env bash
# mxgate report beside pflogsumm on a day of the same traffic.
#
# Generates MESSAGES (default 300000, the source gateway's day) messages'
# worth of log lines in mxgate's (sendmail's) format and the same traffic
# as Postfix lines (tests/bench/report_gen.py, fixed seed), then times
# `mxgate report` (release build) and `pflogsumm` on them and prints
# lines/s for each. Figures are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-300000}
command -v pflogsumm >/dev/null || { echo "pflogsumm missing: apt-get install pflogsumm" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing: apt-get install python3" >&2; exit 1; }
: "${CARGO_TARGET_DIR:=target}"
bin=$CARGO_TARGET_DIR/release/mxgate
if [ "${MXGATE_BENCH_BUILD:-1}" = 1 ]; then
  cargo build --release --bin mxgate >&2
fi
[ -x "$bin" ] || { echo "no release build at $bin" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 tests/bench/report_gen.py "$n" "$dir/mxgate.log" "$dir/postfix.log"
gzip -k "$dir/mxgate.log"
now() { date +%s.%N; }
rate() { python3 -c "import sys; l,t=int(sys.argv[1]),float(sys.argv[2]); print(f'{l:>9} lines {t:7.2f} s {l/t:>12,.0f} lines/s')" "$1" "$2"; }
run() { # name lines command...
  local name=$1 lines=$2; shift 2
  local t0 t1
  t0=$(now); "$@" > "$dir/out.$name"; t1=$(now)
  printf '%-26s ' "$name"; rate "$lines" "$(echo "$t1 - $t0" | bc -l)"
}
ml=$(wc -l < "$dir/mxgate.log"); pl=$(wc -l < "$dir/postfix.log")
echo "messages: $n; mxgate log $ml lines ($(du -h "$dir/mxgate.log" | cut -f1)), postfix log $pl lines ($(du -h "$dir/postfix.log" | cut -f1)); $(nproc) cores"
run "mxgate report (text)" "$ml" "$bin" report --year 2026 "$dir/mxgate.log"
run "mxgate report (json)" "$ml" "$bin" report --year 2026 --json "$dir/mxgate.log"
run "mxgate report (.gz)" "$ml" "$bin" report --year 2026 --json "$dir/mxgate.log.gz"
run "pflogsumm" "$pl" pflogsumm "$dir/postfix.log"
echo "check: mxgate received $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['received']['count'])" "$dir/out.mxgate report (json)"), pflogsumm $(grep -m1 ' received$' "$dir/out.pflogsumm" | tr -s ' ')"
