//! Listeners from `DAEMON_OPTIONS`.
//!
//! Contract: [`specs`] turns the configuration's daemons into
//! [`DaemonSpec`]s (address, port, name, `M=` modifiers), with sendmail's
//! defaults when none is configured (MTA on 25, MSA on 587 with `M=E`).
//! Each listener carries its content filter (its `ContentFilter=`, else
//! `confMXGATE_CONTENT_FILTER`). Errors name the listener and the bad
//! value. `Family=local` (or `unix`) listens on the Unix-domain socket
//! whose path is `Addr=`.

use crate::config::Config;
use mxgate_m4::config::DaemonTuning;
use mxgate_m4::content_filter::{self, ContentFilter};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// A TCP address and port (`Family=inet`/`inet6`).
    Inet(SocketAddr),
    /// A Unix-domain socket (`Family=local`, `Addr=` the path).
    Unix(PathBuf),
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Inet(a) => write!(f, "{a}"),
            Bind::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSpec {
    /// `Name=` (`MTA`, `MSA`, ...): `daemon=` in logs.
    pub name: String,
    /// Where to listen.
    pub addr: Bind,
    /// `M=` modifiers.
    pub modifiers: String,
    /// `InputMailFilters=`: the mail filters of this listener (names
    /// separated by `;`), instead of the configuration's list.
    pub input_filters: Option<String>,
    /// The after-queue content filter of this listener (`ContentFilter=`,
    /// else `confMXGATE_CONTENT_FILTER`) as `smtp:[127.0.0.1]:10024`;
    /// recorded as the message's `filter` fact (see docs/content.md).
    pub content_filter: Option<String>,
    /// `ContentFilter=` given and empty: the re-injection listener the
    /// filter gives mail back to. Mail here has been filtered, so a header
    /// or body rule's `FILTER` is not applied again (it would loop), as
    /// Postfix's `receive_override_options` on that listener.
    pub reinjection: bool,
    /// `Listen=`, `ReceiveSize=`, `SendSize=`, `children=`.
    pub tuning: DaemonTuning,
}

impl DaemonSpec {
    /// Has modifier `c` (`a` AUTH required, `s` SMTPS, `S` no STARTTLS, `E` no ETRN, `A` no AUTH, `O` optional, `u` unqualified senders).
    pub fn has(&self, c: char) -> bool {
        self.modifiers.contains(c)
    }

    /// Is this a submission listener (RFC 6409: complete headers, qualify addresses)?
    /// Decided by the configuration alone, never by the port number: the
    /// listener is named `MSA` (sendmail's name for its submission daemon)
    /// or requires AUTH (`M=a`).
    pub fn is_submission(&self) -> bool {
        self.name.eq_ignore_ascii_case("MSA") || self.has('a')
    }

    /// `NAME=ADDR` and what else the daemon reads from this listener only
    /// at start (for the reload's "needs a restart" line): the keys set,
    /// and the content filter.
    pub fn describe(&self) -> String {
        let mut s = format!("{}={}", self.name, self.addr);
        let t = &self.tuning;
        let keys = [
            (
                "M",
                (!self.modifiers.is_empty()).then(|| self.modifiers.clone()),
            ),
            ("InputMailFilters", self.input_filters.clone()),
            ("Listen", t.listen.map(|n| n.to_string())),
            ("ReceiveSize", t.receive_size.map(|n| n.to_string())),
            ("SendSize", t.send_size.map(|n| n.to_string())),
            ("children", t.children.map(|n| n.to_string())),
        ];
        for (k, v) in keys {
            if let Some(v) = v {
                s += &format!(" {k}={v}");
            }
        }
        if let Some(f) = &self.content_filter {
            s += &format!(" (content filter {f})");
        }
        s
    }
}

/// The listeners of a configuration.
pub fn specs(config: &Config) -> Result<Vec<DaemonSpec>, String> {
    if config.daemons.is_empty() {
        let filter = config
            .option("confMXGATE_CONTENT_FILTER")
            .map_or(Ok(None), ContentFilter::parse)
            .map_err(|e| format!("confMXGATE_CONTENT_FILTER: {e}"))?
            .map(|f| f.to_string());
        let listener = |name: &str, port: u16, modifiers: &str| DaemonSpec {
            name: name.into(),
            addr: Bind::Inet(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
            modifiers: modifiers.into(),
            input_filters: None,
            content_filter: filter.clone(),
            reinjection: false,
            tuning: DaemonTuning::default(),
        };
        let mut out = vec![listener("MTA", 25, "")];
        // proto.m4: `ifdef(`_NO_MSA_', `dnl', `O DaemonPortOptions=Port=587, Name=MSA, M=E')`.
        if !config.has_feature("no_default_msa") {
            out.push(listener("MSA", 587, "E"));
        }
        return Ok(out);
    }
    config
        .daemons
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let o = &d.options;
            let name = o
                .get("Name")
                .cloned()
                .unwrap_or_else(|| format!("Daemon{i}"));
            let family = o.get("Family").map(String::as_str).unwrap_or("inet");
            let modifiers = o.get("M").cloned().unwrap_or_default();
            let input_filters = o.get("InputMailFilters").cloned();
            let reinjection = o
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("ContentFilter") && v.trim().is_empty());
            let content_filter = content_filter::for_daemon(config, d)
                .map_err(|e| format!("DAEMON_OPTIONS Name={name}: {e}"))?
                .map(|f| f.to_string());
            let tuning =
                DaemonTuning::of(o).map_err(|e| format!("DAEMON_OPTIONS Name={name}: {e}"))?;
            if matches!(family, "local" | "unix") {
                let path = match o.get("Addr") {
                    Some(a) if a.starts_with('/') => PathBuf::from(a),
                    Some(a) => {
                        return Err(format!(
                            "DAEMON_OPTIONS Name={name}: Family={family} needs Addr= an absolute socket path, not {a:?}"
                        ));
                    }
                    None => {
                        return Err(format!(
                            "DAEMON_OPTIONS Name={name}: Family={family} needs Addr= the socket path, e.g. Addr=/run/mxgate/smtp.sock"
                        ));
                    }
                };
                // sockaddr_un holds 108 bytes with the terminating NUL.
                if path.as_os_str().len() > 107 {
                    return Err(format!(
                        "DAEMON_OPTIONS Name={name}: socket path {} is longer than 107 bytes",
                        path.display()
                    ));
                }
                if modifiers.contains('s') {
                    return Err(format!(
                        "DAEMON_OPTIONS Name={name}: M=s (SMTPS) on a Unix-domain socket is not supported"
                    ));
                }
                return Ok(DaemonSpec {
                    name,
                    addr: Bind::Unix(path),
                    modifiers,
                    input_filters,
                    content_filter,
                    reinjection,
                    tuning,
                });
            }
            let port = match o.get("Port").map(String::as_str) {
                None | Some("smtp") => 25,
                Some("submission") => 587,
                Some("smtps") => 465,
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| format!("DAEMON_OPTIONS Name={name}: bad Port={p}"))?,
            };
            let addr: IpAddr = match (o.get("Addr"), family) {
                (Some(a), _) => a
                    .parse()
                    .map_err(|_| format!("DAEMON_OPTIONS Name={name}: bad Addr={a}"))?,
                (None, "inet6") => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                (None, "inet") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                (None, f) => {
                    return Err(format!(
                        "DAEMON_OPTIONS Name={name}: Family={f} is not supported (inet, inet6, local)"
                    ));
                }
            };
            Ok(DaemonSpec {
                content_filter,
                reinjection,
                name,
                addr: Bind::Inet(SocketAddr::new(addr, port)),
                modifiers,
                input_filters,
                tuning,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Daemon;

    #[test]
    fn defaults_and_options() {
        let mut c = Config::new();
        let d = specs(&c).unwrap();
        assert_eq!(d[0].addr, Bind::Inet("0.0.0.0:25".parse().unwrap()));
        assert_eq!(d[1].name, "MSA");
        assert!(d[1].has('E'));
        let mut no_msa = Config::new();
        no_msa.features.insert("no_default_msa".into(), vec![]);
        let d = specs(&no_msa).unwrap();
        assert_eq!(d.len(), 1, "FEATURE(no_default_msa): the MTA alone");
        assert_eq!(d[0].name, "MTA");
        let mut o = std::collections::BTreeMap::new();
        o.insert("Port".to_string(), "2525".to_string());
        o.insert("Addr".to_string(), "127.0.0.1".to_string());
        o.insert("Name".to_string(), "MTA".to_string());
        c.daemons.push(Daemon { options: o.clone() });
        o.insert("Port".into(), "smtps".into());
        o.insert("Addr".into(), "::1".into());
        o.insert("M".into(), "sa".into());
        o.insert("Name".into(), "SMTPS".into());
        c.daemons.push(Daemon { options: o.clone() });
        let d = specs(&c).unwrap();
        assert_eq!(d[0].addr, Bind::Inet("127.0.0.1:2525".parse().unwrap()));
        assert_eq!(d[1].addr, Bind::Inet("[::1]:465".parse().unwrap()));
        assert!(d[1].has('s') && d[1].has('a') && d[1].is_submission());
        o.insert("Port".into(), "http".into());
        c.daemons.push(Daemon { options: o });
        assert!(specs(&c).unwrap_err().contains("Port=http"));
        // The port number alone does not make a submission listener.
        let plain587 = DaemonSpec {
            name: "Relay".into(),
            addr: Bind::Inet("127.0.0.1:587".parse().unwrap()),
            modifiers: "E".into(),
            input_filters: None,
            content_filter: None,
            reinjection: false,
            tuning: DaemonTuning::default(),
        };
        assert!(!plain587.is_submission());
    }

    /// The listeners of a configuration with one `DAEMON_OPTIONS` of `pairs`.
    fn daemon(pairs: &[(&str, &str)]) -> Result<Vec<DaemonSpec>, String> {
        let mut c = Config::new();
        c.daemons.push(Daemon {
            options: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        specs(&c)
    }

    #[test]
    fn tuning_keys_are_read_and_a_bad_one_names_the_listener() {
        let d = daemon(&[("Name", "MTA"), ("Listen", "256"), ("children", "0")]).unwrap();
        assert_eq!(d[0].tuning.listen, Some(256));
        assert_eq!(
            d[0].tuning.children,
            Some(0),
            "0: no limit on this listener"
        );
        assert_eq!(d[0].describe(), "MTA=0.0.0.0:25 Listen=256 children=0");
        // A compiled configuration edited by hand is checked again at start.
        let e = daemon(&[("Name", "MTA"), ("SendSize", "big")]).unwrap_err();
        assert_eq!(
            e,
            "DAEMON_OPTIONS Name=MTA: SendSize=big: expected a buffer size in bytes"
        );
    }

    #[test]
    fn family_local_is_a_socket_path() {
        let d = daemon(&[
            ("Family", "local"),
            ("Addr", "/run/mx/smtp.sock"),
            ("Name", "Local"),
        ])
        .unwrap();
        assert_eq!(d[0].addr, Bind::Unix("/run/mx/smtp.sock".into()));
        assert_eq!(d[0].addr.to_string(), "/run/mx/smtp.sock");
        let e = daemon(&[("Family", "local"), ("Name", "Local")]).unwrap_err();
        assert!(e.contains("needs Addr= the socket path"), "{e}");
        let e = daemon(&[("Family", "unix"), ("Addr", "smtp.sock")]).unwrap_err();
        assert!(e.contains("absolute socket path"), "{e}");
        let long = format!("/{}", "x".repeat(120));
        let e = daemon(&[("Family", "local"), ("Addr", &long)]).unwrap_err();
        assert!(e.contains("longer than 107 bytes"), "{e}");
        let e = daemon(&[("Family", "local"), ("Addr", "/s"), ("M", "s")]).unwrap_err();
        assert!(e.contains("M=s"), "{e}");
        let e = daemon(&[("Family", "ipx")]).unwrap_err();
        assert!(e.contains("Family=ipx is not supported"), "{e}");
    }
}
