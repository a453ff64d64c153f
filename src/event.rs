//! Log lines in sendmail's format, and the counters they feed.
//!
//! Contract: every event worth a log line goes through [`Log::line`], which
//! writes `Mon DD HH:MM:SS host mxgate[pid]: QID: text` (sendmail's syslog
//! shape) to the configured destination — a file (`confMXGATE_LOG_FILE`, an
//! mxgate extension), or standard error when the daemon runs in the
//! foreground — or, when `confMXGATE_LOG_FILE` is `syslog`, sends RFC 3164
//! datagrams `<22>Mon DD HH:MM:SS mxgate[pid]: QID: text` (facility mail,
//! severity info) to the local syslog socket `/dev/log`. The formatting of `from=`, `to=`, `reject=` lines lives in
//! the callers' words but is assembled by the helpers here so it is the
//! same everywhere.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where log lines go.
#[derive(Debug)]
pub struct Log {
    host: String,
    sink: Mutex<Sink>,
}

#[derive(Debug)]
enum Sink {
    Stderr,
    File(File),
    Syslog(UnixDatagram, PathBuf),
}

/// `<PRI>` for facility mail (2), severity info (6): 2 * 8 + 6.
const MAIL_INFO: &str = "<22>";

/// The local syslog socket.
pub const DEV_LOG: &str = "/dev/log";

impl Log {
    /// Log to standard error.
    pub fn stderr(host: &str) -> Log {
        Log {
            host: host.to_string(),
            sink: Mutex::new(Sink::Stderr),
        }
    }

    /// Log (appending) to a file; a symlink at `path` is not followed (`ELOOP`).
    pub fn file(host: &str, path: &Path) -> std::io::Result<Log> {
        // Opened as root before the privilege drop: never through a symlink
        // (a log file in a directory the run-as user owns could be one).
        use std::os::unix::fs::OpenOptionsExt;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(path)?;
        Ok(Log {
            host: host.to_string(),
            sink: Mutex::new(Sink::File(f)),
        })
    }

    /// Send to the syslog daemon's datagram socket (normally [`DEV_LOG`]).
    /// The socket need not exist yet: a datagram that cannot be delivered is dropped.
    pub fn syslog(host: &str, socket: &Path) -> std::io::Result<Log> {
        let sock = UnixDatagram::unbound()?;
        Ok(Log {
            host: host.to_string(),
            sink: Mutex::new(Sink::Syslog(sock, socket.to_path_buf())),
        })
    }

    /// Write one line; `qid` is the queue id the line is about, if any.
    pub fn line(&self, qid: Option<&str>, text: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (_, mo, d, h, mi, s) = crate::spool::ids::civil(now);
        const MON: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MON.get((mo as usize).saturating_sub(1)).unwrap_or(&"Jan");
        let prefix = match qid {
            Some(q) => format!("{q}: "),
            None => String::new(),
        };
        let stamp = format!("{month} {d:>2} {h:02}:{mi:02}:{s:02}");
        let pid = std::process::id();
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        // A log that cannot be written must not stop mail; the error is dropped.
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(
                format!("{stamp} {} mxgate[{pid}]: {prefix}{text}\n", self.host).as_bytes(),
            ),
            Sink::File(f) => f.write_all(
                format!("{stamp} {} mxgate[{pid}]: {prefix}{text}\n", self.host).as_bytes(),
            ),
            // RFC 3164 to the local daemon: no host name (syslogd adds its own).
            Sink::Syslog(sock, path) => sock
                .send_to(
                    format!("{MAIL_INFO}{stamp} mxgate[{pid}]: {prefix}{text}").as_bytes(),
                    &*path,
                )
                .map(|_| ()),
        };
    }
}

/// `relay=name [ip]` as sendmail writes it (`[ip]` alone when there is no name).
pub fn relay_field(name: &str, ip: &str) -> String {
    if name.is_empty() || name.starts_with('[') {
        format!("relay=[{ip}]")
    } else {
        format!("relay={name} [{ip}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_sendmail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let log = Log::file("gw", &p).unwrap();
        log.line(Some("6AO0UD000007581"), "from=<a@b>, size=12");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(" gw mxgate["), "{text}");
        assert!(
            text.trim_end()
                .ends_with("]: 6AO0UD000007581: from=<a@b>, size=12")
        );
        assert_eq!(
            relay_field("mx.example", "192.0.2.1"),
            "relay=mx.example [192.0.2.1]"
        );
        assert_eq!(relay_field("[192.0.2.1]", "192.0.2.1"), "relay=[192.0.2.1]");
    }

    #[test]
    fn syslog_datagrams_are_rfc3164_mail_info() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.sock");
        let rx = UnixDatagram::bind(&p).unwrap();
        let log = Log::syslog("gw", &p).unwrap();
        log.line(Some("QID1"), "from=<a@b>, size=1");
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(text.starts_with("<22>"), "{text}");
        let pid = std::process::id();
        assert!(
            text.ends_with(&format!(" mxgate[{pid}]: QID1: from=<a@b>, size=1")),
            "{text}"
        );
        // `<22>Mon DD HH:MM:SS ` — 4 + 16 characters before the tag.
        assert_eq!(&text[4 + 15..4 + 16], " ", "{text}");
        assert_eq!(&text[4 + 16..4 + 22], "mxgate", "{text}");
        // No listener: the line is dropped, nothing panics.
        drop(rx);
        log.line(None, "still fine");
    }
}
