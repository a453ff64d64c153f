//! Dovecot's authentication protocol (the `auth-client` socket), client side.
//!
//! Contract: [`authenticate`] opens the socket, does the version handshake,
//! sends one `AUTH` request for PLAIN credentials and returns
//! [`Outcome::Ok`], [`Outcome::Fail`], or an error (the socket is missing
//! or Dovecot misbehaves: the SMTP side answers `454 4.7.0` and the client
//! may retry). The protocol is line-based, fields separated by TABs
//! (Dovecot's `doc/auth-protocol.txt`). The request is marked `secured`:
//! the daemon offers AUTH only inside TLS, so Dovecot's
//! `disable_plaintext_auth` does not refuse it.

use super::Credentials;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_lite::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use std::path::Path;
use std::time::Duration;

/// The answer to one authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated as this user (Dovecot's `user=` field, or the name given).
    Ok(String),
    /// Wrong credentials.
    Fail,
}

/// Ask Dovecot at `socket` (e.g. `/var/spool/postfix/private/auth`).
pub async fn authenticate(
    socket: &Path,
    creds: &Credentials,
    client_ip: Option<std::net::IpAddr>,
    timeout: Duration,
) -> Result<Outcome, String> {
    let work = exchange(socket, creds, client_ip);
    futures_lite::future::or(work, async {
        async_io::Timer::after(timeout).await;
        Err(format!(
            "{}: no answer within {timeout:?}",
            socket.display()
        ))
    })
    .await
}

async fn exchange(
    socket: &Path,
    creds: &Credentials,
    client_ip: Option<std::net::IpAddr>,
) -> Result<Outcome, String> {
    let err = |e: std::io::Error| format!("{}: {e}", socket.display());
    let stream = async_net::unix::UnixStream::connect(socket)
        .await
        .map_err(err)?;
    let mut writer = stream.clone();
    let mut reader = BufReader::new(stream);
    let hello = format!("VERSION\t1\t2\nCPID\t{}\n", std::process::id());
    writer.write_all(hello.as_bytes()).await.map_err(err)?;
    // Server handshake: VERSION, MECH..., SPID, CUID, COOKIE, DONE.
    let mut line = String::new();
    let mut plain_offered = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await.map_err(err)? == 0 {
            return Err(format!("{}: closed during handshake", socket.display()));
        }
        let mut f = line.trim_end().split('\t');
        match f.next() {
            Some("VERSION") if f.next() != Some("1") => {
                return Err(format!(
                    "{}: unsupported protocol {line:?}",
                    socket.display()
                ));
            }
            Some("MECH") if f.next().is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) => {
                plain_offered = true
            }
            Some("DONE") => break,
            _ => {}
        }
    }
    if !plain_offered {
        return Err(format!("{}: PLAIN is not offered", socket.display()));
    }
    let resp = B64.encode(format!("\0{}\0{}", creds.user, creds.password));
    // `resp=` must be the last parameter (Dovecot refuses anything after it).
    let mut req = "AUTH\t1\tPLAIN\tservice=smtp\tsecured\tnologin".to_string();
    if let Some(ip) = client_ip {
        req += &format!("\trip={ip}");
    }
    req += &format!("\tresp={resp}\n");
    writer.write_all(req.as_bytes()).await.map_err(err)?;
    line.clear();
    if reader.read_line(&mut line).await.map_err(err)? == 0 {
        return Err(format!("{}: closed before answering", socket.display()));
    }
    let mut f = line.trim_end().split('\t');
    match (f.next(), f.next()) {
        (Some("OK"), Some("1")) => {
            let user = f
                .find_map(|x| x.strip_prefix("user="))
                .unwrap_or(&creds.user)
                .to_string();
            Ok(Outcome::Ok(user))
        }
        (Some("FAIL"), Some("1")) => Ok(Outcome::Fail),
        _ => Err(format!("{}: unexpected answer {line:?}", socket.display())),
    }
}
