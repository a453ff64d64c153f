//! DNS blocklists: `FEATURE(dnsbl)` and `FEATURE(enhdnsbl)` (spec §3).
//!
//! Contract: [`query_name`] builds the query (`10.2.0.192.bl.example.org`
//! for client 192.0.2.10; IPv4 clients only). [`check`] evaluates the zones
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

/// The query name for `client` in `zone`, without the trailing dot; `None`
/// for IPv6 clients (sendmail's rule matches exactly four octets).
pub fn query_name(client: &IpAddr, zone: &str) -> Option<String> {
    match client {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            Some(format!(
                "{d}.{c}.{b}.{a}.{}",
                zone.trim_end_matches('.').to_ascii_lowercase()
            ))
        }
        IpAddr::V6(_) => None,
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
    let client_text = ip.to_string();
    let mut notes: Vec<String> = Vec::new();
    for z in zones {
        let Some(q) = query_name(ip, &z.zone) else {
            return Verdict::cont("IPv6 client: DNSBLs apply to IPv4 clients only");
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
}
