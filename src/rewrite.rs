//! Masquerading, genericstable and qualification of outgoing addresses.
//!
//! Contract: [`masquerade`] rewrites one address the way sendmail 8.17's
//! mailer rulesets do for the given [`Field`] and mailer (`S=`/`R=` of the
//! `smtp` family, `relay`, `local`/`prog`): genericstable first (§5.5 key
//! order, `$=G`, `generics_entire_domain`), then `MasqHdr` (`$=N`
//! exceptions, `$=E` exposed users, `$=M` with `masquerade_entire_domain`,
//! `$=w` unless `limited_masquerade`), with `masquerade_envelope`,
//! `allmasquerade`, `always_add_domain` and `local_no_masquerade` deciding
//! which fields take part. Unqualified addresses are qualified with `$j`
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
        line: Option<u32>,
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
                line.map(|l| format!(" line {l}")).unwrap_or_default()
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

/// Rewrite `addr` for `field` as mailer `mailer` would send it.
pub fn masquerade(
    site: &Site,
    field: Field,
    addr: &str,
    mailer: &str,
) -> Result<(String, Why), table::Error> {
    let parsed = match Address::parse(addr) {
        Ok(Address::Mailbox(m)) => m,
        _ => return Ok((addr.trim().to_string(), Why::Unchanged)),
    };
    let host = match &parsed.domain {
        None => Host::Bare,
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
    Ok((out.render(site), why))
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
