//! What mxgate does with each sendmail name it compiles: the one table.
//!
//! Contract: every `FEATURE` name the compiler accepts ([`crate::mc::FEATURES`]),
//! every cf macro that configures something mxgate may not do yet, and
//! every `conf*` option ([`crate::options::OPTIONS`]) has a [`Support`]:
//! [`Support::Implemented`] (mxgate does what sendmail does), or
//! [`Support::Warned`] (it compiles, mxgate does not do it: `mxgate compile`
//! and `mxgate check` print `file:line:col: warning: NAME has no effect in
//! mxgate: REASON`), or [`Support::Refused`] (the daemon refuses to start
//! while it is set, because running without it would make mail less safe
//! than the admin asked for). Features and macros are listed one by one;
//! options are listed when implemented or when their warning says more than
//! the generic one, and every other sendmail option is
//! `Warned(`[`OPTION_NO_EFFECT`]`)`. docs/mc.md's marks are checked against
//! this table by the test suite. Nothing that compiles is silently ignored.

/// What mxgate does with one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented: it has sendmail's effect.
    Implemented,
    /// Accepted with a warning at compile, check and daemon start: the
    /// reason says what it means for mail.
    Warned(&'static str),
    /// Accepted by the compiler (with a warning), refused by the daemon at
    /// start, with this reason.
    Refused(&'static str),
}

/// The warning for a sendmail option mxgate does not read.
pub const OPTION_NO_EFFECT: &str =
    "mxgate does not read this option; mail is handled as if it were not set";

use Support::{Implemented, Refused, Warned};

/// Every `FEATURE` name (sorted; the same names as [`crate::mc::FEATURES`]).
pub const FEATURES: &[(&str, Support)] = &[
    ("accept_unqualified_senders", Implemented),
    ("accept_unresolvable_domains", Implemented),
    ("access_db", Implemented),
    ("allmasquerade", Implemented),
    ("always_add_domain", Implemented),
    ("authinfo", Implemented),
    (
        "badmx",
        Warned("MX records pointing at bad hosts are not refused"),
    ),
    (
        "bcc",
        Warned("no copy of each message is sent to a BCC address"),
    ),
    (
        "bestmx_is_local",
        Warned("mail for domains whose best MX is this host is not treated as local"),
    ),
    (
        "bitdomain",
        Warned("the bitdomain table is not used for routing"),
    ),
    ("blacklist_recipients", Implemented),
    ("block_bad_helo", Implemented),
    ("blocklist_recipients", Implemented),
    ("body_checks", Implemented),
    (
        "check_cert_altnames",
        Warned("the peer certificate's subjectAltNames are not checked against the host name"),
    ),
    (
        "check_other",
        Warned("other SMTP commands are not checked by a custom rule"),
    ),
    (
        "compat_check",
        Warned("Compat: access entries are not looked up"),
    ),
    ("conncontrol", Implemented),
    ("delay_checks", Implemented),
    ("dnsbl", Implemented),
    (
        "domainmap",
        Warned("the domainmap table is not used for routing"),
    ),
    ("domaintable", Implemented),
    (
        "drac",
        Warned("POP-before-SMTP (DRAC) relaying is not granted"),
    ),
    ("enhdnsbl", Implemented),
    ("generics_entire_domain", Implemented),
    ("genericstable", Implemented),
    ("greet_pause", Implemented),
    ("header_checks", Implemented),
    (
        "ldap_routing",
        Warned(
            "LDAP is not queried: recipients are routed without the LDAP mailHost/mailRoutingAddress attributes, and unknown LDAP recipients are not refused",
        ),
    ),
    ("limited_masquerade", Implemented),
    ("local_lmtp", Implemented),
    ("local_no_masquerade", Implemented),
    (
        "local_procmail",
        Warned("local mail goes to Maildir (or LMTP), not through procmail"),
    ),
    ("lookupdotdomain", Implemented),
    (
        "loose_relay_check",
        Warned("%-hack relaying (user%host@here) is not allowed"),
    ),
    ("mailboxes", Implemented),
    ("mailertable", Implemented),
    ("masquerade_entire_domain", Implemented),
    ("masquerade_envelope", Implemented),
    ("mime_header_checks", Implemented),
    (
        "msp",
        Warned("mxgate is not a submission-only client: it runs as a full MTA"),
    ),
    (
        "mtamark",
        Warned("MTA marks in reverse DNS are not checked"),
    ),
    ("nested_header_checks", Implemented),
    ("no_default_msa", Implemented),
    ("nocanonify", Implemented),
    (
        "nopercenthack",
        Warned("the %-hack is not handled specially"),
    ),
    (
        "notsticky",
        Warned(
            "user@$=w goes through aliases as sendmail's default (stickyhost off) does; the feature itself adds nothing",
        ),
    ),
    ("nouucp", Implemented),
    (
        "nullclient",
        Warned(
            "mxgate does not become a null client: mail is still received, aliased and routed locally; use SMART_HOST and MAIL_HUB",
        ),
    ),
    (
        "prefixmod",
        Warned("address prefix modifications are not applied"),
    ),
    ("preserve_local_plus_detail", Implemented),
    (
        "preserve_luser_host",
        Warned("the host part is not kept when mail goes to LUSER_RELAY"),
    ),
    ("promiscuous_relay", Implemented),
    (
        "queuegroup",
        Warned("queue groups are not used: there is one queue"),
    ),
    ("ratecontrol", Implemented),
    (
        "redirect",
        Warned("address.REDIRECT aliases are not answered with 551 User has moved"),
    ),
    (
        "relay_based_on_MX",
        Warned("relaying is not granted for domains whose MX is this host"),
    ),
    ("relay_entire_domain", Implemented),
    ("relay_hosts_only", Implemented),
    ("relay_local_from", Implemented),
    ("relay_mail_from", Implemented),
    (
        "require_rdns",
        Warned("clients without reverse DNS are not refused"),
    ),
    (
        "rhsbl",
        Warned("sender domains are not looked up in a right-hand-side block list"),
    ),
    (
        "smrsh",
        Warned(
            "there is no restricted shell: |programs in aliases are refused unless confMXGATE_ALLOW_PROGRAMS is True, then run by /bin/sh",
        ),
    ),
    ("stickyhost", Implemented),
    (
        "sts",
        Warned("MTA-STS policies are not fetched or enforced"),
    ),
    (
        "tls_failures",
        Warned("TLS handshake failures are not retried without TLS by this rule"),
    ),
    (
        "tls_session_features",
        Warned("per-session TLS features from the access table are not applied"),
    ),
    (
        "use_client_ptr",
        Warned("the client's PTR name is not used in check_relay"),
    ),
    ("use_ct_file", Implemented),
    ("use_cw_file", Implemented),
    (
        "uucpdomain",
        Warned("the uucpdomain table is not used for routing"),
    ),
    (
        "virtuser_entire_domain",
        Warned("virtusertable @domain entries do not cover sub-domains"),
    ),
    ("virtusertable", Implemented),
    ("vnet", Warned("the vnet table is not used for routing")),
];

/// cf macros whose setting mxgate may not honour.
pub const MACROS: &[(&str, Support)] = &[
    (
        "CANONIFY_DOMAIN",
        Warned(
            "host names are never canonified through DNS in mxgate (as with FEATURE(`nocanonify')), in these domains too",
        ),
    ),
    (
        "CANONIFY_DOMAIN_FILE",
        Warned(
            "host names are never canonified through DNS in mxgate (as with FEATURE(`nocanonify')), in these domains too",
        ),
    ),
    ("CLIENT_OPTIONS", Implemented),
    ("INPUT_MAIL_FILTER", Implemented),
    ("MAIL_FILTER", Implemented),
];

/// `DAEMON_OPTIONS` settings and keys with their own entry. The keys
/// not listed here (`Addr`, `Family`, `Name`, `Port`, `M`,
/// `InputMailFilters`) are implemented; a key that is not one of
/// sendmail's (nor `ContentFilter`) does not compile.
pub const DAEMON_SETTINGS: &[(&str, Support)] = &[
    ("Family=local", Implemented),
    // mxgate's own key (Postfix's content_filter per listener): see
    // crate::content_filter and docs/content.md.
    ("ContentFilter", Implemented),
    // crate::config::DaemonTuning; the daemon's smtpd::bind and Server::admit.
    ("Listen", Implemented),
    ("ReceiveSize", Implemented),
    ("SendSize", Implemented),
    ("children", Implemented),
    (
        "DeliveryMode",
        Warned(
            "mail from this listener is queued and delivered in the background at once, as from every listener",
        ),
    ),
    (
        "refuseLA",
        Warned(
            "this listener does not refuse connections on load average (children=, confMAX_DAEMON_CHILDREN and confMAX_CONN_PER_IP limit them)",
        ),
    ),
    (
        "delayLA",
        Warned("this listener does not delay connections on load average"),
    ),
    (
        "queueLA",
        Warned("mail from this listener is delivered whatever the load average"),
    ),
];

/// The warning for a map flag mxgate does not apply (every flag of a map
/// spec but `-o`, `-N`, `-f` and `-T`), in the map of `what`
/// (``FEATURE(`mailertable')``, or a map's role in a compiled file).
pub fn map_flag_warning(flag: &str, what: &str) -> String {
    let why = match flag.as_bytes().get(1) {
        Some(b'a') => "a lookup's value is used without the text appended to it",
        Some(b'm') => "a lookup returns the table's value, not only whether the key matched",
        _ => "mxgate does not apply this flag; the table is read as if it were not given",
    };
    format!("warning: map flag `{flag}' in {what} has no effect in mxgate: {why}")
}

/// The warning for a `*_MAILER_*` or `LOCAL_SHELL_*` define, or a
/// `MODIFY_MAILER_FLAGS(...)` entry, of value `value` (`None`: mxgate
/// applies it). Applied: `*_MAILER_MAXRCPTS`, and the `*_MAILER_ARGS` of
/// an SMTP mailer in the form `TCP $h [PORT]` (the port it connects to).
pub fn mailer_option_warning(name: &str, value: &str) -> Option<String> {
    let smtp = ["SMTP_", "ESMTP_", "SMTP8_", "DSMTP_", "RELAY_"]
        .iter()
        .any(|p| name.starts_with(p));
    let why = if name.ends_with("_MAILER_MAXRCPTS") {
        return None;
    } else if name.ends_with("_MAILER_ARGS") {
        let words: Vec<&str> = value.split_whitespace().collect();
        let port = |p: &str| p.parse::<u16>().is_ok();
        let tcp = match words.as_slice() {
            ["TCP" | "IPC", "$h"] => true,
            ["TCP" | "IPC", "$h", p] => port(p),
            _ => false,
        };
        match (smtp, tcp) {
            (true, true) => return None,
            (true, false) => {
                "only `TCP $h PORT' is read here (the port); these arguments are not used"
            }
            _ => "mxgate's mailers are built in; this program and its arguments are not used",
        }
    } else if name.ends_with("_MAILER_FLAGS") || name.starts_with("MODIFY_MAILER_FLAGS(") {
        "mailer flags are not applied: each built-in mailer keeps sendmail's default behaviour"
    } else if name.ends_with("_MAILER_MAX") {
        "no per-mailer message size limit is applied (confMAX_MESSAGE_SIZE is)"
    } else if name.ends_with("_MAILER_PATH") {
        "mxgate's mailers are built in; this program is not run"
    } else if name.starts_with("LOCAL_SHELL_") {
        "a |program delivery runs under /bin/sh -c, not under the shell set here"
    } else {
        "mxgate does not read this mailer setting"
    };
    Some(format!("warning: {name} has no effect in mxgate: {why}"))
}

/// sendmail cf defines that are not `conf*` options and that mxgate does
/// not read, with what that means for mail (the ones it reads:
/// `SMART_HOST`, `MAIL_HUB`, `LOCAL_RELAY`, `LUSER_RELAY`, `ALIAS_FILE`,
/// `QUEUE_DIR`, `MASQUERADE_NAME`, `*_MAILER_*`).
pub const UNREAD_DEFINES: &[(&str, &str)] = &[
    (
        "BITNET_RELAY",
        "BITNET addresses are not sent to this relay",
    ),
    (
        "DATABASE_MAP_TYPE",
        "every map is served from its .lmdb file, whatever its class",
    ),
    (
        "DECNET_RELAY",
        "DECnet addresses are not sent to this relay",
    ),
    ("FAX_RELAY", "fax addresses are not sent to this relay"),
    ("HELP_FILE", "HELP does not read this file"),
    (
        "MAIL_SETTINGS_DIR",
        "the default paths of tables and files stay under /etc/mail/; give each FEATURE its path",
    ),
    (
        "MSP_QUEUE_DIR",
        "mxgate has no separate submission queue; local submission uses QUEUE_DIR",
    ),
    (
        "STATUS_FILE",
        "no sendmail statistics file is kept (mxgate report and the metrics count mail)",
    ),
    ("UUCP_MAX_SIZE", "mxgate has no UUCP mailer"),
    (
        "UUCP_RELAY",
        "UUCP addresses (host!user) are not sent to this relay",
    ),
];

/// The warning for define `name` when mxgate does not read it.
pub fn define_warning(name: &str) -> Option<String> {
    UNREAD_DEFINES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, why)| format!("warning: {n} has no effect in mxgate: {why}"))
}

/// The warning for one `confPRIVACY_FLAGS` flag: `None` for every
/// sendmail 8.17 flag (mxgate applies each, or it holds by construction),
/// a warning for a word that is none of them. sendmail 8.17's flags:
/// `public`, `needmailhelo`, `needexpnhelo`, `needvrfyhelo`, `noexpn`,
/// `novrfy`, `noverb` (EXPN and VRFY are always refused and VERB is not
/// offered, so these hold in any case),
/// `restrictmailq`, `restrictqrun`, `noreceipts`, `nobodyreturn`, `noetrn`,
/// `authwarnings`, `goaway` (sendmail's PRIV_GOAWAY: the HELO, EXPN,
/// VRFY and VERB flags and `authwarnings`), `restrictexpand` (sendmail
/// drops its set-uid rights for `-bv`, main.c, so that a user cannot read
/// private aliases, `.forward` or `:include:` files through it; mxgate is
/// never set-uid and reads them with its caller's rights in any case),
/// `noactualrecipient` (no `X-Actual-Recipient:` in reports: mxgate's
/// reports never carry one).
pub fn privacy_flag_warning(flag: &str) -> Option<String> {
    match flag.to_ascii_lowercase().as_str() {
        "" | "public" | "needmailhelo" | "needexpnhelo" | "needvrfyhelo" | "noexpn" | "novrfy"
        | "noverb" | "restrictmailq" | "restrictqrun" | "restrictexpand" | "noreceipts"
        | "nobodyreturn" | "noetrn" | "authwarnings" | "goaway" | "noactualrecipient" => None,
        _ => Some(format!(
            "warning: confPRIVACY_FLAGS: `{flag}' is not a sendmail 8.17 privacy flag (public, needmailhelo, needexpnhelo, needvrfyhelo, noexpn, novrfy, noverb, restrictmailq, restrictqrun, restrictexpand, noreceipts, nobodyreturn, noetrn, noactualrecipient, authwarnings, goaway)"
        )),
    }
}

/// The support of a `DAEMON_OPTIONS` key (`None`: implemented, or not a key).
pub fn daemon_key(key: &str) -> Option<Support> {
    DAEMON_SETTINGS
        .iter()
        .find(|(n, _)| *n == key)
        .map(|(_, s)| *s)
}

/// The warning for `DAEMON_OPTIONS` key `key` (`None`: it has its effect).
pub fn daemon_key_warning(key: &str) -> Option<String> {
    match daemon_key(key)? {
        Warned(why) | Refused(why) => Some(format!(
            "warning: DAEMON_OPTIONS key `{key}' has no effect in mxgate: {why}"
        )),
        Implemented => None,
    }
}

/// Options with their own entry (the others are `Warned(OPTION_NO_EFFECT)`).
pub const OPTIONS: &[(&str, Support)] = &[
    ("confAUTH_MECHANISMS", Implemented),
    ("confBAD_RCPT_THROTTLE", Implemented),
    ("confCACERT", Implemented),
    ("confCACERT_PATH", Implemented),
    ("confCIPHER_LIST", Implemented),
    ("confCLIENT_OPTIONS", Implemented),
    ("confCLIENT_CERT", Implemented),
    ("confCLIENT_KEY", Implemented),
    ("confCLIENT_SSL_OPTIONS", Implemented),
    ("confCONNECTION_RATE_THROTTLE", Implemented),
    ("confCONNECTION_RATE_WINDOW_SIZE", Implemented),
    (
        "confCONTROL_SOCKET_NAME",
        Warned(
            "mxgate has no sendmail control socket; `mxgate status` and the metrics endpoint report the running daemon",
        ),
    ),
    ("confCR_FILE", Implemented),
    ("confCT_FILE", Implemented),
    ("confCW_FILE", Implemented),
    ("confDEAD_LETTER_DROP", Implemented),
    ("confDOMAIN_NAME", Implemented),
    ("confDOUBLE_BOUNCE_ADDRESS", Implemented),
    ("confFALLBACK_MX", Implemented),
    ("confFALLBACK_SMARTHOST", Implemented),
    ("confHOSTS_FILE", Implemented),
    ("confHOST_STATUS_DIRECTORY", Implemented),
    ("confINPUT_MAIL_FILTERS", Implemented),
    ("confMAX_DAEMON_CHILDREN", Implemented),
    ("confMAX_HEADERS_LENGTH", Implemented),
    ("confMAX_HOP", Implemented),
    ("confMAX_MESSAGE_SIZE", Implemented),
    ("confMAX_RCPTS_PER_MESSAGE", Implemented),
    (
        "confMAX_RUNNERS_PER_QUEUE",
        Warned(
            "queue runs are the daemon's delivery workers (confMXGATE_QUEUE_WORKERS, default 40)",
        ),
    ),
    ("confMILTER_MACROS_CONNECT", Implemented),
    ("confMILTER_MACROS_DATA", Implemented),
    ("confMILTER_MACROS_ENVFROM", Implemented),
    ("confMILTER_MACROS_ENVRCPT", Implemented),
    ("confMILTER_MACROS_EOH", Implemented),
    ("confMILTER_MACROS_EOM", Implemented),
    ("confMILTER_MACROS_HELO", Implemented),
    ("confMIN_FREE_BLOCKS", Implemented),
    ("confMIN_QUEUE_AGE", Implemented),
    (
        "confPID_FILE",
        Warned(
            "the daemon writes its pid where --pidfile says (QUEUE_DIR/mxgate.pid with --daemon; none in the foreground, as under systemd)",
        ),
    ),
    ("confPRIVACY_FLAGS", Implemented),
    (
        "confPROCESS_TITLE_PREFIX",
        Warned("mxgate does not rewrite its process title"),
    ),
    (
        "confQUEUE_FILE_MODE",
        Warned(
            "queue files are for the run-as user only (the spool's directories are 0700; other users' mailq goes through the daemon)",
        ),
    ),
    ("confRCPTREJ_MSG", Implemented),
    ("confREJECT_MSG", Implemented),
    ("confRELAY_MSG", Implemented),
    ("confRUN_AS_USER", Implemented),
    (
        "confSAFE_FILE_ENV",
        Warned(
            "mxgate does not chroot for deliveries to files (a /file target is not opened through a symlink; docs/security.md)",
        ),
    ),
    ("confSERVER_CERT", Implemented),
    ("confSERVER_KEY", Implemented),
    ("confSERVER_SSL_OPTIONS", Implemented),
    ("confSERVICE_SWITCH_FILE", Implemented),
    ("confSMTP_LOGIN_MSG", Implemented),
    (
        "confTEMP_FILE_MODE",
        Warned("temporary files are in the spool's tmp/ (0700), most of them unnamed"),
    ),
    ("confTLS_SRV_OPTIONS", Implemented),
    ("confTO_AUTH", Implemented),
    ("confTO_COMMAND", Implemented),
    ("confTO_CONNECT", Implemented),
    ("confTO_DATABLOCK", Implemented),
    ("confTO_DATAFINAL", Implemented),
    ("confTO_DATAINIT", Implemented),
    ("confTO_HELO", Implemented),
    ("confTO_HOSTSTATUS", Implemented),
    ("confTO_ICONNECT", Implemented),
    (
        "confTO_IDENT",
        Warned("mxgate makes no IDENT (RFC 1413) queries, as sendmail with 0"),
    ),
    ("confTO_INITIAL", Implemented),
    ("confTO_MAIL", Implemented),
    ("confTO_QUEUERETURN", Implemented),
    ("confTO_QUEUERETURN_DSN", Implemented),
    ("confTO_QUEUERETURN_NONURGENT", Implemented),
    ("confTO_QUEUERETURN_NORMAL", Implemented),
    ("confTO_QUEUERETURN_URGENT", Implemented),
    ("confTO_QUEUEWARN", Implemented),
    ("confTO_QUEUEWARN_DSN", Implemented),
    ("confTO_QUEUEWARN_NONURGENT", Implemented),
    ("confTO_QUEUEWARN_NORMAL", Implemented),
    ("confTO_QUEUEWARN_URGENT", Implemented),
    ("confTO_QUIT", Implemented),
    ("confTO_RCPT", Implemented),
    ("confTO_RSET", Implemented),
    ("confTO_STARTTLS", Implemented),
    (
        "confTRUSTED_USER",
        Warned(
            "mxgate's files belong to confRUN_AS_USER; the users who may set the envelope sender are $=t (confCT_FILE, FEATURE(use_ct_file))",
        ),
    ),
];

/// mxgate's own options (not sendmail's), all implemented: the compiler
/// knows them, so only a misspelt `conf*` name is warned about as unknown.
/// docs/mc.md "mxgate extension options" describes them.
pub const MXGATE_OPTIONS: &[&str] = &[
    "confAUTH_DOVECOT_SOCKET",
    "confAUTH_PASSWORD_MAP",
    "confMAX_CONN_PER_IP",
    "confMAX_QUEUE_SIZE",
    "confMXGATE_ALLOW_PROGRAMS",
    "confMXGATE_AUTH_WAIT",
    "confMXGATE_AUTH_WORKERS",
    "confMXGATE_BODY_CHECKS_SIZE_LIMIT",
    "confMXGATE_CLIENT_IPV6_PREFIX",
    "confMXGATE_CONTENT_FILTER",
    "confMXGATE_CONN_LIMIT_EXCEPTIONS",
    "confMXGATE_DESTINATION_CONCURRENCY",
    "confMXGATE_DNS_RETRY",
    "confMXGATE_DNS_TIMEOUT",
    "confMXGATE_LOG_FILE",
    "confMXGATE_LOG_TAG",
    "confMXGATE_MAILDIR",
    "confMXGATE_MAX_BAD_COMMANDS",
    "confMXGATE_MAX_CLIENT_LOOKUPS",
    "confMXGATE_MAX_NONMAIL_COMMANDS",
    "confMXGATE_MAX_RETRY_INTERVAL",
    "confMXGATE_METRICS_ADDR",
    "confMXGATE_METRICS_ALLOW_REMOTE",
    "confMXGATE_NAMESERVERS",
    "confMXGATE_QUEUE_INTERVAL",
    "confMXGATE_QUEUE_MEMORY",
    "confMXGATE_QUEUE_WORKERS",
    "confMXGATE_SUBMIT_SOCKET",
    "confMXGATE_SYSLOG_SOCKET",
    "confMXGATE_TO_DATA",
    "confQUEUE_DIR",
];

/// The support of `FEATURE(name)` (`None`: not a feature the compiler knows).
pub fn feature(name: &str) -> Option<Support> {
    FEATURES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The support of a sendmail option (`conf*`): its entry, else
/// `Warned(OPTION_NO_EFFECT)` for sendmail's options; `None` for names that
/// are not sendmail options (mxgate's own `confMXGATE_*` and extensions,
/// which the runtime reads, and misspellings, which are warned about
/// separately).
pub fn option(name: &str) -> Option<Support> {
    if let Some((_, s)) = OPTIONS.iter().find(|(n, _)| *n == name) {
        return Some(*s);
    }
    crate::options::OPTIONS
        .binary_search_by(|(k, _)| (*k).cmp(name))
        .ok()
        .map(|_| Warned(OPTION_NO_EFFECT))
}

/// [`option`] for option `name` set to `value`: a value that mxgate's
/// behaviour already matches is no warning. `confSAFE_QUEUE` `True` or
/// `PostMilter` (sendmail's SuperSafe: the queue file is on disk before
/// the 250; mxgate never answers 250 before that) and `confRRT_IMPLIES_DSN`
/// `False` (mxgate never takes a `Return-Receipt-To:` header for a DSN
/// request). Debian's `debian-mta.m4` sets both.
pub fn option_value(name: &str, value: &str) -> Option<Support> {
    let v = value.trim().to_ascii_lowercase();
    if name == "confTLS_SRV_OPTIONS" && v.chars().any(|c| !matches!(c, 'v' | ' ' | ',' | '\t')) {
        return Some(Warned(
            "only V (ask clients for no certificate) is read; C (a server without a certificate) is not: STARTTLS needs confSERVER_CERT",
        ));
    }
    let holds = match name {
        "confSAFE_QUEUE" => matches!(v.as_str(), "true" | "t" | "yes" | "y" | "postmilter" | "p"),
        "confRRT_IMPLIES_DSN" => matches!(v.as_str(), "false" | "f" | "no" | "n"),
        _ => false,
    };
    if holds {
        Some(Implemented)
    } else {
        option(name)
    }
}

/// The support of a cf macro (`None`: implemented, or not listed).
pub fn cf_macro(name: &str) -> Option<Support> {
    MACROS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A milter's support from its `F=` flags: implemented with every flag
/// (the daemon speaks the milter protocol; `F=T`/`F=R` decide what an
/// unusable filter means, see docs/milter.md).
pub fn milter(_flags: Option<&str>) -> Support {
    Implemented
}

/// Is milter `m` called for incoming mail? As in sendmail: a filter from
/// `INPUT_MAIL_FILTER` always (mxgate does not model a later
/// `confINPUT_MAIL_FILTERS` that leaves it out: running it is the safe
/// side; the daemon's list is `mxgate::smtpd::milters::names_for`); one from `MAIL_FILTER` only when `confINPUT_MAIL_FILTERS` or a
/// `DAEMON_OPTIONS` `InputMailFilters=` (names separated by `;`) names it.
pub fn milter_in_use(c: &crate::config::Config, m: &crate::config::Milter) -> bool {
    if !m.mail_filter_only {
        return true;
    }
    let names = |list: &str| list.split([',', ';']).any(|n| n.trim() == m.name);
    c.option("confINPUT_MAIL_FILTERS").is_some_and(names)
        || c.daemons
            .iter()
            .any(|d| d.options.get("InputMailFilters").is_some_and(|l| names(l)))
}

/// The warnings for a compiled configuration, for a `.cf` read without
/// its `.mc` (the compiler gives the same ones with `file:line:col` when it
/// compiles): one per feature, option, milter and macro that is not
/// [`Support::Implemented`].
pub fn config_warnings(c: &crate::config::Config) -> Vec<String> {
    let mut w = Vec::new();
    for name in c.features.keys() {
        if let Some(Warned(why) | Refused(why)) = feature(name) {
            w.push(format!(
                "warning: FEATURE(`{name}') has no effect in mxgate: {why}"
            ));
        }
    }
    for (name, value) in &c.options {
        if let Some(Warned(why) | Refused(why)) = option_value(name, value) {
            w.push(format!("warning: {name} has no effect in mxgate: {why}"));
        }
    }
    for name in c.options.keys() {
        w.extend(define_warning(name));
    }
    if let Some(flags) = c.options.get("confPRIVACY_FLAGS") {
        w.extend(
            flags
                .split([',', ' ', '\t'])
                .filter_map(|f| privacy_flag_warning(f.trim())),
        );
    }
    for m in &c.mailers {
        if !matches!(
            m.as_str(),
            "local" | "prog" | "smtp" | "esmtp" | "smtp8" | "dsmtp" | "relay"
        ) {
            w.push(format!(
                "warning: mailer {m} has no effect in mxgate: it is not built in; mail routed to it is refused with 554 5.3.5 unknown mailer"
            ));
        }
    }
    for (name, value) in &c.mailer_options {
        w.extend(mailer_option_warning(name, value));
    }
    for (role, m) in &c.maps {
        for f in &m.other_flags {
            w.push(map_flag_warning(f, &format!("the {role} map")));
        }
    }
    for d in &c.daemons {
        w.extend(d.options.keys().filter_map(|k| daemon_key_warning(k)));
    }
    for (_, why) in crate::content_filter::unscanned(c)
        .into_iter()
        .chain(crate::content_filter::named_self(c))
    {
        w.push(why);
    }
    for m in &c.milters {
        let at =
            m.at.as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default();
        if !milter_in_use(c, m) {
            w.push(format!(
                "warning: filter {}{at} is defined by MAIL_FILTER and named by no confINPUT_MAIL_FILTERS or InputMailFilters=: not used (as in sendmail)",
                m.name
            ));
            continue;
        }
        match milter(m.options.get("F").map(String::as_str)) {
            Refused(why) => w.push(format!(
                "warning: filter {}{at} has F={}: the daemon will refuse to start: {why}",
                m.name,
                m.options.get("F").map(String::as_str).unwrap_or("")
            )),
            Warned(why) => w.push(format!("warning: filter {}{at}: {why}", m.name)),
            Implemented => {}
        }
    }
    w
}

/// Why the daemon must not start with this configuration: one message per
/// [`Support::Refused`] setting (empty: it may start): a content-filter
/// loop ([`crate::content_filter::loops`]). (`Family=local` listens on a
/// Unix-domain socket; milters are spoken: [`milter`] is kept for a filter
/// form that may be refused again.)
pub fn refusals(c: &crate::config::Config) -> Vec<String> {
    let mut r = Vec::new();
    for m in c.milters.iter().filter(|m| milter_in_use(c, m)) {
        let flags = m.options.get("F").map(String::as_str);
        if let Refused(why) = milter(flags) {
            let at =
                m.at.as_deref()
                    .map(|a| format!(" ({a})"))
                    .unwrap_or_default();
            r.push(format!(
                "filter {}{at} has F={}: {why}",
                m.name,
                flags.unwrap_or("")
            ));
        }
    }
    for (_, why) in crate::content_filter::loops(c) {
        r.push(why);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_features_match_the_compiler() {
        let names: Vec<&str> = FEATURES.iter().map(|f| f.0).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        let compiler: Vec<&str> = crate::mc::FEATURES.iter().map(|f| f.0).collect();
        assert_eq!(
            names, compiler,
            "every FEATURE the compiler accepts has an entry"
        );
        for (n, _) in OPTIONS {
            assert!(
                crate::options::OPTIONS.iter().any(|(k, _)| k == n),
                "{n} is not a sendmail option"
            );
        }
    }

    #[test]
    fn tls_srv_options_v_holds_and_c_is_warned() {
        for v in ["V", "v", " V ", "V,V"] {
            assert_eq!(
                option_value("confTLS_SRV_OPTIONS", v),
                Some(Implemented),
                "{v}"
            );
        }
        for v in ["C", "V C", "V,C"] {
            assert!(
                matches!(option_value("confTLS_SRV_OPTIONS", v), Some(Warned(_))),
                "{v}"
            );
        }
    }
}
