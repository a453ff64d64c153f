//! Address syntax: envelope and header addresses, parsed once.
//!
//! Contract: [`Address::parse`] turns what a client or a table wrote
//! (`<user@host>`, `user@host`, `user`, `<>`, `<@a,@b:user@host>`,
//! `"quoted local"@host`, `user@[192.0.2.1]`) into a typed value, or says
//! precisely what is wrong. Case rules live here: domains are compared in
//! lower case and kept without a trailing dot; local parts keep their case
//! (lookups fold them where sendmail does). The domain as the sender spelled
//! it is kept beside the folded one ([`Mailbox::written_host`]): sendmail
//! 8.17 hands the next hop `User@Example.COM` as written. No I/O, no tables.

pub mod tokens;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// An envelope address: the null reverse path or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// `<>`, the null sender (bounces).
    Null,
    /// `user` or `user@domain`, possibly with a source route.
    Mailbox(Mailbox),
}

/// `local@domain`, `local` (unqualified), with an optional RFC 821 source route.
///
/// Equality and hashing ignore [`Mailbox::spelling`]: domains compare in
/// lower case.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// Source route hosts (`<@a,@b:user@c>` → `["a", "b"]`), lower case.
    pub route: Vec<String>,
    /// Local part as written, quotes included (`"john doe"`).
    pub local: String,
    /// Domain, or `None` when unqualified.
    pub domain: Option<Domain>,
    /// The domain as written (case and trailing dot kept); only used while
    /// it still names [`Mailbox::domain`] (see [`Mailbox::written_host`],
    /// [`Mailbox::written_with_dot`]).
    pub spelling: Option<String>,
}

impl PartialEq for Mailbox {
    fn eq(&self, other: &Mailbox) -> bool {
        self.route == other.route && self.local == other.local && self.domain == other.domain
    }
}

impl Eq for Mailbox {}

impl std::hash::Hash for Mailbox {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.route.hash(state);
        self.local.hash(state);
        self.domain.hash(state);
    }
}

/// The part after `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A host name: lower case, no trailing dot.
    Name(String),
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Literal(IpAddr),
}

/// Why an address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// Empty input where an address was required.
    #[error("empty address")]
    Empty,
    /// `<` without `>` or the reverse.
    #[error("unbalanced <> in address {0:?}")]
    Unbalanced(String),
    /// A `"` without its partner.
    #[error("unbalanced quote in address {0:?}")]
    UnbalancedQuote(String),
    /// `user@` with nothing after it.
    #[error("missing domain after @ in {0:?}")]
    MissingDomain(String),
    /// `@host` with no local part.
    #[error("missing local part in {0:?}")]
    MissingLocal(String),
    /// `[...]` that is not an IP address.
    #[error("bad address literal {0:?}")]
    BadLiteral(String),
    /// Characters no address may contain (control characters, spaces outside quotes).
    #[error("invalid character in address {0:?}")]
    BadChar(String),
}

impl Address {
    /// Parse an envelope address; angle brackets are optional.
    pub fn parse(input: &str) -> Result<Address, AddrError> {
        let s = trim_ws(input);
        let inner = match (s.starts_with('<'), s.ends_with('>')) {
            (true, true) if s.len() >= 2 => &s[1..s.len() - 1],
            (false, false) => s,
            _ => return Err(AddrError::Unbalanced(input.to_string())),
        };
        let inner = trim_ws(inner);
        if inner.is_empty() {
            return if s.starts_with('<') {
                Ok(Address::Null)
            } else {
                Err(AddrError::Empty)
            };
        }
        Mailbox::parse(inner).map(Address::Mailbox)
    }

    /// The mailbox, unless this is the null address.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Address::Null => None,
            Address::Mailbox(m) => Some(m),
        }
    }
}

impl Mailbox {
    /// Parse `[@route,...:]local[@domain]` (no angle brackets).
    pub fn parse(input: &str) -> Result<Mailbox, AddrError> {
        let mut rest = input;
        let mut route = Vec::new();
        if rest.starts_with('@') {
            let Some(colon) = rest.find(':') else {
                return Err(AddrError::MissingLocal(input.to_string()));
            };
            for hop in rest[..colon].split(',') {
                // Each hop is a domain, checked as one (found by
                // fuzz/address: control characters and `@` inside a hop
                // did not survive printing and parsing again).
                let hop = trim_ws(hop).trim_start_matches('@');
                let d = Domain::parse(hop).map_err(|e| match e {
                    AddrError::BadChar(_) => AddrError::BadChar(input.to_string()),
                    AddrError::BadLiteral(_) => AddrError::BadLiteral(input.to_string()),
                    _ => AddrError::MissingDomain(input.to_string()),
                })?;
                if d.name().is_some_and(|n| n.contains('@')) {
                    return Err(AddrError::BadChar(input.to_string()));
                }
                route.push(d.to_string());
            }
            rest = &rest[colon + 1..];
        }
        let at = last_unquoted_at(rest).map_err(|_| AddrError::UnbalancedQuote(input.into()))?;
        let (local, domain) = match at {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if local.is_empty() {
            return Err(AddrError::MissingLocal(input.to_string()));
        }
        check_chars(local, input)?;
        let domain = match domain {
            None => None,
            Some("") => return Err(AddrError::MissingDomain(input.to_string())),
            Some(d) => Some(Domain::parse(d).map_err(|e| match e {
                AddrError::BadLiteral(_) => AddrError::BadLiteral(input.to_string()),
                other => other,
            })?),
        };
        let spelling = domain
            .as_ref()
            .and(at)
            .map(|i| rest[i + 1..].trim().to_string());
        Ok(Mailbox {
            route,
            local: local.to_string(),
            domain,
            spelling,
        })
    }

    /// The domain as the sender wrote it (`Example.COM`, `[IPv6:2001:DB8::1]`),
    /// for the address handed to the next hop; the folded form when the
    /// domain was replaced since (domaintable, qualification) or never
    /// written. `None` if unqualified.
    pub fn written_host(&self) -> Option<String> {
        let domain = self.domain.as_ref()?;
        match &self.spelling {
            Some(s) if Domain::parse(s).as_ref() == Ok(domain) => {
                Some(s.trim_end_matches('.').to_string())
            }
            _ => Some(domain.to_string()),
        }
    }

    /// Was the domain written with its trailing dot (`joe@localhost.`)?
    /// sendmail's rules for `localhost` do not match such a name.
    pub fn written_with_dot(&self) -> bool {
        let Some(domain) = &self.domain else {
            return false;
        };
        self.spelling
            .as_ref()
            .is_some_and(|s| s.ends_with('.') && Domain::parse(s).as_ref() == Ok(domain))
    }

    /// `local@domain` with the domain as written (see [`Mailbox::written_host`]);
    /// no source route (the router prunes it, as sendmail does).
    pub fn as_written(&self) -> String {
        match self.written_host() {
            Some(h) => format!("{}@{h}", self.local),
            None => self.local.clone(),
        }
    }

    /// Like `Display`, source route included, but with the domain as
    /// written: the form kept in the queue, so the next hop gets it.
    pub fn to_written_string(&self) -> String {
        let mut s = String::new();
        if !self.route.is_empty() {
            let hops: Vec<String> = self.route.iter().map(|h| format!("@{h}")).collect();
            s = format!("{}:", hops.join(","));
        }
        s + &self.as_written()
    }

    /// Like [`Mailbox::to_written_string`], keeping a trailing dot the
    /// sender wrote (`joe@localhost.`): how sendmail 8.17 echoes, logs and
    /// queues a reverse path (`MAIL FROM:<joe@localhost.>` → `250 2.1.0
    /// <joe@localhost.>... Sender ok`, qf line `S<joe@localhost.>`), so the
    /// queue still knows the name was not `localhost`.
    pub fn to_given_string(&self) -> String {
        let mut s = self.to_written_string();
        if self.written_with_dot() {
            s.push('.');
        }
        s
    }

    /// Local part without a `+detail` suffix, and the detail (without `+`).
    pub fn split_detail(&self) -> (&str, Option<&str>) {
        match self.local.find('+') {
            Some(i) if !self.local.starts_with('"') => {
                (&self.local[..i], Some(&self.local[i + 1..]))
            }
            _ => (&self.local, None),
        }
    }

    /// The domain as a host name string (`None` if unqualified); literals in brackets.
    pub fn host(&self) -> Option<String> {
        self.domain.as_ref().map(|d| d.to_string())
    }
}

impl Domain {
    /// Parse a domain or an address literal; names are lower-cased and lose a trailing dot.
    pub fn parse(input: &str) -> Result<Domain, AddrError> {
        let d = trim_ws(input);
        if let Some(lit) = d.strip_prefix('[') {
            let lit = lit
                .strip_suffix(']')
                .ok_or_else(|| AddrError::BadLiteral(input.to_string()))?;
            let ip = if let Some(v6) = lit
                .strip_prefix("IPv6:")
                .or_else(|| lit.strip_prefix("ipv6:"))
                .or_else(|| lit.strip_prefix("IPV6:"))
            {
                v6.parse::<Ipv6Addr>().map(IpAddr::V6)
            } else {
                lit.parse::<std::net::Ipv4Addr>().map(IpAddr::V4)
            };
            return ip
                .map(Domain::Literal)
                .map_err(|_| AddrError::BadLiteral(input.to_string()));
        }
        if d.is_empty() {
            return Err(AddrError::MissingDomain(input.to_string()));
        }
        check_chars(d, input)?;
        // A host name has no quoting, escapes, white space or address
        // punctuation (found by fuzz/address: `u@\ ...` kept an escaped
        // space that did not survive printing and parsing again).
        if d.chars().any(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\\' | '<' | '>' | '(' | ')' | ',' | ';' | ':' | '@' | '[' | ']'
                )
        }) {
            return Err(AddrError::BadChar(input.to_string()));
        }
        let name = normalize_name(d);
        if name.is_empty() {
            // `user@.`: only the root's dot (sendmail: 553 5.1.2 Invalid
            // host name). Found by fuzz/address: it printed as `user@`,
            // which does not parse.
            return Err(AddrError::MissingDomain(input.to_string()));
        }
        Ok(Domain::Name(name))
    }

    /// The host name, if this is not a literal.
    pub fn name(&self) -> Option<&str> {
        match self {
            Domain::Name(n) => Some(n),
            Domain::Literal(_) => None,
        }
    }
}

/// Without the SMTP white space (ASCII space, tab, CR, LF) around it. Not
/// `str::trim`: it also takes Unicode spaces such as U+00A0, so a local
/// part ending in one printed differently from what was parsed (found by
/// fuzz/address).
fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Lower case, without a trailing dot.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `1.2.3.4` → `1.2.3.4`; IPv6 in sendmail's full uncompressed `IPv6:` form
/// (`IPv6:2001:db8:0:0:0:0:0:1`), as used in access keys and `${client_addr}`.
pub fn sendmail_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let segs: Vec<String> = v6.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("IPv6:{}", segs.join(":"))
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(n) => f.write_str(n),
            Domain::Literal(IpAddr::V4(v4)) => write!(f, "[{v4}]"),
            Domain::Literal(IpAddr::V6(v6)) => write!(f, "[IPv6:{v6}]"),
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.route.is_empty() {
            let hops: Vec<String> = self.route.iter().map(|h| format!("@{h}")).collect();
            write!(f, "{}:", hops.join(","))?;
        }
        f.write_str(&self.local)?;
        if let Some(d) = &self.domain {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Address {
    /// Without angle brackets; the null address prints as `<>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Null => f.write_str("<>"),
            Address::Mailbox(m) => m.fmt(f),
        }
    }
}

fn last_unquoted_at(s: &str) -> Result<Option<usize>, ()> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut last = None;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quote = !in_quote,
            '@' if !in_quote => last = Some(i),
            _ => {}
        }
    }
    if in_quote { Err(()) } else { Ok(last) }
}

/// No control character anywhere; no space, `<` or `>` outside quotes. A
/// backslash escapes the next character, as [`last_unquoted_at`] reads it
/// (an escaped `"` opens no quote: found by fuzz/address, where the two
/// readings disagreed and `<\"(>>` printed as an unparsable address).
fn check_chars(part: &str, whole: &str) -> Result<(), AddrError> {
    let mut in_quote = false;
    let mut escaped = false;
    for c in part.chars() {
        if c.is_control() {
            return Err(AddrError::BadChar(whole.to_string()));
        }
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quote = !in_quote,
            ' ' | '<' | '>' if !in_quote => return Err(AddrError::BadChar(whole.to_string())),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(s: &str) -> Mailbox {
        match Address::parse(s).unwrap() {
            Address::Mailbox(m) => m,
            Address::Null => panic!("null"),
        }
    }

    /// Found by the `address` fuzz target (fuzz/artifacts crash `v@.`): a
    /// domain of dots only parsed as an empty name and printed as `v@`,
    /// which does not parse. sendmail 8.17 (`-bt`, `check_rcpt <v@.>`):
    /// `553 5.1.2 Invalid host name`.
    #[test]
    fn a_domain_of_dots_is_no_domain() {
        for s in ["v@.", "<v@..>", "<@.:v@example.org>", "<@:v@example.org>"] {
            assert!(
                matches!(Address::parse(s), Err(AddrError::MissingDomain(_))),
                "{s}: {:?}",
                Address::parse(s)
            );
        }
        assert_eq!(Address::parse("v@a.").unwrap().to_string(), "v@a");
        // Route hops are domains: no control characters, no `@` inside.
        for s in ["@@\x0b@\x0b.\x0b:*", "<@a@b:u@example.org>"] {
            assert!(
                matches!(Address::parse(s), Err(AddrError::BadChar(_))),
                "{s:?}: {:?}",
                Address::parse(s)
            );
        }
        // Only ASCII white space is trimmed: a U+00A0 that ends a domain
        // before its trailing dots is kept, so printing and parsing agree.
        assert!(matches!(
            Address::parse("<\\R\\\"(>>"),
            Err(AddrError::BadChar(_))
        ));
        // Unicode spaces are no host name either.
        let s = "\u{a0}...@....\u{a0}.........";
        assert!(matches!(Address::parse(s), Err(AddrError::BadChar(_))));
        // Nor escapes: `1@  \ ....` kept an escaped space.
        assert!(matches!(
            Address::parse("1@  \\ ..........     "),
            Err(AddrError::BadChar(_))
        ));
        let a = Address::parse("<@Relay.Example.,@[192.0.2.1]:u@example.org>").unwrap();
        assert_eq!(a.to_string(), "@relay.example,@[192.0.2.1]:u@example.org");
    }

    #[test]
    fn forms() {
        assert_eq!(Address::parse("<>").unwrap(), Address::Null);
        let m = mb("<User@Example.COM.>");
        assert_eq!(m.local, "User");
        assert_eq!(m.domain, Some(Domain::Name("example.com".into())));
        assert_eq!(mb("joe").domain, None);
        let m = mb("<@a.org,@B.org:u@c.org>");
        assert_eq!(m.route, vec!["a.org", "b.org"]);
        assert_eq!(m.to_string(), "@a.org,@b.org:u@c.org");
        let m = mb("\"a@b\"@c.org");
        assert_eq!(m.local, "\"a@b\"");
        assert_eq!(mb("u@[192.0.2.1]").host().unwrap(), "[192.0.2.1]");
        assert_eq!(
            mb("u@[IPv6:2001:db8::1]").domain,
            Some(Domain::Literal("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(mb("a+b@x").split_detail(), ("a", Some("b")));
    }

    // Checked on sendmail 8.17 -bt (`/parse`): the user handed to esmtp
    // keeps the case as written, without the trailing dot:
    // `MiXed.Case@Sub.Example.ORG.` → user `MiXed.Case@Sub.Example.ORG`,
    // `Joe@[IPv6:2001:DB8::1]` → user `Joe@[IPv6:2001:DB8::1]`.
    #[test]
    fn domain_spelling_is_kept_beside_the_folded_domain() {
        let m = mb("<MiXed.Case@Sub.Example.ORG.>");
        assert_eq!(m.domain, Some(Domain::Name("sub.example.org".into())));
        assert_eq!(m.written_host().unwrap(), "Sub.Example.ORG");
        assert_eq!(m.as_written(), "MiXed.Case@Sub.Example.ORG");
        assert!(m.written_with_dot());
        assert!(!mb("joe@localhost").written_with_dot());
        assert_eq!(m, mb("MiXed.Case@sub.example.org"));
        let m = mb("Joe@[IPv6:2001:DB8::1]");
        assert_eq!(m.as_written(), "Joe@[IPv6:2001:DB8::1]");
        let mut m = mb("u@Old.ORG");
        m.domain = Some(Domain::Name("new.org".into()));
        assert_eq!(
            m.written_host().unwrap(),
            "new.org",
            "a stale spelling is not used"
        );
        assert_eq!(mb("joe").as_written(), "joe");
        assert_eq!(mb("<@A.org:U@B.Org>").to_written_string(), "@a.org:U@B.Org");
    }

    #[test]
    fn errors() {
        assert_eq!(Address::parse(""), Err(AddrError::Empty));
        assert!(matches!(
            Address::parse("<a@b"),
            Err(AddrError::Unbalanced(_))
        ));
        assert!(matches!(
            Address::parse("a@"),
            Err(AddrError::MissingDomain(_))
        ));
        assert!(matches!(
            Address::parse("@b"),
            Err(AddrError::MissingLocal(_))
        ));
        assert!(matches!(
            Address::parse("u@[1.2.3]"),
            Err(AddrError::BadLiteral(_))
        ));
        assert!(matches!(
            Address::parse("\"a@b"),
            Err(AddrError::UnbalancedQuote(_))
        ));
        assert!(matches!(
            Address::parse("a b@c"),
            Err(AddrError::BadChar(_))
        ));
    }

    #[test]
    fn sendmail_ipv6_form() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(sendmail_ip(&ip), "IPv6:2001:db8:0:0:0:0:0:1");
    }
}
