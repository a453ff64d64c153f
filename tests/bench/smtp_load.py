#!/usr/bin/env python3
"""Acceptance under load: N clients, one connection each, sending small
messages for D seconds; every MAIL FROM has a sender domain never asked
before (d<thread>x<i>.example), so each message costs the daemon one DNS
question (sender-domain check).

  smtp_load.py --port P [--clients 8] [--seconds 10] [--reconnect]

With --reconnect every message has a connection of its own (so the
daemon's connect-time lookups, PTR and DNSBL, happen for each).

Prints "clients=N seconds=D accepted=M msgs_per_s=R mail_ms p50=... p99=... max=..."
"""
import argparse
import socket
import statistics
import threading
import time


def read_reply(f):
    while True:
        line = f.readline()
        if not line:
            return "<eof>"
        if len(line) < 4 or line[3:4] == b" ":
            return line.decode(errors="replace").rstrip("\r\n")


def connect(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = c.makefile("rb")
    read_reply(f)
    c.sendall(b"EHLO load.test\r\n")
    read_reply(f)
    return c, f


def client(port, t, stop, out, reconnect):
    c, f = connect(port)
    i = 0
    ok = 0
    mail_ms = []
    while not stop.is_set():
        i += 1
        if reconnect and i > 1:
            c.sendall(b"QUIT\r\n")
            c.close()
            c, f = connect(port)
        t0 = time.monotonic()
        c.sendall(b"MAIL FROM:<s@d%dx%d.example>\r\n" % (t, i))
        r = read_reply(f)
        mail_ms.append((time.monotonic() - t0) * 1000)
        if not r.startswith("250"):
            c.sendall(b"RSET\r\n")
            read_reply(f)
            continue
        c.sendall(b"RCPT TO:<u@example.test>\r\n")
        if not read_reply(f).startswith("250"):
            c.sendall(b"RSET\r\n")
            read_reply(f)
            continue
        c.sendall(b"DATA\r\n")
        read_reply(f)
        c.sendall(b"Subject: load\r\n\r\nhello\r\n.\r\n")
        if read_reply(f).startswith("250"):
            ok += 1
    c.sendall(b"QUIT\r\n")
    out.append((ok, mail_ms))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--reconnect", action="store_true")
    a = ap.parse_args()
    stop = threading.Event()
    out = []
    threads = [threading.Thread(target=client, args=(a.port, t, stop, out, a.reconnect)) for t in range(a.clients)]
    for th in threads:
        th.start()
    time.sleep(a.seconds)
    stop.set()
    for th in threads:
        th.join()
    ok = sum(o for o, _ in out)
    ms = sorted(m for _, l in out for m in l)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else 0
    print(
        ("reconnect " if a.reconnect else "") + "clients=%d seconds=%g accepted=%d msgs_per_s=%.0f mail_ms p50=%.1f p99=%.1f max=%.1f"
        % (a.clients, a.seconds, ok, ok / a.seconds, statistics.median(ms) if ms else 0, p99, ms[-1] if ms else 0)
    )


if __name__ == "__main__":
    main()
