#!/bin/bash
# A table rebuild under relay load (issue 16): the daemon relays fixed 4 KiB
# mail at C connections with a LINES-line access table; the acceptance rate
# is measured for M messages without a rebuild, then for M messages while
# `mxgate makemap hash` rebuilds that table from its source again and again.
# Prints both rates, their ratio, and the rebuilds' times.
#   tests/bench/rebuild_load.sh [--m 20000] [--c 10] [--lines 1000000]
# Root: a private network namespace (loopback only); Postfix's smtp-source
# and smtp-sink from ../shared/bench/setup.sh drive the load. Nothing is
# asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
M=20000 C=10 LINES=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --m) M=$2; shift 2 ;;
    --c) C=$2; shift 2 ;;
    --lines) LINES=$2; shift 2 ;;
    *) sed -n 2,10p "$0"; exit 2 ;;
  esac
done
if [ "${MTABENCH_IN_NETNS:-}" != 1 ]; then
  bench_build
  exec unshare -n -u env MTABENCH_IN_NETNS=1 BENCH="$BENCH" MXGATE_BIN="$MXGATE_BIN" \
    bash -c 'ip link set lo up && hostname gw.bench.test && exec "$0" "$@"' "$0" --m "$M" --c "$C" --lines "$LINES"
fi
PF=${PEERS_ROOT:-$HOME/.cache/mtapeers}/root/postfix/usr/sbin
W=/var/tmp/mtabench/rebuild_load
P=10025 S=10026
rm -rf "$W"; mkdir -p "$W"
SINK=
cleanup() {
  "$HERE/hook.sh" stop "$W" || true
  [ -z "$SINK" ] || kill "$SINK" 2>/dev/null || true
  [ -z "${LOOP:-}" ] || kill "$LOOP" 2>/dev/null || true
}
trap cleanup EXIT
"$PF/smtp-sink" -u nobody -c "127.0.0.1:$S" 256 >/dev/null 2>&1 &
SINK=$!
"$HERE/hook.sh" start "$P" "$S" "$W"
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
# The hook's access table, plus LINES entries that match nothing here.
python3 - "$W/access" "$LINES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "a") as f:
    for i in range(n):
        f.write(f"From:spam{i}@bulk{i % 997}.example REJECT\n")
PY
"$MXGATE_BIN" makemap lmdb "$W/access" < "$W/access"
sleep 2
load() {
  local t0 t1
  t0=$(date +%s.%N)
  "$PF/smtp-source" -s "$C" -m "$M" -l 4096 -f sender@bench.test -t rcpt@example.test \
    -N -M gen.bench.test "127.0.0.1:$P" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$M / ($t1 - $t0):.0f}')"
}
echo "mxgate: $MXGATE_BIN; $(nproc) cores; access table of $(wc -l < "$W/access") lines; $M messages at C=$C per phase"
before=$(load)
echo "accepted without a rebuild: $before msgs/s"
: > "$W/rebuilds"
(
  while :; do
    /usr/bin/time -f "%e s, %M KiB" -a -o "$W/rebuilds" \
      "$MXGATE_BIN" makemap lmdb "$W/access" < "$W/access"
  done
) &
LOOP=$!
during=$(load)
kill "$LOOP" 2>/dev/null || true
wait "$LOOP" 2>/dev/null || true
LOOP=
n=$(grep -c ' s, ' "$W/rebuilds" || true)
echo "accepted while the table was rebuilt: $during msgs/s ($n rebuilds: $(tr '\n' ';' < "$W/rebuilds"))"
python3 -c "print(f'during / before: {$during / $before:.2f}')"
grep -c 'generation' "$W/maillog" | sed 's/^/log lines naming a new generation: /' || true
