//! DNS on smol: a small stub resolver of our own, hickory's message codec.
//!
//! Contract: [`Dns`] answers the questions the gateway asks — PTR for a
//! client, A records of a DNSBL query name, A/AAAA of a host, MX of a
//! domain — as [`Answer`]s with three outcomes: found, does not exist
//! (NXDOMAIN or no records of that type), or temporary failure (timeout,
//! SERVFAIL, no server). A temporary failure is never reported as "not
//! found".
//!
//! Every question is its own exchange: its own UDP socket, its own
//! retransmissions, no shared in-flight state with any other question. A
//! lost datagram is asked again early — after [`Dns::first_retry`], then
//! after twice as long each time, rotating through the servers — and the
//! whole question never takes longer than the configured timeout. A
//! truncated answer is asked again over TCP.
//!
//! Answers are kept for their TTL (positive ones at most an hour, negative
//! ones, timed by their SOA as RFC 2308 says, at most five minutes; at most
//! 10,000 questions; temporary failures never), so a busy relay does not
//! ask its resolver the same MX and addresses for every message.
//!
//! The first resend is timed as TCP times its retransmissions (RFC 6298):
//! from the answers that came back to a question's first copy (Karn's
//! rule), a smoothed round trip and its variation give `srtt + 4 *
//! rttvar`, kept between [`MIN_RETRY`] and [`FIRST_RETRY`] — 250 ms until
//! the first answer, a few milliseconds against a resolver on this host,
//! more against a slow or distant one. Negative answers time the server
//! like any other (the fault this module was written to avoid, below).
//! `confMXGATE_DNS_RETRY` fixes it instead.
//!
//! Why not hickory's `Resolver` (used before): its name-server pool (a)
//! shares one in-flight query among every caller asking the same question,
//! so one lost datagram held up every SMTP session asking about the same
//! sender domain or DNSBL name; and (b) derives the UDP resend interval from
//! a smoothed RTT that every NXDOMAIN/NODATA answer raises by 150 ms (to a
//! 5 s cap): a gateway gets mostly negative answers (clean DNSBL lookups),
//! so after a few dozen the interval passed the timeout, no resend was ever
//! made, and each lost datagram cost the full timeout — three times over
//! with `attempts`. Neither is configurable; see `tests/dns_loss.rs`.
//! hickory-proto still encodes and decodes the messages, and
//! `read_system_conf` reads `/etc/resolv.conf`.

mod exchange;

use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A DNS answer: three outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// Records were found.
    Found(T),
    /// The name does not exist, or has no records of the type asked.
    NotFound(NotFound),
    /// The question could not be answered now (timeout, SERVFAIL, no server).
    TempFail(String),
}

impl<T> Answer<T> {
    /// The same outcome with the found value changed by `f`.
    pub fn map_found<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Found(t) => Answer::Found(f(t)),
            Answer::NotFound(n) => Answer::NotFound(n),
            Answer::TempFail(e) => Answer::TempFail(e),
        }
    }
}

/// Why nothing was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The name exists without records of this type (NODATA).
    NoRecords,
}

/// The resolver the daemon and the delivery agent share (cheap to clone).
#[derive(Clone, Debug)]
pub struct Dns {
    servers: Arc<[SocketAddr]>,
    timeout: Duration,
    first_retry: Duration,
    /// The measured round trip, when the first resend adapts to it.
    rtt: Option<Arc<Mutex<Rtt>>>,
    /// Answers kept for their TTL (see [`Cache`]).
    cache: Arc<Cache>,
}

/// Answers kept for their time to live, as a caching resolver on the host
/// would keep them: positive answers for the smallest TTL of their records
/// (at most [`CACHE_TTL_MAX`]), NXDOMAIN and NODATA for the SOA's negative
/// TTL (RFC 2308; at most [`CACHE_NEGATIVE_MAX`]; not at all without a SOA).
/// A temporary failure is never kept, a TTL of 0 never cached, and at most
/// [`CACHE_MAX`] questions are held. Two callers asking a question that is
/// not cached still ask it each on their own (see the module doc).
#[derive(Debug, Default)]
struct Cache {
    entries: Mutex<std::collections::HashMap<(String, RecordType), (Instant, exchange::Response)>>,
}

/// Questions the cache holds at most (expired ones are dropped first,
/// then everything, when it is full).
pub const CACHE_MAX: usize = 10_000;

/// A positive answer is kept at most this long, whatever its TTL.
pub const CACHE_TTL_MAX: Duration = Duration::from_secs(3600);

/// A negative answer is kept at most this long.
pub const CACHE_NEGATIVE_MAX: Duration = Duration::from_secs(300);

impl Cache {
    fn get(&self, key: &(String, RecordType)) -> Option<exchange::Response> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (until, r) = entries.get(key)?;
        (Instant::now() < *until).then(|| r.clone())
    }

    fn put(&self, key: (String, RecordType), r: &exchange::Response) {
        let keep = match (r.code, r.ttl) {
            (_, None | Some(0)) => return,
            (ResponseCode::NoError, Some(t)) if !r.records.is_empty() => {
                Duration::from_secs(t.into()).min(CACHE_TTL_MAX)
            }
            (ResponseCode::NoError | ResponseCode::NXDomain, Some(t)) => {
                Duration::from_secs(t.into()).min(CACHE_NEGATIVE_MAX)
            }
            _ => return,
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        let mut kept = r.clone();
        kept.rtt = None;
        entries.insert(key, (now + keep, kept));
    }
}

/// The first resend of an unanswered question before any answer has been
/// timed, and its upper bound after (then twice as long each time).
pub const FIRST_RETRY: Duration = Duration::from_millis(250);

/// The adaptive first resend is never sooner than this.
pub const MIN_RETRY: Duration = Duration::from_millis(10);

/// A smoothed round trip and its mean deviation (RFC 6298, in seconds).
#[derive(Debug, Clone, Copy, Default)]
struct Rtt {
    srtt: f64,
    rttvar: f64,
    timed: bool,
}

impl Rtt {
    fn sample(&mut self, r: Duration) {
        let r = r.as_secs_f64();
        if self.timed {
            self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - r).abs();
            self.srtt = 0.875 * self.srtt + 0.125 * r;
        } else {
            (self.srtt, self.rttvar, self.timed) = (r, r / 2.0, true);
        }
    }

    /// `srtt + 4 * rttvar` within [`MIN_RETRY`] and `max`; `max` untimed.
    fn retry(&self, max: Duration) -> Duration {
        if !self.timed {
            return max;
        }
        Duration::from_secs_f64((self.srtt + 4.0 * self.rttvar).clamp(0.0, 60.0))
            .clamp(MIN_RETRY.min(max), max)
    }
}

impl Dns {
    /// The system's resolver configuration (`/etc/resolv.conf`: its
    /// name servers and `options timeout:N`, 5 s by default).
    pub fn system() -> Result<Dns, String> {
        let (config, opts) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("resolver configuration: {e}"))?;
        let servers: Vec<SocketAddr> = config
            .name_servers()
            .iter()
            .map(|ns| {
                let port = ns.connections.first().map(|c| c.port).unwrap_or(53);
                SocketAddr::new(ns.ip, port)
            })
            .collect();
        Dns::with_servers(&servers, opts.timeout)
    }

    /// Ask exactly these servers; `timeout` bounds each question as a whole.
    pub fn with_servers(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, String> {
        if servers.is_empty() {
            return Err("resolver: no name servers".into());
        }
        Ok(Dns {
            servers: servers.into(),
            timeout,
            first_retry: FIRST_RETRY.min(timeout / 4),
            rtt: Some(Arc::default()),
            cache: Arc::default(),
        })
    }

    /// The same resolver with a fixed first-resend interval
    /// (`confMXGATE_DNS_RETRY`), not adapted to the measured round trip.
    pub fn with_first_retry(mut self, first_retry: Duration) -> Dns {
        self.first_retry = first_retry.max(Duration::from_millis(10));
        self.rtt = None;
        self
    }

    /// How long before an unanswered question is first sent again, now.
    pub fn first_retry(&self) -> Duration {
        match &self.rtt {
            Some(rtt) => rtt
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retry(self.first_retry),
            None => self.first_retry,
        }
    }

    async fn ask(&self, name: &str, rtype: RecordType) -> Result<exchange::Response, String> {
        let key = (fqdn(name).to_ascii_lowercase(), rtype);
        if let Some(r) = self.cache.get(&key) {
            return Ok(r);
        }
        let qname = Name::from_ascii(fqdn(name)).map_err(|e| format!("{name}: {e}"))?;
        let r = exchange::ask(
            &self.servers,
            &qname,
            rtype,
            exchange::Schedule {
                first_retry: self.first_retry(),
                total: self.timeout,
            },
        )
        .await;
        if let (
            Some(rtt),
            Ok(exchange::Response {
                rtt: Some(took), ..
            }),
        ) = (&self.rtt, &r)
        {
            rtt.lock().unwrap_or_else(|p| p.into_inner()).sample(*took);
        }
        if let Ok(answer) = &r {
            self.cache.put(key, answer);
        }
        r
    }

    /// PTR names of `ip`, without trailing dots.
    pub async fn ptr(&self, ip: IpAddr) -> Answer<Vec<String>> {
        // RFC 6761 §6.3: loopback addresses are "localhost", never asked.
        if ip.is_loopback() {
            return Answer::Found(vec!["localhost".into()]);
        }
        collect(
            self.ask(&reverse_name(ip), RecordType::PTR).await,
            |r| match r {
                RData::PTR(p) => Some(trim_dot(&p.0.to_string())),
                _ => None,
            },
        )
    }

    /// A records of `name` (a DNSBL query such as `10.2.0.192.bl.example.org`).
    pub async fn a(&self, name: &str) -> Answer<Vec<Ipv4Addr>> {
        if is_localhost(name) {
            return Answer::Found(vec![Ipv4Addr::LOCALHOST]);
        }
        collect(self.ask(name, RecordType::A).await, |r| match r {
            RData::A(a) => Some(a.0),
            _ => None,
        })
    }

    /// AAAA records of `name`.
    pub async fn aaaa(&self, name: &str) -> Answer<Vec<Ipv6Addr>> {
        if is_localhost(name) {
            return Answer::Found(vec![Ipv6Addr::LOCALHOST]);
        }
        collect(self.ask(name, RecordType::AAAA).await, |r| match r {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
    }

    /// MX records of `domain` as (preference, exchange without trailing dot).
    pub async fn mx(&self, domain: &str) -> Answer<Vec<(u16, String)>> {
        collect(self.ask(domain, RecordType::MX).await, |r| match r {
            RData::MX(mx) => Some((mx.preference, trim_dot(&mx.exchange.to_string()))),
            _ => None,
        })
    }

    /// Does `domain` resolve at all (MX, A or AAAA)? Used for the sender-domain check.
    pub async fn domain_exists(&self, domain: &str) -> Answer<()> {
        match self.mx(domain).await {
            Answer::Found(_) => return Answer::Found(()),
            Answer::TempFail(e) => return Answer::TempFail(e),
            Answer::NotFound(NotFound::NoSuchName) => {
                return Answer::NotFound(NotFound::NoSuchName);
            }
            Answer::NotFound(NotFound::NoRecords) => {}
        }
        // A and AAAA asked at once.
        let (a, aaaa) = futures_lite::future::zip(self.a(domain), self.aaaa(domain)).await;
        match (a, aaaa) {
            (Answer::Found(_), _) | (_, Answer::Found(_)) => Answer::Found(()),
            (Answer::TempFail(e), _) | (_, Answer::TempFail(e)) => Answer::TempFail(e),
            (Answer::NotFound(_), Answer::NotFound(n)) => Answer::NotFound(n),
        }
    }
}

fn is_localhost(name: &str) -> bool {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    n == "localhost" || n.ends_with(".localhost")
}

fn collect<T>(
    result: Result<exchange::Response, String>,
    pick: impl Fn(&RData) -> Option<T>,
) -> Answer<Vec<T>> {
    match result {
        Ok(r) if r.code == ResponseCode::NXDomain => Answer::NotFound(NotFound::NoSuchName),
        Ok(r) if r.code == ResponseCode::NoError => {
            let found: Vec<T> = r.records.iter().filter_map(&pick).collect();
            if found.is_empty() {
                Answer::NotFound(NotFound::NoRecords)
            } else {
                Answer::Found(found)
            }
        }
        Ok(r) => Answer::TempFail(format!("server answered {}", r.code)),
        Err(e) => Answer::TempFail(e),
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn trim_dot(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// `192.0.2.10` → `10.2.0.192.in-addr.arpa.`; IPv6 nibbles under `ip6.arpa.`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s += &format!("{:x}.{:x}.", b & 0xf, b >> 4);
            }
            s + "ip6.arpa."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6298's estimator: 250 ms until an answer is timed, then
    /// `srtt + 4 * rttvar` within [MIN_RETRY, FIRST_RETRY]; a fixed
    /// `confMXGATE_DNS_RETRY` does not adapt.
    #[test]
    fn the_first_resend_follows_the_measured_round_trip() {
        let mut r = Rtt::default();
        assert_eq!(r.retry(FIRST_RETRY), FIRST_RETRY);
        r.sample(Duration::from_micros(200));
        assert_eq!(r.retry(FIRST_RETRY), MIN_RETRY, "a loopback resolver");
        for _ in 0..50 {
            r.sample(Duration::from_millis(30));
        }
        let t = r.retry(FIRST_RETRY);
        assert!(
            t > Duration::from_millis(29) && t < Duration::from_millis(40),
            "{t:?}"
        );
        for _ in 0..50 {
            r.sample(Duration::from_secs(2));
        }
        assert_eq!(
            r.retry(FIRST_RETRY),
            FIRST_RETRY,
            "never later than the cap"
        );
        let dns =
            Dns::with_servers(&["127.0.0.1:53".parse().unwrap()], Duration::from_secs(5)).unwrap();
        assert_eq!(dns.first_retry(), FIRST_RETRY);
        let fixed = dns.with_first_retry(Duration::from_millis(100));
        assert_eq!(fixed.first_retry(), Duration::from_millis(100));
        assert!(fixed.rtt.is_none());
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.10".parse().unwrap()),
            "10.2.0.192.in-addr.arpa."
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."));
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa."));
    }

    #[test]
    fn a_server_that_does_not_answer_is_a_temporary_failure() {
        // A UDP socket that never answers: the lookup must time out as TempFail,
        // never as "not found".
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let dns = Dns::with_servers(&[addr], Duration::from_millis(300)).unwrap();
        let answer = smol::block_on(dns.a("2.0.0.127.bl.example.org"));
        assert!(matches!(answer, Answer::TempFail(_)), "{answer:?}");
    }
}
