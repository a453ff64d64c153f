//! domaintable: old domain names mapped to new ones (`FEATURE(`domaintable')`).
//!
//! Contract: [`apply`] does what sendmail 8.17's ruleset 3 (`Canonify2`)
//! does with `R$* < @ $+ > $*  $: $1 < @ $(domaintable $2 $) > $3`: the
//! whole host part of an address is the key; a hit replaces the host by the
//! value, a miss leaves the address alone. Checked with `sendmail -bt` on
//! 8.17.1.9 (vectors in `tests/route.rs`, `domaintable_*`):
//!
//! * exact keys only: no parent-domain walk (`x.old.example` is not
//!   rewritten by an `old.example` entry) and a key with a leading dot
//!   (`.old.example`) matches nothing, since a host never starts with a dot;
//! * keys are case-insensitive (makemap folds them), the value is used as
//!   written (we lower-case it, as every host in mxgate is);
//! * domain literals (`u@[192.0.2.1]`) are never looked up; `localhost` is
//!   `$j` before the lookup;
//! * one lookup per canonification: the value is not looked up again
//!   (`a → b`, `b → c` turns `u@a` into `u@b`);
//! * it applies to every address that goes through ruleset 3: envelope
//!   senders and recipients, header addresses, and the addresses
//!   check_mail / check_rcpt judge (a `To:new.example RELAY` entry relays
//!   `u@old.example`).
//!
//! Where we differ: hosts are kept without a trailing dot, so `u@old.example.`
//! is rewritten too (sendmail's key would be `old.example.`, which misses).
//! A value that is not a host name or address literal (a space in it, an
//! empty value) is ignored and the address kept.
//!
//! A table error is returned: the caller temp-fails, never "not listed".

use crate::addr::{Domain, Mailbox};
use crate::site::Site;
use crate::table;

/// A domaintable hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The key that matched (the old host).
    pub key: String,
    /// The new host.
    pub value: String,
    /// Line in the table's text source, when known.
    pub line: crate::site::SourceLine,
}

/// `m` with its host rewritten by the domaintable, with the hit; `None`
/// when the feature is off, the address has no host name or the host is
/// not in the table.
pub fn apply(site: &Site, m: &Mailbox) -> Result<Option<(Mailbox, Hit)>, table::Error> {
    if !site.config.has_feature("domaintable") {
        return Ok(None);
    }
    let Some(t) = site.table("domaintable") else {
        return Ok(None);
    };
    let Some(Domain::Name(host)) = &m.domain else {
        return Ok(None);
    };
    // `user@localhost` is `user@$j` before the lookup (Canonify2).
    let key = if host == "localhost" {
        crate::addr::normalize_name(&site.hostname)
    } else {
        host.clone()
    };
    let Some(value) = t.lookup(&key)? else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Ok(None);
    }
    let Ok(domain) = Domain::parse(value) else {
        return Ok(None);
    };
    let hit = Hit {
        line: site.source_line("domaintable", &key),
        key,
        value: domain.to_string(),
    };
    let mut out = m.clone();
    out.domain = Some(domain);
    Ok(Some((out, hit)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Address;
    use crate::config::Config;
    use crate::table::{FailingTable, MemTable, TableRef};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn site(feature: bool, table: TableRef) -> Site {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        if feature {
            c.features.insert("domaintable".into(), vec![]);
        }
        let mut t = BTreeMap::new();
        t.insert("domaintable".to_string(), table);
        Site::from_parts(c, t).unwrap()
    }

    fn mb(a: &str) -> Mailbox {
        match Address::parse(a).unwrap() {
            Address::Mailbox(m) => m,
            Address::Null => panic!("null"),
        }
    }

    fn out(s: &Site, a: &str) -> String {
        match apply(s, &mb(a)).unwrap() {
            Some((m, _)) => m.to_string(),
            None => "unchanged".into(),
        }
    }

    #[test]
    fn exact_host_only_literals_skipped_feature_needed() {
        let t: TableRef = Arc::new(MemTable::from_lines(
            "old.example new.example\n.old3.example new3.example\n\
             gw.example.com hub.example\nlit.example [192.0.2.7]\nbad.example two words\n",
        ));
        let s = site(true, t.clone());
        assert_eq!(out(&s, "u@old.example"), "u@new.example");
        assert_eq!(out(&s, "u@OLD.Example"), "u@new.example");
        assert_eq!(out(&s, "u@x.old.example"), "unchanged");
        assert_eq!(out(&s, "u@a.old3.example"), "unchanged");
        assert_eq!(out(&s, "u@old3.example"), "unchanged");
        assert_eq!(out(&s, "u@[192.0.2.1]"), "unchanged");
        assert_eq!(out(&s, "u"), "unchanged");
        assert_eq!(out(&s, "u@localhost"), "u@hub.example");
        assert_eq!(out(&s, "u@lit.example"), "u@[192.0.2.7]");
        assert_eq!(out(&s, "u@bad.example"), "unchanged");
        let (_, hit) = apply(&s, &mb("u@old.example")).unwrap().unwrap();
        assert_eq!(
            (hit.key.as_str(), hit.value.as_str()),
            ("old.example", "new.example")
        );
        // Without the feature the table is not used.
        assert_eq!(out(&site(false, t), "u@old.example"), "unchanged");
        // A broken table is an error, not a miss.
        assert!(apply(&site(true, Arc::new(FailingTable)), &mb("u@old.example")).is_err());
    }
}
