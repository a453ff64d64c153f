//! DNS blocklists: `FEATURE(dnsbl)` and `FEATURE(enhdnsbl)` (spec §3).
//!
//! Contract: [`query_name`] builds the query (`10.2.0.192.bl.example.org`
//! for client 192.0.2.10; for an IPv6 client the 32 nibbles of the address,
//! lowest first, as Postfix and rbldnsd zones expect: `2001:db8::1` →
//! `1.0.0.0.….8.b.d.0.1.0.0.2.bl.example.org`; an IPv4-mapped IPv6 address
//! is asked as the IPv4 address). Sendmail itself skips IPv6 clients (its
//! rule matches four octets); checking them is our extension, see
//! docs/daemon.md. [`check`] evaluates the zones
//! in `.mc` order against the answers in [`Facts`] and returns the first
//! listing's verdict, a temp-fail when a zone says so (`t` / text), or
//! Continue. Answers in 127.255.255.0/24 are the blocklist operator telling
//! us our query was refused or malformed (Spamhaus' convention), not
//! listings: they are skipped and the `why` says so. A zone with no answer in
//! the facts counts as not listed. With several A records, the first one
//! that matches (any, for dnsbl) decides; sendmail's map sees only one.

use std::net::{IpAddr, Ipv4Addr};

use super::{Action, Because, DnsAnswer, Facts, Reply, Verdict};
use crate::config::{Dnsbl, DnsblAction, DnsblTempFail};

/// The query name for `client` in `zone`, without the trailing dot:
/// reversed octets for IPv4, reversed nibbles for IPv6 (an IPv4-mapped
/// `::ffff:a.b.c.d` is asked as IPv4). `None` only for an empty zone.
pub fn query_name(client: &IpAddr, zone: &str) -> Option<String> {
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    if zone.is_empty() {
        return None;
    }
    let v4 = match client {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    match (v4, client) {
        (Some(v4), _) => {
            let [a, b, c, d] = v4.octets();
            Some(format!("{d}.{c}.{b}.{a}.{zone}"))
        }
        (None, IpAddr::V6(v6)) => {
            let mut name = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    name.push('.');
                }
            }
            name.push_str(&zone);
            Some(name)
        }
        (None, IpAddr::V4(_)) => None,
    }
}

/// Is this answer a blocklist error code (127.255.255.0/24)?
pub fn is_error_answer(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            let [x, y, z, _] = v4.octets();
            x == 127 && y == 255 && z == 255
        }
        IpAddr::V6(_) => false,
    }
}

/// Evaluate every configured zone for `client`.
pub fn check(zones: &[Dnsbl], facts: &Facts, client: Option<&IpAddr>) -> Verdict {
    let Some(ip) = client else {
        return Verdict::cont("local submission: no DNSBL checks");
    };
    // `${client_addr}` as sendmail writes it (`IPv6:2001:db8:0:0:0:0:0:1`).
    let client_text = crate::addr::sendmail_ip(&ip.to_canonical());
    let mut notes: Vec<String> = Vec::new();
    for z in zones {
        let Some(q) = query_name(ip, &z.zone) else {
            notes.push(format!("dnsbl {}: empty zone, skipped", z.zone));
            continue;
        };
        match facts.answer(&q) {
            None => notes.push(format!("dnsbl {}: no answer gathered, not listed", z.zone)),
            Some(DnsAnswer::NotFound) => notes.push(format!("dnsbl {}: not listed", z.zone)),
            Some(DnsAnswer::Found(v)) if v.is_empty() => {
                notes.push(format!("dnsbl {}: not listed", z.zone))
            }
            Some(DnsAnswer::TempFail) => match &z.on_tempfail {
                DnsblTempFail::Ignore => {
                    notes.push(format!("dnsbl {}: lookup failed, ignored", z.zone))
                }
                DnsblTempFail::Default => {
                    return Verdict::refuse(
                        Reply::new(
                            451,
                            "4.4.3",
                            &format!("Temporary lookup failure of {client_text} at {}", z.zone),
                        ),
                        dnsbl_why(z, &q, "temporary failure"),
                    );
                }
                DnsblTempFail::Message(m) => {
                    let text = expand(m, &client_text);
                    let reply = Reply::from_error(Some("4.4.3"), &text);
                    return Verdict::refuse(reply, dnsbl_why(z, &q, "temporary failure"));
                }
            },
            Some(DnsAnswer::Found(answers)) => {
                let mut errors = Vec::new();
                let mut listed = None;
                for a in answers {
                    if is_error_answer(a) {
                        errors.push(a.to_string());
                        continue;
                    }
                    if !z.enhanced
                        || z.matches.is_empty()
                        || z.matches.iter().any(|p| matches(p, a))
                    {
                        listed = Some(*a);
                        break;
                    }
                }
                if let Some(a) = listed {
                    return listing(z, &q, &a, &client_text);
                }
                if !errors.is_empty() {
                    notes.push(format!(
                        "dnsbl {}: answer {} is an error code from the blocklist operator, not a listing",
                        z.zone,
                        errors.join(", ")
                    ));
                } else {
                    notes.push(format!(
                        "dnsbl {}: answer {} matches none of {}",
                        z.zone,
                        answers
                            .iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        z.matches.join(" ")
                    ));
                }
            }
        }
    }
    if notes.is_empty() {
        Verdict::cont("no DNSBL configured")
    } else {
        Verdict::cont(notes.join("; "))
    }
}

fn dnsbl_why(z: &Dnsbl, q: &str, answer: &str) -> Because {
    Because::Dnsbl {
        zone: z.zone.clone(),
        query: q.to_string(),
        answer: answer.to_string(),
    }
}

fn listing(z: &Dnsbl, q: &str, a: &IpAddr, client: &str) -> Verdict {
    let why = dnsbl_why(z, q, &format!("listed {a}"));
    match &z.action {
        DnsblAction::Reject => Verdict::refuse(
            Reply::new(
                550,
                "5.7.1",
                &format!("Rejected: {client} listed at {}", z.zone),
            ),
            why,
        ),
        DnsblAction::Message(m) => {
            Verdict::refuse(Reply::from_error(Some("5.7.1"), &expand(m, client)), why)
        }
        DnsblAction::Quarantine => Verdict::new(Action::Quarantine(z.zone.clone()), why),
        DnsblAction::Discard => Verdict::new(Action::Discard, why),
    }
}

/// Expand a message as written in the `.mc` (`"554 Rejected " $&{client_addr}
/// " found in x"`): quoted strings keep their text, `$&{client_addr}` is
/// replaced, whitespace between tokens is dropped.
fn expand(m: &str, client: &str) -> String {
    if !m.contains('"') && !m.contains('$') {
        return m.to_string();
    }
    let mut out = String::new();
    let mut in_quote = false;
    let mut rest = m;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            in_quote = !in_quote;
            rest = &rest[1..];
            continue;
        }
        if !in_quote {
            if c.is_whitespace() {
                rest = &rest[c.len_utf8()..];
                continue;
            }
            if let Some(r) = rest.strip_prefix("$&{client_addr}") {
                out.push_str(client);
                rest = r;
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Match an enhdnsbl pattern (`127.0.0.2.`, `127.0.0.$-.`, `$+`) against an
/// answer written with sendmail's trailing dot.
fn matches(pattern: &str, answer: &IpAddr) -> bool {
    let text = format!("{answer}.");
    let pat: Vec<&str> = pattern.trim().split('.').collect();
    let ans: Vec<&str> = text.split('.').collect();
    match_tokens(&pat, &ans)
}

fn match_tokens(p: &[&str], a: &[&str]) -> bool {
    match p.split_first() {
        None => a.is_empty(),
        Some((&"$*", rest)) => (0..=a.len()).any(|i| match_tokens(rest, a.get(i..).unwrap_or(&[]))),
        Some((&"$+", rest)) => (1..=a.len()).any(|i| match_tokens(rest, a.get(i..).unwrap_or(&[]))),
        Some((&"$-", rest)) => !a.is_empty() && match_tokens(rest, a.get(1..).unwrap_or(&[])),
        Some((tok, rest)) => {
            a.first().is_some_and(|x| x.eq_ignore_ascii_case(tok))
                && match_tokens(rest, a.get(1..).unwrap_or(&[]))
        }
    }
}

/// An IPv4 answer list from dotted strings (helper for facts built by hand).
pub fn answers(list: &[Ipv4Addr]) -> DnsAnswer<Vec<IpAddr>> {
    DnsAnswer::Found(list.iter().map(|a| IpAddr::V4(*a)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_patterns() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(
            query_name(&ip, "bl.example.org.").unwrap(),
            "10.2.0.192.bl.example.org"
        );
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(matches("127.0.0.2.", &a));
        assert!(matches("127.0.0.$-.", &a));
        assert!(matches("$+", &a));
        assert!(!matches("127.0.0.3.", &a));
        assert_eq!(
            expand(
                "\"554 Rejected \" $&{client_addr} \" found in x\"",
                "1.2.3.4"
            ),
            "554 Rejected 1.2.3.4 found in x"
        );
    }

    const Q: &str = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.example";

    fn zone(enhanced: bool, matches: &[&str]) -> Dnsbl {
        Dnsbl {
            enhanced,
            zone: "zen.example".into(),
            action: DnsblAction::Reject,
            on_tempfail: DnsblTempFail::Ignore,
            matches: matches.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn refusal(v: &Verdict) -> String {
        v.reply().map(|r| r.to_string()).unwrap_or_default()
    }

    #[test]
    fn ipv6_query_name_is_32_nibbles_lowest_first() {
        let ip: IpAddr = "2001:DB8::1".parse().unwrap();
        assert_eq!(query_name(&ip, "Zen.Example.").unwrap(), Q);
        // Every nibble, not just the non-zero ones (rbldnsd / Postfix form).
        let ip: IpAddr = "2001:db8:1234:5678:9abc:def0:fedc:ba98".parse().unwrap();
        assert_eq!(
            query_name(&ip, "bl.test").unwrap(),
            "8.9.a.b.c.d.e.f.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.8.b.d.0.1.0.0.2.bl.test"
        );
        // An IPv4-mapped client is asked as its IPv4 address.
        let ip: IpAddr = "::ffff:192.0.2.10".parse().unwrap();
        assert_eq!(query_name(&ip, "bl.test").unwrap(), "10.2.0.192.bl.test");
        assert_eq!(query_name(&ip, "."), None);
    }

    #[test]
    fn ipv6_client_listed_by_dnsbl_and_by_matching_enhdnsbl() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let listed = Facts::new().with(Q, answers(&[Ipv4Addr::new(127, 0, 0, 2)]));
        let v = check(&[zone(false, &[])], &listed, Some(&ip));
        assert_eq!(
            refusal(&v),
            "550 5.7.1 Rejected: IPv6:2001:db8:0:0:0:0:0:1 listed at zen.example"
        );
        // enhdnsbl: only a matching answer lists.
        let v = check(&[zone(true, &["127.0.0.2."])], &listed, Some(&ip));
        assert!(v.reply().is_some(), "{v:?}");
        let v = check(&[zone(true, &["127.0.0.$-."])], &listed, Some(&ip));
        assert!(v.reply().is_some(), "{v:?}");
        let v = check(&[zone(true, &["127.0.0.4."])], &listed, Some(&ip));
        assert_eq!(v.action, Action::Continue, "{v:?}");
        // Not listed, or another client: continue.
        let v = check(
            &[zone(false, &[])],
            &Facts::new().with(Q, DnsAnswer::NotFound),
            Some(&ip),
        );
        assert_eq!(v.action, Action::Continue);
        let other: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            check(&[zone(false, &[])], &listed, Some(&other)).action,
            Action::Continue
        );
    }
}
