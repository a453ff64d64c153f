//! The compiled configuration: what a `.mc` file means, written out once.
//!
//! Contract: [`Config`] is the single schema shared by the `.mc` compiler
//! (which produces it) and the runtime (which loads it). Its text form is
//! TOML ([`Config::to_text`] / [`Config::from_text`]): versioned by
//! [`FORMAT`], human-readable, with sorted keys so two compilations of the
//! same `.mc` are byte-identical and diffable. Nothing here reads a table or
//! a class file: paths are kept as written, and the runtime loads them.
//!
//! Names follow sendmail: `classes["w"]` is `$=w`, `macros["j"]` is `$j`,
//! `options["confMAX_MESSAGE_SIZE"]` is the `.mc` define as written.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the compiled format; bumped on any incompatible change.
pub const FORMAT: u32 = 1;

/// One compiled site configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Compiled-format version ([`FORMAT`]).
    pub format: u32,
    /// Where this configuration came from (informational).
    #[serde(default)]
    pub source: Source,
    /// `$j`, the canonical host name (`confDOMAIN_NAME` or a `Dj` line);
    /// `None` means "the machine's host name" at load time.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Other one-letter or `{long}` macros set by `D` lines (`m`, `{name}`).
    #[serde(default)]
    pub macros: BTreeMap<String, String>,
    /// Class members given literally: `w` (local host names, `LOCAL_DOMAIN`,
    /// `Cw`), `R` (`RELAY_DOMAIN`), `M` (`MASQUERADE_DOMAIN`), `E`
    /// (`EXPOSED_USER`), `L` (`LOCAL_USER`), `N` (`MASQUERADE_EXCEPTION`),
    /// `G` (`GENERICS_DOMAIN`), `U` (`LOCAL_USER` alias), ...
    #[serde(default)]
    pub classes: BTreeMap<String, Vec<String>>,
    /// Class members read from files at load time (`Fw/path`, `confCW_FILE`
    /// with `use_cw_file`, `confCR_FILE`, `*_FILE` macros).
    #[serde(default)]
    pub class_files: BTreeMap<String, Vec<ClassFile>>,
    /// `define(`confXXX', `value')` options, keyed by the `.mc` name.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `FEATURE(name, args...)` for every feature that is not described by a
    /// more specific field (maps go to `maps`, dnsbl to `dnsbl`); the value
    /// is the argument list after defaults were applied.
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    /// Tables by role: `access`, `mailertable`, `virtuser`, `generics`,
    /// `aliases`, `mailboxes`, `authinfo`, ... (see [`MapSpec`]).
    #[serde(default)]
    pub maps: BTreeMap<String, MapSpec>,
    /// Extra alias files beyond `maps["aliases"]` (`ALIAS_FILE` may list several).
    #[serde(default)]
    pub alias_files: Vec<MapSpec>,
    /// `FEATURE(dnsbl)` / `FEATURE(enhdnsbl)` in `.mc` order.
    #[serde(default)]
    pub dnsbl: Vec<Dnsbl>,
    /// Regular-expression header rules file (`FEATURE(header_checks, path)`,
    /// an mxgate extension in Postfix's `header_checks` syntax).
    #[serde(default)]
    pub header_checks: Option<String>,
    /// `FEATURE(body_checks, path)`: Postfix `body_checks` rules.
    #[serde(default)]
    pub body_checks: Option<String>,
    /// `FEATURE(mime_header_checks, path)` (default: the header_checks file).
    #[serde(default)]
    pub mime_header_checks: Option<String>,
    /// `FEATURE(nested_header_checks, path)` (default: the header_checks file).
    #[serde(default)]
    pub nested_header_checks: Option<String>,
    /// `SMART_HOST`, `LOCAL_RELAY`, `LUSER_RELAY`, `MAIL_HUB`, `confFALLBACK_MX`,
    /// `confFALLBACK_SMARTHOST`: each `[mailer:]host` as written.
    #[serde(default)]
    pub relays: Relays,
    /// `MASQUERADE_AS` (`$M`).
    #[serde(default)]
    pub masquerade_as: Option<String>,
    /// `MAILER(name)` in `.mc` order (`local`, `smtp`, `procmail`, ...).
    #[serde(default)]
    pub mailers: Vec<String>,
    /// `*_MAILER_ARGS`, `*_MAILER_FLAGS`, `*_MAILER_MAX`, ... keyed by macro name.
    #[serde(default)]
    pub mailer_options: BTreeMap<String, String>,
    /// `DAEMON_OPTIONS` listeners; empty means sendmail's defaults (MTA on 25, MSA on 587).
    #[serde(default)]
    pub daemons: Vec<Daemon>,
    /// `CLIENT_OPTIONS`, each as its `key=value` pairs.
    #[serde(default)]
    pub client_options: Vec<BTreeMap<String, String>>,
    /// `INPUT_MAIL_FILTER(name, equates)`.
    #[serde(default)]
    pub milters: Vec<Milter>,
    /// Raw cf lines from `LOCAL_CONFIG`/`LOCAL_RULESETS` that have no
    /// meaning to mxgate beyond what was extracted from them, kept verbatim.
    #[serde(default)]
    pub local_config: Vec<String>,
}

/// Where a compiled configuration came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The `.mc` path as given to the compiler.
    #[serde(default)]
    pub mc: Option<String>,
    /// `VERSIONID(...)` text.
    #[serde(default)]
    pub versionid: Option<String>,
    /// `OSTYPE(...)`.
    #[serde(default)]
    pub ostype: Option<String>,
    /// `DOMAIN(...)` names, in order.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `-D NAME=VALUE` definitions given on the command line.
    #[serde(default)]
    pub defines: BTreeMap<String, String>,
}

/// A class whose members are read from a file, one or more per line, `#` comments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassFile {
    /// Path as written.
    pub path: String,
    /// `F-o` style: a missing file is an empty class instead of an error.
    #[serde(default)]
    pub optional: bool,
}

/// A sendmail map spec such as `hash -T<TMPF> -o /etc/mail/access`.
///
/// Whatever the written class (`hash`, `btree`, `dbm`, `lmdb`), the runtime
/// serves it from the single-file LMDB environment `path` + `.lmdb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    /// Map class as written (`hash`, `btree`, `dbm`, `lmdb`, `text`, ...).
    pub class: String,
    /// File name without the `.lmdb` suffix, as written.
    pub path: String,
    /// `-o`: a missing map is empty, not an error.
    #[serde(default)]
    pub optional: bool,
    /// `-T<TMPF>`: a lookup failure yields sendmail's temporary-failure marker.
    #[serde(default)]
    pub tempfail: bool,
    /// `-N`: keys carry a trailing NUL (alias maps).
    #[serde(default)]
    pub nul_terminated: bool,
    /// `-f`: keys are not folded to lower case.
    #[serde(default)]
    pub keep_case: bool,
    /// Other flags as written, for the record (`-A`, `-z,`, ...).
    #[serde(default)]
    pub other_flags: Vec<String>,
}

impl MapSpec {
    /// The LMDB file this map is served from: `path` + `.lmdb`.
    pub fn lmdb_path(&self) -> String {
        format!("{}.lmdb", self.path)
    }
}

/// One DNS blocklist, from `FEATURE(dnsbl, ...)` or `FEATURE(enhdnsbl, ...)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dnsbl {
    /// `false` for `dnsbl`, `true` for `enhdnsbl` (answers compared to `matches`).
    pub enhanced: bool,
    /// Zone queried, e.g. `bl.example.org`.
    pub zone: String,
    /// What a listing does.
    pub action: DnsblAction,
    /// What a temporary DNS failure does.
    pub on_tempfail: DnsblTempFail,
    /// enhdnsbl answer patterns (`127.0.0.2.`); empty = any answer lists.
    #[serde(default)]
    pub matches: Vec<String>,
}

/// What a DNSBL listing does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "text")]
pub enum DnsblAction {
    /// `550 5.7.1 Rejected: <ip> listed at <zone>`.
    Reject,
    /// A custom message as written in the `.mc` (`"554 Rejected " $&{client_addr} " found in ..."`).
    Message(String),
    /// `quarantine`: accept and hold, reason = zone.
    Quarantine,
    /// `discard`: accept and drop.
    Discard,
}

/// What a temporary DNSBL failure does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "text")]
pub enum DnsblTempFail {
    /// Argument absent or empty: ignore, continue.
    Ignore,
    /// `t`: `451 4.4.3 Temporary lookup failure of <ip> at <zone>`.
    Default,
    /// Any other text: that text with `4.4.3`.
    Message(String),
}

/// `SMART_HOST`-like relay settings, each `[mailer:]host` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relays {
    /// `SMART_HOST` (`DS`).
    #[serde(default)]
    pub smart_host: Option<String>,
    /// `LOCAL_RELAY` (`DR`).
    #[serde(default)]
    pub local_relay: Option<String>,
    /// `LUSER_RELAY` (`DL`).
    #[serde(default)]
    pub luser_relay: Option<String>,
    /// `MAIL_HUB` (`DH`).
    #[serde(default)]
    pub mail_hub: Option<String>,
    /// `confFALLBACK_MX` (`FallbackMXhost`).
    #[serde(default)]
    pub fallback_mx: Option<String>,
    /// `confFALLBACK_SMARTHOST` (`FallBackSmartHost`).
    #[serde(default)]
    pub fallback_smarthost: Option<String>,
}

/// One `DAEMON_OPTIONS` listener, its `key=value` pairs kept as written
/// (`Port`, `Addr`, `Family`, `Name`, `M`, `Listen`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    /// Key → value, keys as sendmail spells them (`Port`, `Addr`, `Name`, `M`).
    pub options: BTreeMap<String, String>,
}

/// The listen queue of a listener without `Listen=` (as Rust's standard
/// library and Postfix's order of magnitude; sendmail's own default is 10).
pub const DEFAULT_LISTEN: u32 = 128;

/// The socket and limit keys of one `DAEMON_OPTIONS`, checked: `Listen=`
/// (the listen queue's length), `ReceiveSize=` and `SendSize=` (the socket
/// buffers, in bytes; 0 = the system's default, as in sendmail), and
/// `children=` (sendmail 8.17, daemon.c `refuseconnections`: this
/// listener refuses connections while the daemon has that many sessions in
/// all; it stands for `confMAX_DAEMON_CHILDREN` on this listener, 0 = no
/// limit here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonTuning {
    /// `Listen=`.
    pub listen: Option<u32>,
    /// `ReceiveSize=` (not 0).
    pub receive_size: Option<usize>,
    /// `SendSize=` (not 0).
    pub send_size: Option<usize>,
    /// `children=`.
    pub children: Option<usize>,
}

impl DaemonTuning {
    /// The keys of `o` (a `DAEMON_OPTIONS`' pairs); `Err` names the key,
    /// its value and what was expected.
    pub fn of(o: &BTreeMap<String, String>) -> Result<DaemonTuning, String> {
        let mut t = DaemonTuning::default();
        for (k, v) in o {
            let bad = |what: &str| format!("{k}={v}: expected {what}");
            match k.as_str() {
                "Listen" => {
                    t.listen = match v.parse::<u32>() {
                        Ok(n @ 1..=65535) => Some(n),
                        _ => return Err(bad("the listen queue's length, 1 to 65535")),
                    }
                }
                "ReceiveSize" | "SendSize" => {
                    let n = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n <= i32::MAX as usize)
                        .ok_or_else(|| bad("a buffer size in bytes"))?;
                    let slot = if k == "ReceiveSize" {
                        &mut t.receive_size
                    } else {
                        &mut t.send_size
                    };
                    *slot = (n > 0).then_some(n);
                }
                "children" => {
                    t.children = Some(
                        v.parse()
                            .map_err(|_| bad("a number of sessions (0: no limit)"))?,
                    );
                }
                _ => {}
            }
        }
        Ok(t)
    }
}

/// One `INPUT_MAIL_FILTER(name, equates)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milter {
    /// Filter name.
    pub name: String,
    /// `S=`, `F=`, `T=` equates as written.
    pub options: BTreeMap<String, String>,
    /// Where it was defined (`file:line`), for the daemon's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Defined by `MAIL_FILTER` (not `INPUT_MAIL_FILTER`): sendmail calls it
    /// only when `confINPUT_MAIL_FILTERS` or a daemon's `InputMailFilters=`
    /// names it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mail_filter_only: bool,
}

/// Why a compiled configuration could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ConfigTextError {
    /// The TOML did not parse or did not fit the schema.
    #[error("{0}")]
    Syntax(String),
    /// Written by a different compiled-format version.
    #[error(
        "compiled configuration has format {found}, this mxgate reads format {expected}; recompile the .mc"
    )]
    Format {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
}

/// A content-check rules spec (`FEATURE(header_checks, ...)` and friends):
/// `path`, `regexp:path` or `pcre:path`, as (the type with its colon, or
/// `""`; the path).
pub fn split_rules_spec(spec: &str) -> (&str, &str) {
    for kind in ["regexp:", "pcre:"] {
        if let Some(path) = spec.strip_prefix(kind) {
            return (kind, path);
        }
    }
    ("", spec)
}

impl Config {
    /// An empty configuration of the current format.
    pub fn new() -> Self {
        Config {
            format: FORMAT,
            ..Default::default()
        }
    }

    /// The canonical text form (TOML with a comment header).
    pub fn to_text(&self) -> String {
        let body = toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not serialise configuration: {e}\n"));
        format!(
            "# mxgate compiled configuration (format {FORMAT}).\n\
             # Generated by `mxgate compile`; edit the .mc file and recompile instead.\n{body}"
        )
    }

    /// Read the canonical text form back.
    pub fn from_text(text: &str) -> Result<Config, ConfigTextError> {
        let cfg: Config =
            toml::from_str(text).map_err(|e| ConfigTextError::Syntax(e.to_string()))?;
        if cfg.format != FORMAT {
            return Err(ConfigTextError::Format {
                found: cfg.format,
                expected: FORMAT,
            });
        }
        Ok(cfg)
    }

    /// Is `FEATURE(name)` on?
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.contains_key(name)
    }

    /// Arguments of `FEATURE(name, ...)`, if it is on.
    pub fn feature_args(&self, name: &str) -> Option<&[String]> {
        self.features.get(name).map(|v| v.as_slice())
    }

    /// An option by its `.mc` name (`confMAX_MESSAGE_SIZE`).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(|s| s.as_str())
    }

    /// Literal members of class `name`.
    pub fn class(&self, name: &str) -> &[String] {
        self.classes.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        c.classes.insert("w".into(), vec!["example.com".into()]);
        c.maps.insert(
            "access".into(),
            MapSpec {
                class: "hash".into(),
                path: "/etc/mail/access".into(),
                optional: true,
                tempfail: true,
                nul_terminated: false,
                keep_case: false,
                other_flags: vec![],
            },
        );
        c.dnsbl.push(Dnsbl {
            enhanced: true,
            zone: "bl.example.org".into(),
            action: DnsblAction::Reject,
            on_tempfail: DnsblTempFail::Default,
            matches: vec!["127.0.0.2.".into()],
        });
        let text = c.to_text();
        assert_eq!(Config::from_text(&text).unwrap(), c);
        assert!(text.contains("format = 1"));
    }

    #[test]
    fn wrong_format_is_refused() {
        let err = Config::from_text("format = 99\n").unwrap_err();
        assert!(err.to_string().contains("format 99"));
    }
}

// ---------------------------------------------------------------- CLIENT_OPTIONS

/// The options of one address family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyOptions {
    /// `Addr=`: bind outgoing connections to this address.
    pub addr: Option<std::net::IpAddr>,
    /// `Port=`: bind outgoing connections to this port.
    pub port: Option<u16>,
    /// `SendSize=`: the socket's send buffer.
    pub send_size: Option<usize>,
    /// `ReceiveSize=`: the socket's receive buffer.
    pub receive_size: Option<usize>,
    /// `M=A`: do not AUTH.
    pub no_auth: bool,
    /// `M=S`: do not STARTTLS.
    pub no_tls: bool,
    /// `M=h`: say HELO/EHLO with the name of the outgoing interface's
    /// address (when it has one with a dot and no bracket), not `$j`.
    #[serde(default)]
    pub helo_from_interface: bool,
}

impl FamilyOptions {
    /// Does anything need the socket set up by hand?
    pub fn binds(&self) -> bool {
        self.addr.is_some()
            || self.port.is_some()
            || self.send_size.is_some()
            || self.receive_size.is_some()
    }
}

/// The options for IPv4 and IPv6 connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOptions {
    /// `Family=inet` (the default family).
    pub inet: FamilyOptions,
    /// `Family=inet6`.
    pub inet6: FamilyOptions,
}

impl ClientOptions {
    /// Read a configuration's `CLIENT_OPTIONS` and `confCLIENT_OPTIONS`
    /// (sendmail's `ClientPortOptions`): each applies to connections of its
    /// `Family` (`inet`, the default, or `inet6`); a later entry for a
    /// family replaces an earlier one. A value sendmail would not take is an
    /// error naming it.
    pub fn of(config: &Config) -> Result<ClientOptions, String> {
        let mut all: Vec<BTreeMap<String, String>> = Vec::new();
        if let Some(text) = config.option("confCLIENT_OPTIONS") {
            all.push(
                text.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect(),
            );
        }
        all.extend(config.client_options.iter().cloned());
        let mut out = ClientOptions::default();
        for o in &all {
            let family = o.get("Family").map(String::as_str).unwrap_or("inet");
            let slot = match family {
                "inet" => &mut out.inet,
                "inet6" => &mut out.inet6,
                f => {
                    return Err(format!("CLIENT_OPTIONS Family={f}: expected inet or inet6"));
                }
            };
            *slot = family_options(family, o)?;
        }
        Ok(out)
    }

    /// The options for connections to `ip`.
    pub fn for_addr(&self, ip: &std::net::IpAddr) -> &FamilyOptions {
        if ip.is_ipv4() {
            &self.inet
        } else {
            &self.inet6
        }
    }
}

fn family_options(family: &str, o: &BTreeMap<String, String>) -> Result<FamilyOptions, String> {
    let mut f = FamilyOptions::default();
    for (k, v) in o {
        let bad = |what: &str| format!("CLIENT_OPTIONS {k}={v}: expected {what}");
        match k.as_str() {
            "Family" | "Name" => {}
            "Addr" => {
                let ip: std::net::IpAddr = v.parse().map_err(|_| bad("an IP address"))?;
                if ip.is_ipv4() != (family == "inet") {
                    return Err(bad(&format!("an address of family {family}")));
                }
                f.addr = Some(ip);
            }
            "Port" => f.port = Some(v.parse().map_err(|_| bad("a port number"))?),
            "SendSize" => f.send_size = Some(v.parse().map_err(|_| bad("a size in bytes"))?),
            "ReceiveSize" => {
                f.receive_size = Some(v.parse().map_err(|_| bad("a size in bytes"))?);
            }
            "M" | "Modifiers" => {
                for c in v.chars().filter(|c| !matches!(c, ' ' | ',')) {
                    match c {
                        'A' => f.no_auth = true,
                        'S' => f.no_tls = true,
                        'h' => f.helo_from_interface = true,
                        _ => return Err(bad("modifiers among A, S and h")),
                    }
                }
            }
            _ => {
                return Err(bad(
                    "a known key (Addr, Family, M, Name, Port, ReceiveSize, SendSize)",
                ));
            }
        }
    }
    Ok(f)
}
