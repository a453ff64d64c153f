//! Issue "Field configurations and exact sendmail behaviour", postmaster
//! part: `RCPT TO:<Postmaster>` (any case, no domain) is accepted (RFC 5321
//! §4.5.1) by a real `mxgate daemon` on the embedded default configuration
//! (which has no aliases file: postmaster is an implicit `postmaster:
//! root`) and on a shipped `cf/` configuration.

mod support;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A daemon started from the command line, killed when dropped.
struct Running {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

/// `mxgate daemon ARGS` in a fresh working directory; waits for `port`.
fn run(args: &[String], port: u16, dir: tempfile::TempDir) -> Running {
    let child = Command::new(BIN)
        .arg("daemon")
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut r = Running { child, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = r.child.try_wait() {
            panic!("daemon exited {st}: {}", r.stderr());
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not start: {}",
            r.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

/// RCPT replies for `rcpts` in one transaction from 127.0.0.1.
fn rcpt_replies(d: &Running, port: u16, rcpts: &[&str]) -> Vec<String> {
    let mut c = Raw::connect(port);
    let greeting = c.reply();
    assert!(
        greeting.starts_with("220"),
        "greeting {greeting:?}; daemon stderr: {}",
        d.stderr()
    );
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    let r = c.cmd("MAIL FROM:<>");
    assert!(r.starts_with("250"), "{r}");
    let out = rcpts
        .iter()
        .map(|t| c.cmd(&format!("RCPT TO:<{t}>")))
        .collect();
    c.cmd("QUIT");
    out
}

#[test]
fn rcpt_postmaster_in_any_case_is_accepted_by_the_embedded_default() {
    let (mta, msa) = (free_port(), free_port());
    let d = run(
        &[
            "-D".into(),
            format!("MXGATE_MTA_PORT={mta}"),
            "-D".into(),
            format!("MXGATE_MSA_PORT={msa}"),
        ],
        mta,
        tempfile::tempdir().unwrap(),
    );
    let r = rcpt_replies(
        &d,
        mta,
        &[
            "Postmaster",
            "POSTMASTER",
            "postmaster",
            "postmaster@localhost.localdomain",
            "no-such-user-here",
        ],
    );
    for (i, reply) in r.iter().take(4).enumerate() {
        assert!(
            reply.starts_with("250 2.1.5"),
            "rcpt {i}: {reply}\n{}",
            d.stderr()
        );
    }
    // Other unknown local names are still refused.
    assert!(r[4].starts_with("550 5.1.1"), "{}", r[4]);
}

#[test]
fn rcpt_postmaster_in_any_case_is_accepted_by_the_hub_config() {
    // cf/dist-in as shipped, with its listener moved to a loopback test
    // port and the spool into the temp directory.
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("cf/dist-in"),
        &site,
    );
    let port = free_port();
    let mc = std::fs::read_to_string(site.join("distribution.mc")).unwrap();
    assert!(mc.contains("DAEMON_OPTIONS(`Port=smtp, Name=MTA')"));
    let mc = mc.replace(
        "DAEMON_OPTIONS(`Port=smtp, Name=MTA')",
        &format!(
            "DAEMON_OPTIONS(`Port={port}, Addr=127.0.0.1, Name=MTA')dnl\n\
             define(`QUEUE_DIR', `{}')",
            dir.path().join("spool").display()
        ),
    );
    std::fs::write(site.join("distribution.mc"), mc).unwrap();
    for m in ["access", "mailertable"] {
        let out = Command::new(BIN)
            .args(["makemap", "hash"])
            .arg(site.join(m))
            .stdin(std::fs::File::open(site.join(m)).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let defines = [
        "-D".to_string(),
        format!("CFDIR={}", site.display()),
        "-D".into(),
        "confRUN_AS_USER=root".into(),
        "-D".into(),
        "confMXGATE_NAMESERVERS=127.0.0.1:9".into(),
    ];
    let out = Command::new(BIN)
        .args(["newaliases", "-C"])
        .arg(site.join("distribution.mc"))
        .args(&defines[..2])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut args = vec![
        "--config".to_string(),
        site.join("distribution.mc").display().to_string(),
    ];
    args.extend(defines);
    let d = run(&args, port, dir);
    let r = rcpt_replies(&d, port, &["Postmaster", "POSTMASTER", "pOsTmAsTeR"]);
    for reply in &r {
        assert!(reply.starts_with("250 2.1.5"), "{reply}\n{}", d.stderr());
    }
}

#[test]
fn check_warns_when_postmaster_reaches_no_mailbox() {
    let d = tempfile::tempdir().unwrap();
    let mb = d.path().join("mailboxes");
    std::fs::write(&mb, "alice OK\n").unwrap();
    let out = Command::new(BIN)
        .args(["makemap", "lmdb"])
        .arg(&mb)
        .stdin(std::fs::File::open(&mb).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mc = d.path().join("site.mc");
    let write = |aliases: &str| {
        std::fs::write(
            &mc,
            format!(
                "OSTYPE(`linux')dnl\n\
                 define(`QUEUE_DIR', `{}')dnl\n\
                 FEATURE(`mailboxes', `lmdb {}')dnl\n\
                 {aliases}MAILER(`local')dnl\n",
                d.path().join("spool").display(),
                mb.display()
            ),
        )
        .unwrap();
    };
    let check = || {
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&mc)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // No aliases: the implicit postmaster: root, and root has no mailbox.
    write("undefine(`ALIAS_FILE')dnl\n");
    let out = check();
    assert!(
        out.contains("warning: postmaster resolves to local user root, who has no mailbox"),
        "{out}"
    );
    // An alias to a real mailbox: no warning.
    let al = d.path().join("aliases");
    std::fs::write(&al, "postmaster: alice\n").unwrap();
    let o = Command::new(BIN)
        .arg("newaliases")
        .arg(&al)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    write(&format!("define(`ALIAS_FILE', `{}')dnl\n", al.display()));
    let out = check();
    assert!(out.contains("configuration loads"), "{out}");
    assert!(!out.contains("postmaster resolves"), "{out}");
}
