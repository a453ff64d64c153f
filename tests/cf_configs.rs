//! The three shipped configurations (cf/gateway, cf/dist-in, cf/mbox) give
//! the decisions ../shared/mission.md expects, through the real binary:
//! each site folder is copied to a temp dir, its tables are built with
//! `mxgate makemap` / `newaliases`, and probes go through
//! `mxgate test --batch -D CFDIR=<copy>`.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;
use support::{Daemon, Raw, Setup, copy_dir};

const BIN: &str = env!("CARGO_BIN_EXE_mxgate");

struct SiteCopy {
    _dir: tempfile::TempDir,
    path: PathBuf,
    mc: PathBuf,
}

fn site(folder: &str, mc: &str, maps: &[&str]) -> SiteCopy {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("cf")
            .join(folder),
        &path,
    );
    // The shipped aliases name /etc/mail/lists/...; point them at the copy.
    let aliases = path.join("aliases");
    let text = std::fs::read_to_string(&aliases).unwrap();
    std::fs::write(
        &aliases,
        text.replace("/etc/mail/", &format!("{}/", path.display())),
    )
    .unwrap();
    for m in maps {
        let out = Command::new(BIN)
            .args(["makemap", "hash"])
            .arg(path.join(m))
            .stdin(std::fs::File::open(path.join(m)).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "makemap {m}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mc = path.join(mc);
    let out = Command::new(BIN)
        .args(["newaliases", "-C"])
        .arg(&mc)
        .arg("-D")
        .arg(format!("CFDIR={}", path.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "newaliases: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    SiteCopy {
        _dir: dir,
        path,
        mc,
    }
}

fn check(s: &SiteCopy, cases: &[(&str, Value, Value)]) {
    let mut child = Command::new(BIN)
        .args(["test", "--batch", "-D"])
        .arg(format!("CFDIR={}", s.path.display()))
        .arg("--config")
        .arg(&s.mc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for (_, p, _) in cases {
            writeln!(stdin, "{p}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        answers.len(),
        cases.len(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    for ((id, probe, want), got) in cases.iter().zip(&answers) {
        let result = &got["result"];
        for (k, v) in want.as_object().unwrap() {
            if &result[k] != v {
                failures.push(format!(
                    "{id}: {probe}\n    {k}: want {v}, got {}\n    {got}",
                    result[k]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn route(a: &str) -> Value {
    json!({"kind": "route", "addr": a})
}

fn rcpt(client: &str, name: &str, from: &str, to: &str) -> Value {
    json!({"kind": "rcpt", "client_addr": client, "client_name": name, "client_resolve": "OK",
           "from": from, "to": to})
}

fn reject(code: u16, enh: &str, text: &str) -> Value {
    json!({"action": "reject", "smtp_code": code, "enhanced_code": enh, "text": text})
}

#[test]
fn gateway_decisions() {
    let s = site("gateway", "gateway.mc", &["access", "mailertable"]);
    let outside = "mx.stranger.example";
    let stranger = |to: &str| rcpt("198.51.100.7", outside, "<someone@stranger.example>", to);
    let accept = json!({"action": "accept"});
    check(
        &s,
        &[
            // Inbound mail for the organisation goes statically to the hub (no MX lookup).
            (
                "org domain",
                route("user@example.gr.jp"),
                json!({"mailer": "smtp", "host": "[dist-in.example.gr.jp]"}),
            ),
            (
                "sub-domain",
                route("user@sub1.example.gr.jp"),
                json!({"mailer": "smtp", "host": "[dist-in.example.gr.jp]"}),
            ),
            // Everything else by MX.
            (
                "outside",
                route("user@outside.example"),
                json!({"mailer": "esmtp", "host": "outside.example"}),
            ),
            // Never an open relay.
            (
                "relay refused",
                stranger("<u@outside.example>"),
                reject(550, "5.7.1", "Relaying denied"),
            ),
            (
                "own domain accepted",
                stranger("<u@sub1.example.gr.jp>"),
                accept.clone(),
            ),
            // The hub's outbound mail (inside network) is relayed out.
            (
                "inside network relays out",
                rcpt(
                    "192.0.2.20",
                    "dist-in.example.gr.jp",
                    "<bob@example.gr.jp>",
                    "<x@outside.example>",
                ),
                accept.clone(),
            ),
            // Hand-kept restriction list (the university source's entries).
            (
                "61.49.138.219",
                json!({"kind": "connect", "client_addr": "61.49.138.219", "client_name": "[61.49.138.219]"}),
                json!({"action": "accept", "why": "delay_checks: client checked at RCPT"}),
            ),
            (
                "61.49.138.219 at RCPT (delay_checks)",
                rcpt(
                    "61.49.138.219",
                    "[61.49.138.219]",
                    "<a@b.example>",
                    "<u@example.gr.jp>",
                ),
                reject(550, "5.7.1", "Access denied"),
            ),
            (
                "150.59.112.17 OK",
                rcpt(
                    "150.59.112.17",
                    "[150.59.112.17]",
                    "<a@b.example>",
                    "<u@example.gr.jp>",
                ),
                accept.clone(),
            ),
            (
                "203.0.113.9 REJECT (prefix)",
                rcpt(
                    "203.0.113.9",
                    "[203.0.113.9]",
                    "<a@b.example>",
                    "<u@example.gr.jp>",
                ),
                reject(550, "5.7.1", "Access denied"),
            ),
            (
                "203.0.113.7 OK beats the prefix",
                rcpt(
                    "203.0.113.7",
                    "[203.0.113.7]",
                    "<a@b.example>",
                    "<u@example.gr.jp>",
                ),
                accept.clone(),
            ),
            (
                "ERROR:5.7.1:551",
                rcpt(
                    "198.51.100.7",
                    outside,
                    "<x@cyber.example.com>",
                    "<u@example.gr.jp>",
                ),
                reject(551, "5.7.1", "Relay denied"),
            ),
            (
                "DISCARD forged sender",
                rcpt(
                    "198.51.100.7",
                    outside,
                    "<x@forged.example.org>",
                    "<u@example.gr.jp>",
                ),
                json!({"action": "discard"}),
            ),
            (
                "postmaster is a friend even for a refused client",
                rcpt(
                    "61.49.138.219",
                    "[61.49.138.219]",
                    "<a@b.example>",
                    "<postmaster@gateway.example.gr.jp>",
                ),
                accept.clone(),
            ),
            (
                "blacklisted recipient",
                stranger("<bogus_user@gateway.example.gr.jp>"),
                reject(550, "5.2.1", "Mailbox disabled for this recipient"),
            ),
            // DNSBL: listed, and a blocklist that does not answer temp-fails (`t`).
            (
                "dnsbl listed",
                json!({"kind": "rcpt", "client_addr": "198.51.100.99", "client_name": "[198.51.100.99]",
                       "from": "<a@b.example>", "to": "<u@example.gr.jp>",
                       "dns": {"99.100.51.198.bl.example.net": ["127.0.0.2"]}}),
                reject(
                    550,
                    "5.7.1",
                    "Rejected: 198.51.100.99 listed at bl.example.net",
                ),
            ),
            (
                "dnsbl timeout",
                json!({"kind": "rcpt", "client_addr": "198.51.100.99", "client_name": "[198.51.100.99]",
                       "from": "<a@b.example>", "to": "<u@example.gr.jp>",
                       "dns": {"99.100.51.198.bl.example.net": "tempfail"}}),
                json!({"action": "tempfail", "smtp_code": 451, "enhanced_code": "4.4.3",
                       "text": "Temporary lookup failure of 198.51.100.99 at bl.example.net"}),
            ),
            // Header rules, with Postfix's case rule (issue 13).
            (
                "make money fast",
                json!({"kind": "header", "line": "Subject: Make Money Fast!!!"}),
                json!({"action": "reject", "smtp_code": 550}),
            ),
            (
                "case-insensitive without /i",
                json!({"kind": "header", "line": "Subject: cheap VIAGRA"}),
                reject(550, "5.7.1", "Spam not accepted"),
            ),
            (
                "case-insensitive by default",
                json!({"kind": "header", "line": "Subject: make money fast"}),
                json!({"action": "reject", "smtp_code": 550}),
            ),
            (
                "case-sensitive with /i",
                json!({"kind": "header", "line": "X-Mailer: mass mailer 3"}),
                accept,
            ),
        ],
    );
}

#[test]
fn hub_decisions() {
    let s = site("dist-in", "distribution.mc", &["access", "mailertable"]);
    check(
        &s,
        &[
            (
                "mission example",
                route("user@sub1.example.gr.jp"),
                json!({"mailer": "smtp", "host": "[mbox1.example.gr.jp]", "user": "user@sub1.example.gr.jp"}),
            ),
            (
                "sub2",
                route("user@sub2.example.gr.jp"),
                json!({"mailer": "smtp", "host": "[mbox2.example.gr.jp]"}),
            ),
            (
                "IP literal",
                route("user@sub3.example.gr.jp"),
                json!({"mailer": "smtp", "host": "[192.0.2.25]"}),
            ),
            (
                "bare domain",
                route("user@example.gr.jp"),
                json!({"mailer": "smtp", "host": "[mbox1.example.gr.jp]"}),
            ),
            (
                "outside via SMART_HOST",
                route("user@outside.example"),
                json!({"mailer": "esmtp", "host": "[gateway.example.gr.jp]"}),
            ),
            (
                "internal network relays",
                rcpt(
                    "192.0.2.50",
                    "mbox1.example.gr.jp",
                    "<bob@example.gr.jp>",
                    "<x@outside.example>",
                ),
                json!({"action": "accept"}),
            ),
            (
                "others do not",
                rcpt(
                    "203.0.113.5",
                    "[203.0.113.5]",
                    "<bob@example.gr.jp>",
                    "<x@outside.example>",
                ),
                json!({"action": "reject", "smtp_code": 550, "enhanced_code": "5.7.1"}),
            ),
        ],
    );
}

#[test]
fn mailbox_server_decisions() {
    let s = site("mbox", "mailserver.mc", &["access", "mailboxes"]);
    let masq =
        |w: &str, a: &str| json!({"kind": "masquerade", "where": w, "addr": a, "mailer": "esmtp"});
    let local = |to: &str| rcpt("127.0.0.1", "localhost", "<bob@mbox1.example.gr.jp>", to);
    check(
        &s,
        &[
            (
                "local user",
                route("alice@sub1.example.gr.jp"),
                json!({"mailer": "local", "host": null, "user": "alice"}),
            ),
            (
                "outside via hub",
                route("user@outside.example"),
                json!({"mailer": "esmtp", "host": "[dist-in.example.gr.jp]"}),
            ),
            // Masquerading: user@mbox1 → user@example.gr.jp, root exposed,
            // foreign addresses never get the local domain.
            (
                "header sender",
                masq("header-sender", "bob@mbox1.example.gr.jp"),
                json!({"address": "bob@example.gr.jp"}),
            ),
            (
                "envelope sender",
                masq("envelope-sender", "bob@mbox1.example.gr.jp"),
                json!({"address": "bob@example.gr.jp"}),
            ),
            (
                "bare user",
                masq("envelope-sender", "bob"),
                json!({"address": "bob@example.gr.jp"}),
            ),
            (
                "root exposed",
                masq("header-sender", "root@mbox1.example.gr.jp"),
                json!({"address": "root@mbox1.example.gr.jp"}),
            ),
            (
                "foreign untouched",
                masq("header-recipient", "user@outside.example"),
                json!({"address": "user@outside.example"}),
            ),
            (
                "envelope recipient never",
                masq("envelope-recipient", "bob@mbox1.example.gr.jp"),
                json!({"address": "bob@mbox1.example.gr.jp"}),
            ),
            // Virtual accounts: disabled vs unknown.
            (
                "disabled",
                local("<mallory@sub1.example.gr.jp>"),
                reject(550, "5.2.1", "Mailbox temporarily disabled"),
            ),
            (
                "unknown",
                local("<nobody@sub1.example.gr.jp>"),
                reject(550, "5.1.1", "User unknown"),
            ),
            (
                "known",
                local("<alice@sub1.example.gr.jp>"),
                json!({"action": "accept"}),
            ),
            // Lists: :include: fans out, owner-LIST is the envelope sender;
            // example.gr.jp is local here too, so carol@example.gr.jp is carol.
            (
                "list",
                json!({"kind": "expand", "addr": "staff@sub1.example.gr.jp"}),
                json!({"targets": ["alice", "bob", "carol"], "owner": "owner-staff"}),
            ),
        ],
    );
}

#[test]
fn mailbox_server_delivers_to_maildir_or_with_dovecot_lmtp_to_dovecot() {
    let compile = |defines: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("compile");
        for d in defines {
            c.args(["-D", d]);
        }
        let out = c
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cf/mbox/mailserver.mc"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let maildir = compile(&["CFDIR=/etc/mail"]);
    assert!(!maildir.contains("local_lmtp"), "{maildir}");
    let dovecot = compile(&["CFDIR=/etc/mail", "DOVECOT_LMTP=/run/dovecot/lmtp"]);
    assert!(
        dovecot.contains("local_lmtp = [\"/run/dovecot/lmtp\"]"),
        "{dovecot}"
    );
}

#[test]
fn compile_dash_o_dash_writes_to_standard_output_not_a_file_named_dash() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["compile", "-o", "-"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cf/mbox/mailserver.mc"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("format = 1"));
    assert!(
        !dir.path().join("-").exists(),
        "a file named '-' was written"
    );
}

/// `mxgate compile -o OUT cf/mbox/mailserver.mc`, which must succeed.
fn compile_mailserver_to(out: &Path) {
    let done = Command::new(BIN)
        .args(["compile", "-o"])
        .arg(out)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cf/mbox/mailserver.mc"))
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}

#[test]
fn compile_dash_o_writes_into_a_fifo_or_device_instead_of_replacing_it() {
    // `mxgate compile -o /dev/null` (as root) renamed a regular file over
    // /dev/null. A FIFO stands in for the device here: the output must go
    // through it, and it must still be a FIFO afterwards.
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    compile_mailserver_to(&fifo);
    assert!(reader.join().unwrap().contains("format = 1"));
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "{kind:?}");
    // A regular file is still replaced whole, leaving nothing beside it.
    let file = dir.path().join("site.cf");
    std::fs::write(&file, "old").unwrap();
    compile_mailserver_to(&file);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("format = 1")
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// The gateway tutorial writes ``define(`confDOMAIN_NAME', `$w.$m')`` and
/// sets `$w` and `$m` with raw `Dw` / `Dm` lines: `$j` is expanded when it
/// is used, so the greeting, the EHLO reply and `mxgate check` all carry
/// `gw1.example.gr.jp`, never the literal `$w.$m`.
#[test]
fn issue_tutorial_domain_name_from_dw_and_dm_lines() {
    let d = Daemon::start(Setup {
        mc: "define(`confDOMAIN_NAME', `$w.$m')dnl\n\
             define(`confSMTP_LOGIN_MSG', `$j mxgate ready; $b')dnl\n\
             LOCAL_CONFIG\nDwgw1\nDmexample.gr.jp\n",
        tables: &[],
        tls: false,
    });
    let mut c = Raw::connect(d.mta);
    let greeting = c.reply();
    assert!(
        greeting.starts_with("220 gw1.example.gr.jp ESMTP mxgate ready; "),
        "{greeting}"
    );
    assert!(!greeting.contains('$'), "{greeting}");
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.starts_with("250-gw1.example.gr.jp "), "{ehlo}");
    let out = Command::new(BIN)
        .args(["check", "-C"])
        .arg(&d.mc)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("configuration loads: $j = gw1.example.gr.jp\n"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `.mc` with EUC-JP / Shift_JIS / Latin-1 / ISO-2022-JP comments compiles
/// through the binary (it used to stop with a UTF-8 error).
#[test]
fn issue_8bit_mc_compiles_through_the_binary() {
    for name in ["latin1", "euc-jp", "iso-2022-jp", "shift_jis"] {
        let mc = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("m4-compat/tests/fixtures/8bit")
            .join(format!("{name}.mc"));
        let out = Command::new(BIN)
            .args(["compile", "-o", "-"])
            .arg(&mc)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("UTF-8"), "{name}: {stderr}");
        let text = String::from_utf8(out.stdout).expect("the compiled text is UTF-8");
        assert!(
            text.contains("hostname = \"gw.example.gr.jp\""),
            "{name}: {text}"
        );
    }
}
