//! `mxgate report` on logs written by real daemons: a gateway that relays
//! to a peer, delivers locally, defers, bounces and refuses; its log read
//! plain, gzipped, and together with the peer's log as a second node.
//! 127.0.0.2 plays the untrusted Internet client.

mod support;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

fn wait_for(what: &str, d: &Daemon, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nmaillog:\n{}",
            d.maillog()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One transaction from `src`; returns the replies to each RCPT and the dot.
fn session(src: &str, port: u16, from: &str, to: &[&str], body: &str) -> Vec<String> {
    let mut c = Raw::connect_from(src, port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    let r = c.cmd(&format!("MAIL FROM:<{from}>"));
    assert!(r.starts_with("250"), "{r}");
    let mut out = Vec::new();
    let mut any = false;
    for t in to {
        let r = c.cmd(&format!("RCPT TO:<{t}>"));
        any |= r.starts_with("250");
        out.push(r);
    }
    if any {
        assert!(c.cmd("DATA").starts_with("354"));
        c.send(body);
        out.push(c.cmd("."));
    }
    c.cmd("QUIT");
    out
}

fn report(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("report")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn report_counts_a_known_mix_from_real_daemon_logs() {
    let peer = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
             LOCAL_DOMAIN(`remote.test')dnl\n\
             FEATURE(`accept_unresolvable_domains')dnl\n\
             define(`confDOMAIN_NAME', `peer.example.net')dnl\n",
        tables: &[("mailboxes", "known OK\n")],
        tls: false,
    });
    let x = tempfile::tempdir().unwrap();
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         FEATURE(`mailertable', `lmdb @DIR@/mailertable')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMAX_MESSAGE_SIZE', `20000')dnl\n\
         define(`confMXGATE_MAILDIR', `{x}/mail/%u/Maildir')dnl\n",
        port = peer.mta,
        x = x.path().display()
    );
    let d = Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            ("mailboxes", "alice OK\npostmaster OK\n"),
            // Nothing listens on 127.0.0.2 at the peer's port: deferred.
            (
                "mailertable",
                "remote.test\tsmtp:[127.0.0.1]\ndead.test\tsmtp:[127.0.0.2]\n",
            ),
        ],
        tls: false,
    });
    let body = "Subject: x\r\n\r\nhello\r\n";
    // Accepted: relayed (one recipient the peer knows, one it refuses),
    // delivered locally, and one to a dead next hop.
    let r = session(
        "127.0.0.1",
        d.mta,
        "alice@example.com",
        &["known@remote.test", "nobody@remote.test"],
        body,
    );
    assert!(r.last().unwrap().starts_with("250 2.0.0"), "{r:?}");
    let r = session(
        "127.0.0.2",
        d.mta,
        "someone@example.org",
        &["alice@example.com"],
        body,
    );
    assert!(r.last().unwrap().starts_with("250 2.0.0"), "{r:?}");
    let r = session(
        "127.0.0.1",
        d.mta,
        "alice@example.com",
        &["z@dead.test"],
        body,
    );
    assert!(r.last().unwrap().starts_with("250 2.0.0"), "{r:?}");
    // Refused: relay denied, unknown user, oversized.
    let r = session(
        "127.0.0.2",
        d.mta,
        "someone@example.org",
        &["u@elsewhere.com"],
        body,
    );
    assert!(r[0].starts_with("550 5.7.1"), "{r:?}");
    let r = session(
        "127.0.0.2",
        d.mta,
        "someone@example.org",
        &["nobody@example.com"],
        body,
    );
    assert!(r[0].starts_with("550 5.1.1"), "{r:?}");
    // 400 lines of 78 bytes: over the 20000-byte limit.
    let big = format!(
        "Subject: big\r\n\r\n{}",
        format!("{}\r\n", "a".repeat(76)).repeat(400)
    );
    let r = session(
        "127.0.0.2",
        d.mta,
        "someone@example.org",
        &["alice@example.com"],
        &big,
    );
    assert!(r.last().unwrap().starts_with("552"), "{r:?}");

    // Delivered to the peer, bounced (DSN into alice's Maildir), deferred.
    wait_for("the DSN to alice and the deferral", &d, || {
        let log = d.maillog();
        log.contains("to=<known@remote.test>")
            && log.contains("to=<nobody@remote.test>")
            && log.matches("to=<alice@example.com>").count() == 2
            && log.contains("to=<z@dead.test>")
    });
    let log = d.maillog();
    let gw = d.path().join("maillog");
    std::fs::write(&gw, &log).unwrap();

    let plain = report(&[gw.to_str().unwrap()]);
    assert_eq!(plain["lines"]["unparsed"], 0, "{log}");
    assert_eq!(plain["received"]["count"], 3, "{log}");
    // known@remote.test, alice's message, the DSN into alice's Maildir.
    assert_eq!(plain["delivered"]["count"], 3, "{log}");
    assert_eq!(plain["bounced"]["count"], 1, "{log}");
    assert_eq!(plain["dsns_created"], 1, "{log}");
    assert_eq!(plain["deferred_messages"], 1, "{log}");
    assert!(plain["deferred"]["count"].as_u64().unwrap() >= 1, "{log}");
    assert_eq!(plain["refused"]["relay denied"]["count"], 1, "{log}");
    assert_eq!(plain["refused"]["unknown user"]["count"], 1, "{log}");
    assert_eq!(plain["refused"]["message size"]["count"], 1, "{log}");
    assert_eq!(plain["refused_total"], 3, "{log}");
    assert_eq!(plain["per_listener"]["MTA"]["received"], 3, "{log}");
    assert_eq!(plain["sizes"][0]["count"], 3, "{log}");
    assert_eq!(plain["sender_domains"]["example.com"]["count"], 2, "{log}");
    assert_eq!(plain["per_node"]["gw.example.com"]["refused"], 3, "{log}");
    let received_bytes: u64 = log
        .lines()
        .filter_map(|l| l.split(", size=").nth(1))
        .filter_map(|s| s.split(',').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(plain["received"]["bytes"], received_bytes, "{log}");

    // The same log gzipped reads the same.
    let gz = d.path().join("maillog.1.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(log.as_bytes()).unwrap();
    e.finish().unwrap();
    let zipped = report(&[gz.to_str().unwrap()]);
    assert_eq!(zipped, plain);

    // Two nodes at once: the peer's log is the second node.
    let p = peer.path().join("maillog");
    std::fs::write(&p, peer.maillog()).unwrap();
    let both = report(&[gz.to_str().unwrap(), p.to_str().unwrap()]);
    assert_eq!(both["per_node"]["gw.example.com"]["received"], 3);
    assert_eq!(
        both["per_node"]["peer.example.net"]["received"],
        1,
        "{}",
        peer.maillog()
    );
    assert_eq!(both["received"]["count"], 4);
    // The peer refused nobody@remote.test too.
    assert_eq!(both["refused"]["unknown user"]["count"], 2);

    // Text and CSV carry the same totals; --until before the first line counts nothing.
    let out = Command::new(BIN)
        .args(["report", gw.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Grand Totals") && text.contains("relay denied"),
        "{text}"
    );
    let out = Command::new(BIN)
        .args(["report", "--csv", gw.to_str().unwrap()])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.contains("\ntotals,received,3,"), "{csv}");
    let none = report(&["--until", "2000-01-01", gw.to_str().unwrap()]);
    assert_eq!(none["received"]["count"], 0);
}

#[test]
fn report_usage_errors_and_missing_files() {
    let out = Command::new(BIN)
        .args(["report", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(BIN)
        .args(["report", "/nonexistent/maillog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/maillog"));
    let out = Command::new(BIN)
        .args(["report", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--since"));
}

/// cf/cron.daily-report, as shipped: yesterday's lines only, mailed with
/// `sendmail -t -oi` (a stub records what would be sent).
#[test]
fn cron_daily_report_mails_yesterday_to_postmaster() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stamp = |when: &str| {
        let out = Command::new("date")
            .args(["-d", when, "+%b %e %H:%M:%S"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    let line = |when: &str, qid: &str| {
        format!(
            "{} gw1 mxgate[1]: {qid}: from=<a@example.org>, size=100, class=0, nrcpts=1, msgid=<x@y>, proto=ESMTP, daemon=MTA, relay=[192.0.2.1]\n",
            stamp(when)
        )
    };
    let log = d.join("mail.log");
    std::fs::write(
        &log,
        line("yesterday 12:00", "6B3LQK000000001")
            + &line("yesterday 13:00", "6B3LQK000000002")
            + &line("today 00:00:01", "6B3LQK000000003"),
    )
    .unwrap();
    let stub = d.join("mxgate");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nif [ \"$1\" = sendmail ]; then shift; echo \"$@\" > {d}/args; cat > {d}/mail; else exec {BIN} \"$@\"; fi\n",
            d = d.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/cf/cron.daily-report");
    let out = Command::new("sh")
        .arg(script)
        .env("MXGATE", &stub)
        .env("LOGS", &log)
        .env("TO", "postmaster@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("args")).unwrap().trim(),
        "-t -oi"
    );
    let mail = std::fs::read_to_string(d.join("mail")).unwrap();
    let y = Command::new("date")
        .args(["-d", "yesterday", "+%F"])
        .output()
        .unwrap();
    let y = String::from_utf8(y.stdout).unwrap();
    assert!(
        mail.starts_with("To: postmaster@example.com\nSubject: mail report for "),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("mail report for {}", y.trim())),
        "{mail}"
    );
    assert!(mail.contains("Grand Totals"), "{mail}");
    // Two of the three messages are yesterday's.
    assert!(mail.contains("        2   received"), "{mail}");
    assert!(mail.contains("        1   outside_window"), "{mail}");
}
