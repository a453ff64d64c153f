//! A [`Summary`] as one self-contained HTML page with inline SVG charts.
//!
//! Contract: pure; [`page`] returns the whole document as a `String`. No
//! external asset, no script, no `<style>` block: every style is an inline
//! attribute, so the page reads the same in a browser, saved to disk, or in
//! a mail client (which may drop the SVG; the tables carry the same
//! figures). Every text that comes from a log (addresses, host names,
//! reasons, details) goes through [`esc`], in text and in attributes.
//!
//! Charts, each an `<svg data-chart=ID>` with a `<title>` and a visible
//! heading, axes with values and labels:
//! * `refused-per-day`, `refused-per-weekday`: stacked bars, one colour per
//!   refusal reason, with a legend;
//! * `sizes`: the message-size distribution;
//! * `hourly`: grouped bars of received, delivered, deferred, bounced and
//!   refused per hour of the day;
//! * `queue-depth` (only with a [`History`]): one line per queue state.
//!
//! Each bar is a `<rect class="bar">` carrying `data-category`,
//! `data-series` and `data-count` (zeros included), so a test or a script
//! can read the figures back; its `<title>` is the tooltip. The tables
//! below the charts are the text report's sections. No line is longer
//! than a few hundred bytes (plus the longest log text), so the page can
//! be mailed as it is (RFC 5322's 998-byte line limit).

use super::history::History;
use super::render::{bytes, top, top_n};
use super::stamp::WEEKDAYS;
use super::tally::{Count, Summary, Traffic};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Colours for series, in order (distinct on white and for most colour
/// vision deficiencies: the Okabe–Ito palette, then greys).
pub const PALETTE: [&str; 10] = [
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
    "#888888", "#bbbbbb",
];

/// Chart width (px).
const W: f64 = 760.0;
/// Plot area height (px).
const PLOT_H: f64 = 220.0;
/// Margins around the plot area.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
/// Below the plot: tick labels and the axis label.
const BELOW: f64 = 56.0;
const FONT: &str = "font-family:Helvetica,Arial,sans-serif";

/// Escape `s` for HTML text and attribute values (also valid XML, so the
/// same text is safe inside the SVG).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Control characters have no business in a page.
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// The whole page: charts (queue depth when `history` is given), then the
/// text report's sections as tables.
pub fn page(s: &Summary, history: Option<&History>) -> String {
    let span = format!(
        "{} to {}",
        s.first.as_deref().unwrap_or("-"),
        s.last.as_deref().unwrap_or("-")
    );
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>mxgate report: {span}</title>\n</head>\n\
         <body style=\"margin:16px;background:#ffffff;color:#222222;{FONT};font-size:14px\">\n\
         <h1 style=\"font-size:20px;margin:0 0 12px 0\">mxgate report: {span}</h1>\n",
        span = esc(&span)
    );
    o.push_str("<div id=\"charts\">\n");
    let reasons = reasons(s);
    let days: Vec<String> = s.per_day.keys().cloned().collect();
    o.push_str(&bars(&Chart {
        id: "refused-per-day",
        title: "Refusals per day by reason",
        x_label: "day",
        y_label: "refusals",
        categories: &days,
        series: &reason_series(&reasons, &days, &s.refused_per_day),
        layout: Layout::Stacked,
    }));
    let weekdays: Vec<String> = WEEKDAYS.iter().map(|d| d.to_string()).collect();
    o.push_str(&bars(&Chart {
        id: "refused-per-weekday",
        title: "Refusals per weekday by reason",
        x_label: "weekday",
        y_label: "refusals",
        categories: &weekdays,
        series: &reason_series(&reasons, &weekdays, &s.refused_per_weekday),
        layout: Layout::Stacked,
    }));
    let sizes: Vec<String> = s.sizes.iter().map(|b| b.bucket.clone()).collect();
    o.push_str(&bars(&Chart {
        id: "sizes",
        title: "Message size distribution",
        x_label: "message size (1 KB = 1024 bytes)",
        y_label: "messages received",
        categories: &sizes,
        series: &[Series {
            name: "received".into(),
            values: s.sizes.iter().map(|b| b.count).collect(),
        }],
        layout: Layout::Grouped,
    }));
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let traffic: [(&str, Figure); 5] = [
        ("received", |t| t.received),
        ("delivered", |t| t.delivered),
        ("deferred", |t| t.deferred),
        ("bounced", |t| t.bounced),
        ("refused", |t| t.refused),
    ];
    let hourly: Vec<Series> = traffic
        .iter()
        .map(|(name, f)| Series {
            name: (*name).into(),
            values: s.per_hour.iter().map(f).collect(),
        })
        .collect();
    o.push_str(&bars(&Chart {
        id: "hourly",
        title: "Traffic per hour of the day",
        x_label: "hour (log time)",
        y_label: "messages / recipients",
        categories: &hours,
        series: &hourly,
        layout: Layout::Grouped,
    }));
    if let Some(h) = history {
        o.push_str(&queue_depth(h));
    }
    o.push_str("</div>\n");
    tables(&mut o, s);
    o.push_str("</body>\n</html>\n");
    o
}

/// Reasons, most frequent first (ties by name).
fn reasons(s: &Summary) -> Vec<String> {
    let mut r: Vec<(&String, u64)> = s.refused.iter().map(|(k, v)| (k, v.count)).collect();
    r.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    r.into_iter().map(|(k, _)| k.clone()).collect()
}

fn reason_series(
    reasons: &[String],
    categories: &[String],
    per: &BTreeMap<String, BTreeMap<String, u64>>,
) -> Vec<Series> {
    reasons
        .iter()
        .map(|r| Series {
            name: r.clone(),
            values: categories
                .iter()
                .map(|c| per.get(c).and_then(|m| m.get(r)).copied().unwrap_or(0))
                .collect(),
        })
        .collect()
}

/// One figure of a [`Traffic`] row.
type Figure = fn(&Traffic) -> u64;

/// One named row of values, one per category.
struct Series {
    name: String,
    values: Vec<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Series on top of each other.
    Stacked,
    /// Series side by side.
    Grouped,
}

struct Chart<'a> {
    id: &'a str,
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    categories: &'a [String],
    series: &'a [Series],
    layout: Layout,
}

/// A "nice" axis maximum and step (1, 2 or 5 × 10^k) for values up to `max`.
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let rough = max / 5.0;
    let mag = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * mag)
        .max(1.0);
    ((max / step).ceil() * step, step)
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The frame every chart shares: `<figure>`, `<svg>`, title, y grid with
/// values, axis labels. Returns the open document; the caller adds its
/// marks and the legend and closes it with [`close`].
fn open(
    id: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    height: f64,
    y_max: f64,
    step: f64,
) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<figure id=\"chart-{id}\" style=\"margin:0 0 20px 0\">\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"{id}\" role=\"img\" \
         aria-labelledby=\"chart-{id}-title\" width=\"{W}\" height=\"{height}\" \
         viewBox=\"0 0 {W} {height}\" style=\"background:#ffffff;max-width:100%;height:auto;{FONT}\">\n\
         <title id=\"chart-{id}-title\">{t}</title>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"16\" font-weight=\"bold\" fill=\"#222222\">{t}</text>\n",
        t = esc(title)
    );
    // Horizontal grid lines with their values.
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        let y = TOP + PLOT_H - v / y_max * PLOT_H;
        let _ = writeln!(
            o,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\" stroke=\"#dddddd\"/>\
             <text class=\"y-tick\" x=\"{tx}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#444444\">{val}</text>",
            x2 = W - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            val = num(v)
        );
        v += step;
    }
    // Axes.
    let _ = write!(
        o,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#444444\"/>\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#444444\"/>\n\
         <text class=\"x-label\" x=\"{cx}\" y=\"{xl}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#222222\">{x}</text>\n\
         <text class=\"y-label\" x=\"0\" y=\"0\" font-size=\"12\" text-anchor=\"middle\" fill=\"#222222\" \
         transform=\"translate(16 {cy}) rotate(-90)\">{y}</text>\n",
        b = TOP + PLOT_H,
        r = W - RIGHT,
        cx = LEFT + (W - LEFT - RIGHT) / 2.0,
        xl = TOP + PLOT_H + 42.0,
        cy = TOP + PLOT_H / 2.0,
        x = esc(x_label),
        y = esc(y_label),
    );
    o
}

fn close(o: &mut String) {
    o.push_str("</svg>\n</figure>\n");
}

/// Height needed for a legend of `n` entries, 4 to a row.
fn legend_height(n: usize) -> f64 {
    n.div_ceil(4) as f64 * 18.0 + 6.0
}

/// A legend below the axis label.
fn legend(o: &mut String, names: &[&str]) {
    let col_w = (W - LEFT - RIGHT) / 4.0;
    o.push_str("<g class=\"legend\">\n");
    for (i, name) in names.iter().enumerate() {
        let x = LEFT + (i % 4) as f64 * col_w;
        let y = TOP + PLOT_H + BELOW + (i / 4) as f64 * 18.0;
        let _ = writeln!(
            o,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"12\" height=\"12\" fill=\"{c}\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"12\" fill=\"#222222\">{n}</text>",
            c = colour(i),
            tx = x + 16.0,
            ty = y + 10.0,
            n = esc(name)
        );
    }
    o.push_str("</g>\n");
}

fn colour(i: usize) -> &'static str {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#888888")
}

/// Every `k`th category gets a label, so labels of `chars` characters do
/// not overlap in a slot `slot` pixels wide.
fn label_every(chars: usize, slot: f64) -> usize {
    let need = chars as f64 * 6.5 + 6.0;
    if slot <= 0.0 {
        return 1;
    }
    ((need / slot).ceil() as usize).max(1)
}

fn bars(c: &Chart<'_>) -> String {
    let n = c.categories.len();
    let totals: Vec<u64> = (0..n)
        .map(|i| {
            let at = |s: &Series| s.values.get(i).copied().unwrap_or(0);
            match c.layout {
                Layout::Stacked => c.series.iter().map(at).sum(),
                Layout::Grouped => c.series.iter().map(at).max().unwrap_or(0),
            }
        })
        .collect();
    let (y_max, step) = axis(totals.iter().copied().max().unwrap_or(0) as f64);
    // A single series needs no legend: the title names it.
    let keyed = c.series.len() > 1;
    let height = TOP
        + PLOT_H
        + BELOW
        + if keyed {
            legend_height(c.series.len())
        } else {
            0.0
        }
        + 4.0;
    let mut o = open(c.id, c.title, c.x_label, c.y_label, height, y_max, step);
    let plot_w = W - LEFT - RIGHT;
    let slot = if n == 0 { plot_w } else { plot_w / n as f64 };
    let gap = (slot * 0.2).min(12.0);
    let longest = c
        .categories
        .iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    let every = label_every(longest, slot);
    let scale = |v: u64| v as f64 / y_max * PLOT_H;
    let base = TOP + PLOT_H;
    for (i, cat) in c.categories.iter().enumerate() {
        // Bars no wider than 64 px, centred in their slot.
        let inner = (slot - gap).min(64.0);
        let x0 = LEFT + i as f64 * slot + (slot - inner) / 2.0;
        let mut stack = 0.0;
        for (j, s) in c.series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0);
            let h = scale(v);
            let (x, w, y) = match c.layout {
                Layout::Stacked => (x0, inner, base - stack - h),
                Layout::Grouped => {
                    let w = inner / c.series.len().max(1) as f64;
                    (x0 + j as f64 * w, w, base - h)
                }
            };
            stack += h;
            let _ = writeln!(
                o,
                "<rect class=\"bar\" data-category=\"{cat}\" data-series=\"{name}\" data-count=\"{v}\" \
                 x=\"{x:.2}\" y=\"{y:.2}\" width=\"{w:.2}\" height=\"{h:.2}\" fill=\"{col}\">\
                 <title>{cat}, {name}: {v}</title></rect>",
                cat = esc(cat),
                name = esc(&s.name),
                col = colour(j),
            );
        }
        if i % every == 0 {
            let _ = writeln!(
                o,
                "<text class=\"x-tick\" x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#444444\">{t}</text>",
                // Centred under the bar, but kept inside the picture.
                x = (LEFT + (i as f64 + 0.5) * slot)
                    .min(W - 2.0 - cat.chars().count() as f64 * 3.3)
                    .max(cat.chars().count() as f64 * 3.3 + 2.0),
                y = base + 16.0,
                t = esc(cat)
            );
        }
    }
    if n == 0 {
        let _ = writeln!(
            o,
            "<text x=\"{x}\" y=\"{y}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#888888\">no data</text>",
            x = LEFT + plot_w / 2.0,
            y = TOP + PLOT_H / 2.0
        );
    }
    if keyed {
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        legend(&mut o, &names);
    }
    close(&mut o);
    o
}

/// `MM-DD HH:MM` (UTC) of seconds since the epoch.
fn clock(t: u64) -> String {
    let (_, m, d, h, mi, _) = crate::spool::ids::civil(t);
    format!("{m:02}-{d:02} {h:02}:{mi:02}")
}

/// At most one point per pixel column of a plot `width` wide: the largest
/// sample of each column (a queue's peaks are what matter), so a year of
/// five-minute samples stays a small page.
fn peaks(pts: &[(u64, u64)], t_min: u64, span: f64, width: f64) -> Vec<(u64, u64)> {
    if pts.len() as f64 <= width {
        return pts.to_vec();
    }
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut col = None;
    for &(t, v) in pts {
        let c = ((t - t_min) as f64 / span * width) as u64;
        match out.last_mut() {
            Some(last) if col == Some(c) => {
                if v > last.1 {
                    *last = (t, v);
                }
            }
            _ => {
                out.push((t, v));
                col = Some(c);
            }
        }
    }
    out
}

fn queue_depth(h: &History) -> String {
    let points = h.series.values().flatten();
    let t_min = points.clone().map(|p| p.0).min().unwrap_or(0);
    let t_max = points.clone().map(|p| p.0).max().unwrap_or(0);
    let v_max = points.map(|p| p.1).max().unwrap_or(0);
    let (y_max, step) = axis(v_max as f64);
    // queue, hold, quarantine (the order of `mxgate health`), then others.
    let rank = |s: &str| {
        ["queue", "hold", "quarantine"]
            .iter()
            .position(|k| *k == s)
            .unwrap_or(3)
    };
    let mut series: Vec<(&String, &Vec<(u64, u64)>)> = h.series.iter().collect();
    series.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
    let names: Vec<&str> = series.iter().map(|s| s.0.as_str()).collect();
    let height = TOP + PLOT_H + BELOW + legend_height(names.len()) + 4.0;
    let mut o = open(
        "queue-depth",
        "Queue depth over time",
        "time (UTC)",
        "messages",
        height,
        y_max,
        step,
    );
    let plot_w = W - LEFT - RIGHT;
    let span = (t_max - t_min).max(1) as f64;
    let x_of = |t: u64| LEFT + (t - t_min) as f64 / span * plot_w;
    let y_of = |v: u64| TOP + PLOT_H - v as f64 / y_max * PLOT_H;
    // Time ticks: five, evenly spaced.
    for k in 0..5u64 {
        let t = t_min + (t_max - t_min) * k / 4;
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{b}\" x2=\"{x:.1}\" y2=\"{b2}\" stroke=\"#444444\"/>\
             <text class=\"x-tick\" x=\"{x:.1}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"{anchor}\" fill=\"#444444\">{l}</text>",
            x = x_of(t),
            b = TOP + PLOT_H,
            b2 = TOP + PLOT_H + 4.0,
            ty = TOP + PLOT_H + 16.0,
            l = clock(t)
        );
    }
    for (i, &(state, samples)) in series.iter().enumerate() {
        let pts = peaks(samples, t_min, span, plot_w);
        let pts = &pts;
        let coords: Vec<String> = pts
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x_of(*t), y_of(*v)))
            .collect();
        let last = pts.last().map_or(0, |p| p.1);
        let _ = writeln!(
            o,
            "<polyline class=\"series\" data-series=\"{s}\" data-points=\"{n}\" data-samples=\"{m}\" fill=\"none\" \
             stroke=\"{c}\" stroke-width=\"2\" points=\"{p}\"><title>{s}: {m} samples, last {last}</title></polyline>",
            s = esc(state),
            n = pts.len(),
            m = samples.len(),
            c = colour(i),
            // 20 points a line: the page stays within mail's 998-byte lines.
            p = coords
                .chunks(20)
                .map(|c| c.join(" "))
                .collect::<Vec<_>>()
                .join("\n")
        );
        // Markers when there are few enough samples to tell apart.
        if pts.len() <= 100 {
            for (t, v) in pts {
                let _ = writeln!(
                    o,
                    "<circle class=\"point\" data-series=\"{s}\" data-time=\"{t}\" data-count=\"{v}\" \
                     cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{c}\"><title>{s} {when}: {v}</title></circle>",
                    s = esc(state),
                    x = x_of(*t),
                    y = y_of(*v),
                    c = colour(i),
                    when = clock(*t)
                );
            }
        }
    }
    if h.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{x}\" y=\"{y}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#888888\">no samples</text>",
            x = LEFT + plot_w / 2.0,
            y = TOP + PLOT_H / 2.0
        );
    }
    // Always a legend, even for one state: the line's name matters.
    legend(&mut o, &names);
    close(&mut o);
    o
}

// ---- tables ----

const TABLE: &str = "border-collapse:collapse;margin:4px 0 16px 0;font-size:13px";
const TH: &str =
    "text-align:left;padding:3px 10px;border-bottom:2px solid #444444;background:#f2f2f2";
const TD: &str = "padding:2px 10px;border-bottom:1px solid #dddddd;text-align:right;font-variant-numeric:tabular-nums";
const TDL: &str = "padding:2px 10px;border-bottom:1px solid #dddddd;text-align:left";

fn h2(o: &mut String, id: &str, t: &str) {
    let _ = writeln!(
        o,
        "<h2 id=\"{id}\" style=\"font-size:16px;margin:20px 0 4px 0\">{}</h2>",
        esc(t)
    );
}

/// A table: `head` names the columns; in each row the cells whose index is
/// in `left` are text (left-aligned), the others figures.
fn table(o: &mut String, head: &[&str], rows: &[Vec<String>], left: &[usize]) {
    let _ = write!(o, "<table style=\"{TABLE}\">\n<tr>");
    for h in head {
        let _ = write!(o, "<th style=\"{TH}\">{}</th>", esc(h));
    }
    o.push_str("</tr>\n");
    for r in rows {
        o.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            let st = if left.contains(&i) { TDL } else { TD };
            // One cell a line: rows stay within mail's 998-byte lines.
            let _ = write!(o, "\n<td style=\"{st}\">{}</td>", esc(cell));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

fn traffic_rows<'a>(rows: impl Iterator<Item = (String, &'a Traffic)>) -> Vec<Vec<String>> {
    rows.map(|(k, t)| {
        vec![
            k,
            t.received.to_string(),
            bytes(t.received_bytes),
            t.delivered.to_string(),
            t.deferred.to_string(),
            t.bounced.to_string(),
            t.refused.to_string(),
        ]
    })
    .collect()
}

fn tables(o: &mut String, s: &Summary) {
    h2(o, "grand-totals", "Grand Totals");
    let mut rows: Vec<Vec<String>> = [
        ("received", &s.received),
        ("delivered", &s.delivered),
        ("deferred", &s.deferred),
        ("bounced", &s.bounced),
        ("discarded", &s.discarded),
        ("quarantined", &s.quarantined),
    ]
    .iter()
    .map(|(k, c): &(&str, &Count)| vec![(*k).into(), c.count.to_string(), bytes(c.bytes)])
    .collect();
    let n = |k: &str| s.distinct.get(k).copied().unwrap_or(0).to_string();
    for (k, v) in [
        ("refused", s.refused_total.to_string()),
        (
            "deferred messages (distinct)",
            s.deferred_messages.to_string(),
        ),
        ("DSNs created", s.dsns_created.to_string()),
        ("senders", n("senders")),
        ("sending domains", n("sender_domains")),
        ("recipients", n("recipients")),
        ("recipient domains", n("recipient_domains")),
        ("sending hosts", n("sending_hosts")),
        ("receiving hosts", n("receiving_hosts")),
    ] {
        rows.push(vec![k.into(), v, String::new()]);
    }
    table(o, &["", "count", "bytes"], &rows, &[0]);

    h2(o, "refusals", "Refusals by reason");
    let mut rows = Vec::new();
    for r in reasons(s) {
        let Some(v) = s.refused.get(&r) else { continue };
        rows.push(vec![r.clone(), String::new(), v.count.to_string()]);
        for (d, n) in top_n(&v.details) {
            rows.push(vec![String::new(), d.clone(), n.to_string()]);
        }
    }
    table(o, &["reason", "detail", "count"], &rows, &[0, 1]);
    if !s.refused_hosts.is_empty() {
        h2(o, "refused-hosts", "Refused client hosts");
        let rows: Vec<_> = top_n(&s.refused_hosts)
            .into_iter()
            .map(|(k, n)| vec![k.clone(), n.to_string()])
            .collect();
        table(o, &["host", "refusals"], &rows, &[0]);
    }
    if !s.sessions.is_empty() {
        h2(o, "sessions", "Session events");
        let rows: Vec<_> = top_n(&s.sessions)
            .into_iter()
            .map(|(k, n)| vec![k.clone(), n.to_string()])
            .collect();
        table(o, &["event", "count"], &rows, &[0]);
    }
    let head = |what: &'static str| {
        [
            what,
            "received",
            "bytes",
            "delivered",
            "deferred",
            "bounced",
            "refused",
        ]
    };
    h2(o, "per-hour", "Per-Hour Traffic");
    let rows = traffic_rows(
        s.per_hour
            .iter()
            .enumerate()
            .map(|(h, t)| (format!("{h:02}00-{:02}00", h + 1), t)),
    );
    table(o, &head("hour"), &rows, &[0]);
    h2(o, "per-weekday", "Per-Weekday Traffic");
    let rows = traffic_rows(
        WEEKDAYS
            .iter()
            .filter_map(|wd| s.per_weekday.get(*wd).map(|t| (wd.to_string(), t))),
    );
    table(o, &head("weekday"), &rows, &[0]);
    for (id, heading, what, m) in [
        ("per-day", "Per-Day Traffic", "date", &s.per_day),
        (
            "per-listener",
            "Per-Listener Traffic",
            "listener",
            &s.per_listener,
        ),
        ("per-node", "Per-Node Traffic", "node", &s.per_node),
    ] {
        h2(o, id, heading);
        let rows = traffic_rows(m.iter().map(|(k, t)| (k.clone(), t)));
        table(o, &head(what), &rows, &[0]);
    }
    h2(o, "sizes", "Message Size Distribution");
    let rows: Vec<_> = s
        .sizes
        .iter()
        .map(|b| vec![b.bucket.clone(), b.count.to_string()])
        .collect();
    table(o, &["size", "messages"], &rows, &[0]);
    h2(o, "delays", "Delivery Delays (delivered recipients)");
    let d = &s.delays;
    let _ = writeln!(
        o,
        "<p style=\"margin:4px 0\">count {}, mean {:.1}s, median {}s, p90 {}s, p99 {}s, max {}s</p>",
        d.count, d.mean, d.p50, d.p90, d.p99, d.max
    );
    let rows: Vec<_> = d
        .buckets
        .iter()
        .map(|b| vec![b.bucket.clone(), b.count.to_string()])
        .collect();
    table(o, &["delay", "recipients"], &rows, &[0]);
    for (id, t, m) in [
        ("senders", "Senders by message count", &s.senders),
        ("recipients", "Recipients by message count", &s.recipients),
        ("sender-domains", "Sending domains", &s.sender_domains),
        (
            "recipient-domains",
            "Recipient domains",
            &s.recipient_domains,
        ),
        ("sending-hosts", "Sending hosts", &s.sending_hosts),
        ("receiving-hosts", "Receiving hosts", &s.receiving_hosts),
    ] {
        h2(o, id, t);
        let rows: Vec<_> = top(m)
            .into_iter()
            .map(|(k, c)| vec![k.clone(), c.count.to_string(), bytes(c.bytes)])
            .collect();
        table(o, &["", "count", "bytes"], &rows, &[0]);
    }
    h2(o, "lines", "Lines");
    let rows: Vec<_> = s
        .lines
        .iter()
        .map(|(k, n)| vec![k.clone(), n.to_string()])
        .collect();
    table(o, &["lines", "count"], &rows, &[0]);
}

#[cfg(test)]
mod tests;
