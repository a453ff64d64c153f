//! Lookup tables: one small interface, several backends.
//!
//! Contract: a [`Table`] answers `lookup(key)` with one of three outcomes —
//! `Ok(Some(value))`, `Ok(None)` (no such key) and `Err` (the table could not
//! be read: the caller temp-fails, never treats it as "not found"). Keys are
//! folded to lower case by the table unless it was built with `-f`
//! ([`Fold`]). Backends: [`lmdb::Lmdb`] (the runtime form, written by
//! makemap) and [`MemTable`] (in memory: tests, address-test mode).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub mod aliases;
pub mod build;
pub mod filter;
pub mod index;
pub mod lmdb;
pub mod passwd;
pub mod runs;
pub mod text;

/// Key case handling, fixed when a table is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Keys are stored and looked up in lower case (makemap's default).
    Lower,
    /// Keys are stored and looked up as written (`makemap -f`).
    Keep,
}

/// Why a lookup or an open failed. Every variant is a temporary failure to
/// an SMTP peer (`451 4.3.0`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required map's file does not exist.
    #[error("{path}: map file does not exist (build it with makemap)")]
    Missing {
        /// The `.lmdb` file that was expected.
        path: PathBuf,
    },
    /// The file exists but could not be opened or read.
    #[error("{path}: {detail}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// A read-only key → value table.
pub trait Table: Send + Sync + std::fmt::Debug {
    /// Look up `key` (folded as the table was built). Three outcomes; see the module doc.
    fn lookup(&self, key: &str) -> Result<Option<String>, Error>;
}

/// An in-memory table (tests, address-test mode).
#[derive(Debug, Clone, Default)]
pub struct MemTable {
    fold: Option<Fold>,
    entries: BTreeMap<String, String>,
}

impl MemTable {
    /// An empty table that folds keys to lower case.
    pub fn new() -> Self {
        MemTable {
            fold: Some(Fold::Lower),
            entries: BTreeMap::new(),
        }
    }

    /// Build from simple `key value` lines (first whitespace splits; `#` comments,
    /// blank lines skipped; first duplicate wins). Keys folded to lower case.
    pub fn from_lines(text: &str) -> Self {
        let mut t = MemTable::new();
        for line in text.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.trim_end();
            let (k, v) = match line.find(char::is_whitespace) {
                Some(i) => (&line[..i], line[i..].trim_start()),
                None => (line, ""),
            };
            t.entries
                .entry(k.to_ascii_lowercase())
                .or_insert_with(|| v.to_string());
        }
        t
    }

    /// Insert (folding the key as the table does).
    pub fn insert(&mut self, key: &str, value: &str) {
        let k = self.fold_key(key);
        self.entries.insert(k, value.to_string());
    }

    fn fold_key(&self, key: &str) -> String {
        match self.fold {
            Some(Fold::Keep) => key.to_string(),
            _ => key.to_ascii_lowercase(),
        }
    }
}

impl Table for MemTable {
    fn lookup(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self.entries.get(&self.fold_key(key)).cloned())
    }
}

/// A table that is always empty (a missing optional `-o` map).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyTable;

impl Table for EmptyTable {
    fn lookup(&self, _key: &str) -> Result<Option<String>, Error> {
        Ok(None)
    }
}

/// A table that always fails (used to test the temp-fail paths).
#[derive(Debug, Clone, Default)]
pub struct FailingTable;

impl Table for FailingTable {
    fn lookup(&self, _key: &str) -> Result<Option<String>, Error> {
        Err(Error::Io {
            path: PathBuf::from("(failing table)"),
            detail: "lookup failed".into(),
        })
    }
}

/// Shared handle to any table.
pub type TableRef = Arc<dyn Table>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_table_folds_and_keeps_first() {
        let t = MemTable::from_lines("# c\nFoo.Example v1\nfoo.example v2\nkey with  spaces\n");
        assert_eq!(t.lookup("FOO.example").unwrap().as_deref(), Some("v1"));
        assert_eq!(t.lookup("key").unwrap().as_deref(), Some("with  spaces"));
        assert_eq!(t.lookup("nope").unwrap(), None);
    }
}
