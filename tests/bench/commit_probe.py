#!/usr/bin/env python3
"""How many durable commits a second this disk allows, three ways.

  tests/bench/commit_probe.py [--dir /var/tmp] [--threads 10] [--n 300] [--rounds 2]

Each of --threads threads commits --n messages of 4,500 bytes:
  file    as the spool does now: write a file, fdatasync it, rename it into
          q/, fsync q/ (the directory fsync shared between threads);
  syncfs  the same, with the fdatasync replaced by one syncfs(2) shared
          between the threads that wrote before it started;
  wal     append to one shared log file and share its fdatasync (a
          write-ahead log with group commit);
  walfile the log as in wal, plus what a spool built on it must also do:
          the message's own file written and renamed into q/ after the
          log's flush, without a flush of its own, and a checkpoint
          thread that makes those files durable with one syncfs(2)
          every 0.5 s;
  walpre  walfile with the log written over a preallocated, zeroed file
          (its flush then carries no change of size).
The modes alternate for --rounds rounds, since this shared disk's speed
changes from minute to minute. Prints commits per second for each run.
Nothing here asserts a time.
"""
import argparse
import ctypes
import os
import shutil
import tempfile
import threading
import time

libc = ctypes.CDLL("libc.so.6", use_errno=True)
DATA = b"x" * 4500


class Group:
    """Leader/follower sharing of one sync: a caller is covered by a sync
    that started after its write was counted."""

    def __init__(self):
        self.count = threading.Lock()
        self.sync = threading.Lock()
        self.written = 0
        self.synced = 0

    def counted(self, write=None):
        with self.count:
            if write:
                write()
            self.written += 1
            return self.written

    def wait(self, mine, do_sync):
        with self.sync:
            if self.synced >= mine:
                return
            with self.count:
                upto = self.written
            do_sync()
            self.synced = upto


def run(mode, top, threads, n):
    d = tempfile.mkdtemp(dir=top, prefix="commit-probe.")
    os.mkdir(d + "/q")
    os.mkdir(d + "/t")
    root = os.open(d, os.O_RDONLY)
    qdir = os.open(d + "/q", os.O_RDONLY)
    log = os.open(d + "/log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    data_group, dir_group = Group(), Group()
    pre = None
    if mode == "walpre":
        pre = os.open(d + "/pre", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(pre, bytes(threads * n * len(DATA) + (1 << 20)))
        os.fsync(pre)
        os.fsync(root)
    offset = [0]

    def pre_write():
        os.pwrite(pre, DATA, offset[0])
        offset[0] += len(DATA)

    stop = threading.Event()

    def checkpoint():
        while not stop.wait(0.5):
            syncfs()

    def syncfs():
        if libc.syncfs(root) != 0:
            raise OSError(ctypes.get_errno(), "syncfs")

    def worker(w):
        for i in range(n):
            if mode == "wal":
                mine = data_group.counted(lambda: os.write(log, DATA))
                data_group.wait(mine, lambda: os.fdatasync(log))
                continue
            if mode in ("walfile", "walpre"):
                p = f"{d}/t/{w}.{i}"
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.write(fd, DATA)
                os.close(fd)
                if pre is not None:
                    mine = data_group.counted(pre_write)
                    data_group.wait(mine, lambda: os.fdatasync(pre))
                else:
                    mine = data_group.counted(lambda: os.write(log, DATA))
                    data_group.wait(mine, lambda: os.fdatasync(log))
                os.rename(p, f"{d}/q/{w}.{i}")
                continue
            p = f"{d}/t/{w}.{i}"
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, DATA)
            if mode == "file":
                os.fdatasync(fd)
            else:
                data_group.wait(data_group.counted(), syncfs)
            os.close(fd)
            os.rename(p, f"{d}/q/{w}.{i}")
            dir_group.wait(dir_group.counted(), lambda: os.fsync(qdir))

    t0 = time.monotonic()
    ck = threading.Thread(target=checkpoint)
    if mode in ("walfile", "walpre"):
        ck.start()
    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.monotonic() - t0
    stop.set()
    if ck.is_alive():
        ck.join()
    if pre is not None:
        os.close(pre)
    for fd in (root, qdir, log):
        os.close(fd)
    shutil.rmtree(d)
    return threads * n / took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--threads", type=int, default=10)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default="file syncfs wal walfile walpre")
    a = ap.parse_args()
    modes = a.modes.split()
    print("| round | " + " | ".join(modes) + " |")
    print("|---" * (len(modes) + 1) + "|")
    for r in range(1, a.rounds + 1):
        figures = [run(m, a.dir, a.threads, a.n) for m in modes]
        print(f"| {r} | " + " | ".join(f"{f:.0f}/s" for f in figures) + " |")


if __name__ == "__main__":
    main()
