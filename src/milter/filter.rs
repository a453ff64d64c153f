//! One configured filter: `INPUT_MAIL_FILTER(name, S=..., F=..., T=...)`.
//!
//! Contract: [`Filter::parse`] reads the equates the compiler kept
//! (`config::Milter`) into typed values, or says precisely what is wrong;
//! nothing here touches the network.

use crate::config::Milter;
use std::time::Duration;

/// Where the filter listens (`S=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    /// `S=inet:port@host` / `S=inet6:port@host`.
    Inet {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// `S=unix:/path` / `S=local:/path`.
    Unix(std::path::PathBuf),
}

/// What happens when the filter cannot be used (`F=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// No flag: the filter is left out for the rest of the session, logged.
    Skip,
    /// `F=T`: temp-fail (`451 4.3.2 Please try again later`).
    TempFail,
    /// `F=R`: reject (`550 5.7.1 Command rejected`).
    Reject,
}

/// `T=C:..;S:..;R:..;E:..` with sendmail's defaults (`C:5m;S:10s;R:10s;E:5m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (`C`).
    pub connect: Duration,
    /// Sending one packet (`S`).
    pub send: Duration,
    /// Reading one reply (`R`).
    pub read: Duration,
    /// The whole reply to end of message (`E`).
    pub eom: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(300),
            send: Duration::from_secs(10),
            read: Duration::from_secs(10),
            eom: Duration::from_secs(300),
        }
    }
}

/// A filter ready to be connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The name from the `.mc` (`milter=NAME` in logs).
    pub name: String,
    /// `S=`.
    pub socket: Socket,
    /// `F=`.
    pub on_error: OnError,
    /// `T=`.
    pub timeouts: Timeouts,
}

impl Filter {
    /// Read a compiled filter definition; the error names the equate.
    pub fn parse(m: &Milter) -> Result<Filter, String> {
        let at =
            m.at.as_deref()
                .map(|a| format!("{a}: "))
                .unwrap_or_default();
        let s = m
            .options
            .get("S")
            .ok_or_else(|| format!("{at}filter {}: no S= socket", m.name))?;
        let socket = parse_socket(s).map_err(|e| format!("{at}filter {}: S={s}: {e}", m.name))?;
        let flags = m.options.get("F").map(String::as_str).unwrap_or("");
        let on_error = if flags.contains('R') {
            OnError::Reject
        } else if flags.contains('T') {
            OnError::TempFail
        } else {
            OnError::Skip
        };
        let timeouts = match m.options.get("T") {
            Some(t) => {
                parse_timeouts(t).map_err(|e| format!("{at}filter {}: T={t}: {e}", m.name))?
            }
            None => Timeouts::default(),
        };
        Ok(Filter {
            name: m.name.clone(),
            socket,
            on_error,
            timeouts,
        })
    }
}

fn parse_socket(s: &str) -> Result<Socket, String> {
    let (kind, rest) = s
        .split_once(':')
        .ok_or("expected unix:/path, local:/path, inet:port@host or inet6:port@host")?;
    match kind {
        "unix" | "local" => {
            if rest.starts_with('/') {
                Ok(Socket::Unix(rest.into()))
            } else {
                Err(format!("expected an absolute socket path, got `{rest}'"))
            }
        }
        "inet" | "inet6" => {
            let (port, host) = rest
                .split_once('@')
                .ok_or_else(|| format!("expected port@host, got `{rest}'"))?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("expected a port number, got `{port}'"))?;
            if host.is_empty() {
                return Err("expected a host after `@'".into());
            }
            Ok(Socket::Inet {
                host: host.trim_start_matches('[').trim_end_matches(']').into(),
                port,
            })
        }
        other => Err(format!(
            "unknown socket type `{other}', expected unix, local, inet or inet6"
        )),
    }
}

fn parse_timeouts(t: &str) -> Result<Timeouts, String> {
    let mut out = Timeouts::default();
    for part in t.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("expected KEY:time, got `{part}'"))?;
        let d = duration(value).ok_or_else(|| format!("bad time `{value}' for {key}"))?;
        match key {
            "C" => out.connect = d,
            "S" => out.send = d,
            "R" => out.read = d,
            "E" => out.eom = d,
            other => return Err(format!("unknown timeout `{other}', expected C, S, R or E")),
        }
    }
    Ok(out)
}

/// sendmail's time syntax: a number with `s`, `m`, `h`, `d` or `w` (seconds without).
fn duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 604800,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(mult)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn milter(opts: &[(&str, &str)]) -> Milter {
        Milter {
            name: "f".into(),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            at: Some("site.mc:3".into()),
            mail_filter_only: false,
        }
    }

    #[test]
    fn sockets_flags_and_timeouts() {
        let f = Filter::parse(&milter(&[
            ("S", "inet:8891@127.0.0.1"),
            ("F", "T"),
            ("T", "S:4m;R:30s;E:10m"),
        ]))
        .unwrap();
        assert_eq!(
            f.socket,
            Socket::Inet {
                host: "127.0.0.1".into(),
                port: 8891
            }
        );
        assert_eq!(f.on_error, OnError::TempFail);
        assert_eq!(f.timeouts.connect, Duration::from_secs(300));
        assert_eq!(f.timeouts.send, Duration::from_secs(240));
        assert_eq!(f.timeouts.read, Duration::from_secs(30));
        assert_eq!(f.timeouts.eom, Duration::from_secs(600));
        let f = Filter::parse(&milter(&[("S", "local:/run/f.sock"), ("F", "R")])).unwrap();
        assert_eq!(f.socket, Socket::Unix("/run/f.sock".into()));
        assert_eq!(f.on_error, OnError::Reject);
        let f = Filter::parse(&milter(&[("S", "inet6:25@[::1]")])).unwrap();
        assert_eq!(f.on_error, OnError::Skip);
        assert_eq!(f.timeouts, Timeouts::default());
    }

    #[test]
    fn bad_equates_are_named() {
        for (opts, want) in [
            (
                &[("S", "inet:x@h")][..],
                "site.mc:3: filter f: S=inet:x@h: expected a port number, got `x'",
            ),
            (
                &[("S", "unix:rel")][..],
                "site.mc:3: filter f: S=unix:rel: expected an absolute socket path, got `rel'",
            ),
            (
                &[("S", "unix:/s"), ("T", "Q:1s")][..],
                "site.mc:3: filter f: T=Q:1s: unknown timeout `Q', expected C, S, R or E",
            ),
            (
                &[("S", "unix:/s"), ("T", "R:1y")][..],
                "site.mc:3: filter f: T=R:1y: bad time `1y' for R",
            ),
        ] {
            assert_eq!(Filter::parse(&milter(opts)).unwrap_err(), want);
        }
    }
}
