//! The runtime table backend: a single-file LMDB environment (`NAME.lmdb`).
//!
//! Contract: [`Lmdb::open`] maps one file read-only, without a lock file
//! (`MDB_NOLOCK`): makemap never modifies a published file, it builds a new
//! one and renames it over the old ([`super::build`]), so readers need no
//! locking and a reader always sees either the old or the new table, whole.
//!
//! Reload: a table notices a rebuilt file by itself. At most once per
//! recheck interval (default one second, checked on a lookup, never a
//! `stat` per lookup) or on an explicit [`Lmdb::refresh`], it compares the
//! file's device, inode, size and mtime with the mapped one and, when they
//! differ, maps the new file. No restart and no signal are needed.
//!
//! heed allows one open environment per canonical path in a process, and a
//! replaced file has the same path as its successor. So all `Lmdb` values
//! of one path share one [`Shared`] slot (a process-wide registry of weak
//! references): a reopen drops the old environment under the slot's write
//! lock before mapping the new file, and nothing else in the process opens
//! that path through heed (the builder reads an old map for `-o` through
//! this module too). If the new file cannot be mapped, lookups fail (a
//! temporary failure, never "not found") until a later check succeeds.
//!
//! Absent keys: a map makemap wrote carries a filter over its keys
//! ([`super::filter`]), loaded with the file; a key it rules out is
//! answered "not found" without a transaction or a tree search. Listing a
//! map never shows the filter.
//!
//! Present keys: a map makemap wrote also carries a hash index
//! ([`super::index`]), read in place from the mapped file: a key it holds
//! is answered from it, also without a transaction, two cache lines deep
//! instead of a descent through the tree. A map without one, or an index
//! that cannot answer (a bounds check failed), is searched in its tree.
//!
//! This and `build.rs` are the modules allowed `unsafe`: heed marks opening an
//! environment unsafe because a memory-mapped file changed underneath a
//! reader is undefined behaviour. Our files are never changed in place
//! (see above), which is the invariant each `unsafe` block relies on.
#![allow(unsafe_code)]

use super::filter::{self, Filter};
use super::index::{self, Index, Probe};
use super::{Error, Fold, Table};
use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, RoTxn, WithoutTls};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

/// How often a table looks at its file for a rebuild, at most.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(1);

/// A read-only LMDB table that follows rebuilds of its file.
pub struct Lmdb {
    path: PathBuf,
    fold: Fold,
    nul_terminated: bool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Lmdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lmdb").field("path", &self.path).finish()
    }
}

/// Identity of one published file: a rebuild always changes it (a new inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileId {
    fn of(path: &Path) -> std::io::Result<FileId> {
        let m = std::fs::metadata(path)?;
        Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// One mapped file.
struct Snapshot {
    /// Read transactions kept for single lookups. A published file never
    /// changes and the environment has no lock table (`NO_LOCK`), so a
    /// transaction may live as long as the snapshot: no begin/abort per
    /// lookup. Declared before `env` so the transactions go first.
    pool: Mutex<Vec<RoTxn<'static, WithoutTls>>>,
    /// Slices of the file `env` maps: before `env`, so dropped first.
    in_map: InMap,
    env: Env<WithoutTls>,
    db: Database<Bytes, Bytes>,
    id: FileId,
    /// The map's absent-key filter, when it has one this build reads.
    filter: Option<Filter>,
}

/// The part of a [`Snapshot`] that lives in the mapped file: declared
/// apart so that it is dropped before the environment that maps it.
struct InMap {
    /// The map's hash index, read in place ([`mapped`]).
    index: Option<Index<'static>>,
}

/// Extend a slice of the mapped file to the environment's lifetime.
///
/// SAFETY (the caller's): `b` was read from `env` of the snapshot it goes
/// into. A read-only LMDB environment keeps its file mapped, at one
/// address, until it is closed, and a published map file is never written
/// in place (module docs), so the bytes stay valid and unchanged for as
/// long as the snapshot, which drops its [`InMap`] before its `env`.
unsafe fn mapped(b: &[u8]) -> &'static [u8] {
    // SAFETY: see above.
    unsafe { std::slice::from_raw_parts(b.as_ptr(), b.len()) }
}

impl Snapshot {
    /// What the filter and the hash index say of `key` (as stored) without
    /// a transaction: `Some(None)` absent, `Some(Some(value))` found (the
    /// value as stored), `None` when the tree must be searched.
    fn quick(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if self.filter.is_none() && self.in_map.index.is_none() {
            return None;
        }
        let h = filter::key_hash(key);
        if self.filter.as_ref().is_some_and(|f| !f.may_contain_hash(h)) {
            return Some(None);
        }
        match self.in_map.index.as_ref()?.get(h, key) {
            Probe::Found(v) => Some(Some(v)),
            Probe::Absent => Some(None),
            Probe::Unknown => None,
        }
    }

    /// Run `f` with a pooled transaction.
    fn with_txn<R>(&self, f: impl FnOnce(&RoTxn<'static, WithoutTls>) -> R) -> Result<R, String> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let txn = match taken {
            Some(t) => t,
            None => self
                .env
                .clone()
                .static_read_txn()
                .map_err(|e| e.to_string())?,
        };
        let r = f(&txn);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 64 {
            pool.push(txn);
        }
        Ok(r)
    }
}

/// The slot all tables of one path share.
struct Shared {
    path: PathBuf,
    current: RwLock<Result<Snapshot, String>>,
    base: Instant,
    recheck_ns: u64,
    next_check_ns: AtomicU64,
}

static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Lmdb {
    /// Open `path` (the `.lmdb` file itself). `nul_terminated` = keys carry a trailing NUL (`-N`).
    pub fn open(path: &Path, fold: Fold, nul_terminated: bool) -> Result<Lmdb, Error> {
        if !path.exists() {
            return Err(Error::Missing { path: path.into() });
        }
        let canonical = path.canonicalize().map_err(|e| Error::Io {
            path: path.into(),
            detail: e.to_string(),
        })?;
        let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        let shared = match reg.get(&canonical).and_then(Weak::upgrade) {
            Some(s) => {
                // Another table already maps this path: make sure it is the newest file.
                s.refresh_if_changed(Wait::Block)?;
                s
            }
            None => {
                let snap = open_snapshot(&canonical).map_err(|detail| Error::Io {
                    path: path.into(),
                    detail,
                })?;
                let s = Arc::new(Shared {
                    path: canonical.clone(),
                    current: RwLock::new(Ok(snap)),
                    base: Instant::now(),
                    recheck_ns: u64::try_from(DEFAULT_RECHECK.as_nanos()).unwrap_or(u64::MAX),
                    next_check_ns: AtomicU64::new(0),
                });
                s.schedule_next();
                reg.retain(|_, w| w.strong_count() > 0);
                reg.insert(canonical, Arc::downgrade(&s));
                s
            }
        };
        drop(reg);
        Ok(Lmdb {
            path: path.into(),
            fold,
            nul_terminated,
            shared,
        })
    }

    /// Look at the file now and map it again if it was rebuilt. Returns
    /// whether a new file was mapped. Must not be called from inside
    /// [`Lmdb::with_reader`] on the same table.
    pub fn refresh(&self) -> Result<Reloaded, Error> {
        self.shared.refresh_if_changed(Wait::Block)
    }

    /// Run `f` with one read transaction for many lookups (the fast path:
    /// no allocation per lookup). The snapshot cannot change while `f` runs.
    pub fn with_reader<R>(&self, f: impl FnOnce(&Reader<'_>) -> R) -> Result<R, Error> {
        self.shared.maybe_refresh();
        let guard = self
            .shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let snap = guard.as_ref().map_err(|detail| self.io(detail.clone()))?;
        let txn = snap.env.read_txn().map_err(|e| self.io(e.to_string()))?;
        let reader = Reader {
            table: self,
            txn,
            db: snap.db,
            snap,
        };
        Ok(f(&reader))
    }

    /// Every stored pair as stored (keys and values with their NULs, if any),
    /// in key order; duplicates (`-d`) each appear; the absent-key filter
    /// does not.
    pub fn entries(&self) -> Result<Vec<Entry>, Error> {
        self.with_reader(|r| {
            let iter = r.db.iter(&r.txn).map_err(|e| self.io(e.to_string()))?;
            let mut out = Vec::new();
            for item in iter {
                let (k, v) = item.map_err(|e| self.io(e.to_string()))?;
                if !filter::is_reserved(k) {
                    out.push((k.to_vec(), v.to_vec()));
                }
            }
            Ok(out)
        })?
    }

    /// Call `f` with every stored pair, as stored, in key order, from one
    /// snapshot, without collecting them (a content hash of a large table);
    /// not with the absent-key filter.
    pub fn for_each_entry(&self, mut f: impl FnMut(&[u8], &[u8])) -> Result<(), Error> {
        self.with_reader(|r| {
            let iter = r.db.iter(&r.txn).map_err(|e| self.io(e.to_string()))?;
            for item in iter {
                let (k, v) = item.map_err(|e| self.io(e.to_string()))?;
                if !filter::is_reserved(k) {
                    f(k, v);
                }
            }
            Ok(())
        })?
    }

    /// Whether the mapped file has an absent-key filter and a hash index
    /// this build reads.
    #[cfg(test)]
    pub(crate) fn has_filter_and_index(&self) -> (bool, bool) {
        let guard = self
            .shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Ok(s) => (s.filter.is_some(), s.in_map.index.is_some()),
            Err(_) => (false, false),
        }
    }

    /// The file this table serves.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, detail: String) -> Error {
        Error::Io {
            path: self.path.clone(),
            detail,
        }
    }
}

/// One stored pair, as stored: (key, value).
pub type Entry = (Vec<u8>, Vec<u8>);

/// Outcome of [`Lmdb::refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The file is the one already mapped.
    Unchanged,
    /// A rebuilt file was mapped.
    NewFile,
}

/// One read transaction over a table (see [`Lmdb::with_reader`]).
pub struct Reader<'t> {
    table: &'t Lmdb,
    txn: RoTxn<'t, WithoutTls>,
    db: Database<Bytes, Bytes>,
    snap: &'t Snapshot,
}

impl Reader<'_> {
    /// Look `key` up (folded and NUL-terminated as the table says); the
    /// value without its trailing NUL, borrowed from the map.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<&[u8]>, Error> {
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let buf = fold_key(
            key,
            self.table.fold,
            self.table.nul_terminated,
            &mut stack,
            &mut heap,
        );
        let v = match self.snap.quick(buf) {
            Some(v) => v,
            None => self
                .db
                .get(&self.txn, buf)
                .map_err(|e| self.table.io(e.to_string()))?,
        };
        Ok(v.map(|v| v.strip_suffix(&[0]).unwrap_or(v)))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Block,
    Skip,
}

impl Shared {
    fn schedule_next(&self) {
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.next_check_ns
            .store(now.saturating_add(self.recheck_ns), Ordering::Relaxed);
    }

    /// The timer: one `stat` per interval, claimed by one caller.
    fn maybe_refresh(&self) {
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let due = self.next_check_ns.load(Ordering::Relaxed);
        if now < due {
            return;
        }
        let next = now.saturating_add(self.recheck_ns);
        if self
            .next_check_ns
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // An error here is kept in the slot and reported by the lookup.
            let _ = self.refresh_if_changed(Wait::Skip);
        }
    }

    fn refresh_if_changed(&self, wait: Wait) -> Result<Reloaded, Error> {
        let io = |detail: String| Error::Io {
            path: self.path.clone(),
            detail,
        };
        let id = match FileId::of(&self.path) {
            Ok(id) => id,
            // The file was removed: keep serving what is mapped (removal is not a rebuild).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reloaded::Unchanged),
            Err(e) => return Err(io(e.to_string())),
        };
        {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            if matches!(&*cur, Ok(s) if s.id == id) {
                return Ok(Reloaded::Unchanged);
            }
        }
        let mut cur = match wait {
            Wait::Block => self.current.write().unwrap_or_else(|p| p.into_inner()),
            Wait::Skip => match self.current.try_write() {
                Ok(g) => g,
                // Readers are busy (maybe this very thread): try at the next tick.
                Err(_) => {
                    self.next_check_ns.store(0, Ordering::Relaxed);
                    return Ok(Reloaded::Unchanged);
                }
            },
        };
        if matches!(&*cur, Ok(s) if s.id == id) {
            return Ok(Reloaded::Unchanged);
        }
        // Drop the old environment first: heed allows one per path.
        *cur = Err("reopening".into());
        *cur = open_snapshot(&self.path);
        match &*cur {
            Ok(_) => Ok(Reloaded::NewFile),
            Err(detail) => Err(io(detail.clone())),
        }
    }
}

fn open_snapshot(path: &Path) -> Result<Snapshot, String> {
    // Identify the file before mapping it: if it is replaced in between, the
    // next check sees a different id and maps again.
    let id = FileId::of(path).map_err(|e| e.to_string())?;
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.max_dbs(0);
    // SAFETY: READ_ONLY + NO_LOCK is sound because published map files are
    // never written in place (makemap renames a new file over the old one).
    unsafe {
        opts.flags(EnvFlags::NO_SUB_DIR | EnvFlags::READ_ONLY | EnvFlags::NO_LOCK);
    }
    // SAFETY: as above: the mapped file is immutable once published.
    let env = unsafe { opts.open(path) }.map_err(|e| e.to_string())?;
    let rtxn = env.read_txn().map_err(|e| e.to_string())?;
    let db: Database<Bytes, Bytes> = env
        .open_database(&rtxn, None)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no main database in LMDB file".to_string())?;
    // A map without a filter (an older build, `-d`) is searched as before.
    let filter = db
        .get(&rtxn, filter::KEY)
        .map_err(|e| e.to_string())?
        .and_then(Filter::from_bytes);
    let get = |key: &[u8]| -> Option<&'static [u8]> {
        // SAFETY: read from `env`, which goes into the same snapshot.
        db.get(&rtxn, key)
            .ok()
            .flatten()
            .map(|b| unsafe { mapped(b) })
    };
    // A map without one (an older build, `-d`) or with one this build
    // does not read is searched in its tree.
    let index = get(index::SLOTS_KEY)
        .and_then(|slots| Index::from_parts(slots, |i| get(&index::chunk_key(i))));
    drop(rtxn);
    Ok(Snapshot {
        pool: Mutex::new(Vec::new()),
        in_map: InMap { index },
        env,
        db,
        id,
        filter,
    })
}

impl Table for Lmdb {
    fn lookup(&self, key: &str) -> Result<Option<String>, Error> {
        self.shared.maybe_refresh();
        let guard = self
            .shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let snap = guard.as_ref().map_err(|detail| self.io(detail.clone()))?;
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let k = fold_key(
            key.as_bytes(),
            self.fold,
            self.nul_terminated,
            &mut stack,
            &mut heap,
        );
        let as_string =
            |v: &[u8]| String::from_utf8_lossy(v.strip_suffix(&[0]).unwrap_or(v)).into_owned();
        if let Some(v) = snap.quick(k) {
            return Ok(v.map(as_string));
        }
        snap.with_txn(|txn| {
            snap.db
                .get(txn, k)
                .map(|v| v.map(as_string))
                .map_err(|e| self.io(e.to_string()))
        })
        .map_err(|detail| self.io(detail))?
    }
}

/// The key as stored: folded unless `-f`, with a NUL for `-N` maps; in
/// `stack` when it fits, else in `heap`.
fn fold_key<'b>(
    key: &[u8],
    fold: Fold,
    nul: bool,
    stack: &'b mut [u8; 256],
    heap: &'b mut Vec<u8>,
) -> &'b [u8] {
    let need = key.len() + usize::from(nul);
    let buf: &mut [u8] = if need <= stack.len() {
        &mut stack[..need]
    } else {
        heap.resize(need, 0);
        heap
    };
    for (d, s) in buf.iter_mut().zip(key) {
        *d = match fold {
            Fold::Lower => s.to_ascii_lowercase(),
            Fold::Keep => *s,
        };
    }
    if let (true, Some(last)) = (nul, buf.last_mut()) {
        *last = 0;
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::build::{BuildOptions, build};
    use crate::table::text::Record;

    fn rec(k: &str, v: &str) -> Record {
        Record {
            key: k.into(),
            value: v.into(),
            line: 1,
        }
    }

    #[test]
    fn rebuild_is_seen_after_refresh_and_tables_share_a_slot() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        build(&t, vec![rec("k", "old")], &BuildOptions::default()).unwrap();
        let a = Lmdb::open(&t, Fold::Lower, false).unwrap();
        // A second table on the same path must not trip heed's one-env-per-path rule.
        let b = Lmdb::open(&t, Fold::Keep, false).unwrap();
        assert_eq!(a.lookup("K").unwrap().as_deref(), Some("old"));
        build(&t, vec![rec("k", "new")], &BuildOptions::default()).unwrap();
        // Before the check: still the old, whole map.
        assert_eq!(a.lookup("k").unwrap().as_deref(), Some("old"));
        assert_eq!(a.refresh().unwrap(), Reloaded::NewFile);
        assert_eq!(a.refresh().unwrap(), Reloaded::Unchanged);
        assert_eq!(a.lookup("k").unwrap().as_deref(), Some("new"));
        assert_eq!(b.lookup("k").unwrap().as_deref(), Some("new"));
    }

    #[test]
    fn timer_picks_up_rebuild_without_refresh_call() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        build(&t, vec![rec("k", "old")], &BuildOptions::default()).unwrap();
        let a = Lmdb::open(&t, Fold::Lower, false).unwrap();
        build(&t, vec![rec("k", "new")], &BuildOptions::default()).unwrap();
        // Make the check due now instead of sleeping a second.
        a.shared.next_check_ns.store(0, Ordering::Relaxed);
        assert_eq!(a.lookup("k").unwrap().as_deref(), Some("new"));
    }

    #[test]
    fn batch_reader_folds_and_strips_nul() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("a.lmdb");
        let o = BuildOptions {
            keys: crate::table::build::KeyForm::NulTerminated,
            ..Default::default()
        };
        let long = "x".repeat(400);
        build(&t, vec![rec("root", "admin"), rec(&long, "l")], &o).unwrap();
        let a = Lmdb::open(&t, Fold::Lower, true).unwrap();
        let got = a
            .with_reader(|r| {
                (
                    r.lookup(b"ROOT").unwrap().map(<[u8]>::to_vec),
                    r.lookup(long.to_uppercase().as_bytes())
                        .unwrap()
                        .map(<[u8]>::to_vec),
                    r.lookup(b"nobody").unwrap().map(<[u8]>::to_vec),
                )
            })
            .unwrap();
        assert_eq!(got, (Some(b"admin".to_vec()), Some(b"l".to_vec()), None));
    }

    #[test]
    fn missing_file_is_missing_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Lmdb::open(&dir.path().join("no.lmdb"), Fold::Lower, false).unwrap_err();
        assert!(matches!(e, Error::Missing { .. }));
    }
}
