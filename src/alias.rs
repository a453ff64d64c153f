//! Alias expansion: `/etc/aliases` semantics for local recipients.
//!
//! Contract: [`expand`] expands a local address (unqualified or `@$=w`)
//! through [`Site::alias_tables`] — keys are lower-cased local parts,
//! `user+detail` is tried as `user+detail`, `user+*`, `user` — into
//! [`Target`]s: local mailboxes, remote addresses, `|programs`, `/files`.
//! Values are comma-separated lists (quotes protect commas and spaces);
//! `\user` delivers to the mailbox without further aliasing; a name that
//! lists itself (`root: root`) is delivered locally; `:include:/path`
//! reads more items from a file. Reading include files is the one piece
//! of I/O in this layer (sendmail does it at expansion time too, so an
//! edited list takes effect without rebuilding a table); a missing or
//! unreadable file is an [`Error::Include`]. Duplicate targets are
//! dropped; more than 10 levels is `554 5.3.0 aliasing/forwarding loop
//! broken`. `owner-LIST` of the top-level name is reported. Non-local
//! addresses are returned unchanged as a single target.

use crate::addr::{Address, Domain};
use crate::site::Site;
use crate::table;
use std::fmt;

/// sendmail's `MAXRCRSN`.
pub const MAX_DEPTH: u32 = 10;

/// One delivery target of an expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local mailbox (no further aliasing).
    Local(String),
    /// A non-local address, to be routed.
    Address(String),
    /// `|command`: pipe the message to a program.
    Program(String),
    /// `/path`: append the message to a file.
    File(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local(u) => f.write_str(u),
            Target::Address(a) => f.write_str(a),
            Target::Program(p) => write!(f, "|{p}"),
            Target::File(p) => f.write_str(p),
        }
    }
}

/// The result of expanding one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Where the message goes, duplicates removed, in list order.
    pub targets: Vec<Target>,
    /// `owner-LIST` when the top-level name has an owner alias: errors go
    /// there and the envelope sender becomes it.
    pub owner: Option<String>,
    /// The alias keys that were expanded, in order (for explanations).
    pub expanded: Vec<String>,
}

/// Why an expansion failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An alias table could not be read (temporary failure).
    #[error("alias table: {0}")]
    Table(#[from] table::Error),
    /// An `:include:` file could not be read.
    #[error(":include:{path}: {detail}")]
    Include {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// Expansion went deeper than [`MAX_DEPTH`].
    #[error("aliasing/forwarding loop broken")]
    Loop {
        /// The name at which the limit was hit.
        name: String,
    },
}

impl Error {
    /// The SMTP reply for this error: `(code, enhanced status, text)`.
    /// Table and include failures temp-fail (the list may be back later).
    pub fn reply(&self) -> (u16, &'static str, String) {
        match self {
            Error::Table(_) => (451, "4.3.0", "Temporary alias lookup failure".into()),
            Error::Include { path, .. } => (451, "4.3.0", format!("Cannot open :include:{path}")),
            Error::Loop { .. } => (554, "5.3.0", "aliasing/forwarding loop broken".into()),
        }
    }
}

/// Expand `addr` (see the module doc).
pub fn expand(site: &Site, addr: &Address) -> Result<Expansion, Error> {
    let mut exp = Expansion {
        targets: Vec::new(),
        owner: None,
        expanded: Vec::new(),
    };
    let Address::Mailbox(m) = addr else {
        return Ok(exp);
    };
    if !is_local(site, m.domain.as_ref()) {
        exp.targets.push(Target::Address(m.to_string()));
        return Ok(exp);
    }
    if let Some((key, _)) = lookup(site, &m.local)? {
        let owner = format!("owner-{key}");
        if lookup_key(site, &owner)?.is_some() {
            exp.owner = Some(owner);
        }
    }
    expand_name(site, &m.local, 0, &mut exp)?;
    Ok(exp)
}

fn is_local(site: &Site, domain: Option<&Domain>) -> bool {
    domain.is_none_or(|d| site.is_local_host(&d.to_string()))
}

fn lookup_key(site: &Site, key: &str) -> Result<Option<String>, table::Error> {
    for t in site.alias_tables() {
        if let Some(v) = t.lookup(key)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// `user+detail`, `user+*`, `user`: the first key with an alias.
fn lookup(site: &Site, local: &str) -> Result<Option<(String, String)>, table::Error> {
    let lower = local.to_ascii_lowercase();
    let mut keys = vec![lower.clone()];
    if let Some((base, _)) = lower.split_once('+').filter(|_| !lower.starts_with('"')) {
        keys.push(format!("{base}+*"));
        keys.push(base.to_string());
    }
    for k in keys {
        if let Some(v) = lookup_key(site, &k)? {
            return Ok(Some((k, v)));
        }
    }
    Ok(None)
}

fn push(exp: &mut Expansion, t: Target) {
    if !exp.targets.contains(&t) {
        exp.targets.push(t);
    }
}

fn expand_name(site: &Site, local: &str, depth: u32, exp: &mut Expansion) -> Result<(), Error> {
    let Some((key, value)) = lookup(site, local)? else {
        push(exp, Target::Local(local.to_string()));
        return Ok(());
    };
    if depth >= MAX_DEPTH {
        return Err(Error::Loop { name: key });
    }
    exp.expanded.push(key.clone());
    for item in split_items(&value) {
        expand_item(site, &item, &key, depth, exp)?;
    }
    Ok(())
}

fn expand_item(
    site: &Site,
    item: &str,
    parent: &str,
    depth: u32,
    exp: &mut Expansion,
) -> Result<(), Error> {
    let item = item.trim();
    if item.is_empty() {
        return Ok(());
    }
    if let Some(path) = item
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case(":include:"))
        .and_then(|_| item.get(9..))
    {
        let path = path.trim();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Include {
            path: path.to_string(),
            detail: e.to_string(),
        })?;
        if depth + 1 >= MAX_DEPTH {
            return Err(Error::Loop {
                name: parent.to_string(),
            });
        }
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for i in split_items(line) {
                expand_item(site, &i, parent, depth + 1, exp)?;
            }
        }
        return Ok(());
    }
    if let Some(p) = item.strip_prefix('|') {
        push(exp, Target::Program(p.to_string()));
        return Ok(());
    }
    if item.starts_with('/') {
        push(exp, Target::File(item.to_string()));
        return Ok(());
    }
    if let Some(u) = item.strip_prefix('\\') {
        push(exp, Target::Local(u.to_string()));
        return Ok(());
    }
    match Address::parse(item) {
        Ok(Address::Mailbox(m)) if is_local(site, m.domain.as_ref()) => {
            if m.local.eq_ignore_ascii_case(parent) {
                // `root: root` delivers to the mailbox.
                push(exp, Target::Local(m.local));
                Ok(())
            } else {
                expand_name(site, &m.local, depth + 1, exp)
            }
        }
        Ok(Address::Mailbox(m)) => {
            push(exp, Target::Address(m.to_string()));
            Ok(())
        }
        // Something that is not an address (sendmail would bounce this one
        // item); keep it visible rather than drop it silently.
        _ => {
            push(exp, Target::Address(item.to_string()));
            Ok(())
        }
    }
}

/// Split an alias value at commas outside double quotes; items are
/// trimmed and a quoted item (`"|/usr/bin/prog -x"`) loses its quotes.
// A shared splitter (`table::aliases::split_targets`) is being written in
// parallel; this one should be replaced by it once merged.
fn split_items(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                in_quote = !in_quote;
                cur.push(c);
            }
            ',' if !in_quote => {
                out.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| {
            let s = s.trim();
            let unq = s
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| t.starts_with('|') || t.starts_with('/') || t.starts_with(':'));
            unq.unwrap_or(s).to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_honours_quotes() {
        assert_eq!(
            split_items("alice, bob,\tcarol, \"|/usr/bin/logger -t mail, x\""),
            vec!["alice", "bob", "carol", "|/usr/bin/logger -t mail, x"]
        );
        assert_eq!(
            split_items("\"john doe\"@x.org,,"),
            vec!["\"john doe\"@x.org"]
        );
    }
}
