//! Maildir delivery: one message, one file, atomically, never through a symlink.
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
//!
//! The path is walked with [`crate::safefile::walk`]: every component is
//! opened with `openat(O_NOFOLLOW)` relative to its parent, missing ones
//! (and `tmp/`, `new/`, `cur/`) are made with `mkdirat` (mode 0700), and
//! every file operation is relative to a directory descriptor. A symlink
//! anywhere on the path, or an existing directory owned by someone other
//! than root, the daemon's user or the [`Owner`], or writable by others
//! without the sticky bit, is [`Error::Unsafe`] — the caller defers (as
//! sendmail and Postfix do for an unsafe mailbox), nothing is created past
//! the bad component. When the process is root and an [`Owner`] is given,
//! new directories and the message file are `fchown`ed to it.

use crate::safefile::{self, Problem, Walk};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, linkat, unlinkat};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// What [`deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A new file in `new/`.
    New(PathBuf),
    /// The message was already there (an earlier delivery before a crash).
    Already(PathBuf),
}

/// Who a Maildir belongs to: the recipient's uid and gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The recipient's user id.
    pub uid: Uid,
    /// The recipient's primary group.
    pub gid: Gid,
}

/// Why a delivery did not happen (every one is a temporary failure).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path is not safe to write as this process (a symlink, a foreign owner).
    #[error("unsafe path: {0}")]
    Unsafe(Problem),
    /// An I/O error on a file of the Maildir.
    #[error("{path}: {err}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
}

impl Error {
    /// The OS error number, when there is one (28 = no space).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { err, .. } => err.raw_os_error(),
            Error::Unsafe(_) => None,
        }
    }

    fn io(path: &Path, e: impl Into<std::io::Error>) -> Error {
        Error::Io {
            path: path.into(),
            err: e.into(),
        }
    }
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
/// Maildir `dir` under the file name `name`, for `owner` (`None`: the
/// daemon's own user, as for virtual mailboxes).
pub fn deliver(
    dir: &Path,
    name: &str,
    parts: &[&[u8]],
    owner: Option<Owner>,
) -> Result<Delivered, Error> {
    if !safe_name(name) {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("unsafe Maildir file name {name:?}"),
            ),
        ));
    }
    let mut owners = vec![Uid::effective()];
    owners.extend(owner.map(|o| o.uid));
    let walk = Walk {
        owners,
        create_from: Some(0),
        give_to: owner.map(|o| (o.uid, o.gid)),
    };
    let md = safefile::walk(dir, &walk).map_err(Error::Unsafe)?;
    let sub = |s: &str| -> Result<OwnedFd, Error> {
        let path = dir.join(s);
        match mkdirat(&md, s, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {
                let fd = safefile::open_dir_at(&md, s, &path).map_err(Error::Unsafe)?;
                if let Some(o) = owner
                    && Uid::effective().is_root()
                {
                    fchown(&fd, Some(o.uid), Some(o.gid)).map_err(|e| Error::io(&path, e))?;
                }
                Ok(fd)
            }
            Err(Errno::EEXIST) => safefile::open_dir_at(&md, s, &path).map_err(Error::Unsafe),
            Err(e) => Err(Error::io(&path, e)),
        }
    };
    let (tmp_fd, new_fd, cur_fd) = (sub("tmp")?, sub("new")?, sub("cur")?);
    let tmp = dir.join("tmp").join(name);
    let new = dir.join("new").join(name);
    if let Some(p) = existing(dir, name, &new_fd, cur_fd)? {
        return Ok(Delivered::Already(p));
    }
    let create = || {
        openat(
            &tmp_fd,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
    };
    let fd = match create() {
        // A leftover of a crash between write and link: start again.
        Err(Errno::EEXIST) => {
            unlinkat(&tmp_fd, name, UnlinkatFlags::NoRemoveDir).map_err(|e| Error::io(&tmp, e))?;
            create()
        }
        r => r,
    }
    .map_err(|e| Error::io(&tmp, e))?;
    let result = (|| {
        if let Some(o) = owner
            && Uid::effective().is_root()
        {
            fchown(&fd, Some(o.uid), Some(o.gid)).map_err(|e| Error::io(&tmp, e))?;
        }
        let mut f = File::from(fd);
        for p in parts {
            f.write_all(p).map_err(|e| Error::io(&tmp, e))?;
        }
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        match linkat(&tmp_fd, name, &new_fd, name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                unlinkat(&tmp_fd, name, UnlinkatFlags::NoRemoveDir)
                    .map_err(|e| Error::io(&tmp, e))?;
                return Ok(Delivered::Already(new.clone()));
            }
            Err(e) => return Err(Error::io(&new, e)),
        }
        unlinkat(&tmp_fd, name, UnlinkatFlags::NoRemoveDir).map_err(|e| Error::io(&tmp, e))?;
        nix::unistd::fsync(&new_fd).map_err(|e| Error::io(&dir.join("new"), e))?;
        Ok(Delivered::New(new.clone()))
    })();
    if result.is_err() {
        let _ = unlinkat(&tmp_fd, name, UnlinkatFlags::NoRemoveDir);
    }
    result
}

/// A file named `name` (or `name:2,FLAGS`) in `new/` or `cur/`.
fn existing(
    dir: &Path,
    name: &str,
    new_fd: &OwnedFd,
    cur_fd: OwnedFd,
) -> Result<Option<PathBuf>, Error> {
    match nix::sys::stat::fstatat(new_fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(_) => return Ok(Some(dir.join("new").join(name))),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::io(&dir.join("new").join(name), e)),
    }
    let cur = dir.join("cur");
    let mut d = nix::dir::Dir::from_fd(cur_fd).map_err(|e| Error::io(&cur, e))?;
    let prefix = format!("{name}:");
    for e in d.iter() {
        let e = e.map_err(|e| Error::io(&cur, e))?;
        if let Ok(f) = e.file_name().to_str()
            && (f == name || f.starts_with(&prefix))
        {
            return Ok(Some(cur.join(f)));
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
            None,
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
            deliver(&md, "1.Q_alice.gw", &[b"x"], None).unwrap(),
            Delivered::Already(_)
        ));
        // Moved to cur/ by a mail reader with flags: still recognised.
        std::fs::rename(&p, md.join("cur/1.Q_alice.gw:2,S")).unwrap();
        assert!(matches!(
            deliver(&md, "1.Q_alice.gw", &[b"x"], None).unwrap(),
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
        assert!(deliver(d.path(), "a/b", &[b"x"], None).is_err());
    }

    #[test]
    fn as_root_a_new_maildir_belongs_to_its_owner() {
        use std::os::unix::fs::MetadataExt;
        assert!(
            Uid::effective().is_root(),
            "fchown needs root: run the tests as root (CI does)"
        );
        let d = tempfile::tempdir().unwrap();
        let md = d.path().join("u/Maildir");
        let owner = Owner {
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        };
        let Delivered::New(p) = deliver(&md, "1.Q_u.gw", &[b"x"], Some(owner)).unwrap() else {
            panic!("not new")
        };
        for path in [
            d.path().join("u"),
            md.clone(),
            md.join("new"),
            md.join("cur"),
            p,
        ] {
            let m = std::fs::metadata(&path).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", path.display());
        }
        // the temp dir itself (root's, existing) is untouched
        assert_eq!(std::fs::metadata(d.path()).unwrap().uid(), 0);
    }

    #[test]
    fn a_symlink_on_the_path_is_refused_and_nothing_is_created() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&target, d.path().join("alice")).unwrap();
        let r = deliver(
            &d.path().join("alice/Maildir"),
            "1.Q_alice.gw",
            &[b"x"],
            None,
        );
        assert!(matches!(r, Err(Error::Unsafe(_))), "{r:?}");
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    }
}
