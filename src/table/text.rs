//! The makemap input format: one `key value` record per line.
//!
//! Contract: [`parse`] turns the bytes of a text table into [`Record`]s and
//! [`Diag`]nostics exactly as sendmail 8.17's `makemap` reads its standard
//! input (spec 8.2), and does no I/O:
//!
//! * a line is the bytes up to `\n`; an empty line, or one whose first byte
//!   is the comment character (`-D`, default `#`), is skipped;
//! * without `-t`, a line that starts with white space (including a line of
//!   only blanks, or a lone `\r`) is `syntax error (leading space)`, skipped;
//! * the key is the bytes up to the first white space (or the `-t`
//!   delimiter), folded to ASCII lower case unless `-f`; the value is what
//!   follows the run of separators, kept byte for byte (inner and trailing
//!   white space included, values are never folded);
//! * a missing value is `no RHS for LHS <key>` (skipped) unless `-e`.
//!
//! Duplicate keys are not decided here: that is the builder's job
//! ([`super::build`]), because `-o` also compares against the old map.
//! Quotes have no meaning in makemap input (sendmail stores `"b c` as is);
//! the aliases format, which does parse quotes, is [`super::aliases`].
//! One difference from sendmail, on purpose: lines longer than 1023 bytes
//! are read whole (sendmail splits them with `line too long`).

use super::Fold;

/// Whether an empty value is accepted (`-e`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyValues {
    /// `no RHS for LHS key`: the line is skipped and the run exits 65 (default).
    Reject,
    /// The key is stored with an empty value (`-e`).
    Allow,
}

/// How a text table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Fold keys to lower case (default) or keep them (`-f`).
    pub fold: Fold,
    /// The comment character (`-D`, default `#`).
    pub comment: u8,
    /// The key/value delimiter (`-t`); `None` = any run of white space.
    pub delimiter: Option<u8>,
    /// Empty values (`-e`).
    pub empty: EmptyValues,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            fold: Fold::Lower,
            comment: b'#',
            delimiter: None,
            empty: EmptyValues::Reject,
        }
    }
}

/// One key/value line of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key, folded as the options say (no trailing NUL: `-N` is a storage matter).
    pub key: Vec<u8>,
    /// The value, as written.
    pub value: Vec<u8>,
    /// 1-based line number in the input.
    pub line: u32,
}

/// Something wrong with one line. Every diagnostic makes makemap exit 65.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// 1-based line number.
    pub line: u32,
    /// sendmail's message text, e.g. `syntax error (leading space)`.
    pub message: String,
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parse a whole text table. Records come back in input order.
pub fn parse(text: &[u8], opts: &ParseOptions) -> (Vec<Record>, Vec<Diag>) {
    let mut records = Vec::with_capacity(text.len() / 32);
    let read = parse_reader(text, opts, |key, value, line| {
        records.push(Record {
            key: key.to_vec(),
            value: value.to_vec(),
            line,
        });
        Ok::<(), std::convert::Infallible>(())
    });
    // Reading a byte slice cannot fail, and `each` never does.
    let diags = read.unwrap_or_default();
    (records, diags)
}

/// Why [`parse_reader`] stopped early.
#[derive(Debug)]
pub enum Stop<E> {
    /// The input could not be read.
    Read(std::io::Error),
    /// `each` refused a record.
    Each(E),
}

/// Read a text table line by line, calling `each(key, value, line)` for
/// every record in input order (the key folded as the options say), with
/// one line in memory at a time; returns the diagnostics.
pub fn parse_reader<R: std::io::BufRead, E>(
    mut input: R,
    opts: &ParseOptions,
    mut each: impl FnMut(&[u8], &[u8], u32) -> Result<(), E>,
) -> Result<Vec<Diag>, Stop<E>> {
    let mut diags = Vec::new();
    let mut lineno: u32 = 0;
    let (mut raw, mut key) = (Vec::new(), Vec::new());
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).map_err(Stop::Read)? == 0 {
            // End of input (a final newline leaves nothing more: it was
            // skipped as blank, which is what sendmail does with end of file).
            return Ok(diags);
        }
        lineno = lineno.saturating_add(1);
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        match parse_line(&raw, opts, &mut key) {
            Line::Skip => {}
            Line::Record { value } => each(&key, value, lineno).map_err(Stop::Each)?,
            Line::Error(message) => diags.push(Diag {
                line: lineno,
                message,
            }),
        }
    }
}

/// What one line amounts to.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Skip,
    /// A record: its value, and its key in the caller's buffer.
    Record {
        value: &'a [u8],
    },
    Error(String),
}

fn parse_line<'a>(line: &'a [u8], opts: &ParseOptions, key_out: &mut Vec<u8>) -> Line<'a> {
    let Some(&first) = line.first() else {
        return Line::Skip;
    };
    if first == opts.comment {
        return Line::Skip;
    }
    let is_sep = |b: u8| match opts.delimiter {
        Some(d) => b == d,
        None => b.is_ascii_whitespace() || b == 0x0b,
    };
    if opts.delimiter.is_none() && is_sep(first) {
        return Line::Error("syntax error (leading space)".into());
    }
    let key_end = line.iter().position(|&b| is_sep(b)).unwrap_or(line.len());
    let (key, rest) = line.split_at(key_end);
    let value_start = rest.iter().position(|&b| !is_sep(b)).unwrap_or(rest.len());
    let value = rest.get(value_start..).unwrap_or_default();
    key_out.clear();
    key_out.extend_from_slice(key);
    if opts.fold == Fold::Lower {
        key_out.make_ascii_lowercase();
    }
    if value.is_empty() && opts.empty == EmptyValues::Reject {
        return Line::Error(format!(
            "no RHS for LHS {}",
            String::from_utf8_lossy(key_out)
        ));
    }
    Line::Record { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, value: &str, line: u32) -> Record {
        Record {
            key: key.into(),
            value: value.into(),
            line,
        }
    }

    #[test]
    fn k4_inner_and_trailing_whitespace_kept() {
        // checked on sendmail 8.17: `k v  ` keeps `v  `, `j\t\tv2\t` → `v2\t`.
        let (r, d) = parse(
            b"key with  spaces here\nk v  \nj\t\tv2\t\n",
            &ParseOptions::default(),
        );
        assert!(d.is_empty());
        assert_eq!(
            r,
            vec![
                rec("key", "with  spaces here", 1),
                rec("k", "v  ", 2),
                rec("j", "v2\t", 3)
            ]
        );
    }

    #[test]
    fn k5_leading_space_is_an_error_even_blank_looking_lines() {
        // checked on sendmail 8.17: "   " and "\r" lines are both `syntax error (leading space)`.
        let (r, d) = parse(b"  leading x\n   \n\r\nok v\n", &ParseOptions::default());
        assert_eq!(r, vec![rec("ok", "v", 4)]);
        let lines: Vec<u32> = d.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![1, 2, 3]);
        assert_eq!(d[0].to_string(), "line 1: syntax error (leading space)");
    }

    #[test]
    fn keys_folded_unless_keep() {
        let (r, _) = parse(b"Foo.Example V1\n", &ParseOptions::default());
        assert_eq!(r, vec![rec("foo.example", "V1", 1)]);
        let keep = ParseOptions {
            fold: Fold::Keep,
            ..Default::default()
        };
        let (r, _) = parse(b"Foo.Example V1\n", &keep);
        assert_eq!(r, vec![rec("Foo.Example", "V1", 1)]);
    }

    #[test]
    fn k6_missing_value() {
        let (r, d) = parse(b"emptykey\nm   \n", &ParseOptions::default());
        assert!(r.is_empty());
        assert_eq!(d[0].to_string(), "line 1: no RHS for LHS emptykey");
        assert_eq!(d[1].to_string(), "line 2: no RHS for LHS m");
        let allow = ParseOptions {
            empty: EmptyValues::Allow,
            ..Default::default()
        };
        let (r, d) = parse(b"emptykey\n", &allow);
        assert!(d.is_empty());
        assert_eq!(r, vec![rec("emptykey", "", 1)]);
    }

    #[test]
    fn k7_delimiter() {
        // checked on sendmail 8.17: -t= `a=b=c` → a / b=c; `x = y` → "x " / " y"; `a==b` → a / b.
        let o = ParseOptions {
            delimiter: Some(b'='),
            ..Default::default()
        };
        let (r, d) = parse(b"a=b=c\nx = y\nq==b\n leading=ok\n", &o);
        assert!(d.is_empty());
        assert_eq!(
            r,
            vec![
                rec("a", "b=c", 1),
                rec("x ", " y", 2),
                rec("q", "b", 3),
                rec(" leading", "ok", 4)
            ]
        );
    }

    #[test]
    fn k9_comment_char() {
        let o = ParseOptions {
            comment: b'%',
            ..Default::default()
        };
        let (r, d) = parse(b"%c\n#x y\n", &o);
        assert!(d.is_empty());
        assert_eq!(r, vec![rec("#x", "y", 2)]);
    }

    #[test]
    fn quotes_are_plain_bytes_and_non_ascii_not_folded() {
        // checked on sendmail 8.17: `a "b c` stores `"b c`; `KÄX` → `kÄx`.
        let (r, d) = parse("a \"b c\nKÄX v\n".as_bytes(), &ParseOptions::default());
        assert!(d.is_empty());
        assert_eq!(r, vec![rec("a", "\"b c", 1), rec("kÄx", "v", 2)]);
    }

    #[test]
    fn crlf_value_keeps_cr() {
        // checked on sendmail 8.17: `k v\r\n` stores value `v\r`.
        let (r, _) = parse(b"k v\r\n", &ParseOptions::default());
        assert_eq!(r, vec![rec("k", "v\r", 1)]);
    }
}
