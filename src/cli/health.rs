//! `mxgate health [--json]`: one status line for monitoring systems.
//!
//! Contract: [`gather`] reads the spool directly (it works when the daemon
//! is down), the file system's free space, the listeners of
//! `DAEMON_OPTIONS` (a TCP connect with a short timeout each; an unspecified
//! address is tried on loopback) and the configuration generation;
//! [`judge`] is pure and turns a [`Report`] and [`Thresholds`] into a
//! Nagios plugin result: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the
//! configuration does not load or the spool cannot be read or does not
//! exist: a check never creates it), and one line
//! `MXGATE STATE - summary | perfdata`. `--json` prints the same facts as
//! one JSON object (the exit code is the same) with a `time` field
//! (seconds since the epoch), so the lines appended by a cron job are a
//! queue history `mxgate report --html --metrics-history` can plot.
//!
//! The generation is the content hash of the whole set: the compiled
//! configuration and every table and file it names
//! ([`crate::generation`]). The daemon writes the generation it loaded to
//! `QUEUE_DIR/generation` at start and after each reload; health warns
//! when the set on disk has another one (edited, not reloaded), and when
//! the daemon's last reload failed (`QUEUE_DIR/daemon.json`).

use crate::smtpd::listener::Bind;
use crate::spool::{Durability, Spool, State};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The file under `QUEUE_DIR` holding the generation the daemon loaded.
pub const GENERATION_FILE: &str = "generation";

/// Write `generation` to `QUEUE_DIR/generation` (temp file + rename).
pub fn record_generation(queue_dir: &Path, generation: &str) -> std::io::Result<()> {
    let tmp = queue_dir.join(".generation.tmp");
    std::fs::write(&tmp, format!("{generation}\n"))?;
    std::fs::rename(&tmp, queue_dir.join(GENERATION_FILE))
}

/// Nagios plugin states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// 0
    Ok,
    /// 1
    Warning,
    /// 2
    Critical,
    /// 3
    Unknown,
}

impl Status {
    /// The exit code.
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// Warning and critical levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Messages in `queue/`.
    pub queue_warn: usize,
    /// Messages in `queue/`.
    pub queue_crit: usize,
    /// Messages with the null sender `<>` (any state).
    pub bounce_warn: usize,
    /// Messages with the null sender `<>` (any state).
    pub bounce_crit: usize,
    /// Age of the oldest message in `queue/`.
    pub age_warn: Duration,
    /// Age of the oldest message in `queue/`.
    pub age_crit: Duration,
    /// Free KiB below which to warn; `None` = 10 × `confMIN_FREE_BLOCKS`.
    pub free_warn_kib: Option<u64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            queue_warn: 1000,
            queue_crit: 5000,
            bounce_warn: 100,
            bounce_crit: 1000,
            age_warn: Duration::from_secs(4 * 3600),
            age_crit: Duration::from_secs(86400),
            free_warn_kib: None,
        }
    }
}

/// One queue state's depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    /// The state.
    pub state: State,
    /// Messages.
    pub count: usize,
    /// Age of the oldest, in seconds (0 when empty).
    pub oldest: u64,
}

/// One listener's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `Name=` of its DAEMON_OPTIONS.
    pub name: String,
    /// The address tried (`IP:port`, or a Unix-domain socket's path).
    pub addr: String,
    /// `None` = it accepted a connection; else why not.
    pub error: Option<String>,
}

/// What [`gather`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `queue`, `hold`, `quarantine`.
    pub depths: Vec<Depth>,
    /// Messages with sender `<>`.
    pub bounces: usize,
    /// Unreadable queue files.
    pub unreadable: usize,
    /// Free KiB on the spool's file system (`None` if statvfs failed).
    pub free_kib: Option<u64>,
    /// `confMIN_FREE_BLOCKS` (1 KiB blocks).
    pub min_free_blocks: u64,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// The listeners' content filters (docs/content.md) whose host is an
    /// address literal or `localhost`, each tried once: `name` is the
    /// filter as written.
    pub filters: Vec<Listener>,
    /// The configuration's generation.
    pub generation: String,
    /// What the daemon recorded, if anything.
    pub loaded_generation: Option<String>,
    /// The daemon's last reload, when it failed: `at T: why`.
    pub reload_failed: Option<String>,
}

/// Read everything from the loaded set at time `now` (seconds since the epoch).
pub fn gather(
    loaded: &crate::daemon::Loaded,
    now: u64,
    timeout: Duration,
) -> Result<Report, String> {
    let site = &loaded.site;
    let dir = crate::daemon::queue_dir(site);
    // A check never creates the spool (Spool::open would).
    if !dir.join(State::Queue.dir()).is_dir() {
        return Err(format!(
            "{}: no spool here (QUEUE_DIR; has the daemon ever run?)",
            dir.display()
        ));
    }
    let spool = Spool::open(&dir, Durability::Fsync).map_err(|e| e.to_string())?;
    let list = super::mailq::entries(&spool).map_err(|e| e.to_string())?;
    let mut depths: Vec<Depth> = [State::Queue, State::Hold, State::Quarantine]
        .into_iter()
        .map(|state| Depth {
            state,
            count: 0,
            oldest: 0,
        })
        .collect();
    let (mut bounces, mut unreadable) = (0, 0);
    for e in &list {
        if e.error.is_some() {
            unreadable += 1;
        }
        if e.sender == "<>" {
            bounces += 1;
        }
        if let Some(d) = depths.iter_mut().find(|d| d.state == e.state) {
            d.count += 1;
            if e.error.is_none() {
                d.oldest = d.oldest.max(now.saturating_sub(e.arrival));
            }
        }
    }
    let free_kib = nix::sys::statvfs::statvfs(&dir)
        .ok()
        .map(|st| st.blocks_available().saturating_mul(st.fragment_size()) / 1024);
    let min_free_blocks = site.settings.min_free_blocks;
    let specs = crate::smtpd::listener::specs(&site.config)?;
    let listeners = specs
        .iter()
        .map(|s| {
            let (addr, error) = match &s.addr {
                Bind::Inet(a) => {
                    let a = reachable(*a);
                    (a.to_string(), TcpStream::connect_timeout(&a, timeout).err())
                }
                Bind::Unix(p) => (
                    p.display().to_string(),
                    std::os::unix::net::UnixStream::connect(p).err(),
                ),
            };
            Listener {
                name: s.name.clone(),
                addr,
                error: error.map(|e| e.to_string()),
            }
        })
        .collect();
    let mut filters: Vec<Listener> = Vec::new();
    for f in specs.iter().filter_map(|s| s.content_filter.as_deref()) {
        if filters.iter().any(|l| l.name == f) {
            continue;
        }
        let Ok(Some(cf)) = mxgate_m4::content_filter::ContentFilter::parse(f) else {
            continue;
        };
        if let Some(ip) = cf.addresses().first() {
            let addr = SocketAddr::new(*ip, cf.port);
            filters.push(Listener {
                name: f.to_string(),
                addr: addr.to_string(),
                error: TcpStream::connect_timeout(&addr, timeout)
                    .err()
                    .map(|e| e.to_string()),
            });
        }
    }
    let loaded_generation = std::fs::read_to_string(dir.join(GENERATION_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(Report {
        depths,
        bounces,
        unreadable,
        free_kib,
        min_free_blocks,
        listeners,
        filters,
        generation: loaded.generation.id.clone(),
        loaded_generation,
        reload_failed: crate::daemon::state::read(&dir)
            .ok()
            .and_then(|s| s.last_reload)
            .filter(|r| r.result == crate::daemon::state::Outcome::Failed)
            .map(|r| format!("at {}: {}", r.at, r.error.unwrap_or_default())),
    })
}

/// An unspecified listen address is tried on loopback of its family.
fn reachable(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), a.port())
        }
        _ => a,
    }
}

/// The verdict: the worst status, and the reasons for it (most severe first).
pub fn judge(r: &Report, t: &Thresholds) -> (Status, Vec<String>) {
    let mut found: Vec<(Status, String)> = Vec::new();
    let mut level = |v: u64, warn: u64, crit: u64, what: String| {
        if v >= crit {
            found.push((Status::Critical, what));
        } else if v >= warn {
            found.push((Status::Warning, what));
        }
    };
    if let Some(q) = r.depths.iter().find(|d| d.state == State::Queue) {
        level(
            q.count as u64,
            t.queue_warn as u64,
            t.queue_crit as u64,
            format!("{} messages in queue", q.count),
        );
        level(
            q.oldest,
            t.age_warn.as_secs().max(1),
            t.age_crit.as_secs().max(1),
            format!("oldest queued message is {} old", age(q.oldest)),
        );
    }
    level(
        r.bounces as u64,
        t.bounce_warn as u64,
        t.bounce_crit as u64,
        format!("{} <> (MAILER-DAEMON) messages", r.bounces),
    );
    if r.unreadable > 0 {
        found.push((
            Status::Warning,
            format!("{} unreadable queue files", r.unreadable),
        ));
    }
    match r.free_kib {
        Some(free) if free < r.min_free_blocks => found.push((
            Status::Critical,
            format!(
                "{free} KiB free < confMIN_FREE_BLOCKS {}: new mail is refused",
                r.min_free_blocks
            ),
        )),
        Some(free) if free < t.free_warn_kib.unwrap_or(r.min_free_blocks * 10) => found.push((
            Status::Warning,
            format!("only {free} KiB free on the spool"),
        )),
        Some(_) => {}
        None => found.push((Status::Unknown, "cannot statvfs the spool".into())),
    }
    for l in &r.listeners {
        if let Some(e) = &l.error {
            found.push((
                Status::Critical,
                format!("listener {} on {} not answering: {e}", l.name, l.addr),
            ));
        }
    }
    // A content filter that does not answer holds every message it should
    // scan in the queue.
    for f in &r.filters {
        if let Some(e) = &f.error {
            found.push((
                Status::Critical,
                format!("content filter {} not answering: {e}", f.name),
            ));
        }
    }
    if let Some(g) = &r.loaded_generation
        && *g != r.generation
    {
        found.push((
            Status::Warning,
            format!(
                "daemon runs generation {g}, configuration is {} (reload?)",
                r.generation
            ),
        ));
    }
    if let Some(why) = &r.reload_failed {
        found.push((Status::Warning, format!("last reload failed {why}")));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    let status = found.first().map_or(Status::Ok, |f| f.0);
    (status, found.into_iter().map(|f| f.1).collect())
}

/// `45s`, `12m`, `3h`, `2d`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The Nagios status line: `MXGATE OK - queue 3 (oldest 5m), ... | perfdata`.
pub fn status_line(r: &Report, t: &Thresholds, status: Status, reasons: &[String]) -> String {
    let mut s = format!("MXGATE {} - ", status.word());
    if !reasons.is_empty() {
        s += &reasons.join(", ");
        s += "; ";
    }
    let parts: Vec<String> = r
        .depths
        .iter()
        .map(|d| format!("{} {} (oldest {})", d.state.dir(), d.count, age(d.oldest)))
        .collect();
    s += &parts.join(", ");
    let up = r.listeners.iter().filter(|l| l.error.is_none()).count();
    s += &format!(
        ", <> {}, free {}, listeners {up}/{}, generation {}",
        r.bounces,
        r.free_kib
            .map_or("?".into(), |k| format!("{} MiB", k / 1024)),
        r.listeners.len(),
        r.generation
    );
    s += " |";
    for d in &r.depths {
        let (w, c) = if d.state == State::Queue {
            (t.queue_warn.to_string(), t.queue_crit.to_string())
        } else {
            (String::new(), String::new())
        };
        s += &format!(" {}={};{w};{c};0", d.state.dir(), d.count);
    }
    if let Some(q) = r.depths.iter().find(|d| d.state == State::Queue) {
        s += &format!(
            " oldest={}s;{};{};0",
            q.oldest,
            t.age_warn.as_secs(),
            t.age_crit.as_secs()
        );
    }
    s += &format!(
        " bounces={};{};{};0",
        r.bounces, t.bounce_warn, t.bounce_crit
    );
    if let Some(k) = r.free_kib {
        let warn = t.free_warn_kib.unwrap_or(r.min_free_blocks * 10);
        s += &format!(" free={k}KB;{warn};{};0", r.min_free_blocks);
    }
    s += &format!(" listeners_up={up};;;0;{}", r.listeners.len());
    s
}

/// The `--json` object; `time` is when it was taken (seconds since the
/// epoch), so a file of these lines is a history (`mxgate report
/// --metrics-history`).
pub fn to_json(r: &Report, time: u64, status: Status, reasons: &[String]) -> serde_json::Value {
    serde_json::json!({
        "time": time,
        "status": status.word(),
        "code": status.code(),
        "reasons": reasons,
        "queues": r.depths.iter().map(|d| serde_json::json!({
            "state": d.state.dir(), "count": d.count, "oldest_seconds": d.oldest,
        })).collect::<Vec<_>>(),
        "bounces": r.bounces,
        "unreadable": r.unreadable,
        "free_kib": r.free_kib,
        "min_free_blocks": r.min_free_blocks,
        "listeners": r.listeners.iter().map(|l| serde_json::json!({
            "name": l.name, "addr": l.addr, "answering": l.error.is_none(),
            "error": l.error,
        })).collect::<Vec<_>>(),
        "content_filters": r.filters.iter().map(|l| serde_json::json!({
            "filter": l.name, "addr": l.addr.to_string(), "answering": l.error.is_none(),
            "error": l.error,
        })).collect::<Vec<_>>(),
        "generation": r.generation,
        "loaded_generation": r.loaded_generation,
        "reload_failed": r.reload_failed,
    })
}

const HELP: &str = "\
Usage: mxgate health [--config FILE] [--node FILE] [-D NAME=VALUE]... [--json]
         [--queue-warn N] [--queue-crit N] [--bounce-warn N] [--bounce-crit N]
         [--age-warn DURATION] [--age-crit DURATION] [--free-warn KIB] [--timeout DURATION]

Without --config: /etc/mail/mxgate.cf, else /etc/mail/mxgate.mc (the
package's), else the embedded default.

One Nagios/Icinga status line about the gateway, read from the spool (works
with the daemon down): depth and oldest message of queue/, hold/,
quarantine/; the number of <> (MAILER-DAEMON) messages; free space against
confMIN_FREE_BLOCKS (critical below it, warning below --free-warn, default
10 times it); each DAEMON_OPTIONS listener answering a TCP connect, and
each content filter (confMXGATE_CONTENT_FILTER, ContentFilter=) with an
address-literal host;
the generation of the configuration and its tables (warning when the daemon
runs another one, or when its last reload failed).
Defaults: --queue-warn 1000 --queue-crit 5000 --bounce-warn 100
--bounce-crit 1000 --age-warn 4h --age-crit 1d --timeout 2s.
Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. --json: one JSON object, with
\"time\" (seconds since the epoch); lines appended by cron make a history for
`mxgate report --html --metrics-history FILE`:
  */5 * * * * mxgate health --json >> /var/log/mxgate/health.jsonl
";

/// `mxgate health`.
pub fn run(
    args: &[String],
    _stdin: &mut dyn std::io::Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut t = Thresholds::default();
    let mut opts = crate::daemon::Options::default();
    let mut json = false;
    let mut timeout = Duration::from_secs(2);
    let parsed = (|| -> Result<bool, String> {
        use lexopt::prelude::*;
        let mut p = lexopt::Parser::from_args(args);
        let val = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value()
                .map(|v| v.to_string_lossy().into_owned())
                .map_err(|e| e.to_string())
        };
        let num = |s: String, what: &str| -> Result<u64, String> {
            s.parse()
                .map_err(|_| format!("--{what}: not a number: {s}"))
        };
        let dur = |s: String, what: &str| -> Result<Duration, String> {
            crate::config::parse_duration(&s, crate::config::unit::SECONDS)
                .ok_or_else(|| format!("--{what}: not a duration: {s}"))
        };
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                Long("config") | Short('C') => opts.config = Some(val(&mut p)?.into()),
                Long("node") => opts.node = Some(val(&mut p)?.into()),
                Short('D') => opts.defines.push(mxgate_m4::parse_define(&val(&mut p)?)),
                Long("json") => json = true,
                Long("queue-warn") => t.queue_warn = num(val(&mut p)?, "queue-warn")? as usize,
                Long("queue-crit") => t.queue_crit = num(val(&mut p)?, "queue-crit")? as usize,
                Long("bounce-warn") => t.bounce_warn = num(val(&mut p)?, "bounce-warn")? as usize,
                Long("bounce-crit") => t.bounce_crit = num(val(&mut p)?, "bounce-crit")? as usize,
                Long("age-warn") => t.age_warn = dur(val(&mut p)?, "age-warn")?,
                Long("age-crit") => t.age_crit = dur(val(&mut p)?, "age-crit")?,
                Long("free-warn") => t.free_warn_kib = Some(num(val(&mut p)?, "free-warn")?),
                Long("timeout") => timeout = dur(val(&mut p)?, "timeout")?,
                Long("help") | Short('h') => return Ok(true),
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(false)
    })();
    match parsed {
        Ok(true) => {
            let _ = write!(out, "{HELP}");
            return 0;
        }
        Ok(false) => {}
        Err(e) => {
            // A usage error is UNKNOWN to a monitoring system.
            let _ = writeln!(out, "MXGATE UNKNOWN - {e}");
            let _ = write!(err, "{HELP}");
            return Status::Unknown.code();
        }
    }
    opts.config = crate::cli::tables::ops_config(opts.config.take());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let report = crate::daemon::load_set(&opts).and_then(|l| gather(&l, now, timeout));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            let e = e.replace('\n', " ");
            if json {
                let v = serde_json::json!({"time": now, "status": "UNKNOWN", "code": 3, "reasons": [e]});
                let _ = writeln!(out, "{v}");
            } else {
                let _ = writeln!(out, "MXGATE UNKNOWN - {e}");
            }
            return Status::Unknown.code();
        }
    };
    let (status, reasons) = judge(&report, &t);
    if json {
        let _ = writeln!(out, "{}", to_json(&report, now, status, &reasons));
    } else {
        let _ = writeln!(out, "{}", status_line(&report, &t, status, &reasons));
    }
    status.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            depths: vec![
                Depth {
                    state: State::Queue,
                    count: 3,
                    oldest: 300,
                },
                Depth {
                    state: State::Hold,
                    count: 0,
                    oldest: 0,
                },
                Depth {
                    state: State::Quarantine,
                    count: 1,
                    oldest: 7200,
                },
            ],
            bounces: 1,
            unreadable: 0,
            free_kib: Some(10_000_000),
            min_free_blocks: 100,
            listeners: vec![Listener {
                name: "MTA".into(),
                addr: "127.0.0.1:25".into(),
                error: None,
            }],
            filters: vec![],
            generation: "0123456789abcdef".into(),
            loaded_generation: Some("0123456789abcdef".into()),
            reload_failed: None,
        }
    }

    #[test]
    fn all_well_is_ok_with_perfdata() {
        let t = Thresholds::default();
        let (s, why) = judge(&report(), &t);
        assert_eq!((s, why.len()), (Status::Ok, 0), "{why:?}");
        let line = status_line(&report(), &t, s, &why);
        assert!(
            line.starts_with("MXGATE OK - queue 3 (oldest 5m), hold 0 (oldest 0s), quarantine 1 (oldest 2h), <> 1,"),
            "{line}"
        );
        assert!(line.contains("| queue=3;1000;5000;0 hold=0;;;0"), "{line}");
        assert!(
            line.contains(" oldest=300s;14400;86400;0 bounces=1;100;1000;0"),
            "{line}"
        );
    }

    #[test]
    fn each_threshold_raises_its_level() {
        let t = Thresholds {
            queue_warn: 3,
            ..Thresholds::default()
        };
        assert_eq!(judge(&report(), &t).0, Status::Warning);
        let t = Thresholds {
            bounce_crit: 1,
            ..Thresholds::default()
        };
        let (s, why) = judge(&report(), &t);
        assert_eq!(s, Status::Critical);
        assert_eq!(why, ["1 <> (MAILER-DAEMON) messages"]);
        let t = Thresholds {
            age_warn: Duration::from_secs(60),
            ..Thresholds::default()
        };
        assert_eq!(judge(&report(), &t).0, Status::Warning);
        let mut r = report();
        r.free_kib = Some(50);
        assert_eq!(judge(&r, &Thresholds::default()).0, Status::Critical);
        r.free_kib = Some(500);
        assert_eq!(judge(&r, &Thresholds::default()).0, Status::Warning);
        let mut r = report();
        r.listeners[0].error = Some("Connection refused".into());
        let (s, why) = judge(&r, &Thresholds::default());
        assert_eq!(s, Status::Critical);
        assert!(why[0].starts_with("listener MTA on 127.0.0.1:25 not answering"));
        let mut r = report();
        r.loaded_generation = Some("ffff".into());
        assert_eq!(judge(&r, &Thresholds::default()).0, Status::Warning);
    }

    #[test]
    fn critical_reasons_come_first() {
        let mut r = report();
        r.loaded_generation = Some("ffff".into());
        r.listeners[0].error = Some("refused".into());
        let (s, why) = judge(&r, &Thresholds::default());
        assert_eq!(s, Status::Critical);
        assert!(why[0].starts_with("listener"), "{why:?}");
        assert!(why[1].starts_with("daemon runs generation ffff"), "{why:?}");
    }

    #[test]
    fn a_content_filter_that_does_not_answer_is_critical() {
        let mut r = report();
        r.filters.push(Listener {
            name: "smtp:[127.0.0.1]:10024".into(),
            addr: "127.0.0.1:10024".parse().unwrap(),
            error: None,
        });
        assert_eq!(judge(&r, &Thresholds::default()).0, Status::Ok);
        r.filters[0].error = Some("Connection refused".into());
        let (s, why) = judge(&r, &Thresholds::default());
        assert_eq!(s, Status::Critical);
        assert_eq!(
            why,
            vec!["content filter smtp:[127.0.0.1]:10024 not answering: Connection refused"]
        );
        let j = to_json(&r, 0, s, &why);
        assert_eq!(j["content_filters"][0]["answering"], false);
    }
}
