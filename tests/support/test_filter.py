#!/usr/bin/env python3
"""Small real mail filters (Debian's python3-milter, i.e. pymilter over
sendmail's libmilter) for tests/milter.rs.

usage: test_filter.py MODE SOCKET
  SOCKET: inet:PORT@127.0.0.1 or unix:/path
  MODE:
    reject      SMFIR_REJECT at end of message when the Subject has SPAM
    replycode   SMFIR_REPLYCODE 550 5.7.0 (two lines) when the Subject has SPAM
    header      add X-Scanned, change Subject, delete X-Drop
    second      add X-Second (for two filters in order)
    quarantine  SMFIR_QUARANTINE "test virus found"
    tempfail    SMFIR_TEMPFAIL at end of message
    discard     SMFIR_DISCARD at end of message
    rcpt        SMFIR_REJECT for recipients with "blocked" in them
    die         the process exits in the middle of the body
    chgfrom     asks for SMFIF_CHGFROM (mxgate does not offer it)
Each callback the filter saw is printed on stdout (the test reads it).
"""
import os
import sys

import Milter

MODE, SOCKET = sys.argv[1], sys.argv[2]


def seen(*what):
    print(" ".join(str(w) for w in what), flush=True)


class Filter(Milter.Base):
    def __init__(self):
        self.subject = ""

    def connect(self, hostname, family, hostaddr):
        seen("connect", hostname, hostaddr[0] if hostaddr else "",
             self.getsymval("{daemon_name}"))
        return Milter.CONTINUE

    def envfrom(self, sender, *params):
        seen("mail", sender, *params)
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        seen("rcpt", rcpt)
        if MODE == "rcpt" and "blocked" in rcpt:
            return Milter.REJECT
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def body(self, chunk):
        if MODE == "die":
            seen("dying in the body")
            os._exit(3)
        return Milter.CONTINUE

    def eom(self):
        seen("eom", self.subject)
        if MODE == "reject" and "SPAM" in self.subject:
            return Milter.REJECT
        if MODE == "replycode" and "SPAM" in self.subject:
            self.setreply("550", "5.7.0", "Subject refused by policy",
                          "see the postmaster")
            return Milter.REJECT
        if MODE == "header":
            self.addheader("X-Scanned", "yes by header filter")
            self.chgheader("Subject", 1, "[scanned] " + self.subject)
            self.chgheader("X-Drop", 1, "")
        if MODE == "second":
            self.addheader("X-Second", "yes")
        if MODE == "quarantine":
            self.quarantine("test virus found")
        if MODE == "tempfail":
            return Milter.TEMPFAIL
        if MODE == "discard":
            return Milter.DISCARD
        return Milter.CONTINUE

    def negotiate(self, opts):
        # A filter that cannot work without changing the sender (as
        # libmilter filters that ask for SMFIF_CHGFROM): refuse an MTA that
        # does not offer it, which ends the connection.
        if MODE == "chgfrom" and not opts[0] & Milter.CHGFROM:
            seen("negotiate: no CHGFROM offered")
            return Milter.REJECT
        return Milter.Base.negotiate(self, opts)

    def abort(self):
        seen("abort")
        return Milter.CONTINUE


def main():
    flags = Milter.ADDHDRS | Milter.CHGHDRS | Milter.QUARANTINE
    if MODE == "chgfrom":
        flags |= Milter.CHGFROM
    Milter.factory = Filter
    Milter.set_flags(flags)
    seen("ready")
    Milter.runmilter("test-" + MODE, SOCKET, 60)


if __name__ == "__main__":
    main()
