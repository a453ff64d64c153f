//! systemd's readiness protocol (`sd_notify(3)`), without libsystemd.
//!
//! Contract: [`Notifier::from_env`] reads `$NOTIFY_SOCKET` once (a path, or
//! `@name` for the abstract namespace) and [`Notifier::send`] writes one
//! datagram of `KEY=VALUE` lines to it. Without the variable every call is
//! a no-op, so a daemon started by hand or by a test behaves as before. A
//! send that fails is returned to the caller (which logs it); it never
//! stops the daemon. The variable is left in the environment: delivery
//! agents the daemon starts do not inherit stdio from systemd anyway, and
//! systemd only accepts messages from the main PID (`NotifyAccess=main`).
//!
//! Messages the daemon sends: `READY=1` once the listeners are bound and
//! the spool is open; `RELOADING=1` when a SIGHUP (or a rebuilt map)
//! starts a reload and `READY=1` + `STATUS=` with the
//! generation (or the reason the reload was refused) when it ends;
//! `STOPPING=1` at SIGTERM/SIGINT.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where to send readiness messages, if anywhere.
#[derive(Debug)]
pub struct Notifier {
    target: Option<SocketAddr>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; an empty or unusable value disables it.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|v| parse(&v.to_string_lossy()));
        Notifier { target }
    }

    /// A notifier for this address (`@name` = abstract namespace).
    pub fn to(addr: &str) -> Notifier {
        Notifier {
            target: parse(addr),
        }
    }

    /// Whether messages go anywhere.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Send one datagram, `state` being newline-separated `KEY=VALUE`s.
    pub fn send(&self, state: &str) -> io::Result<()> {
        let Some(addr) = &self.target else {
            return Ok(());
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), addr)?;
        Ok(())
    }
}

/// `NOTIFY_SOCKET`'s value as an address: `/path` or `@abstract`.
fn parse(v: &str) -> Option<SocketAddr> {
    if let Some(name) = v.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes()).ok()
    } else if v.starts_with('/') {
        SocketAddr::from_pathname(v).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_socket_receives_the_datagram() {
        let dir = std::env::temp_dir().join(format!("mxgate-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::to(path.to_str().unwrap());
        assert!(n.enabled());
        n.send("READY=1\nSTATUS=generation g1").unwrap();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=generation g1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_abstract_socket_receives_the_datagram() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("mxgate-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        Notifier::to(&format!("@{name}"))
            .send("RELOADING=1")
            .unwrap();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..len]).into_owned();
        assert_eq!(got, "RELOADING=1");
    }

    #[test]
    fn no_or_a_relative_address_sends_nothing() {
        assert!(!Notifier::to("").enabled());
        assert!(!Notifier::to("relative/path").enabled());
        assert!(Notifier::to("").send("READY=1").is_ok());
    }
}
