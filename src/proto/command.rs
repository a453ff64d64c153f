//! SMTP command lines (RFC 5321 §4.1, ESMTP parameters of RFC 1870, 6152,
//! 3461, 4954, 6531, 3030), parsed once into [`Command`].
//!
//! Contract: [`Command::parse`] takes one line without its CRLF and returns
//! the command or the exact reply to send for it. Addresses are parsed with
//! `crate::addr`; parameters are checked for syntax here (values such as
//! SIZE limits are the session's business). No I/O.

use super::reply::{EnhancedStatus, Reply};
use crate::addr::{Address, Mailbox};

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO name`.
    Helo(String),
    /// `EHLO name`.
    Ehlo(String),
    /// `MAIL FROM:<path> params`.
    Mail(Address, MailParams),
    /// `RCPT TO:<path> params`.
    Rcpt(Mailbox, RcptParams),
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]`.
    Bdat {
        /// Chunk size in octets.
        size: u64,
        /// `LAST` given.
        last: Last,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [text]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY arg`.
    Vrfy(String),
    /// `EXPN arg`.
    Expn(String),
    /// `HELP [topic]`.
    Help,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH mechanism [initial-response]`.
    Auth {
        /// Mechanism name, upper case.
        mechanism: String,
        /// Initial response (base64 text, or `=` for empty).
        initial: Option<String>,
    },
    /// `ETRN domain`.
    Etrn(String),
    /// `GET`, `POST`, `CONNECT` or `USER`: no SMTP command, but what an
    /// open-proxy scanner sends (the whole line, for the log). The session
    /// decides: sendmail drops the connection when it comes first.
    Http(String),
    /// A command no SMTP extension we offer defines (the line, made
    /// printable): answered `500 5.5.1 Command unrecognized`, after the mail
    /// filters have seen it (`SMFIC_UNKNOWN`).
    Unknown(String),
}

/// Whether a BDAT chunk is the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    /// More chunks follow.
    More,
    /// `LAST`.
    Last,
}

/// `BODY=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    /// Not given, or `7BIT`.
    #[default]
    SevenBit,
    /// `8BITMIME`.
    EightBitMime,
    /// `BINARYMIME` (needs CHUNKING).
    BinaryMime,
}

/// DSN `RET=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Return the whole message.
    Full,
    /// Return headers only.
    Hdrs,
}

/// Parameters of `MAIL FROM`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=`.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Body,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
    /// `RET=`.
    pub ret: Option<Ret>,
    /// `ENVID=` (xtext, kept encoded).
    pub envid: Option<String>,
    /// `AUTH=` (xtext, kept encoded).
    pub auth: Option<String>,
}

/// Parameters of `RCPT TO`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    /// `NOTIFY=`: `None` = not given (sendmail's default FAILURE,DELAY).
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`, kept as written.
    pub orcpt: Option<String>,
}

/// `NOTIFY=NEVER` or a set of SUCCESS, FAILURE, DELAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// SUCCESS.
    pub success: bool,
    /// FAILURE.
    pub failure: bool,
    /// DELAY.
    pub delay: bool,
}

impl MailParams {
    /// The ESMTP arguments of a MAIL command (`SIZE=10 RET=HDRS`), as a
    /// mail filter's `SMFIR_CHGFROM` gives them too.
    pub fn parse(params: &str) -> Result<MailParams, Reply> {
        parse_mail_params(params)
    }
}

impl RcptParams {
    /// The ESMTP arguments of a RCPT command (`NOTIFY=NEVER`), as a mail
    /// filter's `SMFIR_ADDRCPT_PAR` gives them too.
    pub fn parse(params: &str) -> Result<RcptParams, Reply> {
        parse_rcpt_params(params)
    }
}

impl Notify {
    /// `NEVER`: none of the three.
    pub fn is_never(&self) -> bool {
        !self.success && !self.failure && !self.delay
    }

    /// The value of `NOTIFY=` as RFC 3461 writes it: `NEVER`, or the
    /// keywords joined by commas (`SUCCESS,FAILURE`).
    pub fn keywords(&self) -> String {
        if self.is_never() {
            return "NEVER".into();
        }
        let on = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ];
        let words: Vec<&str> = on.iter().filter(|(b, _)| *b).map(|(_, w)| *w).collect();
        words.join(",")
    }
}

fn syntax(text: impl Into<String>) -> Reply {
    Reply::new(501, EnhancedStatus::new(5, 5, 2), text)
}

fn param_error(text: impl Into<String>) -> Reply {
    Reply::new(555, EnhancedStatus::new(5, 5, 4), text)
}

impl Command {
    /// Parse one command line (without CRLF).
    pub fn parse(line: &str) -> Result<Command, Reply> {
        let (verb, arg) = match line.find(' ') {
            Some(i) => (&line[..i], line[i + 1..].trim()),
            None => (line, ""),
        };
        let upper = verb.to_ascii_uppercase();
        let no_arg = |cmd: Command| {
            if arg.is_empty() {
                Ok(cmd)
            } else {
                Err(syntax(format!("Syntax error: {upper} takes no parameters")))
            }
        };
        match upper.as_str() {
            "HELO" | "EHLO" => {
                if arg.is_empty() {
                    return Err(Reply::new(
                        501,
                        EnhancedStatus::new(5, 0, 0),
                        format!("{upper} requires domain address"),
                    ));
                }
                let name = arg.split_whitespace().next().unwrap_or(arg).to_string();
                // sendmail's check: letters, digits and `[].-_#:` only (so
                // nothing odd reaches Received:); control characters
                // anywhere in the argument are refused too.
                let valid = |c: char| c.is_ascii_alphanumeric() || "[].-_#:".contains(c);
                if line.chars().any(char::is_control) || !name.chars().all(valid) {
                    return Err(Reply::new(
                        501,
                        EnhancedStatus::new(5, 0, 0),
                        "Invalid domain name",
                    ));
                }
                if upper == "HELO" {
                    Ok(Command::Helo(name))
                } else {
                    Ok(Command::Ehlo(name))
                }
            }
            "MAIL" => {
                let rest = strip_keyword(arg, "FROM:")
                    .ok_or_else(|| syntax("Syntax error in parameters scanning \"FROM\""))?;
                let (path, params) = split_path(rest)?;
                let addr = Address::parse(path).map_err(|e| {
                    Reply::new(553, EnhancedStatus::new(5, 1, 7), format!("{path}... {e}"))
                })?;
                Ok(Command::Mail(addr, parse_mail_params(params)?))
            }
            "RCPT" => {
                let rest = strip_keyword(arg, "TO:")
                    .ok_or_else(|| syntax("Syntax error in parameters scanning \"TO\""))?;
                let (path, params) = split_path(rest)?;
                let mailbox = match Address::parse(path) {
                    Ok(Address::Mailbox(m)) => m,
                    Ok(Address::Null) => {
                        // checked on sendmail 8.17 (-bs): `553 5.0.0 <>... User address required`.
                        return Err(Reply::new(
                            553,
                            EnhancedStatus::new(5, 0, 0),
                            "<>... User address required",
                        ));
                    }
                    Err(e) => {
                        return Err(Reply::new(
                            553,
                            EnhancedStatus::new(5, 1, 3),
                            format!("{path}... {e}"),
                        ));
                    }
                };
                Ok(Command::Rcpt(mailbox, parse_rcpt_params(params)?))
            }
            "DATA" => no_arg(Command::Data),
            "BDAT" => {
                let mut words = arg.split_whitespace();
                let size = words
                    .next()
                    .and_then(|w| w.parse::<u64>().ok())
                    .ok_or_else(|| syntax("Syntax error: BDAT needs a chunk size"))?;
                let last = match words.next() {
                    None => Last::More,
                    Some(w) if w.eq_ignore_ascii_case("LAST") => Last::Last,
                    Some(_) => return Err(syntax("Syntax error: BDAT size [LAST]")),
                };
                if words.next().is_some() {
                    return Err(syntax("Syntax error: BDAT size [LAST]"));
                }
                Ok(Command::Bdat { size, last })
            }
            "RSET" => no_arg(Command::Rset),
            "NOOP" => Ok(Command::Noop),
            "QUIT" => no_arg(Command::Quit),
            "VRFY" => Ok(Command::Vrfy(arg.to_string())),
            "EXPN" => Ok(Command::Expn(arg.to_string())),
            "HELP" => Ok(Command::Help),
            "STARTTLS" => no_arg(Command::StartTls),
            "AUTH" => {
                let mut words = arg.split_whitespace();
                let mechanism = words
                    .next()
                    .ok_or_else(|| syntax("Syntax error: AUTH mechanism [initial-response]"))?
                    .to_ascii_uppercase();
                let initial = words.next().map(str::to_string);
                if words.next().is_some() {
                    return Err(syntax("Syntax error: AUTH mechanism [initial-response]"));
                }
                Ok(Command::Auth { mechanism, initial })
            }
            "GET" | "POST" | "CONNECT" | "USER" => Ok(Command::Http(printable(line))),
            "ETRN" => {
                if arg.is_empty() {
                    Err(syntax("Parameter required"))
                } else {
                    Ok(Command::Etrn(arg.to_string()))
                }
            }
            _ => Ok(Command::Unknown(printable(line))),
        }
    }
}

/// `FROM:` / `TO:` case-insensitively, allowing spaces after the colon (as sendmail does).
fn strip_keyword<'a>(arg: &'a str, kw: &str) -> Option<&'a str> {
    let head = arg.get(..kw.len())?;
    if head.eq_ignore_ascii_case(kw) {
        Some(arg[kw.len()..].trim_start())
    } else {
        None
    }
}

/// Split `<path> params` (the path may contain quoted spaces).
fn split_path(rest: &str) -> Result<(&str, &str), Reply> {
    if rest.starts_with('<') {
        let mut in_quote = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => in_quote = !in_quote,
                '>' if !in_quote => return Ok((&rest[..=i], rest[i + 1..].trim())),
                _ => {}
            }
        }
        return Err(syntax(format!("Unbalanced '<' in {}", printable(rest))));
    }
    // sendmail accepts a bare path; the first space ends it.
    match rest.find(' ') {
        Some(i) => Ok((&rest[..i], rest[i + 1..].trim())),
        None if rest.is_empty() => Err(syntax("Syntax error in parameters: address required")),
        None => Ok((rest, "")),
    }
}

fn parse_mail_params(params: &str) -> Result<MailParams, Reply> {
    let mut p = MailParams::default();
    for word in params.split_whitespace() {
        let (k, v) = split_param(word);
        match k.to_ascii_uppercase().as_str() {
            "SIZE" => {
                p.size = Some(
                    v.and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| param_error(format!("Bad SIZE parameter: {word}")))?,
                )
            }
            "BODY" => {
                p.body = match v.map(|v| v.to_ascii_uppercase()).as_deref() {
                    Some("7BIT") => Body::SevenBit,
                    Some("8BITMIME") => Body::EightBitMime,
                    Some("BINARYMIME") => Body::BinaryMime,
                    _ => return Err(param_error(format!("Unknown BODY type {word}"))),
                }
            }
            "SMTPUTF8" if v.is_none() => p.smtputf8 = true,
            "RET" => {
                p.ret = match v.map(|v| v.to_ascii_uppercase()).as_deref() {
                    Some("FULL") => Some(Ret::Full),
                    Some("HDRS") => Some(Ret::Hdrs),
                    _ => return Err(param_error(format!("Bad RET parameter {word}"))),
                }
            }
            "ENVID" => p.envid = Some(xtext(v, word)?),
            "AUTH" => p.auth = Some(xtext(v, word)?),
            _ => {
                return Err(param_error(format!(
                    "{} parameter unrecognized",
                    printable(k)
                )));
            }
        }
    }
    Ok(p)
}

fn parse_rcpt_params(params: &str) -> Result<RcptParams, Reply> {
    let mut p = RcptParams::default();
    for word in params.split_whitespace() {
        let (k, v) = split_param(word);
        match k.to_ascii_uppercase().as_str() {
            "NOTIFY" => {
                let v = v.ok_or_else(|| param_error("NOTIFY requires a value"))?;
                let mut n = Notify::default();
                let mut never = false;
                for item in v.split(',') {
                    match item.to_ascii_uppercase().as_str() {
                        "NEVER" => never = true,
                        "SUCCESS" => n.success = true,
                        "FAILURE" => n.failure = true,
                        "DELAY" => n.delay = true,
                        _ => return Err(param_error(format!("Bad NOTIFY parameter {word}"))),
                    }
                }
                if never && !n.is_never() {
                    return Err(param_error("NOTIFY=NEVER cannot be combined"));
                }
                p.notify = Some(n);
            }
            "ORCPT" => {
                let v = xtext(v, word)?;
                if !v.contains(';') {
                    return Err(param_error(format!("Bad ORCPT parameter {word}")));
                }
                p.orcpt = Some(v);
            }
            _ => {
                return Err(param_error(format!(
                    "{} parameter unrecognized",
                    printable(k)
                )));
            }
        }
    }
    Ok(p)
}

fn split_param(word: &str) -> (&str, Option<&str>) {
    match word.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (word, None),
    }
}

/// Check RFC 3461 xtext syntax (printable ASCII except `+` and `=`, or `+XX`); keep it encoded.
fn xtext(v: Option<&str>, word: &str) -> Result<String, Reply> {
    let v = v.ok_or_else(|| param_error(format!("Bad parameter {word}")))?;
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let ok = b.len() >= i + 3
                    && b[i + 1..i + 3]
                        .iter()
                        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c));
                if !ok {
                    return Err(param_error(format!("Bad xtext in {word}")));
                }
                i += 3;
            }
            33..=126 if b[i] != b'=' => i += 1,
            _ => return Err(param_error(format!("Bad xtext in {word}"))),
        }
    }
    Ok(v.to_string())
}

/// A line for echoing in a reply: control characters removed, at most 60 characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> u16 {
        Command::parse(line).unwrap_err().code
    }

    #[test]
    fn basic_commands() {
        assert_eq!(
            Command::parse("EHLO client.example"),
            Ok(Command::Ehlo("client.example".into()))
        );
        assert_eq!(Command::parse("helo x"), Ok(Command::Helo("x".into())));
        assert_eq!(Command::parse("DATA"), Ok(Command::Data));
        assert_eq!(Command::parse("quit"), Ok(Command::Quit));
        assert_eq!(
            Command::parse("BDAT 100 LAST"),
            Ok(Command::Bdat {
                size: 100,
                last: Last::Last
            })
        );
        assert_eq!(
            Command::parse("AUTH plain AGZvbwBiYXI="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGZvbwBiYXI=".into())
            })
        );
    }

    #[test]
    fn mail_and_params() {
        let Ok(Command::Mail(a, p)) =
            Command::parse("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=x+2By")
        else {
            panic!()
        };
        assert_eq!(a.to_string(), "a@b.example");
        assert_eq!(p.size, Some(1000));
        assert_eq!(p.body, Body::EightBitMime);
        assert_eq!(p.ret, Some(Ret::Hdrs));
        assert_eq!(p.envid.as_deref(), Some("x+2By"));
        assert!(matches!(
            Command::parse("MAIL FROM:<>"),
            Ok(Command::Mail(Address::Null, _))
        ));
        assert!(matches!(
            Command::parse("mail from: <a@b>"),
            Ok(Command::Mail(..))
        ));
        let Ok(Command::Rcpt(m, p)) =
            Command::parse("RCPT TO:<u@x> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u@x")
        else {
            panic!()
        };
        assert_eq!(m.local, "u");
        assert!(p.notify.unwrap().success && p.notify.unwrap().delay);
    }

    #[test]
    fn errors_get_precise_replies() {
        assert_eq!(
            Command::parse("FOO bar"),
            Ok(Command::Unknown("FOO bar".into()))
        );
        assert_eq!(code("MAIL <a@b>"), 501);
        assert_eq!(code("MAIL FROM:<a@b> SIZE=x"), 555);
        assert_eq!(code("MAIL FROM:<a@b> FOO=1"), 555);
        assert_eq!(code("RCPT TO:<>"), 553);
        assert_eq!(code("RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS"), 555);
        assert_eq!(code("MAIL FROM:<a@b"), 501);
        assert_eq!(code("EHLO"), 501);
        assert_eq!(code("DATA x"), 501);
        assert_eq!(code("MAIL FROM:<a@b> ENVID=a=b"), 555);
        for bad in [
            "HELO a\rb",
            "EHLO a\u{0}b",
            "EHLO a\u{1b}[2J",
            "HELO (forged)",
            "EHLO x\r",
            "HELO bad\tname",
            "EHLO ünïcode.example",
            "HELO a;b",
        ] {
            assert_eq!(
                Command::parse(bad),
                Err(Reply::new(
                    501,
                    EnhancedStatus::new(5, 0, 0),
                    "Invalid domain name"
                )),
                "{bad:?}"
            );
        }
        for good in [
            "EHLO [192.0.2.1]",
            "EHLO [IPv6:2001:db8::1]",
            "HELO my_host-1.example.",
            "EHLO #1",
        ] {
            assert!(Command::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            Command::parse("XYZZY\u{1}").unwrap(),
            Command::Unknown("XYZZY".into())
        );
        assert_eq!(
            Command::parse("get / HTTP/1.0").unwrap(),
            Command::Http("get / HTTP/1.0".into())
        );
        assert_eq!(
            Command::parse("USER root\u{7}").unwrap(),
            Command::Http("USER root".into())
        );
    }
}
