//! Alias expansion: `/etc/aliases` semantics for local recipients.
//!
//! Contract: [`expand`] expands a local address (unqualified or `@$=w`)
//! through [`crate::users::alias`] (the alias tables, and an implicit
//! `postmaster: root` when postmaster has no alias and no mailbox) — keys are lower-cased local parts,
//! `user+detail` is tried as `user+detail`, `user+*`, `user` — into
//! [`Target`]s: local mailboxes, remote addresses, `|programs`, `/files`.
//! Values are comma-separated lists (quotes protect commas and spaces);
//! `\user` delivers to the mailbox without further aliasing; a name that
//! lists itself (`root: root`) is delivered locally; `:include:/path`
//! reads more items from a file. Reading include files is the one piece
//! of I/O in this layer (sendmail does it at expansion time too, so an
//! edited list takes effect without rebuilding a table); a missing or
//! unreadable file is an [`Error::Include`].
//!
//! Include files are judged as sendmail's safefile does: the file is opened
//! without following a symlink, and one writable by its group or others,
//! or in a directory writable by group or others without the sticky bit,
//! is refused ([`Error::Include`], a temporary failure). A file owned by
//! anyone other than root or the daemon's own user may name addresses
//! only: its `|programs` and `/files` (and those of files it includes)
//! become [`Target::Refused`] (5.7.1) — sendmail would run them as the
//! file's owner; mxgate does not switch users per delivery, so it refuses.
//! The contents of an include file never appear in an error, a reply or a
//! log: a line that is not an address becomes [`Target::Refused`] with
//! "line N of FILE: not a valid address" (5.1.3). Duplicate targets are
//! dropped; more than 10 levels is `554 5.3.0 aliasing/forwarding loop
//! broken`. `owner-LIST` of the top-level name is reported. Non-local
//! addresses are returned unchanged as a single target.

use crate::addr::{Address, Domain};
use crate::proto::reply::{EnhancedStatus, Reply};
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
    /// An item from an `:include:` file that will not be delivered: where it
    /// came from and why, never its text.
    Refused {
        /// Enhanced status (`5.1.3`, `5.7.1`).
        status: String,
        /// `line N of FILE`.
        origin: String,
        /// Why (`not a valid address`).
        reason: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local(u) => f.write_str(u),
            Target::Address(a) => f.write_str(a),
            Target::Program(p) => write!(f, "|{p}"),
            Target::File(p) => f.write_str(p),
            Target::Refused { origin, reason, .. } => write!(f, "({origin}: {reason})"),
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
    /// The SMTP reply for this error. Table and include failures
    /// temp-fail (the list may be back later).
    pub fn reply(&self) -> Reply {
        let st = EnhancedStatus::new;
        match self {
            Error::Table(_) => Reply::new(451, st(4, 3, 0), "Temporary alias lookup failure"),
            // The detail is ours (an OS error or a safefile problem), never the file's text.
            Error::Include { path, detail } => Reply::new(
                451,
                st(4, 3, 0),
                format!("Cannot open :include:{path}: {detail}"),
            ),
            Error::Loop { .. } => Reply::new(554, st(5, 3, 0), "aliasing/forwarding loop broken"),
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
    crate::users::alias(site, key)
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

/// Where an item being expanded came from.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    /// `Some((file, line))` for a line of an include file.
    line: Option<(&'a str, usize)>,
    /// The owner of an include file on the way that may not name programs
    /// or files (not root, not us); inherited by files it includes.
    untrusted: Option<u32>,
}

const TABLE: Origin<'static> = Origin {
    line: None,
    untrusted: None,
};

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
        expand_item(site, &item, &key, depth, TABLE, exp)?;
    }
    Ok(())
}

/// Read an include file the safe way ([`crate::safefile::read_include`]).
fn read_include(path: &str) -> Result<(String, Option<u32>), Error> {
    crate::safefile::read_include(std::path::Path::new(path)).map_err(|detail| Error::Include {
        path: path.to_string(),
        detail,
    })
}

fn expand_item(
    site: &Site,
    item: &str,
    parent: &str,
    depth: u32,
    from: Origin<'_>,
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
        let (text, owner) = read_include(path)?;
        if depth + 1 >= MAX_DEPTH {
            return Err(Error::Loop {
                name: parent.to_string(),
            });
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let inner = Origin {
                line: Some((path, n + 1)),
                untrusted: from.untrusted.or(owner),
            };
            for i in split_items(line) {
                expand_item(site, &i, parent, depth + 1, inner, exp)?;
            }
        }
        return Ok(());
    }
    if let (Some(uid), Some((file, n))) = (from.untrusted, from.line)
        && (item.starts_with('|') || item.starts_with('/'))
    {
        push(
            exp,
            Target::Refused {
                status: "5.7.1".into(),
                origin: format!("line {n} of {file}"),
                reason: format!(
                    "{} delivery not allowed from an include file owned by {}",
                    if item.starts_with('|') {
                        "program"
                    } else {
                        "file"
                    },
                    crate::safefile::user_name(uid)
                ),
            },
        );
        return Ok(());
    }
    if let Some((file, n)) = from.line
        && !item.starts_with(['|', '/', '\\'])
        && !plausible_address(item)
    {
        push(exp, not_an_address(file, n));
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
        // Same as above, for what the address parser refuses.
        _ if let Some((file, n)) = from.line => {
            push(exp, not_an_address(file, n));
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

/// RFC 5321 shape, checked strictly for lines of include files: a local part
/// of atext and dots (or a quoted string), optionally `@` and a domain of
/// letters, digits, `-` and `.` (or a `[literal]`).
fn plausible_address(item: &str) -> bool {
    let item = item
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(item);
    let (local, domain) = match item.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (item, None),
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let local_ok = !local.is_empty()
        && ((local.len() >= 2 && local.starts_with('"') && local.ends_with('"'))
            || local.chars().all(atext));
    let domain_ok = domain.is_none_or(|d| {
        !d.is_empty()
            && ((d.starts_with('[') && d.ends_with(']'))
                || d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    });
    local_ok && domain_ok
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

/// A line of an include file that is not an address: say where, never
/// what (the file may be any file root can read).
fn not_an_address(file: &str, n: usize) -> Target {
    Target::Refused {
        status: "5.1.3".into(),
        origin: format!("line {n} of {file}"),
        reason: "not a valid address".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lines_must_look_like_addresses() {
        assert!(plausible_address("alice"));
        assert!(plausible_address("bob@sub2.example.gr.jp"));
        assert!(plausible_address("\"john doe\"@x.org"));
        assert!(!plausible_address("root:$y$hash:19000:0:99999:7:::"));
        assert!(!plausible_address("password = hunter2"));
        assert!(!plausible_address("a@b c"));
    }

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
