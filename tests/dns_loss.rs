//! Lost DNS datagrams: a question nobody answers delays only whoever asked
//! it, a lost datagram is sent again early, and one client's lookups are
//! bounded. Against `tests/support/dropdns.py` on loopback (a responder that
//! drops a zone, the first copy of each question, or one query in N).
//!
//! The cause these guard against (hickory's `Resolver`, up to 0.1): one
//! in-flight query was shared by every caller asking the same question, and
//! its UDP resend interval grew with every NXDOMAIN/NODATA answer until no
//! resend happened before the timeout (see the `src/dns.rs` header).

mod support;

use mxgate::dns::{Answer, Dns};
use std::time::Duration;
use support::*;

fn dns(d: &DropDns, timeout: Duration) -> Dns {
    Dns::with_servers(&[format!("127.0.0.1:{}", d.port).parse().unwrap()], timeout).unwrap()
}

/// The first three copies of each question are lost. Within a two-second
/// total, only a resolver that resends early (ours: after 0.25, 0.75 and
/// 1.75 s) gets the fourth copy answered; one that waits for a per-try
/// timeout before asking again does not — and hickory stopped resending
/// early after a few dozen negative answers, so those come first.
#[test]
fn a_lost_datagram_is_sent_again_within_the_total_timeout() {
    let server = DropDns::start(&["--drop-first", "3"]);
    let dns = dns(&server, Duration::from_secs(2));
    smol::block_on(async {
        // Forty NODATA answers first (the common case at a gateway: clean
        // DNSBL lookups, hosts without AAAA), asked at once.
        let warm: Vec<_> = (0..40)
            .map(|i| {
                let d = dns.clone();
                smol::spawn(async move { d.aaaa(&format!("neg{i}.example")).await })
            })
            .collect();
        for w in warm {
            w.await;
        }
        let a = dns.a("fresh.example").await;
        assert_eq!(a, Answer::Found(vec![[192, 0, 2, 1].into()]));
    });
    // The answer came from the fourth copy (the responder reports each
    // query before answering it).
    let mut copies = 0;
    loop {
        let q = server
            .queries
            .recv_timeout(Duration::from_secs(20))
            .expect("the responder reports every query");
        if q.starts_with("fresh.example 1 ") {
            copies += 1;
            if q.ends_with("answered") {
                break;
            }
        }
    }
    assert_eq!(copies, 4, "the question was sent {copies} time(s)");
}

/// Two callers asking the same question each get their own exchange: the
/// second caller's copy is answered at once, the first one's (lost) copy is
/// resent only later — so the second answer arrives first.
#[test]
fn the_same_question_asked_twice_does_not_wait_for_the_lost_copy() {
    let server = DropDns::start(&["--drop-first"]);
    let dns = dns(&server, Duration::from_secs(5)).with_first_retry(Duration::from_secs(2));
    let (done, order) = std::sync::mpsc::channel();
    smol::block_on(async {
        let (d, tx) = (dns.clone(), done.clone());
        let first = smol::spawn(async move {
            let a = d.mx("shared.example").await;
            tx.send(("first", a)).unwrap();
        });
        server.wait_for("shared.example 15 dropped");
        let (d, tx) = (dns.clone(), done.clone());
        let second = smol::spawn(async move {
            let a = d.mx("shared.example").await;
            tx.send(("second", a)).unwrap();
        });
        second.await;
        first.await;
    });
    let (who, answer) = order.recv().unwrap();
    assert_eq!(
        who, "second",
        "the second caller waited for the first one's lost copy"
    );
    assert!(matches!(answer, Answer::Found(_)), "{answer:?}");
    let (who, answer) = order.recv().unwrap();
    assert_eq!(who, "first");
    assert!(matches!(answer, Answer::Found(_)), "{answer:?}");
}

fn daemon(server: &DropDns, extra: &str) -> Daemon {
    let mc = format!(
        "define(`confMXGATE_NAMESERVERS', `127.0.0.1:{}')dnl\n{extra}",
        server.port
    );
    let mut d = Daemon::prepare(Setup {
        mc: &mc,
        tables: &[],
        tls: false,
    });
    std::fs::write(d.path().join("service.switch"), "hosts files dns\n").unwrap();
    d.spawn();
    d
}

fn mail_from(c: &mut Raw, sender: &str) {
    assert!(c.reply().starts_with("220 "));
    assert!(c.cmd("HELO client.test").starts_with("250 "));
    c.send(&format!("MAIL FROM:<{sender}>\r\n"));
}

/// Session A's sender domain is never answered; session B, started after
/// A's question went out, gets its MAIL reply first.
#[test]
fn a_sender_domain_that_never_answers_delays_only_its_own_session() {
    let server = DropDns::start(&["--drop-zone", "slow.example"]);
    let d = daemon(&server, "define(`confMXGATE_DNS_TIMEOUT', `3s')dnl\n");
    let mut a = Raw::connect(d.mta);
    mail_from(&mut a, "x@h.slow.example");
    server.wait_for("h.slow.example 15 dropped");
    let mut b = Raw::connect(d.mta);
    mail_from(&mut b, "y@good.example");
    let rb = b.reply();
    assert!(rb.starts_with("250 2.1.0"), "{rb}");
    assert!(!has_pending(&mut a), "A was answered before B");
    let ra = a.reply();
    assert_eq!(
        ra,
        "451 4.1.8 Domain of sender address x@h.slow.example does not resolve"
    );
}

/// Both sessions ask about the same sender domain; A's first copy is lost.
/// B's own question is answered at once; A's waits for its resend.
#[test]
fn sessions_asking_the_same_question_do_not_share_a_lost_datagram() {
    let server = DropDns::start(&["--drop-first"]);
    let d = daemon(&server, "define(`confMXGATE_DNS_RETRY', `3s')dnl\n");
    let mut a = Raw::connect(d.mta);
    mail_from(&mut a, "x@shared.example");
    server.wait_for("shared.example 15 dropped");
    let mut b = Raw::connect(d.mta);
    mail_from(&mut b, "y@shared.example");
    let rb = b.reply();
    assert!(rb.starts_with("250 2.1.0"), "{rb}");
    assert!(!has_pending(&mut a), "A was answered before B");
    assert!(a.reply().starts_with("250 2.1.0"));
}

/// `confMXGATE_MAX_CLIENT_LOOKUPS`: with one lookup per client address, a
/// second session from the same address waits for the first one's lookup;
/// another client does not.
#[test]
fn one_client_address_has_a_bounded_number_of_lookups_in_flight() {
    let server = DropDns::start(&["--drop-zone", "slow.example"]);
    let d = daemon(
        &server,
        "define(`confMXGATE_DNS_TIMEOUT', `3s')dnl\n\
         define(`confMXGATE_MAX_CLIENT_LOOKUPS', `1')dnl\n",
    );
    let mut x1 = Raw::connect_from("127.0.0.3", d.mta);
    mail_from(&mut x1, "a@h.slow.example");
    server.wait_for("h.slow.example 15 dropped");
    // The second session of 127.0.0.3 needs a lookup even before its
    // greeting (its PTR): it talks without waiting for anything.
    let mut x2 = Raw::connect_from("127.0.0.3", d.mta);
    x2.send("HELO client.test\r\nMAIL FROM:<b@one.example>\r\n");
    let mut y = Raw::connect_from("127.0.0.4", d.mta);
    mail_from(&mut y, "c@two.example");
    assert!(y.reply().starts_with("250 2.1.0"));
    assert!(
        !has_pending(&mut x2),
        "the second session of 127.0.0.3 was not held back"
    );
    assert!(x1.reply().starts_with("451 4.1.8"));
    assert!(x2.reply().starts_with("220 "));
    assert!(x2.reply().starts_with("250 "));
    assert!(x2.reply().starts_with("250 2.1.0"));
}

/// The lines the responder printed up to its report of `sentinel`, which
/// `dns` asks last (the responder reports in the order it receives).
fn reports_until(server: &DropDns, dns: &Dns, sentinel: &str) -> Vec<String> {
    smol::block_on(dns.a(sentinel));
    let mut seen = Vec::new();
    loop {
        let q = server
            .queries
            .recv_timeout(Duration::from_secs(20))
            .expect("the responder reports every query");
        if q.starts_with(sentinel) {
            return seen;
        }
        seen.push(q);
    }
}

/// Answers are kept for their TTL, as a caching resolver on the host keeps
/// them: asked twice, an address, a NODATA (SOA in the authority section)
/// and an NXDOMAIN each reach the server once. With a TTL of 0 (and no SOA)
/// every question is asked again.
#[test]
fn answers_are_kept_for_their_ttl_and_a_zero_ttl_is_never_kept() {
    use mxgate::dns::NotFound;
    let ask_twice = |dns: &Dns| {
        smol::block_on(async {
            for _ in 0..2 {
                let a = dns.a("kept.example").await;
                assert_eq!(a, Answer::Found(vec![[192, 0, 2, 1].into()]));
                let aaaa = dns.aaaa("kept.example").await;
                assert_eq!(aaaa, Answer::NotFound(NotFound::NoRecords));
                let nx = dns.a("x.nx.example").await;
                assert_eq!(nx, Answer::NotFound(NotFound::NoSuchName));
            }
        })
    };
    let kept = DropDns::start(&["--ttl", "60", "--nx-zone", "nx.example"]);
    let dns_kept = dns(&kept, Duration::from_secs(2));
    ask_twice(&dns_kept);
    let seen = reports_until(&kept, &dns_kept, "end.example");
    assert_eq!(
        seen,
        [
            "kept.example 1 answered",
            "kept.example 28 answered",
            "x.nx.example 1 answered"
        ],
        "each question asked once"
    );

    let fresh = DropDns::start(&["--nx-zone", "nx.example"]);
    let dns_fresh = dns(&fresh, Duration::from_secs(2));
    ask_twice(&dns_fresh);
    let seen = reports_until(&fresh, &dns_fresh, "end.example");
    assert_eq!(seen.len(), 6, "TTL 0: every question asked: {seen:?}");
}
