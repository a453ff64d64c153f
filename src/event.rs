//! Log lines in sendmail's format, and the counters they feed.
//!
//! Contract: every event worth a log line goes through [`Log::line`], which
//! writes `Mon DD HH:MM:SS host TAG[pid]: QID: text` (sendmail's syslog
//! shape; `TAG` is `sm-mta` unless `confMXGATE_LOG_TAG` or `-L` says
//! otherwise, so tools written for Debian's sendmail read it) to the
//! configured destination — a file (`confMXGATE_LOG_FILE`, an
//! mxgate extension), or standard error when the daemon runs in the
//! foreground — or, when `confMXGATE_LOG_FILE` is `syslog`, sends RFC 3164
//! datagrams `<22>Mon DD HH:MM:SS TAG[pid]: QID: text` (facility mail,
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
    tag: String,
    sink: Mutex<Sink>,
    echo: Echo,
}

/// Whether lines also go to standard error (`sendmail -qf`, `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Echo {
    /// Only the sink.
    #[default]
    Off,
    /// The sink and standard error.
    Stderr,
}

#[derive(Debug)]
enum Sink {
    Stderr,
    File(File),
    Syslog(UnixDatagram, PathBuf),
}

/// `<PRI>` for facility mail (2), severity info (6): 2 * 8 + 6.
const MAIL_INFO: &str = "<22>";

/// The syslog tag (program name) when none is configured: Debian's
/// sendmail daemon logs as `sm-mta`, and fail2ban's and logwatch's sendmail
/// filters accept only `sm-mta`/`sendmail`.
pub const DEFAULT_TAG: &str = "sm-mta";

/// The local syslog socket.
pub const DEV_LOG: &str = "/dev/log";

impl Log {
    /// Log to standard error.
    pub fn stderr(host: &str) -> Log {
        Log {
            host: host.to_string(),
            tag: DEFAULT_TAG.to_string(),
            sink: Mutex::new(Sink::Stderr),
            echo: Echo::Off,
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
            tag: DEFAULT_TAG.to_string(),
            sink: Mutex::new(Sink::File(f)),
            echo: Echo::Off,
        })
    }

    /// Send to the syslog daemon's datagram socket (normally [`DEV_LOG`]).
    /// The socket need not exist yet: a datagram that cannot be delivered is dropped.
    pub fn syslog(host: &str, socket: &Path) -> std::io::Result<Log> {
        let sock = UnixDatagram::unbound()?;
        Ok(Log {
            host: host.to_string(),
            tag: DEFAULT_TAG.to_string(),
            sink: Mutex::new(Sink::Syslog(sock, socket.to_path_buf())),
            echo: Echo::Off,
        })
    }

    /// The same log under another syslog tag (`-L tag`, `confMXGATE_LOG_TAG`).
    /// Characters that would break the `TAG[pid]:` prefix (space, `[`, `:`,
    /// control characters) are dropped; an empty tag keeps the old one.
    pub fn with_tag(mut self, tag: &str) -> Log {
        let clean: String = tag
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '[' | ']' | ':'))
            .take(32)
            .collect();
        if !clean.is_empty() {
            self.tag = clean;
        }
        self
    }

    /// The same log, each line also written to standard error (a
    /// foreground queue run shows what it does, as sendmail's `-qf -v`).
    pub fn with_stderr_copy(mut self) -> Log {
        self.echo = Echo::Stderr;
        self
    }

    /// The syslog tag lines are written under.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Write one line; `qid` is the queue id the line is about, if any.
    /// A line break inside `text` (from a filter's reply, a header, ...)
    /// becomes a space: one event is one line, so nobody can write a
    /// second, forged line (which fail2ban would read) through us.
    pub fn line(&self, qid: Option<&str>, text: &str) {
        let text: std::borrow::Cow<'_, str> = if text.contains(['\n', '\r']) {
            text.replace(['\n', '\r'], " ").into()
        } else {
            text.into()
        };
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
        if self.echo == Echo::Stderr && !matches!(&*sink, Sink::Stderr) {
            let _ = std::io::stderr().write_all(
                format!(
                    "{stamp} {} {}[{pid}]: {prefix}{text}\n",
                    self.host, self.tag
                )
                .as_bytes(),
            );
        }
        // A log that cannot be written must not stop mail; the error is dropped.
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(
                format!(
                    "{stamp} {} {}[{pid}]: {prefix}{text}\n",
                    self.host, self.tag
                )
                .as_bytes(),
            ),
            Sink::File(f) => f.write_all(
                format!(
                    "{stamp} {} {}[{pid}]: {prefix}{text}\n",
                    self.host, self.tag
                )
                .as_bytes(),
            ),
            // RFC 3164 to the local daemon: no host name (syslogd adds its own).
            Sink::Syslog(sock, path) => sock
                .send_to(
                    format!("{MAIL_INFO}{stamp} {}[{pid}]: {prefix}{text}", self.tag).as_bytes(),
                    &*path,
                )
                .map(|_| ()),
        };
    }
}

/// `name [ip]` (or `[ip]`), sendmail's `CurSmtpClient`: the client as it
/// opens the greet_pause, `did not issue`, `EXPN`/`VRFY` and `possible SMTP
/// attack` lines.
pub fn client_field(name: &str, ip: &str) -> String {
    if name.is_empty() || name.starts_with('[') {
        format!("[{ip}]")
    } else {
        format!("{name} [{ip}]")
    }
}

/// Text from the network made safe for one log line: control characters
/// become `?` (no forged lines), cut to `max` characters as sendmail's
/// `shortenstring` does.
pub fn printable(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(max)
        .collect()
}

/// The secret key bits of a cipher suite named as rustls names it
/// (`TLS13_AES_256_GCM_SHA384`, `TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256`):
/// sendmail's `bits=N/N`. 0 when the name says nothing.
pub fn cipher_bits(cipher: &str) -> u32 {
    if cipher.contains("AES_256") || cipher.contains("CHACHA20") {
        256
    } else if cipher.contains("AES_128") {
        128
    } else {
        0
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
        assert!(text.contains(" gw sm-mta["), "{text}");
        let log = Log::file("gw", &p).unwrap().with_tag("my tag[1]:");
        assert_eq!(log.tag(), "mytag1");
        assert_eq!(Log::stderr("gw").with_tag(" ").tag(), "sm-mta");
        assert_eq!(client_field("", "192.0.2.1"), "[192.0.2.1]");
        assert_eq!(
            client_field("mx.example", "192.0.2.1"),
            "mx.example [192.0.2.1]"
        );
        assert_eq!(printable("a\r\nb", 3), "a??");
        assert_eq!(cipher_bits("TLS13_AES_128_GCM_SHA256"), 128);
        assert_eq!(cipher_bits("TLS13_CHACHA20_POLY1305_SHA256"), 256);
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
    fn a_line_break_in_the_text_cannot_forge_a_second_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let log = Log::file("gw", &p).unwrap();
        log.line(
            None,
            "milter=x, reject=550 no\r\nDec  4 00:00:00 gw sm-mta[1]: forged",
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("reject=550 no  Dec"), "{text}");
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
            text.ends_with(&format!(" sm-mta[{pid}]: QID1: from=<a@b>, size=1")),
            "{text}"
        );
        // `<22>Mon DD HH:MM:SS ` — 4 + 16 characters before the tag.
        assert_eq!(&text[4 + 15..4 + 16], " ", "{text}");
        assert_eq!(&text[4 + 16..4 + 22], "sm-mta", "{text}");
        // No listener: the line is dropped, nothing panics.
        drop(rx);
        log.line(None, "still fine");
    }
}
