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
//! Speed: the entries are sorted in memory and appended in key order
//! (`MDB_APPEND`), which fills pages completely and never splits one; the
//! map size is computed from the data, and the file is synced once.
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

use super::lmdb::Lmdb;
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

/// Set apart the records LMDB cannot store under `opts`: (storable, oversized).
pub fn oversized(records: Vec<Record>, opts: &BuildOptions) -> (Vec<Record>, Vec<Oversized>) {
    let extra = usize::from(opts.keys == KeyForm::NulTerminated);
    let mut bad = Vec::new();
    let good = records
        .into_iter()
        .filter(|r| {
            let (k, v) = (r.key.len() + extra, r.value.len() + extra);
            let part = if k > MAX_KEY {
                Some((Part::Key, k))
            } else if opts.duplicates == Duplicates::KeepAll && v > MAX_KEY {
                Some((Part::DupValue, v))
            } else {
                None
            };
            match part {
                Some((part, len)) => {
                    bad.push(Oversized {
                        line: r.line,
                        part,
                        len,
                        keys: opts.keys,
                    });
                    false
                }
                None => true,
            }
        })
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

/// A map ready to be written: entries sorted, duplicates resolved. Lets the
/// caller look at the duplicates before deciding to publish.
pub struct Plan {
    pairs: Vec<Pair>,
    duplicates: Vec<Duplicate>,
    policy: Duplicates,
    perms: Perms,
}

impl Plan {
    /// Dropped duplicates, in input order.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Number of pairs that will be stored.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the map will be empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Write the map atomically over `target`.
    pub fn publish(self, target: &Path) -> Result<BuildReport, BuildError> {
        let mode = write_atomically(target, &self.pairs, self.policy, self.perms)?;
        Ok(BuildReport {
            entries: self.pairs.len(),
            duplicates: self.duplicates,
            mode,
        })
    }
}

/// Read the old map (for `-o`), add `records`, sort and resolve duplicates.
pub fn plan(target: &Path, records: Vec<Record>, opts: &BuildOptions) -> Result<Plan, BuildError> {
    let (records, too_big) = oversized(records, opts);
    if !too_big.is_empty() {
        return Err(BuildError::Oversized(too_big));
    }
    // The records become the pairs in place: one vector for the whole build.
    let mut pairs = records;
    if opts.keys == KeyForm::NulTerminated {
        for p in &mut pairs {
            p.key.push(0);
            p.value.push(0);
        }
    }
    if opts.mode == Mode::Update {
        match Lmdb::open(target, Fold::Keep, false) {
            Ok(old) => {
                for (key, value) in old.entries().map_err(BuildError::ReadOld)? {
                    pairs.push(Pair {
                        key,
                        value,
                        line: 0,
                    });
                }
            }
            Err(Error::Missing { .. }) => {}
            Err(e) => return Err(BuildError::ReadOld(e)),
        }
    }
    let (pairs, duplicates) = resolve(pairs, opts.duplicates, opts.keys);
    Ok(Plan {
        pairs,
        duplicates,
        policy: opts.duplicates,
        perms: opts.perms,
    })
}

/// A key and value to store, with its input line (0: from the old map).
type Pair = Record;

/// Sort by key (old entries first, then input order among equal keys) and
/// apply the duplicate policy, in place: no second vector of a million
/// entries.
fn resolve(mut pairs: Vec<Pair>, dups: Duplicates, form: KeyForm) -> (Vec<Pair>, Vec<Duplicate>) {
    // Line numbers are unique in the input and 0 for the old map's entries,
    // so the line breaks ties as a stable sort would, without its buffer.
    pairs.sort_unstable_by(|a, b| match dups {
        Duplicates::KeepAll => a.key.cmp(&b.key).then_with(|| a.value.cmp(&b.value)),
        _ => a.key.cmp(&b.key).then(a.line.cmp(&b.line)),
    });
    let mut dropped = Vec::new();
    let mut kept = 0usize;
    for i in 0..pairs.len() {
        if kept > 0 && pairs[kept - 1].key == pairs[i].key {
            match dups {
                Duplicates::KeepFirst => {
                    let mut key = std::mem::take(&mut pairs[i].key);
                    if form == KeyForm::NulTerminated && key.last() == Some(&0) {
                        key.pop();
                    }
                    dropped.push(Duplicate {
                        line: pairs[i].line,
                        key,
                    });
                    continue;
                }
                Duplicates::Replace => {
                    pairs.swap(kept - 1, i);
                    continue;
                }
                Duplicates::KeepAll if pairs[kept - 1].value == pairs[i].value => continue,
                Duplicates::KeepAll => {}
            }
        }
        pairs.swap(kept, i);
        kept += 1;
    }
    pairs.truncate(kept);
    dropped.sort_by_key(|d| d.line);
    (pairs, dropped)
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

/// Write `pairs` to a new file and rename it over `target`; returns the
/// permission bits the published file has.
fn write_atomically(
    target: &Path,
    pairs: &[Pair],
    dups: Duplicates,
    perms: Perms,
) -> Result<u32, BuildError> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
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
    drop(file);

    let werr = |detail: String| BuildError::Write {
        path: tmp.path.clone(),
        detail,
    };
    {
        let page = 4096usize;
        let mut bytes: usize = 1 << 20;
        for p in pairs {
            let n = p.key.len() + p.value.len() + 16;
            bytes = bytes.saturating_add(if n > page / 4 { n + page } else { n });
        }
        // Half-full pages at worst (DUP_SORT, random inserts), plus branch pages.
        let map_size = bytes
            .saturating_mul(2)
            .saturating_add(page * 64)
            .div_ceil(page)
            .saturating_mul(page);
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.max_dbs(0).map_size(map_size);
        // SAFETY: the environment is a fresh private file nobody else maps.
        unsafe {
            opts.flags(
                EnvFlags::NO_SUB_DIR
                    | EnvFlags::NO_LOCK
                    | EnvFlags::NO_SYNC
                    | EnvFlags::NO_META_SYNC,
            );
        }
        // SAFETY: as above.
        let env = unsafe { opts.open(&tmp.path) }.map_err(|e| create(e.to_string()))?;
        {
            let mut wtxn = env.write_txn().map_err(|e| werr(e.to_string()))?;
            let mut dopts = env.database_options().types::<Bytes, Bytes>();
            if dups == Duplicates::KeepAll {
                dopts.flags(DatabaseFlags::DUP_SORT);
            }
            let db: Database<Bytes, Bytes> =
                dopts.create(&mut wtxn).map_err(|e| werr(e.to_string()))?;
            for p in pairs {
                let r = match dups {
                    // Sorted, distinct keys: append without searching the tree.
                    Duplicates::KeepFirst | Duplicates::Replace => {
                        db.put_with_flags(&mut wtxn, PutFlags::APPEND, &p.key, &p.value)
                    }
                    Duplicates::KeepAll => db.put(&mut wtxn, &p.key, &p.value),
                };
                r.map_err(|e| werr(e.to_string()))?;
            }
            wtxn.commit().map_err(|e| werr(e.to_string()))?;
        }
        env.prepare_for_closing().wait();
    }
    File::open(&tmp.path)
        .and_then(|f| f.sync_all())
        .map_err(|e| werr(format!("fsync: {e}")))?;
    std::fs::rename(&tmp.path, target).map_err(|e| BuildError::Write {
        path: target.into(),
        detail: format!("rename: {e}"),
    })?;
    let mut tmp = tmp;
    tmp.published = true;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BuildError::Write {
            path: dir.clone(),
            detail: format!("fsync directory: {e}"),
        })?;
    Ok(mode)
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
