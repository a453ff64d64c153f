//! Address-test adapters for routing, masquerading and alias expansion.
//!
//! Contract: [`route`], [`masquerade`] and [`expand`] take a JSON probe
//! (`{"kind":"route","addr":A}`, `{"kind":"masquerade","where":...,
//! "addr":A,"mailer":M}`, `{"kind":"expand","addr":A}`) and return the
//! decision as JSON with a `why` string. `Ok` carries decisions, including
//! refusals and temporary failures; `Err` is only for a malformed probe
//! and names the field.

use crate::addr::Address;
use crate::alias;
use crate::rewrite::{self, Field};
use crate::route::{self as router, Resolution};
use crate::site::Site;
use serde_json::{Value, json};

fn field<'a>(probe: &'a Value, name: &str) -> Result<&'a str, String> {
    match probe.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("probe field `{name}` must be a string")),
        None => Err(format!("probe is missing field `{name}`")),
    }
}

fn address(probe: &Value) -> Result<Address, String> {
    let a = field(probe, "addr")?;
    Address::parse(a).map_err(|e| format!("probe field `addr`: {e}"))
}

/// `{"kind":"route","addr":A}` → `{"mailer","host","user","why"}` (the
/// triple before alias expansion; `host` null for local), or for the error
/// mailer `{"mailer":"error","action","smtp_code","enhanced_code","text","why"}`.
/// A table failure answers `{"mailer":"error","action":"tempfail",451,"4.3.0",...}`.
pub fn route(site: &Site, probe: &Value) -> Result<Value, String> {
    let addr = address(probe)?;
    Ok(match router::resolve(site, &addr) {
        Ok((Resolution::Deliver(r), why)) => json!({
            "mailer": r.mailer,
            "host": r.host,
            "user": r.user,
            "why": why.to_string(),
        }),
        Ok((Resolution::Error(e), why)) => json!({
            "mailer": "error",
            "action": if e.is_transient() { "tempfail" } else { "reject" },
            "smtp_code": e.code,
            "enhanced_code": e.status_or_class().to_string(),
            "text": e.text(),
            "why": why.to_string(),
        }),
        Err(e) => json!({
            "mailer": "error",
            "action": "tempfail",
            "smtp_code": 451,
            "enhanced_code": "4.3.0",
            "text": "Temporary system failure. Please try again later.",
            "why": format!("table lookup failed: {e}"),
        }),
    })
}

/// `{"kind":"masquerade","where":W,"addr":A,"mailer":M}` → `{"address","why"}`.
/// `where` is `envelope-sender`, `header-sender`, `envelope-recipient` or
/// `header-recipient`; `mailer` defaults to `esmtp`.
pub fn masquerade(site: &Site, probe: &Value) -> Result<Value, String> {
    let w = field(probe, "where")?;
    let f = match w {
        "envelope-sender" => Field::EnvelopeSender,
        "header-sender" => Field::HeaderSender,
        "envelope-recipient" => Field::EnvelopeRecipient,
        "header-recipient" => Field::HeaderRecipient,
        other => {
            return Err(format!(
                "probe field `where`: `{other}` is not envelope-sender, header-sender, \
                 envelope-recipient or header-recipient"
            ));
        }
    };
    let addr = field(probe, "addr")?;
    let mailer = match probe.get("mailer") {
        None | Some(Value::Null) => "esmtp",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("probe field `mailer` must be a string".into()),
    };
    Ok(match rewrite::masquerade(site, f, addr, mailer) {
        Ok((address, why)) => json!({"address": address, "why": why.to_string()}),
        Err(e) => json!({
            "error": "tempfail",
            "why": format!("table lookup failed: {e}"),
        }),
    })
}

/// `{"kind":"expand","addr":A}` → `{"targets":[...],"owner":null|"owner-x","why"}`;
/// a failure answers `{"error":{"smtp_code","enhanced_code","text"},"why"}`.
pub fn expand(site: &Site, probe: &Value) -> Result<Value, String> {
    let addr = address(probe)?;
    Ok(match alias::expand(site, &addr) {
        Ok(x) => {
            let why = if x.expanded.is_empty() {
                "no alias: delivered as it is".to_string()
            } else {
                format!("aliases expanded: {}", x.expanded.join(", "))
            };
            json!({
                "targets": x.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                "owner": x.owner,
                "why": why,
            })
        }
        Err(e) => {
            let r = e.reply();
            json!({
                "error": {
                    "smtp_code": r.code,
                    "enhanced_code": r.status_or_class().to_string(),
                    "text": r.text(),
                },
                "why": e.to_string(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::BTreeMap;

    #[test]
    fn bad_probes_name_the_field() {
        let s = Site::from_parts(Config::new(), BTreeMap::new()).unwrap();
        assert!(
            route(&s, &json!({"kind":"route"}))
                .unwrap_err()
                .contains("`addr`")
        );
        assert!(
            masquerade(&s, &json!({"where":"x","addr":"a"}))
                .unwrap_err()
                .contains("`where`")
        );
        assert!(
            expand(&s, &json!({"addr": 3}))
                .unwrap_err()
                .contains("`addr`")
        );
    }
}
