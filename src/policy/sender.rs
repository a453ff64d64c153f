//! MAIL FROM checks: sendmail's Basic_check_mail (spec §2.4.2).
//!
//! Contract: [`check_mail`] decides on the envelope sender: `<>` is always
//! accepted; unqualified senders and `user@localhost`-like senders from
//! remote clients are refused `553 5.5.4` (unless
//! `accept_unqualified_senders` or daemon flag `u`; flag `f` also refuses a
//! single-label domain); the `From:` access walks (full address, `user@`,
//! domain) decide next, and an `OK`/`RELAY` there overrides an unresolvable
//! domain; otherwise a domain that does not resolve is refused `553 5.1.8`
//! (`451 4.1.8` on a temporary failure) unless `accept_unresolvable_domains`.
//! The sender is judged after `FEATURE(domaintable)` (ruleset 3), as sendmail
//! does: `From:new.example` entries apply to `u@old.example`.

use super::access::{self, AccessDb, Context, Item, Mode};
use super::{Because, Client, DnsAnswer, Facts, Reply, Verdict, delay_checks};
use crate::addr::{Address, Domain, Mailbox};
use crate::site::{HostAnswer, Site};
use std::net::{IpAddr, Ipv4Addr};

/// MAIL check; with `delay_checks` it answers Continue here and runs from
/// [`super::check_rcpt`].
pub fn check_mail(site: &Site, facts: &Facts, client: &Client, sender: &Address) -> Verdict {
    if delay_checks(site) {
        return Verdict::cont("delay_checks: sender checked at RCPT");
    }
    basic_check_mail(site, facts, client, sender)
}

/// Resolvability of the sender's domain.
enum Resolved {
    Ok(String),
    Perm(String),
    Temp(String),
}

/// Basic_check_mail. `<>` answers Continue (sendmail's `$@ <OK>`, which does
/// not stop delay_checks from running check_relay); access `OK` answers Accept.
pub(crate) fn basic_check_mail(
    site: &Site,
    facts: &Facts,
    client: &Client,
    sender: &Address,
) -> Verdict {
    let mb = match sender {
        Address::Null => return Verdict::cont("null sender accepted (RFC 1123)"),
        Address::Mailbox(m) => m,
    };
    // Replies name the sender as given (`$&f`); the checks see the address
    // after ruleset 3, that is after the domaintable.
    let f_text = mb.to_written_string();
    let rewritten;
    let mb = match crate::route::domaintable::apply(site, mb) {
        Ok(Some((m, _))) => {
            rewritten = m;
            &rewritten
        }
        Ok(None) => mb,
        Err(e) => return Verdict::table_error("domaintable", &e),
    };
    // UUCP paths, as ruleset 3 reads them (sendmail 8.17 -bs, client
    // 172.16.0.1): `<gw.example.com!joe>` → `250 2.1.0`;
    // `<host.example.net!user>` → `553 5.1.8 ... Domain of sender address
    // user@host.example.net does not exist` (judged as that address);
    // `<host!user>` → `553 5.1.8 ... Domain of sender address host!user
    // does not exist` (`host.UUCP` never resolves without a UUCP relay).
    let bang_rewritten;
    let mut f_text = f_text;
    let mb = match uucp_sender(site, mb) {
        UucpSender::NotAPath => mb,
        UucpSender::Rewritten(m) => {
            bang_rewritten = m;
            f_text = bang_rewritten.to_written_string();
            &bang_rewritten
        }
        UucpSender::UucpHost => {
            return Verdict::refuse(
                Reply::new(
                    553,
                    "5.1.8",
                    &format!("Domain of sender address {f_text} does not exist"),
                ),
                Because::rule("a UUCP host (`host!user`) without a UUCP relay"),
            );
        }
    };
    let unqual_ok = site.config.has_feature("accept_unqualified_senders");
    let flag_u = client.daemon_flags.contains('u');
    if !unqual_ok {
        let local_client = client.name.is_empty() || site.is_local_host(&client.name);
        let single_label = matches!(&mb.domain, Some(Domain::Name(n)) if !n.contains('.'));
        let fqdn_required = client.daemon_flags.contains('f') && single_label;
        // `joe@localhost.` (trailing dot) is not matched by these rules
        // (sendmail 8.17 -bt check_mail from 172.16.0.1: accepted).
        let localhost = !flag_u && !mb.written_with_dot() && is_localhost_domain(site, mb);
        if (fqdn_required || localhost) && !local_client {
            return Verdict::refuse(
                Reply::new(553, "5.5.4", "Real domain name required for sender address"),
                Because::rule(format!(
                    "sender domain is a local name and client {} is not local",
                    client.name
                )),
            );
        }
    }
    let resolved = mb
        .domain
        .as_ref()
        .map(|d| resolve_sender_domain(site, facts, d));
    if let Some(db) = AccessDb::of(site) {
        let local = mb.local.as_str();
        let found = match &mb.domain {
            Some(d) => {
                let host = d.to_string();
                db.search(
                    "From",
                    &[
                        Item::Full(local, &host),
                        Item::User(local),
                        Item::Domain(&host),
                    ],
                    Mode::TagAndPlain,
                )
            }
            None => db.search("From", &[Item::User(local)], Mode::TagAndPlain),
        };
        match found {
            Err(e) => return Verdict::table_error("access", &e),
            Ok(Some(hit)) => return access::verdict(site, &hit, Context::Sender),
            Ok(None) => {}
        }
    }
    match resolved {
        None => {
            if unqual_ok {
                Verdict::cont("unqualified sender accepted (accept_unqualified_senders)")
            } else if flag_u {
                Verdict::cont("unqualified sender accepted (daemon flag u)")
            } else if client.is_local_submission() {
                Verdict::cont("unqualified sender from local submission")
            } else {
                Verdict::refuse(
                    Reply::new(
                        553,
                        "5.5.4",
                        &format!("Domain name required for sender address {f_text}"),
                    ),
                    Because::rule("unqualified sender from a network client"),
                )
            }
        }
        Some(Resolved::Ok(why)) => Verdict::cont(why),
        Some(Resolved::Perm(why)) => Verdict::refuse(
            Reply::new(
                553,
                "5.1.8",
                &format!("Domain of sender address {f_text} does not exist"),
            ),
            Because::rule(why),
        ),
        Some(Resolved::Temp(why)) => Verdict::refuse(
            Reply::new(
                451,
                "4.1.8",
                &format!("Domain of sender address {f_text} does not resolve"),
            ),
            Because::rule(why),
        ),
    }
}

enum UucpSender {
    NotAPath,
    Rewritten(Mailbox),
    UucpHost,
}

/// `host!user` in an unqualified or local sender: a `$=w` or dotted host
/// becomes the domain, a single label is a UUCP host.
fn uucp_sender(site: &Site, mb: &Mailbox) -> UucpSender {
    if !site.bang_is_path() {
        return UucpSender::NotAPath;
    }
    let ours = mb
        .domain
        .as_ref()
        .is_none_or(|d| site.is_local_host(&d.to_string()));
    if !ours || mb.local.starts_with('"') {
        return UucpSender::NotAPath;
    }
    let Some((h, r)) = mb.local.split_once('!') else {
        return UucpSender::NotAPath;
    };
    if h.is_empty() || r.is_empty() || h.starts_with('[') {
        return UucpSender::NotAPath;
    }
    let folded = crate::addr::normalize_name(h);
    if !folded.contains('.') && !site.is_local_host(&folded) {
        return UucpSender::UucpHost;
    }
    match Address::parse(&format!("{r}@{h}")) {
        Ok(Address::Mailbox(m)) => UucpSender::Rewritten(m),
        _ => UucpSender::NotAPath,
    }
}

/// `user@localhost`, `@[127.0.0.1]`, `@[IPv6:::1]`, `@localhost.$m`.
fn is_localhost_domain(site: &Site, mb: &Mailbox) -> bool {
    match &mb.domain {
        Some(Domain::Literal(IpAddr::V4(v4))) => *v4 == Ipv4Addr::LOCALHOST,
        Some(Domain::Literal(IpAddr::V6(v6))) => v6.is_loopback(),
        Some(Domain::Name(n)) => {
            let m = site.hostname.split_once('.').map(|(_, d)| d).unwrap_or("");
            n == "localhost"
                || n == "localhost.uucp"
                || (!m.is_empty() && *n == format!("localhost.{m}"))
        }
        None => false,
    }
}

/// Pseudo-domains sendmail never resolves (`$=P`).
const PSEUDO: [&str; 5] = ["uucp", "bitnet", "decnet", "fax", "redirect"];

fn resolve_sender_domain(site: &Site, facts: &Facts, d: &Domain) -> Resolved {
    let name = match d {
        // Ruleset 3 writes a literal in $=w as `$j`; any other literal stays
        // without the trailing dot of a canonical name, so check_mail finds
        // it unresolvable (sendmail 8.17: `MAIL FROM:<u@[192.0.2.1]>` →
        // `553 5.1.8 ... does not exist`, even when the address has a PTR).
        Domain::Literal(_) if site.is_local_host(&d.to_string()) => {
            return Resolved::Ok(format!("sender domain {d} is this host ($=w)"));
        }
        Domain::Literal(_) if site.config.has_feature("accept_unresolvable_domains") => {
            return Resolved::Ok("accept_unresolvable_domains".into());
        }
        Domain::Literal(_) => {
            return Resolved::Perm(format!(
                "sender domain {d} is an address literal, never a canonical name"
            ));
        }
        Domain::Name(n) => n,
    };
    if *name == site.hostname {
        return Resolved::Ok("sender domain is $j".into());
    }
    // Ruleset 3 marks $=w hosts canonical (`R$* < @ $=w > $*  $: $1 < @ $2 . > $3`),
    // so sendmail never finds a local domain unresolvable.
    if site.is_local_host(name) {
        return Resolved::Ok(format!("sender domain {name} is local ($=w)"));
    }
    if let Some(tld) = name.rsplit('.').next()
        && PSEUDO.contains(&tld)
    {
        return Resolved::Ok(format!("sender domain .{tld} is a pseudo-domain"));
    }
    if site.config.has_feature("accept_unresolvable_domains") {
        return Resolved::Ok("accept_unresolvable_domains".into());
    }
    match facts.answer(name) {
        Some(DnsAnswer::Found(_)) => Resolved::Ok(format!("sender domain {name} resolves")),
        Some(DnsAnswer::NotFound) => Resolved::Perm(format!("DNS: {name} does not exist")),
        Some(DnsAnswer::TempFail) => Resolved::Temp(format!("DNS: {name} lookup failed")),
        None => match site.host_lookup_canonical(name) {
            HostAnswer::Found(_) => Resolved::Ok(format!("sender domain {name} in hosts file")),
            HostAnswer::NotFound => Resolved::Perm(format!(
                "{name} not found by the host sources (service switch without dns)"
            )),
            HostAnswer::AskDns => Resolved::Ok(format!(
                "no DNS answer gathered for {name}; assumed to resolve"
            )),
        },
    }
}
