//! Batch-protocol adapters for the policy stages.
//!
//! Contract: each adapter takes a probe object and returns a decision
//! object, or a one-line error for a malformed probe.
//!
//! Probe fields (all optional where the stage does not need them):
//! `kind` (`connect` | `mail` | `rcpt` | `header` | `body`), `client_addr` (`""` =
//! local submission; default `""`), `client_name` (default `[client_addr]`,
//! or `localhost` for local submission), `client_resolve` (`OK` | `FAIL` |
//! `TEMP` | `FORGED`, default `OK`), `daemon_flags`, `auth_type`, `from`
//! (`<>` = null sender; for `rcpt` it feeds delay_checks), `to`, `line`
//! (header, body), and `dns`: `{"<query name>": ["127.0.0.2"] | "nxdomain" |
//! "tempfail"}` for DNSBL zones and sender domains.
//!
//! Decision: `{"action": "accept"|"reject"|"tempfail"|"discard"|"quarantine",
//! "smtp_code", "enhanced_code", "text", "why"}`; `accept` covers OK, RELAY
//! and "no decision"; codes are null unless reject/tempfail; `text` has no
//! `<addr>... ` prefix; for quarantine it is the reason.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::addr::Address;
use crate::policy::{self, Action, Client, DnsAnswer, Facts, HeaderRules, Resolve, Verdict};
use crate::site::Site;

/// `{"kind":"connect", ...}` → check_relay.
pub fn connect(site: &Site, probe: &Value) -> Result<Value, String> {
    let client = client(probe)?;
    let facts = facts(probe)?;
    Ok(render(&policy::check_relay(site, &facts, &client)))
}

/// `{"kind":"mail", "from": ...}` → check_mail.
pub fn mail(site: &Site, probe: &Value) -> Result<Value, String> {
    let client = client(probe)?;
    let facts = facts(probe)?;
    let from = address(probe, "from")?.ok_or("mail probe needs \"from\"")?;
    Ok(render(&policy::check_mail(site, &facts, &client, &from)))
}

/// `{"kind":"rcpt", "to": ..., "from": ...}` → check_rcpt.
pub fn rcpt(site: &Site, probe: &Value) -> Result<Value, String> {
    let client = client(probe)?;
    let facts = facts(probe)?;
    let to = address(probe, "to")?.ok_or("rcpt probe needs \"to\"")?;
    let from = address(probe, "from")?;
    Ok(render(&policy::check_rcpt(
        site,
        &facts,
        &client,
        from.as_ref(),
        &to,
    )))
}

/// `{"kind":"header", "line": "Subject: ..."}` → the site's header rules
/// (a MIME header, `Content-*` or `MIME-Version`, goes to the
/// mime_header_checks file when there is one, as in the daemon).
pub fn header(site: &Site, probe: &Value) -> Result<Value, String> {
    let line = field(probe, "line")?.ok_or("header probe needs \"line\"")?;
    let name = line
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mime = name.starts_with("content-") || name == "mime-version";
    let file = match (&site.content_checks.mime, mime) {
        (Some(f), true) => Some(f),
        _ => site.header_checks.as_ref(),
    };
    Ok(render(&policy::check_header(&rules(file)?, &line)))
}

/// `{"kind":"body", "line": "..."}` → the site's body_checks rules.
pub fn body(site: &Site, probe: &Value) -> Result<Value, String> {
    let line = field(probe, "line")?.ok_or("body probe needs \"line\"")?;
    let rules = rules(site.content_checks.body.as_ref())?;
    Ok(render(&policy::check_header(&rules, &line)))
}

fn rules(file: Option<&(std::path::PathBuf, String)>) -> Result<HeaderRules, String> {
    match file {
        Some((path, text)) => {
            HeaderRules::parse(&path.display().to_string(), text).map_err(|e| e.to_string())
        }
        None => Ok(HeaderRules::empty()),
    }
}

/// Render a verdict as the decision object.
pub fn render(v: &Verdict) -> Value {
    let why = v.why.to_string();
    let (action, reply, text) = match &v.action {
        Action::Continue | Action::Accept | Action::Relay => ("accept", None, None),
        Action::Discard => ("discard", None, None),
        Action::Quarantine(r) => ("quarantine", None, Some(r.clone())),
        Action::Reject(r) => ("reject", Some(r), Some(shown_text(r))),
        Action::TempFail(r) => ("tempfail", Some(r), Some(shown_text(r))),
    };
    json!({
        "action": action,
        "smtp_code": reply.map(|r| r.code),
        "enhanced_code": reply.map(|r| r.enhanced()),
        "text": text,
        "why": why,
    })
}

/// The reply text, led by what it is about when that is not the address
/// (`ERROR:550 a > b... Unbalanced '>'`).
fn shown_text(r: &crate::policy::Reply) -> String {
    match &r.about {
        Some(a) => format!("{a}... {}", r.text()),
        None => r.text(),
    }
}

fn field(probe: &Value, name: &str) -> Result<Option<String>, String> {
    match probe.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("\"{name}\" must be a string, got {other}")),
    }
}

fn address(probe: &Value, name: &str) -> Result<Option<Address>, String> {
    match field(probe, name)? {
        None => Ok(None),
        Some(s) => {
            let s = s.trim();
            let s = if s.is_empty() {
                "<>".to_string()
            } else {
                s.to_string()
            };
            Address::parse(&s)
                .map(Some)
                .map_err(|e| format!("\"{name}\": {e}"))
        }
    }
}

fn client(probe: &Value) -> Result<Client, String> {
    let addr_text = field(probe, "client_addr")?.unwrap_or_default();
    let addr_text = addr_text.trim();
    let mut c = if addr_text.is_empty() || addr_text == "0" {
        Client::local()
    } else {
        let bare = addr_text
            .strip_prefix("IPv6:")
            .or_else(|| addr_text.strip_prefix("ipv6:"))
            .unwrap_or(addr_text);
        let ip: IpAddr = bare
            .parse()
            .map_err(|_| format!("\"client_addr\": not an IP address: {addr_text}"))?;
        Client::at(ip)
    };
    if let Some(n) = field(probe, "client_name")? {
        c.name = n;
    }
    if let Some(r) = field(probe, "client_resolve")? {
        c.resolve = match r.to_ascii_uppercase().as_str() {
            "OK" | "" => Resolve::Ok,
            "FAIL" => Resolve::Fail,
            "TEMP" => Resolve::Temp,
            "FORGED" => Resolve::Forged,
            other => return Err(format!("\"client_resolve\": unknown value {other}")),
        };
    }
    if let Some(f) = field(probe, "daemon_flags")? {
        c.daemon_flags = f;
    }
    c.auth_type = field(probe, "auth_type")?.filter(|a| !a.is_empty());
    Ok(c)
}

fn facts(probe: &Value) -> Result<Facts, String> {
    let mut facts = Facts::new();
    let Some(dns) = probe.get("dns") else {
        return Ok(facts);
    };
    let Some(map) = dns.as_object() else {
        return Err("\"dns\" must be an object".into());
    };
    for (name, v) in map {
        let answer = match v {
            Value::String(s) if s.eq_ignore_ascii_case("nxdomain") => DnsAnswer::NotFound,
            Value::String(s) if s.eq_ignore_ascii_case("tempfail") => DnsAnswer::TempFail,
            Value::Array(items) => {
                let mut ips = Vec::new();
                for i in items {
                    let ip = i
                        .as_str()
                        .and_then(|s| s.trim_end_matches('.').parse::<IpAddr>().ok())
                        .ok_or_else(|| format!("\"dns\".{name}: not an address: {i}"))?;
                    ips.push(ip);
                }
                DnsAnswer::Found(ips)
            }
            other => {
                return Err(format!(
                    "\"dns\".{name}: expected a list of addresses, \"nxdomain\" or \"tempfail\", got {other}"
                ));
            }
        };
        facts = facts.with(name, answer);
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::BTreeMap;

    #[test]
    fn local_rcpt_and_bad_probe() {
        let site = Site::from_parts(Config::new(), BTreeMap::new()).unwrap();
        let v = rcpt(
            &site,
            &json!({"kind":"rcpt","client_addr":"","to":"<u@elsewhere.com>"}),
        )
        .unwrap();
        assert_eq!(v["action"], "accept");
        assert!(v["smtp_code"].is_null());
        let v = rcpt(
            &site,
            &json!({"kind":"rcpt","client_addr":"192.0.2.1","to":"<u@elsewhere.com>"}),
        )
        .unwrap();
        assert_eq!(v["action"], "reject");
        assert_eq!(v["smtp_code"], 550);
        assert_eq!(v["text"], "Relaying denied");
        assert!(rcpt(&site, &json!({"client_addr":"x"})).is_err());
    }
}
