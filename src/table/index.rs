//! The hash index stored in every map makemap writes, beside the filter.
//!
//! Contract: a map's index answers a lookup of a key, as stored (folded,
//! with the NUL of `-N`), with its value, with "absent", or with "ask the
//! tree" ([`Probe::Unknown`]: a damaged or foreign index is never trusted
//! to say "absent" past its own bounds checks). It holds a copy of every
//! pair the tree holds, so a hit costs two cache lines (a slot, then the
//! record) instead of LMDB's descent through branch pages and a binary
//! search over a leaf page, each level several cache misses deep in a
//! large map. The tree stays the map `mdb_dump` and older builds read.
//! `-d` maps have none (their lookups return the smallest of several
//! values, which the tree keeps sorted).
//!
//! Layout, under keys starting `\0mxgate-` (reserved: never data, never
//! listed, see [`super::filter::is_reserved`]):
//! - [`SLOTS_KEY`]: the magic `MXHI`, a version byte, three zero bytes, the
//!   chunk count (u32 LE), the slot count (u32 LE), then the slots (u64 LE
//!   each). A slot is 0 when empty, else a 16-bit fingerprint of the key's
//!   hash (bits 48..64) over the record's location plus one (bits 0..48:
//!   chunk number over 32 bits of offset in the chunk). Open addressing
//!   with linear probing from the slot the hash's low 32 bits pick (scaled
//!   to the slot count, no modulo); the table is at most 80% full.
//! - [`chunk_key`]`(i)`: the records, packed, [`CHUNK_BYTES`] at most per
//!   chunk unless one record is larger: key length (u16 LE), value length
//!   (u32 LE), key, value (as the tree stores it).
//!
//! The key hash is the filter's ([`super::filter::key_hash`]), computed
//! once per lookup for both. Each stored chunk is one LMDB value, so it is
//! one contiguous run of pages in the mapped file: a reader keeps slices
//! into the map, it never copies the index.

/// The reserved key the slots (and the header) are stored under.
pub const SLOTS_KEY: &[u8] = b"\0mxgate-hash-index-1";

/// The reserved key of record chunk `i`.
pub fn chunk_key(i: u32) -> Vec<u8> {
    let mut k = SLOTS_KEY.to_vec();
    k.extend_from_slice(format!("-chunk-{i:05}").as_bytes());
    k
}

/// Bytes of records per chunk, at most (one LMDB value; a larger record gets a chunk of its own).
pub const CHUNK_BYTES: usize = 1 << 20;

const MAGIC: &[u8; 4] = b"MXHI";
const VERSION: u8 = 1;
const HEADER: usize = 16;
const RECORD_HEAD: usize = 6;
const LOC_BITS: u32 = 48;
const LOC_MASK: u64 = (1 << LOC_BITS) - 1;
/// Chunk numbers that fit the location's 16 bits, keeping the "plus one" in range.
const MAX_CHUNKS: u32 = 0xFFFE;

fn slot_count(keys: usize) -> Option<usize> {
    let n = keys.checked_mul(5)?.div_ceil(4).max(8);
    (n <= u32::MAX as usize).then_some(n)
}

fn home(h: u64, slots: usize) -> usize {
    (((h & 0xFFFF_FFFF) * slots as u64) >> 32) as usize
}

fn fingerprint(h: u64) -> u64 {
    h >> LOC_BITS
}

/// Slots per page of a writer's table (512 KiB): the table is kept in
/// pages so that storing it frees it page by page ([`Slots::write_into`]).
const PAGE_SLOTS: usize = 1 << 16;

/// Builds an index while the pairs are written (in any order, each key once).
pub struct IndexWriter {
    slots: Slots,
    count: usize,
    chunk: Vec<u8>,
    chunks: u32,
}

/// A writer's slot table, to be stored under [`SLOTS_KEY`].
pub struct Slots {
    pages: Vec<Vec<u64>>,
    total: usize,
    chunks: u32,
}

impl Slots {
    fn get(&self, i: usize) -> u64 {
        self.pages[i / PAGE_SLOTS][i % PAGE_SLOTS]
    }

    fn set(&mut self, i: usize, v: u64) {
        self.pages[i / PAGE_SLOTS][i % PAGE_SLOTS] = v;
    }

    /// The stored form's length.
    pub fn stored_len(&self) -> usize {
        HEADER + self.total * 8
    }

    /// Write the stored form (into LMDB's reserved space), freeing each
    /// page once written: the table is never held twice.
    pub fn write_into(self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut head = [0u8; HEADER];
        head[..4].copy_from_slice(MAGIC);
        head[4] = VERSION;
        head[8..12].copy_from_slice(&self.chunks.to_le_bytes());
        head[12..16].copy_from_slice(&(self.total as u32).to_le_bytes());
        w.write_all(&head)?;
        let mut buf = Vec::with_capacity(PAGE_SLOTS * 8);
        for page in self.pages {
            buf.clear();
            buf.extend(page.iter().flat_map(|s| s.to_le_bytes()));
            drop(page);
            w.write_all(&buf)?;
        }
        Ok(())
    }
}

/// Why an index was given up (the map is written without one).
#[derive(Debug)]
pub struct TooLarge;

impl IndexWriter {
    /// An empty index sized for `keys` keys at most; `None` past what the
    /// format holds (the map is then written without an index).
    pub fn with_capacity(keys: usize) -> Option<IndexWriter> {
        let n = slot_count(keys)?;
        let pages = (0..n.div_ceil(PAGE_SLOTS))
            .map(|p| vec![0u64; (n - p * PAGE_SLOTS).min(PAGE_SLOTS)])
            .collect();
        Some(IndexWriter {
            slots: Slots {
                pages,
                total: n,
                chunks: 0,
            },
            count: 0,
            chunk: Vec::new(),
            chunks: 0,
        })
    }

    /// How many bytes the slots blob of an index sized for `keys` takes.
    pub fn stored_len(keys: usize) -> usize {
        slot_count(keys).map_or(0, |n| HEADER + n * 8)
    }

    /// Add a pair (the key as stored, its hash, the value as stored).
    /// `store(key, blob)` stores a full chunk under its reserved key.
    /// `Err(TooLarge)` when the pair does not fit the format; the caller
    /// then drops the index.
    pub fn add<E>(
        &mut self,
        h: u64,
        key: &[u8],
        value: &[u8],
        store: &mut impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<Result<(), TooLarge>, E> {
        let n = self.slots.total;
        let (Ok(klen), Ok(vlen)) = (u16::try_from(key.len()), u32::try_from(value.len())) else {
            return Ok(Err(TooLarge));
        };
        if (self.count + 1) * 5 > n * 4 {
            return Ok(Err(TooLarge));
        }
        let need = RECORD_HEAD + key.len() + value.len();
        if !self.chunk.is_empty() && self.chunk.len() + need > CHUNK_BYTES {
            self.flush(store)?;
        }
        if self.chunks > MAX_CHUNKS {
            return Ok(Err(TooLarge));
        }
        let loc = (u64::from(self.chunks) << 32) | self.chunk.len() as u64;
        self.chunk.extend_from_slice(&klen.to_le_bytes());
        self.chunk.extend_from_slice(&vlen.to_le_bytes());
        self.chunk.extend_from_slice(key);
        self.chunk.extend_from_slice(value);
        let mut i = home(h, n);
        while self.slots.get(i) != 0 {
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        self.slots.set(i, (fingerprint(h) << LOC_BITS) | (loc + 1));
        self.count += 1;
        Ok(Ok(()))
    }

    fn flush<E>(&mut self, store: &mut impl FnMut(&[u8], &[u8]) -> Result<(), E>) -> Result<(), E> {
        store(&chunk_key(self.chunks), &self.chunk)?;
        self.chunks += 1;
        self.chunk.clear();
        Ok(())
    }

    /// Store the last chunk; the slots are left to store under [`SLOTS_KEY`].
    pub fn finish<E>(
        mut self,
        store: &mut impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<Slots, E> {
        if !self.chunk.is_empty() {
            self.flush(store)?;
        }
        self.slots.chunks = self.chunks;
        Ok(self.slots)
    }
}

/// What the index says of a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe<'a> {
    /// Stored, with this value (as stored).
    Found(&'a [u8]),
    /// Not stored.
    Absent,
    /// The index cannot tell (out of bounds: a damaged file); search the tree.
    Unknown,
}

/// A map's index, read in place: slices of the mapped file.
pub struct Index<'m> {
    slots: &'m [u8],
    chunks: Vec<&'m [u8]>,
}

impl<'m> Index<'m> {
    /// Read the index from the slots blob and a way to get chunk `i`;
    /// `None` when it is not one this build knows or a chunk is missing.
    pub fn from_parts(
        slots: &'m [u8],
        mut chunk: impl FnMut(u32) -> Option<&'m [u8]>,
    ) -> Option<Index<'m>> {
        let head = slots.get(..HEADER)?;
        if &head[..4] != MAGIC || head[4] != VERSION {
            return None;
        }
        let chunks = u32::from_le_bytes(head[8..12].try_into().ok()?);
        let n = u32::from_le_bytes(head[12..16].try_into().ok()?) as usize;
        if n == 0 || slots.len() != HEADER.checked_add(n.checked_mul(8)?)? {
            return None;
        }
        let chunks = (0..chunks).map(&mut chunk).collect::<Option<Vec<_>>>()?;
        Some(Index { slots, chunks })
    }

    /// Look `key` (as stored, with its [`super::filter::key_hash`] `h`) up.
    pub fn get(&self, h: u64, key: &[u8]) -> Probe<'m> {
        let n = (self.slots.len() - HEADER) / 8;
        let mut i = home(h, n);
        let fp = fingerprint(h);
        for _ in 0..n {
            let at = HEADER + i * 8;
            let Some(s) = self.slots.get(at..at + 8) else {
                return Probe::Unknown;
            };
            let s = u64::from_le_bytes(s.try_into().expect("8 bytes"));
            if s == 0 {
                return Probe::Absent;
            }
            if s >> LOC_BITS == fp {
                match self.record((s & LOC_MASK) - 1) {
                    Some((k, v)) if k == key => return Probe::Found(v),
                    Some(_) => {}
                    None => return Probe::Unknown,
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        Probe::Unknown
    }

    fn record(&self, loc: u64) -> Option<(&'m [u8], &'m [u8])> {
        let chunk = *self.chunks.get(usize::try_from(loc >> 32).ok()?)?;
        let rest = chunk.get(usize::try_from(loc & 0xFFFF_FFFF).ok()?..)?;
        let (head, rest) = rest.split_at_checked(RECORD_HEAD)?;
        let klen = usize::from(u16::from_le_bytes([head[0], head[1]]));
        let vlen =
            usize::try_from(u32::from_le_bytes([head[2], head[3], head[4], head[5]])).ok()?;
        let (k, rest) = rest.split_at_checked(klen)?;
        Some((k, rest.get(..vlen)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::filter::key_hash;
    use std::collections::BTreeMap;

    /// Build an index over `pairs`, chunks kept in a map as LMDB would keep them.
    fn build(pairs: &[(Vec<u8>, Vec<u8>)], cap: usize) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut w = IndexWriter::with_capacity(cap).unwrap();
        let mut stored = BTreeMap::new();
        let mut store = |k: &[u8], b: &[u8]| -> Result<(), ()> {
            stored.insert(k.to_vec(), b.to_vec());
            Ok(())
        };
        for (k, v) in pairs {
            w.add(key_hash(k), k, v, &mut store).unwrap().unwrap();
        }
        let slots = w.finish(&mut store).unwrap();
        let mut blob = Vec::new();
        let len = slots.stored_len();
        slots.write_into(&mut blob).unwrap();
        assert_eq!(blob.len(), len);
        stored.insert(SLOTS_KEY.to_vec(), blob);
        stored
    }

    fn open(stored: &BTreeMap<Vec<u8>, Vec<u8>>) -> Option<Index<'_>> {
        Index::from_parts(stored.get(SLOTS_KEY)?, |i| {
            stored.get(&chunk_key(i)).map(Vec::as_slice)
        })
    }

    #[test]
    fn finds_every_stored_pair_and_says_absent_of_others() {
        let pairs: Vec<_> = (0..20_000)
            .map(|i| {
                let v = if i % 1000 == 7 {
                    vec![b'x'; CHUNK_BYTES / 3]
                } else {
                    format!("value {i}").into_bytes()
                };
                (format!("key{i}@example.com").into_bytes(), v)
            })
            .collect();
        let stored = build(&pairs, pairs.len());
        // The large values spread the records over several chunks.
        assert!(stored.contains_key(&chunk_key(3)), "{:?}", stored.len());
        let ix = open(&stored).expect("own stored form");
        for (k, v) in &pairs {
            assert_eq!(ix.get(key_hash(k), k), Probe::Found(v.as_slice()));
        }
        for i in 20_000..40_000 {
            let k = format!("key{i}@example.com");
            assert_eq!(ix.get(key_hash(k.as_bytes()), k.as_bytes()), Probe::Absent);
        }
    }

    #[test]
    fn a_record_larger_than_a_chunk_gets_one_of_its_own() {
        let big = vec![b'v'; CHUNK_BYTES + 10];
        let pairs = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"big".to_vec(), big.clone()),
            (b"c".to_vec(), b"3".to_vec()),
        ];
        let stored = build(&pairs, 3);
        let ix = open(&stored).unwrap();
        assert_eq!(
            ix.get(key_hash(b"big"), b"big"),
            Probe::Found(big.as_slice())
        );
        assert_eq!(ix.get(key_hash(b"c"), b"c"), Probe::Found(&b"3"[..]));
    }

    #[test]
    fn damaged_or_foreign_indexes_are_not_trusted() {
        let pairs = vec![(b"k".to_vec(), b"v".to_vec())];
        let mut stored = build(&pairs, 1);
        // A missing chunk: no index at all.
        let chunk = stored.remove(&chunk_key(0)).unwrap();
        assert!(open(&stored).is_none());
        // A cut chunk: the record is out of bounds, so the tree is asked.
        stored.insert(chunk_key(0), chunk[..3].to_vec());
        let ix = open(&stored).unwrap();
        assert_eq!(ix.get(key_hash(b"k"), b"k"), Probe::Unknown);
        // Another version, a cut slot table: not read.
        let slots = stored.get(SLOTS_KEY).unwrap().clone();
        let mut other = slots.clone();
        other[4] = 2;
        assert!(Index::from_parts(&other, |_| Some(&b""[..])).is_none());
        assert!(Index::from_parts(&slots[..slots.len() - 1], |_| Some(&b""[..])).is_none());
        // Every slot taken and none matching: the probe ends, undecided.
        let mut full = slots;
        for s in full[HEADER..].chunks_exact_mut(8) {
            s.copy_from_slice(&(1u64 << 63 | 1).to_le_bytes());
        }
        let ix = Index::from_parts(&full, |_| Some(&chunk[..])).unwrap();
        assert_eq!(ix.get(0, b"zz"), Probe::Unknown);
    }

    #[test]
    fn more_pairs_than_sized_for_give_up_the_index() {
        let mut w = IndexWriter::with_capacity(4).unwrap();
        let mut store = |_: &[u8], _: &[u8]| -> Result<(), ()> { Ok(()) };
        let mut added = 0;
        while w
            .add(key_hash(&[added]), &[added], b"v", &mut store)
            .unwrap()
            .is_ok()
        {
            added += 1;
        }
        // Eight slots at 80%: six keys fit.
        assert_eq!(added, 6);
    }
}
