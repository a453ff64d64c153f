//! One connection to one filter.
//!
//! Contract: [`Client::open`] connects (`T=C`), negotiates (`SMFIC_OPTNEG`,
//! version 6, the actions and steps of [`codec::action::OFFERED`] and
//! [`codec::step::OFFERED`]) and refuses a filter that asks for more; the
//! macro lists a filter sends with its answer (`SMFIF_SETSYMLIST`) are
//! kept per stage ([`Client::symlist`]).
//! [`Client::step`] sends a stage's macros and command unless the filter
//! negotiated that step away (`SMFIP_NO*`), and waits for the answer unless
//! it negotiated "no reply" (`SMFIP_NR_*`): each packet is written within
//! `T=S`, each reply must come within `T=R` (`T=E` at end of message), and
//! `SMFIR_PROGRESS` restarts that wait. Every failure is an [`Error`]; what
//! it means for the mail (`F=`) is the caller's decision.

use super::codec::{self, Command, Decoder, Response, Stage, action, step};
use super::filter::{Filter, Socket};
use crate::deadline::Deadline;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A protocol step, for the negotiated `SMFIP_NO*` / `SMFIP_NR_*` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `SMFIC_CONNECT`.
    Connect,
    /// `SMFIC_HELO`.
    Helo,
    /// `SMFIC_MAIL`.
    Mail,
    /// `SMFIC_RCPT`.
    Rcpt,
    /// `SMFIC_DATA`.
    Data,
    /// `SMFIC_HEADER`.
    Header,
    /// `SMFIC_EOH`.
    Eoh,
    /// `SMFIC_BODY`.
    Body,
    /// `SMFIC_BODYEOB` (always sent, always answered).
    Eom,
    /// `SMFIC_UNKNOWN`.
    Unknown,
}

impl Step {
    /// (the "do not send" bit, the "no reply" bit).
    fn bits(self) -> (u32, u32) {
        match self {
            Step::Connect => (step::NOCONNECT, step::NR_CONN),
            Step::Helo => (step::NOHELO, step::NR_HELO),
            Step::Mail => (step::NOMAIL, step::NR_MAIL),
            Step::Rcpt => (step::NORCPT, step::NR_RCPT),
            Step::Data => (step::NODATA, step::NR_DATA),
            Step::Header => (step::NOHDRS, step::NR_HDR),
            Step::Eoh => (step::NOEOH, step::NR_EOH),
            Step::Body => (step::NOBODY, step::NR_BODY),
            Step::Eom => (0, 0),
            Step::Unknown => (step::NOUNKNOWN, step::NR_UNKN),
        }
    }

    /// The step's label in `mxgate_milter_seconds`.
    fn word(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Helo => "helo",
            Step::Mail => "mail",
            Step::Rcpt => "rcpt",
            Step::Data => "data",
            Step::Header => "header",
            Step::Eoh => "eoh",
            Step::Body => "body",
            Step::Eom => "eom",
            Step::Unknown => "unknown",
        }
    }
}

/// Why a filter could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting failed.
    #[error("error connecting to filter: {0}")]
    Connect(std::io::Error),
    /// No connection within `T=C`.
    #[error("timeout connecting to filter")]
    ConnectTimeout,
    /// A write did not complete within `T=S`.
    #[error("timeout writing to filter")]
    WriteTimeout,
    /// No reply within `T=R` (`T=E` at end of message).
    #[error("timeout reading from filter")]
    ReadTimeout,
    /// The filter closed the connection.
    #[error("filter closed the connection")]
    Closed,
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    /// The filter's bytes are not the protocol.
    #[error("bad packet: {0}")]
    Protocol(codec::Error),
    /// The negotiation failed (version, or actions or steps mxgate did not offer).
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    /// A reply that does not belong here (an action mxgate did not offer,
    /// a modification before end of message).
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

impl Error {
    /// The error's label in `mxgate_milter_failures_total`.
    fn kind(&self) -> &'static str {
        match self {
            Error::Connect(_) | Error::ConnectTimeout => "connect",
            Error::WriteTimeout | Error::ReadTimeout => "timeout",
            Error::Closed => "closed",
            Error::Io(_) => "io",
            Error::Protocol(_) | Error::Negotiation(_) | Error::Unexpected(_) => "protocol",
        }
    }
}

/// Count an exchange with filter `name` in the metrics: its time when it
/// was answered (`Ok(true)`), its error when it failed.
fn measure(name: &str, step: &'static str, started: Instant, r: Result<bool, &Error>) {
    let m = crate::metrics::global();
    match r {
        Ok(true) => m.observe(
            crate::metrics::MILTER_LATENCY,
            &[("filter", name), ("step", step)],
            started.elapsed().as_secs_f64(),
        ),
        Ok(false) => {}
        Err(e) => m.inc(
            crate::metrics::MILTER_FAILURES,
            &[("filter", name), ("error", e.kind())],
        ),
    }
}

/// The filter's answer to one step: its final reply, and the actions
/// (header changes, quarantine) that came before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `Continue`, `Accept`, `Reject`, `TempFail`, `Discard`,
    /// `ReplyCode` or `Skip`.
    pub reply: Response,
    /// Modifications sent before the reply (only at end of message).
    pub actions: Vec<Response>,
}

enum Stream {
    Tcp(async_net::TcpStream),
    Unix(async_net::unix::UnixStream),
}

/// An open, negotiated connection to one filter.
pub struct Client {
    filter: Arc<Filter>,
    stream: Stream,
    decoder: Decoder,
    /// The filter's `SMFIP_*` bits.
    protocol: u32,
    /// The filter's `SMFIF_*` bits.
    actions: u32,
    /// The macro names the filter asked for (`SMFIF_SETSYMLIST`), per
    /// `SMFIM_*` stage; `None`: the configuration's list.
    symlists: [Option<Vec<String>>; 7],
    /// The timer every wait of this connection shares.
    timer: Deadline,
}

impl Client {
    /// Connect and negotiate.
    pub async fn open(filter: Arc<Filter>) -> Result<Client, Error> {
        let (name, started) = (filter.name.clone(), Instant::now());
        let r = Client::negotiate(filter).await;
        measure(&name, "negotiate", started, r.as_ref().map(|_| true));
        r
    }

    async fn negotiate(filter: Arc<Filter>) -> Result<Client, Error> {
        let wait = filter.timeouts.connect;
        let connect = async {
            match &filter.socket {
                Socket::Inet { host, port } => {
                    async_net::TcpStream::connect((host.as_str(), *port))
                        .await
                        .map(Stream::Tcp)
                }
                Socket::Unix(path) => async_net::unix::UnixStream::connect(path)
                    .await
                    .map(Stream::Unix),
            }
        };
        let mut timer = Deadline::new();
        let stream = timer
            .within(wait, connect)
            .await
            .ok_or(Error::ConnectTimeout)?
            .map_err(Error::Connect)?;
        let mut c = Client {
            filter,
            stream,
            decoder: Decoder::new(),
            protocol: 0,
            actions: 0,
            symlists: Default::default(),
            timer,
        };
        c.write(&codec::encode(&Command::OptNeg {
            version: codec::VERSION,
            actions: action::OFFERED,
            protocol: step::OFFERED,
        }))
        .await?;
        let read = c.filter.timeouts.read;
        match c.read_response(read).await? {
            Response::OptNeg {
                version,
                actions,
                protocol,
                symlists,
            } => {
                if !(2..=codec::VERSION).contains(&version) {
                    return Err(Error::Negotiation(format!(
                        "filter speaks version {version}, mxgate 2 to {}",
                        codec::VERSION
                    )));
                }
                if actions & !action::OFFERED != 0 {
                    return Err(Error::Negotiation(format!(
                        "filter wants actions 0x{actions:x}, mxgate offers 0x{:x}",
                        action::OFFERED
                    )));
                }
                if protocol & !step::OFFERED != 0 {
                    return Err(Error::Negotiation(format!(
                        "filter wants protocol steps 0x{protocol:x}, mxgate offers 0x{:x}",
                        step::OFFERED
                    )));
                }
                c.protocol = protocol;
                c.actions = actions;
                // sendmail reads the lists whenever they are sent, and a
                // stage's list then replaces the configured one for this
                // filter (milter_getsymlist).
                for (stage, names) in symlists {
                    if let Some(slot) = c.symlists.get_mut(stage as usize) {
                        *slot = Some(codec::parse_macro_list(&names));
                    }
                }
                Ok(c)
            }
            other => Err(Error::Unexpected(format!(
                "{other:?} in answer to option negotiation"
            ))),
        }
    }

    /// The filter's name.
    pub fn name(&self) -> &str {
        &self.filter.name
    }

    /// The filter's definition.
    pub fn filter(&self) -> &Arc<Filter> {
        &self.filter
    }

    /// The actions (`SMFIF_*`) the filter asked for in the negotiation.
    pub fn actions(&self) -> u32 {
        self.actions
    }

    /// The macro names the filter asked for at `stage`
    /// (`smfi_setsymlist`), if it did.
    pub fn symlist(&self, stage: Stage) -> Option<&[String]> {
        self.symlists.get(stage.smfim())?.as_deref()
    }

    /// Does the filter want this step at all?
    pub fn wants(&self, s: Step) -> bool {
        self.protocol & s.bits().0 == 0
    }

    /// One step: the stage's macros (if any) and the command, and the
    /// answer. `Ok(None)`: the step was negotiated away, or the filter
    /// does not reply to it.
    pub async fn step(
        &mut self,
        s: Step,
        macros: Option<(Stage, &[(String, String)])>,
        cmd: &Command<'_>,
    ) -> Result<Option<Answer>, Error> {
        let started = Instant::now();
        let r = self.exchange(s, macros, cmd).await;
        measure(
            &self.filter.name,
            s.word(),
            started,
            r.as_ref().map(Option::is_some),
        );
        r
    }

    async fn exchange(
        &mut self,
        s: Step,
        macros: Option<(Stage, &[(String, String)])>,
        cmd: &Command<'_>,
    ) -> Result<Option<Answer>, Error> {
        let (no, no_reply) = s.bits();
        if self.protocol & no != 0 {
            return Ok(None);
        }
        let mut out = Vec::new();
        if let Some((stage, m)) = macros.filter(|(_, m)| !m.is_empty()) {
            out.extend(codec::encode(&Command::Macro(stage, m)));
        }
        out.extend(codec::encode(cmd));
        self.write(&out).await?;
        if self.protocol & no_reply != 0 {
            return Ok(None);
        }
        let wait = if s == Step::Eom {
            self.filter.timeouts.eom
        } else {
            self.filter.timeouts.read
        };
        let mut actions = Vec::new();
        loop {
            let r = self.read_response(wait).await?;
            match r {
                Response::OptNeg { .. } => {
                    return Err(Error::Unexpected("option negotiation reply".into()));
                }
                Response::NotOffered(code) => {
                    return Err(Error::Unexpected(format!(
                        "reply `{}' (an action mxgate does not offer)",
                        code as char
                    )));
                }
                Response::Skip if s != Step::Body => {
                    return Err(Error::Unexpected("skip outside the body".into()));
                }
                r if r.is_final() => return Ok(Some(Answer { reply: r, actions })),
                r if s == Step::Eom => {
                    actions.push(r);
                    self.ack_now();
                }
                r => {
                    return Err(Error::Unexpected(format!("{r:?} before end of message")));
                }
            }
        }
    }

    /// `SMFIC_ABORT`: the transaction is over (RSET, a new MAIL, an error);
    /// the filter does not reply.
    pub async fn abort(&mut self) -> Result<(), Error> {
        self.write(&codec::encode(&Command::Abort)).await
    }

    /// `SMFIC_QUIT`, then close.
    pub async fn quit(mut self) {
        let _ = self.write(&codec::encode(&Command::Quit)).await;
    }

    /// Acknowledge what the filter sent at once. libmilter writes each
    /// modification and the final reply as separate small packets without
    /// `TCP_NODELAY`, so its kernel holds the final reply until the
    /// modification is acknowledged, and ours delays that acknowledgement
    /// (40 ms on Linux) while it waits for the reply: a stall per message
    /// that a filter changes (tests/bench/milter.sh, docs/benchmarks.md).
    /// Best effort: an error here only costs that delay.
    fn ack_now(&self) {
        if let Stream::Tcp(s) = &self.stream {
            let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let wait = self.filter.timeouts.send;
        let stream = &mut self.stream;
        let w = async {
            match stream {
                Stream::Tcp(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Unix(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
            }
        };
        self.timer
            .within(wait, w)
            .await
            .ok_or(Error::WriteTimeout)?
            .map_err(Error::Io)
    }

    /// The next response other than `SMFIR_PROGRESS`, each within `wait`
    /// (a progress report starts the wait again).
    async fn read_response(&mut self, wait: Duration) -> Result<Response, Error> {
        let mut until = Instant::now() + wait;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.decoder.next_response().map_err(Error::Protocol)? {
                Some(Response::Progress) => {
                    until = Instant::now() + wait;
                    continue;
                }
                Some(r) => return Ok(r),
                None => {}
            }
            let stream = &mut self.stream;
            let read = async {
                match stream {
                    Stream::Tcp(s) => s.read(&mut buf).await,
                    Stream::Unix(s) => s.read(&mut buf).await,
                }
            };
            match self.timer.until(until, read).await {
                None => return Err(Error::ReadTimeout),
                Some(Ok(0)) => return Err(Error::Closed),
                Some(Ok(n)) => self.decoder.receive(&buf[..n]),
                Some(Err(e)) => return Err(Error::Io(e)),
            }
        }
    }
}
