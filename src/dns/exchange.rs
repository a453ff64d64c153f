//! One DNS question, asked until answered or out of time.
//!
//! Contract: [`ask`] sends the question over UDP from a socket of its own,
//! sends it again on the [`Schedule`] (the first resend after
//! `first_retry`, then doubling, each copy to the next server in turn),
//! takes the first answer from any server asked that matches the id and
//! the question, and asks over TCP when that answer is truncated. It
//! returns within `total`, and it shares nothing with any other question,
//! so a question nobody answers delays only the caller who asked it.
//! SERVFAIL or REFUSED from one server moves on to the next at once; from
//! every server, it is the answer.

use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use hickory_resolver::proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// When to send copies of a question, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The first resend, after this long without an answer.
    pub first_retry: Duration,
    /// The whole question never takes longer.
    pub total: Duration,
}

impl Schedule {
    /// Offsets from the start at which copies are sent: 0, r, 3r, 7r, …
    /// (each wait twice the last), all before `total`.
    pub fn sends(&self) -> Vec<Duration> {
        let mut out = vec![Duration::ZERO];
        let mut wait = self.first_retry.max(Duration::from_millis(1));
        let mut at = wait;
        while at < self.total && out.len() < 32 {
            out.push(at);
            wait = wait.saturating_mul(2);
            at = at.saturating_add(wait);
        }
        out
    }
}

/// What a server answered: its code and the answer section's data.
#[derive(Debug, Clone)]
pub struct Response {
    /// NOERROR, NXDOMAIN, SERVFAIL, …
    pub code: ResponseCode,
    /// The answer section (a CNAME chain included as the server gave it).
    pub records: Vec<RData>,
    /// How long the answer took, when it answered the first copy before
    /// any other was sent (Karn's rule: only such answers time the server).
    pub rtt: Option<Duration>,
    /// How long the answer may be kept (seconds): the smallest TTL of the
    /// answer section, or for a negative answer the SOA's (RFC 2308:
    /// the smaller of its TTL and its MINIMUM); `None`: not to be kept.
    pub ttl: Option<u32>,
}

impl Response {
    fn from_message(msg: Message, rtt: Option<Duration>) -> Response {
        let code = msg.metadata.response_code;
        let ttl = if !msg.answers.is_empty() {
            msg.answers.iter().map(|r| r.ttl).min()
        } else {
            msg.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
        };
        Response {
            code,
            records: msg.answers.into_iter().map(|r| r.data).collect(),
            rtt,
            ttl,
        }
    }
}

/// Ask `servers` for `name`/`rtype` on `schedule`. `Err` = no usable
/// answer in time (a temporary failure).
pub async fn ask(
    servers: &[SocketAddr],
    name: &Name,
    rtype: RecordType,
    schedule: Schedule,
) -> Result<Response, String> {
    let start = Instant::now();
    let deadline = start + schedule.total;
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), rtype));
    let id = query.metadata.id;
    let wire = query.to_vec().map_err(|e| format!("{name}: {e}"))?;
    let v4 = bind_if(servers.iter().any(SocketAddr::is_ipv4), "0.0.0.0:0")?;
    let v6 = bind_if(servers.iter().any(SocketAddr::is_ipv6), "[::]:0")?;
    let sends = schedule.sends();
    let mut sent = 0usize;
    let mut failed: Vec<SocketAddr> = Vec::new();
    let mut last_code = None;
    let mut next_send = start;
    let mut buf = vec![0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(match last_code {
                Some(code) => format!("{name} {rtype}: servers answered {code}"),
                None => format!("{name} {rtype}: no answer within {:?}", schedule.total),
            });
        }
        if now >= next_send {
            let target = servers
                .iter()
                .cycle()
                .skip(sent)
                .take(servers.len())
                .find(|s| !failed.contains(s))
                .copied();
            if let Some(target) = target {
                let sock = if target.is_ipv4() { &v4 } else { &v6 };
                if let Some(sock) = sock {
                    // A send error (no route, buffer full) is a lost datagram.
                    let _ = sock.send_to(&wire, target).await;
                }
            }
            sent += 1;
            next_send = sends.get(sent).map(|d| start + *d).unwrap_or(deadline);
        }
        let wake = next_send.min(deadline);
        let received = futures_lite::future::or(
            async { Some(recv_any(v4.as_ref(), v6.as_ref(), &mut buf).await) },
            async {
                Timer::at(wake).await;
                None
            },
        )
        .await;
        let Some(Ok((len, from))) = received else {
            continue;
        };
        if !servers.contains(&from) {
            continue;
        }
        let Some(msg) = buf.get(..len).and_then(|b| matching(b, id, name, rtype)) else {
            continue;
        };
        if msg.metadata.truncation {
            let left = deadline.saturating_duration_since(Instant::now());
            return over_tcp(from, &wire, id, name, rtype, left).await;
        }
        let code = msg.metadata.response_code;
        if code == ResponseCode::NoError || code == ResponseCode::NXDomain {
            return Ok(Response::from_message(
                msg,
                (sent == 1).then(|| start.elapsed()),
            ));
        }
        // SERVFAIL, REFUSED, …: try the next server now.
        last_code = Some(code);
        if !failed.contains(&from) {
            failed.push(from);
        }
        if failed.len() >= servers.len() {
            return Ok(Response {
                code,
                records: Vec::new(),
                rtt: None,
                ttl: None,
            });
        }
        next_send = Instant::now();
    }
}

fn bind_if(wanted: bool, addr: &str) -> Result<Option<Async<UdpSocket>>, String> {
    if !wanted {
        return Ok(None);
    }
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("resolver socket {addr}: {e}"))?;
    Async::<UdpSocket>::bind(addr)
        .map(Some)
        .map_err(|e| format!("resolver socket: {e}"))
}

async fn recv_any(
    v4: Option<&Async<UdpSocket>>,
    v6: Option<&Async<UdpSocket>>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match (v4, v6) {
        (Some(a), None) | (None, Some(a)) => a.recv_from(buf).await,
        (Some(a), Some(b)) => {
            // Peek which one is readable, then read it into `buf`.
            let which = futures_lite::future::or(async { a.readable().await.map(|()| 0) }, async {
                b.readable().await.map(|()| 1)
            })
            .await?;
            let sock = if which == 0 { a } else { b };
            match sock.get_ref().recv_from(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => sock.recv_from(buf).await,
                other => other,
            }
        }
        (None, None) => std::future::pending().await,
    }
}

/// The answer to our question (id, question section), or `None`.
fn matching(bytes: &[u8], id: u16, name: &Name, rtype: RecordType) -> Option<Message> {
    let msg = Message::from_vec(bytes).ok()?;
    let ours = msg.metadata.id == id
        && msg.metadata.message_type == MessageType::Response
        && msg.queries.len() == 1
        && msg
            .queries
            .first()
            .is_some_and(|q| q.name() == name && q.query_type() == rtype);
    ours.then_some(msg)
}

async fn over_tcp(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
    within: Duration,
) -> Result<Response, String> {
    let work = async {
        let mut stream = Async::<TcpStream>::connect(server)
            .await
            .map_err(|e| format!("{server} (TCP): {e}"))?;
        let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(wire);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| format!("{server} (TCP): {e}"))?;
        let mut head = [0u8; 2];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|e| format!("{server} (TCP): {e}"))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| format!("{server} (TCP): {e}"))?;
        let msg = matching(&body, id, name, rtype)
            .ok_or_else(|| format!("{server} (TCP): an answer to another question"))?;
        Ok(Response::from_message(msg, None))
    };
    futures_lite::future::or(work, async {
        Timer::after(within).await;
        Err(format!(
            "{name} {rtype}: no TCP answer from {server} in time"
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_sent_early_then_less_often_within_the_total() {
        let s = Schedule {
            first_retry: Duration::from_millis(250),
            total: Duration::from_secs(5),
        };
        let ms: Vec<u128> = s.sends().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 250, 750, 1750, 3750]);
        let short = Schedule {
            first_retry: Duration::from_millis(250),
            total: Duration::from_millis(200),
        };
        assert_eq!(short.sends(), vec![Duration::ZERO]);
    }
}
