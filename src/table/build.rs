//! The atomic map builder behind makemap and newaliases.
//!
//! Contract: [`build`] writes a complete new single-file LMDB environment
//! (`MDB_NOSUBDIR`) under a temporary name in the target's directory,
//! fsyncs it, renames it over `NAME.lmdb` and fsyncs the directory. A
//! published file is never modified: `-o` (update) copies the old entries
//! into the new file first. On any error the temporary file is removed and
//! the old map is untouched. The build environment is private, so it runs
//! with `MDB_NOLOCK` and leaves no lock file anywhere.
//!
//! Speed and memory: a [`Builder`] takes records one at a time and sorts
//! them in bounded memory ([`super::runs`]: a packed arena, spilled to
//! unnamed run files past 32 MiB and merged back); the merged entries are
//! appended in key order (`MDB_APPEND`), which fills pages completely and
//! never splits one, in write transactions of [`COMMIT_BYTES`] so LMDB's
//! dirty pages stay bounded too; the map size is computed from the data,
//! and the file is synced once. The map also carries an absent-key filter
//! over its keys ([`super::filter`]) and a hash index holding a copy of
//! every pair ([`super::index`]: its records in chunks as the pairs are
//! written, its slots last). The new map is written
//! before the caller decides ([`Plan`]) and renamed over the old one only
//! by [`Plan::publish`].
//!
//! Duplicate keys follow makemap: the first is kept and reported (exit 65)
//! unless `-r` (the last wins) or `-d` (all kept, an LMDB `DUP_SORT`
//! database: a lookup returns the smallest value, `mdb_dump` shows all).
//!
//! Sizes: LMDB stores keys of at most [`MAX_KEY`] bytes (and, in a
//! `DUP_SORT` map, values too). [`oversized`] sets such records apart with
//! their line so the tools report them like any bad line; [`plan`] refuses
//! any that reach it ([`BuildError::Oversized`]) rather than failing half
//! way through the write.
//!
//! Permissions: a map can hold secrets (an AUTH password table), so it is
//! never made more readable than the admin asked. A rebuilt map keeps the
//! mode, owner and group of the map it replaces, as sendmail's makemap
//! does (it rewrites the file in place). A new map gets [`Perms`]: the
//! source file's permission bits and group when the source is a regular
//! file, otherwise sendmail's `DBMMODE`, 0640. The temporary file is
//! created with that mode, so the data is never readable by more users
//! even for a moment.
#![allow(unsafe_code)]

use super::filter::{self, Filter};
use super::index::{self, IndexWriter};
use super::lmdb::Lmdb;
use super::runs::{self, Merge, Order, SortError, Sorter};
use super::text::Record;
use super::{Error, Fold};
use heed::types::Bytes;
use heed::{Database, DatabaseFlags, EnvFlags, EnvOpenOptions, PutFlags};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What to do with a key that appears more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// The first value is kept; each later one is reported (makemap default).
    KeepFirst,
    /// The last value wins silently (`-r`).
    Replace,
    /// Every value is kept (`-d`).
    KeepAll,
}

/// How keys (and values) are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// As written.
    Plain,
    /// With a trailing NUL byte on keys and values (`-N`, alias maps).
    NulTerminated,
}

/// Replace the map, or update it (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The input is the whole new map.
    Replace,
    /// The old entries are kept and the input is added to them (`-o`);
    /// an input key already in the map is a duplicate like any other.
    Update,
}

/// The permissions of a new map (one that replaces a map keeps that map's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Perms {
    /// sendmail's `DBMMODE`: [`DEFAULT_MODE`], the builder's group.
    #[default]
    Default,
    /// Those of the source file: its permission bits (without execute
    /// bits) and, where allowed, its group.
    Source {
        /// `st_mode` of the source.
        mode: u32,
        /// `st_gid` of the source.
        gid: u32,
    },
}

/// The mode of a new map without a regular source file (sendmail's `DBMMODE`).
pub const DEFAULT_MODE: u32 = 0o640;

impl Perms {
    /// The permissions given by the source file `meta` (a regular file), or the default.
    pub fn of_source(meta: Option<&std::fs::Metadata>) -> Perms {
        use std::os::unix::fs::MetadataExt;
        match meta {
            Some(m) if m.is_file() => Perms::Source {
                mode: m.mode(),
                gid: m.gid(),
            },
            _ => Perms::Default,
        }
    }
}

/// Builder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Duplicate handling.
    pub duplicates: Duplicates,
    /// Key storage.
    pub keys: KeyForm,
    /// Replace or update.
    pub mode: Mode,
    /// Permissions of a new map.
    pub perms: Perms,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            duplicates: Duplicates::KeepFirst,
            keys: KeyForm::Plain,
            mode: Mode::Replace,
            perms: Perms::Default,
        }
    }
}

/// LMDB's largest key, in bytes (`MDB_MAXKEYSIZE` as heed's LMDB is built;
/// checked against the library in the tests). In a `DUP_SORT` map (`-d`)
/// values are keys of a sub-database and have the same limit.
pub const MAX_KEY: usize = 511;

/// Which part of a record is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The key.
    Key,
    /// The value, in a map that keeps duplicates (`-d`).
    DupValue,
}

/// A record LMDB cannot store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// Input line.
    pub line: u32,
    /// Key or value.
    pub part: Part,
    /// Size as it would be stored (with the NUL of `-N`).
    pub len: usize,
    /// How keys are stored: `len` counts the trailing NUL of `-N`.
    pub keys: KeyForm,
}

impl std::fmt::Display for Oversized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.part {
            Part::Key => "key",
            Part::DupValue => "value",
        };
        let nul = match self.keys {
            KeyForm::NulTerminated => " with its NUL (-N)",
            KeyForm::Plain => "",
        };
        write!(
            f,
            "{what} is {} bytes{nul}, longer than LMDB's {MAX_KEY}-byte limit",
            self.len
        )?;
        if self.part == Part::DupValue {
            write!(f, " for a map that keeps duplicates (-d)")?;
        }
        Ok(())
    }
}

/// The reason LMDB cannot store a record of these sizes (as stored, with
/// `-N`'s NUL), if it cannot.
fn too_big(key_len: usize, value_len: usize, line: u32, opts: &BuildOptions) -> Option<Oversized> {
    let (part, len) = if key_len > MAX_KEY {
        (Part::Key, key_len)
    } else if opts.duplicates == Duplicates::KeepAll && value_len > MAX_KEY {
        (Part::DupValue, value_len)
    } else {
        return None;
    };
    Some(Oversized {
        line,
        part,
        len,
        keys: opts.keys,
    })
}

/// Set apart the records LMDB cannot store under `opts`: (storable, oversized).
pub fn oversized(records: Vec<Record>, opts: &BuildOptions) -> (Vec<Record>, Vec<Oversized>) {
    let extra = usize::from(opts.keys == KeyForm::NulTerminated);
    let mut bad = Vec::new();
    let good = records
        .into_iter()
        .filter(
            |r| match too_big(r.key.len() + extra, r.value.len() + extra, r.line, opts) {
                Some(o) => {
                    bad.push(o);
                    false
                }
                None => true,
            },
        )
        .collect();
    (good, bad)
}

/// A duplicate key that was dropped (`key <k>: duplicate key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Input line of the dropped record.
    pub line: u32,
    /// The key as stored (without the NUL of `-N`).
    pub key: Vec<u8>,
}

/// What a successful build did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Pairs stored.
    pub entries: usize,
    /// Dropped duplicates, in input order.
    pub duplicates: Vec<Duplicate>,
    /// The permission bits the published map has.
    pub mode: u32,
}

/// Why a build failed (the old map is untouched in every case).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The temporary file could not be created (exit 73, `EX_CANTCREAT`).
    #[error("{path}: cannot create: {detail}")]
    Create {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// Writing, syncing or renaming failed (exit 74, `EX_IOERR`).
    #[error("{path}: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The old map could not be read for `-o` (exit 74).
    #[error("{0}")]
    ReadOld(Error),
    /// Records LMDB cannot store (exit 65); nothing was written. The
    /// message names the first; each carries its line.
    #[error("{}", first_oversized(.0))]
    Oversized(Vec<Oversized>),
    /// A record whose key starts like the one the absent-key filter is
    /// stored under (`\0mxgate-`, [`filter::is_reserved`]); exit 65.
    #[error(
        "line {line}: key reserved for mxgate's own entries (it starts with a NUL byte and \"mxgate-\")"
    )]
    Reserved {
        /// Input line.
        line: u32,
    },
}

fn first_oversized(all: &[Oversized]) -> String {
    match all.first() {
        Some(o) if all.len() > 1 => format!("line {}: {o} (and {} more)", o.line, all.len() - 1),
        Some(o) => format!("line {}: {o}", o.line),
        None => "an entry is too large for LMDB".into(),
    }
}

/// Build `target` (the `.lmdb` path) from `records`: [`plan`] then [`Plan::publish`].
pub fn build(
    target: &Path,
    records: Vec<Record>,
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    plan(target, records, opts)?.publish(target)
}

/// Read the old map (for `-o`), add `records`, sort, resolve duplicates and
/// write the new map under a temporary name: a [`Builder`] fed `records`.
/// Any record LMDB cannot store refuses the whole build.
pub fn plan(target: &Path, records: Vec<Record>, opts: &BuildOptions) -> Result<Plan, BuildError> {
    let (records, too_big) = oversized(records, opts);
    if !too_big.is_empty() {
        return Err(BuildError::Oversized(too_big));
    }
    let mut b = Builder::new(target, opts);
    for r in records {
        b.push(&r.key, &r.value, r.line)?;
    }
    b.plan()
}

/// Commit the build's write transaction after this many bytes of records,
/// so LMDB's dirty pages stay bounded (the file is private until renamed).
const COMMIT_BYTES: usize = 8 << 20;

/// A map being built from records pushed one at a time, in bounded memory
/// (see [`super::runs`]): `makemap` streams its input into one.
pub struct Builder {
    target: PathBuf,
    opts: BuildOptions,
    sorter: Sorter,
    oversized: Vec<Oversized>,
    /// What the records take in LMDB pages, for the map size.
    footprint: usize,
    /// Records added (the old map's too), to size the absent-key filter and the index.
    records: usize,
}

impl Builder {
    /// A builder for `target` that keeps [`runs::DEFAULT_BUDGET`] of records in memory.
    pub fn new(target: &Path, opts: &BuildOptions) -> Builder {
        Builder::with_budget(target, opts, runs::DEFAULT_BUDGET)
    }

    /// A builder holding at most `budget` bytes of records before it sorts
    /// them out to a run file beside `target`.
    pub fn with_budget(target: &Path, opts: &BuildOptions, budget: usize) -> Builder {
        let order = match opts.duplicates {
            Duplicates::KeepAll => Order::KeyValue,
            Duplicates::KeepFirst | Duplicates::Replace => Order::KeyLine,
        };
        Builder {
            target: target.to_path_buf(),
            opts: *opts,
            sorter: Sorter::new(order, &dir_of(target), budget),
            oversized: Vec::new(),
            footprint: 1 << 20,
            records: 0,
        }
    }

    /// Say how large the input is, when it is known (a file on standard
    /// input), so memory is set aside once (see [`Sorter::expect`]).
    pub fn expect_input(&mut self, bytes: u64) {
        self.sorter.expect(bytes);
    }

    /// Add one input record (its key as folded, its value as written). A
    /// record LMDB cannot store is set apart ([`Builder::oversized`]).
    pub fn push(&mut self, key: &[u8], value: &[u8], line: u32) -> Result<(), BuildError> {
        let nul: &[u8] = match self.opts.keys {
            KeyForm::NulTerminated => b"\0",
            KeyForm::Plain => b"",
        };
        let (k, v) = (key.len() + nul.len(), value.len() + nul.len());
        if let Some(o) = too_big(k, v, line, &self.opts) {
            self.oversized.push(o);
            return Ok(());
        }
        if filter::is_reserved(key) {
            return Err(BuildError::Reserved { line });
        }
        self.add((key, nul), (value, nul), line)
    }

    fn add(
        &mut self,
        key: (&[u8], &[u8]),
        value: (&[u8], &[u8]),
        line: u32,
    ) -> Result<(), BuildError> {
        let n = key.0.len() + key.1.len() + value.0.len() + value.1.len() + 16;
        self.records += 1;
        self.footprint = self
            .footprint
            .saturating_add(if n > PAGE / 4 { n + PAGE } else { n });
        let dir = dir_of(&self.target);
        self.sorter
            .push(key, value, line)
            .map_err(|e| sort_error(e, &dir, line))
    }

    /// The records set apart because LMDB cannot store them, in input order.
    pub fn oversized(&self) -> &[Oversized] {
        &self.oversized
    }

    /// Add the old map's entries (`-o`), then merge, resolve duplicates and
    /// write the new map under a temporary name beside the target.
    pub fn plan(mut self) -> Result<Plan, BuildError> {
        if self.opts.mode == Mode::Update {
            match Lmdb::open(&self.target, Fold::Keep, false) {
                Ok(old) => {
                    let mut failed = None;
                    old.for_each_entry(|k, v| {
                        if failed.is_none() {
                            failed = self.add((k, b""), (v, b""), 0).err();
                        }
                    })
                    .map_err(BuildError::ReadOld)?;
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
                Err(Error::Missing { .. }) => {}
                Err(e) => return Err(BuildError::ReadOld(e)),
            }
        }
        let dir = dir_of(&self.target);
        let merge = self.sorter.merge().map_err(|e| sort_error(e, &dir, 0))?;
        let (tmp, mode) = create_temp(&self.target, self.opts.perms)?;
        let (entries, mut duplicates) =
            write_merged(&tmp.path, merge, &self.opts, self.footprint, self.records)?;
        duplicates.sort_by_key(|d| d.line);
        Ok(Plan {
            tmp,
            dir,
            entries,
            duplicates,
            mode,
        })
    }
}

const PAGE: usize = 4096;

fn dir_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sort_error(e: SortError, dir: &Path, line: u32) -> BuildError {
    match e {
        SortError::Create(path, e) => BuildError::Create {
            path,
            detail: e.to_string(),
        },
        SortError::Io(e) => BuildError::Write {
            path: dir.to_path_buf(),
            detail: format!("sorting the records: {e}"),
        },
        SortError::TooLarge => BuildError::Write {
            path: dir.to_path_buf(),
            detail: format!("line {line}: a record larger than 4 GiB"),
        },
    }
}

/// A new map written under a temporary name, entries sorted and duplicates
/// resolved. Lets the caller look at the duplicates before deciding to
/// publish; dropped unpublished, the temporary file is removed.
pub struct Plan {
    tmp: TempFile,
    dir: PathBuf,
    entries: usize,
    duplicates: Vec<Duplicate>,
    mode: u32,
}

impl Plan {
    /// Dropped duplicates, in input order.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Number of pairs stored.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Rename the new map over `target` and sync the directory.
    pub fn publish(mut self, target: &Path) -> Result<BuildReport, BuildError> {
        std::fs::rename(&self.tmp.path, target).map_err(|e| BuildError::Write {
            path: target.into(),
            detail: format!("rename: {e}"),
        })?;
        self.tmp.published = true;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BuildError::Write {
                path: self.dir.clone(),
                detail: format!("fsync directory: {e}"),
            })?;
        Ok(BuildReport {
            entries: self.entries,
            duplicates: std::mem::take(&mut self.duplicates),
            mode: self.mode,
        })
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file unless it was published.
struct TempFile {
    path: PathBuf,
    published: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
        // NO_LOCK means there is none, but never leave one behind.
        let mut lock = self.path.clone().into_os_string();
        lock.push("-lock");
        let _ = std::fs::remove_file(lock);
    }
}

/// Create the temporary file beside `target` with the mode (and owner) the
/// published map will have; returns it and those permission bits.
fn create_temp(target: &Path, perms: Perms) -> Result<(TempFile, u32), BuildError> {
    let dir = dir_of(target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "map.lmdb".into());
    let tmp = TempFile {
        path: dir.join(format!(
            ".{name}.tmp.{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        )),
        published: false,
    };
    let create = |detail: String| BuildError::Create {
        path: tmp.path.clone(),
        detail,
    };
    // Create the file ourselves first: a clear EX_CANTCREAT error, and the
    // mode we want from the first byte (see the module contract).
    let (mode, owner) = match std::fs::metadata(target) {
        Ok(old) => {
            use std::os::unix::fs::MetadataExt;
            (
                old.mode() & 0o7777,
                Some((Some(old.uid()), Some(old.gid()))),
            )
        }
        Err(_) => match perms {
            Perms::Default => (DEFAULT_MODE, None),
            Perms::Source { mode, gid } => (mode & 0o666, Some((None, Some(gid)))),
        },
    };
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777)
            .open(&tmp.path)
            .map_err(|e| create(e.to_string()))?
    };
    if let Some((uid, gid)) = owner {
        // Best effort, as the admin may not own the group: the mode still
        // applies, so a failure can only make the map less readable.
        if std::os::unix::fs::fchown(&file, uid, gid).is_err() && uid.is_some() {
            let _ = std::os::unix::fs::fchown(&file, None, gid);
        }
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| create(format!("chmod {mode:04o}: {e}")))?;
    Ok((tmp, mode))
}

/// Write the merged records to the LMDB file `path` under the duplicate
/// policy, committing every [`COMMIT_BYTES`], then the absent-key filter
/// and the hash index sized for `records` at most (none for `-d`: see
/// [`filter`]), and sync it.
/// Returns the pairs stored and the duplicates dropped.
fn write_merged(
    path: &Path,
    mut merge: Merge,
    opts: &BuildOptions,
    footprint: usize,
    records: usize,
) -> Result<(usize, Vec<Duplicate>), BuildError> {
    let werr = |detail: String| BuildError::Write {
        path: path.to_path_buf(),
        detail,
    };
    let mut filter =
        (opts.duplicates != Duplicates::KeepAll).then(|| Filter::with_capacity(records));
    let mut index = filter
        .as_ref()
        .and_then(|_| IndexWriter::with_capacity(records));
    // Half-full pages at worst (DUP_SORT), plus branch pages, plus the
    // filter, plus the index (a copy of the pairs, and its slots).
    let map_size = footprint
        .saturating_add(
            filter
                .as_ref()
                .map_or(0, |_| Filter::stored_len(records) + PAGE),
        )
        .saturating_add(index.as_ref().map_or(0, |_| {
            footprint.saturating_add(IndexWriter::stored_len(records) + PAGE)
        }))
        .saturating_mul(2)
        .saturating_add(PAGE * 64)
        .div_ceil(PAGE)
        .saturating_mul(PAGE);
    let mut eopts = EnvOpenOptions::new().read_txn_without_tls();
    eopts.max_dbs(0).map_size(map_size);
    // SAFETY: the environment is a fresh private file nobody else maps.
    unsafe {
        eopts.flags(
            EnvFlags::NO_SUB_DIR | EnvFlags::NO_LOCK | EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC,
        );
    }
    // SAFETY: as above.
    let env = unsafe { eopts.open(path) }.map_err(|e| BuildError::Create {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let out = File::open(path).map_err(|e| werr(e.to_string()))?;
    let mut entries = 0usize;
    let mut dropped = Vec::new();
    {
        let mut wtxn = env.write_txn().map_err(|e| werr(e.to_string()))?;
        let mut dopts = env.database_options().types::<Bytes, Bytes>();
        if opts.duplicates == Duplicates::KeepAll {
            dopts.flags(DatabaseFlags::DUP_SORT);
        }
        let db: Database<Bytes, Bytes> =
            dopts.create(&mut wtxn).map_err(|e| werr(e.to_string()))?;
        let mut since_commit = 0usize;
        // The last key (and value) stored, or for -r the pair waiting to be.
        let (mut key, mut value, mut held) = (Vec::new(), Vec::new(), false);
        let mut put =
            |wtxn: &mut heed::RwTxn<'_>, k: &[u8], v: &[u8]| -> Result<bool, BuildError> {
                match opts.duplicates {
                    // Sorted, distinct keys: append without searching the tree.
                    Duplicates::KeepFirst | Duplicates::Replace => {
                        db.put_with_flags(wtxn, PutFlags::APPEND, k, v)
                    }
                    Duplicates::KeepAll => db.put(wtxn, k, v),
                }
                .map_err(|e| werr(e.to_string()))?;
                if let Some(f) = filter.as_mut() {
                    let h = filter::key_hash(k);
                    f.insert_hash(h);
                    if let Some(ix) = index.as_mut() {
                        let mut store = |key: &[u8], blob: &[u8]| {
                            since_commit += blob.len();
                            db.put(wtxn, key, blob)
                                .map_err(|e| werr(format!("writing the hash index: {e}")))
                        };
                        if ix.add(h, k, v, &mut store)?.is_err() {
                            // Past what the format holds: the map goes without (the tree answers).
                            index = None;
                        }
                    }
                }
                entries += 1;
                since_commit += k.len() + v.len();
                let due = since_commit >= COMMIT_BYTES;
                if due {
                    since_commit = 0;
                }
                Ok(due)
            };
        let mut commit_due = false;
        while let Some((k, v, line)) = merge
            .next()
            .map_err(|e| werr(format!("sorting the records: {e}")))?
        {
            let same_key = held && k == key.as_slice();
            match opts.duplicates {
                Duplicates::KeepFirst if same_key => {
                    let mut k = k.to_vec();
                    if opts.keys == KeyForm::NulTerminated && k.last() == Some(&0) {
                        k.pop();
                    }
                    dropped.push(Duplicate { line, key: k });
                    continue;
                }
                Duplicates::KeepAll if same_key && v == value.as_slice() => continue,
                Duplicates::KeepFirst | Duplicates::KeepAll => commit_due |= put(&mut wtxn, k, v)?,
                // The last of equal keys wins: store the held pair when the key changes.
                Duplicates::Replace if same_key => {}
                Duplicates::Replace if held => commit_due |= put(&mut wtxn, &key, &value)?,
                Duplicates::Replace => {}
            }
            key.clear();
            key.extend_from_slice(k);
            value.clear();
            value.extend_from_slice(v);
            held = true;
            if commit_due {
                wtxn.commit().map_err(|e| werr(e.to_string()))?;
                write_behind(&out);
                wtxn = env.write_txn().map_err(|e| werr(e.to_string()))?;
                commit_due = false;
            }
        }
        if held && opts.duplicates == Duplicates::Replace {
            put(&mut wtxn, &key, &value)?;
        }
        // The sorted records (an arena of up to 32 MiB) are no longer
        // needed: free them before the index's slots are stored.
        drop(merge);
        if let Some(ix) = index.take() {
            let slots = ix.finish(&mut |key: &[u8], blob: &[u8]| {
                db.put(&mut wtxn, key, blob)
                    .map_err(|e| werr(format!("writing the hash index: {e}")))
            })?;
            // Written straight into LMDB's pages, freed from ours as it goes.
            db.put_reserved(&mut wtxn, index::SLOTS_KEY, slots.stored_len(), |space| {
                slots.write_into(space)
            })
            .map_err(|e| werr(format!("writing the hash index: {e}")))?;
        }
        if let Some(f) = &filter {
            // Sorts first, so not appended: one ordinary put.
            db.put(&mut wtxn, filter::KEY, &f.to_bytes())
                .map_err(|e| werr(format!("writing the absent-key filter: {e}")))?;
        }
        wtxn.commit().map_err(|e| werr(e.to_string()))?;
    }
    env.prepare_for_closing().wait();
    out.sync_all().map_err(|e| werr(format!("fsync: {e}")))?;
    Ok((entries, dropped))
}

/// Start writing what is committed so far out to the disk, without waiting
/// (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`). The final fsync then
/// has little left to write: a rebuild does not put its whole map (twice
/// the table's size, with the index) on the disk in one burst that a
/// running daemon's commits would wait behind. Only a hint: an error is
/// ignored, the final fsync is what makes the map durable.
fn write_behind(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a system call on a descriptor `f` keeps open; no memory passed.
    let _ = unsafe {
        nix::libc::sync_file_range(f.as_raw_fd(), 0, 0, nix::libc::SYNC_FILE_RANGE_WRITE)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    fn rec(k: &str, v: &str, line: u32) -> Record {
        Record {
            key: k.into(),
            value: v.into(),
            line,
        }
    }

    #[test]
    fn k1_first_kept_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        let rep = build(
            &t,
            vec![rec("foo.example", "v1", 2), rec("foo.example", "v2", 4)],
            &BuildOptions::default(),
        )
        .unwrap();
        assert_eq!(rep.entries, 1);
        assert_eq!(
            rep.duplicates,
            vec![Duplicate {
                line: 4,
                key: b"foo.example".to_vec()
            }]
        );
        let m = Lmdb::open(&t, Fold::Lower, false).unwrap();
        assert_eq!(m.lookup("FOO.example").unwrap().as_deref(), Some("v1"));
        // No lock file and no temporary file next to the map.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("m.lmdb")]);
    }

    #[test]
    fn replace_and_keep_all() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        let input = || vec![rec("k", "v2", 1), rec("k", "v1", 2), rec("a", "x", 3)];
        let o = BuildOptions {
            duplicates: Duplicates::Replace,
            ..Default::default()
        };
        build(&t, input(), &o).unwrap();
        let m = Lmdb::open(&t, Fold::Lower, false).unwrap();
        assert_eq!(m.lookup("k").unwrap().as_deref(), Some("v1"));
        drop(m);
        let o = BuildOptions {
            duplicates: Duplicates::KeepAll,
            ..Default::default()
        };
        let rep = build(&t, input(), &o).unwrap();
        assert_eq!(rep.entries, 3);
        let m = Lmdb::open(&t, Fold::Lower, false).unwrap();
        let all = m.entries().unwrap();
        assert_eq!(
            all,
            vec![
                (b"a".to_vec(), b"x".to_vec()),
                (b"k".to_vec(), b"v1".to_vec()),
                (b"k".to_vec(), b"v2".to_vec())
            ]
        );
    }

    #[test]
    fn maps_carry_an_absent_key_filter_that_never_hides_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        let keys = |r: std::ops::Range<u32>| {
            r.map(|i| rec(&format!("from:user{i}@example.com"), "REJECT", i + 1))
                .collect::<Vec<_>>()
        };
        build(&t, keys(0..2000), &BuildOptions::default()).unwrap();
        // -o: the old keys go into the new filter with the added ones.
        let update = BuildOptions {
            mode: Mode::Update,
            ..Default::default()
        };
        let rep = build(&t, keys(2000..3000), &update).unwrap();
        assert_eq!(rep.entries, 3000);
        let m = Lmdb::open(&t, Fold::Lower, false).unwrap();
        assert_eq!(m.has_filter_and_index(), (true, true));
        for i in 0..3000 {
            let k = format!("FROM:user{i}@example.com");
            assert_eq!(m.lookup(&k).unwrap().as_deref(), Some("REJECT"), "{k}");
        }
        assert!((3000..6000).all(|i| {
            m.lookup(&format!("from:user{i}@example.com"))
                .unwrap()
                .is_none()
        }));
        // Never listed, so never copied into a map as data by -o.
        assert_eq!(m.entries().unwrap().len(), 3000);
        drop(m);
        // -d keeps values as LMDB keys (511 bytes at most): no filter, same answers.
        let dup = BuildOptions {
            duplicates: Duplicates::KeepAll,
            ..Default::default()
        };
        build(&t, keys(0..10), &dup).unwrap();
        let m = Lmdb::open(&t, Fold::Lower, false).unwrap();
        assert_eq!(m.has_filter_and_index(), (false, false));
        assert_eq!(
            m.lookup("from:user9@example.com").unwrap().as_deref(),
            Some("REJECT")
        );
        assert!(m.lookup("from:user10@example.com").unwrap().is_none());
        // The key it is stored under is refused as data, with its line.
        let reserved = rec(std::str::from_utf8(filter::KEY).unwrap(), "OK", 7);
        match build(&t, vec![reserved], &BuildOptions::default()) {
            Err(e @ BuildError::Reserved { line: 7 }) => {
                assert!(e.to_string().starts_with("line 7: key reserved"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let kin = rec("\0mxgate-something-later", "OK", 3);
        assert!(matches!(
            build(&t, vec![kin], &BuildOptions::default()),
            Err(BuildError::Reserved { line: 3 })
        ));
    }

    #[test]
    fn the_hash_index_answers_as_the_tree_does() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        // Values on the leaf page, on overflow pages, and past an index chunk.
        let value = |i: usize| match i % 500 {
            0 => "x".repeat(super::super::index::CHUNK_BYTES + 1),
            1..=3 => format!("ERROR:5.7.1:550 {}", "y".repeat(5000)),
            _ => format!("v{i}"),
        };
        let records: Vec<_> = (0..3000)
            .map(|i| rec(&format!("to:user{i}@example.com"), &value(i), i as u32 + 1))
            .chain([rec("to:user7@example.com", "replaced", 9000)])
            .collect();
        let o = BuildOptions {
            duplicates: Duplicates::Replace,
            ..Default::default()
        };
        build(&t, records, &o).unwrap();
        let m = Lmdb::open(&t, Fold::Lower, false).unwrap();
        assert_eq!(m.has_filter_and_index(), (true, true));
        let all = m.entries().unwrap();
        assert_eq!(all.len(), 3000);
        m.with_reader(|r| {
            for (k, v) in &all {
                // The tree's answer, read by a cursor, against the index's.
                assert_eq!(r.lookup(k).unwrap(), Some(v.as_slice()));
            }
        })
        .unwrap();
        assert_eq!(
            m.lookup("TO:user7@example.com").unwrap().as_deref(),
            Some("replaced")
        );
        assert!(m.lookup("to:user3000@example.com").unwrap().is_none());
    }

    #[test]
    fn nul_terminated_keys_and_update() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("a.lmdb");
        let o = BuildOptions {
            keys: KeyForm::NulTerminated,
            ..Default::default()
        };
        build(&t, vec![rec("root", "admin", 1)], &o).unwrap();
        let o = BuildOptions {
            mode: Mode::Update,
            ..o
        };
        let rep = build(&t, vec![rec("root", "other", 1), rec("bin", "root", 2)], &o).unwrap();
        assert_eq!(rep.duplicates.len(), 1);
        assert_eq!(rep.duplicates[0].key, b"root".to_vec());
        let m = Lmdb::open(&t, Fold::Lower, true).unwrap();
        assert_eq!(m.lookup("root").unwrap().as_deref(), Some("admin"));
        assert_eq!(m.lookup("bin").unwrap().as_deref(), Some("root"));
        assert_eq!(
            m.entries().unwrap()[0],
            (b"bin\0".to_vec(), b"root\0".to_vec())
        );
    }

    /// A build that spills nearly every record to a run file stores the
    /// same map and reports the same duplicates as one sorted in memory,
    /// for each duplicate policy and for -o.
    #[test]
    fn spilled_builds_equal_in_memory_builds() {
        let dir = tempfile::tempdir().unwrap();
        let mut input = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for line in 1..=3000u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            input.push(rec(
                &format!("key{}", rng % 701),
                &format!("v{}", rng % 5),
                line,
            ));
        }
        for dups in [
            Duplicates::KeepFirst,
            Duplicates::Replace,
            Duplicates::KeepAll,
        ] {
            for mode in [Mode::Replace, Mode::Update] {
                let opts = BuildOptions {
                    duplicates: dups,
                    keys: KeyForm::NulTerminated,
                    mode,
                    ..Default::default()
                };
                let mut got = Vec::new();
                for (name, budget) in [("mem", runs::DEFAULT_BUDGET), ("spill", 200)] {
                    let t = dir.path().join(format!("{name}.lmdb"));
                    let _ = std::fs::remove_file(&t);
                    if mode == Mode::Update {
                        build(&t, vec![rec("key7", "old", 1), rec("zz", "old", 2)], &opts).unwrap();
                    }
                    let mut b = Builder::with_budget(&t, &opts, budget);
                    for r in &input {
                        b.push(&r.key, &r.value, r.line).unwrap();
                    }
                    assert_eq!(b.sorter.runs() > 10, budget == 200, "{name}");
                    let rep = b.plan().unwrap().publish(&t).unwrap();
                    let m = Lmdb::open(&t, Fold::Lower, true).unwrap();
                    got.push((rep, m.entries().unwrap()));
                }
                assert_eq!(got[0], got[1], "{dups:?} {mode:?}");
                let (rep, entries) = &got[0];
                assert_eq!(rep.entries, entries.len());
                let keys: std::collections::BTreeSet<_> = entries.iter().map(|e| &e.0).collect();
                match dups {
                    Duplicates::KeepFirst => {
                        assert_eq!(keys.len(), entries.len());
                        assert_eq!(
                            rep.duplicates.len() + entries.len(),
                            input.len() + 2 * usize::from(mode == Mode::Update)
                        );
                    }
                    Duplicates::Replace => assert!(rep.duplicates.is_empty()),
                    Duplicates::KeepAll => assert!(entries.len() > keys.len()),
                }
                if mode == Mode::Update && dups != Duplicates::KeepAll {
                    // The old entry is first: kept unless -r, where input wins.
                    let key7 = entries.iter().find(|e| e.0 == b"key7\0").unwrap();
                    assert_eq!(key7.1 == b"old\0", dups == Duplicates::KeepFirst);
                    assert!(entries.iter().any(|e| e.0 == b"zz\0"));
                }
            }
        }
    }

    #[test]
    fn max_key_is_the_linked_lmdb_limit() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        build(&t, vec![rec("a", "b", 1)], &BuildOptions::default()).unwrap();
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.max_dbs(0);
        // SAFETY: a private file nothing else maps.
        unsafe { opts.flags(EnvFlags::NO_SUB_DIR | EnvFlags::READ_ONLY | EnvFlags::NO_LOCK) };
        // SAFETY: as above.
        let env = unsafe { opts.open(&t) }.unwrap();
        assert_eq!(env.max_key_size(), MAX_KEY);
    }

    #[test]
    fn oversized_records_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("m.lmdb");
        let long = "k".repeat(MAX_KEY + 1);
        let e = build(
            &t,
            vec![rec("a", "b", 1), rec(&long, "v", 7)],
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 7: key is 512 bytes, longer than LMDB's 511-byte limit"
        );
        assert!(!t.exists());
    }

    #[test]
    fn missing_directory_is_create_error_and_nothing_left() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("nodir/m.lmdb");
        let e = build(&t, vec![rec("a", "b", 1)], &BuildOptions::default()).unwrap_err();
        assert!(matches!(e, BuildError::Create { .. }), "{e}");
    }
}
