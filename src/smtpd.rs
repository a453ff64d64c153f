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
pub mod received;
pub mod stream;

use crate::auth;
use crate::config::MapSpec;
use crate::dns::Dns;
use crate::event::Log;
use crate::site::Site;
use crate::spool::Spool;
use crate::table::TableRef;
use futures_rustls::rustls::ServerConfig;
use listener::DaemonSpec;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Limits and options read once from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `confMAX_MESSAGE_SIZE` (0 = unlimited).
    pub max_message_size: u64,
    /// `confMAX_RCPTS_PER_MESSAGE` (0 = unlimited).
    pub max_rcpts: usize,
    /// `confMAX_DAEMON_CHILDREN`: concurrent sessions (0 = unlimited).
    pub max_sessions: usize,
    /// `confMAX_CONN_PER_IP` (mxgate extension; sendmail's ClientConn): per-address sessions (0 = unlimited).
    pub max_per_ip: usize,
    /// `confCONNECTION_RATE_THROTTLE`: accepted connections per second (0 = unlimited).
    pub rate: usize,
    /// `confMIN_FREE_BLOCKS`: free 1 KiB blocks needed on the spool's file system.
    pub min_free_blocks: u64,
    /// `confMAX_QUEUE_SIZE` (mxgate extension): messages in `queue/` above which new mail is temp-failed (0 = unlimited).
    pub max_queue: usize,
    /// `confTO_COMMAND`: how long to wait for a command.
    pub command_timeout: Duration,
    /// `confTO_DATABLOCK`: how long to wait for message data.
    pub data_timeout: Duration,
    /// `confTO_STARTTLS`: how long a TLS handshake (STARTTLS or SMTPS) may take.
    pub tls_timeout: Duration,
    /// Bad commands before the session is closed with 421
    /// (`confMXGATE_MAX_BAD_COMMANDS`, default 25 as sendmail's MAXBADCOMMANDS).
    pub max_errors: usize,
    /// Commands that move no mail (NOOP, RSET, VRFY, EXPN, HELP, ETRN, HELO/EHLO)
    /// allowed between two MAIL commands before the session is closed with 421
    /// (`confMXGATE_MAX_NONMAIL_COMMANDS`, default 20 as sendmail's MAXNOOPCOMMANDS; 0 = unlimited).
    pub max_nonmail: usize,
    /// `confSMTP_LOGIN_MSG`.
    pub greeting: Option<String>,
    /// `confPRIVACY_FLAGS` contains `noexpn` / `goaway`.
    pub no_expn: bool,
    /// DNS lookups one client address may have in flight at once, over all
    /// its sessions (`confMXGATE_MAX_CLIENT_LOOKUPS`, default 4; at least 1).
    /// More wait for a free one: a client whose lookups go unanswered slows
    /// only its own sessions.
    pub max_client_lookups: usize,
    /// Password checks running at once (`confMXGATE_AUTH_WORKERS`, default
    /// one per core); read at start, not at reload.
    pub auth_workers: usize,
    /// How long an AUTH waits for a free password worker before
    /// `454 4.7.0` (`confMXGATE_AUTH_WAIT`, default 10 s).
    pub auth_wait: Duration,
}

impl Settings {
    /// Read from the site's options.
    pub fn from_site(site: &Site) -> Result<Settings, String> {
        let num = |name: &str, default: u64| -> Result<u64, String> {
            match site.config.option(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}: expected a number, found {v:?}")),
            }
        };
        let dur = |name: &str, default: Duration| -> Result<Duration, String> {
            match site.config.option(name) {
                None => Ok(default),
                Some(v) => crate::config::parse_duration(v, crate::config::unit::MINUTES)
                    .ok_or_else(|| format!("{name}: expected a duration such as 5m, found {v:?}")),
            }
        };
        let dur_secs = |name: &str, default: Duration| -> Result<Duration, String> {
            match site.config.option(name) {
                None => Ok(default),
                Some(v) => crate::config::parse_duration(v, crate::config::unit::SECONDS)
                    .ok_or_else(|| format!("{name}: expected a duration such as 10s, found {v:?}")),
            }
        };
        let privacy = site
            .config
            .option("confPRIVACY_FLAGS")
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(Settings {
            max_message_size: num("confMAX_MESSAGE_SIZE", 0)?,
            max_rcpts: num("confMAX_RCPTS_PER_MESSAGE", 0)? as usize,
            max_sessions: num("confMAX_DAEMON_CHILDREN", 0)? as usize,
            max_per_ip: num("confMAX_CONN_PER_IP", 0)? as usize,
            rate: num("confCONNECTION_RATE_THROTTLE", 0)? as usize,
            min_free_blocks: num("confMIN_FREE_BLOCKS", 100)?,
            max_queue: num("confMAX_QUEUE_SIZE", 0)? as usize,
            command_timeout: dur("confTO_COMMAND", Duration::from_secs(300))?,
            data_timeout: dur("confTO_DATABLOCK", Duration::from_secs(600))?,
            tls_timeout: dur("confTO_STARTTLS", Duration::from_secs(60))?,
            max_errors: num("confMXGATE_MAX_BAD_COMMANDS", 25)? as usize,
            max_nonmail: num("confMXGATE_MAX_NONMAIL_COMMANDS", 20)? as usize,
            greeting: site.config.option("confSMTP_LOGIN_MSG").map(str::to_string),
            no_expn: privacy.contains("noexpn") || privacy.contains("goaway"),
            max_client_lookups: (num("confMXGATE_MAX_CLIENT_LOOKUPS", 4)? as usize).max(1),
            auth_workers: match num("confMXGATE_AUTH_WORKERS", 0)? as usize {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            },
            auth_wait: dur_secs("confMXGATE_AUTH_WAIT", Duration::from_secs(10))?,
        })
    }
}

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
        if let Some(sock) = site.config.option("confAUTH_DOVECOT_SOCKET") {
            return Ok(AuthBackend::Dovecot(PathBuf::from(sock)));
        }
        let Some(spec) = site.config.option("confAUTH_PASSWORD_MAP") else {
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
    site: RwLock<Arc<Site>>,
    /// The spool messages are committed to.
    pub spool: Spool,
    /// The resolver (`None`: decide without DNS, as the hosts file allows).
    pub dns: Option<Dns>,
    /// TLS for STARTTLS and SMTPS (`confSERVER_CERT` / `confSERVER_KEY`).
    pub tls: Option<Arc<ServerConfig>>,
    /// The log.
    pub log: Log,
    settings: RwLock<Arc<Settings>>,
    auth: RwLock<AuthBackend>,
    /// Password checks, off the executor (`confMXGATE_AUTH_WORKERS`).
    pub verifier: auth::verifier::Verifier,
    /// Failed AUTH attempts per client address.
    pub auth_failures: Mutex<auth::throttle::Throttle>,
    header_rules: RwLock<Option<Arc<crate::policy::HeaderRules>>>,
    sessions: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, PerIp>>,
    stopping: AtomicBool,
    queue_count: Mutex<(Instant, usize)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
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
    ip: IpAddr,
    /// The client address's DNS lookup permits
    /// (`confMXGATE_MAX_CLIENT_LOOKUPS`), shared by its sessions.
    pub lookups: Arc<smol::lock::Semaphore>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.server.sessions.fetch_sub(1, Ordering::SeqCst);
        let mut m = self.server.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            n.sessions -= 1;
            if n.sessions == 0 {
                m.remove(&self.ip);
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
        tls: Option<Arc<ServerConfig>>,
        log: Log,
    ) -> Result<Server, String> {
        let settings = Settings::from_site(&site)?;
        let auth = AuthBackend::from_site(&site)?;
        let rules = header_rules(&site)?;
        let verifier = auth::verifier::Verifier::new(settings.auth_workers, settings.auth_wait);
        Ok(Server {
            site: RwLock::new(site),
            spool,
            dns,
            tls,
            log,
            settings: RwLock::new(Arc::new(settings)),
            auth: RwLock::new(auth),
            verifier,
            auth_failures: Mutex::new(auth::throttle::Throttle::default()),
            header_rules: RwLock::new(rules),
            sessions: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            queue_count: Mutex::new((Instant::now() - Duration::from_secs(10), 0)),
        })
    }

    /// The current site (a snapshot: a reload does not change it under a session).
    pub fn site(&self) -> Arc<Site> {
        self.site.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current AUTH backend.
    pub fn auth(&self) -> AuthBackend {
        self.auth.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The compiled header rules, if the site has any.
    pub fn header_rules(&self) -> Option<Arc<crate::policy::HeaderRules>> {
        self.header_rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swap in a reloaded site (SIGHUP). Sessions in progress keep the old one.
    pub fn reload(&self, site: Arc<Site>) -> Result<(), String> {
        let settings = Settings::from_site(&site)?;
        let auth = AuthBackend::from_site(&site)?;
        let rules = header_rules(&site)?;
        *self.header_rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        *self.auth.write().unwrap_or_else(|p| p.into_inner()) = auth;
        *self.site.write().unwrap_or_else(|p| p.into_inner()) = site;
        Ok(())
    }

    /// Ask the listeners to stop accepting.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Has a stop been asked for?
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sessions in progress.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    /// Take a session slot for a client at `ip`, or say why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let s = self.settings();
        let n = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per_ip.entry(ip).or_insert_with(|| PerIp {
            sessions: 0,
            lookups: Arc::new(smol::lock::Semaphore::new(s.max_client_lookups)),
        });
        mine.sessions += 1;
        let over_ip = s.max_per_ip > 0 && mine.sessions > s.max_per_ip;
        let lookups = mine.lookups.clone();
        drop(per_ip);
        let slot = Slot {
            server: self.clone(),
            ip,
            lookups,
        };
        if s.max_sessions > 0 && n > s.max_sessions {
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

fn header_rules(site: &Site) -> Result<Option<Arc<crate::policy::HeaderRules>>, String> {
    match &site.header_checks {
        None => Ok(None),
        Some((path, text)) => crate::policy::HeaderRules::parse(&path.display().to_string(), text)
            .map(|r| Some(Arc::new(r)))
            .map_err(|e| e.to_string()),
    }
}

/// Bind every listener; an `M=O` listener that cannot bind is skipped with a log line.
///
/// The sockets are plain std listeners: nothing of the async runtime exists
/// yet, so the caller may still fork (`--daemon`) safely; [`serve`] registers
/// them with the reactor.
pub fn bind(
    specs: &[DaemonSpec],
    log: &Log,
) -> Result<Vec<(DaemonSpec, std::net::TcpListener)>, String> {
    let mut out = Vec::new();
    for spec in specs {
        let l = std::net::TcpListener::bind(spec.addr);
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

/// Accept on every listener until [`Server::stop`]; then wait for sessions to end.
pub async fn serve(server: Arc<Server>, listeners: Vec<(DaemonSpec, std::net::TcpListener)>) {
    let mut tasks = Vec::new();
    for (spec, listener) in listeners {
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| async_net::TcpListener::try_from(listener))
        {
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
            loop {
                let accepted =
                    futures_lite::future::or(async { Some(listener.accept().await) }, async {
                        while !server.is_stopping() {
                            async_io::Timer::after(Duration::from_millis(200)).await;
                        }
                        None
                    })
                    .await;
                let Some(accepted) = accepted else { break };
                match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        smol::spawn(conn::run(server.clone(), spec.clone(), stream, peer)).detach();
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
                        server
                            .log
                            .line(None, &format!("daemon {}: accept: {e}", spec.name));
                        async_io::Timer::after(Duration::from_millis(100)).await;
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
}
