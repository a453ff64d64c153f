//! mailertable: the static routing table (`FEATURE(`mailertable')`).
//!
//! Contract: [`lookup`] performs sendmail's search for a host — the full
//! host, then `.parent` for each parent (most specific first), then `.` —
//! and returns the first value of the form `mailer:rest` (mailer not
//! starting with `[`) with `%0` (the key), `%1` (the stripped part; the
//! whole host for `.`) and `%2` (the last stripped label) substituted. A
//! full-host value without `mailer:` is "not resolved": as in sendmail's
//! `Parse1`, the walk then continues from that value. A table error is
//! returned, never taken as "no entry". Pure apart from the table lookups.

use super::triple::split_mailer;
use crate::table::{self, Table};

/// A mailertable hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The key that matched (`host`, `.parent`, `.`).
    pub key: String,
    /// The value after `%n` substitution.
    pub value: String,
}

/// Search `table` for `host` (lower case, no trailing dot, not a literal).
pub fn lookup(table: &dyn Table, host: &str) -> Result<Option<Hit>, table::Error> {
    if let Some(v) = table.lookup(host)? {
        let v = substitute(&v, host, &[]);
        if split_mailer(&v).is_some() {
            return Ok(Some(Hit {
                key: host.to_string(),
                value: v,
            }));
        }
        // Not resolved: sendmail continues `Mailertable` with the value.
        return walk(table, &v);
    }
    walk(table, host)
}

/// The `Mailertable` ruleset: `.parent` keys, then `.`.
fn walk(table: &dyn Table, host: &str) -> Result<Option<Hit>, table::Error> {
    let mut prefix = String::new();
    let mut rest = host;
    while let Some((label, parent)) = rest.split_once('.') {
        if label.is_empty() || parent.is_empty() {
            break;
        }
        let key = format!(".{parent}");
        let stripped = format!("{prefix}{label}");
        if let Some(v) = table.lookup(&key)? {
            let v = substitute(&v, &key, &[&stripped, label]);
            if split_mailer(&v).is_some() {
                return Ok(Some(Hit { key, value: v }));
            }
            if !v.starts_with('.') {
                // A value that is neither `mailer:...` nor `.domain`:
                // sendmail goes on to `.` with `%1` = prefix + value.
                return dot(table, &format!("{prefix}{v}"));
            }
        }
        prefix = format!("{stripped}.");
        rest = parent;
    }
    dot(table, &format!("{prefix}{rest}"))
}

fn dot(table: &dyn Table, whole: &str) -> Result<Option<Hit>, table::Error> {
    if let Some(v) = table.lookup(".")? {
        let v = substitute(&v, ".", &[whole]);
        if split_mailer(&v).is_some() {
            return Ok(Some(Hit {
                key: ".".into(),
                value: v,
            }));
        }
    }
    Ok(None)
}

/// sendmail's `map_rewrite`: `%0` = key, `%1`.. = arguments; a missing
/// argument expands to nothing (checked on sendmail 8.17:
/// `pct.example esmtp:%1.x.org` gives host `.x.org`); `%%` is `%`.
pub fn substitute(value: &str, key: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(d) if d.is_ascii_digit() => {
                chars.next();
                let n = d as usize - '0' as usize;
                if n == 0 {
                    out.push_str(key);
                } else if let Some(a) = args.get(n - 1) {
                    out.push_str(a);
                }
            }
            Some('%') => {
                chars.next();
                out.push('%');
            }
            _ => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::MemTable;

    #[test]
    fn walk_order_and_substitution() {
        let t = MemTable::from_lines(
            "sub.remote.org esmtp:[mx.remote.org]\n.remote.org smtp:relay.example.net\n\
             .wild.org esmtp:%1.inner.wild.org\n. relay:%1.catch\nodd.org plainhost.net\n",
        );
        let hit = |h: &str| lookup(&t, h).unwrap().unwrap();
        assert_eq!(hit("sub.remote.org").key, "sub.remote.org");
        assert_eq!(hit("x.y.remote.org").key, ".remote.org");
        assert_eq!(hit("remote.org").key, ".");
        assert_eq!(hit("a.b.wild.org").value, "esmtp:a.b.inner.wild.org");
        assert_eq!(hit("host.wild.org").value, "esmtp:host.inner.wild.org");
        assert_eq!(hit("q.example.com").value, "relay:q.example.com.catch");
        // No colon at the full-host step: the walk continues from the value.
        assert_eq!(hit("odd.org").value, "relay:plainhost.net.catch");
    }

    #[test]
    fn substitution_edge_cases() {
        assert_eq!(substitute("esmtp:%1.x.org", "k", &[]), "esmtp:.x.org");
        assert_eq!(substitute("esmtp:%0.x", "k", &[]), "esmtp:k.x");
        assert_eq!(substitute("a%%b%", "k", &[]), "a%b%");
        assert_eq!(substitute("%2-%1", "k", &["a.b", "b"]), "b-a.b");
    }

    #[test]
    fn no_entry_and_failure() {
        let t = MemTable::from_lines("x.org esmtp:y\n");
        assert_eq!(lookup(&t, "z.org").unwrap(), None);
        assert!(lookup(&crate::table::FailingTable, "z.org").is_err());
    }
}
