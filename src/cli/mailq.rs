//! `mailq` / `sendmail -bp`: list the spool in sendmail's format, or as JSON.
//!
//! Contract: [`entries`] reads every message of every queue state
//! (`queue/`, `hold/`, `quarantine/`) through [`crate::spool::Spool`]; a
//! queue file that does not parse is listed with its error, never skipped
//! silently. [`render_text`] and [`render_json`] are pure. The text layout
//! is sendmail 8.17's `printqueue()` (checked against `sendmail -bp` on a
//! queue written by sendmail 8.17.1.9 itself, see docs/sendmail-cli.md;
//! mxgate's ids are 15 characters, sendmail's 14, so columns after the id
//! sit one place further right):
//!
//! ```text
//! \t\t/var/spool/mxgate (2 requests)
//! -----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
//! 6AQB9e000012345      231 Thu Nov 26 11:09 <root@gw.example.com>
//!                                          <a@x.example>
//! ```
//!
//! The size is the body's (sendmail lists its `df` file); sender and
//! recipients are shown as the envelope holds them, in angle brackets (as
//! sendmail shows mail that came by SMTP). An empty queue prints
//! `QUEUE_DIR is empty` and `Total requests: 0`, as 8.17 does.
//! Held and quarantined messages carry their state on the line after the
//! sender (`(held)`, `QUARANTINE: reason`), as sendmail shows quarantine.
//! A message with a deferred recipient in its journal (`status/ID`) gets
//! sendmail's status line under the sender, the last deferral's text:
//! `                 (Deferred: Connection refused by mx.example.com.)`.
//! monitoring-plugins' `check_mailq -M sendmail -W/-C` counts messages per
//! destination domain from exactly this line (tests/health.rs runs it).

use crate::spool::ids::civil;
use crate::spool::{QueueId, Spool, State};
use std::path::Path;

/// One message as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Queue id.
    pub id: QueueId,
    /// Queue state directory.
    pub state: State,
    /// Body size in bytes (after the header section), as sendmail's `df` size.
    pub size: u64,
    /// The whole content as spooled (headers and body).
    pub message_size: u64,
    /// Arrival, seconds since the epoch.
    pub arrival: u64,
    /// Reverse path with brackets (`<>` for bounces).
    pub sender: String,
    /// Forward paths with brackets.
    pub recipients: Vec<String>,
    /// Quarantine reason, if any.
    pub reason: Option<String>,
    /// The text of the most recent deferral in the journal, if any
    /// (sendmail's `M` line: `Deferred: Connection refused by mx.example.`).
    pub status: Option<String>,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
}

/// Every message in the spool: queue, then hold, then quarantine; by id within each.
pub fn entries(spool: &Spool) -> Result<Vec<Entry>, crate::spool::Error> {
    let mut out = Vec::new();
    for state in [State::Queue, State::Hold, State::Quarantine] {
        for id in spool.list(state)? {
            match spool.read(state, &id) {
                Ok((env, content)) => out.push(Entry {
                    status: last_deferral(spool.root(), &id),
                    id,
                    state,
                    size: body_size(&content),
                    message_size: content.len() as u64,
                    arrival: env.arrival,
                    sender: env.sender.clone(),
                    recipients: env
                        .recipients
                        .iter()
                        .map(|r| r.address.to_string())
                        .collect(),
                    reason: env.fact("quarantine").map(str::to_string),
                    error: None,
                }),
                // Removed between list and read (delivered): not in the queue any more.
                Err(crate::spool::Error::Io { err, .. })
                    if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => out.push(Entry {
                    id,
                    state,
                    size: 0,
                    message_size: 0,
                    arrival: 0,
                    sender: String::new(),
                    recipients: Vec::new(),
                    reason: None,
                    status: None,
                    error: Some(e.to_string()),
                }),
            }
        }
    }
    Ok(out)
}

/// The entries `mailq -q...` lists: everything without a selection; with
/// one, as sendmail's mailq, the quarantined messages for `-qQ` and the
/// others otherwise, those the selection takes (a file that could not be
/// read is kept only in the whole listing).
pub fn selected(list: Vec<Entry>, select: &crate::queue::Select) -> Vec<Entry> {
    if *select == crate::queue::Select::All {
        return list;
    }
    let quarantined = select.quarantined();
    list.into_iter()
        .filter(|e| {
            e.error.is_none()
                && (e.state == State::Quarantine) == quarantined
                && select.matches_parts(
                    e.id.as_str(),
                    &e.sender,
                    &e.recipients,
                    e.reason.as_deref(),
                )
        })
        .collect()
}

/// `Deferred: TEXT` for the latest deferred recipient of `id`'s journal
/// (none when the journal is missing, unreadable or has no deferral).
fn last_deferral(root: &Path, id: &QueueId) -> Option<String> {
    use crate::spool::status::{Journal, Kind};
    let journal = Journal::load(root, id).ok()?;
    journal
        .rcpts
        .values()
        .filter(|s| s.kind == Kind::Deferred)
        .max_by_key(|s| s.time)
        .map(|s| format!("Deferred: {}", s.text))
}

/// Bytes after the empty line that ends the header section (all of it when there is none).
fn body_size(content: &[u8]) -> u64 {
    let start = if content.starts_with(b"\r\n") {
        2
    } else {
        content
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4)
    };
    (content.len() - start.min(content.len())) as u64
}

/// `Thu Nov 26 11:09` (ctime's first 16 characters, UTC).
pub fn queue_time(secs: u64) -> String {
    let (_, _, d, h, mi, _) = civil(secs);
    let (wd, mon) = crate::spool::ids::day_month(secs);
    format!("{wd} {mon} {d:>2} {h:02}:{mi:02}")
}

/// sendmail's `mailq` listing of `entries` found in `dir`.
pub fn render_text(dir: &Path, entries: &[Entry]) -> String {
    if entries.is_empty() {
        return format!("{} is empty\n\t\tTotal requests: 0\n", dir.display());
    }
    let n = entries.len();
    let mut s = format!(
        "\t\t{} ({n} request{})\n",
        dir.display(),
        if n == 1 { "" } else { "s" }
    );
    s += "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n";
    for e in entries {
        let mark = match e.state {
            State::Queue => ' ',
            State::Hold | State::Quarantine => 'X',
        };
        if let Some(err) = &e.error {
            s += &format!("{:<14}{mark} (unreadable: {err})\n", e.id.as_str());
            continue;
        }
        s += &format!(
            "{:<14}{mark}{:>8} {} {}\n",
            e.id.as_str(),
            e.size,
            queue_time(e.arrival),
            e.sender
        );
        match (e.state, &e.reason) {
            (State::Quarantine, Some(r)) => s += &format!("     QUARANTINE: {r}\n"),
            (State::Quarantine, None) => s += "     QUARANTINE\n",
            (State::Hold, _) => s += "     (held)\n",
            (State::Queue, _) => {}
        }
        if let Some(st) = &e.status {
            // Indented 17 columns, as sendmail's mailq shows it.
            s += &format!("                 ({st})\n");
        }
        for r in &e.recipients {
            s += &format!("\t\t\t\t\t {r}\n");
        }
    }
    s += &format!("\t\tTotal requests: {n}\n");
    s
}

/// One JSON object per line per message.
pub fn render_json(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        let v = serde_json::json!({
            "queue_id": e.id.as_str(),
            "state": e.state.dir(),
            "size": e.size,
            "message_size": e.message_size,
            "arrival_time": e.arrival,
            "sender": e.sender,
            "recipients": e.recipients,
            "quarantine_reason": e.reason,
            "status": e.status,
            "error": e.error,
        });
        s += &v.to_string();
        s.push('\n');
    }
    s
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// sendmail's listing.
    Text,
    /// `--json`: one object per line per message.
    Json,
}

/// List the spool of `site` (`QUEUE_DIR`) on `out`. Exit 0, or 73 when the
/// spool cannot be opened or read (nothing half-printed is passed off as the queue).
pub fn run(
    site: &crate::site::Site,
    format: Format,
    select: &crate::queue::Select,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    let dir = crate::daemon::queue_dir(site);
    let listed = Spool::open(&dir, crate::spool::Durability::Fsync).and_then(|s| entries(&s));
    let list = match listed {
        Ok(l) => selected(l, select),
        Err(e) => {
            let _ = writeln!(err, "mailq: cannot read the queue: {e}");
            return 73;
        }
    };
    let text = match format {
        Format::Text => render_text(&dir, &list),
        Format::Json => render_json(&list),
    };
    match out.write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "mailq: {e}");
            74
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::envelope::{Envelope, Recipient};
    use crate::spool::{Durability, Spool};

    fn add(spool: &Spool, sender: &str, rcpts: &[&str], state: State, reason: Option<&str>) {
        let mut e = Envelope::new(sender);
        e.arrival = 1_795_480_213;
        for r in rcpts {
            e.recipients.push(Recipient::new(r));
        }
        if let Some(r) = reason {
            e.facts.push(("quarantine".into(), r.into()));
        }
        let mut w = spool.create(&e).unwrap();
        w.write(b"Subject: x\r\n\r\nbody\r\n").unwrap();
        w.commit(state).unwrap();
    }

    #[test]
    fn empty_queue_says_so() {
        let d = tempfile::tempdir().unwrap();
        let spool = Spool::open(d.path(), Durability::Unsafe).unwrap();
        let e = entries(&spool).unwrap();
        assert_eq!(
            render_text(Path::new("/q"), &e),
            "/q is empty\n\t\tTotal requests: 0\n"
        );
        assert_eq!(render_json(&e), "");
    }

    #[test]
    fn listing_has_sendmail_columns_and_states() {
        let d = tempfile::tempdir().unwrap();
        let spool = Spool::open(d.path(), Durability::Unsafe).unwrap();
        add(
            &spool,
            "<a@b.example>",
            &["<x@y.example>", "<z@y.example>"],
            State::Queue,
            None,
        );
        add(
            &spool,
            "<>",
            &["<q@y.example>"],
            State::Quarantine,
            Some("suspicious"),
        );
        let e = entries(&spool).unwrap();
        let text = render_text(Path::new("/q"), &e);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "\t\t/q (2 requests)");
        assert!(lines[1].starts_with("-----Q-ID----- --Size--"));
        // id (15 chars) + mark, size right-aligned in 8, ctime, sender.
        assert!(
            lines[2].ends_with("        6 Tue Nov 24 00:30 <a@b.example>"),
            "{:?}",
            lines[2]
        );
        assert_eq!(lines[3], "\t\t\t\t\t <x@y.example>");
        assert_eq!(lines[4], "\t\t\t\t\t <z@y.example>");
        assert!(
            lines[5].contains("X       6 Tue Nov 24 00:30 <>"),
            "{:?}",
            lines[5]
        );
        assert_eq!(lines[6], "     QUARANTINE: suspicious");
        assert_eq!(lines.last().unwrap(), &"\t\tTotal requests: 2");
        let json = render_json(&e);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(first["state"], "queue");
        assert_eq!(
            (first["size"].as_u64(), first["message_size"].as_u64()),
            (Some(6), Some(20))
        );
        assert_eq!(first["recipients"][1], "<z@y.example>");
        assert!(!text.contains("(Deferred"), "{text}");
        let second: serde_json::Value = serde_json::from_str(json.lines().nth(1).unwrap()).unwrap();
        assert_eq!(second["quarantine_reason"], "suspicious");
    }

    #[test]
    fn a_deferral_in_the_journal_gives_sendmails_status_line() {
        use crate::spool::status::{Entry as J, Journal, Kind, RcptStatus};
        let d = tempfile::tempdir().unwrap();
        let spool = Spool::open(d.path(), Durability::Unsafe).unwrap();
        add(
            &spool,
            "<a@b.example>",
            &["<x@y.example>"],
            State::Queue,
            None,
        );
        let id = spool.list(State::Queue).unwrap().remove(0);
        let deferred = |time: u64, text: &str| J::Rcpt {
            key: "0".into(),
            status: RcptStatus {
                kind: Kind::Deferred,
                time,
                dsn: "4.4.1".into(),
                relay: None,
                text: text.into(),
            },
        };
        Journal::append(
            d.path(),
            &id,
            &[
                deferred(10, "Connection timed out with mx.y.example."),
                deferred(20, "Connection refused by mx.y.example."),
            ],
        )
        .unwrap();
        let e = entries(&spool).unwrap();
        let text = render_text(Path::new("/q"), &e);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[3], "                 (Deferred: Connection refused by mx.y.example.)",
            "{text}"
        );
        assert_eq!(lines[4], "\t\t\t\t\t <x@y.example>");
        let json: serde_json::Value = serde_json::from_str(render_json(&e).trim()).unwrap();
        assert_eq!(
            json["status"],
            "Deferred: Connection refused by mx.y.example."
        );
    }
}
