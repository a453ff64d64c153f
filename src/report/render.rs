//! A [`Summary`] as text (for postmaster's mailbox), JSON or CSV (HTML is
//! [`super::html`]).
//!
//! Contract: pure; each renderer returns a `String`. The text is laid out
//! like pflogsumm's (a grand-totals block, then one titled block per
//! table). The CSV is one long table, `section,key,count,bytes`, so a
//! spreadsheet or `awk` can pick any section; JSON is the `Summary` as is.

use super::tally::{Count, Summary, Traffic};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text.
    Text,
    /// One JSON object.
    Json,
    /// `section,key,count,bytes` rows.
    Csv,
    /// One HTML page with inline SVG charts ([`super::html`]).
    Html,
}

/// Render in `format`.
pub fn render(s: &Summary, format: Format) -> String {
    match format {
        Format::Text => text(s),
        Format::Json => {
            let mut j = serde_json::to_string_pretty(s)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            j.push('\n');
            j
        }
        Format::Csv => csv(s),
        Format::Html => super::html::page(s, None),
    }
}

pub(super) fn bytes(b: u64) -> String {
    const K: u64 = 1024;
    match b {
        b if b >= K * K * K * 10 => format!("{}g", b / (K * K * K)),
        b if b >= K * K * 10 => format!("{}m", b / (K * K)),
        b if b >= K * 10 => format!("{}k", b / K),
        b => format!("{b}"),
    }
}

pub(super) fn top(m: &BTreeMap<String, Count>) -> Vec<(&String, &Count)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    v
}

pub(super) fn top_n(m: &BTreeMap<String, u64>) -> Vec<(&String, &u64)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v
}

fn title(o: &mut String, t: &str) {
    let _ = write!(o, "\n{t}\n{}\n", "-".repeat(t.chars().count()));
}

fn traffic_header(o: &mut String, what: &str) {
    let _ = writeln!(
        o,
        "{what:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "received", "bytes", "delivered", "deferred", "bounced", "refused"
    );
}

fn traffic_row(o: &mut String, k: &str, t: &Traffic) {
    let _ = writeln!(
        o,
        "{k:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        t.received,
        bytes(t.received_bytes),
        t.delivered,
        t.deferred,
        t.bounced,
        t.refused
    );
}

/// pflogsumm-style text.
pub fn text(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "mxgate report: {} to {}",
        s.first.as_deref().unwrap_or("-"),
        s.last.as_deref().unwrap_or("-")
    );
    title(&mut o, "Grand Totals");
    let rows: [(&str, &Count); 7] = [
        ("received", &s.received),
        ("delivered", &s.delivered),
        ("deferred", &s.deferred),
        ("bounced", &s.bounced),
        ("discarded", &s.discarded),
        ("quarantined", &s.quarantined),
        ("", &Count::default()),
    ];
    for (k, c) in rows.iter().filter(|r| !r.0.is_empty()) {
        let _ = writeln!(o, "{:>9}   {k:<12} {:>9} bytes", c.count, bytes(c.bytes));
    }
    let _ = writeln!(o, "{:>9}   refused", s.refused_total);
    let _ = writeln!(
        o,
        "{:>9}   deferred messages (distinct)",
        s.deferred_messages
    );
    let _ = writeln!(o, "{:>9}   DSNs created", s.dsns_created);
    let n = |k: &str| s.distinct.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        o,
        "{:>9}   senders         {:>9}   sending domains",
        n("senders"),
        n("sender_domains")
    );
    let _ = writeln!(
        o,
        "{:>9}   recipients      {:>9}   recipient domains",
        n("recipients"),
        n("recipient_domains")
    );
    let _ = writeln!(
        o,
        "{:>9}   sending hosts   {:>9}   receiving hosts",
        n("sending_hosts"),
        n("receiving_hosts")
    );
    title(&mut o, "Refusals by reason");
    let mut r: Vec<_> = s.refused.iter().collect();
    r.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    for (k, v) in r {
        let _ = writeln!(o, "{:>9}   {k}", v.count);
        for (d, n) in top_n(&v.details) {
            let _ = writeln!(o, "{:>13}     {d}", n);
        }
    }
    if !s.refused_hosts.is_empty() {
        title(&mut o, "Refused client hosts");
        for (k, n) in top_n(&s.refused_hosts) {
            let _ = writeln!(o, "{n:>9}   {k}");
        }
    }
    if !s.sessions.is_empty() {
        title(&mut o, "Session events");
        for (k, n) in top_n(&s.sessions) {
            let _ = writeln!(o, "{n:>9}   {k}");
        }
    }
    title(&mut o, "Per-Hour Traffic");
    traffic_header(&mut o, "hour");
    for (h, t) in s.per_hour.iter().enumerate() {
        traffic_row(&mut o, &format!("{h:02}00-{:02}00", h + 1), t);
    }
    title(&mut o, "Per-Weekday Traffic");
    traffic_header(&mut o, "weekday");
    for wd in super::stamp::WEEKDAYS {
        if let Some(t) = s.per_weekday.get(wd) {
            traffic_row(&mut o, wd, t);
        }
    }
    for (heading, what, rows) in [
        ("Per-Day Traffic", "date", &s.per_day),
        ("Per-Listener Traffic", "listener", &s.per_listener),
        ("Per-Node Traffic", "node", &s.per_node),
    ] {
        title(&mut o, heading);
        traffic_header(&mut o, what);
        for (k, t) in rows {
            traffic_row(&mut o, k, t);
        }
    }
    title(&mut o, "Message Size Distribution");
    for b in &s.sizes {
        let _ = writeln!(o, "{:>9}   {}", b.count, b.bucket);
    }
    title(&mut o, "Delivery Delays (delivered recipients)");
    let d = &s.delays;
    let _ = writeln!(
        o,
        "count {}  mean {:.1}s  median {}s  p90 {}s  p99 {}s  max {}s",
        d.count, d.mean, d.p50, d.p90, d.p99, d.max
    );
    for b in &d.buckets {
        let _ = writeln!(o, "{:>9}   {}", b.count, b.bucket);
    }
    for (t, m) in [
        ("Senders by message count", &s.senders),
        ("Recipients by message count", &s.recipients),
        ("Sending domains", &s.sender_domains),
        ("Recipient domains", &s.recipient_domains),
        ("Sending hosts", &s.sending_hosts),
        ("Receiving hosts", &s.receiving_hosts),
    ] {
        title(&mut o, t);
        for (k, c) in top(m) {
            let _ = writeln!(o, "{:>9} {:>9}   {k}", c.count, bytes(c.bytes));
        }
    }
    title(&mut o, "Lines");
    for (k, n) in &s.lines {
        let _ = writeln!(o, "{n:>9}   {k}");
    }
    o
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `section,key,count,bytes`.
pub fn csv(s: &Summary) -> String {
    let mut o = String::from("section,key,count,bytes\n");
    let mut row = |sec: &str, k: &str, n: u64, b: Option<u64>| {
        let _ = writeln!(
            o,
            "{},{},{n},{}",
            field(sec),
            field(k),
            b.map(|b| b.to_string()).unwrap_or_default()
        );
    };
    for (k, c) in [
        ("received", &s.received),
        ("delivered", &s.delivered),
        ("deferred", &s.deferred),
        ("bounced", &s.bounced),
        ("discarded", &s.discarded),
        ("quarantined", &s.quarantined),
    ] {
        row("totals", k, c.count, Some(c.bytes));
    }
    row("totals", "refused", s.refused_total, None);
    row("totals", "deferred_messages", s.deferred_messages, None);
    row("totals", "dsns_created", s.dsns_created, None);
    for (k, v) in &s.refused {
        row("refused", k, v.count, None);
        for (d, n) in &v.details {
            row(&format!("refused:{k}"), d, *n, None);
        }
    }
    for (sec, per) in [
        ("refused_day", &s.refused_per_day),
        ("refused_weekday", &s.refused_per_weekday),
    ] {
        for (when, reasons) in per {
            for (k, n) in reasons {
                row(&format!("{sec}:{when}"), k, *n, None);
            }
        }
    }
    for (k, n) in &s.refused_hosts {
        row("refused_hosts", k, *n, None);
    }
    for (k, n) in &s.sessions {
        row("sessions", k, *n, None);
    }
    let mut traffic = |sec: &str, k: &str, t: &Traffic| {
        for (what, n) in [
            ("received", t.received),
            ("delivered", t.delivered),
            ("deferred", t.deferred),
            ("bounced", t.bounced),
            ("refused", t.refused),
        ] {
            let b = (what == "received").then_some(t.received_bytes);
            row(&format!("{sec}:{what}"), k, n, b);
        }
    };
    for (h, t) in s.per_hour.iter().enumerate() {
        traffic("hour", &format!("{h:02}"), t);
    }
    for (k, t) in &s.per_weekday {
        traffic("weekday", k, t);
    }
    for (k, t) in &s.per_day {
        traffic("day", k, t);
    }
    for (k, t) in &s.per_listener {
        traffic("listener", k, t);
    }
    for (k, t) in &s.per_node {
        traffic("node", k, t);
    }
    for b in &s.sizes {
        row("size", &b.bucket, b.count, None);
    }
    for b in &s.delays.buckets {
        row("delay", &b.bucket, b.count, None);
    }
    for (sec, m) in [
        ("sender", &s.senders),
        ("recipient", &s.recipients),
        ("sender_domain", &s.sender_domains),
        ("recipient_domain", &s.recipient_domains),
        ("sending_host", &s.sending_hosts),
        ("receiving_host", &s.receiving_hosts),
    ] {
        for (k, c) in m {
            row(sec, k, c.count, Some(c.bytes));
        }
    }
    for (k, n) in &s.distinct {
        row("distinct", k, *n, None);
    }
    for (k, n) in &s.lines {
        row("lines", k, *n, None);
    }
    o
}
