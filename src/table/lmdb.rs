//! The runtime table backend: a single-file LMDB environment (`NAME.lmdb`).
//!
//! Contract: [`Lmdb::open`] maps one file read-only, without a lock file
//! (`MDB_NOLOCK`): makemap never modifies a published file, it builds a new
//! one and renames it over the old, so readers need no locking and a reader
//! always sees either the old or the new table, whole.
//!
//! This is the one module allowed `unsafe`: heed marks opening an
//! environment unsafe because a memory-mapped file changed underneath a
//! reader is undefined behaviour. Our files are never changed in place
//! (see above), which is the invariant each `unsafe` block relies on.
#![allow(unsafe_code)]

use super::{Error, Fold, Table};
use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, WithoutTls};
use std::path::{Path, PathBuf};

/// A read-only LMDB table.
pub struct Lmdb {
    path: PathBuf,
    fold: Fold,
    nul_terminated: bool,
    env: Env<WithoutTls>,
    db: Database<Bytes, Bytes>,
}

impl std::fmt::Debug for Lmdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lmdb").field("path", &self.path).finish()
    }
}

impl Lmdb {
    /// Open `path` (the `.lmdb` file itself). `nul_terminated` = keys carry a trailing NUL (`-N`).
    pub fn open(path: &Path, fold: Fold, nul_terminated: bool) -> Result<Lmdb, Error> {
        if !path.exists() {
            return Err(Error::Missing { path: path.into() });
        }
        let io = |e: heed::Error| Error::Io {
            path: path.into(),
            detail: e.to_string(),
        };
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.max_dbs(0);
        // SAFETY: READ_ONLY + NO_LOCK is sound because published map files are
        // never written in place (makemap renames a new file over the old one).
        unsafe {
            opts.flags(EnvFlags::NO_SUB_DIR | EnvFlags::READ_ONLY | EnvFlags::NO_LOCK);
        }
        // SAFETY: as above: the mapped file is immutable once published.
        let env = unsafe { opts.open(path) }.map_err(io)?;
        let rtxn = env.read_txn().map_err(io)?;
        let db: Database<Bytes, Bytes> =
            env.open_database(&rtxn, None)
                .map_err(io)?
                .ok_or_else(|| Error::Io {
                    path: path.into(),
                    detail: "no main database in LMDB file".into(),
                })?;
        drop(rtxn);
        Ok(Lmdb {
            path: path.into(),
            fold,
            nul_terminated,
            env,
            db,
        })
    }
}

impl Table for Lmdb {
    fn lookup(&self, key: &str) -> Result<Option<String>, Error> {
        let mut k = match self.fold {
            Fold::Lower => key.to_ascii_lowercase().into_bytes(),
            Fold::Keep => key.as_bytes().to_vec(),
        };
        if self.nul_terminated {
            k.push(0);
        }
        let io = |e: heed::Error| Error::Io {
            path: self.path.clone(),
            detail: e.to_string(),
        };
        let rtxn = self.env.read_txn().map_err(io)?;
        let v = self.db.get(&rtxn, &k).map_err(io)?;
        Ok(v.map(|v| {
            let v = v.strip_suffix(&[0]).unwrap_or(v);
            String::from_utf8_lossy(v).into_owned()
        }))
    }
}
