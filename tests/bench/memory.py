#!/usr/bin/env python3
"""Memory of the receiving MTA under large messages and slow clients, each
peer in the same run, started by its ../shared/bench hook (same sink, same
cgroup accounting as run.sh):

1. C clients at once (smtp-source -s C -m C), each sending one message of
   SIZE bytes; the MTA relays them to smtp-sink. Printed: the time to
   accept them all, the peak memory of all the MTA's processes (summed PSS
   and RSS, sampled every 50 ms; for mxgate also the kernel's VmHWM).
2. Slowloris: D clients open a transaction and dribble its data (1 KiB
   every half second) for SECONDS, while one normal client sends 4 KiB
   messages one after another. Printed: the normal client's time from the
   final "." to its 250 (median and worst), and the peak memory.

  tests/bench/memory.py [--peers mxgate,postfix] [--c 100] [--size 10000000]
                        [--dribblers 200] [--seconds 15]

Bounded in count and time; talks to 127.0.0.1 only. Run as root (cgroups).
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BENCH = os.environ.get("MTABENCH", os.path.join(TOP, "..", "shared", "bench"))
sys.path.insert(0, BENCH)
import bench  # noqa: E402  (the shared harness: CGroup, MemSampler, wait_port)


def hook_of(peer):
    """mxgate: tests/bench/hook.sh; a directory (a / in the name): its
    hook.sh; else a peer of the shared harness."""
    if peer == "mxgate":
        return os.path.join(HERE, "hook.sh")
    if os.sep in peer:
        return os.path.join(peer, "hook.sh")
    return os.path.join(BENCH, peer, "hook.sh")


def reply(f):
    while True:
        line = f.readline()
        if not line:
            return b"<eof>"
        if len(line) < 4 or line[3:4] == b" ":
            return line


def dribbler(port, stop, opened):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        f = s.makefile("rb")
        reply(f)
        for cmd in (b"EHLO slow.bench.test", b"MAIL FROM:<slow@bench.test>", b"RCPT TO:<rcpt@example.test>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            reply(f)
        opened.append(1)
        chunk = (b"x" * 1022) + b"\r\n"
        while not stop.is_set():
            s.sendall(chunk)
            stop.wait(0.5)
        s.close()
    except OSError:
        pass


def normal_client(port, stop, times):
    msg = b"Subject: normal\r\n\r\n" + (b"y" * 78 + b"\r\n") * 52 + b".\r\n"
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            f = s.makefile("rb")
            reply(f)
            for cmd in (b"EHLO fast.bench.test", b"MAIL FROM:<fast@bench.test>", b"RCPT TO:<rcpt@example.test>", b"DATA"):
                s.sendall(cmd + b"\r\n")
                reply(f)
            t = time.monotonic()
            s.sendall(msg)
            r = reply(f)
            if r.startswith(b"250"):
                times.append(time.monotonic() - t)
            s.sendall(b"QUIT\r\n")
            s.close()
        except OSError:
            times.append(float("inf"))
        stop.wait(0.2)


def vm_hwm(work):
    try:
        pid = open(os.path.join(work, "mxgate.pid")).read().strip()
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def one_peer(peer, a):
    port, sink_port = 10125, 10126
    work = os.path.join("/var/tmp/mxgate-membench", os.path.basename(peer.rstrip("/")))
    subprocess.run(["rm", "-rf", work])
    os.makedirs(work)
    os.chmod(work, 0o755)
    cg = bench.CGroup(f"mxmem_{os.path.basename(peer.rstrip('/'))}")
    sink = subprocess.Popen([bench.SMTP_SINK, "-u", "nobody", "-c", "-M", str(a.c), f"127.0.0.1:{sink_port}", "256"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    hook = hook_of(peer)
    out = {"peer": peer}
    try:
        if not bench.wait_port(sink_port, 10):
            raise RuntimeError("sink did not start")
        r = subprocess.run([hook, "start", str(port), str(sink_port), work], preexec_fn=cg.add_self_preexec(),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or not bench.wait_port(port, 30):
            raise RuntimeError(f"hook start failed: {r.stdout}{r.stderr}")
        time.sleep(1.0)
        ms = bench.MemSampler(cg, interval=0.05)
        ms.start()
        t0 = time.monotonic()
        gen = subprocess.run([bench.SMTP_SOURCE, "-s", str(a.c), "-m", str(a.c), "-l", str(a.size),
                              "-f", "sender@bench.test", "-t", "rcpt@example.test", "-N", "-M", "gen.bench.test",
                              f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=a.timeout)
        out["accept_s"] = round(time.monotonic() - t0, 1)
        out["gen_rc"] = gen.returncode
        try:
            sink.wait(timeout=a.timeout)
            out["relayed_s"] = round(time.monotonic() - t0, 1)
        except subprocess.TimeoutExpired:
            out["relayed_s"] = None
        ms.stop_ev.set()
        ms.join()
        out["big_pss_mib"] = round(ms.peak_pss / 1024)
        out["big_rss_mib"] = round(ms.peak_rss / 1024)
        out["big_hwm_mib"] = vm_hwm(work)
        # Slowloris.
        ms = bench.MemSampler(cg, interval=0.05)
        ms.start()
        stop, opened, times = threading.Event(), [], []
        threads = [threading.Thread(target=dribbler, args=(port, stop, opened), daemon=True) for _ in range(a.dribblers)]
        for t in threads:
            t.start()
        time.sleep(2)
        normal = threading.Thread(target=normal_client, args=(port, stop, times), daemon=True)
        normal.start()
        time.sleep(a.seconds)
        stop.set()
        normal.join(70)
        for t in threads:
            t.join(5)
        ms.stop_ev.set()
        ms.join()
        ok = [t for t in times if t != float("inf")]
        out["dribblers_open"] = len(opened)
        out["normal_msgs"] = len(ok)
        out["normal_failed"] = len(times) - len(ok)
        out["normal_p50_ms"] = round(statistics.median(ok) * 1000) if ok else None
        out["normal_max_ms"] = round(max(ok) * 1000) if ok else None
        out["slow_pss_mib"] = round(ms.peak_pss / 1024)
        out["slow_rss_mib"] = round(ms.peak_rss / 1024)
    except Exception as e:  # report and go on to the next peer
        out["error"] = str(e)[-300:]
    finally:
        subprocess.run([hook, "stop", work], capture_output=True, timeout=120)
        for p in cg.pids():
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass
        if sink.poll() is None:
            sink.kill()
        time.sleep(0.5)
        cg.remove()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", default="mxgate,postfix")
    ap.add_argument("--c", type=int, default=100)
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--dribblers", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    rows = [one_peer(p, a) for p in a.peers.split(",")]
    print(f"C={a.c} clients x {a.size} bytes; then {a.dribblers} dribbling clients for {a.seconds:.0f} s beside one normal client")
    print("| peer | accept s | relayed s | peak PSS MiB (sum RSS) | VmHWM MiB (one process) | dribblers open | normal msgs (failed) | normal 250 p50 / max ms | peak PSS MiB while dribbling (sum RSS) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['peer']} | error: {r['error']} |")
            continue
        print(f"| {r['peer']} | {r['accept_s']} | {r['relayed_s']} | {r['big_pss_mib']} ({r['big_rss_mib']}) | "
              f"{r['big_hwm_mib'] if r['big_hwm_mib'] is not None else '-'} | {r['dribblers_open']} | "
              f"{r['normal_msgs']} ({r['normal_failed']}) | {r['normal_p50_ms']} / {r['normal_max_ms']} | "
              f"{r['slow_pss_mib']} ({r['slow_rss_mib']}) |")


if __name__ == "__main__":
    main()
