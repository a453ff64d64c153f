//! Sendmail's cf macros, interpreted into a [`Config`].
//!
//! Contract: [`Mc`] is the [`CfHost`] of the m4 engine. It implements the
//! cf macros (`FEATURE`, `MAILER`, `DAEMON_OPTIONS`, `MASQUERADE_AS`, the
//! class macros, `LOCAL_CONFIG`, ...) as they are called, then, once the
//! whole file is read, [`Mc::apply_define`] turns the final m4 definitions
//! (`conf*` options, `SMART_HOST`, `ALIAS_FILE`, `*_MAILER_*`) into fields,
//! [`Mc::apply_output`] interprets the raw cf lines left in the output
//! (`D`, `C`, `F`, `O`, and `K`/`S`/`R`/... kept verbatim) and
//! [`Mc::finish`] applies sendmail's defaults. Everything the admin wrote
//! that means nothing to sendmail either is an error naming file:line:col
//! and what was expected. Sendmail's own orderings are enforced where
//! sendmail enforces them (`FEATURE() should be before MAILER()`,
//! `MAILER(x) already included`).

use crate::Diagnostic;
use crate::config::{
    ClassFile, ClientOptions, Config, Daemon, Dnsbl, DnsblAction, DnsblTempFail, MapSpec, Milter,
};
use crate::content_filter::{self, ContentFilter};
use crate::diag::{Files, Pos};
use crate::expand::{CfAction, CfHost};
use crate::options::OPTIONS;
use crate::source::{self, Reach, SourceError};
use crate::support::{self, Support};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every feature in sendmail 8.17's `cf/feature/`, with the largest number
/// of arguments it takes, plus mxgate's `header_checks` and `mailboxes`.
pub const FEATURES: &[(&str, usize)] = &[
    ("accept_unqualified_senders", 0),
    ("accept_unresolvable_domains", 0),
    ("access_db", 4),
    ("allmasquerade", 0),
    ("always_add_domain", 1),
    ("authinfo", 1),
    ("badmx", 0),
    ("bcc", 3),
    ("bestmx_is_local", 1),
    ("bitdomain", 1),
    ("blacklist_recipients", 0),
    ("block_bad_helo", 0),
    ("blocklist_recipients", 0),
    ("body_checks", 1),
    ("check_cert_altnames", 0),
    ("check_other", 1),
    ("compat_check", 0),
    ("conncontrol", 2),
    ("delay_checks", 2),
    ("dnsbl", 3),
    ("domainmap", 2),
    ("domaintable", 1),
    ("drac", 1),
    ("enhdnsbl", 8),
    ("generics_entire_domain", 0),
    ("genericstable", 1),
    ("greet_pause", 1),
    ("header_checks", 1),
    ("ldap_routing", 8),
    ("limited_masquerade", 0),
    ("local_lmtp", 3),
    ("local_no_masquerade", 0),
    ("local_procmail", 3),
    ("lookupdotdomain", 0),
    ("loose_relay_check", 0),
    ("mailboxes", 1),
    ("mailertable", 1),
    ("masquerade_entire_domain", 0),
    ("masquerade_envelope", 0),
    ("mime_header_checks", 1),
    ("msp", 2),
    ("mtamark", 0),
    ("nested_header_checks", 1),
    ("no_default_msa", 0),
    ("nocanonify", 1),
    ("nopercenthack", 1),
    ("notsticky", 0),
    ("nouucp", 1),
    ("nullclient", 1),
    ("prefixmod", 9),
    ("preserve_local_plus_detail", 0),
    ("preserve_luser_host", 0),
    ("promiscuous_relay", 0),
    ("queuegroup", 1),
    ("ratecontrol", 2),
    ("redirect", 0),
    ("relay_based_on_MX", 0),
    ("relay_entire_domain", 0),
    ("relay_hosts_only", 0),
    ("relay_local_from", 0),
    ("relay_mail_from", 1),
    ("require_rdns", 0),
    ("rhsbl", 3),
    ("smrsh", 1),
    ("stickyhost", 0),
    ("sts", 9),
    ("tls_failures", 0),
    ("tls_session_features", 0),
    ("use_client_ptr", 0),
    ("use_ct_file", 0),
    ("use_cw_file", 0),
    ("uucpdomain", 1),
    ("virtuser_entire_domain", 0),
    ("virtusertable", 1),
    ("vnet", 1),
];

/// Features whose first argument is a map spec: (feature, map role, default spec).
const MAP_FEATURES: &[(&str, &str, &str)] = &[
    ("access_db", "access", "hash -T<TMPF> /etc/mail/access"),
    ("authinfo", "authinfo", "hash /etc/mail/authinfo"),
    ("bitdomain", "bitdomain", "hash /etc/mail/bitdomain"),
    ("domaintable", "domaintable", "hash /etc/mail/domaintable"),
    ("genericstable", "generics", "hash /etc/mail/genericstable"),
    ("mailboxes", "mailboxes", "lmdb /etc/mail/mailboxes"),
    ("mailertable", "mailertable", "hash /etc/mail/mailertable"),
    ("uucpdomain", "uudomain", "hash /etc/mail/uudomain"),
    ("virtusertable", "virtuser", "hash /etc/mail/virtusertable"),
];

/// `access_db` options after the map spec.
const ACCESS_DB_OPTIONS: &[&str] = &["skip", "lookupdotdomain", "relaytofulladdress"];

/// `OSTYPE` names sendmail 8.17 ships (`cf/ostype/*.m4`).
const OSTYPES: &[&str] = &[
    "a-ux",
    "aix3",
    "aix4",
    "aix5",
    "altos",
    "amdahl-uts",
    "bsd4.3",
    "bsd4.4",
    "bsdi",
    "bsdi1.0",
    "bsdi2.0",
    "darwin",
    "debian",
    "dgux",
    "domainos",
    "dragonfly",
    "dynix3.2",
    "freebsd4",
    "freebsd5",
    "freebsd6",
    "gnu",
    "hpux10",
    "hpux11",
    "hpux9",
    "irix4",
    "irix5",
    "irix6",
    "isc4.1",
    "linux",
    "maxion",
    "mklinux",
    "mpeix",
    "nextstep",
    "openbsd",
    "osf1",
    "powerux",
    "ptx2",
    "qnx",
    "riscos4.5",
    "sco-uw-2.1",
    "sco3.2",
    "sinix",
    "solaris11",
    "solaris2",
    "solaris2.ml",
    "solaris2.pre5",
    "solaris8",
    "sunos3.5",
    "sunos4.1",
    "svr4",
    "ultrix4",
    "unicos",
    "unicosmk",
    "unicosmp",
    "unixware7",
    "unknown",
    "uxpds",
];

/// `DOMAIN` names sendmail 8.17 (Debian) ships (`cf/domain/*.m4`); recorded, not read.
const DOMAINS: &[&str] = &[
    "Berkeley.EDU",
    "CS.Berkeley.EDU",
    "EECS.Berkeley.EDU",
    "S2K.Berkeley.EDU",
    "berkeley-only",
    "debian-msp",
    "debian-mta",
    "generic",
];

/// `MAILER(name)` → the mailers it defines (`cf/mailer/*.m4`).
const MAILERS: &[(&str, &[&str])] = &[
    ("cyrus", &["cyrus", "cyrusbb"]),
    ("cyrusv2", &["cyrusv2"]),
    ("fax", &["fax"]),
    ("local", &["local", "prog"]),
    ("mail11", &["mail11"]),
    ("phquery", &["ph"]),
    ("pop", &["pop"]),
    ("procmail", &["procmail"]),
    ("qpage", &["qpage"]),
    ("smtp", &["smtp", "esmtp", "smtp8", "dsmtp", "relay"]),
    ("ssh", &["ssh"]),
    ("usenet", &["usenet"]),
    (
        "uucp",
        &[
            "uucp",
            "uucp-old",
            "suucp",
            "uucp-new",
            "uucp-dom",
            "uucp-uudom",
        ],
    ),
    ("xagent", &["xagent"]),
];

/// Class macros: (macro, class, takes a file).
const CLASS_MACROS: &[(&str, &str, bool)] = &[
    ("CANONIFY_DOMAIN", "Canonify", false),
    ("CANONIFY_DOMAIN_FILE", "Canonify", true),
    ("EXPOSED_USER", "E", false),
    ("EXPOSED_USER_FILE", "E", true),
    ("GENERICS_DOMAIN", "G", false),
    ("GENERICS_DOMAIN_FILE", "G", true),
    ("LOCAL_DOMAIN", "w", false),
    ("LOCAL_USER", "L", false),
    ("LOCAL_USER_FILE", "L", true),
    ("MASQUERADE_DOMAIN", "M", false),
    ("MASQUERADE_DOMAIN_FILE", "M", true),
    ("MASQUERADE_EXCEPTION", "N", false),
    ("MASQUERADE_EXCEPTION_FILE", "N", true),
    ("RELAY_DOMAIN", "R", false),
    ("RELAY_DOMAIN_FILE", "R", true),
    ("TRUST_AUTH_MECH", "TrustAuthMech", false),
    ("VIRTUSER_DOMAIN", "VirtHost", false),
    ("VIRTUSER_DOMAIN_FILE", "VirtHost", true),
];

/// Macros that switch to a raw-cf diversion, with the text sendmail adds.
const RAW_SECTIONS: &[(&str, i32, &str)] = &[
    ("LOCAL_CLT_FEATURES", 9, "SLocal_clt_features\n"),
    ("LOCAL_CONFIG", 6, ""),
    ("LOCAL_NET_CONFIG", 1, ""),
    ("LOCAL_RULESETS", 9, ""),
    ("LOCAL_RULE_0", 3, ""),
    ("LOCAL_RULE_1", 9, "S1\n"),
    ("LOCAL_RULE_2", 9, "S2\n"),
    ("LOCAL_RULE_3", 2, ""),
    ("LOCAL_SRV_FEATURES", 9, "SLocal_srv_features\n"),
    ("LOCAL_TLS_CLIENT", 9, "SLocal_tls_client\n"),
    ("LOCAL_TLS_RCPT", 9, "SLocal_tls_rcpt\n"),
    ("LOCAL_TLS_SERVER", 9, "SLocal_tls_server\n"),
    ("LOCAL_TRY_TLS", 9, "SLocal_try_tls\n"),
    ("MAILER_DEFINITIONS", 7, ""),
];

/// Other cf macros implemented here.
const OTHER_MACROS: &[&str] = &[
    "CLIENT_OPTIONS",
    "DAEMON_OPTIONS",
    "DOMAIN",
    "FEATURE",
    "HACK",
    "INPUT_MAIL_FILTER",
    "MAILER",
    "MAIL_FILTER",
    "MASQUERADE_AS",
    "MODIFY_MAILER_FLAGS",
    "OSTYPE",
    "QUEUE_GROUP",
    "SITECONFIG",
    "VERSIONID",
];

/// `DAEMON_OPTIONS` keys (sendmail `DaemonPortOptions`), canonical spelling.
const DAEMON_KEYS: &[&str] = &[
    "Addr",
    "ContentFilter",
    "Family",
    "InputMailFilters",
    "Listen",
    "M",
    "Name",
    "Port",
    "ReceiveSize",
    "SendSize",
    "children",
    "DeliveryMode",
    "refuseLA",
    "delayLA",
    "queueLA",
];

/// `CLIENT_OPTIONS` keys (`ClientPortOptions`).
const CLIENT_KEYS: &[&str] = &[
    "Addr",
    "Family",
    "M",
    "Name",
    "Port",
    "ReceiveSize",
    "SendSize",
];

/// Daemon modifier letters (`M=`).
const DAEMON_MODIFIERS: &str = "aAbcCEfhIOrsSu";

/// Options whose value must be a whole number.
const NUMERIC_OPTIONS: &[&str] = &[
    "confBAD_RCPT_THROTTLE",
    "confCONNECTION_RATE_THROTTLE",
    "confDELAY_LA",
    "confMAX_ALIAS_RECURSION",
    "confMAX_DAEMON_CHILDREN",
    "confMAX_HEADERS_LENGTH",
    "confMAX_HOP",
    "confMAX_MESSAGE_SIZE",
    "confMAX_NOOP_COMMANDS",
    "confMAX_QUEUE_CHILDREN",
    "confMAX_QUEUE_RUN_SIZE",
    "confMAX_RCPTS_PER_MESSAGE",
    "confMAX_RUNNERS_PER_QUEUE",
    "confMCI_CACHE_SIZE",
    "confMIN_FREE_BLOCKS",
    "confNICE_QUEUE_RUN",
    "confQUEUE_LA",
    "confREFUSE_LA",
];

/// Non-`conf` defines kept in `options` under their own name.
const PLAIN_OPTIONS: &[&str] = &["HELP_FILE", "QUEUE_DIR", "STATUS_FILE"];

/// The interpreter state.
#[derive(Debug)]
pub struct Mc {
    /// The configuration being built.
    pub config: Config,
    /// Warnings so far.
    pub warnings: Vec<Diagnostic>,
    mailer_at: Option<Pos>,
    base_dir: Option<PathBuf>,
    /// Where each `DAEMON_OPTIONS` of `config.daemons` was written.
    daemon_at: Vec<Pos>,
    /// Where `confMXGATE_CONTENT_FILTER` was defined.
    filter_at: Option<Pos>,
    /// The raw line before this one was an S or R line (its warning covers
    /// the rules that follow).
    rule_run: bool,
    /// Where `confAUTH_MECHANISMS` was defined.
    auth_mechanisms_at: Option<Pos>,
    /// Where each option was last defined.
    option_at: BTreeMap<String, Pos>,
    /// sendmail's cf tree, when the `.mc` includes its `cf.m4`
    /// (`/usr/share/sendmail/cf/m4/cf.m4` gives `/usr/share/sendmail/cf`):
    /// `DOMAIN` and `HACK` files are looked for there too, as cf.m4 does.
    cf_dir: Option<PathBuf>,
}

impl Mc {
    /// A fresh interpreter; `base_dir` is the directory of the `.mc` file
    /// (for relative `include` and `DOMAIN` files).
    pub fn new(base_dir: Option<PathBuf>) -> Self {
        Mc {
            config: Config::new(),
            warnings: Vec::new(),
            mailer_at: None,
            base_dir,
            daemon_at: Vec::new(),
            filter_at: None,
            rule_run: false,
            auth_mechanisms_at: None,
            option_at: BTreeMap::new(),
            cf_dir: None,
        }
    }

    /// Is `name` a define this interpreter reads at the end?
    pub fn wants_define(name: &str) -> bool {
        name.starts_with("conf")
            || PLAIN_OPTIONS.contains(&name)
            || matches!(
                name,
                "SMART_HOST"
                    | "LOCAL_RELAY"
                    | "LUSER_RELAY"
                    | "MAIL_HUB"
                    | "ALIAS_FILE"
                    | "MASQUERADE_NAME"
            )
            || is_mailer_option(name)
    }

    /// Apply one final m4 definition (already expanded).
    pub fn apply_define(
        &mut self,
        files: &Files,
        name: &str,
        value: &str,
        pos: Pos,
    ) -> Result<(), Diagnostic> {
        let v = value.trim().to_string();
        match name {
            "SMART_HOST" => self.config.relays.smart_host = non_empty(v),
            "LOCAL_RELAY" => self.config.relays.local_relay = non_empty(v),
            "LUSER_RELAY" => self.config.relays.luser_relay = non_empty(v),
            "MAIL_HUB" => self.config.relays.mail_hub = non_empty(v),
            "MASQUERADE_NAME" => self.config.masquerade_as = non_empty(v),
            "ALIAS_FILE" => self.set_alias_files(files, &v, pos)?,
            _ if is_mailer_option(name) => {
                if let Some(w) = support::mailer_option_warning(name, &v) {
                    self.warnings.push(files.diag(pos, w));
                }
                self.config.mailer_options.insert(name.to_string(), v);
            }
            _ if PLAIN_OPTIONS.contains(&name) => {
                self.config.options.insert(name.to_string(), v);
            }
            _ => self.apply_option(files, name, &v, pos)?,
        }
        Ok(())
    }

    /// Apply a `confXXX` option (from a define or a raw `O` line).
    fn apply_option(
        &mut self,
        files: &Files,
        name: &str,
        v: &str,
        pos: Pos,
    ) -> Result<(), Diagnostic> {
        if OPTIONS.binary_search_by(|(k, _)| (*k).cmp(name)).is_err()
            && !support::MXGATE_OPTIONS.contains(&name)
        {
            self.warnings.push(files.diag(
                pos,
                format!("warning: {name} is not a sendmail 8.17 option; kept as written"),
            ));
        }
        if NUMERIC_OPTIONS.contains(&name) && !is_number(v) {
            return Err(files.diag(
                pos,
                format!(
                    "{name} must be a whole number{}, got `{v}'",
                    if name == "confMAX_MESSAGE_SIZE" {
                        " of bytes (sendmail takes no K/M suffix: 10 MB is 10485760)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if (name.starts_with("confTO_")
            || name == "confCONNECTION_RATE_WINDOW_SIZE"
            || name == "confMIN_QUEUE_AGE")
            && !is_duration(v)
        {
            return Err(files.diag(
                pos,
                format!("{name} must be a time such as `5d', `4h', `30m' or `1h30m', got `{v}'"),
            ));
        }
        if let Some(Support::Warned(why) | Support::Refused(why)) = support::option_value(name, v) {
            self.warnings.push(files.diag(
                pos,
                format!("warning: {name} has no effect in mxgate: {why}"),
            ));
        }
        if name == "confAUTH_MECHANISMS" {
            self.auth_mechanisms_at = Some(pos);
        }
        self.option_at.insert(name.to_string(), pos);
        if name == "confPRIVACY_FLAGS" {
            for flag in v.split([',', ' ', '\t']).map(str::trim) {
                if let Some(w) = support::privacy_flag_warning(flag) {
                    self.warnings.push(files.diag(pos, w));
                }
            }
        }
        if name == "confCLIENT_OPTIONS" {
            let mut alone = Config::new();
            alone.options.insert(name.to_string(), v.to_string());
            ClientOptions::of(&alone).map_err(|e| files.diag(pos, format!("{name}: {e}")))?;
        }
        if name == content_filter::OPTION {
            ContentFilter::parse(v).map_err(|e| files.diag(pos, format!("{name}: {e}")))?;
            self.filter_at = Some(pos);
        }
        match name {
            "confDOMAIN_NAME" => self.config.hostname = non_empty(v.to_string()),
            "confFALLBACK_MX" => self.config.relays.fallback_mx = non_empty(v.to_string()),
            "confFALLBACK_SMARTHOST" => {
                self.config.relays.fallback_smarthost = non_empty(v.to_string())
            }
            "confCW_FILE" | "confCR_FILE" | "confCT_FILE" => {
                // Read by finish(): which class file applies depends on features.
                self.config.options.insert(name.to_string(), v.to_string());
            }
            _ => {
                self.config.options.insert(name.to_string(), v.to_string());
            }
        }
        Ok(())
    }

    fn set_alias_files(&mut self, files: &Files, v: &str, pos: Pos) -> Result<(), Diagnostic> {
        self.config.maps.remove("aliases");
        self.config.alias_files.clear();
        for (i, item) in v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let (class, path) = match item.split_once(':') {
                Some((c, p)) if !c.contains('/') => (c.to_string(), p.trim().to_string()),
                _ => ("hash".to_string(), item.to_string()),
            };
            if !matches!(
                class.as_str(),
                "hash" | "btree" | "dbm" | "lmdb" | "cdb" | "text"
            ) {
                return Err(files.diag(
                    pos,
                    format!("ALIAS_FILE entry `{item}': map class `{class}' is not supported (use hash, btree, dbm, lmdb or cdb)"),
                ));
            }
            let spec = MapSpec {
                class,
                path,
                optional: false,
                tempfail: false,
                nul_terminated: true,
                keep_case: false,
                other_flags: vec![],
            };
            if i == 0 {
                self.config.maps.insert("aliases".into(), spec);
            } else {
                self.config.alias_files.push(spec);
            }
        }
        Ok(())
    }

    /// Interpret the raw cf text left in the output diversions.
    pub fn apply_output(
        &mut self,
        files: &Files,
        diversions: &BTreeMap<i32, Vec<(char, Pos)>>,
    ) -> Result<(), Diagnostic> {
        for chars in diversions.values() {
            let mut last: Last = Last::None;
            self.rule_run = false;
            for (line, pos) in lines(chars) {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    last = Last::None;
                    self.rule_run = false;
                    continue;
                }
                let first_pos = first_non_blank(&line, pos);
                if trimmed.starts_with('#') {
                    continue;
                }
                if line.starts_with([' ', '\t']) {
                    match &last {
                        Last::Local => self.config.local_config.push(line.trim_end().to_string()),
                        Last::Class(c) => {
                            let c = c.clone();
                            self.add_class(&c, trimmed);
                        }
                        Last::None => {
                            return Err(files.diag(
                                first_pos,
                                format!(
                                    "unexpected indented text `{}': a line starting with blanks continues a raw cf line (C, K, R, S, ...), and there is none before it",
                                    clip(trimmed)
                                ),
                            ));
                        }
                    }
                    continue;
                }
                last = self.raw_line(files, &line, first_pos)?;
            }
        }
        Ok(())
    }

    fn raw_line(&mut self, files: &Files, line: &str, pos: Pos) -> Result<Last, Diagnostic> {
        let line = line.trim_end();
        let in_rule_run = std::mem::take(&mut self.rule_run);
        let mut it = line.chars();
        let kind = it.next().unwrap_or(' ');
        let rest = it.as_str();
        match kind {
            'D' => {
                let (name, value) = cf_name(rest).ok_or_else(|| {
                    files.diag(pos, format!("raw cf line `{}': expected Dx<value> or D{{name}}<value>", clip(line)))
                })?;
                let value = value.to_string();
                // The runtime's macro table keeps long names in braces, as
                // `${name}` is written.
                let name = if name.chars().count() > 1 {
                    format!("{{{name}}}")
                } else {
                    name
                };
                match name.as_str() {
                    "j" => self.config.hostname = non_empty(value),
                    "S" => self.config.relays.smart_host = non_empty(value),
                    "R" => self.config.relays.local_relay = non_empty(value),
                    "H" => self.config.relays.mail_hub = non_empty(value),
                    "L" => self.config.relays.luser_relay = non_empty(value),
                    "M" => self.config.masquerade_as = non_empty(value),
                    _ => {
                        self.config.macros.insert(name, value);
                    }
                }
                Ok(Last::None)
            }
            'C' => {
                let (name, value) = cf_name(rest).ok_or_else(|| {
                    files.diag(pos, format!("raw cf line `{}': expected Cx<members> or C{{name}}<members>", clip(line)))
                })?;
                self.add_class(&name, value);
                Ok(Last::Class(name))
            }
            'F' => {
                let (name, value) = cf_name(rest).ok_or_else(|| {
                    files.diag(pos, format!("raw cf line `{}': expected Fx/path or F{{name}}-o /path", clip(line)))
                })?;
                let cf = class_file(value).ok_or_else(|| {
                    files.diag(pos, format!("raw cf line `{}': expected a file name after F{name}", clip(line)))
                })?;
                self.add_class_file(&name, cf);
                Ok(Last::None)
            }
            'O' => {
                let body = rest.trim_start();
                let (opt, value) = match body.split_once('=') {
                    Some((o, v)) => (o.trim(), v.trim()),
                    None => (body.trim(), ""),
                };
                let mc_name = OPTIONS
                    .iter()
                    .find(|(_, cf)| !cf.is_empty() && cf.eq_ignore_ascii_case(opt))
                    .map(|(m, _)| *m);
                match mc_name {
                    Some(m) => self.apply_option(files, m, value, pos)?,
                    None if opt.eq_ignore_ascii_case("AliasFile") => self.set_alias_files(files, value, pos)?,
                    None => {
                        self.warnings.push(files.diag(
                            pos,
                            format!("warning: option `{opt}' has no .mc name known to mxgate; kept in local_config"),
                        ));
                        self.config.local_config.push(line.to_string());
                    }
                }
                Ok(Last::None)
            }
            'X' => {
                // A filter defined by a raw X line is one MAIL_FILTER defines:
                // used when confINPUT_MAIL_FILTERS or InputMailFilters= names it.
                let (fname, equates) = rest.split_once(',').unwrap_or((rest, ""));
                let args = [fname.trim().to_string(), equates.trim().to_string()];
                self.milter(files, "MAIL_FILTER", &args, pos)?;
                Ok(Last::None)
            }
            'T' => {
                // The old form of `Ct`: sendmail 8.17 adds a `T` line's
                // names to the trusted users, class t (checked with `-bt`
                // `$=t`).
                self.add_class("t", rest);
                Ok(Last::Class("t".into()))
            }
            'K' | 'S' | 'R' | 'H' | 'M' | 'P' | 'E' | 'Q' | 'V' => {
                // One warning per ruleset (its S line), or per run of rules
                // without one (LOCAL_RULE_n), or per other line.
                self.rule_run = matches!(kind, 'S' | 'R');
                if !(kind == 'R' && in_rule_run) {
                    self.warnings
                        .push(files.diag(pos, raw_line_warning(kind, rest)));
                }
                self.config.local_config.push(line.to_string());
                Ok(Last::Local)
            }
            _ => Err(files.diag(
                pos,
                format!(
                    "unexpected text `{}': expected a cf macro (FEATURE(...), define(...), MAILER(...), ...), \
                     a raw cf line (D, C, F, O, K, S, R, H ...), a # comment, or dnl to end the line",
                    clip(line)
                ),
            )),
        }
    }

    fn add_class(&mut self, class: &str, members: &str) {
        let v = self.config.classes.entry(class.to_string()).or_default();
        for m in members.split_whitespace() {
            if !v.iter().any(|x| x == m) {
                v.push(m.to_string());
            }
        }
    }

    fn add_class_file(&mut self, class: &str, cf: ClassFile) {
        let v = self
            .config
            .class_files
            .entry(class.to_string())
            .or_default();
        if !v.contains(&cf) {
            v.push(cf);
        }
    }

    /// Warn when `DAEMON_OPTIONS` name no submission listener and
    /// `FEATURE(no_default_msa)` is absent: sendmail 8.17 would add
    /// `Port=587, Name=MSA, M=E` (proto.m4, unless `_NO_MSA_`); mxgate opens
    /// no port the configuration does not name.
    pub fn check_default_msa(&mut self, files: &Files) {
        let Some(&pos) = self.daemon_at.first() else {
            return;
        };
        let submission = self.config.daemons.iter().any(|d| {
            d.options
                .get("Name")
                .is_some_and(|n| n.eq_ignore_ascii_case("MSA"))
                || d.options
                    .get("Port")
                    .is_some_and(|p| matches!(p.as_str(), "587" | "submission"))
        });
        if !submission && !self.config.has_feature("no_default_msa") {
            self.warnings.push(files.diag(
                pos,
                "warning: no DAEMON_OPTIONS names a submission listener: sendmail 8.17 would also listen on port 587 (Name=MSA, M=E); mxgate listens only where DAEMON_OPTIONS say. Add DAEMON_OPTIONS(`Port=587, Name=MSA, M=Ea') for submission, or FEATURE(`no_default_msa') to say there is none",
            ));
        }
    }

    /// Warn about an option that another one makes idle: the password map
    /// beside Dovecot's auth socket (the socket checks every password), and
    /// a syslog socket when the log does not go to syslog.
    pub fn check_idle_options(&mut self, files: &Files) {
        let opt = |n: &str| self.config.options.get(n).map(|v| v.trim().to_string());
        let mut idle = Vec::new();
        if opt("confAUTH_DOVECOT_SOCKET").is_some_and(|v| !v.is_empty())
            && let Some(&pos) = self.option_at.get("confAUTH_PASSWORD_MAP")
        {
            idle.push((pos, "confAUTH_PASSWORD_MAP has no effect in mxgate while confAUTH_DOVECOT_SOCKET is set: Dovecot checks every password"));
        }
        if opt("confMXGATE_LOG_FILE").as_deref() != Some("syslog")
            && let Some(&pos) = self.option_at.get("confMXGATE_SYSLOG_SOCKET")
        {
            idle.push((pos, "confMXGATE_SYSLOG_SOCKET has no effect in mxgate unless confMXGATE_LOG_FILE is `syslog'"));
        }
        for (pos, why) in idle {
            self.warnings
                .push(files.diag(pos, format!("warning: {why}")));
        }
    }

    /// Warn when `confAUTH_MECHANISMS` (a sendmail-style AUTH setup) comes
    /// without `TRUST_AUTH_MECH`: the one place mxgate relays where
    /// sendmail would not (see `mxgate::policy::relay::trusts_auth_mech`).
    pub fn check_auth_trust(&mut self, files: &Files) {
        let trusted = self
            .config
            .classes
            .get("TrustAuthMech")
            .is_some_and(|c| !c.is_empty());
        if let (Some(pos), false) = (self.auth_mechanisms_at, trusted) {
            self.warnings.push(files.diag(
                pos,
                "warning: confAUTH_MECHANISMS without TRUST_AUTH_MECH: mxgate lets a client authenticated with any of them relay, where sendmail 8.17 lets none relay until TRUST_AUTH_MECH names the mechanisms; add TRUST_AUTH_MECH(`PLAIN LOGIN') (or the ones to trust)",
            ));
        }
    }

    /// Refuse a content-filter loop ([`content_filter::loops`]) and warn
    /// about a filter that is our own unfiltered listener
    /// ([`content_filter::unscanned`]): the diagnostic points at the
    /// `DAEMON_OPTIONS` that names the filter, or at the
    /// `confMXGATE_CONTENT_FILTER` define it inherits.
    pub fn check_content_filters(&mut self, files: &Files) -> Result<(), Diagnostic> {
        let mut warned = content_filter::unscanned(&self.config);
        warned.extend(content_filter::named_self(&self.config));
        for (i, message) in warned {
            let d = self.filter_diag(files, i, message);
            self.warnings.push(d);
        }
        match content_filter::loops(&self.config).into_iter().next() {
            Some((i, message)) => Err(self.filter_diag(files, i, message)),
            None => Ok(()),
        }
    }

    fn filter_diag(&self, files: &Files, i: usize, message: String) -> Diagnostic {
        let own = self
            .config
            .daemons
            .get(i)
            .is_some_and(|d| d.options.contains_key(content_filter::DAEMON_KEY));
        let pos = if own {
            self.daemon_at.get(i).copied()
        } else {
            self.filter_at
        };
        match pos.or(self.daemon_at.get(i).copied()) {
            Some(p) => files.diag(p, message),
            None => Diagnostic {
                file: self.config.source.mc.clone().unwrap_or_default(),
                line: 0,
                col: 0,
                message,
            },
        }
    }

    /// Apply sendmail's defaults and put the result in canonical order.
    pub fn finish(&mut self, undefined: &BTreeMap<String, Pos>) {
        // proto.m4: Cwlocalhost.
        self.add_class("w", "localhost");
        if !self.config.maps.contains_key("aliases") && !undefined.contains_key("ALIAS_FILE") {
            self.config.maps.insert(
                "aliases".into(),
                MapSpec {
                    class: "hash".into(),
                    path: "/etc/mail/aliases".into(),
                    optional: false,
                    tempfail: false,
                    nul_terminated: true,
                    keep_case: false,
                    other_flags: vec![],
                },
            );
        }
        let cw = self.config.options.remove("confCW_FILE");
        if self.config.has_feature("use_cw_file") {
            let f = cw.unwrap_or_else(|| "/etc/mail/local-host-names".into());
            if let Some(cf) = class_file(&f) {
                self.add_class_file("w", cf);
            }
        }
        let ct = self.config.options.remove("confCT_FILE");
        if self.config.has_feature("use_ct_file") {
            let f = ct.unwrap_or_else(|| "/etc/mail/trusted-users".into());
            if let Some(cf) = class_file(&f) {
                self.add_class_file("t", cf);
            }
        }
        let cr = self.config.options.remove("confCR_FILE");
        if !undefined.contains_key("confCR_FILE") {
            let f = cr.unwrap_or_else(|| "-o /etc/mail/relay-domains".into());
            if let Some(cf) = class_file(&f) {
                self.add_class_file("R", cf);
            }
        }
        for v in self.config.classes.values_mut() {
            v.sort();
            v.dedup();
        }
    }

    fn feature(
        &mut self,
        files: &Files,
        args: &[String],
        pos: Pos,
    ) -> Result<CfAction, Diagnostic> {
        let name = args.first().map(|s| s.trim()).unwrap_or("");
        let rest: Vec<String> = args.iter().skip(1).cloned().collect();
        let Some((_, max)) = FEATURES.iter().find(|(n, _)| *n == name) else {
            return Err(files.diag(
                pos,
                format!(
                    "unknown FEATURE(`{name}'): expected one of sendmail's features (cf/feature/*.m4) or mxgate's header_checks, body_checks, mime_header_checks, nested_header_checks, mailboxes"
                ),
            ));
        };
        if self.mailer_at.is_some() {
            return Err(files.diag(
                pos,
                format!("FEATURE(`{name}') should be before MAILER(): sendmail refuses features after the first MAILER"),
            ));
        }
        if let Some(Support::Warned(why) | Support::Refused(why)) = support::feature(name) {
            self.warnings.push(files.diag(
                pos,
                format!("warning: FEATURE(`{name}') has no effect in mxgate: {why}"),
            ));
        }
        if let Some((_, role, default)) = MAP_FEATURES.iter().find(|(n, _, _)| *n == name) {
            if name != "access_db" && rest.len() > 1 {
                return Err(files.diag(
                    pos,
                    format!(
                        "FEATURE(`{name}') takes one map spec, got {} arguments",
                        rest.len()
                    ),
                ));
            }
            let written = rest.first().map(|s| s.trim()).unwrap_or("");
            let spec_text = if written.is_empty() {
                *default
            } else {
                written
            };
            let mut spec = parse_map_spec(spec_text)
                .map_err(|e| files.diag(pos, format!("FEATURE(`{name}', `{spec_text}'): {e}")))?;
            for f in &spec.other_flags {
                let what = format!("FEATURE(`{name}')");
                self.warnings
                    .push(files.diag(pos, support::map_flag_warning(f, &what)));
            }
            let mut recorded = vec![spec_text.to_string()];
            if name == "access_db" {
                if !spec.tempfail {
                    spec.tempfail = true;
                    self.warnings.push(files.diag(
                        pos,
                        "warning: missing -T<TMPF> in the map spec of FEATURE(`access_db'); added, as sendmail does",
                    ));
                }
                for o in rest.iter().skip(1) {
                    let o = o.trim().to_ascii_lowercase();
                    if o.is_empty() {
                        continue;
                    }
                    if !ACCESS_DB_OPTIONS.contains(&o.as_str()) {
                        return Err(files.diag(
                            pos,
                            format!("FEATURE(`access_db'): unknown option `{o}', expected skip, lookupdotdomain or relaytofulladdress"),
                        ));
                    }
                    recorded.push(o);
                }
            }
            self.config.maps.insert(role.to_string(), spec);
            self.config.features.insert(name.to_string(), recorded);
            return Ok(CfAction::Text(String::new()));
        }
        if rest.len() > *max {
            return Err(files.diag(
                pos,
                match max {
                    0 => format!("FEATURE(`{name}') takes no arguments, got {}", rest.len()),
                    1 => format!(
                        "FEATURE(`{name}') takes at most one argument, got {}",
                        rest.len()
                    ),
                    m => format!(
                        "FEATURE(`{name}') takes at most {m} arguments, got {}",
                        rest.len()
                    ),
                },
            ));
        }
        let arg = |i: usize| rest.get(i).map(|s| s.trim()).unwrap_or("");
        // sendmail 8.17's feature files print "*** ERROR: FEATURE(...)
        // requires FEATURE(`access_db')" and leave the feature without
        // effect when access_db has not come before.
        let needs_access = matches!(
            name,
            "blocklist_recipients" | "blacklist_recipients" | "lookupdotdomain" | "relay_mail_from"
        ) || (name == "greet_pause" && arg(0).is_empty());
        if needs_access && !self.config.features.contains_key("access_db") {
            self.warnings.push(files.diag(
                pos,
                format!(
                    "warning: FEATURE(`{name}') requires FEATURE(`access_db') before it: sendmail's m4 refuses it there and it has no effect; mxgate applies it only when access_db is given"
                ),
            ));
        }
        match name {
            "dnsbl" | "enhdnsbl" => {
                let zone = arg(0);
                if zone.is_empty() {
                    return Err(files.diag(
                        pos,
                        format!(
                            "FEATURE(`{name}') needs the blocklist zone as its first argument: write \
                             FEATURE(`{name}', `zen.spamhaus.org') or the zone you use (sendmail 8.12's \
                             default zone blackholes.mail-abuse.org no longer exists, and sendmail 8.17's \
                             cf.m4 reports `missing argument')"
                        ),
                    ));
                }
                let action = match arg(1) {
                    "" => DnsblAction::Reject,
                    "quarantine" => DnsblAction::Quarantine,
                    "discard" => DnsblAction::Discard,
                    m => DnsblAction::Message(m.to_string()),
                };
                let on_tempfail = match arg(2) {
                    "" => DnsblTempFail::Ignore,
                    "t" => DnsblTempFail::Default,
                    m => DnsblTempFail::Message(m.to_string()),
                };
                let matches = if name == "enhdnsbl" {
                    rest.iter()
                        .skip(3)
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                } else {
                    Vec::new()
                };
                self.config.dnsbl.push(Dnsbl {
                    enhanced: name == "enhdnsbl",
                    zone: zone.to_string(),
                    action,
                    on_tempfail,
                    matches,
                });
                return Ok(CfAction::Text(String::new()));
            }
            "header_checks" | "body_checks" | "mime_header_checks" | "nested_header_checks" => {
                let path = arg(0);
                if path.is_empty() {
                    return Err(files.diag(
                        pos,
                        format!("FEATURE(`{name}') needs the rules file as its argument, e.g. FEATURE(`{name}', `/etc/mail/{name}')"),
                    ));
                }
                if let Some((kind, _)) = path.split_once(':')
                    && !kind.contains('/')
                    && !matches!(kind, "regexp" | "pcre")
                {
                    return Err(files.diag(
                        pos,
                        format!("FEATURE(`{name}') reads a Postfix regexp: or pcre: table, not {kind}: (write `regexp:/path', `pcre:/path' or the path alone)"),
                    ));
                }
                let slot = match name {
                    "header_checks" => &mut self.config.header_checks,
                    "body_checks" => &mut self.config.body_checks,
                    "mime_header_checks" => &mut self.config.mime_header_checks,
                    _ => &mut self.config.nested_header_checks,
                };
                *slot = Some(path.to_string());
            }
            "greet_pause" if !arg(0).is_empty() && !is_number(arg(0)) => {
                return Err(files.diag(
                    pos,
                    format!(
                        "FEATURE(`greet_pause') takes milliseconds, got `{}'",
                        arg(0)
                    ),
                ));
            }
            // sendmail's local_lmtp.m4 takes the mailer program and its
            // argv; mxgate's first argument is the LMTP socket or
            // host:port (docs/mc.md), and the others are not read.
            "local_lmtp" if rest.len() > 1 && rest.iter().skip(1).any(|a| !a.trim().is_empty()) => {
                self.warnings.push(files.diag(
                    pos,
                    "warning: FEATURE(`local_lmtp') arguments after the first have no effect in mxgate: the first names the LMTP socket or host:port (not sendmail's mail.local program), and local mail goes there",
                ));
            }
            // sendmail's nocanonify.m4: `canonify_hosts' or nothing.
            "nocanonify"
                if !arg(0).is_empty() && !arg(0).eq_ignore_ascii_case("canonify_hosts") =>
            {
                return Err(files.diag(
                    pos,
                    format!(
                        "unknown parameter `{}' for FEATURE(`nocanonify'): expected `canonify_hosts' or nothing",
                        arg(0)
                    ),
                ));
            }
            "nocanonify" if !arg(0).is_empty() => {
                self.warnings.push(files.diag(
                    pos,
                    "warning: FEATURE(`nocanonify', `canonify_hosts') has no effect in mxgate: host names are never canonified through DNS",
                ));
            }
            "delay_checks" if !matches!(arg(0), "" | "friend" | "hater") => {
                return Err(files.diag(
                    pos,
                    format!(
                        "FEATURE(`delay_checks') takes `friend' or `hater', got `{}'",
                        arg(0)
                    ),
                ));
            }
            // sendmail's feature/ratecontrol.m4 and conncontrol.m4: both need
            // the access table; `nodelay' needs delay_checks (given before);
            // the second argument may only be `terminate' (421 instead of 452).
            "ratecontrol" | "conncontrol" => {
                if !self.config.features.contains_key("access_db") {
                    return Err(files.diag(
                        pos,
                        format!("FEATURE(`{name}') requires FEATURE(`access_db') before it"),
                    ));
                }
                if !arg(0).is_empty() && !arg(0).eq_ignore_ascii_case("nodelay") {
                    return Err(files.diag(
                        pos,
                        format!(
                            "unknown parameter `{}' for FEATURE(`{name}'): expected `nodelay' or nothing",
                            arg(0)
                        ),
                    ));
                }
                if arg(0).eq_ignore_ascii_case("nodelay")
                    && !self.config.features.contains_key("delay_checks")
                {
                    return Err(files.diag(
                        pos,
                        format!(
                            "FEATURE(`{name}', `nodelay') requires FEATURE(`delay_checks') before it"
                        ),
                    ));
                }
                if !arg(1).is_empty() && arg(1) != "terminate" {
                    return Err(files.diag(
                        pos,
                        format!(
                            "unknown argument `{}' for FEATURE(`{name}'): expected `terminate' or nothing",
                            arg(1)
                        ),
                    ));
                }
            }
            // sendmail's feature/nouucp.m4 reads the first letter: `r'
            // (reject) or `n' (nospecial); anything else is an error there.
            "nouucp" if !matches!(arg(0).chars().next(), Some('r' | 'n')) => {
                return Err(files.diag(
                    pos,
                    format!(
                        "FEATURE(`nouucp') needs `reject' (refuse recipients with `!' unless the client may relay) \
                         or `nospecial' (`!' is an ordinary character), got `{}' (sendmail's cf.m4 reports \
                         `missing argument' / `illegal argument')",
                        arg(0)
                    ),
                ));
            }
            "nullclient" if arg(0).is_empty() => {
                return Err(files.diag(pos, "FEATURE(`nullclient') needs the hub host name"));
            }
            _ => {}
        }
        let mut recorded: Vec<String> = rest.iter().map(|s| s.trim().to_string()).collect();
        while recorded.last().is_some_and(|s| s.is_empty()) {
            recorded.pop();
        }
        self.config.features.insert(name.to_string(), recorded);
        Ok(CfAction::Text(String::new()))
    }

    fn mailer(&mut self, files: &Files, args: &[String], pos: Pos) -> Result<CfAction, Diagnostic> {
        let name = args.first().map(|s| s.trim()).unwrap_or("");
        let Some((_, defined)) = MAILERS.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = MAILERS.iter().map(|m| m.0).collect();
            return Err(files.diag(
                pos,
                format!(
                    "unknown MAILER(`{name}'): expected one of {}",
                    known.join(", ")
                ),
            ));
        };
        if self
            .config
            .mailers
            .iter()
            .any(|m| m == defined.first().copied().unwrap_or(""))
        {
            return Err(files.diag(pos, format!("MAILER(`{name}') already included")));
        }
        self.mailer_at.get_or_insert(pos);
        if !matches!(name, "local" | "smtp") {
            self.warnings.push(files.diag(
                pos,
                format!(
                    "warning: MAILER(`{name}') has no effect in mxgate: its mailers ({}) are not built in; mail a table or relay routes to them is refused with 554 5.3.5 unknown mailer",
                    defined.join(", ")
                ),
            ));
        }
        self.config
            .mailers
            .extend(defined.iter().map(|s| s.to_string()));
        Ok(CfAction::Text(String::new()))
    }

    fn daemon_like(
        &self,
        files: &Files,
        what: &str,
        text: &str,
        keys: &[&str],
        pos: Pos,
    ) -> Result<BTreeMap<String, String>, Diagnostic> {
        let mut out = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(files.diag(pos, format!("{what}: expected Key=value, got `{pair}'")));
            };
            let k = k.trim();
            let v = v.trim();
            let key = if k.eq_ignore_ascii_case("Modifiers") || k == "M" || k == "m" {
                Some("M")
            } else {
                keys.iter().copied().find(|x| x.eq_ignore_ascii_case(k))
            };
            let Some(key) = key else {
                return Err(files.diag(
                    pos,
                    format!(
                        "{what}: unknown key `{k}', expected one of {}",
                        keys.join(", ")
                    ),
                ));
            };
            match key {
                "M" => {
                    if let Some(bad) = v.chars().find(|c| !DAEMON_MODIFIERS.contains(*c)) {
                        return Err(files.diag(
                            pos,
                            format!("{what}: unknown modifier `{bad}' in M={v}, expected letters from {DAEMON_MODIFIERS}"),
                        ));
                    }
                }
                "Port" => {
                    let ok = match v.parse::<u32>() {
                        Ok(n) => (1..=65535).contains(&n),
                        Err(_) => {
                            !v.is_empty()
                                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        }
                    };
                    if !ok {
                        return Err(files.diag(
                            pos,
                            format!("{what}: Port must be 1-65535 or a service name such as smtp or submission, got `{v}'"),
                        ));
                    }
                }
                "ContentFilter" => {
                    ContentFilter::parse(v).map_err(|e| files.diag(pos, format!("{what}: {e}")))?;
                }
                "Family" if !matches!(v, "inet" | "inet6" | "local" | "unix") => {
                    return Err(files.diag(
                        pos,
                        format!("{what}: Family must be inet, inet6 or local, got `{v}'"),
                    ));
                }
                _ => {}
            }
            out.insert(key.to_string(), v.to_string());
        }
        Ok(out)
    }

    fn milter(
        &mut self,
        files: &Files,
        name: &str,
        args: &[String],
        pos: Pos,
    ) -> Result<CfAction, Diagnostic> {
        let fname = args.first().map(|s| s.trim()).unwrap_or("");
        if fname.is_empty() {
            return Err(files.diag(
                pos,
                format!(
                    "{name} needs a filter name, e.g. {name}(`clamav', `S=unix:/run/clamav.sock')"
                ),
            ));
        }
        let mut options = BTreeMap::new();
        let eq = args.get(1).map(|s| s.as_str()).unwrap_or("");
        for pair in eq.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(files.diag(
                    pos,
                    format!("{name}(`{fname}'): expected S=, F= or T= equates, got `{pair}'"),
                ));
            };
            let k = k.trim();
            if !matches!(k, "S" | "F" | "T") {
                return Err(files.diag(
                    pos,
                    format!("{name}(`{fname}'): unknown equate `{k}=', expected S=, F= or T="),
                ));
            }
            options.insert(k.to_string(), v.trim().to_string());
        }
        match options.get("S") {
            Some(s)
                if ["unix:", "local:", "inet:", "inet6:"]
                    .iter()
                    .any(|p| s.starts_with(p)) => {}
            _ => {
                return Err(files.diag(
                    pos,
                    format!("{name}(`{fname}'): S= must give the socket, as S=unix:/path or S=inet:port@host"),
                ));
            }
        }
        if self.config.milters.iter().any(|m| m.name == fname) {
            return Err(files.diag(
                pos,
                format!("{name}(`{fname}'): a filter of that name is already defined"),
            ));
        }
        let at = files.diag(pos, "");
        let at = format!("{}:{}", at.file, at.line);
        let flags = options.get("F").map(String::as_str);
        let when = if name == "MAIL_FILTER" {
            " if it is used (MAIL_FILTER: sendmail calls it only when confINPUT_MAIL_FILTERS or a daemon's InputMailFilters= names it)"
        } else {
            ""
        };
        let message = match support::milter(flags) {
            Support::Refused(why) => format!(
                "warning: filter {fname} has F={}: the daemon will refuse to start{when}: {why}",
                flags.unwrap_or("")
            ),
            Support::Warned(why) => format!("warning: filter {fname}{when}: {why}"),
            Support::Implemented => String::new(),
        };
        if !message.is_empty() {
            self.warnings.push(files.diag(pos, message));
        }
        self.config.milters.push(Milter {
            name: fname.to_string(),
            options,
            at: Some(at),
            mail_filter_only: name == "MAIL_FILTER",
        });
        Ok(CfAction::Text(String::new()))
    }

    /// `HACK(`name')`: sendmail's cf.m4 includes `hack/name.m4`; read it
    /// from `hack/` next to the `.mc` or `../hack/` (sendmail's cf tree).
    fn hack(&mut self, files: &mut Files, name: &str, pos: Pos) -> Result<CfAction, Diagnostic> {
        if let Some(found) = self.cf_file(files, "HACK", "hack", name, pos)? {
            return Ok(found);
        }
        Err(files.diag(
            pos,
            format!("HACK(`{name}'): no file hack/{name}.m4 next to the .mc or in ../hack/; write its settings into the .mc"),
        ))
    }

    /// `SUBDIR/NAME.m4` next to the `.mc`, in `../SUBDIR/` (the `.mc` in
    /// sendmail's cf tree), or in the cf tree whose `cf.m4` the `.mc`
    /// includes, included as cf.m4 includes it; `Ok(None)` when there is
    /// none.
    fn cf_file(
        &self,
        files: &mut Files,
        macro_name: &str,
        subdir: &str,
        name: &str,
        pos: Pos,
    ) -> Result<Option<CfAction>, Diagnostic> {
        let mut dirs = Vec::new();
        if let Some(base) = &self.base_dir {
            dirs.push(base.join(subdir));
            dirs.push(base.join("..").join(subdir));
        }
        if let Some(cf) = &self.cf_dir {
            dirs.push(cf.join(subdir));
        }
        for dir in dirs {
            let p = dir.join(format!("{name}.m4"));
            match source::read(&p, Reach::Public) {
                Ok(text) => {
                    return Ok(Some(CfAction::Include {
                        name: p.display().to_string(),
                        text,
                    }));
                }
                Err(SourceError::NotFound) => {}
                Err(e) => {
                    return Err(
                        files.diag(pos, format!("{macro_name}(`{name}'): {}: {e}", p.display()))
                    );
                }
            }
        }
        Ok(None)
    }

    fn domain(&mut self, files: &mut Files, name: &str, pos: Pos) -> Result<CfAction, Diagnostic> {
        self.config.source.domains.push(name.to_string());
        if let Some(found) = self.cf_file(files, "DOMAIN", "domain", name, pos)? {
            return Ok(found);
        }
        if DOMAINS.contains(&name) {
            // sendmail reads cf/domain/NAME.m4 here; without the file its
            // settings are not applied, and the admin must hear it.
            let what = if name == "generic" {
                " (generic.m4: FEATURE(`redirect'), FEATURE(`use_cw_file'), EXPOSED_USER(`root'), confFORWARD_PATH)"
            } else {
                ""
            };
            self.warnings.push(files.diag(
                pos,
                format!(
                    "warning: DOMAIN(`{name}') has no effect in mxgate: no file domain/{name}.m4 next to the .mc or in the cf tree its cf.m4 include names, so sendmail's settings for it are not applied{what}; copy the file from sendmail's cf/domain/ to apply them"
                ),
            ));
            return Ok(CfAction::Text(String::new()));
        }
        Err(Files::diag(
            files,
            pos,
            format!(
                "DOMAIN(`{name}'): no file domain/{name}.m4 next to the .mc, and not one of sendmail's domains ({})",
                DOMAINS.join(", ")
            ),
        ))
    }
}

/// What a continuation line continues.
enum Last {
    None,
    Local,
    Class(String),
}

impl CfHost for Mc {
    fn is_cf_macro(&self, name: &str) -> bool {
        OTHER_MACROS.contains(&name)
            || CLASS_MACROS.iter().any(|(n, _, _)| *n == name)
            || RAW_SECTIONS.iter().any(|(n, _, _)| *n == name)
    }

    fn call(
        &mut self,
        files: &mut Files,
        name: &str,
        args: Option<&[String]>,
        pos: Pos,
    ) -> Result<CfAction, Diagnostic> {
        if let Some((_, n, text)) = RAW_SECTIONS.iter().find(|(m, _, _)| *m == name) {
            return Ok(CfAction::Divert(*n, text.to_string()));
        }
        let Some(args) = args else {
            return Err(files.diag(pos, format!("{name} needs arguments, e.g. {name}(`...')")));
        };
        let arg = |i: usize| args.get(i).map(|s| s.trim()).unwrap_or("");
        if let Some((_, class, is_file)) = CLASS_MACROS.iter().find(|(n, _, _)| *n == name) {
            if let Some(Support::Warned(why) | Support::Refused(why)) = support::cf_macro(name) {
                self.warnings.push(files.diag(
                    pos,
                    format!("warning: {name} has no effect in mxgate: {why}"),
                ));
            }
            // sendmail's proto.m4: `CR$={VirtHost}` when VIRTUSER_DOMAIN or
            // VIRTUSER_DOMAIN_FILE is used: a virtual domain is also one we
            // accept mail for from anyone (class R).
            let also = if *class == "VirtHost" {
                Some("R")
            } else {
                None
            };
            for class in std::iter::once(*class).chain(also) {
                if *is_file {
                    let cf = class_file(arg(0))
                        .ok_or_else(|| files.diag(pos, format!("{name} needs a file name")))?;
                    self.add_class_file(class, cf);
                } else {
                    for a in args {
                        self.add_class(class, a);
                    }
                }
            }
            return Ok(CfAction::Text(String::new()));
        }
        match name {
            "VERSIONID" => {
                // The .mc's own: a DOMAIN or OSTYPE file read after it
                // has one too (sendmail copies each into the .cf as a
                // comment).
                if self.config.source.versionid.is_none() {
                    self.config.source.versionid = Some(arg(0).to_string());
                }
                Ok(CfAction::Text(String::new()))
            }
            "OSTYPE" => {
                if !OSTYPES.contains(&arg(0)) {
                    return Err(files.diag(
                        pos,
                        format!("unknown OSTYPE(`{}'): expected one of sendmail's ostypes such as linux or debian", arg(0)),
                    ));
                }
                self.config.source.ostype = Some(arg(0).to_string());
                Ok(CfAction::Text(String::new()))
            }
            "DOMAIN" => {
                let d = arg(0).to_string();
                self.domain(files, &d, pos)
            }
            "FEATURE" => self.feature(files, args, pos),
            "MAILER" => self.mailer(files, args, pos),
            "DAEMON_OPTIONS" => {
                let options = self.daemon_like(files, "DAEMON_OPTIONS", &args.join(","), DAEMON_KEYS, pos)?;
                crate::config::DaemonTuning::of(&options)
                    .map_err(|e| files.diag(pos, format!("DAEMON_OPTIONS: {e}")))?;
                for k in options.keys() {
                    if let Some(w) = support::daemon_key_warning(k) {
                        self.warnings.push(files.diag(pos, w));
                    }
                }
                self.config.daemons.push(Daemon { options });
                self.daemon_at.push(pos);
                Ok(CfAction::Text(String::new()))
            }
            "CLIENT_OPTIONS" => {
                let o = self.daemon_like(files, "CLIENT_OPTIONS", &args.join(","), CLIENT_KEYS, pos)?;
                self.config.client_options.push(o);
                ClientOptions::of(&self.config).map_err(|e| files.diag(pos, e))?;
                Ok(CfAction::Text(String::new()))
            }
            "INPUT_MAIL_FILTER" | "MAIL_FILTER" => self.milter(files, name, args, pos),
            "MASQUERADE_AS" => {
                self.config.masquerade_as = non_empty(arg(0).to_string());
                Ok(CfAction::Text(String::new()))
            }
            "MODIFY_MAILER_FLAGS" => {
                let key = format!("MODIFY_MAILER_FLAGS({})", arg(0));
                if let Some(w) = support::mailer_option_warning(&key, arg(1)) {
                    self.warnings.push(files.diag(pos, w));
                }
                let e = self.config.mailer_options.entry(key).or_default();
                if !e.is_empty() {
                    e.push(' ');
                }
                e.push_str(arg(1));
                Ok(CfAction::Text(String::new()))
            }
            "QUEUE_GROUP" => {
                self.warnings.push(files.diag(
                    pos,
                    format!(
                        "warning: QUEUE_GROUP(`{}') has no effect in mxgate: one queue serves all mail (confMXGATE_QUEUE_WORKERS sets its workers)",
                        arg(0)
                    ),
                ));
                self.config.local_config.push(format!("Q{}, {}", arg(0), arg(1)));
                Ok(CfAction::Text(String::new()))
            }
            "HACK" if args.iter().skip(1).all(|a| a.trim().is_empty()) => {
                let h = arg(0).to_string();
                self.hack(files, &h, pos)
            }
            "HACK" => Err(files.diag(
                pos,
                format!("HACK(`{}') with arguments is not supported; write its settings into the .mc", arg(0)),
            )),
            "SITECONFIG" => Err(files.diag(
                pos,
                format!(
                    "SITECONFIG(`{}') is not supported: it builds UUCP site classes, and mxgate has no UUCP \
                     mailer; remove the line (route such hosts with mailertable)",
                    arg(0)
                ),
            )),
            _ => Err(files.diag(pos, format!("{name} is not implemented"))),
        }
    }

    fn read_include(
        &mut self,
        path: &str,
        _from: Pos,
        _files: &mut Files,
    ) -> Result<Option<(String, String)>, SourceError> {
        let p = Path::new(path);
        if p.file_name().is_some_and(|f| f == "cf.m4") {
            // sendmail's own cf.m4 (Debian's first line): mxgate implements
            // it, and reads DOMAIN and HACK files from its tree.
            let m4_dir = match (&self.base_dir, p.is_relative()) {
                (Some(b), true) => b.join(p),
                _ => p.to_path_buf(),
            };
            self.cf_dir = m4_dir
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf);
            return Ok(None);
        }
        let mut candidates = Vec::new();
        if let Some(b) = self.base_dir.as_ref().filter(|_| p.is_relative()) {
            candidates.push(b.join(p));
        }
        candidates.push(p.to_path_buf());
        for c in candidates {
            match source::read(&c, Reach::Public) {
                Ok(t) => return Ok(Some((c.display().to_string(), t))),
                Err(SourceError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Err(SourceError::NotFound)
    }

    fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }
}

fn is_mailer_option(name: &str) -> bool {
    (name.contains("_MAILER_")
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        || name.starts_with("LOCAL_SHELL_")
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() {
        None
    } else {
        Some(s.trim().to_string())
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// sendmail `convtime`: one or more `<digits>[smhdw]`.
fn is_duration(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut saw_digit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            saw_digit = true;
        } else if "smhdw".contains(c) && saw_digit {
            saw_digit = false;
        } else {
            return false;
        }
    }
    true
}

/// The warning for a raw cf line mxgate keeps in `local_config` and does
/// not run (`rest`: the line after its letter).
fn raw_line_warning(kind: char, rest: &str) -> String {
    let what = match kind {
        'S' => format!("ruleset `{}' and its rules", rest.trim()),
        'R' => "rewriting rules".to_string(),
        'K' => format!("map `{}'", rest.split_whitespace().next().unwrap_or("")),
        'H' => "header definition".to_string(),
        'M' => "mailer definition".to_string(),
        'P' => "precedence".to_string(),
        'E' => "environment variable".to_string(),
        'Q' => "queue group".to_string(),
        _ => "version level".to_string(),
    };
    let why = match kind {
        'S' | 'R' => {
            "mxgate runs no sendmail rules; its checks are FEATUREs, the access table, the content checks and milters, so these rules are never applied"
        }
        'K' => "maps are declared by FEATUREs; this one is never looked up",
        'M' => {
            "mxgate's mailers are built in (MAILER(), *_MAILER_ARGS); this definition is not used"
        }
        _ => "mxgate does not read this line",
    };
    format!("warning: raw cf line {kind} ({what}) has no effect in mxgate: {why}")
}

/// `x rest` or `{name} rest` after a D/C/F letter: the name without its
/// braces, as the runtime looks classes and macros up (`C{VirtHost}` is
/// class `VirtHost`; `{w}` is `w`, as in sendmail, where a one-letter
/// name in braces is the short name).
fn cf_name(rest: &str) -> Option<(String, &str)> {
    if let Some(r) = rest.strip_prefix('{') {
        let end = r.find('}')?;
        let name = &r[..end];
        if name.is_empty() {
            return None;
        }
        return Some((name.to_string(), &r[end + 1..]));
    }
    let mut it = rest.chars();
    let c = it.next()?;
    if c.is_whitespace() {
        return None;
    }
    Some((c.to_string(), it.as_str()))
}

/// `[-o] path [format]` as in an F line or a `*_FILE` macro.
fn class_file(s: &str) -> Option<ClassFile> {
    let s = s.trim();
    let (optional, rest) = match s.strip_prefix("-o") {
        Some(r) => (true, r.trim_start()),
        None => (false, s),
    };
    let path = rest.split_whitespace().next()?;
    Some(ClassFile {
        path: path.to_string(),
        optional,
    })
}

/// Parse `class [-flags] path`.
pub fn parse_map_spec(s: &str) -> Result<MapSpec, String> {
    let mut words = s.split_whitespace();
    let class = words.next().ok_or("empty map spec")?.to_string();
    if !matches!(
        class.as_str(),
        "hash" | "btree" | "dbm" | "lmdb" | "cdb" | "text" | "implicit"
    ) {
        return Err(format!(
            "map class `{class}' is not supported: expected `class [flags] path' with class hash, btree, dbm, lmdb or cdb"
        ));
    }
    let mut spec = MapSpec {
        class,
        path: String::new(),
        optional: false,
        tempfail: false,
        nul_terminated: false,
        keep_case: false,
        other_flags: vec![],
    };
    for w in words {
        if !spec.path.is_empty() {
            return Err(format!(
                "unexpected `{w}' after the map file `{}'",
                spec.path
            ));
        }
        match w {
            "-o" => spec.optional = true,
            "-N" => spec.nul_terminated = true,
            "-f" => spec.keep_case = true,
            _ if w.starts_with("-T") => spec.tempfail = true,
            _ if w.starts_with('-') => spec.other_flags.push(w.to_string()),
            _ => spec.path = w.to_string(),
        }
    }
    if spec.path.is_empty() {
        return Err(
            "no map file: expected `class [flags] path', e.g. `hash -o /etc/mail/mailertable'"
                .into(),
        );
    }
    Ok(spec)
}

/// Split positioned output into lines (without the newline), each with the position of its first character.
fn lines(chars: &[(char, Pos)]) -> Vec<(String, Vec<Pos>)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut pos = Vec::new();
    for (c, p) in chars {
        if *c == '\n' {
            out.push((std::mem::take(&mut cur), std::mem::take(&mut pos)));
        } else {
            cur.push(*c);
            pos.push(*p);
        }
    }
    if !cur.is_empty() {
        out.push((cur, pos));
    }
    out
}

fn first_non_blank(line: &str, pos: Vec<Pos>) -> Pos {
    let i = line.chars().position(|c| !c.is_whitespace()).unwrap_or(0);
    pos.get(i).or(pos.first()).copied().unwrap_or_default()
}

fn clip(s: &str) -> String {
    let t: String = s.chars().take(60).collect();
    if t.len() < s.len() {
        format!("{t}...")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_specs() {
        let m = parse_map_spec("hash -T<TMPF> -o /etc/mail/access").unwrap();
        assert!(m.tempfail && m.optional && !m.nul_terminated);
        assert_eq!(
            (m.class.as_str(), m.path.as_str()),
            ("hash", "/etc/mail/access")
        );
        assert!(
            parse_map_spec("ldap -1 -v x")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            parse_map_spec("hash -o")
                .unwrap_err()
                .contains("no map file")
        );
        assert!(
            parse_map_spec("hash a b")
                .unwrap_err()
                .contains("unexpected `b'")
        );
        let m = parse_map_spec("btree -N -f -A /x").unwrap();
        assert!(m.nul_terminated && m.keep_case);
        assert_eq!(m.other_flags, vec!["-A".to_string()]);
    }

    #[test]
    fn durations() {
        for ok in ["5d", "4h", "1h30m", "90", "2w"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "5 d", "d5", "5dd", "five"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn class_files() {
        assert_eq!(
            class_file("-o /etc/mail/x"),
            Some(ClassFile {
                path: "/etc/mail/x".into(),
                optional: true
            })
        );
        assert_eq!(
            class_file("/x %[^#]"),
            Some(ClassFile {
                path: "/x".into(),
                optional: false
            })
        );
        assert_eq!(class_file(""), None);
    }

    #[test]
    fn cf_names() {
        assert_eq!(cf_name("{VirtHost}a b"), Some(("VirtHost".into(), "a b")));
        assert_eq!(
            cf_name("{w}mail.example.com"),
            Some(("w".into(), "mail.example.com"))
        );
        assert_eq!(cf_name("wfoo"), Some(("w".into(), "foo")));
        assert_eq!(cf_name(" x"), None);
    }

    #[test]
    fn feature_table_is_sorted_and_covers_sendmail() {
        let names: Vec<&str> = FEATURES.iter().map(|f| f.0).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        // Checked against `ls /usr/share/sendmail/cf/feature` (sendmail 8.17.1.9).
        if let Ok(dir) = std::fs::read_dir("/usr/share/sendmail/cf/feature") {
            for e in dir.flatten() {
                let n = e
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".m4")
                    .to_string();
                assert!(names.contains(&n.as_str()), "missing feature {n}");
            }
        }
    }

    #[test]
    fn option_table_is_sorted() {
        assert!(OPTIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
