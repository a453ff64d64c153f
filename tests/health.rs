//! Monitoring: `mxgate health` against a real daemon and spool, and `mailq`
//! as monitoring-plugins' real `check_mailq -M sendmail` reads it.
//!
//! `check_mailq` runs `$utils::PATH_TO_MAILQ`, compiled into the plugin's
//! `utils.pm` as `/usr/bin/mailq`. The test runs the installed plugin
//! unchanged inside a private mount namespace (`unshare -m`) in which our
//! `mailq` (a two-line wrapper naming the test's config) is bind-mounted over
//! `/usr/bin/mailq` (on a machine without one, the plugin's `utils.pm` is
//! covered by a copy naming our wrapper); the machine's own files are never
//! changed. That needs root (CI runs as root) and the package
//! monitoring-plugins-standard.

mod support;
use mxgate::spool::envelope::{Envelope, Recipient};
use mxgate::spool::status::{Entry, Journal, Kind, RcptStatus};
use mxgate::spool::{Durability, Spool, State};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

const CHECK_MAILQ: &str = "/usr/lib/nagios/plugins/check_mailq";
const UTILS: &str = "/usr/lib/nagios/plugins/utils.pm";

/// Queue a message in `state`; `deferred` = a journal deferral with this text.
fn queue(spool: &Spool, sender: &str, rcpt: &str, age: u64, deferred: Option<&str>) {
    let mut e = Envelope::new(sender);
    e.arrival -= age;
    e.recipients.push(Recipient::new(rcpt));
    let mut w = spool.create(&e).unwrap();
    w.write(b"Subject: t\r\n\r\nbody\r\n").unwrap();
    let id = w.commit(State::Queue).unwrap();
    if let Some(text) = deferred {
        let status = RcptStatus {
            kind: Kind::Deferred,
            time: e.arrival + 1,
            dsn: "4.4.1".into(),
            relay: None,
            text: text.into(),
        };
        Journal::append(
            spool.root(),
            &id,
            &[Entry::Rcpt {
                key: "0".into(),
                status,
            }],
        )
        .unwrap();
    }
}

fn health(mc: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["health", "--config"])
        .arg(mc)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn health_reports_queues_bounces_listeners_and_generation() {
    let mut d = Daemon::start(Setup {
        mc: "",
        tables: &[],
        tls: false,
    });
    assert!(
        d.wait_log("configuration generation ", Duration::from_secs(10)),
        "{}",
        d.maillog()
    );
    let log = d.maillog();
    let logged = log
        .split("configuration generation ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    let (code, line) = health(&d.mc, &[]);
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("MXGATE OK - queue 0 (oldest 0s), hold 0"),
        "{line}"
    );
    assert!(line.contains("listeners 2/2"), "{line}");
    assert!(line.contains(&format!("generation {logged}")), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");

    // Two bounces, one of them 2 hours old, straight into the spool.
    let spool = Spool::open(&d.path().join("spool"), Durability::Unsafe).unwrap();
    queue(&spool, "<>", "<a@example.org>", 7200, None);
    queue(&spool, "<>", "<b@example.org>", 10, None);
    queue(&spool, "<s@example.com>", "<c@example.org>", 10, None);
    let (code, line) = health(&d.mc, &["--bounce-warn", "2", "--bounce-crit", "5"]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.starts_with("MXGATE WARNING - 2 <> (MAILER-DAEMON) messages; queue 3 (oldest 2h)"),
        "{line}"
    );
    let (code, line) = health(&d.mc, &["--age-warn", "30m", "--age-crit", "1h"]);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("oldest queued message is 2h old"), "{line}");
    let (code, json) = health(&d.mc, &["--json", "--queue-warn", "3"]);
    assert_eq!(code, 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "WARNING");
    assert_eq!(v["queues"][0]["count"], 3);
    assert_eq!(v["bounces"], 2);
    assert_eq!(v["listeners"][1]["answering"], true);
    assert_eq!(v["loaded_generation"], logged.as_str());
    assert!(v["free_kib"].as_u64().unwrap() > 0);

    // An edited, not reloaded configuration: another generation.
    let mc = std::fs::read_to_string(&d.mc).unwrap();
    let edited = d.path().join("edited.mc");
    std::fs::write(
        &edited,
        mc.replace(
            "MAILER(`local')",
            "define(`confMAX_HOP', `30')dnl\nMAILER(`local')",
        ),
    )
    .unwrap();
    let (code, line) = health(&edited, &[]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains(&format!(
            "daemon runs generation {logged}, configuration is "
        )),
        "{line}"
    );

    // Daemon down: its listeners do not answer; the spool is still read.
    d.kill9();
    let (code, line) = health(&d.mc, &[]);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("listener MTA on 127.0.0.1:"), "{line}");
    assert!(line.contains("not answering"), "{line}");
    assert!(line.contains("queue 3 (oldest 2h)"), "{line}");
}

#[test]
fn health_is_unknown_without_a_configuration_or_a_spool() {
    let d = tempfile::tempdir().unwrap();
    let mc = d.path().join("bad.mc");
    std::fs::write(&mc, "FEATURE(`no_such_feature')dnl\n").unwrap();
    let (code, line) = health(&mc, &[]);
    assert_eq!(code, 3, "{line}");
    assert!(line.starts_with("MXGATE UNKNOWN - "), "{line}");
    // A spool that does not exist is UNKNOWN, and is not created.
    let q = d.path().join("nospool");
    let good = d.path().join("good.mc");
    std::fs::write(
        &good,
        format!(
            "define(`QUEUE_DIR', `{}')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            q.display()
        ),
    )
    .unwrap();
    let (code, line) = health(&good, &[]);
    assert_eq!(code, 3, "{line}");
    assert!(line.contains("no spool here"), "{line}");
    assert!(!q.exists());
    let (code, line) = health(&mc, &["--queue-warn", "many"]);
    assert_eq!(code, 3, "{line}");
    assert!(line.contains("--queue-warn: not a number: many"), "{line}");
}

/// Run the installed check_mailq with our `mailq` (for config `mc`) at /usr/bin/mailq.
fn check_mailq(dir: &Path, mc: &Path, args: &[&str]) -> Output {
    assert!(
        Path::new(CHECK_MAILQ).exists(),
        "{CHECK_MAILQ} missing: apt-get install monitoring-plugins-standard"
    );
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "check_mailq's mailq path is compiled in (/usr/bin/mailq): this test bind-mounts \
         ours over it in a private mount namespace, which needs root (CI runs as root)"
    );
    let wrapper = dir.join("mailq");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {BIN} mailq -C {} \"$@\"\n", mc.display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Without a /usr/bin/mailq to cover (no MTA installed), the plugin's
    // utils.pm is covered instead by a copy that names our wrapper.
    let utils = dir.join("utils.pm");
    let script = format!(
        "if [ -e /usr/bin/mailq ]; then mount --bind {w} /usr/bin/mailq; \
         else sed 's|\"/usr/bin/mailq\"|\"{w}\"|' {UTILS} > {u} && mount --bind {u} {UTILS}; fi \
         && exec {CHECK_MAILQ} \"$@\"",
        w = wrapper.display(),
        u = utils.display(),
    );
    Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "check_mailq",
        ])
        .args(args)
        .output()
        .expect("unshare (util-linux)")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_mailq_sendmail_reads_our_mailq() {
    let d = tempfile::tempdir().unwrap();
    let q = d.path().join("spool");
    let mc = d.path().join("site.mc");
    std::fs::write(
        &mc,
        format!(
            "define(`QUEUE_DIR', `{}')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            q.display()
        ),
    )
    .unwrap();
    let spool = Spool::open(&q, Durability::Unsafe).unwrap();

    let o = check_mailq(d.path(), &mc, &["-M", "sendmail", "-w", "1", "-c", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("OK: sendmail mailq is empty"),
        "{}",
        text(&o)
    );

    // Three messages deferred for the same destination domain, one other;
    // each from a different sender domain.
    for (i, s) in ["one", "two", "three"].iter().enumerate() {
        queue(
            &spool,
            &format!("<u@{s}.example>"),
            &format!("<r{i}@dst.example.net>"),
            60,
            Some("Connection refused by mx.dst.example.net."),
        );
    }
    queue(
        &spool,
        "<u@four.example>",
        "<r@other.example>",
        60,
        Some("Connection timed out with mx.other.example."),
    );

    let o = check_mailq(d.path(), &mc, &["-M", "sendmail", "-w", "10", "-c", "20"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("OK: sendmail mailq (4) is below threshold (10/20)"),
        "{}",
        text(&o)
    );
    let o = check_mailq(d.path(), &mc, &["-M", "sendmail", "-w", "1", "-c", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("WARNING: sendmail mailq is 4 (threshold w = 1)"),
        "{}",
        text(&o)
    );
    let o = check_mailq(d.path(), &mc, &["-M", "sendmail", "-w", "2", "-c", "4"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Per-domain: 3 messages TO example.net (from the status lines).
    let args = [
        "-M", "sendmail", "-w", "10", "-c", "20", "-W", "2", "-C", "5",
    ];
    let o = check_mailq(d.path(), &mc, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("WARNING: 3 messages in queue TO example.net (threshold W = 2)"),
        "{}",
        text(&o)
    );
    let args = [
        "-M", "sendmail", "-w", "10", "-c", "20", "-W", "2", "-C", "3",
    ];
    let o = check_mailq(d.path(), &mc, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("CRITICAL: 3 messages in queue TO example.net (threshold C = 3)"),
        "{}",
        text(&o)
    );

    // mailq failing (spool unreadable: QUEUE_DIR is a file) is CRITICAL.
    let broken = d.path().join("broken.mc");
    std::fs::write(
        &broken,
        format!(
            "define(`QUEUE_DIR', `{}')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            mc.display()
        ),
    )
    .unwrap();
    let o = check_mailq(d.path(), &broken, &["-M", "sendmail", "-w", "1", "-c", "5"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("CRITICAL: Error code 73 returned from "),
        "{}",
        text(&o)
    );
}

/// On an installed system the operations commands find the daemon's spool
/// without `--config`: `/etc/mail/mxgate.cf`, else the package's
/// `/etc/mail/mxgate.mc` (as the sendmail names do). The test covers
/// `/etc/mail` with its own directory in a private mount namespace (root,
/// as CI runs), so the host's `/etc/mail` is never touched.
#[test]
fn operations_commands_read_the_system_configuration_without_config() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test bind-mounts a directory over /etc/mail in a private mount namespace, which needs root (CI runs as root)"
    );
    let d = tempfile::tempdir().unwrap();
    let etc = d.path().join("etc-mail");
    let spool_dir = d.path().join("spool");
    std::fs::create_dir(&etc).unwrap();
    std::fs::write(
        etc.join("mxgate.mc"),
        format!(
            "OSTYPE(`linux')dnl\ndefine(`QUEUE_DIR', `{}')dnl\nDAEMON_OPTIONS(`Port={}, Addr=127.0.0.1, Name=MTA')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            spool_dir.display(),
            free_port()
        ),
    )
    .unwrap();
    let spool = Spool::open(&spool_dir, Durability::Fsync).unwrap();
    queue(&spool, "<a@example.org>", "<b@example.net>", 10, None);
    let run = |cmd: &str| {
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {} /etc/mail && exec {BIN} {cmd}",
                etc.display()
            ))
            .output()
            .expect("unshare (util-linux)");
        text(&out)
    };
    let list = run("queue list --json");
    assert!(list.contains("b@example.net"), "{list}");
    let status = run("status");
    assert!(
        status.contains("not running") && status.contains("queue"),
        "{status}"
    );
    // The daemon is not running here: its listener does not answer.
    let health = run("health");
    assert!(
        health.starts_with("MXGATE CRITICAL") && health.contains("| queue=1;"),
        "{health}"
    );
    // Without a system configuration the embedded default is read: its
    // spool is ./spool of the current directory, not ours.
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = Command::new(BIN)
        .args(["queue", "list", "--json"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(
        !text(&out).contains("b@example.net")
            || Path::new("/etc/mail/mxgate.cf").exists()
            || Path::new("/etc/mail/mxgate.mc").exists(),
        "{}",
        text(&out)
    );
}
