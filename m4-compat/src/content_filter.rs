//! The after-queue content-filter hop (Postfix's `content_filter`).
//!
//! Contract: [`ContentFilter::parse`] reads a filter as written in
//! `define(`confMXGATE_CONTENT_FILTER', `smtp:[127.0.0.1]:10024')` or a
//! listener's `DAEMON_OPTIONS(... ContentFilter=...)`: `smtp:` (ESMTP, as
//! Postfix's `smtp` transport speaks it), `esmtp:` or `lmtp:`, then a
//! bracketed host (no MX lookup) and a port. An empty value is "no filter"
//! (the re-injection listener). [`for_daemon`] gives a listener's filter (its
//! own `ContentFilter=`, else the global define). [`loops`] names the
//! listeners whose filter is one of our own listeners that filters again: a
//! configuration the compiler and the daemon refuse; [`unscanned`] those
//! whose filter is our own re-injection listener (warned: nothing scans
//! their mail). Pure functions of the
//! configuration; no I/O.

use crate::config::{Config, Daemon};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The global option: every listener's filter unless it says `ContentFilter=`.
pub const OPTION: &str = "confMXGATE_CONTENT_FILTER";

/// The `DAEMON_OPTIONS` key.
pub const DAEMON_KEY: &str = "ContentFilter";

/// A content-filter next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFilter {
    /// The mailer that carries it: `esmtp` (for `smtp:` and `esmtp:`) or `lmtp`.
    pub mailer: String,
    /// The host in brackets, as the queue routes it: `[127.0.0.1]`.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl ContentFilter {
    /// Parse `transport:[host]:port`; `Ok(None)` for an empty value.
    pub fn parse(text: &str) -> Result<Option<ContentFilter>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let expected = "expected transport:[host]:port such as smtp:[127.0.0.1]:10024 (transport smtp, esmtp or lmtp)";
        let Some((transport, rest)) = t.split_once(':') else {
            return Err(format!("content filter `{t}': {expected}"));
        };
        let mailer = match transport.trim().to_ascii_lowercase().as_str() {
            "smtp" | "esmtp" => "esmtp",
            "lmtp" => "lmtp",
            other => {
                return Err(format!(
                    "content filter `{t}': transport `{other}' is not supported (smtp, esmtp or lmtp)"
                ));
            }
        };
        let Some(close) = rest.find(']').filter(|_| rest.starts_with('[')) else {
            return Err(format!("content filter `{t}': {expected}"));
        };
        let host = &rest[..=close];
        let inner = &rest[1..close];
        if inner.is_empty() || inner.contains(char::is_whitespace) {
            return Err(format!("content filter `{t}': {expected}"));
        }
        let port = match rest[close + 1..].strip_prefix(':') {
            Some(p) => match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "content filter `{t}': port must be 1-65535, got `{p}'"
                    ));
                }
            },
            None => {
                return Err(format!(
                    "content filter `{t}': {expected} (the port is missing)"
                ));
            }
        };
        Ok(Some(ContentFilter {
            mailer: mailer.into(),
            host: host.to_ascii_lowercase(),
            port,
        }))
    }

    /// The next hop's host with its port, as the queue hands it to the
    /// SMTP client: `[127.0.0.1]:10024`.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The addresses the filter's host names, when it is a literal or
    /// `localhost` (the only hosts the loop check can compare); empty for
    /// other names.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let inner = self.host.trim_start_matches('[').trim_end_matches(']');
        let lit = inner
            .strip_prefix("ipv6:")
            .unwrap_or(inner)
            .trim_end_matches('.');
        if let Ok(ip) = lit.parse::<IpAddr>() {
            return vec![ip];
        }
        if lit == "localhost" {
            return vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
        }
        Vec::new()
    }
}

impl fmt::Display for ContentFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = if self.mailer == "lmtp" {
            "lmtp"
        } else {
            "smtp"
        };
        write!(f, "{t}:{}:{}", self.host, self.port)
    }
}

/// The filter of listener `d`: its `ContentFilter=` (empty: none), else the
/// global [`OPTION`].
pub fn for_daemon(c: &Config, d: &Daemon) -> Result<Option<ContentFilter>, String> {
    let own = d
        .options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(DAEMON_KEY))
        .map(|(_, v)| v.as_str());
    match own {
        Some(v) => ContentFilter::parse(v),
        None => global(c),
    }
}

/// The global filter ([`OPTION`]).
pub fn global(c: &Config) -> Result<Option<ContentFilter>, String> {
    c.option(OPTION).map_or(Ok(None), ContentFilter::parse)
}

/// The port a listener's `Port=` names (sendmail's service names for 25,
/// 587, 465; default 25).
fn daemon_port(d: &Daemon) -> Option<u16> {
    match d.options.get("Port").map(String::as_str) {
        None | Some("smtp") => Some(25),
        Some("submission") => Some(587),
        Some("smtps") => Some(465),
        Some(p) => p.parse().ok(),
    }
}

/// Does listener `d` accept connections to `ip:port`?
fn listens_on(d: &Daemon, ip: &IpAddr, port: u16) -> bool {
    if daemon_port(d) != Some(port) {
        return false;
    }
    match d.options.get("Addr").and_then(|a| a.parse::<IpAddr>().ok()) {
        Some(a) => a == *ip || a.is_unspecified() && a.is_ipv4() == ip.is_ipv4(),
        None => match d.options.get("Family").map(String::as_str) {
            Some("inet6") => ip.is_ipv6(),
            _ => ip.is_ipv4(),
        },
    }
}

fn daemon_name(d: &Daemon, j: usize) -> String {
    d.options
        .get("Name")
        .cloned()
        .unwrap_or_else(|| format!("Daemon{j}"))
}

/// For each listener whose filter is one of our own listeners: (listener
/// index, its filter, the target's index, whether the target filters too).
fn own_targets(c: &Config) -> Vec<(usize, ContentFilter, usize, bool)> {
    let mut out = Vec::new();
    for (i, d) in c.daemons.iter().enumerate() {
        let Ok(Some(f)) = for_daemon(c, d) else {
            continue;
        };
        let hit = f.addresses().iter().find_map(|ip| {
            c.daemons
                .iter()
                .enumerate()
                .filter(|(_, t)| listens_on(t, ip, f.port))
                .map(|(j, t)| (j, matches!(for_daemon(c, t), Ok(Some(_)))))
                .max_by_key(|(_, filters)| *filters)
        });
        if let Some((j, filters)) = hit {
            out.push((i, f, j, filters));
        }
    }
    out
}

/// The listeners (by index into `c.daemons`) whose filter is one of our own
/// listeners that has a filter itself: mail would go round between them.
/// Each entry is `(index, message)`.
pub fn loops(c: &Config) -> Vec<(usize, String)> {
    own_targets(c)
        .into_iter()
        .filter(|(_, _, _, filters)| *filters)
        .filter_map(|(i, f, j, _)| {
            let (d, t) = (c.daemons.get(i)?, c.daemons.get(j)?);
            Some((
                i,
                format!(
                    "content filter loop: listener {} sends its mail to {f}, which is our own listener {} and has a content filter too; the re-injection listener needs `ContentFilter=' (empty)",
                    daemon_name(d, i),
                    daemon_name(t, j)
                ),
            ))
        })
        .collect()
}

/// Is the filter's host one of this host's names: `$j` or a member of
/// `$=w` (compared without brackets, a trailing dot or case)?
fn names_this_host(c: &Config, f: &ContentFilter) -> bool {
    let bare = |n: &str| {
        n.trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase()
    };
    let host = bare(&f.host);
    c.hostname.as_deref().is_some_and(|j| bare(j) == host)
        || c.classes
            .get("w")
            .is_some_and(|w| w.iter().any(|n| bare(n) == host))
}

/// Can listener `d` be reached by a name of this host (an address other
/// than loopback)?
fn reachable_by_name(d: &Daemon) -> bool {
    if d.options.get("Family").is_some_and(|f| f == "local") {
        return false;
    }
    match d.options.get("Addr").and_then(|a| a.parse::<IpAddr>().ok()) {
        Some(a) => !a.is_loopback(),
        None => true,
    }
}

/// The listeners whose filter is named by one of this host's names (`$j`,
/// `$=w`) on the port of one of our own listeners: if the name leads back
/// here, the mail goes round (that listener filters too) or is never
/// scanned (it does not). The name's address is known only once it is
/// looked up, so these are warnings, not the refusal of [`loops`]. Each
/// entry is `(index, warning)`.
pub fn named_self(c: &Config) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, d) in c.daemons.iter().enumerate() {
        let Ok(Some(f)) = for_daemon(c, d) else {
            continue;
        };
        if !f.addresses().is_empty() || !names_this_host(c, &f) {
            continue;
        }
        let hit = c
            .daemons
            .iter()
            .enumerate()
            .filter(|(_, t)| daemon_port(t) == Some(f.port) && reachable_by_name(t))
            .map(|(j, t)| (j, matches!(for_daemon(c, t), Ok(Some(_)))))
            .max_by_key(|(_, filters)| *filters);
        let Some((j, filters)) = hit else {
            continue;
        };
        let t = daemon_name(&c.daemons[j], j);
        let what = if filters {
            "which has a content filter too: if the name leads back here, mail goes round until MaxHopCount"
        } else {
            "which has no content filter: if the name leads back here, its mail is not scanned"
        };
        out.push((
            i,
            format!(
                "warning: listener {} sends its mail to {f}, a name of this host ($j or $=w), on the port of our own listener {t}, {what}; name the scanner by its address",
                daemon_name(d, i)
            ),
        ));
    }
    out
}

/// The listeners whose filter is one of our own listeners *without* a
/// filter (the re-injection listener itself): their mail is never scanned.
/// Each entry is `(index, warning)`.
pub fn unscanned(c: &Config) -> Vec<(usize, String)> {
    own_targets(c)
        .into_iter()
        .filter(|(_, _, _, filters)| !*filters)
        .filter_map(|(i, f, j, _)| {
            let (d, t) = (c.daemons.get(i)?, c.daemons.get(j)?);
            Some((
                i,
                format!(
                    "warning: listener {} sends its mail to {f}, which is our own listener {} (no content filter): its mail is not scanned; name the scanner's port",
                    daemon_name(d, i),
                    daemon_name(t, j)
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn daemon(pairs: &[(&str, &str)]) -> Daemon {
        Daemon {
            options: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn parse_the_forms_and_refuse_the_rest() {
        let f = ContentFilter::parse("smtp:[127.0.0.1]:10024")
            .unwrap()
            .unwrap();
        assert_eq!(f.mailer, "esmtp");
        assert_eq!(f.host_port(), "[127.0.0.1]:10024");
        assert_eq!(f.to_string(), "smtp:[127.0.0.1]:10024");
        let f = ContentFilter::parse("lmtp:[::1]:10024").unwrap().unwrap();
        assert_eq!((f.mailer.as_str(), f.port), ("lmtp", 10024));
        assert_eq!(ContentFilter::parse("  ").unwrap(), None);
        for bad in [
            "smtp:127.0.0.1:10024",
            "smtp:[127.0.0.1]",
            "smtp:[127.0.0.1]:0",
            "smtp:[127.0.0.1]:70000",
            "uucp:[127.0.0.1]:10024",
            "[127.0.0.1]:10024",
            "smtp:[]:25",
        ] {
            assert!(ContentFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_filter_pointing_at_a_filtering_listener_is_a_loop() {
        let mut c = Config::new();
        c.options
            .insert(OPTION.into(), "smtp:[127.0.0.1]:10025".into());
        c.daemons.push(daemon(&[("Name", "MTA"), ("Port", "2525")]));
        c.daemons.push(daemon(&[
            ("Name", "reinject"),
            ("Port", "10025"),
            ("Addr", "127.0.0.1"),
            ("ContentFilter", ""),
        ]));
        assert!(loops(&c).is_empty());
        assert_eq!(for_daemon(&c, &c.daemons[1]).unwrap(), None);
        // The re-injection listener forgot `ContentFilter=`.
        c.daemons[1].options.remove("ContentFilter");
        let l = loops(&c);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(l[0].1.contains("listener MTA") && l[0].1.contains("reinject"));
        // Pointing straight at the re-injection listener skips the scan.
        let mut direct = c.clone();
        direct.daemons[1]
            .options
            .insert("ContentFilter".into(), String::new());
        assert!(loops(&direct).is_empty());
        let u = unscanned(&direct);
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(u[0].1.contains("listener MTA") && u[0].1.contains("not scanned"));
        // A wildcard listener on the port counts too.
        c.daemons[1].options.insert("Addr".into(), "0.0.0.0".into());
        assert_eq!(loops(&c).len(), 2);
    }

    #[test]
    fn a_filter_named_by_a_name_of_this_host_is_warned() {
        let mut c = Config::new();
        c.hostname = Some("mx1.example.com".into());
        c.classes.insert(
            "w".into(),
            vec!["localhost".into(), "Mail.Example.COM".into()],
        );
        c.options
            .insert(OPTION.into(), "smtp:[mx1.example.com.]:10025".into());
        c.daemons.push(daemon(&[("Name", "MTA"), ("Port", "25")]));
        c.daemons
            .push(daemon(&[("Name", "reinject"), ("Port", "10025")]));
        // Not a refusal: the name's address is not known here.
        assert!(loops(&c).is_empty());
        let w = named_self(&c);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].1.contains(
                "listener MTA sends its mail to smtp:[mx1.example.com.]:10025, a name of this host"
            ) && w[0]
                .1
                .contains("our own listener reinject, which has a content filter too"),
            "{w:?}"
        );
        // A $=w name, any case; the re-injection listener without a filter.
        c.options
            .insert(OPTION.into(), "smtp:[mail.example.com]:10025".into());
        c.daemons[1]
            .options
            .insert("ContentFilter".into(), String::new());
        let w = named_self(&c);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].1.contains(
                "no content filter: if the name leads back here, its mail is not scanned"
            )
        );
        // Only on loopback: a name of this host does not reach it.
        c.daemons[1]
            .options
            .insert("Addr".into(), "127.0.0.1".into());
        assert!(named_self(&c).is_empty());
        // Another host's name, or another port: nothing.
        c.daemons[1].options.remove("Addr");
        c.options
            .insert(OPTION.into(), "smtp:[scanner.example.com]:10025".into());
        assert!(named_self(&c).is_empty());
        c.options
            .insert(OPTION.into(), "smtp:[mail.example.com]:10024".into());
        assert!(named_self(&c).is_empty());
    }
}
