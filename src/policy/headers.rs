//! Header rules in Postfix `header_checks` syntax (an mxgate extension,
//! `FEATURE(header_checks, path)`).
//!
//! Contract: [`HeaderRules::parse`] compiles the rules file once (each error
//! names `file:line`); [`check_header`] applies them to one unfolded header
//! line and returns the first matching rule's verdict. Rule syntax:
//! `/regex/flags ACTION [text]` or `!/regex/flags ...` (matches when the
//! regex does not); any non-alphanumeric delimiter may replace `/`;
//! continuation lines start with whitespace; `#` comments. Flags: `i`
//! (case-insensitive), `m` (multi-line), `x` (extended). Actions: `REJECT
//! [text]` → `550 5.7.1 text` (default `Message content rejected`; a
//! leading `4.x.x`/`5.x.x` in the text sets the status), `DISCARD`, `OK`,
//! `DUNNO` (no decision), `WARN [text]` (no decision, logged through the
//! `why`), `HOLD [text]` (quarantine).
//!
//! Deviation from Postfix, on purpose: Postfix matches case-insensitively by
//! default and `i` *toggles* that off; administrators (and our mission
//! documents) write `/.../i` meaning "ignore case". Here matching is
//! case-sensitive unless `i` is given, so `/i` means what it says.

use std::fmt;

use regex::{Regex, RegexBuilder};

use super::{Action, Because, Reply, Verdict};

/// A compiled rules file.
#[derive(Debug, Clone)]
pub struct HeaderRules {
    file: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    line: usize,
    source: String,
    regex: Regex,
    negated: bool,
    action: RuleAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RuleAction {
    Reject(Reply),
    Discard,
    Ok,
    Dunno,
    Warn(String),
    Hold(String),
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

impl HeaderRules {
    /// Compile `text` (the contents of `file`).
    pub fn parse(file: &str, text: &str) -> Result<HeaderRules, HeaderRuleError> {
        let mut rules = Vec::new();
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
                last.push(' ');
                last.push_str(trimmed);
                continue;
            }
            logical.push((i + 1, trimmed.to_string()));
        }
        for (line, src) in logical {
            let err = |message: String| HeaderRuleError {
                file: file.to_string(),
                line,
                message,
            };
            rules.push(parse_rule(line, &src).map_err(err)?);
        }
        Ok(HeaderRules {
            file: file.to_string(),
            rules,
        })
    }

    /// No rules.
    pub fn empty() -> HeaderRules {
        HeaderRules {
            file: String::new(),
            rules: Vec::new(),
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Are there no rules?
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn parse_rule(line: usize, src: &str) -> Result<Rule, String> {
    let (negated, rest) = match src.strip_prefix('!') {
        Some(r) => (true, r),
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
    let pattern = &body[..end];
    let after = &body[end + delim.len_utf8()..];
    let flags_end = after.find(char::is_whitespace).unwrap_or(after.len());
    let flags = &after[..flags_end];
    let mut builder = RegexBuilder::new(pattern);
    for f in flags.chars() {
        match f {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            'x' => builder.ignore_whitespace(true),
            other => return Err(format!("unknown regex flag {other:?}")),
        };
    }
    let regex = builder
        .build()
        .map_err(|e| format!("bad regular expression /{pattern}/: {e}"))?;
    let action_text = after[flags_end..].trim();
    if action_text.is_empty() {
        return Err("missing action after the regular expression".into());
    }
    let (word, text) = match action_text.split_once(char::is_whitespace) {
        Some((w, t)) => (w, t.trim()),
        None => (action_text, ""),
    };
    let action = match word.to_ascii_uppercase().as_str() {
        "REJECT" => RuleAction::Reject(reject_reply(text)),
        "DISCARD" => RuleAction::Discard,
        "OK" => RuleAction::Ok,
        "DUNNO" => RuleAction::Dunno,
        "WARN" => RuleAction::Warn(text.to_string()),
        "HOLD" => RuleAction::Hold(text.to_string()),
        other => {
            return Err(format!(
                "unknown action {other:?} (expected REJECT, DISCARD, OK, DUNNO, WARN or HOLD)"
            ));
        }
    };
    Ok(Rule {
        line,
        source: src.to_string(),
        regex,
        negated,
        action,
    })
}

fn reject_reply(text: &str) -> Reply {
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

/// Apply the rules to one unfolded header line (`Subject: ...`).
pub fn check_header(rules: &HeaderRules, line: &str) -> Verdict {
    for r in &rules.rules {
        if r.regex.is_match(line) == r.negated {
            continue;
        }
        let why = Because::HeaderRule {
            file: rules.file.clone(),
            line: r.line,
            rule: r.source.clone(),
        };
        let action = match &r.action {
            RuleAction::Reject(reply) => return Verdict::refuse(reply.clone(), why),
            RuleAction::Discard => Action::Discard,
            RuleAction::Ok => Action::Accept,
            RuleAction::Dunno | RuleAction::Warn(_) => Action::Continue,
            RuleAction::Hold(t) => Action::Quarantine(if t.is_empty() {
                format!("header rule {}:{}", rules.file, r.line)
            } else {
                t.clone()
            }),
        };
        return Verdict::new(action, why);
    }
    Verdict::cont("no header rule matched")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_line() {
        let e = HeaderRules::parse("hc", "# c\n/ok/ OK\n/(/ REJECT\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("hc:3: bad regular expression"));
        let e = HeaderRules::parse("hc", "/x/ FROB\n").unwrap_err();
        assert!(e.message.contains("unknown action"));
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
