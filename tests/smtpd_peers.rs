//! The daemon against real peers: a real Dovecot (its `doveadm pw` hashes and
//! its auth socket), a real authoritative DNS server (NSD) for DNSBL, PTR and
//! sender-domain checks, a syslog datagram socket, and the privilege drop.
//! Dovecot and NSD are started by the tests with their own configuration in
//! temp dirs (no system-wide configuration is read) and stopped at the end.

mod support;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;
use support::*;

const MAILBOXES: &str = "alice OK\npostmaster OK\n";

fn mc(extra: &str) -> String {
    format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n{extra}"
    )
}

fn prepare(tls: bool, extra: &str, tables: &[(&str, &str)]) -> Daemon {
    let mut all = vec![("mailboxes", MAILBOXES)];
    all.extend_from_slice(tables);
    Daemon::prepare(Setup {
        mc: Box::leak(mc(extra).into_boxed_str()),
        tables: Box::leak(all.into_boxed_slice()),
        tls,
    })
}

fn doveadm_pw(scheme: &str, pw: &str) -> String {
    let out = Command::new("doveadm")
        .args(["pw", "-s", scheme, "-p", pw])
        .output()
        .expect("doveadm is installed by .ci/run (dovecot-core)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn doveadm_pw_hashes_verify() {
    for scheme in ["SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID", "SSHA256"] {
        let stored = doveadm_pw(scheme, "secret");
        assert!(stored.starts_with(&format!("{{{scheme}}}")), "{stored}");
        assert_eq!(
            mxgate::auth::verify(&stored, "secret"),
            Ok(true),
            "{scheme}: {stored}"
        );
        assert_eq!(
            mxgate::auth::verify(&stored, "Secret"),
            Ok(false),
            "{scheme}: wrong password must fail"
        );
    }
}

#[test]
fn password_table_built_from_doveadm_output() {
    // makemap over `user {SCHEME}hash` lines, as the admin guide says.
    let table = format!(
        "carol {}\ndave {}\n",
        doveadm_pw("BLF-CRYPT", "pw-carol"),
        doveadm_pw("SSHA256", "pw-dave")
    );
    let mut d = prepare(
        true,
        "define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n",
        &[("passwd", Box::leak(table.into_boxed_str()))],
    );
    d.spawn();
    let out = python(&format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for user, pw in (("carol", "pw-carol"), ("dave", "pw-dave")):
    s = smtplib.SMTP("127.0.0.1", {msa}, local_hostname="mua.test")
    s.starttls(context=ctx); s.ehlo()
    try:
        s.login(user, pw + "x"); raise SystemExit("bad password accepted")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
    code, msg = s.login(user, pw)
    assert code == 235, (code, msg)
    s.quit()
print("ok")
"#,
        msa = d.msa
    ));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn real_dovecot_authenticates_over_starttls() {
    let hash = doveadm_pw("SHA512-CRYPT", "secret");
    let mut dovecot = Dovecot::start(&[("alice", &hash)]);
    let extra = format!(
        "define(`confAUTH_DOVECOT_SOCKET', `{}')dnl\n",
        dovecot.socket.display()
    );
    let mut d = prepare(true, &extra, &[]);
    d.spawn();
    let script = |expect_temp: bool| {
        format!(
            r#"
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", {msa}, local_hostname="mua.test")
code, msg = s.ehlo()
assert b"AUTH" not in msg, msg
s.starttls(context=ctx)
code, msg = s.ehlo()
assert b"AUTH PLAIN LOGIN" in msg, msg
if {expect_temp}:
    try:
        s.login("alice", "secret"); raise SystemExit("accepted without dovecot")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 454 and e.smtp_error.startswith(b"4.7.0"), e
    print("temp"); raise SystemExit(0)
try:
    s.login("alice", "wrong"); raise SystemExit("bad password accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535 and e.smtp_error.startswith(b"5.7.8"), e
code, msg = s.login("alice", "secret")
assert code == 235, (code, msg)
assert s.sendmail("alice@example.com", ["friend@elsewhere.org"], "Subject: via dovecot\r\n\r\nhi\r\n") == {{}}
s.quit()
print("ok")
"#,
            msa = d.msa,
            expect_temp = if expect_temp { "True" } else { "False" }
        )
    };
    let out = python(&script(false));
    assert!(
        out.status.success(),
        "{out:?}\n{}\n{}",
        d.maillog(),
        dovecot.log()
    );
    assert_eq!(d.queued("queue").len(), 1);
    assert!(
        d.maillog().contains("authid=alice, mech=PLAIN"),
        "{}",
        d.maillog()
    );
    assert!(
        d.maillog()
            .contains("AUTH failure (PLAIN): authentication failure"),
        "{}",
        d.maillog()
    );
    // Dovecot gone: a temporary failure, never a pass or a permanent refusal.
    dovecot.stop();
    assert!(!dovecot.running(), "dovecot stopped");
    let out = python(&script(true));
    assert!(out.status.success(), "{out:?}\n{}", d.maillog());
}

const BL_ZONE: &str = "$ORIGIN bl.example.net.\n$TTL 60\n\
@ IN SOA ns.bl.example.net. host.bl.example.net. 1 3600 600 86400 60\n\
@ IN NS ns\nns IN A 127.0.0.1\n\
2.0.0.127 IN A 127.0.0.2\n2.0.0.127 IN TXT \"listed for testing\"\n";

const NET_ZONE: &str = "$ORIGIN example.net.\n$TTL 60\n\
@ IN SOA ns.example.net. host.example.net. 1 3600 600 86400 60\n\
@ IN NS ns\nns IN A 127.0.0.1\n@ IN MX 10 mx\nmx IN A 127.0.0.1\n\
client4 IN A 127.0.0.4\nforged5 IN A 192.0.2.55\n";

const PTR_ZONE: &str = "$ORIGIN 0.0.127.in-addr.arpa.\n$TTL 60\n\
@ IN SOA ns.example.net. host.example.net. 1 3600 600 86400 60\n\
@ IN NS ns.example.net.\n4 IN PTR client4.example.net.\n5 IN PTR forged5.example.net.\n";

fn dns_mc(port: u16, extra: &str) -> String {
    format!(
        "define(`confMXGATE_NAMESERVERS', `127.0.0.1:{port}')dnl\n\
         define(`confMXGATE_DNS_TIMEOUT', `1s')dnl\n{extra}"
    )
}

/// DNS after the hosts file (127.0.0.1 and .2 are in the test hosts file).
fn with_switch(mut d: Daemon, switch: &str) -> Daemon {
    std::fs::write(d.path().join("service.switch"), switch).unwrap();
    d.spawn();
    d
}

#[test]
fn dnsbl_ptr_and_sender_domains_against_real_nsd() {
    let nsd = Nsd::start(&[
        ("bl.example.net", BL_ZONE),
        ("example.net", NET_ZONE),
        ("0.0.127.in-addr.arpa", PTR_ZONE),
    ]);
    let d = with_switch(
        prepare(
            false,
            &dns_mc(nsd.port, "FEATURE(`dnsbl', `bl.example.net')dnl\n"),
            &[],
        ),
        "hosts files dns\n",
    );
    // Listed: refused at connect, every command gets the refusal.
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    let g = c.reply();
    assert!(g.starts_with("554 gw.example.com"), "{g}\n{}", nsd.log());
    c.cmd("HELO x");
    let r = c.cmd("MAIL FROM:<a@example.net>");
    assert!(
        r.starts_with("550 5.7.1 Rejected: 127.0.0.2 listed at bl.example.net"),
        "{r}"
    );
    // Not listed: served. (A PTR query for 127/8 is answered "localhost" by
    // hickory itself, RFC 6761, without asking the server, so the client is
    // not named through the PTR zone.)
    let mut c = Raw::connect_from("127.0.0.4", d.mta);
    assert!(c.reply().starts_with("220 "), "{}", d.maillog());
    assert!(c.cmd("EHLO client4.example.net").starts_with("250"));
    let r = c.cmd("MAIL FROM:<someone@nosuch.example.net>");
    assert!(r.starts_with("553 5.1.8 "), "{r}");
    assert!(
        r.ends_with("Domain of sender address someone@nosuch.example.net does not exist"),
        "{r}"
    );
    // A domain with only an A record (no MX) exists too.
    assert!(
        c.cmd("MAIL FROM:<someone@client4.example.net>")
            .starts_with("250 2.1.0")
    );
    c.cmd("RSET");
    assert!(
        c.cmd("MAIL FROM:<someone@example.net>")
            .starts_with("250 2.1.0")
    );
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    c.cmd("DATA");
    assert!(c.cmd("Subject: t\r\n\r\nx\r\n.").starts_with("250 2.0.0"));
    c.cmd("QUIT");
    assert_eq!(d.queued("queue").len(), 1);
    let log = d.maillog();
    assert!(
        log.contains("ruleset=check_relay, arg1=stranger.example.org, arg2=127.0.0.2"),
        "{log}"
    );
    assert!(
        log.contains("ruleset=check_mail, arg1=<someone@nosuch.example.net>"),
        "{log}"
    );
}

#[test]
fn silent_dns_temp_fails_dnsbl_with_t_and_sender_with_4_1_8() {
    let silent = SilentUdp::bind();
    // With `t`: a blocklist that does not answer temp-fails the client.
    let d = with_switch(
        prepare(
            false,
            &dns_mc(
                silent.port,
                "FEATURE(`dnsbl', `bl.example.net', `', `t')dnl\n",
            ),
            &[],
        ),
        "hosts files dns\n",
    );
    let mut c = Raw::connect(d.mta);
    let g = c.reply();
    assert!(g.starts_with("554 "), "{g}");
    c.cmd("HELO x");
    let r = c.cmd("MAIL FROM:<a@example.com>");
    assert!(r.starts_with("451 4.4.3 "), "{r}");
    drop(d);
    // Without `t`: the silent blocklist is ignored; the unresolvable sender
    // domain is a temporary failure (DNS down), never 553.
    let d = with_switch(
        prepare(
            false,
            &dns_mc(silent.port, "FEATURE(`dnsbl', `bl.example.net')dnl\n"),
            &[],
        ),
        "hosts files dns\n",
    );
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220 "));
    c.cmd("HELO x");
    let r = c.cmd("MAIL FROM:<a@example.net>");
    assert_eq!(
        r,
        "451 4.1.8 Domain of sender address a@example.net does not resolve"
    );
    assert!(d.maillog().contains("reject=451 4.1.8"), "{}", d.maillog());
}

/// `::1` in nibble form (the 32 nibbles of the address, lowest first), as
/// Postfix asks and rbldnsd/NSD zones list IPv6 clients.
const V6_LOOPBACK_NIBBLES: &str = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0";

fn v6_zone(origin: &str, records: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 60\n\
         @ IN SOA ns.example.net. host.example.net. 1 3600 600 86400 60\n\
         @ IN NS ns.example.net.\n{records}"
    )
}

/// A daemon that also listens on [::1]:port6.
fn v6_daemon(nsd: &Nsd, port6: u16, features: &str) -> Daemon {
    let extra =
        format!("DAEMON_OPTIONS(`Port={port6}, Addr=::1, Family=inet6, Name=MTA6')dnl\n{features}");
    with_switch(
        prepare(false, &dns_mc(nsd.port, &extra), &[]),
        "hosts files dns\n",
    )
}

fn connect_v6(port: u16) -> Raw {
    let sock = std::net::TcpStream::connect(("::1", port)).expect("connect to [::1]");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let w = sock.try_clone().unwrap();
    Raw {
        r: std::io::BufReader::new(sock),
        w,
    }
}

/// Sends one message; returns the reply to the final dot.
fn one_message(c: &mut Raw) -> String {
    assert!(c.cmd("EHLO client.example.net").starts_with("250"));
    let r = c.cmd("MAIL FROM:<someone@example.net>");
    assert!(r.starts_with("250 2.1.0"), "{r}");
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    c.cmd("DATA");
    let r = c.cmd("Subject: t\r\n\r\nx\r\n.");
    c.cmd("QUIT");
    r
}

/// DNSBL and enhdnsbl for an IPv6 client: the query is the nibble form
/// (`1.0.0.0.….0.bl6.example.net`, Postfix's and rbldnsd's), answered by a
/// real NSD. Sendmail itself skips IPv6 clients (its rule matches four
/// octets); this is mxgate's extension (docs/daemon.md).
#[test]
fn ipv6_client_is_checked_in_nibble_form_against_real_nsd() {
    let n = V6_LOOPBACK_NIBBLES;
    let nsd = Nsd::start(&[
        ("example.net", NET_ZONE),
        (
            "bl6.example.net",
            &v6_zone("bl6.example.net", &format!("{n} IN A 127.0.0.2\n")),
        ),
        // Lists ::1 with the answer 127.0.0.4 (for enhdnsbl matching).
        (
            "enh6.example.net",
            &v6_zone("enh6.example.net", &format!("{n} IN A 127.0.0.4\n")),
        ),
        // Lists another IPv6 address only.
        (
            "clean6.example.net",
            &v6_zone(
                "clean6.example.net",
                "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 IN A 127.0.0.2\n",
            ),
        ),
    ]);
    // 1. enhdnsbl answer 127.0.0.4 does not match `127.0.0.2.`: go on; the
    //    plain dnsbl lists ::1: refused with the dnsbl reply. An IPv4 client
    //    not listed anywhere is served by the same daemon.
    let port6 = free_port();
    let d = v6_daemon(
        &nsd,
        port6,
        "FEATURE(`enhdnsbl', `enh6.example.net', `', `', `127.0.0.2.')dnl\n\
         FEATURE(`dnsbl', `bl6.example.net')dnl\n",
    );
    let mut c = connect_v6(port6);
    let g = c.reply();
    assert!(g.starts_with("554 gw.example.com"), "{g}\n{}", d.maillog());
    c.cmd("HELO x");
    let r = c.cmd("MAIL FROM:<a@example.net>");
    assert_eq!(
        r,
        "550 5.7.1 Rejected: IPv6:0:0:0:0:0:0:0:1 listed at bl6.example.net"
    );
    let mut c = Raw::connect_from("127.0.0.4", d.mta);
    assert!(c.reply().starts_with("220 "), "{}", d.maillog());
    assert!(one_message(&mut c).starts_with("250 2.0.0"));
    drop(d);
    // 2. enhdnsbl whose pattern matches the IPv6 client's answer: its message.
    let port6 = free_port();
    let d = v6_daemon(
        &nsd,
        port6,
        "FEATURE(`enhdnsbl', `enh6.example.net', `\"550 Rejected \" $&{client_addr} \" by enh6\"', `', `127.0.0.$-.')dnl\n",
    );
    let mut c = connect_v6(port6);
    assert!(c.reply().starts_with("554 "), "{}", d.maillog());
    c.cmd("HELO x");
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.net>"),
        "550 5.7.1 Rejected IPv6:0:0:0:0:0:0:0:1 by enh6"
    );
    drop(d);
    // 3. Not listed (clean6 lists ::2 only; enh6's answer does not match):
    //    the IPv6 client is served and its message queued.
    let port6 = free_port();
    let d = v6_daemon(
        &nsd,
        port6,
        "FEATURE(`enhdnsbl', `enh6.example.net', `', `', `127.0.0.2.')dnl\n\
         FEATURE(`dnsbl', `clean6.example.net')dnl\n",
    );
    let mut c = connect_v6(port6);
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}\n{}", d.maillog());
    assert!(one_message(&mut c).starts_with("250 2.0.0"));
    assert_eq!(d.queued("queue").len(), 1);
}

#[test]
fn syslog_destination_gets_rfc3164_mail_info_lines() {
    let mut d = prepare(
        false,
        "define(`confMXGATE_LOG_FILE', `syslog')dnl\n\
         define(`confMXGATE_SYSLOG_SOCKET', `@DIR@/log.sock')dnl\n",
        &[],
    );
    let rx = UnixDatagram::bind(d.path().join("log.sock")).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    d.spawn();
    let mut c = Raw::connect(d.mta);
    c.reply();
    c.cmd("HELO x");
    c.cmd("MAIL FROM:<s@example.com>");
    c.cmd("RCPT TO:<alice@example.com>");
    c.cmd("DATA");
    let r = c.cmd("Subject: t\r\n\r\nx\r\n.");
    assert!(r.starts_with("250 2.0.0 "), "{r}");
    let qid = r.split_whitespace().nth(2).unwrap().to_string();
    let pid = d.pid();
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    let want = format!(" sm-mta[{pid}]: {qid}: from=<s@example.com>, size=");
    for _ in 0..20 {
        let Ok(n) = rx.recv(&mut buf) else { break };
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        if line.contains(&want) {
            // <22>Mon DD HH:MM:SS sm-mta[pid]: QID: from=...
            let b = line.as_bytes();
            assert!(line.starts_with("<22>"), "{line}");
            assert!(b[4].is_ascii_uppercase() && b[7] == b' ', "{line}");
            assert!(b[13] == b':' && b[16] == b':' && b[19] == b' ', "{line}");
            assert_eq!(&line[20..27], "sm-mta[", "{line}");
            return;
        }
        seen.push(line);
    }
    panic!("no from= line for {qid} in {seen:?}");
}

#[test]
fn root_drops_to_nobody_after_binding() {
    assert!(
        nix_is_root(),
        "this test checks what a root daemon does after binding: run it as root (CI does)"
    );
    let mut d = prepare(false, "define(`confRUN_AS_USER', `nobody')dnl\n", &[]);
    // The temp dir is 0700; nobody must reach its spool and tables.
    Command::new("chmod")
        .arg("0755")
        .arg(d.path())
        .status()
        .unwrap();
    d.spawn();
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let nobody = String::from_utf8(
        Command::new("id")
            .args(["-u", "nobody"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert_eq!(uids, vec![nobody.as_str(); 4], "{uid_line}");
    use std::os::unix::fs::MetadataExt;
    let spool = std::fs::metadata(d.path().join("spool/queue")).unwrap();
    assert_eq!(spool.uid().to_string(), nobody);
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220"));
    c.cmd("HELO x");
    c.cmd("MAIL FROM:<s@example.com>");
    c.cmd("RCPT TO:<alice@example.com>");
    c.cmd("DATA");
    let r = c.cmd("Subject: t\r\n\r\nx\r\n.");
    assert!(r.starts_with("250 2.0.0"), "{r}\n{}", d.maillog());
    let q = d.queued("queue");
    assert_eq!(q.len(), 1);
    assert_eq!(std::fs::metadata(&q[0]).unwrap().uid().to_string(), nobody);
}

fn nix_is_root() -> bool {
    String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
        .unwrap()
        .trim()
        == "0"
}
