#!/bin/bash
# Acceptance with a lossy DNS server: prints msgs/s and MAIL latency with a
# loopback DNS server (tests/support/dropdns.py) that answers every query,
# then one that drops 2% of them (one in 50).
#
#   tests/bench/dns_loss.sh [CLIENTS] [SECONDS]
#
# Every message has a new sender domain, so each costs one DNS question.
# Then the same with a connection per message and FEATURE(dnsbl) on a zone
# that lists nobody (NXDOMAIN): each connection also asks the DNSBL name
# of 127.0.0.1 — the same question for every session, answered negatively.
# Binary: $MXGATE_BIN, else the release build, else the debug build under
# $CARGO_TARGET_DIR (or target/). Needs python3. Port $PORT_BASE (17125).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
T=${CARGO_TARGET_DIR:-$TOP/target}
BIN=${MXGATE_BIN:-}
[ -n "$BIN" ] || { [ -x "$T/release/mxgate" ] && BIN=$T/release/mxgate; } || BIN=$T/debug/mxgate
[ -x "$BIN" ] || { echo "no mxgate binary at $BIN (cargo build first)" >&2; exit 1; }
CLIENTS=${1:-8}
SECONDS_=${2:-10}
P=${PORT_BASE:-17125}
W=$(mktemp -d)
DNSPID=
stop() {
  kill -TERM "$(cat "$W/mxgate.pid" 2>/dev/null)" 2>/dev/null || true
  [ -z "$DNSPID" ] || kill -TERM "$DNSPID" 2>/dev/null || true
  sleep 0.3
}
trap 'stop; rm -rf "$W"' EXIT
echo "mxgate: $BIN; $(nproc) cores; $CLIENTS clients, ${SECONDS_}s each run"
for run in "0 -" "50 -" "0 --reconnect" "50 --reconnect"; do
  every=${run% *} mode=${run#* }
  rm -rf "$W/spool" "$W/mxgate.pid"
  mkdir -p "$W/spool"
  python3 "$TOP/tests/support/dropdns.py" --quiet --drop-every "$every" --nx-zone bl.bench.test > "$W/dns.out" &
  DNSPID=$!
  for i in $(seq 100); do [ -s "$W/dns.out" ] && break; sleep 0.05; done
  DNSPORT=$(awk '/^port/ {print $2}' "$W/dns.out")
  printf 'Connect:127\tRELAY\n' > "$W/access"
  "$BIN" makemap lmdb "$W/access" < "$W/access"
  printf '127.0.0.1 localhost\n' > "$W/hosts"
  printf 'hosts files dns\n' > "$W/service.switch"
  printf 'postmaster: root\n' > "$W/aliases"
  DNSBL_LINE=
  [ "$mode" = - ] || DNSBL_LINE="FEATURE(\`dnsbl', \`bl.bench.test')dnl"
  cat > "$W/bench.mc" <<MC
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`gw.bench.test')dnl
define(\`QUEUE_DIR', \`$W/spool')dnl
define(\`confMXGATE_LOG_FILE', \`$W/maillog')dnl
define(\`confSERVICE_SWITCH_FILE', \`$W/service.switch')dnl
define(\`confHOSTS_FILE', \`$W/hosts')dnl
define(\`ALIAS_FILE', \`$W/aliases')dnl
define(\`confMXGATE_QUEUE_INTERVAL', \`0')dnl
define(\`confMXGATE_NAMESERVERS', \`127.0.0.1:$DNSPORT')dnl
define(\`confMXGATE_MAX_NONMAIL_COMMANDS', \`0')dnl
DAEMON_OPTIONS(\`Port=$P, Addr=127.0.0.1, Name=MTA')dnl
FEATURE(\`access_db', \`lmdb $W/access')dnl
$DNSBL_LINE
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
  "$BIN" newaliases -C "$W/bench.mc" >/dev/null
  "$BIN" daemon --config "$W/bench.mc" --pidfile "$W/mxgate.pid" </dev/null >/dev/null 2>"$W/daemon.err" &
  for i in $(seq 200); do [ -s "$W/mxgate.pid" ] && break; sleep 0.05; done
  sleep 0.5
  if [ "$every" = 0 ]; then printf 'drop=0%%   '; else printf 'drop=%s%% ' "$((100 / every))"; fi
  python3 "$HERE/smtp_load.py" --port "$P" --clients "$CLIENTS" --seconds "$SECONDS_" $( [ "$mode" = - ] || echo --reconnect )
  stop
  DNSPID=
done
