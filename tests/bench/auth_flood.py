#!/usr/bin/env python3
"""AUTH brute force beside a probe: the clients of tests/auth_flood.rs and of
tests/bench/auth_flood.sh.

  auth_flood.py order --mta P --smtps S [--attackers 4] [--users a,b] [--stagger S]
      ATTACKERS clients on the SMTPS port send a wrong AUTH PLAIN each (as
      user alice, or the i-th of --users), STAGGER seconds apart; then,
      while they wait for their answers, a probe connects to the MTA port
      and says EHLO. Prints one line per event, in the order the events
      happened: "sent aN", "535 aN" (or the reply code), "greeting probe",
      "ehlo probe".

  auth_flood.py repeat --mta P --smtps S --count N
      One client sends a wrong AUTH PLAIN up to N times on one connection;
      prints each reply's code, and "421" / "eof" if the server closes.

  auth_flood.py latency --mta P --smtps S --attackers N --probes K [--spread]
      N clients send wrong AUTH PLAIN in a loop (new connection after each
      421; with --spread, from a new 127.1.I.N source address every two
      attempts, so no per-address throttle applies); meanwhile K probes one
      after another connect to the MTA port and time connect -> greeting ->
      EHLO reply. Prints
      "attackers=N probes=K ehlo_ms median=... p90=... max=... auth_failures=..."
"""
import argparse
import base64
import socket
import ssl
import statistics
import sys
import threading
import time

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE



def wrong(user="alice"):
    return base64.b64encode(b"\0" + user.encode() + b"\0wrong-password").decode()


WRONG = wrong()


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return "<eof>"
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] == b" ":
            return "\n".join(lines)


def attacker_conn(port, source="127.0.0.1"):
    raw = socket.create_connection(("127.0.0.1", port), timeout=120, source_address=(source, 0))
    s = CTX.wrap_socket(raw, server_hostname="gw.example.com")
    f = s.makefile("rb")
    read_reply(f)
    s.sendall(b"EHLO attacker.test\r\n")
    read_reply(f)
    return s, f


def probe(port):
    t0 = time.monotonic()
    c = socket.create_connection(("127.0.0.1", port), timeout=120)
    f = c.makefile("rb")
    greeting = read_reply(f)
    c.sendall(b"EHLO probe.test\r\n")
    ehlo = read_reply(f)
    t1 = time.monotonic()
    c.sendall(b"QUIT\r\n")
    c.close()
    return greeting, ehlo, t1 - t0


def order(a):
    events = []
    lock = threading.Lock()

    def event(text):
        with lock:
            events.append(text)

    users = a.users.split(",") if a.users else ["alice"] * a.attackers
    conns = [attacker_conn(a.smtps) for _ in users]

    def answer(i, f):
        r = read_reply(f)
        event("%s a%d" % (r[:3], i))

    threads = []
    for i, (s, f) in enumerate(conns):
        s.sendall(("AUTH PLAIN %s\r\n" % wrong(users[i])).encode())
        event("sent a%d" % i)
        t = threading.Thread(target=answer, args=(i, f))
        t.start()
        threads.append(t)
        time.sleep(a.stagger)
    greeting, ehlo, _ = probe(a.mta)
    event("greeting probe" if greeting.startswith("220") else "bad-greeting " + greeting)
    event("ehlo probe" if ehlo.startswith("250") else "bad-ehlo " + ehlo)
    for t in threads:
        t.join()
    for e in events:
        print(e)


def repeat(a):
    s, f = attacker_conn(a.smtps)
    for _ in range(a.count):
        s.sendall(("AUTH PLAIN %s\r\n" % WRONG).encode())
        r = read_reply(f)
        print(r[:3] if r != "<eof>" else "eof", flush=True)
        if not r.startswith("535"):
            return
    # A server that closes sends its 421 at once; one that does not waits
    # for the next command.
    s.sendall(b"NOOP\r\n")
    r = read_reply(f)
    print(r[:3] if r != "<eof>" else "eof")


def latency(a):
    stop = threading.Event()
    failures = [0]
    lock = threading.Lock()

    def attack(i):
        n = 0
        while not stop.is_set():
            n += 1
            # --spread: a new source address (127.1.I.N) every 2 attempts, as
            # a botnet would, so that no per-address throttle applies.
            source = "127.1.%d.%d" % (i, 1 + n % 250) if a.spread else "127.0.0.1"
            tries = 0
            try:
                s, f = attacker_conn(a.smtps, source)
                while not stop.is_set() and not (a.spread and tries == 2):
                    tries += 1
                    s.sendall(("AUTH PLAIN %s\r\n" % WRONG).encode())
                    r = read_reply(f)
                    if not r.startswith("535"):
                        break
                    with lock:
                        failures[0] += 1
                s.close()
            except OSError:
                time.sleep(0.05)

    threads = [threading.Thread(target=attack, args=(i,), daemon=True) for i in range(a.attackers)]
    for t in threads:
        t.start()
    if a.attackers:
        time.sleep(a.warmup)
    times = []
    for _ in range(a.probes):
        _, ehlo, took = probe(a.mta)
        if not ehlo.startswith("250"):
            print("probe failed:", ehlo, file=sys.stderr)
        times.append(took * 1000)
        time.sleep(0.1)
    stop.set()
    times.sort()
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    print(
        "attackers=%d%s probes=%d ehlo_ms median=%.1f p90=%.1f max=%.1f auth_failures=%d"
        % (a.attackers, " (spread)" if a.spread else "", a.probes, statistics.median(times), p90, times[-1], failures[0])
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["order", "latency", "repeat"])
    ap.add_argument("--mta", type=int, required=True)
    ap.add_argument("--smtps", type=int, required=True)
    ap.add_argument("--attackers", type=int, default=4)
    ap.add_argument("--probes", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--users", default="")
    ap.add_argument("--stagger", type=float, default=0.0)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--spread", action="store_true")
    a = ap.parse_args()
    {"order": order, "latency": latency, "repeat": repeat}[a.mode](a)


if __name__ == "__main__":
    main()
