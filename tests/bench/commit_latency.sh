#!/bin/bash
# The wait from a message's final dot to its 250 (the durable commit),
# beside other MTAs, one peer after the other in the same run.
#   tests/bench/commit_latency.sh [--peers "postfix mxgate"] [--n 300] [--rounds 2] [--workroot DIR]
# Each peer is started by its bench hook (mxgate: tests/bench/hook.sh on the
# release build; a directory holding a hook.sh, such as a copy pointing at
# an older build; or a peer of ../shared/bench) and relays to one smtp-sink
# on 127.0.0.1. tests/bench/commit_latency.py then sends --n messages from
# one client, and --n/10 from each of ten clients, to each peer in turn, for
# --rounds rounds (this disk's speed changes from minute to minute). The
# spools live under --workroot (default /var/tmp/mxgate-latency): point it
# at another file system to measure that one. Each measurement waits 3 s
# first, for the previous peer's deliveries to the sink to settle. Prints
# a markdown table.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
PEERS="postfix mxgate" N=300 ROUNDS=2 WORKROOT=/var/tmp/mxgate-latency
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) PEERS=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --workroot) WORKROOT=$2; shift 2 ;;
    *) sed -n 2,12p "$0"; exit 2 ;;
  esac
done
bench_build
SINK=27400
mkdir -p "$WORKROOT"
bench_sink "$SINK"
bench_start_peers "$WORKROOT" "$SINK" 27401 $PEERS
echo "| round | peer | clients | msgs/s | dot to 250, median ms | 90th percentile ms | session median ms |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  for c in 1 10; do
    for peer in $PEERS; do
      sleep 3 # the last peer's deliveries to the sink settle
      set -- $(python3 "$HERE/commit_latency.py" "${PORT[$peer]}" "$c" $((N / c)))
      echo "| $r | $peer | $c | $1 | $2 | $3 | $4 |"
    done
  done
done
