//! Filesystem trust (issue "Safe on the Internet edge", filesystem part):
//! the daemon started as root never follows a symlink in its spool, never
//! trusts an `:include:` file owned by someone else, never follows a
//! symlink on the way to a Maildir, and `mxgate check` says what is unsafe.
//! Every test runs the real binary as root (as CI does) in a temp dir.

mod support;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn must_be_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "these tests check what a root daemon does: run them as root (CI does)"
    );
}

fn nobody() -> nix::unistd::User {
    nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody (Debian package base-passwd)")
}

/// A daemon set up to drop to `nobody`, its temp dir reachable by nobody.
fn prepare_nobody(extra: &str) -> Daemon {
    let mc = format!("define(`confRUN_AS_USER', `nobody')dnl\n{extra}");
    let d = Daemon::prepare(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[],
        tls: false,
    });
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Start the daemon expecting it to refuse; its stderr.
fn start_refused(d: &mut Daemon) -> String {
    let child = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&d.mc)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    d.child = Some(child);
    let st = d.wait_exit(Duration::from_secs(20));
    let err = d.stderr();
    assert!(
        st.is_some_and(|s| !s.success()),
        "daemon should refuse to start ({st:?}): {err}"
    );
    err
}

/// A root-owned directory with one file in it, mode 0700.
fn root_target(dir: &Path) -> std::path::PathBuf {
    let t = dir.join("root-only");
    std::fs::create_dir(&t).unwrap();
    std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(t.join("secret"), "root's file\n").unwrap();
    t
}

fn assert_untouched(t: &Path) {
    let m = std::fs::metadata(t).unwrap();
    assert_eq!(m.uid(), 0, "{} was handed to another user", t.display());
    assert_eq!(m.mode() & 0o7777, 0o700);
    assert_eq!(
        std::fs::read_to_string(t.join("secret")).unwrap(),
        "root's file\n"
    );
    assert_eq!(std::fs::metadata(t.join("secret")).unwrap().uid(), 0);
}

fn spool_with_link(d: &Daemon, link: &str) -> std::path::PathBuf {
    let spool = d.path().join("spool");
    for s in ["tmp", "queue", "hold", "quarantine"] {
        if s != link {
            std::fs::create_dir_all(spool.join(s)).unwrap();
        }
    }
    let t = root_target(d.path());
    symlink(&t, spool.join(link)).unwrap();
    t
}

#[test]
fn spool_hold_symlink_refuses_start_and_target_keeps_its_owner() {
    must_be_root();
    let mut d = prepare_nobody("");
    let t = spool_with_link(&d, "hold");
    let err = start_refused(&mut d);
    let hold = d.path().join("spool/hold");
    assert!(
        err.contains(&format!("{}: is a symbolic link", hold.display())),
        "{err}"
    );
    assert_untouched(&t);
}

#[test]
fn spool_tmp_symlink_refuses_start_and_nothing_is_removed() {
    must_be_root();
    let mut d = prepare_nobody("");
    let t = spool_with_link(&d, "tmp");
    let err = start_refused(&mut d);
    let tmp = d.path().join("spool/tmp");
    assert!(
        err.contains(&format!("{}: is a symbolic link", tmp.display())),
        "{err}"
    );
    assert_untouched(&t);
}

#[test]
fn spool_dir_owned_by_another_user_refuses_start() {
    must_be_root();
    let mut d = prepare_nobody("");
    let spool = d.path().join("spool");
    for s in ["tmp", "queue", "hold", "quarantine"] {
        std::fs::create_dir_all(spool.join(s)).unwrap();
    }
    // daemon (uid 1) is neither root nor the run-as user nobody.
    nix::unistd::chown(
        &spool.join("queue"),
        Some(nix::unistd::Uid::from_raw(1)),
        None,
    )
    .unwrap();
    let err = start_refused(&mut d);
    assert!(
        err.contains(&format!("{}: is owned by", spool.join("queue").display())),
        "{err}"
    );
}

#[test]
fn run_as_user_that_does_not_exist_refuses_start() {
    must_be_root();
    let mut d = Daemon::prepare(Setup {
        mc: "define(`confRUN_AS_USER', `mxgate-no-such-user')dnl\n",
        tables: &[],
        tls: false,
    });
    let err = start_refused(&mut d);
    assert!(
        err.contains("no user \"mxgate-no-such-user\"") && err.contains("refusing to run as root"),
        "{err}"
    );
}

#[test]
fn a_good_spool_still_starts_and_is_handed_to_the_run_as_user() {
    must_be_root();
    let mut d = prepare_nobody("");
    d.spawn();
    // The listener answers as soon as it is bound; the spool is handed
    // over just after, before the privilege drop: wait for that (bounded).
    let hold = d.path().join("spool/hold");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut uid = std::fs::metadata(&hold).unwrap().uid();
    while uid != nobody().uid.as_raw() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        uid = std::fs::metadata(&hold).unwrap().uid();
    }
    assert_eq!(uid, nobody().uid.as_raw(), "{}", d.stderr());
}

#[test]
fn running_as_root_is_warned_about() {
    must_be_root();
    let mut d = Daemon::prepare(Setup {
        mc: "",
        tables: &[],
        tls: false,
    });
    d.spawn();
    assert!(
        d.wait_log("WARNING: running as root", Duration::from_secs(10)),
        "{}{}",
        d.stderr(),
        d.maillog()
    );
}

/// A root daemon delivering locally into `X/mail/%u/Maildir`, with an alias
/// file (text given, `@X@` = the temp dir) built by newaliases.
struct Local {
    x: tempfile::TempDir,
    d: Daemon,
}

fn local_site(aliases: &str, extra: &str, before: impl FnOnce(&Path)) -> Local {
    let x = tempfile::tempdir().unwrap();
    let xp = x.path().display().to_string();
    std::fs::set_permissions(x.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(x.path().join("mail")).unwrap();
    std::fs::write(x.path().join("aliases"), aliases.replace("@X@", &xp)).unwrap();
    let out = Command::new(BIN)
        .arg("newaliases")
        .arg(x.path().join("aliases"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    before(x.path());
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`ALIAS_FILE', `{xp}/aliases')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_MAILDIR', `{xp}/mail/%u/Maildir')dnl\n{extra}"
    );
    let mut d = Daemon::prepare(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", "alice OK\npostmaster OK\nsender OK\n")],
        tls: false,
    });
    d.spawn();
    Local { x, d }
}

fn send(port: u16, to: &str) {
    let mut c = Raw::connect(port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<sender@example.com>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: t\r\n\r\nbody\r\n");
    let r = c.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    c.cmd("QUIT");
}

fn wait_log(d: &Daemon, text: &str) -> String {
    assert!(
        d.wait_log(text, Duration::from_secs(30)),
        "no {text:?} in the log:\n{}\n{}",
        d.maillog(),
        d.stderr()
    );
    d.maillog()
}

#[test]
fn maildir_path_through_a_symlink_is_deferred_and_nothing_created() {
    must_be_root();
    let mut target = std::path::PathBuf::new();
    let s = local_site("", "", |x| {
        target = root_target(x);
        // "alice" replaced /var/mail/alice by a symlink to a root-only directory.
        symlink(&target, x.join("mail/alice")).unwrap();
    });
    send(s.d.mta, "alice@example.com");
    let log = wait_log(&s.d, "stat=Deferred");
    let link = s.x.path().join("mail/alice");
    assert!(
        log.contains(&format!("{}: is a symbolic link", link.display())),
        "{log}"
    );
    assert!(log.contains("dsn=4.3.0"), "{log}");
    assert_untouched(&target);
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        1,
        "only root's file"
    );
    assert_eq!(s.d.queued("queue").len(), 1, "the message stays queued");
}

#[test]
fn include_owned_by_nobody_cannot_run_a_program_as_root() {
    must_be_root();
    let s = local_site(
        "list: :include:@X@/list\n",
        "define(`confMXGATE_ALLOW_PROGRAMS', `True')dnl\n",
        |x| {
            let list = x.join("list");
            std::fs::write(&list, format!("alice\n|/bin/touch {}/ran\n", x.display())).unwrap();
            nix::unistd::chown(&list, Some(nobody().uid), None).unwrap();
        },
    );
    send(s.d.mta, "list@example.com");
    let log = wait_log(&s.d, "program delivery not allowed");
    let list = s.x.path().join("list");
    assert!(
        log.contains(&format!(
            "line 2 of {}: program delivery not allowed from an include file owned by nobody",
            list.display()
        )),
        "{log}"
    );
    // alice (an address) still gets it; the program never ran.
    wait_log(&s.d, "to=<alice>");
    let ran = s.x.path().join("ran");
    assert!(
        !ran.exists(),
        "the program ran (owner {:?})",
        std::fs::metadata(&ran).map(|m| m.uid())
    );
    assert!(!log.contains("/bin/touch"), "{log}");
}

#[test]
fn include_of_a_root_only_file_never_shows_its_content() {
    must_be_root();
    let s = local_site("leak: :include:@X@/shadow\n", "", |x| {
        let f = x.join("shadow");
        std::fs::write(&f, "root:$y$s3cr3tHASH:19000:0:99999:7:::\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    });
    send(s.d.mta, "leak@example.com");
    let file = s.x.path().join("shadow");
    let log = wait_log(
        &s.d,
        &format!("line 1 of {}: not a valid address", file.display()),
    );
    // The bounce to the (local) sender: wait for it, then look inside.
    let new = s.x.path().join("mail/sender/Maildir/new");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let bounce = loop {
        if let Some(e) = std::fs::read_dir(&new).ok().and_then(|mut d| d.next()) {
            break std::fs::read_to_string(e.unwrap().path()).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no bounce:\n{}",
            s.d.maillog()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(bounce.contains("not a valid address"), "{bounce}");
    let log = s.d.maillog() + &log + &s.d.stderr();
    for text in [&bounce, &log] {
        assert!(
            !text.contains("s3cr3t") && !text.contains("19000"),
            "content leaked:\n{text}"
        );
    }
}

#[test]
fn world_writable_include_file_is_refused_and_the_message_kept() {
    must_be_root();
    let s = local_site("list: :include:@X@/list\n", "", |x| {
        let list = x.join("list");
        std::fs::write(&list, "alice\n").unwrap();
        std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o666)).unwrap();
    });
    send(s.d.mta, "list@example.com");
    let log = wait_log(&s.d, "stat=Deferred");
    assert!(
        log.contains("is writable by its group and writable by others"),
        "{log}"
    );
    assert!(!s.x.path().join("mail/alice").exists());
    assert_eq!(s.d.queued("queue").len(), 1);
}

#[test]
fn check_reports_unsafe_spool_password_table_and_include_and_passes_a_good_setup() {
    must_be_root();
    let d = Daemon::prepare(Setup {
        mc: "define(`confRUN_AS_USER', `nobody')dnl\n\
             define(`confAUTH_PASSWORD_MAP', `lmdb @DIR@/passwd')dnl\n\
             define(`ALIAS_FILE', `@DIR@/aliases')dnl\n",
        tables: &[("passwd", "bob {PLAIN}bobsecret\n")],
        tls: false,
    });
    let p = d.path();
    let list = p.join("lists/staff");
    std::fs::create_dir(p.join("lists")).unwrap();
    std::fs::write(&list, "alice\n").unwrap();
    std::fs::write(
        p.join("aliases"),
        format!("staff: :include:{}\n", list.display()),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["newaliases"])
        .arg(p.join("aliases"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for s in ["tmp", "queue", "hold", "quarantine"] {
        std::fs::create_dir_all(p.join("spool").join(s)).unwrap();
    }
    let mode =
        |f: &Path, m: u32| std::fs::set_permissions(f, std::fs::Permissions::from_mode(m)).unwrap();
    mode(&p.join("passwd"), 0o640);
    mode(&p.join("passwd.lmdb"), 0o640);
    let (ok, text) = d.check();
    assert!(ok, "a good setup: {text}");
    assert!(text.contains("\nok: "), "{text}");
    assert!(!text.contains("unsafe:"), "{text}");

    // 1. a world-writable spool directory
    mode(&p.join("spool/hold"), 0o777);
    let (ok, text) = d.check();
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "unsafe: {}: is writable by its group and writable by others (mode 0777); chmod go-w it",
            p.join("spool/hold").display()
        )),
        "{text}"
    );
    mode(&p.join("spool/hold"), 0o755);

    // 2. a world-readable password table
    mode(&p.join("passwd.lmdb"), 0o644);
    let (ok, text) = d.check();
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "unsafe: {}: is readable by others (mode 0644); chmod o-r it",
            p.join("passwd.lmdb").display()
        )),
        "{text}"
    );
    mode(&p.join("passwd.lmdb"), 0o640);

    // 3. an include file owned by another user
    nix::unistd::chown(&list, Some(nix::unistd::Uid::from_raw(1)), None).unwrap();
    let (ok, text) = d.check();
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "unsafe: {}: is an :include: file owned by",
            list.display()
        )),
        "{text}"
    );
    assert_eq!(
        text.matches("unsafe: ").count(),
        1,
        "exactly one problem: {text}"
    );
    nix::unistd::chown(&list, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();

    // 4. a world-writable submission socket directory (the daemon would
    //    refuse to start); a spool others may read is only a warning
    assert!(
        text.contains(&format!(
            "warning: {}: readable by other users",
            p.join("spool").display()
        )),
        "{text}"
    );
    std::fs::create_dir(p.join("spool-public")).unwrap();
    mode(&p.join("spool-public"), 0o777);
    let (ok, text) = d.check();
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "unsafe: {}: is writable by its group and writable by others",
            p.join("spool-public").display()
        )),
        "{text}"
    );
    let o = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&d.mc)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(71), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unsafe submission socket directory"),
        "{o:?}"
    );
}

#[test]
fn shipped_configurations_run_as_mxgate_unless_overridden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for mc in [
        "cf/gateway/gateway.mc",
        "cf/dist-in/distribution.mc",
        "cf/mbox/mailserver.mc",
    ] {
        let path = root.join(mc);
        let compile = |extra: &[&str]| {
            let out = Command::new(BIN)
                .arg("compile")
                .arg("-D")
                .arg(format!("CFDIR={}", path.parent().unwrap().display()))
                .args(extra)
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{mc}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(
            compile(&[]).contains("confRUN_AS_USER = \"mxgate\""),
            "{mc} must drop to mxgate"
        );
        assert!(
            !compile(&["-D", "confRUN_AS_USER=nobody"]).contains("\"mxgate\""),
            "{mc}: -D confRUN_AS_USER must override"
        );
    }
}

#[test]
fn log_file_that_is_a_symlink_is_not_appended_to_as_root() {
    must_be_root();
    let mut d = prepare_nobody("");
    let t = root_target(d.path());
    symlink(t.join("secret"), d.path().join("maillog")).unwrap();
    let err = start_refused(&mut d);
    assert!(
        err.contains(&d.path().join("maillog").display().to_string()),
        "{err}"
    );
    assert_untouched(&t);
}
