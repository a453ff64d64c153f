//! The opt-in Prometheus endpoint: `GET /metrics` on `confMXGATE_METRICS_ADDR`.
//!
//! Contract: off unless `confMXGATE_METRICS_ADDR` (`host:port`) is set. The
//! address must be loopback unless `confMXGATE_METRICS_ALLOW_REMOTE` is
//! `True` (the numbers describe the mail flow — senders' volume,
//! destinations — and there is no authentication: put a reverse proxy or
//! node firewall in front to export them). It is bound before the
//! privilege drop, like the SMTP listeners. Each connection gets one
//! HTTP/1.x answer and is closed: `200` with the text exposition format for
//! `GET /metrics`, `404` for other paths, `405` for other methods, `400`
//! for a request that is not HTTP; a request must arrive within 5 s and
//! 8 KiB. Before each answer the spool gauges (queue depth by state and age
//! bucket, `<>` messages) are refreshed from the spool, at most once a
//! second (reading every envelope: on a very large queue, scrape slowly).

use crate::metrics;
use crate::site::Site;
use crate::spool::{Durability, Spool, State};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The configured address, if any; `Err` when it does not parse or is not
/// loopback without `confMXGATE_METRICS_ALLOW_REMOTE`.
pub fn addr(site: &Site) -> Result<Option<SocketAddr>, String> {
    Ok(site.settings.metrics_addr)
}

/// Bind the endpoint (before the privilege drop).
pub fn bind(a: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(a)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serve scrapes until the task is dropped.
pub async fn serve(listener: std::net::TcpListener, spool_root: PathBuf) {
    let listener = match async_net::TcpListener::try_from(listener) {
        Ok(l) => l,
        Err(_) => return,
    };
    let last = std::sync::Arc::new(Mutex::new(None::<Instant>));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            async_io::Timer::after(Duration::from_millis(100)).await;
            continue;
        };
        let (root, last) = (spool_root.clone(), last.clone());
        smol::spawn(async move {
            let answer = async { answer(stream, root, last).await };
            let limit = async {
                async_io::Timer::after(Duration::from_secs(10)).await;
            };
            futures_lite::future::or(answer, limit).await;
        })
        .detach();
    }
}

async fn answer(
    mut stream: async_net::TcpStream,
    root: PathBuf,
    last: std::sync::Arc<Mutex<Option<Instant>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break Some(p);
        }
        if buf.len() > 8192 {
            break None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break None,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    };
    let head = head_end.and_then(|p| buf.get(..p)).unwrap_or_default();
    let line = String::from_utf8_lossy(head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut words = line.split(' ');
    let (method, path, version) = (words.next(), words.next(), words.next());
    let (status, body) = match (method, path, version) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/1.") => {
            let path = p.split('?').next().unwrap_or(p);
            if m != "GET" && m != "HEAD" {
                ("405 Method Not Allowed", "GET only\n".to_string())
            } else if path != "/metrics" {
                ("404 Not Found", "try /metrics\n".to_string())
            } else {
                refresh(&root, &last).await;
                ("200 OK", metrics::global().render())
            }
        }
        _ => ("400 Bad Request", "not an HTTP/1.x request\n".to_string()),
    };
    let ctype = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    // HEAD: the same head (Content-Length of the body it would get), no body.
    let shown = if method == Some("HEAD") { "" } else { &body };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{shown}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.close().await;
}

/// Refresh the spool gauges if the last refresh is a second old or more.
async fn refresh(root: &std::path::Path, last: &Mutex<Option<Instant>>) {
    {
        let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
        if l.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *l = Some(Instant::now());
    }
    let root = root.to_path_buf();
    blocking::unblock(move || spool_gauges(&root)).await;
}

/// Queue depth by state and age bucket, and the `<>` count, into the registry.
pub fn spool_gauges(root: &std::path::Path) {
    let Ok(spool) = Spool::open(root, Durability::Fsync) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut counts = std::collections::BTreeMap::new();
    let mut null_sender = 0u64;
    for state in [State::Queue, State::Hold, State::Quarantine] {
        // Every state and bucket is exported, zeros included, so a query
        // sees the state drain to 0 rather than the series vanish.
        for (_, age) in metrics::AGE_BUCKETS {
            counts.insert((state.dir(), *age), 0u64);
        }
        for id in spool.list(state).unwrap_or_default() {
            let Ok((env, _)) = spool.read(state, &id) else {
                continue;
            };
            if env.sender == "<>" {
                null_sender += 1;
            }
            let age = metrics::age_bucket(now.saturating_sub(env.arrival));
            *counts.entry((state.dir(), age)).or_insert(0) += 1;
        }
    }
    let series = counts
        .into_iter()
        .map(|((state, age), n)| {
            (
                vec![("state", state.to_string()), ("age", age.to_string())],
                n as f64,
            )
        })
        .collect();
    let m = metrics::global();
    m.replace(metrics::QUEUE_MESSAGES, series);
    m.set(metrics::NULL_SENDER, &[], null_sender as f64);
}
