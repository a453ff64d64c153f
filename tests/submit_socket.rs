//! Submission by ordinary users through the daemon's socket (the
//! operations issue: sendmail's `smmsp` client queue, Postfix's
//! `postdrop`, without a setuid binary). A real daemon on loopback; the
//! real `mxgate` binary run as a real non-root user (created with
//! `useradd` when absent) through `setpriv`, as cron and `mail(1)` run it.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{BIN, Daemon, Setup};

/// The unprivileged user the tests submit as.
const USER: &str = "mxsubmit";

/// Create [`USER`] (with a home directory) once; its home.
fn user_home() -> PathBuf {
    static ONCE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut once = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = once.as_ref() {
        return h.clone();
    }
    assert!(
        Command::new("id").arg("-u").output().unwrap().stdout == b"0\n",
        "tests/submit_socket.rs must run as root (it creates a user and runs the client as that user)"
    );
    for tool in ["useradd", "setpriv", "setsid"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is missing: apt-get install passwd util-linux"
        );
    }
    if !Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success()
    {
        let o = Command::new("useradd")
            .args([
                "--create-home",
                "--shell",
                "/bin/sh",
                "--comment",
                "Submit Tester",
                USER,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "useradd: {o:?}");
    }
    let o = Command::new("sh")
        .args(["-c", &format!("getent passwd {USER} | cut -d: -f6")])
        .output()
        .unwrap();
    let home = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    assert!(
        home.is_dir(),
        "{USER} has no home directory {}",
        home.display()
    );
    *once = Some(home.clone());
    home
}

/// A daemon with a local mailbox for alice, readable configuration (the
/// temp directory is opened to others: the client reads the .mc and the
/// socket directory beside the spool).
fn daemon(extra: &str, start: bool) -> Daemon {
    user_home();
    let mc = format!(
        "define(`confMAX_MESSAGE_SIZE', `5000')dnl\n\
         define(`confMXGATE_MAILDIR', `@DIR@/mail/%u/Maildir')dnl\n\
         FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n{extra}"
    );
    let mut d = Daemon::prepare(Setup {
        mc: &mc,
        tables: &[("mailboxes", "alice OK\npostmaster OK\n")],
        tls: false,
    });
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.mc, std::fs::Permissions::from_mode(0o644)).unwrap();
    if start {
        d.spawn();
        let sock = socket(&d);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline,
                "no socket {}: {}",
                sock.display(),
                d.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    d
}

fn socket(d: &Daemon) -> PathBuf {
    d.path().join("spool-public/submit.sock")
}

/// Run `program args` as [`USER`] in its home, without a terminal, with
/// the environment cron gives a job.
fn as_user(program: &Path, args: &[&str], input: &[u8]) -> Output {
    let home = user_home();
    let mut child = Command::new("setsid")
        .args([
            "--wait",
            "setpriv",
            &format!("--reuid={USER}"),
            &format!("--regid={USER}"),
            "--init-groups",
            "--",
        ])
        .arg(program)
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("LOGNAME", USER)
        .env("USER", USER)
        .env("SHELL", "/bin/sh")
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn sendmail(d: &Daemon, args: &[&str], input: &str) -> Output {
    let mut a = vec!["sendmail", "-C", d.mc.to_str().unwrap()];
    a.extend_from_slice(args);
    as_user(Path::new(BIN), &a, input.as_bytes())
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_all(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

fn maildir(d: &Daemon, user: &str) -> Vec<String> {
    let dir = d.path().join("mail").join(user).join("Maildir/new");
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    read_all(&files)
}

#[test]
fn a_user_submits_through_the_daemon_and_the_message_is_delivered_as_that_user() {
    let d = daemon("define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n", true);
    let o = sendmail(
        &d,
        &["-oi", "alice"],
        "Subject: from a user\n\nhello from cron\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let m = maildir(&d, "alice");
        if !m.is_empty() {
            break m;
        }
        assert!(Instant::now() < deadline, "not delivered: {}", d.maillog());
        std::thread::sleep(Duration::from_millis(100));
    };
    let m = &got[0];
    assert!(
        m.contains(&format!("Received: (from {USER}@localhost)")),
        "{m}"
    );
    assert!(
        m.contains(&format!("From: Submit Tester <{USER}@gw.example.com>")),
        "{m}"
    );
    assert!(m.contains("hello from cron"), "{m}");
    assert!(!m.contains("X-Authentication-Warning"), "{m}");
    let log = d.maillog();
    assert!(
        log.contains(&format!("from=<{USER}@gw.example.com>, size="))
            && log.contains(&format!("relay={USER}@localhost")),
        "{log}"
    );
    assert!(log.contains("local submission on "), "{log}");
}

#[test]
fn untrusted_dash_f_is_marked_and_the_user_cannot_touch_the_spool() {
    let d = daemon("", true);
    let o = sendmail(
        &d,
        &["-f", "boss@corp.example", "a@x.example"],
        "Subject: s\n\nb\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = read_all(&d.queued("queue"));
    assert_eq!(q.len(), 1, "{}", d.maillog());
    assert!(q[0].contains("sender <boss@corp.example>\n"), "{}", q[0]);
    assert!(
        q[0].contains(&format!(
            "X-Authentication-Warning: gw.example.com: {USER} set sender to boss@corp.example using -f\r\n"
        )),
        "{}",
        q[0]
    );
    // The spool is the daemon's: the user can neither list nor write it.
    let spool = d.path().join("spool");
    let mode = std::fs::metadata(&spool).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "spool mode {mode:o}");
    for script in [
        format!("ls {}/queue", spool.display()),
        format!("cat {}/queue/*", spool.display()),
        format!("echo x > {}/queue/forged", spool.display()),
    ] {
        let o = as_user(Path::new("/bin/sh"), &["-c", &script], b"");
        assert!(!o.status.success(), "{script}: {}", text(&o));
    }
    assert!(!spool.join("queue/forged").exists());
    // mailq as the user: through the daemon (sendmail lets anyone list
    // the queue unless confPRIVACY_FLAGS restricts it).
    let o = as_user(
        Path::new(BIN),
        &["mailq", "-C", d.mc.to_str().unwrap()],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("(1 request)") && out.contains("<boss@corp.example>"),
        "{out}"
    );
    // The user's -q selections travel to the daemon (they were refused).
    let mc = d.mc.to_str().unwrap();
    for (sel, total) in [
        ("-qSboss@", "Total requests: 1"),
        ("-qSnobody@", "Total requests: 0"),
    ] {
        let o = as_user(Path::new(BIN), &["mailq", "-C", mc, sel], b"");
        assert_eq!(o.status.code(), Some(0), "{sel}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(total),
            "{sel}: {}",
            text(&o)
        );
    }
    // the socket is 0666 in a 0755 directory the daemon owns
    let s = std::fs::metadata(socket(&d)).unwrap().permissions().mode() & 0o777;
    assert_eq!(s, 0o666);
    let dir = std::fs::metadata(d.path().join("spool-public")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o755);
}

#[test]
fn restrictmailq_refuses_the_listing_to_users_and_a_stop_removes_the_socket() {
    let d = daemon(
        "define(`confPRIVACY_FLAGS', `goaway,restrictmailq')dnl\n",
        true,
    );
    let o = as_user(
        Path::new(BIN),
        &["mailq", "-C", d.mc.to_str().unwrap()],
        b"",
    );
    assert_eq!(o.status.code(), Some(77), "{}", text(&o));
    assert!(text(&o).contains("restrictmailq"), "{}", text(&o));
    // a clean stop removes the socket
    let mut d = d;
    d.signal("TERM");
    assert!(
        d.wait_exit(Duration::from_secs(30)).is_some(),
        "{}",
        d.stderr()
    );
    assert!(!socket(&d).exists(), "socket left after a clean stop");
}

/// A raw client speaking the frames: `(tag, payload)` list, as the user.
fn raw_frames(d: &Daemon, frames: &[(&str, &str)], extra_connections: usize) -> Output {
    let frames: Vec<String> = frames
        .iter()
        .map(|(t, p)| format!("({t:?}, {p:?})"))
        .collect();
    let script = format!(
        r#"
import socket, struct, sys, select
socks = []
for _ in range({extra_connections} + 1):
    c = socket.socket(socket.AF_UNIX); c.connect({sock:?}); socks.append(c)
# Whichever connection the daemon refuses (with more than a uid may
# hold), or the only one, answers first.
for s in socks:
    for tag, payload in [{frames}]:
        b = payload.encode()
        try:
            s.sendall(tag.encode() + struct.pack(">I", len(b)) + b)
        except OSError:
            break
r, _, _ = select.select(socks, [], [], 20)
s = r[0]
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
    if len(data) >= 5 and len(data) >= 5 + struct.unpack(">I", data[1:5])[0]: break
tag = data[:1].decode(); n = struct.unpack(">I", data[1:5])[0]
sys.stdout.write(tag + " " + data[5:5+n].decode())
"#,
        sock = socket(d).display().to_string(),
        frames = frames.join(", ")
    );
    as_user(Path::new("/usr/bin/python3"), &["-c", &script], b"")
}

#[test]
fn the_identity_is_the_kernels_and_bad_frames_get_a_clear_error() {
    let d = daemon("", true);
    // The client claims to be root and sets the sender to root: the
    // daemon knows the uid from SO_PEERCRED and marks the message.
    let o = raw_frames(
        &d,
        &[
            ("H", "mxgate-submit/1"),
            ("u", "root"),
            ("f", "froot"),
            ("R", "a@x.example"),
            ("M", "Subject: forged\r\n\r\nbody\r\n"),
            ("E", ""),
        ],
        0,
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.starts_with("O "), "{}", text(&o));
    let q = read_all(&d.queued("queue"));
    assert_eq!(q.len(), 1);
    assert!(
        q[0].contains(&format!("Received: (from {USER}@localhost)")),
        "{}",
        q[0]
    );
    assert!(
        q[0].contains(&format!(
            "X-Authentication-Warning: gw.example.com: {USER} set sender to root using -f"
        )),
        "{}",
        q[0]
    );
    let uid = String::from_utf8(
        Command::new("id")
            .args(["-u", USER])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(q[0].contains(&format!("\nfact user {USER}\n")), "{}", q[0]);
    assert!(
        q[0].contains(&format!("\nfact uid {}\n", uid.trim())),
        "{}",
        q[0]
    );
    let log = d.maillog();
    assert!(
        log.contains("client claims to be \"root\"; ignored"),
        "{log}"
    );
    // an unknown frame: a clear error, a log line, nothing queued
    let o = raw_frames(&d, &[("H", "mxgate-submit/1"), ("Z", "x")], 0);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "X 64 protocol error: unknown frame tag 0x5a",
        "{}",
        text(&o)
    );
    assert!(d.wait_log("bad frame: unknown frame tag 0x5a", Duration::from_secs(5)));
    // a frame before the version
    let o = raw_frames(&d, &[("R", "a@x.example")], 0);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("X 64 protocol error: expected Hello"),
        "{}",
        text(&o)
    );
    // a line break in what a client sends never makes a second log line
    let o = raw_frames(
        &d,
        &[
            ("H", "mxgate-submit/1"),
            ("R", "bad@\nforged: log line"),
            ("E", ""),
        ],
        0,
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("X 65 "),
        "{}",
        text(&o)
    );
    assert!(d.wait_log("forged: log line", Duration::from_secs(5)));
    assert!(
        !d.maillog().lines().any(|l| l.starts_with("forged")),
        "{}",
        d.maillog()
    );
    // more connections at once than a uid may hold
    let o = raw_frames(&d, &[("H", "mxgate-submit/1")], 4);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("X 75 Too many submissions in progress"),
        "{}",
        text(&o)
    );
    assert_eq!(d.queued("queue").len(), 1);
}

#[test]
fn an_oversized_message_is_refused_with_the_limit() {
    let d = daemon("", true);
    // far more than a socket buffer: refused while it arrives
    let big = format!("Subject: big\n\n{}\n", "x".repeat(400_000));
    let o = sendmail(&d, &["alice"], &big);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(
        text(&o).contains("Message is too large; 5000 bytes max (nothing queued)"),
        "{}",
        text(&o)
    );
    assert!(d.queued("queue").is_empty());
    assert!(d.wait_log(
        "refused: Message is too large; 5000 bytes max",
        Duration::from_secs(5)
    ));
    // a bad address is refused by the daemon with sendmail's text and status
    let o = sendmail(&d, &["good@x.example", "bad@"], "x\n");
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(text(&o).contains("bad@... "), "{}", text(&o));
}

#[test]
fn daemon_down_exits_75_and_keeps_the_message_in_dead_letter() {
    let mut d = daemon("", true);
    d.kill9(); // a stale socket remains: connection refused
    assert!(socket(&d).exists());
    let home = user_home();
    let dead = home.join("dead.letter");
    let _ = std::fs::remove_file(&dead);
    let o = sendmail(
        &d,
        &["-oi", "alice"],
        "Subject: nobody home\n\nFrom the cron job\nsecond line\n",
    );
    assert_eq!(o.status.code(), Some(75), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot submit to the mail daemon"), "{err}");
    assert!(
        err.contains(&format!("saved in {}", dead.display())),
        "{err}"
    );
    let saved = std::fs::read_to_string(&dead).unwrap();
    assert!(saved.starts_with(&format!("From {USER} ")), "{saved}");
    assert!(
        saved.contains("\nSubject: nobody home\n\n>From the cron job\nsecond line\n\n"),
        "{saved:?}"
    );
    let meta = std::fs::metadata(&dead).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    use std::os::unix::fs::MetadataExt;
    let uid = String::from_utf8(
        Command::new("id")
            .args(["-u", USER])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(meta.uid().to_string(), uid.trim());
    // no socket at all (the daemon never ran): the same
    std::fs::remove_file(socket(&d)).unwrap();
    let o = sendmail(&d, &["alice"], "Subject: second\n\nx\n");
    assert_eq!(o.status.code(), Some(75), "{}", text(&o));
    let saved = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(
        saved.matches(&format!("From {USER} ")).count(),
        2,
        "{saved}"
    );
    std::fs::remove_file(&dead).unwrap();
}

#[test]
fn cron_style_through_a_symlink_named_sendmail() {
    let d = daemon("", true);
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("sendmail")).unwrap();
    // cron: `sendmail -FCronDaemon -i -B8BITMIME -oem USER`, cwd $HOME, no tty
    let o = as_user(
        &bin.join("sendmail"),
        &[
            "-C",
            d.mc.to_str().unwrap(),
            "-FCronDaemon",
            "-i",
            "-B8BITMIME",
            "-oem",
            "alice",
        ],
        b"Subject: Cron <mxsubmit@host> job\n\noutput\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = read_all(&d.queued("queue"));
    assert_eq!(q.len(), 1, "{}", d.maillog());
    assert!(
        q[0].contains(&format!("From: CronDaemon <{USER}@gw.example.com>")),
        "{}",
        q[0]
    );
    assert!(!user_home().join("spool").exists(), "a spool in $HOME");
}

/// A user's own spool (the README's `mxgate sendmail` demo, with the
/// embedded default's `./spool`) is still written directly: only a spool
/// the user cannot write sends the message to a daemon.
#[test]
fn a_spool_the_user_may_create_is_written_directly() {
    user_home();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let o = Command::new("chown").arg(USER).arg(&work).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let script = format!(
        "cd {} && printf 'Subject: demo\\n\\nx\\n' | {BIN} sendmail -oi root && {BIN} mailq",
        work.display()
    );
    let o = as_user(Path::new("/bin/sh"), &["-c", &script], b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let queued = std::fs::read_dir(work.join("spool/queue")).unwrap().count();
    assert_eq!(queued, 1);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("(1 request)"),
        "{}",
        text(&o)
    );
    assert!(!work.join("spool-public").exists());
}
