//! One SMTP connection: the async driver around [`ServerSession`].
//!
//! Contract: read bytes (with the stage's per-read timeout, inside the
//! deadline for the whole command line or the whole message transfer;
//! writes bounded by the command timeout), feed the sans-IO
//! session, answer each event — the policy engine decides, with facts
//! gathered here (PTR, DNSBL, sender domain) — and write the replies. The
//! body is kept in memory (bounded by `confMAX_MESSAGE_SIZE`) and committed
//! to the spool at the end of DATA; 250 is sent only after the commit
//! returned. Every refusal is a reply with an enhanced status code and a
//! `reject=` log line.

use super::listener::DaemonSpec;
use super::milters::{self, Filters, Macros, Outcome};
use super::received::{Trace, received, rfc5322_date};
use super::stream::Stream;
use super::{Refusal, Server};
use crate::addr::{self, Address, Mailbox};
use crate::auth::{self, Sasl, SaslFailure, SaslStep};
use crate::dns::{Answer, NotFound};
use crate::event::{client_field, printable, relay_field};
use crate::milter::codec::Family;
use crate::policy::{self, Action, Client, DnsAnswer, Facts, Resolve, Verdict};
use crate::proto::command::{Body, Command, MailParams, RcptParams};
use crate::proto::reply::{EnhancedStatus, Reply};
use crate::proto::server::{BodyEnd, Event, Limits, ServerSession};
use crate::site::{HostAnswer, ReverseAnswer, Site};
use crate::spool::{self, Envelope, State, envelope::Recipient};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn st(c: u8, s: u16, d: u16) -> EnhancedStatus {
    EnhancedStatus::new(c, s, d)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Recipients past `confMAX_RCPTS_PER_MESSAGE` answered `452` before each
/// further one counts as a bad command (Postfix's
/// `smtpd_recipient_overshoot_limit`, 1000).
const RCPT_OVERSHOOT: usize = 1000;

/// The transaction being built.
#[derive(Default)]
struct Transaction {
    sender: Option<Address>,
    params: MailParams,
    rcpts: Vec<(Mailbox, RcptParams)>,
    /// Recipients refused for `confMAX_RCPTS_PER_MESSAGE` in this transaction.
    excess_rcpts: usize,
    body: Vec<u8>,
    too_big: bool,
    discard: Option<String>,
    quarantine: Option<String>,
    /// The queue id, taken at MAIL (the mail filters' `i`).
    id: Option<spool::QueueId>,
}

/// What ended a wait for the client.
enum Wake {
    /// Bytes, end of input or an error.
    Input(std::io::Result<usize>),
    /// The command or data-block timeout.
    Timeout,
    /// The daemon is stopping and the session is between transactions.
    Stopping,
}

/// Per-connection state beyond the protocol session.
struct Conn {
    server: Arc<Server>,
    /// The generation this session started with, kept to its end (a
    /// reload never changes the rules under a transaction; a table rebuilt
    /// in place by makemap is the exception, see table::lmdb).
    runtime: Arc<crate::smtpd::Runtime>,
    site: Arc<Site>,
    spec: Arc<DaemonSpec>,
    peer: SocketAddr,
    /// `sendmail -bs`: a local program on standard input (no connection checks).
    local: bool,
    /// A client on a `Family=local` listener (`[UNIX: localhost]`).
    unix: bool,
    client: Client,
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
    tx: Transaction,
    errors: usize,
    /// Commands that moved no mail since the last MAIL.
    nonmail: usize,
    /// Inside DATA or a BDAT chunk: the data-block timeout applies.
    in_body: bool,
    messages: usize,
    /// DNS lookup permits of this client address (shared by its sessions).
    lookups: Arc<smol::lock::Semaphore>,
    /// MAIL, EXPN, VRFY or ETRN was given (sendmail's `lognullconnection`
    /// turned off): no `did not issue` line at the end.
    mail_cmd: bool,
    /// The session id (queue-id-shaped, as sendmail's): the prefix of the
    /// session's lines that have no queue id.
    sid: String,
    /// The mail filters of this session (`INPUT_MAIL_FILTER`).
    milters: Filters,
    /// A filter temp-failed the connection: MAIL gets this (sendmail's
    /// "temporary failing commands").
    milter_tempfail: Option<Reply>,
    /// Our end of the connection (the mail filters' `{if_addr}`).
    local_addr: Option<SocketAddr>,
}

/// Serve one connection to the end.
pub async fn run(
    server: Arc<Server>,
    spec: Arc<DaemonSpec>,
    tcp: async_net::TcpStream,
    peer: SocketAddr,
) {
    let local_addr = tcp.local_addr().ok();
    let mut stream = Stream::Plain(tcp);
    let slot = match server.admit(peer.ip()) {
        Ok(slot) => slot,
        Err(why) => {
            let ip = addr::sendmail_ip(&peer.ip());
            refuse_admission(&server, &spec, &mut stream, &ip, why).await;
            return;
        }
    };
    if spec.has('s') {
        let Some(tls) = server.tls.clone() else {
            server.log.line(
                None,
                &format!("daemon {}: SMTPS without confSERVER_CERT", spec.name),
            );
            return;
        };
        let wait = server.settings().tls_timeout;
        let hs = futures_lite::future::or(async { Some(stream.into_tls(tls).await) }, async {
            async_io::Timer::after(wait).await;
            None
        });
        stream = match hs.await {
            Some(Ok(s)) => s,
            _ => return,
        };
    }
    let mut conn = Conn::new(server, spec, peer, false, slot.lookups.clone());
    conn.local_addr = local_addr;
    conn.client.rate = slot.rate;
    conn.client.connections = slot.connections;
    let smtps = stream.tls_info();
    conn.gather_connect_facts().await;
    if let Some(info) = smtps {
        conn.log_starttls(&info);
        conn.tls = Some((info.version, info.cipher));
    }
    conn.session(stream).await;
    drop(slot);
}

/// The connection is over a limit of [`Server::admit`]: say so and log it.
async fn refuse_admission(
    server: &Server,
    spec: &DaemonSpec,
    stream: &mut Stream,
    ip: &str,
    why: Refusal,
) {
    let text = match why {
        Refusal::TooManySessions => "Too many sessions, try again later",
        Refusal::TooManyFromHost => "Too many connections from your host, try again later",
    };
    let site = server.site();
    let r = Reply::new(421, st(4, 3, 2), format!("{} {text}", site.hostname));
    let line = match why {
        // sendmail's conncontrol line (FEATURE(`conncontrol', `nodelay',
        // `terminate')), which fail2ban's sendmail-reject filter reads.
        Refusal::TooManyFromHost => format!(
            "ruleset=check_relay, arg1=[{ip}], arg2={ip}, {}, reject=421 4.3.2 Too many open connections.",
            relay_field("", ip)
        ),
        // The daemon's own limit is no offence of this client.
        Refusal::TooManySessions => format!(
            "rejecting connections on daemon {}: {}, reject={r}",
            spec.name,
            relay_field("", ip)
        ),
    };
    server
        .log
        .line(Some(server.spool.session_id().as_str()), &line);
    refused_metric(&spec.name, "connect", &r);
    let _ = stream.write_all(&r.to_wire()).await;
}

/// A connection on a `Family=local` listener. As sendmail 8.17 (checked on
/// a daemon with such a listener): the client is `localhost
/// [[UNIX: localhost]]`; the connection checks run on that name (an access
/// `Connect:localhost` entry applies), with no DNS lookup and no
/// per-address limit; it is not this host's 127.0.0.1 and does not relay
/// (see `policy::relay`); no STARTTLS (so no AUTH). The daemon's session
/// limit applies.
pub async fn run_unix(
    server: Arc<Server>,
    spec: Arc<DaemonSpec>,
    unix: async_net::unix::UnixStream,
) {
    let mut stream = Stream::Unix(unix);
    let localhost = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let slot = match server.admit(localhost) {
        Ok(slot) => slot,
        Err(why) => {
            refuse_admission(
                &server,
                &spec,
                &mut stream,
                crate::policy::UNIX_CLIENT_ADDR,
                why,
            )
            .await;
            return;
        }
    };
    let peer = SocketAddr::new(localhost, 0);
    let mut conn = Conn::new(server, spec, peer, false, slot.lookups.clone());
    let flags = std::mem::take(&mut conn.client.daemon_flags);
    conn.client = Client::unix_socket();
    conn.client.daemon_flags = flags;
    conn.unix = true;
    conn.session(stream).await;
    drop(slot);
}

/// `sendmail -bs`: one session with a local program over `stream` (standard
/// input and output). As in sendmail, the client is this host
/// (`localhost [127.0.0.1]`, which may relay), no connection checks run
/// (check_relay, greet_pause, DNSBL) and no session limits apply; every
/// MAIL/RCPT/DATA check does, and a message is answered 250 only once it is
/// in the spool, where the daemon's queue finds it.
pub async fn run_local(server: Arc<Server>, spec: Arc<DaemonSpec>, stream: Stream) {
    let peer = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
    let lookups = Arc::new(smol::lock::Semaphore::new(
        server.settings().max_client_lookups,
    ));
    let mut conn = Conn::new(server, spec, peer, true, lookups);
    conn.client.name = "localhost".into();
    conn.client.resolve = Resolve::Ok;
    conn.session(stream).await;
}

impl Conn {
    fn new(
        server: Arc<Server>,
        spec: Arc<DaemonSpec>,
        peer: SocketAddr,
        local: bool,
        lookups: Arc<smol::lock::Semaphore>,
    ) -> Conn {
        let mut client = Client::at(peer.ip());
        client.daemon_flags = spec.modifiers.clone();
        let sid = server.spool.session_id().as_str().to_string();
        let runtime = server.runtime();
        let milters = Filters::for_listener(&runtime.site.config, spec.input_filters.as_deref());
        Conn {
            site: runtime.site.clone(),
            runtime,
            client,
            server,
            spec,
            peer,
            local,
            unix: false,
            features: policy::SrvFeatures::default(),
            first_command: true,
            facts: Facts::new(),
            helo: String::new(),
            refused: None,
            authed: None,
            sasl: None,
            auth_mech: None,
            tls: None,
            tx: Transaction::default(),
            errors: 0,
            nonmail: 0,
            in_body: false,
            messages: 0,
            lookups,
            sid,
            mail_cmd: false,
            milters,
            milter_tempfail: None,
            local_addr: None,
        }
    }

    fn ip_text(&self) -> String {
        if self.unix {
            return crate::policy::UNIX_CLIENT_ADDR.to_string();
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

    /// sendmail's line after a TLS handshake, which logwatch's STARTTLS
    /// section counts: `STARTTLS=server, relay=..., version=TLSv1.3,
    /// verify=NO, cipher=..., bits=256/256` (no client certificate is asked for).
    fn log_starttls(&self, info: &super::stream::TlsInfo) {
        let bits = crate::event::cipher_bits(&info.cipher);
        self.log(
            None,
            &format!(
                "STARTTLS=server, {}, version={}, verify=NO, cipher={}, bits={bits}/{bits}",
                self.relay(),
                info.version,
                info.cipher
            ),
        );
    }

    fn log(&self, qid: Option<&str>, text: &str) {
        self.server.log.line(Some(qid.unwrap_or(&self.sid)), text);
    }

    /// PTR with forward confirmation, and the DNSBL answers, before check_relay.
    /// The hosts file answers first when the service switch says so. The
    /// DNSBL zones are asked at once, beside the PTR; each lookup holds one
    /// of the client's lookup permits.
    async fn gather_connect_facts(&mut self) {
        let ip = self.peer.ip();
        let dns = self.server.dns.clone();
        let site = self.site.clone();
        let lookups = self.lookups.clone();
        let names = async {
            let ptr = match site.reverse_lookup(&ip) {
                ReverseAnswer::Found(n) => Answer::Found(vec![n]),
                ReverseAnswer::NotFound => Answer::NotFound(NotFound::NoSuchName),
                ReverseAnswer::AskDns => match &dns {
                    Some(dns) => limited(&lookups, dns.ptr(ip)).await,
                    None => Answer::TempFail("no resolver".into()),
                },
            };
            let Answer::Found(names) = ptr else {
                return (ptr.map_found(|_| false), String::new());
            };
            let name = names.first().cloned().unwrap_or_default();
            let confirmed = match site.host_lookup(&name) {
                HostAnswer::Found(ips) => ips.contains(&ip),
                HostAnswer::NotFound => false,
                HostAnswer::AskDns => match (&dns, ip) {
                    (Some(d), IpAddr::V4(v4)) => matches!(
                        limited(&lookups, d.a(&name)).await,
                        Answer::Found(a) if a.contains(&v4)
                    ),
                    (Some(d), IpAddr::V6(v6)) => matches!(
                        limited(&lookups, d.aaaa(&name)).await,
                        Answer::Found(a) if a.contains(&v6)
                    ),
                    (None, _) => false,
                },
            };
            (Answer::Found(confirmed), name)
        };
        let blocklists = async {
            let Some(dns) = &dns else {
                return Vec::new();
            };
            let asks: Vec<_> = site
                .config
                .dnsbl
                .iter()
                .filter_map(|bl| {
                    policy::dnsbl::query_name(&ip, &bl.zone).map(|q| (q, bl.zone.to_string()))
                })
                .map(|(q, zone)| {
                    let (dns, lookups) = (dns.clone(), lookups.clone());
                    smol::spawn(async move {
                        let started = std::time::Instant::now();
                        let found = limited(&lookups, dns.a(&q)).await;
                        crate::metrics::global().observe(
                            crate::metrics::DNSBL_LATENCY,
                            &[("zone", &zone)],
                            started.elapsed().as_secs_f64(),
                        );
                        let answer = match found {
                            Answer::Found(a) => {
                                DnsAnswer::Found(a.into_iter().map(IpAddr::V4).collect())
                            }
                            Answer::NotFound(_) => DnsAnswer::NotFound,
                            Answer::TempFail(_) => DnsAnswer::TempFail,
                        };
                        (q, answer)
                    })
                })
                .collect();
            let mut out = Vec::new();
            for task in asks {
                out.push(task.await);
            }
            out
        };
        let ((ptr, name), listed) = futures_lite::future::zip(names, blocklists).await;
        match ptr {
            Answer::Found(confirmed) => {
                self.client.name = name;
                self.client.resolve = if confirmed {
                    Resolve::Ok
                } else {
                    Resolve::Forged
                };
            }
            Answer::NotFound(_) => self.client.resolve = Resolve::Fail,
            Answer::TempFail(_) => self.client.resolve = Resolve::Temp,
        }
        if self.client.resolve != Resolve::Ok {
            self.client.name = format!("[{}]", self.ip_text());
        }
        for (q, answer) in listed {
            self.facts.dns.insert(q, answer);
        }
    }

    /// Does the sender's domain resolve? Gathered at MAIL time.
    async fn gather_sender_facts(&mut self, sender: &Address) {
        let Some(mb) = sender.mailbox() else {
            return;
        };
        // The policy judges the domain after the domaintable: resolve that
        // one (a table error is the policy's to report).
        let rewritten = match policy_domaintable(&self.site, mb) {
            Some(m) => m,
            None => mb.clone(),
        };
        let Some(domain) = rewritten.domain.as_ref().and_then(|d| d.name()) else {
            return;
        };
        if self.facts.answer(domain).is_some() {
            return;
        }
        let answer = match self.site.host_lookup(domain) {
            HostAnswer::Found(ips) => DnsAnswer::Found(ips),
            HostAnswer::NotFound => DnsAnswer::NotFound,
            HostAnswer::AskDns => match &self.server.dns {
                None => return,
                Some(dns) => match limited(&self.lookups, dns.domain_exists(domain)).await {
                    Answer::Found(()) => DnsAnswer::Found(vec![]),
                    Answer::NotFound(NotFound::NoSuchName | NotFound::NoRecords) => {
                        DnsAnswer::NotFound
                    }
                    Answer::TempFail(_) => DnsAnswer::TempFail,
                },
            },
        };
        self.facts.dns.insert(domain.to_string(), answer);
    }

    fn greeting(&self) -> Reply {
        let text = match &self.runtime.settings.clone().greeting {
            Some(g) => {
                let now = now_secs();
                let runtime = |name: &str| match name {
                    "j" => Some(self.site.hostname.clone()),
                    "v" | "Z" => Some(env!("CARGO_PKG_VERSION").to_string()),
                    "b" => Some(rfc5322_date(now)),
                    _ => None,
                };
                self.site
                    .expand_macros(g, &runtime)
                    .replacen(' ', " ESMTP ", 1)
            }
            None => format!(
                "{} ESMTP mxgate {}; {}",
                self.site.hostname,
                env!("CARGO_PKG_VERSION"),
                rfc5322_date(now_secs())
            ),
        };
        Reply::plain(220, text)
    }

    /// Run the session until QUIT, a 421, a timeout or the client going away.
    async fn session(&mut self, mut stream: Stream) {
        let settings = self.runtime.settings.clone();
        let mut session = ServerSession::new(Limits::default());
        let mut buf = vec![0u8; 64 * 1024];
        // Connection checks (check_relay), and greet_pause's early-talker
        // test; none for a local program (`-bs`), as in sendmail.
        let verdict = if self.local {
            policy::Verdict::new(
                Action::Continue,
                policy::Because::Rule("a local program (-bs): no connection checks".into()),
            )
        } else {
            policy::check_relay(&self.site, &self.facts, &self.client)
        };
        let pause = policy::greet_pause(&self.site, &self.client)
            .filter(|_| !self.local)
            .map(|p| p.millis)
            .unwrap_or(0);
        if pause > 0 {
            let paused = Instant::now();
            let early = futures_lite::future::or(
                async { stream.read(&mut buf).await.ok().filter(|n| *n > 0) },
                async {
                    async_io::Timer::after(Duration::from_millis(pause)).await;
                    None
                },
            )
            .await;
            if let Some(n) = early {
                session.receive(&buf[..n]);
                self.log(
                    None,
                    &format!(
                        "rejecting commands from {} due to pre-greeting traffic after {} seconds",
                        self.client_text(),
                        paused.elapsed().as_secs()
                    ),
                );
                self.refused = Some(Reply::new(550, st(5, 0, 0), "Command rejected"));
            }
        }
        if self.refused.is_none() {
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
        if self.refused.is_none() && !self.local {
            self.srv_features();
        }
        if self.refused.is_none() && !self.milters.is_empty() {
            self.milter_connect().await;
        }
        // When the command line being waited for must be complete, and when
        // the message being transferred must be (see `Settings`).
        let mut line_deadline: Option<Instant> = None;
        let mut data_deadline: Option<Instant> = None;
        let session_discard = self.tx.discard.clone();
        let session_quarantine = self.tx.quarantine.clone();
        if let Some(r) = &self.refused {
            // Counted once here; the refusal repeated to each command is not.
            refused_metric(&self.spec.name, "connect", r);
            if r.code == 421 {
                // A 421 ends the session (RFC 5321 3.8; sendmail's
                // `terminate' for ratecontrol/conncontrol, Postfix's hangup).
                let _ = write_within(&mut stream, &r.to_wire(), settings.command_timeout).await;
                stream.close().await;
                return;
            }
            session.send(&Reply::plain(
                554,
                format!("{} ESMTP not accepting messages", self.site.hostname),
            ));
        } else {
            session.send(&self.greeting());
        }
        loop {
            let out = session.take_output();
            if !out.is_empty() {
                // A client that stops reading must not hold the session
                // either: writes get the command timeout (Postfix's
                // smtpd_timeout also bounds writes).
                match write_within(&mut stream, &out, settings.command_timeout).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        self.log(
                            None,
                            &format!(
                                "{}: timeout writing to the client ({}s), closing",
                                self.relay(),
                                settings.command_timeout.as_secs()
                            ),
                        );
                        break;
                    }
                    Err(_) => break,
                }
            }
            if session.is_closed() {
                break;
            }
            if session.take_tls_request() {
                let Some(tls) = self.server.tls.clone() else {
                    break;
                };
                let wait = settings.tls_timeout;
                let upgraded =
                    futures_lite::future::or(async { Some(stream.into_tls(tls).await) }, async {
                        async_io::Timer::after(wait).await;
                        None
                    })
                    .await;
                match upgraded {
                    Some(Ok(s)) => {
                        stream = s;
                        if let Some(info) = stream.tls_info() {
                            self.log_starttls(&info);
                            self.tls = Some((info.version, info.cipher));
                        }
                        self.helo.clear();
                        self.tx = Transaction::default();
                        self.first_command = true;
                        self.milters.abort().await;
                        continue;
                    }
                    _ => {
                        self.log(
                            None,
                            &format!("STARTTLS=server, error: handshake failed, {}", self.relay()),
                        );
                        return;
                    }
                }
            }
            // Answer everything already buffered before reading more (pipelining).
            if let Some(event) = session.next_event() {
                // A complete line (or block of data) arrived: the next
                // command gets its own deadline.
                line_deadline = None;
                let stage = stage(&event).filter(|_| self.refused.is_none());
                if let Some(reply) = self.answer(event, &settings).await {
                    if let Some(stage) = stage {
                        refused_metric(&self.spec.name, stage, &reply);
                    }
                    session.respond(reply);
                }
                let attack = if settings.max_errors > 0 && self.errors > settings.max_errors {
                    Some("bad")
                } else if settings.max_nonmail > 0 && self.nonmail > settings.max_nonmail {
                    Some("non-mail")
                } else {
                    None
                };
                if let Some(kind) = attack.filter(|_| !session.is_closed()) {
                    let r = Reply::new(
                        421,
                        st(4, 7, 0),
                        format!(
                            "{} Too many {kind} commands; closing connection",
                            self.site.hostname
                        ),
                    );
                    session.send(&r);
                    let _ = write_within(
                        &mut stream,
                        &session.take_output(),
                        settings.command_timeout,
                    )
                    .await;
                    self.log(
                        None,
                        &format!("{}: possible SMTP attack: reject={r}", self.relay()),
                    );
                    break;
                }
                if self.tx.discard.is_none() {
                    self.tx.discard = session_discard.clone();
                }
                if self.tx.quarantine.is_none() {
                    self.tx.quarantine = session_quarantine.clone();
                }
                continue;
            }
            // A stopping daemon lets an open transaction finish, then closes
            // the session between transactions: a client that keeps its
            // connection for the next message must not hold the stop up.
            let idle = !self.in_body && self.tx.sender.is_none();
            if idle && self.server.is_stopping() {
                self.shutting_down(&mut stream).await;
                break;
            }
            // RFC 5321 §4.5.3.2: the server waits for a command, or for the
            // next block of message data once DATA (or a BDAT chunk) has begun.
            // Besides these per-read waits, two deadlines bound a client that
            // keeps sending a little: a command line must be complete within
            // confTO_COMMAND of the server starting to wait for it, and a
            // message within confMXGATE_TO_DATA of its first data octet
            // (for BDAT, until the LAST chunk).
            let now = Instant::now();
            let receiving = session.is_receiving_body();
            if !receiving && self.tx.sender.is_none() {
                data_deadline = None;
            }
            if receiving && data_deadline.is_none() {
                data_deadline = Some(now + settings.data_deadline);
            }
            let (wait, stage) = if receiving || self.in_body {
                (settings.data_timeout, "message data")
            } else {
                (settings.command_timeout, "command")
            };
            if receiving {
                line_deadline = None;
            } else if line_deadline.is_none() {
                line_deadline = Some(now + settings.command_timeout);
            }
            let fire = [line_deadline, data_deadline]
                .into_iter()
                .flatten()
                .fold(now + wait, Instant::min);
            let server = self.server.clone();
            let woke = futures_lite::future::or(
                async { Wake::Input(stream.read(&mut buf).await) },
                futures_lite::future::or(
                    async {
                        async_io::Timer::at(fire).await;
                        Wake::Timeout
                    },
                    async {
                        while !(idle && server.is_stopping()) {
                            async_io::Timer::after(Duration::from_millis(200)).await;
                        }
                        Wake::Stopping
                    },
                ),
            )
            .await;
            match woke {
                Wake::Stopping => {
                    self.shutting_down(&mut stream).await;
                    break;
                }
                Wake::Timeout => {
                    let now = Instant::now();
                    let late = match (data_deadline, line_deadline) {
                        (Some(d), _) if now >= d => Some(format!(
                            "message transfer not complete within {}s",
                            settings.data_deadline.as_secs()
                        )),
                        (_, Some(d)) if now >= d && session.buffered() > 0 => Some(format!(
                            "command line not complete within {}s ({} octets received)",
                            settings.command_timeout.as_secs(),
                            session.buffered()
                        )),
                        _ => None,
                    };
                    if let Some(why) = late {
                        // Postfix's words for a client that is too slow as a
                        // whole rather than silent.
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
                        let _ =
                            write_within(&mut stream, &r.to_wire(), settings.command_timeout).await;
                        break;
                    }
                    let r = Reply::new(
                        421,
                        st(4, 4, 2),
                        format!(
                            "{} Lost input channel: timeout waiting for input",
                            self.site.hostname
                        ),
                    );
                    self.log(
                        None,
                        &format!(
                            "timeout waiting for input from {} during {stage}, reject={r}",
                            self.relay()
                        ),
                    );
                    let _ = write_within(&mut stream, &r.to_wire(), settings.command_timeout).await;
                    break;
                }
                Wake::Input(Ok(0) | Err(_)) => break,
                Wake::Input(Ok(n)) => {
                    session.receive(&buf[..n]);
                }
            }
        }
        // As sendmail at QUIT or end of input: a session refused at connect
        // (check_relay, greet_pause) has said enough already.
        if !self.mail_cmd && !self.local && self.refused.is_none() {
            self.log(
                None,
                &format!(
                    "{} did not issue MAIL/EXPN/VRFY/ETRN during connection to {}",
                    self.client_text(),
                    self.spec.name
                ),
            );
        }
        self.milters.quit().await;
        stream.close().await;
    }

    /// The daemon is stopping: say so (`421 4.3.2`) and let the session end.
    /// The client keeps whatever it has not had acknowledged and retries.
    async fn shutting_down(&mut self, stream: &mut Stream) {
        let r = Reply::new(
            421,
            st(4, 3, 2),
            format!("{} Shutting down, closing connection", self.site.hostname),
        );
        let _ = stream.write_all(&r.to_wire()).await;
        self.log(
            None,
            &format!("{}: daemon stopping: reject={r}", self.relay()),
        );
    }

    /// The reply to one event (`None` for body chunks).
    async fn answer(&mut self, event: Event, settings: &super::Settings) -> Option<Reply> {
        let reply = match event {
            Event::BodyChunk(chunk) => {
                self.in_body = true;
                let max = settings.max_message_size;
                if max > 0 && (self.tx.body.len() + chunk.len()) as u64 > max {
                    self.tx.too_big = true;
                } else {
                    self.tx.body.extend_from_slice(&chunk);
                }
                return None;
            }
            // A refused connection answers every command with the refusal.
            Event::Invalid(_) if self.refused.is_some() => self.refused.clone()?,
            Event::Invalid(r) => {
                self.errors += 1;
                self.first_command = false;
                r
            }
            Event::AuthResponse(line) => self.auth_step(line).await,
            Event::BodyEnd(end) => {
                self.in_body = false;
                self.end_of_data(end, settings).await
            }
            Event::Command(cmd) => {
                if matches!(
                    cmd,
                    Command::Mail { .. } | Command::Vrfy(_) | Command::Expn(_) | Command::Etrn(_)
                ) {
                    self.mail_cmd = true;
                }
                if matches!(
                    cmd,
                    Command::Noop
                        | Command::Rset
                        | Command::Vrfy(_)
                        | Command::Expn(_)
                        | Command::Help
                        | Command::Etrn(_)
                        | Command::Helo(_)
                        | Command::Ehlo(_)
                ) {
                    self.nonmail += 1;
                }
                if let Some(refused) = &self.refused {
                    match cmd {
                        Command::Quit => self.quit(),
                        Command::Rset => Reply::new(250, st(2, 0, 0), "Reset state"),
                        Command::Noop => Reply::new(250, st(2, 0, 0), "OK"),
                        _ => refused.clone(),
                    }
                } else {
                    let r = self.command(cmd, settings).await;
                    self.first_command = false;
                    r
                }
            }
        };
        Some(reply)
    }

    fn quit(&self) -> Reply {
        Reply::new(
            221,
            st(2, 0, 0),
            format!("{} closing connection", self.site.hostname),
        )
    }

    fn tls_active(&self) -> bool {
        self.tls.is_some()
    }

    /// AUTH is offered only over TLS (never in the clear), when a backend is configured.
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

    /// Feature `c` (`A` AUTH, `S` STARTTLS, `E` ETRN, `D` DSN, `P`
    /// PIPELINING) is off for this client: its `Srv_Features:` letter
    /// says so, or, without one, the listener's `M=` modifier of that letter.
    fn off(&self, c: char) -> bool {
        match self.features.get(c) {
            Some(on) => !on,
            None => self.spec.has(c.to_ascii_uppercase()),
        }
    }

    /// STARTTLS cannot be offered: no certificate, turned off, or a
    /// Unix-domain socket.
    fn starttls_off(&self) -> bool {
        self.server.tls.is_none() || self.off('S') || self.unix
    }

    /// AUTH is required before MAIL: `Srv_Features:` `l`/`L`, else the
    /// listener (`M=a`, or a submission listener with an AUTH backend).
    fn auth_required(&self) -> bool {
        self.features.get('l').unwrap_or_else(|| {
            self.spec.has('a') || self.spec.is_submission() && self.runtime.auth.is_enabled()
        })
    }

    fn auth_offered(&self) -> bool {
        self.runtime.auth.is_enabled()
            && !self.off('A')
            && self.authed.is_none()
            && self.tls_active()
    }

    /// The greeting line of the HELO and EHLO replies: the client by its
    /// verified name (by its HELO name when it has none), as sendmail.
    fn hello_line(&self, name: &str) -> String {
        format!(
            "{} Hello {} [{}], pleased to meet you",
            self.site.hostname,
            if self.client.name.starts_with('[') {
                name
            } else {
                &self.client.name
            },
            if self.unix {
                self.ip_text()
            } else {
                self.peer.ip().to_string()
            }
        )
    }

    fn ehlo_reply(&self, name: &str, settings: &super::Settings) -> Reply {
        let mut lines = vec![self.hello_line(name)];
        lines.push("ENHANCEDSTATUSCODES".into());
        if !self.off('P') {
            lines.push("PIPELINING".into());
        }
        lines.push("8BITMIME".into());
        let max = settings.max_message_size;
        lines.push(if max > 0 {
            format!("SIZE {max}")
        } else {
            "SIZE".into()
        });
        if !self.off('D') {
            lines.push("DSN".into());
        }
        lines.push("SMTPUTF8".into());
        lines.push("CHUNKING".into());
        if self.auth_offered() {
            lines.push(format!("AUTH {}", auth::MECHANISMS));
        }
        if !self.starttls_off() && !self.tls_active() {
            lines.push("STARTTLS".into());
        }
        if !self.off('E') {
            lines.push("ETRN".into());
        }
        lines.push("HELP".into());
        Reply {
            code: 250,
            status: None,
            lines,
        }
    }

    fn proto(&self) -> &'static str {
        match (self.tls_active(), self.authed.is_some()) {
            (_, _) if self.helo.is_empty() => "SMTP",
            (true, true) => "ESMTPSA",
            (true, false) => "ESMTPS",
            (false, true) => "ESMTPA",
            (false, false) => "ESMTP",
        }
    }

    async fn command(&mut self, cmd: Command, settings: &super::Settings) -> Reply {
        match cmd {
            Command::Helo(ref name) | Command::Ehlo(ref name) => {
                let extended = matches!(cmd, Command::Ehlo(_));
                let name = name.clone();
                let v = policy::check_helo(&self.site, &self.facts, &self.client, &name);
                if let Some(r) = v.reply() {
                    let reply = to_reply(r, None);
                    self.log_reject("check_helo", &name, &reply);
                    return reply;
                }
                let macros = self.macros_helo();
                let o = self.milters.helo(&macros, &name).await;
                if let Some(r) = self.milter_outcome("helo", &name, o) {
                    return r;
                }
                self.helo = name.clone();
                self.tx = Transaction::default();
                if extended {
                    self.ehlo_reply(&name, settings)
                } else {
                    Reply::plain(250, self.hello_line(&name))
                }
            }
            Command::Mail(sender, params) => self.mail(sender, params, settings).await,
            Command::Rcpt(rcpt, params) => self.rcpt(rcpt, params, settings).await,
            Command::Data => {
                if let Err(text) = self.server.has_room() {
                    let r = Reply::new(452, st(4, 3, 1), text);
                    self.log(None, &format!("{}: DATA: reject={r}", self.relay()));
                    return r;
                }
                if self.tx.sender.is_some() && !self.tx.rcpts.is_empty() {
                    let o = self.milters.data(&Vec::new()).await;
                    if let Some(r) = self.milter_outcome("data", "", o) {
                        return r;
                    }
                }
                self.in_body = true;
                Reply::plain(354, "Enter mail, end with \".\" on a line by itself")
            }
            Command::Bdat { size, .. } => {
                self.in_body = false;
                Reply::new(250, st(2, 0, 0), format!("{size} bytes received"))
            }
            Command::Rset => {
                self.tx = Transaction::default();
                self.milters.abort().await;
                Reply::new(250, st(2, 0, 0), "Reset state")
            }
            Command::Noop => Reply::new(250, st(2, 0, 0), "OK"),
            Command::Quit => self.quit(),
            Command::Vrfy(arg) => {
                self.log(
                    None,
                    &format!("{}: VRFY {} [rejected]", self.client_text(), printable(&arg, 203)),
                );
                Reply::new(
                    252,
                    st(2, 5, 2),
                    "Cannot VRFY user; try RCPT to attempt delivery (or try finger)",
                )
            }
            Command::Expn(arg) => {
                self.log(
                    None,
                    &format!("{}: EXPN {} [rejected]", self.client_text(), printable(&arg, 203)),
                );
                Reply::new(502, st(5, 7, 0), "Sorry, we do not allow this operation")
            }
            Command::Help => Reply {
                code: 214,
                status: Some(st(2, 0, 0)),
                lines: vec![
                    "This is mxgate; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH".into(),
                    "End of HELP info".into(),
                ],
            },
            Command::StartTls => {
                if self.starttls_off() {
                    Reply::new(454, st(4, 7, 0), "TLS not available")
                } else if self.tls_active() {
                    Reply::new(503, st(5, 5, 1), "TLS already active")
                } else {
                    Reply::new(220, st(2, 0, 0), "Ready to start TLS")
                }
            }
            Command::Auth { mechanism, initial } => {
                if self.authed.is_some() {
                    return Reply::new(503, st(5, 5, 0), "Already Authenticated");
                }
                if !self.runtime.auth.is_enabled() || self.off('A') {
                    return Reply::new(503, st(5, 3, 3), "AUTH mechanism not available");
                }
                if !self.tls_active() {
                    return Reply::new(
                        538,
                        st(5, 7, 11),
                        "Encryption required for requested authentication mechanism",
                    );
                }
                match auth::start(&mechanism, initial.as_deref()) {
                    None => Reply::new(504, st(5, 3, 3), "AUTH mechanism not available"),
                    Some(step) => self.sasl_step(step, &mechanism).await,
                }
            }
            // sendmail: an HTTP command as the first command (or the first
            // after STARTTLS), or any time with `Srv_Features:` `h`, ends
            // the connection (checked on sendmail 8.17: `GET / HTTP/1.0`
            // first got `421 4.7.0 <host> Rejecting open proxy <client>`).
            Command::Http(line) => {
                if self.first_command || self.features.get('h') == Some(true) {
                    self.log(
                        None,
                        &format!("{}: probable open proxy: command={line}", self.client_text()),
                    );
                    Reply::new(
                        421,
                        st(4, 7, 0),
                        format!(
                            "{} Rejecting open proxy {}",
                            self.site.hostname,
                            self.client_text()
                        ),
                    )
                } else {
                    self.errors += 1;
                    Reply::new(500, st(5, 5, 1), format!("Command unrecognized: \"{line}\""))
                }
            }
            Command::Unknown(line) => {
                self.errors += 1;
                if !self.milters.is_empty() {
                    let o = self.milters.unknown(&line).await;
                    if let Some(r) = self.milter_outcome("unknown", &line, o) {
                        return r;
                    }
                }
                Reply::new(500, st(5, 5, 1), format!("Command unrecognized: \"{line}\""))
            }
            Command::Etrn(_) => {
                if self.off('E') {
                    Reply::new(502, st(5, 7, 0), "Sorry, we do not allow this operation")
                } else {
                    Reply::new(250, st(2, 0, 0), "Queuing for node started")
                }
            }
        }
    }

    async fn sasl_step(&mut self, step: SaslStep, mechanism: &str) -> Reply {
        match step {
            SaslStep::Challenge(c, next) => {
                self.sasl = Some(next);
                self.auth_mech = Some(mechanism.to_string());
                Reply::plain(334, c)
            }
            SaslStep::Failed(SaslFailure::Cancelled) => {
                Reply::new(501, st(5, 0, 0), "AUTH aborted")
            }
            SaslStep::Failed(SaslFailure::Malformed) => {
                Reply::new(501, st(5, 5, 2), "Cannot decode AUTH parameter")
            }
            SaslStep::Done(creds) => {
                let ip = self.peer.ip();
                let verdict = self
                    .runtime
                    .auth
                    .clone()
                    .check(&creds, Some(ip), &self.server.verifier)
                    .await;
                match verdict {
                    Ok(true) => {
                        self.log(
                            None,
                            &format!(
                                "AUTH=server, {}, authid={}, mech={mechanism}, bits=0",
                                self.relay(),
                                creds.user
                            ),
                        );
                        self.server
                            .auth_failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .succeeded(ip);
                        self.authed = Some(creds.user);
                        self.client.auth_type = Some(mechanism.to_string());
                        Reply::new(235, st(2, 0, 0), "OK Authenticated")
                    }
                    Ok(false) => {
                        self.log(
                            None,
                            &format!(
                                "AUTH failure ({mechanism}): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user={}, {}",
                                printable(&creds.user, 100).replace(',', "?"),
                                self.relay()
                            ),
                        );
                        // A failed AUTH is a bad command (confMXGATE_MAX_BAD_COMMANDS),
                        // and each one past the first few waits longer for its
                        // answer (an async timer: no other session waits).
                        self.errors += 1;
                        let penalty = self
                            .server
                            .auth_failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .failed(ip, std::time::Instant::now());
                        if penalty.log_attack {
                            self.log(
                                None,
                                &format!(
                                    "{}: possible SMTP attack: command=AUTH, count={}",
                                    self.client_text(),
                                    penalty.count
                                ),
                            );
                        }
                        if !penalty.delay.is_zero() {
                            async_io::Timer::after(penalty.delay).await;
                        }
                        Reply::new(535, st(5, 7, 8), "Authentication failed")
                    }
                    Err(e) => {
                        self.log(
                            None,
                            &format!("AUTH failure ({mechanism}): {e}, {}", self.relay()),
                        );
                        Reply::new(454, st(4, 7, 0), "Temporary authentication failure")
                    }
                }
            }
        }
    }

    async fn auth_step(&mut self, line: String) -> Reply {
        let Some(state) = self.sasl.take() else {
            return Reply::new(503, st(5, 5, 1), "No AUTH in progress");
        };
        let mech = self.auth_mech.clone().unwrap_or_default();
        self.sasl_step(state.next(&line), &mech).await
    }

    async fn mail(
        &mut self,
        sender: Address,
        params: MailParams,
        settings: &super::Settings,
    ) -> Reply {
        let arg = sender.to_string();
        if self.auth_required() && self.authed.is_none() {
            let r = Reply::new(530, st(5, 7, 0), "Authentication required");
            self.log_reject("check_mail", &format!("<{arg}>"), &r);
            return r;
        }
        if let Some(size) = params.size {
            let max = settings.max_message_size;
            if max > 0 && size > max {
                let r = Reply::new(
                    552,
                    st(5, 2, 3),
                    "Message size exceeds fixed maximum message size",
                );
                self.log_reject("check_mail", &format!("<{arg}>"), &r);
                return r;
            }
        }
        if let Err(text) = self.server.has_room() {
            let r = Reply::new(452, st(4, 3, 1), text);
            self.log(
                None,
                &format!("{}: rejecting new messages: reject={r}", self.relay()),
            );
            return r;
        }
        // RFC 6409: the MSA qualifies bare sender addresses.
        let sender = match sender {
            Address::Mailbox(mut m) if m.domain.is_none() && self.spec.is_submission() => {
                m.domain = Some(addr::Domain::Name(self.site.hostname.clone()));
                Address::Mailbox(m)
            }
            other => other,
        };
        // sendmail's tls_client (from check_mail): a `TLS_Clt:` requirement
        // on this client. No client certificate is asked for: ${verify} is
        // NOT under TLS, empty without it.
        if let Some(r) = self.tls_client_refusal() {
            self.log_reject("tls_client", &format!("<{arg}>"), &r);
            return r;
        }
        if let Some(r) = self.milter_tempfail.clone() {
            self.log(None, &format!("Milter: from=<{arg}>, reject={r}"));
            return r;
        }
        self.gather_sender_facts(&sender).await;
        let v = policy::check_mail(&self.site, &self.facts, &self.client, &sender);
        // Echoed, logged and queued as written (sendmail 8.17 -bs:
        // `MAIL FROM:<Joe@GW.Example.COM>` → `250 2.1.0 <Joe@GW.Example.COM>... Sender ok`).
        let shown = display_path(&sender);
        match &v.action {
            Action::Reject(r) | Action::TempFail(r) => {
                let reply = to_reply(r, Some(&shown));
                self.log_reject("check_mail", &format!("<{arg}>"), &reply);
                return reply;
            }
            Action::Discard => self.tx.discard = Some(v.why.to_string()),
            Action::Quarantine(reason) => self.tx.quarantine = Some(reason.clone()),
            _ => {}
        }
        let mut args = vec![format!("<{shown}>")];
        if let Some(n) = params.size {
            args.push(format!("SIZE={n}"));
        }
        match params.body {
            Body::SevenBit => {}
            Body::EightBitMime => args.push("BODY=8BITMIME".into()),
            Body::BinaryMime => args.push("BODY=BINARYMIME".into()),
        }
        if let Some(r) = params.ret {
            args.push(format!("RET={}", format!("{r:?}").to_uppercase()));
        }
        if let Some(e) = &params.envid {
            args.push(format!("ENVID={e}"));
        }
        if let Some(a) = &params.auth {
            args.push(format!("AUTH={a}"));
        }
        if params.smtputf8 {
            args.push("SMTPUTF8".into());
        }
        let id = self.server.spool.next_id();
        // Routing the sender for the macros costs lookups: only for filters.
        let macros = if self.milters.is_empty() {
            Vec::new()
        } else {
            self.macros_mail(&sender, &params, &id)
        };
        let o = self.milters.mail(&macros, &args).await;
        let mut milter_discard = None;
        match o {
            Outcome::Discard(name) => milter_discard = Some(format!("milter {name}")),
            o => {
                if let Some(r) = self.milter_outcome("from", &format!("<{shown}>"), o) {
                    return r;
                }
            }
        }
        self.nonmail = 0;
        let discard = self.tx.discard.take().or(milter_discard);
        let quarantine = self.tx.quarantine.take();
        self.tx = Transaction {
            sender: Some(sender),
            params,
            discard,
            quarantine,
            id: Some(id),
            ..Default::default()
        };
        Reply::new(250, st(2, 1, 0), format!("<{shown}>... Sender ok"))
    }

    /// The `TLS_Clt:` requirement this session does not meet, as a reply.
    fn tls_client_refusal(&self) -> Option<Reply> {
        use crate::policy::tls::{TlsFacts, Verify, tls_client};
        if self.local {
            return None;
        }
        let bits = self
            .tls
            .as_ref()
            .map_or(0, |(_, cipher)| crate::event::cipher_bits(cipher));
        let facts = TlsFacts {
            verify: if self.tls.is_some() {
                Verify::Not
            } else {
                Verify::Unset
            },
            bits,
            name: &self.client.name,
            valid_for: &|_| false,
        };
        let v = tls_client(&self.site, &self.client, &facts);
        v.reply().map(|r| to_reply(r, None))
    }

    async fn rcpt(
        &mut self,
        rcpt: Mailbox,
        params: RcptParams,
        settings: &super::Settings,
    ) -> Reply {
        let shown = rcpt.to_written_string();
        if settings.max_rcpts > 0 && self.tx.rcpts.len() >= settings.max_rcpts {
            // A client that keeps going long past the limit is not retrying
            // in good faith: past RCPT_OVERSHOOT excess recipients each one
            // counts as a bad command (Postfix's smtpd_recipient_overshoot_limit).
            self.tx.excess_rcpts += 1;
            if self.tx.excess_rcpts > RCPT_OVERSHOOT {
                self.errors += 1;
            }
            let r = Reply::new(452, st(4, 5, 3), "Too many recipients");
            self.log_reject("check_rcpt", &format!("<{shown}>"), &r);
            return r;
        }
        let rcpt = if rcpt.domain.is_none() && self.spec.is_submission() {
            let mut r = rcpt;
            r.domain = Some(addr::Domain::Name(self.site.hostname.clone()));
            r
        } else {
            rcpt
        };
        let as_addr = Address::Mailbox(rcpt.clone());
        let v: Verdict = policy::check_rcpt(
            &self.site,
            &self.facts,
            &self.client,
            self.tx.sender.as_ref(),
            &as_addr,
        );
        match &v.action {
            Action::Reject(r) | Action::TempFail(r) => {
                let reply = to_reply(r, Some(&shown));
                self.log_reject("check_rcpt", &format!("<{shown}>"), &reply);
                return reply;
            }
            Action::Discard => self.tx.discard = Some(v.why.to_string()),
            Action::Quarantine(reason) => self.tx.quarantine = Some(reason.clone()),
            _ => {}
        }
        let mut args = vec![format!("<{shown}>")];
        if let Some(n) = params.notify {
            args.push(if n.is_never() {
                "NOTIFY=NEVER".into()
            } else {
                let mut v = Vec::new();
                if n.success {
                    v.push("SUCCESS");
                }
                if n.failure {
                    v.push("FAILURE");
                }
                if n.delay {
                    v.push("DELAY");
                }
                format!("NOTIFY={}", v.join(","))
            });
        }
        if let Some(o) = &params.orcpt {
            args.push(format!("ORCPT={o}"));
        }
        let macros = if self.milters.is_empty() {
            Vec::new()
        } else {
            self.macros_rcpt(&rcpt, &shown)
        };
        match self.milters.rcpt(&macros, &args).await {
            Outcome::Discard(name) => self.tx.discard = Some(format!("milter {name}")),
            o => {
                if let Some(r) = self.milter_outcome("to", &format!("<{shown}>"), o) {
                    return r;
                }
            }
        }
        self.tx.rcpts.push((rcpt, params));
        Reply::new(250, st(2, 1, 5), format!("<{shown}>... Recipient ok"))
    }

    /// Connect to the mail filters and send them the client.
    async fn milter_connect(&mut self) {
        let mut macros: Macros = vec![
            ("j".into(), self.site.hostname.clone()),
            ("_".into(), self.client_text()),
            ("daemon_name".into(), self.spec.name.clone()),
            (
                "client_addr".into(),
                if self.unix {
                    self.ip_text()
                } else {
                    self.peer.ip().to_string()
                },
            ),
            ("client_name".into(), self.client.name.clone()),
        ];
        // sendmail: the interface's address unless it is in the loopback
        // net, IPv6 tagged `IPv6:`.
        if let Some(ip) = self
            .local_addr
            .map(|a| a.ip())
            .filter(|ip| !ip.is_loopback())
        {
            macros.push(("if_addr".into(), addr::sendmail_ip(&ip)));
        }
        let (family, port, address) = if self.local {
            (Family::Unknown, 0, String::new())
        } else if self.unix {
            // sendmail sends the peer's socket path: empty for a client's
            // unnamed socket.
            (Family::Local, 0, String::new())
        } else {
            macros.push(("client_port".into(), self.peer.port().to_string()));
            let family = match self.peer.ip() {
                IpAddr::V4(_) => Family::Inet,
                IpAddr::V6(_) => Family::Inet6,
            };
            (family, self.peer.port(), self.peer.ip().to_string())
        };
        let host = if self.local || self.unix {
            "localhost".to_string()
        } else {
            self.client.name.clone()
        };
        let o = self
            .milters
            .connect(&macros, &host, family, port, &address)
            .await;
        self.milter_log();
        match o {
            Outcome::Continue => {}
            Outcome::Discard(name) => self.tx.discard = Some(format!("milter {name}")),
            Outcome::Refuse { reply, filter } => {
                let (what, transient) = if reply.is_transient() {
                    ("temporary failing commands", true)
                } else {
                    ("rejecting commands", false)
                };
                self.log(
                    None,
                    &format!(
                        "milter={filter}, Milter: connect: host={}, addr={}, {what}",
                        self.client.name,
                        self.ip_text()
                    ),
                );
                if transient {
                    self.milter_tempfail = Some(reply);
                } else {
                    self.refused = Some(reply);
                }
            }
        }
    }

    /// The macro values known at HELO (the filters send those their
    /// `confMILTER_MACROS_HELO` names).
    fn macros_helo(&self) -> Macros {
        match &self.tls {
            Some((version, cipher)) => vec![
                ("tls_version".into(), version.clone()),
                ("cipher".into(), cipher.clone()),
                (
                    "cipher_bits".into(),
                    crate::event::cipher_bits(cipher).to_string(),
                ),
            ],
            None => Vec::new(),
        }
    }

    /// The macro values known at MAIL: the queue id `i`, the sender as
    /// sendmail resolves it (`{mail_mailer}`, `{mail_host}`,
    /// `{mail_addr}`: the mailer's user part), the authentication.
    fn macros_mail(&self, sender: &Address, params: &MailParams, id: &spool::QueueId) -> Macros {
        let mut m: Macros = vec![("i".into(), id.as_str().to_string())];
        m.extend(self.resolved_macros("mail", sender));
        if let Some(t) = &self.client.auth_type {
            m.push(("auth_type".into(), t.clone()));
        }
        if let Some(u) = &self.authed {
            m.push(("auth_authen".into(), u.clone()));
            if let Some(a) = &params.auth {
                m.push(("auth_author".into(), a.clone()));
            }
        }
        m
    }

    /// The macro values known at RCPT: `{rcpt_mailer}`, `{rcpt_host}`,
    /// `{rcpt_addr}` as sendmail resolves the recipient.
    fn macros_rcpt(&self, rcpt: &Mailbox, shown: &str) -> Macros {
        let m = self.resolved_macros("rcpt", &Address::Mailbox(rcpt.clone()));
        if m.is_empty() {
            return vec![("rcpt_addr".into(), shown.to_string())];
        }
        m
    }

    /// `{P_mailer}`, `{P_host}`, `{P_addr}` from the route of `a` (the
    /// null sender: `{mail_addr}` empty, as sendmail); nothing when it
    /// does not resolve to a mailer.
    fn resolved_macros(&self, prefix: &str, a: &Address) -> Macros {
        if *a == Address::Null {
            return vec![(format!("{prefix}_addr"), String::new())];
        }
        match crate::route::resolve(&self.site, a) {
            Ok((crate::route::Resolution::Deliver(r), _)) => {
                let mut m: Macros = vec![(format!("{prefix}_mailer"), r.mailer.clone())];
                if let Some(h) = &r.host {
                    m.push((format!("{prefix}_host"), h.clone()));
                }
                m.push((format!("{prefix}_addr"), r.user.clone()));
                m
            }
            _ => Vec::new(),
        }
    }

    /// Write the filters' queued log lines.
    fn milter_log(&mut self) {
        for l in self.milters.take_lines() {
            self.log(None, &l);
        }
    }

    /// A filter outcome at a stage (`from`, `to`, `helo`, `data`) as the
    /// reply to send (`None`: go on); logged as sendmail does.
    fn milter_outcome(&mut self, what: &str, arg: &str, o: Outcome) -> Option<Reply> {
        self.milter_log();
        match o {
            Outcome::Continue => None,
            Outcome::Discard(name) => {
                self.log(None, &format!("milter={name}, Milter: {what}, discard"));
                self.tx.discard = Some(format!("milter {name}"));
                None
            }
            Outcome::Refuse { reply, filter } => {
                let stage = if arg.is_empty() {
                    what.to_string()
                } else {
                    format!("{what}={arg}")
                };
                self.log(
                    None,
                    &format!("milter={filter}, action={what}, reject={reply}"),
                );
                self.log(
                    None,
                    &format!("Milter: {stage}, {}, reject={reply}", self.relay()),
                );
                Some(reply)
            }
        }
    }

    fn log_reject(&self, ruleset: &str, arg: &str, reply: &Reply) {
        self.log(
            None,
            &format!(
                "ruleset={ruleset}, arg1={arg}, {}, reject={reply}",
                self.relay()
            ),
        );
    }

    async fn end_of_data(&mut self, end: BodyEnd, settings: &super::Settings) -> Reply {
        let mut tx = std::mem::take(&mut self.tx);
        if end.bare_line_end {
            let r = Reply::new(
                550,
                st(5, 6, 2),
                "Message contains bare CR or LF; refused (SMTP smuggling protection)",
            );
            self.log(None, &format!("{}: reject={r}", self.relay()));
            return r;
        }
        if tx.too_big {
            let r = Reply::new(
                552,
                st(5, 2, 3),
                format!(
                    "Message size exceeds fixed maximum message size ({})",
                    settings.max_message_size
                ),
            );
            self.log(None, &format!("{}: reject={r}", self.relay()));
            return r;
        }
        let Some(mut sender) = tx.sender.clone() else {
            return Reply::new(503, st(5, 5, 1), "Need MAIL command");
        };
        // Mail loops: sendmail refuses a message with more than MaxHopCount
        // (confMAX_HOP, default 25) Received: headers.
        let max_hop = self
            .site
            .config
            .option("confMAX_HOP")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(25);
        let hops = unfolded_headers(&tx.body)
            .iter()
            .filter(|h| {
                h.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("received"))
            })
            .count();
        if hops > max_hop {
            let r = Reply::new(
                554,
                st(5, 4, 6),
                format!("Too many hops {hops} ({max_hop} max)"),
            );
            self.log(None, &format!("{}: reject={r}", self.relay()));
            return r;
        }
        // Content checks (header, MIME, nested and body rules, Postfix's
        // semantics): before the milters, which see the rewritten message.
        let mut quarantine = tx.quarantine.clone();
        let mut discard = tx.discard.clone();
        let checks = match self.content_checks(&mut tx, &sender) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        if let Some(h) = &checks.hold {
            quarantine = Some(h.clone());
        }
        if let policy::Stop::Discard(why) = &checks.stop {
            discard = Some(why.clone());
        }
        // The mail filters see the message as received; what they change
        // is what is spooled.
        if !self.milters.is_empty() && !checks.pass {
            let macros: Macros = vec![(
                "msg_id".into(),
                header_value(&tx.body, "message-id").unwrap_or_default(),
            )];
            let (o, changes) = self.milters.message(&macros, &tx.body).await;
            match o {
                Outcome::Discard(name) => {
                    self.milter_log();
                    self.log(None, "Milter: data, discard");
                    discard = Some(format!("milter {name}"));
                }
                o => {
                    if let Some(r) = self.milter_outcome("data", "", o) {
                        return r;
                    }
                }
            }
            if let Some(m) = changes.message {
                tx.body = m;
            }
            if !changes.envelope.is_empty() {
                let mut lines = Vec::new();
                milters::apply_envelope(
                    &changes.envelope,
                    &mut sender,
                    &mut tx.params,
                    &mut tx.rcpts,
                    &mut lines,
                );
                if tx.rcpts.is_empty() && discard.is_none() {
                    discard = Some("milter: no recipients left".to_string());
                }
                for l in lines {
                    self.log(None, &l);
                }
            }
            self.milter_log();
            if let Some(q) = changes.quarantine {
                quarantine = Some(q);
            }
        }
        let msgid = header_value(&tx.body, "message-id").unwrap_or_default();
        let nrcpts = tx.rcpts.len();
        if let Some(why) = discard {
            self.messages += 1;
            self.log(
                None,
                &format!(
                    "from=<{}>, size={}, nrcpts={nrcpts}, {}, discarded ({why})",
                    display_path(&sender),
                    tx.body.len(),
                    self.relay()
                ),
            );
            return Reply::new(250, st(2, 0, 0), "Message accepted for delivery");
        }
        let mut envelope = Envelope::new(&format!("<{}>", display_path(&sender)));
        let arrival = envelope.arrival;
        for (r, p) in &tx.rcpts {
            envelope.recipients.push(Recipient {
                // As written: the next hop gets the sender's case (sendmail 8.17).
                address: format!("<{}>", r.to_written_string()),
                notify: p.notify.map(|n| {
                    if n.is_never() {
                        "NEVER".to_string()
                    } else {
                        let mut v = Vec::new();
                        if n.success {
                            v.push("SUCCESS");
                        }
                        if n.failure {
                            v.push("FAILURE");
                        }
                        if n.delay {
                            v.push("DELAY");
                        }
                        v.join(",")
                    }
                }),
                orcpt: p.orcpt.clone(),
            });
        }
        // REDIRECT: the recipients become the one address; BCC adds
        // recipients that never get a DSN (Postfix's NOTIFY=NONE).
        if let Some(to) = &checks.redirect {
            envelope.recipients = vec![Recipient {
                address: format!("<{to}>"),
                notify: None,
                orcpt: None,
            }];
        }
        for to in &checks.bcc {
            envelope.recipients.push(Recipient {
                address: format!("<{to}>"),
                notify: Some("NEVER".into()),
                orcpt: None,
            });
        }
        let mut facts = vec![
            ("helo".to_string(), self.helo.clone()),
            ("client-addr".to_string(), self.ip_text()),
            ("client-name".to_string(), self.client.name.clone()),
            ("proto".to_string(), self.proto().to_string()),
            ("daemon".to_string(), self.spec.name.clone()),
        ];
        if let Some(e) = &tx.params.envid {
            facts.push(("envid".into(), e.clone()));
        }
        if let Some(r) = tx.params.ret {
            facts.push(("ret".into(), format!("{r:?}").to_uppercase()));
        }
        if tx.params.body == Body::EightBitMime {
            facts.push(("body".into(), "8BITMIME".into()));
        }
        if tx.params.smtputf8 {
            facts.push(("smtputf8".into(), "yes".into()));
        }
        if let Some(u) = &self.authed {
            facts.push(("auth".into(), u.clone()));
        }
        if let Some(q) = &quarantine {
            facts.push(("quarantine".into(), q.clone()));
        }
        // A header or body rule's FILTER action (docs/content.md) wins over
        // the listener's after-queue content filter: the queue sends the
        // message there instead of routing it.
        if let Some(f) = &checks.filter {
            if self.spec.reinjection {
                self.log(
                    None,
                    &format!(
                        "{}: FILTER {f} not applied: daemon {} is the content filter's re-injection listener (ContentFilter=), its mail has been filtered",
                        self.relay(),
                        self.spec.name
                    ),
                );
            } else {
                facts.push(("filter".into(), f.clone()));
            }
        }
        if let Some(f) = &self.spec.content_filter
            && !facts.iter().any(|(k, _)| k == "filter")
        {
            facts.push(("filter".into(), f.clone()));
        }
        envelope.facts = facts;
        let state = if quarantine.is_some() {
            State::Quarantine
        } else {
            State::Queue
        };
        let site = self.site.clone();
        let server = self.server.clone();
        let submission = self.spec.is_submission();
        let trace_owned = (
            self.helo.clone(),
            self.client.name.clone(),
            self.ip_text(),
            self.client.resolve == Resolve::Forged,
            self.proto().to_string(),
            self.tls.clone(),
            self.client.auth_type.clone(),
            if nrcpts == 1 {
                tx.rcpts.first().map(|(r, _)| format!("<{r}>"))
            } else {
                None
            },
        );
        let body = tx.body;
        let id = tx.id.take().unwrap_or_else(|| server.spool.next_id());
        let committed = blocking::unblock(move || -> Result<(String, u64), spool::Error> {
            let mut w = server.spool.create_with_id(&envelope, id)?;
            let id = w.id().to_string();
            let (helo, name, ip, forged, proto, tls, auth_type, for_rcpt) = &trace_owned;
            let trace = Trace {
                helo,
                client_name: name,
                client_addr: ip,
                forged: *forged,
                by: &site.hostname,
                proto,
                id: &id,
                tls: tls.as_ref().map(|(v, c)| (v.as_str(), c.as_str())),
                auth: auth_type.as_deref(),
                for_rcpt: for_rcpt.as_deref(),
                now: arrival,
            };
            w.write(received(&trace).as_bytes())?;
            if submission {
                w.write(missing_headers(&body, &id, &site.hostname, arrival).as_bytes())?;
            }
            w.write(&body)?;
            let size = w.size();
            w.commit(state)?;
            Ok((id, size))
        })
        .await;
        match committed {
            Ok((id, size)) => {
                self.messages += 1;
                crate::metrics::global()
                    .inc(crate::metrics::RECEIVED, &[("listener", &self.spec.name)]);
                let mut line = format!(
                    "from=<{}>, size={size}, class=0, nrcpts={nrcpts}, msgid={msgid}, proto={}, daemon={}, {}",
                    display_path(&sender),
                    self.proto(),
                    self.spec.name,
                    self.relay()
                );
                if let Some(q) = &quarantine {
                    line += &format!(", quarantine={q}");
                }
                if end.long_line {
                    // Accepted as Postfix does; our SMTP client folds them.
                    line += ", long_lines=over998";
                }
                self.log(Some(&id), &line);
                Reply::new(
                    250,
                    st(2, 0, 0),
                    format!("{id} Message accepted for delivery"),
                )
            }
            Err(spool::Error::NoSpace { .. }) => {
                self.log(
                    None,
                    &format!("{}: spool full, message not accepted", self.relay()),
                );
                Reply::new(452, st(4, 3, 1), "Insufficient disk space; try again later")
            }
            Err(e) => {
                self.log(None, &format!("SYSERR: spool: {e}"));
                Reply::new(
                    451,
                    st(4, 3, 0),
                    "Temporary system failure. Please try again later.",
                )
            }
        }
    }

    /// Run the content checks over the message (editing `tx.body` as the
    /// rules say) and log what they did, Postfix's way (`reject: header
    /// Subject: ... from host[ip]; from=<s> to=<r> proto=ESMTP helo=<h>:
    /// 5.7.1 text`). A REJECT is also logged as `header rule FILE:LINE:
    /// reject=...` (or `body rule`), which `mxgate report` counts.
    fn content_checks(
        &mut self,
        tx: &mut Transaction,
        sender: &Address,
    ) -> Result<policy::Inspection, Reply> {
        let rules = self.runtime.content.clone();
        if rules.is_empty() {
            return Ok(policy::inspect(&rules, b""));
        }
        let mut out = policy::inspect(&rules, &tx.body);
        let to = tx
            .rcpts
            .first()
            .map(|(r, _)| r.to_written_string())
            .unwrap_or_default();
        let name = if self.client.name.is_empty() || self.client.name.starts_with('[') {
            "unknown"
        } else {
            self.client.name.as_str()
        };
        let tail = format!(
            "from {name}[{}]; from=<{}> to=<{to}> proto={} helo=<{}>",
            self.ip_text(),
            display_path(sender),
            self.proto(),
            self.helo
        );
        for n in &out.notes {
            let line = if n.kind == "limit" {
                format!("info: body size limit {tail}: {}", n.text)
            } else if n.text.is_empty() {
                format!(
                    "{}: {} {} {tail}: rule {}",
                    n.kind, n.class, n.input, n.rule
                )
            } else {
                format!("{}: {} {} {tail}: {}", n.kind, n.class, n.input, n.text)
            };
            self.log(None, &line);
        }
        if let Some(m) = out.message.take() {
            tx.body = m;
        }
        if let policy::Stop::Reject(r) = &out.stop {
            let reply = to_reply(r, None);
            let class = out.notes.last().map_or("header", |n| n.class);
            let rule = out.stopped_by.clone();
            self.log(
                None,
                &format!("{}: {class} rule {rule}: reject={reply}", self.relay()),
            );
            return Err(reply);
        }
        Ok(out)
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

/// Write everything, or fail with `TimedOut` after `limit`.
async fn write_within(stream: &mut Stream, data: &[u8], limit: Duration) -> std::io::Result<()> {
    futures_lite::future::or(stream.write_all(data), async {
        async_io::Timer::after(limit).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timeout writing to the client",
        ))
    })
    .await
}

/// Run one lookup holding one of the client's lookup permits (waiting for
/// a free one when the client already has its share in flight).
async fn limited<T>(permits: &smol::lock::Semaphore, lookup: impl Future<Output = T>) -> T {
    let _permit = permits.acquire().await;
    lookup.await
}

/// The reverse path without brackets (`""` for the null sender).
fn display_path(a: &Address) -> String {
    match a {
        Address::Null => String::new(),
        Address::Mailbox(m) => m.to_written_string(),
    }
}

/// The header section (up to the first empty line), unfolded, one string per header.
pub fn unfolded_headers(msg: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(msg);
    let mut out: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.push_str(line);
            continue;
        }
        out.push(line.to_string());
    }
    out
}

fn header_value(msg: &[u8], name: &str) -> Option<String> {
    unfolded_headers(msg).into_iter().find_map(|h| {
        let (n, v) = h.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// RFC 6409 §8: the headers a submission server adds when missing.
fn missing_headers(msg: &[u8], id: &str, host: &str, now: u64) -> String {
    let mut add = String::new();
    if header_value(msg, "date").is_none() {
        add += &format!("Date: {}\r\n", rfc5322_date(now));
    }
    if header_value(msg, "message-id").is_none() {
        add += &format!("Message-ID: <{now}.{id}@{host}>\r\n");
    }
    add
}

/// A policy reply as an SMTP reply, with sendmail's `<addr>... ` prefix where it belongs.
fn to_reply(r: &policy::Reply, addr: Option<&str>) -> Reply {
    let line = r.line(addr);
    let text = line.splitn(3, ' ').nth(2).unwrap_or(&r.text).to_string();
    match EnhancedStatus::parse(&r.enhanced) {
        Some(s) => Reply::new(r.code, s, text),
        None => Reply::plain(r.code, text),
    }
}

/// The sender after `FEATURE(domaintable)`, when it names another host.
fn policy_domaintable(site: &Site, mb: &Mailbox) -> Option<Mailbox> {
    match crate::route::domaintable::apply(site, mb) {
        Ok(Some((m, _))) => Some(m),
        Ok(None) | Err(_) => None,
    }
}
