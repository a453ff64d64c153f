#!/bin/bash
# Side-by-side relay benchmark: Postfix and mxgate in one run, through
# ../shared/bench/run.sh (same generator, sink, cgroup accounting, netns).
#   tests/bench/compare.sh [--m N] [--runs N] [--workloads "fixed4k:10 fixed4k:50 mix:10"] [--peers "postfix mxgate"]
# Prints one markdown row per (peer, workload, C): e2e and accepted msgs/s,
# MTA CPU-s per 1000 messages, peak memory; then each peer's medians as
# multiples of Postfix's from the same run (ratios.py); raw records go to $OUT.
# The runs alternate between the peers, in the peers' order in odd rounds
# and the reverse in even ones (A B, B A, A B, ...): this machine's speed
# drifts by 10-20% within minutes, and a run may also depend on the one
# just before it (docs/benchmarks.md, "The relay with the runs
# alternating" and "The pool of recycled files after a start").
# BENCH_SETTLE=S waits S seconds before each run (after a sync).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
M=20000 RUNS=1 WORKLOADS="fixed4k:10 fixed4k:50" PEERS="postfix mxgate" TIMEOUT=120
while [ $# -gt 0 ]; do
  case "$1" in
    --m) M=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    *) sed -n 2,13p "$0"; exit 2 ;;
  esac
done
OUT=${OUT:-$(mktemp /tmp/mxgate-bench.XXXXXX.jsonl)}
bench_build
for wc in $WORKLOADS; do
  wl=${wc%%:*} c=${wc##*:}
  order=$PEERS
  for _ in $(seq "$RUNS"); do
    for peer in $order; do
      bench_run "$peer" "$wl" "$c" "$M" 1 "$TIMEOUT" "$OUT"
    done
    order=$(printf '%s\n' $order | tac | tr '\n' ' ')
  done
done
echo
echo "raw records: $OUT"
python3 "$BENCH/summarize.py" "$OUT" | sed "s#$HERE#mxgate#"
echo
python3 "$HERE/ratios.py" "$OUT" "$HERE"
