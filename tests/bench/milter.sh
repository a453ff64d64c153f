#!/bin/bash
# Relay throughput with one pass-through milter: Postfix and mxgate in one run
# through ../shared/bench/run.sh (same generator, sink, cgroup accounting), both
# filtering every message through the same tests/bench/passthrough_milter.py.
#   tests/bench/milter.sh [--m N] [--c N] [--timeout SECONDS] [--port MILTERPORT] [--peers "postfix mxgate"]
# Defaults: fixed 4 KiB messages, C=10, M=5000, 120 s for the generator, milter on
# 127.0.0.1:10099. Postfix gets the shared main.cf plus smtpd_milters =
# inet:127.0.0.1:PORT, milter_default_action = tempfail, milter_protocol = 6;
# mxgate gets INPUT_MAIL_FILTER(`pass', `S=inet:PORT@127.0.0.1, F=T').
# Prints per peer: msgs/s (e2e, accepted), the MTA's CPU-s per 1000 messages,
# the milter process's CPU-s per 1000 (apart), how many messages the milter saw
# and how many reached the sink carrying its X-Bench-Milter header; then the
# mxgate/Postfix ratios. A peer whose counts fall short of M is marked FAILED
# and the script exits 1. Needs root (network namespace, cgroups) and
# python3-milter.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
M=5000 C=10 TIMEOUT=120 PORT=10099 PEERS="postfix mxgate"
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --m) M=$2; shift 2 ;;
    --c) C=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    *) sed -n 2,15p "$0"; exit 2 ;;
  esac
done
PY=/usr/bin/python3 # Debian's python, where python3-milter lives
"$PY" -c 'import Milter' 2>/dev/null || { echo "milter.sh: needs python3-milter (apt-get install python3-milter)" >&2; exit 1; }

# The milter must be on the same loopback as both MTAs, so the whole script
# runs in the network namespace that run.sh would otherwise make per call.
if [ "${MTABENCH_IN_NETNS:-}" != 1 ]; then
  bench_build
  exec unshare -n -u env MTABENCH_IN_NETNS=1 \
    bash -c 'ip link set lo up && hostname gw.bench.test && exec "$0" "$@"' "$0" "${ARGS[@]}"
fi

WORK=$(mktemp -d /tmp/mxgate-milterbench.XXXXXX)
DUMPS=$(mktemp -d /dev/shm/mxgate-milterbench.XXXXXX) # the sink's copy of each message
chmod 1777 "$DUMPS"                                   # smtp-sink -u nobody writes it
trap 'rm -rf "$DUMPS"' EXIT

# The shared sink, also appending every message it gets to $BENCH_SINK_DUMP.
REAL_SINK=${SMTP_SINK:-${PEERS_ROOT:-$HOME/.cache/mtapeers}/root/postfix/usr/sbin/smtp-sink}
printf '#!/bin/sh\nexec %q -D "$BENCH_SINK_DUMP" "$@"\n' "$REAL_SINK" > "$WORK/sink.sh"
chmod +x "$WORK/sink.sh"
export SMTP_SINK=$WORK/sink.sh

# Postfix: the shared hook and master.cf, the shared main.cf plus the milter.
mkdir "$WORK/postfix-milter"
ln -s "$BENCH/postfix/hook.sh" "$BENCH/postfix/master.cf" "$WORK/postfix-milter/"
{
  cat "$BENCH/postfix/main.cf"
  echo "# tests/bench/milter.sh: one pass-through milter"
  echo "smtpd_milters = inet:127.0.0.1:$PORT"
  echo "milter_default_action = tempfail"
  echo "milter_protocol = 6"
} > "$WORK/postfix-milter/main.cf"
export MXGATE_BENCH_MC="INPUT_MAIL_FILTER(\`pass', \`S=inet:$PORT@127.0.0.1, F=T')dnl"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run_peer PEER: a fresh milter, one run.sh run, the milter's and the sink's counts.
run_peer() {
  local peer=$1 dir=$1 mpid cpu0 cpu1
  [ "$peer" = postfix ] && dir=$WORK/postfix-milter
  "$PY" "$HERE/passthrough_milter.py" "$PORT" > "$WORK/$peer.milter" 2>&1 &
  mpid=$!
  for _ in $(seq 100); do
    ss -Htln "sport = :$PORT" | grep -q . && break
    sleep 0.1
  done
  cpu0=$(cpu_ticks "$mpid")
  BENCH_SINK_DUMP=$DUMPS/$peer bench_run "$dir" fixed4k "$C" "$M" 1 "$TIMEOUT" "$WORK/$peer.jsonl"
  cpu1=$(cpu_ticks "$mpid")
  kill -TERM "$mpid"
  wait "$mpid" || true # libmilter returns from its loop, then the counts are printed
  {
    echo "milter_cpu_s=$(awk -v d=$((cpu1 - cpu0)) -v t="$(getconf CLK_TCK)" 'BEGIN { print d / t }')"
    tail -n 1 "$WORK/$peer.milter" | tr ' ' '\n' | sed 's/^/milter_/'
    echo "sink_msgs=$(grep -c '^X-Client-Addr: ' "$DUMPS/$peer" 2>/dev/null || true)"
    echo "sink_hdr=$(grep -c '^X-Bench-Milter: pass' "$DUMPS/$peer" 2>/dev/null || true)"
  } > "$WORK/$peer.counts"
  rm -f "$DUMPS/$peer"
}

for peer in $PEERS; do
  run_peer "$peer"
done

echo
echo "tests/bench/milter.sh ${ARGS[*]} ($(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)); raw records in $WORK"
"$PY" - "$WORK" "$M" $PEERS <<'PY'
import json, sys
work, m, peers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows, failed = {}, False
print()
print("| peer | C | M | e2e msgs/s | accept msgs/s | MTA CPU-s /1000 msgs | milter CPU-s /1000 msgs | milter saw | body bytes/msg at the milter | at the sink with the header | machine busy % |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for peer in peers:
    try:
        rec = [json.loads(l) for l in open(f"{work}/{peer}.jsonl")][-1]
    except (OSError, IndexError, ValueError):
        rec = {}
    cnt = dict(l.strip().split("=", 1) for l in open(f"{work}/{peer}.counts") if "=" in l)
    saw = int(cnt.get("milter_messages", 0) or 0)
    body = int(cnt.get("milter_body_bytes", 0) or 0)
    hdr = int(cnt.get("sink_hdr", 0) or 0)
    mcpu = float(cnt.get("milter_cpu_s", 0) or 0) / m * 1000
    ok = bool(rec.get("ok")) and saw >= m and hdr >= m
    failed |= not ok
    rows[peer] = dict(rec, milter_cpu_1k=mcpu)
    print(f"| {peer}{'' if ok else ' **FAILED** ' + str(rec.get('error', rec.get('sink_last', '')))[:80]} | {rec.get('C', '-')} | {m} "
          f"| {rec.get('e2e_mps')} | {rec.get('acc_mps')} | {rec.get('cpu_s_per_1k')} | {mcpu:.3f} "
          f"| {saw} | {body // max(saw, 1)} | {hdr} of {cnt.get('sink_msgs', 0)} | {rec.get('sys_busy_pct')} |")
p, x = rows.get("postfix"), rows.get("mxgate")
if p and x:
    def ratio(k):
        try:
            return f"{x[k] / p[k]:.2f}x"
        except (KeyError, TypeError, ZeroDivisionError):
            return "-"
    print()
    print(f"mxgate/Postfix: e2e {ratio('e2e_mps')}, accepted {ratio('acc_mps')}, "
          f"MTA CPU per message {ratio('cpu_s_per_1k')}, milter CPU per message {ratio('milter_cpu_1k')}")
sys.exit(1 if failed else 0)
PY
