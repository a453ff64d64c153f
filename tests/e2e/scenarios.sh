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

  out=$(swaks_from sender --server "$GW" --from user@example.com --to someone@example.net)
  expect_reply "$out" 550 "5.7.1 <someone@example.net>... Relaying denied" "relaying to an outside domain" || rc=1

  out=$(swaks_from sender --server "$GW" --from spam@example.com --to alice@sub1.example.gr.jp)
  # delay_checks: the sender is judged at RCPT, the reply names the recipient
  expect_reply "$out" 550 "5.7.1 <alice@sub1.example.gr.jp>... Access denied" "access REJECT sender" || rc=1

  out=$(swaks_from sender --server "$GW" --from joe@cyber.example.com --to alice@sub1.example.gr.jp)
  # (sendmail prefixes RCPT-time errors with "<rcpt>... "; mxgate omits it for ERROR: -- reported)
  expect_reply "$out" 551 "Relay denied" "access ERROR:5.7.1:551 sender" || rc=1

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
  if [ "$q1" -le "$q0" ] && ! mx_log gateway | grep -E 'to=<(someone@example.net|bogus_user@|alice@sub1)' | grep -q 'stat='; then
    ok "nothing queued or delivered at the gateway (queue $q0 -> $q1)"
  else fail "gateway queue grew $q0 -> $q1"; rc=1; fi
  return $rc
}
