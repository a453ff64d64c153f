//! Policy engine scenarios over the spec's test configuration
//! (`spec/sendmail-verify/test.mc`, built here field by field) and its exact
//! access file. Vector names (C1, M1, T1, ...) are those of spec §12.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use mxgate::addr::Address;
use mxgate::config::{Config, Dnsbl, DnsblAction, DnsblTempFail};
use mxgate::policy::{
    Action, Because, Client, DnsAnswer, Facts, HeaderRules, Reply, Resolve, Verdict, check_header,
    check_helo, check_mail, check_rcpt, check_relay, greet_pause,
};
use mxgate::site::Site;
use mxgate::table::{FailingTable, MemTable, TableRef};
use serde_json::json;

/// `spec/sendmail-verify/access`, verbatim.
const ACCESS: &str = "\
Connect:192.168.1\t\tREJECT
Connect:192.168.1.5\t\tOK
Connect:10.9\t\t\tRELAY
Connect:10.9.8\t\t\tSKIP
Connect:spammer.net\t\tREJECT
Connect:IPv6:2001:db8\t\tRELAY
Connect:[127.0.0.3]\t\tOK
From:spam@aol.com\t\tREJECT
From:cyber.com\t\t\tERROR:\"550 We do not accept mail from spammers\"
From:ok.cyber.com\t\tOK
From:FREE.STEALTH@\t\tERROR:5.7.1:550 Spam not accepted
From:disc.org\t\t\tDISCARD
From:tmp.org\t\t\tERROR:4.7.1:451 Try again later
From:q.org\t\t\tQUARANTINE:suspicious sender
To:relayto.org\t\t\tRELAY
To:block.example.com\t\tREJECT
To:baduser@\t\t\tERROR:5.2.1:550 Mailbox disabled
To:one@example.com\t\tREJECT
To:tempuser@example.com\t\tERROR:450 mailbox full
untagged.org\t\t\tREJECT
GreetPause:10.1.2\t\t2000
Spam:abuse@\t\t\tFRIEND
";

const ALIASES: &str = "postmaster root\nroot admin\nabuse root\n";
const MAILBOXES: &str =
    "admin OK\nlocaluser OK\nalice OK\nbob DISABLED\ncarol DISABLED:Account closed\n";

/// Files the site reads at load time (hosts-only service switch, as in the spec runs).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hosts"),
            "127.0.0.1 localhost\n10.0.0.1 gw.example.com gw\n10.0.0.2 relay.example.net\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("service.switch"), "hosts files\n").unwrap();
        Fixture { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }

    /// The test.mc configuration.
    fn config(&self) -> Config {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        c.classes.insert(
            "w".into(),
            vec!["example.com".into(), "gw.example.com".into()],
        );
        c.classes.insert("R".into(), vec!["partner.org".into()]);
        c.options
            .insert("confHOSTS_FILE".into(), self.path("hosts"));
        c.options.insert(
            "confSERVICE_SWITCH_FILE".into(),
            self.path("service.switch"),
        );
        for f in ["access_db", "blocklist_recipients", "mailertable"] {
            c.features.insert(f.into(), vec![]);
        }
        c.features.insert("greet_pause".into(), vec!["1000".into()]);
        c.dnsbl.push(Dnsbl {
            enhanced: false,
            zone: "bl.example.org".into(),
            action: DnsblAction::Reject,
            on_tempfail: DnsblTempFail::Ignore,
            matches: vec![],
        });
        c.dnsbl.push(Dnsbl {
            enhanced: true,
            zone: "ebl.example.org".into(),
            action: DnsblAction::Reject,
            on_tempfail: DnsblTempFail::Default,
            matches: vec!["127.0.0.2.".into()],
        });
        c
    }

    fn site_with(&self, c: Config) -> Site {
        let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
        t.insert("access".into(), Arc::new(MemTable::from_lines(ACCESS)));
        t.insert("aliases".into(), Arc::new(MemTable::from_lines(ALIASES)));
        t.insert(
            "mailboxes".into(),
            Arc::new(MemTable::from_lines(MAILBOXES)),
        );
        Site::from_parts(c, t).unwrap()
    }

    fn site(&self) -> Site {
        self.site_with(self.config())
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn client(name: &str, addr: &str) -> Client {
    Client::at(ip(addr)).named(name)
}

fn stranger() -> Client {
    Client::at(ip("172.16.0.1"))
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn mail(site: &Site, from: &str) -> Verdict {
    check_mail(site, &Facts::new(), &stranger(), &addr(from))
}

fn rcpt_from(site: &Site, c: &Client, to: &str) -> Verdict {
    check_rcpt(site, &Facts::new(), c, None, &addr(to))
}

fn rcpt(site: &Site, to: &str) -> Verdict {
    rcpt_from(site, &stranger(), to)
}

/// The reply line as sent for a MAIL/RCPT argument, e.g. `550 5.7.1 <a@b>... Relaying denied`.
fn line(v: &Verdict, arg: &str) -> String {
    match v.reply() {
        Some(r) => r.line(Some(arg)),
        None => panic!("expected a reply, got {v:?}"),
    }
}

fn is_relay(v: &Verdict) -> bool {
    v.action == Action::Relay
}

// ---------------------------------------------------------------- 12.2 connect

#[test]
fn c1_network_reject() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("unknown.host", "192.168.1.7"));
    assert_eq!(
        v.action,
        Action::Reject(Reply::new(550, "5.7.1", "Access denied"))
    );
    assert_eq!(v.why.to_string(), "access `Connect:192.168.1` → REJECT");
}

#[test]
fn c2_specific_ip_beats_network() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("unknown.host", "192.168.1.5"));
    assert_eq!(v.action, Action::Accept);
}

#[test]
fn c3_skip_without_option_is_an_error() {
    // sendmail -bt: `$#error $: SKIP`; the generic error reply is 553 5.3.0.
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("unknown.host", "10.9.8.7"));
    assert_eq!(v.action, Action::Reject(Reply::new(553, "5.3.0", "SKIP")));
}

#[test]
fn skip_with_option_falls_back_to_default() {
    let f = Fixture::new();
    let mut c = f.config();
    c.features.insert("access_db".into(), vec!["skip".into()]);
    let s = f.site_with(c);
    let v = check_relay(&s, &Facts::new(), &client("unknown.host", "10.9.8.7"));
    assert_eq!(v.action, Action::Continue);
}

#[test]
fn c4_relay_network() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("unknown.host", "10.9.1.1"));
    assert_eq!(v.action, Action::Relay);
}

#[test]
fn c5_c6_domain_and_parent() {
    let s = Fixture::new().site();
    for name in ["mail.spammer.net", "spammer.net"] {
        let v = check_relay(&s, &Facts::new(), &client(name, "172.16.0.1"));
        assert_eq!(
            v.action,
            Action::Reject(Reply::new(550, "5.7.1", "Access denied")),
            "{name}"
        );
    }
}

#[test]
fn c7_no_entry_continues() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("okhost.org", "172.16.0.1"));
    assert_eq!(v.action, Action::Continue);
}

#[test]
fn c8_bracketed_name_key() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("[127.0.0.3]", "127.0.0.3"));
    assert_eq!(v.action, Action::Accept);
    assert_eq!(v.why.to_string(), "access `Connect:[127.0.0.3]` → OK");
}

#[test]
fn c9_untagged_fallback() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &client("untagged.org", "172.16.0.9"));
    assert_eq!(
        v.action,
        Action::Reject(Reply::new(550, "5.7.1", "Access denied"))
    );
    assert_eq!(v.why.to_string(), "access `untagged.org` → REJECT");
}

#[test]
fn c10_c11_greet_pause() {
    let s = Fixture::new().site();
    let p = greet_pause(&s, &client("host.x", "10.1.2.3")).unwrap();
    assert_eq!(p.millis, 2000);
    let p = greet_pause(&s, &client("host.x", "10.1.3.3")).unwrap();
    assert_eq!(p.millis, 1000);
    assert!(greet_pause(&s, &Client::local()).is_none());
}

#[test]
fn ipv6_connect_key() {
    let s = Fixture::new().site();
    let v = check_relay(&s, &Facts::new(), &Client::at(ip("2001:db8::25")));
    assert_eq!(v.action, Action::Relay);
    assert_eq!(v.why.to_string(), "access `Connect:IPv6:2001:db8` → RELAY");
}

// ---------------------------------------------------------------- dnsbl

fn listed(q: &str, a: &str) -> Facts {
    Facts::new().with(q, DnsAnswer::Found(vec![ip(a)]))
}

#[test]
fn dnsbl_listed_rejects() {
    let s = Fixture::new().site();
    let f = listed("10.2.0.192.bl.example.org", "127.0.0.2");
    let v = check_relay(&s, &f, &Client::at(ip("192.0.2.10")));
    assert_eq!(
        v.action,
        Action::Reject(Reply::new(
            550,
            "5.7.1",
            "Rejected: 192.0.2.10 listed at bl.example.org"
        ))
    );
    assert!(matches!(v.why, Because::Dnsbl { .. }));
    assert!(v.why.to_string().contains("listed 127.0.0.2"));
}

#[test]
fn dnsbl_not_listed_continues() {
    let s = Fixture::new().site();
    let f = Facts::new()
        .with("10.2.0.192.bl.example.org", DnsAnswer::NotFound)
        .with("10.2.0.192.ebl.example.org", DnsAnswer::NotFound);
    let v = check_relay(&s, &f, &Client::at(ip("192.0.2.10")));
    assert_eq!(v.action, Action::Continue);
}

#[test]
fn dnsbl_tempfail_ignored_without_t_but_enhdnsbl_t_tempfails() {
    let s = Fixture::new().site();
    let f = Facts::new().with("10.2.0.192.bl.example.org", DnsAnswer::TempFail);
    assert_eq!(
        check_relay(&s, &f, &Client::at(ip("192.0.2.10"))).action,
        Action::Continue
    );
    let f = Facts::new().with("10.2.0.192.ebl.example.org", DnsAnswer::TempFail);
    let v = check_relay(&s, &f, &Client::at(ip("192.0.2.10")));
    assert_eq!(
        v.action,
        Action::TempFail(Reply::new(
            451,
            "4.4.3",
            "Temporary lookup failure of 192.0.2.10 at ebl.example.org"
        ))
    );
}

#[test]
fn enhdnsbl_only_matching_answers_list() {
    let s = Fixture::new().site();
    let f = listed("10.2.0.192.ebl.example.org", "127.0.0.3");
    assert_eq!(
        check_relay(&s, &f, &Client::at(ip("192.0.2.10"))).action,
        Action::Continue
    );
    let f = listed("10.2.0.192.ebl.example.org", "127.0.0.2");
    assert!(matches!(
        check_relay(&s, &f, &Client::at(ip("192.0.2.10"))).action,
        Action::Reject(_)
    ));
}

#[test]
fn dnsbl_error_answers_are_not_listings() {
    let s = Fixture::new().site();
    let f = listed("10.2.0.192.bl.example.org", "127.255.255.254");
    let v = check_relay(&s, &f, &Client::at(ip("192.0.2.10")));
    assert_eq!(v.action, Action::Continue);
    assert!(
        v.why
            .to_string()
            .contains("error code from the blocklist operator")
    );
}

// Sendmail skips IPv6 clients (its rule matches four octets); mxgate asks
// the zone in nibble form, as Postfix does and rbldnsd zones expect.
#[test]
fn dnsbl_checks_ipv6_clients_in_nibble_form() {
    let s = Fixture::new().site();
    let q = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.b.d.0.1.0.0.2.bl.example.org";
    let v = check_relay(&s, &listed(q, "127.0.0.2"), &Client::at(ip("2001:db9::1")));
    assert_eq!(
        v.reply().unwrap().to_string(),
        "550 5.7.1 Rejected: IPv6:2001:db9:0:0:0:0:0:1 listed at bl.example.org"
    );
    assert!(v.why.to_string().contains(q), "{}", v.why);
    let v = check_relay(&s, &Facts::new(), &Client::at(ip("2001:db9::1")));
    assert_eq!(v.action, Action::Continue);
    assert!(
        v.why.to_string().contains("no answer gathered"),
        "{}",
        v.why
    );
}

#[test]
fn connect_ok_bypasses_dnsbl() {
    let s = Fixture::new().site();
    let f = listed("5.1.168.192.bl.example.org", "127.0.0.2");
    let v = check_relay(&s, &f, &client("unknown.host", "192.168.1.5"));
    assert_eq!(v.action, Action::Accept);
}

#[test]
fn dnsbl_custom_message_quarantine_discard() {
    let f = Fixture::new();
    let mut c = f.config();
    c.dnsbl[0].action = DnsblAction::Message(
        "\"554 Rejected \" $&{client_addr} \" found in bl.example.org\"".into(),
    );
    let s = f.site_with(c.clone());
    let facts = listed("10.2.0.192.bl.example.org", "127.0.0.2");
    let v = check_relay(&s, &facts, &Client::at(ip("192.0.2.10")));
    let r = v.reply().unwrap();
    assert_eq!(
        r.line(Some("x@y")),
        "554 5.7.1 Rejected 192.0.2.10 found in bl.example.org"
    );
    c.dnsbl[0].action = DnsblAction::Quarantine;
    let v = check_relay(
        &f.site_with(c.clone()),
        &facts,
        &Client::at(ip("192.0.2.10")),
    );
    assert_eq!(v.action, Action::Quarantine("bl.example.org".into()));
    c.dnsbl[0].action = DnsblAction::Discard;
    let v = check_relay(&f.site_with(c), &facts, &Client::at(ip("192.0.2.10")));
    assert_eq!(v.action, Action::Discard);
}

// ---------------------------------------------------------------- 12.3 mail

#[test]
fn m1_reject() {
    let v = mail(&Fixture::new().site(), "<spam@aol.com>");
    assert_eq!(
        line(&v, "spam@aol.com"),
        "550 5.7.1 <spam@aol.com>... Access denied"
    );
}

#[test]
fn m2_m3_quoted_error_and_domain_walk() {
    let s = Fixture::new().site();
    let v = mail(&s, "<x@cyber.com>");
    assert_eq!(
        line(&v, "x@cyber.com"),
        "550 5.0.0 <x@cyber.com>... We do not accept mail from spammers"
    );
    let v = mail(&s, "<x@mail.cyber.com>");
    assert_eq!(
        v.reply().unwrap().text(),
        "We do not accept mail from spammers"
    );
}

#[test]
fn m4_more_specific_ok() {
    assert_eq!(
        mail(&Fixture::new().site(), "<x@ok.cyber.com>").action,
        Action::Accept
    );
}

#[test]
fn m5_user_at_key_case_folded() {
    let v = mail(&Fixture::new().site(), "<free.stealth@x.com>");
    assert_eq!(
        line(&v, "free.stealth@x.com"),
        "550 5.7.1 <free.stealth@x.com>... Spam not accepted"
    );
}

#[test]
fn m6_discard() {
    assert_eq!(
        mail(&Fixture::new().site(), "<a@disc.org>").action,
        Action::Discard
    );
}

#[test]
fn m7_tempfail_without_address_prefix() {
    let v = mail(&Fixture::new().site(), "<a@tmp.org>");
    assert!(matches!(v.action, Action::TempFail(_)));
    assert_eq!(line(&v, "a@tmp.org"), "451 4.7.1 Try again later");
}

#[test]
fn m8_quarantine() {
    assert_eq!(
        mail(&Fixture::new().site(), "<a@q.org>").action,
        Action::Quarantine("suspicious sender".into())
    );
}

#[test]
fn m9_untagged() {
    let v = mail(&Fixture::new().site(), "<a@untagged.org>");
    assert_eq!(
        v.action,
        Action::Reject(Reply::new(550, "5.7.1", "Access denied"))
    );
}

#[test]
fn m10_null_sender() {
    assert_eq!(mail(&Fixture::new().site(), "<>").action, Action::Continue);
}

#[test]
fn m11_unqualified_sender() {
    let v = mail(&Fixture::new().site(), "<localuser>");
    assert_eq!(
        v.action,
        Action::Reject(Reply::new(
            553,
            "5.5.4",
            "Domain name required for sender address localuser"
        ))
    );
}

#[test]
fn unqualified_sender_ok_locally_with_u_flag_or_feature() {
    let f = Fixture::new();
    let s = f.site();
    let local = check_mail(&s, &Facts::new(), &Client::local(), &addr("<localuser>"));
    assert_eq!(local.action, Action::Continue);
    let mut c = stranger();
    c.daemon_flags = "u".into();
    assert_eq!(
        check_mail(&s, &Facts::new(), &c, &addr("<localuser>")).action,
        Action::Continue
    );
    let mut cfg = f.config();
    cfg.features
        .insert("accept_unqualified_senders".into(), vec![]);
    assert_eq!(
        mail(&f.site_with(cfg), "<localuser>").action,
        Action::Continue
    );
}

#[test]
fn m12_localhost_sender() {
    let s = Fixture::new().site();
    for from in [
        "<x@localhost>",
        "<x@[127.0.0.1]>",
        "<x@localhost.example.com>",
    ] {
        let v = mail(&s, from);
        assert_eq!(
            v.action,
            Action::Reject(Reply::new(
                553,
                "5.5.4",
                "Real domain name required for sender address"
            )),
            "{from}"
        );
    }
    // From a local client it is fine.
    let v = check_mail(&s, &Facts::new(), &Client::local(), &addr("<x@localhost>"));
    assert_eq!(v.action, Action::Continue);
}

#[test]
fn m13_unresolvable_sender_domain() {
    let s = Fixture::new().site();
    let v = mail(&s, "<other@aol.com>");
    assert_eq!(
        line(&v, "other@aol.com"),
        "553 5.1.8 <other@aol.com>... Domain of sender address other@aol.com does not exist"
    );
    // A DNS fact overrides the hosts-only answer; a temp failure is 451 4.1.8.
    let f = Facts::new().with("aol.com", DnsAnswer::Found(vec![ip("192.0.2.1")]));
    let v = check_mail(&s, &f, &stranger(), &addr("<other@aol.com>"));
    assert_eq!(v.action, Action::Continue);
    let f = Facts::new().with("aol.com", DnsAnswer::TempFail);
    let v = check_mail(&s, &f, &stranger(), &addr("<other@aol.com>"));
    assert_eq!(
        line(&v, "other@aol.com"),
        "451 4.1.8 Domain of sender address other@aol.com does not resolve"
    );
}

#[test]
fn access_ok_beats_unresolvable_domain_and_feature_skips_check() {
    let f = Fixture::new();
    // ok.cyber.com is not in the hosts file either.
    assert_eq!(mail(&f.site(), "<x@ok.cyber.com>").action, Action::Accept);
    let mut c = f.config();
    c.features
        .insert("accept_unresolvable_domains".into(), vec![]);
    assert_eq!(
        mail(&f.site_with(c), "<other@aol.com>").action,
        Action::Continue
    );
}

#[test]
fn m14_own_hostname() {
    let v = mail(&Fixture::new().site(), "<good@gw.example.com>");
    assert_eq!(v.action, Action::Continue);
}

#[test]
fn weird_access_values() {
    // checked on sendmail 8.17 (-bs): `From:weird.org bogus value here` →
    // `553 5.3.0 <a@weird.org>... bogus value here`; `TEMP:bad` likewise.
    let f = Fixture::new();
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert(
        "access".into(),
        Arc::new(MemTable::from_lines(
            "From:weird.org bogus value here\nFrom:temp.org TEMP:bad\nFrom:e4.org ERROR:451 later\n",
        )),
    );
    let s = Site::from_parts(f.config(), t).unwrap();
    assert_eq!(
        line(&mail(&s, "<a@weird.org>"), "a@weird.org"),
        "553 5.3.0 <a@weird.org>... bogus value here"
    );
    assert_eq!(
        line(&mail(&s, "<a@temp.org>"), "a@temp.org"),
        "553 5.3.0 <a@temp.org>... TEMP:bad"
    );
    assert_eq!(line(&mail(&s, "<a@e4.org>"), "a@e4.org"), "451 4.0.0 later");
}

#[test]
fn detail_variants_in_from_lookups() {
    let f = Fixture::new();
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert(
        "access".into(),
        Arc::new(MemTable::from_lines(
            "From:joe+*@x.org REJECT\nFrom:ann@y.org DISCARD\n",
        )),
    );
    let s = Site::from_parts(f.config(), t).unwrap();
    assert!(matches!(
        mail(&s, "<joe+list@x.org>").action,
        Action::Reject(_)
    ));
    assert_eq!(mail(&s, "<ann+x@y.org>").action, Action::Discard);
}

// ---------------------------------------------------------------- 12.4 rcpt

#[test]
fn t1_local_domain_unknown_user() {
    let v = rcpt(&Fixture::new().site(), "<u@example.com>");
    assert_eq!(
        line(&v, "u@example.com"),
        "550 5.1.1 <u@example.com>... User unknown"
    );
}

#[test]
fn t2_relaying_denied() {
    let v = rcpt(&Fixture::new().site(), "<u@elsewhere.com>");
    assert_eq!(
        line(&v, "u@elsewhere.com"),
        "550 5.7.1 <u@elsewhere.com>... Relaying denied"
    );
}

#[test]
fn t3_t4_to_relay_and_parent() {
    let s = Fixture::new().site();
    for to in ["<u@relayto.org>", "<u@sub.relayto.org>"] {
        let v = rcpt(&s, to);
        assert!(is_relay(&v), "{to}: {v:?}");
        assert_eq!(v.why.to_string(), "access `To:relayto.org` → RELAY");
    }
}

#[test]
fn t5_t6_class_r_and_subdomain() {
    let s = Fixture::new().site();
    for to in ["<u@partner.org>", "<u@x.partner.org>"] {
        let v = rcpt(&s, to);
        assert!(is_relay(&v), "{to}");
        assert_eq!(v.why.to_string(), "class R contains partner.org");
    }
}

#[test]
fn relay_hosts_only_stops_parent_match() {
    let f = Fixture::new();
    let mut c = f.config();
    c.features.insert("relay_hosts_only".into(), vec![]);
    let s = f.site_with(c);
    assert!(is_relay(&rcpt(&s, "<u@partner.org>")));
    assert!(matches!(
        rcpt(&s, "<u@x.partner.org>").action,
        Action::Reject(_)
    ));
}

#[test]
fn t7_user_at_key_for_local_domain() {
    let v = rcpt(&Fixture::new().site(), "<baduser@example.com>");
    assert_eq!(
        line(&v, "baduser@example.com"),
        "550 5.2.1 <baduser@example.com>... Mailbox disabled"
    );
}

#[test]
fn t8_user_at_key_ignored_for_remote_domain() {
    let v = rcpt(&Fixture::new().site(), "<baduser@elsewhere.com>");
    assert_eq!(v.reply().unwrap().text(), "Relaying denied");
}

#[test]
fn t9_full_address_reject() {
    let v = rcpt(&Fixture::new().site(), "<one@example.com>");
    assert_eq!(
        line(&v, "one@example.com"),
        "550 5.2.1 <one@example.com>... Mailbox disabled for this recipient"
    );
}

#[test]
fn t10_rcpt_450_keeps_address_prefix() {
    let v = rcpt(&Fixture::new().site(), "<tempuser@example.com>");
    assert!(matches!(v.action, Action::TempFail(_)));
    assert_eq!(
        line(&v, "tempuser@example.com"),
        "450 4.0.0 <tempuser@example.com>... mailbox full"
    );
}

#[test]
fn t11_t12_blocked_domain_and_parent() {
    let s = Fixture::new().site();
    for to in ["<u@block.example.com>", "<u@a.block.example.com>"] {
        let v = rcpt(&s, to);
        assert_eq!(
            v.action,
            Action::Reject(Reply::new(
                550,
                "5.2.1",
                "Mailbox disabled for this recipient"
            )),
            "{to}"
        );
    }
}

#[test]
fn t13_null_recipient() {
    // checked on sendmail 8.17 (-bs): `553 5.0.0 <>... User address required`.
    let v = rcpt(&Fixture::new().site(), "<>");
    assert_eq!(line(&v, ""), "553 5.0.0 <>... User address required");
}

#[test]
fn t14_t15_unqualified_is_local() {
    let s = Fixture::new().site();
    let v = rcpt(&s, "<localuser>");
    assert!(is_relay(&v));
    assert_eq!(v.why.to_string(), "unqualified recipient is local");
    assert!(is_relay(&rcpt(&s, "<postmaster>")));
}

#[test]
fn t16_address_literal_not_ours() {
    let v = rcpt(&Fixture::new().site(), "<u@[10.0.0.1]>");
    assert_eq!(
        line(&v, "u@[10.0.0.1]"),
        "550 5.7.1 <u@[10.0.0.1]>... Relaying denied"
    );
}

#[test]
fn t17_connect_relay_network() {
    let s = Fixture::new().site();
    let v = rcpt_from(&s, &Client::at(ip("10.9.1.1")), "<u@elsewhere.com>");
    assert!(is_relay(&v));
    assert_eq!(v.why.to_string(), "access `Connect:10.9` → RELAY");
}

#[test]
fn t18_skip_stops_the_walk() {
    let s = Fixture::new().site();
    let v = rcpt_from(&s, &Client::at(ip("10.9.8.1")), "<u@elsewhere.com>");
    assert_eq!(v.reply().unwrap().text(), "Relaying denied");
}

#[test]
fn t19_t20_t21_local_and_ipv6_clients() {
    let s = Fixture::new().site();
    assert!(is_relay(&rcpt_from(
        &s,
        &Client::at(ip("127.0.0.1")),
        "<u@elsewhere.com>"
    )));
    let v = rcpt_from(&s, &Client::at(ip("2001:db8::1")), "<u@elsewhere.com>");
    assert!(is_relay(&v));
    assert_eq!(v.why.to_string(), "access `Connect:IPv6:2001:db8` → RELAY");
    assert!(is_relay(&rcpt_from(
        &s,
        &Client::local(),
        "<u@elsewhere.com>"
    )));
}

#[test]
fn t22_delay_checks_refuse_at_rcpt() {
    let f = Fixture::new();
    let mut c = f.config();
    c.features.insert("delay_checks".into(), vec![]);
    let s = f.site_with(c);
    let from = addr("<spam@aol.com>");
    assert_eq!(
        check_mail(&s, &Facts::new(), &stranger(), &from).action,
        Action::Continue
    );
    for to in ["u@relayto.org", "postmaster@gw.example.com"] {
        let v = check_rcpt(
            &s,
            &Facts::new(),
            &stranger(),
            Some(&from),
            &addr(&format!("<{to}>")),
        );
        assert_eq!(line(&v, to), format!("550 5.7.1 <{to}>... Access denied"));
    }
    // check_relay is delayed too, and runs from RCPT.
    let bad = client("unknown.host", "192.168.1.7");
    assert_eq!(
        check_relay(&s, &Facts::new(), &bad).action,
        Action::Continue
    );
    let v = check_rcpt(
        &s,
        &Facts::new(),
        &bad,
        Some(&addr("<a@gw.example.com>")),
        &addr("<u@partner.org>"),
    );
    assert_eq!(v.reply().unwrap().text(), "Access denied");
    // A sender that hits OK skips check_relay.
    let v = check_rcpt(
        &s,
        &Facts::new(),
        &bad,
        Some(&addr("<x@ok.cyber.com>")),
        &addr("<u@partner.org>"),
    );
    assert!(is_relay(&v));
}

#[test]
fn delay_checks_friend_and_hater() {
    let f = Fixture::new();
    let from = addr("<spam@aol.com>");
    // check_rcpt of `to` from a stranger, with FEATURE(delay_checks, args).
    let rcpt = |args: &[&str], to: &str| {
        let mut c = f.config();
        c.features.insert(
            "delay_checks".into(),
            args.iter().map(|a| a.to_string()).collect(),
        );
        check_rcpt(
            &f.site_with(c),
            &Facts::new(),
            &stranger(),
            Some(&from),
            &addr(to),
        )
    };
    // Spam:abuse@ FRIEND: the sender checks are skipped for abuse@ (local domain).
    let v = rcpt(&["friend"], "<abuse@example.com>");
    assert!(is_relay(&v), "{v:?}");
    let v = rcpt(&["friend"], "<u@relayto.org>");
    assert!(matches!(v.action, Action::Reject(_)));
    // Hater mode: only HATER recipients get the checks; nobody is one here.
    assert!(is_relay(&rcpt(&["hater"], "<u@relayto.org>")));
    // Only the first argument chooses the mode (delay_checks.m4's `_ARG_`;
    // the second only turns off 8.10 compatibility): `hater' second is the
    // plain mode, where the sender checks refuse this recipient.
    let v = rcpt(&["", "hater"], "<u@relayto.org>");
    assert!(matches!(v.action, Action::Reject(_)), "{v:?}");
}

#[test]
fn promiscuous_relay_and_auth() {
    let f = Fixture::new();
    let mut c = f.config();
    c.features.insert("promiscuous_relay".into(), vec![]);
    assert!(is_relay(&rcpt(&f.site_with(c), "<u@elsewhere.com>")));
    let s = f.site();
    let mut authed = stranger();
    authed.auth_type = Some("PLAIN".into());
    let v = rcpt_from(&s, &authed, "<u@elsewhere.com>");
    assert!(is_relay(&v));
    assert!(v.why.to_string().contains("AUTH PLAIN"));
}

#[test]
fn relay_message_with_auth_configured() {
    let f = Fixture::new();
    let mut c = f.config();
    c.options
        .insert("confAUTH_MECHANISMS".into(), "PLAIN LOGIN".into());
    let v = rcpt(&f.site_with(c), "<u@elsewhere.com>");
    assert_eq!(
        v.reply().unwrap().text(),
        "Relaying denied. Proper authentication required."
    );
}

#[test]
fn client_resolve_messages() {
    let s = Fixture::new().site();
    let mut c = client("mail.other.net", "172.16.0.1");
    c.resolve = Resolve::Temp;
    let v = rcpt_from(&s, &c, "<u@elsewhere.com>");
    assert_eq!(
        line(&v, "u@elsewhere.com"),
        "450 4.4.0 <u@elsewhere.com>... Relaying temporarily denied. Cannot resolve PTR record for 172.16.0.1"
    );
    c.resolve = Resolve::Forged;
    assert_eq!(
        rcpt_from(&s, &c, "<u@elsewhere.com>")
            .reply()
            .unwrap()
            .text(),
        "Relaying denied. IP name possibly forged mail.other.net"
    );
    c.resolve = Resolve::Fail;
    assert_eq!(
        rcpt_from(&s, &c, "<u@elsewhere.com>")
            .reply()
            .unwrap()
            .text(),
        "Relaying denied. IP name lookup failed mail.other.net"
    );
}

#[test]
fn client_name_in_class_r_may_relay() {
    let s = Fixture::new().site();
    let v = rcpt_from(
        &s,
        &client("mx.partner.org", "172.16.0.7"),
        "<u@elsewhere.com>",
    );
    assert!(is_relay(&v));
    assert_eq!(v.why.to_string(), "class R contains partner.org");
}

#[test]
fn open_relay_battery_is_denied_for_strangers() {
    // checked on sendmail 8.17 (-bs, client 172.16.0.1): every one of these
    // is `550 5.7.1 <addr>... Relaying denied`, except `a@b@host`.
    let s = Fixture::new().site();
    for to in [
        "a%b@gw.example.com",
        "@gw.example.com:a@b.com",
        "b!a@gw.example.com",
        "\"a@b\"@gw.example.com",
        "a@elsewhere.com.",
        "b!a",
        "a%b",
        "\"a@b.com\"",
        "a%b@partner.org",
        "a%elsewhere.com@relayto.org",
        "u@[10.0.0.1]",
    ] {
        let v = rcpt(&s, &format!("<{to}>"));
        assert_eq!(
            line(&v, to),
            format!("550 5.7.1 <{to}>... Relaying denied"),
            "{to}"
        );
    }
    let v = rcpt(&s, "<a@b@gw.example.com>");
    assert_eq!(
        line(&v, "a@b@gw.example.com"),
        "553 5.1.3 <a@b@gw.example.com>... Invalid route address"
    );
    // Unwrapping to one of our own addresses is fine.
    assert!(is_relay(&rcpt(&s, "<alice%gw.example.com@example.com>")));
}

#[test]
fn virtual_users_disabled_and_unknown() {
    let s = Fixture::new().site();
    assert_eq!(
        line(&rcpt(&s, "<bob@example.com>"), "bob@example.com"),
        "550 5.2.1 <bob@example.com>... Mailbox temporarily disabled"
    );
    assert_eq!(
        rcpt(&s, "<carol@example.com>").reply().unwrap().text(),
        "Account closed"
    );
    assert_eq!(rcpt(&s, "<nobody@example.com>").reply().unwrap().code, 550);
    assert!(is_relay(&rcpt(&s, "<alice+lists@example.com>")));
}

#[test]
fn virtusertable_hit_skips_user_check() {
    let f = Fixture::new();
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("access".into(), Arc::new(MemTable::from_lines(ACCESS)));
    t.insert(
        "mailboxes".into(),
        Arc::new(MemTable::from_lines(MAILBOXES)),
    );
    t.insert(
        "virtuser".into(),
        Arc::new(MemTable::from_lines("@example.com alice\n")),
    );
    let s = Site::from_parts(f.config(), t).unwrap();
    assert!(is_relay(&rcpt(&s, "<anyone@example.com>")));
    assert!(matches!(
        rcpt(&s, "<anyone@gw.example.com>").action,
        Action::Reject(_)
    ));
}

#[test]
fn table_failures_temp_fail() {
    let f = Fixture::new();
    let tmpf = Reply::new(
        451,
        "4.3.0",
        "Temporary system failure. Please try again later.",
    );
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("access".into(), Arc::new(FailingTable));
    let s = Site::from_parts(f.config(), t).unwrap();
    assert_eq!(mail(&s, "<a@b.org>").action, Action::TempFail(tmpf.clone()));
    assert_eq!(rcpt(&s, "<a@b.org>").action, Action::TempFail(tmpf.clone()));
    assert_eq!(
        check_relay(&s, &Facts::new(), &stranger()).action,
        Action::TempFail(tmpf.clone())
    );
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("mailboxes".into(), Arc::new(FailingTable));
    let s = Site::from_parts(f.config(), t).unwrap();
    let v = rcpt(&s, "<alice@example.com>");
    assert_eq!(v.action, Action::TempFail(tmpf));
    assert!(matches!(v.why, Because::TableError { .. }));
}

#[test]
fn reply_prefix_follows_sendmail_fmtmsg() {
    // checked on sendmail 8.17 (-bs): `To:t4.example ERROR:4.7.1:451 try later rcpt`
    // → `451 4.7.1 try later rcpt` (no prefix), while 450/550/553 carry it.
    assert_eq!(
        Reply::new(451, "4.7.1", "try later").line(Some("u@t4.example")),
        "451 4.7.1 try later"
    );
    assert_eq!(
        Reply::new(553, "5.3.0", "x").line(Some("a@b")),
        "553 5.3.0 <a@b>... x"
    );
    assert_eq!(Reply::new(550, "5.7.1", "x").line(None), "550 5.7.1 x");
}

// ---------------------------------------------------------------- helo

#[test]
fn helo_checks_only_with_block_bad_helo() {
    let f = Fixture::new();
    let s = f.site();
    assert_eq!(
        check_helo(&s, &Facts::new(), &stranger(), "gw.example.com").action,
        Action::Continue
    );
    let mut c = f.config();
    c.features.insert("block_bad_helo".into(), vec![]);
    let s = f.site_with(c);
    for bad in ["gw.example.com", "[127.0.0.1]", "localhost", "nodot"] {
        let v = check_helo(&s, &Facts::new(), &stranger(), bad);
        assert_eq!(
            v.reply().unwrap().text(),
            format!("bogus HELO name used: {bad}"),
            "{bad}"
        );
    }
    assert_eq!(
        check_helo(&s, &Facts::new(), &stranger(), "mail.other.net").action,
        Action::Continue
    );
}

// ---------------------------------------------------------------- headers

const RULES: &str = "\
# university header rules (Postfix regexp: case-insensitive unless /i)
/^Subject: .*Make Money Fast/ REJECT
/^Subject: .*viagra/ DISCARD
/^X-Mailer: trusted/i OK
/^Subject: .*\\[list\\]/ WARN list mail
/^Subject: hold me/ HOLD needs review
/^From: .*@bad\\.example/ REJECT 5.7.0 Go away
";

#[test]
fn header_rules() {
    let r = HeaderRules::parse("header_checks", RULES).unwrap();
    assert_eq!(r.len(), 6);
    let v = check_header(&r, "Subject: MAKE MONEY FAST now");
    assert_eq!(
        v.action,
        Action::Reject(Reply::new(550, "5.7.1", "Message content rejected"))
    );
    assert_eq!(
        v.why.to_string(),
        "header_checks:2: /^Subject: .*Make Money Fast/ REJECT"
    );
    assert_eq!(
        check_header(&r, "Subject: cheap VIAGRA").action,
        Action::Discard
    );
    // OK is DUNNO in header_checks (Postfix): no decision, but the rule matched.
    let v = check_header(&r, "X-Mailer: trusted 1.0");
    assert_eq!(v.action, Action::Continue);
    assert!(matches!(v.why, Because::HeaderRule { line: 4, .. }));
    // With /i the match is case-sensitive (the flag toggles Postfix's default).
    assert!(matches!(
        check_header(&r, "x-mailer: trusted").why,
        Because::Rule(_)
    ));
    let v = check_header(&r, "Subject: [list] hello");
    assert_eq!(v.action, Action::Continue);
    assert!(matches!(v.why, Because::HeaderRule { line: 5, .. }));
    assert_eq!(
        check_header(&r, "Subject: hold me").action,
        Action::Quarantine("needs review".into())
    );
    assert_eq!(
        check_header(&r, "From: x@bad.example").action,
        Action::Reject(Reply::new(550, "5.7.0", "Go away"))
    );
    assert_eq!(check_header(&r, "Subject: hello").action, Action::Continue);
}

#[test]
fn header_rule_errors() {
    let e = HeaderRules::parse("hc", "/ok/ OK\n/a(/ REJECT\n").unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("hc", 2));
    let e = HeaderRules::parse("hc", "/ok/ BOUNCE\n").unwrap_err();
    assert!(e.to_string().starts_with("hc:1: unknown action"));
}

// ---------------------------------------------------------------- testmode

#[test]
fn testmode_adapters() {
    use mxgate::testmode::policy as tm;
    let s = Fixture::new().site();
    let v = tm::connect(
        &s,
        &json!({"kind":"connect","client_addr":"192.0.2.10",
                "dns":{"10.2.0.192.bl.example.org":["127.0.0.2"]}}),
    )
    .unwrap();
    assert_eq!(v["action"], "reject");
    assert_eq!(v["smtp_code"], 550);
    assert_eq!(v["enhanced_code"], "5.7.1");
    assert_eq!(v["text"], "Rejected: 192.0.2.10 listed at bl.example.org");
    let v = tm::mail(
        &s,
        &json!({"kind":"mail","client_addr":"172.16.0.1","from":"<a@q.org>"}),
    )
    .unwrap();
    assert_eq!(v["action"], "quarantine");
    assert_eq!(v["text"], "suspicious sender");
    assert!(v["smtp_code"].is_null());
    let v = tm::mail(
        &s,
        &json!({"kind":"mail","client_addr":"172.16.0.1","from":"<x@aol.com>","dns":{"aol.com":"nxdomain"}}),
    )
    .unwrap();
    assert_eq!(v["smtp_code"], 553);
    let v = tm::rcpt(
        &s,
        &json!({"kind":"rcpt","client_addr":"IPv6:2001:db8:0:0:0:0:0:1","to":"<u@elsewhere.com>"}),
    )
    .unwrap();
    assert_eq!(v["action"], "accept");
    let v = tm::rcpt(
        &s,
        &json!({"kind":"rcpt","client_addr":"172.16.0.1","client_resolve":"TEMP","to":"<u@elsewhere.com>"}),
    )
    .unwrap();
    assert_eq!(v["action"], "tempfail");
    assert_eq!(v["smtp_code"], 450);
    let v = tm::header(&s, &json!({"kind":"header","line":"Subject: x"})).unwrap();
    assert_eq!(v["action"], "accept");
    assert!(tm::connect(&s, &json!({"client_addr":"not-an-ip"})).is_err());
}

// FEATURE(domaintable): check_mail and check_rcpt judge the address after
// ruleset 3. Checked on sendmail 8.17.1.9 (`sendmail -bt`, client
// 192.0.2.99, domaintable `old.example new.example`, access
// `To:new.example RELAY` and `From:new.example REJECT`): `check_rcpt
// <u@old.example>` → RELAY (`D` lookup on `new.example`), `check_mail
// <u@old.example>` → `550 5.7.1 Access denied` (F/U/D on the new domain).
#[test]
fn domaintable_applies_before_relay_and_sender_checks() {
    let f = Fixture::new();
    let mut c = f.config();
    c.features.insert("domaintable".into(), vec![]);
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert(
        "access".into(),
        Arc::new(MemTable::from_lines(
            "To:new.example RELAY\nFrom:new.example REJECT\n",
        )),
    );
    t.insert(
        "domaintable".into(),
        Arc::new(MemTable::from_lines("old.example new.example\n")),
    );
    let s = Site::from_parts(c, t).unwrap();
    assert!(
        is_relay(&rcpt(&s, "<u@old.example>")),
        "{:?}",
        rcpt(&s, "<u@old.example>")
    );
    assert_eq!(
        line(&rcpt(&s, "<u@other.example>"), "u@other.example"),
        "550 5.7.1 <u@other.example>... Relaying denied"
    );
    // The reply names the sender as given.
    assert_eq!(
        line(&mail(&s, "<u@old.example>"), "u@old.example"),
        "550 5.7.1 <u@old.example>... Access denied"
    );
    // A table that cannot be read temp-fails, never "not in the table".
    let mut c = f.config();
    c.features.insert("domaintable".into(), vec![]);
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("domaintable".into(), Arc::new(mxgate::table::FailingTable));
    let s = Site::from_parts(c, t).unwrap();
    assert_eq!(rcpt(&s, "<u@old.example>").reply().unwrap().code, 451);
    assert_eq!(mail(&s, "<u@old.example>").reply().unwrap().code, 451);
}

// ------------------------------------------- ratecontrol and conncontrol

/// The access entries of the `-bt` run below.
const CONTROL_ACCESS: &str = "\
ClientRate:10.1.2.3\t3
ClientRate:\t10
ClientConn:10.1.2\t2
ClientRate:10.9.9.9\tabc
ClientRate:10.8\t0
";

fn control_site(features: &[(&str, &[&str])]) -> Site {
    let f = Fixture::new();
    let mut c = f.config();
    c.dnsbl.clear();
    for (name, args) in features {
        c.features.insert(
            name.to_string(),
            args.iter().map(|a| a.to_string()).collect(),
        );
    }
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert(
        "access".into(),
        Arc::new(MemTable::from_lines(CONTROL_ACCESS)),
    );
    t.insert("aliases".into(), Arc::new(MemTable::from_lines(ALIASES)));
    t.insert(
        "mailboxes".into(),
        Arc::new(MemTable::from_lines(MAILBOXES)),
    );
    Site::from_parts(c, t).unwrap()
}

fn counted(addr: &str, rate: usize, connections: usize) -> Client {
    let mut c = Client::at(ip(addr));
    c.rate = rate;
    c.connections = connections;
    c
}

/// sendmail 8.17's RateControl/ConnControl rulesets, checked with
/// `sendmail -bt` on a cf built by Debian's sendmail-cf from FEATURE(access_db),
/// FEATURE(delay_checks), FEATURE(conncontrol, nodelay, terminate),
/// FEATURE(ratecontrol) and this access file, with `.D{client_addr}`,
/// `.D{client_rate}`, `.D{client_connections}` set:
/// 10.1.2.3 rate 3 → FALSE (ok), rate 4 → `452 4.3.2 Connection rate limit
/// exceeded.`; 10.7.7.7 (the `ClientRate:` default 10) rate 10 → ok, 11 →
/// 452; 10.1.2.9 connections 3 → `421 4.3.2 Too many open connections.`
/// (network 10.1.2, terminate), 2 → ok; 10.9.9.9 (`abc`, atoi 0) rate 100
/// → 452; 10.8.1.1 (`0`) rate 100 → OK; 10.5.5.5 (no ClientConn entry,
/// no default) connections 100 → OK.
#[test]
fn ratecontrol_and_conncontrol_as_sendmail_bt() {
    let s = control_site(&[
        ("conncontrol", &["nodelay", "terminate"]),
        ("ratecontrol", &[]),
    ]);
    let go = |c: &Client| check_relay(&s, &Facts::new(), c).action;
    let rate =
        |code| Action::TempFail(Reply::new(code, "4.3.2", "Connection rate limit exceeded."));
    assert_eq!(go(&counted("10.1.2.3", 3, 1)), Action::Continue);
    assert_eq!(go(&counted("10.1.2.3", 4, 1)), rate(452));
    assert_eq!(go(&counted("10.7.7.7", 10, 1)), Action::Continue);
    assert_eq!(go(&counted("10.7.7.7", 11, 1)), rate(452));
    assert_eq!(
        go(&counted("10.1.2.9", 1, 3)),
        Action::TempFail(Reply::new(421, "4.3.2", "Too many open connections."))
    );
    assert_eq!(go(&counted("10.1.2.9", 1, 2)), Action::Continue);
    assert_eq!(go(&counted("10.9.9.9", 100, 1)), rate(452));
    assert_eq!(go(&counted("10.8.1.1", 100, 1)), Action::Continue);
    assert_eq!(go(&counted("10.5.5.5", 1, 100)), Action::Continue);
    // The reply as sent: 452 gets no `<addr>... ` prefix (fmtmsg).
    let v = check_relay(&s, &Facts::new(), &counted("10.1.2.3", 4, 1));
    assert_eq!(
        line(&v, "u@x.example"),
        "452 4.3.2 Connection rate limit exceeded."
    );
    assert_eq!(v.why.to_string(), "access `ClientRate:10.1.2.3` → 3");
}

/// Without `delay_checks` both run in check_relay at connect, after the
/// `Connect:` entries and the DNSBLs; an accepted client (`Connect:` OK)
/// is not counted. With `delay_checks` only a `nodelay` control runs at
/// connect; the other runs with the rest of check_relay from RCPT.
#[test]
fn controls_run_at_connect_or_from_rcpt_as_configured() {
    let s = control_site(&[("ratecontrol", &[]), ("conncontrol", &[])]);
    let v = check_relay(&s, &Facts::new(), &counted("10.1.2.9", 1, 3));
    assert_eq!(
        v.action,
        Action::TempFail(Reply::new(452, "4.3.2", "Too many open connections."))
    );
    let s = control_site(&[
        ("delay_checks", &[]),
        ("ratecontrol", &["nodelay"]),
        ("conncontrol", &[]),
    ]);
    // At connect: the nodelay rate control only.
    let busy = counted("10.1.2.9", 1, 3);
    assert_eq!(
        check_relay(&s, &Facts::new(), &busy).action,
        Action::Continue
    );
    assert_eq!(
        check_relay(&s, &Facts::new(), &counted("10.7.7.7", 11, 1)).action,
        Action::TempFail(Reply::new(452, "4.3.2", "Connection rate limit exceeded."))
    );
    // From RCPT: the delayed connection control.
    let v = check_rcpt(
        &s,
        &Facts::new(),
        &busy,
        Some(&addr("<a@gw.example.com>")),
        &addr("<alice@example.com>"),
    );
    assert_eq!(
        line(&v, "alice@example.com"),
        "452 4.3.2 Too many open connections."
    );
    // Local submission has no address and is never counted.
    assert_eq!(
        check_relay(&s, &Facts::new(), &Client::local()).action,
        Action::Continue
    );
}

// ---------------------------------------------------------------- TLS access keys

/// The access entries of the `-bt` run below.
const TLS_ACCESS: &str = "\
TLS_Srv:mx.secure.example\tVERIFY
TLS_Srv:enc.example\tENCR:128
TLS_Srv:both.example\tVERIFY:256
TLS_Srv:perm.example\tPERM+VERIFY
TLS_Srv:temp.example\tTEMP+ENCR:128
TLS_Srv:cn.example\tVERIFY+CN
TLS_Srv:cn2.example\tVERIFY+CN:other.example
TLS_Srv:10.1.1.1\tENCR:256
TLS_Srv:junk.example\tWHATEVER
TLS_Srv:cs.example\tVERIFY+CS:/CN=good
TLS_Srv:ci.example\tVERIFY+CI:/CN=goodca
TLS_Srv:tag.example\tVERIFY+CITag:CITrust
CITrust:/CN=goodca\tOK
TLS_Rcpt:secure.org\tVERIFY
TLS_Rcpt:boss@corp.org\tENCR:256
TLS_Clt:client.example\tENCR:128
Try_TLS:broken.example\tNO
Try_TLS:10.2\tNO
";

fn tls_site() -> Site {
    let f = Fixture::new();
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("access".into(), Arc::new(MemTable::from_lines(TLS_ACCESS)));
    Site::from_parts(f.config(), t).unwrap()
}

/// The certificate extensions of a TLS requirement, checked with
/// `sendmail -bt` (8.17, Debian's sendmail-cf, FEATURE(access_db) over
/// these entries, `.D{cert_subject}`, `.D{cert_issuer}`, `.D{server_name}`
/// set, `tls_server OK`): cs.example with subject /CN=bad → `454 4.7.0
/// Cert Subject /CN=bad does not match /CN=good`, /CN=good → OK;
/// ci.example with issuer /CN=badca → `Cert Issuer /CN=badca does not
/// match /CN=goodca`, /CN=goodca → OK; tag.example (`CITag:CITrust`) with
/// /CN=badca → `Cert Issuer /CN=badca not acceptable`, /CN=goodca (listed
/// `CITrust:/CN=goodca OK`) → OK. They were refused as "cannot be checked".
#[test]
fn tls_certificate_subject_and_issuer_requirements_as_sendmail_bt() {
    use mxgate::policy::tls::{TlsFacts, Verify, tls_server};
    let s = tls_site();
    let srv = |host: &str, subject: &str, issuer: &str| {
        let facts = TlsFacts {
            verify: Verify::Ok,
            bits: 256,
            name: host,
            valid_for: &|_| true,
            subject,
            issuer,
        };
        tls_reply(&tls_server(&s, host, Some(ip("10.0.0.1")), &facts))
    };
    assert_eq!(
        srv("cs.example", "/CN=bad", "/CN=goodca"),
        "454 4.7.0 Cert Subject /CN=bad does not match /CN=good"
    );
    assert_eq!(srv("cs.example", "/CN=good", "/CN=goodca"), "OK");
    assert_eq!(
        srv("ci.example", "/CN=good", "/CN=badca"),
        "454 4.7.0 Cert Issuer /CN=badca does not match /CN=goodca"
    );
    assert_eq!(srv("ci.example", "/CN=good", "/CN=goodca"), "OK");
    assert_eq!(
        srv("tag.example", "/CN=good", "/CN=badca"),
        "454 4.7.0 Cert Issuer /CN=badca not acceptable"
    );
    assert_eq!(srv("tag.example", "/CN=good", "/CN=goodca"), "OK");
    // No certificate to show: nothing matches.
    assert_eq!(
        srv("cs.example", "", ""),
        "454 4.7.0 Cert Subject  does not match /CN=good"
    );
}

fn tls_reply(v: &Verdict) -> String {
    v.reply()
        .map(|r| r.line(None))
        .unwrap_or_else(|| "OK".into())
}

/// sendmail 8.17's tls_server, tls_rcpt, tls_client and try_tls rulesets,
/// checked with `sendmail -bt` on a cf built by Debian's sendmail-cf from
/// FEATURE(access_db) and this access file, with `.D{server_name}`,
/// `.D{server_addr}`, `.D{cipher_bits}`, `.D{cn_subject}` set and the
/// ruleset called with `${verify}`:
/// mx.secure.example: OK → OK; FAIL → `454 4.7.0 authentication failed`;
/// NO → `not authenticated`; NONE → `other side does not support
/// STARTTLS`; CLEAR → `STARTTLS disabled locally`; NOT → `no authentication
/// requested`. enc.example (256 bits) NO → OK; 112 bits → `encryption too
/// weak 112 less than 128`; no bits, NONE → `... 0 less than 128`.
/// both.example 128 bits OK → `... 128 less than 256`, 256 bits OK → OK,
/// FAIL → `authentication failed`. perm.example FAIL → `503 5.7.0
/// authentication failed`; temp.example 40 bits → `403 4.7.0 encryption
/// too weak 40 less than 128`; junk.example NONE → OK. No name entry,
/// address 10.1.1.1, 128 bits → `... 128 less than 256`; 10.9.9.9 → OK.
/// cn.example with cn_subject cn.example → OK, bad.example → `CN
/// bad.example does not match cn.example` (we say `CN does not match
/// cn.example`: the certificate's names are asked, the subject is not
/// read); cn2.example with cn_subject other.example → OK.
/// tls_rcpt (verify FAIL, 256 bits): u@secure.org and u@sub.secure.org →
/// `authentication failed`, u@other.org → OK, boss@corp.org → OK; at 128
/// bits boss@corp.org → `... 128 less than 256`, other@corp.org → OK.
/// try_tls: broken.example → `550 do not try TLS` (no), ok.example → OK,
/// address 10.2.3.4 → no.
#[test]
fn tls_access_keys_as_sendmail_bt() {
    use mxgate::policy::tls::{TlsFacts, Verify, tls_client, tls_rcpt, tls_server, try_tls};
    let s = tls_site();
    let names = |n: &str| n == "cn.example" || n == "other.example";
    let facts = |verify: Verify, bits: u32, name: &'static str| TlsFacts {
        verify,
        bits,
        name,
        valid_for: Box::leak(Box::new(names)),
        subject: "",
        issuer: "",
    };
    let srv = |host: &str, addr: &str, f: &TlsFacts<'_>| {
        tls_reply(&tls_server(&s, host, Some(ip(addr)), f))
    };
    let a = "10.0.0.1";
    let h = "mx.secure.example";
    for (verify, want) in [
        (Verify::Ok, "OK"),
        (Verify::Fail, "454 4.7.0 authentication failed"),
        (Verify::No, "454 4.7.0 not authenticated"),
        (
            Verify::None,
            "454 4.7.0 other side does not support STARTTLS",
        ),
        (Verify::Clear, "454 4.7.0 STARTTLS disabled locally"),
        (Verify::Not, "454 4.7.0 no authentication requested"),
    ] {
        assert_eq!(srv(h, a, &facts(verify, 256, h)), want, "{verify:?}");
    }
    assert_eq!(srv("enc.example", a, &facts(Verify::No, 256, "")), "OK");
    assert_eq!(
        srv("enc.example", a, &facts(Verify::Ok, 112, "")),
        "454 4.7.0 encryption too weak 112 less than 128"
    );
    assert_eq!(
        srv("enc.example", a, &facts(Verify::None, 0, "")),
        "454 4.7.0 encryption too weak 0 less than 128"
    );
    assert_eq!(
        srv("both.example", a, &facts(Verify::Ok, 128, "")),
        "454 4.7.0 encryption too weak 128 less than 256"
    );
    assert_eq!(srv("both.example", a, &facts(Verify::Ok, 256, "")), "OK");
    assert_eq!(
        srv("both.example", a, &facts(Verify::Fail, 256, "")),
        "454 4.7.0 authentication failed"
    );
    assert_eq!(
        srv("perm.example", a, &facts(Verify::Fail, 256, "")),
        "503 5.7.0 authentication failed"
    );
    assert_eq!(
        srv("temp.example", a, &facts(Verify::Ok, 40, "")),
        "403 4.7.0 encryption too weak 40 less than 128"
    );
    assert_eq!(srv("junk.example", a, &facts(Verify::None, 0, "")), "OK");
    assert_eq!(
        srv("other.example", "10.1.1.1", &facts(Verify::Ok, 128, "")),
        "454 4.7.0 encryption too weak 128 less than 256"
    );
    assert_eq!(
        srv("other.example", "10.9.9.9", &facts(Verify::None, 0, "")),
        "OK"
    );
    assert_eq!(
        srv("cn.example", a, &facts(Verify::Ok, 256, "cn.example")),
        "OK"
    );
    let only_bad = |n: &str| n == "bad.example";
    let bad = TlsFacts {
        verify: Verify::Ok,
        bits: 256,
        name: "cn.example",
        valid_for: &only_bad,
        subject: "",
        issuer: "",
    };
    assert_eq!(
        srv("cn.example", a, &bad),
        "454 4.7.0 CN does not match cn.example"
    );
    assert_eq!(
        srv("cn2.example", a, &facts(Verify::Ok, 256, "cn2.example")),
        "OK"
    );

    let rcpt =
        |local: &str, domain: &str, f: &TlsFacts<'_>| tls_reply(&tls_rcpt(&s, local, domain, f));
    let failed256 = facts(Verify::Fail, 256, "mx.any.example");
    assert_eq!(
        rcpt("u", "secure.org", &failed256),
        "454 4.7.0 authentication failed"
    );
    assert_eq!(
        rcpt("u", "sub.secure.org", &failed256),
        "454 4.7.0 authentication failed"
    );
    assert_eq!(rcpt("u", "other.org", &failed256), "OK");
    assert_eq!(rcpt("boss", "corp.org", &failed256), "OK");
    let failed128 = facts(Verify::Fail, 128, "mx.any.example");
    assert_eq!(
        rcpt("boss", "corp.org", &failed128),
        "454 4.7.0 encryption too weak 128 less than 256"
    );
    assert_eq!(rcpt("other", "corp.org", &failed128), "OK");

    assert!(!try_tls(&s, "broken.example", Some(ip("10.0.0.1"))));
    assert!(try_tls(&s, "ok.example", Some(ip("10.0.0.1"))));
    assert!(!try_tls(&s, "ok.example", Some(ip("10.2.3.4"))));

    // tls_client for client.example (not run on sendmail: -bt cannot type
    // the `$|` operator its input needs; it ends in the same
    // TLS_connection ruleset as tls_server): without STARTTLS (no bits)
    // the requirement is not met; with 256 bits it is.
    let c = client("client.example", "10.3.3.3");
    assert_eq!(
        tls_reply(&tls_client(
            &s,
            &c,
            &facts(Verify::Unset, 0, "client.example")
        )),
        "454 4.7.0 encryption too weak 0 less than 128"
    );
    assert_eq!(
        tls_reply(&tls_client(
            &s,
            &c,
            &facts(Verify::Not, 256, "client.example")
        )),
        "OK"
    );
}

// Issue "field configurations", item 6: `ERROR:` texts are spaced the way
// sendmail's tokenizer rebuilds them. Checked on sendmail 8.17 -bs (t2.mc
// with these access lines, client 172.16.0.1), the replies verbatim:
//   ERROR:550 We do not  accept,mail (here)     → 550 5.0.0 <x@a1.org>... We do not accept,mail
//   ERROR:5.7.1:550 No-mail;from:you  ok        → 550 5.7.1 <x@a2.org>... No-mail;from:you ok
//   ERROR:"550 Quoted  text, kept"              → 550 5.0.0 <x@a3.org>... Quoted  text, kept
//   ERROR:5.7.1:"550 Quoted, text  (x)"         → 550 5.7.1 <x@a4.org>... Quoted, text  (x)
//   ERROR:550 user@host <x> said: no            → 550 5.0.0 <x@a5.org>... user@host<x
//   ERROR:550 A.B.C 1.2 "x y" $z                → 550 5.0.0 <x@a6.org>... A.B.C 1.2x y$z
//   ERROR:550 a - b x_y z 50% off               → 550 5.0.0 <x@b1.org>... a - b x_y z 50%off
//   ERROR:550 say "hi there" now                → 550 5.0.0 <x@b3.org>... sayhi therenow
//   ERROR:550 end. Try later.                   → 550 5.0.0 <x@b4.org>... end.Try later.
//   ERROR:550 a<TAB>tab  and  [1.2.3.4] x!y ^z  → 550 5.0.0 <x@b5.org>... a tab and[1.2.3.4]x!y^z
//   ERROR:550 (only comment)                    → 553 5.3.0 <x@b7.org>... 550
//   ERROR:550 Relaying denied. Proper authentication required.
//                                               → 550 5.0.0 <x@b8.org>... Relaying denied.Proper authentication required.
//   ERROR:550 a \"b\" c\,d                      → 550 5.0.0 <x@c3.org>... a "b" c,d
//   ERROR:550 x (c1 (nested) y) z               → 550 5.0.0 <x@c4.org>... x z
//   ERROR:550 5.7.1 Text with own code          → 550 5.7.1 <x@c6.org>... Text with own code
//   ERROR:5.7.1:550 5.1.1 Two codes             → 550 5.1.1 <x@c7.org>... Two codes
// Not reproduced: a text sendmail cannot tokenize (`ERROR:550 a > b c`)
// makes sendmail answer `553 5.0.0 ERROR:550 a > b c... Unbalanced '>'`;
// we send the text as written.
#[test]
fn access_error_texts_are_spaced_as_sendmail_tokenizes_them() {
    let fx = Fixture::new();
    let access = "\
From:a1.org\tERROR:550 We do not  accept,mail (here)
From:a2.org\tERROR:5.7.1:550 No-mail;from:you  ok
From:a3.org\tERROR:\"550 Quoted  text, kept\"
From:a4.org\tERROR:5.7.1:\"550 Quoted, text  (x)\"
From:a5.org\tERROR:550 user@host <x> said: no
From:a6.org\tERROR:550 A.B.C 1.2 \"x y\" $z
From:b1.org\tERROR:550 a - b x_y z 50% off
From:b3.org\tERROR:550 say \"hi there\" now
From:b4.org\tERROR:550 end. Try later.
From:b5.org\tERROR:550 a\ttab  and  [1.2.3.4] x!y ^z
From:b7.org\tERROR:550 (only comment)
From:b8.org\tERROR:550 Relaying denied. Proper authentication required.
From:c3.org\tERROR:550 a \\\"b\\\" c\\,d
From:c4.org\tERROR:550 x (c1 (nested) y) z
From:c6.org\tERROR:550 5.7.1 Text with own code
From:c7.org\tERROR:5.7.1:550 5.1.1 Two codes
";
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("access".into(), Arc::new(MemTable::from_lines(access)));
    let site = Site::from_parts(fx.config(), t).unwrap();
    for (d, want) in [
        ("a1.org", "550 5.0.0 <x@a1.org>... We do not accept,mail"),
        ("a2.org", "550 5.7.1 <x@a2.org>... No-mail;from:you ok"),
        ("a3.org", "550 5.0.0 <x@a3.org>... Quoted  text, kept"),
        ("a4.org", "550 5.7.1 <x@a4.org>... Quoted, text  (x)"),
        ("a5.org", "550 5.0.0 <x@a5.org>... user@host<x"),
        ("a6.org", "550 5.0.0 <x@a6.org>... A.B.C 1.2x y$z"),
        ("b1.org", "550 5.0.0 <x@b1.org>... a - b x_y z 50%off"),
        ("b3.org", "550 5.0.0 <x@b3.org>... sayhi therenow"),
        ("b4.org", "550 5.0.0 <x@b4.org>... end.Try later."),
        ("b5.org", "550 5.0.0 <x@b5.org>... a tab and[1.2.3.4]x!y^z"),
        ("b7.org", "553 5.3.0 <x@b7.org>... 550"),
        (
            "b8.org",
            "550 5.0.0 <x@b8.org>... Relaying denied.Proper authentication required.",
        ),
        ("c3.org", "550 5.0.0 <x@c3.org>... a \"b\" c,d"),
        ("c4.org", "550 5.0.0 <x@c4.org>... x z"),
        ("c6.org", "550 5.7.1 <x@c6.org>... Text with own code"),
        ("c7.org", "550 5.1.1 <x@c7.org>... Two codes"),
    ] {
        let a = format!("x@{d}");
        assert_eq!(line(&mail(&site, &a), &a), want, "{d}");
    }
}

// Issue 15 (fidelity): a value sendmail's tokenizer cannot split (an
// unbalanced `<`, `>`, `(`, `)` or `"` anywhere in it) is refused naming the
// value. Checked on sendmail 8.17 -bs (fidelity-errors.mc with these
// fidelity-access lines; the client may not relay):
//   MAIL FROM:<x@c1.org>  ERROR:550 a > b c        → 553 5.0.0 ERROR:550 a > b c... Unbalanced '>'
//   MAIL FROM:<x@c2.org>  ERROR:550 a < b c        → 553 5.0.0 ERROR:550 a < b c... Unbalanced '<'
//   MAIL FROM:<x@c8.org>  ERROR:550 a ) b          → 553 5.0.0 ERROR:550 a ) b... Unbalanced ')'
//   MAIL FROM:<x@d1.org>  ERROR:5.7.1:550 a > b    → 553 5.0.0 ERROR:5.7.1:550 a > b... Unbalanced '>'
//   MAIL FROM:<x@d2.org>  ERROR:550 a ( b          → 553 5.0.0 ERROR:550 a ( b... Unbalanced '('
//   MAIL FROM:<x@d3.org>  ERROR:550 a " b          → 553 5.0.0 ERROR:550 a " b... Unbalanced '"'
//   MAIL FROM:<x@d4.org>  ERROR:550 a <<b>> c      → 550 5.0.0 <x@d4.org>... a<<b
//   MAIL FROM:<x@d5.org>  ERROR:550 a <b> > c      → 553 5.0.0 ERROR:550 a <b> > c... Unbalanced '>'
//   MAIL FROM:<x@d6.org>  ERROR:550 a)b(c          → 553 5.0.0 ERROR:550 a)b(c... Unbalanced ')'
//   MAIL FROM:<x@d7.org>  ERROR:"550 a > b"        → 550 5.0.0 <x@d7.org>... a > b
//   MAIL FROM:<x@d8.org>  ERROR:550 a\> b          → 550 5.0.0 <x@d8.org>... a> b
//   RCPT TO:<u@t1.org>    To:t1.org ERROR:550 a > b c → 553 5.0.0 ERROR:550 a > b c... Unbalanced '>'
#[test]
fn access_values_sendmail_cannot_tokenize() {
    let fx = Fixture::new();
    let access = "\
From:c1.org\tERROR:550 a > b c
From:c2.org\tERROR:550 a < b c
From:c8.org\tERROR:550 a ) b
From:d1.org\tERROR:5.7.1:550 a > b
From:d2.org\tERROR:550 a ( b
From:d3.org\tERROR:550 a \" b
From:d4.org\tERROR:550 a <<b>> c
From:d5.org\tERROR:550 a <b> > c
From:d6.org\tERROR:550 a)b(c
From:d7.org\tERROR:\"550 a > b\"
From:d8.org\tERROR:550 a\\> b
To:t1.org\tERROR:550 a > b c
";
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("access".into(), Arc::new(MemTable::from_lines(access)));
    let site = Site::from_parts(fx.config(), t).unwrap();
    for (d, want) in [
        ("c1.org", "553 5.0.0 ERROR:550 a > b c... Unbalanced '>'"),
        ("c2.org", "553 5.0.0 ERROR:550 a < b c... Unbalanced '<'"),
        ("c8.org", "553 5.0.0 ERROR:550 a ) b... Unbalanced ')'"),
        (
            "d1.org",
            "553 5.0.0 ERROR:5.7.1:550 a > b... Unbalanced '>'",
        ),
        ("d2.org", "553 5.0.0 ERROR:550 a ( b... Unbalanced '('"),
        ("d3.org", "553 5.0.0 ERROR:550 a \" b... Unbalanced '\"'"),
        ("d4.org", "550 5.0.0 <x@d4.org>... a<<b"),
        ("d5.org", "553 5.0.0 ERROR:550 a <b> > c... Unbalanced '>'"),
        ("d6.org", "553 5.0.0 ERROR:550 a)b(c... Unbalanced ')'"),
        ("d7.org", "550 5.0.0 <x@d7.org>... a > b"),
        ("d8.org", "550 5.0.0 <x@d8.org>... a> b"),
    ] {
        let a = format!("x@{d}");
        assert_eq!(line(&mail(&site, &a), &a), want, "{d}");
    }
    assert_eq!(
        line(&rcpt(&site, "u@t1.org"), "u@t1.org"),
        "553 5.0.0 ERROR:550 a > b c... Unbalanced '>'"
    );
}

// Issue 15 (fidelity): a sender host written with its trailing dot is not
// `localhost` for the "Real domain name required" rule. Checked on sendmail
// 8.17 -bt (t2.mc, {client_addr} 172.16.0.1, {client_name} mail.foo.com):
//   check_mail <joe@localhost.>             → @ joe < @ localhost >   (accepted)
//   check_mail <joe@LocalHost.>             → @ joe < @ LocalHost >   (accepted)
//   check_mail <joe@localhost>              → $#error $@ 5.5.4 $: "553 Real domain name required for sender address"
//   check_mail <joe@localhost.example.com>  → the same 553 5.5.4
//   check_mail <joe@localhost.example.com.> → @ joe < @ localhost . example . com >  (accepted)
//   check_mail <joe@LocalHost.Example.COM.> → @ joe < @ LocalHost . Example . COM >  (accepted)
//   check_mail <joe@foo.example.com.>, <joe@relay.example.com.>,
//              <joe@nonexist.invalid.>      → $#error $@ 5.1.8 (does not exist)
// The name with a dot is accepted because the `resolve` (host) map finds it
// in the hosts file under `localhost` (sendmail's shorten_hostname drops a
// `.$m` ending; `$m` is example.com there, from the host name gw.example.com):
//   /map resolve localhost.example.com → localhost.example.com<OKR>
//   /map resolve foo.example.com       → no match
//   /map resolve relay.example.com     → no match (the file has relay.example.net)
#[test]
fn sender_localhost_with_a_trailing_dot() {
    let fx = Fixture::new();
    let mut c = fx.config();
    c.macros.insert("m".into(), "example.com".into());
    let s = fx.site_with(c);
    for a in [
        "joe@localhost.",
        "joe@LocalHost.",
        "joe@localhost.example.com.",
        "joe@LocalHost.Example.COM.",
    ] {
        let v = mail(&s, a);
        assert!(
            !matches!(v.action, Action::Reject(_) | Action::TempFail(_)),
            "{a}: {v:?}"
        );
    }
    for a in ["joe@foo.example.com.", "joe@relay.example.com."] {
        let shown = a.trim_end_matches('.');
        assert_eq!(
            line(&mail(&s, a), a),
            format!("553 5.1.8 <{a}>... Domain of sender address {shown} does not exist"),
        );
    }
    for a in ["joe@localhost", "joe@localhost.example.com"] {
        assert_eq!(
            line(&mail(&s, a), a),
            format!("553 5.5.4 <{a}>... Real domain name required for sender address")
        );
    }
}

// Issue "field configurations", item 5: sender domain checks for address
// literals. Checked on sendmail 8.17 -bs (t2.mc plus these access lines:
// `From:[192.0.2.9] REJECT`, `From:198.51.100 ERROR:550 Net listed`,
// `From:u@[203.0.113.7] ERROR:550 User listed`; client 172.16.0.1):
//   MAIL FROM:<u@[192.0.2.1]>          → 553 5.1.8 <u@[192.0.2.1]>... Domain of sender address u@[192.0.2.1] does not exist
//   MAIL FROM:<u@[10.0.0.2]>           → 553 5.1.8 ... (the hosts file names 10.0.0.2: a literal is never canonical)
//   MAIL FROM:<u@[IPv6:2001:db8::1]>   → 553 5.1.8 <u@[IPv6:2001:db8::1]>... Domain of sender address u@[IPv6:2001:db8::1] does not exist
//   MAIL FROM:<u@[192.0.2.9]>          → 550 5.7.1 <u@[192.0.2.9]>... Access denied   (From:[192.0.2.9])
//   MAIL FROM:<u@[203.0.113.7]>        → 550 5.0.0 <u@[203.0.113.7]>... User listed   (full-address key)
//   MAIL FROM:<u@[198.51.100.4]>       → 553 5.1.8 ... does not exist (an IP-prefix key does not match a literal)
//   MAIL FROM:<Joe@[192.0.2.1]>        → 553 5.1.8 <Joe@[192.0.2.1]>... Domain of sender address Joe@[192.0.2.1] does not exist
// and -bt (check_mail, {client_addr} 172.16.0.1, {client_name} mail.foo.com):
//   <u@[127.0.0.1]>, <u@[IPv6:::1]> → $#error $@ 5.5.4 $: "553 Real domain name required for sender address"
// Not checked on the binary: `FEATURE(accept_unresolvable_domains)` skips
// the check for literals too (read from proto.m4).
#[test]
fn sender_address_literals() {
    let fx = Fixture::new();
    let access = format!(
        "{ACCESS}From:[192.0.2.9]\tREJECT\nFrom:198.51.100\tERROR:550 Net listed\n\
         From:u@[203.0.113.7]\tERROR:550 User listed\n"
    );
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    t.insert("access".into(), Arc::new(MemTable::from_lines(&access)));
    let s = Site::from_parts(fx.config(), t).unwrap();
    let gone = |a: &str| format!("553 5.1.8 <{a}>... Domain of sender address {a} does not exist");
    for (a, want) in [
        ("u@[192.0.2.1]", gone("u@[192.0.2.1]")),
        ("u@[10.0.0.2]", gone("u@[10.0.0.2]")),
        ("u@[IPv6:2001:db8::1]", gone("u@[IPv6:2001:db8::1]")),
        (
            "u@[192.0.2.9]",
            "550 5.7.1 <u@[192.0.2.9]>... Access denied".into(),
        ),
        (
            "u@[203.0.113.7]",
            "550 5.0.0 <u@[203.0.113.7]>... User listed".into(),
        ),
        ("u@[198.51.100.4]", gone("u@[198.51.100.4]")),
        ("Joe@[192.0.2.1]", gone("Joe@[192.0.2.1]")),
        (
            "u@[127.0.0.1]",
            "553 5.5.4 <u@[127.0.0.1]>... Real domain name required for sender address".into(),
        ),
        (
            "u@[IPv6:::1]",
            "553 5.5.4 <u@[IPv6:::1]>... Real domain name required for sender address".into(),
        ),
    ] {
        assert_eq!(line(&mail(&s, a), a), want, "{a}");
    }
    let mut c = fx.config();
    c.features
        .insert("accept_unresolvable_domains".into(), vec![]);
    let s = Site::from_parts(c, BTreeMap::new()).unwrap();
    assert_eq!(mail(&s, "u@[192.0.2.1]").action, Action::Continue);
}

// Issue "field configurations", item 3: a `!` path is relaying unless it
// leads to us or to a relay domain. Checked on sendmail 8.17 -bt (test.mc,
// {client_addr} 172.16.0.1): check_rcpt
//   <host!user>, <host!user@gw.example.com>, <a.org!user@gw.example.com>,
//   <host.example.net!user>, <a.org!b.org!user@example.com>
//                              → $#error $@ 5.7.1 $: "550 Relaying denied"
//   <gw.example.com!user>, <relayto.org!user> → RELAY
//   <[192.0.2.1]!user>         → $#error $@ 5.1.2 $: "553 Invalid address"
#[test]
fn bang_paths_are_relaying() {
    let s = Fixture::new().site();
    for a in [
        "<host!user>",
        "<host!user@gw.example.com>",
        "<a.org!user@gw.example.com>",
        "<host.example.net!user>",
        "<a.org!b.org!user@example.com>",
    ] {
        let v = rcpt(&s, a);
        assert!(
            matches!(&v.action, Action::Reject(r) if r.code / 100 == 5),
            "{a}: {v:?}"
        );
    }
    assert_eq!(
        line(&rcpt(&s, "<[192.0.2.1]!user>"), "[192.0.2.1]!user"),
        "553 5.1.2 <[192.0.2.1]!user>... Invalid address"
    );
    assert!(is_relay(&rcpt(&s, "<relayto.org!user>")));
    // (`user` is unknown here and gets 550 5.1.1; `localuser` exists.)
    let v = rcpt(&s, "<gw.example.com!localuser>");
    assert!(
        !matches!(v.action, Action::Reject(_) | Action::TempFail(_)),
        "{v:?}"
    );
}

// Issue 15 (fidelity): FEATURE(`nouucp'). Checked on sendmail 8.17 -bt
// (t2.mc plus FEATURE(`nouucp', `reject') or `nospecial'), check_rcpt with
// {client_addr} 172.16.0.1:
//   reject:    <host!user>, <host!user@gw.example.com>, <a.org!user@gw.example.com>,
//              <gw.example.com!joe>, <host.example.net!user>, <[192.0.2.1]!user>,
//              <host!user%x.org>  → $#error $@ 5.7.1 $: "550 Relaying denied"
//              <joe>              → RELAY
//   nospecial: the same `!` addresses → RELAY; <host!user%x.org> → 550 Relaying denied
// and {client_addr} 10.9.1.1 (Connect:10.9 RELAY), reject: <host!user>,
// <a.org!user@gw.example.com> → RELAY. At RCPT (-bs, both arguments) a `!`
// name that is no local user is `550 5.1.1 <host!user>... User unknown`.
// check_mail (client 172.16.0.1, both): <host!user>, <host.example.net!user>,
// <gw.example.com!joe> → 553 5.5.4 Domain name required for sender address;
// <host!user@gw.example.com> → accepted.
#[test]
fn nouucp_reject_and_nospecial() {
    let fx = Fixture::new();
    let bangs = [
        "host!user",
        "host!user@gw.example.com",
        "a.org!user@gw.example.com",
        "gw.example.com!joe",
        "host.example.net!user",
        "[192.0.2.1]!user",
    ];
    let denied = |a: &str| format!("550 5.7.1 <{a}>... Relaying denied");
    let unknown = |a: &str| format!("550 5.1.1 <{a}>... User unknown");
    for arg in ["reject", "nospecial"] {
        let mut c = fx.config();
        c.features.insert("nouucp".into(), vec![arg.into()]);
        let s = fx.site_with(c);
        for a in bangs {
            let want = if arg == "reject" {
                denied(a)
            } else {
                unknown(a)
            };
            assert_eq!(line(&rcpt(&s, a), a), want, "{arg} {a}");
            let from_relay = rcpt_from(&s, &client("unknown.host", "10.9.1.1"), a);
            assert_eq!(line(&from_relay, a), unknown(a), "{arg} {a} from 10.9.1.1");
        }
        assert_eq!(
            line(&rcpt(&s, "host!user%x.org"), "host!user%x.org"),
            denied("host!user%x.org"),
            "{arg}"
        );
        assert!(
            !matches!(rcpt(&s, "localuser").action, Action::Reject(_)),
            "{arg}"
        );
        for a in ["host!user", "host.example.net!user", "gw.example.com!joe"] {
            assert_eq!(
                line(&mail(&s, a), a),
                format!("553 5.5.4 <{a}>... Domain name required for sender address {a}"),
                "{arg} {a}"
            );
        }
        assert!(
            !matches!(
                mail(&s, "host!user@gw.example.com").action,
                Action::Reject(_)
            ),
            "{arg}"
        );
    }
}

// Item 3, senders. sendmail 8.17 -bs (t2.mc, client 172.16.0.1):
//   MAIL FROM:<host!user>            → 553 5.1.8 <host!user>... Domain of sender address host!user does not exist
//   MAIL FROM:<host.example.net!user> → 553 5.1.8 <host.example.net!user>... Domain of sender address user@host.example.net does not exist
//   MAIL FROM:<gw.example.com!joe>   → 250 2.1.0 <gw.example.com!joe>... Sender ok
#[test]
fn bang_path_senders() {
    let s = Fixture::new().site();
    assert_eq!(
        line(&mail(&s, "<host!user>"), "host!user"),
        "553 5.1.8 <host!user>... Domain of sender address host!user does not exist"
    );
    assert_eq!(
        line(
            &mail(&s, "<host.example.net!user>"),
            "host.example.net!user"
        ),
        "553 5.1.8 <host.example.net!user>... Domain of sender address user@host.example.net does not exist"
    );
    let v = mail(&s, "<gw.example.com!joe>");
    assert!(
        !matches!(v.action, Action::Reject(_) | Action::TempFail(_)),
        "{v:?}"
    );
}
