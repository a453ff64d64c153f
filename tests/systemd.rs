//! The systemd side of issue 17: the daemon speaks sd_notify (readiness,
//! reload status, stopping) to a real datagram socket named by
//! `$NOTIFY_SOCKET`, and the shipped unit `debian/mxgate.service` passes
//! Debian's `systemd-analyze verify` (with its binary path pointed at the
//! binary under test).

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{BIN, Daemon, Setup};

/// The next datagram, or a failure naming what was awaited.
fn recv(sock: &UnixDatagram, waiting_for: &str) -> String {
    let mut buf = [0u8; 4096];
    match sock.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!("no sd_notify datagram while waiting for {waiting_for}: {e}"),
    }
}

#[test]
fn issue_17_daemon_notifies_ready_reload_and_stopping() {
    let mut d = Daemon::prepare(Setup {
        mc: "",
        tables: &[],
        tls: false,
    });
    let sock_path = d.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let child = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&d.mc)
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    d.child = Some(child);

    let ready = recv(&sock, "READY=1");
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving generation "),
        "{ready:?}; stderr: {}",
        d.stderr()
    );
    // Ready means the listener is bound: a connection succeeds at once.
    assert!(std::net::TcpStream::connect(("127.0.0.1", d.mta)).is_ok());
    let first = ready.rsplit(' ').next().unwrap().to_string();

    // A reload that changes the configuration: a new generation.
    let mut mc = std::fs::read_to_string(&d.mc).unwrap();
    mc = mc.replace("gw.example.com", "gw2.example.com");
    std::fs::write(&d.mc, &mc).unwrap();
    d.signal("HUP");
    assert_eq!(recv(&sock, "RELOADING=1"), "RELOADING=1");
    let ok = recv(&sock, "READY=1 after the reload");
    assert!(
        ok.starts_with("READY=1\nSTATUS=serving generation ") && ok.contains("(reloaded: SIGHUP)"),
        "{ok:?}"
    );
    assert!(!ok.contains(&format!("generation {first} ")), "{ok:?}");

    // A broken configuration: the reload is refused, the status says why.
    std::fs::write(&d.mc, format!("{mc}FEATURE(`no_such_feature_at_all')dnl\n")).unwrap();
    d.signal("HUP");
    assert_eq!(recv(&sock, "RELOADING=1"), "RELOADING=1");
    let refused = recv(&sock, "READY=1 after a refused reload");
    assert!(
        refused.starts_with("READY=1\nSTATUS=reload refused (SIGHUP): "),
        "{refused:?}"
    );

    d.signal("TERM");
    let stopping = recv(&sock, "STOPPING=1");
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let st = d.wait_exit(Duration::from_secs(30)).expect("daemon exits");
    assert!(st.success(), "{st}: {}", d.stderr());
}

#[test]
fn issue_17_unit_passes_systemd_analyze_verify() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/mxgate.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(
            "ExecStart=/usr/sbin/mxgate daemon --foreground --config /etc/mail/mxgate.mc"
        )
    );
    assert!(text.contains("Type=notify"));
    let have = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .unwrap();
    assert!(
        have.status.success(),
        "systemd-analyze is missing: apt-get install systemd"
    );
    // The unit names /usr/sbin/mxgate; here it names the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mxgate.service");
    std::fs::write(&copy, text.replace("/usr/sbin/mxgate", BIN)).unwrap();
    // Documentation=man:... is checked too: the pages the package installs.
    support::write_man_pages(&dir.path().join("man"));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("MANPATH", dir.path().join("man"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    // verify also prints warnings with a zero exit; none may name our unit.
    assert!(
        !stderr.lines().any(|l| l.contains("mxgate.service")),
        "systemd-analyze verify: {stderr}"
    );
    // The exposure figure docs/deployment.md quotes.
    let sec = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&sec.stdout);
    assert!(text.contains("Overall exposure level"), "{text}");
}
