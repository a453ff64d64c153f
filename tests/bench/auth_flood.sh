#!/bin/bash
# AUTH brute force beside a probe: prints the probe's connect->greeting->EHLO
# time with 0 and with 4 clients sending wrong AUTH PLAIN in a loop.
#
#   tests/bench/auth_flood.sh [ROUNDS]
#
# The password entry is SHA512-CRYPT with ROUNDS rounds (default 100000; a
# check costs ~0.1 s in a release build, ~2.5 s in a debug one — pick
# ROUNDS for the binary). Binary: $MXGATE_BIN, else the release build, else
# the debug build under $CARGO_TARGET_DIR (or target/). Needs python3 and
# openssl. Ports 127.0.0.1:$PORT_BASE..+2 (default 17025).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
T=${CARGO_TARGET_DIR:-$TOP/target}
BIN=${MXGATE_BIN:-}
[ -n "$BIN" ] || { [ -x "$T/release/mxgate" ] && BIN=$T/release/mxgate; } || BIN=$T/debug/mxgate
[ -x "$BIN" ] || { echo "no mxgate binary at $BIN (cargo build first)" >&2; exit 1; }
ROUNDS=${1:-100000}
P=${PORT_BASE:-17025}
MTA=$P SMTPS=$((P + 1))
W=$(mktemp -d)
trap 'kill -TERM $(cat "$W/mxgate.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/spool"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gw.bench.test \
  -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
printf 'alice {SHA512-CRYPT}%s\n' "$(openssl passwd -6 -salt "rounds=$ROUNDS\$benchsalt" right-password)" > "$W/passwd"
"$BIN" makemap lmdb "$W/passwd" < "$W/passwd"
printf '127.0.0.1 localhost\n' > "$W/hosts"
printf 'hosts files\n' > "$W/service.switch"
printf 'postmaster: root\n' > "$W/aliases"
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
define(\`confSERVER_CERT', \`$W/cert.pem')dnl
define(\`confSERVER_KEY', \`$W/key.pem')dnl
define(\`confAUTH_PASSWORD_MAP', \`lmdb $W/passwd')dnl
DAEMON_OPTIONS(\`Port=$MTA, Addr=127.0.0.1, Name=MTA')dnl
DAEMON_OPTIONS(\`Port=$SMTPS, Addr=127.0.0.1, Name=SMTPS, M=sa')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
"$BIN" newaliases -C "$W/bench.mc" >/dev/null
"$BIN" daemon --config "$W/bench.mc" --pidfile "$W/mxgate.pid" </dev/null >/dev/null 2>"$W/daemon.err" &
for i in $(seq 200); do [ -s "$W/mxgate.pid" ] && break; sleep 0.05; done
sleep 0.5
echo "mxgate: $BIN; SHA512-CRYPT rounds=$ROUNDS; $(nproc) cores"
python3 "$HERE/auth_flood.py" latency --mta "$MTA" --smtps "$SMTPS" --attackers 0 --probes 10
python3 "$HERE/auth_flood.py" latency --mta "$MTA" --smtps "$SMTPS" --attackers 4 --probes 10 --warmup 3
python3 "$HERE/auth_flood.py" latency --mta "$MTA" --smtps "$SMTPS" --attackers 4 --probes 10 --warmup 3 --spread
grep -c 'possible SMTP attack' "$W/maillog" | sed 's/^/attack lines logged: /'
