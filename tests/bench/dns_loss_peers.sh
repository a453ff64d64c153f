#!/bin/bash
# DNS that loses packets, mxgate beside Postfix in one run (issue 16).
# A loopback DNS server (tests/support/dropdns.py on 127.0.0.1:53) answers
# every question, then drops one in 50 (2%); each peer checks every
# sender's domain in DNS (mxgate: its sender check; Postfix:
# reject_unknown_sender_domain), and with a connection per message also
# asks a DNSBL that lists nobody (FEATURE(dnsbl) / reject_rbl_client).
# Every message has a sender domain never asked before (smtp_load.py).
#   tests/bench/dns_loss_peers.sh [--clients 8] [--seconds 10] [--peers "postfix mxgate"]
# Prints msgs/s per peer, loss against no loss, and mxgate against Postfix.
# Root: private network, mount and UTS namespaces (loopback only; the
# namespace's /etc/resolv.conf names 127.0.0.1 with the C library's default
# timeout and attempts, as a Postfix host has). Postfix from
# ../shared/bench/setup.sh; nothing is delivered (Postfix: defer_transports,
# mxgate: queue runner off). Nothing is asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
CLIENTS=8 SECS=10 PEERS="postfix mxgate"
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    *) sed -n 2,15p "$0"; exit 2 ;;
  esac
done
if [ "${MTABENCH_IN_NETNS:-}" != 1 ]; then
  bench_build
  exec unshare -n -m -u env MTABENCH_IN_NETNS=1 BENCH="$BENCH" MXGATE_BIN="$MXGATE_BIN" \
    bash -c 'ip link set lo up && hostname gw.bench.test && mount --make-rprivate / && exec "$0" "$@"' \
    "$0" --clients "$CLIENTS" --seconds "$SECS" --peers "$PEERS"
fi
BIN=$MXGATE_BIN
W=/var/tmp/mtabench/dns_loss_peers
P=10025 S=10026
rm -rf "$W"; mkdir -p "$W"
printf 'nameserver 127.0.0.1\n' > "$W/resolv.conf"
mount --bind "$W/resolv.conf" /etc/resolv.conf
DNSPID=
# Postfix: the shared bench's files plus the DNS checks, deliveries held.
mkdir -p "$W/postfix-peer"
cp "$BENCH/postfix/hook.sh" "$BENCH/postfix/master.cf" "$W/postfix-peer/"
pf_conf() {
  cp "$BENCH/postfix/main.cf" "$W/postfix-peer/main.cf"
  {
    echo "smtpd_sender_restrictions = reject_unknown_sender_domain"
    echo "defer_transports = smtp"
    [ "$1" = - ] || echo "smtpd_client_restrictions = reject_rbl_client bl.bench.test"
  } >> "$W/postfix-peer/main.cf"
}
mx_start() {
  local mode=$1 d=$W/mx
  rm -rf "$d"; mkdir -p "$d/spool"
  printf 'Connect:127\tRELAY\n' > "$d/access"
  "$BIN" makemap lmdb "$d/access" < "$d/access"
  printf '127.0.0.1 localhost\n' > "$d/hosts"
  printf 'hosts files dns\n' > "$d/service.switch"
  printf 'postmaster: root\n' > "$d/aliases"
  local dnsbl=
  [ "$mode" = - ] || dnsbl="FEATURE(\`dnsbl', \`bl.bench.test')dnl"
  cat > "$d/bench.mc" <<MC
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`gw.bench.test')dnl
define(\`QUEUE_DIR', \`$d/spool')dnl
define(\`confMXGATE_LOG_FILE', \`$d/maillog')dnl
define(\`confSERVICE_SWITCH_FILE', \`$d/service.switch')dnl
define(\`confHOSTS_FILE', \`$d/hosts')dnl
define(\`ALIAS_FILE', \`$d/aliases')dnl
define(\`confMXGATE_QUEUE_INTERVAL', \`0')dnl
define(\`confMXGATE_NAMESERVERS', \`127.0.0.1:53')dnl
define(\`confMXGATE_MAX_NONMAIL_COMMANDS', \`0')dnl
DAEMON_OPTIONS(\`Port=$P, Addr=127.0.0.1, Name=MTA')dnl
FEATURE(\`access_db', \`lmdb $d/access')dnl
$dnsbl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
  "$BIN" newaliases -C "$d/bench.mc" >/dev/null
  "$BIN" daemon --config "$d/bench.mc" --pidfile "$d/mxgate.pid" </dev/null >/dev/null 2>"$d/daemon.err" &
  for i in $(seq 200); do [ -s "$d/mxgate.pid" ] && break; sleep 0.05; done
}
mx_stop() {
  kill -TERM "$(cat "$W/mx/mxgate.pid" 2>/dev/null)" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$(cat "$W/mx/mxgate.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
}
dns_stop() {
  [ -z "$DNSPID" ] || kill -TERM "$DNSPID" 2>/dev/null || true
  DNSPID=
}
trap 'mx_stop; "$W/postfix-peer/hook.sh" stop "$W/pf" >/dev/null 2>&1 || true; dns_stop' EXIT
declare -A RATE
echo "mxgate: $BIN; $(nproc) cores; $CLIENTS clients, ${SECS}s per run"
for mode in - --reconnect; do
  for every in 0 50; do
    for peer in $PEERS; do
      python3 "$TOP/tests/support/dropdns.py" --quiet --port 53 --drop-every "$every" \
        --nx-zone bl.bench.test > "$W/dns.out" &
      DNSPID=$!
      for i in $(seq 100); do [ -s "$W/dns.out" ] && break; sleep 0.05; done
      if [ "$peer" = mxgate ]; then
        mx_start "$mode"
      else
        pf_conf "$mode"
        rm -rf "$W/pf"; mkdir -p "$W/pf"
        "$W/postfix-peer/hook.sh" start "$P" "$S" "$W/pf" >/dev/null
      fi
      for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
      sleep 1
      out=$(python3 "$HERE/smtp_load.py" --port "$P" --clients "$CLIENTS" --seconds "$SECS" \
        $( [ "$mode" = - ] || echo --reconnect ))
      rate=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
      RATE[$peer,$mode,$every]=$rate
      label=$([ "$mode" = - ] && echo "persistent connections" || echo "a connection per message, DNSBL")
      drop=$([ "$every" = 0 ] && echo "0%" || echo "$((100 / every))%")
      echo "$peer, $label, drop $drop: $out"
      if [ "$peer" = mxgate ]; then mx_stop; else "$W/postfix-peer/hook.sh" stop "$W/pf" >/dev/null 2>&1 || true; fi
      dns_stop
      sleep 0.5
    done
  done
done
echo
echo "| run | peer | no loss msgs/s | 2% loss msgs/s | 2% / none |"
echo "|---|---|---|---|---|"
for mode in - --reconnect; do
  label=$([ "$mode" = - ] && echo "persistent connections" || echo "a connection per message, DNSBL")
  for peer in $PEERS; do
    a=${RATE[$peer,$mode,0]:-0} b=${RATE[$peer,$mode,50]:-0}
    python3 -c "a,b=float('$a' or 0),float('$b' or 0); print(f'| $label | $peer | {a:.0f} | {b:.0f} | {b/a if a else 0:.2f} |')"
  done
  if [[ " $PEERS " == *" postfix "* && " $PEERS " == *" mxgate "* ]]; then
    m=${RATE[mxgate,$mode,50]:-0} p=${RATE[postfix,$mode,50]:-0}
    python3 -c "m,p=float('$m' or 0),float('$p' or 0); print(f'| $label | mxgate / Postfix at 2% loss | | | {m/p if p else 0:.2f}x |')"
  fi
done
