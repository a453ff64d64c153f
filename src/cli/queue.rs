//! `mxgate queue ...`: look at and act on the spool directly.
//!
//! Contract: every subcommand works on the files (`queue/`, `hold/`,
//! `status/`) — the files are the truth and a running daemon rescans them
//! — and prints one line per message it acts on, then a count. Options
//! before the subcommand: `-C/--config FILE` (and `-D NAME=VALUE`) to find
//! `QUEUE_DIR`, or `--queue-dir DIR`.
//!
//! * `list [--json]`: every message in `queue/`, `hold/`, `quarantine/` with
//!   its recipients and their journal state.
//! * `delete [--dry-run] SELECTOR...`: remove the selected messages (queue
//!   file, then journal) from `queue/`, `hold/` and `quarantine/`.
//! * `hold SELECTOR...` / `release SELECTOR...`: move from `queue/` to
//!   `hold/`, and from `hold/` or `quarantine/` back to `queue/`; a
//!   released message is due at once.
//! * `flush [SELECTOR...]`: make the selected (default: all) queued messages
//!   due now (sendmail `-q`; `--recipient` ≈ `-qR`, `--sender` ≈ `-qS`,
//!   `--id` ≈ `-qI`: substring matches, case-insensitive).
//! * `summary`: pending recipients by destination domain, messages by age.
//!
//! Selectors (all given must match): `--id ID` (repeatable), `--from ADDR`
//! (exact envelope sender; `'<>'` = bounces), `--to ADDR` (an exact
//! envelope recipient), `--older-than DURATION` (`2d`, `4h`), and for flush
//! `--recipient TEXT`, `--sender TEXT` (substrings). `delete`, `hold` and
//! `release` refuse to run without a selector.

use crate::queue::plan::bare;
use crate::queue::runner::unix_now;
use crate::spool::status::{self, Entry, Journal};
use crate::spool::{Durability, Envelope, QueueId, Spool, State};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

const HELP: &str = "\
Usage: mxgate queue [-C FILE] [-D NAME=VALUE]... [--queue-dir DIR] COMMAND [OPTIONS]

Without -C/--config: /etc/mail/mxgate.cf, else /etc/mail/mxgate.mc (the
package's), else the embedded default.

Commands:
  list [--json]                       messages in queue/, hold/, quarantine/
  delete [--dry-run] SELECTOR...      remove messages (queue file, then journal)
                                      from queue/, hold/ and quarantine/
  hold SELECTOR...                    move to hold/ (not delivered until released)
  release SELECTOR...                 move from hold/ or quarantine/ back to
                                      queue/, due now
  flush [SELECTOR...]                 make messages due now (-q, -qR, -qS, -qI)
  summary                             pending recipients by domain, messages by age

Selectors (all given must match):
  --id ID             this queue id (repeatable; for flush: a substring, like -qI)
  --from ADDR         this envelope sender exactly; '<>' selects bounces
  --to ADDR           this envelope recipient exactly
  --older-than DUR    queued longer than DUR (30m, 4h, 2d)
  --sender TEXT       sender contains TEXT (like -qS)
  --recipient TEXT    a recipient contains TEXT (like -qR)
";

/// Which messages a command acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// `--id` values.
    pub ids: Vec<String>,
    /// `--from`, without brackets (`""` = `<>`).
    pub from: Option<String>,
    /// `--to`, without brackets.
    pub to: Option<String>,
    /// `--older-than`, seconds.
    pub older_than: Option<u64>,
    /// `--sender` substring.
    pub sender_contains: Option<String>,
    /// `--recipient` substring.
    pub recipient_contains: Option<String>,
    /// Ids match as substrings (flush) rather than exactly.
    pub id_substring: bool,
}

impl Selector {
    /// No selector given?
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.from.is_none()
            && self.to.is_none()
            && self.older_than.is_none()
            && self.sender_contains.is_none()
            && self.recipient_contains.is_none()
    }

    /// Does message `id` with envelope `env` match at time `now`?
    pub fn matches(&self, id: &QueueId, env: &Envelope, now: u64) -> bool {
        let lc = |s: &str| s.to_ascii_lowercase();
        let ids_ok = self.ids.is_empty()
            || self.ids.iter().any(|i| {
                if self.id_substring {
                    id.as_str().contains(i.as_str())
                } else {
                    i == id.as_str()
                }
            });
        let sender = lc(&bare(&env.sender));
        let from_ok = self.from.as_ref().is_none_or(|f| lc(f) == sender);
        let to_ok = self.to.as_ref().is_none_or(|t| {
            env.recipients
                .iter()
                .any(|r| lc(&r.address.written()) == lc(t))
        });
        let age_ok = self
            .older_than
            .is_none_or(|a| now.saturating_sub(env.arrival) > a);
        let s_ok = self
            .sender_contains
            .as_ref()
            .is_none_or(|s| sender.contains(&lc(s)));
        let r_ok = self.recipient_contains.as_ref().is_none_or(|s| {
            env.recipients
                .iter()
                .any(|r| lc(&r.address.to_string()).contains(&lc(s)))
        });
        ids_ok && from_ok && to_ok && age_ok && s_ok && r_ok
    }
}

/// Dry run or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Act,
    DryRun,
}

struct Args {
    config: Option<PathBuf>,
    defines: Vec<(String, String)>,
    queue_dir: Option<PathBuf>,
    command: String,
    json: bool,
    mode: Mode,
    sel: Selector,
}

fn parse(args: &[String]) -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut a = Args {
        config: None,
        defines: Vec::new(),
        queue_dir: None,
        command: String::new(),
        json: false,
        mode: Mode::Act,
        sel: Selector::default(),
    };
    let val = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value()
            .map(|v| v.to_string_lossy().into_owned())
            .map_err(|e| e.to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("config") | Short('C') => a.config = Some(val(&mut p)?.into()),
            Short('D') => a.defines.push(mxgate_m4::parse_define(&val(&mut p)?)),
            Long("queue-dir") => a.queue_dir = Some(val(&mut p)?.into()),
            Long("json") => a.json = true,
            Long("dry-run") | Short('n') => a.mode = Mode::DryRun,
            Long("id") => a.sel.ids.push(val(&mut p)?),
            Long("from") => a.sel.from = Some(bare(&val(&mut p)?)),
            Long("to") => a.sel.to = Some(bare(&val(&mut p)?)),
            Long("sender") => a.sel.sender_contains = Some(val(&mut p)?),
            Long("recipient") => a.sel.recipient_contains = Some(val(&mut p)?),
            Long("older-than") => {
                let v = val(&mut p)?;
                let d = crate::config::parse_duration(&v, crate::config::unit::SECONDS)
                    .ok_or_else(|| format!("--older-than: not a duration: {v}"))?;
                a.sel.older_than = Some(d.as_secs());
            }
            Long("help") | Short('h') => a.command = "help".into(),
            Value(v) if a.command.is_empty() => a.command = v.to_string_lossy().into_owned(),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(a)
}

/// `mxgate queue ...` (see the module doc); returns the exit status.
pub fn run(
    args: &[String],
    _stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = write!(err, "mxgate queue: {e}\n{HELP}");
            return 64;
        }
    };
    if a.command.is_empty() || a.command == "help" {
        let _ = write!(out, "{HELP}");
        return if a.command.is_empty() { 64 } else { 0 };
    }
    let dir = match &a.queue_dir {
        Some(d) => d.clone(),
        None => {
            let opts = crate::daemon::Options {
                config: crate::cli::tables::ops_config(a.config.clone()),
                defines: a.defines.clone(),
                ..Default::default()
            };
            match crate::daemon::load(&opts) {
                Ok(site) => crate::daemon::queue_dir(&site),
                Err(e) => {
                    let _ = writeln!(err, "mxgate queue: {e}");
                    return 78;
                }
            }
        }
    };
    let spool = match Spool::open(&dir, Durability::Fsync) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "mxgate queue: {e}");
            return 73;
        }
    };
    let now = unix_now();
    let r = match a.command.as_str() {
        "list" => list(&spool, a.json, out),
        "summary" => summary(&spool, now, out),
        "delete" | "hold" | "release" if a.sel.is_empty() => {
            let _ = writeln!(
                err,
                "mxgate queue {}: give a selector (--id, --from, --to, --older-than, --sender, --recipient)",
                a.command
            );
            return 64;
        }
        "delete" => act(&spool, &a.sel, now, a.mode, Op::Delete, out),
        "hold" => act(&spool, &a.sel, now, a.mode, Op::Hold, out),
        "release" => act(&spool, &a.sel, now, a.mode, Op::Release, out),
        "flush" => {
            let mut sel = a.sel.clone();
            sel.id_substring = true;
            act(&spool, &sel, now, a.mode, Op::Flush, out)
        }
        other => {
            let _ = write!(err, "mxgate queue: unknown command {other}\n{HELP}");
            return 64;
        }
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "mxgate queue: {e}");
            74
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Delete,
    Hold,
    Release,
    Flush,
}

/// The messages of `state` with their envelopes, one at a time (only the
/// ids are listed first; each envelope is read when its turn comes, up to
/// its `end` line). A message removed meanwhile is skipped.
fn messages(
    spool: &Spool,
    state: State,
) -> Result<impl Iterator<Item = Result<(QueueId, Envelope), String>> + '_, String> {
    let ids = spool.list(state).map_err(|e| e.to_string())?;
    Ok(ids.into_iter().filter_map(move |id| {
        let path = spool.root().join(state.dir()).join(id.as_str());
        match Envelope::read_head_of(&path, &id) {
            Ok(Some(env)) => Some(Ok((id, env))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }))
}

fn act(
    spool: &Spool,
    sel: &Selector,
    now: u64,
    mode: Mode,
    op: Op,
    out: &mut dyn Write,
) -> Result<(), String> {
    let root = spool.root();
    let states: &[State] = match op {
        Op::Delete => &[State::Queue, State::Hold, State::Quarantine],
        Op::Hold | Op::Flush => &[State::Queue],
        // A quarantined message (a milter's or the access table's
        // QUARANTINE, a HOLD content rule) is released the same way.
        Op::Release => &[State::Hold, State::Quarantine],
    };
    let verb = match (op, mode) {
        (Op::Delete, Mode::Act) => "deleted",
        (Op::Delete, Mode::DryRun) => "would delete",
        (Op::Hold, Mode::Act) => "held",
        (Op::Hold, Mode::DryRun) => "would hold",
        (Op::Release, Mode::Act) => "released",
        (Op::Release, Mode::DryRun) => "would release",
        (Op::Flush, Mode::Act) => "flushed",
        (Op::Flush, Mode::DryRun) => "would flush",
    };
    let mut n = 0;
    for &state in states {
        for m in messages(spool, state)? {
            let (id, env) = m?;
            if !sel.matches(&id, &env, now) {
                continue;
            }
            if mode == Mode::Act {
                let r = match op {
                    Op::Delete => status::remove_message(root, state.dir(), &id),
                    Op::Hold => rename(root, State::Queue, State::Hold, &id),
                    Op::Release if state == State::Quarantine => {
                        crate::spool::release_quarantined(root, &id)
                            .and_then(|()| Journal::append(root, &id, &[Entry::Flush(now)]))
                    }
                    Op::Release => rename(root, state, State::Queue, &id)
                        .and_then(|()| Journal::append(root, &id, &[Entry::Flush(now)])),
                    // A message never tried has no journal and is due as
                    // soon as the flush makes the runner forget its host's
                    // backoff: no journal is created for it.
                    Op::Flush if !status::path(root, &id).exists() => Ok(()),
                    Op::Flush => Journal::append(root, &id, &[Entry::Flush(now)]),
                };
                r.map_err(|e| e.to_string())?;
            }
            n += 1;
            let rcpts: Vec<String> = env
                .recipients
                .iter()
                .map(|r| r.address.to_string())
                .collect();
            writeln!(
                out,
                "{verb} {id} ({}) from={} to={}",
                state.dir(),
                env.sender,
                rcpts.join(",")
            )
            .map_err(|e| e.to_string())?;
        }
    }
    if mode == Mode::Act && n > 0 {
        // Tell a running queue to look at everything again.
        status::mark_changed(root).map_err(|e| e.to_string())?;
        if matches!(op, Op::Flush | Op::Release) {
            // ... and to retry hosts it had backed off.
            status::mark_flushed(root).map_err(|e| e.to_string())?;
        }
    }
    writeln!(out, "{n} message(s) {verb}").map_err(|e| e.to_string())
}

fn rename(
    root: &std::path::Path,
    from: State,
    to: State,
    id: &QueueId,
) -> Result<(), crate::spool::Error> {
    crate::spool::move_message(root, from, to, id)
}

fn rcpt_state(j: &Journal, i: usize) -> String {
    let key = i.to_string();
    if let Some(x) = j.expansions.get(&key) {
        let done = (0..x.targets.len())
            .filter(|c| j.is_final(&format!("{key}.{c}")))
            .count();
        return format!("expanded {done}/{} done", x.targets.len());
    }
    match j.rcpts.get(&key) {
        None => "pending".into(),
        Some(s) => format!("{:?} {} {}", s.kind, s.dsn, s.text).to_lowercase(),
    }
}

fn list(spool: &Spool, json: bool, out: &mut dyn Write) -> Result<(), String> {
    let mut all = Vec::new();
    for state in [State::Queue, State::Hold, State::Quarantine] {
        for m in messages(spool, state)? {
            let (id, env) = m?;
            let j = Journal::load(spool.root(), &id).map_err(|e| e.to_string())?;
            let size = std::fs::metadata(spool.root().join(state.dir()).join(id.as_str()))
                .map(|m| m.len())
                .unwrap_or(0);
            all.push((state, id, env, j, size));
        }
    }
    if json {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|(state, id, env, j, size)| {
                serde_json::json!({
                    "id": id.as_str(),
                    "state": state.dir(),
                    "size": size,
                    "arrival": env.arrival,
                    "sender": env.sender,
                    "attempts": j.attempts,
                    "next_attempt": j.next_attempt,
                    "recipients": env.recipients.iter().enumerate().map(|(i, r)| serde_json::json!({
                        "address": r.address.to_string(),
                        "state": rcpt_state(j, i),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(v)).map_err(|e| e.to_string())?;
        return Ok(());
    }
    for (state, id, env, j, size) in &all {
        writeln!(
            out,
            "{id} {size:>8} {} {} {}{}",
            crate::dsn::date(env.arrival),
            env.sender,
            state.dir(),
            if j.attempts > 0 {
                format!(" attempts={}", j.attempts)
            } else {
                String::new()
            }
        )
        .map_err(|e| e.to_string())?;
        for (i, r) in env.recipients.iter().enumerate() {
            writeln!(out, "    {} ({})", r.address, rcpt_state(j, i)).map_err(|e| e.to_string())?;
        }
    }
    writeln!(out, "{} message(s)", all.len()).map_err(|e| e.to_string())
}

/// The age bucket of a message.
pub fn age_bucket(age: u64) -> &'static str {
    match age {
        a if a < 3600 => "<1h",
        a if a < 4 * 3600 => "1h-4h",
        a if a < 86_400 => "4h-1d",
        a if a < 5 * 86_400 => "1d-5d",
        _ => ">5d",
    }
}

fn summary(spool: &Spool, now: u64, out: &mut dyn Write) -> Result<(), String> {
    let mut domains: BTreeMap<String, usize> = BTreeMap::new();
    let mut ages: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut total = 0;
    for m in messages(spool, State::Queue)? {
        let (id, env) = m?;
        total += 1;
        *ages
            .entry(age_bucket(now.saturating_sub(env.arrival)))
            .or_default() += 1;
        let j = Journal::load(spool.root(), &id).map_err(|e| e.to_string())?;
        for (i, r) in env.recipients.iter().enumerate() {
            if j.is_final(&i.to_string()) {
                continue;
            }
            let a = r.address.written();
            let d = a
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_else(|| "(local)".into());
            *domains.entry(d).or_default() += 1;
        }
    }
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    w(out, format!("{total} message(s) queued"))?;
    w(out, "pending recipients by destination:".into())?;
    let mut by_count: Vec<_> = domains.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (d, n) in by_count {
        w(out, format!("  {n:>7}  {d}"))?;
    }
    w(out, "messages by age:".into())?;
    for b in ["<1h", "1h-4h", "4h-1d", "1d-5d", ">5d"] {
        w(
            out,
            format!("  {:>7}  {b}", ages.get(b).copied().unwrap_or(0)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(sender: &str, rcpts: &[&str], arrival: u64) -> Envelope {
        let mut e = Envelope::new(sender);
        e.arrival = arrival;
        for r in rcpts {
            e.recipients.push(crate::spool::envelope::Recipient::new(r));
        }
        e
    }

    #[test]
    fn selectors() {
        let id = QueueId::parse("6AO0UD000007581").unwrap();
        let bounce = env("<>", &["<victim@example.org>"], 1000);
        let normal = env("<Alice@Example.com>", &["<bob@example.org>"], 1000);
        let s = Selector {
            from: Some(String::new()),
            ..Default::default()
        };
        assert!(s.matches(&id, &bounce, 2000));
        assert!(!s.matches(&id, &normal, 2000));
        let s = Selector {
            from: Some("alice@example.com".into()),
            older_than: Some(500),
            ..Default::default()
        };
        assert!(s.matches(&id, &normal, 2000));
        assert!(!s.matches(&id, &normal, 1400), "not old enough");
        let s = Selector {
            recipient_contains: Some("EXAMPLE.ORG".into()),
            ids: vec!["0UD0".into()],
            id_substring: true,
            ..Default::default()
        };
        assert!(s.matches(&id, &normal, 0));
        let s = Selector {
            to: Some("bob@example.org".into()),
            ids: vec!["0UD0".into()],
            ..Default::default()
        };
        assert!(
            !s.matches(&id, &normal, 0),
            "ids match exactly outside flush"
        );
        assert_eq!(age_bucket(10), "<1h");
        assert_eq!(age_bucket(5 * 86_400), ">5d");
    }
}
