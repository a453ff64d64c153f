//! The router: which mailer, host and user a recipient is delivered with.
//!
//! Contract: [`resolve`] reproduces sendmail 8.17's recipient resolution
//! (ruleset 0 `Parse0`/`Parse1`, then ruleset 5 `localaddr` for local
//! names that are not aliases) as a pure function of a [`Site`]:
//!
//! 0. `FEATURE(domaintable)`: the host is replaced by its domaintable value
//!    first (ruleset 3; [`domaintable`]), once per pass;
//! 1. `<>` → `553 5.1.3 User address required`; source routes are dropped
//!    (sendmail prunes them too); `user%host@$=w` and unqualified
//!    `user%host` become `user@host` (the `%` hack).
//! 2. a domain literal `user@[ip]` (not in `$=w`) → SMART_HOST (`mailer:`
//!    given → that mailer, else `esmtp`) or `esmtp:[ip]`; mailertable is
//!    never consulted;
//! 3. a host in `$=w` (or `$={VirtHost}`) → virtusertable first (with
//!    `FEATURE(virtusertable)`), then local;
//! 4. otherwise mailertable (full host, `.parent` walk, `.`), SMART_HOST,
//!    and finally `esmtp` to the host by MX;
//! 5. unqualified names are local.
//!
//! Local names (step 3, 5, `local:` values) go through the local step:
//! `$=L` users are delivered as they are; a name that has an alias is
//! delivered locally (the alias is expanded later by [`crate::alias`], and
//! each local name it expands to goes through [`localaddr`], as sendmail
//! runs ruleset 5 after aliasing);
//! otherwise `localaddr`: LUSER_RELAY for an unknown user
//! ([`crate::users::local_user`]), then MAIL_HUB, then LOCAL_RELAY, with
//! `stickyhost` sending `user@$=w` only to MAIL_HUB. The `+detail` is kept.
//!
//! Each answer carries a [`Because`] naming the rule, for `-bt`, logs and
//! explanations. Table errors are returned (the caller temp-fails); nothing
//! here does DNS: "MX" means "the deliverer looks up MX records for host".
//! Hosts are lower case, without a trailing dot, brackets kept; local parts
//! keep their case. Where sendmail reports the original address as the
//! "host" of a local delivery, [`Route::host`] is `None`.

pub mod domaintable;
pub mod mailertable;
pub mod triple;
pub mod virtuser;

use crate::addr::{Address, Domain, Mailbox};
use crate::site::Site;
use crate::table;
use crate::users::{self, LocalUser};
use std::fmt;
use triple::Triple;

/// A delivery decision: Postfix's (transport, nexthop, recipient) triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Mailer name (`local`, `esmtp`, `smtp`, `relay`, ...).
    pub mailer: String,
    /// Next hop; `None` for local delivery. `[host]` means "no MX lookup".
    pub host: Option<String>,
    /// The recipient as the mailer gets it (`user` for local, `user@host` otherwise).
    pub user: String,
}

/// The reply an `error:` decision gives to the SMTP client (a 4xx asks
/// to retry, anything else refuses).
pub use crate::proto::reply::Reply as ErrorReply;

/// What a recipient resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Deliver with this route.
    Deliver(Route),
    /// Refuse or temp-fail with this reply (the `error` mailer).
    Error(ErrorReply),
}

/// The rule that produced a [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Because {
    /// The null address `<>` is not a recipient.
    NullRecipient,
    /// The domaintable replaced the host (ruleset 3).
    DomainTable {
        /// The old host (the key).
        key: String,
        /// The new host.
        value: String,
        /// Line in the table's text source.
        line: crate::site::SourceLine,
    },
    /// `user%host@local` or `user%host` was rewritten to this address.
    PercentHack {
        /// The rewritten address.
        address: String,
    },
    /// A UUCP-style `host!user` path (local part of an unqualified or
    /// local address) was rewritten to this address (`user@host`, or
    /// `user@host.UUCP` for a single-label host).
    BangPath {
        /// The rewritten address.
        address: String,
    },
    /// A domain literal: SMART_HOST (if set) or the literal itself.
    DomainLiteral {
        /// The SMART_HOST value used, if any.
        smart_host: Option<String>,
    },
    /// The host is in `$=w`.
    LocalDomain {
        /// The host.
        host: String,
    },
    /// An unqualified name is local.
    Unqualified,
    /// The user is in `$=L` (LOCAL_USER): no relays apply.
    LocalUserClass {
        /// The user.
        user: String,
    },
    /// The local name has an alias (expanded at delivery).
    Alias {
        /// The alias key.
        key: String,
    },
    /// A virtusertable entry matched.
    Virtuser {
        /// The key that matched.
        key: String,
        /// Its value after `%n` substitution.
        value: String,
        /// Line in the table's text source.
        line: crate::site::SourceLine,
    },
    /// A mailertable entry matched.
    MailerTable {
        /// The key that matched.
        key: String,
        /// Its value after `%n` substitution.
        value: String,
        /// Line in the table's text source.
        line: crate::site::SourceLine,
    },
    /// SMART_HOST.
    SmartHost {
        /// The SMART_HOST value.
        value: String,
    },
    /// LUSER_RELAY: the local user is unknown.
    LuserRelay {
        /// The LUSER_RELAY value.
        value: String,
    },
    /// MAIL_HUB.
    MailHub {
        /// The MAIL_HUB value.
        value: String,
    },
    /// LOCAL_RELAY.
    LocalRelay {
        /// The LOCAL_RELAY value.
        value: String,
    },
    /// No rule matched: deliver to the host by its MX records.
    Mx {
        /// The host.
        host: String,
    },
    /// Resolution went through a rewriting loop too many times.
    Loop,
    /// The first rule rewrote the address, the second decided.
    Then(Box<Because>, Box<Because>),
}

impl fmt::Display for Because {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Because::NullRecipient => f.write_str("the null address <> is not a recipient"),
            Because::DomainTable {
                key,
                value,
                line: l,
            } => write!(
                f,
                "domaintable{} `{key}` matched: host rewritten to `{value}`",
                l.suffix()
            ),
            Because::PercentHack { address } => {
                write!(f, "`%` hack: address rewritten to `{address}`")
            }
            Because::BangPath { address } => {
                write!(f, "`!` path: address rewritten to `{address}`")
            }
            Because::DomainLiteral {
                smart_host: Some(s),
            } => write!(
                f,
                "domain literal: sent to SMART_HOST `{s}` (mailertable is not used for literals)"
            ),
            Because::DomainLiteral { smart_host: None } => {
                f.write_str("domain literal: sent to that address (no SMART_HOST)")
            }
            Because::LocalDomain { host } => write!(f, "`{host}` is a local host name ($=w)"),
            Because::Unqualified => f.write_str("unqualified address: local"),
            Because::LocalUserClass { user } => {
                write!(f, "`{user}` is a LOCAL_USER ($=L): delivered here")
            }
            Because::Alias { key } => write!(f, "local name `{key}` has an alias"),
            Because::Virtuser {
                key,
                value,
                line: l,
            } => write!(
                f,
                "virtusertable{} `{key}` matched (value `{value}`)",
                l.suffix()
            ),
            Because::MailerTable {
                key,
                value,
                line: l,
            } => write!(
                f,
                "mailertable{} `{key}` matched (value `{value}`)",
                l.suffix()
            ),
            Because::SmartHost { value } => write!(f, "SMART_HOST `{value}`"),
            Because::LuserRelay { value } => {
                write!(f, "unknown local user: LUSER_RELAY `{value}`")
            }
            Because::MailHub { value } => write!(f, "local user: MAIL_HUB `{value}`"),
            Because::LocalRelay { value } => write!(f, "local user: LOCAL_RELAY `{value}`"),
            Because::Mx { host } => write!(
                f,
                "no mailertable entry or SMART_HOST: esmtp to the MX of `{host}`"
            ),
            Because::Loop => f.write_str("address rewriting loop broken"),
            Because::Then(a, b) => write!(f, "{a}; then {b}"),
        }
    }
}

impl Because {
    fn then(self, next: Because) -> Because {
        Because::Then(Box::new(self), Box::new(next))
    }
}

/// How many times an address may be rewritten (virtusertable, `%` hack)
/// before resolution gives up.
const MAX_REWRITES: u32 = 10;

/// Resolve a recipient (see the module doc for the order of rules).
pub fn resolve(site: &Site, rcpt: &Address) -> Result<(Resolution, Because), table::Error> {
    match rcpt {
        Address::Null => Ok((
            Resolution::Error(triple::error_reply(
                Some("5.1.3"),
                "553 User address required",
            )),
            Because::NullRecipient,
        )),
        Address::Mailbox(m) => resolve_mailbox(site, m, 0),
    }
}

/// What sendmail answers at RCPT time for a local user that resolved to
/// the `local` mailer: `550 5.1.1 User unknown` for an unknown name,
/// `550 5.2.1 <text>` for a disabled mailbox, `None` when it exists.
pub fn check_local_user(site: &Site, user: &str) -> Result<Option<ErrorReply>, table::Error> {
    let base = user.split_once('+').map_or(user, |(b, _)| b);
    Ok(users::local_user(site, base)?.0.refusal())
}

/// One pass of ruleset 3 then 0: the domaintable, then the rules.
fn resolve_mailbox(
    site: &Site,
    m: &Mailbox,
    depth: u32,
) -> Result<(Resolution, Because), table::Error> {
    match domaintable::apply(site, m)? {
        None => resolve_canonified(site, m, depth),
        Some((new, hit)) => {
            let (r, why) = resolve_canonified(site, &new, depth)?;
            let first = Because::DomainTable {
                key: hit.key,
                value: hit.value,
                line: hit.line,
            };
            Ok((r, first.then(why)))
        }
    }
}

fn resolve_canonified(
    site: &Site,
    m: &Mailbox,
    depth: u32,
) -> Result<(Resolution, Because), table::Error> {
    if depth > MAX_REWRITES {
        return Ok((
            Resolution::Error(triple::error_reply(
                Some("5.3.0"),
                "554 5.3.0 aliasing/forwarding loop broken",
            )),
            Because::Loop,
        ));
    }
    let local_host = match &m.domain {
        None => true,
        Some(d) => site.is_local_host(&d.to_string()),
    };
    // `!` before `%`: `host!user%x.org` is a UUCP path (sendmail 8.17).
    if local_host
        && site.bang_is_path()
        && let Some(i) = first_unquoted_bang(&m.local)
    {
        return bang_path(site, &m.local[..i], &m.local[i + 1..], depth);
    }
    if local_host && let Some(i) = last_unquoted_percent(&m.local) {
        let address = format!("{}@{}", &m.local[..i], &m.local[i + 1..]);
        if let Ok(Address::Mailbox(next)) = Address::parse(&address) {
            let (r, why) = resolve_mailbox(site, &next, depth + 1)?;
            return Ok((r, Because::PercentHack { address }.then(why)));
        }
    }
    match &m.domain {
        None => local_step(site, &m.local, Origin::Unqualified, Because::Unqualified),
        Some(Domain::Literal(_)) if !local_host => Ok(literal(site, m)),
        Some(d) => {
            let host = d.to_string();
            if (local_host || site.in_class("VirtHost", &host))
                && site.config.has_feature("virtusertable")
                && let Some(t) = site.table("virtuser")
                && let Some(hit) = virtuser::lookup(t.as_ref(), &m.local, &host)?
            {
                return virtuser_result(site, hit, depth);
            }
            if local_host {
                let why = Because::LocalDomain { host: host.clone() };
                return local_step(site, &m.local, Origin::LocalHost(&host), why);
            }
            let written = m.written_host().unwrap_or_else(|| host.clone());
            remote(site, &m.local, &written, &host)
        }
    }
}

fn literal(site: &Site, m: &Mailbox) -> (Resolution, Because) {
    let host = m.host().unwrap_or_default();
    let user = m.as_written();
    let smart = site
        .config
        .relays
        .smart_host
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let route = match smart {
        None => Route {
            mailer: "esmtp".into(),
            host: Some(host),
            user,
        },
        Some(s) => match triple::split_mailer(s) {
            Some((mailer, rest)) => Route {
                mailer: mailer.to_string(),
                host: Some(triple::normalize_host(rest)),
                user,
            },
            None => Route {
                mailer: "esmtp".into(),
                host: Some(triple::normalize_host(s)),
                user,
            },
        },
    };
    (
        Resolution::Deliver(route),
        Because::DomainLiteral {
            smart_host: smart.map(String::from),
        },
    )
}

fn virtuser_result(
    site: &Site,
    hit: virtuser::Hit,
    depth: u32,
) -> Result<(Resolution, Because), table::Error> {
    let why = Because::Virtuser {
        line: site.source_line("virtuser", &hit.key),
        key: hit.key,
        value: hit.value.clone(),
    };
    if let Some(rest) = hit
        .value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("error:"))
        .and_then(|_| hit.value.get(6..))
    {
        return Ok((Resolution::Error(triple::error_from_virtuser(rest)), why));
    }
    match Address::parse(&hit.value) {
        Ok(Address::Mailbox(next)) => {
            let (r, then) = resolve_mailbox(site, &next, depth + 1)?;
            Ok((r, why.then(then)))
        }
        _ => Ok((
            Resolution::Error(triple::error_reply(
                None,
                &format!("virtusertable value `{}` is not an address", hit.value),
            )),
            why,
        )),
    }
}

/// `host` is the folded host (table keys); the recipient handed on keeps
/// the local part and domain as written (sendmail 8.17 -bt:
/// `User@Elsewhere.COM` → `user User@Elsewhere.COM`).
fn remote(
    site: &Site,
    local: &str,
    written: &str,
    host: &str,
) -> Result<(Resolution, Because), table::Error> {
    let written = written.to_string();
    if site.config.has_feature("mailertable")
        && let Some(t) = site.table("mailertable")
        && let Some(hit) = mailertable::lookup(t.as_ref(), host)?
    {
        let why = Because::MailerTable {
            line: site.source_line("mailertable", &hit.key),
            key: hit.key,
            value: hit.value.clone(),
        };
        match triple::resolve_value(site, &hit.value, local, &written) {
            Triple::Continue => {}
            t => return finish(site, t, why),
        }
    }
    if let Some(s) = site
        .config
        .relays
        .smart_host
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let why = Because::SmartHost {
            value: s.to_string(),
        };
        match triple::resolve_value(site, s, local, &written) {
            Triple::Continue => {}
            t => return finish(site, t, why),
        }
    }
    Ok((
        Resolution::Deliver(Route {
            mailer: "esmtp".into(),
            host: Some(host.to_string()),
            user: format!("{local}@{written}"),
        }),
        Because::Mx {
            host: host.to_string(),
        },
    ))
}

/// Turn a MailerToTriple answer into a resolution; local answers go
/// through the local step.
fn finish(site: &Site, t: Triple, why: Because) -> Result<(Resolution, Because), table::Error> {
    match t {
        Triple::Remote { mailer, host, user } => Ok((
            Resolution::Deliver(Route {
                mailer,
                host: Some(host),
                user,
            }),
            why,
        )),
        Triple::Error(e) => Ok((Resolution::Error(e), why)),
        Triple::Local { user } => local_step(site, &user, Origin::Table, why),
        Triple::Continue => Ok((Resolution::Deliver(local_route(String::new())), why)),
    }
}

/// Where a local name came from (stickyhost treats `user@$=w` apart).
#[derive(Debug, Clone, Copy)]
enum Origin<'a> {
    Unqualified,
    LocalHost(&'a str),
    Table,
}

/// The local mailer's route. The user is folded to lower case: Debian's
/// `MAILER(local)` has no `F=u`, so sendmail 8.17 hands it the name in
/// lower case (`-bt /parse JOE@gw.example.com` → `mailer local, user joe`;
/// `"Quoted User"` → `"quoted user"`), and aliases match in any case.
fn local_route(user: String) -> Route {
    Route {
        mailer: "local".into(),
        host: None,
        user: user.to_ascii_lowercase(),
    }
}

fn local_step(
    site: &Site,
    user: &str,
    origin: Origin<'_>,
    why: Because,
) -> Result<(Resolution, Because), table::Error> {
    let relays = &site.config.relays;
    let set = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    if let (Origin::LocalHost(host), true) = (origin, site.config.has_feature("stickyhost")) {
        // stickyhost: `user@$=w` goes to MAIL_HUB keeping its host, else
        // it is delivered here without ruleset 5.
        if let Some(hub) = set(&relays.mail_hub) {
            let t = triple::resolve_value(site, &hub, user, host);
            let why = why.then(Because::MailHub { value: hub });
            return match t {
                Triple::Local { user } => Ok((Resolution::Deliver(local_route(user)), why)),
                Triple::Continue => Ok((Resolution::Deliver(local_route(user.into())), why)),
                t => finish(site, t, why),
            };
        }
        return Ok((Resolution::Deliver(local_route(user.to_string())), why));
    }
    if !matches!(origin, Origin::Table) && site.in_class("L", user) {
        let why = why.then(Because::LocalUserClass {
            user: user.to_string(),
        });
        return Ok((Resolution::Deliver(local_route(user.to_string())), why));
    }
    // Aliases come before ruleset 5: `user+detail`, `user+*`, `user`. What
    // the alias expands to goes through ruleset 5 in turn ([`localaddr`]).
    let lower = user.to_ascii_lowercase();
    let (base, detail) = match lower.split_once('+') {
        Some((b, d)) if !lower.starts_with('"') => (b.to_string(), Some(d.to_string())),
        _ => (lower.clone(), None),
    };
    let mut keys = vec![lower.clone()];
    if detail.is_some() {
        keys.push(format!("{base}+*"));
        keys.push(base.clone());
    }
    for key in &keys {
        if crate::users::alias(site, key)?.is_some() {
            let why = why.then(Because::Alias { key: key.clone() });
            return Ok((Resolution::Deliver(local_route(user.to_string())), why));
        }
    }
    ruleset5(site, user, why)
}

/// Ruleset 5 (`localaddr`) for a local name an alias expanded to:
/// `$=L` names stay here, then LUSER_RELAY (unknown user), MAIL_HUB,
/// LOCAL_RELAY. sendmail 8.17 (`-bv`, LOCAL_RELAY lrelay.example.net,
/// LOCAL_USER root alice): `staff` (alias of alice, bob, carol) →
/// `alice` local, `bob@lrelay.example.net`, `carol@lrelay.example.net`
/// by relay; `root` (alias of admin) → `admin@lrelay.example.net`.
pub fn localaddr(site: &Site, user: &str) -> Result<(Resolution, Because), table::Error> {
    if site.in_class("L", user) {
        let why = Because::LocalUserClass {
            user: user.to_string(),
        };
        return Ok((Resolution::Deliver(local_route(user.to_string())), why));
    }
    ruleset5(site, user, Because::Unqualified)
}

fn ruleset5(site: &Site, user: &str, why: Because) -> Result<(Resolution, Because), table::Error> {
    let relays = &site.config.relays;
    let set = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let lower = user.to_ascii_lowercase();
    let base = match lower.split_once('+') {
        Some((b, _)) if !lower.starts_with('"') => b.to_string(),
        _ => lower.clone(),
    };
    let luser = set(&relays.luser_relay);
    let mut relay = None;
    if let Some(l) = luser
        && users::local_user(site, &base)?.0 == LocalUser::Unknown
    {
        relay = Some((l.clone(), Because::LuserRelay { value: l }));
    }
    if relay.is_none() {
        if let Some(h) = set(&relays.mail_hub) {
            relay = Some((h.clone(), Because::MailHub { value: h }));
        } else if let Some(r) = set(&relays.local_relay) {
            relay = Some((r.clone(), Because::LocalRelay { value: r }));
        }
    }
    let Some((value, rule)) = relay else {
        return Ok((Resolution::Deliver(local_route(user.to_string())), why));
    };
    let why = why.then(rule);
    let relay_host = match triple::split_mailer(&value) {
        Some((_, rest)) => rest.to_string(),
        None => value.clone(),
    };
    match triple::resolve_value(site, &value, user, &triple::normalize_host(&relay_host)) {
        Triple::Local { user } => Ok((Resolution::Deliver(local_route(user)), why)),
        Triple::Continue => Ok((Resolution::Deliver(local_route(user.to_string())), why)),
        t => finish(site, t, why),
    }
}

/// `host!rest` in the local part of an unqualified or local address, as
/// ruleset 3 and 0 of sendmail 8.17 (no UUCP relays defined) treat it.
/// Checked with `sendmail -bt` `/parse` (nocanonify, no SMART_HOST):
///
/// * `host.example.net!user` → `user@host.example.net` (a dotted host is a
///   domain);
/// * `gw.example.com!user`, `localhost!user` (`$=w`) → local `user`;
/// * `a.org!b.org!user` → esmtp to `a.org`, user `b.org!user@a.org`;
/// * `host!user` (one label) → `user@host.UUCP`: esmtp to `host.uucp`,
///   user `host!user@$j` (relay mailer: `host!user`);
/// * `[192.0.2.1]!user` → `553 5.1.2 Invalid address`.
///
/// Whether such a recipient is accepted is check_rcpt's business: a path
/// through a host that is not ours is relaying, refused like sendmail does.
fn bang_path(
    site: &Site,
    host: &str,
    rest: &str,
    depth: u32,
) -> Result<(Resolution, Because), table::Error> {
    if host.starts_with('[') {
        let why = Because::BangPath {
            address: format!("{rest}@{host}"),
        };
        return Ok((
            Resolution::Error(triple::error_reply(Some("5.1.2"), "553 Invalid address")),
            why,
        ));
    }
    let folded = crate::addr::normalize_name(host);
    let next = if site.is_local_host(&folded) {
        rest.to_string()
    } else if folded.contains('.') {
        format!("{rest}@{host}")
    } else {
        // UUCP: no UUCP relay is defined, so the `.UUCP` host goes the
        // ordinary way (mailertable, SMART_HOST, MX).
        let uucp = format!("{folded}.uucp");
        let why = Because::BangPath {
            address: format!("{rest}@{host}.UUCP"),
        };
        let local = format!("{host}!{rest}");
        let (r, then) = remote(site, &local, &site.hostname, &uucp)?;
        let r = match r {
            Resolution::Deliver(mut route)
                if route.mailer == "relay"
                    && route.user == format!("{local}@{}", site.hostname) =>
            {
                route.user = local;
                Resolution::Deliver(route)
            }
            r => r,
        };
        return Ok((r, why.then(then)));
    };
    let why = Because::BangPath {
        address: next.clone(),
    };
    match Address::parse(&next) {
        Ok(Address::Mailbox(m)) => {
            let (r, then) = resolve_mailbox(site, &m, depth + 1)?;
            Ok((r, why.then(then)))
        }
        _ => Ok((
            Resolution::Error(triple::error_reply(Some("5.1.2"), "553 Invalid address")),
            why,
        )),
    }
}

fn first_unquoted_bang(local: &str) -> Option<usize> {
    if local.starts_with('"') {
        return None;
    }
    local.find('!').filter(|&i| i > 0 && i + 1 < local.len())
}

fn last_unquoted_percent(local: &str) -> Option<usize> {
    if local.starts_with('"') {
        return None;
    }
    local.rfind('%').filter(|&i| i > 0 && i + 1 < local.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::table::{FailingTable, MemTable, TableRef};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn site(mt: TableRef) -> Site {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        c.features.insert("mailertable".into(), vec![]);
        let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
        t.insert("mailertable".into(), mt);
        Site::from_parts(c, t).unwrap()
    }

    #[test]
    fn table_failure_is_an_error_not_a_miss() {
        let s = site(Arc::new(FailingTable));
        let a = Address::parse("u@remote.org").unwrap();
        assert!(resolve(&s, &a).is_err());
    }

    #[test]
    fn because_reads_well() {
        let b = Because::MailerTable {
            key: ".example.com".into(),
            value: "smtp:[relay]".into(),
            line: crate::site::SourceLine::At(12),
        };
        assert_eq!(
            b.to_string(),
            "mailertable line 12 `.example.com` matched (value `smtp:[relay]`)"
        );
        let s = site(Arc::new(MemTable::from_lines(".example.com smtp:[relay]")));
        let (_, why) = resolve(&s, &Address::parse("a@b.example.com").unwrap()).unwrap();
        assert!(matches!(&why, Because::MailerTable { line, .. } if line.number().is_none()));
    }
}
