//! Mail filters (milter protocol v6) with REAL filters: Debian's
//! python3-milter (pymilter over sendmail's libmilter) runs
//! tests/support/test_filter.py on 127.0.0.1 or a unix socket; Python's
//! smtplib sends the mail; the spool and the log say what happened.

mod support;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Debian's python, where python3-milter is installed.
const PY: &str = "/usr/bin/python3";

/// A running pymilter filter; killed when dropped.
struct Filter {
    child: Child,
    /// What the filter printed (its callbacks), read so far.
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Filter {
    /// Start tests/support/test_filter.py in `mode` on `socket`
    /// (`inet:PORT@127.0.0.1` or `unix:/path`) and wait until it listens.
    fn start(mode: &str, socket: &str) -> Filter {
        let probe = Command::new(PY).args(["-c", "import Milter"]).output();
        assert!(
            probe.is_ok_and(|o| o.status.success()),
            "python3-milter is missing: apt-get install -y python3-milter (tools/test installs it)"
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/test_filter.py");
        let mut child = Command::new(PY)
            .args([script, mode, socket])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start test_filter.py");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = match socket.strip_prefix("unix:") {
                Some(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
                None => {
                    let (kind, rest) = socket.split_once(':').unwrap();
                    let (port, _) = rest.split_once('@').unwrap();
                    let host = if kind == "inet6" { "::1" } else { "127.0.0.1" };
                    std::net::TcpStream::connect((host, port.parse::<u16>().unwrap())).is_ok()
                }
            };
            if up {
                break;
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("test_filter.py {mode} exited {st}");
            }
            assert!(
                Instant::now() < deadline,
                "test_filter.py {mode} did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Filter { child, out }
    }

    fn seen(&self) -> String {
        self.out.lock().unwrap().clone()
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn inet() -> String {
    format!("inet:{}@127.0.0.1", free_port())
}

/// A daemon with these `INPUT_MAIL_FILTER` lines.
fn daemon(filters: &str) -> Daemon {
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n{filters}"
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", "alice OK\nblocked OK\n")],
        tls: false,
    })
}

/// Send one message with smtplib; one line saying how it went:
/// `OK {refused}`, `CONNECT code text`, `MAIL code text`,
/// `RCPTS {...}` or `DATA code text`.
fn send(port: u16, subject: &str, rcpts: &[&str]) -> String {
    let rcpts: Vec<String> = rcpts.iter().map(|r| format!("{r:?}")).collect();
    let out = python(&format!(
        r#"
import smtplib
try:
    s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test", timeout=60)
except smtplib.SMTPConnectError as e:
    print("CONNECT", e.smtp_code, e.smtp_error.decode()); raise SystemExit
msg = "Subject: {subject}\r\nX-Drop: remove me\r\nMessage-ID: <t1@example.org>\r\n\r\nbody line\r\n"
try:
    r = s.sendmail("sender@example.org", [{rcpts}], msg)
    print("OK", r)
except smtplib.SMTPSenderRefused as e:
    print("MAIL", e.smtp_code, e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    print("RCPTS", e.recipients)
except smtplib.SMTPDataError as e:
    print("DATA", e.smtp_code, e.smtp_error.decode())
try:
    s.quit()
except Exception:
    pass
"#,
        rcpts = rcpts.join(", ")
    ));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "smtplib: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn spooled(d: &Daemon, state: &str) -> Vec<String> {
    d.queued(state)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn log_has(d: &Daemon, text: &str) -> bool {
    d.wait_log(text, Duration::from_secs(5))
}

#[test]
fn reject_by_subject_at_end_of_message() {
    let s = inet();
    let f = Filter::start("reject", &s);
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`scan', `S={s}, F=T, T=R:20s;E:20s')dnl\n"
    ));
    assert_eq!(
        send(d.mta, "buy SPAM now", &["alice@example.com"]),
        "DATA 550 5.7.1 Command rejected"
    );
    assert!(spooled(&d, "queue").is_empty(), "nothing queued");
    assert!(log_has(
        &d,
        "milter=scan, action=data, reject=550 5.7.1 Command rejected"
    ));
    assert!(log_has(&d, "Milter: data, relay="));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    assert_eq!(spooled(&d, "queue").len(), 1);
    let seen = f.seen();
    assert!(seen.contains("connect "), "{seen}");
    assert!(seen.contains("mail <sender@example.org>"), "{seen}");
    assert!(seen.contains("rcpt <alice@example.com>"), "{seen}");
    assert!(seen.contains("eom hello"), "{seen}");
}

#[test]
fn replycode_with_enhanced_status_and_two_lines() {
    let s = inet();
    let _f = Filter::start("replycode", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`policy', `S={s}, F=R')dnl\n"));
    let r = send(d.mta, "SPAM", &["alice@example.com"]);
    assert!(
        r.starts_with("DATA 550 5.7.0 Subject refused by policy\n5.7.0 see the postmaster"),
        "{r}"
    );
    assert!(spooled(&d, "queue").is_empty());
    assert!(log_has(
        &d,
        "milter=policy, action=data, reject=550-5.7.0 Subject refused by policy / 550 5.7.0 see the postmaster"
    ));
}

#[test]
fn header_filter_on_a_unix_socket_changes_what_is_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let sock = format!("unix:{}", dir.path().join("hdr.sock").display());
    let _f = Filter::start("header", &sock);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`hdr', `S={sock}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    let m = &q[0];
    assert!(m.contains("\r\nX-Scanned: yes by header filter\r\n"), "{m}");
    assert!(m.contains("\r\nSubject: [scanned] hello\r\n"), "{m}");
    assert!(!m.contains("Subject: hello\r\n"), "{m}");
    assert!(!m.contains("X-Drop"), "{m}");
    assert!(m.contains("\r\n\r\nbody line\r\n"), "{m}");
    assert!(log_has(
        &d,
        "Milter add: header: X-Scanned: yes by header filter"
    ));
    assert!(log_has(
        &d,
        "Milter change: header Subject: from hello to [scanned] hello"
    ));
    assert!(log_has(&d, "Milter delete: header X-Drop: remove me"));
}

#[test]
fn quarantine_puts_the_message_on_hold_with_the_reason() {
    let s = inet();
    let _f = Filter::start("quarantine", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`av', `S={s}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    assert!(spooled(&d, "queue").is_empty(), "not in the active queue");
    let held = spooled(&d, "quarantine");
    assert_eq!(held.len(), 1);
    assert!(
        held[0].contains("fact quarantine test%20virus%20found\n"),
        "{}",
        held[0]
    );
    assert!(log_has(&d, "milter=av, quarantine=test virus found"));
    assert!(log_has(&d, "quarantine=test virus found"));
}

#[test]
fn tempfail_and_discard() {
    let (s1, s2) = (inet(), inet());
    let _t = Filter::start("tempfail", &s1);
    let _d = Filter::start("discard", &s2);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`tf', `S={s1}')dnl\n"));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "DATA 451 4.3.2 Please try again later"
    );
    assert!(spooled(&d, "queue").is_empty());
    let d = daemon(&format!("INPUT_MAIL_FILTER(`drop', `S={s2}')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    assert!(spooled(&d, "queue").is_empty(), "discarded");
    assert!(log_has(&d, "Milter: data, discard"));
    assert!(log_has(&d, "discarded (milter drop)"));
}

#[test]
fn a_recipient_refused_by_a_filter_gets_its_own_reply() {
    let s = inet();
    let _f = Filter::start("rcpt", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`rc', `S={s}, F=T')dnl\n"));
    let r = send(
        d.mta,
        "hello",
        &["alice@example.com", "blocked@example.com"],
    );
    assert!(
        r.starts_with("OK {'blocked@example.com': (550, b'5.7.1 Command rejected')}"),
        "{r}"
    );
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    assert!(
        q[0].contains("rcpt <alice@example.com>") && !q[0].contains("blocked@"),
        "{}",
        q[0]
    );
    assert!(log_has(&d, "Milter: to=<blocked@example.com>, relay="));
}

#[test]
fn two_filters_run_in_order_and_both_headers_land() {
    let dir = tempfile::tempdir().unwrap();
    let sock = format!("unix:{}", dir.path().join("first.sock").display());
    let s2 = inet();
    let _a = Filter::start("header", &sock);
    let _b = Filter::start("second", &s2);
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`first', `S={sock}, F=T')dnl\nINPUT_MAIL_FILTER(`second', `S={s2}, F=T')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    let m = &q[0];
    let first = m
        .find("X-Scanned: yes by header filter")
        .expect("first filter's header");
    let second = m.find("X-Second: yes").expect("second filter's header");
    assert!(first < second, "changes applied in filter order: {m}");
    let log = d.maillog();
    let a = log.find("Milter add: header: X-Scanned").unwrap();
    let b = log.find("Milter add: header: X-Second").unwrap();
    assert!(a < b, "{log}");
}

/// An unknown SMTP command reaches the filters (`SMFIC_UNKNOWN`, as
/// sendmail sends it before answering `500`), and a filter may answer it
/// with its own reply.
#[test]
fn unknown_commands_reach_the_filter_which_may_answer_them() {
    let s = inet();
    let f = Filter::start("unknown", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`scan', `S={s}, F=T')dnl\n"));
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert_eq!(
        c.cmd("XYZZY plugh"),
        "500 5.5.1 Command unrecognized: \"XYZZY plugh\""
    );
    assert_eq!(c.cmd("XREJECT now"), "550 5.7.1 Not that command here");
    assert!(c.cmd("QUIT").starts_with("221"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f.seen().contains("unknown XREJECT now") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = f.seen();
    assert!(seen.contains("unknown XYZZY plugh"), "{seen}");
    assert!(seen.contains("unknown XREJECT now"), "{seen}");
}

#[test]
fn rset_aborts_the_filters_transaction() {
    let s = inet();
    let f = Filter::start("reject", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`scan', `S={s}, F=T')dnl\n"));
    let out = python(&format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test")
s.ehlo()
print(s.mail("first@example.org")[0], s.rset()[0], s.mail("second@example.org")[0])
s.quit()
"#,
        port = d.mta
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "250 250 250");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f.seen().contains("mail <second@example.org>") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = f.seen();
    let first = seen.find("mail <first@example.org>").expect("first MAIL");
    let abort = seen.find("abort").expect("SMFIC_ABORT after RSET");
    let second = seen.find("mail <second@example.org>").expect("second MAIL");
    assert!(first < abort && abort < second, "{seen}");
}

#[test]
fn a_filter_on_ipv6_loopback() {
    let port = free_port();
    // libmilter's inet6 form names the host bare; mxgate's `.mc` form may
    // bracket it, as sendmail's documentation does.
    let _f = Filter::start("second", &format!("inet6:{port}@::1"));
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`v6', `S=inet6:{port}@[::1], F=T')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    assert!(q[0].contains("\r\nX-Second: yes\r\n"), "{}", q[0]);
}

#[test]
fn unreachable_filter_follows_its_flag() {
    // Nothing listens on these ports.
    let dead = inet();
    let d = daemon(&format!("INPUT_MAIL_FILTER(`gone', `S={dead}, F=T')dnl\n"));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "MAIL 451 4.3.2 Please try again later"
    );
    assert!(spooled(&d, "queue").is_empty(), "nothing queued unscanned");
    assert!(log_has(&d, "Milter (gone): error connecting to filter"));
    assert!(log_has(&d, "Milter (gone): to error state"));

    let d = daemon(&format!("INPUT_MAIL_FILTER(`gone', `S={dead}, F=R')dnl\n"));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "CONNECT 554 gw.example.com ESMTP not accepting messages"
    );
    assert!(log_has(&d, "rejecting commands"));
    assert!(spooled(&d, "queue").is_empty());

    let d = daemon(&format!("INPUT_MAIL_FILTER(`gone', `S={dead}')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    assert_eq!(spooled(&d, "queue").len(), 1, "no flag: the mail passes");
    assert!(log_has(&d, "Milter (gone): to error state"));
}

#[test]
fn filter_dying_in_the_body_temp_fails_the_message() {
    let s = inet();
    let f = Filter::start("die", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`dies', `S={s}, F=T')dnl\n"));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "DATA 451 4.3.2 Please try again later"
    );
    assert!(f.seen().contains("dying in the body"), "{}", f.seen());
    assert!(spooled(&d, "queue").is_empty(), "nothing queued");
    assert!(log_has(&d, "Milter (dies): filter closed the connection"));
}

#[test]
fn a_filter_gets_the_macro_lists_it_asks_for() {
    // libmilter's smfi_setsymlist (pymilter's setsymlist) in the filter's
    // negotiate callback. mxgate did not offer SMFIF_SETSYMLIST: the
    // filter refused the negotiation ("negotiate: no SETSYMLIST
    // offered"), was put in the error state, and F=T temp-failed the mail.
    // As sendmail's milter_getsymlist, a list the filter sends replaces
    // that stage's list for that filter; the other stages keep theirs.
    let s = inet();
    let f = Filter::start("symlist", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`sl', `S={s}, F=T')dnl\n"));
    let said = send(d.mta, "hello", &["alice@example.com"]);
    assert_eq!(said, "OK {}", "{}\n{}", f.seen(), d.maillog());
    let m = macros_seen(&f);
    let has = |want: &str| m.iter().any(|l| l == want);
    let any = |prefix: &str| m.iter().any(|l| l.starts_with(prefix));
    // connect: {client_addr} instead of j, _, {daemon_name} ...
    assert!(has("connect {client_addr}=127.0.0.1"), "{m:?}");
    assert!(!any("connect j="), "{m:?}");
    assert!(!any("connect {daemon_name}="), "{m:?}");
    // MAIL keeps the configured (default) list.
    assert!(has("mail {mail_addr}=sender@example.org"), "{m:?}");
    // RCPT: {client_port} (in no default list) and {rcpt_mailer}, not
    // {rcpt_addr}.
    assert!(any("rcpt {client_port}="), "{m:?}");
    assert!(has("rcpt {rcpt_mailer}=local"), "{m:?}");
    assert!(!any("rcpt {rcpt_addr}="), "{m:?}");
    assert_eq!(spooled(&d, "queue").len(), 1);
}

#[test]
fn change_sender_with_esmtp_arguments() {
    let s = inet();
    let _f = Filter::start("chgfrom", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`cf', `S={s}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    assert!(q[0].contains("sender <bounces@example.net>\n"), "{}", q[0]);
    assert!(!q[0].contains("sender@example.org>\n"), "{}", q[0]);
    assert!(q[0].contains("fact ret HDRS\n"), "{}", q[0]);
    assert!(log_has(&d, "Milter chgfrom: <bounces@example.net>"));
    assert!(log_has(&d, "from=<bounces@example.net>, size="));
}

#[test]
fn add_recipients_with_and_without_arguments() {
    let s = inet();
    let _f = Filter::start("addrcpt", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`ar', `S={s}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    let m = &q[0];
    assert!(m.contains("rcpt <alice@example.com>"), "{m}");
    assert!(m.contains("rcpt <copy@example.com>"), "{m}");
    let audit = m
        .lines()
        .find(|l| l.starts_with("rcpt <audit@example.com>"))
        .unwrap_or_else(|| panic!("audit recipient: {m}"));
    assert!(audit.contains("NEVER"), "NOTIFY=NEVER kept: {audit}");
    assert!(log_has(&d, "Milter add: rcpt: <copy@example.com>"));
    assert!(log_has(&d, "Milter add: rcpt: <audit@example.com>"));
    assert!(log_has(&d, "nrcpts=3"));
}

#[test]
fn delete_recipients_matches_as_given_in_rcpt_ignoring_case() {
    let s = inet();
    let f = Filter::start("delrcpt", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`dr', `S={s}, F=T')dnl\n"));
    assert_eq!(
        send(
            d.mta,
            "hello",
            &["alice@example.com", "blocked@example.com"]
        ),
        "OK {}"
    );
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    assert!(q[0].contains("rcpt <alice@example.com>"), "{}", q[0]);
    assert!(!q[0].contains("blocked@"), "{}", q[0]);
    assert!(
        f.seen().contains("rcpt <blocked@example.com>"),
        "{}",
        f.seen()
    );
    assert!(log_has(&d, "Milter delete: rcpt <BLOCKED@EXAMPLE.COM>"));
    assert!(log_has(&d, "nrcpts=1"));
    // Every recipient deleted: accepted and dropped, nothing queued.
    let d = daemon(&format!("INPUT_MAIL_FILTER(`dr', `S={s}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["blocked@example.com"]), "OK {}");
    assert!(spooled(&d, "queue").is_empty());
    assert!(log_has(&d, "discarded (milter: no recipients left)"));
}

#[test]
fn replace_body_in_several_chunks() {
    let s = inet();
    let _f = Filter::start("replbody", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`rb', `S={s}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    let m = &q[0];
    let body = m
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("no body: {m}"));
    assert!(!body.contains("body line"), "old body gone");
    let expect: String = (0..6250).map(|n| format!("replaced {n:05}\r\n")).collect();
    assert_eq!(expect.len(), 100000);
    assert!(
        body == expect,
        "{} octets, ends {:?}",
        body.len(),
        &body[body.len().saturating_sub(40)..]
    );
    assert!(m.contains("Subject: hello\r\n"), "headers kept: {m}");
    assert!(log_has(&d, "Milter: data, replbody"));
}

#[test]
fn a_later_filter_sees_the_message_as_changed_by_an_earlier_one() {
    // sendmail's milter_data applies each filter's changes before the next
    // filter gets the headers and body.
    let (s1, s2) = (inet(), inet());
    let _a = Filter::start("replbody", &s1);
    let _b = Filter::start("bodyseen", &s2);
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`rb', `S={s1}, F=T')dnl\nINPUT_MAIL_FILTER(`seen', `S={s2}, F=T')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    assert!(
        q[0].contains("\r\nX-Body-Seen: replaced 00000\r\n"),
        "{}",
        &q[0][..q[0].len().min(600)]
    );
    // And the other order: the body filter runs last, the other saw the original.
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`seen', `S={s2}, F=T')dnl\nINPUT_MAIL_FILTER(`rb', `S={s1}, F=T')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    assert!(
        q[0].contains("\r\nX-Body-Seen: body line\r\n"),
        "{}",
        &q[0][..q[0].len().min(600)]
    );
}

#[test]
fn a_later_filter_sees_headers_changed_by_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let sock = format!("unix:{}", dir.path().join("h.sock").display());
    let s2 = inet();
    let _a = Filter::start("header", &sock);
    let _b = Filter::start("bodyseen", &s2);
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`hdr', `S={sock}, F=T')dnl\nINPUT_MAIL_FILTER(`seen', `S={s2}, F=T')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert!(
        q[0].contains("\r\nX-Subject-Seen: [scanned] hello\r\n"),
        "{}",
        q[0]
    );
}

/// The macros the "macros" filter printed: `STAGE name=value` lines.
fn macros_seen(f: &Filter) -> Vec<String> {
    f.seen()
        .lines()
        .filter_map(|l| l.strip_prefix("macro "))
        .map(String::from)
        .collect()
}

#[test]
fn sendmails_default_macro_lists_with_the_queue_id() {
    let s = inet();
    let f = Filter::start("macros", &s);
    let d = daemon(&format!("INPUT_MAIL_FILTER(`m', `S={s}, F=T')dnl\n"));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    let id = q[0]
        .lines()
        .find_map(|l| l.strip_prefix("id "))
        .expect("queue id")
        .to_string();
    let m = macros_seen(&f);
    let has = |want: &str| m.iter().any(|l| l == want);
    // connect: j _ {daemon_name} {if_name} {if_addr} (no if_addr on
    // loopback; {if_name} is our address's name, from the hosts file)
    assert!(has("connect j=gw.example.com"), "{m:?}");
    assert!(has("connect {if_name}=localhost"), "{m:?}");
    assert!(
        !m.iter().any(|l| l.starts_with("connect {if_addr}")),
        "{m:?}"
    );
    assert!(has("connect {daemon_name}=MTA"), "{m:?}");
    assert!(m.iter().any(|l| l.starts_with("connect _=")), "{m:?}");
    assert!(
        !m.iter().any(|l| l.starts_with("connect {client_addr}")),
        "{m:?}"
    );
    // MAIL: i and the resolved sender
    assert!(
        has(&format!("mail i={id}")),
        "i is the spooled id {id}: {m:?}"
    );
    assert!(has("mail {mail_addr}=sender@example.org"), "{m:?}");
    assert!(has("mail {mail_mailer}=esmtp"), "{m:?}");
    assert!(has("mail {mail_host}=example.org"), "{m:?}");
    // RCPT: the local recipient resolves to the local mailer
    assert!(has("rcpt {rcpt_mailer}=local"), "{m:?}");
    assert!(has("rcpt {rcpt_addr}=alice"), "{m:?}");
    // end of message
    assert!(has("eom {msg_id}=<t1@example.org>"), "{m:?}");
}

#[test]
fn configured_macro_lists_replace_the_defaults() {
    let s = inet();
    let f = Filter::start("macros", &s);
    let d = daemon(&format!(
        "define(`confMILTER_MACROS_CONNECT', `{{client_addr}}, {{client_port}}')dnl\n\
         define(`confMILTER_MACROS_ENVFROM', `{{mail_addr}}')dnl\n\
         define(`confMILTER_MACROS_EOM', `i')dnl\n\
         INPUT_MAIL_FILTER(`m', `S={s}, F=T')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    let m = macros_seen(&f);
    let has = |want: &str| m.iter().any(|l| l == want);
    assert!(has("connect {client_addr}=127.0.0.1"), "{m:?}");
    assert!(
        m.iter().any(|l| l.starts_with("connect {client_port}=")),
        "{m:?}"
    );
    assert!(!m.iter().any(|l| l.starts_with("connect j=")), "{m:?}");
    assert!(has("mail {mail_addr}=sender@example.org"), "{m:?}");
    assert!(!m.iter().any(|l| l.starts_with("mail i=")), "{m:?}");
    assert!(m.iter().any(|l| l.starts_with("eom i=")), "{m:?}");
    assert!(!m.iter().any(|l| l.starts_with("eom {msg_id}")), "{m:?}");
}

/// A "filter" that answers the negotiation with garbage, or never answers.
fn fake_filter(reply: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            let mut buf = [0u8; 64];
            let _ = c.read(&mut buf);
            if reply.is_empty() {
                std::thread::sleep(Duration::from_secs(4));
            } else {
                let _ = c.write_all(reply);
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    (format!("inet:{port}@127.0.0.1"), h)
}

#[test]
fn garbage_and_silence_follow_the_flag() {
    let (s, _h) = fake_filter(b"HTTP/1.0 400 Bad Request\r\n\r\n");
    let d = daemon(&format!("INPUT_MAIL_FILTER(`junk', `S={s}, F=R')dnl\n"));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "CONNECT 554 gw.example.com ESMTP not accepting messages"
    );
    assert!(log_has(&d, "Milter (junk): bad packet"));
    let (s, _h) = fake_filter(b"");
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`mute', `S={s}, F=T, T=R:1s')dnl\n"
    ));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "MAIL 451 4.3.2 Please try again later"
    );
    assert!(log_has(&d, "Milter (mute): timeout reading from filter"));
    assert!(spooled(&d, "queue").is_empty());
}

/// Debian's opendkim, signing for example.com with a key opendkim-genkey
/// made; killed when dropped.
struct Opendkim {
    child: Child,
    dir: tempfile::TempDir,
}

impl Opendkim {
    fn start(port: u16) -> Opendkim {
        for tool in ["opendkim", "opendkim-genkey"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "{tool} is missing: apt-get install -y opendkim opendkim-tools (tools/test installs them)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("opendkim-genkey")
            .args(["-D"])
            .arg(dir.path())
            .args(["-d", "example.com", "-s", "test"])
            .status()
            .unwrap();
        assert!(st.success(), "opendkim-genkey failed");
        let conf = dir.path().join("opendkim.conf");
        std::fs::write(
            &conf,
            format!(
                "Syslog no\nMode s\nDomain example.com\nSelector test\nKeyFile {}\n\
                 Socket inet:{port}@127.0.0.1\nRequireSafeKeys no\n\
                 Canonicalization relaxed/simple\nInternalHosts 127.0.0.1\n",
                dir.path().join("test.private").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("opendkim")
            .args(["-f", "-x"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start opendkim");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("opendkim exited {st}: {err}");
            }
            assert!(Instant::now() < deadline, "opendkim did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Opendkim { child, dir }
    }

    /// The TXT record opendkim-genkey wrote for `test._domainkey.example.com`.
    fn txt_record(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("test.txt")).unwrap();
        text.split('"').skip(1).step_by(2).collect()
    }
}

impl Drop for Opendkim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// dkimpy's verifier (Debian's python3-dkim) on `msg`, with DNS replaced
/// by the key record: `True`/`False` and what it logged.
fn dkim_verify(msg: &[u8], txt: &str) -> String {
    let probe = Command::new(PY).args(["-c", "import dkim"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "python3-dkim is missing: apt-get install -y python3-dkim (tools/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msg.eml");
    std::fs::write(&path, msg).unwrap();
    let script = format!(
        r#"
import dkim, logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.DEBUG)
record = {txt:?}.encode()
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return record if name.rstrip(".") == "test._domainkey.example.com" else None
msg = open({path:?}, "rb").read()
print(dkim.verify(msg, logger=logging.getLogger("dkim"), dnsfunc=dnsfunc))
"#,
        path = path.display().to_string()
    );
    let out = Command::new(PY).args(["-c", &script]).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn opendkim_signs_and_the_signature_verifies() {
    let port = free_port();
    let dk = Opendkim::start(port);
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`opendkim', `S=inet:{port}@127.0.0.1, F=T')dnl\n"
    ));
    let out = python(&format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {mta}, local_hostname="client.test", timeout=60)
msg = ("From: Sender <sender@example.com>\r\nTo: alice@example.com\r\n"
       "Subject: signed\r\nDate: Fri, 04 Dec 2026 04:00:00 +0000\r\n"
       "Message-ID: <dkim1@example.com>\r\n\r\nbody line\r\nsecond line\r\n")
print("OK", s.sendmail("sender@example.com", ["alice@example.com"], msg))
s.quit()
"#,
        mta = d.mta
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK {}");
    let q = spooled(&d, "queue");
    assert_eq!(q.len(), 1);
    let (_, message) = q[0].split_once("end\n").expect("envelope end");
    assert!(
        message.contains("\r\nDKIM-Signature: ") || message.starts_with("DKIM-Signature: "),
        "{message}"
    );
    assert!(message.contains("d=example.com"), "{message}");
    assert!(
        log_has(&d, "Milter add: header: DKIM-Signature:")
            || log_has(&d, "Milter insert (0): header: DKIM-Signature:")
    );
    let txt = dk.txt_record();
    assert!(txt.starts_with("v=DKIM1;"), "{txt}");
    let good = dkim_verify(message.as_bytes(), &txt);
    assert!(good.trim_end().ends_with("True"), "{good}");
    // The verifier can fail: one changed body octet breaks the signature.
    let tampered = message.replace("second line", "second lime");
    let bad = dkim_verify(tampered.as_bytes(), &txt);
    assert!(bad.trim_end().ends_with("False"), "{bad}");
}

#[test]
fn check_lists_the_filters_and_warns_about_one_not_answering() {
    let live = inet();
    let _f = Filter::start("second", &live);
    let dead = inet();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("gone.sock");
    let mc = dir.path().join("site.mc");
    std::fs::write(
        &mc,
        format!(
            "OSTYPE(`linux')dnl\n\
             define(`QUEUE_DIR', `{spool}')dnl\n\
             define(`confDOMAIN_NAME', `t.example')dnl\n\
             DAEMON_OPTIONS(`Port=1, Addr=127.0.0.1, Name=MTA')dnl\n\
             INPUT_MAIL_FILTER(`live', `S={live}, F=T, T=C:1m;R:20s')dnl\n\
             INPUT_MAIL_FILTER(`dead', `S={dead}, F=R')dnl\n\
             INPUT_MAIL_FILTER(`gone', `S=unix:{sock}')dnl\n\
             MAIL_FILTER(`unused', `S={dead}')dnl\n\
             MAILER(`local')dnl\n",
            spool = dir.path().join("spool").display(),
            sock = sock.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&mc)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "milter live: S={live}, F=T: temp-fail (451 4.3.2) when unusable, T=C:60s;S:10s;R:20s;E:300s, answers (milter protocol version 6)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "milter dead: S={dead}, F=R: reject (550 5.7.1) when unusable, T=C:300s;S:10s;R:10s;E:300s, NOT ANSWERING"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("warning: milter dead: S={dead} does not answer: ")),
        "{text}"
    );
    assert!(
        text.contains("milter gone: S=unix:")
            && text.contains("no F=: left out (mail passes unscanned) when unusable"),
        "{text}"
    );
    assert!(text.contains("warning: milter gone: S=unix:"), "{text}");
    assert!(
        text.contains("milter unused: ")
            && text.contains("not run (a MAIL_FILTER no filter list names)"),
        "{text}"
    );
    assert!(!text.contains("warning: milter unused"), "{text}");
    assert!(!text.contains("warning: milter live"), "{text}");
    // Warnings, not problems: no `unsafe:` line is about a filter.
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("unsafe:") && l.contains("milter")),
        "{text}"
    );
}

/// A scripted filter that breaks its word: it negotiates no actions, then
/// answers the end of message with `SMFIR_REPLBODY` (libmilter itself
/// refuses to send that, so this one speaks the protocol by hand).
fn lying_filter() -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // Every connection (the daemon's own start-up probe opens one too).
    let h = std::thread::spawn(move || {
        for c in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve_lying(c));
        }
    });
    (format!("inet:{port}@127.0.0.1"), h)
}

fn serve_lying(mut c: std::net::TcpStream) {
    let packet = |code: u8, data: &[u8]| {
        let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(code);
        v.extend_from_slice(data);
        v
    };
    loop {
        let mut head = [0u8; 4];
        if c.read_exact(&mut head).is_err() {
            return;
        }
        let mut data = vec![0u8; u32::from_be_bytes(head) as usize];
        if c.read_exact(&mut data).is_err() {
            return;
        }
        let reply = match data.first() {
            Some(b'O') => packet(b'O', &[0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]),
            Some(b'E') => {
                let mut r = packet(b'b', b"replaced\r\n");
                r.extend(packet(b'c', b""));
                r
            }
            Some(b'D' | b'A') => continue,
            Some(b'Q') | None => return,
            Some(_) => packet(b'c', b""),
        };
        if c.write_all(&reply).is_err() {
            return;
        }
    }
}

#[test]
fn a_body_replaced_without_asking_temp_fails_the_message() {
    let (s, _h) = lying_filter();
    let d = daemon(&format!("INPUT_MAIL_FILTER(`liar', `S={s}, F=R')dnl\n"));
    assert_eq!(
        send(d.mta, "hello", &["alice@example.com"]),
        "DATA 451 4.3.2 Please try again later",
        "{}",
        d.maillog()
    );
    assert!(spooled(&d, "queue").is_empty());
    assert!(
        log_has(
            &d,
            "Milter (liar): replaced the body without SMFIF_CHGBODY, message temp-failed"
        ),
        "{}",
        d.maillog()
    );
}

/// The filters' times and failures on the Prometheus endpoint: each
/// answered step is observed in `mxgate_milter_seconds` by filter and step,
/// a filter that cannot be reached counts in `mxgate_milter_failures_total`.
#[test]
fn filter_latency_and_failures_are_in_the_metrics() {
    let s = inet();
    let _f = Filter::start("reject", &s);
    let dead = inet();
    let metrics = free_port();
    let d = daemon(&format!(
        "INPUT_MAIL_FILTER(`scan', `S={s}, T=R:20s;E:20s')dnl\n\
         INPUT_MAIL_FILTER(`gone', `S={dead}')dnl\n\
         define(`confMXGATE_METRICS_ADDR', `127.0.0.1:{metrics}')dnl\n"
    ));
    assert_eq!(send(d.mta, "hello", &["alice@example.com"]), "OK {}");
    assert!(log_has(&d, "Milter (gone): to error state"));
    let mut c = std::net::TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    write!(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut page = String::new();
    c.read_to_string(&mut page).unwrap();
    assert!(
        page.contains("# TYPE mxgate_milter_seconds histogram"),
        "{page}"
    );
    // The value of one series (the harness's readiness probe is a session
    // too, so the session steps may count more than one).
    let value = |series: &str| -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} in {page}"))
    };
    for step in ["negotiate", "connect", "helo", "mail", "rcpt"] {
        let n = value(&format!(
            "mxgate_milter_seconds_count{{filter=\"scan\",step=\"{step}\"}}"
        ));
        assert!(n >= 1.0, "{step}: {n}");
    }
    // One message: one end of message, answered on loopback within 10 s.
    assert_eq!(
        value("mxgate_milter_seconds_count{filter=\"scan\",step=\"eom\"}"),
        1.0
    );
    assert_eq!(
        value("mxgate_milter_seconds_bucket{filter=\"scan\",step=\"eom\",le=\"10\"}"),
        1.0
    );
    assert!(value("mxgate_milter_failures_total{filter=\"gone\",error=\"connect\"}") >= 1.0);
    assert!(!page.contains("filter=\"gone\",step="), "{page}");
}
