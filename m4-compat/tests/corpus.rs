//! The field corpus (issue "Field configurations and exact sendmail
//! behaviour"): every `.mc` Debian's `sendmail-cf` ships in
//! `/usr/share/sendmail/cf/cf/`, copies of Debian's `sendmail.mc` /
//! `submit.mc` (`cf/debian/`, what `sendmailconfig` installs in `/etc/mail`;
//! copies because the installed `sendmail.mc` includes `/etc/mail/m4/*.m4`,
//! whose presence and modes depend on the machine), the shipped sites in
//! `cf/`, a tutorial-style gateway and the 8-bit fixtures.
//!
//! Each file either compiles or is refused with `file:line:col` and a reason
//! that says what to write instead (or names the sendmail feature mxgate
//! lacks). No file may fail with an unexplained error: a UTF-8 error, an
//! unreadable file, a panic, a diagnostic without a position. The number
//! compiled is pinned, so a regression shows; every refusal is listed in
//! [`EXPECTED_REFUSALS`], so a new one shows too.

use mxgate_m4::{Options, compile_file, compile_str};
use std::path::{Path, PathBuf};

/// Where Debian's `sendmail-cf` puts sendmail's cf tree.
const SENDMAIL_CF: &str = "/usr/share/sendmail/cf";

/// The least number of corpus files that must compile (pinned at what
/// this compiler reaches; raise it when more compile).
const MIN_COMPILED: usize = 42;

/// Files of sendmail's `cf/cf/` refused on purpose: (file name, text the
/// reason must contain). sendmail's m4 accepts them (checked below), so the
/// reason names the missing feature and says what to write instead.
const EXPECTED_REFUSALS: &[(&str, &str)] = &[
    // Berkeley's UUCP sites: mxgate has no UUCP mailer.
    (
        "ucbarpa.mc",
        "ucbarpa.mc:30:1: SITECONFIG(`uucp.ucbarpa') is not supported: it builds UUCP site classes, \
         and mxgate has no UUCP mailer; remove the line",
    ),
    (
        "ucbvax.mc",
        "ucbvax.mc:42:1: SITECONFIG(`uucp.ucbvax') is not supported: it builds UUCP site classes, \
         and mxgate has no UUCP mailer; remove the line",
    ),
];

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn corpus() -> Vec<PathBuf> {
    let cf = Path::new(SENDMAIL_CF);
    assert!(
        cf.join("m4/cf.m4").is_file(),
        "{SENDMAIL_CF} is missing: install Debian's sendmail-cf (apt-get install sendmail-cf m4)"
    );
    let dir = cf.join("cf");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mc"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "only {} .mc files in {}",
        files.len(),
        dir.display()
    );
    let fx = here().join("tests/fixtures");
    for name in [
        "8bit/latin1.mc",
        "8bit/euc-jp.mc",
        "8bit/iso-2022-jp.mc",
        "8bit/shift_jis.mc",
        "tutorial-style/gateway-dw-dm.mc",
        "debian/submit.mc",
    ] {
        files.push(fx.join(name));
    }
    for name in [
        "cf/gateway/gateway.mc",
        "cf/dist-in/distribution.mc",
        "cf/mbox/mailserver.mc",
        "cf/default.mc",
    ] {
        files.push(here().join("..").join(name));
    }
    files
}

/// What a refusal must never look like: an internal or I/O failure rather
/// than a reason about the `.mc`.
fn unexplained(message: &str) -> bool {
    [
        "did not contain valid UTF-8",
        "not UTF-8 text",
        "panicked",
        "internal error",
        "cannot read",
    ]
    .iter()
    .any(|bad| message.contains(bad))
}

#[test]
fn issue_field_corpus_compiles_or_is_refused_with_a_reason() {
    let mut compiled = Vec::new();
    let mut refused = Vec::new();
    let mut bad = Vec::new();
    for path in corpus() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match compile_file(&path, &Options::default()) {
            Ok(c) => {
                for w in &c.warnings {
                    println!("  warning: {w}");
                }
                compiled.push(name)
            }
            Err(e) => {
                let d = &e.diagnostics[0];
                if d.line == 0 || d.col == 0 || unexplained(&d.message) {
                    bad.push(format!("{name}: {e}"));
                }
                refused.push((name, e.to_string()));
            }
        }
    }
    // Debian's generated sendmail.mc (fixture copy; its includes point at the
    // fixture's m4/ directory instead of /etc/mail/m4).
    let dir = here().join("tests/fixtures/debian");
    let text = std::fs::read_to_string(dir.join("sendmail.mc"))
        .unwrap()
        .replace("@DIR@", &dir.display().to_string());
    match compile_str("debian/sendmail.mc (generated)", &text, &Options::default()) {
        Ok(_) => compiled.push("debian/sendmail.mc (generated)".into()),
        Err(e) => refused.push(("debian/sendmail.mc (generated)".into(), e.to_string())),
    }
    // What Debian's sendmailconfig generated in /etc/mail, when sendmail
    // is installed on this machine (not counted above: the machine decides
    // whether they exist). Debian's own files must compile.
    for name in ["sendmail.mc", "submit.mc"] {
        let path = Path::new("/etc/mail").join(name);
        if !path.is_file() {
            println!("/etc/mail/{name}: not on this machine (sendmail-bin not configured)");
            continue;
        }
        match compile_file(&path, &Options::default()) {
            Ok(_) => println!("/etc/mail/{name}: compiled"),
            Err(e) => bad.push(format!("/etc/mail/{name}: {e}")),
        }
    }
    println!(
        "{} compiled, {} refused{}",
        compiled.len(),
        refused.len(),
        if refused.is_empty() { "" } else { ":" }
    );
    for (name, reason) in &refused {
        println!("  {name} — {reason}");
    }
    // The refusals of sendmail's own files: real m4 + cf.m4 accepts them,
    // so each reason must name the feature mxgate lacks.
    for (name, _) in EXPECTED_REFUSALS {
        let path = Path::new(SENDMAIL_CF).join("cf").join(name);
        let out = std::process::Command::new("m4")
            .current_dir(path.parent().unwrap())
            .arg(&path)
            .output()
            .expect("m4 is needed by this test: apt-get install m4");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{name}: sendmail's m4 refuses it too: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(bad.is_empty(), "unexplained failures:\n{}", bad.join("\n"));
    for (name, reason) in &refused {
        let expected = EXPECTED_REFUSALS
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is refused and not listed: {reason}"));
        assert!(reason.contains(expected.1), "{name}: {reason}");
    }
    assert!(
        compiled.len() >= MIN_COMPILED,
        "only {} compiled: {compiled:?}",
        compiled.len()
    );
}
