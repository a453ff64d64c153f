#!/bin/bash
# A queue of N messages (half of them bounces from <>) held by mxgate and
# by Postfix in one run, destination down, then up: accept, memory, rescans,
# mailq/summary/select/delete while a probe keeps sending, and the drain.
#   tests/bench/queue_scale.sh [--n 200000] [--c 10] [--peers postfix,mxgate] [--keep]
# Prints a markdown table and the mxgate/Postfix ratios (queue_scale.py).
# Root: private network+UTS namespaces (loopback only), cgroup accounting.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
if [ "${MTABENCH_IN_NETNS:-}" != 1 ]; then
  bench_build
  exec unshare -n -u env MTABENCH_IN_NETNS=1 BENCH="$BENCH" MXGATE_BIN="$MXGATE_BIN" \
    bash -c 'ip link set lo up && hostname gw.bench.test && exec "$0" "$@"' "$0" "$@"
fi
exec python3 "$HERE/queue_scale.py" "$@"
