//! One AUTH attempt must not stall every session: password checks run off
//! the executor in a bounded pool, failures are throttled per client and
//! count as bad commands, and an unknown user costs as much as a known one.
//! Clients: `tests/bench/auth_flood.py` (Python's ssl and sockets).

mod support;

use std::process::Command;
use support::*;

/// A SHA512-CRYPT entry with many rounds (60,000): one check costs plenty
/// of CPU in a debug build: about 1.5 s (`openssl passwd -6`).
fn expensive_entry(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-salt", "rounds=60000$floodtest", password])
        .output()
        .expect("openssl is installed by .ci/run (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{{SHA512-CRYPT}}{}",
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

fn daemon(extra: &str) -> Daemon {
    let passwd = format!("alice {}\n", expensive_entry("right-password"));
    Daemon::start(Setup {
        mc: &format!("define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n{extra}"),
        tables: &[("passwd", &passwd)],
        tls: true,
    })
}

fn flood(d: &Daemon, mode: &str, extra: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/bench/auth_flood.py"
        ))
        .arg(mode)
        .args(["--mta", &d.mta.to_string(), "--smtps", &d.smtps.to_string()])
        .args(extra)
        .output()
        .expect("python3 is installed by .ci/run (apt-get install python3)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.maillog()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Four clients each wait for the answer to a wrong password; a new client
/// connecting then gets its greeting and its EHLO reply before any of them.
#[test]
fn a_new_client_is_served_while_four_password_checks_are_pending() {
    let d = daemon("");
    let events = flood(&d, "order", &["--attackers", "4"]);
    let events: Vec<&str> = events.lines().collect();
    let pos = |e: &str| events.iter().position(|x| *x == e);
    let ehlo = pos("ehlo probe").unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        pos("greeting probe").is_some_and(|g| g < ehlo),
        "{events:?}"
    );
    for i in 0..4 {
        let answer = pos(&format!("535 a{i}")).unwrap_or_else(|| panic!("{events:?}"));
        assert!(
            ehlo < answer,
            "attacker {i}'s pending check held the probe up: {events:?}"
        );
    }
}

/// With one password worker: a known user's check starts first, an
/// unknown user's second. The unknown user's answer comes after the known
/// one's — it waited for the worker and then cost a full check (against a
/// stand-in entry of the same scheme and rounds) — and a new client is
/// served before either.
#[test]
fn an_unknown_user_costs_a_full_check() {
    let d = daemon("define(`confMXGATE_AUTH_WORKERS', `1')dnl\n");
    let events = flood(
        &d,
        "order",
        &[
            "--attackers",
            "2",
            "--users",
            "alice,nobody",
            "--stagger",
            "0.1",
        ],
    );
    let events: Vec<&str> = events.lines().collect();
    let pos = |e: &str| {
        events
            .iter()
            .position(|x| *x == e)
            .unwrap_or_else(|| panic!("no {e:?} in {events:?}"))
    };
    assert!(pos("ehlo probe") < pos("535 a0"), "{events:?}");
    assert!(
        pos("535 a0") < pos("535 a1"),
        "the unknown user was answered without a full check: {events:?}"
    );
}

/// Failed AUTH attempts are bad commands (confMXGATE_MAX_BAD_COMMANDS), and
/// sendmail's attack line is logged when the delays begin.
#[test]
fn failed_auth_counts_as_a_bad_command_and_is_logged_as_an_attack() {
    let d = Daemon::start(Setup {
        mc: "define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n\
             define(`confMXGATE_MAX_BAD_COMMANDS', `3')dnl\n",
        tables: &[("passwd", "alice {PLAIN}right-password\n")],
        tls: true,
    });
    let out = flood(&d, "repeat", &["--count", "4"]);
    let codes: Vec<&str> = out.lines().collect();
    assert_eq!(
        codes,
        ["535", "535", "535", "535", "421"],
        "{}",
        d.maillog()
    );
    let log = d.maillog();
    assert!(
        // sendmail's words (fail2ban's sendmail-auth filter reads them).
        log.contains(": localhost [127.0.0.1]: possible SMTP attack: command=AUTH, count=3"),
        "{log}"
    );
    assert!(log.contains("Too many bad commands"), "{log}");
}
