# scenarios.sh -- the end-to-end scenarios (sourced by tests/e2e/run).
#
# Contract: each scenario_N function prints what it checked on stderr and
# returns 0 (passed), 1 (failed; the reason was printed with `fail`) or
# 2 (not yet wired: it needs a feature mxgate does not have yet).  Every wait
# is bounded.  Scenarios may leave mail in queues; each one starts by
# checking what it needs and never relies on an earlier scenario's mail.

fail() { log "  FAIL: $*"; return 1; }
ok() { log "  ok: $*"; }

# expect_reply OUTPUT CODE TEXT WHAT: the swaks transcript shows a server reply
# starting with CODE and containing TEXT.
expect_reply() {
  local out=$1 code=$2 text=$3 what=$4
  if grep -E "^(<-|<\*\*) +$code[ -]" <<<"$out" | grep -qF -- "$text"; then
    ok "$what: $code ... $text"
  else
    fail "$what: expected '$code ... $text', got: $(grep -E '^(<-|<\*\*)' <<<"$out" | tail -4 | tr '\n' '|')"
  fi
}

GW=$(ip4 gateway)

# ---------------------------------------------------------------- 3: refusals at the gateway
scenario_3() {
  local rc=0 out q0 q1
  q0=$(mx_queue gateway)
  local disc_before; disc_before=$(mx_log gateway | grep -c 'discarded' || true)

  out=$(swaks_from sender --server "$GW" --from user@example.com --to someone-s3@example.net)
  expect_reply "$out" 550 "5.7.1 <someone-s3@example.net>... Relaying denied" "relaying to an outside domain" || rc=1

  out=$(swaks_from sender --server "$GW" --from spam@example.com --to alice@sub1.example.gr.jp)
  # delay_checks: the sender is judged at RCPT, the reply names the recipient
  expect_reply "$out" 550 "5.7.1 <alice@sub1.example.gr.jp>... Access denied" "access REJECT sender" || rc=1

  out=$(swaks_from sender --server "$GW" --from joe@cyber.example.com --to alice@sub1.example.gr.jp)
  # no "<rcpt>... " prefix: sendmail's fmtmsg (err.c) adds it only to
  # 050/250/252/450/550/553 replies, not to 551
  expect_reply "$out" 551 "5.7.1 Relay denied" "access ERROR:5.7.1:551 sender" || rc=1
  grep -E '^(<-|<\*\*) +551[ -]' <<<"$out" | grep -q '\.\.\. ' && { fail "551 with an address prefix"; rc=1; }

  out=$(swaks_from sender --server "$GW" --from joe@forged.example.org --to alice@sub1.example.gr.jp \
        --header "Subject: e2e discard")
  expect_reply "$out" 250 "" "access DISCARD sender (accepted)" || rc=1
  if wait_for 5 bash -c "[ \$(grep -c discarded '$W/gateway/maillog') -gt $disc_before ]"; then
    ok "DISCARD logged as discarded"
  else fail "DISCARD not logged: $(tail -3 "$W/gateway/maillog")"; rc=1; fi

  # To:bogus_user@ applies to the host's own names ($=w): sendmail's
  # blocklist_recipients looks up U:user@ only for $=w hosts (proto.m4);
  # for sub1.example.gr.jp the D: walk finds To:example.gr.jp RELAY first.
  out=$(swaks_from sender --server "$GW" --from user@example.com --to bogus_user@gateway.example.gr.jp)
  expect_reply "$out" 550 "5.2.1 <bogus_user@gateway.example.gr.jp>... Mailbox disabled for this recipient" "blacklisted recipient" || rc=1

  out=$(swaks_from sender --server "$GW" --local-interface "$LISTED_IP" --from user@example.com --to alice@sub1.example.gr.jp)
  expect_reply "$out" 550 "Rejected: $LISTED_IP listed at bl.example.net" "dnsbl-listed client" || rc=1
  # RFC 2142: postmaster still gets mail from a listed client (delay_checks friend)
  out=$(swaks_from sender --server "$GW" --local-interface "$LISTED_IP" --from user@example.com --to postmaster@sub1.example.gr.jp --quit-after RCPT)
  expect_reply "$out" 250 "" "dnsbl-listed client may still write to postmaster (friend)" || rc=1

  out=$(swaks_from sender --server "$GW" --from user@example.com --to alice@sub1.example.gr.jp \
        --header "Subject: Make Money Fast now")
  expect_reply "$out" 550 "5.7.1" "header rule (Subject: Make Money Fast)" || rc=1

  # oversized: declared with SIZE=, and a body that grows past the limit
  out=$(inns sender python3 - "$GW" <<'PY' 2>&1
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], 25, timeout=20); s.ehlo("sender.example.com")
print("<- %d %s" % s.docmd("MAIL FROM:<user@example.com> SIZE=20000000")); s.quit()
PY
)
  expect_reply "$out" 552 "5.2.3" "oversized (SIZE=20000000 declared)" || rc=1
  head -c 11000000 /dev/zero | tr '\0' 'x' | fold -w 76 > "$W/big.txt"
  out=$(swaks_from sender --server "$GW" --from user@example.com --to alice@sub1.example.gr.jp --body @"$W/big.txt" --hide-send)
  expect_reply "$out" 552 "5.2.3" "oversized (11 MB body, no SIZE)" || rc=1

  # nothing of the above was queued (the DISCARDed message is dropped)
  sleep 0.5
  q1=$(mx_queue gateway)
  if [ "$q1" -le "$q0" ] && ! mx_log gateway | grep -E 'to=<(someone-s3@example.net|bogus_user@)' | grep -q 'stat='; then
    ok "nothing queued or delivered at the gateway (queue $q0 -> $q1)"
  else fail "gateway queue grew $q0 -> $q1"; rc=1; fi
  return $rc
}

# send_py HOST SERVER PORT FROM TO MSGFILE [tls-auth USER PASS]: submit MSGFILE with Python's smtplib.
send_py() {
  inns "$1" python3 - "$@" <<'PY'
import smtplib, sys
_, host, server, port, frm, to, path = sys.argv[:7]
s = smtplib.SMTP(server, int(port), timeout=30); s.ehlo("client.example")
if len(sys.argv) > 7:
    s.starttls(); s.ehlo("client.example"); s.login(sys.argv[8], sys.argv[9])
s.sendmail(frm, to.split(","), open(path, "rb").read()); s.quit()
PY
}
# body_of FILE: the message body (after the first empty line), LF line ends.
body_of() { tr -d '\r' < "$1" | sed '1,/^$/d'; }

# ---------------------------------------------------------------- 1: inbound
scenario_1() {
  local id="e2e-in-$RANDOM.$$@example.com" m=$W/s1.eml
  { printf 'From: Carl <carl@example.com>\r\nTo: alice@sub1.example.gr.jp\r\nSubject: inbound\r\nMessage-ID: <%s>\r\n\r\n' "$id"
    printf 'Line one.\r\n.a line starting with a dot\r\nFrom the start of a line\r\ntrailing spaces   \r\n\ttab\r\n\r\nlast line\r\n'; } > "$m"
  send_py sender 127.0.0.1 25 carl@example.com alice@sub1.example.gr.jp "$m" || { fail "submission to sender's Postfix"; return 1; }
  local f
  wait_for 60 bash -c "grep -lF '$id' \$(find '$W/mbox1/mail/alice/Maildir/new' -type f 2>/dev/null) 2>/dev/null | grep -q ." \
    || { fail "not in alice's Maildir within 60s (queues: gw $(mx_queue gateway) dist-in $(mx_queue distin) mbox1 $(mx_queue mbox1))"; return 1; }
  f=$(find_msg "$id" $(maildir_files alice)); ok "delivered to $f"
  local rc=0 hop
  for hop in "by sender.example.com" "by gateway.example.gr.jp" "by dist-in.example.gr.jp" "by mbox1.example.gr.jp"; do
    grep -q "^Received: .*$hop\|^	$hop\|^ *$hop" <(tr -d '\r' < "$f" | sed '/^$/q') && ok "Received: $hop" || { fail "no Received: header $hop"; rc=1; }
  done
  if diff <(body_of "$m") <(body_of "$f") >/dev/null; then ok "body byte-identical"; else fail "body differs: $(diff <(body_of "$m") <(body_of "$f") | head -5)"; rc=1; fi
  grep -q '^Return-Path: <carl@example.com>' "$f" && ok "Return-Path: <carl@example.com>" || { fail "Return-Path"; rc=1; }
  return $rc
}

# ---------------------------------------------------------------- 2: outbound via the MSA
scenario_2() {
  local rc=0 id="e2e-out-$RANDOM.$$@mbox1.example.gr.jp" idr="e2e-root-$RANDOM.$$@mbox1.example.gr.jp" m=$W/s2.eml r=$W/s2r.eml
  printf 'From: Bob <bob@mbox1.example.gr.jp>\r\nTo: someone@example.net\r\nSubject: outbound\r\nMessage-ID: <%s>\r\n\r\nhello outside\r\n' "$id" > "$m"
  printf 'From: root@mbox1.example.gr.jp\r\nTo: someone@example.net\r\nSubject: outbound root\r\nMessage-ID: <%s>\r\n\r\nroot stays exposed\r\n' "$idr" > "$r"
  # without AUTH the MSA refuses
  local out; out=$(swaks_from mbox1 --server "$(ip4 mbox1)" --port 587 --from bob@mbox1.example.gr.jp --to someone-s3@example.net)
  expect_reply "$out" 530 "5.7.0" "MSA without AUTH" || rc=1
  send_py mbox1 "$(ip4 mbox1)" 587 bob@mbox1.example.gr.jp someone@example.net "$m" tls-auth bob bobsecret || { fail "MSA submission (STARTTLS+AUTH)"; return 1; }
  send_py mbox1 "$(ip4 mbox1)" 587 root@mbox1.example.gr.jp someone@example.net "$r" tls-auth bob bobsecret || { fail "MSA submission as root"; return 1; }
  wait_for 60 bash -c "[ \$(grep -lF -e '$id' -e '$idr' \$(find '$W/outside/mail/inbox/new' -type f 2>/dev/null) 2>/dev/null | wc -l) -ge 2 ]" \
    || { fail "not at the outside Postfix within 60s (queues: mbox1 $(mx_queue mbox1) dist-in $(mx_queue distin) gw $(mx_queue gateway))"; return 1; }
  local f fr; f=$(find_msg "$id" $(inbox_files outside)); fr=$(find_msg "$idr" $(inbox_files outside))
  grep -q '^Return-Path: <bob@example.gr.jp>' "$f" && ok "envelope sender masqueraded: bob@example.gr.jp" || { fail "envelope: $(grep ^Return-Path "$f")"; rc=1; }
  grep -q '^From: Bob <bob@example.gr.jp>' "$f" && ok "From: header masqueraded" || { fail "header: $(grep ^From: "$f")"; rc=1; }
  grep -q '^Return-Path: <root@mbox1.example.gr.jp>' "$fr" && ok "root stays exposed (envelope)" || { fail "root envelope: $(grep ^Return-Path "$fr")"; rc=1; }
  grep -q '^From: root@mbox1.example.gr.jp' "$fr" && ok "root stays exposed (header)" || { fail "root header: $(grep ^From: "$fr")"; rc=1; }
  local hop
  for hop in mbox1.example.gr.jp dist-in.example.gr.jp gateway.example.gr.jp mx.example.net; do
    tr -d '\r' < "$f" | sed '/^$/q' | grep -q "by $hop" && ok "Received: by $hop" || { fail "no Received: by $hop"; rc=1; }
  done
  return $rc
}

# ---------------------------------------------------------------- 5: lists
scenario_5() {
  local rc=0 id="e2e-list-$RANDOM.$$@example.com" m=$W/s5.eml
  printf 'From: carl@example.com\r\nTo: staff@sub1.example.gr.jp\r\nSubject: to the list\r\nMessage-ID: <%s>\r\n\r\nhello staff\r\n' "$id" > "$m"
  local sender_before; sender_before=$(inbox_files sender | wc -l)
  send_py sender 127.0.0.1 25 carl@example.com staff@sub1.example.gr.jp "$m" || { fail "submission"; return 1; }
  local u
  for u in "$W/mbox1/mail/alice" "$W/mbox1/mail/bob" "$W/mbox2/dovecot/mail/dave"; do
    wait_for 60 bash -c "grep -lF '$id' \$(find '$u/Maildir/new' -type f 2>/dev/null) 2>/dev/null | grep -q ." \
      || { fail "no list copy for ${u##*/} within 60s"; return 1; }
  done
  ok "fanned out to alice, bob (mbox1 Maildir) and dave (mbox2, Dovecot LMTP)"
  local f; f=$(find_msg "$id" $(dovecot_new dave))
  grep -qi '^Return-Path: <owner-staff@' "$f" && ok "envelope sender $(grep -i ^Return-Path "$f" | tr -d '\r')" || { fail "dave's envelope sender: $(grep -i ^Return-Path "$f")"; rc=1; }
  # ghost@sub2 fails at mbox2: the bounce goes to owner-staff (-> alice), not to carl
  if wait_for 60 bash -c "grep -l 'ghost@sub2.example.gr.jp' \$(find '$W/mbox1/mail/alice/Maildir/new' -type f) 2>/dev/null | xargs -r grep -l 'delivery-status' | grep -q ."; then
    ok "the failing member's bounce reached owner-staff (alice)"
  else fail "no bounce for ghost@ at owner-staff"; rc=1; fi
  sleep 1
  if [ "$(inbox_files sender | xargs -r grep -l 'ghost@sub2' 2>/dev/null | wc -l)" = 0 ]; then ok "no bounce to the original sender"; else fail "the original sender got a bounce"; rc=1; fi
  return $rc
}

# ---------------------------------------------------------------- 6: bounce through the chain
scenario_6() {
  local rc=0 id="e2e-bounce-$RANDOM.$$@example.com" m=$W/s6.eml
  printf 'From: carl@example.com\r\nTo: nosuchuser@sub2.example.gr.jp\r\nSubject: to nobody\r\nMessage-ID: <%s>\r\n\r\nwho?\r\n' "$id" > "$m"
  send_py sender 127.0.0.1 25 carl@example.com nosuchuser@sub2.example.gr.jp "$m" || { fail "submission"; return 1; }
  if wait_for 90 bash -c "grep -lF '$id' \$(find '$W/sender/mail/inbox/new' -type f 2>/dev/null) 2>/dev/null | xargs -r grep -l 'nosuchuser@sub2.example.gr.jp' | grep -q ."; then
    local f; f=$(grep -lF "$id" $(inbox_files sender) | head -1)
    ok "DSN back at the outside sender ($(grep -m1 '^Status:' "$f" | tr -d '\r'); $(grep -m1 -i '^From:' "$f" | tr -d '\r'))"
    grep -q '^Return-Path: <>' "$f" && ok "DSN envelope sender <>" || { fail "DSN envelope sender: $(grep ^Return-Path "$f")"; rc=1; }
    grep -q 'report-type=delivery-status' "$f" && ok "multipart/report" || { fail "not a DSN"; rc=1; }
  else fail "no DSN at the sender within 90s (queues: gw $(mx_queue gateway) dist-in $(mx_queue distin) mbox2 $(mx_queue mbox2); sender postfix $(postfix_queue sender))"; rc=1; fi
  local out; out=$(swaks_from distin --server "$(ip4 mbox2)" --from carl@example.com --to mallory@sub2.example.gr.jp --quit-after RCPT)
  expect_reply "$out" 550 "5.2.1" "disabled account on mbox2" || rc=1
  out=$(swaks_from distin --server "$(ip4 mbox1)" --from carl@example.com --to mallory@sub1.example.gr.jp --quit-after RCPT)
  expect_reply "$out" 550 "5.2.1" "disabled account on mbox1" || rc=1
  return $rc
}

# ---------------------------------------------------------------- 7: dual stack, dead AAAA
scenario_7() {
  local id="e2e-dual-$RANDOM.$$@example.com" m=$W/s7.eml
  printf 'From: alice@sub1.example.gr.jp\r\nTo: someone@dual.example.net\r\nSubject: dual stack\r\nMessage-ID: <%s>\r\n\r\nv4 please\r\n' "$id" > "$m"
  # straight to the gateway as the hub does (the inside network relays)
  send_py distin "$GW" 25 alice@example.gr.jp someone@dual.example.net "$m" || { fail "submission to the gateway"; return 1; }
  if wait_for 60 bash -c "grep -lF '$id' \$(find '$W/outside/mail/inbox/new' -type f 2>/dev/null) 2>/dev/null | grep -q ."; then
    ok "arrived over IPv4 after the dead AAAA ($(grep -F 'someone@dual.example.net' "$W/gateway/maillog" | grep -o 'relay=[^,]*' | tail -1))"
  else fail "not delivered within 60s; gateway queue $(mx_queue gateway): $(grep -F 'dual.example.net' "$W/gateway/maillog" | tail -2)"; return 1; fi
  wait_for 10 bash -c "[ \$(find '$W/gateway/spool/queue' -type f | xargs -r grep -l '$id' | wc -l) = 0 ]" && ok "nothing stranded in the gateway's queue" || { fail "stranded in the queue"; return 1; }
}

# ---------------------------------------------------------------- 4: availability
# received_by FILE: the hosts named in FILE's Received: "by" clauses, one line.
received_by() { tr -d '\r' < "$1" | sed '/^$/q' | grep -o 'by [a-z0-9.-]*' | awk '{print $2}' | tr '\n' ' '; }
# in_queue HOST TEXT: a message containing TEXT waits in HOST's queue.
in_queue() { grep -qlF -- "$2" "$W/$1/spool/queue/"* 2>/dev/null; }
# ensure_up HOST...: (re)start HOST's daemon unless it runs.
ensure_up() {
  local h
  for h in "$@"; do
    [ -f "$W/$h/daemon.run" ] && kill -0 "$(cat "$W/$h/daemon.run")" 2>/dev/null || mx_start "$h"
  done
}

# 4a: the first MX (gateway) is down, so the sender's Postfix uses the second
# (gateway2), which queues while the hub is down too and forwards once it is back.
s4_second_mx() {
  local rc=0 id="e2e-gw2-$RANDOM.$$@example.com" m=$W/s4a.eml
  printf 'From: carl@example.com\r\nTo: alice@sub1.example.gr.jp\r\nSubject: the first MX is down\r\nMessage-ID: <%s>\r\n\r\nthrough the second MX\r\n' "$id" > "$m"
  mx_stop gateway; mx_stop distin
  send_py sender 127.0.0.1 25 carl@example.com alice@sub1.example.gr.jp "$m" || { fail "submission"; ensure_up gateway distin; return 1; }
  if wait_for 60 in_queue gateway2 "$id"; then
    ok "gateway down: Postfix on sender delivered to gateway2 (MX 20), which queued it (hub down: $(grep -F 'stat=Deferred' "$W/gateway2/maillog" | tail -1 | grep -o 'stat=.*'))"
  else fail "gateway2 never queued it (sender's Postfix queue $(postfix_queue sender): $(grep -F alice@sub1 "$W/sender/maillog" | tail -1))"; ensure_up gateway distin; return 1; fi
  mx_start distin
  mx_flush gateway2
  if wait_for 60 bash -c "grep -lF '$id' \$(find '$W/mbox1/mail/alice/Maildir/new' -type f 2>/dev/null) 2>/dev/null | grep -q ."; then
    local f; f=$(find_msg "$id" $(maildir_files alice))
    ok "forwarded once the hub was back: Received: by $(received_by "$f")"
    received_by "$f" | grep -qw gateway2.example.gr.jp && ! received_by "$f" | grep -qw gateway.example.gr.jp \
      && ok "it went through gateway2, not gateway" || { fail "hops: $(received_by "$f")"; rc=1; }
  else fail "not delivered within 60s after the hub came back (gateway2 queue $(mx_queue gateway2))"; rc=1; fi
  mx_start gateway
  return $rc
}

# 4b: the destination's DNS does not answer (nsd is not authoritative for
# late.example: REFUSED), so the gateway hands the mail to its fallback MX,
# which queues it and delivers it once the zone is served.
s4_fallback_mx() {
  local rc=0 id="e2e-fb-$RANDOM.$$@example.gr.jp" m=$W/s4b.eml
  printf 'From: alice@example.gr.jp\r\nTo: someone@late.example\r\nSubject: DNS broken\r\nMessage-ID: <%s>\r\n\r\nthrough the fallback MX\r\n' "$id" > "$m"
  dns_answers mx late.example && { fail "late.example is served already"; return 1; }
  send_py distin "$GW" 25 alice@example.gr.jp someone@late.example "$m" || { fail "submission to the gateway"; return 1; }
  if wait_for 60 in_queue fb "$id"; then
    ok "DNS for late.example broken: the gateway passed it to the fallback MX ($(grep -F 'to=<someone@late.example>' "$W/gateway/maillog" | grep -o 'relay=[^,]*' | tail -1)), which queued it"
  else fail "the fallback MX never got it (gateway queue $(mx_queue gateway): $(grep -F 'late.example' "$W/gateway/maillog" | tail -2 | tr '\n' '|'))"; return 1; fi
  in_queue gateway "$id" && { fail "the gateway kept a copy"; rc=1; }
  dns_start late.example
  mx_flush fb
  if wait_for 60 bash -c "grep -lF '$id' \$(find '$W/outside/mail/inbox/new' -type f 2>/dev/null) 2>/dev/null | grep -q ."; then
    local f; f=$(find_msg "$id" $(inbox_files outside))
    ok "delivered once DNS answered: Received: by $(received_by "$f")"
    received_by "$f" | grep -qw fallback.example.gr.jp || { fail "not through the fallback MX: $(received_by "$f")"; rc=1; }
  else fail "not delivered within 60s after the zone was served (fb queue $(mx_queue fb): $(grep -F 'late.example' "$W/fb/maillog" | tail -2 | tr '\n' '|'))"; rc=1; fi
  wait_for 10 bash -c "! grep -qlF '$id' '$W/fb/spool/queue/'* 2>/dev/null" || { fail "left in fb's queue"; rc=1; }
  dns_start
  return $rc
}

# mailbox_files: what the mailbox servers delivered to alice, bob (mbox1) and dave, erin (mbox2).
mailbox_files() {
  find "$W/mbox1/mail/alice/Maildir/new" "$W/mbox1/mail/bob/Maildir/new" \
       "$W/mbox2/dovecot/mail/dave/Maildir/new" "$W/mbox2/dovecot/mail/erin/Maildir/new" -type f 2>/dev/null
}
# delivered_tags TAG: the Message-IDs <TAG-n@...> delivered there, one per line.
delivered_tags() { mailbox_files | xargs -r grep -h -i -o "^Message-ID: <$1-[0-9]*@" | sed 's/.*<//; s/@$//'; }
# exactly_once TAG N [MAXDUP]: every one of the N messages TAG-0..N-1 arrived,
# none more than once (at most MAXDUP duplicates allowed).
exactly_once() {
  local tag=$1 n=$2 maxdup=${3:-0} got distinct missing dup
  got=$(delivered_tags "$tag" | wc -l)
  distinct=$(delivered_tags "$tag" | sort -u | wc -l)
  dup=$((got - distinct)); missing=$((n - distinct))
  if [ "$missing" = 0 ] && [ "$dup" -le "$maxdup" ]; then
    ok "all $n arrived ($dup duplicate(s))"
  else
    fail "$distinct of $n arrived, $dup duplicate(s); missing e.g. $(missing_tags "$tag" "$n" | tr '\n' ' ')"
  fi
}
# trail MSGID: every line each host logged about the message with that
# Message-ID (its queue id found by the Message-ID), for a failure report.
trail() {
  local h id
  for h in sender gateway gateway2 fb distin mbox1 mbox2; do
    [ -f "$W/$h/maillog" ] || continue
    for id in $(grep -F "<$1@" "$W/$h/maillog" | sed -n 's/.*\]: \([0-9A-Za-z]*\): .*/\1/p' | sort -u); do
      grep -F " $id: " "$W/$h/maillog" | sed "s/^/    $h: /" >&2
    done
  done
}
# missing_tags TAG N: the first three of TAG-0..N-1 that reached no mailbox.
missing_tags() {
  comm -23 <(seq 0 $(($2 - 1)) | sed "s/^/$1-/" | sort) <(delivered_tags "$1" | sort -u) | head -3
}
# all_arrived TAG N BASE: N distinct TAG messages were delivered (BASE: the
# number of mailbox files before they were sent; counting files is cheap,
# reading them is done only once there are enough).
all_arrived() {
  [ $(( $(mailbox_files | wc -l) - $3 )) -ge "$2" ] && [ "$(delivered_tags "$1" | sort -u | wc -l)" -ge "$2" ]
}
# chain_idle: no mxgate host holds a message in its queue.
chain_idle() { local h; for h in $MX_HOSTS; do [ "$(mx_queue "$h")" = 0 ] || return 1; done; }

BURST_RCPTS=alice@sub1.example.gr.jp,dave@sub2.example.gr.jp,bob@sub1.example.gr.jp,erin@sub2.example.gr.jp

# 4c: the hub goes away while a stream of mail flows through it -- once
# stopped and restarted (SIGTERM), once killed (SIGKILL) and restarted.
s4_hub_restart() {
  local rc=0 how tag n=400
  for how in restart crash; do
    tag=e2e-s4-$how-$$
    local base; base=$(mailbox_files | wc -l)
    inns sender python3 "$HERE/burst.py" 127.0.0.1 25 $n 10 "$tag" carl@example.com "$BURST_RCPTS" > "$W/s4-$how.out" 2>&1 &
    local bp=$!
    # mid-stream: once the hub has taken a quarter of them
    wait_for 120 bash -c "[ \$(grep -c 'msgid=<$tag-' '$W/distin/maillog') -ge $((n / 4)) ]" \
      || { fail "$how: the stream never reached the hub"; wait $bp; return 1; }
    local before; before=$(grep -c "msgid=<$tag-" "$W/distin/maillog")
    local oldpid; oldpid=$(cat "$W/distin/daemon.run")
    if [ $how = restart ]; then mx_stop distin; else mx_kill distin; fi
    local stopped; stopped=$(grep -c "msgid=<$tag-" "$W/distin/maillog")
    ok "$how: the hub went away after taking $before (stopped at $stopped, queue $(mx_queue distin))"
    sleep 1
    mx_start distin
    wait $bp || { fail "$how: the sender could not submit: $(cat "$W/s4-$how.out")"; rc=1; }
    mx_flush gateway; mx_flush gateway2; mx_flush distin
    if ! wait_for 180 all_arrived "$tag" $n "$base"; then
      fail "$how: $(delivered_tags "$tag" | sort -u | wc -l) of $n arrived within 180s (queues: gw $(mx_queue gateway) gw2 $(mx_queue gateway2) hub $(mx_queue distin) mbox1 $(mx_queue mbox1) mbox2 $(mx_queue mbox2))"; rc=1; continue
    fi
    wait_for 30 chain_idle
    if [ $how = restart ]; then exactly_once "$tag" $n || rc=1; continue; fi
    # A crash can repeat a message only if it was in flight at that instant
    # (RFC 1047): the next hop had it but the killed hub had not recorded
    # the delivery. At most one per transaction open then: 20 from the
    # gateway into the hub, 20 from the hub to each mailbox server.
    exactly_once "$tag" $n 60 || rc=1
    local bad; bad=$(recorded_then_repeated "$tag" "$oldpid")
    [ -z "$bad" ] && ok "every duplicate was in flight at the crash (the killed hub had not logged it delivered)" \
      || { fail "delivered again although the killed hub had recorded it: $bad"; rc=1; }
  done
  return $rc
}

# recorded_then_repeated TAG OLDPID: duplicated TAG messages that had reached
# the hub once (one queue id) and that the hub's killed instance OLDPID had
# logged as delivered (stat=Sent) -- a repeat the journal should have prevented.
# (A message the hub received twice is the gateway's retry after the crash
# swallowed the hub's 250, also in flight, and is not listed.)
recorded_then_repeated() {
  local tag=$1 oldpid=$2 d qids
  for d in $(delivered_tags "$tag" | sort | uniq -d); do
    qids=$(grep -F "msgid=<$d@" "$W/distin/maillog" | grep -o ': [0-9A-Za-z]*: from=' | cut -d' ' -f2 | tr -d : | sort -u)
    [ "$(wc -w <<<"$qids")" = 1 ] || continue
    grep -F "sm-mta[$oldpid]: $qids: to=" "$W/distin/maillog" | grep -q 'stat=Sent' && printf '%s ' "$d"
  done
}

scenario_4() {
  local rc=0
  s4_second_mx || rc=1
  s4_fallback_mx || rc=1
  s4_hub_restart || rc=1
  ensure_up gateway distin
  return $rc
}

# ---------------------------------------------------------------- 9: a fleet from one bundle
# gateway and gateway2 run one bundle built from the pristine cf/gateway
# files; each host's own values (name, spool, log, listeners) come from a
# node file, never from an edit of the shared .mc.  Both report the same
# generation, both take mail; a new bundle (one more access line) applied
# on each switches both to one new generation, without a restart.
s9_node() {  # s9_node HOST NAME: the node file of HOST
  local h=$1 name=$2
  printf '# %s (e2e scenario 9)
confDOMAIN_NAME=%s
QUEUE_DIR=%s
confMXGATE_LOG_FILE=%s
DAEMON_OPTIONS=Port=smtp, Name=MTA
DAEMON_OPTIONS=Port=smtp, Addr=%s, Family=inet6, Name=MTA6
' \
    "$h" "$name" "$W/$h/spool" "$W/$h/maillog" "$(ip6 "$h")" > "$W/fleet/$h.node"
}
s9_generation() {  # s9_generation HOST: the generation its daemon reports
  "$MXGATE" status --json --config "$W/$1/mxroot/current/mxgate.cf" \
    | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["generation"]["id"] if s["running"] else "not-running")'
}
s9_build() {  # s9_build: the bundle from $W/fleet/src; prints the generation
  "$MXGATE" bundle build -C "$W/fleet/src/gateway.mc" -D "CFDIR=$W/fleet/src" \
    -D "confMXGATE_NAMESERVERS=$DNS_IP:53" -D "confMXGATE_DNS_TIMEOUT=2s" -o "$W/fleet/bundle" 2>"$W/fleet/build.err" \
    | sed -n 's/.*: generation \([0-9a-f]*\) .*/\1/p'
}
s9_apply() {  # s9_apply HOST
  "$MXGATE" bundle apply "$W/fleet/bundle" --node "$W/fleet/$1.node" --root "$W/$1/mxroot" >> "$W/fleet/apply.$1" 2>&1
}
s9_back() {  # the hosts run their own host.mc again (for the scenarios after this one)
  local h
  for h in gateway gateway2; do mx_stop "$h"; rm -f "$W/$h/bundle.on"; mx_start "$h"; done
}
scenario_9() {
  local rc=0 h g g2 out
  mkdir -p "$W/fleet/src"; cp -r "$REPO/cf/gateway/." "$W/fleet/src/"
  g=$(s9_build); [ -n "$g" ] || { fail "bundle build: $(cat "$W/fleet/build.err")"; return 1; }
  ok "bundle built from cf/gateway: generation $g, $(wc -l < <(find "$W/fleet/bundle" -type f)) files"
  s9_node gateway gateway.example.gr.jp; s9_node gateway2 gateway2.example.gr.jp
  for h in gateway gateway2; do
    mx_stop "$h"
    s9_apply "$h" || { fail "bundle apply on $h: $(cat "$W/fleet/apply.$h")"; s9_back; return 1; }
    : > "$W/$h/bundle.on"; mx_start "$h"
  done
  for h in gateway gateway2; do
    # the port answers once bound; the record follows a moment later
    for _ in $(seq 50); do out=$(s9_generation "$h"); [ "$out" = "$g" ] && break; sleep 0.2; done
    [ "$out" = "$g" ] && ok "$h: mxgate status reports generation $g" || { fail "$h: status says $out, the bundle is $g"; rc=1; }
  done
  grep -q "node gateway2.example.gr.jp " "$W/gateway2/maillog" && ok "gateway2 logs its node values" || { fail "no node line in gateway2's log"; rc=1; }
  for h in gateway gateway2; do
    out=$(swaks_from sender --server "$(ip4 "$h")" --from carl@example.com --to alice@sub1.example.gr.jp --header "Subject: e2e s9 via $h")
    expect_reply "$out" 250 "Message accepted for delivery" "$h (bundle) accepts mail for alice" || rc=1
    grep -E '^<- +220 ' <<<"$out" | grep -q "$h.example.gr.jp" && ok "$h greets with its own name" || { fail "$h greeting: $(grep -E '^<- +220' <<<"$out")"; rc=1; }
  done
  # a fleet-wide change: one more access line, one new bundle, applied on both
  printf 'From:fleet-s9@example.com\t\tREJECT\n' >> "$W/fleet/src/access"
  g2=$(s9_build); [ -n "$g2" ] && [ "$g2" != "$g" ] || { fail "second bundle: '$g2' ($(cat "$W/fleet/build.err"))"; s9_back; return 1; }
  for h in gateway gateway2; do
    s9_apply "$h" && grep -q "serves generation $g2" "$W/fleet/apply.$h" \
      && ok "$h: bundle apply switched the running daemon to $g2" || { fail "apply on $h: $(tail -3 "$W/fleet/apply.$h")"; rc=1; }
    out=$(s9_generation "$h")
    [ "$out" = "$g2" ] || { fail "$h: status says $out after the apply, expected $g2"; rc=1; }
    out=$(swaks_from sender --server "$(ip4 "$h")" --from fleet-s9@example.com --to alice@sub1.example.gr.jp --quit-after RCPT)
    expect_reply "$out" 550 "Access denied" "$h refuses the newly listed sender" || rc=1
  done
  s9_back
  return $rc
}

# ---------------------------------------------------------------- 8: burst
# Two bursts. First the Internet's clients straight at the gateway (our
# three models alone: gateway -> dist-in -> mbox1/mbox2), then the same
# through sender's Postfix, whose own acceptance rate on this shared
# machine is then the slowest hop.
scenario_8() {
  local rc=0 notes=()
  s8_burst gateway "$(ip4 gateway)" || rc=1
  notes+=("$SCENARIO_NOTE")
  s8_burst sender 127.0.0.1 || rc=1
  notes+=("$SCENARIO_NOTE")
  SCENARIO_NOTE="${notes[0]}; ${notes[1]}"
  return $rc
}

# since T0: seconds from $EPOCHREALTIME T0 to now, to a tenth
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# cpu_ticks: each mxgate host's daemon's CPU (user + system, clock ticks) and
# the machine's busy and total ticks, one "name ticks" per line.
cpu_ticks() {
  local h
  for h in gateway distin mbox1 mbox2; do
    printf '%s %s\n' "$h" "$(awk '{ print $14 + $15 }' "/proc/$(cat "$W/$h/daemon.run")/stat" 2>/dev/null || echo 0)"
  done
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print "busy", t - $5 - $6; print "total", t }' /proc/stat
}
# cpu_note BEFORE AFTER N: each hop's CPU per message (ms) and how busy the
# machine was, from two cpu_ticks outputs.
cpu_note() {
  awk -v n="$3" -v hz="$(getconf CLK_TCK)" 'NR == FNR { b[$1] = $2; next } { d[$1] = $2 - b[$1] }
    END { printf "CPU per message: gateway %.2f ms, dist-in %.2f, mbox1 %.2f, mbox2 %.2f; machine %d%% busy",
          d["gateway"] * 1000 / hz / n, d["distin"] * 1000 / hz / n, d["mbox1"] * 1000 / hz / n * 2, d["mbox2"] * 1000 / hz / n * 2,
          d["total"] ? 100 * d["busy"] / d["total"] : 0 }' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# s8_burst ENTRY ADDR: E2E_BURST messages from the sender host over 20
# connections into ADDR:25 (ENTRY names that host), each exactly once.
s8_burst() {
  local entry=$1 addr=$2 rc=0 n=${E2E_BURST:-5000} tag=e2e-s8-$1-$$ hosts="gateway distin mbox1 mbox2"
  local samples="$W/s8-$entry.samples" done="$W/s8-$entry.done" out="$W/s8-$entry.out"
  : > "$samples"
  # the largest queue each hop held: sampled every 0.5 s, by one find and
  # one awk (the sampler shares the two cores with the hops it measures)
  ( while [ ! -e "$done" ]; do
      { find "$W/sender/spool/incoming" "$W/sender/spool/active" "$W/sender/spool/deferred" "$W/sender/spool/maildrop" -type f
        for h in $hosts; do find "$W/$h/spool/queue" -maxdepth 1 -type f; done; } 2>/dev/null \
        | awk -v w="$W/" -v hosts="sender $hosts" 'BEGIN { split(hosts, hs, " ") }
            { p = substr($0, length(w) + 1); n[substr(p, 1, index(p, "/") - 1)]++ }
            END { for (i in hs) print hs[i], n[hs[i]] + 0 }'
      sleep 0.5
    done >> "$samples" ) &
  local sampler=$! t0=$EPOCHREALTIME base cpu0; base=$(mailbox_files | wc -l); cpu0=$(cpu_ticks)
  inns sender python3 "$HERE/burst.py" "$addr" 25 "$n" 20 "$tag" carl@example.com "$BURST_RCPTS" > "$out" 2>&1 \
    || { fail "submission into $entry: $(cat "$out")"; rc=1; }
  local t_sent what; t_sent=$(since "$t0")
  [ "$entry" = sender ] && what="sender's Postfix" || what="the $entry, from the sender host"
  ok "$(head -1 "$out") (into $what, 20 connections)"
  # polled once a second: the time is the last file's, not the poll's
  if WAIT_STEP=1 wait_for 300 all_arrived "$tag" "$n" "$base"; then
    # the last arrival: the newest mailbox file's time, not when the poll saw it
    local t_all cpu; t_all=$(mailbox_files | xargs -r stat -c %.Y | sort -n | tail -1 | awk -v a="$t0" '{ printf "%.1f", $1 - a }')
    cpu=$(cpu_note "$cpu0" "$(cpu_ticks)" "$n")
    wait_for 30 chain_idle
    : > "$done"; wait $sampler
    exactly_once "$tag" "$n" || rc=1
    local q; q=$(awk '{ if ($2 > m[$1]) m[$1] = $2 } END { printf "sender (Postfix) %d, gateway %d, dist-in %d, mbox1 %d, mbox2 %d", m["sender"], m["gateway"], m["distin"], m["mbox1"], m["mbox2"] }' "$samples")
    SCENARIO_NOTE="into $what: $n messages end to end in ${t_all} s = $(awk -v n="$n" -v t="$t_all" 'BEGIN { printf "%d", (t > 0 ? n / t : n) }') msgs/s (submitted in ${t_sent} s); largest queue per hop: $q; $cpu"
    log "  $SCENARIO_NOTE"
  else
    : > "$done"; wait $sampler
    SCENARIO_NOTE="into $what: not all arrived"
    fail "into $what: $(delivered_tags "$tag" | sort -u | wc -l) of $n arrived within 300s (queues: sender $(postfix_queue sender) gw $(mx_queue gateway) hub $(mx_queue distin) mbox1 $(mx_queue mbox1) mbox2 $(mx_queue mbox2))"; rc=1
    local m; for m in $(missing_tags "$tag" "$n"); do log "  what the hosts logged of $m:"; trail "$m"; done
  fi
  return $rc
}
