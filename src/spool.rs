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
//! fsyncs (group commit). The daemon's spool commits through a
//! write-ahead log instead ([`wal`]): one flush of the log, shared between
//! sessions, makes a message durable, and a checkpoint flushes the files
//! later. The spool knows paths, fsync and formats — not routing.
//!
//! Recycling: a delivered message's file is not unlinked but renamed into
//! `tmp/` ([`Spool::recycle`]) and written over by a later message, which
//! saves the file system an inode allocation and a release (with their
//! block bitmaps, and a discard on file systems mounted `discard`) per
//! message. A recycled file is reused only after [`FREE_AGE`], so a reader
//! that opened it under its queue name just before (`mailq`) reads the old
//! message whole; a reader slower than that finds another message's id in
//! the envelope and takes the message for gone ([`Spool::read`],
//! [`Envelope::read_head_of`]). At most [`FREE_MAX`] files of at most
//! [`FREE_SIZE`] bytes wait, and [`Spool::recover`] removes them at start
//! like any `tmp/` file.

pub mod envelope;
pub mod hoststat;
pub mod ids;
pub mod status;
pub mod wal;

pub use envelope::Envelope;
pub use ids::QueueId;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a recycled file waits in `tmp/` before it is written over:
/// ample for a reader of a queue file, which reads its at most
/// [`FREE_SIZE`] bytes in microseconds. Until the first recycled file is
/// this old, each new message takes a new inode. After a start, 2 s meant
/// ~4,000 of them at 2,000 msgs/s, each searched past the inodes freed in
/// the last 30 s on ext4 without a journal, and the first seconds ~15%
/// slower (docs/benchmarks.md, "The pool of recycled files after a
/// start").
pub const FREE_AGE: Duration = Duration::from_millis(500);
/// How many recycled files wait at most (more are unlinked).
pub const FREE_MAX: usize = 4096;
/// The largest file recycled, in bytes (a larger one is unlinked): the
/// files waiting hold at most `FREE_MAX * FREE_SIZE` of disk (128 MiB).
pub const FREE_SIZE: u64 = 32 << 10;

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
    /// Recycled files in `tmp/`, oldest first, with when they were recycled.
    free: Mutex<VecDeque<(PathBuf, Instant)>>,
    /// Whether [`Spool::recycle`] keeps files (the daemon's spool only).
    recycling: bool,
    /// [`FREE_AGE`] (shorter in tests).
    free_age: Duration,
    /// The write-ahead log, when [`Spool::open_log`] opened it (the daemon).
    wal: Option<std::sync::Arc<wal::Wal>>,
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
            free: Mutex::new(VecDeque::new()),
            recycling: false,
            free_age: FREE_AGE,
            wal: None,
        })
    }

    /// Commit through the write-ahead log (see [`wal`]): for the one
    /// process that owns the spool, the daemon, which must call this before
    /// anything reads the queue (it recovers what the log holds) and run
    /// [`wal::Wal::run_checkpoints`] on a thread of its own. Other
    /// processes commit without it. No log where durability is off.
    pub fn open_log(&mut self) -> Result<wal::Recovered, Error> {
        if self.durability == Durability::Unsafe {
            return Ok(wal::Recovered::default());
        }
        let (w, recovered) = wal::Wal::open(&self.root)?;
        self.wal = Some(std::sync::Arc::new(w));
        Ok(recovered)
    }

    /// The write-ahead log, when open.
    pub fn log(&self) -> Option<&std::sync::Arc<wal::Wal>> {
        self.wal.as_ref()
    }

    /// Keep delivered messages' files for new ones ([`Spool::recycle`]):
    /// for the daemon, which empties `tmp/` when it starts. A short-lived
    /// process (`sendmail -q`) unlinks them, so none is left behind.
    pub fn with_recycling(mut self) -> Spool {
        self.recycling = true;
        self
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
        let (mut file, temp) = match self.reuse() {
            Some((f, path)) => (f, Temp::Named(path)),
            None => match open_anonymous(&self.root.join("tmp")) {
                Ok(f) => (f, Temp::Anonymous),
                Err(_) => {
                    let path = self.root.join("tmp").join(id.as_str());
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .map_err(|e| Error::io(&path, e))?;
                    (f, Temp::Named(path))
                }
            },
        };
        let mut env = envelope.clone();
        env.id = Some(id.clone());
        let path = self.root.join("tmp").join(id.as_str());
        let head = env.to_text();
        file.write_all(head.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        Ok(Writer {
            spool: self,
            id,
            path,
            temp,
            file: Some(file),
            size: 0,
            head: head.len() as u64,
        })
    }

    /// A recycled file old enough to be written over, opened for writing.
    fn reuse(&self) -> Option<(File, PathBuf)> {
        use std::os::unix::fs::OpenOptionsExt;
        loop {
            let path = {
                let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
                match free.front() {
                    // With the log, also only once a checkpoint has made
                    // its rename out of the queue durable: written over
                    // before, a power cut could bring the old name back
                    // with the new message's bytes.
                    Some((_, at))
                        if at.elapsed() >= self.free_age
                            && self.wal.as_ref().is_none_or(|w| w.covers(*at)) =>
                    {
                        free.pop_front()?.0
                    }
                    _ => return None,
                }
            };
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(&path);
            match opened {
                Ok(f) => return Some((f, path)),
                // Gone (a restart's recover, an operator): try the next one.
                Err(_) => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }

    /// Remove message `id` from `state` after its delivery, keeping its
    /// file for a later message when it is small and the pool has room
    /// (see the module doc). A message already gone is not an error. No
    /// directory fsync: if the rename is lost in a crash the message is
    /// delivered again (at least once), never lost.
    pub fn recycle(&self, state: State, id: &QueueId) -> Result<(), Error> {
        match self.release(state, id)? {
            Some(path) => remove_delivered(&path),
            None => Ok(()),
        }
    }

    /// [`Spool::recycle`] but for the unlink: a file kept for a later
    /// message is renamed now (`None`); the path of one to remove is
    /// handed back (`Some`), so that a daemon unlinks it off its executor
    /// (freeing a large file's blocks takes milliseconds on ext4). The
    /// caller then calls [`remove_delivered`].
    pub fn release(&self, state: State, id: &QueueId) -> Result<Option<PathBuf>, Error> {
        let from = self.root.join(state.dir()).join(id.as_str());
        let small = std::fs::symlink_metadata(&from)
            .map(|m| m.is_file() && m.len() <= FREE_SIZE)
            .unwrap_or(false);
        let room = self.recycling
            && self
                .free
                .lock()
                .map(|f| f.len() < FREE_MAX)
                .unwrap_or(false);
        let gone = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(None),
            _ => Err(Error::io(&from, e)),
        };
        if !(small && room) {
            return Ok(Some(from));
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let to = self
            .root
            .join("tmp")
            .join(format!("free.{}.{seq}", std::process::id()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {
                self.free
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back((to, Instant::now()));
                Ok(None)
            }
            Err(e) => gone(e),
        }
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

    /// Read a queued message: its envelope and content. A file that holds
    /// another message (recycled after the delivery of `id`, and written
    /// over, while this read waited) is `NotFound`, as a message delivered
    /// before the read.
    pub fn read(&self, state: State, id: &QueueId) -> Result<(Envelope, Vec<u8>), Error> {
        let path = self.root.join(state.dir()).join(id.as_str());
        let mut content = read_file(&path, Vec::new())?;
        let (env, start) = split_message(path.clone(), &content)?;
        content.drain(..start);
        if env.id.as_ref().is_some_and(|held| held != id) {
            return Err(Error::Io {
                path,
                err: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "delivered: the file now holds another message",
                ),
            });
        }
        Ok((env, content))
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

/// A message's file read whole, appended to `buf` ([`Spool::read`]'s
/// first half, for a daemon that reads a large file off its executor
/// into a buffer its own thread allocated: memory freed by another
/// thread than the one that allocated it is returned to the system
/// later).
pub fn read_file(path: &Path, mut buf: Vec<u8>) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    if buf.capacity() == 0 {
        // Sized once, as std::fs::read does, not grown by doubling.
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        buf.reserve_exact(usize::try_from(len).unwrap_or(0));
    }
    f.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// [`Spool::read`]'s second half: the envelope of a file read from `path`,
/// and where its content starts in `data` (not copied: a delivery reads
/// messages of megabytes).
pub fn split_message(path: PathBuf, data: &[u8]) -> Result<(Envelope, usize), Error> {
    Envelope::parse_head(data).map_err(|detail| Error::Corrupt { path, detail })
}

/// Unlink a delivered message's file that [`Spool::release`] did not
/// keep; one already gone is not an error.
pub fn remove_delivered(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
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
    /// Bytes of the envelope written before the content.
    head: u64,
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

    /// Make the message durable in `state`; only after `Ok` may the client
    /// hear 250. A message committed to `queue/` is announced to a running
    /// daemon's queue runner by a touch of `status/.arrived`
    /// ([`status::mark_arrived`]), so it is found at once whoever wrote it; a
    /// writer that hands it to its own runner uses [`Writer::commit_handed`].
    pub fn commit(self, state: State) -> Result<QueueId, Error> {
        let root = self.spool.root.clone();
        let id = self.commit_handed(state)?;
        if state == State::Queue {
            // The message is safe either way; without the touch the runner's
            // periodic scan finds it within a minute.
            let _ = status::mark_arrived(&root);
        }
        Ok(id)
    }

    /// [`Writer::commit`] without the announcement: the caller gives the
    /// message to its queue runner itself (the daemon's hand-off).
    pub fn commit_handed(mut self, state: State) -> Result<QueueId, Error> {
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
        if matches!(self.temp, Temp::Named(_)) {
            // A recycled file may be longer than this message.
            file.set_len(self.head + self.size)
                .map_err(|e| Error::io(&self.path, e))?;
        }
        let dir = self.spool.root.join(state.dir());
        let dest = dir.join(self.id.as_str());
        if let Some(pending) = self.logged(&file, state)? {
            // Durable in the log: the file and its name follow at the
            // next checkpoint.
            self.publish(file, &dest)?;
            drop(pending);
            return Ok(self.id.clone());
        }
        if self.spool.durability == Durability::Fsync {
            file.sync_data().map_err(|e| Error::io(&self.path, e))?;
        }
        self.publish(file, &dest)?;
        let mine = self.spool.renames[state.index()].fetch_add(1, Ordering::SeqCst) + 1;
        self.spool.sync_dir(state, &dir, mine)?;
        Ok(self.id.clone())
    }

    /// Append the message to the spool's write-ahead log and flush it
    /// there; `None` when there is no log or the message does not fit.
    fn logged(&self, file: &File, state: State) -> Result<Option<wal::Pending<'_>>, Error> {
        use std::os::unix::fs::FileExt;
        let Some(w) = self.spool.wal.as_deref() else {
            return Ok(None);
        };
        let appended = w.append_file(state, &self.id, self.head + self.size, |b| {
            file.read_exact_at(b, 0)
                .map_err(|e| Error::io(&self.path, e))
        })?;
        let Some(pending) = appended else {
            return Ok(None);
        };
        w.flush(&pending)?;
        Ok(Some(pending))
    }

    /// Give the written file its name in its state directory.
    fn publish(&self, file: File, dest: &Path) -> Result<(), Error> {
        match &self.temp {
            Temp::Anonymous => link_anonymous(&file, dest).map_err(|e| Error::io(dest, e)),
            Temp::Named(path) => std::fs::rename(path, dest).map_err(|e| Error::io(dest, e)),
        }
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
        .read(true)
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

/// Quarantine message `id` of state `from` with `reason` (sendmail's
/// `-Qreason`): it is moved into `quarantine/` first, so it is delivered
/// no more from then on, then its envelope is written again with the
/// reason. A crash between the two leaves it quarantined without a reason.
pub fn quarantine_message(
    root: &Path,
    from: State,
    id: &QueueId,
    reason: &str,
) -> Result<(), Error> {
    move_message(root, from, State::Quarantine, id)?;
    set_reason(root, State::Quarantine, id, Some(reason))
}

/// Release quarantined message `id` into the queue (`mxgate queue release`,
/// `sendmail -Q`): its envelope is written again without the reason while
/// it is still in `quarantine/`, where nothing delivers it, then it is
/// moved. A crash between the two leaves it quarantined without a reason.
pub fn release_quarantined(root: &Path, id: &QueueId) -> Result<(), Error> {
    set_reason(root, State::Quarantine, id, None)?;
    move_message(root, State::Quarantine, State::Queue, id)
}

/// Write message `id` of `state` again with its quarantine reason set to
/// `reason` (`None`: removed): a new file, flushed, renamed over it, then
/// the directory flushed. Nothing is written when it is already so.
fn set_reason(root: &Path, state: State, id: &QueueId, reason: Option<&str>) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(state.dir()).join(id.as_str());
    let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let (mut env, start) = split_message(path.clone(), &data)?;
    if env.fact("quarantine") == reason {
        return Ok(());
    }
    env.facts.retain(|(k, _)| k != "quarantine");
    if let Some(r) = reason {
        env.facts.push(("quarantine".into(), r.into()));
    }
    let tmp = root
        .join("tmp")
        .join(format!("quarantine.{}.{}", std::process::id(), id.as_str()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(env.to_text().as_bytes())?;
            f.write_all(&data[start..])?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&path, e));
    }
    let d = root.join(state.dir());
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
    fn quarantine_message_moves_it_and_records_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), Durability::Fsync).unwrap();
        let mut e = env();
        e.facts.push(("helo".into(), "client.example".into()));
        e.facts.push(("quarantine".into(), "old".into()));
        let mut w = spool.create(&e).unwrap();
        w.write(b"Subject: hi\r\n\r\nbody\r\n").unwrap();
        let id = w.commit(State::Queue).unwrap();
        quarantine_message(dir.path(), State::Queue, &id, "suspected spam").unwrap();
        assert!(spool.list(State::Queue).unwrap().is_empty());
        let (got, content) = spool.read(State::Quarantine, &id).unwrap();
        assert_eq!(got.fact("quarantine"), Some("suspected spam"));
        assert_eq!(got.fact("helo"), Some("client.example"));
        assert_eq!(got.sender, e.sender);
        assert_eq!(content, b"Subject: hi\r\n\r\nbody\r\n");
        assert!(
            std::fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
        // Released: back in the queue, the reason gone, the rest kept.
        release_quarantined(dir.path(), &id).unwrap();
        assert!(spool.list(State::Quarantine).unwrap().is_empty());
        let (back, content) = spool.read(State::Queue, &id).unwrap();
        assert_eq!(back.fact("quarantine"), None);
        assert_eq!(back.fact("helo"), Some("client.example"));
        assert_eq!(content, b"Subject: hi\r\n\r\nbody\r\n");
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

    /// A daemon's spool at `dir`: recycled files written over at once.
    fn recycling(dir: &Path) -> Spool {
        let mut spool = Spool::open(dir, Durability::Fsync)
            .unwrap()
            .with_recycling();
        spool.free_age = Duration::ZERO;
        spool
    }

    /// Commit a message with `body` to `queue/`.
    fn put_queued(spool: &Spool, body: &[u8]) -> QueueId {
        let mut w = spool.create(&env()).unwrap();
        w.write(body).unwrap();
        w.commit(State::Queue).unwrap()
    }

    #[test]
    fn a_reader_of_a_recycled_file_sees_the_message_gone() {
        use std::os::unix::fs::MetadataExt;
        // A reader (mailq, `mxgate queue`) that opened message a's file
        // just before it was delivered, recycled and written over by
        // message b: the extra link stands for the reader's open file.
        let dir = tempfile::tempdir().unwrap();
        let spool = recycling(dir.path());
        let put = |body: &[u8]| put_queued(&spool, body);
        let a = put(b"Subject: a\r\n\r\nfirst\r\n");
        let a_path = dir.path().join("queue").join(a.as_str());
        let held = dir.path().join("held");
        std::fs::hard_link(&a_path, &held).unwrap();
        spool.recycle(State::Queue, &a).unwrap();
        let b = put(b"Subject: b\r\n\r\nsecond\r\n");
        let b_path = dir.path().join("queue").join(b.as_str());
        assert_eq!(
            std::fs::metadata(&b_path).unwrap().ino(),
            std::fs::metadata(&held).unwrap().ino(),
            "b was written over a's file"
        );
        std::fs::hard_link(&held, &a_path).unwrap();
        match spool.read(State::Queue, &a) {
            Err(Error::Io { err, .. }) => assert_eq!(err.kind(), std::io::ErrorKind::NotFound),
            other => panic!("read a recycled file as {other:?}"),
        }
        assert_eq!(Envelope::read_head_of(&a_path, &a).unwrap(), None);
        let (env_b, content) = spool.read(State::Queue, &b).unwrap();
        assert_eq!(content, b"Subject: b\r\n\r\nsecond\r\n");
        assert_eq!(env_b.id.as_ref(), Some(&b));
        let head = Envelope::read_head_of(&a_path, &b).unwrap().unwrap();
        assert_eq!(head.id.as_ref(), Some(&b));
    }

    /// A delivered message's file is written over by a later, shorter
    /// message: same inode, nothing of the old one left, nothing left in
    /// tmp/; a large file, or a spool without recycling, is unlinked.
    #[test]
    fn recycled_files_carry_the_new_message_only() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let spool = recycling(dir.path());
        let put = |body: &[u8]| put_queued(&spool, body);
        let ino = |id: &QueueId| {
            std::fs::metadata(dir.path().join("queue").join(id.as_str()))
                .unwrap()
                .ino()
        };
        let tmp_names = || std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        let a = put(&b"x".repeat(8000));
        let a_ino = ino(&a);
        spool.recycle(State::Queue, &a).unwrap();
        assert_eq!(tmp_names(), 1, "kept in tmp/");
        let b = put(b"Subject: short\r\n\r\nhi\r\n");
        assert_eq!(ino(&b), a_ino, "the file was reused");
        assert_eq!(tmp_names(), 0);
        let (_, content) = spool.read(State::Queue, &b).unwrap();
        assert_eq!(content, b"Subject: short\r\n\r\nhi\r\n");
        // Too large to keep: handed back to be unlinked, still in place
        // until then.
        let c = put(&b"y".repeat(FREE_SIZE as usize + 1));
        let path = spool.release(State::Queue, &c).unwrap().expect("to unlink");
        assert_eq!(path, dir.path().join("queue").join(c.as_str()));
        assert!(path.exists());
        remove_delivered(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(tmp_names(), 0);
        // Gone already: not an error.
        remove_delivered(&path).unwrap();
        spool.recycle(State::Queue, &c).unwrap();
        // A spool without recycling (sendmail -q) unlinks.
        let plain = Spool::open(dir.path(), Durability::Fsync).unwrap();
        plain.recycle(State::Queue, &b).unwrap();
        assert_eq!(tmp_names(), 0);
        assert!(plain.list(State::Queue).unwrap().is_empty());
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
