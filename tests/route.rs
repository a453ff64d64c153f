//! Routing, masquerading and alias expansion, transcript style.
//!
//! Each case is `input => expected` where expected is the compact form
//! `mailer host user` (host `-` for local), `error CODE D.S.N text`, a
//! rewritten address, or a list of alias targets. Cases marked "checked on
//! sendmail 8.17" were run through `sendmail -bt` (`/parse`, `/try`) or
//! `sendmail -bs` with the configs of `shared/spec/sendmail-verify`.

use mxgate::addr::Address;
use mxgate::alias;
use mxgate::config::Config;
use mxgate::rewrite::{Field, masquerade};
use mxgate::route::{Resolution, resolve};
use mxgate::site::Site;
use mxgate::table::{MemTable, TableRef};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Build a site from a config and `role: table text` pairs.
fn site(c: Config, tables: &[(&str, &str)]) -> Site {
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    for (role, text) in tables {
        t.insert(role.to_string(), Arc::new(MemTable::from_lines(text)));
    }
    Site::from_parts(c, t).unwrap()
}

fn route_of(s: &Site, addr: &str) -> String {
    let (r, why) = resolve(s, &Address::parse(addr).unwrap()).unwrap();
    assert!(!why.to_string().is_empty());
    match r {
        Resolution::Deliver(r) => format!(
            "{} {} {}",
            r.mailer,
            r.host.as_deref().unwrap_or("-"),
            r.user
        ),
        Resolution::Error(e) => format!("error {} {} {}", e.code, e.status_or_class(), e.text()),
    }
}

/// Check a transcript of `addr => mailer host user` lines.
fn check_routes(s: &Site, transcript: &str) {
    for line in transcript.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (addr, want) = line.split_once("=>").unwrap();
        assert_eq!(route_of(s, addr.trim()), want.trim(), "route of {addr}");
    }
}

fn check_masq(s: &Site, field: Field, mailer: &str, transcript: &str) {
    for line in transcript.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (addr, want) = line.split_once("=>").unwrap();
        let (got, why) = masquerade(s, field, addr.trim(), mailer).unwrap();
        assert_eq!(got, want.trim(), "{field:?}/{mailer} of {addr} ({why})");
    }
}

const SPEC_MAILERTABLE: &str = "\
sub.remote.org   esmtp:[mx.remote.org]
.remote.org      smtp:relay.example.net
.wild.org        esmtp:%1.inner.wild.org
bad.example      error:5.7.1:550 No mail for bad.example
tmp.example      error:4.3.2:451 Try later
localme.org      local:postmaster
localsame.org    local:
.                relay:smarthost.isp.net
";

/// The spec's t2.mc: gw.example.com, $=w example.com, SMART_HOST, mailertable,
/// MASQUERADE_AS masq.example.com, MASQUERADE_DOMAIN other.example.com,
/// EXPOSED_USER root.
fn t2_config() -> Config {
    let mut c = Config::new();
    c.hostname = Some("gw.example.com".into());
    c.classes
        .insert("w".into(), vec!["example.com".into(), "localhost".into()]);
    c.classes.insert("R".into(), vec!["partner.org".into()]);
    c.classes
        .insert("M".into(), vec!["other.example.com".into()]);
    c.classes.insert("E".into(), vec!["root".into()]);
    c.relays.smart_host = Some("esmtp:[smarthost.isp.net]".into());
    c.features.insert("mailertable".into(), vec![]);
    c.masquerade_as = Some("masq.example.com".into());
    c
}

fn t2() -> Site {
    site(t2_config(), &[("mailertable", SPEC_MAILERTABLE)])
}

// R1–R14: all checked on sendmail 8.17 (-bt /parse, t2.mc). For local
// deliveries sendmail prints the original address as "host"; mxgate's
// Route has host None there.
#[test]
fn spec_r1_to_r14() {
    check_routes(
        &t2(),
        "
        user@sub.remote.org  => esmtp [mx.remote.org] user@sub.remote.org
        user@a.remote.org    => smtp relay.example.net user@a.remote.org
        user@x.y.remote.org  => smtp relay.example.net user@x.y.remote.org
        user@remote.org      => relay smarthost.isp.net user@remote.org
        user@host.wild.org   => esmtp host.inner.wild.org user@host.wild.org
        user@a.b.wild.org    => esmtp a.b.inner.wild.org user@a.b.wild.org
        user@bad.example     => error 550 5.7.1 No mail for bad.example
        user@tmp.example     => error 451 4.3.2 Try later
        user@localme.org     => local - postmaster
        joe@localsame.org    => local - joe
        user@elsewhere.com   => relay smarthost.isp.net user@elsewhere.com
        user@[192.0.2.55]    => esmtp [smarthost.isp.net] user@[192.0.2.55]
        user@example.com     => local - user
        user                 => local - user
        ",
    );
}

// Issue "field configurations", item 1: the address handed to the next
// hop keeps the case the sender wrote, local part and domain; the host
// the mailer connects to is folded. Checked on sendmail 8.17 -bt:
//   t2.mc    /parse User@Elsewhere.COM      → mailer relay, host smarthost.isp.net, user User@Elsewhere.COM
//   t2.mc    /parse User@Sub.Remote.ORG     → mailer esmtp, host [mx.remote.org], user User@Sub.Remote.ORG
//   t2.mc    /parse Joe@A.Remote.ORG        → mailer smtp, host relay.example.net, user Joe@A.Remote.ORG
//   t2.mc    /parse User@Host.Wild.ORG      → mailer esmtp, host host.inner.wild.org, user User@Host.Wild.ORG
//   t2.mc    /parse Joe@[IPv6:2001:DB8::1]  → mailer esmtp, host [smarthost.isp.net], user Joe@[IPv6:2001:DB8::1]
//   plain.mc /parse MiXed.Case@Sub.Example.ORG. → mailer esmtp, host sub.example.org., user MiXed.Case@Sub.Example.ORG
//   plain.mc /parse "Quoted User"@Host.NET  → mailer esmtp, host host.net., user "Quoted User"@Host.NET
//   plain.mc /parse <@Relay.ORG:User@Host.NET> → mailer esmtp, host host.net., user User@Host.NET
//   plain.mc /parse Joe%Other.NET@GW.Example.COM → mailer esmtp, host other.net., user Joe@Other.NET
// (plain.mc: no mailertable, no SMART_HOST, nocanonify; sendmail prints
// the MX host with its trailing dot, we print it without.)
#[test]
fn next_hop_address_keeps_the_senders_case() {
    check_routes(
        &t2(),
        "
        User@Elsewhere.COM       => relay smarthost.isp.net User@Elsewhere.COM
        User@Sub.Remote.ORG      => esmtp [mx.remote.org] User@Sub.Remote.ORG
        Joe@A.Remote.ORG         => smtp relay.example.net Joe@A.Remote.ORG
        User@Host.Wild.ORG       => esmtp host.inner.wild.org User@Host.Wild.ORG
        Joe@[IPv6:2001:DB8::1]   => esmtp [smarthost.isp.net] Joe@[IPv6:2001:DB8::1]
        ",
    );
    let mut c = Config::new();
    c.hostname = Some("gw.example.com".into());
    c.classes
        .insert("w".into(), vec!["example.com".into(), "localhost".into()]);
    check_routes(
        &site(c, &[]),
        r#"
        MiXed.Case@Sub.Example.ORG.   => esmtp sub.example.org MiXed.Case@Sub.Example.ORG
        "Quoted User"@Host.NET        => esmtp host.net "Quoted User"@Host.NET
        <@Relay.ORG:User@Host.NET>    => esmtp host.net User@Host.NET
        Joe%Other.NET@GW.Example.COM  => esmtp other.net Joe@Other.NET
        "#,
    );
}

#[test]
fn r7_r8_error_actions() {
    let s = t2();
    let transient = |a: &str| match resolve(&s, &Address::parse(a).unwrap()).unwrap().0 {
        Resolution::Error(e) => e.is_transient(),
        r => panic!("{r:?}"),
    };
    assert!(!transient("user@bad.example"), "a 5xx error: refuses");
    assert!(transient("user@tmp.example"), "a 4xx error: asks to retry");
}

// Checked on sendmail 8.17 (-bt /parse, t2.mc): `user@[127.0.0.1]` is
// local ($=w holds the loopback literal); source routes are pruned;
// `u%x.org@gw.example.com` is rerouted to u@x.org; `USER@Example.COM` is
// `mailer local, user user` (the local mailer has no F=u; issue 15).
#[test]
fn literals_routes_and_percent_hack() {
    check_routes(
        &t2(),
        "
        user@[127.0.0.1]             => local - user
        <@a.org:u@b.org>             => relay smarthost.isp.net u@b.org
        <@gw.example.com,@a.org:u@b.org> => relay smarthost.isp.net u@b.org
        u%x.org@gw.example.com       => relay smarthost.isp.net u@x.org
        USER@Example.COM             => local - user
        <>                           => error 553 5.1.3 User address required
        ",
    );
}

// Checked on sendmail 8.17 (-bs RCPT TO with these mailertable entries).
#[test]
fn error_mailer_replies() {
    let s = site(
        t2_config(),
        &[(
            "mailertable",
            "kw.example error:nouser:User unknown\n\
             kw2.example error:nouser:550 No such one\n\
             kw3.example error:Plain text only\n\
             kw4.example error:450 busy now\n\
             kw5.example error:tempfail:Try again\n\
             pct.example esmtp:%1.x.org\n\
             pct2.example esmtp:%0.x.org\n\
             nocolon.example relay.other.net\n\
             . relay:smarthost.isp.net\n",
        )],
    );
    check_routes(
        &s,
        "
        u@kw.example      => error 553 5.3.0 User unknown
        u@kw2.example     => error 550 5.0.0 No such one
        u@kw3.example     => error 553 5.3.0 Plain text only
        u@kw4.example     => error 450 4.0.0 busy now
        u@kw5.example     => error 553 5.3.0 Try again
        u@pct.example     => esmtp .x.org u@pct.example
        u@pct2.example    => esmtp pct2.example.x.org u@pct2.example
        u@nocolon.example => relay smarthost.isp.net u@nocolon.example
        ",
    );
}

// Issue "field configurations", item 6: mailertable `error:` texts are
// spaced the way sendmail's tokenizer rebuilds them. Checked on sendmail
// 8.17 -bs (RCPT TO) and -bt (/parse) with these mailertable lines:
//   error:5.7.1:550 No mail, for m1.example (ever) → 550 5.7.1 <u@m1.example>... No mail,for m1.example
//   error:550 Go  away;now                         → 550 5.0.0 <u@m2.example>... Go away;now
//   error:5.1.2:"550 Quoted,  mail"                → 550 5.1.2 <u@m3.example>... Quoted,  mail
//   error:nouser:User unknown, sorry               → 553 5.3.0 <u@m4.example>... User unknown,sorry
//   error:5.7.1:550 a@b <c> d/e                    → 550 5.7.1 <u@m5.example>... a@b<c
// and a text sendmail cannot tokenize is refused naming the value (issue 15):
//   error:5.7.1:550 a > b                          → 553 5.0.0 error:5.7.1:550 a > b... Unbalanced '>'
//   error:550 a ( b                                → 553 5.0.0 error:550 a ( b... Unbalanced '('
#[test]
fn mailertable_error_texts_are_spaced_as_sendmail_tokenizes_them() {
    let s = site(
        t2_config(),
        &[(
            "mailertable",
            "m1.example error:5.7.1:550 No mail, for m1.example (ever)\n\
             m2.example error:550 Go  away;now\n\
             m3.example error:5.1.2:\"550 Quoted,  mail\"\n\
             m4.example error:nouser:User unknown, sorry\n\
             m5.example error:5.7.1:550 a@b <c> d/e\n\
             m6.example error:5.7.1:550 a > b\n\
             m7.example error:550 a ( b\n",
        )],
    );
    check_routes(
        &s,
        "
        u@m1.example => error 550 5.7.1 No mail,for m1.example
        u@m2.example => error 550 5.0.0 Go away;now
        u@m3.example => error 550 5.1.2 Quoted,  mail
        u@m4.example => error 553 5.3.0 User unknown,sorry
        u@m5.example => error 550 5.7.1 a@b<c
        u@m6.example => error 553 5.0.0 error:5.7.1:550 a > b... Unbalanced '>'
        u@m7.example => error 553 5.0.0 error:550 a ( b... Unbalanced '('
        ",
    );
}

#[test]
fn a_route_to_a_mailer_mxgate_has_not_is_refused() {
    // sendmail 8.17, `sendmail -bt` `/parse u@cyrus.example` with the
    // mailertable entry `cyrus.example cyrus:hub.example` and no
    // MAILER(`cyrus'): "buildaddr: unknown mailer cyrus", mailer *error*.
    // mxgate sent such mail over SMTP to the host instead.
    let s = site(
        t2_config(),
        &[(
            "mailertable",
            "cyrus.example cyrus:hub.example\n\
             proc.example procmail:/etc/procmailrc\n",
        )],
    );
    check_routes(
        &s,
        "
        u@cyrus.example => error 554 5.3.5 buildaddr: unknown mailer cyrus
        u@proc.example => error 554 5.3.5 buildaddr: unknown mailer procmail
        ",
    );
}

#[test]
fn mailertable_rhs_forms_and_fallbacks() {
    let mut c = t2_config();
    c.relays.smart_host = None;
    let s = site(
        c,
        &[(
            "mailertable",
            "user.example esmtp:postmaster@central.example.net\n\
             lit.example smtp:[192.168.10.25]\n\
             mx.example esmtp:mail.mx.example\n",
        )],
    );
    check_routes(
        &s,
        "
        joe@user.example   => esmtp central.example.net postmaster@central.example.net
        joe@lit.example    => smtp [192.168.10.25] joe@lit.example
        joe@mx.example     => esmtp mail.mx.example joe@mx.example
        joe@Other.ORG.     => esmtp other.org joe@Other.ORG
        joe@[192.0.2.9]    => esmtp [192.0.2.9] joe@[192.0.2.9]
        ",
    );
}

#[test]
fn smart_host_forms() {
    for (smart, want) in [
        ("esmtp:[hub.x]", "esmtp [hub.x] u@far.org"),
        ("hub.x", "relay hub.x u@far.org"),
        ("[hub.x]", "relay [hub.x] u@far.org"),
        // SMART_HOST naming this host: "delete local host", MX delivery.
        ("gw.example.com", "esmtp far.org u@far.org"),
    ] {
        let mut c = t2_config();
        c.features.remove("mailertable");
        c.relays.smart_host = Some(smart.into());
        assert_eq!(route_of(&site(c, &[]), "u@far.org"), want, "{smart}");
    }
    // Literals: SMART_HOST without a mailer uses esmtp, not relay.
    let mut c = t2_config();
    c.relays.smart_host = Some("hub.x".into());
    assert_eq!(
        route_of(&site(c, &[]), "u@[192.0.2.1]"),
        "esmtp hub.x u@[192.0.2.1]"
    );
}

// Checked on sendmail 8.17 (-bt /parse, t5.mc with FEATURE(virtusertable)).
#[test]
fn virtusertable() {
    let mut c = t2_config();
    c.features.insert("virtusertable".into(), vec![]);
    c.classes
        .insert("VirtHost".into(), vec!["virt.example.org".into()]);
    let s = site(
        c,
        &[
            ("mailertable", SPEC_MAILERTABLE),
            (
                "virtuser",
                "info@example.com alice\n\
                 sales@example.com bob@remote.org\n\
                 bad@example.com error:nouser 550 No such user here\n\
                 joe+*@example.com joe-%2\n\
                 @example.com catch-%1\n\
                 @virt.example.org %1@sub.remote.org\n",
            ),
        ],
    );
    check_routes(
        &s,
        "
        info@example.com     => local - alice
        sales@example.com    => relay smarthost.isp.net bob@remote.org
        bad@example.com      => error 550 5.0.0 No such user here
        joe+x@example.com    => local - joe-x
        zz@example.com       => local - catch-zz
        zz@gw.example.com    => local - zz
        ann@virt.example.org => esmtp [mx.remote.org] ann@sub.remote.org
        ",
    );
}

#[test]
fn virtuser_loop_is_broken() {
    let mut c = t2_config();
    c.features.insert("virtusertable".into(), vec![]);
    let s = site(
        c,
        &[(
            "virtuser",
            "a@example.com b@example.com\nb@example.com a@example.com\n",
        )],
    );
    assert!(route_of(&s, "a@example.com").starts_with("error 554 5.3.0"));
}

fn relays_config() -> Config {
    let mut c = t2_config();
    c.relays.smart_host = None;
    c.features.remove("mailertable");
    c
}

fn with_users(c: Config) -> Site {
    site(
        c,
        &[
            ("mailboxes", "alice OK\nbob DISABLED\n"),
            ("aliases", "staff alice\n"),
        ],
    )
}

// ruleset 5 (localaddr), sendmail 8.17 cf rules (t5.mc / t6.mc).
#[test]
fn luser_relay_mail_hub_local_relay() {
    let mut c = relays_config();
    c.relays.luser_relay = Some("luser.example.net".into());
    check_routes(
        &with_users(c.clone()),
        "
        alice@example.com   => local - alice
        bob                 => local - bob
        staff               => local - staff
        nobody              => relay luser.example.net nobody@luser.example.net
        nobody+tag          => relay luser.example.net nobody+tag@luser.example.net
        ",
    );
    c.relays.mail_hub = Some("esmtp:[hub.example.net]".into());
    c.relays.local_relay = Some("lrelay.example.net".into());
    check_routes(
        &with_users(c.clone()),
        "
        nobody              => relay luser.example.net nobody@luser.example.net
        alice@example.com   => esmtp [hub.example.net] alice@[hub.example.net]
        staff               => local - staff
        ",
    );
    c.relays.luser_relay = None;
    c.relays.mail_hub = None;
    c.classes.insert("L".into(), vec!["root".into()]);
    check_routes(
        &with_users(c.clone()),
        "
        alice               => relay lrelay.example.net alice@lrelay.example.net
        alice@example.com   => relay lrelay.example.net alice@lrelay.example.net
        root                => local - root
        ",
    );
    // stickyhost: user@$=w keeps its host and goes to MAIL_HUB only;
    // unqualified names still see LOCAL_RELAY.
    c.features.insert("stickyhost".into(), vec![]);
    c.relays.mail_hub = Some("hub.example.net".into());
    check_routes(
        &with_users(c.clone()),
        "
        alice@example.com   => relay hub.example.net alice@example.com
        alice               => relay hub.example.net alice@hub.example.net
        ",
    );
    c.relays.mail_hub = None;
    check_routes(
        &with_users(c),
        "
        alice@example.com   => local - alice
        alice               => relay lrelay.example.net alice@lrelay.example.net
        ",
    );
}

#[test]
fn local_user_checks() {
    use mxgate::route::check_local_user;
    let s = with_users(relays_config());
    let r = |u: &str| {
        check_local_user(&s, u)
            .unwrap()
            .map(|e| format!("{} {} {}", e.code, e.status_or_class(), e.text()))
    };
    assert_eq!(r("alice"), None);
    assert_eq!(r("staff"), None);
    assert_eq!(r("alice+x"), None);
    assert_eq!(r("bob").unwrap(), "550 5.2.1 Mailbox temporarily disabled");
    assert_eq!(r("nobody").unwrap(), "550 5.1.1 User unknown");
}

// Issue "field configurations", item 4: every name in $=w is masqueraded,
// `localhost` included, and header addresses keep their angle brackets
// and comments. Checked on sendmail 8.17 -bt (t2.mc, $=w = localhost,
// gw.example.com, example.com; /tryflags HS, /try esmtp ADDR → Rcode 0, addr):
//   joe@localhost                   → joe@masq.example.com
//   joe@example.com                 → joe@masq.example.com
//   joe@LocalHost                   → joe@masq.example.com
//   Joe User <joe@localhost>        → Joe User <joe@masq.example.com>
//   joe@gw.example.com (Joe User)   → joe@masq.example.com (Joe User)
//   "Joe Q" <joe@example.com>       → "Joe Q" <joe@masq.example.com>
//   <joe@gw.example.com>            → <joe@masq.example.com>
//   joe@[127.0.0.1]                 → joe@masq.example.com
//   root@localhost                  → root@gw.example.com   (exposed; localhost is $j)
//   Root <root>                     → Root <root@gw.example.com>
//   joe@elsewhere.com (Joe)         → joe@elsewhere.com (Joe)
//   Joe <joe@other.example.com>     → Joe <joe@masq.example.com>
//   /try local joe@localhost        → joe@masq.example.com
// /tryflags ES: joe@localhost → joe@gw.example.com; joe → joe@gw.example.com.
// Issue 15 (fidelity): `localhost.` with its trailing dot is not turned
// into `$j` (ruleset 3's localhost rules do not match it), only the dot is
// dropped; it is still in $=w, so MASQUERADE_AS applies where it would.
// Checked on sendmail 8.17 -bt (t2.mc, /tryflags XX, /try esmtp ADDR):
//   HS joe@localhost.              → joe@masq.example.com
//   HS Joe <joe@localhost.>        → Joe <joe@masq.example.com>
//   HS joe@LocalHost.              → joe@masq.example.com
//   HS root@localhost.             → root@localhost         (exposed; no `$j`)
//   HS Root <root@LocalHost.>      → Root <root@LocalHost>
//   HS root@localhost.example.com. → root@localhost.example.com
//   HS root@localhost.example.com  → root@gw.example.com    (no dot: `$j`)
//   HS joe@gw.example.com.         → joe@masq.example.com
//   ES joe@localhost.              → joe@localhost
//   ES Joe@LocalHost.              → Joe@LocalHost
//   ES joe@localhost.example.com.  → joe@localhost.example.com
//   ES joe@gw.example.com.         → joe@gw.example.com
//   HR joe@localhost., ER joe@localhost. → joe@localhost
//   HR Joe@LocalHost., ER Joe@LocalHost. → Joe@LocalHost
//   HR joe@localhost, ER joe@localhost   → joe@gw.example.com
//   /try local joe@localhost. (HS)       → joe@masq.example.com
#[test]
fn localhost_with_a_trailing_dot_is_not_rewritten_as_this_host() {
    let s = t2();
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        "
        joe@localhost.              => joe@masq.example.com
        Joe <joe@localhost.>        => Joe <joe@masq.example.com>
        joe@LocalHost.              => joe@masq.example.com
        root@localhost.             => root@localhost
        Root <root@LocalHost.>      => Root <root@LocalHost>
        root@localhost.example.com. => root@localhost.example.com
        root@localhost.example.com  => root@gw.example.com
        joe@gw.example.com.         => joe@masq.example.com
        ",
    );
    check_masq(
        &s,
        Field::HeaderSender,
        "local",
        "joe@localhost. => joe@masq.example.com",
    );
    check_masq(
        &s,
        Field::EnvelopeSender,
        "esmtp",
        "
        joe@localhost.             => joe@localhost
        Joe@LocalHost.             => Joe@LocalHost
        joe@localhost.example.com. => joe@localhost.example.com
        joe@gw.example.com.        => joe@gw.example.com
        ",
    );
    for field in [Field::HeaderRecipient, Field::EnvelopeRecipient] {
        check_masq(
            &s,
            field,
            "esmtp",
            "
            joe@localhost. => joe@localhost
            Joe@LocalHost. => Joe@LocalHost
            joe@localhost  => joe@gw.example.com
            ",
        );
    }
}

// Issue 15 (fidelity): the relay mailer sends a UUCP path in recipients as
// a path. Checked on sendmail 8.17 -bt (t2.mc, /tryflags XX, /try MAILER ADDR):
//   HR relay host!user                 → host!user
//   HR relay Joe <host!user>           → Joe <host!user>
//   HR relay host!user@gw.example.com  → host!user@gw.example.com
//   HR relay a.org!b.org!user          → b.org!user@a.org
//   HR relay joe                       → joe@gw.example.com
//   HR relay joe@elsewhere.com         → joe@elsewhere.com
//   HR esmtp host!user                 → host!user@gw.example.com
//   ER relay host!user                 → host!user
//   ER relay joe                       → joe@gw.example.com
//   HS relay host!user                 → host!user@masq.example.com
//   ES relay host!user                 → host!user@gw.example.com
#[test]
fn relay_mailer_sends_uucp_recipients_as_paths() {
    let s = t2();
    check_masq(
        &s,
        Field::HeaderRecipient,
        "relay",
        "
        host!user                => host!user
        Joe <host!user>          => Joe <host!user>
        host!user@gw.example.com => host!user@gw.example.com
        a.org!b.org!user         => b.org!user@a.org
        joe                      => joe@gw.example.com
        joe@elsewhere.com        => joe@elsewhere.com
        ",
    );
    check_masq(
        &s,
        Field::HeaderRecipient,
        "esmtp",
        "host!user => host!user@gw.example.com",
    );
    check_masq(
        &s,
        Field::EnvelopeRecipient,
        "relay",
        "
        host!user => host!user
        joe       => joe@gw.example.com
        ",
    );
    check_masq(
        &s,
        Field::HeaderSender,
        "relay",
        "host!user => host!user@masq.example.com",
    );
    check_masq(
        &s,
        Field::EnvelopeSender,
        "relay",
        "host!user => host!user@gw.example.com",
    );
}

#[test]
fn masquerade_every_local_name_and_keep_header_syntax() {
    let s = t2();
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        r#"
        joe@localhost                 => joe@masq.example.com
        joe@example.com               => joe@masq.example.com
        joe@LocalHost                 => joe@masq.example.com
        Joe User <joe@localhost>      => Joe User <joe@masq.example.com>
        joe@gw.example.com (Joe User) => joe@masq.example.com (Joe User)
        "Joe Q" <joe@example.com>     => "Joe Q" <joe@masq.example.com>
        <joe@gw.example.com>          => <joe@masq.example.com>
        joe@[127.0.0.1]               => joe@masq.example.com
        root@localhost                => root@gw.example.com
        Root <root>                   => Root <root@gw.example.com>
        joe@elsewhere.com (Joe)       => joe@elsewhere.com (Joe)
        Joe <joe@other.example.com>   => Joe <joe@masq.example.com>
        "#,
    );
    check_masq(
        &s,
        Field::HeaderSender,
        "local",
        "joe@localhost => joe@masq.example.com",
    );
    check_masq(
        &s,
        Field::EnvelopeSender,
        "esmtp",
        "
        joe@localhost => joe@gw.example.com
        joe           => joe@gw.example.com
        ",
    );
    // Addresses no rule rewrites keep the sender's spelling (sendmail 8.17
    // -bt, t2.mc): ES `Joe@Elsewhere.COM` → `Joe@Elsewhere.COM`,
    // `Joe@Example.COM` → `Joe@Example.COM`, `Joe@LocalHost` →
    // `Joe@gw.example.com`, `Joe@Other.Example.COM` → unchanged; HS
    // `Joe <Joe@Elsewhere.COM>` and `Joe@Sub.Other.Example.COM` unchanged;
    // HR and ER `Bob@Elsewhere.COM` unchanged.
    check_masq(
        &s,
        Field::EnvelopeSender,
        "esmtp",
        "
        Joe@Elsewhere.COM     => Joe@Elsewhere.COM
        Joe@Example.COM       => Joe@Example.COM
        Joe@LocalHost         => Joe@gw.example.com
        Joe@Other.Example.COM => Joe@Other.Example.COM
        ",
    );
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        "
        Joe <Joe@Elsewhere.COM>   => Joe <Joe@Elsewhere.COM>
        Joe@Sub.Other.Example.COM => Joe@Sub.Other.Example.COM
        ",
    );
    check_masq(
        &s,
        Field::HeaderRecipient,
        "esmtp",
        "Bob@Elsewhere.COM => Bob@Elsewhere.COM",
    );
    check_masq(
        &s,
        Field::EnvelopeRecipient,
        "esmtp",
        "Bob@Elsewhere.COM => Bob@Elsewhere.COM",
    );
    let msg = b"From: Joe User <joe@localhost>\r\nSender: root@localhost (Root)\r\n\r\nbody\r\n";
    let out = mxgate::rewrite::headers(&s, msg, "esmtp").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "From: Joe User <joe@masq.example.com>\r\nSender: root@gw.example.com (Root)\r\n\r\nbody\r\n"
    );
}

// Q1–Q14, checked on sendmail 8.17 (-bt /tryflags + /try esmtp, t2/t3.mc).
#[test]
fn spec_q1_to_q14() {
    let base = t2();
    check_masq(
        &base,
        Field::HeaderSender,
        "esmtp",
        "
        joe@gw.example.com         => joe@masq.example.com
        joe                        => joe@masq.example.com
        root@gw.example.com        => root@gw.example.com
        joe@other.example.com      => joe@masq.example.com
        joe@sub.other.example.com  => joe@sub.other.example.com
        joe@elsewhere.com          => joe@elsewhere.com
        ",
    );
    check_masq(
        &base,
        Field::EnvelopeSender,
        "esmtp",
        "
        joe@gw.example.com => joe@gw.example.com
        joe                => joe@gw.example.com
        ",
    );
    check_masq(
        &base,
        Field::HeaderRecipient,
        "esmtp",
        "joe@gw.example.com => joe@gw.example.com",
    );
    check_masq(
        &base,
        Field::HeaderSender,
        "local",
        "joe@gw.example.com => joe@masq.example.com",
    );
    let mut c = t2_config();
    for f in [
        "masquerade_entire_domain",
        "masquerade_envelope",
        "allmasquerade",
    ] {
        c.features.insert(f.into(), vec![]);
    }
    let t3 = site(c, &[]);
    check_masq(
        &t3,
        Field::HeaderSender,
        "esmtp",
        "joe@sub.other.example.com => joe@masq.example.com",
    );
    check_masq(
        &t3,
        Field::EnvelopeSender,
        "esmtp",
        "joe@gw.example.com => joe@masq.example.com",
    );
    check_masq(
        &t3,
        Field::HeaderRecipient,
        "esmtp",
        "joe@gw.example.com => joe@masq.example.com",
    );
    check_masq(
        &t3,
        Field::EnvelopeRecipient,
        "esmtp",
        "joe@gw.example.com => joe@gw.example.com",
    );
}

// Feature rules read from the generated cf (t7.mc: limited_masquerade,
// local_no_masquerade, always_add_domain, MASQUERADE_EXCEPTION).
#[test]
fn masquerade_features() {
    let mut c = t2_config();
    c.classes
        .insert("N".into(), vec!["nomasq.gw.example.com".into()]);
    c.classes
        .get_mut("w")
        .unwrap()
        .push("nomasq.gw.example.com".into());
    let s = site(c.clone(), &[]);
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        "joe@nomasq.gw.example.com => joe@nomasq.gw.example.com",
    );
    check_masq(
        &s,
        Field::EnvelopeRecipient,
        "local",
        "joe@gw.example.com => joe",
    );
    check_masq(&s, Field::HeaderRecipient, "local", "joe => joe");
    check_masq(
        &s,
        Field::HeaderSender,
        "relay",
        "joe => joe@masq.example.com",
    );
    check_masq(
        &s,
        Field::HeaderRecipient,
        "relay",
        "joe => joe@gw.example.com",
    );

    let mut lim = c.clone();
    lim.features.insert("limited_masquerade".into(), vec![]);
    check_masq(
        &site(lim, &[]),
        Field::HeaderSender,
        "esmtp",
        "
        joe@gw.example.com    => joe@gw.example.com
        joe@other.example.com => joe@masq.example.com
        joe                   => joe@masq.example.com
        ",
    );
    let mut loc = c.clone();
    loc.features.insert("local_no_masquerade".into(), vec![]);
    loc.features.insert("always_add_domain".into(), vec![]);
    let s = site(loc, &[]);
    check_masq(
        &s,
        Field::HeaderSender,
        "local",
        "joe@gw.example.com => joe@gw.example.com",
    );
    check_masq(
        &s,
        Field::HeaderSender,
        "local",
        "joe => joe@gw.example.com",
    );
    check_masq(
        &s,
        Field::HeaderRecipient,
        "local",
        "joe => joe@gw.example.com",
    );
    let mut add = c;
    add.features.insert("always_add_domain".into(), vec![]);
    check_masq(
        &site(add, &[]),
        Field::HeaderSender,
        "local",
        "joe => joe@masq.example.com",
    );
    // No MASQUERADE_AS: unqualified names get $j.
    let mut none = t2_config();
    none.masquerade_as = None;
    check_masq(
        &site(none, &[]),
        Field::HeaderSender,
        "esmtp",
        "joe => joe@gw.example.com",
    );
}

#[test]
fn genericstable() {
    let mut c = t2_config();
    c.features.insert("genericstable".into(), vec![]);
    c.classes.insert("G".into(), vec!["example.com".into()]);
    let s = site(
        c.clone(),
        &[(
            "generics",
            "joe Joe.Public@pub.example.net\n\
             ann@example.com Ann.Smith@example.com\n\
             bob bobby\n\
             @example.com %1@generic.example.com\n",
        )],
    );
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        "
        joe                  => Joe.Public@pub.example.net
        ann@example.com      => Ann.Smith@example.com
        bob                  => bobby@masq.example.com
        zed@example.com      => zed@generic.example.com
        joe@gw.example.com   => joe@masq.example.com
        joe@elsewhere.com    => joe@elsewhere.com
        ",
    );
    check_masq(
        &s,
        Field::EnvelopeSender,
        "esmtp",
        "joe => joe@gw.example.com",
    );
    c.features.insert("generics_entire_domain".into(), vec![]);
    let s = site(c, &[("generics", "@sub.example.com x-%1@example.com\n")]);
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        "u@sub.example.com => x-u@example.com",
    );
}

fn expand_of(s: &Site, addr: &str) -> String {
    match alias::expand(s, &Address::parse(addr).unwrap()) {
        Ok(x) => {
            let t: Vec<String> = x.targets.iter().map(|t| t.to_string()).collect();
            match x.owner {
                Some(o) => format!("{} (owner {o})", t.join(", ")),
                None => t.join(", "),
            }
        }
        Err(e) => {
            let r = e.reply();
            format!("error {} {} {}", r.code, r.status_or_class(), r.text())
        }
    }
}

#[test]
fn alias_expansion() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("list.inc");
    std::fs::write(&inc, "# members\ndave, erin@remote.org\nalice\n").unwrap();
    let aliases = format!(
        "postmaster root\n\
         root root, admin@remote.org\n\
         staff alice, bob,\tcarol\n\
         owner-staff admin\n\
         prog \"|/usr/bin/logger -t mail\"\n\
         filer /var/mail/filer\n\
         inc :include:{}\n\
         missing :include:{}/nope\n\
         back \\alice, staff\n\
         loop1 loop2\nloop2 loop3\nloop3 loop1\n\
         mixed dave\n\
         plus+* plusbox\n",
        inc.display(),
        dir.path().display()
    );
    let s = site(t2_config(), &[("aliases", &aliases)]);
    for (addr, want) in [
        ("postmaster", "root, admin@remote.org"),
        ("root@gw.example.com", "root, admin@remote.org"),
        ("staff", "alice, bob, carol (owner owner-staff)"),
        ("prog", "|/usr/bin/logger -t mail"),
        ("filer", "/var/mail/filer"),
        ("inc", "dave, erin@remote.org, alice"),
        ("back", "alice, bob, carol"),
        ("Mixed@example.com", "dave"),
        ("plus+x", "plusbox"),
        ("nobody", "nobody"),
        ("staff@elsewhere.com", "staff@elsewhere.com"),
        ("loop1", "error 554 5.3.0 aliasing/forwarding loop broken"),
    ] {
        assert_eq!(expand_of(&s, addr), want, "expand {addr}");
    }
    assert!(expand_of(&s, "missing").starts_with("error 451 4.3.0 Cannot open"));
}

// The three mission roles.
#[test]
fn role_gateway() {
    let mut c = Config::new();
    c.hostname = Some("gw.example.gr.jp".into());
    c.features.insert("mailertable".into(), vec![]);
    let s = site(
        c,
        &[(
            "mailertable",
            ".example.gr.jp smtp:[dist-in.example.gr.jp]\n",
        )],
    );
    check_routes(
        &s,
        "
        user@sub1.example.gr.jp => smtp [dist-in.example.gr.jp] user@sub1.example.gr.jp
        user@www.sub2.example.gr.jp => smtp [dist-in.example.gr.jp] user@www.sub2.example.gr.jp
        user@example.org        => esmtp example.org user@example.org
        postmaster              => local - postmaster
        ",
    );
}

#[test]
fn role_hub() {
    let mut c = Config::new();
    c.hostname = Some("dist-in.example.gr.jp".into());
    c.features.insert("mailertable".into(), vec![]);
    c.relays.smart_host = Some("smtp:[gw.example.gr.jp]".into());
    let s = site(
        c,
        &[(
            "mailertable",
            "sub1.example.gr.jp smtp:[mbox1.example.gr.jp]\n\
             sub2.example.gr.jp smtp:[192.168.10.25]\n",
        )],
    );
    check_routes(
        &s,
        "
        user@sub1.example.gr.jp => smtp [mbox1.example.gr.jp] user@sub1.example.gr.jp
        user@sub2.example.gr.jp => smtp [192.168.10.25] user@sub2.example.gr.jp
        user@example.org        => smtp [gw.example.gr.jp] user@example.org
        ",
    );
    let v = mxgate::testmode::route::route(
        &s,
        &serde_json::json!({"kind":"route","addr":"user@sub1.example.gr.jp"}),
    )
    .unwrap();
    assert_eq!(v["mailer"], "smtp");
    assert_eq!(v["host"], "[mbox1.example.gr.jp]");
    assert_eq!(v["user"], "user@sub1.example.gr.jp");
}

#[test]
fn role_mbox() {
    let mut c = Config::new();
    c.hostname = Some("mbox1.example.gr.jp".into());
    c.classes
        .insert("w".into(), vec!["sub1.example.gr.jp".into()]);
    c.classes.insert("E".into(), vec!["root".into()]);
    c.relays.smart_host = Some("smtp:[dist-in.example.gr.jp]".into());
    c.masquerade_as = Some("example.gr.jp".into());
    c.features.insert("masquerade_envelope".into(), vec![]);
    let s = site(c, &[]);
    check_routes(
        &s,
        "
        user@mbox1.example.gr.jp => local - user
        user@sub1.example.gr.jp  => local - user
        user                     => local - user
        friend@example.org       => smtp [dist-in.example.gr.jp] friend@example.org
        ",
    );
    for f in [Field::HeaderSender, Field::EnvelopeSender] {
        check_masq(
            &s,
            f,
            "smtp",
            "
            user@mbox1.example.gr.jp => user@example.gr.jp
            user                     => user@example.gr.jp
            root@mbox1.example.gr.jp => root@mbox1.example.gr.jp
            root                     => root@mbox1.example.gr.jp
            friend@example.org       => friend@example.org
            ",
        );
    }
    // Foreign recipients never get the local domain.
    check_masq(
        &s,
        Field::EnvelopeRecipient,
        "smtp",
        "friend@example.org => friend@example.org",
    );
}

#[test]
fn testmode_json_shapes() {
    use mxgate::testmode::route as tm;
    use serde_json::json;
    let s = t2();
    let v = tm::route(&s, &json!({"kind":"route","addr":"user@bad.example"})).unwrap();
    assert_eq!(v["mailer"], "error");
    assert_eq!(v["action"], "reject");
    assert_eq!(v["smtp_code"], 550);
    assert_eq!(v["enhanced_code"], "5.7.1");
    assert_eq!(v["text"], "No mail for bad.example");
    assert!(v["why"].as_str().unwrap().contains("bad.example"));
    let v = tm::route(&s, &json!({"kind":"route","addr":"user@tmp.example"})).unwrap();
    assert_eq!(v["action"], "tempfail");
    let v = tm::route(&s, &json!({"kind":"route","addr":"user"})).unwrap();
    assert_eq!(v["host"], serde_json::Value::Null);
    let v = tm::masquerade(
        &s,
        &json!({"kind":"masquerade","where":"header-sender","addr":"joe","mailer":"esmtp"}),
    )
    .unwrap();
    assert_eq!(v["address"], "joe@masq.example.com");
    let s = site(
        t2_config(),
        &[("aliases", "staff a, b\nowner-staff admin\n")],
    );
    let v = tm::expand(&s, &json!({"kind":"expand","addr":"staff"})).unwrap();
    assert_eq!(v["targets"], json!(["a", "b"]));
    assert_eq!(v["owner"], "owner-staff");
}

/// FEATURE(`domaintable') with the table and mailertable used to check it
/// on sendmail 8.17.1.9 (Debian 12): `sendmail -bt` with `3,0`, `/parse`
/// and `/try` (run in a UTS namespace with host name gw.example.com),
/// `hash` maps built by sendmail's makemap, `LOCAL_DOMAIN(example.com)`.
const DOMAINTABLE: &str = "\
old.example       new.example
Old-Corp.COM      example.com
sub.old2.example  new2.example
.old3.example     new3.example
mixed.example     New.Mixed.Example
chain1.example    chain2.example
chain2.example    chain3.example
";

fn domaintable_site() -> Site {
    let mut c = Config::new();
    c.hostname = Some("gw.example.com".into());
    c.classes
        .insert("w".into(), vec!["example.com".into(), "localhost".into()]);
    c.features.insert("domaintable".into(), vec![]);
    c.features.insert("mailertable".into(), vec![]);
    let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
    let mut dt = MemTable::new();
    for line in DOMAINTABLE.lines() {
        let (k, v) = line.split_once(' ').unwrap();
        // makemap folds keys to lower case (no -f).
        dt.insert(&k.to_ascii_lowercase(), v.trim());
    }
    t.insert("domaintable".into(), Arc::new(dt));
    t.insert(
        "mailertable".into(),
        Arc::new(MemTable::from_lines("new.example esmtp:[mx.new.example]\n")),
    );
    Site::from_parts(c, t).unwrap()
}

// Every line checked on sendmail 8.17 (`/parse`); sendmail keeps the
// value's case (`New.Mixed.Example`), mxgate's hosts are lower case.
// Exact keys only: no parent walk, a leading-dot key never matches; the
// value is not looked up again (chain1 → chain2, not chain3); literals are
// not looked up; the `%` hack on a local host canonifies again.
#[test]
fn domaintable_rewrites_the_host_before_routing() {
    check_routes(
        &domaintable_site(),
        "
        u@old.example          => esmtp [mx.new.example] u@new.example
        u@OLD.Example          => esmtp [mx.new.example] u@new.example
        u@x.old.example        => esmtp x.old.example u@x.old.example
        u@old-corp.com         => local - u
        u@sub.old2.example     => esmtp new2.example u@new2.example
        u@old2.example         => esmtp old2.example u@old2.example
        u@a.old3.example       => esmtp a.old3.example u@a.old3.example
        u@old3.example         => esmtp old3.example u@old3.example
        u@mixed.example        => esmtp new.mixed.example u@new.mixed.example
        u@chain1.example       => esmtp chain2.example u@chain2.example
        u@[192.0.2.1]          => esmtp [192.0.2.1] u@[192.0.2.1]
        u%old.example@gw.example.com => esmtp [mx.new.example] u@new.example
        u%old.example@relay.example  => esmtp relay.example u%old.example@relay.example
        ",
    );
    let (_, why) = resolve(
        &domaintable_site(),
        &Address::parse("u@old.example").unwrap(),
    )
    .unwrap();
    assert!(
        why.to_string()
            .starts_with("domaintable `old.example` matched: host rewritten to `new.example`"),
        "{why}"
    );
}

// Checked on sendmail 8.17 (`/tryflags ES`, `HS`, `HR`; `/try esmtp
// u@old.example` → `u@new.example` for each): ruleset 3 runs for every
// address, so senders and header addresses are rewritten too.
#[test]
fn domaintable_rewrites_senders_and_headers() {
    let s = domaintable_site();
    for field in [
        Field::EnvelopeSender,
        Field::HeaderSender,
        Field::HeaderRecipient,
        Field::EnvelopeRecipient,
    ] {
        check_masq(
            &s,
            field,
            "esmtp",
            "
            u@old.example   => u@new.example
            u@x.old.example => u@x.old.example
            ",
        );
    }
    let msg = b"From: A <a@old.example>\r\nTo: b@x.old.example, c@Old-Corp.com\r\nSubject: old.example\r\n\r\nbody old.example\r\n";
    let out = mxgate::rewrite::headers(&s, msg, "esmtp").unwrap().unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("From: A <a@new.example>\r\n"), "{out}");
    assert!(
        out.contains("To: b@x.old.example, c@example.com\r\n"),
        "{out}"
    );
    assert!(out.contains("Subject: old.example\r\n"), "{out}");
}

// Issue "field configurations", item 2: LOCAL_RELAY and `$=L` against
// aliases. sendmail 8.17 expands aliases first and runs ruleset 5 on what
// they expand to; a `$=L` name is exempt, `user+detail` is not in `$=L`.
// Checked on sendmail 8.17 -bv (lr2.mc: LOCAL_RELAY lrelay.example.net,
// LOCAL_USER root alice, nocanonify; aliases root: admin, postmaster: root,
// staff: alice, bob, carol):
//   staff      → alice... (local: User unknown, no passwd entry)
//                bob... deliverable: mailer relay, host lrelay.example.net, user bob@lrelay.example.net
//                carol... deliverable: mailer relay, host lrelay.example.net, user carol@lrelay.example.net
//   staff+x    → the same three
//   root       → admin... deliverable: mailer relay, host lrelay.example.net, user admin@lrelay.example.net
//   root@gw.example.com, postmaster → the same
//   alice      → alice... (local)
//   alice+foo  → alice+foo... deliverable: mailer relay, host lrelay.example.net, user alice+foo@lrelay.example.net
//   nosuchuser → nosuchuser... deliverable: mailer relay, host lrelay.example.net, user nosuchuser@lrelay.example.net
// and /parse (ruleset 0) answers `mailer local` for all of them (sendmail
// -bt does not expand aliases), as `mxgate test` does.
#[test]
fn local_relay_sees_what_aliases_expand_to() {
    let mut c = relays_config();
    c.relays.local_relay = Some("lrelay.example.net".into());
    c.classes
        .insert("L".into(), vec!["root".into(), "alice".into()]);
    let s = site(
        c,
        &[
            ("mailboxes", "alice OK\nbob OK\ncarol OK\nadmin OK\n"),
            (
                "aliases",
                "root admin\npostmaster root\nstaff alice,bob,carol\n",
            ),
        ],
    );
    let after_aliases = |addr: &str| -> Vec<String> {
        let x = alias::expand(&s, &Address::parse(addr).unwrap()).unwrap();
        x.targets
            .iter()
            .map(|t| match t {
                alias::Target::Local(u) => match mxgate::route::localaddr(&s, u).unwrap().0 {
                    Resolution::Deliver(r) => format!(
                        "{} {} {}",
                        r.mailer,
                        r.host.as_deref().unwrap_or("-"),
                        r.user
                    ),
                    Resolution::Error(e) => format!("error {}", e.text()),
                },
                t => t.to_string(),
            })
            .collect()
    };
    let relayed = |u: &str| format!("relay lrelay.example.net {u}@lrelay.example.net");
    let mut staff = after_aliases("staff");
    staff.sort();
    assert_eq!(
        staff,
        vec![
            "local - alice".to_string(),
            relayed("bob"),
            relayed("carol")
        ]
    );
    let mut staff_x = after_aliases("staff+x");
    staff_x.sort();
    assert_eq!(staff_x, staff);
    for a in ["root", "root@gw.example.com", "postmaster"] {
        assert_eq!(after_aliases(a), vec![relayed("admin")], "{a}");
    }
    check_routes(
        &s,
        "
        alice      => local - alice
        alice+foo  => relay lrelay.example.net alice+foo@lrelay.example.net
        nosuchuser => relay lrelay.example.net nosuchuser@lrelay.example.net
        staff      => local - staff
        root       => local - root
        ",
    );
}

// Issue 15 (fidelity): FEATURE(`nouucp', `reject') and `nospecial' make `!'
// an ordinary character. Checked on sendmail 8.17 -bt (t2.mc plus
// FEATURE(`nouucp', `nospecial'), the same with `reject'; answers equal):
//   /parse host!user                → mailer local, user host!user
//   /parse host!user@gw.example.com → mailer local, user host!user
//   /parse a.org!b.org!user         → mailer local, user a.org!b.org!user
//   /parse host.example.net!user    → mailer local, user host.example.net!user
//   /parse gw.example.com!joe       → mailer local, user gw.example.com!joe
//   /parse [192.0.2.1]!user         → mailer local, user [192.0.2.1]!user
//   /parse host!user@elsewhere.com  → mailer relay, host smarthost.isp.net, user host!user@elsewhere.com
//   /parse host!user%x.org          → mailer relay, host smarthost.isp.net, user host!user@x.org
//   /tryflags HR, /try esmtp host!user and /try relay host!user → host!user@gw.example.com
//   /tryflags HS, /try esmtp host!user             → host!user@masq.example.com
//                 /try esmtp gw.example.com!joe     → gw.example.com!joe@masq.example.com
//                 /try esmtp host.example.net!user  → host.example.net!user@masq.example.com
//   /tryflags ES, /try esmtp host!user             → host!user@gw.example.com
#[test]
fn nouucp_makes_bang_an_ordinary_character() {
    for arg in ["reject", "nospecial"] {
        let mut c = t2_config();
        c.features.insert("nouucp".into(), vec![arg.into()]);
        let s = site(c, &[("mailertable", SPEC_MAILERTABLE)]);
        check_routes(
            &s,
            "
            host!user                => local - host!user
            host!user@gw.example.com => local - host!user
            a.org!b.org!user         => local - a.org!b.org!user
            host.example.net!user    => local - host.example.net!user
            gw.example.com!joe       => local - gw.example.com!joe
            [192.0.2.1]!user         => local - [192.0.2.1]!user
            host!user@elsewhere.com  => relay smarthost.isp.net host!user@elsewhere.com
            host!user%x.org          => relay smarthost.isp.net host!user@x.org
            ",
        );
        for mailer in ["esmtp", "relay"] {
            check_masq(
                &s,
                Field::HeaderRecipient,
                mailer,
                "host!user => host!user@gw.example.com",
            );
        }
        check_masq(
            &s,
            Field::HeaderSender,
            "esmtp",
            "
            host!user             => host!user@masq.example.com
            gw.example.com!joe    => gw.example.com!joe@masq.example.com
            host.example.net!user => host.example.net!user@masq.example.com
            ",
        );
        check_masq(
            &s,
            Field::EnvelopeSender,
            "esmtp",
            "host!user => host!user@gw.example.com",
        );
    }
}

// Issue 15 (fidelity): Debian's MAILER(local) has no F=u, so sendmail hands
// the local mailer the user in lower case, and aliases match in any case.
// Checked on sendmail 8.17 (t2.mc; aliases `Mixed: dave`, `staff: alice,
// bob, carol`, `root: admin`):
//   -bt /parse JOE@gw.example.com     → mailer local, user joe
//   -bt /parse Joe                    → mailer local, user joe
//   -bt /parse JOE+Foo@gw.example.com → mailer local, user joe+foo
//   -bt /parse Mixed                  → mailer local, user mixed
//   -bt /parse ROOT@Example.COM       → mailer local, user root
//   -bt /parse "Quoted User"          → mailer local, user "quoted user"
//   -bt /parse JOE@LocalHost          → mailer local, user joe
//   -bv Mixed, MIXED, mixed → dave... ; -bv Staff → carol, bob, alice ...;
//   -bv ROOT, Postmaster → admin... ; -bv DAEMON → deliverable: mailer local, user daemon
#[test]
fn local_mailer_gets_the_user_in_lower_case() {
    let s = site(
        t2_config(),
        &[
            ("mailertable", SPEC_MAILERTABLE),
            (
                "aliases",
                // Keys as the aliases compiler stores them: folded, as
                // newaliases does (`Mixed: dave` → key `mixed`).
                "mixed dave\nstaff alice, bob, carol\nroot admin\npostmaster root\n",
            ),
        ],
    );
    check_routes(
        &s,
        r#"
        JOE@gw.example.com     => local - joe
        Joe                    => local - joe
        JOE+Foo@gw.example.com => local - joe+foo
        Mixed                  => local - mixed
        ROOT@Example.COM       => local - root
        "Quoted User"          => local - "quoted user"
        JOE@LocalHost          => local - joe
        "#,
    );
    for name in ["Mixed", "MIXED", "mixed"] {
        let exp = mxgate::alias::expand(&s, &Address::parse(name).unwrap()).unwrap();
        assert_eq!(format!("{:?}", exp.targets), "[Local(\"dave\")]", "{name}");
    }
    for (name, first) in [
        ("Staff", "alice"),
        ("ROOT", "admin"),
        ("Postmaster", "admin"),
    ] {
        let exp = mxgate::alias::expand(&s, &Address::parse(name).unwrap()).unwrap();
        assert!(
            format!("{:?}", exp.targets).contains(&format!("Local(\"{first}\")")),
            "{name}: {:?}",
            exp.targets
        );
    }
}

// Issue "field configurations", item 3: UUCP-style `host!user` paths.
// Checked on sendmail 8.17 -bt /parse:
// plain.mc (no mailertable, no SMART_HOST, nocanonify):
//   host!user                 → mailer esmtp, host host.uucp., user host!user@gw.example.com
//   a!b!user                  → mailer esmtp, host a.uucp., user a!b!user@gw.example.com
//   host.example.net!user     → mailer esmtp, host host.example.net., user user@host.example.net
//   host!user@gw.example.com  → mailer esmtp, host host.uucp., user host!user@gw.example.com
//   host!user@remote.example.org → mailer esmtp, host remote.example.org., user host!user@remote.example.org
//   gw.example.com!user       → mailer local, user user
//   localhost!user            → mailer local, user user
//   Host.Example.NET!User     → mailer esmtp, host host.example.net., user User@Host.Example.NET
//   a.org!b.org!user          → mailer esmtp, host a.org., user b.org!user@a.org
//   host!user%x.org           → mailer esmtp, host host.uucp., user host!user%x.org@gw.example.com
//   [192.0.2.1]!user          → mailer *error*, host 5.1.2, user "553 Invalid address"
// test.mc (mailertable with `.` relay:smarthost.isp.net, SMART_HOST):
//   host!user                 → mailer relay, host smarthost.isp.net, user host!user
//   host.example.net!user     → mailer relay, host smarthost.isp.net, user user@host.example.net
//   host!user@gw.example.com  → mailer relay, host smarthost.isp.net, user host!user
//   sub.remote.org!user       → mailer esmtp, host [mx.remote.org], user user@sub.remote.org
//   a!b!user                  → mailer relay, host smarthost.isp.net, user a!b!user
// sh.mc (SMART_HOST esmtp:[smarthost.isp.net] only):
//   host!user                 → mailer esmtp, host [smarthost.isp.net], user host!user@gw.example.com
//   a.org!b.org!user          → mailer esmtp, host [smarthost.isp.net], user b.org!user@a.org
//   Host!User                 → mailer esmtp, host [smarthost.isp.net], user Host!User@gw.example.com
#[test]
fn uucp_bang_paths() {
    let mut c = Config::new();
    c.hostname = Some("gw.example.com".into());
    c.classes
        .insert("w".into(), vec!["example.com".into(), "localhost".into()]);
    check_routes(
        &site(c.clone(), &[]),
        "
        host!user                    => esmtp host.uucp host!user@gw.example.com
        a!b!user                     => esmtp a.uucp a!b!user@gw.example.com
        host.example.net!user        => esmtp host.example.net user@host.example.net
        host!user@gw.example.com     => esmtp host.uucp host!user@gw.example.com
        host!user@remote.example.org => esmtp remote.example.org host!user@remote.example.org
        gw.example.com!user          => local - user
        localhost!user               => local - user
        Host.Example.NET!User        => esmtp host.example.net User@Host.Example.NET
        a.org!b.org!user             => esmtp a.org b.org!user@a.org
        host!user%x.org              => esmtp host.uucp host!user%x.org@gw.example.com
        [192.0.2.1]!user             => error 553 5.1.2 Invalid address
        ",
    );
    // Senders and headers (sendmail 8.17 -bt, t2.mc):
    //   /tryflags HS: host!user → host!user@masq.example.com,
    //     host.example.net!user → user@host.example.net,
    //     gw.example.com!joe → joe@masq.example.com
    //   /tryflags ES: host!user → host!user@gw.example.com,
    //     host.example.net!user → user@host.example.net
    //   /tryflags HR: host!user → host!user@gw.example.com
    let s = t2();
    check_masq(
        &s,
        Field::HeaderSender,
        "esmtp",
        "
        host!user             => host!user@masq.example.com
        host.example.net!user => user@host.example.net
        gw.example.com!joe    => joe@masq.example.com
        ",
    );
    check_masq(
        &s,
        Field::EnvelopeSender,
        "esmtp",
        "
        host!user             => host!user@gw.example.com
        host.example.net!user => user@host.example.net
        ",
    );
    check_masq(
        &s,
        Field::HeaderRecipient,
        "esmtp",
        "host!user => host!user@gw.example.com",
    );
    check_routes(
        &t2(),
        "
        host!user                => relay smarthost.isp.net host!user
        host.example.net!user    => relay smarthost.isp.net user@host.example.net
        host!user@gw.example.com => relay smarthost.isp.net host!user
        sub.remote.org!user      => esmtp [mx.remote.org] user@sub.remote.org
        a!b!user                 => relay smarthost.isp.net a!b!user
        ",
    );
    c.relays.smart_host = Some("esmtp:[smarthost.isp.net]".into());
    check_routes(
        &site(c, &[]),
        "
        host!user        => esmtp [smarthost.isp.net] host!user@gw.example.com
        a.org!b.org!user => esmtp [smarthost.isp.net] b.org!user@a.org
        Host!User        => esmtp [smarthost.isp.net] Host!User@gw.example.com
        ",
    );
}
