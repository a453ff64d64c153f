//! sendmail's tokenizer, for texts that pass through rulesets.
//!
//! Contract: [`rebuild`] gives the text sendmail 8.17 sends for an error
//! text that went through its rulesets (`ERROR:` values of the access map,
//! mailertable `error:` values): `prescan()` splits it into tokens and
//! `cataddr()` joins them again. Whitespace separates tokens and is
//! dropped; `(comments)` are dropped; `"quoted strings"` are one token,
//! sent without their quotes; `\x` is `x`; the operator characters
//! `.:%@!^/[]+` (Debian's `OperatorChars`) and the specials `,;<>` are
//! tokens of their own. A space is put back only between two word
//! tokens. The first `>` ends the text (the rule's `<$+>` closes there).
//! [`check`] is `prescan()`'s balance test over the whole value: a stray
//! `>` or `)`, or an unclosed `<`, `(` or `"` anywhere (even after the
//! first `>`) makes sendmail refuse the value. Pure; no I/O.

/// Why a text could not be tokenized (sendmail refuses it with
/// `553 5.0.0 ...  Unbalanced 'c'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Unbalanced '{0}'")]
pub struct Unbalanced(pub char);

/// sendmail's `prescan()` balance test: the first stray `>` or `)`, else
/// an unclosed `"`, `(` or `<` at the end (in that order). `\x` escapes
/// `x`; nothing counts inside quotes; only `(`, `)` count in a comment.
pub fn check(text: &str) -> Result<(), Unbalanced> {
    let (mut angle, mut comment, mut quoted) = (0u32, 0u32, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' if comment == 0 => quoted = !quoted,
            _ if quoted => {}
            '(' => comment += 1,
            ')' if comment == 0 => return Err(Unbalanced(')')),
            ')' => comment -= 1,
            _ if comment > 0 => {}
            '<' => angle += 1,
            '>' if angle == 0 => return Err(Unbalanced('>')),
            '>' => angle -= 1,
            _ => {}
        }
    }
    if quoted {
        Err(Unbalanced('"'))
    } else if comment > 0 {
        Err(Unbalanced('('))
    } else if angle > 0 {
        Err(Unbalanced('<'))
    } else {
        Ok(())
    }
}

/// The text as sendmail's tokenizer rebuilds it (see the module doc); the
/// whole text must pass [`check`] first.
pub fn rebuild(text: &str) -> Result<String, Unbalanced> {
    check(text)?;
    let mut out = String::new();
    let mut prev_word = false;
    let mut angle = 0u32;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => {
                let mut depth = 1u32;
                while depth > 0 {
                    match chars.next() {
                        None => return Err(Unbalanced('(')),
                        Some('\\') => {
                            chars.next();
                        }
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some(_) => {}
                    }
                }
            }
            ')' => return Err(Unbalanced(')')),
            '"' => {
                let mut closed = false;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            if let Some(e) = chars.next() {
                                out.push(e);
                            }
                        }
                        q => out.push(q),
                    }
                }
                if !closed {
                    return Err(Unbalanced('"'));
                }
                prev_word = false;
            }
            '>' => {
                if angle == 0 {
                    return Err(Unbalanced('>'));
                }
                return Ok(out);
            }
            '<' | ',' | ';' | '.' | ':' | '%' | '@' | '!' | '^' | '/' | '[' | ']' | '+' => {
                if c == '<' {
                    angle += 1;
                }
                out.push(c);
                prev_word = false;
            }
            c => {
                if prev_word {
                    out.push(' ');
                }
                let mut ch = Some(c);
                while let Some(w) = ch {
                    if w == '\\' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else {
                        out.push(w);
                    }
                    ch = chars.next_if(|n| !ends_word(*n));
                }
                prev_word = true;
            }
        }
    }
    if angle > 0 {
        return Err(Unbalanced('<'));
    }
    Ok(out)
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || "()\"<>,;.:%@!^/[]+".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Checked on sendmail 8.17 -bs (MAIL FROM against access `ERROR:550 ...`
    // values; the reply text after `<addr>... `).
    #[test]
    fn texts_as_sendmail_sends_them() {
        for (value, sent) in [
            ("We do not  accept,mail (here)", "We do not accept,mail"),
            ("No-mail;from:you  ok", "No-mail;from:you ok"),
            ("a - b x_y z 50% off", "a - b x_y z 50%off"),
            ("it's a = b {y} &c #1", "it's a = b {y} &c #1"),
            ("say \"hi there\" now", "sayhi therenow"),
            ("end. Try later.", "end.Try later."),
            ("a\ttab  and  [1.2.3.4] x!y ^z", "a tab and[1.2.3.4]x!y^z"),
            ("x * y ? z | w ~ v", "x * y ? z | w ~ v"),
            ("A.B.C 1.2 \"x y\" $z", "A.B.C 1.2x y$z"),
            ("user@host <x> said: no", "user@host<x"),
            ("a \\\"b\\\" c\\,d", "a \"b\" c,d"),
            ("x (c1 (nested) y) z", "x z"),
            (
                "Access denied - see http://www.example.com/why?a=1",
                "Access denied - see http://www.example.com/why?a=1",
            ),
        ] {
            assert_eq!(
                rebuild(&format!("550 {value}")),
                Ok(format!("550 {sent}")),
                "{value}"
            );
        }
        assert_eq!(rebuild("550 (only comment)"), Ok("550".into()));
        assert_eq!(
            rebuild("\"550 Quoted  text, kept\""),
            Ok("550 Quoted  text, kept".into())
        );
    }

    // sendmail 8.17: `553 5.0.0 ERROR:550 a > b c... Unbalanced '>'`.
    #[test]
    fn unbalanced() {
        assert_eq!(rebuild("550 a > b c"), Err(Unbalanced('>')));
        assert_eq!(rebuild("550 a < b c"), Err(Unbalanced('<')));
        assert_eq!(rebuild("550 a ) b"), Err(Unbalanced(')')));
        assert_eq!(rebuild("550 a ( b"), Err(Unbalanced('(')));
        // More values checked the same way (access `ERROR:` values):
        //   `550 a " b`     → Unbalanced '"'
        //   `550 a <<b>> c` → 550 5.0.0 <x@d4.org>... a<<b (balanced)
        //   `550 a <b> > c` → Unbalanced '>' (after the first `>`)
        //   `550 a)b(c`     → Unbalanced ')'
        //   `"550 a > b"`   → 550 5.0.0 <x@d7.org>... a > b (quoted)
        //   `550 a\> b`     → 550 5.0.0 <x@d8.org>... a> b (escaped)
        assert_eq!(rebuild("550 a \" b"), Err(Unbalanced('"')));
        assert_eq!(rebuild("550 a <<b>> c"), Ok("550 a<<b".into()));
        assert_eq!(rebuild("550 a <b> > c"), Err(Unbalanced('>')));
        assert_eq!(rebuild("550 a)b(c"), Err(Unbalanced(')')));
        assert_eq!(rebuild("\"550 a > b\""), Ok("550 a > b".into()));
        assert_eq!(rebuild("550 a\\> b"), Ok("550 a> b".into()));
    }
}
