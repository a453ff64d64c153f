# lib.sh -- building blocks of the end-to-end harness (sourced by tests/e2e/run).
#
# Contract: every function here acts only inside the namespaces named
# "$NSP-<host>" that this run created, and on files under $W (the run's work
# directory) and /etc/netns/$NSP-<host>/ (removed at teardown).  Nothing gets a
# route to the machine's own network: the namespaces hold only loopback and one
# veth each, plugged into a bridge that lives in its own "switch" namespace.
# Addresses come only from the documentation ranges 192.0.2.0/24 (inside),
# 198.51.100.0/24 (outside) and 2001:db8::/32.

# ---------------------------------------------------------------- hosts
# name  IPv4  IPv6   (the DNS names are in the zones below)
HOSTS_TABLE="
dns      198.51.100.53 2001:db8:100::53
sender   198.51.100.10 2001:db8:100::10
outside  198.51.100.20 2001:db8:100::20
gateway  192.0.2.10    2001:db8:2::10
gateway2 192.0.2.11    2001:db8:2::11
fb       192.0.2.12    2001:db8:2::12
distin   192.0.2.20    2001:db8:2::20
mbox1    192.0.2.31    2001:db8:2::31
mbox2    192.0.2.32    2001:db8:2::32
"
# A second address on sender: the client listed in the DNS blocklist.
LISTED_IP=198.51.100.66
DNS_IP=198.51.100.53

host_names() { awk 'NF {print $1}' <<<"$HOSTS_TABLE"; }
ip4() { awk -v h="$1" '$1 == h {print $2}' <<<"$HOSTS_TABLE"; }
ip6() { awk -v h="$1" '$1 == h {print $3}' <<<"$HOSTS_TABLE"; }
ns() { echo "$NSP-$1"; }
# in HOST CMD...: run CMD inside HOST's namespace.  (A daemon whose pid is
# kept is started with `ip netns exec ... &` directly, never through this
# function: `$!` would be the pid of a subshell, not of the daemon.)
inns() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# wait_for SECONDS CMD...: poll CMD every 0.2 s (WAIT_STEP) until it succeeds (bounded).
wait_for() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep "${WAIT_STEP:-0.2}"
  done
  "$@" >/dev/null 2>&1
}

# ---------------------------------------------------------------- prerequisites
PF_ROOT_DEFAULT=${PEERS_ROOT:-${HOME:-/root}/.cache/mtapeers}
need_packages() {
  local need=() p
  for p in iproute2 procps nsd dovecot-core dovecot-lmtpd swaks openssl patchelf file \
           libicu72 libsasl2-2 libnsl2 libpcre2-8-0 libdb5.3 lmdb-utils; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]}"
  local own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the packages' services from starting
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
}

# Postfix is NOT installed as a package (it conflicts with sendmail-bin):
# fetch the .deb with apt-get download, unpack it with dpkg -x into a cache
# and point its binaries' RUNPATH at the unpacked libraries (as
# /work/shared/bench/setup.sh does).
prepare_postfix() {
  PF_ROOT=$PF_ROOT_DEFAULT
  PF=$("$(dirname "${BASH_SOURCE[0]}")/../../tools/postfix-unpack.sh" "$PF_ROOT") || die "cannot unpack postfix"
  getent group postdrop >/dev/null || groupadd --system postdrop
  getent passwd postfix >/dev/null || useradd --system --user-group -M -d /nonexistent -s /usr/sbin/nologin postfix
  "$PF/usr/sbin/postconf" -d mail_version >/dev/null 2>&1 || die "unpacked postfix does not run (missing library?)"
}

# ---------------------------------------------------------------- network
net_up() {
  local sw; sw=$(ns switch)
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  # The bridge only switches frames: no address, no forwarding to anything else.
  ip -n "$sw" link set br0 up
  local h i=0
  for h in $(host_names); do
    i=$((i + 1))
    local n; n=$(ns "$h")
    ip netns add "$n"
    mkdir -p "/etc/netns/$n"
    printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS_IP" > "/etc/netns/$n/resolv.conf"
    printf '127.0.0.1 localhost\n::1 localhost\n' > "/etc/netns/$n/hosts"
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv4.ip_forward=0
    ip -n "$n" link set lo up
    ip link add "e2e$$p$i" type veth peer name "e2e$$h$i"
    ip link set "e2e$$p$i" netns "$sw"
    ip link set "e2e$$h$i" netns "$n"
    ip -n "$sw" link set "e2e$$p$i" master br0 up
    ip -n "$n" link set "e2e$$h$i" name eth0
    ip netns exec "$n" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
    ip -n "$n" link set eth0 up
    local a4 a6; a4=$(ip4 "$h"); a6=$(ip6 "$h")
    case $a4 in 192.0.2.*) ip -n "$n" addr add "$a4/24" dev eth0 ;; *) ip -n "$n" addr add "$a4/24" dev eth0 ;; esac
    ip -n "$n" addr add "$a6/64" dev eth0 nodad
    # The inside and outside networks share the switch: on-link routes, no default route.
    case $a4 in
      192.0.2.*) ip -n "$n" route add 198.51.100.0/24 dev eth0; ip -n "$n" -6 route add 2001:db8:100::/64 dev eth0 ;;
      *)         ip -n "$n" route add 192.0.2.0/24 dev eth0;    ip -n "$n" -6 route add 2001:db8:2::/64 dev eth0 ;;
    esac
  done
  ip -n "$(ns sender)" addr add "$LISTED_IP/24" dev eth0
}

# Every namespace must reach the DNS server and have no default route.
net_check() {
  local h
  for h in $(host_names); do
    if inns "$h" ip route show default | grep -q .; then die "$h has a default route"; fi
    if inns "$h" ip -6 route show default | grep -q .; then die "$h has an IPv6 default route"; fi
  done
  wait_for 10 dns_answers mx example.gr.jp || die "gateway cannot reach the DNS server"
  wait_for 10 dns_answers aaaa mx.example.net mbox1 "$(ip6 dns)" || die "mbox1 cannot reach the DNS server over IPv6"
}

# Kill every process left in our namespaces (all were started by this run),
# delete the namespaces and their /etc/netns files.
net_down() {
  local h n pids
  for h in $(host_names) switch; do
    n=$(ns "$h")
    ip netns list 2>/dev/null | grep -qw "$n" || continue
    pids=$(ip netns pids "$n" 2>/dev/null || true)
    [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  done
  sleep 0.5
  for h in $(host_names) switch; do
    n=$(ns "$h")
    ip netns list 2>/dev/null | grep -qw "$n" || continue
    pids=$(ip netns pids "$n" 2>/dev/null || true)
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
    rm -rf "/etc/netns/$n"
  done
}

# ---------------------------------------------------------------- DNS (nsd)
# ptr_name ADDR: the reverse name of an IPv4 or IPv6 address.
ptr_name() {
  python3 -c 'import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]).reverse_pointer + ".")' "$1"
}

write_zones() {
  local z=$W/dns/zones
  mkdir -p "$z"
  local soa='@ SOA ns.example.net. hostmaster.example.net. 1 60 60 600 30
@ NS ns.example.net.'
  cat > "$z/example.gr.jp" <<ZONE
\$ORIGIN example.gr.jp.
\$TTL 30
$soa
; the organisation: MX 10 the gateway, MX 20 the second gateway
@        MX 10 gateway
@        MX 20 gateway2
sub1     MX 10 gateway
sub1     MX 20 gateway2
sub2     MX 10 gateway
sub2     MX 20 gateway2
gateway  A    $(ip4 gateway)
gateway  AAAA $(ip6 gateway)
gateway2 A    $(ip4 gateway2)
gateway2 AAAA $(ip6 gateway2)
fallback A    $(ip4 fb)
fallback AAAA $(ip6 fb)
dist-in  A    $(ip4 distin)
dist-in  AAAA $(ip6 distin)
mbox1    A    $(ip4 mbox1)
mbox1    AAAA $(ip6 mbox1)
mbox2    A    $(ip4 mbox2)
mbox2    AAAA $(ip6 mbox2)
ZONE
  cat > "$z/example.net" <<ZONE
\$ORIGIN example.net.
\$TTL 30
$soa
ns       A    $DNS_IP
ns       AAAA $(ip6 dns)
; the outside recipient domain, served by Postfix on "outside"
@        MX 10 mx
mx       A    $(ip4 outside)
mx       AAAA $(ip6 outside)
; dual stack: an AAAA nobody answers on, an A that works
dual     MX 10 dual-mx
dual-mx  A    $(ip4 outside)
dual-mx  AAAA 2001:db8:100::99
; the DNS blocklist: $LISTED_IP is listed
$(ptr_name $LISTED_IP | sed 's/\.in-addr\.arpa\.$//').bl A 127.0.0.2
$(ptr_name $LISTED_IP | sed 's/\.in-addr\.arpa\.$//').bl TXT "listed for the e2e test"
ZONE
  cat > "$z/example.com" <<ZONE
\$ORIGIN example.com.
\$TTL 30
$soa
; the outside sender's domain (Postfix on "sender")
@        MX 10 sender
sender   A    $(ip4 sender)
sender   AAAA $(ip6 sender)
cyber    A    $(ip4 sender)
listed   A    $LISTED_IP
ZONE
  cat > "$z/example.org" <<ZONE
\$ORIGIN example.org.
\$TTL 30
$soa
@        MX 10 forged
forged   A    $(ip4 sender)
ZONE
  # late.example: the "broken destination" of scenario 4, absent until the test serves it.
  cat > "$z/late.example" <<ZONE
\$ORIGIN late.example.
\$TTL 30
$soa
@        MX 10 mx.example.net.
ZONE
  # reverse zones (PTR for every host, matching the forward names)
  local names="dns:ns.example.net sender:sender.example.com outside:mx.example.net
gateway:gateway.example.gr.jp gateway2:gateway2.example.gr.jp fb:fallback.example.gr.jp
distin:dist-in.example.gr.jp mbox1:mbox1.example.gr.jp mbox2:mbox2.example.gr.jp"
  {
    printf '$TTL 30\n$ORIGIN 2.0.192.in-addr.arpa.\n%s\n' "$soa"
  } > "$z/2.0.192.in-addr.arpa"
  { printf '$TTL 30\n$ORIGIN 100.51.198.in-addr.arpa.\n%s\n' "$soa"; } > "$z/100.51.198.in-addr.arpa"
  { printf '$TTL 30\n$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.\n%s\n' "$soa"; } > "$z/8.b.d.0.1.0.0.2.ip6.arpa"
  local pair h name
  for pair in $names; do
    h=${pair%%:*}; name=${pair#*:}
    local r4; r4=$(ptr_name "$(ip4 "$h")")
    case $r4 in *2.0.192.in-addr.arpa.) echo "$r4 PTR $name." >> "$z/2.0.192.in-addr.arpa" ;;
                *) echo "$r4 PTR $name." >> "$z/100.51.198.in-addr.arpa" ;; esac
    echo "$(ptr_name "$(ip6 "$h")") PTR $name." >> "$z/8.b.d.0.1.0.0.2.ip6.arpa"
  done
  echo "$(ptr_name $LISTED_IP) PTR listed.example.com." >> "$z/100.51.198.in-addr.arpa"
}

# nsd_conf ZONE...: write nsd.conf serving the given zones.
nsd_conf() {
  local c=$W/dns/nsd.conf zone
  cat > "$c" <<CONF
server:
  ip-address: $DNS_IP
  ip-address: $(ip6 dns)
  port: 53
  username: ""
  chroot: ""
  zonesdir: "$W/dns/zones"
  database: ""
  zonelistfile: "$W/dns/zone.list"
  xfrdfile: "$W/dns/xfrd.state"
  pidfile: "$W/dns/nsd.pid"
  logfile: "$W/dns/nsd.log"
  server-count: 1
  verbosity: 1
  # no response rate limiting (on by default, 200 qps per client): it drops
  # answers to the gateway during the burst
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
CONF
  for zone in "$@"; do
    printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "$zone" "$zone" >> "$c"
  done
}

DNS_ZONES="example.gr.jp example.net example.com example.org 2.0.192.in-addr.arpa 100.51.198.in-addr.arpa 8.b.d.0.1.0.0.2.ip6.arpa"

# dns_start [EXTRA ZONE...]: (re)start nsd serving the standard zones plus EXTRA.
dns_start() {
  dns_stop
  nsd_conf $DNS_ZONES "$@"
  rm -f "$W/dns/zone.list"
  nsd-checkconf "$W/dns/nsd.conf" || die "nsd.conf"
  ip netns exec "$(ns dns)" nsd -c "$W/dns/nsd.conf" -d >>"$W/dns/nsd.out" 2>&1 &
  echo $! > "$W/dns/nsd.run"
  wait_for 10 dns_answers mx example.gr.jp || die "nsd does not answer: $(tail -5 "$W/dns/nsd.log" "$W/dns/nsd.out" 2>/dev/null)"
}
dns_stop() {
  [ -f "$W/dns/nsd.run" ] || return 0
  local pid; pid=$(cat "$W/dns/nsd.run")
  kill -TERM "$pid" 2>/dev/null || true
  wait_for 5 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$W/dns/nsd.run"
}
# dns_answers TYPE NAME [FROM-HOST [SERVER]]: the DNS server has an answer
# (queried from FROM-HOST, default gateway).
dns_answers() {
  inns "${3:-gateway}" python3 - "$1" "$2" "${4:-$DNS_IP}" <<'PY'
import socket, struct, sys, random
qtype = {"a": 1, "mx": 15, "aaaa": 28}[sys.argv[1]]
name, server = sys.argv[2], sys.argv[3]
qid = random.randint(0, 65535)
q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", qtype, 1)
s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.sendto(q, (server, 53)); r = s.recv(4096)
rcode, ancount = r[3] & 15, struct.unpack(">H", r[6:8])[0]
sys.exit(0 if rcode == 0 and ancount > 0 else 1)
PY
}

# ---------------------------------------------------------------- Postfix peers
# postfix_start HOST MYHOSTNAME MAILDOMAINS MYNETWORKS
postfix_start() {
  local h=$1 name=$2 domains=$3 nets=$4 d=$W/$1
  mkdir -p "$d/etc" "$d/spool" "$d/data" "$d/mail"
  chown postfix "$d/data"; chown 65534:65534 "$d/mail"
  cat > "$d/etc/main.cf" <<CF
# Postfix on $h ($name): an outside MTA.  Mail for $domains lands in one
# Maildir, $d/mail/inbox/.
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
daemon_directory = $PF/usr/lib/postfix/sbin
command_directory = $PF/usr/sbin
shlib_directory = $PF/usr/lib/postfix
meta_directory = $PF/etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = $name
mydomain = ${name#*.}
myorigin = \$mydomain
inet_interfaces = all
inet_protocols = all
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = $nets
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = $domains
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_connect_timeout = 5s
minimal_backoff_time = 3s
maximal_backoff_time = 6s
queue_run_delay = 3s
default_destination_concurrency_limit = 20
smtp_destination_concurrency_limit = 20
message_size_limit = 52428800
virtual_mailbox_limit = 0
biff = no
maillog_file_prefixes = $W
maillog_file = $d/maillog
CF
  sed -e 's#^@LISTEN@ .*#smtp      inet  n       -       n       -       -       smtpd#' \
    /dev/stdin > "$d/etc/master.cf" <<'MASTER'
@LISTEN@      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
  : > "$d/maillog"
  inns "$h" "$PF/usr/sbin/postfix" -c "$d/etc" check > "$d/check.log" 2>&1 || die "postfix check on $h: $(cat "$d/check.log")"
  inns "$h" "$PF/usr/sbin/postfix" -c "$d/etc" start > "$d/start.log" 2>&1 || die "postfix start on $h: $(cat "$d/start.log")"
  wait_for 10 inns "$h" bash -c "exec 3<>/dev/tcp/127.0.0.1/25" || die "postfix on $h does not listen"
}
postfix_stop() {
  inns "$1" "$PF/usr/sbin/postfix" -c "$W/$1/etc" stop >/dev/null 2>&1 || true
}
# postfix_flush HOST: attempt delivery of everything deferred now.
postfix_flush() { inns "$1" "$PF/usr/sbin/postqueue" -c "$W/$1/etc" -f >/dev/null 2>&1 || true; }
# postfix_queue HOST: number of messages in the Postfix queue.
postfix_queue() { find "$W/$1/spool/incoming" "$W/$1/spool/active" "$W/$1/spool/deferred" "$W/$1/spool/maildrop" -type f 2>/dev/null | wc -l; }
# inbox HOST: the files delivered to HOST's Postfix Maildir.
inbox_files() { find "$W/$1/mail/inbox/new" "$W/$1/mail/inbox/cur" -type f 2>/dev/null; }

# ---------------------------------------------------------------- Dovecot (mbox2's LMTP)
dovecot_start() {
  local d=$W/mbox2/dovecot
  mkdir -p "$d/run" "$d/state" "$d/mail"
  chmod 1777 "$d/mail"
  : > "$d/users"
  local u
  for u in dave erin mallory list1; do
    echo "$u:{PLAIN}secret:65534:65534::$d/mail/$u::" >> "$d/users"
  done
  cat > "$d/dovecot.conf" <<CONF
# Dovecot on mbox2: LMTP only, users from a passwd-file, Maildir.
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = lmtp
listen = $(ip4 mbox2)
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = passwd-file
  args = $d/users
}
service lmtp {
  inet_listener lmtp {
    address = $(ip4 mbox2)
    port = 24
  }
  unix_listener lmtp {
    mode = 0666
  }
}
CONF
  ip netns exec "$(ns mbox2)" dovecot -c "$d/dovecot.conf" -F >>"$d/dovecot.out" 2>&1 &
  echo $! > "$d/dovecot.run"
  wait_for 15 inns mbox2 bash -c "exec 3<>/dev/tcp/$(ip4 mbox2)/24" || die "dovecot LMTP does not listen: $(tail -5 "$d/dovecot.log" "$d/dovecot.out" 2>/dev/null)"
}
# dovecot_maildir USER: the new-mail directory of USER on mbox2.
dovecot_new() { find "$W/mbox2/dovecot/mail/$1/Maildir/new" "$W/mbox2/dovecot/mail/$1/Maildir/cur" -type f 2>/dev/null; }

# ---------------------------------------------------------------- mxgate hosts
# Which cf/ configuration each mxgate host runs, and its name.
mx_role() {
  case $1 in
    gateway)  echo "gateway gateway.mc gateway.example.gr.jp" ;;
    gateway2) echo "gateway gateway.mc gateway2.example.gr.jp" ;;
    fb)       echo "gateway gateway.mc fallback.example.gr.jp" ;;
    distin)   echo "dist-in distribution.mc dist-in.example.gr.jp" ;;
    mbox1)    echo "mbox mailserver.mc mbox1.example.gr.jp" ;;
    mbox2)    echo "mbox mailserver.mc mbox2.example.gr.jp" ;;
  esac
}
MX_HOSTS="gateway gateway2 fb distin mbox1 mbox2"

# mx_prepare HOST: copy the host's cf/ directory to $W/HOST/cf (CFDIR) and
# adapt it to this network.  The adaptations are addresses only:
#  * every host: the .mc's own name (gateway2/fallback/mbox2 reuse a config);
#  * every host: an IPv6 listener on the host's address;
#  * fb: no fallback MX pointing at itself;
#  * mbox2: sub2.example.gr.jp instead of sub1 (and not the bare domain,
#    which the hub routes to mbox1), its own users; its -D DOVECOT_LMTP
#    (mx_defines) selects mailserver.mc's LMTP delivery to Dovecot;
#  * mbox1/mbox2 aliases: list paths point at the copy; the staff list has
#    members on both mailbox servers and one that does not exist.
mx_prepare() {
  local h=$1 d=$W/$1
  read -r dir mc name <<<"$(mx_role "$h")"
  mkdir -p "$d/cf" "$d/spool"
  cp -r "$REPO/cf/$dir/." "$d/cf/"
  # The cf/ files run as confRUN_AS_USER mxgate: created (once) and given the
  # spool by the same step an administrator runs; mbox1's Maildirs are its.
  "$REPO/tools/adduser.sh" mxgate "$d/spool" > "$d/adduser.log" 2>&1 || die "adduser.sh $h: $(cat "$d/adduser.log")"
  if [ "$h" = mbox1 ]; then install -d -o mxgate -m 0750 "$d/mail"; fi
  local m=$d/cf/host.mc
  sed -e "s/define(\`confDOMAIN_NAME', \`[^']*')/define(\`confDOMAIN_NAME', \`$name')/" "$d/cf/$mc" > "$m"
  # every mxgate host also listens on its IPv6 address (the zone has AAAA records)
  sed -i "s/^DAEMON_OPTIONS(\`Port=smtp, Name=MTA')dnl\$/&\nDAEMON_OPTIONS(\`Port=smtp, Addr=$(ip6 "$h"), Family=inet6, Name=MTA6')dnl/" "$m"
  grep -q "Name=MTA6" "$m" || die "$h: no DAEMON_OPTIONS(\`Port=smtp, Name=MTA') line in $mc to add the IPv6 listener to"
  [ "$h" = fb ] && sed -i "/confFALLBACK_MX/d" "$m"
  if [ "$h" = mbox2 ]; then
    sed -i -e 's/mbox1/mbox2/g; s/sub1/sub2/g' "$m"
    # only mbox1 takes the bare domain (the hub routes example.gr.jp there)
    sed -i "s/^LOCAL_DOMAIN(\`sub2.example.gr.jp example.gr.jp')dnl\$/LOCAL_DOMAIN(\`sub2.example.gr.jp')dnl/" "$m"
    grep -q "^LOCAL_DOMAIN(\`sub2.example.gr.jp')" "$m" || die "mbox2: LOCAL_DOMAIN line not adapted"
    printf '# mailboxes -- the users of sub2.example.gr.jp (e2e)\ndave\t\tOK\nerin\t\tOK\nlist1\t\tOK\nmallory\t\tDISABLED\n' > "$d/cf/mailboxes"
  fi
  if [ "$dir" = mbox ]; then
    sed -i "s#/etc/mail/#$d/cf/#g" "$d/cf/aliases"
    printf 'alice\nbob\ndave@sub2.example.gr.jp\nghost@sub2.example.gr.jp\n' > "$d/cf/lists/staff"
  fi
  local t
  for t in access mailertable mailboxes; do
    [ -f "$d/cf/$t" ] || continue
    "$MXGATE" makemap hash "$d/cf/$t" < "$d/cf/$t" > "$d/makemap.log" 2>&1 || die "makemap $h $t: $(cat "$d/makemap.log")"
  done
  MX_DEFINES_EXTRA=()
  mx_defines "$h" > /dev/null
  "$MXGATE" newaliases -C "$m" "${MX_ARGS[@]}" > "$d/newaliases.log" 2>&1 || die "newaliases $h: $(cat "$d/newaliases.log")"
  "$MXGATE" compile "${MX_ARGS[@]}" "$m" -o "$d/host.cf" > "$d/compile.log" 2>&1 || die "compile $h: $(cat "$d/compile.log")"
}

# mx_defines HOST: set MX_ARGS to the -D arguments for HOST (paths, DNS server, log).
mx_defines() {
  local h=$1 d=$W/$1
  MX_ARGS=(-D "CFDIR=$d/cf" -D "QUEUE_DIR=$d/spool" -D "confMXGATE_NAMESERVERS=$DNS_IP:53"
           -D "confMXGATE_LOG_FILE=$d/maillog" -D "confMXGATE_DNS_TIMEOUT=2s")
  [ "$h" = mbox1 ] && MX_ARGS+=(-D "confMXGATE_MAILDIR=$d/mail/%u/Maildir")
  # mbox2's mailboxes are in Dovecot: mailserver.mc's LMTP switch
  [ "$h" = mbox2 ] && MX_ARGS+=(-D "DOVECOT_LMTP=$d/dovecot/run/lmtp")
  if [ "$h" = mbox1 ]; then
    MX_ARGS+=(-D "confSERVER_CERT=$d/cert.pem" -D "confSERVER_KEY=$d/key.pem"
              -D "confAUTH_PASSWORD_MAP=lmdb $d/passwd")
  fi
  MX_ARGS+=("${MX_DEFINES_EXTRA[@]}")
}

mx_tls_auth() {  # mbox1: a certificate for the MSA and a password table
  local d=$W/mbox1; mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mbox1.example.gr.jp \
    -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1 || die "openssl"
  printf 'bob {PLAIN}bobsecret\n' > "$d/passwd"
  "$MXGATE" makemap lmdb "$d/passwd" < "$d/passwd" >/dev/null 2>&1 || die "makemap passwd"
}

mx_start() {
  local h=$1 d=$W/$1
  mx_defines "$h"
  local run=(--config "$d/cf/host.mc" "${MX_ARGS[@]}")
  # scenario 9: the host runs an applied bundle (its node file is ROOT/node)
  [ -e "$d/bundle.on" ] && run=(--config "$d/mxroot/current/mxgate.cf")
  ip netns exec "$(ns "$h")" "$MXGATE" daemon "${run[@]}" >>"$d/stderr" 2>&1 &
  echo $! > "$d/daemon.run"
  wait_for 20 inns "$h" bash -c "exec 3<>/dev/tcp/$(ip4 "$h")/25" || die "mxgate on $h did not start: $(tail -5 "$d/stderr")"
  # the port answering could be an old daemon: this one must be alive
  sleep 0.2; kill -0 "$(cat "$d/daemon.run")" 2>/dev/null || die "mxgate on $h exited: $(tail -5 "$d/stderr")"
  # the shipped configurations drop to confRUN_AS_USER after binding port 25
  local user; user=$(ps -o user= -p "$(cat "$d/daemon.run")" | tr -d ' ')
  [ "$user" = mxgate ] || die "mxgate on $h runs as ${user:-?}, not as its confRUN_AS_USER mxgate"
}
mx_stop() {
  local d=$W/$1 pid
  [ -f "$d/daemon.run" ] || return 0
  pid=$(cat "$d/daemon.run")
  kill -TERM "$pid" 2>/dev/null || true
  # a stopping daemon waits up to 60 s for sessions, then for deliveries
  wait_for 130 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$d/daemon.run"
}
mx_kill() {   # SIGKILL: a crash
  local d=$W/$1 pid
  [ -f "$d/daemon.run" ] || return 0
  pid=$(cat "$d/daemon.run"); kill -KILL "$pid" 2>/dev/null || true
  wait_for 5 bash -c "! kill -0 $pid"; rm -f "$d/daemon.run"
}
# mx_queue HOST: messages in HOST's queue/ (waiting for delivery).
mx_queue() { find "$W/$1/spool/queue" -maxdepth 1 -type f 2>/dev/null | wc -l; }
# mx_log HOST: HOST's maillog.
mx_log() { cat "$W/$1/maillog" 2>/dev/null; }
# mx_flush HOST: make everything in HOST's queue due now (sendmail -q).
mx_flush() { "$MXGATE" queue --queue-dir "$W/$1/spool" flush >/dev/null 2>&1 || true; }
# maildir_files USER: what mbox1 delivered to USER.
maildir_files() { find "$W/mbox1/mail/$1/Maildir/new" "$W/mbox1/mail/$1/Maildir/cur" -type f 2>/dev/null; }
# find_msg TEXT FILES...: the first file containing TEXT.
find_msg() { local t=$1; shift; [ $# -gt 0 ] || return 1; grep -lF -- "$t" "$@" 2>/dev/null | head -1 | grep .; }

# swaks_from HOST ARGS...: run swaks inside HOST, output on stdout.
swaks_from() { local h=$1; shift; inns "$h" swaks --timeout 20 "$@" 2>&1; }
