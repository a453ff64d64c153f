#!/usr/bin/env python3
"""Where a session's time goes, phase by phase, on the mix workload.

  tests/bench/phases.py PORT CLIENTS MESSAGES [SEED]

Sends MESSAGES messages to 127.0.0.1:PORT from CLIENTS concurrent asyncio
sessions, one SMTP session per message, with the sizes of the shared
bench's mix workload (../shared/bench/gen_mix.py: the same seeded
sequence). Times each phase as the client sees it: connect, greeting,
EHLO, MAIL, RCPT, DATA, the content up to its 250 ("dot": the MTA's
receipt and durable commit), QUIT. Prints the rate, then per phase the
mean, median and 90th percentile in ms, then the mean session time per
size class. Pointed at smtp-sink it shows the generator's own share.
Measures; asserts only that every message was answered as SMTP says.
"""
import asyncio
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("MTABENCH", os.path.join(HERE, "..", "..", "..", "shared", "bench"))
spec = importlib.util.spec_from_file_location("gen_mix", os.path.join(BENCH, "gen_mix.py"))
gen_mix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_mix)

PHASES = ["connect", "greeting", "ehlo", "mail", "rcpt", "data", "dot", "quit"]
CLASSES = [(0, 10_000), (10_000, 32_768), (32_768, 131_072), (131_072, 10**9)]


async def session(port, idx, size, body, times):
    marks = [time.monotonic()]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    marks.append(time.monotonic())
    try:
        steps = [
            (None, 220),
            (b"EHLO phases.bench.test\r\n", 250),
            (b"MAIL FROM:<sender@bench.test>\r\n", 250),
            (b"RCPT TO:<%drcpt@example.test>\r\n" % idx, 250),
            (b"DATA\r\n", 354),
        ]
        for line, want in steps:
            if line:
                writer.write(line)
            code = await gen_mix.reply(reader)
            if code != want and not (want == 250 and code == 251):
                raise RuntimeError(f"{line!r}: {code}")
            marks.append(time.monotonic())
        cut = size - size % 78
        writer.write(b"Subject: phases %d size %d\r\n\r\n" % (idx, size))
        writer.write(memoryview(body)[: max(cut, 78)])
        writer.write(b".\r\n")
        if await gen_mix.reply(reader) != 250:
            raise RuntimeError("content refused")
        marks.append(time.monotonic())
        writer.write(b"QUIT\r\n")
        await gen_mix.reply(reader)
        marks.append(time.monotonic())
    finally:
        writer.close()
    times.append((size, [b - a for a, b in zip(marks, marks[1:])]))


async def main(port, clients, m, seed):
    sizes = gen_mix.sizes(m, seed)
    body = gen_mix.make_body(max(sizes), seed)
    times, nxt = [], 0

    async def worker():
        nonlocal nxt
        while nxt < m:
            i = nxt
            nxt += 1
            await session(port, i, sizes[i], body, times)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.monotonic() - t0
    print(f"{m} messages, {clients} clients: {m / elapsed:.0f} msgs/s")
    print("| phase | mean ms | median ms | 90th percentile ms |")
    print("|---|---|---|---|")
    for n, name in enumerate(PHASES):
        v = sorted(t[n] for _, t in times)
        print(f"| {name} | {1000 * sum(v) / len(v):.2f} | {1000 * v[len(v) // 2]:.2f} "
              f"| {1000 * v[int(len(v) * 0.9)]:.2f} |")
    for lo, hi in CLASSES:
        v = [sum(t) for s, t in times if lo <= s < hi]
        if v:
            print(f"size {lo}-{hi}: {len(v)} messages, session mean {1000 * sum(v) / len(v):.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                     int(sys.argv[4]) if len(sys.argv) == 5 else 1))
