//! The aggregator: parsed lines in, a [`Summary`] out.
//!
//! Contract: pure. [`Tally::add`] takes a line of text, the year reference
//! (for syslog stamps) and the time window, and counts it; nothing is read
//! or written here. Messages are keyed by (node, queue id), so queue ids
//! that repeat across nodes do not mix. A message's size comes from its
//! `from=` line; deliveries of a message whose `from=` line is outside the
//! input count without bytes. Counts of delivered, deferred and bounced are
//! per recipient (as pflogsumm counts them); deferred also as distinct
//! messages. Bytes delivered = the message size once per recipient
//! delivered.

use super::parse::{self, Event, Relay, Status, When};
use super::stamp::{Stamp, WEEKDAYS};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The size buckets (upper bounds, bytes; 1 KB = 1024 bytes), then "larger".
pub const SIZE_BUCKETS: [(u64, &str); 5] = [
    (1 << 10, "<=1KB"),
    (10 << 10, "<=10KB"),
    (100 << 10, "<=100KB"),
    (1 << 20, "<=1MB"),
    (10 << 20, "<=10MB"),
];

/// Which lines count.
#[derive(Debug, Clone)]
pub struct Window {
    /// Year and month the syslog stamps are read against (normally today's).
    pub reference: (u16, u8),
    /// Count lines at or after this time.
    pub since: Option<Stamp>,
    /// Count lines before this time.
    pub until: Option<Stamp>,
    /// Program names that are ours (`mxgate`, `sm-mta`, `sendmail`, ...).
    pub programs: Vec<String>,
}

impl Window {
    /// The default programs, everything in, reading against `reference`.
    pub fn new(reference: (u16, u8)) -> Window {
        Window {
            reference,
            since: None,
            until: None,
            programs: ["mxgate", "sm-mta", "sendmail", "sm-msp-queue"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Msg {
    size: u64,
    /// Index into `listeners`.
    listener: Option<usize>,
}

/// The running counts.
#[derive(Debug, Default)]
pub struct Tally {
    lines: u64,
    unparsed: u64,
    other_programs: u64,
    outside_window: u64,
    first: Option<Stamp>,
    last: Option<Stamp>,
    /// Node → queue id → message.
    msgs: HashMap<String, Map<Msg>>,
    deferred_msgs: HashSet<(String, String)>,
    s: Summary,
    delays: Vec<u64>,
    sizes: [u64; 6],
    listeners: Vec<String>,
    day: Option<((u16, u8, u8), String)>,
    // The large tables are hashed while counting, sorted once at the end.
    senders: Map<Count>,
    recipients: Map<Count>,
    sender_domains: Map<Count>,
    recipient_domains: Map<Count>,
    sending_hosts: Map<Count>,
    receiving_hosts: Map<Count>,
    refused_hosts: Map<u64>,
}

/// Counts and bytes.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Count {
    /// How many.
    pub count: u64,
    /// How many bytes.
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// One refusal category with its details (zone, key, rule, text).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Refusals {
    /// How many.
    pub count: u64,
    /// Per detail, where the category has one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, u64>,
}

/// Per hour, weekday, listener, node.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Traffic {
    /// Messages received.
    pub received: u64,
    /// Bytes received.
    pub received_bytes: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Delivery attempts deferred.
    pub deferred: u64,
    /// Recipients bounced.
    pub bounced: u64,
    /// Refusals.
    pub refused: u64,
}

/// One bucket of a distribution.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Bucket {
    /// Its label (`<=1KB`, `<10s`).
    pub bucket: String,
    /// How many.
    pub count: u64,
}

/// Delays of delivered recipients, seconds.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Delays {
    /// Recipients with a delay.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Longest.
    pub max: u64,
    /// Buckets: `<1s`, `<10s`, `<1m`, `<10m`, `<1h`, `<1d`, `>=1d`.
    pub buckets: Vec<Bucket>,
}

/// The report.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// First line counted (`YYYY-MM-DD HH:MM:SS`).
    pub first: Option<String>,
    /// Last line counted.
    pub last: Option<String>,
    /// Lines read, unparsed, from other programs, outside --since/--until.
    pub lines: BTreeMap<String, u64>,
    /// Messages received (`from=` lines) and their bytes.
    pub received: Count,
    /// Recipients delivered and bytes (size × recipients).
    pub delivered: Count,
    /// Delivery attempts deferred (recipients).
    pub deferred: Count,
    /// Distinct messages deferred at least once.
    pub deferred_messages: u64,
    /// Recipients bounced (5.x.x) and bytes.
    pub bounced: Count,
    /// Delivery status notifications created.
    pub dsns_created: u64,
    /// Messages discarded.
    pub discarded: Count,
    /// Messages quarantined.
    pub quarantined: Count,
    /// Refusals in all.
    pub refused_total: u64,
    /// Refusals by category.
    pub refused: BTreeMap<String, Refusals>,
    /// Refusals per day (`YYYY-MM-DD`), by category.
    pub refused_per_day: BTreeMap<String, BTreeMap<String, u64>>,
    /// Refusals per weekday, by category (weekdays without refusals absent).
    pub refused_per_weekday: BTreeMap<String, BTreeMap<String, u64>>,
    /// Refusals by client host.
    pub refused_hosts: BTreeMap<String, u64>,
    /// Session events that are not refusals.
    pub sessions: BTreeMap<String, u64>,
    /// Distinct senders, recipients, domains and hosts (before the top-N cut).
    pub distinct: BTreeMap<String, u64>,
    /// Senders (messages, bytes).
    pub senders: BTreeMap<String, Count>,
    /// Recipients delivered to (recipients, bytes).
    pub recipients: BTreeMap<String, Count>,
    /// Sending domains.
    pub sender_domains: BTreeMap<String, Count>,
    /// Recipient domains delivered to.
    pub recipient_domains: BTreeMap<String, Count>,
    /// Client hosts (`name[ip]`) messages came from.
    pub sending_hosts: BTreeMap<String, Count>,
    /// Servers delivered to.
    pub receiving_hosts: BTreeMap<String, Count>,
    /// Per hour of the day, 00–23.
    pub per_hour: Vec<Traffic>,
    /// Per weekday, Monday first.
    pub per_weekday: BTreeMap<String, Traffic>,
    /// Per day (`YYYY-MM-DD`).
    pub per_day: BTreeMap<String, Traffic>,
    /// Received message sizes, by bucket, smallest first.
    pub sizes: Vec<Bucket>,
    /// Delays of delivered recipients.
    pub delays: Delays,
    /// Per listener (`daemon=`: MTA, MSA, ...); deliveries count under the
    /// listener their message came in on; refusals are not attributed (the
    /// refusal lines do not name the listener).
    pub per_listener: BTreeMap<String, Traffic>,
    /// Per node (the syslog host name).
    pub per_node: BTreeMap<String, Traffic>,
}

fn hostkey(r: &Relay<'_>) -> String {
    match (r.name, r.ip) {
        ("", "") => "unknown".to_string(),
        (n, "") => n.to_ascii_lowercase(),
        ("", ip) => format!("[{ip}]"),
        (n, ip) => format!("{}[{ip}]", n.to_ascii_lowercase()),
    }
}

fn domain(addr: &str) -> Cow<'_, str> {
    match addr.rsplit_once('@') {
        Some((_, d)) => lower(d),
        None if addr.is_empty() => Cow::Borrowed("<>"),
        None => Cow::Borrowed("(local)"),
    }
}

/// ASCII lower case, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// FNV-1a: the tables' keys are short strings from our own log, so a fast
/// hash beats SipHash's flooding resistance here (a hostile log can only
/// slow its own report down).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type Map<V> = HashMap<String, V, std::hash::BuildHasherDefault<Fnv>>;

/// [`slot`] for a hash map.
fn hslot<'m, V: Default>(m: &'m mut Map<V>, k: &str) -> &'m mut V {
    if !m.contains_key(k) {
        m.insert(k.to_string(), V::default());
    }
    // Invariant: the key is present (it was, or was inserted just above).
    m.get_mut(k).expect("inserted just above")
}

/// The entry for `k`, created empty; allocates the key only when new.
fn slot<'m, V: Default>(m: &'m mut BTreeMap<String, V>, k: &str) -> &'m mut V {
    if !m.contains_key(k) {
        m.insert(k.to_string(), V::default());
    }
    // Invariant: the key is present (it was, or was inserted just above).
    m.get_mut(k).expect("inserted just above")
}

fn msg(msgs: &HashMap<String, Map<Msg>>, node: &str, qid: &str) -> Msg {
    msgs.get(node)
        .and_then(|m| m.get(qid))
        .copied()
        .unwrap_or_default()
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Count one line. Never fails: a line that cannot be read is counted
    /// as unparsed.
    pub fn add(&mut self, text: &str, w: &Window) {
        self.lines += 1;
        let line = match parse::parse(text) {
            Ok(l) => l,
            Err(_) => {
                self.unparsed += 1;
                return;
            }
        };
        if !w.programs.iter().any(|p| p == line.program) {
            self.other_programs += 1;
            return;
        }
        let when = match line.when {
            When::Syslog(p) => p.with_year(w.reference),
            When::Full(s) => s,
        };
        if w.since.is_some_and(|s| when < s) || w.until.is_some_and(|u| when >= u) {
            self.outside_window += 1;
            return;
        }
        self.first = Some(self.first.map_or(when, |f| f.min(when)));
        self.last = Some(self.last.map_or(when, |l| l.max(when)));
        let node = lower(line.host);
        let qid = line.qid.unwrap_or("");
        let hour = usize::from(when.hour).min(23);
        let wd = WEEKDAYS.get(when.weekday()).copied().unwrap_or("Monday");
        let ymd = (when.year, when.month, when.day);
        if self.day.as_ref().is_none_or(|(k, _)| *k != ymd) {
            self.day = Some((ymd, when.date()));
        }
        let day = self.day.as_ref().map_or("", |(_, d)| d.as_str());
        let s = &mut self.s;
        if s.per_hour.len() != 24 {
            s.per_hour = vec![Traffic::default(); 24];
        }
        // Applies one change to every time and place bucket this line is in.
        let bump = |s: &mut Summary, listener: Option<&str>, f: &dyn Fn(&mut Traffic)| {
            if let Some(t) = s.per_hour.get_mut(hour) {
                f(t);
            }
            f(slot(&mut s.per_weekday, wd));
            f(slot(&mut s.per_day, day));
            f(slot(&mut s.per_node, &node));
            if let Some(l) = listener {
                f(slot(&mut s.per_listener, l));
            }
        };
        match line.event {
            Event::Received {
                from,
                size,
                daemon,
                relay,
                quarantine,
                ..
            } => {
                let listener = daemon.map(|d| match self.listeners.iter().position(|l| l == d) {
                    Some(i) => i,
                    None => {
                        self.listeners.push(d.to_string());
                        self.listeners.len() - 1
                    }
                });
                if !self.msgs.contains_key(node.as_ref()) {
                    self.msgs.insert(node.to_string(), Map::default());
                }
                if let Some(m) = self.msgs.get_mut(node.as_ref()) {
                    m.insert(qid.to_string(), Msg { size, listener });
                }
                s.received.add(size);
                let sender = if from.is_empty() {
                    Cow::Borrowed("<>")
                } else {
                    lower(from)
                };
                hslot(&mut self.senders, &sender).add(size);
                hslot(&mut self.sender_domains, &domain(from)).add(size);
                hslot(&mut self.sending_hosts, &hostkey(&relay)).add(size);
                let i = SIZE_BUCKETS
                    .iter()
                    .position(|(max, _)| size <= *max)
                    .unwrap_or(SIZE_BUCKETS.len());
                if let Some(b) = self.sizes.get_mut(i) {
                    *b += 1;
                }
                if quarantine.is_some() {
                    s.quarantined.add(size);
                }
                bump(s, daemon, &|t| {
                    t.received += 1;
                    t.received_bytes += size;
                });
            }
            Event::Delivery {
                to,
                delay,
                relay,
                status,
                ..
            } => {
                let msg = msg(&self.msgs, &node, qid);
                let size = msg.size;
                let listener = msg
                    .listener
                    .and_then(|i| self.listeners.get(i))
                    .map(String::as_str);
                let rcpts: Vec<&str> = to.split(',').map(|a| a.trim()).collect();
                let n = rcpts.len() as u64;
                match status {
                    Status::Sent => {
                        for r in &rcpts {
                            let r = r.trim_start_matches('<').trim_end_matches('>');
                            s.delivered.add(size);
                            hslot(&mut self.recipients, &lower(r)).add(size);
                            hslot(&mut self.recipient_domains, &domain(r)).add(size);
                            hslot(&mut self.receiving_hosts, &hostkey(&relay)).add(size);
                            if let Some(d) = delay {
                                self.delays.push(d);
                            }
                        }
                        bump(s, listener, &|t| t.delivered += n);
                    }
                    Status::Deferred => {
                        for _ in &rcpts {
                            s.deferred.add(size);
                        }
                        self.deferred_msgs
                            .insert((node.to_string(), qid.to_string()));
                        bump(s, listener, &|t| t.deferred += n);
                    }
                    Status::Bounced => {
                        for _ in &rcpts {
                            s.bounced.add(size);
                        }
                        bump(s, listener, &|t| t.bounced += n);
                    }
                }
            }
            Event::DsnCreated { .. } => s.dsns_created += 1,
            Event::Discarded { size } => {
                let size = size.unwrap_or_else(|| msg(&self.msgs, &node, qid).size);
                s.discarded.add(size);
            }
            Event::Quarantined { .. } => {
                s.quarantined.add(msg(&self.msgs, &node, qid).size);
            }
            Event::Refused { reason, relay } => {
                s.refused_total += 1;
                let (cat, detail) = reason.label();
                let e = slot(&mut s.refused, cat);
                e.count += 1;
                if let Some(d) = detail {
                    *slot(&mut e.details, d) += 1;
                }
                *slot(slot(&mut s.refused_per_day, day), cat) += 1;
                *slot(slot(&mut s.refused_per_weekday, wd), cat) += 1;
                if relay != Relay::default() {
                    *hslot(&mut self.refused_hosts, &hostkey(&relay)) += 1;
                }
                bump(s, None, &|t| t.refused += 1);
            }
            Event::Session { kind, .. } => {
                *slot(&mut s.sessions, kind.label()) += 1;
            }
            Event::Other => {}
        }
    }

    /// The summary so far; maps of people and hosts are cut to the `top`
    /// largest (by count, then name).
    pub fn summary(&self, top: usize) -> Summary {
        let mut s = self.s.clone();
        if s.per_hour.len() != 24 {
            s.per_hour = vec![Traffic::default(); 24];
        }
        s.first = self
            .first
            .map(|f| format!("{} {:02}:{:02}:{:02}", f.date(), f.hour, f.minute, f.second));
        s.last = self
            .last
            .map(|f| format!("{} {:02}:{:02}:{:02}", f.date(), f.hour, f.minute, f.second));
        s.lines = BTreeMap::from([
            ("read".to_string(), self.lines),
            ("unparsed".to_string(), self.unparsed),
            ("other_programs".to_string(), self.other_programs),
            ("outside_window".to_string(), self.outside_window),
        ]);
        s.deferred_messages = self.deferred_msgs.len() as u64;
        for wd in WEEKDAYS {
            s.per_weekday.entry(wd.to_string()).or_default();
        }
        s.sizes = SIZE_BUCKETS
            .iter()
            .map(|(_, l)| *l)
            .chain([">10MB"])
            .zip(self.sizes)
            .map(|(l, count)| Bucket {
                bucket: l.to_string(),
                count,
            })
            .collect();
        let sorted = |m: &Map<Count>| -> BTreeMap<String, Count> {
            m.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        s.senders = sorted(&self.senders);
        s.recipients = sorted(&self.recipients);
        s.sender_domains = sorted(&self.sender_domains);
        s.recipient_domains = sorted(&self.recipient_domains);
        s.sending_hosts = sorted(&self.sending_hosts);
        s.receiving_hosts = sorted(&self.receiving_hosts);
        s.refused_hosts = self
            .refused_hosts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        s.distinct = BTreeMap::from([
            ("senders".to_string(), s.senders.len() as u64),
            ("recipients".to_string(), s.recipients.len() as u64),
            ("sender_domains".to_string(), s.sender_domains.len() as u64),
            (
                "recipient_domains".to_string(),
                s.recipient_domains.len() as u64,
            ),
            ("sending_hosts".to_string(), s.sending_hosts.len() as u64),
            (
                "receiving_hosts".to_string(),
                s.receiving_hosts.len() as u64,
            ),
        ]);
        for m in [
            &mut s.senders,
            &mut s.recipients,
            &mut s.sender_domains,
            &mut s.recipient_domains,
            &mut s.sending_hosts,
            &mut s.receiving_hosts,
        ] {
            *m = cut(std::mem::take(m), top, |c| c.count);
        }
        s.refused_hosts = cut(std::mem::take(&mut s.refused_hosts), top, |c| *c);
        for r in s.refused.values_mut() {
            r.details = cut(std::mem::take(&mut r.details), top, |c| *c);
        }
        s.delays = delays(&self.delays);
        s
    }
}

/// Keep the `top` largest entries (ties by name).
fn cut<V: Clone>(m: BTreeMap<String, V>, top: usize, n: impl Fn(&V) -> u64) -> BTreeMap<String, V> {
    if m.len() <= top {
        return m;
    }
    let mut v: Vec<(String, V)> = m.into_iter().collect();
    v.sort_by(|a, b| n(&b.1).cmp(&n(&a.1)).then_with(|| a.0.cmp(&b.0)));
    v.truncate(top);
    v.into_iter().collect()
}

fn delays(d: &[u64]) -> Delays {
    let mut v = d.to_vec();
    v.sort_unstable();
    let at = |q: usize| -> u64 {
        if v.is_empty() {
            0
        } else {
            let i = (v.len() * q / 100).min(v.len() - 1);
            v.get(i).copied().unwrap_or(0)
        }
    };
    let labels = [
        (1, "<1s"),
        (10, "<10s"),
        (60, "<1m"),
        (600, "<10m"),
        (3600, "<1h"),
        (86_400, "<1d"),
        (u64::MAX, ">=1d"),
    ];
    let mut buckets: Vec<Bucket> = labels
        .iter()
        .map(|(_, l)| Bucket {
            bucket: l.to_string(),
            count: 0,
        })
        .collect();
    for x in &v {
        let i = labels.iter().position(|(max, _)| x < max).unwrap_or(6);
        if let Some(b) = buckets.get_mut(i) {
            b.count += 1;
        }
    }
    let sum: u64 = v.iter().sum();
    Delays {
        count: v.len() as u64,
        mean: if v.is_empty() {
            0.0
        } else {
            sum as f64 / v.len() as f64
        },
        p50: at(50),
        p90: at(90),
        p99: at(99),
        max: v.last().copied().unwrap_or(0),
        buckets,
    }
}

#[cfg(test)]
mod tests;
