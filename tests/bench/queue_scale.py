#!/usr/bin/env python3
"""A large queue, mxgate beside Postfix in one run (issue 16, "a queue of
1,000,000 messages"). Run through queue_scale.sh, which enters a private
network namespace with only loopback, as ../shared/bench/run.sh does.

For each peer, through its bench hook (start PORT SINKPORT WORKDIR), with
nothing listening on SINKPORT, so every delivery is refused and the mail
stays queued:

  1. accept N/2 messages from a normal sender, then N/2 from the null sender
     (a bounce flood), with smtp-source at C connections: time and rate;
  2. wait until the MTA is quiet, then its memory (PSS of every MTA process
     over the empty-queue baseline, per queued message) and the CPU it uses
     in 20 s of holding the queue (its rescans);
  3. time the operator's commands while a probe client keeps sending one
     message every 100 ms (its 250s' latency shows whether the MTA keeps
     accepting): list (mailq / postqueue -p), summary (mxgate queue summary
     / qshape deferred), select the bounces without removing them (mxgate
     queue delete --from '<>' --dry-run / the documented postqueue -p | awk
     recipe), delete them (mxgate queue delete --from '<>' / the same recipe
     into postsuper -d -);
  4. start the sink, ask for a queue run (mxgate queue flush / postqueue
     -f) and time the drain of what is left.

Prints one table, each figure beside the peer's and the ratio. Nothing is
asserted. Needs Postfix unpacked by ../shared/bench/setup.sh (smtp-source,
smtp-sink, postqueue, postsuper, qshape) and the mxgate release build.
"""
import argparse, os, re, signal, smtplib, statistics, subprocess, sys, threading, time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.environ.get("BENCH", os.path.join(os.path.dirname(TOP), "shared", "bench"))
sys.path.insert(0, BENCH)
import bench  # noqa: E402  (CGroup, mem_of, wait_port, smtp-source/sink paths)

PFROOT = os.path.join(bench.PEERS_ROOT, "root/postfix")
PF = os.path.join(PFROOT, "usr/sbin")
MXGATE = os.environ.get("MXGATE_BIN", os.path.join(TOP, "target/release/mxgate"))


def pss_kib(cg):
    pss = 0
    for pid in cg.pids():
        _, p = bench.mem_of(pid)
        pss += p
    return pss


def quiet(cg, limit=600.0, idle=0.05, span=2.0):
    """Wait until the MTA uses under `idle` of a CPU over `span` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        a = cg.usage_s()
        time.sleep(span)
        if (cg.usage_s() - a) / span < idle:
            return time.monotonic() - t0
    return None


class Probe(threading.Thread):
    """One message every 100 ms; records each 250's latency (ms) or the failure."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop_ev, self.lat, self.fail, self.sent = port, threading.Event(), [], 0, 0

    def run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                    s.sendmail("probe@bench.test", ["rcpt@example.test"],
                               b"Subject: probe\r\n\r\nprobe\r\n")
                self.lat.append((time.monotonic() - t0) * 1000)
                self.sent += 1
            except Exception:
                self.fail += 1
            self.stop_ev.wait(0.1)

    def summary(self):
        if not self.lat:
            return f"none accepted ({self.fail} failed)"
        m = statistics.median(self.lat)
        return f"{m:.0f} ms median, {max(self.lat):.0f} ms max, {self.fail} failed"


def timed(cmd, cg_probe_port, shell=False, env=None):
    """Run an operator command while a probe sends; returns (seconds, stdout, probe)."""
    p = Probe(cg_probe_port)
    p.start()
    t0 = time.monotonic()
    r = subprocess.run(cmd, shell=shell, capture_output=True, text=True, env=env, timeout=3600)
    took = time.monotonic() - t0
    p.stop_ev.set()
    p.join()
    if r.returncode not in (0, 1):
        raise RuntimeError(f"{cmd}: exit {r.returncode}: {r.stderr[-300:]}")
    return took, r.stdout, p


class Peer:
    def __init__(self, name, work, port, sink_port):
        self.name, self.work, self.port, self.sink_port = name, work, port, sink_port
        self.probes = 0

    def hook(self):
        return (os.path.join(TOP, "tests/bench/hook.sh") if self.name == "mxgate"
                else os.path.join(BENCH, "postfix/hook.sh"))

    # The operator's commands, as each MTA's documentation gives them.
    def list_cmd(self):
        if self.name == "mxgate":
            return [MXGATE, "mailq", "-C", f"{self.work}/bench.mc"]
        return [f"{PF}/postqueue", "-c", f"{self.work}/etc", "-p"]

    def summary_cmd(self):
        if self.name == "mxgate":
            return [MXGATE, "queue", "-C", f"{self.work}/bench.mc", "summary"]
        return f"PATH={PF}:$PATH {PF}/qshape -c {self.work}/etc deferred"

    def select_bounces_cmd(self, delete):
        if self.name == "mxgate":
            return [MXGATE, "queue", "-C", f"{self.work}/bench.mc", "delete", "--from", "<>"] + (
                [] if delete else ["--dry-run"])
        sel = (f"{PF}/postqueue -c {self.work}/etc -p | awk 'BEGIN {{ RS = \"\" }} "
               f"/ MAILER-DAEMON/ {{ print $1 }}' | tr -d '*!'")
        return sel + (f" | {PF}/postsuper -c {self.work}/etc -d -" if delete else " | wc -l")

    def flush_cmd(self):
        if self.name == "mxgate":
            return [MXGATE, "queue", "-C", f"{self.work}/bench.mc", "flush"]
        return [f"{PF}/postqueue", "-c", f"{self.work}/etc", "-f"]


def run_peer(a, name):
    work = os.path.join(a.workroot, f"qscale_{name}")
    subprocess.run(["rm", "-rf", work])
    os.makedirs(work)
    peer = Peer(name, work, a.port, a.sink_port)
    cg = bench.CGroup(f"qscale_{name}_{os.getpid()}")
    load = bench.CGroup(f"qscale_load_{os.getpid()}")
    out = {}
    sink = None
    try:
        r = subprocess.run([peer.hook(), "start", str(a.port), str(a.sink_port), work],
                           preexec_fn=cg.add_self_preexec(), capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or not bench.wait_port(a.port, 30):
            raise RuntimeError(f"{name} did not start: {r.stdout}{r.stderr}")
        time.sleep(1.0)
        base = pss_kib(cg)
        # 1. Accept: half from a normal sender, half from <>.
        half = a.n // 2
        t0 = time.monotonic()
        for sender, m in (("sender@bench.test", half), ("", a.n - half)):
            gen = subprocess.run(
                [bench.SMTP_SOURCE, "-s", str(a.c), "-m", str(m), "-l", "4096", "-f", sender,
                 "-t", "rcpt@example.test", "-N", "-M", "gen.bench.test", f"127.0.0.1:{a.port}"],
                capture_output=True, text=True, preexec_fn=load.add_self_preexec(), timeout=36000)
            if gen.returncode != 0:
                raise RuntimeError(f"smtp-source: {gen.stdout[-300:]}{gen.stderr[-300:]}")
        acc = time.monotonic() - t0
        out["accept"] = (acc, a.n / acc)
        # 2. Holding the queue.
        settle = quiet(cg)
        out["settle"] = settle
        held = pss_kib(cg)
        out["memory"] = (held / 1024, (held - base) * 1024 / a.n)
        c0 = cg.usage_s()
        time.sleep(20)
        out["idle_cpu"] = cg.usage_s() - c0
        # 3. Operator commands, with a probe sending meanwhile.
        for key, cmd in (("list", peer.list_cmd()), ("summary", peer.summary_cmd()),
                         ("select", peer.select_bounces_cmd(False)),
                         ("delete", peer.select_bounces_cmd(True))):
            took, stdout, probe = timed(cmd, a.port, shell=isinstance(cmd, str))
            peer.probes += probe.sent
            out[key] = (took, probe.summary(), stdout)
        listed = out["list"][2]
        out["listed"] = len(re.findall(r"^[0-9A-Za-z]{10,}[*!]?\s", listed, re.M))
        sel = out["select"][2]
        m = re.search(r"^(\d+) message\(s\) would delete", sel, re.M)
        out["selected"] = int(m.group(1)) if m else int(sel.strip() or 0)
        quiet(cg)
        # 4. Drain what is left: the normal half and the probes.
        left = a.n - (a.n - half) + peer.probes
        sink = subprocess.Popen([bench.SMTP_SINK, "-u", "nobody", "-c", "-M", str(left),
                                 f"127.0.0.1:{a.sink_port}", "256"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                preexec_fn=load.add_self_preexec())
        bench.wait_port(a.sink_port, 10)
        c0 = cg.usage_s()
        t0 = time.monotonic()
        subprocess.run(peer.flush_cmd(), capture_output=True, timeout=600)
        try:
            sink.wait(timeout=a.drain_timeout)
            took = time.monotonic() - t0
            out["drain"] = (took, left / took, (cg.usage_s() - c0) / left * 1000)
        except subprocess.TimeoutExpired:
            out["drain"] = None
        out["left"] = left
    except Exception as e:
        out["error"] = str(e)[-500:]
    finally:
        subprocess.run([peer.hook(), "stop", work], capture_output=True, timeout=120)
        for i in range(30):
            pids = cg.pids()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGTERM if i < 15 else signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        if sink and sink.poll() is None:
            sink.kill()
        for p in load.pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.3)
        cg.remove()
        load.remove()
        if not a.keep:
            subprocess.run(["rm", "-rf", work])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000, help="messages queued (half from <>)")
    ap.add_argument("--c", type=int, default=10)
    ap.add_argument("--peers", default="postfix,mxgate")
    ap.add_argument("--port", type=int, default=10025)
    ap.add_argument("--sink-port", type=int, default=10026)
    ap.add_argument("--drain-timeout", type=float, default=3600)
    ap.add_argument("--workroot", default="/var/tmp/mtabench")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    a = ap.parse_args()
    res = {}
    for name in a.peers.split(","):
        print(f"== {name}: {a.n} messages, C={a.c}", flush=True)
        res[name] = run_peer(a, name)
        r = res[name]
        if "error" in r:
            print(f"   error: {r['error']}", flush=True)
    names = a.peers.split(",")

    def cell(name, f):
        r = res.get(name, {})
        try:
            return f(r)
        except Exception:
            return "n/a" if "error" not in r else "error"

    rows = [
        ("accept N messages (s, msgs/s)", lambda r: f"{r['accept'][0]:.0f} s, {r['accept'][1]:.0f}/s"),
        ("quiet after (s)", lambda r: f"{r['settle']:.0f} s"),
        ("memory holding them (PSS MiB; bytes/msg over idle)",
         lambda r: f"{r['memory'][0]:.0f} MiB; {r['memory'][1]:.0f} B"),
        ("CPU in 20 s of holding (rescans)", lambda r: f"{r['idle_cpu']:.2f} CPU-s"),
        ("list (mailq / postqueue -p)", lambda r: f"{r['list'][0]:.1f} s ({r['listed']} listed)"),
        ("  probe 250s meanwhile", lambda r: r["list"][1]),
        ("summary (queue summary / qshape)", lambda r: f"{r['summary'][0]:.1f} s"),
        ("  probe 250s meanwhile", lambda r: r["summary"][1]),
        ("select bounces, dry run", lambda r: f"{r['select'][0]:.1f} s ({r['selected']} selected)"),
        ("  probe 250s meanwhile", lambda r: r["select"][1]),
        ("delete bounces (N/2)", lambda r: f"{r['delete'][0]:.1f} s"),
        ("  probe 250s meanwhile", lambda r: r["delete"][1]),
        ("drain the rest (s, msgs/s, CPU-s/1000)",
         lambda r: f"{r['drain'][0]:.0f} s, {r['drain'][1]:.0f}/s, {r['drain'][2]:.2f}" if r["drain"]
         else "timed out"),
    ]
    print()
    print("| step | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, f in rows:
        print(f"| {label} | " + " | ".join(cell(n, f) for n in names) + " |")
    if "mxgate" in res and "postfix" in res:
        m, p = res["mxgate"], res["postfix"]
        ratios = []
        for key, what in (("list", "list"), ("summary", "summary"), ("select", "dry run"),
                          ("delete", "delete")):
            try:
                ratios.append(f"{what} {m[key][0] / p[key][0]:.2f}x")
            except Exception:
                pass
        try:
            ratios.append(f"accept {m['accept'][1] / p['accept'][1]:.2f}x the rate")
            ratios.append(f"drain {m['drain'][1] / p['drain'][1]:.2f}x the rate")
            ratios.append(f"memory {m['memory'][0] / p['memory'][0]:.2f}x")
        except Exception:
            pass
        print()
        print("mxgate / Postfix: time " + ", ".join(ratios))


if __name__ == "__main__":
    main()
