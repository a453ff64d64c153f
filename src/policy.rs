//! The policy engine: sendmail's `check_relay`, `check_mail`, `check_rcpt`
//! and header rules as pure decision functions.
//!
//! Contract: every stage is a function of (`&Site`, `&Facts`, input) that
//! returns a [`Verdict`]: an [`Action`] plus the rule that produced it
//! ([`Because`]), which feeds logs, `-bt` and `mxctl explain`. Nothing here
//! does I/O: DNS answers (DNSBL zones, sender-domain resolvability) arrive as
//! data in [`Facts`]; tables are read through `site.table("access")`, whose
//! errors become `451 4.3.0 Temporary system failure. Please try again
//! later.` (sendmail's `-T<TMPF>` text), never "not found".
//!
//! Stages, in SMTP order (spec §2.4, §3):
//!
//! * [`check_relay`] at connect: `Connect:` access walks (name, then IP),
//!   then DNSBL / enhdnsbl zones in `.mc` order. [`greet_pause`] gives the
//!   pre-greeting pause.
//! * [`check_helo`]: only `FEATURE(block_bad_helo)` refuses anything.
//! * [`check_mail`] at MAIL: null sender, unqualified / localhost senders,
//!   sender-domain resolvability, `From:` access walks.
//! * [`check_rcpt`] at RCPT: `To:` blocklist, relay decision (destination,
//!   then client), `delay_checks` (runs the sender and client checks here),
//!   and finally the local-user check (`550 5.1.1 User unknown`,
//!   `550 5.2.1` for disabled mailboxes).
//! * [`HeaderRules`] / [`check_header`] for Postfix-style header rules.
//!
//! With `FEATURE(delay_checks)` [`check_relay`] and [`check_mail`] answer
//! [`Action::Continue`] (sendmail renames those rulesets) and
//! [`check_rcpt`] runs them, given the sender.
//!
//! Missing facts: a sender domain with no DNS answer in [`Facts::dns`] falls
//! back to `site.host_lookup` (hosts file / service switch). When that says
//! "ask DNS" and no answer was supplied, the domain is taken as resolvable
//! (the daemon always supplies the answer; tools without DNS should not
//! refuse on missing data) and the `why` says so. A DNSBL zone with no
//! answer is "not listed", also said in the `why`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::addr;

pub mod access;
mod connect;
pub mod content;
pub mod dnsbl;
pub mod headers;
mod relay;
mod sender;
pub mod tls;

pub use connect::{Pause, SrvFeatures, check_helo, check_relay, greet_pause, srv_features};
pub use content::{ContentRules, Inspection, Note, Stop, inspect};
pub use headers::{HeaderRuleError, HeaderRules, Hit, RuleAction, check_header};
pub use relay::check_rcpt;
pub use sender::check_mail;

/// Text of every table failure (`_TMPFMSG_` in sendmail's proto.m4).
pub const TMPF_TEXT: &str = "Temporary system failure. Please try again later.";

/// An SMTP reply decided by policy: the one reply value
/// ([`crate::proto::reply::Reply`]: code, enhanced status, text lines),
/// which it dereferences to, and what the reply is about when that is not
/// the command's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply, its text without sendmail's `<addr>... ` prefix.
    pub reply: crate::proto::reply::Reply,
    /// What the reply is about when it is not the command's address: a
    /// value sendmail could not tokenize is named as written instead of
    /// `<addr>` (`553 5.0.0 ERROR:550 a > b... Unbalanced '>'`).
    pub about: Option<String>,
}

impl std::ops::Deref for Reply {
    type Target = crate::proto::reply::Reply;
    fn deref(&self) -> &crate::proto::reply::Reply {
        &self.reply
    }
}

impl Reply {
    /// A reply from its parts. An `enhanced` that is not `D.S.N` becomes
    /// `N.0.0` from the code's class (RFC 3463 §3).
    pub fn new(code: u16, enhanced: &str, text: &str) -> Reply {
        use crate::proto::reply::{EnhancedStatus, Reply as Smtp};
        let status = EnhancedStatus::parse(enhanced)
            .unwrap_or_else(|| EnhancedStatus::new((code / 100) as u8, 0, 0));
        Reply {
            reply: Smtp::new(code, status, text),
            about: None,
        }
    }

    /// sendmail's answer for a ruleset value its tokenizer refuses:
    /// `553 5.0.0 VALUE... Unbalanced 'c'` (checked on sendmail 8.17 -bs:
    /// access `From:c1.org ERROR:550 a > b c` → `553 5.0.0 ERROR:550 a > b
    /// c... Unbalanced '>'`).
    pub fn unbalanced(value: &str, why: crate::addr::tokens::Unbalanced) -> Reply {
        Reply {
            about: Some(value.to_string()),
            ..Reply::new(553, "5.0.0", &why.to_string())
        }
    }

    /// The enhanced status as text (`5.7.1`).
    pub fn enhanced(&self) -> String {
        self.reply.status_or_class().to_string()
    }

    /// `451 4.3.0 Temporary system failure. Please try again later.`
    pub fn tmpf() -> Reply {
        Reply::new(451, "4.3.0", TMPF_TEXT)
    }

    /// Is this a temporary (4xx) reply?
    pub fn is_temporary(&self) -> bool {
        self.reply.is_transient()
    }

    /// The reply line as sendmail writes it (without CRLF). `addr` is the
    /// address the command was about (MAIL/RCPT argument without angle
    /// brackets; `None` for connection-level replies). Sendmail's `fmtmsg`
    /// adds `<addr>... ` only for the codes 050, 250, 252, 450, 550 and 553;
    /// so `550 5.7.1 <u@x>... Relaying denied`, `450 4.0.0 <u@x>... mailbox
    /// full`, but `451 4.7.1 Try again later` and `554 ...` without it
    /// (checked on sendmail 8.17 with `-bs`).
    pub fn line(&self, addr: Option<&str>) -> String {
        format!(
            "{} {} {}",
            self.code,
            self.enhanced(),
            self.shown_text(addr)
        )
    }

    /// The text after the codes as sendmail sends it: with the `<addr>... `
    /// (or `value... `) prefix where [`Reply::line`] says it belongs.
    pub fn shown_text(&self, addr: Option<&str>) -> String {
        let prefixed = matches!(self.code, 50 | 250 | 252 | 450 | 550 | 553);
        let text = self.reply.text();
        match (&self.about, addr) {
            (Some(about), _) => format!("{about}... {text}"),
            (None, Some(a)) if prefixed => format!("<{a}>... {text}"),
            _ => text,
        }
    }

    /// The SMTP reply to send, `addr` as for [`Reply::line`].
    pub fn to_smtp(&self, addr: Option<&str>) -> crate::proto::reply::Reply {
        crate::proto::reply::Reply {
            lines: vec![self.shown_text(addr)],
            ..self.reply.clone()
        }
    }

    /// Parse sendmail's `$#error [$@ dsn] $: text` form: `text` may start with
    /// a three-digit code; the enhanced status is `dsn` when given, else
    /// `N.0.0` from the code's first digit. A text without a code is sendmail's
    /// generic `553 5.3.0` (checked on sendmail 8.17: `From:weird.org bogus
    /// value` → `553 5.3.0 <a@weird.org>... bogus value`).
    pub fn from_error(dsn: Option<&str>, text: &str) -> Reply {
        let text = unquote(text.trim());
        let (code, rest) = split_code(text);
        match code {
            Some(code) => {
                // `550 5.1.1 text`: the text's own enhanced code wins
                // (sendmail 8.17: `ERROR:5.7.1:550 5.1.1 Two codes` →
                // `550 5.1.1 ... Two codes`).
                if let Some((first, tail)) = rest.split_once(' ')
                    && access::is_dsn(first)
                {
                    return Reply::new(code, first, tail.trim_start());
                }
                let enhanced = match dsn {
                    Some(d) => d.to_string(),
                    None => format!("{}.0.0", code / 100),
                };
                Reply::new(code, &enhanced, rest)
            }
            None => match dsn {
                Some(d) if d.starts_with('4') => Reply::new(451, d, text),
                Some(d) => Reply::new(553, d, text),
                None => Reply::new(553, "5.3.0", text),
            },
        }
    }
}

impl From<crate::proto::reply::Reply> for Reply {
    /// A decision made elsewhere (the local-user check, routing's `error:`)
    /// as a policy reply: same code, status and text.
    fn from(reply: crate::proto::reply::Reply) -> Reply {
        Reply { reply, about: None }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line(None))
    }
}

/// Remove one pair of surrounding double quotes (sendmail drops the quote
/// characters of a quoted `$:` text: `ERROR:"550 text"`).
pub(crate) fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s)
}

/// `"550 text"` → `(Some(550), "text")`. A code needs text after it:
/// sendmail 8.17 answers a bare `ERROR:550` with `553 5.3.0 ... 550`.
fn split_code(s: &str) -> (Option<u16>, &str) {
    let b = s.as_bytes();
    if b.len() > 4 && b.iter().take(3).all(u8::is_ascii_digit) && b.get(3) == Some(&b' ') {
        let code = s.get(..3).and_then(|c| c.parse().ok());
        let rest = s.get(3..).unwrap_or("").trim_start();
        (code, rest)
    } else {
        (None, s)
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No decision: go on with the next check (sendmail's `OKSOFAR`).
    Continue,
    /// `OK`: accepted; remaining checks of this stage are skipped.
    Accept,
    /// `RELAY`: accepted, relaying allowed (or the destination is ours).
    Relay,
    /// Accept the transaction but drop the message.
    Discard,
    /// Accept but hold the message in quarantine with this reason.
    Quarantine(String),
    /// Refuse permanently.
    Reject(Reply),
    /// Refuse temporarily.
    TempFail(Reply),
}

/// Why a decision was taken: the rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Because {
    /// An access-table entry (`access `From:cyber.com` → ERROR:...`).
    Access {
        /// The key that matched, with its tag.
        key: String,
        /// Its value.
        value: String,
    },
    /// A class membership (`class R contains partner.org`).
    Class {
        /// Class name (`w`, `R`, `m`).
        class: String,
        /// The member that matched.
        member: String,
    },
    /// A DNS blocklist answer.
    Dnsbl {
        /// The zone.
        zone: String,
        /// The query name.
        query: String,
        /// What it answered, and what that meant.
        answer: String,
    },
    /// A header rule.
    HeaderRule {
        /// The rules file.
        file: String,
        /// Line in that file.
        line: usize,
        /// The rule as written.
        rule: String,
    },
    /// A table could not be read.
    TableError {
        /// Table role (`access`, `mailboxes`, ...).
        role: String,
        /// The error.
        detail: String,
    },
    /// A fixed sendmail rule, described.
    Rule(String),
}

impl Because {
    pub(crate) fn rule(s: impl Into<String>) -> Because {
        Because::Rule(s.into())
    }
}

impl fmt::Display for Because {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Because::Access { key, value } => write!(f, "access `{key}` → {value}"),
            Because::Class { class, member } => write!(f, "class {class} contains {member}"),
            Because::Dnsbl {
                zone,
                query,
                answer,
            } => write!(f, "dnsbl {zone} ({query}) {answer}"),
            Because::HeaderRule { file, line, rule } => write!(f, "{file}:{line}: {rule}"),
            Because::TableError { role, detail } => write!(f, "{role} table failed: {detail}"),
            Because::Rule(s) => f.write_str(s),
        }
    }
}

/// A decision and the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// Why.
    pub why: Because,
}

impl Verdict {
    /// A verdict from its parts.
    pub fn new(action: Action, why: Because) -> Verdict {
        Verdict { action, why }
    }

    /// No decision, with an explanation.
    pub fn cont(why: impl Into<String>) -> Verdict {
        Verdict::new(Action::Continue, Because::rule(why))
    }

    /// A reply-carrying refusal: temporary for 4xx, permanent otherwise.
    pub fn refuse(reply: Reply, why: Because) -> Verdict {
        let action = if reply.is_temporary() {
            Action::TempFail(reply)
        } else {
            Action::Reject(reply)
        };
        Verdict::new(action, why)
    }

    /// The table-failure verdict.
    pub fn table_error(role: &str, err: &crate::table::Error) -> Verdict {
        Verdict::new(
            Action::TempFail(Reply::tmpf()),
            Because::TableError {
                role: role.to_string(),
                detail: err.to_string(),
            },
        )
    }

    /// Does this verdict end the SMTP command with a refusal or a
    /// message-level action (reject, temp-fail, discard, quarantine)?
    pub fn is_final_refusal(&self) -> bool {
        matches!(
            self.action,
            Action::Reject(_) | Action::TempFail(_) | Action::Discard | Action::Quarantine(_)
        )
    }

    /// The reply, for reject and temp-fail.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.action {
            Action::Reject(r) | Action::TempFail(r) => Some(r),
            _ => None,
        }
    }
}

/// `${client_resolve}`: how the client's reverse name checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolve {
    /// PTR found and forward-confirmed.
    #[default]
    Ok,
    /// No PTR (permanent).
    Fail,
    /// PTR lookup failed temporarily.
    Temp,
    /// PTR found but the name does not map back to the address.
    Forged,
}

/// The SMTP client as sendmail's macros describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `${client_addr}`; `None` for local submission (empty `client_addr`).
    pub addr: Option<IpAddr>,
    /// `${client_name}`: the (forward-confirmed) PTR name, or `[ip]` without one.
    pub name: String,
    /// `${client_resolve}`.
    pub resolve: Resolve,
    /// `${daemon_flags}` of the listener (`M=` modifiers: `u`, `f`, ...).
    pub daemon_flags: String,
    /// `${auth_type}`: the SASL mechanism the client authenticated with.
    pub auth_type: Option<String>,
    /// `${client_rate}`: this address's connections within
    /// `confCONNECTION_RATE_WINDOW_SIZE`, this one included (0 = unknown).
    pub rate: usize,
    /// `${client_connections}`: this address's open connections, this one
    /// included (0 = unknown).
    pub connections: usize,
    /// A client on a `Family=local` listener: `${client_addr}` is
    /// `[UNIX: localhost]` (`addr` is `None`, yet it is no local submission:
    /// it may not relay by its address, as in sendmail).
    pub unix: bool,
    /// Under TLS: the client's certificate (`${verify}`, `${cert_issuer}`,
    /// `${cert_subject}`; sendmail's RelayTLS reads them).
    pub cert: Option<tls::PeerCert>,
}

impl Client {
    /// A network client at `addr` with name `[addr]` (no PTR), resolve OK.
    pub fn at(addr: IpAddr) -> Client {
        Client {
            addr: Some(addr),
            name: format!("[{}]", addr::sendmail_ip(&addr)),
            resolve: Resolve::Ok,
            daemon_flags: String::new(),
            auth_type: None,
            rate: 0,
            connections: 0,
            unix: false,
            cert: None,
        }
    }

    /// A client on a Unix-domain listener (`Family=local`): named
    /// `localhost`, `${client_addr}` `[UNIX: localhost]`, as sendmail 8.17.
    pub fn unix_socket() -> Client {
        Client {
            unix: true,
            ..Client::local()
        }
    }

    /// Is this local submission (`sendmail -bs`, `-t`: `${client_addr}`
    /// empty)?
    pub fn is_local_submission(&self) -> bool {
        self.addr.is_none() && !self.unix
    }

    /// Local submission (`client_addr` empty, name `localhost`).
    pub fn local() -> Client {
        Client {
            addr: None,
            name: "localhost".into(),
            resolve: Resolve::Ok,
            daemon_flags: String::new(),
            auth_type: None,
            rate: 0,
            connections: 0,
            unix: false,
            cert: None,
        }
    }

    /// The same client with this `${client_name}`.
    pub fn named(mut self, name: &str) -> Client {
        self.name = name.to_string();
        self
    }

    /// `${client_addr}` as sendmail writes it (`IPv6:` full form;
    /// `[UNIX: localhost]` on a Unix-domain listener; empty for local
    /// submission).
    pub fn addr_text(&self) -> String {
        if self.unix {
            return UNIX_CLIENT_ADDR.to_string();
        }
        self.addr
            .as_ref()
            .map(addr::sendmail_ip)
            .unwrap_or_default()
    }
}

/// `${client_addr}` of a client on a Unix-domain listener, as sendmail
/// 8.17 writes it (`relay=localhost [[UNIX: localhost]]`).
pub const UNIX_CLIENT_ADDR: &str = "[UNIX: localhost]";

/// One DNS answer, as the daemon observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer<T> {
    /// Records found.
    Found(T),
    /// NXDOMAIN / no data.
    NotFound,
    /// Timeout, SERVFAIL: temporary.
    TempFail,
}

/// What the network said, gathered before a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// A-record answers keyed by query name (lower case, no trailing dot):
    /// DNSBL queries (`10.2.0.192.bl.example.org`) and sender domains
    /// (`aol.com`: `Found` = resolves, `NotFound` = does not exist).
    pub dns: BTreeMap<String, DnsAnswer<Vec<IpAddr>>>,
}

impl Facts {
    /// No facts.
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Add an answer for `name`.
    pub fn with(mut self, name: &str, answer: DnsAnswer<Vec<IpAddr>>) -> Facts {
        self.dns.insert(addr::normalize_name(name), answer);
        self
    }

    /// The answer for `name`, if one was gathered.
    pub fn answer(&self, name: &str) -> Option<&DnsAnswer<Vec<IpAddr>>> {
        self.dns.get(&addr::normalize_name(name))
    }
}

/// Is `FEATURE(delay_checks)` on?
pub(crate) fn delay_checks(site: &crate::site::Site) -> bool {
    site.config.has_feature("delay_checks")
}
