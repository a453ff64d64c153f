use super::*;

const LOG: &str = "\
Dec  3 09:00:00 gw1 mxgate[1]: 6B3LQK000000001: from=<a@one.example>, size=500, class=0, nrcpts=2, msgid=<1@x>, proto=ESMTP, daemon=MTA, relay=mx.one.example [192.0.2.1]
Dec  3 09:00:01 gw1 mxgate[1]: 6B3LQK000000001: to=<x@example.com>,<y@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, relay=in.example.com. [198.51.100.1], dsn=2.0.0, stat=Sent (250 ok)
Dec  3 09:05:00 gw1 mxgate[1]: 6B3LQK000000002: from=<b@two.example>, size=20000, class=0, nrcpts=1, msgid=<2@x>, proto=ESMTPA, daemon=MSA, relay=laptop [192.0.2.2]
Dec  3 09:05:01 gw1 mxgate[1]: 6B3LQK000000002: to=<z@far.example>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, relay=mx.far.example. [198.51.100.2], dsn=4.0.0, stat=Deferred: Connection refused by mx.far.example.
Dec  3 10:05:01 gw1 mxgate[1]: 6B3LQK000000002: to=<z@far.example>, delay=01:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, relay=mx.far.example. [198.51.100.2], dsn=5.1.1, stat=User unknown
Dec  3 10:05:01 gw1 mxgate[1]: 6B3LQK000000002: 6B3LQK000000003: DSN: User unknown
Dec  3 11:00:00 gw2 sm-mta[7]: 6B3LQK000000001: from=<c@one.example>, size=2000000, class=0, nrcpts=1, msgid=<3@x>, proto=ESMTP, daemon=MTA, relay=[192.0.2.3], quarantine=virus
Dec  3 11:00:00 gw2 sm-mta[7]: ruleset=check_rcpt, arg1=<u@elsewhere.com>, relay=[192.0.2.4], reject=550 5.7.1 <u@elsewhere.com>... Relaying denied
Dec  3 11:00:00 gw2 sm-mta[7]: ruleset=check_relay, arg1=[192.0.2.5], arg2=192.0.2.5, relay=[192.0.2.5], reject=550 5.7.1 Rejected: 192.0.2.5 listed at bl.example.net
Dec  3 11:00:00 gw2 sm-mta[7]: ruleset=check_relay, arg1=[192.0.2.6], arg2=192.0.2.6, relay=[192.0.2.6], reject=550 5.7.1 Rejected: 192.0.2.6 listed at bl.example.net
Dec  3 11:00:00 gw2 postfix/smtpd[9]: NOQUEUE: reject: RCPT from x[192.0.2.7]: 554 5.7.1 Relay access denied
Dec  3 11:00:00 gw2 this is not a log line
not even syslog
Dec  4 00:00:00 gw2 sm-mta[7]: 6B3LQK000000009: from=<late@one.example>, size=1, class=0, nrcpts=1, msgid=<4@x>, proto=ESMTP, daemon=MTA, relay=[192.0.2.3]
";

fn run(window: &Window) -> Summary {
    let mut t = Tally::new();
    for l in LOG.lines() {
        t.add(l, window);
    }
    t.summary(10)
}

#[test]
fn totals_from_literal_lines() {
    let mut w = Window::new((2026, 12));
    w.until = Stamp::parse_bound("2026-12-04");
    let s = run(&w);
    assert_eq!(s.lines.get("read"), Some(&14));
    assert_eq!(s.lines.get("unparsed"), Some(&2));
    assert_eq!(s.lines.get("other_programs"), Some(&1));
    assert_eq!(s.lines.get("outside_window"), Some(&1));
    assert_eq!(
        s.received,
        Count {
            count: 3,
            bytes: 2_020_500
        }
    );
    assert_eq!(
        s.delivered,
        Count {
            count: 2,
            bytes: 1000
        }
    );
    assert_eq!(s.deferred.count, 1);
    assert_eq!(s.deferred_messages, 1);
    assert_eq!(
        s.bounced,
        Count {
            count: 1,
            bytes: 20000
        }
    );
    assert_eq!(s.dsns_created, 1);
    assert_eq!(s.quarantined.count, 1);
    assert_eq!(s.refused_total, 3);
    assert_eq!(s.refused.get("relay denied").map(|r| r.count), Some(1));
    let bl = s.refused.get("dnsbl").unwrap();
    assert_eq!(bl.details.get("bl.example.net"), Some(&2));
    let day = s.refused_per_day.get("2026-12-03").unwrap();
    assert_eq!(day.get("dnsbl"), Some(&2));
    assert_eq!(day.get("relay denied"), Some(&1));
    assert_eq!(s.refused_per_day.len(), 1);
    let thu = s.refused_per_weekday.get("Thursday").unwrap();
    assert_eq!(thu.values().sum::<u64>(), 3);
    assert!(!s.refused_per_weekday.contains_key("Friday"));
    // Per node, listener, hour, weekday (2026-12-03 is a Thursday).
    assert_eq!(s.per_node.get("gw1").map(|t| t.received), Some(2));
    assert_eq!(s.per_node.get("gw2").map(|t| t.refused), Some(3));
    assert_eq!(
        s.per_listener.get("MSA").map(|t| t.received_bytes),
        Some(20000)
    );
    assert_eq!(s.per_listener.get("MTA").map(|t| t.received), Some(2));
    assert_eq!(s.per_listener.get("MTA").map(|t| t.delivered), Some(2));
    assert_eq!(s.per_listener.get("MSA").map(|t| t.deferred), Some(1));
    assert_eq!(s.per_hour.get(9).map(|t| t.delivered), Some(2));
    assert_eq!(s.per_weekday.get("Thursday").map(|t| t.received), Some(3));
    assert_eq!(s.per_weekday.len(), 7);
    // Sizes: 500 ≤1KB, 20000 ≤100KB, 2000000 ≤10MB.
    let sizes: Vec<u64> = s.sizes.iter().map(|b| b.count).collect();
    assert_eq!(sizes, vec![1, 0, 1, 0, 1, 0]);
    assert_eq!(s.delays.count, 2);
    assert_eq!(s.delays.max, 1);
    assert_eq!(
        s.sender_domains.get("one.example").map(|c| c.count),
        Some(2)
    );
    assert_eq!(
        s.recipient_domains.get("example.com").map(|c| c.count),
        Some(2)
    );
    assert!(s.sending_hosts.contains_key("mx.one.example[192.0.2.1]"));
    assert!(
        s.receiving_hosts
            .contains_key("in.example.com.[198.51.100.1]")
    );
}

#[test]
fn queue_ids_of_two_nodes_do_not_mix() {
    // 6B3LQK000000001 exists on gw1 (500 bytes) and gw2 (2000000 bytes);
    // gw1's delivery is counted with gw1's size.
    let s = run(&Window::new((2026, 12)));
    assert_eq!(s.delivered.bytes, 1000);
}

#[test]
fn since_and_top() {
    let mut w = Window::new((2026, 12));
    w.since = Stamp::parse_bound("2026-12-03 11:00");
    let mut t = Tally::new();
    for l in LOG.lines() {
        t.add(l, &w);
    }
    let s = t.summary(1);
    assert_eq!(s.received.count, 2);
    assert_eq!(s.senders.len(), 1);
    assert_eq!(s.distinct.get("senders"), Some(&2));
    assert_eq!(s.first.as_deref(), Some("2026-12-03 11:00:00"));
    assert_eq!(s.last.as_deref(), Some("2026-12-04 00:00:00"));
}

#[test]
fn renderers_carry_the_totals() {
    let s = run(&Window::new((2026, 12)));
    let text = super::super::render::text(&s);
    assert!(text.contains("Grand Totals"), "{text}");
    assert!(text.contains("bl.example.net"), "{text}");
    let csv = super::super::render::csv(&s);
    assert!(csv.contains("\ntotals,received,4,2020501\n"), "{csv}");
    assert!(csv.contains("\nrefused:dnsbl,bl.example.net,2,\n"), "{csv}");
    assert!(csv.contains("\nrefused_day:2026-12-03,dnsbl,2,\n"), "{csv}");
    let json: serde_json::Value = serde_json::from_str(&super::super::render::render(
        &s,
        super::super::render::Format::Json,
    ))
    .unwrap();
    assert_eq!(json["received"]["count"], 4);
}
