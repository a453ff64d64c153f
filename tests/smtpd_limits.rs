//! Hostile and impatient clients, load shedding and signals, against the
//! real daemon: greet_pause early talkers, connection limits, per-stage
//! timeouts, command-count limits, BDAT, informational commands, disk-space
//! shedding, SIGHUP reload and SIGTERM drain.

mod support;
use std::io::Write;
use std::time::{Duration, Instant};
use support::*;

const MAILBOXES: &str = "alice OK\npostmaster OK\n";

fn start(extra: &str) -> Daemon {
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`confMAX_MESSAGE_SIZE', `20000')dnl\n{extra}"
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", MAILBOXES)],
        tls: false,
    })
}

fn greeted(port: u16) -> Raw {
    let mut c = Raw::connect(port);
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}");
    c
}

#[test]
fn greet_pause_refuses_early_talkers_and_serves_patient_clients() {
    let d = start("FEATURE(`greet_pause', `500')dnl\n");
    // Early talker: speaks before the greeting.
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    c.send("EHLO impatient.test\r\n");
    let g = c.reply();
    assert_eq!(g, "554 gw.example.com ESMTP not accepting messages");
    assert_eq!(c.reply(), "550 5.0.0 Command rejected", "the early EHLO");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org>"),
        "550 5.0.0 Command rejected"
    );
    assert!(c.cmd("QUIT").starts_with("221"));
    // Patient client: waits for the greeting (about 500 ms) and is served.
    let t = Instant::now();
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    let g = c.reply();
    assert!(g.starts_with("220 gw.example.com ESMTP"), "{g}");
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert!(c.cmd("EHLO patient.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    // sendmail's words: whole seconds since the connection (fail2ban's
    // sendmail-reject filter reads `after \d+ seconds`).
    assert!(
        d.maillog().contains(
            "rejecting commands from stranger.example.org [127.0.0.2] due to pre-greeting traffic after 0 seconds"
        ),
        "{}",
        d.maillog()
    );
}

#[test]
fn max_daemon_children_refuses_with_421_and_recovers() {
    let d = start("define(`confMAX_DAEMON_CHILDREN', `2')dnl\n");
    let a = greeted(d.mta);
    let _b = greeted(d.mta);
    let mut c = Raw::connect(d.mta);
    let r = c.reply();
    assert_eq!(
        r,
        "421 4.3.2 gw.example.com Too many sessions, try again later"
    );
    assert!(c.reply().ends_with("<eof>"), "closed after the 421");
    drop(a);
    // The slot is freed when the session ends (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Raw::connect(d.mta);
        if c.reply().starts_with("220") {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.maillog().contains("reject=421 4.3.2"), "{}", d.maillog());
}

/// A session on `port`, waiting (bounded) for a slot: the harness's own
/// readiness probe may still count for a moment after the start.
fn served(port: u16) -> Raw {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Raw::connect(port);
        let g = c.reply();
        if g.starts_with("220 ") {
            return c;
        }
        assert!(Instant::now() < deadline, "never served: {g}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ss` (iproute2) filtered by the local port, without its header.
fn ss(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("ss")
        .args(["-Hn"])
        .args(args)
        .arg(format!("sport = :{port}"))
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn daemon_options_listen_buffers_and_children_reach_the_listener() {
    // Listen=, ReceiveSize=, SendSize= and children= were compiled and then
    // not read (before this test). Checked from outside with ss(8): the
    // kernel's listen queue and the accepted socket's buffers (socket(7):
    // the kernel doubles the size asked for). children=: sendmail 8.17
    // (daemon.c, refuseconnections) compares the daemon's sessions on every
    // listener with this listener's children= when set, else with
    // MaxDaemonChildren.
    let port = free_port();
    let d = start(&format!(
        "DAEMON_OPTIONS(`Port={port}, Addr=127.0.0.1, Name=Tuned, Listen=7, ReceiveSize=65536, SendSize=32768, children=1')dnl\n"
    ));
    let listening = ss(port, &["-lt"]);
    let cols: Vec<&str> = listening.split_whitespace().collect();
    // LISTEN, Recv-Q, Send-Q (the queue's length for a listening socket).
    assert_eq!(cols.get(2).copied(), Some("7"), "{listening}");
    let a = served(port);
    let est = ss(port, &["-tm", "state", "established"]);
    assert!(est.contains("rb131072") && est.contains("tb65536"), "{est}");
    // One session in the daemon: the tuned listener is full ...
    let mut c = Raw::connect(port);
    assert_eq!(
        c.reply(),
        "421 4.3.2 gw.example.com Too many sessions, try again later"
    );
    // ... and the MTA listener, with no limit, serves a second one.
    let b = greeted(d.mta);
    drop(a);
    // The session on the MTA listener counts for the tuned one too.
    let mut c = Raw::connect(port);
    assert!(
        c.reply().starts_with("421 4.3.2"),
        "b still holds a session"
    );
    drop(b);
    let _again = served(port);
    assert!(
        d.maillog()
            .contains("rejecting connections on daemon Tuned: relay=[127.0.0.1], reject=421 4.3.2"),
        "{}",
        d.maillog()
    );
}

#[test]
fn privacy_flags_needmailhelo_noetrn_noreceipts() {
    // sendmail 8.17 -bs with PrivacyOptions=needmailhelo: MAIL first gets
    // "503 5.0.0 Polite people say HELO first"; with noreceipts,noetrn its
    // EHLO lists neither DSN nor ETRN, and ETRN gets "502 5.7.0 Sorry, we
    // do not allow this operation". Before, only noexpn, goaway,
    // restrictmailq and restrictqrun were read.
    let d = start("define(`confPRIVACY_FLAGS', `needmailhelo,noetrn,noreceipts')dnl\n");
    let mut c = greeted(d.mta);
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org>"),
        "503 5.0.0 Polite people say HELO first"
    );
    let ehlo = c.cmd("EHLO client.example.org");
    assert!(ehlo.contains("250-PIPELINING"), "{ehlo}");
    assert!(!ehlo.contains("DSN") && !ehlo.contains("ETRN"), "{ehlo}");
    assert_eq!(
        c.cmd("ETRN example.org"),
        "502 5.7.0 Sorry, we do not allow this operation"
    );
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    // goaway is sendmail 8.17's PRIV_GOAWAY (0xffff): needmailhelo is in
    // it, noetrn and noreceipts are not (its -bs with goaway still offers
    // DSN and ETRN, and answers MAIL first with the 503 above).
    let d = start("define(`confPRIVACY_FLAGS', `goaway')dnl\n");
    let mut c = greeted(d.mta);
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("503 5.0.0"));
    let ehlo = c.cmd("EHLO client.example.org");
    assert!(ehlo.contains("DSN") && ehlo.contains("ETRN"), "{ehlo}");
    // Without the flags both are offered.
    let d = start("");
    let mut c = greeted(d.mta);
    let ehlo = c.cmd("EHLO client.example.org");
    assert!(ehlo.contains("DSN") && ehlo.contains("ETRN"), "{ehlo}");
}

#[test]
fn max_conn_per_ip_refuses_the_second_session_from_one_address() {
    // Loopback is exempt by default (as Postfix's mynetworks): count it here.
    let d = start(
        "define(`confMAX_CONN_PER_IP', `1')dnl\n\
         define(`confMXGATE_CONN_LIMIT_EXCEPTIONS', `none')dnl\n",
    );
    let _a = greeted(d.mta);
    let mut c = Raw::connect(d.mta);
    assert_eq!(
        c.reply(),
        "421 4.3.2 gw.example.com Too many connections from your host, try again later"
    );
    // Another address is still served.
    let mut o = Raw::connect_from("127.0.0.2", d.mta);
    assert!(o.reply().starts_with("220"));
}

/// A network namespace of the test's own with IPv6 addresses on its
/// loopback; removed when dropped.
struct V6Netns(String);

impl V6Netns {
    fn new(addrs: &[&str]) -> V6Netns {
        let name = format!("mxgv6-{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .expect("ip (apt-get install iproute2)");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .output();
        ip(&["netns", "add", &name]);
        let ns = V6Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        for a in addrs {
            ip(&[
                "-n",
                &ns.0,
                "-6",
                "addr",
                "add",
                &format!("{a}/128"),
                "dev",
                "lo",
                "nodad",
            ]);
        }
        ns
    }

    fn exec(&self) -> std::process::Command {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", &self.0]);
        c
    }
}

impl Drop for V6Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

/// IPv6 clients count per network of confMXGATE_CLIENT_IPV6_PREFIX bits
/// (default 84, Postfix 3.8's smtpd_client_ipv6_prefix_length): with one
/// session per client, a second address of the same /84 is refused, one
/// in another /84 of the same /64 is served; with 128, each address is
/// a client of its own (sendmail's count). In a namespace of the test's
/// own, with 2001:db8:6::/48 on its loopback.
#[test]
fn ipv6_clients_are_counted_per_prefix_for_the_per_client_limits() {
    const SERVER: &str = "2001:db8:6::1";
    let clients = ["2001:db8:6::10", "2001:db8:6::20", "2001:db8:6:0:1000::1"];
    let ns = V6Netns::new(&[SERVER, clients[0], clients[1], clients[2]]);
    for (prefix, second) in [
        ("", "421"),
        ("define(`confMXGATE_CLIENT_IPV6_PREFIX', `128')dnl\n", "220"),
    ] {
        let mc = format!(
            "define(`confMAX_CONN_PER_IP', `1')dnl\n\
             define(`confMXGATE_CONN_LIMIT_EXCEPTIONS', `none')dnl\n{prefix}\
             DAEMON_OPTIONS(`Port=2525, Addr={SERVER}, Family=inet6, Name=MTA6')dnl\n"
        );
        let mut d = Daemon::prepare(Setup {
            mc: Box::leak(mc.into_boxed_str()),
            tables: &[],
            tls: false,
        });
        let mut run = ns.exec();
        run.args([BIN, "daemon", "--config"]).arg(&d.mc);
        d.spawn_with(run);
        assert!(
            d.wait_log("starting daemon (mxgate ", Duration::from_secs(20)),
            "{}\n{}",
            d.maillog(),
            d.stderr()
        );
        // The first client holds its session while the others connect.
        let script = format!(
            "import socket, time\n\
             def greet(src):\n\
             \x20   for _ in range(50):\n\
             \x20       s = socket.socket(socket.AF_INET6)\n\
             \x20       s.bind((src, 0))\n\
             \x20       try:\n\
             \x20           s.connect(('{SERVER}', 2525))\n\
             \x20           return s, s.recv(200).decode().strip()\n\
             \x20       except ConnectionRefusedError:\n\
             \x20           s.close(); time.sleep(0.1)\n\
             held, first = greet('{}')\n\
             print(first)\n\
             for src in ('{}', '{}'):\n\
             \x20   s, r = greet(src)\n\
             \x20   print(r)\n\
             \x20   s.close()\n",
            clients[0], clients[1], clients[2]
        );
        let out = ns.exec().args(["python3", "-c", &script]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{out:?}\n{}", d.maillog());
        assert!(lines[0].starts_with("220 "), "{lines:?}");
        assert!(lines[1].starts_with(second), "prefix {prefix:?}: {lines:?}");
        assert!(lines[2].starts_with("220 "), "another /84: {lines:?}");
        if second == "421" {
            assert!(
                lines[1].contains("Too many connections from your host"),
                "{lines:?}"
            );
        }
    }
}

/// confBAD_RCPT_THROTTLE (Debian's sendmail.mc sets it): after that many
/// refused RCPTs in a session, each further RCPT waits a second, and the
/// first wait is logged once, as sendmail 8.17 does (srvrsmtp.c: "%s:
/// Possible SMTP RCPT flood, throttling.", a fixed second per RCPT).
#[test]
fn bad_rcpt_throttle_slows_a_recipient_prober() {
    let d = start("define(`confBAD_RCPT_THROTTLE', `2')dnl\n");
    let mut c = greeted(d.mta);
    c.cmd("HELO prober.example.org");
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    for u in ["nosuch1", "nosuch2"] {
        let r = c.cmd(&format!("RCPT TO:<{u}@example.com>"));
        assert!(r.starts_with("550"), "{r}");
    }
    assert!(!d.maillog().contains("Possible SMTP RCPT flood"));
    for (rcpt, code) in [("alice", "250"), ("nosuch3", "550")] {
        let t = Instant::now();
        let r = c.cmd(&format!("RCPT TO:<{rcpt}@example.com>"));
        assert!(r.starts_with(code), "{r}");
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "RCPT past the limit answered after {:?}",
            t.elapsed()
        );
    }
    assert!(
        d.wait_log(
            "Possible SMTP RCPT flood, throttling.",
            Duration::from_secs(5)
        ),
        "{}",
        d.maillog()
    );
    assert_eq!(
        d.maillog().matches("Possible SMTP RCPT flood").count(),
        1,
        "{}",
        d.maillog()
    );
    // logwatch's sendmail service reads the line as sendmail's: the client
    // under "Client submitted too many bad recipients".
    let lw = logwatch_sendmail(&d.maillog());
    let section = lw
        .split("Client submitted too many bad recipients")
        .nth(1)
        .unwrap_or_else(|| panic!("no throttling section in\n{lw}"));
    assert!(
        section.lines().take(3).any(|l| l.contains("127.0.0.1")),
        "{lw}"
    );
}

/// sendmail's MaxHeadersLength (`confMAX_HEADERS_LENGTH`, default 32768):
/// a header past it is refused once the message is in. The reply was
/// checked on sendmail 8.17 (`sendmail -bs`, 450 header lines of 80 bytes):
/// `552 5.6.0 Headers too large (32768 max)`.
#[test]
fn a_header_past_max_headers_length_is_refused_as_sendmail_does() {
    let send = |d: &Daemon, lines: usize| {
        let mut c = greeted(d.mta);
        c.cmd("HELO client.example.org");
        assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
        let mut msg = String::from("Subject: big\r\n");
        for i in 0..lines {
            msg += &format!("X-Pad-{i:03}: {}\r\n", "y".repeat(68));
        }
        msg += "\r\nbody\r\n.\r\n";
        c.send(&msg);
        c.reply()
    };
    let d = start("define(`confMAX_MESSAGE_SIZE', `200000')dnl\n");
    // 450 lines of 80 bytes: 36,014 bytes of header.
    assert_eq!(send(&d, 450), "552 5.6.0 Headers too large (32768 max)");
    assert!(d.queued("queue").is_empty());
    assert!(
        d.wait_log(
            "headers too large (32768 max) from localhost during message collect",
            Duration::from_secs(5)
        ),
        "{}",
        d.maillog()
    );
    // 400 lines: 32,014 bytes, under the limit.
    assert!(send(&d, 400).starts_with("250 "));
    // 0 turns the limit off.
    let d = start(
        "define(`confMAX_MESSAGE_SIZE', `200000')dnl\n\
         define(`confMAX_HEADERS_LENGTH', `0')dnl\n",
    );
    assert!(send(&d, 450).starts_with("250 "));
}

#[test]
fn connection_rate_throttle_delays_bursts_without_refusing() {
    // sendmail 8.17 (daemon.c, refuseconnections): past ConnectionRateThrottle
    // connections in one second the daemon sleeps a second before accepting
    // again, logging "deferring connections on daemon NAME: N per second";
    // nobody gets a 421 for it.
    let d = start("define(`confCONNECTION_RATE_THROTTLE', `2')dnl\n");
    let t = Instant::now();
    let replies: Vec<String> = (0..5).map(|_| Raw::connect(d.mta).reply()).collect();
    assert!(
        replies.iter().all(|r| r.starts_with("220 ")),
        "every connection is greeted: {replies:?}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "five connections at 2/s took only {:?}",
        t.elapsed()
    );
    assert!(
        d.wait_log(
            "deferring connections on daemon MTA: 2 per second",
            Duration::from_secs(5)
        ),
        "{}",
        d.maillog()
    );
}

#[test]
fn command_and_data_timeouts_close_with_421_4_4_2() {
    let d = start("define(`confTO_COMMAND', `1s')dnl\ndefine(`confTO_DATABLOCK', `1s')dnl\n");
    let mut c = greeted(d.mta);
    let t = Instant::now();
    let r = c.reply();
    assert_eq!(
        r,
        "421 4.4.2 gw.example.com Lost input channel: timeout waiting for input"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // Inside DATA the data-block timeout applies.
    let mut c = greeted(d.mta);
    c.cmd("HELO x");
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<alice@example.com>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: slow\r\n\r\npart");
    assert!(c.reply().starts_with("421 4.4.2 "));
    assert!(
        d.queued("queue").is_empty(),
        "a timed-out message is not kept"
    );
    assert!(
        d.maillog().contains(
            "timeout waiting for input from localhost [127.0.0.1] during message collect"
        ),
        "{}",
        d.maillog()
    );
    assert!(
        d.maillog().contains("during server cmd read"),
        "{}",
        d.maillog()
    );
}

#[test]
fn bdat_chunks_end_to_end() {
    let d = start("");
    let out = python(&format!(
        r#"
import socket
s = socket.create_connection(("127.0.0.1", {port}))
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode()
        lines.append(l)
        if len(l) < 4 or l[3] == " ": return "".join(lines)
reply()
s.sendall(b"EHLO chunky.test\r\n"); r = reply(); assert "CHUNKING" in r, r
s.sendall(b"MAIL FROM:<c@example.org> BODY=8BITMIME SMTPUTF8\r\n"); r = reply(); assert r.startswith("250"), r
s.sendall(b"RCPT TO:<alice@example.com>\r\n"); r = reply(); assert r.startswith("250"), r
one = b"Subject: chunks\r\n\r\nfirst "
s.sendall(b"BDAT %d\r\n" % len(one) + one); r = reply()
assert r == "250 2.0.0 %d bytes received\r\n" % len(one), r
two = "second \u00e9\r\n".encode()
s.sendall(b"BDAT %d LAST\r\n" % len(two) + two); r = reply()
assert r.startswith("250 2.0.0 ") and "Message accepted for delivery" in r, r
# BDAT without a transaction: the chunk is read and refused.
s.sendall(b"BDAT 3 LAST\r\nabc"); r = reply(); assert r.startswith("503 5.0.0"), r
s.sendall(b"NOOP\r\n"); r = reply(); assert r.startswith("250 2.0.0"), r
s.sendall(b"QUIT\r\n"); reply()
print("ok")
"#,
        port = d.mta
    ));
    assert!(out.status.success(), "{out:?}\n{}", d.maillog());
    let q = d.queued("queue");
    assert_eq!(q.len(), 1);
    let text = String::from_utf8(std::fs::read(&q[0]).unwrap()).unwrap();
    assert!(
        text.contains("Subject: chunks\r\n\r\nfirst second \u{e9}\r\n"),
        "{text}"
    );
    // 8BITMIME and SMTPUTF8 are carried into the envelope.
    assert!(text.contains("fact body 8BITMIME\n"), "{text}");
    assert!(text.contains("fact smtputf8 yes\n"), "{text}");
}

#[test]
fn informational_commands_and_etrn_on_the_msa() {
    let d = start("");
    let mut c = greeted(d.mta);
    c.cmd("EHLO x");
    assert_eq!(
        c.cmd("VRFY alice"),
        "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)"
    );
    assert_eq!(
        c.cmd("EXPN staff"),
        "502 5.7.0 Sorry, we do not allow this operation"
    );
    let h = c.cmd("HELP");
    assert!(
        h.starts_with("214-2.0.0 ") && h.ends_with("214 2.0.0 End of HELP info"),
        "{h}"
    );
    assert!(c.cmd("ETRN example.org").starts_with("250"));
    let mut m = greeted(d.msa);
    let e = m.cmd("EHLO x");
    assert!(!e.contains("ETRN"), "M=E hides ETRN: {e}");
    assert_eq!(
        m.cmd("ETRN example.org"),
        "502 5.7.0 Sorry, we do not allow this operation"
    );
}

#[test]
fn command_count_limits_close_abusive_sessions() {
    let d = start("");
    let mut c = greeted(d.mta);
    c.cmd("HELO x");
    let mut last = String::new();
    for _ in 0..25 {
        last = c.cmd("NOOP");
        if last.starts_with("421") {
            break;
        }
    }
    assert_eq!(
        last,
        "421 4.7.0 gw.example.com Too many non-mail commands; closing connection"
    );
    // A MAIL resets the count: a long session of real mail is fine.
    let mut c = greeted(d.mta);
    for _ in 0..30 {
        assert!(c.cmd("HELO x").starts_with("250"));
        assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(c.cmd("RSET").starts_with("250"));
    }
    let mut c = greeted(d.mta);
    let mut last = String::new();
    for _ in 0..30 {
        last = c.cmd("BOGUS");
        if last.starts_with("421") {
            break;
        }
    }
    assert_eq!(
        last,
        "421 4.7.0 gw.example.com Too many bad commands; closing connection"
    );
    assert!(
        d.maillog().contains("possible SMTP attack"),
        "{}",
        d.maillog()
    );
}

#[test]
fn min_free_blocks_sheds_mail_with_452_and_keeps_running() {
    let d = start("define(`confMIN_FREE_BLOCKS', `999999999999')dnl\n");
    let mut c = greeted(d.mta);
    c.cmd("HELO x");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org>"),
        "452 4.3.1 Insufficient disk space; try again later"
    );
    assert!(c.cmd("NOOP").starts_with("250"));
    greeted(d.mta);
    assert!(d.maillog().contains("reject=452 4.3.1"), "{}", d.maillog());
}

#[test]
fn sighup_reloads_the_configuration_for_new_sessions() {
    let d = start("");
    let mut old = greeted(d.mta);
    assert!(old.cmd("EHLO x").contains("SIZE 20000"));
    let mc = std::fs::read_to_string(&d.mc).unwrap();
    let mc = mc.replace("`20000'", "`5000'");
    std::fs::write(&d.mc, &mc).unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log("configuration reloaded (SIGHUP)", Duration::from_secs(5)),
        "{}",
        d.maillog()
    );
    let mut new = greeted(d.mta);
    let e = new.cmd("EHLO y");
    assert!(e.contains("SIZE 5000") && !e.contains("SIZE 20000"), "{e}");
    assert!(
        new.cmd("MAIL FROM:<a@example.org> SIZE=6000")
            .starts_with("552 5.2.3")
    );
    // The session opened before the reload keeps the settings it started with.
    let e = old.cmd("EHLO x");
    assert!(e.contains("SIZE 20000"), "{e}");
    assert!(
        old.cmd("MAIL FROM:<a@example.org> SIZE=6000")
            .starts_with("250")
    );
    // A broken configuration is refused and the old one stays.
    std::fs::write(&d.mc, "define(`confMAX_MESSAGE_SIZE', `lots')dnl\n").unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log("reload refused", Duration::from_secs(5)),
        "{}",
        d.maillog()
    );
    let mut again = greeted(d.mta);
    assert!(again.cmd("EHLO z").contains("SIZE 5000"));
}

#[test]
fn sigterm_stops_accepting_and_lets_the_message_in_progress_finish() {
    let mut d = start("");
    // A session between transactions (a client keeping its connection for
    // the next message) is closed at once, so it cannot hold the stop up.
    let mut idle = greeted(d.mta);
    assert!(idle.cmd("EHLO idle").starts_with("250"));
    let mut c = greeted(d.mta);
    c.cmd("HELO x");
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<alice@example.com>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.w.write_all(b"Subject: in flight\r\n\r\nfirst half\r\n")
        .unwrap();
    d.signal("TERM");
    assert!(d.wait_log("stopping: no new connections", Duration::from_secs(5)));
    // New connections are no longer accepted (bounded wait for the listener to close).
    let deadline = Instant::now() + Duration::from_secs(3);
    while std::net::TcpStream::connect(("127.0.0.1", d.mta)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        idle.reply(),
        "421 4.3.2 gw.example.com Shutting down, closing connection"
    );
    let r = c.cmd("second half\r\n.");
    assert!(r.starts_with("250 2.0.0 "), "{r}");
    // The transaction is over: the next command finds the session closing.
    assert!(c.cmd("QUIT").starts_with("421 4.3.2 "));
    assert!(d.maillog().contains("daemon stopping: reject=421 4.3.2"));
    let st = d
        .wait_exit(Duration::from_secs(5))
        .expect("daemon exits after the session");
    assert!(st.success(), "{st}");
    let q = d.queued("queue");
    assert_eq!(q.len(), 1);
    assert!(
        std::fs::read_to_string(&q[0])
            .unwrap()
            .contains("first half\r\nsecond half\r\n")
    );
}

#[test]
fn a_mail_loop_is_refused_after_max_hop_received_headers() {
    let d = start("define(`confMAX_HOP', `3')dnl\n");
    let mut c = Raw::connect(d.mta);
    c.reply();
    c.cmd("EHLO loop.test");
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let hops = "Received: from a by b; Thu, 26 Nov 2026 12:00:00 +0000\r\n".repeat(4);
    let r = c.cmd(&format!("{hops}Subject: loop\r\n\r\nx\r\n."));
    assert_eq!(r, "554 5.4.6 Too many hops 4 (3 max)");
    // Three are fine.
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let hops = "Received: from a by b; Thu, 26 Nov 2026 12:00:00 +0000\r\n".repeat(3);
    assert!(
        c.cmd(&format!("{hops}Subject: ok\r\n\r\nx\r\n."))
            .starts_with("250 2.0.0")
    );
}

/// A daemon without the size limit `start` sets: the shipped defaults.
fn start_with_defaults(extra: &str) -> Daemon {
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n{extra}"
    );
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", MAILBOXES)],
        tls: false,
    })
}

/// The daemon started under `prlimit --nofile=SOFT:HARD` (util-linux).
fn start_with_nofile(soft: u64, hard: u64) -> Daemon {
    let mut d = Daemon::prepare(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n",
        tables: &[("mailboxes", MAILBOXES)],
        tls: false,
    });
    let mut prlimit = std::process::Command::new("prlimit");
    prlimit
        .arg(format!("--nofile={soft}:{hard}"))
        .args([BIN, "daemon", "--config"])
        .arg(&d.mc);
    d.spawn_with(prlimit);
    assert!(
        d.wait_log("starting daemon", Duration::from_secs(20)),
        "{}{}",
        d.stderr(),
        d.maillog()
    );
    d
}

fn transaction(c: &mut Raw) {
    assert!(c.cmd("EHLO client.example.org").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
}

/// Write `data` one octet every 300 ms from another thread, until the
/// server closes the connection.
fn drip(c: &Raw, data: &'static [u8]) -> std::thread::JoinHandle<()> {
    let mut w = c.w.try_clone().unwrap();
    std::thread::spawn(move || {
        for b in data {
            if w.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })
}

#[test]
fn unset_size_and_recipient_limits_default_to_postfix_values() {
    let d = start_with_defaults("");
    let mut c = greeted(d.mta);
    let e = c.cmd("EHLO client.example.org");
    assert!(e.contains("250-SIZE 10240000\r\n"), "{e}");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org> SIZE=10240001"),
        "552 5.2.3 Message size exceeds fixed maximum message size"
    );
    // 1000 recipients are taken; the next ones get 452 (the client sends
    // them again in another transaction), as sendmail's MaxRecipientsPerMessage.
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    c.send(&"RCPT TO:<alice@example.com>\r\n".repeat(1002));
    let replies: Vec<String> = (0..1002).map(|_| c.reply()).collect();
    assert!(replies[..1000].iter().all(|r| r.starts_with("250 2.1.5")));
    assert_eq!(replies[1000], "452 4.5.3 Too many recipients");
    assert_eq!(replies[1001], "452 4.5.3 Too many recipients");
    assert!(c.cmd("RSET").starts_with("250"));
    // A body past the limit without SIZE= is refused at its end, nothing kept.
    transaction(&mut c);
    assert!(c.cmd("DATA").starts_with("354"));
    let line = format!("{}\r\n", "x".repeat(998));
    let mut body = String::from("Subject: big\r\n\r\n");
    while body.len() <= 10_240_000 {
        body += &line;
    }
    c.send(&body);
    let r = c.cmd(".");
    assert!(r.starts_with("552 5.2.3 "), "{r}");
    assert!(d.queued("queue").is_empty());
    assert!(
        !d.maillog().contains("warning: confMAX"),
        "no warning for the defaults: {}",
        d.maillog()
    );
}

#[test]
fn an_explicit_zero_keeps_sendmails_unlimited_with_a_warning_at_start() {
    let d = start_with_defaults(
        "define(`confMAX_MESSAGE_SIZE', `0')dnl\n\
         define(`confMAX_RCPTS_PER_MESSAGE', `0')dnl\n",
    );
    let mut c = greeted(d.mta);
    let e = c.cmd("EHLO client.example.org");
    assert!(e.contains("250-SIZE\r\n"), "{e}");
    assert!(
        c.cmd("MAIL FROM:<a@example.org> SIZE=20000000")
            .starts_with("250")
    );
    let log = d.maillog();
    assert!(
        log.contains("warning: confMAX_MESSAGE_SIZE is 0: no message size limit"),
        "{log}"
    );
    assert!(
        log.contains("warning: confMAX_RCPTS_PER_MESSAGE is 0: no recipient limit"),
        "{log}"
    );
}

#[test]
fn one_address_gets_at_most_50_sessions_by_default_and_loopback_is_exempt() {
    // Counted: loopback taken out of the exceptions.
    let d = start_with_defaults("define(`confMXGATE_CONN_LIMIT_EXCEPTIONS', `none')dnl\n");
    let held: Vec<Raw> = (0..50).map(|_| greeted(d.mta)).collect();
    let mut c = Raw::connect(d.mta);
    assert_eq!(
        c.reply(),
        "421 4.3.2 gw.example.com Too many connections from your host, try again later"
    );
    drop(held);
    // The default exceptions: loopback (benchmarks, local submission) is not counted.
    let d = start_with_defaults("");
    let held: Vec<Raw> = (0..60).map(|_| greeted(d.mta)).collect();
    assert_eq!(held.len(), 60);
    assert!(
        !d.maillog().contains("Too many open connections"),
        "{}",
        d.maillog()
    );
}

#[test]
fn a_client_dripping_a_command_line_gets_421_at_the_command_deadline() {
    // Each octet comes well within confTO_COMMAND, so per-read timers alone
    // would wait forever; the line as a whole must arrive within it.
    let d = start("define(`confTO_COMMAND', `2s')dnl\n");
    let mut c = greeted(d.mta);
    let t = drip(
        &c,
        b"EHLO a-client-that-sends-one-octet-at-a-time.example.org\r\n",
    );
    assert_eq!(
        c.reply(),
        "421 4.4.2 gw.example.com Error: timeout exceeded"
    );
    assert!(c.reply().ends_with("<eof>"), "closed after the 421");
    t.join().unwrap();
    let log = d.maillog();
    assert!(
        log.contains("relay=localhost [127.0.0.1]: timeout exceeded during command: command line not complete within 2s"),
        "{log}"
    );
    // A silent client still gets sendmail's idle-timeout reply.
    let mut c = greeted(d.mta);
    assert_eq!(
        c.reply(),
        "421 4.4.2 gw.example.com Lost input channel: timeout waiting for input"
    );
}

#[test]
fn a_client_dripping_message_data_gets_421_at_the_data_deadline() {
    let d = start(
        "define(`confMXGATE_TO_DATA', `2s')dnl\n\
         define(`confTO_DATABLOCK', `1m')dnl\n",
    );
    let mut c = greeted(d.mta);
    transaction(&mut c);
    assert!(c.cmd("DATA").starts_with("354"));
    let t = drip(
        &c,
        b"Subject: slow\r\n\r\none octet at a time, for ever and ever\r\n.\r\n",
    );
    assert_eq!(
        c.reply(),
        "421 4.4.2 gw.example.com Error: timeout exceeded"
    );
    assert!(c.reply().ends_with("<eof>"), "closed after the 421");
    t.join().unwrap();
    // BDAT: the chunks of one message share the deadline.
    let mut c = greeted(d.mta);
    transaction(&mut c);
    c.send("BDAT 5\r\nSubje");
    assert_eq!(c.reply(), "250 2.0.0 5 bytes received");
    c.send("BDAT 100 LAST\r\n");
    let t = drip(
        &c,
        b"ct: slow\r\n\r\none octet at a time, for ever and ever and ever and ever\r\n",
    );
    assert_eq!(
        c.reply(),
        "421 4.4.2 gw.example.com Error: timeout exceeded"
    );
    t.join().unwrap();
    assert!(d.queued("queue").is_empty(), "nothing kept");
    let log = d.maillog();
    assert!(
        log.contains("during message data: message transfer not complete within 2s"),
        "{log}"
    );
}

#[test]
fn the_daemon_raises_its_open_file_limit_to_the_hard_limit() {
    let d = start_with_nofile(256, 4096);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[3..5], &["4096", "4096"], "{line}");
    assert!(
        d.maillog()
            .contains("open files: limit raised from 256 to 4096 (the hard limit)"),
        "{}",
        d.maillog()
    );
}

#[test]
fn out_of_descriptors_the_accept_loop_backs_off_logs_little_and_recovers() {
    let d = start_with_nofile(48, 48);
    let pid = d.pid();
    let open_fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    assert!(
        open_fds() < 40,
        "the daemon needs {} descriptors idle",
        open_fds()
    );
    // More clients than descriptors: the kernel completes their handshakes
    // (the listen backlog), the daemon cannot accept them all.
    let clients: Vec<std::net::TcpStream> = (0..80)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", d.mta)).unwrap())
        .collect();
    assert!(
        d.wait_log("Too many open files", Duration::from_secs(10)),
        "{}",
        d.maillog()
    );
    std::thread::sleep(Duration::from_secs(3));
    let lines = d
        .maillog()
        .lines()
        .filter(|l| l.contains("accept: "))
        .count();
    assert!(
        lines <= 2,
        "one line per interval, not one per attempt: {lines} lines\n{}",
        d.maillog()
    );
    drop(clients);
    // The descriptors come back; a new client is served (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut c = Raw::connect(d.mta);
        let r = c.reply();
        if r.starts_with("220 ") {
            assert!(c.cmd("EHLO back.example.org").starts_with("250"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again: {r}\n{}",
            d.maillog()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_command_timeout() {
    // Pipelined commands whose replies the client never reads: once the
    // socket buffers are full the server's writes block; they get the
    // command timeout as its reads do. (No recipient limit here, so that
    // every RCPT is answered 250 and the session stays open.)
    let d = start(
        "define(`confTO_COMMAND', `2s')dnl\n\
         define(`confMAX_RCPTS_PER_MESSAGE', `0')dnl\n",
    );
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let to: std::net::SocketAddr = format!("127.0.0.1:{}", d.mta).parse().unwrap();
    sock.connect(&to.into()).unwrap();
    let mut w: std::net::TcpStream = sock.into();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(b"EHLO deaf.example.org\r\nMAIL FROM:<a@example.org>\r\n");
        let rcpts = "RCPT TO:<alice@example.com>\r\n".repeat(1000);
        for _ in 0..1000 {
            if w.write_all(rcpts.as_bytes()).is_err() {
                return true;
            }
        }
        false
    });
    assert!(
        d.wait_log(
            "relay=localhost [127.0.0.1]: timeout writing to the client (2s), closing",
            Duration::from_secs(60)
        ),
        "{}",
        d.maillog().lines().last().unwrap_or("")
    );
    assert!(
        writer.join().unwrap(),
        "the server closed the connection before the client had sent everything"
    );
}

#[test]
fn recipients_far_past_the_limit_count_as_bad_commands() {
    // 452 asks an honest client to send the rest in the next transaction;
    // 1000 more (Postfix's smtpd_recipient_overshoot_limit) and every further
    // one is a bad command, until the session is closed.
    let d = start("define(`confMAX_RCPTS_PER_MESSAGE', `2')dnl\n");
    let mut c = greeted(d.mta);
    c.cmd("EHLO many.example.org");
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    c.send(&"RCPT TO:<alice@example.com>\r\n".repeat(1100));
    let replies: Vec<String> = (0..1100).map(|_| c.reply()).collect();
    assert!(replies[..2].iter().all(|r| r.starts_with("250 2.1.5")));
    assert!(
        replies[2..1002]
            .iter()
            .all(|r| r == "452 4.5.3 Too many recipients"),
        "the first 1000 excess recipients are only refused"
    );
    let closed = replies
        .iter()
        .position(|r| r.starts_with("421"))
        .expect("the session is closed");
    // The 26th counted one is answered, then the session is closed, as for
    // any 26th bad command (confMXGATE_MAX_BAD_COMMANDS 25).
    assert_eq!(closed, 1002 + 26);
    assert_eq!(
        replies[closed],
        "421 4.7.0 gw.example.com Too many bad commands; closing connection"
    );
}

/// Debian's own sendmail.mc lines: `FEATURE(conncontrol, nodelay,
/// terminate)` and `FEATURE(ratecontrol, nodelay, terminate)` under
/// `delay_checks`, with `ClientConn:`/`ClientRate:` access entries. A client
/// over its limit gets sendmail's `421 4.3.2` at connect and the connection
/// closes; sendmail's check_relay line is logged; others are served.
#[test]
fn debian_conncontrol_and_ratecontrol_refuse_at_connect() {
    let mc = "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n\
         FEATURE(`delay_checks', `friend', `n')dnl\n\
         FEATURE(`conncontrol', `nodelay', `terminate')dnl\n\
         FEATURE(`ratecontrol', `nodelay', `terminate')dnl\n";
    let d = Daemon::start(Setup {
        mc,
        tables: &[
            ("mailboxes", MAILBOXES),
            (
                "access",
                "ClientConn:127.0.0.2\t2\nClientRate:127.0.0.3\t3\nClientRate:\t0\n",
            ),
        ],
        tls: false,
    });
    // Two open sessions from 127.0.0.2 are allowed; the third is refused.
    let a = {
        let mut c = Raw::connect_from("127.0.0.2", d.mta);
        assert!(c.reply().starts_with("220 "));
        c
    };
    let mut b = Raw::connect_from("127.0.0.2", d.mta);
    assert!(b.reply().starts_with("220 "));
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert_eq!(c.reply(), "421 4.3.2 Too many open connections.");
    assert_eq!(c.rest(), "", "the connection closes after the 421");
    // Another client is not affected, and a freed session makes room.
    let mut other = Raw::connect_from("127.0.0.4", d.mta);
    assert!(other.reply().starts_with("220 "));
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Raw::connect_from("127.0.0.2", d.mta);
        let g = c.reply();
        if g.starts_with("220 ") {
            assert!(c.cmd("EHLO again.test").starts_with("250"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after a session ended: {g}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(b.cmd("QUIT").starts_with("221"));

    // Three connections from 127.0.0.3 within the window (60s) are allowed.
    for _ in 0..3 {
        let mut c = Raw::connect_from("127.0.0.3", d.mta);
        assert!(c.reply().starts_with("220 "));
        assert!(c.cmd("QUIT").starts_with("221"));
    }
    let mut c = Raw::connect_from("127.0.0.3", d.mta);
    assert_eq!(c.reply(), "421 4.3.2 Connection rate limit exceeded.");
    assert_eq!(c.rest(), "");
    let log = d.maillog();
    for text in [
        "arg2=127.0.0.2, relay=stranger.example.org [127.0.0.2], reject=421 4.3.2 Too many open connections.",
        "arg2=127.0.0.3, relay=[127.0.0.3], reject=421 4.3.2 Connection rate limit exceeded.",
    ] {
        assert!(log.contains(text), "{text}\n{log}");
    }
    assert!(log.contains("ruleset=check_relay"), "{log}");
}

/// sendmail's tls_client: a `TLS_Clt:` requirement in the access map is
/// checked at MAIL. Real swaks: in clear the client gets `454 4.7.0
/// encryption too weak 0 less than 128`; after STARTTLS (256-bit cipher)
/// the sender is accepted; a VERIFY requirement is never met, since no
/// client certificate is asked for (`no authentication requested`).
#[test]
fn tls_clt_requirement_is_checked_at_mail_with_swaks() {
    let d = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
             LOCAL_DOMAIN(`example.com')dnl\n\
             FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n",
        tables: &[
            ("mailboxes", MAILBOXES),
            (
                "access",
                "TLS_Clt:127.0.0.1\tENCR:128\nTLS_Clt:127.0.0.2\tVERIFY\n",
            ),
        ],
        tls: true,
    });
    let port = d.mta.to_string();
    let run = |from: &str, tls: bool| {
        let mut args = vec![
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--local-interface",
            from,
            "--from",
            "a@example.org",
            "--to",
            "alice@example.com",
            "--quit-after",
            "MAIL",
        ];
        if tls {
            args.push("--tls");
        }
        let o = swaks(&args);
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let clear = run("127.0.0.1", false);
    assert!(
        clear.contains("<** 454 4.7.0 encryption too weak 0 less than 128"),
        "{clear}"
    );
    let tls = run("127.0.0.1", true);
    assert!(
        tls.contains("<~  250 2.1.0 <a@example.org>... Sender ok"),
        "{tls}"
    );
    // VERIFY: the server asks for a client certificate (sendmail's
    // default), swaks sends none: `${verify}` is NO, sendmail's "not
    // authenticated" (before client certificates were asked for, NOT:
    // "no authentication requested").
    let verify = run("127.0.0.2", true);
    assert!(
        verify.contains("<~* 454 4.7.0 not authenticated"),
        "{verify}"
    );
    assert!(
        d.maillog()
            .contains("ruleset=tls_client, arg1=<a@example.org>"),
        "{}",
        d.maillog()
    );
}

/// `confCIPHER_LIST` and `confSERVER_SSL_OPTIONS` as sendmail sites write
/// them, tried with OpenSSL's own client: only the listed TLS 1.2 suite is
/// served, TLS 1.3 is off with `+SSL_OP_NO_TLSv1_3`, and a word rustls has
/// no meaning for is named in the log.
#[test]
fn cipher_list_and_server_ssl_options_hold_for_openssl_s_client() {
    let d = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
             LOCAL_DOMAIN(`example.com')dnl\n\
             define(`confCIPHER_LIST', `ECDHE-RSA-AES128-GCM-SHA256:!aNULL:!MD5:FROBNICATE')dnl\n\
             define(`confSERVER_SSL_OPTIONS', `+SSL_OP_NO_SSLv3 +SSL_OP_NO_TLSv1_3 +SSL_OP_CIPHER_SERVER_PREFERENCE')dnl\n",
        tables: &[("mailboxes", MAILBOXES)],
        tls: true,
    });
    let port = d.mta.to_string();
    let s_client = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(["s_client", "-starttls", "smtp", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl (apt-get install openssl)");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let ok = s_client(&["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]);
    assert!(ok.contains("Cipher is ECDHE-RSA-AES128-GCM-SHA256"), "{ok}");
    let other = s_client(&["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"]);
    assert!(!other.contains("Cipher is ECDHE"), "{other}");
    let v13 = s_client(&["-tls1_3"]);
    assert!(!v13.contains("Cipher is TLS_"), "{v13}");
    let log = d.maillog();
    assert!(
        log.contains("warning: confCIPHER_LIST: `FROBNICATE' is not a cipher name or class OpenSSL and rustls share; ignored"),
        "{log}"
    );
}
