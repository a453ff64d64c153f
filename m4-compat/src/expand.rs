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
//! Input is 8-bit clean (see [`crate::source`]): bytes that are not UTF-8
//! arrive as stand-in characters and pass through comments, `dnl` and
//! discarded diversions untouched; an argument of a cf macro that holds
//! one is refused at the call, naming the argument.
//!
//! Every error names the position of what went wrong: an unclosed quote or
//! parenthesis points at its opening character, a bad builtin call at the
//! macro name.
//!
//! Bounded work: a compilation runs inside a reloading daemon, so no input
//! may crash it, exhaust its memory or keep it busy for ever. [`Limits`]
//! bounds the nesting of macro calls (each level is a few Rust stack frames;
//! the limit is checked before the frame is entered), the number of macro
//! calls, and the total text the engine takes in (files read, text pushed
//! back for rescanning, macro bodies scanned or stored). Each limit has its
//! own error, at the call that crossed it.

use crate::Diagnostic;
use crate::diag::{Files, Pos, at, positioned};
use crate::lexer::{Input, LexError, Token};
use crate::source::SourceError;
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
    /// Resolve and read an `include`d file (through [`crate::source::read`]):
    /// `Ok(Some((name, text)))`, `Ok(None)` when the include is to be ignored
    /// (sendmail's own `cf.m4`), `Err` when it cannot or must not be read.
    fn read_include(
        &mut self,
        path: &str,
        from: Pos,
        files: &mut Files,
    ) -> Result<Option<(String, String)>, SourceError>;
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

/// Bounds on one compilation (see the module contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Macro calls in progress at once: a call inside another call's
    /// arguments nests (GNU m4's `-L`, `--nesting-limit`).
    pub nesting: usize,
    /// Macro calls in all.
    pub calls: u64,
    /// Bytes of text taken in, in all: files read, expansions pushed back
    /// for rescanning, macro bodies scanned for `$n` or stored by `define`.
    /// Everything the engine holds was counted here first, so this also
    /// bounds its memory (about 16 bytes per character held, with positions).
    pub text: usize,
}

impl Default for Limits {
    /// 256 levels (GNU m4 1.4 stopped at 250 until 2006, then 1024; a real
    /// `.mc` nests fewer than 10), a million calls (a real `.mc` makes a few
    /// hundred) and 4 MiB of text (a real `.mc` takes in under 64 KB; 4 MiB
    /// held with positions is at most 64 MiB of memory).
    fn default() -> Self {
        Limits {
            nesting: 256,
            calls: 1_000_000,
            text: 4 * 1024 * 1024,
        }
    }
}

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
    limits: Limits,
    calls: u64,
    depth: usize,
    text: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// A fresh engine writing to diversion 0.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A fresh engine with the given bounds.
    pub fn with_limits(limits: Limits) -> Self {
        Engine {
            files: Files::default(),
            input: Input::default(),
            macros: BTreeMap::new(),
            undefined: BTreeMap::new(),
            diversion: 0,
            diversions: BTreeMap::new(),
            sink: Sink::Diversions,
            limits,
            calls: 0,
            depth: 0,
            text: 0,
        }
    }

    /// Bytes of text taken in so far (see [`Limits::text`]).
    pub fn text_used(&self) -> usize {
        self.text
    }

    /// Count `n` more bytes of text taken in because of `name` at `pos`.
    fn charge(&mut self, n: usize, name: &str, pos: Pos) -> Result<(), Diagnostic> {
        self.text = self.text.saturating_add(n);
        if self.text > self.limits.text {
            return Err(self.files.diag(
                pos,
                format!(
                    "expanding `{name}' takes the text past {} bytes in all — a macro that \
                     grows its own input without end, or a file that includes itself?",
                    self.limits.text
                ),
            ));
        }
        Ok(())
    }

    /// What is left of the text budget.
    fn room(&self) -> usize {
        self.limits.text.saturating_sub(self.text)
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
        let start = Pos {
            file,
            line: 1,
            col: 1,
        };
        self.charge(text.len(), name, start)?;
        self.input.push(&positioned(text, start));
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
        self.charge(text.len(), "(rescan)", pos)?;
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
                Some(Token::Comment(text)) => {
                    if let Some(d) = self.comment_warning(host, &text) {
                        host.warn(d);
                    }
                    self.emit(&text)
                }
                Some(Token::Char(c, pos)) => self.emit(&[(c, pos)]),
            }
        }
    }

    /// sendmail's `cf.m4` turns m4 comments off (`changecom()`), so under
    /// real sendmail a `#` line is read like any other text: a macro call in
    /// it runs, and a `` ` `` in it opens a quote (a Shift_JIS second byte
    /// can be 0x60). mxgate keeps `#` as a comment; a warning shows where
    /// the two would differ.
    fn comment_warning(&self, host: &dyn CfHost, text: &[(char, Pos)]) -> Option<Diagnostic> {
        let mut i = 0;
        let mut depth = 0usize;
        let mut open_at = None;
        while i < text.len() {
            let (c, pos) = text[i];
            if c.is_ascii_alphabetic() || c == '_' {
                let start = i;
                while i < text.len() && (text[i].0.is_ascii_alphanumeric() || text[i].0 == '_') {
                    i += 1;
                }
                let name: String = text[start..i].iter().map(|c| c.0).collect();
                let call = text.get(i).is_some_and(|c| c.0 == '(');
                let user = self.macros.get(&name).is_some_and(|v| !v.is_empty());
                // What real m4 would run here: a cf macro (with or without
                // arguments), a builtin that needs no parentheses, or any
                // macro called with them. Other user macros only expand.
                let runs = if user {
                    call
                } else if BUILTINS.contains(&name.as_str()) {
                    name != "dnl" && (call || !BLIND.contains(&name.as_str()))
                } else {
                    host.is_cf_macro(&name)
                };
                if depth == 0 && runs {
                    return Some(self.files.diag(
                        pos,
                        format!(
                            "warning: sendmail's cf.m4 turns # comments off (changecom()), so real \
                             sendmail runs {name} in this # line and mxgate does not; write the \
                             comment after dnl, or quote the name (`{name}')"
                        ),
                    ));
                }
                continue;
            }
            if c == '`' {
                if depth == 0 {
                    open_at = Some(pos);
                }
                depth += 1;
            } else if c == '\'' && depth > 0 {
                depth -= 1;
            }
            i += 1;
        }
        match open_at {
            Some(pos) if depth > 0 => Some(self.files.diag(
                pos,
                "warning: sendmail's cf.m4 turns # comments off (changecom()), so real sendmail \
                 reads this ` as an opening quote and takes everything up to a later ' as one \
                 string (a Shift_JIS byte 0x60 is a `); write the comment after dnl",
            )),
            _ => None,
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

    /// Push the expansion of `name` (called at `pos`) back for rescanning.
    fn push_text(&mut self, text: &str, name: &str, pos: Pos) -> Result<(), Diagnostic> {
        self.charge(text.len(), name, pos)?;
        self.input.push(&at(text, pos));
        Ok(())
    }

    /// Push the text of a file named `fname` (read because of `name` at `pos`).
    fn push_file(
        &mut self,
        fname: &str,
        text: &str,
        name: &str,
        pos: Pos,
    ) -> Result<(), Diagnostic> {
        self.charge(text.len(), name, pos)?;
        let file = self.files.add(fname);
        self.input.push(&positioned(
            text,
            Pos {
                file,
                line: 1,
                col: 1,
            },
        ));
        Ok(())
    }

    /// One macro call, within the call and nesting limits.
    fn call(&mut self, host: &mut dyn CfHost, name: &str, pos: Pos) -> Result<(), Diagnostic> {
        self.calls += 1;
        if self.calls > self.limits.calls {
            return Err(self.files.diag(
                pos,
                format!(
                    "more than {} macro calls, the last one `{name}' — a macro that expands to \
                     itself without end?",
                    self.limits.calls
                ),
            ));
        }
        if self.depth >= self.limits.nesting {
            return Err(self.files.diag(
                pos,
                format!(
                    "recursion deeper than {} expanding `{name}' — a macro that calls itself \
                     without end? (a call inside another call's arguments nests one level)",
                    self.limits.nesting
                ),
            ));
        }
        self.depth += 1;
        let result = self.call_nested(host, name, pos);
        self.depth -= 1;
        result
    }

    fn call_nested(
        &mut self,
        host: &mut dyn CfHost,
        name: &str,
        pos: Pos,
    ) -> Result<(), Diagnostic> {
        if name == "dnl" {
            while let Some((c, _)) = self.input.next_char() {
                if c == '\n' {
                    break;
                }
            }
            return Ok(());
        }
        let user = self.macros.get(name).is_some_and(|v| !v.is_empty());
        let is_builtin = !user && BUILTINS.contains(&name);
        if is_builtin && BLIND.contains(&name) && self.input.peek().map(|c| c.0) != Some('(') {
            self.emit(&at(name, pos));
            return Ok(());
        }
        let args = self.collect_args(host, name, pos)?;
        if user {
            let room = self.room();
            let body_len = self.definition(name).map_or(0, |d| d.body.len());
            // Scanning the body costs its length, even when it expands to little.
            self.charge(body_len, name, pos)?;
            let text = self
                .definition(name)
                .and_then(|d| substitute(&d.body, name, args.as_deref().unwrap_or(&[]), room));
            return match text {
                Some(t) => self.push_text(&t, name, pos),
                None => self.charge(usize::MAX, name, pos),
            };
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
            // Values reach the compiled configuration, which is UTF-8 text.
            for (i, a) in expanded.iter().flatten().enumerate() {
                if let Some((_, b)) = crate::source::first_raw(a) {
                    let what = format!("argument {} of {name}", i + 1);
                    return Err(self.files.diag(pos, crate::source::raw_message(&what, b)));
                }
            }
            let action = host.call(&mut self.files, name, expanded.as_deref(), pos)?;
            return match action {
                CfAction::Text(t) => self.push_text(&t, name, pos),
                CfAction::Divert(n, t) => {
                    self.diversion = n;
                    self.push_text(&t, name, pos)
                }
                CfAction::Include { name: fname, text } => self.push_file(&fname, &text, name, pos),
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
                self.charge(arg(1).len(), name, pos)?;
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
                let room = self.room();
                let mut out = String::new();
                for n in &a {
                    if let Some(d) = self.definition(n) {
                        if out.len() + d.body.len() + 2 > room {
                            return self.charge(usize::MAX, name, pos);
                        }
                        out.push('`');
                        out.push_str(&d.body);
                        out.push('\'');
                    }
                }
                self.push_text(&out, name, pos)
            }
            "ifdef" => {
                let t = if self.is_macro(host, arg(0)) {
                    arg(1)
                } else {
                    arg(2)
                };
                let t = t.to_string();
                self.push_text(&t, name, pos)
            }
            "ifelse" => {
                let t = ifelse(&a).to_string();
                self.push_text(&t, name, pos)
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
                self.push_text(&t, name, pos)
            }
            "include" | "sinclude" => {
                let path = arg(0).to_string();
                match host.read_include(&path, pos, &mut self.files) {
                    Ok(Some((fname, text))) => self.push_file(&fname, &text, name, pos),
                    Ok(None) => Ok(()),
                    // sinclude is silent when the file is missing or unreadable
                    // (as m4); what mxgate refuses to read is an error for both.
                    Err(SourceError::NotFound | SourceError::Io(_)) if name == "sinclude" => Ok(()),
                    Err(e) => Err(self.files.diag(pos, format!("{name}(`{path}'): {e}"))),
                }
            }
            "shift" => {
                let t = a.iter().skip(1).map(|s| format!("`{s}'")).collect::<Vec<_>>().join(",");
                self.push_text(&t, name, pos)
            }
            "len" => {
                let t = arg(0).chars().count().to_string();
                self.push_text(&t, name, pos)
            }
            "incr" | "decr" => {
                let n: i64 = arg(0).trim().parse().map_err(|_| {
                    self.files.diag(pos, format!("{name} expects a number, got `{}'", arg(0)))
                })?;
                let t = if name == "incr" { n + 1 } else { n - 1 }.to_string();
                self.push_text(&t, name, pos)
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

/// Substitute `$0`…, `$#`, `$*`, `$@` in a macro body; `None` once the
/// result would be longer than `room` bytes (`$@` repeated can multiply an
/// argument many times).
fn substitute(body: &str, name: &str, args: &[String], room: usize) -> Option<String> {
    let mut out = String::with_capacity(body.len().min(room));
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if out.len() > room {
            return None;
        }
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
    (out.len() <= room).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host with no cf macros that reads only the files given to it.
    struct Plain(Vec<Diagnostic>, Vec<(&'static str, String)>);

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
            path: &str,
            _: Pos,
            _: &mut Files,
        ) -> Result<Option<(String, String)>, SourceError> {
            match self.1.iter().find(|(n, _)| *n == path) {
                Some((n, t)) => Ok(Some((n.to_string(), t.clone()))),
                None => Err(SourceError::NotFound),
            }
        }
        fn warn(&mut self, d: Diagnostic) {
            self.0.push(d);
        }
    }

    fn m4(text: &str) -> Result<String, Diagnostic> {
        let mut e = Engine::new();
        let mut h = Plain(Vec::new(), Vec::new());
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

    fn m4_limited(
        text: &str,
        limits: Limits,
        files: Vec<(&'static str, String)>,
    ) -> Result<String, Diagnostic> {
        let mut e = Engine::with_limits(limits);
        let mut h = Plain(Vec::new(), files);
        e.run_file(&mut h, "t.mc", text)?;
        Ok(e.diversions().values().flatten().map(|c| c.0).collect())
    }

    #[test]
    fn endless_self_expansion_hits_the_call_limit() {
        let e = m4("\ndefine(`a', `a')a").unwrap_err();
        assert_eq!((e.line, e.col), (2, 17), "{e}");
        assert!(
            e.message
                .contains("more than 1000000 macro calls, the last one `a'"),
            "{e}"
        );
    }

    #[test]
    fn nesting_is_limited_before_the_stack_is() {
        let small = Limits {
            nesting: 8,
            ..Limits::default()
        };
        let e = m4_limited("define(`f',`f(f($1))')\n  f(x)", small, Vec::new()).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3), "{e}");
        assert!(
            e.message.starts_with(
                "recursion deeper than 8 expanding `f' — a macro that calls itself without end?"
            ),
            "{e}"
        );
        // Exactly at the limit is fine: f(f(f(...))) eight deep.
        let eight = "define(`f',`<$1>')f(f(f(f(f(f(f(f(x))))))))";
        assert_eq!(
            m4_limited(eight, small, Vec::new()).unwrap(),
            "<<<<<<<<x>>>>>>>>"
        );
        let nine = "define(`f',`<$1>')f(f(f(f(f(f(f(f(f(x)))))))))";
        assert!(m4_limited(nine, small, Vec::new()).is_err());
    }

    #[test]
    fn nesting_at_the_default_limit_fits_the_compile_stack() {
        // The worst case measured: a call inside a call's arguments, all the
        // way down, on a thread with the stack every compilation gets.
        let run = std::thread::Builder::new()
            .stack_size(crate::COMPILE_STACK)
            .spawn(|| m4("define(`f',`f(f($1))')f(x)"))
            .unwrap()
            .join()
            .expect("no stack overflow");
        let e = run.unwrap_err();
        assert!(
            e.message
                .contains("recursion deeper than 256 expanding `f'"),
            "{e}"
        );
    }

    #[test]
    fn growing_text_hits_the_text_limit() {
        // The pending input grows by two characters per call.
        let e = m4("define(`a', `a a')a").unwrap_err();
        assert!(
            e.message
                .contains("expanding `a' takes the text past 4194304 bytes in all"),
            "{e}"
        );
        // Doubling by $1 repeated: stopped without building the huge string.
        let e = m4("define(`m',`$1$1$1$1$1$1$1$1$1$1')m(m(m(m(m(m(m(m(x))))))))").unwrap_err();
        assert!(e.message.contains("takes the text past"), "{e}");
        let e = m4("define(`m',`$@$@$@$@$@$@$@$@$@$@')m(m(m(m(m(m(m(m(x))))))))").unwrap_err();
        assert!(e.message.contains("takes the text past"), "{e}");
    }

    #[test]
    fn a_file_that_includes_itself_hits_the_text_limit() {
        let small = Limits {
            text: 10_000,
            ..Limits::default()
        };
        let files = vec![("self.m4", "include(`self.m4')dnl\n".to_string())];
        let e = m4_limited("include(`self.m4')", small, files).unwrap_err();
        assert_eq!(e.file, "self.m4", "{e}");
        assert!(e.message.contains("takes the text past 10000 bytes"), "{e}");
    }

    #[test]
    fn sinclude_is_silent_only_for_a_missing_file() {
        assert_eq!(m4("a sinclude(`nothere')b").unwrap(), "a b");
        let e = m4("include(`nothere')").unwrap_err();
        assert_eq!(e.message, "include(`nothere'): no such file");
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
