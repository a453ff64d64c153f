//! The system password file as a set of names (sendmail's `user` map):
//! which local names have an account.
//!
//! Contract: [`Passwd::contains`] answers from memory. The file is read at
//! the first question and again only when it has changed (inode, size or
//! modification time), which is checked at most once a second, so an SMTP
//! session's RCPT does not read `/etc/passwd` (a `useradd` is seen within a
//! second, as a makemap rebuild is). A file that cannot be read is an
//! error, never "no such user".

use super::Error;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the file's metadata is looked at, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// The account names of a password file.
#[derive(Debug)]
pub struct Passwd {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    checked: Option<Instant>,
    /// (inode, size, modification time in ns) of the names held.
    stamp: Option<(u64, u64, i128)>,
    names: HashSet<String>,
}

impl Passwd {
    /// The password file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Passwd {
        Passwd {
            path: path.into(),
            state: Mutex::new(State::default()),
        }
    }

    /// `/etc/passwd`.
    pub fn system() -> Passwd {
        Passwd::new("/etc/passwd")
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Has `name` an account (exactly as written in the file's first field)?
    pub fn contains(&self, name: &str) -> Result<bool, Error> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if st.checked.is_none_or(|t| now.duration_since(t) >= RECHECK) {
            self.refresh(&mut st)?;
            st.checked = Some(now);
        }
        Ok(st.names.contains(name))
    }

    fn refresh(&self, st: &mut State) -> Result<(), Error> {
        use std::os::unix::fs::MetadataExt;
        let io = |e: std::io::Error| Error::Io {
            path: self.path.clone(),
            detail: e.to_string(),
        };
        let m = std::fs::metadata(&self.path).map_err(io)?;
        let stamp = (
            m.ino(),
            m.len(),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        );
        if st.stamp == Some(stamp) {
            return Ok(());
        }
        let text = std::fs::read(&self.path).map_err(io)?;
        st.names = String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| l.split(':').next())
            .filter(|n| !n.is_empty() && !n.starts_with('#'))
            .map(str::to_string)
            .collect();
        st.stamp = Some(stamp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_once_and_again_when_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("passwd");
        std::fs::write(
            &f,
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        let p = Passwd::new(&f);
        assert!(p.contains("alice").unwrap());
        assert!(!p.contains("bob").unwrap());
        // Changed within the second: not seen yet (no stat per question)...
        std::fs::write(
            &f,
            "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        )
        .unwrap();
        assert!(p.contains("alice").unwrap());
        // ...seen once the second has passed.
        p.state.lock().unwrap().checked = Some(Instant::now() - RECHECK);
        assert!(p.contains("bob").unwrap());
        assert!(!p.contains("alice").unwrap());
        std::fs::remove_file(&f).unwrap();
        p.state.lock().unwrap().checked = Some(Instant::now() - RECHECK);
        assert!(matches!(p.contains("bob"), Err(Error::Io { .. })));
    }
}
