//! Issue 17: the manual pages come from the `--help` texts (one definition)
//! and are clean for Debian's `man --warnings` (what lintian runs).

mod support;

use std::process::Command;
use support::{BIN, write_man_pages as write_pages};

#[test]
fn issue_17_every_page_renders_without_groff_warnings() {
    let have = Command::new("sh")
        .args(["-c", "command -v man"])
        .output()
        .unwrap();
    assert!(
        have.status.success(),
        "man is missing: apt-get install man-db"
    );
    let dir = tempfile::tempdir().unwrap();
    let pages = write_pages(dir.path());
    assert!(pages.len() >= 19, "{pages:?}");
    for (name, section) in &pages {
        let file = dir.path().join(format!("man{section}/{name}.{section}"));
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
            .arg(&file)
            .env("LC_ALL", "C.UTF-8")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(out.status.success(), "man {name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.trim().is_empty(),
            "man --warnings {name}.{section}: {err}"
        );
    }
}

#[test]
fn issue_17_a_page_says_what_help_says() {
    let dir = tempfile::tempdir().unwrap();
    write_pages(dir.path());
    for (cmd, page) in [
        (vec!["daemon", "--help"], "mxgate-daemon"),
        (vec!["makemap", "--help"], "makemap"),
        (vec!["sendmail", "--help"], "sendmail"),
    ] {
        let help = Command::new(BIN).args(&cmd).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let shown = Command::new("man")
            .args(["-P", "cat", "-l"])
            .arg(dir.path().join(format!("man8/{page}.8")))
            .env("MANWIDTH", "250")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout);
        let squash = |s: &str| {
            s.replace(['\u{2010}', '\u{2212}'], "-")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let shown = squash(&shown);
        // Every word run of every help paragraph is on the page.
        for para in help.split("\n\n").skip(1) {
            let p = squash(para);
            if !p.is_empty() {
                assert!(shown.contains(&p), "{page}: missing {p:?}\nin {shown}");
            }
        }
    }
}
