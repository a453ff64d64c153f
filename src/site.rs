//! A site: one compiled configuration with everything it refers to loaded.
//!
//! Contract: [`Site::load`] takes a [`Config`] and opens its tables, reads
//! its class files (`Fw`, `confCW_FILE`, `confCR_FILE`, `*_FILE` macros),
//! its hosts file and service switch (`confHOSTS_FILE`,
//! `confSERVICE_SWITCH_FILE`) and its header-rules file. The decision
//! modules (L2) read a `&Site` and never do I/O themselves.
//! [`Site::from_parts`] builds one from in-memory tables for tests.
//!
//! sendmail macros in host-name values (`hostname`/`$j`, `masquerade_as`,
//! the relays, class members) are expanded here, once, the way sendmail
//! expands them when it uses them: `$w`, `$m`, `$j` start from the
//! machine's name, `Dx` lines override them ([`Site::expand_macros`]).

use crate::addr;
use crate::config::{Config, MapSpec};
use crate::settings::Settings;
use crate::table::{self, EmptyTable, Fold, TableRef};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a site could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required table is missing or unreadable.
    #[error("map {role}: {err}")]
    Table {
        /// The table's role (`access`, `mailertable`, ...).
        role: String,
        /// The table error.
        err: table::Error,
    },
    /// A required file (class file, hosts file, header rules) could not be read.
    #[error("{path}: {err}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        err: std::io::Error,
    },
    /// An option's value does not read ([`crate::settings`]).
    #[error("{0}")]
    Setting(String),
}

/// Where host names are looked up (`confSERVICE_SWITCH_FILE`, `hosts` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSource {
    /// The hosts file (`confHOSTS_FILE`, default `/etc/hosts`).
    Files,
    /// The DNS.
    Dns,
}

/// What the configured host sources say about a name, without doing DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAnswer {
    /// Found in the hosts file, with these addresses.
    Found(Vec<IpAddr>),
    /// Not found, and DNS is not among the sources: the name does not resolve.
    NotFound,
    /// Not in the hosts file, and DNS is among the sources: the caller must ask DNS.
    AskDns,
}

/// What the configured host sources say about an address, without doing DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseAnswer {
    /// The hosts file names it.
    Found(String),
    /// Not in the hosts file, and DNS is not among the sources.
    NotFound,
    /// Not in the hosts file, and DNS is among the sources: ask DNS.
    AskDns,
}

/// A loaded configuration.
#[derive(Debug, Clone)]
pub struct Site {
    /// The configuration as compiled, with the macros of its host-name
    /// values expanded (see the module contract).
    pub config: Config,
    /// `$j`, the canonical host name, with its macros expanded.
    pub hostname: String,
    /// sendmail's macros: `w`, `j`, `m` (from the machine's name unless D
    /// lines or `confDOMAIN_NAME` set them) and every `Dx` / `D{name}` line.
    macros: BTreeMap<String, String>,
    classes: BTreeMap<String, BTreeSet<String>>,
    tables: BTreeMap<String, TableRef>,
    aliases: Vec<TableRef>,
    hosts: BTreeMap<String, Vec<IpAddr>>,
    hosts_reverse: BTreeMap<IpAddr, String>,
    host_sources: Vec<HostSource>,
    /// The header rules file (spec, text), if `FEATURE(header_checks)` is on;
    /// the spec is the path, or `regexp:`/`pcre:` and the path.
    pub header_checks: Option<(PathBuf, String)>,
    /// The other content-check files (path, text), each if its FEATURE is
    /// on: `body_checks`, `mime_header_checks`, `nested_header_checks`.
    pub content_checks: ContentCheckFiles,
    /// Things worth telling the administrator that did not stop the load.
    pub warnings: Vec<String>,
    /// The system password file's names (local users without a
    /// `mailboxes` table), read from memory ([`crate::table::passwd`]).
    pub passwd: Arc<crate::table::passwd::Passwd>,
    /// Every option's value, read once ([`crate::settings`]).
    pub settings: Arc<Settings>,
}

impl Site {
    /// Load everything `config` refers to from disk.
    pub fn load(config: Config) -> Result<Site, Error> {
        let mut tables = BTreeMap::new();
        let mut warnings = Vec::new();
        let mut aliases = Vec::new();
        // Like sendmail, a missing alias database is a warning, not a stop:
        // the site runs without those aliases until `newaliases` builds them.
        let mut open_alias = |spec: &MapSpec| -> Result<TableRef, Error> {
            match open_map(spec) {
                Err(table::Error::Missing { path }) => {
                    warnings.push(format!(
                        "alias database {} does not exist (run newaliases); continuing without it",
                        path.display()
                    ));
                    Ok(Arc::new(EmptyTable) as TableRef)
                }
                other => other.map_err(|err| Error::Table {
                    role: "aliases".into(),
                    err,
                }),
            }
        };
        for spec in config
            .maps
            .get("aliases")
            .into_iter()
            .chain(&config.alias_files)
        {
            aliases.push(open_alias(spec)?);
        }
        for (role, spec) in &config.maps {
            let t = match (role.as_str(), aliases.first()) {
                ("aliases", Some(t)) => t.clone(),
                _ => open_map(spec).map_err(|err| Error::Table {
                    role: role.clone(),
                    err,
                })?,
            };
            tables.insert(role.clone(), t);
        }
        let header_checks = read_rules(&config.header_checks)?;
        let mut site = Site::bare(config, tables, aliases, header_checks)?;
        site.content_checks = ContentCheckFiles::read(&site.config)?;
        site.warnings = warnings;
        site.load_files()?;
        Ok(site)
    }

    /// A site from in-memory tables (by role; `aliases` is the alias table),
    /// still reading the class and hosts files the config names.
    pub fn from_parts(config: Config, tables: BTreeMap<String, TableRef>) -> Result<Site, Error> {
        let aliases = tables.get("aliases").cloned().into_iter().collect();
        let header_checks = read_rules(&config.header_checks)?;
        let mut site = Site::bare(config, tables, aliases, header_checks)?;
        site.content_checks = ContentCheckFiles::read(&site.config)?;
        site.load_files()?;
        Ok(site)
    }

    fn bare(
        config: Config,
        tables: BTreeMap<String, TableRef>,
        aliases: Vec<TableRef>,
        header_checks: Option<(PathBuf, String)>,
    ) -> Result<Site, Error> {
        let settings = Arc::new(Settings::from_config(&config).map_err(Error::Setting)?);
        let mut config = config;
        let macros = macro_table(&config, &machine_hostname());
        let hostname = addr::normalize_name(&expand(&macros, "$j", &|_| None));
        // The values sendmail expands when it uses them: host names may be
        // written with macros (`$w.$m`, `${name}`) defined by D lines.
        let host = |v: &mut Option<String>| {
            if let Some(t) = v.as_mut().filter(|t| t.contains('$')) {
                *t = expand(&macros, t, &|_| None);
            }
        };
        if config.hostname.is_some() {
            config.hostname = Some(hostname.clone());
        }
        host(&mut config.masquerade_as);
        host(&mut config.relays.smart_host);
        host(&mut config.relays.local_relay);
        host(&mut config.relays.luser_relay);
        host(&mut config.relays.mail_hub);
        host(&mut config.relays.fallback_mx);
        host(&mut config.relays.fallback_smarthost);
        let mut classes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, members) in &config.classes {
            let set = classes.entry(name.clone()).or_default();
            for m in members {
                // A C line's members are expanded as the line is read; one
                // member may expand to several words.
                for word in expand(&macros, m, &|_| None).split_whitespace() {
                    set.insert(fold_member(name, word));
                }
            }
        }
        // sendmail puts its own names into $=w: $j, the short name ($w),
        // localhost and the loopback literals.
        let w = classes.entry("w".into()).or_default();
        w.insert(hostname.clone());
        if let Some((short, _)) = hostname.split_once('.') {
            w.insert(short.to_string());
        }
        for n in ["localhost", "[127.0.0.1]", "[ipv6:::1]"] {
            w.insert(n.to_string());
        }
        Ok(Site {
            config,
            hostname,
            macros,
            classes,
            tables,
            aliases,
            hosts: BTreeMap::new(),
            hosts_reverse: BTreeMap::new(),
            host_sources: vec![HostSource::Files, HostSource::Dns],
            header_checks,
            content_checks: ContentCheckFiles::default(),
            warnings: Vec::new(),
            passwd: Arc::new(crate::table::passwd::Passwd::system()),
            settings,
        })
    }

    fn load_files(&mut self) -> Result<(), Error> {
        for (class, files) in &self.config.class_files {
            for f in files {
                let text = match std::fs::read_to_string(&f.path) {
                    Ok(t) => t,
                    Err(e) if f.optional && e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(err) => {
                        return Err(Error::File {
                            path: PathBuf::from(&f.path),
                            err,
                        });
                    }
                };
                let set = self.classes.entry(class.clone()).or_default();
                for line in text.lines() {
                    let line = line.split('#').next().unwrap_or("");
                    for word in line.split_whitespace() {
                        set.insert(fold_member(class, word));
                    }
                }
            }
        }
        let hosts_path = self.settings.hosts_file.clone();
        match std::fs::read_to_string(&hosts_path) {
            Ok(text) => {
                self.hosts = parse_hosts(&text);
                self.hosts_reverse = parse_hosts_reverse(&text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(Error::File {
                    path: hosts_path,
                    err,
                });
            }
        }
        if let Some(sw) = &self.settings.service_switch_file {
            let text = read(sw)?;
            if let Some(sources) = parse_switch(&text) {
                self.host_sources = sources;
            }
        }
        Ok(())
    }

    /// Expand sendmail macros in `text` as sendmail does when it uses a
    /// value: `$x`, `${name}`, `$&x`, `$?x yes $| no $.`; a macro's value is
    /// expanded in turn; an undefined macro is empty. `runtime` answers
    /// the macros only known at the time of use (`v`, `b`, `{client_addr}`,
    /// ...) before the configured ones.
    pub fn expand_macros(&self, text: &str, runtime: &dyn Fn(&str) -> Option<String>) -> String {
        expand(&self.macros, text, runtime)
    }

    /// The table for `role` (`access`, `mailertable`, `virtuser`, `generics`,
    /// `mailboxes`, ...), if the configuration has one.
    pub fn table(&self, role: &str) -> Option<&TableRef> {
        self.tables.get(role)
    }

    /// The alias tables, in `ALIAS_FILE` order.
    pub fn alias_tables(&self) -> &[TableRef] {
        &self.aliases
    }

    /// The alias for the (lower-case) key `key` in the first alias table
    /// that has it. A table error is returned, never taken as "no alias".
    /// (The implicit `postmaster: root` is added one layer up, in `users`.)
    pub fn alias(&self, key: &str) -> Result<Option<String>, crate::table::Error> {
        for t in &self.aliases {
            if let Some(v) = t.lookup(key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Is `item` in class `class` (`$=w`, `$=R`, ...)? Case-insensitive for
    /// host classes, exact for user classes (`E`, `L`).
    pub fn in_class(&self, class: &str, item: &str) -> bool {
        self.classes
            .get(class)
            .is_some_and(|s| s.contains(&fold_member(class, item)))
    }

    /// All members of a class (folded).
    pub fn class_members(&self, class: &str) -> impl Iterator<Item = &str> {
        self.classes
            .get(class)
            .into_iter()
            .flat_map(|s| s.iter().map(|m| m.as_str()))
    }

    /// Does `!` mark a UUCP path (`host!user`)? Not with `FEATURE(nouucp)`,
    /// whichever its argument: `!` is then an ordinary character of the
    /// local part (sendmail 8.17 -bt: `/parse host!user` → `mailer local,
    /// user host!user`).
    pub fn bang_is_path(&self) -> bool {
        !self.config.has_feature("nouucp")
    }

    /// `FEATURE(nouucp, reject)`: a recipient with `!` in its local part is
    /// judged as a remote one (relaying).
    pub fn bang_is_refused(&self) -> bool {
        self.config
            .feature_args("nouucp")
            .and_then(|a| a.first())
            .is_some_and(|a| a.trim().starts_with('r'))
    }

    /// Is `host` one of ours (`$=w`)?
    pub fn is_local_host(&self, host: &str) -> bool {
        self.in_class("w", host.trim_end_matches('.'))
    }

    /// Look a host name up in the configured sources, without DNS.
    pub fn host_lookup(&self, name: &str) -> HostAnswer {
        let name = addr::normalize_name(name);
        self.walk_sources(|| self.hosts.get(&name))
    }

    /// [`Site::host_lookup`] as sendmail's canonification (the `host` map,
    /// ruleset 3's `$[ $]`) asks it: the hosts file also finds a name that
    /// ends in `.$m` under its first label (sendmail's `shorten_hostname`:
    /// `localhost.example.com` is `localhost` when `$m` is `example.com`;
    /// checked on sendmail 8.17, `/map resolve localhost.example.com` →
    /// `localhost.example.com<OKR>` with only `127.0.0.1 localhost` in the
    /// file, `foo.example.com` and `relay.example.com` → no match). For the
    /// sender's domain; delivery looks addresses up by the name itself.
    pub fn host_lookup_canonical(&self, name: &str) -> HostAnswer {
        let name = addr::normalize_name(name);
        self.walk_sources(|| {
            let domain = self.expand_macros("$m", &|_| None).to_ascii_lowercase();
            let short = name
                .split_once('.')
                .filter(|(_, rest)| !domain.is_empty() && *rest == domain)
                .map(|(first, _)| first);
            self.hosts
                .get(&name)
                .or_else(|| short.and_then(|s| self.hosts.get(s)))
        })
    }

    /// The service switch's `hosts` sources in order: `in_file` answers for
    /// `files`; `dns` means the caller must ask DNS.
    fn walk_sources<'a>(&'a self, in_file: impl Fn() -> Option<&'a Vec<IpAddr>>) -> HostAnswer {
        for src in &self.host_sources {
            match src {
                HostSource::Files => {
                    if let Some(ips) = in_file() {
                        return HostAnswer::Found(ips.clone());
                    }
                }
                HostSource::Dns => return HostAnswer::AskDns,
            }
        }
        HostAnswer::NotFound
    }

    /// Where `key` of the table in `role` is defined in the table's text
    /// source (`path` without `.lmdb`), for explanations ("mailertable line
    /// 12"). Nothing is read until the number is asked for: routing a
    /// message costs no read of the source text.
    pub fn source_line(&self, role: &str, key: &str) -> SourceLine {
        match self.config.maps.get(role) {
            Some(spec) => SourceLine::Find {
                path: spec.path.clone().into(),
                key: key.to_string(),
                keep_case: spec.keep_case,
            },
            None => SourceLine::Unknown,
        }
    }

    /// The name of `ip` from the configured sources without DNS: the hosts
    /// file's first name for it, [`HostAnswer::AskDns`]-like `None` when the
    /// switch includes DNS and the hosts file has nothing.
    pub fn reverse_lookup(&self, ip: &IpAddr) -> ReverseAnswer {
        for src in &self.host_sources {
            match src {
                HostSource::Files => {
                    if let Some(n) = self.hosts_reverse.get(ip) {
                        return ReverseAnswer::Found(n.clone());
                    }
                }
                HostSource::Dns => return ReverseAnswer::AskDns,
            }
        }
        ReverseAnswer::NotFound
    }

    /// The host sources in switch order.
    pub fn host_sources(&self) -> &[HostSource] {
        &self.host_sources
    }
}

/// Open a map as the runtime serves it: `path.lmdb`; a missing optional map is empty.
pub fn open_map(spec: &MapSpec) -> Result<TableRef, table::Error> {
    let path = PathBuf::from(spec.lmdb_path());
    let fold = if spec.keep_case {
        Fold::Keep
    } else {
        Fold::Lower
    };
    match table::lmdb::Lmdb::open(&path, fold, spec.nul_terminated) {
        Ok(t) => Ok(Arc::new(t)),
        Err(table::Error::Missing { .. }) if spec.optional => Ok(Arc::new(EmptyTable)),
        Err(e) => Err(e),
    }
}

fn fold_member(class: &str, m: &str) -> String {
    match class {
        "E" | "L" => m.to_string(),
        _ => addr::normalize_name(m),
    }
}

/// The rule files of `FEATURE(body_checks)`, `FEATURE(mime_header_checks)`
/// and `FEATURE(nested_header_checks)`, each (path, text).
#[derive(Debug, Clone, Default)]
pub struct ContentCheckFiles {
    /// `body_checks`.
    pub body: Option<(PathBuf, String)>,
    /// `mime_header_checks`.
    pub mime: Option<(PathBuf, String)>,
    /// `nested_header_checks`.
    pub nested: Option<(PathBuf, String)>,
}

impl ContentCheckFiles {
    fn read(config: &Config) -> Result<ContentCheckFiles, Error> {
        Ok(ContentCheckFiles {
            body: read_rules(&config.body_checks)?,
            mime: read_rules(&config.mime_header_checks)?,
            nested: read_rules(&config.nested_header_checks)?,
        })
    }

    /// Each file with its role name (`body_checks`, ...).
    pub fn all(&self) -> [(&'static str, &Option<(PathBuf, String)>); 3] {
        [
            ("body_checks", &self.body),
            ("mime_header_checks", &self.mime),
            ("nested_header_checks", &self.nested),
        ]
    }
}

/// A rules file named by `spec` (`path`, `regexp:path`, `pcre:path`) as
/// (the spec, so the rules know their type; the text of the path).
fn read_rules(spec: &Option<String>) -> Result<Option<(PathBuf, String)>, Error> {
    match spec {
        Some(spec) => {
            let (_, path) = crate::config::split_rules_spec(spec);
            Ok(Some((PathBuf::from(spec), read(Path::new(path))?)))
        }
        None => Ok(None),
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|err| Error::File {
        path: path.into(),
        err,
    })
}

/// sendmail's start-up values of `$w` (the short name), `$j` (the
/// canonical name) and `$m` (the domain part of `$j`) from the machine's
/// name `machine`, overridden by the D lines of the configuration and by
/// `confDOMAIN_NAME` / `Dj` (`config.hostname`). Values are kept unexpanded.
fn macro_table(config: &Config, machine: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let (short, domain) = machine.split_once('.').unwrap_or((machine, ""));
    m.insert("w".to_string(), short.to_string());
    m.insert("j".to_string(), machine.to_string());
    m.insert("m".to_string(), domain.to_string());
    for (k, v) in &config.macros {
        m.insert(k.clone(), v.clone());
    }
    if let Some(j) = &config.hostname {
        m.insert("j".to_string(), j.clone());
    }
    m
}

/// How deep macro values may refer to other macros (sendmail stops at a
/// similar depth with "expand: recursion too deep").
const MACRO_DEPTH: usize = 10;

/// sendmail's `expand()` over `macros` (see [`Site::expand_macros`]).
fn expand(
    macros: &BTreeMap<String, String>,
    text: &str,
    runtime: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::new();
    expand_into(macros, text, runtime, 0, &mut out);
    out
}

fn expand_into(
    macros: &BTreeMap<String, String>,
    text: &str,
    runtime: &dyn Fn(&str) -> Option<String>,
    depth: usize,
    out: &mut String,
) {
    // Conditionals: (taking this branch?, seen $|?) per open $?.
    let mut conds: Vec<(bool, bool)> = Vec::new();
    let live = |c: &[(bool, bool)]| c.iter().all(|(take, _)| *take);
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        if live(&conds) {
            out.push_str(&rest[..i]);
        }
        let after = &rest[i + 1..];
        let mut chars = after.chars();
        match chars.next() {
            Some('|') => {
                if let Some(top) = conds.last_mut()
                    && !top.1
                {
                    top.0 = !top.0;
                    top.1 = true;
                }
                rest = chars.as_str();
            }
            Some('.') => {
                conds.pop();
                rest = chars.as_str();
            }
            Some(c @ ('?' | '&')) => {
                let (name, tail) = macro_name(chars.as_str());
                if name.is_empty() {
                    if live(&conds) {
                        out.push('$');
                        out.push(c);
                    }
                    rest = tail;
                    continue;
                }
                let value = runtime(name).or_else(|| macros.get(name).cloned());
                if c == '?' {
                    conds.push((value.is_some_and(|v| !v.is_empty()), false));
                } else if live(&conds) {
                    push_value(macros, value, runtime, depth, out);
                }
                rest = tail;
            }
            Some(_) => {
                let (name, tail) = macro_name(after);
                if live(&conds) {
                    let value = runtime(name).or_else(|| macros.get(name).cloned());
                    push_value(macros, value, runtime, depth, out);
                }
                rest = tail;
            }
            None => {
                if live(&conds) {
                    out.push('$');
                }
                rest = "";
            }
        }
    }
    if live(&conds) {
        out.push_str(rest);
    }
}

fn push_value(
    macros: &BTreeMap<String, String>,
    value: Option<String>,
    runtime: &dyn Fn(&str) -> Option<String>,
    depth: usize,
    out: &mut String,
) {
    if let Some(v) = value
        && depth < MACRO_DEPTH
    {
        expand_into(macros, &v, runtime, depth + 1, out);
    }
}

/// A macro name at the start of `s`: one character, or `{name}` (kept
/// with its braces, as the compiled `macros` keys are). Returns the name
/// and the rest.
fn macro_name(s: &str) -> (&str, &str) {
    if s.starts_with('{')
        && let Some(end) = s.find('}')
    {
        return s.split_at(end + 1);
    }
    match s.chars().next() {
        Some(c) => s.split_at(c.len_utf8()),
        None => ("", s),
    }
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| addr::normalize_name(s.trim()))
        .unwrap_or_else(|_| "localhost".into())
}

/// `ip name alias...` lines → name → addresses.
fn parse_hosts(text: &str) -> BTreeMap<String, Vec<IpAddr>> {
    let mut map: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in words {
            let v = map.entry(addr::normalize_name(name)).or_default();
            if !v.contains(&ip) {
                v.push(ip);
            }
        }
    }
    map
}

/// `ip name alias...` lines → address → its first name.
fn parse_hosts_reverse(text: &str) -> BTreeMap<IpAddr, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(ip), Some(name)) = (
            words.next().and_then(|w| w.parse::<IpAddr>().ok()),
            words.next(),
        ) else {
            continue;
        };
        map.entry(ip).or_insert_with(|| addr::normalize_name(name));
    }
    map
}

/// The `hosts` line of a sendmail service switch file (`hosts files dns`).
fn parse_switch(text: &str) -> Option<Vec<HostSource>> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("hosts") {
            continue;
        }
        return Some(
            words
                .filter_map(|w| match w {
                    "files" => Some(HostSource::Files),
                    "dns" => Some(HostSource::Dns),
                    _ => None,
                })
                .collect(),
        );
    }
    None
}

/// The line of a table's text source that defines a key (see
/// [`Site::source_line`]), looked up when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLine {
    /// No text source is known.
    Unknown,
    /// This line.
    At(u32),
    /// The first line of `path` whose key is `key`.
    Find {
        /// The text source.
        path: std::path::PathBuf,
        /// The key.
        key: String,
        /// Keys compared exactly (makemap `-f` not given).
        keep_case: bool,
    },
}

impl SourceLine {
    /// The line number; `None` when the text is not next to the map or
    /// has no such key.
    pub fn number(&self) -> Option<u32> {
        let (path, key, keep_case) = match self {
            SourceLine::Unknown => return None,
            SourceLine::At(n) => return Some(*n),
            SourceLine::Find {
                path,
                key,
                keep_case,
            } => (path, key, *keep_case),
        };
        let text = std::fs::read_to_string(path).ok()?;
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.starts_with(char::is_whitespace) {
                continue;
            }
            let k = line.split_whitespace().next().unwrap_or("");
            let hit = if keep_case {
                k == key
            } else {
                k.eq_ignore_ascii_case(key)
            };
            if hit {
                return u32::try_from(i + 1).ok();
            }
        }
        None
    }

    /// `" line N"` when known, else nothing (for explanations).
    pub fn suffix(&self) -> String {
        self.number()
            .map(|n| format!(" line {n}"))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_w_has_own_names() {
        let mut c = Config::new();
        c.hostname = Some("GW.Example.COM.".into());
        c.classes.insert("w".into(), vec!["Example.com".into()]);
        let s = Site::from_parts(c, BTreeMap::new()).unwrap();
        assert_eq!(s.hostname, "gw.example.com");
        for h in [
            "gw.example.com",
            "gw",
            "example.com",
            "localhost",
            "EXAMPLE.COM.",
        ] {
            assert!(s.is_local_host(h), "{h}");
        }
        assert!(!s.is_local_host("other.com"));
    }

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn macros_expand_as_sendmail_uses_them() {
        let m = table(&[
            ("w", "gw1"),
            ("m", "example.gr.jp"),
            ("j", "$w.$m"),
            ("{site}", "${mine}x"),
            ("{mine}", "y"),
            ("{loop}", "${loop}a"),
        ]);
        let none = |_: &str| None;
        assert_eq!(expand(&m, "$j", &none), "gw1.example.gr.jp");
        assert_eq!(expand(&m, "mx.$m", &none), "mx.example.gr.jp");
        assert_eq!(expand(&m, "${site}-$&w", &none), "yx-gw1");
        assert_eq!(expand(&m, "[$q]", &none), "[]", "undefined = empty");
        assert_eq!(expand(&m, "$?w yes$|no$.", &none), " yes");
        assert_eq!(expand(&m, "$?q yes$|no$.!", &none), "no!");
        assert_eq!(expand(&m, "$?q $?w a$.b$|c$.", &none), "c");
        assert_eq!(expand(&m, "${loop}", &none), "a".repeat(MACRO_DEPTH));
        assert_eq!(expand(&m, "cost $", &none), "cost $");
        let rt = |n: &str| (n == "v").then(|| "9.9".to_string());
        assert_eq!(expand(&m, "$j $v", &rt), "gw1.example.gr.jp 9.9");
    }

    #[test]
    fn w_m_j_default_to_the_machine_name() {
        let mut c = Config::new();
        let m = macro_table(&c, "host7.dept.example.org");
        assert_eq!(
            expand(&m, "$w|$m|$j", &|_| None),
            "host7|dept.example.org|host7.dept.example.org"
        );
        // The tutorial: define(`confDOMAIN_NAME', `$w.$m') with Dw and Dm lines.
        c.hostname = Some("$w.$m".into());
        c.macros.insert("w".into(), "gw1".into());
        c.macros.insert("m".into(), "example.gr.jp".into());
        c.masquerade_as = Some("$m".into());
        c.classes.insert("w".into(), vec!["mail.$m $w.$m".into()]);
        let s = Site::from_parts(c, BTreeMap::new()).unwrap();
        assert_eq!(s.hostname, "gw1.example.gr.jp");
        assert_eq!(s.config.hostname.as_deref(), Some("gw1.example.gr.jp"));
        assert_eq!(s.config.masquerade_as.as_deref(), Some("example.gr.jp"));
        assert!(s.is_local_host("mail.example.gr.jp"));
        assert!(s.is_local_host("gw1"));
        // Only $m set: $w still comes from the machine.
        let mut c = Config::new();
        c.hostname = Some("$w.$m".into());
        c.macros.insert("m".into(), "example.gr.jp".into());
        let m = macro_table(&c, "box.local");
        assert_eq!(expand(&m, "$j", &|_| None), "box.example.gr.jp");
    }

    #[test]
    fn hosts_and_switch() {
        assert_eq!(
            parse_switch("# x\nhosts files\n"),
            Some(vec![HostSource::Files])
        );
        let h = parse_hosts("127.0.0.1 localhost\n10.0.0.1 gw.example.com gw # c\n");
        assert_eq!(h["gw"], vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
    }
}
