//! Persistent host status: what the queue manager last learnt about each
//! remote host, kept on disk for `sendmail -bh` (`hoststat`), `-bH`
//! (`purgestat`) and the next start (sendmail's `HostStatusDirectory`).
//!
//! Contract: one small text file per host in [`directory`] (default
//! `QUEUE_DIR/.hoststat`; `confHOST_STATUS_DIRECTORY`, relative to the
//! queue directory unless absolute, as sendmail reads it). A record is
//! replaced by writing a temporary file and renaming it over the old one,
//! so a reader sees the old or the new record, never half of one. No
//! fsync: this is advice for scheduling, not mail (sendmail does not sync
//! it either). Host names become file names only when they are safe (no
//! `/`, not starting with `.`, no control characters); others are not
//! recorded. A file that does not parse is reported by [`HostStatDir::load`]
//! with its path, never silently taken as "up".

use super::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The host status directory of a spool: `confHOST_STATUS_DIRECTORY`
/// ([`crate::settings::Settings::host_status_dir`]) relative to
/// `queue_dir` unless absolute.
pub fn directory(queue_dir: &Path, dir: &Path) -> PathBuf {
    queue_dir.join(dir)
}

/// What a host did the last time it was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    /// It answered (accepted or refused recipients itself).
    Up,
    /// It answered with a whole-session deferral (`421 ...`): its reply.
    Reply(String),
    /// It could not be reached: why (`Connection refused by mx.example.`).
    Unreachable(String),
}

/// One host's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    /// The host (a next hop's name or `[address]`).
    pub host: String,
    /// When it was last tried (seconds since the epoch).
    pub last: u64,
    /// Backed off until (0: not backed off).
    pub until: u64,
    /// Consecutive whole-host deferrals.
    pub fails: u32,
    /// How it went.
    pub state: HostState,
}

/// The first line of every record.
const MAGIC: &str = "MXGATE-HOSTSTAT 1";

impl HostStatus {
    /// The record's text.
    pub fn to_text(&self) -> String {
        let clean = |t: &str| t.replace(|c: char| c.is_control(), " ");
        let (state, text) = match &self.state {
            HostState::Up => ("up", String::new()),
            HostState::Reply(r) => ("reply", clean(r)),
            HostState::Unreachable(r) => ("unreachable", clean(r)),
        };
        format!(
            "{MAGIC}\nhost {}\nlast {}\nuntil {}\nfails {}\nstate {state}\ntext {text}\n",
            clean(&self.host),
            self.last,
            self.until,
            self.fails
        )
    }

    /// Parse a record; `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<HostStatus, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(format!("expected {MAGIC:?} on the first line"));
        }
        let mut field = |name: &str| -> Result<String, String> {
            let l = lines.next().ok_or_else(|| format!("missing {name}"))?;
            l.strip_prefix(name)
                .and_then(|v| {
                    v.strip_prefix(' ')
                        .or(if v.is_empty() { Some("") } else { None })
                })
                .map(str::to_string)
                .ok_or_else(|| format!("expected {name}, found {l:?}"))
        };
        let num = |v: String, name: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        let host = field("host")?;
        let last = num(field("last")?, "last")?;
        let until = num(field("until")?, "until")?;
        let fails = u32::try_from(num(field("fails")?, "fails")?).unwrap_or(u32::MAX);
        let state = field("state")?;
        let text = field("text")?;
        let state = match state.as_str() {
            "up" => HostState::Up,
            "reply" => HostState::Reply(text),
            "unreachable" => HostState::Unreachable(text),
            other => return Err(format!("unknown state {other:?}")),
        };
        Ok(HostStatus {
            host,
            last,
            until,
            fails,
            state,
        })
    }
}

/// A host's file name, if the name is safe to use as one.
fn file_name(host: &str) -> Option<String> {
    let h = host.to_ascii_lowercase();
    let safe = !h.is_empty()
        && !h.starts_with('.')
        && h.len() <= 255
        && !h.contains('/')
        && !h.chars().any(|c| c.is_control() || c.is_whitespace());
    safe.then_some(h)
}

/// The directory of host status records.
#[derive(Debug, Clone)]
pub struct HostStatDir {
    dir: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl HostStatDir {
    /// The records in `dir` (created on the first write).
    pub fn new(dir: PathBuf) -> HostStatDir {
        HostStatDir { dir }
    }

    /// Where the records are.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Replace `st.host`'s record. `Ok(false)`: the name is not safe as a
    /// file name and nothing was written.
    pub fn record(&self, st: &HostStatus) -> Result<bool, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let Some(name) = file_name(&st.host) else {
            return Ok(false);
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&self.dir, e)),
        }
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".tmp.{}.{seq}", std::process::id()));
        let path = self.dir.join(&name);
        std::fs::write(&tmp, st.to_text()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&path, e)
        })?;
        Ok(true)
    }

    /// Every record, sorted by host; a file that does not parse is an
    /// `Err` entry with its path. A missing directory is no records.
    pub fn load(&self) -> Result<Vec<Result<HostStatus, Error>>, Error> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|n| {
                let p = self.dir.join(&n);
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                HostStatus::parse(&text).map_err(|detail| Error::Corrupt { path: p, detail })
            })
            .collect())
    }

    /// Remove the records last updated more than `max_age` seconds before
    /// `now` (sendmail's `purgestat` removes those older than
    /// `Timeout.hoststatus`), and unreadable ones. Returns how many.
    pub fn purge(&self, now: u64, max_age: u64) -> Result<usize, Error> {
        let mut removed = 0;
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for e in rd.filter_map(|e| e.ok()) {
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let p = e.path();
            let stale = match std::fs::read_to_string(&p).map(|t| HostStatus::parse(&t)) {
                Ok(Ok(st)) => now.saturating_sub(st.last) > max_age,
                // Unreadable or not a record (a leftover temporary file).
                _ => true,
            };
            if stale {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(host: &str, last: u64, state: HostState) -> HostStatus {
        HostStatus {
            host: host.into(),
            last,
            until: last + 60,
            fails: 1,
            state,
        }
    }

    #[test]
    fn records_round_trip_and_are_replaced() {
        let t = tempfile::tempdir().unwrap();
        let d = HostStatDir::new(directory(t.path(), Path::new(".hoststat")));
        assert!(d.load().unwrap().is_empty());
        let a = st(
            "MX.Example.com",
            100,
            HostState::Unreachable("Connection refused by mx.example.com.".into()),
        );
        assert!(d.record(&a).unwrap());
        let b = st(
            "[192.0.2.1]",
            100,
            HostState::Reply("421 4.3.2 busy\r\nnow".into()),
        );
        assert!(d.record(&b).unwrap());
        let got: Vec<HostStatus> = d.load().unwrap().into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].state, HostState::Reply("421 4.3.2 busy  now".into()));
        assert_eq!(got[1], a);
        assert!(t.path().join(".hoststat/mx.example.com").is_file());
        let up = st("mx.example.com", 200, HostState::Up);
        d.record(&up).unwrap();
        let got: Vec<HostStatus> = d.load().unwrap().into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got[1].state, HostState::Up);
        // unsafe names are not recorded
        for bad in ["../x", ".hidden", "a/b", "", "a b"] {
            assert!(!d.record(&st(bad, 1, HostState::Up)).unwrap(), "{bad}");
        }
        assert_eq!(d.load().unwrap().len(), 2);
        // a broken file is reported with its path
        std::fs::write(t.path().join(".hoststat/broken"), "junk").unwrap();
        let got = d.load().unwrap();
        assert!(got[1].as_ref().unwrap_err().to_string().contains("broken"));
        // purge: older than the limit and the broken file go
        assert_eq!(d.purge(200 + 1800, 1800).unwrap(), 2);
        assert_eq!(d.purge(200 + 1801, 1800).unwrap(), 1);
        assert!(d.load().unwrap().is_empty());
        assert_eq!(
            directory(Path::new("/q"), Path::new("/var/lib/hs")),
            PathBuf::from("/var/lib/hs")
        );
    }
}
