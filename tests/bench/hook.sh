#!/bin/bash
# mxgate hook for ../shared/bench/run.sh: start PORT SINKPORT WORKDIR | stop WORKDIR
# Accepts from 127.0.0.0/8, relays example.test to 127.0.0.1:SINKPORT (mailertable
# plus SMTP_MAILER_ARGS), durable spool under WORKDIR. Uses target/release/mxgate
# (built here if missing). MXGATE_BENCH_MC, when set, is one more .mc line
# (tests/bench/milter.sh puts its INPUT_MAIL_FILTER there).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BIN=${MXGATE_BIN:-$TOP/target/release/mxgate}
case "$1" in
start)
  P=$2 S=$3 W=$4
  [ -x "$BIN" ] || (cd "$TOP" && cargo build --release -q)
  mkdir -p "$W/spool"
  printf 'Connect:127\tRELAY\n' > "$W/access"
  printf 'example.test\tsmtp:[127.0.0.1]\n' > "$W/mailertable"
  "$BIN" makemap lmdb "$W/access" < "$W/access"
  "$BIN" makemap lmdb "$W/mailertable" < "$W/mailertable"
  cat > "$W/bench.mc" <<MC
divert(-1)
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`gw.bench.test')dnl
define(\`QUEUE_DIR', \`$W/spool')dnl
define(\`confMXGATE_LOG_FILE', \`$W/maillog')dnl
define(\`confSERVICE_SWITCH_FILE', \`$W/service.switch')dnl
define(\`confHOSTS_FILE', \`$W/hosts')dnl
define(\`ALIAS_FILE', \`$W/aliases')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $S')dnl
define(\`confMIN_FREE_BLOCKS', \`100')dnl
DAEMON_OPTIONS(\`Port=$P, Addr=127.0.0.1, Name=MTA')dnl
FEATURE(\`access_db', \`lmdb -T<TMPF> $W/access')dnl
FEATURE(\`mailertable', \`lmdb $W/mailertable')dnl
FEATURE(\`accept_unresolvable_domains')dnl
${MXGATE_BENCH_MC:-dnl}
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
  printf '127.0.0.1 localhost gen.bench.test\n' > "$W/hosts"
  printf 'hosts files\n' > "$W/service.switch"
  printf 'postmaster: root\n' > "$W/aliases"
  "$BIN" newaliases -C "$W/bench.mc" >/dev/null
  setsid "$BIN" daemon --config "$W/bench.mc" --pidfile "$W/mxgate.pid" </dev/null >/dev/null 2>"$W/daemon.err" &
  for i in $(seq 100); do [ -s "$W/mxgate.pid" ] && break; sleep 0.05; done
  ;;
stop)
  W=$2
  pid=$(tr -dc 0-9 < "$W/mxgate.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  ;;
esac
