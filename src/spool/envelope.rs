//! The envelope record at the head of every queue file.
//!
//! Contract: a versioned, line-oriented text record (`MXGATE-ENVELOPE 1`,
//! then `key value` lines, then `end`), followed by the message content.
//! Values are percent-escaped so no value can contain a line break.
//! [`Envelope::to_text`] and [`Envelope::split`] are exact inverses.

use super::ids::QueueId;

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

/// One envelope recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    /// Forward path as received, with angle brackets.
    pub address: String,
    /// `NOTIFY=` as written (`SUCCESS,DELAY`, `NEVER`), if given.
    pub notify: Option<String>,
    /// `ORCPT=` as written, if given.
    pub orcpt: Option<String>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn new(address: &str) -> Recipient {
        Recipient {
            address: address.into(),
            ..Default::default()
        }
    }
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
                escape(&r.address),
                escape(r.notify.as_deref().unwrap_or("-")),
                escape(r.orcpt.as_deref().unwrap_or("-"))
            );
        }
        s += "end\n";
        s
    }

    /// Split a queue file into envelope and content.
    pub fn split(data: &[u8]) -> Result<(Envelope, Vec<u8>), String> {
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
                    let notify = opt(w.next())?;
                    let orcpt = opt(w.next())?;
                    env.recipients.push(Recipient {
                        address: addr,
                        notify,
                        orcpt,
                    });
                }
                other => return Err(format!("unknown envelope field {other:?}")),
            }
        }
        Ok((env, data[pos..].to_vec()))
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
            address: "<u@x>".into(),
            notify: Some("SUCCESS,DELAY".into()),
            orcpt: Some("rfc822;u@x".into()),
        });
        e.recipients.push(Recipient::new("<v@x>"));
        let mut data = e.to_text().into_bytes();
        data.extend_from_slice(b"Subject: x\r\n\r\nend\r\n");
        let (back, body) = Envelope::split(&data).unwrap();
        assert_eq!(back, e);
        assert_eq!(body, b"Subject: x\r\n\r\nend\r\n");
        assert_eq!(back.fact("helo"), Some("evil\r\nrcpt <x@y>"));
        assert_eq!(e.to_text().lines().count(), 9);
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
