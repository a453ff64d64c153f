//! The LMTP delivery agent (RFC 2033), e.g. to Dovecot's `lmtp` service.
//!
//! Contract: [`LmtpAgent::deliver`] connects to its [`LmtpTarget`] (a unix
//! socket path or TCP `host:port`), says `LHLO`, sends one transaction for the
//! batch and returns one [`Outcome`] per recipient from the per-recipient
//! replies after the final dot. Any failure to connect or a broken session
//! defers the recipients not settled yet (there is no next host). No
//! STARTTLS or AUTH: LMTP peers are local.

use super::smtp::{self, Stream, Timeouts};
use super::{Batch, Outcome};
use super::{EnhancedStatus, Said};
use crate::proto::client::{ClientSession, Event, Mode, RcptStatus, Settings, TlsWish};
use futures_lite::AsyncWriteExt;
use std::path::PathBuf;

/// Where the LMTP server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmtpTarget {
    /// A unix-domain socket (`/var/run/dovecot/lmtp`).
    Unix(PathBuf),
    /// TCP `host:port` (`127.0.0.1:24`, `[::1]:24`, `lmtp.example:24`).
    Tcp(String),
}

impl LmtpTarget {
    /// `/path` → unix socket; anything else is TCP `host:port` (port 24 when absent).
    pub fn parse(s: &str) -> LmtpTarget {
        let s = s.trim();
        if s.starts_with('/') {
            return LmtpTarget::Unix(PathBuf::from(s));
        }
        let has_port = match s.rsplit_once(':') {
            Some((h, p)) => p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')),
            None => false,
        };
        if has_port {
            LmtpTarget::Tcp(s.to_string())
        } else if s.contains(':') && !s.starts_with('[') {
            LmtpTarget::Tcp(format!("[{s}]:24"))
        } else {
            LmtpTarget::Tcp(format!("{s}:24"))
        }
    }

    fn relay(&self) -> String {
        match self {
            LmtpTarget::Unix(p) => p.display().to_string(),
            LmtpTarget::Tcp(a) => a.clone(),
        }
    }
}

/// The LMTP agent.
#[derive(Debug, Clone)]
pub struct LmtpAgent {
    /// Where to connect.
    pub target: LmtpTarget,
    /// Our `LHLO` name (`$j`).
    pub helo_name: String,
    /// Timeouts (RFC 5321's by default).
    pub timeouts: Timeouts,
}

impl LmtpAgent {
    /// An agent for `target` saying `LHLO helo_name`.
    pub fn new(target: LmtpTarget, helo_name: &str) -> LmtpAgent {
        LmtpAgent {
            target,
            helo_name: helo_name.to_string(),
            timeouts: Timeouts::default(),
        }
    }

    /// Deliver `batch`: one outcome per recipient, in order.
    pub async fn deliver(&self, batch: &Batch<'_>) -> Vec<Outcome> {
        let n = batch.recipients.len();
        let relay = self.target.relay();
        let deferred = |text: String| Outcome::Deferred {
            status: EnhancedStatus::new(4, 4, 1),
            reply: Said::Text(text),
            relay: Some(relay.clone()),
        };
        let mut stream = match self.connect().await {
            Ok(s) => s,
            Err(e) => return vec![deferred(format!("{relay}: {e}")); n],
        };
        let mut session = ClientSession::new(Settings {
            mode: Mode::Lmtp,
            helo_name: self.helo_name.clone(),
            tls: TlsWish::Never,
            auth: None,
        });
        match smtp::drive(&mut stream, &mut session, &self.timeouts).await {
            Ok(Event::Ready) => {}
            Ok(Event::Failed(f)) => return vec![deferred(f.text); n],
            Ok(other) => return vec![deferred(format!("unexpected {other:?}")); n],
            Err(e) => return vec![deferred(format!("{e} with {relay}")); n],
        }
        session.send_mail(smtp::transaction(batch), batch.message);
        let statuses = match smtp::drive(&mut stream, &mut session, &self.timeouts).await {
            Ok(Event::Done(v)) => v,
            Ok(Event::Failed(f)) => f.recipients,
            Ok(other) => session.abort(&format!("unexpected {other:?}")),
            Err(e) => session.abort(&format!("{e} with {relay}")),
        };
        if session.waiting().is_none() {
            session.quit();
            let _ = smtp::drive(&mut stream, &mut session, &self.timeouts).await;
        }
        let _ = stream.close().await;
        (0..n)
            .map(|i| match statuses.get(i) {
                Some(s) => smtp::outcome(s, &relay).unwrap_or_else(|| match s {
                    RcptStatus::TryNextHost(t) => Outcome::Deferred {
                        status: EnhancedStatus::new(4, 4, 2),
                        reply: Said::Text(t.clone()),
                        relay: Some(relay.clone()),
                    },
                    _ => deferred("no reply".into()),
                }),
                None => deferred("no reply".into()),
            })
            .collect()
    }

    async fn connect(&self) -> std::io::Result<Stream> {
        let t = self.timeouts.connect;
        let timeout = async {
            async_io::Timer::after(t).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        };
        match &self.target {
            LmtpTarget::Unix(p) => {
                futures_lite::future::or(
                    async {
                        async_net::unix::UnixStream::connect(p)
                            .await
                            .map(Stream::Unix)
                    },
                    timeout,
                )
                .await
            }
            LmtpTarget::Tcp(a) => {
                futures_lite::future::or(
                    async {
                        async_net::TcpStream::connect(a.as_str())
                            .await
                            .map(Stream::Tcp)
                    },
                    timeout,
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            LmtpTarget::parse("/run/dovecot/lmtp"),
            LmtpTarget::Unix("/run/dovecot/lmtp".into())
        );
        assert_eq!(
            LmtpTarget::parse("127.0.0.1:2424"),
            LmtpTarget::Tcp("127.0.0.1:2424".into())
        );
        assert_eq!(
            LmtpTarget::parse("mail.example"),
            LmtpTarget::Tcp("mail.example:24".into())
        );
        assert_eq!(LmtpTarget::parse("::1"), LmtpTarget::Tcp("[::1]:24".into()));
        assert_eq!(
            LmtpTarget::parse("[::1]:2424"),
            LmtpTarget::Tcp("[::1]:2424".into())
        );
    }
}
