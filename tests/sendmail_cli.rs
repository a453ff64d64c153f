//! `sendmail` / `mailq` as scripts use them: the real binary, a temp .mc
//! with QUEUE_DIR in a temp directory, a message on standard input.
//! sendmail behaviour these follow was checked on sendmail 8.17.1.9
//! (`sendmail -odq -OQueueDirectory=... -t` and `-bp` on the queue it wrote).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mxgate");

struct Site {
    dir: tempfile::TempDir,
    mc: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("mailboxes"), "alice OK\npostmaster OK\n").unwrap();
        let out = Command::new(BIN)
            .args(["makemap", "lmdb"])
            .arg(d.join("mailboxes"))
            .stdin(std::fs::File::open(d.join("mailboxes")).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(d.join("aliases"), "root: alice\n").unwrap();
        let mc = d.join("test.mc");
        std::fs::write(
            &mc,
            format!(
                "divert(-1)\ndivert(0)dnl\nOSTYPE(`linux')dnl\n\
                 define(`confDOMAIN_NAME', `gw.example.com')dnl\n\
                 define(`QUEUE_DIR', `{d}/spool')dnl\n\
                 define(`confMXGATE_LOG_FILE', `{d}/maillog')dnl\n\
                 define(`ALIAS_FILE', `{d}/aliases')dnl\n\
                 define(`SMART_HOST', `esmtp:[smarthost.isp.net]')dnl\n\
                 define(`confMAX_MESSAGE_SIZE', `5000')dnl\n\
                 define(`confMXGATE_NAMESERVERS', `127.0.0.1:9')dnl\n\
                 define(`confMXGATE_DNS_TIMEOUT', `1s')dnl\n\
                 define(`confMXGATE_MAILDIR', `{d}/mail/%u/Maildir')dnl\n\
                 FEATURE(`mailboxes', `lmdb {d}/mailboxes')dnl\n\
                 MAILER(`local')dnl\nMAILER(`smtp')dnl\n",
                d = d.display()
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["newaliases", "-C"])
            .arg(&mc)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Site { dir, mc }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run `mxgate ARGS` (with -C test.mc) feeding `input`.
    fn run(&self, args: &[&str], input: &str) -> Output {
        self.run_as(Path::new(BIN), args, input)
    }

    fn run_as(&self, program: &Path, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(program)
            .args(args)
            .arg("-C")
            .arg(&self.mc)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A refused submission may exit before reading its input: a broken
        // pipe here is part of the behaviour under test, not a failure.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// Messages delivered to `user`'s Maildir (`new/`).
    fn maildir_count(&self, user: &str) -> usize {
        std::fs::read_dir(self.path().join("mail").join(user).join("Maildir/new"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The queue files (envelope + content) in `queue/`.
    fn queued(&self) -> Vec<String> {
        let dir = self.path().join("spool/queue");
        let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(r) => r.map(|e| e.unwrap().path()).collect(),
            Err(_) => return Vec::new(),
        };
        v.sort();
        v.iter()
            .map(|p| String::from_utf8(std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rcpts(qf: &str) -> Vec<&str> {
    qf.lines()
        .filter_map(|l| l.strip_prefix("rcpt "))
        .map(|l| l.split(' ').next().unwrap())
        .collect()
}

#[test]
fn dash_t_collects_to_cc_bcc_removes_bcc_and_adds_arguments() {
    // checked on sendmail 8.17.1.9: command-line addresses are added to the -t list.
    let s = Site::new();
    let o = s.run(
        &["sendmail", "-t", "extra@x.example"],
        "To: a@x.example, \"Doe, J\" <d@x.example>\nCc: bob\nBcc: secret@x.example\nSubject: t\n\nhello\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = s.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(
        rcpts(&q[0]),
        [
            "<extra@x.example>",
            "<a@x.example>",
            "<d@x.example>",
            "<bob@gw.example.com>",
            "<secret@x.example>"
        ]
    );
    let content = q[0].split_once("end\n").unwrap().1;
    assert!(
        !content.contains("Bcc:") && !content.contains("secret"),
        "{content}"
    );
    // bare LF became CRLF
    assert!(
        content.contains("Subject: t\r\n\r\nhello\r\n"),
        "{content:?}"
    );
    assert!(!content.replace("\r\n", "").contains('\n'), "{content:?}");
}

#[test]
fn lone_dot_ends_the_message_unless_dash_i() {
    let s = Site::new();
    let msg = "Subject: dots\n\nbefore\n..stuffed\n.\nafter\n";
    assert_eq!(
        s.run(&["sendmail", "a@x.example"], msg).status.code(),
        Some(0)
    );
    assert_eq!(
        s.run(&["sendmail", "-oi", "b@x.example"], msg)
            .status
            .code(),
        Some(0)
    );
    let q = s.queued();
    let by = |who: &str| {
        q.iter()
            .find(|f| f.contains(who))
            .unwrap()
            .split_once("end\n")
            .unwrap()
            .1
            .to_string()
    };
    let plain = by("<a@x.example>");
    assert!(plain.ends_with("before\r\n.stuffed\r\n"), "{plain:?}");
    let dash_i = by("<b@x.example>");
    assert!(
        dash_i.ends_with("before\r\n..stuffed\r\n.\r\nafter\r\n"),
        "{dash_i:?}"
    );
}

#[test]
fn missing_headers_are_added_and_sender_defaults_to_the_user() {
    let s = Site::new();
    let o = s.run(
        &["sendmail", "-F", "Cron Daemon", "alice"],
        "Subject: job\n\nout\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = s.queued();
    let user = Command::new("id").arg("-un").output().unwrap();
    let user = String::from_utf8_lossy(&user.stdout).trim().to_string();
    assert!(
        q[0].contains(&format!("sender <{user}@gw.example.com>\n")),
        "{}",
        q[0]
    );
    assert_eq!(rcpts(&q[0]), ["<alice@gw.example.com>"]);
    let content = q[0].split_once("end\n").unwrap().1;
    let lines: Vec<&str> = content.split("\r\n").collect();
    assert_eq!(lines[0], format!("Received: (from {user}@localhost)"));
    assert!(
        lines[1].starts_with("\tby gw.example.com (mxgate/"),
        "{content}"
    );
    assert_eq!(
        lines[2].split(';').next().unwrap(),
        "\tfor alice@gw.example.com"
    );
    assert!(lines[3].starts_with("Date: "));
    assert_eq!(
        lines[4],
        format!("From: Cron Daemon <{user}@gw.example.com>")
    );
    assert!(lines[5].starts_with("Message-ID: <") && lines[5].ends_with("@gw.example.com>"));
    assert_eq!(lines[6], "Subject: job");
    let log = std::fs::read_to_string(s.path().join("maillog")).unwrap();
    assert!(
        log.contains(&format!("from=<{user}@gw.example.com>, size="))
            && log.contains("nrcpts=1, msgid=<")
            && log.contains(&format!("relay={user}@localhost")),
        "{log}"
    );
}

#[test]
fn dash_f_sets_the_envelope_sender_and_existing_headers_are_kept() {
    let s = Site::new();
    let o = s.run(
        &["sendmail", "-f", "bounces@lists.example", "a@x.example"],
        "From: List <list@lists.example>\nDate: Tue, 24 Nov 2026 00:30:13 +0000\nMessage-ID: <m1@lists.example>\n\nbody\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = s.queued();
    assert!(q[0].contains("sender <bounces@lists.example>\n"));
    let content = q[0].split_once("end\n").unwrap().1;
    assert_eq!(content.matches("From:").count(), 1);
    assert_eq!(content.matches("Date:").count(), 1);
    assert_eq!(content.matches("Message-ID:").count(), 1);
    // the test runs as root, a trusted user: no warning header
    if nix_is_root() {
        assert!(!content.contains("X-Authentication-Warning"), "{content}");
    }
    let log = std::fs::read_to_string(s.path().join("maillog")).unwrap();
    assert!(log.contains("msgid=<m1@lists.example>"), "{log}");
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn bad_addresses_are_refused_and_nothing_is_spooled() {
    let s = Site::new();
    for (args, msg, status, says) in [
        (
            vec!["sendmail", "good@x.example", "bad@"],
            "\n",
            65,
            "bad@... ",
        ),
        (
            vec!["sendmail", "-t"],
            "To: a@x.example, broken<\n\nx\n",
            65,
            "broken<",
        ),
        (
            vec!["sendmail", "-f", "x@[1.2.3]", "a@x.example"],
            "\n",
            65,
            "x@[1.2.3]",
        ),
        (
            vec!["sendmail", "-t"],
            "Subject: none\n\nx\n",
            64,
            "No recipient addresses found in header",
        ),
        (
            vec!["sendmail"],
            "x\n",
            64,
            "Recipient names must be specified",
        ),
        (vec!["sendmail", "-k"], "x\n", 64, "unknown option -k"),
    ] {
        let o = s.run(&args, msg);
        assert_eq!(o.status.code(), Some(status), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
    let big = format!("Subject: big\n\n{}\n", "x".repeat(6000));
    let o = s.run(&["sendmail", "a@x.example"], &big);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(text(&o).contains("Message is too large; 5000 bytes max"));
    assert!(s.queued().is_empty());
    let tmp = s.path().join("spool/tmp");
    assert!(
        std::fs::read_dir(tmp)
            .map(|mut r| r.next().is_none())
            .unwrap_or(true)
    );
}

#[test]
fn mailq_before_and_after_and_json() {
    let s = Site::new();
    let spool = s.path().join("spool");
    // checked on sendmail 8.17.1.9: an empty queue prints "DIR is empty" and the total.
    let o = s.run(&["mailq"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        stdout(&o),
        format!("{} is empty\n\t\tTotal requests: 0\n", spool.display())
    );
    assert_eq!(s.run(&["sendmail", "-bp", "--json"], "").stdout, b"");
    let o = s.run(
        &[
            "sendmail",
            "-f",
            "root@gw.example.com",
            "u1@x.example",
            "u2@x.example",
        ],
        "Subject: a\n\n12345\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = s.run(&["sendmail", "-bp"], "");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("\t\t{} (1 request)", spool.display()));
    assert_eq!(
        lines[1],
        "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------"
    );
    // id, size of the body ("12345\r\n" = 7), ctime, sender
    assert!(lines[2].contains("        7 "), "{out}");
    assert!(lines[2].ends_with(" <root@gw.example.com>"), "{out}");
    assert_eq!(lines[3], "\t\t\t\t\t <u1@x.example>");
    assert_eq!(lines[4], "\t\t\t\t\t <u2@x.example>");
    assert_eq!(lines[5], "\t\tTotal requests: 1");
    // mxgate mailq = sendmail -bp
    assert_eq!(s.run(&["mailq"], "").stdout, o.stdout);
    let o = s.run(&["mailq", "--json"], "");
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["sender"], "<root@gw.example.com>");
    assert_eq!(v["recipients"][1], "<u2@x.example>");
    assert_eq!(v["state"], "queue");
    assert_eq!(v["size"], 7);
    assert_eq!(v["queue_id"].as_str().unwrap().len(), 15);
}

#[test]
fn dash_bv_reports_routes_like_sendmail() {
    // checked on sendmail 8.17.1.9 with SMART_HOST esmtp:[smarthost.isp.net]:
    // "a@x.example... deliverable: mailer esmtp, host [smarthost.isp.net], user a@x.example",
    // "nosuchuserxyz... User unknown", exit 67.
    let s = Site::new();
    let o = s.run(&["sendmail", "-bv", "alice", "a@x.example"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        stdout(&o),
        "alice... deliverable: mailer local, user alice\n\
         a@x.example... deliverable: mailer esmtp, host [smarthost.isp.net], user a@x.example\n"
    );
    let o = s.run(&["sendmail", "-bv", "nosuchuserxyz", "root"], "");
    assert_eq!(o.status.code(), Some(67), "{}", text(&o));
    // root is an alias for alice: the expansion is verified, as sendmail prints it
    assert_eq!(
        stdout(&o),
        "nosuchuserxyz... User unknown\nalice... deliverable: mailer local, user alice\n"
    );
}

#[test]
fn unavailable_modes_exit_69_with_a_reason() {
    let s = Site::new();
    let o = s.run(&["sendmail", "-ba"], "");
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    assert!(text(&o).contains("not available"), "{}", text(&o));
    let o = s.run(&["sendmail", "-q15x"], "");
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("expected an interval"), "{}", text(&o));
}

fn maildir_count(s: &Site, user: &str) -> usize {
    std::fs::read_dir(s.path().join("mail").join(user).join("Maildir/new"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn q15m_without_bd_says_the_daemon_retries_and_runs_the_queue_once() {
    let s = Site::new();
    let o = s.run(&["sendmail", "-oi", "alice"], "Subject: one\n\nx\n");
    assert!(o.status.success(), "{}", text(&o));
    let o = s.run(&["sendmail", "-q15m"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("-q15m: no queue-runner daemon is started")
            && err.contains("every 900s with `sendmail -bd -q15m`"),
        "{err}"
    );
    assert_eq!(maildir_count(&s, "alice"), 1);
    assert!(s.queued().is_empty());
}

#[test]
fn qf_runs_in_the_foreground_and_shows_each_message() {
    let s = Site::new();
    for who in ["alice", "postmaster"] {
        let o = s.run(&["sendmail", "-oi", who], "Subject: f\n\nx\n");
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = s.run(&["sendmail", "-qf"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    let queue = s.path().join("spool/queue");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("Running {}/", queue.display()))
            && lines[0].ends_with(" (sequence 1 of 2)"),
        "{out}"
    );
    assert!(lines[1].ends_with(" (sequence 2 of 2)"), "{out}");
    // the log lines are copied to stderr (and still written to the log)
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("to=<alice@gw.example.com>") && err.contains("stat=Sent"),
        "{err}"
    );
    let log = std::fs::read_to_string(s.path().join("maillog")).unwrap();
    assert!(log.contains("to=<alice@gw.example.com>"), "{log}");
    assert_eq!(maildir_count(&s, "alice"), 1);
    assert_eq!(maildir_count(&s, "postmaster"), 1);
}

#[test]
fn bh_prints_persistent_host_status_and_bh_purges_expired_entries() {
    let s = Site::new();
    // no host status yet: no output at all, as sendmail
    let o = s.run(&["sendmail", "-bh"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout(&o), "");
    // a run that cannot reach the smart host (its name server answers nothing)
    let o = s.run(&["sendmail", "-oi", "a@x.example"], "Subject: r\n\nx\n");
    assert!(o.status.success(), "{}", text(&o));
    let o = s.run(&["sendmail", "-q"], "");
    assert!(o.status.success(), "{}", text(&o));
    let o = s.run(&["sendmail", "-bh"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        " -------------- Hostname --------------- How long ago ---------Results---------"
    );
    // " %-39s %12s " then the result cut to 25 characters
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(&lines[1][..41], format!(" {:<39} ", "[smarthost.isp.net]"));
    assert!(lines[1][41..53].trim_start().starts_with("00:0"), "{out}");
    assert_eq!(&lines[1][54..], "Deferred: Name server: sm");
    // -v: the whole reason (up to 78 characters)
    let o = s.run(&["sendmail", "-v", "-bh"], "");
    assert!(
        stdout(&o).contains("Deferred: Name server: smarthost.isp.net: host name lookup failure"),
        "{}",
        text(&o)
    );
    // the command names hoststat and purgestat
    let hoststat = s.path().join("hoststat");
    std::os::unix::fs::symlink(BIN, &hoststat).unwrap();
    let via_name = stdout(&s.run_as(&hoststat, &[], ""));
    let row = via_name.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        row.starts_with(&lines[1][..41]) && row.ends_with(&lines[1][54..]),
        "{via_name}"
    );
    let purgestat = s.path().join("purgestat");
    std::os::unix::fs::symlink(BIN, &purgestat).unwrap();
    // a fresh record is not expired (confTO_HOSTSTATUS, 30m)
    let o = s.run_as(&purgestat, &[], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&s.run(&["sendmail", "-bh"], "")).contains("[smarthost.isp.net]"));
    // one last updated two hours ago is
    let rec = s.path().join("spool/.hoststat/[smarthost.isp.net]");
    let t = std::fs::read_to_string(&rec).unwrap();
    let last: u64 = t
        .lines()
        .find_map(|l| l.strip_prefix("last "))
        .unwrap()
        .parse()
        .unwrap();
    std::fs::write(
        &rec,
        t.replace(
            &format!("last {last}\n"),
            &format!("last {}\n", last - 7200),
        ),
    )
    .unwrap();
    assert!(
        stdout(&s.run(&["sendmail", "-bh"], "")).contains(" 02:00:"),
        "aged record"
    );
    let o = s.run(&["sendmail", "-v", "-bH"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).starts_with("purged 1 host status record(s) older than 00:30:00"),
        "{}",
        text(&o)
    );
    assert_eq!(stdout(&s.run(&["sendmail", "-bh"], "")), "");
}

#[test]
fn queue_run_delivers_what_is_selected() {
    let s = Site::new();
    let o = s.run(
        &["sendmail", "-t", "-i"],
        "To: alice\nSubject: one\n\nfirst\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = s.run(
        &["sendmail", "-t", "-i"],
        "To: postmaster\nSubject: two\n\nsecond\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.queued().len(), 2);
    let maildir = |u: &str| s.maildir_count(u);
    // -q! without a selector letter is refused, not read as -q.
    let o = s.run(&["sendmail", "-q!"], "");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("expected -q!I..., -q!S..., -q!R... or -q!Q..."),
        "{}",
        text(&o)
    );
    assert_eq!(s.queued().len(), 2);
    // -q!R takes the messages without such a recipient (sendmail 8.17's
    // negation; it was read as -qR): only postmaster's message goes.
    let o = s.run(&["sendmail", "-q!Ralice@"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(maildir("alice"), 0);
    assert_eq!(maildir("postmaster"), 1);
    assert_eq!(s.queued().len(), 1);
    // -qR selects by recipient: alice's message goes.
    let o = s.run(&["sendmail", "-qRalice@"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(maildir("alice"), 1);
    assert!(s.queued().is_empty(), "queue empty after -qR");
}

#[test]
fn invoked_through_a_symlink_named_sendmail_and_mailq() {
    let s = Site::new();
    let link = s.path().join("sendmail");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let o = s.run_as(&link, &["-t", "-i"], "To: alice\nSubject: via link\n\n.\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let q = s.queued();
    assert_eq!(rcpts(&q[0]), ["<alice@gw.example.com>"]);
    assert!(
        q[0].ends_with("Subject: via link\r\n\r\n.\r\n"),
        "{:?}",
        q[0]
    );
    let mailq = s.path().join("mailq");
    std::os::unix::fs::symlink(BIN, &mailq).unwrap();
    let o = s.run_as(&mailq, &[], "");
    assert!(stdout(&o).contains("(1 request)"), "{}", text(&o));
}

#[test]
fn bs_runs_one_smtp_session_on_standard_input_into_the_queue() {
    let s = Site::new();
    // A program talking SMTP over the pipe (as PHP mailers do with -bs).
    let o = s.run(
        &["sendmail", "-bs"],
        "EHLO app.example\r\nMAIL FROM:<app@gw.example.com>\r\n\
         RCPT TO:<alice@gw.example.com>\r\nRCPT TO:<nosuch@gw.example.com>\r\n\
         RCPT TO:<someone@outside.example>\r\nDATA\r\n\
         Subject: from -bs\r\n\r\nhello over a pipe\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    let replies: Vec<&str> = out.lines().collect();
    assert!(replies[0].starts_with("220 gw.example.com ESMTP"), "{out}");
    // the client is this host; a pipe offers no STARTTLS, AUTH or ETRN
    assert!(
        out.contains("250-gw.example.com Hello localhost [127.0.0.1]"),
        "{out}"
    );
    for absent in ["STARTTLS", "AUTH", "ETRN"] {
        assert!(!out.contains(absent), "{absent} offered: {out}");
    }
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("550 5.1.1 <nosuch@gw.example.com>")),
        "{out}"
    );
    // localhost may relay (sendmail's Relay_ok: 127.0.0.1 originated locally)
    assert!(
        out.contains("250 2.1.5 <someone@outside.example>... Recipient ok"),
        "{out}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("250 2.0.0 ") && r.ends_with("Message accepted for delivery")),
        "{out}"
    );
    assert!(replies.last().unwrap().starts_with("221 2.0.0"), "{out}");
    let q = s.queued();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(
        rcpts(&q[0]),
        vec!["<alice@gw.example.com>", "<someone@outside.example>"]
    );
    assert!(q[0].contains("hello over a pipe"));
    let log = std::fs::read_to_string(s.path().join("maillog")).unwrap();
    assert!(log.contains("relay=localhost [127.0.0.1]"), "{log}");
}

#[test]
fn bs_refuses_an_oversized_message_and_queues_nothing() {
    let s = Site::new();
    let body = "x".repeat(6000);
    let o = s.run(
        &["sendmail", "-bs"],
        &format!(
            "HELO app.example\r\nMAIL FROM:<app@gw.example.com>\r\nRCPT TO:<alice@gw.example.com>\r\n\
             DATA\r\nSubject: big\r\n\r\n{body}\r\n.\r\nQUIT\r\n"
        ),
    );
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|r| r == "552 5.2.3 Message size exceeds fixed maximum message size (5000)"),
        "{out}"
    );
    // HELO greets the client by its name, as EHLO does
    assert!(
        out.contains("250 gw.example.com Hello localhost [127.0.0.1]"),
        "{out}"
    );
    assert!(s.queued().is_empty());
}

#[test]
fn the_daemons_default_size_limit_applies_to_local_submission() {
    // Without confMAX_MESSAGE_SIZE the limit is the daemon's default
    // (10240000), read by the same parser: a local program cannot queue
    // what an SMTP client could not.
    let s = Site::new();
    let mc = std::fs::read_to_string(&s.mc).unwrap();
    let mc = mc.replace("define(`confMAX_MESSAGE_SIZE', `5000')dnl\n", "");
    std::fs::write(&s.mc, mc).unwrap();
    let big = format!("Subject: big\n\n{}\n", "x".repeat(10_240_000));
    let o = s.run(&["sendmail", "alice"], &big);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(
        text(&o).contains("Message is too large; 10240000 bytes max"),
        "{}",
        text(&o)
    );
    assert!(s.queued().is_empty());
    let o = s.run(&["sendmail", "alice"], "Subject: small\n\nx\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(s.queued().len(), 1);
}

/// Cron runs `/usr/sbin/sendmail` in `$HOME`: without a configuration the
/// sendmail names must not queue into `./spool` there (where no daemon
/// reads) and exit 0; they refuse, as sendmail does without its .cf.
#[test]
fn sendmail_names_without_a_configuration_refuse_instead_of_queueing_in_the_callers_directory() {
    assert!(
        !Path::new("/etc/mail/mxgate.cf").exists(),
        "this test needs a machine without /etc/mail/mxgate.cf"
    );
    let bin = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    for name in ["sendmail", "mailq"] {
        std::os::unix::fs::symlink(BIN, bin.path().join(name)).unwrap();
    }
    let mut child = Command::new(bin.path().join("sendmail"))
        .args(["-oi", "root"])
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The refusal may come before the message is read: a broken pipe here
    // is the expected outcome, not a failure of the test.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: cron\n\nfrom cron\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no configuration"), "{err}");
    let mailq = Command::new(bin.path().join("mailq"))
        .current_dir(home.path())
        .output()
        .unwrap();
    assert_eq!(mailq.status.code(), Some(78), "{mailq:?}");
    assert!(
        !home.path().join("spool").exists(),
        "a spool was created in the caller's directory"
    );
    // `mxgate sendmail` (the subcommand) keeps the embedded default for the
    // README's demo: it queues under the working directory.
    let mut child = Command::new(BIN)
        .args(["sendmail", "-oi", "root"])
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: demo\n\ndemo\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(home.path().join("spool/queue").is_dir());
}

mod support;

/// `sendmail -bd -q7m`: the daemon with a queue interval, as sendmail's
/// `-bd -q15m` (over the .mc's `confMXGATE_QUEUE_INTERVAL`); a host backed
/// off before the start is still backed off (persistent host status).
#[test]
fn bd_with_q_interval_sets_the_daemons_queue_runner() {
    let mut d = support::Daemon::prepare(support::Setup {
        mc: "",
        tables: &[],
        tls: false,
    });
    let hs = d.path().join("spool/.hoststat");
    std::fs::create_dir_all(&hs).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        hs.join("mx.example.org"),
        format!(
            "MXGATE-HOSTSTAT 1\nhost mx.example.org\nlast {now}\nuntil {}\nfails 3\nstate unreachable\ntext Connection refused by mx.example.org.\n",
            now + 600
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["sendmail", "-bd", "-q7m", "-C"])
        .arg(&d.mc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    d.child = Some(child);
    assert!(
        d.wait_log("full rescan every 420s", std::time::Duration::from_secs(20)),
        "{}",
        d.maillog()
    );
    assert!(
        d.maillog()
            .contains("1 host(s) still backed off from before the restart"),
        "{}",
        d.maillog()
    );
}

/// One reading of every option (src/settings.rs): a value of mxgate's
/// own options (which the `.mc` compiler does not check, unlike sendmail's
/// `confTO_*`) that does not read is refused the same way by a
/// submission, `mailq`, a queue run and `-bv`, with the option's name,
/// what was expected and what was found. Before, a bad
/// `confMXGATE_QUEUE_INTERVAL` turned the daemon's queue runner off
/// without a word and every front end below accepted it.
#[test]
fn a_bad_option_value_is_refused_by_every_front_end_alike() {
    let s = Site::new();
    let mc = std::fs::read_to_string(&s.mc).unwrap();
    for (define, want) in [
        (
            "define(`confMXGATE_QUEUE_INTERVAL', `often')dnl",
            "confMXGATE_QUEUE_INTERVAL: expected a duration such as 5m, found \"often\"",
        ),
        (
            "define(`confMXGATE_ALLOW_PROGRAMS', `maybe')dnl",
            "confMXGATE_ALLOW_PROGRAMS: expected True or False, found \"maybe\"",
        ),
    ] {
        std::fs::write(
            &s.mc,
            mc.replace("MAILER(`local')", &format!("{define}\nMAILER(`local')")),
        )
        .unwrap();
        let msg = "To: alice@gw.example.com\nSubject: x\n\nbody\n";
        for args in [
            &["sendmail", "-t"][..],
            &["mailq"][..],
            &["sendmail", "-q"][..],
            &["sendmail", "-bv", "alice@gw.example.com"][..],
        ] {
            let out = s.run(args, msg);
            assert!(
                !out.status.success(),
                "{args:?} accepted it: {}",
                text(&out)
            );
            assert!(text(&out).contains(want), "{args:?}: {}", text(&out));
        }
        assert!(s.queued().is_empty(), "nothing was queued");
    }
}

/// `-N` is read as RCPT reads `NOTIFY=`, into the typed set kept with the
/// recipient: a value that is not one is a usage error and nothing is
/// queued; a good one is written to the envelope as RFC 3461 spells it.
#[test]
fn dash_n_is_checked_and_kept_with_each_recipient() {
    let s = Site::new();
    let msg = "Subject: n\n\nbody\n";
    let out = s.run(&["sendmail", "-N", "bogus", "alice@gw.example.com"], msg);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(text(&out).contains("Invalid -N argument"), "{}", text(&out));
    assert!(s.queued().is_empty());
    let out = s.run(
        &[
            "sendmail",
            "-odq",
            "-N",
            "delay,success",
            "alice@gw.example.com",
        ],
        msg,
    );
    assert!(out.status.success(), "{}", text(&out));
    let q = s.queued();
    assert_eq!(q.len(), 1);
    assert!(
        q[0].contains("rcpt <alice@gw.example.com> SUCCESS,DELAY -\n"),
        "{}",
        q[0]
    );
}

/// `mailq -q...` and `sendmail -bp -q...` list what sendmail's mailq lists
/// with the same selections (they were read and ignored: every message was
/// listed); `-qQ` lists the quarantined messages instead of the others;
/// selections of one letter are alternatives, of different letters all
/// hold; a queue run cannot take quarantined mail.
#[test]
fn mailq_selections_and_quarantined_messages() {
    let s = Site::new();
    for (to, subject) in [("alice", "one"), ("postmaster", "two"), ("bob", "three")] {
        let o = s.run(
            &["sendmail", "-t", "-i"],
            &format!("To: {to}\nSubject: {subject}\n\nbody\n"),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    // Quarantine bob's message as a filter would: the reason in the
    // envelope, the file in quarantine/.
    let qdir = s.path().join("spool/queue");
    let bob = std::fs::read_dir(&qdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains("rcpt <bob@"))
        .unwrap();
    let text_of = std::fs::read_to_string(&bob).unwrap();
    let quarantined = text_of.replacen(
        "\nrcpt ",
        "\nfact quarantine suspicious%20attachment\nrcpt ",
        1,
    );
    let qid = bob.file_name().unwrap().to_owned();
    std::fs::create_dir_all(s.path().join("spool/quarantine")).unwrap();
    std::fs::write(s.path().join("spool/quarantine").join(&qid), quarantined).unwrap();
    std::fs::remove_file(&bob).unwrap();
    let list = |args: &[&str]| {
        let o = s.run(args, "");
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        stdout(&o)
    };
    let all = list(&["mailq"]);
    assert!(all.contains("Total requests: 3"), "{all}");
    let r = list(&["mailq", "-qRalice@"]);
    assert!(
        r.contains("Total requests: 1") && r.contains("<alice@"),
        "{r}"
    );
    // The same from sendmail -bp, the selection after -bp (it was taken
    // for a queue run).
    let r = list(&["sendmail", "-bp", "-qRalice@"]);
    assert!(
        r.contains("Total requests: 1") && r.contains("<alice@"),
        "{r}"
    );
    // One letter twice: either; two letters: both.
    let r = list(&["mailq", "-qRalice@", "-qRpostmaster@"]);
    assert!(r.contains("Total requests: 2"), "{r}");
    let r = list(&["mailq", "-qRalice@", "-qSnobody-such"]);
    assert!(
        r.contains("Total requests: 0") || r.contains("is empty"),
        "{r}"
    );
    let r = list(&["mailq", "-q!Ralice@"]);
    assert!(
        r.contains("Total requests: 1") && r.contains("<postmaster@"),
        "{r}"
    );
    // -qQ: the quarantined message only, by reason.
    let r = list(&["mailq", "-qQ"]);
    assert!(
        r.contains("Total requests: 1") && r.contains("QUARANTINE: suspicious attachment"),
        "{r}"
    );
    assert!(list(&["mailq", "-qQattach"]).contains("Total requests: 1"));
    let r = list(&["mailq", "-qQvirus"]);
    assert!(
        r.contains("Total requests: 0") || r.contains("is empty"),
        "{r}"
    );
    // Refused, not ignored: -qL (no lost items here), an interval, and a
    // queue run over quarantined mail (pointing at the release).
    for (args, says) in [
        (&["mailq", "-qL"][..], "keeps no \"lost\" queue items"),
        (&["mailq", "-q15m"][..], "expected a selection"),
        (&["sendmail", "-qQ"][..], "mxgate queue release --id ID"),
    ] {
        let o = s.run(args, "");
        assert_eq!(o.status.code(), Some(64), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
    assert!(s.path().join("spool/quarantine").join(&qid).exists());
}

/// sendmail 8.17's `-Qreason`: the selected queued messages go to
/// quarantine with the reason (they were delivered instead: `-Q` was
/// dropped and `-qI...` ran the queue), and `-Q -qQ...` releases them.
#[test]
fn dash_q_capital_quarantines_and_releases() {
    let s = Site::new();
    for (to, subject) in [("alice", "one"), ("postmaster", "two")] {
        let o = s.run(
            &["sendmail", "-t", "-i"],
            &format!("To: {to}\nSubject: {subject}\n\nbody\n"),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let maildir = |u: &str| s.maildir_count(u);
    // Without a selection it would take the whole queue: refused.
    let o = s.run(&["sendmail", "-Qsuspect"], "");
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(
        text(&o).contains("name the messages with -qI, -qR or -qS"),
        "{}",
        text(&o)
    );
    let o = s.run(&["sendmail", "-Qsuspected spam", "-qRalice@"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("1 message(s) quarantined"),
        "{}",
        text(&o)
    );
    assert_eq!(s.queued().len(), 1);
    let o = s.run(&["mailq", "-qQspam"], "");
    assert!(
        stdout(&o).contains("QUARANTINE: suspected spam") && stdout(&o).contains("<alice@"),
        "{}",
        text(&o)
    );
    // A queue run leaves it alone.
    let o = s.run(&["sendmail", "-q"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!((maildir("alice"), maildir("postmaster")), (0, 1));
    // Released (no reason, the quarantined ones selected), then delivered.
    let o = s.run(&["sendmail", "-Q", "-qQspam"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 message(s) released"), "{}", text(&o));
    assert_eq!(s.queued().len(), 1);
    let o = s.run(&["sendmail", "-qRalice@"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(maildir("alice"), 1);
}
