//! `Family=local`: a listener on a Unix-domain socket, driven by Python's
//! socket module.
//!
//! What sendmail 8.17.1.9 (Debian 12) does with such a listener, checked on
//! a real daemon (`DAEMON_OPTIONS(`Family=local, Addr=/root/lq/smtp.sock,
//! Name=Local')`, `sendmail -bd`, a Python client on the socket):
//! - greeting and EHLO: `Hello localhost [[UNIX: localhost]]`;
//! - `MAIL FROM:<joe>` → `553 5.5.4 <joe>... Domain name required for
//!   sender address joe`;
//! - `RCPT TO:<b@example.org>` (a foreign domain) → `550 5.7.1
//!   <b@example.org>... Relaying denied`, also with `Connect:localhost
//!   RELAY` in the access map (its check_relay matched that entry: `-d21.2`
//!   showed `ruleset D input: < localhost > < ? > < + Connect > < [ UNIX :
//!   localhost ] >` returning `RELAY`);
//! - a local recipient is accepted; the queued message's header is
//!   `Received: from client.example.net (localhost [[UNIX: localhost]])`.

mod support;
use support::*;

use std::time::Duration;

const ACCESS: &str = "Connect:localhost\tRELAY\n";
const MAILBOXES: &str = "alice OK\npostmaster OK\n";

fn start(extra: &str) -> Daemon {
    let mc = format!(
        "FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n\
         FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         DAEMON_OPTIONS(`Family=local, Addr=@DIR@/smtp.sock, Name=Local')dnl\n{extra}"
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("access", ACCESS), ("mailboxes", MAILBOXES)],
        tls: true,
    })
}

/// Run an SMTP dialogue on the socket: each command's reply, one per line
/// (multi-line replies joined with `|`).
fn dialogue(sock: &std::path::Path, commands: &[&str]) -> Vec<String> {
    let script = format!(
        r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect({sock:?})
f = s.makefile("rwb")
def reply():
    lines = []
    while True:
        l = f.readline().decode().rstrip("\r\n")
        lines.append(l)
        if l[3:4] != "-":
            return "|".join(lines)
print(reply())
for c in {commands:?}:
    f.write((c + "\r\n").encode()); f.flush()
    if c.startswith("Subject:"):
        continue
    print(reply())
"#,
        sock = sock.display().to_string(),
        commands = commands,
    );
    let out = python(&script);
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_for_socket(d: &Daemon) -> std::path::PathBuf {
    let sock = d.path().join("smtp.sock");
    assert!(
        d.wait_log("starting daemon", Duration::from_secs(20)),
        "daemon did not start: {}",
        d.stderr()
    );
    assert!(sock.exists(), "no socket at {}", sock.display());
    sock
}

#[test]
fn a_unix_socket_client_is_localhost_that_may_not_relay() {
    let d = start("");
    let sock = wait_for_socket(&d);
    let r = dialogue(
        &sock,
        &[
            "EHLO client.example.net",
            "MAIL FROM:<joe>",
            "RSET",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.net>",
            "RCPT TO:<alice@example.com>",
            "DATA",
            "Subject: over a socket\r\n\r\nhello\r\n.",
            "STARTTLS",
            "QUIT",
        ],
    );
    assert!(r[0].starts_with("220 gw.example.com"), "{r:?}");
    assert!(
        r[1].starts_with(
            "250-gw.example.com Hello localhost [[UNIX: localhost]], pleased to meet you"
        ),
        "{r:?}"
    );
    // The daemon has a certificate (its inet listeners offer STARTTLS), the
    // socket does not.
    assert!(
        !r[1].contains("STARTTLS") && !r[1].contains("AUTH"),
        "{r:?}"
    );
    assert!(
        r[2].starts_with("553 5.5.4 <joe>... Domain name required for sender address joe"),
        "{r:?}"
    );
    assert!(r[4].starts_with("250 2.1.0"), "{r:?}");
    assert!(
        r[5].starts_with("550 5.7.1 <b@example.net>... Relaying denied"),
        "{r:?}"
    );
    assert!(r[6].starts_with("250 2.1.5"), "{r:?}");
    assert!(r[7].starts_with("354"), "{r:?}");
    assert!(r[8].starts_with("250 2.0.0"), "{r:?}");
    assert!(r[9].starts_with("454 4.7.0"), "{r:?}");
    let queued = d.queued("queue");
    assert_eq!(queued.len(), 1, "{queued:?}");
    let data = [std::fs::read_to_string(&queued[0]).unwrap()];
    assert!(data[0].contains("Subject: over a socket"), "{}", data[0]);
    assert!(
        data[0].contains("Received: from client.example.net (localhost [[UNIX: localhost]])"),
        "{}",
        data[0]
    );
    let log = d.maillog();
    assert!(log.contains("relay=localhost [[UNIX: localhost]]"), "{log}");
    assert!(log.contains("Local on "), "{log}");
}

#[test]
fn an_access_reject_for_localhost_refuses_the_socket_and_a_stale_socket_is_replaced() {
    let mut d = Daemon::prepare(Setup {
        mc: "FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n\
             DAEMON_OPTIONS(`Family=local, Addr=@DIR@/smtp.sock, Name=Local')dnl\n",
        tables: &[("access", "Connect:localhost\tREJECT\n")],
        tls: false,
    });
    // A socket left by an earlier run (nobody listens on it any more) is
    // replaced.
    drop(std::os::unix::net::UnixListener::bind(d.path().join("smtp.sock")).unwrap());
    d.spawn();
    let sock = wait_for_socket(&d);
    let r = dialogue(&sock, &["EHLO x", "MAIL FROM:<a@example.org>", "QUIT"]);
    assert!(
        r[0].starts_with("554 gw.example.com ESMTP not accepting messages"),
        "{r:?}"
    );
    assert_eq!(r[2], "550 5.7.1 Access denied", "{r:?}");
    assert!(
        d.maillog().contains("relay=localhost [[UNIX: localhost]]"),
        "{}",
        d.maillog()
    );
}

#[test]
fn a_file_that_is_not_a_socket_at_the_path_stops_the_start() {
    let d = Daemon::prepare(Setup {
        mc: "DAEMON_OPTIONS(`Family=local, Addr=@DIR@/smtp.sock, Name=Local')dnl\n",
        tables: &[],
        tls: false,
    });
    let target = d.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, d.path().join("smtp.sock")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&d.mc)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("daemon Local: cannot bind")
            && err.contains("smtp.sock")
            && err.contains("not a socket"),
        "{err}"
    );
    assert!(!target.exists(), "a file was created through the link");
}
