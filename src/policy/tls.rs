//! TLS policy from the access table: sendmail's `tls_server`, `tls_rcpt`,
//! `tls_client` and `try_tls` rulesets (`TLS_Srv:`, `TLS_Rcpt:`,
//! `TLS_Clt:`, `Try_TLS:` entries).
//!
//! Contract: the caller gives what the TLS layer found as [`TlsFacts`]
//! (sendmail's `${verify}`, `${cipher_bits}`, whether the peer's certificate
//! is valid for a name); these functions look the requirement up and judge
//! it, without I/O. A requirement is
//! `[PERM+|TEMP+](VERIFY[:bits]|ENCR:bits)[+EXT[++EXT...]]`, an `EXT`
//! being `CN[:name]`, `CS:subject`, `CI:issuer` or `CITag:tag`; any other
//! value accepts. A failed
//! requirement is `454 4.7.0` (`403 4.7.0` with `TEMP+`, `503 5.7.0` with
//! `PERM+`) with sendmail's words, checked on sendmail 8.17 `-bt`
//! (`tests/policy.rs`). `CS:` and `CI:` compare `${cert_subject}` and
//! `${cert_issuer}` (xtext, as the log shows them); `CITag:tag` needs an
//! access entry `tag:<issuer>` whose value is `OK` (proto.m4's TLS_req).

use super::access::{AccessDb, Item, Mode};
use super::{Because, Client, Reply, Verdict};
use crate::site::Site;
use std::net::IpAddr;

/// sendmail's `${verify}`: what became of the peer's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Verified against the trust anchors (`OK`).
    Ok,
    /// Presented and not verified (`FAIL`).
    Fail,
    /// No certificate was presented (`NO`).
    No,
    /// No certificate was asked for (`NOT`): our server does not request
    /// client certificates.
    Not,
    /// The other side did not offer STARTTLS (`NONE`).
    None,
    /// STARTTLS was not tried: `Try_TLS:` NO or `M=S` (`CLEAR`).
    Clear,
    /// No STARTTLS in this session (`${verify}` empty; inbound).
    Unset,
}

impl Verify {
    /// The macro's value as sendmail writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verify::Ok => "OK",
            Verify::Fail => "FAIL",
            Verify::No => "NO",
            Verify::Not => "NOT",
            Verify::None => "NONE",
            Verify::Clear => "CLEAR",
            Verify::Unset => "",
        }
    }
}

/// What a client's certificate turned out to be (sendmail's `${verify}`,
/// `${cert_issuer}`, `${cert_subject}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// `OK` (verified against the trust anchors), `FAIL`, `NO` (none
    /// presented), `NOT` (none asked for).
    pub verify: Verify,
    /// The issuer's name, OpenSSL's one-line form, xtext-encoded
    /// (`/C=DE/O=Example/CN=Example+20CA`); empty without a certificate.
    pub issuer: String,
    /// The subject's name, the same way.
    pub subject: String,
    /// The issuer's common name (`${cn_issuer}`), xtext-encoded.
    pub cn_issuer: String,
    /// The subject's common name (`${cn_subject}`), what `+CN` compares.
    pub cn_subject: String,
}

impl PeerCert {
    /// No certificate was asked for.
    pub fn not_asked() -> PeerCert {
        PeerCert::without(Verify::Not)
    }

    /// No certificate to show: `verify` says why.
    pub fn without(verify: Verify) -> PeerCert {
        PeerCert {
            verify,
            issuer: String::new(),
            subject: String::new(),
            cn_issuer: String::new(),
            cn_subject: String::new(),
        }
    }
}

/// What the TLS layer found about a connection.
pub struct TlsFacts<'a> {
    /// `${verify}`.
    pub verify: Verify,
    /// `${cipher_bits}` (0 without TLS).
    pub bits: u32,
    /// `${TLS_Name}`: the other side's name (server host name outbound,
    /// client name inbound); what a bare `+CN` is compared with.
    pub name: &'a str,
    /// Is the peer's certificate valid for this host name? (sendmail
    /// compares `${cn_subject}`; we ask the certificate's names, as current
    /// TLS clients do.)
    pub valid_for: &'a dyn Fn(&str) -> bool,
    /// `${cert_subject}` (empty: no certificate).
    pub subject: &'a str,
    /// `${cert_issuer}`.
    pub issuer: &'a str,
}

/// `tls_server`: is the connection to the server at `host`/`addr` good
/// enough? `TLS_Srv:` on the host name (walking to parent domains), then
/// the address, then the bare `TLS_Srv:` default.
pub fn tls_server(site: &Site, host: &str, addr: Option<IpAddr>, facts: &TlsFacts<'_>) -> Verdict {
    judge_lookup(site, "TLS_Srv", Some(host), addr, facts)
}

/// `tls_client`: is the connection from `client` good enough for MAIL?
/// `TLS_Clt:` on `${client_name}`, `${client_addr}`, then the default.
pub fn tls_client(site: &Site, client: &Client, facts: &TlsFacts<'_>) -> Verdict {
    let name =
        (!client.name.is_empty() && !client.name.starts_with('[')).then_some(client.name.as_str());
    judge_lookup(site, "TLS_Clt", name, client.addr, facts)
}

/// `tls_rcpt`: may the message go to `local@domain` over this connection?
/// `TLS_Rcpt:` on the full address, `local@`, the domain (and its
/// parents), then the default.
pub fn tls_rcpt(site: &Site, local: &str, domain: &str, facts: &TlsFacts<'_>) -> Verdict {
    let Some(db) = AccessDb::of(site) else {
        return Verdict::cont("no access table: no TLS_Rcpt: requirement");
    };
    let domain = domain.trim_end_matches('.');
    let items = [
        Item::Full(local, domain),
        Item::User(local),
        Item::Domain(domain),
    ];
    let found = match db.search("TLS_Rcpt", &items, Mode::TagOnly) {
        Ok(None) => db.exact("TLS_Rcpt", "", Mode::TagOnly),
        other => other,
    };
    match found {
        Err(e) => Verdict::table_error("access", &e),
        Ok(None) => Verdict::cont("no TLS_Rcpt: entry"),
        Ok(Some(hit)) => judge(site, &hit.value, facts, hit.because()),
    }
}

/// `try_tls`: may STARTTLS be tried with the server at `host`/`addr`?
/// `Try_TLS:` on the host name, the address, then the default; `NO`
/// (any case) says no. A table failure says yes (TLS is never the less
/// safe choice).
pub fn try_tls(site: &Site, host: &str, addr: Option<IpAddr>) -> bool {
    match lookup(site, "Try_TLS", Some(host), addr) {
        Ok(Some((value, _))) => !value.trim().eq_ignore_ascii_case("NO"),
        _ => true,
    }
}

/// Look `tag` up on a host name (domain walk), an address, then the bare
/// default key.
pub(super) fn lookup(
    site: &Site,
    tag: &str,
    host: Option<&str>,
    addr: Option<IpAddr>,
) -> Result<Option<(String, Because)>, crate::table::Error> {
    let Some(db) = AccessDb::of(site) else {
        return Ok(None);
    };
    let mut found = match host {
        Some(h) if !h.is_empty() => db.domain(tag, h.trim_end_matches('.'), Mode::TagOnly)?,
        _ => None,
    };
    if found.is_none()
        && let Some(ip) = addr
    {
        found = db.address(tag, &ip, Mode::TagOnly)?;
    }
    if found.is_none() {
        found = db.exact(tag, "", Mode::TagOnly)?;
    }
    Ok(found.map(|h| (h.value.clone(), h.because())))
}

fn judge_lookup(
    site: &Site,
    tag: &str,
    host: Option<&str>,
    addr: Option<IpAddr>,
    facts: &TlsFacts<'_>,
) -> Verdict {
    match lookup(site, tag, host, addr) {
        Err(e) => Verdict::table_error("access", &e),
        Ok(None) => Verdict::cont(format!("no {tag}: entry")),
        Ok(Some((value, why))) => judge(site, &value, facts, why),
    }
}

/// A parsed requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    code: u16,
    status: &'static str,
    verify: bool,
    bits: u32,
    extensions: Vec<String>,
}

/// Parse an access value as a TLS requirement; `None` = not one (accept).
fn requirement(value: &str) -> Option<Requirement> {
    let v = value.trim();
    let (code, status, rest) = if let Some(r) = strip_word(v, "PERM+") {
        (503, "5.7.0", r)
    } else if let Some(r) = strip_word(v, "TEMP+") {
        (403, "4.7.0", r)
    } else {
        (454, "4.7.0", v)
    };
    let (head, ext) = match rest.split_once('+') {
        Some((h, e)) => (h.trim(), Some(e.trim())),
        None => (rest.trim(), None),
    };
    let (word, bits) = match head.split_once(':') {
        Some((w, b)) => (w.trim(), Some(b.trim())),
        None => (head, None),
    };
    let bits = match bits {
        Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => b.parse().ok()?,
        Some(_) => return None,
        None => 0,
    };
    let verify = if word.eq_ignore_ascii_case("VERIFY") {
        true
    } else if word.eq_ignore_ascii_case("ENCR") && bits > 0 {
        false
    } else {
        return None;
    };
    let extensions = ext
        .map(|e| {
            e.split("++")
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(Requirement {
        code,
        status,
        verify,
        bits,
        extensions,
    })
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &s[word.len()..])
}

/// sendmail's `TLS_connection` ruleset for one access value.
fn judge(site: &Site, value: &str, facts: &TlsFacts<'_>, why: Because) -> Verdict {
    let Some(req) = requirement(value) else {
        return Verdict::new(super::Action::Continue, why);
    };
    let fail = |text: String| Verdict::refuse(Reply::new(req.code, req.status, &text), why.clone());
    if req.verify && facts.verify != Verify::Ok {
        let text = match facts.verify {
            Verify::Unset => "authentication required",
            Verify::Fail => "authentication failed",
            Verify::No => "not authenticated",
            Verify::Not => "no authentication requested",
            Verify::None => "other side does not support STARTTLS",
            Verify::Clear => "STARTTLS disabled locally",
            Verify::Ok => unreachable!("checked above"),
        };
        return fail(text.to_string());
    }
    if req.bits > 0 && facts.bits < req.bits {
        return fail(format!(
            "encryption too weak {} less than {}",
            facts.bits, req.bits
        ));
    }
    for ext in &req.extensions {
        let (key, arg) = match ext.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (ext.as_str(), None),
        };
        let arg = arg.unwrap_or_default();
        if key.eq_ignore_ascii_case("CN") {
            let name = Some(arg).filter(|a| !a.is_empty()).unwrap_or(facts.name);
            if !(facts.valid_for)(name) {
                return fail(format!("CN does not match {name}"));
            }
        } else if key.eq_ignore_ascii_case("CS") {
            if !arg.eq_ignore_ascii_case(facts.subject) {
                return fail(format!(
                    "Cert Subject {} does not match {arg}",
                    facts.subject
                ));
            }
        } else if key.eq_ignore_ascii_case("CI") {
            if !arg.eq_ignore_ascii_case(facts.issuer) {
                return fail(format!("Cert Issuer {} does not match {arg}", facts.issuer));
            }
        } else if key.eq_ignore_ascii_case("CITag") {
            let ok = !facts.issuer.is_empty()
                && AccessDb::of(site).is_some_and(|db| {
                    matches!(
                        db.exact(arg, facts.issuer, Mode::TagOnly),
                        Ok(Some(hit)) if hit.value.trim().eq_ignore_ascii_case("OK")
                    )
                });
            if !ok {
                return fail(format!("Cert Issuer {} not acceptable", facts.issuer));
            }
        } else {
            return fail(format!("requirement {ext} is not known"));
        }
    }
    Verdict::new(super::Action::Continue, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_parse_as_sendmail_reads_them() {
        let r = requirement("VERIFY").unwrap();
        assert!(r.verify && r.bits == 0 && r.code == 454);
        let r = requirement("PERM+VERIFY:256+CN:mx.example").unwrap();
        assert_eq!((r.code, r.status, r.bits), (503, "5.7.0", 256));
        assert_eq!(r.extensions, ["CN:mx.example"]);
        let r = requirement("TEMP+ENCR:128").unwrap();
        assert_eq!((r.code, r.verify, r.bits), (403, false, 128));
        for other in ["OK", "WHATEVER", "ENCR", "ENCR:x", "VERIFY:"] {
            assert_eq!(requirement(other), None, "{other}");
        }
    }
}
