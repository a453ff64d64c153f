//! One log line → one [`Line`] with a typed [`Event`]: the sans-IO parser
//! behind `mxgate report`.
//!
//! Contract: pure and allocation-free (every field borrows from the line).
//! A line that is not syslog-shaped (`STAMP HOST TAG[PID]: TEXT`, where
//! STAMP is `Mon DD HH:MM:SS` or RFC 3339 and an optional `<PRI>` may lead)
//! is an [`Error`]; a syslog-shaped line whose text is not a mail event is
//! [`Event::Other`]. The tag is returned as written: the caller decides
//! which programs count (`mxgate`, `sm-mta`, `sendmail`, ...). The texts
//! recognised are mxgate's own (src/event.rs, src/smtpd/conn.rs,
//! src/queue/runner.rs) and sendmail 8.17's for the same events, so a real
//! sendmail log reads the same way. Refusals are classified by the reply
//! text and the ruleset in [`classify`].

use super::stamp::{Partial, Stamp};

/// Why a line could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No `Mon DD HH:MM:SS` or RFC 3339 stamp at the start.
    #[error("no syslog time stamp")]
    NoStamp,
    /// No `HOST TAG: ` after the stamp.
    #[error("no host and program tag")]
    NoTag,
}

/// When a line was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A syslog stamp: the year is still to be inferred.
    Syslog(Partial),
    /// A stamp with a year (RFC 3339).
    Full(Stamp),
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// Its time stamp.
    pub when: When,
    /// The syslog host name field (the node).
    pub host: &'a str,
    /// The program name, without `[pid]`.
    pub program: &'a str,
    /// The queue id the line is about, if any.
    pub qid: Option<&'a str>,
    /// What happened.
    pub event: Event<'a>,
}

/// A client or server host as `relay=` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relay<'a> {
    /// The host name (empty when only the address is known).
    pub name: &'a str,
    /// The address, without brackets (empty when not given).
    pub ip: &'a str,
}

/// The mail events a report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// `from=<...>, size=N, ..., nrcpts=N, ..., daemon=NAME, relay=...`.
    Received {
        /// Envelope sender, without brackets (`""` = `<>`).
        from: &'a str,
        /// Bytes.
        size: u64,
        /// Envelope recipients.
        nrcpts: u32,
        /// The listener (`daemon=`), if logged.
        daemon: Option<&'a str>,
        /// The client.
        relay: Relay<'a>,
        /// `quarantine=` reason on the same line (mxgate).
        quarantine: Option<&'a str>,
    },
    /// `to=<a>[,<b>...], delay=..., mailer=..., relay=..., dsn=X.Y.Z, stat=...`.
    Delivery {
        /// The recipients, as one comma-separated field.
        to: &'a str,
        /// Seconds since the message was received (`delay=`).
        delay: Option<u64>,
        /// `mailer=`.
        mailer: Option<&'a str>,
        /// The server delivered to.
        relay: Relay<'a>,
        /// The outcome.
        status: Status,
        /// `stat=` text.
        stat: &'a str,
    },
    /// `QID: DSNQID: DSN: text`: a delivery status notification was created.
    DsnCreated {
        /// The notification's own queue id.
        dsn_qid: &'a str,
    },
    /// The message was discarded (sendmail `discarded`; mxgate's `from=...,
    /// discarded (why)`).
    Discarded {
        /// Bytes, when the line says.
        size: Option<u64>,
    },
    /// `quarantine=reason` on a line of its own (sendmail).
    Quarantined {
        /// The reason.
        reason: &'a str,
    },
    /// A refusal (`reject=`) or a session-level failure that refuses.
    Refused {
        /// Why, classified.
        reason: Reason<'a>,
        /// The client, when the line names it.
        relay: Relay<'a>,
    },
    /// A session event that is not a refusal.
    Session {
        /// Which.
        kind: SessionKind,
        /// The client, when the line names it.
        relay: Relay<'a>,
    },
    /// Any other line of a mail program (start-up, warnings, SYSERR).
    Other,
}

/// A delivery line's outcome, from `dsn=` (else `stat=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `dsn=2.x.x` / `stat=Sent`.
    Sent,
    /// `dsn=4.x.x` / `stat=Deferred`.
    Deferred,
    /// `dsn=5.x.x`: bounced (or dropped).
    Bounced,
}

/// Session events that are not refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionKind {
    /// `... did not issue MAIL/EXPN/VRFY/ETRN during connection to ...`.
    NoMail,
    /// `lost input channel from ...`.
    LostInput,
    /// `timeout waiting for input ...` / `timeout exceeded during ...`.
    Timeout,
    /// mxgate `deferring connections on daemon ...` (confCONNECTION_RATE_THROTTLE).
    ConnectionsDeferred,
    /// `AUTH=server, ...` (a successful authentication).
    AuthSuccess,
}

impl SessionKind {
    /// The report's label.
    pub fn label(self) -> &'static str {
        match self {
            SessionKind::NoMail => "did not issue MAIL/EXPN/VRFY/ETRN",
            SessionKind::LostInput => "lost input channel",
            SessionKind::Timeout => "timeout",
            SessionKind::ConnectionsDeferred => "connections deferred (rate throttle)",
            SessionKind::AuthSuccess => "AUTH success",
        }
    }
}

/// Why something was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'a> {
    /// `Relaying denied` (also `... Proper authentication required.`).
    RelayDenied,
    /// `User unknown`.
    UnknownUser,
    /// `Mailbox disabled for this recipient`, `Mailbox temporarily
    /// disabled` (a disabled virtual user).
    DisabledUser,
    /// An access_db rule (`Access denied`, sendmail's REJECT); the key is the
    /// item looked up (`arg1`, or the address for check_relay).
    Access(&'a str),
    /// `Rejected: ... listed at ZONE`.
    Dnsbl(&'a str),
    /// `Temporary lookup failure of ... at ZONE`.
    DnsblTempFail(&'a str),
    /// A header rule (mxgate `header rule NAME: reject=`, sendmail's
    /// `ruleset=check_HEADER`); the name.
    HeaderRule(&'a str),
    /// A body rule (sendmail has none of its own; mxgate may log one).
    BodyRule,
    /// A milter (`Milter: ... reject=` / `milter=NAME`); the name if given.
    Milter(&'a str),
    /// `Message size exceeds ...` (552 5.2.3 / 5.3.4).
    Size,
    /// `Connection rate limit exceeded` (sendmail ratecontrol).
    RateLimit,
    /// `Too many open connections` / `Too many sessions` / from one host.
    ConnectionLimit,
    /// `Too many recipients` / `Too many hops`.
    RecipientLimit,
    /// `possible SMTP attack` (too many bad or AUTH commands).
    CommandLimit,
    /// Load shedding: `rejecting new messages` / `452 4.3.1`.
    Load,
    /// `STARTTLS=server, error` ...
    TlsFailure,
    /// `AUTH failure (...)`.
    AuthFailure,
    /// `530 5.7.0 Authentication required`.
    AuthRequired,
    /// Sender domain does not resolve / not qualified (5.1.8, 5.5.4).
    SenderDomain,
    /// The client's PTR could not be looked up (`Relaying temporarily
    /// denied. Cannot resolve PTR record`); `Relaying denied. IP name
    /// lookup failed/possibly forged` count as relay denied.
    ClientDns,
    /// A bogus HELO name.
    Helo,
    /// Talking before the greeting (greet_pause).
    PreGreeting,
    /// A refusal whose text names none of the above: the reply without the
    /// address, as logged.
    Other(&'a str),
}

impl Reason<'_> {
    /// The category label, and the detail (zone, key, rule) where there is one.
    pub fn label(&self) -> (&'static str, Option<&str>) {
        match *self {
            Reason::RelayDenied => ("relay denied", None),
            Reason::UnknownUser => ("unknown user", None),
            Reason::DisabledUser => ("disabled user", None),
            Reason::Access(k) => ("access rule", Some(k)),
            Reason::Dnsbl(z) => ("dnsbl", Some(z)),
            Reason::DnsblTempFail(z) => ("dnsbl lookup failed", Some(z)),
            Reason::HeaderRule(r) => ("header rule", Some(r)),
            Reason::BodyRule => ("body rule", None),
            Reason::Milter(m) => ("milter", Some(m)),
            Reason::Size => ("message size", None),
            Reason::RateLimit => ("connection rate limit", None),
            Reason::ConnectionLimit => ("connection limit", None),
            Reason::RecipientLimit => ("recipient/hop limit", None),
            Reason::CommandLimit => ("command limit (possible SMTP attack)", None),
            Reason::Load => ("load shedding", None),
            Reason::TlsFailure => ("TLS failure", None),
            Reason::AuthFailure => ("AUTH failure", None),
            Reason::AuthRequired => ("AUTH required", None),
            Reason::SenderDomain => ("sender domain", None),
            Reason::ClientDns => ("client DNS", None),
            Reason::Helo => ("HELO", None),
            Reason::PreGreeting => ("pre-greeting traffic", None),
            Reason::Other(t) => ("other", Some(t)),
        }
    }
}

/// Parse one line (without its newline).
pub fn parse(line: &str) -> Result<Line<'_>, Error> {
    let line = line.trim_end_matches(['\r', '\n']);
    let line = strip_pri(line);
    let (when, rest) = match Partial::parse(line) {
        Some((p, rest)) => (When::Syslog(p), rest),
        None => match Stamp::parse_rfc3339(line) {
            Some((s, rest)) => (When::Full(s), rest),
            None => return Err(Error::NoStamp),
        },
    };
    let (host, rest) = rest.split_once(' ').ok_or(Error::NoTag)?;
    let (tag, text) = rest.split_once(": ").ok_or(Error::NoTag)?;
    if host.is_empty() || tag.is_empty() || tag.contains(' ') {
        return Err(Error::NoTag);
    }
    let program = match tag.find('[') {
        Some(i) => tag.get(..i).unwrap_or(tag),
        None => tag,
    };
    let (qid, text) = split_qid(text);
    Ok(Line {
        when,
        host,
        program,
        qid,
        event: event(text),
    })
}

fn strip_pri(line: &str) -> &str {
    if let Some(r) = line.strip_prefix('<')
        && let Some(end) = r.find('>')
        && end <= 3
        && r.get(..end)
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    {
        return r.get(end + 1..).unwrap_or(line);
    }
    line
}

/// A leading queue id (`6B3LQK000022748: `, `u4B2a1Zq012345: `) or
/// `NOQUEUE: `.
fn split_qid(text: &str) -> (Option<&str>, &str) {
    if let Some(rest) = text.strip_prefix("NOQUEUE: ") {
        return (None, rest);
    }
    if let Some((word, rest)) = text.split_once(": ")
        && (6..=24).contains(&word.len())
        && word.bytes().all(|b| b.is_ascii_alphanumeric())
        && word.bytes().any(|b| b.is_ascii_digit())
    {
        return (Some(word), rest);
    }
    (None, text)
}

/// The value of `key=` (given with its `=`): at the start or after `, `,
/// up to the next `, `.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = if text.starts_with(key) {
        key.len()
    } else {
        let mut from = 0;
        loop {
            let i = text.get(from..)?.find(key)? + from;
            if text.get(..i)?.ends_with(", ") {
                break i + key.len();
            }
            from = i + 1;
        }
    };
    let v = text.get(start..)?;
    Some(match v.find(", ") {
        Some(e) => v.get(..e).unwrap_or(v),
        None => v,
    })
}

/// The value of `key=` to the end of the line (`stat=`, `reject=`).
fn tail<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    if let Some(v) = text.strip_prefix(key) {
        return Some(v);
    }
    let mut from = 0;
    loop {
        let i = text.get(from..)?.find(key)? + from;
        let before = text.get(..i)?;
        if before.ends_with(", ") || before.ends_with(": ") {
            return text.get(i + key.len()..);
        }
        from = i + 1;
    }
}

/// `relay=name [ip]` (up to the `]`), `relay=[ip]`, `relay=name`.
fn relay(text: &str) -> Relay<'_> {
    let Some(i) = text.find("relay=") else {
        return Relay::default();
    };
    let v = text.get(i + 6..).unwrap_or("");
    let v = match v.find(']') {
        Some(e) if !v.get(..e).unwrap_or("").contains(", ") => v.get(..=e).unwrap_or(v),
        _ => match v.find([',', ':']) {
            Some(e) => v.get(..e).unwrap_or(v),
            None => v,
        },
    };
    match v.find('[') {
        Some(b) => Relay {
            name: v.get(..b).unwrap_or("").trim(),
            ip: v.get(b + 1..v.len().saturating_sub(1)).unwrap_or(""),
        },
        None => Relay { name: v, ip: "" },
    }
}

fn strip_angle(a: &str) -> &str {
    a.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(a)
}

/// `HH:MM:SS` or `D+HH:MM:SS` → seconds.
pub fn duration(s: &str) -> Option<u64> {
    let (days, hms) = match s.split_once('+') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, s),
    };
    let mut it = hms.split(':');
    let h: u64 = it.next()?.parse().ok()?;
    let m: u64 = it.next()?.parse().ok()?;
    let sec: u64 = it.next()?.parse().ok()?;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

fn event(text: &str) -> Event<'_> {
    if let Some(reply) = tail(text, "reject=") {
        return refusal(text, reply);
    }
    if text.starts_with("from=") {
        let size = field(text, "size=").and_then(|s| s.parse().ok());
        if text.contains(", discarded") {
            return Event::Discarded { size };
        }
        return Event::Received {
            from: strip_angle(field(text, "from=").unwrap_or("")),
            size: size.unwrap_or(0),
            nrcpts: field(text, "nrcpts=")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            daemon: field(text, "daemon="),
            relay: relay(text),
            quarantine: field(text, "quarantine="),
        };
    }
    if text.starts_with("to=") && !text.contains(", delay=") && text.ends_with("dropped") {
        // mxgate's second line for a double bounce that could not be sent:
        // the recipient's own line (with delay=) already counted it.
        return Event::Other;
    }
    if text.starts_with("to=") {
        let stat = tail(text, "stat=").unwrap_or("");
        let status = match field(text, "dsn=").and_then(|d| d.bytes().next()) {
            Some(b'2') => Status::Sent,
            Some(b'4') => Status::Deferred,
            Some(b'5') => Status::Bounced,
            _ if stat.starts_with("Sent") => Status::Sent,
            _ if stat.starts_with("Deferred") => Status::Deferred,
            _ => Status::Bounced,
        };
        return Event::Delivery {
            to: field(text, "to=").unwrap_or(""),
            delay: field(text, "delay=").and_then(duration),
            mailer: field(text, "mailer="),
            relay: relay(text),
            status,
            stat,
        };
    }
    if let Some((dsn_qid, rest)) = text.split_once(": ")
        && rest.starts_with("DSN: ")
    {
        return Event::DsnCreated { dsn_qid };
    }
    if text == "discarded" || text.starts_with("discarded") {
        return Event::Discarded { size: None };
    }
    if let Some(reason) = text.strip_prefix("quarantine=") {
        return Event::Quarantined { reason };
    }
    if text.starts_with("AUTH failure") {
        return Event::Refused {
            reason: Reason::AuthFailure,
            relay: relay(text),
        };
    }
    if text.contains(": possible SMTP attack: ") {
        return Event::Refused {
            reason: Reason::CommandLimit,
            relay: host_ip(text.split(": possible").next().unwrap_or("")),
        };
    }
    if text.starts_with("AUTH=server,") {
        return session(SessionKind::AuthSuccess, text);
    }
    if text.starts_with("STARTTLS=server") && (text.contains("error") || text.contains("failed")) {
        return Event::Refused {
            reason: Reason::TlsFailure,
            relay: relay(text),
        };
    }
    if text.contains("due to pre-greeting traffic") {
        // `rejecting commands from NAME [IP] due to pre-greeting traffic after N ...`
        let who = text
            .strip_prefix("rejecting commands from ")
            .and_then(|r| r.split_once(" due to"))
            .map(|(w, _)| w)
            .unwrap_or("");
        return Event::Refused {
            reason: Reason::PreGreeting,
            relay: host_ip(who),
        };
    }
    if let Some(i) = text.find(" did not issue MAIL/EXPN/VRFY/ETRN") {
        return Event::Session {
            kind: SessionKind::NoMail,
            relay: host_ip(text.get(..i).unwrap_or("")),
        };
    }
    if let Some(r) = text.strip_prefix("lost input channel from ") {
        let who = r.split(" to ").next().unwrap_or(r);
        return Event::Session {
            kind: SessionKind::LostInput,
            relay: host_ip(who),
        };
    }
    if text.starts_with("timeout waiting for input") || text.contains(": timeout exceeded") {
        return session(SessionKind::Timeout, text);
    }
    if let Some(r) = text.strip_prefix("rejecting connections on daemon ") {
        // sendmail: `... MTA: load average: 25` (RefuseLA) or
        // `... MTA: 12 children, max 12` (MaxDaemonChildren).
        let reason = if r.contains("load average") {
            Reason::Load
        } else {
            Reason::ConnectionLimit
        };
        return Event::Refused {
            reason,
            relay: Relay::default(),
        };
    }
    if text.starts_with("deferring connections on daemon") {
        return session(SessionKind::ConnectionsDeferred, text);
    }
    Event::Other
}

fn session(kind: SessionKind, text: &str) -> Event<'_> {
    Event::Session {
        kind,
        relay: relay(text),
    }
}

/// `name [ip]`, `[ip]` or `name` as free text → a relay.
fn host_ip(s: &str) -> Relay<'_> {
    let s = s.trim();
    let s = s.strip_prefix("relay=").unwrap_or(s);
    match (s.find('['), s.rfind(']')) {
        (Some(b), Some(e)) if b < e => Relay {
            name: s.get(..b).unwrap_or("").trim(),
            ip: s.get(b + 1..e).unwrap_or(""),
        },
        _ => Relay { name: s, ip: "" },
    }
}

fn refusal<'a>(text: &'a str, reply: &'a str) -> Event<'a> {
    Event::Refused {
        reason: classify(text, reply),
        relay: relay(text),
    }
}

/// Classify a refusal from the line's text (for `ruleset=`, `arg1=`,
/// `arg2=`, `header rule`, `Milter`) and its reply.
pub fn classify<'a>(text: &'a str, reply: &'a str) -> Reason<'a> {
    let ruleset = field(text, "ruleset=");
    let arg1 = field(text, "arg1=").unwrap_or("");
    // The reply without code, enhanced status and `<addr>... `.
    let words = strip_code(reply);
    let words = match words.find("... ") {
        Some(i) if words.starts_with('<') => words.get(i + 4..).unwrap_or(words),
        _ => words,
    };
    let has = |s: &str| words.contains(s);
    if text.starts_with("Milter") || text.contains("milter=") {
        let name = field(text, "milter=").unwrap_or("");
        return Reason::Milter(name);
    }
    if let Some(i) = text.find("header rule ") {
        let r = text.get(i + 12..).unwrap_or("");
        let name = r.split(": reject=").next().unwrap_or(r);
        return Reason::HeaderRule(name);
    }
    if text.contains("body rule ") {
        return Reason::BodyRule;
    }
    if has("Cannot resolve PTR") {
        return Reason::ClientDns;
    }
    if has("Relaying denied") {
        return Reason::RelayDenied;
    }
    if has("User unknown") {
        return Reason::UnknownUser;
    }
    if has("Mailbox disabled") || has("Mailbox temporarily disabled") {
        return Reason::DisabledUser;
    }
    if let Some(i) = words.find(" listed at ") {
        let zone = words.get(i + 11..).unwrap_or("");
        return Reason::Dnsbl(zone.trim_end_matches('.'));
    }
    if let Some(i) = words.find("Temporary lookup failure of ") {
        let r = words.get(i..).unwrap_or("");
        let zone = r.rsplit(" at ").next().unwrap_or("");
        return Reason::DnsblTempFail(zone.trim_end_matches('.'));
    }
    if has("size exceeds") || has("Message too large") || reply_status(reply) == "5.3.4" {
        return Reason::Size;
    }
    if has("rate limit") {
        return Reason::RateLimit;
    }
    if has("Too many open connections")
        || has("Too many sessions")
        || has("Too many connections")
        || has("too many connections")
    {
        return Reason::ConnectionLimit;
    }
    if has("Too many recipients") || has("Too many hops") {
        return Reason::RecipientLimit;
    }
    if text.contains("possible SMTP attack") || has("Too many ") {
        return Reason::CommandLimit;
    }
    if text.contains("rejecting new messages") || reply_status(reply) == "4.3.1" {
        return Reason::Load;
    }
    if has("Authentication required") {
        return Reason::AuthRequired;
    }
    if has("Domain of sender address") || has("Real domain name required") {
        return Reason::SenderDomain;
    }
    if has("HELO") && ruleset != Some("check_rcpt") {
        return Reason::Helo;
    }
    if has("Access denied") {
        let key = match ruleset {
            Some("check_relay") => field(text, "arg2=").unwrap_or(arg1),
            _ => arg1,
        };
        return Reason::Access(strip_angle(key));
    }
    Reason::Other(other_text(reply))
}

/// `550 5.7.1 text` → `text`.
fn strip_code(reply: &str) -> &str {
    let mut r = reply;
    if r.len() > 3 && r.as_bytes().iter().take(3).all(u8::is_ascii_digit) {
        r = r.get(3..).unwrap_or(r).trim_start_matches([' ', '-']);
    }
    let st = reply_status(reply);
    if !st.is_empty() {
        r = r.strip_prefix(st).unwrap_or(r).trim_start();
    }
    r
}

/// The enhanced status of a reply (`5.7.1`), or `""`.
fn reply_status(reply: &str) -> &str {
    let r = reply.get(4..).unwrap_or("");
    let w = r.split(' ').next().unwrap_or("");
    let b = w.as_bytes();
    if b.len() >= 5
        && b.first().is_some_and(|c| matches!(c, b'2' | b'4' | b'5'))
        && b.get(1) == Some(&b'.')
    {
        w
    } else {
        ""
    }
}

/// The reply as a category key: the address (`<a@b>... `) removed.
fn other_text(reply: &str) -> &str {
    match (reply.find(" <"), reply.find(">... ")) {
        (Some(_), Some(e)) => reply.get(e + 5..).unwrap_or(reply),
        _ => reply,
    }
}

#[cfg(test)]
mod tests;
