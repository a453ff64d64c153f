//! The daemon's answers to what a session asks ([`World`]): the resolver,
//! the AUTH backend, the mail filters' sockets, the spool, the log and the
//! clocks. Also the DNS facts gathered before a session starts (PTR with
//! forward confirmation, DNSBL answers).

use super::Server;
use super::milters::Filters;
use super::transaction::{Commit, World};
use crate::auth::{Credentials, throttle::Penalty};
use crate::dns::{Answer, NotFound};
use crate::policy::{self, Client, DnsAnswer, Resolve};
use crate::site::{HostAnswer, ReverseAnswer, Site};
use crate::spool;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The world of one session in the daemon (or `sendmail -bs`).
pub struct Daemon {
    server: Arc<Server>,
    runtime: Arc<super::Runtime>,
    /// DNS lookup permits of this client address (shared by its sessions).
    lookups: Arc<smol::lock::Semaphore>,
    filters: Filters,
    /// The part of the message in transfer kept out of memory.
    scratch: Option<spool::Scratch>,
}

/// Spilled messages read back into memory at once, daemon-wide (for the
/// content checks and mail filters): with `SPILL_AT` per session, this
/// bounds the memory messages in transfer take.
static READ_BACK: smol::lock::Semaphore = smol::lock::Semaphore::new(2);

impl Daemon {
    /// The world of a session on `server`, with the configuration
    /// generation `runtime` and the mail filters of listener `input_filters`.
    pub fn new(
        server: Arc<Server>,
        runtime: Arc<super::Runtime>,
        lookups: Arc<smol::lock::Semaphore>,
        input_filters: Option<&str>,
    ) -> Daemon {
        let filters = Filters::for_listener(&runtime.site.config, input_filters);
        Daemon {
            server,
            runtime,
            lookups,
            filters,
            scratch: None,
        }
    }
}

impl World for Daemon {
    fn log(&self, id: &str, text: &str) {
        self.server.log.line(Some(id), text);
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_time(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn has_room(&self) -> Result<(), &'static str> {
        self.server.has_room()
    }

    fn next_id(&mut self) -> spool::QueueId {
        self.server.spool.next_id()
    }

    fn filters(&mut self) -> &mut Filters {
        &mut self.filters
    }

    async fn address_name(&mut self, ip: IpAddr) -> String {
        let found = match self.runtime.site.reverse_lookup(&ip) {
            ReverseAnswer::Found(n) => Some(n),
            ReverseAnswer::NotFound => None,
            ReverseAnswer::AskDns => match &self.server.dns {
                Some(dns) => match limited(&self.lookups, dns.ptr(ip)).await {
                    Answer::Found(names) => names.into_iter().next(),
                    _ => None,
                },
                None => None,
            },
        };
        found
            .map(|n| n.trim_end_matches('.').to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| crate::smtpd::transaction::bracketed(&ip))
    }

    async fn domain_exists(&mut self, domain: &str) -> Option<DnsAnswer<Vec<IpAddr>>> {
        let dns = self.server.dns.as_ref()?;
        Some(
            match limited(&self.lookups, dns.domain_exists(domain)).await {
                Answer::Found(()) => DnsAnswer::Found(vec![]),
                Answer::NotFound(NotFound::NoSuchName | NotFound::NoRecords) => DnsAnswer::NotFound,
                Answer::TempFail(_) => DnsAnswer::TempFail,
            },
        )
    }

    async fn check_password(&mut self, creds: &Credentials, ip: IpAddr) -> Result<bool, String> {
        self.runtime
            .auth
            .clone()
            .check(creds, Some(ip), &self.server.verifier)
            .await
    }

    fn auth_failed(&mut self, ip: IpAddr) -> Penalty {
        let key = self.server.settings().client_key(ip);
        self.server
            .auth_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(key, Instant::now())
    }

    fn auth_succeeded(&mut self, ip: IpAddr) {
        let key = self.server.settings().client_key(ip);
        self.server
            .auth_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .succeeded(key);
    }

    async fn sleep(&mut self, wait: Duration) {
        async_io::Timer::after(wait).await;
    }

    fn flush_queue(&mut self) -> bool {
        use std::sync::atomic::{AtomicU64, Ordering};
        // The last ETRN flush, in seconds since 1970, for the whole daemon.
        static LAST: AtomicU64 = AtomicU64::new(0);
        let now = self.unix_time();
        let last = LAST.load(Ordering::Relaxed);
        if now < last + 60
            || LAST
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        let root = self.server.spool.root().to_path_buf();
        let marked =
            spool::status::mark_flushed(&root).and_then(|()| spool::status::mark_changed(&root));
        if let Err(e) = marked {
            self.log(
                self.server.spool.session_id().as_str(),
                &format!("SYSERR: ETRN: {e}"),
            );
        }
        true
    }

    async fn spill(&mut self, part: Vec<u8>) -> Result<(), spool::Error> {
        let server = self.server.clone();
        let scratch = self.scratch.take();
        // One short blocking task per part (SPILL_AT bytes): a slow client
        // never holds a thread while it dribbles.
        let (scratch, r) = blocking::unblock(move || {
            let mut s = match scratch {
                Some(s) => s,
                None => match server.spool.scratch() {
                    Ok(s) => s,
                    Err(e) => return (None, Err(e)),
                },
            };
            let r = s.append(&part);
            (Some(s), r)
        })
        .await;
        self.scratch = scratch;
        r
    }

    async fn unspill(&mut self) -> Result<Vec<u8>, spool::Error> {
        let Some(mut s) = self.scratch.take() else {
            return Ok(Vec::new());
        };
        let _permit = READ_BACK.acquire().await;
        let (s, r) = blocking::unblock(move || {
            let r = s.read_all();
            (s, r)
        })
        .await;
        self.scratch = Some(s);
        r
    }

    fn discard_spill(&mut self) {
        self.scratch = None;
    }

    async fn commit(&mut self, m: Commit) -> Result<u64, spool::Error> {
        let server = self.server.clone();
        let scratch = if m.spilled > 0 {
            self.scratch.take()
        } else {
            None
        };
        if m.spilled > 0 && scratch.as_ref().map(spool::Scratch::len) != Some(m.spilled) {
            return Err(spool::Error::Io {
                path: server.spool.root().join("tmp"),
                err: std::io::Error::other("the spilled part of the message is missing"),
            });
        }
        let (size, handed) = blocking::unblock(move || {
            let mut w = server.spool.create_with_id(&m.envelope, m.id)?;
            w.write(m.head.as_bytes())?;
            if let Some(mut s) = scratch {
                w.copy_from(&mut s)?;
            }
            w.write(&m.body)?;
            let size = w.size();
            let handed = match m.state {
                spool::State::Queue if server.handoff.get().is_some() => {
                    Some(w.commit_handed(spool::State::Queue)?)
                }
                spool::State::Queue => {
                    crate::queue::runner::commit_new(w, None)?;
                    None
                }
                state => {
                    w.commit(state)?;
                    None
                }
            };
            Ok::<_, spool::Error>((size, handed))
        })
        .await?;
        // Handed to a delivery worker from this task, not from the
        // blocking thread: the worker then runs after this session has
        // answered, instead of ahead of it on the sessions' thread.
        if let (Some(id), Some(h)) = (handed, self.server.handoff.get()) {
            h.offer(&id);
        }
        Ok(size)
    }
}

/// PTR with forward confirmation, and the DNSBL answers, before check_relay:
/// sets the client's name and PTR result, and returns the DNSBL answers.
/// The hosts file answers first when the service switch says so. The
/// DNSBL zones are asked at once, beside the PTR; each lookup holds one
/// of the client's lookup permits.
pub async fn connect_facts(
    server: &Server,
    site: &Site,
    client: &mut Client,
    lookups: &Arc<smol::lock::Semaphore>,
) -> Vec<(String, DnsAnswer<Vec<IpAddr>>)> {
    let Some(ip) = client.addr else {
        return Vec::new();
    };
    let dns = server.dns.clone();
    let names = async {
        let ptr = match site.reverse_lookup(&ip) {
            ReverseAnswer::Found(n) => Answer::Found(vec![n]),
            ReverseAnswer::NotFound => Answer::NotFound(NotFound::NoSuchName),
            ReverseAnswer::AskDns => match &dns {
                Some(dns) => limited(lookups, dns.ptr(ip)).await,
                None => Answer::TempFail("no resolver".into()),
            },
        };
        let Answer::Found(names) = ptr else {
            return (ptr.map_found(|_| false), String::new());
        };
        let name = names.first().cloned().unwrap_or_default();
        let confirmed = match site.host_lookup(&name) {
            HostAnswer::Found(ips) => ips.contains(&ip),
            HostAnswer::NotFound => false,
            HostAnswer::AskDns => match (&dns, ip) {
                (Some(d), IpAddr::V4(v4)) => matches!(
                    limited(lookups, d.a(&name)).await,
                    Answer::Found(a) if a.contains(&v4)
                ),
                (Some(d), IpAddr::V6(v6)) => matches!(
                    limited(lookups, d.aaaa(&name)).await,
                    Answer::Found(a) if a.contains(&v6)
                ),
                (None, _) => false,
            },
        };
        (Answer::Found(confirmed), name)
    };
    let blocklists = async {
        let Some(dns) = &dns else {
            return Vec::new();
        };
        let asks: Vec<_> = site
            .config
            .dnsbl
            .iter()
            .filter_map(|bl| {
                policy::dnsbl::query_name(&ip, &bl.zone).map(|q| (q, bl.zone.to_string()))
            })
            .map(|(q, zone)| {
                let (dns, lookups) = (dns.clone(), lookups.clone());
                smol::spawn(async move {
                    let started = Instant::now();
                    let found = limited(&lookups, dns.a(&q)).await;
                    crate::metrics::global().observe(
                        crate::metrics::DNSBL_LATENCY,
                        &[("zone", &zone)],
                        started.elapsed().as_secs_f64(),
                    );
                    let answer = match found {
                        Answer::Found(a) => {
                            DnsAnswer::Found(a.into_iter().map(IpAddr::V4).collect())
                        }
                        Answer::NotFound(_) => DnsAnswer::NotFound,
                        Answer::TempFail(_) => DnsAnswer::TempFail,
                    };
                    (q, answer)
                })
            })
            .collect();
        let mut out = Vec::new();
        for task in asks {
            out.push(task.await);
        }
        out
    };
    let ((ptr, name), listed) = futures_lite::future::zip(names, blocklists).await;
    match ptr {
        Answer::Found(confirmed) => {
            client.name = name;
            client.resolve = if confirmed {
                Resolve::Ok
            } else {
                Resolve::Forged
            };
        }
        Answer::NotFound(_) => client.resolve = Resolve::Fail,
        Answer::TempFail(_) => client.resolve = Resolve::Temp,
    }
    if client.resolve != Resolve::Ok {
        client.name = format!("[{}]", crate::addr::sendmail_ip(&ip));
    }
    listed
}

/// Run one lookup holding one of the client's lookup permits (waiting for
/// a free one when the client already has its share in flight).
async fn limited<T>(permits: &smol::lock::Semaphore, lookup: impl Future<Output = T>) -> T {
    let _permit = permits.acquire().await;
    lookup.await
}
