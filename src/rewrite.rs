//! Masquerading, genericstable and qualification of outgoing addresses.
//!
//! Contract: [`masquerade`] rewrites one address the way sendmail 8.17's
//! mailer rulesets do for the given [`Field`] and mailer (`S=`/`R=` of the
//! `smtp` family, `relay`, `local`/`prog`): genericstable first (§5.5 key
//! order, `$=G`, `generics_entire_domain`), then `MasqHdr` (`$=N`
//! exceptions, `$=E` exposed users, `$=M` with `masquerade_entire_domain`,
//! `$=w` unless `limited_masquerade`), with `masquerade_envelope`,
//! `allmasquerade`, `always_add_domain` and `local_no_masquerade` deciding
//! which fields take part. Before all of this, as sendmail's ruleset 3
//! does for every address, `FEATURE(domaintable)` replaces an old host
//! ([`crate::route::domaintable`]), in every field and for every mailer. Unqualified addresses are qualified with `$j`
//! (or `$M` when masqueraded). No DNS canonicalisation happens here (as
//! with `nocanonify`): host names are used as given, lower case, without a
//! trailing dot. Foreign addresses are never given the local domain.

use crate::addr::{Address, Domain};
use crate::route::mailertable::substitute;
use crate::site::Site;
use crate::table;
use std::fmt;

/// Which address is being rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `MAIL FROM`.
    EnvelopeSender,
    /// `From:`, `Sender:`, `Reply-To:`, `Resent-From:` ...
    HeaderSender,
    /// `RCPT TO`.
    EnvelopeRecipient,
    /// `To:`, `Cc:` ...
    HeaderRecipient,
}

/// What happened to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Nothing applied.
    Unchanged,
    /// This field is not masqueraded for this mailer (the feature that would
    /// turn it on is named).
    NotMasqueraded {
        /// Explanation, e.g. "envelope senders need masquerade_envelope".
        reason: String,
    },
    /// An unqualified address was qualified.
    Qualified {
        /// The domain added.
        domain: String,
    },
    /// Local delivery: only the local part is passed on.
    LocalPart,
    /// genericstable matched.
    Generics {
        /// The key.
        key: String,
        /// The value after substitution.
        value: String,
        /// Line in the table's text source.
        line: crate::site::SourceLine,
    },
    /// The host is a MASQUERADE_EXCEPTION (`$=N`).
    Exception {
        /// The `$=N` member.
        domain: String,
    },
    /// The user is an EXPOSED_USER (`$=E`).
    Exposed {
        /// The user.
        user: String,
    },
    /// Masqueraded to MASQUERADE_AS.
    Masquerade {
        /// The host that was replaced (`None` for an unqualified address).
        from: Option<String>,
        /// `$M`.
        to: String,
    },
    /// The host is not a masquerade candidate (not `$=w`/`$=M`).
    Foreign {
        /// The host.
        host: String,
    },
    /// The domaintable replaced the host (ruleset 3, before the rest).
    DomainTable {
        /// The old host (the key).
        key: String,
        /// The new host.
        value: String,
    },
    /// Two steps.
    Then(Box<Why>, Box<Why>),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Unchanged => f.write_str("no rewriting applies"),
            Why::NotMasqueraded { reason } => write!(f, "not masqueraded: {reason}"),
            Why::Qualified { domain } => write!(f, "unqualified: qualified with `{domain}`"),
            Why::LocalPart => f.write_str("local mailer: local part only"),
            Why::Generics { key, value, line } => write!(
                f,
                "genericstable{} `{key}` matched (value `{value}`)",
                line.suffix()
            ),
            Why::Exception { domain } => {
                write!(f, "`{domain}` is a MASQUERADE_EXCEPTION ($=N)")
            }
            Why::Exposed { user } => write!(f, "`{user}` is an EXPOSED_USER ($=E)"),
            Why::Masquerade { from: Some(h), to } => {
                write!(f, "`{h}` masqueraded as `{to}` (MASQUERADE_AS)")
            }
            Why::Masquerade { from: None, to } => {
                write!(f, "unqualified: masqueraded as `{to}` (MASQUERADE_AS)")
            }
            Why::Foreign { host } => {
                write!(
                    f,
                    "`{host}` is neither local ($=w) nor a masquerade domain ($=M)"
                )
            }
            Why::DomainTable { key, value } => {
                write!(
                    f,
                    "domaintable `{key}` matched: host rewritten to `{value}`"
                )
            }
            Why::Then(a, b) => write!(f, "{a}; then {b}"),
        }
    }
}

/// The mailer families whose rulesets differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Smtp,
    Relay,
    Local,
}

/// An address in sendmail's focused form: `host == None` is `*LOCAL*`
/// (unqualified after qualification), `Bare` is not qualified at all.
#[derive(Debug, Clone)]
struct Addr {
    local: String,
    host: Host,
}

#[derive(Debug, Clone, PartialEq)]
enum Host {
    Bare,
    Local,
    Name(String),
}

impl Addr {
    fn render(&self, site: &Site) -> String {
        match &self.host {
            Host::Bare => self.local.clone(),
            Host::Local => format!("{}@{}", self.local, site.hostname),
            Host::Name(h) => format!("{}@{}", self.local, h),
        }
    }
}

/// Rewrite `addr` for `field` as mailer `mailer` would send it. `addr`
/// may be a header mailbox (`Name <addr>`, `addr (comment)`, `<addr>`):
/// only the address inside changes, as sendmail 8.17's `/try` shows.
pub fn masquerade(
    site: &Site,
    field: Field,
    addr: &str,
    mailer: &str,
) -> Result<(String, Why), table::Error> {
    let t = addr.trim();
    if t.contains(['<', '(']) {
        return rewrite_item(site, t, field, mailer);
    }
    masquerade_addr(site, field, t, mailer)
}

/// Ruleset 3 on a UUCP path in the local part of an unqualified or local
/// address, as the router reads it ([`crate::route`]): a `$=w` host is
/// dropped, a dotted host becomes the domain, a single-label host stays in
/// the local part of a local address. sendmail 8.17 -bt (t2.mc, /tryflags
/// HS): `host.example.net!user` → `user@host.example.net`,
/// `gw.example.com!joe` → `joe@masq.example.com`, `host!user` →
/// `host!user@masq.example.com` (ES, HR: `host!user@gw.example.com`).
fn bang_path(site: &Site, mut m: crate::addr::Mailbox) -> crate::addr::Mailbox {
    if !site.bang_is_path() {
        return m;
    }
    for _ in 0..10 {
        let ours = m
            .domain
            .as_ref()
            .is_none_or(|d| site.is_local_host(&d.to_string()));
        if !ours || m.local.starts_with('"') {
            break;
        }
        let Some((h, r)) = m.local.split_once('!') else {
            break;
        };
        if h.is_empty() || r.is_empty() || h.starts_with('[') {
            break;
        }
        let folded = crate::addr::normalize_name(h);
        let next = if site.is_local_host(&folded) {
            r.to_string()
        } else if folded.contains('.') {
            format!("{r}@{h}")
        } else {
            m.domain = None;
            m.spelling = None;
            break;
        };
        match Address::parse(&next) {
            Ok(Address::Mailbox(n)) => m = n,
            _ => break,
        }
    }
    m
}

/// [`masquerade`] for a bare address.
fn masquerade_addr(
    site: &Site,
    field: Field,
    addr: &str,
    mailer: &str,
) -> Result<(String, Why), table::Error> {
    let parsed = match Address::parse(addr) {
        Ok(Address::Mailbox(m)) => m,
        _ => return Ok((addr.trim().to_string(), Why::Unchanged)),
    };
    let (parsed, table_why) = match crate::route::domaintable::apply(site, &parsed)? {
        Some((m, hit)) => (
            m,
            Why::DomainTable {
                key: hit.key,
                value: hit.value,
            },
        ),
        None => (parsed, Why::Unchanged),
    };
    // `joe@localhost.`: ruleset 3's `localhost` → `$j` rules do not match
    // a name written with its trailing dot (sendmail 8.17 -bt, t2.mc:
    // ES `joe@localhost.` → `joe@localhost`, HS `root@localhost.` →
    // `root@localhost`); only the dot is dropped.
    let before = parsed.domain.clone();
    let parsed = bang_path(site, parsed);
    let dotted = table_why == Why::Unchanged
        && addr.trim_end().ends_with('.')
        && before.is_some()
        && parsed.domain == before;
    // Written as `host!user` (no domain): the relay mailer keeps the path.
    let uucp = before.is_none() && parsed.domain.is_none();
    let (out, why) = masquerade_canonified(site, field, parsed, mailer, dotted, uucp)?;
    Ok((out, then(table_why, why)))
}

fn masquerade_canonified(
    site: &Site,
    field: Field,
    parsed: crate::addr::Mailbox,
    mailer: &str,
    dotted: bool,
    uucp: bool,
) -> Result<(String, Why), table::Error> {
    let host = match &parsed.domain {
        None => Host::Bare,
        Some(d) if !dotted && is_self(site, d) => Host::Local,
        Some(d @ Domain::Literal(_)) => Host::Name(d.to_string()),
        Some(Domain::Name(n)) => Host::Name(n.clone()),
    };
    let a = Addr {
        local: parsed.local.clone(),
        host,
    };
    let cfg = &site.config;
    let family = match mailer {
        "local" | "prog" => Family::Local,
        "relay" => Family::Relay,
        _ => Family::Smtp,
    };
    let (out, why) = match (family, field) {
        (Family::Local, Field::EnvelopeRecipient) => (
            Addr {
                local: a.local,
                host: Host::Bare,
            },
            Why::LocalPart,
        ),
        (Family::Local, Field::HeaderRecipient) => {
            let (a, w) = add_domain(site, a);
            (a, w)
        }
        (Family::Local, Field::EnvelopeSender | Field::HeaderSender) => {
            let (a, w1) = add_domain(site, a);
            if cfg.has_feature("local_no_masquerade") {
                let w = Why::NotMasqueraded {
                    reason: "local_no_masquerade".into(),
                };
                (a, then(w1, w))
            } else if field == Field::EnvelopeSender && !cfg.has_feature("masquerade_envelope") {
                (a, then(w1, not_env()))
            } else {
                let (a, w2) = masq_hdr(site, a)?;
                (a, then(w1, w2))
            }
        }
        // The relay mailer hands a UUCP path on as a path: ruleset 3's
        // `user<@host.UUCP.>` goes back to `host!user` (sendmail 8.17 -bt,
        // t2.mc, /tryflags HR and ER, /try relay host!user → host!user;
        // esmtp → host!user@gw.example.com).
        (Family::Relay, Field::EnvelopeRecipient | Field::HeaderRecipient)
            if uucp && site.bang_is_path() && is_uucp_path(&a) =>
        {
            (a, Why::Unchanged)
        }
        (_, Field::EnvelopeRecipient) => qualify(a),
        (_, Field::HeaderRecipient) => {
            if cfg.has_feature("allmasquerade") {
                masq_hdr(site, qualify(a).0)?
            } else {
                let (a, w) = qualify(a);
                let reason = Why::NotMasqueraded {
                    reason: "header recipients need allmasquerade".into(),
                };
                (a, then(w, reason))
            }
        }
        (_, Field::HeaderSender) => masq_hdr(site, qualify(a).0)?,
        (_, Field::EnvelopeSender) => {
            if cfg.has_feature("masquerade_envelope") {
                masq_hdr(site, qualify(a).0)?
            } else {
                let (a, w) = qualify(a);
                (a, then(w, not_env()))
            }
        }
    };
    let why = match (&why, &out.host) {
        (Why::Unchanged, Host::Local) => Why::Qualified {
            domain: site.hostname.clone(),
        },
        _ => why,
    };
    // A host no rule replaced keeps the sender's spelling (sendmail 8.17
    // -bt, /tryflags ES: `Joe@Example.COM` → `Joe@Example.COM`).
    let rendered = match (&out.host, parsed.written_host()) {
        (Host::Name(h), Some(w)) if w.eq_ignore_ascii_case(h) => format!("{}@{w}", out.local),
        _ => out.render(site),
    };
    Ok((rendered, why))
}

/// Ruleset 3 (`Canonify`) writes `localhost`, `localhost.$m`,
/// `localhost.UUCP` and an address literal in `$=w` as `$j`, for every
/// field (sendmail 8.17 -bt: `/tryflags ER`, `joe@localhost` →
/// `joe@gw.example.com`).
fn is_self(site: &Site, d: &Domain) -> bool {
    match d {
        Domain::Literal(_) => site.is_local_host(&d.to_string()),
        Domain::Name(n) => {
            let m = site.hostname.split_once('.').map(|(_, m)| m);
            n == "localhost"
                || n == "localhost.uucp"
                || m.is_some_and(|m| n.strip_prefix("localhost.") == Some(&m.to_ascii_lowercase()))
        }
    }
}

/// An unqualified `host!user` (what [`bang_path`] leaves: a host without
/// a dot, which ruleset 3 makes `host.UUCP`).
fn is_uucp_path(a: &Addr) -> bool {
    a.host == Host::Bare
        && !a.local.starts_with('"')
        && a.local
            .split_once('!')
            .is_some_and(|(h, r)| !h.is_empty() && !r.is_empty())
}

fn not_env() -> Why {
    Why::NotMasqueraded {
        reason: "envelope senders need masquerade_envelope".into(),
    }
}

fn then(a: Why, b: Why) -> Why {
    match (&a, &b) {
        (Why::Unchanged, _) => b,
        (_, Why::Unchanged) => a,
        _ => Why::Then(Box::new(a), Box::new(b)),
    }
}

/// `MasqSMTP`: unqualified → `*LOCAL*`.
fn qualify(a: Addr) -> (Addr, Why) {
    match a.host {
        Host::Bare => (
            Addr {
                local: a.local,
                host: Host::Local,
            },
            Why::Unchanged,
        ),
        _ => (a, Why::Unchanged),
    }
}

/// `AddDomain`: only with `always_add_domain` (its argument, if given, is
/// the domain to add).
fn add_domain(site: &Site, a: Addr) -> (Addr, Why) {
    let Some(args) = site.config.feature_args("always_add_domain") else {
        return (a, Why::Unchanged);
    };
    if a.host != Host::Bare {
        return (a, Why::Unchanged);
    }
    match args.first().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(d) => (
            Addr {
                local: a.local,
                host: Host::Name(d.to_ascii_lowercase()),
            },
            Why::Qualified {
                domain: d.to_ascii_lowercase(),
            },
        ),
        None => (
            Addr {
                local: a.local,
                host: Host::Local,
            },
            Why::Unchanged,
        ),
    }
}

/// Is `host` in class `class`, or (with `entire`) a subdomain of a member?
fn in_domain_class(site: &Site, class: &str, host: &str, entire: bool) -> Option<String> {
    if site.in_class(class, host) {
        return Some(host.to_string());
    }
    if entire {
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            if site.in_class(class, parent) {
                return Some(parent.to_string());
            }
            rest = parent;
        }
    }
    None
}

/// `MasqHdr` (ruleset 93), with the genericstable lookups in front.
fn masq_hdr(site: &Site, a: Addr) -> Result<(Addr, Why), table::Error> {
    let cfg = &site.config;
    let (a, gen_why) = match generics(site, &a)? {
        Some((value, why)) => {
            if let Some((l, h)) = value.rsplit_once('@') {
                // A qualified value is final: not masqueraded again.
                let out = Addr {
                    local: l.to_string(),
                    host: Host::Name(h.trim_end_matches('.').to_ascii_lowercase()),
                };
                return Ok((out, why));
            }
            (
                Addr {
                    local: value,
                    host: Host::Local,
                },
                why,
            )
        }
        None => (a, Why::Unchanged),
    };
    let masq = cfg
        .masquerade_as
        .as_deref()
        .map(|m| m.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|m| !m.is_empty());
    let entire = cfg.has_feature("masquerade_entire_domain");
    let limited = cfg.has_feature("limited_masquerade");
    let host = match &a.host {
        Host::Bare | Host::Local => None,
        Host::Name(h) => Some(h.clone()),
    };
    if let Some(h) = &host
        && let Some(n) = in_domain_class(site, "N", h, true)
    {
        return Ok((a, then(gen_why, Why::Exception { domain: n })));
    }
    let candidate = match &host {
        None => true,
        Some(h) => {
            in_domain_class(site, "M", h, entire).is_some() || (!limited && site.is_local_host(h))
        }
    };
    if !candidate {
        let h = host.unwrap_or_default();
        return Ok((a, then(gen_why, Why::Foreign { host: h })));
    }
    if site.in_class("E", &a.local) {
        let why = Why::Exposed {
            user: a.local.clone(),
        };
        return Ok((a, then(gen_why, why)));
    }
    match masq {
        None => Ok((a, gen_why)),
        Some(m) => {
            let why = Why::Masquerade {
                from: host,
                to: m.clone(),
            };
            let out = Addr {
                local: a.local,
                host: Host::Name(m),
            };
            Ok((out, then(gen_why, why)))
        }
    }
}

/// genericstable lookups (§5.5): for `*LOCAL*` and `$=G` hosts.
fn generics(site: &Site, a: &Addr) -> Result<Option<(String, Why)>, table::Error> {
    let cfg = &site.config;
    if !cfg.has_feature("genericstable") {
        return Ok(None);
    }
    let Some(t) = site.table("generics") else {
        return Ok(None);
    };
    let entire = cfg.has_feature("generics_entire_domain");
    let (domain, qualified) = match &a.host {
        Host::Bare | Host::Local => (site.hostname.clone(), false),
        Host::Name(h) => match in_domain_class(site, "G", h, entire) {
            Some(_) => (h.clone(), true),
            None => return Ok(None),
        },
    };
    let local = a.local.to_ascii_lowercase();
    let split = local
        .split_once('+')
        .filter(|_| !local.starts_with('"'))
        .map(|(u, d)| (u.to_string(), d.to_string()));
    let mut keys: Vec<(String, Vec<String>)> = vec![(format!("{local}@{domain}"), vec![])];
    if let Some((u, d)) = &split {
        keys.push((format!("{u}+*@{domain}"), vec![d.clone()]));
        keys.push((format!("{u}@{domain}"), vec![]));
    }
    if qualified {
        keys.push((format!("@{domain}"), vec![a.local.clone()]));
    }
    keys.push((local.clone(), vec![]));
    if let Some((u, d)) = &split {
        keys.push((format!("{u}+*"), vec![d.clone()]));
        keys.push((u.clone(), vec![]));
    }
    for (key, args) in keys {
        if let Some(v) = t.lookup(&key)? {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let value = substitute(v.trim(), &key, &args);
            let why = Why::Generics {
                line: site.source_line("generics", &key),
                key,
                value: value.clone(),
            };
            return Ok(Some((value, why)));
        }
    }
    Ok(None)
}

/// Headers whose addresses are senders (masqueraded like `From:`).
const SENDER_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "resent-from",
    "resent-sender",
    "resent-reply-to",
    "errors-to",
];

/// Headers whose addresses are recipients.
const RECIPIENT_HEADERS: &[&str] = &["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"];

/// Rewrite the addresses in a message's header section as `mailer` sends
/// them (sendmail's per-mailer header rulesets): sender headers with
/// [`Field::HeaderSender`], recipient headers with [`Field::HeaderRecipient`].
/// Addresses are found as `<addr>` or, without angle brackets, as the first
/// word of each comma-separated item (comments in parentheses and quoted
/// display names are left as they are). The body is untouched. Returns
/// `None` when nothing changed (the caller keeps the original bytes).
pub fn headers(site: &Site, message: &[u8], mailer: &str) -> Result<Option<Vec<u8>>, table::Error> {
    let end = match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => i + 2,
        None => return Ok(None),
    };
    let head = String::from_utf8_lossy(&message[..end]).into_owned();
    // Logical header lines: a line plus its continuation lines.
    let mut lines: Vec<String> = Vec::new();
    for line in head.split_inclusive("\r\n") {
        if line.starts_with([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push_str(line);
            continue;
        }
        lines.push(line.to_string());
    }
    let mut out = String::with_capacity(head.len() + 64);
    let mut changed = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            out.push_str(&line);
            continue;
        };
        let lname = name.trim().to_ascii_lowercase();
        let field = if SENDER_HEADERS.contains(&lname.as_str()) {
            Field::HeaderSender
        } else if RECIPIENT_HEADERS.contains(&lname.as_str()) {
            Field::HeaderRecipient
        } else {
            out.push_str(&line);
            continue;
        };
        let new_value = rewrite_list(site, value, field, mailer)?;
        changed |= new_value != value;
        out.push_str(name);
        out.push(':');
        out.push_str(&new_value);
    }
    if !changed {
        return Ok(None);
    }
    let mut v = out.into_bytes();
    v.extend_from_slice(&message[end..]);
    Ok(Some(v))
}

/// Rewrite every address of one header value, split at top-level commas.
fn rewrite_list(
    site: &Site,
    value: &str,
    field: Field,
    mailer: &str,
) -> Result<String, table::Error> {
    let (mut depth, mut quoted, mut angle) = (0u32, false, false);
    let mut items: Vec<String> = vec![String::new()];
    for c in value.chars() {
        match c {
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            '<' if !quoted && depth == 0 => angle = true,
            '>' if !quoted && depth == 0 => angle = false,
            ',' if !quoted && depth == 0 && !angle => {
                items.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(cur) = items.last_mut() {
            cur.push(c);
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.push(rewrite_item(site, item, field, mailer)?.0);
    }
    Ok(out.join(","))
}

/// One mailbox: `Name <addr>`, `addr (comment)` or `addr`; the brackets,
/// display name and comments stay as written.
fn rewrite_item(
    site: &Site,
    item: &str,
    field: Field,
    mailer: &str,
) -> Result<(String, Why), table::Error> {
    if let (Some(l), Some(r)) = (item.rfind('<'), item.rfind('>'))
        && l < r
    {
        let addr = item[l + 1..r].trim();
        if addr.is_empty() {
            return Ok((item.to_string(), Why::Unchanged));
        }
        let (new, why) = masquerade_addr(site, field, addr, mailer)?;
        return Ok((format!("{}<{new}>{}", &item[..l], &item[r + 1..]), why));
    }
    // A bare address: the first word that is not a comment.
    let lead = item.len() - item.trim_start().len();
    let body = &item[lead..];
    let word_end = body
        .find([' ', '\t', '(', '\r', '\n'])
        .unwrap_or(body.len());
    let word = &body[..word_end];
    if word.is_empty() || word.contains(['"', ':', ';']) {
        return Ok((item.to_string(), Why::Unchanged));
    }
    let (new, why) = masquerade_addr(site, field, word, mailer)?;
    Ok((format!("{}{new}{}", &item[..lead], &body[word_end..]), why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::BTreeMap;

    #[test]
    fn header_addresses_rewritten_per_field() {
        let mut c = Config::new();
        c.hostname = Some("mbox1.example.gr.jp".into());
        c.masquerade_as = Some("example.gr.jp".into());
        c.classes.insert("E".into(), vec!["root".into()]);
        let site = Site::from_parts(c, BTreeMap::new()).unwrap();
        let msg = b"From: Bob <bob@mbox1.example.gr.jp>\r\nSender: root@mbox1.example.gr.jp\r\nTo: carol@mbox1.example.gr.jp,\r\n dave (D) \r\nSubject: bob@mbox1.example.gr.jp\r\n\r\nbody bob@mbox1.example.gr.jp\r\n";
        let out = headers(&site, msg, "esmtp").unwrap().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("From: Bob <bob@example.gr.jp>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Sender: root@mbox1.example.gr.jp\r\n"),
            "root exposed: {text}"
        );
        // Recipient headers are only qualified (no allmasquerade).
        assert!(
            text.contains("To: carol@mbox1.example.gr.jp,\r\n dave@mbox1.example.gr.jp (D) \r\n"),
            "{text}"
        );
        assert!(
            text.contains("Subject: bob@mbox1.example.gr.jp\r\n"),
            "other headers untouched"
        );
        assert!(
            text.ends_with("\r\n\r\nbody bob@mbox1.example.gr.jp\r\n"),
            "body untouched"
        );
        assert_eq!(
            headers(&site, b"Subject: x\r\n\r\nb\r\n", "esmtp").unwrap(),
            None
        );
    }
}
