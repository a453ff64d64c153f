//! Issue 17: the Debian package installed into a disposable copy of this
//! very system, the way an administrator installs it — never the host.
//!
//! A new mount namespace (`unshare -m`) holds an overlayfs with lower `/`
//! and a tmpfs upper, with /proc, /dev and /sys bound in; every step runs
//! `chroot` there through `nsenter`. In it: `dpkg -i` (sendmail's packages,
//! which conflict as mail-transport-agent, removed first — inside the
//! overlay), the user, spool, names, man pages, unit and conffile checked;
//! the daemon started as the unit's ExecStart says (there is no systemd as
//! PID 1 here; `policy-rc.d` keeps maintainer scripts from starting it);
//! mail sent with swaks to a real second mxgate (the destination, on the
//! host); then, with the destination down, messages queued, the package
//! upgraded to a bumped version (`dpkg-deb` rebuild of the same files),
//! and every queued message shown still there and then delivered; last
//! `dpkg -r` keeps the queue and `dpkg -P` deletes it and the user.
//!
//! Root only. The package is built with tools/deb.sh (reusing
//! CARGO_TARGET_DIR), or taken from MXGATE_DEB when set.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{Daemon, Setup, free_port};

/// The disposable system: a mount namespace kept alive by a sleeping process.
struct Scratch {
    holder: Child,
    dir: PathBuf,
    root: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("mxgate-package-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join("root");
        let script = format!(
            "set -e\n\
             d={d}\n\
             mount -t tmpfs -o mode=0755 tmpfs \"$d\"\n\
             mkdir -p \"$d/upper\" \"$d/work\" \"$d/root\"\n\
             mount -t overlay overlay -o lowerdir=/,upperdir=\"$d/upper\",workdir=\"$d/work\" \"$d/root\"\n\
             mount -t proc proc \"$d/root/proc\"\n\
             mount --rbind /dev \"$d/root/dev\"\n\
             mount --rbind /sys \"$d/root/sys\"\n\
             mount -t tmpfs tmpfs \"$d/root/run\"\n\
             mount -t tmpfs tmpfs \"$d/root/tmp\"\n\
             touch \"$d/root/.mxgate-scratch\"\n\
             exec sleep 3600\n",
            d = dir.display()
        );
        let holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (apt-get install util-linux)");
        let s = Scratch { holder, dir, root };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !s.sh("test -e /.mxgate-scratch").status.success() {
            assert!(Instant::now() < deadline, "the overlay did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// nsenter into the namespace, chroot into the overlay.
    fn command(&self, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .arg("chroot")
            .arg(&self.root)
            .arg(prog)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    /// `sh -c CMD` in the overlay.
    fn sh(&self, cmd: &str) -> Output {
        self.command("sh").args(["-c", cmd]).output().unwrap()
    }

    /// `sh -c CMD` that must succeed; its standard output.
    fn ok(&self, cmd: &str) -> String {
        let o = self.sh(cmd);
        assert!(
            o.status.success(),
            "in the overlay: {cmd}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Copy a host file into the overlay (through the namespace's view).
    fn put(&self, host: &Path, inside: &str) {
        let data = std::fs::read(host).unwrap();
        let mut c = self
            .command("sh")
            .args(["-c", &format!("cat > {inside}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(&data).unwrap();
        assert!(c.wait().unwrap().success(), "copy to {inside}");
    }

    /// The daemon exactly as the unit's ExecStart runs it.
    fn start_daemon(&self, exec_start: &str, port: u16) -> Child {
        let mut words = exec_start.split_whitespace();
        let prog = words.next().unwrap();
        let child = self
            .command(prog)
            .args(words)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the installed daemon did not listen on {port}: {}",
                self.sh("tail -20 /var/log/mxgate/mail.log")
                    .stdout
                    .escape_ascii()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    /// Messages in the installed daemon's queue (`mailq --json`, one per line).
    fn queued(&self) -> usize {
        self.ok("mailq --json")
            .lines()
            .filter(|l| l.contains("\"queue_id\""))
            .count()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SIGTERM and wait, as `systemctl stop` does.
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            assert!(st.success(), "the daemon exited with {st}");
            return;
        }
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn need(tool: &str, package: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "{tool} is missing: apt-get install {package}");
}

/// The .deb: MXGATE_DEB, or built now with tools/deb.sh.
fn package(out: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os("MXGATE_DEB") {
        return PathBuf::from(p);
    }
    let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/deb.sh"))
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tools/deb.sh: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    PathBuf::from(
        text.lines()
            .find(|l| l.contains("/mxgate_") && l.ends_with(".deb"))
            .expect("a mxgate_*.deb"),
    )
}

/// Wait (bounded) until `cond` holds; on timeout the installed daemon's log.
fn wait_for(s: &Scratch, what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; /var/log/mxgate/mail.log:\n{}",
            String::from_utf8_lossy(&s.sh("tail -30 /var/log/mxgate/mail.log").stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn swaks(port: u16, to: &str, subject: &str) {
    let o = support::swaks(&[
        "--server",
        &format!("127.0.0.1:{port}"),
        "--from",
        "sender@example.org",
        "--to",
        to,
        "--header",
        &format!("Subject: {subject}"),
    ]);
    assert!(
        o.status.success(),
        "swaks: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn issue_17_install_send_upgrade_with_a_queue_remove_purge() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    assert_eq!(
        uid, b"0\n",
        "tests/package.rs must run as root (mount namespace, overlayfs, dpkg in a chroot)"
    );
    need("unshare", "util-linux");
    need("nsenter", "util-linux");
    need("swaks", "swaks");
    need("dpkg-deb", "dpkg");
    need("dpkg-buildpackage", "dpkg-dev");
    need("dh", "debhelper");

    need("lintian", "lintian");
    let work = tempfile::tempdir().unwrap();
    let deb = package(work.path());

    // Debian's lintian: no error and no warning (overrides carry a reason).
    let lint = Command::new("lintian")
        .args(["--pedantic", "--fail-on", "error,warning"])
        .arg(&deb)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint.status.success()
            && !said
                .lines()
                .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "lintian {}: {said}{}",
        deb.display(),
        String::from_utf8_lossy(&lint.stderr)
    );

    // The destination: a real mxgate delivering dest.test to Maildirs.
    let maildirs = tempfile::tempdir().unwrap();
    let dest_mc = format!(
        "LOCAL_DOMAIN(`dest.test')dnl\n\
         define(`confMXGATE_MAILDIR', `{}/%u/Maildir')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n",
        maildirs.path().display()
    );
    let mut dest = Daemon::start(Setup {
        mc: Box::leak(dest_mc.into_boxed_str()),
        tables: &[],
        tls: false,
    });
    let dest_log = |d: &Daemon| d.maillog();
    let delivered = || {
        std::fs::read_dir(maildirs.path().join("root/Maildir/new"))
            .map(|d| d.count())
            .unwrap_or(0)
    };

    // A bumped version of the same package: the upgrade.
    let unpacked = work.path().join("unpacked");
    assert!(
        Command::new("dpkg-deb")
            .arg("-R")
            .arg(&deb)
            .arg(&unpacked)
            .status()
            .unwrap()
            .success()
    );
    let control = unpacked.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_string();
    std::fs::write(
        &control,
        text.replace(
            &format!("Version: {version}"),
            &format!("Version: {version}+upgrade1"),
        ),
    )
    .unwrap();
    let deb2 = work.path().join("mxgate_upgrade.deb");
    let built = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&unpacked)
        .arg(&deb2)
        .output()
        .unwrap();
    assert!(built.status.success(), "dpkg-deb -b: {built:?}");

    let s = Scratch::new();
    s.put(&deb, "/tmp/mxgate.deb");
    s.put(&deb2, "/tmp/mxgate2.deb");
    // Nothing a maintainer script does may start a service in here.
    s.ok("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d");
    // sendmail is this machine's MTA; in the overlay it makes way.
    s.ok("for p in sendmail sendmail-bin; do \
          if dpkg -s $p >/dev/null 2>&1; then dpkg -r --force-depends $p >/dev/null; fi; done");

    // Install.
    s.ok("dpkg -i /tmp/mxgate.deb");
    assert!(
        s.ok("dpkg -s mxgate")
            .contains("Status: install ok installed")
    );
    assert!(s.ok("getent passwd mxgate").contains("/usr/sbin/nologin"));
    for d in ["", "/queue", "/tmp", "/hold", "/quarantine", "/status"] {
        assert_eq!(
            s.ok(&format!("stat -c '%U:%G %a %F' /var/spool/mxgate{d}"))
                .trim(),
            "mxgate:mxgate 750 directory",
            "/var/spool/mxgate{d}"
        );
    }
    for name in [
        "/usr/sbin/sendmail",
        "/usr/lib/sendmail",
        "/usr/bin/mailq",
        "/usr/bin/newaliases",
        "/usr/sbin/makemap",
        "/usr/sbin/praliases",
        "/usr/bin/hoststat",
        "/usr/bin/purgestat",
    ] {
        assert_eq!(
            s.ok(&format!("readlink -f {name}")).trim(),
            "/usr/sbin/mxgate"
        );
    }
    assert!(
        s.ok("dpkg-query -W -f='${Conffiles}' mxgate")
            .contains("/etc/mail/mxgate.mc")
    );
    assert!(s.ok("man -w makemap").contains("makemap.8"));
    assert!(s.ok("man -w 5 mxgate.mc").contains("mxgate.mc.5"));
    assert!(
        s.ok("dpkg -L mxgate")
            .contains("/usr/lib/systemd/system/mxgate.service")
            || s.ok("dpkg -L mxgate")
                .contains("/lib/systemd/system/mxgate.service")
    );
    let unit = s.ok("cat /lib/systemd/system/mxgate.service 2>/dev/null || cat /usr/lib/systemd/system/mxgate.service");
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=")
        .to_string();
    // The package's own sendmail names a fresh install's mail system.
    assert!(s.ok("sendmail --help").contains("Usage: sendmail"));

    // The site's edit of the conffile: a free loopback port, dest.test relayed
    // to the destination daemon, no DNS (so senders' domains are not looked up).
    let port = free_port();
    s.ok(&format!(
        "sed -i 's/Port=smtp, Addr=127.0.0.1/Port={port}, Addr=127.0.0.1/' /etc/mail/mxgate.mc && \
         cat >> /etc/mail/mxgate.mc <<'EOF'\n\
         RELAY_DOMAIN(`dest.test')dnl\n\
         define(`SMART_HOST', `smtp:[127.0.0.1]')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {dport}')dnl\n\
         define(`confMXGATE_NAMESERVERS', `127.0.0.1:9')dnl\n\
         FEATURE(`accept_unresolvable_domains')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         EOF\n\
         grep -v '^MAILER' /etc/mail/mxgate.mc > /tmp/mc && \
         printf 'MAILER(`local'\"'\"')dnl\\nMAILER(`smtp'\"'\"')dnl\\n' >> /tmp/mc && \
         cat /tmp/mc > /etc/mail/mxgate.mc",
        dport = dest.mta
    ));
    s.ok("mxgate compile /etc/mail/mxgate.mc > /dev/null");

    // Start as the unit says; mail goes through.
    let daemon = s.start_daemon(&exec_start, port);
    assert!(
        s.ok(&format!("ps -o user= -p {}", daemon.id())).trim() == "mxgate",
        "the daemon runs as mxgate after binding"
    );
    swaks(port, "root@dest.test", "before the upgrade");
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered() != 1 {
        assert!(
            Instant::now() < deadline,
            "the first message did not reach the destination: {}",
            dest_log(&dest)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The destination goes down; three messages wait in the queue.
    dest.kill9();
    for i in 1..=3 {
        swaks(port, "root@dest.test", &format!("queued {i}"));
    }
    wait_for(
        &s,
        "three messages deferred",
        Duration::from_secs(60),
        || s.queued() == 3,
    );
    let before = s.ok("ls /var/spool/mxgate/queue | sort");

    // The upgrade: systemd stops the service, dpkg replaces the files,
    // systemd starts it again.
    stop(daemon);
    s.ok("dpkg -i /tmp/mxgate2.deb");
    assert!(
        s.ok("dpkg -s mxgate")
            .contains(&format!("Version: {version}+upgrade1"))
    );
    assert_eq!(s.queued(), 3, "no queued message lost in the upgrade");
    assert_eq!(s.ok("ls /var/spool/mxgate/queue | sort"), before);
    assert!(
        s.ok("cat /etc/mail/mxgate.mc")
            .contains(&format!("Port={port}")),
        "the site's conffile is kept"
    );
    assert_eq!(
        s.ok("stat -c '%U:%G %a' /var/spool/mxgate/queue").trim(),
        "mxgate:mxgate 750"
    );

    // The destination is back; the upgraded daemon delivers every one.
    dest.spawn();
    let daemon = s.start_daemon(&exec_start, port);
    s.ok("sendmail -q");
    wait_for(
        &s,
        "all four messages delivered",
        Duration::from_secs(120),
        || delivered() == 4,
    );
    wait_for(&s, "an empty queue", Duration::from_secs(30), || {
        s.queued() == 0
    });

    // Remove keeps a queue, purge deletes it (--force-depends: this system's
    // other packages, logwatch for one, want some MTA installed).
    dest.kill9();
    swaks(port, "root@dest.test", "waiting through a remove");
    wait_for(&s, "one message deferred", Duration::from_secs(60), || {
        s.queued() == 1
    });
    stop(daemon);
    s.ok("dpkg -r --force-depends mxgate");
    assert!(
        s.ok("dpkg -s mxgate 2>&1 || true")
            .contains("deinstall ok config-files")
    );
    assert!(s.sh("test -e /usr/sbin/sendmail").status.code() == Some(1));
    let kept = s.ok("find /var/spool/mxgate/queue -type f | wc -l");
    assert!(
        kept.trim().parse::<usize>().unwrap() > 0,
        "dpkg -r keeps the queue"
    );
    assert!(s.sh("getent passwd mxgate").status.success());
    s.ok("dpkg -P --force-depends mxgate");
    assert!(
        !s.sh("test -e /var/spool/mxgate").status.success(),
        "purge deletes the queue"
    );
    assert!(
        !s.sh("test -e /etc/mail/mxgate.mc").status.success(),
        "purge deletes the conffile"
    );
    assert!(
        !s.sh("getent passwd mxgate").status.success(),
        "purge deletes the user"
    );
}
