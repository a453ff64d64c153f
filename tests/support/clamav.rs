//! A real ClamAV daemon (Debian's clamav-daemon) for the scanner tests
//! (tests/clamav.rs, tests/amavis.rs): its signature database is written
//! here with one signature for the EICAR test string (an `.ndb` hex body
//! signature: no freshclam, no download), and `clamd` runs in the
//! foreground on a unix socket in a temp dir, as root with `User root`
//! (CI runs the tests as root) and the socket open to every user, so
//! amavisd (which runs as its own user) can use it too.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The EICAR anti-virus test string (68 bytes); every scanner detects it
/// through the signature written by [`Clamd::start`].
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The name clamd reports for [`EICAR`] (`.UNOFFICIAL`: not from the
/// ClamAV signature service).
pub const SIGNATURE: &str = "Mxgate.Test.EICAR.UNOFFICIAL";

/// Fail (never skip) when a Debian tool is missing, with the apt-get line.
pub fn need(program: &str, package: &str) {
    assert!(
        Path::new(program).exists(),
        "{program} is missing: apt-get install -y --no-install-recommends {package} (tools/test installs it)"
    );
}

/// A running clamd; stopped when dropped.
pub struct Clamd {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// The unix socket (`LocalSocket`).
    pub socket: PathBuf,
}

impl Clamd {
    /// Write the database and configuration, start clamd, and wait until
    /// it answers `PING`.
    pub fn start() -> Clamd {
        need("/usr/sbin/clamd", "clamav-daemon");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // amavisd (its own user) reaches the socket through this directory.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(d.join("db")).unwrap();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
        // name:target type (0 = any file):offset:hex body
        std::fs::write(
            d.join("db/mxgate-test.ndb"),
            format!("Mxgate.Test.EICAR:0:*:{hex}\n"),
        )
        .unwrap();
        let socket = d.join("clamd.sock");
        std::fs::write(
            d.join("clamd.conf"),
            format!(
                "Foreground yes\n\
                 LocalSocket {sock}\n\
                 LocalSocketMode 666\n\
                 DatabaseDirectory {db}\n\
                 TemporaryDirectory {tmp}\n\
                 LogFile {log}\n\
                 LogVerbose yes\n\
                 User root\n\
                 SelfCheck 0\n",
                sock = socket.display(),
                db = d.join("db").display(),
                tmp = d.join("tmp").display(),
                log = d.join("clamd.log").display(),
            ),
        )
        .unwrap();
        let mut c = Clamd {
            dir,
            child: None,
            socket,
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new("/usr/sbin/clamd")
            .arg("-c")
            .arg(d.join("clamd.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("clamd.stderr")).unwrap())
            .spawn()
            .expect("start clamd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("clamd exited {st}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "clamd did not answer: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Does clamd answer `PING` with `PONG`?
    pub fn answers(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(&self.socket) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"PING\n").is_err() {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.trim() == "PONG"
    }

    /// Scan a file by path (`PATH: OK` or `PATH: NAME FOUND`).
    pub fn scan(&self, path: &Path) -> String {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.write_all(format!("SCAN {}\n", path.display()).as_bytes())
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// What clamd logged and printed.
    pub fn log(&self) -> String {
        let d = self.dir.path();
        format!(
            "{}{}",
            std::fs::read_to_string(d.join("clamd.log")).unwrap_or_default(),
            std::fs::read_to_string(d.join("clamd.stderr")).unwrap_or_default()
        )
    }

    /// Stop clamd (kill it, as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}
