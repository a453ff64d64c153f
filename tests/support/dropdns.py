#!/usr/bin/env python3
"""A loopback DNS responder that loses queries on purpose (tests and benches).

Usage: dropdns.py [--drop-zone ZONE] [--nx-zone ZONE] [--drop-first [N]] [--drop-every N] [--ttl T] [--port P]

Prints "port P" on its first line, then one line per query it receives:
"q ID NAME TYPE answered|dropped".

Answers (every name; TTL 0 so nothing is cached, or --ttl T, when negative
answers also carry a SOA whose TTL and MINIMUM are T):
  A     -> 192.0.2.1 (or 127.0.0.1 for names starting with "localhost")
  MX    -> 10 mx.NAME
  AAAA  -> no records (NOERROR, empty answer)
  PTR   -> "client.test."
  other -> no records
  any name under --nx-zone -> NXDOMAIN (a DNSBL that does not list anyone)
Loses:
  every query for a name under --drop-zone (a name server that never answers),
  with --drop-first [N] the first N copies (default 1) of each (name, type)
  (lost datagrams: a later resend is answered),
  with --drop-every N one query in N of those not already dropped (the
  "2% loss" bench: N=50).
"""
import argparse
import socket
import struct
import sys


def parse_question(msg):
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    if qd != 1:
        return None
    i = 12
    labels = []
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(msg):
            return None
        labels.append(msg[i:i + n].decode("ascii", "replace"))
        i += n
    if i + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack(">HH", msg[i:i + 4])
    return qid, flags, ".".join(labels).lower(), qtype, qclass, msg[12:i + 4]


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def soa(ttl):
    rdata = encode_name("ns.test") + encode_name("hostmaster.test") + struct.pack(">IIIII", 1, 3600, 600, 86400, ttl)
    return b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, ttl, len(rdata)) + rdata


def answer(qid, flags, name, qtype, question, nx=False, ttl=0):
    rd = flags & 0x0100
    rdata = None
    ns = 1 if ttl else 0
    if nx:
        return struct.pack(">HHHHHH", qid, 0x8403 | rd, 1, 0, ns, 0) + question + (soa(ttl) if ttl else b"")
    if qtype == 1:
        rdata = bytes([127, 0, 0, 1]) if name.startswith("localhost") else bytes([192, 0, 2, 1])
    elif qtype == 15:
        rdata = struct.pack(">H", 10) + encode_name("mx." + name)
    elif qtype == 12:
        rdata = encode_name("client.test")
    an = 0 if rdata is None else 1
    ns = ns if rdata is None else 0
    head = struct.pack(">HHHHHH", qid, 0x8400 | rd, 1, an, ns, 0)
    body = question
    if rdata is not None:
        body += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, ttl, len(rdata)) + rdata
    elif ttl:
        body += soa(ttl)
    return head + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--drop-zone", default=None)
    ap.add_argument("--nx-zone", default=None)
    ap.add_argument("--drop-first", type=int, nargs="?", const=1, default=0)
    ap.add_argument("--drop-every", type=int, default=0)
    ap.add_argument("--ttl", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", a.port))
    print("port", sock.getsockname()[1], flush=True)
    seen = {}
    count = 0
    zone = a.drop_zone.strip(".").lower() if a.drop_zone else None
    nx = a.nx_zone.strip(".").lower() if a.nx_zone else None
    while True:
        msg, peer = sock.recvfrom(4096)
        q = parse_question(msg)
        if q is None:
            continue
        qid, flags, name, qtype, qclass, question = q
        drop = False
        if zone and (name == zone or name.endswith("." + zone)):
            drop = True
        elif a.drop_first and seen.get((name, qtype), 0) < a.drop_first:
            seen[(name, qtype)] = seen.get((name, qtype), 0) + 1
            drop = True
        elif a.drop_every:
            count += 1
            drop = count % a.drop_every == 0
        if not a.quiet:
            print("q", qid, name, qtype, "dropped" if drop else "answered", flush=True)
        if not drop:
            is_nx = bool(nx) and (name == nx or name.endswith("." + nx))
            sock.sendto(answer(qid, flags, name, qtype, question, is_nx, a.ttl), peer)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
