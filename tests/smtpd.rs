//! The SMTP daemon driven by real clients: Python's smtplib, swaks and raw
//! sockets, on loopback ports, with a spool in a temp directory.
//! 127.0.0.2 plays the untrusted Internet client (only 127.0.0.1 and ::1
//! count as local submission, as in sendmail's Relay_ok).

mod support;
use support::*;

const ACCESS: &str = "\
Connect:127.0.0.3\tREJECT
From:spammer@example.org\tREJECT
From:tempfail.example.org\tERROR:4.7.1:451 Try again later
From:discard.example.org\tDISCARD
To:blocked@example.com\tERROR:5.2.1:550 Mailbox disabled
";

const MAILBOXES: &str = "alice OK\nbob DISABLED\npostmaster OK\n";

fn base_mc() -> &'static str {
    "FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n\
     FEATURE(`blocklist_recipients')dnl\n\
     FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
     LOCAL_DOMAIN(`example.com')dnl\n\
     RELAY_DOMAIN(`partner.org')dnl\n\
     define(`confMAX_MESSAGE_SIZE', `20000')dnl\n\
     define(`confMAX_RCPTS_PER_MESSAGE', `5')dnl\n"
}

fn start(tls: bool, extra: &str, tables: &[(&str, &str)]) -> Daemon {
    let mc = format!("{}{extra}", base_mc());
    let mut all = vec![("access", ACCESS), ("mailboxes", MAILBOXES)];
    all.extend_from_slice(tables);
    Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: Box::leak(all.into_boxed_slice()),
        tls,
    })
}

fn ok(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "client failed:\n{text}");
    text
}

#[test]
fn smtplib_message_is_spooled_with_trace_header_and_logged() {
    let d = start(false, "", &[]);
    let out = python(&format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test")
code, msg = s.ehlo()
assert code == 250 and b"PIPELINING" in msg and b"ENHANCEDSTATUSCODES" in msg and b"SIZE 20000" in msg, msg
r = s.sendmail("sender@example.org", ["alice@example.com"], "Subject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nbody line\r\n.leading dot\r\n")
assert r == {{}}, r
code, msg = s.docmd("NOOP")
print(code, msg)
s.quit()
"#,
        port = d.mta
    ));
    ok(&out);
    let q = d.queued("queue");
    assert_eq!(q.len(), 1, "one message queued");
    let text = std::fs::read_to_string(&q[0]).unwrap();
    assert!(text.starts_with("MXGATE-ENVELOPE 1\n"));
    assert!(text.contains("sender <sender@example.org>\n"), "{text}");
    assert!(text.contains("rcpt <alice@example.com>"), "{text}");
    assert!(
        text.contains(
            "Received: from client.test (localhost [127.0.0.1])\r\n\tby gw.example.com (mxgate/"
        ),
        "{text}"
    );
    assert!(text.contains("\r\n\tfor <alice@example.com>; "), "{text}");
    assert!(
        text.contains("\r\n.leading dot\r\n"),
        "dot-unstuffed once: {text}"
    );
    let log = d.maillog();
    assert!(
        log.contains("from=<sender@example.org>, size=")
            && log.contains("nrcpts=1, msgid=<m1@example.org>, proto=ESMTP, daemon=MTA, relay=localhost [127.0.0.1]"),
        "{log}"
    );
}

// A message larger than a session keeps in memory (128 KiB) goes to a
// scratch file in the spool as it arrives; the daemon's commit copies it
// into the queue file: the queued content is what the client sent, with
// dot-stuffing undone, and nothing is left in tmp/.
#[test]
fn a_large_message_is_spooled_through_a_scratch_file_byte_for_byte() {
    let d = start(false, "define(`confMAX_MESSAGE_SIZE', `3000000')dnl\n", &[]);
    let out = python(&format!(
        r#"
import smtplib
body = "".join(("." if i % 97 == 0 else "") + "line %07d " % i + "z" * 60 + "\r\n" for i in range(30000))
msg = "Subject: large\r\nMessage-ID: <large@example.org>\r\n\r\n" + body
print(len(msg))
s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test")
r = s.sendmail("sender@example.org", ["alice@example.com"], msg)
assert r == {{}}, r
s.quit()
open("{dir}/sent", "w", newline="").write(msg)
"#,
        port = d.mta,
        dir = d.dir.path().display()
    ));
    ok(&out);
    let sent = std::fs::read(d.dir.path().join("sent")).unwrap();
    assert!(sent.len() > 2_000_000, "{}", sent.len());
    let q = d.queued("queue");
    assert_eq!(q.len(), 1, "one message queued");
    let data = std::fs::read(&q[0]).unwrap();
    assert!(
        data.ends_with(&sent),
        "the queued message ends with what was sent"
    );
    let tmp: Vec<_> = std::fs::read_dir(d.dir.path().join("spool/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "left in tmp/: {tmp:?}");
    let log = d.maillog();
    assert!(log.contains("msgid=<large@example.org>"), "{log}");
}

// The daemon executes itself again, same process, with mimalloc told to
// return freed memory at once (src/main.rs, `tune_the_allocator`); the
// child the test started is the daemon that serves.
#[test]
fn the_daemon_runs_with_the_allocator_settings() {
    let d = start(false, "", &[]);
    let environ = std::fs::read(format!("/proc/{}/environ", d.pid())).unwrap();
    let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
    assert!(vars.contains(&&b"MIMALLOC_PURGE_DELAY=0"[..]), "{vars:?}");
    assert!(
        vars.contains(&&b"MIMALLOC_ARENA_EAGER_COMMIT=0"[..]),
        "{vars:?}"
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", d.pid())).unwrap();
    assert!(
        cmdline.split(|b| *b == 0).any(|a| a == b"daemon"),
        "same arguments"
    );
    let out = python(&format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {})\nprint(s.noop())\ns.quit()\n",
        d.mta
    ));
    ok(&out);
}

// Issue "field configurations", item 1: addresses are echoed, logged and
// queued as the client wrote them. sendmail 8.17 -bs (t2.mc):
//   MAIL FROM:<Joe@GW.Example.COM> → 250 2.1.0 <Joe@GW.Example.COM>... Sender ok
//   RCPT TO:<Bob@Partner.ORG>      → 250 2.1.5 <Bob@Partner.ORG>... Recipient ok
//   RCPT TO:<Bob@Elsewhere.COM>    → 550 5.7.1 <Bob@Elsewhere.COM>... Relaying denied
#[test]
fn addresses_keep_the_clients_case() {
    let d = start(false, "", &[]);
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert!(c.reply().starts_with("220 "));
    assert!(c.cmd("EHLO stranger.test").starts_with("250-"));
    assert_eq!(
        c.cmd("MAIL FROM:<Joe@Example.ORG>"),
        "250 2.1.0 <Joe@Example.ORG>... Sender ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<Bob@Partner.ORG>"),
        "250 2.1.5 <Bob@Partner.ORG>... Recipient ok"
    );
    assert!(
        c.cmd("RCPT TO:<Bob@Elsewhere.COM>")
            .starts_with("550 5.7.1 <Bob@Elsewhere.COM>... Relaying denied")
    );
}

#[test]
fn open_relay_battery_is_refused_for_strangers() {
    let d = start(false, "", &[]);
    let attempts = [
        "<u@elsewhere.com>",
        "<u@elsewhere.com.>",
        "<U@ELSEWHERE.COM>",
        "<u%elsewhere.com@gw.example.com>",
        "<u%elsewhere.com@[127.0.0.1]>",
        "<\"u@elsewhere.com\">",
        "<\"u@elsewhere.com\"@gw.example.com>",
        "<@gw.example.com:u@elsewhere.com>",
        "<@gw.example.com,@elsewhere.com:u@elsewhere.com>",
        "<elsewhere.com!u>",
        "<elsewhere.com!u@gw.example.com>",
        "<u@[192.0.2.99]>",
        "<u@[IPv6:2001:db8::99]>",
        "<u@gw.example.com@elsewhere.com>",
        "<u@elsewhere.com@gw.example.com>",
        "<u@partner.org.elsewhere.com>",
        "<u@example.com.elsewhere.com>",
    ];
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert!(c.reply().starts_with("220 gw.example.com ESMTP"));
    assert!(c.cmd("EHLO stranger.test").starts_with("250-"));
    assert!(
        c.cmd("MAIL FROM:<someone@example.org>")
            .starts_with("250 2.1.0")
    );
    let mut accepted = Vec::new();
    for a in attempts {
        let r = c.cmd(&format!("RCPT TO:{a}"));
        if !r.starts_with('5') {
            accepted.push(format!("{a} → {r}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "relay attempts not refused:\n{}",
        accepted.join("\n")
    );
    // The plain case gets sendmail's text; a site with SMTP AUTH (here the
    // MSA's M=a) adds the hint, as sendmail does with TRUST_AUTH_MECH.
    let r = c.cmd("RCPT TO:<u@elsewhere.com>");
    assert_eq!(
        r,
        "550 5.7.1 <u@elsewhere.com>... Relaying denied. Proper authentication required."
    );
    // Our own domain and the relay domain still work.
    assert!(
        c.cmd("RCPT TO:<alice@example.com>")
            .starts_with("250 2.1.5")
    );
    assert!(c.cmd("RCPT TO:<x@partner.org>").starts_with("250 2.1.5"));
    assert_eq!(
        c.cmd("DATA"),
        "354 Enter mail, end with \".\" on a line by itself"
    );
    let r = c.cmd("Subject: x\r\n\r\nhello\r\n.");
    assert!(r.starts_with("250 2.0.0 "), "{r}");
    let q = d.queued("queue");
    assert_eq!(q.len(), 1);
    let text = std::fs::read_to_string(&q[0]).unwrap();
    assert!(
        !text.contains("elsewhere"),
        "no refused recipient in the envelope: {text}"
    );
    assert!(d.maillog().contains("ruleset=check_rcpt, arg1=<u@elsewhere.com>, relay=stranger.example.org [127.0.0.2], reject=550 5.7.1 <u@elsewhere.com>... Relaying denied. Proper authentication required."));
}

#[test]
fn policy_replies_at_each_stage() {
    let d = start(false, "", &[]);
    // Connect: REJECT → 554 greeting, commands refused, QUIT works.
    let mut c = Raw::connect_from("127.0.0.3", d.mta);
    assert_eq!(c.reply(), "554 gw.example.com ESMTP not accepting messages");
    assert_eq!(c.cmd("HELO x"), "550 5.7.1 Access denied");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org>"),
        "550 5.7.1 Access denied"
    );
    assert!(c.cmd("QUIT").starts_with("221 2.0.0"));
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    c.reply();
    c.cmd("EHLO x");
    assert_eq!(
        c.cmd("MAIL FROM:<spammer@example.org>"),
        "550 5.7.1 <spammer@example.org>... Access denied"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@tempfail.example.org>"),
        "451 4.7.1 Try again later"
    );
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert_eq!(
        c.cmd("RCPT TO:<blocked@example.com>"),
        "550 5.2.1 <blocked@example.com>... Mailbox disabled"
    );
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.com>"),
        "550 5.1.1 <nobody@example.com>... User unknown"
    );
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.com>"),
        "550 5.2.1 <bob@example.com>... Mailbox temporarily disabled"
    );
    assert_eq!(c.cmd("RCPT TO:<>"), "553 5.0.0 <>... User address required");
    // DISCARD: accepted, dropped, logged.
    assert!(c.cmd("RSET").starts_with("250 2.0.0"));
    assert!(
        c.cmd("MAIL FROM:<x@discard.example.org>")
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    assert!(c.cmd("Subject: d\r\n\r\nx\r\n.").starts_with("250 2.0.0"));
    assert!(
        d.queued("queue").is_empty(),
        "discarded message not spooled"
    );
    assert!(d.maillog().contains("discarded"));
}

#[test]
fn malformed_sessions_get_the_right_replies() {
    let d = start(false, "", &[]);
    let mut c = Raw::connect(d.mta);
    c.reply();
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org>"),
        "503 5.0.0 Polite people say HELO first"
    );
    assert_eq!(c.cmd("EHLO"), "501 5.0.0 EHLO requires domain address");
    assert!(
        c.cmd("HELO client.test")
            .starts_with("250 gw.example.com Hello")
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.com>"),
        "503 5.0.0 Need MAIL before RCPT"
    );
    assert_eq!(c.cmd("DATA"), "503 5.0.0 Need MAIL command");
    assert_eq!(c.cmd("XYZZY"), "500 5.5.1 Command unrecognized: \"XYZZY\"");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org"),
        "501 5.5.2 Unbalanced '<' in <a@example.org"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org> FOO=BAR"),
        "555 5.5.4 FOO parameter unrecognized"
    );
    let long = format!("NOOP {}", "x".repeat(5000));
    assert_eq!(c.cmd(&long), "500 5.5.2 Command line too long");
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org> SIZE=999999"),
        "552 5.2.3 Message size exceeds fixed maximum message size"
    );
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert_eq!(
        c.cmd("MAIL FROM:<b@example.org>"),
        "503 5.5.0 Sender already specified"
    );
    for _ in 0..5 {
        assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    }
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.com>"),
        "452 4.5.3 Too many recipients"
    );
    // SMTP smuggling: a bare-LF "end of data" with a second message behind it.
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("550 5.6.2"), "{r}");
    assert!(
        d.queued("queue").is_empty(),
        "nothing from the smuggling attempt is queued"
    );
    assert_eq!(
        c.cmd("NOOP"),
        "250 2.0.0 OK",
        "exactly one reply for the whole DATA"
    );
    // An oversized body is refused at the end of DATA.
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let big = format!("Subject: big\r\n\r\n{}\r\n.", "y".repeat(30000));
    assert_eq!(
        c.cmd(&big),
        "552 5.2.3 Message size exceeds fixed maximum message size (20000)"
    );
    assert!(
        c.cmd("QUIT")
            .starts_with("221 2.0.0 gw.example.com closing connection")
    );
    assert!(d.queued("queue").is_empty());
}

#[test]
fn pipelining_with_swaks() {
    let d = start(false, "", &[]);
    let port = d.mta.to_string();
    let out = swaks(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--pipeline",
        "--from",
        "p@example.org",
        "--to",
        "alice@example.com,postmaster@example.com",
        "--helo",
        "swaks.test",
        "--body",
        "pipelined body",
    ]);
    let text = ok(&out);
    assert!(!text.contains("<** "), "{text}");
    assert!(text.contains("Message accepted for delivery"), "{text}");
    assert_eq!(d.queued("queue").len(), 1);
}

const PASSWD: &str = "alice {PLAIN}secret\n\
bob {SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1\n";

#[test]
fn starttls_auth_and_smtps() {
    let d = start(
        true,
        "define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n",
        &[("passwd", PASSWD)],
    );
    let out = python(&format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", {msa}, local_hostname="mua.test")
code, msg = s.ehlo()
assert b"STARTTLS" in msg and b"AUTH" not in msg, msg          # never AUTH in the clear
code, msg = s.docmd("MAIL FROM:<alice@example.com>")
assert code == 530 and msg.startswith(b"5.7.0 Authentication required"), (code, msg)
s.starttls(context=ctx)
code, msg = s.ehlo()
assert b"AUTH PLAIN LOGIN" in msg and b"STARTTLS" not in msg, msg
try:
    s.login("alice", "wrong"); raise SystemExit("bad password accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.login("alice", "secret")
r = s.sendmail("alice", ["friend@elsewhere.org"], "Subject: no date or id\r\n\r\nhi\r\n")
assert r == {{}}, r
s.quit()
t = smtplib.SMTP_SSL("127.0.0.1", {smtps}, context=ctx, local_hostname="mua.test")
t.login("bob", "Hello world!")
assert t.sendmail("bob@example.com", ["x@elsewhere.org"], "Subject: s\r\n\r\nx\r\n") == {{}}
t.quit()
print("ok")
"#,
        msa = d.msa,
        smtps = d.smtps
    ));
    ok(&out);
    let q = d.queued("queue");
    assert_eq!(q.len(), 2);
    let texts: Vec<String> = q
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let first = texts.iter().find(|t| t.contains("no date or id")).unwrap();
    // MSA: envelope qualified, Date and Message-ID added, ESMTPSA in the trace.
    assert!(first.contains("sender <alice@gw.example.com>\n"), "{first}");
    assert!(first.contains(" with ESMTPSA id "), "{first}");
    assert!(first.contains("(version=TLSv1."), "{first}");
    assert!(
        first.contains("\r\nDate: ") && first.contains("\r\nMessage-ID: <"),
        "{first}"
    );
    assert!(
        d.maillog()
            .contains("AUTH=server, relay=localhost [127.0.0.1], authid=alice, mech=PLAIN")
    );
}

#[test]
fn virtual_domains_and_trusted_auth_mechanisms_as_compiled() {
    // Two class macros were compiled under names the daemon never read:
    // `{VirtHost}` and `{TrustAuthMech}` (braces kept). So a virtual
    // domain was refused from outside ("Relaying denied"), and any AUTH
    // mechanism relayed whatever TRUST_AUTH_MECH said. sendmail 8.17
    // (proto.m4 `CR$={VirtHost}`; `sendmail -bt` check_rcpt with
    // TRUST_AUTH_MECH(`PLAIN LOGIN'): PLAIN relays, CRAM-MD5 gets "550
    // Relaying denied. Proper authentication required.").
    let d = start(
        true,
        "FEATURE(`virtusertable', `lmdb @DIR@/virtuser')dnl\n\
         VIRTUSER_DOMAIN(`virt.example.org')dnl\n\
         define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n\
         TRUST_AUTH_MECH(`LOGIN')dnl\n",
        &[
            ("virtuser", "info@virt.example.org\talice\n"),
            ("passwd", PASSWD),
        ],
    );
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO stranger.example.org").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    let r = c.cmd("RCPT TO:<info@virt.example.org>");
    assert!(r.starts_with("250 2.1.5"), "{r}");
    let r = c.cmd("RCPT TO:<info@elsewhere.org>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    let out = python(&format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for mech, relays in (("PLAIN", False), ("LOGIN", True)):
    # From 127.0.0.2: 127.0.0.1 is local submission, which relays anyway.
    s = smtplib.SMTP("127.0.0.1", {msa}, local_hostname="mua.test", source_address=("127.0.0.2", 0))
    s.starttls(context=ctx); s.ehlo()
    s.user, s.password = "alice", "secret"
    s.auth(mech, getattr(s, "auth_" + mech.lower()))
    s.docmd("MAIL FROM:<alice@example.com>")
    code, msg = s.docmd("RCPT TO:<friend@elsewhere.org>")
    if relays:
        assert code == 250, (mech, code, msg)
    else:
        assert code == 550 and b"Proper authentication required" in msg, (mech, code, msg)
    s.quit()
print("ok")
"#,
        msa = d.msa
    ));
    ok(&out);
}

#[test]
fn starttls_injection_is_discarded() {
    let d = start(true, "", &[]);
    let out = python(&format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", {mta}))
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode()
        lines.append(l)
        if len(l) < 4 or l[3] == " ": return "".join(lines)
reply(); s.sendall(b"EHLO x\r\n"); reply()
s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
r = reply(); assert r.startswith("220 2.0.0"), r
t = ctx.wrap_socket(s)
t.sendall(b"EHLO y\r\n")
g = t.makefile("rb")
first = g.readline().decode()
assert first.startswith("250-"), "the injected MAIL was answered: " + first
print("ok")
"#,
        mta = d.mta
    ));
    ok(&out);
}

#[test]
fn sigkill_with_50_clients_loses_no_acknowledged_message() {
    use std::sync::{Arc, Mutex};
    let mut d = start(false, "", &[]);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = d.mta;
    let mut threads = Vec::new();
    for i in 0..50 {
        let acked = acked.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 200 {
                n += 1;
                let Ok(sock) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                    .ok();
                let w = sock.try_clone().unwrap();
                let mut c = Raw {
                    r: std::io::BufReader::new(sock),
                    w,
                };
                let script = [
                    "EHLO load.test".to_string(),
                    "MAIL FROM:<load@example.org>".to_string(),
                    "RCPT TO:<alice@example.com>".to_string(),
                    "DATA".to_string(),
                ];
                if !c.reply().starts_with("220") {
                    return;
                }
                for l in &script {
                    use std::io::Write;
                    if c.w.write_all(format!("{l}\r\n").as_bytes()).is_err() {
                        return;
                    }
                    if c.reply().starts_with("<eof>") {
                        return;
                    }
                }
                use std::io::Write;
                let body = format!("Subject: load {i}-{n}\r\n\r\nmessage {i}-{n}\r\n.\r\n");
                if c.w.write_all(body.as_bytes()).is_err() {
                    return;
                }
                let r = c.reply();
                if let Some(rest) = r.strip_prefix("250 2.0.0 ") {
                    let id = rest.split_whitespace().next().unwrap_or("").to_string();
                    acked.lock().unwrap().push(id);
                }
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.kill9();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "the load produced acknowledged messages ({})",
        acked.len()
    );
    d.spawn();
    let names: Vec<String> = d
        .queued("queue")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !names.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged but missing after SIGKILL: {lost:?}"
    );
    for p in d.queued("queue") {
        let text = std::fs::read(&p).unwrap();
        assert!(text.ends_with(b"\r\n"), "{} is complete", p.display());
    }
    assert!(
        d.queued("tmp").is_empty(),
        "partial files removed on restart"
    );
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220"));
    c.cmd("HELO after.test");
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    c.cmd("DATA");
    assert!(
        c.cmd("Subject: after\r\n\r\nx\r\n.")
            .starts_with("250 2.0.0"),
        "restarted daemon accepts"
    );
}

/// One message in a session of its own: the reply to its final dot.
fn send_message(port: u16, from: &str, to: &str, text: &str) -> String {
    let mut c = Raw::connect(port);
    assert!(c.reply().starts_with("220"));
    c.cmd("EHLO wal.test");
    assert!(c.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
    assert!(c.cmd(&format!("RCPT TO:<{to}>")).starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let r = c.cmd(&format!("{text}\r\n."));
    c.send("QUIT\r\n");
    r
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The segments of the write-ahead log that hold a record of their
/// current epoch (the layout of src/spool/wal.rs), read whole.
fn live_segments(spool: &std::path::Path) -> Vec<Vec<u8>> {
    ["wal.0", "wal.1"]
        .iter()
        .map(|n| std::fs::read(spool.join(n)).unwrap_or_default())
        .filter(|s| {
            s.len() > 4200
                && &s[..8] == b"MXGWAL01"
                && &s[4096..4100] == b"MXGR"
                && s[4100..4108] == s[8..16]
        })
        .collect()
}

/// The daemon's write-ahead log (src/spool/wal.rs): two preallocated
/// segments in the spool's root; an accepted message is in the log (the
/// whole queue file) when its 250 goes out; a clean stop checkpoints, so
/// no segment is left holding a record of its current epoch. (The next
/// test covers recovery after a reboot; the SIGKILL test above a restart
/// on the same boot.)
#[test]
fn write_ahead_log_holds_each_250_and_a_clean_stop_empties_it() {
    let mut d = start(false, "", &[]);
    let r = send_message(
        d.mta,
        "wal@example.org",
        "alice@example.com",
        "Subject: logged 7f3a9c\r\n\r\nbody 7f3a9c\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let spool = d.path().join("spool");
    let segs: Vec<Vec<u8>> = ["wal.0", "wal.1"]
        .iter()
        .map(|n| std::fs::read(spool.join(n)).unwrap())
        .collect();
    for s in &segs {
        assert_eq!(s.len(), 16 << 20, "segments are preallocated");
    }
    assert!(
        segs.iter().any(|s| contains(s, b"Subject: logged 7f3a9c")
            && contains(s, b"body 7f3a9c")
            && contains(s, b"wal@example.org")),
        "the log holds the whole queue file"
    );
    d.signal("TERM");
    let st = d
        .wait_exit(std::time::Duration::from_secs(30))
        .expect("daemon exits");
    assert!(st.success(), "{st}: {}", d.stderr());
    assert!(
        live_segments(&spool).is_empty(),
        "a segment still holds records after a clean stop"
    );
    assert!(!d.maillog().contains("write-ahead log"), "{}", d.maillog());
    // And the next start has nothing to restore.
    d.spawn();
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220"));
    assert!(!d.maillog().contains("restored"), "{}", d.maillog());
}

/// Whether a live segment of the write-ahead log holds `needle`.
fn live_record_with(spool: &std::path::Path, needle: &[u8]) -> bool {
    live_segments(spool).iter().any(|s| contains(s, needle))
}

/// A power cut, as far as a test can make one: the daemon is killed right
/// after a 250, before a checkpoint, and the queue file is then removed (as
/// if the page cache had not reached the disk); the daemon is started again
/// in a mount namespace where `/proc/sys/kernel/random/boot_id` reads
/// another boot (a bind mount). It must write the message again from its
/// log and say so. Needs root (the mount namespace), as CI runs.
#[test]
fn after_a_reboot_the_log_brings_back_a_message_the_disk_lost() {
    let mut d = start(false, "", &[]);
    let spool = d.path().join("spool");
    let mut caught = None;
    for attempt in 0..10 {
        let subject = format!("Subject: power cut {attempt}");
        let r = send_message(
            d.mta,
            "cut@example.org",
            "bob@partner.org",
            &format!("{subject}\r\n\r\nbody\r\n"),
        );
        d.kill9();
        let id = r
            .strip_prefix("250 2.0.0 ")
            .and_then(|t| t.split_whitespace().next())
            .unwrap_or_else(|| panic!("{r}"))
            .to_string();
        if live_record_with(&spool, subject.as_bytes()) {
            caught = Some((id, subject));
            break;
        }
        // A checkpoint came first (it runs every 250 ms): again.
        d.spawn();
    }
    let (id, subject) = caught.expect("a kill before a checkpoint within 10 tries");
    // The disk "lost" the file: what a power cut can do to a file only the
    // log made durable.
    let _ = std::fs::remove_file(spool.join("queue").join(&id));
    let fake = d.path().join("boot_id");
    std::fs::write(&fake, "00000000-0000-4000-8000-000000000001\n").unwrap();
    let script = format!(
        "mount --bind {} /proc/sys/kernel/random/boot_id && exec {} daemon --config {}",
        fake.display(),
        env!("CARGO_BIN_EXE_mxgate"),
        d.mc.display()
    );
    let mut unshare = std::process::Command::new("unshare");
    unshare.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    d.spawn_with(unshare);
    assert!(
        d.wait_log(
            "write-ahead log: restored 1 of 1 message(s)",
            std::time::Duration::from_secs(20)
        ),
        "no restore in the log: {}\n{}",
        d.maillog(),
        d.stderr()
    );
    // Back in the queue (or already tried again from it).
    let back = std::fs::read(spool.join("queue").join(&id)).unwrap_or_default();
    let log = d.maillog();
    let after = &log[log.find("write-ahead log: restored").unwrap()..];
    assert!(
        contains(&back, subject.as_bytes()) || after.contains(&id),
        "message {id} neither queued nor tried after the restore: {after}"
    );
    // The log is empty again: the next start on the same "boot" replays nothing.
    assert!(!live_record_with(&spool, subject.as_bytes()));
}

#[test]
fn full_queue_sheds_load_with_452_and_keeps_running() {
    let d = start(false, "define(`confMAX_QUEUE_SIZE', `2')dnl\n", &[]);
    let send = |n: usize| {
        let mut c = Raw::connect(d.mta);
        c.reply();
        c.cmd("HELO x");
        let r = c.cmd("MAIL FROM:<a@example.org>");
        if !r.starts_with("250") {
            return r;
        }
        c.cmd("RCPT TO:<alice@example.com>");
        c.cmd("DATA");
        c.cmd(&format!("Subject: {n}\r\n\r\nx\r\n."))
    };
    assert!(send(1).starts_with("250"));
    assert!(send(2).starts_with("250"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = send(3);
    assert_eq!(r, "452 4.3.1 Queue is full; try again later");
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220"), "still running");
}

#[test]
fn daemon_mode_detaches_writes_a_pidfile_and_serves() {
    // Regression: forking after the async runtime had started threads left the
    // child deadlocked; listeners are now std sockets until after the fork.
    let d = Daemon::prepare(Setup {
        mc: base_mc(),
        tables: &[("access", ACCESS), ("mailboxes", MAILBOXES)],
        tls: false,
    });
    let pidfile = d.path().join("mxgate.pid");
    let status = std::process::Command::new(BIN)
        .args(["daemon", "--daemon", "--pidfile"])
        .arg(&pidfile)
        .arg("--config")
        .arg(&d.mc)
        .status()
        .unwrap();
    assert!(status.success(), "the parent returns once detached");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid = loop {
        if let Ok(p) = std::fs::read_to_string(&pidfile)
            && !p.trim().is_empty()
        {
            break p.trim().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no pidfile");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut c = loop {
        if std::net::TcpStream::connect(("127.0.0.1", d.mta)).is_ok() {
            break Raw::connect(d.mta);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "detached daemon not listening"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        c.reply().starts_with("220 gw.example.com ESMTP"),
        "the detached daemon answers"
    );
    assert!(c.cmd("QUIT").starts_with("221"));
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pidfile.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "pidfile removed on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
