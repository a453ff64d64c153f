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
    chgfrom     SMFIR_CHGFROM to <bounces@example.net> with RET=HDRS
    addrcpt     SMFIR_ADDRCPT <copy@example.com> and SMFIR_ADDRCPT_PAR
                <audit@example.com> NOTIFY=NEVER
    delrcpt     SMFIR_DELRCPT for every recipient with "blocked" in it
                (as the filter saw it in RCPT, upper-cased: the match is
                case-insensitive)
    replbody    SMFIR_REPLBODY with a body of 100000 octets (libmilter
                sends it as several chunks), every line "replaced N"
    symlist     asks for SMFIF_SETSYMLIST: {client_addr} at connect,
                {client_port} and {rcpt_mailer} at RCPT (refuses an MTA
                that does not offer it); prints the macros it was sent,
                as "macros"
    macros      prints the macros it was sent at each stage
    bodyseen    adds X-Body-Seen: the first body line it was sent
    unknown     answers an unknown SMTP command containing XREJECT with
                SMFIR_REPLYCODE 550 5.7.1 (others: continue)
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
        self.rcpts = []
        self.first_line = None

    def macros(self, stage):
        if MODE not in ("macros", "symlist"):
            return
        names = ["j", "_", "{daemon_name}", "{if_name}", "{if_addr}",
                 "{client_addr}", "{client_name}", "{client_port}",
                 "{tls_version}", "{cipher}", "i", "{auth_type}",
                 "{auth_authen}", "{mail_mailer}", "{mail_host}",
                 "{mail_addr}", "{rcpt_mailer}", "{rcpt_host}",
                 "{rcpt_addr}", "{msg_id}"]
        for n in names:
            v = self.getsymval(n)
            if v is not None:
                seen("macro", stage, n + "=" + v)

    def connect(self, hostname, family, hostaddr):
        seen("connect", hostname, hostaddr[0] if hostaddr else "",
             self.getsymval("{daemon_name}"))
        self.macros("connect")
        self.rcpts = []
        return Milter.CONTINUE

    def hello(self, name):
        self.macros("helo")
        return Milter.CONTINUE

    def envfrom(self, sender, *params):
        seen("mail", sender, *params)
        self.macros("mail")
        self.rcpts = []
        self.first_line = None
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        seen("rcpt", rcpt, *params)
        self.macros("rcpt")
        self.rcpts.append(rcpt)
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
        if self.first_line is None:
            self.first_line = chunk.split(b"\r\n")[0].decode("latin-1")
        return Milter.CONTINUE

    def eom(self):
        seen("eom", self.subject)
        self.macros("eom")
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
        if MODE == "bodyseen":
            self.addheader("X-Body-Seen", self.first_line or "")
            self.addheader("X-Subject-Seen", self.subject)
        if MODE == "chgfrom":
            self.chgfrom("<bounces@example.net>", "RET=HDRS")
        if MODE == "addrcpt":
            self.addrcpt("<copy@example.com>")
            self.addrcpt("<audit@example.com>", "NOTIFY=NEVER")
        if MODE == "delrcpt":
            for r in self.rcpts:
                if "blocked" in r:
                    self.delrcpt(r.upper())
        if MODE == "replbody":
            lines = b"".join(b"replaced %05d\r\n" % n for n in range(6250))
            self.replacebody(lines[:100000])
        if MODE == "quarantine":
            self.quarantine("test virus found")
        if MODE == "tempfail":
            return Milter.TEMPFAIL
        if MODE == "discard":
            return Milter.DISCARD
        return Milter.CONTINUE

    def negotiate(self, opts):
        # A filter that cannot work without macro lists (as libmilter
        # filters that ask for SMFIF_SETSYMLIST): refuse an MTA that does
        # not offer it, which ends the connection.
        if MODE == "symlist" and not opts[0] & 0x100:
            seen("negotiate: no SETSYMLIST offered")
            return Milter.REJECT
        r = Milter.Base.negotiate(self, opts)
        if MODE == "symlist":
            # libmilter's smfi_setsymlist through pymilter's context:
            # Debian's pymilter 1.0.5 Base.setsymlist hands it bytes, which
            # its C function refuses on Python 3 (it takes str).
            self._ctx.setsymlist(Milter.M_CONNECT, "{client_addr}")
            self._ctx.setsymlist(Milter.M_ENVRCPT, "{client_port} {rcpt_mailer}")
        return r

    def abort(self):
        seen("abort")
        return Milter.CONTINUE

    def unknown(self, cmd):
        seen("unknown", cmd)
        if MODE == "unknown" and "XREJECT" in cmd:
            self.setreply("550", "5.7.1", "Not that command here")
            return Milter.REJECT
        return Milter.CONTINUE


def main():
    flags = Milter.ADDHDRS | Milter.CHGHDRS | Milter.QUARANTINE
    flags |= {"chgfrom": Milter.CHGFROM,
              "addrcpt": Milter.ADDRCPT | Milter.ADDRCPT_PAR,
              "delrcpt": Milter.DELRCPT,
              "replbody": Milter.CHGBODY,
              "symlist": 0x100}.get(MODE, 0)
    Milter.factory = Filter
    Milter.set_flags(flags)
    seen("ready")
    Milter.runmilter("test-" + MODE, SOCKET, 60)


if __name__ == "__main__":
    main()
