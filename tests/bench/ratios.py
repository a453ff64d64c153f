#!/usr/bin/env python3
"""Each peer against Postfix, from the records of one compare.sh run.

    ratios.py RECORDS.jsonl MXGATE_HOOK_DIR

Per workload and concurrency: the median end-to-end rate, CPU-s per 1000
messages and peak memory of every peer over its successful runs, and each
as a multiple of Postfix's medians from the same file (the issue's goals
are these ratios: rate >= 3.5x at C=10, CPU <= 0.25x, memory below).
A workload without a Postfix run gets no ratios.
"""
import json
import os
import statistics
import sys
from collections import defaultdict


def label(peer, mxgate_dir):
    path = os.path.normpath(peer)
    if path == os.path.normpath(mxgate_dir):
        return "mxgate"
    return os.path.basename(path) if "/shared/bench/" in peer else peer


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    path, mxgate_dir = sys.argv[1], sys.argv[2]
    runs = defaultdict(list)
    order = []
    with open(path) as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            if not r.get("ok") or not r.get("e2e_mps"):
                continue
            key = (r["wl"], r["C"], label(r["peer"], mxgate_dir))
            if key not in runs:
                order.append(key)
            runs[key].append(r)

    def med(key, field):
        vals = [r[field] for r in runs[key] if r.get(field) is not None]
        return statistics.median(vals) if vals else None

    def times(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "-"

    print("| workload | C | peer | msgs/s | against Postfix | CPU-s/1000 | against Postfix's | peak PSS MiB | against Postfix's |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in order:
        wl, c, peer = key
        base = (wl, c, "postfix")
        rate, cpu, mem = med(key, "e2e_mps"), med(key, "cpu_s_per_1k"), med(key, "peak_pss_mb")
        has_base = base in runs and key != base
        print(
            f"| {wl} | {c} | {peer} | {rate:.0f} | {times(rate, med(base, 'e2e_mps')) if has_base else '-'} "
            f"| {cpu:.2f} | {times(cpu, med(base, 'cpu_s_per_1k')) if has_base else '-'} "
            f"| {mem:.0f} | {times(mem, med(base, 'peak_pss_mb')) if has_base else '-'} |"
        )


if __name__ == "__main__":
    main()
