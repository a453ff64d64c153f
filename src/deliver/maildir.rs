//! Maildir delivery: one message, one file, atomically.
//!
//! Contract: [`deliver`] writes `DIR/tmp/NAME`, fsyncs it, hard-links it to
//! `DIR/new/NAME` (a link never replaces an existing file), removes the tmp
//! name and fsyncs `new/` — so a reader sees the whole message or nothing.
//! NAME is chosen by the caller and must be the same every time the same
//! (message, recipient) is delivered: the queue passes
//! `ARRIVAL.QUEUEID_USER.HOST`. If a file with that base name is already in
//! `new/` or `cur/` (a delivery that completed before a crash, whose journal
//! line was lost), [`deliver`] reports [`Delivered::Already`] instead of
//! writing a second copy: local delivery is exactly-once across SIGKILL.
//! `tmp/`, `new/` and `cur/` are created (mode 0700) when missing.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What [`deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A new file in `new/`.
    New(PathBuf),
    /// The message was already there (an earlier delivery before a crash).
    Already(PathBuf),
}

/// Is `name` safe as a Maildir file name (no `/`, no leading dot, no `:`)?
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

/// Deliver `parts` (concatenated: added headers, then the message) into the
/// Maildir `dir` under the file name `name`.
pub fn deliver(dir: &Path, name: &str, parts: &[&[u8]]) -> std::io::Result<Delivered> {
    if !safe_name(name) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unsafe Maildir file name {name:?}"),
        ));
    }
    for sub in ["tmp", "new", "cur"] {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join(sub))?;
    }
    if let Some(p) = existing(dir, name)? {
        return Ok(Delivered::Already(p));
    }
    let tmp = dir.join("tmp").join(name);
    let new = dir.join("new").join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        for p in parts {
            f.write_all(p)?;
        }
        f.sync_all()?;
        drop(f);
        match std::fs::hard_link(&tmp, &new) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(&tmp)?;
                return Ok(Delivered::Already(new.clone()));
            }
            Err(e) => return Err(e),
        }
        std::fs::remove_file(&tmp)?;
        File::open(dir.join("new"))?.sync_all()?;
        Ok(Delivered::New(new.clone()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file named `name` (or `name:2,FLAGS`) in `new/` or `cur/`.
fn existing(dir: &Path, name: &str) -> std::io::Result<Option<PathBuf>> {
    let n = dir.join("new").join(name);
    if n.exists() {
        return Ok(Some(n));
    }
    let prefix = format!("{name}:");
    for e in std::fs::read_dir(dir.join("cur"))? {
        let e = e?;
        let f = e.file_name();
        if f.to_str()
            .is_some_and(|s| s == name || s.starts_with(&prefix))
        {
            return Ok(Some(e.path()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_atomically_and_only_once() {
        let d = tempfile::tempdir().unwrap();
        let md = d.path().join("alice/Maildir");
        let r = deliver(
            &md,
            "1.Q_alice.gw",
            &[b"Return-Path: <a@b>\r\n", b"body\r\n"],
        )
        .unwrap();
        let Delivered::New(p) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"Return-Path: <a@b>\r\nbody\r\n"
        );
        assert!(std::fs::read_dir(md.join("tmp")).unwrap().next().is_none());
        assert!(matches!(
            deliver(&md, "1.Q_alice.gw", &[b"x"]).unwrap(),
            Delivered::Already(_)
        ));
        // Moved to cur/ by a mail reader with flags: still recognised.
        std::fs::rename(&p, md.join("cur/1.Q_alice.gw:2,S")).unwrap();
        assert!(matches!(
            deliver(&md, "1.Q_alice.gw", &[b"x"]).unwrap(),
            Delivered::Already(_)
        ));
        assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 0);
    }

    #[test]
    fn unsafe_names_are_refused() {
        assert!(!safe_name("../x"));
        assert!(!safe_name(".hidden"));
        assert!(!safe_name("a:2,S"));
        assert!(safe_name("1795480213.6AO0UD000007581_alice.gw"));
        let d = tempfile::tempdir().unwrap();
        assert!(deliver(d.path(), "a/b", &[b"x"]).is_err());
    }
}
