//! `CLIENT_OPTIONS` (sendmail's `ClientPortOptions`) applied: outgoing
//! connections bound to the configured source address and port, with the
//! configured socket buffers.
//!
//! Contract: the options are parsed and checked with the configuration
//! ([`crate::config::ClientOptions::of`]; `Addr`, `Port`, `SendSize`,
//! `ReceiveSize` per family, `M=A` no AUTH, `M=S` no STARTTLS, `M=h` HELO
//! with the interface's name); [`connect`] opens a TCP connection with the
//! options of the target's family; [`interface_helo_name`] is the `M=h`
//! name.

pub use crate::config::{ClientOptions, FamilyOptions};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// The HELO/EHLO name for a connection to `to` under `M=h` (sendmail's
/// ClientPortOptions `h`): the name of the outgoing interface's address —
/// the configured `Addr=`, else the address the kernel would choose for
/// `to` (found with an unconnected-UDP `connect`, which sends nothing) —
/// from the hosts file or a PTR lookup; `None` (keep `$j`) when it has no
/// name, or the name starts with `[` or has no dot (sendmail's test that it
/// is a qualified host name, not an address).
pub async fn interface_helo_name(
    site: &crate::site::Site,
    dns: &crate::dns::Dns,
    opts: &FamilyOptions,
    to: SocketAddr,
) -> Option<String> {
    use crate::site::ReverseAnswer;
    let ip = match opts.addr {
        Some(ip) => ip,
        None => {
            let any: SocketAddr = match to {
                SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let probe = std::net::UdpSocket::bind(any).ok()?;
            probe.connect(to).ok()?;
            probe.local_addr().ok()?.ip()
        }
    };
    let name = match site.reverse_lookup(&ip) {
        ReverseAnswer::Found(n) => n,
        ReverseAnswer::NotFound => return None,
        ReverseAnswer::AskDns => match dns.ptr(ip).await {
            crate::dns::Answer::Found(names) => names.into_iter().next()?,
            _ => return None,
        },
    };
    let name = name.trim_end_matches('.').to_string();
    (!name.starts_with('[') && name.contains('.')).then_some(name)
}

/// Open a TCP connection to `to` with `opts` (source address and port,
/// buffer sizes); without any, a plain connect.
pub async fn connect(to: SocketAddr, opts: &FamilyOptions) -> io::Result<async_net::TcpStream> {
    if !opts.binds() {
        return async_net::TcpStream::connect(to).await;
    }
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    if let Some(n) = opts.send_size {
        sock.set_send_buffer_size(n)?;
    }
    if let Some(n) = opts.receive_size {
        sock.set_recv_buffer_size(n)?;
    }
    if opts.addr.is_some() || opts.port.is_some() {
        let ip = opts.addr.unwrap_or(match to {
            SocketAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        });
        if opts.port.is_some() {
            sock.set_reuse_address(true)?;
        }
        sock.bind(&SocketAddr::new(ip, opts.port.unwrap_or(0)).into())?;
    }
    sock.set_nonblocking(true)?;
    match sock.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = async_io::Async::new(std::net::TcpStream::from(sock))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    Ok(async_net::TcpStream::from(stream))
}
