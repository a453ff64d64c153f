//! The SMTP/LMTP client session, sans I/O: the delivery side of [`super::server`].
//!
//! Contract: the driver connects, then feeds every byte the peer sends to
//! [`ClientSession::receive`], writes [`ClientSession::take_output`] to the
//! peer, and acts on [`ClientSession::next_event`]:
//!
//! * [`Event::StartTls`]: the peer said `220` to `STARTTLS`; do the TLS
//!   handshake and call [`ClientSession::tls_established`] (the session then
//!   sends `EHLO` again, as RFC 3207 requires).
//! * [`Event::Ready`]: greeting, `EHLO`/`LHLO`/`HELO`, `STARTTLS` and `AUTH` are
//!   done; call [`ClientSession::send_mail`] for a transaction, or
//!   [`ClientSession::quit`].
//! * [`Event::Done`]: the transaction ended; one [`RcptStatus`] per recipient
//!   in transaction order. The session is ready for another transaction
//!   (connection reuse) without another `Ready`.
//! * [`Event::Failed`]: the session cannot go on (refused greeting, `421`,
//!   garbage from the peer). Recipients of an open transaction that are not
//!   settled yet are in the event as [`RcptStatus::TryNextHost`].
//! * [`Event::Closed`]: `QUIT` answered.
//!
//! [`ClientSession::waiting`] names the reply being waited for so the
//! driver can pick the RFC 5321 §4.5.3.2 timeout; on a timeout or I/O error
//! the driver calls [`ClientSession::abort`] for the per-recipient results.
//!
//! Rules (each tested below): `EHLO` refused (not `421`) → `HELO`; the plain
//! `smtp` mailer ([`Mode::Smtp`]) says `EHLO` only when the greeting has the
//! word `ESMTP` in it, as sendmail's `esmtp_check` does, and `HELO`
//! otherwise; [`Mode::Lmtp`] says `LHLO`
//! and reads one reply per accepted recipient after the final dot. MAIL
//! parameters are sent only when offered: `SIZE=`, `BODY=8BITMIME`,
//! `SMTPUTF8`, `RET=`/`ENVID=` (DSN); RCPT gets `NOTIFY=`/`ORCPT=` with DSN.
//! With PIPELINING, MAIL, every RCPT and DATA go in one write and replies are
//! matched in order. A `5xx` to MAIL fails every recipient, a `4xx` defers
//! every recipient; a RCPT `5xx`/`4xx` settles that recipient; no accepted
//! recipient → no message content (RSET, or a lone `.` if a pipelining peer
//! said 354 anyway); a DATA or final-dot `4xx`/`5xx` applies to every accepted
//! recipient. `421` anywhere → [`Event::Failed`], unsettled recipients try the
//! next host. An AUTH `5xx` goes on unauthenticated (as sendmail does; the
//! peer decides what it relays), an AUTH `4xx` is a session failure. A
//! refused STARTTLS goes on in plain text (opportunistic TLS).
//! Content goes through [`dot_stuff`], the transparency procedure made safe
//! for any line ending: every bare CR and bare LF becomes CRLF, lines over
//! [`LINE_LIMIT`] octets are folded with `<CR><LF><SPACE>` (Postfix's
//! `smtp_line_length_limit`), a dot is doubled at the start of every line,
//! and a message without a final CRLF gets one. So no `<line end>.<line
//! end>` can be sent before the real end, whatever the next hop takes for a
//! line end (SMTP smuggling).

use super::reply::{EnhancedStatus, Reply};
use base64::Engine;
use std::collections::VecDeque;

/// Which greeting and final-reply rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ESMTP: `EHLO`, falling back to `HELO` when refused (`esmtp`, `smtp8`, `relay`, `dsmtp`).
    Esmtp,
    /// Plain SMTP (sendmail's `smtp` mailer): `EHLO` when the greeting says
    /// `ESMTP` (any line, upper case, as sendmail's `esmtp_check`), with the
    /// same fallback to `HELO`; otherwise `HELO`.
    Smtp,
    /// LMTP (RFC 2033): `LHLO`, one final reply per accepted recipient.
    Lmtp,
}

/// Whether to ask for TLS when the peer offers STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsWish {
    /// Use STARTTLS when offered; go on in plain text if it is refused.
    Opportunistic,
    /// Never send STARTTLS.
    Never,
}

/// Credentials for AUTH PLAIN (from the `authinfo` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Authorization identity (`U:` when `I:` is also given); empty = same as `authcid`.
    pub authzid: String,
    /// Authentication identity (`I:`, or `U:` alone).
    pub authcid: String,
    /// Password (`P:`).
    pub password: String,
}

/// Session settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Greeting rules.
    pub mode: Mode,
    /// Our name for `EHLO`/`HELO`/`LHLO` (`$j`).
    pub helo_name: String,
    /// STARTTLS wish.
    pub tls: TlsWish,
    /// AUTH PLAIN credentials, when the peer is a smart host we log in to.
    pub auth: Option<Credentials>,
}

/// What the peer offered in its EHLO/LHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The greeting was EHLO/LHLO and it was accepted (false after a HELO fallback).
    pub esmtp: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE was offered; the number is the peer's limit (0 = none given).
    pub size: Option<u64>,
    /// 8BITMIME.
    pub eightbitmime: bool,
    /// STARTTLS.
    pub starttls: bool,
    /// AUTH mechanisms, upper case.
    pub auth: Vec<String>,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// SMTPUTF8.
    pub smtputf8: bool,
    /// CHUNKING (BDAT); noted, not used.
    pub chunking: bool,
    /// ENHANCEDSTATUSCODES.
    pub enhanced_status_codes: bool,
}

impl Capabilities {
    /// Read the keyword lines of an EHLO/LHLO reply (the first line is the greeting).
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities {
            esmtp: true,
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eightbitmime = true,
                "STARTTLS" => caps.starttls = true,
                "AUTH" => caps.auth = words.map(|m| m.to_ascii_uppercase()).collect(),
                "DSN" => caps.dsn = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "CHUNKING" => caps.chunking = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                _ => {}
            }
        }
        caps
    }
}

/// `BODY=` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// 7-bit content (no `BODY=` parameter is sent).
    SevenBit,
    /// `BODY=8BITMIME` (sent only when the peer offers 8BITMIME).
    EightBitMime,
}

/// One recipient of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRcpt {
    /// Address without angle brackets.
    pub address: String,
    /// DSN `NOTIFY=`, sent when the peer offers DSN.
    pub notify: Option<String>,
    /// DSN `ORCPT=`, sent when the peer offers DSN.
    pub orcpt: Option<String>,
}

/// One mail transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Reverse path without angle brackets (`""` = null sender).
    pub sender: String,
    /// Body type.
    pub body: Body,
    /// DSN `RET=`.
    pub ret: Option<String>,
    /// DSN `ENVID=`.
    pub envid: Option<String>,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// Recipients, in order.
    pub recipients: Vec<TxRcpt>,
}

/// The result for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptStatus {
    /// The peer took the message for this recipient (final-dot reply).
    Accepted(Reply),
    /// A 5xx (at MAIL, RCPT, DATA or the final dot): bounce.
    Rejected(Reply),
    /// A 4xx (not 421): try again later.
    Deferred(Reply),
    /// The session broke before this recipient was settled (421, I/O error,
    /// timeout, protocol error): try the next host. The text says why.
    TryNextHost(String),
}

/// The reply the session is waiting for (to choose a timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The 220 greeting (`Timeout.initial`).
    Greeting,
    /// EHLO/HELO/LHLO (`Timeout.helo`).
    Helo,
    /// STARTTLS (`Timeout.starttls`).
    StartTls,
    /// AUTH (`Timeout.auth`).
    Auth,
    /// MAIL (`Timeout.mail`).
    Mail,
    /// RCPT (`Timeout.rcpt`).
    Rcpt,
    /// DATA's 354 (`Timeout.datainit`).
    DataInit,
    /// The reply to the final dot (`Timeout.datafinal`).
    DataFinal,
    /// RSET (`Timeout.rset`).
    Rset,
    /// QUIT (`Timeout.quit`).
    Quit,
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Do the TLS handshake, then call [`ClientSession::tls_established`].
    StartTls,
    /// The session is ready for [`ClientSession::send_mail`].
    Ready,
    /// The transaction ended: one status per recipient, in order.
    Done(Vec<RcptStatus>),
    /// The session cannot continue; close the connection.
    Failed(Failure),
}

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The peer's reply, when the failure is one (421, refused greeting).
    pub reply: Option<Reply>,
    /// A description for logs and deferral messages.
    pub text: String,
    /// Statuses of the open transaction's recipients, if one was open.
    pub recipients: Vec<RcptStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt(usize),
    Data,
    /// Final reply; LMTP: for this transaction recipient; SMTP: for all accepted.
    Final(Option<usize>),
    /// A lone dot after an unwanted 354; the reply is ignored.
    IgnoredFinal,
    Rset,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Greeting and hello exchange.
    Opening,
    /// Waiting for the driver's TLS handshake.
    Handshake,
    /// No transaction.
    Ready,
    /// A transaction is open.
    InTx,
    /// QUIT sent.
    Quitting,
    /// Over.
    Closed,
}

#[derive(Debug)]
struct Tx {
    results: Vec<Option<RcptStatus>>,
    accepted: Vec<usize>,
    /// Commands not yet sent (non-pipelined: one at a time).
    unsent: VecDeque<(Vec<u8>, Expect)>,
    /// The stuffed content, sent after 354.
    content: Vec<u8>,
    mail_failed: bool,
}

/// The client session.
#[derive(Debug)]
pub struct ClientSession {
    settings: Settings,
    phase: Phase,
    caps: Capabilities,
    /// The greeting had `ESMTP` in it (for [`Mode::Smtp`]).
    greeted_esmtp: bool,
    tls_active: bool,
    authenticated: bool,
    inbuf: Vec<u8>,
    lines: Vec<String>,
    pending: VecDeque<Expect>,
    output: Vec<u8>,
    events: VecDeque<Event>,
    tx: Option<Tx>,
    transcript: Vec<String>,
}

/// Longest reply line accepted from a peer.
const MAX_LINE: usize = 8192;

impl ClientSession {
    /// A session for a connection just opened: waiting for the greeting.
    pub fn new(settings: Settings) -> ClientSession {
        ClientSession {
            settings,
            phase: Phase::Opening,
            caps: Capabilities::default(),
            greeted_esmtp: false,
            tls_active: false,
            authenticated: false,
            inbuf: Vec::new(),
            lines: Vec::new(),
            pending: VecDeque::from([Expect::Greeting]),
            output: Vec::new(),
            events: VecDeque::new(),
            tx: None,
            transcript: Vec::new(),
        }
    }

    /// What the peer offered (after the last EHLO/LHLO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Is TLS in use (the driver called [`ClientSession::tls_established`])?
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// Did AUTH succeed?
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Commands sent and replies received, one line each (`>>> MAIL FROM:<a>`,
    /// `<<< 250 ok`), for bounce transcripts and debugging. Content is not recorded.
    pub fn transcript(&self) -> &[String] {
        &self.transcript
    }

    /// The reply being waited for, if any.
    pub fn waiting(&self) -> Option<Wait> {
        Some(match self.pending.front()? {
            Expect::Greeting => Wait::Greeting,
            Expect::Ehlo | Expect::Helo => Wait::Helo,
            Expect::StartTls => Wait::StartTls,
            Expect::Auth => Wait::Auth,
            Expect::Mail => Wait::Mail,
            Expect::Rcpt(_) => Wait::Rcpt,
            Expect::Data => Wait::DataInit,
            Expect::Final(_) | Expect::IgnoredFinal => Wait::DataFinal,
            Expect::Rset => Wait::Rset,
            Expect::Quit => Wait::Quit,
        })
    }

    /// Bytes to write to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The next event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Feed bytes from the peer (any chunking).
    pub fn receive(&mut self, data: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        self.inbuf.extend_from_slice(data);
        while let Some(pos) = self.inbuf.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            self.line(line);
            if self.phase == Phase::Closed {
                self.inbuf.clear();
                return;
            }
        }
        if self.inbuf.len() > MAX_LINE {
            self.fail(None, "reply line too long".into());
        }
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded: say EHLO again.
    pub fn tls_established(&mut self) {
        if self.phase != Phase::Handshake {
            return;
        }
        self.tls_active = true;
        self.caps = Capabilities::default();
        self.phase = Phase::Opening;
        self.hello();
    }

    /// Can [`ClientSession::send_mail`] start a transaction now? (Not after
    /// a failure, an abort or QUIT, nor while a reply is awaited.)
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready && self.pending.is_empty()
    }

    /// Start a transaction (after [`Event::Ready`] or [`Event::Done`]).
    /// `message` is the content with CRLF line ends, not dot-stuffed.
    pub fn send_mail(&mut self, tx: Transaction, message: &[u8]) {
        let n = tx.recipients.len();
        let mut t = Tx {
            results: vec![None; n],
            accepted: Vec::new(),
            unsent: VecDeque::new(),
            content: Vec::new(),
            mail_failed: false,
        };
        if self.phase != Phase::Ready || n == 0 {
            let why = if n == 0 {
                "no recipients"
            } else {
                "session not ready"
            };
            self.events.push_back(Event::Done(
                (0..n)
                    .map(|_| RcptStatus::TryNextHost(why.into()))
                    .collect(),
            ));
            return;
        }
        // RFC 1870: the size as sent (CRLF line ends, folds), without the
        // doubled dots and the final ".".
        let (content, doubled) = transparency(message);
        let size = content.len().saturating_sub(3 + doubled) as u64;
        if let Some(limit) = self.caps.size
            && limit > 0
            && size > limit
        {
            let r = Reply::new(
                552,
                EnhancedStatus::new(5, 3, 4),
                format!("Message is too large; {limit} bytes max"),
            );
            self.events
                .push_back(Event::Done(vec![RcptStatus::Rejected(r); n]));
            return;
        }
        if tx.smtputf8 && !self.caps.smtputf8 {
            let r = Reply::new(
                553,
                EnhancedStatus::new(5, 6, 7),
                "SMTPUTF8 is required, but was not offered by the host",
            );
            self.events
                .push_back(Event::Done(vec![RcptStatus::Rejected(r); n]));
            return;
        }
        let mut mail = format!("MAIL FROM:<{}>", tx.sender);
        if self.caps.esmtp {
            if self.caps.size.is_some() {
                mail += &format!(" SIZE={size}");
            }
            if tx.body == Body::EightBitMime && self.caps.eightbitmime {
                mail += " BODY=8BITMIME";
            }
            if tx.smtputf8 {
                mail += " SMTPUTF8";
            }
            if self.caps.dsn {
                if let Some(r) = &tx.ret {
                    mail += &format!(" RET={r}");
                }
                if let Some(e) = &tx.envid {
                    mail += &format!(" ENVID={e}");
                }
            }
        }
        t.unsent.push_back((mail.into_bytes(), Expect::Mail));
        for (i, r) in tx.recipients.iter().enumerate() {
            let mut rcpt = format!("RCPT TO:<{}>", r.address);
            if self.caps.esmtp && self.caps.dsn {
                if let Some(v) = &r.notify {
                    rcpt += &format!(" NOTIFY={v}");
                }
                if let Some(v) = &r.orcpt {
                    rcpt += &format!(" ORCPT={v}");
                }
            }
            t.unsent.push_back((rcpt.into_bytes(), Expect::Rcpt(i)));
        }
        t.content = content;
        if self.caps.pipelining {
            t.unsent.push_back((b"DATA".to_vec(), Expect::Data));
        }
        self.tx = Some(t);
        self.phase = Phase::InTx;
        if self.caps.pipelining {
            while let Some((cmd, ex)) = self.tx.as_mut().and_then(|t| t.unsent.pop_front()) {
                self.send(&cmd, ex);
            }
        } else {
            self.send_next();
        }
    }

    /// Say QUIT (the connection is closed after the reply, or may be closed now).
    pub fn quit(&mut self) {
        if matches!(self.phase, Phase::Closed | Phase::Quitting) {
            return;
        }
        self.phase = Phase::Quitting;
        self.pending.clear();
        self.send(b"QUIT", Expect::Quit);
    }

    /// The connection broke (I/O error, timeout): results for the open
    /// transaction's recipients (settled ones keep their status).
    pub fn abort(&mut self, why: &str) -> Vec<RcptStatus> {
        self.phase = Phase::Closed;
        self.pending.clear();
        self.unsettled(why)
    }

    fn unsettled(&mut self, why: &str) -> Vec<RcptStatus> {
        let Some(tx) = self.tx.take() else {
            return Vec::new();
        };
        tx.results
            .into_iter()
            .map(|r| match r {
                Some(s @ (RcptStatus::Rejected(_) | RcptStatus::Deferred(_))) => s,
                Some(s @ RcptStatus::Accepted(_)) => s,
                _ => RcptStatus::TryNextHost(why.to_string()),
            })
            .collect()
    }

    fn send(&mut self, cmd: &[u8], expect: Expect) {
        let shown = match expect {
            Expect::Auth => "AUTH PLAIN <credentials>".to_string(),
            _ => String::from_utf8_lossy(cmd).into_owned(),
        };
        self.transcript.push(format!(">>> {shown}"));
        self.output.extend_from_slice(cmd);
        self.output.extend_from_slice(b"\r\n");
        self.pending.push_back(expect);
    }

    fn send_next(&mut self) {
        if let Some((cmd, ex)) = self.tx.as_mut().and_then(|t| t.unsent.pop_front()) {
            self.send(&cmd, ex);
        }
    }

    fn fail(&mut self, reply: Option<Reply>, text: String) {
        let recipients = self.unsettled(&text);
        self.phase = Phase::Closed;
        self.pending.clear();
        self.events.push_back(Event::Failed(Failure {
            reply,
            text,
            recipients,
        }));
    }

    fn line(&mut self, line: String) {
        let b = line.as_bytes();
        let ok = b.len() >= 3
            && b.iter().take(3).all(u8::is_ascii_digit)
            && matches!(b.get(3), None | Some(b' ') | Some(b'-'));
        if !ok {
            self.fail(None, format!("protocol error: {line:?}"));
            return;
        }
        if let Some(first) = self.lines.first()
            && first.get(..3) != line.get(..3)
        {
            self.fail(None, format!("protocol error: {line:?}"));
            return;
        }
        let last = b.get(3) != Some(&b'-');
        self.lines.push(line);
        if last {
            let lines = std::mem::take(&mut self.lines);
            self.transcript.push(format!(
                "<<< {}",
                lines.last().map(String::as_str).unwrap_or("")
            ));
            let reply = parse_reply(&lines);
            self.reply(reply);
        }
    }

    fn reply(&mut self, reply: Reply) {
        let Some(expect) = self.pending.pop_front() else {
            if self.phase != Phase::Quitting {
                self.fail(Some(reply.clone()), format!("unexpected reply: {reply}"));
            }
            return;
        };
        if reply.code == 421 && !matches!(expect, Expect::Quit | Expect::IgnoredFinal) {
            self.fail(Some(reply.clone()), reply.to_string());
            return;
        }
        match expect {
            Expect::Greeting => {
                if reply.code == 220 {
                    self.greeted_esmtp = reply.lines.iter().any(|l| l.contains("ESMTP"));
                    self.hello();
                } else {
                    self.fail(Some(reply.clone()), format!("greeting refused: {reply}"));
                }
            }
            Expect::Ehlo => {
                if reply.code == 250 {
                    self.caps = Capabilities::parse(&reply);
                    self.after_hello();
                } else if self.settings.mode != Mode::Lmtp {
                    let cmd = format!("HELO {}", self.settings.helo_name);
                    self.send(cmd.as_bytes(), Expect::Helo);
                } else {
                    self.fail(Some(reply.clone()), format!("LHLO refused: {reply}"));
                }
            }
            Expect::Helo => {
                if reply.code == 250 {
                    self.caps = Capabilities::default();
                    self.after_hello();
                } else {
                    self.fail(Some(reply.clone()), format!("HELO refused: {reply}"));
                }
            }
            Expect::StartTls => {
                if reply.code == 220 {
                    self.phase = Phase::Handshake;
                    self.events.push_back(Event::StartTls);
                } else {
                    // Opportunistic: go on in plain text, but never ask again.
                    self.tls_active = false;
                    self.settings.tls = TlsWish::Never;
                    self.after_hello();
                }
            }
            Expect::Auth => {
                if reply.code == 235 {
                    self.authenticated = true;
                    self.settings.auth = None;
                    self.after_hello();
                } else if reply.is_transient() {
                    self.fail(Some(reply.clone()), format!("AUTH failed: {reply}"));
                } else {
                    self.settings.auth = None;
                    self.after_hello();
                }
            }
            Expect::Mail => self.mail_reply(reply),
            Expect::Rcpt(i) => self.rcpt_reply(i, reply),
            Expect::Data => self.data_reply(reply),
            Expect::Final(which) => self.final_reply(which, reply),
            Expect::IgnoredFinal => {
                self.send(b"RSET", Expect::Rset);
            }
            Expect::Rset => self.finish(),
            Expect::Quit => {
                self.phase = Phase::Closed;
            }
        }
    }

    fn hello(&mut self) {
        let (verb, ex) = match self.settings.mode {
            Mode::Esmtp => ("EHLO", Expect::Ehlo),
            Mode::Lmtp => ("LHLO", Expect::Ehlo),
            Mode::Smtp if self.greeted_esmtp => ("EHLO", Expect::Ehlo),
            Mode::Smtp => ("HELO", Expect::Helo),
        };
        let cmd = format!("{verb} {}", self.settings.helo_name);
        self.send(cmd.as_bytes(), ex);
    }

    fn after_hello(&mut self) {
        if self.settings.tls == TlsWish::Opportunistic && self.caps.starttls && !self.tls_active {
            self.send(b"STARTTLS", Expect::StartTls);
            return;
        }
        if let Some(c) = &self.settings.auth
            && self.caps.auth.iter().any(|m| m == "PLAIN")
        {
            let blob = format!("{}\0{}\0{}", c.authzid, c.authcid, c.password);
            let cmd = format!(
                "AUTH PLAIN {}",
                base64::engine::general_purpose::STANDARD.encode(blob)
            );
            self.send(cmd.as_bytes(), Expect::Auth);
            return;
        }
        self.phase = Phase::Ready;
        self.events.push_back(Event::Ready);
    }

    fn mail_reply(&mut self, reply: Reply) {
        let Some(tx) = self.tx.as_mut() else { return };
        if reply.code == 250 {
            if !self.caps.pipelining {
                self.send_next();
            }
            return;
        }
        tx.mail_failed = true;
        let st = classify(&reply);
        for r in tx.results.iter_mut() {
            *r = Some(st.clone());
        }
        if !self.caps.pipelining {
            tx.unsent.clear();
            self.finish();
        }
    }

    fn rcpt_reply(&mut self, i: usize, reply: Reply) {
        let pipelining = self.caps.pipelining;
        let Some(tx) = self.tx.as_mut() else { return };
        if !tx.mail_failed {
            if reply.code == 250 || reply.code == 251 {
                tx.accepted.push(i);
            } else if let Some(slot) = tx.results.get_mut(i) {
                *slot = Some(classify(&reply));
            }
        }
        if pipelining {
            return;
        }
        if !tx.unsent.is_empty() {
            self.send_next();
        } else if tx.accepted.is_empty() {
            self.send(b"RSET", Expect::Rset);
        } else {
            self.send(b"DATA", Expect::Data);
        }
    }

    fn data_reply(&mut self, reply: Reply) {
        let mode = self.settings.mode;
        let Some(tx) = self.tx.as_mut() else { return };
        if reply.code == 354 {
            if tx.mail_failed || tx.accepted.is_empty() {
                // RFC 2920 §3.1: a pipelining peer should not say 354 here;
                // send no content, only the end.
                self.output.extend_from_slice(b".\r\n");
                self.pending.push_back(Expect::IgnoredFinal);
                return;
            }
            let content = std::mem::take(&mut tx.content);
            self.output.extend_from_slice(&content);
            self.transcript.push(">>> .".into());
            match mode {
                Mode::Lmtp => {
                    let acc = tx.accepted.clone();
                    for i in acc {
                        self.pending.push_back(Expect::Final(Some(i)));
                    }
                }
                _ => self.pending.push_back(Expect::Final(None)),
            }
            return;
        }
        if !tx.mail_failed {
            let st = classify(&reply);
            for &i in &tx.accepted {
                if let Some(slot) = tx.results.get_mut(i) {
                    *slot = Some(st.clone());
                }
            }
        }
        if tx.mail_failed {
            // The peer holds no transaction after refusing MAIL.
            self.finish();
        } else {
            // Pipelined and every recipient refused, or DATA refused: the
            // peer still holds the sender, and a reused connection's next
            // MAIL would get `503 Sender already specified`.
            self.send(b"RSET", Expect::Rset);
        }
    }

    fn final_reply(&mut self, which: Option<usize>, reply: Reply) {
        let Some(tx) = self.tx.as_mut() else { return };
        let st = if reply.code == 250 {
            RcptStatus::Accepted(reply)
        } else {
            classify(&reply)
        };
        match which {
            Some(i) => {
                if let Some(slot) = tx.results.get_mut(i) {
                    *slot = Some(st);
                }
            }
            None => {
                for &i in &tx.accepted {
                    if let Some(slot) = tx.results.get_mut(i) {
                        *slot = Some(st.clone());
                    }
                }
            }
        }
        if !matches!(self.pending.front(), Some(Expect::Final(_))) {
            self.finish();
        }
    }

    /// Close the transaction once no reply of it is outstanding.
    fn finish(&mut self) {
        if self
            .pending
            .iter()
            .any(|e| !matches!(e, Expect::Quit | Expect::Greeting))
        {
            return;
        }
        let Some(tx) = self.tx.take() else { return };
        let results = tx
            .results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| RcptStatus::TryNextHost("no reply".into())))
            .collect();
        self.phase = Phase::Ready;
        self.events.push_back(Event::Done(results));
    }
}

/// A 4xx reply defers, anything else negative rejects.
fn classify(reply: &Reply) -> RcptStatus {
    if reply.is_transient() {
        RcptStatus::Deferred(reply.clone())
    } else {
        RcptStatus::Rejected(reply.clone())
    }
}

/// Build a [`Reply`] from its lines (`250-a`, `250 b`), taking an enhanced
/// status from the first line when its class matches the code.
pub fn parse_reply(lines: &[String]) -> Reply {
    let code: u16 = lines
        .first()
        .and_then(|l| l.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let texts: Vec<&str> = lines.iter().map(|l| l.get(4..).unwrap_or("")).collect();
    let status = texts
        .first()
        .and_then(|t| t.split_whitespace().next())
        .and_then(EnhancedStatus::parse)
        .filter(|s| u16::from(s.class) == code / 100);
    let lines = texts
        .iter()
        .map(|t| match status {
            Some(st) => {
                let p = st.to_string();
                match t.strip_prefix(p.as_str()) {
                    Some(rest) => rest.trim_start().to_string(),
                    None => t.to_string(),
                }
            }
            None => t.to_string(),
        })
        .collect();
    Reply {
        code,
        status,
        lines,
    }
}

/// Longest content line sent, CRLF excluded (RFC 5321 §4.5.3.1.6; Postfix's
/// `smtp_line_length_limit` default). Longer lines are folded.
pub const LINE_LIMIT: usize = 998;

/// The transparency procedure (RFC 5321 §4.5.2) for content sent by DATA,
/// with the end `.` appended. Safe for any line ending in `message`: a bare
/// CR or bare LF is sent as CRLF, so the peer sees the same line ends we
/// count; a line longer than [`LINE_LIMIT`] is folded by inserting
/// `<CR><LF><SPACE>` (as Postfix does); a dot at the start of every line is
/// doubled; a missing final CRLF is added. The only `<CRLF>.<CRLF>` in the
/// result is the final one, and the result has no bare CR or LF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    transparency(message).0
}

/// [`dot_stuff`], and the number of dots it doubled.
fn transparency(message: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut doubled = 0;
    // Octets of the current output line, not counting a doubled dot.
    let mut line_len = 0;
    let mut rest = message;
    loop {
        // The octets up to the next CR or LF, copied a run at a time.
        let stop = memchr::memchr2(b'\r', b'\n', rest);
        let (mut run, after) = rest.split_at(stop.unwrap_or(rest.len()));
        while let Some(&first) = run.first() {
            if line_len >= LINE_LIMIT {
                out.extend_from_slice(b"\r\n ");
                line_len = 1;
            }
            if line_len == 0 && first == b'.' {
                out.push(b'.');
                doubled += 1;
            }
            let (piece, tail) = run.split_at(run.len().min(LINE_LIMIT - line_len));
            out.extend_from_slice(piece);
            line_len += piece.len();
            run = tail;
        }
        // CRLF, a bare CR or a bare LF: either way one line end.
        rest = match after {
            [b'\r', b'\n', tail @ ..] | [b'\r' | b'\n', tail @ ..] => tail,
            _ => break,
        };
        out.extend_from_slice(b"\r\n");
        line_len = 0;
    }
    if line_len > 0 {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    (out, doubled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: Mode) -> Settings {
        Settings {
            mode,
            helo_name: "gw.example.com".into(),
            tls: TlsWish::Opportunistic,
            auth: None,
        }
    }

    fn tx(rcpts: &[&str]) -> Transaction {
        Transaction {
            sender: "a@example.com".into(),
            body: Body::SevenBit,
            ret: None,
            envid: None,
            smtputf8: false,
            recipients: rcpts
                .iter()
                .map(|r| TxRcpt {
                    address: r.to_string(),
                    notify: None,
                    orcpt: None,
                })
                .collect(),
        }
    }

    fn out(s: &mut ClientSession) -> String {
        String::from_utf8(s.take_output()).unwrap()
    }

    /// Greeting and EHLO with `caps` lines; returns the session at Ready.
    fn ready(mode: Mode, caps: &str) -> ClientSession {
        let mut s = ClientSession::new(settings(mode));
        s.receive(b"220 mx.example.org ESMTP\r\n");
        let hello = out(&mut s);
        assert!(hello.ends_with(" gw.example.com\r\n"), "{hello}");
        s.receive(format!("250-mx.example.org\r\n{caps}250 HELP\r\n").as_bytes());
        assert_eq!(s.next_event(), Some(Event::Ready));
        s
    }

    fn done(s: &mut ClientSession) -> Vec<RcptStatus> {
        match s.next_event() {
            Some(Event::Done(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capabilities_are_parsed() {
        let r = parse_reply(&[
            "250-mx.example.org hello".into(),
            "250-PIPELINING".into(),
            "250-SIZE 10240000".into(),
            "250-8BITMIME".into(),
            "250-STARTTLS".into(),
            "250-AUTH PLAIN login".into(),
            "250-DSN".into(),
            "250-SMTPUTF8".into(),
            "250-CHUNKING".into(),
            "250 ENHANCEDSTATUSCODES".into(),
        ]);
        let c = Capabilities::parse(&r);
        assert!(c.esmtp && c.pipelining && c.eightbitmime && c.starttls);
        assert!(c.dsn && c.smtputf8 && c.chunking && c.enhanced_status_codes);
        assert_eq!(c.size, Some(10240000));
        assert_eq!(c.auth, vec!["PLAIN", "LOGIN"]);
        let plain = Capabilities::parse(&parse_reply(&["250 mx".into()]));
        assert!(!plain.pipelining && plain.size.is_none());
    }

    #[test]
    fn enhanced_status_is_split_from_the_text() {
        let r = parse_reply(&["550-5.1.1 first".into(), "550 5.1.1 second".into()]);
        assert_eq!(r.code, 550);
        assert_eq!(r.status, Some(EnhancedStatus::new(5, 1, 1)));
        assert_eq!(r.lines, vec!["first", "second"]);
        // A status whose class does not match the code is text.
        let r = parse_reply(&["250 5.1.1 odd".into()]);
        assert_eq!(r.status, None);
        assert_eq!(r.lines, vec!["5.1.1 odd"]);
        let r = parse_reply(&["250".into()]);
        assert_eq!((r.code, r.lines.len()), (250, 1));
    }

    /// The lines a lenient receiver sees: CRLF, a bare CR and a bare LF each
    /// end a line.
    fn lenient_lines(wire: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = vec![Vec::new()];
        let mut i = 0;
        while let Some(&b) = wire.get(i) {
            if b == b'\r' || b == b'\n' {
                if b == b'\r' && wire.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                lines.push(Vec::new());
            } else if let Some(l) = lines.last_mut() {
                l.push(b);
            }
            i += 1;
        }
        lines
    }

    #[test]
    fn transparency_is_safe_for_any_line_ending() {
        // The smuggling payloads: bare CR, bare LF, mixed.
        assert_eq!(
            dot_stuff(b"hi\r\n\r.\rMAIL FROM:<evil@x>\r\n"),
            b"hi\r\n\r\n..\r\nMAIL FROM:<evil@x>\r\n.\r\n"
        );
        assert_eq!(
            dot_stuff(b"hi\n.\nMAIL FROM:<evil@x>\n"),
            b"hi\r\n..\r\nMAIL FROM:<evil@x>\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"a\rb\nc\r\nd"), b"a\r\nb\r\nc\r\nd\r\n.\r\n");
        assert_eq!(dot_stuff(b"a\r"), b"a\r\n.\r\n");
        assert_eq!(dot_stuff(b"\r\r\n\n."), b"\r\n\r\n\r\n..\r\n.\r\n");
        // Every message of up to 6 octets over {., CR, LF, x}: whatever a
        // receiver takes for a line end, the only "." line is the last one,
        // and our own server reads back the normalised message.
        let alphabet = [b'.', b'\r', b'\n', b'x'];
        for len in 0..=6u32 {
            for n in 0..4usize.pow(len) {
                let msg: Vec<u8> = (0..len)
                    .map(|i| alphabet[(n / 4usize.pow(i)) % 4])
                    .collect();
                let wire = dot_stuff(&msg);
                let lines = lenient_lines(&wire);
                let dots: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == b".").collect();
                assert_eq!(dots, [lines.len() - 2], "{msg:?} -> {wire:?}");
                let mut normal = msg.clone();
                let mut i = 0;
                while i < normal.len() {
                    match normal[i] {
                        b'\r' if normal.get(i + 1) == Some(&b'\n') => i += 2,
                        b'\r' | b'\n' => {
                            normal.splice(i..=i, *b"\r\n");
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
                if !normal.is_empty() && !normal.ends_with(b"\r\n") {
                    normal.extend_from_slice(b"\r\n");
                }
                assert_eq!(server_reads(&wire), (normal, false), "{msg:?}");
            }
        }
    }

    /// What our own server session reads from `wire` sent after DATA:
    /// (content, bare line end seen).
    fn server_reads(wire: &[u8]) -> (Vec<u8>, bool) {
        use crate::proto::command::Command;
        use crate::proto::server::{Event as S, Limits, ServerSession};
        let mut s = ServerSession::new(Limits::default());
        s.receive(b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        s.receive(wire);
        let mut body = Vec::new();
        while let Some(e) = s.next_event() {
            match e {
                S::BodyChunk(c) => body.extend_from_slice(&c),
                S::BodyEnd(end) => return (body, end.bare_line_end),
                S::Command(Command::Data) => s.respond(Reply::plain(354, "go")),
                _ => s.respond(Reply::plain(250, "ok")),
            }
        }
        panic!("no end of data in {wire:?}");
    }

    #[test]
    fn long_lines_are_folded_at_998() {
        let mut msg = vec![b'x'; 998];
        msg.extend_from_slice(b"\r\n");
        msg.extend(std::iter::repeat_n(b'y', 2500));
        msg.extend_from_slice(b"\r\n");
        msg.extend(std::iter::repeat_n(b'.', 1000));
        let wire = dot_stuff(&msg);
        let lines: Vec<&[u8]> = wire.split(|&b| b == b'\n').collect();
        for l in &lines {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            // 998 octets, plus one doubled dot (not counted, RFC 5321 §4.5.3.1.6).
            assert!(
                l.len() <= 998 || (l.len() == 999 && l.starts_with(b"..")),
                "{}",
                l.len()
            );
        }
        assert_eq!(lines[0].len(), 999, "a 998-octet line is not folded");
        assert!(lines[1].starts_with(b"yyy") && lines[2].starts_with(b" yyy"));
        // Unfolding (removing each inserted CRLF SPACE) gives the message back.
        let (read, bare) = server_reads(&wire);
        assert!(!bare);
        let mut unfolded = Vec::new();
        let mut i = 0;
        while i < read.len() {
            if read[i..].starts_with(b"\r\n ") {
                i += 3;
            } else {
                unfolded.push(read[i]);
                i += 1;
            }
        }
        msg.extend_from_slice(b"\r\n");
        assert_eq!(unfolded, msg);
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(
            dot_stuff(b".a\r\nb\r\n..c\r\n"),
            b"..a\r\nb\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"a\r\n.\r\n"), b"a\r\n..\r\n.\r\n");
        assert_eq!(dot_stuff(b"no end"), b"no end\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }

    #[test]
    fn plain_transaction_one_command_at_a_time() {
        let mut s = ready(Mode::Esmtp, "250-SIZE 1000\r\n250-8BITMIME\r\n");
        let mut t = tx(&["b@example.org", "c@example.org"]);
        t.body = Body::EightBitMime;
        s.send_mail(t, b"Subject: x\r\n\r\n.hi\r\n");
        assert_eq!(
            out(&mut s),
            "MAIL FROM:<a@example.com> SIZE=19 BODY=8BITMIME\r\n"
        );
        // SIZE counts the message as sent: bare LFs become CRLF.
        let mut s2 = ready(Mode::Esmtp, "250-SIZE 1000\r\n");
        s2.send_mail(tx(&["b@x"]), b"x\n.y\n");
        assert_eq!(out(&mut s2), "MAIL FROM:<a@example.com> SIZE=7\r\n");
        assert_eq!(s.waiting(), Some(Wait::Mail));
        s.receive(b"250 2.1.0 ok\r\n");
        assert_eq!(out(&mut s), "RCPT TO:<b@example.org>\r\n");
        s.receive(b"550 5.1.1 <b@example.org>... User unknown\r\n");
        assert_eq!(out(&mut s), "RCPT TO:<c@example.org>\r\n");
        s.receive(b"250 2.1.5 ok\r\n");
        assert_eq!(out(&mut s), "DATA\r\n");
        assert_eq!(s.waiting(), Some(Wait::DataInit));
        s.receive(b"354 go\r\n");
        assert_eq!(out(&mut s), "Subject: x\r\n\r\n..hi\r\n.\r\n");
        assert_eq!(s.waiting(), Some(Wait::DataFinal));
        // The final reply split across reads.
        s.receive(b"250 2.0.0 queued");
        assert_eq!(s.next_event(), None);
        s.receive(b" as X\r\n");
        let v = done(&mut s);
        assert!(matches!(&v[0], RcptStatus::Rejected(r) if r.code == 550));
        assert!(matches!(&v[1], RcptStatus::Accepted(r) if r.lines[0] == "queued as X"));
        s.quit();
        assert_eq!(out(&mut s), "QUIT\r\n");
        s.receive(b"221 bye\r\n");
        assert_eq!(s.waiting(), None);
    }

    #[test]
    fn pipelining_sends_everything_at_once_and_matches_in_order() {
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n250-DSN\r\n");
        let mut t = tx(&["b@example.org", "c@example.org", "d@example.org"]);
        t.ret = Some("HDRS".into());
        t.envid = Some("QID1".into());
        t.recipients[0].notify = Some("FAILURE".into());
        t.recipients[0].orcpt = Some("rfc822;b@example.org".into());
        s.send_mail(t, b"x\r\n");
        assert_eq!(
            out(&mut s),
            "MAIL FROM:<a@example.com> RET=HDRS ENVID=QID1\r\n\
             RCPT TO:<b@example.org> NOTIFY=FAILURE ORCPT=rfc822;b@example.org\r\n\
             RCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n"
        );
        // All replies in one read, split mid-line.
        s.receive(b"250 ok\r\n250 ok\r\n451 4.3.0 later\r\n25");
        s.receive(b"0 ok\r\n354 go\r\n");
        assert_eq!(out(&mut s), "x\r\n.\r\n");
        s.receive(b"250 2.0.0 done\r\n");
        let v = done(&mut s);
        assert!(matches!(&v[0], RcptStatus::Accepted(_)));
        assert!(matches!(&v[1], RcptStatus::Deferred(r) if r.code == 451));
        assert!(matches!(&v[2], RcptStatus::Accepted(_)));
    }

    #[test]
    fn mail_5xx_fails_all_and_4xx_defers_all() {
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"553 5.1.8 bad sender\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n554 5.5.1 no rcpts\r\n");
        let v = done(&mut s);
        assert!(
            v.iter()
                .all(|r| matches!(r, RcptStatus::Rejected(r) if r.code == 553))
        );
        let mut s = ready(Mode::Esmtp, "");
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"451 4.3.0 later\r\n");
        assert_eq!(out(&mut s), "");
        let v = done(&mut s);
        assert!(
            v.iter()
                .all(|r| matches!(r, RcptStatus::Deferred(r) if r.code == 451))
        );
    }

    #[test]
    fn no_accepted_recipient_means_no_data() {
        let mut s = ready(Mode::Esmtp, "");
        s.send_mail(tx(&["b@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n");
        out(&mut s);
        s.receive(b"550 5.1.1 unknown\r\n");
        assert_eq!(out(&mut s), "RSET\r\n");
        s.receive(b"250 ok\r\n");
        assert!(matches!(&done(&mut s)[0], RcptStatus::Rejected(_)));
        // Pipelined: a peer that says 354 anyway gets a lone dot.
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        s.send_mail(tx(&["b@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n550 no\r\n354 go\r\n");
        assert_eq!(out(&mut s), ".\r\n");
        s.receive(b"554 no valid recipients\r\n");
        assert_eq!(out(&mut s), "RSET\r\n");
        s.receive(b"250 ok\r\n");
        assert!(matches!(&done(&mut s)[0], RcptStatus::Rejected(r) if r.code == 550));
        // Pipelined, every recipient refused and DATA refused as it should
        // be: the peer still holds the sender, so RSET before the
        // connection serves another message (without it the next MAIL got
        // `503 5.5.0 Sender already specified` from a peer of ours, and
        // that message bounced).
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        s.send_mail(tx(&["b@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n");
        assert_eq!(out(&mut s), "RSET\r\n");
        assert_eq!(s.next_event(), None, "done before the RSET's reply");
        s.receive(b"250 ok\r\n");
        assert!(matches!(&done(&mut s)[0], RcptStatus::Rejected(r) if r.code == 550));
        s.send_mail(tx(&["c@x"]), b"x\r\n");
        assert!(out(&mut s).starts_with("MAIL FROM:<a@example.com>"));
    }

    #[test]
    fn data_and_final_errors_apply_to_all_accepted() {
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n250 ok\r\n250 ok\r\n554 5.6.0 no data today\r\n");
        assert_eq!(out(&mut s), "RSET\r\n");
        s.receive(b"250 ok\r\n");
        let v = done(&mut s);
        assert!(
            v.iter()
                .all(|r| matches!(r, RcptStatus::Rejected(r) if r.code == 554))
        );
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n452 4.3.1 full\r\n");
        let v = done(&mut s);
        assert!(matches!(&v[0], RcptStatus::Deferred(r) if r.code == 452));
        assert!(matches!(&v[1], RcptStatus::Rejected(r) if r.code == 550));
    }

    #[test]
    fn ehlo_refused_falls_back_to_helo_and_smtp_mailer_says_helo() {
        let mut s = ClientSession::new(settings(Mode::Esmtp));
        s.receive(b"220 old\r\n");
        assert_eq!(out(&mut s), "EHLO gw.example.com\r\n");
        s.receive(b"500 what\r\n");
        assert_eq!(out(&mut s), "HELO gw.example.com\r\n");
        s.receive(b"250 hi\r\n");
        assert_eq!(s.next_event(), Some(Event::Ready));
        assert!(!s.capabilities().esmtp);
        // No ESMTP parameters after HELO even for an 8-bit message.
        let mut t = tx(&["b@x"]);
        t.body = Body::EightBitMime;
        s.send_mail(t, b"x\r\n");
        assert_eq!(out(&mut s), "MAIL FROM:<a@example.com>\r\n");

        let mut s = ClientSession::new(settings(Mode::Smtp));
        s.receive(b"220 old\r\n");
        assert_eq!(out(&mut s), "HELO gw.example.com\r\n");
    }

    /// sendmail 8.17's `smtp` mailer (`SMART_HOST` `smtp:[127.0.0.1]`, a
    /// peer that logs what it gets, `sendmail -odi`): greeted `220 peer.test
    /// ESMTP ready` it said `EHLO gw.bench.test`; greeted `220 peer.test
    /// ready` it said `HELO gw.bench.test` (usersmtp.c, `esmtp_check`: the
    /// word anywhere in any line of the greeting, upper case).
    #[test]
    fn smtp_mailer_says_ehlo_when_the_greeting_says_esmtp() {
        let mut s = ClientSession::new(settings(Mode::Smtp));
        s.receive(b"220 peer.test ESMTP ready\r\n");
        assert_eq!(out(&mut s), "EHLO gw.example.com\r\n");
        s.receive(b"250-peer.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
        assert_eq!(s.next_event(), Some(Event::Ready));
        assert!(s.capabilities().pipelining);
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        assert_eq!(
            out(&mut s),
            "MAIL FROM:<a@example.com> SIZE=3\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n"
        );

        // On a later line of the greeting; a refused EHLO falls back to HELO.
        let mut s = ClientSession::new(settings(Mode::Smtp));
        s.receive(b"220-peer.test\r\n220 ESMTP\r\n");
        assert_eq!(out(&mut s), "EHLO gw.example.com\r\n");
        s.receive(b"502 no\r\n");
        assert_eq!(out(&mut s), "HELO gw.example.com\r\n");

        // Lower case is not the word.
        let mut s = ClientSession::new(settings(Mode::Smtp));
        s.receive(b"220 peer.test esmtp\r\n");
        assert_eq!(out(&mut s), "HELO gw.example.com\r\n");
    }

    #[test]
    fn greeting_refusal_and_421_fail_the_session() {
        let mut s = ClientSession::new(settings(Mode::Esmtp));
        s.receive(b"554-no\r\n554 service\r\n");
        assert!(
            matches!(s.next_event(), Some(Event::Failed(f)) if f.reply.as_ref().unwrap().code == 554)
        );
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n550 no such user\r\n421 4.3.2 shutting down\r\n");
        match s.next_event() {
            Some(Event::Failed(f)) => {
                assert!(matches!(&f.recipients[0], RcptStatus::Rejected(_)));
                assert!(
                    matches!(&f.recipients[1], RcptStatus::TryNextHost(t) if t.contains("421"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.is_ready(), "a session that got 421 is not reused");
    }

    #[test]
    fn abort_keeps_settled_recipients() {
        let mut s = ready(Mode::Esmtp, "");
        assert!(s.is_ready());
        s.send_mail(tx(&["b@x", "c@x"]), b"x\r\n");
        assert!(!s.is_ready(), "a transaction is open");
        s.receive(b"250 ok\r\n550 no\r\n");
        let v = s.abort("timeout waiting for RCPT");
        assert!(
            !s.is_ready(),
            "an aborted session is over (it waits for nothing)"
        );
        assert!(matches!(&v[0], RcptStatus::Rejected(_)));
        assert!(matches!(&v[1], RcptStatus::TryNextHost(t) if t.contains("timeout")));
    }

    #[test]
    fn starttls_then_ehlo_again_then_auth_plain() {
        let mut st = settings(Mode::Esmtp);
        st.auth = Some(Credentials {
            authzid: String::new(),
            authcid: "user".into(),
            password: "secret".into(),
        });
        let mut s = ClientSession::new(st);
        s.receive(b"220 mx\r\n");
        out(&mut s);
        s.receive(b"250-mx\r\n250-STARTTLS\r\n250 AUTH LOGIN\r\n");
        assert_eq!(out(&mut s), "STARTTLS\r\n");
        s.receive(b"220 2.0.0 go ahead\r\n");
        assert_eq!(s.next_event(), Some(Event::StartTls));
        s.tls_established();
        assert_eq!(out(&mut s), "EHLO gw.example.com\r\n");
        s.receive(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
        // base64("\0user\0secret")
        assert_eq!(out(&mut s), "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
        assert!(s.transcript().iter().all(|l| !l.contains("AHVz")));
        s.receive(b"235 2.7.0 ok\r\n");
        assert_eq!(s.next_event(), Some(Event::Ready));
        assert!(s.tls_active() && s.authenticated());
    }

    #[test]
    fn refused_starttls_goes_on_in_plain_text_and_auth_5xx_goes_on() {
        let mut st = settings(Mode::Esmtp);
        st.auth = Some(Credentials {
            authzid: String::new(),
            authcid: "u".into(),
            password: "p".into(),
        });
        let mut s = ClientSession::new(st);
        s.receive(b"220 mx\r\n250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n");
        assert_eq!(out(&mut s), "EHLO gw.example.com\r\nSTARTTLS\r\n");
        s.receive(b"454 4.7.0 TLS not available\r\n");
        assert!(out(&mut s).starts_with("AUTH PLAIN "));
        s.receive(b"535 5.7.8 bad credentials\r\n");
        assert_eq!(s.next_event(), Some(Event::Ready));
        assert!(!s.authenticated() && !s.tls_active());
        // AUTH 4xx is a session failure.
        let mut st = settings(Mode::Esmtp);
        st.tls = TlsWish::Never;
        st.auth = Some(Credentials {
            authzid: "z".into(),
            authcid: "u".into(),
            password: "p".into(),
        });
        let mut s = ClientSession::new(st);
        s.receive(b"220 mx\r\n250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n");
        assert!(out(&mut s).ends_with("AUTH PLAIN egB1AHA=\r\n"));
        s.receive(b"454 4.7.0 try later\r\n");
        assert!(matches!(s.next_event(), Some(Event::Failed(_))));
    }

    #[test]
    fn lmtp_reads_one_final_reply_per_accepted_recipient() {
        let mut s = ClientSession::new(settings(Mode::Lmtp));
        s.receive(b"220 lmtp\r\n");
        assert_eq!(out(&mut s), "LHLO gw.example.com\r\n");
        s.receive(b"250-lmtp\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
        assert_eq!(s.next_event(), Some(Event::Ready));
        s.send_mail(tx(&["b", "c", "d"]), b"x\r\n");
        out(&mut s);
        s.receive(b"250 ok\r\n250 ok\r\n550 5.1.1 no c\r\n250 ok\r\n354 go\r\n");
        assert_eq!(out(&mut s), "x\r\n.\r\n");
        s.receive(b"250 2.0.0 <b> saved\r\n");
        assert_eq!(s.next_event(), None, "one more final reply is due");
        s.receive(b"452 4.2.2 <d> over quota\r\n");
        let v = done(&mut s);
        assert!(matches!(&v[0], RcptStatus::Accepted(_)));
        assert!(matches!(&v[1], RcptStatus::Rejected(_)));
        assert!(
            matches!(&v[2], RcptStatus::Deferred(r) if r.status == Some(EnhancedStatus::new(4,2,2)))
        );
    }

    #[test]
    fn size_limit_smtputf8_and_garbage() {
        let mut s = ready(Mode::Esmtp, "250-SIZE 10\r\n");
        s.send_mail(tx(&["b@x"]), b"0123456789012345\r\n");
        assert!(matches!(&done(&mut s)[0], RcptStatus::Rejected(r) if r.code == 552));
        assert_eq!(out(&mut s), "");
        let mut t = tx(&["b@x"]);
        t.smtputf8 = true;
        s.send_mail(t, b"x\r\n");
        assert!(
            matches!(&done(&mut s)[0], RcptStatus::Rejected(r) if r.status == Some(EnhancedStatus::new(5,6,7)))
        );
        let mut s = ClientSession::new(settings(Mode::Esmtp));
        s.receive(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(matches!(s.next_event(), Some(Event::Failed(_))));
        // Reuse: a second transaction on the same session.
        let mut s = ready(Mode::Esmtp, "250-PIPELINING\r\n");
        for _ in 0..2 {
            s.send_mail(tx(&["b@x"]), b"x\r\n");
            out(&mut s);
            s.receive(b"250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n");
            assert!(matches!(&done(&mut s)[0], RcptStatus::Accepted(_)));
        }
    }
}
