//! The aliases file (`/etc/aliases`): parsing and target splitting.
//!
//! Contract: [`parse_aliases`] reads the text of an aliases file the way
//! sendmail 8.17's `newaliases` does (spec 7.1–7.3) and does no I/O:
//!
//! * `name: value, value, ...`; the name is lower-cased, may be quoted, may
//!   have blanks before the colon, and must be local (no `@`);
//! * a line that starts with a blank or a TAB continues the entry above it:
//!   the newline is dropped and the blank kept (`bob,` + `<TAB>carol` →
//!   `bob,<TAB>carol`); it also continues a `#` comment (silently skipped);
//!   after a blank line, or with nothing to continue, it is an error
//!   (`Non-continuation line starts with space`);
//! * the value is stored as written (after the blanks that follow the
//!   colon), including quotes; it must have balanced quotes, parentheses
//!   and angle brackets (sendmail stores `"unterminated` silently; we
//!   report it and skip the entry, so a broken `"|program` never reaches
//!   delivery);
//! * a later entry with the same name replaces the earlier one, with a
//!   warning. [`parse_aliases`] returns every entry in file order; insert
//!   them in order (or call [`later_wins`]) to get the effective table.
//!
//! [`split_targets`] splits a value into its targets at commas outside
//! quotes, `(comments)` and `<...>`; [`Target::classify`] tells
//! `|program`, `/file`, `:include:/path`, `\user` and addresses apart. The
//! router uses both during expansion.

use std::collections::HashMap;

/// One alias: `name: value` as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEntry {
    /// The name, lower-cased (`Mixed` → `mixed`).
    pub name: String,
    /// The value as written, continuation lines joined.
    pub value: String,
    /// 1-based line where the entry starts.
    pub line: u32,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The line or entry was skipped; newaliases exits 65.
    Error,
    /// Noted, nothing skipped (a duplicate name).
    Warning,
}

/// A problem at one line of an aliases file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// File name as given to [`parse_aliases`].
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// Error or warning.
    pub severity: Severity,
    /// The message, in sendmail's words where sendmail has one.
    pub message: String,
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: line {}: {}", self.file, self.line, self.message)
    }
}

/// Why a value could not be split into targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A `"` without its partner.
    #[error("unbalanced '\"'")]
    UnbalancedQuote,
    /// A `(` or `)` without its partner.
    #[error("unbalanced '('")]
    UnbalancedParen,
    /// A `<` or `>` without its partner.
    #[error("unbalanced '<'")]
    UnbalancedAngle,
}

/// What one alias target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `|command`: pipe the message to a program (the command without `|`).
    Program(String),
    /// `/path`: append the message to a file.
    File(String),
    /// `:include:/path`: read more targets from a file (the path).
    Include(String),
    /// `\user`: the local mailbox, no further aliasing (the user without `\`).
    LocalMailbox(String),
    /// `user` or `user@host`: an address, aliased again if local.
    Address(String),
}

impl Target {
    /// Classify one item as returned by [`split_targets`].
    pub fn classify(item: &str) -> Target {
        if let Some(cmd) = item.strip_prefix('|') {
            Target::Program(cmd.to_string())
        } else if item.starts_with('/') {
            Target::File(item.to_string())
        } else if item.len() >= 9
            && item.is_char_boundary(9)
            && item[..9].eq_ignore_ascii_case(":include:")
        {
            Target::Include(item[9..].trim().to_string())
        } else if let Some(u) = item.strip_prefix('\\') {
            Target::LocalMailbox(u.to_string())
        } else {
            Target::Address(item.to_string())
        }
    }
}

/// Parse the text of the aliases file `file` (the name is used in messages).
pub fn parse_aliases(file: &str, text: &str) -> (Vec<AliasEntry>, Vec<Diag>) {
    let mut entries = Vec::new();
    let mut diags = Vec::new();
    let diag = |diags: &mut Vec<Diag>, line: u32, severity, message: String| {
        diags.push(Diag {
            file: file.to_string(),
            line,
            severity,
            message,
        })
    };
    // The logical entry being collected: (start line, text).
    let mut pending: Option<(u32, String)> = None;
    // What a line starting with a blank would continue.
    #[derive(PartialEq)]
    enum After {
        Entry,
        Comment,
        Nothing,
        Skipping,
    }
    let mut after = After::Nothing;
    let mut finish = |pending: &mut Option<(u32, String)>, diags: &mut Vec<Diag>| {
        if let Some((line, text)) = pending.take() {
            match entry(&text) {
                Ok(e) => entries.push(AliasEntry {
                    name: e.0,
                    value: e.1,
                    line,
                }),
                Err(msg) => diag(diags, line, Severity::Error, msg),
            }
        }
    };
    let mut lineno: u32 = 0;
    for raw in text.split('\n') {
        lineno = lineno.saturating_add(1);
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        match line.chars().next() {
            None => {
                finish(&mut pending, &mut diags);
                after = After::Nothing;
            }
            Some('#') => {
                finish(&mut pending, &mut diags);
                after = After::Comment;
            }
            Some(' ' | '\t') => match after {
                After::Entry => {
                    if let Some((_, t)) = pending.as_mut() {
                        t.push_str(line);
                    }
                }
                After::Comment | After::Skipping => {}
                After::Nothing => {
                    diag(
                        &mut diags,
                        lineno,
                        Severity::Error,
                        "Non-continuation line starts with space".into(),
                    );
                    after = After::Skipping;
                }
            },
            Some(_) => {
                finish(&mut pending, &mut diags);
                pending = Some((lineno, line.to_string()));
                after = After::Entry;
            }
        }
    }
    finish(&mut pending, &mut diags);
    // Duplicates: the later replaces the earlier, with sendmail's warning.
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for e in &entries {
        if seen.insert(e.name.as_str(), e.line).is_some() {
            diags.push(Diag {
                file: file.to_string(),
                line: e.line,
                severity: Severity::Warning,
                message: format!("{}... Warning: duplicate alias name {}", e.name, e.name),
            });
        }
    }
    diags.sort_by_key(|d| d.line);
    (entries, diags)
}

/// The effective table: for each name the last entry, in file order of
/// those survivors.
pub fn later_wins(entries: &[AliasEntry]) -> Vec<AliasEntry> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        last.insert(e.name.as_str(), i);
    }
    entries
        .iter()
        .enumerate()
        .filter(|(i, e)| last.get(e.name.as_str()) == Some(i))
        .map(|(_, e)| e.clone())
        .collect()
}

/// One joined entry → (name, value) or sendmail's message.
fn entry(text: &str) -> Result<(String, String), String> {
    let colon = find_outside_quotes(text, ':').ok_or_else(|| "missing colon".to_string())?;
    let (lhs, rhs) = text.split_at(colon);
    let rhs = rhs.get(1..).unwrap_or_default();
    let lhs = lhs.trim();
    let name = match lhs.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => unquote(inner),
        None => lhs.to_string(),
    };
    if name.is_empty() {
        return Err("missing colon".into());
    }
    if name.contains('@') {
        return Err(format!("{name}... cannot alias non-local names"));
    }
    let name = name.to_ascii_lowercase();
    let value = rhs.trim_start_matches([' ', '\t']);
    if value.trim().is_empty() {
        return Err(format!("{name}... missing value for alias"));
    }
    split_targets(value).map_err(|e| format!("{name}... {e}"))?;
    Ok((name, value.to_string()))
}

fn find_outside_quotes(s: &str, want: char) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == want && !quoted {
            return Some(i);
        }
    }
    None
}

fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Split an alias value into its targets: commas separate them except
/// inside `"quotes"`, `(comments)` and `<angle brackets>`; each target is
/// trimmed; empty ones (`a,,b`, a trailing comma) are dropped; a target
/// that is one quoted string is unquoted (`"|/usr/bin/prog -x"` →
/// `|/usr/bin/prog -x`), others are returned as written
/// (`"john doe"@example.com`). Use [`Target::classify`] on each.
pub fn split_targets(value: &str) -> Result<Vec<String>, TargetError> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut paren = 0u32;
    let mut angle = 0u32;
    let mut start = 0usize;
    let push = |piece: &str, out: &mut Vec<String>| {
        let piece = piece.trim();
        if piece.is_empty() {
            return;
        }
        match piece.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(inner) if find_outside_quotes(inner, '"').is_none() => out.push(unquote(inner)),
            _ => out.push(piece.to_string()),
        }
    };
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' => paren += 1,
            ')' => paren = paren.checked_sub(1).ok_or(TargetError::UnbalancedParen)?,
            '<' if paren == 0 => angle += 1,
            '>' if paren == 0 => {
                angle = angle.checked_sub(1).ok_or(TargetError::UnbalancedAngle)?
            }
            ',' if paren == 0 && angle == 0 => {
                push(value.get(start..i).unwrap_or_default(), &mut out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(TargetError::UnbalancedQuote);
    }
    if paren > 0 {
        return Err(TargetError::UnbalancedParen);
    }
    if angle > 0 {
        return Err(TargetError::UnbalancedAngle);
    }
    push(value.get(start..).unwrap_or_default(), &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFY: &str = "# test aliases\npostmaster: root\nroot: admin\nstaff: alice, bob,\n\tcarol\nowner-staff: admin\nstaff-request: admin\nprog: \"|/usr/bin/logger -t mail\"\nfiler: /d/mailbox\ninc: :include:/d/list.inc\nMixed: dave\n";

    #[test]
    fn k10_verify_file() {
        // checked on sendmail 8.17 (spec/sendmail-verify/aliases, praliases output).
        let (e, d) = parse_aliases("aliases", VERIFY);
        assert!(d.is_empty(), "{d:?}");
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("postmaster", "root"),
                ("root", "admin"),
                ("staff", "alice, bob,\tcarol"),
                ("owner-staff", "admin"),
                ("staff-request", "admin"),
                ("prog", "\"|/usr/bin/logger -t mail\""),
                ("filer", "/d/mailbox"),
                ("inc", ":include:/d/list.inc"),
                ("mixed", "dave"),
            ]
        );
        assert_eq!(e[2].line, 4);
    }

    #[test]
    fn errors_and_warnings_as_sendmail_reports_them() {
        // checked on sendmail 8.17 -bi: missing colon, duplicate (later wins),
        // missing value, non-continuation line after a blank line.
        let text = "a: b\nb c\nDup: one\ndup: two\nempty:\n  \nz: x,\n\n\ty\n";
        let (e, d) = parse_aliases("al2", text);
        let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "al2: line 2: missing colon",
                "al2: line 4: dup... Warning: duplicate alias name dup",
                "al2: line 5: empty... missing value for alias",
                "al2: line 9: Non-continuation line starts with space",
            ]
        );
        assert_eq!(d[1].severity, Severity::Warning);
        let eff = later_wins(&e);
        let dup: Vec<_> = eff.iter().filter(|e| e.name == "dup").collect();
        assert_eq!(dup.len(), 1);
        assert_eq!(dup[0].value, "two");
        assert!(eff.iter().any(|e| e.name == "z" && e.value == "x,"));
    }

    #[test]
    fn comments_continue_and_names_normalised() {
        // checked on sendmail 8.17: ` e` after `#x` is silently skipped;
        // `f : g` → f; `"quoted": q` → quoted; `Upper@Dom: k` is refused;
        // trailing blanks (and a blank continuation line) are kept.
        let text = "a: b   \n  \nc:d\n#x\n e\nf : g\n\"Quoted\": q\nUpper@Dom: k\n";
        let (e, d) = parse_aliases("al3", text);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "al3: line 8: upper@dom... cannot alias non-local names"
                .replace("upper@dom", "Upper@Dom")
        );
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("a", "b     "), ("c", "d"), ("f", "g"), ("quoted", "q")]
        );
    }

    #[test]
    fn unterminated_quote_is_an_error_with_line() {
        let (e, d) = parse_aliases("al", "ok: x\nq: \"|/bin/prog -x\nnext: y\n");
        assert_eq!(e.len(), 2);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "al: line 2: q... unbalanced '\"'");
        assert_eq!(d[0].severity, Severity::Error);
    }

    #[test]
    fn split_and_classify() {
        let v = "\"|/usr/bin/prog -x, y\", /var/mail/f, :include:/etc/list, \\root, owner-list,, \"john doe\"@ex.com, Bob <bob@x.org>, (c, d) e@f,";
        let t = split_targets(v).unwrap();
        assert_eq!(
            t,
            vec![
                "|/usr/bin/prog -x, y",
                "/var/mail/f",
                ":include:/etc/list",
                "\\root",
                "owner-list",
                "\"john doe\"@ex.com",
                "Bob <bob@x.org>",
                "(c, d) e@f",
            ]
        );
        let c: Vec<Target> = t.iter().map(|s| Target::classify(s)).collect();
        assert_eq!(c[0], Target::Program("/usr/bin/prog -x, y".into()));
        assert_eq!(c[1], Target::File("/var/mail/f".into()));
        assert_eq!(c[2], Target::Include("/etc/list".into()));
        assert_eq!(c[3], Target::LocalMailbox("root".into()));
        assert_eq!(c[4], Target::Address("owner-list".into()));
        assert_eq!(split_targets("a, \"b"), Err(TargetError::UnbalancedQuote));
        assert_eq!(split_targets("a) b"), Err(TargetError::UnbalancedParen));
        assert_eq!(split_targets("<a"), Err(TargetError::UnbalancedAngle));
    }
}
