//! Regular-expression rule tables in Postfix's `regexp:` syntax, as used by
//! `header_checks`, `mime_header_checks`, `nested_header_checks` and
//! `body_checks` (`FEATURE(header_checks, path)` and friends).
//!
//! Contract: [`HeaderRules::parse`] compiles a rules file once (each error
//! names `file:line`); [`HeaderRules::lookup`] gives the first matching
//! rule's result for one input (a logical header or a body line), with
//! `$1`-style substitution done; [`RuleAction::parse`] reads a result as a
//! `header_checks(5)` action. [`check_header`] is the one-line verdict that
//! `mxgate test` shows. The message walk lives in [`super::content`].
//!
//! Semantics are Postfix's `regexp_table(5)` (checked against real
//! `postmap -q` by `tests/content_checks.rs`):
//! * `/regex/flags RESULT`, `!/regex/flags RESULT`; any non-alphanumeric,
//!   non-space delimiter; `if /re/flags` / `if !/re/flags` ... `endif`,
//!   nesting; blank lines and `#` comments are ignored; a line starting
//!   with whitespace continues the previous one.
//! * Matching is **case-insensitive by default**; the flag `i` toggles that
//!   off. `m` toggles multi-line mode (off: `^`/`$` match only at the ends
//!   of the input and `.` matches a newline, as POSIX `regcomp` without
//!   `REG_NEWLINE`). `x` toggles extended syntax off (a POSIX basic
//!   expression: `\(`, `\)`, `\{`, `\}`, `\|`, `\+`, `\?` are the
//!   operators, the bare characters are literal).
//! * `$1`, `${1}`, `$(1)` take a group of the match, `$$` is a `$`.
//!
//! Where Postfix logs a warning and skips a bad rule (bad regex, group
//! number out of range, `$n` in a negated rule, unknown action word, `if`
//! without `endif`), we refuse the file with `file:line: what`, so a typo
//! is seen at start or reload rather than in the mail log.
//!
//! (Before issue 13 mxgate matched case-sensitively unless `i` was given;
//! that deviation is gone: a rule file taken from Postfix works unchanged.)

use std::fmt;

use regex::{Captures, Regex, RegexBuilder};

use super::{Action, Because, Reply, Verdict};

/// A compiled rules file.
#[derive(Debug, Clone)]
pub struct HeaderRules {
    file: String,
    nodes: Vec<Node>,
    rules: usize,
}

#[derive(Debug, Clone)]
enum Node {
    /// `/re/ RESULT`.
    Rule {
        line: usize,
        source: String,
        regex: Regex,
        negated: bool,
        result: Vec<Piece>,
    },
    /// `if /re/`: when it does not hold, go on after node `end`.
    If {
        regex: Regex,
        negated: bool,
        end: usize,
    },
    /// `endif`.
    Endif,
}

/// The table type: Postfix `regexp:` (POSIX) or `pcre:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `regexp:` (also a bare path).
    Regexp,
    /// `pcre:`.
    Pcre,
}

impl Flavour {
    /// The flavour named by a `type:path` spec, and the path.
    pub fn of(spec: &str) -> (Flavour, &str) {
        if let Some(p) = spec.strip_prefix("pcre:") {
            (Flavour::Pcre, p)
        } else {
            (
                Flavour::Regexp,
                spec.strip_prefix("regexp:").unwrap_or(spec),
            )
        }
    }
}

/// A piece of a result: text or a group reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// A rules file that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRuleError {
    /// The file.
    pub file: String,
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for HeaderRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for HeaderRuleError {}

/// The rule that matched an input and its result (substituted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rules file.
    pub file: String,
    /// The rule's line.
    pub line: usize,
    /// The rule as written.
    pub rule: String,
    /// The result text after `$n` substitution.
    pub result: String,
}

impl Hit {
    /// The rule as a [`Because`].
    pub fn because(&self) -> Because {
        Because::HeaderRule {
            file: self.file.clone(),
            line: self.line,
            rule: self.rule.clone(),
        }
    }
}

/// A `header_checks(5)` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// `REJECT [text]`: refuse the message.
    Reject(Reply),
    /// `WARN [text]`: log, go on.
    Warn(String),
    /// `INFO [text]`: log, go on.
    Info(String),
    /// `IGNORE`: delete the line, go on.
    Ignore,
    /// `STRIP [text]`: delete the line and log, go on.
    Strip(String),
    /// `HOLD [text]`: quarantine, go on.
    Hold(String),
    /// `DISCARD [text]`: drop the message, stop inspecting.
    Discard(String),
    /// `PASS [text]`: stop header, body and milter inspection.
    Pass(String),
    /// `PREPEND text`: insert a line before this one, go on.
    Prepend(String),
    /// `REPLACE text`: replace this line, go on.
    Replace(String),
    /// `REDIRECT addr`: all recipients become `addr`, go on.
    Redirect(String),
    /// `FILTER transport:destination`: send through that content filter, go on.
    Filter(String),
    /// `BCC addr`: add a recipient (NOTIFY=NEVER), go on.
    Bcc(String),
    /// `DUNNO` or `OK` (Postfix treats `OK` as `DUNNO` here): go on.
    Dunno,
}

const ACTIONS: &[&str] = &[
    "REJECT", "WARN", "INFO", "IGNORE", "STRIP", "HOLD", "DISCARD", "PASS", "PREPEND", "REPLACE",
    "REDIRECT", "FILTER", "BCC", "DUNNO", "OK",
];

impl RuleAction {
    /// Read a result (`REJECT text`, `PREPEND X-Spam: yes`, ...).
    pub fn parse(result: &str) -> Result<RuleAction, String> {
        let result = result.trim();
        let (word, text) = match result.split_once(char::is_whitespace) {
            Some((w, t)) => (w, t.trim()),
            None => (result, ""),
        };
        let needs = |what: &str| {
            if text.is_empty() {
                Err(format!("{} needs {what}", word.to_ascii_uppercase()))
            } else {
                Ok(text.to_string())
            }
        };
        Ok(match word.to_ascii_uppercase().as_str() {
            "REJECT" => RuleAction::Reject(reject_reply(text)),
            "WARN" => RuleAction::Warn(text.into()),
            "INFO" => RuleAction::Info(text.into()),
            "IGNORE" => RuleAction::Ignore,
            "STRIP" => RuleAction::Strip(text.into()),
            "HOLD" => RuleAction::Hold(text.into()),
            "DISCARD" => RuleAction::Discard(text.into()),
            "PASS" => RuleAction::Pass(text.into()),
            "PREPEND" => RuleAction::Prepend(needs("the text to insert")?),
            "REPLACE" => RuleAction::Replace(needs("the replacement text")?),
            "REDIRECT" => RuleAction::Redirect(mailbox(&needs("an address (user@domain)")?)?),
            "FILTER" => {
                let f = needs("transport:destination")?;
                if !f.contains(':') || f.starts_with(':') || f.contains(char::is_whitespace) {
                    return Err(format!("FILTER needs transport:destination, found {f:?}"));
                }
                RuleAction::Filter(f)
            }
            "BCC" => RuleAction::Bcc(mailbox(&needs("an address (user@domain)")?)?),
            "DUNNO" | "OK" => RuleAction::Dunno,
            other => {
                return Err(format!(
                    "unknown action {other:?} (expected one of {})",
                    ACTIONS.join(", ")
                ));
            }
        })
    }
}

/// A REDIRECT or BCC target: `user@domain` (Postfix refuses anything
/// without a local part and a domain).
fn mailbox(text: &str) -> Result<String, String> {
    let a = text.trim().trim_start_matches('<').trim_end_matches('>');
    match a.rsplit_once('@') {
        Some((user, domain))
            if !user.is_empty()
                && !domain.is_empty()
                && !a.contains(|c: char| {
                    c.is_whitespace() || c.is_control() || c == '<' || c == '>'
                }) =>
        {
            Ok(a.to_string())
        }
        _ => Err(format!("expected user@domain, found {text:?}")),
    }
}

impl HeaderRules {
    /// Compile `text`, the contents of `file`: a path, or `regexp:PATH`
    /// (the same) or `pcre:PATH` (Postfix's `pcre_table(5)` flags).
    pub fn parse(file: &str, text: &str) -> Result<HeaderRules, HeaderRuleError> {
        let (flavour, file) = Flavour::of(file);
        // Join continuation lines, remembering where each logical line began.
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if raw.starts_with(char::is_whitespace)
                && let Some((_, last)) = logical.last_mut()
            {
                // Postfix drops only the line break: the continuation's
                // leading whitespace stays (checked with postmap).
                last.push_str(raw.trim_end());
                continue;
            }
            logical.push((i + 1, raw.trim_end().to_string()));
        }
        let mut nodes = Vec::new();
        let mut open: Vec<(usize, usize)> = Vec::new(); // (node index, line)
        let mut rules = 0;
        for (line, src) in logical {
            let err = |message: String| HeaderRuleError {
                file: file.to_string(),
                line,
                message,
            };
            if is_keyword(&src, "endif") {
                let (at, _) = open
                    .pop()
                    .ok_or_else(|| err("endif without a matching if".into()))?;
                let end = nodes.len();
                if let Some(Node::If { end: e, .. }) = nodes.get_mut(at) {
                    *e = end;
                }
                nodes.push(Node::Endif);
                continue;
            }
            if is_keyword(&src, "if") {
                let rest = src.get(2..).unwrap_or("").trim_start();
                let (regex, negated, after) = parse_pattern(flavour, rest).map_err(err)?;
                if !after.trim().is_empty() {
                    return Err(err(format!(
                        "unexpected text after the if pattern: {:?}",
                        after.trim()
                    )));
                }
                open.push((nodes.len(), line));
                nodes.push(Node::If {
                    regex,
                    negated,
                    end: usize::MAX,
                });
                continue;
            }
            let (regex, negated, after) = parse_pattern(flavour, &src).map_err(err)?;
            let result_text = after.trim();
            if result_text.is_empty() {
                return Err(err("missing action after the regular expression".into()));
            }
            let result = parse_result(result_text, &regex, negated).map_err(err)?;
            // The action word is known unless it is itself substituted.
            if let Some(Piece::Text(t)) = result.first() {
                let word = t.split_whitespace().next().unwrap_or("");
                let whole = result.len() == 1 || t.contains(char::is_whitespace);
                if whole {
                    RuleAction::parse(t).map_err(err)?;
                } else if !ACTIONS.contains(&word.to_ascii_uppercase().as_str()) {
                    return Err(err(format!("unknown action {word:?}")));
                }
            }
            rules += 1;
            nodes.push(Node::Rule {
                line,
                source: src.clone(),
                regex,
                negated,
                result,
            });
        }
        if let Some((_, line)) = open.pop() {
            return Err(HeaderRuleError {
                file: file.to_string(),
                line,
                message: "if without a matching endif".into(),
            });
        }
        Ok(HeaderRules {
            file: file.to_string(),
            nodes,
            rules,
        })
    }

    /// No rules.
    pub fn empty() -> HeaderRules {
        HeaderRules {
            file: String::new(),
            nodes: Vec::new(),
            rules: 0,
        }
    }

    /// The file the rules came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Number of rules (not counting `if`/`endif`).
    pub fn len(&self) -> usize {
        self.rules
    }

    /// Are there no rules?
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// The first rule that matches `input`, with its result substituted.
    pub fn lookup(&self, input: &str) -> Option<Hit> {
        // Postfix: "Empty lines never match".
        if input.is_empty() {
            return None;
        }
        let mut i = 0;
        while let Some(node) = self.nodes.get(i) {
            match node {
                Node::If {
                    regex,
                    negated,
                    end,
                } => {
                    if regex.is_match(input) == *negated {
                        i = end.saturating_add(1);
                        continue;
                    }
                }
                Node::Endif => {}
                Node::Rule {
                    line,
                    source,
                    regex,
                    negated,
                    result,
                } => {
                    let hit = if *negated {
                        (!regex.is_match(input)).then(|| substitute(result, None))
                    } else {
                        regex.captures(input).map(|c| substitute(result, Some(&c)))
                    };
                    if let Some(result) = hit {
                        return Some(Hit {
                            file: self.file.clone(),
                            line: *line,
                            rule: source.clone(),
                            result,
                        });
                    }
                }
            }
            i += 1;
        }
        None
    }
}

fn is_keyword(src: &str, word: &str) -> bool {
    src.len() >= word.len()
        && src
            .get(..word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
        && src
            .get(word.len()..)
            .is_some_and(|r| r.is_empty() || r.starts_with(char::is_whitespace))
}

/// `[!]/re/flags` at the start of `src`: the regex, negation and the rest.
fn parse_pattern(flavour: Flavour, src: &str) -> Result<(Regex, bool, &str), String> {
    let (negated, rest) = match src.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, src),
    };
    let delim = rest
        .chars()
        .next()
        .ok_or_else(|| "expected /regex/ ACTION".to_string())?;
    if delim.is_alphanumeric() || delim.is_whitespace() || delim == '\\' {
        return Err(format!("expected /regex/ ACTION, found {src:?}"));
    }
    let body = &rest[delim.len_utf8()..];
    let mut end = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == delim {
            end = Some(i);
            break;
        }
    }
    let end = end.ok_or_else(|| format!("missing closing {delim} in {src:?}"))?;
    // The backslash of an escaped delimiter stays (Postfix keeps it:
    // `|a\|b|` matches `a|b`, checked with postmap).
    let written = &body[..end];
    let after = &body[end + delim.len_utf8()..];
    let flags_end = after.find(char::is_whitespace).unwrap_or(after.len());
    let flags = &after[..flags_end];
    let regex = match flavour {
        Flavour::Regexp => regexp_flags(written, flags)?,
        Flavour::Pcre => pcre_flags(written, flags)?,
    }
    .build()
    .map_err(|e| format!("bad regular expression {written:?}: {e}"))?;
    Ok((regex, negated, &after[flags_end..]))
}

/// `regexp_table(5)` flags: `i` (on), `m` (off), `x` (on), each toggled.
fn regexp_flags(pattern: &str, flags: &str) -> Result<RegexBuilder, String> {
    let (mut icase, mut multi, mut extended) = (true, false, true);
    for f in flags.chars() {
        match f {
            'i' => icase = !icase,
            'm' => multi = !multi,
            'x' => extended = !extended,
            other => return Err(format!("unknown regexp flag {other:?}")),
        }
    }
    let translated = if extended {
        pattern.to_string()
    } else {
        basic_to_extended(pattern)
    };
    let mut b = RegexBuilder::new(&translated);
    b.case_insensitive(icase)
        .multi_line(multi)
        .dot_matches_new_line(!multi);
    Ok(b)
}

/// `pcre_table(5)` flags: `i` (on), `m` (off), `s` (on), `x` (off), `A`,
/// `E`, `U`, `X` (off), each toggled. `E` (a `$` only at the very end) is
/// what the regex crate always does; `X` is not supported by PCRE2 either
/// and is accepted without effect.
fn pcre_flags(pattern: &str, flags: &str) -> Result<RegexBuilder, String> {
    let (mut icase, mut multi, mut dotall, mut extended, mut anchored, mut ungreedy) =
        (true, false, true, false, false, false);
    for f in flags.chars() {
        match f {
            'i' => icase = !icase,
            'm' => multi = !multi,
            's' => dotall = !dotall,
            'x' => extended = !extended,
            'A' => anchored = !anchored,
            'U' => ungreedy = !ungreedy,
            'E' | 'X' => {}
            other => return Err(format!("unknown pcre flag {other:?}")),
        }
    }
    let pattern = if anchored {
        format!("\\A(?:{pattern})")
    } else {
        pattern.to_string()
    };
    let mut b = RegexBuilder::new(&pattern);
    b.case_insensitive(icase)
        .multi_line(multi)
        .dot_matches_new_line(dotall)
        .ignore_whitespace(extended)
        .swap_greed(ungreedy);
    Ok(b)
}

/// A POSIX basic expression in the regex crate's (extended) syntax.
fn basic_to_extended(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if in_bracket {
            out.push(c);
            if c == ']' {
                in_bracket = false;
            }
            continue;
        }
        match c {
            '[' => {
                in_bracket = true;
                out.push(c);
                // A leading `]` (or `^]`) is literal inside the bracket.
                let rest = chars.as_str();
                let lead = if rest.starts_with("^]") {
                    2
                } else if rest.starts_with(']') {
                    1
                } else {
                    0
                };
                for _ in 0..lead {
                    match chars.next() {
                        Some(']') => out.push_str("\\]"),
                        Some(n) => out.push(n),
                        None => {}
                    }
                }
            }
            '\\' => match chars.next() {
                Some(n @ ('(' | ')' | '{' | '}' | '|' | '+' | '?')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Split a result into text and `$n` pieces, checking the group numbers.
fn parse_result(text: &str, regex: &Regex, negated: bool) -> Result<Vec<Piece>, String> {
    let groups = regex.captures_len().saturating_sub(1);
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            buf.push(c);
            continue;
        }
        let n: String = match chars.peek() {
            Some('$') => {
                chars.next();
                buf.push('$');
                continue;
            }
            Some(&open @ ('{' | '(')) => {
                chars.next();
                let close = if open == '{' { '}' } else { ')' };
                let mut n = String::new();
                loop {
                    match chars.next() {
                        Some(c) if c == close => break,
                        Some(c) => n.push(c),
                        None => return Err(format!("missing {close} after ${open}{n}")),
                    }
                }
                n
            }
            Some(d) if d.is_ascii_digit() => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                n
            }
            _ => return Err(format!("bad replacement syntax after $ in {text:?}")),
        };
        let index: usize = n
            .parse()
            .map_err(|_| format!("bad replacement index {n:?} in {text:?}"))?;
        if negated {
            return Err("$n substitution is not available in a negated (!) rule".into());
        }
        if index == 0 || index > groups {
            return Err(format!(
                "replacement index ${index} out of range (the pattern has {groups} groups)"
            ));
        }
        if !buf.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut buf)));
        }
        out.push(Piece::Group(index));
    }
    if !buf.is_empty() || out.is_empty() {
        out.push(Piece::Text(buf));
    }
    Ok(out)
}

fn substitute(pieces: &[Piece], caps: Option<&Captures<'_>>) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Group(n) => {
                if let Some(m) = caps.and_then(|c| c.get(*n)) {
                    s.push_str(m.as_str());
                }
            }
        }
    }
    s
}

/// `REJECT [dsn] [text]` as a reply (Postfix's default 5.7.1).
pub(crate) fn reject_reply(text: &str) -> Reply {
    let (dsn, rest) = match text.split_once(char::is_whitespace) {
        Some((d, r)) if super::access::is_dsn(d) && (d.starts_with('4') || d.starts_with('5')) => {
            (d, r.trim())
        }
        _ if super::access::is_dsn(text) => (text, ""),
        _ => ("5.7.1", text),
    };
    let code = if dsn.starts_with('4') { 450 } else { 550 };
    let rest = if rest.is_empty() {
        "Message content rejected"
    } else {
        rest
    };
    Reply::new(code, dsn, rest)
}

/// Apply the rules to one logical header (`Subject: ...`) alone: the
/// verdict `mxgate test` shows (raw, then RFC 2047/2231-decoded, as
/// [`super::content::inspect`] matches headers). Actions that edit or reroute the message
/// are reported as [`Action::Continue`] with the rule in the `why`.
pub fn check_header(rules: &HeaderRules, line: &str) -> Verdict {
    let hit = rules
        .lookup(line)
        .or_else(|| super::content::decode_header(line).and_then(|d| rules.lookup(&d)));
    let Some(hit) = hit else {
        return Verdict::cont("no header rule matched");
    };
    let why = hit.because();
    let action = match RuleAction::parse(&hit.result) {
        Ok(RuleAction::Reject(reply)) => return Verdict::refuse(reply, why),
        Ok(RuleAction::Discard(_)) => Action::Discard,
        Ok(RuleAction::Hold(t)) => Action::Quarantine(if t.is_empty() {
            format!("header rule {}:{}", hit.file, hit.line)
        } else {
            t
        }),
        // A substituted action word that is not an action: Postfix logs
        // and ignores it.
        Ok(_) | Err(_) => Action::Continue,
    };
    Verdict::new(action, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> HeaderRules {
        HeaderRules::parse("hc", text).unwrap()
    }

    fn result(r: &HeaderRules, input: &str) -> Option<String> {
        r.lookup(input).map(|h| h.result)
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = HeaderRules::parse("hc", "# c\n/ok/ OK\n/(/ REJECT\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("hc:3: bad regular expression"));
        let e = HeaderRules::parse("hc", "/x/ FROB\n").unwrap_err();
        assert!(e.message.contains("unknown action"));
        let e = HeaderRules::parse("hc", "if /x/\n/y/ OK\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (1, "if without a matching endif")
        );
        let e = HeaderRules::parse("hc", "/y/ OK\nendif\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = HeaderRules::parse("hc", "/(y)/ REJECT $2\n").unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        let e = HeaderRules::parse("hc", "!/(y)/ REJECT $1\n").unwrap_err();
        assert!(e.message.contains("negated"), "{e}");
        let e = HeaderRules::parse("hc", "/y/q REJECT\n").unwrap_err();
        assert!(e.message.contains("flag"), "{e}");
        let e = HeaderRules::parse("hc", "/y/ PREPEND\n").unwrap_err();
        assert!(e.message.contains("PREPEND needs"), "{e}");
        let e = HeaderRules::parse("hc", "/y/ FILTER scanner\n").unwrap_err();
        assert!(e.message.contains("transport:destination"), "{e}");
        let e = HeaderRules::parse("hc", "/y/ REDIRECT postmaster\n").unwrap_err();
        assert!(e.message.contains("user@domain"), "{e}");
        assert_eq!(
            RuleAction::parse("BCC <a@b.example>"),
            Ok(RuleAction::Bcc("a@b.example".into()))
        );
    }

    #[test]
    fn case_insensitive_unless_i() {
        let r = rules("/^Subject: make money/ REJECT a\n/^Subject: Cheap/i REJECT b\n");
        assert_eq!(
            result(&r, "SUBJECT: MAKE MONEY now").as_deref(),
            Some("REJECT a")
        );
        assert_eq!(
            result(&r, "Subject: Cheap pills").as_deref(),
            Some("REJECT b")
        );
        assert_eq!(result(&r, "Subject: cheap pills"), None);
    }

    #[test]
    fn if_endif_nesting_and_negation() {
        let r = rules(
            "if /^Subject:/\nif !/free/\n/money/ REJECT paid\nendif\n/money/ WARN free\nendif\n/money/ INFO other\n",
        );
        assert_eq!(result(&r, "Subject: money").as_deref(), Some("REJECT paid"));
        assert_eq!(
            result(&r, "Subject: free money").as_deref(),
            Some("WARN free")
        );
        assert_eq!(result(&r, "To: money").as_deref(), Some("INFO other"));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn substitution_and_delimiters() {
        let r = rules("|^From: (.*)@(.*)$| REJECT ${1} at $(2) costs $$1\n");
        assert_eq!(
            result(&r, "From: a@b.example").as_deref(),
            Some("REJECT a at b.example costs $1")
        );
        let r = rules("/a\\/b/ DUNNO\n");
        assert!(r.lookup("x a/b").is_some());
        // The escaped delimiter keeps its backslash: `\|` is a literal bar.
        let r = rules("|^a\\|b$| DUNNO\n");
        assert!(r.lookup("a|b").is_some());
        assert!(r.lookup("a").is_none());
    }

    #[test]
    fn folded_header_and_multiline_flag() {
        let r = rules("/^Subject: a.b$/ REJECT\n/^ c$/m WARN\n");
        assert!(r.lookup("Subject: a\nb").is_some());
        assert_eq!(
            result(&r, "X: y\n c").as_deref(),
            Some("WARN"),
            "m: ^ and $ at newlines"
        );
    }

    #[test]
    fn basic_syntax_with_x() {
        let r = rules("/^a\\(b\\)+c{2}$/x REJECT $1\n");
        assert_eq!(result(&r, "ab+c{2}").as_deref(), Some("REJECT b"));
        assert_eq!(result(&r, "abbcc"), None);
        let r = rules("/^a\\(b\\)\\+$/x REJECT $1\n");
        assert_eq!(result(&r, "abbb").as_deref(), Some("REJECT b"));
    }

    #[test]
    fn pcre_flags_toggle() {
        let r = HeaderRules::parse(
            "pcre:hc",
            "/^a.b$/s INFO nl\n/^X: (a+?)/U INFO $1\n/ c # d/x INFO x\n",
        )
        .unwrap();
        assert_eq!(r.file(), "hc");
        assert!(r.lookup("a\nb").is_none(), "s turns DOTALL off");
        assert_eq!(result(&r, "X: aaa").as_deref(), Some("INFO aaa"));
        assert_eq!(result(&r, "c").as_deref(), Some("INFO x"));
        let e = HeaderRules::parse("pcre:hc", "/a/q INFO\n").unwrap_err();
        assert!(e.message.contains("pcre flag"), "{e}");
    }

    #[test]
    fn reject_dsn_text() {
        assert_eq!(
            reject_reply(""),
            Reply::new(550, "5.7.1", "Message content rejected")
        );
        assert_eq!(
            reject_reply("4.7.0 later"),
            Reply::new(450, "4.7.0", "later")
        );
        assert_eq!(reject_reply("no spam"), Reply::new(550, "5.7.1", "no spam"));
    }
}
