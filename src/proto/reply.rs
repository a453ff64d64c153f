//! SMTP replies: a code, an RFC 3463 enhanced status, and text lines.
//!
//! Contract: [`Reply`] is built once where a decision is made and rendered
//! here to the wire form (`250-first\r\n250 last\r\n`). [`EnhancedStatus`]
//! parses and prints `class.subject.detail`. No I/O.
//!
//! Reply text often echoes what a client sent (an address, a verb). The
//! wire form never carries a control character raw: CR, LF, TAB and NUL are
//! written `\r`, `\n`, `\t`, `\0` and any other `\xHH` (`\u{..}` above
//! U+00FF), so no input can end a reply line early or forge another.

use std::fmt;

/// An RFC 3463 enhanced status code, e.g. `5.7.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    /// 2, 4 or 5.
    pub class: u8,
    /// Subject (0–999).
    pub subject: u16,
    /// Detail (0–999).
    pub detail: u16,
}

impl EnhancedStatus {
    /// Build from parts.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        EnhancedStatus {
            class,
            subject,
            detail,
        }
    }

    /// Parse `D.S.N`; `None` unless class is 2, 4 or 5 and the parts are numbers < 1000.
    pub fn parse(s: &str) -> Option<EnhancedStatus> {
        let mut it = s.split('.');
        let class: u8 = it.next()?.parse().ok()?;
        let subject: u16 = it.next()?.parse().ok()?;
        let detail: u16 = it.next()?.parse().ok()?;
        if it.next().is_some() || !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return None;
        }
        Some(EnhancedStatus::new(class, subject, detail))
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit reply code.
    pub code: u16,
    /// Enhanced status, written after the code on every line when present.
    pub status: Option<EnhancedStatus>,
    /// Text lines (at least one; may be empty strings).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status.
    pub fn new(code: u16, status: EnhancedStatus, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A one-line reply without an enhanced status (greetings, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: None,
            lines: vec![text.into()],
        }
    }

    /// Is this a 2xx or 3xx reply?
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Is this a 4xx reply?
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// This reply with its enhanced status set.
    pub fn with_status(&self, status: EnhancedStatus) -> Reply {
        Reply {
            status: Some(status),
            ..self.clone()
        }
    }

    /// The text, its lines joined by a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The enhanced status, or `N.0.0` from the code's first digit when
    /// the reply has none (RFC 3463 §3: the class follows the code).
    pub fn status_or_class(&self) -> EnhancedStatus {
        self.status
            .unwrap_or_else(|| EnhancedStatus::new((self.code / 100) as u8, 0, 0))
    }

    /// The wire form, CRLF-terminated lines.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 < n { '-' } else { ' ' };
            let text = escape_controls(text);
            let line = match self.status {
                Some(st) => format!("{}{sep}{st} {text}", self.code),
                None if text.is_empty() => format!("{}{sep}", self.code),
                None => format!("{}{sep}{text}", self.code),
            };
            out.extend_from_slice(line.trim_end().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// `text` with every control character written as an escape.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() && u32::from(c) <= 0xff => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl fmt::Display for Reply {
    /// The reply as one or more lines, without CRLF (for logs: `reject=550 5.7.1 ...`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wire = self.to_wire();
        let s = String::from_utf8_lossy(&wire);
        f.write_str(s.trim_end().replace("\r\n", " / ").as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        let r = Reply::new(550, EnhancedStatus::new(5, 7, 1), "Relaying denied");
        assert_eq!(r.to_wire(), b"550 5.7.1 Relaying denied\r\n");
        let r = Reply {
            code: 250,
            status: None,
            lines: vec![
                "gw.example.com Hello".into(),
                "PIPELINING".into(),
                "SIZE 0".into(),
            ],
        };
        assert_eq!(
            r.to_wire(),
            b"250-gw.example.com Hello\r\n250-PIPELINING\r\n250 SIZE 0\r\n"
        );
        assert_eq!(
            Reply::plain(354, "End data with <CR><LF>.<CR><LF>").to_wire(),
            b"354 End data with <CR><LF>.<CR><LF>\r\n"
        );
    }

    #[test]
    fn control_characters_are_never_sent_raw() {
        let r = Reply::new(
            553,
            EnhancedStatus::new(5, 1, 7),
            "<a\r\n250 2.0.0 forged\0\x07\x7f\u{85}\tb>... bad",
        );
        assert_eq!(
            r.to_wire(),
            b"553 5.1.7 <a\\r\\n250 2.0.0 forged\\0\\x07\\x7f\\x85\\tb>... bad\r\n"
        );
        let r = Reply {
            code: 250,
            status: None,
            lines: vec!["x\ry".into(), "ü ok".into()],
        };
        assert_eq!(r.to_wire(), "250-x\\ry\r\n250 ü ok\r\n".as_bytes());
        assert_eq!(r.to_string(), "250-x\\ry / 250 ü ok");
    }

    #[test]
    fn enhanced_status_parse() {
        assert_eq!(
            EnhancedStatus::parse("5.7.1"),
            Some(EnhancedStatus::new(5, 7, 1))
        );
        assert_eq!(EnhancedStatus::parse("4.3.0").unwrap().to_string(), "4.3.0");
        for bad in ["3.0.0", "5.7", "5.7.1.2", "a.b.c", "5.1000.0"] {
            assert_eq!(EnhancedStatus::parse(bad), None, "{bad}");
        }
    }
}
