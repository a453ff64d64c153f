//! `CLIENT_OPTIONS` (sendmail's `ClientPortOptions`) applied: outgoing
//! connections bound to the configured source address and port, with the
//! configured socket buffers.
//!
//! Contract: the options are parsed and checked with the configuration
//! ([`crate::config::ClientOptions::of`]; `Addr`, `Port`, `SendSize`,
//! `ReceiveSize` per family, `M=A` no AUTH, `M=S` no STARTTLS, `M=h`
//! warned by the compiler); [`connect`] opens a TCP connection with the
//! options of the target's family.

pub use crate::config::{ClientOptions, FamilyOptions};
use std::io;
use std::net::{IpAddr, SocketAddr};

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
