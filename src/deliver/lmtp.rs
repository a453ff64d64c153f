//! The LMTP delivery agent (RFC 2033), e.g. to Dovecot's `lmtp` service.
//!
//! Contract: [`LmtpAgent::deliver`] connects to its [`LmtpTarget`] (a unix
//! socket path or TCP `host:port`), says `LHLO`, sends one transaction for the
//! batch and returns one [`Outcome`] per recipient from the per-recipient
//! replies after the final dot. Any failure to connect or a broken session
//! defers the recipients not settled yet (there is no next host). No
//! STARTTLS or AUTH: LMTP peers are local.
//!
//! With an [`LmtpPool`], a session is kept open after its transaction
//! (at most [`POOL_IDLE`], [`POOL_MAX`] per endpoint) and used for the next
//! batch to the same endpoint, as Postfix's LMTP client caches its
//! connections: no connect, greeting and `LHLO` per message, and no new
//! `lmtp` process of Dovecot's for each. A kept session the server closed
//! meanwhile (nothing settled) is replaced by a fresh one at once.

use super::smtp::{self, Stream, Timeouts};
use super::{Batch, Outcome};
use super::{EnhancedStatus, Said};
use crate::deadline::Deadline;
use crate::proto::client::{ClientSession, Event, Mode, RcptStatus, Settings, TlsWish};
use futures_lite::AsyncWriteExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Where sessions are kept between batches (none: one per batch).
    pub pool: Option<Arc<LmtpPool>>,
}

/// An open LMTP session, ready for a transaction.
struct Open {
    stream: Stream,
    session: ClientSession,
    /// The timer every wait of this session shares.
    deadline: Deadline,
}

/// Idle LMTP sessions by (endpoint, `LHLO` name).
#[derive(Default)]
pub struct LmtpPool {
    idle: Mutex<Vec<(String, String, Open, Instant)>>,
}

/// How long an idle session is kept (Postfix: `lmtp_connection_cache_time_limit`, 2 s).
pub const POOL_IDLE: Duration = Duration::from_secs(2);
/// At most this many idle sessions per endpoint.
pub const POOL_MAX: usize = 16;

impl std::fmt::Debug for LmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.idle.lock().map(|i| i.len()).unwrap_or(0);
        f.debug_struct("LmtpPool").field("idle", &n).finish()
    }
}

impl LmtpPool {
    fn take(&self, relay: &str, helo: &str) -> Option<Open> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, _, _, at)| at.elapsed() < POOL_IDLE);
        let i = idle
            .iter()
            .rposition(|(r, h, _, _)| r == relay && h == helo)?;
        Some(idle.swap_remove(i).2)
    }

    /// Keep `open`; gives it back when the endpoint has enough idle ones.
    fn give(&self, relay: &str, helo: &str, open: Open) -> Option<Open> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, _, _, at)| at.elapsed() < POOL_IDLE);
        if idle.iter().filter(|(r, _, _, _)| r == relay).count() >= POOL_MAX {
            return Some(open);
        }
        idle.push((relay.to_string(), helo.to_string(), open, Instant::now()));
        None
    }
}

impl LmtpAgent {
    /// An agent for `target` saying `LHLO helo_name`.
    pub fn new(target: LmtpTarget, helo_name: &str) -> LmtpAgent {
        LmtpAgent {
            target,
            helo_name: helo_name.to_string(),
            timeouts: Timeouts::default(),
            pool: None,
        }
    }

    /// The same agent keeping its sessions in `pool` between batches.
    pub fn with_pool(mut self, pool: Arc<LmtpPool>) -> LmtpAgent {
        self.pool = Some(pool);
        self
    }

    /// One transaction over `open`: a status per recipient.
    async fn send(&self, open: &mut Open, batch: &Batch<'_>, relay: &str) -> Vec<RcptStatus> {
        open.session
            .send_mail(smtp::transaction(batch), batch.message);
        match smtp::drive(
            &mut open.stream,
            &mut open.session,
            &self.timeouts,
            &mut open.deadline,
        )
        .await
        {
            Ok(Event::Done(v)) => v,
            Ok(Event::Failed(f)) => f.recipients,
            Ok(other) => open.session.abort(&format!("unexpected {other:?}")),
            Err(e) => open.session.abort(&format!("{e} with {relay}")),
        }
    }

    /// Connect (waiting at most `wait`) and say `LHLO`.
    async fn open(&self, relay: &str, wait: Duration) -> Result<Open, String> {
        let mut stream = self
            .connect(wait)
            .await
            .map_err(|e| format!("{relay}: {e}"))?;
        let mut session = ClientSession::new(Settings {
            mode: Mode::Lmtp,
            helo_name: self.helo_name.clone(),
            tls: TlsWish::Never,
            auth: None,
        });
        let mut deadline = Deadline::new();
        match smtp::drive(&mut stream, &mut session, &self.timeouts, &mut deadline).await {
            Ok(Event::Ready) => Ok(Open {
                stream,
                session,
                deadline,
            }),
            Ok(Event::Failed(f)) => Err(f.text),
            Ok(other) => Err(format!("unexpected {other:?}")),
            Err(e) => Err(format!("{e} with {relay}")),
        }
    }

    /// Say QUIT and close.
    async fn close(&self, mut open: Open) {
        if open.session.waiting().is_none() {
            open.session.quit();
            let _ = smtp::drive(
                &mut open.stream,
                &mut open.session,
                &self.timeouts,
                &mut open.deadline,
            )
            .await;
        }
        let _ = open.stream.close().await;
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
        // A kept session first; if the server closed it meanwhile
        // (nothing settled, session over), a fresh one.
        let mut done = None;
        if let Some(mut open) = self
            .pool
            .as_ref()
            .and_then(|p| p.take(&relay, &self.helo_name))
        {
            let st = self.send(&mut open, batch, &relay).await;
            let settled = st.iter().any(|s| !matches!(s, RcptStatus::TryNextHost(_)));
            if settled || open.session.is_ready() {
                done = Some((open, st));
            }
        }
        let (open, statuses) = match done {
            Some(x) => x,
            None => {
                let wait = self.timeouts.connect_for(batch.tries);
                let mut open = match self.open(&relay, wait).await {
                    Ok(o) => o,
                    Err(e) => return vec![deferred(e); n],
                };
                let st = self.send(&mut open, batch, &relay).await;
                (open, st)
            }
        };
        let kept = match &self.pool {
            Some(pool) if open.session.is_ready() => pool.give(&relay, &self.helo_name, open),
            _ => Some(open),
        };
        if let Some(open) = kept {
            self.close(open).await;
        }
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

    async fn connect(&self, t: Duration) -> std::io::Result<Stream> {
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
