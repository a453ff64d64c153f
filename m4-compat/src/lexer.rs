//! m4 tokens over a push-back input stack.
//!
//! Contract: [`Input`] is m4's input: a stack of positioned characters onto
//! which macro expansions are pushed back for rescanning. [`Input::token`]
//! reads one token the way GNU m4 does with the default syntax: a name
//! (`[A-Za-z_][A-Za-z0-9_]*`), a quoted string (`` ` ``…`'`, nested; the token
//! holds the text with one level of quotes removed), a comment (`#` to and
//! including the newline, passed through unexpanded) or any other single
//! character. A quote that never closes is an error at the opening quote.
//! Reads never go below the current floor, so a nested expansion cannot
//! consume its caller's input.

use crate::diag::Pos;

/// One m4 token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A macro name candidate.
    Name(String, Pos),
    /// A quoted string, outer quotes removed, with positions.
    Quoted(Vec<(char, Pos)>, Pos),
    /// A `#` comment including its newline (if any).
    Comment(Vec<(char, Pos)>),
    /// Any other character.
    Char(char, Pos),
}

/// A lexical error.
#[derive(Debug, Clone, PartialEq)]
pub enum LexError {
    /// A `` ` `` with no matching `'` before the end of input.
    UnclosedQuote(Pos),
}

/// The push-back input stack (top = end of the vector).
#[derive(Debug, Default)]
pub struct Input {
    stack: Vec<(char, Pos)>,
    floor: usize,
}

impl Input {
    /// Push `text` so that its first character is read next.
    pub fn push(&mut self, text: &[(char, Pos)]) {
        self.stack.extend(text.iter().rev().copied());
    }

    /// Pending characters above the floor.
    pub fn len(&self) -> usize {
        self.stack.len().saturating_sub(self.floor)
    }

    /// Total pending characters (all levels).
    pub fn total(&self) -> usize {
        self.stack.len()
    }

    /// Is there nothing left above the floor?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Set a new floor at the current height; returns the old one.
    pub fn raise_floor(&mut self, below: usize) -> usize {
        let old = self.floor;
        self.floor = self.stack.len().saturating_sub(below);
        old
    }

    /// Restore a floor returned by [`Input::raise_floor`].
    pub fn restore_floor(&mut self, floor: usize) {
        self.floor = floor;
    }

    /// The next character without consuming it.
    pub fn peek(&self) -> Option<(char, Pos)> {
        if self.stack.len() > self.floor {
            self.stack.last().copied()
        } else {
            None
        }
    }

    /// Consume one character.
    pub fn next_char(&mut self) -> Option<(char, Pos)> {
        if self.stack.len() > self.floor {
            self.stack.pop()
        } else {
            None
        }
    }

    /// Read one token.
    pub fn token(&mut self) -> Result<Option<Token>, LexError> {
        let Some((c, pos)) = self.next_char() else {
            return Ok(None);
        };
        if c.is_ascii_alphabetic() || c == '_' {
            let mut name = String::new();
            name.push(c);
            while let Some((d, _)) = self.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    name.push(d);
                    self.next_char();
                } else {
                    break;
                }
            }
            return Ok(Some(Token::Name(name, pos)));
        }
        if c == '`' {
            let mut depth = 1usize;
            let mut text = Vec::new();
            loop {
                let Some((d, p)) = self.next_char() else {
                    return Err(LexError::UnclosedQuote(pos));
                };
                if d == '`' {
                    depth += 1;
                } else if d == '\'' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                text.push((d, p));
            }
            return Ok(Some(Token::Quoted(text, pos)));
        }
        if c == '#' {
            let mut text = vec![(c, pos)];
            while let Some((d, p)) = self.next_char() {
                text.push((d, p));
                if d == '\n' {
                    break;
                }
            }
            return Ok(Some(Token::Comment(text)));
        }
        Ok(Some(Token::Char(c, pos)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::positioned;

    fn toks(s: &str) -> Vec<Token> {
        let mut i = Input::default();
        i.push(&positioned(
            s,
            Pos {
                file: 0,
                line: 1,
                col: 1,
            },
        ));
        let mut v = Vec::new();
        while let Some(t) = i.token().unwrap() {
            v.push(t);
        }
        v
    }

    fn text(v: &[(char, Pos)]) -> String {
        v.iter().map(|c| c.0).collect()
    }

    #[test]
    fn nested_quotes_lose_one_level() {
        let t = toks("`a`b'c'");
        match &t[0] {
            Token::Quoted(v, _) => assert_eq!(text(v), "a`b'c"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comment_runs_to_newline() {
        let t = toks("# x `y\nz");
        match &t[0] {
            Token::Comment(v) => assert_eq!(text(v), "# x `y\n"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&t[1], Token::Name(n, p) if n == "z" && p.line == 2));
    }

    #[test]
    fn unclosed_quote_points_at_opening() {
        let mut i = Input::default();
        i.push(&positioned(
            "ab\n  `x",
            Pos {
                file: 0,
                line: 1,
                col: 1,
            },
        ));
        i.token().unwrap();
        i.token().unwrap();
        i.token().unwrap();
        i.token().unwrap();
        assert_eq!(
            i.token(),
            Err(LexError::UnclosedQuote(Pos {
                file: 0,
                line: 2,
                col: 3
            }))
        );
    }

    #[test]
    fn floor_protects_outer_input() {
        let mut i = Input::default();
        i.push(&positioned("outer", Pos::default()));
        i.push(&positioned("in", Pos::default()));
        let old = i.raise_floor(2);
        assert!(matches!(i.token().unwrap(), Some(Token::Name(n, _)) if n == "in"));
        assert_eq!(i.token().unwrap(), None);
        i.restore_floor(old);
        assert!(matches!(i.token().unwrap(), Some(Token::Name(n, _)) if n == "outer"));
    }
}
