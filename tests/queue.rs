//! The queue end to end: a real `mxgate daemon` (tests/support) accepts
//! mail on loopback and its queue runner delivers it into Maildirs under a
//! temp directory; bounces are DSNs delivered like any mail; `mxgate queue`
//! acts on the spool. Remote mail goes through the real SMTP agent (to a
//! second mxgate in one test); where the test's name server never answers,
//! remote mail stays queued (deferred 4.4.3), which the queue-tool tests use
//! as a stable backlog.

mod support;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const MAILBOXES: &str = "alice OK\nbob OK\ncarol OK\npostmaster OK\nmallory DISABLED\n";

struct Site {
    _x: tempfile::TempDir,
    x: PathBuf,
    d: Daemon,
}

fn start() -> Site {
    let xd = tempfile::tempdir().unwrap();
    let x = xd.path().to_path_buf();
    std::fs::write(x.join("staff.list"), "# the staff\nbob\ncarol\n").unwrap();
    std::fs::write(
        x.join("aliases"),
        format!(
            "ghost: nosuchuser\nstaff: :include:{}/staff.list\nowner-staff: alice\n",
            x.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("newaliases")
        .arg(x.join("aliases"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`ALIAS_FILE', `{x}/aliases')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_MAILDIR', `{x}/mail/%u/Maildir')dnl\n",
        x = x.display()
    );
    let mut d = Daemon::prepare(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", MAILBOXES)],
        tls: false,
    });
    // Remote domains go to DNS, whose server here never answers: remote mail
    // is deferred (4.4.3) and stays queued, as during a DNS outage.
    std::fs::write(d.path().join("service.switch"), "hosts files dns\n").unwrap();
    d.spawn();
    Site { _x: xd, x, d }
}

fn maildir(x: &Path, user: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(x.join("mail").join(user).join("Maildir/new"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn wait_for(what: &str, d: &Daemon, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nmaillog:\n{}\nstderr:\n{}",
            d.maillog(),
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One SMTP transaction from 127.0.0.1; returns the reply to the final dot.
fn send(port: u16, from: &str, to: &[&str], data: &str) -> String {
    let mut c = Raw::connect(port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    let r = c.cmd(&format!("MAIL FROM:<{from}>"));
    assert!(r.starts_with("250"), "{r}");
    for t in to {
        let r = c.cmd(&format!("RCPT TO:<{t}>"));
        assert!(r.starts_with("250"), "{t}: {r}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(data);
    let r = c.cmd(".");
    c.cmd("QUIT");
    r
}

fn queue_cmd(s: &Site, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("queue")
        .arg("--queue-dir")
        .arg(s.d.path().join("spool"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn local_mail_lands_in_the_maildir_byte_identical() {
    let s = start();
    let body = "Subject: hello\r\nMessage-ID: <q1@example.org>\r\n\r\nline one\r\n..dot line\r\n\r\ntrailing  spaces  \r\n";
    let r = send(s.d.mta, "carol@example.com", &["alice@example.com"], body);
    assert!(r.starts_with("250"), "{r}");
    wait_for("delivery to alice", &s.d, || {
        maildir(&s.x, "alice").len() == 1
    });
    let got = std::fs::read(&maildir(&s.x, "alice")[0]).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("Return-Path: <carol@example.com>\r\nDelivered-To: alice@gw.example.com\r\nReceived: from client.test"),
        "{text}"
    );
    // The body after our trace headers is what was sent (dot-unstuffed).
    let sent_unstuffed = body.replace("\r\n..", "\r\n.");
    assert!(text.ends_with(&sent_unstuffed), "{text}");
    wait_for("queue empty", &s.d, || s.d.queued("queue").is_empty());
    assert!(s.d.queued("status").is_empty(), "journal removed");
    let log = s.d.maillog();
    assert!(
        log.contains("to=<alice@example.com>, delay=") && log.contains("mailer=local, pri="),
        "{log}"
    );
    assert!(log.contains("relay=local, dsn=2.0.0, stat=Sent ("), "{log}");
}

#[test]
fn unknown_local_user_bounces_a_dsn_to_the_local_sender() {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    let s = start();
    // ghost is an alias (accepted at RCPT) for a user that does not exist.
    let r = send(
        s.d.mta,
        "carol@example.com",
        &["ghost@example.com"],
        "Subject: to a ghost\r\n\r\nboo\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("DSN in carol's Maildir", &s.d, || {
        maildir(&s.x, "carol").len() == 1
    });
    let raw = std::fs::read(&maildir(&s.x, "carol")[0]).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(text.starts_with("Return-Path: <>\r\n"), "{text}");
    let msg = MessageParser::default().parse(&raw).unwrap();
    let ct = msg.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert_eq!(
        msg.subject(),
        Some("Returned mail: see transcript for details")
    );
    let status = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.subtype() == Some("delivery-status"))
        })
        .map(|p| match &p.body {
            PartType::Text(t) => t.to_string(),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                String::from_utf8_lossy(b).to_string()
            }
            other => format!("{other:?}"),
        })
        .unwrap();
    assert!(status.contains("Status: 5.1.1"), "{status}");
    assert!(status.contains("Action: failed"), "{status}");
    assert!(
        status.contains("Final-Recipient: RFC822; nosuchuser"),
        "{status}"
    );
    assert!(text.contains("Subject: to a ghost"), "original returned");
    wait_for("queue empty", &s.d, || s.d.queued("queue").is_empty());
    assert!(s.d.maillog().contains("DSN: "), "{}", s.d.maillog());
}

#[test]
fn a_failing_bounce_becomes_a_double_bounce_to_postmaster() {
    let s = start();
    let r = send(
        s.d.mta,
        "",
        &["ghost@example.com"],
        "Subject: a bounce\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("double bounce for postmaster", &s.d, || {
        maildir(&s.x, "postmaster").len() == 1
    });
    let text = std::fs::read_to_string(&maildir(&s.x, "postmaster")[0]).unwrap();
    assert!(text.contains("Status: 5.1.1"), "{text}");
    assert!(text.contains("To: <postmaster@gw.example.com>"), "{text}");
    wait_for("queue empty", &s.d, || s.d.queued("queue").is_empty());
}

/// Issue "Field configurations ...": a message answered 250 is never
/// dropped. Here postmaster's route fails (its alias names a user with no
/// mailbox): the double bounce is kept in hold/, `mailq` shows it, the log
/// says why (sendmail's savemail panic), and a release after fixing the
/// alias delivers it.
#[test]
fn a_double_bounce_nobody_can_take_stays_in_the_queue_and_mailq_shows_it() {
    let s = start();
    // Point postmaster at a user with no mailbox (the daemon reads the
    // rebuilt aliases table within a second).
    std::fs::write(
        s.x.join("aliases"),
        "ghost: nosuchuser\npostmaster: nosuchadmin\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("newaliases")
        .arg(s.x.join("aliases"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let r = send(
        s.d.mta,
        "",
        &["ghost@example.com"],
        "Subject: a bounce\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("the double bounce held", &s.d, || {
        s.d.queued("hold").len() == 1
    });
    let log = s.d.maillog();
    assert!(
        log.contains("SYSERR(root): savemail: cannot save rejected email anywhere"),
        "{log}"
    );
    assert!(!log.contains("dropped"), "{log}");
    let out = Command::new(BIN)
        .arg("mailq")
        .arg("-C")
        .arg(&s.d.mc)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("(1 request)"), "{text}");
    assert!(text.contains("(held)"), "{text}");
    assert!(text.contains("<postmaster@gw.example.com>"), "{text}");
    // Give postmaster's target a mailbox, release: the double bounce is
    // delivered (a release retries the same alias expansion).
    let mb = s.d.path().join("mailboxes");
    std::fs::write(&mb, format!("{MAILBOXES}nosuchadmin OK\n")).unwrap();
    let out = Command::new(BIN)
        .args(["makemap", "lmdb"])
        .arg(&mb)
        .stdin(std::fs::File::open(&mb).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let (ok, out) = queue_cmd(&s, &["release", "--from", "<>"]);
    assert!(ok && out.contains("1 message(s) released"), "{out}");
    wait_for("double bounce in nosuchadmin's Maildir", &s.d, || {
        maildir(&s.x, "nosuchadmin").len() == 1
    });
    wait_for("queue empty", &s.d, || {
        s.d.queued("queue").is_empty() && s.d.queued("hold").is_empty()
    });
}

#[test]
fn include_list_fans_out_with_owner_as_envelope_sender() {
    let s = start();
    let r = send(
        s.d.mta,
        "someone@example.org",
        &["staff@example.com"],
        "Subject: to the staff\r\n\r\nhi all\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("bob and carol", &s.d, || {
        maildir(&s.x, "bob").len() == 1 && maildir(&s.x, "carol").len() == 1
    });
    for u in ["bob", "carol"] {
        let t = std::fs::read_to_string(&maildir(&s.x, u)[0]).unwrap();
        assert!(
            t.starts_with("Return-Path: <owner-staff@gw.example.com>\r\n"),
            "{u}: {t}"
        );
        assert!(t.contains("hi all"));
    }
    wait_for("queue empty", &s.d, || s.d.queued("queue").is_empty());
    assert!(maildir(&s.x, "alice").is_empty(), "the owner got no bounce");
}

#[test]
fn kill_9_during_deliveries_then_restart_loses_and_duplicates_nothing() {
    let mut s = start();
    const N: usize = 40;
    let mut c = Raw::connect(s.d.mta);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    for i in 0..N {
        assert!(c.cmd("MAIL FROM:<carol@example.com>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
        c.send(&format!("Subject: n{i}\r\n\r\nmessage {i}\r\n"));
        let r = c.cmd(".");
        assert!(r.starts_with("250"), "{r}");
    }
    // Every message was acknowledged; kill while the queue is delivering.
    s.d.kill9();
    let before = maildir(&s.x, "alice").len();
    s.d.spawn();
    wait_for("all delivered after restart", &s.d, || {
        maildir(&s.x, "alice").len() >= N && maildir(&s.x, "bob").len() >= N
    });
    wait_for("queue empty", &s.d, || s.d.queued("queue").is_empty());
    std::thread::sleep(Duration::from_millis(500));
    for u in ["alice", "bob"] {
        let files = maildir(&s.x, u);
        let subjects: BTreeSet<String> = files
            .iter()
            .map(|p| {
                let t = std::fs::read_to_string(p).unwrap();
                t.lines()
                    .find(|l| l.starts_with("Subject: "))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            files.len(),
            N,
            "{u}: exactly one copy each (before kill: {before})"
        );
        assert_eq!(subjects.len(), N, "{u}: every message");
    }
}

#[test]
fn bounce_flood_deleted_with_one_command_after_a_dry_run_and_hold_release() {
    let s = start();
    for i in 0..5 {
        let r = send(
            s.d.mta,
            "",
            &["victim@remote.example"],
            &format!("Subject: bounce {i}\r\n\r\nx\r\n"),
        );
        assert!(r.starts_with("250"), "{r}");
    }
    for i in 0..2 {
        send(
            s.d.mta,
            "carol@example.com",
            &["friend@remote.example"],
            &format!("Subject: real {i}\r\n\r\nx\r\n"),
        );
    }
    assert_eq!(s.d.queued("queue").len(), 7);
    // remote.example cannot be resolved here (the test's name server does
    // not answer): they stay deferred, and the host is backed off.
    wait_for("deferred", &s.d, || s.d.maillog().contains("stat=Deferred"));
    let (ok, out) = queue_cmd(&s, &["delete", "--dry-run", "--from", "<>"]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("would delete ").count(), 5, "{out}");
    assert!(out.contains("5 message(s) would delete"), "{out}");
    assert_eq!(s.d.queued("queue").len(), 7, "dry run changes nothing");
    let (ok, out) = queue_cmd(&s, &["delete", "--from", "<>"]);
    assert!(ok, "{out}");
    assert!(out.contains("5 message(s) deleted"), "{out}");
    assert_eq!(s.d.queued("queue").len(), 2);
    // No selector: refused.
    let (ok, _) = queue_cmd(&s, &["delete"]);
    assert!(!ok);
    // Summary by destination and age.
    let (ok, out) = queue_cmd(&s, &["summary"]);
    assert!(ok && out.contains("2 message(s) queued"), "{out}");
    assert!(out.contains("2  remote.example"), "{out}");
    // Hold, then release.
    let (ok, out) = queue_cmd(&s, &["hold", "--to", "friend@remote.example"]);
    assert!(ok && out.contains("2 message(s) held"), "{out}");
    assert!(s.d.queued("queue").is_empty());
    assert_eq!(s.d.queued("hold").len(), 2);
    let (ok, out) = queue_cmd(&s, &["list", "--json"]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["state"], "hold");
    let (ok, out) = queue_cmd(&s, &["release", "--from", "carol@example.com"]);
    assert!(ok && out.contains("2 message(s) released"), "{out}");
    assert_eq!(s.d.queued("queue").len(), 2);
    let (ok, out) = queue_cmd(&s, &["flush", "--recipient", "remote.example"]);
    assert!(ok && out.contains("2 message(s) flushed"), "{out}");
}

#[test]
fn a_remote_5xx_returns_a_dsn_with_the_remote_reply() {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    // The peer: a second mxgate that knows only `known@remote.test`.
    let peer = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`remote.test')dnl\nFEATURE(`accept_unresolvable_domains')dnl\n",
        tables: &[("mailboxes", "known OK\n")],
        tls: false,
    });
    // The sender's server routes remote.test to the peer by mailertable.
    let x = tempfile::tempdir().unwrap();
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         FEATURE(`mailertable', `lmdb @DIR@/mailertable')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_MAILDIR', `{x}/mail/%u/Maildir')dnl\n",
        port = peer.mta,
        x = x.path().display()
    );
    let d = Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            ("mailboxes", MAILBOXES),
            ("mailertable", "remote.test\tsmtp:[127.0.0.1]\n"),
        ],
        tls: false,
    });
    let r = send(
        d.mta,
        "alice@example.com",
        &["known@remote.test", "nobody@remote.test"],
        "Subject: two recipients\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("the DSN in alice's Maildir", &d, || {
        maildir(x.path(), "alice").len() == 1
    });
    // The accepted recipient reached the peer, in the same transaction.
    assert_eq!(peer.queued("queue").len(), 1, "{}", peer.maillog());
    let raw = std::fs::read(&maildir(x.path(), "alice")[0]).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    let ct = msg.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    let status = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.subtype() == Some("delivery-status"))
        })
        .map(|p| match &p.body {
            PartType::Text(t) => t.to_string(),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                String::from_utf8_lossy(b).to_string()
            }
            other => format!("{other:?}"),
        })
        .unwrap();
    assert!(
        status.contains("Final-Recipient: RFC822; nobody@remote.test"),
        "{status}"
    );
    assert!(status.contains("Status: 5.1.1"), "{status}");
    assert!(
        status.contains("Remote-MTA: DNS; 127.0.0.1") || status.contains("Remote-MTA:"),
        "{status}"
    );
    assert!(
        status.contains("Diagnostic-Code: SMTP; 550 5.1.1 <nobody@remote.test>... User unknown"),
        "{status}"
    );
    assert!(
        !status.contains("known@remote.test"),
        "only the failed recipient is reported"
    );
    wait_for("queue empty", &d, || d.queued("queue").is_empty());
    let log = d.maillog();
    assert!(
        log.contains("to=<known@remote.test>") && log.contains("stat=Sent ("),
        "{log}"
    );
    assert!(
        log.contains("to=<nobody@remote.test>") && log.contains("dsn=5.1.1"),
        "{log}"
    );
}

#[test]
fn relayed_mail_is_masqueraded_in_envelope_and_headers() {
    // The mission's mailbox server: user@host.domain leaves as user@domain,
    // root stays exposed, recipient headers are only qualified.
    let peer = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`remote.test')dnl\nFEATURE(`accept_unresolvable_domains')dnl\n",
        tables: &[("mailboxes", "known OK\n")],
        tls: false,
    });
    let mc = format!(
        "FEATURE(`mailertable', `lmdb @DIR@/mailertable')dnl\n\
         FEATURE(`masquerade_envelope')dnl\n\
         MASQUERADE_AS(`example.gr.jp')dnl\n\
         EXPOSED_USER(`root')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n",
        port = peer.mta
    );
    let d = Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailertable", "remote.test\tsmtp:[127.0.0.1]\n")],
        tls: false,
    });
    for (from, subject) in [
        ("bob@gw.example.com", "from bob"),
        ("root@gw.example.com", "from root"),
    ] {
        let r = send(
            d.mta,
            from,
            &["known@remote.test"],
            &format!(
                "From: Someone <{from}>\r\nTo: known@remote.test, carol\r\nSubject: {subject}\r\n\r\nhi\r\n"
            ),
        );
        assert!(r.starts_with("250"), "{r}");
    }
    wait_for("both at the peer", &d, || peer.queued("queue").len() == 2);
    let texts: Vec<String> = peer
        .queued("queue")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let bob = texts
        .iter()
        .find(|t| t.contains("Subject: from bob"))
        .unwrap();
    assert!(
        bob.contains("sender <bob@example.gr.jp>\n"),
        "envelope masqueraded: {bob}"
    );
    assert!(
        bob.contains("From: Someone <bob@example.gr.jp>\r\n"),
        "header masqueraded: {bob}"
    );
    assert!(
        bob.contains("To: known@remote.test, carol@gw.example.com\r\n"),
        "recipient headers only qualified: {bob}"
    );
    let root = texts
        .iter()
        .find(|t| t.contains("Subject: from root"))
        .unwrap();
    assert!(
        root.contains("sender <root@gw.example.com>\n"),
        "root exposed: {root}"
    );
    assert!(
        root.contains("From: Someone <root@gw.example.com>\r\n"),
        "{root}"
    );
}

/// FEATURE(`domaintable') end to end: the old names are accepted at MAIL
/// and RCPT (judged as the new ones: `oldgw.test` is unresolvable, its new
/// name is ours), routed by the new name's mailertable entry, and the next
/// hop gets the new names in the envelope and the headers (sendmail 8.17
/// `-bt`: `/try esmtp` gives the new name for ES, HS and HR).
#[test]
fn domaintable_renames_envelope_and_header_domains() {
    let peer = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`remote.test')dnl\nFEATURE(`accept_unresolvable_domains')dnl\n",
        tables: &[("mailboxes", "known OK\n")],
        tls: false,
    });
    let mc = format!(
        "FEATURE(`domaintable', `lmdb @DIR@/domaintable')dnl\n\
         FEATURE(`mailertable', `lmdb @DIR@/mailertable')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n",
        port = peer.mta
    );
    let d = Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            (
                "domaintable",
                "old.test\tremote.test\noldgw.test\tgw.example.com\n",
            ),
            ("mailertable", "remote.test\tsmtp:[127.0.0.1]\n"),
        ],
        tls: false,
    });
    let r = send(
        d.mta,
        "s@oldgw.test",
        &["known@old.test"],
        "From: S <s@oldgw.test>\r\nTo: known@old.test\r\nSubject: renamed\r\n\r\nold.test stays in the body\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("the message at the peer", &d, || {
        peer.queued("queue").len() == 1
    });
    let text = std::fs::read_to_string(&peer.queued("queue")[0]).unwrap();
    assert!(text.contains("sender <s@gw.example.com>\n"), "{text}");
    assert!(text.contains("\nrcpt <known@remote.test> "), "{text}");
    assert!(text.contains("From: S <s@gw.example.com>\r\n"), "{text}");
    assert!(text.contains("To: known@remote.test\r\n"), "{text}");
    assert!(text.contains("old.test stays in the body"), "{text}");
}

// Issue 16: a deferred queue is not rescanned every second while nothing in
// it is due (the scanner skips `queue/` while its modification time stays
// and no next attempt has come), but a message another process commits
// (sendmail -t as root, writing the spool itself) is still picked up within
// a few seconds, not at the next full scan (a minute here).
#[test]
fn a_quiet_deferred_queue_still_picks_up_mail_committed_by_another_process() {
    let s = start();
    let r = send(
        s.d.mta,
        "carol@example.com",
        &["someone@remote.test"],
        "Subject: far\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_for("the remote message deferred", &s.d, || {
        s.d.maillog().contains("stat=Deferred")
    });
    // Let the scanner see a settled queue/ (its mtime over a second old).
    std::thread::sleep(Duration::from_millis(2500));
    let spool =
        mxgate::spool::Spool::open(&s.d.path().join("spool"), mxgate::spool::Durability::Fsync)
            .unwrap();
    let mut env = mxgate::spool::Envelope::new("<carol@example.com>");
    env.recipients.push(mxgate::spool::envelope::Recipient::of(
        mxgate::spool::envelope::Forward::parse("alice@example.com"),
    ));
    let mut w = spool.create(&env).unwrap();
    w.write(b"Subject: from outside\r\n\r\nhello\r\n").unwrap();
    w.commit(mxgate::spool::State::Queue).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while maildir(&s.x, "alice").is_empty() {
        assert!(
            Instant::now() < deadline,
            "not picked up within 15 s\n{}",
            s.d.maillog()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The deferred one is still there, waiting for its retry time.
    assert_eq!(s.d.queued("queue").len(), 1, "{}", s.d.maillog());
}

/// A quarantined message (the access table's `QUARANTINE:reason`) waits in
/// quarantine/ undelivered; `mxgate queue release` lets it go and it is
/// delivered, `mxgate queue delete` removes another (docs/content.md tells
/// the administrator to release a false positive this way).
#[test]
fn a_quarantined_message_is_released_or_deleted_with_the_queue_tools() {
    let xd = tempfile::tempdir().unwrap();
    let x = xd.path().to_path_buf();
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         FEATURE(`access_db', `lmdb @DIR@/access')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_MAILDIR', `{x}/mail/%u/Maildir')dnl\n",
        x = x.display()
    );
    let d = Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            ("mailboxes", MAILBOXES),
            (
                "access",
                "From:q.example.org\tQUARANTINE:suspicious sender\n",
            ),
        ],
        tls: false,
    });
    let s = Site { _x: xd, x, d };
    for subject in ["first", "second"] {
        let r = send(
            s.d.mta,
            "someone@q.example.org",
            &["alice@example.com"],
            &format!("Subject: {subject}\r\n\r\nbody\r\n"),
        );
        assert!(r.starts_with("250"), "{r}");
    }
    assert_eq!(s.d.queued("quarantine").len(), 2);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        maildir(&s.x, "alice").is_empty(),
        "quarantined mail is not delivered"
    );
    let ids: Vec<String> =
        s.d.queued("quarantine")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
    let (ok, out) = queue_cmd(&s, &["release", "--id", &ids[0]]);
    assert!(ok && out.contains("1 message(s) released"), "{out}");
    assert!(
        out.contains(&format!("released {} (quarantine)", ids[0])),
        "{out}"
    );
    wait_for("the released message's delivery", &s.d, || {
        maildir(&s.x, "alice").len() == 1
    });
    let (ok, out) = queue_cmd(
        &s,
        &["delete", "--dry-run", "--from", "someone@q.example.org"],
    );
    assert!(
        ok && out.contains(&format!("would delete {} (quarantine)", ids[1])),
        "{out}"
    );
    let (ok, out) = queue_cmd(&s, &["delete", "--id", &ids[1]]);
    assert!(ok && out.contains("1 message(s) deleted"), "{out}");
    assert!(s.d.queued("quarantine").is_empty());
    assert_eq!(maildir(&s.x, "alice").len(), 1);
}
