//! Content checks over a whole message: `header_checks`,
//! `mime_header_checks`, `nested_header_checks` and `body_checks` as
//! Postfix's cleanup(8) applies them, plus decoding (issue 13).
//!
//! Contract: [`inspect`] walks a received message (CRLF lines) once and
//! returns an [`Inspection`]: the message with header/body edits applied
//! (`IGNORE`, `STRIP`, `PREPEND`, `REPLACE`), what stops it (`REJECT`,
//! `DISCARD`), what it changes in the envelope (`HOLD`, `REDIRECT`,
//! `FILTER`, `BCC`, `PASS`) and the notes to log. Pure: no I/O.
//!
//! The walk, as Postfix's `mime_state`:
//! * Initial headers: MIME headers (`Content-*`, `MIME-Version`) go to the
//!   MIME table, the others to the header table. Part headers of a
//!   multipart: only the MIME headers are checked (MIME table). Headers of
//!   an attached `message/rfc822`: MIME headers to the MIME table, the
//!   others to the nested table. Each logical header is one input, folds
//!   joined with `\n` as Postfix does.
//! * Each header is matched in its raw form first; when it has RFC 2047
//!   encoded words or RFC 2231 parameters, the decoded form (UTF-8,
//!   unfolded, `name*=` parameters rewritten as `name="value"`) is matched
//!   next. The first rule that matches decides for that header.
//! * Body lines: a `text/*` part, a part with no Content-Type, and any
//!   base64 or quoted-printable part whose decoded bytes are text is
//!   matched line by line **decoded** (transfer encoding undone, charset
//!   converted to UTF-8 by `mail-parser`'s decoders). Other parts, MIME
//!   boundaries, preamble and epilogue are matched raw, as Postfix does.
//!   Edits to body lines apply only where the matched line is the raw line
//!   (no transfer encoding); on decoded lines they are noted and not done.
//! * At most `body_limit` bytes of each part's body are inspected (Postfix's
//!   `body_checks_size_limit`); the rest is not, and a note says so.
//! * `REJECT` and `DISCARD` stop the walk; `PASS` stops it and tells the
//!   caller to skip the milters.

use std::sync::Arc;

use mail_parser::decoders::{
    base64::base64_decode, charsets::map::charset_decoder,
    quoted_printable::quoted_printable_decode,
};

use super::Reply;
use super::headers::{HeaderRules, Hit, RuleAction};

/// The tables in effect (Postfix's four parameters) and the size limit.
#[derive(Debug, Clone, Default)]
pub struct ContentRules {
    /// `header_checks`.
    pub header: Option<Arc<HeaderRules>>,
    /// `mime_header_checks` (default: the header table).
    pub mime: Option<Arc<HeaderRules>>,
    /// `nested_header_checks` (default: the header table).
    pub nested: Option<Arc<HeaderRules>>,
    /// `body_checks`.
    pub body: Option<Arc<HeaderRules>>,
    /// Bytes of each part's body inspected (`body_checks_size_limit`).
    pub body_limit: usize,
}

/// Postfix's `body_checks_size_limit` default.
pub const BODY_LIMIT_DEFAULT: usize = crate::settings::DEFAULT_BODY_CHECKS_SIZE_LIMIT;

impl ContentRules {
    /// Are there no rules at all?
    pub fn is_empty(&self) -> bool {
        [&self.header, &self.mime, &self.nested, &self.body]
            .iter()
            .all(|t| t.as_ref().is_none_or(|t| t.is_empty()))
    }
}

/// What stops the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Nothing: it goes on.
    No,
    /// `REJECT`: refuse with this reply.
    Reject(Reply),
    /// `DISCARD`: claim delivery, drop it (the text or the rule).
    Discard(String),
}

/// One line to log (Postfix: `reject: header Subject: ... from ...: text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `reject`, `warning`, `info`, `hold`, `discard`, `redirect`, `filter`,
    /// `bcc`, `pass`, `strip`, `replace`, `prepend`, or `limit` (the
    /// size limit was reached) and `skipped` (an edit not done).
    pub kind: &'static str,
    /// `header` or `body`.
    pub class: &'static str,
    /// The input that matched (one line, shortened).
    pub input: String,
    /// The action's text (the optional text, address, ...).
    pub text: String,
    /// The rule (`file:line`), empty for `limit`.
    pub rule: String,
}

/// The outcome of [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// What stops the message.
    pub stop: Stop,
    /// The rule that stopped it (`file:line: rule`).
    pub stopped_by: String,
    /// `HOLD`: the quarantine reason.
    pub hold: Option<String>,
    /// `REDIRECT`: the one recipient (the last one wins).
    pub redirect: Option<String>,
    /// `FILTER`: `transport:destination` (the last one wins; a REDIRECT
    /// overrides it, as in Postfix).
    pub filter: Option<String>,
    /// `BCC`: recipients to add.
    pub bcc: Vec<String>,
    /// `PASS`: skip the milters too.
    pub pass: bool,
    /// The message with the edits, if any were made.
    pub message: Option<Vec<u8>>,
    /// Lines to log, in order.
    pub notes: Vec<Note>,
}

/// Which table a header goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Primary,
    Part,
    Nested,
}

/// Inspect `msg` (headers, empty line, body; CRLF or LF lines).
pub fn inspect(rules: &ContentRules, msg: &[u8]) -> Inspection {
    let lines = split_lines(msg);
    let mut w = Walk {
        rules,
        msg,
        lines: &lines,
        edits: vec![Edit::default(); lines.len()],
        out: Inspection {
            stop: Stop::No,
            stopped_by: String::new(),
            hold: None,
            redirect: None,
            filter: None,
            bcc: Vec::new(),
            pass: false,
            message: None,
            notes: Vec::new(),
        },
        done: false,
        edited: false,
    };
    w.entity(0, lines.len(), Level::Primary, 0);
    if w.out.redirect.is_some() {
        w.out.filter = None;
    }
    if w.edited {
        w.out.message = Some(w.rebuild());
    }
    w.out
}

/// One physical line: `start..end` without the line end, `next` after it.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

fn split_lines(msg: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < msg.len() {
        let rest = msg.get(start..).unwrap_or(&[]);
        let (end, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = start + i;
                let end = if i > 0 && msg.get(nl - 1) == Some(&b'\r') {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (msg.len(), msg.len()),
        };
        out.push(Line { start, end, next });
        start = next;
    }
    out
}

/// What becomes of one physical line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Edit {
    prepend: Vec<String>,
    replace: Option<String>,
    delete: bool,
}

struct Walk<'a> {
    rules: &'a ContentRules,
    msg: &'a [u8],
    lines: &'a [Line],
    edits: Vec<Edit>,
    out: Inspection,
    done: bool,
    edited: bool,
}

/// A logical header: its first line index, line count and text (folds
/// joined with `\n`, as Postfix passes them).
struct Header {
    first: usize,
    count: usize,
    text: String,
}

/// Where a matched input sits, for edits.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// Physical lines `first..first+count`, editable.
    Lines(usize, usize),
    /// A decoded line: edits are not done.
    Decoded,
}

/// Nesting deeper than this is inspected as plain body.
const MAX_DEPTH: usize = 32;

/// Longest input shown in a log line (Postfix: 200).
const LOG_INPUT: usize = 200;

impl Walk<'_> {
    fn raw(&self, i: usize) -> &[u8] {
        self.lines
            .get(i)
            .and_then(|l| self.msg.get(l.start..l.end))
            .unwrap_or(&[])
    }

    fn rebuild(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.msg.len() + 256);
        for (l, e) in self.lines.iter().zip(&self.edits) {
            for t in &e.prepend {
                out.extend_from_slice(t.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            if e.delete {
                continue;
            }
            match &e.replace {
                Some(t) => {
                    out.extend_from_slice(t.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                None => out.extend_from_slice(self.msg.get(l.start..l.next).unwrap_or(&[])),
            }
        }
        out
    }

    /// The headers starting at `lo`, and where the body starts.
    fn headers(&self, lo: usize, hi: usize) -> (Vec<Header>, usize) {
        let mut out: Vec<Header> = Vec::new();
        let mut i = lo;
        while i < hi {
            let raw = self.raw(i);
            if raw.is_empty() {
                return (out, i + 1);
            }
            let text = String::from_utf8_lossy(raw);
            if raw.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                if let Some(h) = out.last_mut() {
                    h.text.push('\n');
                    h.text.push_str(&text);
                    h.count += 1;
                    i += 1;
                    continue;
                }
                return (out, i);
            }
            if !is_header_line(raw) {
                return (out, i);
            }
            out.push(Header {
                first: i,
                count: 1,
                text: text.into_owned(),
            });
            i += 1;
        }
        (out, hi)
    }

    fn entity(&mut self, lo: usize, hi: usize, level: Level, depth: usize) {
        let (headers, body_lo) = self.headers(lo, hi);
        let mut ctype = String::new();
        let mut cte = String::new();
        for h in &headers {
            if self.done {
                return;
            }
            let name = h
                .text
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if name == "content-type" {
                ctype = unfold(&h.text);
            } else if name == "content-transfer-encoding" {
                cte = value_of(&unfold(&h.text)).trim().to_ascii_lowercase();
            }
            let mime = name.starts_with("content-") || name == "mime-version";
            let table = match (level, mime) {
                (_, true) => self.rules.mime.clone(),
                (Level::Primary, false) => self.rules.header.clone(),
                (Level::Nested, false) => self.rules.nested.clone(),
                (Level::Part, false) => None,
            };
            let Some(table) = table else { continue };
            let hit = table
                .lookup(&h.text)
                .or_else(|| decode_header(&h.text).and_then(|d| table.lookup(&d)));
            if let Some(hit) = hit {
                self.act(&hit, "header", &h.text, Place::Lines(h.first, h.count));
            }
        }
        if self.done {
            return;
        }
        let ct = ContentType::parse(&ctype);
        if depth < MAX_DEPTH && ct.kind == "multipart" && !ct.boundary.is_empty() {
            self.multipart(body_lo, hi, &ct.boundary, depth);
        } else if depth < MAX_DEPTH
            && ct.kind == "message"
            && ct.subtype == "rfc822"
            && !matches!(cte.as_str(), "base64" | "quoted-printable")
        {
            self.entity(body_lo, hi, Level::Nested, depth + 1);
        } else {
            self.body(body_lo, hi, &ct, &cte);
        }
    }

    fn multipart(&mut self, lo: usize, hi: usize, boundary: &str, depth: usize) {
        let open = format!("--{boundary}");
        let close = format!("--{boundary}--");
        let mut part_start: Option<usize> = None;
        let mut i = lo;
        while i < hi && !self.done {
            let raw = self.raw(i);
            let t = trim_end(raw);
            let is_close = t == close.as_bytes();
            if is_close || t == open.as_bytes() {
                if let Some(s) = part_start.take() {
                    self.entity(s, i, Level::Part, depth + 1);
                    if self.done {
                        return;
                    }
                }
                self.body_line_raw(i);
                if is_close {
                    // The epilogue.
                    for j in i + 1..hi {
                        if self.done {
                            return;
                        }
                        self.body_line_raw(j);
                    }
                    return;
                }
                part_start = Some(i + 1);
            } else if part_start.is_none() {
                // The preamble.
                self.body_line_raw(i);
            }
            i += 1;
        }
        if let Some(s) = part_start {
            self.entity(s, hi, Level::Part, depth + 1);
        }
    }

    /// One raw body line (boundaries, preamble, epilogue).
    fn body_line_raw(&mut self, i: usize) {
        let Some(table) = self.rules.body.clone() else {
            return;
        };
        let text = String::from_utf8_lossy(self.raw(i)).into_owned();
        if let Some(hit) = table.lookup(&text) {
            self.act(&hit, "body", &text, Place::Lines(i, 1));
        }
    }

    fn body(&mut self, lo: usize, hi: usize, ct: &ContentType, cte: &str) {
        let Some(table) = self.rules.body.clone() else {
            return;
        };
        let limit = self.rules.body_limit;
        // The lines within the limit.
        let mut end = lo;
        let mut size = 0usize;
        while end < hi {
            let n = self.raw(end).len() + 2;
            if size + n > limit {
                break;
            }
            size += n;
            end += 1;
        }
        let textual = ct.kind.is_empty() || ct.kind == "text";
        let decoded: Option<Vec<u8>> = if matches!(cte, "base64" | "quoted-printable") {
            let mut enc = Vec::with_capacity(size);
            for i in lo..end {
                enc.extend_from_slice(self.raw(i));
                enc.extend_from_slice(b"\r\n");
            }
            let bytes = if cte == "base64" {
                let compact: Vec<u8> = enc
                    .into_iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                base64_decode(&compact)
            } else {
                quoted_printable_decode(&enc)
            };
            bytes.filter(|b| textual || looks_like_text(b))
        } else {
            None
        };
        match decoded {
            Some(bytes) => {
                let text = to_utf8(&bytes, &ct.charset);
                for line in text.split('\n') {
                    if self.done {
                        return;
                    }
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    if let Some(hit) = table.lookup(line) {
                        self.act(&hit, "body", line, Place::Decoded);
                    }
                }
            }
            None => {
                for i in lo..end {
                    if self.done {
                        return;
                    }
                    let raw = self.raw(i);
                    let line = if textual && !raw.is_ascii() {
                        to_utf8(raw, &ct.charset)
                    } else {
                        String::from_utf8_lossy(raw).into_owned()
                    };
                    if let Some(hit) = table.lookup(&line) {
                        self.act(&hit, "body", &line, Place::Lines(i, 1));
                    }
                }
            }
        }
        if end < hi && !self.done {
            self.out.notes.push(Note {
                kind: "limit",
                class: "body",
                input: String::new(),
                text: format!(
                    "body_checks size limit {limit} bytes reached in a part; the rest of it ({} lines) is not inspected",
                    hi - end
                ),
                rule: String::new(),
            });
        }
    }

    fn note(
        &mut self,
        kind: &'static str,
        class: &'static str,
        input: &str,
        text: &str,
        hit: &Hit,
    ) {
        self.out.notes.push(Note {
            kind,
            class,
            input: shorten(input),
            text: text.to_string(),
            rule: format!("{}:{}", hit.file, hit.line),
        });
    }

    fn act(&mut self, hit: &Hit, class: &'static str, input: &str, place: Place) {
        let action = match RuleAction::parse(&hit.result) {
            Ok(a) => a,
            Err(e) => {
                // A substituted action word that is not an action: Postfix
                // logs it and goes on.
                self.note("warning", class, input, &e, hit);
                return;
            }
        };
        let stopped_by = || format!("{}:{}: {}", hit.file, hit.line, hit.rule);
        match action {
            RuleAction::Reject(reply) => {
                let text = format!("{} {}", reply.enhanced(), reply.text());
                self.note("reject", class, input, &text, hit);
                self.out.stop = Stop::Reject(reply);
                self.out.stopped_by = stopped_by();
                self.done = true;
            }
            RuleAction::Discard(t) => {
                self.note("discard", class, input, &t, hit);
                self.out.stop = Stop::Discard(if t.is_empty() {
                    format!("{} rule {}:{}", class, hit.file, hit.line)
                } else {
                    t
                });
                self.out.stopped_by = stopped_by();
                self.done = true;
            }
            RuleAction::Pass(t) => {
                self.note("pass", class, input, &t, hit);
                self.out.pass = true;
                self.done = true;
            }
            RuleAction::Warn(t) => self.note("warning", class, input, &t, hit),
            RuleAction::Info(t) => self.note("info", class, input, &t, hit),
            RuleAction::Hold(t) => {
                self.note("hold", class, input, &t, hit);
                self.out.hold = Some(if t.is_empty() {
                    format!("{} rule {}:{}", class, hit.file, hit.line)
                } else {
                    t
                });
            }
            RuleAction::Redirect(a) => {
                self.note("redirect", class, input, &a, hit);
                self.out.redirect = Some(a);
            }
            RuleAction::Filter(f) => {
                self.note("filter", class, input, &f, hit);
                self.out.filter = Some(f);
            }
            RuleAction::Bcc(a) => {
                self.note("bcc", class, input, &a, hit);
                if !self.out.bcc.contains(&a) {
                    self.out.bcc.push(a);
                }
            }
            RuleAction::Dunno => {}
            RuleAction::Ignore | RuleAction::Strip(_) => {
                if let RuleAction::Strip(t) = &action {
                    self.note("strip", class, input, t, hit);
                }
                match place {
                    Place::Lines(first, count) => {
                        for e in self.edits.iter_mut().skip(first).take(count) {
                            e.delete = true;
                        }
                        self.edited = true;
                    }
                    Place::Decoded => self.skipped(class, input, hit),
                }
            }
            RuleAction::Prepend(t) => match place {
                Place::Lines(first, _) => {
                    self.note("prepend", class, input, &t, hit);
                    if let Some(e) = self.edits.get_mut(first) {
                        e.prepend.push(t);
                    }
                    self.edited = true;
                }
                Place::Decoded => self.skipped(class, input, hit),
            },
            RuleAction::Replace(t) => match place {
                Place::Lines(first, count) => {
                    self.note("replace", class, input, &t, hit);
                    for (k, e) in self.edits.iter_mut().skip(first).take(count).enumerate() {
                        if k == 0 {
                            e.replace = Some(t.clone());
                        } else {
                            e.delete = true;
                        }
                    }
                    self.edited = true;
                }
                Place::Decoded => self.skipped(class, input, hit),
            },
        }
    }

    fn skipped(&mut self, class: &'static str, input: &str, hit: &Hit) {
        let text = format!(
            "{} not done: the line was decoded from base64 or quoted-printable",
            hit.result.split_whitespace().next().unwrap_or("")
        );
        self.note("skipped", class, input, &text, hit);
    }
}

fn is_header_line(raw: &[u8]) -> bool {
    match raw.iter().position(|&b| b == b':') {
        Some(i) if i > 0 => raw
            .get(..i)
            .is_some_and(|n| n.iter().all(|&b| b > 32 && b < 127)),
        _ => false,
    }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    b.get(..n).unwrap_or(b)
}

fn shorten(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(LOG_INPUT)
        .collect()
}

/// A header without its fold line breaks (RFC 5322 unfolding).
fn unfold(h: &str) -> String {
    h.replace("\r\n", "").replace('\n', "")
}

/// The value after `Name:`.
fn value_of(h: &str) -> &str {
    h.split_once(':').map_or("", |(_, v)| v)
}

/// Do the bytes look like text (no NUL, few control characters)?
fn looks_like_text(b: &[u8]) -> bool {
    let sample = b.get(..4096).unwrap_or(b);
    let control = sample
        .iter()
        .filter(|&&c| c < 32 && !matches!(c, b'\r' | b'\n' | b'\t' | 0x1b | 0x0c))
        .count();
    !sample.contains(&0) && control * 100 <= sample.len()
}

/// `bytes` in `charset` as UTF-8 (unknown charsets: UTF-8, lossy).
fn to_utf8(bytes: &[u8], charset: &str) -> String {
    if charset.is_empty()
        || charset.eq_ignore_ascii_case("utf-8")
        || charset.eq_ignore_ascii_case("us-ascii")
    {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match charset_decoder(charset.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A Content-Type value: type, subtype, boundary and charset.
#[derive(Debug, Default)]
struct ContentType {
    kind: String,
    subtype: String,
    boundary: String,
    charset: String,
}

impl ContentType {
    fn parse(header: &str) -> ContentType {
        let v = value_of(header);
        if v.trim().is_empty() {
            return ContentType::default();
        }
        let mut parts = params(v);
        let first = parts.remove(0).0;
        let (kind, subtype) = first.split_once('/').unwrap_or((&first, ""));
        let mut ct = ContentType {
            kind: kind.trim().to_ascii_lowercase(),
            subtype: subtype.trim().to_ascii_lowercase(),
            ..ContentType::default()
        };
        for (name, value) in parts {
            match name.to_ascii_lowercase().as_str() {
                "boundary" => ct.boundary = value,
                "charset" => ct.charset = value,
                _ => {}
            }
        }
        ct
    }
}

/// `type; a=b; c="d"` as `[("type", ""), ("a", "b"), ("c", "d")]`
/// (quotes removed; `;` inside quotes kept).
fn params(v: &str) -> Vec<(String, String)> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => segs.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    segs.push(cur);
    let mut out = Vec::new();
    for (i, s) in segs.into_iter().enumerate() {
        let s = s.trim();
        if i == 0 {
            out.push((s.to_string(), String::new()));
            continue;
        }
        if s.is_empty() {
            continue;
        }
        match s.split_once('=') {
            Some((n, v)) => out.push((n.trim().to_string(), v.trim().to_string())),
            None => out.push((s.to_string(), String::new())),
        }
    }
    if out.is_empty() {
        out.push((String::new(), String::new()));
    }
    out
}

/// The decoded form of a header (RFC 2047 words, RFC 2231 parameters),
/// or `None` when it has neither.
pub fn decode_header(h: &str) -> Option<String> {
    let has_words = h.contains("=?");
    let name = h
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let has_2231 = matches!(name.as_str(), "content-type" | "content-disposition")
        && value_of(h).contains("*=");
    if !has_words && !has_2231 {
        return None;
    }
    let mut text = unfold(h);
    if has_2231 {
        text = decode_2231(&text);
    }
    if has_words {
        text = decode_2047(&text);
    }
    (text != h).then_some(text)
}

/// Replace encoded words by their text (whitespace between two encoded
/// words is dropped, RFC 2047 section 6.2).
fn decode_2047(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((text, used)) = encoded_word(rest) {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&text);
            rest = rest.get(used..).unwrap_or("");
            last_was_word = true;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        rest = rest.get(c.len_utf8()..).unwrap_or("");
        if c == ' ' || c == '\t' {
            pending_space.push(c);
            continue;
        }
        out.push_str(&pending_space);
        pending_space.clear();
        out.push(c);
        last_was_word = false;
    }
    out.push_str(&pending_space);
    out
}

/// `=?charset?B|Q?text?=` at the start of `s`: its text and length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let q1 = body.find('?')?;
    let charset = body.get(..q1)?;
    let enc = body.get(q1 + 1..q1 + 2)?;
    if body.get(q1 + 2..q1 + 3)? != "?" {
        return None;
    }
    let data_start = q1 + 3;
    let end = body.get(data_start..)?.find("?=")? + data_start;
    let data = body.get(data_start..end)?;
    if data.contains(' ') {
        return None;
    }
    let bytes = match enc {
        "B" | "b" => base64_decode(data.as_bytes())?,
        "Q" | "q" => {
            let d = data.replace('_', " ");
            quoted_printable_decode(d.as_bytes())?
        }
        _ => return None,
    };
    let charset = charset.split('*').next().unwrap_or(charset);
    Some((to_utf8(&bytes, charset), 2 + end + 2))
}

/// One RFC 2231 parameter segment: (index, extended, value).
type Segment = (usize, bool, String);

/// Rewrite RFC 2231 parameters (`name*=utf-8''a%2Eexe`, `name*0=...`) as
/// `name="decoded"`.
fn decode_2231(h: &str) -> String {
    let (head, value) = h.split_once(':').unwrap_or((h, ""));
    let parts = params(value);
    let mut out = format!("{head}: {}", parts.first().map_or("", |p| p.0.as_str()));
    let mut ext: Vec<(String, Vec<Segment>)> = Vec::new();
    for (name, v) in parts.iter().skip(1) {
        if let Some(star) = name.find('*') {
            let base = name.get(..star).unwrap_or("").to_string();
            let tail = name.get(star + 1..).unwrap_or("");
            let extended = tail.ends_with('*') || tail.is_empty();
            let index = tail.trim_end_matches('*').parse().unwrap_or(0);
            match ext.iter_mut().find(|(b, _)| b.eq_ignore_ascii_case(&base)) {
                Some((_, segs)) => segs.push((index, extended, v.clone())),
                None => ext.push((base, vec![(index, extended, v.clone())])),
            }
        } else {
            out.push_str(&format!("; {name}=\"{v}\""));
        }
    }
    for (base, mut segs) in ext {
        segs.sort_by_key(|s| s.0);
        let mut charset = String::new();
        let mut bytes = Vec::new();
        for (k, (_, extended, v)) in segs.iter().enumerate() {
            let mut v = v.as_str();
            if *extended {
                if k == 0 {
                    let mut it = v.splitn(3, '\'');
                    if let (Some(cs), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                        charset = cs.to_string();
                        v = rest;
                    }
                }
                bytes.extend(percent_decode(v));
            } else {
                bytes.extend_from_slice(v.as_bytes());
            }
        }
        out.push_str(&format!("; {base}=\"{}\"", to_utf8(&bytes, &charset)));
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%'
            && let Some(h) = b.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(h), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(header: &str, body: &str) -> ContentRules {
        let h = Arc::new(HeaderRules::parse("hc", header).unwrap());
        ContentRules {
            header: Some(h.clone()),
            mime: Some(h.clone()),
            nested: Some(h),
            body: Some(Arc::new(HeaderRules::parse("bc", body).unwrap())),
            body_limit: BODY_LIMIT_DEFAULT,
        }
    }

    #[test]
    fn edits_headers() {
        let r = rules(
            "/^X-Drop:/ IGNORE\n/^Subject: (.*)/ REPLACE Subject: [checked] $1\n/^From:/ PREPEND X-Seen: yes\n",
            "",
        );
        let msg = b"From: a@b\r\nX-Drop: 1\r\n  more\r\nSubject: hi\r\n there\r\n\r\nbody\r\n";
        let i = inspect(&r, msg);
        assert_eq!(i.stop, Stop::No);
        assert_eq!(
            String::from_utf8(i.message.unwrap()).unwrap(),
            "X-Seen: yes\r\nFrom: a@b\r\nSubject: [checked] hi\n there\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn first_reject_stops() {
        let r = rules(
            "/^Subject: a/ WARN w\n/^Subject: b/ REJECT no b\n/^X:/ REJECT x\n",
            "",
        );
        let i = inspect(&r, b"Subject: a\r\nSubject: b\r\nX: 1\r\n\r\n");
        assert_eq!(i.stop, Stop::Reject(Reply::new(550, "5.7.1", "no b")));
        assert_eq!(
            i.notes.iter().map(|n| n.kind).collect::<Vec<_>>(),
            ["warning", "reject"]
        );
    }

    #[test]
    fn decoded_subject_and_base64_body() {
        // ISO-2022-JP "未承諾広告" as an encoded word.
        let subj = "Subject: =?ISO-2022-JP?B?GyRCTCQ+NUJ6OS05cBsoQg==?=";
        let r = rules(
            "/^Subject:.*未承諾広告/ REJECT unsolicited\n",
            "/free money/ REJECT body\n",
        );
        let msg = format!("{subj}\r\n\r\nhello\r\n");
        assert!(matches!(inspect(&r, msg.as_bytes()).stop, Stop::Reject(_)));
        let msg = "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npre\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nZ2V0IEZSRUUgbW9uZXkgbm93Cg==\r\n--b1--\r\n";
        let i = inspect(&r, msg.as_bytes());
        assert_eq!(i.stop, Stop::Reject(Reply::new(550, "5.7.1", "body")));
    }

    #[test]
    fn attachment_names_2231_and_nested() {
        let r = rules(
            "/^Content-(Disposition|Type).*name\\s*=\\s*\"?(.*\\.(exe|scr|pif))\"?/ REJECT bad attachment $2\n/^Subject: inner/ HOLD nested\n",
            "",
        );
        let msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--b\r\nContent-Disposition: attachment;\r\n filename*=utf-8''run%2Eexe\r\n\r\nMZ\r\n--b--\r\n";
        let i = inspect(&r, msg.as_bytes());
        assert_eq!(i.hold.as_deref(), Some("nested"));
        assert_eq!(
            i.stop,
            Stop::Reject(Reply::new(550, "5.7.1", "bad attachment run.exe"))
        );
    }

    #[test]
    fn quoted_printable_and_limit() {
        let r = rules("", "/caf\u{e9} cr\u{e8}me/ DISCARD dessert\n");
        let msg = "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nun caf=E9 cr=\r\n=E8me\r\n";
        assert_eq!(
            inspect(&r, msg.as_bytes()).stop,
            Stop::Discard("dessert".into())
        );
        let mut r = r;
        r.body_limit = 10;
        let msg = "Subject: x\r\n\r\n0123456789\r\ncaf\u{e9} cr\u{e8}me\r\n";
        let i = inspect(&r, msg.as_bytes());
        assert_eq!(i.stop, Stop::No);
        assert_eq!(i.notes.first().map(|n| n.kind), Some("limit"));
    }

    #[test]
    fn garbage_never_panics() {
        let r = rules("/=\\?/ WARN w\n/name/ REPLACE X: y\n", "/a/ IGNORE\n");
        let pieces: [&[u8]; 14] = [
            b"=?",
            b"?=",
            b"?B?",
            b"?Q?",
            b"\r\n",
            b"\n",
            b" ",
            b"--b",
            b"Content-Type: multipart/mixed; boundary=b",
            b"Content-Transfer-Encoding: base64",
            b"filename*0*=x'y'%",
            b"\xff\xfe",
            b"a",
            b":",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut msg = Vec::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                msg.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let _ = inspect(&r, &msg);
            let _ = decode_header(&String::from_utf8_lossy(&msg));
        }
    }

    #[test]
    fn redirect_overrides_filter() {
        let r = rules(
            "/^To:/ FILTER smtp:[127.0.0.1]:10024\n/^Cc:/ REDIRECT x@y\n/^Bcc:/ BCC c@d\n",
            "",
        );
        let i = inspect(&r, b"To: a\r\nCc: b\r\nBcc: z\r\n\r\n");
        assert_eq!(i.filter, None);
        assert_eq!(i.redirect.as_deref(), Some("x@y"));
        assert_eq!(i.bcc, ["c@d"]);
        let i = inspect(&r, b"To: a\r\n\r\n");
        assert_eq!(i.filter.as_deref(), Some("smtp:[127.0.0.1]:10024"));
    }
}
