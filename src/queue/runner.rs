//! One delivery run of one message, and the threads that run the queue.
//!
//! Contract: [`Queue::process`] takes a message from `queue/`, plans its
//! pending recipients ([`super::plan`]), writes new alias expansions to the
//! journal, sends each batch through the [`Agents`] when its destination
//! admits it ([`Destinations`]), appends the outcomes to the journal and
//! fsyncs after each batch, logs one line per recipient in sendmail's
//! format, then: after `confTO_QUEUERETURN` the still-pending recipients
//! fail with `4.4.7`; once after `confTO_QUEUEWARN` a delay DSN goes out
//! (for a DSN: `confTO_QUEUERETURN_DSN`, `confTO_QUEUEWARN_DSN` when set,
//! see [`timing`]);
//! failures (and successes asked for with NOTIFY=SUCCESS) are reported by
//! DSNs committed to the spool as new messages from `<>`, and only then
//! marked `reported`; a message whose every recipient is final and
//! reported is removed (queue file, then journal). A message from `<>`
//! that fails is reported to `confDOUBLE_BOUNCE_ADDRESS` (default
//! `postmaster`; empty = drop and log) as a double bounce; a double bounce
//! that fails is appended to `confDEAD_LETTER_DROP` when set, else kept in
//! `hold/` with a `SYSERR ... savemail` log line (sendmail's savemail()
//! order: postmaster, dead-letter drop, keep the queue file) — a message
//! answered 250 is never dropped silently. `now` is a parameter.
//!
//! [`start`] runs the queue: one scanner thread that lists `queue/` when it
//! may hold something due that no worker has (streaming the directory; at
//! most `workers` messages are loaded at any time, plus a bounded cache of
//! next-attempt times — [`CACHE_MAX`] entries, re-read when a journal
//! changes), a [`Handoff`] that gives a message committed in this process
//! to a free worker at once (so new mail costs no scan), and
//! `confMXGATE_QUEUE_WORKERS` workers (default 40) that await
//! [`Queue::process`]. The workers are tasks: on two cores or fewer on
//! smol's global executor (the daemon's SMTP session thread), with more on
//! an executor of their own run by one thread per core
//! ([`delivery_threads`]). A worker waiting on the network holds no
//! thread. The spool's reads and renames are done in place; the journal's
//! fsync after a deferral and the local mailer go to the blocking pool.
//! New messages have no journal, so they are due at once. The scanner
//! looks again when `queue/` changed in a way the hand-offs do not account
//! for (see [`Scanned`]), when something is due, and at least every
//! `confMXGATE_QUEUE_INTERVAL` (a full scan). Directory
//! scans slow down on a very large queue (the pause after a scan is four
//! times the scan's own cost, 1–5 s; see [`after_scan`]).

use super::agents::Agents;
use super::plan::{self, Action, Leaf};
use super::schedule::{Admit, Destinations, HostResult, Timing};
use crate::deliver::{Batch, BatchRcpt, NextHop, Outcome};
use crate::deliver::{EnhancedStatus, Said};
use crate::dsn;
use crate::event::Log;
use crate::settings::TimeoutClass;
use crate::site::Site;
use crate::spool::hoststat::{HostStatDir, HostState, HostStatus};
use crate::spool::status::{self, Entry, Journal, Kind, RcptStatus};
use crate::spool::{self, Envelope, QueueId, Spool, State, envelope::Recipient};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The largest queue file read or unlinked on the delivery's own thread;
/// a larger one goes to the blocking pool (ext4 took up to 13 ms to unlink
/// a delivered 7 MB file, every session on the thread waiting).
const INLINE_IO: u64 = spool::FREE_SIZE;

/// What the queue needs from its host process.
pub trait Host: Send + Sync {
    /// The current site.
    fn site(&self) -> Arc<Site>;
    /// The spool.
    fn spool(&self) -> &Spool;
    /// The log.
    fn log(&self) -> &Log;
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `HH:MM:SS`, or `D+HH:MM:SS` over a day (sendmail's `delay=`).
pub fn fmt_delay(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}+{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The result of one run of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Every recipient is final and reported: the message is gone.
    Removed,
    /// Something is still pending; try again at this time.
    Later(u64),
    /// Nothing was tried: every pending recipient waits for this backed-off
    /// host, until this time at least (the scanner skips the message while
    /// the host stays backed off, without reading it again).
    Blocked {
        /// The host.
        host: String,
        /// Its backoff when the pass ended.
        until: u64,
    },
    /// The queue file is not there (delivered, deleted or held meanwhile).
    Gone,
    /// A double bounce nobody could take was moved to `hold/` (see
    /// `savemail`).
    Held,
}

/// The queue manager.
pub struct Queue {
    host: Arc<dyn Host>,
    agents: Arc<dyn Agents>,
    destinations: Mutex<Destinations>,
    /// Persistent host status (`sendmail -bh`), and when each host's
    /// "up" record was last written (rewritten at most once a minute).
    hoststat: HostStatDir,
    up_written: Mutex<HashMap<String, u64>>,
    /// Bytes of message content the workers may hold at once.
    budget: Budget,
    /// Deliveries that may wait for a slot of one busy next hop (see
    /// [`Queue::admit`]).
    slot_waiters: usize,
    /// Host names shared by the scanner's cache entries.
    hosts: Mutex<HashSet<Arc<str>>>,
    /// Set by [`start`]: where the DSNs this queue commits go at once.
    handoff: OnceLock<Handoff>,
    /// Why each host was last found down (for the deferral logged for a
    /// message that waits for its backoff; see [`Queue::suspended`]).
    down_why: Mutex<HashMap<String, String>>,
}

/// Hands a message committed in this process straight to a free worker,
/// so new mail does not wait for the scanner to find it (as Postfix's
/// `cleanup` tells `qmgr` about a message in its `incoming` queue instead
/// of leaving it to a directory scan). Taken from [`Runner::handoff`] by
/// the SMTP server and the submission socket; the queue's own DSNs use it
/// too.
///
/// A message goes to a worker once: [`Handoff::offer`] and the scanner
/// both claim it in the in-flight set first. When every worker is busy
/// the offer is not kept waiting: it is counted as missed, and the next
/// scan finds the message in `queue/` (see [`Scanned::accounts_for`]).
#[derive(Clone)]
pub struct Handoff {
    tx: async_channel::Sender<QueueId>,
    inflight: Arc<Mutex<HashSet<QueueId>>>,
    /// Offers that found every worker busy, or the queue stopped.
    missed: Arc<AtomicU64>,
}

/// Commit `w` to `queue/` and make it known: handed to a worker through
/// `handoff` when the queue runs in this process, else announced to a
/// running daemon by [`spool::Writer::commit`]'s touch of `status/.arrived`.
/// Every writer of new mail to `queue/` goes through this.
pub fn commit_new(
    w: spool::Writer<'_>,
    handoff: Option<&Handoff>,
) -> Result<QueueId, spool::Error> {
    match handoff {
        Some(h) => {
            let id = w.commit_handed(State::Queue)?;
            h.offer(&id);
            Ok(id)
        }
        None => w.commit(State::Queue),
    }
}

impl Handoff {
    /// Give the message `id`, just committed to `queue/`, to a worker.
    /// Returns whether a worker has it (or the scanner already had it);
    /// `false`: the scanner will find it.
    pub fn offer(&self, id: &QueueId) -> bool {
        if !self
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone())
        {
            return true;
        }
        let metrics = crate::metrics::global();
        match self.tx.try_send(id.clone()) {
            Ok(()) => {
                metrics.inc(crate::metrics::QUEUE_HANDOFFS, &[("result", "worker")]);
                true
            }
            Err(_) => {
                metrics.inc(crate::metrics::QUEUE_HANDOFFS, &[("result", "scanner")]);
                self.inflight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(id);
                // After the removal: a scan that sees this count also sees
                // the message as not in flight.
                self.missed.fetch_add(1, Ordering::SeqCst);
                false
            }
        }
    }
}

/// The memory the workers may spend on large messages at once
/// (`confMXGATE_QUEUE_MEMORY`): a worker loading a message over 256 KiB
/// takes twice its size from it (the message and the delivery agent's
/// copy) and gives it back when the pass ends; a message larger than the
/// whole budget waits until it is the only one (at most a minute). So forty
/// workers delivering 10 MB messages do not hold 800 MB; small messages
/// never wait.
struct Budget {
    limit: u64,
    used: Mutex<u64>,
    freed: event_listener::Event,
}

/// A share of the [`Budget`], returned when dropped.
struct Share<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Budget {
    fn new(limit: u64) -> Budget {
        Budget {
            limit: limit.max(1),
            used: Mutex::new(0),
            freed: event_listener::Event::new(),
        }
    }

    /// Count `bytes` as used if they fit (or if `anyway`).
    fn try_take(&self, bytes: u64, anyway: bool) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let fits = *used + bytes <= self.limit;
        if fits || anyway {
            *used += bytes;
        }
        fits || anyway
    }

    /// A share for a message of `size` bytes (counted twice). Small
    /// messages never wait: a slow delivery of a large one must not hold up
    /// the rest of the queue. A large one waits for room at most
    /// [`BUDGET_WAIT`], then goes ahead over the budget, so one that hangs
    /// on a dead host delays the other large ones, not forever. The wait
    /// is a future: a waiting delivery holds no thread.
    async fn take(&self, size: u64) -> Share<'_> {
        if size <= SMALL_MESSAGE {
            return Share {
                budget: self,
                bytes: 0,
            };
        }
        let bytes = size.saturating_mul(2).min(self.limit);
        let deadline = Instant::now() + BUDGET_WAIT;
        loop {
            if self.try_take(bytes, false) {
                break;
            }
            // Listen first, then look again: a share returned between the
            // two is not missed.
            let freed = self.freed.listen();
            if self.try_take(bytes, false) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.try_take(bytes, true);
                break;
            }
            futures_lite::future::or(freed, async {
                async_io::Timer::after(left).await;
            })
            .await;
        }
        Share {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Share<'_> {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.bytes;
        drop(used);
        self.budget.freed.notify(usize::MAX);
    }
}

/// `confMXGATE_QUEUE_MEMORY` when unset.
pub const DEFAULT_QUEUE_MEMORY: u64 = 16 * 1024 * 1024;

/// Messages up to this size are delivered without asking the [`Budget`]
/// (forty workers holding twice this much stay within a few MiB).
const SMALL_MESSAGE: u64 = 256 * 1024;

/// Which backed-off host the batches of a pass that were not sent wait for.
enum Blocking {
    /// None was backed off.
    None,
    /// All of them wait for this host (backed off until then).
    On(String, u64),
    /// Several hosts, or a hop without one.
    Mixed,
}

/// A delivery waiting for a slot of `hop`, counted until dropped.
struct Waiting<'a> {
    queue: &'a Queue,
    hop: &'a NextHop,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.queue
            .destinations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwait(self.hop);
    }
}

/// The longest a delivery waits for a slot of a busy next hop.
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// The longest a large message waits for room in the [`Budget`].
const BUDGET_WAIT: Duration = Duration::from_secs(60);

/// The queue's time settings for a site, for one message: those of its
/// timeout class ([`timeout_class`]).
pub fn timing(site: &Site, env: &Envelope, content: &[u8]) -> Timing {
    site.settings.timing_for(timeout_class(env, content))
}

/// sendmail's `Precedence:` values (its cf's `P` lines: `first-class=0`,
/// `special-delivery=100`, `list=-30`, `bulk=-60`, `junk=-100`); any other
/// value is 0, as `priencode` answers.
fn precedence(value: &str) -> i32 {
    match value.to_ascii_lowercase().as_str() {
        "special-delivery" => 100,
        "list" => -30,
        "bulk" => -60,
        "junk" => -100,
        _ => 0,
    }
}

/// A message's timeout class, as sendmail's `eatheader()` sets it
/// (headers.c): a `Precedence:` below 0 makes it non-urgent, above 0
/// urgent; a delivery status notification is [`TimeoutClass::Dsn`] (see
/// [`is_dsn`]); a `Priority: urgent|normal|non-urgent` header decides last.
pub fn timeout_class(env: &Envelope, content: &[u8]) -> TimeoutClass {
    let fields = header_fields(content);
    let value = |name| field(&fields, name);
    match value("priority").as_deref() {
        Some("urgent") => return TimeoutClass::Urgent,
        Some("normal") => return TimeoutClass::Normal,
        Some("non-urgent") => return TimeoutClass::NonUrgent,
        _ => {}
    }
    if dsn_by(env, &fields) {
        return TimeoutClass::Dsn;
    }
    match value("precedence").map(|p| precedence(p.trim())) {
        Some(p) if p < 0 => TimeoutClass::NonUrgent,
        Some(p) if p > 0 => TimeoutClass::Urgent,
        _ => TimeoutClass::Normal,
    }
}

/// The lower-cased value of the first field named `name` (lower case).
fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.to_ascii_lowercase())
}

/// The header's fields, unfolded, by lower-case name.
fn header_fields(content: &[u8]) -> Vec<(String, String)> {
    let head = String::from_utf8_lossy(crate::dsn::header_of(content));
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    fields
}

/// Is this message a delivery status notification, for the timeouts?
/// sendmail (`headers.c`, `eatheader`): a `Content-Type: multipart/report`
/// with `report-type=delivery-status`, or a report it made itself (here: a
/// DSN or double bounce committed by the queue, fact `dsn-kind`); a
/// `Priority: urgent|normal|non-urgent` header puts the message in that
/// class instead. So a vacation reply or a read receipt from `<>` keeps the
/// ordinary timeouts.
pub fn is_dsn(env: &Envelope, content: &[u8]) -> bool {
    timeout_class(env, content) == TimeoutClass::Dsn
}

/// [`is_dsn`] without the `Priority:` header.
fn dsn_by(env: &Envelope, fields: &[(String, String)]) -> bool {
    if env.fact("dsn-kind").is_some() {
        return true;
    }
    field(fields, "content-type").is_some_and(|ct| {
        let compact: String = ct
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '"')
            .collect();
        compact.starts_with("multipart/report;")
            && compact
                .split(';')
                .any(|p| p == "report-type=delivery-status")
    })
}

fn rcpt_status(o: &Outcome, now: u64) -> RcptStatus {
    let (kind, relay, text) = match o {
        Outcome::Delivered { reply, relay } => (Kind::Delivered, Some(relay.clone()), reply),
        Outcome::Deferred { reply, relay, .. } => (Kind::Deferred, relay.clone(), reply),
        Outcome::Failed { reply, relay, .. } => (Kind::Failed, relay.clone(), reply),
    };
    RcptStatus {
        kind,
        time: now,
        dsn: o.dsn().to_string(),
        relay,
        // An accepting reply is kept as its words, as `stat=Sent (...)`.
        text: match o {
            Outcome::Delivered { .. } => text.words(),
            _ => text.to_string(),
        },
    }
}

/// Count one recipient's outcome: `mxgate_deliveries_total`, the latency
/// of a delivery (`latency` = seconds since arrival), the deferrals of a
/// remote next hop. `listener` is the DAEMON_OPTIONS name the message came
/// in by (`local`: the sendmail command or a DSN of ours).
fn count_outcome(listener: &str, mailer: &str, hop: Option<&NextHop>, o: &Outcome, latency: f64) {
    use crate::metrics::{self, DELIVERIES, DELIVERY_LATENCY, DESTINATION_DEFERRALS};
    let m = metrics::global();
    let result = match o {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Deferred { .. } => "deferred",
        Outcome::Failed { .. } => "bounced",
    };
    m.inc(
        DELIVERIES,
        &[
            ("listener", listener),
            ("mailer", mailer),
            ("result", result),
        ],
    );
    match o {
        Outcome::Delivered { .. } => m.observe(DELIVERY_LATENCY, &[("mailer", mailer)], latency),
        Outcome::Deferred { .. } => {
            if let Some(NextHop {
                host: Some(host), ..
            }) = hop
            {
                m.inc(
                    DESTINATION_DEFERRALS,
                    &[("destination", &format!("{mailer}:{host}"))],
                );
            }
        }
        Outcome::Failed { .. } => {}
    }
}

/// Is this batch result a whole-host deferral (nobody answered, or 421)?
/// What the outcome says decides, not whether it names a relay: a refused
/// connection names the address it tried (sendmail's `relay=` in the log)
/// and is still no answer.
pub fn host_result(outcomes: &[Outcome]) -> HostResult {
    let all_host = !outcomes.is_empty()
        && outcomes.iter().all(|o| match o {
            Outcome::Deferred { reply, .. } => matches!(reply.code(), None | Some(421)),
            _ => false,
        });
    if all_host {
        HostResult::HostDeferred
    } else {
        HostResult::Answered
    }
}

impl Queue {
    /// A queue over `host`'s spool, delivering through `agents`, with at
    /// most `per_destination` concurrent transactions per next hop.
    pub fn new(host: Arc<dyn Host>, agents: Arc<dyn Agents>, per_destination: usize) -> Queue {
        let site = host.site();
        let hoststat = HostStatDir::new(crate::spool::hoststat::directory(
            host.spool().root(),
            &site.settings.host_status_dir,
        ));
        Queue {
            host,
            agents,
            destinations: Mutex::new(Destinations::new(per_destination)),
            hoststat,
            up_written: Mutex::new(HashMap::new()),
            budget: Budget::new(DEFAULT_QUEUE_MEMORY),
            slot_waiters: per_destination.max(1),
            hosts: Mutex::default(),
            handoff: OnceLock::new(),
            down_why: Mutex::default(),
        }
    }

    /// One shared copy of `host` for the scanner's cache (a bounded set:
    /// past 10,000 names it starts again; copies handed out stay valid).
    fn intern(&self, host: &str) -> Arc<str> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = hosts.get(host) {
            return h.clone();
        }
        if hosts.len() >= 10_000 {
            hosts.clear();
        }
        let h: Arc<str> = host.into();
        hosts.insert(h.clone());
        h
    }

    /// Run by `workers` workers: up to the workers a busy next hop's
    /// slots leave free may wait for a slot of it (see [`Queue::admit`]).
    pub fn with_workers(mut self, workers: usize) -> Queue {
        let slots = self
            .destinations
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .limit;
        self.slot_waiters = workers.saturating_sub(slots).max(1);
        self
    }

    /// May a batch go to `hop` now? When every slot of it is taken, wait
    /// for one (at most [`SLOT_WAIT`], and only while fewer than
    /// `slot_waiters` deliveries wait for it) instead of handing the
    /// message back: a message for a busy destination waits in memory, as
    /// in Postfix's queue manager, and is not read and planned again and
    /// again while the destination stays busy.
    async fn admit(&self, hop: &NextHop, now: u64) -> Admit {
        let deadline = Instant::now() + SLOT_WAIT;
        loop {
            let freed = {
                let mut d = self.destinations.lock().unwrap_or_else(|e| e.into_inner());
                match d.admit(hop, now) {
                    Admit::Busy if Instant::now() < deadline => {}
                    a => return a,
                }
                match d.wait(hop, self.slot_waiters) {
                    // Listening before the lock is given up: a release
                    // right after it is not missed.
                    Some(event) => event.listen(),
                    None => return Admit::Busy,
                }
            };
            let _waiting = Waiting { queue: self, hop };
            futures_lite::future::or(freed, async {
                async_io::Timer::at(deadline).await;
            })
            .await;
        }
    }

    /// Let the workers hold at most `bytes` of message content at once
    /// (`confMXGATE_QUEUE_MEMORY`; see [`Budget`]).
    pub fn with_memory(mut self, bytes: u64) -> Queue {
        self.budget = Budget::new(bytes);
        self
    }

    /// Take up the host backoffs recorded before a restart that still
    /// hold at `now` (the daemon does at start; a `sendmail -q` run does
    /// not, so an operator's manual run tries every host). Returns how many.
    pub fn restore_host_status(&self, now: u64) -> usize {
        let Ok(records) = self.hoststat.load() else {
            return 0;
        };
        let mut d = self.destinations.lock().unwrap_or_else(|e| e.into_inner());
        let mut why = self.down_why.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for st in records.into_iter().flatten() {
            if st.until > now {
                d.restore(&st.host, st.until, st.fails);
                if let HostState::Reply(t) | HostState::Unreachable(t) = &st.state {
                    why.insert(st.host.clone(), t.clone());
                }
                n += 1;
            }
        }
        n
    }

    /// Record how a remote host did for `sendmail -bh` (see
    /// [`crate::spool::hoststat`]). A write that fails is logged; mail
    /// goes on.
    fn note_host(&self, host: &str, outcomes: &[Outcome], now: u64) {
        let state = match host_result(outcomes) {
            HostResult::Answered => HostState::Up,
            HostResult::HostDeferred => match outcomes.first() {
                Some(Outcome::Deferred {
                    reply: reply @ Said::Reply(_),
                    ..
                }) => HostState::Reply(reply.to_string()),
                Some(Outcome::Deferred { reply, .. }) => HostState::Unreachable(reply.to_string()),
                _ => HostState::Unreachable(String::new()),
            },
        };
        {
            let mut why = self.down_why.lock().unwrap_or_else(|e| e.into_inner());
            match &state {
                HostState::Up => {
                    why.remove(host);
                }
                HostState::Reply(t) | HostState::Unreachable(t) => {
                    why.insert(host.to_string(), t.clone());
                }
            }
        }
        {
            let mut w = self.up_written.lock().unwrap_or_else(|e| e.into_inner());
            if state == HostState::Up {
                if w.get(host).is_some_and(|&t| now.saturating_sub(t) < 60) {
                    return;
                }
                w.insert(host.to_string(), now);
            } else {
                w.remove(host);
            }
        }
        let (until, fails) = self
            .destinations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .backoff_of(host)
            .unwrap_or((0, 0));
        let st = HostStatus {
            host: host.to_string(),
            last: now,
            until,
            fails,
            state,
        };
        if let Err(e) = self.hoststat.record(&st) {
            self.host
                .log()
                .line(None, &format!("SYSERR: host status {host}: {e}"));
        }
    }

    /// The deferral of a batch for `hop` while its host is backed off
    /// until `until`: the host's last failure, and when it is tried again.
    /// Logged without a connection, as sendmail logs a host its status
    /// marks down and Postfix a destination it has suspended, so a queue
    /// ID in the log shows why the message waits.
    fn suspended(&self, hop: &NextHop, until: u64, now: u64) -> Outcome {
        let host = hop.host.as_deref().unwrap_or_default();
        let why = self
            .down_why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
            .unwrap_or_else(|| format!("{host} did not answer"));
        Outcome::Deferred {
            status: EnhancedStatus::new(4, 4, 1),
            reply: Said::Text(format!(
                "{why} (host down, not tried; next try in {})",
                fmt_delay(until.saturating_sub(now))
            )),
            relay: None,
        }
    }

    /// An operator flush: retry every backed-off host at once.
    pub fn forget_host_backoff(&self) {
        self.destinations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget_backoff();
    }

    /// `mxgate_destination_connections` for a remote `hop`: its open transactions.
    fn connections_metric(&self, hop: &NextHop) {
        if let Some(host) = &hop.host {
            let open = self
                .destinations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open(hop);
            crate::metrics::global().set(
                crate::metrics::DESTINATION_CONNECTIONS,
                &[("destination", &format!("{}:{host}", hop.mailer))],
                open as f64,
            );
        }
    }

    /// sendmail's `to=<...>, delay=..., stat=...` line for one recipient.
    /// With a content filter, `filter=smtp:[127.0.0.1]:10024` follows the
    /// relay.
    fn to_line(
        leaf: &Leaf,
        mailer: &str,
        o: &Outcome,
        pri: u64,
        times: (u64, u64),
        filter: Option<&str>,
    ) -> String {
        let relay = match o {
            Outcome::Delivered { relay, .. } => Some(relay.as_str()),
            Outcome::Deferred { relay, .. } | Outcome::Failed { relay, .. } => relay.as_deref(),
        };
        let relay = relay.map(|r| format!("relay={r}, ")).unwrap_or_default();
        let filter = filter.map(|f| format!("filter={f}, ")).unwrap_or_default();
        format!(
            "to=<{}>, delay={}, xdelay={}, mailer={mailer}, pri={pri}, {relay}{filter}dsn={}, stat={}",
            leaf.display,
            fmt_delay(times.0),
            fmt_delay(times.1),
            o.dsn(),
            o.stat().replace(['\r', '\n'], " ")
        )
    }

    /// One delivery run of message `id` at time `now` (see the module doc).
    /// A future: the delivery agents' network waits hold no thread (see
    /// [`start`]); the spool's own reads and renames are done in place.
    pub async fn process(&self, id: &QueueId, now: u64) -> Result<Processed, spool::Error> {
        self.pass(id, now).await
    }

    /// [`Queue::process`] on the calling thread (`mxgate -q`, tests).
    pub fn process_blocking(&self, id: &QueueId, now: u64) -> Result<Processed, spool::Error> {
        smol::block_on(self.pass(id, now))
    }

    async fn pass(&self, id: &QueueId, now: u64) -> Result<Processed, spool::Error> {
        let spool = self.host.spool();
        let root = spool.root().to_path_buf();
        let Ok(meta) = std::fs::metadata(root.join(State::Queue.dir()).join(id.as_str())) else {
            return Ok(Processed::Gone);
        };
        let _share = self.budget.take(meta.len()).await;
        let path = root.join(State::Queue.dir()).join(id.as_str());
        // A large file is read on the blocking pool (reading megabytes
        // inline would stall every session and delivery on this thread),
        // into a buffer allocated here, sized from the length just read
        // (so read_file asks for it no second time).
        let buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        let data = if meta.len() > INLINE_IO {
            let at = path.clone();
            blocking::unblock(move || spool::read_file(&at, buf)).await
        } else {
            spool::read_file(&path, buf)
        };
        let data = data.and_then(|d| spool::split_message(path, &d).map(|(env, at)| (env, at, d)));
        let (env, data, start) = match data {
            Ok((env, start, d)) => (env, d, start),
            Err(spool::Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Processed::Gone);
            }
            Err(e) => return Err(e),
        };
        let content = &data[start..];
        let site = self.host.site();
        let timing = timing(&site, &env, content);
        let stored = Journal::load_stored(&root, id)?;
        let had_journal = stored.is_some();
        let mut journal = stored.unwrap_or_default();
        let plan = plan::leaves(&site, &env, &journal);
        Journal::append(&root, id, &plan.entries)?;
        // Whether there is a journal to remove when the message is done (a
        // message delivered at its first try never had one).
        let journaled = had_journal || !plan.entries.is_empty();
        for e in &plan.entries {
            journal.apply(e);
        }
        // A double bounce released from hold/ (see `savemail`) gets a new
        // return period from its release: the operator asked for another try.
        let since = match (env.fact("dsn-kind"), journal.flushed) {
            (Some("double-bounce"), Some(f)) => f.max(env.arrival),
            _ => env.arrival,
        };
        let expired = timing.expired(since, now);
        let pri = content.len() as u64
            + 30_000 * env.recipients.len() as u64
            + 90_000 * u64::from(journal.attempts);
        let delay = now.saturating_sub(env.arrival);
        let listener = env.fact("daemon").unwrap_or("local");
        let mut log = PassLog::new(self.host.log(), id);
        let mut attempted = false;
        let mut later: Option<u64> = None;

        // Routing errors, and expiry.
        let mut settled = Vec::new();
        for l in &plan.leaves {
            let outcome = match &l.action {
                Action::Settled { mailer, outcome } => {
                    if expired && matches!(outcome, Outcome::Deferred { .. }) {
                        Some((mailer.clone(), expire(&journal, &l.key, &timing)))
                    } else {
                        Some((mailer.clone(), outcome.clone()))
                    }
                }
                Action::Deliver { hop, .. } if expired => {
                    Some((hop.mailer.clone(), expire(&journal, &l.key, &timing)))
                }
                Action::Deliver { .. } => None,
            };
            if let Some((mailer, o)) = outcome {
                count_outcome(listener, &mailer, None, &o, delay as f64);
                log.push(Self::to_line(
                    l,
                    &mailer,
                    &o,
                    pri,
                    (delay, 0),
                    plan.filter.as_deref(),
                ));
                settled.push(Entry::Rcpt {
                    key: l.key.clone(),
                    status: rcpt_status(&o, now),
                });
                attempted = true;
            }
        }
        // Outcomes are kept in memory and written once, at the end, and only
        // if the message stays queued: a message finished in one pass costs
        // no journal write at all (see `finish`).
        let mut unwritten: Vec<Entry> = Vec::new();
        for e in settled {
            journal.apply(&e);
            unwritten.push(e);
        }

        // Deliveries. `blocked`: the backed-off host every batch not sent
        // waits for; `waited`: a batch was sent or found its hop busy.
        let mut blocked = Blocking::None;
        let mut waited = false;
        if !expired {
            // A content filter gets the whole envelope in one transaction.
            let limit = |m: &str| {
                if plan.filter.is_some() {
                    usize::MAX
                } else {
                    plan::max_rcpts(&site, m)
                }
            };
            for p in plan::batches(&plan.leaves, limit) {
                let admit = self.admit(&p.hop, now).await;
                match admit {
                    Admit::Go => self.connections_metric(&p.hop),
                    Admit::Busy => {
                        // Due again at once: the scanner comes back within
                        // milliseconds while there is work (this hop had
                        // its waiters already, or none freed in time).
                        waited = true;
                        later = Some(now);
                        continue;
                    }
                    Admit::BackedOff(until) => {
                        later = Some(later.map_or(until, |t| t.min(until)));
                        blocked = match (blocked, &p.hop.host) {
                            (Blocking::None, Some(h)) => Blocking::On(h.clone(), until),
                            (Blocking::On(b, u), Some(h)) if b == *h => Blocking::On(b, u),
                            _ => Blocking::Mixed,
                        };
                        let o = self.suspended(&p.hop, until, now);
                        for l in p.leaves.iter().filter_map(|&i| plan.leaves.get(i)) {
                            count_outcome(listener, &p.hop.mailer, Some(&p.hop), &o, delay as f64);
                            log.push(Self::to_line(
                                l,
                                &p.hop.mailer,
                                &o,
                                pri,
                                (delay, 0),
                                plan.filter.as_deref(),
                            ));
                        }
                        continue;
                    }
                }
                waited = true;
                let leaves: Vec<&Leaf> = p
                    .leaves
                    .iter()
                    .filter_map(|&i| plan.leaves.get(i))
                    .collect();
                // Addresses as this mailer sends them: masquerading and
                // qualification of the envelope sender and the header
                // addresses (sendmail's per-mailer S= and header rulesets).
                // The local mailer delivers what was received, and so does a
                // content filter (the re-injected copy is rewritten later).
                let prepared: Result<(String, Option<Vec<u8>>), crate::table::Error> =
                    if super::agents::is_local_mailer(&p.hop.mailer) || plan.filter.is_some() {
                        Ok((p.sender.clone(), None))
                    } else {
                        let sender = if p.sender.is_empty() {
                            Ok(String::new())
                        } else {
                            crate::rewrite::masquerade(
                                &site,
                                crate::rewrite::Field::EnvelopeSender,
                                &p.sender,
                                &p.hop.mailer,
                            )
                            .map(|(a, _)| a)
                        };
                        sender.and_then(|s| {
                            crate::rewrite::headers(&site, content, &p.hop.mailer).map(|h| (s, h))
                        })
                    };
                // A table that cannot be read (genericstable) defers the batch.
                let (sender, rewritten, table_error) = match prepared {
                    Ok((s, h)) => (s, h, None),
                    Err(e) => (p.sender.clone(), None, Some(e.to_string())),
                };
                let batch = Batch {
                    id,
                    envelope: &env,
                    sender,
                    recipients: leaves
                        .iter()
                        .zip(&p.leaves)
                        .map(|(l, &pos)| BatchRcpt {
                            index: pos,
                            address: match &l.action {
                                Action::Deliver { address, .. } => address.clone(),
                                Action::Settled { .. } => l.display.clone(),
                            },
                            notify: l.notify,
                            orcpt: l.orcpt.clone(),
                        })
                        .collect(),
                    message: rewritten.as_deref().unwrap_or(content),
                    tries: journal.attempts,
                };
                let started = Instant::now();
                let mut outcomes = match &table_error {
                    None => self.agents.deliver(&p.hop, batch).await,
                    Some(e) => vec![
                        Outcome::Deferred {
                            status: EnhancedStatus::new(4, 3, 0),
                            reply: Said::Text(format!("Temporary system failure: {e}")),
                            relay: None,
                        };
                        leaves.len()
                    ],
                };
                let xdelay = started.elapsed().as_secs();
                if outcomes.len() != leaves.len() {
                    let n = outcomes.len();
                    outcomes.truncate(leaves.len());
                    outcomes.resize(
                        leaves.len(),
                        Outcome::Deferred {
                            status: EnhancedStatus::new(4, 3, 0),
                            reply: Said::Text(format!(
                                "delivery agent returned {n} results for {} recipients",
                                leaves.len()
                            )),
                            relay: None,
                        },
                    );
                }
                self.destinations
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .release(&p.hop, host_result(&outcomes), now);
                self.connections_metric(&p.hop);
                if let Some(h) = &p.hop.host {
                    self.note_host(h, &outcomes, now);
                }
                attempted = true;
                let mut entries = Vec::new();
                for (l, o) in leaves.iter().zip(&outcomes) {
                    let latency = delay as f64 + started.elapsed().as_secs_f64();
                    count_outcome(listener, &p.hop.mailer, Some(&p.hop), o, latency);
                    log.push(Self::to_line(
                        l,
                        &p.hop.mailer,
                        o,
                        pri,
                        (delay + xdelay, xdelay),
                        plan.filter.as_deref(),
                    ));
                    entries.push(Entry::Rcpt {
                        key: l.key.clone(),
                        status: rcpt_status(o, now),
                    });
                }
                for e in entries {
                    journal.apply(&e);
                    unwritten.push(e);
                }
            }
        }

        let infos = plan::infos(&env, &journal, &site.hostname);
        let pending: Vec<&plan::RcptInfo> =
            infos.iter().filter(|i| !journal.is_final(&i.key)).collect();
        let mut tail = Vec::new();
        if attempted && !pending.is_empty() {
            let next = timing.next_attempt(env.arrival, journal.attempts + 1, now);
            tail.push(Entry::Attempt { time: now, next });
            later = Some(later.map_or(next, |t| t.min(next)));
        }
        // The delay warning.
        if !pending.is_empty() && timing.warn_due(env.arrival, journal.warned, now) {
            let mut groups: BTreeMap<String, Vec<dsn::Recipient>> = BTreeMap::new();
            for i in &pending {
                if i.sender.is_empty() || !dsn::notify_allows(i.notify, dsn::Kind::Delay) {
                    continue;
                }
                groups.entry(i.sender.clone()).or_default().push(dsn_rcpt(
                    i,
                    journal.rcpts.get(&i.key),
                    now,
                ));
            }
            for (to, rcpts) in groups {
                log.flush();
                self.commit_dsn(
                    &site,
                    id,
                    &env,
                    content,
                    dsn::Kind::Delay,
                    DsnFor::Sender(&to),
                    &rcpts,
                    now,
                    &timing,
                )?;
            }
            tail.push(Entry::Warned(now));
        }
        for e in tail {
            journal.apply(&e);
            unwritten.push(e);
        }

        // Reports for final recipients.
        let mut reported = Vec::new();
        let mut unsaved: Vec<String> = Vec::new();
        let mut groups: BTreeMap<(u8, String), Vec<dsn::Recipient>> = BTreeMap::new();
        for i in &infos {
            let Some(st) = journal.rcpts.get(&i.key) else {
                continue;
            };
            if !st.kind.is_final() || journal.reported.contains(&i.key) {
                continue;
            }
            reported.push(i.key.clone());
            let kind = if st.kind == Kind::Delivered {
                dsn::Kind::Success
            } else {
                dsn::Kind::Failure
            };
            if !dsn::notify_allows(i.notify, kind) {
                continue;
            }
            // confPRIVACY_FLAGS noreceipts: no success reports,
            // whatever NOTIFY asked (sendmail's PRIV_NORECEIPTS).
            if kind == dsn::Kind::Success && site.settings.privacy.no_receipts {
                continue;
            }
            let (tag, to) = if !i.sender.is_empty() {
                (
                    if kind == dsn::Kind::Success { 1 } else { 0 },
                    i.sender.clone(),
                )
            } else if kind == dsn::Kind::Success {
                continue;
            } else if env.fact("dsn-kind") == Some("double-bounce") {
                // Nobody is left to tell: sendmail's savemail() tries the
                // dead-letter file, then keeps the message (see `savemail`).
                reported.pop();
                unsaved.push(i.key.clone());
                continue;
            } else {
                let to = site.settings.double_bounce_address.clone();
                if to.is_empty() {
                    log.push(format!("to=<{}>, dsn={}, stat=bounce of a bounce dropped (confDOUBLE_BOUNCE_ADDRESS is empty)", i.display, st.dsn));
                    continue;
                }
                (2, to)
            };
            groups
                .entry((tag, to))
                .or_default()
                .push(dsn_rcpt(i, Some(st), now));
        }
        if !unsaved.is_empty() {
            log.flush();
            if self.savemail(&site, id, &env, content, &mut log) {
                reported.append(&mut unsaved);
            }
        }
        for ((tag, to), rcpts) in groups {
            log.flush();
            let (kind, target) = match tag {
                1 => (dsn::Kind::Success, DsnFor::Sender(&to)),
                2 => (dsn::Kind::Failure, DsnFor::Postmaster(&to)),
                _ => (dsn::Kind::Failure, DsnFor::Sender(&to)),
            };
            self.commit_dsn(&site, id, &env, content, kind, target, &rcpts, now, &timing)?;
        }
        if !reported.is_empty() {
            let e = Entry::Reported(reported);
            journal.apply(&e);
            unwritten.push(e);
        }
        let done = infos
            .iter()
            .all(|i| journal.is_final(&i.key) && journal.reported.contains(&i.key));
        if done {
            // Nothing left to remember: remove the message (a crash before
            // the removal reaches the disk delivers it again — at least
            // once, never lost); its file may serve a new message.
            // On the blocking pool, awaited: the rename into `tmp/` (or
            // the unlink of a file not kept for a later message) takes
            // ~40 µs of directory work on ext4, time every session and
            // delivery on this thread would wait (docs/benchmarks.md, "The
            // removal of a delivered message"). The pass ends only after
            // it, so no scan offers the message again meanwhile.
            let host = Arc::clone(&self.host);
            let key = id.clone();
            blocking::unblock(move || {
                if let Some(path) = host.spool().release(State::Queue, &key)? {
                    // Not kept for a later message (large, or the pool full).
                    spool::remove_delivered(&path)?;
                }
                if journaled {
                    status::remove_journal(&root, &key)?;
                }
                Ok::<_, spool::Error>(())
            })
            .await?;
            return Ok(Processed::Removed);
        }
        if !unsaved.is_empty() {
            // Kept, not dropped: the failed results of the double bounce are
            // not recorded, so `mxgate queue release` after fixing
            // postmaster's route tries those recipients again.
            unwritten.retain(|e| !matches!(e, Entry::Rcpt { key, .. } if unsaved.contains(key)));
            Journal::append(&root, id, &unwritten)?;
            spool::move_message(&root, State::Queue, State::Hold, id)?;
            return Ok(Processed::Held);
        }
        // Still queued: record this pass in one append (one fsync, on the
        // blocking pool: a host that defers a thousand messages must not
        // hold the executor in fsync).
        if !unwritten.is_empty() {
            let key = id.clone();
            blocking::unblock(move || Journal::append(&root, &key, &unwritten)).await?;
        }
        if let (Blocking::On(host, until), false, false) = (blocked, waited, attempted) {
            return Ok(Processed::Blocked { host, until });
        }
        Ok(Processed::Later(later.unwrap_or_else(|| {
            if journal.next_attempt > now {
                journal.next_attempt
            } else {
                now + timing.retry_delay(journal.attempts.max(1))
            }
        })))
    }

    /// A double bounce could not be delivered: sendmail's `savemail()`
    /// after its postmaster step. Append the message to
    /// `confDEAD_LETTER_DROP` when set (`Saved message in FILE`, true);
    /// otherwise, or when that fails, log sendmail's `SYSERR(root):
    /// savemail: cannot save rejected email anywhere` and return false: the
    /// caller keeps the message in `hold/` (sendmail leaves its queue file,
    /// renamed `Qf`), visible in `mailq`, never dropped.
    fn savemail(
        &self,
        site: &Site,
        id: &QueueId,
        env: &Envelope,
        content: &[u8],
        log: &mut PassLog<'_>,
    ) -> bool {
        let why = match &site.settings.dead_letter_drop {
            Some(path) => {
                match crate::deliver::local::append_mbox(path, "", env.arrival, content) {
                    Ok(()) => {
                        log.push(format!("Saved message in {}", path.display()));
                        log.flush();
                        return true;
                    }
                    Err(e) => format!("{}: {e}", path.display()),
                }
            }
            None => "no confDEAD_LETTER_DROP".to_string(),
        };
        self.host.log().line(
            Some(id.as_str()),
            &format!(
                "SYSERR(root): savemail: cannot save rejected email anywhere ({why}); the double bounce is kept in hold/ (mxgate queue release {id} after fixing postmaster's route)"
            ),
        );
        false
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_dsn(
        &self,
        site: &Site,
        id: &QueueId,
        env: &Envelope,
        content: &[u8],
        kind: dsn::Kind,
        target: DsnFor<'_>,
        rcpts: &[dsn::Recipient],
        now: u64,
        timing: &Timing,
    ) -> Result<QueueId, spool::Error> {
        let (to, fact) = match target {
            DsnFor::Sender(t) => (
                t,
                match kind {
                    dsn::Kind::Failure => "bounce",
                    dsn::Kind::Delay => "delay",
                    dsn::Kind::Success => "success",
                },
            ),
            DsnFor::Postmaster(t) => (t, "double-bounce"),
        };
        let to = if to.contains('@') {
            to.to_string()
        } else {
            format!("{to}@{}", site.hostname)
        };
        let from = match (env.fact("client-name"), env.fact("client-addr")) {
            (Some(n), Some(a)) => Some(format!("{n} [{a}]")),
            (None, Some(a)) => Some(format!("[{a}]")),
            _ => None,
        };
        let warn_words = dsn::duration_words(timing.warn_after);
        let report = dsn::Report {
            kind,
            hostname: &site.hostname,
            to: &to,
            queue_id: id.as_str(),
            envid: env.fact("envid"),
            received_from: from.as_deref(),
            arrival: env.arrival,
            now,
            retry_until: Some(env.arrival.saturating_add(timing.return_after)),
            warn_after: &warn_words,
            recipients: rcpts,
            // confPRIVACY_FLAGS nobodyreturn: the header only,
            // whatever RET= asked (sendmail's PRIV_NOBODYRETN).
            ret: if site.settings.privacy.no_body_return {
                dsn::Return::Headers
            } else {
                dsn::Return::from_param(env.fact("ret"))
            },
            original: content,
        };
        let bytes = dsn::compose(&report);
        let mut e = Envelope::new("<>");
        e.arrival = now;
        e.recipients.push(Recipient::new(&format!("<{to}>")));
        e.facts.push(("dsn-kind".into(), fact.into()));
        e.facts.push(("dsn-of".into(), id.to_string()));
        let spool = self.host.spool();
        let mut w = spool.create(&e)?;
        w.write(&bytes)?;
        let nid = commit_new(w, self.handoff.get())?;
        let why = rcpts.first().map(|r| r.diagnostic.as_str()).unwrap_or("");
        self.host.log().line(
            Some(id.as_str()),
            &format!(
                "{nid}: DSN: {}",
                match kind {
                    dsn::Kind::Delay =>
                        format!("Warning: could not send message for past {warn_words}"),
                    dsn::Kind::Success => "Return receipt".to_string(),
                    dsn::Kind::Failure => why.replace(['\r', '\n'], " "),
                }
            ),
        );
        Ok(nid)
    }
}

/// Who a DSN goes to.
#[derive(Debug, Clone, Copy)]
enum DsnFor<'a> {
    /// The (list-owner or original) sender.
    Sender(&'a str),
    /// The double-bounce address.
    Postmaster(&'a str),
}

/// The `4.4.7` failure of a recipient still pending at `confTO_QUEUERETURN`.
fn expire(journal: &Journal, key: &str, timing: &Timing) -> Outcome {
    let last = journal
        .rcpts
        .get(key)
        .map(|s| s.text.clone())
        .unwrap_or_default();
    Outcome::Failed {
        status: EnhancedStatus::new(4, 4, 7),
        reply: Said::Text(format!(
            "Message could not be delivered for {}{}",
            dsn::duration_words(timing.return_after),
            if last.is_empty() {
                String::new()
            } else {
                format!(" (Deferred: {last})")
            }
        )),
        relay: None,
    }
}

fn dsn_rcpt(i: &plan::RcptInfo, st: Option<&RcptStatus>, now: u64) -> dsn::Recipient {
    dsn::Recipient {
        original: i.orcpt.clone(),
        address: i.display.clone(),
        status: st.map(|s| s.dsn.clone()).unwrap_or_else(|| "4.0.0".into()),
        remote_mta: st
            .and_then(|s| s.relay.clone())
            .filter(|r| r != "local")
            .map(|r| {
                r.split(' ')
                    .next()
                    .unwrap_or(&r)
                    .trim_end_matches('.')
                    .to_string()
            }),
        diagnostic: st.map(|s| s.text.clone()).unwrap_or_default(),
        last_attempt: st.map_or(now, |s| s.time),
    }
}

/// How the runner threads are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// Worker threads (messages in progress at once).
    pub workers: usize,
    /// Full rescans of the queue (re-reading every journal), seconds.
    pub full_scan: u64,
}

/// At most this many next-attempt times are kept in memory (about 130
/// bytes each with the map's slack, as measured: 13–14 MiB for 100,000).
/// A message beyond it whose journal has no next attempt (one never tried
/// because its destination is backed off) is found due by every scan and
/// read again each time, so the cache holds a queue of two million whole.
pub const CACHE_MAX: usize = 2_000_000;

/// The log lines of one delivery pass, held until the pass is recorded (the
/// journal append, or the removal of a finished message) and written when
/// this is dropped -- after the record, also on an error return. So a
/// `stat=Sent` line means the delivery will not be repeated after a crash.
/// A DSN's own log lines follow the recipients' lines: those are written
/// first ([`PassLog::flush`]).
struct PassLog<'a> {
    log: &'a Log,
    id: &'a QueueId,
    lines: Vec<String>,
}

impl<'a> PassLog<'a> {
    fn new(log: &'a Log, id: &'a QueueId) -> PassLog<'a> {
        PassLog {
            log,
            id,
            lines: Vec::new(),
        }
    }

    fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    fn flush(&mut self) {
        for l in self.lines.drain(..) {
            self.log.line(Some(self.id.as_str()), &l);
        }
    }
}

impl Drop for PassLog<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The running queue; dropping it stops the scanner (workers finish their message).
pub struct Runner {
    stop: Arc<AtomicBool>,
    /// Worker threads still running.
    alive: Arc<AtomicUsize>,
    handoff: Handoff,
    /// Scans of `queue/` made so far.
    scans: Arc<AtomicU64>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Runner {
    /// Where messages committed in this process go to a worker at once.
    pub fn handoff(&self) -> Handoff {
        self.handoff.clone()
    }

    /// Scans of `queue/` made so far (also `mxgate_queue_scan_seconds`).
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::SeqCst)
    }

    /// Ask the threads to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stop, and wait up to `limit` for the workers to finish the messages
    /// they are delivering, so that a delivery acknowledged by the next hop is
    /// also recorded before the process exits (no duplicate after a restart).
    /// Returns the number of workers still busy when the limit was reached.
    pub fn shutdown(&self, limit: Duration) -> usize {
        self.stop();
        let until = Instant::now() + limit;
        while self.alive.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.alive.load(Ordering::SeqCst)
    }
}

/// The threads of their own that run the delivery tasks. On two cores or
/// fewer, none: the tasks run on smol's global executor, the daemon's SMTP
/// session thread. Each wait of a task on a thread of its own is then
/// woken by the thread that polls the sockets (a futex wake and two task
/// switches), which on two cores cost more than the second thread gave
/// (docs/benchmarks.md, "One thread for sessions and deliveries"). With
/// more cores: one thread per core (at least two, so one waiting on an
/// fsync leaves another running; at most eight), never more than there
/// are workers.
fn delivery_threads(workers: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    if cores <= 2 {
        return 0;
    }
    cores.clamp(2, 8).min(workers.max(1))
}

impl Queue {
    /// Remember when a processed message is due again (`None`: it left the
    /// queue); an error is logged and retried in a minute.
    fn settle(
        &self,
        id: &QueueId,
        now: u64,
        result: Result<Processed, spool::Error>,
        cache: &Mutex<HashMap<QueueId, Cached>>,
    ) -> Option<u64> {
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(Processed::Removed | Processed::Gone | Processed::Held) => {
                c.remove(id);
                None
            }
            Ok(Processed::Later(t)) => {
                if c.len() < CACHE_MAX || c.contains_key(id) {
                    c.insert(
                        id.clone(),
                        Cached {
                            next: t,
                            host: None,
                        },
                    );
                }
                Some(t)
            }
            Ok(Processed::Blocked { host, until }) => {
                if c.len() < CACHE_MAX || c.contains_key(id) {
                    let host = Some(self.intern(&host));
                    c.insert(id.clone(), Cached { next: until, host });
                }
                Some(until)
            }
            Err(e) => {
                self.host
                    .log()
                    .line(Some(id.as_str()), &format!("SYSERR: queue run: {e}"));
                c.insert(
                    id.clone(),
                    Cached {
                        next: now + 60,
                        host: None,
                    },
                );
                Some(now + 60)
            }
        }
    }
}

/// Counts a worker task as alive until it returns (or unwinds).
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Cached {
    next: u64,
    /// The backed-off host the message waits for (see [`Processed::Blocked`]).
    host: Option<Arc<str>>,
}

/// Start the scanner and workers (see the module doc).
pub fn start(queue: Arc<Queue>, settings: RunSettings) -> Runner {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = async_channel::bounded::<QueueId>(settings.workers.max(1));
    let inflight: Arc<Mutex<HashSet<QueueId>>> = Arc::default();
    let handoff = Handoff {
        tx: tx.clone(),
        inflight: inflight.clone(),
        missed: Arc::default(),
    };
    // (a queue is started once; a second start would keep the first's)
    let _ = queue.handoff.set(handoff.clone());
    let cache: Arc<Mutex<HashMap<QueueId, Cached>>> = Arc::default();
    let alive = Arc::new(AtomicUsize::new(0));
    // The earliest next attempt of any message not yet handed out (see
    // `Quiet`): the scan sets it, workers lower it when a message stays.
    let earliest = Arc::new(AtomicU64::new(0));
    // Each worker is a task; `finished` closes when the last one returns,
    // and the executor's threads leave with it.
    let (done, finished) = async_channel::bounded::<()>(1);
    let mut tasks = Vec::new();
    for _ in 0..settings.workers.max(1) {
        let (q, rx, inflight, cache) = (queue.clone(), rx.clone(), inflight.clone(), cache.clone());
        let earliest = earliest.clone();
        alive.fetch_add(1, Ordering::SeqCst);
        let (stop, guard, done) = (stop.clone(), Alive(alive.clone()), done.clone());
        tasks.push(async move {
            let _alive = (guard, done);
            while let Ok(id) = rx.recv().await {
                // Stopping: leave what is still in the channel for the next start.
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let now = unix_now();
                let result = q.process(&id, now).await;
                let stays = q.settle(&id, now, result, &cache);
                inflight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                // After the removal from `inflight`: a scan that starts
                // later sees the message itself; one that started earlier
                // and skipped it as in flight is covered by this.
                if let Some(t) = stays {
                    earliest.fetch_min(t, Ordering::SeqCst);
                }
            }
        });
    }
    drop(done);
    let threads = delivery_threads(settings.workers);
    if threads == 0 {
        // smol's global executor: in the daemon, the thread that runs the
        // SMTP sessions and polls their sockets.
        for t in tasks {
            smol::spawn(t).detach();
        }
    } else {
        let ex = Arc::new(smol::Executor::<'static>::new());
        for t in tasks {
            ex.spawn(t).detach();
        }
        for n in 0..threads {
            let (ex, finished) = (ex.clone(), finished.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("delivery-{n}"))
                .spawn(move || smol::block_on(ex.run(finished.recv())));
            if let Err(e) = spawned {
                queue
                    .host
                    .log()
                    .line(None, &format!("SYSERR: delivery thread: {e}"));
            }
        }
    }
    let flag = stop.clone();
    let missed = handoff.missed.clone();
    let scans = Arc::new(AtomicU64::new(0));
    let counted = scans.clone();
    std::thread::spawn(move || {
        let root = queue.host.spool().root().to_path_buf();
        let mut last_full = 0u64;
        let mut last_marker: Option<SystemTime> = None;
        let mut last_flush: Option<SystemTime> = None;
        let mut quiet: Option<Quiet> = None;
        let mut scanned: Option<Scanned> = None;
        let queue_dir = root.join(State::Queue.dir());
        let arrived_marker = status::arrived_marker(&root);
        while !flag.load(Ordering::SeqCst) {
            let started = Instant::now();
            let now = unix_now();
            let marker = status::changed_marker(&root);
            let marked = std::fs::metadata(&marker).and_then(|m| m.modified()).ok();
            let full = now.saturating_sub(last_full) >= settings.full_scan || marked != last_marker;
            last_marker = marked;
            let flushed = std::fs::metadata(status::flush_marker(&root))
                .and_then(|m| m.modified())
                .ok();
            if flushed != last_flush {
                // (at start-up there is no backoff to forget)
                queue.forget_host_backoff();
                last_flush = flushed;
            }
            if full {
                last_full = now;
                if let Ok(n) = status::sweep_orphans(&root)
                    && n > 0
                {
                    queue.host.log().line(
                        None,
                        &format!("removed {n} journal(s) of finished messages"),
                    );
                }
            }
            let dir_mtime = std::fs::metadata(&queue_dir)
                .and_then(|m| m.modified())
                .ok();
            let arrived = std::fs::read(&arrived_marker).ok();
            let unchanged = quiet.as_ref().is_some_and(|q| q.still(dir_mtime))
                || scanned
                    .as_ref()
                    .is_some_and(|s| s.accounts_for(missed.load(Ordering::SeqCst), &arrived));
            if !full && unchanged && now < earliest.load(Ordering::SeqCst) {
                // Nothing new in queue/, or only what was handed to a
                // worker, and nothing due: no directory scan (a deferred
                // queue of hundreds of thousands costs nothing between its
                // retry times, nor while new mail arrives).
                pause(&flag, Duration::from_secs(1));
                continue;
            }
            let scan_wall = SystemTime::now();
            let before = Scanned {
                at: Instant::now(),
                missed: missed.load(Ordering::SeqCst),
                arrived,
            };
            earliest.store(u64::MAX, Ordering::SeqCst);
            let pass = scan(&queue, &root, &tx, &inflight, &cache, &flag, full);
            crate::metrics::global().observe(
                crate::metrics::QUEUE_SCAN,
                &[],
                started.elapsed().as_secs_f64(),
            );
            earliest.fetch_min(pass.earliest, Ordering::SeqCst);
            quiet = Quiet::after(dir_mtime, scan_wall, pass.complete);
            scanned = pass.complete.then_some(before);
            scans.fetch_add(1, Ordering::SeqCst);
            let cost = started.elapsed().saturating_sub(pass.waited);
            match after_scan(pass.dispatched, cost) {
                Some(wait) => pause(&flag, wait),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        tx.close();
    });
    Runner {
        stop,
        alive,
        handoff,
        scans: counted,
    }
}

/// A scan whose own cost (its duration less its waits for a free worker)
/// stays under this and that found mail due is repeated at once (after
/// 20 ms); a costlier one is paced by its cost (see [`after_scan`]).
const BRISK_SCAN: Duration = Duration::from_millis(250);

/// How long the scanner rests after a scan that handed `dispatched`
/// messages to the workers and cost `cost` of its own: `None` to look
/// again at once (after 20 ms).
///
/// A cheap scan that found mail due is repeated at once, so a busy small
/// queue is worked at the workers' pace, not one scan per second (however
/// long it waited for free workers). A scan of a huge queue is paced by its
/// own cost, four times it, at least a second and never more than 5 s,
/// even when it found much mail due: it handed over everything due that
/// it met (waiting for free workers as it went, which is not its cost),
/// so what the next scan finds is only what arrived or came due since.
/// Repeating such a scan at once while new mail keeps arriving walked a
/// directory of a million entries back to back (the scanner took most of
/// a core while a million messages were being accepted).
fn after_scan(dispatched: usize, cost: Duration) -> Option<Duration> {
    if dispatched > 0 && cost < BRISK_SCAN {
        return None;
    }
    Some(
        (cost * 4)
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(5)),
    )
}

/// Sleep `wait` in steps of 100 ms, or less if `stop` is set.
fn pause(stop: &AtomicBool, wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a complete scan of `queue/` saw, for skipping the next one: the
/// directory's modification time, trusted only when it was at least a
/// second older than the scan's start (a rename in the same clock tick as
/// the scan would not change it).
struct Quiet {
    mtime: SystemTime,
}

impl Quiet {
    fn after(mtime: Option<SystemTime>, scan_start: SystemTime, complete: bool) -> Option<Quiet> {
        let mtime = mtime?;
        let settled = scan_start
            .duration_since(mtime)
            .is_ok_and(|d| d >= Duration::from_secs(1));
        (complete && settled).then_some(Quiet { mtime })
    }

    /// Is `queue/` as the scan saw it (no message added or removed since)?
    fn still(&self, mtime: Option<SystemTime>) -> bool {
        mtime == Some(self.mtime)
    }
}

/// A complete scan of `queue/`, for trusting the hand-offs since its
/// start: every message committed since then either went to a worker
/// ([`Handoff::offer`]) or is announced (a missed offer, a touch of
/// `status/.arrived` by another process).
struct Scanned {
    at: Instant,
    /// [`Handoff`]'s missed offers when the scan started.
    missed: u64,
    /// `status/.arrived`'s content when the scan started.
    arrived: Option<Vec<u8>>,
}

/// However well the hand-offs account for new mail, `queue/` is scanned at
/// least this often while it changes, for a message that came by another
/// way (a file moved in by hand): found within a minute, as Postfix's
/// `pickup` scans its `maildrop` directory every 60 s.
const UNANNOUNCED: Duration = Duration::from_secs(60);

impl Scanned {
    /// Does this scan still see every message in `queue/` not in a worker's
    /// hands, given the missed offers and the `.arrived` marker now?
    fn accounts_for(&self, missed: u64, arrived: &Option<Vec<u8>>) -> bool {
        self.missed == missed && &self.arrived == arrived && self.at.elapsed() < UNANNOUNCED
    }
}

/// What one pass of [`scan`] did.
struct Pass {
    /// Messages handed to the workers.
    dispatched: usize,
    /// The earliest next attempt among the messages left in the queue.
    earliest: u64,
    /// Whether every entry was looked at (no stop, no error).
    complete: bool,
    /// Time spent waiting for a free worker (part of the scan's duration
    /// that is not its own cost).
    waited: Duration,
}

/// Hand every due message to the workers; returns how many were handed over.
fn scan(
    queue: &Queue,
    root: &Path,
    tx: &async_channel::Sender<QueueId>,
    inflight: &Mutex<HashSet<QueueId>>,
    cache: &Mutex<HashMap<QueueId, Cached>>,
    stop: &AtomicBool,
    full: bool,
) -> Pass {
    let mut pass = Pass {
        dispatched: 0,
        earliest: u64::MAX,
        complete: false,
        waited: Duration::ZERO,
    };
    let dir = root.join(State::Queue.dir());
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) => {
            queue
                .host
                .log()
                .line(None, &format!("SYSERR: {}: {e}", dir.display()));
            return pass;
        }
    };
    for e in rd {
        let Ok(e) = e else {
            return pass;
        };
        if stop.load(Ordering::SeqCst) {
            return pass;
        }
        let Some(id) = e.file_name().to_str().and_then(QueueId::parse) else {
            continue;
        };
        if inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
        {
            continue;
        }
        let now = unix_now();
        let entry = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map(|x| (x.next, x.host.clone()));
        // A message that waits for a backed-off host is not read again
        // while the host stays backed off, by any scan: a queue of a million
        // for one dead destination costs nothing until its backoff ends
        // (an operator's flush forgets the backoff first).
        if let Some((_, Some(host))) = &entry {
            let until = queue
                .destinations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .backoff_of(host)
                .map(|(u, _)| u);
            if let Some(u) = until.filter(|&u| u > now) {
                pass.earliest = pass.earliest.min(u);
                continue;
            }
        }
        // Between full scans the cache is trusted without a `stat`: journals
        // change only through our own workers (which update the cache) or the
        // queue tools (which touch the `status/.changed` marker, and that
        // makes the next scan a full one).
        let cached = if full { None } else { entry.map(|(n, _)| n) };
        let next = match cached {
            Some(n) => n,
            None => match Journal::load(root, &id) {
                Ok(j) => {
                    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
                    if c.len() < CACHE_MAX || c.contains_key(&id) {
                        c.insert(
                            id.clone(),
                            Cached {
                                next: j.next_attempt,
                                host: None,
                            },
                        );
                    }
                    j.next_attempt
                }
                Err(_) => now,
            },
        };
        if next > now {
            pass.earliest = pass.earliest.min(next);
            continue;
        }
        inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone());
        let sent = match tx.try_send(id) {
            Err(async_channel::TrySendError::Full(id)) => {
                let t0 = Instant::now();
                let sent = tx.send_blocking(id);
                pass.waited += t0.elapsed();
                sent.is_ok()
            }
            r => r.is_ok(),
        };
        if !sent {
            return pass;
        }
        pass.dispatched += 1;
    }
    pass.complete = true;
    pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_cheap_scan_that_found_mail_is_repeated_and_a_costly_one_is_paced() {
        let ms = Duration::from_millis;
        // A small busy queue: at once, however many it handed over.
        assert_eq!(after_scan(3, ms(5)), None);
        assert_eq!(after_scan(4000, ms(200)), None);
        // Nothing due: rest at least a second.
        assert_eq!(after_scan(0, ms(5)), Some(ms(1000)));
        // A million entries walked while mail keeps arriving: paced by the
        // scan's own cost even though it handed over many messages.
        assert_eq!(after_scan(900, ms(700)), Some(ms(2800)));
        assert_eq!(after_scan(900, ms(3000)), Some(ms(5000)));
    }
    use crate::deliver::NextHop;
    use crate::deliver::Reply;
    use crate::queue::agents::Delivery;
    use crate::spool::envelope::{Forward, parse_notify};
    use crate::table::{MemTable, TableRef};

    /// Small messages never wait for the budget; a large one waits until
    /// the share before it is given back.
    #[test]
    fn the_memory_budget_holds_large_messages_back_and_never_small_ones() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let budget = Arc::new(Budget::new(10 * 1024 * 1024));
        let first = smol::block_on(budget.take(8 * 1024 * 1024));
        assert_eq!(first.bytes, 10 * 1024 * 1024, "a large one takes it all");
        let small = smol::block_on(budget.take(4096));
        assert_eq!(small.bytes, 0, "a small one does not wait");
        let released = Arc::new(AtomicBool::new(false));
        let (b, r) = (budget.clone(), released.clone());
        let waiter = std::thread::spawn(move || {
            let second = smol::block_on(b.take(6 * 1024 * 1024));
            assert!(r.load(Ordering::SeqCst), "it waited for the first share");
            second.bytes
        });
        std::thread::sleep(Duration::from_millis(100));
        released.store(true, Ordering::SeqCst);
        drop(first);
        assert_eq!(waiter.join().unwrap(), 10 * 1024 * 1024);
    }

    struct TestHost {
        site: Arc<Site>,
        spool: Spool,
        log: Log,
    }

    impl Host for TestHost {
        fn site(&self) -> Arc<Site> {
            self.site.clone()
        }
        fn spool(&self) -> &Spool {
            &self.spool
        }
        fn log(&self) -> &Log {
            &self.log
        }
    }

    /// A unit-test double for scheduling logic: scripted outcomes per host.
    #[derive(Default)]
    struct Scripted {
        /// host → outcome kind: "ok", "defer", "fail", "421".
        script: Mutex<HashMap<String, &'static str>>,
        /// (hop, sender, addresses) per call.
        calls: Mutex<Vec<(NextHop, String, Vec<String>)>>,
        /// Deliveries in progress, and the most at once.
        open: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Agents for Scripted {
        fn deliver<'a>(&'a self, hop: &'a NextHop, batch: Batch<'a>) -> Delivery<'a> {
            let host = hop.host.clone().unwrap_or_else(|| "local".into());
            let what = *self.script.lock().unwrap().get(&host).unwrap_or(&"ok");
            self.calls.lock().unwrap().push((
                hop.clone(),
                batch.sender.clone(),
                batch.recipients.iter().map(|r| r.address.clone()).collect(),
            ));
            let out = batch
                .recipients
                .iter()
                .map(|r| match what {
                    "ok" | "slow" => Outcome::Delivered {
                        reply: Said::Reply(Reply::new(250, EnhancedStatus::new(2, 0, 0), "Ok")),
                        relay: format!("{host}. [192.0.2.1]"),
                    },
                    "defer" => Outcome::Deferred {
                        status: EnhancedStatus::new(4, 2, 0),
                        reply: Said::Reply(Reply::new(
                            450,
                            EnhancedStatus::new(4, 2, 0),
                            format!("<{}>... try later", r.address),
                        )),
                        relay: Some(host.clone()),
                    },
                    "421" => Outcome::Deferred {
                        status: EnhancedStatus::new(4, 4, 1),
                        reply: Said::Text(format!("Connection refused by {host}")),
                        relay: None,
                    },
                    // What the SMTP agent says of a refused connection: no
                    // reply, but the address it tried as the relay.
                    "refused" => Outcome::Deferred {
                        status: EnhancedStatus::new(4, 4, 1),
                        reply: Said::Text(format!("Connection refused by {host}.")),
                        relay: Some(format!("{host}. [192.0.2.1]")),
                    },
                    _ => Outcome::Failed {
                        status: EnhancedStatus::new(5, 1, 1),
                        reply: Said::Reply(Reply::new(
                            550,
                            EnhancedStatus::new(5, 1, 1),
                            format!("<{}>... User unknown", r.address),
                        )),
                        relay: Some(host.clone()),
                    },
                })
                .collect();
            Box::pin(async move {
                let n = self.open.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(n, Ordering::SeqCst);
                if what == "slow" {
                    async_io::Timer::after(Duration::from_millis(50)).await;
                }
                self.open.fetch_sub(1, Ordering::SeqCst);
                out
            })
        }
    }

    const T0: u64 = 1_800_000_000;

    fn setup(dir: &Path, extra: &[(&str, &str)]) -> (Arc<TestHost>, Arc<Scripted>, Queue) {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        c.classes.insert("w".into(), vec!["example.com".into()]);
        for (k, v) in extra {
            c.options.insert((*k).into(), (*v).into());
        }
        let mut tables: std::collections::BTreeMap<String, TableRef> = Default::default();
        tables.insert(
            "aliases".into(),
            Arc::new(MemTable::from_lines(
                "list a@one.example, b@two.example, c@one.example\nowner-list boss@one.example\n",
            )),
        );
        let site = Arc::new(Site::from_parts(c, tables).unwrap());
        let host = Arc::new(TestHost {
            site,
            spool: Spool::open(dir, Durability::Unsafe).unwrap(),
            log: Log::file("gw", &dir.join("maillog")).unwrap(),
        });
        let agents = Arc::new(Scripted::default());
        let q = Queue::new(host.clone(), agents.clone(), 2);
        (host, agents, q)
    }

    use crate::spool::Durability;

    fn enqueue(h: &TestHost, sender: &str, rcpts: &[&str], facts: &[(&str, &str)]) -> QueueId {
        let mut e = Envelope::new(sender);
        e.arrival = T0;
        for r in rcpts {
            e.recipients.push(Recipient::new(r));
        }
        for (k, v) in facts {
            e.facts.push(((*k).into(), (*v).into()));
        }
        let mut w = h.spool.create(&e).unwrap();
        w.write(b"Subject: test\r\n\r\nbody\r\n").unwrap();
        w.commit(State::Queue).unwrap()
    }

    /// [`enqueue`] from `<s@src.example>` with each recipient's NOTIFY and
    /// ORCPT, and `body` after a `Subject: t` header.
    fn enqueue_notify(h: &TestHost, rcpts: &[(&str, &str, Option<&str>)], body: &[u8]) -> QueueId {
        let mut e = Envelope::new("<s@src.example>");
        e.arrival = T0;
        for (to, notify, orcpt) in rcpts {
            e.recipients.push(Recipient {
                address: Forward::parse(to),
                notify: parse_notify(notify),
                orcpt: orcpt.map(str::to_string),
            });
        }
        let mut w = h.spool.create(&e).unwrap();
        w.write(b"Subject: t\r\n\r\n").unwrap();
        w.write(body).unwrap();
        w.commit(State::Queue).unwrap()
    }

    /// Wait (up to 30 s, half the scanner's backstop) for `done`.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < until, "still waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// New mail reaches a worker without a scan of `queue/`: handed over
    /// at its commit; a message committed by another process is announced
    /// by `status/.arrived`, which makes the scanner look at once (not
    /// after its one-minute backstop).
    #[test]
    fn new_mail_is_handed_to_a_worker_and_mail_from_elsewhere_is_announced() {
        let dir = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(dir.path(), &[]);
        let calls = || agents.calls.lock().unwrap().len();
        enqueue(&h, "<a@example.org>", &["<x@one.example>"], &[]);
        let settings = RunSettings {
            workers: 2,
            full_scan: 3600,
        };
        let runner = start(Arc::new(q), settings);
        wait_for("the first scan to deliver the queued message", || {
            calls() == 1 && runner.scans() >= 1
        });
        let scans = runner.scans();
        let mut e = Envelope::new("<a@example.org>");
        e.recipients.push(Recipient::new("<y@one.example>"));
        let mut w = h.spool.create(&e).unwrap();
        w.write(b"Subject: handed\r\n\r\nbody\r\n").unwrap();
        let id = w.commit_handed(State::Queue).unwrap();
        assert!(runner.handoff().offer(&id), "a worker is free");
        wait_for("the handed-over message", || calls() == 2);
        assert_eq!(runner.scans(), scans, "delivered without a scan");
        // `commit` touches status/.arrived itself.
        enqueue(&h, "<a@example.org>", &["<z@one.example>"], &[]);
        wait_for("the announced message", || calls() == 3);
        // (the scan that found it is counted when it ends)
        wait_for("the scan that found it", || runner.scans() > scans);
        wait_for("an empty queue", || {
            h.spool.list(State::Queue).unwrap().is_empty()
        });
        assert_eq!(runner.shutdown(Duration::from_secs(10)), 0);
    }

    fn queued(h: &TestHost) -> Vec<(QueueId, Envelope, Vec<u8>)> {
        h.spool
            .list(State::Queue)
            .unwrap()
            .into_iter()
            .map(|id| {
                let (e, c) = h.spool.read(State::Queue, &id).unwrap();
                (id, e, c)
            })
            .collect()
    }

    #[test]
    fn a_message_for_a_busy_destination_waits_for_a_slot_not_for_the_next_scan() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        // Two slots per destination (setup), four workers: two may wait.
        let q = q.with_workers(4);
        agents
            .script
            .lock()
            .unwrap()
            .insert("one.example".into(), "slow");
        let ids: Vec<QueueId> = (0..5)
            .map(|_| enqueue(&h, "s@example.com", &["a@one.example"], &[]))
            .collect();
        let ex = smol::LocalExecutor::new();
        let tasks: Vec<_> = ids.iter().map(|id| ex.spawn(q.process(id, T0))).collect();
        let results: Vec<Processed> = smol::block_on(ex.run(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }));
        let removed = results.iter().filter(|r| **r == Processed::Removed).count();
        assert_eq!(
            removed, 4,
            "two sent at once, two waited for their slots: {results:?}"
        );
        assert!(
            results.contains(&Processed::Later(T0)),
            "the fifth found the waiters full and goes back to the scanner: {results:?}"
        );
        assert_eq!(
            agents.peak.load(Ordering::SeqCst),
            2,
            "never more than the slots"
        );
        let dest = q.destinations.lock().unwrap();
        assert_eq!(dest.waiters(&agents.calls.lock().unwrap()[0].0), 0);
    }

    #[test]
    fn recipients_of_one_next_hop_share_a_transaction() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        let id = enqueue(
            &h,
            "<s@src.example>",
            &["<x@one.example>", "<y@two.example>", "<z@one.example>"],
            &[],
        );
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        let calls = agents.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0].0.host.as_deref(), Some("one.example"));
        assert_eq!(calls[0].2, vec!["x@one.example", "z@one.example"]);
        assert_eq!(calls[1].2, vec!["y@two.example"]);
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(
            log.contains("to=<x@one.example>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri="),
            "{log}"
        );
        assert!(log.contains(", relay=one.example. [192.0.2.1], dsn=2.0.0, stat=Sent (Ok)"));
        assert!(!status::path(d.path(), &id).exists(), "journal removed");
    }

    #[test]
    fn a_content_filter_gets_the_whole_envelope_as_received_in_one_transaction() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        let hop = "[127.0.0.1]:10024".to_string();
        agents.script.lock().unwrap().insert(hop.clone(), "defer");
        let mut rcpts: Vec<String> = vec!["<list@example.com>".into(), "<y@two.example>".into()];
        // More than SMTP_MAILER_MAXRCPTS' default: still one transaction.
        rcpts.extend((0..150).map(|i| format!("<u{i}@one.example>")));
        let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
        let id = enqueue(
            &h,
            "<s@src.example>",
            &rcpts,
            &[("filter", "smtp:[127.0.0.1]:10024")],
        );
        // The filter's 4xx keeps the message queued.
        assert!(matches!(
            q.process_blocking(&id, T0).unwrap(),
            Processed::Later(_)
        ));
        let calls = agents.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1, "one transaction");
        assert_eq!(calls[0].0.mailer, "esmtp");
        assert_eq!(calls[0].0.host.as_deref(), Some(hop.as_str()));
        assert_eq!(calls[0].1, "s@src.example");
        assert_eq!(calls[0].2.len(), 152);
        // Not aliased: the list goes to the filter as the client wrote it.
        assert_eq!(calls[0].2[0], "list@example.com");
        assert!(Journal::load(d.path(), &id).unwrap().expansions.is_empty());
        // 250 from the filter: delivered, and logged with the filter named.
        agents.script.lock().unwrap().insert(hop, "ok");
        assert_eq!(
            q.process_blocking(&id, T0 + 300).unwrap(),
            Processed::Removed
        );
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(
            log.contains(
                "to=<list@example.com>, delay=00:05:00, xdelay=00:00:00, mailer=esmtp, pri="
            ) && log.contains("filter=smtp:[127.0.0.1]:10024, dsn=2.0.0, stat=Sent (Ok)"),
            "{log}"
        );
    }

    #[test]
    fn a_content_filter_that_refuses_bounces_the_message() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("[127.0.0.1]:10024".into(), "fail");
        let id = enqueue(
            &h,
            "<s@src.example>",
            &["<x@one.example>"],
            &[("filter", "smtp:[127.0.0.1]:10024")],
        );
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        // The bounce to the sender is routed normally (it has no filter fact).
        let bounces = queued(&h);
        assert_eq!(bounces.len(), 1, "one DSN");
        assert_eq!(bounces[0].1.fact("filter"), None);
    }

    #[test]
    fn list_fans_out_with_owner_as_sender_and_is_expanded_once() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("two.example".into(), "defer");
        let id = enqueue(&h, "<s@src.example>", &["<list@example.com>"], &[]);
        let r = q.process_blocking(&id, T0).unwrap();
        assert_eq!(r, Processed::Later(T0 + 300));
        let calls = agents.calls.lock().unwrap().clone();
        assert_eq!(calls[0].1, "owner-list@gw.example.com");
        assert_eq!(calls[0].2, vec!["a@one.example", "c@one.example"]);
        let j = Journal::load(d.path(), &id).unwrap();
        assert_eq!(j.expansions["0"].targets.len(), 3);
        assert!(j.is_final("0.0") && !j.is_final("0.1"));
        // Next run: only the deferred child, from the recorded expansion.
        agents.calls.lock().unwrap().clear();
        agents
            .script
            .lock()
            .unwrap()
            .insert("two.example".into(), "ok");
        assert_eq!(
            q.process_blocking(&id, T0 + 300).unwrap(),
            Processed::Removed
        );
        let calls = agents.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].2, vec!["b@two.example"]);
    }

    /// A queue whose `down.example` answers 421, and the first message for
    /// it, whose pass at T0 backed the host off.
    fn with_host_down(dir: &Path) -> (Arc<TestHost>, Arc<Scripted>, Queue, QueueId) {
        with_host_saying(dir, "down.example", "421")
    }

    /// A queue whose first message, to `host`, got the scripted `answer`
    /// (a host-level deferral) at `T0`.
    fn with_host_saying(
        dir: &Path,
        host: &str,
        answer: &'static str,
    ) -> (Arc<TestHost>, Arc<Scripted>, Queue, QueueId) {
        let (h, agents, q) = setup(dir, &[]);
        agents.script.lock().unwrap().insert(host.into(), answer);
        let a = enqueue(&h, "<s@src.example>", &[&format!("<x@{host}>")], &[]);
        assert_eq!(
            q.process_blocking(&a, T0).unwrap(),
            Processed::Later(T0 + 300)
        );
        (h, agents, q, a)
    }

    #[test]
    fn a_refused_connection_naming_its_relay_still_backs_the_host_off() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q, _) = with_host_saying(d.path(), "dead.example", "refused");
        let b = enqueue(&h, "<s@src.example>", &["<y@dead.example>"], &[]);
        agents.calls.lock().unwrap().clear();
        assert_eq!(
            q.process_blocking(&b, T0 + 10).unwrap(),
            Processed::Blocked {
                host: "dead.example".into(),
                until: T0 + 60
            }
        );
        assert!(agents.calls.lock().unwrap().is_empty(), "not tried again");
        // Its log line says why it waits, without a connection.
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(
            log.contains(&format!(
                "{b}: to=<y@dead.example>, delay=00:00:10, xdelay=00:00:00, mailer=esmtp, \
                 pri=30023, dsn=4.4.1, stat=Deferred: Connection refused by dead.example. \
                 (host down, not tried; next try in 00:00:50)"
            )),
            "{log}"
        );
        // A host that answered with its own 4xx is up: not backed off.
        agents
            .script
            .lock()
            .unwrap()
            .insert("busy.example".into(), "defer");
        let c = enqueue(&h, "<s@src.example>", &["<z@busy.example>"], &[]);
        q.process_blocking(&c, T0 + 20).unwrap();
        let e = enqueue(&h, "<s@src.example>", &["<w@busy.example>"], &[]);
        assert!(matches!(
            q.process_blocking(&e, T0 + 30).unwrap(),
            Processed::Later(_)
        ));
        assert_eq!(agents.calls.lock().unwrap().len(), 2, "both tried");
    }

    #[test]
    fn a_message_only_for_a_backed_off_host_is_blocked_and_not_read_again_while_it_lasts() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q, a) = with_host_down(d.path());
        // The host is backed off for a minute: the next message for it is
        // not tried, and its pass writes nothing.
        let b = enqueue(&h, "<s@src.example>", &["<y@down.example>"], &[]);
        agents.calls.lock().unwrap().clear();
        assert_eq!(
            q.process_blocking(&b, T0 + 10).unwrap(),
            Processed::Blocked {
                host: "down.example".into(),
                until: T0 + 60
            }
        );
        assert!(agents.calls.lock().unwrap().is_empty());
        assert!(!status::path(d.path(), &b).exists(), "no journal written");
        // The scanner, even a full scan, skips it while the backoff lasts
        // (a real clock: the backoff is set an hour past now), and hands it
        // out once the backoff is forgotten (an operator's flush).
        let now = unix_now();
        q.destinations
            .lock()
            .unwrap()
            .restore("down.example", now + 3600, 1);
        let cache: Mutex<HashMap<QueueId, Cached>> = Mutex::default();
        cache.lock().unwrap().insert(
            b.clone(),
            Cached {
                next: now + 3600,
                host: Some(q.intern("down.example")),
            },
        );
        let inflight: Mutex<HashSet<QueueId>> = Mutex::default();
        inflight.lock().unwrap().insert(a.clone());
        let (tx, rx) = async_channel::unbounded();
        let stop = AtomicBool::new(false);
        for full in [false, true] {
            let pass = scan(&q, d.path(), &tx, &inflight, &cache, &stop, full);
            assert_eq!(pass.dispatched, 0, "full scan: {full}");
            assert_eq!(pass.earliest, now + 3600);
        }
        q.forget_host_backoff();
        let pass = scan(&q, d.path(), &tx, &inflight, &cache, &stop, true);
        assert_eq!(pass.dispatched, 1);
        assert_eq!(rx.try_recv().unwrap(), b);
    }

    #[test]
    fn deferral_backs_off_and_a_refusing_host_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q, a) = with_host_down(d.path());
        let j = Journal::load(d.path(), &a).unwrap();
        assert_eq!((j.attempts, j.next_attempt), (1, T0 + 300));
        // A second message to the same host is not tried while it is backed off,
        // but one to another host goes.
        let b = enqueue(
            &h,
            "<s@src.example>",
            &["<y@down.example>", "<z@up.example>"],
            &[],
        );
        agents.calls.lock().unwrap().clear();
        assert_eq!(
            q.process_blocking(&b, T0 + 10).unwrap(),
            Processed::Later(T0 + 60)
        );
        let calls = agents.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0.host.as_deref(), Some("up.example"));
    }

    #[test]
    fn failure_bounces_to_sender_and_a_bounce_failure_goes_to_postmaster() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("bad.example".into(), "fail");
        let id = enqueue(
            &h,
            "<s@src.example>",
            &["<x@bad.example>"],
            &[("ret", "HDRS")],
        );
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        let q1 = queued(&h);
        assert_eq!(q1.len(), 1);
        let (bid, benv, bbody) = &q1[0];
        assert_eq!(benv.sender, "<>");
        assert_eq!(benv.recipients[0].address.to_string(), "<s@src.example>");
        let t = String::from_utf8_lossy(bbody);
        assert!(t.contains("Status: 5.1.1"), "{t}");
        assert!(t.contains("text/rfc822-headers"), "RET=HDRS");
        // The bounce itself fails: a double bounce to postmaster.
        agents
            .script
            .lock()
            .unwrap()
            .insert("src.example".into(), "fail");
        assert_eq!(q.process_blocking(bid, T0 + 1).unwrap(), Processed::Removed);
        let q2 = queued(&h);
        assert_eq!(q2.len(), 1);
        let (did, denv, _) = &q2[0];
        assert_eq!(
            denv.recipients[0].address.to_string(),
            "<postmaster@gw.example.com>"
        );
        assert_eq!(denv.fact("dsn-kind"), Some("double-bounce"));
        // A failing double bounce is not bounced again, and not dropped:
        // with no dead-letter drop it is kept in hold/ (sendmail's savemail
        // panic), its failure not recorded so a release tries again.
        agents.script.lock().unwrap().insert("local".into(), "fail");
        assert_eq!(q.process_blocking(did, T0 + 2).unwrap(), Processed::Held);
        assert!(queued(&h).is_empty());
        let root = h.spool().root().to_path_buf();
        assert!(root.join("hold").join(did.as_str()).exists());
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(
            log.contains("SYSERR(root): savemail: cannot save rejected email anywhere"),
            "{log}"
        );
        let j = Journal::load(&root, did).unwrap();
        assert!(j.rcpts.values().all(|s| !s.kind.is_final()), "{j:?}");
    }

    #[test]
    fn an_expired_double_bounce_is_held_and_a_release_gives_it_a_new_period() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[("confTO_QUEUERETURN", "1d")]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("local".into(), "defer");
        let id = enqueue(
            &h,
            "<>",
            &["<postmaster@gw.example.com>"],
            &[("dsn-kind", "double-bounce")],
        );
        assert!(matches!(
            q.process_blocking(&id, T0).unwrap(),
            Processed::Later(_)
        ));
        // A day of deferrals: given up (4.4.7), nobody to tell: held.
        assert_eq!(
            q.process_blocking(&id, T0 + 86_400).unwrap(),
            Processed::Held
        );
        let root = h.spool().root().to_path_buf();
        // The operator fixes postmaster's mailbox and releases it.
        crate::spool::move_message(&root, State::Hold, State::Queue, &id).unwrap();
        Journal::append(&root, &id, &[Entry::Flush(T0 + 2 * 86_400)]).unwrap();
        agents.script.lock().unwrap().insert("local".into(), "ok");
        assert_eq!(
            q.process_blocking(&id, T0 + 2 * 86_400).unwrap(),
            Processed::Removed
        );
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(log.contains("stat=Sent") || log.contains("dsn=2."), "{log}");
    }

    #[test]
    fn failing_double_bounce_goes_to_the_dead_letter_drop() {
        let d = tempfile::tempdir().unwrap();
        let drop = d.path().join("dead.letter");
        let (h, agents, q) = setup(
            d.path(),
            &[("confDEAD_LETTER_DROP", drop.to_str().unwrap())],
        );
        agents.script.lock().unwrap().insert("local".into(), "fail");
        let id = enqueue(
            &h,
            "<>",
            &["<postmaster@gw.example.com>"],
            &[("dsn-kind", "double-bounce")],
        );
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        let text = std::fs::read_to_string(&drop).unwrap();
        assert!(text.starts_with("From MAILER-DAEMON "), "{text}");
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(
            log.contains(&format!("Saved message in {}", drop.display())),
            "{log}"
        );
        assert!(!h.spool().root().join("hold").join(id.as_str()).exists());
    }

    fn enqueue_with(h: &TestHost, sender: &str, rcpt: &str, head: &str) -> QueueId {
        let mut e = Envelope::new(sender);
        e.arrival = T0;
        e.recipients.push(Recipient::new(rcpt));
        let mut w = h.spool.create(&e).unwrap();
        w.write(format!("{head}Subject: test\r\n\r\nbody\r\n").as_bytes())
            .unwrap();
        w.commit(State::Queue).unwrap()
    }

    #[test]
    fn a_dsn_expires_after_queuereturn_dsn_other_mail_does_not() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(
            d.path(),
            &[
                ("confTO_QUEUERETURN", "5d"),
                ("confTO_QUEUERETURN_DSN", "1d"),
                ("confDOUBLE_BOUNCE_ADDRESS", ""),
            ],
        );
        agents
            .script
            .lock()
            .unwrap()
            .insert("one.example".into(), "defer");
        let report =
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"x\"\r\n";
        let bounce = enqueue_with(&h, "<>", "<x@one.example>", report);
        // From <> but not a DSN (a vacation reply): ordinary timeouts.
        let vacation = enqueue_with(
            &h,
            "<>",
            "<v@one.example>",
            "Auto-Submitted: auto-replied\r\n",
        );
        // A DSN with Priority: urgent is in the urgent class (sendmail).
        let urgent = enqueue_with(
            &h,
            "<>",
            "<u@one.example>",
            &format!("Priority: urgent\r\n{report}"),
        );
        let mail = enqueue_with(&h, "<s@src.example>", "<y@one.example>", "");
        for id in [&bounce, &vacation, &urgent, &mail] {
            assert!(matches!(
                q.process_blocking(id, T0).unwrap(),
                Processed::Later(_)
            ));
        }
        // A day later the DSN is given up (4.4.7), the others are not.
        assert_eq!(
            q.process_blocking(&bounce, T0 + 86_400).unwrap(),
            Processed::Removed
        );
        for id in [&vacation, &urgent, &mail] {
            assert!(matches!(
                q.process_blocking(id, T0 + 86_400).unwrap(),
                Processed::Later(_)
            ));
        }
        let log = std::fs::read_to_string(d.path().join("maillog")).unwrap();
        assert!(log.contains("dsn=4.4.7"), "{log}");
        assert!(
            log.lines()
                .filter(|l| l.contains("dsn=4.4.7"))
                .all(|l| l.contains("<x@one.example>")),
            "{log}"
        );
    }

    /// A site with these options and no tables.
    fn site_with_options(options: &[(&str, &str)]) -> Site {
        let mut c = Config::new();
        for (k, v) in options {
            c.options.insert((*k).into(), (*v).into());
        }
        Site::from_parts(c, Default::default()).unwrap()
    }

    #[test]
    fn timing_uses_the_dsn_values_for_dsns_only() {
        let site = site_with_options(&[
            ("confTO_QUEUEWARN", "4h"),
            ("confTO_QUEUEWARN_DSN", "1h"),
            ("confTO_QUEUERETURN", "5d"),
            ("confTO_QUEUERETURN_DSN", "2d"),
        ]);
        let mut ours = Envelope::new("<>");
        ours.facts.push(("dsn-kind".into(), "failure".into()));
        let dsn = timing(&site, &ours, b"Subject: x\r\n\r\n");
        assert_eq!((dsn.warn_after, dsn.return_after), (3600, 2 * 86_400));
        let normal = timing(
            &site,
            &Envelope::new("<a@b.example>"),
            b"Subject: x\r\n\r\n",
        );
        assert_eq!(
            (normal.warn_after, normal.return_after),
            (4 * 3600, 5 * 86_400)
        );
        // The header decides, folded or not, any case.
        assert!(is_dsn(
            &Envelope::new("<>"),
            b"CONTENT-TYPE: Multipart/Report;\r\n  Report-Type=\"delivery-status\"\r\n\r\n"
        ));
        assert!(!is_dsn(
            &Envelope::new("<>"),
            b"Content-Type: multipart/report; report-type=disposition-notification\r\n\r\n"
        ));
    }

    #[test]
    fn precedence_and_priority_pick_the_timeout_class_as_sendmail_does() {
        let site = site_with_options(&[
            ("confTO_QUEUERETURN", "5d"),
            ("confTO_QUEUERETURN_NORMAL", "4d"),
            ("confTO_QUEUERETURN_URGENT", "6d"),
            ("confTO_QUEUERETURN_NONURGENT", "2d"),
            ("confTO_QUEUEWARN_NONURGENT", "1d"),
            ("confTO_QUEUERETURN_DSN", "3d"),
        ]);
        let days = |head: &str| {
            let t = timing(&site, &Envelope::new("<a@b.example>"), head.as_bytes());
            t.return_after / 86_400
        };
        assert_eq!(days("Subject: x\r\n\r\n"), 4, "normal");
        assert_eq!(days("Precedence: bulk\r\n\r\n"), 2);
        assert_eq!(days("Precedence: List\r\n\r\n"), 2);
        assert_eq!(days("Precedence: junk\r\n\r\n"), 2);
        assert_eq!(days("Precedence: special-delivery\r\n\r\n"), 6);
        assert_eq!(days("Precedence: first-class\r\n\r\n"), 4);
        assert_eq!(days("Precedence: whatever\r\n\r\n"), 4);
        // A DSN overrides the precedence; Priority overrides both.
        let report = "Precedence: bulk\r\nContent-Type: multipart/report; \
                      report-type=delivery-status\r\n\r\n";
        assert_eq!(days(report), 3);
        assert_eq!(days(&format!("Priority: urgent\r\n{report}")), 6);
        assert_eq!(days("Precedence: bulk\r\nPriority: normal\r\n\r\n"), 4);
        assert_eq!(days("Priority: non-urgent\r\n\r\n"), 2);
        // The warning of the class, falling back to confTO_QUEUEWARN (4h).
        let t = timing(
            &site,
            &Envelope::new("<a@b.example>"),
            b"Precedence: bulk\r\n\r\n",
        );
        assert_eq!(t.warn_after, 86_400);
        let t = timing(&site, &Envelope::new("<a@b.example>"), b"\r\n");
        assert_eq!(t.warn_after, 4 * 3600);
    }

    #[test]
    fn empty_double_bounce_address_drops() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[("confDOUBLE_BOUNCE_ADDRESS", "")]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("bad.example".into(), "fail");
        let id = enqueue(&h, "<>", &["<x@bad.example>"], &[]);
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        assert!(queued(&h).is_empty());
    }

    #[test]
    fn notify_never_and_success() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("bad.example".into(), "fail");
        let id = enqueue_notify(
            &h,
            &[
                ("<x@bad.example>", "NEVER", None),
                ("<y@good.example>", "SUCCESS", Some("rfc822;Y@good.example")),
            ],
            b"b\r\n",
        );
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        let q1 = queued(&h);
        assert_eq!(q1.len(), 1, "only the success report");
        let t = String::from_utf8_lossy(&q1[0].2);
        assert!(t.contains("Action: delivered"), "{t}");
        assert!(t.contains("Original-Recipient: rfc822;Y@good.example"));
        assert!(!t.contains("x@bad.example"));
    }

    #[test]
    fn privacy_noreceipts_and_nobodyreturn() {
        // No success report whatever NOTIFY says, and a bounce carries the
        // header only whatever RET says.
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(
            d.path(),
            &[("confPRIVACY_FLAGS", "noreceipts,nobodyreturn")],
        );
        agents
            .script
            .lock()
            .unwrap()
            .insert("bad.example".into(), "fail");
        let id = enqueue_notify(
            &h,
            &[
                ("<x@bad.example>", "FAILURE", None),
                ("<y@good.example>", "SUCCESS", None),
            ],
            b"the body\r\n",
        );
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        let all = queued(&h);
        assert_eq!(all.len(), 1, "the bounce, no success report");
        let t = String::from_utf8_lossy(&all[0].2);
        assert!(
            t.contains("Action: failed") && !t.contains("Action: delivered"),
            "{t}"
        );
        assert!(
            t.contains("text/rfc822-headers") && !t.contains("the body"),
            "{t}"
        );
    }

    #[test]
    fn warn_once_then_return_after_expiry() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("slow.example".into(), "defer");
        let id = enqueue(&h, "<s@src.example>", &["<x@slow.example>"], &[]);
        assert!(matches!(
            q.process_blocking(&id, T0).unwrap(),
            Processed::Later(_)
        ));
        assert_eq!(queued(&h).len(), 1, "no warning yet");
        let r = q.process_blocking(&id, T0 + 4 * 3600).unwrap();
        assert!(matches!(r, Processed::Later(_)));
        let all = queued(&h);
        assert_eq!(all.len(), 2, "a delay warning");
        let warn = all.iter().find(|(i, _, _)| i != &id).unwrap();
        let t = String::from_utf8_lossy(&warn.2);
        assert!(t.contains("Subject: Warning: could not send message for past 4 hours"));
        assert!(t.contains("Action: delayed"));
        assert!(t.contains("Will-Retry-Until:"));
        std::fs::remove_file(h.spool.root().join("queue").join(warn.0.as_str())).unwrap();
        q.process_blocking(&id, T0 + 5 * 3600).unwrap();
        assert_eq!(queued(&h).len(), 1, "warned only once");
        // At five days: failed 4.4.7, returned, message removed, no delivery tried.
        agents.calls.lock().unwrap().clear();
        assert_eq!(
            q.process_blocking(&id, T0 + 5 * 86_400).unwrap(),
            Processed::Removed
        );
        assert!(agents.calls.lock().unwrap().is_empty());
        let all = queued(&h);
        assert_eq!(all.len(), 1);
        let t = String::from_utf8_lossy(&all[0].2);
        assert!(t.contains("Status: 4.4.7"), "{t}");
        assert!(t.contains("Message could not be delivered for 5 days"));
        assert!(t.contains("Content-Type: message/rfc822"));
    }

    #[test]
    fn a_restart_never_redelivers_a_recorded_recipient() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        agents
            .script
            .lock()
            .unwrap()
            .insert("two.example".into(), "defer");
        let id = enqueue(
            &h,
            "<s@src.example>",
            &["<x@one.example>", "<y@two.example>"],
            &[],
        );
        q.process_blocking(&id, T0).unwrap();
        // "Restart": a fresh queue over the same spool.
        drop(q);
        let agents2 = Arc::new(Scripted::default());
        let q2 = Queue::new(h.clone(), agents2.clone(), 2);
        assert_eq!(
            q2.process_blocking(&id, T0 + 300).unwrap(),
            Processed::Removed
        );
        let calls = agents2.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].2, vec!["y@two.example"]);
    }

    #[test]
    fn routing_errors_fail_at_once() {
        let d = tempfile::tempdir().unwrap();
        let (h, agents, q) = setup(d.path(), &[]);
        let id = enqueue(&h, "<s@src.example>", &["<>"], &[]);
        assert_eq!(q.process_blocking(&id, T0).unwrap(), Processed::Removed);
        assert!(agents.calls.lock().unwrap().is_empty());
        let b = queued(&h);
        assert_eq!(b.len(), 1);
        assert!(String::from_utf8_lossy(&b[0].2).contains("Status: 5.1.3"));
    }

    #[test]
    fn delays_print_like_sendmail() {
        assert_eq!(fmt_delay(0), "00:00:00");
        assert_eq!(fmt_delay(3661), "01:01:01");
        assert_eq!(fmt_delay(90_061), "1+01:01:01");
    }
}
