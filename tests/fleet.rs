//! One-generation reloads, `mxgate status` and `mxgate bundle`, against
//! real daemons on loopback (docs/operations.md, "Reloads" and "Fleets and
//! bundles").
//!
//! Each test reads the generation where an operator would: the log line,
//! `QUEUE_DIR/generation`, the metrics endpoint, `mxgate status --json` and
//! `mxgate health`, and checks that they agree, and that the daemon answers
//! SMTP from the set it says it serves (an access-table REJECT that comes
//! and goes with the table).

mod support;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const ACCESS_MC: &str = "FEATURE(`access_db', `hash @DIR@/access')dnl\n";

/// `mxgate status --json` for `config` (extra args after it).
fn status(config: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["status", "--json", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mxgate bundle apply BUNDLE --node NODE --root ROOT`.
fn apply(bundle: &Path, node: &Path, root: &Path) -> (i32, String, String) {
    run(&[
        "bundle",
        "apply",
        bundle.to_str().unwrap(),
        "--node",
        node.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ])
}

/// The generation of the last `configuration generation G (reason)` line
/// whose reason starts with `reason`, waiting for it (bounded).
fn logged_generation(d: &Daemon, reason: &str, nth: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = d.maillog();
        let found: Vec<String> = log
            .lines()
            .filter_map(|l| l.split("configuration generation ").nth(1))
            .filter(|rest| {
                rest.split_once(" (")
                    .is_some_and(|(_, r)| r.starts_with(reason))
            })
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        if let Some(g) = found.get(nth) {
            return g.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {nth}th generation line for {reason}: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// MAIL FROM:<spam@example.org> on `port`: the reply code.
fn mail_from_spam(port: u16) -> String {
    let mut r = Raw::connect(port);
    assert!(r.reply().starts_with("220"));
    assert!(r.cmd("EHLO client.example.org").starts_with("250"));
    let reply = r.cmd("MAIL FROM:<spam@example.org>");
    let _ = r.cmd("QUIT");
    reply
}

fn makemap(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let out = Command::new(BIN)
        .args(["makemap", "hash"])
        .arg(path)
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn metrics_page(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

#[test]
fn a_reload_switches_the_generation_everywhere_and_a_broken_set_is_refused() {
    let metrics = free_port();
    let extra = format!("{ACCESS_MC}define(`confMXGATE_METRICS_ADDR', `127.0.0.1:{metrics}')dnl\n");
    let d = Daemon::start(Setup {
        mc: &extra,
        tables: &[("access", "spam@example.org REJECT\n")],
        tls: false,
    });
    let g1 = logged_generation(&d, "start", 0);
    assert_eq!(g1.len(), 16);
    assert!(mail_from_spam(d.mta).starts_with("550"));

    // A new table and an edited configuration, one SIGHUP: one new generation.
    let mc = std::fs::read_to_string(&d.mc).unwrap();
    std::fs::write(
        &d.mc,
        mc.replace(
            "MAILER(`local')",
            "define(`confMAX_HOP', `30')dnl\nMAILER(`local')",
        ),
    )
    .unwrap();
    d.signal("HUP");
    let g2 = logged_generation(&d, "SIGHUP", 0);
    assert_ne!(g2, g1);
    let recorded = std::fs::read_to_string(d.path().join("spool/generation")).unwrap();
    assert_eq!(recorded.trim(), g2);
    let page = metrics_page(metrics);
    assert!(
        page.contains(&format!(
            "mxgate_config_generation_info{{generation=\"{g2}\"}} 1\n"
        )),
        "{page}"
    );
    assert!(!page.contains(&g1), "{page}");
    let (code, s) = status(&d.mc, &[]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["running"], true);
    assert_eq!(s["pid"], d.pid());
    assert_eq!(s["generation"]["id"], g2.as_str());
    assert_eq!(s["generation"]["reason"], "SIGHUP");
    assert_eq!(s["on_disk_generation"], g2.as_str());
    assert_eq!(s["last_reload"]["result"], "ok");
    let (code, line, _) = run(&["health", "--config", d.mc.to_str().unwrap()]);
    assert_eq!(code, 0, "{line}");
    assert!(line.contains(&format!("generation {g2}")), "{line}");

    // A broken .mc: refused with file:line, the running generation stays
    // and still answers from its tables.
    let good = std::fs::read_to_string(&d.mc).unwrap();
    std::fs::write(
        &d.mc,
        good.replace(
            "MAILER(`local')",
            "FEATURE(`no_such_feature')dnl\nMAILER(`local')",
        ),
    )
    .unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log(
            &format!("; still serving generation {g2}"),
            Duration::from_secs(10)
        ),
        "{}",
        d.maillog()
    );
    let log = d.maillog();
    let refused = log
        .lines()
        .find(|l| l.contains("reload refused (SIGHUP): "))
        .unwrap();
    assert!(refused.contains("test.mc:"), "{refused}");
    assert!(refused.contains("no_such_feature"), "{refused}");
    assert!(mail_from_spam(d.mta).starts_with("550"));
    // The configuration names the spool, and it does not compile now:
    // status says so, and reads the daemon's record with --queue-dir.
    let (code, _, err) = run(&["status", "--config", d.mc.to_str().unwrap()]);
    assert_eq!(code, 4);
    assert!(err.contains("no_such_feature"), "{err}");
    let spool = d.path().join("spool");
    let (code, s) = status(&d.mc, &["--queue-dir", spool.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(s["generation"]["id"], g2.as_str());
    assert_eq!(s["last_reload"]["result"], "failed");
    assert!(
        s["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("no_such_feature"),
        "{s}"
    );
    assert!(
        s["on_disk_error"]
            .as_str()
            .unwrap()
            .contains("no_such_feature"),
        "{s}"
    );
    let (code, text, _) = run(&[
        "status",
        "--config",
        d.mc.to_str().unwrap(),
        "--queue-dir",
        spool.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(text.contains("last reload: failed at "), "{text}");
    assert!(text.contains("on disk: does not load: "), "{text}");

    // A broken table: a map the configuration needs is missing. Refused,
    // naming the map file; health warns about the failed reload.
    std::fs::write(
        &d.mc,
        good.replace(
            "MAILER(`local')",
            &format!(
                "FEATURE(`mailertable', `hash {}/mailertable')dnl\nMAILER(`local')",
                d.path().display()
            ),
        ),
    )
    .unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log(
            "mailertable.lmdb: map file does not exist",
            Duration::from_secs(10)
        ),
        "{}",
        d.maillog()
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("spool/generation"))
            .unwrap()
            .trim(),
        g2
    );
    let (code, line, _) = run(&["health", "--config", d.mc.to_str().unwrap()]);
    assert_eq!(code, 3, "the set on disk does not load: {line}");
    std::fs::write(&d.mc, &good).unwrap();
    let (code, line, _) = run(&["health", "--config", d.mc.to_str().unwrap()]);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("last reload failed at "), "{line}");
    assert!(line.contains("mailertable.lmdb"), "{line}");
}

#[test]
fn a_makemap_rebuild_is_a_new_generation_of_the_whole_set() {
    let d = Daemon::start(Setup {
        mc: ACCESS_MC,
        tables: &[("access", "spam@example.org REJECT\n")],
        tls: false,
    });
    let g1 = logged_generation(&d, "start", 0);
    assert!(mail_from_spam(d.mta).starts_with("550"));
    makemap(
        &d.path().join("access"),
        "# now a friend\nspam@example.org OK\n",
    );
    let g2 = logged_generation(&d, "map rebuilt: ", 0);
    assert_ne!(g2, g1);
    let line = d
        .maillog()
        .lines()
        .find(|l| l.contains(&format!("configuration generation {g2}")))
        .unwrap()
        .to_string();
    assert!(
        line.contains(&format!(
            "(map rebuilt: {}/access.lmdb)",
            d.path().display()
        )),
        "{line}"
    );
    assert!(mail_from_spam(d.mta).starts_with("250"));
    let (_, s) = status(&d.mc, &[]);
    assert_eq!(s["generation"]["id"], g2.as_str());
    // The same entries written again: a new file, the same generation.
    makemap(&d.path().join("access"), "spam@example.org   OK\n");
    let g3 = logged_generation(&d, "map rebuilt: ", 1);
    assert_eq!(g3, g2, "the id is the content, not the file");
}

#[test]
fn a_restart_only_setting_is_named_and_kept() {
    let d = Daemon::start(Setup {
        mc: ACCESS_MC,
        tables: &[("access", "spam@example.org REJECT\n")],
        tls: false,
    });
    logged_generation(&d, "start", 0);
    let new_port = free_port();
    let mc = std::fs::read_to_string(&d.mc).unwrap();
    std::fs::write(
        &d.mc,
        mc.replace(&format!("Port={}", d.mta), &format!("Port={new_port}"))
            .replace(
                "MAILER(`local')",
                "define(`confMXGATE_DNS_TIMEOUT', `3s')dnl\nMAILER(`local')",
            ),
    )
    .unwrap();
    d.signal("HUP");
    let g2 = logged_generation(&d, "SIGHUP", 0);
    let log = d.maillog();
    assert!(
        log.contains(&format!(
            "DAEMON_OPTIONS changed (MTA=127.0.0.1:{} MSA=127.0.0.1:{} M=Ea -> MTA=127.0.0.1:{new_port} MSA=127.0.0.1:{} M=Ea); takes effect at restart, running with the old value",
            d.mta, d.msa, d.msa
        )),
        "{log}"
    );
    assert!(
        log.contains("confMXGATE_DNS_TIMEOUT changed ((unset) -> 3s); takes effect at restart"),
        "{log}"
    );
    // The old listener still serves, from the new generation.
    assert!(mail_from_spam(d.mta).starts_with("550"));
    assert!(TcpStream::connect(("127.0.0.1", new_port)).is_err());
    let (_, s) = status(&d.mc, &[]);
    assert_eq!(s["generation"]["id"], g2.as_str());
    let pending: Vec<String> = s["pending_restart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(pending[0].starts_with("DAEMON_OPTIONS: "), "{pending:?}");
    assert_eq!(pending[1], "confMXGATE_DNS_TIMEOUT: (unset) -> 3s");
}

/// A node file for a gateway of the bundle: its name, listener, spool, log.
fn node_file(dir: &Path, name: &str, port: u16) -> PathBuf {
    let f = dir.join(format!("{name}.node"));
    std::fs::create_dir_all(dir.join(name).join("spool")).unwrap();
    std::fs::write(
        &f,
        format!(
            "# {name}\nconfDOMAIN_NAME={name}.example.com\nQUEUE_DIR={q}\n\
             confMXGATE_LOG_FILE={log}\nDAEMON_OPTIONS=Port={port}, Addr=127.0.0.1, Name=MTA\n",
            q = dir.join(name).join("spool").display(),
            log = dir.join(name).join("maillog").display(),
        ),
    )
    .unwrap();
    f
}

/// A daemon running an applied bundle: `ROOT/current/mxgate.cf`.
fn bundle_daemon(root: &Path, dir: &Path, name: &str, port: u16) -> Daemon {
    let home = tempfile::tempdir().unwrap();
    let mut d = Daemon {
        dir: home,
        child: None,
        mta: port,
        msa: 0,
        smtps: 0,
        mc: root.join("current").join("mxgate.cf"),
    };
    // The maillog the node file names, seen through the helper's path.
    std::os::unix::fs::symlink(dir.join(name).join("maillog"), d.path().join("maillog")).unwrap();
    d.spawn();
    d
}

#[test]
fn two_gateways_from_one_bundle_report_one_generation() {
    let src = Daemon::prepare(Setup {
        mc: ACCESS_MC,
        tables: &[("access", "spam@example.org REJECT\n")],
        tls: false,
    });
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let bundle = w.join("bundle");
    let mc = src.mc.to_str().unwrap();
    let (code, out, err) = run(&["bundle", "build", "-C", mc, "-o", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let g = out.split("generation ").nth(1).unwrap()[..16].to_string();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest")).unwrap()).unwrap();
    assert_eq!(manifest["generation"], g.as_str());
    for f in [
        "mxgate.cf",
        "maps/access.lmdb",
        "files/hosts",
        "files/service.switch",
    ] {
        assert!(
            manifest["files"][f]["sha256"].is_string(),
            "{f}: {manifest}"
        );
    }
    // Identical inputs, identical bundle (the build stamp fixed).
    let again = w.join("again");
    let stamp = |dir: &Path| {
        let out = Command::new(BIN)
            .args(["bundle", "build", "-C", mc, "-o"])
            .arg(dir)
            .env("SOURCE_DATE_EPOCH", "1796425445")
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::read(dir.join("manifest")).unwrap()
    };
    assert_eq!(stamp(&bundle), stamp(&again));

    let (p1, p2) = (free_port(), free_port());
    let (n1, n2) = (node_file(w, "gw1", p1), node_file(w, "gw2", p2));
    let (r1, r2) = (w.join("root1"), w.join("root2"));
    for (n, r) in [(&n1, &r1), (&n2, &r2)] {
        let (code, out, err) = apply(&bundle, n, r);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with(&format!("generation {g} installed as ")),
            "{out}"
        );
        assert!(out.contains("no daemon recorded in"), "{out}");
        assert_eq!(
            std::fs::read_link(r.join("current")).unwrap(),
            Path::new("generations").join(&g)
        );
    }
    let d1 = bundle_daemon(&r1, w, "gw1", p1);
    let d2 = bundle_daemon(&r2, w, "gw2", p2);
    // The port answers once bound; the daemon records its state a moment
    // later (before its generation line).
    logged_generation(&d1, "start", 0);
    logged_generation(&d2, "start", 0);
    let (c1, s1) = status(&d1.mc, &[]);
    let (c2, s2) = status(&d2.mc, &[]);
    assert_eq!((c1, c2), (0, 0), "{s1} {s2}");
    assert_eq!(s1["generation"]["id"], g.as_str());
    assert_eq!(s2["generation"]["id"], g.as_str());
    assert_eq!(s1["node"]["name"], "gw1.example.com");
    assert_eq!(s2["node"]["name"], "gw2.example.com");
    assert_ne!(
        s1["node"]["sha"], s2["node"]["sha"],
        "nodes differ, ids do not"
    );
    for (d, name) in [(&d1, "gw1"), (&d2, "gw2")] {
        let mut r = Raw::connect(d.mta);
        let greeting = r.reply();
        assert!(
            greeting.starts_with(&format!("220 {name}.example.com ")),
            "{greeting}"
        );
        assert!(r.cmd("EHLO client.example.org").starts_with("250"));
        assert!(r.cmd("MAIL FROM:<spam@example.org>").starts_with("550"));
        assert!(r.cmd("RSET").starts_with("250"));
        assert!(r.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(r.cmd("RCPT TO:<root@localhost>").starts_with("250"));
        assert!(r.cmd("DATA").starts_with("354"));
        let done = r.cmd("Subject: fleet\r\n\r\nhello\r\n.");
        assert!(done.starts_with("250"), "{done}");
        let _ = r.cmd("QUIT");
    }

    // The same bundle again (a cron job): nothing to do, no signal.
    let (code, out, err) = apply(&bundle, &n2, &r2);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "generation {g} is current; daemon pid {} serves it",
            d2.pid()
        )),
        "{out}"
    );
    assert!(!d2.maillog().contains("SIGHUP"), "{}", d2.maillog());
    // check reads an installed bundle as the daemon does.
    let (code, out, err) = run(&["check", "--config", d1.mc.to_str().unwrap()]);
    assert!(
        out.contains("configuration loads: $j = gw1.example.com"),
        "{out}{err}"
    );
    assert_ne!(code, 78, "{err}");

    // A new bundle: the table changed. apply signals the daemon and waits.
    // A session open across the switch keeps the generation it started
    // with (a bundle's tables are never rebuilt in place).
    let mut open = Raw::connect(d1.mta);
    assert!(open.reply().starts_with("220"));
    assert!(open.cmd("EHLO client.example.org").starts_with("250"));
    std::fs::write(src.path().join("access"), "spam@example.org OK\n").unwrap();
    let (code, out, err) = run(&["bundle", "build", "-C", mc, "-o", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let g2 = out.split("generation ").nth(1).unwrap()[..16].to_string();
    assert_ne!(g2, g);
    let (code, out, err) = apply(&bundle, &n1, &r1);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("daemon pid {} serves generation {g2}", d1.pid())),
        "{out}"
    );
    assert!(mail_from_spam(d1.mta).starts_with("250"));
    assert!(
        mail_from_spam(d2.mta).starts_with("550"),
        "gw2 not applied yet"
    );
    let old = open.cmd("MAIL FROM:<spam@example.org>");
    assert!(old.starts_with("550"), "the session's generation: {old}");
    let _ = open.cmd("QUIT");
    assert_eq!(
        std::fs::read_link(r1.join("previous")).unwrap(),
        Path::new("generations").join(&g)
    );
    // Rollback: back to the first generation.
    let (code, out, err) = run(&[
        "bundle",
        "apply",
        "--rollback",
        "--root",
        r1.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("serves generation {g}")), "{out}");
    assert!(mail_from_spam(d1.mta).starts_with("550"));
}

#[test]
fn a_tampered_bundle_or_a_bad_node_file_is_refused() {
    let src = Daemon::prepare(Setup {
        mc: ACCESS_MC,
        tables: &[("access", "spam@example.org REJECT\n")],
        tls: false,
    });
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let bundle = w.join("bundle");
    let (code, _, err) = run(&[
        "bundle",
        "build",
        "-C",
        src.mc.to_str().unwrap(),
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let node = node_file(w, "gw1", free_port());
    let root = w.join("root");
    // --keep below 2 would prune the generation to roll back to.
    let (code, _, err) = run(&[
        "bundle",
        "apply",
        bundle.to_str().unwrap(),
        "--node",
        node.to_str().unwrap(),
        "--keep",
        "1",
    ]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("--keep: expected a number of generations (2 or more) or all, found \"1\""),
        "{err}"
    );
    let apply = |node: &Path| apply(&bundle, node, &root);
    // A changed table.
    let table = bundle.join("maps/access.lmdb");
    let good = std::fs::read(&table).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&table, &bad).unwrap();
    let (code, _, err) = apply(&node);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains(&format!("refused: {}: checksum mismatch", table.display())),
        "{err}"
    );
    // A missing file.
    std::fs::remove_file(&table).unwrap();
    let (code, _, err) = apply(&node);
    assert_eq!(code, 65);
    assert!(
        err.contains(&format!("{}: missing", table.display())),
        "{err}"
    );
    std::fs::write(&table, &good).unwrap();
    // An extra file.
    std::fs::write(bundle.join("maps/evil.lmdb"), b"x").unwrap();
    let (code, _, err) = apply(&node);
    assert_eq!(code, 65);
    assert!(err.contains("maps/evil.lmdb: not in the manifest"), "{err}");
    std::fs::remove_file(bundle.join("maps/evil.lmdb")).unwrap();
    // A node file with a key it may not set.
    let bad_node = w.join("bad.node");
    std::fs::write(
        &bad_node,
        "confDOMAIN_NAME=gw9.example.com\n\nconfMAX_HOP=30\n",
    )
    .unwrap();
    let (code, _, err) = apply(&bad_node);
    assert_eq!(code, 65);
    assert!(
        err.contains(&format!(
            "{}:3:1: unknown key \"confMAX_HOP\"",
            bad_node.display()
        )),
        "{err}"
    );
    assert!(!root.join("current").exists(), "nothing switched");
    // Untouched, it applies.
    let (code, out, err) = apply(&node);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("generation "), "{out}");
}
