//! What the running daemon records for `mxgate status`.
//!
//! Contract: the daemon keeps one [`State`] and writes it as JSON to
//! `QUEUE_DIR/daemon.json` (temp file, fsync, rename) at start and after
//! every reload attempt, successful or not. [`read`] is the other side.
//! The file says what the daemon *recorded*; whether it still runs is
//! judged by the reader from `pid` (a stale file after a crash says
//! "not running").

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The file under `QUEUE_DIR`.
pub const FILE: &str = "daemon.json";

/// The daemon's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The daemon's process id.
    pub pid: u32,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// mxgate's version.
    pub version: String,
    /// The configuration path it loads (`(embedded default.mc)` without one).
    pub config: String,
    /// The generation it serves.
    pub generation: Loaded,
    /// The node file, when there is one.
    pub node: Option<NodeInfo>,
    /// The last reload attempt, if any since the start.
    pub last_reload: Option<Reload>,
    /// Settings changed in the configuration that only a restart applies,
    /// each `NAME: old -> new`.
    pub pending_restart: Vec<String>,
    /// The listeners as bound: `NAME on ADDR`.
    pub listeners: Vec<String>,
}

/// The generation served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    /// The generation id.
    pub id: String,
    /// When it was switched to (RFC 3339, UTC).
    pub since: String,
    /// Why: `start`, `SIGHUP`, `map rebuilt: PATH`.
    pub reason: String,
}

/// The node file's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name (its `confDOMAIN_NAME`, else the file name).
    pub name: String,
    /// The file.
    pub file: String,
    /// 16 hex digits of SHA-256 of the file.
    pub sha: String,
    /// The keys it sets.
    pub keys: Vec<String>,
}

/// One reload attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reload {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Why it was tried (`SIGHUP`, `map rebuilt: PATH`).
    pub reason: String,
    /// How it ended.
    pub result: Outcome,
    /// Why it failed.
    pub error: Option<String>,
}

/// How a reload ended (`ok` / `failed` in the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The new generation is served.
    #[default]
    Ok,
    /// Refused: the running generation stays.
    Failed,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        })
    }
}

/// Write `state` to `QUEUE_DIR/daemon.json` atomically.
pub fn write(queue_dir: &Path, state: &State) -> std::io::Result<()> {
    let tmp = queue_dir.join(".daemon.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, queue_dir.join(FILE))
}

/// Read what the daemon recorded under `queue_dir`.
pub fn read(queue_dir: &Path) -> std::io::Result<State> {
    let text = std::fs::read_to_string(queue_dir.join(FILE))?;
    serde_json::from_str(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", queue_dir.join(FILE).display()),
        )
    })
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-12-03T23:04:05Z`).
pub fn rfc3339(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = crate::spool::ids::civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Now, as [`rfc3339`].
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_stamp() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_425_445), "2026-12-04T23:04:05Z");
        let d = tempfile::tempdir().unwrap();
        let s = State {
            pid: 7,
            pending_restart: vec!["QUEUE_DIR: /a -> /b".into()],
            ..State::default()
        };
        write(d.path(), &s).unwrap();
        assert_eq!(read(d.path()).unwrap(), s);
        assert!(!d.path().join(".daemon.json.tmp").exists());
    }
}
