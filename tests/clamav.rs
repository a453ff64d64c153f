//! Virus scanning with REAL ClamAV (issue 13): Debian's clamd with a
//! signature database this test writes (EICAR, tests/support/clamav.rs)
//! and Debian's clamav-milter in front of it on a loopback port, named in
//! the .mc as `INPUT_MAIL_FILTER(`clamav', `S=inet:PORT@127.0.0.1, F=T')`.
//! EICAR is refused (OnInfected Reject) or quarantined (OnInfected
//! Quarantine, our quarantine/ state), clean mail is delivered with
//! clamav-milter's headers, and with clamd gone the mail is temp-failed.

mod support;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::clamav::{Clamd, EICAR, SIGNATURE, need};
use support::*;

/// A running clamav-milter; stopped when dropped.
struct ClamavMilter {
    dir: tempfile::TempDir,
    child: Child,
    /// `S=` for the .mc.
    socket: String,
}

impl ClamavMilter {
    /// clamav-milter in the foreground against `clamd`, with `OnInfected
    /// on_infected`, `RejectMsg` naming the virus (its `%v`), and `OnFail
    /// Defer` (its default: temp-fail when clamd cannot be asked).
    fn start(clamd: &Clamd, on_infected: &str) -> ClamavMilter {
        need("/usr/sbin/clamav-milter", "clamav-milter");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        std::fs::write(
            d.join("clamav-milter.conf"),
            format!(
                "MilterSocket inet:{port}@127.0.0.1\n\
                 Foreground yes\n\
                 User root\n\
                 ClamdSocket unix:{sock}\n\
                 OnInfected {on_infected}\n\
                 OnFail Defer\n\
                 RejectMsg \"Virus found: %v\"\n\
                 AddHeader Replace\n\
                 LogFile {log}\n\
                 LogVerbose yes\n\
                 LogInfected Full\n\
                 LogClean Full\n\
                 TemporaryDirectory {tmp}\n",
                sock = clamd.socket.display(),
                log = d.join("milter.log").display(),
                tmp = d.join("tmp").display(),
            ),
        )
        .unwrap();
        let mut child = Command::new("/usr/sbin/clamav-milter")
            .arg("-c")
            .arg(d.join("clamav-milter.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap())
            .spawn()
            .expect("start clamav-milter");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "clamav-milter exited {st}: {}",
                    std::fs::read_to_string(d.join("stderr")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "clamav-milter did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        ClamavMilter {
            dir,
            child,
            socket: format!("inet:{port}@127.0.0.1"),
        }
    }

    fn log(&self) -> String {
        let d = self.dir.path();
        format!(
            "{}{}",
            std::fs::read_to_string(d.join("milter.log")).unwrap_or_default(),
            std::fs::read_to_string(d.join("stderr")).unwrap_or_default()
        )
    }
}

impl Drop for ClamavMilter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A daemon delivering example.com to Maildirs, with clamav-milter as its
/// only mail filter (`F=T`: temp-fail when the filter cannot scan).
fn daemon(milter: &ClamavMilter) -> Daemon {
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_MAILDIR', `@DIR@/mail/%u/Maildir')dnl\n\
         INPUT_MAIL_FILTER(`clamav', `S={}, F=T, T=S:30s;R:30s;E:60s')dnl\n",
        milter.socket
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", "alice OK\npostmaster OK\n")],
        tls: false,
    })
}

/// One SMTP transaction; the reply to the final dot, or the first reply
/// that refused (`MAIL: ...`, `RCPT: ...`).
fn send(port: u16, subject: &str, body: &str) -> String {
    let mut c = Raw::connect(port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    let r = c.cmd("MAIL FROM:<sender@example.org>");
    if !r.starts_with("250") {
        return format!("MAIL: {r}");
    }
    let r = c.cmd("RCPT TO:<alice@example.com>");
    if !r.starts_with("250") {
        return format!("RCPT: {r}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(&format!(
        "From: sender@example.org\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\n"
    ));
    c.send(body);
    c.send("\r\n");
    let r = c.cmd(".");
    c.cmd("QUIT");
    r
}

fn maildir(d: &Daemon) -> Vec<String> {
    let new: PathBuf = d.path().join("mail/alice/Maildir/new");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files: Vec<String> = std::fs::read_dir(&new)
            .map(|r| {
                r.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() || Instant::now() > deadline {
            return files;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn clamd_finds_the_eicar_signature_the_test_wrote() {
    let clamd = Clamd::start();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("eicar.txt");
    std::fs::write(&f, EICAR).unwrap();
    let g = dir.path().join("clean.txt");
    std::fs::write(&g, "hello\n").unwrap();
    assert!(clamd.scan(&f).contains(&format!("{SIGNATURE} FOUND")));
    assert!(clamd.scan(&g).trim_end().ends_with(": OK"));
}

#[test]
fn eicar_is_rejected_and_clean_mail_passes_with_clamav_milter_headers() {
    let clamd = Clamd::start();
    let milter = ClamavMilter::start(&clamd, "Reject");
    let d = daemon(&milter);
    let r = send(d.mta, "infected", EICAR);
    assert!(r.starts_with("550 5.7.1"), "{r}\n{}", milter.log());
    assert!(r.contains(SIGNATURE), "clamav-milter names the virus: {r}");
    assert!(d.queued("queue").is_empty() && d.queued("quarantine").is_empty());
    assert!(
        d.wait_log(
            "milter=clamav, action=data, reject=550 5.7.1",
            Duration::from_secs(5)
        ),
        "{}",
        d.maillog()
    );
    let r = send(d.mta, "clean", "just a letter");
    assert!(r.starts_with("250 2.0.0"), "{r}\n{}", milter.log());
    let got = maildir(&d);
    assert_eq!(got.len(), 1, "exactly the clean message: {}", d.maillog());
    assert!(got[0].contains("Subject: clean"), "{}", got[0]);
    assert!(got[0].contains("X-Virus-Status: Clean"), "{}", got[0]);
    assert!(
        got[0].contains("X-Virus-Scanned: clamav-milter "),
        "{}",
        got[0]
    );
    assert!(milter.log().contains(SIGNATURE), "{}", milter.log());
}

#[test]
fn eicar_is_quarantined_when_clamav_milter_says_quarantine() {
    let clamd = Clamd::start();
    let milter = ClamavMilter::start(&clamd, "Quarantine");
    let d = daemon(&milter);
    let r = send(d.mta, "infected", EICAR);
    // Accepted, and held: the quarantine/ state, never delivered.
    assert!(r.starts_with("250 2.0.0"), "{r}\n{}", milter.log());
    let held = d.queued("quarantine");
    assert_eq!(held.len(), 1, "{}", d.maillog());
    let text = std::fs::read_to_string(&held[0]).unwrap();
    assert!(text.contains("fact quarantine "), "{text}");
    assert!(
        text.contains("EICAR-STANDARD-ANTIVIRUS-TEST-FILE"),
        "{text}"
    );
    assert!(d.wait_log("milter=clamav, quarantine=", Duration::from_secs(5)));
    let r = send(d.mta, "clean", "just a letter");
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = maildir(&d);
    assert_eq!(got.len(), 1, "{}", d.maillog());
    assert!(got[0].contains("Subject: clean"));
    assert_eq!(d.queued("quarantine").len(), 1);
}

#[test]
fn clamd_down_with_f_t_temp_fails_the_message() {
    let mut clamd = Clamd::start();
    let milter = ClamavMilter::start(&clamd, "Reject");
    let d = daemon(&milter);
    clamd.stop();
    // clamav-milter cannot ask clamd: OnFail Defer answers tempfail, and
    // we say 451 4.3.2 (sendmail's words for a filter's temp failure).
    let r = send(d.mta, "while clamd is down", "just a letter");
    assert!(r.starts_with("451 4.3.2"), "{r}\n{}", milter.log());
    assert!(d.queued("queue").is_empty());
    assert!(
        d.wait_log(
            "milter=clamav, action=data, reject=451 4.3.2 Please try again later",
            Duration::from_secs(5)
        ),
        "{}",
        d.maillog()
    );
    // clamav-milter words it one of two ways, depending on whether its
    // pool probe has already marked clamd down.
    let log = milter.log();
    assert!(
        log.contains("No clamd server appears to be available")
            || log.contains("Failed to initiate streaming/fdpassing"),
        "{log}"
    );
    // clamav-milter itself gone: F=T decides, the same 451 4.3.2.
    drop(milter);
    // (sendmail answers from MAIL on when the filter is unusable at connect.)
    let r = send(d.mta, "while the milter is down", "just a letter");
    assert!(r.starts_with("MAIL: 451 4.3.2"), "{r}");
    assert!(
        d.wait_log("Milter (clamav): ", Duration::from_secs(5)),
        "{}",
        d.maillog()
    );
    assert!(d.queued("queue").is_empty());
    assert!(maildir_is_empty(&d));
}

fn maildir_is_empty(d: &Daemon) -> bool {
    std::fs::read_dir(d.path().join("mail/alice/Maildir/new"))
        .map(|r| r.count() == 0)
        .unwrap_or(true)
}
