//! Our log read by the tools written for sendmail's: Debian's fail2ban
//! (`fail2ban-regex` with the stock `sendmail-reject` and `sendmail-auth`
//! filters) and logwatch (`--service sendmail`), run on a log the daemon
//! wrote while this test provoked each refusal, AUTH failure and a STARTTLS
//! session from loopback clients. Also: the syslog tag (`sm-mta` by
//! default, `confMXGATE_LOG_TAG`, `-L`).

mod support;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const MAILBOXES: &str = "alice OK\npostmaster OK\n";
// The text is quoted: unquoted, sendmail 8.17 (and mxgate) send
// `Rejected:spam trap` (its tokenizer drops the space after `:`).
const ACCESS: &str = "To:blocked@example.com REJECT\n\
                      To:trap@example.com ERROR:5.7.1:\"550 Rejected: spam trap\"\n";

fn start(extra: &str) -> Daemon {
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         FEATURE(`access_db', `lmdb @DIR@/access')dnl\n\
         FEATURE(`blocklist_recipients')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n{extra}"
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            ("mailboxes", MAILBOXES),
            ("access", ACCESS),
            ("passwd", "alice {PLAIN}right-password\n"),
        ],
        tls: true,
    })
}

fn greeted(src: &str, port: u16) -> Raw {
    let mut c = Raw::connect_from(src, port);
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}");
    c
}

/// QUIT and wait for the server to close, so the session's slot is free.
fn quit(mut c: Raw) {
    assert!(c.cmd("QUIT").starts_with("221"));
    assert_eq!(c.rest(), "", "nothing after 221, then the close");
}

fn tool(cmd: &mut Command, hint: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{hint} (needed by this test; .ci/run installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// `fail2ban-regex LOG FILTER`: the number of matched lines ("Lines: N
/// lines, I ignored, M matched, K missed").
fn fail2ban(log: &Path, filter: &str) -> (usize, String) {
    let out = tool(
        Command::new("fail2ban-regex").arg(log).arg(filter),
        "fail2ban-regex is missing: apt-get install fail2ban",
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no Lines: summary in\n{out}"));
    let matched = line
        .split(", ")
        .find_map(|p| p.strip_suffix(" matched"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    (matched, out)
}

fn wait_for(d: &Daemon, text: &str) {
    assert!(
        d.wait_log(text, Duration::from_secs(10)),
        "no {text:?} in\n{}",
        d.maillog()
    );
}

#[test]
fn stock_fail2ban_and_logwatch_read_the_daemons_log() {
    let d = start(
        "FEATURE(`greet_pause', `500')dnl\n\
         define(`confMAX_CONN_PER_IP', `1')dnl\n\
         define(`confMXGATE_CONN_LIMIT_EXCEPTIONS', `none')dnl\n",
    );
    let log = d.path().join("maillog");

    // 1. greet_pause: talks before the greeting.
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    c.send("EHLO impatient.test\r\n");
    assert!(c.reply().starts_with("554 "));
    drop(c);
    wait_for(&d, "due to pre-greeting traffic after 0 seconds");

    // 2. Relaying denied (twice), unknown user, access REJECT, access ERROR
    // "Rejected:", from one session (after the greeting).
    let mut c = Raw::connect_from("127.0.0.3", d.mta);
    let t = Instant::now();
    assert!(c.reply().starts_with("220 "));
    assert!(t.elapsed() >= Duration::from_millis(450));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<s@example.org>").starts_with("250"));
    for rcpt in ["x@elsewhere.example.net", "y@elsewhere.example.net"] {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>"));
        assert!(r.starts_with("550 5.7.1"), "{r}");
    }
    let r = c.cmd("RCPT TO:<nobody@example.com>");
    assert!(r.starts_with("550 5.1.1"), "{r}");
    let r = c.cmd("RCPT TO:<blocked@example.com>");
    assert!(r.starts_with("550 5.2.1"), "{r}");
    let r = c.cmd("RCPT TO:<trap@example.com>");
    assert_eq!(r, "550 5.7.1 <trap@example.com>... Rejected: spam trap");
    // 3. EXPN and VRFY.
    assert!(c.cmd("EXPN root").starts_with("502 5.7.0"));
    assert!(c.cmd("VRFY root").starts_with("252 2.5.2"));
    quit(c);

    // 4. The per-address connection limit.
    let held = greeted("127.0.0.4", d.mta);
    let mut c = Raw::connect_from("127.0.0.4", d.mta);
    assert!(c.reply().starts_with("421 4.3.2"));
    drop(c);
    drop(held);

    // 5. A client that connects and leaves without a word.
    let c = Raw::connect_from("127.0.0.5", d.mta);
    std::thread::sleep(Duration::from_millis(700));
    drop(c);
    wait_for(&d, "[127.0.0.5] did not issue MAIL/EXPN/VRFY/ETRN");

    // 6. Three wrong passwords in one SMTPS session: three AUTH failures and
    // sendmail's "possible SMTP attack" line (with its slow-down).
    let py = format!(
        r#"
import smtplib, ssl, base64
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", {port}, context=ctx, source_address=("127.0.0.6", 0), timeout=30)
s.ehlo("attacker.test")
for i in range(3):
    code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0wrong" + str(i).encode()).decode())
    print(code)
s.quit()
"#,
        port = d.smtps
    );
    let out = python(&py);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "535\n535\n535\n");

    // 7. Mail: one message over STARTTLS (swaks --tls), one in the clear
    // with two recipients.
    let out = swaks(&[
        "--server",
        &format!("127.0.0.1:{}", d.mta),
        "--tls",
        "--from",
        "s@example.org",
        "--to",
        "alice@example.com",
        "--body",
        "hello over TLS",
    ]);
    assert!(
        out.status.success(),
        "swaks --tls needs Net::SSLeay (apt-get install libnet-ssleay-perl): {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut c = greeted("127.0.0.1", d.mta);
    assert!(c.cmd("HELO client.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<s@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<postmaster@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    assert!(c.cmd("Subject: two\r\n\r\nfor two\r\n.").starts_with("250"));
    quit(c);
    wait_for(&d, "nrcpts=2");

    let text = d.maillog();
    // Each provoked event is logged once, in sendmail's words.
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        count("Relaying denied. IP name lookup failed [127.0.0.3]"),
        2,
        "{text}"
    );
    assert_eq!(
        count("reject=550 5.1.1 <nobody@example.com>... User unknown"),
        1,
        "{text}"
    );
    assert_eq!(
        count("reject=550 5.7.1 <trap@example.com>... Rejected: spam trap"),
        1,
        "{text}"
    );
    assert_eq!(count("[127.0.0.3]: EXPN root [rejected]"), 1, "{text}");
    assert_eq!(count("[127.0.0.3]: VRFY root [rejected]"), 1, "{text}");
    assert_eq!(
        count(
            "ruleset=check_relay, arg1=[127.0.0.4], arg2=127.0.0.4, relay=[127.0.0.4], reject=421 4.3.2 Too many open connections."
        ),
        1,
        "{text}"
    );
    assert_eq!(
        count("AUTH failure (PLAIN): authentication failure"),
        3,
        "{text}"
    );
    assert_eq!(
        count("[127.0.0.6]: possible SMTP attack: command=AUTH, count=3"),
        1,
        "{text}"
    );
    assert_eq!(count("STARTTLS=server, relay="), 2, "{text}");
    assert_eq!(count("starting daemon (mxgate "), 1, "{text}");
    assert_eq!(count("did not issue MAIL/EXPN/VRFY/ETRN"), 4, "{text}");
    assert_eq!(
        count("[127.0.0.6] did not issue MAIL/EXPN/VRFY/ETRN"),
        1,
        "{text}"
    );
    assert_eq!(count("[127.0.0.2] did not issue"), 0, "{text}");
    // Every line but the start-up ones has a queue or session id.
    for l in text
        .lines()
        .filter(|l| l.contains("relay=") || l.contains("] did not issue"))
    {
        let rest = l.split_once("]: ").map(|x| x.1).unwrap_or("");
        let id = rest.split_once(": ").map(|x| x.0).unwrap_or("");
        assert!(
            id.len() >= 14 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "no session id: {l}"
        );
    }

    // fail2ban's stock filters, as Debian ships them.
    // sendmail-reject: 2 relaying denied + unknown user + "Rejected:" +
    // connection limit + greet_pause + EXPN + VRFY. (The access REJECT of a
    // local mailbox, `5.2.1 Mailbox disabled`, is no line the filter reads,
    // for sendmail either.)
    let (n, out) = fail2ban(&log, "/etc/fail2ban/filter.d/sendmail-reject.conf");
    assert_eq!(n, 8, "{out}\n{text}");
    // mode=extra adds "did not issue MAIL/EXPN/VRFY/ETRN": the harness's
    // start-up probe, the connection held for the limit test, the silent
    // client and the AUTH guesser (EHLO, AUTH, QUIT). Not the early talker:
    // refused at connect, as sendmail's nullserver.
    let (n, out) = fail2ban(
        &log,
        "/etc/fail2ban/filter.d/sendmail-reject.conf[mode=extra]",
    );
    assert_eq!(n, 8 + 4, "{out}\n{text}");
    // sendmail-auth: 3 AUTH failures + 1 possible SMTP attack.
    let (n, out) = fail2ban(&log, "/etc/fail2ban/filter.d/sendmail-auth.conf");
    assert_eq!(n, 4, "{out}\n{text}");

    // logwatch's sendmail service.
    let lw = logwatch_sendmail(&std::fs::read_to_string(&log).unwrap());
    let bytes: usize = text
        .lines()
        .filter_map(|l| l.split_once(", size=").map(|x| x.1))
        .filter_map(|r| r.split(',').next()?.parse::<usize>().ok())
        .sum();
    assert!(bytes > 0, "{text}");
    let stat = |name: &str| -> String {
        lw.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name:?} in\n{lw}\n{text}"))
    };
    assert_eq!(stat("Messages To Recipients:"), "2", "{lw}");
    assert_eq!(stat("Addressed Recipients:"), "3", "{lw}");
    assert_eq!(stat("Bytes Transferred:"), bytes.to_string(), "{lw}");
    assert!(lw.contains("For STARTTLS in server mode,"), "{lw}");
    assert!(
        lw.lines().any(|l| l.contains("Cipher: TLS13_")
            && l.contains("Bits: 256/256")
            && l.trim_end().ends_with("2 Times")),
        "{lw}"
    );
    assert!(lw.contains("No cert was presented"), "{lw}");
}

/// `Command::output` with `input` on standard input.
trait OutputWith {
    fn output_with(&mut self, input: &[u8]) -> std::process::Output;
}

impl OutputWith for Command {
    fn output_with(&mut self, input: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }
}

/// Start the prepared daemon with `args`, wait for its "starting daemon"
/// line and return that line; the daemon is stopped (SIGTERM) afterwards.
fn start_line(d: &Daemon, args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .arg(&d.mc)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        if let Some(l) = d
            .maillog()
            .lines()
            .find(|l| l.contains(&format!("[{}]: starting daemon", child.id())))
        {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "no start line:\n{}", d.maillog());
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    line
}

/// `sm-mta` by default (what Debian's sendmail daemon logs as, and what the
/// stock filters accept), `confMXGATE_LOG_TAG` over it, `-L` over both, for
/// `mxgate daemon` and `sendmail -bd` alike.
#[test]
fn the_syslog_tag_is_sm_mta_unless_configured_or_given_with_dash_l() {
    let d = Daemon::prepare(Setup {
        mc: "",
        tables: &[],
        tls: false,
    });
    let line = start_line(&d, &["daemon", "--config"]);
    assert!(line.contains(" gw.example.com sm-mta["), "{line}");
    let line = start_line(&d, &["daemon", "-L", "mx-edge", "--config"]);
    assert!(line.contains(" gw.example.com mx-edge["), "{line}");

    let d = Daemon::prepare(Setup {
        mc: "define(`confMXGATE_LOG_TAG', `gw-mta')dnl\n",
        tables: &[],
        tls: false,
    });
    let line = start_line(&d, &["daemon", "--config"]);
    assert!(line.contains(" gw.example.com gw-mta["), "{line}");
    let line = start_line(&d, &["sendmail", "-bd", "-L", "sendmail", "-C"]);
    assert!(line.contains(" gw.example.com sendmail["), "{line}");
    // A submission (`sendmail -L TAG -oi rcpt`) logs its from= line under TAG.
    let child = Command::new(BIN)
        .args(["sendmail", "-L", "sm-msp-queue", "-oi", "-C"])
        .arg(&d.mc)
        .arg("alice@example.com")
        .stdin(std::process::Stdio::piped())
        .output_with(b"Subject: tag\n\nbody\n");
    assert!(child.status.success(), "{child:?}");
    assert!(
        d.maillog()
            .lines()
            .any(|l| l.contains(" gw.example.com sm-msp-queue[") && l.contains(": from=")),
        "{}",
        d.maillog()
    );
    // One start, one line.
    assert_eq!(
        d.maillog().matches("starting daemon").count(),
        2,
        "{}",
        d.maillog()
    );
}
