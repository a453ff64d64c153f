#!/usr/bin/env python3
"""The Prometheus scrape of a large queue, per peer build.

Each peer (a directory with a hook.sh, as compare.sh takes) is started with
its metrics endpoint on and its next hop down (nothing listens on the sink
port), so every message stays queued. N messages of 2 KB go in over 10
connections (many messages per session), then: the first scrape's time (a
full scan of the spool), and SCRAPES scrapes one second apart (Prometheus
with scrape_interval 1s): each answer's time, and the daemon's CPU seconds
and most threads over that minute.

  scrape.py --peers "/tmp/a /tmp/b" [--n 50000] [--scrapes 20] [--work DIR]

Prints one markdown row per peer.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("closed")
        if len(line) < 4 or line[3:4] == b" ":
            return int(line[:3])


def load(port, n, clients=10):
    body = b"Subject: queued\r\n\r\n" + (b"x" * 76 + b"\r\n") * 26
    each = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    sent = [0] * clients

    def worker(i):
        s = socket.create_connection(("127.0.0.1", port))
        f = s.makefile("rb")
        reply(f)
        s.sendall(b"EHLO load.bench.test\r\n")
        reply(f)
        for k in range(each[i]):
            s.sendall(b"MAIL FROM:<s%d@bench.test>\r\nRCPT TO:<r%d@example.test>\r\nDATA\r\n" % (k, k))
            codes = (reply(f), reply(f), reply(f))
            if codes != (250, 250, 354):
                raise RuntimeError(f"refused: {codes}")
            s.sendall(body + b".\r\n")
            if reply(f) == 250:
                sent[i] += 1
        s.sendall(b"QUIT\r\n")
        s.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(sent)


def scrape(mport):
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=30) as r:
        text = r.read().decode()
    took = time.monotonic() - t0
    queued = sum(
        float(l.rsplit(" ", 1)[1])
        for l in text.splitlines()
        if l.startswith('mxgate_queue_messages{') and 'state="queue"' in l
    )
    return took, queued


def cpu_and_threads(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(fields[17])


def run_peer(peer, a):
    work = os.path.join(a.work, peer.strip("/").replace("/", "_"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    port, sink, mport = free_port(), free_port(), free_port()
    env = dict(os.environ, MXGATE_BENCH_MC=f"define(`confMXGATE_METRICS_ADDR', `127.0.0.1:{mport}')dnl")
    hook = os.path.join(peer, "hook.sh")
    subprocess.run(["bash", hook, "start", str(port), str(sink), work], env=env, check=True)
    try:
        pid = int(open(os.path.join(work, "mxgate.pid")).read().strip())
        t0 = time.monotonic()
        n = load(port, a.n)
        accepted = time.monotonic() - t0
        first, queued = scrape(mport)
        c0, _ = cpu_and_threads(pid)
        w0 = time.monotonic()
        answers, most = [], 0
        for _ in range(a.scrapes):
            t = time.monotonic()
            answers.append(scrape(mport)[0])
            most = max(most, cpu_and_threads(pid)[1])
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
        c1, _ = cpu_and_threads(pid)
        return dict(peer=peer, n=n, accept_s=accepted, first=first, queued=queued,
                    median=statistics.median(answers), max=max(answers),
                    cpu=c1 - c0, span=time.monotonic() - w0, threads=most)
    finally:
        subprocess.run(["bash", hook, "stop", work])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", required=True)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--work", default="/var/tmp/mxscrape")
    a = ap.parse_args()
    print("| peer | queued | first scrape (s) | scrapes 1 s apart: median / max answer (s) | daemon CPU-s over them | most threads |")
    print("|---|---|---|---|---|---|")
    for peer in a.peers.split():
        r = run_peer(peer, a)
        print(f"| {r['peer']} | {r['n']} accepted in {r['accept_s']:.0f} s, gauge {r['queued']:.0f} | "
              f"{r['first']:.2f} | {r['median']:.3f} / {r['max']:.2f} | "
              f"{r['cpu']:.1f} in {r['span']:.0f} s | {r['threads']} |", flush=True)


if __name__ == "__main__":
    main()
