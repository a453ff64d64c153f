use super::*;

fn ev(line: &str) -> Event<'_> {
    parse(line).unwrap().event
}

fn reason(line: &str) -> (&'static str, Option<String>) {
    match parse(line).unwrap().event {
        Event::Refused { reason, .. } => {
            let (c, d) = reason.label();
            (c, d.map(str::to_string))
        }
        e => panic!("not a refusal: {e:?}"),
    }
}

#[test]
fn mxgate_received_line() {
    let l = parse("Dec  3 21:26:20 gw.example.com mxgate[22748]: 6B3LQK000022748: from=<sender@remote.example>, size=436, class=0, nrcpts=1, msgid=<20261203212620.023223@vm>, proto=ESMTP, daemon=MTA, relay=localhost [127.0.0.1]").unwrap();
    assert_eq!(l.host, "gw.example.com");
    assert_eq!(l.program, "mxgate");
    assert_eq!(l.qid, Some("6B3LQK000022748"));
    assert_eq!(
        l.event,
        Event::Received {
            from: "sender@remote.example",
            size: 436,
            nrcpts: 1,
            daemon: Some("MTA"),
            relay: Relay {
                name: "localhost",
                ip: "127.0.0.1"
            },
            quarantine: None,
        }
    );
}

#[test]
fn mxgate_delivery_and_dsn_lines() {
    let e = ev(
        "Dec  3 21:26:21 gw mxgate[1]: 6B3LQK001022748: to=<victim@elsewhere.example>, delay=00:00:01, xdelay=00:00:00, mailer=esmtp, pri=30452, dsn=5.1.2, stat=Host unknown (Name server: elsewhere.example: host not found)",
    );
    match e {
        Event::Delivery {
            to,
            delay,
            status,
            stat,
            ..
        } => {
            assert_eq!(to, "<victim@elsewhere.example>");
            assert_eq!(delay, Some(1));
            assert_eq!(status, Status::Bounced);
            assert!(stat.starts_with("Host unknown"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(
        ev(
            "Dec  3 21:26:21 gw mxgate[1]: 6B3LQK001022748: 6B3LQL002022748: DSN: Host unknown (Name server: elsewhere.example: host not found)"
        ),
        Event::DsnCreated {
            dsn_qid: "6B3LQL002022748"
        }
    );
    assert_eq!(
        ev(
            "Dec  3 21:26:21 gw mxgate[1]: 6B3LQL005022748: to=<postmaster@gw.example.com>, dsn=5.1.1, stat=double bounce failed; dropped"
        ),
        Event::Other
    );
}

#[test]
fn mxgate_refusals() {
    assert_eq!(
        reason(
            "Dec  3 21:26:21 gw mxgate[1]: ruleset=check_mail, arg1=<spammer@bad.example>, relay=localhost [127.0.0.1], reject=550 5.7.1 <spammer@bad.example>... Access denied"
        ),
        ("access rule", Some("spammer@bad.example".into()))
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:21 gw mxgate[1]: ruleset=check_rcpt, arg1=<u@elsewhere.com>, relay=stranger.example.org [127.0.0.2], reject=550 5.7.1 <u@elsewhere.com>... Relaying denied. Proper authentication required."
        ),
        ("relay denied", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:21 gw mxgate[1]: relay=localhost [127.0.0.1]: reject=552 5.2.3 Message size exceeds fixed maximum message size (20000)"
        ),
        ("message size", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: ruleset=check_mail, arg1=<me@example.com>, relay=localhost [127.0.0.1], reject=530 5.7.0 Authentication required"
        ),
        ("AUTH required", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: ruleset=check_rcpt, arg1=<nobody@example.com>, relay=x [192.0.2.9], reject=550 5.1.1 <nobody@example.com>... User unknown"
        ),
        ("unknown user", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: ruleset=check_rcpt, arg1=<old@example.com>, relay=x [192.0.2.9], reject=550 5.2.1 <old@example.com>... Mailbox disabled for this recipient"
        ),
        ("disabled user", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: ruleset=check_relay, arg1=[192.0.2.5], arg2=192.0.2.5, relay=[192.0.2.5], reject=550 5.7.1 Rejected: 192.0.2.5 listed at bl.example.net"
        ),
        ("dnsbl", Some("bl.example.net".into()))
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: relay=x [192.0.2.9]: header rule Subject:/viagra/: reject=550 5.7.1 no spam"
        ),
        ("header rule", Some("Subject:/viagra/".into()))
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: relay=[192.0.2.9], reject=421 4.3.2 gw.example.com Too many connections from your host, try again later"
        ),
        ("connection limit", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: AUTH failure (PLAIN): authentication failure, relay=x [192.0.2.9]"
        ),
        ("AUTH failure", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: STARTTLS=server, error: handshake failed, relay=x [192.0.2.9]"
        ),
        ("TLS failure", None)
    );
    assert_eq!(
        reason(
            "Dec  3 21:26:22 gw mxgate[1]: ruleset=check_rcpt, arg1=<a@b.example>, relay=x [192.0.2.9], reject=550 5.7.1 <a@b.example>... we do not like you"
        ),
        ("other", Some("we do not like you".into()))
    );
}

/// Lines in sendmail 8.17's formats (Debian's sm-mta tag): written from
/// the spec's §11.2 and sendmail's log formats, not captured from a
/// running sendmail in this repository; the milter and quarantine forms
/// are the least certain.
#[test]
fn sendmail_lines() {
    let l = parse("Dec  3 06:25:01 mx1 sm-mta[4242]: 0B36P1xA004242: from=<a@example.org>, size=1423, class=0, nrcpts=2, msgid=<x@example.org>, bodytype=8BITMIME, proto=ESMTP, daemon=MTA-v4, relay=mail.example.org [192.0.2.10] (may be forged)").unwrap();
    assert_eq!(l.program, "sm-mta");
    match l.event {
        Event::Received {
            size,
            nrcpts,
            daemon,
            relay,
            ..
        } => {
            assert_eq!((size, nrcpts, daemon), (1423, 2, Some("MTA-v4")));
            assert_eq!(relay.name, "mail.example.org");
            assert_eq!(relay.ip, "192.0.2.10");
        }
        e => panic!("{e:?}"),
    }
    match ev(
        "Dec  3 06:25:03 mx1 sm-mta[4243]: 0B36P1xA004242: to=<u1@example.com>,<u2@example.com>, ctladdr=<a@example.org> (1000/1000), delay=1+02:03:04, xdelay=00:00:02, mailer=esmtp, pri=151423, relay=mx.example.com. [198.51.100.7], dsn=2.0.0, stat=Sent (OK id=1abc)",
    ) {
        Event::Delivery {
            to,
            delay,
            status,
            relay,
            ..
        } => {
            assert_eq!(to, "<u1@example.com>,<u2@example.com>");
            assert_eq!(delay, Some(86_400 + 7384));
            assert_eq!(status, Status::Sent);
            assert_eq!(relay.name, "mx.example.com.");
        }
        e => panic!("{e:?}"),
    }
    match ev(
        "Dec  3 06:25:03 mx1 sendmail[77]: 0B36P1xA004242: to=<u@example.com>, delay=00:00:05, mailer=esmtp, pri=120000, relay=mx.example.com., dsn=4.0.0, stat=Deferred: Connection refused by mx.example.com.",
    ) {
        Event::Delivery { status, .. } => assert_eq!(status, Status::Deferred),
        e => panic!("{e:?}"),
    }
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: 0B36P4xB004244: ruleset=check_rcpt, arg1=<x@elsewhere.example>, relay=[203.0.113.5], reject=550 5.7.1 <x@elsewhere.example>... Relaying denied. IP name lookup failed [203.0.113.5]"
        ),
        ("relay denied", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: NOQUEUE: ruleset=check_relay, arg1=[203.0.113.5], arg2=203.0.113.5, relay=[203.0.113.5], reject=421 4.3.2 Connection rate limit exceeded."
        ),
        ("connection rate limit", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: ruleset=check_relay, arg1=[203.0.113.5], arg2=203.0.113.5, relay=[203.0.113.5], reject=421 4.3.2 Too many open connections."
        ),
        ("connection limit", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: ruleset=check_relay, arg1=spam.example, arg2=203.0.113.6, relay=spam.example [203.0.113.6], reject=550 5.7.1 Access denied"
        ),
        ("access rule", Some("203.0.113.6".into()))
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: ruleset=check_relay, arg1=[203.0.113.5], arg2=127.0.0.2, relay=[203.0.113.5], reject=550 5.7.1 Rejected: 203.0.113.5 listed at zen.spamhaus.org"
        ),
        ("dnsbl", Some("zen.spamhaus.org".into()))
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: 0B36P4xB004244: Milter: data, reject=554 5.7.1 Rejected by content filter"
        ),
        ("milter", Some(String::new()))
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: 0B36P4xB004244: milter=clamav-milter, reject=554 5.7.1 virus found"
        ),
        ("milter", Some("clamav-milter".into()))
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: 0B36P4xB004244: from=<a@b.example>, size=30000000, class=0, nrcpts=0, proto=ESMTP, daemon=MTA, relay=x [192.0.2.1], reject=552 5.2.3 Message size exceeds fixed maximum message size (10240000)"
        ),
        ("message size", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:25:04 mx1 sm-mta[4244]: 0B36P4xB004244: x [192.0.2.1]: possible SMTP attack: command=AUTH, count=6"
        ),
        ("command limit (possible SMTP attack)", None)
    );
}

/// Session-level lines in sendmail 8.17's own wording (the ones mxgate's
/// log is being aligned with); written from sendmail's formats, as above.
#[test]
fn sendmail_session_lines() {
    assert_eq!(
        reason(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=bob, relay=client.example [198.51.100.20]"
        ),
        ("AUTH failure", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: STARTTLS=server, error: accept failed=-1, reason=no shared cipher, SSL_error=1, errno=0, retry=-1, relay=client.example [198.51.100.20]"
        ),
        ("TLS failure", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: rejecting commands from bot.example [198.51.100.21] due to pre-greeting traffic after 4 seconds"
        ),
        ("pre-greeting traffic", None)
    );
    assert_eq!(
        ev(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: 0B36U0xC005000: client.example [198.51.100.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA-v4"
        ),
        Event::Session {
            kind: SessionKind::NoMail,
            relay: Relay {
                name: "client.example",
                ip: "198.51.100.20"
            }
        }
    );
    assert!(matches!(
        ev(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: 0B36U0xC005000: lost input channel from client.example [198.51.100.20] to MTA after rcpt"
        ),
        Event::Session {
            kind: SessionKind::LostInput,
            ..
        }
    ));
    assert!(matches!(
        ev(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: STARTTLS=server, relay=client.example [198.51.100.20], version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256"
        ),
        Event::Other
    ));
    assert_eq!(
        reason(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: rejecting connections on daemon MTA-v4: load average: 25"
        ),
        ("load shedding", None)
    );
    assert_eq!(
        reason(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: rejecting connections on daemon MTA-v4: 12 children, max 12"
        ),
        ("connection limit", None)
    );
    assert!(matches!(
        ev(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: deferring connections on daemon MTA-v4: 3 per second"
        ),
        Event::Session {
            kind: SessionKind::ConnectionsDeferred,
            ..
        }
    ));
    assert!(matches!(
        ev(
            "Dec  3 06:30:00 mx1 sm-mta[5000]: 0B36U0xC005000: timeout waiting for input from client.example [198.51.100.20] during server cmd read"
        ),
        Event::Session {
            kind: SessionKind::Timeout,
            ..
        }
    ));
    assert_eq!(
        ev("Dec  3 06:30:00 mx1 sm-mta[5000]: 0B36U0xC005000: discarded"),
        Event::Discarded { size: None }
    );
    assert_eq!(
        ev("Dec  3 06:30:00 mx1 sm-mta[5000]: 0B36U0xC005000: quarantine=held by policy"),
        Event::Quarantined {
            reason: "held by policy"
        }
    );
}

#[test]
fn any_program_tag_and_stamp_forms() {
    for l in [
        "Dec  3 06:30:00 mx1 mxgate[1]: 0B36U0xC005000: discarded",
        "Dec  3 06:30:00 mx1 mxgate: 0B36U0xC005000: discarded",
        "Dec 13 06:30:00 mx1 sendmail[2]: 0B36U0xC005000: discarded",
        "<22>Dec  3 06:30:00 mx1 sm-mta[3]: 0B36U0xC005000: discarded",
        "2026-12-03T06:30:00.123456+00:00 mx1 sm-mta[3]: 0B36U0xC005000: discarded",
    ] {
        let p = parse(l).unwrap();
        assert_eq!(p.host, "mx1", "{l}");
        assert_eq!(p.qid, Some("0B36U0xC005000"), "{l}");
        assert_eq!(p.event, Event::Discarded { size: None }, "{l}");
    }
}

#[test]
fn malformed_lines_are_errors_not_panics() {
    for l in [
        "",
        "garbage",
        "Dec  3 06:30:00",
        "Dec  3 06:30:00 mx1",
        "Dec  3 06:30:00 mx1 nocolon",
        "Dec 99 06:30:00 mx1 x: y",
        "2026-12-03T99:00:00 mx1 x: y",
        "<22",
        "\u{0}\u{ff}",
    ] {
        assert!(parse(l).is_err(), "{l:?}");
    }
    // Syslog-shaped but odd texts: no panic, some event.
    for t in [
        "from=",
        "to=",
        "reject=",
        "ruleset=, reject=",
        "relay=[, reject=550",
        "relay=]x[, reject=5",
        "Q1234567: Q7654321: DSN: ",
        "rejecting commands from  due to pre-greeting traffic",
        "to=<a>, delay=+:, stat=",
        "from=<a>, size=99999999999999999999999",
    ] {
        let _ = parse(&format!("Dec  3 06:30:00 mx1 mxgate[1]: {t}")).unwrap();
    }
}
