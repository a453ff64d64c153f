//! Counters, gauges and histograms, written in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! Contract: every series belongs to a family of [`FAMILIES`] (name, type,
//! help); [`Registry::render`] writes each family that has series as
//! `# HELP`, `# TYPE` and one line per series, label values escaped as the
//! format requires. Updating a series is a short mutex-held map update,
//! never I/O. The daemon's process has one registry, [`global`]: counters
//! are process-wide facts, like the log, and the hooks that feed them
//! (smtpd, queue) would otherwise need a handle threaded through every
//! layer. Tests make their own [`Registry::new`].
//!
//! Written by hand: the format is a few lines of text per family; a client
//! crate would bring a registry design we do not need.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Only goes up.
    Counter,
    /// Set to a value.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

impl Type {
    fn word(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        }
    }
}

/// Every family mxgate exports: name, type, help.
pub const FAMILIES: &[(&str, Type, &str)] = &[
    (
        RECEIVED,
        Type::Counter,
        "Messages accepted into the spool (250 after DATA), by listener.",
    ),
    (
        REFUSED,
        Type::Counter,
        "Refusals (4xx/5xx) of connections and of HELO/MAIL/RCPT/DATA, by listener, stage and enhanced status.",
    ),
    (
        DELIVERIES,
        Type::Counter,
        "Recipient delivery results (delivered, deferred, bounced), by the listener the message came in by and mailer.",
    ),
    (
        DELIVERY_LATENCY,
        Type::Histogram,
        "Seconds from arrival to successful delivery, per recipient.",
    ),
    (
        DESTINATION_DEFERRALS,
        Type::Counter,
        "Deferred recipients per next hop (mailer:host).",
    ),
    (
        DESTINATION_CONNECTIONS,
        Type::Gauge,
        "Transactions open to a next hop (mailer:host).",
    ),
    (
        DNSBL_LATENCY,
        Type::Histogram,
        "Seconds per DNSBL lookup, by zone.",
    ),
    (
        MILTER_LATENCY,
        Type::Histogram,
        "Seconds from a command to a mail filter to its answer, by filter and step (connect, helo, mail, rcpt, data, header, eoh, body, eom, unknown; negotiate: the connection and option negotiation).",
    ),
    (
        MILTER_FAILURES,
        Type::Counter,
        "Failed exchanges with a mail filter, by filter and error (connect, timeout, closed, io, protocol); the filter's F= flag then decides the message's fate.",
    ),
    (
        QUEUE_SCAN,
        Type::Histogram,
        "Seconds per scan of queue/ by the queue runner (its count: the scans made).",
    ),
    (
        QUEUE_HANDOFFS,
        Type::Counter,
        "New messages offered to the queue runner's workers at commit, by result (worker: taken at once; scanner: every worker busy, left to the next scan).",
    ),
    (
        QUEUE_MESSAGES,
        Type::Gauge,
        "Messages in the spool by state (queue, hold, quarantine) and age bucket.",
    ),
    (
        NULL_SENDER,
        Type::Gauge,
        "Messages in the spool with the null sender <> (MAILER-DAEMON).",
    ),
    (
        GENERATION,
        Type::Gauge,
        "1 for the configuration generation loaded (label generation).",
    ),
];

/// `mxgate_messages_received_total`.
pub const RECEIVED: &str = "mxgate_messages_received_total";
/// `mxgate_refusals_total`.
pub const REFUSED: &str = "mxgate_refusals_total";
/// `mxgate_deliveries_total`.
pub const DELIVERIES: &str = "mxgate_deliveries_total";
/// `mxgate_delivery_latency_seconds`.
pub const DELIVERY_LATENCY: &str = "mxgate_delivery_latency_seconds";
/// `mxgate_destination_deferrals_total`.
pub const DESTINATION_DEFERRALS: &str = "mxgate_destination_deferrals_total";
/// `mxgate_destination_connections`.
pub const DESTINATION_CONNECTIONS: &str = "mxgate_destination_connections";
/// `mxgate_dnsbl_lookup_seconds`.
pub const DNSBL_LATENCY: &str = "mxgate_dnsbl_lookup_seconds";
/// `mxgate_milter_seconds`.
pub const MILTER_LATENCY: &str = "mxgate_milter_seconds";
/// `mxgate_milter_failures_total`.
pub const MILTER_FAILURES: &str = "mxgate_milter_failures_total";
/// `mxgate_queue_scan_seconds`.
pub const QUEUE_SCAN: &str = "mxgate_queue_scan_seconds";
/// `mxgate_queue_handoffs_total`.
pub const QUEUE_HANDOFFS: &str = "mxgate_queue_handoffs_total";
/// `mxgate_queue_messages`.
pub const QUEUE_MESSAGES: &str = "mxgate_queue_messages";
/// `mxgate_null_sender_messages`.
pub const NULL_SENDER: &str = "mxgate_null_sender_messages";
/// `mxgate_config_generation_info`.
pub const GENERATION: &str = "mxgate_config_generation_info";

/// Histogram bucket bounds (seconds) per family.
fn buckets(family: &str) -> &'static [f64] {
    match family {
        DNSBL_LATENCY => &[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ],
        // A local filter answers in a millisecond; a content scanner
        // takes seconds; past T=E's default (5 min) it has timed out.
        MILTER_LATENCY => &[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
        // From an empty queue/ to a directory of millions.
        QUEUE_SCAN => &[0.001, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        // Delivery: from sub-second relays to the retry schedule's hours.
        _ => &[
            0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
        ],
    }
}

/// Queue age buckets: upper bound in seconds and label.
pub const AGE_BUCKETS: &[(u64, &str)] = &[
    (300, "5m"),
    (3600, "1h"),
    (4 * 3600, "4h"),
    (86400, "1d"),
    (u64::MAX, "older"),
];

/// The age bucket label of a message `age` seconds old (`5m` = younger than 5 minutes).
pub fn age_bucket(age: u64) -> &'static str {
    AGE_BUCKETS
        .iter()
        .find(|(max, _)| age < *max)
        .map_or("older", |(_, l)| l)
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    values: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// A set of series.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

/// The process's registry.
pub fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::new)
}

fn labels(l: &[(&'static str, &str)]) -> Labels {
    l.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add 1 to a counter.
    pub fn inc(&self, family: &'static str, l: &[(&'static str, &str)]) {
        *self.lock().values.entry((family, labels(l))).or_insert(0.0) += 1.0;
    }

    /// Set a gauge.
    pub fn set(&self, family: &'static str, l: &[(&'static str, &str)], v: f64) {
        self.lock().values.insert((family, labels(l)), v);
    }

    /// Replace every series of a gauge family (a snapshot, e.g. the queue).
    pub fn replace(&self, family: &'static str, series: Vec<(Labels, f64)>) {
        let mut g = self.lock();
        g.values.retain(|(f, _), _| *f != family);
        for (l, v) in series {
            g.values.insert((family, l), v);
        }
    }

    /// Record one observation of a histogram.
    pub fn observe(&self, family: &'static str, l: &[(&'static str, &str)], v: f64) {
        let b = buckets(family);
        let mut g = self.lock();
        let h = g.histograms.entry((family, labels(l))).or_default();
        if h.counts.len() != b.len() {
            h.counts = vec![0; b.len()];
        }
        for (i, bound) in b.iter().enumerate() {
            if v <= *bound
                && let Some(c) = h.counts.get_mut(i)
            {
                *c += 1;
            }
        }
        h.sum += v;
        h.count += 1;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let g = self.lock();
        let mut s = String::new();
        for (name, ty, help) in FAMILIES {
            let values: Vec<_> = g.values.iter().filter(|((f, _), _)| f == name).collect();
            let hists: Vec<_> = g
                .histograms
                .iter()
                .filter(|((f, _), _)| f == name)
                .collect();
            if values.is_empty() && hists.is_empty() {
                continue;
            }
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} {}", ty.word());
            for ((_, l), v) in values {
                let _ = writeln!(s, "{name}{} {}", label_text(l, None), number(*v));
            }
            for ((_, l), h) in hists {
                for (bound, c) in buckets(name).iter().zip(&h.counts) {
                    let le = number(*bound);
                    let _ = writeln!(s, "{name}_bucket{} {c}", label_text(l, Some(&le)));
                }
                let _ = writeln!(
                    s,
                    "{name}_bucket{} {}",
                    label_text(l, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(s, "{name}_sum{} {}", label_text(l, None), number(h.sum));
                let _ = writeln!(s, "{name}_count{} {}", label_text(l, None), h.count);
            }
        }
        s
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `{a="x",b="y"}` (empty when there are no labels), with `le` last.
fn label_text(l: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = l
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Label value escaping: backslash, double quote, newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_with_help_type_labels_and_escaping() {
        let r = Registry::new();
        r.inc(RECEIVED, &[("listener", "MTA")]);
        r.inc(RECEIVED, &[("listener", "MTA")]);
        r.inc(
            REFUSED,
            &[
                ("listener", "MSA"),
                ("stage", "rcpt"),
                ("status", "5.7.\"1\\"),
            ],
        );
        r.set(GENERATION, &[("generation", "abc")], 1.0);
        let t = r.render();
        assert!(t.contains(
            "# HELP mxgate_messages_received_total Messages accepted into the spool (250 after DATA), by listener.\n\
             # TYPE mxgate_messages_received_total counter\n\
             mxgate_messages_received_total{listener=\"MTA\"} 2\n"
        ), "{t}");
        assert!(
            t.contains("mxgate_refusals_total{listener=\"MSA\",stage=\"rcpt\",status=\"5.7.\\\"1\\\\\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_config_generation_info{generation=\"abc\"} 1\n"),
            "{t}"
        );
        // Families without series are left out.
        assert!(!t.contains("mxgate_deliveries_total"), "{t}");
    }

    #[test]
    fn histograms_are_cumulative() {
        let r = Registry::new();
        r.observe(DNSBL_LATENCY, &[("zone", "bl.example")], 0.02);
        r.observe(DNSBL_LATENCY, &[("zone", "bl.example")], 3.0);
        let t = r.render();
        assert!(
            t.contains("# TYPE mxgate_dnsbl_lookup_seconds histogram\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_dnsbl_lookup_seconds_bucket{zone=\"bl.example\",le=\"0.01\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_dnsbl_lookup_seconds_bucket{zone=\"bl.example\",le=\"0.025\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_dnsbl_lookup_seconds_bucket{zone=\"bl.example\",le=\"5\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_dnsbl_lookup_seconds_bucket{zone=\"bl.example\",le=\"+Inf\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_dnsbl_lookup_seconds_sum{zone=\"bl.example\"} 3.02\n"),
            "{t}"
        );
        assert!(
            t.contains("mxgate_dnsbl_lookup_seconds_count{zone=\"bl.example\"} 2\n"),
            "{t}"
        );
    }

    #[test]
    fn replace_drops_old_series_and_ages_are_bucketed() {
        let r = Registry::new();
        r.set(QUEUE_MESSAGES, &[("state", "queue"), ("age", "5m")], 3.0);
        r.replace(
            QUEUE_MESSAGES,
            vec![(vec![("state", "hold".into()), ("age", "1h".into())], 1.0)],
        );
        let t = r.render();
        assert!(!t.contains("state=\"queue\""), "{t}");
        assert!(
            t.contains("mxgate_queue_messages{state=\"hold\",age=\"1h\"} 1\n"),
            "{t}"
        );
        assert_eq!(
            [0, 299, 300, 3599, 3600, 86399, 86400].map(age_bucket),
            ["5m", "5m", "1h", "1h", "4h", "1d", "older"]
        );
    }
}
