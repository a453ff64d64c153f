use super::*;
use crate::report::tally::{Tally, Window};

/// Two days, refusals of three reasons, a sender and a refused recipient
/// with markup in their addresses.
const LOG: &str = "\
Dec  3 09:00:00 gw1 mxgate[1]: 6B3LQK000000001: from=<\"<script>alert(1)</script>\"@evil.example>, size=500, class=0, nrcpts=1, msgid=<1@x>, proto=ESMTP, daemon=MTA, relay=mx.one.example [192.0.2.1]
Dec  3 09:00:01 gw1 mxgate[1]: 6B3LQK000000001: to=<x@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, relay=in.example.com. [198.51.100.1], dsn=2.0.0, stat=Sent (250 ok)
Dec  3 11:00:00 gw1 mxgate[1]: ruleset=check_rcpt, arg1=<u@elsewhere.com>, relay=[192.0.2.4], reject=550 5.7.1 <u@elsewhere.com>... Relaying denied
Dec  3 11:00:00 gw1 mxgate[1]: ruleset=check_relay, arg1=[192.0.2.5], arg2=192.0.2.5, relay=[192.0.2.5], reject=550 5.7.1 Rejected: 192.0.2.5 listed at bl.example.net
Dec  4 11:00:00 gw1 mxgate[1]: ruleset=check_relay, arg1=[192.0.2.6], arg2=192.0.2.6, relay=[192.0.2.6], reject=550 5.7.1 Rejected: 192.0.2.6 listed at bl.example.net
Dec  4 12:00:00 gw1 mxgate[1]: ruleset=check_rcpt, arg1=<\"<img src=x onerror=alert(2)>\"@example.com>, relay=[192.0.2.7], reject=550 5.7.1 <\"<img src=x onerror=alert(2)>\"@example.com>... Access denied
";

fn summary() -> Summary {
    let w = Window::new((2026, 12));
    let mut t = Tally::new();
    for l in LOG.lines() {
        t.add(l, &w);
    }
    t.summary(10)
}

/// The `<svg data-chart=ID>` … `</svg>` of one chart.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = page[start..].find("</svg>").unwrap() + start;
    &page[start..end]
}

/// (category, series) → count of every bar.
fn bar_counts(svg: &str) -> BTreeMap<(String, String), u64> {
    let attr = |tag: &str, name: &str| -> String {
        let k = format!("{name}=\"");
        let i = tag.find(&k).unwrap() + k.len();
        tag[i..][..tag[i..].find('"').unwrap()]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    svg.split("<rect class=\"bar\"")
        .skip(1)
        .map(|t| {
            (
                (attr(t, "data-category"), attr(t, "data-series")),
                attr(t, "data-count").parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn escapes_every_log_text() {
    let s = summary();
    assert_eq!(s.refused_total, 4, "{:?}", s.refused);
    let page = page(&s, None);
    // No markup from the log: the sender's <script> is text.
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;@evil.example"),
        "{page}"
    );
    assert_eq!(
        esc("a<b>&\"c\"'d'\u{7}"),
        "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;\u{fffd}"
    );
}

#[test]
fn bars_match_the_tally() {
    let s = summary();
    let page = page(&s, None);
    let per_day = bar_counts(chart(&page, "refused-per-day"));
    // Two days × three reasons, zeros included.
    assert_eq!(per_day.len(), 6, "{per_day:?}");
    let at = |m: &BTreeMap<(String, String), u64>, c: &str, r: &str| {
        m.get(&(c.to_string(), r.to_string())).copied()
    };
    assert_eq!(at(&per_day, "2026-12-03", "dnsbl"), Some(1));
    assert_eq!(at(&per_day, "2026-12-04", "dnsbl"), Some(1));
    assert_eq!(at(&per_day, "2026-12-03", "relay denied"), Some(1));
    assert_eq!(at(&per_day, "2026-12-04", "access rule"), Some(1));
    assert_eq!(at(&per_day, "2026-12-04", "relay denied"), Some(0));
    let wd = bar_counts(chart(&page, "refused-per-weekday"));
    assert_eq!(wd.len(), 7 * 3);
    assert_eq!(at(&wd, "Thursday", "dnsbl"), Some(1));
    assert_eq!(at(&wd, "Friday", "dnsbl"), Some(1));
    assert_eq!(wd.values().sum::<u64>(), s.refused_total);
    let sizes = bar_counts(chart(&page, "sizes"));
    assert_eq!(sizes.len(), 6);
    assert_eq!(at(&sizes, "<=1KB", "received"), Some(1));
    // The bucket label is escaped in the attribute.
    assert!(chart(&page, "sizes").contains("data-category=\"&lt;=1KB\""));
    let hourly = bar_counts(chart(&page, "hourly"));
    assert_eq!(hourly.len(), 24 * 5);
    assert_eq!(at(&hourly, "11", "refused"), Some(3));
    assert_eq!(at(&hourly, "09", "delivered"), Some(1));
    // No history, no queue chart; the legend names the reasons.
    assert!(!page.contains("data-chart=\"queue-depth\""));
    assert!(chart(&page, "refused-per-day").contains(">relay denied</text>"));
    // The text report's sections are tables.
    for h in [
        "Grand Totals",
        "Refusals by reason",
        "Per-Hour Traffic",
        "Per-Weekday Traffic",
        "Per-Day Traffic",
        "Per-Listener Traffic",
        "Per-Node Traffic",
        "Message Size Distribution",
        "Delivery Delays (delivered recipients)",
        "Senders by message count",
        "Receiving hosts",
        "Lines",
    ] {
        assert!(page.contains(&format!(">{h}</h2>")), "{h}");
    }
}

#[test]
fn stacked_bars_fill_to_their_total() {
    // The tallest stack reaches the axis maximum's share of the plot.
    let s = summary();
    let page = page(&s, None);
    let svg = chart(&page, "refused-per-day");
    let heights: f64 = svg
        .split("<rect class=\"bar\" data-category=\"2026-12-03\"")
        .skip(1)
        .map(|t| {
            let i = t.find("height=\"").unwrap() + 8;
            t[i..][..t[i..].find('"').unwrap()].parse::<f64>().unwrap()
        })
        .sum();
    // 2 refusals on a 0..2 axis: the whole plot height.
    assert!((heights - PLOT_H).abs() < 0.1, "{heights}");
}

#[test]
fn queue_depth_from_history() {
    let h = History::parse(concat!(
        r#"{"time":1764806400,"queues":[{"state":"queue","count":3},{"state":"hold","count":0}]}"#,
        "\n",
        r#"{"time":1764806700,"queues":[{"state":"queue","count":12},{"state":"hold","count":1}]}"#,
        "\n"
    ))
    .unwrap();
    let page = page(&summary(), Some(&h));
    let svg = chart(&page, "queue-depth");
    assert!(svg.contains("<title id=\"chart-queue-depth-title\">Queue depth over time</title>"));
    assert!(
        svg.contains("data-series=\"queue\" data-points=\"2\""),
        "{svg}"
    );
    assert!(
        svg.contains("data-series=\"hold\" data-points=\"2\""),
        "{svg}"
    );
    assert!(
        svg.contains("data-time=\"1764806700\" data-count=\"12\""),
        "{svg}"
    );
    // 2025-12-04 00:00 and 00:05 UTC as tick labels.
    assert!(svg.contains(">12-04 00:00</text>"), "{svg}");
    assert!(svg.contains(">12-04 00:05</text>"), "{svg}");
}

#[test]
fn a_long_history_is_cut_to_one_peak_per_pixel_column() {
    // A year of five-minute samples, one spike.
    let mut text = String::new();
    for i in 0..105_120u64 {
        let n = if i == 50_000 { 900 } else { i % 7 };
        text += &format!(
            "{{\"time\":{},\"queues\":[{{\"state\":\"queue\",\"count\":{n}}}]}}\n",
            1_700_000_000 + i * 300
        );
    }
    let h = History::parse(&text).unwrap();
    let page = page(&summary(), Some(&h));
    let svg = chart(&page, "queue-depth");
    let points: usize = attr_of(svg, "data-points").parse().unwrap();
    assert!(points <= (W - LEFT - RIGHT) as usize + 1, "{points}");
    assert!(svg.contains("data-samples=\"105120\""));
    // The spike survives, and sets the axis.
    assert!(svg.contains(">1000</text>"), "axis");
    // 900 of 1000 on a 220-pixel plot 40 pixels down: y = 62.
    assert!(svg.contains(",62.0"), "the spike's point");
    assert!(page.len() < 200_000, "{} bytes", page.len());
    // No markers for so many points.
    assert!(!svg.contains("class=\"point\""));
}

fn attr_of(tag: &str, name: &str) -> String {
    let k = format!("{name}=\"");
    let i = tag.find(&k).unwrap() + k.len();
    tag[i..][..tag[i..].find('"').unwrap()].to_string()
}

#[test]
fn empty_input_still_makes_a_page() {
    let page = page(&Tally::new().summary(10), None);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("no data"), "{page}");
    assert!(page.ends_with("</html>\n"));
}

#[test]
fn axis_steps_are_round() {
    assert_eq!(axis(0.0), (1.0, 1.0));
    assert_eq!(axis(3.0), (3.0, 1.0));
    assert_eq!(axis(7.0), (8.0, 2.0));
    assert_eq!(axis(48.0), (50.0, 10.0));
    assert_eq!(axis(1234.0), (1500.0, 500.0));
}
