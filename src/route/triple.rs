//! MailerToTriple: turn a table or relay value (`mailer:host`, `error:...`,
//! `local:user`, a bare host) into a delivery decision.
//!
//! Contract: [`resolve_value`] mirrors sendmail's ruleset `MailerToTriple`
//! (95) and the error-mailer reply rules of `buildaddr()`; it is shared by
//! mailertable, SMART_HOST, MAIL_HUB, LOCAL_RELAY, LUSER_RELAY and the
//! virtusertable `error:` values. [`error_reply`] computes the SMTP reply
//! sendmail sends for an `$#error $@ status $: text` triple (checked on
//! sendmail 8.17 with `-bs`, see `tests/route.rs`). Pure; no tables.

use super::ErrorReply;
use crate::proto::reply::EnhancedStatus;
use crate::site::Site;

/// What a value resolved to, before local names get their local step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Triple {
    /// The value was empty or named this host: the address goes on unchanged.
    Continue,
    /// A non-local mailer.
    Remote {
        mailer: String,
        host: String,
        user: String,
    },
    /// Local delivery to this user (`local:user`, `local:`).
    Local { user: String },
    /// The error mailer.
    Error(ErrorReply),
}

/// Resolve `value` for the recipient `local@host` (`host` without trailing
/// dot, spelled as the sender wrote it: it only builds the recipient). `default_mailer` is the mailer for a bare host (`relay` in
/// MailerToTriple).
pub(crate) fn resolve_value(site: &Site, value: &str, local: &str, host: &str) -> Triple {
    let value = value.trim();
    if value.is_empty() {
        return Triple::Continue;
    }
    if let Some(rest) = strip_prefix_ci(value, "error:") {
        // The rulesets tokenize the text: `No mail, for` → `No mail,for`
        // (sendmail 8.17 -bs); a value they cannot tokenize is refused
        // naming it: `553 5.0.0 error:550 a ( b... Unbalanced '('`.
        return Triple::Error(match crate::addr::tokens::rebuild(rest) {
            Ok(text) => error_from_rhs(&text),
            Err(why) => ErrorReply::new(
                553,
                EnhancedStatus::new(5, 0, 0),
                format!("{value}... {why}"),
            ),
        });
    }
    if let Some(rest) = strip_prefix_ci(value, "local:") {
        // CanonLocal: `local:` keeps the original local part; `local:u@h`
        // delivers to `u`.
        let user = match rest.trim() {
            "" => local.to_string(),
            r => match r.rfind('@') {
                Some(i) if i > 0 => r[..i].to_string(),
                _ => r.to_string(),
            },
        };
        return Triple::Local { user };
    }
    if let Some((mailer, rest)) = split_mailer(value)
        && !rest.is_empty()
    {
        if !MAILERS.iter().any(|m| m.eq_ignore_ascii_case(mailer)) {
            // sendmail 8.17 (`-bt` `/parse` of a mailertable entry
            // `cyrus:hub` without MAILER(`cyrus')): "buildaddr: unknown
            // mailer cyrus", the address goes to the error mailer.
            // mxgate has no program mailers (procmail, cyrus, ...), so
            // a route to one is refused, never sent over SMTP instead.
            return Triple::Error(ErrorReply::new(
                554,
                EnhancedStatus::new(5, 3, 5),
                format!("buildaddr: unknown mailer {mailer}"),
            ));
        }
        if let Some(at) = rest.rfind('@')
            && at > 0
            && at + 1 < rest.len()
        {
            // `mailer:user@host`: the recipient is replaced.
            let h = normalize_host(&rest[at + 1..]);
            return Triple::Remote {
                mailer: mailer.to_string(),
                user: format!("{}@{}", &rest[..at], h),
                host: h,
            };
        }
        return Triple::Remote {
            mailer: mailer.to_string(),
            host: normalize_host(rest),
            user: recipient(local, host),
        };
    }
    if site.is_local_host(value) {
        // `R< $=w > $*  $@ $2`: "delete local host".
        return Triple::Continue;
    }
    Triple::Remote {
        mailer: "relay".into(),
        host: normalize_host(value),
        user: recipient(local, host),
    }
}

/// The mailers a table or relay value may name: sendmail's `smtp` family
/// (`MAILER(smtp)`), `lmtp`, and `local`/`prog` (`MAILER(local)`).
const MAILERS: &[&str] = &[
    "smtp", "esmtp", "smtp8", "dsmtp", "relay", "lmtp", "local", "prog",
];

/// `mailer:rest` where `mailer` does not start with `[` (sendmail's `$~[ :`).
pub(crate) fn split_mailer(value: &str) -> Option<(&str, &str)> {
    let (m, rest) = value.split_once(':')?;
    if m.is_empty() || m.starts_with('[') || m.contains(char::is_whitespace) {
        return None;
    }
    Some((m, rest.trim()))
}

/// The RHS after `error:` in mailertable / relay values:
/// `D.S.N:text`, `keyword:text` or `text`.
pub(crate) fn error_from_rhs(rest: &str) -> ErrorReply {
    if let Some((first, text)) = rest.split_once(':') {
        let first = first.trim();
        if is_enhanced(first) || (!first.is_empty() && !first.contains(char::is_whitespace)) {
            return error_reply(Some(dequote(first)), text.trim());
        }
    }
    error_reply(None, rest.trim())
}

/// The RHS after `error:` in virtusertable values (`error:nouser User unknown`,
/// `error:D.S.N:text`): sendmail's `error : $- $+` takes one token, then
/// the rest.
pub(crate) fn error_from_virtuser(rest: &str) -> ErrorReply {
    let rest = rest.trim();
    if let Some((first, text)) = rest.split_once(':')
        && is_enhanced(first.trim())
    {
        return error_reply(Some(first.trim()), text.trim());
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ':')
        .unwrap_or(rest.len());
    let (word, text) = rest.split_at(end);
    let text = text.trim_start();
    let text = match text.strip_prefix(':') {
        Some(t) => format!(":{}", t.trim_start()),
        None => text.to_string(),
    };
    if word.is_empty() {
        return error_reply(None, &text);
    }
    error_reply(Some(dequote(word)), &text)
}

/// The reply for `$#error $@ status $: text`, as sendmail 8.17 sends it:
///
/// * text starting `NNN D.S.N ` → that code and enhanced code;
/// * text starting `NNN ` → that code; enhanced code = `status` when it is a
///   D.S.N, else `N.0.0` from the first digit;
/// * any other text → `553 5.3.0 text` (whatever the status keyword:
///   `error:nouser:User unknown` answers `553 5.3.0 ... User unknown`,
///   `error:tempfail:x` answers `553 5.3.0 ... x` — checked on sendmail 8.17).
///
/// 4xx codes temp-fail, everything else rejects.
pub fn error_reply(status: Option<&str>, text: &str) -> ErrorReply {
    let text = dequote(text.trim());
    let bytes = text.as_bytes();
    let has_code = bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && matches!(bytes[0], b'2'..=b'5')
        && bytes[3] == b' ';
    let (code, enhanced, rest) = if has_code {
        let code: u16 = text[..3].parse().unwrap_or(553);
        let after = text[4..].trim_start();
        let (first, tail) = match after.split_once(' ') {
            Some((f, t)) => (f, t),
            None => (after, ""),
        };
        if is_enhanced(first) {
            (code, first.to_string(), tail.to_string())
        } else {
            let enh = match status {
                Some(s) if is_enhanced(s) => s.to_string(),
                _ => format!("{}.0.0", &text[..1]),
            };
            (code, enh, after.to_string())
        }
    } else {
        (553, "5.3.0".to_string(), text.to_string())
    };
    ErrorReply {
        code,
        status: EnhancedStatus::parse(&enhanced),
        lines: vec![rest],
    }
}

/// `D.S.N` with a class digit 2, 4 or 5.
pub(crate) fn is_enhanced(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts.first(), Some(&("2" | "4" | "5")))
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn dequote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Hosts are compared and printed in lower case, without a trailing dot;
/// brackets are kept.
pub(crate) fn normalize_host(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn recipient(local: &str, host: &str) -> String {
    if host.is_empty() {
        local.to_string()
    } else {
        format!("{local}@{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(r: &ErrorReply) -> String {
        format!("{} {} {}", r.code, r.status_or_class(), r.text())
    }

    // All checked on sendmail 8.17 with `sendmail -bs` against mailertable
    // entries (RCPT TO answers).
    #[test]
    fn error_forms() {
        assert_eq!(
            reply(&error_from_rhs("5.7.1:550 No mail for bad.example")),
            "550 5.7.1 No mail for bad.example"
        );
        let r = error_from_rhs("4.3.2:451 Try later");
        assert_eq!(reply(&r), "451 4.3.2 Try later");
        assert!(r.is_transient());
        assert_eq!(
            reply(&error_from_rhs("nouser:User unknown")),
            "553 5.3.0 User unknown"
        );
        assert_eq!(
            reply(&error_from_rhs("nouser:550 No such one")),
            "550 5.0.0 No such one"
        );
        assert_eq!(
            reply(&error_from_rhs("Plain text only")),
            "553 5.3.0 Plain text only"
        );
        let r = error_from_rhs("450 busy now");
        assert_eq!(reply(&r), "450 4.0.0 busy now");
        assert!(r.is_transient());
        let r = error_from_rhs("tempfail:Try again");
        assert_eq!(reply(&r), "553 5.3.0 Try again");
        assert!(!r.is_transient());
        assert_eq!(
            reply(&error_from_rhs("\"550 5.1.1 User unknown\"")),
            "550 5.1.1 User unknown"
        );
    }

    #[test]
    fn virtuser_error_forms() {
        assert_eq!(
            reply(&error_from_virtuser("nouser 550 User unknown")),
            "550 5.0.0 User unknown"
        );
        assert_eq!(
            reply(&error_from_virtuser("5.7.0:550 Address invalid")),
            "550 5.7.0 Address invalid"
        );
        // `error:nouser:No such user` in a virtusertable keeps the colon
        // (sendmail 8.17 -bt: user ":No such user here").
        assert_eq!(
            reply(&error_from_virtuser("nouser:No such user here")),
            "553 5.3.0 :No such user here"
        );
    }

    #[test]
    fn enhanced_syntax() {
        assert!(is_enhanced("5.7.1"));
        assert!(is_enhanced("4.3.0"));
        assert!(!is_enhanced("nouser"));
        assert!(!is_enhanced("5.7"));
        assert!(!is_enhanced("6.0.0"));
    }
}
