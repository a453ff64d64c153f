//! The spool: where an accepted message lives until it is delivered.
//!
//! Contract: a message is written to `tmp/ID` by a [`Writer`], and
//! [`Writer::commit`] makes it durable — file fsync, rename into its queue
//! state directory, directory fsync — before it returns the [`QueueId`].
//! Only then may anyone answer 250. A crash at any point leaves either no
//! message (a stray `tmp/` file, removed by [`Spool::recover`]) or the
//! whole message. Queue states are directories an administrator can list
//! (`ls QUEUE_DIR/queue`): `queue/` (to deliver), `hold/` (held by policy
//! or the operator), `quarantine/`. Concurrent commits share directory
//! fsyncs (group commit). The spool knows paths, fsync and formats — not
//! routing.

pub mod envelope;
pub mod hoststat;
pub mod ids;
pub mod status;

pub use envelope::Envelope;
pub use ids::QueueId;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a spool operation failed. The caller answers `451 4.3.0` (or `452
/// 4.3.1` for [`Error::NoSpace`]); a message is never answered 250 after one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system is full.
    #[error("{path}: no space left on device")]
    NoSpace {
        /// The file being written.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("{path}: {err}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// A spool path that is not what it must be (a symlink, a wrong owner or mode).
    #[error("{0}")]
    Unsafe(crate::safefile::Problem),
    /// A queue file that does not parse.
    #[error("{path}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl Error {
    fn io(path: &Path, err: std::io::Error) -> Error {
        if err.raw_os_error() == Some(28) {
            Error::NoSpace { path: path.into() }
        } else {
            Error::Io {
                path: path.into(),
                err,
            }
        }
    }
}

/// A queue state: one directory each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for delivery.
    Queue,
    /// Held (policy HOLD, operator).
    Hold,
    /// Quarantined (access `QUARANTINE:`), with the reason in the envelope.
    Quarantine,
}

impl State {
    fn index(self) -> usize {
        match self {
            State::Queue => 0,
            State::Hold => 1,
            State::Quarantine => 2,
        }
    }

    /// The directory name.
    pub fn dir(self) -> &'static str {
        match self {
            State::Queue => "queue",
            State::Hold => "hold",
            State::Quarantine => "quarantine",
        }
    }
}

/// How hard a commit pushes data to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and the directory (the default; required for 250).
    Fsync,
    /// No fsync (tests of logic only; never for real mail).
    Unsafe,
}

/// An open spool directory.
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    durability: Durability,
    /// Per state: renames done, and renames known to be covered by a directory fsync.
    renames: [AtomicU64; 3],
    dir_synced: [Mutex<u64>; 3],
    seq: AtomicU64,
}

impl Spool {
    /// Open (creating if needed) the spool at `root`.
    pub fn open(root: &Path, durability: Durability) -> Result<Spool, Error> {
        use std::os::unix::fs::DirBuilderExt;
        // The queue is private to the daemon's user (sendmail's mqueue is
        // 0700): other users submit through the daemon's socket.
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(root, e)),
        }
        for d in ["tmp", "queue", "hold", "quarantine"] {
            let p = root.join(d);
            // Not create_dir_all: it would accept a symlink to a directory.
            // What is there is judged by [`audit`].
            match std::fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        Ok(Spool {
            root: root.into(),
            durability,
            renames: Default::default(),
            dir_synced: Default::default(),
            seq: AtomicU64::new(0),
        })
    }

    /// The spool's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A session id: queue-id-shaped, drawn from the same sequence as the
    /// queue ids, so it never equals one (sendmail's session ids look the
    /// same, and log readers expect `ID: ` before a session's lines).
    pub fn session_id(&self) -> QueueId {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        QueueId::generate(std::time::SystemTime::now(), std::process::id(), seq)
    }

    /// A queue id for a message to come, from the same sequence as
    /// [`Spool::create`]'s (so never one another message has): the SMTP
    /// server takes it at MAIL, as sendmail does, so mail filters get the
    /// id (`i`) the message will be committed under. An id that is never
    /// committed is simply not used.
    pub fn next_id(&self) -> QueueId {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        QueueId::generate(std::time::SystemTime::now(), std::process::id(), seq)
    }

    /// Start a new message. The envelope is written first; the content follows.
    pub fn create(&self, envelope: &Envelope) -> Result<Writer<'_>, Error> {
        self.create_with_id(envelope, self.next_id())
    }

    /// [`Spool::create`] under an id from [`Spool::next_id`].
    pub fn create_with_id(&self, envelope: &Envelope, id: QueueId) -> Result<Writer<'_>, Error> {
        // An unnamed file in the spool's file system (O_TMPFILE): nothing to
        // clean up if we die, and publishing it is one link into the state
        // directory. File systems without O_TMPFILE get a named file in tmp/.
        let (mut file, temp) = match open_anonymous(&self.root.join("tmp")) {
            Ok(f) => (f, Temp::Anonymous),
            Err(_) => {
                let path = self.root.join("tmp").join(id.as_str());
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| Error::io(&path, e))?;
                (f, Temp::Named(path))
            }
        };
        let mut env = envelope.clone();
        env.id = Some(id.clone());
        let path = self.root.join("tmp").join(id.as_str());
        file.write_all(env.to_text().as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        Ok(Writer {
            spool: self,
            id,
            path,
            temp,
            file: Some(file),
            size: 0,
        })
    }

    /// Remove leftovers of interrupted writes (`tmp/`): they were never
    /// acknowledged. `tmp/` is opened without following a symlink and its
    /// entries are unlinked relative to that descriptor, so a `tmp` replaced
    /// by a symlink is refused and nothing outside the spool is removed.
    pub fn recover(&self) -> Result<usize, Error> {
        use nix::unistd::{UnlinkatFlags, unlinkat};
        let tmp = self.root.join("tmp");
        let fd = crate::safefile::open_dir(&tmp).map_err(Error::Unsafe)?;
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| Error::io(&tmp, e.into()))?;
        let names: Vec<std::ffi::CString> = dir
            .iter()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_owned())
            .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
            .collect();
        let mut n = 0;
        for name in names {
            let path = tmp.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
            unlinkat(&dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(|e| Error::io(&path, e.into()))?;
            n += 1;
        }
        Ok(n)
    }

    /// Ids of the messages in a state directory, sorted.
    pub fn list(&self, state: State) -> Result<Vec<QueueId>, Error> {
        let dir = self.root.join(state.dir());
        let mut ids = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            if let Some(id) = e.file_name().to_str().and_then(QueueId::parse) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Read a queued message: its envelope and content.
    pub fn read(&self, state: State, id: &QueueId) -> Result<(Envelope, Vec<u8>), Error> {
        let path = self.root.join(state.dir()).join(id.as_str());
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Envelope::split(&data).map_err(|detail| Error::Corrupt { path, detail })
    }

    /// fsync the state directory unless a sync that started after our rename
    /// has already done it (group commit).
    fn sync_dir(&self, state: State, dir: &Path, my_rename: u64) -> Result<(), Error> {
        if self.durability == Durability::Unsafe {
            return Ok(());
        }
        let mut synced = self.dir_synced[state.index()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *synced >= my_rename {
            return Ok(());
        }
        let upto = self.renames[state.index()].load(Ordering::SeqCst);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
        // This sync covers every rename into `dir` counted before it started.
        *synced = upto;
        Ok(())
    }
}

/// The spool's directories below its root (`status/` only once it exists).
pub const DIRS: [&str; 5] = ["tmp", "queue", "hold", "quarantine", "status"];

/// Judge the spool at `root` before a root process acts on it: the root and
/// each of [`DIRS`] must be a real directory (not a symlink), owned by root
/// or one of `owners`, and not writable by group or others. One
/// [`crate::safefile::Problem`] per bad path (Postfix's `postfix check`).
pub fn audit(root: &Path, owners: &[nix::unistd::Uid]) -> Vec<crate::safefile::Problem> {
    use crate::safefile::{Kind, Rule, check, open_dir};
    let mut all = vec![nix::unistd::Uid::from_raw(0)];
    all.extend_from_slice(owners);
    let rule = Rule {
        kind: Kind::Dir,
        owners: all,
        forbid: 0o022,
        owner_name: owner_words(owners),
    };
    let mut problems = Vec::new();
    let paths = std::iter::once(root.to_path_buf()).chain(DIRS.iter().map(|d| root.join(d)));
    for (i, p) in paths.enumerate() {
        match open_dir(&p) {
            Ok(fd) => {
                if let Err(pr) = check(&fd, &p, &rule) {
                    problems.push(pr);
                }
            }
            // `status/` is created on first use.
            Err(pr) if i == DIRS.len() && pr.what == "does not exist" => {}
            Err(pr) => problems.push(pr),
        }
    }
    problems
}

fn owner_words(owners: &[nix::unistd::Uid]) -> String {
    match owners.iter().find(|u| !u.is_root()) {
        Some(u) => crate::safefile::user_name(u.as_raw())
            .split(' ')
            .next()
            .unwrap_or("root")
            .to_string(),
        None => "root".into(),
    }
}

/// Part of a message still being received, kept out of memory: an
/// unnamed file in `tmp/` (a named one, unlinked at once, where the file
/// system has no O_TMPFILE), so it vanishes with its descriptor whatever
/// happens to the process. The SMTP server appends to it as data arrives
/// and [`Writer::copy_from`] moves it into the message at commit.
#[derive(Debug)]
pub struct Scratch {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Spool {
    /// A new [`Scratch`] file.
    pub fn scratch(&self) -> Result<Scratch, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.root.join("tmp");
        let anonymous = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_TMPFILE.bits())
            .open(&dir);
        let file = match anonymous {
            Ok(f) => f,
            Err(_) => {
                let seq = self.seq.fetch_add(1, Ordering::Relaxed);
                let path = dir.join(format!("scratch.{}.{seq}", std::process::id()));
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| Error::io(&path, e))?;
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                f
            }
        };
        Ok(Scratch {
            file,
            path: dir.join("(scratch)"),
            len: 0,
        })
    }
}

impl Scratch {
    /// Append `data`.
    pub fn append(&mut self, data: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(data)
            .map_err(|e| Error::io(&self.path, e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Bytes appended so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Nothing appended yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Everything appended, read back.
    pub fn read_all(&mut self) -> Result<Vec<u8>, Error> {
        use std::io::{Read, Seek, SeekFrom};
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_end(&mut out))
            .and_then(|_| self.file.seek(SeekFrom::End(0)))
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(out)
    }
}

/// A message being written.
#[derive(Debug)]
pub struct Writer<'s> {
    spool: &'s Spool,
    id: QueueId,
    /// For error messages: where the message would be in `tmp/`.
    path: PathBuf,
    temp: Temp,
    file: Option<File>,
    size: u64,
}

impl Writer<'_> {
    /// The queue id this message will have.
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// Content bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append content.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        let Some(f) = self.file.as_mut() else {
            return Err(Error::Io {
                path: self.path.clone(),
                err: std::io::Error::other("writer already finished"),
            });
        };
        f.write_all(data).map_err(|e| Error::io(&self.path, e))?;
        self.size += data.len() as u64;
        Ok(())
    }

    /// Append everything in `scratch` (in the kernel where it can:
    /// `copy_file_range`), leaving it as it was.
    pub fn copy_from(&mut self, scratch: &mut Scratch) -> Result<(), Error> {
        use std::io::{Seek, SeekFrom};
        let Some(f) = self.file.as_mut() else {
            return Err(Error::Io {
                path: self.path.clone(),
                err: std::io::Error::other("writer already finished"),
            });
        };
        scratch
            .file
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(&scratch.path, e))?;
        let n = std::io::copy(&mut scratch.file, f).map_err(|e| Error::io(&self.path, e))?;
        if n != scratch.len {
            return Err(Error::Io {
                path: scratch.path.clone(),
                err: std::io::Error::other(format!("copied {n} of {} bytes", scratch.len)),
            });
        }
        self.size += n;
        Ok(())
    }

    /// Make the message durable in `state`; only after `Ok` may the client hear 250.
    pub fn commit(mut self, state: State) -> Result<QueueId, Error> {
        let Some(file) = self.file.take() else {
            return Err(Error::Io {
                path: self.path.clone(),
                err: std::io::Error::other("writer already finished"),
            });
        };
        let result = self.finish(file, state);
        if result.is_err() {
            self.remove_temp();
        }
        result
    }

    fn finish(&self, file: File, state: State) -> Result<QueueId, Error> {
        if self.spool.durability == Durability::Fsync {
            file.sync_data().map_err(|e| Error::io(&self.path, e))?;
        }
        let dir = self.spool.root.join(state.dir());
        let dest = dir.join(self.id.as_str());
        match &self.temp {
            Temp::Anonymous => link_anonymous(&file, &dest).map_err(|e| Error::io(&dest, e))?,
            Temp::Named(path) => std::fs::rename(path, &dest).map_err(|e| Error::io(&dest, e))?,
        }
        drop(file);
        let mine = self.spool.renames[state.index()].fetch_add(1, Ordering::SeqCst) + 1;
        self.spool.sync_dir(state, &dir, mine)?;
        Ok(self.id.clone())
    }

    /// Give up on the message (the client went away or it was refused).
    pub fn abort(mut self) {
        self.file = None;
        self.remove_temp();
    }

    fn remove_temp(&self) {
        if let Temp::Named(path) = &self.temp {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            self.remove_temp();
        }
    }
}

/// Where a message lives until it is committed.
#[derive(Debug)]
enum Temp {
    /// An O_TMPFILE inode with no name: it vanishes with the descriptor.
    Anonymous,
    /// A named file in `tmp/` (file systems without O_TMPFILE).
    Named(PathBuf),
}

/// An unnamed file on the file system of `dir` (Linux O_TMPFILE).
fn open_anonymous(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_TMPFILE.bits())
        .open(dir)
}

/// Give an O_TMPFILE inode its name (`linkat` through `/proc/self/fd`, which
/// needs no privilege, unlike `AT_EMPTY_PATH`).
fn link_anonymous(file: &File, dest: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let src = format!("/proc/self/fd/{}", file.as_raw_fd());
    nix::unistd::linkat(
        nix::fcntl::AT_FDCWD,
        src.as_str(),
        nix::fcntl::AT_FDCWD,
        dest,
        nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
    )
    .map_err(std::io::Error::from)
}

/// Move message `id` of the spool at `root` from state `from` to state
/// `to` (its journal stays where it is), then fsync `to`'s directory.
pub fn move_message(root: &Path, from: State, to: State, id: &QueueId) -> Result<(), Error> {
    let a = root.join(from.dir()).join(id.as_str());
    let b = root.join(to.dir()).join(id.as_str());
    std::fs::rename(&a, &b).map_err(|e| Error::io(&a, e))?;
    let d = root.join(to.dir());
    std::fs::File::open(&d)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(&d, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        let mut e = Envelope::new("<a@b.example>");
        e.recipients.push(envelope::Recipient::new("<x@y.example>"));
        e
    }

    #[test]
    fn commit_makes_it_visible_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), Durability::Fsync).unwrap();
        let mut w = spool.create(&env()).unwrap();
        w.write(b"Subject: hi\r\n\r\nbody\r\n").unwrap();
        let id = w.commit(State::Queue).unwrap();
        assert_eq!(spool.list(State::Queue).unwrap(), vec![id.clone()]);
        assert!(
            std::fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
        let (e, body) = spool.read(State::Queue, &id).unwrap();
        assert_eq!(e.sender, "<a@b.example>");
        assert_eq!(e.id.as_ref(), Some(&id));
        assert_eq!(body, b"Subject: hi\r\n\r\nbody\r\n");
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), Durability::Unsafe).unwrap();
        {
            let mut w = spool.create(&env()).unwrap();
            w.write(b"partial").unwrap();
        }
        spool.create(&env()).unwrap().abort();
        assert!(
            std::fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
        assert!(spool.list(State::Queue).unwrap().is_empty());
    }

    #[test]
    fn recover_removes_unacknowledged_tmp_files() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), Durability::Unsafe).unwrap();
        std::fs::write(dir.path().join("tmp/stray"), b"x").unwrap();
        assert_eq!(spool.recover().unwrap(), 1);
    }

    #[test]
    fn concurrent_commits_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), Durability::Fsync).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..5 {
                        let mut w = spool.create(&env()).unwrap();
                        w.write(b"x\r\n").unwrap();
                        w.commit(State::Queue).unwrap();
                    }
                });
            }
        });
        assert_eq!(spool.list(State::Queue).unwrap().len(), 40);
    }
}
