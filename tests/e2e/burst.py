#!/usr/bin/env python3
"""burst.py -- send COUNT numbered messages over SMTP with CONC parallel
connections (used by scenarios 4 and 8 of tests/e2e/run).

Usage: burst.py SERVER PORT COUNT CONC TAG FROM RCPT[,RCPT...]

Message i (0 <= i < COUNT) goes to RCPT[i % len(RCPTS)] with
Message-ID: <TAG-i@example.com>, so the receiving end can check that every
message arrived exactly once.  Each connection sends up to 50 messages
before it reconnects.  A message the server does not take (any reply but
2xx/354 where those are due, a dropped connection) is retried on a fresh
connection, up to 20 times per message, 1 s apart: what an MTA does with a
temporary failure, bounded.  A message counts as sent once the server
answered 250 to its final dot.

One process, asyncio, plain sockets: the client must not be the slowest
hop of a burst that shares two cores with the hops it measures (a thread
per connection with smtplib topped out near 300 messages a second here).
Prints `sent N of COUNT in S s` on stdout; exit 1 if any was never taken.
"""
import asyncio
import sys
import time

server, port, count, conc, tag, sender, rcpts = sys.argv[1:8]
port, count, conc = int(port), int(count), int(conc)
rcpts = rcpts.split(",")
PER_CONNECTION = 50
TRIES = 20
TIMEOUT = 60


def message(i):
    return (
        f"From: {sender}\r\nTo: {rcpts[i % len(rcpts)]}\r\n"
        f"Subject: {tag} {i}\r\nMessage-ID: <{tag}-{i}@example.com>\r\n\r\n"
        f"message {i} of {count}\r\n" + "x" * 700 + "\r\n.\r\n"
    ).encode()


class Refused(Exception):
    pass


async def reply(reader, want):
    """Read one (multi-line) reply; raise Refused unless its code starts with WANT."""
    while True:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            if not line.startswith(want):
                raise Refused(line.decode(errors="replace").strip())
            return


class Connection:
    def __init__(self):
        self.reader = self.writer = None
        self.used = 0

    async def open(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(server, port), TIMEOUT)
        self.used = 0
        await reply(self.reader, b"220")
        self.writer.write(b"EHLO burst.example.com\r\n")
        await reply(self.reader, b"250")

    async def send(self, i):
        w, r = self.writer, self.reader
        w.write(b"MAIL FROM:<%s>\r\n" % sender.encode())
        await reply(r, b"250")
        w.write(b"RCPT TO:<%s>\r\n" % rcpts[i % len(rcpts)].encode())
        await reply(r, b"25")
        w.write(b"DATA\r\n")
        await reply(r, b"354")
        w.write(message(i))
        await reply(r, b"250")
        self.used += 1

    async def close(self, polite):
        if self.writer is None:
            return
        try:
            if polite:
                self.writer.write(b"QUIT\r\n")
                await reply(self.reader, b"221")
        except (OSError, asyncio.TimeoutError, Refused, ConnectionError):
            pass
        self.writer.close()
        self.reader = self.writer = None


async def main():
    queue = list(range(count - 1, -1, -1))
    sent, failed = 0, []

    async def worker():
        nonlocal sent
        conn = Connection()
        while queue:
            i = queue.pop()
            for tries in range(1, TRIES + 1):
                try:
                    if conn.writer is None or conn.used >= PER_CONNECTION:
                        await conn.close(conn.writer is not None)
                        await conn.open()
                    await conn.send(i)
                    sent += 1
                    break
                except (OSError, asyncio.TimeoutError, Refused, ConnectionError) as e:
                    await conn.close(False)
                    if tries == TRIES:
                        failed.append((i, str(e)))
                    else:
                        await asyncio.sleep(1)
        await conn.close(True)

    start = time.time()
    await asyncio.gather(*(worker() for _ in range(conc)))
    print(f"sent {sent} of {count} in {time.time() - start:.1f} s")
    for i, e in failed[:5]:
        print(f"message {i} never taken: {e}", file=sys.stderr)
    return 0 if sent == count else 1


sys.exit(asyncio.run(main()))
