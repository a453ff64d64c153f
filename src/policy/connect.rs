//! Connection-time checks: `check_relay`, `greet_pause`, and HELO.
//!
//! Contract: [`check_relay`] is sendmail's Basic_check_relay: `Connect:`
//! domain walk on `${client_name}` (when not empty), then address walk on
//! `${client_addr}`; `OK`/`RELAY` accept and skip the DNSBLs, `REJECT`,
//! `ERROR:`, `DISCARD`, `QUARANTINE:` decide; then the DNSBL zones. Local
//! submission (no address) is not checked. [`greet_pause`] looks up
//! `GreetPause:` (tag only) the same way. [`check_helo`] refuses only with
//! `FEATURE(block_bad_helo)`, the only HELO check sendmail's m4 offers.

use super::access::{self, AccessDb, Context, Mode};
use super::{Action, Because, Client, Facts, Reply, Verdict, delay_checks, dnsbl};
use crate::site::Site;

/// Connection check; with `delay_checks` it answers Continue here and runs
/// from [`super::check_rcpt`].
pub fn check_relay(site: &Site, facts: &Facts, client: &Client) -> Verdict {
    if delay_checks(site) {
        return Verdict::cont("delay_checks: client checked at RCPT");
    }
    basic_check_relay(site, facts, client)
}

/// Basic_check_relay, without the delay_checks short cut.
pub(crate) fn basic_check_relay(site: &Site, facts: &Facts, client: &Client) -> Verdict {
    let Some(ip) = client.addr else {
        return Verdict::cont("local submission: no connection checks");
    };
    if let Some(db) = AccessDb::of(site) {
        let found = if client.name.is_empty() {
            Ok(None)
        } else {
            db.domain("Connect", &client.name, Mode::TagAndPlain)
        };
        let found = match found {
            Ok(None) => db.address("Connect", &ip, Mode::TagAndPlain),
            other => other,
        };
        match found {
            Err(e) => return Verdict::table_error("access", &e),
            Ok(Some(hit)) => return access::verdict(site, &hit, Context::Sender),
            Ok(None) => {}
        }
    }
    let v = dnsbl::check(&site.config.dnsbl, facts, Some(&ip));
    match v.action {
        Action::Continue => Verdict::cont(format!("no Connect: entry; {}", v.why)),
        _ => v,
    }
}

/// A pre-greeting pause and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// Milliseconds to wait before the greeting; 0 = none.
    pub millis: u64,
    /// Where the value came from.
    pub why: Because,
}

/// `FEATURE(greet_pause, ms)`: `GreetPause:` on the client name (domain
/// walk), then on the IP; no entry → the feature's argument. `None` when
/// the feature is off or the client is local. As in sendmail, a table
/// failure means no pause (the `why` names the failure).
pub fn greet_pause(site: &Site, client: &Client) -> Option<Pause> {
    let args = site.config.feature_args("greet_pause")?;
    let ip = client.addr?;
    let default: Option<u64> = args.first().and_then(|a| a.trim().parse().ok());
    let found = match AccessDb::of(site) {
        None => Ok(None),
        Some(db) => {
            let by_name = if client.name.is_empty() {
                Ok(None)
            } else {
                db.domain("GreetPause", &client.name, Mode::TagOnly)
            };
            match by_name {
                Ok(None) => db.address("GreetPause", &ip, Mode::TagOnly),
                other => other,
            }
        }
    };
    match found {
        Err(e) => Some(Pause {
            millis: 0,
            why: Because::TableError {
                role: "access".into(),
                detail: e.to_string(),
            },
        }),
        Ok(Some(hit)) => Some(Pause {
            millis: hit.value.trim().parse().unwrap_or(0),
            why: hit.because(),
        }),
        Ok(None) => default.map(|ms| Pause {
            millis: ms,
            why: Because::rule(format!("FEATURE(greet_pause, {ms}) default")),
        }),
    }
}

/// HELO/EHLO check. Without `FEATURE(block_bad_helo)` sendmail has no HELO
/// policy: Continue. With it (authenticated, local and `$=R` clients
/// exempt): a HELO name that is ours (`$=w` or `[$=w]`) or has no inner dot
/// (IPv6 literals excepted) is refused `550 5.7.1 bogus HELO name used: <name>`.
pub fn check_helo(site: &Site, _facts: &Facts, client: &Client, helo: &str) -> Verdict {
    if !site.config.has_feature("block_bad_helo") {
        return Verdict::cont("no HELO checks configured");
    }
    if client.auth_type.is_some() {
        return Verdict::cont("block_bad_helo: authenticated client");
    }
    let addr = client.addr_text();
    if addr.is_empty() || addr == "0" {
        return Verdict::cont("block_bad_helo: local client");
    }
    if let Some(m) = super::relay::class_r_ip(site, &addr) {
        return Verdict::new(
            Action::Continue,
            Because::Class {
                class: "R".into(),
                member: m,
            },
        );
    }
    let bogus = || {
        Verdict::refuse(
            Reply::new(550, "5.7.1", &format!("bogus HELO name used: {helo}")),
            Because::rule("FEATURE(block_bad_helo)"),
        )
    };
    let inner = helo
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(helo);
    if site.is_local_host(helo) || site.is_local_host(inner) {
        return bogus();
    }
    if inner.to_ascii_lowercase().starts_with("ipv6:") {
        return Verdict::cont("block_bad_helo: IPv6 literal");
    }
    let t = inner.trim_matches('.');
    if t.len() == inner.len() && t.contains('.') {
        Verdict::cont("block_bad_helo: qualified HELO name")
    } else {
        bogus()
    }
}
