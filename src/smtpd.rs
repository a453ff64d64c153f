//! The SMTP daemon: listeners, and one thin task per connection.
//!
//! Contract: [`Server`] holds what every connection shares — the loaded
//! site (swapped whole on reload), the spool, the resolver, TLS and AUTH
//! settings, the log and the counters behind the connection limits.
//! [`Server::serve`] binds the `DAEMON_OPTIONS` listeners and spawns a
//! [`conn`] task per accepted connection; it returns when asked to stop,
//! after the sessions in progress have finished.

pub mod conn;
pub mod listener;
pub mod milters;
pub mod received;
pub mod stream;
pub mod transaction;
pub mod world;

use crate::auth;
use crate::config::MapSpec;
use crate::dns::Dns;
use crate::event::Log;
use crate::site::Site;
use crate::spool::Spool;
use crate::table::TableRef;
use listener::{Bind, DaemonSpec};
use mxgate_m4::config::{DEFAULT_LISTEN, DaemonTuning};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::settings::Settings;

/// How AUTH credentials are checked.
#[derive(Debug, Clone)]
pub enum AuthBackend {
    /// AUTH is not offered.
    None,
    /// A makemap-built table: user → `{SCHEME}hash` (`confAUTH_PASSWORD_MAP`).
    Table(TableRef),
    /// Dovecot's auth socket (`confAUTH_DOVECOT_SOCKET`).
    Dovecot(PathBuf),
}

impl AuthBackend {
    /// From the site's options; a configured but missing table is an error.
    pub fn from_site(site: &Site) -> Result<AuthBackend, String> {
        if let Some(sock) = &site.settings.auth_dovecot_socket {
            return Ok(AuthBackend::Dovecot(sock.clone()));
        }
        let Some(spec) = site.settings.auth_password_map.as_deref() else {
            return Ok(AuthBackend::None);
        };
        let words: Vec<&str> = spec.split_whitespace().collect();
        let Some(path) = words.last() else {
            return Err("confAUTH_PASSWORD_MAP is empty".into());
        };
        let map = MapSpec {
            class: words.first().copied().unwrap_or("lmdb").to_string(),
            path: path.to_string(),
            optional: words.contains(&"-o"),
            tempfail: true,
            nul_terminated: false,
            keep_case: words.contains(&"-f"),
            other_flags: vec![],
        };
        crate::site::open_map(&map)
            .map(AuthBackend::Table)
            .map_err(|e| format!("confAUTH_PASSWORD_MAP: {e}"))
    }

    /// Is AUTH offered at all?
    pub fn is_enabled(&self) -> bool {
        !matches!(self, AuthBackend::None)
    }

    /// Check credentials: `Ok(true)` = good, `Ok(false)` = bad, `Err` = temporary.
    /// Table entries are verified by `verifier` (off the executor, bounded;
    /// an unknown user costs as much as a known one).
    pub async fn check(
        &self,
        creds: &auth::Credentials,
        ip: Option<IpAddr>,
        verifier: &auth::verifier::Verifier,
    ) -> Result<bool, String> {
        match self {
            AuthBackend::None => Ok(false),
            AuthBackend::Table(t) => match t.lookup(&creds.user) {
                Ok(stored) => verifier
                    .check(stored, &creds.password)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            AuthBackend::Dovecot(path) => {
                match auth::dovecot::authenticate(path, creds, ip, Duration::from_secs(10)).await? {
                    auth::dovecot::Outcome::Ok(_) => Ok(true),
                    auth::dovecot::Outcome::Fail => Ok(false),
                }
            }
        }
    }
}

/// What every connection shares.
pub struct Server {
    runtime: RwLock<Arc<Runtime>>,
    /// The spool messages are committed to.
    pub spool: Spool,
    /// The resolver (`None`: decide without DNS, as the hosts file allows).
    pub dns: Option<Dns>,
    /// TLS for STARTTLS and SMTPS (`confSERVER_CERT` / `confSERVER_KEY`).
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    /// The log.
    pub log: Log,
    /// Password checks, off the executor (`confMXGATE_AUTH_WORKERS`).
    pub verifier: auth::verifier::Verifier,
    /// Failed AUTH attempts per client address.
    pub auth_failures: Mutex<auth::throttle::Throttle>,
    sessions: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, PerIp>>,
    /// Recent connection times per client address (`${client_rate}`).
    recent: Mutex<RecentConnections>,
    stopping: AtomicBool,
    /// Notified once, when a stop is asked for.
    stop_asked: event_listener::Event,
    queue_count: Mutex<(Instant, usize)>,
    /// The queue runner's hand-off, set when the daemon starts one: a
    /// message committed to `queue/` goes to a worker at once.
    pub handoff: std::sync::OnceLock<crate::queue::runner::Handoff>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// One generation of what the sessions read: the site and everything
/// derived from it, replaced as one value by a reload. A session takes
/// one at its start and keeps it to its end, so a transaction sees one
/// generation from MAIL to the end of DATA. (An LMDB table rebuilt in
/// place follows its file in every generation that maps it, as sendmail's
/// maps do; a bundle's tables are never rebuilt in place.)
#[derive(Debug)]
pub struct Runtime {
    /// The site.
    pub site: Arc<Site>,
    /// Its settings.
    pub settings: Arc<Settings>,
    /// Its AUTH backend.
    pub auth: AuthBackend,
    /// Its compiled content checks (header, MIME, nested, body rules).
    pub content: Arc<crate::policy::ContentRules>,
}

impl Runtime {
    /// Derive everything from `site`; nothing is swapped if this fails.
    pub fn new(site: Arc<Site>) -> Result<Runtime, String> {
        Ok(Runtime {
            settings: site.settings.clone(),
            auth: AuthBackend::from_site(&site)?,
            content: Arc::new(content_rules(&site)?),
            site,
        })
    }
}

/// What the sessions of one client address share.
struct PerIp {
    sessions: usize,
    lookups: Arc<smol::lock::Semaphore>,
}

/// A session slot, released when dropped.
pub struct Slot {
    server: Arc<Server>,
    /// The client's key in the per-client counts ([`Settings::client_key`]).
    key: IpAddr,
    /// The client address's DNS lookup permits
    /// (`confMXGATE_MAX_CLIENT_LOOKUPS`), shared by its sessions.
    pub lookups: Arc<smol::lock::Semaphore>,
    /// sendmail's `${client_rate}`: this address's connections within
    /// `confCONNECTION_RATE_WINDOW_SIZE`, this one included.
    pub rate: usize,
    /// sendmail's `${client_connections}`: this address's open sessions,
    /// this one included.
    pub connections: usize,
}

/// Connection times per client address within the rate window, bounded:
/// at most [`RecentConnections::MAX_ADDRESSES`] addresses (expired ones are
/// pruned first; past that the oldest knowledge is dropped) and
/// [`RecentConnections::MAX_PER_ADDRESS`] times per address (a rate that
/// high is over any sane `ClientRate:` limit anyway).
#[derive(Default)]
struct RecentConnections {
    times: HashMap<IpAddr, std::collections::VecDeque<Instant>>,
}

impl RecentConnections {
    const MAX_ADDRESSES: usize = 100_000;
    const MAX_PER_ADDRESS: usize = 10_000;

    /// Record a connection from `ip` at `now`; the count within `window`.
    fn record(&mut self, ip: IpAddr, now: Instant, window: Duration) -> usize {
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < window;
        if self.times.len() >= Self::MAX_ADDRESSES && !self.times.contains_key(&ip) {
            self.times.retain(|_, q| q.back().is_some_and(fresh));
            if self.times.len() >= Self::MAX_ADDRESSES {
                self.times.clear();
            }
        }
        let q = self.times.entry(ip).or_default();
        while q.front().is_some_and(|t| !fresh(t)) {
            q.pop_front();
        }
        if q.len() >= Self::MAX_PER_ADDRESS {
            q.pop_front();
        }
        q.push_back(now);
        q.len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.server.sessions.fetch_sub(1, Ordering::SeqCst);
        let mut m = self.server.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            n.sessions -= 1;
            if n.sessions == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// Why a connection is turned away before the session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `confMAX_DAEMON_CHILDREN` reached.
    TooManySessions,
    /// Too many sessions from this address.
    TooManyFromHost,
}

impl Server {
    /// Assemble a server.
    pub fn new(
        site: Arc<Site>,
        spool: Spool,
        dns: Option<Dns>,
        tls: Option<Arc<crate::tls::ServerTls>>,
        log: Log,
    ) -> Result<Server, String> {
        let runtime = Runtime::new(site)?;
        let verifier = auth::verifier::Verifier::new(
            runtime.settings.auth_workers,
            runtime.settings.auth_wait,
        );
        Ok(Server {
            runtime: RwLock::new(Arc::new(runtime)),
            spool,
            dns,
            tls,
            log,
            verifier,
            auth_failures: Mutex::new(auth::throttle::Throttle::default()),
            sessions: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            recent: Mutex::new(RecentConnections::default()),
            stopping: AtomicBool::new(false),
            stop_asked: event_listener::Event::new(),
            queue_count: Mutex::new((Instant::now() - Duration::from_secs(10), 0)),
            handoff: std::sync::OnceLock::new(),
        })
    }

    /// The current generation (a snapshot: a reload does not change it
    /// under a session).
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current site.
    pub fn site(&self) -> Arc<Site> {
        self.runtime().site.clone()
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.runtime().settings.clone()
    }

    /// The current AUTH backend.
    pub fn auth(&self) -> AuthBackend {
        self.runtime().auth.clone()
    }

    /// The compiled header rules, if the site has any.
    pub fn header_rules(&self) -> Option<Arc<crate::policy::HeaderRules>> {
        self.runtime().content.header.clone()
    }

    /// Swap in a reloaded site (SIGHUP): everything derived from it is
    /// built first, then one `Arc` is replaced. On an error nothing
    /// changes. Sessions in progress keep the generation they started with.
    pub fn reload(&self, site: Arc<Site>) -> Result<(), String> {
        let runtime = Arc::new(Runtime::new(site)?);
        *self.runtime.write().unwrap_or_else(|p| p.into_inner()) = runtime;
        Ok(())
    }

    /// Ask the listeners to stop accepting.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_asked.notify(usize::MAX);
    }

    /// Resolves once a stop has been asked for.
    pub async fn stopped(&self) {
        while !self.is_stopping() {
            let asked = self.stop_asked.listen();
            if self.is_stopping() {
                return;
            }
            asked.await;
        }
    }

    /// Has a stop been asked for?
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sessions in progress.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    /// Take a session slot for a client at `ip` of listener `spec`, or say
    /// why not. The session limit is the listener's `children=` when set,
    /// else `confMAX_DAEMON_CHILDREN`; either counts the daemon's sessions
    /// on every listener (sendmail 8.17, daemon.c `refuseconnections`).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, spec: &DaemonSpec) -> Result<Slot, Refusal> {
        let s = self.settings();
        let n = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
        // IPv6 clients count per network (confMXGATE_CLIENT_IPV6_PREFIX):
        // the cap, the rate, the DNS lookups; the exceptions and the
        // access lookups still see the address itself.
        let key = s.client_key(ip);
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per_ip.entry(key).or_insert_with(|| PerIp {
            sessions: 0,
            lookups: Arc::new(smol::lock::Semaphore::new(s.max_client_lookups)),
        });
        mine.sessions += 1;
        let over_ip = s.per_ip_applies(ip) && mine.sessions > s.max_per_ip;
        let lookups = mine.lookups.clone();
        let connections = mine.sessions;
        drop(per_ip);
        let rate = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(key, Instant::now(), s.rate_window);
        let slot = Slot {
            server: self.clone(),
            key,
            lookups,
            rate,
            connections,
        };
        let max_sessions = spec.tuning.children.unwrap_or(s.max_sessions);
        if max_sessions > 0 && n > max_sessions {
            return Err(Refusal::TooManySessions);
        }
        if over_ip {
            return Err(Refusal::TooManyFromHost);
        }
        Ok(slot)
    }

    /// Is there room for new mail? `Err(text)` = temp-fail new mail with this text.
    pub fn has_room(&self) -> Result<(), &'static str> {
        let s = self.settings();
        if s.min_free_blocks > 0
            && let Ok(st) = nix::sys::statvfs::statvfs(self.spool.root())
        {
            let free_kib = st.blocks_available().saturating_mul(st.fragment_size()) / 1024;
            if free_kib < s.min_free_blocks {
                return Err("Insufficient disk space; try again later");
            }
        }
        if s.max_queue > 0 {
            let mut q = self.queue_count.lock().unwrap_or_else(|p| p.into_inner());
            if q.0.elapsed() >= Duration::from_secs(1) {
                let n = std::fs::read_dir(self.spool.root().join("queue"))
                    .map(|d| d.count())
                    .unwrap_or(0);
                *q = (Instant::now(), n);
            }
            if q.1 >= s.max_queue {
                return Err("Queue is full; try again later");
            }
        }
        Ok(())
    }
}

/// The content checks of `site`: each rules file compiled (an error names
/// `file:line`), `mime_header_checks` and `nested_header_checks` defaulting
/// to `header_checks` as in Postfix, and `confMXGATE_BODY_CHECKS_SIZE_LIMIT`.
fn content_rules(site: &Site) -> Result<crate::policy::ContentRules, String> {
    let compile = |f: &Option<(std::path::PathBuf, String)>| match f {
        None => Ok(None),
        Some((path, text)) => crate::policy::HeaderRules::parse(&path.display().to_string(), text)
            .map(|r| Some(Arc::new(r)))
            .map_err(|e| e.to_string()),
    };
    let header = compile(&site.header_checks)?;
    let files = &site.content_checks;
    let body_limit = site.settings.body_checks_size_limit;
    Ok(crate::policy::ContentRules {
        mime: compile(&files.mime)?.or_else(|| header.clone()),
        nested: compile(&files.nested)?.or_else(|| header.clone()),
        body: compile(&files.body)?,
        header,
        body_limit,
    })
}

/// A bound listening socket, before the async runtime takes it.
pub enum Listening {
    /// `Family=inet`/`inet6`.
    Tcp(std::net::TcpListener),
    /// `Family=local`.
    Unix(std::os::unix::net::UnixListener),
}

/// Bind every listener; an `M=O` listener that cannot bind is skipped with a log line.
///
/// The sockets are plain std listeners: nothing of the async runtime exists
/// yet, so the caller may still fork (`--daemon`) safely; [`serve`] registers
/// them with the reactor.
pub fn bind(specs: &[DaemonSpec], log: &Log) -> Result<Vec<(DaemonSpec, Listening)>, String> {
    let mut out = Vec::new();
    for spec in specs {
        let l = match &spec.addr {
            Bind::Inet(a) => bind_tcp(*a, &spec.tuning).map(Listening::Tcp),
            Bind::Unix(path) => bind_unix(path).and_then(|l| {
                socket2::SockRef::from(&l).listen(backlog(&spec.tuning))?;
                Ok(Listening::Unix(l))
            }),
        };
        match l {
            Ok(l) => out.push((spec.clone(), l)),
            Err(e) if spec.has('O') => log.line(
                None,
                &format!(
                    "daemon {}: cannot bind {}: {e} (optional, skipped)",
                    spec.name, spec.addr
                ),
            ),
            Err(e) => {
                return Err(format!(
                    "daemon {}: cannot bind {}: {e}",
                    spec.name, spec.addr
                ));
            }
        }
    }
    Ok(out)
}

/// The listen queue's length: `Listen=`, else [`DEFAULT_LISTEN`].
fn backlog(t: &DaemonTuning) -> i32 {
    t.listen.unwrap_or(DEFAULT_LISTEN) as i32
}

/// Bind a TCP listening socket at `a` as the standard library does
/// (`SO_REUSEADDR`, close-on-exec), with the listener's `ReceiveSize=` and
/// `SendSize=` set before it listens (so the window offered in the
/// handshake follows them; each accepted connection inherits them, as in
/// sendmail, which sets them on its listening socket) and its `Listen=`.
fn bind_tcp(a: std::net::SocketAddr, t: &DaemonTuning) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if let Some(n) = t.receive_size {
        s.set_recv_buffer_size(n)?;
    }
    if let Some(n) = t.send_size {
        s.set_send_buffer_size(n)?;
    }
    s.bind(&a.into())?;
    s.listen(backlog(t))?;
    Ok(s.into())
}

/// `ReceiveSize=` and `SendSize=` on an accepted Unix-domain connection
/// (such a socket does not inherit its listener's buffers).
fn tune_unix(s: &async_net::unix::UnixStream, t: &DaemonTuning) -> std::io::Result<()> {
    let r = socket2::SockRef::from(s);
    if let Some(n) = t.receive_size {
        r.set_recv_buffer_size(n)?;
    }
    if let Some(n) = t.send_size {
        r.set_send_buffer_size(n)?;
    }
    Ok(())
}

/// Bind a Unix-domain listening socket at `path`. A socket left there by an
/// earlier run is removed first; any other file (a symlink included) is
/// left alone and the bind fails, so a planted link cannot make us unlink
/// or create something elsewhere. The socket's mode is sendmail's: 0666
/// less the umask (a client needs write permission to connect).
fn bind_unix(path: &std::path::Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        Err(_) => {}
    }
    std::os::unix::net::UnixListener::bind(path)
}

/// A listening socket registered with the reactor.
enum Listener {
    Tcp(async_net::TcpListener),
    Unix(async_net::unix::UnixListener),
}

/// One accepted connection.
enum Accepted {
    Tcp(async_net::TcpStream, std::net::SocketAddr),
    Unix(async_net::unix::UnixStream),
}

impl Listener {
    fn register(l: Listening) -> std::io::Result<Listener> {
        match l {
            Listening::Tcp(l) => {
                l.set_nonblocking(true)?;
                async_net::TcpListener::try_from(l).map(Listener::Tcp)
            }
            Listening::Unix(l) => {
                l.set_nonblocking(true)?;
                async_net::unix::UnixListener::try_from(l).map(Listener::Unix)
            }
        }
    }

    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                let _ = s.set_nodelay(true);
                Accepted::Tcp(s, peer)
            }),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        }
    }
}

/// Accept on every listener until [`Server::stop`]; then wait for sessions to end.
pub async fn serve(server: Arc<Server>, listeners: Vec<(DaemonSpec, Listening)>) {
    let mut tasks = Vec::new();
    for (spec, listener) in listeners {
        let listener = match Listener::register(listener) {
            Ok(l) => l,
            Err(e) => {
                server
                    .log
                    .line(None, &format!("daemon {}: cannot listen: {e}", spec.name));
                continue;
            }
        };
        let server = server.clone();
        tasks.push(smol::spawn(async move {
            let spec = Arc::new(spec);
            let mut throttle = Throttle::default();
            let mut failing = Repeats::new(ACCEPT_LOG_INTERVAL);
            let mut backoff = ACCEPT_BACKOFF_MIN;
            loop {
                let accepted =
                    futures_lite::future::or(async { Some(listener.accept().await) }, async {
                        server.stopped().await;
                        None
                    })
                    .await;
                let Some(accepted) = accepted else { break };
                match accepted {
                    Ok(accepted) => {
                        backoff = ACCEPT_BACKOFF_MIN;
                        if let Some(line) = failing.recovered(Instant::now()) {
                            server
                                .log
                                .line(None, &format!("daemon {}: accept: {line}", spec.name));
                        }
                        let (srv, sp) = (server.clone(), spec.clone());
                        match accepted {
                            Accepted::Tcp(stream, peer) => {
                                smol::spawn(conn::run(srv, sp, stream, peer)).detach()
                            }
                            Accepted::Unix(stream) => {
                                if let Err(e) = tune_unix(&stream, &sp.tuning) {
                                    server.log.line(
                                        None,
                                        &format!("daemon {}: socket buffers: {e}", sp.name),
                                    );
                                }
                                smol::spawn(conn::run_unix(srv, sp, stream)).detach()
                            }
                        }
                        let rate = server.settings().rate;
                        if throttle.over(rate, Instant::now()) {
                            server.log.line(
                                None,
                                &format!(
                                    "deferring connections on daemon {}: {rate} per second",
                                    spec.name
                                ),
                            );
                            async_io::Timer::after(Duration::from_secs(1)).await;
                        }
                    }
                    Err(e) => {
                        // Out of descriptors (EMFILE/ENFILE) the listening
                        // socket stays readable: wait, longer while it lasts,
                        // rather than spin, and log one line per interval.
                        if let Some(line) = failing.note(&e.to_string(), Instant::now()) {
                            server
                                .log
                                .line(None, &format!("daemon {}: accept: {line}", spec.name));
                        }
                        async_io::Timer::after(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    // Idle sessions close at once (421 4.3.2); one in a transaction finishes
    // it first. A client that holds us up longer keeps its unacknowledged
    // message and retries it, as after any 421.
    let until = Instant::now() + STOP_LIMIT;
    while server.sessions() > 0 && Instant::now() < until {
        async_io::Timer::after(Duration::from_millis(100)).await;
    }
    if server.sessions() > 0 {
        server.log.line(
            None,
            &format!(
                "stopping: {} session(s) still open after {}s; exiting anyway",
                server.sessions(),
                STOP_LIMIT.as_secs()
            ),
        );
    }
}

/// How long a stopping daemon waits for open sessions, and then for the
/// deliveries in progress.
pub const STOP_LIMIT: Duration = Duration::from_secs(60);

/// The first wait after a failed `accept`, doubled while failures last.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two `accept` attempts that failed.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one log line per listener and interval for a repeated accept error.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One log line per interval for an error that repeats: the first at once,
/// then the count of the ones not logged, as syslog's "last message repeated".
#[derive(Debug)]
struct Repeats {
    interval: Duration,
    /// The error last logged, when, and how many times it came since.
    last: Option<(String, Instant, usize)>,
}

impl Repeats {
    fn new(interval: Duration) -> Repeats {
        Repeats {
            interval,
            last: None,
        }
    }

    /// `text` happened at `now`: the line to log, if any.
    fn note(&mut self, text: &str, now: Instant) -> Option<String> {
        match &mut self.last {
            Some((last, at, n)) if last == text && now.duration_since(*at) < self.interval => {
                *n += 1;
                None
            }
            Some((last, at, n)) if last == text => {
                let line = format!(
                    "{text} (repeated {} times in the last {} s)",
                    *n + 1,
                    now.duration_since(*at).as_secs()
                );
                *at = now;
                *n = 0;
                Some(line)
            }
            _ => {
                self.last = Some((text.to_string(), now, 0));
                Some(text.to_string())
            }
        }
    }

    /// The error stopped: the count not yet logged, if any.
    fn recovered(&mut self, now: Instant) -> Option<String> {
        let (text, at, n) = self.last.take()?;
        (n > 0).then(|| {
            format!(
                "{text} (repeated {n} times in the last {} s)",
                now.duration_since(at).as_secs()
            )
        })
    }
}

/// `confCONNECTION_RATE_THROTTLE`, as sendmail (daemon.c): past N
/// connections in one second a daemon pauses accepting for a second (clients
/// wait in the listen backlog); nobody is refused for it.
#[derive(Debug, Default)]
struct Throttle {
    /// Start of the current one-second window and connections in it.
    window: Option<(Instant, usize)>,
}

impl Throttle {
    /// Count a connection accepted at `now`; true when it is one too many for
    /// `rate` a second (0 = no limit) and the daemon should pause. The
    /// window starts again after the pause.
    fn over(&mut self, rate: usize, now: Instant) -> bool {
        if rate == 0 {
            return false;
        }
        match &mut self.window {
            Some((start, n)) if now.duration_since(*start) < Duration::from_secs(1) => {
                *n += 1;
                if *n > rate {
                    self.window = None;
                    return true;
                }
                false
            }
            _ => {
                self.window = Some((now, 1));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_pauses_after_n_connections_in_a_second() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        assert!(!t.over(2, t0));
        assert!(!t.over(2, t0 + Duration::from_millis(10)));
        assert!(
            t.over(2, t0 + Duration::from_millis(20)),
            "the third in a second"
        );
        // after the pause a new window starts
        assert!(!t.over(2, t0 + Duration::from_millis(1030)));
        assert!(!t.over(2, t0 + Duration::from_millis(1040)));
        // a new second, a new window
        assert!(!t.over(2, t0 + Duration::from_millis(2100)));
        assert!(!t.over(0, t0), "0 = no limit");
    }

    #[test]
    fn a_repeated_error_is_logged_once_per_interval_with_a_count() {
        let mut r = Repeats::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let e = "Too many open files (os error 24)";
        assert_eq!(r.note(e, t0).as_deref(), Some(e), "the first at once");
        for i in 1..=311 {
            assert_eq!(r.note(e, t0 + Duration::from_millis(i * 30)), None);
        }
        assert_eq!(
            r.note(e, t0 + Duration::from_secs(10)).as_deref(),
            Some("Too many open files (os error 24) (repeated 312 times in the last 10 s)")
        );
        assert_eq!(r.note(e, t0 + Duration::from_secs(11)), None);
        // Another error is logged at once.
        let other = "Connection aborted";
        assert_eq!(
            r.note(other, t0 + Duration::from_secs(12)).as_deref(),
            Some(other)
        );
        assert_eq!(r.note(other, t0 + Duration::from_secs(13)), None);
        // When accept works again, the count not yet logged is.
        assert_eq!(
            r.recovered(t0 + Duration::from_secs(15)).as_deref(),
            Some("Connection aborted (repeated 1 times in the last 3 s)")
        );
        assert_eq!(r.recovered(t0 + Duration::from_secs(16)), None);
    }
}
