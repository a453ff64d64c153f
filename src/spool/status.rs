//! The per-message delivery journal: `QUEUE_DIR/status/ID`.
//!
//! Contract: the queue file (`queue/ID`) is never rewritten; what has
//! happened to its recipients is appended here, one line per fact, and the
//! file is fsynced ([`Journal::append`]) at the end of every queue pass that
//! leaves the message queued (one append per pass). A message finished in
//! one pass is removed without a journal at all. After a restart or SIGKILL,
//! [`Journal::load`] replays the lines:
//! a recipient recorded `delivered` or `failed` is final and is never tried
//! again; anything not recorded is still pending (at-least-once: a crash
//! between an agent's success and the end of the pass can deliver a
//! recipient twice, never zero times; the local mailer closes that window
//! with idempotent Maildir names). Lines (values percent-escaped like the envelope):
//!
//! ```text
//! rcpt KEY delivered|failed|deferred TIME DSN RELAY|- TEXT
//! expand KEY OWNER|- TARGET...        (alias expansion: children KEY.0, KEY.1, ...)
//! reported KEY...                     (a DSN about these recipients is in the spool)
//! attempt TIME NEXT                   (one queue run finished; next try at NEXT)
//! warned TIME                         (the delay warning was sent)
//! flush TIME                          (operator: due now; attempts unchanged)
//! ```
//!
//! KEY is the envelope recipient's index (`0`, `1`, ...) or, for alias
//! expansion, the parent's key and the child's position (`2.0`, `2.1`).
//! Removing a finished message: [`remove_message`] deletes the queue file
//! first, then the journal. A crash in between leaves an orphan journal
//! (removed by [`sweep_orphans`]), never a queue file without its journal —
//! which would deliver everything again. Lines that do not parse (a torn
//! last line after a crash) are ignored.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Error, QueueId};

/// The directory of journals under the spool root.
pub const DIR: &str = "status";

/// What happened to a recipient on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Accepted by the next hop: final.
    Delivered,
    /// Permanently failed: final (a DSN follows).
    Failed,
    /// Temporarily failed: tried again later.
    Deferred,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Delivered => "delivered",
            Kind::Failed => "failed",
            Kind::Deferred => "deferred",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "delivered" => Some(Kind::Delivered),
            "failed" => Some(Kind::Failed),
            "deferred" => Some(Kind::Deferred),
            _ => None,
        }
    }

    /// Is this final (no more attempts)?
    pub fn is_final(self) -> bool {
        !matches!(self, Kind::Deferred)
    }
}

/// The last recorded result for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptStatus {
    /// What happened.
    pub kind: Kind,
    /// When (seconds since the epoch).
    pub time: u64,
    /// RFC 3463 status (`2.0.0`, `5.1.1`, `4.4.1`).
    pub dsn: String,
    /// The host that answered, if any.
    pub relay: Option<String>,
    /// The reply or our description.
    pub text: String,
}

/// The recorded alias expansion of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// `owner-LIST`, the envelope sender of the expanded recipients, if any.
    pub owner: Option<String>,
    /// The targets, as `l:user`, `a:address`, `p:command`, `f:path`.
    pub targets: Vec<String>,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A recipient's result.
    Rcpt {
        /// The recipient key.
        key: String,
        /// The result.
        status: RcptStatus,
    },
    /// A recipient was expanded into children `KEY.0`, `KEY.1`, ...
    Expand {
        /// The parent key.
        key: String,
        /// The expansion.
        expansion: Expansion,
    },
    /// A DSN covering these keys has been committed to the spool.
    Reported(Vec<String>),
    /// A queue run finished at `time`; try again at `next`.
    Attempt {
        /// When.
        time: u64,
        /// Next attempt time.
        next: u64,
    },
    /// The delay warning was sent at this time.
    Warned(u64),
    /// The operator asked for the message to be tried now.
    Flush(u64),
}

impl Entry {
    /// The line, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            Entry::Rcpt { key, status: s } => format!(
                "rcpt {} {} {} {} {} {}\n",
                esc(key),
                s.kind.word(),
                s.time,
                esc(&s.dsn),
                s.relay.as_deref().map(esc).unwrap_or_else(|| "-".into()),
                esc(&s.text)
            ),
            Entry::Expand { key, expansion } => {
                let mut l = format!(
                    "expand {} {}",
                    esc(key),
                    expansion
                        .owner
                        .as_deref()
                        .map(esc)
                        .unwrap_or_else(|| "-".into())
                );
                for t in &expansion.targets {
                    l.push(' ');
                    l += &esc(t);
                }
                l + "\n"
            }
            Entry::Reported(keys) => {
                let mut l = String::from("reported");
                for k in keys {
                    l.push(' ');
                    l += &esc(k);
                }
                l + "\n"
            }
            Entry::Attempt { time, next } => format!("attempt {time} {next}\n"),
            Entry::Warned(t) => format!("warned {t}\n"),
            Entry::Flush(t) => format!("flush {t}\n"),
        }
    }

    /// Parse one line (without newline); `None` for a torn or unknown line.
    pub fn parse(line: &str) -> Option<Entry> {
        let mut w = line.split(' ');
        match w.next()? {
            "rcpt" => {
                let key = unesc(w.next()?)?;
                let kind = Kind::parse(w.next()?)?;
                let time = w.next()?.parse().ok()?;
                let dsn = unesc(w.next()?)?;
                let relay = match w.next()? {
                    "-" => None,
                    r => Some(unesc(r)?),
                };
                let text = unesc(w.next()?)?;
                Some(Entry::Rcpt {
                    key,
                    status: RcptStatus {
                        kind,
                        time,
                        dsn,
                        relay,
                        text,
                    },
                })
            }
            "expand" => {
                let key = unesc(w.next()?)?;
                let owner = match w.next()? {
                    "-" => None,
                    o => Some(unesc(o)?),
                };
                let targets = w.map(unesc).collect::<Option<Vec<_>>>()?;
                Some(Entry::Expand {
                    key,
                    expansion: Expansion { owner, targets },
                })
            }
            "reported" => Some(Entry::Reported(w.map(unesc).collect::<Option<Vec<_>>>()?)),
            "attempt" => Some(Entry::Attempt {
                time: w.next()?.parse().ok()?,
                next: w.next()?.parse().ok()?,
            }),
            "warned" => Some(Entry::Warned(w.next()?.parse().ok()?)),
            "flush" => Some(Entry::Flush(w.next()?.parse().ok()?)),
            _ => None,
        }
    }
}

/// The state replayed from a journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// Last result per recipient key.
    pub rcpts: BTreeMap<String, RcptStatus>,
    /// Recorded alias expansions per parent key.
    pub expansions: BTreeMap<String, Expansion>,
    /// Keys covered by a committed DSN.
    pub reported: std::collections::BTreeSet<String>,
    /// Finished queue runs.
    pub attempts: u32,
    /// Time of the last finished run.
    pub last_attempt: Option<u64>,
    /// Next attempt time (0 = now).
    pub next_attempt: u64,
    /// When the delay warning was sent.
    pub warned: Option<u64>,
    /// When an operator last flushed or released the message.
    pub flushed: Option<u64>,
}

impl Journal {
    /// Apply one entry.
    pub fn apply(&mut self, e: &Entry) {
        match e {
            Entry::Rcpt { key, status } => {
                // A final result is never overridden by a later line.
                if self.rcpts.get(key).is_some_and(|s| s.kind.is_final()) {
                    return;
                }
                self.rcpts.insert(key.clone(), status.clone());
            }
            Entry::Expand { key, expansion } => {
                self.expansions
                    .entry(key.clone())
                    .or_insert_with(|| expansion.clone());
            }
            Entry::Reported(keys) => self.reported.extend(keys.iter().cloned()),
            Entry::Attempt { time, next } => {
                self.attempts += 1;
                self.last_attempt = Some(*time);
                self.next_attempt = *next;
            }
            Entry::Warned(t) => {
                self.warned.get_or_insert(*t);
            }
            Entry::Flush(t) => {
                self.next_attempt = 0;
                self.flushed = Some(self.flushed.map_or(*t, |f| f.max(*t)));
            }
        }
    }

    /// Replay journal text.
    pub fn from_text(text: &str) -> Journal {
        let mut j = Journal::default();
        for line in text.lines() {
            if let Some(e) = Entry::parse(line) {
                j.apply(&e);
            }
        }
        j
    }

    /// Is this key final (delivered or failed)?
    pub fn is_final(&self, key: &str) -> bool {
        self.rcpts.get(key).is_some_and(|s| s.kind.is_final())
    }

    /// Load the journal of `id` (empty when there is none yet).
    pub fn load(root: &Path, id: &QueueId) -> Result<Journal, Error> {
        Ok(Journal::load_stored(root, id)?.unwrap_or_default())
    }

    /// The journal of `id` as stored; `None` when it has none (a message
    /// never tried), so its removal can be skipped.
    pub fn load_stored(root: &Path, id: &QueueId) -> Result<Option<Journal>, Error> {
        let p = path(root, id);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(Journal::from_text(&String::from_utf8_lossy(&b)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Append entries to the journal of `id` and fsync it (the journal is
    /// created, and its directory synced, on first use).
    pub fn append(root: &Path, id: &QueueId, entries: &[Entry]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let dir = root.join(DIR);
        let p = path(root, id);
        let fresh = !p.exists();
        if fresh {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        let text: String = entries.iter().map(Entry::to_line).collect();
        f.write_all(text.as_bytes()).map_err(|e| Error::io(&p, e))?;
        f.sync_data().map_err(|e| Error::io(&p, e))?;
        if fresh {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(&dir, e))?;
        }
        Ok(())
    }
}

/// `QUEUE_DIR/status/.changed`: touched by the queue tools after they change
/// journals or move messages, so a running queue rescans everything.
pub fn changed_marker(root: &Path) -> PathBuf {
    root.join(DIR).join(".changed")
}

/// `QUEUE_DIR/status/.flush`: touched by `mxgate queue flush` (and
/// `release`), so a running queue also forgets which hosts it had backed off,
/// as Postfix's `postqueue -f` makes qmgr forget its dead destinations.
pub fn flush_marker(root: &Path) -> PathBuf {
    root.join(DIR).join(".flush")
}

/// `QUEUE_DIR/status/.arrived`: touched when a message is committed to
/// `queue/` without being handed to the daemon's queue runner (by
/// `Writer::commit`: the sendmail command's direct path, `sendmail -bs`,
/// `mxgate -q`'s DSNs, any other writer), so the running queue scans for it
/// at once. Its content (a nanosecond stamp) tells one
/// touch from the next, even within one tick of the file system's clock.
pub fn arrived_marker(root: &Path) -> PathBuf {
    root.join(DIR).join(".arrived")
}

/// Touch [`arrived_marker`].
pub fn mark_arrived(root: &Path) -> Result<(), Error> {
    touch(root, &arrived_marker(root))
}

/// Touch [`changed_marker`].
pub fn mark_changed(root: &Path) -> Result<(), Error> {
    touch(root, &changed_marker(root))
}

/// Touch [`flush_marker`].
pub fn mark_flushed(root: &Path) -> Result<(), Error> {
    touch(root, &flush_marker(root))
}

/// Write a fresh stamp to one of the status markers (mtime and content change).
fn touch(root: &Path, p: &Path) -> Result<(), Error> {
    let dir = root.join(DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::fs::write(p, format!("{stamp}\n")).map_err(|e| Error::io(p, e))
}

/// `QUEUE_DIR/status/ID`.
pub fn path(root: &Path, id: &QueueId) -> PathBuf {
    root.join(DIR).join(id.as_str())
}

/// Remove a finished (or deleted) message: the queue file in `state_dir`
/// first, then its journal (see the module doc for why in this order).
/// A queue file that is already gone is not an error.
pub fn remove_message(root: &Path, state_dir: &str, id: &QueueId) -> Result<(), Error> {
    let q = root.join(state_dir).join(id.as_str());
    match std::fs::remove_file(&q) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&q, e)),
    }
    // No directory fsync: if the unlink is lost in a crash the message is
    // delivered again (at least once), which is what every MTA risks between
    // the remote 250 and its own bookkeeping; a lost message is impossible.
    remove_journal(root, id)
}

/// Remove the journal of message `id`, once its queue file is gone; a
/// journal that does not exist is not an error.
pub fn remove_journal(root: &Path, id: &QueueId) -> Result<(), Error> {
    let s = path(root, id);
    match std::fs::remove_file(&s) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&s, e)),
    }
}

/// Remove journals whose message is in no state directory (left by a
/// crash between the two steps of [`remove_message`]). Returns how many.
/// The markers (`.changed`, `.flush`, `.arrived`) are not journals and
/// stay: removing one would look like a new touch to the running queue.
pub fn sweep_orphans(root: &Path) -> Result<usize, Error> {
    let dir = root.join(DIR);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut n = 0;
    for e in rd {
        let e = e.map_err(|err| Error::io(&dir, err))?;
        let name = e.file_name();
        let Some(name) = name.to_str().filter(|n| !n.starts_with('.')) else {
            continue;
        };
        let live = ["queue", "hold", "quarantine", "tmp"]
            .iter()
            .any(|s| root.join(s).join(name).exists());
        if !live {
            std::fs::remove_file(e.path()).map_err(|err| Error::io(&e.path(), err))?;
            n += 1;
        }
    }
    Ok(n)
}

fn esc(s: &str) -> String {
    if s.is_empty() {
        return "%".into();
    }
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

fn unesc(s: &str) -> Option<String> {
    if s == "%" {
        return Some(String::new());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(kind: Kind, text: &str) -> RcptStatus {
        RcptStatus {
            kind,
            time: 100,
            dsn: "4.4.1".into(),
            relay: Some("mx.example. [192.0.2.1]".into()),
            text: text.into(),
        }
    }

    #[test]
    fn lines_round_trip_with_awkward_values() {
        let entries = [
            Entry::Rcpt {
                key: "0".into(),
                status: st(Kind::Deferred, "Connection refused by mx\r\n x"),
            },
            Entry::Rcpt {
                key: "1.2".into(),
                status: RcptStatus {
                    relay: None,
                    text: String::new(),
                    ..st(Kind::Delivered, "")
                },
            },
            Entry::Expand {
                key: "1".into(),
                expansion: Expansion {
                    owner: Some("owner-staff".into()),
                    targets: vec!["l:alice".into(), "p:/usr/bin/x -y".into()],
                },
            },
            Entry::Reported(vec!["0".into(), "1.2".into()]),
            Entry::Attempt {
                time: 100,
                next: 1000,
            },
            Entry::Warned(200),
            Entry::Flush(300),
        ];
        for e in &entries {
            let line = e.to_line();
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert_eq!(Entry::parse(line.trim_end_matches('\n')).as_ref(), Some(e));
        }
    }

    #[test]
    fn final_results_stick_and_torn_lines_are_ignored() {
        let text = "rcpt 0 delivered 5 2.0.0 - Sent\n\
                    rcpt 0 deferred 6 4.0.0 - later\n\
                    rcpt 1 deferred 6 4.0.0 - later\n\
                    attempt 6 66\n\
                    rcpt 1 fail";
        let j = Journal::from_text(text);
        assert!(j.is_final("0"));
        assert!(!j.is_final("1"));
        assert_eq!(j.attempts, 1);
        assert_eq!(j.next_attempt, 66);
    }

    #[test]
    fn append_load_remove_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("queue")).unwrap();
        let id = QueueId::parse("6AO0UD000007581").unwrap();
        std::fs::write(root.join("queue").join(id.as_str()), b"x").unwrap();
        Journal::append(
            root,
            &id,
            &[Entry::Rcpt {
                key: "0".into(),
                status: st(Kind::Failed, "User unknown"),
            }],
        )
        .unwrap();
        Journal::append(root, &id, &[Entry::Warned(7)]).unwrap();
        let j = Journal::load(root, &id).unwrap();
        assert!(j.is_final("0"));
        assert_eq!(j.warned, Some(7));
        assert_eq!(sweep_orphans(root).unwrap(), 0, "message still queued");
        std::fs::remove_file(root.join("queue").join(id.as_str())).unwrap();
        mark_changed(root).unwrap();
        mark_flushed(root).unwrap();
        mark_arrived(root).unwrap();
        assert_eq!(sweep_orphans(root).unwrap(), 1, "orphan journal removed");
        for marker in [
            changed_marker(root),
            flush_marker(root),
            arrived_marker(root),
        ] {
            assert!(marker.exists(), "{} swept as a journal", marker.display());
        }
        Journal::append(root, &id, &[Entry::Warned(7)]).unwrap();
        std::fs::write(root.join("queue").join(id.as_str()), b"x").unwrap();
        remove_message(root, "queue", &id).unwrap();
        assert!(!path(root, &id).exists());
        assert!(!root.join("queue").join(id.as_str()).exists());
        assert_eq!(Journal::load(root, &id).unwrap(), Journal::default());
    }
}
