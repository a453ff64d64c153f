#!/usr/bin/env python3
"""Time from a message's final dot to its 250, as a client sees it.

  tests/bench/commit_latency.py PORT CLIENTS MESSAGES

CLIENTS threads each send MESSAGES messages of about 4 KiB to
127.0.0.1:PORT, one SMTP session per message (connect, EHLO, MAIL, RCPT,
DATA, the message, QUIT), as smtp-source does. Prints one line: the rate,
and the median and 90th percentile of the wait between sending the
message with its dot and reading the 250 (the MTA's commit: what a
durable 250 costs), and of the whole session. Measures; asserts only
that every message was answered 250.
"""
import socket
import statistics
import sys
import threading
import time

BODY = ("Subject: latency\r\n\r\n" + ("x" * 70 + "\r\n") * 56).encode() + b".\r\n"


def reply(f):
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line


def main():
    port, clients, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    dots, sessions, lock = [], [], threading.Lock()

    def client():
        for _ in range(n):
            t0 = time.perf_counter()
            s = socket.create_connection(("127.0.0.1", port))
            f = s.makefile("rb")
            reply(f)
            for c in (b"EHLO gen.bench.test\r\n", b"MAIL FROM:<a@gen.bench.test>\r\n",
                      b"RCPT TO:<b@example.test>\r\n", b"DATA\r\n"):
                s.sendall(c)
                reply(f)
            t1 = time.perf_counter()
            s.sendall(BODY)
            r = reply(f)
            t2 = time.perf_counter()
            if not r.startswith(b"250"):
                raise SystemExit(f"not accepted: {r!r}")
            s.sendall(b"QUIT\r\n")
            reply(f)
            s.close()
            with lock:
                dots.append(t2 - t1)
                sessions.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t
    if len(dots) != clients * n:
        raise SystemExit("a client failed")
    dots.sort()
    ms = lambda v: f"{v * 1000:.2f}"
    print(f"{clients * n / took:.0f} {ms(statistics.median(dots))} "
          f"{ms(dots[int(len(dots) * 0.9)])} {ms(statistics.median(sessions))}")


if __name__ == "__main__":
    main()
