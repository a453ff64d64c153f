#!/usr/bin/env python3
"""burst.py -- send COUNT numbered messages over SMTP with CONC parallel
connections (used by scenarios 4 and 8 of tests/e2e/run).

Usage: burst.py SERVER PORT COUNT CONC TAG FROM RCPT[,RCPT...]

Message i (0 <= i < COUNT) goes to RCPT[i % len(RCPTS)] with
Message-ID: <TAG-i@example.com>, so the receiving end can check that every
message arrived exactly once.  Each connection sends up to 50 messages
before it reconnects.  A message the server does not take (4xx, a dropped
connection) is retried on a fresh connection, up to 20 times per message,
1 s apart: what an MTA does with a temporary failure, bounded.
Prints `sent N of COUNT in S s` on stdout; exit 1 if any was never taken.
"""
import smtplib
import sys
import threading
import time

server, port, count, conc, tag, sender, rcpts = sys.argv[1:8]
port, count, conc = int(port), int(count), int(conc)
rcpts = rcpts.split(",")
lock = threading.Lock()
next_i = 0
sent = 0
failed = []


def message(i):
    return (
        f"From: {sender}\r\nTo: {rcpts[i % len(rcpts)]}\r\n"
        f"Subject: {tag} {i}\r\nMessage-ID: <{tag}-{i}@example.com>\r\n\r\n"
        f"message {i} of {count}\r\n" + "x" * 700 + "\r\n"
    ).encode()


def take():
    global next_i
    with lock:
        if next_i >= count:
            return None
        next_i += 1
        return next_i - 1


def worker():
    global sent
    conn, used = None, 0
    i = take()
    tries = 0
    while i is not None:
        try:
            if conn is None or used >= 50:
                if conn is not None:
                    conn.quit()
                conn, used = smtplib.SMTP(server, port, timeout=60), 0
                conn.ehlo("burst.example.com")
            conn.sendmail(sender, [rcpts[i % len(rcpts)]], message(i))
            used += 1
            with lock:
                sent += 1
            i, tries = take(), 0
        except (smtplib.SMTPException, OSError) as e:
            conn = None
            tries += 1
            if tries > 20:
                with lock:
                    failed.append((i, str(e)))
                i, tries = take(), 0
            else:
                time.sleep(1)
    if conn is not None:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass


start = time.time()
threads = [threading.Thread(target=worker) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"sent {sent} of {count} in {time.time() - start:.1f} s")
for i, e in failed[:5]:
    print(f"message {i} never taken: {e}", file=sys.stderr)
sys.exit(0 if sent == count else 1)
