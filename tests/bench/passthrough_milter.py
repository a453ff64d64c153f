#!/usr/bin/env python3
"""A pass-through mail filter for tests/bench/milter.sh: Debian's
python3-milter (pymilter over sendmail's libmilter) answering CONTINUE at
every step it asks for (connect, MAIL, RCPT, each header, end of headers,
each body chunk, end of message), so the MTA sends it the whole message
and waits for every answer, as a scanner that changes nothing would.

usage: passthrough_milter.py inet:PORT@127.0.0.1
"""
import sys

import Milter


class PassThrough(Milter.Base):
    def connect(self, hostname, family, hostaddr):
        return Milter.CONTINUE

    def envfrom(self, sender, *params):
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        return Milter.CONTINUE

    def header(self, name, value):
        return Milter.CONTINUE

    def eoh(self):
        return Milter.CONTINUE

    def body(self, chunk):
        return Milter.CONTINUE

    def eom(self):
        return Milter.CONTINUE


def main():
    Milter.factory = PassThrough
    Milter.set_flags(0)
    Milter.runmilter("passthrough", sys.argv[1], 60)


if __name__ == "__main__":
    main()
