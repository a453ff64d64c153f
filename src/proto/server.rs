//! The SMTP server session, sans I/O.
//!
//! Contract: the driver feeds bytes with [`ServerSession::receive`], takes
//! [`Event`]s with [`ServerSession::next_event`], answers every event except
//! [`Event::BodyChunk`] with exactly one [`ServerSession::respond`], and
//! writes [`ServerSession::take_output`] to the peer. The session enforces
//! command order (an out-of-order command becomes [`Event::Invalid`] with
//! the reply to send), line-length limits, DATA dot-unstuffing with strict
//! `<CRLF>.<CRLF>` termination, BDAT chunk reading, and the STARTTLS rule
//! that pipelined plaintext after the command is discarded.
//! It never decides policy: the caller's reply to an event decides, and the
//! session moves on according to whether that reply was positive.
//!
//! Protocol rules it applies by itself (each tested below):
//!
//! * **One line-ending rule for DATA and BDAT.** CRLF is the only line end
//!   in message content. A bare CR or bare LF anywhere in the content of
//!   `DATA` or of the `BDAT` chunks of one message is reported in
//!   [`BodyEnd::bare_line_end`] (the caller refuses the message: SMTP
//!   smuggling, as Postfix's `smtpd_forbid_bare_newline` and sendmail 8.18).
//!   BDAT content is checked across chunk boundaries: a CR that ends one
//!   chunk and the LF that starts the next make one CRLF.
//! * Lines longer than [`Limits::data_line`] (998 octets by default, RFC
//!   5321 §4.5.3.1.6) are accepted and reported in [`BodyEnd::long_line`].
//! * RFC 6531: a non-ASCII address in `MAIL` or `RCPT` when `MAIL` did not
//!   carry `SMTPUTF8` is refused `553 5.6.7`.
//! * RFC 3030 §3: `DATA` after a `BDAT` chunk of the same transaction is
//!   refused `503 5.5.1`.

use super::command::{Command, Last};
use super::reply::{EnhancedStatus, Reply};
use std::collections::VecDeque;

/// The text of the RFC 6531 refusal of a non-ASCII address without SMTPUTF8.
const NEEDS_SMTPUTF8: &str =
    "Non-ASCII address needs the SMTPUTF8 parameter on MAIL FROM (RFC 6531)";

/// Limits, chosen by the caller (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line accepted, CRLF excluded (RFC 5321: 512 at least).
    pub command_line: usize,
    /// Longest body line (CRLF excluded) before [`BodyEnd::long_line`] is
    /// set; the line is still accepted (RFC 5321 §4.5.3.1.6: 998).
    pub data_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            command_line: 2048,
            data_line: 998,
        }
    }
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A well-formed command in an acceptable order: decide and respond.
    Command(Command),
    /// A line of an AUTH exchange (after a 334 reply).
    AuthResponse(String),
    /// Message content (dot-unstuffed, CRLF line ends as received); no response.
    BodyChunk(Vec<u8>),
    /// End of DATA (the final `.`) or of the `BDAT ... LAST` chunk: respond with the
    /// final reply (250 only once the message is safely stored).
    BodyEnd(BodyEnd),
    /// A malformed or out-of-order command: respond with this reply (or a stricter one).
    Invalid(Reply),
}

/// Facts about a finished message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyEnd {
    /// Body octets after unstuffing.
    pub size: u64,
    /// A bare LF or bare CR was seen, in DATA or in any BDAT chunk
    /// (refuse: SMTP smuggling).
    pub bare_line_end: bool,
    /// A line was longer than [`Limits::data_line`] (accepted; for the log).
    pub long_line: bool,
}

/// The one line-ending rule for message content, DATA and BDAT alike: CRLF
/// is the only line end. Fed the content in any chunking; a CR at the end of
/// one piece and an LF at the start of the next are one CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct LineCheck {
    /// The last byte fed was a CR (a line end if an LF comes next).
    cr_pending: bool,
    /// Octets of the current line so far, line end excluded.
    line_len: usize,
    bare_line_end: bool,
    long_line: bool,
}

impl LineCheck {
    /// Feed the next piece: a run of ordinary octets at a time (`memchr2`
    /// finds the next CR or LF), then the CR or LF itself, as
    /// [`LineCheck::feed_bytewise`] defines octet by octet.
    fn feed(&mut self, bytes: &[u8], limit: usize) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            if run > 0 {
                // Ordinary octets: after a CR, the first makes it a bare CR.
                self.bare_line_end |= self.cr_pending;
                self.cr_pending = false;
                self.line_len += run;
                self.long_line |= self.line_len > limit;
            }
            let Some(&b) = rest.get(run) else {
                break;
            };
            if b == b'\n' {
                self.bare_line_end |= !self.cr_pending;
                self.line_len = 0;
            } else if self.cr_pending {
                // CR CR: the first is bare, the second counts as content.
                self.bare_line_end = true;
                self.line_len += 1;
                self.long_line |= self.line_len > limit;
            }
            self.cr_pending = b == b'\r';
            rest = &rest[run + 1..];
        }
    }

    /// The definition [`LineCheck::feed`] implements faster, octet by octet.
    #[cfg(test)]
    fn feed_bytewise(&mut self, bytes: &[u8], limit: usize) {
        for &b in bytes {
            match b {
                b'\n' => {
                    if !self.cr_pending {
                        self.bare_line_end = true;
                    }
                    self.line_len = 0;
                }
                _ if self.cr_pending => {
                    // A CR not followed by LF.
                    self.bare_line_end = true;
                    self.line_len += 1;
                }
                b'\r' => {}
                _ => self.line_len += 1,
            }
            if self.line_len > limit {
                self.long_line = true;
            }
            self.cr_pending = b == b'\r';
        }
    }

    /// The content is complete: a trailing CR is a bare CR.
    fn finish(self) -> (bool, bool) {
        (self.bare_line_end || self.cr_pending, self.long_line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before HELO/EHLO.
    Greeting,
    /// After HELO/EHLO, no transaction.
    Ready,
    /// MAIL accepted.
    InMail,
    /// At least one RCPT accepted.
    InRcpt,
    /// Reading DATA content.
    InData,
    /// Reading `n` more octets of a BDAT chunk.
    InBdat,
    /// Waiting for AUTH responses.
    InAuth,
    /// QUIT answered, or the caller closed the session.
    Closed,
}

/// The event we are waiting for the caller to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    None,
    Command(Command),
    Auth,
    BodyEnd,
    Invalid,
}

/// One SMTP server session.
#[derive(Debug)]
pub struct ServerSession {
    limits: Limits,
    phase: Phase,
    input: Vec<u8>,
    events: VecDeque<Event>,
    pending: Pending,
    output: Vec<u8>,
    extended: bool,
    // DATA reader state.
    at_line_start: bool,
    body: BodyEnd,
    lines: LineCheck,
    // Transaction state.
    /// `MAIL` carried `SMTPUTF8`.
    smtputf8: bool,
    /// A BDAT chunk of this transaction was accepted (`DATA` is then refused).
    bdat_tx: bool,
    // BDAT state.
    bdat_left: u64,
    bdat_size: u64,
    bdat_last: Last,
    bdat_refusal: Option<Reply>,
    bdat_resume: Phase,
    tls_requested: bool,
    skip_to_lf: bool,
}

impl ServerSession {
    /// A new session (the greeting is the driver's business: it may delay it).
    pub fn new(limits: Limits) -> Self {
        ServerSession {
            limits,
            phase: Phase::Greeting,
            input: Vec::new(),
            events: VecDeque::new(),
            pending: Pending::None,
            output: Vec::new(),
            extended: false,
            at_line_start: true,
            body: BodyEnd::default(),
            lines: LineCheck::default(),
            smtputf8: false,
            bdat_tx: false,
            bdat_left: 0,
            bdat_size: 0,
            bdat_last: Last::More,
            bdat_refusal: None,
            bdat_resume: Phase::Greeting,
            tls_requested: false,
            skip_to_lf: false,
        }
    }

    /// Feed bytes from the peer; all are taken (buffered until usable).
    pub fn receive(&mut self, data: &[u8]) -> usize {
        if self.phase != Phase::Closed {
            self.input.extend_from_slice(data);
        }
        data.len()
    }

    /// Queue a reply that is not the answer to an event (the 220 greeting).
    pub fn send(&mut self, reply: &Reply) {
        self.output.extend_from_slice(&reply.to_wire());
    }

    /// The next event, or `None` when more input (or a response) is needed.
    pub fn next_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        if self.pending != Pending::None || self.phase == Phase::Closed {
            return None;
        }
        match self.phase {
            Phase::InData => self.read_data(),
            Phase::InBdat => self.read_bdat(),
            _ => self.read_command(),
        }
        self.events.pop_front()
    }

    /// Answer the pending event. The session advances according to the reply.
    pub fn respond(&mut self, reply: Reply) {
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        let ok = reply.is_positive();
        match pending {
            Pending::Command(cmd) => self.after_command(cmd, &reply, ok),
            Pending::Auth => {
                if reply.code != 334 {
                    self.phase = self.idle_phase();
                }
            }
            Pending::BodyEnd => self.phase = Phase::Ready,
            Pending::Invalid | Pending::None => {}
        }
        if reply.code == 221 || reply.code == 421 {
            self.phase = Phase::Closed;
        }
        self.output.extend_from_slice(&reply.to_wire());
    }

    /// Bytes to write to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// After a positive STARTTLS reply: the driver must start TLS now. Any
    /// plaintext the client pipelined after STARTTLS has been discarded.
    pub fn take_tls_request(&mut self) -> bool {
        std::mem::take(&mut self.tls_requested)
    }

    /// Has the session ended (QUIT answered, or a 421 sent)?
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Bytes received but not yet consumed (the driver uses this to detect
    /// clients that talk before the greeting).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Is message content being read (after `354` to DATA, or inside a
    /// BDAT chunk)? The driver's timeouts differ there.
    pub fn is_receiving_body(&self) -> bool {
        matches!(self.phase, Phase::InData | Phase::InBdat)
    }

    /// Was the session opened with EHLO?
    pub fn is_extended(&self) -> bool {
        self.extended
    }

    fn idle_phase(&self) -> Phase {
        if self.extended || self.phase != Phase::Greeting {
            Phase::Ready
        } else {
            Phase::Greeting
        }
    }

    fn invalid(&mut self, reply: Reply) {
        self.pending = Pending::Invalid;
        self.events.push_back(Event::Invalid(reply));
    }

    fn read_command(&mut self) {
        loop {
            let Some(lf) = self.input.iter().position(|&b| b == b'\n') else {
                if self.input.len() > self.limits.command_line + 2 {
                    self.input.clear();
                    self.skip_to_lf = true;
                    self.invalid(Reply::new(
                        500,
                        EnhancedStatus::new(5, 5, 2),
                        "Command line too long",
                    ));
                }
                return;
            };
            let raw: Vec<u8> = self.input.drain(..=lf).collect();
            if std::mem::take(&mut self.skip_to_lf) {
                continue;
            }
            let line = raw
                .strip_suffix(b"\n")
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .unwrap_or(&raw);
            if line.len() > self.limits.command_line {
                self.invalid(Reply::new(
                    500,
                    EnhancedStatus::new(5, 5, 2),
                    "Command line too long",
                ));
                return;
            }
            let Ok(text) = std::str::from_utf8(line) else {
                self.invalid(Reply::new(
                    500,
                    EnhancedStatus::new(5, 5, 2),
                    "Invalid characters in command",
                ));
                return;
            };
            if self.phase == Phase::InAuth {
                self.pending = Pending::Auth;
                self.events.push_back(Event::AuthResponse(text.to_string()));
                return;
            }
            match Command::parse(text) {
                Err(reply) => self.invalid(reply),
                Ok(cmd) => self.check_order(cmd),
            }
            return;
        }
    }

    /// sendmail's sequence replies for out-of-order commands.
    fn check_order(&mut self, cmd: Command) {
        let p = self.phase;
        let refuse = |code, st: EnhancedStatus, text: &str| Some(Reply::new(code, st, text));
        let bad = match &cmd {
            Command::Mail(..) if p == Phase::Greeting => refuse(
                503,
                EnhancedStatus::new(5, 0, 0),
                "Polite people say HELO first",
            ),
            Command::Mail(..) if matches!(p, Phase::InMail | Phase::InRcpt) => refuse(
                503,
                EnhancedStatus::new(5, 5, 0),
                "Sender already specified",
            ),
            Command::Rcpt(..) if !matches!(p, Phase::InMail | Phase::InRcpt) => {
                refuse(503, EnhancedStatus::new(5, 0, 0), "Need MAIL before RCPT")
            }
            Command::Data if p == Phase::InRcpt && self.bdat_tx => refuse(
                503,
                EnhancedStatus::new(5, 5, 1),
                "DATA not allowed after BDAT in the same transaction (RFC 3030)",
            ),
            Command::Data if p == Phase::InMail => {
                refuse(503, EnhancedStatus::new(5, 0, 0), "Need RCPT (recipient)")
            }
            Command::Data if p != Phase::InRcpt => {
                refuse(503, EnhancedStatus::new(5, 0, 0), "Need MAIL command")
            }
            Command::Mail(a, params) if !params.smtputf8 && !a.to_string().is_ascii() => refuse(
                553,
                EnhancedStatus::new(5, 6, 7),
                &format!("<{a}>... {NEEDS_SMTPUTF8}"),
            ),
            Command::Rcpt(m, _) if !self.smtputf8 && !m.to_string().is_ascii() => refuse(
                553,
                EnhancedStatus::new(5, 6, 7),
                &format!("<{m}>... {NEEDS_SMTPUTF8}"),
            ),
            Command::StartTls | Command::Auth { .. } if p == Phase::Greeting => {
                refuse(503, EnhancedStatus::new(5, 5, 1), "EHLO first")
            }
            Command::StartTls | Command::Auth { .. } if p != Phase::Ready => refuse(
                503,
                EnhancedStatus::new(5, 5, 1),
                "Not allowed during a mail transaction",
            ),
            _ => None,
        };
        if let Some(reply) = bad {
            // A BDAT chunk must still be read (RFC 3030) even when refused.
            if let Command::Bdat { size, last } = cmd {
                self.start_bdat(size, last, Some(reply));
            } else {
                self.invalid(reply);
            }
            return;
        }
        if let Command::Bdat { size, last } = cmd {
            let refusal = match p {
                Phase::InRcpt => None,
                Phase::InMail => Some(Reply::new(
                    503,
                    EnhancedStatus::new(5, 0, 0),
                    "Need RCPT (recipient)",
                )),
                _ => Some(Reply::new(
                    503,
                    EnhancedStatus::new(5, 0, 0),
                    "Need MAIL command",
                )),
            };
            self.start_bdat(size, last, refusal);
            return;
        }
        self.pending = Pending::Command(cmd.clone());
        self.events.push_back(Event::Command(cmd));
    }

    fn start_bdat(&mut self, size: u64, last: Last, refusal: Option<Reply>) {
        self.bdat_left = size;
        self.bdat_size = size;
        self.bdat_last = last;
        if refusal.is_none() {
            self.bdat_tx = true;
        }
        self.bdat_refusal = refusal;
        self.bdat_resume = self.phase;
        self.phase = Phase::InBdat;
        self.read_bdat();
    }

    /// Read the rest of a BDAT chunk; content is passed on unchanged and
    /// checked with the same line-ending rule as DATA.
    fn read_bdat(&mut self) {
        if self.bdat_left > 0 {
            let n = usize::try_from(self.bdat_left)
                .unwrap_or(usize::MAX)
                .min(self.input.len());
            if n == 0 {
                return;
            }
            let chunk: Vec<u8> = self.input.drain(..n).collect();
            self.bdat_left -= n as u64;
            if self.bdat_refusal.is_none() {
                self.body.size += n as u64;
                self.lines.feed(&chunk, self.limits.data_line);
                self.events.push_back(Event::BodyChunk(chunk));
            }
            if self.bdat_left > 0 {
                return;
            }
        }
        self.phase = self.bdat_resume;
        if let Some(reply) = self.bdat_refusal.take() {
            self.invalid(reply);
        } else if self.bdat_last == Last::Last {
            self.finish_body();
        } else {
            let size = self.bdat_size;
            self.pending = Pending::Command(Command::Bdat {
                size,
                last: Last::More,
            });
            self.events.push_back(Event::Command(Command::Bdat {
                size,
                last: Last::More,
            }));
        }
    }

    fn finish_body(&mut self) {
        let (bare_line_end, long_line) = self.lines.finish();
        let end = BodyEnd {
            bare_line_end,
            long_line,
            ..self.body
        };
        self.reset_body();
        self.pending = Pending::BodyEnd;
        self.events.push_back(Event::BodyEnd(end));
    }

    /// A new message body (DATA accepted, a new transaction, a reset).
    fn reset_body(&mut self) {
        self.body = BodyEnd::default();
        self.lines = LineCheck::default();
        self.at_line_start = true;
        self.bdat_tx = false;
    }

    /// Read DATA content: unstuff dots, stop at `<CRLF>.<CRLF>` only.
    fn read_data(&mut self) {
        let mut chunk = Vec::with_capacity(self.input.len());
        let mut consumed = 0;
        let mut ended = false;
        while let Some(lf) = memchr::memchr(b'\n', &self.input[consumed..]) {
            let line = &self.input[consumed..consumed + lf + 1];
            consumed += lf + 1;
            // Only a "." line that follows a CRLF and ends in CRLF ends the
            // data: a bare LF or CR never makes a terminator (SMTP smuggling).
            if self.at_line_start && line == b".\r\n" {
                ended = true;
                break;
            }
            let content = if self.at_line_start && line.first() == Some(&b'.') {
                &line[1..]
            } else {
                line
            };
            self.at_line_start = line.ends_with(b"\r\n");
            chunk.extend_from_slice(content);
        }
        // A partial line may be passed on once it is long; keep a small tail
        // so a terminator split across reads is still recognised.
        if !ended && self.input.len() - consumed > 4096 {
            let take = self.input.len() - consumed - 2;
            let part = &self.input[consumed..consumed + take];
            let part = if self.at_line_start && part.first() == Some(&b'.') {
                &part[1..]
            } else {
                part
            };
            chunk.extend_from_slice(part);
            self.at_line_start = false;
            consumed += take;
        }
        self.input.drain(..consumed);
        if !chunk.is_empty() {
            self.body.size += chunk.len() as u64;
            self.lines.feed(&chunk, self.limits.data_line);
            self.events.push_back(Event::BodyChunk(chunk));
        }
        if ended {
            self.phase = Phase::Ready;
            self.finish_body();
        }
    }

    fn after_command(&mut self, cmd: Command, reply: &Reply, ok: bool) {
        match cmd {
            Command::Helo(_) | Command::Ehlo(_) if ok => {
                self.extended = matches!(cmd, Command::Ehlo(_));
                self.phase = Phase::Ready;
                self.reset_body();
            }
            Command::Mail(_, params) if ok => {
                self.phase = Phase::InMail;
                self.smtputf8 = params.smtputf8;
                self.reset_body();
            }
            Command::Rcpt(..) if ok => self.phase = Phase::InRcpt,
            Command::Rset if ok && self.phase != Phase::Greeting => {
                self.phase = Phase::Ready;
                self.reset_body();
            }
            Command::Data if reply.code == 354 => {
                self.phase = Phase::InData;
                self.reset_body();
            }
            Command::Bdat { .. } if !ok => {
                // A refused chunk ends the transaction (RFC 3030 §3).
                self.reset_body();
                self.phase = Phase::Ready;
            }
            Command::StartTls if reply.code == 220 => {
                // Anything pipelined after STARTTLS was sent in plaintext: drop it.
                self.input.clear();
                self.tls_requested = true;
                self.extended = false;
                self.phase = Phase::Greeting;
            }
            Command::Auth { .. } if reply.code == 334 => self.phase = Phase::InAuth,
            Command::Quit => self.phase = Phase::Closed,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::command::Command;

    fn ok(code: u16) -> Reply {
        Reply::new(code, EnhancedStatus::new(2, 0, 0), "ok")
    }

    /// Feed `input`, answer every command with `answer`, collect events.
    fn run(
        s: &mut ServerSession,
        input: &[u8],
        answer: impl Fn(&Event) -> Option<Reply>,
    ) -> Vec<Event> {
        s.receive(input);
        let mut seen = Vec::new();
        while let Some(e) = s.next_event() {
            if let Some(r) = answer(&e) {
                s.respond(r);
            }
            seen.push(e);
        }
        seen
    }

    fn accept_all(e: &Event) -> Option<Reply> {
        match e {
            Event::BodyChunk(_) => None,
            Event::Invalid(r) => Some(r.clone()),
            Event::Command(Command::Data) => Some(Reply::plain(354, "go")),
            Event::Command(Command::Quit) => Some(ok(221)),
            _ => Some(ok(250)),
        }
    }

    fn body(events: &[Event]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::BodyChunk(c) => Some(c.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn order_is_enforced_by_construction() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(&mut s, b"MAIL FROM:<a@b>\r\n", accept_all);
        assert_eq!(
            ev,
            vec![Event::Invalid(Reply::new(
                503,
                EnhancedStatus::new(5, 0, 0),
                "Polite people say HELO first"
            ))]
        );
        let ev = run(
            &mut s,
            b"EHLO c\r\nRCPT TO:<x@y>\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nDATA\r\n",
            accept_all,
        );
        let replies: Vec<String> = ev
            .iter()
            .map(|e| match e {
                Event::Invalid(r) => r.lines[0].clone(),
                Event::Command(c) => format!("{c:?}").split('(').next().unwrap().to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            replies,
            [
                "Ehlo",
                "Need MAIL before RCPT",
                "Mail",
                "Sender already specified",
                "Need RCPT (recipient)"
            ]
        );
    }

    #[test]
    fn pipelined_transaction_with_dot_unstuffing() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nSubject: t\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
            accept_all,
        );
        assert_eq!(body(&ev), b"Subject: t\r\n\r\n.dot\r\n");
        assert!(ev.contains(&Event::BodyEnd(BodyEnd {
            size: 20,
            bare_line_end: false,
            long_line: false
        })));
        assert!(s.is_closed());
        let out = String::from_utf8(s.take_output()).unwrap();
        assert_eq!(out.matches("\r\n").count(), 6, "{out}");
    }

    #[test]
    fn smuggling_bare_lf_is_not_a_terminator() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nhi\r\n\n.\nMAIL FROM:<evil@x>\r\n.\r\n",
            accept_all,
        );
        let end = ev.iter().find_map(|e| match e {
            Event::BodyEnd(b) => Some(*b),
            _ => None,
        });
        assert!(end.unwrap().bare_line_end, "bare LF reported");
        assert!(
            body(&ev).ends_with(b"MAIL FROM:<evil@x>\r\n"),
            "smuggled command stays body"
        );
        assert!(!ev.iter().any(
            |e| matches!(e, Event::Command(Command::Mail(..)) if format!("{e:?}").contains("evil"))
        ));
        // \r\n.\n is not an end either
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nx\r\n.\n",
            accept_all,
        );
        assert!(!ev.iter().any(|e| matches!(e, Event::BodyEnd(_))));
    }

    #[test]
    fn terminator_split_across_reads() {
        let mut s = ServerSession::new(Limits::default());
        run(
            &mut s,
            b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nabc\r",
            accept_all,
        );
        let ev = run(&mut s, b"\n.", accept_all);
        assert!(!ev.iter().any(|e| matches!(e, Event::BodyEnd(_))));
        let ev = run(&mut s, b"\r\n", accept_all);
        assert!(ev.iter().any(|e| matches!(e, Event::BodyEnd(_))));
    }

    #[test]
    fn bdat_chunks() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nBDAT 5\r\nab\r\nxBDAT 3 LAST\r\n.\n!",
            accept_all,
        );
        assert_eq!(body(&ev), b"ab\r\nx.\n!");
        assert!(ev.contains(&Event::Command(Command::Bdat {
            size: 5,
            last: Last::More
        })));
        assert!(matches!(
            ev.last(),
            Some(Event::BodyEnd(BodyEnd { size: 8, .. }))
        ));
        // BDAT without a transaction: the chunk is still consumed, then refused.
        let mut s = ServerSession::new(Limits::default());
        let ev = run(&mut s, b"EHLO c\r\nBDAT 4\r\nQUITNOOP\r\n", accept_all);
        assert!(matches!(&ev[1], Event::Invalid(r) if r.code == 503));
        assert_eq!(ev[2], Event::Command(Command::Noop));
    }

    /// Found by `cargo fuzz run smtp_session` (2026-12-04): BDAT chunks
    /// without LAST, then EHLO. The chunks belong to the abandoned
    /// transaction; the next message's size counts only its own body (the
    /// fuzz driver had kept counting them; the session was right).
    #[test]
    fn chunks_of_an_abandoned_bdat_transaction_are_not_counted_again() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nBDAT 5\r\nD\reinEHLO d\r\n\
              MAIL FROM:<>\r\nRCPT TO:<p>\r\nDATA\r\n.\r\n",
            accept_all,
        );
        assert_eq!(body(&ev), b"D\rein", "the abandoned chunk was delivered");
        assert!(matches!(
            ev.last(),
            Some(Event::BodyEnd(BodyEnd { size: 0, .. }))
        ));
    }

    #[test]
    fn starttls_discards_pipelined_plaintext() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\n",
            |e| match e {
                Event::Command(Command::StartTls) => Some(Reply::new(
                    220,
                    EnhancedStatus::new(2, 0, 0),
                    "Ready to start TLS",
                )),
                other => accept_all(other),
            },
        );
        assert_eq!(ev.len(), 2, "the injected MAIL is never seen: {ev:?}");
        assert!(s.take_tls_request());
        assert_eq!(s.buffered(), 0);
        // After TLS the client must EHLO again.
        let ev = run(&mut s, b"MAIL FROM:<a@b>\r\n", accept_all);
        assert!(matches!(&ev[0], Event::Invalid(r) if r.code == 503));
    }

    #[test]
    fn overlong_command_line() {
        let mut s = ServerSession::new(Limits {
            command_line: 20,
            data_line: 100,
        });
        let mut input = b"NOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        let ev = run(&mut s, &input, accept_all);
        assert!(matches!(&ev[0], Event::Invalid(r) if r.code == 500));
        // the rest of the long line is skipped, the next command works
        let ev = run(&mut s, b"xxxx\r\nNOOP\r\n", accept_all);
        assert_eq!(ev, vec![Event::Command(Command::Noop)]);
    }

    #[test]
    fn auth_exchange() {
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            b"EHLO c\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\nNOOP\r\n",
            |e| match e {
                Event::Command(Command::Auth { .. }) => Some(Reply::plain(334, "VXNlcm5hbWU6")),
                Event::AuthResponse(r) if r == "dXNlcg==" => {
                    Some(Reply::plain(334, "UGFzc3dvcmQ6"))
                }
                Event::AuthResponse(_) => Some(Reply::new(
                    235,
                    EnhancedStatus::new(2, 0, 0),
                    "OK Authenticated",
                )),
                other => accept_all(other),
            },
        );
        assert_eq!(ev[2], Event::AuthResponse("dXNlcg==".into()));
        assert_eq!(ev[3], Event::AuthResponse("cGFzcw==".into()));
        assert_eq!(ev[4], Event::Command(Command::Noop));
    }

    fn body_end(events: &[Event]) -> Option<BodyEnd> {
        events.iter().find_map(|e| match e {
            Event::BodyEnd(b) => Some(*b),
            _ => None,
        })
    }

    const TX: &[u8] = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\n";

    #[test]
    fn bdat_bare_cr_smuggling_is_reported_like_data() {
        // The CR-only variant of SMTP smuggling, in one BDAT chunk.
        let content: &[u8] =
            b"Subject: x\r\n\r\nhi\r\n\r.\rMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n";
        let mut input = TX.to_vec();
        input.extend_from_slice(format!("BDAT {} LAST\r\n", content.len()).as_bytes());
        input.extend_from_slice(content);
        let mut s = ServerSession::new(Limits::default());
        let ev = run(&mut s, &input, accept_all);
        assert_eq!(body(&ev), content, "BDAT content is passed on unchanged");
        assert!(
            body_end(&ev).unwrap().bare_line_end,
            "bare CR in BDAT reported"
        );
        assert!(
            !ev.iter().any(
                |e| format!("{e:?}").contains("evil") && matches!(e, Event::Command(_))
                    || matches!(e, Event::Command(Command::Data))
            ),
            "{ev:?}"
        );
        // The same bytes by DATA: the same verdict.
        let mut input = TX.to_vec();
        input.extend_from_slice(b"DATA\r\n");
        input.extend_from_slice(content);
        input.extend_from_slice(b".\r\n");
        let mut s = ServerSession::new(Limits::default());
        let ev = run(&mut s, &input, accept_all);
        assert!(
            body_end(&ev).unwrap().bare_line_end,
            "bare CR in DATA reported"
        );
    }

    #[test]
    fn bdat_line_ends_are_checked_across_chunks() {
        let cases: &[(&[&[u8]], bool)] = &[
            // CR at the end of one chunk, LF at the start of the next: one CRLF.
            (&[b"ab\r", b"\ncd\r\n"], false),
            (&[b"ab\r\n", b"cd\r\n"], false),
            (&[b"", b"ab\r\n"], false),
            // A CR followed by anything but LF, even across chunks.
            (&[b"ab\r", b"xcd\r\n"], true),
            (&[b"ab\r", b"\rcd\r\n"], true),
            // A bare LF at the start of a chunk after a CRLF.
            (&[b"ab\r\n", b"\ncd\r\n"], true),
            (&[b"ab\ncd\r\n"], true),
            // A CR ending the last chunk has no LF to pair with.
            (&[b"ab\r\n", b"cd\r"], true),
        ];
        for (chunks, bare) in cases {
            let mut input = TX.to_vec();
            for (i, c) in chunks.iter().enumerate() {
                let last = if i + 1 == chunks.len() { " LAST" } else { "" };
                input.extend_from_slice(format!("BDAT {}{last}\r\n", c.len()).as_bytes());
                input.extend_from_slice(c);
            }
            let mut s = ServerSession::new(Limits::default());
            let ev = run(&mut s, &input, accept_all);
            let end = body_end(&ev).unwrap_or_else(|| panic!("{chunks:?}: {ev:?}"));
            assert_eq!(end.bare_line_end, *bare, "{chunks:?}");
            assert_eq!(body(&ev), chunks.concat(), "{chunks:?}");
        }
        // The check starts afresh with the next transaction.
        let mut s = ServerSession::new(Limits::default());
        let mut input = TX.to_vec();
        input.extend_from_slice(b"BDAT 3 LAST\r\na\nb");
        input.extend_from_slice(b"MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nBDAT 3 LAST\r\nc\r\n");
        let ev = run(&mut s, &input, accept_all);
        let ends: Vec<bool> = ev
            .iter()
            .filter_map(|e| match e {
                Event::BodyEnd(b) => Some(b.bare_line_end),
                _ => None,
            })
            .collect();
        assert_eq!(ends, [true, false]);
    }

    #[test]
    fn bare_cr_in_data_split_across_reads() {
        let mut s = ServerSession::new(Limits::default());
        let mut input = TX.to_vec();
        input.extend_from_slice(b"DATA\r\nab\r");
        run(&mut s, &input, accept_all);
        let ev = run(&mut s, b"\r\n.\r\n", accept_all);
        assert!(body_end(&ev).unwrap().bare_line_end);
        // A CRLF split across reads is fine.
        let mut s = ServerSession::new(Limits::default());
        let mut input = TX.to_vec();
        input.extend_from_slice(b"DATA\r\nab\r");
        run(&mut s, &input, accept_all);
        let ev = run(&mut s, b"\n.\r\n", accept_all);
        assert!(!body_end(&ev).unwrap().bare_line_end);
    }

    #[test]
    fn long_lines_are_accepted_and_flagged_at_998() {
        for (len, long) in [(998, false), (999, true), (5000, true)] {
            let line = vec![b'x'; len];
            let mut input = TX.to_vec();
            input.extend_from_slice(b"DATA\r\n");
            input.extend_from_slice(&line);
            input.extend_from_slice(b"\r\nshort\r\n.\r\n");
            let mut s = ServerSession::new(Limits::default());
            let ev = run(&mut s, &input, accept_all);
            let end = body_end(&ev).unwrap();
            assert_eq!(end.long_line, long, "{len}");
            assert!(!end.bare_line_end);
            assert_eq!(body(&ev).len(), len + 9, "the line is kept whole");
            // The same by BDAT.
            let mut content = line.clone();
            content.extend_from_slice(b"\r\n");
            let mut input = TX.to_vec();
            input.extend_from_slice(format!("BDAT {} LAST\r\n", content.len()).as_bytes());
            input.extend_from_slice(&content);
            let mut s = ServerSession::new(Limits::default());
            let ev = run(&mut s, &input, accept_all);
            assert_eq!(body_end(&ev).unwrap().long_line, long, "BDAT {len}");
        }
    }

    #[test]
    fn data_after_bdat_in_the_same_transaction_is_refused() {
        let mut s = ServerSession::new(Limits::default());
        let mut input = TX.to_vec();
        input.extend_from_slice(b"BDAT 5\r\nab\r\nxDATA\r\n");
        let ev = run(&mut s, &input, accept_all);
        assert_eq!(
            ev.last(),
            Some(&Event::Invalid(Reply::new(
                503,
                EnhancedStatus::new(5, 5, 1),
                "DATA not allowed after BDAT in the same transaction (RFC 3030)"
            )))
        );
        // The transaction goes on by BDAT; after it, DATA works again.
        let ev = run(
            &mut s,
            b"BDAT 2 LAST\r\n\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nz\r\n.\r\n",
            accept_all,
        );
        assert!(
            matches!(ev[1], Event::BodyEnd(BodyEnd { size: 7, .. })),
            "{ev:?}"
        );
        assert!(ev.contains(&Event::Command(Command::Data)), "{ev:?}");
        // RSET also ends the BDAT transaction.
        let mut s = ServerSession::new(Limits::default());
        let mut input = TX.to_vec();
        input.extend_from_slice(b"BDAT 1\r\nxRSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\n");
        let ev = run(&mut s, &input, accept_all);
        assert_eq!(ev.last(), Some(&Event::Command(Command::Data)), "{ev:?}");
    }

    #[test]
    fn non_ascii_addresses_need_smtputf8() {
        let refused = |ev: &[Event]| {
            ev.iter()
                .filter_map(|e| match e {
                    Event::Invalid(r) => Some((r.code, r.status, r.lines[0].clone())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let st = Some(EnhancedStatus::new(5, 6, 7));
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            "EHLO c\r\nMAIL FROM:<jürgen@example.org>\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@bücher.example>\r\nRCPT TO:<x@y>\r\n".as_bytes(),
            accept_all,
        );
        assert_eq!(
            refused(&ev),
            [
                (553, st, format!("<jürgen@example.org>... {NEEDS_SMTPUTF8}")),
                (553, st, format!("<x@bücher.example>... {NEEDS_SMTPUTF8}")),
            ]
        );
        assert!(ev.contains(&Event::Command(Command::parse("RCPT TO:<x@y>").unwrap())));
        // With SMTPUTF8 on MAIL both are accepted.
        let mut s = ServerSession::new(Limits::default());
        let ev = run(
            &mut s,
            "EHLO c\r\nMAIL FROM:<jürgen@example.org> SMTPUTF8\r\nRCPT TO:<x@bücher.example>\r\n"
                .as_bytes(),
            accept_all,
        );
        assert!(refused(&ev).is_empty(), "{ev:?}");
        assert_eq!(ev.len(), 3);
        // The parameter holds for one transaction only.
        let ev = run(
            &mut s,
            "RSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@bücher.example>\r\n".as_bytes(),
            accept_all,
        );
        assert_eq!(refused(&ev).len(), 1, "{ev:?}");
    }
}

#[cfg(test)]
mod line_check {
    use super::LineCheck;

    /// The run-at-a-time check agrees with the octet-by-octet definition on
    /// every input and every chunking (a fixed xorshift sequence of inputs
    /// over the octets that matter: CR, LF, an ordinary one).
    #[test]
    fn feed_agrees_with_the_bytewise_definition() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| [b'\r', b'\n', b'a'][(next() % 3) as usize])
                .collect();
            let limit = (next() % 6) as usize;
            let mut want = LineCheck::default();
            want.feed_bytewise(&input, limit);
            let mut got = LineCheck::default();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = 1 + (next() % rest.len() as u64) as usize;
                got.feed(&rest[..n], limit);
                rest = &rest[n..];
            }
            assert_eq!(got, want, "{input:?} limit {limit}");
        }
    }
}
