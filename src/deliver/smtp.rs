//! The SMTP delivery agent: `esmtp`, `smtp`, `smtp8`, `relay`, `dsmtp`.
//!
//! Contract: [`SmtpAgent::deliver`] takes a [`Batch`] for one [`NextHop`]
//! and returns one [`Outcome`] per recipient, in batch order. It resolves
//! the host with [`super::mx::resolve`], then tries the targets in order:
//! connect (`confTO_CONNECT`; `confTO_ICONNECT` on the message's first
//! attempt, [`Batch::tries`] 0, as sendmail's `makeconnection`), drive a
//! [`ClientSession`] over TCP with opportunistic STARTTLS (the certificate
//! is no condition of the handshake, as in sendmail's opportunistic TLS;
//! it is checked against the trust
//! anchors afterwards and logged as `verify=OK`/`FAIL`; the access table's
//! `Try_TLS:`, `TLS_Srv:` and `TLS_Rcpt:` entries decide what that means,
//! see [`crate::policy::tls`]) and AUTH PLAIN with credentials
//! from the `authinfo` table, and send one transaction for all recipients
//! still open. A refused/failed connection, a refused greeting, `421`, an I/O
//! error or a timeout moves the open recipients to the next target; a reply
//! settles a recipient (`2xx` delivered, `5xx` failed, `4xx` deferred: the
//! host answered, so, as in sendmail, the next MX is not asked). When every
//! target has been tried, the open recipients are deferred with the last
//! reason. [`SmtpConnection`] keeps a session open for several batches to
//! the same target.
//!
//! Port: `*_MAILER_ARGS` = `TCP $h PORT` for the mailer (`ESMTP_MAILER_ARGS`,
//! `SMTP_MAILER_ARGS`, `SMTP8_MAILER_ARGS`, `RELAY_MAILER_ARGS`,
//! `DSMTP_MAILER_ARGS`), default 25. Timeouts: [`Timeouts`] from
//! `confTO_CONNECT`, `confTO_INITIAL`, `confTO_HELO`, `confTO_MAIL`, `confTO_RCPT`,
//! `confTO_DATAINIT`, `confTO_DATABLOCK`, `confTO_DATAFINAL`, `confTO_RSET`,
//! `confTO_QUIT`, `confTO_STARTTLS`, `confTO_AUTH` (sendmail time syntax:
//! `5m`, `1h30m`, a bare number is minutes); defaults are RFC 5321
//! §4.5.3.2's, and 30 s for connect.

use super::client_options::{self, ClientOptions, FamilyOptions};
use super::mx::{self, Target};
use super::{Batch, NextHop, Outcome};
use super::{EnhancedStatus, Said};
use crate::deadline::Deadline;
use crate::dns::Dns;
use crate::policy::tls::{self as tls_policy, TlsFacts, Verify};
use crate::proto::client::{
    Body, ClientSession, Credentials, Event, Mode, RcptStatus, Settings, TlsWish, Transaction,
    TxRcpt, Wait,
};
use crate::proto::reply::Reply;
use crate::site::Site;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Timeouts for each wait of a client session (read with the other settings).
pub use crate::settings::ClientTimeouts as Timeouts;

impl Timeouts {
    /// The defaults, overridden by the site's `confTO_*` options.
    pub fn from_site(site: &Site) -> Timeouts {
        site.settings.client_timeouts
    }

    /// The timeout for a wait.
    pub fn for_wait(&self, w: Wait) -> Duration {
        match w {
            Wait::Greeting => self.initial,
            Wait::Helo => self.helo,
            Wait::StartTls => self.starttls,
            Wait::Auth => self.auth,
            Wait::Mail => self.mail,
            Wait::Rcpt => self.rcpt,
            Wait::DataInit => self.datainit,
            Wait::DataFinal => self.datafinal,
            Wait::Rset => self.rset,
            Wait::Quit => self.quit,
        }
    }
}

/// sendmail's time syntax; a bare number is minutes (`Timeout.*`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    crate::config::parse_duration(s, crate::config::unit::MINUTES)
}

/// The port for `mailer` from `*_MAILER_ARGS` (`TCP $h PORT`), default 25.
pub fn mailer_port(site: &Site, mailer: &str) -> u16 {
    let key = format!("{}_MAILER_ARGS", mailer.to_ascii_uppercase());
    site.config
        .mailer_options
        .get(&key)
        .and_then(|args| {
            let words: Vec<&str> = args.split_whitespace().collect();
            match words.as_slice() {
                ["TCP", _, port, ..] | ["IPC", _, port, ..] => port.parse().ok(),
                _ => None,
            }
        })
        .unwrap_or(25)
}

/// The session mode for a mailer: `smtp` says HELO, `lmtp` LHLO, the rest EHLO.
pub fn mailer_mode(mailer: &str) -> Mode {
    match mailer {
        "smtp" => Mode::Smtp,
        "lmtp" => Mode::Lmtp,
        _ => Mode::Esmtp,
    }
}

/// Parse an authinfo value: `"U:user" "I:authid" "P:secret" "M:PLAIN"`
/// (`P=` is base64). `None` when no password is given or `M:` excludes PLAIN.
pub fn parse_authinfo(value: &str) -> Option<Credentials> {
    let mut user = None;
    let mut authid = None;
    let mut password = None;
    let mut mechs: Option<String> = None;
    for item in split_quoted(value) {
        let (tag, rest) = (item.get(..2)?, item.get(2..).unwrap_or(""));
        match tag {
            "U:" | "U=" => user = Some(rest.to_string()),
            "I:" | "I=" => authid = Some(rest.to_string()),
            "P:" => password = Some(rest.to_string()),
            "P=" => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()?;
                password = Some(String::from_utf8(bytes).ok()?);
            }
            "M:" | "M=" => mechs = Some(rest.to_ascii_uppercase()),
            _ => {}
        }
    }
    if let Some(m) = mechs
        && !m.split_whitespace().any(|m| m == "PLAIN")
    {
        return None;
    }
    let password = password?;
    let (authzid, authcid) = match (user, authid) {
        (Some(u), Some(i)) => (u, i),
        (Some(u), None) => (String::new(), u),
        (None, Some(i)) => (String::new(), i),
        (None, None) => return None,
    };
    Some(Credentials {
        authzid,
        authcid,
        password,
    })
}

fn split_quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                if quoted {
                    out.push(std::mem::take(&mut cur));
                }
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Credentials for `host` / `ip` from the `authinfo` table
/// (`AuthInfo:host`, `AuthInfo:ip`, then `AuthInfo:`); without
/// `FEATURE(authinfo)`, from the access table's `AuthInfo:` entries.
/// `Err` = table failure.
pub fn authinfo(site: &Site, host: &str, ip: IpAddr) -> Result<Option<Credentials>, String> {
    let Some(table) = site.table("authinfo") else {
        return access_authinfo(site, host, ip);
    };
    for key in [
        format!("AuthInfo:{host}"),
        format!("AuthInfo:{}", crate::addr::sendmail_ip(&ip)),
        "AuthInfo:".to_string(),
    ] {
        match table.lookup(&key) {
            Ok(Some(v)) => return Ok(parse_authinfo(&v)),
            Ok(None) => {}
            Err(e) => return Err(format!("authinfo lookup {key}: {e}")),
        }
    }
    Ok(None)
}

/// `AuthInfo:` in the access table, as sendmail 8.17's proto.m4 looks it
/// up without `FEATURE(authinfo)`: the server's name with its parent
/// domains (`$>D`), then its address and shorter prefixes (`$>A`), then
/// `AuthInfo:` alone; tagged keys only.
fn access_authinfo(site: &Site, host: &str, ip: IpAddr) -> Result<Option<Credentials>, String> {
    use crate::policy::access::{AccessDb, Mode};
    let Some(db) = AccessDb::of(site) else {
        return Ok(None);
    };
    let tag = "AuthInfo";
    let hit = db
        .domain(tag, host, Mode::TagOnly)
        .and_then(|h| match h {
            None => db.address(tag, &ip, Mode::TagOnly),
            h => Ok(h),
        })
        .and_then(|h| match h {
            None => db.exact(tag, "", Mode::TagOnly),
            h => Ok(h),
        })
        .map_err(|e| format!("access lookup {tag}: {e}"))?;
    Ok(hit.and_then(|h| parse_authinfo(&h.value)))
}

/// A connection: TCP, TLS over TCP, or a unix socket (LMTP).
pub enum Stream {
    /// Plain TCP.
    Tcp(async_net::TcpStream),
    /// TLS after STARTTLS.
    Tls(Box<futures_rustls::client::TlsStream<async_net::TcpStream>>),
    /// A unix-domain socket.
    Unix(async_net::unix::UnixStream),
    /// Nothing (during the STARTTLS handshake, or after a failed one).
    Closed,
}

fn not_connected<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::NotConnected,
        "not connected",
    )))
}

impl futures_io::AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Closed => not_connected(),
        }
    }
}

impl futures_io::AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Closed => not_connected(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Closed => not_connected(),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// `f`'s result, or a `TimedOut` error naming `what` once `d` has passed.
async fn with_timeout<T>(
    deadline: &mut Deadline,
    d: Duration,
    what: impl std::fmt::Display,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    deadline.within(d, f).await.unwrap_or_else(|| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timeout waiting for {what}"),
        ))
    })
}

/// Accepts any server certificate during the handshake: opportunistic TLS
/// (the chain is judged afterwards, [`verify_chain`]).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// sendmail's `${verify}` after STARTTLS: `OK` when the chain leads to a
/// trust anchor (whatever names it carries: a name is checked only by a
/// `+CN` requirement, as in sendmail), `FAIL` otherwise, `NO` without a
/// certificate.
fn verify_chain(
    trust: Option<&WebPkiServerVerifier>,
    chain: &[CertificateDer<'static>],
    name: &ServerName<'static>,
) -> Verify {
    let Some((ee, rest)) = chain.split_first() else {
        return Verify::No;
    };
    let Some(trust) = trust else {
        return Verify::Fail;
    };
    match trust.verify_server_cert(ee, rest, name, &[], UnixTime::now()) {
        Ok(_) => Verify::Ok,
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => Verify::Ok,
        Err(_) => Verify::Fail,
    }
}

impl SmtpConnection {
    /// What the TLS policy needs to know about this connection, with
    /// `name` as `${TLS_Name}` (the server's host name).
    fn with_tls_facts<R>(&self, name: &str, f: impl FnOnce(&TlsFacts<'_>) -> R) -> R {
        let valid_for = |n: &str| -> bool {
            let Some((chain, trust)) = &self.peer else {
                return false;
            };
            let (Some((ee, rest)), Ok(sn)) =
                (chain.split_first(), ServerName::try_from(n.to_string()))
            else {
                return false;
            };
            self.verify == Verify::Ok
                && trust
                    .verify_server_cert(ee, rest, &sn, &[], UnixTime::now())
                    .is_ok()
        };
        let names = self
            .peer
            .as_ref()
            .and_then(|(chain, _)| chain.first())
            .and_then(|ee| crate::tls::cert_names(ee))
            .unwrap_or_default();
        f(&TlsFacts {
            verify: self.verify,
            bits: self.bits,
            name,
            valid_for: &valid_for,
            subject: &names.subject,
            issuer: &names.issuer,
        })
    }
}

/// The client TLS configuration for opportunistic STARTTLS: TLS 1.2/1.3; the
/// certificate is not a condition of the handshake (opportunistic TLS): it
/// is checked afterwards ([`verify_chain`]) for `${verify}` and the
/// `TLS_Srv:`/`TLS_Rcpt:` requirements.
pub fn opportunistic_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    opportunistic_tls_with(&crate::tls::TlsSettings::defaults(), None)
}

/// [`opportunistic_tls`] with the suites and versions of `confCIPHER_LIST`
/// and `confCLIENT_SSL_OPTIONS`, and the client certificate of
/// `confCLIENT_CERT`/`confCLIENT_KEY` (PEM files) when given: presented
/// when a server asks for one, as sendmail's client does (a server may
/// then relay for it: `CERTISSUER:` in its access map).
pub fn opportunistic_tls_with(
    settings: &crate::tls::TlsSettings,
    client_cert: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = settings.provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&settings.versions)
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)));
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key) = crate::tls::load_cert_and_key(cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("confCLIENT_CERT {}: {e}", cert.display()))?
        }
    };
    Ok(Arc::new(config))
}

/// An open session with one target, ready for transactions.
pub struct SmtpConnection {
    stream: Stream,
    session: ClientSession,
    timeouts: Timeouts,
    /// The timer every wait of this connection shares.
    deadline: Deadline,
    /// `relay=` text (`mx.example. [192.0.2.1]`).
    pub relay: String,
    /// TLS was negotiated.
    pub tls: bool,
    /// sendmail's `STARTTLS=client, relay=..., version=..., verify=OK,
    /// cipher=..., bits=N/N` line when TLS was negotiated.
    pub tls_line: Option<String>,
    /// sendmail's `${verify}` for this connection: `OK`/`FAIL` after
    /// STARTTLS (the chain checked against the trust anchors), `NONE` when
    /// the server offered no STARTTLS, `CLEAR` when we did not try.
    pub verify: Verify,
    /// `${cipher_bits}` (0 without TLS).
    pub bits: u32,
    /// The server's certificate chain and the verifier, for `+CN` checks.
    peer: Option<(Vec<CertificateDer<'static>>, Arc<WebPkiServerVerifier>)>,
}

impl std::fmt::Debug for SmtpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConnection")
            .field("relay", &self.relay)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why a connection could not be opened or used: the text for the deferral,
/// the status, and the reply when the peer gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFailure {
    /// RFC 3463 status (`4.4.1` no answer, `4.4.2` bad connection, or the reply's).
    pub status: EnhancedStatus,
    /// `Connection refused by mx.example.`, or the reply.
    pub said: Said,
}

impl SmtpConnection {
    /// Connect to `target` and run the session up to Ready (greeting, EHLO,
    /// STARTTLS when offered and `tls` is given, AUTH when `settings.auth`).
    pub async fn open(
        target: &Target,
        settings: Settings,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeouts: Timeouts,
        client: &FamilyOptions,
        trust: Option<Arc<WebPkiServerVerifier>>,
    ) -> Result<SmtpConnection, ConnectFailure> {
        let host = target.host.clone();
        let mut deadline = Deadline::new();
        let tcp = with_timeout(
            &mut deadline,
            timeouts.connect,
            "connect",
            client_options::connect(target.addr, client),
        )
        .await
        .map_err(|e| connect_failure(&host, &e))?;
        let _ = tcp.set_nodelay(true);
        let mut settings = settings;
        if tls.is_none() {
            settings.tls = TlsWish::Never;
        }
        let tried = settings.tls != TlsWish::Never;
        let mut conn = SmtpConnection {
            stream: Stream::Tcp(tcp),
            session: ClientSession::new(settings),
            timeouts,
            deadline,
            relay: target.relay(),
            tls: false,
            tls_line: None,
            verify: if tried { Verify::None } else { Verify::Clear },
            bits: 0,
            peer: None,
        };
        loop {
            match drive(
                &mut conn.stream,
                &mut conn.session,
                &conn.timeouts,
                &mut conn.deadline,
            )
            .await
            {
                Ok(Event::Ready) => return Ok(conn),
                Ok(Event::StartTls) => {
                    let name = ServerName::try_from(host.clone())
                        .unwrap_or_else(|_| ServerName::IpAddress(target.addr.ip().into()));
                    let Some(cfg) = tls.clone() else {
                        return Err(ConnectFailure {
                            status: EnhancedStatus::new(4, 4, 2),
                            said: Said::text("STARTTLS without a TLS configuration"),
                        });
                    };
                    let plain = std::mem::replace(&mut conn.stream, Stream::Closed);
                    let Stream::Tcp(tcp) = plain else {
                        return Err(ConnectFailure {
                            status: EnhancedStatus::new(4, 4, 2),
                            said: Said::text("STARTTLS twice"),
                        });
                    };
                    let connector = futures_rustls::TlsConnector::from(cfg);
                    let tls_stream = with_timeout(
                        &mut conn.deadline,
                        timeouts.starttls,
                        "TLS handshake",
                        connector.connect(name.clone(), tcp),
                    )
                    .await
                    .map_err(|e| ConnectFailure {
                        status: EnhancedStatus::new(4, 7, 5),
                        said: Said::text(format!("TLS handshake with {host} failed: {e}")),
                    })?;
                    let (_, state) = tls_stream.get_ref();
                    let version = match state.protocol_version() {
                        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
                        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
                        Some(v) => format!("{v:?}"),
                        None => "unknown".into(),
                    };
                    let cipher = state
                        .negotiated_cipher_suite()
                        .map(|c| format!("{:?}", c.suite()))
                        .unwrap_or_default();
                    let bits = crate::event::cipher_bits(&cipher);
                    let chain: Vec<CertificateDer<'static>> = state
                        .peer_certificates()
                        .map(|c| c.iter().map(|x| x.clone().into_owned()).collect())
                        .unwrap_or_default();
                    conn.verify = verify_chain(trust.as_deref(), &chain, &name);
                    conn.bits = bits;
                    conn.peer = trust.clone().map(|t| (chain, t));
                    conn.tls_line = Some(format!(
                        "STARTTLS=client, relay={}, version={version}, verify={}, cipher={cipher}, bits={bits}/{bits}",
                        conn.relay,
                        conn.verify.as_str()
                    ));
                    conn.stream = Stream::Tls(Box::new(tls_stream));
                    conn.tls = true;
                    conn.session.tls_established();
                }
                Ok(Event::Failed(f)) => return Err(failure_of(&f.reply, &f.text)),
                Ok(other) => {
                    return Err(ConnectFailure {
                        status: EnhancedStatus::new(4, 4, 2),
                        said: Said::text(format!("unexpected session event {other:?}")),
                    });
                }
                Err(e) => {
                    conn.session.abort(&e.to_string());
                    return Err(ConnectFailure {
                        status: EnhancedStatus::new(4, 4, 2),
                        said: Said::text(format!("{e} with {host}")),
                    });
                }
            }
        }
    }

    /// The session's capabilities (after EHLO).
    pub fn capabilities(&self) -> &crate::proto::client::Capabilities {
        self.session.capabilities()
    }

    /// Send one batch; one status per batch recipient. After a
    /// [`RcptStatus::TryNextHost`] the connection is unusable.
    pub async fn send(&mut self, batch: &Batch<'_>) -> Vec<RcptStatus> {
        self.session.send_mail(transaction(batch), batch.message);
        match drive(
            &mut self.stream,
            &mut self.session,
            &self.timeouts,
            &mut self.deadline,
        )
        .await
        {
            Ok(Event::Done(v)) => v,
            Ok(Event::Failed(f)) => pad(f.recipients, batch.recipients.len(), &f.text),
            Ok(other) => {
                let why = format!("unexpected session event {other:?}");
                pad(self.session.abort(&why), batch.recipients.len(), &why)
            }
            Err(e) => {
                let why = format!("{e} with {}", self.relay);
                pad(self.session.abort(&why), batch.recipients.len(), &why)
            }
        }
    }

    /// Is the session still usable for another [`SmtpConnection::send`]?
    pub fn is_open(&self) -> bool {
        // An aborted session waits for nothing either, but it is over.
        self.session.is_ready()
    }

    /// Say QUIT and close.
    pub async fn quit(mut self) {
        self.session.quit();
        let _ = drive(
            &mut self.stream,
            &mut self.session,
            &self.timeouts,
            &mut self.deadline,
        )
        .await;
        let _ = self.stream.close().await;
    }
}

fn pad(mut v: Vec<RcptStatus>, n: usize, why: &str) -> Vec<RcptStatus> {
    v.resize(n, RcptStatus::TryNextHost(why.to_string()));
    v
}

fn connect_failure(host: &str, e: &io::Error) -> ConnectFailure {
    let text = match e.kind() {
        io::ErrorKind::ConnectionRefused => format!("Connection refused by {host}."),
        io::ErrorKind::TimedOut => format!("Connection timed out with {host}."),
        _ => format!("{host}.: {e}"),
    };
    ConnectFailure {
        status: EnhancedStatus::new(4, 4, 1),
        said: Said::Text(text),
    }
}

fn failure_of(reply: &Option<Reply>, text: &str) -> ConnectFailure {
    match reply {
        Some(r) => ConnectFailure {
            status: r.status.unwrap_or(EnhancedStatus::new(4, 4, 2)),
            said: Said::Reply(r.clone()),
        },
        None => ConnectFailure {
            status: EnhancedStatus::new(4, 4, 2),
            said: Said::text(text.to_string()),
        },
    }
}

/// Drive the session until it has an event: write its output, read replies
/// with the timeout for what it waits for.
pub async fn drive(
    stream: &mut Stream,
    session: &mut ClientSession,
    t: &Timeouts,
    deadline: &mut Deadline,
) -> io::Result<Event> {
    let mut buf = crate::readbuf::REPLIES.take();
    loop {
        let out = session.take_output();
        for chunk in out.chunks(64 * 1024) {
            with_timeout(deadline, t.datablock, "write", stream.write_all(chunk)).await?;
        }
        if !out.is_empty() {
            with_timeout(deadline, t.datablock, "write", stream.flush()).await?;
        }
        if let Some(ev) = session.next_event() {
            return Ok(ev);
        }
        let Some(w) = session.waiting() else {
            return Err(io::Error::other("session has nothing to wait for"));
        };
        let n = with_timeout(deadline, t.for_wait(w), w, stream.read(&mut buf)).await?;
        if n == 0 {
            if w == Wait::Quit {
                session.abort("closed");
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed after QUIT",
                ));
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed while waiting for {w}"),
            ));
        }
        session.receive(buf.get(..n).unwrap_or(&[]));
    }
}

/// The client transaction for a batch.
pub fn transaction(batch: &Batch<'_>) -> Transaction {
    let env = batch.envelope;
    Transaction {
        sender: batch.sender.clone(),
        body: match env.fact("body") {
            Some(b) if b.eq_ignore_ascii_case("8BITMIME") => Body::EightBitMime,
            _ => Body::SevenBit,
        },
        ret: env.fact("ret").map(str::to_string),
        envid: env.fact("envid").map(str::to_string),
        smtputf8: env.fact("smtputf8").is_some_and(|v| v != "0" && v != "no"),
        recipients: batch
            .recipients
            .iter()
            .map(|r| TxRcpt {
                address: r.address.clone(),
                notify: r.notify.map(|n| n.keywords()),
                orcpt: r.orcpt.clone(),
            })
            .collect(),
    }
}

/// A settled status as an [`Outcome`]; `None` for [`RcptStatus::TryNextHost`].
pub fn outcome(status: &RcptStatus, relay: &str) -> Option<Outcome> {
    Some(match status {
        RcptStatus::Accepted(r) => Outcome::Delivered {
            reply: Said::Reply(r.clone()),
            relay: relay.to_string(),
        },
        RcptStatus::Rejected(r) => Outcome::Failed {
            status: r.status.unwrap_or(EnhancedStatus::new(5, 0, 0)),
            reply: Said::Reply(r.clone()),
            relay: Some(relay.to_string()),
        },
        RcptStatus::Deferred(r) => Outcome::Deferred {
            status: r.status.unwrap_or(EnhancedStatus::new(4, 0, 0)),
            reply: Said::Reply(r.clone()),
            relay: Some(relay.to_string()),
        },
        RcptStatus::TryNextHost(_) => return None,
    })
}

/// The SMTP agent: DNS, TLS and tunables shared by deliveries.
#[derive(Clone)]
pub struct SmtpAgent {
    /// The resolver.
    pub dns: Dns,
    /// TLS for opportunistic STARTTLS (`None`: never STARTTLS).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Seed for spreading equal MX preferences (per process or queue run).
    pub seed: u64,
    /// Delivery attempts so far: mixed with `seed` into each attempt's
    /// address order ([`mx::AddressShuffle`]), so the addresses of one
    /// round-robin name take turns.
    pub attempts: Arc<std::sync::atomic::AtomicU64>,
    /// This machine's addresses (an MX on one of them is this host).
    pub local_addrs: Vec<IpAddr>,
    /// Idle connections kept for the next batch to the same address and
    /// mailer (connection reuse, as Postfix's connection cache).
    pub pool: Arc<Pool>,
    /// Where the `STARTTLS=client` line of a new connection is recorded,
    /// with the queue id of the message that opened it (as sendmail logs it).
    pub log: Option<TlsLog>,
    /// The verifier of server certificates, built from the site's
    /// `confCACERT`/`confCACERT_PATH` (or the system bundle) and kept until
    /// those change.
    pub trust: Arc<TrustCache>,
}

/// The trust anchors of the last configuration seen, or why they could
/// not be loaded.
#[derive(Default)]
pub struct TrustCache {
    slot: std::sync::Mutex<Option<TrustEntry>>,
    client: std::sync::Mutex<Option<ClientEntry>>,
}

type ClientEntry = (ClientKey, Result<Arc<rustls::ClientConfig>, String>);

/// `confCIPHER_LIST`, `confCLIENT_SSL_OPTIONS`, `confCLIENT_CERT`,
/// `confCLIENT_KEY`.
type ClientKey = [Option<String>; 4];

type TrustKey = (Option<String>, Option<String>);
type TrustEntry = (TrustKey, Result<Arc<WebPkiServerVerifier>, String>);

impl TrustCache {
    /// The client TLS configuration for `site` when it sets
    /// `confCIPHER_LIST`, `confCLIENT_SSL_OPTIONS` or a client certificate
    /// (`confCLIENT_CERT` with `confCLIENT_KEY`; `None`: the agent's
    /// default); `Err` says why that configuration cannot be built (the
    /// mail waits, deferred with the reason: sent on without the
    /// certificate it could be refused where the certificate relays it).
    pub fn client_for_site(
        &self,
        site: &Site,
    ) -> Option<Result<Arc<rustls::ClientConfig>, String>> {
        let key: ClientKey = [
            "confCIPHER_LIST",
            "confCLIENT_SSL_OPTIONS",
            "confCLIENT_CERT",
            "confCLIENT_KEY",
        ]
        .map(|n| site.config.option(n).map(str::to_string));
        if key.iter().all(Option::is_none) {
            return None;
        }
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, v)) = slot.as_ref()
            && *k == key
        {
            return Some(v.clone());
        }
        let cert = match (&key[2], &key[3]) {
            (Some(c), Some(k)) => Ok(Some((std::path::Path::new(c), std::path::Path::new(k)))),
            (None, None) => Ok(None),
            _ => Err("confCLIENT_CERT and confCLIENT_KEY must be given together".to_string()),
        };
        let v = cert.and_then(|cert| {
            crate::tls::TlsSettings::from_options(
                |n| site.config.option(n),
                "confCLIENT_SSL_OPTIONS",
            )
            .and_then(|t| opportunistic_tls_with(&t, cert))
        });
        *slot = Some((key, v.clone()));
        Some(v)
    }

    /// The verifier for `site`'s CA settings; `Err` says why there is none
    /// (then every certificate is `verify=FAIL`).
    pub fn for_site(&self, site: &Site) -> Result<Arc<WebPkiServerVerifier>, String> {
        let key: TrustKey = (
            site.config.option("confCACERT").map(str::to_string),
            site.config.option("confCACERT_PATH").map(str::to_string),
        );
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, v)) = slot.as_ref()
            && *k == key
        {
            return v.clone();
        }
        let v = crate::tls::trust_verifier(
            key.0.as_deref().map(std::path::Path::new),
            key.1.as_deref().map(std::path::Path::new),
        );
        *slot = Some((key, v.clone()));
        v
    }
}

/// Records a line about message `QueueId` (the daemon's log).
pub type TlsLog = Arc<dyn Fn(&crate::spool::QueueId, &str) + Send + Sync>;

/// Idle SMTP connections by (address, mailer mode, authenticated).
#[derive(Default)]
pub struct Pool {
    idle: std::sync::Mutex<
        std::collections::HashMap<PoolKey, Vec<(SmtpConnection, std::time::Instant)>>,
    >,
}

type PoolKey = (std::net::SocketAddr, String, bool);

/// How long an idle connection is kept; peers close idle sessions after
/// minutes, we give them back well before.
const POOL_IDLE: Duration = Duration::from_secs(5);
/// At most this many idle connections per key.
const POOL_MAX: usize = 32;

impl Pool {
    fn take(&self, key: &PoolKey) -> Option<SmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(key)?;
        while let Some((c, at)) = list.pop() {
            if at.elapsed() < POOL_IDLE && c.is_open() {
                return Some(c);
            }
        }
        None
    }

    fn give(&self, key: PoolKey, conn: SmtpConnection) -> Option<SmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(key).or_default();
        list.retain(|(_, at)| at.elapsed() < POOL_IDLE);
        if list.len() >= POOL_MAX {
            return Some(conn);
        }
        list.push((conn, std::time::Instant::now()));
        None
    }
}

impl std::fmt::Debug for SmtpAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpAgent")
            .field("tls", &self.tls.is_some())
            .field("seed", &self.seed)
            .finish()
    }
}

impl SmtpAgent {
    /// An agent with opportunistic TLS and a seed from the clock and pid.
    pub fn new(dns: Dns) -> SmtpAgent {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        SmtpAgent {
            dns,
            tls: opportunistic_tls().ok(),
            seed,
            attempts: Arc::default(),
            local_addrs: Vec::new(),
            pool: Arc::default(),
            log: None,
            trust: Arc::default(),
        }
    }

    /// The ordered targets for `hop` (for `mxctl explain` and tests); each
    /// call is a new attempt with its own address order.
    pub async fn targets(&self, site: &Site, hop: &NextHop) -> Result<Vec<Target>, mx::Refusal> {
        let (host, port) = mx::split_port(hop.host.as_deref().unwrap_or(""));
        let attempt = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let opts = mx::Options {
            port: port.unwrap_or_else(|| mailer_port(site, &hop.mailer)),
            seed: self.seed,
            address_seed: self.seed ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            local_addrs: self.local_addrs.clone(),
        };
        let found = mx::resolve(&self.dns, site, host, &opts).await;
        // confFALLBACK_SMARTHOST (sendmail 8.17 deliver.c, should_try_fbsh):
        // one last try with that host, looked up without MX (as
        // makeconnection does), when the host was not found or every
        // connection failed; never for this host ($=w), nor for a content
        // filter's hop (its own port) or LMTP.
        let fallback = site
            .config
            .relays
            .fallback_smarthost
            .as_deref()
            .map(|f| f.trim().trim_start_matches('[').trim_end_matches(']'))
            .filter(|f| {
                !f.is_empty()
                    && !site.is_local_host(f)
                    && port.is_none()
                    && mailer_mode(&hop.mailer) != Mode::Lmtp
            });
        let Some(fb) = fallback else {
            return found;
        };
        let why = format!("FallbackSmartHost {fb}");
        let last = match mx::resolve(&self.dns, site, &format!("[{fb}]"), &opts).await {
            Ok(t) => t.into_iter().map(|t| Target {
                why: why.clone(),
                ..t
            }),
            Err(_) => return found,
        };
        match found {
            Ok(mut t) => {
                t.extend(last);
                Ok(t)
            }
            Err(r) if !r.is_permanent() || r.status == EnhancedStatus::new(5, 1, 2) => {
                Ok(last.collect())
            }
            Err(r) => Err(r),
        }
    }

    /// sendmail's tls_rcpt for the recipients at `open` over `conn`: those
    /// whose `TLS_Rcpt:` requirement the connection does not meet are
    /// settled in `results` (deferred, or failed for a 5xx requirement) and
    /// logged; the others make the returned batch, with their positions.
    fn tls_rcpt_split<'b>(
        &self,
        site: &Site,
        conn: &SmtpConnection,
        host: &str,
        batch: &Batch<'b>,
        open: &[usize],
        results: &mut [Option<Outcome>],
    ) -> (Vec<usize>, Batch<'b>) {
        let mut sent = Vec::new();
        let mut recipients = Vec::new();
        for &i in open {
            let Some(r) = batch.recipients.get(i) else {
                continue;
            };
            let (local, domain) = r
                .address
                .rsplit_once('@')
                .unwrap_or((r.address.as_str(), ""));
            let verdict = conn.with_tls_facts(host, |facts| {
                tls_policy::tls_rcpt(site, local, domain, facts)
            });
            match verdict.reply() {
                None => {
                    sent.push(i);
                    recipients.push(r.clone());
                }
                Some(reply) => {
                    let line = reply.line(None);
                    if let Some(log) = &self.log {
                        log(
                            batch.id,
                            &format!(
                                "ruleset=tls_rcpt, arg1=<{}>, relay={}, reject={line}",
                                r.address, conn.relay
                            ),
                        );
                    }
                    let relay = Some(conn.relay.clone());
                    let status = reply.status_or_class();
                    let said = Said::Reply(reply.to_smtp(None));
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(if reply.is_temporary() {
                            Outcome::Deferred {
                                status,
                                reply: said,
                                relay,
                            }
                        } else {
                            Outcome::Failed {
                                status,
                                reply: said,
                                relay,
                            }
                        });
                    }
                }
            }
        }
        let sub = Batch {
            id: batch.id,
            envelope: batch.envelope,
            sender: batch.sender.clone(),
            recipients,
            message: batch.message,
            tries: batch.tries,
        };
        (sent, sub)
    }

    /// [`Self::tls_rcpt_split`], then send the recipients left over `c`;
    /// `None` when none was left (the connection goes back to the pool).
    #[allow(clippy::too_many_arguments)]
    async fn send_over(
        &self,
        site: &Site,
        mut c: SmtpConnection,
        host: &str,
        batch: &Batch<'_>,
        open: &[usize],
        results: &mut [Option<Outcome>],
        key: PoolKey,
    ) -> Option<(SmtpConnection, Vec<RcptStatus>, Vec<usize>)> {
        let (sent, sub) = self.tls_rcpt_split(site, &c, host, batch, open, results);
        if sent.is_empty() {
            if let Some(extra) = self.pool.give(key, c) {
                extra.quit().await;
            }
            return None;
        }
        let st = c.send(&sub).await;
        Some((c, st, sent))
    }

    /// Deliver `batch` to `hop`: one outcome per recipient, in order.
    pub async fn deliver(&self, site: &Site, hop: &NextHop, batch: &Batch<'_>) -> Vec<Outcome> {
        let n = batch.recipients.len();
        let targets = match self.targets(site, hop).await {
            Ok(t) => t,
            Err(r) => {
                let o = if r.is_permanent() {
                    Outcome::failed(r.status, r.text)
                } else {
                    Outcome::deferred(r.status, r.text)
                };
                return vec![o; n];
            }
        };
        let mut timeouts = Timeouts::from_site(site);
        timeouts.connect = timeouts.connect_for(batch.tries);
        let client_opts = match ClientOptions::of(&site.config) {
            Ok(c) => c,
            Err(e) => {
                let o = Outcome::deferred(EnhancedStatus::new(4, 3, 5), e);
                return vec![o; n];
            }
        };
        let mut results: Vec<Option<Outcome>> = vec![None; n];
        let mut last = ConnectFailure {
            status: EnhancedStatus::new(4, 4, 1),
            said: Said::text("no host to try"),
        };
        let mut last_relay: Option<String> = None;
        for target in &targets {
            let open: Vec<usize> = (0..n)
                .filter(|&i| results.get(i).is_some_and(Option::is_none))
                .collect();
            if open.is_empty() {
                break;
            }
            let family = client_opts.for_addr(&target.addr.ip());
            let auth = match authinfo(site, &target.host, target.addr.ip()) {
                // CLIENT_OPTIONS M=A: no AUTH.
                Ok(_) if family.no_auth => None,
                Ok(a) => a,
                Err(e) => {
                    last = ConnectFailure {
                        status: EnhancedStatus::new(4, 3, 0),
                        said: Said::text(e),
                    };
                    continue;
                }
            };
            let key: PoolKey = (target.addr, hop.mailer.clone(), auth.is_some());
            // CLIENT_OPTIONS M=S, or Try_TLS: NO in the access map: no STARTTLS.
            let try_tls =
                !family.no_tls && tls_policy::try_tls(site, &target.host, Some(target.addr.ip()));
            let helo_name = match family.helo_from_interface {
                true => client_options::interface_helo_name(site, &self.dns, family, target.addr)
                    .await
                    .unwrap_or_else(|| site.hostname.clone()),
                false => site.hostname.clone(),
            };
            let settings = Settings {
                mode: mailer_mode(&hop.mailer),
                helo_name,
                tls: if try_tls {
                    TlsWish::Opportunistic
                } else {
                    TlsWish::Never
                },
                auth,
            };
            // A pooled connection first; if the peer closed it meanwhile
            // (nothing settled, session gone), fall back to a fresh one.
            let mut reused = None;
            if let Some(c) = self.pool.take(&key) {
                let Some((c, st, sent)) = self
                    .send_over(
                        site,
                        c,
                        &target.host,
                        batch,
                        &open,
                        &mut results,
                        key.clone(),
                    )
                    .await
                else {
                    continue;
                };
                let settled = st.iter().any(|s| !matches!(s, RcptStatus::TryNextHost(_)));
                if settled || c.is_open() {
                    reused = Some((c, st, sent));
                }
            }
            let (conn, statuses, sent) = match reused {
                Some(x) => x,
                None => {
                    let trust = match self.trust.for_site(site) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            if let Some(log) = &self.log {
                                log(
                                    batch.id,
                                    &format!(
                                        "STARTTLS=client: no trust anchors ({e}): every certificate is verify=FAIL"
                                    ),
                                );
                            }
                            None
                        }
                    };
                    let client_tls = match self.trust.client_for_site(site) {
                        None => self.tls.clone(),
                        Some(Ok(c)) => Some(c),
                        Some(Err(e)) => {
                            last = ConnectFailure {
                                status: EnhancedStatus::new(4, 3, 5),
                                said: Said::text(e),
                            };
                            continue;
                        }
                    };
                    let c = match SmtpConnection::open(
                        target, settings, client_tls, timeouts, family, trust,
                    )
                    .await
                    {
                        Ok(c) => {
                            if let (Some(log), Some(line)) = (&self.log, &c.tls_line) {
                                log(batch.id, line);
                            }
                            c
                        }
                        Err(f) => {
                            last = f;
                            last_relay = Some(target.relay());
                            continue;
                        }
                    };
                    // sendmail's tls_server: is this server good enough?
                    let verdict = c.with_tls_facts(&target.host, |facts| {
                        tls_policy::tls_server(site, &target.host, Some(target.addr.ip()), facts)
                    });
                    if let Some(r) = verdict.reply() {
                        let line = r.line(None);
                        if let Some(log) = &self.log {
                            log(
                                batch.id,
                                &format!(
                                    "ruleset=tls_server, arg1={}, relay={}, reject={line}",
                                    c.verify.as_str(),
                                    c.relay
                                ),
                            );
                        }
                        let relay = c.relay.clone();
                        c.quit().await;
                        if r.is_temporary() {
                            last = ConnectFailure {
                                status: r.status_or_class(),
                                said: Said::Reply(r.to_smtp(None)),
                            };
                            last_relay = Some(relay);
                            continue;
                        }
                        for &i in &open {
                            if let Some(slot) = results.get_mut(i) {
                                *slot = Some(Outcome::Failed {
                                    status: r.status_or_class(),
                                    reply: Said::Reply(r.to_smtp(None)),
                                    relay: Some(relay.clone()),
                                });
                            }
                        }
                        break;
                    }
                    match self
                        .send_over(
                            site,
                            c,
                            &target.host,
                            batch,
                            &open,
                            &mut results,
                            key.clone(),
                        )
                        .await
                    {
                        Some(x) => x,
                        None => continue,
                    }
                }
            };
            let relay = conn.relay.clone();
            let usable = conn.is_open();
            for (k, &i) in sent.iter().enumerate() {
                let Some(s) = statuses.get(k) else { continue };
                match outcome(s, &relay) {
                    Some(o) => {
                        if let Some(slot) = results.get_mut(i) {
                            *slot = Some(o);
                        }
                    }
                    None => {
                        if let RcptStatus::TryNextHost(t) = s {
                            last = ConnectFailure {
                                status: EnhancedStatus::new(4, 4, 2),
                                said: Said::text(t.clone()),
                            };
                            last_relay = Some(relay.clone());
                        }
                    }
                }
            }
            if usable && let Some(extra) = self.pool.give(key, conn) {
                extra.quit().await;
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Outcome::Deferred {
                    status: last.status,
                    reply: last.said.clone(),
                    relay: last_relay.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn authinfo_values() {
        let c = parse_authinfo(r#""U:smmsp" "P:secret" "M:PLAIN LOGIN""#).unwrap();
        assert_eq!(
            (c.authzid.as_str(), c.authcid.as_str(), c.password.as_str()),
            ("", "smmsp", "secret")
        );
        let c = parse_authinfo(r#""U:root" "I:user" "P=c2VjcmV0""#).unwrap();
        assert_eq!(
            (c.authzid.as_str(), c.authcid.as_str(), c.password.as_str()),
            ("root", "user", "secret")
        );
        assert_eq!(parse_authinfo(r#""U:u" "P:p" "M:DIGEST-MD5""#), None);
        assert_eq!(parse_authinfo(r#""U:u""#), None);
    }

    #[test]
    fn outcomes_from_statuses() {
        use crate::proto::reply::EnhancedStatus;
        let r = Reply::new(550, EnhancedStatus::new(5, 1, 1), "<b@x>... User unknown");
        assert_eq!(
            outcome(&RcptStatus::Rejected(r), "mx. [192.0.2.1]"),
            Some(Outcome::Failed {
                status: EnhancedStatus::new(5, 1, 1),
                reply: Said::Reply(Reply::new(
                    550,
                    EnhancedStatus::new(5, 1, 1),
                    "<b@x>... User unknown",
                )),
                relay: Some("mx. [192.0.2.1]".into()),
            })
        );
        let r = Reply::plain(451, "later");
        assert!(matches!(
            outcome(&RcptStatus::Deferred(r), "mx"),
            Some(Outcome::Deferred { status, .. }) if status == EnhancedStatus::new(4, 0, 0)
        ));
        let r = Reply::new(250, EnhancedStatus::new(2, 0, 0), "Ok: queued as X");
        assert_eq!(
            outcome(&RcptStatus::Accepted(r), "mx").unwrap().stat(),
            "Sent (Ok: queued as X)"
        );
        assert_eq!(outcome(&RcptStatus::TryNextHost("x".into()), "mx"), None);
    }
}
