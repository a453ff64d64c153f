//! The after-queue content-filter hop with REAL amavisd-new (issue 13):
//! mxgate's MTA listener has `confMXGATE_CONTENT_FILTER` =
//! `smtp:[127.0.0.1]:AMAVIS`; the queue hands every message to Debian's
//! amavisd-new (foreground, configuration written here, clamd from
//! tests/support/clamav.rs as its virus scanner, no spam checks, no DNS),
//! which sends clean mail back to our re-injection listener
//! (`ContentFilter=`, `InputMailFilters=`), and from there it is delivered
//! to a Maildir. amavisd runs as its own user (`$daemon_user`, the
//! `amavis` user the Debian package creates): it refuses to run as root.

mod support;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::clamav::{Clamd, EICAR, SIGNATURE, need};
use support::*;

/// A running amavisd-new; stopped when dropped.
struct Amavis {
    /// Root-owned: amavisd refuses a configuration in a directory its
    /// user can write.
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
}

impl Amavis {
    /// Configure amavisd on `port`, forwarding to `reinject`, scanning
    /// with `clamd`; infected mail is discarded (`D_DISCARD`). `protocol`:
    /// `SMTP` or `LMTP` on `port`.
    fn prepare(clamd: &Clamd, port: u16, reinject: u16, protocol: &str) -> Amavis {
        Amavis::prepare_with(clamd, port, reinject, protocol, "D_DISCARD")
    }

    /// [`Amavis::prepare`] with `$final_virus_destiny` = `destiny`.
    fn prepare_with(
        clamd: &Clamd,
        port: u16,
        reinject: u16,
        protocol: &str,
        destiny: &str,
    ) -> Amavis {
        need("/usr/sbin/amavisd", "amavisd-new");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = d.join("home");
        for sub in ["tmp", "db", "var", "quarantine"] {
            std::fs::create_dir_all(home.join(sub)).unwrap();
        }
        let o = Command::new("chown")
            .args(["-R", "amavis:amavis"])
            .arg(&home)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "chown amavis (the user amavisd-new's package creates): {o:?}"
        );
        std::fs::write(
            d.join("amavisd.conf"),
            format!(
                r#"use strict;
$MYHOME = '{home}';
$TEMPBASE = "$MYHOME/tmp";
$db_home = "$MYHOME/db";
$helpers_home = "$MYHOME/var";
$QUARANTINEDIR = "$MYHOME/quarantine";
$pid_file = "$MYHOME/amavisd.pid";
$lock_file = "$MYHOME/amavisd.lock";
$daemon_user = 'amavis';
$daemon_group = 'amavis';
$mydomain = 'example.com';
$myhostname = 'scanner.example.com';
$inet_socket_port = {port};
$inet_socket_bind = '127.0.0.1';
@inet_acl = qw(127.0.0.1);
$forward_method = 'smtp:[127.0.0.1]:{reinject}';
$notify_method = $forward_method;
$max_servers = 2;
$DO_SYSLOG = 0;
$LOGFILE = "$MYHOME/amavis.log";
$log_level = 2;
@bypass_spam_checks_maps = (1);
$enable_dkim_verification = 0;
$enable_dkim_signing = 0;
$enable_db = 0;
$final_virus_destiny = {destiny};
$virus_quarantine_to = undef;
$warnvirussender = 0;
$warnvirusrecip = 0;
$virus_admin = undef;
@local_domains_maps = (['.example.com']);
@mynetworks = qw(127.0.0.0/8);
@av_scanners = (
  ['ClamAV-clamd', \&ask_daemon, ["CONTSCAN {{}}\n", "{sock}"],
    qr/\bOK$/m, qr/\bFOUND$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND$/m ],
);
@av_scanners_backup = ();
$policy_bank{{'FILTERIN'}} = {{ protocol => '{protocol}' }};
$interface_policy{{'{port}'}} = 'FILTERIN';
1;
"#,
                home = home.display(),
                sock = clamd.socket.display(),
            ),
        )
        .unwrap();
        Amavis {
            dir,
            child: None,
            port,
        }
    }

    /// Start amavisd in the foreground and wait until it answers SMTP.
    fn start(&mut self) {
        let d = self.dir.path();
        let child = Command::new("/usr/sbin/amavisd")
            .arg("-c")
            .arg(d.join("amavisd.conf"))
            .arg("foreground")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap())
            .spawn()
            .expect("start amavisd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                drop(s);
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("amavisd exited {st}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "amavisd did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop amavisd (SIGTERM: it stops its children) and wait for it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Its children may hold the port a moment longer.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        let d = self.dir.path();
        format!(
            "{}{}",
            std::fs::read_to_string(d.join("home/amavis.log")).unwrap_or_default(),
            std::fs::read_to_string(d.join("stderr")).unwrap_or_default()
        )
    }
}

impl Drop for Amavis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The gateway: every listener filters through amavisd on `amavis`, except
/// the re-injection listener on `reinject`.
fn gateway(amavis: u16, reinject: u16) -> Daemon {
    gateway_with("smtp", amavis, reinject)
}

fn gateway_with(transport: &str, amavis: u16, reinject: u16) -> Daemon {
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_MAILDIR', `@DIR@/mail/%u/Maildir')dnl\n\
         define(`confMXGATE_CONTENT_FILTER', `{transport}:[127.0.0.1]:{amavis}')dnl\n\
         DAEMON_OPTIONS(`Port={reinject}, Addr=127.0.0.1, Name=reinject, ContentFilter=, InputMailFilters=')dnl\n"
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", "alice OK\nbob OK\npostmaster OK\n")],
        tls: false,
    })
}

/// One message to `rcpts`; the reply to the final dot.
fn send(port: u16, subject: &str, rcpts: &[&str], body: &str) -> String {
    send_from(port, "sender@example.org", subject, rcpts, body)
}

fn send_from(port: u16, from: &str, subject: &str, rcpts: &[&str], body: &str) -> String {
    let mut c = Raw::connect(port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert!(c.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
    for r in rcpts {
        let a = c.cmd(&format!("RCPT TO:<{r}>"));
        assert!(a.starts_with("250"), "{a}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(&format!(
        "From: sender@example.org\r\nTo: alice@example.com\r\nSubject: {subject}\r\nDate: Fri, 4 Dec 2026 04:00:00 +0000\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\n"
    ));
    c.send(body);
    c.send("\r\n");
    let r = c.cmd(".");
    c.cmd("QUIT");
    r
}

fn mailbox(d: &Daemon, user: &str) -> Vec<String> {
    let new: PathBuf = d.path().join(format!("mail/{user}/Maildir/new"));
    let mut v: Vec<String> = std::fs::read_dir(&new)
        .map(|r| {
            r.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Wait (bounded) until `user` has `n` messages.
fn wait_mail(d: &Daemon, user: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = mailbox(d, user);
        if v.len() >= n || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The maillog once it holds `n` lines containing `text` (or after 10 s).
/// The filter's re-injected copy is handed to a worker the moment it is
/// committed, so it can be delivered, and its mailbox read, before the
/// filter hop's pass has amavis's replies and logs them.
fn log_with(d: &Daemon, text: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = d.maillog();
        if log.matches(text).count() >= n || Instant::now() >= deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mailq(d: &Daemon) -> String {
    let out = Command::new(BIN)
        .arg("mailq")
        .arg("-C")
        .arg(&d.mc)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn queue_flush(d: &Path) -> String {
    let out = Command::new(BIN)
        .arg("queue")
        .arg("--queue-dir")
        .arg(d.join("spool"))
        .arg("flush")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn mail_goes_through_amavis_and_comes_back_scanned_once_and_eicar_is_discarded() {
    let clamd = Clamd::start();
    let (aport, rport) = (free_port(), free_port());
    let mut amavis = Amavis::prepare(&clamd, aport, rport, "SMTP");
    amavis.start();
    let d = gateway(aport, rport);
    // Two recipients: amavis gets them in one transaction and sends the
    // message back once, to both.
    let r = send(
        d.mta,
        "clean",
        &["alice@example.com", "bob@example.com"],
        "just a letter",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let a = wait_mail(&d, "alice", 1);
    assert_eq!(a.len(), 1, "{}\n{}", d.maillog(), amavis.log());
    assert!(a[0].contains("Subject: clean"), "{}", a[0]);
    assert!(
        a[0].contains("X-Virus-Scanned: amavis at example.com"),
        "{}",
        a[0]
    );
    assert_eq!(wait_mail(&d, "bob", 1).len(), 1);
    let log = log_with(&d, "mailer=esmtp, pri=", 2);
    // The start line names each listener's filter.
    assert!(
        log.contains(&format!(
            "MTA on 127.0.0.1:{} (content filter smtp:[127.0.0.1]:{aport}),",
            d.mta
        )) && log.contains(&format!("reinject on 127.0.0.1:{rport}")),
        "{log}"
    );
    assert!(
        !log.contains(&format!("reinject on 127.0.0.1:{rport} (content")),
        "{log}"
    );
    // The filter hop: one to= line per recipient, to amavis, naming the filter.
    // amavis's 250 quotes our re-injection listener's "queued as".
    let hop = format!(
        "relay=[127.0.0.1], filter=smtp:[127.0.0.1]:{aport}, dsn=2.0.0, \
         stat=Sent (from MTA(smtp:[127.0.0.1]:{rport}): 250 2.0.0 "
    );
    assert_eq!(log.matches(&hop).count(), 2, "{log}");
    assert_eq!(
        log.matches("Message accepted for delivery)").count(),
        2,
        "{log}"
    );
    assert_eq!(log.matches("mailer=esmtp, pri=").count(), 2, "{log}");
    // ...then back in through the re-injection listener, and delivered.
    assert!(log.contains("daemon=reinject"), "{log}");
    assert_eq!(log.matches("mailer=local").count(), 2, "{log}");
    // Arrived exactly once (the re-injected copy is not filtered again).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mailbox(&d, "alice").len(), 1, "{}", d.maillog());
    assert_eq!(d.maillog().matches("daemon=reinject").count(), 1);

    // EICAR: amavis accepts and discards it (D_DISCARD): our queue counts
    // it as delivered to the filter, and nobody gets it.
    let r = send(d.mta, "infected", &["alice@example.com"], EICAR);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.maillog().contains("discarded") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.maillog();
    assert!(
        log.contains(&format!(
            "filter=smtp:[127.0.0.1]:{aport}, dsn=2.0.0, stat=Sent (Ok, discarded, id="
        )),
        "{log}\n{}",
        amavis.log()
    );
    assert!(
        log.contains(&format!("INFECTED: {SIGNATURE})")),
        "amavis names the virus: {log}"
    );
    assert!(amavis.log().contains(SIGNATURE), "{}", amavis.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mailbox(&d, "alice").len(), 1, "EICAR not delivered");
    assert!(d.queued("queue").is_empty(), "{}", mailq(&d));
}

#[test]
fn amavis_down_keeps_mail_queued_until_it_is_back_and_the_queue_is_flushed() {
    let clamd = Clamd::start();
    let (aport, rport) = (free_port(), free_port());
    let mut amavis = Amavis::prepare(&clamd, aport, rport, "SMTP");
    let d = gateway(aport, rport);
    // amavisd not running: the filter hop refuses connections.
    let r = send(d.mta, "waiting", &["alice@example.com"], "just a letter");
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(
        d.wait_log(
            &format!("filter=smtp:[127.0.0.1]:{aport}, dsn=4."),
            Duration::from_secs(30)
        ),
        "{}",
        d.maillog()
    );
    assert_eq!(d.queued("queue").len(), 1);
    let q = mailq(&d);
    assert!(
        q.contains("(1 request)") && q.contains("<alice@example.com>"),
        "{q}"
    );
    assert!(mailbox(&d, "alice").is_empty());
    // Monitoring says why.
    let h = Command::new(BIN)
        .args(["health", "--config"])
        .arg(&d.mc)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&h.stdout);
    assert_eq!(h.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "content filter smtp:[127.0.0.1]:{aport} not answering"
        )),
        "{text}"
    );
    // amavisd back, the operator flushes: delivered through the filter.
    amavis.start();
    let f = queue_flush(d.path());
    assert!(f.contains("1 message(s) flushed"), "{f}");
    let a = wait_mail(&d, "alice", 1);
    assert_eq!(a.len(), 1, "{}\n{}", d.maillog(), amavis.log());
    assert!(a[0].contains("X-Virus-Scanned: amavis at example.com"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.queued("queue").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.queued("queue").is_empty(), "{}", mailq(&d));
    let h = Command::new(BIN)
        .args(["health", "--config"])
        .arg(&d.mc)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(!text.contains("content filter"), "{text}");
}

#[test]
fn the_filter_hop_speaks_lmtp_to_amavis_when_configured_so() {
    let clamd = Clamd::start();
    let (aport, rport) = (free_port(), free_port());
    let mut amavis = Amavis::prepare(&clamd, aport, rport, "LMTP");
    amavis.start();
    let d = gateway_with("lmtp", aport, rport);
    let r = send(
        d.mta,
        "over-lmtp",
        &["alice@example.com", "bob@example.com"],
        "a letter",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let a = wait_mail(&d, "alice", 1);
    assert_eq!(a.len(), 1, "{}\n{}", d.maillog(), amavis.log());
    assert!(a[0].contains("X-Virus-Scanned: amavis at example.com"));
    assert_eq!(wait_mail(&d, "bob", 1).len(), 1);
    let log = log_with(&d, "mailer=lmtp, pri=", 2);
    // LMTP: one reply per recipient after the data, each logged.
    assert_eq!(log.matches("mailer=lmtp, pri=").count(), 2, "{log}");
    assert_eq!(
        log.matches(&format!(
            "relay=[127.0.0.1], filter=lmtp:[127.0.0.1]:{aport}, dsn=2.0.0, stat=Sent ("
        ))
        .count(),
        2,
        "{log}"
    );
    assert!(amavis.log().contains("LMTP"), "{}", amavis.log());
}

#[test]
fn a_filter_that_rejects_bounces_the_message_to_its_sender() {
    let clamd = Clamd::start();
    let (aport, rport) = (free_port(), free_port());
    // D_REJECT: amavisd answers the infected message with a 5xx.
    let mut amavis = Amavis::prepare_with(&clamd, aport, rport, "SMTP", "D_REJECT");
    amavis.start();
    let d = gateway(aport, rport);
    let r = send_from(
        d.mta,
        "postmaster@example.com",
        "infected",
        &["alice@example.com"],
        EICAR,
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    // The sender (a local mailbox here) gets our DSN with amavis's reply;
    // the DSN itself is not sent through the filter.
    let dsn = wait_mail(&d, "postmaster", 1);
    assert_eq!(dsn.len(), 1, "{}\n{}", d.maillog(), amavis.log());
    assert!(
        dsn[0].contains("Content-Type: multipart/report"),
        "{}",
        dsn[0]
    );
    assert!(dsn[0].contains("Status: 5.7.0"), "{}", dsn[0]);
    assert!(dsn[0].contains(SIGNATURE), "{}", dsn[0]);
    assert!(!dsn[0].contains("X-Virus-Scanned"), "{}", dsn[0]);
    let log = d.maillog();
    assert!(
        log.contains(&format!(
            "filter=smtp:[127.0.0.1]:{aport}, dsn=5.7.0, stat=554 5.7.0 Reject, id="
        )),
        "{log}"
    );
    assert!(log.contains(&format!("INFECTED: {SIGNATURE}")), "{log}");
    assert!(mailbox(&d, "alice").is_empty());
}
