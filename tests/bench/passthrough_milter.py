#!/usr/bin/python3
"""A pass-through mail filter for tests/bench/milter.sh (Debian's
python3-milter, i.e. pymilter over sendmail's libmilter): both MTAs in the
milter benchmark talk to this same filter.

usage: passthrough_milter.py PORT
  listens on inet:PORT@127.0.0.1. It asks for every step (connect, HELO,
  MAIL, RCPT, headers, end of headers, body, end of message) and replies to
  each one, so the whole message streams through it; it never skips the
  body. At end of message it adds "X-Bench-Milter: pass" and accepts.

It prints "ready" once it is about to listen and, when stopped with SIGTERM
or SIGINT, one line
  messages=N headers=N body_bytes=N
with what it saw, so the benchmark can check that no message bypassed it.
"""
import sys
import threading

import Milter

LOCK = threading.Lock()
SEEN = {"messages": 0, "headers": 0, "body_bytes": 0}


class PassThrough(Milter.Base):
    """One per SMTP connection (libmilter runs each in its own thread)."""

    def __init__(self):
        self.headers = 0
        self.body_bytes = 0

    def connect(self, hostname, family, hostaddr):
        return Milter.CONTINUE

    def hello(self, hostname):
        return Milter.CONTINUE

    def envfrom(self, sender, *params):
        self.headers = 0
        self.body_bytes = 0
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        return Milter.CONTINUE

    def header(self, name, value):
        self.headers += 1
        return Milter.CONTINUE

    def eoh(self):
        return Milter.CONTINUE

    def body(self, chunk):
        self.body_bytes += len(chunk)
        return Milter.CONTINUE

    def eom(self):
        self.addheader("X-Bench-Milter", "pass")
        with LOCK:
            SEEN["messages"] += 1
            SEEN["headers"] += self.headers
            SEEN["body_bytes"] += self.body_bytes
        return Milter.ACCEPT


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    Milter.factory = PassThrough
    Milter.set_flags(Milter.ADDHDRS)
    print("ready", flush=True)
    # libmilter catches SIGTERM/SIGINT and returns from its main loop
    Milter.runmilter("bench-pass", f"inet:{sys.argv[1]}@127.0.0.1", 60)
    with LOCK:
        print(" ".join(f"{k}={v}" for k, v in SEEN.items()), flush=True)


if __name__ == "__main__":
    main()
