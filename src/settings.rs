//! Every option's value, read once from the compiled configuration.
//!
//! Contract: [`Settings::from_config`] is the one reader of `define(conf…)`
//! options whose value is a number, a duration, a switch, an address or a
//! path the runtime acts on. Each option has here its default, its unit
//! (bare durations are minutes for sendmail's `confTO_*` and `-q`, seconds
//! for mxgate's own timers) and its error rule: a value that does not read
//! is refused with the option's name, what was expected and what was found
//! — never replaced by the default. [`crate::site::Site`] builds it when it
//! loads, so the daemon, the queue and every command-line front end see
//! the same values and refuse the same mistakes.
//!
//! Options that are whole sub-languages keep their own readers, fed from
//! here or from the configuration: TLS (the `tls` module), milters
//! (`INPUT_MAIL_FILTER`), listeners (`DAEMON_OPTIONS`, with
//! `confMXGATE_CONTENT_FILTER`).

use crate::config::{Config, parse_duration, unit};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits and options read once from the configuration.
///
/// Every limit has a finite default (docs/daemon.md, "Defaults and
/// limits"): an option left unset never means "unlimited". An explicit `0`
/// where sendmail gives it that meaning is the administrator's choice; it is
/// kept and [`Settings::warnings`] names it at start and on reload.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `confMAX_MESSAGE_SIZE`, default [`DEFAULT_MAX_MESSAGE_SIZE`] (0 = unlimited).
    pub max_message_size: u64,
    /// `confMAX_RCPTS_PER_MESSAGE`, default [`DEFAULT_MAX_RCPTS`] (0 = unlimited).
    pub max_rcpts: usize,
    /// `confMAX_DAEMON_CHILDREN`: concurrent sessions (0 = unlimited).
    pub max_sessions: usize,
    /// `confMAX_CONN_PER_IP` (mxgate extension; sendmail's ClientConn):
    /// per-address sessions, default [`default_max_per_ip`] (0 = unlimited).
    pub max_per_ip: usize,
    /// `confMXGATE_CONN_LIMIT_EXCEPTIONS`: clients `max_per_ip` does not
    /// count (Postfix's `smtpd_client_event_limit_exceptions`); default loopback.
    pub per_ip_exceptions: Vec<ClientNet>,
    /// `confCONNECTION_RATE_THROTTLE`: accepted connections per second (0 = unlimited).
    pub rate: usize,
    /// `confCONNECTION_RATE_WINDOW_SIZE` (default 60s): the window over
    /// which `${client_rate}` counts a client's connections
    /// (`FEATURE(ratecontrol)`'s `ClientRate:` limits).
    pub rate_window: Duration,
    /// `confMIN_FREE_BLOCKS`: free 1 KiB blocks needed on the spool's file system.
    pub min_free_blocks: u64,
    /// `confMAX_QUEUE_SIZE` (mxgate extension): messages in `queue/` above which new mail is temp-failed (0 = unlimited).
    pub max_queue: usize,
    /// `confTO_COMMAND`: how long a command line may take to arrive, counted
    /// from the moment the server waits for it (sendmail's `Timeout.command`
    /// covers the whole line too): a client dripping bytes is cut off as
    /// surely as a silent one.
    pub command_timeout: Duration,
    /// `confTO_DATABLOCK`: how long to wait for the next block of message data.
    pub data_timeout: Duration,
    /// `confMXGATE_TO_DATA` (mxgate extension): how long one whole DATA
    /// transfer, or the BDAT chunks of one message, may take.
    pub data_deadline: Duration,
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
    /// `confPRIVACY_FLAGS`.
    pub privacy: Privacy,
    /// DNS lookups one client address may have in flight at once, over all
    /// its sessions (`confMXGATE_MAX_CLIENT_LOOKUPS`, default 4; at least 1).
    /// More wait for a free one: a client whose lookups go unanswered slows
    /// only its own sessions.
    pub max_client_lookups: usize,
    /// `confBAD_RCPT_THROTTLE`: refused RCPT commands in a session after
    /// which each further RCPT waits a second (0 = never; sendmail's
    /// `BadRcptThrottle`).
    pub bad_rcpt_throttle: usize,
    /// `confMXGATE_CLIENT_IPV6_PREFIX` (default [`DEFAULT_CLIENT_IPV6_PREFIX`],
    /// 1–128): IPv6 clients are counted per network of this many bits by
    /// the per-client limits (sessions, `${client_connections}`,
    /// `${client_rate}`, DNS lookups, AUTH failures), as Postfix 3.8's
    /// `smtpd_client_ipv6_prefix_length`; IPv4 clients per address.
    pub client_ipv6_prefix: u8,
    /// Password checks running at once (`confMXGATE_AUTH_WORKERS`, default
    /// one per core); read at start, not at reload.
    pub auth_workers: usize,
    /// How long an AUTH waits for a free password worker before
    /// `454 4.7.0` (`confMXGATE_AUTH_WAIT`, default 10 s).
    pub auth_wait: Duration,
    /// `confAUTH_DOVECOT_SOCKET`: check passwords with Dovecot's auth service.
    pub auth_dovecot_socket: Option<PathBuf>,
    /// `confAUTH_PASSWORD_MAP`: the makemap-built password table (a map spec).
    pub auth_password_map: Option<String>,
    /// `TRUST_AUTH_MECH` or `confAUTH_MECHANISMS` is set (AUTH is configured).
    pub auth_configured: bool,
    /// `Received:` headers a message may carry before it is refused as a
    /// loop (`confMAX_HOP`, default 25, sendmail's `MaxHopCount`).
    pub max_hops: usize,
    /// `confMAX_HEADERS_LENGTH`: the most bytes of header a message may
    /// have (sendmail's `MaxHeadersLength`, default 32768; 0 = no limit).
    pub max_headers_length: usize,
    /// `confMXGATE_BODY_CHECKS_SIZE_LIMIT`: bytes of a message the header,
    /// body and MIME rules read (default 51200, Postfix's
    /// `body_checks_size_limit`).
    pub body_checks_size_limit: usize,
    /// `confRELAY_MSG`, `confREJECT_MSG`, `confRCPTREJ_MSG`: the texts of
    /// sendmail's relaying, access `REJECT` and recipient refusals.
    pub messages: Messages,
    /// Delivery worker threads (`confMXGATE_QUEUE_WORKERS`, default 40).
    pub queue_workers: usize,
    /// Open transactions per remote next hop
    /// (`confMXGATE_DESTINATION_CONCURRENCY`, default 20).
    pub destination_concurrency: usize,
    /// Bytes of message content the delivery workers hold at once
    /// (`confMXGATE_QUEUE_MEMORY`, default 16 MiB).
    pub queue_memory: u64,
    /// `QUEUE_DIR` (or `confQUEUE_DIR`): the spool, default `/var/spool/mxgate`.
    pub queue_dir: PathBuf,
    /// `confMXGATE_QUEUE_INTERVAL` (or `-q15m`): how often the whole queue
    /// is run (bare numbers are minutes; default 15m; zero = no runner).
    pub queue_interval: Duration,
    /// The queue's retry and expiry times (`confMIN_QUEUE_AGE`,
    /// `confMXGATE_MAX_RETRY_INTERVAL`, `confTO_QUEUEWARN`, `confTO_QUEUERETURN`,
    /// the last two overridden by their `_NORMAL` forms): normal mail's.
    pub timing: Timing,
    /// The same for delivery status notifications (`confTO_QUEUEWARN_DSN`,
    /// `confTO_QUEUERETURN_DSN`, each falling back to the ordinary value).
    pub dsn_timing: Timing,
    /// The same for urgent mail (`confTO_QUEUEWARN_URGENT`,
    /// `confTO_QUEUERETURN_URGENT`; see [`TimeoutClass`]).
    pub urgent_timing: Timing,
    /// The same for non-urgent mail (`confTO_QUEUEWARN_NONURGENT`,
    /// `confTO_QUEUERETURN_NONURGENT`).
    pub nonurgent_timing: Timing,
    /// `confHOST_STATUS_DIRECTORY` (relative to the spool unless absolute;
    /// default `.hoststat`).
    pub host_status_dir: PathBuf,
    /// `confTO_HOSTSTATUS`: how old a host status record `purgestat` removes (default 30m).
    pub host_status_timeout: Duration,
    /// `confDOUBLE_BOUNCE_ADDRESS` (default `postmaster`; empty: double
    /// bounces are not sent).
    pub double_bounce_address: String,
    /// `confDEAD_LETTER_DROP`: the file a bounce nobody can take is appended to.
    pub dead_letter_drop: Option<PathBuf>,
    /// The SMTP client's waits (`confTO_CONNECT`, `confTO_INITIAL`, …).
    pub client_timeouts: ClientTimeouts,
    /// `confMXGATE_ALLOW_PROGRAMS`: `|command` aliases may run.
    pub allow_programs: bool,
    /// `confMXGATE_MAILDIR`: the local mailbox path (`%u` = the user).
    pub maildir: String,
    /// `confMXGATE_LOG_TAG`: the syslog tag (default `sm-mta`).
    pub log_tag: Option<String>,
    /// `confMXGATE_LOG_FILE` and `confMXGATE_SYSLOG_SOCKET`: where the log goes.
    pub log: LogTarget,
    /// `confRUN_AS_USER`: the user name or number (the part before `:`).
    pub run_as_user: Option<String>,
    /// `confMXGATE_SUBMIT_SOCKET`: the local submission socket (`none`: no
    /// socket; default `NAME-public/submit.sock` beside the spool).
    pub submit_socket: Option<PathBuf>,
    /// `confMXGATE_METRICS_ADDR`: the Prometheus endpoint, loopback unless
    /// `confMXGATE_METRICS_ALLOW_REMOTE` is true.
    pub metrics_addr: Option<SocketAddr>,
    /// `confMXGATE_DNS_TIMEOUT`: how long one DNS question may take (default 5s).
    pub dns_timeout: Duration,
    /// `confMXGATE_DNS_RETRY`: a fixed first resend of an unanswered
    /// question (`250ms`, `1s`); unset, the resolver adapts it to the
    /// measured round trip.
    pub dns_retry: Option<Duration>,
    /// `confMXGATE_NAMESERVERS`: `ip:port` list instead of the system's resolvers.
    pub nameservers: Option<Vec<SocketAddr>>,
    /// `confHOSTS_FILE` (default `/etc/hosts`).
    pub hosts_file: PathBuf,
    /// `confSERVICE_SWITCH_FILE`: where host names are looked up.
    pub service_switch_file: Option<PathBuf>,
}

/// `confPRIVACY_FLAGS`, the flags the runtime acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privacy {
    /// `noexpn` or `goaway`: EXPN is refused.
    pub no_expn: bool,
    /// `restrictmailq` (or `goaway`): only root and the spool's group list the queue.
    pub restrict_mailq: bool,
    /// `restrictqrun`: only root and the spool's group run the queue.
    pub restrict_qrun: bool,
    /// `noetrn`: ETRN is refused and not offered.
    pub no_etrn: bool,
    /// `needmailhelo` (or `goaway`): MAIL before HELO/EHLO is refused.
    pub need_mail_helo: bool,
    /// `noreceipts`: DSN is not offered and no success report is sent.
    pub no_receipts: bool,
    /// `nobodyreturn`: a report carries the message's header only.
    pub no_body_return: bool,
    /// `authwarnings` (or `goaway`; the default when the option is unset):
    /// a local submission whose sender an untrusted user set with `-f`
    /// gets an `X-Authentication-Warning:` header.
    pub auth_warnings: bool,
}

/// Texts of sendmail's standard refusals, when the configuration replaces them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages {
    /// `confRELAY_MSG`.
    pub relay: Option<String>,
    /// `confREJECT_MSG`.
    pub reject: Option<String>,
    /// `confRCPTREJ_MSG`.
    pub rcpt_reject: Option<String>,
}

/// Where the log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error (no `confMXGATE_LOG_FILE`).
    Stderr,
    /// `confMXGATE_LOG_FILE` is `syslog`: this socket (`confMXGATE_SYSLOG_SOCKET`, default `/dev/log`).
    Syslog(PathBuf),
    /// This file.
    File(PathBuf),
}

/// The queue's time settings, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `confMIN_QUEUE_AGE`: no message is retried sooner than this after a try.
    pub min_queue_age: u64,
    /// `confMXGATE_MAX_RETRY_INTERVAL`: the backoff cap.
    pub max_retry: u64,
    /// `confTO_QUEUEWARN`.
    pub warn_after: u64,
    /// `confTO_QUEUERETURN`.
    pub return_after: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            min_queue_age: 0,
            max_retry: 4 * 3600,
            warn_after: 4 * 3600,
            return_after: 5 * 86_400,
        }
    }
}

/// sendmail's timeout class of a message (`e_timeoutclass`), which picks
/// its `confTO_QUEUEWARN_*` / `confTO_QUEUERETURN_*` (see
/// `queue::runner::timeout_class` for how a message gets one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutClass {
    /// The default.
    Normal,
    /// `Precedence:` above 0 (`special-delivery`), or `Priority: urgent`.
    Urgent,
    /// `Precedence:` below 0 (`list`, `bulk`, `junk`), or `Priority: non-urgent`.
    NonUrgent,
    /// A delivery status notification.
    Dsn,
}

/// Timeouts for each wait of an SMTP client session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// TCP connect (`confTO_CONNECT`).
    pub connect: Duration,
    /// TCP connect on a message's first delivery attempt
    /// (`confTO_ICONNECT`); unset (or `0`), [`Self::connect`] as on every
    /// other attempt.
    pub iconnect: Option<Duration>,
    /// Greeting (`confTO_INITIAL`).
    pub initial: Duration,
    /// EHLO/HELO/LHLO (`confTO_HELO`).
    pub helo: Duration,
    /// STARTTLS reply and handshake (`confTO_STARTTLS`).
    pub starttls: Duration,
    /// AUTH (`confTO_AUTH`).
    pub auth: Duration,
    /// MAIL (`confTO_MAIL`).
    pub mail: Duration,
    /// RCPT (`confTO_RCPT`).
    pub rcpt: Duration,
    /// DATA's 354 (`confTO_DATAINIT`).
    pub datainit: Duration,
    /// Each write of content (`confTO_DATABLOCK`).
    pub datablock: Duration,
    /// Reply to the final dot (`confTO_DATAFINAL`).
    pub datafinal: Duration,
    /// RSET (`confTO_RSET`).
    pub rset: Duration,
    /// QUIT (`confTO_QUIT`).
    pub quit: Duration,
}

impl ClientTimeouts {
    /// The wait for a TCP connect for a message delivered `tries` times
    /// before: `confTO_ICONNECT` on its first attempt when set, else
    /// `confTO_CONNECT` (sendmail's `makeconnection`).
    pub fn connect_for(&self, tries: u32) -> Duration {
        match self.iconnect {
            Some(i) if tries == 0 => i,
            _ => self.connect,
        }
    }
}

impl Default for ClientTimeouts {
    /// RFC 5321 §4.5.3.2, and 30 seconds to connect.
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(n * 60);
        ClientTimeouts {
            connect: Duration::from_secs(30),
            iconnect: None,
            initial: m(5),
            helo: m(5),
            starttls: m(5),
            auth: m(5),
            mail: m(5),
            rcpt: m(5),
            datainit: m(2),
            datablock: m(3),
            datafinal: m(10),
            rset: m(5),
            quit: m(2),
        }
    }
}

/// `confMAX_MESSAGE_SIZE` when unset: Postfix's `message_size_limit`
/// (10240000 octets).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 10_240_000;

/// `confMAX_RCPTS_PER_MESSAGE` when unset: Postfix's `smtpd_recipient_limit`.
pub const DEFAULT_MAX_RCPTS: usize = 1000;

/// The per-address cap when `confMAX_DAEMON_CHILDREN` is unset or large:
/// Postfix's `smtpd_client_connection_count_limit`.
pub const DEFAULT_MAX_PER_IP: usize = 50;

/// `confMXGATE_TO_DATA` when unset.
pub const DEFAULT_DATA_DEADLINE: Duration = Duration::from_secs(3600);

/// `confMXGATE_CONN_LIMIT_EXCEPTIONS` when unset: loopback, which Postfix's
/// default `mynetworks` always holds.
pub const DEFAULT_PER_IP_EXCEPTIONS: &str = "127.0.0.0/8 ::1";

/// `confMXGATE_QUEUE_MEMORY` when unset.
pub const DEFAULT_QUEUE_MEMORY: u64 = 16 * 1024 * 1024;

/// `confMXGATE_CLIENT_IPV6_PREFIX` when unset: Postfix 3.8's
/// `smtpd_client_ipv6_prefix_length` default.
pub const DEFAULT_CLIENT_IPV6_PREFIX: u8 = 84;

/// `confMXGATE_BODY_CHECKS_SIZE_LIMIT` when unset (Postfix's 51200).
pub const DEFAULT_BODY_CHECKS_SIZE_LIMIT: usize = 51_200;

/// `QUEUE_DIR` when unset.
pub const DEFAULT_QUEUE_DIR: &str = "/var/spool/mxgate";

/// `confMXGATE_MAILDIR` when unset.
pub const DEFAULT_MAILDIR: &str = "/var/mail/%u/Maildir";

/// The per-address cap when `confMAX_CONN_PER_IP` is unset: 50 as Postfix,
/// or half of `confMAX_DAEMON_CHILDREN` when that is smaller (Postfix's 50
/// is half its default process limit of 100), so that no single host can
/// take every session.
pub fn default_max_per_ip(max_sessions: usize) -> usize {
    if max_sessions == 0 {
        DEFAULT_MAX_PER_IP
    } else {
        DEFAULT_MAX_PER_IP.min(max_sessions.div_ceil(2))
    }
}

/// The spool directory a configuration names (`QUEUE_DIR`, else
/// `confQUEUE_DIR`, else [`DEFAULT_QUEUE_DIR`]): readable even when another
/// option is wrong, so that `mxgate status` can still find the spool.
pub fn queue_dir(config: &Config) -> PathBuf {
    queue_dir_of(|name| config.option(name))
}

fn queue_dir_of<'a>(option: impl Fn(&str) -> Option<&'a str>) -> PathBuf {
    PathBuf::from(
        option("QUEUE_DIR")
            .or_else(|| option("confQUEUE_DIR"))
            .unwrap_or(DEFAULT_QUEUE_DIR),
    )
}

/// The local submission socket a configuration names
/// (`confMXGATE_SUBMIT_SOCKET`; see [`Settings::submit_socket`]), readable
/// even when another option is wrong, as the command-line tools need it
/// before they load the site.
pub fn submit_socket(config: &Config) -> Option<PathBuf> {
    submit_socket_of(
        config.option("confMXGATE_SUBMIT_SOCKET"),
        &queue_dir(config),
    )
}

fn submit_socket_of(value: Option<&str>, queue_dir: &Path) -> Option<PathBuf> {
    match value.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("none") || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => {
            let name = queue_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "mxgate".to_string());
            let parent = queue_dir.parent().unwrap_or(Path::new("/"));
            Some(parent.join(format!("{name}-public")).join("submit.sock"))
        }
    }
}

/// Reads option values by `.mc` name with the rules of one kind each.
struct Reader<F> {
    option: F,
}

impl<'a, F: Fn(&str) -> Option<&'a str>> Reader<F> {
    fn get(&self, name: &str) -> Option<&'a str> {
        (self.option)(name)
    }

    /// Text, `None` when unset or blank.
    fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.text(name).map(PathBuf::from)
    }

    /// A whole number (0 allowed).
    fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{name}: expected a number, found {v:?}")),
        }
    }

    /// A count of things that must exist: 0 is refused, not read as unlimited.
    fn count(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.num(name, default)? {
            0 => Err(format!("{name}: expected a number above 0, found 0")),
            n => Ok(n),
        }
    }

    /// A duration; bare numbers count `bare` seconds (see [`unit`]).
    fn dur(&self, name: &str, bare: u64, default: Duration) -> Result<Duration, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_duration(v, bare).ok_or_else(|| {
                let eg = if bare == unit::MINUTES { "5m" } else { "10s" };
                format!("{name}: expected a duration such as {eg}, found {v:?}")
            }),
        }
    }

    /// A duration that must not be zero.
    fn positive(&self, name: &str, bare: u64, default: Duration) -> Result<Duration, String> {
        match self.dur(name, bare, default)? {
            d if d.is_zero() => Err(format!(
                "{name}: expected a duration above 0, found {:?}",
                self.get(name).unwrap_or("")
            )),
            d => Ok(d),
        }
    }

    /// A switch: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`.
    fn switch(&self, name: &str) -> Result<bool, String> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) => match v.as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" | "" => Ok(false),
                _ => Err(format!("{name}: expected True or False, found {v:?}")),
            },
        }
    }
}

impl Settings {
    /// Read from a compiled configuration.
    pub fn from_config(config: &Config) -> Result<Settings, String> {
        Settings::from_options(|name| config.option(name))
    }

    /// Read from options looked up by `.mc` name.
    pub fn from_options<'a>(option: impl Fn(&str) -> Option<&'a str>) -> Result<Settings, String> {
        let r = Reader { option };
        // Unset: sendmail's cf default, `authwarnings`.
        let privacy = r
            .get("confPRIVACY_FLAGS")
            .unwrap_or("authwarnings")
            .to_ascii_lowercase();
        let has = |flag: &str| privacy.split([',', ' ', '\t']).any(|f| f.trim() == flag);
        let max_sessions = r.num("confMAX_DAEMON_CHILDREN", 0)? as usize;
        let exceptions = r
            .get("confMXGATE_CONN_LIMIT_EXCEPTIONS")
            .unwrap_or(DEFAULT_PER_IP_EXCEPTIONS);
        let per_ip_exceptions = exceptions
            .split([' ', ',', '\t'])
            .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("none"))
            .map(|w| {
                ClientNet::parse(w).ok_or_else(|| {
                    format!("confMXGATE_CONN_LIMIT_EXCEPTIONS: expected an address or address/prefix, found {w:?}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let queue_dir = queue_dir_of(|name| r.get(name));
        let timing = Timing {
            min_queue_age: secs(r.dur("confMIN_QUEUE_AGE", unit::MINUTES, Duration::ZERO)?),
            max_retry: secs(r.dur(
                "confMXGATE_MAX_RETRY_INTERVAL",
                unit::MINUTES,
                Duration::from_secs(Timing::default().max_retry),
            )?),
            warn_after: secs(r.dur(
                "confTO_QUEUEWARN",
                unit::MINUTES,
                Duration::from_secs(Timing::default().warn_after),
            )?),
            return_after: secs(r.dur(
                "confTO_QUEUERETURN",
                unit::MINUTES,
                Duration::from_secs(Timing::default().return_after),
            )?),
        };
        // sendmail: `Timeout.queuewarn` sets every class, a suffixed one
        // (`.normal`, `.urgent`, `.non-urgent`, `.dsn`) only its own.
        let class = |warn: &str, ret: &str| -> Result<Timing, String> {
            Ok(Timing {
                warn_after: secs(r.dur(
                    warn,
                    unit::MINUTES,
                    Duration::from_secs(timing.warn_after),
                )?),
                return_after: secs(r.dur(
                    ret,
                    unit::MINUTES,
                    Duration::from_secs(timing.return_after),
                )?),
                ..timing
            })
        };
        let dsn_timing = class("confTO_QUEUEWARN_DSN", "confTO_QUEUERETURN_DSN")?;
        let urgent_timing = class("confTO_QUEUEWARN_URGENT", "confTO_QUEUERETURN_URGENT")?;
        let nonurgent_timing = class("confTO_QUEUEWARN_NONURGENT", "confTO_QUEUERETURN_NONURGENT")?;
        let timing = class("confTO_QUEUEWARN_NORMAL", "confTO_QUEUERETURN_NORMAL")?;
        let mut client_timeouts = ClientTimeouts::default();
        {
            let t = &mut client_timeouts;
            let slots: [(&str, &mut Duration); 12] = [
                ("confTO_CONNECT", &mut t.connect),
                ("confTO_INITIAL", &mut t.initial),
                ("confTO_HELO", &mut t.helo),
                ("confTO_STARTTLS", &mut t.starttls),
                ("confTO_AUTH", &mut t.auth),
                ("confTO_MAIL", &mut t.mail),
                ("confTO_RCPT", &mut t.rcpt),
                ("confTO_DATAINIT", &mut t.datainit),
                ("confTO_DATABLOCK", &mut t.datablock),
                ("confTO_DATAFINAL", &mut t.datafinal),
                ("confTO_RSET", &mut t.rset),
                ("confTO_QUIT", &mut t.quit),
            ];
            for (name, slot) in slots {
                // A zero, as in sendmail, leaves the default.
                let d = r.dur(name, unit::MINUTES, *slot)?;
                if !d.is_zero() {
                    *slot = d;
                }
            }
            // sendmail's makeconnection: Timeout.iconnect when the envelope
            // has no tries yet (`e_ntries <= 0`) and it is not 0.
            let i = r.dur("confTO_ICONNECT", unit::MINUTES, Duration::ZERO)?;
            t.iconnect = (!i.is_zero()).then_some(i);
        }
        let log = match r.text("confMXGATE_LOG_FILE") {
            None => LogTarget::Stderr,
            Some(v) if v == "syslog" => LogTarget::Syslog(
                r.path("confMXGATE_SYSLOG_SOCKET")
                    .unwrap_or_else(|| PathBuf::from(crate::event::DEV_LOG)),
            ),
            Some(v) => LogTarget::File(PathBuf::from(v)),
        };
        let submit_socket = submit_socket_of(r.get("confMXGATE_SUBMIT_SOCKET"), &queue_dir);
        let allow_remote = r.switch("confMXGATE_METRICS_ALLOW_REMOTE")?;
        let metrics_addr = match r.text("confMXGATE_METRICS_ADDR") {
            None => None,
            Some(v) => {
                let a: SocketAddr = v.parse().map_err(|_| {
                    format!("confMXGATE_METRICS_ADDR: expected an address such as 127.0.0.1:9125, found {v:?}")
                })?;
                if !a.ip().is_loopback() && !allow_remote {
                    return Err(format!(
                        "confMXGATE_METRICS_ADDR {a} is not a loopback address; \
                         define confMXGATE_METRICS_ALLOW_REMOTE as True to export metrics beyond this host"
                    ));
                }
                Some(a)
            }
        };
        let dns_retry = match r.get("confMXGATE_DNS_RETRY") {
            None => None,
            Some(t) => {
                let parsed = match t.trim().strip_suffix("ms") {
                    Some(ms) => ms.trim().parse().ok().map(Duration::from_millis),
                    None => parse_duration(t, unit::SECONDS),
                };
                Some(parsed.filter(|d| !d.is_zero()).ok_or_else(|| {
                    format!(
                        "confMXGATE_DNS_RETRY: expected a duration such as 250ms or 1s, found {t:?}"
                    )
                })?)
            }
        };
        let nameservers = match r.get("confMXGATE_NAMESERVERS") {
            None => None,
            Some(list) => Some(
                list.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<SocketAddr>().map_err(|_| {
                            format!("confMXGATE_NAMESERVERS: expected ip:port such as 127.0.0.1:53, found {s:?}")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Settings {
            max_message_size: max_message_size(r.get("confMAX_MESSAGE_SIZE"))?,
            max_rcpts: r.num("confMAX_RCPTS_PER_MESSAGE", DEFAULT_MAX_RCPTS as u64)? as usize,
            max_sessions,
            max_per_ip: r.num(
                "confMAX_CONN_PER_IP",
                default_max_per_ip(max_sessions) as u64,
            )? as usize,
            per_ip_exceptions,
            rate: r.num("confCONNECTION_RATE_THROTTLE", 0)? as usize,
            rate_window: r.dur(
                "confCONNECTION_RATE_WINDOW_SIZE",
                unit::SECONDS,
                Duration::from_secs(60),
            )?,
            min_free_blocks: r.num("confMIN_FREE_BLOCKS", 100)?,
            max_queue: r.num("confMAX_QUEUE_SIZE", 0)? as usize,
            command_timeout: r.dur("confTO_COMMAND", unit::MINUTES, Duration::from_secs(300))?,
            data_timeout: r.dur("confTO_DATABLOCK", unit::MINUTES, Duration::from_secs(600))?,
            data_deadline: r.dur("confMXGATE_TO_DATA", unit::MINUTES, DEFAULT_DATA_DEADLINE)?,
            tls_timeout: r.dur("confTO_STARTTLS", unit::MINUTES, Duration::from_secs(60))?,
            max_errors: r.num("confMXGATE_MAX_BAD_COMMANDS", 25)? as usize,
            max_nonmail: r.num("confMXGATE_MAX_NONMAIL_COMMANDS", 20)? as usize,
            greeting: r.get("confSMTP_LOGIN_MSG").map(str::to_string),
            privacy: Privacy {
                no_expn: has("noexpn") || has("goaway"),
                restrict_mailq: has("restrictmailq") || has("goaway"),
                restrict_qrun: has("restrictqrun"),
                // sendmail 8.17's PRIV_GOAWAY is the low 16 bits:
                // needmailhelo, needexpnhelo, needvrfyhelo, noexpn, novrfy,
                // authwarnings, noverb; not noetrn, noreceipts or
                // nobodyreturn (its -bs still offers DSN and ETRN).
                no_etrn: has("noetrn"),
                need_mail_helo: has("needmailhelo") || has("goaway"),
                no_receipts: has("noreceipts"),
                no_body_return: has("nobodyreturn"),
                auth_warnings: has("authwarnings") || has("goaway"),
            },
            max_client_lookups: (r.num("confMXGATE_MAX_CLIENT_LOOKUPS", 4)? as usize).max(1),
            bad_rcpt_throttle: r.num("confBAD_RCPT_THROTTLE", 0)? as usize,
            client_ipv6_prefix: match r.count(
                "confMXGATE_CLIENT_IPV6_PREFIX",
                u64::from(DEFAULT_CLIENT_IPV6_PREFIX),
            )? {
                n @ 1..=128 => n as u8,
                n => {
                    return Err(format!(
                        "confMXGATE_CLIENT_IPV6_PREFIX: expected a prefix length from 1 to 128, found {n}"
                    ));
                }
            },
            auth_workers: match r.num("confMXGATE_AUTH_WORKERS", 0)? as usize {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            },
            auth_wait: r.dur(
                "confMXGATE_AUTH_WAIT",
                unit::SECONDS,
                Duration::from_secs(10),
            )?,
            auth_dovecot_socket: r.path("confAUTH_DOVECOT_SOCKET"),
            auth_password_map: r.get("confAUTH_PASSWORD_MAP").map(str::to_string),
            auth_configured: r.get("TRUST_AUTH_MECH").is_some()
                || r.get("confAUTH_MECHANISMS").is_some(),
            max_hops: r.num("confMAX_HOP", 25)? as usize,
            max_headers_length: r.num("confMAX_HEADERS_LENGTH", 32 * 1024)? as usize,
            body_checks_size_limit: r.num(
                "confMXGATE_BODY_CHECKS_SIZE_LIMIT",
                DEFAULT_BODY_CHECKS_SIZE_LIMIT as u64,
            )? as usize,
            messages: Messages {
                relay: r.get("confRELAY_MSG").map(str::to_string),
                reject: r.get("confREJECT_MSG").map(str::to_string),
                rcpt_reject: r.get("confRCPTREJ_MSG").map(str::to_string),
            },
            queue_workers: r.count("confMXGATE_QUEUE_WORKERS", 40)? as usize,
            destination_concurrency: r.count("confMXGATE_DESTINATION_CONCURRENCY", 20)? as usize,
            queue_memory: r.count("confMXGATE_QUEUE_MEMORY", DEFAULT_QUEUE_MEMORY)?,
            host_status_dir: r
                .path("confHOST_STATUS_DIRECTORY")
                .unwrap_or_else(|| PathBuf::from(".hoststat")),
            queue_dir,
            queue_interval: match r.get("confMXGATE_QUEUE_INTERVAL") {
                Some(v) if v.trim() == "0" => Duration::ZERO,
                _ => r.dur(
                    "confMXGATE_QUEUE_INTERVAL",
                    unit::MINUTES,
                    Duration::from_secs(15 * 60),
                )?,
            },
            timing,
            dsn_timing,
            urgent_timing,
            nonurgent_timing,
            host_status_timeout: r.dur(
                "confTO_HOSTSTATUS",
                unit::MINUTES,
                Duration::from_secs(30 * 60),
            )?,
            double_bounce_address: r
                .get("confDOUBLE_BOUNCE_ADDRESS")
                .unwrap_or("postmaster")
                .trim()
                .to_string(),
            dead_letter_drop: r.path("confDEAD_LETTER_DROP"),
            client_timeouts,
            allow_programs: r.switch("confMXGATE_ALLOW_PROGRAMS")?,
            maildir: r
                .text("confMXGATE_MAILDIR")
                .unwrap_or_else(|| DEFAULT_MAILDIR.to_string()),
            log_tag: r.text("confMXGATE_LOG_TAG"),
            log,
            run_as_user: r
                .text("confRUN_AS_USER")
                .map(|v| v.split(':').next().unwrap_or("").trim().to_string())
                .filter(|v| !v.is_empty()),
            submit_socket,
            metrics_addr,
            dns_timeout: r.positive(
                "confMXGATE_DNS_TIMEOUT",
                unit::SECONDS,
                Duration::from_secs(5),
            )?,
            dns_retry,
            nameservers,
            hosts_file: r
                .path("confHOSTS_FILE")
                .unwrap_or_else(|| PathBuf::from("/etc/hosts")),
            service_switch_file: r.path("confSERVICE_SWITCH_FILE"),
        })
    }

    /// The limits an administrator turned off with an explicit `0`: logged
    /// as warnings at start and on reload (none is off by default).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.max_message_size == 0 {
            w.push(
                "confMAX_MESSAGE_SIZE is 0: no message size limit (a message is spooled as it arrives, so the spool's free space is the only bound)"
                    .to_string(),
            );
        }
        if self.max_rcpts == 0 {
            w.push("confMAX_RCPTS_PER_MESSAGE is 0: no recipient limit".to_string());
        }
        if self.max_per_ip == 0 {
            w.push(
                "confMAX_CONN_PER_IP is 0: one client address may open every session".to_string(),
            );
        }
        w
    }

    /// The key the per-client limits count `ip` under: an IPv4 address
    /// (an IPv4-mapped IPv6 client as its IPv4 address) as it is, an IPv6
    /// address cut to [`Settings::client_ipv6_prefix`] bits. A client that
    /// rotates through the addresses of its network (a /64 holds 2^64) is
    /// one client.
    pub fn client_key(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u32::from(self.client_ipv6_prefix.clamp(1, 128));
                let mask = u128::MAX << (128 - bits);
                IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & mask))
            }
            v4 => v4,
        }
    }

    /// Does the per-address cap count `ip`?
    pub fn per_ip_applies(&self, ip: IpAddr) -> bool {
        self.max_per_ip > 0 && !self.per_ip_exceptions.iter().any(|n| n.contains(ip))
    }

    /// The queue times for a message of timeout class `class`.
    pub fn timing_for(&self, class: TimeoutClass) -> Timing {
        match class {
            TimeoutClass::Normal => self.timing,
            TimeoutClass::Urgent => self.urgent_timing,
            TimeoutClass::NonUrgent => self.nonurgent_timing,
            TimeoutClass::Dsn => self.dsn_timing,
        }
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// `confMAX_MESSAGE_SIZE` as written (`None`: unset): a whole number of
/// octets, [`DEFAULT_MAX_MESSAGE_SIZE`] when unset, `0` = unlimited.
pub fn max_message_size(value: Option<&str>) -> Result<u64, String> {
    match value {
        None => Ok(DEFAULT_MAX_MESSAGE_SIZE),
        Some(v) => v.trim().parse().map_err(|_| {
            format!("confMAX_MESSAGE_SIZE: expected a whole number of bytes, found {v:?}")
        }),
    }
}

/// An address or a network (`192.0.2.0/24`, `::1`), as in Postfix's `mynetworks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientNet {
    addr: IpAddr,
    prefix: u8,
}

impl ClientNet {
    /// `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Option<ClientNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse().ok().filter(|p| *p <= max)?,
        };
        Some(ClientNet { addr, prefix })
    }

    /// Is `ip` inside? (An IPv4-mapped IPv6 client counts as its IPv4 address.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let keep = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                u128::MAX << (width - bits)
            }
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = keep(u32::from(self.prefix), 32);
                (u128::from(u32::from(n)) & m) == (u128::from(u32::from(a)) & m)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = keep(u32::from(self.prefix), 128);
                (u128::from(n) & m) == (u128::from(a) & m)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix_and_ipv4_ones_by_address() {
        let key = |s: &Settings, ip: &str| s.client_key(ip.parse().unwrap()).to_string();
        let s = Settings::from_options(|_| None).unwrap();
        assert_eq!(s.client_ipv6_prefix, 84);
        assert_eq!(key(&s, "192.0.2.7"), "192.0.2.7");
        assert_eq!(key(&s, "::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key(&s, "2001:db8:6::10"), "2001:db8:6::");
        // The 84th bit is the top nibble of the sixth group.
        assert_eq!(key(&s, "2001:db8:6::fff:ffff:2"), "2001:db8:6::");
        assert_eq!(key(&s, "2001:db8:6::1fff:ffff:2"), "2001:db8:6::1000:0:0");
        assert_eq!(key(&s, "2001:db8:6:0:1000::1"), "2001:db8:6:0:1000::");
        let per = |v: &'static str| {
            Settings::from_options(move |n| (n == "confMXGATE_CLIENT_IPV6_PREFIX").then_some(v))
        };
        let s = per("128").unwrap();
        assert_eq!(key(&s, "2001:db8:6::10"), "2001:db8:6::10");
        let s = per("64").unwrap();
        assert_eq!(key(&s, "2001:db8:6:0:1000::1"), "2001:db8:6::");
        for bad in ["0", "129", "/64"] {
            let e = per(bad).unwrap_err();
            assert!(
                e.starts_with("confMXGATE_CLIENT_IPV6_PREFIX: expected"),
                "{e}"
            );
        }
    }

    #[test]
    fn defaults_are_finite_and_an_explicit_zero_is_kept_with_a_warning() {
        let none = |_: &str| -> Option<&str> { None };
        let s = Settings::from_options(none).unwrap();
        assert_eq!(s.max_message_size, 10_240_000);
        assert_eq!(s.max_rcpts, 1000);
        assert_eq!(s.max_per_ip, 50);
        assert_eq!(s.data_deadline, Duration::from_secs(3600));
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        assert!(!s.per_ip_applies("127.0.0.1".parse().unwrap()));
        assert!(!s.per_ip_applies("::1".parse().unwrap()));
        assert!(!s.per_ip_applies("::ffff:127.0.0.9".parse().unwrap()));
        assert!(s.per_ip_applies("192.0.2.1".parse().unwrap()));
        // A share of a small session maximum.
        let s =
            Settings::from_options(|n| (n == "confMAX_DAEMON_CHILDREN").then_some("7")).unwrap();
        assert_eq!(s.max_per_ip, 4);
        let s =
            Settings::from_options(|n| (n == "confMAX_DAEMON_CHILDREN").then_some("200")).unwrap();
        assert_eq!(s.max_per_ip, 50);
        // Explicit zeros: the administrator's choice, named at start.
        let s = Settings::from_options(|n| {
            matches!(
                n,
                "confMAX_MESSAGE_SIZE" | "confMAX_RCPTS_PER_MESSAGE" | "confMAX_CONN_PER_IP"
            )
            .then_some("0")
        })
        .unwrap();
        assert_eq!((s.max_message_size, s.max_rcpts, s.max_per_ip), (0, 0, 0));
        assert_eq!(s.warnings().len(), 3, "{:?}", s.warnings());
        // Exceptions: none, or networks.
        let s =
            Settings::from_options(|n| (n == "confMXGATE_CONN_LIMIT_EXCEPTIONS").then_some("none"))
                .unwrap();
        assert!(s.per_ip_applies("127.0.0.1".parse().unwrap()));
        let s = Settings::from_options(|n| {
            (n == "confMXGATE_CONN_LIMIT_EXCEPTIONS").then_some("192.0.2.0/24, 2001:db8::/32")
        })
        .unwrap();
        assert!(!s.per_ip_applies("192.0.2.77".parse().unwrap()));
        assert!(s.per_ip_applies("192.0.3.1".parse().unwrap()));
        assert!(!s.per_ip_applies("2001:db8:1::5".parse().unwrap()));
        assert!(s.per_ip_applies("127.0.0.1".parse().unwrap()));
        let e = Settings::from_options(|n| {
            (n == "confMXGATE_CONN_LIMIT_EXCEPTIONS").then_some("192.0.2.0/33")
        })
        .unwrap_err();
        assert!(e.contains("192.0.2.0/33"), "{e}");
        assert!(
            ClientNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("198.51.100.1".parse().unwrap())
        );
    }

    /// The queue's sizes are read with the other settings, strictly: a
    /// typo or a 0 refuses the configuration instead of falling back to
    /// the default without a word (as they once did).
    #[test]
    fn queue_sizes_are_read_strictly() {
        let s = Settings::from_options(|_| None).unwrap();
        assert_eq!((s.queue_workers, s.destination_concurrency), (40, 20));
        assert_eq!(s.queue_memory, 16 * 1024 * 1024);
        let with = |v: &'static str| {
            Settings::from_options(move |n| (n == "confMXGATE_QUEUE_WORKERS").then_some(v))
        };
        assert_eq!(with("8").unwrap().queue_workers, 8);
        let e = with("0").unwrap_err();
        assert!(
            e.contains("confMXGATE_QUEUE_WORKERS: expected a number above 0"),
            "{e}"
        );
        assert!(with("forty").is_err());
    }

    #[test]
    fn one_reading_of_the_message_size_limit() {
        assert_eq!(max_message_size(None), Ok(10_240_000));
        assert_eq!(max_message_size(Some("0")), Ok(0));
        assert_eq!(max_message_size(Some(" 2000 ")), Ok(2000));
        assert!(max_message_size(Some("10MB")).is_err());
        assert!(max_message_size(Some("-1")).is_err());
    }

    fn with(pairs: &'static [(&'static str, &'static str)]) -> Result<Settings, String> {
        Settings::from_options(move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    /// The queue's times: sendmail's units (bare numbers are minutes), the
    /// DSN values falling back to the ordinary ones, a typo refused.
    #[test]
    fn queue_times_and_their_dsn_variants() {
        let s = with(&[("confTO_QUEUEWARN", "1h"), ("confTO_QUEUERETURN", "3d")]).unwrap();
        assert_eq!(
            (s.timing.warn_after, s.timing.return_after),
            (3600, 3 * 86_400)
        );
        assert_eq!(
            s.timing_for(TimeoutClass::Dsn),
            s.timing,
            "no DSN values: the ordinary ones"
        );
        let s = with(&[
            ("confTO_QUEUERETURN", "5d"),
            ("confTO_QUEUERETURN_DSN", "3d"),
        ])
        .unwrap();
        assert_eq!(s.timing_for(TimeoutClass::Normal).return_after, 5 * 86_400);
        assert_eq!(s.timing_for(TimeoutClass::Dsn).return_after, 3 * 86_400);
        assert_eq!(s.timing_for(TimeoutClass::Dsn).warn_after, 4 * 3600);
        let s = with(&[("confMIN_QUEUE_AGE", "30")]).unwrap();
        assert_eq!(s.timing.min_queue_age, 30 * 60, "bare numbers are minutes");
        let e = with(&[("confMIN_QUEUE_AGE", "soon")]).unwrap_err();
        assert!(e.contains("confMIN_QUEUE_AGE: expected a duration"), "{e}");
        assert!(with(&[("confTO_QUEUERETURN_DSN", "3 days")]).is_err());
    }

    /// Values that once fell back to the default without a word — the
    /// client's timeouts, the queue interval, the host-status age, the
    /// body-check limit, a switch — now refuse the configuration.
    #[test]
    fn a_value_that_does_not_read_is_refused_not_defaulted() {
        for (name, bad) in [
            ("confTO_CONNECT", "thirty"),
            ("confTO_DATAFINAL", "10 minutes"),
            ("confMXGATE_QUEUE_INTERVAL", "often"),
            ("confTO_HOSTSTATUS", "-1"),
            ("confMXGATE_BODY_CHECKS_SIZE_LIMIT", "50k"),
            ("confMIN_FREE_BLOCKS", "lots"),
            ("confMXGATE_ALLOW_PROGRAMS", "maybe"),
            ("confMXGATE_METRICS_ALLOW_REMOTE", "si"),
            ("confMXGATE_DNS_TIMEOUT", "0"),
            ("confMXGATE_NAMESERVERS", "127.0.0.1"),
        ] {
            let e = Settings::from_options(|n| (n == name).then_some(bad))
                .err()
                .unwrap_or_else(|| panic!("{name}={bad:?} was accepted"));
            assert!(e.starts_with(name), "{name}: {e}");
        }
        // The metrics endpoint's loopback rule, and its switch.
        assert!(with(&[("confMXGATE_METRICS_ADDR", "192.0.2.1:9125")]).is_err());
        let s = with(&[
            ("confMXGATE_METRICS_ADDR", "192.0.2.1:9125"),
            ("confMXGATE_METRICS_ALLOW_REMOTE", "True"),
        ])
        .unwrap();
        assert_eq!(s.metrics_addr, Some("192.0.2.1:9125".parse().unwrap()));
    }

    #[test]
    fn iconnect_is_the_connect_wait_of_a_first_attempt_only() {
        let t = with(&[]).unwrap().client_timeouts;
        assert_eq!(t.iconnect, None);
        assert_eq!(t.connect_for(0), t.connect, "unset: confTO_CONNECT");
        // Debian's debian-mta.m4 sets 2m; a bare number is minutes.
        let t = with(&[("confTO_CONNECT", "10s"), ("confTO_ICONNECT", "2")])
            .unwrap()
            .client_timeouts;
        assert_eq!(t.connect_for(0), Duration::from_secs(120));
        assert_eq!(t.connect_for(1), Duration::from_secs(10));
        assert_eq!(t.connect_for(7), Duration::from_secs(10));
        // 0, as in sendmail, turns it off.
        let t = with(&[("confTO_ICONNECT", "0")]).unwrap().client_timeouts;
        assert_eq!(t.connect_for(0), t.connect);
        assert!(with(&[("confTO_ICONNECT", "soon")]).is_err());
    }

    #[test]
    fn defaults_and_units_of_the_rest() {
        let s = with(&[]).unwrap();
        assert_eq!(s.queue_dir, PathBuf::from(DEFAULT_QUEUE_DIR));
        assert_eq!(s.queue_interval, Duration::from_secs(15 * 60));
        assert_eq!(s.client_timeouts, ClientTimeouts::default());
        assert_eq!(s.host_status_timeout, Duration::from_secs(1800));
        assert_eq!(s.double_bounce_address, "postmaster");
        assert_eq!(s.log, LogTarget::Stderr);
        assert_eq!(s.dns_timeout, Duration::from_secs(5));
        assert_eq!(s.body_checks_size_limit, 51_200);
        assert_eq!(
            s.submit_socket,
            Some(PathBuf::from("/var/spool/mxgate-public/submit.sock"))
        );
        assert!(!s.allow_programs && !s.privacy.no_expn && !s.privacy.restrict_mailq);
        assert!(
            s.privacy.auth_warnings,
            "unset: the cf default, authwarnings"
        );
        let s = with(&[
            ("QUEUE_DIR", "/srv/q"),
            ("confMXGATE_QUEUE_INTERVAL", "0"),
            ("confTO_CONNECT", "10s"),
            ("confTO_RCPT", "0"),
            ("confMXGATE_LOG_FILE", "syslog"),
            ("confMXGATE_DNS_RETRY", "250ms"),
            ("confMXGATE_ALLOW_PROGRAMS", "yes"),
            ("confPRIVACY_FLAGS", "goaway,restrictqrun"),
            ("confRUN_AS_USER", "mxgate:mxgate"),
        ])
        .unwrap();
        assert_eq!(
            s.submit_socket,
            Some(PathBuf::from("/srv/q-public/submit.sock"))
        );
        assert_eq!(s.queue_interval, Duration::ZERO, "0: no queue runner");
        assert_eq!(s.client_timeouts.connect, Duration::from_secs(10));
        assert_eq!(
            s.client_timeouts.rcpt,
            ClientTimeouts::default().rcpt,
            "0 keeps the default"
        );
        assert_eq!(s.log, LogTarget::Syslog(PathBuf::from("/dev/log")));
        assert_eq!(s.dns_retry, Some(Duration::from_millis(250)));
        assert!(s.allow_programs);
        assert_eq!(
            s.privacy,
            Privacy {
                no_expn: true,
                restrict_mailq: true,
                restrict_qrun: true,
                no_etrn: false,
                need_mail_helo: true,
                no_receipts: false,
                no_body_return: false,
                auth_warnings: true,
            },
            "goaway: sendmail 8.17's PRIV_GOAWAY (0xffff) leaves out noetrn, noreceipts and nobodyreturn"
        );
        assert_eq!(s.run_as_user.as_deref(), Some("mxgate"));
        let s = with(&[("confPRIVACY_FLAGS", "restrictqrun")]).unwrap();
        assert!(s.privacy.restrict_qrun && !s.privacy.auth_warnings && !s.privacy.no_etrn);
    }
}
