//! A connection that is plain TCP or TLS, and can turn from one into the other.

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use futures_rustls::rustls::ServerConfig;
use std::io;
use std::sync::Arc;

/// The client connection.
pub enum Stream {
    /// Plain TCP.
    Plain(async_net::TcpStream),
    /// TLS over TCP (after STARTTLS, or from the start on an SMTPS port).
    Tls(Box<futures_rustls::server::TlsStream<async_net::TcpStream>>),
    /// A Unix-domain socket (`Family=local`).
    Unix(async_net::unix::UnixStream),
    /// Standard input and output (`sendmail -bs`).
    Stdio {
        /// Commands and message data.
        input: blocking::Unblock<std::io::Stdin>,
        /// Replies.
        output: blocking::Unblock<std::io::Stdout>,
    },
}

/// What the TLS handshake agreed on, for `Received:` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// Cipher suite name.
    pub cipher: String,
    /// The client's certificate (`${verify}`, `${cert_issuer}`, `${cert_subject}`).
    pub peer: crate::tls::PeerCert,
}

impl Stream {
    /// This process's standard input and output.
    pub fn stdio() -> Stream {
        Stream::Stdio {
            input: blocking::Unblock::new(std::io::stdin()),
            output: blocking::Unblock::new(std::io::stdout()),
        }
    }

    /// Read some bytes.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Stdio { input, .. } => input.read(buf).await,
        }
    }

    /// Write everything and flush.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Stream::Unix(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Stream::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Stream::Stdio { output, .. } => {
                output.write_all(data).await?;
                output.flush().await
            }
        }
    }

    /// Run the server side of a TLS handshake over a plain stream.
    pub async fn into_tls(self, config: Arc<ServerConfig>) -> io::Result<Stream> {
        match self {
            Stream::Plain(tcp) => {
                let tls = TlsAcceptor::from(config).accept(tcp).await?;
                Ok(Stream::Tls(Box::new(tls)))
            }
            Stream::Tls(_) => Err(io::Error::other("TLS is already active")),
            Stream::Stdio { .. } => Err(io::Error::other("no TLS on standard input")),
            Stream::Unix(_) => Err(io::Error::other("no TLS on a Unix-domain socket")),
        }
    }

    /// Protocol details when TLS is active.
    /// The TLS facts of this connection; `server`: the TLS it was accepted
    /// with (judges the client's certificate).
    pub fn tls_info(&self, server: Option<&crate::tls::ServerTls>) -> Option<TlsInfo> {
        match self {
            Stream::Plain(_) | Stream::Unix(_) | Stream::Stdio { .. } => None,
            Stream::Tls(s) => {
                let (_, conn) = s.get_ref();
                let version = match conn.protocol_version() {
                    Some(futures_rustls::rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
                    Some(futures_rustls::rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
                    Some(v) => format!("{v:?}"),
                    None => "unknown".into(),
                };
                let cipher = conn
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()))
                    .unwrap_or_default();
                let peer =
                    server.map_or_else(crate::tls::PeerCert::not_asked, |t| t.peer_cert(conn));
                Some(TlsInfo {
                    version,
                    cipher,
                    peer,
                })
            }
        }
    }

    /// Close the write side (best effort).
    pub async fn close(&mut self) {
        let _ = match self {
            Stream::Plain(s) => s.close().await,
            Stream::Unix(s) => s.close().await,
            Stream::Tls(s) => s.close().await,
            Stream::Stdio { output, .. } => output.flush().await,
        };
    }
}
