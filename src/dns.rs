//! DNS on smol: hickory-resolver driven by a small runtime provider of our own.
//!
//! Contract: [`Dns`] answers the questions the gateway asks — PTR for a
//! client, A records of a DNSBL query name, A/AAAA of a host, MX of a
//! domain — as [`Answer`]s with three outcomes: found, does not exist
//! (NXDOMAIN or no records of that type), or temporary failure (timeout,
//! SERVFAIL, no server). A temporary failure is never reported as "not
//! found". The runtime provider ([`SmolRuntime`]) does UDP and TCP with
//! `async-io` and timers with `async_io::Timer`, so no tokio is involved.

use async_io::{Async, Timer};
use async_trait::async_trait;
use futures_io::{AsyncRead, AsyncWrite};
use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::{DnsTcpStream, DnsUdpSocket, RuntimeProvider, Spawn, Time};
use hickory_resolver::proto::rr::RData;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

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

/// Why nothing was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The name exists without records of this type (NODATA).
    NoRecords,
}

/// The resolver the daemon and the delivery agent share.
#[derive(Clone)]
pub struct Dns {
    resolver: Resolver<SmolRuntime>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// The system's resolver configuration (`/etc/resolv.conf`).
    pub fn system() -> Result<Dns, String> {
        let resolver = Resolver::builder(SmolRuntime)
            .map_err(|e| format!("resolver configuration: {e}"))?
            .build()
            .map_err(|e| format!("resolver: {e}"))?;
        Ok(Dns { resolver })
    }

    /// Ask exactly these servers (tests start `nsd` on a loopback port).
    pub fn with_servers(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, String> {
        let name_servers = servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        // A lost datagram is asked again once, as glibc's default
        // (`options attempts:2`), rather than failing the check at once.
        opts.attempts = 2;
        opts.ndots = 0;
        // The hosts file is the site's business (service switch), not the resolver's.
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            SmolRuntime,
        )
        .with_options(opts)
        .build()
        .map_err(|e| format!("resolver: {e}"))?;
        Ok(Dns { resolver })
    }

    /// PTR names of `ip`, without trailing dots.
    pub async fn ptr(&self, ip: IpAddr) -> Answer<Vec<String>> {
        let name = reverse_name(ip);
        collect(
            self.resolver.reverse_lookup(name.as_str()).await,
            |r| match r {
                RData::PTR(p) => Some(trim_dot(&p.0.to_string())),
                _ => None,
            },
        )
    }

    /// A records of `name` (a DNSBL query such as `10.2.0.192.bl.example.org`).
    pub async fn a(&self, name: &str) -> Answer<Vec<Ipv4Addr>> {
        collect(
            self.resolver.ipv4_lookup(fqdn(name).as_str()).await,
            |r| match r {
                RData::A(a) => Some(a.0),
                _ => None,
            },
        )
    }

    /// AAAA records of `name`.
    pub async fn aaaa(&self, name: &str) -> Answer<Vec<std::net::Ipv6Addr>> {
        collect(
            self.resolver.ipv6_lookup(fqdn(name).as_str()).await,
            |r| match r {
                RData::AAAA(a) => Some(a.0),
                _ => None,
            },
        )
    }

    /// MX records of `domain` as (preference, exchange without trailing dot).
    pub async fn mx(&self, domain: &str) -> Answer<Vec<(u16, String)>> {
        collect(
            self.resolver.mx_lookup(fqdn(domain).as_str()).await,
            |r| match r {
                RData::MX(mx) => Some((mx.preference, trim_dot(&mx.exchange.to_string()))),
                _ => None,
            },
        )
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
        match self.a(domain).await {
            Answer::Found(_) => Answer::Found(()),
            Answer::TempFail(e) => Answer::TempFail(e),
            Answer::NotFound(_) => match self.aaaa(domain).await {
                Answer::Found(_) => Answer::Found(()),
                Answer::TempFail(e) => Answer::TempFail(e),
                Answer::NotFound(n) => Answer::NotFound(n),
            },
        }
    }
}

fn collect<T>(
    result: Result<hickory_resolver::lookup::Lookup, NetError>,
    pick: impl Fn(&RData) -> Option<T>,
) -> Answer<Vec<T>> {
    match result {
        Ok(lookup) => {
            let found: Vec<T> = lookup
                .answers()
                .iter()
                .filter_map(|r| pick(&r.data))
                .collect();
            if found.is_empty() {
                Answer::NotFound(NotFound::NoRecords)
            } else {
                Answer::Found(found)
            }
        }
        Err(e) if e.is_nx_domain() => Answer::NotFound(NotFound::NoSuchName),
        Err(e) if e.is_no_records_found() => Answer::NotFound(NotFound::NoRecords),
        Err(e) => Answer::TempFail(e.to_string()),
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

/// The runtime provider: smol's executor, async-io sockets and timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolRuntime;

/// Spawns hickory's background tasks on smol's global executor.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolHandle;

impl Spawn for SmolHandle {
    fn spawn_bg(&mut self, future: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(future).detach();
    }
}

/// Timers from `async_io`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolTime;

#[async_trait]
impl Time for SmolTime {
    async fn delay_for(duration: Duration) {
        Timer::after(duration).await;
    }

    async fn timeout<F: 'static + Future + Send>(
        duration: Duration,
        future: F,
    ) -> Result<F::Output, io::Error> {
        futures_lite::future::or(async { Ok(future.await) }, async {
            Timer::after(duration).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "DNS timeout"))
        })
        .await
    }
}

/// A UDP socket for hickory.
#[derive(Debug)]
pub struct SmolUdp(Async<UdpSocket>);

impl DnsUdpSocket for SmolUdp {
    type Time = SmolTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            match self.0.get_ref().recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match self.0.poll_readable(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.0.get_ref().send_to(buf, target) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match self.0.poll_writable(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
                other => return Poll::Ready(other),
            }
        }
    }
}

/// A TCP stream for hickory.
#[derive(Debug)]
pub struct SmolTcp(Async<TcpStream>);

impl AsyncRead for SmolTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SmolTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl DnsTcpStream for SmolTcp {
    type Time = SmolTime;
}

impl RuntimeProvider for SmolRuntime {
    type Handle = SmolHandle;
    type Timer = SmolTime;
    type Udp = SmolUdp;
    type Tcp = SmolTcp;

    fn create_handle(&self) -> Self::Handle {
        SmolHandle
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Tcp, io::Error>>>> {
        Box::pin(async move {
            if bind_addr.is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "binding DNS TCP connections to a source address is not supported",
                ));
            }
            let wait = timeout.unwrap_or(Duration::from_secs(5));
            let connect = Async::<TcpStream>::connect(server_addr);
            let stream = SmolTime::timeout(wait, connect).await??;
            stream.get_ref().set_nodelay(true)?;
            Ok(SmolTcp(stream))
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Udp, io::Error>>>> {
        Box::pin(async move { Ok(SmolUdp(Async::<UdpSocket>::bind(local_addr)?)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
