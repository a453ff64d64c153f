//! `Srv_Features:` in the access map: per-client features, as sendmail's
//! `srv_features` ruleset.
//!
//! Checked on sendmail 8.17.1.9 (Debian 12), a daemon with
//! `FEATURE(access_db)` and `Srv_Features:<TAB>D P E X B` as the default
//! entry: its EHLO reply lost DSN, PIPELINING and ETRN (and EXPN/VERB were
//! refused); `A`, `S` and `l` are sendmail's documented letters for AUTH,
//! STARTTLS and "require AUTH".

mod support;
use support::*;

const ACCESS: &str = "\
Srv_Features:127.0.0.2\tD P E S
Srv_Features:127.0.0.3\tl V
";

fn start() -> Daemon {
    Daemon::start(Setup {
        mc: "FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n\
             LOCAL_DOMAIN(`example.com')dnl\n",
        tables: &[("access", ACCESS)],
        tls: true,
    })
}

#[test]
fn features_follow_the_clients_entry() {
    let d = start();
    // 127.0.0.1 has no entry: everything the listener offers.
    let mut c = Raw::connect_from("127.0.0.1", d.mta);
    assert!(c.reply().starts_with("220"));
    let ehlo = c.cmd("EHLO client.example.net");
    for ext in ["PIPELINING", "DSN", "ETRN", "STARTTLS"] {
        assert!(ehlo.contains(ext), "{ext} missing: {ehlo}");
    }
    // 127.0.0.2: D P E S.
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert!(c.reply().starts_with("220"));
    let ehlo = c.cmd("EHLO client.example.net");
    assert!(ehlo.contains("8BITMIME"), "{ehlo}");
    for ext in ["PIPELINING", "DSN", "ETRN", "STARTTLS"] {
        assert!(!ehlo.contains(ext), "{ext} offered: {ehlo}");
    }
    assert!(c.cmd("STARTTLS").starts_with("454 4.7.0"));
    assert!(c.cmd("ETRN example.com").starts_with("502 5.7.0"));
    // 127.0.0.3: l (AUTH required); V is not used by mxgate, and says so.
    let mut c = Raw::connect_from("127.0.0.3", d.mta);
    assert!(c.reply().starts_with("220"));
    let ehlo = c.cmd("EHLO client.example.net");
    assert!(
        ehlo.contains("PIPELINING") && ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    let r = c.cmd("MAIL FROM:<a@example.org>");
    assert!(r.starts_with("530 5.7.0 Authentication required"), "{r}");
    let log = d.maillog();
    assert!(
        log.contains("Srv_Features: ") && log.contains("letters V not used by mxgate"),
        "{log}"
    );
}

/// An HTTP command as the first command is an open-proxy probe: sendmail
/// 8.17 (`sendmail -bs`, `GET / HTTP/1.0` first) answered `421 4.7.0
/// gw.example.com Rejecting open proxy root@localhost` and closed; later in
/// the session it is an unknown command, unless `Srv_Features:` has `h`.
#[test]
fn http_commands_end_the_session_when_first_or_with_h() {
    let d = Daemon::start(Setup {
        mc: "FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n",
        tables: &[("access", "Srv_Features:127.0.0.3\th\n")],
        tls: false,
    });
    let mut c = Raw::connect_from("127.0.0.1", d.mta);
    assert!(c.reply().starts_with("220"));
    let r = c.cmd("GET / HTTP/1.0");
    assert!(
        r.starts_with("421 4.7.0 gw.example.com Rejecting open proxy localhost [127.0.0.1]"),
        "{r}"
    );
    assert_eq!(c.rest(), "", "the connection is closed");
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO x").starts_with("250"));
    let r = c.cmd("POST / HTTP/1.1");
    assert!(r.starts_with("500 5.5.1 Command unrecognized"), "{r}");
    assert!(c.cmd("NOOP").starts_with("250"));
    let mut c = Raw::connect_from("127.0.0.3", d.mta);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO x").starts_with("250"));
    let r = c.cmd("CONNECT 192.0.2.1:25 HTTP/1.1");
    assert!(r.starts_with("421 4.7.0"), "{r}");
    let log = d.maillog();
    assert!(
        log.contains("probable open proxy: command=GET / HTTP/1.0"),
        "{log}"
    );
}
