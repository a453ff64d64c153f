//! The generation: one id for the whole loaded set.
//!
//! Contract: [`Generation::of`] names a loaded [`Site`] with one content
//! hash, the first 16 hex digits of SHA-256 over, in this order:
//!
//! * the compiled configuration text as loaded, before node overrides
//!   ([`crate::node`]) and before a bundle's relative paths are resolved,
//!   so two nodes running one bundle report the same id;
//! * every table the configuration names (`maps` by role, then the extra
//!   alias files in order): its *entries* in key order as stored, never the
//!   LMDB file's bytes, so identical sources built on two machines give the
//!   same id; a missing optional map counts as absent;
//! * the class files, in configuration order (a missing optional one counts
//!   as absent), the header-rules file, and the hosts and service-switch
//!   files when the configuration names them (`confHOSTS_FILE`,
//!   `confSERVICE_SWITCH_FILE`). The machine's own `/etc/hosts`, used when
//!   no hosts file is configured, is the node's, not the set's: it is left
//!   out.
//!
//! Each part is framed with its kind, its name and its length (a table's
//! entries each with their lengths, then their count), so moving bytes
//! from one part to another changes the id. Tables are hashed as they are
//! read, never held in memory whole.
//!
//! [`Generation::changed`] tells the daemon that a table file was rebuilt
//! (a new inode, size or mtime, or a map that appeared or vanished) since
//! the set was hashed; the daemon then loads the whole set again, so the id
//! is never stale for longer than one check interval. The file identities
//! are taken *before* the entries are read: a rebuild racing the hash shows
//! up as a change at the next check.

use crate::config::MapSpec;
use crate::site::Site;
use crate::table::{self, Fold};
use sha2::Digest;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A loaded set's id and the table files it was hashed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// 16 hex digits (see the module contract).
    pub id: String,
    watched: Vec<(PathBuf, Option<FileId>)>,
}

/// Why a generation could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table could not be read.
    #[error("map {role}: {err}")]
    Table {
        /// The table's role.
        role: String,
        /// What failed.
        err: table::Error,
    },
    /// A file of the set could not be read.
    #[error("{path}: {err}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        err: std::io::Error,
    },
}

/// Identity of one published table file (a rebuild changes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

impl Generation {
    /// The generation of `site`, whose configuration was loaded from the
    /// text `config_text` (see the module contract for what is hashed).
    pub fn of(config_text: &str, site: &Site) -> Result<Generation, Error> {
        let mut h = Hasher::default();
        h.part("config", "", config_text.as_bytes());
        let config = &site.config;
        let maps = config
            .maps
            .iter()
            .map(|(role, spec)| (role.clone(), spec))
            .chain(
                config
                    .alias_files
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| (format!("alias_file.{i}"), spec)),
            );
        let mut watched = Vec::new();
        for (role, spec) in maps {
            let path = PathBuf::from(spec.lmdb_path());
            let id = FileId::of(&path);
            watched.push((path.clone(), id));
            if let Err(err) = hash_map(&mut h, &role, spec, &path) {
                return Err(Error::Table { role, err });
            }
        }
        for (class, files) in &config.class_files {
            for f in files {
                match std::fs::read(&f.path) {
                    Ok(b) => h.part("class", class, &b),
                    Err(e) if f.optional && e.kind() == std::io::ErrorKind::NotFound => {
                        h.part("absent-class", class, b"")
                    }
                    Err(err) => {
                        return Err(Error::File {
                            path: f.path.clone().into(),
                            err,
                        });
                    }
                }
            }
        }
        if let Some((_, text)) = &site.header_checks {
            h.part("header_checks", "", text.as_bytes());
        }
        for (role, file) in site.content_checks.all() {
            if let Some((_, text)) = file {
                h.part(role, "", text.as_bytes());
            }
        }
        for opt in ["confHOSTS_FILE", "confSERVICE_SWITCH_FILE"] {
            if let Some(p) = config.option(opt) {
                match std::fs::read(p) {
                    Ok(b) => h.part("file", opt, &b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        h.part("absent-file", opt, b"")
                    }
                    Err(err) => {
                        return Err(Error::File {
                            path: p.into(),
                            err,
                        });
                    }
                }
            }
        }
        Ok(Generation {
            id: h.finish(),
            watched,
        })
    }

    /// The first table file that was rebuilt (or appeared, or vanished)
    /// since this generation was hashed.
    pub fn changed(&self) -> Option<&Path> {
        self.watched
            .iter()
            .find(|(p, id)| FileId::of(p) != *id)
            .map(|(p, _)| p.as_path())
    }

    /// The table files this generation was hashed from.
    pub fn table_files(&self) -> impl Iterator<Item = &Path> {
        self.watched.iter().map(|(p, _)| p.as_path())
    }
}

/// Hash a map's stored entries in key order (streamed: a large table is
/// never held in memory), or an absent part for a missing map.
fn hash_map(h: &mut Hasher, role: &str, spec: &MapSpec, path: &Path) -> Result<(), table::Error> {
    let fold = if spec.keep_case {
        Fold::Keep
    } else {
        Fold::Lower
    };
    match table::lmdb::Lmdb::open(path, fold, spec.nul_terminated) {
        Ok(t) => {
            h.open_part("map", role);
            let mut n: u64 = 0;
            let mut buf = Vec::new();
            t.for_each_entry(|k, v| {
                buf.clear();
                frame(&mut buf, k);
                frame(&mut buf, v);
                h.0.update(&buf);
                n += 1;
            })?;
            h.0.update(n.to_be_bytes());
            Ok(())
        }
        // Like the site: a missing optional map, or a missing alias
        // database (a warning at load), is an absent part.
        Err(table::Error::Missing { .. }) => {
            h.part("absent-map", role, b"");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The content hash of a file's bytes, as the generation frames it: for
/// tools that compare one part (16 hex digits of SHA-256).
pub fn short_sha256(bytes: &[u8]) -> String {
    hex16(&sha2::Sha256::digest(bytes))
}

fn hex16(d: &[u8]) -> String {
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[derive(Default)]
struct Hasher(sha2::Sha256);

impl Hasher {
    fn part(&mut self, kind: &str, name: &str, body: &[u8]) {
        let mut head = Vec::new();
        frame(&mut head, kind.as_bytes());
        frame(&mut head, name.as_bytes());
        frame(&mut head, body);
        self.0.update(&head);
    }

    /// A part whose body is streamed in after this (closed by a count).
    fn open_part(&mut self, kind: &str, name: &str) {
        let mut head = Vec::new();
        frame(&mut head, kind.as_bytes());
        frame(&mut head, name.as_bytes());
        head.extend_from_slice(b"stream");
        self.0.update(&head);
    }

    fn finish(self) -> String {
        hex16(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn site(dir: &Path, access: &[u8]) -> Site {
        let src = dir.join("access");
        std::fs::write(&src, access).unwrap();
        let (records, diags) = table::text::parse(access, &Default::default());
        assert!(diags.is_empty());
        let opts = table::build::BuildOptions::default();
        table::build::build(&dir.join("access.lmdb"), records, &opts).unwrap();
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        c.maps.insert(
            "access".into(),
            MapSpec {
                class: "hash".into(),
                path: src.display().to_string(),
                optional: false,
                tempfail: false,
                nul_terminated: false,
                keep_case: false,
                other_flags: vec![],
            },
        );
        Site::load(c).unwrap()
    }

    #[test]
    fn same_entries_same_id_other_entries_other_id() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // The same entries written differently (comment, order): one id,
        // if the config text is the same.
        let sa = site(
            a.path(),
            b"# c\nspam@example.com REJECT\nfriend@example.org OK\n",
        );
        let sb = site(
            b.path(),
            b"friend@example.org OK\nspam@example.com   REJECT\n",
        );
        let ga = Generation::of("same text", &sa).unwrap();
        let gb = Generation::of("same text", &sb).unwrap();
        assert_eq!(ga.id, gb.id);
        assert_eq!(ga.id.len(), 16);
        assert_ne!(Generation::of("other text", &sa).unwrap().id, ga.id);
        let c = tempfile::tempdir().unwrap();
        let sc = site(
            c.path(),
            b"spam@example.com DISCARD\nfriend@example.org OK\n",
        );
        assert_ne!(Generation::of("same text", &sc).unwrap().id, ga.id);
        assert_eq!(ga.changed(), None);
    }

    #[test]
    fn a_rebuilt_map_is_a_change() {
        let a = tempfile::tempdir().unwrap();
        let s = site(a.path(), b"spam@example.com REJECT\n");
        let g = Generation::of("t", &s).unwrap();
        assert_eq!(g.changed(), None);
        let (records, _) = table::text::parse(b"spam@example.com OK\n", &Default::default());
        let target = a.path().join("access.lmdb");
        table::build::build(&target, records, &Default::default()).unwrap();
        assert_eq!(g.changed(), Some(target.as_path()));
    }
}
