#!/usr/bin/env python3
"""Synthetic mail logs for tests/bench/report.sh: the same traffic as
mxgate (sendmail-format) lines and as Postfix lines.

usage: report_gen.py MESSAGES OUT_MXGATE OUT_POSTFIX

Per message: a from= line and a to= line per recipient (mxgate), or
connect/client/message-id/from/to/removed/disconnect (Postfix). About 1
message in 5 is refused at RCPT (relay denied, unknown user, DNSBL), 1 in
50 deferred once before delivery, 1 in 100 bounced. Fixed seed: the same
files every run.
"""
import random
import sys

n = int(sys.argv[1])
rnd = random.Random(42)
mon = "Dec"
senders = [f"user{i}@sender{i % 500}.example" for i in range(5000)]
rcpts = [f"rcpt{i}@dom{i % 200}.example" for i in range(20000)]
sizes = [600, 3000, 8000, 40000, 300000, 2000000, 12000000]
weights = [20, 40, 20, 12, 5, 2, 1]
mx = open(sys.argv[2], "w")
pf = open(sys.argv[3], "w")
pid = 4000
for i in range(n):
    t = int(i * 86400 / n)
    stamp = f"{mon} {3:>2} {t // 3600:02}:{t // 60 % 60:02}:{t % 60:02}"
    qid = f"6B3{i:08X}{i % 10000:04}"
    pq = f"{i:010X}"
    ip = f"192.0.{(i >> 8) % 256}.{i % 256}"
    host = f"client{i % 3000}.example"
    s = senders[rnd.randrange(len(senders))]
    r = rcpts[rnd.randrange(len(rcpts))]
    kind = rnd.randrange(100)
    pfx = f"{stamp} gw1 mxgate[{pid}]: "
    ppfx = f"{stamp} gw1 postfix/smtpd[{pid}]: "
    if kind < 20:
        if kind < 10:
            why, pwhy = f"550 5.7.1 <{r}>... Relaying denied", f"554 5.7.1 <{r}>: Relay access denied"
        elif kind < 16:
            why, pwhy = f"550 5.1.1 <{r}>... User unknown", f"550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual mailbox table"
        else:
            why, pwhy = f"550 5.7.1 Rejected: {ip} listed at zen.example.net", f"554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.example.net"
        mx.write(f"{pfx}ruleset=check_rcpt, arg1=<{r}>, relay={host} [{ip}], reject={why}\n")
        pf.write(f"{ppfx}connect from {host}[{ip}]\n")
        pf.write(f"{ppfx}NOQUEUE: reject: RCPT from {host}[{ip}]: {pwhy}; from=<{s}> to=<{r}> proto=ESMTP helo=<{host}>\n")
        pf.write(f"{ppfx}disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4\n")
        continue
    size = rnd.choices(sizes, weights)[0] + rnd.randrange(500)
    mx.write(f"{pfx}{qid}: from=<{s}>, size={size}, class=0, nrcpts=1, msgid=<{i}@{host}>, proto=ESMTP, daemon=MTA, relay={host} [{ip}]\n")
    pf.write(f"{ppfx}connect from {host}[{ip}]\n")
    pf.write(f"{ppfx}{pq}: client={host}[{ip}]\n")
    pf.write(f"{stamp} gw1 postfix/cleanup[{pid + 1}]: {pq}: message-id=<{i}@{host}>\n")
    pf.write(f"{stamp} gw1 postfix/qmgr[99]: {pq}: from=<{s}>, size={size}, nrcpt=1 (queue active)\n")
    pf.write(f"{ppfx}disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5\n")
    rd = r.split("@")[1]
    if kind < 22:
        mx.write(f"{pfx}{qid}: to=<{r}>, delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=120000, relay=mx.{rd}. [198.51.100.7], dsn=4.0.0, stat=Deferred: Connection refused by mx.{rd}.\n")
        pf.write(f"{stamp} gw1 postfix/smtp[{pid + 2}]: {pq}: to=<{r}>, relay=none, delay=5, delays=0/0/5/0, dsn=4.4.1, status=deferred (connect to mx.{rd}[198.51.100.7]:25: Connection refused)\n")
    if kind == 99:
        mx.write(f"{pfx}{qid}: to=<{r}>, delay=00:00:02, xdelay=00:00:02, mailer=esmtp, pri=120000, relay=mx.{rd}. [198.51.100.7], dsn=5.1.1, stat=User unknown\n")
        pf.write(f"{stamp} gw1 postfix/smtp[{pid + 2}]: {pq}: to=<{r}>, relay=mx.{rd}[198.51.100.7]:25, delay=2, delays=0/0/1/1, dsn=5.1.1, status=bounced (host mx.{rd}[198.51.100.7] said: 550 5.1.1 User unknown (in reply to RCPT TO command))\n")
    else:
        mx.write(f"{pfx}{qid}: to=<{r}>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120000, relay=mx.{rd}. [198.51.100.7], dsn=2.0.0, stat=Sent (250 2.0.0 Ok: queued as X{i})\n")
        pf.write(f"{stamp} gw1 postfix/smtp[{pid + 2}]: {pq}: to=<{r}>, relay=mx.{rd}[198.51.100.7]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as X{i})\n")
    pf.write(f"{stamp} gw1 postfix/qmgr[99]: {pq}: removed\n")
