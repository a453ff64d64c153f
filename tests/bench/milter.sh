#!/bin/bash
# Relay throughput with one pass-through mail filter, Postfix beside mxgate
# in one run, through ../shared/bench/run.sh (same generator, sink, cgroup
# accounting, network namespace):
#   tests/bench/milter.sh [--m N] [--c N] [--workload fixed4k|mix] [--runs N]
# Each peer is started by its usual hook plus the same filter,
# tests/bench/passthrough_milter.py (pymilter, CONTINUE at every step) on
# 127.0.0.1:8891: Postfix with smtpd_milters (milter_protocol 6,
# milter_default_action tempfail), mxgate with INPUT_MAIL_FILTER(F=T). The
# filter runs inside the peer's cgroup, so "CPU" is the MTA plus the
# filter it drives; "filter CPU" is the filter's own share (from /proc at
# stop). Prints msgs/s and CPU-s per 1000 messages for both, and the ratio.
# The bench is ../shared/bench beside the checkout, or MTABENCH=DIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BENCH=${MTABENCH:-$TOP/../shared/bench}
M=5000 C=10 WL=fixed4k RUNS=1 TIMEOUT=300
while [ $# -gt 0 ]; do
  case "$1" in
    --m) M=$2; shift 2 ;;
    --c) C=$2; shift 2 ;;
    --workload) WL=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    *) sed -n 2,13p "$0"; exit 2 ;;
  esac
done
/usr/bin/python3 -c 'import Milter' 2>/dev/null || {
  echo "milter.sh: python3-milter is missing: apt-get install -y python3-milter" >&2; exit 1; }
(cd "$TOP" && cargo build --release -q)
export MXGATE_BIN=${MXGATE_BIN:-${CARGO_TARGET_DIR:-$TOP/target}/release/mxgate}
# Under /var: Postfix's maillog_file must match maillog_file_prefixes
# (/var); mode 755 so Postfix's unprivileged processes reach their files.
WORK=$(mktemp -d /var/tmp/mxmb.XXXXXX) # short: unix socket paths under it
chmod 755 "$WORK"
OUT=${OUT:-$WORK/results.jsonl}
FILTER=$HERE/passthrough_milter.py
MPORT=8891

# A hook directory per peer: start the filter, then the peer's own hook.
wrap() { # NAME INNER_HOOK
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/hook.sh" <<HOOK
#!/bin/bash
set -euo pipefail
case "\$1" in
start)
  setsid /usr/bin/python3 "$FILTER" inet:$MPORT@127.0.0.1 </dev/null >"\$4.milter.log" 2>&1 &
  echo \$! > "\$4.milter.pid"
  for i in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$MPORT) 2>/dev/null && break; sleep 0.05; done
  exec "$2" "\$@"
  ;;
stop)
  "$2" "\$@" || true
  pid=\$(cat "\$2.milter.pid" 2>/dev/null || true)
  if [ -n "\$pid" ]; then
    # utime+stime in clock ticks, then stop the filter by its pid
    awk '{print \$14+\$15}' "/proc/\$pid/stat" > "\$2.milter.ticks" 2>/dev/null || true
    kill -TERM "\$pid" 2>/dev/null || true
  fi
  ;;
esac
HOOK
  chmod +x "$WORK/$1/hook.sh"
}

# Postfix: its bench configuration plus the filter.
mkdir -p "$WORK/pf"
cp "$BENCH/postfix/"* "$WORK/pf/"
cat >> "$WORK/pf/main.cf" <<CF
# tests/bench/milter.sh: one pass-through filter
smtpd_milters = inet:127.0.0.1:$MPORT
milter_protocol = 6
milter_default_action = tempfail
CF
wrap pfm "$WORK/pf/hook.sh"
wrap mxm "$HERE/hook.sh"
export MXGATE_BENCH_MC="INPUT_MAIL_FILTER(\`pass', \`S=inet:$MPORT@127.0.0.1, F=T')dnl"

for peer in pfm mxm; do
  bash "$BENCH/run.sh" "$WORK/$peer" --workload "$WL" --c "$C" --m "$M" --runs "$RUNS" \
    --timeout "$TIMEOUT" --out "$OUT" --workroot "$WORK/runs" | grep -E '^(RESULT|SUMMARY)' || true
done

/usr/bin/python3 - "$OUT" "$WORK" "$M" <<'PY'
import glob, json, os, statistics, sys
out, work, m = sys.argv[1], sys.argv[2], int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
rows = {}
for line in open(out):
    r = json.loads(line)
    name = os.path.basename(r["peer"].rstrip("/"))
    rows.setdefault(name, []).append(r)
def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None
res = {}
print()
print("| peer | workload | C | M | ok runs | e2e msgs/s | CPU-s /1000 msgs (MTA + filter) | filter CPU-s /1000 msgs |")
print("|---|---|---|---|---|---|---|---|")
for name, label in (("pfm", "Postfix"), ("mxm", "mxgate")):
    rs = rows.get(name, [])
    ok = [r for r in rs if r.get("ok")]
    ticks = []
    for f in glob.glob(os.path.join(work, "**", "*.milter.ticks"), recursive=True):
        if os.path.basename(f).endswith("_" + name + ".milter.ticks"):
            try:
                ticks.append(float(open(f).read().split()[0]) / tick)
            except (OSError, ValueError, IndexError):
                pass
    e2e, cpu = med(ok, "e2e_mps"), med(ok, "cpu_s_per_1k")
    fcpu = statistics.median(ticks) / m * 1000 if ticks else None
    res[name] = (e2e, cpu)
    wl = rs[0]["wl"] if rs else "-"
    c = rs[0]["C"] if rs else "-"
    f = lambda v, p: "-" if v is None else f"{v:.{p}f}"
    print(f"| {label} + pass-through milter | {wl} | {c} | {m} | {len(ok)}/{len(rs)} | {f(e2e, 0)} | {f(cpu, 2)} | {f(fcpu, 2)} |")
(pe, pc), (xe, xc) = res.get("pfm", (None, None)), res.get("mxm", (None, None))
if pe and xe and pc and xc:
    print()
    print(f"mxgate / Postfix: rate x{xe / pe:.2f}, CPU per message x{xc / pc:.2f}")
print()
print(f"raw records: {out}")
PY
