//! The m4 subset that sendmail `.mc` files use.
//!
//! Contract: [`Engine`] reads positioned text and writes positioned output
//! into numbered diversions, implementing GNU m4's behaviour for: quotes
//! (one level removed per scan), `#` comments (passed through), `dnl`,
//! `divert`/`divnum`, `define`/`undefine`/`pushdef`/`popdef`/`defn` with
//! `$0`…`$9` (and `$10`…, as GNU m4), `$#`, `$*`, `$@` and rescanning,
//! `ifdef`, `ifelse`, `shift`, `len`, `incr`/`decr`, `errprint` (a
//! warning), `include`/`sinclude`. `changequote`/`changecom` are refused
//! with a clear message. Sendmail's cf macros (`FEATURE`, `MAILER`, ...) are
//! not m4 here: names for which [`CfHost::is_cf_macro`] answers yes are
//! handed, with their arguments fully expanded, to the host, which decides
//! what they mean. File access goes through [`CfHost::read_include`].
//!
//! Every error names the position of what went wrong: an unclosed quote or
//! parenthesis points at its opening character, a bad builtin call at the
//! macro name.

use crate::Diagnostic;
use crate::diag::{Files, Pos, at, positioned};
use crate::lexer::{Input, LexError, MAX_INPUT, Token};
use std::collections::BTreeMap;

/// A macro body and where it was defined.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The body (text, with `$n` references).
    pub body: String,
    /// Where the `define` (or `-D`) was.
    pub at: Pos,
}

/// What a cf macro asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum CfAction {
    /// Push this text back for rescanning (often empty).
    Text(String),
    /// Switch to diversion `n` and push the text.
    Divert(i32, String),
    /// Read this file next (already resolved by the host).
    Include {
        /// Name used in diagnostics.
        name: String,
        /// Contents.
        text: String,
    },
}

/// The interpreter of sendmail's cf macros, as seen from the engine.
pub trait CfHost {
    /// Is `name` a cf macro the host implements?
    fn is_cf_macro(&self, name: &str) -> bool;
    /// Call cf macro `name` at `pos`; `args` is `None` when called without parentheses.
    fn call(
        &mut self,
        files: &mut Files,
        name: &str,
        args: Option<&[String]>,
        pos: Pos,
    ) -> Result<CfAction, Diagnostic>;
    /// Resolve and read an `include`d file: `Ok(None)` when the include is
    /// to be ignored (sendmail's own `cf.m4`), `Err` when it cannot be read.
    fn read_include(
        &mut self,
        path: &str,
        from: Pos,
        files: &mut Files,
    ) -> Result<Option<(String, String)>, String>;
    /// Report a non-fatal diagnostic.
    fn warn(&mut self, d: Diagnostic);
}

/// The m4 builtins implemented here.
const BUILTINS: &[&str] = &[
    "define",
    "undefine",
    "pushdef",
    "popdef",
    "defn",
    "ifdef",
    "ifelse",
    "dnl",
    "divert",
    "divnum",
    "include",
    "sinclude",
    "shift",
    "len",
    "incr",
    "decr",
    "errprint",
    "changequote",
    "changecom",
];

/// Builtins that are only recognised when followed by `(` (GNU m4 "blind" macros).
const BLIND: &[&str] = &[
    "define", "undefine", "pushdef", "popdef", "defn", "ifdef", "ifelse", "include", "sinclude",
    "shift", "len", "incr", "decr", "errprint",
];

/// Upper bound on macro calls in one compilation (stops `define(`a', `a')a`).
const MAX_CALLS: u64 = 200_000;

/// Where output goes.
#[derive(Debug)]
enum Sink {
    Diversions,
    Capture(Vec<(char, Pos)>),
}

/// The m4 engine.
#[derive(Debug)]
pub struct Engine {
    /// File names for diagnostics.
    pub files: Files,
    input: Input,
    macros: BTreeMap<String, Vec<Definition>>,
    /// Names the .mc explicitly `undefine`d (and did not define again).
    pub undefined: BTreeMap<String, Pos>,
    diversion: i32,
    diversions: BTreeMap<i32, Vec<(char, Pos)>>,
    sink: Sink,
    calls: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// A fresh engine writing to diversion 0.
    pub fn new() -> Self {
        Engine {
            files: Files::default(),
            input: Input::default(),
            macros: BTreeMap::new(),
            undefined: BTreeMap::new(),
            diversion: 0,
            diversions: BTreeMap::new(),
            sink: Sink::Diversions,
            calls: 0,
        }
    }

    /// Define `name` as `body` (as `define` or `m4 -D`).
    pub fn define(&mut self, name: &str, body: &str, at: Pos) {
        self.undefined.remove(name);
        let defs = self.macros.entry(name.to_string()).or_default();
        defs.clear();
        defs.push(Definition {
            body: body.to_string(),
            at,
        });
    }

    /// The current definition of `name`.
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.macros.get(name).and_then(|v| v.last())
    }

    /// All current user definitions, sorted by name.
    pub fn definitions(&self) -> Vec<(String, Definition)> {
        self.macros
            .iter()
            .filter_map(|(k, v)| v.last().map(|d| (k.clone(), d.clone())))
            .collect()
    }

    /// The output collected in diversions `>= 0`, by diversion number.
    pub fn diversions(&self) -> &BTreeMap<i32, Vec<(char, Pos)>> {
        &self.diversions
    }

    /// Process `text` as the contents of file `name`.
    pub fn run_file(
        &mut self,
        host: &mut dyn CfHost,
        name: &str,
        text: &str,
    ) -> Result<(), Diagnostic> {
        let file = self.files.add(name);
        let chars = positioned(
            text,
            Pos {
                file,
                line: 1,
                col: 1,
            },
        );
        self.input.push(&chars);
        self.run(host)
    }

    /// Expand `text` completely (as m4 would when it rescans it) and return the result.
    pub fn expand_string(
        &mut self,
        host: &mut dyn CfHost,
        text: &str,
        pos: Pos,
    ) -> Result<String, Diagnostic> {
        if !text.contains(|c: char| c == '`' || c == '#' || c.is_ascii_alphabetic() || c == '_') {
            return Ok(text.to_string());
        }
        let chars = at(text, pos);
        self.input.push(&chars);
        let floor = self.input.raise_floor(chars.len());
        let saved = std::mem::replace(&mut self.sink, Sink::Capture(Vec::new()));
        let result = self.run(host);
        let captured = std::mem::replace(&mut self.sink, saved);
        // Drop anything left above the floor after an error.
        while self.input.next_char().is_some() {}
        self.input.restore_floor(floor);
        result?;
        match captured {
            Sink::Capture(v) => Ok(v.into_iter().map(|c| c.0).collect()),
            Sink::Diversions => Ok(String::new()),
        }
    }

    fn emit(&mut self, chars: &[(char, Pos)]) {
        match &mut self.sink {
            Sink::Capture(v) => v.extend_from_slice(chars),
            Sink::Diversions => {
                if self.diversion >= 0 {
                    self.diversions
                        .entry(self.diversion)
                        .or_default()
                        .extend_from_slice(chars);
                }
            }
        }
    }

    fn lex_err(&self, e: LexError) -> Diagnostic {
        match e {
            LexError::UnclosedQuote(p) => self.files.diag(
                p,
                "unbalanced quote: this ` is never closed by a matching '",
            ),
        }
    }

    fn is_macro(&self, host: &dyn CfHost, name: &str) -> bool {
        self.macros.get(name).is_some_and(|v| !v.is_empty())
            || BUILTINS.contains(&name)
            || host.is_cf_macro(name)
    }

    /// The main loop: read tokens until the input (above the floor) is empty.
    fn run(&mut self, host: &mut dyn CfHost) -> Result<(), Diagnostic> {
        loop {
            let tok = self.input.token().map_err(|e| self.lex_err(e))?;
            match tok {
                None => return Ok(()),
                Some(Token::Name(name, pos)) => {
                    if self.is_macro(host, &name) {
                        self.call(host, &name, pos)?;
                    } else {
                        self.check_unknown_call(&name, pos)?;
                        self.emit(&positioned(&name, pos));
                    }
                }
                Some(Token::Quoted(text, _)) => self.emit(&text),
                Some(Token::Comment(text)) => self.emit(&text),
                Some(Token::Char(c, pos)) => self.emit(&[(c, pos)]),
            }
        }
    }

    /// An undefined upper-case name written like a macro call (`SMARTHOST(x)`)
    /// in text that is kept is almost certainly a misspelt cf macro.
    fn check_unknown_call(&self, name: &str, pos: Pos) -> Result<(), Diagnostic> {
        let kept = match self.sink {
            Sink::Capture(_) => true,
            Sink::Diversions => self.diversion >= 0,
        };
        let upper = name.len() >= 2
            && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if kept && upper && self.input.peek().is_some_and(|(c, _)| c == '(') {
            return Err(self.files.diag(
                pos,
                format!(
                    "unknown macro {name}(...): expected a sendmail cf macro such as FEATURE, MAILER, \
                     DAEMON_OPTIONS, MASQUERADE_AS or a name given to define() first"
                ),
            ));
        }
        Ok(())
    }

    /// Collect the arguments of a call whose `(` is next; `None` if no `(` follows.
    fn collect_args(
        &mut self,
        host: &mut dyn CfHost,
        name: &str,
        _name_pos: Pos,
    ) -> Result<Option<Vec<String>>, Diagnostic> {
        let Some(('(', open)) = self.input.peek() else {
            return Ok(None);
        };
        self.input.next_char();
        let mut args: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut depth = 0usize;
        let mut leading = true;
        loop {
            let tok = self.input.token().map_err(|e| self.lex_err(e))?;
            let Some(tok) = tok else {
                return Err(self.files.diag(
                    open,
                    format!("unclosed parenthesis: the argument list of {name} opened here is never closed"),
                ));
            };
            match tok {
                Token::Char(c, _) if leading && matches!(c, ' ' | '\t' | '\n' | '\r') => {}
                Token::Char(',', _) if depth == 0 => {
                    args.push(std::mem::take(&mut cur));
                    leading = true;
                }
                Token::Char(')', _) if depth == 0 => {
                    args.push(cur);
                    return Ok(Some(args));
                }
                Token::Char(c, _) => {
                    leading = false;
                    if c == '(' {
                        depth += 1;
                    } else if c == ')' {
                        depth -= 1;
                    }
                    cur.push(c);
                }
                Token::Name(n, p) => {
                    leading = false;
                    if self.is_macro(host, &n) {
                        self.call(host, &n, p)?;
                    } else {
                        cur.push_str(&n);
                    }
                }
                Token::Quoted(t, _) => {
                    leading = false;
                    cur.extend(t.iter().map(|c| c.0));
                }
                Token::Comment(t) => {
                    leading = false;
                    cur.extend(t.iter().map(|c| c.0));
                }
            }
        }
    }

    fn push_text(&mut self, text: &str, pos: Pos) -> Result<(), Diagnostic> {
        if self.input.total() + text.len() > MAX_INPUT {
            return Err(self.files.diag(
                pos,
                "macro expansion grows without end (recursive definition?)",
            ));
        }
        self.input.push(&at(text, pos));
        Ok(())
    }

    fn call(&mut self, host: &mut dyn CfHost, name: &str, pos: Pos) -> Result<(), Diagnostic> {
        self.calls += 1;
        if self.calls > MAX_CALLS {
            return Err(self.files.diag(
                pos,
                format!(
                    "too many macro expansions at {name} (a definition that expands to itself?)"
                ),
            ));
        }
        if name == "dnl" {
            while let Some((c, _)) = self.input.next_char() {
                if c == '\n' {
                    break;
                }
            }
            return Ok(());
        }
        let user = self.macros.get(name).and_then(|v| v.last()).cloned();
        let is_builtin = user.is_none() && BUILTINS.contains(&name);
        if is_builtin && BLIND.contains(&name) && self.input.peek().map(|c| c.0) != Some('(') {
            self.emit(&at(name, pos));
            return Ok(());
        }
        let args = self.collect_args(host, name, pos)?;
        if let Some(def) = user {
            let text = substitute(&def.body, name, args.as_deref().unwrap_or(&[]));
            return self.push_text(&text, pos);
        }
        if !is_builtin {
            let expanded = match &args {
                Some(a) => {
                    let mut v = Vec::with_capacity(a.len());
                    for s in a {
                        v.push(self.expand_string(host, s, pos)?);
                    }
                    Some(v)
                }
                None => None,
            };
            let action = host.call(&mut self.files, name, expanded.as_deref(), pos)?;
            return match action {
                CfAction::Text(t) => self.push_text(&t, pos),
                CfAction::Divert(n, t) => {
                    self.diversion = n;
                    self.push_text(&t, pos)
                }
                CfAction::Include { name, text } => {
                    let file = self.files.add(&name);
                    self.input.push(&positioned(
                        &text,
                        Pos {
                            file,
                            line: 1,
                            col: 1,
                        },
                    ));
                    Ok(())
                }
            };
        }
        let a = args.unwrap_or_default();
        let arg = |i: usize| a.get(i).map(|s| s.as_str()).unwrap_or("");
        match name {
            "define" | "pushdef" => {
                let n = arg(0).to_string();
                if n.is_empty() {
                    return Err(self.files.diag(pos, format!("{name} needs a macro name as its first argument")));
                }
                if name == "define" {
                    self.define(&n, arg(1), pos);
                } else {
                    self.undefined.remove(&n);
                    self.macros.entry(n).or_default().push(Definition { body: arg(1).to_string(), at: pos });
                }
                Ok(())
            }
            "undefine" | "popdef" => {
                for n in &a {
                    if name == "undefine" {
                        self.macros.remove(n);
                        self.undefined.insert(n.clone(), pos);
                    } else if let Some(v) = self.macros.get_mut(n) {
                        v.pop();
                        if v.is_empty() {
                            self.macros.remove(n);
                        }
                    }
                }
                Ok(())
            }
            "defn" => {
                let mut out = String::new();
                for n in &a {
                    if let Some(d) = self.definition(n) {
                        out.push('`');
                        out.push_str(&d.body);
                        out.push('\'');
                    }
                }
                self.push_text(&out, pos)
            }
            "ifdef" => {
                let t = if self.is_macro(host, arg(0)) {
                    arg(1)
                } else {
                    arg(2)
                };
                let t = t.to_string();
                self.push_text(&t, pos)
            }
            "ifelse" => {
                let t = ifelse(&a).to_string();
                self.push_text(&t, pos)
            }
            "divert" => {
                let s = arg(0).trim();
                let n = if s.is_empty() {
                    0
                } else {
                    s.parse::<i32>().map_err(|_| {
                        self.files.diag(pos, format!("divert expects a diversion number such as 0 or -1, got `{s}'"))
                    })?
                };
                self.diversion = n;
                Ok(())
            }
            "divnum" => {
                let t = self.diversion.to_string();
                self.push_text(&t, pos)
            }
            "include" | "sinclude" => {
                let path = arg(0).to_string();
                match host.read_include(&path, pos, &mut self.files) {
                    Ok(Some((fname, text))) => {
                        let file = self.files.add(&fname);
                        self.input.push(&positioned(&text, Pos { file, line: 1, col: 1 }));
                        Ok(())
                    }
                    Ok(None) => Ok(()),
                    Err(e) if name == "include" => {
                        Err(self.files.diag(pos, format!("include(`{path}'): {e}")))
                    }
                    Err(_) => Ok(()),
                }
            }
            "shift" => {
                let t = a.iter().skip(1).map(|s| format!("`{s}'")).collect::<Vec<_>>().join(",");
                self.push_text(&t, pos)
            }
            "len" => {
                let t = arg(0).chars().count().to_string();
                self.push_text(&t, pos)
            }
            "incr" | "decr" => {
                let n: i64 = arg(0).trim().parse().map_err(|_| {
                    self.files.diag(pos, format!("{name} expects a number, got `{}'", arg(0)))
                })?;
                let t = if name == "incr" { n + 1 } else { n - 1 }.to_string();
                self.push_text(&t, pos)
            }
            "errprint" => {
                let msg = a.join(" ");
                host.warn(self.files.diag(pos, format!("errprint: {}", msg.trim_end())));
                Ok(())
            }
            _ => Err(self.files.diag(
                pos,
                format!(
                    "{name} is not supported: mxgate's .mc compiler uses the standard quotes ` and ' \
                     and the # comment character; rewrite the file without {name}"
                ),
            )),
        }
    }
}

/// `ifelse(a, b, then, [c, d, then2, ...] [else])`.
fn ifelse(a: &[String]) -> &str {
    let mut rest = a;
    loop {
        match rest.len() {
            0..=2 => return "",
            3 => {
                return if rest[0] == rest[1] { &rest[2] } else { "" };
            }
            4 => {
                return if rest[0] == rest[1] {
                    &rest[2]
                } else {
                    &rest[3]
                };
            }
            _ => {
                if rest[0] == rest[1] {
                    return &rest[2];
                }
                rest = &rest[3..];
            }
        }
    }
}

/// Substitute `$0`…, `$#`, `$*`, `$@` in a macro body.
fn substitute(body: &str, name: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' && i + 1 < chars.len() {
            let d = chars[i + 1];
            if d.is_ascii_digit() {
                let mut j = i + 1;
                let mut n = 0usize;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    n = n
                        .saturating_mul(10)
                        .saturating_add(chars[j] as usize - '0' as usize);
                    j += 1;
                }
                if n == 0 {
                    out.push_str(name);
                } else if let Some(a) = args.get(n - 1) {
                    out.push_str(a);
                }
                i = j;
                continue;
            }
            match d {
                '#' => {
                    out.push_str(&args.len().to_string());
                    i += 2;
                    continue;
                }
                '*' => {
                    out.push_str(&args.join(","));
                    i += 2;
                    continue;
                }
                '@' => {
                    let q: Vec<String> = args.iter().map(|a| format!("`{a}'")).collect();
                    out.push_str(&q.join(","));
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host with no cf macros that reads no files.
    struct Plain(Vec<Diagnostic>);

    impl CfHost for Plain {
        fn is_cf_macro(&self, _: &str) -> bool {
            false
        }
        fn call(
            &mut self,
            _: &mut Files,
            _: &str,
            _: Option<&[String]>,
            _: Pos,
        ) -> Result<CfAction, Diagnostic> {
            Ok(CfAction::Text(String::new()))
        }
        fn read_include(
            &mut self,
            _: &str,
            _: Pos,
            _: &mut Files,
        ) -> Result<Option<(String, String)>, String> {
            Err("no files here".into())
        }
        fn warn(&mut self, d: Diagnostic) {
            self.0.push(d);
        }
    }

    fn m4(text: &str) -> Result<String, Diagnostic> {
        let mut e = Engine::new();
        let mut h = Plain(Vec::new());
        e.run_file(&mut h, "t.mc", text)?;
        Ok(e.diversions().values().flatten().map(|c| c.0).collect())
    }

    // Each expected value below was checked with GNU m4 1.4.19 on this machine.
    #[test]
    fn define_and_rescan() {
        assert_eq!(m4("define(`A', `B')define(`B', `c')A").unwrap(), "c");
        assert_eq!(m4("define(`A', ``B'')define(`B', `c')A").unwrap(), "B");
    }

    #[test]
    fn arguments() {
        assert_eq!(
            m4("define(`f',`[$1|$2|$#|$*|$@]')f(a, b)").unwrap(),
            "[a|b|2|a,b|a,b]"
        );
        assert_eq!(m4("define(`f',`$#')f f() f(,)").unwrap(), "0 1 2");
        assert_eq!(
            m4("define(`f',`$10')f(1,2,3,4,5,6,7,8,9,ten)").unwrap(),
            "ten"
        );
        assert_eq!(m4("define(`f',``$0'')f").unwrap(), "f");
    }

    #[test]
    fn dnl_and_divert() {
        assert_eq!(m4("a dnl b\nc").unwrap(), "a c");
        assert_eq!(m4("divert(-1)gone\ndivert(0)kept").unwrap(), "kept");
        assert_eq!(
            m4("divert(2)two\ndivert(1)one\ndivert(0)zero\n").unwrap(),
            "zero\none\ntwo\n"
        );
    }

    #[test]
    fn comments_are_not_expanded() {
        assert_eq!(m4("define(`X',`y')# X dnl\nX").unwrap(), "# X dnl\ny");
    }

    #[test]
    fn ifdef_ifelse() {
        assert_eq!(
            m4("ifdef(`X', `yes', `no') define(`X')ifdef(`X', `yes', `no')").unwrap(),
            "no yes"
        );
        // Tokens join across the end of an expansion, as in GNU m4 ("nodefine").
        assert_eq!(
            m4("ifdef(`X', `yes', `no')define(`X')").unwrap(),
            "nodefine(X)"
        );
        assert_eq!(
            m4("ifelse(`a', `a', `eq', `ne') ifelse(`a', `b', `eq', `ne')").unwrap(),
            "eq ne"
        );
        assert_eq!(
            m4("ifelse(`a', `b', `1', `c', `c', `2', `3')").unwrap(),
            "2"
        );
        assert_eq!(m4("ifelse(`a', `b', `1')").unwrap(), "");
    }

    #[test]
    fn undefine_and_pushdef() {
        assert_eq!(m4("define(`X',`1')undefine(`X')X").unwrap(), "X");
        assert_eq!(
            m4("define(`X',`1')pushdef(`X',`2')X popdef(`X')X").unwrap(),
            "2 1"
        );
    }

    #[test]
    fn blind_builtins_without_parens_are_text() {
        assert_eq!(m4("define and ifdef").unwrap(), "define and ifdef");
    }

    #[test]
    fn leading_whitespace_of_arguments_is_skipped() {
        assert_eq!(
            m4("define(`f',`<$1><$2>')f(  a ,\n\tb )").unwrap(),
            "<a ><b >"
        );
    }

    #[test]
    fn dnl_inside_arguments() {
        assert_eq!(m4("define(`X',dnl\n`v')X").unwrap(), "v");
    }

    #[test]
    fn unclosed_paren_points_at_it() {
        let e = m4("\n  define(`X', `y'\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 9));
        assert!(e.message.contains("unclosed parenthesis"), "{e}");
    }

    #[test]
    fn unclosed_quote_points_at_it() {
        let e = m4("ab\ndefine(`X', `y)\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 13));
        assert!(e.message.contains("unbalanced quote"), "{e}");
    }

    #[test]
    fn runaway_recursion_is_an_error() {
        let e = m4("define(`a', `a')a").unwrap_err();
        assert!(e.message.contains("too many macro expansions"), "{e}");
    }

    #[test]
    fn changequote_is_refused() {
        let e = m4("x\nchangequote([,])").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.contains("changequote is not supported"), "{e}");
    }

    #[test]
    fn unknown_uppercase_call_is_an_error() {
        let e = m4("\n SMARTHOST(`x')").unwrap_err();
        assert_eq!((e.line, e.col), (2, 2));
        assert!(e.message.contains("unknown macro SMARTHOST"), "{e}");
        // ...but not in discarded text.
        assert_eq!(m4("divert(-1)SMARTHOST(x)").unwrap(), "");
    }

    #[test]
    fn shift_len_incr() {
        assert_eq!(
            m4("shift(a,b,c) len(`abc') incr(4) decr(4)").unwrap(),
            "b,c 3 5 3"
        );
    }
}
