//! The `Received:` header and RFC 5322 dates.
//!
//! Contract: [`received`] builds the trace header in sendmail's layout
//! (`from HELO (NAME [IP]) ... by $j (mxgate/VERSION) with PROTO id QID ...
//! for <rcpt>; DATE`), [`rfc5322_date`] the date form used in it and in
//! headers the MSA adds.
//!
//! The HELO name is checked when the command is parsed (only letters, digits
//! and `[].-_#:` get through); as a second line of defence any control
//! character in the names recorded here is written `?`, so nothing a client
//! or a PTR record says can end the header early.

/// What the trace header records.
#[derive(Debug, Clone, Default)]
pub struct Trace<'a> {
    /// HELO/EHLO argument.
    pub helo: &'a str,
    /// `${client_name}` (PTR name or `[ip]`).
    pub client_name: &'a str,
    /// Client address as text (`192.0.2.1`, `IPv6:2001:db8::1`).
    pub client_addr: &'a str,
    /// `(may be forged)` when the name did not confirm.
    pub forged: bool,
    /// `$j`.
    pub by: &'a str,
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA`.
    pub proto: &'a str,
    /// Queue id.
    pub id: &'a str,
    /// TLS version, cipher and `${verify}`, if any.
    pub tls: Option<(&'a str, &'a str, &'a str)>,
    /// The mechanism the client authenticated with, if any.
    pub auth: Option<&'a str>,
    /// The recipient when there is exactly one.
    pub for_rcpt: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: u64,
}

/// The header, folded like sendmail's, ending in CRLF.
pub fn received(t: &Trace<'_>) -> String {
    let mut h = format!("Received: from {} (", no_controls(t.helo));
    if t.client_name.is_empty() || t.client_name.starts_with('[') {
        h += &format!("[{}]", t.client_addr);
    } else {
        h += &format!("{} [{}]", no_controls(t.client_name), t.client_addr);
    }
    if t.forged {
        h += " (may be forged)";
    }
    h += ")\r\n";
    if let Some(mech) = t.auth {
        h += &format!("\t(authenticated as mechanism {mech})\r\n");
    }
    h += &format!(
        "\tby {} (mxgate/{}) with {} id {}",
        t.by,
        env!("CARGO_PKG_VERSION"),
        t.proto,
        t.id
    );
    if let Some((version, cipher, verify)) = t.tls {
        h += &format!("\r\n\t(version={version} cipher={cipher} verify={verify})");
    }
    if let Some(r) = t.for_rcpt {
        h += &format!("\r\n\tfor {r}");
    }
    h += &format!("; {}\r\n", rfc5322_date(t.now));
    h
}

/// `s` with every control character replaced by `?`.
fn no_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `Tue, 24 Nov 2026 00:30:13 +0000`.
pub fn rfc5322_date(secs: u64) -> String {
    crate::spool::ids::rfc5322_date(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_and_header() {
        assert_eq!(
            rfc5322_date(1_795_480_213),
            "Tue, 24 Nov 2026 00:30:13 +0000"
        );
        let h = received(&Trace {
            helo: "client.test",
            client_name: "ptr.example",
            client_addr: "192.0.2.1",
            by: "gw.example.com",
            proto: "ESMTPS",
            id: "6AO0UD000007581",
            tls: Some(("TLSv1.3", "TLS13_AES_256_GCM_SHA384", "NO")),
            for_rcpt: Some("<u@relayto.org>"),
            now: 1_795_480_213,
            ..Default::default()
        });
        assert!(h.starts_with(
            "Received: from client.test (ptr.example [192.0.2.1])\r\n\tby gw.example.com (mxgate/"
        ));
        assert!(h.contains(" with ESMTPS id 6AO0UD000007581\r\n\t(version=TLSv1.3"));
        assert!(h.ends_with("for <u@relayto.org>; Tue, 24 Nov 2026 00:30:13 +0000\r\n"));
    }

    #[test]
    fn control_characters_never_reach_the_header() {
        let h = received(&Trace {
            helo: "evil\r\nX-Injected: yes\0",
            client_name: "ptr\r\nname",
            client_addr: "192.0.2.1",
            by: "gw.example.com",
            proto: "ESMTP",
            id: "6AO0UD000007581",
            now: 1_795_480_213,
            ..Default::default()
        });
        assert!(
            h.starts_with("Received: from evil??X-Injected: yes? (ptr??name [192.0.2.1])\r\n"),
            "{h}"
        );
        assert_eq!(h.matches("\r\n").count(), 2, "{h}");
    }
}
