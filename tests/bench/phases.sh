#!/bin/bash
# Where a mix session's time goes, phase by phase, beside other MTAs and
# beside the generator alone (straight into smtp-sink), in one run.
#   tests/bench/phases.sh [--peers "postfix mxgate"] [--m 5000] [--c 10] [--workroot DIR]
# Each peer is started by its bench hook (as in commit_latency.sh) and
# relays to one smtp-sink on 127.0.0.1; tests/bench/phases.py then sends
# --m messages of the shared bench's mix sizes from --c concurrent
# sessions and prints a table per target: mean, median and 90th
# percentile of each phase (connect, greeting, EHLO, MAIL, RCPT, DATA,
# content to its 250, QUIT). The "sink" table is the generator's own
# latency; a peer's excess over it is the MTA's. Spools under --workroot
# (default /var/tmp/mxgate-phases).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
PEERS="postfix mxgate" M=5000 C=10 WORKROOT=/var/tmp/mxgate-phases
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) PEERS=$2; shift 2 ;;
    --m) M=$2; shift 2 ;;
    --c) C=$2; shift 2 ;;
    --workroot) WORKROOT=$2; shift 2 ;;
    *) sed -n 2,12p "$0"; exit 2 ;;
  esac
done
bench_build
SINK=27500
mkdir -p "$WORKROOT"
bench_sink "$SINK"
bench_start_peers "$WORKROOT" "$SINK" 27501 $PEERS
PORT[sink]=$SINK
for peer in sink $PEERS; do
  sleep 3 # the last peer's deliveries to the sink settle
  echo
  echo "### $peer"
  python3 "$HERE/phases.py" "${PORT[$peer]}" "$C" "$M"
done
