//! The envelope record at the head of every queue file.
//!
//! Contract: a versioned, line-oriented text record (`MXGATE-ENVELOPE 1`,
//! then `key value` lines, then `end`), followed by the message content.
//! Values are percent-escaped so no value can contain a line break.
//! [`Envelope::to_text`] and [`Envelope::split`] are exact inverses.

use super::ids::QueueId;
use crate::addr::{Address, Mailbox};
use crate::proto::command::{Notify, RcptParams};
use std::fmt;

const MAGIC: &str = "MXGATE-ENVELOPE 1";

/// Everything known about a message besides its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Queue id (set by the spool when the message is created).
    pub id: Option<QueueId>,
    /// Arrival time, seconds since the epoch.
    pub arrival: u64,
    /// Reverse path as received, with angle brackets (`<>` for bounces).
    pub sender: String,
    /// Recipients in RCPT order.
    pub recipients: Vec<Recipient>,
    /// Other facts: `helo`, `client-addr`, `client-name`, `proto`, `daemon`,
    /// `envid`, `ret`, `body`, `smtputf8`, `auth`, `quarantine`, `size`, ...
    pub facts: Vec<(String, String)>,
}

/// One envelope recipient with its DSN parameters, typed: the mailbox as
/// RCPT parsed it and `NOTIFY=` as a set. The file keeps them as text
/// (`<u@x>`, `SUCCESS,DELAY`) and [`Envelope::split`] parses them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The forward path.
    pub address: Forward,
    /// `NOTIFY=`, if given (`None`: sendmail's default, FAILURE and DELAY).
    pub notify: Option<Notify>,
    /// `ORCPT=` as written, if given.
    pub orcpt: Option<String>,
}

impl Recipient {
    /// A recipient without DSN parameters, from its forward path as
    /// written (`<u@x>`; the brackets are optional).
    pub fn new(address: &str) -> Recipient {
        Recipient::of(Forward::parse(address))
    }

    /// A recipient without DSN parameters.
    pub fn of(address: Forward) -> Recipient {
        Recipient {
            address,
            notify: None,
            orcpt: None,
        }
    }
}

/// A recipient's forward path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// A mailbox: every recipient taken over SMTP, from the command line
    /// or made by the queue.
    Mailbox(Mailbox),
    /// Text that is not one, kept as written (an address a mail filter
    /// added, a queue file from an older version): routing refuses it
    /// with `553 5.1.3`, so the message is bounced for it, never lost.
    Unparsed(String),
}

impl Forward {
    /// From the path as written; the angle brackets are optional.
    pub fn parse(text: &str) -> Forward {
        match Address::parse(text) {
            Ok(Address::Mailbox(m)) => Forward::Mailbox(m),
            _ => {
                let t = text.trim();
                let inner = t
                    .strip_prefix('<')
                    .and_then(|r| r.strip_suffix('>'))
                    .unwrap_or(t);
                Forward::Unparsed(inner.to_string())
            }
        }
    }

    /// The path without brackets, the domain as written (`u@Example.COM`).
    pub fn written(&self) -> String {
        match self {
            Forward::Mailbox(m) => m.to_written_string(),
            Forward::Unparsed(t) => t.clone(),
        }
    }

    /// The mailbox, unless the text did not parse.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Forward::Mailbox(m) => Some(m),
            Forward::Unparsed(_) => None,
        }
    }
}

impl fmt::Display for Forward {
    /// `<path>`, as the envelope file and the logs write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.written())
    }
}

/// `NOTIFY=` keywords as written (`SUCCESS,DELAY`, `NEVER`), parsed as RCPT
/// parses them; `None` for a value that is not one.
pub fn parse_notify(keywords: &str) -> Option<Notify> {
    RcptParams::parse(&format!("NOTIFY={keywords}"))
        .ok()
        .and_then(|p| p.notify)
}

impl Envelope {
    /// An envelope for `sender`, arriving now.
    pub fn new(sender: &str) -> Envelope {
        Envelope {
            sender: sender.into(),
            arrival: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            ..Default::default()
        }
    }

    /// A fact by name.
    pub fn fact(&self, name: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The record as text (ends with `end\n`).
    pub fn to_text(&self) -> String {
        let mut s = format!("{MAGIC}\n");
        if let Some(id) = &self.id {
            s += &format!("id {id}\n");
        }
        s += &format!("arrival {}\n", self.arrival);
        s += &format!("sender {}\n", escape(&self.sender));
        for (k, v) in &self.facts {
            s += &format!("fact {} {}\n", escape(k), escape(v));
        }
        for r in &self.recipients {
            s += &format!(
                "rcpt {} {} {}\n",
                escape(&r.address.to_string()),
                escape(&r.notify.map_or_else(|| "-".to_string(), |n| n.keywords())),
                escape(r.orcpt.as_deref().unwrap_or("-"))
            );
        }
        s += "end\n";
        s
    }

    /// The envelope of message `id` from its queue file at `path`, read up
    /// to its `end` line only (a queue tool looking at 200,000 messages
    /// does not read their content). `Ok(None)`: the message is gone
    /// (delivered meanwhile), also when the file holds another message's
    /// envelope (the daemon recycled it and wrote a new message over it
    /// since the file was opened; see `spool`'s "Recycling").
    pub fn read_head_of(path: &std::path::Path, id: &QueueId) -> Result<Option<Envelope>, String> {
        use std::io::BufRead;
        let f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut r = std::io::BufReader::with_capacity(8192, f);
        let mut head = Vec::new();
        loop {
            let start = head.len();
            let n = r
                .read_until(b'\n', &mut head)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if n == 0 || &head[start..] == b"end\n" {
                break;
            }
        }
        let (env, _) = Envelope::split(&head).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(env).filter(|e| e.id.as_ref().is_none_or(|held| held == id)))
    }

    /// Split a queue file into envelope and content.
    pub fn split(data: &[u8]) -> Result<(Envelope, Vec<u8>), String> {
        let (env, start) = Envelope::parse_head(data)?;
        Ok((env, data[start..].to_vec()))
    }

    /// [`Envelope::split`] without the copy: the envelope, and where the
    /// content starts in `data`.
    pub fn parse_head(data: &[u8]) -> Result<(Envelope, usize), String> {
        let mut env = Envelope::default();
        let mut pos = 0;
        let mut first = true;
        loop {
            let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') else {
                return Err("envelope not terminated by `end`".into());
            };
            let line = std::str::from_utf8(&data[pos..pos + nl])
                .map_err(|_| format!("envelope line at byte {pos} is not UTF-8"))?;
            pos += nl + 1;
            if first {
                if line != MAGIC {
                    return Err(format!("expected {MAGIC:?}, found {line:?}"));
                }
                first = false;
                continue;
            }
            if line == "end" {
                break;
            }
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "id" => env.id = QueueId::parse(rest),
                "arrival" => {
                    env.arrival = rest
                        .parse()
                        .map_err(|_| format!("bad arrival time {rest:?}"))?
                }
                "sender" => env.sender = unescape(rest)?,
                "fact" => {
                    let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                    env.facts.push((unescape(k)?, unescape(v)?));
                }
                "rcpt" => {
                    let mut w = rest.split(' ');
                    let addr = unescape(w.next().unwrap_or(""))?;
                    let opt = |v: Option<&str>| -> Result<Option<String>, String> {
                        match v {
                            None | Some("-") => Ok(None),
                            Some(v) => unescape(v).map(Some),
                        }
                    };
                    // A NOTIFY= that does not parse (no version wrote one)
                    // falls back to the default rather than losing the message.
                    let notify = opt(w.next())?.as_deref().and_then(parse_notify);
                    let orcpt = opt(w.next())?;
                    env.recipients.push(Recipient {
                        address: Forward::parse(&addr),
                        notify,
                        orcpt,
                    });
                }
                other => return Err(format!("unknown envelope field {other:?}")),
            }
        }
        Ok((env, pos))
    }
}

/// Percent-escape `%`, space, control characters and non-ASCII bytes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'%' || b == b' ' || !(0x21..0x7f).contains(&b) {
            out += &format!("%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("escaped value {s:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_awkward_values() {
        let mut e = Envelope::new("<\"a b\"@x.example>");
        e.id = QueueId::parse("6AO0UD000007581");
        e.facts.push(("helo".into(), "evil\r\nrcpt <x@y>".into()));
        e.facts
            .push(("quarantine".into(), "suspicious sender ü".into()));
        e.recipients.push(Recipient {
            address: Forward::parse("<u@X.Example>"),
            notify: parse_notify("SUCCESS,DELAY"),
            orcpt: Some("rfc822;u@x".into()),
        });
        e.recipients.push(Recipient::new("<v@x>"));
        // Text a filter gave that is not an address survives as written.
        e.recipients.push(Recipient::new("<not an address>"));
        let mut data = e.to_text().into_bytes();
        data.extend_from_slice(b"Subject: x\r\n\r\nend\r\n");
        let (back, body) = Envelope::split(&data).unwrap();
        assert_eq!(back, e);
        assert_eq!(body, b"Subject: x\r\n\r\nend\r\n");
        assert_eq!(back.fact("helo"), Some("evil\r\nrcpt <x@y>"));
        assert_eq!(e.to_text().lines().count(), 10);
        // Typed in memory, as written on disk: the domain's case is kept.
        let text = e.to_text();
        assert!(
            text.contains("rcpt <u@X.Example> SUCCESS,DELAY rfc822;u@x\n"),
            "{text}"
        );
        assert!(text.contains("rcpt <not%20an%20address> - -\n"), "{text}");
        assert!(matches!(back.recipients[0].address, Forward::Mailbox(_)));
        assert_eq!(
            back.recipients[2].address,
            Forward::Unparsed("not an address".into())
        );
        let n = back.recipients[0].notify.unwrap();
        assert!(n.success && n.delay && !n.failure);
    }

    #[test]
    fn corrupt_records_are_reported() {
        assert!(
            Envelope::split(b"garbage\n")
                .unwrap_err()
                .contains("expected")
        );
        assert!(
            Envelope::split(b"MXGATE-ENVELOPE 1\nsender <a>\n")
                .unwrap_err()
                .contains("end")
        );
        assert!(
            Envelope::split(b"MXGATE-ENVELOPE 1\nbogus x\nend\n")
                .unwrap_err()
                .contains("bogus")
        );
    }
}
