//! Sorting a table's records in bounded memory, for the map builder.
//!
//! Contract: a [`Sorter`] takes `(key, value, line)` records in any order
//! and gives them back through a [`Merge`] in [`Order`], holding at most
//! its budget of record bytes in memory. Records are packed into one byte
//! arena with a 16-byte slot each (no allocation per record); when the
//! arena reaches the budget its slots are sorted and written out as a run
//! to an unnamed file in the map's directory (`O_TMPFILE`, or a named file
//! removed at once where the file system has none), so nothing is left
//! behind whatever happens to the process. The merge reads the runs back
//! with one buffer each and picks the smallest head; a table that fits in
//! the budget (a few hundred thousand access lines) never touches the disk.
//!
//! Ties: records with equal keys come back by line ([`Order::KeyLine`]),
//! which is input order, so the builder's duplicate rules (first wins, last
//! wins) see them as they were written; or by value ([`Order::KeyValue`],
//! what an LMDB `DUP_SORT` database stores).

use std::cmp::Ordering;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// How records with equal keys are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Key, then line (input order).
    KeyLine,
    /// Key, then value, then line.
    KeyValue,
}

impl Order {
    fn cmp(self, a: (&[u8], &[u8], u32), b: (&[u8], &[u8], u32)) -> Ordering {
        let by_key = a.0.cmp(b.0);
        match self {
            Order::KeyLine => by_key.then(a.2.cmp(&b.2)),
            Order::KeyValue => by_key.then_with(|| a.1.cmp(b.1)).then(a.2.cmp(&b.2)),
        }
    }
}

/// The arena budget a makemap run uses: 32 MiB of records. A 1,000,000-line
/// access table is ~57 MiB with its slots, so it is sorted in two runs and
/// merged: that costs about a tenth of the build's time, and it keeps the
/// build's peak memory below `postmap`'s while the map's hash index (about
/// 10 MiB of slots for a million keys) is held beside it.
pub const DEFAULT_BUDGET: usize = 32 << 20;

/// Where a record lives in the arena: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    off: u32,
    klen: u32,
    vlen: u32,
    line: u32,
}

/// Records collected so far: the arena in memory and the runs on disk.
#[derive(Debug)]
pub struct Sorter {
    order: Order,
    budget: usize,
    dir: PathBuf,
    arena: Vec<u8>,
    slots: Vec<Slot>,
    runs: Vec<File>,
}

/// Why a record could not be kept.
#[derive(Debug)]
pub enum SortError {
    /// A run file could not be created in the directory.
    Create(PathBuf, io::Error),
    /// Writing or reading a run failed.
    Io(io::Error),
    /// One record is larger than the arena can address (4 GiB).
    TooLarge,
}

impl Sorter {
    /// A sorter spilling to `dir` once `budget` bytes of records are held.
    pub fn new(order: Order, dir: &Path, budget: usize) -> Sorter {
        Sorter {
            order,
            budget: budget.max(1),
            dir: dir.to_path_buf(),
            arena: Vec::new(),
            slots: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Make room at once for records read from `input_bytes` of text (at
    /// most the budget), so the arena and slots are not copied while they
    /// grow: a copy holds the old and the new buffer at the same time. The
    /// slots are reserved for the shortest lines; pages never written are
    /// never resident.
    pub fn expect(&mut self, input_bytes: u64) {
        let bytes = usize::try_from(input_bytes)
            .unwrap_or(usize::MAX)
            .min(self.budget);
        self.arena
            .reserve_exact(bytes.saturating_sub(self.arena.len()));
        let slots = (bytes / 4).min(self.budget / std::mem::size_of::<Slot>());
        self.slots
            .reserve_exact(slots.saturating_sub(self.slots.len()));
    }

    /// Add a record: `key` followed by `key_tail` is the key, `value`
    /// followed by `value_tail` the value (the tails carry `-N`'s NUL
    /// without copying the record first).
    pub fn push(
        &mut self,
        (key, key_tail): (&[u8], &[u8]),
        (value, value_tail): (&[u8], &[u8]),
        line: u32,
    ) -> Result<(), SortError> {
        let klen = key.len() + key_tail.len();
        let vlen = value.len() + value_tail.len();
        let held = self.arena.len() + self.slots.len() * std::mem::size_of::<Slot>();
        if !self.slots.is_empty() && held + klen + vlen > self.budget {
            self.spill()?;
        }
        let off = u32::try_from(self.arena.len()).map_err(|_| SortError::TooLarge)?;
        let fits = |n: usize| u32::try_from(n).ok();
        let (Some(k), Some(v), Some(_)) =
            (fits(klen), fits(vlen), fits(self.arena.len() + klen + vlen))
        else {
            return Err(SortError::TooLarge);
        };
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(key_tail);
        self.arena.extend_from_slice(value);
        self.arena.extend_from_slice(value_tail);
        self.slots.push(Slot {
            off,
            klen: k,
            vlen: v,
            line,
        });
        Ok(())
    }

    /// How many runs went to disk so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn sort_slots(&mut self) {
        let (arena, order) = (&self.arena, self.order);
        self.slots
            .sort_unstable_by(|a, b| order.cmp(record(arena, a), record(arena, b)));
    }

    /// Sort what is in memory and write it out as a run.
    fn spill(&mut self) -> Result<(), SortError> {
        self.sort_slots();
        let mut file = scratch(&self.dir).map_err(|e| SortError::Create(self.dir.clone(), e))?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, &mut file);
            for s in &self.slots {
                let (k, v, line) = record(&self.arena, s);
                w.write_all(&line.to_le_bytes()).map_err(SortError::Io)?;
                w.write_all(&s.klen.to_le_bytes()).map_err(SortError::Io)?;
                w.write_all(&s.vlen.to_le_bytes()).map_err(SortError::Io)?;
                w.write_all(k).map_err(SortError::Io)?;
                w.write_all(v).map_err(SortError::Io)?;
            }
            w.flush().map_err(SortError::Io)?;
        }
        file.rewind().map_err(SortError::Io)?;
        self.runs.push(file);
        self.arena.clear();
        self.slots.clear();
        Ok(())
    }

    /// Every record, in order.
    pub fn merge(mut self) -> Result<Merge, SortError> {
        self.sort_slots();
        let mut sources = Vec::with_capacity(self.runs.len() + 1);
        for f in self.runs.drain(..) {
            let mut run = Run {
                reader: BufReader::with_capacity(256 << 10, f),
                key: Vec::new(),
                value: Vec::new(),
                line: 0,
                live: true,
            };
            run.advance().map_err(SortError::Io)?;
            sources.push(Source::Run(run));
        }
        sources.push(Source::Memory {
            arena: std::mem::take(&mut self.arena),
            slots: std::mem::take(&mut self.slots),
            at: 0,
        });
        Ok(Merge {
            order: self.order,
            sources,
            last: None,
        })
    }
}

fn record<'a>(arena: &'a [u8], s: &Slot) -> (&'a [u8], &'a [u8], u32) {
    let k0 = s.off as usize;
    let v0 = k0 + s.klen as usize;
    (&arena[k0..v0], &arena[v0..v0 + s.vlen as usize], s.line)
}

/// An unnamed file in `dir`.
fn scratch(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let unnamed = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_TMPFILE.bits())
        .open(dir);
    match unnamed {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
        Err(_) => {
            static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!(".makemap-run.{}.{seq}", std::process::id()));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            std::fs::remove_file(&path)?;
            Ok(f)
        }
    }
}

/// One sorted run read back from disk.
#[derive(Debug)]
struct Run {
    reader: BufReader<File>,
    key: Vec<u8>,
    value: Vec<u8>,
    line: u32,
    live: bool,
}

impl Run {
    fn advance(&mut self) -> io::Result<()> {
        let mut head = [0u8; 12];
        match self.reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.live = false;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        self.line = word(0);
        self.key.resize(word(4) as usize, 0);
        self.value.resize(word(8) as usize, 0);
        self.reader.read_exact(&mut self.key)?;
        self.reader.read_exact(&mut self.value)
    }
}

#[derive(Debug)]
enum Source {
    Memory {
        arena: Vec<u8>,
        slots: Vec<Slot>,
        at: usize,
    },
    Run(Run),
}

impl Source {
    fn head(&self) -> Option<(&[u8], &[u8], u32)> {
        match self {
            Source::Memory { arena, slots, at } => slots.get(*at).map(|s| record(arena, s)),
            Source::Run(r) if r.live => Some((&r.key, &r.value, r.line)),
            Source::Run(_) => None,
        }
    }

    fn advance(&mut self) -> io::Result<()> {
        match self {
            Source::Memory { at, .. } => {
                *at += 1;
                Ok(())
            }
            Source::Run(r) => r.advance(),
        }
    }
}

/// The records of a [`Sorter`] in order: call [`Merge::next`] until `None`.
#[derive(Debug)]
pub struct Merge {
    order: Order,
    sources: Vec<Source>,
    /// The source whose head was handed out last, moved on at the next call.
    last: Option<usize>,
}

impl Merge {
    /// The next record `(key, value, line)`, borrowed until the next call.
    #[allow(clippy::should_implement_trait, clippy::type_complexity)]
    pub fn next(&mut self) -> io::Result<Option<(&[u8], &[u8], u32)>> {
        if let Some(i) = self.last.take() {
            self.sources[i].advance()?;
        }
        let mut best: Option<usize> = None;
        for i in 0..self.sources.len() {
            let Some(h) = self.sources[i].head() else {
                continue;
            };
            let better = match best.and_then(|b| self.sources[b].head()) {
                Some(b) => self.order.cmp(h, b) == Ordering::Less,
                None => true,
            };
            if better {
                best = Some(i);
            }
        }
        self.last = best;
        Ok(best.and_then(|i| self.sources[i].head()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut m: Merge) -> Vec<(String, String, u32)> {
        let mut out = Vec::new();
        while let Some((k, v, l)) = m.next().unwrap() {
            out.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
                l,
            ));
        }
        out
    }

    /// The same records through a budget that keeps them all in memory and
    /// one that spills nearly every record: the same order comes back.
    #[test]
    fn spilled_runs_merge_in_the_same_order_as_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut recs = Vec::new();
        for line in 1..=2000u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Few distinct keys, so equal keys cross run boundaries.
            recs.push((format!("k{}", rng % 97), format!("v{}", rng % 13), line));
        }
        for order in [Order::KeyLine, Order::KeyValue] {
            let mut results = Vec::new();
            for budget in [DEFAULT_BUDGET, 300] {
                let mut s = Sorter::new(order, dir.path(), budget);
                for (k, v, l) in &recs {
                    s.push((k.as_bytes(), b""), (v.as_bytes(), b"\0"), *l)
                        .unwrap();
                }
                let spilled = s.runs();
                assert_eq!(spilled == 0, budget == DEFAULT_BUDGET, "runs: {spilled}");
                results.push(drain(s.merge().unwrap()));
            }
            assert_eq!(results[0], results[1]);
            let mut want: Vec<_> = recs
                .iter()
                .map(|(k, v, l)| (k.clone(), format!("{v}\0"), *l))
                .collect();
            want.sort_by(|a, b| {
                order.cmp(
                    (a.0.as_bytes(), a.1.as_bytes(), a.2),
                    (b.0.as_bytes(), b.1.as_bytes(), b.2),
                )
            });
            assert_eq!(results[0], want);
        }
        // The run files had no names: the directory is still empty.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_is_named_when_a_run_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nodir");
        let mut s = Sorter::new(Order::KeyLine, &gone, 1);
        s.push((b"a", b""), (b"b", b""), 1).unwrap();
        match s.push((b"c", b""), (b"d", b""), 2) {
            Err(SortError::Create(p, _)) => assert_eq!(p, gone),
            other => panic!("{other:?}"),
        }
    }
}
