//! The receive transaction: one SMTP session's rules, without I/O.
//!
//! Contract: a [`Session`] owns the protocol state ([`ServerSession`]),
//! every limit, counter, deadline and reply text of a session, from the
//! greeting to QUIT. Bytes from the client go in ([`Session::receive`]),
//! bytes for the client come out ([`Session::take_output`]); the facts of
//! the connection (client address and name, PTR result, DNSBL answers, TLS
//! state) are given at its start ([`Inputs`]) and the clock is read from
//! the [`World`]. What it needs from outside during the session — a DNS
//! answer for a sender's domain, a password check, a mail filter, the spool
//! commit of an envelope and body, a log line — it asks the [`World`] for.
//! The daemon's world (`smtpd::world`) does that over sockets and files;
//! the transcript tests' world answers from data, so every reply can be
//! tested without a socket. Nothing here reads a file or a socket
//! (`tests/layering.rs` holds it to that).
//!
//! The driver (`smtpd::conn`) only reads, writes and waits: it asks
//! [`Session::wake_at`] when to give up waiting, and calls
//! [`Session::timed_out`], [`Session::shutting_down`] or
//! [`Session::tls_started`] with what happened.

mod command;
mod data;
mod filters;

use super::listener::DaemonSpec;
use super::milters::Filters;
use super::stream::TlsInfo;
use super::{Runtime, Settings};
use crate::addr::{self, Address, Mailbox};
use crate::auth::{Credentials, Sasl, throttle::Penalty};
use crate::event::{client_field, relay_field};
use crate::policy::{self, Action, Client, DnsAnswer, Facts};
use crate::proto::command::{Command, MailParams, RcptParams};
use crate::proto::reply::{EnhancedStatus, Reply};
use crate::proto::server::{Event, Limits, ServerSession};
use crate::site::Site;
use crate::spool::{self, Envelope, State};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use data::unfolded_headers;

fn st(c: u8, s: u16, d: u16) -> EnhancedStatus {
    EnhancedStatus::new(c, s, d)
}

/// A message in transfer is kept in memory up to this many bytes; beyond,
/// it goes to a scratch file in the spool as it arrives, so a session holds
/// at most about this much of its message whatever the message's size
/// (and however slowly it comes).
pub const SPILL_AT: usize = 128 * 1024;

/// Recipients past `confMAX_RCPTS_PER_MESSAGE` answered `452` before each
/// further one counts as a bad command (Postfix's
/// `smtpd_recipient_overshoot_limit`, 1000).
const RCPT_OVERSHOOT: usize = 1000;
/// How long a RCPT waits once `confBAD_RCPT_THROTTLE` refusals were
/// given (sendmail's `BadRcptThrottleDelay` default).
const BAD_RCPT_DELAY: Duration = Duration::from_secs(1);

/// `[192.0.2.1]`, `[IPv6:2001:db8::1]`: an address as sendmail writes one
/// it has no name for.
pub fn bracketed(ip: &IpAddr) -> String {
    format!("[{}]", addr::sendmail_ip(ip))
}

/// What the session asks of the outside world. Every method is one
/// request: the daemon's world answers over sockets and files, a test's
/// world from data.
#[allow(async_fn_in_trait)]
pub trait World {
    /// Write one log line, prefixed with `id` (the session's or a queue id).
    fn log(&self, id: &str, text: &str);
    /// The monotonic clock (deadlines).
    fn now(&self) -> Instant;
    /// The wall clock, in seconds since 1970 (dates in replies and headers).
    fn unix_time(&self) -> u64;
    /// Is there room for another message (disk, queue size)? The text says why not.
    fn has_room(&self) -> Result<(), &'static str>;
    /// A new queue id.
    fn next_id(&mut self) -> spool::QueueId;
    /// The mail filters of this session (`INPUT_MAIL_FILTER`).
    fn filters(&mut self) -> &mut Filters;
    /// The name of this host's address `ip` (sendmail's
    /// `hostnamebyanyaddr`, `{if_name}`): the hosts file or the PTR record,
    /// else the address in brackets. A world without lookups gives the
    /// brackets.
    async fn address_name(&mut self, ip: IpAddr) -> String {
        bracketed(&ip)
    }
    /// Does `domain` exist in the DNS? `None`: no resolver is configured.
    async fn domain_exists(&mut self, domain: &str) -> Option<DnsAnswer<Vec<IpAddr>>>;
    /// Check a password with the AUTH backend (`Err`: the backend failed).
    async fn check_password(&mut self, creds: &Credentials, ip: IpAddr) -> Result<bool, String>;
    /// Count a failed AUTH from `ip`; the answer says how long to wait.
    fn auth_failed(&mut self, ip: IpAddr) -> Penalty;
    /// `ip` authenticated: forget its failures.
    fn auth_succeeded(&mut self, ip: IpAddr);
    /// Wait (the delay before answering a failed AUTH).
    async fn sleep(&mut self, wait: Duration);
    /// Keep `part` of the message being received out of memory: append it
    /// to this transaction's scratch file in the spool.
    async fn spill(&mut self, part: Vec<u8>) -> Result<(), spool::Error>;
    /// Everything spilled, read back (content checks and mail filters read
    /// whole messages); the world bounds how many are read back at once.
    async fn unspill(&mut self) -> Result<Vec<u8>, spool::Error>;
    /// Forget what was spilled (the transaction ended without a commit).
    fn discard_spill(&mut self);
    /// ETRN: retry every queued message now. `false`: a run was already
    /// asked for less than a minute ago, and this one is not started.
    fn flush_queue(&mut self) -> bool;
    /// Commit a message to the spool (what was spilled, then
    /// `Commit::body`); the answer is its size on disk. The session answers
    /// 250 only after this returned `Ok`.
    async fn commit(&mut self, message: Commit) -> Result<u64, spool::Error>;
}

/// A message to commit: its envelope, the header lines we add (trace and,
/// for submission, the missing `Date:` and `Message-ID:`), the body as
/// received (after the filters' and rules' changes), and where it goes.
#[derive(Debug)]
pub struct Commit {
    /// The queue id taken at MAIL.
    pub id: spool::QueueId,
    /// The envelope.
    pub envelope: Envelope,
    /// `Received:` and any header lines added in front of the message.
    pub head: String,
    /// The message (after what was spilled, when `spilled` is not 0).
    pub body: Vec<u8>,
    /// Bytes of the message the world holds in the scratch file, which come
    /// first.
    pub spilled: u64,
    /// `Queue`, or `Quarantine` when a rule or filter held it.
    pub state: State,
}

/// Where the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A TCP client.
    Network,
    /// A client on a `Family=local` listener (`[UNIX: localhost]`).
    UnixSocket,
    /// `sendmail -bs`: a local program on standard input (no connection checks).
    Program,
}

/// The facts a session starts with.
pub struct Inputs {
    /// The configuration generation, kept to the session's end.
    pub runtime: Arc<Runtime>,
    /// The listener.
    pub spec: Arc<DaemonSpec>,
    /// The client's address and port.
    pub peer: SocketAddr,
    /// Our end of the connection (`{if_addr}`).
    pub local_addr: Option<SocketAddr>,
    /// Where the client is.
    pub origin: Origin,
    /// The client as the policy sees it: name, PTR result, connection
    /// counts (see `smtpd::world::connect_facts`).
    pub client: Client,
    /// DNS answers known at connect (DNSBL queries).
    pub dns: Vec<(String, DnsAnswer<Vec<IpAddr>>)>,
    /// The session id (the prefix of lines without a queue id).
    pub sid: String,
    /// A certificate is configured: STARTTLS can be offered.
    pub tls_available: bool,
    /// The connection is already TLS (SMTPS).
    pub smtps: Option<TlsInfo>,
}

/// The transaction being built (MAIL to the end of DATA).
#[derive(Default)]
struct Draft {
    sender: Option<Address>,
    params: MailParams,
    rcpts: Vec<(Mailbox, RcptParams)>,
    /// Recipients refused for `confMAX_RCPTS_PER_MESSAGE` in this transaction.
    excess_rcpts: usize,
    /// The message received so far, after what was spilled.
    body: Vec<u8>,
    /// Bytes of the message received (spilled and in `body`).
    size: u64,
    /// Bytes handed to [`World::spill`].
    spilled: u64,
    /// The header section as first received, kept when the message starts
    /// to be spilled (hop count, `Message-ID:`, submission's missing headers).
    headers: Option<Vec<u8>>,
    /// Spilling failed: the message cannot be accepted.
    spill_error: Option<spool::Error>,
    too_big: bool,
    discard: Option<String>,
    quarantine: Option<String>,
    /// The queue id, taken at MAIL (the mail filters' `i`).
    id: Option<spool::QueueId>,
}

/// One SMTP session, from the greeting to the end.
pub struct Session<W: World> {
    world: W,
    proto: ServerSession,
    runtime: Arc<Runtime>,
    site: Arc<Site>,
    settings: Arc<Settings>,
    spec: Arc<DaemonSpec>,
    peer: SocketAddr,
    local_addr: Option<SocketAddr>,
    origin: Origin,
    client: Client,
    tls_available: bool,
    /// What `Srv_Features:` in access says for this client.
    features: policy::SrvFeatures,
    /// No command yet since the greeting (or since STARTTLS): an HTTP
    /// command now is an open-proxy probe.
    first_command: bool,
    facts: Facts,
    helo: String,
    /// Set when check_relay refused the connection: every command gets this.
    refused: Option<Reply>,
    authed: Option<String>,
    sasl: Option<Sasl>,
    auth_mech: Option<String>,
    tls: Option<(String, String)>,
    smtps: Option<TlsInfo>,
    tx: Draft,
    /// What check_relay said for every transaction of the session
    /// (DISCARD, QUARANTINE).
    session_discard: Option<String>,
    session_quarantine: Option<String>,
    errors: usize,
    /// RCPT commands refused in this session (sendmail's `n_badrcpts`,
    /// for `confBAD_RCPT_THROTTLE`).
    bad_rcpts: usize,
    /// Commands that moved no mail since the last MAIL.
    nonmail: usize,
    /// Inside DATA or a BDAT chunk: the data-block timeout applies.
    in_body: bool,
    messages: usize,
    /// MAIL, EXPN, VRFY or ETRN was given (sendmail's `lognullconnection`
    /// turned off): no `did not issue` line at the end.
    mail_cmd: bool,
    sid: String,
    /// A filter temp-failed the connection: MAIL gets this (sendmail's
    /// "temporary failing commands").
    milter_tempfail: Option<Reply>,
    /// The session ends once the output is written.
    closing: bool,
    /// When the command line being waited for must be complete, and when
    /// the message being transferred must be (see `Settings`).
    line_deadline: Option<Instant>,
    data_deadline: Option<Instant>,
}

impl<W: World> Session<W> {
    /// A session with `inputs`, asking `world`.
    pub fn new(inputs: Inputs, world: W) -> Session<W> {
        let mut facts = Facts::new();
        for (q, a) in inputs.dns {
            facts.dns.insert(q, a);
        }
        let mut client = inputs.client;
        client.daemon_flags = inputs.spec.modifiers.clone();
        Session {
            world,
            proto: ServerSession::new(Limits::default()),
            site: inputs.runtime.site.clone(),
            settings: inputs.runtime.settings.clone(),
            runtime: inputs.runtime,
            spec: inputs.spec,
            peer: inputs.peer,
            local_addr: inputs.local_addr,
            origin: inputs.origin,
            client,
            tls_available: inputs.tls_available,
            features: policy::SrvFeatures::default(),
            first_command: true,
            facts,
            helo: String::new(),
            refused: None,
            authed: None,
            sasl: None,
            auth_mech: None,
            tls: None,
            smtps: inputs.smtps,
            tx: Draft::default(),
            session_discard: None,
            session_quarantine: None,
            errors: 0,
            bad_rcpts: 0,
            nonmail: 0,
            in_body: false,
            messages: 0,
            mail_cmd: false,
            sid: inputs.sid,
            milter_tempfail: None,
            closing: false,
            line_deadline: None,
            data_deadline: None,
        }
    }

    /// The world this session asks.
    pub fn world(&mut self) -> &mut W {
        &mut self.world
    }

    /// Messages accepted (or discarded as accepted) in this session.
    pub fn messages(&self) -> usize {
        self.messages
    }

    fn local(&self) -> bool {
        self.origin == Origin::Program
    }

    fn unix(&self) -> bool {
        self.origin == Origin::UnixSocket
    }

    fn ip_text(&self) -> String {
        if self.unix() {
            return policy::UNIX_CLIENT_ADDR.to_string();
        }
        addr::sendmail_ip(&self.peer.ip())
    }

    fn relay(&self) -> String {
        relay_field(&self.client.name, &self.ip_text())
    }

    /// `name [ip]`: the client as sendmail names it at the start of a line.
    fn client_text(&self) -> String {
        client_field(&self.client.name, &self.ip_text())
    }

    fn log(&self, qid: Option<&str>, text: &str) {
        self.world.log(qid.unwrap_or(&self.sid), text);
    }

    /// How long to wait for an early talker before the greeting
    /// (`FEATURE(greet_pause)`); none for a local program, as in sendmail.
    pub fn greet_pause(&self) -> Option<Duration> {
        if self.local() {
            return None;
        }
        policy::greet_pause(&self.site, &self.client)
            .map(|p| p.millis)
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    }

    /// The client talked before the greeting (after `waited`): every
    /// command will be refused.
    pub fn early_talker(&mut self, bytes: &[u8], waited: Duration) {
        self.proto.receive(bytes);
        self.log(
            None,
            &format!(
                "rejecting commands from {} due to pre-greeting traffic after {} seconds",
                self.client_text(),
                waited.as_secs()
            ),
        );
        self.refused = Some(Reply::new(550, st(5, 0, 0), "Command rejected"));
    }

    /// Start the session: the connection checks (check_relay,
    /// `Srv_Features:`, the filters' connect stage), then the greeting or
    /// the refusal. A 421 refusal closes the session once written.
    pub async fn open(&mut self) {
        if let Some(info) = self.smtps.take() {
            self.log_starttls(&info);
            self.client.cert = Some(info.peer);
            self.tls = Some((info.version, info.cipher));
        }
        if self.refused.is_none() {
            let verdict = if self.local() {
                policy::Verdict::new(
                    Action::Continue,
                    policy::Because::Rule("a local program (-bs): no connection checks".into()),
                )
            } else {
                policy::check_relay(&self.site, &self.facts, &self.client)
            };
            match &verdict.action {
                Action::Reject(r) | Action::TempFail(r) => {
                    let reply = to_reply(r, None);
                    self.log(
                        None,
                        &format!(
                            "ruleset=check_relay, arg1={}, arg2={}, {}, reject={}",
                            self.client.name,
                            self.ip_text(),
                            self.relay(),
                            reply
                        ),
                    );
                    self.refused = Some(reply);
                }
                Action::Discard => self.tx.discard = Some(verdict.why.to_string()),
                Action::Quarantine(reason) => self.tx.quarantine = Some(reason.clone()),
                _ => {}
            }
        }
        if self.refused.is_none() && !self.local() {
            self.srv_features();
        }
        if self.refused.is_none() && !self.world.filters().is_empty() {
            self.milter_connect().await;
        }
        self.session_discard = self.tx.discard.clone();
        self.session_quarantine = self.tx.quarantine.clone();
        if let Some(r) = self.refused.clone() {
            // Counted once here; the refusal repeated to each command is not.
            refused_metric(&self.spec.name, "connect", &r);
            if r.code == 421 {
                // A 421 ends the session (RFC 5321 3.8; sendmail's
                // `terminate' for ratecontrol/conncontrol, Postfix's hangup).
                self.proto.send(&r);
                self.closing = true;
                return;
            }
            self.proto.send(&Reply::plain(
                554,
                format!("{} ESMTP not accepting messages", self.site.hostname),
            ));
        } else {
            let greeting = self.greeting();
            self.proto.send(&greeting);
        }
    }

    fn greeting(&self) -> Reply {
        let now = self.world.unix_time();
        let date = super::received::rfc5322_date(now);
        let text = match &self.settings.greeting {
            Some(g) => {
                let runtime = |name: &str| match name {
                    "j" => Some(self.site.hostname.clone()),
                    "v" | "Z" => Some(env!("CARGO_PKG_VERSION").to_string()),
                    "b" => Some(date.clone()),
                    _ => None,
                };
                self.site
                    .expand_macros(g, &runtime)
                    .replacen(' ', " ESMTP ", 1)
            }
            None => format!(
                "{} ESMTP mxgate {}; {date}",
                self.site.hostname,
                env!("CARGO_PKG_VERSION"),
            ),
        };
        Reply::plain(220, text)
    }

    /// Bytes from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.proto.receive(bytes);
    }

    /// Bytes for the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.proto.take_output()
    }

    /// How long a write to the client may take (Postfix's `smtpd_timeout`
    /// also bounds writes: a client that stops reading must not hold the
    /// session).
    pub fn write_limit(&self) -> Duration {
        self.settings.command_timeout
    }

    /// How long a TLS handshake may take.
    pub fn tls_limit(&self) -> Duration {
        self.settings.tls_timeout
    }

    /// A write did not finish within [`Session::write_limit`]: the session ends.
    pub fn write_timed_out(&mut self) {
        self.log(
            None,
            &format!(
                "{}: timeout writing to the client ({}s), closing",
                self.relay(),
                self.settings.command_timeout.as_secs()
            ),
        );
        self.closing = true;
    }

    /// The session is over: write what is left and close.
    pub fn is_closed(&self) -> bool {
        self.closing || self.proto.is_closed()
    }

    /// STARTTLS was answered 220: the driver does the handshake now.
    pub fn take_tls_request(&mut self) -> bool {
        self.proto.take_tls_request()
    }

    /// The TLS handshake finished (`None`: it failed or took too long,
    /// and the session ends). A new session starts inside TLS (RFC 3207:
    /// forget HELO and the transaction).
    pub async fn tls_started(&mut self, info: Option<TlsInfo>) {
        let Some(info) = info else {
            self.log(
                None,
                &format!("STARTTLS=server, error: handshake failed, {}", self.relay()),
            );
            self.closing = true;
            return;
        };
        self.log_starttls(&info);
        self.client.cert = Some(info.peer);
        self.tls = Some((info.version, info.cipher));
        self.helo.clear();
        self.new_draft(Draft::default());
        self.first_command = true;
        self.world.filters().abort().await;
    }

    /// sendmail's line after a TLS handshake, which logwatch's STARTTLS
    /// section counts: `STARTTLS=server, relay=..., version=TLSv1.3,
    /// verify=NO, cipher=..., bits=256/256` (`${verify}`: `NO` when the
    /// client sent no certificate, `NOT` when none was asked for); with a
    /// certificate, sendmail's `cert-subject=..., cert-issuer=...,
    /// verifymsg=...` line before it.
    fn log_starttls(&self, info: &TlsInfo) {
        let bits = crate::event::cipher_bits(&info.cipher);
        let p = &info.peer;
        if !p.subject.is_empty() {
            let msg = match p.verify {
                crate::policy::tls::Verify::Ok => "ok",
                _ => "unable to verify the certificate",
            };
            self.log(
                None,
                &format!(
                    "STARTTLS=server, cert-subject={}, cert-issuer={}, verifymsg={msg}",
                    p.subject, p.issuer
                ),
            );
        }
        self.log(
            None,
            &format!(
                "STARTTLS=server, {}, version={}, verify={}, cipher={}, bits={bits}/{bits}",
                self.relay(),
                info.version,
                p.verify.as_str(),
                info.cipher
            ),
        );
    }

    /// Answer the next complete command (or block of data) already
    /// received; `false` when more input is needed. Answering everything
    /// buffered before reading more is what makes pipelining work.
    pub async fn step(&mut self) -> bool {
        let Some(event) = self.proto.next_event() else {
            return false;
        };
        // A complete line (or block of data) arrived: the next command
        // gets its own deadline.
        self.line_deadline = None;
        let stage = stage(&event).filter(|_| self.refused.is_none());
        if let Some(reply) = self.answer(event).await {
            if let Some(stage) = stage {
                refused_metric(&self.spec.name, stage, &reply);
            }
            self.proto.respond(reply);
        }
        let settings = &self.settings;
        let attack = if settings.max_errors > 0 && self.errors > settings.max_errors {
            Some("bad")
        } else if settings.max_nonmail > 0 && self.nonmail > settings.max_nonmail {
            Some("non-mail")
        } else {
            None
        };
        if let Some(kind) = attack.filter(|_| !self.is_closed()) {
            let r = Reply::new(
                421,
                st(4, 7, 0),
                format!(
                    "{} Too many {kind} commands; closing connection",
                    self.site.hostname
                ),
            );
            self.proto.send(&r);
            self.log(
                None,
                &format!("{}: possible SMTP attack: reject={r}", self.relay()),
            );
            self.closing = true;
        }
        if self.tx.discard.is_none() {
            self.tx.discard = self.session_discard.clone();
        }
        if self.tx.quarantine.is_none() {
            self.tx.quarantine = self.session_quarantine.clone();
        }
        true
    }

    /// Between transactions: a stopping daemon may close the session now.
    pub fn idle(&self) -> bool {
        !self.in_body && self.tx.sender.is_none()
    }

    /// The daemon is stopping: say so (`421 4.3.2`) and end the session.
    /// The client keeps whatever it has not had acknowledged and retries.
    pub fn shutting_down(&mut self) {
        let r = Reply::new(
            421,
            st(4, 3, 2),
            format!("{} Shutting down, closing connection", self.site.hostname),
        );
        self.proto.send(&r);
        self.log(
            None,
            &format!("{}: daemon stopping: reject={r}", self.relay()),
        );
        self.closing = true;
    }

    /// When to stop waiting for the client, now that it is `now`.
    ///
    /// RFC 5321 §4.5.3.2: the server waits for a command, or for the next
    /// block of message data once DATA (or a BDAT chunk) has begun. Besides
    /// these per-read waits, two deadlines bound a client that keeps
    /// sending a little: a command line must be complete within
    /// confTO_COMMAND of the server starting to wait for it, and a message
    /// within confMXGATE_TO_DATA of its first data octet (for BDAT, until
    /// the LAST chunk).
    pub fn wake_at(&mut self, now: Instant) -> Instant {
        let receiving = self.proto.is_receiving_body();
        if !receiving && self.tx.sender.is_none() {
            self.data_deadline = None;
        }
        if receiving && self.data_deadline.is_none() {
            self.data_deadline = Some(now + self.settings.data_deadline);
        }
        let wait = if receiving || self.in_body {
            self.settings.data_timeout
        } else {
            self.settings.command_timeout
        };
        if receiving {
            self.line_deadline = None;
        } else if self.line_deadline.is_none() {
            self.line_deadline = Some(now + self.settings.command_timeout);
        }
        [self.line_deadline, self.data_deadline]
            .into_iter()
            .flatten()
            .fold(now + wait, Instant::min)
    }

    /// The wait [`Session::wake_at`] gave ran out at `now`: `421 4.4.2`,
    /// and the session ends.
    pub fn timed_out(&mut self, now: Instant) {
        let receiving = self.proto.is_receiving_body() || self.in_body;
        let stage = if receiving { "message data" } else { "command" };
        let late = match (self.data_deadline, self.line_deadline) {
            (Some(d), _) if now >= d => Some(format!(
                "message transfer not complete within {}s",
                self.settings.data_deadline.as_secs()
            )),
            (_, Some(d)) if now >= d && self.proto.buffered() > 0 => Some(format!(
                "command line not complete within {}s ({} octets received)",
                self.settings.command_timeout.as_secs(),
                self.proto.buffered()
            )),
            _ => None,
        };
        let r = if let Some(why) = late {
            // Postfix's words for a client that is too slow as a whole
            // rather than silent.
            let r = Reply::new(
                421,
                st(4, 4, 2),
                format!("{} Error: timeout exceeded", self.site.hostname),
            );
            self.log(
                None,
                &format!(
                    "{}: timeout exceeded during {stage}: {why}, reject={r}",
                    self.relay()
                ),
            );
            r
        } else {
            let r = Reply::new(
                421,
                st(4, 4, 2),
                format!(
                    "{} Lost input channel: timeout waiting for input",
                    self.site.hostname
                ),
            );
            // sendmail's line (fail2ban and logwatch know it).
            let during = if receiving {
                "message collect"
            } else {
                "server cmd read"
            };
            self.log(
                None,
                &format!(
                    "timeout waiting for input from {} during {during}",
                    self.client_text()
                ),
            );
            r
        };
        self.proto.send(&r);
        self.closing = true;
    }

    /// The session ended (QUIT, end of input, a timeout): the last log
    /// line, and the filters' QUIT.
    pub async fn finish(&mut self) {
        // As sendmail at QUIT or end of input: a session refused at connect
        // (check_relay, greet_pause) has said enough already.
        if !self.mail_cmd && !self.local() && self.refused.is_none() {
            self.log(
                None,
                &format!(
                    "{} did not issue MAIL/EXPN/VRFY/ETRN during connection to {}",
                    self.client_text(),
                    self.spec.name
                ),
            );
        }
        self.world.filters().quit().await;
    }

    /// Start over with `draft`: what the old transaction spilled is dropped.
    fn new_draft(&mut self, draft: Draft) {
        // Also after a spill that failed half-way (`spilled` still 0).
        self.world.discard_spill();
        self.tx = draft;
    }

    /// A block of message data: kept while it is small, then spilled
    /// ([`SPILL_AT`]); past `confMAX_MESSAGE_SIZE` it is dropped and the
    /// message will be refused at its end.
    async fn take_chunk(&mut self, chunk: &[u8]) {
        let max = self.settings.max_message_size;
        if self.tx.too_big || max > 0 && self.tx.size + chunk.len() as u64 > max {
            self.tx.too_big = true;
            self.tx.body = Vec::new();
            return;
        }
        self.tx.size += chunk.len() as u64;
        if self.tx.spill_error.is_some() {
            return;
        }
        let len = self.tx.body.len() + chunk.len();
        if len > 64 * 1024 && self.tx.body.capacity() < SPILL_AT + 64 * 1024 {
            // A large message: one allocation for the part kept in memory
            // (no doubling past SPILL_AT); small messages never get here.
            let more = SPILL_AT + 64 * 1024 - self.tx.body.len();
            self.tx.body.reserve_exact(more);
        }
        self.tx.body.extend_from_slice(chunk);
        if self.tx.body.len() < SPILL_AT {
            return;
        }
        if self.tx.headers.is_none() {
            self.tx.headers = Some(header_section(&self.tx.body).to_vec());
        }
        let part = std::mem::take(&mut self.tx.body);
        let n = part.len() as u64;
        match self.world.spill(part).await {
            Ok(()) => self.tx.spilled += n,
            Err(e) => self.tx.spill_error = Some(e),
        }
    }

    /// Look up `Srv_Features:` for this client (sendmail's `srv_features`).
    /// An access map that cannot be read (sendmail's `$#temp`: "a
    /// temporary failure, no mail accepted") ends the session with `421
    /// 4.3.0 Please try again later.`; letters mxgate does not act on are
    /// logged.
    fn srv_features(&mut self) {
        match policy::srv_features(&self.site, &self.client) {
            Ok(f) => {
                let unused = f.unused();
                if !unused.is_empty() {
                    let unused: String = unused.into_iter().collect();
                    self.log(
                        None,
                        &format!(
                            "Srv_Features: {} ({}): letters {unused} not used by mxgate (no VERB, no EXPN, no client certificates; AUTH only under TLS)",
                            self.relay(),
                            f.why.as_deref().unwrap_or("")
                        ),
                    );
                }
                self.features = f;
            }
            Err(e) => {
                self.log(
                    None,
                    &format!(
                        "ERROR: srv_features=tempfail, {}, access temporarily disabled: {e}",
                        self.relay()
                    ),
                );
                self.refused = Some(Reply::new(421, st(4, 3, 0), "Please try again later."));
            }
        }
    }
}

/// The reply to a connection over a limit of the daemon's admission
/// (`Server::admit`), and the line to log.
pub fn admission_refusal(
    hostname: &str,
    daemon: &str,
    ip: &str,
    too_many_from_host: bool,
) -> (Reply, String) {
    let text = if too_many_from_host {
        "Too many connections from your host, try again later"
    } else {
        "Too many sessions, try again later"
    };
    let r = Reply::new(421, st(4, 3, 2), format!("{hostname} {text}"));
    let line = if too_many_from_host {
        // sendmail's conncontrol line (FEATURE(`conncontrol', `nodelay',
        // `terminate')), which fail2ban's sendmail-reject filter reads.
        format!(
            "ruleset=check_relay, arg1=[{ip}], arg2={ip}, {}, reject=421 4.3.2 Too many open connections.",
            relay_field("", ip)
        )
    } else {
        // The daemon's own limit is no offence of this client.
        format!(
            "rejecting connections on daemon {daemon}: {}, reject={r}",
            relay_field("", ip)
        )
    };
    refused_metric(daemon, "connect", &r);
    (r, line)
}

/// The header section of `msg`: up to and with the empty line that ends
/// it, or all of `msg` when it has none.
fn header_section(msg: &[u8]) -> &[u8] {
    if msg.starts_with(b"\r\n") {
        return &msg[..2];
    }
    match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &msg[..i + 4],
        None => msg,
    }
}

/// The refusal-counting stage of an event (`None`: not counted).
fn stage(event: &Event) -> Option<&'static str> {
    match event {
        Event::Command(Command::Helo(_) | Command::Ehlo(_)) => Some("helo"),
        Event::Command(Command::Mail(..)) => Some("mail"),
        Event::Command(Command::Rcpt(..)) => Some("rcpt"),
        Event::Command(Command::Data | Command::Bdat { .. }) | Event::BodyEnd(_) => Some("data"),
        _ => None,
    }
}

/// Count a 4xx/5xx answer as a refusal (`mxgate_refusals_total`).
fn refused_metric(listener: &str, stage: &str, reply: &Reply) {
    if reply.code >= 400 {
        let status = reply
            .status
            .as_ref()
            .map_or_else(|| reply.code.to_string(), |s| s.to_string());
        crate::metrics::global().inc(
            crate::metrics::REFUSED,
            &[
                ("listener", listener),
                ("stage", stage),
                ("status", &status),
            ],
        );
    }
}

/// The reverse path without brackets (`""` for the null sender), as the
/// client wrote it (see [`crate::addr::Mailbox::to_given_string`]).
fn display_path(a: &Address) -> String {
    match a {
        Address::Null => String::new(),
        Address::Mailbox(m) => m.to_given_string(),
    }
}

/// A policy reply as an SMTP reply, with sendmail's `<addr>... ` prefix where it belongs.
fn to_reply(r: &policy::Reply, addr: Option<&str>) -> Reply {
    r.to_smtp(addr)
}
