//! Delivery status notifications: RFC 3464 bounces, delay warnings and
//! success reports, laid out as sendmail 8.17 writes them (spec §10).
//!
//! Contract: [`compose`] is a pure function from a [`Report`] (what
//! happened, to whom, the original message) to the content of a new message
//! (headers and body, CRLF line ends): `From: Mail Delivery Subsystem
//! <MAILER-DAEMON@$j>`, a `multipart/report; report-type=delivery-status`
//! with (1) a human-readable `text/plain` part, (2) a
//! `message/delivery-status` part (per-message fields, then one block per
//! recipient: `Original-Recipient` when ORCPT was given, `Final-Recipient`,
//! `Action`, `Status`, `Remote-MTA`, `Diagnostic-Code`,
//! `Last-Attempt-Date`, `Will-Retry-Until` for delays) and (3) the original
//! message as `message/rfc822` (`RET=FULL`, the default for failures) or its
//! header as `text/rfc822-headers` (`RET=HDRS`, delay warnings and success
//! reports, and messages over [`MAX_RETURN_SIZE`]). The envelope sender of a
//! DSN is always `<>`; who receives it is the queue's decision
//! ([`notify_allows`], double bounces). Nothing here does I/O.

use crate::proto::command::Notify;

/// Above this size the original is returned as headers only (sendmail's
/// `MaxMessageSize`-independent default is to return the whole message;
/// we cap it so a bounce of a huge message is not huge).
pub const MAX_RETURN_SIZE: usize = 10 * 1024 * 1024;

/// Which notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Permanent failure (or queue timeout): `Action: failed`.
    Failure,
    /// Still trying after `Timeout.queuewarn`: `Action: delayed`.
    Delay,
    /// Delivered and NOTIFY=SUCCESS was asked for: `Action: delivered`.
    Success,
}

impl Kind {
    /// The `Action:` value.
    pub fn action(self) -> &'static str {
        match self {
            Kind::Failure => "failed",
            Kind::Delay => "delayed",
            Kind::Success => "delivered",
        }
    }

    /// The NOTIFY keyword that asks for this kind.
    pub fn notify_word(self) -> &'static str {
        match self {
            Kind::Failure => "FAILURE",
            Kind::Delay => "DELAY",
            Kind::Success => "SUCCESS",
        }
    }
}

/// Does a recipient's `NOTIFY=` ask for this kind of report? Without
/// NOTIFY, failures and delays are reported, successes are not (RFC 3461
/// §4.1, sendmail's default); `NEVER` asks for nothing.
pub fn notify_allows(notify: Option<Notify>, kind: Kind) -> bool {
    match notify {
        None => matches!(kind, Kind::Failure | Kind::Delay),
        Some(n) => match kind {
            Kind::Failure => n.failure,
            Kind::Delay => n.delay,
            Kind::Success => n.success,
        },
    }
}

/// One recipient in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `ORCPT=` as given (`rfc822;user@example.org`), if any.
    pub original: Option<String>,
    /// The recipient address, without angle brackets.
    pub address: String,
    /// RFC 3463 status.
    pub status: String,
    /// The host that answered (`mx.example.org`), if any.
    pub remote_mta: Option<String>,
    /// The reply or our diagnostic text.
    pub diagnostic: String,
    /// When it was last tried (seconds since the epoch).
    pub last_attempt: u64,
}

/// Whether to return the whole message or its header (`RET=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// `RET=FULL`.
    Full,
    /// `RET=HDRS`.
    Headers,
}

impl Return {
    /// From the envelope's `ret` fact (absent = full).
    pub fn from_param(ret: Option<&str>) -> Return {
        match ret {
            Some(r) if r.eq_ignore_ascii_case("HDRS") => Return::Headers,
            _ => Return::Full,
        }
    }
}

/// Everything a report says.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// Failure, delay or success.
    pub kind: Kind,
    /// `$j`, the reporting MTA.
    pub hostname: &'a str,
    /// The recipient of the report (the original sender, `owner-LIST`, or
    /// postmaster for a double bounce), without angle brackets.
    pub to: &'a str,
    /// The original message's queue id.
    pub queue_id: &'a str,
    /// `ENVID=` of the original, if given.
    pub envid: Option<&'a str>,
    /// The client the original came from (`client.example [192.0.2.1]`), if known.
    pub received_from: Option<&'a str>,
    /// Arrival time of the original.
    pub arrival: u64,
    /// Now (the `Date:` of the report).
    pub now: u64,
    /// For delays: when we give up.
    pub retry_until: Option<u64>,
    /// For delays: the warning age as text (`4 hours`).
    pub warn_after: &'a str,
    /// The recipients covered.
    pub recipients: &'a [Recipient],
    /// RET.
    pub ret: Return,
    /// The original message (headers and body).
    pub original: &'a [u8],
}

/// `Tue, 24 Nov 2026 00:30:13 +0000`.
pub fn date(secs: u64) -> String {
    crate::spool::ids::rfc5322_date(secs)
}

/// The header block of a message (up to and including the empty line, or
/// all of it when there is no body).
pub fn header_of(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|i| i + 1));
    match end {
        Some(e) => message.get(..e).unwrap_or(message),
        None => message,
    }
}

/// The subject line sendmail uses.
pub fn subject(kind: Kind, warn_after: &str) -> String {
    match kind {
        Kind::Failure => "Returned mail: see transcript for details".into(),
        Kind::Delay => format!("Warning: could not send message for past {warn_after}"),
        Kind::Success => "Return receipt".into(),
    }
}

/// Compose the report (see the module doc).
pub fn compose(r: &Report<'_>) -> Vec<u8> {
    let boundary = format!("{}.{}/{}", r.queue_id, r.now, r.hostname);
    let mut m = String::new();
    m += &format!(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@{}>\r\n",
        r.hostname
    );
    m += &format!("To: <{}>\r\n", r.to);
    m += &format!("Subject: {}\r\n", subject(r.kind, r.warn_after));
    m += &format!("Date: {}\r\n", date(r.now));
    m += &format!("Message-Id: <{}.{}@{}>\r\n", r.now, r.queue_id, r.hostname);
    m += "MIME-Version: 1.0\r\n";
    m += &format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n"
    );
    m += &format!(
        "Auto-Submitted: auto-generated ({})\r\n",
        match r.kind {
            Kind::Failure => "failure",
            Kind::Delay => "warning",
            Kind::Success => "return-receipt",
        }
    );
    m += "\r\nThis is a MIME-encapsulated message\r\n\r\n";

    // 1. The human-readable part.
    m += &format!("--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    m += &format!(
        "The original message was received at {}\r\n",
        date(r.arrival)
    );
    if let Some(from) = r.received_from {
        m += &format!("from {from}\r\n");
    }
    m += "\r\n";
    match r.kind {
        Kind::Failure => {
            m += "   ----- The following addresses had permanent fatal errors -----\r\n";
        }
        Kind::Delay => {
            m += &format!(
                "   ----- Transcript of session follows -----\r\n\
                 Warning: message still undelivered after {}\r\n\
                 Will keep trying until message is {} old\r\n\r\n\
                 \x20  ----- The following addresses had transient non-fatal errors -----\r\n",
                r.warn_after,
                r.retry_until
                    .map(|u| duration_words(u.saturating_sub(r.arrival)))
                    .unwrap_or_default()
            );
        }
        Kind::Success => {
            m += "   ----- The following addresses had successful delivery notifications -----\r\n";
        }
    }
    for rc in r.recipients {
        m += &format!("<{}>\r\n", rc.address);
        m += &format!(
            "    ({}{})\r\n",
            one_line(&rc.diagnostic),
            rc.remote_mta
                .as_deref()
                .map(|h| format!(" from {h}"))
                .unwrap_or_default()
        );
    }
    if r.kind == Kind::Failure {
        m += "\r\n   ----- Transcript of session follows -----\r\n";
        for rc in r.recipients {
            m += &format!("{}\r\n", one_line(&rc.diagnostic));
        }
    }
    m += "\r\n";

    // 2. The machine-readable part.
    m += &format!("--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n");
    m += &format!("Reporting-MTA: dns; {}\r\n", r.hostname);
    if let Some(e) = r.envid {
        m += &format!("Original-Envelope-Id: {}\r\n", one_line(e));
    }
    if let Some(from) = r.received_from {
        let name = from.split(' ').next().unwrap_or(from);
        m += &format!("Received-From-MTA: DNS; {}\r\n", one_line(name));
    }
    m += &format!("Arrival-Date: {}\r\n", date(r.arrival));
    for rc in r.recipients {
        m += "\r\n";
        if let Some(o) = &rc.original {
            m += &format!("Original-Recipient: {}\r\n", one_line(o));
        }
        m += &format!("Final-Recipient: RFC822; {}\r\n", one_line(&rc.address));
        m += &format!("Action: {}\r\n", r.kind.action());
        m += &format!("Status: {}\r\n", one_line(&rc.status));
        if let Some(h) = &rc.remote_mta {
            m += &format!("Remote-MTA: DNS; {}\r\n", one_line(h));
        }
        if !rc.diagnostic.is_empty() && r.kind != Kind::Success {
            m += &format!("Diagnostic-Code: SMTP; {}\r\n", one_line(&rc.diagnostic));
        }
        m += &format!("Last-Attempt-Date: {}\r\n", date(rc.last_attempt));
        if r.kind == Kind::Delay
            && let Some(u) = r.retry_until
        {
            m += &format!("Will-Retry-Until: {}\r\n", date(u));
        }
    }
    m += "\r\n";

    // 3. The original (or its header).
    let full =
        r.kind == Kind::Failure && r.ret == Return::Full && r.original.len() <= MAX_RETURN_SIZE;
    let mut out = m.into_bytes();
    if full {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(&crlf(r.original));
    } else {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(&crlf(header_of(r.original)));
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// `4 hours`, `5 days`, `90 minutes`.
pub fn duration_words(secs: u64) -> String {
    let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if secs >= 86_400 && secs.is_multiple_of(86_400) {
        plural(secs / 86_400, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

/// No line breaks inside a field.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Bare LF → CRLF (queue files keep CRLF already; this guards odd input).
fn crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 16);
    let mut prev = 0u8;
    for &c in b {
        if c == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_defaults_and_keywords() {
        assert!(notify_allows(None, Kind::Failure));
        assert!(notify_allows(None, Kind::Delay));
        assert!(!notify_allows(None, Kind::Success));
        let n = |k: &str| crate::spool::envelope::parse_notify(k);
        assert!(!notify_allows(n("NEVER"), Kind::Failure));
        assert!(notify_allows(n("SUCCESS,FAILURE"), Kind::Success));
        assert!(!notify_allows(n("SUCCESS,FAILURE"), Kind::Delay));
        assert!(notify_allows(n("delay"), Kind::Delay));
    }

    #[test]
    fn words_and_headers() {
        assert_eq!(duration_words(4 * 3600), "4 hours");
        assert_eq!(duration_words(5 * 86_400), "5 days");
        assert_eq!(duration_words(60), "1 minute");
        assert_eq!(
            header_of(b"A: b\r\nC: d\r\n\r\nbody\r\n"),
            b"A: b\r\nC: d\r\n"
        );
        assert_eq!(date(1_795_480_213), "Tue, 24 Nov 2026 00:30:13 +0000");
        assert_eq!(
            subject(Kind::Delay, "4 hours"),
            "Warning: could not send message for past 4 hours"
        );
    }

    fn report<'a>(kind: Kind, rcpts: &'a [Recipient], ret: Return) -> Report<'a> {
        Report {
            kind,
            hostname: "gw.example.com",
            to: "sender@example.org",
            queue_id: "6AO0UD000007581",
            envid: Some("env-1"),
            received_from: Some("client.test [127.0.0.1]"),
            arrival: 1_795_480_213,
            now: 1_795_480_213 + 4 * 3600,
            retry_until: Some(1_795_480_213 + 5 * 86_400),
            warn_after: "4 hours",
            recipients: rcpts,
            ret,
            original: b"Subject: hello\r\nFrom: <sender@example.org>\r\n\r\nsecret body\r\n",
        }
    }

    fn rcpt() -> Recipient {
        Recipient {
            original: Some("rfc822;Bob@example.com".into()),
            address: "bob@example.com".into(),
            status: "5.1.1".into(),
            remote_mta: Some("mx.example.com".into()),
            diagnostic: "550 5.1.1 <bob@example.com>... User unknown".into(),
            last_attempt: 1_795_480_213 + 60,
        }
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn failure_report_has_the_three_parts_and_fields() {
        let rc = [rcpt()];
        let t = text(&compose(&report(Kind::Failure, &rc, Return::Full)));
        assert!(t.contains("From: Mail Delivery Subsystem <MAILER-DAEMON@gw.example.com>\r\n"));
        assert!(t.contains("Subject: Returned mail: see transcript for details\r\n"));
        assert!(t.contains("report-type=delivery-status"));
        assert!(t.contains("Reporting-MTA: dns; gw.example.com\r\n"));
        assert!(t.contains("Original-Envelope-Id: env-1\r\n"));
        assert!(t.contains("Original-Recipient: rfc822;Bob@example.com\r\n"));
        assert!(t.contains("Final-Recipient: RFC822; bob@example.com\r\n"));
        assert!(t.contains("Action: failed\r\nStatus: 5.1.1\r\n"));
        assert!(t.contains("Remote-MTA: DNS; mx.example.com\r\n"));
        assert!(
            t.contains("Diagnostic-Code: SMTP; 550 5.1.1 <bob@example.com>... User unknown\r\n")
        );
        assert!(!t.contains("Will-Retry-Until"));
        assert!(t.contains("Content-Type: message/rfc822\r\n\r\nSubject: hello"));
        assert!(t.contains("secret body"));
        assert!(t.ends_with("--\r\n"));
        // Every line ends in CRLF.
        assert!(!t.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn ret_hdrs_and_delay_return_only_headers() {
        let rc = [rcpt()];
        let t = text(&compose(&report(Kind::Failure, &rc, Return::Headers)));
        assert!(t.contains("Content-Type: text/rfc822-headers"));
        assert!(!t.contains("secret body"));
        let t = text(&compose(&report(Kind::Delay, &rc, Return::Full)));
        assert!(t.contains("Subject: Warning: could not send message for past 4 hours"));
        assert!(t.contains("Action: delayed"));
        assert!(t.contains("Will-Retry-Until: "));
        assert!(t.contains("Will keep trying until message is 5 days old"));
        assert!(!t.contains("secret body"));
        let t = text(&compose(&report(Kind::Success, &rc, Return::Full)));
        assert!(t.contains("Action: delivered"));
        assert!(!t.contains("Diagnostic-Code"));
    }

    #[test]
    fn dsn_parses_as_multipart_report() {
        use mail_parser::{MessageParser, MimeHeaders, PartType};
        let rc = [rcpt()];
        let bytes = compose(&report(Kind::Failure, &rc, Return::Full));
        let msg = MessageParser::default().parse(&bytes).unwrap();
        let ct = msg.content_type().unwrap();
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(
            msg.subject(),
            Some("Returned mail: see transcript for details")
        );
        let kinds: Vec<String> = msg
            .parts
            .iter()
            .skip(1)
            .filter_map(|p| {
                p.content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            })
            .collect();
        assert!(kinds.contains(&"text/plain".to_string()), "{kinds:?}");
        assert!(
            kinds.contains(&"message/delivery-status".to_string()),
            "{kinds:?}"
        );
        assert!(kinds.contains(&"message/rfc822".to_string()), "{kinds:?}");
        let inner = msg
            .parts
            .iter()
            .find_map(|p| match &p.body {
                PartType::Message(m) => Some(m.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(inner.subject(), Some("hello"));
    }
}
