//! virtusertable: virtual addresses for local and `VirtHost` domains
//! (`FEATURE(`virtusertable')`).
//!
//! Contract: [`lookup`] tries sendmail's keys for `user[+detail]@domain` in
//! `Parse1` order — `user+detail@domain`, then (with a detail)
//! `user++@domain` (non-empty detail only), `user+*@domain`, `user@domain`,
//! `++@domain`, `+*@domain`; then `@domain` — and substitutes `%1` (user),
//! `%2` (detail) and `%3` (`+detail`) in the value. The caller decides what
//! the value means (`error:...`, a local name, a remote address).

use super::mailertable::substitute;
use crate::table::{self, Table};

/// A virtusertable hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The key that matched.
    pub key: String,
    /// The value after `%n` substitution.
    pub value: String,
}

/// Look up `local@domain` (domain lower case).
pub fn lookup(table: &dyn Table, local: &str, domain: &str) -> Result<Option<Hit>, table::Error> {
    let full = format!("{local}@{domain}");
    if let Some(v) = table.lookup(&full)? {
        return Ok(Some(hit(full, &v, &[local])));
    }
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    match local.split_once('+') {
        Some((user, detail)) if !local.starts_with('"') => {
            let args = vec![user.to_string(), detail.to_string(), format!("+{detail}")];
            if !detail.is_empty() {
                keys.push((format!("{user}++@{domain}"), args.clone()));
            }
            keys.push((format!("{user}+*@{domain}"), args.clone()));
            keys.push((format!("{user}@{domain}"), args.clone()));
            if !detail.is_empty() {
                keys.push((format!("++@{domain}"), args.clone()));
            }
            keys.push((format!("+*@{domain}"), args.clone()));
            keys.push((format!("@{domain}"), args));
        }
        _ => keys.push((format!("@{domain}"), vec![local.to_string()])),
    }
    for (key, args) in keys {
        if let Some(v) = table.lookup(&key)? {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return Ok(Some(hit(key, &v, &args)));
        }
    }
    Ok(None)
}

fn hit(key: String, value: &str, args: &[&str]) -> Hit {
    let value = substitute(value.trim(), &key, args);
    Hit { key, value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::MemTable;

    // Checked on sendmail 8.17 (-bt /parse with FEATURE(virtusertable)):
    // joe+x@example.com with `joe+*@example.com joe-%2` → local joe-x;
    // zz@example.com with `@example.com catch-%1` → local catch-zz.
    #[test]
    fn key_order() {
        let t = MemTable::from_lines(
            "info@example.com alice\njoe+*@example.com joe-%2\n@example.com catch-%1\n",
        );
        let v = |l: &str| lookup(&t, l, "example.com").unwrap().unwrap();
        assert_eq!(v("info").value, "alice");
        assert_eq!(v("joe+x").value, "joe-x");
        assert_eq!(v("joe+x").key, "joe+*@example.com");
        assert_eq!(v("zz").value, "catch-zz");
        assert_eq!(v("ann+y").key, "@example.com");
        assert_eq!(lookup(&t, "zz", "other.org").unwrap(), None);
    }
}
