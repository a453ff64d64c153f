//! RCPT TO checks: sendmail's Basic_check_rcpt, Rcpt_ok and Relay_ok, the
//! delay_checks tail, and the local-recipient check (spec §2.4.3, §2.5).
//!
//! Contract: [`check_rcpt`] answers, in order:
//!
//! 1. `<>` → `553 5.0.0 User address required`; an unquoted `@` inside the
//!    local part → `553 5.1.3 Invalid route address` (both checked on
//!    sendmail 8.17).
//! 2. The effective destination, after `FEATURE(domaintable)` (ruleset 3:
//!    a `To:new.example RELAY` entry relays `u@old.example`): a source route is ignored (RFC 5321
//!    §3.6.1), and while the domain is ours or relayable, a local part
//!    holding `@`, `%` or `!` (quoted or not) is unwrapped to the address it
//!    names (`a%b@us` → `a@b`, `b!a@us` → `a@b`). So the open-relay
//!    battery is judged by its real destination.
//! 3. `FEATURE(blocklist_recipients)`: `To:` full → `user@` (local domains
//!    only) → domain; `REJECT` → `550 5.2.1 Mailbox disabled for this
//!    recipient`, other values as in spec §2.3.
//! 4. `promiscuous_relay` → accept. A verified client certificate whose
//!    issuer (or, with `SUBJECT`, subject) the access map says `RELAY` for
//!    → relay (sendmail's RelayTLS). SMTP AUTH (`${auth_type}` set) with a
//!    mechanism in `$={TrustAuthMech}` (`TRUST_AUTH_MECH`) → relay, skipping
//!    delay_checks (sendmail's `$# RELAY`). Without `TRUST_AUTH_MECH` every
//!    mechanism is trusted ([`trusts_auth_mech`]).
//! 5. Destination: `$=w`, `$=R` (and parents unless `relay_hosts_only`),
//!    `To:` `RELAY` (domain walk; `relaytofulladdress` also the address),
//!    `relay_entire_domain` (`$=m`); an unqualified recipient is local.
//! 6. Client: local submission, IP in `$=R`, `Connect:` IP walk `RELAY`,
//!    `[ip]` in `$=w`, `relay_local_from` / `relay_mail_from`, then
//!    `${client_resolve}` (`TEMP`/`FORGED`/`FAIL` messages), then the client
//!    name in `$=w` / `$=R` / `Connect:` domain walk `RELAY`.
//! 7. Otherwise `550 5.7.1 Relaying denied` (`confRELAY_MSG`; `Relaying
//!    denied. Proper authentication required.` when AUTH is configured).
//! 8. delay_checks: `Spam:` friend/hater, then check_mail, then check_relay.
//! 9. A recipient in a local domain (or unqualified) with no virtusertable
//!    entry must be a local user: `550 5.1.1 User unknown`, or `550 5.2.1
//!    <text>` for a disabled mailbox. Skipped when `LUSER_RELAY` or
//!    `MAIL_HUB` forward unknown/local names elsewhere, and for unqualified
//!    names when `LOCAL_RELAY` is set.
//!
//! Not modelled: `relay_based_on_MX` and `loose_relay_check` (need MX facts
//! / sendmail's `%`-hack quirks); `CERTISSUER`/`CERTSUBJECT` regular
//! expressions (`_CERT_REGEX_ISSUER_`).

use super::access::{self, AccessDb, Context, Item, Mode, Value, parse_value};
use super::connect::basic_check_relay;
use super::sender::basic_check_mail;
use super::{Action, Because, Client, Facts, Reply, Verdict, delay_checks};
use crate::addr::{Address, Mailbox};
use crate::site::Site;
use crate::table;
use crate::users::{LocalUser, local_user};

/// The destination a recipient really names.
#[derive(Debug, Clone)]
struct Dest {
    local: String,
    host: Option<String>,
    /// `FEATURE(nouucp, reject)` and an unquoted `!` in the local part:
    /// the destination is remote, whatever the host.
    refused_bang: bool,
}

/// RCPT check (see module doc). `sender` is the transaction's MAIL FROM,
/// used by delay_checks and relay_mail_from.
pub fn check_rcpt(
    site: &Site,
    facts: &Facts,
    client: &Client,
    sender: Option<&Address>,
    rcpt: &Address,
) -> Verdict {
    let mb = match rcpt {
        Address::Null => {
            return Verdict::refuse(
                Reply::new(553, "5.0.0", "User address required"),
                Because::rule("empty recipient"),
            );
        }
        Address::Mailbox(m) => m,
    };
    if has_unquoted_at(&mb.local) {
        return Verdict::refuse(
            Reply::new(553, "5.1.3", "Invalid route address"),
            Because::rule("unquoted @ in the local part"),
        );
    }
    // `[ip]!user` (unqualified or @$=w): ruleset 3 cannot make a UUCP host
    // of a literal (sendmail 8.17 -bt check_rcpt <[192.0.2.1]!user> →
    // `$#error $@ 5.1.2 $: "553 Invalid address"`).
    let ours = mb
        .domain
        .as_ref()
        .is_none_or(|d| site.is_local_host(&d.to_string()));
    if ours
        && site.bang_is_path()
        && !mb.local.starts_with('"')
        && mb
            .local
            .split_once('!')
            .is_some_and(|(h, r)| h.starts_with('[') && !r.is_empty())
    {
        return Verdict::refuse(
            Reply::new(553, "5.1.2", "Invalid address"),
            Because::rule("an address literal as a UUCP host (`[ip]!user`)"),
        );
    }
    // Judged after ruleset 3: the domaintable may name another host.
    let rewritten;
    let mb = match crate::route::domaintable::apply(site, mb) {
        Ok(Some((m, _))) => {
            rewritten = m;
            &rewritten
        }
        Ok(None) => mb,
        Err(e) => return Verdict::table_error("domaintable", &e),
    };
    let db = AccessDb::of(site);
    let dest = match effective(site, db.as_ref(), mb) {
        Ok(d) => d,
        Err(e) => return Verdict::table_error("access", &e),
    };
    let verdict = match rcpt_ok(site, db.as_ref(), client, &dest) {
        RcptOk::Stop(v) => return v,
        RcptOk::Trusted(v) => v,
        RcptOk::Relay(why) => match delayed(site, facts, client, sender, db.as_ref(), &dest) {
            Some(v) => return v,
            None => Verdict::new(Action::Relay, why),
        },
        outcome @ (RcptOk::Temp(_) | RcptOk::Remote) => {
            match relay_ok(site, db.as_ref(), client, sender) {
                ClientOk::Refuse(v) => return v,
                ClientOk::Relay(why) => {
                    match delayed(site, facts, client, sender, db.as_ref(), &dest) {
                        Some(v) => return v,
                        None => Verdict::new(Action::Relay, why),
                    }
                }
                ClientOk::No => {
                    if let RcptOk::Temp(v) = outcome {
                        return v;
                    }
                    return Verdict::refuse(
                        relay_denied(site),
                        Because::rule(
                            "destination not local or relayable, and client may not relay",
                        ),
                    );
                }
            }
        }
    };
    match local_recipient(site, &dest) {
        Some(v) => v,
        None => verdict,
    }
}

enum RcptOk {
    /// Refused (or discarded/quarantined) by the recipient checks.
    Stop(Verdict),
    /// Authenticated: relay, no further checks.
    Trusted(Verdict),
    /// The destination is ours or relayable.
    Relay(Because),
    /// A temporary failure deciding the destination; the client may still relay.
    Temp(Verdict),
    /// A remote destination: the client decides.
    Remote,
}

fn rcpt_ok(site: &Site, db: Option<&AccessDb<'_>>, client: &Client, dest: &Dest) -> RcptOk {
    if let Some(db) = db
        && (site.config.has_feature("blocklist_recipients")
            || site.config.has_feature("blacklist_recipients"))
    {
        let local = dest.local.as_str();
        let items: Vec<Item<'_>> = match &dest.host {
            Some(h) if site.is_local_host(h) => {
                vec![Item::Full(local, h), Item::User(local), Item::Domain(h)]
            }
            Some(h) => vec![Item::Full(local, h), Item::Domain(h)],
            None => vec![Item::User(local)],
        };
        match db.search("To", &items, Mode::TagAndPlain) {
            Err(e) => return RcptOk::Stop(Verdict::table_error("access", &e)),
            Ok(None) => {}
            Ok(Some(hit)) => match parse_value(&hit.value) {
                Value::Ok | Value::Relay => {}
                Value::Skip if site_has_skip(site) => {}
                _ => return RcptOk::Stop(access::verdict(site, &hit, Context::Recipient)),
            },
        }
    }
    if site.config.has_feature("promiscuous_relay") {
        return RcptOk::Relay(Because::rule("FEATURE(promiscuous_relay)"));
    }
    match relay_tls(db, client) {
        Err(e) => return RcptOk::Stop(Verdict::table_error("access", &e)),
        Ok(Some(v)) => return RcptOk::Trusted(v),
        Ok(None) => {}
    }
    if let Some(mech) = &client.auth_type
        && trusts_auth_mech(site, mech)
    {
        return RcptOk::Trusted(Verdict::new(
            Action::Relay,
            Because::rule(format!("client authenticated (AUTH {mech})")),
        ));
    }
    // FEATURE(nouucp, reject): `R$* ! $*  $: <REMOTE> $2 < @ BANG_PATH >`
    // (sendmail 8.17 -bt check_rcpt, client 172.16.0.1: `<host!user>`,
    // `<gw.example.com!joe>` → `550 Relaying denied`; client in RELAY → RELAY).
    if dest.refused_bang {
        return RcptOk::Remote;
    }
    let Some(host) = &dest.host else {
        return RcptOk::Relay(Because::rule("unqualified recipient is local"));
    };
    match relayable(site, db, &dest.local, host) {
        Err(e) => RcptOk::Temp(Verdict::table_error("access", &e)),
        Ok(Some(why)) => RcptOk::Relay(why),
        Ok(None) => RcptOk::Remote,
    }
}

/// sendmail's RelayTLS (proto.m4, before the AUTH check): a client whose
/// certificate verified (`${verify}` OK) relays when the access map has
/// `CERTISSUER:<issuer> RELAY`, or `CERTISSUER:<issuer> SUBJECT` and
/// `CERTSUBJECT:<subject> RELAY` (names as in `${cert_issuer}` and
/// `${cert_subject}`: OpenSSL's one-line form, xtext-encoded, so
/// `CN=Example+20CA`). Like sendmail, only with `FEATURE(access_db)`.
fn relay_tls(
    db: Option<&AccessDb<'_>>,
    client: &Client,
) -> Result<Option<Verdict>, crate::table::Error> {
    let (Some(db), Some(cert)) = (db, &client.cert) else {
        return Ok(None);
    };
    if cert.verify != super::tls::Verify::Ok || cert.issuer.is_empty() {
        return Ok(None);
    }
    let relay = |hit: &access::Hit| {
        Verdict::new(
            Action::Relay,
            Because::rule(format!(
                "client certificate verified, access {} {}",
                hit.key, hit.value
            )),
        )
    };
    let Some(hit) = db.exact("CERTISSUER", &cert.issuer, Mode::TagOnly)? else {
        return Ok(None);
    };
    let value = hit.value.trim();
    if value.eq_ignore_ascii_case("RELAY") {
        return Ok(Some(relay(&hit)));
    }
    if value.eq_ignore_ascii_case("SUBJECT")
        && !cert.subject.is_empty()
        && let Some(sub) = db.exact("CERTSUBJECT", &cert.subject, Mode::TagOnly)?
        && sub.value.trim().eq_ignore_ascii_case("RELAY")
    {
        return Ok(Some(relay(&sub)));
    }
    Ok(None)
}

fn site_has_skip(site: &Site) -> bool {
    site.config
        .feature_args("access_db")
        .is_some_and(|a| a.iter().any(|x| x.trim().eq_ignore_ascii_case("skip")))
}

/// Is `host` ours or a domain we relay to? (The destination half of the relay test.)
fn relayable(
    site: &Site,
    db: Option<&AccessDb<'_>>,
    local: &str,
    host: &str,
) -> Result<Option<Because>, table::Error> {
    if site.config.has_feature("relay_entire_domain")
        && let Some(m) = local_domain(site)
        && (host == m || host.ends_with(&format!(".{m}")))
    {
        return Ok(Some(Because::Class {
            class: "m".into(),
            member: m.to_string(),
        }));
    }
    if site.is_local_host(host) {
        return Ok(Some(Because::Class {
            class: "w".into(),
            member: host.to_string(),
        }));
    }
    let hosts_only = site.config.has_feature("relay_hosts_only");
    if let Some(m) = class_r_domain(site, host, hosts_only) {
        return Ok(Some(Because::Class {
            class: "R".into(),
            member: m,
        }));
    }
    let Some(db) = db else { return Ok(None) };
    let found = if hosts_only {
        let full = if db.relay_to_full_address {
            db.exact(
                "To",
                &format!("{}@{host}", local.to_ascii_lowercase()),
                Mode::TagAndPlain,
            )?
        } else {
            None
        };
        match full {
            Some(h) => Some(h),
            None => db.exact("To", host, Mode::TagAndPlain)?,
        }
    } else if db.relay_to_full_address {
        db.search(
            "To",
            &[
                Item::Full(local, host),
                Item::Domain(host),
                Item::User(local),
            ],
            Mode::TagAndPlain,
        )?
    } else {
        db.domain("To", host, Mode::TagAndPlain)?
    };
    Ok(match found {
        Some(hit) if parse_value(&hit.value) == Value::Relay => Some(hit.because()),
        _ => None,
    })
}

/// `$m`: the domain part of `$j`.
fn local_domain(site: &Site) -> Option<&str> {
    site.hostname.split_once('.').map(|(_, d)| d)
}

/// The `$=R` member that makes `host` relayable (itself or a parent).
fn class_r_domain(site: &Site, host: &str, hosts_only: bool) -> Option<String> {
    let mut cur = host;
    loop {
        if site.in_class("R", cur) {
            return Some(cur.to_string());
        }
        if hosts_only {
            return None;
        }
        cur = cur.split_once('.')?.1;
    }
}

/// May a client authenticated with `mech` relay? sendmail 8.17 relays
/// only mechanisms in `$={TrustAuthMech}` (`TRUST_AUTH_MECH`; checked with
/// `sendmail -bt` on a cf with `TRUST_AUTH_MECH(`PLAIN LOGIN')`:
/// `${auth_type}` PLAIN → `$# RELAY`, CRAM-MD5 → `550 Relaying denied.
/// Proper authentication required.`). With the class empty sendmail lets
/// no mechanism relay; mxgate lets every one relay, its AUTH being
/// configured by its own options (`confAUTH_PASSWORD_MAP`,
/// `confAUTH_DOVECOT_SOCKET`) that never needed the class. The compiler
/// warns when a sendmail-style `confAUTH_MECHANISMS` comes without it.
pub fn trusts_auth_mech(site: &Site, mech: &str) -> bool {
    site.class_members("TrustAuthMech").next().is_none() || site.in_class("TrustAuthMech", mech)
}

/// The `$=R` member that is a prefix of `${client_addr}` (`10.9` for 10.9.1.1).
pub(crate) fn class_r_ip(site: &Site, addr: &str) -> Option<String> {
    let addr_l = addr.to_ascii_lowercase();
    site.class_members("R")
        .find(|m| {
            addr_l == *m
                || (addr_l.starts_with(*m)
                    && addr_l
                        .as_bytes()
                        .get(m.len())
                        .is_some_and(|b| *b == b'.' || *b == b':'))
        })
        .map(|m| m.to_string())
}

enum ClientOk {
    Relay(Because),
    Refuse(Verdict),
    No,
}

/// Relay_ok: may this client relay?
fn relay_ok(
    site: &Site,
    db: Option<&AccessDb<'_>>,
    client: &Client,
    sender: Option<&Address>,
) -> ClientOk {
    if client.is_local_submission() {
        return ClientOk::Relay(Because::rule("local submission (empty client_addr)"));
    }
    let addr_text = client.addr_text();
    // A client on a Unix-domain listener has no address to judge, and
    // sendmail 8.17 does not relay for its name either (a `Family=local`
    // daemon answered `550 5.7.1 Relaying denied` with `Connect:localhost
    // RELAY` in access, which its check_relay did find): only the sender
    // rules below can let it relay.
    if let Some(ip) = client.addr {
        if ip.is_loopback() && (ip.to_string() == "127.0.0.1" || ip.is_ipv6()) {
            return ClientOk::Relay(Because::rule(format!("client {ip} is this host")));
        }
        if let Some(m) = class_r_ip(site, &addr_text) {
            return ClientOk::Relay(Because::Class {
                class: "R".into(),
                member: m,
            });
        }
        if let Some(db) = db {
            match db.address("Connect", &ip, Mode::TagAndPlain) {
                Err(e) => return ClientOk::Refuse(Verdict::table_error("access", &e)),
                Ok(Some(hit)) if parse_value(&hit.value) == Value::Relay => {
                    return ClientOk::Relay(hit.because());
                }
                Ok(_) => {}
            }
        }
        let bracketed = format!("[{addr_text}]");
        if site.is_local_host(&bracketed) {
            return ClientOk::Relay(Because::Class {
                class: "w".into(),
                member: bracketed,
            });
        }
    }
    if let Some(Address::Mailbox(from)) = sender {
        if site.config.has_feature("relay_local_from")
            && let Some(h) = from.host()
            && site.is_local_host(&h)
        {
            return ClientOk::Relay(Because::rule(format!(
                "relay_local_from: sender domain {h} is local"
            )));
        }
        if let Some(args) = site.config.feature_args("relay_mail_from")
            && let Some(db) = db
            && let Some(h) = from.host()
        {
            let mut items = vec![Item::Full(&from.local, &h)];
            if args.iter().any(|a| a.trim() == "domain") {
                items.push(Item::Domain(&h));
            }
            match db.search("From", &items, Mode::TagOnly) {
                Err(e) => return ClientOk::Refuse(Verdict::table_error("access", &e)),
                Ok(Some(hit)) if parse_value(&hit.value) == Value::Relay => {
                    return ClientOk::Relay(hit.because());
                }
                Ok(_) => {}
            }
        }
    }
    if client.unix {
        return ClientOk::No;
    }
    match client.resolve {
        super::Resolve::Temp => {
            return ClientOk::Refuse(Verdict::refuse(
                Reply::new(
                    450,
                    "4.4.0",
                    &format!(
                        "Relaying temporarily denied. Cannot resolve PTR record for {addr_text}"
                    ),
                ),
                Because::rule("client_resolve TEMP"),
            ));
        }
        super::Resolve::Forged => {
            return ClientOk::Refuse(Verdict::refuse(
                Reply::new(
                    550,
                    "5.7.1",
                    &format!("Relaying denied. IP name possibly forged {}", client.name),
                ),
                Because::rule("client_resolve FORGED"),
            ));
        }
        super::Resolve::Fail => {
            return ClientOk::Refuse(Verdict::refuse(
                Reply::new(
                    550,
                    "5.7.1",
                    &format!("Relaying denied. IP name lookup failed {}", client.name),
                ),
                Because::rule("client_resolve FAIL"),
            ));
        }
        super::Resolve::Ok => {}
    }
    let name = client.name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return ClientOk::No;
    }
    if site.config.has_feature("relay_entire_domain")
        && let Some(m) = local_domain(site)
        && (name == m || name.ends_with(&format!(".{m}")))
    {
        return ClientOk::Relay(Because::Class {
            class: "m".into(),
            member: m.to_string(),
        });
    }
    if site.is_local_host(&name) {
        return ClientOk::Relay(Because::Class {
            class: "w".into(),
            member: name,
        });
    }
    let hosts_only = site.config.has_feature("relay_hosts_only");
    if let Some(m) = class_r_domain(site, &name, hosts_only) {
        return ClientOk::Relay(Because::Class {
            class: "R".into(),
            member: m,
        });
    }
    if let Some(db) = db {
        let found = if hosts_only {
            db.exact("Connect", &name, Mode::TagAndPlain)
        } else {
            db.domain("Connect", &name, Mode::TagAndPlain)
        };
        match found {
            Err(e) => return ClientOk::Refuse(Verdict::table_error("access", &e)),
            Ok(Some(hit)) if parse_value(&hit.value) == Value::Relay => {
                return ClientOk::Relay(hit.because());
            }
            Ok(_) => {}
        }
    }
    ClientOk::No
}

/// The relaying-denied reply.
fn relay_denied(site: &Site) -> Reply {
    if let Some(m) = &site.settings.messages.relay {
        return Reply::from_error(Some("5.7.1"), m);
    }
    let auth = site.settings.auth_configured
        || site
            .config
            .daemons
            .iter()
            .any(|d| d.options.get("M").is_some_and(|m| m.contains('a')));
    if auth {
        Reply::new(
            550,
            "5.7.1",
            "Relaying denied. Proper authentication required.",
        )
    } else {
        Reply::new(550, "5.7.1", "Relaying denied")
    }
}

/// delay_checks: `Some(verdict)` when the sender or client checks refuse.
fn delayed(
    site: &Site,
    facts: &Facts,
    client: &Client,
    sender: Option<&Address>,
    db: Option<&AccessDb<'_>>,
    dest: &Dest,
) -> Option<Verdict> {
    if !delay_checks(site) {
        return None;
    }
    // Only the first argument chooses (delay_checks.m4 `_ARG_`); the second
    // turns off 8.10 compatibility and never selects a mode.
    let first = site
        .config
        .feature_args("delay_checks")
        .and_then(|a| a.first())
        .map(|a| a.trim())
        .unwrap_or("");
    let friend = first.eq_ignore_ascii_case("friend");
    let hater = first.eq_ignore_ascii_case("hater");
    if (friend || hater)
        && let Some(db) = db
    {
        let host = dest.host.clone().unwrap_or_else(|| site.hostname.clone());
        let local = dest.local.as_str();
        let items: Vec<Item<'_>> = if site.is_local_host(&host) {
            vec![
                Item::Full(local, &host),
                Item::Domain(&host),
                Item::User(local),
            ]
        } else {
            vec![Item::Full(local, &host), Item::Domain(&host)]
        };
        let found = match db.search("Spam", &items, Mode::TagOnly) {
            Err(e) => return Some(Verdict::table_error("access", &e)),
            Ok(f) => f,
        };
        let value = found.as_ref().map(|h| parse_value(&h.value));
        if friend && value == Some(Value::Friend) {
            return None;
        }
        if hater && value != Some(Value::Hater) {
            return None;
        }
    }
    let mut sender_accepted = false;
    if let Some(s) = sender {
        let v = basic_check_mail(site, facts, client, s);
        if v.is_final_refusal() {
            return Some(v);
        }
        sender_accepted = matches!(v.action, Action::Accept | Action::Relay);
    }
    if !sender_accepted {
        let v = basic_check_relay(site, facts, client);
        if v.is_final_refusal() {
            return Some(v);
        }
    }
    None
}

/// The local-user step for local destinations (see module doc, item 9).
fn local_recipient(site: &Site, dest: &Dest) -> Option<Verdict> {
    let relays = &site.config.relays;
    if relays.luser_relay.is_some() || relays.mail_hub.is_some() {
        return None;
    }
    match &dest.host {
        None if relays.local_relay.is_some() => return None,
        None => {}
        Some(h) if site.is_local_host(h) => {
            if let Some(vt) = site.table("virtuser") {
                let local = dest.local.to_ascii_lowercase();
                let (user, detail) = match local.split_once('+') {
                    Some((u, _)) => (u.to_string(), true),
                    None => (local.clone(), false),
                };
                let mut keys = vec![format!("{local}@{h}")];
                if detail {
                    keys.push(format!("{user}+*@{h}"));
                    keys.push(format!("{user}@{h}"));
                }
                keys.push(format!("@{h}"));
                for k in keys {
                    match vt.lookup(&k) {
                        Err(e) => return Some(Verdict::table_error("virtuser", &e)),
                        Ok(Some(_)) => return None,
                        Ok(None) => {}
                    }
                }
            }
        }
        Some(_) => return None,
    }
    let user = dest.local.split('+').next().unwrap_or("");
    match local_user(site, user) {
        Err(e) => Some(Verdict::table_error("users", &e)),
        Ok((found, src)) => found.refusal().map(|refusal| {
            let why = match found {
                LocalUser::Disabled(_) => format!("mailbox {user} disabled ({src:?})"),
                _ => format!("no local user {user} ({src:?})"),
            };
            Verdict::refuse(Reply::from(refusal), Because::rule(why))
        }),
    }
}

/// The effective destination (module doc, item 2).
fn effective(site: &Site, db: Option<&AccessDb<'_>>, mb: &Mailbox) -> Result<Dest, table::Error> {
    let refused_bang =
        site.bang_is_refused() && !mb.local.starts_with('"') && mb.local.contains('!');
    let mut local = dequote(&mb.local);
    let mut host = mb.host();
    let specials: &[char] = if site.bang_is_path() {
        &['@', '%', '!']
    } else {
        &['@', '%']
    };
    loop {
        if !local.contains(specials) {
            break;
        }
        let ours = match &host {
            None => true,
            Some(h) => relayable(site, db, &local, h)?.is_some(),
        };
        if !ours {
            break;
        }
        let (l, h) = if let Some(i) = local.rfind('@') {
            (local.get(..i), local.get(i + 1..))
        } else if let Some(i) = local.rfind('%') {
            (local.get(..i), local.get(i + 1..))
        } else if let Some(i) = local.find('!').filter(|_| site.bang_is_path()) {
            (local.get(i + 1..), local.get(..i))
        } else {
            break;
        };
        let (Some(l), Some(h)) = (l, h) else { break };
        host = Some(crate::addr::normalize_name(h));
        local = l.to_string();
    }
    Ok(Dest {
        local,
        host,
        refused_bang,
    })
}

fn dequote(local: &str) -> String {
    local.replace('"', "")
}

fn has_unquoted_at(local: &str) -> bool {
    let mut in_quote = false;
    let mut escaped = false;
    for c in local.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quote = !in_quote,
            '@' if !in_quote => return true,
            _ => {}
        }
    }
    false
}
