//! Running the daemon: load, bind, drop privileges, serve, reload, stop.
//!
//! Contract: [`run`] loads the configuration (a `.mc`, a compiled file or
//! the embedded default), opens the spool (`QUEUE_DIR`), binds every
//! `DAEMON_OPTIONS` listener, then — when started as root and
//! `confRUN_AS_USER` names a user — drops to that user, and serves until
//! SIGTERM/SIGINT (stop accepting, let sessions finish). Before acting on
//! the spool as root it is judged by [`crate::spool::audit`]: a spool
//! directory that is a symlink, owned by another user or writable by
//! others refuses the start with the path in the message, and ownership is
//! handed over through the descriptor opened without following symlinks.
//! `confRUN_AS_USER` naming a user that does not exist refuses the start
//! (never silently stays root); running as root without it (or with
//! `root`) is logged as a warning at every start. `--daemon` detaches and
//! writes a pidfile; the default is the foreground (systemd style).
//!
//! Reloads: [`load_set`] builds a whole new set (configuration, node
//! values, every table and file, the generation id of
//! [`crate::generation`]) and the server swaps one `Arc` to it; a set that
//! fails to load leaves the running one and is logged with its reason.
//! SIGHUP reloads; so does a makemap rebuild of a table of the running set
//! (looked for once a second). Settings read only at start
//! ([`RESTART_ONLY`], the listeners) are compared with the start-time
//! values and named when a reload changes them. What the daemon serves is
//! recorded in `QUEUE_DIR/daemon.json` ([`state`]) for `mxgate status`. A
//! bundle's configuration ([`is_bundle`]) has relative paths, resolved in
//! its real directory, and a node file ([`bundle_node_file`]).

pub mod metrics;
pub mod notify;
pub mod queue;
pub mod state;
pub mod submit;

use crate::config;
use crate::dns::Dns;
use crate::event::Log;
use crate::generation::Generation;
use crate::node::Node;
use crate::settings::LogTarget;
use crate::site::Site;
use crate::smtpd::{self, Server, listener};
use crate::spool::{Durability, Spool};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--config FILE` / `-C FILE`; `None` = the embedded default.
    pub config: Option<PathBuf>,
    /// `-D NAME=VALUE`.
    pub defines: Vec<(String, String)>,
    /// Detach (`--daemon`).
    pub detach: Detach,
    /// Pidfile (`--pidfile`); default `QUEUE_DIR/mxgate.pid` when detached.
    pub pidfile: Option<PathBuf>,
    /// `-L tag`: the syslog tag, over `confMXGATE_LOG_TAG`.
    pub log_tag: Option<String>,
    /// `--queue-interval` / `sendmail -bd -q15m`: over `confMXGATE_QUEUE_INTERVAL`.
    pub queue_interval: Option<String>,
    /// `--node FILE`: the per-node values ([`crate::node`]); for a bundle
    /// (`ROOT/current/mxgate.cf`) `ROOT/node` is used when it exists.
    pub node: Option<PathBuf>,
}

/// One loaded set: the site, its generation and the node values applied.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The site, node values applied.
    pub site: Arc<Site>,
    /// Its generation.
    pub generation: Generation,
    /// The node file, if any.
    pub node: Option<Node>,
}

/// The file next to a bundle's configuration that makes it a bundle.
pub const MANIFEST: &str = "manifest";

/// Is `config` the configuration of an installed bundle (a `manifest`
/// next to it)?
pub fn is_bundle(config: &Path) -> bool {
    config
        .parent()
        .map(|d| d.join(MANIFEST))
        .is_some_and(|m| m.is_file())
}

/// The node file a bundle's configuration `ROOT/current/mxgate.cf` uses
/// when none is given: `ROOT/node` (taken lexically, through `current`).
pub fn bundle_node_file(config: &Path) -> Option<PathBuf> {
    let root = config.parent()?.parent()?;
    let node = root.join("node");
    node.is_file().then_some(node)
}

/// Foreground or background.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detach {
    /// Stay in the foreground, log to stderr unless a log file is configured.
    #[default]
    Foreground,
    /// Fork into the background.
    Background,
}

/// Load the configuration and the site.
/// The compiler's warnings (settings mxgate does not honour, see
/// `mxgate_m4::support`) come first in the site's warnings; a setting the
/// daemon must refuse (`mxgate_m4::support::refusals`) is an error.
pub fn load(opts: &Options) -> Result<Arc<Site>, String> {
    load_set(opts).map(|l| l.site)
}

/// Load the whole set: the configuration, the node values, every table and
/// file it names, and the generation id over them (see
/// [`crate::generation`]). Nothing is shared with a set loaded before, so a
/// failure leaves the running set as it was.
///
/// A bundle's configuration (a `manifest` next to it) is read through its
/// real path, once: its relative paths name files of that generation's
/// directory, even when `current` is switched while it loads.
pub fn load_set(opts: &Options) -> Result<Loaded, String> {
    let (path, bundle_dir) = match &opts.config {
        Some(p) if is_bundle(p) => {
            let real = p
                .canonicalize()
                .map_err(|e| format!("{}: {e}", p.display()))?;
            let dir = real.parent().map(Path::to_path_buf);
            (Some(real), dir)
        }
        Some(p) => (Some(p.clone()), None),
        None => (None, None),
    };
    let (mut cfg, mut warnings) = match &path {
        Some(p) => config::load_with_warnings(p, &opts.defines),
        None => config::compile_mc_with_warnings(
            "(embedded default.mc)",
            config::EMBEDDED_DEFAULT_MC,
            &opts.defines,
        ),
    }
    .map_err(|e| e.to_string())?;
    let refused = mxgate_m4::support::refusals(&cfg);
    if !refused.is_empty() {
        return Err(refused.join("\nmxgate: "));
    }
    // The generation covers the configuration as shipped: before a
    // bundle's paths are resolved and before the node's values.
    let text = cfg.to_text();
    // `--queue-interval` / `-q15m` is a command-line value, as the node's:
    // not part of the generation.
    if let Some(q) = &opts.queue_interval {
        if crate::config::parse_duration(q, crate::config::unit::MINUTES).is_none()
            && q.trim() != "0"
        {
            return Err(format!(
                "queue interval {q:?}: expected a duration such as 15m"
            ));
        }
        cfg.options
            .insert("confMXGATE_QUEUE_INTERVAL".to_string(), q.clone());
    }
    if let Some(dir) = &bundle_dir {
        resolve_relative(&mut cfg, dir);
    }
    let node_file = opts.node.clone().or_else(|| {
        opts.config
            .as_deref()
            .filter(|_| bundle_dir.is_some())
            .and_then(bundle_node_file)
    });
    let node = match node_file {
        Some(f) => Some(Node::read(&f).map_err(|e| e.to_string())?),
        None => None,
    };
    if let Some(n) = &node {
        n.apply(&mut cfg);
    }
    let mut site = Site::load(cfg).map_err(|e| e.to_string())?;
    let generation = Generation::of(&text, &site).map_err(|e| e.to_string())?;
    warnings.append(&mut site.warnings);
    site.warnings = warnings;
    Ok(Loaded {
        site: Arc::new(site),
        generation,
        node,
    })
}

/// Make the relative paths of a bundle's configuration absolute under `dir`.
pub fn resolve_relative(cfg: &mut config::Config, dir: &Path) {
    let fix = |p: &mut String| {
        if Path::new(p.as_str()).is_relative() {
            *p = dir.join(p.as_str()).display().to_string();
        }
    };
    for spec in cfg.maps.values_mut().chain(cfg.alias_files.iter_mut()) {
        fix(&mut spec.path);
    }
    for f in cfg.class_files.values_mut().flatten() {
        fix(&mut f.path);
    }
    for h in [
        &mut cfg.header_checks,
        &mut cfg.body_checks,
        &mut cfg.mime_header_checks,
        &mut cfg.nested_header_checks,
    ]
    .into_iter()
    .flatten()
    {
        let (kind, path) = config::split_rules_spec(h);
        let mut path = path.to_string();
        fix(&mut path);
        *h = format!("{kind}{path}");
    }
    for opt in ["confHOSTS_FILE", "confSERVICE_SWITCH_FILE"] {
        if let Some(v) = cfg.options.get_mut(opt) {
            fix(v);
        }
    }
}

/// The settings the daemon reads only at start: a reload that changes one
/// names it in the log and in `mxgate status` and keeps the old value.
pub const RESTART_ONLY: [&str; 20] = [
    "QUEUE_DIR",
    "confQUEUE_DIR",
    "confRUN_AS_USER",
    "confMXGATE_LOG_FILE",
    "confMXGATE_LOG_TAG",
    "confMXGATE_SYSLOG_SOCKET",
    "confMXGATE_METRICS_ADDR",
    "confMXGATE_METRICS_ALLOW_REMOTE",
    "confSERVER_CERT",
    "confSERVER_KEY",
    "confSERVER_SSL_OPTIONS",
    "confTLS_SRV_OPTIONS",
    "confMXGATE_NAMESERVERS",
    "confMXGATE_DNS_TIMEOUT",
    "confMXGATE_DNS_RETRY",
    "confMXGATE_QUEUE_INTERVAL",
    "confMXGATE_QUEUE_WORKERS",
    "confMXGATE_QUEUE_MEMORY",
    "confMXGATE_DESTINATION_CONCURRENCY",
    "confMXGATE_AUTH_WORKERS",
];

/// Settings the SMTP client reads at each delivery but the server's TLS
/// only at start: a reload that changes one is named for incoming
/// STARTTLS (the cipher list, and the anchors client certificates are
/// verified against).
pub const SERVER_TLS_AT_START: [&str; 3] = ["confCIPHER_LIST", "confCACERT", "confCACERT_PATH"];

/// The restart-only settings that differ between the site the daemon
/// started with and `new`: `NAME: old -> new` (listeners as
/// `DAEMON_OPTIONS`).
pub fn restart_only_changes(started: &Site, new: &Site) -> Vec<String> {
    let show = |v: Option<&str>| v.map_or("(unset)".to_string(), str::to_string);
    let mut out = Vec::new();
    let listeners = |s: &Site| {
        smtpd::listener::specs(&s.config)
            .map(|v| {
                v.iter()
                    .map(smtpd::listener::DaemonSpec::describe)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|e| e)
    };
    let (a, b) = (listeners(started), listeners(new));
    if a != b {
        out.push(format!("DAEMON_OPTIONS: {a} -> {b}"));
    }
    let named = RESTART_ONLY.iter().map(|n| (*n, ""));
    let tls = SERVER_TLS_AT_START
        .iter()
        .map(|n| (*n, " for incoming STARTTLS"));
    for (name, what) in named.chain(tls) {
        let (a, b) = (started.config.option(name), new.config.option(name));
        if a != b {
            out.push(format!("{name}{what}: {} -> {}", show(a), show(b)));
        }
    }
    out
}

/// The spool directory of a site (`QUEUE_DIR`; default `/var/spool/mxgate`).
pub fn queue_dir(site: &Site) -> PathBuf {
    site.settings.queue_dir.clone()
}

/// The syslog tag: `-L tag` when given, else `confMXGATE_LOG_TAG`, else
/// [`crate::event::DEFAULT_TAG`] (`sm-mta`, as Debian's sendmail daemon).
pub fn log_tag<'a>(site: &'a Site, cli: Option<&'a str>) -> &'a str {
    cli.or(site.settings.log_tag.as_deref())
        .unwrap_or(crate::event::DEFAULT_TAG)
}

/// Switch the record to `generation`: log `configuration generation G`,
/// record it in `QUEUE_DIR/generation` (for `mxgate health`), the metric,
/// and the state file (for `mxgate status`).
fn note_generation(log: &Log, qdir: &Path, state: &mut state::State, id: &str, reason: &str) {
    // The records first, the log line last: whoever sees the line finds
    // the same generation in the files and the metric.
    crate::metrics::global().replace(
        crate::metrics::GENERATION,
        vec![(vec![("generation", id.to_string())], 1.0)],
    );
    if let Err(e) = crate::cli::health::record_generation(qdir, id) {
        log.line(
            None,
            &format!("cannot record generation in {}: {e}", qdir.display()),
        );
    }
    state.generation = state::Loaded {
        id: id.to_string(),
        since: state::now(),
        reason: reason.to_string(),
    };
    save_state(log, qdir, state);
    log.line(None, &format!("configuration generation {id} ({reason})"));
}

fn save_state(log: &Log, qdir: &Path, state: &state::State) {
    if let Err(e) = state::write(qdir, state) {
        log.line(
            None,
            &format!("cannot record the daemon state in {}: {e}", qdir.display()),
        );
    }
}

fn node_info(node: Option<&Node>) -> Option<state::NodeInfo> {
    node.map(|n| state::NodeInfo {
        name: n.name(),
        file: n.path.display().to_string(),
        sha: n.sha.clone(),
        keys: n.values.iter().map(|(k, _)| k.clone()).collect(),
    })
}

/// What a running daemon keeps between reloads.
struct Reloader<'a> {
    opts: &'a Options,
    server: Arc<Server>,
    qdir: PathBuf,
    /// The site the daemon started with (the restart-only values in force).
    started: Arc<Site>,
    state: state::State,
    current: Generation,
    /// A table change whose reload failed: not tried again until the files
    /// change again (or SIGHUP), so a broken set is not retried every second.
    failed_on: Option<Vec<Option<std::time::SystemTime>>>,
    /// systemd's `$NOTIFY_SOCKET` (a no-op without it).
    notify: notify::Notifier,
}

impl Reloader<'_> {
    /// Load the whole set again and switch to it, or keep the running one
    /// and say why.
    fn reload(&mut self, reason: &str) {
        self.tell("RELOADING=1");
        let log = &self.server.log;
        let attempt = load_set(self.opts).and_then(|l| {
            self.server.reload(l.site.clone())?;
            Ok(l)
        });
        match attempt {
            Ok(l) => {
                self.failed_on = None;
                log.line(
                    None,
                    &format!("restarting: configuration reloaded ({reason})"),
                );
                let pending = restart_only_changes(&self.started, &l.site);
                for p in &pending {
                    let (name, change) = p.split_once(": ").unwrap_or((p, ""));
                    log.line(
                        None,
                        &format!(
                            "{name} changed ({change}); takes effect at restart, running with the old value"
                        ),
                    );
                }
                for w in self.server.settings().warnings() {
                    log.line(None, &format!("warning: {w}"));
                }
                self.state.pending_restart = pending;
                self.state.node = node_info(l.node.as_ref());
                self.state.last_reload = Some(state::Reload {
                    at: state::now(),
                    reason: reason.to_string(),
                    result: state::Outcome::Ok,
                    error: None,
                });
                self.current = l.generation;
                let id = self.current.id.clone();
                note_generation(log, &self.qdir, &mut self.state, &id, reason);
                self.tell(&format!(
                    "READY=1\nSTATUS=serving generation {id} (reloaded: {})",
                    one_line(reason)
                ));
            }
            Err(e) => {
                self.failed_on = Some(self.table_stamps());
                log.line(
                    None,
                    &format!(
                        "reload refused ({reason}): {e}; still serving generation {}",
                        self.current.id
                    ),
                );
                self.state.last_reload = Some(state::Reload {
                    at: state::now(),
                    reason: reason.to_string(),
                    result: state::Outcome::Failed,
                    error: Some(e.clone()),
                });
                save_state(log, &self.qdir, &self.state);
                self.tell(&format!(
                    "READY=1\nSTATUS=reload refused ({}): {}; serving generation {}",
                    one_line(reason),
                    one_line(&e),
                    self.current.id
                ));
            }
        }
    }

    /// One message to systemd; a failure is logged, never fatal.
    fn tell(&self, state: &str) {
        if let Err(e) = self.notify.send(state) {
            self.server
                .log
                .line(None, &format!("warning: sd_notify {state:?}: {e}"));
        }
    }

    /// A makemap rebuild of a table of the running set: a new generation.
    fn check_tables(&mut self) {
        let Some(path) = self.current.changed().map(Path::to_path_buf) else {
            return;
        };
        if self
            .failed_on
            .as_ref()
            .is_some_and(|f| *f == self.table_stamps())
        {
            return;
        }
        self.reload(&format!("map rebuilt: {}", path.display()));
    }

    fn table_stamps(&self) -> Vec<Option<std::time::SystemTime>> {
        self.current
            .table_files()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// The log a site asks for: `confMXGATE_LOG_FILE` names a file or `syslog`;
/// without it, standard error; under [`log_tag`]. `Err` carries the exit status.
fn site_log(site: &Site, cli_tag: Option<&str>) -> Result<Log, (String, i32)> {
    let tag = log_tag(site, cli_tag);
    site_log_untagged(site).map(|l| l.with_tag(tag))
}

fn site_log_untagged(site: &Site) -> Result<Log, (String, i32)> {
    let host = site.hostname.as_str();
    match &site.settings.log {
        LogTarget::Syslog(sock) => {
            Log::syslog(host, sock).map_err(|e| (format!("syslog: {e}"), 71))
        }
        LogTarget::File(p) => Log::file(host, p).map_err(|e| (format!("{}: {e}", p.display()), 73)),
        LogTarget::Stderr => Ok(Log::stderr(host)),
    }
}

/// `sendmail -bs`: one SMTP session with the calling program on standard
/// input and output, into the site's spool (the daemon's queue delivers
/// it). Returns the exit status: 0 when the session ran.
pub fn stdio_session(opts: &Options) -> i32 {
    let fail = |e: String, code: i32| {
        eprintln!("sendmail: {e}");
        code
    };
    let site = match load(opts) {
        Ok(s) => s,
        Err(e) => return fail(e, 78),
    };
    // The global content filter applies, as Postfix's content_filter
    // applies to mail from pickup.
    let content_filter = match mxgate_m4::content_filter::global(&site.config) {
        Ok(f) => f.map(|f| f.to_string()),
        Err(e) => return fail(e, 78),
    };
    let log = match site_log(&site, opts.log_tag.as_deref()) {
        Ok(l) => l,
        Err((e, code)) => return fail(e, code),
    };
    let spool = match Spool::open(&queue_dir(&site), Durability::Fsync) {
        Ok(s) => s,
        Err(e) => return fail(format!("spool: {e}"), 73),
    };
    let dns = match resolver(&site, site.settings.dns_timeout) {
        Ok(d) => d,
        Err(e) => return fail(e, 78),
    };
    // No TLS and no AUTH on a pipe: the caller is already on this host.
    let server = match Server::new(site, spool, dns, None, log) {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(e, 78),
    };
    let spec = Arc::new(listener::DaemonSpec {
        name: "stdin".into(),
        addr: listener::Bind::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        modifiers: "SAE".into(),
        input_filters: None,
        content_filter,
        reinjection: false,
        tuning: Default::default(),
    });
    smol::block_on(smtpd::conn::run_local(
        server,
        spec,
        smtpd::stream::Stream::stdio(),
    ));
    0
}

/// How often the daemon looks for a rebuilt table of the running set.
const TABLE_CHECK: Duration = Duration::from_secs(1);

/// Run until stopped; returns the exit status.
pub fn run(opts: &Options) -> i32 {
    let loaded = match load_set(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 78;
        }
    };
    let site = loaded.site.clone();
    let log = match site_log(&site, opts.log_tag.as_deref()) {
        Ok(l) => l,
        Err((e, code)) => {
            eprintln!("mxgate: {e}");
            return code;
        }
    };
    let nofile = raise_open_files();
    let specs = match listener::specs(&site.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 78;
        }
    };
    let metrics_addr = match metrics::addr(&site) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 78;
        }
    };
    let qdir = queue_dir(&site);
    let run_as = match run_as_user(&site) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 67;
        }
    };
    let mut spool = match Spool::open(&qdir, Durability::Fsync) {
        Ok(s) => s.with_recycling(),
        Err(e) => {
            eprintln!("mxgate: spool: {e}");
            return 73;
        }
    };
    let owners: Vec<nix::unistd::Uid> = run_as
        .iter()
        .map(|u| u.uid)
        .chain(std::iter::once(nix::unistd::Uid::effective()))
        .collect();
    let problems = crate::spool::audit(&qdir, &owners);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("mxgate: unsafe spool: {p}");
            log.line(None, &format!("SYSERR: unsafe spool: {p}"));
        }
        eprintln!("mxgate: refusing to start (see `mxgate check`)");
        return 73;
    }
    let tls = match (
        site.config.option("confSERVER_CERT"),
        site.config.option("confSERVER_KEY"),
    ) {
        (Some(c), Some(k)) => match crate::tls::TlsSettings::from_options(
            |n| site.config.option(n),
            "confSERVER_SSL_OPTIONS",
        )
        .and_then(|settings| {
            for w in &settings.warnings {
                log.line(None, &format!("warning: {w}"));
            }
            let (client_certs, why) =
                crate::tls::client_certs(|n| site.config.option(n).map(str::to_string));
            if let Some(w) = why {
                log.line(None, &format!("warning: STARTTLS: {w}"));
            }
            let config =
                crate::tls::server_config(c.as_ref(), k.as_ref(), &settings, client_certs.clone())?;
            Ok(Arc::new(crate::tls::ServerTls {
                config,
                client_certs,
            }))
        }) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("mxgate: TLS: {e}");
                return 78;
            }
        },
        (None, None) => None,
        _ => {
            eprintln!("mxgate: confSERVER_CERT and confSERVER_KEY must be given together");
            return 78;
        }
    };
    let dns_timeout = site.settings.dns_timeout;
    let listeners = match smtpd::bind(&specs, &log) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 71;
        }
    };
    let submit_path = submit::socket_path(&site.config);
    let submit_listener = match submit_path
        .as_deref()
        .map(|p| submit::bind(p, run_as.as_ref()))
        .transpose()
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 71;
        }
    };
    let metrics_listener = match metrics_addr.map(metrics::bind).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mxgate: confMXGATE_METRICS_ADDR: {e}");
            return 71;
        }
    };
    if let Err(e) = drop_privileges(run_as.as_ref(), &qdir, &log) {
        eprintln!("mxgate: {e}");
        return 77;
    }
    if opts.detach == Detach::Background
        && let Err(e) = nix::unistd::daemon(true, false)
    {
        eprintln!("mxgate: cannot detach: {e}");
        return 71;
    }
    let pidfile = opts
        .pidfile
        .clone()
        .or_else(|| (opts.detach == Detach::Background).then(|| qdir.join("mxgate.pid")));
    if let Some(p) = &pidfile
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        eprintln!("mxgate: {}: {e}", p.display());
        return 73;
    }
    // The resolver is made after the fork: nothing that may start threads
    // exists before `daemon()` (a forked child keeps only the calling thread).
    let dns = match resolver(&site, dns_timeout) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 78;
        }
    };
    for w in &site.warnings {
        log.line(None, &format!("warning: {w}"));
    }
    match spool.recover() {
        Ok(0) => {}
        Ok(n) => log.line(
            None,
            &format!("removed {n} unacknowledged partial message(s) from tmp/"),
        ),
        Err(e) => log.line(None, &format!("SYSERR: spool recovery: {e}")),
    }
    // Before the queue is read: the log may hold messages whose files a
    // power cut took.
    match spool.open_log() {
        Ok(r) if r.restored > 0 => log.line(
            None,
            &format!(
                "write-ahead log: restored {} of {} message(s) not yet checkpointed when the system stopped",
                r.restored, r.records
            ),
        ),
        Ok(_) => {}
        Err(e) => {
            // Refuse rather than run without it: its records may be the
            // only copy of messages already answered 250.
            eprintln!("mxgate: spool: write-ahead log: {e}");
            log.line(None, &format!("SYSERR: write-ahead log: {e}"));
            return 73;
        }
    }
    let server = match Server::new(site, spool, dns, tls, log) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("mxgate: {e}");
            return 78;
        }
    };
    server.log.line(None, &nofile);
    for w in server.settings().warnings() {
        server.log.line(None, &format!("warning: {w}"));
    }
    // One line per start, as sendmail writes one: every listener named in it.
    let on: Vec<String> = listeners
        .iter()
        .map(|(spec, l)| {
            let addr = match l {
                smtpd::Listening::Tcp(l) => {
                    l.local_addr().map(|a| a.to_string()).unwrap_or_default()
                }
                smtpd::Listening::Unix(_) => spec.addr.to_string(),
            };
            match &spec.content_filter {
                Some(f) => format!("{} on {addr} (content filter {f})", spec.name),
                None => format!("{} on {addr}", spec.name),
            }
        })
        .collect();
    let mut reloader = Reloader {
        opts,
        server: server.clone(),
        qdir: qdir.clone(),
        started: server.site(),
        state: state::State {
            pid: std::process::id(),
            started: state::now(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config: opts.config.as_ref().map_or_else(
                || "(embedded default.mc)".to_string(),
                |p| p.display().to_string(),
            ),
            node: node_info(loaded.node.as_ref()),
            listeners: on.clone(),
            ..state::State::default()
        },
        current: loaded.generation.clone(),
        failed_on: None,
        notify: notify::Notifier::from_env(),
    };
    if let Some(n) = &loaded.node {
        server.log.line(
            None,
            &format!(
                "node {} ({}, sha {}): {}",
                n.name(),
                n.path.display(),
                n.sha,
                n.values
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let id = loaded.generation.id.clone();
    note_generation(&server.log, &qdir, &mut reloader.state, &id, "start");
    server.log.line(
        None,
        &format!(
            "starting daemon (mxgate {}): {}",
            env!("CARGO_PKG_VERSION"),
            on.join(", ")
        ),
    );
    let queue = queue::start(&server, None);
    let checkpoints = server.spool.log().cloned().map(|w| {
        let s = server.clone();
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                w.run_checkpoints(&|e| {
                    s.log
                        .line(None, &format!("SYSERR: write-ahead log checkpoint: {e}"))
                })
            })
    });
    if let Some(Err(e)) = &checkpoints {
        // Commits still land (the log full, each flushes on its own).
        server.log.line(
            None,
            &format!("SYSERR: write-ahead log: no checkpoint thread: {e}"),
        );
    }
    let status = smol::block_on(async {
        let signals = async_signal::Signals::new([
            async_signal::Signal::Term,
            async_signal::Signal::Int,
            async_signal::Signal::Hup,
        ]);
        let mut signals = match signals {
            Ok(s) => s,
            Err(e) => {
                server.log.line(None, &format!("SYSERR: signals: {e}"));
                return 71;
            }
        };
        let serving = smol::spawn(smtpd::serve(server.clone(), listeners));
        // Listeners bound, spool open and recovered, privileges dropped,
        // and SIGHUP/SIGTERM handled (a reload right after READY=1 must not
        // meet the default action, which kills): ready.
        reloader.tell(&format!("READY=1\nSTATUS=serving generation {id}"));
        let _submitting = match submit_listener.map(async_net::unix::UnixListener::try_from) {
            Some(Ok(l)) => {
                if let Some(p) = &submit_path {
                    server
                        .log
                        .line(None, &format!("local submission on {}", p.display()));
                }
                Some(smol::spawn(submit::serve(server.clone(), l)))
            }
            Some(Err(e)) => {
                server
                    .log
                    .line(None, &format!("SYSERR: submission socket: {e}"));
                None
            }
            None => None,
        };
        let _metrics = metrics_listener.map(|l| {
            let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            server
                .log
                .line(None, &format!("metrics on http://{addr}/metrics"));
            smol::spawn(metrics::serve(l, qdir.clone()))
        });
        use futures_lite::StreamExt;
        enum Wake {
            Signal(Option<std::io::Result<async_signal::Signal>>),
            Tick,
        }
        loop {
            let wake =
                futures_lite::future::or(async { Wake::Signal(signals.next().await) }, async {
                    async_io::Timer::after(TABLE_CHECK).await;
                    Wake::Tick
                })
                .await;
            match wake {
                Wake::Tick => reloader.check_tables(),
                Wake::Signal(Some(Ok(async_signal::Signal::Hup))) => reloader.reload("SIGHUP"),
                Wake::Signal(Some(Ok(_)) | None) => {
                    reloader.tell("STOPPING=1\nSTATUS=stopping: waiting for sessions to finish");
                    server.log.line(
                        None,
                        "stopping: no new connections; waiting for sessions to finish",
                    );
                    server.stop();
                    break;
                }
                Wake::Signal(Some(Err(_))) => {}
            }
        }
        serving.await;
        0
    });
    // The sessions are done; now let the deliveries in progress finish.
    if let Some(q) = &queue {
        let busy = q.shutdown(smtpd::STOP_LIMIT);
        if busy > 0 {
            server.log.line(
                None,
                &format!(
                    "stopping: {busy} delivery worker(s) still busy after {}s; exiting anyway",
                    smtpd::STOP_LIMIT.as_secs()
                ),
            );
        }
    }
    // The last checkpoint: a clean stop leaves the log empty.
    if let Some(w) = server.spool.log() {
        if let Err(e) = w.stop() {
            server
                .log
                .line(None, &format!("SYSERR: write-ahead log checkpoint: {e}"));
        }
        if let Some(Ok(t)) = checkpoints {
            let _ = t.join();
        }
    }
    if let Some(p) = pidfile {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = &submit_path {
        submit::remove(p);
    }
    status
}

/// A value for one `KEY=VALUE` line of an sd_notify datagram.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Raise the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit,
/// as Postfix's master does: every session holds a socket, and often a
/// spool file and a DNS socket, and the distribution's soft default (1024)
/// is reached long before memory or CPU run out. Returns the log line.
fn raise_open_files() -> String {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(l) => l,
        Err(e) => return format!("warning: open files: cannot read the limit: {e}"),
    };
    // An unlimited hard limit cannot be the soft one: the kernel's ceiling
    // for one process is fs.nr_open.
    let target = if hard == RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(soft)
    } else {
        hard
    };
    if target <= soft {
        return format!("open files: limit {soft}");
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => format!("open files: limit raised from {soft} to {target} (the hard limit)"),
        Err(e) => {
            format!("warning: open files: cannot raise the limit from {soft} to {target}: {e}")
        }
    }
}

/// The user `confRUN_AS_USER` names (`user` or `user:group`), looked up
/// when started as root. `Ok(None)`: no drop (not root, no option, or
/// `root`/`0`). A name that does not exist is an error: the site asked not
/// to run as root, so the daemon must not silently stay root.
pub fn run_as_user(site: &Site) -> Result<Option<nix::unistd::User>, String> {
    use nix::unistd::{Uid, User};
    let Some(name) = site.settings.run_as_user.as_deref() else {
        return Ok(None);
    };
    if name == "root" || name == "0" || !Uid::effective().is_root() {
        return Ok(None);
    }
    let user = match name.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(name),
    };
    match user {
        Ok(Some(u)) => Ok(Some(u)),
        Ok(None) => Err(format!(
            "confRUN_AS_USER: no user {name:?} on this host; create it \
             (tools/adduser.sh, or useradd --system --no-create-home \
             --shell /usr/sbin/nologin {name}) or name an existing user; \
             refusing to run as root instead"
        )),
        Err(e) => Err(format!("confRUN_AS_USER {name}: {e}")),
    }
}

/// After binding: as root with a run-as user, hand the spool to that user
/// (through descriptors opened without following symlinks, each checked
/// again) and become it. As root without one, say so loudly.
fn drop_privileges(
    user: Option<&nix::unistd::User>,
    qdir: &std::path::Path,
    log: &Log,
) -> Result<(), String> {
    use crate::safefile::{Kind, Rule, check, open_dir};
    use nix::unistd::{Uid, fchown, setgid, setgroups, setuid};
    let Some(user) = user else {
        if Uid::effective().is_root() {
            let w = "WARNING: running as root (no confRUN_AS_USER): every \
                     session, table lookup and delivery runs with full \
                     privileges; define(`confRUN_AS_USER', `mxgate') and \
                     run tools/adduser.sh";
            eprintln!("mxgate: {w}");
            log.line(None, w);
        }
        return Ok(());
    };
    let rule = Rule {
        kind: Kind::Dir,
        owners: vec![Uid::from_raw(0), user.uid],
        forbid: 0o022,
        owner_name: user.name.clone(),
    };
    for d in std::iter::once("").chain(crate::spool::DIRS) {
        let p = if d.is_empty() {
            qdir.to_path_buf()
        } else {
            qdir.join(d)
        };
        let fd = match open_dir(&p) {
            Ok(fd) => fd,
            Err(pr) if d == "status" && pr.what == "does not exist" => continue,
            Err(pr) => return Err(format!("unsafe spool: {pr}")),
        };
        check(&fd, &p, &rule).map_err(|pr| format!("unsafe spool: {pr}"))?;
        fchown(&fd, Some(user.uid), Some(user.gid))
            .map_err(|e| format!("{}: chown {}: {e}", p.display(), user.name))?;
    }
    // The write-ahead log, if a run as root made it: the user must open it.
    for name in crate::spool::wal::FILES {
        use std::os::unix::fs::OpenOptionsExt;
        let p = qdir.join(name);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
            .open(&p);
        match f {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                fchown(&f, Some(user.uid), Some(user.gid))
                    .map_err(|e| format!("{}: chown {}: {e}", p.display(), user.name))?;
            }
            Ok(_) => return Err(format!("unsafe spool: {}: not a regular file", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("unsafe spool: {}: {e}", p.display())),
        }
    }
    setgroups(&[user.gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(user.gid).map_err(|e| format!("setgid: {e}"))?;
    setuid(user.uid).map_err(|e| format!("setuid: {e}"))?;
    Ok(())
}

/// The resolver a site asks: `confMXGATE_NAMESERVERS` (`ip:port` list) or the
/// system's; `Ok(None)` when the system has no usable configuration.
pub fn resolver(site: &Site, timeout: Duration) -> Result<Option<Dns>, String> {
    let dns = match &site.settings.nameservers {
        Some(addrs) => Dns::with_servers(addrs, timeout).ok(),
        None => Dns::system().ok(),
    };
    Ok(dns.map(|d| match site.settings.dns_retry {
        Some(r) => d.with_first_retry(r),
        None => d,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(filter: Option<&str>) -> Site {
        let mut c = config::Config::new();
        if let Some(f) = filter {
            c.options
                .insert("confMXGATE_CONTENT_FILTER".into(), f.into());
        }
        Site::from_parts(c, Default::default()).unwrap()
    }

    #[test]
    fn a_reload_that_changes_a_content_filter_waits_for_a_restart() {
        let none = site(None);
        assert!(restart_only_changes(&none, &site(None)).is_empty());
        let changed = restart_only_changes(&none, &site(Some("smtp:[127.0.0.1]:10024")));
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(
            changed[0].starts_with("DAEMON_OPTIONS: MTA=0.0.0.0:25 MSA=0.0.0.0:587 M=E -> MTA=0.0.0.0:25 (content filter smtp:[127.0.0.1]:10024)"),
            "{changed:?}"
        );
    }

    #[test]
    fn a_reload_that_changes_a_listeners_keys_waits_for_a_restart() {
        let with = |pairs: &[(&str, &str)]| {
            let mut c = config::Config::new();
            c.daemons.push(config::Daemon {
                options: pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            });
            Site::from_parts(c, Default::default()).unwrap()
        };
        let base = [("Name", "MTA"), ("Port", "2525")];
        let a = with(&base);
        assert!(restart_only_changes(&a, &with(&base)).is_empty());
        let b = with(&[base[0], base[1], ("children", "5"), ("Listen", "64")]);
        let changed = restart_only_changes(&a, &b);
        assert_eq!(
            changed,
            ["DAEMON_OPTIONS: MTA=0.0.0.0:2525 -> MTA=0.0.0.0:2525 Listen=64 children=5"]
        );
        let c = with(&[base[0], base[1], ("M", "E")]);
        assert_eq!(restart_only_changes(&a, &c).len(), 1, "M= too");
    }

    #[test]
    fn a_reload_that_changes_the_servers_tls_waits_for_a_restart() {
        let with = |pairs: &[(&str, &str)]| {
            let mut c = config::Config::new();
            for (k, v) in pairs {
                c.options.insert(k.to_string(), v.to_string());
            }
            Site::from_parts(c, Default::default()).unwrap()
        };
        let a = with(&[]);
        let b = with(&[
            ("confTLS_SRV_OPTIONS", "V"),
            ("confCACERT", "/etc/mail/ca.pem"),
        ]);
        assert_eq!(
            restart_only_changes(&a, &b),
            [
                "confTLS_SRV_OPTIONS: (unset) -> V",
                "confCACERT for incoming STARTTLS: (unset) -> /etc/mail/ca.pem"
            ]
        );
    }
}
