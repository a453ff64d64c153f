//! One SMTP connection: the I/O around a [`Session`].
//!
//! Contract: read bytes and hand them to the session, write what it
//! answers, and wait — for input, for the time the session names
//! ([`Session::wake_at`]), for a write to finish within its limit, for a
//! TLS handshake — telling the session what happened. Every rule, limit,
//! reply and log line is the session's (`smtpd::transaction`); what it
//! asks of the outside is answered by `smtpd::world`.

use super::listener::DaemonSpec;
use super::stream::Stream;
use super::transaction::{Inputs, Origin, Session, World, admission_refusal};
use super::world::{self, Daemon};
use super::{Refusal, Server};
use crate::addr;
use crate::deadline::Deadline;
use crate::policy::{Client, Resolve};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// What ended a wait for the client.
enum Wake {
    /// Bytes, end of input or an error.
    Input(std::io::Result<usize>),
    /// The time the session named.
    Timeout,
    /// The daemon is stopping and the session is between transactions.
    Stopping,
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
    let slot = match server.admit(peer.ip(), &spec) {
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
        stream = match Deadline::new()
            .within(
                server.settings().tls_timeout,
                stream.into_tls(tls.config.clone()),
            )
            .await
        {
            Some(Ok(s)) => s,
            _ => return,
        };
    }
    let runtime = server.runtime();
    let mut client = Client::at(peer.ip());
    client.rate = slot.rate;
    client.connections = slot.connections;
    let dns = world::connect_facts(&server, &runtime.site, &mut client, &slot.lookups).await;
    let smtps = stream.tls_info(server.tls.as_deref());
    let inputs = Inputs {
        spec: spec.clone(),
        peer,
        local_addr,
        origin: Origin::Network,
        client,
        dns,
        sid: server.spool.session_id().as_str().to_string(),
        tls_available: server.tls.is_some(),
        smtps,
        runtime: runtime.clone(),
    };
    let world = Daemon::new(
        server.clone(),
        runtime,
        slot.lookups.clone(),
        spec.input_filters.as_deref(),
    );
    drive(&server, Session::new(inputs, world), stream).await;
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
    let from_host = matches!(why, Refusal::TooManyFromHost);
    let (r, line) = admission_refusal(&server.site().hostname, &spec.name, ip, from_host);
    server
        .log
        .line(Some(server.spool.session_id().as_str()), &line);
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
    let slot = match server.admit(localhost, &spec) {
        Ok(slot) => slot,
        Err(why) => {
            let ip = crate::policy::UNIX_CLIENT_ADDR;
            refuse_admission(&server, &spec, &mut stream, ip, why).await;
            return;
        }
    };
    let lookups = slot.lookups.clone();
    let session = local_session(
        &server,
        spec,
        Origin::UnixSocket,
        Client::unix_socket(),
        lookups,
    );
    drive(&server, session, stream).await;
    drop(slot);
}

/// `sendmail -bs`: one session with a local program over `stream` (standard
/// input and output). As in sendmail, the client is this host
/// (`localhost [127.0.0.1]`, which may relay), no connection checks run
/// (check_relay, greet_pause, DNSBL) and no session limits apply; every
/// MAIL/RCPT/DATA check does, and a message is answered 250 only once it is
/// in the spool, where the daemon's queue finds it.
pub async fn run_local(server: Arc<Server>, spec: Arc<DaemonSpec>, stream: Stream) {
    let localhost = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let mut client = Client::at(localhost);
    client.name = "localhost".into();
    client.resolve = Resolve::Ok;
    let permits = server.settings().max_client_lookups;
    let lookups = Arc::new(smol::lock::Semaphore::new(permits));
    let session = local_session(&server, spec, Origin::Program, client, lookups);
    drive(&server, session, stream).await;
}

/// A session whose client is on this host (no DNS facts to gather).
fn local_session(
    server: &Arc<Server>,
    spec: Arc<DaemonSpec>,
    origin: Origin,
    client: Client,
    lookups: Arc<smol::lock::Semaphore>,
) -> Session<Daemon> {
    let runtime = server.runtime();
    let localhost = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let filters = spec.input_filters.clone();
    let world = Daemon::new(server.clone(), runtime.clone(), lookups, filters.as_deref());
    let inputs = Inputs {
        runtime,
        spec,
        peer: SocketAddr::new(localhost, 0),
        local_addr: None,
        origin,
        client,
        dns: Vec::new(),
        sid: server.spool.session_id().as_str().to_string(),
        tls_available: server.tls.is_some(),
        smtps: None,
    };
    Session::new(inputs, world)
}

/// Run `session` over `stream` until it ends.
async fn drive<W: World>(server: &Server, mut session: Session<W>, mut stream: Stream) {
    let mut buf = crate::readbuf::SESSION.take();
    let mut deadline = Deadline::new();
    if let Some(pause) = session.greet_pause() {
        let paused = Instant::now();
        let early = deadline.within(pause, stream.read(&mut buf)).await;
        if let Some(Ok(n)) = early.filter(|r| matches!(r, Ok(n) if *n > 0)) {
            session.early_talker(&buf[..n], paused.elapsed());
        }
    }
    session.open().await;
    loop {
        let out = session.take_output();
        if !out.is_empty() {
            match deadline
                .within(session.write_limit(), stream.write_all(&out))
                .await
            {
                Some(Ok(())) => {}
                None => session.write_timed_out(),
                Some(Err(_)) => break,
            }
        }
        if session.is_closed() {
            break;
        }
        if session.take_tls_request() {
            let Some(tls) = server.tls.clone() else {
                break;
            };
            match deadline
                .within(session.tls_limit(), stream.into_tls(tls.config.clone()))
                .await
            {
                Some(Ok(s)) => {
                    stream = s;
                    session
                        .tls_started(stream.tls_info(server.tls.as_deref()))
                        .await;
                }
                _ => {
                    session.tls_started(None).await;
                    return;
                }
            }
            continue;
        }
        if session.step().await {
            continue;
        }
        let idle = session.idle();
        if idle && server.is_stopping() {
            session.shutting_down();
            continue;
        }
        let fire = session.wake_at(Instant::now());
        let input = async { Wake::Input(stream.read(&mut buf).await) };
        let stopping = async {
            if !idle {
                return futures_lite::future::pending().await;
            }
            server.stopped().await;
            Wake::Stopping
        };
        let woke = deadline
            .until(fire, futures_lite::future::or(input, stopping))
            .await
            .unwrap_or(Wake::Timeout);
        match woke {
            Wake::Stopping => session.shutting_down(),
            Wake::Timeout => session.timed_out(Instant::now()),
            Wake::Input(Ok(0) | Err(_)) => break,
            Wake::Input(Ok(n)) => session.receive(&buf[..n]),
        }
    }
    session.finish().await;
    stream.close().await;
}
