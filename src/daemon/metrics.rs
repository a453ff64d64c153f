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
//! bucket, `<>` messages) are refreshed from the spool: every envelope's
//! head is read (not the content), on a thread of its own, one scan at a
//! time, and the next only after [`SCAN_PACE`] times the last one's
//! duration (at least a second), so scrapes of a queue of a million
//! messages keep that thread at most a fifth busy and never pile scans up.
//! An answer waits at most [`SCAN_WAIT`] for a scan it started; a scrape
//! during a longer scan gets the figures of the scan before.

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

/// A scan is followed by a pause of this many times its duration.
pub const SCAN_PACE: u32 = 4;
/// How long an answer waits for the scan it started.
pub const SCAN_WAIT: Duration = Duration::from_secs(5);

/// The spool scan's state, shared by the answers.
#[derive(Default)]
struct Scans {
    /// A scan is running.
    running: bool,
    /// No new scan before this.
    next: Option<Instant>,
}

/// Serve scrapes until the task is dropped.
pub async fn serve(listener: std::net::TcpListener, spool_root: PathBuf) {
    let listener = match async_net::TcpListener::try_from(listener) {
        Ok(l) => l,
        Err(_) => return,
    };
    let last = std::sync::Arc::new(Mutex::new(Scans::default()));
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
    last: std::sync::Arc<Mutex<Scans>>,
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

fn lock(m: &Mutex<Scans>) -> std::sync::MutexGuard<'_, Scans> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Refresh the spool gauges unless a scan is running or the pause after
/// the last one has not passed (see the module doc).
async fn refresh(root: &std::path::Path, scans: &std::sync::Arc<Mutex<Scans>>) {
    {
        let mut s = lock(scans);
        if s.running || s.next.is_some_and(|t| Instant::now() < t) {
            return;
        }
        s.running = true;
    }
    let (tx, rx) = smol::channel::bounded::<()>(1);
    let (root, shared) = (root.to_path_buf(), scans.clone());
    let spawned = std::thread::Builder::new()
        .name("metrics-scan".into())
        .spawn(move || {
            // Whatever happens in the scan (a panic included), the next
            // one is allowed after its pause.
            struct Finish(std::sync::Arc<Mutex<Scans>>, Instant);
            impl Drop for Finish {
                fn drop(&mut self) {
                    let pause = (self.1.elapsed() * SCAN_PACE).max(Duration::from_secs(1));
                    let mut s = lock(&self.0);
                    s.running = false;
                    s.next = Some(Instant::now() + pause);
                }
            }
            let finish = Finish(shared, Instant::now());
            spool_gauges(&root);
            drop(finish);
            let _ = tx.try_send(());
        });
    if spawned.is_err() {
        lock(scans).running = false;
        return;
    }
    let done = async {
        let _ = rx.recv().await;
    };
    futures_lite::future::or(done, async {
        async_io::Timer::after(SCAN_WAIT).await;
    })
    .await;
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
            // The envelope only, up to its `end` line: a scrape must not
            // read the queue's mail.
            let path = root.join(state.dir()).join(id.as_str());
            let Ok(Some(env)) = crate::spool::Envelope::read_head_of(&path, &id) else {
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
